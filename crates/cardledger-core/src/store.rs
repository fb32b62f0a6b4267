//! The log store: the only module of cardledger that names sled.
//!
//! A [`Store`] is an append-only log of opaque payloads with contiguous
//! sequence numbers from 1, a blake3 hash chain and per-record crc32
//! checksums, plus a small named-checkpoint area for projections. Records are
//! grouped into frames (see [`crate::record`]), appended once to segment
//! files of the store's own (`segments.rs`, store format 6); a batch is
//! durable when its frames are synced and `meta/log_head` (in sled) names
//! where it ends, both before [`Store::append`] returns; bytes past that
//! head are removed at open, so a crash leaves whole batches or nothing.
//! The cold runs' blocks are in files of the store's own too (`cold.rs`,
//! store format 7). sled keeps the rest: `meta`, checkpoints, snapshots
//! and the cold runs' metas.
//!
//! What it deliberately is not: an event codec, a projection runner or a
//! group-commit queue. Its interface (append at an expected head, read from a
//! seq, subscribe to the head) is one a replicated log could also serve, so
//! nothing sled-specific leaks out: no sled type appears in a public
//! signature.
//!
//! ```
//! use cardledger_core::store::{Head, NewRecord, Store};
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path()).unwrap();
//! let head = store
//!     .append(Head::GENESIS, &[NewRecord { time_micros: 1, payload: b"e1" }])
//!     .unwrap();
//! assert_eq!(head.seq, 1);
//! let all: Vec<_> = store.read_from(1).collect::<Result<_, _>>().unwrap();
//! assert_eq!(all[0].payload, b"e1");
//! ```

pub(crate) mod files;
mod segments;
mod sled_files;

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::cold::ColdRuns;
use cardledger_domain::limits;
use segments::{Appender, FrameReader, Position, Segments};
use sled_files::SledFiles;

use crate::log::{Log, LogRead};
use crate::record::{self, FrameHeader, FORMAT_VERSION};
pub use crate::record::{FrameError, Hash, Head, NewRecord, StoredRecord, GENESIS_HASH};
use crate::{lock, wait, wait_while_for};

// The store's limits live in `cardledger_domain::limits` with every other
// limit; re-exported here under their old paths.
pub use cardledger_domain::limits::{
    BATCH_BYTES_MAX, BATCH_RECORDS_MAX, CHECKPOINT_NAME_BYTES_MAX, CHECKPOINT_STATE_BYTES_MAX, DISK_RESERVE_BYTES,
    OPEN_LOCK_WAIT_MS_MAX,
};

/// Name of the sled tree that held the frames up to store format 5 (key:
/// BE u64 first seq); emptied when such a store is upgraded to format 6.
const TREE_LOG: &str = "log";
/// Name of the sled tree holding format metadata.
const TREE_META: &str = "meta";
/// Name of the sled tree holding projection checkpoints (key: name bytes).
const TREE_CHECKPOINTS: &str = "checkpoints";
/// Name of the sled tree holding engine state snapshots (key: BE u64 seq).
const TREE_SNAPSHOTS: &str = "snapshots";
/// The cold state (`docs/format.md`, cold tree): sorted runs ([`ColdRuns`]).
const TREE_COLD: &str = "cold";
/// Bytes of a snapshot manifest: version (1) + seq (8) + chain hash (32) +
/// state length (8) + chunk count (4) + state crc32 (4) + manifest crc32 (4).
const SNAPSHOT_MANIFEST_BYTES: usize = 61;
/// Version byte of a snapshot manifest.
const SNAPSHOT_VERSION: u8 = 1;
/// The store's format version (`meta/format_version`): 2 added the
/// `snapshots` tree, 3 the `cold` tree, 4 frames hashed once each (frame
/// version 2, [`record::FRAME_VERSION`]), 5 the log's head in `meta`
/// ([`META_LOG_HEAD`]: frames past it are an unfinished batch written
/// ahead, removed at open), 6 the frames in segment files of the store's
/// own (`segments.rs`; the head names where they end, [`LOG_HEAD_BYTES`]),
/// 7 the cold runs' blocks in run files of the store's own (`cold.rs`).
/// Records keep their own version byte ([`FORMAT_VERSION`], still 1).
pub const STORE_FORMAT_VERSION: u8 = 7;
/// The first store format (no `snapshots` tree); opened and upgraded to 4.
const FORMAT_VERSION_1: u8 = 1;
/// The second store format (no `cold` tree); opened and upgraded to 4.
const FORMAT_VERSION_2: u8 = 2;
/// The third store format (frames of version 1 only); opened and upgraded
/// to 5: its frames stay as they are, new ones are of version 2.
const FORMAT_VERSION_3: u8 = 3;
/// The fourth store format (no log head in `meta`); opened and upgraded to
/// 5: the head its last frame ends at is written to `meta`.
const FORMAT_VERSION_4: u8 = 4;
/// The fifth store format (frames in sled's `log` tree, a head of
/// [`LOG_HEAD_V5_BYTES`]); opened and upgraded to 6: its frames are copied
/// into segment files, then the `log` tree is emptied.
const FORMAT_VERSION_5: u8 = 5;
/// The sixth store format (the cold runs' blocks in sled's `cold` tree);
/// opened and upgraded to 7: each run's blocks are copied into its run
/// file, then the blocks are removed from the tree (`upgrade_cold`).
const FORMAT_VERSION_6: u8 = 6;
/// Key in `meta` whose value is the one format version byte.
const META_FORMAT_VERSION: &[u8] = b"format_version";
/// Key in `meta` whose value is the log's head: seq (u64 big-endian), the
/// chain hash, then where its last frame ends in the segment files (the
/// segment's first seq, u64, 0 for an empty log; the end offset, u64).
/// Written after the frames it covers are synced (store format 6). Bytes
/// past it are a group whose write never completed.
const META_LOG_HEAD: &[u8] = b"log_head";
/// Bytes of the `log_head` value: seq (8) + chain hash (32) + segment (8)
/// + end offset (8).
const LOG_HEAD_BYTES: usize = 56;
/// Bytes of a format-5 `log_head` value: seq (8) + chain hash (32).
const LOG_HEAD_V5_BYTES: usize = 40;
/// Fixed bytes of a checkpoint value besides the state: version (1) + seq
/// (8) + crc32 (4).
const CHECKPOINT_OVERHEAD_BYTES: usize = 13;

/// Everything that can go wrong in storage. Storage failures are typed; a
/// caller never has to parse a message to decide what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The operating system reported an I/O failure.
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// The storage engine reported a failure other than I/O.
    #[error("storage engine failed: {0}")]
    Sled(String),
    /// Stored bytes fail a check; `seq` is the first bad sequence number
    /// (0 when the damage is not in the log, e.g. meta or a checkpoint).
    #[error("corrupt log at seq {seq}: {reason}")]
    Corrupt {
        /// First bad sequence number.
        seq: u64,
        /// What check failed.
        reason: String,
    },
    /// An append named a head that is not the current one; nothing was
    /// written.
    #[error("expected head seq {} but the log is at seq {}", expected.seq, actual.seq)]
    HeadMismatch {
        /// The head the caller expected.
        expected: Head,
        /// The actual head.
        actual: Head,
    },
    /// An input exceeds one of the limits in this module or in
    /// [`crate::record`].
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
    /// The directory holds a format version this build does not know.
    #[error("unsupported on-disk format version {0}")]
    UnsupportedVersion(u8),
    /// The file system holds less free space than the batch needs plus
    /// [`DISK_RESERVE_BYTES`]; nothing was written. Free space and reopen.
    #[error("disk full: {available} bytes free, an append needs {needed}")]
    DiskFull {
        /// Free bytes reported by the file system.
        available: u64,
        /// Bytes the append needs free (four times the batch plus the reserve).
        needed: u64,
    },
    /// A flush failed after a batch was applied, so its durability is
    /// unknown; the store accepts no more appends. Reopen it.
    #[error("the store stopped accepting appends after a failed flush; reopen it")]
    Closed,
    /// Another writer appended to the log since this one last knew its head
    /// (a replicated log's expected-position check refused the batch):
    /// nothing of the batch is in the log. Reopen (reload) or stop.
    #[error("fenced: {reason}")]
    Fenced {
        /// Where the log stands and what this writer expected.
        reason: String,
    },
    /// A replicated log did not answer in time, or an append's outcome
    /// could not be settled: not acknowledged. Reopen once it is back.
    #[error("log unavailable: {0}")]
    Unavailable(String),
}

impl From<FrameError> for StoreError {
    fn from(e: FrameError) -> StoreError {
        match e {
            FrameError::Corrupt { seq, reason } => StoreError::Corrupt { seq, reason },
            FrameError::TooLarge { what, limit } => StoreError::TooLarge { what, limit },
        }
    }
}

/// A handle to an open log. Cheap to clone (an `Arc` inside), `Send + Sync`;
/// appends are serialized internally, reads never take the append lock.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// A live feed of the durable head, so projections can follow appends.
#[derive(Clone)]
pub struct Subscription {
    published: Arc<Published>,
}

/// Iterator over records from a sequence number up to the head at the time
/// [`Store::read_from`] was called. Each frame is checksum-checked, records
/// are asserted contiguous and frames asserted chained.
pub struct ReadIter {
    frames: Option<FrameReader>,
    /// The records of the frame `frames` lent last, not yet read from
    /// `pending_at` on: their payloads are read where they lie in it.
    pending: Vec<PendingRecord>,
    pending_at: usize,
    next_seq: u64,
    end_seq: u64,
    link: Option<Hash>,
    error: Option<StoreError>,
    /// The external log's read ([`Store::open_on`]), when there is one.
    external: Option<LogRead>,
}

struct Inner {
    dir: std::path::PathBuf,
    /// The log backend when it is not this directory's `log` tree
    /// ([`Store::open_on`]).
    external: Option<Arc<dyn Log>>,
    db: sled::Db,
    /// What sled's flush leaves out ([`SledFiles::flush`], the store's one flush).
    files: SledFiles,
    /// The log's frames (store format 6).
    segments: Arc<Segments>,
    /// The head `meta/log_head` names (the durable one), held while the
    /// log is flushed ([`Store::flush_log`]): one flush of the log at a time.
    durable: Mutex<Head>,
    meta: sled::Tree,
    checkpoints: sled::Tree,
    snapshots: sled::Tree,
    cold: Arc<ColdRuns>,
    writer: Mutex<Writer>,
    published: Arc<Published>,
    /// Declared last, so it drops after every sled handle above.
    reopen: ReopenOnDrop,
}

