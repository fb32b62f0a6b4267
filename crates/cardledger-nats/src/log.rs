//! `Cluster` (a connection and its runtime) and `JetStreamLog` (one
//! program's stream): append a group commit as one atomic batch at the
//! expected last message, read and subscribe with the chain verified.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::header::{
    NATS_BATCH_COMMIT, NATS_BATCH_ID, NATS_BATCH_SEQUENCE, NATS_EXPECTED_LAST_SEQUENCE, NATS_MESSAGE_ID,
};
use async_nats::jetstream::{self, consumer, stream};
use async_nats::{HeaderMap, ServerAddr};
use cardledger_core::record::{
    hex, EncodedBatch, FrameBuilder, FrameFill, Head, NewRecord, StoredRecord, FRAME_BYTES_MAX, FRAME_HEADER_BYTES,
};
use cardledger_core::store::StoreError;
use cardledger_domain::limits::{
    NATS_APPEND_SETTLE_MILLIS_MAX, NATS_BATCH_FRAMES_MAX, NATS_FRAME_FILL_BYTES, NATS_HEADER_BYTES_MAX,
    NATS_PROGRAM_BYTES_MAX, NATS_READ_RETRY_MILLIS_MAX,
};
use futures_util::StreamExt;

use crate::chain::ChainCheck;
use crate::error::NatsLogError;

/// The JetStream error code of a refused `Nats-Expected-Last-Sequence`.
const WRONG_LAST_SEQUENCE: u64 = 10071;
/// The JetStream error code of an atomic batch carrying a `Nats-Msg-Id`
/// the server has seen in its duplicate window: the retry of a batch that
/// may have been stored meanwhile, settled by reading the stream back.
const BATCH_DUPLICATE_MESSAGE_ID: u64 = 10201;
/// The JetStream error code (409, "duplicate message id is in process") of
/// a message whose `Nats-Msg-Id` the server is still storing: the retry of
/// a batch whose first try timed out while the server was slow (seen under
/// 4 streams × 5M records on loopback). Its outcome is unknown: settled by
/// reading the stream back, like a timeout.
const DUPLICATE_MESSAGE_ID_IN_PROCESS: u64 = 10158;
/// JetStream error codes of an atomic batch the server abandoned without
/// storing any of it (a message missing, the batch unknown to a new leader,
/// too many batches in flight): settled by reading back, then published
/// again.
const BATCH_ABANDONED: [u64; 3] = [10175, 10176, 10210];
/// How long one request (a batch's first or commit message, a stream
/// info, a message get) may take before its outcome counts as unknown.
/// A lost leader shows as this timeout, so it bounds the failover time
/// with the election; an acknowledged batch of 8,192 records takes ~17 ms.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// How many messages a read fetches from the leader at once.
const READ_WINDOW: u64 = 32;

/// The pauses between tries of a request the next leader may answer: 50 ms,
/// doubling up to 500 ms, until a deadline.
struct Retry {
    deadline: Instant,
    pause: Duration,
}

impl Retry {
    fn for_millis(millis: u64) -> Retry {
        Retry { deadline: Instant::now() + Duration::from_millis(millis), pause: Duration::from_millis(50) }
    }

    fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    async fn pause(&mut self) {
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(Duration::from_millis(500));
    }
}

/// Runs `read` again while it fails `Unavailable` (a 503 while the stream
/// elects a leader, a request timeout), for up to
/// `NATS_READ_RETRY_MILLIS_MAX`; then its last error is the answer. Any
/// other answer (records, `Corrupt`) is final at once. Reads change
/// nothing, so a retry is always safe.
async fn retrying<T, F, Fut>(mut read: F) -> Result<T, NatsLogError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, NatsLogError>>,
{
    let mut retry = Retry::for_millis(NATS_READ_RETRY_MILLIS_MAX);
    loop {
        match read().await {
            Err(NatsLogError::Unavailable(reason)) if retry.expired() => {
                return Err(NatsLogError::Unavailable(format!(
                    "{reason} (still so after {NATS_READ_RETRY_MILLIS_MAX} ms of retries)"
                )))
            }
            Err(NatsLogError::Unavailable(_)) => retry.pause().await,
            answer => return answer,
        }
    }
}

/// A connection to a JetStream cluster and the runtime that drives it;
/// cheap to clone, shared by the logs of all the programs a host serves.
#[derive(Clone, Debug)]
pub struct Cluster {
    rt: Arc<tokio::runtime::Runtime>,
    client: async_nats::Client,
    js: jetstream::Context,
}

