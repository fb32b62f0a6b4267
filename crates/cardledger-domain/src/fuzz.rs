//! The small populated ledger that the command fuzz body decides against,
//! so that fuzzed commands reach the checks that need existing programs,
//! holders, funding sources and orders (balances, unloads, duplicates), not
//! only "unknown token".
//!
//! What it deliberately is not: a fixture for tests of behaviour; the
//! scenario tests own those.

use std::sync::OnceLock;

use crate::event::Recorded;
use crate::state::{Decision, Ledger};
use crate::time::Timestamp;
use crate::wire;

/// The commands that build [`seeded_ledger`]; their tokens are the ones a
/// fuzzer finds in the corpus (`fuzz/corpus/parse_line`).
pub const SEED_LINES: &[&str] = &[
    r#"{"time":"2017-03-31T19:13:23Z","program":{"token":"p1","bank":"Sutton Bank","currency_code":"USD","opening_bank_balance":"100000.00"}}"#,
    r#"{"time":"2017-03-31T19:13:23Z","funding_source":{"token":"fs1","program_token":"p1","type":"program","is_default_account":true,"active":true,"name":"fs1"}}"#,
    r#"{"time":"2017-03-31T19:13:23Z","user":{"token":"u1","program_token":"p1"}}"#,
    r#"{"time":"2017-03-31T19:13:23Z","business":{"token":"b1","program_token":"p1"}}"#,
    r#"{"time":"2017-04-01T10:00:00Z","gpa_order":{"token":"g1","user_token":"u1","amount":"250.00","currency_code":"USD","funding_source_token":"fs1"}}"#,
    r#"{"time":"2017-04-01T10:00:00Z","gpa_order":{"token":"g2","business_token":"b1","amount":"75.10","currency_code":"USD"}}"#,
    r#"{"time":"2017-04-02T10:00:00Z","gpa_unload":{"token":"un1","original_order_token":"g1","amount":"10.00"}}"#,
];

/// A ledger with one program, a funding source, a user, a business, two GPA
/// orders and an unload; built once per process. Lines that are rejected
/// (should a later change make one invalid) are skipped, so the ledger is
/// always consistent.
pub fn seeded_ledger() -> &'static Ledger {
    static LEDGER: OnceLock<Ledger> = OnceLock::new();
    LEDGER.get_or_init(|| {
        let mut ledger = Ledger::default();
        for line in SEED_LINES {
            let Ok(cmd) = wire::parse_line(line) else { continue };
            let time = cmd.time.unwrap_or(Timestamp(0));
            if let Decision::Accept(fact) = ledger.decide(&cmd, time) {
                let seq = ledger.head_seq.saturating_add(1);
                ledger.apply(&Recorded { seq, time, fact });
            }
        }
        ledger
    })
}