/// sled 0.34 writes its page-table snapshot only when it opens: a store
/// opened after a long session scans every byte that session wrote (0.7 s
/// after 10M events). A clean close of a session that wrote much
/// ([`Store::reopen_on_close`]) pays that scan at close instead, by opening
/// and dropping sled once after its last handle is gone.
struct ReopenOnDrop {
    dir: std::path::PathBuf,
    armed: std::sync::atomic::AtomicBool,
}

impl Inner {
    /// The store's one flush: sled's, and what it leaves out ([`SledFiles::flush`]).
    fn flush(&self) -> Result<(), StoreError> {
        self.files.flush(&self.db)
    }
}

impl Drop for ReopenOnDrop {
    fn drop(&mut self) {
        if self.armed.load(std::sync::atomic::Ordering::Acquire) {
            // best effort: a failure leaves the scan to the next open
            let _ = open_db(&self.dir).map(drop);
        }
    }
}

struct Writer {
    head: Head,
    /// Where the head's last frame ends in the segment files.
    end: Position,
    /// Appends frames to the segment files (past `end` when frames were
    /// written ahead of the next batch).
    appender: Appender,
    closed: bool,
    /// The frames written ahead of the next batch ([`Store::write_ahead`]):
    /// past `head`, until that batch is written.
    ahead: record::Ahead,
}

struct Published {
    head: Mutex<Head>,
    changed: Condvar,
    /// A flush failed: no batch written after the head is ever published
    /// (set under `head`'s lock, so a waiter never misses it).
    broken: std::sync::atomic::AtomicBool,
    /// Test hook ([`Store::debug_hold_flush`]).
    hold: Mutex<FlushHoldState>,
    held: Condvar,
}

#[derive(Default)]
struct FlushHoldState {
    /// The next flush waits while set.
    armed: bool,
    /// A flush waits at the hold (later flushes pass).
    waiting: bool,
    /// The held flush fails with this instead of flushing.
    fail: Option<String>,
}

/// A batch written to the log but not yet acknowledged
/// ([`Store::write_encoded`]); [`Store::flush_written`] makes it durable.
#[must_use = "a written batch is durable only after Store::flush_written"]
#[derive(Debug)]
pub struct Written {
    base: Head,
    head: Head,
    /// Already durable and published (an empty batch, an external log).
    done: bool,
}

impl Written {
    /// The head after this batch.
    pub fn head(&self) -> Head {
        self.head
    }
}

/// Holds the next flush of the log until dropped ([`Store::debug_hold_flush`]).
pub struct FlushHold {
    published: Arc<Published>,
}

impl FlushHold {
    /// Waits up to `timeout` for a flush to wait at the hold; true if one does.
    pub fn wait_held(&self, timeout: Duration) -> bool {
        wait_while_for(&self.published.held, lock(&self.published.hold), timeout, |h| !h.waiting).waiting
    }

    /// Releases the hold; the held flush fails with `reason` (an I/O
    /// failure) instead of flushing.
    pub fn fail(self, reason: &str) {
        lock(&self.published.hold).fail = Some(reason.to_string());
    }
}

impl Drop for FlushHold {
    fn drop(&mut self) {
        lock(&self.published.hold).armed = false;
        self.published.held.notify_all();
    }
}

impl Published {
    /// Test hook: the first flush to come while a hold is armed waits until
    /// it is released; its failure, if released with one.
    fn pause(&self) -> Result<(), StoreError> {
        let mut h = lock(&self.hold);
        if !h.armed || h.waiting {
            // no hold, or it holds another flush already
            return Ok(());
        }
        h.waiting = true;
        self.held.notify_all();
        while h.armed {
            h = wait(&self.held, h);
        }
        h.waiting = false;
        h.fail.take().map_or(Ok(()), |reason| Err(StoreError::Io(reason)))
    }
}

impl Store {
    /// True when `dir` holds a store (sled's `conf` and `db` files), so a
    /// read-only host can refuse a missing one instead of creating it.
    pub fn exists(dir: &Path) -> bool {
        dir.join("conf").is_file() && dir.join("db").is_file()
    }

