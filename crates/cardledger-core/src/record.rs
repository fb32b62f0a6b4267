//! The on-disk record and frame format: pure encode/decode, the per-record
//! crc32 checksum and the blake3 hash chain.
//!
//! Frames come in two versions (the frame header's version byte; records
//! inside are the same in both): version 1 (store formats 1–3) chains every
//! record, `hash(s) = blake3(hash(s-1) || record bytes)`; version 2 (store
//! format 4, what the encoders write) hashes each frame once, with one
//! blake3 call over its bytes (its header holds the chain hash before it),
//! and takes its records' hashes from that call's extended output: record
//! `first_seq + i` gets output bytes `32·i .. 32·i + 32`
//! ([`frame_record_hash`]). A log may hold
//! version-1 frames followed by version-2 frames (an upgraded store): each
//! frame's `prev_hash` is the hash of the record before it, whichever rule
//! made it.
//!
//! This module knows nothing about sled; it turns records into frame bytes and
//! back. Every decode is bounds-checked against the limits below and returns a
//! typed [`FrameError::Corrupt`] naming the sequence number, never panics.
//! The byte-by-byte layout is documented in `docs/format.md`.
//!
//! What it deliberately is not: an event codec. Payloads are opaque bytes.
//!
//! ```
//! use cardledger_core::record::{decode_frame, encode_frame, NewRecord, GENESIS_HASH};
//! let batch = [NewRecord { time_micros: 7, payload: b"hello" }];
//! let (bytes, last) = encode_frame(1, &GENESIS_HASH, &batch).unwrap();
//! let frame = decode_frame(1, &bytes).unwrap();
//! assert_eq!(frame.records[0].payload, b"hello");
//! assert_eq!(frame.records[0].hash, last);
//! // a lone record's hash is the frame's plain blake3 hash
//! assert_eq!(last, *blake3::hash(&bytes).as_bytes());
//! ```

/// A blake3 chain hash of a record (see the module doc for the two rules).
pub type Hash = [u8; 32];

/// The chain hash "before" seq 1, and the head hash of an empty log.
pub const GENESIS_HASH: Hash = [0; 32];

/// The version byte written in every record (and in a projection
/// checkpoint). Bump it (and keep a golden fixture) on any record layout
/// change.
pub const FORMAT_VERSION: u8 = 1;

/// Frame version 1: one chain step per record (store formats 1–3). Still
/// decoded; written only by [`FrameBuilder::with_version`] (restoring a
/// version-1 backup, tests).
pub const FRAME_VERSION_1: u8 = 1;

/// Frame version 2: one blake3 call over the whole frame (store format 4).
pub const FRAME_VERSION_2: u8 = 2;

/// The frame version the encoders write.
pub const FRAME_VERSION: u8 = FRAME_VERSION_2;

/// Offset of a frame header's `first_seq` field (u64, after the version
/// byte): [`peek_first_seq`] and [`decode_frame_header`] read it here.
pub const HEADER_SEQ_OFFSET: usize = 1;
/// Offset of a frame header's `record_count` field (u32, after
/// `first_seq`): [`peek_record_count`], [`decode_frame_header`] and the
/// [`FrameBuilder`] (which patches it when a frame closes) use it.
pub const HEADER_COUNT_OFFSET: usize = HEADER_SEQ_OFFSET + 8;
/// Offset of a frame header's `prev_hash` field (32 bytes).
const HEADER_PREV_HASH_OFFSET: usize = HEADER_COUNT_OFFSET + 4;
const _: () = assert!(HEADER_PREV_HASH_OFFSET + 32 + 4 == FRAME_HEADER_BYTES, "the header's fields, then its crc32");

pub use cardledger_domain::limits::{
    FRAME_BODY_BYTES_MAX, FRAME_BYTES_MAX, FRAME_FILL_BYTES, FRAME_HEADER_BYTES, FRAME_RECORDS_MAX, PAYLOAD_BYTES_MAX,
    RECORD_BYTES_MAX, RECORD_OVERHEAD_BYTES,
};

/// Why frame bytes could not be built or read. The store wraps it in its
/// `StoreError` (`From`); this module knows nothing of the store.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Bytes fail a check; `seq` is the first bad sequence number.
    #[error("corrupt log at seq {seq}: {reason}")]
    Corrupt {
        /// First bad sequence number.
        seq: u64,
        /// What check failed.
        reason: String,
    },
    /// An input exceeds one of the frame limits.
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
}

/// Where a log stands: the last sequence number and its chain hash.
/// An empty log is `Head { seq: 0, hash: GENESIS_HASH }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Head {
    /// Last recorded sequence number (0 when empty).
    pub seq: u64,
    /// Chain hash of that record ([`GENESIS_HASH`] when empty).
    pub hash: Hash,
}

impl Head {
    /// The head of an empty log.
    pub const GENESIS: Head = Head { seq: 0, hash: GENESIS_HASH };
}

/// A record to append; the store assigns its sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewRecord<'a> {
    /// Wall-clock time of the event in microseconds since the Unix epoch,
    /// decided by the caller (the store never reads the clock).
    pub time_micros: i64,
    /// Opaque payload bytes (an encoded event).
    pub payload: &'a [u8],
}

/// A record read back from the log, checksum-checked and chain-hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// Sequence number, contiguous from 1.
    pub seq: u64,
    /// Time given at append.
    pub time_micros: i64,
    /// This record's chain hash.
    pub hash: Hash,
    /// The payload bytes as appended.
    pub payload: Vec<u8>,
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The frame version: [`FRAME_VERSION_1`] or [`FRAME_VERSION_2`].
    pub version: u8,
    /// Sequence number of the frame's first record (equals the sled key).
    pub first_seq: u64,
    /// Number of records in the frame, `1..=FRAME_RECORDS_MAX`.
    pub record_count: u32,
    /// Chain hash of the record just before `first_seq`.
    pub prev_hash: Hash,
}

impl FrameHeader {
    /// Sequence number of the frame's last record.
    pub fn last_seq(&self) -> u64 {
        self.first_seq.saturating_add(u64::from(self.record_count)).saturating_sub(1)
    }
}

/// A whole decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The header.
    pub header: FrameHeader,
    /// Its records in order, each with its chain hash.
    pub records: Vec<StoredRecord>,
}

