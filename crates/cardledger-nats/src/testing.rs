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