    /// Opens (or creates) the log in `dir`, checks the format version and
    /// recovers the head from the last frame.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_inner(dir, None)
    }

    /// Opens (or creates) `dir` for the snapshots, cold runs and checkpoints
    /// of a log kept by another backend (`log`, e.g. a JetStream stream):
    /// appends, reads, the head, subscriptions and verify go to `log`; the
    /// directory's own `log` tree must be empty (a directory that holds a
    /// sled log is refused, `Corrupt` at seq 0). What is stored locally names
    /// the log position and chain hash it was taken at and is checked
    /// against `log` before use, so a directory of another log (or an empty
    /// one) is rebuilt by replay.
    pub fn open_on(dir: &Path, log: Arc<dyn Log>) -> Result<Store, StoreError> {
        Store::open_inner(dir, Some(log))
    }

    fn open_inner(dir: &Path, external: Option<Arc<dyn Log>>) -> Result<Store, StoreError> {
        // before sled's open: every blob last written before it (less a
        // margin) is one no thread of this process writes (`SledFiles::open`)
        let opened_at = std::time::SystemTime::now();
        let db = open_db(dir)?;
        let files =
            SledFiles::open(dir, opened_at).map_err(|e| StoreError::Io(format!("opening sled's files: {e}")))?;
        let log = db.open_tree(TREE_LOG).map_err(sled_err)?;
        let meta = db.open_tree(TREE_META).map_err(sled_err)?;
        let checkpoints = db.open_tree(TREE_CHECKPOINTS).map_err(sled_err)?;
        let snapshots = db.open_tree(TREE_SNAPSHOTS).map_err(sled_err)?;
        let cold_tree = db.open_tree(TREE_COLD).map_err(sled_err)?;
        let segments = Arc::new(Segments::open(dir)?);

        if external.is_some() && !(log.is_empty() && segments.is_empty()) {
            return Err(StoreError::Corrupt {
                seq: 0,
                reason: format!("{} holds a log; it cannot keep the state of another log", dir.display()),
            });
        }
        match meta.get(META_FORMAT_VERSION).map_err(sled_err)? {
            Some(v) => match v.as_ref() {
                [version @ (STORE_FORMAT_VERSION | FORMAT_VERSION_6)] => {
                    if !log.is_empty() {
                        // an upgrade stopped between its switch to format 6
                        // and the clearing of the copied `log` tree
                        log.clear().map_err(sled_err)?;
                        files.flush(&db)?;
                    }
                    if *version == FORMAT_VERSION_6 {
                        upgrade_cold(UpgradeStop::Done, dir, &db, &files, &cold_tree, &meta)?;
                    } else if crate::cold::remove_tree_blocks(&cold_tree)? {
                        // an upgrade stopped between its switch to format 7
                        // and the removal of the copied blocks
                        files.flush(&db)?;
                    }
                }
                // formats 1–5 keep the frames in sled's `log` tree (format
                // 1 without snapshots, 2 without cold entries, 3 without
                // version-2 frames, 4 without the log head, 5 with it): they
                // are copied into segment files as they are (`upgrade_log`)
                [version @ (FORMAT_VERSION_1 | FORMAT_VERSION_2 | FORMAT_VERSION_3 | FORMAT_VERSION_4
                | FORMAT_VERSION_5)] => match external {
                    None => {
                        let head = if *version == FORMAT_VERSION_5 {
                            parse_log_head_v5(&recorded_log_head(&meta)?)?
                        } else {
                            // batches were written whole: the last frame's head
                            last_frame_head(&log)?
                        };
                        upgrade_log(&db, &files, &log, &meta, &segments, head)?;
                        upgrade_cold(UpgradeStop::Done, dir, &db, &files, &cold_tree, &meta)?;
                    }
                    // no log here: only the cold runs to move
                    Some(_) => upgrade_cold(UpgradeStop::Done, dir, &db, &files, &cold_tree, &meta)?,
                },
                [other] => return Err(StoreError::UnsupportedVersion(*other)),
                _ => return Err(StoreError::Corrupt { seq: 0, reason: "meta format_version is not one byte".into() }),
            },
            None => {
                if !log.is_empty() || !segments.is_empty() {
                    return Err(StoreError::Corrupt {
                        seq: 0,
                        reason: "log has frames but no meta format_version".into(),
                    });
                }
                let mut batch = sled::Batch::default();
                if external.is_none() {
                    batch.insert(META_LOG_HEAD, &log_head_bytes(Head::GENESIS, Position::default())[..]);
                }
                batch.insert(META_FORMAT_VERSION, &[STORE_FORMAT_VERSION]);
                meta.apply_batch(batch).map_err(sled_err)?;
                files.flush(&db)?;
            }
        }
        let cold = Arc::new(ColdRuns::open(cold_tree, dir)?);

        let (head, end) = match &external {
            Some(l) => (l.head(), Position::default()),
            None => {
                let (head, end) = parse_log_head(&recorded_log_head(&meta)?)?;
                // bytes past the head are a group never acknowledged
                segments.truncate_to(end, head.seq)?;
                check_log_end(&segments, head, end)?;
                (head, end)
            }
        };
        let appender = segments.appender(end)?;
        let published = Arc::new(Published {
            head: Mutex::new(head),
            changed: Condvar::new(),
            broken: std::sync::atomic::AtomicBool::new(false),
            hold: Mutex::new(FlushHoldState::default()),
            held: Condvar::new(),
        });
        Ok(Store {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                external,
                db,
                files,
                segments,
                durable: Mutex::new(head),
                meta,
                checkpoints,
                snapshots,
                cold,
                writer: Mutex::new(Writer { head, end, appender, closed: false, ahead: record::Ahead::default() }),
                published,
                reopen: ReopenOnDrop { dir: dir.to_path_buf(), armed: std::sync::atomic::AtomicBool::new(false) },
            }),
        })
    }

    /// Asks for sled's recovery scan to be paid when the last handle of this
    /// store drops (see `ReopenOnDrop`), so the next open is quick. Every
    /// other handle of the store's sled database must be gone by then
    /// (the engine drops its cold link first).
    pub fn reopen_on_close(&self) {
        self.inner.reopen.armed.store(true, std::sync::atomic::Ordering::Release);
    }

    /// The durable head: the last acknowledged record. Never waits for an
    /// append in progress.
    pub fn head(&self) -> Head {
        *lock(&self.inner.published.head)
    }

    /// Appends `batch` atomically after `expected`, then flushes to disk
    /// before returning the new head. All or nothing: on any error nothing
    /// is acknowledged, and on [`StoreError::HeadMismatch`] or
    /// [`StoreError::TooLarge`] nothing is written. An empty batch writes
    /// nothing and returns the head.
    pub fn append(&self, expected: Head, batch: &[NewRecord<'_>]) -> Result<Head, StoreError> {
        if batch.len() > BATCH_RECORDS_MAX {
            return Err(StoreError::TooLarge { what: "batch records", limit: BATCH_RECORDS_MAX as u64 });
        }
        let mut bytes = 0usize;
        for r in batch {
            if r.payload.len() > record::PAYLOAD_BYTES_MAX {
                return Err(StoreError::TooLarge { what: "payload bytes", limit: record::PAYLOAD_BYTES_MAX as u64 });
            }
            bytes = bytes.saturating_add(record::record_len(r.payload.len()));
        }
        if bytes > BATCH_BYTES_MAX {
            return Err(StoreError::TooLarge { what: "batch bytes", limit: BATCH_BYTES_MAX as u64 });
        }

        let mut builder = record::FrameBuilder::with_fill(expected, self.frame_fill());
        for r in batch {
            builder.push(r.time_micros, r.payload)?;
        }
        self.append_encoded(builder.finish())
    }

    /// Where a batch for this store's log closes its frames: the backend's
    /// fill ([`Log::frame_fill`]) for a store opened on another log, the
    /// default (`FRAME_FILL_BYTES`, below sled's inline-value size) for
    /// its own sled log.
    pub fn frame_fill(&self) -> record::FrameFill {
        self.inner.external.as_ref().map_or(record::FrameFill::DEFAULT, |log| log.frame_fill())
    }

    /// Appends a batch encoded with a [`record::FrameBuilder`] (possibly on
    /// another thread, while its records were being decided), exactly like
    /// [`Store::append`]: atomically after `batch.base()`, flushed before
    /// returning the new head; [`StoreError::HeadMismatch`] (nothing
    /// written) if the log is no longer at that base.
    pub fn append_encoded(&self, batch: record::EncodedBatch) -> Result<Head, StoreError> {
        let written = self.write_encoded(batch)?;
        self.flush_written(written)
    }

    /// The first half of [`Store::append_encoded`]: writes the batch after
    /// `batch.base()` (the next batch may be written after it at once) but
    /// neither flushes nor publishes it: nothing of it is readable or
    /// acknowledged until [`Store::flush_written`] returns. A batch written
    /// is flushed whatever happens to the caller's answer (a written batch
    /// that is never flushed may still become durable: a later batch's
    /// flush records the head written by then; it is then a batch that was
    /// not acknowledged, as after a crash).
    /// An external log ([`Store::open_on`]) appends durably here.
    pub fn write_encoded(&self, batch: record::EncodedBatch) -> Result<Written, StoreError> {
        let records = batch.head.seq.saturating_sub(batch.base.seq);
        if records > BATCH_RECORDS_MAX as u64 {
            return Err(StoreError::TooLarge { what: "batch records", limit: BATCH_RECORDS_MAX as u64 });
        }
        let frames = batch.frames.len().saturating_add(batch.ahead.frames);
        if batch.bytes().saturating_sub(frames.saturating_mul(record::FRAME_HEADER_BYTES)) > BATCH_BYTES_MAX {
            return Err(StoreError::TooLarge { what: "batch bytes", limit: BATCH_BYTES_MAX as u64 });
        }
        let mut writer = lock(&self.inner.writer);
        if writer.closed {
            return Err(StoreError::Closed);
        }
        if writer.head != batch.base {
            return Err(StoreError::HeadMismatch { expected: batch.base, actual: writer.head });
        }
        if std::mem::take(&mut writer.ahead) != batch.ahead {
            // frames past the head that are not this batch's: only a
            // reopen removes them (never an append after them)
            writer.closed = true;
            return Err(StoreError::Closed);
        }
        if batch.head == batch.base {
            // nothing to flush; acknowledged once the batches before it are
            return Ok(Written { base: writer.head, head: writer.head, done: false });
        }
        if let Some(log) = &self.inner.external {
            let head = match log.append_encoded(batch) {
                Ok(head) => head,
                Err(e) => {
                    // an unsettled or fenced append leaves this writer's head
                    // unknown: no more appends until reopened (reloaded)
                    if !matches!(e, StoreError::HeadMismatch { .. } | StoreError::TooLarge { .. }) {
                        writer.closed = true;
                    }
                    return Err(e);
                }
            };
            writer.head = head;
            *lock(&self.inner.published.head) = head;
            self.inner.published.changed.notify_all();
            return Ok(Written { base: head, head, done: true });
        }

        if let Err(e) = self.check_disk(batch.bytes()) {
            // the frames written ahead stay past the head
            writer.closed |= batch.ahead.frames > 0;
            return Err(e);
        }

        // the batch's frames after those written ahead of it: the log's
        // head moves past them only when `flush_log` records it
        let frames = batch.frames.iter().map(|(k, f)| (*k, f.as_slice()));
        let Writer { appender, closed, .. } = &mut *writer;
        if let Err(e) = appender.append(&self.inner.segments, frames) {
            // part of the batch may be written past the head
            *closed = true;
            return Err(e);
        }
        writer.head = batch.head;
        writer.end = writer.appender.position();
        Ok(Written { base: batch.base, head: batch.head, done: false })
    }

    /// True when frames of a batch may be written ahead of it
    /// ([`Store::write_ahead`]): this directory's own sled log. A store on
    /// another log ([`Store::open_on`]) appends each batch whole.
    pub fn writes_ahead(&self) -> bool {
        self.inner.external.is_none()
    }

    /// Writes frames of the batch that will continue the log after `base`
    /// ahead of it, in order, while the rest of the batch is still being
    /// decided and encoded ([`record::FrameBuilder::take_ahead`]): appended
    /// to the segment files past the log's recorded end. They are not part
    /// of the log until the batch is written ([`Store::write_encoded`],
    /// which checks that they are its frames, [`record::EncodedBatch::ahead`])
    /// and flushed ([`Store::flush_written`], which records the new end):
    /// nothing reads past the head, and after a crash (or a batch never
    /// written) the next open cuts them off, so a crash still leaves whole
    /// batches or nothing of one (`docs/format.md`, "Frames written
    /// ahead"). A failed write stops the store ([`StoreError::Closed`] for
    /// every later write), as does a batch written after `base` that is
    /// not theirs.
    pub fn write_ahead(&self, base: Head, frames: Vec<(u64, Vec<u8>)>) -> Result<(), StoreError> {
        if frames.is_empty() {
            return Ok(());
        }
        let mut writer = lock(&self.inner.writer);
        if writer.closed {
            return Err(StoreError::Closed);
        }
        if writer.head != base || self.inner.external.is_some() {
            return Err(StoreError::HeadMismatch { expected: base, actual: writer.head });
        }
        let bytes: usize = frames.iter().map(|(_, f)| f.len()).sum();
        let ahead = record::Ahead {
            frames: writer.ahead.frames.saturating_add(frames.len()),
            bytes: writer.ahead.bytes.saturating_add(bytes),
        };
        if ahead.bytes.saturating_sub(ahead.frames.saturating_mul(record::FRAME_HEADER_BYTES)) > BATCH_BYTES_MAX {
            writer.closed = true;
            return Err(StoreError::TooLarge { what: "batch bytes", limit: BATCH_BYTES_MAX as u64 });
        }
        self.check_disk(bytes)?;
        // recorded first: whatever happens now, these frames are past the
        // head until their batch is written
        writer.ahead = ahead;
        let Writer { appender, closed, .. } = &mut *writer;
        if let Err(e) = appender.append(&self.inner.segments, frames.iter().map(|(k, f)| (*k, f.as_slice()))) {
            *closed = true;
            return Err(e);
        }
        // their writeback starts now, while the batch is still decided:
        // its flush then finds little left to write (`segments.rs`)
        self.inner.segments.sync_early(appender);
        Ok(())
    }

    /// Refuses a write of `bytes` when the disk is nearly full (a file
    /// system that cannot report its free space is not checked).
    fn check_disk(&self, bytes: usize) -> Result<(), StoreError> {
        let needed = (bytes as u64).saturating_mul(4).saturating_add(DISK_RESERVE_BYTES);
        if let Ok(available) = fs2::available_space(&self.inner.dir) {
            if available < needed {
                return Err(StoreError::DiskFull { available, needed });
            }
        }
        Ok(())
    }

    /// The second half of [`Store::append_encoded`]: flushes the log
    /// (every batch written so far) and publishes `written`'s head once
    /// every batch written before it is published, in order; only then is
    /// it acknowledged. A failed flush stops the store ([`StoreError::Closed`]
    /// for every later write) and fails every batch not yet published,
    /// this one's and those written after it alike.
    pub fn flush_written(&self, written: Written) -> Result<Head, StoreError> {
        let published = &self.inner.published;
        if written.done {
            return Ok(written.head);
        }
        if written.head != written.base {
            if let Err(e) = published.pause().and_then(|()| self.flush_log(written.head)) {
                // maybe not durable: never acknowledged, and no later batch either
                lock(&self.inner.writer).closed = true;
                let _head = lock(&published.head);
                published.broken.store(true, std::sync::atomic::Ordering::Release);
                published.changed.notify_all();
                return Err(e);
            }
        }
        let mut head = lock(&published.head);
        loop {
            if published.broken.load(std::sync::atomic::Ordering::Acquire) {
                return Err(StoreError::Closed);
            }
            if *head == written.base {
                *head = written.head;
                published.changed.notify_all();
                return Ok(written.head);
            }
            if head.seq >= written.head.seq {
                // an empty batch behind a batch that was already published
                return Ok(written.head);
            }
            head = wait(&published.changed, head);
        }
    }

    /// Makes the log durable through `head` (a written head): syncs every
    /// segment file written since the last flush of the log (and their
    /// directory when it gained a file), then records the head written by
    /// then and where it ends in `meta/log_head`, and flushes sled
    /// ([`Inner::flush`]). One flush of the log at a time: one that finds
    /// `head` durable already (a later group's write was covered by an
    /// earlier flush) returns at once.
    fn flush_log(&self, head: Head) -> Result<(), StoreError> {
        let mut durable = lock(&self.inner.durable);
        if durable.seq >= head.seq {
            return Ok(());
        }
        let (written, end, unsynced) = {
            let mut writer = lock(&self.inner.writer);
            (writer.head, writer.end, writer.appender.take_unsynced())
        };
        self.inner.segments.sync(unsynced)?;
        self.inner.meta.insert(META_LOG_HEAD, &log_head_bytes(written, end)[..]).map_err(sled_err)?;
        self.inner.flush()?;
        *durable = written;
        Ok(())
    }

    /// Waits until the published (durable) head reaches `seq`: the batches
    /// written up to it are flushed. [`StoreError::Closed`] if a flush
    /// failed before.
    pub fn wait_published(&self, seq: u64) -> Result<Head, StoreError> {
        let published = &self.inner.published;
        let mut head = lock(&published.head);
        loop {
            if head.seq >= seq {
                return Ok(*head);
            }
            if published.broken.load(std::sync::atomic::Ordering::Acquire) {
                return Err(StoreError::Closed);
            }
            head = wait(&published.changed, head);
        }
    }

    /// Test hook: the names of sled's blob files the last flush knew synced
    /// ([`SledFiles::flush`]).
    #[doc(hidden)]
    pub fn debug_synced_blobs(&self) -> Vec<String> {
        self.inner.files.synced_blobs()
    }

    /// Test hook: how many early syncs of frames written ahead of their
    /// batch have run ([`Store::write_ahead`]).
    #[doc(hidden)]
    pub fn debug_early_syncs(&self) -> u64 {
        self.inner.segments.early_syncs()
    }

    /// Test hook: the next early sync of frames written ahead fails with
    /// `reason` (an I/O error of their writeback) instead of syncing.
    #[doc(hidden)]
    pub fn debug_fail_next_early_sync(&self, reason: &str) {
        self.inner.segments.fail_next_early_sync(reason);
    }

    /// Test hook: the next flush of the log waits until the returned hold
    /// is dropped (or fails, [`FlushHold::fail`]).
    pub fn debug_hold_flush(&self) -> FlushHold {
        lock(&self.inner.published.hold).armed = true;
        FlushHold { published: Arc::clone(&self.inner.published) }
    }

    /// The head of the last batch written ([`Store::write_encoded`]),
    /// flushed or not: where the next batch goes. Not durable; readers use
    /// [`Store::head`].
    pub fn written_head(&self) -> Head {
        lock(&self.inner.writer).head
    }

    /// Every record with `seq >= from` (from 1 when `from` is 0), in order,
    /// up to the head at the time of this call. Each record is
    /// checksum-checked, sequence numbers are asserted contiguous and frames
    /// chained; the first problem is yielded as an error and ends the
    /// iteration.
    pub fn read_from(&self, from: u64) -> ReadIter {
        let from = from.max(1);
        let end_seq = self.head().seq;
        let mut it = ReadIter {
            frames: None,
            pending: Vec::new(),
            pending_at: 0,
            next_seq: from,
            end_seq,
            link: None,
            error: None,
            external: None,
        };
        if from > end_seq {
            return it;
        }
        if let Some(log) = &self.inner.external {
            it.external = Some(log.read_from(from));
            return it;
        }
        match FrameReader::at(Arc::clone(&self.inner.segments), from) {
            Ok(frames) => it.frames = Some(frames),
            Err(e) => it.error = Some(e),
        }
        it
    }

    /// The stored frames, `(first seq, bytes)` in log order, from the first
    /// one up to the one ending at `last_seq` (a durable head): raw, for a
    /// reader that checks them itself (a backup writes them unchanged). A
    /// frame that runs past `last_seq` ends the iteration with
    /// [`StoreError::Corrupt`].
    pub fn frames_through(&self, last_seq: u64) -> impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + '_ {
        // a store on another log has no frames of its own
        let mut frames = (self.inner.external.is_none() && last_seq > 0)
            .then(|| FrameReader::at(Arc::clone(&self.inner.segments), 1));
        let mut next = 1u64;
        std::iter::from_fn(move || {
            let frame = match frames.as_mut()? {
                Ok(reader) => reader.next_frame(next).and_then(|f| {
                    let Some(f) = f else { return Ok(None) };
                    let header = frame_header(next, f)?;
                    if header.last_seq() > last_seq {
                        return Err(StoreError::Corrupt {
                            seq: header.first_seq,
                            reason: format!("frame runs past seq {last_seq}, which ends a batch"),
                        });
                    }
                    next = next.max(header.last_seq().saturating_add(1));
                    Ok(Some((header.first_seq, f.to_vec())))
                }),
                Err(e) => Err(e.clone()),
            };
            // the frame ending at `last_seq` is the last: past it, a group
            // may be half written
            if !matches!(frame, Ok(Some(_))) || next > last_seq {
                frames = None;
            }
            frame.transpose()
        })
    }

    /// A live feed of the head, woken on every append.
    pub fn subscribe(&self) -> Subscription {
        Subscription { published: Arc::clone(&self.inner.published) }
    }

    /// Recomputes every checksum and the whole hash chain from genesis up to
    /// the current head and compares the result with the head. On failure
    /// returns [`StoreError::Corrupt`] naming the first bad seq.
    ///
    /// A changed byte is named exactly by its record's crc. A missing,
    /// reordered or duplicated frame is named by the first seq that is not
    /// where it should be. The head is read from `meta/log_head` at open
    /// (store formats 5 and 6), which fails when the log does not end there, so
    /// cutting whole frames off the end is caught; a cut that also rewrites
    /// `log_head` is only detectable against a head recorded elsewhere:
    /// compare the returned head.
    pub fn verify(&self) -> Result<Head, StoreError> {
        let head = self.head();
        if let Some(log) = &self.inner.external {
            let end = log.verify()?;
            if end != head {
                return Err(StoreError::Corrupt {
                    seq: head.seq.min(end.seq).saturating_add(1),
                    reason: format!(
                        "{} ends at seq {} where this host's head is seq {}",
                        log.describe(),
                        end.seq,
                        head.seq
                    ),
                });
            }
            return Ok(head);
        }
        let mut expected = 1u64;
        let mut hash = GENESIS_HASH;
        let mut frames = FrameReader::at(Arc::clone(&self.inner.segments), 1)?;
        // never past the head: a group may be half written there
        while expected <= head.seq {
            let Some(v) = frames.next_frame(expected)? else { break };
            let header = frame_header(expected, v)?;
            let key = header.first_seq;
            if key > expected {
                return Err(StoreError::Corrupt {
                    seq: expected,
                    reason: format!("missing records: the next frame starts at seq {key}"),
                });
            }
            if key < expected {
                return Err(StoreError::Corrupt {
                    seq: key,
                    reason: format!("frame overlaps the previous one (expected seq {expected})"),
                });
            }
            if header.prev_hash != hash {
                return Err(StoreError::Corrupt {
                    seq: key,
                    reason: "frame's previous hash does not match the chain".into(),
                });
            }
            (_, hash) = record::check_frame(key, v)?;
            expected = header.last_seq().saturating_add(1);
        }
        if expected <= head.seq {
            return Err(StoreError::Corrupt {
                seq: expected,
                reason: format!("missing records: the log ends before head seq {}", head.seq),
            });
        }
        if expected != head.seq.saturating_add(1) || hash != head.hash {
            return Err(StoreError::Corrupt { seq: head.seq, reason: "the chain does not end at the head".into() });
        }
        Ok(head)
    }

    /// Saves (replacing) a named checkpoint: a projection's state as of
    /// `seq`. Flushed before returning.
    pub fn save_checkpoint(&self, name: &str, seq: u64, state: &[u8]) -> Result<(), StoreError> {
        if name.len() > CHECKPOINT_NAME_BYTES_MAX {
            return Err(StoreError::TooLarge {
                what: "checkpoint name bytes",
                limit: CHECKPOINT_NAME_BYTES_MAX as u64,
            });
        }
        if state.len() > CHECKPOINT_STATE_BYTES_MAX {
            return Err(StoreError::TooLarge {
                what: "checkpoint state bytes",
                limit: CHECKPOINT_STATE_BYTES_MAX as u64,
            });
        }
        let mut value = Vec::with_capacity(CHECKPOINT_OVERHEAD_BYTES + state.len());
        value.push(FORMAT_VERSION);
        value.extend_from_slice(&seq.to_be_bytes());
        value.extend_from_slice(state);
        let crc = crc32fast::hash(&value);
        value.extend_from_slice(&crc.to_be_bytes());
        self.inner.checkpoints.insert(name.as_bytes(), value).map_err(sled_err)?;
        self.inner.flush()?;
        Ok(())
    }

    /// Loads a named checkpoint: `(seq, state)`, or `None` if never saved.
    pub fn load_checkpoint(&self, name: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some(v) = self.inner.checkpoints.get(name.as_bytes()).map_err(sled_err)? else {
            return Ok(None);
        };
        let corrupt = |reason: &str| StoreError::Corrupt { seq: 0, reason: format!("checkpoint {name:?}: {reason}") };
        let split = v
            .len()
            .checked_sub(4)
            .filter(|&n| n >= CHECKPOINT_OVERHEAD_BYTES - 4)
            .ok_or_else(|| corrupt("truncated"))?;
        let (covered, crc) = v.split_at(split);
        let crc: [u8; 4] = crc.try_into().map_err(|_| corrupt("truncated"))?;
        if crc32fast::hash(covered) != u32::from_be_bytes(crc) {
            return Err(corrupt("checksum mismatch"));
        }
        let (version, rest) = covered.split_first().ok_or_else(|| corrupt("truncated"))?;
        if *version != FORMAT_VERSION {
            return Err(StoreError::UnsupportedVersion(*version));
        }
        let (seq, state) = rest.split_at(8.min(rest.len()));
        let seq: [u8; 8] = seq.try_into().map_err(|_| corrupt("truncated"))?;
        Ok(Some((u64::from_be_bytes(seq), state.to_vec())))
    }

    /// Deletes every checkpoint (e.g. before a full rebuild). Flushed.
    pub fn delete_checkpoints(&self) -> Result<(), StoreError> {
        self.inner.checkpoints.clear().map_err(sled_err)?;
        self.inner.flush()?;
        Ok(())
    }

    /// Saves a snapshot of the engine state as of `at` (a durable head of
    /// this log: its seq and chain hash): the state in chunks of at most
    /// [`limits::SNAPSHOT_CHUNK_BYTES`], then a manifest naming seq, hash,
    /// length, chunk count and a crc32 of the state, with its own crc32. The
    /// manifest, and the deletion of the snapshots [`snapshots_kept`] does
    /// not keep, are one atomic sled batch,
    /// flushed before returning: chunks without a manifest (a crash midway)
    /// are never read and are removed by the next save. A snapshot is a
    /// cache: [`Store::load_snapshot`] checks it before it is used.
    pub fn save_snapshot(&self, at: Head, state: &[u8]) -> Result<(), StoreError> {
        self.save_snapshot_with(at, |out| std::io::Write::write_all(out, state).map_err(|e| e.to_string()))?
            .then_some(())
            .ok_or(StoreError::TooLarge {
                what: "snapshot state bytes",
                limit: limits::SNAPSHOT_STATE_BYTES_MAX as u64,
            })
    }

    /// Like [`Store::save_snapshot`], with the state streamed by `encode`
    /// into the chunks (never held whole in memory). If `encode` fails (e.g.
    /// the state is over its limit) its chunks are removed, no manifest is
    /// written and the answer is `Ok(false)`.
    pub fn save_snapshot_with(
        &self,
        at: Head,
        encode: impl FnOnce(&mut dyn std::io::Write) -> Result<(), String>,
    ) -> Result<bool, StoreError> {
        if at.seq == 0 || at.seq > self.head().seq {
            return Err(StoreError::Corrupt { seq: at.seq, reason: "a snapshot must name a durable seq".into() });
        }
        let tree = &self.inner.snapshots;
        self.remove_snapshot_keys(at.seq)?;
        let mut chunks = ChunkWriter {
            tree,
            seq: at.seq,
            buf: Vec::with_capacity(limits::SNAPSHOT_CHUNK_BYTES),
            count: 0,
            len: 0,
            crc: crc32fast::Hasher::new(),
            error: None,
        };
        let encoded = encode(&mut chunks);
        let flushed = chunks.flush_chunk();
        if let Some(e) = chunks.error.take() {
            return Err(e);
        }
        if encoded.is_err() || flushed.is_err() || chunks.len > limits::SNAPSHOT_STATE_BYTES_MAX as u64 {
            self.remove_snapshot_keys(at.seq)?;
            return Ok(false);
        }
        let mut manifest = Vec::with_capacity(SNAPSHOT_MANIFEST_BYTES);
        manifest.push(SNAPSHOT_VERSION);
        manifest.extend_from_slice(&at.seq.to_be_bytes());
        manifest.extend_from_slice(&at.hash);
        manifest.extend_from_slice(&chunks.len.to_be_bytes());
        manifest.extend_from_slice(&chunks.count.to_be_bytes());
        manifest.extend_from_slice(&chunks.crc.clone().finalize().to_be_bytes());
        let crc = crc32fast::hash(&manifest);
        manifest.extend_from_slice(&crc.to_be_bytes());
        let mut batch = sled::Batch::default();
        batch.insert(&at.seq.to_be_bytes(), manifest);
        // keep what `snapshots_kept` says (this one included); drop the
        // others and every chunk that belongs to no kept manifest
        let kept = snapshots_kept(at.seq, self.snapshot_seqs()?);
        for k in tree.iter().keys() {
            let k = k.map_err(sled_err)?;
            let seq = k.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes);
            if !seq.is_some_and(|s| kept.contains(&s)) {
                batch.remove(k);
            }
        }
        tree.apply_batch(batch).map_err(sled_err)?;
        self.inner.flush()?;
        Ok(true)
    }

    /// The seq and chain hash the cold entries are exactly at (`None`: no
    /// cold entries were ever written).
    pub fn cold_watermark(&self) -> Result<Option<Head>, StoreError> {
        self.inner.cold.watermark()
    }

    /// Writes the staged cold entries as one new run and moves the
    /// watermark to `at`, flushed before returning; the run replaces the
    /// one staged at `at` ([`Store::stage_cold`]), if any. It is written in
    /// parts, `between` running after each (`ColdRuns::write_run`); only
    /// the last write (meta, position, watermark: one atomic batch)
    /// completes it. `at` must be durable.
    pub(crate) fn write_cold<E: From<StoreError>>(
        &self,
        at: Head,
        entries: &crate::cold::StagedRun,
        between: impl FnMut() -> Result<(), E>,
    ) -> Result<(), E> {
        if at.seq > self.head().seq {
            return Err(
                StoreError::Corrupt { seq: at.seq, reason: "a cold watermark must name a durable seq".into() }.into()
            );
        }
        self.inner.cold.write_run(at, entries, between)?;
        self.inner.flush()?;
        Ok(())
    }

    /// Stages the cold entries of a flush at `at` in memory, seen by every
    /// live cold lookup and scan until [`Store::write_cold`] at `at` writes
    /// them (at most one staged flush; `ColdRuns::stage`). `at` must be durable.
    pub(crate) fn stage_cold(&self, at: Head, entries: crate::cold::StagedEntries) -> Result<(), StoreError> {
        if at.seq > self.head().seq {
            return Err(StoreError::Corrupt { seq: at.seq, reason: "a cold watermark must name a durable seq".into() });
        }
        self.inner.cold.stage(at.seq, entries)
    }

    /// Removes every cold entry and the watermark (before a replay from
    /// genesis rebuilds them), flushed.
    pub fn clear_cold(&self) -> Result<(), StoreError> {
        self.inner.cold.clear()?;
        self.inner.flush()?;
        // the metas are gone for good: only now their files (`ColdRuns::clear`)
        self.inner.cold.remove_files()
    }

    /// The cold entries, for a ledger to read through.
    pub fn cold(&self) -> Arc<ColdRuns> {
        self.inner.cold.clone()
    }

    /// Every cold entry (newest version of each key), in key order.
    pub fn cold_entries(&self) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> {
        let all = self.inner.cold.collect(&[]);
        let (ok, err) = match all {
            Ok(m) => (Some(m.into_iter().map(Ok)), None),
            Err(e) => (None, Some(Err(e))),
        };
        ok.into_iter().flatten().chain(err)
    }

    /// Test hook: the bytes of the cold run files (whole runs' or not) and
    /// how many run metas the cold tree holds.
    pub fn debug_cold_keys(&self) -> Result<(u64, usize), StoreError> {
        self.inner.cold.debug_keys()
    }

    /// Test hook: flips bits inside the cold entry at `key` (its newest run).
    pub fn debug_corrupt_cold(&self, key: &[u8], xor: u8) -> Result<(), StoreError> {
        self.inner.cold.debug_corrupt(key, xor)?;
        self.inner.flush()?;
        Ok(())
    }

    /// Removes the manifest and chunks of the snapshot at `seq` (not flushed).
    fn remove_snapshot_keys(&self, seq: u64) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for k in self.inner.snapshots.scan_prefix(seq.to_be_bytes()).keys() {
            batch.remove(k.map_err(sled_err)?);
        }
        self.inner.snapshots.apply_batch(batch).map_err(sled_err)
    }

    /// Bytes of the newest snapshot's state (0 when there is none).
    pub fn snapshot_bytes(&self) -> Result<u64, StoreError> {
        let Some(seq) = self.snapshot_seqs()?.first().copied() else { return Ok(0) };
        Ok(self.snapshot_manifest(seq).map(|m| m.len).unwrap_or(0))
    }

    /// The seqs of the stored snapshots (their manifests), newest first.
    pub fn snapshot_seqs(&self) -> Result<Vec<u64>, StoreError> {
        let mut seqs = Vec::new();
        for k in self.inner.snapshots.iter().keys().rev() {
            let k = k.map_err(sled_err)?;
            if k.len() == 8 {
                seqs.push(key_seq(&k, 0)?);
            }
        }
        Ok(seqs)
    }

    /// The manifest of the snapshot at `seq`, checked (crc, version, seq).
    fn snapshot_manifest(&self, seq: u64) -> Result<SnapshotManifest, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt { seq, reason: format!("snapshot at seq {seq}: {reason}") };
        let v =
            self.inner.snapshots.get(seq.to_be_bytes()).map_err(sled_err)?.ok_or_else(|| corrupt("missing".into()))?;
        let m: &[u8; SNAPSHOT_MANIFEST_BYTES] =
            v.as_ref().try_into().map_err(|_| corrupt(format!("a manifest of {} bytes", v.len())))?;
        let (covered, crc) = m.split_at(SNAPSHOT_MANIFEST_BYTES - 4);
        let be = |b: &[u8]| b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
        if crc32fast::hash(covered) as u64 != be(crc) {
            return Err(corrupt("manifest checksum mismatch".into()));
        }
        if m[0] != SNAPSHOT_VERSION {
            return Err(corrupt(format!("unknown version {}", m[0])));
        }
        if be(&m[1..9]) != seq {
            return Err(corrupt(format!("names seq {}", be(&m[1..9]))));
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&m[9..41]);
        Ok(SnapshotManifest { hash, len: be(&m[41..49]), chunks: be(&m[49..53]) as u32, crc: be(&m[53..57]) as u32 })
    }

    /// Loads the snapshot taken at `seq` and checks it: the manifest's crc32,
    /// version and seq, that its chain hash is the log's hash at `seq` (so
    /// it belongs to this log), that every chunk is there, and the state's
    /// length and crc32. Any failure is [`StoreError::Corrupt`] naming
    /// `seq`: the caller must not use it.
    pub fn load_snapshot(&self, seq: u64) -> Result<(Head, Vec<u8>), StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt { seq, reason: format!("snapshot at seq {seq}: {reason}") };
        let m = self.snapshot_manifest(seq)?;
        if seq == 0 || seq > self.head().seq {
            return Err(corrupt(format!("beyond the log's head {}", self.head().seq)));
        }
        match self.read_from(seq).next() {
            Some(Ok(r)) if r.hash == m.hash => {}
            Some(Ok(_)) => return Err(corrupt("its chain hash is not the log's".into())),
            Some(Err(e)) => return Err(e),
            None => return Err(corrupt("the log has no such seq".into())),
        }
        if m.len > limits::SNAPSHOT_STATE_BYTES_MAX as u64 {
            return Err(corrupt(format!("a state of {} bytes", m.len)));
        }
        let mut state = Vec::with_capacity(m.len as usize);
        for i in 0..m.chunks {
            let mut key = seq.to_be_bytes().to_vec();
            key.extend_from_slice(&i.to_be_bytes());
            let chunk = self
                .inner
                .snapshots
                .get(key)
                .map_err(sled_err)?
                .ok_or_else(|| corrupt(format!("chunk {i} missing")))?;
            if state.len() + chunk.len() > m.len as usize {
                return Err(corrupt("its chunks are longer than the state".into()));
            }
            state.extend_from_slice(&chunk);
        }
        if state.len() as u64 != m.len {
            return Err(corrupt(format!("{} state bytes where the manifest says {}", state.len(), m.len)));
        }
        if crc32fast::hash(&state) != m.crc {
            return Err(corrupt("state checksum mismatch".into()));
        }
        Ok((Head { seq, hash: m.hash }, state))
    }

    /// Deletes the snapshot at `seq` (one that failed its checks). Flushed.
    pub fn delete_snapshot(&self, seq: u64) -> Result<(), StoreError> {
        self.remove_snapshot_keys(seq)?;
        self.inner.flush()?;
        Ok(())
    }

    /// Test hook: XORs byte `byte_offset` of the snapshot at `seq` with
    /// `xor`, bypassing every check: offsets below 61 are in the manifest
    /// (0 = its version byte), the rest in the state bytes.
    #[doc(hidden)]
    pub fn debug_corrupt_snapshot(&self, seq: u64, byte_offset: usize, xor: u8) -> Result<(), StoreError> {
        let mut key = seq.to_be_bytes().to_vec();
        let mut offset = byte_offset;
        if offset >= SNAPSHOT_MANIFEST_BYTES {
            offset -= SNAPSHOT_MANIFEST_BYTES;
            key.extend_from_slice(&((offset / limits::SNAPSHOT_CHUNK_BYTES) as u32).to_be_bytes());
            offset %= limits::SNAPSHOT_CHUNK_BYTES;
        }
        let v = self
            .inner
            .snapshots
            .get(&key)
            .map_err(sled_err)?
            .ok_or(StoreError::Corrupt { seq, reason: "no such snapshot byte".into() })?;
        let mut bytes = v.to_vec();
        let b = bytes.get_mut(offset).ok_or(StoreError::TooLarge { what: "byte offset", limit: v.len() as u64 })?;
        *b ^= xor;
        self.inner.snapshots.insert(key, bytes).map_err(sled_err)?;
        self.inner.flush()?;
        Ok(())
    }

    /// Which backend keeps the log: `sled DIR`, or the external log's own
    /// description ([`Store::open_on`]).
    pub fn log_description(&self) -> String {
        match &self.inner.external {
            Some(log) => log.describe(),
            None => format!("sled {}", self.inner.dir.display()),
        }
    }

    /// True when the log is kept by another backend ([`Store::open_on`]).
    pub fn is_external(&self) -> bool {
        self.inner.external.is_some()
    }

    /// Bytes the store occupies on disk: sled's, as it reports them, the
    /// segment files' and the cold run files'.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        let sled = self.inner.db.size_on_disk().map_err(sled_err)?;
        Ok(sled.saturating_add(self.inner.segments.bytes()?).saturating_add(self.inner.cold.file_bytes()?))
    }

    /// Test hook: XORs byte `byte_offset` of record `seq`'s encoded bytes
    /// (0 = its version byte) with `xor`, in place, bypassing every check.
    /// Applying the same call twice restores the record.
    #[doc(hidden)]
    pub fn debug_corrupt_record(&self, seq: u64, byte_offset: usize, xor: u8) -> Result<(), StoreError> {
        let _writer = lock(&self.inner.writer);
        let (segment, at, frame) = self.inner.segments.frame_at(seq)?;
        let span = record::record_span(&frame, seq);
        let (offset, len) = span.ok_or(StoreError::Corrupt { seq, reason: "no such record".into() })?;
        if byte_offset >= len {
            return Err(StoreError::TooLarge { what: "byte offset", limit: len as u64 });
        }
        let in_frame = offset.saturating_add(byte_offset) as u64;
        self.inner.segments.xor_byte(segment, at.saturating_add(segments::LENGTH_BYTES).saturating_add(in_frame), xor)
    }

    /// Test hook: deletes the whole frame holding `seq` and returns the
    /// first and last seq it held (the frames after it in its segment move
    /// up; the head's recorded end moves with them). Call it between
    /// appends, every batch flushed.
    #[doc(hidden)]
    pub fn debug_delete_frame(&self, seq: u64) -> Result<(u64, u64), StoreError> {
        let durable = lock(&self.inner.durable);
        let mut writer = lock(&self.inner.writer);
        let (segment, at, frame) = self.inner.segments.frame_at(seq)?;
        let header = frame_header(seq, &frame)?;
        let len = segments::LENGTH_BYTES.saturating_add(frame.len() as u64);
        self.inner.segments.cut(segment, at, len)?;
        if writer.end.segment == segment {
            writer.end.end = writer.end.end.saturating_sub(len);
            writer.appender = self.inner.segments.appender(writer.end)?;
            self.inner.meta.insert(META_LOG_HEAD, &log_head_bytes(*durable, writer.end)[..]).map_err(sled_err)?;
            self.inner.flush()?;
        }
        Ok((header.first_seq, header.last_seq()))
    }

    /// Test hook: the first seq of every frame up to the written head, in
    /// log order.
    #[doc(hidden)]
    pub fn debug_frame_keys(&self) -> Result<Vec<u64>, StoreError> {
        let writer = lock(&self.inner.writer);
        let mut frames = FrameReader::at(Arc::clone(&self.inner.segments), 1)?;
        let mut keys = Vec::new();
        let mut next = 1u64;
        while next <= writer.head.seq {
            let Some(frame) = frames.next_frame(next)? else { break };
            let header = frame_header(next, frame)?;
            keys.push(header.first_seq);
            next = next.max(header.last_seq().saturating_add(1));
        }
        Ok(keys)
    }

    /// Test hook: the segment files the last flush of the log synced, as
    /// `(first seq, length then)` ([`Store::flush_written`]).
    #[doc(hidden)]
    pub fn debug_synced_segments(&self) -> Vec<(u64, u64)> {
        self.inner.segments.synced()
    }

    /// Test hook: overwrites the meta format version byte. A version of 6
    /// or below first moves the cold runs' blocks back into sled's `cold`
    /// tree, and one of 5 or below the log into sled's `log` tree, as
    /// those formats kept them (with a format-5 `log_head` for 5, none
    /// below): a store of that format, for the upgrade's tests. The handle
    /// accepts no more appends nor cold reads; reopen it.
    #[doc(hidden)]
    pub fn debug_set_format_version(&self, version: u8) -> Result<(), StoreError> {
        let durable = lock(&self.inner.durable);
        let mut writer = lock(&self.inner.writer);
        if version < STORE_FORMAT_VERSION {
            writer.closed = true;
            self.inner.cold.debug_blocks_into_tree()?;
            self.inner.flush()?;
        }
        if version < FORMAT_VERSION_6 && self.inner.external.is_none() {
            writer.closed = true;
            let log = self.inner.db.open_tree(TREE_LOG).map_err(sled_err)?;
            let head = *durable;
            let mut next = 1u64;
            let mut frames = FrameReader::at(Arc::clone(&self.inner.segments), 1)?;
            while next <= head.seq {
                let Some(frame) = frames.next_frame(next)? else { break };
                let header = frame_header(next, frame)?;
                next = header.last_seq().saturating_add(1);
                log.insert(header.first_seq.to_be_bytes(), frame).map_err(sled_err)?;
            }
            if version == FORMAT_VERSION_5 {
                let mut v5 = Vec::with_capacity(LOG_HEAD_V5_BYTES);
                v5.extend_from_slice(&head.seq.to_be_bytes());
                v5.extend_from_slice(&head.hash);
                self.inner.meta.insert(META_LOG_HEAD, v5).map_err(sled_err)?;
            } else {
                self.inner.meta.remove(META_LOG_HEAD).map_err(sled_err)?;
            }
            self.inner.flush()?;
            self.inner.segments.remove_all()?;
        }
        self.inner.meta.insert(META_FORMAT_VERSION, &[version]).map_err(sled_err)?;
        self.inner.flush()?;
        Ok(())
    }
}

