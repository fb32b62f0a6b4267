//! Backup and restore: the log's records streamed to a file while the engine
//! keeps running, and a new store built from such a file.
//!
//! A backup is taken at a consistent point, the durable head when it starts:
//! frames are never rewritten, so reading up to that head while appends
//! continue sees exactly the log as of that head. Every frame is checked as
//! it is read (crc32 of its header and records, hash chain, event decoding),
//! so a damaged log fails the backup naming the first bad seq instead of
//! producing a bad file.
//!
//! File layout, version 2 (all integers big-endian; `docs/format.md`,
//! "Backup file"): the log's frames exactly as stored, since a version-2
//! frame's chain hash covers its bytes (header and frame boundaries
//! included):
//!
//! | field | width |
//! |---|---|
//! | magic `CLBACKUP` | 8 |
//! | version `0x02` | 1 |
//! | per frame: `frame_len` u32 (1 ..= `FRAME_BYTES_MAX`), the frame's bytes | 4 + len |
//! | end marker: `frame_len` = 0 (u32) | 4 |
//! | records u64, head chain hash (32 bytes) | 40 |
//! | crc32 of the 40 bytes above | 4 |
//!
//! [`restore`] checks every frame (crcs, seqs, the chain from genesis,
//! event decoding) and writes them unchanged into an empty directory, so the
//! new log is byte-identical frame by frame; it requires the head to equal
//! the file's, then opens the engine, verifies it and snapshots it.
//!
//! A version-1 file (written before store format 4: records, not frames —
//! per record `seq` u64, `time_micros` i64, `payload_len` u32, payload,
//! crc32 of those; end marker `seq` = 0 (u64); the same trailer) still
//! restores: its records are re-appended in version-1 frames, whose chain
//! does not depend on frame boundaries, so the head hash is the file's.

use std::io::{Read, Write};
use std::path::Path;

use cardledger_domain::{decode_fact, limits};

use crate::engine::{Engine, EngineError};
use crate::record::{
    hex, peek_first_seq, visit_frame_chained, EncodedBatch, FrameBuilder, FrameError, Hash, Head, FRAME_BYTES_MAX,
    FRAME_VERSION_1, PAYLOAD_BYTES_MAX,
};
use crate::store::{Store, StoreError};

/// First bytes of a backup file.
const MAGIC: &[u8; 8] = b"CLBACKUP";
/// Version of the backup layout written: frames as stored.
const BACKUP_VERSION: u8 = 2;
/// The first backup layout: records (before store format 4); still restored.
const BACKUP_VERSION_1: u8 = 1;

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
        let mut last = Head::GENESIS;
        for item in self.store().frames_through(end.seq) {
            let (key, frame) = item?;
            let want = last.seq + 1;
            if key != want {
                let (seq, reason) = if key > want {
                    (want, format!("missing records: the next frame starts at seq {key}"))
                } else {
                    (key, format!("frame overlaps the previous one (expected seq {want})"))
                };
                return Err(EngineError::Store(StoreError::Corrupt { seq, reason }));
            }
            let mut undecodable = None;
            let (header, hash) = visit_frame_chained(key, &frame, |r| {
                if let Err(reason) = decode_fact(r.payload) {
                    undecodable = Some(EngineError::Corrupt { seq: r.seq, reason });
                    return Err(FrameError::Corrupt { seq: r.seq, reason: "undecodable event".into() });
                }
                Ok(())
            })
            .map_err(|e| undecodable.take().unwrap_or_else(|| EngineError::Store(e.into())))?;
            if header.prev_hash != last.hash {
                return Err(EngineError::Store(StoreError::Corrupt {
                    seq: key,
                    reason: "frame's previous hash does not match the chain".into(),
                }));
            }
            put(&(frame.len() as u32).to_be_bytes())?;
            put(&frame)?;
            last = Head { seq: header.last_seq(), hash };
        }
        if last != end {
            return Err(EngineError::Corrupt { seq: last.seq + 1, reason: "the log ends before its head".into() });
        }
        let records = end.seq;
        let mut trailer = Vec::with_capacity(48);
        trailer.extend_from_slice(&0u32.to_be_bytes());
        trailer.extend_from_slice(&records.to_be_bytes());
        trailer.extend_from_slice(&end.hash);
        let crc = crc32fast::hash(trailer.get(4..).unwrap_or_default());
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
    let store = Store::open(dir)?;
    let (head, mut bytes) = match version {
        BACKUP_VERSION => restore_frames(&mut r, &store)?,
        BACKUP_VERSION_1 => restore_records(&mut r, &store)?,
        other => return Err(bad(format!("unsupported backup version {other}"))),
    };
    let records = u64::from_be_bytes(read_exact::<8>(&mut r)?);
    let hash: Hash = read_exact::<32>(&mut r)?;
    let crc = read_exact::<4>(&mut r)?;
    let mut covered = Vec::with_capacity(40);
    covered.extend_from_slice(&records.to_be_bytes());
    covered.extend_from_slice(&hash);
    if crc32fast::hash(&covered) != u32::from_be_bytes(crc) {
        return Err(bad("trailer checksum mismatch"));
    }
    bytes += 44;
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

