//! Properties of statement cycles under random activity (proptest), through
//! the public API: wire lines → `Ledger::decide`/`apply` → the `Statements`
//! projection → JSON.
//!
//! - every statement satisfies closing = opening + purchases + fees +
//!   interest − payments − credits;
//! - a fold interrupted by checkpoints (encode, then decode into a new
//!   projection, as a reopen does) at random points reproduces the
//!   uninterrupted fold byte for byte (encoding and every endpoint's JSON);
//! - no statement appears twice, and an account's statements tile time
//!   (each opens 1 ms after the previous one closed);
//! - year-to-date totals are the sums over the statements closing in the same
//!   local calendar year (they reset in January);
//! - once every cycle with activity has closed, the last closing balance is
//!   what the ledger says the cardholder owes, and all accounts sum to zero;
//! - a tick with the same or an earlier `now` is rejected and records nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use cardledger_domain::event::{Account, Recorded};
use cardledger_domain::projection::Projection;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::Timestamp;
use cardledger_domain::wire;
use cardledger_statements::{Query, Statements};
use proptest::prelude::*;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
enum Op {
    /// Advance business time by this many hours.
    Wait(u32),
    Purchase(u8, u32),
    Payment(u8, u32),
    Refund(u8, u32),
    Fee(u8, u32),
    /// A clearing whose impact time is this many days before now.
    Late(u8, u32, u8),
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u32..200).prop_map(Op::Wait),
        4 => (0u8..3, 100u32..60_000).prop_map(|(a, c)| Op::Purchase(a, c)),
        3 => (0u8..3, 100u32..60_000).prop_map(|(a, c)| Op::Payment(a, c)),
        1 => (0u8..3, 100u32..10_000).prop_map(|(a, c)| Op::Refund(a, c)),
        1 => (0u8..3, 100u32..5_000).prop_map(|(a, c)| Op::Fee(a, c)),
        1 => (0u8..3, 100u32..20_000, 1u8..40).prop_map(|(a, c, d)| Op::Late(a, c, d)),
        2 => Just(Op::Tick),
    ]
}

struct World {
    ledger: Ledger,
    recorded: Vec<Recorded>,
    now: i64,
    n: u32,
}

const ACCOUNTS: [&str; 3] = ["ca_ny", "ca_la", "ca_utc"];

impl World {
    fn submit(&mut self, body: Value) -> bool {
        let mut line = body;
        line["time"] = json!(Timestamp(self.now).to_string());
        let cl = wire::parse_line(&line.to_string()).unwrap();
        let facts = match self.ledger.decide(&cl, Timestamp(self.now)) {
            Decision::Accept(f) => vec![f],
            Decision::AcceptAll(fs) => fs,
            Decision::Reject(_) | Decision::Duplicate(_) => return false,
        };
        for fact in facts {
            let rec = Recorded { seq: self.ledger.head_seq + 1, time: Timestamp(self.now), fact };
            self.ledger.apply(&rec);
            self.recorded.push(rec);
        }
        assert!(self.ledger.total().is_zero());
        true
    }

    fn je(&mut self, kind: &str, group: &str, a: u8, cents: u32, impact: Option<i64>) {
        self.n += 1;
        let mut body = json!({"token": format!("j{}", self.n), "type": kind, "group": group,
            "account_token": ACCOUNTS[a as usize], "amount": format!("{}.{:02}", cents / 100, cents % 100),
            "currency_code": "USD", "status": "POSTED", "network": "VISA"});
        if let Some(t) = impact {
            body["impact_time"] = json!(Timestamp(t).to_string());
        }
        assert!(self.submit(json!({ "journal_entry": body })), "journal entry rejected");
    }
}

