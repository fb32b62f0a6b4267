//! `cardledger`: the one dependency a host adds. [`Cardledger::open`] opens
//! a data directory and gives one handle (`Clone + Send + Sync`; clones
//! share the engine) that submits commands (single, batch or from many
//! threads at once: they share the engine's group commit, and nothing is
//! answered before it is flushed), ingests JSON-lines chunks, reads
//! resources and balances, answers the views (JSON, CSV, XLSX, gz / zip
//! exports, schemas) and the credit statement endpoints, and runs
//! `verify` and `rebuild`.
//!
//! The projections behind views and statements are caught up on demand:
//! each lives in a checkpointed runner behind its own mutex, so a query
//! replays only what was appended since the last one. Every failure is an
//! [`Error`] with a stable code and a kind a host maps to a status.
//!
//! ```
//! use cardledger::{Cardledger, Holder, Outcome, ViewRequest};
//!
//! let dir = tempfile::tempdir()?;
//! // one handle per data directory: Clone + Send + Sync, clones share the engine
//! let ledger = Cardledger::open(dir.path())?;
//! let setup = [
//!     r#"{"time": "2024-01-02T00:00:00Z", "program": {"token": "p1", "bank": "Sutton Bank", "currency_code": "USD"}}"#,
//!     r#"{"time": "2024-01-02T00:00:00Z", "funding_source": {"token": "fs1", "program_token": "p1", "type": "program", "is_default_account": true, "name": "Program funds"}}"#,
//!     r#"{"time": "2024-01-02T00:00:00Z", "user": {"token": "u1", "program_token": "p1"}}"#,
//! ];
//! for line in setup {
//!     // returns once the command is flushed to disk (or rejected)
//!     assert!(matches!(ledger.submit_json(line)?, Outcome::Recorded { .. }));
//! }
//!
//! // JSON lines, as `cardledger ingest` takes them: one answer per line, in
//! // order, once the chunk is durable; a bad line is answered, not fatal
//! let chunk = vec![
//!     r#"{"time": "2024-01-02T09:00:00Z", "gpa_order": {"token": "o1", "user_token": "u1", "amount": "25.00", "currency_code": "USD"}}"#.to_string(),
//!     r#"{"gpa_order": {"token": "o2", "user_token": "nobody", "amount": "5.00", "currency_code": "USD"}}"#.to_string(),
//! ];
//! let answers = ledger.ingest_chunk(&chunk, 1)?;
//! assert_eq!(answers[0]["seq"], 4);
//! assert!(answers[1]["error_code"].is_u64());
//!
//! // reads; a miss is a typed error a host maps to 404
//! assert_eq!(ledger.get("gpa_order", "o1")?["state"], "COMPLETION");
//! assert_eq!(ledger.get("gpa_order", "o9").unwrap_err().status(), 404);
//! let balances = ledger.balances(&Holder::User("u1".into()))?;
//! assert_eq!(balances["gpa"]["ledger_balance"].to_string(), "25");
//!
//! // a view (DiVA's /views/programbalances/day?program=p1), scoped to a principal
//! let pairs = vec![("program".to_string(), "p1".to_string())];
//! let request = ViewRequest::parse("programbalances", "day", &pairs)?;
//! assert_eq!(ledger.view_json(&request)?["records"][0]["program"], "p1");
//! let other = request.with_principal(cardledger::principal_for(["p2".to_string()]));
//! assert_eq!(ledger.view_json(&other).unwrap_err().status(), 403);
//!
//! // the log, the state and every projection against a fresh replay
//! assert!(ledger.verify()?.ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod accounts;
pub mod asof;
pub mod backend;
pub mod charts;
mod error;
pub mod lines;
mod pipeline;
mod reports;
mod router;
pub mod statements;
pub mod views;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use cardledger_alerts::Notice;
use cardledger_core::engine::Engine;
use cardledger_core::ingest;
use cardledger_core::projection::{EventCounts, Runner};
use cardledger_domain::response::event_body;
use cardledger_domain::wire;

pub use accounts::PostingsQuery;
pub use asof::{AsOf, At, StateAt};
pub use backend::LogConfig;
pub use cardledger_core::backup::BackupReport;
pub use cardledger_core::engine::{Ack, EngineError, LogEntry, Outcome, VerifyReport};
pub use cardledger_core::reads::{ListKind, LIST_KINDS};
pub use cardledger_domain::command::{CommandLine, Holder};
pub use cardledger_domain::rejection::{Code, Rejection};
pub use cardledger_query::{
    pairs_from_query, Answer, Compression, ExportFormat, ExportToken, Params, Principal, QueryError, Rates,
};
pub use error::{Error, ErrorKind};
pub use lines::{BoundedLines, Line, LineRef, LineSource};
pub use reports::ReportCheck;
pub use views::{
    compression_from_arg, pairs_from_args, principal_for, rates_from_args, ViewInfo, ViewKind, ViewRequest, VIEWS,
};