impl Subscription {
    /// The durable head now.
    pub fn head(&self) -> Head {
        *lock(&self.published.head)
    }

    /// Waits until the head's seq is greater than `seq` or `timeout` passes,
    /// and returns the head at that moment (check its seq to tell which).
    pub fn wait_beyond(&self, seq: u64, timeout: Duration) -> Head {
        *wait_while_for(&self.published.changed, lock(&self.published.head), timeout, |head| head.seq <= seq)
    }
}

/// A record read by [`ReadIter::next_with`], its payload borrowed from the
/// frame it was read in (not copied).
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    /// Sequence number, contiguous from 1.
    pub seq: u64,
    /// Time given at append.
    pub time_micros: i64,
    /// This record's chain hash.
    pub hash: Hash,
    /// The payload bytes as appended.
    pub payload: &'a [u8],
}

/// A record of the frame a [`ReadIter`] walked last: its payload is
/// `payload` of that frame's bytes.
#[derive(Clone, Debug)]
struct PendingRecord {
    seq: u64,
    time_micros: i64,
    hash: Hash,
    payload: std::ops::Range<usize>,
}

impl Iterator for ReadIter {
    type Item = Result<StoredRecord, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with(|r| StoredRecord {
            seq: r.seq,
            time_micros: r.time_micros,
            hash: r.hash,
            payload: r.payload.to_vec(),
        })
    }
}

