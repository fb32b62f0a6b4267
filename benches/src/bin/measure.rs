//! `measure`: streams the seeded demo workload into a fresh engine in
//! batches (the commands are generated and parsed batch by batch, never all
//! held in memory) and reports throughput, bytes on disk per event against
//! the encoded event bytes, and the process's peak resident memory (VmHWM
//! from /proc/self/status) while ingesting; then closes the engine (which
//! writes a snapshot) and reopens it, reporting where the reopen's time goes
//! (loading and decoding the snapshot, replaying the tail).
//!
//! Run: `cargo run --release -p cardledger-benches --bin measure -- --events 10000000`
//! Options: `--events N` (default 10,000,000), `--batch B` (default 8,192),
//! `--dir D` (parent of the temporary data directory).

use std::path::PathBuf;
use std::time::Instant;

use cardledger_benches::figures::{dir_bytes, FigureError};
use cardledger_core::engine::Engine;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Err(e) = run() {
        eprintln!("measure: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), FigureError> {
    let mut events: u64 = 10_000_000;
    let mut batch: usize = 8192;
    let mut dir = std::env::temp_dir();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => events = args.next().ok_or("--events needs a number")?.replace('_', "").parse()?,
            "--batch" => batch = args.next().ok_or("--batch needs a number")?.replace('_', "").parse()?,
            "--dir" => dir = PathBuf::from(args.next().ok_or("--dir needs a path")?),
            other => return Err(format!("unknown argument {other}; use --events N [--batch B] [--dir D]").into()),
        }
    }
    let data = tempfile::tempdir_in(&dir)?;
    let engine = Engine::open(data.path())?;
    let mut stream = cardledger_benches::demo_stream(events);
    let mut submitted = 0u64;
    let mut in_engine = std::time::Duration::ZERO;
    // the longest single batch: a batch that crosses a cold flush interval
    // pays whatever of the flush stays on the commit path
    let mut batches: Vec<std::time::Duration> = Vec::new();
    let start = Instant::now();
    loop {
        let chunk: Vec<_> = stream.by_ref().take(batch.max(1)).collect();
        if chunk.is_empty() {
            break;
        }
        submitted += chunk.len() as u64;
        let t = Instant::now();
        engine.submit_batch_acks(chunk)?;
        let took = t.elapsed();
        in_engine += took;
        batches.push(took);
        if submitted % 1_000_000 < batch as u64 {
            eprintln!("measure: {submitted} commands, VmHWM {} KiB", vm_hwm_kib()?);
        }
    }
    let wall = start.elapsed();
    let recorded = engine.head_seq();
    let mut payload = 0u64;
    for r in engine.store().read_from(1) {
        payload += r?.payload.len() as u64;
    }
    let peak_ingest_kib = vm_hwm_kib()?;
    // a clean close writes a snapshot; the reopen loads it and replays the tail
    let t = Instant::now();
    drop(engine);
    let close = t.elapsed();
    let disk = dir_bytes(data.path())?;
    let t = Instant::now();
    let engine = Engine::open(data.path())?;
    let reopen = t.elapsed();
    let report = engine.open_report().clone();
    let snapshot_bytes = engine.store().snapshot_bytes()?;
    drop(engine);
    let per = |v: u64| v as f64 / recorded.max(1) as f64;
    println!("commands_submitted {submitted}");
    println!("events_recorded {recorded}");
    println!("wall_seconds_generate_parse_ingest {:.2}", wall.as_secs_f64());
    println!("engine_seconds {:.2}", in_engine.as_secs_f64());
    println!("engine_events_per_s {:.0}", submitted as f64 / in_engine.as_secs_f64().max(1e-9));
    batches.sort_unstable();
    let nth = |q: f64| batches.get(((batches.len() as f64 - 1.0) * q) as usize).map_or(0.0, |d| d.as_secs_f64());
    println!("median_batch_seconds {:.3}", nth(0.5));
    println!("longest_batch_seconds {:.3}", nth(1.0));
    println!("peak_memory_mib {:.1}", peak_ingest_kib as f64 / 1024.0);
    println!("close_seconds_with_snapshot {:.3}", close.as_secs_f64());
    println!("snapshot_bytes {snapshot_bytes}");
    println!("reopen_seconds {:.3}", reopen.as_secs_f64());
    println!("reopen_snapshot_seq {}", report.snapshot_seq.unwrap_or(0));
    println!("reopen_snapshot_load_decode_seconds {:.3}", report.snapshot_micros as f64 / 1e6);
    println!("reopen_replayed_events {}", report.replayed);
    println!("reopen_replay_seconds {:.3}", report.replay_micros as f64 / 1e6);
    println!("disk_bytes_per_event {:.1}", per(disk));
    println!("payload_bytes_per_event {:.1}", per(payload));
    println!("disk_over_payload {:.2}", disk as f64 / payload.max(1) as f64);
    Ok(())
}

/// Peak resident set size of this process so far, in KiB.
fn vm_hwm_kib() -> Result<u64, FigureError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or("no VmHWM in /proc/self/status")?;
    Ok(line.split_whitespace().nth(1).ok_or("bad VmHWM line")?.parse()?)
}
