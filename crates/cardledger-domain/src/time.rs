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
        if let Some(t) = parse_utc_second(text.as_bytes()) {
            return Some(t);
        }
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
    /// The texts of the last two whole seconds written on this thread are
    /// kept ([`LAST_SECONDS`]): a response prints the same second two or
    /// three times, consecutive events share seconds, and an order's
    /// response prints its funding source's creation between its own
    /// times (with one kept second, two of its four times missed).
    pub fn write_rfc3339(self, out: &mut Vec<u8>) {
        let Some(text) = self.second_text() else {
            return self.write_display(out);
        };
        out.extend_from_slice(&text);
        self.write_fraction_z(out);
    }

    /// [`Timestamp::write_rfc3339`] as a JSON string (between `"`): a
    /// whole second (every time a response prints but a fractional one) is
    /// one fixed-size copy of its 22 bytes, not four appends.
    pub fn write_rfc3339_quoted(self, out: &mut Vec<u8>) {
        if self.0.rem_euclid(1_000_000) == 0 {
            if let Some(t) = self.second_text() {
                let mut quoted = *b"\"0000-00-00T00:00:00Z\"";
                if let Some(text) = quoted.get_mut(1..20) {
                    text.copy_from_slice(&t);
                }
                out.extend_from_slice(&quoted);
                return;
            }
        }
        // a fraction, or a year outside 1 to 9999: the unquoted text
        out.push(b'"');
        self.write_rfc3339(out);
        out.push(b'"');
    }

    /// The text of this time's whole second, from the two kept
    /// ([`LAST_SECONDS`]) or made and kept; `None` outside years 1 to 9999.
    fn second_text(self) -> Option<SecondText> {
        let secs = self.0.div_euclid(1_000_000);
        LAST_SECONDS.with(|last| {
            let [recent, older] = last.get();
            if recent.0 == secs {
                Some(recent.1)
            } else if older.0 == secs {
                // the most recent first
                last.set([older, recent]);
                Some(older.1)
            } else {
                let text = second_text_after(secs, recent)?;
                last.set([(secs, text), recent]);
                Some(text)
            }
        })
    }

    /// The bytes of `Display` (chrono's formatter: years outside 1 to 9999).
    fn write_display(self, out: &mut Vec<u8>) {
        if let Err(e) = std::io::Write::write_fmt(out, format_args!("{self}")) {
            unreachable!("writing into a Vec cannot fail: {e}")
        }
    }

    /// What follows the whole second's text: the fraction (`.250`,
    /// `.000250`) when there is one, and `Z`.
    fn write_fraction_z(self, out: &mut Vec<u8>) {
        let micros = self.0.rem_euclid(1_000_000);
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

/// `YYYY-MM-DDTHH:MM:SSZ` (the lines' common shape) read without chrono:
/// a valid date in years 1 to 9999, hours to 23, minutes and seconds to 59.
/// `None` for anything else, which chrono then reads (a leap second, an
/// offset, a fraction, a lowercase `t`, …): what this reads, chrono reads
/// as the same instant (a unit test compares the two).
fn parse_utc_second(text: &[u8]) -> Option<Timestamp> {
    let [y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T', h0, h1, b':', mi0, mi1, b':', s0, s1, b'Z'] = *text else {
        return None;
    };
    let (hour, minute, second) = (digit_pair(h0, h1)?, digit_pair(mi0, mi1)?, digit_pair(s0, s1)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // consecutive lines mostly fall on one day: its number is kept
    let date = [y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1];
    let (last, last_days) = LAST_DATE.get();
    let days = if last == date {
        last_days
    } else {
        let days = civil_days(&date)?;
        LAST_DATE.set((date, days));
        days
    };
    Some(Timestamp((days * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000))
}

thread_local! {
    /// The last date [`parse_utc_second`] read on this thread (a valid
    /// `YYYY-MM-DD`; zeros, which are none, until then) and its day number.
    static LAST_DATE: std::cell::Cell<([u8; 10], i64)> = const { std::cell::Cell::new(([0; 10], 0)) };
}

/// Two ASCII digits as a number.
fn digit_pair(a: u8, b: u8) -> Option<i64> {
    let (a, b) = (a.wrapping_sub(b'0'), b.wrapping_sub(b'0'));
    (a < 10 && b < 10).then_some(i64::from(a) * 10 + i64::from(b))
}

/// A valid `YYYY-MM-DD` in years 1 to 9999 as days since 1970-01-01;
/// `None` for any other text.
fn civil_days(date: &[u8; 10]) -> Option<i64> {
    let [y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1] = *date else {
        return None;
    };
    let year = digit_pair(y0, y1)? * 100 + digit_pair(y2, y3)?;
    let (month, day) = (digit_pair(mo0, mo1)?, digit_pair(d0, d1)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > month_days {
        return None;
    }
    // a civil date to days since 1970-01-01 (H. Hinnant's algorithm)
    let y = if month <= 2 { year - 1 } else { year };
    let (era, yoe) = (y.div_euclid(400), y.rem_euclid(400));
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// `YYYY-MM-DDTHH:MM:SS`, the text of a whole second.
type SecondText = [u8; 19];

thread_local! {
    /// The last two whole seconds [`Timestamp::write_rfc3339`] wrote on
    /// this thread, the most recent first, and their texts (`i64::MIN`,
    /// which is never a second it writes, until then).
    static LAST_SECONDS: std::cell::Cell<[(i64, SecondText); 2]> =
        const { std::cell::Cell::new([(i64::MIN, [0; 19]); 2]) };
}

/// The text of the second `secs` (since the Unix epoch) in years 1 to
/// 9999; `None` for any other year (chrono's formatter writes those).
fn second_text(secs: i64) -> Option<SecondText> {
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
        return None;
    }
    // two digits of each part, by constant divisions (no loop, no power)
    let pair = |n: i64| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    let ([y0, y1], [y2, y3]) = (pair(year / 100), pair(year % 100));
    let ([mo0, mo1], [d0, d1]) = (pair(month), pair(day));
    let ([h0, h1], [mi0, mi1], [s0, s1]) = (pair(sod / 3600), pair(sod / 60 % 60), pair(sod % 60));
    Some([y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T', h0, h1, b':', mi0, mi1, b':', s0, s1])
}

/// [`second_text`], from the text of a second `known` written before
/// when both fall on the same day: its date kept, only the time of day
/// written (most seconds a response prints follow one of the same day;
/// the date from the day number is most of `second_text`'s work).
fn second_text_after(secs: i64, known: (i64, SecondText)) -> Option<SecondText> {
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // `i64::MIN` is no second written (the cache's empty place)
    if known.0 == i64::MIN || known.0.div_euclid(86_400) != days {
        return second_text(secs);
    }
    let pair = |n: i64| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    let ([h0, h1], [mi0, mi1], [s0, s1]) = (pair(sod / 3600), pair(sod / 60 % 60), pair(sod % 60));
    let [y0, y1, y2, y3, dash0, mo0, mo1, dash1, d0, d1, t, ..] = known.1;
    Some([y0, y1, y2, y3, dash0, mo0, mo1, dash1, d0, d1, t, h0, h1, b':', mi0, mi1, b':', s0, s1])
}

/// `n`'s last `width` decimal digits, zero-padded.
fn digits(out: &mut Vec<u8>, n: i64, width: u32) {
    for p in (0..width).rev() {
        out.push(b'0' + ((n / 10i64.pow(p)) % 10) as u8);
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

    /// The kept seconds (`LAST_SECONDS`) never show through: each second
    /// written several times in a row, with and without fractions, between
    /// others, before and after an instant chrono writes (year 10000), gives
    /// its `Display` bytes every time.
    #[test]
    fn repeated_seconds_write_their_display_bytes() {
        let check = |t: Timestamp| {
            let mut out = Vec::new();
            t.write_rfc3339(&mut out);
            assert_eq!(String::from_utf8_lossy(&out), t.to_string(), "{t:?}");
            // and quoted, after other bytes
            let mut out = b"x".to_vec();
            t.write_rfc3339_quoted(&mut out);
            assert_eq!(String::from_utf8_lossy(&out), format!("x\"{t}\""), "{t:?} quoted");
        };
        let base = Timestamp::parse("2024-02-28T23:59:57Z").map_or(0, |t| t.0);
        let far = Timestamp::parse("9999-12-31T23:59:59Z").map_or(0, |t| t.0) + 1_000_000;
        for step in 0..6i64 {
            // whole seconds: the next one, the same one, a day back
            let second = base + step / 2 * 1_000_000 - (step % 2) * 86_400_000_000;
            for micros in [0, 250_000, 0, 123, 999_999, 0, 1_000_000, 1_000_001] {
                check(Timestamp(second + micros));
            }
            check(Timestamp(far + step));
            check(Timestamp(-second));
            check(Timestamp(second));
        }
        // two seconds taking turns (an order's times and its funding
        // source's), then a third between them, each written twice
        let (a, b, c) = (base, base + 86_400_000_000 + 7_000_000, base - 3_000_000);
        for t in [a, a, b, b, a, b, a, c, c, a, b, b, c, a, b, a, a, b, c, c, b] {
            for _ in 0..2 {
                check(Timestamp(t));
            }
        }
    }

    /// A second written after another of the same day keeps that one's
    /// date (`second_text_after`): seconds walking across midnights (of a
    /// leap day, a month's and a year's end, the day before 1970 and the
    /// last day of year 9999), a few seconds and more than a day apart, in
    /// both directions, each written after the one before it.
    #[test]
    fn seconds_of_the_same_day_write_their_display_bytes() {
        let at = |text: &str| Timestamp::parse(text).map_or(0, |t| t.0 / 1_000_000);
        let mut written = 0;
        for midnight in ["2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z", "2024-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]
            .into_iter()
            .chain(["1969-12-31T00:00:00Z", "0001-01-02T00:00:00Z", "9999-12-31T00:00:00Z"])
        {
            let m = at(midnight);
            for step in [1, 7, 3_599, 86_399, 86_400, 86_401] {
                for dir in [1, -1] {
                    for k in -3..=3i64 {
                        let secs = m + dir * k * step;
                        let mut out = Vec::new();
                        Timestamp(secs * 1_000_000).write_rfc3339(&mut out);
                        let t = Timestamp(secs * 1_000_000);
                        assert_eq!(String::from_utf8_lossy(&out), t.to_string(), "{t:?} after {}", secs - dir * step);
                        let mut quoted = Vec::new();
                        t.write_rfc3339_quoted(&mut quoted);
                        assert_eq!(String::from_utf8_lossy(&quoted), format!("\"{t}\""), "{t:?} quoted");
                        written += 1;
                    }
                }
            }
        }
        assert_eq!(written, 7 * 6 * 2 * 7);
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` read without chrono is chrono's instant, and
    /// what it leaves to chrono is every other shape: every day of leap
    /// and common years (and the days after each month's last), every
    /// hour, minute and second with their first invalid values, and texts
    /// one byte off the shape.
    #[test]
    fn utc_seconds_parse_as_chrono_parses_them() {
        let chrono = |text: &str| DateTime::parse_from_rfc3339(text).ok().map(|dt| Timestamp(dt.timestamp_micros()));
        let mut read = 0;
        let mut check = |text: String| {
            let fast = parse_utc_second(text.as_bytes());
            if fast.is_some() {
                read += 1;
                assert_eq!(fast, chrono(&text), "{text}");
            }
        };
        for year in [1, 4, 100, 400, 1600, 1900, 1969, 1970, 2000, 2023, 2024, 2100, 9999] {
            for month in 0..=13 {
                for day in 0..=32 {
                    check(format!("{year:04}-{month:02}-{day:02}T12:34:56Z"));
                }
            }
        }
        // every time of a day read after that day (its number kept: `LAST_DATE`),
        // days taking turns, an impossible day after the one before it
        for date in ["2024-02-29", "2023-02-28", "2023-02-29", "2024-02-29", "2024-12-31", "2025-01-01", "2024-12-31"] {
            for (h, m, sec) in [(0, 0, 0), (23, 59, 59), (24, 0, 0), (0, 60, 0), (0, 0, 60), (9, 9, 9), (19, 5, 30)] {
                check(format!("{date}T{h:02}:{m:02}:{sec:02}Z"));
            }
        }
        for text in [
            "0000-01-01T00:00:00Z",
            "2024-01-01T00:00:00z",
            "2024-01-01t00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00+00:00",
            "2024-01-01T00:00:00.5Z",
            "2024-01-01T00:00:0Z",
            "2024-01-01T00:00:00ZZ",
            "2024-1-01T00:00:00Z",
            "+024-01-01T00:00:00Z",
            "2024-01-01T0a:00:00Z",
            "2024/01/01T00:00:00Z",
        ] {
            check(text.to_string());
        }
        assert!(read > 13 * 12 * 28, "the fast path read {read}");
    }
}
