//! Every limit of the engine, in one place, with units last in the names.

/// Longest token, in characters (source pages: "36 char max").
pub const TOKEN_CHARS_MAX: usize = 36;
/// Input amounts satisfy `|x| < AMOUNT_ABS_LIMIT_UNITS` (numeric(14,2)).
pub const AMOUNT_ABS_LIMIT_UNITS: i64 = 1_000_000_000_000;
/// Largest magnitude of a `Money` held in the engine, in cents: `2^96 − 1`,
/// `rust_decimal`'s largest mantissa, so that every `Money` is an exact
/// `Decimal` at scale 2 (`Money::decimal` cannot fail). `Money::plus` and
/// `Money::minus` saturate here; `Money::checked_add` fails beyond it. Sums
/// of input amounts reach it only after ~7.9 * 10^14 maximal amounts.
pub const MONEY_CENTS_ABS_MAX: i128 = (1 << 96) - 1;
/// Longest text accepted as an amount.
pub const AMOUNT_TEXT_CHARS_MAX: usize = 40;
/// Longest name (programs, fees, campaigns, funding sources, offers).
pub const NAME_CHARS_MAX: usize = 128;
/// Longest memo.
pub const MEMO_CHARS_MAX: usize = 255;
/// Longest tags string.
pub const TAGS_CHARS_MAX: usize = 255;
/// Longest short code (network, mcc, group, type, bank).
pub const CODE_CHARS_MAX: usize = 64;
/// Most fees on one order or fee transfer.
pub const FEES_PER_COMMAND_MAX: usize = 16;
/// Longest accepted input line, in bytes (anything longer is rejected unread).
pub const LINE_BYTES_MAX: usize = 64 * 1024;
/// Deepest nesting of objects and arrays the JSON parser's fast path reads
/// (`wire::scan_line`); a deeper line takes serde_json's parser, whose own
/// limit is 128, and is answered as before.
pub const WIRE_SCAN_DEPTH_MAX: usize = 16;
/// Most members of a command body the fast path without a tree reads
/// (`wire::scan_command`; the largest command has 20 fields); a longer body
/// takes the tree and is answered as before.
pub const WIRE_SCAN_FIELDS_MAX: usize = 24;
/// Largest encoded event, in bytes (decoding is bounded by it).
pub const EVENT_BYTES_MAX: usize = 64 * 1024;
/// Reserve window bounds, in days.
pub const RESERVE_WINDOW_DAYS_MAX: u32 = 366;
/// Months the statement repayment simulation (Appendix M1) runs before it
/// reports no lifetime repayment.
pub const SIMULATION_MONTHS_MAX: u32 = 1_200;
/// Most resources one page returns: a statements endpoint's (source 003:
/// `count` 1–100) and every Core API list's (`list KIND`, `GET /v3/…`).
pub const PAGE_COUNT_MAX: usize = 100;
/// Most days one view query derives (100 years): a window ending later is
/// cut there, so no query can loop for long (program balances, reserve,
/// activity).
pub const QUERY_DAYS_MAX: i32 = 36_525;
/// Default and maximum `count` of a view query.
pub const QUERY_COUNT_MAX: u32 = 10_000;
/// At most this many `key=value` pairs per view query.
pub const QUERY_PAIRS_MAX: usize = 256;
/// At most this many bytes in a view query key.
pub const QUERY_KEY_BYTES_MAX: usize = 128;
/// At most this many bytes in a view query value.
pub const QUERY_VALUE_BYTES_MAX: usize = 8_192;
/// At most this many items in a comma list of a view query (`fields`,
/// `program`, any-of).
pub const QUERY_LIST_ITEMS_MAX: usize = 512;
/// Most programs a view fold scans rather than searches per event (its
/// small keyed maps use the same bound).
pub const PROGRAM_SCAN_MAX: usize = 8;
/// Most cycle closes one `CyclesClosed` event carries (a tick closing more
/// cycles records several events in its batch); keeps an event far below
/// `EVENT_BYTES_MAX` even with long dues lists.
pub const CYCLE_CLOSES_PER_EVENT_MAX: usize = 16;
/// Largest encoded ledger state a snapshot holds, in bytes (decoding is
/// bounded by it; a larger state is not snapshotted and open replays).
pub const SNAPSHOT_STATE_BYTES_MAX: usize = 512 << 20;
/// Events between two cold flushes (after a group commit; also at a clean
/// close and by `Engine::snapshot`): what changed since the last flush (new
/// tokens, orders, unloads, closed journal entries) moves to the store's
/// cold tree and the hot rest is snapshotted. Bounds the memory that grows
/// with history to about this many events' worth (the flush's writer
/// keeps the moved maps alive while the next interval's grow, dropping
/// them part by part as it writes them; docs/performance.md, "Issue 13:
/// the cold flush in parts").
pub const SNAPSHOT_INTERVAL_EVENTS: u64 = 196_608;
/// Snapshots a store keeps at most: every cold flush's while there are no
/// more; past that they are thinned evenly (never the oldest or the newest
/// two; `store::snapshots_kept`). The older ones are where as-of reads
/// start (`Engine::state_as_of`); the second newest is the fallback when
/// the newest fails its checks. Disk: this many hot snapshots (≈ 1 MB each
/// for the demo's 2,000 holders).
pub const SNAPSHOTS_KEPT: usize = 128;
/// A snapshot's state is stored in sled values of this many bytes, streamed
/// as it is encoded (never held whole in memory while it is written).
pub const SNAPSHOT_CHUNK_BYTES: usize = 4 << 20;
/// The storage engine's page cache, in bytes (sled's default is 1 GiB,
/// which a long log fills: most of the process's memory after millions of
/// events). Reads of old frames are rare (duplicates, `get`, `list`).
pub const STORE_CACHE_BYTES: u64 = 16 << 20;
/// Events a session must have appended for its clean close to pay sled's
/// recovery scan (`Store::reopen_on_close`) so the next open need not:
/// below this the scan costs the next open only milliseconds.
pub const REOPEN_ON_CLOSE_EVENTS: u64 = 65_536;
/// Most outstanding dues one credit account keeps: a close that would keep
/// more merges the two oldest (their sum, under the oldest due date), so the
/// total past due and the FIFO order of payments are unchanged and only the
/// delinquency bucket count stops growing (after 64 months past due). Keeps
/// every `CyclesClosed` event far below `EVENT_BYTES_MAX`.
pub const DUES_PER_ACCOUNT_MAX: usize = 64;

