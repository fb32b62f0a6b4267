//! The engine: decides commands against the ledger state, appends the
//! accepted events to the log in batches, and acknowledges them only after
//! the batch is flushed. Many concurrent submitters share one flush (group
//! commit): the first submitter to find no commit in progress becomes the
//! leader, decides and writes everything queued (in arrival order, up to the
//! batch limit) as one batch, hands leadership to the oldest waiting
//! submitter, and only then flushes its batch and answers it: the next
//! group is decided while this one flushes (a pipelined group commit), and
//! no caller leads forever under sustained load. A group is answered only
//! after its own flush and every earlier group's have succeeded
//! (`Store::flush_written` publishes in order); a failed flush fails every
//! group written after it too. Before taking its group a new leader waits
//! (yielding, at most 1 ms) until every submitter not in a group still
//! flushing is queued again, so that submitters answered together flush
//! together again; a lone submitter never waits. A hand-off is a flag in
//! the waiter's slot, set under its lock, so it is never lost and waiters
//! need not poll.
//!
//! Readers take the state's read lock. The leader holds the write lock while
//! it decides and writes a group; a reader that finds the state ahead of the
//! durable head waits, holding the read lock (so no later group is decided
//! meanwhile), until that flush is done: a reader never sees a
//! decided-but-not-durable event, nor part of a batch.
//!
//! A large group (≥ 256 commands) has its frames (crc32, hash chain) built
//! on a scoped second thread while the leader is still deciding it; that
//! thread also appends each frame it closes to the log's segment files at
//! once (`Store::write_ahead`: past the log's recorded end, invisible and
//! cut off at open until the group's flush records it). The group's own
//! write (its last frame) and one flush (the files synced, then the log's
//! new head) follow as before (`docs/format.md`, "Frames written ahead").
//!
//! Every `cold_flush_events` the group that crosses the interval takes the
//! cold maps out of the state (typed, an O(1) move) and encodes the hot
//! snapshot under the write lock (the state is exactly at the durable head
//! there), stages the taken entries in the cold store (every lookup sees
//! them), answers its group and releases the lock; a background writer (one
//! at a time) writes the snapshot, then encodes and writes the cold run in
//! parts (each group's typed entries dropped once all of it is written), the
//! watermark last, then swaps the staged run for the written one.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard};

use cardledger_domain::command::{Command, CommandLine};
use cardledger_domain::event::Recorded;
use cardledger_domain::limits;
use cardledger_domain::rejection::{Code, Rejection};
use cardledger_domain::response::Response;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::Timestamp;
use cardledger_domain::{decode_fact_with, encode_fact, snapshot};

use crate::log::Log;
use crate::record::{self, FrameBuilder, Hash};
use crate::store::{Head, RecordRef, Store, StoreError, Subscription, Written};
use crate::{lock, wait, wait_while_for};

/// A failure of the engine itself (never of a command: those are rejections).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored event does not decode.
    #[error("corrupt event at seq {seq}: {reason}")]
    Corrupt {
        /// The bad sequence number.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// A previous flush failed; the in-memory state may be ahead of the
    /// disk. Reopen the engine.
    #[error("the engine stopped after a storage failure; reopen it")]
    Poisoned,
    /// A batch larger than `BATCH_RECORDS_MAX` commands.
    #[error("a batch holds at most {max} commands; got {got}")]
    BatchTooLarge {
        /// Limit.
        max: usize,
        /// Submitted.
        got: usize,
    },
    /// The state rebuilt from the log differs from the live state.
    #[error("verification failed at seq {seq}: {reason}")]
    Mismatch {
        /// Where.
        seq: u64,
        /// What differs.
        reason: String,
    },
}

/// The answer to one command.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Recorded and durable at `seq`.
    Recorded {
        /// Sequence number.
        seq: u64,
        /// The command key.
        command: &'static str,
        /// The event's token.
        token: String,
        /// The source-page response, captured but not rendered (the
        /// engine only copies the state facts it reads; the host renders it
        /// with [`Response::write`] off the commit path). `None` only inside
        /// [`Engine::submit_batch_acks`], which answers no `Outcome`.
        /// Boxed: an `Outcome` is moved into its request's answers, one
        /// per command, and a response inline (144 bytes) made every
        /// `Outcome` 200 bytes, a bulk loader's too (docs/performance.md,
        /// "the leader's copies at batch 8,192").
        response: Option<Box<Response>>,
    },
    /// Already recorded at `seq` with the same payload: the original result.
    Duplicate {
        /// Sequence number of the original.
        seq: u64,
        /// The command key.
        command: &'static str,
        /// The token.
        token: String,
        /// The original response (see `Recorded`'s).
        response: Option<Box<Response>>,
    },
    /// Rejected; nothing recorded.
    Rejected(Rejection),
}

/// The short answer to one command, without the rendered response (see
/// [`Engine::submit_batch_acks`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ack {
    /// Recorded and durable at this sequence number.
    Recorded(u64),
    /// Already recorded at this sequence number with the same payload.
    Duplicate(u64),
    /// Rejected; nothing recorded.
    Rejected(Rejection),
}

impl From<Outcome> for Ack {
    /// The outcome's short answer (its response, command and token dropped).
    fn from(o: Outcome) -> Ack {
        match o {
            Outcome::Recorded { seq, .. } => Ack::Recorded(seq),
            Outcome::Duplicate { seq, .. } => Ack::Duplicate(seq),
            Outcome::Rejected(r) => Ack::Rejected(r),
        }
    }
}

/// One request's answers, one per command decided, in order: built by the
/// group's leader in the form its submitter takes them, so that a bulk
/// loader's `Ack`s are written once, not as `Outcome`s converted afterwards
/// (docs/performance.md, "the leader's copies at batch 8,192").
#[derive(Debug)]
enum Answers {
    /// With the responses captured ([`Engine::submit_batch`]).
    Outcomes(Vec<Outcome>),
    /// Sequence numbers and rejections only ([`Engine::submit_batch_acks`]).
    Acks(Vec<Ack>),
}

impl Answers {
    /// Empty answers for `lines` commands (`render`: with responses).
    fn with_capacity(render: bool, lines: usize) -> Answers {
        if render {
            Answers::Outcomes(Vec::with_capacity(lines))
        } else {
            Answers::Acks(Vec::with_capacity(lines))
        }
    }

    /// A recorded command (`token` and `response` are dropped by acks).
    #[inline(always)]
    fn recorded(&mut self, seq: u64, command: &'static str, token: String, response: Option<Box<Response>>) {
        match self {
            Answers::Outcomes(v) => push_in_place(v, || Outcome::Recorded { seq, command, token, response }),
            Answers::Acks(v) => push_in_place(v, || Ack::Recorded(seq)),
        }
    }

    /// A resubmission of a recorded command.
    #[inline(always)]
    fn duplicate(&mut self, seq: u64, command: &'static str, token: String, response: Option<Box<Response>>) {
        match self {
            Answers::Outcomes(v) => push_in_place(v, || Outcome::Duplicate { seq, command, token, response }),
            Answers::Acks(v) => push_in_place(v, || Ack::Duplicate(seq)),
        }
    }

    /// A rejected command.
    fn rejected(&mut self, r: Rejection) {
        match self {
            Answers::Outcomes(v) => v.push(Outcome::Rejected(r)),
            Answers::Acks(v) => v.push(Ack::Rejected(r)),
        }
    }

    /// The answers of a request queued with responses.
    fn into_outcomes(self) -> Vec<Outcome> {
        match self {
            Answers::Outcomes(v) => v,
            Answers::Acks(_) => unreachable!("a request queued with responses is answered with outcomes"),
        }
    }

    /// The answers of a request queued for acks.
    fn into_acks(self) -> Vec<Ack> {
        match self {
            Answers::Acks(v) => v,
            Answers::Outcomes(_) => unreachable!("a request queued for acks is answered with acks"),
        }
    }
}

/// Appends `make()` to `v`, the value built where it is stored. A plain
/// `v.push(x)` builds `x` on the stack first (it must be dropped if the
/// growth before the write unwinds) and copies it with 16-byte loads that
/// span the 8-byte stores just made: the store forwarding fails, and the
/// load waits until every older store of the thread is written to the
/// cache -- on the leader, behind the cache-missing stores of the fold, a
/// stall at every answer (docs/performance.md, "the leader's copies at
/// batch 8,192"). Growing first and extending with a value made by a
/// closure lets the compiler write the fields straight into the vector
/// (rustc 1.95; a later compiler may differ, the behaviour does not).
#[inline(always)]
fn push_in_place<T>(v: &mut Vec<T>, make: impl FnOnce() -> T) {
    if v.len() == v.capacity() {
        v.reserve(1);
    }
    v.extend(std::iter::once_with(make));
}

/// One recorded event with its chain hash, as read back from the log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// The event.
    pub rec: Recorded,
    /// Its chain hash.
    pub hash: Hash,
    /// Size of its encoded payload, in bytes.
    pub payload_bytes: u32,
}

