//! The byte writer of `response.rs` (`Response::capture` + `Response::write`)
//! prints exactly what `serde_json::to_writer` printed for the
//! `serde_json::Value` the renderer it replaced built (kept in
//! `response_oracle/old_response.rs` as the oracle): for every event recorded
//! and every duplicate answered on the demo workload, the bulk generator's
//! mix, every scenario file, and lines written for the corners (unicode,
//! every control character, quotes and backslashes in names, memos, tags and
//! tokens; fees, memos and tags on orders; MSA order updates, unloads,
//! offers, credit accounts, ticks). The `Value` forms (`response`,
//! `msa_order_now`, `balances_json`, `event_body`) are compared too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

#[path = "response_oracle/old_response.rs"]
mod old_response;

use std::collections::BTreeMap;
use std::sync::Arc;

use cardledger_domain::event::{Event, Recorded};
use cardledger_domain::response::{self, Response};
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::Timestamp;
use cardledger_domain::wire;

#[derive(Default)]
struct Run {
    ledger: Ledger,
    recorded: Vec<Recorded>,
    /// Responses compared, per event kind.
    kinds: BTreeMap<String, usize>,
}

impl Run {
    /// Both renderers on `rec` against the ledger as it stands.
    fn same(&mut self, rec: &Recorded, what: &str) {
        let old = serde_json::to_vec(&old_response::response(rec, &self.ledger)).unwrap();
        let new = Response::capture(Arc::new(rec.clone()), &self.ledger);
        let bytes = new.to_bytes();
        assert_eq!(String::from_utf8(bytes).unwrap(), String::from_utf8(old.clone()).unwrap(), "{what}: {rec:?}");
        let mut appended = b"x".to_vec();
        new.write(&mut appended);
        assert_eq!(&appended[1..], &old[..], "{what}: write appends");
        assert_eq!(serde_json::to_vec(&new.to_value()).unwrap(), old, "{what}: to_value");
        assert_eq!(serde_json::to_vec(&response::response(rec, &self.ledger)).unwrap(), old, "{what}: response()");
        let body = serde_json::to_vec(&response::event_body(&rec.fact.event)).unwrap();
        let old_body = serde_json::to_vec(&old_response::event_body(&rec.fact.event)).unwrap();
        assert_eq!(String::from_utf8(body).unwrap(), String::from_utf8(old_body).unwrap(), "{what}: event_body");
        if let Event::MsaOrdered(e) = &rec.fact.event {
            let now = response::msa_order_now(&e.cmd.token, &self.ledger).map(|v| serde_json::to_vec(&v).unwrap());
            let old_now =
                old_response::msa_order_now(&e.cmd.token, &self.ledger).map(|v| serde_json::to_vec(&v).unwrap());
            assert_eq!(now, old_now, "{what}: msa_order_now");
            assert!(now.is_some());
            let b = self.ledger.msa_balances(&e.cmd.holder, &e.cmd.campaign_token);
            for (i, n) in [(false, false), (false, true), (true, false), (true, true)] {
                assert_eq!(
                    serde_json::to_vec(&response::balances_json(&b, i, n)).unwrap(),
                    serde_json::to_vec(&old_response::balances_json(&b, i, n)).unwrap()
                );
            }
        }
        let kind = format!("{:?}", rec.fact.event);
        let kind = kind.split(['(', ' ', '{']).next().unwrap().to_string();
        *self.kinds.entry(format!("{what} {kind}")).or_default() += 1;
    }

