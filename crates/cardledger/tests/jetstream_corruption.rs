//! A corrupted message through the engine and the facade (issue 16): a
//! host ingests a workload into its stream on a 3-node loopback cluster of
//! this test's own, its projections folded and checkpointed part-way; then
//! a byte of one message is flipped in a stopped node's store files and
//! that node is made the stream's leader. A fresh host (empty local
//! directory, rebuilt from the stream) refuses to open, and the first host,
//! reopened from its snapshot, refuses every projection catch-up over the
//! damaged message and fails `verify`: each with the typed `Corrupt` error
//! naming the record seq and the message. Nothing past the damage is
//! folded or answered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::sync::Arc;

use cardledger::layers::core::engine::{Ack, EngineError};
use cardledger::layers::core::store::StoreError;
use cardledger::layers::domain::wire;
use cardledger::{Cardledger, Error};
use cardledger_nats::testing::{self, make_leader, TestCluster};

const PROGRAM: &str = "cx";
/// Commands per batch (one group commit: one frame, one message).
const BATCH: usize = 100;
/// Batches before the projections are folded and checkpointed.
const FOLDED: usize = 8;
/// Batches in all.
const BATCHES: usize = 20;
/// The batch whose message is damaged.
const DAMAGED: usize = 14;

/// The record seq and message a `Corrupt` error names.
fn corrupt(e: &Error) -> (u64, String) {
    match e {
        Error::Engine(EngineError::Store(StoreError::Corrupt { seq, reason }))
        | Error::LogCorrupt(EngineError::Store(StoreError::Corrupt { seq, reason })) => (*seq, reason.clone()),
        other => panic!("not the typed Corrupt error: {other:?}"),
    }
}

#[test]
fn a_flipped_byte_on_the_new_leader_stops_hosts_and_folds_nothing_past_it() {
    let tc = TestCluster::start().unwrap();
    let cluster = tc.connect().unwrap();
    let log = cluster.open_log(PROGRAM, 3).unwrap();
    let stream = log.stream().to_owned();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("host");
    std::fs::create_dir_all(&dir).unwrap();

    let cfg = cardledger_workload::WorkloadConfig { seed: 61, days: 60, holders: 40, ..Default::default() };
    let lines: Vec<String> = cardledger_workload::generate(&cfg).take(BATCH * BATCHES).collect();
    assert_eq!(lines.len(), BATCH * BATCHES);

    let host = Cardledger::open_on(&dir, Arc::new(log)).unwrap();
    // (first seq, last seq) of each batch's one message; the damaged batch's
    // first recorded command with a token
    let mut messages: Vec<(u64, u64)> = Vec::new();
    let mut folded = None;
    let mut needle = None;
    for (b, chunk) in lines.chunks(BATCH).enumerate() {
        let before = host.head_seq();
        let cmds: Vec<_> = chunk.iter().map(|l| wire::parse_line(l).unwrap()).collect();
        let acks = host.submit_batch_acks(cmds.clone()).unwrap();
        assert!(host.head_seq() > before, "batch {b} records something (one message each)");
        messages.push((before + 1, host.head_seq()));
        if b == DAMAGED {
            needle = acks.iter().zip(&cmds).find_map(|(a, c)| match a {
                Ack::Recorded(seq) if c.command.key() == "gpa_order" => {
                    Some((*seq, c.command.token().unwrap().to_owned()))
                }
                _ => None,
            });
        }
        if b + 1 == FOLDED {
            // the projections fold and checkpoint here (the first catch-up after open)
            folded = Some((host.head_seq(), host.view_summary(400).unwrap(), host.statement_counts().unwrap()));
        }
    }
    let (folded_seq, folded_summary, _) = folded.unwrap();
    let (token_seq, token) = needle.expect("a gpa_order in the damaged batch");
    let (first_bad, last_bad) = messages[DAMAGED];
    let message = DAMAGED as u64 + 1;
    assert!((first_bad..=last_bad).contains(&token_seq));
    let head = host.head_seq();
    let summary_at_head = host.view_summary(400).unwrap();
    assert_ne!(summary_at_head, folded_summary);
    drop(host); // a clean close: the engine's state is snapshotted at the head

    // damage the token's bytes (bincode: a one-byte length, then the text)
    // in a stopped follower's copy, then make it the leader
    let lead = testing::leader(&cluster, &stream).unwrap();
    let victim = if lead == 1 { 2 } else { 1 };
    tc.term(victim).unwrap();
    let mut pattern = vec![u8::try_from(token.len()).unwrap()];
    pattern.extend_from_slice(token.as_bytes());
    let hits = testing::flip_in_store(&tc.store(victim), &pattern, 0).unwrap();
    assert!(hits >= 1, "the token {token} is in node n{victim}'s store files");
    tc.restart(victim).unwrap();
    make_leader(&cluster, &stream, victim).unwrap();

    // NATS 2.15.1 checks its own per-message hash when it loads the block
    // and serves no message at all (a hole: the chain misses the message's
    // first record); a copy served damaged fails the record crc (the
    // token's record)
    let named = |(seq, reason): (u64, String)| {
        assert!(seq == first_bad || seq == token_seq, "names seq {first_bad} or {token_seq}: {seq} ({reason})");
        assert!(reason.contains(&format!("message {message}")), "names message {message}: {reason}");
    };

    // a fresh host, rebuilt from the stream, does not open
    let fresh_dir = work.path().join("fresh");
    std::fs::create_dir_all(&fresh_dir).unwrap();
    let fresh = Cardledger::open_on(&fresh_dir, Arc::new(cluster.open_log(PROGRAM, 3).unwrap()));
    let e = fresh.err().expect("a host replaying the damaged stream refuses to open");
    eprintln!("fresh host: {e}");
    named(corrupt(&e));

    // the first host opens from its snapshot (state at the head, checked
    // against the stream's last message), but folds nothing past the damage
    let host = Cardledger::open_on(&dir, Arc::new(cluster.open_log(PROGRAM, 3).unwrap())).unwrap();
    assert_eq!(host.head_seq(), head);
    assert_eq!(host.engine().open_report().replayed, 0, "opened from its snapshot");
    for (what, answer) in [
        ("view_summary", host.view_summary(400).map(drop)),
        ("statement_counts", host.statement_counts().map(drop)),
        ("alerts", host.alerts(0).map(drop)),
        ("programs", host.programs().map(drop)),
    ] {
        let e = answer.err().unwrap_or_else(|| panic!("{what} answered over a damaged message"));
        eprintln!("{what}: {e}");
        named(corrupt(&e));
    }
    // the log as the host reads it: every record before the damage, then the error
    let read: Vec<_> = host.log(1).collect();
    let ok = read.iter().take_while(|r| r.is_ok()).count() as u64;
    assert!(ok < first_bad.max(token_seq), "read {ok} records, past the damage");
    assert!(ok + 1 >= first_bad, "every record before the damaged message reads: {ok}");
    assert_eq!(read.len() as u64, ok + 1, "the read stops at the error");
    named(corrupt(read.last().unwrap().as_ref().unwrap_err()));
    // verify reports it
    let e = host.verify().expect_err("verify fails on a damaged stream");
    eprintln!("verify: {e}");
    assert_eq!(e.code(), 500011);
    named(corrupt(&e));
    assert!(folded_seq < first_bad);
}
