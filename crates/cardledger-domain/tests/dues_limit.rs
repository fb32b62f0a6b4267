//! A credit account left unpaid for years: its dues list stops at
//! `DUES_PER_ACCOUNT_MAX` (the two oldest merge), nothing owed is lost, the
//! oldest due date is kept, and every close event encodes within
//! `EVENT_BYTES_MAX`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger_domain::event::{Event, Recorded};
use cardledger_domain::limits::{DUES_PER_ACCOUNT_MAX, EVENT_BYTES_MAX};
use cardledger_domain::money::Money;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::Timestamp;
use cardledger_domain::{encode_fact, wire};

fn run(ledger: &mut Ledger, line: &str) -> Vec<Event> {
    let cmd = wire::parse_line(line).unwrap();
    let time = cmd.time.unwrap_or(Timestamp(0));
    let facts = match ledger.decide(&cmd, time) {
        Decision::Accept(f) => vec![f],
        Decision::AcceptAll(fs) => fs,
        other => panic!("{line}: {other:?}"),
    };
    let mut out = Vec::new();
    for fact in facts {
        let bytes = encode_fact(&fact).unwrap();
        assert!(bytes.len() <= EVENT_BYTES_MAX);
        out.push(fact.event.clone());
        ledger.apply(&Recorded { seq: ledger.head_seq + 1, time, fact });
    }
    out
}

#[test]
fn dues_of_a_long_delinquent_account_stay_bounded_and_keep_what_is_owed() {
    let mut l = Ledger::default();
    run(&mut l, r#"{"time":"2020-01-01T12:00:00Z","program":{"token":"p","bank":"B","currency_code":"USD"}}"#);
    run(&mut l, r#"{"time":"2020-01-01T12:00:01Z","user":{"token":"u","program_token":"p"}}"#);
    run(
        &mut l,
        r#"{"time":"2020-01-01T12:00:02Z","credit_account":{"token":"ca","user_token":"u","program_token":"p","credit_limit":100000,"apr":"19.99"}}"#,
    );
    run(
        &mut l,
        r#"{"time":"2020-01-05T12:00:00Z","journal_entry":{"token":"j1","type":"authorization.clearing","account_token":"ca","amount":"20000.00","currency_code":"USD","status":"POSTED","group":"PURCHASE","network":"VISA"}}"#,
    );
    let mut first_due = None;
    let mut most = 0;
    for m in 0..100 {
        let (y, mo) = (2020 + (m + 1) / 12, (m + 1) % 12 + 1);
        let line = format!(r#"{{"time":"{y}-{mo:02}-03T00:00:00Z","tick":{{"now":"{y}-{mo:02}-03T00:00:00Z"}}}}"#);
        for e in run(&mut l, &line) {
            if let Event::CyclesClosed(c) = e {
                for close in &c.closes {
                    if first_due.is_none() && !close.dues.is_empty() {
                        first_due = Some(close.dues[0].due_date);
                    }
                }
            }
        }
        let acct = &l.cycles["ca"];
        most = most.max(acct.dues.len());
        assert!(acct.dues.len() <= DUES_PER_ACCOUNT_MAX, "month {m}: {} dues", acct.dues.len());
    }
    assert_eq!(most, DUES_PER_ACCOUNT_MAX, "the account was delinquent long enough to reach the cap");
    let acct = &l.cycles["ca"];
    // the oldest due date is kept, and what is owed is the sum of the dues
    assert_eq!(acct.dues.first().map(|d| d.due_date), first_due);
    let owed: Money = acct.dues.iter().map(|d| d.amount).sum();
    assert_eq!(owed, acct.delinquency.total_past_due.plus(acct.delinquency.current_due));
}
