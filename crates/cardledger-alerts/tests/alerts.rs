//! Alerts against the log: exact alerts on a hand-made stream; on random
//! streams, the funding alerts equal a model's crossings, every condition
//! alternates STARTED / CLEARED, and the live fold (followed while the log
//! grows, checkpointed and reopened at random points) equals a replay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use cardledger_alerts::{AlertKind, Alerts};
use cardledger_core::engine::Engine;
use cardledger_core::ingest::ingest_chunk;
use cardledger_core::projection::{Projection, Runner};
use cardledger_workload::{generate, WorkloadConfig};
use proptest::prelude::*;
use serde_json::Value;

/// A two-program workload with credit accounts (statements, payments,
/// delinquency), generated once.
fn workload() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let cfg = WorkloadConfig {
            seed: 11,
            days: 75,
            holders: 16,
            credit_accounts: 6,
            start_date: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
        };
        generate(&cfg).collect()
    })
}

/// The watched program: opening 600.00, threshold 500.00, reserve "1 day
/// or $100" over a 2-day window, paying its users' orders.
fn watch_setup() -> Vec<String> {
    vec![
        r#"{"time":"2024-01-01T00:00:00Z","program":{"token":"pw","bank":"B","currency_code":"USD","opening_bank_balance":"600.00","funding_alert_threshold":"500.00","reserve":{"description":"1 day or $100","days":1,"minimum_amount":"100.00","window_days":2}}}"#.into(),
        r#"{"time":"2024-01-01T00:00:00Z","funding_source":{"token":"fs_pw","program_token":"pw","type":"program","is_default_account":true,"name":"PW"}}"#.into(),
        r#"{"time":"2024-01-01T00:00:00Z","user":{"token":"u_pw","program_token":"pw"}}"#.into(),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Move {
    /// A GPA order paid by the program: the bank goes down.
    Order(i64),
    /// A program deposit: the bank goes up.
    Deposit(i64),
}

fn cents(c: i64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

/// The watched program's moves as lines, one hour apart from 2024-01-01.
fn move_lines(moves: &[Move], first: usize) -> Vec<String> {
    moves
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let i = i + first;
            let t = format!("2024-01-01T{:02}:{:02}:00Z", 1 + i / 60, i % 60);
            match m {
                Move::Order(c) => format!(
                    r#"{{"time":"{t}","gpa_order":{{"token":"o{i}","user_token":"u_pw","amount":"{}","currency_code":"USD"}}}}"#,
                    cents(*c)
                ),
                Move::Deposit(c) => format!(
                    r#"{{"time":"{t}","program_deposit":{{"token":"d{i}","program_token":"pw","amount":"{}","currency_code":"USD"}}}}"#,
                    cents(*c)
                ),
            }
        })
        .collect()
}

fn replay(engine: &Engine) -> Alerts {
    let mut a = Alerts::default();
    for entry in engine.events_from(1) {
        a.apply(&entry.unwrap().rec);
    }
    a
}

fn alert_lines(a: &Alerts) -> Vec<String> {
    a.alerts().map(|x| x.to_json().to_string()).collect()
}

fn ingest(engine: &Engine, lines: &[String]) {
    let first = engine.head_seq() + 1;
    for answer in ingest_chunk(engine, lines, first).unwrap() {
        assert!(answer.get("error_code").is_none(), "{answer}");
    }
}

#[test]
fn each_condition_fires_once_when_it_starts_and_once_when_it_clears() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    ingest(&engine, &watch_setup());
    // bank 600 → 450 (below 500) → 400 (still below: nothing) → 1,400 (cleared) → 900 → 450 (below again)
    let moves =
        [Move::Order(15_000), Move::Order(5_000), Move::Deposit(100_000), Move::Order(50_000), Move::Order(45_000)];
    ingest(&engine, &move_lines(&moves, 0));
    let a = replay(&engine);
    let funding: Vec<(u64, String, String)> = a
        .alerts()
        .filter(|x| x.kind == AlertKind::FundingBelowThreshold)
        .map(|x| {
            let j = x.to_json();
            (x.seq, j["state"].as_str().unwrap().to_string(), j["funding_balance"].to_string())
        })
        .collect();
    assert_eq!(
        funding,
        vec![
            (4, "STARTED".into(), "450".into()),
            (6, "CLEARED".into(), "1400".into()),
            (8, "STARTED".into(), "450".into()),
        ]
    );
    // reserve: requirement max(100, 1 × window outflow / 2); the orders of the
    // day add up: outflow 1,150 → requirement 575 > ending 450 at seq 8 only
    let reserve: Vec<Value> =
        a.alerts().filter(|x| x.kind == AlertKind::ReserveBelowRequirement).map(|x| x.to_json()).collect();
    assert_eq!(reserve.len(), 1, "{reserve:?}");
    assert_eq!(reserve[0]["seq"], 8);
    assert_eq!(reserve[0]["state"], "STARTED");
    assert_eq!(reserve[0]["reserve_requirement_amount"].to_string(), "575");
    assert_eq!(reserve[0]["reserve_owed_amount"].to_string(), "125");
    assert_eq!(reserve[0]["post_date"], "2024-01-01");
    assert_eq!(reserve[0]["token"], "alert.8.1", "second notice of seq 8");
    // a deposit back over both clears both, in one event
    ingest(
        &engine,
        &move_lines(
            &[Move::Order(1), Move::Order(1), Move::Order(1), Move::Order(1), Move::Order(1), Move::Deposit(50_000)],
            5,
        ),
    );
    let a = replay(&engine);
    let last: Vec<Value> = a.alerts().filter(|x| x.seq == engine.head_seq()).map(|x| x.to_json()).collect();
    assert_eq!(last.len(), 2, "{last:?}");
    assert!(last.iter().all(|x| x["state"] == "CLEARED"));
}

