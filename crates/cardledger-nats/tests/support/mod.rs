//! A real 3-node JetStream cluster on 127.0.0.1 for a test, started and
//! stopped with `scripts/nats-cluster.sh` (which installs the pinned
//! server on a fresh machine), and helpers over it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cardledger_core::record::NewRecord;
use cardledger_nats::{Cluster, JetStreamLog};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/nats-cluster.sh")
}

fn run(args: &[&str]) -> String {
    let out = Command::new("bash").arg(script()).args(args).output().expect("run nats-cluster.sh");
    assert!(
        out.status.success(),
        "nats-cluster.sh {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A running cluster; stopped on drop.
pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub urls: String,
}

impl TestCluster {
    pub fn start() -> TestCluster {
        let dir = tempfile::tempdir().unwrap();
        let urls = run(&["start", dir.path().to_str().unwrap()]);
        TestCluster { dir, urls }
    }

    fn dir_str(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    /// kill -9 of node `n` (1..=3).
    pub fn kill(&self, n: usize) {
        run(&["kill", self.dir_str(), &n.to_string()]);
    }

    /// Stops node `n` cleanly (SIGTERM).
    pub fn term(&self, n: usize) {
        run(&["term", self.dir_str(), &n.to_string()]);
    }

    /// Starts node `n` again (same ports and store).
    pub fn restart(&self, n: usize) {
        run(&["restart", self.dir_str(), &n.to_string()]);
    }

    /// The store directory of node `n`.
    pub fn store(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("n{n}"))
    }

    pub fn connect(&self) -> Cluster {
        Cluster::connect(&self.urls, 2).unwrap()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).args(["stop", self.dir_str()]).output();
    }
}

/// The node number (1..=3) that leads `log`'s stream now, waiting up to
/// 30 s for one.
pub fn leader(cluster: &Cluster, log: &JetStreamLog) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let name = cluster.block_on(async {
            let s = cluster.jetstream().get_stream(log.stream()).await.ok()?;
            let info = s.get_info().await.ok()?;
            info.cluster.and_then(|c| c.leader)
        });
        if let Some(n) = name.as_deref().and_then(|s| s.strip_prefix('n')).and_then(|s| s.parse().ok()) {
            return n;
        }
        assert!(Instant::now() < deadline, "no stream leader in 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (at most 60 s) until the stream has a leader and every other
/// replica reports itself current with no lag: a node restarted after a
/// kill has caught up. Returns how long it took.
pub fn caught_up(cluster: &Cluster, log: &JetStreamLog) -> Duration {
    let started = Instant::now();
    loop {
        let current = cluster.block_on(async {
            let s = cluster.jetstream().get_stream(log.stream()).await.ok()?;
            let info = s.get_info().await.ok()?;
            let c = info.cluster?;
            c.leader.as_ref()?;
            Some(c.replicas.len() == 2 && c.replicas.iter().all(|p| p.current && !p.offline && p.lag.unwrap_or(0) == 0))
        });
        if current == Some(true) {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the stream's replicas not current in 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `n` payloads tagged with `tag` (so two writers' records differ).
pub fn payloads(tag: &str, from: u64, n: u64) -> Vec<Vec<u8>> {
    (from..from + n).map(|i| format!("{tag}:{i:08}:{}", "x".repeat(80)).into_bytes()).collect()
}

pub fn records(p: &[Vec<u8>]) -> Vec<NewRecord<'_>> {
    p.iter().enumerate().map(|(i, p)| NewRecord { time_micros: i as i64, payload: p }).collect()
}
