//! Snapshots: a reopen loads the newest valid snapshot and replays only the
//! tail; a damaged snapshot is caught by `verify` and ignored by `open`
//! (older snapshot or genesis); and a property test: random command
//! streams with random snapshot points and random reopens answer exactly
//! like one uninterrupted run, with the same state digest and reads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger_core::engine::{Engine, EngineError, OpenOptions};
use cardledger_core::ingest::ingest_chunk;
use cardledger_core::store::{Store, StoreError};
use cardledger_domain::command::Holder;
use cardledger_domain::limits;
use cardledger_workload::{generate, WorkloadConfig};
use proptest::prelude::*;
use serde_json::{json, Value};

fn lines(seed: u64, days: u32) -> Vec<String> {
    generate(&WorkloadConfig { seed, days, holders: 5, credit_accounts: 2, ..WorkloadConfig::default() }).collect()
}

/// Everything a client can observe of an engine, besides answers.
fn observe(engine: &Engine) -> Value {
    let report = engine.verify().unwrap();
    let tokens: Vec<(String, String)> = {
        // the whole token index (the live one holds only what is not yet cold)
        let s = engine.state_as_of(engine.head_seq()).unwrap();
        let mut v: Vec<(String, String)> = ["gpa_order", "msa_order", "gpa_unload", "journal_entry"]
            .iter()
            .flat_map(|k| s.tokens_of(k).into_iter().map(move |(t, _)| (k.to_string(), t)))
            .collect();
        v.sort();
        v.truncate(40);
        v
    };
    let gets: Vec<Value> = tokens.iter().map(|(k, t)| engine.get(k, t).unwrap().unwrap()).collect();
    let holders: Vec<Holder> = {
        let s = engine.state();
        let mut h: Vec<Holder> = s.holders.keys().cloned().collect();
        h.sort();
        h
    };
    let balances: Vec<Value> = holders.iter().map(|h| engine.balances(h).unwrap()).collect();
    let lists: Vec<Value> = ["gpa_unloads", "msa_unloads"]
        .iter()
        .map(|k| engine.list(k, &[("count".into(), "100".into())]).unwrap())
        .collect();
    // the records themselves (the head hash covers frame boundaries too,
    // which differ between runs that group the same lines differently)
    let mut log = blake3::Hasher::new();
    for r in engine.store().read_from(1) {
        let r = r.unwrap();
        log.update(&r.seq.to_be_bytes());
        log.update(&r.time_micros.to_be_bytes());
        log.update(&(r.payload.len() as u64).to_be_bytes());
        log.update(&r.payload);
    }
    json!({
        "records": report.records,
        "log_digest": log.finalize().to_hex().to_string(),
        "state_digest": report.state_digest,
        "gets": gets,
        "balances": balances,
        "lists": lists,
    })
}

fn ingest(engine: &Engine, lines: &[String], first_line: u64) -> Vec<Value> {
    ingest_chunk(engine, lines, first_line).unwrap()
}

#[test]
fn a_clean_close_snapshots_and_the_reopen_replays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let all = lines(3, 35);
    let expected = {
        let engine = Engine::open(dir.path()).unwrap();
        assert_eq!(engine.open_report().snapshot_seq, None);
        ingest(&engine, &all, 1);
        observe(&engine)
    };
    let engine = Engine::open(dir.path()).unwrap();
    let report = engine.open_report().clone();
    assert_eq!(report.snapshot_seq, Some(engine.head_seq()));
    assert_eq!(report.replayed, 0);
    assert!(report.refused.is_empty());
    assert_eq!(observe(&engine), expected);
    assert_eq!(engine.verify().unwrap().snapshots, 1);
}

