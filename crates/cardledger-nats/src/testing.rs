//! The one home of the test suites' log backend switch.
//!
//! `CARDLEDGER_TEST_LOG` picks the log the engine suites run on:
//! unset or `sled` → the embedded sled store; `nats://HOST:PORT[,…]` → a
//! stream per test data directory on that cluster; `loopback` → a 3-node
//! cluster on 127.0.0.1 started for the test process by
//! `scripts/nats-cluster.sh` (the pinned server; stopped when the process
//! ends). A test binary whose name starts with `jetstream_` defaults to
//! `loopback` (the JetStream runs of the suites under `cargo test`), so it
//! never falls back to sled without saying so. Each data directory maps to
//! its own stream (a name derived from the directory and the process), so
//! a test that reopens its directory reopens its stream. What the tests
//! call is the suites' `support::open*` (`crates/*/tests/support/`), which
//! asks [`log_for`] here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cardledger_core::log::Log;

use crate::error::NatsLogError;
use crate::log::Cluster;

/// The environment variable that switches the suites' log backend.
pub const TEST_LOG_VAR: &str = "CARDLEDGER_TEST_LOG";

/// Which backend a test runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestBackend {
    /// The embedded sled store.
    Sled,
    /// A cluster at these URLs (`nats://…`).
    Nats(String),
    /// A loopback cluster started for this process.
    Loopback,
}

/// The backend `CARDLEDGER_TEST_LOG` names; `jetstream_binary` (the test
/// binary's name starts with `jetstream_`) makes an unset variable mean
/// `loopback`. An unknown value is an error, never a silent sled run.
pub fn backend(jetstream_binary: bool) -> Result<TestBackend, NatsLogError> {
    let value = std::env::var(TEST_LOG_VAR).unwrap_or_default();
    match value.as_str() {
        "" if jetstream_binary => Ok(TestBackend::Loopback),
        "" | "sled" if !jetstream_binary => Ok(TestBackend::Sled),
        "loopback" => Ok(TestBackend::Loopback),
        v if v.starts_with("nats://") => Ok(TestBackend::Nats(v.to_owned())),
        v => Err(NatsLogError::InvalidUrl {
            reason: format!(
                "{TEST_LOG_VAR}={v:?}: expected sled, loopback or nats://HOST:PORT[,…] (sled is not a JetStream run)"
            ),
        }),
    }
}

/// The log for an engine whose data directory is `dir` on `backend`:
/// `None` for sled, else the stream of `dir` (created on first use).
pub fn log_for(backend: &TestBackend, dir: &Path) -> Result<Option<Arc<dyn Log>>, NatsLogError> {
    let urls = match backend {
        TestBackend::Sled => return Ok(None),
        TestBackend::Nats(urls) => urls.clone(),
        TestBackend::Loopback => loopback()?,
    };
    // created first, so the directory's path (and stream) is the same at every open
    std::fs::create_dir_all(dir).map_err(|e| NatsLogError::Unavailable(format!("{}: {e}", dir.display())))?;
    let cluster = cluster(&urls)?;
    let log = cluster.open_log(&program_for(dir), 3)?;
    Ok(Some(Arc::new(log)))
}

/// The program token (stream) of a test data directory: `t` + 24 hex
/// digits of blake3 over this process's salt and the directory's path.
pub fn program_for(dir: &Path) -> String {
    static SALT: OnceLock<String> = OnceLock::new();
    let salt = SALT.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{}:{nanos}", std::process::id())
    });
    let path = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut h = blake3::Hasher::new();
    h.update(salt.as_bytes());
    h.update(path.to_string_lossy().as_bytes());
    let hex = h.finalize().to_hex();
    format!("t{}", hex.as_str().get(..24).unwrap_or(hex.as_str()))
}

/// One connection per URL list per process, shared by the tests' logs.
fn cluster(urls: &str) -> Result<Cluster, NatsLogError> {
    static CLUSTERS: OnceLock<Mutex<Vec<(String, Cluster)>>> = OnceLock::new();
    let mut all = CLUSTERS.get_or_init(|| Mutex::new(Vec::new())).lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, c)) = all.iter().find(|(u, _)| u == urls) {
        return Ok(c.clone());
    }
    let c = Cluster::connect(urls, 2)?;
    all.push((urls.to_owned(), c.clone()));
    Ok(c)
}

