//! `nats_ingest`: durable ingest into 3-replica JetStream streams
//! (`cardledger-nats`), batch 8,192 by default: one program on one stream,
//! then N programs on N streams from one host (one connection, one writer
//! thread per program). Each append is one atomic batch, acknowledged by a
//! quorum of `sync_interval: always` nodes. Payloads are 100 bytes (the
//! size of a typical encoded event, `docs/format.md`).
//!
//! Without `--urls` it starts its own 3-node loopback cluster through
//! `scripts/nats-cluster.sh` and stops it at the end.
//!
//! Run: `cargo run --release -p cardledger-benches --bin nats_ingest -- --events 1000000`
//! Options: `--events N` per program (default 1,000,000), `--batch B`
//! (default 8,192), `--programs P` for the second run (default 4),
//! `--urls nats://HOST:PORT[,HOST:PORT…]`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cardledger_core::record::{Head, NewRecord};
use cardledger_nats::Cluster;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    if let Err(e) = run() {
        eprintln!("nats_ingest: {e}");
        std::process::exit(1);
    }
}

/// A cluster this binary started; stopped on drop.
struct Owned(tempfile::TempDir);

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/nats-cluster.sh")
}

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(self.0.path()).output();
    }
}

fn run() -> Result<(), BoxError> {
    let mut events: u64 = 1_000_000;
    let mut batch: usize = 8192;
    let mut programs: usize = 4;
    let mut urls = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => events = args.next().ok_or("--events needs a number")?.replace('_', "").parse()?,
            "--batch" => batch = args.next().ok_or("--batch needs a number")?.replace('_', "").parse()?,
            "--programs" => programs = args.next().ok_or("--programs needs a number")?.parse()?,
            "--urls" => urls = Some(args.next().ok_or("--urls needs nats://HOST:PORT[,…]")?),
            other => {
                return Err(
                    format!("unknown argument {other}; use --events N [--batch B] [--programs P] [--urls U]").into()
                )
            }
        }
    }
    let (_owned, urls) = match urls {
        Some(u) => (None, u),
        None => {
            let dir = tempfile::tempdir()?;
            let out = Command::new("bash").arg(script()).arg("start").arg(dir.path()).output()?;
            if !out.status.success() {
                return Err(format!("nats-cluster.sh start: {}", String::from_utf8_lossy(&out.stderr)).into());
            }
            let urls = String::from_utf8(out.stdout)?.trim().to_owned();
            (Some(Owned(dir)), urls)
        }
    };
    let payload = vec![0x5au8; 100];
    let one = ingest(&urls, "bench-one", 1, events, batch, &payload)?;
    println!("nats_ingest: 1 program, 1 stream (R3), batch {batch}: {one:.0} events/s");
    let many = ingest(&urls, "bench-many", programs, events, batch, &payload)?;
    println!(
        "nats_ingest: {programs} programs, {programs} streams (R3), batch {batch}: {many:.0} events/s ({:.2}x the one-program figure)",
        many / one
    );
    Ok(())
}

/// Appends `events` records per program on `programs` streams at once;
/// returns records per second over all of them.
fn ingest(
    urls: &str,
    prefix: &str,
    programs: usize,
    events: u64,
    batch: usize,
    payload: &[u8],
) -> Result<f64, BoxError> {
    // one connection (and client runtime) per program's stream, so the
    // streams' batches do not queue behind each other in one connection's
    // writer task (docs/scale-out.md: the ratio moved from 1.47-1.51x with
    // one shared connection to 1.32-1.75x, within the run-to-run noise)
    let clusters = (0..programs).map(|_| Cluster::connect(urls, 2)).collect::<Result<Vec<_>, _>>()?;
    let logs = clusters
        .iter()
        .enumerate()
        .map(|(p, cluster)| cluster.open_log(&format!("{prefix}-{p}"), 3))
        .collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let threads: Vec<_> = logs
        .into_iter()
        .map(|log| {
            let payload = payload.to_vec();
            std::thread::spawn(move || -> Result<u64, cardledger_nats::NatsLogError> {
                let mut head: Head = log.head();
                let mut done = 0u64;
                while done < events {
                    let n = (events - done).min(batch as u64) as usize;
                    let records: Vec<NewRecord<'_>> = (0..n)
                        .map(|i| NewRecord { time_micros: (done as i64) + i as i64, payload: &payload })
                        .collect();
                    head = log.append(head, &records)?;
                    done += n as u64;
                }
                Ok(done)
            })
        })
        .collect();
    let mut total = 0u64;
    for t in threads {
        total += t.join().map_err(|_| "writer thread panicked")??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}
