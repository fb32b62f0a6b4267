//! The ledger against an obviously correct model: plain integer cents per
//! GPA, MSA and fee account, orders with what remains of them, open holds.
//! Random sequences of valid and invalid commands over a small fixed universe
//! (2 programs, 4 users, 3 funding sources, 2 fees, 1 campaign) go through the
//! real wire parser and `Ledger::decide` / `apply`; after every step the
//! engine must agree with the model, conserve money, and record nothing for a
//! rejection or a resubmission. At the end a replay of the recorded facts into
//! a fresh ledger must rebuild the same balances and decide a probe the same way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::HashMap;

use cardledger_domain::command::Holder;
use cardledger_domain::event::{postings, Account, Recorded};
use cardledger_domain::money::Money;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::Timestamp;
use cardledger_domain::wire;
use proptest::prelude::*;
use serde_json::{json, Value};

const USERS: [&str; 4] = ["u0", "u1", "u2", "u3"];
/// Program of each user: u0, u1 in p0; u2, u3 in p1.
const USER_PROGRAM: [usize; 4] = [0, 0, 1, 1];
const PROGRAMS: [&str; 2] = ["p0", "p1"];
/// Fee tokens and amounts in cents.
const FEES: [(&str, i64); 2] = [("fee_a", 100), ("fee_b", 35)];
const CAMPAIGN: &str = "camp";

/// The set-up every sequence starts from: u0 has its own default ach source,
/// p0 a default program source (used by u1), p1 a single program source.
fn setup_lines() -> Vec<Value> {
    vec![
        json!({"program": {"token": "p0", "bank": "B0", "currency_code": "USD"}}),
        json!({"program": {"token": "p1", "bank": "B1", "currency_code": "USD"}}),
        json!({"user": {"token": "u0", "program_token": "p0"}}),
        json!({"user": {"token": "u1", "program_token": "p0"}}),
        json!({"user": {"token": "u2", "program_token": "p1"}}),
        json!({"user": {"token": "u3", "program_token": "p1"}}),
        json!({"funding_source": {"token": "fs0", "program_token": "p0", "type": "program", "is_default_account": true}}),
        json!({"funding_source": {"token": "fs1", "program_token": "p1", "type": "program"}}),
        json!({"funding_source": {"token": "fs2", "user_token": "u0", "type": "ach", "is_default_account": true}}),
        json!({"fee": {"token": "fee_a", "name": "A", "amount": "1.00", "currency_code": "USD"}}),
        json!({"fee": {"token": "fee_b", "name": "B", "amount": "0.35", "currency_code": "USD"}}),
        json!({"campaign": {"token": CAMPAIGN, "name": "C"}}),
    ]
}

/// One random step. `user` 4 is an unknown user; `pick` selects among earlier
/// orders / authorizations / accepted lines (modulo their count).
#[derive(Clone, Debug)]
enum Op {
    GpaOrder { user: usize, cents: i64, fees: Vec<usize> },
    GpaUnload { pick: usize, cents: i64 },
    MsaOrder { user: usize, cents: i64 },
    MsaUnload { pick: usize, cents: i64 },
    FeeTransfer { user: usize, fees: Vec<usize> },
    Authorization { user: usize, cents: i64 },
    Clearing { pick: usize, cents: i64, related: bool },
    Reversal { pick: usize, cents: i64 },
    PinDebit { user: usize, cents: i64 },
    Resubmit { pick: usize, change: bool },
}

fn cents() -> impl Strategy<Value = i64> {
    prop_oneof![8 => 1i64..20_000, 1 => Just(0i64), 1 => -500i64..0]
}

fn user() -> impl Strategy<Value = usize> {
    prop_oneof![9 => 0usize..4, 1 => Just(4usize)]
}

