//! The projection runner with `EventCounts`: catch-up equals a fresh fold,
//! checkpoints survive reopen, a checkpoint beyond the head (or one that
//! does not decode) is ignored, and `follow` picks up another thread's
//! appends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::time::Duration;

use cardledger_core::engine::Engine;
use cardledger_core::ingest::ingest_chunk;
use cardledger_core::projection::{EventCounts, Projection, Runner};
use cardledger_domain::event::Account;
use cardledger_workload::generate_bulk;

mod support;

/// Ingests `lines` (numbered from `first_line`) in chunks of 500; every
/// line must be recorded.
fn ingest(engine: &Engine, lines: &[String], first_line: u64) {
    let mut k = first_line;
    for c in lines.chunks(500) {
        for a in ingest_chunk(engine, c, k).unwrap() {
            assert!(a.get("seq").is_some(), "{a}");
        }
        k += c.len() as u64;
    }
}

/// The obviously correct answer: fold every event of the log from scratch.
fn fresh_fold(engine: &Engine) -> EventCounts {
    let mut p = EventCounts::default();
    for e in engine.events_from(1) {
        p.apply(&e.unwrap().rec);
    }
    p
}

/// Cross-checks a fold against the engine's own state: one event per seq,
/// and the GPA net equals the sum of every GPA balance.
fn check_against_state(p: &EventCounts, engine: &Engine) {
    let state = engine.state();
    assert_eq!(p.by_kind.values().sum::<u64>(), state.head_seq);
    let gpa: i64 = state.balances().filter(|(a, _)| matches!(a, Account::Gpa(_))).map(|(_, m)| m.cents()).sum();
    assert_eq!(p.gpa_net_cents, gpa);
}

#[test]
fn catch_up_checkpoint_reopen_and_continue() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = generate_bulk(5, 3_000).collect();
    let (first, rest) = lines.split_at(1_800);
    let checkpointed = {
        let engine = support::open(dir.path());
        ingest(&engine, first, 1);
        let mut runner = Runner::open(&engine, EventCounts::default()).unwrap();
        assert_eq!(runner.applied_seq(), 0);
        assert_eq!(runner.catch_up().unwrap(), engine.head_seq());
        assert_eq!(runner.applied_seq(), 1_800);
        assert_eq!(runner.state(), &fresh_fold(&engine));
        check_against_state(runner.state(), &engine);
        assert!(runner.state().gpa_net_cents > 0);
        // catching up again changes nothing
        assert_eq!(runner.catch_up().unwrap(), 1_800);
        assert_eq!(runner.state(), &fresh_fold(&engine));
        runner.checkpoint().unwrap();
        runner.state().clone()
    };
    // everything dropped; reopen
    let engine = support::open(dir.path());
    let mut runner = Runner::open(&engine, EventCounts::default()).unwrap();
    assert_eq!(runner.applied_seq(), 1_800, "starts at the checkpoint");
    assert_eq!(runner.state(), &checkpointed);
    ingest(&engine, rest, 1_801);
    assert_eq!(runner.applied_seq(), 1_800, "nothing applied before catch_up");
    assert_eq!(runner.catch_up().unwrap(), 3_000);
    assert_eq!(runner.state(), &fresh_fold(&engine));
    check_against_state(runner.state(), &engine);
    assert_ne!(runner.state(), &checkpointed);
}

#[test]
fn automatic_checkpoints_every_n_events() {
    let dir = tempfile::tempdir().unwrap();
    let engine = support::open(dir.path());
    ingest(&engine, &generate_bulk(6, 1_050).collect::<Vec<_>>(), 1);
    let mut runner = Runner::open(&engine, EventCounts::default()).unwrap().checkpoint_every(100);
    runner.catch_up().unwrap();
    let (seq, bytes) = engine.store().load_checkpoint(EventCounts::NAME).unwrap().unwrap();
    assert_eq!(seq, 1_000, "the last automatic checkpoint");
    let restored = EventCounts::decode(&bytes).unwrap();
    assert_eq!(restored, EventCounts::decode(&restored.encode()).unwrap());
    // a runner reopened there ends at the same state
    let mut again = Runner::open(&engine, EventCounts::default()).unwrap();
    assert_eq!(again.applied_seq(), 1_000);
    assert_eq!(again.state(), &restored);
    again.catch_up().unwrap();
    assert_eq!(again.state(), runner.state());
}

#[test]
fn a_checkpoint_beyond_the_head_or_undecodable_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let engine = support::open(dir.path());
    ingest(&engine, &generate_bulk(7, 400).collect::<Vec<_>>(), 1);
    let head = engine.head_seq();
    let want = fresh_fold(&engine);

    // a checkpoint claiming seq head + 1 (a log cut short), with a state that decodes
    let mut bogus = EventCounts::default();
    bogus.by_kind.insert("gpa_ordered".into(), 999_999);
    bogus.gpa_net_cents = 123;
    engine.store().save_checkpoint(EventCounts::NAME, head + 1, &bogus.encode()).unwrap();
    let mut runner = Runner::open(&engine, EventCounts::default()).unwrap();
    assert_eq!(runner.applied_seq(), 0);
    assert_eq!(runner.state(), &EventCounts::default());
    assert_eq!(runner.catch_up().unwrap(), head);
    assert_eq!(runner.state(), &want);

    // exactly at the head it is trusted
    engine.store().save_checkpoint(EventCounts::NAME, head, &bogus.encode()).unwrap();
    let runner = Runner::open(&engine, EventCounts::default()).unwrap();
    assert_eq!((runner.applied_seq(), runner.state()), (head, &bogus));

    // bytes that do not decode: rebuild from the start
    engine.store().save_checkpoint(EventCounts::NAME, head, b"not a number\nx").unwrap();
    let mut runner = Runner::open(&engine, EventCounts::default()).unwrap();
    assert_eq!(runner.applied_seq(), 0);
    runner.catch_up().unwrap();
    assert_eq!(runner.state(), &want);
}

#[test]
fn follow_picks_up_appends_from_another_thread() {
    let dir = tempfile::tempdir().unwrap();
    let engine = support::open(dir.path());
    let lines: Vec<String> = generate_bulk(8, 900).collect();
    ingest(&engine, &lines[..300], 1);
    let mut runner = Runner::open(&engine, EventCounts::default()).unwrap();
    assert_eq!(runner.catch_up().unwrap(), 300);
    // nothing new: follow returns at the same position after its timeout
    assert_eq!(runner.follow(Duration::from_millis(10)).unwrap(), 300);

    let writer = {
        let engine = engine.clone();
        let rest: Vec<String> = lines[300..].to_vec();
        std::thread::spawn(move || {
            for (i, c) in rest.chunks(50).enumerate() {
                std::thread::sleep(Duration::from_millis(2));
                for a in ingest_chunk(&engine, c, 301 + 50 * i as u64).unwrap() {
                    assert!(a.get("seq").is_some(), "{a}");
                }
            }
        })
    };
    let mut positions = vec![runner.applied_seq()];
    for _ in 0..10_000 {
        let at = runner.follow(Duration::from_secs(30)).unwrap();
        positions.push(at);
        if at == 900 {
            break;
        }
    }
    writer.join().unwrap();
    assert_eq!(runner.applied_seq(), 900, "positions: {positions:?}");
    assert!(positions.windows(2).all(|w| w[0] <= w[1]), "{positions:?}");
    assert_eq!(runner.state(), &fresh_fold(&engine));
    check_against_state(runner.state(), &engine);
}
