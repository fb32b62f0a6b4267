//! The facade's one error type. Every variant has a stable numeric code
//! (the codes of the layer it comes from, unchanged) and an [`ErrorKind`]
//! a host maps to a status (`status()` gives the HTTP one).
//!
//! | variant | code | kind |
//! |---|---|---|
//! | `NotFound` | 404001 | not found |
//! | `NoStore` (a read on a directory without a store) | 404003 | not found |
//! | `Rejected` (a read's bad parameter) | the rejection's code (1001–1216) | bad parameter |
//! | `View` | the query layer's (400001–400014, 403001–403003, 500001–500002) | bad parameter / forbidden / internal |
//! | `Statements` | 1301, 1302 (not found), 1303, 1304 (bad parameter) | |
//! | `Engine` (`Poisoned`) | 503001 | unavailable |
//! | `Engine` (other) | 500010 | internal |
//! | `LogCorrupt` (`verify` found the log bad) | 500011 | internal |
//! | `Input` (reading ingest input) | 500012 | internal |
//! | `Output` (writing answers) | 500013 | internal |
//! | `AsOf` (`as_of_seq` beyond the head or malformed; `as_of_time` before the first event or malformed; both given) | 400101 (`as_of_seq`), 400102 (`as_of_time`) | bad parameter |
//! | `Report` (`verify-report`: not a report of this engine) | 400103 | bad parameter |
//! | `Imbalanced` (a trial balance that does not sum to zero) | 500014 | internal |

use cardledger_core::engine::EngineError;
use cardledger_core::reads::ReadError;
use cardledger_domain::rejection::Rejection;
use serde_json::{json, Value};

/// What went wrong, as a host answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No such resource (404).
    NotFound,
    /// A parameter is malformed or not allowed; the message names it (400).
    BadParameter,
    /// The principal may not see it (403).
    Forbidden,
    /// The engine stopped after a storage failure; reopen it (503).
    Unavailable,
    /// Storage, corruption or I/O (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status of this kind.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::BadParameter => 400,
            ErrorKind::Forbidden => 403,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

