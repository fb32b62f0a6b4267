//! Concurrency: 8 writer threads and 4 reader threads on one engine for a
//! bounded time (docs/reliability.md §4). Writers submit batches through the
//! engine for disjoint holders, plus commands with shared tokens that
//! several writers submit (exactly one is recorded, the rest are
//! duplicates). Every batch opens with a GPA order to its writer's marker
//! holder and closes with an unload of it, so any reader that saw part of a
//! batch would see a marker balance that is not zero.
//!
//! Readers: live state (conservation, markers), the `balances` read,
//! a subscription that folds the log as it grows, and `events_from` /
//! `state_as_of`. Duration: `CARDLEDGER_CONCURRENCY_SECS` (3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardledger_core::engine::{Ack, Engine, Outcome};
use cardledger_domain::command::Holder;
use cardledger_domain::event::{Account, Recorded};
use cardledger_domain::state::Ledger;
use cardledger_domain::wire::parse_line;

const WRITERS: usize = 8;
const USERS_PER_WRITER: usize = 4;
const SHARED_TOKENS: u64 = 40;

fn line(json: &str) -> cardledger_domain::command::CommandLine {
    parse_line(json).unwrap_or_else(|r| panic!("{json}: {r}"))
}

fn order(token: &str, user: &str, cents: u64) -> String {
    format!(
        r#"{{"time":"2024-01-02T00:00:00Z","gpa_order":{{"token":"{token}","user_token":"{user}","amount":"{}.{:02}","currency_code":"USD","funding_source_token":"fs"}}}}"#,
        cents / 100,
        cents % 100
    )
}

fn unload(token: &str, order: &str, cents: u64) -> String {
    format!(
        r#"{{"time":"2024-01-02T00:00:00Z","gpa_unload":{{"token":"{token}","original_order_token":"{order}","amount":"{}.{:02}"}}}}"#,
        cents / 100,
        cents % 100
    )
}

fn markers() -> Vec<Holder> {
    (0..WRITERS).map(|w| Holder::User(format!("mark{w}").into())).collect()
}

/// Conservation and whole batches, on any state a reader observes.
fn check_state(state: &Ledger, who: &str) {
    assert!(state.total().is_zero(), "{who}: accounts sum to {:?} at seq {}", state.total(), state.head_seq);
    for m in markers() {
        let b = state.balance(&Account::Gpa(m.clone()));
        assert!(b.is_zero(), "{who}: marker {m:?} at {b:?} at seq {}: a partial batch is visible", state.head_seq);
    }
}

