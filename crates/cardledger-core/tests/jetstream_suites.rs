//! The engine and projection suites again, with every engine's log on a
//! JetStream stream of a 3-node cluster on 127.0.0.1 that this test process
//! starts (`scripts/nats-cluster.sh`, the pinned server) and stops at its
//! end: `tests/support` opens engines on JetStream in a binary named
//! `jetstream_*` (or wherever `CARDLEDGER_TEST_LOG` names a cluster), so
//! the same test bodies run on both backends. The tests that damage the
//! sled log's bytes through its hooks stay on sled here too (the JetStream
//! damage tests are `crates/cardledger-nats/tests/corruption.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]
// each included suite declares `mod support` as it does in its own binary
#![allow(clippy::duplicate_mod)]

#[path = "engine.rs"]
mod engine;
#[path = "projection.rs"]
mod projection;

mod support;

/// The run above is a JetStream run: never a sled run by accident.
#[test]
fn the_suites_engines_keep_their_logs_on_jetstream() {
    assert!(support::on_jetstream(), "backend: {:?}", support::backend());
    let dir = tempfile::tempdir().unwrap();
    let engine = support::open(dir.path());
    assert!(engine.store().is_external());
    let described = engine.store().log_description();
    assert!(described.starts_with("JetStream stream cardledger-t"), "{described}");
}
