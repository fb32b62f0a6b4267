//! Engine integration tests: the source page samples through the engine,
//! idempotency across reopen, rejections that change nothing, replay after
//! reopen, group commit under 64 threads, atomic batches, point-in-time
//! state, corruption detection, the event feed, and a proptest over random
//! ingest / reopen interleavings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use cardledger_core::engine::{Ack, Engine, EngineError, Outcome, VerifyReport};
use cardledger_core::ingest::ingest_chunk;
use cardledger_core::store::StoreError;
use cardledger_domain::command::{CommandLine, Holder};
use cardledger_domain::event::Account;
use cardledger_domain::money::Money;
use cardledger_domain::rejection::{Code, Rejection};
use cardledger_domain::state::{AccountMap, Ledger};
use cardledger_domain::wire::parse_line;
use cardledger_workload::{generate, generate_bulk, WorkloadConfig};
use proptest::prelude::*;
use serde_json::{json, Value};

mod support;

// ---- helpers ---------------------------------------------------------------

fn line(s: &str) -> CommandLine {
    parse_line(s).unwrap_or_else(|r| panic!("test line does not parse: {r}: {s}"))
}

/// Submits one line that must be recorded; returns (seq, response).
fn record(engine: &Engine, s: &str) -> (u64, Value) {
    match engine.submit(line(s)).unwrap() {
        Outcome::Recorded { seq, response, .. } => (seq, response.unwrap().to_value()),
        other => panic!("not recorded: {other:?}\n{s}"),
    }
}

/// Submits one line that must be rejected; returns the rejection.
fn reject(engine: &Engine, s: &str) -> Rejection {
    match engine.submit(line(s)).unwrap() {
        Outcome::Rejected(r) => r,
        other => panic!("not rejected: {other:?}\n{s}"),
    }
}

fn user(t: &str) -> Holder {
    Holder::User(t.into())
}

/// Ingests `lines` in chunks of `chunk`, numbering lines continuously;
/// asserts that no line was rejected and returns the answers.
fn ingest_all(engine: &Engine, lines: &[String], chunk: usize, first_line: u64) -> Vec<Value> {
    let mut answers = Vec::new();
    let mut next = first_line;
    for c in lines.chunks(chunk.max(1)) {
        let a = ingest_chunk(engine, c, next).unwrap();
        next += c.len() as u64;
        answers.extend(a);
    }
    for a in &answers {
        assert!(a.get("error_code").is_none(), "a generated line was rejected: {a}");
    }
    answers
}

/// Accounts, holds and head of a ledger, for comparisons (Ledger has no Eq).
/// Every held account's open holds, in key order.
fn holds_of(l: &Ledger) -> std::collections::BTreeMap<Account, Money> {
    l.holds().map(|(a, m)| (a.clone(), m)).collect()
}

fn snapshot(l: &Ledger) -> (u64, AccountMap, usize) {
    (l.head_seq, l.accounts.clone(), l.holds().count())
}

/// The engine of `dir` on the suite's log backend (`support`: sled, or
/// JetStream under `CARDLEDGER_TEST_LOG` and in `jetstream_suites`).
fn open(dir: &Path) -> Engine {
    support::open(dir)
}

/// The engine of `dir` on the sled store, for the tests that damage the
/// sled log's bytes through its test hooks (the JetStream log's damage
/// tests are `crates/cardledger-nats/tests/corruption.rs`).
fn open_sled(dir: &Path) -> Engine {
    Engine::open(dir).unwrap()
}

const SETUP: &[&str] = &[
    r#"{"time":"2017-03-31T19:13:23Z","program":{"token":"my_program","bank":"Sutton","currency_code":"USD","opening_bank_balance":100000}}"#,
    r#"{"time":"2017-03-31T19:13:23Z","funding_source":{"token":"my_program_funding_source_01","program_token":"my_program","type":"program","name":"my_program_funding_source_01"}}"#,
    r#"{"time":"2017-04-01T10:00:00Z","user":{"token":"my_user_01","program_token":"my_program"}}"#,
    r#"{"time":"2017-04-01T10:00:00Z","campaign":{"token":"my_campaign_01","name":"My campaign"}}"#,
    r#"{"time":"2017-05-10T23:46:44Z","offer":{"token":"may_offer","name":"May_offer","campaign_token":"my_campaign_01","purchase_amount":200,"reward_amount":50,"reward_trigger_amount":200,"currency_code":"USD"}}"#,
];

const GPA_ORDER: &str = r#"{"time":"2017-05-10T23:00:15Z","gpa_order":{"token":"my_gpaorder_01","user_token":"my_user_01","amount":"1000","currency_code":"USD","funding_source_token":"my_program_funding_source_01"}}"#;
const GPA_UNLOAD: &str = r#"{"time":"2017-05-10T23:14:50Z","gpa_unload":{"token":"my_unload_01","original_order_token":"my_gpaorder_01","amount":500}}"#;
const MSA_ORDER: &str = r#"{"time":"2017-05-10T19:11:24Z","msa_order":{"campaign_token":"my_campaign_01","user_token":"my_user_01","token":"my_msaorder_test_01","currency_code":"USD","purchase_amount":"100.00","funding_source_token":"my_program_funding_source_01"}}"#;
const MSA_UNLOAD: &str = r#"{"time":"2017-05-10T23:32:59Z","msa_unload":{"token":"my_msaunload_01","amount":"3.00","original_order_token":"my_msaorder_test_01"}}"#;
const OFFER_ORDER: &str = r#"{"time":"2017-05-10T23:49:14Z","offer_order":{"token":"my_offerorder_0100","user_token":"my_user_01","offer_token":"may_offer","funding_source_token":"my_program_funding_source_01"}}"#;