/// Parses `nats://HOST:PORT[,HOST:PORT…]` (each part may repeat the
/// scheme) into server addresses.
pub fn parse_urls(urls: &str) -> Result<Vec<ServerAddr>, NatsLogError> {
    let bad = |reason: String| NatsLogError::InvalidUrl { reason };
    let rest = urls.strip_prefix("nats://").ok_or_else(|| bad(format!("{urls:?} does not start with nats://")))?;
    let mut out = Vec::new();
    for part in rest.split(',') {
        let part = part.trim();
        let part = part.strip_prefix("nats://").unwrap_or(part);
        if part.is_empty() || part.contains('/') || !part.contains(':') {
            return Err(bad(format!("{part:?} is not HOST:PORT")));
        }
        out.push(format!("nats://{part}").parse::<ServerAddr>().map_err(|e| bad(format!("{part:?}: {e}")))?);
    }
    Ok(out)
}

/// The stream and subject of a program, after checking that the token can
/// name them: `cardledger-<program>`, `cardledger.<program>`.
pub fn stream_names(program: &str) -> Result<(String, String), NatsLogError> {
    let bad = |reason: String| NatsLogError::InvalidProgram { reason };
    if program.is_empty() || program.len() > NATS_PROGRAM_BYTES_MAX {
        return Err(bad(format!("a program token naming a stream has 1..={NATS_PROGRAM_BYTES_MAX} bytes")));
    }
    if let Some(c) = program.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        return Err(bad(format!("{program:?} holds {c:?}; a stream's program token holds only A-Z a-z 0-9 - _")));
    }
    Ok((format!("cardledger-{program}"), format!("cardledger.{program}")))
}

impl Cluster {
    /// Connects to the cluster at `urls` (`nats://HOST:PORT[,HOST:PORT…]`),
    /// on a runtime of its own with `worker_threads` threads.
    pub fn connect(urls: &str, worker_threads: usize) -> Result<Cluster, NatsLogError> {
        let addrs = parse_urls(urls)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads.max(1))
            .enable_all()
            .build()
            .map_err(|e| NatsLogError::Unavailable(format!("runtime: {e}")))?;
        let client = rt
            .block_on(
                async_nats::ConnectOptions::new()
                    .request_timeout(Some(REQUEST_TIMEOUT))
                    .connection_timeout(Duration::from_secs(5))
                    .connect(addrs),
            )
            .map_err(|e| NatsLogError::Unavailable(format!("connect {urls}: {e}")))?;
        // the context spawns its acker task: inside the runtime
        let js = {
            let _inside = rt.enter();
            jetstream::new(client.clone())
        };
        Ok(Cluster { rt: Arc::new(rt), client, js })
    }

    /// Opens (creating it when absent: `replicas` replicas, file storage,
    /// atomic batches allowed) the stream of `program` and loads its head.
    pub fn open_log(&self, program: &str, replicas: usize) -> Result<JetStreamLog, NatsLogError> {
        let (stream, subject) = stream_names(program)?;
        let config = stream::Config {
            name: stream.clone(),
            subjects: vec![subject.clone()],
            num_replicas: replicas,
            storage: stream::StorageType::File,
            allow_atomic_publish: true,
            allow_direct: true,
            deny_delete: true,
            deny_purge: true,
            max_message_size: i32::try_from(FRAME_BYTES_MAX).unwrap_or(i32::MAX),
            ..Default::default()
        };
        let js = self.js.clone();
        // a cluster still electing its meta leader answers with an error:
        // retried for a while, then the last error is the answer
        let handle = self.rt.block_on(async move {
            let mut retry = Retry::for_millis(NATS_APPEND_SETTLE_MILLIS_MAX);
            loop {
                match js.get_or_create_stream(config.clone()).await {
                    Ok(s) => return Ok(s),
                    Err(e) if retry.expired() => {
                        return Err(NatsLogError::Unavailable(format!("create stream {}: {e}", config.name)))
                    }
                    Err(_) => retry.pause().await,
                }
            }
        })?;
        let cfg = &handle.cached_info().config;
        if !cfg.allow_atomic_publish || cfg.subjects != vec![subject.clone()] {
            return Err(NatsLogError::InvalidProgram {
                reason: format!("stream {stream} exists without atomic batches or with other subjects than {subject}"),
            });
        }
        let room = self.message_room(cfg.max_message_size);
        let fill = FrameFill::new(NATS_FRAME_FILL_BYTES.min(room)).map_err(|_| NatsLogError::TooLarge {
            what: "the cluster's max_payload or the stream's max_message_size must carry a frame header and a record, bytes",
            limit: (FRAME_HEADER_BYTES + NATS_HEADER_BYTES_MAX) as u64,
        })?;
        let log = JetStreamLog {
            cluster: self.clone(),
            stream,
            subject,
            handle,
            tip: Arc::new(Mutex::new(Tip { messages: 0, head: Head::GENESIS })),
            fill,
        };
        log.reload()?;
        Ok(log)
    }

    /// The most record bytes one frame may hold so that its message fits
    /// the cluster's `max_payload` (headers included) and the stream's
    /// `max_message_size` (payload only; below 1 is no limit).
    fn message_room(&self, max_message_size: i32) -> usize {
        message_room(self.client.max_payload(), max_message_size)
    }

    /// Runs `f` on the runtime, giving up after the settle limit.
    fn block_on_deadline<T, F>(&self, f: F) -> Result<T, NatsLogError>
    where
        F: std::future::Future<Output = Result<T, NatsLogError>>,
    {
        self.rt
            .block_on(async { tokio::time::timeout(Duration::from_millis(NATS_APPEND_SETTLE_MILLIS_MAX), f).await })
            .map_err(|_| NatsLogError::Unavailable(format!("no answer in {NATS_APPEND_SETTLE_MILLIS_MAX} ms")))?
    }

    /// The client (for tests and tools: stream info, leader step-down).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Runs a future on the cluster's runtime (for tests and tools).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

