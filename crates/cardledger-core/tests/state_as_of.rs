//! `Engine::state_as_of`: the newest valid snapshot at or below the seq — a
//! hot snapshot read with the cold runs written at or before its seq — then
//! the log replayed to the seq. The state it rebuilds is the state of a
//! store that ingested only the first N events (same digest over every
//! field, same reads), for N at, before and after every flush point, with
//! cold flushes down to every event; it writes nothing; a damaged snapshot
//! is skipped for an older one or genesis.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger_core::engine::{Engine, OpenOptions};
use cardledger_core::ingest::ingest_chunk;
use cardledger_core::reads::balances_in;
use cardledger_core::record::hex;
use cardledger_core::store::snapshots_kept;
use cardledger_domain::command::Holder;
use cardledger_domain::limits::SNAPSHOTS_KEPT;
use cardledger_domain::snapshot::state_digest;
use cardledger_domain::state::Ledger;
use cardledger_domain::wire::parse_line;
use cardledger_workload::{generate, WorkloadConfig};
use proptest::prelude::*;
use serde_json::{json, Value};

fn lines(seed: u64, days: u32) -> Vec<String> {
    generate(&WorkloadConfig { seed, days, holders: 5, credit_accounts: 2, ..WorkloadConfig::default() }).collect()
}

/// The state digest of a replay from genesis at every seq 0..=head.
fn replay_digests(engine: &Engine) -> Vec<String> {
    let mut fresh = Ledger::default();
    let mut out = vec![hex(&state_digest(&fresh).unwrap())];
    for entry in engine.events_from(1) {
        fresh.apply(&entry.unwrap().rec);
        out.push(hex(&state_digest(&fresh).unwrap()));
    }
    out
}

/// The token kinds `get` answers that grow with history (cold entries).
const KINDS: &[&str] = &["gpa_order", "msa_order", "gpa_unload", "msa_unload", "journal_entry", "offer_order"];

/// What a client reads from a state: `get` of `tokens`, both unload lists,
/// every holder's balances.
fn reads(engine: &Engine, state: &Ledger, tokens: &[(String, String)]) -> Value {
    let gets: Vec<Value> = tokens.iter().map(|(k, t)| json!(engine.get_in(state, k, t).unwrap())).collect();
    let lists: Vec<Value> = ["gpa_unloads", "msa_unloads"]
        .iter()
        .map(|k| engine.list_in(state, k, &[("count".into(), "100".into())]).unwrap())
        .collect();
    let mut holders: Vec<&Holder> = state.holders.keys().collect();
    holders.sort();
    let balances: Vec<Value> = holders.iter().map(|h| json!(balances_in(state, h))).collect();
    json!({"gets": gets, "lists": lists, "balances": balances})
}

/// Every token of the kinds above in a state (cold ones included).
fn tokens(state: &Ledger) -> Vec<(String, String)> {
    KINDS.iter().flat_map(|k| state.tokens_of(k).into_iter().map(move |(t, _)| (k.to_string(), t))).collect()
}