fn op() -> impl Strategy<Value = Op> {
    let fees = proptest::collection::vec(0usize..2, 0..3);
    prop_oneof![
        4 => (user(), cents(), fees.clone()).prop_map(|(user, cents, fees)| Op::GpaOrder { user, cents, fees }),
        3 => (any::<usize>(), cents()).prop_map(|(pick, cents)| Op::GpaUnload { pick, cents }),
        2 => (user(), cents()).prop_map(|(user, cents)| Op::MsaOrder { user, cents }),
        2 => (any::<usize>(), cents()).prop_map(|(pick, cents)| Op::MsaUnload { pick, cents }),
        1 => (user(), proptest::collection::vec(0usize..2, 1..3)).prop_map(|(user, fees)| Op::FeeTransfer { user, fees }),
        3 => (user(), cents()).prop_map(|(user, cents)| Op::Authorization { user, cents }),
        2 => (any::<usize>(), cents(), any::<bool>()).prop_map(|(pick, cents, related)| Op::Clearing { pick, cents, related }),
        2 => (any::<usize>(), cents()).prop_map(|(pick, cents)| Op::Reversal { pick, cents }),
        2 => (user(), cents()).prop_map(|(user, cents)| Op::PinDebit { user, cents }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, change)| Op::Resubmit { pick, change }),
    ]
}

/// What the model expects of a step.
#[derive(Debug, PartialEq)]
enum Expect {
    Accept,
    Duplicate,
    Reject(u16),
}

/// The obviously correct model, in integer cents.
#[derive(Default, Clone)]
struct Model {
    gpa: HashMap<usize, i64>,
    holds: HashMap<usize, i64>,
    msa: HashMap<usize, i64>,
    fee_income: [i64; 2],
    /// GPA orders: (token, user, amount, unloaded).
    gpa_orders: Vec<(String, usize, i64, i64)>,
    /// MSA orders: (token, user, amount, unloaded).
    msa_orders: Vec<(String, usize, i64, i64)>,
    /// Authorizations: (token, user, open hold).
    auths: Vec<(String, usize, i64)>,
}

impl Model {
    fn available(&self, u: usize) -> i64 {
        self.gpa.get(&u).copied().unwrap_or(0) - self.holds.get(&u).copied().unwrap_or(0)
    }
    fn add(map: &mut HashMap<usize, i64>, u: usize, d: i64) {
        *map.entry(u).or_default() += d;
    }
}

fn money(c: i64) -> String {
    if c < 0 {
        format!("-{}.{:02}", -c / 100, -c % 100)
    } else {
        format!("{}.{:02}", c / 100, c % 100)
    }
}

fn user_token(u: usize) -> &'static str {
    USERS.get(u).copied().unwrap_or("nobody")
}

fn fee_refs(fees: &[usize]) -> Value {
    Value::Array(fees.iter().map(|&f| json!({"token": FEES[f].0})).collect())
}

/// The engine under test with everything it recorded.
#[derive(Default)]
struct Engine {
    ledger: Ledger,
    recorded: Vec<Recorded>,
    /// Accepted command lines, for resubmission: (line JSON).
    accepted: Vec<Value>,
    clock: i64,
}

impl Engine {
    /// Submits a line; returns the decision (applied when accepted).
    fn submit(&mut self, line: &Value) -> Result<Decision, u16> {
        self.clock += 1_000_000;
        let text = line.to_string();
        let parsed = wire::parse_line(&text).map_err(|r| r.code.number())?;
        let time = Timestamp(1_600_000_000_000_000 + self.clock);
        let before_seq = self.ledger.head_seq;
        let before_accounts = self.ledger.accounts.clone();
        let d = self.ledger.decide(&parsed, time);
        match &d {
            Decision::Accept(fact) => {
                let lines = postings(&fact.event);
                assert!(
                    lines.iter().map(|p| p.amount).sum::<Money>().is_zero(),
                    "postings of {text} do not sum to zero"
                );
                // the bank lines of the postings are the bank-flow classifier's movement
                let bank: i64 = lines
                    .iter()
                    .filter(|p| matches!(p.account, Account::ProgramBank(_)))
                    .map(|p| p.amount.cents())
                    .sum();
                let opening = match &fact.event {
                    cardledger_domain::event::Event::ProgramCreated(c) => c.opening_bank_balance.cents(),
                    _ => 0,
                };
                let flow = cardledger_domain::event::bank_flow(&fact.event);
                assert_eq!(bank - opening, flow.map_or(0, |b| b.net()), "bank flow of {text}");
                let rec = Recorded { seq: before_seq + 1, time, fact: fact.clone() };
                self.ledger.apply(&rec);
                assert_eq!(self.ledger.head_seq, before_seq + 1);
                self.recorded.push(rec);
                self.accepted.push(line.clone());
            }
            Decision::AcceptAll(facts) => {
                for fact in facts {
                    let rec = Recorded { seq: self.ledger.head_seq + 1, time, fact: fact.clone() };
                    self.ledger.apply(&rec);
                    self.recorded.push(rec);
                }
                self.accepted.push(line.clone());
            }
            Decision::Duplicate(_) | Decision::Reject(_) => {
                assert_eq!(self.ledger.head_seq, before_seq, "{text}: recorded something");
                assert_eq!(self.ledger.accounts, before_accounts, "{text}: changed balances");
            }
        }
        assert!(self.ledger.total().is_zero(), "{text}: accounts sum to {}", self.ledger.total());
        Ok(d)
    }
}