impl ReadIter {
    /// The next record, given to `f` with its payload borrowed where it
    /// was read (a replay decodes it there: no copy of it, no allocation
    /// a record); what [`Iterator::next`] answers, built by `f`.
    #[inline]
    pub fn next_with<T>(&mut self, f: impl FnOnce(RecordRef<'_>) -> T) -> Option<Result<T, StoreError>> {
        if self.external.is_some() {
            return self.next_external().map(|item| {
                item.map(|r| f(RecordRef { seq: r.seq, time_micros: r.time_micros, hash: r.hash, payload: &r.payload }))
            });
        }
        loop {
            if self.next_seq > self.end_seq {
                return None;
            }
            if let Some(r) = self.pending.get(self.pending_at) {
                self.pending_at += 1;
                if r.seq != self.next_seq {
                    let seq = self.next_seq;
                    let reason = format!("read seq {} where {seq} was expected", r.seq);
                    return self.fail(StoreError::Corrupt { seq, reason });
                }
                self.next_seq = self.next_seq.saturating_add(1);
                let Some(payload) = self.frames.as_ref().and_then(|f| f.lent_frame().get(r.payload.clone())) else {
                    let seq = r.seq;
                    return self.fail(StoreError::Corrupt { seq, reason: "a record's payload left its frame".into() });
                };
                return Some(Ok(f(RecordRef { seq: r.seq, time_micros: r.time_micros, hash: r.hash, payload })));
            }
            if let Some(e) = self.error.take() {
                return self.fail(e);
            }
            let frames = self.frames.as_mut()?;
            self.pending.clear();
            self.pending_at = 0;
            let walked = match next_records(frames, self.next_seq, self.end_seq, self.link, &mut self.pending) {
                Ok(walked) => walked,
                Err(e) => return self.fail(e),
            };
            match walked {
                Ok(last) => self.link = Some(last),
                // the records before the bad one are read first (their
                // payloads stay in the frame the reader lent)
                Err(e) => self.error = Some(e),
            }
        }
    }

    /// The next record of the external log's read ([`Store::open_on`]),
    /// up to the head when the read started.
    fn next_external(&mut self) -> Option<Result<StoredRecord, StoreError>> {
        let ext = self.external.as_mut()?;
        // up to the head when the read started, as for the sled log
        let Some(item) = ext.next() else {
            self.external = None;
            // a read that ends before that head (a replica not yet
            // current answered where the stream ends) must not pass
            // for the whole log: a replay that stopped there would
            // leave the state behind the head it appends after
            return (self.next_seq <= self.end_seq).then(|| {
                Err(StoreError::Unavailable(format!(
                    "the log's read ended before seq {} (the head when it started is {}): retry once the stream's replicas are current",
                    self.next_seq, self.end_seq
                )))
            });
        };
        if let Ok(r) = &item {
            if r.seq > self.end_seq {
                self.external = None;
                return None;
            }
            if r.seq != self.next_seq {
                let seq = self.next_seq;
                self.external = None;
                return Some(Err(StoreError::Corrupt {
                    seq,
                    reason: format!("read seq {} where {seq} was expected", r.seq),
                }));
            }
            self.next_seq = self.next_seq.saturating_add(1);
        } else {
            self.external = None;
        }
        Some(item)
    }
}

/// The records of the next frame `frames` lends, from seq `from` on, into
/// `records` (each payload named by where it lies in the frame), for
/// [`ReadIter`] (`end_seq` and `link`, its head and the chain hash the
/// frame must follow, name errors and check the link): the records before
/// a bad one with the chain hash it ends at or the error, or an error
/// before any record (a missing or cut frame, a bad header or link).
fn next_records(
    frames: &mut FrameReader,
    from: u64,
    end_seq: u64,
    link: Option<Hash>,
    records: &mut Vec<PendingRecord>,
) -> Result<Result<Hash, StoreError>, StoreError> {
    let Some(v) = frames.next_frame(from)? else {
        return Err(StoreError::Corrupt {
            seq: from,
            reason: format!("missing records: the log ends before seq {end_seq}"),
        });
    };
    let header = frame_header(from, v)?;
    if header.first_seq > from {
        return Err(StoreError::Corrupt {
            seq: from,
            reason: format!("missing records: the next frame starts at seq {}", header.first_seq),
        });
    }
    if link.is_some_and(|link| link != header.prev_hash) {
        return Err(StoreError::Corrupt {
            seq: header.first_seq,
            reason: "frame's previous hash does not match the chain".into(),
        });
    }
    // Keep the good records before a bad one, then report it.
    let skipped = usize::try_from(from.saturating_sub(header.first_seq)).unwrap_or(usize::MAX);
    records.reserve((header.record_count as usize).saturating_sub(skipped));
    let walked = record::visit_frame_chained(header.first_seq, v, |r| {
        if r.seq >= from {
            records.push(PendingRecord {
                seq: r.seq,
                time_micros: r.time_micros,
                hash: r.hash,
                payload: r.payload_range(),
            });
        }
        Ok(())
    });
    Ok(walked.map(|(_, last)| last).map_err(StoreError::from))
}

impl ReadIter {
    fn fail<T>(&mut self, e: StoreError) -> Option<Result<T, StoreError>> {
        self.frames = None;
        self.end_seq = 0;
        Some(Err(e))
    }
}

/// Opens the sled database, retrying while its file lock is held. A handle
/// of the same directory that was just dropped in this process can hold the
/// lock for a moment while sled's background threads finish; another
/// process holding it for longer than [`OPEN_LOCK_WAIT_MS_MAX`] is an error.
fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
    let started = Instant::now();
    loop {
        // no background flusher: every flush of the store is an explicit
        // `SledFiles::flush` (a group's, a snapshot's, a cold run's), and
        // sled's own one every 500 ms (`sync_file_range` and an `fsync` of
        // `db`) only put another device flush in a group's way
        let config = sled::Config::new().path(dir).cache_capacity(limits::STORE_CACHE_BYTES).flush_every_ms(None);
        match config.open() {
            Ok(db) => return Ok(db),
            // sled 0.34 reports a held lock as ErrorKind::Other with this text.
            Err(sled::Error::Io(e))
                if (e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("could not acquire lock"))
                    && started.elapsed() < Duration::from_millis(OPEN_LOCK_WAIT_MS_MAX) =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(sled_err(e)),
        }
    }
}