/// The layers below, for what the facade does not wrap (the ledger state,
/// command and event types, the workload-free domain rules).
pub mod layers {
    pub use cardledger_core as core;
    pub use cardledger_domain as domain;
    pub use cardledger_query as query;
    pub use cardledger_statements as statements;
}

/// Lines submitted as one batch by [`Cardledger::ingest`].
pub const INGEST_CHUNK_LINES: usize = 8192;

/// A handle on one data directory. Clones share everything.
#[derive(Clone)]
pub struct Cardledger {
    inner: Arc<Inner>,
    /// A host owning several programs of a `--log` cluster: one shard per
    /// program, `inner` being the first's (`router.rs`). `None`: one engine.
    router: Option<Arc<router::Router>>,
}

struct Inner {
    engine: Engine,
    dir: PathBuf,
    projections: views::Projections,
}

/// What `verify` found when the log itself is sound.
#[derive(Clone, Debug)]
pub struct Verification {
    /// The log's report (records, head hash, payload bytes).
    pub report: VerifyReport,
    /// The statements projection equals a fresh replay.
    pub statements: bool,
    /// Each view projection (by checkpoint name) equals a fresh replay
    /// and its checkpoint decodes.
    pub projections: Vec<(&'static str, bool)>,
}

impl Verification {
    /// True when everything checked out.
    pub fn ok(&self) -> bool {
        self.statements && self.projections.iter().all(|(_, ok)| *ok)
    }

    /// `{"programbalances.v…": true, …}`.
    pub fn projections_json(&self) -> Value {
        Value::Object(self.projections.iter().map(|(n, ok)| (n.to_string(), Value::Bool(*ok))).collect())
    }
}

/// What `rebuild` did.
#[derive(Clone, Debug)]
pub struct Rebuilt {
    /// The log position every projection was rebuilt to.
    pub events: u64,
    /// Events per kind.
    pub by_kind: BTreeMap<String, u64>,
    /// Statement counts per cycle type (see [`statements::cycle_type_counts`]).
    pub statements: Value,
}

/// One notification a webhook delivers (see [`Cardledger::notifications`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// Its place in the list of every notification (0-based).
    pub ordinal: u64,
    /// The log position of the event behind it.
    pub seq: u64,
    /// `alert.{kind}`, `accountstatement.created` or
    /// `delinquencytransition.created`.
    pub event_type: String,
    /// Unique and stable across replays.
    pub token: String,
    /// `{"token", "type", "seq", "data"}`.
    pub body: Value,
}

/// A credit account's latest statement close (see
/// [`Cardledger::latest_statement_closes`]).
#[derive(Clone, Debug)]
pub struct LatestClose {
    /// The close as recorded (account, statement, balances, minimum, dates).
    pub close: cardledger_domain::cycle::CycleClose,
    /// Its closing date in the account's time zone.
    pub closing_day: cardledger_domain::time::Date,
}

/// Counts of an [`Cardledger::ingest`] run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Lines answered.
    pub lines: u64,
    /// Commands recorded.
    pub recorded: u64,
    /// Repeats of recorded commands.
    pub duplicates: u64,
    /// Lines rejected.
    pub rejected: u64,
}

impl Cardledger {
    /// Opens (or creates) the store in `dir`. Projections are opened at
    /// their checkpoints the first time a query needs them.
    pub fn open(dir: impl AsRef<Path>) -> Result<Cardledger, Error> {
        let dir = dir.as_ref().to_path_buf();
        let engine = Engine::open(&dir)?;
        Ok(Cardledger::from_engine(engine, dir))
    }

    /// A handle on an open engine whose local state is in `dir`.
    pub(crate) fn from_engine(engine: Engine, dir: PathBuf) -> Cardledger {
        Cardledger { inner: Arc::new(Inner { engine, dir, projections: views::Projections::new() }), router: None }
    }

    /// A handle routing over several single-program handles (one per owned
    /// program, sorted by program token; at least one).
    pub(crate) fn routed(mut shards: Vec<(String, Cardledger)>) -> Cardledger {
        shards.sort_by(|a, b| a.0.cmp(&b.0));
        let Some((_, first)) = shards.first() else { unreachable!("a router has at least one shard") };
        let inner = Arc::clone(&first.inner);
        let shards = shards.into_iter().map(|(program, ledger)| router::Shard { program, ledger }).collect();
        Cardledger { inner, router: Some(Arc::new(router::Router { shards })) }
    }

    /// The programs this host owns when it owns several (`--programs P1,P2`),
    /// in order; `None` for a host of one engine.
    pub fn owned_programs(&self) -> Option<Vec<String>> {
        self.router.as_ref().map(|r| r.programs())
    }