/// Turns an op into a wire line and the model's expectation, updating the
/// model as if the line were accepted when it expects acceptance.
fn plan(op: &Op, m: &mut Model, e: &Engine, next_token: &mut u64) -> Option<(Value, Expect)> {
    let mut tok = |prefix: &str| {
        *next_token += 1;
        format!("{prefix}{next_token}")
    };
    Some(match op {
        Op::GpaOrder { user, cents, fees } => {
            let token = tok("g");
            let line = json!({"gpa_order": {"token": token, "user_token": user_token(*user), "amount": money(*cents), "currency_code": "USD", "fees": fee_refs(fees)}});
            if *cents <= 0 {
                (line, Expect::Reject(1101))
            } else if *user >= USERS.len() {
                (line, Expect::Reject(1201))
            } else {
                Model::add(&mut m.gpa, *user, *cents);
                m.fee_income[USER_PROGRAM[*user]] += fees.iter().map(|&f| FEES[f].1).sum::<i64>();
                m.gpa_orders.push((token, *user, *cents, 0));
                (line, Expect::Accept)
            }
        }
        Op::GpaUnload { pick, cents } => {
            let n = m.gpa_orders.len();
            let idx = if n == 0 { None } else { Some(pick % (n + 1)) }.filter(|&i| i < n);
            let original = idx.map(|i| m.gpa_orders[i].0.clone()).unwrap_or_else(|| "no_such_order".into());
            let line =
                json!({"gpa_unload": {"token": tok("gu"), "original_order_token": original, "amount": money(*cents)}});
            if *cents <= 0 {
                return Some((line, Expect::Reject(1101)));
            }
            let Some(i) = idx else { return Some((line, Expect::Reject(1201))) };
            let (_, u, amount, unloaded) = m.gpa_orders[i].clone();
            if *cents > amount - unloaded {
                (line, Expect::Reject(1208))
            } else if *cents > m.available(u) {
                (line, Expect::Reject(1209))
            } else {
                m.gpa_orders[i].3 += cents;
                Model::add(&mut m.gpa, u, -cents);
                (line, Expect::Accept)
            }
        }
        Op::MsaOrder { user, cents } => {
            let token = tok("m");
            let line = json!({"msa_order": {"token": token, "campaign_token": CAMPAIGN, "user_token": user_token(*user), "currency_code": "USD", "purchase_amount": money(*cents)}});
            if *cents <= 0 {
                (line, Expect::Reject(1101))
            } else if *user >= USERS.len() {
                (line, Expect::Reject(1201))
            } else {
                Model::add(&mut m.msa, *user, *cents);
                m.msa_orders.push((token, *user, *cents, 0));
                (line, Expect::Accept)
            }
        }
        Op::MsaUnload { pick, cents } => {
            let n = m.msa_orders.len();
            let idx = if n == 0 { None } else { Some(pick % (n + 1)) }.filter(|&i| i < n);
            let original = idx.map(|i| m.msa_orders[i].0.clone()).unwrap_or_else(|| "no_such_order".into());
            let line =
                json!({"msa_unload": {"token": tok("mu"), "original_order_token": original, "amount": money(*cents)}});
            if *cents <= 0 {
                return Some((line, Expect::Reject(1101)));
            }
            let Some(i) = idx else { return Some((line, Expect::Reject(1201))) };
            let (_, u, amount, unloaded) = m.msa_orders[i].clone();
            if *cents > amount - unloaded {
                (line, Expect::Reject(1208))
            } else {
                m.msa_orders[i].3 += cents;
                Model::add(&mut m.msa, u, -cents);
                (line, Expect::Accept)
            }
        }
        Op::FeeTransfer { user, fees } => {
            let line =
                json!({"fee_transfer": {"token": tok("ft"), "user_token": user_token(*user), "fees": fee_refs(fees)}});
            let total: i64 = fees.iter().map(|&f| FEES[f].1).sum();
            if *user >= USERS.len() {
                (line, Expect::Reject(1201))
            } else if total > m.available(*user) {
                (line, Expect::Reject(1209))
            } else {
                Model::add(&mut m.gpa, *user, -total);
                m.fee_income[USER_PROGRAM[*user]] += total;
                (line, Expect::Accept)
            }
        }
        Op::Authorization { user, cents } => {
            let token = tok("a");
            let line = json!({"journal_entry": {"token": token, "type": "authorization", "user_token": user_token(*user), "amount": money(*cents), "currency_code": "USD", "status": "PENDING", "network": "VISA"}});
            if *cents <= 0 {
                (line, Expect::Reject(1101))
            } else if *user >= USERS.len() {
                (line, Expect::Reject(1201))
            } else if *cents > m.available(*user) {
                (line, Expect::Reject(1209))
            } else {
                Model::add(&mut m.holds, *user, *cents);
                m.auths.push((token, *user, *cents));
                (line, Expect::Accept)
            }
        }
        Op::Clearing { pick, cents, related } => {
            if m.auths.is_empty() {
                return None;
            }
            let i = pick % m.auths.len();
            let (auth, u, open) = m.auths[i].clone();
            let mut body = json!({"token": tok("c"), "type": "authorization.clearing", "user_token": USERS[u], "amount": money(*cents), "currency_code": "USD", "status": "POSTED", "network": "VISA"});
            let released = if *related {
                body["related_token"] = json!(auth);
                open
            } else {
                0
            };
            let line = json!({"journal_entry": body});
            if *cents <= 0 {
                (line, Expect::Reject(1101))
            } else if *cents > m.available(u) + released {
                (line, Expect::Reject(1209))
            } else {
                Model::add(&mut m.gpa, u, -cents);
                Model::add(&mut m.holds, u, -released);
                if *related {
                    m.auths[i].2 = 0;
                }
                (line, Expect::Accept)
            }
        }
        Op::Reversal { pick, cents } => {
            if m.auths.is_empty() {
                return None;
            }
            let i = pick % m.auths.len();
            let (auth, u, open) = m.auths[i].clone();
            let line = json!({"journal_entry": {"token": tok("r"), "type": "authorization.reversal", "related_token": auth, "user_token": USERS[u], "amount": money(*cents), "currency_code": "USD", "status": "POSTED"}});
            if *cents <= 0 {
                (line, Expect::Reject(1101))
            } else if open == 0 {
                (line, Expect::Reject(1211))
            } else if *cents > open {
                (line, Expect::Reject(1212))
            } else {
                Model::add(&mut m.holds, u, -cents);
                m.auths[i].2 -= cents;
                (line, Expect::Accept)
            }
        }
        Op::PinDebit { user, cents } => {
            let line = json!({"journal_entry": {"token": tok("pd"), "type": "pindebit", "user_token": user_token(*user), "amount": money(*cents), "currency_code": "USD", "status": "POSTED", "network": "PULSE", "pin_present": true}});
            if *cents <= 0 {
                (line, Expect::Reject(1101))
            } else if *user >= USERS.len() {
                (line, Expect::Reject(1201))
            } else if *cents > m.available(*user) {
                (line, Expect::Reject(1209))
            } else {
                Model::add(&mut m.gpa, *user, -cents);
                (line, Expect::Accept)
            }
        }
        Op::Resubmit { pick, change } => {
            if e.accepted.is_empty() {
                return None;
            }
            let mut line = e.accepted[pick % e.accepted.len()].clone();
            if !change {
                return Some((line, Expect::Duplicate));
            }
            let (_, body) = line.as_object_mut().unwrap().iter_mut().next().unwrap();
            let body = body.as_object_mut().unwrap();
            if let Some(f) = ["amount", "purchase_amount"].into_iter().find(|f| body.contains_key(*f)) {
                let c = Money::parse(body[f].as_str().unwrap()).unwrap().cents();
                body.insert(f.to_string(), json!(money(c + 1)));
            } else {
                // a fee transfer: one more fee
                body.get_mut("fees").unwrap().as_array_mut().unwrap().push(json!({"token": "fee_a"}));
            }
            (line, Expect::Reject(1202))
        }
    })
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut e = Engine::default();
    for line in setup_lines() {
        let d = e.submit(&line).unwrap();
        prop_assert!(matches!(d, Decision::Accept(_)), "set-up {line} not accepted: {d:?}");
    }
    let set_up = e.accepted.len();
    e.accepted.clear();
    let mut m = Model::default();
    let mut next_token = 0u64;
    for op in ops {
        let mut planned = m.clone();
        let Some((line, expect)) = plan(op, &mut planned, &e, &mut next_token) else { continue };
        let seq_before = e.ledger.head_seq;
        let got = match e.submit(&line) {
            Err(code) => Expect::Reject(code),
            Ok(Decision::Accept(_) | Decision::AcceptAll(_)) => Expect::Accept,
            Ok(Decision::Duplicate(seq)) => {
                prop_assert!(seq as usize > set_up && seq <= seq_before, "duplicate of seq {seq}");
                Expect::Duplicate
            }
            Ok(Decision::Reject(r)) => Expect::Reject(r.code.number()),
        };
        prop_assert_eq!(&got, &expect, "{:?} → {}", op, line);
        if got == Expect::Accept {
            m = planned;
        } else {
            // a rejection or a resubmission records nothing
            prop_assert_eq!(e.ledger.head_seq, seq_before, "nothing recorded for {}", line);
        }
        check_agrees(&e.ledger, &m)?;
    }
    check_replay(&e, &m)
}

