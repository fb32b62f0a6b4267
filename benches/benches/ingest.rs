//! Durable ingest through the library API: commands pre-parsed, submitted in
//! batches of 1, 64, 1,024 and 8,192; every batch flushed before it returns.
//! Run: `cargo bench -p cardledger-benches --bench ingest`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use cardledger_benches::bulk_commands;
use cardledger_core::engine::Engine;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: u64 = 200_000;

fn ingest(c: &mut Criterion) {
    let (commands, bad) = bulk_commands(7, EVENTS);
    assert_eq!(bad, 0);
    let mut group = c.benchmark_group("durable_ingest");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for batch in [1usize, 64, 1024, 8192] {
        // batch 1 is measured on a prefix: one fsync per event
        let n = if batch == 1 { 2_000 } else { commands.len() };
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().unwrap();
                    let engine = Engine::open(dir.path()).unwrap();
                    let start = Instant::now();
                    for chunk in commands[..n].chunks(batch) {
                        engine.submit_batch_acks(chunk.to_vec()).unwrap();
                    }
                    total += start.elapsed();
                    assert_eq!(engine.head_seq(), n as u64);
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