    fn submit(&mut self, line: &str) {
        let cl = match wire::parse_line(line) {
            Ok(cl) => cl,
            Err(r) => {
                if std::env::var("H13D_DBG").is_ok() {
                    eprintln!("REJECT {r:?} {line}");
                }
                return;
            }
        };
        let time = cl.time.or(self.ledger.last_time).unwrap_or(Timestamp(0));
        match self.ledger.decide(&cl, time) {
            Decision::Accept(fact) => {
                let rec = Recorded { seq: self.ledger.head_seq + 1, time, fact };
                self.ledger.apply(&rec);
                self.same(&rec, "recorded");
                self.recorded.push(rec);
            }
            Decision::AcceptAll(facts) => {
                for fact in facts {
                    let rec = Recorded { seq: self.ledger.head_seq + 1, time, fact };
                    self.ledger.apply(&rec);
                    self.same(&rec, "recorded");
                    self.recorded.push(rec);
                }
            }
            Decision::Duplicate(seq) => {
                let rec = self.recorded[usize::try_from(seq).unwrap() - 1].clone();
                self.same(&rec, "duplicate");
            }
            Decision::Reject(r) => {
                if std::env::var("H13D_DBG").is_ok() {
                    eprintln!("REJECT {r:?} {line}");
                }
            }
        }
    }
}

fn run(lines: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    let mut r = Run::default();
    for l in lines {
        r.submit(&l);
    }
    r.kinds
}

/// Strings that test the escaping: every control character, quotes,
/// backslashes, `/`, DEL, multi-byte and astral characters.
fn tricky() -> Vec<String> {
    let mut v: Vec<String> = (0u32..0x20).map(|c| format!("a{}b", char::from_u32(c).unwrap())).collect();
    v.extend(
        [
            "\"quoted\"",
            "back\\slash",
            "sl/ash",
            "\u{7f}del",
            "café ☕",
            "𝄞 clef 😀",
            "\u{2028}\u{2029}",
            "",
            "abc",
            "ab",
            "é",
        ]
        .map(String::from),
    );
    v.push((0u8..0x20).map(char::from).collect::<String>() + "\"\\end");
    v
}