fn setup(engine: &Engine) {
    for (i, s) in SETUP.iter().enumerate() {
        let (seq, _) = record(engine, s);
        assert_eq!(seq, i as u64 + 1);
    }
}

fn program_source() -> Value {
    json!({
        "type": "program",
        "token": "**********e_01",
        "active": true,
        "name": "my_program_funding_source_01",
        "is_default_account": false,
        "created_time": "2017-03-31T19:13:23Z",
        "last_modified_time": "2017-03-31T19:13:23Z"
    })
}

fn approved() -> Value {
    json!({"code": "0000", "memo": "Approved or completed successfully"})
}

/// The balances object of the source page: with or without
/// `impacted_amount`, with or without the nested `balances {USD: …}`.
fn bal(ledger: i64, available: i64, credit: i64, impacted: Option<i64>, nested: bool) -> Value {
    let mut inner = json!({
        "currency_code": "USD",
        "ledger_balance": ledger,
        "available_balance": available,
        "credit_balance": credit,
        "pending_credits": 0
    });
    if let Some(i) = impacted {
        inner["impacted_amount"] = json!(i);
    }
    let mut outer = inner.clone();
    if nested {
        outer["balances"] = json!({ "USD": inner });
    }
    outer
}

// ---- the source page samples --------------------------------------------------

#[test]
fn source_page_samples_through_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    setup(&engine);
    let me = user("my_user_01");

    let (seq, got) = record(&engine, GPA_ORDER);
    assert_eq!(seq, 6);
    let want = json!({
        "token": "my_gpaorder_01",
        "amount": 1000,
        "created_time": "2017-05-10T23:00:15Z",
        "last_modified_time": "2017-05-10T23:00:15Z",
        "transaction_token": "6",
        "state": "COMPLETION",
        "response": approved(),
        "funding": {"amount": 1000, "source": program_source()},
        "funding_source_token": "**********e_01",
        "user_token": "my_user_01",
        "currency_code": "USD"
    });
    assert_eq!(got, want);
    assert_eq!(engine.state().gpa_balances(&me).ledger_balance, Money::from_cents(100_000));

    let (seq, got) = record(&engine, GPA_UNLOAD);
    assert_eq!(seq, 7);
    let want = json!({
        "token": "my_unload_01",
        "amount": 500,
        "created_time": "2017-05-10T23:14:50Z",
        "last_modified_time": "2017-05-10T23:14:50Z",
        "transaction_token": "7",
        "state": "COMPLETION",
        "response": approved(),
        "funding": {"amount": 500, "source": program_source()},
        "funding_source_token": "**********e_01",
        "original_order_token": "my_gpaorder_01"
    });
    assert_eq!(got, want);
    let gpa = engine.state().gpa_balances(&me);
    assert_eq!((gpa.ledger_balance, gpa.available_balance), (Money::from_cents(50_000), Money::from_cents(50_000)));
    let balances = engine.balances(&me).unwrap();
    assert_eq!(balances["gpa"]["ledger_balance"], json!(500));
    assert_eq!(balances["gpa"]["available_balance"], json!(500));

    let (seq, got) = record(&engine, MSA_ORDER);
    assert_eq!(seq, 8);
    let want = json!({
        "token": "my_msaorder_test_01",
        "user_token": "my_user_01",
        "order_balances": bal(100, 100, 0, Some(100), true),
        "purchase_amount": 100,
        "currency_code": "USD",
        "active": true,
        "reward_amount": 0,
        "reward_trigger_amount": 0.01,
        "campaign_token": "my_campaign_01",
        "funding": {"amount": 100, "source": program_source()},
        "created_time": "2017-05-10T19:11:24Z",
        "last_modified_time": "2017-05-10T19:11:24Z",
        "aggregated_balances": bal(100, 100, 0, None, true),
        "transaction_token": "8"
    });
    assert_eq!(got, want);
    let msa_order_response = got;

    let (seq, got) = record(&engine, MSA_UNLOAD);
    assert_eq!(seq, 9);
    let want = json!({
        "token": "my_msaunload_01",
        "user_token": "my_user_01",
        "order_balances": bal(97, 97, 0, Some(-3), false),
        "amount": 3,
        "currency_code": "USD",
        "active": true,
        "campaign_token": "my_campaign_01",
        "created_time": "2017-05-10T23:32:59Z",
        "last_modified_time": "2017-05-10T23:32:59Z",
        "aggregated_balances": bal(97, 97, 0, None, true),
        "original_order_token": "my_msaorder_test_01",
        "transaction_token": "9"
    });
    assert_eq!(got, want);

    let (seq, got) = record(&engine, OFFER_ORDER);
    assert_eq!(seq, 10);
    // The sample plus the two fields every order response carries here
    // (product.md §4): the masked funding source token and the transaction token.
    let want = json!({
        "created_time": "2017-05-10T23:49:14Z",
        "last_modified_time": "2017-05-10T23:49:14Z",
        "user_token": "my_user_01",
        "token": "my_offerorder_0100",
        "order_balances": bal(200, 250, 50, None, true),
        "order_aggregated_balances": bal(297, 347, 50, None, true),
        "offer": {
            "token": "may_offer",
            "active": true,
            "name": "May_offer",
            "purchase_amount": 200,
            "reward_amount": 50,
            "reward_trigger_amount": 200,
            "campaign_token": "my_campaign_01",
            "currency_code": "840",
            "created_time": "2017-05-10T23:46:44Z",
            "last_modified_time": "2017-05-10T23:46:44Z"
        },
        "funding_source_token": "**********e_01",
        "transaction_token": "10"
    });
    assert_eq!(got, want);
    let msa = engine.state().msa_balances(&me, "my_campaign_01");
    assert_eq!(
        (msa.ledger_balance, msa.available_balance, msa.credit_balance),
        (Money::from_cents(29_700), Money::from_cents(34_700), Money::from_cents(5_000))
    );

    // An idempotent resubmission of the MSA order after the unload and the
    // offer order still answers the original response.
    match engine.submit(line(MSA_ORDER)).unwrap() {
        Outcome::Duplicate { seq, response, .. } => {
            assert_eq!(seq, 8);
            assert_eq!(response.unwrap().to_value(), msa_order_response);
        }
        other => panic!("not a duplicate: {other:?}"),
    }
    assert_eq!(engine.head_seq(), 10);
    assert!(engine.state().total().is_zero());
    engine.verify().unwrap();
}

