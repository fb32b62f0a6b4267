//! The SQLite baseline does the same job as the engine: same answers, same
//! holder balances and program bank balances on the seeded demo workload;
//! and its view SQL gives the hand-computed rows of a small workload.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::HashMap;

use cardledger_benches::baseline::{ActivityRow, Baseline, ProgramBalanceRow, ReserveRow};
use cardledger_core::engine::{Ack, Engine};
use cardledger_domain::command::{CommandLine, Holder};
use cardledger_domain::event::Account;
use cardledger_domain::money::Money;
use cardledger_domain::time::Date;
use cardledger_domain::wire::parse_line;

fn m(text: &str) -> Money {
    Money::parse(text).unwrap()
}

fn day(text: &str) -> Date {
    Date::parse(text).unwrap()
}

fn holder_accounts(accounts: impl IntoIterator<Item = (Account, Money)>) -> HashMap<Account, Money> {
    accounts
        .into_iter()
        .filter(|(a, v)| {
            !v.is_zero()
                && matches!(a, Account::Gpa(_) | Account::Msa(..) | Account::MsaCredit(..) | Account::Credit(_))
        })
        .collect()
}

#[test]
fn the_baseline_answers_and_balances_like_the_engine_on_the_demo_workload() {
    let commands = cardledger_benches::demo_commands(30_000);
    assert_eq!(commands.len(), 30_000);
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(&dir.path().join("engine")).unwrap();
    let mut baseline = Baseline::open(&dir.path().join("baseline.sqlite")).unwrap();
    let (mut engine_acks, mut baseline_acks) = (Vec::new(), Vec::new());
    for chunk in commands.chunks(1024) {
        engine_acks.extend(engine.submit_batch_acks(chunk.to_vec()).unwrap());
        baseline_acks.extend(baseline.submit_batch(chunk).unwrap());
    }
    // the same decisions: same seqs, duplicates and rejections (codes included)
    assert_eq!(engine_acks, baseline_acks);
    let recorded = engine_acks.iter().filter(|a| matches!(a, Ack::Recorded(_))).count();
    assert!(recorded > 29_000, "the demo mix is mostly valid: {recorded}");

    let state = engine.state();
    let engine_holders = holder_accounts(state.balances().map(|(a, v)| (a.clone(), v)));
    let baseline_holders = holder_accounts(baseline.holder_balances().unwrap());
    assert!(engine_holders.len() > 1_000, "{} holder accounts", engine_holders.len());
    assert_eq!(engine_holders, baseline_holders);

    // the SQL views end where the engine's accounts are, per program
    let last = state.last_time.unwrap().date_utc();
    for program in state.programs.keys() {
        let balances = baseline.program_balances(program, last, last).unwrap();
        assert_eq!(balances.len(), 1, "{program}");
        assert_eq!(
            balances[0].ending_bank_balance,
            state.balance(&Account::ProgramBank(program.clone())),
            "{program} bank"
        );
        let holders_of_program: Money = state
            .balances()
            .filter(|(a, _)| match a {
                Account::Gpa(h) | Account::Msa(h, _) => state.holders.get(h).is_some_and(|(p, _)| p == program),
                _ => false,
            })
            .map(|(_, v)| v)
            .sum();
        let activity = baseline.activity(program, last, last).unwrap();
        assert_eq!(activity[0].ending_balance, holders_of_program, "{program} activity");
    }

    // reopening replays the event rows into the same decision state
    let head = state.head_seq;
    drop(state);
    drop(baseline);
    let reopened = Baseline::open(&dir.path().join("baseline.sqlite")).unwrap();
    assert_eq!(reopened.ledger().head_seq, head);
    assert_eq!(reopened.ledger().accounts, engine.state().accounts);
}

/// Program p1: opening 120.00, reserve "3 days or $100" over a 2-day window;
/// one user. Day 1 a 100.00 load; day 2 quiet; day 3 a 50.00 load, a 500.00
/// deposit, a 20.00 unload and a 30.00 PIN purchase; day 4 a 10.01 load.
fn small_workload() -> Vec<CommandLine> {
    let lines = [
        r#"{"time":"2024-01-01T00:00:00Z","program":{"token":"p1","bank":"B","currency_code":"USD","opening_bank_balance":"120.00","reserve":{"description":"3 days or $100","days":3,"minimum_amount":"100.00","window_days":2}}}"#,
        r#"{"time":"2024-01-01T00:00:00Z","program":{"token":"p2","bank":"B","currency_code":"USD","opening_bank_balance":"7.00"}}"#,
        r#"{"time":"2024-01-01T00:00:00Z","funding_source":{"token":"fs1","program_token":"p1","type":"program","is_default_account":true,"active":true,"name":"P1 funds"}}"#,
        r#"{"time":"2024-01-01T00:00:00Z","user":{"token":"u1","program_token":"p1"}}"#,
        r#"{"time":"2024-01-01T10:00:00Z","gpa_order":{"token":"g1","user_token":"u1","amount":"100.00","currency_code":"USD"}}"#,
        r#"{"time":"2024-01-03T09:00:00Z","gpa_order":{"token":"g2","user_token":"u1","amount":"50.00","currency_code":"USD"}}"#,
        r#"{"time":"2024-01-03T10:00:00Z","program_deposit":{"token":"pd1","program_token":"p1","amount":"500.00","currency_code":"USD"}}"#,
        r#"{"time":"2024-01-03T11:00:00Z","gpa_unload":{"token":"gu1","original_order_token":"g1","amount":"20.00"}}"#,
        r#"{"time":"2024-01-03T12:00:00Z","journal_entry":{"type":"pindebit","token":"je1","user_token":"u1","card_token":"card_u1","amount":"30.00","currency_code":"USD","memo":"SHOP","network":"PULSE","pin_present":true,"mcc":"5411","status":"POSTED","group":"PURCHASE","acting_user_token":"u1"}}"#,
        r#"{"time":"2024-01-04T08:00:00Z","gpa_order":{"token":"g3","user_token":"u1","amount":"10.01","currency_code":"USD"}}"#,
    ];
    lines.iter().map(|l| parse_line(l).unwrap()).collect()
}

