//! Business time: instants in UTC microseconds and calendar dates.
//!
//! Time is always an input: the host stamps a command when it has no `time`,
//! and projections read time only from recorded events.

use std::fmt;

use bincode::{Decode, Encode};
use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};

/// An instant in UTC, in microseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parses RFC 3339 (`2017-05-10T23:00:15Z`, offsets allowed) or a bare
    /// `YYYY-MM-DD` (midnight UTC).
    pub fn parse(text: &str) -> Option<Timestamp> {
        if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
            return Some(Timestamp(dt.with_timezone(&Utc).timestamp_micros()));
        }
        let d = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        let dt = d.and_hms_opt(0, 0, 0)?.and_utc();
        Some(Timestamp(dt.timestamp_micros()))
    }

    /// The current wall-clock time, at whole seconds: only hosts call this
    /// (to stamp a command without `time`), never decisions or projections.
    /// Whole seconds because responses print timestamps as
    /// `2017-05-10T23:00:15Z` (product.md §4): a command stamped by the host
    /// renders like one whose `time` the client gave, whether it came over
    /// HTTP or as a JSON line.
    pub fn now() -> Timestamp {
        Timestamp(Utc::now().timestamp().saturating_mul(1_000_000))
    }

    /// As a chrono value.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or_default()
    }

    /// The UTC calendar date.
    pub fn date_utc(self) -> Date {
        Date::from_naive(self.to_datetime().date_naive())
    }

    /// Appends exactly the bytes of its `Display` (`2017-05-10T23:00:15Z`,
    /// `.250` / `.000250` when there are fractional seconds) to `out`,
    /// without chrono's formatter for years 1 to 9999 (the responses print
    /// several per event; `tests/response_oracle.rs` compares the two).
    pub fn write_rfc3339(self, out: &mut Vec<u8>) {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // days to a civil date (H. Hinnant's algorithm, proleptic Gregorian)
        let z = days + 719_468;
        let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        if !(1..=9999).contains(&year) {
            if let Err(e) = std::io::Write::write_fmt(out, format_args!("{self}")) {
                unreachable!("writing into a Vec cannot fail: {e}")
            }
            return;
        }
        fn digits(out: &mut Vec<u8>, n: i64, width: u32) {
            for p in (0..width).rev() {
                out.push(b'0' + ((n / 10i64.pow(p)) % 10) as u8);
            }
        }
        digits(out, year, 4);
        out.push(b'-');
        digits(out, month, 2);
        out.push(b'-');
        digits(out, day, 2);
        out.push(b'T');
        digits(out, sod / 3600, 2);
        out.push(b':');
        digits(out, sod / 60 % 60, 2);
        out.push(b':');
        digits(out, sod % 60, 2);
        if micros % 1000 == 0 && micros != 0 {
            out.push(b'.');
            digits(out, micros / 1000, 3);
        } else if micros != 0 {
            out.push(b'.');
            digits(out, micros, 6);
        }
        out.push(b'Z');
    }
}

impl fmt::Display for Timestamp {
    /// `2017-05-10T23:00:15Z`, with fractional seconds only when present.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_datetime().to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// A calendar date, stored as days from 0001-01-01 (day 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Date(pub i32);

impl Date {
    /// From chrono.
    pub fn from_naive(d: NaiveDate) -> Date {
        Date(d.num_days_from_ce())
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Date> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(Date::from_naive)
    }

    /// To chrono.
    pub fn to_naive(self) -> NaiveDate {
        NaiveDate::from_num_days_from_ce_opt(self.0).unwrap_or_default()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_naive().format("%Y-%m-%d"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_the_source_pages() {
        let t = Timestamp::parse("2017-05-10T23:00:15Z");
        assert_eq!(t.map(|t| t.to_string()), Some("2017-05-10T23:00:15Z".to_string()));
        let t = Timestamp::parse("2017-05-10T19:00:15-04:00");
        assert_eq!(t.map(|t| t.to_string()), Some("2017-05-10T23:00:15Z".to_string()));
        assert_eq!(Timestamp::parse("2017-05-10").map(|t| t.to_string()), Some("2017-05-10T00:00:00Z".into()));
        assert_eq!(Timestamp::parse("yesterday"), None);
        assert_eq!(Date::parse("2019-11-20").map(|d| d.to_string()), Some("2019-11-20".into()));
    }
}