/// A borrowed view of one record while walking a frame with [`visit_frame`].
#[derive(Clone, Copy, Debug)]
pub struct RecordView<'a> {
    /// Sequence number (checked to be the expected one).
    pub seq: u64,
    /// Time given at append.
    pub time_micros: i64,
    /// Payload bytes.
    pub payload: &'a [u8],
    /// This record's chain hash.
    pub hash: Hash,
    /// Byte offset of the record inside the frame.
    pub offset: usize,
    /// Encoded length of the record (overhead included).
    pub len: usize,
}

impl RecordView<'_> {
    /// Where the payload lies in the frame's bytes: it ends where the
    /// record's crc32 (its last 4 bytes) starts.
    pub fn payload_range(&self) -> std::ops::Range<usize> {
        let end = (self.offset + self.len).saturating_sub(4);
        end.saturating_sub(self.payload.len())..end
    }
}

/// Encoded size of a record with a payload of `payload_len` bytes.
pub fn record_len(payload_len: usize) -> usize {
    RECORD_OVERHEAD_BYTES.saturating_add(payload_len)
}

/// Lowercase hex of a hash, for messages and the CLI.
pub fn hex(hash: &Hash) -> String {
    use std::fmt::Write;
    hash.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The version-1 chain step: `blake3(prev || record_bytes)`.
pub fn chain_hash(prev: &Hash, record_bytes: &[u8]) -> Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(prev);
    hasher.update(record_bytes);
    *hasher.finalize().as_bytes()
}

/// blake3's extended output over a version-2 frame's bytes (header, whose
/// `prev_hash` links it to the chain, and records): one call over the whole
/// frame; 32 bytes of it per record are the records' chain hashes.
fn frame_output(frame_bytes: &[u8]) -> blake3::OutputReader {
    let mut hasher = blake3::Hasher::new();
    hasher.update(frame_bytes);
    hasher.finalize_xof()
}

/// The chain hash of record `first_seq + index` of a version-2 frame:
/// bytes `32·index .. 32·index + 32` of blake3's extended output over the
/// frame's bytes (so the first record's is the frame's plain blake3 hash).
/// The last record's is the frame's link to the next frame and, for the
/// last frame, the log's head hash.
pub fn frame_record_hash(frame_bytes: &[u8], index: u32) -> Hash {
    let mut out = frame_output(frame_bytes);
    out.set_position(u64::from(index) * 32);
    let mut hash = [0u8; 32];
    out.fill(&mut hash);
    hash
}