    /// The shards of a host owning several programs.
    pub(crate) fn router_shards(&self) -> Option<&[router::Shard]> {
        self.router.as_ref().map(|r| r.shards.as_slice())
    }

    /// The refusal of what a host owning several programs does not serve.
    pub(crate) fn not_routed(&self, what: &str) -> Result<(), Error> {
        match &self.router {
            None => Ok(()),
            Some(_) => Err(Error::Rejected(Rejection::new(
                Code::InvalidValue,
                "programs",
                format!("{what} is not served by a host owning several programs; start a host of one program"),
            ))),
        }
    }

    /// Opens the store in `dir` only if there is one: a directory without a
    /// store is [`Error::NoStore`] and nothing is created (read commands).
    pub fn open_existing(dir: impl AsRef<Path>) -> Result<Cardledger, Error> {
        let dir = dir.as_ref();
        if !Self::store_exists(dir) {
            return Err(Error::NoStore { dir: dir.display().to_string() });
        }
        Cardledger::open(dir)
    }

    /// True when `dir` holds a store.
    pub fn store_exists(dir: impl AsRef<Path>) -> bool {
        cardledger_core::store::Store::exists(dir.as_ref())
    }

    /// The engine underneath (state, log, store), for what the facade does
    /// not wrap. On a host owning several programs: the first program's.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The last durable sequence number.
    /// On a host owning several programs: the sum over the owned streams.
    pub fn head_seq(&self) -> u64 {
        if let Some(r) = &self.router {
            return r.shards.iter().map(|s| s.ledger.head_seq()).sum();
        }
        self.inner.engine.head_seq()
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, Error> {
        if let Some(r) = &self.router {
            let mut total = 0u64;
            for s in &r.shards {
                total = total.saturating_add(s.ledger.size_on_disk()?);
            }
            return Ok(total);
        }
        Ok(self.inner.engine.store().size_on_disk().map_err(cardledger_core::engine::EngineError::from)?)
    }

    // ---- commands ----

    /// Submits one command; returns once it is durable (or rejected).
    pub fn submit(&self, line: CommandLine) -> Result<Outcome, Error> {
        if let Some(r) = &self.router {
            let mut outcomes = r.submit_batch(vec![line])?;
            let Some(o) = outcomes.pop() else { unreachable!("one outcome per command") };
            return Ok(o);
        }
        Ok(self.inner.engine.submit(line)?)
    }

    /// Parses one JSON line (the wire format) and submits it; a line that
    /// does not parse is an `Outcome::Rejected`.
    pub fn submit_json(&self, text: &str) -> Result<Outcome, Error> {
        match wire::parse_line(text) {
            Ok(line) => self.submit(line),
            Err(r) => Ok(Outcome::Rejected(r)),
        }
    }

    /// Submits a batch (at most `BATCH_RECORDS_MAX`), decided in order and
    /// flushed once; one outcome per command.
    pub fn submit_batch(&self, lines: Vec<CommandLine>) -> Result<Vec<Outcome>, Error> {
        Ok(self.submit_outcomes(lines)?)
    }

    /// [`Cardledger::submit_batch`] with the engine's error (a host that
    /// hands one error to many waiters clones it). On a host owning several
    /// programs each shard's part is one group: atomic per shard.
    pub fn submit_outcomes(&self, lines: Vec<CommandLine>) -> Result<Vec<Outcome>, EngineError> {
        match &self.router {
            Some(r) => {
                let max = cardledger_domain::limits::BATCH_RECORDS_MAX;
                if lines.len() > max {
                    return Err(EngineError::BatchTooLarge { max, got: lines.len() });
                }
                r.submit_batch(lines)
            }
            None => self.inner.engine.submit_batch(lines),
        }
    }

    /// Like [`Cardledger::submit_batch`], answering only sequence numbers.
    pub fn submit_batch_acks(&self, lines: Vec<CommandLine>) -> Result<Vec<Ack>, Error> {
        if self.router.is_some() {
            return Ok(self.submit_outcomes(lines)?.into_iter().map(Ack::from).collect());
        }
        Ok(self.inner.engine.submit_batch_acks(lines)?)
    }

    /// Answers a chunk of JSON lines numbered from `first_line`: one answer
    /// object per line (an empty one is a 1001 rejection), in order, after the chunk is durable (the
    /// answer lines of `cardledger ingest`).
    pub fn ingest_chunk(&self, lines: &[String], first_line: u64) -> Result<Vec<Value>, Error> {
        if let Some(r) = &self.router {
            let mut parsed = ingest::Parsed::new(first_line, lines.len());
            for raw in lines {
                parsed.push_line(raw);
            }
            return Ok(ingest::decide_with(parsed, |commands| r.submit_batch(commands))?.into_values());
        }
        Ok(ingest::ingest_chunk(&self.inner.engine, lines, first_line)?)
    }

    /// Ingests bounded input lines in chunks of [`INGEST_CHUNK_LINES`],
    /// writing every answer line (`\n`-terminated, the bytes of
    /// [`Cardledger::ingest_chunk`]'s values) to `out` in input order, each
    /// chunk once it is durable, and calling `progress` with the number of
    /// lines answered after each chunk. Reading and parsing, deciding and
    /// writing run on their own threads, a chunk decided while the one
    /// before it flushes (`pipeline.rs`); on a host owning
    /// several programs each chunk is routed and its shards' parts decided
    /// in parallel (`router.rs`).
    pub fn ingest(
        &self,
        lines: impl LineSource,
        out: &mut dyn std::io::Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Tally, Error> {
        let submit: pipeline::Submit = match &self.router {
            // the shards' parts are queued on several threads: the next
            // chunk waits for this one's answer (one chunk in flight)
            Some(r) => {
                let r = Arc::clone(r);
                Arc::new(move |commands, _| r.submit_batch(commands))
            }
            None => {
                let inner = Arc::clone(&self.inner);
                Arc::new(move |commands, on_queued| inner.engine.submit_in_batches_queued(commands, on_queued))
            }
        };
        pipeline::run(submit, lines, out, progress)
    }

    // ---- reads ----

    /// One resource as the source page returns it (`gpa_order`, `gpa_unload`,
    /// `msa_order`, `msa_unload`, `offer_order`, or a set-up kind).
    pub fn get(&self, kind: &str, token: &str) -> Result<Value, Error> {
        if let Some(r) = &self.router {
            let mut failure = None;
            let found = r.first(|s| match s.get(kind, token) {
                Ok(v) => Some(v),
                Err(Error::NotFound { .. }) => None,
                Err(e) => {
                    failure = Some(e);
                    None
                }
            });
            if let Some(e) = failure {
                return Err(e);
            }
            return found.ok_or_else(|| Error::NotFound { what: format!("{kind} {token:?}") });
        }
        self.inner.engine.get(kind, token)?.ok_or_else(|| Error::NotFound { what: format!("{kind} {token:?}") })
    }

    /// [`Cardledger::get`] as of a log position: the resource as it stood
    /// then (not found if created later), with `as_of_seq` and `as_of_hash`
    /// added. At the head it is [`Cardledger::get`].
    pub fn get_at(&self, kind: &str, token: &str, as_of: AsOf) -> Result<Value, Error> {
        if as_of.is_head() {
            return self.get(kind, token);
        }
        self.not_routed("an as-of read")?;
        let at = self.resolve(as_of)?;
        let state = self.state_at(&at)?;
        let v = self
            .inner
            .engine
            .get_in(&state, kind, token)?
            .ok_or_else(|| Error::NotFound { what: format!("{kind} {token:?} at seq {}", at.seq) })?;
        Ok(at.stamp(v))
    }

    /// A list of any kind of [`LIST_KINDS`] (users, businesses, funding
    /// sources and their addresses, fees, campaigns, merchants, offers, GPA,
    /// MSA and offer orders, GPA and MSA unloads, fee transfers, journal
    /// entries, credit accounts, program deposits) with `key=value`
    /// parameters: `count`, `start_index`, `fields`, `sort_by` and the
    /// kind's filters.
    /// `as_of_seq` / `as_of_time` read it as of that log position and add
    /// `as_of_seq` and `as_of_hash`.
    pub fn list(&self, kind: &str, params: &[(String, String)]) -> Result<Value, Error> {
        let mut params = params.to_vec();
        let as_of = AsOf::take_from(&mut params)?;
        if let Some(r) = &self.router {
            if as_of.is_head() {
                return r.list(kind, &params);
            }
        }
        if as_of.is_head() {
            return Ok(self.inner.engine.list(kind, &params)?);
        }
        self.not_routed("an as-of read")?;
        let at = self.resolve(as_of)?;
        let state = self.state_at(&at)?;
        Ok(at.stamp(self.inner.engine.list_in(&state, kind, &params)?))
    }

    /// A holder's GPA and MSA balances.
    pub fn balances(&self, holder: &Holder) -> Result<Value, Error> {
        if let Some(r) = &self.router {
            return r
                .first(|s| s.inner.engine.balances(holder))
                .ok_or_else(|| Error::NotFound { what: format!("holder {holder:?}") });
        }
        self.inner.engine.balances(holder).ok_or_else(|| Error::NotFound { what: format!("holder {holder:?}") })
    }

    /// [`Cardledger::balances`] as of a log position, with `as_of_seq` and
    /// `as_of_hash` added (a holder created later is not found).
    pub fn balances_at(&self, holder: &Holder, as_of: AsOf) -> Result<Value, Error> {
        if as_of.is_head() {
            return self.balances(holder);
        }
        self.not_routed("an as-of read")?;
        let at = self.resolve(as_of)?;
        let state = self.state_at(&at)?;
        let v = cardledger_core::reads::balances_in(&state, holder)
            .ok_or_else(|| Error::NotFound { what: format!("holder {holder:?} at seq {}", at.seq) })?;
        Ok(at.stamp(v))
    }

    /// A credit account's balance between statements: current balance,
    /// credit limit, available credit, holds, and the open cycle's
    /// purchases, payments, credits, fees and interest so far.
    pub fn credit_balance(&self, account: &str) -> Result<Value, Error> {
        if let Some(r) = &self.router {
            return r.shard_of_account(account).credit_balance(account);
        }
        self.inner
            .engine
            .credit_balance(account)
            .ok_or_else(|| Error::NotFound { what: format!("credit account {account:?}") })
    }

    /// Recorded events from `seq` on, each as the `cardledger log` line
    /// `{"seq", "time", "hash", "event"}`.
    ///
    /// On a host owning several programs: one error (each stream has its
    /// own seqs; `log` runs on a host of one program).
    pub fn log(&self, seq: u64) -> Box<dyn Iterator<Item = Result<Value, Error>> + '_> {
        if let Err(e) = self.not_routed("log") {
            return Box::new(std::iter::once(Err(e)));
        }
        Box::new(self.inner.engine.events_from(seq).map(|entry| {
            let entry = entry?;
            let mut body = event_body(&entry.rec.fact.event);
            if let (Some(d), Value::Object(o)) = (entry.rec.fact.corrected_post_date, &mut body) {
                o.insert("corrected_post_date".into(), d.to_string().into());
            }
            let mut ev = serde_json::Map::new();
            ev.insert(entry.rec.fact.event.kind().to_string(), body);
            Ok(json!({"seq": entry.rec.seq, "time": entry.rec.time.to_string(),
                "hash": cardledger_core::record::hex(&entry.hash), "event": Value::Object(ev)}))
        }))
    }

    // ---- views ----

    /// Every view with its aggregations and export formats (`GET /views`).
    pub fn views(&self) -> &'static [ViewInfo] {
        &VIEWS
    }

