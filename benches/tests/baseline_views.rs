//! The SQLite baseline produces the engine's view rows: on the seeded demo
//! workload (two programs, one reporting in America/New_York, one in UTC;
//! a JIT program; the demo's orders, card activity, deposits and unloads
//! over 40 days), every program's program balances, reserve and activity rows
//! from the baseline's SQL equal, field by field and to the cent, the rows
//! of the engine's projections folded from the engine's log, over the whole
//! range. Rebuilding the baseline's derived tables from its event rows
//! gives the same rows again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use cardledger_activity_balances::{ActivityAggregation, ActivityBalances};
use cardledger_benches::baseline::{ActivityRow, Baseline, ProgramBalanceRow, ReserveRow};
use cardledger_core::engine::Engine;
use cardledger_core::projection::Projection;
use cardledger_domain::command::CommandLine;
use cardledger_domain::money::Money;
use cardledger_domain::time::Date;
use cardledger_domain::wire::parse_line;
use cardledger_program_balances::ProgramBalances;
use cardledger_query::Value;
use cardledger_reserve_balances::ReserveBalances;
use cardledger_workload::{generate, WorkloadConfig};

/// The demo workload (seed 42, 100 holders, 10 credit accounts) over 40 days.
fn demo() -> Vec<CommandLine> {
    let cfg = WorkloadConfig { days: 40, ..WorkloadConfig::default() };
    generate(&cfg).map(|l| parse_line(&l).unwrap()).collect()
}

struct Both {
    _dir: tempfile::TempDir,
    baseline: Baseline,
    program: ProgramBalances,
    reserve: ReserveBalances,
    activity: ActivityBalances,
}

fn ingest_both() -> Both {
    let commands = demo();
    assert!(commands.len() > 5_000, "{} commands", commands.len());
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(&dir.path().join("engine")).unwrap();
    let mut baseline = Baseline::open(&dir.path().join("baseline.sqlite")).unwrap();
    for chunk in commands.chunks(512) {
        let e = engine.submit_batch_acks(chunk.to_vec()).unwrap();
        let b = baseline.submit_batch(chunk).unwrap();
        assert_eq!(e, b);
    }
    assert!(engine.head_seq() > 5_000);
    let (mut program, mut reserve, mut activity) =
        (ProgramBalances::default(), ReserveBalances::default(), ActivityBalances::default());
    let mut n = 0;
    for entry in engine.events_from(1) {
        let rec = entry.unwrap().rec;
        program.apply(&rec);
        reserve.apply(&rec);
        activity.apply(&rec);
        n += 1;
    }
    assert_eq!(n, engine.head_seq());
    assert_eq!(baseline.ledger().head_seq, engine.head_seq());
    Both { _dir: dir, baseline, program, reserve, activity }
}

/// The engine's program balances rows of `program` as the baseline's row type.
fn engine_program_rows(v: &ProgramBalances, program: &str) -> Vec<ProgramBalanceRow> {
    v.day_rows(program, None, None)
        .iter()
        .map(|r| ProgramBalanceRow {
            day: r.corrected_post_date,
            partner_funds_loads: Money::from_cents(r.flows.partner_funds_loads),
            partner_funds_unloads: Money::from_cents(r.flows.partner_funds_unloads),
            partner_funds_adjustments: Money::from_cents(r.flows.partner_funds_adjustments),
            jit_loads: Money::from_cents(r.flows.jit_loads),
            jit_unloads: Money::from_cents(r.flows.jit_unloads),
            jit_adjustments: Money::from_cents(r.flows.jit_adjustments),
            amount_to_send: Money::from_cents(r.flows.amount_to_send()),
            deposit: Money::from_cents(r.flows.deposit),
            beginning_bank_balance: Money::from_cents(r.beginning_cents),
            ending_bank_balance: Money::from_cents(r.ending_cents),
        })
        .collect()
}

fn engine_reserve_rows(v: &ReserveBalances, program: &str) -> Vec<ReserveRow> {
    v.day_rows(program, None, None)
        .iter()
        .map(|r| ReserveRow {
            day: r.post_date,
            amount_to_send: Money::from_cents(r.amount_to_send_cents),
            ending_bank_balance: Money::from_cents(r.ending_cents),
            reserve_minimum_amount: Money::from_cents(r.minimum_cents),
            reserve_avg_week_amount: Money::from_cents(r.avg_week_cents),
            reserve_days_amount: Money::from_cents(r.days_cents),
            reserve_requirement_amount: Money::from_cents(r.requirement_cents),
            reserve_owed_amount: Money::from_cents(r.owed_cents),
        })
        .collect()
}

/// The engine's activity `day` rows (through the query-layer table the CLI
/// uses), with credits and debits totalled from its columns.
fn engine_activity_rows(v: &ActivityBalances, program: &str) -> Vec<ActivityRow> {
    let t = v.table(&[program.to_string()], ActivityAggregation::Day, None, None, &[]);
    let col = |name: &str| t.columns.iter().position(|c| c.field == name).unwrap_or_else(|| panic!("column {name}"));
    let money = |row: &[Value], name: &str| match &row[col(name)] {
        Value::Amount(d) => Money::parse(&d.to_string()).unwrap(),
        other => panic!("{name}: {other:?}"),
    };
    let credits = ["gpa_loads", "msa_loads", "offer_loads", "refunds", "credit_adjustments", "rewards"];
    let debits = ["unloads", "pin_purchases", "signature_purchases", "atm_withdrawals", "fees", "debit_adjustments"];
    for name in credits.iter().chain(&debits) {
        col(name);
    }
    t.rows
        .iter()
        .map(|row| {
            let Value::Date(day) = row[col("corrected_post_date")] else { panic!("no date") };
            ActivityRow {
                day,
                starting_balance: money(row, "starting_balance"),
                credits: credits.iter().map(|c| money(row, c)).sum(),
                debits: debits.iter().map(|c| money(row, c)).sum(),
                ending_balance: money(row, "ending_balance"),
            }
        })
        .collect()
}

