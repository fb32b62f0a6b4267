//! Golden fixture of the event payload format (docs/format.md, "Event
//! payload v1"): one event of every variant, encoded once and checked in.
//! The checked-in bytes must keep decoding to the same facts, and today's
//! encoder must keep producing the same bytes. Regenerate only on a
//! deliberate format change: `UPDATE_GOLDEN=1 cargo test -p cardledger-domain --test golden`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use cardledger_domain::event::{Fact, FingerprintKind, Recorded};
use cardledger_domain::state::{fingerprint, fingerprint_blake3, fingerprint_sip13, Decision, Ledger};
use cardledger_domain::time::Timestamp;
use cardledger_domain::{decode_fact, encode_fact, wire};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events_v1.bin");

const LINES: &[&str] = &[
    r#"{"time":"2024-01-01T00:00:00Z","program":{"token":"p","bank":"Sutton Bank","currency_code":"USD","opening_bank_balance":"1000.00","reporting_timezone":"America/New_York","reserve":{"description":"3 days or $50K","days":3,"minimum_amount":50000,"window_days":7}}}"#,
    r#"{"time":"2024-01-01T00:00:01Z","user":{"token":"u","program_token":"p"}}"#,
    r#"{"time":"2024-01-01T00:00:02Z","business":{"token":"b","program_token":"p"}}"#,
    r#"{"time":"2024-01-01T00:00:03Z","funding_source":{"token":"fs","program_token":"p","type":"program","is_default_account":true,"name":"Program"}}"#,
    r#"{"time":"2024-01-01T00:00:04Z","funding_source":{"token":"card","user_token":"u","type":"paymentcard","name":"Visa"}}"#,
    r#"{"time":"2024-01-01T00:00:05Z","funding_source_address":{"token":"addr","funding_source_token":"card"}}"#,
    r#"{"time":"2024-01-01T00:00:06Z","fee":{"token":"fee","name":"Load fee","amount":"1.50","currency_code":"USD"}}"#,
    r#"{"time":"2024-01-01T00:00:07Z","campaign":{"token":"camp","name":"Grocer"}}"#,
    r#"{"time":"2024-01-01T00:00:08Z","merchant":{"token":"merch","name":"Coffee"}}"#,
    r#"{"time":"2024-01-01T00:00:09Z","offer":{"token":"off","name":"Spring","campaign_token":"camp","purchase_amount":200,"reward_amount":50,"reward_trigger_amount":200,"currency_code":"USD"}}"#,
    r#"{"time":"2024-01-01T00:00:10Z","credit_account":{"token":"ca","user_token":"u","program_token":"p","credit_limit":1000,"apr":"14.99"}}"#,
    r#"{"time":"2024-01-02T10:00:00Z","gpa_order":{"token":"g","user_token":"u","amount":"500.00","currency_code":"USD","funding_source_token":"fs","fees":[{"token":"fee","memo":"m"}],"memo":"load"}}"#,
    r#"{"time":"2024-01-02T10:00:01Z","gpa_unload":{"token":"gu","original_order_token":"g","amount":"20.00"}}"#,
    r#"{"time":"2024-01-02T10:00:02Z","msa_order":{"token":"m","campaign_token":"camp","user_token":"u","currency_code":"USD","purchase_amount":"100.00","funding_source_token":"fs","start_date":"2024-01-02"}}"#,
    // the unload before the update: an inactive order refuses unloads (1216)
    r#"{"time":"2024-01-02T10:00:03Z","msa_unload":{"token":"mu","original_order_token":"m","amount":"3.00"}}"#,
    r#"{"time":"2024-01-02T10:00:04Z","msa_order_update":{"token":"m","active":false}}"#,
    r#"{"time":"2024-01-02T10:00:05Z","offer_order":{"token":"oo","user_token":"u","offer_token":"off","funding_source_token":"fs"}}"#,
    r#"{"time":"2024-01-02T10:00:06Z","fee_transfer":{"token":"ft","user_token":"u","fees":[{"token":"fee"}]}}"#,
    r#"{"time":"2024-01-02T10:00:07Z","journal_entry":{"token":"je","type":"authorization","user_token":"u","card_token":"c1","amount":"9.11","currency_code":"USD","status":"PENDING","group":"PURCHASE","network":"VISA","pin_present":false,"mcc":"5411","acting_user_token":"u"}}"#,
    r#"{"time":"2024-01-02T10:00:08Z","program_deposit":{"token":"pd","program_token":"p","amount":"4659036.18","currency_code":"USD","corrected_post_date":"2024-01-01"}}"#,
    r#"{"time":"2024-01-03T00:00:00Z","tick":{"now":"2024-01-03T00:00:00Z"}}"#,
];