/// Encodes `records` as one frame (of [`FRAME_VERSION`]) whose first record
/// gets `first_seq` and whose chain continues from `prev_hash`. Returns the
/// frame bytes and the chain hash of its last record.
///
/// The caller splits batches with [`frame_split_len`]; this checks the limits
/// again (assert in pairs) and refuses empty or oversize frames.
pub fn encode_frame(
    first_seq: u64,
    prev_hash: &Hash,
    records: &[NewRecord<'_>],
) -> Result<(Vec<u8>, Hash), FrameError> {
    encode_frame_version(FRAME_VERSION, first_seq, prev_hash, records)
}

/// [`encode_frame`] for a given frame version ([`FRAME_VERSION_1`] or
/// [`FRAME_VERSION_2`]; anything else is refused).
pub fn encode_frame_version(
    version: u8,
    first_seq: u64,
    prev_hash: &Hash,
    records: &[NewRecord<'_>],
) -> Result<(Vec<u8>, Hash), FrameError> {
    if version != FRAME_VERSION_1 && version != FRAME_VERSION_2 {
        return Err(FrameError::TooLarge { what: "frame version", limit: u64::from(FRAME_VERSION_2) });
    }
    if records.is_empty() || records.len() > FRAME_RECORDS_MAX {
        return Err(FrameError::TooLarge { what: "frame records", limit: FRAME_RECORDS_MAX as u64 });
    }
    let mut body_len = 0usize;
    for r in records {
        if r.payload.len() > PAYLOAD_BYTES_MAX {
            return Err(FrameError::TooLarge { what: "payload bytes", limit: PAYLOAD_BYTES_MAX as u64 });
        }
        body_len = body_len.saturating_add(record_len(r.payload.len()));
    }
    if body_len > FRAME_BODY_BYTES_MAX {
        return Err(FrameError::TooLarge { what: "frame body bytes", limit: FRAME_BODY_BYTES_MAX as u64 });
    }
    let count = u32::try_from(records.len())
        .map_err(|_| FrameError::TooLarge { what: "frame records", limit: FRAME_RECORDS_MAX as u64 })?;
    let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + body_len);
    out.push(version);
    out.extend_from_slice(&first_seq.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(prev_hash);
    let header_crc = crc32fast::hash(&out);
    out.extend_from_slice(&header_crc.to_be_bytes());

    let mut hash = *prev_hash;
    let mut seq = first_seq;
    for r in records {
        let start = out.len();
        // Lengths were checked against PAYLOAD_BYTES_MAX (< u32::MAX) above.
        let len = u32::try_from(r.payload.len())
            .map_err(|_| FrameError::TooLarge { what: "payload bytes", limit: PAYLOAD_BYTES_MAX as u64 })?;
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&r.time_micros.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(r.payload);
        let crc = crc32fast::hash(out.get(start..).unwrap_or_default());
        out.extend_from_slice(&crc.to_be_bytes());
        if version == FRAME_VERSION_1 {
            hash = chain_hash(&hash, out.get(start..).unwrap_or_default());
        }
        seq = seq.checked_add(1).ok_or(FrameError::TooLarge { what: "sequence number", limit: u64::MAX })?;
    }
    if version == FRAME_VERSION_2 {
        hash = frame_record_hash(&out, count - 1);
    }
    Ok((out, hash))
}

/// How many of `records` (from the front) go into the next frame: as many as
/// fit in [`FRAME_RECORDS_MAX`] and [`FRAME_FILL_BYTES`], at least one (a
/// single record may be up to [`RECORD_BYTES_MAX`]).
/// Returns 0 only for an empty slice.
pub fn frame_split_len(records: &[NewRecord<'_>]) -> usize {
    let mut body = 0usize;
    let mut n = 0usize;
    for r in records.iter().take(FRAME_RECORDS_MAX) {
        let len = record_len(r.payload.len());
        if n > 0 && body.saturating_add(len) > FRAME_FILL_BYTES {
            break;
        }
        body = body.saturating_add(len);
        n += 1;
    }
    n
}

/// The record bytes at which a [`FrameBuilder`] closes a frame: a log
/// backend's choice (`crate::log::Log::frame_fill`), between one byte and
/// [`FRAME_BODY_BYTES_MAX`], so every frame it closes decodes everywhere
/// (the format's limits are unchanged; only where a batch is cut moves).
/// [`FrameFill::DEFAULT`] is [`FRAME_FILL_BYTES`] (the sled store's); the
/// JetStream log closes larger frames (`docs/scale-out.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameFill(usize);

impl FrameFill {
    /// [`FRAME_FILL_BYTES`]: below sled's inline-value size.
    pub const DEFAULT: FrameFill = FrameFill(FRAME_FILL_BYTES);

    /// A fill of `bytes` record bytes; 0 or more than
    /// [`FRAME_BODY_BYTES_MAX`] is refused.
    pub fn new(bytes: usize) -> Result<FrameFill, FrameError> {
        if bytes == 0 || bytes > FRAME_BODY_BYTES_MAX {
            return Err(FrameError::TooLarge { what: "frame fill bytes", limit: FRAME_BODY_BYTES_MAX as u64 });
        }
        Ok(FrameFill(bytes))
    }

    /// The record bytes at which a frame is closed.
    pub fn bytes(self) -> usize {
        self.0
    }
}

impl Default for FrameFill {
    fn default() -> FrameFill {
        FrameFill::DEFAULT
    }
}

/// Encodes a batch record by record into frames, byte for byte what
/// [`frame_split_len`] + [`encode_frame`] produce (at the default fill), so
/// that a writer can encode while its records are still being decided (on
/// another thread). A frame is closed when the next record would exceed
/// [`FRAME_RECORDS_MAX`] records or the builder's [`FrameFill`] of record
/// bytes ([`FRAME_FILL_BYTES`] unless [`FrameBuilder::with_fill`] chose
/// another).
///
/// Per record it writes the record and its crc32; a version-2 frame is
/// hashed once, with one blake3 call, when it is closed (a version-1 frame
/// chains each record as it is pushed).
#[derive(Debug)]
pub struct FrameBuilder {
    version: u8,
    base: Head,
    /// The last record pushed; its hash is the chain hash only once its
    /// frame is closed (a version-2 frame is hashed when it closes), so
    /// `hash` is that of the last record of the last closed frame.
    head: Head,
    frames: Vec<(u64, Vec<u8>)>,
    /// The chain hash of each closed frame's last record.
    frame_hashes: Vec<Hash>,
    current: Vec<u8>,
    count: u32,
    fill: FrameFill,
    /// The frames taken to be written ahead ([`FrameBuilder::take_ahead`]).
    ahead: Ahead,
}

/// The frames of a batch written ahead of it (`Store::write_ahead`): how
/// many, and their bytes. The batch's own write checks that they are the
/// frames the store wrote ahead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ahead {
    /// Frames written ahead.
    pub frames: usize,
    /// Their encoded bytes, headers included.
    pub bytes: usize,
}

impl FrameBuilder {
    /// Starts a batch that continues the log after `base`, in frames of
    /// [`FRAME_VERSION`].
    pub fn new(base: Head) -> FrameBuilder {
        FrameBuilder::with_fill(base, FrameFill::DEFAULT)
    }

    /// Like [`FrameBuilder::new`], closing frames at `fill` record bytes
    /// (the log backend's [`FrameFill`]).
    pub fn with_fill(base: Head, fill: FrameFill) -> FrameBuilder {
        FrameBuilder {
            version: FRAME_VERSION,
            base,
            head: base,
            frames: Vec::new(),
            frame_hashes: Vec::new(),
            ahead: Ahead::default(),
            current: Vec::new(),
            count: 0,
            fill,
        }
    }

    /// Like [`FrameBuilder::new`], in frames of `version`
    /// ([`FRAME_VERSION_1`] rebuilds a log written before store format 4
    /// with the same chain hashes; any version but 1 and 2 is refused).
    pub fn with_version(base: Head, version: u8) -> Result<FrameBuilder, FrameError> {
        if version != FRAME_VERSION_1 && version != FRAME_VERSION_2 {
            return Err(FrameError::TooLarge { what: "frame version", limit: u64::from(FRAME_VERSION_2) });
        }
        Ok(FrameBuilder { version, ..FrameBuilder::new(base) })
    }

    /// Appends one record (the next sequence number).
    pub fn push(&mut self, time_micros: i64, payload: &[u8]) -> Result<(), FrameError> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|l| *l as usize <= PAYLOAD_BYTES_MAX)
            .ok_or(FrameError::TooLarge { what: "payload bytes", limit: PAYLOAD_BYTES_MAX as u64 })?;
        let seq =
            self.head.seq.checked_add(1).ok_or(FrameError::TooLarge { what: "sequence number", limit: u64::MAX })?;
        let body = self.current.len().saturating_sub(FRAME_HEADER_BYTES);
        if self.count > 0
            && (self.count as usize >= FRAME_RECORDS_MAX
                || body.saturating_add(record_len(payload.len())) > self.fill.bytes())
        {
            self.close();
        }
        if self.count == 0 {
            // a large fill grows the frame as records come (a small batch
            // does not reserve a megabyte)
            self.current.reserve(FRAME_HEADER_BYTES + self.fill.bytes().min(FRAME_FILL_BYTES));
            self.current.push(self.version);
            self.current.extend_from_slice(&seq.to_be_bytes());
            // record count and header crc are patched in by `close`
            self.current.extend_from_slice(&[0; 4]);
            self.current.extend_from_slice(&self.head.hash);
            self.current.extend_from_slice(&[0; 4]);
        }
        let start = self.current.len();
        self.current.push(FORMAT_VERSION);
        self.current.extend_from_slice(&seq.to_be_bytes());
        self.current.extend_from_slice(&time_micros.to_be_bytes());
        self.current.extend_from_slice(&len.to_be_bytes());
        self.current.extend_from_slice(payload);
        let crc = crc32fast::hash(self.current.get(start..).unwrap_or_default());
        self.current.extend_from_slice(&crc.to_be_bytes());
        if self.version == FRAME_VERSION_1 {
            self.head.hash = chain_hash(&self.head.hash, self.current.get(start..).unwrap_or_default());
        }
        self.head.seq = seq;
        self.count += 1;
        Ok(())
    }

    /// Closes the open frame: patches its record count and header crc.
    fn close(&mut self) {
        if self.count == 0 {
            return;
        }
        let mut frame = std::mem::take(&mut self.current);
        if let Some(count) = frame.get_mut(HEADER_COUNT_OFFSET..HEADER_COUNT_OFFSET + 4) {
            count.copy_from_slice(&self.count.to_be_bytes());
        }
        let crc = crc32fast::hash(frame.get(..FRAME_HEADER_BYTES - 4).unwrap_or_default());
        if let Some(slot) = frame.get_mut(FRAME_HEADER_BYTES - 4..FRAME_HEADER_BYTES) {
            slot.copy_from_slice(&crc.to_be_bytes());
        }
        let first_seq = self.head.seq.saturating_sub(u64::from(self.count)).saturating_add(1);
        if self.version == FRAME_VERSION_2 {
            self.head.hash = frame_record_hash(&frame, self.count - 1);
        }
        self.frames.push((first_seq, frame));
        self.frame_hashes.push(self.head.hash);
        self.count = 0;
    }

    /// Records pushed so far.
    pub fn records(&self) -> u64 {
        self.head.seq.saturating_sub(self.base.seq)
    }

    /// The frames closed so far, taken out of the batch to be written ahead
    /// of it (`Store::write_ahead`), in order, while the rest is still
    /// being encoded: the batch's first frame too (store format 6: frames
    /// past the log's recorded end are not part of the log, whatever they
    /// hold; `docs/format.md`, "Frames written ahead"). The batch
    /// [`FrameBuilder::finish`] returns holds the frames not taken, and
    /// counts the ones taken ([`EncodedBatch::ahead`]).
    pub fn take_ahead(&mut self) -> Vec<(u64, Vec<u8>)> {
        let taken: Vec<(u64, Vec<u8>)> = std::mem::take(&mut self.frames);
        self.frame_hashes.clear();
        self.ahead.frames += taken.len();
        self.ahead.bytes += taken.iter().map(|(_, f)| f.len()).sum::<usize>();
        taken
    }

    /// Ends the batch: the frames (each keyed by its first seq), the head the
    /// batch continues and the head after it.
    pub fn finish(mut self) -> EncodedBatch {
        self.close();
        EncodedBatch {
            base: self.base,
            head: self.head,
            frames: self.frames,
            frame_hashes: self.frame_hashes,
            ahead: self.ahead,
        }
    }
}