#[test]
fn as_of_from_a_snapshot_equals_a_replay_from_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    let cfg = WorkloadConfig { days: 6, holders: 10, ..Default::default() };
    let lines: Vec<_> = generate(&cfg).map(|l| parse_line(&l).unwrap()).collect();
    let half = lines.len() / 2;
    let mut rest = lines;
    let second = rest.split_off(half);
    engine.submit_batch_acks(rest).unwrap();
    let head = engine.head_seq();
    let probes = [1, head / 3, head - 1, head];
    // no snapshot yet: every state is a replay from genesis
    for s in probes {
        let (_, report) = engine.state_as_of_report(s).unwrap();
        assert_eq!((report.snapshot_seq, report.replayed), (None, s));
    }
    assert_eq!(engine.snapshot().unwrap(), Some(head));
    engine.submit_batch_acks(second).unwrap();
    let now = engine.head_seq();
    assert!(now > head);
    let expected = replay_digests(&engine);
    for s in probes.into_iter().chain([now - 1, now, now + 7]) {
        let (state, report) = engine.state_as_of_report(s).unwrap();
        let at = s.min(now);
        assert_eq!(state.head_seq, at);
        assert_eq!(hex(&state_digest(&state).unwrap()), expected[at as usize], "as of seq {s}");
        // from the hot snapshot (and the cold runs at its seq) once it is at or below
        let from = (at >= head).then_some(head);
        assert_eq!(report.snapshot_seq, from, "as of seq {s}");
        assert_eq!(report.replayed, at - from.unwrap_or(0));
    }
    // at the head it is the live state (hot part and cold entries: verify's digest)
    let state = engine.state_as_of(now).unwrap();
    assert_eq!(engine.verify().unwrap().state_digest, hex(&state_digest(&state).unwrap()));
    assert_eq!(engine.state_as_of(0).unwrap().head_seq, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random chunks, snapshot points and reopens, cold flushes down to
    /// every event: the state as of every N equals a replay of the first N
    /// events, starts from the newest snapshot at or below N, writes
    /// nothing, and at command boundaries around the flush points it reads
    /// like a fresh store that ingested only those commands.
    #[test]
    fn as_of_equals_a_store_that_ingested_only_the_first_n_events(
        seed in 0u64..1_000,
        cuts in proptest::collection::vec((1usize..60, 0u8..5), 1..10),
        flush_every in prop_oneof![Just(1u64), 2u64..9, 9u64..80],
    ) {
        let options = OpenOptions { cold_flush_events: flush_every };
        let all = lines(seed, 16);
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::open_with(dir.path(), options).unwrap();
        // the head after each line
        let mut heads: Vec<u64> = Vec::with_capacity(all.len());
        let mut at = 0usize;
        let mut cut = cuts.iter().cycle();
        while at < all.len() {
            let (len, action) = *cut.next().unwrap();
            let end = (at + len).min(all.len());
            let answers = ingest_chunk(&engine, &all[at..end], at as u64 + 1).unwrap();
            for a in answers {
                let seq = a.get("seq").and_then(Value::as_u64).unwrap_or(0);
                let last = heads.last().copied().unwrap_or(0);
                heads.push(last.max(seq));
            }
            at = end;
            match action {
                0 => { engine.snapshot().unwrap(); }
                1 => {
                    drop(engine);
                    engine = Engine::open_with(dir.path(), options).unwrap();
                }
                _ => {}
            }
        }
        let head = engine.head_seq();
        prop_assert_eq!(heads.last().copied(), Some(head));
        // the last cold flush may still be written in the background (its
        // hot snapshot, then its run and watermark): let it land before the
        // store's snapshots and watermark are taken as what reads must not move
        engine.wait_cold_write().unwrap();
        let expected = replay_digests(&engine);
        let snapshots = engine.store().snapshot_seqs().unwrap();
        prop_assert!(!snapshots.is_empty());
        let watermark = engine.store().cold_watermark().unwrap();
        let live_digest = engine.verify().unwrap().state_digest;
        for n in 0..=head + 2 {
            let (state, report) = engine.state_as_of_report(n).unwrap();
            let at = n.min(head);
            prop_assert_eq!(state.head_seq, at);
            prop_assert_eq!(&hex(&state_digest(&state).unwrap()), &expected[at as usize], "as of seq {}", n);
            // from the newest snapshot at or below, none refused
            let from = snapshots.iter().copied().find(|s| *s <= at && at > 0);
            prop_assert_eq!(report.snapshot_seq, from, "as of seq {}", n);
            prop_assert!(report.refused.is_empty(), "{:?}", report.refused);
            prop_assert_eq!(report.replayed, at - from.unwrap_or(0));
            prop_assert!(state.cold_failure().is_none());
        }
        // nothing was written, and the live state is untouched
        prop_assert_eq!(engine.store().snapshot_seqs().unwrap(), snapshots.clone());
        prop_assert_eq!(engine.store().cold_watermark().unwrap(), watermark);
        prop_assert_eq!(engine.verify().unwrap().state_digest, live_digest);
        // command boundaries at, just before and just after flush points
        let mut boundaries: Vec<usize> = Vec::new();
        for s in snapshots.iter().take(3) {
            for target in [s.saturating_sub(1), *s, s + 1] {
                if let Some(i) = heads.iter().position(|h| *h >= target) {
                    boundaries.push(i);
                }
            }
        }
        boundaries.push(heads.len() / 3);
        boundaries.sort_unstable();
        boundaries.dedup();
        let everything = tokens(&engine.state_as_of(head).unwrap());
        for i in boundaries {
            let n = heads[i];
            let fresh_dir = tempfile::tempdir().unwrap();
            let fresh = Engine::open(fresh_dir.path()).unwrap();
            ingest_chunk(&fresh, &all[..=i], 1).unwrap();
            prop_assert_eq!(fresh.head_seq(), n);
            let past = engine.state_as_of(n).unwrap();
            prop_assert_eq!(&hex(&state_digest(&past).unwrap()), &fresh.verify().unwrap().state_digest);
            // every token of the head, those recorded after n included (absent then)
            let live = fresh.state();
            prop_assert_eq!(reads(&engine, &past, &everything), reads(&fresh, &live, &everything), "as of seq {}", n);
            prop_assert_eq!(tokens(&past), tokens(&live));
        }
    }
}

