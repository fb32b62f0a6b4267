//! Properties of generated workloads, checked by re-reading the emitted JSON
//! with a tiny tracker that is independent of the generator's own state.

// A checker reports a broken rule by panicking with the line number.
#![allow(clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cardledger_workload::{generate, generate_bulk, WorkloadConfig};
use chrono::{DateTime, NaiveDate};
use serde_json::{Map, Value};

const ALPHA: &str = "prog_alpha";
const BETA: &str = "prog_beta";

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let cfg = WorkloadConfig::default();
    let a: Vec<String> = generate(&cfg).collect();
    let b: Vec<String> = generate(&cfg).collect();
    assert_eq!(a, b);
    let other = WorkloadConfig { seed: 43, ..cfg };
    let c: Vec<String> = generate(&other).collect();
    assert_ne!(a, c);

    let bulk_a: Vec<String> = generate_bulk(7, 20_000).collect();
    let bulk_b: Vec<String> = generate_bulk(7, 20_000).collect();
    assert_eq!(bulk_a, bulk_b);
    let bulk_c: Vec<String> = generate_bulk(8, 20_000).collect();
    assert_ne!(bulk_a, bulk_c);
}

#[test]
fn default_workload_is_valid_and_complete() {
    let report = check(generate(&WorkloadConfig::default()));
    // Every kind of line the workload promises shows up.
    for key in [
        "program",
        "funding_source",
        "funding_source_address",
        "fee",
        "campaign",
        "merchant",
        "offer",
        "user",
        "business",
        "credit_account",
        "gpa_order",
        "gpa_unload",
        "msa_order",
        "msa_unload",
        "offer_order",
        "journal_entry",
        "fee_transfer",
        "program_deposit",
    ] {
        assert!(report.commands.contains(key), "no {key} line");
    }
    for kind in [
        "authorization",
        "authorization.clearing",
        "authorization.reversal",
        "pindebit",
        "pindebit.atm.withdrawal",
        "refund",
        "payment",
    ] {
        assert!(report.entry_types.contains(kind), "no {kind} journal entry");
    }
    assert!(report.resubmissions > 0, "no resubmission");
    assert!(report.beta_loads > 0, "no beta load from its own source");
    assert!(report.credit_entries > 0, "no credit account activity");
    assert!(report.partial_clearings > 0, "no partial clearing");
}

#[test]
fn many_seeds_and_long_runs_stay_valid() {
    for seed in 0..6 {
        let cfg = WorkloadConfig {
            seed,
            days: 70,
            holders: 40,
            start_date: NaiveDate::from_ymd_opt(2024, 2, 20).unwrap_or_default(),
            credit_accounts: 5,
        };
        let report = check(generate(&cfg));
        // Two month starts in range: monthly fees are assessed.
        assert!(report.commands.contains("fee_transfer"));
    }
}

#[test]
fn degenerate_configs_do_not_break() {
    let empty = WorkloadConfig { holders: 0, credit_accounts: 0, days: 5, ..WorkloadConfig::default() };
    let report = check(generate(&empty));
    assert!(report.commands.contains("program_deposit"));
    let one = WorkloadConfig { holders: 1, credit_accounts: 3, days: 10, ..WorkloadConfig::default() };
    check(generate(&one));
    let none = WorkloadConfig { days: 0, ..WorkloadConfig::default() };
    let report = check(generate(&none));
    assert!(!report.commands.contains("gpa_order"));
}

#[test]
fn bulk_has_exact_length_unique_tokens_and_valid_money() {
    let lines: Vec<String> = generate_bulk(7, 100_000).collect();
    assert_eq!(lines.len(), 100_000);
    let report = check(lines);
    assert_eq!(report.resubmissions, 0, "bulk tokens must be unique per kind");
    for key in ["gpa_order", "gpa_unload", "journal_entry", "program_deposit"] {
        assert!(report.commands.contains(key), "no {key} line");
    }
    for kind in ["authorization", "authorization.clearing", "pindebit"] {
        assert!(report.entry_types.contains(kind), "no {kind} journal entry");
    }
    assert_eq!(generate_bulk(7, 5).count(), 5);
    assert_eq!(generate_bulk(7, 0).count(), 0);
}

