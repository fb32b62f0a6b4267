//! Durable ingest of the seeded demo workload (`cardledger_benches::demo_commands`,
//! seed 42, 200,000 commands), engine and SQLite baseline side by side:
//! batches of 1, 64, 1,024 and 8,192, and 64 concurrent submitters of single
//! commands (group commit on the engine). Every batch is flushed (engine) or
//! committed with `synchronous=FULL` (baseline) before it returns.
//!
//! Run: `cargo bench -p cardledger-benches --bench ingest`
//! Quick: `cargo bench -p cardledger-benches --bench ingest -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cardledger_benches::baseline::Baseline;
use cardledger_benches::demo_commands;
use cardledger_core::engine::Engine;
use cardledger_domain::command::CommandLine;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Commands of the workload (the demo mix needs ≥ 200,000 for realistic state).
const EVENTS: u64 = 200_000;
/// Commands ingested before the concurrent measurement (programs, holders, sources).
const SETUP: usize = 20_000;
/// Submitter threads.
const SUBMITTERS: usize = 64;

/// Commands measured per batch size: one fsync per batch, so small batches
/// are measured on a prefix (the baseline's batch 1 is about 250 commits/s here).
fn measured(batch: usize, engine: bool) -> usize {
    match (batch, engine) {
        (1, true) => 1_000,
        (1, false) => 200,
        (64, _) => 50_000,
        _ => EVENTS as usize,
    }
}

fn ingest(c: &mut Criterion) {
    let commands = demo_commands(EVENTS);
    assert_eq!(commands.len() as u64, EVENTS);
    let mut group = c.benchmark_group("durable_ingest");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    for batch in [1usize, 64, 1024, 8192] {
        let n = measured(batch, true);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("engine", format!("batch_{batch}")), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().unwrap();
                    let engine = Engine::open(dir.path()).unwrap();
                    let batches: Vec<Vec<CommandLine>> = commands[..n].chunks(batch).map(<[_]>::to_vec).collect();
                    let start = Instant::now();
                    for chunk in batches {
                        engine.submit_batch_acks(chunk).unwrap();
                    }
                    total += start.elapsed();
                }
                total
            })
        });
        let n = measured(batch, false);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("sqlite_baseline", format!("batch_{batch}")), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().unwrap();
                    let mut baseline = Baseline::open(&dir.path().join("ledger.sqlite")).unwrap();
                    let start = Instant::now();
                    for chunk in commands[..n].chunks(batch) {
                        baseline.submit_batch(chunk).unwrap();
                    }
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

/// Round-robin shares of `work` for the submitters.
fn shares(work: &[CommandLine]) -> Vec<Vec<CommandLine>> {
    let mut s = vec![Vec::new(); SUBMITTERS];
    for (i, c) in work.iter().enumerate() {
        s[i % SUBMITTERS].push(c.clone());
    }
    s
}

fn concurrent(c: &mut Criterion) {
    let commands = demo_commands(EVENTS);
    let mut group = c.benchmark_group("durable_ingest_64_submitters_batch_1");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);

    let work = shares(&commands[SETUP..SETUP + 20_000]);
    group.throughput(Throughput::Elements(20_000));
    group.bench_function("engine", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let engine = Engine::open(dir.path()).unwrap();
                for chunk in commands[..SETUP].chunks(8192) {
                    engine.submit_batch_acks(chunk.to_vec()).unwrap();
                }
                let start = Instant::now();
                std::thread::scope(|s| {
                    for share in &work {
                        let engine = &engine;
                        s.spawn(move || {
                            for c in share {
                                engine.submit_batch_acks(vec![c.clone()]).unwrap();
                            }
                        });
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });

    // one transaction (one fsync) per command behind a mutex: ~850 commits/s
    let work = shares(&commands[SETUP..SETUP + 2_000]);
    group.throughput(Throughput::Elements(2_000));
    group.bench_function("sqlite_baseline", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let mut baseline = Baseline::open(&dir.path().join("ledger.sqlite")).unwrap();
                for chunk in commands[..SETUP].chunks(8192) {
                    baseline.submit_batch(chunk).unwrap();
                }
                let baseline = Mutex::new(baseline);
                let start = Instant::now();
                std::thread::scope(|s| {
                    for share in &work {
                        let baseline = &baseline;
                        s.spawn(move || {
                            for c in share {
                                baseline.lock().unwrap().submit_batch(std::slice::from_ref(c)).unwrap();
                            }
                        });
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, ingest, concurrent);
criterion_main!(benches);
