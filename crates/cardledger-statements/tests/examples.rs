//! Worked examples as data: every file in `tests/examples/` is a script run
//! through the public API (wire lines → `Engine` → the `Statements`
//! projection fed by a `Runner` → endpoint JSON), by the one [`check`] helper.
//!
//! # Syntax (one directive per line)
//!
//! ```text
//! # comment                     blank lines and `#` lines are ignored
//! > {json}                      submit a wire line; it must be recorded unless `!` follows
//! ! CODE FIELD                  the previous line was rejected with this code and field,
//!                               and the log did not grow
//! ? ENDPOINT ACCOUNT [#N] [k=v …]  query the projection: list, summary, paymentinfo,
//!                               interestcharges, journalentries, yeartodate, rewards, files,
//!                               accountfiles, delinquency, transitions; `#N` is the account's
//!                               N-th statement (1 = oldest)
//! ~ {json}                      every key given is in the last answer with an equal value
//!                               (objects recursively; arrays element by element and of the
//!                               same length; numbers compare as decimals: 25 = 25.00)
//! ?! CODE ENDPOINT ACCOUNT [#N] [k=v …]   the query is refused with this code
//! ```
//!
//! After each file: every statement satisfies the closing-balance identity,
//! no statement token appears twice, a fresh replay of the log equals the
//! followed projection (and renders the same bytes), and a checkpoint
//! round-trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use cardledger_core::engine::{Engine, Outcome};
use cardledger_core::projection::{Projection, Runner};
use cardledger_domain::wire;
use cardledger_statements::{Query, Statements, StatementsQueryError};
use rust_decimal_free::dec_eq;
use serde_json::Value;

macro_rules! examples {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { check(stringify!($name)); })*
        #[test]
        fn every_file_is_run() {
            let mut files: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/examples"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".txt").to_string())
                .collect();
            files.sort();
            let mut named = vec![$(stringify!($name).to_string()),*];
            named.sort();
            assert_eq!(files, named);
        }
    };
}

examples!(
    e1_e4_beginning_and_end_revolving,
    e2_revolving_late_fee_past_due,
    e3_new_account_transacting,
    e5_negative_amortization,
    late_entries_and_bad_input,
    paging_sorting_and_filters
);

mod rust_decimal_free {
    /// Two JSON numbers (or numeric strings) are equal as decimals.
    pub fn dec_eq(a: &str, b: &str) -> bool {
        fn norm(s: &str) -> String {
            let s = s.trim();
            let (neg, s) = s.strip_prefix('-').map(|r| (true, r)).unwrap_or((false, s));
            let (int, frac) = s.split_once('.').unwrap_or((s, ""));
            let int = int.trim_start_matches('0');
            let frac = frac.trim_end_matches('0');
            let body = format!("{}.{}", if int.is_empty() { "0" } else { int }, frac);
            if neg && body != "0." {
                format!("-{body}")
            } else {
                body
            }
        }
        norm(a) == norm(b)
    }
}

