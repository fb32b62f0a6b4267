//! The view projections: folding 1,000,000 recorded events through all three
//! (goal ≥ 5,000,000 events/s), and the latency of one program's queries
//! (goal ≤ 100 µs each): a 365-day program balances query, a reserve query
//! and an activity `day` query, each building the table and running the
//! query layer over it (filters, sort, page), without JSON rendering; the
//! rendered JSON is measured separately.
//!
//! The stream is the realistic two-program workload (365 days), decided
//! once in set-up by the domain (`Ledger::decide` / `apply`); only the folds
//! and queries are timed.
//! Run: `cargo bench -p cardledger-benches --bench views -- --warm-up-time 1 --measurement-time 3`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use cardledger_activity_balances::{ActivityAggregation, ActivityBalances};
use cardledger_core::projection::Projection;
use cardledger_domain::event::Recorded;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::Date;
use cardledger_domain::wire::parse_line;
use cardledger_program_balances::{ProgramAggregation, ProgramBalances};
use cardledger_query::{pairs_from_query, parse_params, run, Principal, Rates};
use cardledger_reserve_balances::ReserveBalances;
use cardledger_workload::{generate, WorkloadConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: usize = 1_000_000;

/// The realistic workload (about 13 months of two programs), decided: its first `EVENTS` recorded events.
fn recorded() -> Vec<Recorded> {
    let cfg = WorkloadConfig { seed: 3, days: 400, holders: 740, ..WorkloadConfig::default() };
    let mut ledger = Ledger::default();
    let mut out = Vec::with_capacity(EVENTS);
    for line in generate(&cfg) {
        let Ok(cmd) = parse_line(&line) else { continue };
        let time = cmd.time.unwrap_or_default();
        if let Decision::Accept(fact) = ledger.decide(&cmd, time) {
            let rec = Recorded { seq: out.len() as u64 + 1, time, fact };
            ledger.apply(&rec);
            out.push(rec);
            if out.len() == EVENTS {
                break;
            }
        }
    }
    out
}

fn views(c: &mut Criterion) {
    let events = recorded();
    assert_eq!(events.len(), EVENTS);
    eprintln!(
        "views bench: {} events from {} to {}",
        events.len(),
        events.first().map(|e| e.time.to_string()).unwrap_or_default(),
        events.last().map(|e| e.time.to_string()).unwrap_or_default()
    );

    let mut group = c.benchmark_group("views_fold");
    group.sample_size(10).measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("all_three", |b| {
        b.iter(|| {
            let (mut p, mut r, mut a) =
                (ProgramBalances::default(), ReserveBalances::default(), ActivityBalances::default());
            for rec in &events {
                p.apply(rec);
                r.apply(rec);
                a.apply(rec);
            }
            black_box((p, r, a))
        })
    });
    group.bench_function("program_balances", |b| {
        b.iter(|| {
            let mut p = ProgramBalances::default();
            events.iter().for_each(|rec| p.apply(rec));
            black_box(p)
        })
    });
    group.bench_function("activity_balances", |b| {
        b.iter(|| {
            let mut a = ActivityBalances::default();
            events.iter().for_each(|rec| a.apply(rec));
            black_box(a)
        })
    });
    group.finish();

    let (mut p, mut r, mut a) = (ProgramBalances::default(), ReserveBalances::default(), ActivityBalances::default());
    for rec in &events {
        p.apply(rec);
        r.apply(rec);
        a.apply(rec);
    }
    let program = "prog_alpha";
    let last = p.day_rows(program, None, None).last().map(|r| r.corrected_post_date).unwrap();
    let (start, end) = (Date(last.0 - 364), last);
    let programs = vec![program.to_string()];
    let query = format!("program={program}&start_date={start}&end_date={end}");
    let params = parse_params(&pairs_from_query(&query)).unwrap();
    let year = p.table(&programs, ProgramAggregation::Day, Some(start), Some(end), &[]);
    assert_eq!(year.rows.len(), 365);
    let week = format!("program={program}&start_date={}&end_date={end}", Date(last.0 - 6));
    let week_params = parse_params(&pairs_from_query(&week)).unwrap();
    let (principal, rates) = (Principal::all(), Rates::new());

    let mut group = c.benchmark_group("views_query");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("programbalances_day_365", |b| {
        b.iter(|| {
            let t = p.table(&programs, ProgramAggregation::Day, Some(start), Some(end), &[]);
            let answer = run(&t, &params, &principal, &rates, p.last_time()).unwrap();
            black_box(answer.total())
        })
    });
    group.bench_function("programbalances_day_365_json", |b| {
        b.iter(|| {
            let t = p.table(&programs, ProgramAggregation::Day, Some(start), Some(end), &[]);
            let answer = run(&t, &params, &principal, &rates, p.last_time()).unwrap();
            black_box(answer.to_json().to_string().len())
        })
    });
    group.bench_function("programbalances_day_365_json_text", |b| {
        b.iter(|| {
            let t = p.table(&programs, ProgramAggregation::Day, Some(start), Some(end), &[]);
            let answer = run(&t, &params, &principal, &rates, p.last_time()).unwrap();
            black_box(answer.to_json_string().len())
        })
    });
    group.bench_function("programreservebalances_day_7", |b| {
        b.iter(|| {
            let t = r.table(&programs, Some(Date(last.0 - 6)), Some(end), &[]);
            let answer = run(&t, &week_params, &principal, &rates, p.last_time()).unwrap();
            black_box(answer.total())
        })
    });
    group.bench_function("programreservebalances_day_365", |b| {
        b.iter(|| {
            let t = r.table(&programs, Some(start), Some(end), &[]);
            let answer = run(&t, &params, &principal, &rates, p.last_time()).unwrap();
            black_box(answer.total())
        })
    });
    group.bench_function("activitybalances_day_7", |b| {
        b.iter(|| {
            let t = a.table(&programs, ActivityAggregation::Day, Some(Date(last.0 - 6)), Some(end), &[]);
            let answer = run(&t, &week_params, &principal, &rates, a.last_time()).unwrap();
            black_box(answer.total())
        })
    });
    group.bench_function("activitybalances_day_365", |b| {
        b.iter(|| {
            let t = a.table(&programs, ActivityAggregation::Day, Some(start), Some(end), &[]);
            let answer = run(&t, &params, &principal, &rates, a.last_time()).unwrap();
            black_box(answer.total())
        })
    });
    group.finish();
}

criterion_group!(benches, views);
criterion_main!(benches);
