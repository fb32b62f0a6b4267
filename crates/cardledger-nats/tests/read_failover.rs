//! Reads ride through a leader election: on a real 3-node loopback
//! cluster, the stream leader is killed and, at once (while no leader is
//! elected yet, when the cluster answers 503 or not at all), the whole log
//! is read, its last message loaded and a subscription opened. Each answers
//! every record, verified, once the next leader is up — never `Unavailable`
//! for an election (`NATS_READ_RETRY_MILLIS_MAX` bounds the retries).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::{Duration, Instant};

use cardledger_core::record::Head;
use support::{caught_up, leader, payloads, records, TestCluster};

/// Kill rounds.
const ROUNDS: usize = 3;
/// Records per appended batch, and batches.
const BATCH: u64 = 400;
const BATCHES: u64 = 40;

#[test]
fn reads_started_while_the_leader_is_dead_answer_every_record() {
    let tc = TestCluster::start().unwrap();
    let cluster = tc.connect().unwrap();
    let log = cluster.open_log("readfailover", 3).unwrap();
    let mut head = Head::GENESIS;
    for _ in 0..BATCHES {
        let p = payloads("r", head.seq + 1, BATCH);
        head = log.append(head, &records(&p)).unwrap();
    }
    assert!(log.messages() > 1, "several messages, so a read makes several gets");
    let want = payloads("r", 1, head.seq);

    for round in 0..ROUNDS {
        let node = leader(&cluster, &log);
        tc.kill(node).unwrap();
        let killed = Instant::now();

        let all: Vec<_> = log.read_after(Head::GENESIS).unwrap().collect::<Result<_, _>>().unwrap();
        let read = killed.elapsed();
        assert_eq!(all.len() as u64, head.seq, "every record, once");
        for (i, r) in all.iter().enumerate() {
            assert_eq!(r.seq, i as u64 + 1);
            assert_eq!(r.payload, want[i], "record {}", r.seq);
        }
        assert_eq!(all.last().unwrap().hash, head.hash);
        assert_eq!(log.reload().unwrap(), head, "the last message loads");
        let mut sub = log
            .subscribe_after(Head { seq: head.seq - BATCH, hash: all[(head.seq - BATCH - 1) as usize].hash })
            .unwrap();
        let first = sub.recv(Duration::from_secs(30)).unwrap().expect("the subscription delivers");
        assert_eq!(first.seq, head.seq - BATCH + 1);
        eprintln!("round {round}: killed leader n{node}; the whole log read after {read:?}");

        tc.restart(node).unwrap();
        caught_up(&cluster, &log);
    }
    assert_eq!(log.verify().unwrap(), head);
}