fn check_agrees(l: &Ledger, m: &Model) -> Result<(), TestCaseError> {
    prop_assert!(l.total().is_zero());
    for (u, name) in USERS.iter().enumerate() {
        let h = Holder::User((*name).to_string().into());
        let b = l.gpa_balances(&h);
        let ledger = m.gpa.get(&u).copied().unwrap_or(0);
        prop_assert_eq!(b.ledger_balance.cents(), ledger, "GPA ledger balance of {}", name);
        prop_assert_eq!(b.available_balance.cents(), m.available(u), "GPA available balance of {}", name);
        prop_assert_eq!(
            l.msa_balances(&h, CAMPAIGN).ledger_balance.cents(),
            m.msa.get(&u).copied().unwrap_or(0),
            "MSA of {}",
            name
        );
    }
    for (p, name) in PROGRAMS.iter().enumerate() {
        prop_assert_eq!(
            l.balance(&Account::ProgramFees((*name).to_string().into())).cents(),
            m.fee_income[p],
            "fees of {}",
            name
        );
    }
    for (token, _, amount, unloaded) in &m.gpa_orders {
        let o = &l.gpa_orders[token.as_str()];
        prop_assert!(o.unloaded <= o.amount, "order {} unloaded {} of {}", token, o.unloaded, o.amount);
        prop_assert_eq!((o.amount.cents(), o.unloaded.cents()), (*amount, *unloaded));
    }
    for (token, _, amount, unloaded) in &m.msa_orders {
        let o = &l.msa_orders[token.as_str()];
        prop_assert!(o.unloaded <= o.amount);
        prop_assert_eq!((o.amount.cents(), o.unloaded.cents()), (*amount, *unloaded));
    }
    Ok(())
}

