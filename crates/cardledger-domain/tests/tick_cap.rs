//! A tick that finds more cycles due than one batch can carry closes the
//! first `TICK_CLOSE_EVENTS_MAX` events' worth (account-token order) and
//! leaves the rest due; the next tick closes them, and every cycle closes
//! exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger_domain::event::{Event, Recorded};
use cardledger_domain::limits::{CYCLE_CLOSES_PER_EVENT_MAX, TICK_CLOSE_EVENTS_MAX};
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
        encode_fact(&fact).unwrap();
        out.push(fact.event.clone());
        ledger.apply(&Recorded { seq: ledger.head_seq + 1, time, fact });
    }
    out
}

fn closed_accounts(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| if let Event::CyclesClosed(c) = e { Some(c) } else { None })
        .flat_map(|c| c.closes.iter().map(|x| x.account_token.to_string()))
        .collect()
}

#[test]
fn a_tick_closes_at_most_its_cap_and_the_next_tick_closes_the_rest() {
    let cap = TICK_CLOSE_EVENTS_MAX * CYCLE_CLOSES_PER_EVENT_MAX;
    let accounts = cap + 100;
    let mut l = Ledger::default();
    run(&mut l, r#"{"time":"2020-01-01T12:00:00Z","program":{"token":"p","bank":"B","currency_code":"USD"}}"#);
    run(&mut l, r#"{"time":"2020-01-01T12:00:01Z","user":{"token":"u","program_token":"p"}}"#);
    for i in 0..accounts {
        run(
            &mut l,
            &format!(
                r#"{{"time":"2020-01-01T12:00:02Z","credit_account":{{"token":"ca{i:06}","user_token":"u","program_token":"p","credit_limit":1000,"apr":"19.99"}}}}"#
            ),
        );
    }
    let first = run(&mut l, r#"{"time":"2020-02-03T00:00:00Z","tick":{"now":"2020-02-03T00:00:00Z"}}"#);
    let closes = first.iter().filter(|e| matches!(e, Event::CyclesClosed(_))).count();
    assert_eq!(closes, TICK_CLOSE_EVENTS_MAX, "the first tick records exactly the cap of close events");
    assert!(matches!(first.last(), Some(Event::Ticked(_))), "the tick's last event is its Ticked");
    let first_closed = closed_accounts(&first);
    assert_eq!(first_closed.len(), cap);
    let mut sorted = first_closed.clone();
    sorted.sort();
    assert_eq!(sorted, first_closed, "closed in account-token order");
    assert_eq!(first_closed.last().map(String::as_str), Some(format!("ca{:06}", cap - 1).as_str()));

    let second = run(&mut l, r#"{"time":"2020-02-03T00:01:00Z","tick":{"now":"2020-02-03T00:01:00Z"}}"#);
    let second_closed = closed_accounts(&second);
    let expected: Vec<String> = (cap..accounts).map(|i| format!("ca{i:06}")).collect();
    assert_eq!(second_closed, expected, "the next tick closes exactly the accounts left due");
    let third = run(&mut l, r#"{"time":"2020-02-03T00:02:00Z","tick":{"now":"2020-02-03T00:02:00Z"}}"#);
    assert!(closed_accounts(&third).is_empty(), "nothing closes twice");
}
