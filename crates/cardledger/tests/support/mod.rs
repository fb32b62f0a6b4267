//! The facade suites' opener: the log backend is switched by
//! `CARDLEDGER_TEST_LOG` (`cardledger_nats::testing`), sled by default; the
//! `jetstream_*` test binaries run the same suites on a loopback cluster.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use cardledger::Cardledger;
use cardledger_nats::testing::{self, TestBackend};

fn jetstream_binary() -> bool {
    module_path!().starts_with("jetstream_")
}

/// The backend this test process runs on.
pub fn backend() -> TestBackend {
    testing::backend(jetstream_binary()).unwrap_or_else(|e| panic!("{e}"))
}

/// Opens (or reopens) the handle of `dir` on this process's backend.
pub fn open(dir: impl AsRef<Path>) -> Cardledger {
    let dir = dir.as_ref();
    match testing::log_for(&backend(), dir).unwrap_or_else(|e| panic!("test log for {}: {e}", dir.display())) {
        None => Cardledger::open(dir).unwrap(),
        Some(log) => Cardledger::open_on(dir, log).unwrap(),
    }
}