fn check_replay(e: &Engine, m: &Model) -> Result<(), TestCaseError> {
    let mut fresh = Ledger::default();
    for rec in &e.recorded {
        fresh.apply(rec);
    }
    prop_assert_eq!(&fresh.accounts, &e.ledger.accounts);
    let holds = |l: &Ledger| l.holds().map(|(a, m)| (a.clone(), m)).collect::<std::collections::BTreeMap<_, _>>();
    prop_assert_eq!(holds(&fresh), holds(&e.ledger));
    prop_assert_eq!(fresh.head_seq, e.ledger.head_seq);
    check_agrees(&fresh, m)?;
    // probes: a load and an over-large unload for every user / order, and every accepted line again
    let mut probes: Vec<Value> = USERS
        .iter()
        .map(|u| json!({"gpa_order": {"token": format!("probe_{u}"), "user_token": u, "amount": "12.34", "currency_code": "USD"}}))
        .collect();
    for (token, ..) in m.gpa_orders.iter().chain(m.msa_orders.iter()) {
        probes.push(json!({"gpa_unload": {"token": "probe_u", "original_order_token": token, "amount": "50.00"}}));
        probes.push(json!({"msa_unload": {"token": "probe_m", "original_order_token": token, "amount": "50.00"}}));
    }
    for (token, u, _) in &m.auths {
        probes.push(json!({"journal_entry": {"token": "probe_r", "type": "authorization.reversal", "related_token": token, "user_token": USERS[*u], "amount": "5.00", "currency_code": "USD", "status": "POSTED"}}));
    }
    probes.extend(e.accepted.iter().cloned());
    let t = Timestamp(1_700_000_000_000_000);
    for p in &probes {
        let line = wire::parse_line(&p.to_string()).unwrap();
        prop_assert_eq!(fresh.decide(&line, t), e.ledger.decide(&line, t), "probe {}", p);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ledger_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..200)) {
        run(&ops)?;
    }
}