/// A damaged snapshot is skipped for the next older one, then genesis; the
/// as-of read deletes nothing (it writes nothing) and its state is still
/// the replay's.
#[test]
fn a_damaged_old_snapshot_falls_back_to_an_older_one_or_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open_with(dir.path(), OpenOptions { cold_flush_events: 40 }).unwrap();
    let all = lines(7, 16);
    for chunk in all.chunks(25) {
        ingest_chunk(&engine, chunk, 1).unwrap();
    }
    // the last cold flush (and its snapshot) is written in the background:
    // list the snapshots once it is (a niced writer can still be at it)
    engine.wait_cold_write().unwrap();
    let expected = replay_digests(&engine);
    let snapshots = engine.store().snapshot_seqs().unwrap();
    assert!(snapshots.len() >= 4, "{snapshots:?}");
    let (s3, s2, s1) = (snapshots[1], snapshots[2], snapshots[3]);
    let n = s2 + (s3 - s2) / 2;
    assert_eq!(engine.state_as_of_report(n).unwrap().1.snapshot_seq, Some(s2));
    // a byte of s2's state
    engine.store().debug_corrupt_snapshot(s2, 61 + 40, 0x10).unwrap();
    let (state, report) = engine.state_as_of_report(n).unwrap();
    assert_eq!(report.snapshot_seq, Some(s1));
    assert_eq!(report.replayed, n - s1);
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].0, s2);
    assert!(report.refused[0].1.contains("checksum"), "{:?}", report.refused);
    assert_eq!(hex(&state_digest(&state).unwrap()), expected[n as usize]);
    // every older one damaged too: genesis
    for s in &snapshots[3..] {
        engine.store().debug_corrupt_snapshot(*s, 61 + 40, 0x10).unwrap();
    }
    let (state, report) = engine.state_as_of_report(n).unwrap();
    assert_eq!((report.snapshot_seq, report.replayed), (None, n));
    assert_eq!(report.refused.len(), snapshots.len() - 2);
    assert_eq!(hex(&state_digest(&state).unwrap()), expected[n as usize]);
    // nothing deleted: verify still names the damaged snapshot
    assert_eq!(engine.store().snapshot_seqs().unwrap(), snapshots);
    assert!(engine.verify().is_err());
    // the newest, undamaged, still starts a read at the head
    let (state, report) = engine.state_as_of_report(engine.head_seq()).unwrap();
    assert_eq!(report.snapshot_seq, Some(snapshots[0]));
    assert_eq!(hex(&state_digest(&state).unwrap()), *expected.last().unwrap());
}