/// Where this writer believes the stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tip {
    /// The stream's last message sequence (frames so far).
    messages: u64,
    /// The last record's seq and chain hash.
    head: Head,
}

/// One program's log on its stream. Appends are serialized (a mutex over
/// the tip); reads and subscriptions are independent.
#[derive(Clone, Debug)]
pub struct JetStreamLog {
    cluster: Cluster,
    stream: String,
    subject: String,
    handle: stream::Stream,
    tip: Arc<Mutex<Tip>>,
    /// Where this log's batches close a frame: `NATS_FRAME_FILL_BYTES`, or
    /// less when the cluster carries less.
    fill: FrameFill,
}

/// How one publish attempt of a batch ended.
enum Attempt {
    /// Committed: the ack's last sequence and message count.
    Acked { last: u64, count: u64 },
    /// Refused by the expected-last-sequence check.
    WrongLast,
    /// Not known (timeout, no responders, connection lost): settle by reading.
    Unknown(String),
}

/// What the stream holds after an attempt whose outcome is unknown.
enum Settled {
    /// Exactly this batch after the expected message.
    Ours,
    /// Nothing after the expected message: safe to publish again.
    Absent,
    /// Other messages: another writer.
    Other(u64),
    /// The stream info names a last message before the expected one: a
    /// lagging replica answered (no leader), or acknowledged messages are
    /// lost. Retried; lasting past the settle limit, it is `Corrupt`.
    Behind(u64),
}