/// A batch encoded by a [`FrameBuilder`], ready for `Store::append_encoded`.
/// Only a builder makes one, so its frames are always well formed.
#[derive(Debug)]
pub struct EncodedBatch {
    /// The head the batch continues (checked again when it is appended).
    pub(crate) base: Head,
    /// The head after the batch.
    pub(crate) head: Head,
    /// The frames, keyed by their first seq.
    pub(crate) frames: Vec<(u64, Vec<u8>)>,
    /// The chain hash of each frame's last record (the frame's own hash: a
    /// function of all its bytes, header included).
    frame_hashes: Vec<Hash>,
    /// The frames of the batch taken out to be written ahead of it
    /// ([`FrameBuilder::take_ahead`]); none in `frames`.
    pub(crate) ahead: Ahead,
}

impl EncodedBatch {
    /// Frames read back from a log (a backup), to be written unchanged
    /// after `base`: each is checked as a reader checks it
    /// ([`visit_frame_chained`], calling `f` per record), must start right
    /// after the previous one and link to its chain hash.
    pub fn from_frames<F>(base: Head, frames: Vec<Vec<u8>>, mut f: F) -> Result<EncodedBatch, FrameError>
    where
        F: FnMut(RecordView<'_>) -> Result<(), FrameError>,
    {
        let mut head = base;
        let mut out = Vec::with_capacity(frames.len());
        let mut frame_hashes = Vec::with_capacity(frames.len());
        for bytes in frames {
            let want =
                head.seq.checked_add(1).ok_or(FrameError::TooLarge { what: "sequence number", limit: u64::MAX })?;
            let key = peek_first_seq(&bytes)
                .ok_or_else(|| FrameError::Corrupt { seq: want, reason: "frame header: truncated".into() })?;
            if key != want {
                return Err(FrameError::Corrupt { seq: want, reason: format!("frame starts at seq {key}") });
            }
            let (header, hash) = visit_frame_chained(key, &bytes, &mut f)?;
            if header.prev_hash != head.hash {
                return Err(FrameError::Corrupt {
                    seq: key,
                    reason: "frame's previous hash does not match the chain".into(),
                });
            }
            head = Head { seq: header.last_seq(), hash };
            out.push((key, bytes));
            frame_hashes.push(hash);
        }
        Ok(EncodedBatch { base, head, frames: out, frame_hashes, ahead: Ahead::default() })
    }

    /// The head the batch continues.
    pub fn base(&self) -> Head {
        self.base
    }
    /// The head after the batch.
    pub fn head(&self) -> Head {
        self.head
    }
    /// Encoded bytes of all its frames (the frames written ahead
    /// included).
    pub fn bytes(&self) -> usize {
        self.frames.iter().map(|(_, f)| f.len()).sum::<usize>().saturating_add(self.ahead.bytes)
    }
    /// The frames taken out of the batch to be written ahead of it
    /// ([`FrameBuilder::take_ahead`]; none unless taken).
    pub fn ahead(&self) -> Ahead {
        self.ahead
    }
    /// The frames, each keyed by its first seq, in log order (a replicated
    /// log writes them as its messages).
    pub fn frames(&self) -> &[(u64, Vec<u8>)] {
        &self.frames
    }
    /// The chain hash of each frame's last record, in the order of
    /// [`EncodedBatch::frames`]: computed while encoding (a version-2
    /// frame's one blake3 call over all its bytes), so it names a frame's
    /// content and position (its header holds its first seq and the hash
    /// before it) at no extra cost — the JetStream log's `Nats-Msg-Id`.
    pub fn frame_hashes(&self) -> &[Hash] {
        &self.frame_hashes
    }
}

/// The `first_seq` field of frame bytes, read without any check (the header
/// crc included): for a reader that does not know a frame's key, such as
/// one locating a seq in a replicated log, which then decodes the frame
/// under this key with [`visit_frame`] (where every check runs). `None` if
/// the bytes are shorter than the field.
pub fn peek_first_seq(bytes: &[u8]) -> Option<u64> {
    Reader { bytes, pos: HEADER_SEQ_OFFSET }.u64()
}

/// The `record_count` field of frame bytes, read without any check and
/// clamped to [`FRAME_RECORDS_MAX`] (0 if the bytes are too short): the
/// capacity to reserve for a frame's records before walking it.
pub fn peek_record_count(bytes: &[u8]) -> usize {
    Reader { bytes, pos: HEADER_COUNT_OFFSET }.u32().map_or(0, |n| (n as usize).min(FRAME_RECORDS_MAX))
}

/// Decodes and checks a frame header stored under key `key_seq`.
pub fn decode_frame_header(key_seq: u64, bytes: &[u8]) -> Result<FrameHeader, FrameError> {
    let corrupt = |reason: &str| FrameError::Corrupt { seq: key_seq, reason: format!("frame header: {reason}") };
    if bytes.len() > FRAME_BYTES_MAX {
        return Err(corrupt(&format!("frame of {} bytes exceeds {FRAME_BYTES_MAX}", bytes.len())));
    }
    let mut r = Reader { bytes, pos: 0 };
    let head = r.take(FRAME_HEADER_BYTES - 4).ok_or_else(|| corrupt("truncated"))?;
    let stored_crc = r.u32().ok_or_else(|| corrupt("truncated"))?;
    if crc32fast::hash(head) != stored_crc {
        return Err(corrupt("checksum mismatch"));
    }
    let version = Reader { bytes: head, pos: 0 }.u8().ok_or_else(|| corrupt("truncated"))?;
    if version != FRAME_VERSION_1 && version != FRAME_VERSION_2 {
        return Err(corrupt(&format!("unknown version {version}")));
    }
    let first_seq = Reader { bytes: head, pos: HEADER_SEQ_OFFSET }.u64().ok_or_else(|| corrupt("truncated"))?;
    let record_count = Reader { bytes: head, pos: HEADER_COUNT_OFFSET }.u32().ok_or_else(|| corrupt("truncated"))?;
    let prev_hash: Hash = Reader { bytes: head, pos: HEADER_PREV_HASH_OFFSET }
        .take(32)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| corrupt("truncated"))?;
    if first_seq != key_seq {
        return Err(corrupt(&format!("first seq {first_seq} differs from its key {key_seq}")));
    }
    if record_count == 0 || record_count as usize > FRAME_RECORDS_MAX {
        return Err(corrupt(&format!("record count {record_count} out of range")));
    }
    Ok(FrameHeader { version, first_seq, record_count, prev_hash })
}