#[test]
fn bulk_streams_a_million_lines() {
    // Just iterate: nothing is collected, so memory stays flat.
    let mut count = 0u64;
    let mut bytes = 0usize;
    for line in generate_bulk(11, 1_000_000) {
        count += 1;
        bytes += line.len();
    }
    assert_eq!(count, 1_000_000);
    assert!(bytes > 50_000_000);
}

// ---- the independent tracker -------------------------------------------------

/// What a checked stream contained.
#[derive(Debug, Default)]
struct Report {
    commands: BTreeSet<String>,
    entry_types: BTreeSet<String>,
    resubmissions: usize,
    beta_loads: usize,
    credit_entries: usize,
    partial_clearings: usize,
}

#[derive(Debug, Default)]
struct Holder {
    program: String,
    ledger: i64,
    held: i64,
}

#[derive(Debug, Default)]
struct Tracker {
    report: Report,
    last_time: Option<DateTime<chrono::FixedOffset>>,
    seen: HashMap<(String, String), String>,
    holders: HashMap<String, Holder>,
    sources: HashMap<String, Option<String>>,
    fees: HashMap<String, i64>,
    gpa_orders: HashMap<String, (String, i64)>,
    msa_orders: HashMap<String, i64>,
    holds: HashMap<String, (String, i64)>,
    credit_owed: BTreeMap<String, i64>,
}

/// Checks every rule on a stream of lines and returns what it contained.
fn check<I: IntoIterator<Item = String>>(lines: I) -> Report {
    let mut tracker = Tracker::default();
    for (n, line) in lines.into_iter().enumerate() {
        tracker.line(n + 1, &line);
    }
    tracker.report
}

impl Tracker {
    fn line(&mut self, n: usize, line: &str) {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {n}: {e}"));
        let object = value.as_object().unwrap_or_else(|| panic!("line {n}: not an object"));
        assert_eq!(object.len(), 2, "line {n}: time plus exactly one command");
        let time = object["time"].as_str().unwrap_or_else(|| panic!("line {n}: time"));
        assert!(time.ends_with('Z'), "line {n}: time must be UTC");
        let parsed = DateTime::parse_from_rfc3339(time).unwrap_or_else(|e| panic!("line {n}: {e}"));
        if let Some(last) = self.last_time {
            assert!(parsed >= last, "line {n}: time goes backwards");
        }
        self.last_time = Some(parsed);
        let (key, body) =
            object.iter().find(|(k, _)| k.as_str() != "time").unwrap_or_else(|| panic!("line {n}: no command"));
        let body = body.as_object().unwrap_or_else(|| panic!("line {n}: body"));
        self.report.commands.insert(key.clone());
        if key == "tick" {
            assert!(body.get("now").and_then(Value::as_str).is_some(), "line {n}: tick without now");
            return;
        }
        let token = str_field(body, "token", n);
        assert!(!token.is_empty() && token.len() <= 36, "line {n}: token length");
        let kind = match key.as_str() {
            // User and business tokens share one namespace of holders.
            "user" | "business" => "holder".to_string(),
            "campaign" | "merchant" => "campaign".to_string(),
            other => other.to_string(),
        };
        let payload = serde_json::to_string(body).unwrap_or_default();
        if let Some(previous) = self.seen.get(&(kind.clone(), token.clone())) {
            assert_eq!(previous, &payload, "line {n}: token reused with another payload");
            self.report.resubmissions += 1;
            return;
        }
        self.seen.insert((kind, token.clone()), payload);
        for field in ["amount", "purchase_amount", "credit_limit", "opening_bank_balance"] {
            if body.contains_key(field) {
                amount(body, field, n);
            }
        }
        self.apply(n, key, &token, body);
    }