fn lock(m: &Mutex<Tip>) -> std::sync::MutexGuard<'_, Tip> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl JetStreamLog {
    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The record bytes at which this log's batches close a frame.
    pub fn frame_fill(&self) -> FrameFill {
        self.fill
    }

    /// This log closing its batches' frames at `fill` instead (a bench
    /// comparing fills, a test): refused (`TooLarge`) when a frame of that
    /// fill would not fit the cluster's `max_payload` or the stream's
    /// `max_message_size`.
    pub fn with_frame_fill(mut self, fill: FrameFill) -> Result<JetStreamLog, NatsLogError> {
        let room = self.cluster.message_room(self.handle.cached_info().config.max_message_size);
        if fill.bytes() > room {
            return Err(NatsLogError::TooLarge { what: "frame fill bytes for this cluster", limit: room as u64 });
        }
        self.fill = fill;
        Ok(self)
    }

    /// The head this writer knows (last appended or loaded).
    pub fn head(&self) -> Head {
        lock(&self.tip).head
    }

    /// The stream sequence of the last message this writer knows.
    pub fn messages(&self) -> u64 {
        lock(&self.tip).messages
    }

    /// Loads the head from the stream (after a `Fenced`, or to follow
    /// another writer): the last message, its frame checked.
    pub fn reload(&self) -> Result<Head, NatsLogError> {
        let mut tip = lock(&self.tip);
        let loaded = self.cluster.block_on_deadline(retrying(|| self.load_tip()))?;
        *tip = loaded;
        Ok(loaded.head)
    }

    async fn last_message(&self) -> Result<u64, NatsLogError> {
        let info = self.handle.get_info().await.map_err(|e| NatsLogError::Unavailable(format!("stream info: {e}")))?;
        Ok(info.state.last_sequence)
    }

    async fn message(&self, stream_seq: u64) -> Result<Vec<u8>, NatsLogError> {
        let m = self.handle.get_raw_message(stream_seq).await.map_err(|e| match e.kind() {
            // asked only for messages at or below the stream's last: a
            // hole (the server's own checksum refused its copy, or it
            // was lost). `seq` 0: the reader names the record it misses.
            stream::LastRawMessageErrorKind::NoMessageFound => NatsLogError::Corrupt {
                stream: self.stream.clone(),
                stream_seq,
                seq: 0,
                reason: "the stream leader holds no such message: a hole in the log".into(),
            },
            _ => NatsLogError::Unavailable(format!("get message {stream_seq}: {e}")),
        })?;
        if m.subject.as_str() != self.subject {
            return Err(NatsLogError::Corrupt {
                stream: self.stream.clone(),
                stream_seq,
                seq: 0,
                reason: format!("message on subject {}, not {}", m.subject, self.subject),
            });
        }
        Ok(m.payload.to_vec())
    }

    async fn load_tip(&self) -> Result<Tip, NatsLogError> {
        let messages = self.last_message().await?;
        if messages == 0 {
            return Ok(Tip { messages, head: Head::GENESIS });
        }
        let bytes = self.message(messages).await?;
        let frame = frame_of(&self.stream, messages, &bytes)?;
        let head =
            frame.records.last().map(|r| Head { seq: r.seq, hash: r.hash }).ok_or_else(|| NatsLogError::Corrupt {
                stream: self.stream.clone(),
                stream_seq: messages,
                seq: 0,
                reason: "empty frame".into(),
            })?;
        Ok(Tip { messages, head })
    }

    /// Appends `batch` after `expected` as one atomic batch (one message per
    /// frame) and returns the new head once the stream acknowledged it.
    pub fn append(&self, expected: Head, batch: &[NewRecord<'_>]) -> Result<Head, NatsLogError> {
        let mut b = FrameBuilder::with_fill(expected, self.fill);
        for r in batch {
            b.push(r.time_micros, r.payload).map_err(|e| NatsLogError::frame(&self.stream, 0, e))?;
        }
        self.append_encoded(b.finish())
    }

    /// Appends a batch encoded by a `FrameBuilder` (its base must be this
    /// log's head) as one atomic batch, conditional on the stream's last
    /// message being the one this writer knows. Returns once the stream
    /// acknowledged it (replicated to a quorum, each fsynced with
    /// `sync_interval: always`). A second writer gets `Fenced`; an outcome
    /// that stays unknown for `NATS_APPEND_SETTLE_MILLIS_MAX` is
    /// `Unavailable`: in neither case is the batch acknowledged.
    pub fn append_encoded(&self, batch: EncodedBatch) -> Result<Head, NatsLogError> {
        let mut tip = lock(&self.tip);
        if batch.base() != tip.head {
            return Err(NatsLogError::HeadMismatch { expected: batch.base(), actual: tip.head });
        }
        let frames = batch.frames();
        if frames.is_empty() {
            return Ok(tip.head);
        }
        if frames.len() > NATS_BATCH_FRAMES_MAX {
            return Err(NatsLogError::TooLarge {
                what: "frames in one atomic batch",
                limit: NATS_BATCH_FRAMES_MAX as u64,
            });
        }
        let base = tip.messages;
        let n = frames.len() as u64;
        // a frame's own chain hash (its last record's: one blake3 call over
        // all its bytes, made while encoding) names its content and position
        let ids: Vec<String> = batch.frame_hashes().iter().map(hex).collect();
        if ids.len() != frames.len() {
            return Err(NatsLogError::Corrupt {
                stream: self.stream.clone(),
                stream_seq: tip.messages,
                seq: batch.base().seq.saturating_add(1),
                reason: format!("an encoded batch of {} frames names {} frame hashes", frames.len(), ids.len()),
            });
        }
        // bounded by its own deadline (every request by REQUEST_TIMEOUT)
        self.cluster.rt.block_on(self.publish_settled(base, frames, &ids))?;
        *tip = Tip { messages: base + n, head: batch.head() };
        Ok(tip.head)
    }

    async fn publish_settled(&self, base: u64, frames: &[(u64, Vec<u8>)], ids: &[String]) -> Result<(), NatsLogError> {
        let n = frames.len() as u64;
        let mut retry = Retry::for_millis(NATS_APPEND_SETTLE_MILLIS_MAX);
        loop {
            let outcome = self.publish_once(base, frames, ids).await?;
            let reason = match &outcome {
                Attempt::Unknown(reason) => reason.clone(),
                _ => String::from("refused by the expected-last-sequence check"),
            };
            match outcome {
                Attempt::Acked { last, count } => {
                    if last != base + n || count != n {
                        return Err(NatsLogError::Corrupt {
                            stream: self.stream.clone(),
                            stream_seq: last,
                            seq: 0,
                            reason: format!(
                                "batch of {n} after message {base} acknowledged as {count} ending at {last}"
                            ),
                        });
                    }
                    return Ok(());
                }
                Attempt::WrongLast | Attempt::Unknown(_) => match self.settle(base, frames).await {
                    Ok(Settled::Ours) => return Ok(()),
                    Ok(Settled::Other(actual)) => {
                        return Err(NatsLogError::Fenced { stream: self.stream.clone(), expected: base, actual })
                    }
                    Ok(Settled::Absent) | Err(NatsLogError::Unavailable(_)) => {}
                    Ok(Settled::Behind(last)) => {
                        // while the stream has no leader a lagging replica may
                        // answer the info request; a leader that really lost
                        // acknowledged messages keeps saying so: loud at the end
                        if retry.expired() {
                            return Err(NatsLogError::Corrupt {
                                stream: self.stream.clone(),
                                stream_seq: last,
                                seq: 0,
                                reason: format!(
                                    "the stream ends at message {last}, before the acknowledged message {base}"
                                ),
                            });
                        }
                    }
                    Err(e) => return Err(e),
                },
            }
            if retry.expired() {
                return Err(NatsLogError::Unavailable(format!(
                    "append after message {base} not settled in {NATS_APPEND_SETTLE_MILLIS_MAX} ms: {reason}"
                )));
            }
            retry.pause().await;
        }
    }

    /// One try: the first message opens the batch (a request, so a refusal
    /// comes back at once), the middle ones are published, the last commits.
    async fn publish_once(
        &self,
        base: u64,
        frames: &[(u64, Vec<u8>)],
        ids: &[String],
    ) -> Result<Attempt, NatsLogError> {
        let client = &self.cluster.client;
        let batch_id = uuid::Uuid::new_v4().simple().to_string();
        let last = frames.len();
        for (i, ((_, frame), id)) in frames.iter().zip(ids).enumerate() {
            let mut h = HeaderMap::new();
            h.insert(NATS_BATCH_ID, batch_id.as_str());
            h.insert(NATS_BATCH_SEQUENCE, (i + 1).to_string().as_str());
            h.insert(NATS_MESSAGE_ID, id.as_str());
            if i == 0 {
                h.insert(NATS_EXPECTED_LAST_SEQUENCE, base.to_string().as_str());
            }
            let commit = i + 1 == last;
            if commit {
                h.insert(NATS_BATCH_COMMIT, "1");
            }
            let payload = frame.clone().into();
            if i == 0 || commit {
                let reply = match client.request_with_headers(self.subject.clone(), h, payload).await {
                    Ok(m) => m,
                    Err(e) => return Ok(Attempt::Unknown(format!("batch message {}: {e}", i + 1))),
                };
                if reply.payload.is_empty() && !commit {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_slice(&reply.payload)
                    .map_err(|e| NatsLogError::Unavailable(format!("unreadable publish reply: {e}")))?;
                if let Some(err) = v.get("error") {
                    let err_code = err.get("err_code").and_then(serde_json::Value::as_u64).unwrap_or(0);
                    if err_code == WRONG_LAST_SEQUENCE {
                        return Ok(Attempt::WrongLast);
                    }
                    if BATCH_ABANDONED.contains(&err_code) {
                        return Ok(Attempt::Unknown(format!("batch abandoned by the server ({err_code})")));
                    }
                    if err_code == BATCH_DUPLICATE_MESSAGE_ID {
                        return Ok(Attempt::Unknown("a retried batch's message ids were seen before".into()));
                    }
                    if err_code == DUPLICATE_MESSAGE_ID_IN_PROCESS {
                        return Ok(Attempt::Unknown("a retried batch's message id is still being stored".into()));
                    }
                    let code = err.get("code").and_then(serde_json::Value::as_u64).unwrap_or(0);
                    let description =
                        err.get("description").and_then(serde_json::Value::as_str).unwrap_or("").to_owned();
                    // 503: no stream leader yet; the batch is not stored
                    if code == 503 {
                        return Ok(Attempt::Unknown(description));
                    }
                    return Err(NatsLogError::Server { code, err_code, description });
                }
                if commit {
                    let seq = v.get("seq").and_then(serde_json::Value::as_u64);
                    let count = v.get("count").and_then(serde_json::Value::as_u64).unwrap_or(1);
                    return match seq {
                        Some(last) => Ok(Attempt::Acked { last, count }),
                        None => Err(NatsLogError::Unavailable(format!("publish reply without a sequence: {v}"))),
                    };
                }
            } else if let Err(e) = client.publish_with_headers(self.subject.clone(), h, payload).await {
                return Ok(Attempt::Unknown(format!("batch message {}: {e}", i + 1)));
            }
        }
        Ok(Attempt::Unknown("empty batch".into()))
    }

    /// After an attempt with no clear answer: is the batch in the stream?
    /// Compares the messages after `base` byte for byte with the frames.
    async fn settle(&self, base: u64, frames: &[(u64, Vec<u8>)]) -> Result<Settled, NatsLogError> {
        let last = self.last_message().await?;
        if last == base {
            return Ok(Settled::Absent);
        }
        if last < base {
            return Ok(Settled::Behind(last));
        }
        let n = frames.len() as u64;
        for (i, (_, frame)) in frames.iter().enumerate() {
            let s = base + 1 + i as u64;
            if s > last {
                return Err(NatsLogError::Corrupt {
                    stream: self.stream.clone(),
                    stream_seq: s,
                    seq: 0,
                    reason: format!("only {} of an atomic batch of {n} messages stored", i),
                });
            }
            if self.message(s).await? != *frame {
                return Ok(Settled::Other(last));
            }
        }
        Ok(Settled::Ours)
    }

    /// The stream sequence of the frame holding record `seq` (binary search
    /// over the frames' first seqs, `1..=last` messages).
    async fn locate(&self, seq: u64, last: u64) -> Result<u64, NatsLogError> {
        let (mut lo, mut hi) = (1u64, last);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            // a hole met while locating: the read delivers nothing, so the
            // first record it misses is `seq` (never the placeholder 0)
            let bytes = self.message(mid).await.map_err(|e| match e {
                NatsLogError::Corrupt { stream, stream_seq, seq: 0, reason } => {
                    NatsLogError::Corrupt { stream, stream_seq, seq, reason }
                }
                other => other,
            })?;
            let first = cardledger_core::record::peek_first_seq(&bytes).ok_or_else(|| NatsLogError::Corrupt {
                stream: self.stream.clone(),
                stream_seq: mid,
                seq,
                reason: "message shorter than a frame header".into(),
            })?;
            if first <= seq {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(lo)
    }

    async fn ordered_from(&self, stream_seq: u64) -> Result<consumer::pull::Ordered, NatsLogError> {
        let c = self
            .handle
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: stream_seq },
                ..Default::default()
            })
            .await
            .map_err(|e| NatsLogError::Unavailable(format!("ordered consumer: {e}")))?;
        c.messages().await.map_err(|e| NatsLogError::Unavailable(format!("ordered consumer: {e}")))
    }

    /// Every record after `anchor` (genesis, or a head a checkpoint or a
    /// snapshot recorded) up to the stream's last message when called, each
    /// frame checked and chained to the anchor. The messages are read from
    /// the stream leader (message gets, `READ_WINDOW` at a time), so what
    /// is read is what the leader holds. The iterator ends at the first
    /// error.
    pub fn read_after(&self, anchor: Head) -> Result<ReadIter, NatsLogError> {
        self.read_checked(ChainCheck::new(&self.stream, anchor))
    }

    /// Every record from `seq` on (from 1 when `seq` is 0), like the sled
    /// store's `read_from`: the hash of the record before `seq` is not
    /// known, so the frame holding `seq` is checked on its own (every
    /// record's crc and seq) and the chain from there on. A read from 1 is
    /// chained to genesis.
    pub fn read_from(&self, seq: u64) -> Result<ReadIter, NatsLogError> {
        self.read_checked(ChainCheck::from_seq(&self.stream, seq.max(1) - 1))
    }

    fn read_checked(&self, check: ChainCheck) -> Result<ReadIter, NatsLogError> {
        let anchor = check.last();
        let this = self;
        let (start, last) = self.cluster.block_on_deadline(retrying(move || async move {
            let last = this.last_message().await?;
            if last == 0 {
                return Ok((1, 0));
            }
            let start = if anchor.seq == 0 { 1 } else { this.locate(anchor.seq.saturating_add(1), last).await? };
            Ok((start, last))
        }))?;
        Ok(ReadIter {
            log: self.clone(),
            check,
            next_stream_seq: start,
            last,
            fetched: VecDeque::new(),
            buffer: VecDeque::new(),
            failed: false,
        })
    }

    /// Reads the whole stream from genesis, verifying every frame and the
    /// chain, and returns its head (which must be at least this writer's).
    pub fn verify(&self) -> Result<Head, NatsLogError> {
        let mut it = self.read_after(Head::GENESIS)?;
        for r in it.by_ref() {
            r?;
        }
        let head = it.last_verified();
        let known = self.head();
        if head.seq < known.seq {
            return Err(NatsLogError::Corrupt {
                stream: self.stream.clone(),
                stream_seq: self.messages(),
                seq: head.seq.saturating_add(1),
                reason: format!("the stream ends at seq {}, before this writer's head {}", head.seq, known.seq),
            });
        }
        Ok(head)
    }

    /// Follows the stream after `anchor`: every record, as it is stored,
    /// each frame checked and chained.
    pub fn subscribe_after(&self, anchor: Head) -> Result<Subscription, NatsLogError> {
        let this = self;
        let start = self.cluster.block_on_deadline(retrying(move || async move {
            let last = this.last_message().await?;
            if last == 0 {
                return Ok(1);
            }
            this.locate(anchor.seq.saturating_add(1), last).await.map(|s| if anchor.seq == 0 { 1 } else { s })
        }))?;
        let messages = self.cluster.block_on_deadline(retrying(|| self.ordered_from(start)))?;
        Ok(Subscription {
            cluster: self.cluster.clone(),
            stream: self.stream.clone(),
            messages,
            check: ChainCheck::new(&self.stream, anchor),
            next_stream_seq: start,
            buffer: VecDeque::new(),
            failed: None,
        })
    }
}

