//! The engine: decides commands against the ledger state, appends the
//! accepted events to the log in batches, and acknowledges them only after
//! the batch is flushed. Many concurrent submitters share one flush (group
//! commit): the first submitter to find no commit in progress becomes the
//! leader, commits everything queued (in arrival order, up to the batch
//! limit) with one flush, answers it, and hands leadership to the oldest
//! waiting submitter, so no caller leads forever under sustained load.
//! Before taking its group a new leader waits (yielding, at most 1 ms) until
//! as many requests are queued as the last group took, so that submitters
//! answered together flush together again; a lone submitter never waits.
//! A hand-off is a flag in the waiter's slot, set under its lock, so it is
//! never lost and waiters need not poll.
//!
//! Readers take the state's read lock. The leader holds the write lock from
//! deciding a group until its flush returns, so a reader never sees a
//! decided-but-not-durable event, nor part of a batch.
//!
//! A large group (≥ 256 commands) has its frames (crc32, hash chain) built
//! on a scoped second thread while the leader is still deciding it; the
//! frames are appended with one atomic batch and one flush as before.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard};

use cardledger_domain::event::{Fact, Recorded};
use cardledger_domain::limits;
use cardledger_domain::rejection::{Code, Rejection};
use cardledger_domain::response;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::Timestamp;
use cardledger_domain::{command::CommandLine, decode_fact, encode_fact, snapshot};
use serde_json::Value;

use crate::lock;
use crate::record::{FrameBuilder, Hash};
use crate::store::{Store, StoreError, Subscription};

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
    /// A batch larger than `BATCH_EVENTS_MAX` commands.
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
        /// The source-page response.
        response: serde_json::Value,
    },
    /// Already recorded at `seq` with the same payload: the original result.
    Duplicate {
        /// Sequence number of the original.
        seq: u64,
        /// The command key.
        command: &'static str,
        /// The token.
        token: String,
        /// The original response.
        response: serde_json::Value,
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
    /// How the last open rebuilt the state.
    opened: OpenReport,
}

/// How [`Engine::open`] rebuilt the state: from which snapshot, how many
/// events it replayed, and which snapshots it refused (and why).
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
        if *lock(&self.poisoned) {
            return;
        }
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        if state.head_seq > *lock(&self.snapshot_seq) {
            // a failure here leaves the previous snapshot (or none): open replays more
            let _ = write_snapshot(&self.store, &state, &self.snapshot_seq);
        }
    }
}

/// Encodes `state` (which must be at the store's durable head) and saves it
/// as a snapshot. A state too large to snapshot is skipped (`Ok(false)`).
fn write_snapshot(store: &Store, state: &Ledger, snapshot_seq: &Mutex<u64>) -> Result<bool, EngineError> {
    let head = store.head();
    if state.head_seq != head.seq {
        return Err(EngineError::Mismatch {
            seq: state.head_seq,
            reason: format!("a snapshot of state at seq {} with the log at seq {}", state.head_seq, head.seq),
        });
    }
    if !store.save_snapshot_with(head, |out| snapshot::encode_state_to(state, out))? {
        return Ok(false);
    }
    *lock(snapshot_seq) = head.seq;
    Ok(true)
}

#[derive(Default)]
struct Queue {
    requests: Vec<Request>,
    leader_active: bool,
    /// Requests the last group took (see [`Engine::gather`]).
    last_group: usize,
}

struct Request {
    lines: Vec<(CommandLine, Timestamp)>,
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
    result: Option<Result<Vec<Outcome>, EngineError>>,
    /// The last leader handed leadership to it.
    lead: bool,
}

use limits::{ENCODER_CHUNK_RECORDS, ENCODER_THREAD_LINES_MIN, GATHER_WAIT_MICROS, LEADER_HANDOFF_WAIT_MS};

/// Longest a new leader waits for the last group's submitters to queue
/// again before it commits what is queued.
const GATHER_WAIT: std::time::Duration = std::time::Duration::from_micros(GATHER_WAIT_MICROS);

/// How long a waiting submitter sleeps before checking whether it should lead.
const LEADER_HANDOFF_WAIT: std::time::Duration = std::time::Duration::from_millis(LEADER_HANDOFF_WAIT_MS);