// ---- the log store (cardledger-core `store.rs`) ----

/// Most records in one `Store::append` call, and so most commands in one
/// submitted batch. The engine bounds each group commit by the records (and
/// bytes) its decisions write, not by the commands it takes: a command whose
/// records would not fit is left for the next group, or, inside one submitted
/// batch, rejected with 1217 `BatchFull` before anything of it is applied.
pub const BATCH_RECORDS_MAX: usize = 1 << 16;

/// Most `CyclesClosed` events one tick records (each of at most
/// `CYCLE_CLOSES_PER_EVENT_MAX` closes, so at most 8,192 closes per tick): a
/// tick always fits in a batch of its own (records and bytes); cycles still
/// due after that many close at the next tick, oldest account token first.
pub const TICK_CLOSE_EVENTS_MAX: usize = 512;

/// Most encoded bytes (overhead included) in one `Store::append` call.
pub const BATCH_BYTES_MAX: usize = 64 << 20;

/// Longest checkpoint name.
pub const CHECKPOINT_NAME_BYTES_MAX: usize = 256;

/// Largest checkpoint state, in bytes: the store refuses larger ones and
/// the projections decode no larger ones (`checkpoint.rs`, statements).
pub const CHECKPOINT_STATE_BYTES_MAX: usize = 256 << 20;

