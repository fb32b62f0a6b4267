//! Scenario tests: every file in `tests/scenarios/` is a script of command
//! lines and expectations, run through the one [`check`] helper. Adding a
//! case is adding two lines to a file.
//!
//! # Syntax (one directive per line)
//!
//! ```text
//! # comment                      blank lines and `#` lines are ignored
//! > {json}                       submit a wire line (product.md §3) to `wire::parse_line`,
//!                                then `Ledger::decide` at its `time` (the previous
//!                                event's time when absent); accepted facts are applied.
//!                                `$PAD(n)` in the line expands to n spaces.
//! = {json}                       the response equals this JSON exactly (serde_json Values;
//!                                numbers compare by their printed text: `1000`, `0.01`, `-3`)
//! ~ {json}                       every key given is in the response with an equal value
//!                                (recursively for objects; arrays and scalars exactly)
//! ! CODE [FIELD]                 rejected (by the parser or by decide) with this code and
//!                                field (no FIELD: the field is empty); the message names it
//! ok                             accepted (a new fact was recorded)
//! dup                            an idempotent resubmission: `Decision::Duplicate` of an
//!                                earlier record; `=` / `~` after it check the original response
//! repeat N                       the next `>` step is submitted N times (each must meet its
//!                                expectations; tokens left out are generated per submission)
//! balances user|business H gpa {json}        subset match of `Ledger::gpa_balances`
//! balances user|business H msa CAMPAIGN {json}  subset match of `Ledger::msa_balances`
//!                                (keys: ledger_balance, available_balance, credit_balance,
//!                                pending_credits, impacted_amount, currency_code)
//! account KIND ARGS... AMOUNT    a raw ledger account's balance, e.g. `account bank p1 1000`,
//!                                `account fees p1 5`, `account source fs_ach 0`,
//!                                `account gpa user u1 10`, `account msa user u1 c1 97`,
//!                                `account msacredit user u1 c1 50`, `account credit ca1 -20`,
//!                                `account network VISA 9.11`; kinds: bank equity fees rewards
//!                                income payments source gpa msa msacredit credit network
//! ```
//!
//! Every `>` step needs at least one of `=`, `~`, `!`, `ok`, `dup` after it.
//! After every step the harness asserts conservation (the sum of all accounts
//! is zero, the postings of every accepted event sum to zero); after a
//! rejection or a duplicate it asserts that nothing changed (head sequence,
//! every account, holds, pending credits, the idempotency index). At the end
//! of a file it replays every recorded fact into a fresh ledger and compares.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::HashMap;
use std::path::Path;

use cardledger_domain::command::Holder;
use cardledger_domain::event::{postings, Account, Recorded};
use cardledger_domain::money::Money;
use cardledger_domain::rejection::Rejection;
use cardledger_domain::response;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::Timestamp;
use cardledger_domain::wire;
use serde_json::Value;

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { check(stringify!($name)); })*
        /// Every data file is run by a test above.
        #[test]
        fn every_file_is_listed() {
            let listed = [$(stringify!($name)),*];
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
            let mut n = 0;
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let stem = path.file_stem().unwrap().to_string_lossy().to_string();
                assert!(listed.contains(&stem.as_str()), "{} has no test in scenarios.rs", path.display());
                n += 1;
            }
            assert_eq!(n, listed.len());
        }
    };
}

scenarios!(orders_source_samples, setup, gpa_orders, msa_orders, journal_entries, tick, rejections, overflow);

/// The outcome of the last `>` step.
enum Outcome {
    None,
    Accepted(Value),
    Duplicate(Value),
    Rejected(Rejection),
}

/// Runs one scenario file; panics with `file:line` at the first failed expectation.
fn check(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios").join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut h = Harness::default();
    let mut repeat: Option<usize> = None;
    let mut lines = text.lines().enumerate().peekable();
    let mut steps = 0usize;
    while let Some((i, raw)) = lines.next() {
        let at = format!("{}:{}", path.display(), i + 1);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        match word {
            ">" => {
                // the expectations that follow apply to every repetition
                let mut exps = Vec::new();
                while let Some((j, next)) = lines.peek() {
                    let n = next.trim();
                    let w = n.split(' ').next().unwrap_or("");
                    if ["=", "~", "!", "ok", "dup"].contains(&w) {
                        exps.push((format!("{}:{}", path.display(), j + 1), n.to_string()));
                        lines.next();
                    } else {
                        break;
                    }
                }
                assert!(!exps.is_empty(), "{at}: a `>` step needs an expectation after it");
                let cmd = expand(rest);
                for _ in 0..repeat.take().unwrap_or(1) {
                    h.submit(&cmd, &at);
                    for (eat, e) in &exps {
                        h.expect(e, eat);
                    }
                    steps += 1;
                }
            }
            "repeat" => repeat = Some(rest.parse().unwrap()),
            "balances" => h.balances(rest, &at),
            "account" => h.account(rest, &at),
            _ => panic!("{at}: unknown directive {word:?} (an expectation must follow its `>` line directly)"),
        }
    }
    assert!(steps > 0, "{name}: no steps");
    h.replay_matches();
}