/// The most record bytes one frame may hold so that its message fits a
/// server's `max_payload` (headers included: `NATS_HEADER_BYTES_MAX` kept
/// for them) and a stream's `max_message_size` (the payload; below 1 is
/// no limit).
fn message_room(max_payload: usize, max_message_size: i32) -> usize {
    let payload = max_payload.saturating_sub(NATS_HEADER_BYTES_MAX);
    let message = usize::try_from(max_message_size).ok().filter(|m| *m > 0).unwrap_or(usize::MAX);
    payload.min(message).saturating_sub(FRAME_HEADER_BYTES)
}

/// Decodes the frame of message `stream_seq` under its own first seq (every
/// check of `visit_frame`; the chain link is the reader's business).
fn frame_of(stream: &str, stream_seq: u64, bytes: &[u8]) -> Result<cardledger_core::record::Frame, NatsLogError> {
    let key = cardledger_core::record::peek_first_seq(bytes).ok_or_else(|| NatsLogError::Corrupt {
        stream: stream.to_owned(),
        stream_seq,
        seq: 0,
        reason: "message shorter than a frame header".into(),
    })?;
    cardledger_core::record::decode_frame(key, bytes).map_err(|e| NatsLogError::frame(stream, stream_seq, e))
}

/// Takes the next message of an ordered consumer and checks it is the
/// expected stream sequence.
async fn next_frame(
    stream: &str,
    messages: &mut consumer::pull::Ordered,
    expected: u64,
) -> Result<Vec<u8>, NatsLogError> {
    let m = messages
        .next()
        .await
        .ok_or_else(|| NatsLogError::Unavailable("ordered consumer ended".into()))?
        .map_err(|e| NatsLogError::Unavailable(format!("ordered consumer: {e}")))?;
    let info = m.info().map_err(|e| NatsLogError::Unavailable(format!("message info: {e}")))?;
    if info.stream_sequence != expected {
        return Err(NatsLogError::Corrupt {
            stream: stream.to_owned(),
            stream_seq: info.stream_sequence,
            seq: 0,
            reason: format!("delivered message {} where {expected} was due", info.stream_sequence),
        });
    }
    Ok(m.payload.to_vec())
}