/// Free disk space an append always leaves: `Store::append` refuses a
/// batch with `StoreError::DiskFull` rather than let the storage engine
/// run out of space mid-write (sled 0.34 can leave part of a batch, or an
/// unreadable file, behind when a write fails with ENOSPC).
pub const DISK_RESERVE_BYTES: u64 = 16 << 20;

/// How long `Store::open` waits for the directory's file lock.
pub const OPEN_LOCK_WAIT_MS_MAX: u64 = 5_000;

/// A sled blob file last written at least this many seconds before a
/// store's open began is synced by the open without being read and checked
/// (`store/sled_files.rs`): nothing writes it any more. More than the lag
/// of a file's modification time (the kernel's coarse clock) behind the
/// clock the open reads.
pub const BLOB_SETTLED_SECS: u64 = 1;

/// A segment file of the log (store format 6, `store/segments.rs`) is
/// closed when its next frame would take it past this many bytes (a frame
/// never spans two files; a lone frame larger than this fills a file of its
/// own). A read from a seq scans the frame headers of one such file; a log
/// of 1 TiB is 16,384 files, whose names are the only part of the log the
/// store keeps in memory.
pub const SEGMENT_BYTES_MAX: u64 = 64 << 20;

/// Frames written ahead of their batch (`Store::write_ahead`) are synced
/// early, on a thread of the store's own, each time this many bytes were
/// appended to the segment files since the last early sync was asked for
/// (or the last flush): the group's flush then finds that much less to
/// write (`store/segments.rs`). A batch of 8,192 demo events is ≈ 1.2 MB.
pub const EARLY_SYNC_BYTES: u64 = 256 << 10;

/// The buffer of a sequential read of a segment file: ten frames of
/// `FRAME_FILL_BYTES` or so per read call.
pub const SEGMENT_READ_BUFFER_BYTES: usize = 1 << 20;

// ---- the engine's group commit (cardledger-core `engine.rs`) ----

/// Groups of at least this many commands encode their frames on a second
/// thread while they are decided; smaller ones inline (a thread costs more
/// than it saves there).
pub const ENCODER_THREAD_LINES_MIN: usize = 256;

/// Records handed to the encoder thread at a time. Each hand-over wakes
/// the encoder (asleep: it encodes a chunk about five times faster than the
/// leader decides one), a `futex` wake that cost the leader ≈ 5 % of a
/// group of 8,192 at 256 a chunk (docs/performance.md, "the encoder's
/// wake-ups").
pub const ENCODER_CHUNK_RECORDS: usize = 1024;

/// Records handed to the encoder at a time in a group's last
/// [`ENCODER_CHUNK_RECORDS`] lines: the chunk still being filled when the
/// decision ends is encoded after it, while the leader waits, so the tail
/// goes in smaller chunks.
pub const ENCODER_TAIL_CHUNK_RECORDS: usize = 256;

/// Room reserved for a new encoder chunk's payloads: its
/// [`ENCODER_CHUNK_RECORDS`] records at 192 bytes each (the demo mix's
/// payloads average ≈ 133), so a chunk fills without regrowing its buffer
/// (≈ 100 instructions an event of `realloc` copies when it grew from
/// empty). A chunk whose payloads are larger still grows, as a `Vec` does.
pub const ENCODER_CHUNK_BYTES: usize = ENCODER_CHUNK_RECORDS * 192;

/// A replay from the log (`Engine::open`, `verify`, a past state) reads,
/// checks and decodes on a second thread and hands the applier this many
/// decoded events at a time.
pub const REPLAY_CHUNK_EVENTS: usize = 1024;

/// Decoded chunks the replay's reader may run ahead of the applier (memory:
/// at most this many chunks plus the two being filled and applied).
pub const REPLAY_CHUNKS_IN_FLIGHT: usize = 8;

/// Chunks of `cardledger ingest` submitted and not yet durable (one
/// decider thread each, taking turns: chunk N+1 is queued right after chunk
/// N, and decided while N flushes; answers are still written in input order,
/// each once its chunk is durable). 1 would wait for every chunk's flush
/// before deciding the next; more than 2 gain nothing on 2 cores, as the
/// engine decides one group at a time.
pub const INGEST_CHUNKS_IN_FLIGHT: usize = 2;