fn render_all(s: &Statements) -> Vec<String> {
    let q = Query { count: 100, ..Query::default() };
    let mut out = Vec::new();
    for a in ACCOUNTS {
        out.push(s.list(a, &q).unwrap().to_string());
        out.push(s.delinquency_state(a).unwrap().to_string());
        out.push(s.delinquency_transitions(a, &q).unwrap().to_string());
    }
    for (a, t) in s.statement_tokens() {
        out.push(s.summary(&a, &t).unwrap().to_string());
        out.push(s.payment_info(&a, &t).unwrap().to_string());
        out.push(s.interest_charges(&a, &t).unwrap().to_string());
        out.push(s.journal_entries(&a, &t, &Query { expand_detail: true, ..q.clone() }).unwrap().to_string());
        out.push(s.year_to_date(&a, &t).unwrap().to_string());
        out.push(s.rewards(&a, &t).unwrap().to_string());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn statements_hold_their_invariants(
        ops in proptest::collection::vec(op(), 1..160),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 1..6),
    ) {
        // starts in November so that most runs cross a new year
        let start = Timestamp::parse("2022-11-03T12:00:00Z").unwrap().0;
        let mut w = World { ledger: Ledger::default(), recorded: Vec::new(), now: start, n: 0 };
        assert!(w.submit(json!({"program": {"token": "p", "bank": "B", "currency_code": "USD"}})));
        assert!(w.submit(json!({"user": {"token": "u", "program_token": "p"}})));
        for (a, tz, day) in [(0, "America/New_York", 1), (1, "America/Los_Angeles", 15), (2, "UTC", 28)] {
            assert!(w.submit(json!({"credit_account": {"token": ACCOUNTS[a], "user_token": "u", "program_token": "p",
                "credit_limit": 1500, "apr": "19.99", "timezone": tz, "billing_cycle_day": day,
                "minimum_interest": "0.50", "reward_percentage": "1.5", "late_payment_fee": 29}})));
        }
        let mut last_tick = None;
        for op in ops {
            match op {
                Op::Wait(h) => w.now += i64::from(h) * 3_600_000_000,
                Op::Purchase(a, c) => w.je("authorization.clearing", "PURCHASE", a, c, None),
                Op::Payment(a, c) => w.je("payment", "PAYMENT", a, c, None),
                Op::Refund(a, c) => w.je("refund", "REFUND", a, c, None),
                Op::Fee(a, c) => w.je("account.fee.annual", "FEE", a, c, None),
                Op::Late(a, c, d) => {
                    let impact = w.now - i64::from(d) * 86_400_000_000;
                    w.je("authorization.clearing", "PURCHASE", a, c, Some(impact))
                }
                Op::Tick => {
                    let head = w.ledger.head_seq;
                    let ok = w.submit(json!({"tick": {"now": Timestamp(w.now).to_string()}}));
                    if last_tick.is_some_and(|t| w.now <= t) {
                        prop_assert!(!ok, "a tick not after the previous one was accepted");
                        prop_assert_eq!(w.ledger.head_seq, head, "a rejected tick recorded something");
                    } else {
                        prop_assert!(ok);
                        last_tick = Some(w.now);
                        w.now += 1;
                    }
                }
            }
        }
        // close every cycle that holds activity
        w.now += 70 * 86_400_000_000;
        assert!(w.submit(json!({"tick": {"now": Timestamp(w.now).to_string()}})));

        let mut followed = Statements::default();
        for rec in &w.recorded {
            followed.apply(rec);
        }
        let mut tokens = std::collections::BTreeSet::new();
        for a in ACCOUNTS {
            let mine: Vec<_> = followed.statement_tokens().into_iter().filter(|(x, _)| x == a).collect();
            let closes: Vec<_> = mine.iter().map(|(x, t)| followed.close(x, t).unwrap().clone()).collect();
            for (i, c) in closes.iter().enumerate() {
                prop_assert!(tokens.insert(c.statement_token.clone()), "statement twice");
                let sum = c.opening_balance.plus(c.purchases).plus(c.fees).plus(c.interest).minus(c.payments).minus(c.credits);
                prop_assert_eq!(sum, c.closing_balance, "identity of statement {}", i + 1);
                prop_assert_eq!(c.number as usize, i + 1);
                if i > 0 {
                    prop_assert_eq!(c.opening_date.0, closes[i - 1].closing_date.0 + 1_000, "cycles tile time");
                    prop_assert_eq!(c.opening_balance, closes[i - 1].closing_balance);
                }
                // year to date: the sums over this local year's statements up to this one
                let year = |x: &cardledger_domain::cycle::CycleClose| {
                    let tz = cardledger_domain::zone::parse(match a { "ca_ny" => "America/New_York", "ca_la" => "America/Los_Angeles", _ => "UTC" }).unwrap();
                    cardledger_domain::zone::local_date(tz, x.closing_date).to_naive().format("%Y").to_string()
                };
                let same_year: Vec<_> = closes[..=i].iter().filter(|x| year(x) == year(c)).collect();
                let fees = same_year.iter().fold(cardledger_domain::money::Money::ZERO, |s, x| s.plus(x.fees));
                let interest = same_year.iter().fold(cardledger_domain::money::Money::ZERO, |s, x| s.plus(x.interest));
                prop_assert_eq!(c.ytd_fees, fees);
                prop_assert_eq!(c.ytd_interest, interest);
            }
            let owed = -w.ledger.balance(&Account::Credit(a.into())).decimal();
            let last = closes.last().map(|c| c.closing_balance.decimal()).unwrap_or_default();
            prop_assert_eq!(last, owed, "the last statement shows what the ledger says is owed");
        }
        // a fold checkpointed and reopened (encode → decode into a new
        // projection) before the records at `cut_at`, and at the end, is the
        // uninterrupted fold, byte for byte
        let n = w.recorded.len();
        let cut_at: std::collections::BTreeSet<usize> = cuts.iter().map(|i| i.index(n + 1)).collect();
        let mut resumed = Statements::default();
        let mut reopened = 0;
        for (i, rec) in w.recorded.iter().enumerate() {
            if cut_at.contains(&i) {
                let bytes = resumed.encode();
                resumed = Statements::decode(&bytes).expect("a checkpoint decodes");
                prop_assert_eq!(resumed.encode(), bytes, "a reopened checkpoint re-encodes to its bytes");
                reopened += 1;
            }
            resumed.apply(rec);
        }
        if cut_at.contains(&n) {
            resumed = Statements::decode(&resumed.encode()).expect("a checkpoint decodes");
            reopened += 1;
        }
        prop_assert_eq!(reopened, cut_at.len());
        prop_assert_eq!(resumed.encode(), followed.encode());
        prop_assert_eq!(render_all(&resumed), render_all(&followed));
        let restored = Statements::decode(&followed.encode()).unwrap();
        prop_assert_eq!(render_all(&restored), render_all(&followed));
        // and the ledger itself replays to the same cycle state
        let mut again = Ledger::default();
        for rec in &w.recorded {
            again.apply(rec);
        }
        for a in ACCOUNTS {
            prop_assert_eq!(again.balance(&Account::Credit(a.into())), w.ledger.balance(&Account::Credit(a.into())));
            prop_assert_eq!(again.cycles[a].closes_at, w.ledger.cycles[a].closes_at);
        }
    }
}