/// Records read by [`JetStreamLog::read_after`].
pub struct ReadIter {
    log: JetStreamLog,
    check: ChainCheck,
    /// The next message to check.
    next_stream_seq: u64,
    last: u64,
    /// Messages fetched ahead, from `next_stream_seq` on (each fetch's
    /// error is met at its own position).
    fetched: VecDeque<Result<Vec<u8>, NatsLogError>>,
    buffer: VecDeque<StoredRecord>,
    failed: bool,
}

impl ReadIter {
    /// The last record verified so far (the anchor before the first).
    pub fn last_verified(&self) -> Head {
        self.check.last()
    }

    /// The next message's bytes, fetching a window ahead when needed.
    fn next_message(&mut self) -> Result<Vec<u8>, NatsLogError> {
        if let Some(bytes) = self.fetched.pop_front() {
            return bytes;
        }
        let from = self.next_stream_seq;
        let to = self.last.min(from.saturating_add(READ_WINDOW - 1));
        let log = &self.log;
        let got = log.cluster.block_on_deadline(async {
            let gets = (from..=to).map(|s| retrying(move || log.message(s)));
            Ok(futures_util::future::join_all(gets).await)
        })?;
        self.fetched.extend(got);
        self.fetched
            .pop_front()
            .unwrap_or_else(|| Err(NatsLogError::Unavailable(format!("message {from} not fetched"))))
    }
}

