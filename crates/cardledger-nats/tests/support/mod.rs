//! A real 3-node JetStream cluster on 127.0.0.1 for a test
//! (`cardledger_nats::testing::TestCluster`: started and stopped with
//! `scripts/nats-cluster.sh`, which installs the pinned server on a fresh
//! machine), and helpers over it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::time::Duration;

use cardledger_core::record::NewRecord;
use cardledger_nats::{testing, Cluster, JetStreamLog};

pub use cardledger_nats::testing::TestCluster;

/// The node number (1..=3) that leads `log`'s stream now, waiting up to
/// 30 s for one.
pub fn leader(cluster: &Cluster, log: &JetStreamLog) -> usize {
    testing::leader(cluster, log.stream()).unwrap()
}

/// Waits (at most 60 s) until the restarted replica is current; how long it took.
pub fn caught_up(cluster: &Cluster, log: &JetStreamLog) -> Duration {
    testing::caught_up(cluster, log.stream()).unwrap()
}

/// `n` payloads tagged with `tag` (so two writers' records differ).
pub fn payloads(tag: &str, from: u64, n: u64) -> Vec<Vec<u8>> {
    (from..from + n).map(|i| format!("{tag}:{i:08}:{}", "x".repeat(80)).into_bytes()).collect()
}

pub fn records(p: &[Vec<u8>]) -> Vec<NewRecord<'_>> {
    p.iter().enumerate().map(|(i, p)| NewRecord { time_micros: i as i64, payload: p }).collect()
}