/// The retention of snapshots: every one up to `SNAPSHOTS_KEPT`, then
/// thinned evenly, never the oldest or the newest two.
#[test]
fn snapshots_are_thinned_evenly_past_the_limit() {
    let mut kept: Vec<u64> = Vec::new();
    for seq in 1..=(SNAPSHOTS_KEPT as u64) {
        kept = snapshots_kept(seq, kept);
    }
    assert_eq!(kept, (1..=SNAPSHOTS_KEPT as u64).rev().collect::<Vec<_>>());
    let last = 50 * SNAPSHOTS_KEPT as u64;
    for seq in SNAPSHOTS_KEPT as u64 + 1..=last {
        kept = snapshots_kept(seq, kept);
        assert_eq!(kept.len(), SNAPSHOTS_KEPT);
        assert_eq!(kept[..2], [seq, seq - 1]);
        assert_eq!(kept.last(), Some(&1));
    }
    // spread: no gap between two kept snapshots is more than 4 times the mean
    let gaps: Vec<u64> = kept.windows(2).map(|w| w[0] - w[1]).collect();
    let mean = last / SNAPSHOTS_KEPT as u64;
    let widest = *gaps.iter().max().unwrap();
    assert!(widest <= 4 * mean, "widest gap {widest}, mean {mean}");
    // an out-of-order or repeated save changes nothing but itself
    assert_eq!(snapshots_kept(3, vec![5, 3, 1]), vec![5, 3, 1]);
}

/// A store whose runs were written before runs recorded their position
/// (simulated by removing the `P` keys from its `cold` tree): as-of reads
/// below the watermark it was opened with cannot tell which runs were
/// there, so they skip its hot snapshots (genesis); at or past it, and from
/// the snapshots written after, they start from a snapshot again. The
/// state is the replay's throughout.
#[test]
fn runs_without_a_position_are_used_only_at_or_past_the_opening_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions { cold_flush_events: 30 };
    let all = lines(11, 16);
    let (first, rest) = all.split_at(all.len() / 2);
    {
        let engine = Engine::open_with(dir.path(), options).unwrap();
        for chunk in first.chunks(10) {
            ingest_chunk(&engine, chunk, 1).unwrap();
        }
    }
    {
        let db = sled::open(dir.path()).unwrap();
        let cold = db.open_tree("cold").unwrap();
        let keys: Vec<_> = cold.scan_prefix(b"P").keys().map(Result::unwrap).collect();
        assert!(keys.len() >= 2, "{} runs", keys.len());
        for k in keys {
            cold.remove(k).unwrap();
        }
        db.flush().unwrap();
    }
    let engine = Engine::open_with(dir.path(), options).unwrap();
    let opened_at = engine.store().cold_watermark().unwrap().unwrap().seq;
    assert_eq!(engine.open_report().snapshot_seq, Some(opened_at));
    let old = engine.store().snapshot_seqs().unwrap();
    assert!(old.len() >= 3 && old[0] == opened_at, "{old:?}");
    for chunk in rest.chunks(10) {
        ingest_chunk(&engine, chunk, 1).unwrap();
    }
    let expected = replay_digests(&engine);
    let head = engine.head_seq();
    for n in 1..=head {
        let (state, report) = engine.state_as_of_report(n).unwrap();
        assert_eq!(hex(&state_digest(&state).unwrap()), expected[n as usize], "as of seq {n}");
        if n < opened_at {
            assert_eq!(report.snapshot_seq, None, "as of seq {n}");
            let below: Vec<u64> = old.iter().copied().filter(|s| *s <= n).collect();
            let refused: Vec<u64> = report.refused.iter().map(|r| r.0).collect();
            assert_eq!(refused, below, "as of seq {n}");
            assert!(report.refused.iter().all(|r| r.1.contains("cannot be told apart")), "{:?}", report.refused);
        } else {
            let newest = engine.store().snapshot_seqs().unwrap().into_iter().find(|s| *s <= n);
            assert_eq!(report.snapshot_seq, newest, "as of seq {n}");
            assert!(report.refused.is_empty(), "{:?}", report.refused);
        }
    }
    engine.verify().unwrap();
}

