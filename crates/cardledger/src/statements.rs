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

use std::collections::BTreeMap;

use cardledger_statements::{Query, Statements, StatementsQueryError};
use serde_json::{json, Value};

/// Answers one endpoint: `path` is what follows the account (see the
/// module table), `params` the `key=value` query parameters (checked first).
pub fn answer(s: &Statements, account: &str, path: &[&str], params: &[&str]) -> Result<Value, StatementsQueryError> {
    let q = Query::parse(params.iter().copied())?;
    match path {
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
        [_, other, ..] => Err(StatementsQueryError::InvalidParameter(
            "endpoint".into(),
            format!("{other:?} is not paymentinfo, interestcharges, journalentries, yeartodate, rewards or files"),
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