#[test]
fn a_damaged_snapshot_fails_verify_and_open_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let all = lines(5, 35);
    let (half, rest) = all.split_at(all.len() / 2);
    let (first, second, expected) = {
        let engine = Engine::open(dir.path()).unwrap();
        ingest(&engine, half, 1);
        let first = engine.snapshot().unwrap().unwrap();
        ingest(&engine, rest, half.len() as u64 + 1);
        let second = engine.snapshot().unwrap().unwrap();
        assert!(first < second);
        assert_eq!(engine.snapshot().unwrap(), None, "nothing new to snapshot");
        (first, second, observe(&engine))
    };
    assert_eq!(expected["records"].as_u64(), Some(second));

    // the newest snapshot damaged in its state bytes: verify names it; open
    // refuses it, and, since the cold entries are at its seq, also the older
    // one (cold entries only move forward): it clears them and replays from
    // genesis
    {
        let engine = Engine::open(dir.path()).unwrap();
        assert_eq!(engine.open_report().snapshot_seq, Some(second));
        engine.store().debug_corrupt_snapshot(second, 100, 0x20).unwrap();
        match engine.verify() {
            Err(EngineError::Mismatch { seq, reason }) => {
                assert_eq!(seq, second);
                assert!(reason.contains("checksum"), "{reason}");
            }
            other => panic!("verify missed the damaged snapshot: {other:?}"),
        }
        // no new events: a clean close writes no snapshot over the damaged one
    }
    {
        let engine = Engine::open(dir.path()).unwrap();
        let report = engine.open_report().clone();
        assert_eq!(report.snapshot_seq, None);
        let refused: Vec<u64> = report.refused.iter().map(|r| r.0).collect();
        assert_eq!(refused, vec![second, first, second], "{:?}", report.refused);
        assert!(report.refused[0].1.contains("checksum"), "{:?}", report.refused);
        assert!(report.refused[1].1.contains("cold entries are at seq"), "{:?}", report.refused);
        assert!(report.refused[2].1.contains("cleared"), "{:?}", report.refused);
        assert_eq!(report.replayed, second);
        // open deleted the refused snapshots (a cache): verify passes
        assert!(engine.store().snapshot_seqs().unwrap().is_empty());
        assert_eq!(observe(&engine), expected);
        // the clean close flushes and snapshots the head again
    }
    {
        let engine = Engine::open(dir.path()).unwrap();
        assert_eq!(engine.open_report().snapshot_seq, Some(second));
        assert_eq!(engine.open_report().replayed, 0);
        assert_eq!(engine.store().snapshot_seqs().unwrap(), vec![second]);
        engine.verify().unwrap();
        // now damaged in its seq bytes (so it names another seq)
        engine.store().debug_corrupt_snapshot(second, 8, 0x01).unwrap();
        assert!(matches!(engine.verify(), Err(EngineError::Mismatch { seq, .. }) if seq == second));
    }
    let engine = Engine::open(dir.path()).unwrap();
    let report = engine.open_report().clone();
    assert_eq!(report.snapshot_seq, None);
    assert_eq!(report.replayed, second);
    assert_eq!(observe(&engine), expected);
}

