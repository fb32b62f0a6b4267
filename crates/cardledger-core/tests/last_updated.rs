//! `last_updated_time` of a holder's balances (product.md §4): the business
//! time of the last event that changed the balance (a posting, or a GPA's
//! holds), the holder's creation before any; it survives a snapshot and a
//! reopen, and a version-1 snapshot is refused and replayed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger_core::engine::{Engine, Outcome};
use cardledger_domain::command::Holder;
use cardledger_domain::wire::parse_line;
use serde_json::Value;

fn record(engine: &Engine, s: &str) {
    match engine.submit(parse_line(s).unwrap()).unwrap() {
        Outcome::Recorded { .. } => {}
        other => panic!("not recorded: {other:?}\n{s}"),
    }
}

fn balances(engine: &Engine) -> Value {
    engine.balances(&Holder::User("u1".into())).unwrap()
}

#[test]
fn last_updated_time_follows_the_balance() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    for s in [
        r#"{"time":"2024-01-01T00:00:00Z","program":{"token":"p","bank":"B","currency_code":"USD"}}"#,
        r#"{"time":"2024-01-01T00:00:00Z","funding_source":{"token":"fs","program_token":"p","type":"program","is_default_account":true}}"#,
        r#"{"time":"2024-01-02T08:00:00Z","user":{"token":"u1","program_token":"p"}}"#,
        r#"{"time":"2024-01-02T08:00:00Z","campaign":{"token":"c1","name":"C"}}"#,
    ] {
        record(&engine, s);
    }
    // never changed: the holder's creation
    assert_eq!(balances(&engine)["gpa"]["last_updated_time"], "2024-01-02T08:00:00Z");
    record(
        &engine,
        r#"{"time":"2024-01-03T09:30:00Z","gpa_order":{"token":"o1","user_token":"u1","amount":100,"currency_code":"USD"}}"#,
    );
    assert_eq!(balances(&engine)["gpa"]["last_updated_time"], "2024-01-03T09:30:00Z");
    // an authorization moves only the available balance (a hold): still a change
    record(
        &engine,
        r#"{"time":"2024-01-04T10:00:00Z","journal_entry":{"token":"je1","user_token":"u1","type":"authorization","status":"PENDING","amount":10,"currency_code":"USD"}}"#,
    );
    let b = balances(&engine);
    assert_eq!(b["gpa"]["available_balance"], 90, "{b}");
    assert_eq!(b["gpa"]["last_updated_time"], "2024-01-04T10:00:00Z", "{b}");
    assert_eq!(b["gpa"]["balances"]["USD"]["last_updated_time"], "2024-01-04T10:00:00Z", "{b}");
    // an event of another holder changes nothing here
    record(&engine, r#"{"time":"2024-01-05T00:00:00Z","user":{"token":"u2","program_token":"p"}}"#);
    record(
        &engine,
        r#"{"time":"2024-01-05T00:00:00Z","gpa_order":{"token":"o2","user_token":"u2","amount":5,"currency_code":"USD"}}"#,
    );
    assert_eq!(balances(&engine)["gpa"]["last_updated_time"], "2024-01-04T10:00:00Z");
    // an MSA: its own time
    record(
        &engine,
        r#"{"time":"2024-01-06T12:00:00Z","msa_order":{"token":"m1","user_token":"u1","campaign_token":"c1","purchase_amount":20,"currency_code":"USD","funding_source_token":"fs"}}"#,
    );
    let b = balances(&engine);
    assert_eq!(b["msas"][0]["last_updated_time"], "2024-01-06T12:00:00Z", "{b}");
    assert_eq!(b["gpa"]["last_updated_time"], "2024-01-04T10:00:00Z", "{b}");
    let before = b;

    // through a snapshot and a reopen
    assert!(engine.snapshot().unwrap().is_some());
    drop(engine);
    let engine = Engine::open(dir.path()).unwrap();
    assert!(engine.open_report().refused.is_empty(), "{:?}", engine.open_report());
    assert_eq!(engine.open_report().replayed, 0);
    assert_eq!(balances(&engine), before);
    assert!(engine.verify().is_ok());

    // a snapshot in the layout before `last_updated` (version byte 1) is
    // refused and the log replayed: the times come back from the events
    let seq = engine.head_seq();
    assert_eq!(cardledger_domain::snapshot::SNAPSHOT_STATE_VERSION, 2);
    let mut old = cardledger_domain::snapshot::encode_state(&engine.state()).unwrap();
    old[0] = 1;
    engine.store().delete_snapshot(seq).unwrap();
    let head = engine.store().head();
    assert!(engine.store().save_snapshot_with(head, |out| out.write_all(&old).map_err(|e| e.to_string())).unwrap());
    drop(engine);
    let engine = Engine::open(dir.path()).unwrap();
    let report = engine.open_report().clone();
    // beside the cold entries only a hot snapshot at their seq is usable:
    // the old one is refused, the cold entries cleared, the log replayed
    assert_eq!(report.refused.first().map(|r| r.0), Some(seq), "{report:?}");
    assert!(report.refused.iter().any(|r| r.1.contains("cleared")), "{report:?}");
    assert_eq!(report.replayed, seq);
    assert_eq!(balances(&engine), before);
}