impl Iterator for ReadIter {
    type Item = Result<StoredRecord, NatsLogError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.buffer.pop_front() {
                return Some(Ok(r));
            }
            if self.failed || self.next_stream_seq > self.last {
                return None;
            }
            let s = self.next_stream_seq;
            let want = self.check.last().seq.saturating_add(1);
            let got = self.next_message().map_err(|e| match e {
                NatsLogError::Corrupt { stream, stream_seq, seq: 0, reason } => {
                    NatsLogError::Corrupt { stream, stream_seq, seq: want, reason }
                }
                e => e,
            });
            match got.and_then(|bytes| self.check.frame(s, &bytes)) {
                Ok(records) => {
                    self.buffer.extend(records);
                    self.next_stream_seq += 1;
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// A verified follower of a stream ([`JetStreamLog::subscribe_after`]).
pub struct Subscription {
    cluster: Cluster,
    stream: String,
    messages: consumer::pull::Ordered,
    check: ChainCheck,
    next_stream_seq: u64,
    buffer: VecDeque<StoredRecord>,
    failed: Option<NatsLogError>,
}

impl Subscription {
    /// The next record, waiting at most `timeout` for one to be stored
    /// (`Ok(None)` then). A frame that fails its checks is an error, and
    /// so is every call after it.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<StoredRecord>, NatsLogError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.buffer.pop_front() {
                return Ok(Some(r));
            }
            if let Some(e) = &self.failed {
                return Err(e.clone());
            }
            let s = self.next_stream_seq;
            let stream = self.stream.clone();
            let messages = &mut self.messages;
            let got = self.cluster.rt.block_on(async {
                tokio::time::timeout(
                    deadline.saturating_duration_since(Instant::now()),
                    next_frame(&stream, messages, s),
                )
                .await
            });
            let Ok(got) = got else { return Ok(None) };
            // a frame may hold only records up to the anchor: then the next
            match got.and_then(|bytes| self.check.frame(s, &bytes)) {
                Ok(records) => {
                    self.next_stream_seq += 1;
                    self.buffer.extend(records);
                }
                Err(e) => {
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            }
        }
    }

    /// The last record verified so far.
    pub fn last_verified(&self) -> Head {
        self.check.last()
    }
}

/// The JetStream log as the engine's log backend
/// (`cardledger_core::engine::Engine::open_on`): errors map onto the
/// store's (`Fenced` → `StoreError::Fenced`, `Corrupt` → `Corrupt` at the
/// same seq, anything that leaves the outcome unknown → `Unavailable`).
impl cardledger_core::log::Log for JetStreamLog {
    fn head(&self) -> Head {
        JetStreamLog::head(self)
    }

