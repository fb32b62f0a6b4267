//! The figures of the `compare` command: the engine and the SQLite baseline
//! on the same parsed workload, in one process run. Each figure is a named
//! function in [`FIGURES`]; adding a figure is adding a function there.
//!
//! Every ingest is durable on both sides: the engine flushes each batch (one
//! `sled` flush, an fsync) before acknowledging it; the baseline commits
//! each batch's transaction with `synchronous=FULL` (an fsync of the WAL).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cardledger_activity_balances::{ActivityAggregation, ActivityBalances};
use cardledger_core::engine::{Ack, Engine};
use cardledger_core::projection::Projection;
use cardledger_domain::command::CommandLine;
use cardledger_domain::limits;
use cardledger_domain::rejection::{Code, Rejection};
use cardledger_domain::time::{Date, Timestamp};
use cardledger_domain::wire::parse_line;
use cardledger_program_balances::{ProgramAggregation, ProgramBalances};
use cardledger_query::{pairs_from_query, parse_params, run, Principal, Rates, Table};
use cardledger_reserve_balances::ReserveBalances;
use cardledger_statements::Statements;

use crate::baseline::Baseline;

/// Commands of the batch-1 figures (one fsync per command on both sides).
pub const BATCH1_COMMANDS: usize = 2_000;
/// Commands of the batch-64 figures.
pub const BATCH64_COMMANDS: usize = 100_000;
/// Leading commands ingested in batches before the concurrent figure, so
/// that its commands find their programs, holders and sources.
pub const CONCURRENT_SETUP_COMMANDS: usize = 20_000;
/// Commands submitted one at a time by the concurrent submitters.
pub const CONCURRENT_COMMANDS: usize = 20_000;
/// Submitter threads of the concurrent figure.
pub const SUBMITTERS: usize = 64;
/// Lines per transaction on both sides of [`ingest_json_lines`]: the
/// chunk `cardledger ingest` submits as one batch.
pub const JSON_CHUNK_LINES: usize = cardledger::INGEST_CHUNK_LINES;

/// One measured figure. `ratio` is always engine / baseline; the name says
/// its unit and so which way is better.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// Name with its unit, e.g. `ingest_batch_8192_events_per_s`.
    pub name: String,
    /// The engine's value (`None`: not measured on this side yet).
    pub engine: Option<f64>,
    /// The baseline's value.
    pub baseline: Option<f64>,
}

impl Figure {
    /// engine / baseline, when both exist and the baseline is not zero.
    pub fn ratio(&self) -> Option<f64> {
        match (self.engine, self.baseline) {
            (Some(e), Some(b)) if b != 0.0 => Some(e / b),
            _ => None,
        }
    }

    /// `figure engine baseline ratio`, `-` for a missing value.
    pub fn line(&self) -> String {
        let f = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
        format!("{} {} {} {}", self.name, f(self.engine), f(self.baseline), f(self.ratio()))
    }
}

/// A failure while measuring (engine, baseline or file system).
pub type FigureError = Box<dyn std::error::Error + Send + Sync>;

/// What the figures share: the workload, and the full ingest at batch 8,192
/// (run once, used by several figures).
pub struct Ctx {
    /// The parsed workload.
    pub commands: Vec<CommandLine>,
    /// Directory for the data of every run (removed on drop).
    pub root: tempfile::TempDir,
    /// Whether [`statement_close_100k_accounts`] runs (`compare
    /// --no-statements` skips it: its set-up ingests 375,003 commands).
    pub statements: bool,
    full: Option<FullIngest>,
    views: Option<Box<EngineViews>>,
}

/// The query figures' data: the year-long workload ([`query_workload`])
/// ingested by both sides; the engine's view projections folded from its log.
struct EngineViews {
    baseline_file: std::path::PathBuf,
    program: ProgramBalances,
    reserve: ReserveBalances,
    activity: ActivityBalances,
}

/// The full workload ingested at batch 8,192 by both sides.
struct FullIngest {
    engine_rate: f64,
    baseline_rate: f64,
    engine_dir: std::path::PathBuf,
    baseline_file: std::path::PathBuf,
    recorded: u64,
}

/// A figure function.
pub type FigureFn = fn(&mut Ctx) -> Result<Figure, FigureError>;

