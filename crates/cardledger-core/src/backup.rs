//! Backup and restore: the log's records streamed to a file while the engine
//! keeps running, and a new store built from such a file.
//!
//! A backup is taken at a consistent point, the durable head when it starts:
//! frames are never rewritten, so reading up to that head while appends
//! continue sees exactly the log as of that head. Every record is checked as
//! it is read (crc32, hash chain, event decoding), so a damaged log fails
//! the backup naming the first bad seq instead of producing a bad file.
//!
//! File layout (all integers big-endian; `docs/format.md`, "Backup file"):
//!
//! | field | width |
//! |---|---|
//! | magic `CLBACKUP` | 8 |
//! | version `0x01` | 1 |
//! | per record: `seq` u64, `time_micros` i64, `payload_len` u32, payload, crc32 of those | 24 + len |
//! | end marker: `seq` = 0 (u64) | 8 |
//! | records u64, head chain hash (32 bytes) | 40 |
//! | crc32 of the 40 bytes above | 4 |
//!
//! [`restore`] re-appends the records into an empty directory (the store
//! recomputes frames and the chain), requires the rebuilt head to equal the
//! file's head hash (so the new log is byte-identical record by record),
//! then opens the engine, verifies it and snapshots it.

use std::io::{Read, Write};
use std::path::Path;

use cardledger_domain::{decode_fact, limits};

use crate::engine::{Engine, EngineError};
use crate::record::{hex, Hash, Head, NewRecord, PAYLOAD_BYTES_MAX};
use crate::store::{Store, StoreError};

/// First bytes of a backup file.
const MAGIC: &[u8; 8] = b"CLBACKUP";
/// Version of the backup layout.
const BACKUP_VERSION: u8 = 1;

/// What a backup wrote or a restore rebuilt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupReport {
    /// Records in the file.
    pub records: u64,
    /// Hex of the chain hash of the last record.
    pub head_hash: String,
    /// Bytes of the file.
    pub bytes: u64,
}

fn io(e: std::io::Error) -> EngineError {
    EngineError::Store(StoreError::Io(e.to_string()))
}

fn bad(reason: impl Into<String>) -> EngineError {
    EngineError::Corrupt { seq: 0, reason: format!("backup file: {}", reason.into()) }
}

impl Engine {
    /// Writes every record up to the durable head at the time of the call to
    /// `w`, checking each as it is read; appends may continue meanwhile.
    pub fn backup(&self, mut w: impl Write) -> Result<BackupReport, EngineError> {
        let end = self.store().head();
        let mut bytes = 0u64;
        let mut put = |b: &[u8]| -> Result<(), EngineError> {
            bytes += b.len() as u64;
            w.write_all(b).map_err(io)
        };
        put(MAGIC)?;
        put(&[BACKUP_VERSION])?;
        let mut records = 0u64;
        let mut last = Head::GENESIS;
        for r in self.store().read_from(1) {
            let r = r?;
            if r.seq > end.seq {
                break;
            }
            decode_fact(&r.payload).map_err(|reason| EngineError::Corrupt { seq: r.seq, reason })?;
            let mut rec = Vec::with_capacity(24 + r.payload.len());
            rec.extend_from_slice(&r.seq.to_be_bytes());
            rec.extend_from_slice(&r.time_micros.to_be_bytes());
            rec.extend_from_slice(&(r.payload.len() as u32).to_be_bytes());
            rec.extend_from_slice(&r.payload);
            let crc = crc32fast::hash(&rec);
            rec.extend_from_slice(&crc.to_be_bytes());
            put(&rec)?;
            records += 1;
            last = Head { seq: r.seq, hash: r.hash };
        }
        if last != end {
            return Err(EngineError::Corrupt { seq: last.seq + 1, reason: "the log ends before its head".into() });
        }
        let mut trailer = Vec::with_capacity(52);
        trailer.extend_from_slice(&0u64.to_be_bytes());
        trailer.extend_from_slice(&records.to_be_bytes());
        trailer.extend_from_slice(&end.hash);
        let crc = crc32fast::hash(trailer.get(8..).unwrap_or_default());
        trailer.extend_from_slice(&crc.to_be_bytes());
        put(&trailer)?;
        w.flush().map_err(io)?;
        Ok(BackupReport { records, head_hash: hex(&end.hash), bytes })
    }
}

