//! Closing one month of statement cycles for 100,000 credit accounts.
//!
//! Set-up (untimed): a ledger with 100,000 accounts, a first cycle closed,
//! and a month of activity on each (purchases; payments in full, minimum
//! payments or none, so every cycle type, late fees and past-due buckets
//! occur). Timed: `tick_decide_apply` — `Ledger::decide` of the tick (every
//! close computed) plus `Ledger::apply` of the recorded facts;
//! `projection_apply` — folding those facts into the `Statements` projection.
//! Run: `cargo bench -p cardledger-benches --bench statements -- --warm-up-time 1 --measurement-time 5 --sample-size 10`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger_core::projection::Projection;
use cardledger_domain::event::Recorded;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::Timestamp;
use cardledger_domain::wire::parse_line;
use cardledger_statements::Statements;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ACCOUNTS: usize = 100_000;

fn submit(ledger: &mut Ledger, recorded: &mut Vec<Recorded>, line: &str) {
    let cl = parse_line(line).unwrap();
    let time = cl.time.unwrap();
    let facts = match ledger.decide(&cl, time) {
        Decision::Accept(f) => vec![f],
        Decision::AcceptAll(fs) => fs,
        other => panic!("{line}: {other:?}"),
    };
    for fact in facts {
        let rec = Recorded { seq: ledger.head_seq + 1, time, fact };
        ledger.apply(&rec);
        recorded.push(rec);
    }
}

fn je(t: &str, token: &str, account: &str, kind: &str, amount: &str) -> String {
    format!(
        r#"{{"time":"{t}","journal_entry":{{"token":"{token}","type":"{kind}","account_token":"{account}","amount":"{amount}","currency_code":"USD","status":"POSTED","network":"VISA"}}}}"#
    )
}

fn setup() -> (Ledger, Vec<Recorded>, String) {
    let mut ledger = Ledger::default();
    let mut rec = Vec::new();
    submit(
        &mut ledger,
        &mut rec,
        r#"{"time":"2023-05-01T12:00:00Z","program":{"token":"p","bank":"B","currency_code":"USD"}}"#,
    );
    submit(&mut ledger, &mut rec, r#"{"time":"2023-05-01T12:00:00Z","user":{"token":"u","program_token":"p"}}"#);
    for i in 0..ACCOUNTS {
        let a = format!("acct{i:06}");
        submit(
            &mut ledger,
            &mut rec,
            &format!(
                r#"{{"time":"2023-05-01T12:00:00Z","credit_account":{{"token":"{a}","user_token":"u","program_token":"p","credit_limit":2000,"apr":"19.99","reward_percentage":1,"minimum_interest":"0.50"}}}}"#
            ),
        );
        let amount = format!("{}.{:02}", 100 + i % 900, i % 100);
        submit(
            &mut ledger,
            &mut rec,
            &je("2023-05-10T16:00:00Z", &format!("m{i}"), &a, "authorization.clearing", &amount),
        );
    }
    submit(&mut ledger, &mut rec, r#"{"time":"2023-06-01T12:00:00Z","tick":{"now":"2023-06-01T12:00:00Z"}}"#);
    for i in 0..ACCOUNTS {
        let a = format!("acct{i:06}");
        let owed = format!("{}.{:02}", 100 + i % 900, i % 100);
        match i % 4 {
            0 => submit(&mut ledger, &mut rec, &je("2023-06-05T16:00:00Z", &format!("p{i}"), &a, "payment", &owed)),
            1 => submit(&mut ledger, &mut rec, &je("2023-06-05T16:00:00Z", &format!("p{i}"), &a, "payment", "25.00")),
            2 => {}
            _ => submit(&mut ledger, &mut rec, &je("2023-06-20T16:00:00Z", &format!("r{i}"), &a, "refund", "10.00")),
        }
        submit(
            &mut ledger,
            &mut rec,
            &je("2023-06-12T16:00:00Z", &format!("b{i}"), &a, "authorization.clearing", "42.17"),
        );
    }
    (ledger, rec, r#"{"time":"2023-07-01T12:00:00Z","tick":{"now":"2023-07-01T12:00:00Z"}}"#.to_string())
}

fn close_month(c: &mut Criterion) {
    let (ledger, history, tick) = setup();
    let tick = parse_line(&tick).unwrap();
    let time = tick.time.unwrap();
    let Decision::AcceptAll(facts) = ledger.decide(&tick, time) else { panic!("no closes") };
    let closes: usize = facts
        .iter()
        .map(|f| match &f.event {
            cardledger_domain::event::Event::CyclesClosed(e) => e.closes.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(closes, ACCOUNTS);
    let mut group = c.benchmark_group("statements_close_month_100k");
    group.bench_function("tick_decide_apply", |b| {
        b.iter_batched(
            || ledger.clone(),
            |mut l| {
                let Decision::AcceptAll(facts) = l.decide(&tick, time) else { panic!("no closes") };
                for fact in facts {
                    let rec = Recorded { seq: l.head_seq + 1, time, fact };
                    l.apply(&rec);
                }
                l
            },
            BatchSize::PerIteration,
        )
    });
    let mut base = Statements::default();
    for r in &history {
        base.apply(r);
    }
    let first = ledger.head_seq + 1;
    let recs: Vec<Recorded> = facts
        .into_iter()
        .enumerate()
        .map(|(i, fact)| Recorded { seq: first + i as u64, time: Timestamp(time.0), fact })
        .collect();
    group.bench_function("projection_apply", |b| {
        b.iter_batched(
            || base.clone(),
            |mut s| {
                for r in &recs {
                    s.apply(r);
                }
                s
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, close_month);
criterion_main!(benches);
