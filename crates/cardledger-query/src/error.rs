//! Every way a query can fail, with a stable numeric code. The first three
//! digits are the HTTP status a host would answer with (`code / 1000`).
//! Codes are never renumbered; new ones are appended. 403001–403003 come from
//! the spec; the 400xxx and 500xxx codes are ours (`docs/views.md`).

/// Why a query (or an export) failed. Messages name the parameter or field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// 400001: a required parameter (`program`) is absent or empty.
    #[error("parameter {param} is required")]
    MissingParameter {
        /// The parameter.
        param: &'static str,
    },
    /// 400002: a reserved parameter has a value it cannot take.
    #[error("parameter {param}: {reason} (got {value:?})")]
    InvalidParameter {
        /// The parameter.
        param: &'static str,
        /// The value given (cut to 64 characters).
        value: String,
        /// What it must be.
        reason: &'static str,
    },
    /// 400003: `count` is 0 or above 10,000.
    #[error("parameter count must be 1..=10000 (got {value:?})")]
    CountOutOfRange {
        /// The value given.
        value: String,
    },
    /// 400004: `start_date` / `end_date` is not `YYYY-MM-DD`.
    #[error("parameter {param} must be a date YYYY-MM-DD (got {value:?})")]
    InvalidDate {
        /// `start_date` or `end_date`.
        param: &'static str,
        /// The value given.
        value: String,
    },
    /// 400005: `start_date` is after `end_date`.
    #[error("parameter start_date {start} is after end_date {end}")]
    DateOrder {
        /// The start.
        start: String,
        /// The end.
        end: String,
    },
    /// 400006: a field the view does not have, in `fields`, `sort_by` or a
    /// filter.
    #[error("unknown field {field:?} in {param}")]
    UnknownField {
        /// Where it was named: `fields`, `sort_by` or `filter`.
        param: &'static str,
        /// The field.
        field: String,
    },
    /// 400007: `fields` names a filter-only column.
    #[error("field {field} is filter-only and cannot be returned (in fields)")]
    FilterOnlyField {
        /// The field.
        field: String,
    },
    /// 400008: a filter's operator is malformed (`=>5`, `<>5`, `5..`) or does
    /// not apply to the column's type (`>` on text).
    #[error("filter {field}: bad operator in {value:?}: {reason}")]
    BadOperator {
        /// The filtered field.
        field: String,
        /// The filter value given.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// 400009: a filter operand does not parse as the column's type.
    #[error("filter {field}: {value:?} is not a valid {expected}")]
    BadFilterValue {
        /// The filtered field.
        field: String,
        /// The operand.
        value: String,
        /// The column type, as the schema prints it.
        expected: String,
    },
    /// 400010: a requested program the view does not know.
    #[error("unknown program {program:?} in program")]
    UnknownProgram {
        /// The program.
        program: String,
    },
    /// 400011: no rate converts `from` into the requested currency.
    #[error("parameter currency: no rate from {from} to {to}")]
    UnknownRate {
        /// The row currency.
        from: String,
        /// The requested currency.
        to: String,
    },
    /// 400012: an export type the view does not offer.
    #[error("export type {format:?} is not offered by this view (allowed: {allowed})")]
    FormatNotAllowed {
        /// The format asked for.
        format: String,
        /// The view's formats, comma separated.
        allowed: String,
    },
    /// 400013: a reserved parameter given twice.
    #[error("parameter {param} given more than once")]
    DuplicateParameter {
        /// The parameter.
        param: String,
    },
    /// 400014: too many parameters, or a key or value over its length limit.
    #[error("parameter {param}: {reason}")]
    TooLarge {
        /// The parameter (cut to 64 characters).
        param: String,
        /// Which limit.
        reason: &'static str,
    },
    /// 403001: the principal may not see a field named in `fields` or
    /// `sort_by`.
    #[error("field {field} is not accessible (in {param})")]
    DeniedField {
        /// `fields` or `sort_by`.
        param: &'static str,
        /// The field.
        field: String,
    },
    /// 403002: the principal may not filter on a field.
    #[error("filter on field {field} is not accessible")]
    DeniedFilter {
        /// The field.
        field: String,
    },
    /// 403003: the principal may not query a program.
    #[error("program {program} is not accessible")]
    DeniedProgram {
        /// The program.
        program: String,
    },
    /// 500001: writing an export file failed.
    #[error("export to {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// 500002: rendering CSV or XLSX failed.
    #[error("rendering {format}: {message}")]
    Render {
        /// `csv` or `xlsx`.
        format: &'static str,
        /// The renderer's error.
        message: String,
    },
}

impl QueryError {
    /// The stable numeric code.
    pub fn code(&self) -> u32 {
        match self {
            QueryError::MissingParameter { .. } => 400001,
            QueryError::InvalidParameter { .. } => 400002,
            QueryError::CountOutOfRange { .. } => 400003,
            QueryError::InvalidDate { .. } => 400004,
            QueryError::DateOrder { .. } => 400005,
            QueryError::UnknownField { .. } => 400006,
            QueryError::FilterOnlyField { .. } => 400007,
            QueryError::BadOperator { .. } => 400008,
            QueryError::BadFilterValue { .. } => 400009,
            QueryError::UnknownProgram { .. } => 400010,
            QueryError::UnknownRate { .. } => 400011,
            QueryError::FormatNotAllowed { .. } => 400012,
            QueryError::DuplicateParameter { .. } => 400013,
            QueryError::TooLarge { .. } => 400014,
            QueryError::DeniedField { .. } => 403001,
            QueryError::DeniedFilter { .. } => 403002,
            QueryError::DeniedProgram { .. } => 403003,
            QueryError::Io { .. } => 500001,
            QueryError::Render { .. } => 500002,
        }
    }

    /// The HTTP status a host would answer with: 400, 403 or 500.
    pub fn status(&self) -> u16 {
        // Every code is six digits, so the quotient is 400, 403 or 500.
        u16::try_from(self.code() / 1000).unwrap_or(500)
    }

    /// `{"error_code": 403001, "error_message": "..."}`, the same shape as the
    /// engine's rejections (`cardledger-core::ingest`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error_code": self.code(), "error_message": self.to_string() })
    }
}

/// Cuts user text quoted in an error to 64 characters (on a char boundary).
pub(crate) fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}
