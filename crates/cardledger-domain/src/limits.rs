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
/// Largest checkpoint (a projection's saved state), in bytes: the store
/// refuses larger ones (`cardledger-core` `store::CHECKPOINT_STATE_BYTES_MAX`,
/// the same value) and the projections decode no larger ones.
pub const CHECKPOINT_BYTES_MAX: usize = 256 << 20;
/// Reserve window bounds, in days.
pub const RESERVE_WINDOW_DAYS_MAX: u32 = 366;
/// Months the statement repayment simulation (Appendix M1) runs before it
/// reports no lifetime repayment.
pub const SIMULATION_MONTHS_MAX: u32 = 1_200;
/// Most resources one page of a statements endpoint returns (source 003:
/// `count` 1–100).
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
