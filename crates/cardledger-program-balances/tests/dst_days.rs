//! Reporting days of the program-balances view across a DST gap that
//! swallows midnight (America/Santiago, 2019-09-08: 00:00 −04 does not
//! exist, the day starts at 01:00 −03 = 04:00Z) and an overlap that repeats
//! it (America/Havana, 2019-11-03: 00:00 −04 and 00:00 −05; the day starts
//! at the first, 04:00Z): deposits an instant either side of each boundary
//! land on the days `zone::day_start` says, the instants statement cycles
//! close at.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger_domain::event::Recorded;
use cardledger_domain::projection::Projection;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::{Date, Timestamp};
use cardledger_domain::{wire, zone};
use cardledger_program_balances::ProgramBalances;

fn day(s: &str) -> Date {
    Date::parse(s).unwrap()
}

/// Folds `lines` (with `time`) decided by the domain; the view is
/// checkpointed and reopened (encode → decode) halfway.
fn fold(lines: &[String]) -> ProgramBalances {
    let (mut ledger, mut view) = (Ledger::default(), ProgramBalances::default());
    for (i, line) in lines.iter().enumerate() {
        if i == lines.len() / 2 {
            view = ProgramBalances::decode(&view.encode()).expect("checkpoint decodes");
        }
        let cmd = wire::parse_line(line).unwrap_or_else(|r| panic!("{r}: {line}"));
        let time = cmd.time.unwrap();
        let Decision::Accept(fact) = ledger.decide(&cmd, time) else { panic!("rejected: {line}") };
        let rec = Recorded { seq: i as u64 + 1, time, fact };
        ledger.apply(&rec);
        view.apply(&rec);
    }
    view
}

#[test]
fn deposits_land_on_the_exact_local_day_across_a_midnight_gap_and_overlap() {
    // the DST days themselves (chrono proves the gap and the overlap in the
    // calendar's and the statements' tests): a 23-hour and a 25-hour day
    let hours = |z: &str, d: &str| {
        let tz = zone::parse(z).unwrap();
        (zone::day_start(tz, Date(day(d).0 + 1)).0 - zone::day_start(tz, day(d)).0) / 3_600_000_000
    };
    assert_eq!(hours("America/Santiago", "2019-09-08"), 23);
    assert_eq!(hours("America/Havana", "2019-11-03"), 25);

    // (zone, created, boundary day, [(deposit time, cents, expected day)])
    let cases = [
        (
            "America/Santiago",
            "2019-09-06T12:00:00Z",
            "2019-09-08",
            vec![
                ("2019-09-08T03:59:59.999999Z", 1, "2019-09-07"),
                ("2019-09-08T04:00:00Z", 10, "2019-09-08"),
                ("2019-09-09T02:59:59Z", 100, "2019-09-08"),
                ("2019-09-09T03:00:00Z", 1000, "2019-09-09"),
            ],
        ),
        (
            "America/Havana",
            "2019-11-01T12:00:00Z",
            "2019-11-03",
            vec![
                ("2019-11-03T03:59:59.999999Z", 1, "2019-11-02"),
                ("2019-11-03T04:00:00Z", 10, "2019-11-03"),
                ("2019-11-03T05:30:00Z", 100, "2019-11-03"),
                ("2019-11-04T04:59:59Z", 1000, "2019-11-03"),
                ("2019-11-04T05:00:00Z", 10000, "2019-11-04"),
            ],
        ),
    ];
    for (name, created, boundary, deposits) in cases {
        let mut lines = vec![format!(
            r#"{{"time":"{created}","program":{{"token":"p","bank":"B","currency_code":"USD","reporting_timezone":"{name}"}}}}"#
        )];
        for (i, (t, c, _)) in deposits.iter().enumerate() {
            lines.push(format!(
                r#"{{"time":"{t}","program_deposit":{{"token":"d{i}","program_token":"p","amount":"{}.{:02}","currency_code":"USD"}}}}"#,
                c / 100,
                c % 100
            ));
        }
        let view = fold(&lines);
        let rows = view.day_rows("p", None, None);
        for (t, c, d) in &deposits {
            let row = rows.iter().find(|r| r.corrected_post_date == day(d)).unwrap();
            let want: i64 = deposits.iter().filter(|x| x.2 == *d).map(|x| x.1).sum();
            assert_eq!(row.flows.deposit, want, "{name}: the deposit at {t} ({c}) is on {d}");
        }
        let start = zone::day_start(zone::parse(name).unwrap(), day(boundary));
        for (t, _, d) in &deposits {
            let at = Timestamp::parse(t).unwrap();
            assert_eq!(at >= start, day(d) >= day(boundary), "{name} {t}: against the day start");
        }
    }
}