/// How often an ingest decider waiting for its next chunk checks whether
/// the run has stopped (an output or engine error): the run joins its
/// deciders before it returns, so that no chunk is submitted after the
/// caller has the error, and a decider waiting on a reader blocked on its
/// input (stdin) must notice the stop without that input. A stopped run
/// returns at most this much later; a waiting decider wakes this often.
pub const INGEST_STOP_POLL_MS: u64 = 20;

/// `cardledger ingest` writes a chunk's answer lines out whenever this many
/// bytes (or more: a piece ends at a line's end) are rendered, from one
/// reused buffer, so that the output's copy (the kernel's, into the page
/// cache) reads them from the cache: a whole chunk (8,192 lines, ≈ 4.8 MB
/// of answers in the bulk workload) was out of the L2 cache (2 MiB a core
/// here) when copied, ≈ 1.1 s of CPU a million lines. 1 MiB, not less: the
/// CLI and `compare` write through a `BufWriter` of 1 MiB, which passes a
/// write of its capacity or more straight on but copies a smaller one into
/// its own buffer (a second copy, ≈ 590 instructions a line); 64 KiB to
/// 1 MiB measured alike otherwise (docs/performance.md, "Issue 13: the
/// answer writer").
pub const INGEST_ANSWER_PIECE_BYTES: usize = 1024 * 1024;

/// Longest a new leader waits for the submitters of the last groups (those
/// not in a group still flushing) to queue again before it commits what is
/// queued.
pub const GATHER_WAIT_MICROS: u64 = 1000;

/// How long a waiting submitter sleeps before checking on its own whether it
/// should take over leadership. Hand-offs wake it through its slot, so this
/// is only a safety net: a short wait would wake every submitter hundreds
/// of times a second, and with 64 of them on 2 cores those wake-ups took
/// the time the leader needed.
pub const LEADER_HANDOFF_WAIT_MS: u64 = 50;

// --- the record and frame format (crates/cardledger-core/src/record.rs, docs/format.md) ---

/// Fixed bytes per record besides its payload: version (1) + seq (8) +
/// time_micros (8) + payload length (4) + crc32 (4).
pub const RECORD_OVERHEAD_BYTES: usize = 25;

/// Fixed bytes of a frame header: version (1) + first seq (8) + record count
/// (4) + previous hash (32) + header crc32 (4).
pub const FRAME_HEADER_BYTES: usize = 49;

/// Largest encoded record (overhead included). A single record always fits
/// in one frame body.
pub const RECORD_BYTES_MAX: usize = 1 << 20;

/// Largest payload: whatever is left of [`RECORD_BYTES_MAX`] after overhead.
pub const PAYLOAD_BYTES_MAX: usize = RECORD_BYTES_MAX - RECORD_OVERHEAD_BYTES;

/// Most records in one frame (one sled value).
pub const FRAME_RECORDS_MAX: usize = 4096;

/// Most record bytes in one frame body; a frame is closed before it would
/// exceed this. Equal to [`RECORD_BYTES_MAX`] so that any record fits alone.
pub const FRAME_BODY_BYTES_MAX: usize = RECORD_BYTES_MAX;

/// Record bytes at which the encoder closes a frame (a soft target below
/// [`FRAME_BODY_BYTES_MAX`]): sled 0.34 stores values above ~128 KiB
/// (a quarter of its 512 KiB segment) as separate blob files, which costs
/// throughput and space, so frames are kept below that.
pub const FRAME_FILL_BYTES: usize = 96 << 10;

/// Largest frame (header + body) the decoder accepts.
pub const FRAME_BYTES_MAX: usize = FRAME_HEADER_BYTES + FRAME_BODY_BYTES_MAX;

// --- the JetStream log (crates/cardledger-nats) ---