/// Every figure, in print order; the ingest ratio at batch 8,192 is last.
pub const FIGURES: &[FigureFn] = &[
    ingest_batch_1,
    ingest_batch_64,
    ingest_batch_1024,
    ingest_concurrent,
    disk_bytes_per_event,
    reopen_replay,
    replay_read_decode,
    replay_projections,
    query_program_balances_365_days,
    query_reserve_365_days,
    query_activity_365_days,
    statement_close_100k_accounts,
    ingest_json_lines,
    ingest_batch_8192,
];

impl Ctx {
    /// A context over `commands`, with data under a fresh temporary
    /// directory inside `parent` (on the disk being measured).
    pub fn new(commands: Vec<CommandLine>, parent: &Path) -> Result<Ctx, FigureError> {
        Ok(Ctx { commands, root: tempfile::tempdir_in(parent)?, statements: true, full: None, views: None })
    }

    fn run_dir(&self, name: &str) -> Result<std::path::PathBuf, FigureError> {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn full(&mut self) -> Result<&FullIngest, FigureError> {
        if self.full.is_none() {
            let engine_dir = self.run_dir("engine_8192")?;
            let baseline_dir = self.run_dir("baseline_8192")?;
            let baseline_file = baseline_dir.join("ledger.sqlite");
            let (engine_rate, recorded) = engine_ingest(&self.commands, 8192, &engine_dir)?;
            let (baseline_rate, b_recorded) = baseline_ingest(&self.commands, 8192, &baseline_file)?;
            if recorded != b_recorded {
                return Err(format!("engine recorded {recorded} events, the baseline {b_recorded}").into());
            }
            self.full = Some(FullIngest { engine_rate, baseline_rate, engine_dir, baseline_file, recorded });
        }
        self.full.as_ref().ok_or_else(|| "full ingest missing".into())
    }
}

/// Ingests `commands` into a fresh engine in `dir` in batches; returns
/// (commands per second, events recorded).
pub fn engine_ingest(commands: &[CommandLine], batch: usize, dir: &Path) -> Result<(f64, u64), FigureError> {
    let engine = Engine::open(dir)?;
    // the engine takes its batches by value: copy them before the clock starts
    let batches: Vec<Vec<CommandLine>> =
        commands.chunks(batch.clamp(1, limits::BATCH_RECORDS_MAX)).map(<[CommandLine]>::to_vec).collect();
    let start = Instant::now();
    for chunk in batches {
        engine.submit_batch_acks(chunk)?;
    }
    let elapsed = start.elapsed();
    Ok((rate(commands.len(), elapsed), engine.head_seq()))
}

/// Ingests `commands` into a fresh baseline database `file` in batches;
/// returns (commands per second, events recorded).
pub fn baseline_ingest(commands: &[CommandLine], batch: usize, file: &Path) -> Result<(f64, u64), FigureError> {
    let mut baseline = Baseline::open(file)?;
    let start = Instant::now();
    for chunk in commands.chunks(batch.max(1)) {
        baseline.submit_batch(chunk)?;
    }
    let elapsed = start.elapsed();
    Ok((rate(commands.len(), elapsed), baseline.ledger().head_seq))
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn prefix(ctx: &Ctx, n: usize) -> &[CommandLine] {
    ctx.commands.get(..n.min(ctx.commands.len())).unwrap_or_default()
}

fn ingest_at(ctx: &mut Ctx, batch: usize, n: usize) -> Result<Figure, FigureError> {
    let commands = prefix(ctx, n);
    let (engine, _) = engine_ingest(commands, batch, &ctx.run_dir(&format!("engine_{batch}"))?)?;
    let file = ctx.run_dir(&format!("baseline_{batch}"))?.join("ledger.sqlite");
    let (baseline, _) = baseline_ingest(commands, batch, &file)?;
    Ok(Figure { name: format!("ingest_batch_{batch}_events_per_s"), engine: Some(engine), baseline: Some(baseline) })
}

/// Durable ingest, one command per batch, on the first
/// [`BATCH1_COMMANDS`] commands.
pub fn ingest_batch_1(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    ingest_at(ctx, 1, BATCH1_COMMANDS)
}

/// Durable ingest in batches of 64 on the first [`BATCH64_COMMANDS`].
pub fn ingest_batch_64(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    ingest_at(ctx, 64, BATCH64_COMMANDS)
}

/// Durable ingest in batches of 1,024, the whole workload.
pub fn ingest_batch_1024(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    ingest_at(ctx, 1024, usize::MAX)
}

/// Durable ingest in batches of 8,192, the whole workload (the goal figure).
pub fn ingest_batch_8192(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    let full = ctx.full()?;
    Ok(Figure {
        name: "ingest_batch_8192_events_per_s".into(),
        engine: Some(full.engine_rate),
        baseline: Some(full.baseline_rate),
    })
}

/// `cardledger ingest`'s work, file in and answer lines out, on as many
/// lines of the bulk workload (`cardledger generate --bulk N`, N the number
/// of commands `compare` runs) written to a file first. The engine side is
/// `Cardledger::ingest` over the file (the CLI's code path, in process:
/// parse, decide, durable flush, answer lines written to a file). The
/// baseline reads the same file line by line, parses each line with
/// `serde_json` (to a `Value`, then the wire rules: `wire::parse_value`),
/// records chunks of [`JSON_CHUNK_LINES`] in one SQLite transaction each
/// and writes a short answer line per input line with `serde_json`
/// (line and seq, or the rejection). Figures in lines per second.
pub fn ingest_json_lines(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    use std::io::{BufRead, BufWriter, Write};
    let n = ctx.commands.len() as u64;
    let input = ctx.run_dir("json_lines")?.join("bulk.jsonl");
    {
        let mut w = BufWriter::new(std::fs::File::create(&input)?);
        for line in cardledger_workload::generate_bulk(crate::SEED, n) {
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
    }

    let ledger = cardledger::Cardledger::open(ctx.run_dir("engine_json")?)?;
    let mut answers =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(ctx.run_dir("engine_json")?.join("answers.jsonl"))?);
    let start = Instant::now();
    let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&input)?);
    let tally = ledger.ingest(cardledger::BoundedLines::new(reader), &mut answers, &mut |_| {})?;
    answers.flush()?;
    let engine_rate = rate(tally.lines as usize, start.elapsed());
    drop(ledger);