#[test]
fn the_workload_yields_statement_transition_and_delinquency_notices_in_log_order() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    ingest(&engine, workload());
    let a = replay(&engine);
    let types: BTreeMap<String, usize> = a.notices().iter().fold(BTreeMap::new(), |mut m, n| {
        *m.entry(n.event_type()).or_default() += 1;
        m
    });
    assert!(types.get("accountstatement.created").copied().unwrap_or(0) >= 6, "{types:?}");
    assert!(types.get("delinquencytransition.created").copied().unwrap_or(0) >= 1, "{types:?}");
    assert!(types.get("alert.account_delinquent").copied().unwrap_or(0) >= 1, "{types:?}");
    let seqs: Vec<u64> = a.notices().iter().map(|n| n.seq()).collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "log order");
    let mut tokens = std::collections::BTreeSet::new();
    for n in a.notices() {
        let j = a.notice_json(n);
        assert!(tokens.insert(j["token"].as_str().unwrap().to_string()), "unique tokens: {j}");
        assert!(j["data"].is_object(), "{j}");
        assert_eq!(j["type"], n.event_type());
    }
    assert_eq!(a.notices_after(0).len(), a.notices().len());
    let mid = seqs[seqs.len() / 2];
    assert!(a.notices_after(mid).iter().all(|n| n.seq() > mid));
    assert_alternating(&a);
}

/// For every watched subject, alerts alternate STARTED, CLEARED, STARTED, …
fn assert_alternating(a: &Alerts) {
    let mut last: BTreeMap<(AlertKind, String), bool> = BTreeMap::new();
    for x in a.alerts() {
        let subject = (x.kind, x.account.clone().unwrap_or_else(|| x.program.clone()));
        let was_cleared = last.get(&subject).copied().unwrap_or(true);
        assert_eq!(was_cleared, !x.cleared, "{} follows an alert in the same state", x.to_json());
        last.insert(subject, x.cleared);
    }
}

fn moves() -> impl Strategy<Value = Vec<Move>> {
    prop::collection::vec(
        prop_oneof![3 => (1i64..30_000).prop_map(Move::Order), 1 => (1i64..60_000).prop_map(Move::Deposit)],
        1..60,
    )
}

#[derive(Clone, Debug)]
enum Op {
    Append(usize),
    Reopen,
    Checkpoint,
    CatchUp,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1usize..400).prop_map(Op::Append),
        1 => Just(Op::Reopen),
        1 => Just(Op::Checkpoint),
        3 => Just(Op::CatchUp),
    ]
}

/// The live alerts (a runner following the log, checkpointed and reopened
/// as `ops` say) against a replay, and the funding alerts against a model.
fn check(dir: &Path, moves: &[Move], ops: &[Op], every: u64) {
    let mut lines = watch_setup();
    lines.extend(move_lines(moves, 0));
    lines.extend(workload().iter().cloned());
    let mut engine = Engine::open(dir).unwrap();
    let mut runner = Runner::open(&engine, Alerts::default()).unwrap().checkpoint_every(every);
    let mut next = 0usize;
    let append = |engine: &Engine, next: &mut usize, n: usize| {
        let end = (*next + n).min(lines.len());
        ingest(engine, &lines[*next..end]);
        *next = end;
    };
    for op in ops {
        match op {
            Op::Append(n) => append(&engine, &mut next, *n),
            Op::Reopen => {
                drop(runner);
                drop(engine);
                engine = Engine::open(dir).unwrap();
                runner = Runner::open(&engine, Alerts::default()).unwrap().checkpoint_every(every);
            }
            Op::Checkpoint => runner.checkpoint().unwrap(),
            Op::CatchUp => {
                runner.catch_up().unwrap();
            }
        }
    }
    append(&engine, &mut next, usize::MAX / 4);
    runner.catch_up().unwrap();
    let fresh = replay(&engine);
    assert_eq!(alert_lines(runner.state()), alert_lines(&fresh));
    assert_eq!(runner.state().encode(), fresh.encode());
    assert_alternating(&fresh);

    // the model: the bank after each move, and where it crosses 500.00
    let mut bank = 60_000i64;
    let mut low = false;
    let mut want = Vec::new();
    for (i, m) in moves.iter().enumerate() {
        bank += match m {
            Move::Order(c) => -c,
            Move::Deposit(c) => *c,
        };
        if (bank < 50_000) != low {
            low = !low;
            want.push((i as u64 + 4, !low, bank));
        }
    }
    let got: Vec<(u64, bool, i64)> = fresh
        .alerts()
        .filter(|x| x.kind == AlertKind::FundingBelowThreshold)
        .map(|x| (x.seq, x.cleared, x.balance.cents()))
        .collect();
    assert_eq!(got, want);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn live_alerts_equal_a_replay_and_the_model(
        moves in moves(),
        ops in prop::collection::vec(op(), 1..14),
        every in 20u64..1_500,
    ) {
        let dir = tempfile::tempdir().unwrap();
        check(dir.path(), &moves, &ops, every);
    }
}