/// What `verify` checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// Hex of the head hash.
    pub head_hash: String,
    /// Sum of the encoded event payloads, in bytes (what the log must store
    /// at least; compare with the directory's size on disk).
    pub payload_bytes: u64,
    /// Hex of the digest over the whole state at the head
    /// (`cardledger_domain::snapshot::state_digest`).
    pub state_digest: String,
    /// Snapshots checked against the replay.
    pub snapshots: u64,
}

/// The engine. Cheap to clone; `Send + Sync`; use it from many threads.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    state: RwLock<Ledger>,
    queue: Mutex<Queue>,
    poisoned: Mutex<bool>,
    /// Seq of the newest snapshot written or loaded (0: none).
    snapshot_seq: Mutex<u64>,
    /// Events between two cold flushes ([`OpenOptions::cold_flush_events`]).
    cold_flush_events: u64,
    /// How the last open rebuilt the state.
    opened: OpenReport,
    /// The head when this engine opened.
    opened_at: u64,
    /// The programs this engine records commands of ([`Engine::serve_only`];
    /// unset: all).
    served: std::sync::OnceLock<Vec<String>>,
    /// The background writer of the cold flushes.
    cold_writer: Arc<ColdWriter>,
}

/// The background writer of cold flushes: at most one write in flight; its
/// failure poisons the engine (the next submit answers with it).
#[derive(Default)]
struct ColdWriter {
    /// The write in flight, if any.
    running: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The first failure of a background write.
    failure: Mutex<Option<EngineError>>,
    /// Test hook ([`Engine::debug_hold_cold_writes`]).
    hold: Mutex<HoldState>,
    held: Condvar,
    /// The nice value the last background write ran at, as its thread read
    /// it (test hook: [`Engine::debug_cold_writer_nice`]).
    ran_at_nice: Mutex<Option<i32>>,
}

#[derive(Default)]
struct HoldState {
    /// Writes wait before this step while set.
    at: Option<ColdWriteStep>,
    /// A write is waiting at the hold.
    waiting: bool,
    /// The held write fails with this instead of going on.
    fail: Option<String>,
}

/// A step of a background cold write (see [`Engine::debug_hold_cold_writes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColdWriteStep {
    /// Before the hot snapshot is written (nothing of the flush is on disk).
    Snapshot,
    /// After the snapshot, before the cold run and the watermark.
    Run,
    /// After each part of the cold run (the held one: the first), before
    /// the rest, its meta and the watermark.
    Part,
}

/// Holds background cold writes at a step until dropped
/// ([`Engine::debug_hold_cold_writes`]).
pub struct ColdWriteHold {
    writer: Arc<ColdWriter>,
}

impl ColdWriteHold {
    /// Releases the hold; the write it held fails with `reason` (a storage
    /// failure) instead of writing.
    pub fn fail(self, reason: &str) {
        lock(&self.writer.hold).fail = Some(reason.to_string());
    }
}

impl Drop for ColdWriteHold {
    fn drop(&mut self) {
        lock(&self.writer.hold).at = None;
        self.writer.held.notify_all();
    }
}

/// What a background cold write puts on disk: the hot snapshot encoded at
/// `at` (`None`: over its limit, not snapshotted) and the entries staged at `at`.
struct ColdJob {
    at: Head,
    /// Taken when it is written (its memory goes before the run's parts).
    hot: Mutex<Option<Vec<u8>>>,
    entries: crate::cold::StagedEntries,
    /// Who flushes: what the writer does first (see [`Flusher`]).
    by: Flusher,
}

/// Who stages a cold flush, which decides whether its writer first builds
/// the filter over the staged keys ([`crate::cold::StagedRun::index`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flusher {
    /// The commit path: its lookups are mostly of new tokens (each one
    /// would otherwise take the staged run's lock), so the filter is built
    /// first.
    CommitPath,
    /// An open's replay: it looks up only keys its events name as recorded
    /// before (an order reversed, a journal entry's target), so there the
    /// filter would cost a walk over every staged key (an open's largest
    /// cold cost after sled) for lookups it barely serves; its run's
    /// filter is built as the run is written instead.
    Replay,
}

impl ColdWriter {
    /// Waits for the write in flight, if any; the first failure of any
    /// background write so far.
    fn wait(&self) -> Result<(), EngineError> {
        let running = lock(&self.running).take();
        if let Some(handle) = running {
            if handle.join().is_err() {
                self.fail(EngineError::Store(StoreError::Io("the cold writer thread panicked".into())));
            }
        }
        self.failed().map_or(Ok(()), Err)
    }

    fn failed(&self) -> Option<EngineError> {
        lock(&self.failure).clone()
    }

    fn fail(&self, e: EngineError) {
        let mut f = lock(&self.failure);
        if f.is_none() {
            *f = Some(e);
        }
    }

    /// Test hook: waits here while writes are held at `step`; fails if
    /// the hold was released with a failure ([`ColdWriteHold::fail`]).
    fn pause(&self, step: ColdWriteStep) -> Result<(), EngineError> {
        let mut h = lock(&self.hold);
        let held = h.at == Some(step);
        while h.at == Some(step) {
            h.waiting = true;
            self.held.notify_all();
            h = wait(&self.held, h);
        }
        h.waiting = false;
        match h.fail.take() {
            Some(reason) if held => Err(EngineError::Store(StoreError::Io(reason))),
            _ => Ok(()),
        }
    }

    /// Writes `job`: the snapshot first, then the cold run in parts with
    /// the watermark last (a crash in between leaves the previous snapshot
    /// matching the watermark), which replaces the staged run.
    fn write(&self, store: &Store, job: &ColdJob) -> Result<(), EngineError> {
        // first the filter over the staged keys: from then on a lookup of
        // a new key passes the staged run without its lock
        if job.by == Flusher::CommitPath {
            job.entries.index()?;
        }
        self.pause(ColdWriteStep::Snapshot)?;
        let hot = lock(&job.hot).take();
        if let Some(hot) = hot {
            store.save_snapshot(job.at, &hot)?;
        }
        self.pause(ColdWriteStep::Run)?;
        // the taken entries are encoded here, off the state's lock, a part at a time
        store.write_cold(job.at, &job.entries, || self.pause(ColdWriteStep::Part))
    }

    /// Starts writing `job` in the background (inline if no thread starts).
    fn start(self: &Arc<Self>, store: &Store, job: ColdJob) {
        let (writer, thread_store) = (self.clone(), store.clone());
        let job = Arc::new(job);
        let thread_job = job.clone();
        let spawned = std::thread::Builder::new().name("cardledger-cold-writer".into()).spawn(move || {
            // an open's writer too: not niced, it holds sled's lock while
            // the applier and the reader run, and they wait on it more
            // (docs/performance.md, "Issue 13: replay, the reader's decode")
            yield_to_the_commit_path();
            *lock(&writer.ran_at_nice) = own_nice();
            if let Err(e) = writer.write(&thread_store, &thread_job) {
                writer.fail(e);
            }
        });
        match spawned {
            Ok(handle) => *lock(&self.running) = Some(handle),
            Err(_) => {
                if let Err(e) = self.write(store, &job) {
                    self.fail(e);
                }
            }
        }
    }
}

/// Lowers the calling thread's priority to `limits::COLD_WRITER_NICE` (on
/// Linux a nice value is a thread's own): the cold writer then takes a core
/// the commit path's threads (the frame encoder, sled's writers) want only
/// when they leave it, and still all of one when they wait. A failure
/// leaves the thread as it was (it writes the same, only less politely).
#[cfg(target_os = "linux")]
fn yield_to_the_commit_path() {
    let _ = rustix::process::setpriority_process(None, limits::COLD_WRITER_NICE);
}

#[cfg(not(target_os = "linux"))]
fn yield_to_the_commit_path() {}

/// The calling thread's nice value (Linux; `None` elsewhere or if unread).
#[cfg(target_os = "linux")]
fn own_nice() -> Option<i32> {
    rustix::process::getpriority_process(None).ok()
}

#[cfg(not(target_os = "linux"))]
fn own_nice() -> Option<i32> {
    None
}

/// How an engine is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// Events between two cold flushes (default `SNAPSHOT_INTERVAL_EVENTS`):
    /// how much of what grows with history stays in memory. Tests set it
    /// down to 1 so every lookup goes to the cold runs.
    pub cold_flush_events: u64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { cold_flush_events: limits::SNAPSHOT_INTERVAL_EVENTS }
    }
}

/// How [`Engine::open`] (or [`Engine::state_as_of_report`]) rebuilt the
/// state: from which snapshot, how many events it replayed, and which
/// snapshots it refused (and why).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The seq of the snapshot the state was loaded from (`None`: replayed from genesis).
    pub snapshot_seq: Option<u64>,
    /// Events replayed after the snapshot.
    pub replayed: u64,
    /// Snapshots that failed a check and were ignored: (seq, why).
    pub refused: Vec<(u64, String)>,
    /// Time spent loading and decoding the snapshot, in µs.
    pub snapshot_micros: u64,
    /// Time spent replaying the tail, in µs.
    pub replay_micros: u64,
}

