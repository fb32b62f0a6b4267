//! `cardledger statements ACCOUNT [STATEMENT [ENDPOINT]] [key=value …]`: the
//! credit statement endpoints of source 003 over the `Statements`
//! projection (caught up from its checkpoint, then checkpointed).
//!
//! | arguments | endpoint |
//! |---|---|
//! | `ACCOUNT [k=v …]` | list statement summaries (`count`, `start_index`, `sort_by`, `start_date`, `end_date`) |
//! | `ACCOUNT files [k=v …]` | the account's statement files |
//! | `ACCOUNT delinquencystate` | delinquency state with buckets |
//! | `ACCOUNT transitions [k=v …]` | delinquency transitions |
//! | `ACCOUNT STATEMENT` | one statement summary |
//! | `ACCOUNT STATEMENT paymentinfo\|interestcharges\|yeartodate\|rewards` | its parts |
//! | `ACCOUNT STATEMENT journalentries\|files [k=v …]` | its journal entries / files |

use std::collections::BTreeMap;

use anyhow::Result;
use cardledger_core::engine::Engine;
use cardledger_core::projection::{Projection, Runner};
use cardledger_statements::{Query, QueryError, Statements};
use serde_json::{json, Value};

/// Opens the projection and brings it up to the log's head.
pub fn projection(engine: &Engine) -> Result<Runner<Statements>> {
    let mut runner = Runner::open(engine, Statements::default())?;
    runner.catch_up()?;
    runner.checkpoint()?;
    Ok(runner)
}

/// `verify`'s projection check: the checkpointed-and-caught-up projection
/// encodes to the same bytes as a fresh fold of the whole log.
pub fn projection_matches_replay(engine: &Engine) -> Result<bool> {
    let runner = projection(engine)?;
    let mut fresh = Statements::default();
    for entry in engine.events_from(1) {
        fresh.apply(&entry?.rec);
    }
    Ok(fresh.encode() == runner.state().encode())
}

/// Answers one `statements` command line.
pub fn answer(s: &Statements, account: &str, args: &[String]) -> Result<Value, QueryError> {
    let (positional, params): (Vec<&str>, Vec<&str>) = args.iter().map(String::as_str).partition(|a| !a.contains('='));
    let q = Query::parse(params.iter().copied())?;
    match positional.as_slice() {
        [] => s.list(account, &q),
        ["files"] => s.account_files(account, &q),
        ["delinquencystate"] => s.delinquency_state(account),
        ["transitions"] => s.delinquency_transitions(account, &q),
        [statement] => s.summary(account, statement),
        [statement, "paymentinfo"] => s.payment_info(account, statement),
        [statement, "interestcharges"] => s.interest_charges(account, statement),
        [statement, "journalentries"] => s.journal_entries(account, statement, &q),
        [statement, "yeartodate"] => s.year_to_date(account, statement),
        [statement, "rewards"] => s.rewards(account, statement),
        [statement, "files"] => s.statement_files(account, statement, &q),
        [_, other, ..] => Err(QueryError::InvalidParameter(
            "endpoint".into(),
            format!("{other:?} is not paymentinfo, interestcharges, journalentries, yeartodate, rewards or files"),
        )),
    }
}

/// Statement counts per cycle type, for the demo's report.
pub fn cycle_type_counts(s: &Statements) -> Value {
    let mut by_type: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (a, t) in s.statement_tokens() {
        if let Ok(c) = s.close(&a, &t) {
            *by_type.entry(c.cycle_type.name()).or_default() += 1;
        }
    }
    json!({"statements": s.statement_count(), "by_cycle_type": by_type})
}
