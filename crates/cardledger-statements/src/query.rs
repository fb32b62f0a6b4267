//! Query parameters of the statements endpoints (`key=value` pairs):
//! `count` (1–100, default 10), `start_index` (≥ 0), `sort_by`
//! (`createdTime`, `-createdTime`, `lastModifiedTime`, `-lastModifiedTime`;
//! default newest first), `start_date` / `end_date` and `expand`.

use std::fmt;

use cardledger_domain::time::{Date, Timestamp};
use cardledger_domain::zone::{self, Tz};
use serde_json::{json, Value};

pub use cardledger_domain::limits::PAGE_COUNT_MAX;
/// Page size when `count` is absent.
pub const PAGE_COUNT_DEFAULT: usize = 10;

/// Parsed query parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Page size.
    pub count: usize,
    /// First index returned.
    pub start_index: usize,
    /// Newest first (`-createdTime`, the default) or oldest first.
    pub descending: bool,
    /// `start_date`, as a local calendar date.
    pub start_date: Option<Date>,
    /// `end_date`, as a local calendar date.
    pub end_date: Option<Date>,
    /// `expand=detailObject`.
    pub expand_detail: bool,
}

impl Default for Query {
    fn default() -> Query {
        Query {
            count: PAGE_COUNT_DEFAULT,
            start_index: 0,
            descending: true,
            start_date: None,
            end_date: None,
            expand_detail: false,
        }
    }
}

/// Why a query was refused. Codes are stable (docs/statements.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatementsQueryError {
    /// 1301: no credit account with this token.
    UnknownAccount(String),
    /// 1302: no statement with this token on the account.
    UnknownStatement(String),
    /// 1303: a parameter's value is not allowed (the field, then why).
    InvalidParameter(String, String),
    /// 1304: a parameter the endpoint does not define.
    UnknownParameter(String),
}

impl StatementsQueryError {
    /// The stable numeric code.
    pub fn code(&self) -> u16 {
        match self {
            StatementsQueryError::UnknownAccount(_) => 1301,
            StatementsQueryError::UnknownStatement(_) => 1302,
            StatementsQueryError::InvalidParameter(..) => 1303,
            StatementsQueryError::UnknownParameter(_) => 1304,
        }
    }
}

impl fmt::Display for StatementsQueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatementsQueryError::UnknownAccount(t) => write!(f, "account_token: no credit account {t:?}"),
            StatementsQueryError::UnknownStatement(t) => write!(f, "statement_summary_token: no statement {t:?}"),
            StatementsQueryError::InvalidParameter(field, why) => write!(f, "{field}: {why}"),
            StatementsQueryError::UnknownParameter(k) => write!(f, "{k}: unknown parameter"),
        }
    }
}

impl std::error::Error for StatementsQueryError {}

impl Query {
    /// Parses `key=value` pairs; every bad value is an error naming it.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<Query, StatementsQueryError> {
        let mut q = Query::default();
        for pair in pairs {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| StatementsQueryError::InvalidParameter(pair.to_string(), "expected key=value".into()))?;
            let bad = |why: &str| StatementsQueryError::InvalidParameter(k.to_string(), format!("{v:?} {why}"));
            match k {
                "count" => {
                    q.count = v.parse().map_err(|_| bad("is not a whole number"))?;
                    if !(1..=PAGE_COUNT_MAX).contains(&q.count) {
                        return Err(bad("must be 1 to 100"));
                    }
                }
                "start_index" => q.start_index = v.parse().map_err(|_| bad("is not a whole number ≥ 0"))?,
                "sort_by" => {
                    q.descending = match v {
                        "createdTime" | "lastModifiedTime" => false,
                        "-createdTime" | "-lastModifiedTime" => true,
                        _ => return Err(bad("must be createdTime or -createdTime")),
                    }
                }
                "start_date" => q.start_date = Some(parse_date(v).ok_or_else(|| bad("is not yyyy-MM-dd[Thh:mm:ssZ]"))?),
                "end_date" => q.end_date = Some(parse_date(v).ok_or_else(|| bad("is not yyyy-MM-dd[Thh:mm:ssZ]"))?),
                "expand" => {
                    if v != "detailObject" {
                        return Err(bad("must be detailObject"));
                    }
                    q.expand_detail = true;
                }
                other => return Err(StatementsQueryError::UnknownParameter(other.to_string())),
            }
        }
        Ok(q)
    }

    /// The list filter of statement summaries: `start_date` alone matches
    /// the opening date, `end_date` alone the closing date, both bound the
    /// closing date (inclusive); dates compare as the account's local dates.
    pub fn matches_dates(&self, tz: Tz, opening: Timestamp, closing: Timestamp) -> bool {
        let open = zone::local_date(tz, opening);
        let close = zone::local_date(tz, closing);
        match (self.start_date, self.end_date) {
            (None, None) => true,
            (Some(s), None) => open == s,
            (None, Some(e)) => close == e,
            (Some(s), Some(e)) => s <= close && close <= e,
        }
    }

    /// The file filter: the closing date within the given bounds.
    pub fn matches_range(&self, tz: Tz, closing: Timestamp) -> bool {
        let close = zone::local_date(tz, closing);
        !matches!(self.start_date, Some(s) if s > close) && !matches!(self.end_date, Some(e) if close > e)
    }

    /// Sorts by a key, ascending or descending as asked (stable).
    pub fn sorted<T, K: Ord>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
        rows.sort_by_key(|r| key(r));
        if self.descending {
            rows.reverse();
        }
        rows
    }

    /// The page envelope: `count`, `start_index`, `end_index`, `is_more`, `data`.
    pub fn page(&self, all: Vec<Value>) -> Value {
        let total = all.len();
        let data: Vec<Value> = all.into_iter().skip(self.start_index).take(self.count).collect();
        let n = data.len();
        json!({
            "count": n,
            "start_index": self.start_index,
            "end_index": (self.start_index + n).saturating_sub(1).max(self.start_index),
            "is_more": self.start_index + n < total,
            "data": data,
        })
    }
}

/// `yyyy-MM-dd` or an RFC 3339 instant (its date as written).
fn parse_date(v: &str) -> Option<Date> {
    Date::parse(v.get(0..10)?).filter(|_| v.len() == 10 || Timestamp::parse(v).is_some())
}
