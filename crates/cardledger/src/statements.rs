//! The credit statement endpoints of source 003 over the `Statements`
//! projection: the path after `/credit/accounts/{account_token}` picks one.
//!
//! | path | endpoint |
//! |---|---|
//! | (empty) | list statement summaries (`count`, `start_index`, `sort_by`, `start_date`, `end_date`) |
//! | `files` | the account's statement files |
//! | `delinquencystate` | delinquency state with buckets |
//! | `transitions` | delinquency transitions |
//! | `STATEMENT` | one statement summary |
//! | `STATEMENT paymentinfo\|interestcharges\|yeartodate\|rewards` | its parts |
//! | `STATEMENT journalentries\|files` | its journal entries / files |
//! | `STATEMENT ledgerentries` | its ledger entries, a bare array (`sort_by`, `expand` only) |
//! | `ledgerentries` | the account's ledger entries, closed and open cycles, paged |

use std::collections::BTreeMap;

use cardledger_statements::{Query, Statements, StatementsQueryError};
use serde_json::{json, Value};

/// Answers one endpoint: `path` is what follows the account (see the
/// module table), `params` the `key=value` query parameters (checked first).
pub fn answer(s: &Statements, account: &str, path: &[&str], params: &[&str]) -> Result<Value, StatementsQueryError> {
    if let [_, "ledgerentries"] = path {
        // the page defines only these two for the statement's ledger entries
        if let Some(p) = params.iter().find(|p| !(p.starts_with("sort_by=") || p.starts_with("expand="))) {
            return Err(StatementsQueryError::UnknownParameter(p.split('=').next().unwrap_or(p).to_string()));
        }
    }
    let q = Query::parse(params.iter().copied())?;
    match path {
        [] => s.list(account, &q),
        ["ledgerentries"] => s.account_ledger_entries(account, &q),
        ["files"] => s.account_files(account, &q),
        ["delinquencystate"] => s.delinquency_state(account),
        ["transitions"] => s.delinquency_transitions(account, &q),
        [statement] => s.summary(account, statement),
        [statement, "paymentinfo"] => s.payment_info(account, statement),
        [statement, "interestcharges"] => s.interest_charges(account, statement),
        [statement, "journalentries"] => s.journal_entries(account, statement, &q),
        [statement, "ledgerentries"] => s.ledger_entries(account, statement, &q),
        [statement, "yeartodate"] => s.year_to_date(account, statement),
        [statement, "rewards"] => s.rewards(account, statement),
        [statement, "files"] => s.statement_files(account, statement, &q),
        [_, other, ..] => Err(StatementsQueryError::InvalidParameter(
            "endpoint".into(),
            format!(
                "{other:?} is not paymentinfo, interestcharges, journalentries, ledgerentries, yeartodate, rewards \
                 or files"
            ),
        )),
    }
}

/// Statement counts per cycle type: `{"statements": N, "by_cycle_type": {…}}`.
pub fn cycle_type_counts(s: &Statements) -> Value {
    let mut by_type: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (a, t) in s.statement_tokens() {
        if let Ok(c) = s.close(&a, &t) {
            *by_type.entry(c.cycle_type.name()).or_default() += 1;
        }
    }
    json!({"statements": s.statement_count(), "by_cycle_type": by_type})
}