/// An as-of state whose cold runs were cleared under it (what `open` does
/// before a replay from genesis) reads nothing of the new runs: its reads
/// fail (`cold_failure`), never answer from another state.
#[test]
fn an_as_of_view_made_before_a_clear_fails_its_reads() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open_with(dir.path(), OpenOptions { cold_flush_events: 20 }).unwrap();
    for chunk in lines(3, 10).chunks(10) {
        ingest_chunk(&engine, chunk, 1).unwrap();
    }
    let snapshots = engine.store().snapshot_seqs().unwrap();
    let n = snapshots[1] + 1;
    let (past, report) = engine.state_as_of_report(n).unwrap();
    assert_eq!(report.snapshot_seq, Some(snapshots[1]));
    assert!(!past.tokens_of("gpa_order").is_empty());
    assert!(past.cold_failure().is_none());
    engine.store().clear_cold().unwrap();
    past.tokens_of("gpa_order");
    let why = past.cold_failure().expect("a read after the clear fails");
    assert!(why.contains("cleared"), "{why}");
}

/// As-of reads racing a writer that flushes every 3 events (a snapshot is
/// written before its run: a read in between must not use it): every state
/// read equals a replay of the log to its seq.
#[test]
fn as_of_reads_during_writes_and_flushes_are_exact() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open_with(dir.path(), OpenOptions { cold_flush_events: 3 }).unwrap();
    let all = lines(5, 12);
    let done = AtomicBool::new(false);
    let (checked, from_snapshot) = std::thread::scope(|s| {
        s.spawn(|| {
            for chunk in all.chunks(2) {
                ingest_chunk(&engine, chunk, 1).unwrap();
            }
            done.store(true, Ordering::SeqCst);
        });
        let (mut checked, mut from_snapshot) = (0u32, 0u32);
        while !done.load(Ordering::SeqCst) || checked == 0 {
            let n = engine.head_seq();
            let (state, report) = engine.state_as_of_report(n).unwrap();
            let mut fresh = Ledger::default();
            for e in engine.events_from(1) {
                let e = e.unwrap();
                if e.rec.seq > n {
                    break;
                }
                fresh.apply(&e.rec);
            }
            assert_eq!(state.head_seq, n);
            assert_eq!(state_digest(&state).unwrap(), state_digest(&fresh).unwrap(), "as of seq {n}");
            checked += 1;
            from_snapshot += u32::from(report.snapshot_seq.is_some());
        }
        (checked, from_snapshot)
    });
    assert!(checked > 0 && from_snapshot > 0, "{checked} reads, {from_snapshot} from a snapshot");
    engine.verify().unwrap();
}

/// A hot snapshot past the cold watermark (written, its run not yet: a
/// flush in progress, or one that failed) cannot start a past state: the
/// read takes the one at the watermark.
#[test]
fn a_hot_snapshot_past_the_watermark_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let all = lines(9, 10);
    let (first, rest) = all.split_at(all.len() - 20);
    {
        let engine = Engine::open_with(dir.path(), OpenOptions { cold_flush_events: 25 }).unwrap();
        for chunk in first.chunks(10) {
            ingest_chunk(&engine, chunk, 1).unwrap();
        }
    }
    // the rest without a flush: the head passes the watermark
    let engine = Engine::open_with(dir.path(), OpenOptions { cold_flush_events: 1 << 40 }).unwrap();
    ingest_chunk(&engine, rest, 1).unwrap();
    let watermark = engine.store().cold_watermark().unwrap().unwrap().seq;
    let head = engine.store().head();
    assert!(head.seq > watermark, "head {} watermark {watermark}", head.seq);
    let hot = cardledger_domain::snapshot::encode_hot(&engine.state()).unwrap();
    engine.store().save_snapshot(head, &hot).unwrap();
    let (state, report) = engine.state_as_of_report(head.seq).unwrap();
    assert_eq!(report.snapshot_seq, Some(watermark));
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].0, head.seq);
    assert!(report.refused[0].1.contains("cannot be told apart"), "{:?}", report.refused);
    assert_eq!(hex(&state_digest(&state).unwrap()), *replay_digests(&engine).last().unwrap());
}
