//! The engine suites' opener: the log backend is switched here, and only
//! here, by `CARDLEDGER_TEST_LOG` (`cardledger_nats::testing`): sled by
//! default, a JetStream stream per data directory otherwise; the
//! `jetstream_*` test binaries run the same suites on a loopback cluster.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use cardledger_core::engine::{Engine, EngineError, OpenOptions};
use cardledger_nats::testing::{self, TestBackend};

/// Whether this test binary is a JetStream run of a suite.
fn jetstream_binary() -> bool {
    module_path!().starts_with("jetstream_")
}

/// The backend this test process runs on.
pub fn backend() -> TestBackend {
    testing::backend(jetstream_binary()).unwrap_or_else(|e| panic!("{e}"))
}

/// True when the engines of this process keep their logs on JetStream.
pub fn on_jetstream() -> bool {
    backend() != TestBackend::Sled
}

/// Opens (or reopens) the engine of `dir` on this process's backend.
pub fn try_open_with(dir: &Path, options: OpenOptions) -> Result<Engine, EngineError> {
    match testing::log_for(&backend(), dir).unwrap_or_else(|e| panic!("test log for {}: {e}", dir.display())) {
        None => Engine::open_with(dir, options),
        Some(log) => Engine::open_on(dir, options, log),
    }
}

/// [`try_open_with`] with the default options.
pub fn try_open(dir: &Path) -> Result<Engine, EngineError> {
    try_open_with(dir, OpenOptions::default())
}

/// [`try_open`], which must succeed.
pub fn open(dir: &Path) -> Engine {
    try_open(dir).unwrap()
}