#[test]
fn many_closes_are_split_into_bounded_events() {
    let start = Timestamp::parse("2023-01-01T12:00:00Z").unwrap().0;
    let mut w = World { ledger: Ledger::default(), recorded: Vec::new(), now: start, n: 0 };
    assert!(w.submit(json!({"program": {"token": "p", "bank": "B", "currency_code": "USD"}})));
    assert!(w.submit(json!({"user": {"token": "u", "program_token": "p"}})));
    for i in 0..40 {
        assert!(w.submit(json!({"credit_account": {"token": format!("acct{i:02}"), "user_token": "u",
            "program_token": "p", "credit_limit": 1000, "apr": "14.99"}})));
    }
    let before = w.recorded.len();
    w.now = Timestamp::parse("2023-04-02T12:00:00Z").unwrap().0;
    assert!(w.submit(json!({"tick": {"now": Timestamp(w.now).to_string()}})));
    let new = &w.recorded[before..];
    // 40 accounts × 3 cycles = 120 closes in ⌈120/16⌉ = 8 events, then the tick
    assert_eq!(new.len(), 9);
    assert_eq!(new.last().unwrap().fact.event.kind(), "tick");
    for rec in &new[..8] {
        let bytes = cardledger_domain::encode_fact(&rec.fact).unwrap();
        assert!(bytes.len() < cardledger_domain::limits::EVENT_BYTES_MAX / 4, "{} bytes", bytes.len());
        assert_eq!(cardledger_domain::decode_fact(&bytes).unwrap(), rec.fact);
    }
    let mut s = Statements::default();
    for rec in &w.recorded {
        s.apply(rec);
    }
    assert_eq!(s.statement_count(), 120);
}