/// Most frames (messages) in one atomic batch: the NATS server's limit on
/// an atomic batch's messages. A group commit of up to 8,192 records of
/// 100 bytes is about 9 frames.
pub const NATS_BATCH_FRAMES_MAX: usize = 1000;
/// Record bytes at which the JetStream log closes a frame (its
/// `Log::frame_fill`; `JetStreamLog::with_frame_fill` and `nats_ingest
/// --fill` try others, up to [`FRAME_BODY_BYTES_MAX`], so every frame
/// decodes everywhere). The same 96 KiB as the sled store's
/// [`FRAME_FILL_BYTES`], by measurement (`docs/scale-out.md`, "Frame
/// fill"): fewer, larger messages did not cost the 3 nodes less CPU per
/// event on loopback — 256 KiB and 512 KiB frames cost 4 streams 14–30 %
/// more (system time), 160 KiB was within the noise. Lowered to what a
/// cluster carries (its `max_payload`, the stream's `max_message_size`)
/// when opening a stream.
pub const NATS_FRAME_FILL_BYTES: usize = 96 << 10;
const _: () = assert!(NATS_FRAME_FILL_BYTES <= FRAME_BODY_BYTES_MAX && NATS_FRAME_FILL_BYTES >= FRAME_FILL_BYTES);
/// Bytes the headers of one JetStream message of a batch may take
/// (`Nats-Batch-Id`, `-Sequence`, `-Commit`, `Nats-Msg-Id`,
/// `Nats-Expected-Last-Sequence`: about 240), kept free of a frame below
/// the cluster's `max_payload`.
pub const NATS_HEADER_BYTES_MAX: usize = 512;
/// Longest program token that names a stream (`cardledger-<program>`,
/// subject `cardledger.<program>`), in bytes; the token may hold only
/// ASCII letters, digits, `-` and `_` (what a stream name and a subject
/// token both accept).
pub const NATS_PROGRAM_BYTES_MAX: usize = 200;
/// Longest wait for an append whose outcome is unknown (the stream leader
/// lost, a timeout) to be settled by retries and reads, in milliseconds;
/// past it the append fails `Unavailable` and is not acknowledged.
pub const NATS_APPEND_SETTLE_MILLIS_MAX: u64 = 60_000;
/// Longest time a read of the stream (its last message, a message get,
/// the start of a read or a subscription) is retried while the cluster
/// answers it `Unavailable` (503 during a leader election, a timeout), in
/// milliseconds; past it the read fails `Unavailable`. Reads change
/// nothing, so retrying them is always safe; the bound is below
/// `NATS_APPEND_SETTLE_MILLIS_MAX`, which caps every call to the cluster.
pub const NATS_READ_RETRY_MILLIS_MAX: u64 = 30_000;

// --- the HTTP host (crates/cardledger-server) ---

/// Largest HTTP body of a `POST /v3/commands` batch, in bytes (every other
/// route takes one command: `LINE_BYTES_MAX`). Larger bodies are refused
/// before they are read.
pub const HTTP_COMMANDS_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Longest HTTP path plus query, in bytes.
pub const HTTP_PATH_BYTES_MAX: usize = 4096;
/// Most HTTP header bytes of one request (names, values and separators).
pub const HTTP_HEADER_BYTES_MAX: usize = 16 * 1024;
/// Most engine calls the HTTP host runs at once (reads and writes; a
/// `/v3/commands` batch holds its place while its body is read); more are
/// answered 429 at once. 512 is tokio's default number of blocking threads,
/// which `cardledger serve` sets to this bound: every admitted call has a
/// thread of its own, so none waits in an unbounded queue, while 512 is far
/// above what the group commit needs to fill its batches (64 callers
/// already share one flush).
pub const HTTP_REQUESTS_IN_FLIGHT_MAX: usize = 512;

// ---- the cold state (cardledger-core `cold.rs`) ----