/// Lines whose facts are the variants appended after v1 (`CyclesClosed`):
/// a credit account with a purchase, a first close, then a close with
/// interest and a late fee (fixture `events_v2.bin`).
const LINES_V2: &[&str] = &[
    r#"{"time":"2023-06-01T12:00:00Z","program":{"token":"p","bank":"Sutton Bank","currency_code":"USD"}}"#,
    r#"{"time":"2023-06-01T12:00:01Z","user":{"token":"u","program_token":"p"}}"#,
    r#"{"time":"2023-06-01T12:00:02Z","credit_account":{"token":"ca","user_token":"u","program_token":"p","credit_limit":1000,"apr":"14.99","minimum_interest":"1.00","reward_percentage":1}}"#,
    r#"{"time":"2023-06-05T12:00:00Z","journal_entry":{"token":"j1","type":"authorization.clearing","account_token":"ca","amount":"247.12","currency_code":"USD","status":"POSTED","group":"PURCHASE","network":"VISA"}}"#,
    r#"{"time":"2023-07-02T00:00:00Z","tick":{"now":"2023-07-02T00:00:00Z"}}"#,
    r#"{"time":"2023-08-02T00:00:00Z","tick":{"now":"2023-08-02T00:00:00Z"}}"#,
];

/// Every fact the lines record, in order (a closing tick records several),
/// as a version before `FingerprintKind::Sip13` recorded them (the v1 and v2
/// fixtures): with the Blake3 fingerprint.
fn facts_of(lines: &[&str]) -> Vec<Fact> {
    facts_with(lines, FingerprintKind::Blake3)
}

/// Every fact the lines record, with the fingerprints of `kind` (as the
/// version that wrote that kind recorded them).
fn facts_with(lines: &[&str], kind: FingerprintKind) -> Vec<Fact> {
    facts_and_lines(lines, kind).into_iter().map(|(fact, _)| fact).collect()
}

/// [`facts_with`], each fact with the line that recorded it.
fn facts_and_lines(lines: &[&str], kind: FingerprintKind) -> Vec<(Fact, String)> {
    let mut ledger = Ledger::default();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let cmd = wire::parse_line(line).unwrap();
        let time = cmd.time.unwrap_or(Timestamp(0));
        let mut new = match ledger.decide(&cmd, time) {
            Decision::Accept(fact) => vec![fact],
            Decision::AcceptAll(facts) => facts,
            other => panic!("line {i} not accepted: {line}: {other:?}"),
        };
        for fact in &mut new {
            assert_eq!(fact.fingerprint_kind, FingerprintKind::Sip13Payload);
            assert_eq!(fact.fingerprint, fingerprint(&cmd).unwrap());
            fact.fingerprint = match kind {
                FingerprintKind::Blake3 => fingerprint_blake3(&cmd).unwrap(),
                FingerprintKind::Sip13 => fingerprint_sip13(&cmd).unwrap(),
                FingerprintKind::Sip13Payload => fact.fingerprint,
            };
            fact.fingerprint_kind = kind;
        }
        for fact in new {
            ledger.apply(&Recorded { seq: ledger.head_seq + 1, time, fact: fact.clone() });
            out.push((fact, line.to_string()));
        }
    }
    out
}

/// The v1 variants: the v1 lines' facts without the closes their tick
/// records today (the account there opens before the tick's `now`).
fn facts() -> Vec<Fact> {
    facts_of(LINES).into_iter().filter(|f| f.event.kind() != "cycles_closed").collect()
}

fn check_fixture(path: &str, facts: &[Fact]) {
    let encoded = encode_all(facts);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &encoded).unwrap();
    }
    let golden = std::fs::read(path).expect("fixture exists; create it with UPDATE_GOLDEN=1");
    let mut rest = golden.as_slice();
    let mut decoded = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_at(4);
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        let (payload, tail) = tail.split_at(len);
        decoded.push(decode_fact(payload).unwrap());
        rest = tail;
    }
    assert_eq!(decoded, facts);
    assert_eq!(golden, encoded, "the encoder changed the bytes of {path}");
}

