//! The three view projections against the log: after random interleavings
//! of appends, reopens, checkpoints and catch-ups (core `Engine` and
//! `Runner` on a tempdir), each projection equals a from-scratch replay,
//! byte for byte; two replays of the same log answer byte-identical JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::OnceLock;

use cardledger_activity_balances::{ActivityAggregation, ActivityBalances};
use cardledger_core::engine::Engine;
use cardledger_core::ingest::ingest_chunk;
use cardledger_core::projection::{Projection, Runner};
use cardledger_program_balances::{ProgramAggregation, ProgramBalances};
use cardledger_query::{pairs_from_query, parse_params, run, Principal, Rates, Table};
use cardledger_reserve_balances::ReserveBalances;
use cardledger_workload::{generate, WorkloadConfig};
use proptest::prelude::*;

/// A small two-program workload (reserve program in New York time, JIT
/// program in UTC), generated once.
fn workload() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let cfg = WorkloadConfig {
            seed: 5,
            days: 12,
            holders: 24,
            credit_accounts: 2,
            start_date: chrono::NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
        };
        generate(&cfg).collect()
    })
}

struct Runners {
    program: Runner<ProgramBalances>,
    reserve: Runner<ReserveBalances>,
    activity: Runner<ActivityBalances>,
}

impl Runners {
    fn open(engine: &Engine, every: u64) -> Runners {
        Runners {
            program: Runner::open(engine, ProgramBalances::default()).unwrap().checkpoint_every(every),
            reserve: Runner::open(engine, ReserveBalances::default()).unwrap().checkpoint_every(every),
            activity: Runner::open(engine, ActivityBalances::default()).unwrap().checkpoint_every(every),
        }
    }
    fn catch_up(&mut self) {
        self.program.catch_up().unwrap();
        self.reserve.catch_up().unwrap();
        self.activity.catch_up().unwrap();
    }
    fn checkpoint(&mut self) {
        self.program.checkpoint().unwrap();
        self.reserve.checkpoint().unwrap();
        self.activity.checkpoint().unwrap();
    }
}

/// Folds the whole log from seq 1 into fresh projections.
fn replay(engine: &Engine) -> (ProgramBalances, ReserveBalances, ActivityBalances) {
    let (mut p, mut r, mut a) = Default::default();
    for entry in engine.events_from(1) {
        let rec = entry.unwrap().rec;
        Projection::apply(&mut p, &rec);
        Projection::apply(&mut r, &rec);
        Projection::apply(&mut a, &rec);
    }
    (p, r, a)
}

fn append(engine: &Engine, next: &mut usize, n: usize) {
    let lines = workload();
    let end = (*next + n).min(lines.len());
    ingest_chunk(engine, &lines[*next..end], *next as u64 + 1).unwrap();
    *next = end;
}

/// Every view and aggregation of both programs as JSON text.
fn answers(p: &ProgramBalances, r: &ReserveBalances, a: &ActivityBalances) -> String {
    let programs = vec!["prog_alpha".to_string(), "prog_beta".to_string()];
    let expand = vec!["pin_purchases_net".to_string(), "sig_purchases_net".to_string()];
    let both = "program=prog_alpha,prog_beta&count=10000&totals=true";
    let tables: Vec<(Table, _, &str)> = vec![
        (p.table(&programs, ProgramAggregation::Day, None, None, &[]), p.last_time(), both),
        (p.table(&programs, ProgramAggregation::Month, None, None, &[]), p.last_time(), both),
        // only the alpha program has a reserve policy
        (r.table(&programs, None, None, &[]), r.flows().last_time(), "program=prog_alpha&count=10000"),
        (a.table(&programs, ActivityAggregation::Day, None, None, &expand), a.last_time(), both),
        (a.table(&programs, ActivityAggregation::Network, None, None, &[]), a.last_time(), both),
        (a.table(&programs, ActivityAggregation::Actor, None, None, &[]), a.last_time(), both),
    ];
    let mut out = String::new();
    for (t, last, query) in &tables {
        let params = parse_params(&pairs_from_query(query)).unwrap();
        let answer = run(t, &params, &Principal::all(), &Rates::new(), *last).unwrap();
        assert!(answer.total() > 0, "every view has rows");
        out.push_str(&answer.to_json().to_string());
        out.push('\n');
    }
    out
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
        4 => (1usize..900).prop_map(Op::Append),
        1 => Just(Op::Reopen),
        1 => Just(Op::Checkpoint),
        2 => Just(Op::CatchUp),
    ]
}

fn check_equal_to_replay(dir: &Path, ops: &[Op], every: u64) {
    let mut engine = Engine::open(dir).unwrap();
    let mut runners = Runners::open(&engine, every);
    let mut next = 0usize;
    for op in ops {
        match op {
            Op::Append(n) => append(&engine, &mut next, *n),
            Op::Reopen => {
                drop(runners);
                drop(engine);
                engine = Engine::open(dir).unwrap();
                runners = Runners::open(&engine, every);
            }
            Op::Checkpoint => runners.checkpoint(),
            Op::CatchUp => runners.catch_up(),
        }
    }
    append(&engine, &mut next, usize::MAX / 4);
    runners.catch_up();
    let (p, r, a) = replay(&engine);
    assert_eq!(runners.program.state().encode(), p.encode(), "program balances");
    assert_eq!(runners.reserve.state().encode(), r.encode(), "reserve balances");
    assert_eq!(runners.activity.state().encode(), a.encode(), "activity balances");
    assert_eq!(
        answers(runners.program.state(), runners.reserve.state(), runners.activity.state()),
        answers(&p, &r, &a)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn projections_equal_a_replay_after_any_interleaving(ops in prop::collection::vec(op(), 1..12), every in 50u64..2_000) {
        let dir = tempfile::tempdir().unwrap();
        check_equal_to_replay(dir.path(), &ops, every);
    }
}

#[test]
fn replaying_the_same_log_twice_answers_identical_json() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    let mut next = 0;
    append(&engine, &mut next, usize::MAX / 4);
    let (p1, r1, a1) = replay(&engine);
    drop(engine);
    let engine = Engine::open(dir.path()).unwrap();
    let (p2, r2, a2) = replay(&engine);
    let (first, second) = (answers(&p1, &r1, &a1), answers(&p2, &r2, &a2));
    assert!(first.len() > 10_000, "a real answer: {} bytes", first.len());
    assert_eq!(first, second);
    assert_eq!(p1.encode(), p2.encode());
    assert_eq!(a1.encode(), a2.encode());
    // and the program view ends at the ledger's bank balance for each program
    let state = engine.state();
    for program in ["prog_alpha", "prog_beta"] {
        let rows = p1.day_rows(program, None, None);
        let bank = state.balance(&cardledger_domain::event::Account::ProgramBank(program.into()));
        assert_eq!(rows.last().unwrap().ending_cents, bank.cents(), "{program}");
    }
}