// ---- idempotency ----------------------------------------------------------------

#[test]
fn resubmission_is_a_duplicate_and_a_changed_payload_a_conflict_also_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let conflict = GPA_ORDER.replace(r#""amount":"1000""#, r#""amount":"999""#);
    let later_time = GPA_ORDER.replace("2017-05-10T23:00:15Z", "2018-01-01T00:00:00Z");
    let (order_seq, order_response) = {
        let engine = open(dir.path());
        setup(&engine);
        let (seq, response) = record(&engine, GPA_ORDER);
        (seq, response)
    };
    for round in 0..3 {
        let engine = open(dir.path());
        let head = engine.head_seq();
        assert_eq!(head, order_seq, "round {round}");
        let accounts = engine.state().accounts.clone();
        // the same line, and the same payload at another time, are duplicates
        for s in [GPA_ORDER, later_time.as_str()] {
            match engine.submit(line(s)).unwrap() {
                Outcome::Duplicate { seq, command, token, response } => {
                    assert_eq!(
                        (seq, command, token.as_str()),
                        (order_seq, "gpa_order", "my_gpaorder_01"),
                        "round {round}"
                    );
                    assert_eq!(response.unwrap().to_value(), order_response, "round {round}");
                }
                other => panic!("round {round}: not a duplicate: {other:?}"),
            }
        }
        let r = reject(&engine, &conflict);
        assert_eq!(r.code.number(), 1202, "round {round}: {r}");
        assert_eq!(r.field, "gpa_order.token");
        assert!(r.message.contains("gpa_order.token"), "{}", r.message);
        assert_eq!(engine.head_seq(), head);
        assert_eq!(engine.state().accounts, accounts);
        engine.verify().unwrap();
    }
}

#[test]
fn duplicates_inside_one_batch_answer_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    setup(&engine);
    let conflict = GPA_ORDER.replace(r#""amount":"1000""#, r#""amount":"1""#);
    let out = engine.submit_batch(vec![line(GPA_ORDER), line(GPA_ORDER), line(&conflict)]).unwrap();
    let Outcome::Recorded { seq, response, .. } = &out[0] else { panic!("{:?}", out[0]) };
    assert_eq!(*seq, 6);
    match &out[1] {
        Outcome::Duplicate { seq: s, response: r, .. } => {
            assert_eq!((s, r.as_ref().unwrap().to_value()), (seq, response.as_ref().unwrap().to_value()))
        }
        other => panic!("{other:?}"),
    }
    match &out[2] {
        Outcome::Rejected(r) => assert_eq!(r.code.number(), 1202),
        other => panic!("{other:?}"),
    }
    assert_eq!(engine.head_seq(), 6);
}

/// An `Outcome` is moved into its request's answers once a command: its
/// response stays boxed (inline it made every `Outcome` 200 bytes, a
/// bulk loader's too: docs/performance.md, "the leader's copies at batch
/// 8,192").
#[test]
fn an_outcome_is_small() {
    assert!(std::mem::size_of::<Outcome>() <= 64, "{} bytes", std::mem::size_of::<Outcome>());
    assert!(std::mem::size_of::<Ack>() <= 64, "{} bytes", std::mem::size_of::<Ack>());
}