/// A damaged cold entry (an order, a token) is named by `verify`; a reopen
/// that cannot trust the cold entries replays from genesis.
#[test]
fn a_damaged_cold_entry_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let all = lines(6, 20);
    let expected = {
        let engine = Engine::open(dir.path()).unwrap();
        ingest(&engine, &all, 1);
        engine.snapshot().unwrap().unwrap();
        observe(&engine)
    };
    let engine = Engine::open(dir.path()).unwrap();
    assert_eq!(engine.open_report().replayed, 0);
    let keys: Vec<Vec<u8>> = engine.store().cold_entries().map(|r| r.unwrap().0).collect();
    let order = keys.iter().find(|k| k[0] == b'O').unwrap().clone();
    let damaged = |e: Result<cardledger_core::engine::VerifyReport, EngineError>| match e {
        Err(EngineError::Store(cardledger_core::store::StoreError::Corrupt { reason, .. })) => {
            assert!(reason.contains("cold block fails its checksum"), "{reason}")
        }
        other => panic!("verify missed the damaged cold entry: {other:?}"),
    };
    engine.store().debug_corrupt_cold(&order, 0x10).unwrap();
    damaged(engine.verify());
    engine.store().debug_corrupt_cold(&order, 0x10).unwrap();
    let token = keys.iter().find(|k| k[0] == b'T').unwrap().clone();
    engine.store().debug_corrupt_cold(&token, 0x01).unwrap();
    damaged(engine.verify());
    engine.store().debug_corrupt_cold(&token, 0x01).unwrap();
    drop(engine);
    let engine = Engine::open(dir.path()).unwrap();
    assert_eq!(observe(&engine), expected);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    /// Random chunks, random snapshot points, random reopens, random cold
    /// flush intervals (down to every event): the same answers, state digest
    /// and reads as one uninterrupted run that keeps everything in memory.
    #[test]
    fn snapshots_and_reopens_change_nothing(
        seed in 0u64..1_000,
        cuts in proptest::collection::vec((1usize..120, 0u8..4), 1..12),
        flush_every in prop_oneof![Just(1u64), 2u64..9, 9u64..200, Just(1u64 << 40)],
    ) {
        // the cold flush interval down to 1 event: every lookup of an older
        // token, order or closed journal entry goes through the cold runs
        let options = OpenOptions { cold_flush_events: flush_every };
        let all = lines(seed, 34);
        let straight_dir = tempfile::tempdir().unwrap();
        let (straight_answers, straight) = {
            let engine = Engine::open(straight_dir.path()).unwrap();
            let a = ingest(&engine, &all, 1);
            (a, observe(&engine))
        };
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Some(Engine::open_with(dir.path(), options).unwrap());
        let mut answers = Vec::new();
        let mut at = 0usize;
        let mut cut = cuts.iter().cycle();
        while at < all.len() {
            let (len, action) = *cut.next().unwrap();
            let end = (at + len).min(all.len());
            let e = engine.as_ref().unwrap();
            answers.extend(ingest(e, &all[at..end], at as u64 + 1));
            at = end;
            match action {
                0 => { e.snapshot().unwrap(); }
                1 => {
                    // reopen after a clean close (snapshot at close)
                    drop(engine.take());
                    engine = Some(Engine::open_with(dir.path(), options).unwrap());
                }
                2 => {
                    // snapshot, then more events, then a reopen that replays a tail
                    e.snapshot().unwrap();
                }
                _ => {}
            }
        }
        prop_assert_eq!(&answers, &straight_answers);
        let e = engine.take().unwrap();
        prop_assert_eq!(observe(&e), straight.clone());
        drop(e);
        let e = Engine::open_with(dir.path(), options).unwrap();
        prop_assert_eq!(observe(&e), straight);
    }
}