    let mut baseline = Baseline::open(&ctx.run_dir("baseline_json")?.join("ledger.sqlite"))?;
    let mut answers =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(ctx.run_dir("baseline_json")?.join("answers.jsonl"))?);
    let start = Instant::now();
    let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&input)?);
    let (mut lines, mut recorded) = (0u64, 0u64);
    // per line: its number and its rejection, or `None` for the next command
    let mut slots: Vec<(u64, Option<Rejection>)> = Vec::with_capacity(JSON_CHUNK_LINES);
    let mut commands: Vec<CommandLine> = Vec::with_capacity(JSON_CHUNK_LINES);
    let mut flush = |slots: &mut Vec<(u64, Option<Rejection>)>,
                     commands: &mut Vec<CommandLine>,
                     recorded: &mut u64,
                     out: &mut BufWriter<std::fs::File>|
     -> Result<(), FigureError> {
        let mut acks = baseline.submit_batch(commands)?.into_iter();
        commands.clear();
        for (line, slot) in slots.drain(..) {
            let answer = match (slot, acks.next()) {
                (Some(r), _) | (None, Some(Ack::Rejected(r))) => {
                    serde_json::json!({"line": line, "error_code": r.code.number(), "error_message": r.message})
                }
                (None, Some(Ack::Recorded(seq))) => {
                    *recorded += 1;
                    serde_json::json!({"line": line, "seq": seq})
                }
                (None, Some(Ack::Duplicate(seq))) => serde_json::json!({"line": line, "seq": seq, "duplicate": true}),
                (None, None) => return Err("the baseline answered fewer commands than it was given".into()),
            };
            serde_json::to_writer(&mut *out, &answer)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    };
    for line in reader.lines() {
        let line = line?;
        lines += 1;
        let parsed = serde_json::from_str::<serde_json::Value>(&line)
            .map_err(|e| Rejection::new(Code::MalformedJson, "", format!("malformed JSON: {e}")))
            .and_then(|v| cardledger_domain::wire::parse_value(&v));
        match parsed {
            Ok(c) => {
                slots.push((lines, None));
                commands.push(c);
            }
            Err(r) => slots.push((lines, Some(r))),
        }
        if slots.len() == JSON_CHUNK_LINES {
            flush(&mut slots, &mut commands, &mut recorded, &mut answers)?;
        }
    }
    flush(&mut slots, &mut commands, &mut recorded, &mut answers)?;
    answers.flush()?;
    let baseline_rate = rate(lines as usize, start.elapsed());
    if tally.lines != lines || tally.recorded != recorded {
        return Err(format!(
            "the engine answered {} lines ({} recorded), the baseline {lines} ({recorded} recorded)",
            tally.lines, tally.recorded
        )
        .into());
    }
    Ok(Figure { name: "ingest_json_lines_per_s".into(), engine: Some(engine_rate), baseline: Some(baseline_rate) })
}

