//! `as_of`: what the as-of reads and the trial balance cost on a large log.
//! Streams N commands of the seeded demo workload into a fresh store (as
//! `measure` does), reopens it through the facade, then times, each once
//! (the first call is the one an auditor waits for):
//!
//! - resolving `as_of_seq` (a frame read) and `as_of_time` (a scan of frame
//!   headers up to the time) at the middle of the log;
//! - `balances` as of the middle (`Engine::state_as_of`: the newest snapshot
//!   at or below the seq with the cold runs written by then, else genesis,
//!   then a replay to the seq), and where its time goes (snapshot, replay);
//! - the trial balance at the head (cold: the projection folded from
//!   genesis; warm: caught up) and as of the middle (folded from genesis:
//!   the stored checkpoint is past it);
//! - a view (`programbalances/day`) as of the middle;
//! - one account's postings as of the middle (a log scan).
//!
//! Run: `cargo run --release -p cardledger-benches --bin as_of -- --events 1000000`
//! Options: `--events N` (default 1,000,000), `--dir D` (parent of the
//! temporary data directory).

use std::path::PathBuf;
use std::time::Instant;

use cardledger::{AsOf, Cardledger, Holder, PostingsQuery, ViewRequest};
use cardledger_benches::figures::FigureError;
use cardledger_core::engine::Engine;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Err(e) = run() {
        eprintln!("as_of: {e}");
        std::process::exit(1);
    }
}

fn timed<R>(what: &str, f: impl FnOnce() -> Result<R, cardledger::Error>) -> Result<R, FigureError> {
    let t = Instant::now();
    let r = f().map_err(|e| format!("{what}: {e}"))?;
    println!("{what:<40} {:>10.1} ms", t.elapsed().as_secs_f64() * 1e3);
    Ok(r)
}

fn run() -> Result<(), FigureError> {
    let mut events: u64 = 1_000_000;
    let mut dir = std::env::temp_dir();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => events = args.next().ok_or("--events needs a number")?.replace('_', "").parse()?,
            "--dir" => dir = PathBuf::from(args.next().ok_or("--dir needs a path")?),
            other => return Err(format!("unknown argument {other}; use --events N [--dir D]").into()),
        }
    }
    let data = tempfile::tempdir_in(&dir)?;
    {
        let engine = Engine::open(data.path())?;
        let mut stream = cardledger_benches::demo_stream(events);
        let t = Instant::now();
        loop {
            let chunk: Vec<_> = stream.by_ref().take(8192).collect();
            if chunk.is_empty() {
                break;
            }
            engine.submit_batch_acks(chunk)?;
        }
        eprintln!("as_of: {} events recorded in {:.1} s", engine.head_seq(), t.elapsed().as_secs_f64());
    }
    let ledger = Cardledger::open(data.path()).map_err(|e| e.to_string())?;
    let head = ledger.head_seq();
    let mid = head / 2;
    println!("events {head}, as_of_seq {mid}");
    let holder: Holder = {
        let state = ledger.engine().state_as_of(mid / 2)?;
        let mut hs: Vec<&Holder> = state.holders.keys().collect();
        hs.sort();
        hs.first().map(|h| (*h).clone()).ok_or("no holder")?
    };
    let at = timed("resolve as_of_seq", || ledger.resolve(AsOf::Seq(mid)))?;
    let time = ledger.engine().event(mid)?.ok_or("no event at mid")?.rec.time;
    let by_time = timed("resolve as_of_time (scan)", || ledger.resolve(AsOf::Time(time)))?;
    println!("  as_of_time {time} -> seq {}", by_time.seq);
    timed("balances as of the middle", || ledger.balances_at(&holder, AsOf::Seq(at.seq)))?;
    // where that time goes (a second, warm call): the snapshot it started
    // from, its load, and the replay from there
    let (_, how) = ledger.engine().state_as_of_report(at.seq)?;
    println!(
        "  state_as_of({}): snapshot {:?} of {:?} kept, load {:.1} ms, {} events replayed in {:.1} ms",
        at.seq,
        how.snapshot_seq,
        ledger.engine().store().snapshot_seqs()?,
        how.snapshot_micros as f64 / 1e3,
        how.replayed,
        how.replay_micros as f64 / 1e3
    );
    timed("trialbalance at the head (cold fold)", || ledger.trial_balance(None, AsOf::Head))?;
    let tb = timed("trialbalance at the head (warm)", || ledger.trial_balance(None, AsOf::Head))?;
    println!("  {} accounts", tb.get("accounts").and_then(|a| a.as_array()).map_or(0, Vec::len));
    timed("trialbalance as of the middle", || ledger.trial_balance(None, AsOf::Seq(at.seq)))?;
    let pairs = vec![
        ("program".to_string(), "prog_alpha".to_string()),
        ("count".to_string(), "30".to_string()),
        ("as_of_seq".to_string(), at.seq.to_string()),
    ];
    let request = ViewRequest::parse("programbalances", "day", &pairs).map_err(|e| e.to_string())?;
    timed("view programbalances as of the middle", || ledger.view_json(&request))?;
    let q = PostingsQuery { count: 100, start_index: 0, descending: true, as_of: AsOf::Seq(at.seq) };
    timed("postings program_bank as of the middle", || ledger.postings("program_bank:prog_alpha", &q))?;
    Ok(())
}