    fn append_encoded(&self, batch: EncodedBatch) -> Result<Head, StoreError> {
        JetStreamLog::append_encoded(self, batch).map_err(store_error)
    }

    fn read_from(&self, from: u64) -> cardledger_core::log::LogRead {
        match JetStreamLog::read_from(self, from) {
            Ok(it) => Box::new(it.map(|r| r.map_err(store_error))),
            Err(e) => Box::new(std::iter::once(Err(store_error(e)))),
        }
    }

    fn verify(&self) -> Result<Head, StoreError> {
        JetStreamLog::verify(self).map_err(store_error)
    }

    fn describe(&self) -> String {
        format!("JetStream stream {}", self.stream)
    }

    fn frame_fill(&self) -> FrameFill {
        self.fill
    }
}

/// A JetStream log error as the store's error the engine knows.
pub fn store_error(e: NatsLogError) -> StoreError {
    match e {
        NatsLogError::Fenced { .. } => StoreError::Fenced { reason: e.to_string() },
        NatsLogError::HeadMismatch { expected, actual } => StoreError::HeadMismatch { expected, actual },
        NatsLogError::Corrupt { seq, .. } => StoreError::Corrupt { seq, reason: e.to_string() },
        NatsLogError::TooLarge { what, limit } => StoreError::TooLarge { what, limit },
        NatsLogError::Unavailable(_)
        | NatsLogError::Server { .. }
        | NatsLogError::InvalidProgram { .. }
        | NatsLogError::InvalidUrl { .. } => StoreError::Unavailable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_fill_is_lowered_to_what_the_cluster_and_the_stream_carry() {
        let frame_max = i32::try_from(FRAME_BYTES_MAX).unwrap();
        // the project's cluster (max_payload 4 MB) and stream: the full fill
        assert!(message_room(4 << 20, frame_max) >= NATS_FRAME_FILL_BYTES);
        assert_eq!(message_room(4 << 20, frame_max), FRAME_BYTES_MAX - FRAME_HEADER_BYTES);
        // a server's default max_payload (1 MB): headers kept free
        assert_eq!(message_room(1 << 20, -1), (1 << 20) - NATS_HEADER_BYTES_MAX - FRAME_HEADER_BYTES);
        // a stream limited to 200,000 bytes a message
        assert_eq!(message_room(4 << 20, 200_000), 200_000 - FRAME_HEADER_BYTES);
        assert_eq!(message_room(4 << 20, 0), (4 << 20) - NATS_HEADER_BYTES_MAX - FRAME_HEADER_BYTES);
        // nothing fits: 0, which no FrameFill accepts (open_log: TooLarge)
        assert_eq!(message_room(100, -1), 0);
        assert!(FrameFill::new(message_room(100, -1)).is_err());
    }
}
