//! `log_replay`: how fast the log is read back, the storage side of every
//! full replay. Ingests the seeded demo workload into a fresh engine at
//! batch 8,192 (as `compare` does), then times, best of three:
//!
//! - `store_verify_events_per_s`: `Store::verify` — every frame's crcs and
//!   the hash chain from genesis (no payload copied);
//! - `store_read_events_per_s`: one `Store::read_from(1)` pass — what every
//!   replay reads (each record's payload copied and its chain hash named);
//! - `engine_verify_events_per_s`: `Engine::verify` — both of the above,
//!   decoding and applying every event into a fresh state, and the digest;
//! - `engine_open_replay_events_per_s`: `Engine::open` of the store with its
//!   snapshots and cold entries removed, so it replays from genesis (the
//!   `reopen_replay_events_per_s` figure of issue 13).
//!
//! Run: `cargo run --release -p cardledger-benches --bin log_replay -- --events 300000`
//! Options: `--events N` (default 300,000), `--dir D` (parent of the
//! temporary data directory), `--store S` (keep the store in S instead: an
//! S that already holds a store is reused as it is, not ingested again),
//! `--open-only` (time only the open's replay, e.g. under a profiler).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cardledger_benches::figures::FigureError;
use cardledger_core::engine::Engine;
use cardledger_core::store::Store;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Err(e) = run() {
        eprintln!("log_replay: {e}");
        std::process::exit(1);
    }
}

/// The best of three runs of `f`, which returns how many events it read.
fn best_of_three(mut f: impl FnMut() -> Result<u64, FigureError>) -> Result<(u64, Duration), FigureError> {
    let mut best: Option<(u64, Duration)> = None;
    for _ in 0..3 {
        let start = Instant::now();
        let n = f()?;
        let took = start.elapsed();
        if best.is_none_or(|(_, b)| took < b) {
            best = Some((n, took));
        }
    }
    best.ok_or_else(|| "no run".into())
}

fn print(name: &str, (events, took): (u64, Duration)) {
    println!("{name} {:.0}", events as f64 / took.as_secs_f64().max(1e-9));
}

fn run() -> Result<(), FigureError> {
    let mut events: u64 = 300_000;
    let mut dir = std::env::temp_dir();
    let mut kept: Option<PathBuf> = None;
    let mut open_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => events = args.next().ok_or("--events needs a number")?.replace('_', "").parse()?,
            "--dir" => dir = PathBuf::from(args.next().ok_or("--dir needs a path")?),
            "--store" => kept = Some(PathBuf::from(args.next().ok_or("--store needs a path")?)),
            "--open-only" => open_only = true,
            other => {
                return Err(
                    format!("unknown argument {other}; use --events N [--dir D] [--store S] [--open-only]").into()
                )
            }
        }
    }
    let temp = tempfile::tempdir_in(&dir)?;
    let data = kept.unwrap_or_else(|| temp.path().to_path_buf());
    let existing = Store::open(&data)?.head().seq;
    let recorded = if existing > 0 {
        existing
    } else {
        let commands = cardledger_benches::demo_commands(events);
        let engine = Engine::open(&data)?;
        for chunk in commands.chunks(8192) {
            engine.submit_batch_acks(chunk.to_vec())?;
        }
        engine.head_seq()
    };
    println!("events_recorded {recorded}");
    let data = data.as_path();
    if !open_only {
        let store = Store::open(data)?;
        print("store_verify_events_per_s", best_of_three(|| Ok(store.verify()?.seq))?);
        print(
            "store_read_events_per_s",
            best_of_three(|| {
                let mut n = 0u64;
                for r in store.read_from(1) {
                    r?;
                    n += 1;
                }
                Ok(n)
            })?,
        );
    }
    if !open_only {
        let engine = Engine::open(data)?;
        print("engine_verify_events_per_s", best_of_three(|| Ok(engine.verify()?.records))?);
    }
    let mut open: Option<Duration> = None;
    for _ in 0..3 {
        {
            let store = Store::open(data)?;
            for seq in store.snapshot_seqs()? {
                store.delete_snapshot(seq)?;
            }
            store.clear_cold()?;
        }
        let start = Instant::now();
        let engine = Engine::open(data)?;
        let took = start.elapsed();
        let replayed = engine.open_report().replayed;
        if replayed != recorded {
            return Err(format!("the reopen replayed {replayed} of {recorded} events").into());
        }
        open = Some(open.map_or(took, |b| b.min(took)));
        drop(engine);
    }
    print("engine_open_replay_events_per_s", (recorded, open.ok_or("no run")?));
    Ok(())
}