/// A bulk loader's acks (built by the leader as it decides, not converted
/// from outcomes) answer every command as `submit_batch`'s outcomes do:
/// recorded, duplicate and rejected, each at its place and seq.
#[test]
fn acks_answer_as_the_outcomes_do() {
    let conflict = GPA_ORDER.replace(r#""amount":"1000""#, r#""amount":"1""#);
    let unknown = GPA_UNLOAD.replace("my_gpaorder_01", "no_such_order");
    let batch = || -> Vec<CommandLine> {
        [GPA_ORDER, &unknown, GPA_ORDER, MSA_ORDER, &conflict, GPA_UNLOAD, MSA_ORDER].iter().map(|s| line(s)).collect()
    };
    let (full, short) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (full, short) = (open(full.path()), open(short.path()));
    setup(&full);
    setup(&short);
    let outcomes = full.submit_batch(batch()).unwrap();
    let acks = short.submit_batch_acks(batch()).unwrap();
    assert_eq!(acks, outcomes.into_iter().map(Ack::from).collect::<Vec<_>>());
    let kinds: Vec<u8> = acks
        .iter()
        .map(|a| match a {
            Ack::Recorded(_) => 0,
            Ack::Duplicate(_) => 1,
            Ack::Rejected(_) => 2,
        })
        .collect();
    assert_eq!(kinds, [0, 2, 1, 0, 2, 0, 1], "{acks:?}");
    assert_eq!(&acks[..1], [Ack::Recorded(6)]);
    assert_eq!(&acks[2..4], [Ack::Duplicate(6), Ack::Recorded(7)]);
    assert_eq!(&acks[5..], [Ack::Recorded(8), Ack::Duplicate(7)]);
    // the acks after a second batch in the same engines too (a group of
    // acks only decides against the state the earlier acks left)
    let again = || vec![line(GPA_UNLOAD), line(OFFER_ORDER)];
    let outcomes = full.submit_batch(again()).unwrap();
    assert_eq!(short.submit_batch_acks(again()).unwrap(), outcomes.into_iter().map(Ack::from).collect::<Vec<_>>());
    assert_eq!(short.head_seq(), full.head_seq());
}

// ---- rejections ---------------------------------------------------------------

#[test]
fn a_rejection_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    setup(&engine);
    record(&engine, GPA_ORDER);
    record(&engine, GPA_UNLOAD);
    let cases: &[(&str, u16, &str)] = &[
        // more than remains on the order (500 left)
        (
            r#"{"gpa_unload":{"token":"u2","original_order_token":"my_gpaorder_01","amount":500.01}}"#,
            1208,
            "gpa_unload.amount",
        ),
        (
            r#"{"gpa_unload":{"token":"u3","original_order_token":"nope","amount":1}}"#,
            1201,
            "gpa_unload.original_order_token",
        ),
        (
            r#"{"gpa_order":{"token":"o2","user_token":"ghost","amount":1,"currency_code":"USD"}}"#,
            1201,
            "gpa_order.user_token",
        ),
        (
            r#"{"gpa_order":{"token":"o3","user_token":"my_user_01","amount":1,"currency_code":"USD","funding_source_token":"nope"}}"#,
            1201,
            "gpa_order.funding_source_token",
        ),
        (
            r#"{"msa_unload":{"token":"m2","original_order_token":"my_gpaorder_01","amount":1}}"#,
            1201,
            "msa_unload.original_order_token",
        ),
        (
            r#"{"fee_transfer":{"token":"ft","user_token":"my_user_01","fees":[{"token":"nofee"}]}}"#,
            1201,
            "fee_transfer.fees[0].token",
        ),
        (
            r#"{"journal_entry":{"token":"je","user_token":"my_user_01","type":"pindebit","status":"POSTED","amount":500.01,"currency_code":"USD"}}"#,
            1209,
            "journal_entry.amount",
        ),
    ];
    let head = engine.head_seq();
    let accounts = engine.state().accounts.clone();
    let holds = holds_of(&engine.state());
    for (s, code, field) in cases {
        let r = reject(&engine, s);
        assert_eq!((r.code.number(), r.field.as_str()), (*code, *field), "{s}: {}", r.message);
        assert!(r.message.contains(field), "{}", r.message);
        assert_eq!(engine.head_seq(), head, "{s}");
        assert_eq!(engine.state().head_seq, head, "{s}");
        assert_eq!(engine.state().accounts, accounts, "{s}");
        assert_eq!(holds_of(&engine.state()), holds, "{s}");
    }
    // the rejected tokens stay free
    record(&engine, r#"{"gpa_unload":{"token":"u2","original_order_token":"my_gpaorder_01","amount":500}}"#);
    engine.verify().unwrap();
}

// ---- reopen -------------------------------------------------------------------

#[test]
fn reopen_after_the_default_workload_restores_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = generate(&WorkloadConfig { days: 10, holders: 50, ..Default::default() }).collect();
    let (head, accounts, holds, report) = {
        let engine = open(dir.path());
        let answers = ingest_all(&engine, &lines, 1_000, 1);
        assert_eq!(answers.len(), lines.len());
        let recorded = answers.iter().filter(|a| a.get("seq").is_some() && a.get("duplicate").is_none()).count() as u64;
        let head = engine.head_seq();
        // one record per recorded line, plus the cycle closes a tick records before its own
        let closes =
            engine.events_from(1).filter(|e| e.as_ref().unwrap().rec.fact.event.kind() == "cycles_closed").count();
        assert_eq!(head, recorded + closes as u64);
        assert!(head > 1_000, "the workload is not trivial: {head}");
        let report = engine.verify().unwrap();
        assert_eq!(report.records, head);
        let state = engine.state();
        assert_eq!(state.head_seq, head);
        (head, state.accounts.clone(), holds_of(&state), report)
    };
    let engine = open(dir.path());
    assert_eq!(engine.head_seq(), head);
    let state = engine.state();
    assert_eq!(state.head_seq, head);
    assert_eq!(state.accounts, accounts);
    assert_eq!(holds_of(&state), holds);
    assert!(state.total().is_zero());
    drop(state);
    // the clean close wrote a snapshot, which verify now also checks
    let again = engine.verify().unwrap();
    assert_eq!(again.snapshots, report.snapshots + 1);
    assert_eq!(VerifyReport { snapshots: report.snapshots, ..again }, report);
    assert_eq!(engine.open_report().replayed, 0);
}

