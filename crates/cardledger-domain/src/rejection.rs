//! Rejections are data: a stable numeric code, the field at fault and a
//! message that names it. Codes are ordered by the precedence in which they
//! are checked and are never renumbered; new codes are appended.

use std::fmt;

/// Why a command was rejected. The numeric code is part of the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Code {
    // --- the line itself ---
    /// The line is not valid JSON.
    MalformedJson = 1001,
    /// The line is JSON but not an object, or a body is not an object.
    NotAnObject = 1002,
    /// The line's command key is not a known command.
    UnknownCommand = 1003,
    /// The line has no command key, or more than one.
    CommandCount = 1004,
    /// A field the command does not define.
    UnknownField = 1005,
    /// A required field is absent (or null).
    MissingField = 1006,
    /// A field has the wrong JSON type.
    WrongType = 1007,
    /// `time` or a date field is not a valid RFC 3339 time / date.
    InvalidTime = 1008,
    /// The line is longer than `LINE_BYTES_MAX`.
    LineTooLong = 1009,
    // --- values ---
    /// An amount is zero or negative where the API says "amount".
    AmountNotPositive = 1101,
    /// An amount has more than two decimal places.
    AmountTooPrecise = 1102,
    /// An amount is not below 10^12 in absolute value.
    AmountTooLarge = 1103,
    /// A token is empty or longer than 36 characters.
    TokenLength = 1104,
    /// A currency other than the supported ones (USD).
    Currency = 1105,
    /// A value outside the field's allowable values.
    InvalidValue = 1106,
    /// A text longer than its limit.
    TextTooLong = 1107,
    /// Both or neither of user_token / business_token (or account_token).
    HolderChoice = 1108,
    /// An amount field holds something that is not a number.
    AmountNotANumber = 1109,
    /// A time-zone name the tz database does not know (`Mars/Olympus`).
    UnknownTimeZone = 1110,
    // --- references and state ---
    /// A referenced resource does not exist (or is of another kind).
    UnknownReference = 1201,
    /// The token was already used with a different payload.
    TokenConflict = 1202,
    /// The referenced resource is inactive.
    Inactive = 1203,
    /// The funding source belongs to another holder or program.
    FundingSourceNotOwned = 1204,
    /// Several funding sources and none is the default.
    FundingSourceAmbiguous = 1205,
    /// The holder has no usable funding source.
    NoFundingSource = 1206,
    /// A payment-card funding source without an address.
    FundingSourceAddressRequired = 1207,
    /// The unload exceeds what remains of the original order.
    UnloadExceedsOrder = 1208,
    /// The account's available balance (or available credit) is too low.
    InsufficientFunds = 1209,
    /// Resources of different programs were combined.
    ProgramMismatch = 1210,
    /// The related authorization has no open hold to act on.
    NoOpenHold = 1211,
    /// The amount exceeds the open hold it refers to.
    ExceedsHold = 1212,
    /// A `tick` whose `now` is not after the previous tick.
    TickNotAfterPrevious = 1213,
    /// A balance would leave the engine's exact range.
    BalanceOverflow = 1214,
    /// The event the command would record does not encode within
    /// `EVENT_BYTES_MAX` (refused before anything is written).
    EventTooLarge = 1215,
    /// An unload from an MSA order that an update made inactive.
    OrderInactive = 1216,
    /// The records of a submitted batch would exceed what one append takes
    /// (`BATCH_RECORDS_MAX` records or `BATCH_BYTES_MAX` bytes); this command
    /// and the rest of the batch from it are refused unwritten.
    BatchFull = 1217,
    // --- the host ---
    /// The command names a program this host does not serve: a host given
    /// `--programs` (a partition of the programs over hosts sharing one
    /// JetStream cluster, `docs/scale-out.md`) records only its own
    /// programs' commands; send it to the host that owns the program.
    ProgramNotServed = 1220,
}

impl Code {
    /// The stable numeric code.
    pub fn number(self) -> u16 {
        self as u16
    }
}

/// A rejected command: nothing was recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The stable code.
    pub code: Code,
    /// The field at fault (dotted path, e.g. `gpa_order.amount`), or empty.
    pub field: String,
    /// A human-readable message naming the field.
    pub message: String,
}

impl Rejection {
    /// A rejection of `field` with a message (the field is prefixed to it).
    /// Cold: a branch that builds one (and its message's `format!`) is laid
    /// out away from the accepted path, which keeps the commit path's hot
    /// code together (docs/performance.md, "commit path, twelfth pass").
    #[cold]
    pub fn new(code: Code, field: impl Into<String>, what: impl fmt::Display) -> Rejection {
        let field = field.into();
        let message = if field.is_empty() { what.to_string() } else { format!("{field}: {what}") };
        Rejection { code, field, message }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code.number(), self.message)
    }
}

impl std::error::Error for Rejection {}