fn subset(expected: &Value, got: &Value, path: &str) -> Result<(), String> {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => {
            for (k, v) in e {
                let g = g.get(k).ok_or_else(|| format!("{path}.{k}: missing in {got}"))?;
                subset(v, g, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(g)) => {
            if e.len() != g.len() {
                return Err(format!("{path}: {} elements expected, got {}: {got}", e.len(), g.len()));
            }
            for (i, (a, b)) in e.iter().zip(g).enumerate() {
                subset(a, b, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(a), Value::Number(b)) if dec_eq(&a.to_string(), &b.to_string()) => Ok(()),
        (a, b) if a == b => Ok(()),
        (a, b) => Err(format!("{path}: expected {a}, got {b}")),
    }
}

fn query(s: &Statements, args: &[&str]) -> Result<Value, StatementsQueryError> {
    let (endpoint, account) = (args[0], args[1]);
    let mut rest = &args[2..];
    let mut statement = String::new();
    if let Some(n) = rest.first().and_then(|a| a.strip_prefix('#')) {
        let n: usize = n.parse().unwrap();
        let tokens: Vec<String> =
            s.statement_tokens().into_iter().filter(|(a, _)| a == account).map(|(_, t)| t).collect();
        statement = tokens.get(n - 1).cloned().unwrap_or_else(|| format!("missing-statement-{n}"));
        rest = &rest[1..];
    }
    let q = Query::parse(rest.iter().copied())?;
    match endpoint {
        "list" => s.list(account, &q),
        "summary" => s.summary(account, &statement),
        "paymentinfo" => s.payment_info(account, &statement),
        "interestcharges" => s.interest_charges(account, &statement),
        "journalentries" => s.journal_entries(account, &statement, &q),
        "yeartodate" => s.year_to_date(account, &statement),
        "rewards" => s.rewards(account, &statement),
        "files" => s.statement_files(account, &statement, &q),
        "accountfiles" => s.account_files(account, &q),
        "delinquency" => s.delinquency_state(account),
        "transitions" => s.delinquency_transitions(account, &q),
        other => panic!("unknown endpoint {other}"),
    }
}

fn check(name: &str) {
    let path = format!("{}/tests/examples/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    let mut runner = Runner::open(&engine, Statements::default()).unwrap();
    let mut last_submit: Option<(String, Result<Outcome, cardledger_domain::rejection::Rejection>, u64)> = None;
    let mut last_answer: Option<Value> = None;
    let mut pending_ok = false;
    let finish_submit = |last: &mut Option<(String, Result<Outcome, _>, u64)>, pending: &mut bool| {
        if *pending {
            let (at, outcome, _) = last.as_ref().unwrap();
            match outcome {
                Ok(Outcome::Recorded { .. }) => {}
                other => panic!("{at}: not recorded: {other:?}"),
            }
            *pending = false;
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let at = format!("{name}.txt:{}", i + 1);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(json) = line.strip_prefix("> ") {
            finish_submit(&mut last_submit, &mut pending_ok);
            let before = engine.head_seq();
            let outcome = match wire::parse_line(json) {
                Err(r) => Err(r),
                Ok(cl) => match engine.submit(cl).unwrap() {
                    Outcome::Rejected(r) => Err(r),
                    o => Ok(o),
                },
            };
            last_submit = Some((at, outcome, before));
            pending_ok = true;
        } else if let Some(rest) = line.strip_prefix("! ") {
            let mut parts = rest.split_whitespace();
            let code: u16 = parts.next().unwrap().parse().unwrap();
            let field = parts.next().unwrap_or("");
            let (sat, outcome, before) = last_submit.as_ref().unwrap();
            match outcome {
                Err(r) => {
                    assert_eq!((r.code.number(), r.field.as_str()), (code, field), "{at} (for {sat}): {r}");
                    assert!(r.message.contains(field), "{at}: the message names the field: {}", r.message);
                }
                Ok(o) => panic!("{at}: expected rejection {code}, got {o:?}"),
            }
            assert_eq!(engine.head_seq(), *before, "{at}: a rejection recorded something");
            pending_ok = false;
        } else if let Some(rest) = line.strip_prefix("?! ") {
            finish_submit(&mut last_submit, &mut pending_ok);
            runner.catch_up().unwrap();
            let args: Vec<&str> = rest.split_whitespace().collect();
            let code: u16 = args[0].parse().unwrap();
            match query(runner.state(), &args[1..]) {
                Err(e) => assert_eq!(e.code(), code, "{at}: {e}"),
                Ok(v) => panic!("{at}: expected query error {code}, got {v}"),
            }
        } else if let Some(rest) = line.strip_prefix("? ") {
            finish_submit(&mut last_submit, &mut pending_ok);
            runner.catch_up().unwrap();
            let args: Vec<&str> = rest.split_whitespace().collect();
            last_answer = Some(query(runner.state(), &args).unwrap_or_else(|e| panic!("{at}: {e}")));
        } else if let Some(json) = line.strip_prefix("~ ") {
            let expected: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{at}: bad JSON: {e}"));
            let got = last_answer.as_ref().unwrap_or_else(|| panic!("{at}: no query before"));
            if let Err(e) = subset(&expected, got, "") {
                panic!("{at}: {e}");
            }
        } else {
            panic!("{at}: unknown directive {line:?}");
        }
    }
    finish_submit(&mut last_submit, &mut pending_ok);
    runner.catch_up().unwrap();
    let followed = runner.state();
    assert!(followed.statement_count() > 0, "{name}: no statement was closed");
    // the closing-balance identity, and no statement twice
    let mut seen = std::collections::BTreeSet::new();
    for (a, t) in followed.statement_tokens() {
        assert!(seen.insert(t.clone()), "{name}: statement {t} appears twice");
        let c = followed.close(&a, &t).unwrap();
        let sum = c.opening_balance.plus(c.purchases).plus(c.fees).plus(c.interest).minus(c.payments).minus(c.credits);
        assert_eq!(sum, c.closing_balance, "{name}: identity of {t}");
    }
    // a fresh replay reproduces the projection, byte for byte
    let mut fresh = Statements::default();
    for entry in engine.events_from(1) {
        fresh.apply(&entry.unwrap().rec);
    }
    assert!(&fresh == followed, "{name}: replay differs");
    assert_eq!(fresh.encode(), followed.encode(), "{name}: replay encodes differently");
    assert_eq!(Statements::decode(&followed.encode()).as_ref(), Some(followed), "{name}: checkpoint round trip");
    assert!(engine.verify().is_ok(), "{name}: verify");
}