/// A fixed sequence that exercises every op kind, so the model itself is
/// checked even if the random cases happen to miss one.
#[test]
fn fixed_sequence_agrees_with_the_model() {
    let ops = vec![
        Op::GpaOrder { user: 0, cents: 10_000, fees: vec![0, 1] },
        Op::GpaOrder { user: 1, cents: 5_000, fees: vec![] },
        Op::GpaOrder { user: 4, cents: 5_000, fees: vec![] },
        Op::GpaOrder { user: 2, cents: 0, fees: vec![] },
        Op::Authorization { user: 0, cents: 3_000 },
        Op::GpaUnload { pick: 0, cents: 8_000 },
        Op::GpaUnload { pick: 0, cents: 7_000 },
        Op::GpaUnload { pick: 0, cents: 10_001 },
        Op::Clearing { pick: 0, cents: 2_500, related: true },
        Op::Reversal { pick: 0, cents: 1 },
        Op::Authorization { user: 1, cents: 1_000 },
        Op::Reversal { pick: 1, cents: 1_001 },
        Op::Reversal { pick: 1, cents: 400 },
        Op::Clearing { pick: 1, cents: 100, related: false },
        Op::PinDebit { user: 1, cents: 100_000 },
        Op::PinDebit { user: 1, cents: 100 },
        Op::MsaOrder { user: 3, cents: 700 },
        Op::MsaUnload { pick: 0, cents: 701 },
        Op::MsaUnload { pick: 0, cents: 700 },
        Op::FeeTransfer { user: 2, fees: vec![0] },
        Op::FeeTransfer { user: 1, fees: vec![0, 1] },
        Op::Resubmit { pick: 0, change: false },
        Op::Resubmit { pick: 0, change: true },
        Op::Resubmit { pick: 5, change: true },
        Op::Resubmit { pick: 9, change: true },
    ];
    run(&ops).unwrap();
}