fn range(rows: &[ProgramBalanceRow]) -> (Date, Date) {
    (rows.first().unwrap().day, rows.last().unwrap().day)
}

/// Compares row by row so that a failure names the first differing day.
fn same_rows<T: PartialEq + std::fmt::Debug>(what: &str, program: &str, engine: &[T], baseline: &[T]) {
    for (i, (e, b)) in engine.iter().zip(baseline).enumerate() {
        assert_eq!(e, b, "{what} of {program}, row {i}: engine (left) and baseline (right)");
    }
    assert_eq!(engine.len(), baseline.len(), "{what} of {program}: row counts");
}

fn check_views(both: &Both) {
    let programs: Vec<String> = both.program.programs().keys().cloned().collect();
    assert_eq!(programs.len(), 2, "{programs:?}");
    let mut reserve_programs = 0;
    for program in &programs {
        let engine = engine_program_rows(&both.program, program);
        assert!(engine.len() >= 40, "{program}: {} days", engine.len());
        let (from, to) = range(&engine);
        let baseline = both.baseline.program_balances(program, from, to).unwrap();
        same_rows("program balances", program, &engine, &baseline);
        // non-trivial: money moved both ways, on many days
        let moved = |f: fn(&ProgramBalanceRow) -> Money| baseline.iter().filter(|r| !f(r).is_zero()).count();
        assert!(moved(|r| r.amount_to_send) > 20, "{program}: amount_to_send");
        assert!(moved(|r| r.partner_funds_loads) + moved(|r| r.jit_loads) > 20, "{program}: loads on too few days");
        assert!(moved(|r| r.partner_funds_unloads) + moved(|r| r.jit_unloads) > 0, "{program}: no unloads");
        assert!(moved(|r| r.deposit) > 0, "{program}: no deposits");
        assert_ne!(baseline.first().unwrap().ending_bank_balance, baseline.last().unwrap().ending_bank_balance);

        let engine = engine_reserve_rows(&both.reserve, program);
        let baseline = both.baseline.reserve(program, from, to).unwrap();
        same_rows("reserve", program, &engine, &baseline);
        if !baseline.is_empty() {
            reserve_programs += 1;
            assert!(baseline.iter().filter(|r| !r.reserve_days_amount.is_zero()).count() > 20, "{program}");
        }

        let engine = engine_activity_rows(&both.activity, program);
        let baseline = both.baseline.activity(program, from, to).unwrap();
        same_rows("activity", program, &engine, &baseline);
        assert!(baseline.iter().filter(|r| !r.credits.is_zero()).count() > 20, "{program}: credits");
        assert!(baseline.iter().filter(|r| !r.debits.is_zero()).count() > 20, "{program}: debits");
        assert!(!baseline.last().unwrap().ending_balance.is_zero(), "{program}: activity ending");
    }
    assert_eq!(reserve_programs, 1, "the demo has one reserve program");
}

#[test]
fn the_baseline_gives_the_engines_view_rows_on_the_demo_workload() {
    let both = ingest_both();
    // one program reports in New York time: its days differ from UTC days
    let zones: Vec<&str> = both.program.programs().values().map(|p| p.clock.zone_name()).collect();
    assert!(zones.contains(&"America/New_York"), "{zones:?}");
    check_views(&both);
}

#[test]
fn rebuilding_the_baselines_derived_tables_gives_the_same_rows() {
    let mut both = ingest_both();
    let head = both.baseline.ledger().head_seq;
    let before: Vec<Vec<ProgramBalanceRow>> = both
        .program
        .programs()
        .keys()
        .map(|p| {
            let (from, to) = range(&engine_program_rows(&both.program, p));
            both.baseline.program_balances(p, from, to).unwrap()
        })
        .collect();
    let balances = both.baseline.holder_balances().unwrap().len();
    assert_eq!(both.baseline.rebuild_derived().unwrap(), head);
    assert_eq!(both.baseline.holder_balances().unwrap().len(), balances);
    for (p, rows) in both.program.programs().keys().zip(&before) {
        let (from, to) = range(rows);
        assert_eq!(&both.baseline.program_balances(p, from, to).unwrap(), rows, "{p}");
    }
    check_views(&both);
}

#[test]
fn the_demo_crosses_new_york_midnight() {
    // an event between 00:00 and 05:00 UTC lands on the previous New York day:
    // the case a UTC-day baseline gets wrong
    let commands = demo();
    let late = commands
        .iter()
        .filter_map(|c| c.time)
        .filter(|t| {
            let h = t.to_datetime().format("%H").to_string();
            h.as_str() < "04"
        })
        .count();
    assert!(late > 100, "{late} commands in the first UTC hours");
    // and rows are keyed by reporting day: the first New York day of a
    // program created at UTC midnight is the day before
    let both = ingest_both();
    let ny = both.program.programs().iter().find(|(_, p)| p.clock.zone_name() == "America/New_York").unwrap();
    assert_eq!(ny.1.created_day, Date(Date::parse("2024-01-01").unwrap().0 - 1));
}