#[test]
fn appended_variants_keep_their_v2_encoding() {
    let facts: Vec<Fact> = facts_of(LINES_V2).into_iter().filter(|f| f.event.kind() == "cycles_closed").collect();
    assert_eq!(facts.len(), 2, "two closes");
    let cardledger_domain::event::Event::CyclesClosed(second) = &facts[1].event else { panic!("not a close") };
    let close = &second.closes[0];
    // unpaid: BEGINNING_REVOLVING on 31 × 247.12 → ADB 247.12 × 0.00041068 × 31 = 3.146…
    assert_eq!(close.interest_entry.as_ref().map(|c| c.amount.to_string()), Some("3.15".to_string()));
    assert_eq!(close.late_fee_entry.as_ref().map(|c| c.amount.to_string()), Some("25.00".to_string()));
    check_fixture(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events_v2.bin"), &facts);
}

/// One fact of every variant: the v1 lines' facts and the v2 lines' closes,
/// with the fingerprints of `kind`.
fn every_variant(kind: FingerprintKind) -> Vec<Fact> {
    let mut facts = facts_with(LINES, kind);
    facts.extend(facts_with(LINES_V2, kind).into_iter().filter(|f| f.event.kind() == "cycles_closed"));
    assert_eq!(facts.len(), 24, "the v1 lines' 22 facts (their tick closes a cycle), two closes");
    facts
}

/// Two encodings of the same facts differ only in the fingerprint and the tag.
fn differ_in_fingerprint_and_tag(facts: &[Fact], others: &[Fact]) {
    for (now, old) in facts.iter().zip(others) {
        assert_eq!((&now.event, now.corrected_post_date), (&old.event, old.corrected_post_date));
        assert_ne!(now.fingerprint, old.fingerprint);
        assert_ne!(now.fingerprint_kind, old.fingerprint_kind);
        let (a, b) = (encode_fact(now).unwrap(), encode_fact(old).unwrap());
        let skip = |f: &Fact, bytes: &[u8]| bytes.len() - bincode_u64_len(f.fingerprint) - 1;
        assert_eq!(a[a.len() - skip(now, &a)..], b[b.len() - skip(old, &b)..], "{}", now.event.kind());
    }
}

/// Payload tag 2 / 3 (`FingerprintKind::Sip13`, written before tag 4 / 5):
/// one fact of every variant, the v1 and v2 lines' facts as `decide`
/// recorded them then, in `events_v3.bin`. Their bytes differ from the
/// v1 / v2 fixtures' only in the fingerprint and the tag.
#[test]
fn sip_fingerprint_facts_keep_their_v3_encoding() {
    let facts = every_variant(FingerprintKind::Sip13);
    check_fixture(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events_v3.bin"), &facts);
    differ_in_fingerprint_and_tag(&facts, &every_variant(FingerprintKind::Blake3));
}

/// Payload tag 4 / 5 (`FingerprintKind::Sip13Payload`, what is written
/// now): the same facts as `decide` records them today, in `events_v4.bin`;
/// their bytes differ from the v3 fixture's only in the fingerprint and the
/// tag.
#[test]
fn payload_fingerprint_facts_keep_their_v4_encoding() {
    let facts = every_variant(FingerprintKind::Sip13Payload);
    check_fixture(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events_v4.bin"), &facts);
    differ_in_fingerprint_and_tag(&facts, &every_variant(FingerprintKind::Sip13));
}

/// A `Sip13Payload` fingerprint is SipHash-1-3 (the fixed key) over the
/// payload's own bytes from the tag through the command — the tag, the date,
/// then the command's big-endian bincode, which the test writes apart — and
/// the payload `decide_owned` hands over (encoded once, fingerprinted in
/// place) is exactly what `encode_fact` writes for its fact.
#[test]
fn a_payload_fingerprint_hashes_the_commands_bytes_in_the_payload() {
    let lines: Vec<&str> = LINES.iter().chain(LINES_V2).copied().collect();
    let mut with_date = 0;
    let mut ledger = Ledger::default();
    for (i, line) in lines.iter().enumerate() {
        if i == LINES.len() {
            ledger = Ledger::default();
        }
        let cmd = wire::parse_line(line).unwrap();
        let time = cmd.time.unwrap_or(Timestamp(0));
        // the command's bytes, written apart: tag, date, the command's bincode
        let mut expected = vec![4 + u8::from(cmd.corrected_post_date.is_some())];
        if let Some(date) = cmd.corrected_post_date {
            with_date += 1;
            expected.extend(bincode::encode_to_vec(date, cardledger_domain::codec()).unwrap());
        }
        expected.extend(bincode::encode_to_vec(&cmd.command, cardledger_domain::codec()).unwrap());
        let sip = {
            use std::hash::Hasher;
            let key = cardledger_domain::state::FINGERPRINT_KEY;
            let mut h = siphasher::sip::SipHasher13::new_with_keys(key.0, key.1);
            h.write(&expected);
            h.finish()
        };
        assert_eq!(fingerprint(&cmd).unwrap(), sip, "{line}");
        let (decision, payload) = ledger.decide_owned(cmd.clone(), time);
        assert_eq!(ledger.decide(&cmd, time), decision, "decide and decide_owned agree: {line}");
        let facts = match (decision, payload) {
            (Decision::Accept(fact), Some(payload)) => {
                assert_eq!(fact.fingerprint, sip, "{line}");
                assert_eq!(payload, encode_fact(&fact).unwrap(), "{line}");
                // the hashed bytes sit in the payload right after the fingerprint
                let at = bincode_u64_len(fact.fingerprint);
                assert_eq!(payload[at..at + expected.len()], expected[..], "{line}");
                vec![fact]
            }
            // a tick's facts are encoded by the caller, with the tick's fingerprint
            (Decision::AcceptAll(facts), None) => facts,
            (Decision::Accept(fact), None) if fact.event.kind() == "tick" => vec![fact],
            other => panic!("line {i} not accepted with its payload: {line}: {other:?}"),
        };
        for fact in facts {
            assert_eq!((fact.fingerprint, fact.fingerprint_kind), (sip, FingerprintKind::Sip13Payload));
            ledger.apply(&Recorded { seq: ledger.head_seq + 1, time, fact });
        }
    }
    assert_eq!(with_date, 1, "one line with a corrected_post_date");
}

/// Bytes of a u64 in bincode's varint encoding.
fn bincode_u64_len(v: u64) -> usize {
    match v {
        0..=250 => 1,
        251..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// A resubmitted command recorded with a Blake3 or a Sip13 fingerprint (by
/// an older version), or with today's, is still a duplicate; a different
/// payload under its token is still a conflict.
#[test]
fn older_fingerprints_still_detect_duplicates_and_conflicts() {
    for kind in [FingerprintKind::Blake3, FingerprintKind::Sip13, FingerprintKind::Sip13Payload] {
        let mut ledger = Ledger::default();
        for (i, (fact, line)) in facts_and_lines(LINES, kind).into_iter().enumerate() {
            let time = Timestamp(i as i64);
            let cmd = wire::parse_line(&line).unwrap();
            ledger.apply(&Recorded { seq: i as u64 + 1, time, fact });
            if cmd.command.token().is_some() && cmd.command.key() != "msa_order_update" {
                assert_eq!(ledger.decide(&cmd, time), Decision::Duplicate(i as u64 + 1), "{kind:?} {line}");
                let (owned, payload) = ledger.decide_owned(cmd, time);
                assert_eq!((owned, payload), (Decision::Duplicate(i as u64 + 1), None), "{kind:?} {line}");
            }
        }
        let other = wire::parse_line(r#"{"user":{"token":"u","program_token":"other"}}"#).unwrap();
        let Decision::Reject(r) = ledger.decide(&other, Timestamp(99)) else { panic!("not a conflict") };
        assert_eq!(r.code, cardledger_domain::rejection::Code::TokenConflict, "{kind:?}");
    }
}

fn encode_all(facts: &[Fact]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for f in facts {
        let payload = encode_fact(f).unwrap();
        bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&payload);
    }
    bytes
}

#[test]
fn every_event_variant_keeps_its_v1_encoding() {
    let facts = facts();
    let mut kinds: Vec<&str> = facts.iter().map(|f| f.event.kind()).collect();
    kinds.dedup();
    assert_eq!(kinds.len(), 20, "one fact of every event variant: {kinds:?}");
    let encoded = encode_all(&facts);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(FIXTURE, &encoded).unwrap();
    }
    let golden = std::fs::read(FIXTURE).expect("fixture exists; create it with UPDATE_GOLDEN=1");
    // the checked-in bytes decode to exactly these facts
    let mut rest = golden.as_slice();
    let mut decoded = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_at(4);
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        let (payload, tail) = tail.split_at(len);
        decoded.push(decode_fact(payload).unwrap());
        rest = tail;
    }
    assert_eq!(decoded, facts);
    assert_eq!(golden, encoded, "the encoder changed the v1 bytes");
}

#[test]
fn decoding_rejects_damaged_payloads_without_panicking() {
    let facts = facts();
    for f in &facts {
        let bytes = encode_fact(f).unwrap();
        // every strict prefix is refused; the whole payload is the fact
        for cut in 0..bytes.len() {
            assert!(
                decode_fact(&bytes[..cut]).is_err(),
                "{}: a prefix of {cut} of {} bytes decoded",
                f.event.kind(),
                bytes.len()
            );
        }
        assert_eq!(decode_fact(&bytes).as_ref(), Ok(f), "{}: the whole payload", f.event.kind());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_fact(&longer).is_err(), "trailing bytes are an error");
    }
    assert!(decode_fact(&vec![0xff; 100_000]).is_err());
}

#[test]
fn fuzz_bodies_survive_mutations_of_real_inputs() {
    for f in facts() {
        let bytes = encode_fact(&f).unwrap();
        for i in 0..bytes.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut m = bytes.clone();
                m[i] ^= x;
                cardledger_domain::fuzz_decode_fact(&m);
            }
        }
    }
    for line in LINES {
        for cut in 0..line.len() {
            cardledger_domain::fuzz_parse_line(&line.as_bytes()[..cut]);
        }
        cardledger_domain::fuzz_parse_line(line.as_bytes());
    }
}