/// The `log_head` value of `head`, whose last frame ends at `end`
/// ([`META_LOG_HEAD`]).
fn log_head_bytes(head: Head, end: Position) -> [u8; LOG_HEAD_BYTES] {
    let mut b = [0u8; LOG_HEAD_BYTES];
    let (seq, rest) = b.split_at_mut(8);
    let (hash, rest) = rest.split_at_mut(32);
    let (segment, offset) = rest.split_at_mut(8);
    seq.copy_from_slice(&head.seq.to_be_bytes());
    hash.copy_from_slice(&head.hash);
    segment.copy_from_slice(&end.segment.to_be_bytes());
    offset.copy_from_slice(&end.end.to_be_bytes());
    b
}

/// The `log_head` value in `meta` ([`META_LOG_HEAD`]); a store with a log
/// (format 5 on) always has one: `Corrupt` without it.
fn recorded_log_head(meta: &sled::Tree) -> Result<sled::IVec, StoreError> {
    meta.get(META_LOG_HEAD)
        .map_err(sled_err)?
        .ok_or_else(|| StoreError::Corrupt { seq: 0, reason: "meta has no log_head".into() })
}

/// Parses a `log_head` value ([`META_LOG_HEAD`]): the head and where it ends.
fn parse_log_head(v: &[u8]) -> Result<(Head, Position), StoreError> {
    let bad = || StoreError::Corrupt {
        seq: 0,
        reason: format!("meta log_head of {} bytes, expected {LOG_HEAD_BYTES}", v.len()),
    };
    let b: &[u8; LOG_HEAD_BYTES] = v.try_into().map_err(|_| bad())?;
    let (head, rest) = b.split_at(LOG_HEAD_V5_BYTES);
    let (segment, end) = rest.split_at(8);
    let end = Position { segment: key_seq(segment, 0)?, end: key_seq(end, 0)? };
    Ok((parse_log_head_v5(head)?, end))
}