/// The URLs of this process's loopback cluster, started on first use with
/// `scripts/nats-cluster.sh` in a temporary directory. A watcher process
/// stops it (and removes the directory) when this process ends.
pub fn loopback() -> Result<String, NatsLogError> {
    static URLS: OnceLock<Result<String, String>> = OnceLock::new();
    URLS.get_or_init(start_loopback).clone().map_err(NatsLogError::Unavailable)
}

/// `scripts/nats-cluster.sh` of this source tree.
pub fn cluster_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/nats-cluster.sh")
}

fn start_loopback() -> Result<String, String> {
    let script = cluster_script();
    let base = std::env::temp_dir();
    let dir = base.join(format!("cardledger-test-nats-{}", program_for(&base)));
    let dir_text = dir.to_string_lossy().into_owned();
    let out = Command::new("bash")
        .arg(&script)
        .args(["start", &dir_text])
        .output()
        .map_err(|e| format!("run {}: {e}", script.display()))?;
    // the watcher is started even when `start` failed half-way
    let watcher = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; bash '{script}' stop '{dir}' >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        script = script.display(),
        dir = dir_text,
    );
    Command::new("sh")
        .args(["-c", &watcher])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("start the cluster's watcher: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "nats-cluster.sh start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let urls = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let urls = urls.lines().last().unwrap_or("").to_owned();
    if !urls.starts_with("nats://") {
        return Err(format!("nats-cluster.sh start printed {urls:?}, not nats://…"));
    }
    Ok(urls)
}

/// A 3-node JetStream cluster on 127.0.0.1 of its own, for tests that stop,
/// kill, restart or damage its nodes (the shared [`loopback`] cluster must
/// not be): started with `scripts/nats-cluster.sh` in a new directory under
/// the system's temporary directory, stopped and removed on drop. The one
/// home of the kill/restart/leader helpers of the log's and the facade's
/// failover and corruption tests.
pub struct TestCluster {
    dir: PathBuf,
    urls: String,
}

impl TestCluster {
    /// Starts the three nodes and waits until they have a meta leader.
    pub fn start() -> Result<TestCluster, NatsLogError> {
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = std::env::temp_dir();
        let dir = base.join(format!("cardledger-test-cluster-{}-{n}", program_for(&base)));
        std::fs::create_dir_all(&dir).map_err(|e| NatsLogError::Unavailable(format!("{}: {e}", dir.display())))?;
        // dropped (stopped, removed) even when `start` fails half-way
        let mut tc = TestCluster { dir, urls: String::new() };
        let out = tc.script(&["start"])?;
        let urls = out.lines().last().unwrap_or("").trim().to_owned();
        if !urls.starts_with("nats://") {
            return Err(NatsLogError::Unavailable(format!("nats-cluster.sh start printed {out:?}, not nats://…")));
        }
        tc.urls = urls;
        Ok(tc)
    }

    /// The client URLs, `nats://127.0.0.1:P1,…,P3`.
    pub fn urls(&self) -> &str {
        &self.urls
    }

    /// The cluster's directory (configs, logs, a store directory per node).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new connection to the cluster.
    pub fn connect(&self) -> Result<Cluster, NatsLogError> {
        Cluster::connect(&self.urls, 2)
    }

    /// kill -9 of node `n` (1..=3); returns once the process is gone.
    pub fn kill(&self, n: usize) -> Result<(), NatsLogError> {
        self.script(&["kill", &n.to_string()]).map(drop)
    }

    /// Stops node `n` cleanly (SIGTERM).
    pub fn term(&self, n: usize) -> Result<(), NatsLogError> {
        self.script(&["term", &n.to_string()]).map(drop)
    }

    /// Starts node `n` again (same ports and store); returns once it answers.
    pub fn restart(&self, n: usize) -> Result<(), NatsLogError> {
        self.script(&["restart", &n.to_string()]).map(drop)
    }

    /// The store directory of node `n`.
    pub fn store(&self, n: usize) -> PathBuf {
        self.dir.join(format!("n{n}"))
    }