/// The commit path (`decide_owned_into`: the command moved out of the line,
/// a journal entry checked and encoded where it is, then moved once into its
/// decision) decides every line of the demo workload as `decide` does, and
/// writes `encode_fact`'s bytes for an accepted fact; so does every journal
/// entry again with an amount no balance covers (most of them rejected).
#[test]
fn the_commit_path_decides_every_line_as_decide_does() {
    use cardledger_domain::command::Command;
    use cardledger_domain::money::Money;
    let cfg = cardledger_workload::WorkloadConfig::default();
    let mut ledger = Ledger::default();
    let mut buf = Vec::new();
    let (mut accepted, mut rejected) = (0usize, 0usize);
    for (i, text) in cardledger_workload::generate(&cfg).take(4_000).enumerate() {
        let Ok(line) = wire::parse_line(&text) else { continue };
        let time = Timestamp(1_600_000_000_000_000 + 1_000_000 * i as i64);
        let mut lines = vec![line.clone()];
        if let Command::JournalEntry(c) = &line.command {
            let mut c = c.clone();
            c.amount = Money::from_cents(i64::MAX / 8);
            c.token = format!("{}-x", c.token).into();
            lines.push(cardledger_domain::command::CommandLine { command: Command::JournalEntry(c), ..line.clone() });
        }
        let mut facts = Vec::new();
        for (n, l) in lines.iter().enumerate() {
            let want = ledger.decide(l, time);
            let mut moved = l.clone();
            let got = ledger.decide_owned_into(&mut moved, time, &mut buf);
            assert_eq!(got, want, "{text}");
            let entry = matches!(l.command, Command::JournalEntry(_));
            match got {
                Decision::Accept(fact) => {
                    assert_eq!(buf, encode_fact(&fact).unwrap(), "{text}");
                    accepted += usize::from(entry);
                    if n == 0 {
                        facts.push(fact);
                    }
                }
                Decision::AcceptAll(all) if n == 0 => facts = all,
                Decision::Reject(_) => rejected += usize::from(entry),
                _ => {}
            }
        }
        for fact in facts {
            ledger.apply(&Recorded { seq: ledger.head_seq + 1, time, fact });
        }
    }
    assert!(accepted > 1_000 && rejected > 500, "journal entries accepted {accepted}, rejected {rejected}");
}
