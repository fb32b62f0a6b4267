//! Program balances from event streams decided by the real domain
//! (`Ledger::decide` / `apply`): the rows of source page 001 to the cent,
//! JIT columns, restatement by a backdated event, month aggregation, and
//! agreement with the ledger's bank account.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger_domain::event::{Account, Recorded};
use cardledger_domain::money::Money;
use cardledger_domain::projection::Projection;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::{Date, Timestamp};
use cardledger_domain::wire::parse_line;
use cardledger_program_balances::{BalanceRow, ProgramAggregation, ProgramBalances};
use cardledger_query::Value;

// ---- helpers ---------------------------------------------------------------

/// A log decided by the domain, folded into the projection as it grows.
struct Log {
    ledger: Ledger,
    events: Vec<Recorded>,
    view: ProgramBalances,
}

impl Log {
    fn new() -> Log {
        Log { ledger: Ledger::default(), events: Vec::new(), view: ProgramBalances::default() }
    }

    /// Records one JSON line (with `time`); panics if the domain rejects it.
    fn record(&mut self, line: &str) {
        let cmd = parse_line(line).unwrap_or_else(|r| panic!("{r}: {line}"));
        let time = cmd.time.expect("test lines carry time");
        match self.ledger.decide(&cmd, time) {
            Decision::Accept(fact) => {
                let rec = Recorded { seq: self.events.len() as u64 + 1, time, fact };
                self.ledger.apply(&rec);
                self.view.apply(&rec);
                self.events.push(rec);
            }
            other => panic!("not accepted: {other:?}\n{line}"),
        }
    }

    fn records(&mut self, lines: &[&str]) {
        for l in lines {
            self.record(l);
        }
    }

    fn bank(&self, program: &str) -> i64 {
        self.ledger.balance(&Account::ProgramBank(program.into())).cents()
    }
}

fn day(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn cents(s: &str) -> i64 {
    Money::parse(s).unwrap().cents()
}

fn row<'a, 'b>(rows: &'a [BalanceRow<'b>], d: &str) -> &'a BalanceRow<'b> {
    rows.iter().find(|r| r.corrected_post_date == day(d)).unwrap_or_else(|| panic!("no row {d}"))
}

