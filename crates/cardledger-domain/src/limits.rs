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