#[derive(Default)]
struct Harness {
    ledger: Ledger,
    recorded: Vec<Recorded>,
    outcome: Option<Outcome>,
}

impl Harness {
    fn submit(&mut self, line: &str, at: &str) {
        let before = Snapshot::of(&self.ledger);
        let outcome = match wire::parse_line(line) {
            Err(r) => Outcome::Rejected(r),
            Ok(cl) => {
                let time = cl.time.or(self.ledger.last_time).unwrap_or(Timestamp(0));
                match self.ledger.decide(&cl, time) {
                    Decision::Accept(fact) => {
                        let lines = postings(&fact.event);
                        assert!(
                            lines.iter().map(|p| p.amount).sum::<Money>().is_zero(),
                            "{at}: postings do not sum to zero: {lines:?}"
                        );
                        let rec = Recorded { seq: self.ledger.head_seq + 1, time, fact };
                        self.ledger.apply(&rec);
                        assert_eq!(self.ledger.head_seq, rec.seq, "{at}: head_seq after apply");
                        let resp = response::response(&rec, &self.ledger);
                        self.recorded.push(rec);
                        Outcome::Accepted(resp)
                    }
                    Decision::AcceptAll(facts) => {
                        let mut resp = serde_json::Value::Null;
                        for fact in facts {
                            let rec = Recorded { seq: self.ledger.head_seq + 1, time, fact };
                            self.ledger.apply(&rec);
                            resp = response::response(&rec, &self.ledger);
                            self.recorded.push(rec);
                        }
                        Outcome::Accepted(resp)
                    }
                    Decision::Duplicate(seq) => {
                        let rec = self
                            .recorded
                            .get(usize::try_from(seq).unwrap() - 1)
                            .unwrap_or_else(|| panic!("{at}: duplicate of unknown seq {seq}"));
                        assert_eq!(rec.seq, seq);
                        Outcome::Duplicate(response::response(rec, &self.ledger))
                    }
                    Decision::Reject(r) => Outcome::Rejected(r),
                }
            }
        };
        if matches!(outcome, Outcome::Rejected(_) | Outcome::Duplicate(_)) {
            assert!(before == Snapshot::of(&self.ledger), "{at}: a rejection or duplicate changed the state");
        }
        assert!(self.ledger.total().is_zero(), "{at}: accounts sum to {} instead of zero", self.ledger.total());
        self.outcome = Some(outcome);
    }

    fn expect(&self, exp: &str, at: &str) {
        let (word, rest) = exp.split_once(' ').unwrap_or((exp, ""));
        let outcome = self.outcome.as_ref().unwrap_or(&Outcome::None);
        let got = describe(outcome);
        match word {
            "ok" => assert!(matches!(outcome, Outcome::Accepted(_)), "{at}: expected acceptance, got {got}"),
            "dup" => assert!(matches!(outcome, Outcome::Duplicate(_)), "{at}: expected a duplicate, got {got}"),
            "!" => {
                let Outcome::Rejected(r) = outcome else { panic!("{at}: expected rejection {rest}, got {got}") };
                let mut parts = rest.split_whitespace();
                let code: u16 = parts.next().unwrap().parse().unwrap();
                let field = parts.next().unwrap_or("");
                assert_eq!((r.code.number(), r.field.as_str()), (code, field), "{at}: rejection was {r}");
                assert!(r.message.contains(field), "{at}: message {:?} does not name {field}", r.message);
            }
            "=" | "~" => {
                let (Outcome::Accepted(v) | Outcome::Duplicate(v)) = outcome else {
                    panic!("{at}: expected a response, got {got}")
                };
                let want: Value =
                    serde_json::from_str(rest).unwrap_or_else(|e| panic!("{at}: bad expectation JSON: {e}"));
                if word == "=" {
                    assert!(*v == want, "{at}: response differs\n got: {v}\nwant: {want}");
                } else if let Some(path) = subset_mismatch(&want, v, String::new()) {
                    panic!("{at}: response differs at {path}\n got: {v}\nwant ⊆: {want}");
                }
            }
            other => panic!("{at}: unknown expectation {other:?}"),
        }
    }

    fn balances(&self, rest: &str, at: &str) {
        let mut it = rest.splitn(4, ' ');
        let holder = holder(it.next().unwrap(), it.next().unwrap());
        let (b, json) = match it.next().unwrap() {
            "gpa" => (self.ledger.gpa_balances(&holder), it.next().unwrap()),
            "msa" => {
                let (campaign, json) = it.next().unwrap().split_once(' ').unwrap();
                (self.ledger.msa_balances(&holder, campaign), json)
            }
            other => panic!("{at}: balances of {other:?}?"),
        };
        let got = response::balances_json(&b, true, false);
        let want: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{at}: bad JSON: {e}"));
        if let Some(path) = subset_mismatch(&want, &got, String::new()) {
            panic!("{at}: balances differ at {path}\n got: {got}\nwant ⊆: {want}");
        }
    }