/// [`SUBMITTERS`] threads each submitting single commands (round-robin
/// shares of [`CONCURRENT_COMMANDS`] commands, after the set-up prefix), each
/// waiting for its acknowledgement: the engine shares flushes (group
/// commit); the baseline serializes one transaction per command behind a
/// mutex, as a simple SQLite host would.
pub fn ingest_concurrent(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    let setup = prefix(ctx, CONCURRENT_SETUP_COMMANDS);
    let work: Vec<CommandLine> =
        ctx.commands.iter().skip(CONCURRENT_SETUP_COMMANDS).take(CONCURRENT_COMMANDS).cloned().collect();
    let shares = round_robin(&work, SUBMITTERS);

    let engine = Engine::open(&ctx.run_dir("engine_concurrent")?)?;
    for chunk in setup.chunks(8192) {
        engine.submit_batch_acks(chunk.to_vec())?;
    }
    let engine_rate =
        concurrent(&shares, |c| engine.submit_batch_acks(vec![c.clone()]).map(|_| ()).map_err(|e| e.to_string()))?;

    let mut baseline = Baseline::open(&ctx.run_dir("baseline_concurrent")?.join("ledger.sqlite"))?;
    for chunk in setup.chunks(8192) {
        baseline.submit_batch(chunk)?;
    }
    let baseline = Arc::new(Mutex::new(baseline));
    let baseline_rate = concurrent(&shares, |c| {
        let mut b = baseline.lock().map_err(|_| "baseline lock poisoned".to_string())?;
        b.submit_batch(std::slice::from_ref(c)).map(|_: Vec<Ack>| ()).map_err(|e| e.to_string())
    })?;
    Ok(Figure {
        name: format!("ingest_{SUBMITTERS}_submitters_batch_1_events_per_s"),
        engine: Some(engine_rate),
        baseline: Some(baseline_rate),
    })
}

fn round_robin(work: &[CommandLine], n: usize) -> Vec<Vec<CommandLine>> {
    let mut shares: Vec<Vec<CommandLine>> = vec![Vec::new(); n.max(1)];
    let len = shares.len();
    for (i, c) in work.iter().enumerate() {
        if let Some(s) = shares.get_mut(i % len) {
            s.push(c.clone());
        }
    }
    shares
}

/// Runs one thread per share, each submitting its commands one by one;
/// returns commands per second over the whole run.
fn concurrent<F>(shares: &[Vec<CommandLine>], submit: F) -> Result<f64, FigureError>
where
    F: Fn(&CommandLine) -> Result<(), String> + Sync,
{
    let total: usize = shares.iter().map(Vec::len).sum();
    let start = Instant::now();
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = shares
            .iter()
            .map(|share| {
                let submit = &submit;
                s.spawn(move || share.iter().try_for_each(submit))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("submitter panicked".into()))).collect()
    });
    let elapsed = start.elapsed();
    for r in results {
        r?;
    }
    Ok(rate(total, elapsed))
}

/// Bytes on disk per recorded event after the full ingest at batch 8,192:
/// the engine's data directory; the baseline's database, WAL and shared
/// memory files.
pub fn disk_bytes_per_event(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    let full = ctx.full()?;
    let recorded = full.recorded.max(1) as f64;
    let engine = dir_bytes(&full.engine_dir)? as f64 / recorded;
    let baseline_dir = full.baseline_file.parent().ok_or("baseline file has no directory")?;
    let baseline = dir_bytes(baseline_dir)? as f64 / recorded;
    Ok(Figure { name: "disk_bytes_per_event".into(), engine: Some(engine), baseline: Some(baseline) })
}

/// Reopening after the full ingest with no snapshot (they are removed first): replaying every recorded event into the
/// decision state (both sides fold the same `Ledger`; the engine reads and
/// checks its frames, the baseline reads its event rows), events per second.
pub fn reopen_replay(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    let full = ctx.full()?;
    let recorded = usize::try_from(full.recorded).unwrap_or(usize::MAX);
    let (engine_dir, baseline_file) = (full.engine_dir.clone(), full.baseline_file.clone());
    // a full replay, as `verify` does (and as the baseline's open does): the
    // snapshots and cold entries go first, or the open would load a snapshot
    {
        let store = cardledger_core::store::Store::open(&engine_dir)?;
        for seq in store.snapshot_seqs()? {
            store.delete_snapshot(seq)?;
        }
        store.clear_cold()?;
    }
    let start = Instant::now();
    let engine = Engine::open(&engine_dir)?;
    let engine_rate = rate(recorded, start.elapsed());
    let replayed = engine.open_report().replayed;
    if replayed != full.recorded {
        return Err(format!("reopen_replay: the open replayed {replayed} of {} events", full.recorded).into());
    }
    drop(engine);
    let start = Instant::now();
    let baseline = Baseline::open(&baseline_file)?;
    let baseline_rate = rate(recorded, start.elapsed());
    drop(baseline);
    Ok(Figure { name: "reopen_replay_events_per_s".into(), engine: Some(engine_rate), baseline: Some(baseline_rate) })
}