/// (date, beginning, amount_to_send, deposit, ending) must match the row to the cent.
fn check(rows: &[BalanceRow<'_>], want: &[(&str, &str, &str, &str, &str)]) {
    for (d, beginning, ats, deposit, ending) in want {
        let r = row(rows, d);
        let got = (r.beginning_cents, r.flows.amount_to_send(), r.flows.deposit, r.ending_cents);
        assert_eq!(got, (cents(beginning), cents(ats), cents(deposit), cents(ending)), "row {d}");
    }
}

const SETUP: &[&str] = &[
    r#"{"time":"2019-11-04T08:00:00Z","program":{"token":"my_program","bank":"my_program_bank","currency_code":"USD","opening_bank_balance":"6382613.97"}}"#,
    r#"{"time":"2019-11-04T08:00:00Z","funding_source":{"token":"pfs","program_token":"my_program","type":"program","is_default_account":true,"active":true,"name":"Program funds"}}"#,
    r#"{"time":"2019-11-04T08:00:00Z","fee":{"token":"fee_load","name":"Load fee","amount":"7.27","currency_code":"USD","active":true}}"#,
    r#"{"time":"2019-11-04T08:00:00Z","user":{"token":"u1","program_token":"my_program"}}"#,
];

/// The page's window: 11-04 begins at the opening balance, loads
/// 2,991,341.36 and receives the 4,659,036.18 deposit; 11-19 sends
/// 1,507,807.27 (a load of 1,507,800.00 with a 7.27 fee); 11-20 is quiet.
const PAGE_001: &[&str] = &[
    r#"{"time":"2019-11-04T10:00:00Z","gpa_order":{"token":"o1","user_token":"u1","amount":"2991341.36","currency_code":"USD","funding_source_token":"pfs"}}"#,
    r#"{"time":"2019-11-04T15:00:00Z","program_deposit":{"token":"d1","program_token":"my_program","amount":"4659036.18","currency_code":"USD"}}"#,
    r#"{"time":"2019-11-06T09:00:00Z","program_deposit":{"token":"d2","program_token":"my_program","amount":"6000000.00","currency_code":"USD"}}"#,
    r#"{"time":"2019-11-08T09:00:00Z","gpa_order":{"token":"o2","user_token":"u1","amount":"700000.00","currency_code":"USD"}}"#,
    r#"{"time":"2019-11-12T09:00:00Z","gpa_unload":{"token":"un1","original_order_token":"o2","amount":"35874.11"}}"#,
    r#"{"time":"2019-11-19T11:00:00Z","gpa_order":{"token":"o3","user_token":"u1","amount":"1507800.00","currency_code":"USD","fees":[{"token":"fee_load"}]}}"#,
    // the page's last row is 11-20, a quiet day: rows stop at the last
    // event's day (docs/views.md), so the log reaches it with an event that
    // moves no money
    r#"{"time":"2019-11-20T09:00:00Z","user":{"token":"u2","program_token":"my_program"}}"#,
];

fn page_001() -> Log {
    let mut log = Log::new();
    log.records(SETUP);
    log.records(PAGE_001);
    log
}

// ---- the source page -------------------------------------------------------

#[test]
fn reproduces_page_001_to_the_cent() {
    let log = page_001();
    let rows = log.view.day_rows("my_program", Some(day("2019-11-01")), Some(day("2019-11-20")));
    assert_eq!(rows.len(), 17, "11-04 (first day) to 11-20, quiet days included");
    check(
        &rows,
        &[
            ("2019-11-04", "6382613.97", "-2991341.36", "4659036.18", "8050308.79"),
            ("2019-11-05", "8050308.79", "0", "0", "8050308.79"),
            ("2019-11-19", "13386182.90", "-1507807.27", "0", "11878375.63"),
            ("2019-11-20", "11878375.63", "0", "0", "11878375.63"),
        ],
    );
    // the chain: each beginning is the day before's ending
    for w in rows.windows(2) {
        assert_eq!(w[1].beginning_cents, w[0].ending_cents);
        assert_eq!(w[1].corrected_post_date.0, w[0].corrected_post_date.0 + 1);
    }
    for r in &rows {
        assert_eq!(r.ending_cents, r.beginning_cents + r.flows.amount_to_send() + r.flows.deposit);
    }
    let r19 = row(&rows, "2019-11-19");
    assert_eq!(r19.flows.partner_funds_loads, cents("-1507807.27"), "amount plus fee, from the bank's side");
    assert_eq!(row(&rows, "2019-11-12").flows.partner_funds_unloads, cents("35874.11"));
    assert_eq!(rows.last().unwrap().ending_cents, log.bank("my_program"), "ends at the ledger's bank balance");
}

#[test]
fn table_cells_follow_the_schema() {
    let log = page_001();
    let t = log.view.table(
        &["my_program".to_string()],
        ProgramAggregation::Day,
        Some(day("2019-11-19")),
        Some(day("2019-11-20")),
        &[],
    );
    assert_eq!(t.date_field, "corrected_post_date");
    assert_eq!(t.rows.len(), 2);
    let cell = |r: usize, f: &str| t.rows[r][t.column_index(f).unwrap()].clone();
    let amount = |s: &str| Value::Amount(Money::parse(s).unwrap().decimal());
    assert_eq!(cell(0, "corrected_post_date"), Value::Date(day("2019-11-19")));
    assert_eq!(cell(0, "beginning_bank_balance"), amount("13386182.90"));
    assert_eq!(cell(0, "amount_to_send"), amount("-1507807.27"));
    assert_eq!(cell(0, "ending_bank_balance"), amount("11878375.63"));
    assert_eq!(cell(1, "amount_to_send"), amount("0"));
    assert_eq!(cell(1, "program"), Value::Text("my_program".into()));
    assert_eq!(cell(1, "bank"), Value::Text("my_program_bank".into()));
    assert_eq!(
        cell(1, "last_modified_time"),
        Value::Timestamp(Timestamp::parse("2019-11-19T11:00:00Z").unwrap()),
        "a quiet day was last changed by the latest earlier event"
    );
    assert!(t.programs.contains("my_program"));
    let unknown = log.view.table(&["nope".to_string()], ProgramAggregation::Day, None, None, &[]);
    assert!(unknown.rows.is_empty());
}

#[test]
fn rows_run_to_the_last_event_day_without_an_end() {
    let mut log = page_001();
    log.record(r#"{"time":"2019-11-25T10:00:00Z","tick":{"now":"2019-11-25T10:00:00Z"}}"#);
    let rows = log.view.day_rows("my_program", None, None);
    assert_eq!(rows.first().unwrap().corrected_post_date, day("2019-11-04"));
    assert_eq!(rows.last().unwrap().corrected_post_date, day("2019-11-25"));
    assert_eq!(rows.len(), 22);
}

#[test]
fn an_end_date_past_the_data_adds_no_rows() {
    let log = page_001();
    let to_data = log.view.day_rows("my_program", None, None);
    let far = log.view.day_rows("my_program", None, Some(day("2100-01-01")));
    assert_eq!(far.last().unwrap().corrected_post_date, day("2019-11-20"), "the last event's day");
    assert_eq!(far, to_data);
    let months = log.view.month_rows("my_program", None, Some(day("2100-01-01")));
    assert_eq!(months.len(), 1, "November 2019 only");
    // an end before the data's last day still cuts the rows there
    let cut = log.view.day_rows("my_program", None, Some(day("2019-11-10")));
    assert_eq!(cut.last().unwrap().corrected_post_date, day("2019-11-10"));
}

// ---- restatement, months, JIT ----------------------------------------------

#[test]
fn a_backdated_event_restates_its_day_and_every_later_balance() {
    let mut log = page_001();
    let window = (Some(day("2019-11-04")), Some(day("2019-11-20")));
    let snapshot = log.view.clone();
    let before = snapshot.day_rows("my_program", window.0, window.1);
    log.record(r#"{"time":"2019-11-21T10:00:00Z","gpa_order":{"token":"late","user_token":"u1","amount":"1000.00","currency_code":"USD","corrected_post_date":"2019-11-10"}}"#);
    let after = log.view.day_rows("my_program", window.0, window.1);
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        let d = a.corrected_post_date;
        if d < day("2019-11-10") {
            assert_eq!(a, b, "{d} is untouched");
        } else {
            assert_eq!(a.ending_cents, b.ending_cents - 100_000, "{d} ending restated");
            let shift = if d == day("2019-11-10") { 0 } else { 100_000 };
            assert_eq!(a.beginning_cents, b.beginning_cents - shift, "{d} beginning");
        }
    }
    assert_eq!(row(&after, "2019-11-10").flows.amount_to_send(), -100_000);
    let stamp = Timestamp::parse("2019-11-21T10:00:00Z").unwrap();
    assert_eq!(row(&after, "2019-11-10").last_modified, stamp);
    assert_eq!(row(&after, "2019-11-09").last_modified, row(&before, "2019-11-09").last_modified);
    // a correction before the program's creation day moves its first day back
    log.record(r#"{"time":"2019-11-22T10:00:00Z","program_deposit":{"token":"early","program_token":"my_program","amount":"1.00","currency_code":"USD","corrected_post_date":"2019-11-01"}}"#);
    let rows = log.view.day_rows("my_program", None, Some(day("2019-11-04")));
    assert_eq!(rows.len(), 4);
    check(&rows, &[("2019-11-01", "6382613.97", "0", "1.00", "6382614.97")]);
    assert_eq!(log.view.day_rows("my_program", None, None).last().unwrap().ending_cents, log.bank("my_program"));
}

#[test]
fn month_rows_sum_flows_between_first_beginning_and_last_ending() {
    let mut log = page_001();
    log.record(r#"{"time":"2019-12-02T10:00:00Z","program_deposit":{"token":"d3","program_token":"my_program","amount":"100.00","currency_code":"USD"}}"#);
    log.record(r#"{"time":"2019-12-03T10:00:00Z","gpa_order":{"token":"o4","user_token":"u1","amount":"0.01","currency_code":"USD"}}"#);
    let months = log.view.month_rows("my_program", None, Some(day("2019-12-31")));
    assert_eq!(months.len(), 2);
    let (nov, dec) = (&months[0], &months[1]);
    assert_eq!(nov.corrected_post_date, day("2019-11-01"));
    assert_eq!(nov.beginning_cents, cents("6382613.97"));
    assert_eq!(nov.ending_cents, cents("11878375.63"));
    assert_eq!(nov.flows.deposit, cents("10659036.18"));
    assert_eq!(nov.flows.partner_funds_loads, -cents("2991341.36") - cents("700000") - cents("1507807.27"));
    assert_eq!(nov.flows.partner_funds_unloads, cents("35874.11"));
    assert_eq!(nov.beginning_cents + nov.flows.amount_to_send() + nov.flows.deposit, nov.ending_cents);
    assert_eq!(dec.corrected_post_date, day("2019-12-01"));
    assert_eq!((dec.beginning_cents, dec.ending_cents), (cents("11878375.63"), cents("11878475.62")));
    assert_eq!(dec.flows.amount_to_send(), -1);
    // a window starting mid-month begins at that day's beginning
    let part = log.view.month_rows("my_program", Some(day("2019-11-19")), Some(day("2019-11-30")));
    assert_eq!(part.len(), 1);
    assert_eq!((part[0].beginning_cents, part[0].ending_cents), (cents("13386182.90"), cents("11878375.63")));
    let t = log.view.table(&["my_program".into()], ProgramAggregation::Month, None, Some(day("2019-12-31")), &[]);
    assert_eq!(t.rows.len(), 2);
}

#[test]
fn jit_funding_fills_the_jit_columns() {
    let mut log = Log::new();
    log.records(&[
        r#"{"time":"2020-01-02T08:00:00Z","program":{"token":"jp","bank":"B","currency_code":"USD","opening_bank_balance":"1000.00","reporting_timezone":"America/New_York"}}"#,
        r#"{"time":"2020-01-02T08:00:00Z","funding_source":{"token":"gw","program_token":"jp","type":"programgateway","is_default_account":true,"active":true,"name":"Gateway"}}"#,
        r#"{"time":"2020-01-02T08:00:00Z","user":{"token":"ju","program_token":"jp"}}"#,
        // 2020-01-03T02:00Z is still 01-02 in New York
        r#"{"time":"2020-01-03T02:00:00Z","journal_entry":{"type":"authorization","token":"a1","user_token":"ju","amount":"100.00","currency_code":"USD","network":"VISA","status":"PENDING"}}"#,
        r#"{"time":"2020-01-03T15:00:00Z","journal_entry":{"type":"authorization.clearing","token":"c1","related_token":"a1","user_token":"ju","amount":"80.00","currency_code":"USD","network":"VISA","status":"POSTED"}}"#,
        r#"{"time":"2020-01-03T16:00:00Z","journal_entry":{"type":"adjustment.credit","group":"ADJUSTMENT","token":"adj1","user_token":"ju","amount":"5.00","currency_code":"USD","status":"POSTED"}}"#,
        r#"{"time":"2020-01-03T17:00:00Z","journal_entry":{"type":"adjustment.debit","group":"ADJUSTMENT","token":"adj2","user_token":"ju","amount":"2.00","currency_code":"USD","status":"POSTED"}}"#,
        r#"{"time":"2020-01-03T18:00:00Z","gpa_order":{"token":"go","user_token":"ju","amount":"50.00","currency_code":"USD","funding_source_token":"gw"}}"#,
        r#"{"time":"2020-01-03T19:00:00Z","gpa_unload":{"token":"gu","original_order_token":"go","amount":"10.00"}}"#,
    ]);
    let rows = log.view.day_rows("jp", None, None);
    assert_eq!(rows.len(), 2);
    let d2 = row(&rows, "2020-01-02");
    assert_eq!(d2.flows.jit_loads, -10_000, "authorization funded just in time, on the New York day");
    let d3 = row(&rows, "2020-01-03");
    assert_eq!(d3.flows.jit_unloads, 2_000 + 1_000, "unspent hold returned + gateway order unloaded");
    assert_eq!(d3.flows.jit_loads, -5_000, "a programgateway order is a JIT load");
    assert_eq!(d3.flows.jit_adjustments, -500 + 200);
    assert_eq!(d3.flows.partner_funds_adjustments, 0);
    assert_eq!(d3.flows.partner_funds_loads, 0);
    assert_eq!(d3.ending_cents, 100_000 - 10_000 + 2_000 - 300 - 5_000 + 1_000);
    assert_eq!(d3.ending_cents, log.bank("jp"));
}

#[test]
fn checkpoint_round_trips_and_rejects_garbage() {
    let log = page_001();
    let bytes = log.view.encode();
    let back = ProgramBalances::decode(&bytes).expect("decodes");
    assert_eq!(back.encode(), bytes);
    assert_eq!(back.day_rows("my_program", None, None), log.view.day_rows("my_program", None, None));
    assert!(ProgramBalances::decode(&[]).is_none());
    assert!(ProgramBalances::decode(&[2]).is_none(), "unknown version");
    let mut wrong = bytes.clone();
    wrong[0] = 9;
    assert!(ProgramBalances::decode(&wrong).is_none());
    assert!(ProgramBalances::decode(&bytes[..bytes.len() - 1]).is_none(), "truncated");
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(ProgramBalances::decode(&trailing).is_none(), "trailing bytes");
    // a length prefix claiming far more than the limit is refused, not allocated
    assert!(ProgramBalances::decode(&[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]).is_none());
}