/// An error of any facade call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named resource does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `gpa_order "g1"`.
        what: String,
    },
    /// [`crate::Cardledger::open_existing`] found no store in the directory.
    #[error("no cardledger store in {dir}: ingest or demo creates one; read commands never do")]
    NoStore {
        /// The directory.
        dir: String,
    },
    /// A read was given a bad parameter (the rejection names the field).
    #[error("{0}")]
    Rejected(Rejection),
    /// A view query failed (bad parameter, access, export).
    #[error(transparent)]
    View(#[from] cardledger_query::QueryError),
    /// A statements endpoint failed (unknown account or statement, bad parameter).
    #[error(transparent)]
    Statements(#[from] cardledger_statements::StatementsQueryError),
    /// The engine failed (storage, a corrupt event, poisoned).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// `verify` found the log or the state bad.
    #[error("{0}")]
    LogCorrupt(EngineError),
    /// `as_of_seq` / `as_of_time` cannot be read at: names the field.
    #[error("{field}: {message}")]
    AsOf {
        /// `as_of_seq` or `as_of_time`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A file given to `verify-report` is not a report this engine wrote.
    #[error("file: {0}")]
    Report(String),
    /// A trial balance that does not sum to zero: a bug or a damaged log,
    /// never an answer.
    #[error("the trial balance of {program} sums to {total} cents at seq {seq}, not zero")]
    Imbalanced {
        /// The program (`*`: all).
        program: String,
        /// Its sum.
        total: i128,
        /// The seq it was read at.
        seq: u64,
    },
    /// Reading ingest input failed.
    #[error("reading input")]
    Input(#[source] std::io::Error),
    /// Writing answers or files failed.
    #[error("writing {what}")]
    Output {
        /// The file or stream.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl From<ReadError> for Error {
    fn from(e: ReadError) -> Error {
        match e {
            ReadError::Rejected(r) => Error::Rejected(r),
            ReadError::Engine(e) => Error::Engine(e),
        }
    }
}

impl Error {
    /// The stable numeric code (see the module table).
    pub fn code(&self) -> u32 {
        match self {
            Error::NotFound { .. } => 404001,
            Error::NoStore { .. } => 404003,
            Error::Rejected(r) => u32::from(r.code.number()),
            Error::View(e) => e.code(),
            Error::Statements(e) => u32::from(e.code()),
            Error::Engine(EngineError::Poisoned) => 503001,
            Error::Engine(_) => 500010,
            Error::LogCorrupt(_) => 500011,
            Error::Input(_) => 500012,
            Error::Output { .. } => 500013,
            Error::AsOf { field: "as_of_time", .. } => 400102,
            Error::AsOf { .. } => 400101,
            Error::Report(_) => 400103,
            Error::Imbalanced { .. } => 500014,
        }
    }

    /// The kind a host maps to a status.
    pub fn kind(&self) -> ErrorKind {
        use cardledger_statements::StatementsQueryError as S;
        match self {
            Error::NotFound { .. } | Error::NoStore { .. } => ErrorKind::NotFound,
            Error::Rejected(_) | Error::AsOf { .. } | Error::Report(_) => ErrorKind::BadParameter,
            Error::Imbalanced { .. } => ErrorKind::Internal,
            Error::View(e) => match e.status() {
                400 => ErrorKind::BadParameter,
                403 => ErrorKind::Forbidden,
                _ => ErrorKind::Internal,
            },
            Error::Statements(S::UnknownAccount(_) | S::UnknownStatement(_)) => ErrorKind::NotFound,
            Error::Statements(_) => ErrorKind::BadParameter,
            Error::Engine(EngineError::Poisoned) => ErrorKind::Unavailable,
            Error::Engine(_) | Error::LogCorrupt(_) | Error::Input(_) | Error::Output { .. } => ErrorKind::Internal,
        }
    }

    /// The HTTP status of [`Error::kind`].
    pub fn status(&self) -> u16 {
        self.kind().status()
    }

    /// The parameter or field at fault, when one is.
    pub fn field(&self) -> Option<String> {
        use cardledger_query::QueryError as Q;
        use cardledger_statements::StatementsQueryError as S;
        match self {
            Error::Rejected(r) if !r.field.is_empty() => Some(r.field.clone()),
            Error::AsOf { field, .. } => Some(field.to_string()),
            Error::Report(_) => Some("file".into()),
            Error::Statements(S::InvalidParameter(f, _) | S::UnknownParameter(f)) => Some(f.clone()),
            Error::View(
                Q::MissingParameter { param }
                | Q::InvalidParameter { param, .. }
                | Q::InvalidDate { param, .. }
                | Q::UnknownField { param, .. }
                | Q::DeniedField { param, .. },
            ) => Some(param.to_string()),
            Error::View(Q::DuplicateParameter { param } | Q::TooLarge { param, .. }) => Some(param.clone()),
            Error::View(
                Q::FilterOnlyField { field } | Q::BadOperator { field, .. } | Q::BadFilterValue { field, .. },
            ) => Some(field.clone()),
            Error::View(Q::DeniedFilter { field }) => Some(field.clone()),
            Error::View(Q::CountOutOfRange { .. }) => Some("count".into()),
            Error::View(Q::DateOrder { .. }) => Some("start_date".into()),
            Error::View(Q::UnknownProgram { .. } | Q::DeniedProgram { .. }) => Some("program".into()),
            Error::View(Q::UnknownRate { .. }) => Some("currency".into()),
            Error::View(Q::FormatNotAllowed { .. }) => Some("format".into()),
            _ => None,
        }
    }

    /// `{"error_code": N, "error_message": "…"}`, the shape of every
    /// answer line and view error.
    pub fn to_json(&self) -> Value {
        match self {
            Error::View(e) => e.to_json(),
            _ => json!({"error_code": self.code(), "error_message": self.to_string()}),
        }
    }
}