/// Walks every record of the frame stored under `key_seq`, checking the
/// header, each record's bounds, crc, version and sequence number, and
/// computing the chain from the header's `prev_hash`. Calls `f` per record
/// in order. Errors name the first bad sequence number.
pub fn visit_frame<'a, F>(key_seq: u64, bytes: &'a [u8], f: F) -> Result<FrameHeader, FrameError>
where
    F: FnMut(RecordView<'a>) -> Result<(), FrameError>,
{
    visit_frame_chained(key_seq, bytes, f).map(|(header, _)| header)
}

/// [`visit_frame`], also returning the chain hash of the frame's last
/// record (what the next frame's `prev_hash` must be). A version-2 frame is
/// hashed with one blake3 call before its records are walked; each record's
/// hash is then read from its extended output, [`HASHES_PER_FILL`]
/// records' hashes at a time.
pub fn visit_frame_chained<'a, F>(key_seq: u64, bytes: &'a [u8], mut f: F) -> Result<(FrameHeader, Hash), FrameError>
where
    F: FnMut(RecordView<'a>) -> Result<(), FrameError>,
{
    walk_frame(key_seq, bytes, Some(&mut f))
}

/// Checks a frame as [`visit_frame`] does and returns its header and the
/// chain hash of its last record, without naming every record's hash (a
/// version-2 frame: one blake3 call over the frame, one output block).
pub fn check_frame(key_seq: u64, bytes: &[u8]) -> Result<(FrameHeader, Hash), FrameError> {
    walk_frame(key_seq, bytes, None)
}

/// How many records' hashes a frame walk reads from blake3's extended
/// output in one call: 16 output blocks, what blake3's widest `xof_many`
/// (AVX-512) computes side by side; two records a call (one block) left
/// every block to a compression of its own.
const HASHES_PER_FILL: u32 = 32;

/// One record visitor, as [`walk_frame`] takes it.
type Visitor<'v, 'a> = &'v mut dyn FnMut(RecordView<'a>) -> Result<(), FrameError>;