// ---- group commit -------------------------------------------------------------

#[test]
fn group_commit_shares_flushes_and_keeps_seqs_contiguous() {
    const THREADS: usize = 64;
    const PER_THREAD: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let (p, _) = record(&engine, r#"{"program":{"token":"gc","bank":"B","currency_code":"USD"}}"#);
    assert_eq!(p, 1);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let engine = engine.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut seqs = Vec::with_capacity(PER_THREAD);
                for i in 0..PER_THREAD {
                    let s = format!(r#"{{"program_deposit":{{"token":"d-{t}-{i}","program_token":"gc","amount":1,"currency_code":"USD"}}}}"#);
                    let out = engine.submit_batch(vec![line(&s)]).unwrap();
                    assert_eq!(out.len(), 1);
                    match &out[0] {
                        Outcome::Recorded { seq, token, .. } => {
                            assert_eq!(token, &format!("d-{t}-{i}"));
                            seqs.push(*seq);
                        }
                        other => panic!("not recorded: {other:?}"),
                    }
                }
                // one thread's own submissions are acknowledged in order
                assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
                seqs
            })
        })
        .collect();
    let mut all: Vec<u64> = vec![p];
    for h in handles {
        all.extend(h.join().unwrap());
    }
    let n = (THREADS * PER_THREAD + 1) as u64;
    let set: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(all.len() as u64, n, "one outcome per command");
    assert_eq!(set, (1..=n).collect::<BTreeSet<u64>>(), "seqs are exactly 1..={n}");
    assert_eq!(engine.head_seq(), n);
    // frames are the sled log's (on JetStream they are the stream's messages)
    if !support::on_jetstream() {
        let frames = engine.store().debug_frame_keys().unwrap().len() as u64;
        println!("group commit: {n} events in {frames} frames, {:.2} events per flush", n as f64 / frames as f64);
        assert!(frames < n, "{frames} frames for {n} events: no flush was shared");
    }
    assert_eq!(
        engine.state().balance(&Account::ProgramBank("gc".into())),
        Money::from_cents((THREADS * PER_THREAD) as i64 * 100)
    );
    engine.verify().unwrap();
}

// ---- atomic batch -------------------------------------------------------------

