//! `Engine::state_as_of` starts from the newest whole-state snapshot at or
//! below the seq (a hot snapshot, whose cold entries are at the head, is never
//! used): the state it rebuilds is the same, byte for byte, as a replay from
//! genesis, for seqs below, at and above a snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger_core::engine::Engine;
use cardledger_domain::snapshot::encode_state;
use cardledger_domain::wire::parse_line;

#[test]
fn as_of_from_a_snapshot_equals_a_replay_from_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    let cfg = cardledger_workload::WorkloadConfig { days: 6, holders: 10, ..Default::default() };
    let lines: Vec<_> = cardledger_workload::generate(&cfg).map(|l| parse_line(&l).unwrap()).collect();
    let half = lines.len() / 2;
    let mut rest = lines;
    let second = rest.split_off(half);
    engine.submit_batch_acks(rest).unwrap();
    let head = engine.head_seq();
    let probes = [1, head / 3, head - 1, head];
    // no snapshot yet: every state is a replay from genesis
    let genesis: Vec<Vec<u8>> =
        probes.iter().map(|s| encode_state(&engine.state_as_of(*s).unwrap()).unwrap()).collect();
    // a seq beyond the head gives the head's state
    assert_eq!(encode_state(&engine.state_as_of(head + 7).unwrap()).unwrap(), genesis[3]);
    assert_eq!(engine.snapshot().unwrap(), Some(head));
    engine.submit_batch_acks(second).unwrap();
    assert!(engine.head_seq() > head);
    for (seq, expected) in probes.iter().zip(&genesis) {
        let state = engine.state_as_of(*seq).unwrap();
        assert_eq!(state.head_seq, *seq);
        assert_eq!(&encode_state(&state).unwrap(), expected, "as of seq {seq}");
    }
    // at the head it is the live state (hot part and cold entries: verify's digest)
    let now = engine.state_as_of(engine.head_seq()).unwrap();
    assert_eq!(
        engine.verify().unwrap().state_digest,
        cardledger_core::record::hex(&cardledger_domain::snapshot::state_digest(&now).unwrap())
    );
}