/// The frame walk: every check, and every record's hash only when there is
/// a visitor to give it to.
fn walk_frame<'a>(
    key_seq: u64,
    bytes: &'a [u8],
    mut f: Option<Visitor<'_, 'a>>,
) -> Result<(FrameHeader, Hash), FrameError> {
    let header = decode_frame_header(key_seq, bytes)?;
    let mut r = Reader { bytes, pos: FRAME_HEADER_BYTES };
    let mut outputs = (header.version == FRAME_VERSION_2).then(|| frame_output(bytes));
    // a version-2 frame's record hashes, read HASHES_PER_FILL at a time
    let mut block = [0u8; 32 * HASHES_PER_FILL as usize];
    let mut hash = header.prev_hash;
    let mut seq = header.first_seq;
    for index in 0..header.record_count {
        let corrupt = |reason: String| FrameError::Corrupt { seq, reason };
        let offset = r.pos;
        let mut fixed = Reader { bytes: r.take(21).ok_or_else(|| corrupt("truncated record".into()))?, pos: 0 };
        let version = fixed.u8().ok_or_else(|| corrupt("truncated record".into()))?;
        let stored_seq = fixed.u64().ok_or_else(|| corrupt("truncated record".into()))?;
        let time_micros = fixed.i64().ok_or_else(|| corrupt("truncated record".into()))?;
        let len = fixed.u32().ok_or_else(|| corrupt("truncated record".into()))? as usize;
        if len > PAYLOAD_BYTES_MAX {
            return Err(corrupt(format!("payload length {len} exceeds {PAYLOAD_BYTES_MAX}")));
        }
        let payload = r.take(len).ok_or_else(|| corrupt(format!("payload length {len} runs past the frame")))?;
        let stored_crc = r.u32().ok_or_else(|| corrupt("truncated record checksum".into()))?;
        let end = r.pos;
        let record_bytes = bytes.get(offset..end).ok_or_else(|| corrupt("record bounds".into()))?;
        let crc_covered =
            record_bytes.get(..record_bytes.len().saturating_sub(4)).ok_or_else(|| corrupt("record bounds".into()))?;
        if crc32fast::hash(crc_covered) != stored_crc {
            return Err(corrupt("record checksum mismatch".into()));
        }
        if version != FORMAT_VERSION {
            return Err(corrupt(format!("unknown record version {version}")));
        }
        if stored_seq != seq {
            return Err(corrupt(format!("record carries seq {stored_seq}, expected {seq}")));
        }
        match (&mut outputs, &mut f) {
            (None, _) => hash = chain_hash(&hash, record_bytes),
            (Some(out), Some(_)) => {
                let slot = (index % HASHES_PER_FILL) as usize * 32;
                if slot == 0 {
                    let left = (header.record_count - index).min(HASHES_PER_FILL) as usize;
                    out.fill(block.get_mut(..left * 32).unwrap_or_default());
                }
                hash = block
                    .get(slot..slot + 32)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| corrupt("record hash out of its output block".into()))?;
            }
            (Some(_), None) => {}
        }
        if let Some(f) = f.as_mut() {
            f(RecordView { seq, time_micros, payload, hash, offset, len: end - offset })?;
        }
        seq = seq.checked_add(1).ok_or_else(|| corrupt("sequence overflow".into()))?;
    }
    if r.pos != bytes.len() {
        return Err(FrameError::Corrupt {
            seq: header.last_seq(),
            reason: format!("{} trailing bytes after the last record", bytes.len() - r.pos),
        });
    }
    if let (Some(out), None) = (&mut outputs, &f) {
        out.set_position(u64::from(header.record_count - 1) * 32);
        out.fill(&mut hash);
    }
    Ok((header, hash))
}

/// Byte span `(offset, len)` of record `seq` in a frame, found by following
/// the length fields only, without checking checksums (for tools and test
/// hooks that must reach a record in a damaged frame). `None` if the header
/// is unreadable or the walk leaves the frame first. The length is clamped
/// to the frame.
pub fn record_span(bytes: &[u8], seq: u64) -> Option<(usize, usize)> {
    let first_seq = peek_first_seq(bytes)?;
    let count = Reader { bytes, pos: HEADER_COUNT_OFFSET }.u32()?;
    let index = seq.checked_sub(first_seq)?;
    if index >= u64::from(count) {
        return None;
    }
    let mut r = Reader { bytes, pos: FRAME_HEADER_BYTES };
    for _ in 0..index {
        r.take(17)?;
        let len = r.u32()? as usize;
        r.take(len)?;
        r.take(4)?;
    }
    // The target's own length field may be the damaged part: clamp it to
    // the frame so that its bytes stay reachable.
    let offset = r.pos;
    r.take(17)?;
    let len = record_len(r.u32()? as usize).min(bytes.len().saturating_sub(offset));
    Some((offset, len))
}

/// Decodes a whole frame into owned records (see [`visit_frame`]).
pub fn decode_frame(key_seq: u64, bytes: &[u8]) -> Result<Frame, FrameError> {
    let mut records = Vec::with_capacity(peek_record_count(bytes));
    let header = visit_frame(key_seq, bytes, |v| {
        records.push(StoredRecord {
            seq: v.seq,
            time_micros: v.time_micros,
            hash: v.hash,
            payload: v.payload.to_vec(),
        });
        Ok(())
    })?;
    Ok(Frame { header, records })
}

