//! Reserve balances from a stream decided by the real domain: the three
//! rows of source page 002 to the cent, the minimum rule, reserve owed,
//! window restatement, and the table's cells.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger_domain::event::Recorded;
use cardledger_domain::money::Money;
use cardledger_domain::projection::Projection;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::Date;
use cardledger_domain::wire::parse_line;
use cardledger_query::Value;
use cardledger_reserve_balances::{ReserveBalances, ReserveRow};

struct Log {
    ledger: Ledger,
    view: ReserveBalances,
    seq: u64,
}

impl Log {
    fn new() -> Log {
        Log { ledger: Ledger::default(), view: ReserveBalances::default(), seq: 0 }
    }

    fn record(&mut self, line: &str) {
        let cmd = parse_line(line).unwrap_or_else(|r| panic!("{r}: {line}"));
        let time = cmd.time.expect("test lines carry time");
        match self.ledger.decide(&cmd, time) {
            Decision::Accept(fact) => {
                self.seq += 1;
                let rec = Recorded { seq: self.seq, time, fact };
                self.ledger.apply(&rec);
                self.view.apply(&rec);
            }
            other => panic!("not accepted: {other:?}\n{line}"),
        }
    }

    /// A partner-funded GPA load of `amount` reported on `date`.
    fn load(&mut self, token: &str, date: &str, amount: &str) {
        self.record(&format!(
            r#"{{"time":"{date}T12:00:00Z","gpa_order":{{"token":"{token}","user_token":"u1","amount":"{amount}","currency_code":"USD"}}}}"#
        ));
    }
}