/// Bytes of a cold block (a run's entries are packed into blocks of about
/// this size, back to back in the run's file; a lookup reads one block).
pub const COLD_BLOCK_BYTES: usize = 4096;

/// Blocks a cold flush writes per part (1 MiB of `COLD_BLOCK_BYTES`
/// blocks, one append to the run's file; up to store format 6 one sled
/// `apply_batch`): the run is encoded and written a part
/// at a time, so a flush holds at most one part encoded beside the typed
/// entries of the groups it has not finished (a group's are dropped once
/// all of it is written). sled's cost per block falls with the batch's
/// size (16 blocks: 551M instructions for `measure --events 400000`'s two
/// runs, 64: 340M, 256: 233M); a batch holds sled's lock of every tree
/// for ≈ 1-2 ms.
pub const COLD_FLUSH_PART_BLOCKS: usize = 256;

/// The nice value of the background cold writer's thread (Linux; 0 is the
/// engine's own): it yields the second core to the commit path's frame
/// encoder and sled writers, and still finishes a flush's run long before
/// the next flush waits for it (docs/performance.md, "Issue 13: the cold
/// writer, eighth session"). An open's flushes too: not niced, the
/// writer holds sled's lock while the replay's applier and reader run,
/// and they waited on it more ("Issue 13: replay, the reader's decode").
pub const COLD_WRITER_NICE: i32 = 10;

/// Bits per key of a cold run's Bloom filter (7 probes: about 0.2 % false
/// positives, against 0.9 % at 10 bits; every run's filter is probed by
/// every new token's lookup, and a false positive reads a block; the
/// filters are the only cold memory that grows with history, about 1.75
/// bytes per cold entry). Runs written with another count are read as
/// they were written (the meta holds the filter's length).
pub const COLD_FILTER_BITS_PER_KEY: usize = 14;

/// Cold blocks kept in memory after a point lookup read them (the least
/// recently used evicted): about 1 MiB of `COLD_BLOCK_BYTES` blocks. At a
/// million demo events a run's filter let ≈ 21,000 lookups into ≈ 1,500
/// distinct blocks, each a `pread` and a crc check; 256 blocks held 86 %
/// of them (docs/performance.md, "the cold block cache").
pub const COLD_BLOCK_CACHE_BLOCKS: usize = 256;

/// Cold run files kept open (store format 7: one file per run): the
/// newest runs' (most lookups end in them); an older run's file is opened
/// for each read. A run is written every `SNAPSHOT_INTERVAL_EVENTS` and at
/// each clean close, so a 10M-event store has ≈ 51 runs plus one a
/// session: all open, far below the usual limit of 1,024 descriptors.
pub const COLD_RUN_FILES_OPEN_MAX: usize = 256;

// ---- webhooks (cardledger-server `webhooks.rs`, docs/http.md) ----

/// Registered webhook endpoints at most.
pub const WEBHOOKS_MAX: usize = 64;
/// Delivery attempts kept per endpoint for `GET …/deliveries` (newest kept).
pub const WEBHOOK_ATTEMPTS_KEPT_MAX: usize = 1000;
/// Longest wait for a receiver's answer, connection included, by default.
pub const WEBHOOK_RESPONSE_WAIT_MS_MAX: u64 = 10_000;
/// The first retry's delay; each later one doubles, up to
/// [`WEBHOOK_BACKOFF_MS_MAX`].
pub const WEBHOOK_BACKOFF_FIRST_MS: u64 = 500;
/// The longest delay between two attempts.
pub const WEBHOOK_BACKOFF_MS_MAX: u64 = 60_000;
/// Characters of a webhook's name, URL or secret at most.
pub const WEBHOOK_FIELD_CHARS_MAX: usize = 1024;
/// Event patterns of one webhook at most.
pub const WEBHOOK_EVENTS_MAX: usize = 32;

/// Most bytes `verify-report` reads from a report (after decompression):
/// a view page is at most `QUERY_COUNT_MAX` rows, far below this.
pub const REPORT_BYTES_MAX: usize = 256 << 20;