    fn account(&self, rest: &str, at: &str) {
        let words: Vec<&str> = rest.split_whitespace().collect();
        let (amount, spec) = words.split_last().unwrap();
        let s = |i: usize| words[i].to_string();
        let acct = match (spec[0], spec.len()) {
            ("bank", 2) => Account::ProgramBank(s(1).into()),
            ("equity", 2) => Account::ProgramEquity(s(1).into()),
            ("fees", 2) => Account::ProgramFees(s(1).into()),
            ("rewards", 2) => Account::ProgramRewards(s(1).into()),
            ("income", 2) => Account::ProgramIncome(s(1).into()),
            ("payments", 2) => Account::CreditPayments(s(1).into()),
            ("source", 2) => Account::FundingSource(s(1).into()),
            ("gpa", 3) => Account::Gpa(holder(spec[1], spec[2])),
            ("msa", 4) => Account::Msa(holder(spec[1], spec[2]), s(3).into()),
            ("msacredit", 4) => Account::MsaCredit(holder(spec[1], spec[2]), s(3).into()),
            ("credit", 2) => Account::Credit(s(1).into()),
            ("network", 2) => Account::Network(s(1).into()),
            _ => panic!("{at}: unknown account {spec:?}"),
        };
        let want =
            rust_decimal::Decimal::from_str_exact(amount).unwrap_or_else(|e| panic!("{at}: bad amount {amount}: {e}"));
        assert_eq!(self.ledger.balance(&acct).decimal(), want, "{at}: balance of {acct:?}");
    }

    /// Replaying every recorded fact into a fresh ledger rebuilds the same state.
    fn replay_matches(&self) {
        let mut fresh = Ledger::default();
        for rec in &self.recorded {
            fresh.apply(rec);
        }
        assert!(Snapshot::of(&fresh) == Snapshot::of(&self.ledger), "replay differs");
        for rec in &self.recorded {
            assert_eq!(
                response::response(rec, &fresh),
                response::response(rec, &self.ledger),
                "response of seq {} after replay",
                rec.seq
            );
        }
    }
}

/// What a rejected or duplicate command must leave untouched.
#[derive(PartialEq)]
struct Snapshot {
    head_seq: u64,
    total: Money,
    accounts: HashMap<Account, Money>,
    holds: Vec<(String, Money)>,
    pending: Vec<(String, Money)>,
    tokens: usize,
    open_entries: Vec<(String, Money)>,
    unloaded: Vec<(String, Money)>,
}

impl Snapshot {
    fn of(l: &Ledger) -> Snapshot {
        let sorted = |v: Vec<(String, Money)>| {
            let mut v = v;
            v.sort();
            v
        };
        Snapshot {
            head_seq: l.head_seq,
            total: l.total(),
            accounts: l.balances().filter(|(_, m)| !m.is_zero()).map(|(a, m)| (a.clone(), m)).collect(),
            holds: sorted(l.holds().map(|(k, v)| (format!("{k:?}"), v)).collect()),
            pending: sorted(l.pending().map(|(k, v)| (format!("{k:?}"), v)).collect()),
            tokens: l.tokens.values().map(|m| m.len()).sum(),
            open_entries: sorted(l.journal_entries.iter().map(|(k, v)| (k.to_string(), v.open)).collect()),
            unloaded: sorted(
                l.gpa_orders.iter().chain(l.msa_orders.iter()).map(|(k, v)| (k.to_string(), v.unloaded)).collect(),
            ),
        }
    }
}

fn holder(kind: &str, token: &str) -> Holder {
    match kind {
        "user" => Holder::User(token.into()),
        "business" => Holder::Business(token.into()),
        other => panic!("holder kind {other:?}"),
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::None => "no step".into(),
        Outcome::Accepted(v) => format!("accepted {v}"),
        Outcome::Duplicate(v) => format!("duplicate {v}"),
        Outcome::Rejected(r) => format!("rejection {r} (field {:?})", r.field),
    }
}

/// Expands `$PAD(n)` into n spaces.
fn expand(line: &str) -> String {
    let mut out = line.to_string();
    while let Some(start) = out.find("$PAD(") {
        let end = start + out[start..].find(')').unwrap();
        let n: usize = out[start + 5..end].parse().unwrap();
        out.replace_range(start..=end, &" ".repeat(n));
    }
    out
}

/// The first path where `got` does not contain `want`, if any.
fn subset_mismatch(want: &Value, got: &Value, path: String) -> Option<String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w.iter().find_map(|(k, wv)| match g.get(k) {
            None => Some(format!("{path}.{k} (absent)")),
            Some(gv) => subset_mismatch(wv, gv, format!("{path}.{k}")),
        }),
        _ if want == got => None,
        _ => Some(format!("{path}: want {want}, got {got}")),
    }
}