/// Statement cycles across a DST gap that swallows midnight (Santiago,
/// 2019-09-08) and an overlap that repeats it (Havana, 2019-11-03): the
/// cycle ending the day before closes 1 ms before the day's first instant
/// and the next opens at it — the instant the views' reporting day starts.
#[test]
fn cycles_close_at_the_exact_day_start_across_dst() {
    use cardledger_domain::time::Date;
    use cardledger_domain::zone;
    use chrono::{LocalResult, TimeZone};
    let day = |s: &str| Date::parse(s).unwrap();
    let midnight = |s: &str| day(s).to_naive().and_time(chrono::NaiveTime::MIN);
    let santiago = zone::parse("America/Santiago").unwrap();
    let havana = zone::parse("America/Havana").unwrap();
    assert_eq!(santiago.from_local_datetime(&midnight("2019-09-08")), LocalResult::None, "a gap at midnight");
    assert!(matches!(havana.from_local_datetime(&midnight("2019-11-03")), LocalResult::Ambiguous(..)), "an overlap");

    let start = Timestamp::parse("2019-07-20T12:00:00Z").unwrap().0;
    let mut w = World { ledger: Ledger::default(), recorded: Vec::new(), now: start, n: 0 };
    assert!(w.submit(json!({"program": {"token": "p", "bank": "B", "currency_code": "USD"}})));
    assert!(w.submit(json!({"user": {"token": "u", "program_token": "p"}})));
    // ACCOUNTS[0] and [1] so that World::je can post to them
    for (a, tz, day) in [(0, "America/Santiago", 8), (1, "America/Havana", 3)] {
        assert!(w.submit(json!({"credit_account": {"token": ACCOUNTS[a], "user_token": "u", "program_token": "p",
            "credit_limit": 1500, "apr": "19.99", "timezone": tz, "billing_cycle_day": day}})));
    }
    w.now = Timestamp::parse("2019-08-10T12:00:00Z").unwrap().0;
    w.je("authorization.clearing", "PURCHASE", 0, 1_000, None);
    w.je("authorization.clearing", "PURCHASE", 1, 1_000, None);
    w.now = Timestamp::parse("2019-12-20T12:00:00Z").unwrap().0;
    assert!(w.submit(json!({"tick": {"now": Timestamp(w.now).to_string()}})));
    let mut s = Statements::default();
    for rec in &w.recorded {
        s.apply(rec);
    }
    for (account, boundary, close_at, open_at) in [
        ("ca_ny", "2019-09-08", "2019-09-08T03:59:59.999Z", "2019-09-08T04:00:00Z"),
        ("ca_la", "2019-11-03", "2019-11-03T03:59:59.999Z", "2019-11-03T04:00:00Z"),
    ] {
        let closes: Vec<_> = s
            .statement_tokens()
            .into_iter()
            .filter(|(x, _)| x == account)
            .map(|(x, t)| s.close(&x, &t).unwrap().clone())
            .collect();
        let i = closes.iter().position(|c| c.closing_date.to_string() == close_at);
        let Some(i) = i else {
            panic!(
                "{account}: no cycle closes at {close_at}: {:?}",
                closes.iter().map(|c| c.closing_date.to_string()).collect::<Vec<_>>()
            )
        };
        let next = &closes[i + 1];
        assert_eq!(next.opening_date.to_string(), open_at, "{account}");
        let tz = if account == "ca_ny" { santiago } else { havana };
        assert_eq!(next.opening_date, zone::day_start(tz, day(boundary)), "{account}: the views' day start");
        assert_eq!(zone::local_date(tz, next.opening_date), day(boundary));
        assert!(zone::local_date(tz, closes[i].closing_date) < day(boundary));
    }
}
