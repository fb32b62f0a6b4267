//! Reporting days for the view projections.
//!
//! Views key their rows by the day an event is reported on, in the
//! program's reporting time zone (product.md §5; default UTC). A
//! [`ReportingClock`] turns a log [`Timestamp`] into that [`Date`]. It is a
//! pure function of the zone name and the instant — it never reads the wall
//! clock — and it caches the current local day's UTC bounds, so a stream of
//! events in time order costs two comparisons per event instead of a zone
//! lookup.
//!
//! [`DayMap`] holds a fold's values per reporting day: a `BTreeMap<Date, V>`
//! in behaviour and encoding, with the latest day kept aside so that adding
//! to it costs one comparison.
//!
//! [`program_mut`] is the per-program look-up every view fold makes once
//! per event.
//!
//! It is deliberately not a calendar library: no formatting, no parsing of
//! dates beyond the zone name.
//!
//! ```
//! use cardledger_calendar::ReportingClock;
//! use cardledger_domain::time::{Date, Timestamp};
//! let mut ny = ReportingClock::new("America/New_York");
//! let t = Timestamp::parse("2019-11-20T03:00:00Z").unwrap();
//! assert_eq!(ny.date(t), Date::parse("2019-11-19").unwrap());
//! assert_eq!(ReportingClock::new("UTC").date(t), Date::parse("2019-11-20").unwrap());
//! ```

mod day_map;
mod programs;

pub use day_map::{DayMap, Iter as DayMapIter};
pub use programs::{program_mut, SCAN_MAX};

use bincode::de::Decoder;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};
use cardledger_domain::time::{Date, Timestamp};
use cardledger_domain::zone::{self, Tz};
use chrono::{Datelike, NaiveDate};

/// Microseconds in a UTC day.
const DAY_US: i64 = 86_400_000_000;
/// `Date` number (days from 0001-01-01, day 1) of 1970-01-01.
const UNIX_EPOCH_DAY: i32 = 719_163;

/// Maps instants to reporting days in one IANA zone. Unknown zone names
/// report in UTC (the wire parser already rejects them; this keeps the fold
/// infallible). Encodes as its zone name only: the cache is rebuilt.
#[derive(Clone, Debug)]
pub struct ReportingClock {
    name: String,
    zone: Option<Tz>,
    /// The cached local day: instants in `[start_us, end_us)` are `date`.
    start_us: i64,
    end_us: i64,
    date: Date,
}

impl ReportingClock {
    /// A clock for the zone `name` (`UTC`, `America/New_York`, …).
    pub fn new(name: &str) -> ReportingClock {
        let zone = zone::parse(name).filter(|z| !zone::is_utc(*z));
        ReportingClock { name: name.to_string(), zone, start_us: 0, end_us: 0, date: Date(UNIX_EPOCH_DAY) }
    }

    /// The zone name as given.
    pub fn zone_name(&self) -> &str {
        &self.name
    }

    /// The reporting day of instant `t`.
    #[inline]
    pub fn date(&mut self, t: Timestamp) -> Date {
        if t.0 >= self.start_us && t.0 < self.end_us {
            return self.date;
        }
        self.date_uncached(t)
    }

    /// [`ReportingClock::date`] outside the cached day: converts, and caches
    /// the new day's bounds.
    #[inline(never)]
    fn date_uncached(&mut self, t: Timestamp) -> Date {
        match self.zone {
            None => {
                let day = t.0.div_euclid(DAY_US);
                let date = Date(i32::try_from(day).unwrap_or(0).saturating_add(UNIX_EPOCH_DAY));
                self.cache(day.saturating_mul(DAY_US), day.saturating_add(1).saturating_mul(DAY_US), date);
                date
            }
            Some(tz) => {
                let date = zone::local_date(tz, t);
                let (start, end) = (zone::day_start(tz, date), zone::day_start(tz, Date(date.0.saturating_add(1))));
                if t.0 >= start.0 && t.0 < end.0 {
                    self.cache(start.0, end.0, date);
                }
                date
            }
        }
    }