/// Parses a format-5 `log_head` value: seq, chain hash.
fn parse_log_head_v5(v: &[u8]) -> Result<Head, StoreError> {
    let bad = || StoreError::Corrupt {
        seq: 0,
        reason: format!("meta log_head of {} bytes, expected {LOG_HEAD_V5_BYTES}", v.len()),
    };
    let b: &[u8; LOG_HEAD_V5_BYTES] = v.try_into().map_err(|_| bad())?;
    let (seq, hash) = b.split_at(8);
    Ok(Head { seq: key_seq(seq, 0)?, hash: hash.try_into().map_err(|_| bad())? })
}

/// The head a format 1–4 log's last frame ends at (its batches were
/// written whole: the head is its last frame's).
fn last_frame_head(log: &sled::Tree) -> Result<Head, StoreError> {
    match log.last().map_err(sled_err)? {
        None => Ok(Head::GENESIS),
        Some((k, v)) => {
            let key = key_seq(&k, 0)?;
            let (header, hash) = record::check_frame(key, &v)?;
            Ok(Head { seq: header.last_seq(), hash })
        }
    }
}

/// Upgrades a format 1–5 store's log, sled's `log` tree up to `head` (its
/// frames past it are a format-5 unfinished batch, never acknowledged), to
/// segment files: a copy first (whatever an earlier, interrupted copy
/// left is removed), synced; then one sled write sets format 6 and the
/// head with where it ends; the `log` tree is cleared only after that. A
/// crash before the switch leaves the old format, copied again at the next
/// open; after it, a format-6 store whose `log` tree the next open clears.
fn upgrade_log(
    db: &sled::Db,
    files: &SledFiles,
    log: &sled::Tree,
    meta: &sled::Tree,
    segments: &Segments,
    head: Head,
) -> Result<(), StoreError> {
    segments.remove_all()?;
    let mut appender = segments.appender(Position::default())?;
    for item in log.range(..=head.seq.to_be_bytes()) {
        let (k, frame) = item.map_err(sled_err)?;
        appender.append(segments, [(key_seq(&k, 0)?, frame.as_ref())])?;
    }
    segments.sync(appender.take_unsynced())?;
    let mut batch = sled::Batch::default();
    batch.insert(META_LOG_HEAD, &log_head_bytes(head, appender.position())[..]);
    batch.insert(META_FORMAT_VERSION, &[FORMAT_VERSION_6]);
    meta.apply_batch(batch).map_err(sled_err)?;
    files.flush(db)?;
    log.clear().map_err(sled_err)?;
    files.flush(db)
}

/// Where [`upgrade_cold`] stops.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UpgradeStop {
    /// The whole upgrade.
    Done,
    /// After the switch to format 7 (flushed), the copied blocks still in
    /// the tree.
    #[cfg_attr(not(test), allow(dead_code))]
    AfterSwitch,
}

/// Upgrades a format-6 store (the cold runs' blocks in the `cold` tree) to
/// format 7 (in run files, `cold.rs`): every run's blocks are copied into
/// its file, each synced, then the directory (whatever an interrupted copy
/// left is replaced); then one sled transaction writes every run's block
/// ends and sets format 7, flushed; only then are the blocks removed from
/// the tree. A crash before the switch leaves format 6 (copied again at the
/// next open); after it, a format-7 store whose leftover blocks the next
/// open removes. `stop`: where it stops (a test stops it where a crash
/// would).
fn upgrade_cold(
    stop: UpgradeStop,
    dir: &Path,
    db: &sled::Db,
    files: &SledFiles,
    cold: &sled::Tree,
    meta: &sled::Tree,
) -> Result<(), StoreError> {
    use sled::transaction::{ConflictableTransactionError, TransactionError};
    use sled::Transactional;
    let ends = crate::cold::copy_tree_blocks(cold, dir)?;
    let switched = (cold, meta).transaction(|(c, m)| {
        for (k, v) in &ends {
            c.insert(k.as_slice(), v.as_slice())?;
        }
        m.insert(META_FORMAT_VERSION, &[STORE_FORMAT_VERSION])?;
        Ok::<(), ConflictableTransactionError<StoreError>>(())
    });
    match switched {
        Ok(()) => {}
        Err(TransactionError::Abort(e)) => return Err(e),
        Err(TransactionError::Storage(e)) => return Err(sled_err(e)),
    }
    files.flush(db)?;
    if stop == UpgradeStop::AfterSwitch {
        return Ok(());
    }
    crate::cold::remove_tree_blocks(cold)?;
    files.flush(db)
}