    /// `nats-cluster.sh CMD DIR ARGS…`, its standard output.
    fn script(&self, args: &[&str]) -> Result<String, NatsLogError> {
        let script = cluster_script();
        let (cmd, rest) = args.split_first().map_or(("", &[][..]), |(c, r)| (*c, r));
        let out = Command::new("bash")
            .arg(&script)
            .arg(cmd)
            .arg(&self.dir)
            .args(rest)
            .output()
            .map_err(|e| NatsLogError::Unavailable(format!("run {}: {e}", script.display())))?;
        if !out.status.success() {
            return Err(NatsLogError::Unavailable(format!(
                "nats-cluster.sh {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = self.script(&["stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The stream's cluster information now, `None` while no server answers.
fn stream_cluster(cluster: &Cluster, stream: &str) -> Option<async_nats::jetstream::stream::ClusterInfo> {
    cluster.block_on(async {
        let s = cluster.jetstream().get_stream(stream).await.ok()?;
        s.get_info().await.ok()?.cluster
    })
}

/// The node number (1..=3) that leads `stream` now, waiting up to 30 s for
/// one (`Unavailable` after that).
pub fn leader(cluster: &Cluster, stream: &str) -> Result<usize, NatsLogError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let name = stream_cluster(cluster, stream).and_then(|c| c.leader);
        if let Some(n) = name.as_deref().and_then(|s| s.strip_prefix('n')).and_then(|s| s.parse().ok()) {
            return Ok(n);
        }
        if Instant::now() >= deadline {
            return Err(NatsLogError::Unavailable(format!("no leader of {stream} in 30 s")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (at most 60 s) until `stream` has a leader and both other
/// replicas report themselves current with no lag: a node restarted after
/// a kill has caught up (killing the one current replica while the other
/// still catches up would be two faults at once for 3 replicas). Returns
/// how long it took.
pub fn caught_up(cluster: &Cluster, stream: &str) -> Result<Duration, NatsLogError> {
    let started = Instant::now();
    loop {
        let current = stream_cluster(cluster, stream).is_some_and(|c| {
            c.leader.is_some()
                && c.replicas.len() == 2
                && c.replicas.iter().all(|p| p.current && !p.offline && p.lag.unwrap_or(0) == 0)
        });
        if current {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= Duration::from_secs(60) {
            return Err(NatsLogError::Unavailable(format!("the replicas of {stream} not current in 60 s")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Makes node `node` the leader of `stream` (a leader step-down preferring
/// it, repeated), waiting up to 60 s.
pub fn make_leader(cluster: &Cluster, stream: &str, node: usize) -> Result<(), NatsLogError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while leader(cluster, stream)? != node {
        if Instant::now() >= deadline {
            return Err(NatsLogError::Unavailable(format!("n{node} did not become the leader of {stream} in 60 s")));
        }
        let subject = format!("$JS.API.STREAM.LEADER.STEPDOWN.{stream}");
        let body = format!(r#"{{"placement":{{"preferred":"n{node}"}}}}"#);
        let _ = cluster.block_on(cluster.client().request(subject, body.into()));
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}

/// Flips one byte (`offset` bytes after the first occurrence of `needle`)
/// in every message block file (`…/msgs/*.blk`) under `store` that holds
/// `needle`: damage to a stopped node's copy of a message. Returns how many
/// files were changed.
pub fn flip_in_store(store: &Path, needle: &[u8], offset: usize) -> Result<usize, NatsLogError> {
    let io = |p: &Path, e: std::io::Error| NatsLogError::Unavailable(format!("{}: {e}", p.display()));
    let mut hits = 0;
    let mut stack = vec![store.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
            let p = e.map_err(|e| io(&d, e))?.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if !p.to_string_lossy().contains("/msgs/") || p.extension().is_none_or(|e| e != "blk") {
                continue;
            }
            let mut bytes = std::fs::read(&p).map_err(|e| io(&p, e))?;
            let Some(at) = bytes.windows(needle.len().max(1)).position(|w| w == needle) else { continue };
            if let Some(b) = bytes.get_mut(at + needle.len() + offset) {
                *b ^= 0x01;
                std::fs::write(&p, &bytes).map_err(|e| io(&p, e))?;
                hits += 1;
            }
        }
    }
    Ok(hits)
}
