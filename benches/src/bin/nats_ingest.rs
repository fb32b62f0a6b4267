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
//! `--fill BYTES` (the record bytes at which a frame closes: default the
//! log's own, `NATS_FRAME_FILL_BYTES`), `--urls nats://HOST:PORT[,HOST:PORT…]`.
//!
//! Each run also prints the CPU time it took per event (user + system,
//! from `/proc/PID/stat` before and after): of this process and, on its
//! own cluster, of each nats-server node (`docs/scale-out.md`), and the
//! load average when it started (the machine may be shared).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cardledger_core::record::{FrameFill, Head, NewRecord};
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
    let mut fill = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => events = args.next().ok_or("--events needs a number")?.replace('_', "").parse()?,
            "--batch" => batch = args.next().ok_or("--batch needs a number")?.replace('_', "").parse()?,
            "--programs" => programs = args.next().ok_or("--programs needs a number")?.parse()?,
            "--urls" => urls = Some(args.next().ok_or("--urls needs nats://HOST:PORT[,…]")?),
            "--fill" => {
                let bytes: usize = args.next().ok_or("--fill needs a number of bytes")?.replace('_', "").parse()?;
                fill = Some(FrameFill::new(bytes)?);
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; use --events N [--batch B] [--programs P] [--fill BYTES] [--urls U]"
                )
                .into())
            }
        }
    }
    let (owned, urls) = match urls {
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
    // the processes whose CPU time is counted: this one, and the nodes of
    // a cluster this binary started (their pid files)
    let mut procs = vec![("bench".to_owned(), std::process::id())];
    if let Some(Owned(dir)) = &owned {
        for n in 1..=3 {
            let pid = std::fs::read_to_string(dir.path().join(format!("n{n}.pid")))?.trim().parse()?;
            procs.push((format!("n{n}"), pid));
        }
    }
    let ticks_per_sec: f64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(100.0);
    let payload = vec![0x5au8; 100];
    let run = |prefix: &str, n: usize| -> Result<f64, BoxError> {
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let before = cpu_ticks(&procs)?;
        let start = Instant::now();
        let (rate, fill_used) = ingest(&urls, prefix, n, events, batch, fill, &payload)?;
        let wall = start.elapsed().as_secs_f64();
        let after = cpu_ticks(&procs)?;
        let total_events = (events * n as u64) as f64;
        let mut line = String::new();
        let (mut sum, mut system) = (0.0, 0.0);
        for ((name, _), (b, a)) in procs.iter().zip(before.iter().zip(&after)) {
            let user = a.0.saturating_sub(b.0) as f64 / ticks_per_sec;
            let sys = a.1.saturating_sub(b.1) as f64 / ticks_per_sec;
            sum += user + sys;
            system += sys;
            line.push_str(&format!(" {name} {:.2}", (user + sys) * 1e6 / total_events));
        }
        println!(
            "nats_ingest: {n} program(s), {n} stream(s) (R3), batch {batch}, frame fill {fill_used} B: {rate:.0} events/s; \
             CPU µs/event:{line} total {:.2} (system {:.2}; {:.0}% of 2 cores for {wall:.2} s); load average at start {}",
            sum * 1e6 / total_events,
            system * 1e6 / total_events,
            sum / wall / 2.0 * 100.0,
            load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
        );
        Ok(rate)
    };
    let one = run("bench-one", 1)?;
    println!("nats_ingest: 1 program, 1 stream (R3), batch {batch}: {one:.0} events/s");
    let many = run("bench-many", programs)?;
    println!(
        "nats_ingest: {programs} programs, {programs} streams (R3), batch {batch}: {many:.0} events/s ({:.2}x the one-program figure)",
        many / one
    );
    drop(owned);
    Ok(())
}

/// User and system clock ticks so far of each process (all its threads):
/// fields 14 and 15 of `/proc/PID/stat`, after the command name's `)`.
fn cpu_ticks(procs: &[(String, u32)]) -> Result<Vec<(u64, u64)>, BoxError> {
    procs
        .iter()
        .map(|(name, pid)| -> Result<(u64, u64), BoxError> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
            let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| format!("{name}: unreadable stat"))?;
            // after ")": state is field 3, utime 14, stime 15
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |i: usize| -> Result<u64, BoxError> {
                Ok(fields.get(i - 3).ok_or_else(|| format!("{name}: short stat"))?.parse()?)
            };
            Ok((field(14)?, field(15)?))
        })
        .collect()
}

/// Appends `events` records per program on `programs` streams at once;
/// returns records per second over all of them.
fn ingest(
    urls: &str,
    prefix: &str,
    programs: usize,
    events: u64,
    batch: usize,
    fill: Option<FrameFill>,
    payload: &[u8],
) -> Result<(f64, usize), BoxError> {
    // one connection (and client runtime) per program's stream, so the
    // streams' batches do not queue behind each other in one connection's
    // writer task (docs/scale-out.md: the ratio moved from 1.47-1.51x with
    // one shared connection to 1.32-1.75x, within the run-to-run noise)
    let clusters = (0..programs).map(|_| Cluster::connect(urls, 2)).collect::<Result<Vec<_>, _>>()?;
    let logs = clusters
        .iter()
        .enumerate()
        .map(|(p, cluster)| {
            let log = cluster.open_log(&format!("{prefix}-{p}"), 3)?;
            match fill {
                Some(f) => log.with_frame_fill(f),
                None => Ok(log),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let fill_used = logs.first().map_or(0, |l| l.frame_fill().bytes());
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
    Ok((total as f64 / start.elapsed().as_secs_f64(), fill_used))
}