fn small_baseline() -> (tempfile::TempDir, Baseline) {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Baseline::open(&dir.path().join("b.sqlite")).unwrap();
    let acks = b.submit_batch(&small_workload()).unwrap();
    assert!(acks.iter().all(|a| matches!(a, Ack::Recorded(_))), "{acks:?}");
    (dir, b)
}

fn balance_row(
    d: &str,
    loads: &str,
    unloads: &str,
    ats: &str,
    deposit: &str,
    begin: &str,
    end: &str,
) -> ProgramBalanceRow {
    ProgramBalanceRow {
        day: day(d),
        partner_funds_loads: m(loads),
        partner_funds_unloads: m(unloads),
        partner_funds_adjustments: Money::ZERO,
        jit_loads: Money::ZERO,
        jit_unloads: Money::ZERO,
        jit_adjustments: Money::ZERO,
        amount_to_send: m(ats),
        deposit: m(deposit),
        beginning_bank_balance: m(begin),
        ending_bank_balance: m(end),
    }
}

#[test]
fn program_balances_chain_day_by_day_with_quiet_days() {
    let (_dir, b) = small_baseline();
    let rows = b.program_balances("p1", day("2024-01-01"), day("2024-01-05")).unwrap();
    assert_eq!(
        rows,
        vec![
            balance_row("2024-01-01", "-100.00", "0", "-100.00", "0", "120.00", "20.00"),
            balance_row("2024-01-02", "0", "0", "0", "0", "20.00", "20.00"),
            balance_row("2024-01-03", "-50.00", "20.00", "-30.00", "500.00", "20.00", "490.00"),
            balance_row("2024-01-04", "-10.01", "0", "-10.01", "0", "490.00", "479.99"),
            balance_row("2024-01-05", "0", "0", "0", "0", "479.99", "479.99"),
        ]
    );
    // a later window still begins from the balances before it
    let later = b.program_balances("p1", day("2024-01-03"), day("2024-01-03")).unwrap();
    assert_eq!(later, vec![rows[2].clone()]);
    // a program without activity has its creation day and then quiet days
    let quiet = b.program_balances("p2", day("2024-01-01"), day("2024-01-02")).unwrap();
    assert_eq!(quiet.iter().map(|r| r.ending_bank_balance).collect::<Vec<_>>(), vec![m("7.00"), m("7.00")]);
    assert!(b.program_balances("nope", day("2024-01-01"), day("2024-01-02")).unwrap().is_empty());
}

#[test]
fn reserve_sums_outflows_over_the_window_and_rounds_once() {
    let (_dir, b) = small_baseline();
    let rows = b.reserve("p1", day("2024-01-01"), day("2024-01-04")).unwrap();
    let row = |d: &str, ats: &str, end: &str, avg: &str, days: &str, req: &str, owed: &str| ReserveRow {
        day: day(d),
        amount_to_send: m(ats),
        ending_bank_balance: m(end),
        reserve_minimum_amount: m("100.00"),
        reserve_avg_week_amount: m(avg),
        reserve_days_amount: m(days),
        reserve_requirement_amount: m(req),
        reserve_owed_amount: m(owed),
    };
    // outflows 100.00, 0, 30.00, 10.01; S over 2 days: 100.00, 100.00, 30.00, 40.01
    // day 4: S/2 = 20.005 → 20.01; 3·S/2 = 60.015 → 60.02 (half away from zero, once)
    assert_eq!(
        rows,
        vec![
            row("2024-01-01", "-100.00", "20.00", "50.00", "150.00", "150.00", "130.00"),
            row("2024-01-02", "0", "20.00", "50.00", "150.00", "150.00", "130.00"),
            row("2024-01-03", "-30.00", "490.00", "15.00", "45.00", "100.00", "0"),
            row("2024-01-04", "-10.01", "479.99", "20.01", "60.02", "100.00", "0"),
        ]
    );
    // only programs with a reserve policy appear
    assert!(b.reserve("p2", day("2024-01-01"), day("2024-01-04")).unwrap().is_empty());
}

#[test]
fn activity_runs_the_holders_balances_by_day() {
    let (_dir, b) = small_baseline();
    let rows = b.activity("p1", day("2024-01-02"), day("2024-01-04")).unwrap();
    let row = |d: &str, start: &str, credits: &str, debits: &str, end: &str| ActivityRow {
        day: day(d),
        starting_balance: m(start),
        credits: m(credits),
        debits: m(debits),
        ending_balance: m(end),
    };
    assert_eq!(
        rows,
        vec![
            row("2024-01-02", "100.00", "0", "0", "100.00"),
            row("2024-01-03", "100.00", "50.00", "50.00", "100.00"),
            row("2024-01-04", "100.00", "10.01", "0", "110.01"),
        ]
    );
    let gpa = b.holder_balances().unwrap();
    assert_eq!(gpa, vec![(Account::Gpa(Holder::User("u1".into())), m("110.01"))]);
}