    /// Runs a view query and hands the answer to `f` (render it as JSON,
    /// CSV or XLSX there); the projection's lock is released before `f` runs.
    pub fn view_with<R>(
        &self,
        request: &ViewRequest,
        f: impl FnOnce(&Answer<'_>) -> Result<R, QueryError>,
    ) -> Result<R, Error> {
        let at = match request.as_of {
            AsOf::Head => None,
            as_of => {
                self.not_routed("an as-of read")?;
                Some(self.resolve(as_of)?.seq)
            }
        };
        let (table, last, at) = match &self.router {
            Some(r) => r.table(request.kind, &request.params)?,
            None => {
                let (table, last, seq) =
                    self.inner.projections.table(&self.inner.engine, request.kind, &request.params, at)?;
                (table, last, self.at(seq)?)
            }
        };
        let answer = cardledger_query::run(&table, &request.params, &request.principal, &request.rates, last)?;
        let source =
            cardledger_query::Source { seq: at.seq, hash: at.hash, query: request.source_query(answer.fields()) };
        Ok(f(&answer.with_source(source))?)
    }

    /// The JSON envelope of a view query.
    pub fn view_json(&self, request: &ViewRequest) -> Result<Value, Error> {
        self.view_with(request, |a| Ok(a.to_json()))
    }

    /// The JSON envelope of a view query as text.
    pub fn view_json_text(&self, request: &ViewRequest) -> Result<String, Error> {
        self.view_with(request, |a| Ok(a.to_json_string()))
    }

    /// The answer as uncompressed CSV or XLSX bytes (400012 when the view
    /// does not offer the format).
    pub fn view_bytes(&self, request: &ViewRequest, format: ExportFormat) -> Result<Vec<u8>, Error> {
        let allowed = request.kind.formats();
        if !allowed.contains(&format) {
            return Err(QueryError::FormatNotAllowed {
                format: format.name().into(),
                allowed: allowed.iter().map(|f| f.name()).collect::<Vec<_>>().join(","),
            }
            .into());
        }
        self.view_with(request, |a| match format {
            ExportFormat::Csv => {
                let mut out = Vec::new();
                a.write_csv(&mut out)?;
                Ok(out)
            }
            ExportFormat::Xlsx => a.write_xlsx(),
        })
    }

    /// Writes the answer as a compressed export (`params.compress`: gz or
    /// zip) under `dir`, named by its token.
    pub fn view_export(&self, request: &ViewRequest, format: ExportFormat, dir: &Path) -> Result<ExportToken, Error> {
        std::fs::create_dir_all(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })
            .map_err(|e| QueryError::Io { path: dir.display().to_string(), message: e.to_string() })?;
        self.view_with(request, |a| {
            cardledger_query::export(a, format, request.kind.formats(), request.params.compress, dir)
        })
    }