/// Reading back every recorded event of the full ingest and decoding it,
/// events per second: the floor of any replay through projections (see
/// [`replay_projections`]). The engine reads and checks its
/// frames (crc32 per record, hash chain); the baseline reads its event rows
/// in seq order. Both decode the same payloads.
pub fn replay_read_decode(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    let full = ctx.full()?;
    let (engine_dir, baseline_file, recorded) = (full.engine_dir.clone(), full.baseline_file.clone(), full.recorded);
    let engine = Engine::open(&engine_dir)?;
    let start = Instant::now();
    let mut n = 0u64;
    for entry in engine.events_from(1) {
        entry?;
        n += 1;
    }
    let engine_rate = rate(usize::try_from(n).unwrap_or(usize::MAX), start.elapsed());
    drop(engine);
    let conn = rusqlite::Connection::open(&baseline_file)?;
    let start = Instant::now();
    let mut m = 0u64;
    {
        let mut stmt = conn.prepare("SELECT payload FROM events ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let payload: Vec<u8> = row.get(0)?;
            cardledger_domain::decode_fact(&payload)?;
            m += 1;
        }
    }
    let baseline_rate = rate(usize::try_from(m).unwrap_or(usize::MAX), start.elapsed());
    if n != recorded || m != recorded {
        return Err(format!("replayed {n} (engine) and {m} (baseline) of {recorded} events").into());
    }
    Ok(Figure {
        name: "replay_read_decode_events_per_s".into(),
        engine: Some(engine_rate),
        baseline: Some(baseline_rate),
    })
}

/// Replaying the full ingest's log through every projection, events per
/// second. The engine reads and checks its frames and folds each event
/// through the four projections (program balances, reserve balances,
/// activity balances, statements). The baseline rebuilds its derived tables
/// (programs, holder balances, daily rows) from its event rows in one
/// transaction ([`Baseline::rebuild_derived`]); it has no statements table,
/// so its replay does less (see docs/benchmarks.md).
pub fn replay_projections(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    let full = ctx.full()?;
    let (engine_dir, baseline_file, recorded) = (full.engine_dir.clone(), full.baseline_file.clone(), full.recorded);
    let engine = Engine::open(&engine_dir)?;
    let start = Instant::now();
    let (mut program, mut reserve, mut activity, mut statements) =
        (ProgramBalances::default(), ReserveBalances::default(), ActivityBalances::default(), Statements::default());
    let mut n = 0u64;
    for entry in engine.events_from(1) {
        let rec = entry?.rec;
        program.apply(&rec);
        reserve.apply(&rec);
        activity.apply(&rec);
        statements.apply(&rec);
        n += 1;
    }
    let engine_rate = rate(usize::try_from(n).unwrap_or(usize::MAX), start.elapsed());
    drop(engine);
    std::hint::black_box((&program, &reserve, &activity, &statements));

    let mut baseline = Baseline::open(&baseline_file)?;
    let start = Instant::now();
    let m = baseline.rebuild_derived()?;
    let baseline_rate = rate(usize::try_from(m).unwrap_or(usize::MAX), start.elapsed());
    if n != recorded || m != recorded {
        return Err(format!("replayed {n} (engine) and {m} (baseline) of {recorded} events").into());
    }
    Ok(Figure {
        name: "replay_projections_events_per_s".into(),
        engine: Some(engine_rate),
        baseline: Some(baseline_rate),
    })
}

/// Runs of each query; the figure is their median latency.
pub const QUERY_RUNS: usize = 51;

/// The program queried: the demo's reserve program.
pub const QUERY_PROGRAM: &str = "prog_alpha";

/// Days of the query window (ending on the program's last reporting day).
pub const QUERY_DAYS: i32 = 365;

/// A baseline view query: program, first day, last day → rows.
type BaselineQuery<T> = fn(&Baseline, &str, Date, Date) -> Result<Vec<T>, crate::baseline::BaselineError>;