fn read_exact<const N: usize>(r: &mut impl Read) -> Result<[u8; N], EngineError> {
    let mut b = [0u8; N];
    r.read_exact(&mut b).map_err(|e| bad(format!("truncated ({e})")))?;
    Ok(b)
}

/// Builds a new store in `dir` (which must be empty or absent) from a backup
/// read from `r`; the rebuilt log's head must equal the file's, the engine
/// must verify, and it is snapshotted so the first open replays nothing.
pub fn restore(mut r: impl Read, dir: &Path) -> Result<BackupReport, EngineError> {
    if dir.exists() && std::fs::read_dir(dir).map_err(io)?.next().is_some() {
        return Err(EngineError::Store(StoreError::Io(format!(
            "{} is not empty: restore builds a new store",
            dir.display()
        ))));
    }
    if &read_exact::<8>(&mut r)? != MAGIC {
        return Err(bad("not a cardledger backup (bad magic)"));
    }
    let [version] = read_exact::<1>(&mut r)?;
    if version != BACKUP_VERSION {
        return Err(bad(format!("unsupported backup version {version}")));
    }
    let store = Store::open(dir)?;
    let mut head = Head::GENESIS;
    let mut batch: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut bytes = 9u64;
    let flush = |store: &Store, head: Head, batch: &mut Vec<(i64, Vec<u8>)>| -> Result<Head, EngineError> {
        let recs: Vec<NewRecord<'_>> = batch.iter().map(|(t, p)| NewRecord { time_micros: *t, payload: p }).collect();
        let h = store.append(head, &recs)?;
        batch.clear();
        Ok(h)
    };
    loop {
        let seq = u64::from_be_bytes(read_exact::<8>(&mut r)?);
        if seq == 0 {
            break;
        }
        let expected = head.seq + batch.len() as u64 + 1;
        if seq != expected {
            return Err(bad(format!("record seq {seq} where {expected} was expected")));
        }
        let time = read_exact::<8>(&mut r)?;
        let len_bytes = read_exact::<4>(&mut r)?;
        let len = u32::from_be_bytes(len_bytes) as usize;
        if len > PAYLOAD_BYTES_MAX.min(limits::EVENT_BYTES_MAX) {
            return Err(bad(format!("record {seq}: payload of {len} bytes exceeds the limit")));
        }
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload).map_err(|e| bad(format!("record {seq} truncated ({e})")))?;
        let crc = read_exact::<4>(&mut r)?;
        let mut h = crc32fast::Hasher::new();
        h.update(&seq.to_be_bytes());
        h.update(&time);
        h.update(&len_bytes);
        h.update(&payload);
        if h.finalize() != u32::from_be_bytes(crc) {
            return Err(EngineError::Corrupt { seq, reason: "backup file: record checksum mismatch".into() });
        }
        decode_fact(&payload).map_err(|reason| EngineError::Corrupt { seq, reason })?;
        bytes += 24 + len as u64;
        batch_bytes += len;
        batch.push((i64::from_be_bytes(time), payload));
        if batch.len() >= limits::BATCH_RECORDS_MAX || batch_bytes >= RESTORE_BATCH_BYTES {
            head = flush(&store, head, &mut batch)?;
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        head = flush(&store, head, &mut batch)?;
    }
    let records = u64::from_be_bytes(read_exact::<8>(&mut r)?);
    let hash: Hash = read_exact::<32>(&mut r)?;
    let crc = read_exact::<4>(&mut r)?;
    let mut covered = Vec::with_capacity(40);
    covered.extend_from_slice(&records.to_be_bytes());
    covered.extend_from_slice(&hash);
    if crc32fast::hash(&covered) != u32::from_be_bytes(crc) {
        return Err(bad("trailer checksum mismatch"));
    }
    bytes += 52;
    if r.read(&mut [0u8; 1]).map_err(io)? != 0 {
        return Err(bad("bytes after the trailer"));
    }
    if records != head.seq || hash != head.hash {
        return Err(EngineError::Mismatch {
            seq: head.seq,
            reason: format!(
                "the restored log ends at seq {} hash {}, the backup at seq {records} hash {}",
                head.seq,
                hex(&head.hash),
                hex(&hash)
            ),
        });
    }
    drop(store);
    let engine = Engine::open(dir)?;
    engine.verify()?;
    engine.snapshot()?;
    Ok(BackupReport { records, head_hash: hex(&hash), bytes })
}

/// Record bytes gathered before one append while restoring.
const RESTORE_BATCH_BYTES: usize = 32 << 20;