impl Engine {
    /// Opens (or creates) the data directory and rebuilds the state by
    /// replaying the log.
    pub fn open(dir: &Path) -> Result<Engine, EngineError> {
        let store = Store::open(dir)?;
        let mut report = OpenReport::default();
        let started = std::time::Instant::now();
        let mut ledger = None;
        for seq in store.snapshot_seqs()? {
            let loaded =
                store
                    .load_snapshot(seq)
                    .map_err(|e| e.to_string())
                    .and_then(|(_, bytes)| snapshot::decode_state(&bytes))
                    .and_then(|l| {
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
        // a refused snapshot is a damaged cache entry: drop it, so the next
        // snapshot does not keep it as the fallback and verify passes again
        for (seq, _) in &report.refused {
            store.delete_snapshot(*seq)?;
        }
        report.snapshot_micros = started.elapsed().as_micros() as u64;
        let started = std::time::Instant::now();
        let mut ledger = ledger.unwrap_or_default();
        for entry in read_entries(&store, ledger.head_seq + 1) {
            ledger.apply(&entry?.rec);
            report.replayed += 1;
        }
        report.replay_micros = started.elapsed().as_micros() as u64;
        Ok(Engine {
            inner: Arc::new(Inner {
                store,
                state: RwLock::new(ledger),
                queue: Mutex::new(Queue::default()),
                poisoned: Mutex::new(false),
                snapshot_seq: Mutex::new(report.snapshot_seq.unwrap_or(0)),
                opened: report,
            }),
        })
    }

    /// How the last [`Engine::open`] rebuilt the state.
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.opened
    }

    /// Writes a snapshot of the state at the durable head now (also done
    /// every `SNAPSHOT_INTERVAL_EVENTS` events and at a clean close); returns
    /// its seq, or `None` when there is nothing new to snapshot or the state
    /// is larger than `SNAPSHOT_STATE_BYTES_MAX`.
    pub fn snapshot(&self) -> Result<Option<u64>, EngineError> {
        if *lock(&self.inner.poisoned) {
            return Err(EngineError::Poisoned);
        }
        let state = self.state();
        if state.head_seq == 0 || state.head_seq == *lock(&self.inner.snapshot_seq) {
            return Ok(None);
        }
        Ok(write_snapshot(&self.inner.store, &state, &self.inner.snapshot_seq)?.then_some(state.head_seq))
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
        self.enqueue(lines, true)
    }

    /// Like [`Engine::submit_batch`] but answers only sequence numbers and
    /// rejections: for bulk loaders that do not need the JSON responses
    /// (rendering them costs more than deciding and recording). A response
    /// can be fetched later with [`Engine::get`].
    pub fn submit_batch_acks(&self, lines: Vec<CommandLine>) -> Result<Vec<Ack>, EngineError> {
        Ok(self
            .enqueue(lines, false)?
            .into_iter()
            .map(|o| match o {
                Outcome::Recorded { seq, .. } => Ack::Recorded(seq),
                Outcome::Duplicate { seq, .. } => Ack::Duplicate(seq),
                Outcome::Rejected(r) => Ack::Rejected(r),
            })
            .collect())
    }

    fn enqueue(&self, lines: Vec<CommandLine>, render: bool) -> Result<Vec<Outcome>, EngineError> {
        if lines.len() > limits::BATCH_EVENTS_MAX {
            return Err(EngineError::BatchTooLarge { max: limits::BATCH_EVENTS_MAX, got: lines.len() });
        }
        let now = Timestamp::now();
        let lines = lines
            .into_iter()
            .map(|l| {
                let time = l.time.unwrap_or(now);
                (l, time)
            })
            .collect();
        let slot = Arc::new(Slot::default());
        let lead = {
            let mut q = lock(&self.inner.queue);
            q.requests.push(Request { lines, render, slot: slot.clone() });
            !std::mem::replace(&mut q.leader_active, true)
        };
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
    /// batch limit), answers it, then hands leadership to the oldest waiting
    /// submitter, so no caller leads forever under sustained load.
    fn lead_one_group(&self) {
        self.gather();
        let group = {
            let mut q = lock(&self.inner.queue);
            let mut total = 0;
            let mut n = 0;
            for r in &q.requests {
                if n > 0 && total + r.lines.len() > limits::BATCH_EVENTS_MAX {
                    break;
                }
                total += r.lines.len();
                n += 1;
            }
            q.last_group = n;
            q.requests.drain(..n).collect::<Vec<_>>()
        };
        let results = self.commit_group(&group);
        for (req, res) in group.iter().zip(results) {
            lock(&req.slot.state).result = Some(res);
            req.slot.ready.notify_all();
        }
        let next = {
            let mut q = lock(&self.inner.queue);
            q.leader_active = false;
            q.requests.first().map(|r| r.slot.clone())
        };
        if let Some(next) = next {
            // wake the oldest waiter so it takes over at once (if a new
            // submitter took leadership first, it finds that and waits again)
            lock(&next.state).lead = true;
            next.ready.notify_all();
        }
    }

    /// Gives the submitters answered by the last group a moment to queue
    /// their next commands, so that they share the next flush instead of
    /// following one or two early ones in a flush of their own: waits (yielding
    /// the core) until as many requests are queued as the last group had, at
    /// most [`GATHER_WAIT`]. A lone submitter (last group of one) never waits.
    fn gather(&self) {
        let start = std::time::Instant::now();
        loop {
            let (queued, wanted) = {
                let q = lock(&self.inner.queue);
                (q.requests.len(), q.last_group)
            };
            if queued >= wanted || start.elapsed() >= GATHER_WAIT {
                return;
            }
            std::thread::yield_now();
        }
    }

    /// Decides, applies and records one group under the state's write lock,
    /// and answers it only after its batch is flushed. The records' frames
    /// (crc32, hash chain) are encoded while the group is still being
    /// decided: on a second thread for large groups, inline for small ones.
    fn commit_group(&self, group: &[Request]) -> Vec<Result<Vec<Outcome>, EngineError>> {
        let fail = |e: EngineError| group.iter().map(|_| Err(e.clone())).collect();
        if *lock(&self.inner.poisoned) {
            return fail(EngineError::Poisoned);
        }
        let mut state = self.inner.state.write().unwrap_or_else(|p| p.into_inner());
        let base = self.inner.store.head();
        let lines: usize = group.iter().map(|r| r.lines.len()).sum();
        let decided = if lines >= ENCODER_THREAD_LINES_MIN {
            std::thread::scope(|s| {
                let (tx, rx) = std::sync::mpsc::channel::<Vec<(i64, Vec<u8>)>>();
                let spawned =
                    std::thread::Builder::new().name("cardledger-encoder".into()).spawn_scoped(s, move || {
                        let mut builder = FrameBuilder::new(base);
                        for chunk in rx {
                            for (time, payload) in chunk {
                                builder.push(time, &payload)?;
                            }
                        }
                        Ok(builder.finish())
                    });
                // nothing is decided yet: a thread that cannot start fails the
                // group without leaving the state ahead of the disk
                let Ok(encoder) = spawned else { return Ok(None) };
                let mut pending = Vec::with_capacity(ENCODER_CHUNK_RECORDS);
                let outcomes = self.decide_group(&mut state, group, &mut |time, payload| {
                    pending.push((time, payload));
                    if pending.len() >= ENCODER_CHUNK_RECORDS {
                        // a closed channel means the encoder failed: its join says why
                        let _ = tx.send(std::mem::replace(&mut pending, Vec::with_capacity(ENCODER_CHUNK_RECORDS)));
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
            let mut builder = FrameBuilder::new(base);
            let mut failed = None;
            let outcomes = self.decide_group(&mut state, group, &mut |time, payload| {
                if let (None, Err(e)) = (&failed, builder.push(time, &payload)) {
                    failed = Some(StoreError::from(e));
                }
            });
            outcomes.map(|o| Some((o, failed.map_or_else(|| Ok(builder.finish()), Err))))
        };
        // any failure from here on leaves the state ahead of the disk (earlier
        // commands of the group are applied): stop until reopened
        let (outcomes, encoded) = match decided {
            Ok(Some(d)) => d,
            Ok(None) => {
                return fail(EngineError::Store(StoreError::Io("could not start the frame encoder thread".into())))
            }
            Err(e) => {
                *lock(&self.inner.poisoned) = true;
                return fail(e);
            }
        };
        if let Err(e) = encoded.and_then(|batch| self.inner.store.append_encoded(batch)) {
            *lock(&self.inner.poisoned) = true;
            return fail(EngineError::Store(e));
        }
        let last = *lock(&self.inner.snapshot_seq);
        // at least SNAPSHOT_INTERVAL_EVENTS apart, and at least half the log:
        // the state (so a snapshot) still grows with history, and this keeps
        // the cost of writing snapshots a constant per event
        if state.head_seq >= last.saturating_add(limits::SNAPSHOT_INTERVAL_EVENTS.max(last)) {
            // the batch is durable; a failed snapshot write is a storage
            // failure all the same: stop, and answer the group with it
            if let Err(e) = write_snapshot(&self.inner.store, &state, &self.inner.snapshot_seq) {
                *lock(&self.inner.poisoned) = true;
                return fail(e);
            }
        }
        drop(state);
        outcomes.into_iter().map(Ok).collect()
    }

    /// Decides and applies every command of a group in order, handing each
    /// accepted event's time and encoded payload to `record`.
    fn decide_group(
        &self,
        state: &mut Ledger,
        group: &[Request],
        record: &mut dyn FnMut(i64, Vec<u8>),
    ) -> Result<Vec<Vec<Outcome>>, EngineError> {
        let first_new = state.head_seq + 1;
        let mut new: Vec<Recorded> = Vec::with_capacity(group.iter().map(|r| r.lines.len()).sum());
        let mut outcomes: Vec<Vec<Outcome>> = Vec::with_capacity(group.len());
        for req in group {
            let mut out = Vec::with_capacity(req.lines.len());
            for (line, time) in &req.lines {
                let key = line.command.key();
                // bulk loaders (no rendering) get acks only: skip the token copy
                let token = if req.render { line.command.token().unwrap_or("").to_string() } else { String::new() };
                match state.decide(line, *time) {
                    // encoded before it is applied: an event that would not
                    // decode again (over EVENT_BYTES_MAX) is refused unwritten
                    Decision::Accept(fact) => match encode_fact(&fact) {
                        Err(e) => out.push(Outcome::Rejected(Rejection::new(Code::EventTooLarge, key, e))),
                        Ok(payload) => {
                            let rec = Recorded { seq: state.head_seq + 1, time: *time, fact };
                            state.apply(&rec);
                            let response = if req.render { response::response(&rec, state) } else { Value::Null };
                            out.push(Outcome::Recorded { seq: rec.seq, command: key, token, response });
                            record(rec.time.0, payload);
                            new.push(rec);
                        }
                    },
                    // a tick closing statement cycles: every fact in this group's
                    // batch, the answer being the last one's (its `Ticked`)
                    Decision::AcceptAll(facts) => {
                        let payloads: Result<Vec<Vec<u8>>, String> = facts.iter().map(encode_fact).collect();
                        let payloads = match payloads {
                            Ok(p) => p,
                            Err(e) => {
                                out.push(Outcome::Rejected(Rejection::new(Code::EventTooLarge, key, e)));
                                continue;
                            }
                        };
                        let mut response = Value::Null;
                        for (fact, payload) in facts.into_iter().zip(payloads) {
                            let rec = Recorded { seq: state.head_seq + 1, time: *time, fact };
                            state.apply(&rec);
                            if req.render {
                                response = response::response(&rec, state);
                            }
                            record(rec.time.0, payload);
                            new.push(rec);
                        }
                        out.push(Outcome::Recorded { seq: state.head_seq, command: key, token, response });
                    }
                    Decision::Duplicate(seq) if !req.render => {
                        out.push(Outcome::Duplicate { seq, command: key, token, response: Value::Null })
                    }
                    Decision::Duplicate(seq) => {
                        let original = if seq >= first_new {
                            new.get((seq - first_new) as usize).map(|r| Ok(r.clone()))
                        } else {
                            read_entries(&self.inner.store, seq).next().map(|e| e.map(|e| e.rec))
                        };
                        match original {
                            Some(Ok(rec)) => {
                                let response = response::response(&rec, state);
                                out.push(Outcome::Duplicate { seq, command: key, token, response })
                            }
                            Some(Err(e)) => return Err(e),
                            None => {
                                return Err(EngineError::Corrupt { seq, reason: "recorded event not found".into() })
                            }
                        }
                    }
                    Decision::Reject(r) => out.push(Outcome::Rejected(r)),
                }
            }
            outcomes.push(out);
        }
        Ok(outcomes)
    }

    /// Read access to the current (durable) state. Hold it briefly: the
    /// writer waits for readers only to start its next group.
    pub fn state(&self) -> RwLockReadGuard<'_, Ledger> {
        self.inner.state.read().unwrap_or_else(|p| p.into_inner())
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

    /// The state as of a sequence number: the newest stored snapshot at or
    /// below `seq` that passes its checks (else genesis), then the log
    /// replayed up to `seq`. A `seq` beyond the head gives the head's state.
    pub fn state_as_of(&self, seq: u64) -> Result<Ledger, EngineError> {
        let mut ledger = Ledger::default();
        for at in self.inner.store.snapshot_seqs()? {
            if at > seq {
                continue;
            }
            // a snapshot that fails a check is skipped, as open does
            let loaded = self.inner.store.load_snapshot(at).ok().and_then(|(_, b)| snapshot::decode_state(&b).ok());
            if let Some(l) = loaded.filter(|l| l.head_seq == at) {
                ledger = l;
                break;
            }
        }
        for entry in read_entries(&self.inner.store, ledger.head_seq + 1) {
            let entry = entry?;
            if entry.rec.seq > seq {
                break;
            }
            ledger.apply(&entry.rec);
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
        let head = self.inner.store.verify()?;
        let state = self.state();
        let mut snapshots: Vec<u64> = self.inner.store.snapshot_seqs()?;
        snapshots.retain(|s| *s <= head.seq);
        snapshots.sort_unstable();
        let mut next_snapshot = snapshots.iter().copied().peekable();
        let mismatch = |seq: u64, reason: String| EngineError::Mismatch { seq, reason };
        let check_snapshot = |seq: u64, fresh: &Ledger| -> Result<(), EngineError> {
            let (_, bytes) = self.inner.store.load_snapshot(seq).map_err(|e| mismatch(seq, e.to_string()))?;
            let expected = snapshot::encode_state(fresh).map_err(|e| mismatch(seq, e))?;
            if bytes != expected {
                return Err(mismatch(seq, format!("the snapshot at seq {seq} differs from a replay to that seq")));
            }
            Ok(())
        };
        let mut fresh = Ledger::default();
        let mut records = 0;
        let mut payload_bytes = 0u64;
        for entry in read_entries(&self.inner.store, 1) {
            let entry = entry?;
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
        }
        let digest = snapshot::state_digest(&fresh).map_err(|e| mismatch(fresh.head_seq, e))?;
        let live = snapshot::state_digest(&state).map_err(|e| mismatch(state.head_seq, e))?;
        if fresh.head_seq != state.head_seq || digest != live {
            return Err(EngineError::Mismatch {
                seq: fresh.head_seq,
                reason: "the live state differs from a fresh replay".into(),
            });
        }
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
}

/// Reads and decodes log entries from `seq`.
fn read_entries(store: &Store, seq: u64) -> impl Iterator<Item = Result<LogEntry, EngineError>> {
    store.read_from(seq.max(1)).map(|r| {
        let r = r?;
        let fact: Fact = decode_fact(&r.payload).map_err(|reason| EngineError::Corrupt { seq: r.seq, reason })?;
        let payload_bytes = u32::try_from(r.payload.len()).unwrap_or(u32::MAX);
        Ok(LogEntry { rec: Recorded { seq: r.seq, time: Timestamp(r.time_micros), fact }, hash: r.hash, payload_bytes })
    })
}