impl Drop for Inner {
    /// A clean close snapshots the state, so the next open replays nothing.
    /// Skipped after a storage failure (memory may be ahead of the disk).
    fn drop(&mut self) {
        // a background cold write in flight finishes first
        if self.cold_writer.wait().is_err() || *lock(&self.poisoned) {
            return;
        }
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if state.head_seq > *lock(&self.snapshot_seq) {
            // a failure here leaves the previous snapshot and cold watermark: open replays more
            let _ = flush_cold(&self.store, &mut state, &self.snapshot_seq);
        }
        if state.head_seq.saturating_sub(self.opened_at) >= limits::REOPEN_ON_CLOSE_EVENTS {
            // the state's cold link holds a sled handle: release it so the
            // store's last handle can pay sled's recovery scan now
            *state = Ledger::default();
            self.store.reopen_on_close();
        }
    }
}

/// A cold flush: moves what grows with history out of `state` into the
/// store's cold tree and snapshots the hot rest, both at the durable head
/// (`state` must be there). The snapshot is written first, then the cold
/// entries with the watermark in one atomic batch: a crash between the two
/// leaves the previous snapshot matching the watermark. A state too large
/// to snapshot skips the snapshot, never the cold flush (`Ok(false)`).
fn flush_cold(store: &Store, state: &mut Ledger, snapshot_seq: &Mutex<u64>) -> Result<bool, EngineError> {
    let at = store.head();
    state_is_at(state, at)?;
    let entries = crate::cold::StagedRun::new(state.take_cold());
    let snapshotted = store.save_snapshot_with(at, |out| snapshot::encode_hot_to(state, out))?;
    store.write_cold(at, &entries, || Ok::<(), EngineError>(()))?;
    *lock(snapshot_seq) = at.seq;
    Ok(snapshotted)
}

/// A cold flush names the log position its state is exactly at.
fn state_is_at(state: &Ledger, at: Head) -> Result<(), EngineError> {
    if state.head_seq != at.seq {
        return Err(EngineError::Mismatch {
            seq: state.head_seq,
            reason: format!("a snapshot of state at seq {} named seq {}", state.head_seq, at.seq),
        });
    }
    Ok(())
}

/// The part of a cold flush at the durable head that needs the state (its
/// write lock held): moves the cold entries out of `state` (typed, an O(1)
/// move of the maps: `Ledger::take_cold`) and stages them in the cold
/// store (every lookup sees them from now on), and encodes the hot
/// snapshot (`None` when it is over `SNAPSHOT_STATE_BYTES_MAX`). The
/// returned job is encoded and written by [`ColdWriter::start`].
fn stage_cold(store: &Store, state: &mut Ledger) -> Result<ColdJob, EngineError> {
    stage_cold_at(store, state, store.head(), Flusher::CommitPath)
}

/// [`stage_cold`] at `at`, a durable log position the state is exactly at
/// (the head, or the record a replay has just applied), staged `by` the
/// commit path or a replay.
fn stage_cold_at(store: &Store, state: &mut Ledger, at: Head, by: Flusher) -> Result<ColdJob, EngineError> {
    state_is_at(state, at)?;
    let entries = Arc::new(crate::cold::StagedRun::new(state.take_cold()));
    store.stage_cold(at, entries.clone())?;
    let mut hot = Vec::new();
    let hot = match snapshot::encode_hot_to(state, &mut hot) {
        Ok(()) if hot.len() <= limits::SNAPSHOT_STATE_BYTES_MAX => Some(hot),
        _ => None,
    };
    Ok(ColdJob { at, hot: Mutex::new(hot), entries, by })
}

#[derive(Default)]
struct Queue {
    requests: Vec<Request>,
    leader_active: bool,
    /// Requests taken by groups not yet flushed.
    in_flight: usize,
    /// Submitters seen at the last group's start: those it took and those
    /// in flight (see [`Engine::gather`]).
    submitters: usize,
}

struct Request {
    /// The commands, as submitted (not copied: a line without its own
    /// `time` is decided at `now`).
    lines: Vec<CommandLine>,
    /// The host's clock when the request was queued.
    now: Timestamp,
    /// Render the source-page response of each command.
    render: bool,
    slot: Arc<Slot>,
}

#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    ready: Condvar,
}

/// What a waiting submitter is woken for; set under the slot's lock, so a
/// wake-up is never lost.
#[derive(Default)]
struct SlotState {
    /// Its answer (its commands are flushed, or failed).
    result: Option<Result<Answers, EngineError>>,
    /// The last leader handed leadership to it.
    lead: bool,
}

use limits::{
    ENCODER_CHUNK_BYTES, ENCODER_CHUNK_RECORDS, ENCODER_TAIL_CHUNK_RECORDS, ENCODER_THREAD_LINES_MIN,
    GATHER_WAIT_MICROS, LEADER_HANDOFF_WAIT_MS,
};

/// Longest a new leader waits for the last group's submitters to queue
/// again before it commits what is queued.
const GATHER_WAIT: std::time::Duration = std::time::Duration::from_micros(GATHER_WAIT_MICROS);

/// How long a waiting submitter sleeps before checking whether it should lead.
const LEADER_HANDOFF_WAIT: std::time::Duration = std::time::Duration::from_millis(LEADER_HANDOFF_WAIT_MS);

impl Engine {
    /// Opens (or creates) the data directory and rebuilds the state by
    /// replaying the log.
    pub fn open(dir: &Path) -> Result<Engine, EngineError> {
        Engine::open_with(dir, OpenOptions::default())
    }

    /// [`Engine::open`] with options.
    pub fn open_with(dir: &Path, options: OpenOptions) -> Result<Engine, EngineError> {
        Engine::open_store(Store::open(dir)?, options)
    }

    /// Opens an engine whose log is kept by `log` (e.g. a JetStream stream,
    /// `cardledger-nats`): `dir` holds only the snapshots, cold runs and
    /// checkpoints, each naming the log position and chain hash it was
    /// taken at; an empty `dir` (or one of another log) is rebuilt by
    /// replaying `log` ([`Store::open_on`]).
    pub fn open_on(dir: &Path, options: OpenOptions, log: Arc<dyn Log>) -> Result<Engine, EngineError> {
        Engine::open_store(Store::open_on(dir, log)?, options)
    }

    fn open_store(store: Store, options: OpenOptions) -> Result<Engine, EngineError> {
        let cold_flush_events = options.cold_flush_events.max(1);
        let store_head_at_open = store.head().seq;
        let mut report = OpenReport::default();
        let started = std::time::Instant::now();
        // the cold entries are exactly at the watermark: only a hot snapshot
        // at that seq completes them; without cold entries only a whole-state
        // snapshot (version 1, before format 3) can be used
        let watermark = store.cold_watermark()?;
        let mut ledger = None;
        for seq in store.snapshot_seqs()? {
            let loaded = store.load_snapshot(seq).map_err(|e| e.to_string()).and_then(|(head, bytes)| {
                let version = bytes.first().copied();
                match watermark {
                    Some(w) if w.seq != seq || w.hash != head.hash => {
                        return Err(format!("the cold entries are at seq {}", w.seq));
                    }
                    Some(_) if version != Some(snapshot::HOT_STATE_VERSION) => {
                        return Err("a whole-state snapshot beside cold entries".into());
                    }
                    None if version != Some(snapshot::SNAPSHOT_STATE_VERSION) => {
                        return Err("a hot snapshot without its cold entries".into());
                    }
                    _ => {}
                }
                let l = snapshot::decode_state(&bytes)?;
                if l.head_seq == seq {
                    Ok(l)
                } else {
                    Err(format!("its state is at seq {}", l.head_seq))
                }
            });
            match loaded {
                Ok(l) => {
                    report.snapshot_seq = Some(seq);
                    ledger = Some(l);
                    break;
                }
                Err(why) => report.refused.push((seq, why)),
            }
        }
        // a refused snapshot is a damaged or unusable cache entry: drop it,
        // so the next snapshot does not keep it as the fallback
        for (seq, _) in &report.refused {
            store.delete_snapshot(*seq)?;
        }
        if watermark.is_some() && ledger.is_none() {
            // cold entries without their snapshot: rebuild both from the log
            store.clear_cold()?;
            report
                .refused
                .push((watermark.map_or(0, |w| w.seq), "cold entries without a matching snapshot: cleared".into()));
        }
        report.snapshot_micros = started.elapsed().as_micros() as u64;
        let started = std::time::Instant::now();
        let mut ledger = ledger.unwrap_or_default();
        ledger.attach_cold(store.cold());
        let mut since_flush = 0u64;
        // the last cold flush: the snapshot loaded, or one written during the replay
        let mut last_flush = report.snapshot_seq.unwrap_or(0);
        // the replay's cold flushes are written in the background, one at a
        // time, as the commit path's are, while the replay goes on
        let cold_writer = Arc::new(ColdWriter::default());
        let replayed = replay_entries(&store, ledger.head_seq + 1, |entry| {
            ledger.apply(&entry.rec);
            report.replayed += 1;
            since_flush += 1;
            // a long replay (a store from before format 3, or after a lost
            // snapshot) flushes as it goes, so memory stays bounded
            if since_flush >= cold_flush_events {
                if let Some(why) = ledger.cold_failure() {
                    return Err(EngineError::Corrupt { seq: ledger.head_seq, reason: why });
                }
                let at = Head { seq: entry.rec.seq, hash: entry.hash };
                // the previous flush is written (or its failure fails the
                // open) before this one is staged: at most one is unwritten
                cold_writer.wait()?;
                let job = stage_cold_at(&store, &mut ledger, at, Flusher::Replay)?;
                cold_writer.start(&store, job);
                last_flush = at.seq;
                since_flush = 0;
            }
            Ok(true)
        })
        .and_then(|()| match ledger.cold_failure() {
            Some(why) => Err(EngineError::Corrupt { seq: ledger.head_seq, reason: why }),
            None => Ok(()),
        });
        // the open answers with its flushes written (the last one overlapped
        // the rest of the replay): what it reports is on disk, and a failed
        // open leaves no write of its own running behind it
        let written = cold_writer.wait();
        replayed?;
        written?;
        report.replay_micros = started.elapsed().as_micros() as u64;
        Ok(Engine {
            inner: Arc::new(Inner {
                store,
                state: RwLock::new(ledger),
                queue: Mutex::new(Queue::default()),
                poisoned: Mutex::new(false),
                snapshot_seq: Mutex::new(last_flush),
                opened: report,
                opened_at: store_head_at_open,
                cold_flush_events,
                served: std::sync::OnceLock::new(),
                cold_writer,
            }),
        })
    }