    /// Where exports go by default: `exports/` beside the data directory.
    pub fn exports_dir(&self) -> PathBuf {
        self.inner.dir.parent().map(Path::to_path_buf).unwrap_or_default().join("exports")
    }

    /// A view's schema array (with `expand` columns when asked; `fields`
    /// limits it; `params` may be empty).
    pub fn view_schema(&self, kind: ViewKind, params: &[(String, String)]) -> Result<Value, Error> {
        let params = if params.is_empty() { Params::default() } else { cardledger_query::parse_params(params)? };
        let table = match &self.router {
            Some(r) => r.table(kind, &params)?.0,
            None => self.inner.projections.table(&self.inner.engine, kind, &params, None)?.0,
        };
        Ok(cardledger_query::schema(&table, &params, &Principal::all(), &Rates::new())?)
    }

    /// The last `days` rows of each view for every program, newest first
    /// (the demo's summary).
    pub fn view_summary(&self, days: u32) -> Result<Value, Error> {
        let mut programs = Vec::new();
        let mut reserve = Vec::new();
        let shards = match &self.router {
            Some(r) => r.shards.iter().map(|s| &s.ledger).collect(),
            None => vec![self],
        };
        for shard in shards {
            views::with_state(&shard.inner.projections.program, &shard.inner.engine, |v| {
                programs.extend(v.programs().keys().cloned());
                reserve.extend(v.programs().iter().filter(|(_, p)| p.reserve.is_some()).map(|(t, _)| t.clone()));
            })?;
        }
        programs.sort();
        programs.dedup();
        reserve.sort();
        reserve.dedup();
        let program_fields =
            "fields=program,corrected_post_date,amount_to_send,deposit,beginning_bank_balance,ending_bank_balance";
        let queries = [
            ("programbalances", "day", &programs, program_fields),
            ("programbalances", "month", &programs, program_fields),
            ("programreservebalances", "day", &reserve, "fields=program,post_date,day_of_week,amount_to_send,ending_bank_balance,reserve_requirement_amount,reserve_owed_amount"),
            ("activitybalances", "day", &programs, "fields=program,corrected_post_date,starting_balance,pin_purchases_net,sig_purchases_net,ending_balance"),
        ];
        let mut out = serde_json::Map::new();
        for (view, agg, programs, fields) in queries {
            let mut rows = Vec::new();
            for program in programs.iter() {
                let query = format!("program={program}&count={days}&{fields}");
                let request = ViewRequest::parse(view, agg, &cardledger_query::pairs_from_query(&query))?;
                if let Some(Value::Array(records)) = self.view_json(&request)?.get_mut("records") {
                    rows.append(records);
                }
            }
            out.insert(format!("{view}/{agg}"), Value::Array(rows));
        }
        Ok(Value::Object(out))
    }