#[test]
fn a_batch_with_rejections_records_the_accepted_ones_contiguously() {
    let dir = tempfile::tempdir().unwrap();
    let mut accepted_tokens = Vec::new();
    let (first, last) = {
        let engine = open(dir.path());
        record(&engine, r#"{"program":{"token":"ab","bank":"B","currency_code":"USD"}}"#);
        let lines: Vec<(String, bool)> = (0..100)
            .map(|i| {
                // every seventh names an unknown program; every eleventh repeats an earlier token with another amount
                if i % 7 == 3 {
                    (format!(r#"{{"program_deposit":{{"token":"b-{i}","program_token":"nope","amount":1,"currency_code":"USD"}}}}"#), false)
                } else if i % 11 == 10 {
                    (format!(r#"{{"program_deposit":{{"token":"b-0","program_token":"ab","amount":{},"currency_code":"USD"}}}}"#, i + 2), false)
                } else {
                    (format!(r#"{{"program_deposit":{{"token":"b-{i}","program_token":"ab","amount":{},"currency_code":"USD"}}}}"#, i + 1), true)
                }
            })
            .collect();
        let out = engine.submit_batch(lines.iter().map(|(s, _)| line(s)).collect()).unwrap();
        assert_eq!(out.len(), 100);
        let mut seqs = Vec::new();
        for ((s, ok), o) in lines.iter().zip(&out) {
            match (ok, o) {
                (true, Outcome::Recorded { seq, token, .. }) => {
                    seqs.push(*seq);
                    accepted_tokens.push((*seq, token.clone()));
                }
                (false, Outcome::Rejected(r)) => assert!([1201, 1202].contains(&r.code.number()), "{r}"),
                _ => panic!("{s}: {o:?}"),
            }
        }
        assert!(seqs.len() > 50 && seqs.len() < 100);
        let first = seqs[0];
        assert_eq!(first, 2);
        assert_eq!(seqs, (first..first + seqs.len() as u64).collect::<Vec<_>>(), "accepted seqs are contiguous");
        assert_eq!(engine.head_seq(), *seqs.last().unwrap());
        (first, *seqs.last().unwrap())
    };
    let engine = open(dir.path());
    assert_eq!(engine.head_seq(), last);
    let entries: Vec<_> = engine.events_from(first).collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(entries.len(), accepted_tokens.len());
    for (e, (seq, token)) in entries.iter().zip(&accepted_tokens) {
        assert_eq!(e.rec.seq, *seq);
        assert_eq!(cardledger_domain::state::event_token(&e.rec.fact.event), Some(token.as_str()));
        assert!(engine.get("program_deposit", token).unwrap().is_some(), "{token}");
    }
    assert!(engine.get("program_deposit", "b-3").unwrap().is_none());
    let want: i64 = (0..100).filter(|i| i % 7 != 3 && i % 11 != 10).map(|i| (i + 1) * 100).sum();
    assert_eq!(engine.state().balance(&Account::ProgramBank("ab".into())), Money::from_cents(want));
    engine.verify().unwrap();
}

#[test]
fn an_oversized_batch_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let n = cardledger_domain::limits::BATCH_RECORDS_MAX + 1;
    let one = line(r#"{"program":{"token":"big","bank":"B","currency_code":"USD"}}"#);
    match engine.submit_batch(vec![one; n]) {
        Err(EngineError::BatchTooLarge { max, got }) => assert_eq!((max, got), (n - 1, n)),
        other => panic!("{:?}", other.map(|v| v.len())),
    }
    assert_eq!(engine.head_seq(), 0);
}

/// A tick inside a full batch writes more records than commands: the
/// commands whose records no longer fit the batch's one append are refused
/// (1217) unwritten, everything before them is recorded, nothing poisons
/// the engine, and the store reopens and verifies.
#[test]
fn a_batch_whose_records_outgrow_one_append_refuses_its_tail_unwritten() {
    use cardledger_domain::limits::{BATCH_RECORDS_MAX, CYCLE_CLOSES_PER_EVENT_MAX};
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    record(&engine, r#"{"time":"2020-01-01T12:00:00Z","program":{"token":"p","bank":"B","currency_code":"USD"}}"#);
    record(&engine, r#"{"time":"2020-01-01T12:00:01Z","user":{"token":"u","program_token":"p"}}"#);
    // two close events' worth of accounts: the tick writes three records
    let accounts = 2 * CYCLE_CLOSES_PER_EVENT_MAX;
    let setup: Vec<CommandLine> = (0..accounts)
        .map(|i| line(&format!(r#"{{"time":"2020-01-01T12:00:02Z","credit_account":{{"token":"ca{i:03}","user_token":"u","program_token":"p","credit_limit":1000,"apr":"19.99"}}}}"#)))
        .collect();
    engine.submit_batch(setup).unwrap();
    let before = engine.head_seq();
    let mut batch = vec![line(r#"{"time":"2020-02-03T00:00:00Z","tick":{"now":"2020-02-03T00:00:00Z"}}"#)];
    batch.extend(
        (1..BATCH_RECORDS_MAX).map(|i| {
            line(&format!(r#"{{"time":"2020-02-03T00:00:01Z","user":{{"token":"x{i}","program_token":"p"}}}}"#))
        }),
    );
    let out = engine.submit_batch(batch).unwrap();
    assert_eq!(out.len(), BATCH_RECORDS_MAX);
    let refused: Vec<usize> = out
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            Outcome::Rejected(r) => {
                assert_eq!(r.code, Code::BatchFull, "{r}");
                assert_eq!(r.field, "user");
                Some(i)
            }
            _ => None,
        })
        .collect();
    // three records for the tick: the last two users do not fit
    assert_eq!(refused, vec![BATCH_RECORDS_MAX - 2, BATCH_RECORDS_MAX - 1]);
    assert_eq!(engine.head_seq(), before + BATCH_RECORDS_MAX as u64);
    // the engine goes on, and the refused commands are accepted afterwards
    let again = vec![
        line(&format!(
            r#"{{"time":"2020-02-03T00:00:02Z","user":{{"token":"x{}","program_token":"p"}}}}"#,
            BATCH_RECORDS_MAX - 2
        )),
        line(&format!(
            r#"{{"time":"2020-02-03T00:00:02Z","user":{{"token":"x{}","program_token":"p"}}}}"#,
            BATCH_RECORDS_MAX - 1
        )),
    ];
    for o in engine.submit_batch(again).unwrap() {
        assert!(matches!(o, Outcome::Recorded { .. }), "{o:?}");
    }
    let head = engine.head_seq();
    drop(engine);
    let engine = open(dir.path());
    assert_eq!(engine.head_seq(), head);
    engine.verify().unwrap();
}

// ---- point in time --------------------------------------------------------------

#[test]
fn state_as_of_equals_the_state_seen_at_acknowledgement() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    setup(&engine);
    let me = user("my_user_01");
    let mut seen: Vec<(u64, Money, AccountMap)> = Vec::new();
    let mut note = |engine: &Engine, seq: u64| {
        let s = engine.state();
        assert_eq!(s.head_seq, seq);
        seen.push((seq, s.gpa_balances(&me).ledger_balance, s.accounts.clone()));
    };
    note(&engine, 5);
    for i in 0..12 {
        let (seq, _) = record(
            &engine,
            &format!(
                r#"{{"gpa_order":{{"token":"o{i}","user_token":"my_user_01","amount":{},"currency_code":"USD"}}}}"#,
                10 * (i + 1)
            ),
        );
        note(&engine, seq);
        if i % 3 == 2 {
            let (seq, _) = record(
                &engine,
                &format!(
                    r#"{{"gpa_unload":{{"token":"u{i}","original_order_token":"o{i}","amount":{}}}}}"#,
                    5 * (i + 1)
                ),
            );
            note(&engine, seq);
        }
    }
    let head = engine.head_seq();
    assert_eq!(seen.last().unwrap().0, head);
    for (seq, gpa, accounts) in &seen {
        let then = engine.state_as_of(*seq).unwrap();
        assert_eq!(then.head_seq, *seq);
        assert_eq!(then.gpa_balances(&me).ledger_balance, *gpa, "GPA as of {seq}");
        assert_eq!(&then.accounts, accounts, "accounts as of {seq}");
    }
    // beyond the head is the head; 0 is the empty ledger
    assert_eq!(engine.state_as_of(head + 100).unwrap().accounts, engine.state().accounts);
    assert!(engine.state_as_of(0).unwrap().accounts.is_empty());
    assert_eq!(seen[1].1, Money::from_cents(1_000));
}

// ---- corruption -----------------------------------------------------------------

#[test]
fn verify_names_the_corrupted_seq() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_sled(dir.path());
    let lines: Vec<String> = generate(&WorkloadConfig { days: 2, holders: 10, ..Default::default() }).collect();
    ingest_all(&engine, &lines, 100, 1);
    let head = engine.head_seq();
    assert!(head > 50, "{head}");
    let frames = engine.store().debug_frame_keys().unwrap();
    let mut targets: BTreeSet<u64> = [1, head / 2, head].into_iter().collect();
    targets.insert(frames[frames.len() / 2]); // the first record of a frame
    engine.verify().unwrap();
    // 21: the first payload byte; 9: inside time_micros; last: the crc itself
    for seq in targets {
        for offset in [21usize, 9, 0] {
            engine.store().debug_corrupt_record(seq, offset, 0xFF).unwrap();
            match engine.verify() {
                Err(EngineError::Store(StoreError::Corrupt { seq: bad, reason })) => {
                    assert_eq!(bad, seq, "corrupt byte {offset} of seq {seq}: {reason}")
                }
                other => panic!("corrupt byte {offset} of seq {seq}: verify answered {other:?}"),
            }
            // reading through the damage stops at the bad record
            let read: Vec<_> = engine.events_from(1).collect();
            let good = read.iter().take_while(|r| r.is_ok()).count() as u64;
            assert!(good < seq, "read {good} good records past the damage at {seq}");
            engine.store().debug_corrupt_record(seq, offset, 0xFF).unwrap();
            engine.verify().unwrap();
        }
    }
}

// ---- the event feed ------------------------------------------------------------

#[test]
fn events_from_and_subscribe() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let lines: Vec<String> = generate_bulk(11, 600).collect();
    ingest_all(&engine, &lines, 200, 1);
    let head = engine.head_seq();
    assert!(head > 100);
    let all: Vec<_> = engine.events_from(1).collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(all.len() as u64, head);
    assert_eq!(engine.events_from(0).count() as u64, head);
    // folding the log in order gives the live state
    let mut fresh = Ledger::default();
    for e in &all {
        fresh.apply(&e.rec);
    }
    assert_eq!(snapshot(&fresh), snapshot(&engine.state()));
    for k in [1, 2, head / 3, head - 1, head, head + 1] {
        let got: Vec<_> = engine.events_from(k).collect::<Result<Vec<_>, _>>().unwrap();
        assert_eq!(got.len() as u64, (head + 1).saturating_sub(k), "events_from({k})");
        for (i, e) in got.iter().enumerate() {
            assert_eq!(e.rec.seq, k + i as u64);
            assert_eq!(e, &all[(k - 1) as usize + i]);
        }
        if k <= head {
            assert_eq!(engine.event(k).unwrap().as_ref(), Some(&all[(k - 1) as usize]));
        }
    }
    assert_eq!(engine.event(0).unwrap(), None);
    assert_eq!(engine.event(head + 1).unwrap(), None);
    assert_eq!(all.last().unwrap().hash, engine.store().head().hash);

    // nothing appended: wait_beyond times out at the head
    let sub = engine.subscribe();
    assert_eq!(sub.wait_beyond(head, Duration::from_millis(20)).seq, head);
    // another thread appends: wait_beyond returns the new head
    let writer = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            record(&engine, r#"{"program":{"token":"late","bank":"B","currency_code":"USD"}}"#).0
        })
    };
    let seen = sub.wait_beyond(head, Duration::from_secs(30));
    let seq = writer.join().unwrap();
    assert_eq!(seq, head + 1);
    assert_eq!(seen.seq, head + 1);
    assert_eq!(engine.events_from(head + 1).count(), 1);
}

// ---- random ingest / reopen interleavings ------------------------------------

#[derive(Clone, Debug)]
enum Step {
    Ingest(usize),
    Reopen,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(prop_oneof![3 => (1usize..400).prop_map(Step::Ingest), 1 => Just(Step::Reopen)], 1..10)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_ingest_and_reopen_equal_one_fresh_replay(seed in 0u64..1_000, plan in steps()) {
        let total: usize = plan.iter().map(|s| match s { Step::Ingest(n) => *n, Step::Reopen => 0 }).sum();
        let lines: Vec<String> = generate_bulk(seed, total as u64).collect();
        let dir = tempfile::tempdir().unwrap();
        let mut engine = open(dir.path());
        let mut at = 0usize;
        for s in &plan {
            match s {
                Step::Ingest(n) => {
                    ingest_all(&engine, &lines[at..at + n], *n, at as u64 + 1);
                    at += n;
                }
                Step::Reopen => {
                    let head = engine.head_seq();
                    drop(engine);
                    engine = open(dir.path());
                    prop_assert_eq!(engine.head_seq(), head);
                }
            }
        }
        let head = engine.head_seq();
        prop_assert_eq!(head, total as u64);
        let replay = engine.state_as_of(head).unwrap();
        prop_assert_eq!(snapshot(&replay), snapshot(&engine.state()));
        prop_assert!(engine.state().total().is_zero());
        engine.verify().unwrap();
        // and the same lines ingested at once into another directory
        let other_dir = tempfile::tempdir().unwrap();
        let other = open(other_dir.path());
        ingest_all(&other, &lines, lines.len(), 1);
        prop_assert_eq!(snapshot(&other.state()), snapshot(&engine.state()));
        // the same records (the head hashes differ when the groups did: the
        // chain covers frame boundaries)
        let records = |e: &Engine| -> Vec<(u64, i64, Vec<u8>)> {
            e.store().read_from(1).map(|r| r.map(|r| (r.seq, r.time_micros, r.payload)).unwrap()).collect()
        };
        prop_assert_eq!(records(&other), records(&engine));
    }
}

#[test]
fn a_missing_frame_is_named_by_verify_and_by_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = generate_bulk(3, 300).collect();
    let (first, last) = {
        let engine = open_sled(dir.path());
        // chunks of 50 give frames of 50 records
        ingest_all(&engine, &lines, 50, 1);
        assert_eq!(engine.head_seq(), 300);
        let frames = engine.store().debug_frame_keys().unwrap();
        assert!(frames.len() >= 3, "{frames:?}");
        let (first, last) = engine.store().debug_delete_frame(frames[frames.len() / 2]).unwrap();
        assert!(first > 1 && last < 300, "{first}..={last}");
        match engine.verify() {
            Err(EngineError::Store(StoreError::Corrupt { seq, reason })) => assert_eq!(seq, first, "{reason}"),
            other => panic!("verify answered {other:?}"),
        }
        let good = engine.events_from(1).take_while(|e| e.is_ok()).count() as u64;
        assert_eq!(good, first - 1);
        (first, last)
    };
    // the clean close snapshotted the head: the reopen loads it and reads
    // only the snapshot's frame, so it opens; verify names the gap
    {
        let engine = open_sled(dir.path());
        assert_eq!(engine.open_report().replayed, 0);
        match engine.verify() {
            Err(EngineError::Store(StoreError::Corrupt { seq, reason })) => assert_eq!(seq, first, "{reason}"),
            other => panic!("verify answered {other:?}"),
        }
        for seq in engine.store().snapshot_seqs().unwrap() {
            engine.store().delete_snapshot(seq).unwrap();
        }
    }
    // without a snapshot the reopen replays the log and names the gap
    match Engine::open(dir.path()) {
        Err(EngineError::Store(StoreError::Corrupt { seq, reason })) => {
            assert_eq!(seq, first, "{reason} ({first}..={last})")
        }
        Err(other) => panic!("reopen answered {other:?}"),
        Ok(_) => panic!("reopen accepted a log with seqs {first}..={last} missing"),
    }
}

/// Under sustained load from other threads, every submitter still gets its
/// answer: leadership of the group commit is handed off after each group,
/// so no caller leads forever.
#[test]
fn no_submitter_is_stuck_leading_under_sustained_load() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    record(&engine, r#"{"program":{"token":"ld","bank":"B","currency_code":"USD"}}"#);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spammers: Vec<_> = (0..8)
        .map(|t| {
            let (engine, stop) = (engine.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let s = format!(r#"{{"program_deposit":{{"token":"s-{t}-{i}","program_token":"ld","amount":1,"currency_code":"USD"}}}}"#);
                    engine.submit(line(&s)).unwrap();
                    i += 1;
                }
                i
            })
        })
        .collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let probe = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            for i in 0..50 {
                let s = format!(
                    r#"{{"program_deposit":{{"token":"probe-{i}","program_token":"ld","amount":1,"currency_code":"USD"}}}}"#
                );
                let out = engine.submit(line(&s)).unwrap();
                assert!(matches!(out, Outcome::Recorded { .. }));
            }
            tx.send(()).unwrap();
        })
    };
    let answered = rx.recv_timeout(Duration::from_secs(60));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let spammed: u64 = spammers.into_iter().map(|h| h.join().unwrap()).sum();
    probe.join().unwrap();
    assert!(answered.is_ok(), "the probe's 50 submissions were not all answered while others kept submitting");
    assert_eq!(engine.head_seq(), 1 + 50 + spammed);
    assert!(engine.verify().is_ok());
}