    /// Makes this engine record only commands of `programs`: a command that
    /// names another program by token ([`cardledger_domain::command::Command::program_token`])
    /// is rejected with 1220 `ProgramNotServed`, unwritten (a host that owns
    /// a subset of the programs of a shared cluster). Set once, before use;
    /// a second call is refused (`false`).
    pub fn serve_only(&self, programs: Vec<String>) -> bool {
        self.inner.served.set(programs).is_ok()
    }

    /// The programs set by [`Engine::serve_only`] (`None`: every program).
    pub fn served_programs(&self) -> Option<&[String]> {
        self.inner.served.get().map(Vec::as_slice)
    }

    /// How the last [`Engine::open`] rebuilt the state.
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.opened
    }

    /// Flushes the cold state and writes a snapshot of the hot state at the
    /// durable head now (also done every `SNAPSHOT_INTERVAL_EVENTS` events
    /// and at a clean close); returns its seq, or `None` when there is
    /// nothing new to snapshot or the hot state is larger than
    /// `SNAPSHOT_STATE_BYTES_MAX`. A failed write poisons the engine.
    pub fn snapshot(&self) -> Result<Option<u64>, EngineError> {
        if *lock(&self.inner.poisoned) {
            return Err(EngineError::Poisoned);
        }
        let mut state = self.inner.state.write().unwrap_or_else(|p| p.into_inner());
        // the last group decided, and a background cold write in flight, finish first
        let flushed = self.inner.store.wait_published(state.head_seq).map_err(EngineError::Store);
        if let Err(e) = flushed.and_then(|_| self.inner.cold_writer.wait()) {
            *lock(&self.inner.poisoned) = true;
            return Err(e);
        }
        if state.head_seq == 0 || state.head_seq == *lock(&self.inner.snapshot_seq) {
            return Ok(None);
        }
        match flush_cold(&self.inner.store, &mut state, &self.inner.snapshot_seq) {
            Ok(written) => Ok(written.then_some(state.head_seq)),
            Err(e) => {
                *lock(&self.inner.poisoned) = true;
                Err(e)
            }
        }
    }

    /// Submits one command and waits until it is durable (or rejected).
    pub fn submit(&self, line: CommandLine) -> Result<Outcome, EngineError> {
        let mut v = self.submit_batch(vec![line])?;
        v.pop().ok_or(EngineError::Poisoned)
    }

    /// Submits a batch: its accepted events are appended atomically (all or
    /// none survive a crash) and flushed before this returns. Commands
    /// without `time` are stamped with the host clock now.
    pub fn submit_batch(&self, lines: Vec<CommandLine>) -> Result<Vec<Outcome>, EngineError> {
        self.enqueue(lines, true, || {}).map(Answers::into_outcomes)
    }

    /// [`Engine::submit_batch`] for any number of commands: batches of at
    /// most `BATCH_RECORDS_MAX` in order (each atomic and durable before
    /// the next; the whole is not an atomic unit), one outcome per command.
    pub fn submit_in_batches(&self, lines: Vec<CommandLine>) -> Result<Vec<Outcome>, EngineError> {
        self.submit_in_batches_queued(lines, || {})
    }

    /// [`Engine::submit_in_batches`] that calls `on_queued` as soon as its
    /// commands are queued (one batch: after any earlier caller's request,
    /// before any later one's), before it waits for them to be durable. A
    /// caller taking turns with another submitter ends its turn there, so
    /// the other's next batch is queued behind this one, in order, and
    /// decided while this one flushes (the ingest pipeline:
    /// `INGEST_CHUNKS_IN_FLIGHT`). Not called when nothing was queued as one
    /// request (no command, more than `BATCH_RECORDS_MAX`: several batches
    /// one after the other, or a failure before queueing): the turn then
    /// ends when this returns.
    pub fn submit_in_batches_queued(
        &self,
        lines: Vec<CommandLine>,
        on_queued: impl FnOnce(),
    ) -> Result<Vec<Outcome>, EngineError> {
        // one batch (every ingest chunk): the commands go as they are, and
        // the outcomes come back as they are, not moved into new vectors
        // (a copy of every command and every outcome on the ingest's
        // decider thread: docs/performance.md, "the JSON path, twelfth pass")
        if !lines.is_empty() && lines.len() <= limits::BATCH_RECORDS_MAX {
            return self.enqueue(lines, true, on_queued).map(Answers::into_outcomes);
        }
        let mut outcomes = Vec::with_capacity(lines.len());
        let mut lines = lines.into_iter().peekable();
        while lines.peek().is_some() {
            outcomes.extend(self.submit_batch(lines.by_ref().take(limits::BATCH_RECORDS_MAX).collect())?);
        }
        Ok(outcomes)
    }

    /// Like [`Engine::submit_batch`] but answers only sequence numbers and
    /// rejections: for bulk loaders that do not need the JSON responses
    /// (rendering them costs more than deciding and recording). A response
    /// can be fetched later with [`Engine::get`].
    pub fn submit_batch_acks(&self, lines: Vec<CommandLine>) -> Result<Vec<Ack>, EngineError> {
        self.enqueue(lines, false, || {}).map(Answers::into_acks)
    }

    /// Queues one request and waits for its answer (leading groups when
    /// nobody does); `on_queued` runs once the request is queued.
    fn enqueue(&self, lines: Vec<CommandLine>, render: bool, on_queued: impl FnOnce()) -> Result<Answers, EngineError> {
        if lines.len() > limits::BATCH_RECORDS_MAX {
            return Err(EngineError::BatchTooLarge { max: limits::BATCH_RECORDS_MAX, got: lines.len() });
        }
        let now = Timestamp::now();
        let slot = Arc::new(Slot::default());
        let lead = {
            let mut q = lock(&self.inner.queue);
            q.requests.push(Request { lines, now, render, slot: slot.clone() });
            !std::mem::replace(&mut q.leader_active, true)
        };
        // queued: a later request is queued behind this one (its seqs after ours)
        on_queued();
        if lead {
            self.lead_one_group();
        }
        loop {
            {
                let mut st = lock(&slot.state);
                if st.result.is_none() && !st.lead {
                    // woken by our answer, by a leader handing off, or by the timeout
                    st = match slot.ready.wait_timeout(st, LEADER_HANDOFF_WAIT) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    };
                }
                if let Some(r) = st.result.take() {
                    return r;
                }
                st.lead = false;
            }
            // no answer yet: lead if nobody does (the last leader handed off)
            let take = {
                let mut q = lock(&self.inner.queue);
                !std::mem::replace(&mut q.leader_active, true)
            };
            if take {
                self.lead_one_group();
            }
        }
    }

    /// Commits one group (everything queued, in arrival order, up to the
    /// batch limit): decides and writes it under the state's write lock,
    /// hands leadership to the oldest waiting submitter (so the next group
    /// is decided while this one flushes, and no caller leads forever under
    /// sustained load), then flushes it and answers it.
    fn lead_one_group(&self) {
        self.gather();
        let mut group = {
            let mut q = lock(&self.inner.queue);
            let mut total = 0;
            let mut n = 0;
            for r in &q.requests {
                if n > 0 && total + r.lines.len() > limits::BATCH_RECORDS_MAX {
                    break;
                }
                total += r.lines.len();
                n += 1;
            }
            q.submitters = n + q.in_flight;
            q.in_flight += n;
            q.requests.drain(..n).collect::<Vec<_>>()
        };
        let decided = self.decide_and_write(&mut group);
        // requests whose records did not fit this group's append go first
        // into the next group, in their order (nothing of them was applied)
        let decided_requests = decided.as_ref().map_or(group.len(), |(outcomes, _)| outcomes.len());
        let rest = group.split_off(decided_requests);
        let next = {
            let mut q = lock(&self.inner.queue);
            q.in_flight -= rest.len();
            q.requests.splice(0..0, rest);
            q.leader_active = false;
            q.requests.first().map(|r| r.slot.clone())
        };
        if let Some(next) = next {
            // wake the oldest waiter so it takes over at once (if a new
            // submitter took the lead first, the flag is cleared unused)
            lock(&next.state).lead = true;
            next.ready.notify_all();
        }
        // the flush: outside every engine lock, while the next group is decided
        let results: Vec<Result<Answers, EngineError>> = match decided {
            Ok((outcomes, written)) => match written.map(|w| self.inner.store.flush_written(w)) {
                Some(Err(e)) => {
                    *lock(&self.inner.poisoned) = true;
                    group.iter().map(|_| Err(EngineError::Store(e.clone()))).collect()
                }
                _ => outcomes.into_iter().map(Ok).collect(),
            },
            Err(e) => group.iter().map(|_| Err(e.clone())).collect(),
        };
        lock(&self.inner.queue).in_flight -= group.len();
        for (req, res) in group.iter().zip(results) {
            lock(&req.slot.state).result = Some(res);
            req.slot.ready.notify_all();
        }
    }

    /// Gives the submitters answered by the last groups a moment to queue
    /// their next commands, so that they share the next flush instead of
    /// following one or two early ones in a flush of their own: waits
    /// (yielding the core) until every submitter of the last group's start
    /// that is not in a group still flushing is queued again, at most
    /// [`GATHER_WAIT`]. A lone submitter never waits.
    fn gather(&self) {
        let start = std::time::Instant::now();
        loop {
            let ready = {
                let q = lock(&self.inner.queue);
                q.requests.len() >= q.submitters.saturating_sub(q.in_flight)
            };
            if ready || start.elapsed() >= GATHER_WAIT {
                return;
            }
            std::thread::yield_now();
        }
    }

    /// Decides, applies and writes one group under the state's write lock;
    /// the outcomes of the requests decided (a prefix of `group`) and the
    /// written batch, to be flushed before any of them is answered (`None`:
    /// flushed already). The records' frames (crc32, hash chain) are
    /// encoded while the group is still being decided: on a second thread
    /// for large groups, inline for small ones. A failure fails the whole
    /// group.
    #[allow(clippy::type_complexity)]
    fn decide_and_write(&self, group: &mut [Request]) -> Result<(Vec<Answers>, Option<Written>), EngineError> {
        if let Some(e) = self.inner.cold_writer.failed() {
            // a background cold write failed: answer with its failure
            *lock(&self.inner.poisoned) = true;
            return Err(e);
        }
        if *lock(&self.inner.poisoned) {
            return Err(EngineError::Poisoned);
        }
        let mut state = self.inner.state.write().unwrap_or_else(|p| p.into_inner());
        // after the last group written, which may still be flushing
        let base = self.inner.store.written_head();
        let fill = self.inner.store.frame_fill();
        let lines: usize = group.iter().map(|r| r.lines.len()).sum();
        let decided = if lines >= ENCODER_THREAD_LINES_MIN {
            std::thread::scope(|s| {
                // chunks go to the encoder and come back emptied, to be
                // filled again: no allocation per record on either thread
                let (tx, rx) = std::sync::mpsc::channel::<Chunk>();
                let (back_tx, back_rx) = std::sync::mpsc::channel::<Chunk>();
                let store = &self.inner.store;
                let ahead = store.writes_ahead();
                let spawned =
                    std::thread::Builder::new().name("cardledger-encoder".into()).spawn_scoped(s, move || {
                        let mut builder = FrameBuilder::with_fill(base, fill);
                        for mut chunk in rx {
                            chunk.push_into(&mut builder)?;
                            chunk.clear();
                            // a closed channel: the leader is done sending
                            let _ = back_tx.send(chunk);
                            if ahead {
                                // the frames closed so far go to the log
                                // while the group is still decided; they
                                // join the log with the group's flush
                                // (`Store::write_ahead`)
                                store.write_ahead(base, builder.take_ahead())?;
                            }
                        }
                        Ok(builder.finish())
                    });
                // nothing is decided yet: a thread that cannot start fails the
                // group without leaving the state ahead of the disk
                let Ok(encoder) = spawned else { return Ok(None) };
                let mut pending = Chunk::default();
                // records handed over so far (a tick may record more than
                // one line, so the tail's test is a guess, never a rule)
                let mut handed = 0usize;
                let outcomes = self.decide_group(&mut state, group, &mut |time, payload| {
                    pending.push(time, payload);
                    let in_tail = lines.saturating_sub(handed) <= ENCODER_CHUNK_RECORDS;
                    let size = if in_tail { ENCODER_TAIL_CHUNK_RECORDS } else { ENCODER_CHUNK_RECORDS };
                    if pending.len() >= size {
                        handed += pending.len();
                        let next = back_rx.try_recv().unwrap_or_default();
                        // a closed channel means the encoder failed: its join says why
                        let _ = tx.send(std::mem::replace(&mut pending, next));
                    }
                });
                if !pending.is_empty() {
                    let _ = tx.send(pending);
                }
                drop(tx);
                let encoded =
                    encoder.join().unwrap_or_else(|_| Err(StoreError::Io("the frame encoder thread panicked".into())));
                outcomes.map(|o| Some((o, encoded)))
            })
        } else {
            let mut builder = FrameBuilder::with_fill(base, fill);
            let mut failed = None;
            let outcomes = self.decide_group(&mut state, group, &mut |time, payload| {
                if let (None, Err(e)) = (&failed, builder.push(time, payload)) {
                    failed = Some(StoreError::from(e));
                }
            });
            outcomes.map(|o| Some((o, failed.map_or_else(|| Ok(builder.finish()), Err))))
        };
        // any failure from here on leaves the state ahead of the disk (earlier
        // commands of the group are applied): stop until reopened
        let poison = |e: EngineError| {
            *lock(&self.inner.poisoned) = true;
            e
        };
        let (outcomes, encoded) = match decided {
            Ok(Some(d)) => d,
            Ok(None) => {
                return Err(EngineError::Store(StoreError::Io("could not start the frame encoder thread".into())))
            }
            Err(e) => return Err(poison(e)),
        };
        // a cold read that failed may have made a decision wrong: nothing of
        // the group is written, and the engine stops until reopened
        if let Some(why) = state.cold_failure() {
            return Err(poison(EngineError::Corrupt { seq: state.head_seq, reason: why }));
        }
        let written = encoded.and_then(|batch| self.inner.store.write_encoded(batch));
        let written = written.map_err(|e| poison(EngineError::Store(e)))?;
        let last = *lock(&self.inner.snapshot_seq);
        // every SNAPSHOT_INTERVAL_EVENTS: what changed since the last flush
        // leaves memory (cold entries) and the hot rest is snapshotted
        if state.head_seq < last.saturating_add(self.inner.cold_flush_events) {
            return Ok((outcomes, Some(written)));
        }
        // the cold flush needs the state exactly at the durable head: this
        // group is flushed here, under the lock (so are the groups before it)
        self.inner.store.flush_written(written).map_err(|e| poison(EngineError::Store(e)))?;
        // the batch is durable; a failed cold flush (this one's staging,
        // or the previous one's write, waited for here: one at a time) is
        // a storage failure all the same: stop, and answer the group with it.
        // Only the drain, the staging and the hot encoding hold the lock
        // and the answer; the writes go on in the background.
        let writer = &self.inner.cold_writer;
        let job = writer.wait().and_then(|()| stage_cold(&self.inner.store, &mut state)).map_err(poison)?;
        *lock(&self.inner.snapshot_seq) = job.at.seq;
        writer.start(&self.inner.store, job);
        drop(state);
        Ok((outcomes, None))
    }

    /// Decides and applies the commands of a group in order, handing each
    /// accepted event's time and encoded payload to `record`, while the
    /// group's records fit one append (`BATCH_RECORDS_MAX` records,
    /// `BATCH_BYTES_MAX` bytes): a request whose first command does not fit
    /// ends the group undecided (it is answered by a later group; the
    /// outcomes returned are for the requests before it), and a later
    /// command of a request that does not fit is rejected (1216 `BatchFull`)
    /// with the rest of its request. The first request of a group always
    /// starts: one command's records always fit an empty batch.
    fn decide_group(
        &self,
        state: &mut Ledger,
        group: &mut [Request],
        record: &mut dyn FnMut(i64, &[u8]),
    ) -> Result<Vec<Answers>, EngineError> {
        let first_new = state.head_seq + 1;
        // the group's recorded events are kept (shared with the responses,
        // and found by a duplicate of one of them) only when some request
        // of the group is answered with responses; a group of bulk loaders
        // (acks only) drops each event once it is applied and handed on
        let keep = group.iter().any(|r| r.render);
        let mut new: Vec<Arc<Recorded>> =
            if keep { Vec::with_capacity(group.iter().map(|r| r.lines.len()).sum()) } else { Vec::new() };
        let mut outcomes: Vec<Answers> = Vec::with_capacity(group.len());
        let (mut records, mut bytes) = (0usize, 0usize);
        // would these payloads still fit this group's one append?
        let fits = |records: usize, bytes: usize, payloads: &[&[u8]]| {
            let more: usize = payloads.iter().map(|p| record::record_len(p.len())).sum();
            records + payloads.len() <= limits::BATCH_RECORDS_MAX && bytes + more <= limits::BATCH_BYTES_MAX
        };
        // a moved line's payload is encoded here, one buffer for the group
        // (its capacity kept from one event to the next)
        let mut buf: Vec<u8> = Vec::new();
        for (r, req) in group.iter_mut().enumerate() {
            let mut out = Answers::with_capacity(req.render, req.lines.len());
            let mut full = false;
            let now = req.now;
            for (i, line) in req.lines.iter_mut().enumerate() {
                // read before the decision, which may move the command out
                let time = line.time.unwrap_or(now);
                if full {
                    out.rejected(batch_full(line.command.key()));
                    continue;
                }
                let key = line.command.key();
                // bulk loaders (no rendering) get acks only: skip the token copy
                let token = if req.render { line.command.token().unwrap_or("").to_string() } else { String::new() };
                if let Some(r) = self.not_served(&line.command) {
                    out.rejected(r);
                    continue;
                }
                // a line whose records surely fit this append (one event, of
                // at most EVENT_BYTES_MAX) gives its command to its event; a
                // tick (it may record many) and a line near the batch's end
                // are decided borrowed, so a request that ends the group
                // undecided goes back to the queue intact (what stays in a
                // moved line, a placeholder command, is never read again: its
                // event surely fits the batch, so it is recorded or rejected
                // in this group and its request is never put back)
                let movable = !matches!(line.command, Command::Tick(_))
                    && records < limits::BATCH_RECORDS_MAX
                    && bytes + record::record_len(limits::EVENT_BYTES_MAX) <= limits::BATCH_BYTES_MAX;
                // a moved line's accepted fact comes encoded (its command
                // encoded once, for the payload and its fingerprint)
                // (emptied first: a decision that encodes nothing, a tick's
                // or a duplicate's, leaves it as it finds it)
                buf.clear();
                let decision =
                    if movable { state.decide_owned_into(line, time, &mut buf) } else { state.decide(line, time) };
                // an accepted fact goes into its record at once (each move of
                // a decided event, ≈ 450 bytes, is a `memcpy`)
                match decision {
                    // encoded before it is applied: an event that would not
                    // decode again (over EVENT_BYTES_MAX) is refused unwritten
                    // (the fact stays where it was decided; it moves into a
                    // `Recorded` only when the group keeps its records)
                    Decision::Accept(ref fact) => {
                        let seq = state.head_seq + 1;
                        let encoded = if buf.is_empty() {
                            encode_fact(fact).map(std::borrow::Cow::Owned)
                        } else {
                            Ok(std::borrow::Cow::Borrowed(buf.as_slice()))
                        };
                        match encoded {
                            Err(e) => out.rejected(Rejection::new(Code::EventTooLarge, key, e)),
                            Ok(payload) if !fits(records, bytes, &[&payload]) => {
                                if r > 0 && i == 0 {
                                    return Ok(outcomes);
                                }
                                out.rejected(batch_full(key));
                                full = true;
                            }
                            Ok(payload) => {
                                records += 1;
                                bytes += record::record_len(payload.len());
                                state.apply_fact(seq, time, fact);
                                record(time.0, &payload);
                                if keep {
                                    let Decision::Accept(fact) = decision else { unreachable!("matched as accepted") };
                                    let rec = Arc::new(Recorded { seq, time, fact });
                                    // the state facts the response reads, as of now;
                                    // the host renders it after the flush
                                    let response = req.render.then(|| Box::new(Response::capture(rec.clone(), state)));
                                    out.recorded(seq, key, token, response);
                                    new.push(rec);
                                } else {
                                    out.recorded(seq, key, token, None);
                                }
                            }
                        }
                    }
                    // a tick closing statement cycles: every fact in this group's
                    // batch, the answer being the last one's (its `Ticked`)
                    Decision::AcceptAll(facts) => {
                        let payloads: Result<Vec<Vec<u8>>, String> = facts.iter().map(encode_fact).collect();
                        let payloads = match payloads {
                            Ok(p) => p,
                            Err(e) => {
                                out.rejected(Rejection::new(Code::EventTooLarge, key, e));
                                continue;
                            }
                        };
                        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
                        if !fits(records, bytes, &refs) {
                            if r > 0 && i == 0 {
                                return Ok(outcomes);
                            }
                            out.rejected(batch_full(key));
                            full = true;
                            continue;
                        }
                        records += payloads.len();
                        bytes += refs.iter().map(|p| record::record_len(p.len())).sum::<usize>();
                        for (fact, payload) in facts.into_iter().zip(payloads) {
                            let rec = Arc::new(Recorded { seq: state.head_seq + 1, time, fact });
                            state.apply(&rec);
                            record(rec.time.0, &payload);
                            new.push(rec);
                        }
                        // the last fact's response, against the state after it
                        let last = if req.render { new.last().cloned() } else { None };
                        let response = last.map(|rec| Box::new(Response::capture(rec, state)));
                        out.recorded(state.head_seq, key, token, response);
                    }
                    Decision::Duplicate(seq) if !req.render => out.duplicate(seq, key, token, None),
                    Decision::Duplicate(seq) => {
                        let original = if seq >= first_new {
                            new.get((seq - first_new) as usize).map(|r| Ok(r.clone()))
                        } else {
                            // the original may be in a group still flushing
                            self.inner.store.wait_published(seq)?;
                            read_entries(&self.inner.store, seq).next().map(|e| e.map(|e| Arc::new(e.rec)))
                        };
                        match original {
                            Some(Ok(rec)) => {
                                let response = Some(Box::new(Response::capture(rec, state)));
                                out.duplicate(seq, key, token, response)
                            }
                            Some(Err(e)) => return Err(e),
                            None => {
                                return Err(EngineError::Corrupt { seq, reason: "recorded event not found".into() })
                            }
                        }
                    }
                    Decision::Reject(r) => out.rejected(r),
                }
            }
            outcomes.push(out);
        }
        Ok(outcomes)
    }

    /// Read access to the current (durable) state. Hold it briefly: the
    /// writer waits for readers only to start its next group. When the
    /// last group decided is still flushing, this waits for its flush
    /// (holding the read lock, so no later group is decided meanwhile):
    /// a reader never sees an event before it is durable. After a failed
    /// flush the engine is poisoned and the state is answered as it stands.
    pub fn state(&self) -> RwLockReadGuard<'_, Ledger> {
        let state = self.inner.state.read().unwrap_or_else(|p| p.into_inner());
        if state.head_seq > self.inner.store.head().seq {
            // an error here is a failed flush: the engine is poisoned
            let _ = self.inner.store.wait_published(state.head_seq);
        }
        state
    }

    /// The last durable sequence number.
    pub fn head_seq(&self) -> u64 {
        self.inner.store.head().seq
    }

    /// Recorded events from `seq` (inclusive) to the durable head.
    pub fn events_from(&self, seq: u64) -> impl Iterator<Item = Result<LogEntry, EngineError>> {
        read_entries(&self.inner.store, seq)
    }

    /// One recorded event.
    pub fn event(&self, seq: u64) -> Result<Option<LogEntry>, EngineError> {
        if seq == 0 || seq > self.head_seq() {
            return Ok(None);
        }
        read_entries(&self.inner.store, seq).next().transpose()
    }

    /// A live feed of the durable head.
    pub fn subscribe(&self) -> Subscription {
        self.inner.store.subscribe()
    }

    /// The state as of a sequence number (a `seq` beyond the head gives the
    /// head's state, 0 the empty ledger). See [`Engine::state_as_of_report`].
    pub fn state_as_of(&self, seq: u64) -> Result<Ledger, EngineError> {
        self.state_as_of_report(seq).map(|(ledger, _)| ledger)
    }

    /// [`Engine::state_as_of`] with how it was rebuilt: the newest stored
    /// snapshot at or below `seq` that passes its checks — a hot snapshot
    /// (state version 3) together with a read-only view of the cold runs
    /// written at or before its seq ([`crate::cold::ColdRuns::view_at`]), or
    /// a whole-state one (version 2) — else genesis; then the log replayed
    /// from there to `seq`. A snapshot that fails a check is skipped
    /// (named in `refused`, never deleted: this read writes nothing), and
    /// so is one whose cold runs cannot be told apart. Nothing of the
    /// rebuilt state is ever written: what the replay changes stays in the
    /// returned ledger's memory (at most the events between two kept
    /// snapshots, `docs/format.md`), and a cold read that fails is an error
    /// here or in the read that meets it (`Ledger::cold_failure`).
    pub fn state_as_of_report(&self, seq: u64) -> Result<(Ledger, OpenReport), EngineError> {
        let store = &self.inner.store;
        let target = seq.min(store.head().seq);
        let mut report = OpenReport::default();
        let started = std::time::Instant::now();
        let mut ledger = None;
        if target > 0 {
            for at in store.snapshot_seqs()? {
                if at > target {
                    continue;
                }
                match self.past_snapshot(at) {
                    Ok(l) => {
                        report.snapshot_seq = Some(at);
                        ledger = Some(l);
                        break;
                    }
                    Err(why) => report.refused.push((at, why)),
                }
            }
        }
        report.snapshot_micros = started.elapsed().as_micros() as u64;
        let started = std::time::Instant::now();
        let mut ledger = ledger.unwrap_or_default();
        if ledger.head_seq < target {
            replay_entries(store, ledger.head_seq + 1, |entry| {
                if entry.rec.seq > target {
                    return Ok(false);
                }
                ledger.apply(&entry.rec);
                report.replayed += 1;
                Ok(true)
            })?;
        }
        if let Some(why) = ledger.cold_failure() {
            return Err(EngineError::Corrupt { seq: ledger.head_seq, reason: why });
        }
        if ledger.head_seq != target {
            return Err(EngineError::Corrupt {
                seq: ledger.head_seq,
                reason: format!("the log ends at seq {} before the as-of seq {target}", ledger.head_seq),
            });
        }
        report.replay_micros = started.elapsed().as_micros() as u64;
        Ok((ledger, report))
    }

    /// The snapshot at `at` as the start of a past state, or why it cannot be.
    fn past_snapshot(&self, at: u64) -> Result<Ledger, String> {
        let store = &self.inner.store;
        let (_, bytes) = store.load_snapshot(at).map_err(|e| e.to_string())?;
        let view = match bytes.first().copied() {
            Some(snapshot::SNAPSHOT_STATE_VERSION) => None,
            Some(snapshot::HOT_STATE_VERSION) => Some(
                store.cold().view_at(at).ok_or_else(|| format!("the cold runs as of seq {at} cannot be told apart"))?,
            ),
            other => return Err(format!("unknown snapshot state version {other:?}")),
        };
        let mut ledger = snapshot::decode_state(&bytes)?;
        if ledger.head_seq != at {
            return Err(format!("its state is at seq {}", ledger.head_seq));
        }
        if let Some(view) = view {
            ledger.attach_cold(Arc::new(view));
        }
        Ok(ledger)
    }

    /// A full audit: checks every record's checksum and the hash chain,
    /// that every event decodes and posts balanced lines, replays the log
    /// from genesis into a fresh state and compares, by a digest over every
    /// field ([`snapshot::state_digest`]), that replay with each stored
    /// snapshot at its seq and with the live state at the head. The first
    /// failure is named by its seq (a damaged snapshot by the snapshot's).
    pub fn verify(&self) -> Result<VerifyReport, EngineError> {
        // the stored snapshots and runs are checked as written
        self.inner.cold_writer.wait()?;
        let head = self.inner.store.verify()?;
        let state = self.state();
        let mut snapshots: Vec<u64> = self.inner.store.snapshot_seqs()?;
        snapshots.retain(|s| *s <= head.seq);
        snapshots.sort_unstable();
        let mut next_snapshot = snapshots.iter().copied().peekable();
        let mismatch = |seq: u64, reason: String| EngineError::Mismatch { seq, reason };
        let check_snapshot = |seq: u64, fresh: &Ledger| -> Result<(), EngineError> {
            let (_, bytes) = self.inner.store.load_snapshot(seq).map_err(|e| mismatch(seq, e.to_string()))?;
            let expected = if bytes.first() == Some(&snapshot::HOT_STATE_VERSION) {
                snapshot::encode_hot(fresh)
            } else {
                snapshot::encode_state(fresh)
            }
            .map_err(|e| mismatch(seq, e))?;
            if bytes != expected {
                return Err(mismatch(seq, format!("the snapshot at seq {seq} differs from a replay to that seq")));
            }
            Ok(())
        };
        let mut fresh = Ledger::default();
        let mut records = 0;
        let mut payload_bytes = 0u64;
        replay_entries(&self.inner.store, 1, |entry| {
            let seq = entry.rec.seq;
            let lines = cardledger_domain::event::postings(&entry.rec.fact.event);
            if !lines.iter().map(|p| p.amount).sum::<cardledger_domain::money::Money>().is_zero() {
                return Err(EngineError::Mismatch { seq, reason: "postings do not sum to zero".into() });
            }
            fresh.apply(&entry.rec);
            records += 1;
            payload_bytes += u64::from(entry.payload_bytes);
            while next_snapshot.next_if(|s| *s <= seq).is_some_and(|s| s == seq) {
                check_snapshot(seq, &fresh)?;
            }
            Ok(true)
        })?;
        // the whole state: the hot part byte for byte, then every cold entry
        // (the store's, overridden by what is still in memory) against the
        // replay's, in key order; the digest covers both
        let at = fresh.head_seq;
        let hot = snapshot::encode_hot(&fresh).map_err(|e| mismatch(at, e))?;
        let live_hot = snapshot::encode_hot(&state).map_err(|e| mismatch(state.head_seq, e))?;
        if fresh.head_seq != state.head_seq || hot != live_hot {
            return Err(mismatch(at, "the live state differs from a fresh replay".into()));
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(&hot);
        let expected = fresh.cold_entries().map_err(|e| mismatch(at, e))?;
        let in_memory = state.cold_entries().map_err(|e| mismatch(at, e))?;
        let mut live_cold = MergeCold::new(self.inner.store.cold_entries(), in_memory.into_iter());
        for (k, v) in &expected {
            match live_cold.next().transpose()? {
                Some((lk, lv)) if lk == *k && lv == *v => {}
                Some((lk, _)) => {
                    let key = if lk == *k { k.clone() } else { k.clone().min(lk) };
                    return Err(mismatch(
                        at,
                        format!("the cold entry {} differs from a fresh replay", cold_key_text(&key)),
                    ));
                }
                None => return Err(mismatch(at, format!("the cold entry {} is missing", cold_key_text(k)))),
            }
            snapshot::digest_cold_entry(&mut hasher, k, v);
        }
        if let Some((k, _)) = live_cold.next().transpose()? {
            return Err(mismatch(at, format!("the cold entry {} is not in a fresh replay", cold_key_text(&k))));
        }
        let digest: [u8; 32] = *hasher.finalize().as_bytes();
        if !fresh.total().is_zero() {
            return Err(EngineError::Mismatch { seq: fresh.head_seq, reason: "accounts do not sum to zero".into() });
        }
        Ok(VerifyReport {
            records,
            head_hash: crate::record::hex(&head.hash),
            payload_bytes,
            state_digest: crate::record::hex(&digest),
            snapshots: snapshots.len() as u64,
        })
    }

    /// The underlying store (checkpoints, size on disk, test hooks).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Waits until the background cold write in flight (if any) is on
    /// disk; its failure, or an earlier one's, is the answer.
    pub fn wait_cold_write(&self) -> Result<(), EngineError> {
        self.inner.cold_writer.wait()
    }

    /// True while a background cold write has not finished.
    pub fn cold_write_in_flight(&self) -> bool {
        lock(&self.inner.cold_writer.running).as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Test hook: background cold writes wait before `step` until the
    /// returned guard is dropped (a flush's entries stay staged meanwhile).
    pub fn debug_hold_cold_writes(&self, step: ColdWriteStep) -> ColdWriteHold {
        lock(&self.inner.cold_writer.hold).at = Some(step);
        ColdWriteHold { writer: self.inner.cold_writer.clone() }
    }

    /// Test hook: the nice value the last background cold write (this
    /// engine's, or its open's) ran at, as its thread read it (`None`:
    /// none yet, or not Linux).
    pub fn debug_cold_writer_nice(&self) -> Option<i32> {
        *lock(&self.inner.cold_writer.ran_at_nice)
    }

    /// Test hook: waits up to `timeout` for a background cold write to wait
    /// at the hold; true if one does.
    pub fn debug_cold_write_held(&self, timeout: std::time::Duration) -> bool {
        let writer = &self.inner.cold_writer;
        wait_while_for(&writer.held, lock(&writer.hold), timeout, |h| !h.waiting).waiting
    }
}

impl Engine {
    /// The 1220 rejection of a command naming a program this engine does
    /// not serve ([`Engine::serve_only`]).
    fn not_served(&self, command: &Command) -> Option<Rejection> {
        let served = self.inner.served.get()?;
        let program = command.program_token()?;
        if served.iter().any(|p| p == program) {
            return None;
        }
        let key = command.key();
        let field = if key == "program" { "program.token".to_string() } else { format!("{key}.program_token") };
        Some(Rejection::new(
            Code::ProgramNotServed,
            field,
            format!("program {program:?} is not served by this host (it serves {})", served.join(", ")),
        ))
    }
}

/// The store's cold entries merged in key order with those still in memory
/// (which are newer: an equal key takes the memory's value).
struct MergeCold<A: Iterator, B: Iterator> {
    store: std::iter::Peekable<A>,
    memory: std::iter::Peekable<B>,
}

impl<A, B> MergeCold<A, B>
where
    A: Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>>,
    B: Iterator<Item = (Vec<u8>, Vec<u8>)>,
{
    fn new(store: A, memory: B) -> Self {
        MergeCold { store: store.peekable(), memory: memory.peekable() }
    }
}

impl<A, B> Iterator for MergeCold<A, B>
where
    A: Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>>,
    B: Iterator<Item = (Vec<u8>, Vec<u8>)>,
{
    type Item = Result<(Vec<u8>, Vec<u8>), EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        let order = match (self.store.peek(), self.memory.peek()) {
            (Some(Err(_)), _) => return self.store.next().map(|r| r.map_err(EngineError::from)),
            (Some(Ok((s, _))), Some((m, _))) => s.cmp(m),
            (Some(Ok(_)), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => return None,
        };
        match order {
            std::cmp::Ordering::Less => self.store.next().map(|r| r.map_err(EngineError::from)),
            std::cmp::Ordering::Greater => self.memory.next().map(Ok),
            std::cmp::Ordering::Equal => {
                self.store.next();
                self.memory.next().map(Ok)
            }
        }
    }
}

/// A cold key as text for messages: its prefix letter and the rest.
fn cold_key_text(k: &[u8]) -> String {
    match k.split_first() {
        Some((p, rest)) => format!("{}:{}", char::from(*p), String::from_utf8_lossy(rest).escape_debug()),
        None => "(empty)".into(),
    }
}

/// Records on their way to the frame encoder thread: their payloads back
/// to back in one buffer, so handing a record over allocates nothing on
/// either thread (the encoder empties each chunk and sends it back to be
/// filled again).
#[derive(Default)]
struct Chunk {
    /// Each record's time and payload length, in order.
    records: Vec<(i64, usize)>,
    /// The payloads, back to back.
    bytes: Vec<u8>,
}

impl Chunk {
    fn push(&mut self, time: i64, payload: &[u8]) {
        if self.records.capacity() == 0 {
            self.records.reserve(ENCODER_CHUNK_RECORDS);
            self.bytes.reserve(ENCODER_CHUNK_BYTES);
        }
        self.bytes.extend_from_slice(payload);
        self.records.push((time, payload.len()));
    }

    fn len(&self) -> usize {
        self.records.len()
    }

    fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn clear(&mut self) {
        self.records.clear();
        self.bytes.clear();
    }

    /// Pushes the chunk's records, in order, into `builder`.
    fn push_into(&self, builder: &mut FrameBuilder) -> Result<(), record::FrameError> {
        let mut rest = self.bytes.as_slice();
        for &(time, len) in &self.records {
            let Some((payload, tail)) = rest.split_at_checked(len) else {
                // `push` appends every length it records: never
                return Err(record::FrameError::Corrupt {
                    seq: builder.records(),
                    reason: "an encoder chunk ends inside a payload".into(),
                });
            };
            builder.push(time, payload)?;
            rest = tail;
        }
        Ok(())
    }
}

/// The rejection of a command whose records no longer fit its batch's append.
fn batch_full(key: &str) -> Rejection {
    Rejection::new(
        Code::BatchFull,
        key,
        format!(
            "the batch's records would exceed one append ({} records, {} bytes); submit the rest in another batch",
            limits::BATCH_RECORDS_MAX,
            limits::BATCH_BYTES_MAX
        ),
    )
}

/// Replays the log from `seq` to the head as of the call: reads, checks
/// (crc32 per record, the hash chain) and decodes the entries on a second
/// thread, `limits::REPLAY_CHUNK_EVENTS` at a time and at most
/// `limits::REPLAY_CHUNKS_IN_FLIGHT` chunks ahead, and hands each to
/// `apply` on this one, in log order. `apply` answers whether to go on.
/// Exactly as a loop over [`read_entries`]: the entries before a bad one
/// are applied, then its error (the same, naming the same seq) is returned;
/// an error of `apply` stops the reader and is returned.
///
/// The applier (this thread, the replay's critical path) only borrows the
/// entries: it sends each chunk it is done with back, and the reader drops
/// its entries and fills it again. The decoded facts' strings are then
/// freed by the thread that allocated them (a same-thread free, off the
/// applier) and no entry is moved out of its chunk.
fn replay_entries(
    store: &Store,
    seq: u64,
    mut apply: impl FnMut(&LogEntry) -> Result<bool, EngineError>,
) -> Result<(), EngineError> {
    type Chunk = Vec<Result<LogEntry, EngineError>>;
    let chunk_events = limits::REPLAY_CHUNK_EVENTS;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(limits::REPLAY_CHUNKS_IN_FLIGHT);
        let (back_tx, back_rx) = std::sync::mpsc::channel::<Chunk>();
        let spawned = std::thread::Builder::new().name("cardledger-replay-reader".into()).spawn_scoped(s, move || {
            let mut chunk = Vec::with_capacity(chunk_events);
            let mut records = store.read_from(seq.max(1));
            loop {
                // decoded straight into the chunk's push, from where the
                // record was read (a fact is moved through no `Option`
                // or `Result` around it: each would be a copy of it)
                match records.next_with(|r| chunk.push(log_entry(r))) {
                    Some(Ok(())) => {}
                    Some(Err(e)) => chunk.push(Err(e.into())),
                    None => break,
                }
                let failed = chunk.last().is_some_and(Result::is_err);
                if failed || chunk.len() >= chunk_events {
                    // a chunk the applier is done with, its entries dropped
                    // here (one a chunk sent: no more are ever made than
                    // are in flight, being filled and being applied)
                    let next = back_rx.try_recv().map_or_else(
                        |_| Vec::with_capacity(chunk_events),
                        |mut done| {
                            done.clear();
                            done
                        },
                    );
                    let full = std::mem::replace(&mut chunk, next);
                    // a closed channel: the applier stopped (its answer says
                    // why); after a bad entry the read is over
                    if tx.send(full).is_err() || failed {
                        return;
                    }
                }
            }
            if !chunk.is_empty() {
                let _ = tx.send(chunk);
            }
        });
        if spawned.is_err() {
            // no second thread: the same replay, inline
            for entry in read_entries(store, seq) {
                if !apply(&entry?)? {
                    break;
                }
            }
            return Ok(());
        }
        // returning drops the receiver: a reader blocked on a full channel
        // sees it closed and ends, and the scope joins it
        for chunk in rx {
            for entry in &chunk {
                match entry {
                    Ok(entry) if apply(entry)? => {}
                    Ok(_) => return Ok(()),
                    Err(e) => return Err(e.clone()),
                }
            }
            // the reader gone (it read the last entry): dropped here
            let _ = back_tx.send(chunk);
        }
        Ok(())
    })
}