/// A bounds-checked big-endian cursor; every read returns `None` past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.array()?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_builder_writes_what_encode_frame_writes() {
        // payload sizes that cross the fill target and the record-count limit
        let payloads: Vec<Vec<u8>> =
            (0..9000usize).map(|i| vec![(i % 251) as u8; if i % 97 == 0 { 3000 } else { i % 40 }]).collect();
        let records: Vec<NewRecord<'_>> =
            payloads.iter().enumerate().map(|(i, p)| NewRecord { time_micros: i as i64 - 5, payload: p }).collect();
        let base = Head { seq: 41, hash: [7; 32] };
        let mut expected = Vec::new();
        let (mut seq, mut hash, mut rest) = (base.seq, base.hash, &records[..]);
        while !rest.is_empty() {
            let n = frame_split_len(rest);
            let (frame, last) = encode_frame(seq + 1, &hash, &rest[..n]).unwrap();
            expected.push((seq + 1, frame));
            seq += n as u64;
            hash = last;
            rest = &rest[n..];
        }
        let mut b = FrameBuilder::new(base);
        for r in &records {
            b.push(r.time_micros, r.payload).unwrap();
        }
        assert_eq!(b.records(), 9000);
        let batch = b.finish();
        assert!(expected.len() > 3);
        assert_eq!(batch.frames, expected);
        assert_eq!(batch.base, base);
        assert_eq!(batch.head, Head { seq, hash });
        assert!(FrameBuilder::new(base).finish().frames.is_empty());
    }

    /// Frames taken ahead while pushing, and the batch's own frames, are
    /// together the frames of the same batch built whole, in order (the
    /// first frame among those taken), and the batch counts what was.
    #[test]
    fn frames_taken_ahead_and_the_batch_are_the_whole_batch() {
        let payloads: Vec<Vec<u8>> = (0..3000usize).map(|i| vec![(i % 251) as u8; 90 + i % 70]).collect();
        let base = Head { seq: 9, hash: [3; 32] };
        let mut whole = FrameBuilder::new(base);
        let mut ahead = FrameBuilder::new(base);
        let mut taken = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            whole.push(i as i64, p).unwrap();
            ahead.push(i as i64, p).unwrap();
            if i % 256 == 255 {
                let t = ahead.take_ahead();
                assert!(t.windows(2).all(|w| w[0].0 < w[1].0), "in log order");
                taken.extend(t);
            }
        }
        let whole = whole.finish();
        let batch = ahead.finish();
        assert!(taken.len() >= 2, "frames were taken: {}", taken.len());
        assert_eq!(batch.ahead(), Ahead { frames: taken.len(), bytes: taken.iter().map(|(_, f)| f.len()).sum() });
        assert_eq!(batch.bytes(), whole.bytes());
        assert_eq!((batch.base, batch.head), (whole.base, whole.head));
        // the frames taken, then the batch's own: the whole batch in order
        let mut all = taken.clone();
        all.extend(batch.frames.clone());
        assert_eq!(all, whole.frames);
        assert_eq!(taken.first(), whole.frames.first(), "the first frame is taken ahead too");
        assert_eq!(batch.frame_hashes().len(), batch.frames.len());
    }

    #[test]
    fn a_builder_closes_frames_at_its_fill_and_every_frame_decodes() {
        assert!(FrameFill::new(0).is_err());
        assert!(FrameFill::new(FRAME_BODY_BYTES_MAX + 1).is_err());
        assert_eq!(FrameFill::new(FRAME_BODY_BYTES_MAX).unwrap().bytes(), FRAME_BODY_BYTES_MAX);
        assert_eq!(FrameFill::default().bytes(), FRAME_FILL_BYTES);
        let payload = [0x5au8; 100];
        let base = Head { seq: 9, hash: [3; 32] };
        for fill in [FRAME_FILL_BYTES, 256 << 10, 512 << 10, FRAME_BODY_BYTES_MAX] {
            let mut b = FrameBuilder::with_fill(base, FrameFill::new(fill).unwrap());
            for i in 0..8192 {
                b.push(i, &payload).unwrap();
            }
            let batch = b.finish();
            let per_frame = (fill / record_len(100)).min(FRAME_RECORDS_MAX);
            assert_eq!(batch.frames.len(), 8192usize.div_ceil(per_frame), "fill {fill}");
            let mut head = base;
            for (key, frame) in &batch.frames {
                let body = frame.len() - FRAME_HEADER_BYTES;
                assert!(body <= fill, "fill {fill}: a body of {body}");
                let decoded = decode_frame(*key, frame).unwrap();
                assert_eq!(decoded.header.prev_hash, head.hash);
                assert_eq!(decoded.header.first_seq, head.seq + 1);
                let last = decoded.records.last().unwrap();
                head = Head { seq: last.seq, hash: last.hash };
            }
            assert_eq!(head, batch.head);
            let lasts: Vec<Hash> =
                batch.frames.iter().map(|(k, f)| decode_frame(*k, f).unwrap().records.last().unwrap().hash).collect();
            assert_eq!(batch.frame_hashes(), &lasts[..]);
        }
        // the default fill is what `new` and `frame_split_len` cut at
        let mut a = FrameBuilder::new(base);
        let mut b = FrameBuilder::with_fill(base, FrameFill::DEFAULT);
        for i in 0..3000 {
            a.push(i, &payload).unwrap();
            b.push(i, &payload).unwrap();
        }
        let (a, b) = (a.finish(), b.finish());
        assert_eq!(a.frames, b.frames);
        assert_eq!(a.frames.len(), 4);
        // a record larger than the fill still goes alone into a frame
        let big = vec![1u8; 200 << 10];
        let mut b = FrameBuilder::with_fill(base, FrameFill::DEFAULT);
        b.push(1, &payload).unwrap();
        b.push(2, &big).unwrap();
        b.push(3, &payload).unwrap();
        let sizes: Vec<u32> =
            b.finish().frames.iter().map(|(k, f)| decode_frame(*k, f).unwrap().header.record_count).collect();
        assert_eq!(sizes, vec![1, 1, 1]);
    }

    #[test]
    fn the_version_1_builder_writes_what_the_version_1_encoder_writes() {
        let payloads: Vec<Vec<u8>> = (0..5000usize).map(|i| vec![(i % 13) as u8; i % 300]).collect();
        let records: Vec<NewRecord<'_>> =
            payloads.iter().enumerate().map(|(i, p)| NewRecord { time_micros: i as i64, payload: p }).collect();
        let base = Head { seq: 3, hash: [1; 32] };
        let mut expected = Vec::new();
        let (mut seq, mut hash, mut rest) = (base.seq, base.hash, &records[..]);
        while !rest.is_empty() {
            let n = frame_split_len(rest);
            let (frame, last) = encode_frame_version(FRAME_VERSION_1, seq + 1, &hash, &rest[..n]).unwrap();
            // a version-1 frame chains record by record
            let mut h = hash;
            for r in decode_frame(seq + 1, &frame).unwrap().records {
                let span = record_span(&frame, r.seq).unwrap();
                h = chain_hash(&h, &frame[span.0..span.0 + span.1]);
                assert_eq!(r.hash, h);
            }
            assert_eq!(h, last);
            expected.push((seq + 1, frame));
            seq += n as u64;
            hash = last;
            rest = &rest[n..];
        }
        let mut b = FrameBuilder::with_version(base, FRAME_VERSION_1).unwrap();
        for r in &records {
            b.push(r.time_micros, r.payload).unwrap();
        }
        let batch = b.finish();
        assert!(expected.len() > 3);
        assert_eq!(batch.frames, expected);
        assert_eq!(batch.head, Head { seq, hash });
        assert!(FrameBuilder::with_version(base, 3).is_err());
        assert!(encode_frame_version(0, 1, &GENESIS_HASH, &records[..1]).is_err());
    }

    #[test]
    fn a_version_2_frame_is_hashed_once_and_its_records_take_its_extended_output() {
        let batch = [
            NewRecord { time_micros: 1, payload: b"abc" },
            NewRecord { time_micros: 2, payload: b"" },
            NewRecord { time_micros: 3, payload: b"xyz" },
        ];
        let (f1, last1) = encode_frame(1, &GENESIS_HASH, &batch).unwrap();
        assert_eq!(f1[0], FRAME_VERSION_2);
        let mut xof = [0u8; 96];
        blake3::Hasher::new().update(&f1).finalize_xof().fill(&mut xof);
        assert_eq!(xof[..32], *blake3::hash(&f1).as_bytes());
        let d = decode_frame(1, &f1).unwrap();
        assert_eq!(d.header.version, FRAME_VERSION_2);
        for (i, r) in d.records.iter().enumerate() {
            assert_eq!(r.hash[..], xof[32 * i..32 * i + 32], "seq {}", r.seq);
            assert_eq!(r.hash, frame_record_hash(&f1, i as u32));
        }
        assert_eq!(check_frame(1, &f1).unwrap().1, last1);
        assert_eq!(d.records[2].hash, last1);
        assert_ne!(d.records[0].hash, d.records[1].hash);
        // the next frame links to the last record's hash
        let (f2, last2) = encode_frame(4, &last1, &batch[..1]).unwrap();
        let (h2, chained) = visit_frame_chained(4, &f2, |_| Ok(())).unwrap();
        assert_eq!(h2.prev_hash, last1);
        assert_eq!(chained, last2);
        assert_eq!(visit_frame_chained(1, &f1, |_| Ok(())).unwrap().1, last1);
        // a version-1 frame may be followed by a version-2 frame (an upgraded store)
        let (v1, v1_last) = encode_frame_version(FRAME_VERSION_1, 1, &GENESIS_HASH, &batch).unwrap();
        assert_ne!(v1_last, last1);
        assert_eq!(visit_frame_chained(1, &v1, |_| Ok(())).unwrap().1, v1_last);
        let mut b = FrameBuilder::new(Head { seq: 3, hash: v1_last });
        b.push(9, b"next").unwrap();
        let next = b.finish();
        let (k, bytes) = &next.frames()[0];
        assert_eq!(decode_frame(*k, bytes).unwrap().header.prev_hash, v1_last);
        assert_eq!(next.head().hash, *blake3::hash(bytes).as_bytes());
        // every frame size: the walk's hashes, check_frame and frame_record_hash agree
        // (and across the walk's output fills of HASHES_PER_FILL records)
        for n in (1..=9usize).chain([31, 32, 33, 64, 65, 97]) {
            let recs: Vec<NewRecord<'_>> = (0..n).map(|i| NewRecord { time_micros: i as i64, payload: b"p" }).collect();
            let (f, last) = encode_frame(10, &last1, &recs).unwrap();
            let d = decode_frame(10, &f).unwrap();
            for (i, r) in d.records.iter().enumerate() {
                assert_eq!(r.hash, frame_record_hash(&f, i as u32), "{n} records, index {i}");
            }
            assert_eq!(d.records.last().unwrap().hash, last);
            assert_eq!(check_frame(10, &f).unwrap().1, last);
            let distinct: std::collections::BTreeSet<Hash> = d.records.iter().map(|r| r.hash).collect();
            assert_eq!(distinct.len(), n);
        }
        // unknown frame versions are refused
        let mut bad = f1.clone();
        bad[0] = 3;
        let crc = crc32fast::hash(&bad[..FRAME_HEADER_BYTES - 4]);
        bad[FRAME_HEADER_BYTES - 4..FRAME_HEADER_BYTES].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(decode_frame(1, &bad), Err(FrameError::Corrupt { seq: 1, .. })));
    }

    #[test]
    fn a_rewrite_that_fixes_its_crc_breaks_the_chain_at_the_next_frame() {
        let recs = [NewRecord { time_micros: 1, payload: b"abc" }, NewRecord { time_micros: 2, payload: b"def" }];
        let (f1, h1) = encode_frame(1, &GENESIS_HASH, &recs).unwrap();
        let (f2, h2) = encode_frame(3, &h1, &recs).unwrap();
        // record 1's payload rewritten, its crc fixed: the frame alone still checks
        let mut bad = f1.clone();
        let (off, len) = record_span(&bad, 1).unwrap();
        bad[off + 21] ^= 1;
        let crc = crc32fast::hash(&bad[off..off + len - 4]);
        bad[off + len - 4..off + len].copy_from_slice(&crc.to_be_bytes());
        let (_, bad_last) = check_frame(1, &bad).unwrap();
        assert_ne!(bad_last, h1);
        // but the next frame's link names it
        let err = EncodedBatch::from_frames(Head::GENESIS, vec![bad, f2.clone()], |_| Ok(())).unwrap_err();
        assert!(matches!(err, FrameError::Corrupt { seq: 3, .. }), "{err:?}");
        let intact = EncodedBatch::from_frames(Head::GENESIS, vec![f1.clone(), f2.clone()], |_| Ok(())).unwrap();
        assert_eq!(intact.head(), Head { seq: 4, hash: h2 });
        // frames swapped, or the first one dropped: refused
        assert!(EncodedBatch::from_frames(Head::GENESIS, vec![f2.clone(), f1], |_| Ok(())).is_err());
        assert!(EncodedBatch::from_frames(Head::GENESIS, vec![f2], |_| Ok(())).is_err());
    }

    #[test]
    fn every_truncation_of_a_frame_is_a_typed_error() {
        let batch = [NewRecord { time_micros: 1, payload: b"abc" }, NewRecord { time_micros: 2, payload: b"" }];
        let (bytes, _) = encode_frame(5, &GENESIS_HASH, &batch).unwrap();
        for n in 0..bytes.len() {
            assert!(decode_frame(5, &bytes[..n]).is_err(), "prefix {n}");
        }
        assert_eq!(decode_frame(5, &bytes).unwrap().records.len(), 2);
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let batch = [NewRecord { time_micros: 1, payload: b"abc" }, NewRecord { time_micros: 2, payload: b"de" }];
        for version in [FRAME_VERSION_1, FRAME_VERSION_2] {
            let (bytes, _) = encode_frame_version(version, 1, &GENESIS_HASH, &batch).unwrap();
            for i in 0..bytes.len() {
                let mut b = bytes.clone();
                b[i] ^= 0x40;
                let err = decode_frame(1, &b).unwrap_err();
                let FrameError::Corrupt { seq, .. } = err else { unreachable!("{err:?}") };
                // Header and first record name seq 1; the rest names seq 2.
                let expected = if i < FRAME_HEADER_BYTES + record_len(3) { 1 } else { 2 };
                assert_eq!(seq, expected, "byte {i}");
            }
        }
    }
}