/// A state larger than one chunk is stored in several and read back whole;
/// a flipped byte in a later chunk, a wrong hash and leftovers are caught.
#[test]
fn a_snapshot_of_several_chunks_round_trips_and_is_checked() {
    use cardledger_core::store::{Head, NewRecord, Store, StoreError};
    use cardledger_domain::limits::SNAPSHOT_CHUNK_BYTES;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let head = store.append(Head::GENESIS, &[NewRecord { time_micros: 1, payload: b"e1" }]).unwrap();
    let head = store.append(head, &[NewRecord { time_micros: 2, payload: b"e2" }]).unwrap();
    let state: Vec<u8> = (0..(2 * SNAPSHOT_CHUNK_BYTES + 12_345)).map(|i| (i % 251) as u8).collect();
    store.save_snapshot(head, &state).unwrap();
    assert_eq!(store.snapshot_seqs().unwrap(), vec![2]);
    assert_eq!(store.snapshot_bytes().unwrap(), state.len() as u64);
    let (at, back) = store.load_snapshot(2).unwrap();
    assert_eq!(at, head);
    assert_eq!(back, state);
    // a byte of the third chunk
    store.debug_corrupt_snapshot(2, 61 + 2 * SNAPSHOT_CHUNK_BYTES + 7, 0x40).unwrap();
    match store.load_snapshot(2) {
        Err(StoreError::Corrupt { seq: 2, reason }) => assert!(reason.contains("state checksum"), "{reason}"),
        other => panic!("{other:?}"),
    }
    store.debug_corrupt_snapshot(2, 61 + 2 * SNAPSHOT_CHUNK_BYTES + 7, 0x40).unwrap();
    assert_eq!(store.load_snapshot(2).unwrap().1, state);
    // a snapshot naming another hash for its seq does not belong to this log
    let other = Head { seq: 1, hash: [7; 32] };
    store.save_snapshot(other, b"x").unwrap();
    match store.load_snapshot(1) {
        Err(StoreError::Corrupt { seq: 1, reason }) => assert!(reason.contains("chain hash"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // all kept (up to SNAPSHOTS_KEPT: the starting points of as-of reads)
    assert_eq!(store.snapshot_seqs().unwrap(), vec![2, 1]);
    let head = store.append(head, &[NewRecord { time_micros: 3, payload: b"e3" }]).unwrap();
    store.save_snapshot(head, b"small").unwrap();
    assert_eq!(store.snapshot_seqs().unwrap(), vec![3, 2, 1]);
    store.delete_snapshot(2).unwrap();
    store.delete_snapshot(1).unwrap();
    assert_eq!(store.snapshot_seqs().unwrap(), vec![3]);
    assert_eq!(store.load_snapshot(3).unwrap().1, b"small");
}

/// A command resubmitted after its token left memory (a cold flush after
/// every event) is still a duplicate answered with its original response,
/// and a changed payload under that token is still a conflict; an unload of
/// an order that is only in the cold runs is bounded by what it recorded.
#[test]
fn a_duplicate_after_its_token_left_memory_answers_the_original() {
    use cardledger_core::engine::Outcome;
    use cardledger_domain::rejection::Code;
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open_with(dir.path(), OpenOptions { cold_flush_events: 1 }).unwrap();
    let line = |s: &str| cardledger_domain::wire::parse_line(s).unwrap();
    for s in [
        r#"{"time":"2017-03-31T19:13:23Z","program":{"token":"p","bank":"B","currency_code":"USD","opening_bank_balance":100000}}"#,
        r#"{"time":"2017-03-31T19:13:23Z","funding_source":{"token":"fs","program_token":"p","type":"program","name":"fs"}}"#,
        r#"{"time":"2017-04-01T10:00:00Z","user":{"token":"u","program_token":"p"}}"#,
    ] {
        assert!(matches!(engine.submit(line(s)).unwrap(), Outcome::Recorded { .. }));
    }
    let order = r#"{"time":"2017-05-10T23:00:15Z","gpa_order":{"token":"o1","user_token":"u","amount":"100","currency_code":"USD","funding_source_token":"fs"}}"#;
    let (seq, first) = match engine.submit(line(order)).unwrap() {
        Outcome::Recorded { seq, response, .. } => (seq, response.unwrap().to_value()),
        other => panic!("{other:?}"),
    };
    // more events: the order's token and state are flushed to the cold runs
    engine.submit(line(r#"{"time":"2017-05-11T00:00:00Z","user":{"token":"u2","program_token":"p"}}"#)).unwrap();
    assert!(engine.state().tokens.values().all(|m| !m.contains_key("o1")), "the token left memory");
    assert!(engine.state().gpa_orders.is_empty(), "the order left memory");
    match engine.submit(line(order)).unwrap() {
        Outcome::Duplicate { seq: s, response, .. } => {
            assert_eq!(s, seq);
            assert_eq!(response.unwrap().to_value(), first);
        }
        other => panic!("{other:?}"),
    }
    let changed = order.replace(r#""amount":"100""#, r#""amount":"101""#);
    match engine.submit(line(&changed)).unwrap() {
        Outcome::Rejected(r) => assert_eq!(r.code, Code::TokenConflict),
        other => panic!("{other:?}"),
    }
    let unload = |t: &str, amount: &str| {
        line(&format!(
            r#"{{"time":"2017-05-12T00:00:00Z","gpa_unload":{{"token":"{t}","original_order_token":"o1","amount":"{amount}"}}}}"#
        ))
    };
    assert!(matches!(engine.submit(unload("un1", "60")).unwrap(), Outcome::Recorded { .. }));
    match engine.submit(unload("un2", "41")).unwrap() {
        Outcome::Rejected(r) => assert_eq!(r.code, Code::UnloadExceedsOrder, "{r}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(engine.submit(unload("un3", "40")).unwrap(), Outcome::Recorded { .. }));
    engine.verify().unwrap();
    drop(engine);
    let engine = Engine::open_with(dir.path(), OpenOptions { cold_flush_events: 1 }).unwrap();
    match engine.submit(line(order)).unwrap() {
        Outcome::Duplicate { seq: s, response, .. } => assert_eq!((s, response.unwrap().to_value()), (seq, first)),
        other => panic!("{other:?}"),
    }
    engine.verify().unwrap();
}

/// A replay from genesis (here: the only snapshot damaged) flushes the cold
/// state as it goes, every `cold_flush_events`, so a long replay stays
/// bounded in memory; the store it leaves answers and verifies as before.
#[test]
fn a_replay_from_genesis_flushes_as_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let all = lines(8, 20);
    let (head, expected) = {
        let engine = Engine::open(dir.path()).unwrap();
        ingest(&engine, &all, 1);
        engine.snapshot().unwrap().unwrap();
        (engine.head_seq(), observe(&engine))
    };
    {
        let engine = Engine::open(dir.path()).unwrap();
        engine.store().debug_corrupt_snapshot(head, 100, 0x20).unwrap();
    }
    let engine = Engine::open_with(dir.path(), OpenOptions { cold_flush_events: 5 }).unwrap();
    let report = engine.open_report().clone();
    assert_eq!(report.replayed, head);
    assert_eq!(report.snapshot_seq, None, "replayed from genesis");
    // the replay's last flush: a hot snapshot and the cold entries at a
    // multiple of 5
    let at = head - head % 5;
    assert_eq!(engine.store().snapshot_seqs().unwrap().first(), Some(&at));
    assert_eq!(engine.store().cold_watermark().unwrap().map(|w| w.seq), Some(at));
    assert_eq!(observe(&engine), expected);
    drop(engine);
    let engine = Engine::open(dir.path()).unwrap();
    assert_eq!(engine.open_report().replayed, 0);
    assert_eq!(observe(&engine), expected);
}

/// A store of the demo-sized workload (several replay chunks long) with its
/// snapshots and cold entries removed, as `reopen_replay` leaves it: the
/// next open replays from genesis. Answers (head seq, what a client sees of
/// the engine that recorded it).
fn recorded_store(dir: &std::path::Path) -> (u64, Value) {
    let all: Vec<String> = generate(&WorkloadConfig::default()).collect();
    let recorded = {
        let engine = Engine::open(dir).unwrap();
        ingest(&engine, &all, 1);
        (engine.head_seq(), observe(&engine))
    };
    assert!(recorded.0 > 4 * limits::REPLAY_CHUNK_EVENTS as u64, "{} events", recorded.0);
    forget_snapshots(dir);
    recorded
}

/// Removes every snapshot and the cold entries: the next open replays from genesis.
fn forget_snapshots(dir: &std::path::Path) {
    let store = Store::open(dir).unwrap();
    for seq in store.snapshot_seqs().unwrap() {
        store.delete_snapshot(seq).unwrap();
    }
    store.clear_cold().unwrap();
}

/// The open's replay reads, checks and decodes on a second thread while it
/// applies and flushes: with cold flush intervals that do not line up with
/// the reader's chunks, it rebuilds exactly the state recording built (the
/// same state digest, answers and reads), and leaves its last flush written.
#[test]
fn a_replay_across_cold_flushes_rebuilds_the_recorded_state() {
    let dir = tempfile::tempdir().unwrap();
    let (head, expected) = recorded_store(dir.path());
    for every in [1000, 333] {
        let engine = Engine::open_with(dir.path(), OpenOptions { cold_flush_events: every }).unwrap();
        assert_eq!(engine.open_report().replayed, head);
        let at = head - head % every;
        assert_eq!(engine.store().cold_watermark().unwrap().map(|w| w.seq), Some(at), "every {every}");
        assert_eq!(engine.store().snapshot_seqs().unwrap().first(), Some(&at), "every {every}");
        assert_eq!(observe(&engine), expected, "every {every}");
        drop(engine);
        forget_snapshots(dir.path());
    }
}

/// A byte flipped in a record far past the reader's first chunk fails the
/// replaying open with the store's typed error naming that record's seq,
/// whatever the cold flush interval (flushes before it, or none).
#[test]
fn a_flipped_byte_fails_a_replaying_open_at_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let (head, _) = recorded_store(dir.path());
    let bad = head / 2 + 17;
    // the payload's second byte (a record: version, seq, time, length, payload, crc)
    Store::open(dir.path()).unwrap().debug_corrupt_record(bad, 22, 0x10).unwrap();
    for every in [limits::SNAPSHOT_INTERVAL_EVENTS, 1000, 7] {
        match Engine::open_with(dir.path(), OpenOptions { cold_flush_events: every }) {
            Err(EngineError::Store(StoreError::Corrupt { seq, .. })) => assert_eq!(seq, bad, "every {every}"),
            Err(other) => panic!("every {every}: expected Corrupt at seq {bad}, got {other:?}"),
            Ok(_) => panic!("every {every}: the open replayed a flipped byte"),
        }
        // the failed open's flushes are written, below the bad record
        let store = Store::open(dir.path()).unwrap();
        assert!(store.cold_watermark().unwrap().is_none_or(|w| w.seq < bad), "every {every}");
        drop(store);
        forget_snapshots(dir.path());
    }
}

/// The newest sled page-table snapshot file (`snap.<lsn>`) of a store.
fn newest_sled_snapshot(dir: &std::path::Path) -> Option<String> {
    let mut snaps: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snap."))
        .collect();
    snaps.sort();
    snaps.pop()
}

/// A clean close after a long session pays sled's recovery scan itself
/// (sled writes its page-table snapshot only when it opens), so the next
/// open starts from a snapshot at the end of that session; a short session
/// leaves sled's snapshot as it was.
#[test]
fn a_clean_close_after_a_long_session_leaves_sled_a_fresh_snapshot() {
    use cardledger_domain::limits::REOPEN_ON_CLOSE_EVENTS;
    let dir = tempfile::tempdir().unwrap();
    let bulk: Vec<String> = cardledger_workload::generate_bulk(7, REOPEN_ON_CLOSE_EVENTS + 1_000).collect();
    // a short session: sled's snapshot is the one its first open wrote
    {
        let engine = Engine::open(dir.path()).unwrap();
        ingest_chunk(&engine, &bulk[..1_000], 1).unwrap();
    }
    let before = newest_sled_snapshot(dir.path());
    {
        let engine = Engine::open(dir.path()).unwrap();
        // the open itself may advance sled's snapshot past the short session
        let opened = newest_sled_snapshot(dir.path());
        for (i, chunk) in bulk[1_000..].chunks(8_192).enumerate() {
            let answers = ingest_chunk(&engine, chunk, 1_001 + (i * 8_192) as u64).unwrap();
            assert!(answers.iter().all(|a| a.get("error_code").is_none()));
        }
        assert!(engine.head_seq() >= REOPEN_ON_CLOSE_EVENTS);
        assert_eq!(newest_sled_snapshot(dir.path()), opened, "sled writes no snapshot while it is open");
        assert!(opened >= before);
        drop(engine);
        let closed = newest_sled_snapshot(dir.path());
        assert!(closed > opened, "the close did not advance sled's snapshot: {closed:?} after {opened:?}");
    }
    // and the store reopens at the same head, replaying nothing
    let engine = Engine::open(dir.path()).unwrap();
    assert_eq!(engine.open_report().replayed, 0);
    assert!(engine.verify().is_ok());
}