/// An engine view query: the projections and the parsed parameters → the
/// query-layer table and the business time of the last event applied.
type EngineTable = fn(&EngineViews, &cardledger_query::Params) -> (Table, Option<Timestamp>);

/// Days of the query figures' workload: more than [`QUERY_DAYS`], so the
/// window is a full year of rows.
pub const QUERY_WORKLOAD_DAYS: u32 = 400;

/// The query figures' workload: the demo mix (seed [`crate::SEED`]) with
/// the demo's 100 holders over [`QUERY_WORKLOAD_DAYS`] days (about 130,000
/// commands). The compare workload's 1,000,000 commands over 2,000 holders
/// span only about 140 days; a view query's cost depends on the days in
/// its window, not on the events behind them (one stored row per program
/// and day on both sides), so the year is generated separately.
pub fn query_workload() -> Vec<CommandLine> {
    let cfg = cardledger_workload::WorkloadConfig {
        seed: crate::SEED,
        days: QUERY_WORKLOAD_DAYS,
        ..cardledger_workload::WorkloadConfig::default()
    };
    cardledger_workload::generate(&cfg).filter_map(|l| parse_line(&l).ok()).collect()
}

/// The query figures' data, built on first use: [`query_workload`]
/// ingested by the engine and the baseline (batches of 8,192), and the
/// engine's views folded from its log.
fn views(ctx: &mut Ctx) -> Result<&EngineViews, FigureError> {
    if ctx.views.is_none() {
        let commands = query_workload();
        let engine_dir = ctx.run_dir("engine_year")?;
        let baseline_file = ctx.run_dir("baseline_year")?.join("ledger.sqlite");
        let (_, recorded) = engine_ingest(&commands, 8192, &engine_dir)?;
        let (_, b_recorded) = baseline_ingest(&commands, 8192, &baseline_file)?;
        if recorded != b_recorded {
            return Err(format!("year: engine recorded {recorded} events, the baseline {b_recorded}").into());
        }
        let engine = Engine::open(&engine_dir)?;
        let (mut program, mut reserve, mut activity) =
            (ProgramBalances::default(), ReserveBalances::default(), ActivityBalances::default());
        for entry in engine.events_from(1) {
            let rec = entry?.rec;
            program.apply(&rec);
            reserve.apply(&rec);
            activity.apply(&rec);
        }
        ctx.views = Some(Box::new(EngineViews { baseline_file, program, reserve, activity }));
    }
    ctx.views.as_deref().ok_or_else(|| "views missing".into())
}

fn median_us(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default().as_secs_f64() * 1e6
}

/// Median latency in µs over [`QUERY_RUNS`] runs of one view query for
/// [`QUERY_PROGRAM`] over the [`QUERY_DAYS`] days ending on its last
/// reporting day, on both sides of the year-long [`query_workload`]. The engine:
/// projection rows → query-layer table → `cardledger_query::run` (filters,
/// sort, page) → the JSON answer as compact text (`Answer::to_json_string`,
/// the embedding host's path; byte-identical to `to_json().to_string()`).
/// The baseline runs its SQL (window functions over the daily rows) and
/// reads the rows into Rust structs (no JSON).
fn query_figure<T>(
    ctx: &mut Ctx,
    name: &str,
    table: EngineTable,
    query: BaselineQuery<T>,
) -> Result<Figure, FigureError> {
    let v = views(ctx)?;
    let file = v.baseline_file.clone();
    let last = v.program.day_rows(QUERY_PROGRAM, None, None).last().map(|r| r.corrected_post_date);
    let last = last.ok_or_else(|| format!("{name}: no rows for {QUERY_PROGRAM}"))?;
    let from = Date(last.0 - (QUERY_DAYS - 1));
    let params =
        parse_params(&pairs_from_query(&format!("program={QUERY_PROGRAM}&start_date={from}&end_date={last}")))?;
    let (principal, rates) = (Principal::all(), Rates::new());
    let mut times = Vec::with_capacity(QUERY_RUNS);
    let mut engine_rows = 0;
    for _ in 0..QUERY_RUNS {
        let start = Instant::now();
        let (t, last_time) = table(v, &params);
        let answer = run(&t, &params, &principal, &rates, last_time)?;
        let json = answer.to_json_string();
        times.push(start.elapsed());
        engine_rows = answer.total();
        std::hint::black_box(json);
    }
    let engine = median_us(times);
    // the same without rendering the JSON (table + run only), for the record on stderr
    let mut times = Vec::with_capacity(QUERY_RUNS);
    for _ in 0..QUERY_RUNS {
        let start = Instant::now();
        let (t, last_time) = table(v, &params);
        let answer = run(&t, &params, &principal, &rates, last_time)?;
        times.push(start.elapsed());
        std::hint::black_box(answer.total());
    }
    eprintln!("compare: {name}: engine without JSON rendering (table + run) median {:.2} µs", median_us(times));

    let baseline = Baseline::open(&file)?;
    let mut times = Vec::with_capacity(QUERY_RUNS);
    let mut baseline_rows = 0;
    for _ in 0..QUERY_RUNS {
        let start = Instant::now();
        let rows = query(&baseline, QUERY_PROGRAM, from, last)?;
        times.push(start.elapsed());
        baseline_rows = rows.len();
    }
    // the window is cut at the program's first day: a workload shorter than a year has fewer rows
    let first = v
        .program
        .program(QUERY_PROGRAM)
        .map_or(from, |p| p.days.keys().next().map_or(p.created_day, |&d| d.min(p.created_day)));
    let expected = usize::try_from(last.0 - from.max(first).0 + 1).unwrap_or(0);
    if baseline_rows != expected || usize::try_from(engine_rows).unwrap_or(0) != expected {
        return Err(format!("{name}: {engine_rows} engine and {baseline_rows} baseline rows, not {expected}").into());
    }
    eprintln!("compare: {name}: {expected} rows ({} to {last})", from.max(first));
    Ok(Figure { name: name.into(), engine: Some(engine), baseline: Some(median_us(times)) })
}