    fn cache(&mut self, start_us: i64, end_us: i64, date: Date) {
        self.start_us = start_us;
        self.end_us = end_us;
        self.date = date;
    }
}

/// English weekday name of a date ("Monday" … "Sunday"), as the reserve view prints it.
pub fn day_of_week(d: Date) -> &'static str {
    match d.to_naive().weekday() {
        chrono::Weekday::Mon => "Monday",
        chrono::Weekday::Tue => "Tuesday",
        chrono::Weekday::Wed => "Wednesday",
        chrono::Weekday::Thu => "Thursday",
        chrono::Weekday::Fri => "Friday",
        chrono::Weekday::Sat => "Saturday",
        chrono::Weekday::Sun => "Sunday",
    }
}

/// The first day of `d`'s month.
pub fn month_start(d: Date) -> Date {
    let n = d.to_naive();
    NaiveDate::from_ymd_opt(n.year(), n.month(), 1).map(Date::from_naive).unwrap_or(d)
}

impl Encode for ReportingClock {
    fn encode<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError> {
        self.name.encode(e)
    }
}

impl<C> Decode<C> for ReportingClock {
    fn decode<D: Decoder<Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        Ok(ReportingClock::new(&String::decode(d)?))
    }
}
bincode::impl_borrow_decode!(ReportingClock);

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap_or_default()
    }
    fn day(s: &str) -> Date {
        Date::parse(s).unwrap_or(Date(0))
    }

    #[test]
    fn utc_days_match_chrono() {
        let mut c = ReportingClock::new("UTC");
        for (t, d) in [
            ("1970-01-01T00:00:00Z", "1970-01-01"),
            ("1969-12-31T23:59:59.999999Z", "1969-12-31"),
            ("2019-11-20T23:59:59Z", "2019-11-20"),
            ("2019-11-21T00:00:00Z", "2019-11-21"),
            ("2019-11-20T12:00:00Z", "2019-11-20"),
        ] {
            assert_eq!(c.date(ts(t)), day(d), "{t}");
            assert_eq!(ts(t).date_utc(), day(d));
        }
    }

    #[test]
    fn zone_days_across_dst_and_cache() {
        let mut c = ReportingClock::new("America/New_York");
        for (t, d) in [
            ("2019-03-10T04:59:59Z", "2019-03-09"),
            ("2019-03-10T05:00:00Z", "2019-03-10"), // midnight EST; the day has 23 hours
            ("2019-03-11T03:59:59Z", "2019-03-10"),
            ("2019-03-11T04:00:00Z", "2019-03-11"),
            ("2019-11-03T03:59:59Z", "2019-11-02"),
            ("2019-11-03T04:00:00Z", "2019-11-03"), // the 25-hour day
            ("2019-11-04T04:59:59Z", "2019-11-03"),
            ("2019-11-04T05:00:00Z", "2019-11-04"),
            ("2019-11-03T12:00:00Z", "2019-11-03"),
        ] {
            assert_eq!(c.date(ts(t)), day(d), "{t}");
        }
    }

    /// Reporting days across a DST gap that swallows midnight and a DST
    /// overlap that repeats it, fed in time order (so the cached bounds are
    /// what decides) and out of order; the boundaries are the instants the
    /// statement cycles use (`zone::day_start`).
    #[test]
    fn reporting_days_across_a_midnight_gap_and_overlap() {
        use chrono::{LocalResult, TimeZone};
        let midnight = |d: &str| day(d).to_naive().and_time(chrono::NaiveTime::MIN);
        let tz = |z: &str| zone::parse(z).unwrap_or(Tz::UTC);
        // the gap: 2019-09-08 00:00 does not exist in Santiago (−04 → −03)
        assert_eq!(tz("America/Santiago").from_local_datetime(&midnight("2019-09-08")), LocalResult::None);
        // the overlap: 2019-11-03 00:00 exists twice in Havana (−04, then −05)
        assert!(matches!(
            tz("America/Havana").from_local_datetime(&midnight("2019-11-03")),
            LocalResult::Ambiguous(..)
        ));
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
        let cases: [Case; 3] = [
            (
                "America/Santiago",
                "2019-09-08",
                &[
                    ("2019-09-07T12:00:00Z", "2019-09-07"),
                    ("2019-09-08T03:59:59.999999Z", "2019-09-07"), // 23:59:59.999999 −04
                    ("2019-09-08T04:00:00Z", "2019-09-08"),        // 01:00 −03: the day's first instant
                    ("2019-09-09T02:59:59.999999Z", "2019-09-08"), // a 23-hour day
                    ("2019-09-09T03:00:00Z", "2019-09-09"),
                ],
            ),
            (
                "America/Havana",
                "2019-11-03",
                &[
                    ("2019-11-02T12:00:00Z", "2019-11-02"),
                    ("2019-11-03T03:59:59.999999Z", "2019-11-02"),
                    ("2019-11-03T04:00:00Z", "2019-11-03"), // the first 00:00 (−04)
                    ("2019-11-03T05:30:00Z", "2019-11-03"), // 00:30 the second time (−05)
                    ("2019-11-04T04:59:59.999999Z", "2019-11-03"), // a 25-hour day
                    ("2019-11-04T05:00:00Z", "2019-11-04"),
                ],
            ),
            (
                // a 1-hour gap from 23:30 to 00:30 (−10:30 → −09:30): the old
                // hour-stepping clock cached the day as ending at 01:00 local
                // (10:30Z) and reported 10:00Z–10:30Z as 1979-10-27
                "Pacific/Rarotonga",
                "1979-10-28",
                &[
                    ("1979-10-27T12:00:00Z", "1979-10-27"),
                    ("1979-10-28T09:59:59.999999Z", "1979-10-27"),
                    ("1979-10-28T10:00:00Z", "1979-10-28"),
                    ("1979-10-28T10:15:00Z", "1979-10-28"),
                ],
            ),
        ];
        for (name, boundary, instants) in cases {
            let start = zone::day_start(tz(name), day(boundary));
            let mut in_order = ReportingClock::new(name);
            for (t, d) in instants {
                assert_eq!(in_order.date(ts(t)), day(d), "{name} {t} in order");
                assert_eq!(ReportingClock::new(name).date(ts(t)), day(d), "{name} {t} fresh");
                assert_eq!(ts(t) >= start, day(d) >= day(boundary), "{name} {t} against day_start");
            }
            for (t, d) in instants.iter().rev() {
                assert_eq!(in_order.date(ts(t)), day(d), "{name} {t} backwards");
            }
        }
    }

    #[test]
    fn unknown_zone_is_utc_and_encoding_keeps_the_name() {
        let mut c = ReportingClock::new("Mars/Olympus");
        assert_eq!(c.date(ts("2019-11-20T23:00:00Z")), day("2019-11-20"));
        let cfg = bincode::config::standard();
        let bytes = bincode::encode_to_vec(ReportingClock::new("Europe/Paris"), cfg).unwrap_or_default();
        let back: Result<(ReportingClock, usize), _> = bincode::decode_from_slice(&bytes, cfg);
        assert_eq!(back.map(|(c, _)| c.zone_name().to_string()).ok(), Some("Europe/Paris".to_string()));
    }

    #[test]
    fn weekday_names_and_month_start() {
        assert_eq!(day_of_week(day("2018-08-04")), "Saturday");
        assert_eq!(day_of_week(day("2018-08-05")), "Sunday");
        assert_eq!(day_of_week(day("2018-08-06")), "Monday");
        assert_eq!(month_start(day("2019-11-20")), day("2019-11-01"));
    }
}