/// Reads version-2 frames up to the end marker, checks them and appends
/// them unchanged; returns the head and the bytes read (magic included).
fn restore_frames(r: &mut impl Read, store: &Store) -> Result<(Head, u64), EngineError> {
    let mut head = Head::GENESIS;
    let mut bytes = 9u64;
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let (mut batch_records, mut batch_bytes) = (0usize, 0usize);
    loop {
        let len = u32::from_be_bytes(read_exact::<4>(r)?) as usize;
        bytes += 4;
        let frame = if len == 0 {
            None
        } else if len > FRAME_BYTES_MAX {
            return Err(bad(format!("a frame of {len} bytes exceeds {FRAME_BYTES_MAX}")));
        } else {
            let mut frame = vec![0u8; len];
            r.read_exact(&mut frame).map_err(|e| bad(format!("frame truncated ({e})")))?;
            bytes += len as u64;
            Some(frame)
        };
        // one append (one sled batch) per whole number of frames within the batch limits
        let records = match &frame {
            Some(f) => crate::record::decode_frame_header(peek_first_seq(f).unwrap_or(0), f)
                .map(|h| h.record_count as usize)
                .map_err(|e| EngineError::Store(e.into()))?,
            None => 0,
        };
        if !batch.is_empty()
            && (frame.is_none()
                || batch_records + records > limits::BATCH_RECORDS_MAX
                || batch_bytes + len > RESTORE_BATCH_BYTES)
        {
            head = append_frames(store, head, std::mem::take(&mut batch))?;
            (batch_records, batch_bytes) = (0, 0);
        }
        match frame {
            None => return Ok((head, bytes)),
            Some(f) => {
                batch.push(f);
                batch_records += records;
                batch_bytes += len;
            }
        }
    }
}

/// Checks frames (as a reader does, and that every event decodes) and
/// appends them unchanged after `head`.
fn append_frames(store: &Store, head: Head, frames: Vec<Vec<u8>>) -> Result<Head, EngineError> {
    let mut undecodable = None;
    let batch = EncodedBatch::from_frames(head, frames, |r| {
        if let Err(reason) = decode_fact(r.payload) {
            undecodable = Some(EngineError::Corrupt { seq: r.seq, reason });
            return Err(FrameError::Corrupt { seq: r.seq, reason: "undecodable event".into() });
        }
        Ok(())
    })
    .map_err(|e| undecodable.take().unwrap_or_else(|| EngineError::Store(e.into())))?;
    Ok(store.append_encoded(batch)?)
}

/// Reads version-1 records up to the end marker and re-appends them in
/// version-1 frames (the chain of those does not depend on where frames
/// are cut); returns the head and the bytes read (magic included).
fn restore_records(r: &mut impl Read, store: &Store) -> Result<(Head, u64), EngineError> {
    let mut head = Head::GENESIS;
    let mut batch: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut bytes = 9u64;
    let flush = |store: &Store, head: Head, batch: &mut Vec<(i64, Vec<u8>)>| -> Result<Head, EngineError> {
        let frame_err = |e: FrameError| EngineError::Store(e.into());
        let mut b = FrameBuilder::with_version(head, FRAME_VERSION_1).map_err(frame_err)?;
        for (t, p) in batch.iter() {
            b.push(*t, p).map_err(frame_err)?;
        }
        let h = store.append_encoded(b.finish())?;
        batch.clear();
        Ok(h)
    };
    loop {
        let seq = u64::from_be_bytes(read_exact::<8>(r)?);
        if seq == 0 {
            break;
        }
        let expected = head.seq + batch.len() as u64 + 1;
        if seq != expected {
            return Err(bad(format!("record seq {seq} where {expected} was expected")));
        }
        let time = read_exact::<8>(r)?;
        let len_bytes = read_exact::<4>(r)?;
        let len = u32::from_be_bytes(len_bytes) as usize;
        if len > PAYLOAD_BYTES_MAX.min(limits::EVENT_BYTES_MAX) {
            return Err(bad(format!("record {seq}: payload of {len} bytes exceeds the limit")));
        }
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload).map_err(|e| bad(format!("record {seq} truncated ({e})")))?;
        let crc = read_exact::<4>(r)?;
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
            head = flush(store, head, &mut batch)?;
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        head = flush(store, head, &mut batch)?;
    }
    // the end marker of a version-1 file is 8 bytes (the caller counts the trailer)
    Ok((head, bytes + 8))
}