    // ---- statements ----

    /// A credit statement endpoint: `path` is what follows
    /// `/credit/accounts/{account}` (see [`statements`]), `params` the
    /// `key=value` parameters.
    ///
    /// `as_of_seq=N` / `as_of_time=T` among the parameters answer from the
    /// statements projection as of that log position (folded from its
    /// checkpoint when at or below it, else from genesis) and add
    /// `as_of_seq` and `as_of_hash`.
    pub fn statements(&self, account: &str, path: &[&str], params: &[&str]) -> Result<Value, Error> {
        if let Some(r) = &self.router {
            if params.iter().any(|p| p.split_once('=').is_some_and(|(k, _)| asof::AS_OF_KEYS.contains(&k))) {
                self.not_routed("an as-of read")?;
            }
            return r.shard_of_account(account).statements(account, path, params);
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut rest: Vec<&str> = Vec::with_capacity(params.len());
        for p in params {
            match p.split_once('=') {
                Some((k, v)) if asof::AS_OF_KEYS.contains(&k) => pairs.push((k.to_string(), v.to_string())),
                _ => rest.push(p),
            }
        }
        let as_of = AsOf::take_from(&mut pairs)?;
        if as_of.is_head() {
            let answer = views::with_state(&self.inner.projections.statements, &self.inner.engine, |s| {
                statements::answer(s, account, path, &rest)
            })?;
            return Ok(answer?);
        }
        let at = self.resolve(as_of)?;
        let (answer, _) =
            views::with_state_at(&self.inner.projections.statements, &self.inner.engine, Some(at.seq), |s| {
                statements::answer(s, account, path, &rest)
            })?;
        Ok(at.stamp(answer?))
    }

    /// The latest statement close of each credit account of `program`,
    /// newest closing first (ties by account token), at most `count`: each
    /// with its closing date in the account's time zone (the date the
    /// statements endpoints filter on).
    pub fn latest_statement_closes(&self, program: &str, count: usize) -> Result<Vec<LatestClose>, Error> {
        if let Some(r) = &self.router {
            return r.shard_of(program).latest_statement_closes(program, count);
        }
        let zones: BTreeMap<String, String> = self
            .inner
            .engine
            .state()
            .credit_accounts
            .iter()
            .filter(|(_, (c, _))| c.program_token == program)
            .map(|(t, (c, _))| (t.to_string(), c.timezone.clone()))
            .collect();
        let mut closes = views::with_state(&self.inner.projections.statements, &self.inner.engine, |s| {
            s.latest_closes()
                .filter_map(|c| {
                    let zone = zones.get(c.account_token.as_str())?;
                    let tz = cardledger_domain::zone::parse(zone).unwrap_or(cardledger_domain::cycle::DEFAULT_ZONE);
                    let closing_day = cardledger_domain::zone::local_date(tz, c.closing_date);
                    Some(LatestClose { close: c.clone(), closing_day })
                })
                .collect::<Vec<_>>()
        })?;
        closes.sort_by(|a, b| {
            b.close
                .closing_date
                .cmp(&a.close.closing_date)
                .then_with(|| a.close.account_token.cmp(&b.close.account_token))
        });
        closes.truncate(count);
        Ok(closes)
    }

    /// Statement counts per cycle type.
    pub fn statement_counts(&self) -> Result<Value, Error> {
        if let Some(r) = &self.router {
            let mut total = Value::Object(serde_json::Map::new());
            for s in &r.shards {
                router::sum_counts(&mut total, &s.ledger.statement_counts()?);
            }
            return Ok(total);
        }
        Ok(views::with_state(&self.inner.projections.statements, &self.inner.engine, statements::cycle_type_counts)?)
    }

    // ---- alerts and notifications (`docs/alerts.md`) ----

    /// The alerts recorded by events after `after_seq`, in log order, each
    /// as `cardledger alerts` prints it, with the log position they were
    /// read at (every event up to it is folded).
    pub fn alerts(&self, after_seq: u64) -> Result<(Vec<Value>, u64), Error> {
        self.not_routed("alerts")?;
        Ok(views::with_runner(&self.inner.projections.alerts, &self.inner.engine, |runner| {
            let alerts = runner
                .state()
                .notices_after(after_seq)
                .iter()
                .filter_map(|n| match n {
                    Notice::Alert(a) => Some(a.to_json()),
                    Notice::Statement { .. } | Notice::Transition { .. } => None,
                })
                .collect();
            (alerts, runner.applied_seq())
        })?)
    }

    /// The notifications (alerts, statements created, delinquency
    /// transitions) from the `from`-th on (0-based, in log order), at most
    /// `limit`. The list of notifications only grows and is the same on
    /// every replay, so an ordinal is a stable cursor for a deliverer.
    pub fn notifications(&self, from: u64, limit: usize) -> Result<Vec<Notification>, Error> {
        self.not_routed("notifications")?;
        Ok(views::with_state(&self.inner.projections.alerts, &self.inner.engine, |state| {
            let start = usize::try_from(from).unwrap_or(usize::MAX);
            let notices = state.notices().get(start..).unwrap_or(&[]);
            notices
                .iter()
                .take(limit)
                .zip(from..)
                .map(|(n, ordinal)| {
                    let body = state.notice_json(n);
                    let token = body.get("token").and_then(Value::as_str).unwrap_or_default().to_string();
                    Notification { ordinal, seq: n.seq(), event_type: n.event_type(), token, body }
                })
                .collect()
        })?)
    }

    /// Waits up to `timeout` for the log to grow beyond `seq`; returns the
    /// head then (a follower's sleep that wakes on the next commit).
    ///
    /// On a host owning several programs: the first shard's log (a
    /// follower there reads [`Cardledger::head_seq`], the sum, instead).
    pub fn wait_beyond(&self, seq: u64, timeout: std::time::Duration) -> u64 {
        self.inner.engine.subscribe().wait_beyond(seq, timeout);
        self.head_seq()
    }

    // ---- charts ----

    /// The chart of one program: its ending bank balance by day and, for a
    /// reserve program, its reserve requirement.
    pub fn program_chart(&self, program: &str) -> Result<charts::Chart, Error> {
        if let Some(r) = &self.router {
            return r.shard_of(program).program_chart(program);
        }
        charts::program_chart(self, program)
    }

    /// Writes one SVG chart per program into `dir`; returns the files.
    pub fn write_charts(&self, dir: &Path) -> Result<Vec<PathBuf>, Error> {
        if let Some(r) = &self.router {
            let mut files = Vec::new();
            for s in &r.shards {
                files.extend(s.ledger.write_charts(dir)?);
            }
            return Ok(files);
        }
        charts::write_program_charts(self, dir)
    }

    /// The program tokens the views know, in order.
    pub fn programs(&self) -> Result<Vec<String>, Error> {
        if let Some(r) = &self.router {
            let mut all = Vec::new();
            for s in &r.shards {
                all.extend(s.ledger.programs()?);
            }
            all.sort();
            all.dedup();
            return Ok(all);
        }
        Ok(views::with_state(&self.inner.projections.program, &self.inner.engine, |v| {
            v.programs().keys().cloned().collect()
        })?)
    }

    pub(crate) fn projections(&self) -> &views::Projections {
        &self.inner.projections
    }

    /// Checkpoints every projection a query has opened (a long-lived host
    /// calls this before it exits; queries checkpoint only on the first
    /// catch-up after open and every 100,000 events after that).
    pub fn checkpoint(&self) -> Result<(), Error> {
        if let Some(r) = &self.router {
            for s in &r.shards {
                s.ledger.checkpoint()?;
            }
            return Ok(());
        }
        Ok(self.inner.projections.checkpoint()?)
    }

    /// Snapshots the ledger state now (the engine also snapshots on its
    /// own schedule and when the last handle is dropped); returns the
    /// snapshot's sequence number, `None` when there was nothing new.
    ///
    /// On a host owning several programs: every shard, answering the sum of
    /// the snapshots' seqs (`None` when no shard had anything new).
    pub fn snapshot(&self) -> Result<Option<u64>, Error> {
        if let Some(r) = &self.router {
            let mut any = None;
            for s in &r.shards {
                if let Some(seq) = s.ledger.snapshot()? {
                    any = Some(any.unwrap_or(0u64).saturating_add(seq));
                }
            }
            return Ok(any);
        }
        Ok(self.inner.engine.snapshot()?)
    }

    /// Streams the log's records, verified as they are read, from the
    /// durable head at the start, while commands go on.
    pub fn backup(&self, w: impl std::io::Write) -> Result<BackupReport, Error> {
        self.not_routed("backup")?;
        Ok(self.inner.engine.backup(w)?)
    }

    /// Builds a new store in `dir` (empty or absent) from a backup,
    /// verifies and snapshots it.
    pub fn restore(r: impl std::io::Read, dir: &Path) -> Result<BackupReport, Error> {
        Ok(cardledger_core::backup::restore(r, dir)?)
    }

    // ---- verify and rebuild ----

    /// Checks every checksum and the hash chain, that the state equals a
    /// fresh replay (`Error::LogCorrupt` otherwise), then that every
    /// projection caught up from its checkpoint equals a fresh replay.
    ///
    /// On a host owning several programs: every shard; the first failure is
    /// the answer, else the reports added up (records, payload bytes,
    /// snapshots), the head hash and state digest a digest of each shard's
    /// (`program:value;…`), each projection true only when true on every
    /// shard.
    pub fn verify(&self) -> Result<Verification, Error> {
        if let Some(r) = &self.router {
            return r.verify();
        }
        let report = self.inner.engine.verify().map_err(Error::LogCorrupt)?;
        let statements = views::verify_statements(&self.inner.engine)?;
        let projections = views::verify_views(&self.inner.engine)?;
        Ok(Verification { report, statements, projections })
    }

    /// Deletes every projection checkpoint and replays the log into every
    /// projection, checkpointing them.
    ///
    /// On a host owning several programs: every shard, the counts added up.
    pub fn rebuild(&self) -> Result<Rebuilt, Error> {
        if let Some(r) = &self.router {
            let mut total = Rebuilt { events: 0, by_kind: BTreeMap::new(), statements: json!({}) };
            for s in &r.shards {
                let one = s.ledger.rebuild()?;
                total.events = total.events.saturating_add(one.events);
                for (k, n) in one.by_kind {
                    *total.by_kind.entry(k).or_insert(0) += n;
                }
                router::sum_counts(&mut total.statements, &one.statements);
            }
            return Ok(total);
        }
        let engine = &self.inner.engine;
        let p = &self.inner.projections;
        engine.store().delete_checkpoints().map_err(EngineError::from)?;
        p.program.reset();
        p.reserve.reset();
        p.activity.reset();
        p.statements.reset();
        p.alerts.reset();
        p.trial.reset();
        let mut runner = Runner::open(engine, EventCounts::default())?;
        let events = runner.catch_up()?;
        runner.checkpoint()?;
        let statements = self.statement_counts()?;
        views::with_state(&p.program, engine, |_| ())?;
        views::with_state(&p.reserve, engine, |_| ())?;
        views::with_state(&p.activity, engine, |_| ())?;
        views::with_state(&p.alerts, engine, |_| ())?;
        views::with_state(&p.trial, engine, |_| ())?;
        Ok(Rebuilt { events, by_kind: runner.state().by_kind.clone(), statements })
    }
}