    fn apply(&mut self, n: usize, key: &str, token: &str, body: &Map<String, Value>) {
        match key {
            "user" | "business" => {
                let program = str_field(body, "program_token", n);
                assert!(program == ALPHA || program == BETA, "line {n}: program");
                self.holders.insert(token.to_string(), Holder { program, ..Holder::default() });
            }
            "funding_source" => {
                let owner = body
                    .get("user_token")
                    .or_else(|| body.get("business_token"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if let Some(owner) = &owner {
                    assert!(self.holders.contains_key(owner), "line {n}: unknown owner");
                }
                self.sources.insert(token.to_string(), owner);
            }
            "fee" => {
                self.fees.insert(token.to_string(), amount(body, "amount", n));
            }
            "credit_account" => {
                let user = str_field(body, "user_token", n);
                assert_eq!(self.holder(&user, n).program, ALPHA, "line {n}");
                self.credit_owed.insert(token.to_string(), 0);
            }
            "gpa_order" => self.gpa_order(n, token, body),
            "gpa_unload" => {
                let original = str_field(body, "original_order_token", n);
                let value = amount(body, "amount", n);
                let (holder, remaining) =
                    self.gpa_orders.get_mut(&original).unwrap_or_else(|| panic!("line {n}: unknown order"));
                assert!(value <= *remaining, "line {n}: unload above the order's remaining");
                *remaining -= value;
                let holder = holder.clone();
                self.spend(n, &holder, value, 0);
            }
            "msa_order" => {
                let user = str_field(body, "user_token", n);
                self.holder(&user, n);
                self.msa_orders.insert(token.to_string(), amount(body, "purchase_amount", n));
            }
            "msa_unload" => {
                let original = str_field(body, "original_order_token", n);
                let value = amount(body, "amount", n);
                let remaining =
                    self.msa_orders.get_mut(&original).unwrap_or_else(|| panic!("line {n}: unknown MSA order"));
                assert!(value <= *remaining, "line {n}: MSA unload above remaining");
                *remaining -= value;
            }
            "fee_transfer" => {
                let holder = holder_token(body, n);
                let fees = body["fees"].as_array().unwrap_or_else(|| panic!("line {n}: fees"));
                let total: i64 = fees.iter().map(|f| self.fees[f["token"].as_str().unwrap_or_default()]).sum();
                self.spend(n, &holder, total, 0);
            }
            "journal_entry" => self.journal_entry(n, token, body),
            "program_deposit" => {
                let program = str_field(body, "program_token", n);
                assert!(program == ALPHA || program == BETA, "line {n}: program");
            }
            _ => {}
        }
    }

    fn gpa_order(&mut self, n: usize, token: &str, body: &Map<String, Value>) {
        let holder = holder_token(body, n);
        let value = amount(body, "amount", n);
        let source = body.get("funding_source_token").and_then(Value::as_str);
        if let Some(source) = source {
            let owner = self.sources.get(source).unwrap_or_else(|| panic!("line {n}: unknown source"));
            if let Some(owner) = owner {
                assert_eq!(owner, &holder, "line {n}: someone else's source");
            }
        }
        if self.holder(&holder, n).program == BETA {
            // JIT program: only loads from the holder's own named source.
            let source = source.unwrap_or_else(|| panic!("line {n}: beta load without source"));
            assert_eq!(self.sources[source].as_deref(), Some(holder.as_str()), "line {n}");
            self.report.beta_loads += 1;
        }
        self.holder_mut(&holder, n).ledger += value;
        self.gpa_orders.insert(token.to_string(), (holder, value));
    }

    fn journal_entry(&mut self, n: usize, token: &str, body: &Map<String, Value>) {
        let kind = str_field(body, "type", n);
        self.report.entry_types.insert(kind.clone());
        let value = amount(body, "amount", n);
        if let Some(account) = body.get("account_token").and_then(Value::as_str) {
            self.report.credit_entries += 1;
            let owed = self.credit_owed.get_mut(account).unwrap_or_else(|| panic!("line {n}: unknown credit account"));
            match kind.as_str() {
                "authorization.clearing" => *owed += value,
                "refund" => {
                    assert!(value <= *owed, "line {n}: {kind} above the amount owed");
                    *owed -= value;
                }
                // a payment may exceed the principal: statements also carry interest and fees
                "payment" => *owed = (*owed - value).max(0),
                other => panic!("line {n}: unexpected credit entry {other}"),
            }
            return;
        }
        let user = str_field(body, "user_token", n);
        assert_eq!(str_field(body, "acting_user_token", n), user, "line {n}");
        match kind.as_str() {
            "authorization" => {
                assert_eq!(str_field(body, "status", n), "PENDING", "line {n}");
                self.spend(n, &user, 0, value);
                self.holds.insert(token.to_string(), (user, value));
            }
            "authorization.clearing" | "authorization.reversal" => {
                let related = str_field(body, "related_token", n);
                let (owner, held) =
                    self.holds.remove(&related).unwrap_or_else(|| panic!("line {n}: settles no open hold"));
                assert_eq!(owner, user, "line {n}: settles someone else's hold");
                if kind == "authorization.reversal" {
                    assert_eq!(value, held, "line {n}: reversal of the held amount");
                    self.release(n, &user, held);
                } else {
                    assert!(value <= held, "line {n}: clearing above its authorization");
                    if value < held {
                        self.report.partial_clearings += 1;
                    }
                    self.release(n, &user, held);
                    self.spend(n, &user, value, 0);
                }
            }
            "pindebit" | "pindebit.atm.withdrawal" => {
                assert_eq!(body["pin_present"], Value::Bool(true), "line {n}");
                assert_eq!(self.holder(&user, n).program, ALPHA, "line {n}: PIN on JIT");
                self.spend(n, &user, value, 0);
            }
            "refund" => self.holder_mut(&user, n).ledger += value,
            other => panic!("line {n}: unexpected entry {other}"),
        }
    }

    /// Debits `ledger` and places `hold` on a holder; alpha holders must have
    /// the available balance (ledger − holds) for it.
    fn spend(&mut self, n: usize, holder: &str, ledger: i64, hold: i64) {
        let h = self.holder_mut(holder, n);
        if h.program != ALPHA {
            return;
        }
        h.ledger -= ledger;
        h.held += hold;
        assert!(h.ledger - h.held >= 0, "line {n}: {holder}'s available goes negative");
    }

    fn release(&mut self, n: usize, holder: &str, hold: i64) {
        let h = self.holder_mut(holder, n);
        if h.program == ALPHA {
            h.held -= hold;
            assert!(h.held >= 0, "line {n}: negative holds");
        }
    }

    fn holder(&self, token: &str, n: usize) -> &Holder {
        self.holders.get(token).unwrap_or_else(|| panic!("line {n}: unknown holder {token}"))
    }

    fn holder_mut(&mut self, token: &str, n: usize) -> &mut Holder {
        self.holders.get_mut(token).unwrap_or_else(|| panic!("line {n}: unknown holder {token}"))
    }
}

fn str_field(body: &Map<String, Value>, field: &str, n: usize) -> String {
    body.get(field).and_then(Value::as_str).unwrap_or_else(|| panic!("line {n}: missing {field}")).to_string()
}

fn holder_token(body: &Map<String, Value>, n: usize) -> String {
    let user = body.get("user_token").and_then(Value::as_str);
    let business = body.get("business_token").and_then(Value::as_str);
    match (user, business) {
        (Some(t), None) | (None, Some(t)) => t.to_string(),
        _ => panic!("line {n}: exactly one of user_token / business_token"),
    }
}

/// An amount field: a string with exactly two decimals, > 0, < 1,000,000.00
/// (opening balances excepted from the cap); returned in cents.
fn amount(body: &Map<String, Value>, field: &str, n: usize) -> i64 {
    let text = str_field(body, field, n);
    let (whole, frac) = text.split_once('.').unwrap_or_else(|| panic!("line {n}: {field} {text} has no decimals"));
    assert_eq!(frac.len(), 2, "line {n}: {field} {text} needs 2 decimals");
    assert!(
        !whole.is_empty() && whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()),
        "line {n}: {field} {text} is not a plain decimal"
    );
    let cents: i64 = format!("{whole}{frac}").parse().unwrap_or_else(|e| panic!("line {n}: {e}"));
    assert!(cents > 0, "line {n}: {field} must be > 0");
    if field != "opening_bank_balance" {
        assert!(cents < 100_000_000, "line {n}: {field} {text} too large");
    }
    cents
}

#[test]
fn tracker_catches_an_overdraft() {
    // The checker itself must be able to fail.
    let lines = [
        r#"{"time":"2024-01-01T00:00:00Z","user":{"token":"u1","program_token":"prog_alpha"}}"#,
        r#"{"time":"2024-01-01T00:00:01Z","journal_entry":{"type":"pindebit","token":"je_1","user_token":"u1","acting_user_token":"u1","amount":"1.00","pin_present":true,"status":"POSTED"}}"#,
    ];
    let result = std::panic::catch_unwind(|| check(lines.iter().map(|s| s.to_string())));
    assert!(result.is_err());
}