/// Program balances by day over 365 days, median latency in µs.
pub fn query_program_balances_365_days(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    query_figure(
        ctx,
        "query_program_balances_365_days_us",
        |v, p| {
            (
                v.program.table(&p.programs, ProgramAggregation::Day, p.start_date, p.end_date, &p.expand),
                v.program.last_time(),
            )
        },
        Baseline::program_balances,
    )
}

/// Reserve by day over 365 days, median latency in µs.
pub fn query_reserve_365_days(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    query_figure(
        ctx,
        "query_reserve_365_days_us",
        |v, p| (v.reserve.table(&p.programs, p.start_date, p.end_date, &p.expand), v.reserve.flows().last_time()),
        Baseline::reserve,
    )
}

/// Activity balances by day over 365 days, median latency in µs.
pub fn query_activity_365_days(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    query_figure(
        ctx,
        "query_activity_365_days_us",
        |v, p| {
            (
                v.activity.table(&p.programs, ActivityAggregation::Day, p.start_date, p.end_date, &p.expand),
                v.activity.last_time(),
            )
        },
        Baseline::activity,
    )
}

/// Credit accounts of the statement-close figure.
pub const STATEMENT_ACCOUNTS: usize = 100_000;

fn je(t: &str, token: &str, account: &str, kind: &str, amount: &str) -> String {
    format!(
        r#"{{"time":"{t}","journal_entry":{{"token":"{token}","type":"{kind}","account_token":"{account}","amount":"{amount}","currency_code":"USD","status":"POSTED","network":"VISA"}}}}"#
    )
}

