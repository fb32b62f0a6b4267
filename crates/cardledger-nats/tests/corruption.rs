//! A corrupted message on one replica: a byte flipped in a stopped node's
//! store files, then that node made the stream leader. The reader's own
//! checks (crc, chain) detect it and nothing from it is folded; the error
//! names the record seq.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use cardledger_core::record::Head;
use cardledger_nats::{testing, NatsLogError};
use support::{leader, payloads, records, TestCluster};

#[test]
fn a_flipped_byte_on_the_new_leader_is_detected_and_never_folded() {
    let tc = TestCluster::start().unwrap();
    let cluster = tc.connect().unwrap();
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
    tc.term(victim).unwrap();
    // record 142 is in the third batch's frame (message 3)
    // a byte of the padding after the tag, inside the payload
    let hits = testing::flip_in_store(&tc.store(victim), b"c:00000142:", 5).unwrap();
    assert!(hits >= 1, "the payload is in node n{victim}'s store files");
    tc.restart(victim).unwrap();

    // make the damaged node the stream leader
    testing::make_leader(&cluster, log.stream(), victim).unwrap();

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
    // a read from a record inside the damaged frame (a projection catching
    // up from there) meets the hole while locating it: it names that
    // record, never the placeholder 0, and delivers nothing
    for from in [120, 101] {
        match log.read_from(from).map(|mut it| it.next()) {
            Err(e) | Ok(Some(Err(e))) => assert!(
                matches!(e, NatsLogError::Corrupt { seq, stream_seq: 3, .. } if seq == from || seq == 142),
                "a read from {from}: {e:?}"
            ),
            Ok(other) => panic!("a read from {from} inside the damaged frame answered {other:?}"),
        }
    }
    // appends stop too: the chain cannot be continued from a head the
    // reader cannot verify, and a writer that reloads gets the damaged
    // frame's successor only after the leader changes back; the engine
    // never folds past the error above
}
