//! `cardledger`: the command-line host of the cardledger engine
//! (product.md §7). Output is JSON on stdout; diagnostics and progress bars
//! go to stderr.

/// `println!` that returns an error instead of panicking when stdout is
/// closed (`cardledger … | head`); `main` ends quietly on a broken pipe.
macro_rules! outln {
    ($($arg:tt)*) => {
        std::io::Write::write_fmt(&mut std::io::stdout().lock(), format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod alerts;
mod backup;
mod ledger;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use cardledger::layers::core::engine::EngineError;
use cardledger::layers::core::store::StoreError;
use cardledger::layers::domain::event::Account;
use cardledger::{BoundedLines, Cardledger, Error, Holder, Line, LineSource, Tally};

mod views;

/// mimalloc: the JSON answers allocate many small objects; glibc malloc
/// spent more time consolidating them than the engine spent deciding.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "cardledger", version, about = "An embedded, event-sourced ledger engine for card programs")]
struct Cli {
    /// The data directory (the sled store).
    #[arg(long, global = true, default_value = "./cardledger-data")]
    data: PathBuf,
    /// Keep the log on a JetStream cluster, `nats://HOST:PORT[,HOST:PORT…]`, one stream per program (`cardledger-<program>`); needs --programs; local state in DATA/programs/<program> (docs/scale-out.md). Before the command.
    #[arg(long)]
    log: Option<String>,
    /// With --log: the programs this host owns, P1[,P2…] (one stream and one engine each; commands are routed to their program's engine, ticks to every one); commands naming another program are rejected (1220). Before the command.
    #[arg(long)]
    programs: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

/// The seeded workload of `demo` and `generate`.
#[derive(clap::Args)]
struct WorkloadArgs {
    /// Workload seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Days of activity.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Account holders.
    #[arg(long, default_value_t = 200)]
    holders: u32,
}

impl WorkloadArgs {
    fn config(&self) -> cardledger_workload::WorkloadConfig {
        cardledger_workload::WorkloadConfig {
            seed: self.seed,
            days: self.days,
            holders: self.holders,
            ..Default::default()
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// The main job: generate a seeded two-program workload, ingest it, print balances, verify, print throughput.
    Demo {
        #[command(flatten)]
        workload: WorkloadArgs,
        /// Replace a store in --data that an earlier demo did not create (it is deleted).
        #[arg(long)]
        force: bool,
        /// Where the charts go (default: `charts/` beside the data directory).
        #[arg(long)]
        charts: Option<PathBuf>,
    },
    /// Ingest JSON-lines commands from FILE (or - for stdin); one answer line per input line, once durable.
    Ingest {
        /// Input file, or - for standard input.
        #[arg(default_value = "-")]
        file: String,
        /// Exit with 5 when any line was rejected (default: exit 0 once every line is answered).
        #[arg(long)]
        strict: bool,
    },
    /// Write a generated workload as JSON lines to stdout.
    Generate {
        #[command(flatten)]
        workload: WorkloadArgs,
        /// Instead: exactly N lines of bulk money movements (seeded by --seed).
        #[arg(long)]
        bulk: Option<u64>,
        /// Not an option of generate (it writes to stdout): refused, and hidden from --help.
        #[arg(long, hide = true, value_parser = no_data_dir)]
        data: Option<PathBuf>,
    },
    /// One resource as the source page returns it.
    Get {
        /// gpa_order, gpa_unload, msa_order, msa_unload, offer_order, or a set-up kind.
        kind: String,
        /// Its token.
        token: String,
        #[command(flatten)]
        as_of: ledger::AsOfArgs,
    },
    /// Any kind (users, businesses, funding_sources, funding_source_addresses, fees, campaigns, merchants, offers, gpa_orders, msa_orders, offer_orders, gpa_unloads, msa_unloads, fee_transfers, journal_entries, credit_accounts, program_deposits) with key=value parameters (count, start_index, fields, sort_by and the kind's filters, docs/commands.md).
    List {
        /// The kind, e.g. users or journal_entries.
        kind: String,
        /// key=value parameters.
        params: Vec<String>,
        #[command(flatten)]
        as_of: ledger::AsOfArgs,
    },
    /// A holder's GPA and MSA balances, or a credit account's balance: TOKEN (a user, else a business, else a credit account), or user:TOKEN, business:TOKEN, account:TOKEN.
    Balances {
        /// The holder or credit account.
        holder: String,
        #[command(flatten)]
        as_of: ledger::AsOfArgs,
    },
    /// Every ledger account with its balance and the total (exactly 0.00), per program.
    Trialbalance {
        /// Only this program's accounts.
        #[arg(long)]
        program: Option<String>,
        #[command(flatten)]
        as_of: ledger::AsOfArgs,
    },
    /// One account's postings with running balance (ACCOUNT: program_bank:P, gpa:user:U, msa:user:U:C, network:N, …), with key=value count, start_index, sort_by.
    Postings {
        /// The account name.
        account: String,
        /// key=value parameters.
        params: Vec<String>,
        #[command(flatten)]
        as_of: ledger::AsOfArgs,
    },
    /// Recompute a saved view report (JSON, CSV or XLSX, plain or exported) at its seq and compare; exit 1 on a mismatch.
    VerifyReport {
        /// The report file.
        file: PathBuf,
    },
    /// Recorded events as JSON lines.
    Log {
        /// First sequence number.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Most events to print.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Credit statements (source 003): ACCOUNT [STATEMENT [paymentinfo|interestcharges|journalentries|yeartodate|rewards|files]], ACCOUNT files|delinquencystate|transitions, with key=value parameters.
    Statements {
        /// The credit account.
        account: String,
        /// STATEMENT, endpoint and key=value parameters.
        args: Vec<String>,
        #[command(flatten)]
        as_of: ledger::AsOfArgs,
    },
    /// Alerts (reserve below requirement, funding below threshold, delinquent account) as JSON lines; --follow keeps printing new ones.
    Alerts(alerts::AlertsCmd),
    /// Check every checksum, the hash chain, and that the state equals a fresh replay.
    Verify,
    #[command(flatten)]
    Backup(backup::BackupCmd),
    /// Discard projection checkpoints and replay the log.
    Rebuild,
    /// A view query: programbalances day|month, programreservebalances day, activitybalances day|network|actor.
    View {
        /// programbalances, programreservebalances or activitybalances.
        name: String,
        /// The aggregation.
        agg: String,
        /// key=value query parameters (program=…, fields=…, filters, sort_by, count, start_index, start_date, end_date, totals, currency, expand, compress).
        params: Vec<String>,
        /// json, csv or xlsx (xlsx for programreservebalances only); csv and xlsx are compressed exports.
        #[arg(long, default_value = "json")]
        format: String,
        /// Export compression, gz (default) or zip.
        #[arg(long)]
        compress: Option<String>,
        /// Write the answer or the export to FILE instead of stdout / exports/.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The programs the principal may query (comma list; all when absent).
        #[arg(long)]
        programs: Option<String>,
        /// A conversion rate FROM:TO=RATE (repeatable), e.g. USD:EUR=0.9.
        #[arg(long)]
        rate: Vec<String>,
        #[command(flatten)]
        as_of: ledger::AsOfArgs,
    },
    /// Serve the HTTP API (Core API /v3, DiVA /data/v2, dashboard /) on the data directory (docs/http.md).
    Serve {
        /// HOST:PORT to listen on (`127.0.0.1:0` picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// Credentials file: JSON lines {"username", "password_hash" | "password", "program" | "programs"}.
        #[arg(long)]
        credentials: Option<PathBuf>,
        /// Serve without authentication (refused on a non-loopback address).
        #[arg(long)]
        no_auth: bool,
    },
    /// Credentials for `serve`.
    Credentials {
        #[command(subcommand)]
        command: CredentialsCmd,
    },
    /// A view's schema.
    Schema {
        /// programbalances, programreservebalances or activitybalances.
        name: String,
        /// The aggregation.
        agg: String,
        /// Optional key=value parameters (fields, expand).
        params: Vec<String>,
    },
}

#[derive(Subcommand)]
enum CredentialsCmd {
    /// Print an Argon2id PHC hash of PASSWORD (or of the first line of stdin).
    Hash {
        /// The password; read from stdin when absent.
        password: Option<String>,
    },
}

/// Exit codes (docs/commands.md "Exit codes").
mod exit {
    /// `verify` found damage.
    pub const DAMAGED: u8 = 1;
    /// The command failed: storage, I/O, an engine error, bad usage.
    pub const FAILED: u8 = 2;
    /// What was asked for does not exist (a resource, an account, the store).
    pub const NOT_FOUND: u8 = 3;
    /// A parameter is malformed or not allowed.
    pub const BAD_PARAMETER: u8 = 4;
    /// `ingest --strict`: at least one line was rejected.
    pub const REJECTED_LINES: u8 = 5;
}

/// The error code of a failure that is not the facade's (reading a file,
/// writing stdout, a malformed argument): the host's own.
const HOST_FAILURE_CODE: u32 = 500020;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // one error style: the facade's code and kind when it is one
            let (code, exit) = match e.chain().find_map(|c| c.downcast_ref::<Error>()) {
                Some(err) => (
                    err.code(),
                    match err.kind() {
                        cardledger::ErrorKind::NotFound => exit::NOT_FOUND,
                        cardledger::ErrorKind::BadParameter | cardledger::ErrorKind::Forbidden => exit::BAD_PARAMETER,
                        _ => exit::FAILED,
                    },
                ),
                None => (HOST_FAILURE_CODE, exit::FAILED),
            };
            fail(code, &format!("{e:#}"), exit).unwrap_or(ExitCode::from(exit::FAILED))
        }
    }
}

/// The one error style of every command: `{"error_code", "error_message"}`
/// on stdout, a readable line on stderr, and the exit code.
fn fail(code: u32, message: &str, exit: u8) -> Result<ExitCode> {
    eprintln!("cardledger: {message}");
    outln!("{}", json!({"error_code": code, "error_message": message}))?;
    Ok(ExitCode::from(exit))
}

/// `generate` writes to stdout and has no data directory.
fn no_data_dir(_: &str) -> std::result::Result<PathBuf, String> {
    Err("generate writes the workload to stdout and takes no --data".to_string())
}

/// True when the error comes from writing to a closed stdout: the reader
/// (`head`, a pager) has what it wanted, so that is not a failure.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// The log every command of this process opens its data directory on
/// (`--log`, `--programs`), set once by [`run`].
static LOG: std::sync::OnceLock<cardledger::LogConfig> = std::sync::OnceLock::new();

fn log_config() -> &'static cardledger::LogConfig {
    LOG.get_or_init(cardledger::LogConfig::default)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let data = cli.data;
    let log = cardledger::LogConfig::from_args(cli.log.as_deref(), cli.programs.as_deref())?;
    if matches!(cli.command, Cmd::Demo { .. } | Cmd::Backup(_)) && log != cardledger::LogConfig::Sled {
        return fail(
            u32::from(cardledger::Code::InvalidValue.number()),
            "log: demo, backup and restore work on the sled store only; drop --log",
            exit::BAD_PARAMETER,
        );
    }
    let _ = LOG.set(log.clone());
    match cli.command {
        Cmd::Demo { workload, charts, force } => demo(&data, &workload, charts.as_deref(), force),
        Cmd::Ingest { file, strict } => ingest(&data, &file, strict),
        Cmd::Generate { workload, bulk, data: _ } => {
            let out = std::io::stdout();
            let mut out = BufWriter::new(out.lock());
            let lines: Box<dyn Iterator<Item = String>> = match bulk {
                Some(n) => Box::new(cardledger_workload::generate_bulk(workload.seed, n)),
                None => Box::new(cardledger_workload::generate(&workload.config())),
            };
            for l in lines {
                writeln!(out, "{l}")?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Get { kind, token, as_of } => {
            let as_of = as_of.as_of()?;
            let ledger = open_existing(&data)?;
            print_json(&ledger.get_at(&kind, &token, as_of)?)
        }
        Cmd::List { kind, mut params, as_of } => {
            let mut kv = Vec::new();
            params.extend(as_of.pairs());
            for p in params {
                let Some((k, v)) = p.split_once('=') else {
                    return fail(
                        u32::from(cardledger::Code::InvalidValue.number()),
                        &format!("parameter {p:?} is not key=value"),
                        exit::BAD_PARAMETER,
                    );
                };
                kv.push((k.to_string(), v.to_string()));
            }
            let ledger = open_existing(&data)?;
            print_json(&ledger.list(&kind, &kv)?)
        }
        Cmd::Balances { holder, as_of } => {
            let as_of = as_of.as_of()?;
            let ledger = open_existing(&data)?;
            print_json(&balances(&ledger, &holder, as_of)?)
        }
        Cmd::Log { from, count } => {
            let ledger = open_existing(&data)?;
            let out = std::io::stdout();
            let mut out = BufWriter::new(out.lock());
            for (i, line) in ledger.log(from).enumerate() {
                if count.is_some_and(|c| i as u64 >= c) {
                    break;
                }
                writeln!(out, "{}", line?)?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Statements { account, mut args, as_of } => {
            args.extend(as_of.pairs());
            let ledger = open_existing(&data)?;
            let (path, params): (Vec<&str>, Vec<&str>) =
                args.iter().map(String::as_str).partition(|a| !a.contains('='));
            print_json(&ledger.statements(&account, &path, &params)?)
        }
        Cmd::Verify => verify(&data),
        Cmd::Alerts(cmd) => alerts::run(&data, &cmd),
        Cmd::Serve { addr, credentials, no_auth } => {
            let mut config = cardledger_server::Config::new(data, addr, credentials, no_auth);
            config.log = log;
            cardledger_server::run(config)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Credentials { command: CredentialsCmd::Hash { password } } => {
            let password = match password {
                Some(p) => p,
                None => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            outln!("{}", cardledger_server::auth::hash_password(&password).map_err(anyhow::Error::msg)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Backup(cmd) => backup::run(&data, cmd),
        Cmd::View { name, agg, mut params, format, compress, out, programs, rate, as_of } => {
            params.extend(as_of.pairs());
            let opts = views::ViewOptions { format, compress, out, programs, rates: rate };
            views::view_command(&data, &name, &agg, &params, &opts)
        }
        Cmd::Schema { name, agg, params } => views::schema_command(&data, &name, &agg, &params),
        Cmd::Trialbalance { program, as_of } => ledger::trialbalance_command(&data, program.as_deref(), &as_of),
        Cmd::Postings { account, params, as_of } => ledger::postings_command(&data, &account, &params, &as_of),
        Cmd::VerifyReport { file } => ledger::verify_report_command(&data, &file),
        Cmd::Rebuild => {
            let ledger = open_existing(&data)?;
            let bar = bar(ledger.head_seq(), "rebuild");
            let rebuilt = ledger.rebuild()?;
            bar.set_position(rebuilt.events);
            bar.finish();
            print_json(&json!({"rebuilt": true, "events": rebuilt.events, "by_kind": rebuilt.by_kind,
                "statements": rebuilt.statements}))
        }
    }
}

fn open(data: &Path) -> Result<Cardledger> {
    Cardledger::open_with_log(data, log_config()).with_context(|| format!("opening {}", data.display()))
}

/// Opens the store for a read command: a missing one is an error (exit 3)
/// and nothing is created.
fn open_existing(data: &Path) -> Result<Cardledger> {
    Ok(Cardledger::open_existing_with_log(data, log_config())?)
}

/// `balances TOKEN`: `user:` / `business:` / `account:` pick the kind; a
/// bare token is a user, else a business, else a credit account.
fn balances(ledger: &Cardledger, token: &str, as_of: cardledger::AsOf) -> Result<Value, Error> {
    if let Some(t) = token.strip_prefix("user:") {
        return ledger.balances_at(&Holder::User(t.into()), as_of);
    }
    if let Some(t) = token.strip_prefix("business:") {
        return ledger.balances_at(&Holder::Business(t.into()), as_of);
    }
    let credit = |t: &str| {
        if as_of.is_head() {
            ledger.credit_balance(t)
        } else {
            Err(Error::AsOf {
                field: "as_of_seq",
                message: "a credit account's balance is read at the head only".into(),
            })
        }
    };
    if let Some(t) = token.strip_prefix("account:") {
        return credit(t);
    }
    for found in [
        ledger.balances_at(&Holder::User(token.into()), as_of),
        ledger.balances_at(&Holder::Business(token.into()), as_of),
        credit(token),
    ] {
        if !matches!(found, Err(Error::NotFound { .. })) {
            return found;
        }
    }
    Err(Error::NotFound { what: format!("holder or credit account {token:?}") })
}

fn print_json(v: &Value) -> Result<ExitCode> {
    outln!("{}", serde_json::to_string_pretty(v)?)?;
    Ok(ExitCode::SUCCESS)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} {per_sec} eta {eta}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// Ingests `lines`, writing every answer line to `out`.
fn ingest_lines(
    ledger: &Cardledger,
    lines: impl LineSource,
    out: &mut dyn Write,
    bar: Option<&ProgressBar>,
) -> Result<Tally> {
    let tally = ledger.ingest(lines, out, &mut |n| {
        if let Some(b) = bar {
            b.inc(n);
        }
    })?;
    out.flush()?;
    Ok(tally)
}

fn ingest(data: &Path, file: &str, strict: bool) -> Result<ExitCode> {
    let ledger = open(data)?;
    let size_before = ledger.size_on_disk()?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let start = Instant::now();
    let tally = if file == "-" {
        // `Stdin`, not its lock: the reader runs on its own thread
        ingest_lines(
            &ledger,
            BoundedLines::new(std::io::BufReader::with_capacity(1 << 20, std::io::stdin())),
            &mut out,
            None,
        )?
    } else {
        let f = std::fs::File::open(file).with_context(|| format!("opening {file}"))?;
        ingest_lines(&ledger, BoundedLines::new(std::io::BufReader::with_capacity(1 << 20, f)), &mut out, None)?
    };
    let secs = start.elapsed().as_secs_f64();
    let size_after = ledger.size_on_disk()?;
    // the directory's growth over this run's events (sled grows in segments:
    // a small run may show 0, a large one converges on the store's cost)
    let growth = i128::from(size_after) - i128::from(size_before);
    let per_event = if tally.recorded == 0 { 0.0 } else { growth as f64 / tally.recorded as f64 };
    eprintln!(
        "ingested {} lines in {:.2}s: {} recorded, {} duplicates, {} rejected; {:.0} events/s; the store grew {} bytes ({:.1} bytes/recorded event) to {} bytes",
        tally.lines,
        secs,
        tally.recorded,
        tally.duplicates,
        tally.rejected,
        tally.recorded as f64 / secs.max(1e-9),
        growth,
        per_event,
        size_after
    );
    if strict && tally.rejected > 0 {
        eprintln!("cardledger: --strict: {} of {} lines were rejected", tally.rejected, tally.lines);
        return Ok(ExitCode::from(exit::REJECTED_LINES));
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(data: &Path) -> Result<ExitCode> {
    let ledger = match Cardledger::open_existing_with_log(data, log_config()) {
        Ok(l) => l,
        Err(Error::Engine(e)) => return verify_failed(&e),
        Err(e) => return Err(e.into()),
    };
    match ledger.verify() {
        Ok(v) => {
            let disk = ledger.size_on_disk().unwrap_or(0);
            if !v.statements {
                outln!(
                    "{}",
                    json!({"ok": false, "first_bad_seq": null, "error": "statements projection differs from a fresh replay"})
                )?;
                eprintln!("cardledger: verify failed: the statements projection differs from a fresh replay");
                return Ok(ExitCode::from(exit::DAMAGED));
            }
            let projections = v.projections_json();
            if !v.ok() {
                outln!(
                    "{}",
                    json!({"ok": false, "first_bad_seq": null, "projections": projections,
                    "error": "a projection's checkpointed state differs from a fresh replay"})
                )?;
                eprintln!("cardledger: verify failed: a projection differs from a fresh replay");
                return Ok(ExitCode::from(exit::DAMAGED));
            }
            let r = v.report;
            print_json(&json!({"ok": true, "records": r.records, "head_hash": r.head_hash,
                "state_digest": r.state_digest, "snapshots": r.snapshots,
                "payload_bytes": r.payload_bytes, "bytes_on_disk": disk, "projections": projections,
                "statements_projection": "ok"}))
        }
        Err(Error::LogCorrupt(e)) => verify_failed(&e),
        // damage found while checking the projections (sled's own files included)
        Err(Error::Engine(
            e @ (EngineError::Store(StoreError::Corrupt { .. })
            | EngineError::Corrupt { .. }
            | EngineError::Mismatch { .. }),
        )) => verify_failed(&e),
        Err(e) => Err(e.into()),
    }
}

fn verify_failed(e: &EngineError) -> Result<ExitCode> {
    let seq = match e {
        EngineError::Store(StoreError::Corrupt { seq, .. })
        | EngineError::Corrupt { seq, .. }
        | EngineError::Mismatch { seq, .. } => Some(*seq),
        _ => None,
    };
    outln!("{}", json!({"ok": false, "first_bad_seq": seq, "error": e.to_string()}))?;
    eprintln!("cardledger: verify failed{}: {e}", seq.map(|s| format!(" at seq {s}")).unwrap_or_default());
    Ok(ExitCode::from(exit::DAMAGED))
}

fn demo(data: &Path, workload: &WorkloadArgs, charts: Option<&Path>, force: bool) -> Result<ExitCode> {
    if let Err(refusal) = prepare_demo_dir(data, force)? {
        return fail(u32::from(cardledger::Code::InvalidValue.number()), &refusal, exit::BAD_PARAMETER);
    }
    let ledger = open(data)?;
    std::fs::write(data.join(DEMO_MARKER), "written by `cardledger demo`: the next demo may replace this store\n")
        .with_context(|| format!("writing {}", data.join(DEMO_MARKER).display()))?;
    let cfg = workload.config();
    eprintln!(
        "cardledger demo: seed {}, {} days, {} holders, data in {}",
        cfg.seed,
        cfg.days,
        cfg.holders,
        data.display()
    );
    let gen_start = Instant::now();
    let lines: Vec<String> = cardledger_workload::generate(&cfg).collect();
    let gen_secs = gen_start.elapsed().as_secs_f64();
    let bar = bar(lines.len() as u64, "ingest");
    let mut sink = std::io::sink();
    let start = Instant::now();
    let tally = ingest_lines(&ledger, lines.into_iter().map(|l| Ok(Line::Text(l))), &mut sink, Some(&bar))?;
    let secs = start.elapsed().as_secs_f64();
    bar.finish();

    let state = ledger.engine().state();
    let mut programs: Vec<Value> = state
        .programs
        .iter()
        .map(|(t, p)| {
            json!({"program": t, "bank": p.cmd.bank, "jit": p.jit,
                   "bank_balance": state.balance(&Account::ProgramBank(t.clone())).to_json(),
                   "fee_income": state.balance(&Account::ProgramFees(t.clone())).to_json()})
        })
        .collect();
    programs.sort_by_key(|v| v["program"].as_str().unwrap_or("").to_string());
    let mut sample: Vec<&Holder> = state.holders.keys().collect();
    sample.sort();
    let sample: Vec<Holder> = sample.into_iter().take(3).cloned().collect();
    let total = state.total();
    drop(state);
    let holders_json: Vec<Value> = sample.iter().filter_map(|h| ledger.balances(h).ok()).collect();
    let views_start = Instant::now();
    let views_json = ledger.view_summary(5)?;
    let views_secs = views_start.elapsed().as_secs_f64();
    let charts_dir = match charts {
        Some(dir) => dir.to_path_buf(),
        None => data.parent().map(Path::to_path_buf).unwrap_or_default().join("charts"),
    };
    let chart_files: Vec<String> = ledger.write_charts(&charts_dir)?.iter().map(|p| p.display().to_string()).collect();
    let verified = ledger.verify()?;
    let statements = ledger.statement_counts()?;
    let views_ok = verified.projections.iter().all(|(_, ok)| *ok);
    let projections = verified.projections_json();
    let report = verified.report;
    let size = ledger.size_on_disk().unwrap_or(0);
    let summary = json!({
        "credit_statements": statements,
        "lines": tally.lines,
        "recorded": tally.recorded,
        "duplicates": tally.duplicates,
        "rejected": tally.rejected,
        "programs": programs,
        "sample_holders": holders_json,
        "sum_of_all_accounts": total.to_json(),
        "views": views_json,
        "charts": chart_files,
        "verify": {"ok": views_ok, "records": report.records, "head_hash": report.head_hash, "projections": projections},
        "throughput": {
            "generate_seconds": (gen_secs * 1000.0).round() / 1000.0,
            "ingest_seconds": (secs * 1000.0).round() / 1000.0,
            "views_catch_up_seconds": (views_secs * 1000.0).round() / 1000.0,
            "events_per_second": (tally.recorded as f64 / secs.max(1e-9)).round(),
            "bytes_on_disk": size,
            "bytes_per_event": ((size as f64 / report.records.max(1) as f64) * 10.0).round() / 10.0,
            "payload_bytes_per_event": ((report.payload_bytes as f64 / report.records.max(1) as f64) * 10.0).round() / 10.0,
        },
    });
    print_json(&summary)
}

/// The file `demo` writes into the stores it creates: only those does a
/// later demo replace without `--force`.
const DEMO_MARKER: &str = "cardledger-demo";

/// The demo always starts from an empty store. It removes `data` when it is
/// empty, or a store an earlier demo created (it holds [`DEMO_MARKER`]), or
/// any store with `--force`; it refuses (`Err` inside) a store it did not
/// create and anything that is not a store.
fn prepare_demo_dir(data: &Path, force: bool) -> Result<std::result::Result<(), String>> {
    if !data.exists() {
        return Ok(Ok(()));
    }
    let empty = std::fs::read_dir(data).with_context(|| format!("reading {}", data.display()))?.next().is_none();
    let is_store = Cardledger::store_exists(data);
    let demo_made = data.join(DEMO_MARKER).is_file();
    if empty || (is_store && (demo_made || force)) {
        std::fs::remove_dir_all(data).with_context(|| format!("clearing {}", data.display()))?;
        return Ok(Ok(()));
    }
    if is_store {
        return Ok(Err(format!(
            "{} holds a store that demo did not create; demo replaces it only with --force (its data is deleted)",
            data.display()
        )));
    }
    Ok(Err(format!("{} exists and is not a cardledger store; choose another --data", data.display())))
}