/// The statements benchmark's set-up as commands: one program and user,
/// `accounts` credit accounts with a purchase each, a first cycle closed
/// (tick of 2023-06-01), then a month of activity on each (payments in
/// full, minimum payments or none, refunds, purchases), so that every cycle
/// type, late fees and past-due buckets occur. The second value is the
/// ticks that close the month (2023-07-01): one tick closes at most
/// `TICK_CLOSE_EVENTS_MAX` × `CYCLE_CLOSES_PER_EVENT_MAX` cycles, so a close
/// of many accounts is that many ticks a second apart (each first tick of
/// the set-up too).
pub fn statement_setup(accounts: usize) -> Result<(Vec<CommandLine>, Vec<CommandLine>), FigureError> {
    let mut lines = vec![
        r#"{"time":"2023-05-01T12:00:00Z","program":{"token":"p","bank":"B","currency_code":"USD"}}"#.to_string(),
        r#"{"time":"2023-05-01T12:00:00Z","user":{"token":"u","program_token":"p"}}"#.to_string(),
    ];
    for i in 0..accounts {
        let a = format!("acct{i:06}");
        lines.push(format!(
            r#"{{"time":"2023-05-01T12:00:00Z","credit_account":{{"token":"{a}","user_token":"u","program_token":"p","credit_limit":2000,"apr":"19.99","reward_percentage":1,"minimum_interest":"0.50"}}}}"#
        ));
        let amount = format!("{}.{:02}", 100 + i % 900, i % 100);
        lines.push(je("2023-05-10T16:00:00Z", &format!("m{i}"), &a, "authorization.clearing", &amount));
    }
    lines.extend(ticks("2023-06-01", accounts));
    for i in 0..accounts {
        let a = format!("acct{i:06}");
        let owed = format!("{}.{:02}", 100 + i % 900, i % 100);
        match i % 4 {
            0 => lines.push(je("2023-06-05T16:00:00Z", &format!("p{i}"), &a, "payment", &owed)),
            1 => lines.push(je("2023-06-05T16:00:00Z", &format!("p{i}"), &a, "payment", "25.00")),
            2 => {}
            _ => lines.push(je("2023-06-20T16:00:00Z", &format!("r{i}"), &a, "refund", "10.00")),
        }
        lines.push(je("2023-06-12T16:00:00Z", &format!("b{i}"), &a, "authorization.clearing", "42.17"));
    }
    let parse = |l: &str| parse_line(l).map_err(|e| format!("statement set-up line {l}: {e:?}"));
    let commands = lines.iter().map(|l| parse(l)).collect::<Result<Vec<_>, _>>()?;
    let ticks = ticks("2023-07-01", accounts).iter().map(|l| parse(l)).collect::<Result<Vec<_>, _>>()?;
    Ok((commands, ticks))
}

/// Ticks at noon of `day`, one second apart, enough to close a cycle of
/// each of `accounts` accounts.
fn ticks(day: &str, accounts: usize) -> Vec<String> {
    let per_tick = limits::TICK_CLOSE_EVENTS_MAX * limits::CYCLE_CLOSES_PER_EVENT_MAX;
    (0..accounts.div_ceil(per_tick).max(1))
        .map(|i| {
            let at = format!("{day}T12:00:{i:02}Z");
            format!(r#"{{"time":"{at}","tick":{{"now":"{at}"}}}}"#)
        })
        .collect()
}

/// Closing one month of statement cycles for [`STATEMENT_ACCOUNTS`] credit
/// accounts through the engine, in seconds: after the statements bench's
/// set-up is ingested (untimed, batches of 8,192) and the `Statements`
/// projection caught up (untimed), the tick is submitted (decided, every
/// close computed, recorded durably, applied) and the recorded close facts
/// are folded into the projection. Engine only: the baseline has no
/// statement cycles. Skipped (both sides `-`) with `compare --no-statements`.
pub fn statement_close_100k_accounts(ctx: &mut Ctx) -> Result<Figure, FigureError> {
    let name = "statement_close_100k_accounts_s".to_string();
    if !ctx.statements {
        return Ok(Figure { name, engine: None, baseline: None });
    }
    let (setup, ticks) = statement_setup(STATEMENT_ACCOUNTS)?;
    let engine = Engine::open(&ctx.run_dir("engine_statements")?)?;
    for chunk in setup.chunks(8192) {
        for ack in engine.submit_batch_acks(chunk.to_vec())? {
            if !matches!(ack, Ack::Recorded(_)) {
                return Err(format!("statement set-up: {ack:?}").into());
            }
        }
    }
    let mut statements = Statements::default();
    for entry in engine.events_from(1) {
        statements.apply(&entry?.rec);
    }
    let before = engine.head_seq();
    let start = Instant::now();
    // one tick at a time: each closes what the tick cap lets it
    let mut acks = Vec::new();
    for tick in ticks {
        acks.extend(engine.submit_batch_acks(vec![tick])?);
    }
    let mut closes = 0usize;
    for entry in engine.events_from(before + 1) {
        let rec = entry?.rec;
        if let cardledger_domain::event::Event::CyclesClosed(e) = &rec.fact.event {
            closes += e.closes.len();
        }
        statements.apply(&rec);
    }
    let elapsed = start.elapsed();
    std::hint::black_box(&statements);
    if closes != STATEMENT_ACCOUNTS || !acks.iter().all(|a| matches!(a, Ack::Recorded(_))) {
        return Err(format!("statement close: {closes} closes, acks {acks:?}").into());
    }
    Ok(Figure { name, engine: Some(elapsed.as_secs_f64()), baseline: None })
}

/// Total length of the files under `dir`, recursively.
pub fn dir_bytes(dir: &Path) -> Result<u64, FigureError> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_bytes(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}