fn day(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn cents(s: &str) -> i64 {
    Money::parse(s).unwrap().cents()
}

/// The page's program: "3 days or $50K", a 7-day window, opening at
/// 14,105,724.52 on 2018-07-29 so that 2018-08-04 ends at 6,400,698.48.
/// Outflows 07-29..08-06; 08-05 nets a 1,100,000.00 load against a
/// 46,151.67 unload (outflow is the net amount to send).
fn page_002() -> Log {
    let mut log = Log::new();
    log.record(r#"{"time":"2018-07-29T08:00:00Z","program":{"token":"my_program","bank":"my_program_bank","currency_code":"USD","opening_bank_balance":"14105724.52","reserve":{"description":"3 days or $50K","days":3,"minimum_amount":"50000","window_days":7}}}"#);
    log.record(r#"{"time":"2018-07-29T08:00:00Z","funding_source":{"token":"pfs","program_token":"my_program","type":"program","is_default_account":true,"active":true,"name":"Program funds"}}"#);
    log.record(r#"{"time":"2018-07-29T08:00:00Z","user":{"token":"u1","program_token":"my_program"}}"#);
    log.load("o0729", "2018-07-29", "1036862.01");
    log.load("o0730", "2018-07-30", "1030533.63");
    for d in ["2018-07-31", "2018-08-01", "2018-08-02", "2018-08-03"] {
        log.load(&format!("o{d}"), d, "1115394.83");
    }
    log.load("o0804", "2018-08-04", "1176051.08");
    log.load("o0805", "2018-08-05", "1100000.00");
    log.record(r#"{"time":"2018-08-05T13:00:00Z","gpa_unload":{"token":"un0805","original_order_token":"o0805","amount":"46151.67"}}"#);
    log.load("o0806", "2018-08-06", "449615.65");
    log
}

fn row<'a, 'b>(rows: &'a [ReserveRow<'b>], d: &str) -> &'a ReserveRow<'b> {
    rows.iter().find(|r| r.post_date == day(d)).unwrap_or_else(|| panic!("no row {d}"))
}

#[test]
fn reproduces_page_002_to_the_cent() {
    let log = page_002();
    let rows = log.view.day_rows("my_program", Some(day("2018-08-04")), Some(day("2018-08-06")));
    assert_eq!(rows.len(), 3);
    // (date, weekday, amount_to_send, ending, requirement)
    let want = [
        ("2018-08-04", "Saturday", "-1176051.08", "6400698.48", "3302154.02"),
        ("2018-08-05", "Sunday", "-1053848.33", "5346850.15", "3309433.87"),
        ("2018-08-06", "Monday", "-449615.65", "4897234.50", "3060469.02"),
    ];
    for (d, weekday, ats, ending, requirement) in want {
        let r = row(&rows, d);
        assert_eq!(r.day_of_week, weekday, "{d}");
        assert_eq!(r.amount_to_send_cents, cents(ats), "{d} amount_to_send");
        assert_eq!(r.ending_cents, cents(ending), "{d} ending");
        assert_eq!(r.requirement_cents, cents(requirement), "{d} requirement");
        assert_eq!(r.days_cents, cents(requirement), "{d}: the days amount is above the minimum");
        assert_eq!(r.owed_cents, 0, "{d} owed");
        assert_eq!(r.minimum_cents, cents("50000"));
        assert_eq!(r.description, "3 days or $50K");
        assert_eq!(r.bank, "my_program_bank");
    }
    // S(08-04) = 7,705,026.04: the average is S / 7 rounded once
    assert_eq!(row(&rows, "2018-08-04").avg_week_cents, cents("1100718.01"));
    // the chain: 6,400,698.48 → 5,346,850.15 → 4,897,234.50
    assert_eq!(rows[1].ending_cents, rows[0].ending_cents + rows[1].amount_to_send_cents);
    assert_eq!(rows[2].ending_cents, rows[1].ending_cents + rows[2].amount_to_send_cents);
}

#[test]
fn the_minimum_applies_and_a_shortfall_is_owed() {
    let mut log = page_002();
    // a quiet stretch: the window empties, the 50,000.00 minimum takes over
    // (rows stop at the last event's day: time reaches 08-13 with a tick)
    log.record(r#"{"time":"2018-08-13T12:00:00Z","tick":{"now":"2018-08-13T12:00:00Z"}}"#);
    let rows = log.view.day_rows("my_program", Some(day("2018-08-13")), Some(day("2018-08-13")));
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].days_cents, rows[0].requirement_cents), (0, cents("50000")));
    assert_eq!(rows[0].owed_cents, 0);
    // spend the bank down to 10,000.00 on 08-20: requirement round(3 × 4,887,234.50 / 7)
    log.load("drain", "2018-08-20", "4887234.50");
    let r = log.view.day_rows("my_program", Some(day("2018-08-20")), Some(day("2018-08-20"))).remove(0);
    assert_eq!(r.ending_cents, cents("10000.00"));
    assert_eq!(r.days_cents, cents("2094529.07"), "14,661,703.50 / 7 = 2,094,529.0714…");
    assert_eq!(r.owed_cents, cents("2094529.07") - cents("10000.00"));
    // eight days later the outflow has left the window: only the minimum, 40,000.00 short
    log.record(r#"{"time":"2018-08-27T12:00:00Z","tick":{"now":"2018-08-27T12:00:00Z"}}"#);
    let r = log.view.day_rows("my_program", Some(day("2018-08-27")), Some(day("2018-08-27"))).remove(0);
    assert_eq!((r.requirement_cents, r.owed_cents), (cents("50000"), cents("40000")));
    let r = log.view.day_rows("my_program", Some(day("2018-08-26")), Some(day("2018-08-26"))).remove(0);
    assert_eq!(r.days_cents, cents("2094529.07"), "still inside the 7-day window on day 7");
}

#[test]
fn a_backdated_outflow_restates_the_windows_it_falls_in() {
    let mut log = page_002();
    let snapshot = log.view.clone();
    let before = snapshot.day_rows("my_program", Some(day("2018-08-04")), Some(day("2018-08-12")));
    log.record(r#"{"time":"2018-08-10T12:00:00Z","gpa_order":{"token":"late","user_token":"u1","amount":"7.00","currency_code":"USD","corrected_post_date":"2018-08-01"}}"#);
    let after = log.view.day_rows("my_program", Some(day("2018-08-04")), Some(day("2018-08-12")));
    for (b, a) in before.iter().zip(&after) {
        let d = a.post_date;
        assert_eq!(a.ending_cents, b.ending_cents - 700, "{d} ending");
        if d <= day("2018-08-07") {
            assert_eq!(a.days_cents, b.days_cents + 300, "{d}: 3 × 7.00 / 7 more");
        } else {
            assert_eq!(a.days_cents, b.days_cents, "{d}: 08-01 left the window");
        }
    }
}

#[test]
fn table_cells_and_programs_without_a_policy() {
    let mut log = page_002();
    log.record(r#"{"time":"2018-08-01T08:00:00Z","program":{"token":"plain","bank":"B","currency_code":"USD"}}"#);
    let t = log.view.table(
        &["my_program".to_string(), "plain".to_string()],
        Some(day("2018-08-06")),
        Some(day("2018-08-06")),
        &[],
    );
    assert_eq!(t.date_field, "post_date");
    assert_eq!(t.rows.len(), 1, "a program without a reserve policy has no rows");
    assert!(t.programs.contains("my_program") && !t.programs.contains("plain"));
    let cell = |f: &str| t.rows[0][t.column_index(f).unwrap()].clone();
    assert_eq!(cell("day_of_week"), Value::Text("Monday".into()));
    assert_eq!(cell("currency"), Value::Text("USD".into()));
    assert_eq!(cell("currency_code"), Value::Integer(840));
    assert_eq!(cell("reserve_requirement_amount"), Value::Amount(Money::parse("3060469.02").unwrap().decimal()));
    assert_eq!(cell("reserve_owed_amount"), Value::Amount(Money::ZERO.decimal()));
    assert_eq!(cell("ending_bank_balance"), Value::Amount(Money::parse("4897234.50").unwrap().decimal()));
    assert_eq!(t.columns.len(), 15);
    let bytes = log.view.encode();
    assert_eq!(ReserveBalances::decode(&bytes).map(|v| v.encode()), Some(bytes));
}
