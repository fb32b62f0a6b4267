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