/// Lines for the corners: every command kind, with tricky strings in every
/// free-text field the responses echo.
fn corner_lines() -> Vec<String> {
    let j = |v: serde_json::Value| v.to_string();
    let mut l = vec![
        r#"{"time":"2024-01-01T00:00:00Z","program":{"token":"p1","bank":"B \"1\"","currency_code":"USD","opening_bank_balance":"1000000.10","reporting_timezone":"UTC","reserve":{"description":"3 days ☕","days":3,"minimum_amount":"50.5","window_days":7},"funding_alert_threshold":"100.00"}}"#.to_string(),
        r#"{"funding_source":{"token":"fs_prog\u00e9","program_token":"p1","type":"program","is_default_account":true,"active":true,"name":"Prog \"fs\" \\ \n"}}"#.into(),
        r#"{"fee":{"token":"fee1","name":"Fee ☕ \"x\"","amount":"1.50","currency_code":"USD","active":true}}"#.into(),
        r#"{"fee":{"token":"fee2","name":"Fee2","amount":2,"currency_code":"USD","active":true}}"#.into(),
        r#"{"campaign":{"token":"c1","name":"Camp\u0001","active":true}}"#.into(),
        r#"{"merchant":{"token":"m1","name":"Merch","active":true}}"#.into(),
        r#"{"offer":{"token":"off1","name":"Offer é","campaign_token":"c1","purchase_amount":"200.00","reward_amount":"50","reward_trigger_amount":"200","currency_code":"USD","active":true}}"#.into(),
        r#"{"program_deposit":{"token":"pd1","program_token":"p1","amount":"500.25","currency_code":"USD"}}"#.into(),
    ];
    for (i, s) in tricky().iter().enumerate() {
        let t: String = s.chars().take(26).collect();
        let u = format!("u{i}_{t}");
        l.push(j(serde_json::json!({"user": {"token": u, "program_token": "p1"}})));
        l.push(j(serde_json::json!({"business": {"token": format!("b{i}_{t}"), "program_token": "p1"}})));
        l.push(j(
            serde_json::json!({"funding_source": {"token": format!("fs{i}_{t}"), "program_token": "p1", "user_token": u,
            "type": "ach", "is_default_account": i % 2 == 0, "active": true, "name": s}}),
        ));
        l.push(j(serde_json::json!({"gpa_order": {"token": format!("g{i}_{t}"), "user_token": u, "amount": "10.10",
            "currency_code": "USD", "funding_source_token": format!("fs{i}_{t}"), "memo": s, "tags": s,
            "fees": [{"token": "fee1", "memo": s}, {"token": "fee2", "tags": s}]}})));
        l.push(j(serde_json::json!({"gpa_order": {"token": format!("gp{i}"), "business_token": format!("b{i}_{t}"), "amount": 7,
            "currency_code": "USD", "funding_source_token": "fs_prog\u{e9}"}})));
        l.push(j(serde_json::json!({"gpa_unload": {"token": format!("un{i}_{t}"), "original_order_token": format!("g{i}_{t}"), "amount": "1.1", "memo": s}})));
        l.push(j(serde_json::json!({"msa_order": {"token": format!("mo{i}_{t}"), "campaign_token": "c1", "user_token": u, "currency_code": "USD",
            "purchase_amount": "100", "reward_amount": "5", "reward_trigger_amount": "50", "funding_source_token": "fs_prog\u{e9}",
            "start_date": "2024-01-01T00:00:00Z", "end_date": "2025-01-01T00:00:00.250Z"}})));
        l.push(j(serde_json::json!({"msa_unload": {"token": format!("mu{i}"), "original_order_token": format!("mo{i}_{t}"), "amount": "10"}})));
        l.push(j(serde_json::json!({"msa_order_update": {"token": format!("mo{i}_{t}"), "active": i % 3 != 0}})));
        l.push(j(serde_json::json!({"msa_order_update": {"token": format!("mo{i}_{t}"), "end_date": "2026-01-01T00:00:00Z"}})));
        l.push(j(serde_json::json!({"offer_order": {"token": format!("oo{i}"), "user_token": u, "offer_token": "off1", "funding_source_token": "fs_prog\u{e9}"}})));
        l.push(j(serde_json::json!({"fee_transfer": {"token": format!("ft{i}_{t}"), "user_token": u, "fees": [{"token": "fee1"}, {"token": "fee2", "memo": s}]}})));
        l.push(j(serde_json::json!({"journal_entry": {"token": format!("je{i}_{t}"), "type": "authorization", "user_token": u, "amount": "3.3",
            "currency_code": "USD", "status": "PENDING", "group": s, "network": s, "card_token": format!("c{t}"), "memo": s, "mcc": "5814",
            "pin_present": i % 2 == 0, "related_token": format!("r{t}"), "acting_user_token": format!("a{t}")}})));
        l.push(j(serde_json::json!({"journal_entry": {"token": format!("jc{i}"), "type": "authorization.clearing", "user_token": u, "amount": "3.3",
            "currency_code": "USD", "status": "POSTED", "related_token": format!("je{i}_{t}"), "root_token": format!("je{i}_{t}")}})));
        // every line again: duplicates answer with the original response
    }
    let again: Vec<String> = l.clone();
    l.extend(again);
    l.push(r#"{"tick":{"now":"2024-06-01T00:00:00.5Z"}}"#.into());
    l
}

/// Every scenario file's `>` lines (each file a ledger of its own).
fn scenario_files() -> Vec<Vec<String>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.lines()
                .filter_map(|l| l.strip_prefix("> "))
                .filter(|l| !l.contains("$PAD("))
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn demo_workload_responses_are_the_old_bytes() {
    let cfg = cardledger_workload::WorkloadConfig::default();
    let kinds = run(cardledger_workload::generate(&cfg));
    // the month's statement close (the one kind the scenario files lack)
    assert!(kinds.contains_key("recorded CyclesClosed"), "{kinds:?}");
    assert!(kinds.len() >= 20, "{kinds:?}");
}

#[test]
fn bulk_mix_responses_are_the_old_bytes() {
    let kinds = run(cardledger_workload::generate_bulk(7, 30_000));
    assert!(kinds.len() >= 8, "{kinds:?}");
}

#[test]
fn scenario_responses_are_the_old_bytes() {
    let mut all = BTreeMap::new();
    for lines in scenario_files() {
        for (k, n) in run(lines) {
            *all.entry(k).or_insert(0) += n;
        }
    }
    // every event kind answered, and duplicates of most
    for kind in [
        "ProgramCreated",
        "UserCreated",
        "BusinessCreated",
        "FundingSourceCreated",
        "FundingSourceAddressCreated",
        "FeeCreated",
        "CampaignCreated",
        "MerchantCreated",
        "OfferCreated",
        "CreditAccountOpened",
        "GpaOrdered",
        "GpaUnloaded",
        "MsaOrdered",
        "MsaOrderUpdated",
        "MsaUnloaded",
        "OfferOrdered",
        "FeeTransferred",
        "JournalEntryRecorded",
        "ProgramDeposited",
        "Ticked",
    ] {
        assert!(all.contains_key(&format!("recorded {kind}")), "no {kind} in {all:?}");
    }
}

#[test]
fn corner_responses_are_the_old_bytes() {
    let kinds = run(corner_lines());
    // each tricky string went through every kind, and came back as a duplicate
    let n = tricky().len();
    for kind in ["GpaOrdered", "GpaUnloaded", "MsaOrdered", "MsaUnloaded", "OfferOrdered", "FeeTransferred"] {
        assert!(kinds.get(&format!("recorded {kind}")).copied().unwrap_or(0) >= n, "{kind}: {kinds:?}");
        assert!(kinds.get(&format!("duplicate {kind}")).copied().unwrap_or(0) >= n, "{kind}: {kinds:?}");
    }
    // an update is recorded again each time (no duplicate)
    assert!(kinds.get("recorded MsaOrderUpdated").copied().unwrap_or(0) >= 4 * n, "{kinds:?}");
    assert!(kinds.get("recorded JournalEntryRecorded").copied().unwrap_or(0) >= 2 * n, "{kinds:?}");
}

#[test]
fn amounts_print_as_money_to_json() {
    use cardledger_domain::money::Money;
    for text in ["0", "0.00", "1", "1.50", "-3.25", "100.10", "0.01", "-0.01", "-100"] {
        let m = Money::parse(text).unwrap();
        let b = cardledger_domain::state::Balances {
            ledger_balance: m,
            available_balance: m,
            credit_balance: m,
            pending_credits: m,
            impacted_amount: m,
            last_updated_time: None,
        };
        assert_eq!(
            serde_json::to_vec(&response::balances_json(&b, true, true)).unwrap(),
            serde_json::to_vec(&old_response::balances_json(&b, true, true)).unwrap(),
            "{text}"
        );
    }
}

#[test]
fn timestamps_write_their_display_bytes() {
    let check = |t: Timestamp| {
        let mut out = b"x".to_vec();
        t.write_rfc3339(&mut out);
        assert_eq!(String::from_utf8(out[1..].to_vec()).unwrap(), t.to_string(), "{t:?}");
    };
    let year = 31_556_952_000_000i64; // a mean Gregorian year in µs
    for t in [
        0,
        -1,
        1,
        999,
        1000,
        1_000_000,
        -1_000_000,
        i64::MIN,
        i64::MAX,
        253_402_300_799_999_999,
        253_402_300_800_000_000,
        -62_135_596_800_000_000,
        -62_135_596_800_000_001,
    ] {
        check(Timestamp(t));
    }
    // every micro/milli/whole-second shape, around leap days and year ends,
    // and a pseudo-random spread over ±12,000 years
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in 0..200_000i64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let r = (x % (24_000 * year as u64)) as i64 - 12_000 * year;
        let shaped = match i % 4 {
            0 => r,
            1 => r - r.rem_euclid(1000),
            2 => r - r.rem_euclid(1_000_000),
            _ => r - r.rem_euclid(86_400_000_000) + (i % 3) * 1000,
        };
        check(Timestamp(shaped));
    }
    for y in [1, 4, 100, 400, 1600, 1900, 1970, 2000, 2024, 2100, 9999] {
        let start = Timestamp::parse(&format!("{y:04}-02-27")).unwrap().0;
        for d in 0..4 * 86_400 {
            check(Timestamp(start + d * 1_000_000 + (d % 7) * 125_000));
        }
    }
}