/// Reads and decodes log entries from `seq`: each payload decoded where
/// the reader read it ([`crate::store::ReadIter::next_with`]: not copied first).
fn read_entries(store: &Store, seq: u64) -> impl Iterator<Item = Result<LogEntry, EngineError>> {
    let mut records = store.read_from(seq.max(1));
    std::iter::from_fn(move || records.next_with(log_entry).map(|r| r.map_err(EngineError::from).and_then(|e| e)))
}

/// A record read, decoded. The entry is built in one expression around
/// the decoded fact (a fact is ≈ 500 bytes: each value built around it in
/// turn would be one more copy of it).
#[inline]
fn log_entry(r: RecordRef<'_>) -> Result<LogEntry, EngineError> {
    decode_fact_with(
        r.payload,
        |fact| {
            Ok(LogEntry {
                rec: Recorded { seq: r.seq, time: Timestamp(r.time_micros), fact },
                hash: r.hash,
                payload_bytes: u32::try_from(r.payload.len()).unwrap_or(u32::MAX),
            })
        },
        |reason| Err(EngineError::Corrupt { seq: r.seq, reason }),
    )
}

/// Test helper: submits the lines `cardledger_workload` generates for
/// `config`, `chunk` at a time (the unit tests' workload-made stores).
#[cfg(test)]
pub(crate) fn submit_workload(engine: &Engine, config: &cardledger_workload::WorkloadConfig, chunk: usize) {
    let all: Vec<String> = cardledger_workload::generate(config).collect();
    for lines in all.chunks(chunk) {
        let lines = lines.iter().map(|s| cardledger_domain::wire::parse_line(s).expect("a generated line parses"));
        engine.submit_batch(lines.collect()).expect("a generated batch is submitted");
    }
}
