//! `compare`: the engine and the SQLite baseline on the same seeded demo
//! workload in one process run, one line per figure:
//! `figure engine baseline ratio` (ratio = engine / baseline). The last line
//! is the ingest ratio at batch 8,192.
//!
//! Run: `cargo run --release -p cardledger-benches --bin compare -- --events 1000000`
//! Options: `--events N` (default 1,000,000), `--dir D` (where the temporary
//! data goes; default the system temporary directory), `--no-statements`
//! (skip the statement close of 100,000 accounts, whose set-up ingests
//! 375,003 more commands; its line then prints `-`), `--only 1,2,4` (only
//! the figures at those places of the full run's print order, from 1).

use std::path::PathBuf;
use std::time::Instant;

use cardledger_benches::figures::{Ctx, FigureError, FIGURES};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Err(e) = run() {
        eprintln!("compare: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), FigureError> {
    let mut events: u64 = 1_000_000;
    let mut dir = std::env::temp_dir();
    let mut statements = true;
    let mut only: Option<Vec<usize>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => events = args.next().ok_or("--events needs a number")?.replace('_', "").parse()?,
            "--dir" => dir = PathBuf::from(args.next().ok_or("--dir needs a path")?),
            "--no-statements" => statements = false,
            "--only" => {
                let places = args.next().ok_or("--only needs figure places, e.g. 1,4")?;
                only = Some(places.split(',').map(str::parse).collect::<Result<_, _>>()?);
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; use --events N [--dir D] [--no-statements] [--only 1,4]"
                )
                .into())
            }
        }
    }
    let start = Instant::now();
    let commands = cardledger_benches::demo_commands(events);
    eprintln!(
        "compare: {} demo commands (seed {}) generated and parsed in {:.1?}",
        commands.len(),
        cardledger_benches::SEED,
        start.elapsed()
    );
    let mut ctx = Ctx::new(commands, &dir)?;
    ctx.statements = statements;
    println!("figure engine baseline ratio");
    for (place, figure) in (1..).zip(FIGURES) {
        if only.as_ref().is_some_and(|o| !o.contains(&place)) {
            continue;
        }
        let started = Instant::now();
        let f = figure(&mut ctx)?;
        eprintln!("compare: {} measured in {:.1?}", f.name, started.elapsed());
        println!("{}", f.line());
    }
    Ok(())
}
