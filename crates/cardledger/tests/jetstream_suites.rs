//! The facade suites (`facade.rs`, `as_of.rs`: views, statements, the
//! trial balance and as-of reads over the log) again, with every handle's
//! log on a JetStream stream of a 3-node loopback cluster this test process
//! starts and stops (`tests/support`: a binary named `jetstream_*` runs on
//! it; `CARDLEDGER_TEST_LOG` can name another cluster).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]
// each included suite declares `mod support` as it does in its own binary
#![allow(clippy::duplicate_mod)]

#[path = "as_of.rs"]
mod as_of;
#[path = "facade.rs"]
mod facade;

mod support;

/// The run above is a JetStream run: never a sled run by accident.
#[test]
fn the_suites_handles_keep_their_logs_on_jetstream() {
    assert_ne!(support::backend(), cardledger_nats::testing::TestBackend::Sled);
    let dir = tempfile::tempdir().unwrap();
    let ledger = support::open(dir.path());
    let described = ledger.engine().store().log_description();
    assert!(described.starts_with("JetStream stream cardledger-t"), "{described}");
}
