//! A corrupted message on one replica: a byte flipped in a stopped node's
//! store files, then that node made the stream leader. The reader's own
//! checks (crc, chain) detect it and nothing from it is folded; the error
//! names the record seq.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use cardledger_core::record::Head;
use cardledger_nats::NatsLogError;
use support::{leader, payloads, records, TestCluster};

/// Flips one byte inside the first occurrence of `needle` in any file
/// under `dir`; returns how many files held it.
fn flip_in_files(dir: &Path, needle: &[u8]) -> usize {
    let mut hits = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if !p.to_string_lossy().contains("/msgs/") || p.extension().is_none_or(|e| e != "blk") {
                continue;
            }
            let mut bytes = std::fs::read(&p).unwrap();
            if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
                // a byte of the padding after the tag, inside the payload
                bytes[at + needle.len() + 5] ^= 0x01;
                std::fs::write(&p, &bytes).unwrap();
                hits += 1;
            }
        }
    }
    hits
}

#[test]
fn a_flipped_byte_on_the_new_leader_is_detected_and_never_folded() {
    let tc = TestCluster::start();
    let cluster = tc.connect();
    let log = cluster.open_log("cx", 3).unwrap();
    let mut head = Head::GENESIS;
    for b in 0..5u64 {
        head = log.append(head, &records(&payloads("c", b * 50 + 1, 50))).unwrap();
    }
    assert_eq!(head.seq, 250);
    let all_before: Vec<_> = log.read_after(Head::GENESIS).unwrap().map(Result::unwrap).collect();
    assert_eq!(all_before.len(), 250);

    let lead = leader(&cluster, &log);
    let victim = if lead == 1 { 2 } else { 1 };
    tc.term(victim);
    // record 142 is in the third batch's frame (message 3)
    let hits = flip_in_files(&tc.store(victim), b"c:00000142:");
    assert!(hits >= 1, "the payload is in node n{victim}'s store files");
    tc.restart(victim);

    // make the damaged node the stream leader
    let deadline = Instant::now() + Duration::from_secs(60);
    while leader(&cluster, &log) != victim {
        assert!(Instant::now() < deadline, "n{victim} did not become the stream leader");
        let subject = format!("$JS.API.STREAM.LEADER.STEPDOWN.{}", log.stream());
        let body = format!(r#"{{"placement":{{"preferred":"n{victim}"}}}}"#);
        let _ = cluster.block_on(cluster.client().request(subject, body.into()));
        std::thread::sleep(Duration::from_secs(1));
    }

    // every read from genesis stops at the damaged record, typed
    let mut folded = Vec::new();
    let mut error = None;
    for r in log.read_after(Head::GENESIS).unwrap() {
        match r {
            Ok(r) => folded.push(r),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let error = error.expect("the damaged message is refused");
    // NATS 2.15.1's file store checks its own per-message hash when it
    // loads the block and serves no message 3 at all (a hole): the reader
    // names message 3 and the first record the chain misses (101). A copy
    // the server did serve damaged would fail the record crc naming 142
    // (every single-byte flip: `chain::tests`).
    assert!(
        matches!(
            error,
            NatsLogError::Corrupt { seq: 101, stream_seq: 3, .. }
                | NatsLogError::Corrupt { seq: 142, stream_seq: 3, .. }
        ),
        "names message 3 and a record of it: {error:?}"
    );
    assert_eq!(error.code(), 500105);
    // nothing from the damaged frame (records 101..=150) or after it
    assert_eq!(folded.len(), 100);
    assert_eq!(folded, all_before[..100]);
    assert!(log.verify().is_err());
    // appends stop too: the chain cannot be continued from a head the
    // reader cannot verify, and a writer that reloads gets the damaged
    // frame's successor only after the leader changes back; the engine
    // never folds past the error above
}
