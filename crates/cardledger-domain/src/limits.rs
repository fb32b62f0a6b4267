//! Every limit of the engine, in one place, with units last in the names.

/// Longest token, in characters (source pages: "36 char max").
pub const TOKEN_CHARS_MAX: usize = 36;
/// Input amounts satisfy `|x| < AMOUNT_ABS_LIMIT_UNITS` (numeric(14,2)).
pub const AMOUNT_ABS_LIMIT_UNITS: i64 = 1_000_000_000_000;
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
/// Largest encoded event, in bytes (decoding is bounded by it).
pub const EVENT_BYTES_MAX: usize = 64 * 1024;
/// Most commands the engine decides and flushes as one batch.
pub const BATCH_EVENTS_MAX: usize = 65_536;
/// Reserve window bounds, in days.
pub const RESERVE_WINDOW_DAYS_MAX: u32 = 366;
/// Most cycle closes one `CyclesClosed` event carries (a tick closing more
/// cycles records several events in its batch); keeps an event far below
/// `EVENT_BYTES_MAX` even with long dues lists.
pub const CYCLE_CLOSES_PER_EVENT_MAX: usize = 16;
/// Largest encoded ledger state a snapshot holds, in bytes (decoding is
/// bounded by it; a larger state is not snapshotted and open replays).
pub const SNAPSHOT_STATE_BYTES_MAX: usize = 512 << 20;
/// Fewest events between two engine snapshots taken after a group commit
/// (the engine also waits for the log to double since the last one; a
/// snapshot is also taken at a clean close and by `Engine::snapshot`).
pub const SNAPSHOT_INTERVAL_EVENTS: u64 = 1_000_000;
/// Snapshots a store keeps (the newest ones); an older one is the fallback
/// when the newest fails its checks.
pub const SNAPSHOTS_KEPT: usize = 2;
/// A snapshot's state is stored in sled values of this many bytes, streamed
/// as it is encoded (never held whole in memory while it is written).
pub const SNAPSHOT_CHUNK_BYTES: usize = 4 << 20;
/// The storage engine's page cache, in bytes (sled's default is 1 GiB,
/// which a long log fills: most of the process's memory after millions of
/// events). Reads of old frames are rare (duplicates, `get`, `list`).
pub const STORE_CACHE_BYTES: u64 = 64 << 20;
/// Most outstanding dues one credit account keeps: a close that would keep
/// more merges the two oldest (their sum, under the oldest due date), so the
/// total past due and the FIFO order of payments are unchanged and only the
/// delinquency bucket count stops growing (after 64 months past due). Keeps
/// every `CyclesClosed` event far below `EVENT_BYTES_MAX`.
pub const DUES_PER_ACCOUNT_MAX: usize = 64;

// ---- the log store (cardledger-core `store.rs`) ----

/// Most records in one `Store::append` call.
pub const BATCH_RECORDS_MAX: usize = 1 << 16;

/// Most encoded bytes (overhead included) in one `Store::append` call.
pub const BATCH_BYTES_MAX: usize = 64 << 20;

/// Longest checkpoint name.
pub const CHECKPOINT_NAME_BYTES_MAX: usize = 256;

/// Largest checkpoint state.
pub const CHECKPOINT_STATE_BYTES_MAX: usize = 256 << 20;

/// Free disk space an append always leaves: `Store::append` refuses a
/// batch with `StoreError::DiskFull` rather than let the storage engine
/// run out of space mid-write (sled 0.34 can leave part of a batch, or an
/// unreadable file, behind when a write fails with ENOSPC).
pub const DISK_RESERVE_BYTES: u64 = 16 << 20;

/// How long `Store::open` waits for the directory's file lock.
pub const OPEN_LOCK_WAIT_MS_MAX: u64 = 5_000;

// ---- the engine's group commit (cardledger-core `engine.rs`) ----

/// Groups of at least this many commands encode their frames on a second
/// thread while they are decided; smaller ones inline (a thread costs more
/// than it saves there).
pub const ENCODER_THREAD_LINES_MIN: usize = 256;

/// Records handed to the encoder thread at a time.
pub const ENCODER_CHUNK_RECORDS: usize = 256;

/// Longest a new leader waits for the last group's submitters to queue
/// again before it commits what is queued.
pub const GATHER_WAIT_MICROS: u64 = 1000;

/// How long a waiting submitter sleeps before checking on its own whether it
/// should take over leadership. Hand-offs wake it through its slot, so this
/// is only a safety net: a short wait would wake every submitter hundreds
/// of times a second, and with 64 of them on 2 cores those wake-ups took
/// the time the leader needed.
pub const LEADER_HANDOFF_WAIT_MS: u64 = 50;
/// Largest HTTP body of a `POST /v3/commands` batch, in bytes (every other
/// route takes one command: `LINE_BYTES_MAX`). Larger bodies are refused
/// before they are read.
pub const HTTP_COMMANDS_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Longest HTTP path plus query, in bytes.
pub const HTTP_PATH_BYTES_MAX: usize = 4096;
/// Most HTTP header bytes of one request (names, values and separators).
pub const HTTP_HEADER_BYTES_MAX: usize = 16 * 1024;
/// Most engine calls the HTTP host runs at once; more are answered 429.
pub const HTTP_REQUESTS_IN_FLIGHT_MAX: usize = 2048;