/// Checks that the log's last frame, the one ending at `end`, ends at
/// `head` (its seq and chain hash; the frame checked whole).
fn check_log_end(segments: &Segments, head: Head, end: Position) -> Result<(), StoreError> {
    let found = match segments.last_frame(end, head.seq)? {
        None => Head::GENESIS,
        Some((_, frame)) => {
            let key = frame_header(head.seq, &frame)?.first_seq;
            let (header, hash) = record::check_frame(key, &frame)?;
            Head { seq: header.last_seq(), hash }
        }
    };
    if found == head {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        // the first seq not where the head says it is
        seq: match found.seq.cmp(&head.seq) {
            std::cmp::Ordering::Less => found.seq.saturating_add(1),
            std::cmp::Ordering::Equal => head.seq,
            std::cmp::Ordering::Greater => head.seq.saturating_add(1),
        },
        reason: format!(
            "the log ends at seq {} where its head (meta log_head) is seq {}{}",
            found.seq,
            head.seq,
            if found.seq == head.seq { " with another hash" } else { "" }
        ),
    })
}

/// The header of a frame read where seq `expected` is due, decoded under
/// the first seq it names; a header that fails its checks is named by
/// `expected` (its own first-seq field may be the damaged bytes).
fn frame_header(expected: u64, frame: &[u8]) -> Result<FrameHeader, StoreError> {
    let key = record::peek_first_seq(frame).unwrap_or(expected);
    record::decode_frame_header(key, frame).map_err(|e| match e {
        FrameError::Corrupt { reason, .. } => StoreError::Corrupt { seq: expected, reason },
        other => other.into(),
    })
}

/// Parses an 8-byte big-endian log key; `seq` names the error.
fn key_seq(k: &[u8], seq: u64) -> Result<u64, StoreError> {
    let b: [u8; 8] = k
        .try_into()
        .map_err(|_| StoreError::Corrupt { seq, reason: format!("log key of {} bytes, expected 8", k.len()) })?;
    Ok(u64::from_be_bytes(b))
}

/// A sled failure as a store error; sled finding its own files damaged or
/// cut short is damage (`Corrupt`, so `verify` reports it as such), not an
/// I/O failure.
/// The one home of this mapping (`cold.rs` uses it too).
pub(crate) fn sled_err(e: sled::Error) -> StoreError {
    match e {
        // a file that ends before what sled's own index points at was cut short
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            StoreError::Corrupt { seq: 0, reason: format!("the storage engine's files end early: {io}") }
        }
        sled::Error::Io(io) => StoreError::Io(io.to_string()),
        sled::Error::Corruption { .. } => {
            StoreError::Corrupt { seq: 0, reason: format!("the storage engine found its files damaged: {e}") }
        }
        other => StoreError::Sled(other.to_string()),
    }
}

const _: () = assert!(limits::SNAPSHOTS_KEPT >= 4, "the thinning keeps the oldest and the newest two");

/// The snapshots a store keeps once one at `new` is saved beside
/// `existing`: every one while there are at most
/// [`limits::SNAPSHOTS_KEPT`]; past that, one at a time, the snapshot whose
/// two neighbours are closest is dropped (never the oldest, nor the newest
/// two: the fallback when the newest fails its checks), so the kept ones
/// stay spread evenly over the log. They are the starting points of as-of
/// reads (`Engine::state_as_of`): one of those replays at most the events
/// between two kept snapshots (`docs/format.md`, "Snapshots").
pub fn snapshots_kept(new: u64, existing: Vec<u64>) -> Vec<u64> {
    let mut kept = existing;
    kept.push(new);
    kept.sort_unstable();
    kept.dedup();
    while kept.len() > limits::SNAPSHOTS_KEPT {
        // candidates: index 1 ..= len - 3 (the middle of each window of 3)
        let newest_two = kept.len().saturating_sub(2);
        let drop = kept
            .windows(3)
            .enumerate()
            .filter(|(i, _)| i + 1 < newest_two)
            .filter_map(|(i, w)| match w {
                [a, _, c] => Some((c - a, i + 1)),
                _ => None,
            })
            .min();
        match drop {
            Some((_, i)) => {
                kept.remove(i);
            }
            None => unreachable!("SNAPSHOTS_KEPT >= 4 leaves a candidate"),
        }
    }
    kept.reverse();
    kept
}

/// Locks a mutex, ignoring poisoning: the guarded values are plain `Copy`
/// data that a panicking holder cannot leave half-written.
/// A checked snapshot manifest.
struct SnapshotManifest {
    hash: Hash,
    len: u64,
    chunks: u32,
    crc: u32,
}

/// Streams a snapshot's state into sled values of exactly
/// `SNAPSHOT_CHUNK_BYTES` (the last one shorter), keyed seq + chunk index.
struct ChunkWriter<'a> {
    tree: &'a sled::Tree,
    seq: u64,
    buf: Vec<u8>,
    count: u32,
    len: u64,
    crc: crc32fast::Hasher,
    error: Option<StoreError>,
}

impl ChunkWriter<'_> {
    fn flush_chunk(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut key = self.seq.to_be_bytes().to_vec();
        key.extend_from_slice(&self.count.to_be_bytes());
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(limits::SNAPSHOT_CHUNK_BYTES));
        if let Err(e) = self.tree.insert(key, chunk) {
            let e = sled_err(e);
            self.error = Some(e.clone());
            return Err(std::io::Error::other(e.to_string()));
        }
        self.count += 1;
        Ok(())
    }
}

impl std::io::Write for ChunkWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let room = limits::SNAPSHOT_CHUNK_BYTES - self.buf.len();
        let n = bytes.len().min(room);
        let (now, _) = bytes.split_at(n);
        self.buf.extend_from_slice(now);
        self.crc.update(now);
        self.len += n as u64;
        if self.buf.len() >= limits::SNAPSHOT_CHUNK_BYTES {
            self.flush_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, OpenOptions};

    /// Cold flushes this often: the workload writes several runs.
    const FLUSH_EVERY: u64 = 300;

    fn open_engine(dir: &Path) -> Engine {
        Engine::open_with(dir, OpenOptions { cold_flush_events: FLUSH_EVERY }).unwrap()
    }

    /// Every cold entry of a store, in key order.
    type Entries = Vec<(Vec<u8>, Vec<u8>)>;

    /// A store whose engine wrote several cold runs; its cold entries and
    /// state digest.
    fn store_with_runs(dir: &Path) -> (Entries, String) {
        let engine = open_engine(dir);
        let config = cardledger_workload::WorkloadConfig {
            seed: 5,
            days: 30,
            holders: 20,
            credit_accounts: 2,
            ..cardledger_workload::WorkloadConfig::default()
        };
        crate::engine::submit_workload(&engine, &config, 100);
        let digest = engine.verify().unwrap().state_digest;
        // its clean close writes a last run
        drop(engine);
        (cold_entries(&Store::open(dir).unwrap()), digest)
    }

    fn cold_entries(store: &Store) -> Entries {
        store.cold_entries().collect::<Result<Vec<_>, _>>().unwrap()
    }

    /// The run files of the store at `dir`, by name.
    fn run_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("cold"))
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The format byte and the block keys (format 6's) of the store at `dir`.
    fn format_and_tree_blocks(dir: &Path) -> (u8, usize) {
        let db = open_db(dir).unwrap();
        let version = db.open_tree(TREE_META).unwrap().get(META_FORMAT_VERSION).unwrap().unwrap()[0];
        let blocks = db.open_tree(TREE_COLD).unwrap().scan_prefix(b"B").count();
        (version, blocks)
    }

    /// A format-6 store with cold runs (their blocks in the `cold` tree)
    /// opens upgraded to format 7 (blocks in run files, none in the tree)
    /// with the same cold entries and state, from every point a crash can
    /// stop the upgrade at: before it, inside its copy (a stray and a cut
    /// file left in the directory), after its switch (the copied blocks
    /// still in the tree).
    #[test]
    fn a_format_6_store_with_cold_runs_upgrades_from_every_crash_point() {
        for crash in ["none", "mid-copy", "after the switch"] {
            let dir = tempfile::tempdir().unwrap();
            let (entries, digest) = store_with_runs(dir.path());
            let files = run_files(dir.path());
            assert!(files.len() > 2, "several runs: {files:?}");
            Store::open(dir.path()).unwrap().debug_set_format_version(FORMAT_VERSION_6).unwrap();
            let (version, blocks) = format_and_tree_blocks(dir.path());
            assert_eq!(version, FORMAT_VERSION_6);
            assert!(blocks > files.len(), "format 6 keeps the blocks in the tree: {blocks}");
            assert!(run_files(dir.path()).is_empty(), "and no run file");
            match crash {
                "mid-copy" => {
                    std::fs::create_dir_all(dir.path().join("cold")).unwrap();
                    std::fs::write(dir.path().join("cold").join(&files[0]), b"half a block").unwrap();
                    std::fs::write(dir.path().join("cold/0000000999.run"), b"a run of no meta").unwrap();
                }
                "after the switch" => {
                    let db = open_db(dir.path()).unwrap();
                    let sled_files = SledFiles::open(dir.path(), std::time::SystemTime::now()).unwrap();
                    let cold = db.open_tree(TREE_COLD).unwrap();
                    let meta = db.open_tree(TREE_META).unwrap();
                    upgrade_cold(UpgradeStop::AfterSwitch, dir.path(), &db, &sled_files, &cold, &meta).unwrap();
                    drop((cold, meta, sled_files, db));
                    let (version, left) = format_and_tree_blocks(dir.path());
                    assert_eq!((version, left), (STORE_FORMAT_VERSION, blocks), "switched, blocks left");
                }
                _ => {}
            }
            let store = Store::open(dir.path()).unwrap();
            assert!(cold_entries(&store) == entries, "{crash}: the same cold entries");
            drop(store);
            let engine = open_engine(dir.path());
            assert_eq!(engine.verify().unwrap().state_digest, digest, "{crash}");
            drop(engine);
            assert_eq!(format_and_tree_blocks(dir.path()), (STORE_FORMAT_VERSION, 0), "{crash}");
            assert_eq!(run_files(dir.path()), files, "{crash}: the run files, nothing else");
        }
    }
}