#[test]
fn writers_and_readers_together_lose_nothing_and_see_whole_batches() {
    let secs = std::env::var("CARDLEDGER_CONCURRENCY_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3u64);
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    let mut setup = vec![
        line(
            r#"{"time":"2024-01-01T00:00:00Z","program":{"token":"p","bank":"B","currency_code":"USD","opening_bank_balance":"900000000.00"}}"#,
        ),
        line(
            r#"{"time":"2024-01-01T00:00:00Z","funding_source":{"token":"fs","program_token":"p","type":"program","is_default_account":true,"active":true,"name":"fs"}}"#,
        ),
        line(r#"{"time":"2024-01-01T00:00:00Z","user":{"token":"shared","program_token":"p"}}"#),
    ];
    for w in 0..WRITERS {
        setup.push(line(&format!(
            r#"{{"time":"2024-01-01T00:00:00Z","user":{{"token":"mark{w}","program_token":"p"}}}}"#
        )));
        for u in 0..USERS_PER_WRITER {
            setup.push(line(&format!(
                r#"{{"time":"2024-01-01T00:00:00Z","user":{{"token":"w{w}u{u}","program_token":"p"}}}}"#
            )));
        }
    }
    let setup_n = setup.len() as u64;
    for o in engine.submit_batch(setup).unwrap() {
        assert!(matches!(o, Outcome::Recorded { .. }), "{o:?}");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let observations = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                let mut recorded: Vec<(u64, String)> = Vec::new();
                let mut duplicates: Vec<(u64, String)> = Vec::new();
                let mut rng = 0x9E37_79B9u64.wrapping_mul(w as u64 + 1);
                let mut next = || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let mut batch = Vec::new();
                    let marker_cents = 1 + next() % 50_000;
                    let m = i;
                    batch.push(order(&format!("w{w}m{m}"), &format!("mark{w}"), marker_cents));
                    for _ in 0..next() % 12 {
                        i += 1;
                        let user = format!("w{w}u{}", next() % USERS_PER_WRITER as u64);
                        batch.push(order(&format!("w{w}o{i}"), &user, 1 + next() % 99_999));
                    }
                    if next() % 3 == 0 {
                        // the same command, token and payload from several writers
                        let j = next() % SHARED_TOKENS;
                        batch.push(order(&format!("shared{j}"), "shared", 100 + j));
                    }
                    batch.push(unload(&format!("w{w}x{m}"), &format!("w{w}m{m}"), marker_cents));
                    i += 1;
                    let lines: Vec<_> = batch.iter().map(|l| line(l)).collect();
                    for o in engine.submit_batch(lines).unwrap_or_else(|e| panic!("writer {w}: {e}")) {
                        match o {
                            Outcome::Recorded { seq, token, .. } => recorded.push((seq, token)),
                            Outcome::Duplicate { seq, token, .. } => duplicates.push((seq, token)),
                            Outcome::Rejected(r) => panic!("writer {w}: rejected: {r}"),
                        }
                    }
                }
                (recorded, duplicates)
            })
        })
        .collect();

    let mut readers = Vec::new();
    {
        // 1: the live state
        let (engine, stop, obs) = (engine.clone(), stop.clone(), observations.clone());
        readers.push(std::thread::spawn(move || {
            let mut last = 0;
            while !stop.load(Ordering::Relaxed) {
                let state = engine.state();
                check_state(&state, "state()");
                // groups are decided while the one before flushes: a reader waits for it
                let durable = engine.head_seq();
                assert!(
                    state.head_seq <= durable,
                    "state() at seq {} before it is durable ({durable})",
                    state.head_seq
                );
                assert!(state.head_seq >= last, "the state went back");
                last = state.head_seq;
                drop(state);
                obs.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    {
        // 2: the balances read of every marker
        let (engine, stop, obs) = (engine.clone(), stop.clone(), observations.clone());
        readers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for m in markers() {
                    let v = engine.balances(&m).unwrap();
                    assert_eq!(v["gpa"]["ledger_balance"], 0, "balances({m:?}) shows a partial batch: {v}");
                    assert_eq!(v["gpa"]["available_balance"], 0, "balances({m:?}): {v}");
                }
                obs.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    {
        // 3: a subscription folding the log as it grows
        let (engine, stop, obs) = (engine.clone(), stop.clone(), observations.clone());
        readers.push(std::thread::spawn(move || {
            let sub = engine.subscribe();
            let mut folded = Ledger::default();
            while !stop.load(Ordering::Relaxed) {
                let head = sub.wait_beyond(folded.head_seq, Duration::from_millis(20));
                for e in engine.events_from(folded.head_seq + 1) {
                    let rec: Recorded = e.unwrap().rec;
                    assert_eq!(rec.seq, folded.head_seq + 1, "subscription: seqs are contiguous");
                    folded.apply(&rec);
                    if rec.seq == head.seq {
                        break;
                    }
                }
                assert!(folded.head_seq >= head.seq, "subscription: the head {} is readable", head.seq);
                check_state(&folded, "subscription");
                obs.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    {
        // 4: state_as_of at the durable head and events_from
        let (engine, stop, obs) = (engine.clone(), stop.clone(), observations.clone());
        readers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let head = engine.head_seq();
                let past = engine.state_as_of(head).unwrap();
                assert_eq!(past.head_seq, head, "state_as_of reaches the durable head");
                check_state(&past, "state_as_of");
                let mut n = 0u64;
                for e in engine.events_from(head.saturating_sub(50).max(1)) {
                    e.unwrap();
                    n += 1;
                }
                assert!(n >= head.min(51), "events_from reads up to the head ({n})");
                obs.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let mut recorded = Vec::new();
    let mut duplicates = Vec::new();
    for w in writers {
        let (r, d) = w.join().expect("a writer failed");
        recorded.extend(r);
        duplicates.extend(d);
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("a reader failed");
    }

    // the log is exactly the setup plus the union of acknowledgements, each once
    let mut log: BTreeMap<u64, String> = BTreeMap::new();
    let mut by_token: HashMap<String, u64> = HashMap::new();
    for (expect, e) in (1u64..).zip(engine.events_from(1)) {
        let e = e.unwrap();
        assert_eq!(e.rec.seq, expect, "contiguous");
        let body = cardledger_domain::response::event_body(&e.rec.fact.event);
        let token = body["token"].as_str().unwrap_or_default().to_string();
        assert!(by_token.insert(token.clone(), e.rec.seq).is_none(), "token {token} recorded twice");
        log.insert(e.rec.seq, token);
    }
    assert_eq!(log.len() as u64, setup_n + recorded.len() as u64, "no lost and no extra event");
    for (seq, token) in &recorded {
        assert_eq!(log.get(seq), Some(token), "acknowledged seq {seq} holds {token}");
    }
    for (seq, token) in &duplicates {
        assert!(token.starts_with("shared"), "only shared tokens are duplicates: {token}");
        assert_eq!(by_token.get(token), Some(seq), "duplicate {token} answers the original seq");
    }
    let report = engine.verify().unwrap();
    assert_eq!(report.records, log.len() as u64);
    check_state(&engine.state(), "final");
    let obs = observations.load(Ordering::Relaxed);
    eprintln!(
        "concurrency: {secs}s, {WRITERS} writers, 4 readers: {} events recorded, {} duplicates answered, {obs} reader observations",
        recorded.len(),
        duplicates.len()
    );
    assert!(!duplicates.is_empty(), "shared tokens were submitted more than once");
    assert!(obs > 8, "the readers ran ({obs} observations)");
}

/// An engine with a program, a funding source and one holder, `u`.
fn small_engine(dir: &std::path::Path) -> Engine {
    let engine = Engine::open(dir).unwrap();
    let setup = vec![
        line(
            r#"{"time":"2024-01-01T00:00:00Z","program":{"token":"p","bank":"B","currency_code":"USD","opening_bank_balance":"900000000.00"}}"#,
        ),
        line(
            r#"{"time":"2024-01-01T00:00:00Z","funding_source":{"token":"fs","program_token":"p","type":"program","is_default_account":true,"active":true,"name":"fs"}}"#,
        ),
        line(r#"{"time":"2024-01-01T00:00:00Z","user":{"token":"u","program_token":"p"}}"#),
    ];
    for o in engine.submit_batch(setup).unwrap() {
        assert!(matches!(o, Outcome::Recorded { .. }), "{o:?}");
    }
    engine
}

/// Submits order `token` on its own thread (it waits for its answer).
fn submit_order(
    engine: &Engine,
    token: &str,
) -> std::thread::JoinHandle<Result<Outcome, cardledger_core::engine::EngineError>> {
    let (engine, l) = (engine.clone(), line(&order(token, "u", 100)));
    std::thread::spawn(move || engine.submit(l))
}

/// Group A's flush held at the store, group B decided and written behind it
/// (the next leader decides while the last flushes): waits until B is written.
fn two_groups_in_flight(
    engine: &Engine,
) -> (
    cardledger_core::store::FlushHold,
    [std::thread::JoinHandle<Result<Outcome, cardledger_core::engine::EngineError>>; 2],
) {
    let base = engine.head_seq();
    let hold = engine.store().debug_hold_flush();
    let a = submit_order(engine, "a");
    assert!(hold.wait_held(Duration::from_secs(30)), "group A reaches its flush");
    let b = submit_order(engine, "b");
    let deadline = Instant::now() + Duration::from_secs(30);
    while engine.store().written_head().seq < base + 2 {
        assert!(Instant::now() < deadline, "group B is written behind A's flush");
        std::thread::yield_now();
    }
    assert_eq!(engine.head_seq(), base, "neither group is durable yet");
    (hold, [a, b])
}

#[test]
fn a_reader_waits_for_the_flush_of_a_group_decided_behind_another() {
    let dir = tempfile::tempdir().unwrap();
    let engine = small_engine(dir.path());
    let base = engine.head_seq();
    let (hold, [a, b]) = two_groups_in_flight(&engine);
    let reader = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            let state = engine.state();
            (state.head_seq, engine.head_seq())
        })
    };
    // let the reader reach the state while both groups are unflushed
    std::thread::sleep(Duration::from_millis(100));
    drop(hold);
    let (seen, durable) = reader.join().unwrap();
    assert!(seen <= durable, "the reader saw seq {seen} while the durable head was {durable}");
    assert!(matches!(a.join().unwrap(), Ok(Outcome::Recorded { seq, .. }) if seq == base + 1));
    assert!(matches!(b.join().unwrap(), Ok(Outcome::Recorded { seq, .. }) if seq == base + 2));
    assert_eq!(engine.state().head_seq, base + 2);
    assert_eq!(engine.head_seq(), base + 2);
}

#[test]
fn a_failed_flush_fails_the_group_decided_behind_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let engine = small_engine(dir.path());
    let (hold, [a, b]) = two_groups_in_flight(&engine);
    // B's own flush has its bytes on disk, but it was decided on A's events
    hold.fail("injected flush failure");
    let a = a.join().unwrap();
    let b = b.join().unwrap();
    assert!(a.is_err(), "group A's failed flush is not acknowledged: {a:?}");
    assert!(b.is_err(), "group B, decided on A's events, is not acknowledged: {b:?}");
    assert!(engine.submit(line(&order("c", "u", 100))).is_err(), "the engine stops after a failed flush");
}

/// A group holding a bulk loader's request (acks only) and, behind it, a
/// request answered with responses that repeats the loader's command: the
/// duplicate is answered with the original's response, found among the
/// group's own events (a group keeps its events when any of its requests
/// renders; a group of acks only drops each once applied).
#[test]
fn a_duplicate_of_an_acks_only_command_in_the_same_group_gets_its_response() {
    let dir = tempfile::tempdir().unwrap();
    let engine = small_engine(dir.path());
    let base = engine.head_seq();
    // while a reader holds the state, the leader of order `a` waits for the
    // write lock; the two requests behind it queue up, to form the next group
    let reader = engine.state();
    let a = submit_order(&engine, "a");
    std::thread::sleep(Duration::from_millis(100));
    let acks = {
        let (engine, l) = (engine.clone(), line(&order("c", "u", 100)));
        std::thread::spawn(move || engine.submit_batch_acks(vec![l]))
    };
    std::thread::sleep(Duration::from_millis(100));
    let render = {
        let (engine, l) = (engine.clone(), line(&order("c", "u", 100)));
        std::thread::spawn(move || engine.submit(l))
    };
    std::thread::sleep(Duration::from_millis(100));
    drop(reader);
    assert!(matches!(a.join().unwrap(), Ok(Outcome::Recorded { seq, .. }) if seq == base + 1));
    let acks = acks.join().unwrap().unwrap();
    assert!(matches!(acks[..], [Ack::Recorded(seq)] if seq == base + 2), "{acks:?}");
    match render.join().unwrap() {
        Ok(Outcome::Duplicate { seq, response: Some(_), .. }) => assert_eq!(seq, base + 2),
        other => panic!("the repeated order is not answered as a duplicate with its response: {other:?}"),
    }
    assert_eq!(engine.head_seq(), base + 2);
}
