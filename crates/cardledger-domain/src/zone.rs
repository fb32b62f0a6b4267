//! Time zones: the one home of zone-name parsing, local dates and the
//! instant a local day starts. The view's reporting days
//! (`cardledger-calendar`'s `ReportingClock`), the statement cycles
//! ([`crate::cycle`]) and the SQLite baseline all use it, so a reporting
//! day and a statement cycle starting on the same local date start at the
//! same instant.
//!
//! The start of a local day ([`day_start`]) is:
//! - local midnight when it exists once;
//! - the earlier instant when midnight exists twice (a DST overlap, e.g.
//!   `America/Havana` on 2019-11-03: 00:00 −04:00, not 00:00 −05:00);
//! - the exact end of the gap when midnight does not exist (a DST gap, e.g.
//!   `America/Santiago` on 2019-09-08: the day starts at 01:00 −03:00, the
//!   instant of the transition). The transition instant is found by a
//!   bisection over whole seconds on the zone's UTC offsets — tz data
//!   transitions fall on whole seconds — so gaps of any length and any
//!   position (30 minutes, a whole skipped day) give the exact instant.
//!
//! ```
//! use cardledger_domain::{zone, time::{Date, Timestamp}};
//! let santiago = zone::parse("America/Santiago").unwrap();
//! let d = Date::parse("2019-09-08").unwrap();
//! assert_eq!(zone::day_start(santiago, d).to_string(), "2019-09-08T04:00:00Z");
//! assert!(zone::parse("Mars/Olympus").is_none());
//! ```

use chrono::{LocalResult, NaiveDateTime, NaiveTime, Offset, TimeZone};
pub use chrono_tz::Tz;

use crate::time::{Date, Timestamp};

/// Microseconds in a second.
const SECOND_US: i64 = 1_000_000;
/// A bound on any zone's distance from UTC (tz data: −12:00 … +14:00),
/// in seconds: a local wall time is reached within this of its UTC reading.
const OFFSET_BOUND_S: i64 = 15 * 3600;

/// Parses an IANA zone name (`UTC`, `America/New_York`, …); `None` for a
/// name the tz database does not know. The wire rejects such names.
pub fn parse(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

/// Whether `tz` is UTC itself (callers may take a faster path).
pub fn is_utc(tz: Tz) -> bool {
    matches!(tz, Tz::UTC | Tz::Etc__UTC)
}

/// The local calendar date of instant `t` in `tz`.
pub fn local_date(tz: Tz, t: Timestamp) -> Date {
    Date::from_naive(tz.from_utc_datetime(&t.to_datetime().naive_utc()).date_naive())
}

/// The first instant of local day `d` in `tz` (see the module text: local
/// midnight, the earlier one in an overlap, the end of the gap in a gap).
pub fn day_start(tz: Tz, d: Date) -> Timestamp {
    let midnight = d.to_naive().and_time(NaiveTime::MIN);
    match tz.from_local_datetime(&midnight) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Timestamp(t.timestamp_micros()),
        LocalResult::None => gap_end(tz, midnight),
    }
}

/// The instant a DST gap containing local wall time `wall` ends: the first
/// whole second whose wall time is at or after `wall`. Wall time is below
/// `wall` at `wall − OFFSET_BOUND_S` (read as UTC) and above it at
/// `wall + OFFSET_BOUND_S`; in a gap it jumps over `wall` once, at the
/// transition, so the bisection finds the transition second exactly.
fn gap_end(tz: Tz, wall: NaiveDateTime) -> Timestamp {
    let target = wall.and_utc().timestamp();
    let wall_at = |s: i64| -> i64 {
        let utc = chrono::DateTime::from_timestamp(s, 0).map(|t| t.naive_utc()).unwrap_or_default();
        s + i64::from(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc())
    };
    // invariant: wall_at(lo) < target <= wall_at(hi)
    let (mut lo, mut hi) = (target - OFFSET_BOUND_S, target + OFFSET_BOUND_S);
    assert!(wall_at(lo) < target && wall_at(hi) >= target, "zone offsets beyond ±15 h");
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if wall_at(mid) >= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Timestamp(hi * SECOND_US)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Date {
        Date::parse(s).unwrap_or(Date(0))
    }

    #[test]
    fn midnight_gap_overlap_and_plain_days() {
        let cases = [
            ("UTC", "2019-11-20", "2019-11-20T00:00:00Z"),
            ("America/New_York", "2019-03-10", "2019-03-10T05:00:00Z"),
            // gaps at midnight
            ("America/Santiago", "2019-09-08", "2019-09-08T04:00:00Z"),
            ("America/Asuncion", "2019-10-06", "2019-10-06T04:00:00Z"),
            ("America/Havana", "2019-03-10", "2019-03-10T05:00:00Z"),
            ("Asia/Beirut", "2019-03-31", "2019-03-30T22:00:00Z"),
            // overlap at midnight: the earlier instant
            ("America/Havana", "2019-11-03", "2019-11-03T04:00:00Z"),
            // a whole skipped day: Apia went from 2011-12-29 to 2011-12-31
            ("Pacific/Apia", "2011-12-30", "2011-12-30T10:00:00Z"),
            ("Pacific/Apia", "2011-12-31", "2011-12-30T10:00:00Z"),
            // gaps the two former algorithms got wrong (hour steps: 10:30Z;
            // 30-minute steps with a UTC-midnight fallback: 2016-10-22T00:00Z;
            // both: 11:00Z)
            ("Pacific/Rarotonga", "1979-10-28", "1979-10-28T10:00:00Z"),
            ("Antarctica/Casey", "2016-10-22", "2016-10-21T16:00:00Z"),
            ("Pacific/Kiritimati", "1979-10-01", "1979-10-01T10:40:00Z"),
        ];
        for (name, d, want) in cases {
            let tz = parse(name).unwrap_or(Tz::UTC);
            assert_eq!(day_start(tz, day(d)).to_string(), want, "{name} {d}");
        }
    }

    #[test]
    fn unknown_names_are_not_zones() {
        assert!(parse("Mars/Olympus").is_none());
        assert!(parse("").is_none());
        assert!(parse("UTC").is_some_and(is_utc));
        assert!(parse("Europe/Paris").is_some_and(|z| !is_utc(z)));
    }

    /// Every day start of every zone over 2000–2040 is an instant whose
    /// local date is that day, just after an instant of an earlier day.
    #[test]
    fn day_start_is_the_first_instant_of_its_day_everywhere() {
        for tz in chrono_tz::TZ_VARIANTS {
            let mut d = day("2000-01-01");
            while d <= day("2040-12-31") {
                let s = day_start(tz, d);
                let next = Date(d.0 + 1);
                // a skipped day has no instant: it starts where the next does
                if local_date(tz, s) != d {
                    assert_eq!((local_date(tz, s), day_start(tz, next)), (next, s), "{tz} {d}");
                }
                assert!(local_date(tz, Timestamp(s.0 - 1)) < d, "{tz} {d}");
                d = next;
            }
        }
    }
}
