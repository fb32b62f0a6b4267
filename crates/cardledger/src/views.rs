//! The views runtime: which views exist, parsing a view request, and the
//! projections behind them (each in a checkpointed `Runner` behind its own
//! mutex, caught up on demand, so a query replays only what was appended
//! since the last one).

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

use serde_json::{json, Value};

use cardledger_activity_balances::{ActivityAggregation, ActivityBalances, EXPANDABLE};
use cardledger_alerts::Alerts;
use cardledger_core::engine::{Engine, EngineError};
use cardledger_core::projection::{Projection, Runner};
use cardledger_domain::time::Timestamp;
use cardledger_program_balances::{ProgramAggregation, ProgramBalances};
use cardledger_query::{parse_params, Compression, ExportFormat, Params, Principal, QueryError, Rates, Table};
use cardledger_reserve_balances::ReserveBalances;
use cardledger_statements::Statements;
use cardledger_trial_balance::TrialBalance;

use crate::asof::AsOf;
use rust_decimal::Decimal;

/// Events between automatic checkpoints while catching up.
const CHECKPOINT_EVENTS: u64 = 100_000;

/// A view and aggregation (`/views/{view}/{aggregation}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewKind {
    /// `programbalances day|month`.
    Program(ProgramAggregation),
    /// `programreservebalances day`.
    Reserve,
    /// `activitybalances day|network|actor`.
    Activity(ActivityAggregation),
}

/// One view as `GET /views` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewInfo {
    /// The view's name.
    pub name: &'static str,
    /// Its aggregations.
    pub aggregations: &'static [&'static str],
    /// The export formats it offers.
    pub formats: &'static [ExportFormat],
}

impl ViewInfo {
    /// `{"name", "aggregations", "formats"}`.
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "aggregations": self.aggregations,
               "formats": self.formats.iter().map(|f| f.name()).collect::<Vec<_>>()})
    }
}

/// Every view, in a stable order.
pub const VIEWS: [ViewInfo; 3] = [
    ViewInfo { name: "programbalances", aggregations: &["day", "month"], formats: &[ExportFormat::Csv] },
    ViewInfo {
        name: "programreservebalances",
        aggregations: &["day"],
        formats: &[ExportFormat::Csv, ExportFormat::Xlsx],
    },
    ViewInfo { name: "activitybalances", aggregations: &["day", "network", "actor"], formats: &[ExportFormat::Csv] },
];

impl ViewKind {
    /// Parses NAME and AGG; errors name the bad one (`view` or `time_agg`).
    pub fn parse(name: &str, agg: &str) -> Result<ViewKind, QueryError> {
        let bad_agg =
            |reason: &'static str| QueryError::InvalidParameter { param: "time_agg", value: clip(agg), reason };
        match name {
            "programbalances" => {
                ProgramAggregation::parse(agg).map(ViewKind::Program).ok_or_else(|| bad_agg("day or month"))
            }
            "programreservebalances" => {
                if cardledger_reserve_balances::is_aggregation(agg) {
                    Ok(ViewKind::Reserve)
                } else {
                    Err(bad_agg("day"))
                }
            }
            "activitybalances" => {
                ActivityAggregation::parse(agg).map(ViewKind::Activity).ok_or_else(|| bad_agg("day, network or actor"))
            }
            _ => Err(QueryError::InvalidParameter {
                param: "view",
                value: clip(name),
                reason: "programbalances, programreservebalances or activitybalances",
            }),
        }
    }

    /// The view's listing entry.
    pub fn info(self) -> &'static ViewInfo {
        match self {
            ViewKind::Program(_) => &VIEWS[0],
            ViewKind::Reserve => &VIEWS[1],
            ViewKind::Activity(_) => &VIEWS[2],
        }
    }

    /// The export formats the source page lists (XLSX only for reserve balances).
    pub fn formats(self) -> &'static [ExportFormat] {
        self.info().formats
    }
}

/// A parsed view query: view, parameters, who asks, conversion rates, and
/// where in the log to read (`as_of_seq` / `as_of_time`).
#[derive(Clone, Debug)]
pub struct ViewRequest {
    /// The view and aggregation.
    pub kind: ViewKind,
    /// The query parameters.
    pub params: Params,
    /// Who asks (scopes programs and fields).
    pub principal: Principal,
    /// Conversion rates for `currency`.
    pub rates: Rates,
    /// Where in the log the answer is read.
    pub as_of: AsOf,
    /// The aggregation as given.
    agg: String,
    /// The query's pairs as given (without `as_of_*`), recorded in the
    /// answer's source so `verify-report` can run it again.
    pairs: Vec<(String, String)>,
    /// The `FROM:TO=RATE` texts of `rates` (see [`ViewRequest::set_rates`]).
    rate_args: Vec<String>,
}

impl ViewRequest {
    /// Parses the view name, aggregation and `key=value` parameters, for a
    /// principal that may see everything and no rates (set the fields to
    /// change them). Errors name the parameter.
    ///
    /// `as_of_seq=N` or `as_of_time=T` among the pairs set
    /// [`ViewRequest::as_of`] (errors name them: [`crate::Error::AsOf`]).
    pub fn parse(name: &str, agg: &str, pairs: &[(String, String)]) -> Result<ViewRequest, crate::Error> {
        let kind = ViewKind::parse(name, agg)?;
        let mut pairs = pairs.to_vec();
        let as_of = AsOf::take_from(&mut pairs)?;
        let params = parse_params(&pairs)?;
        Ok(ViewRequest {
            kind,
            params,
            principal: Principal::all(),
            rates: Rates::new(),
            as_of,
            agg: agg.to_string(),
            pairs,
            rate_args: Vec::new(),
        })
    }

    /// Sets the conversion rates from `FROM:TO=RATE` texts (errors name
    /// `rate`), keeping the texts for the answer's recorded query.
    pub fn set_rates(&mut self, args: &[String]) -> Result<(), QueryError> {
        self.rates = rates_from_args(args)?;
        self.rate_args = args.to_vec();
        Ok(())
    }

    /// The query an answer records: `VIEW/AGG?pairs`, with `fields=` the
    /// answer's columns when none was given (so a recomputation shows the
    /// same columns whoever runs it) and the `rate=` texts when converting.
    pub(crate) fn source_query(&self, fields: impl Iterator<Item = &'static str>) -> String {
        let mut pairs = self.pairs.clone();
        if !pairs.iter().any(|(k, _)| k == "fields") {
            pairs.push(("fields".into(), fields.collect::<Vec<_>>().join(",")));
        }
        if self.params.currency.is_some() {
            pairs.extend(self.rate_args.iter().map(|r| ("rate".to_string(), r.clone())));
        }
        cardledger_query::Source::query_text(self.kind.info().name, &self.agg, &pairs)
    }

    /// The same request for `principal`.
    pub fn with_principal(mut self, principal: Principal) -> ViewRequest {
        self.principal = principal;
        self
    }
}

/// A principal limited to `programs` (every field visible).
pub fn principal_for(programs: impl IntoIterator<Item = String>) -> Principal {
    Principal { programs: Some(programs.into_iter().collect::<BTreeSet<_>>()), ..Principal::all() }
}

/// One lazily opened runner behind a mutex.
pub(crate) struct Slot<P: Projection>(Mutex<Option<Runner<P>>>);

impl<P: Projection + Default> Slot<P> {
    pub(crate) fn new() -> Slot<P> {
        Slot(Mutex::new(None))
    }

    /// The runner, opened at its checkpoint if needed and caught up with
    /// the log. A runner just opened is checkpointed when it moved (so a
    /// short-lived host leaves its work behind); one kept open checkpoints
    /// every `CHECKPOINT_EVENTS` events while catching up, and on
    /// [`Slot::checkpoint`] (so a long-lived host does not encode the whole
    /// state after every write).
    pub(crate) fn caught_up(&self, engine: &Engine) -> Result<MutexGuard<'_, Option<Runner<P>>>, EngineError> {
        let mut guard = self.lock();
        let (runner, opened) = match guard.take() {
            Some(r) => (r, false),
            None => (Runner::open(engine, P::default())?.checkpoint_every(CHECKPOINT_EVENTS), true),
        };
        let runner = guard.insert(runner);
        let before = runner.applied_seq();
        if runner.catch_up()? != before && opened {
            runner.checkpoint()?;
        }
        Ok(guard)
    }

    /// Checkpoints the runner if it is open.
    pub(crate) fn checkpoint(&self) -> Result<(), EngineError> {
        match self.lock().as_mut() {
            Some(runner) => runner.checkpoint(),
            None => Ok(()),
        }
    }

    /// Forgets the runner (after its checkpoint was deleted).
    pub(crate) fn reset(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> MutexGuard<'_, Option<Runner<P>>> {
        // a panic while folding leaves a half-applied state: start again from the checkpoint
        match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                let mut g = poisoned.into_inner();
                *g = None;
                g
            }
        }
    }
}

impl Projections {
    /// Checkpoints every open projection.
    pub(crate) fn checkpoint(&self) -> Result<(), EngineError> {
        self.program.checkpoint()?;
        self.reserve.checkpoint()?;
        self.activity.checkpoint()?;
        self.statements.checkpoint()?;
        self.alerts.checkpoint()?;
        self.trial.checkpoint()
    }
}

/// Runs `f` on a slot's state as of `at` (`None`: caught up with the head)
/// and says which seq that state reflects. A past seq folds a fresh copy
/// from the projection's stored checkpoint when that is at or below the
/// seq, else from genesis ([`fold_to`]); the live runner is used when it is
/// exactly at that seq.
pub(crate) fn with_state_at<P: Projection + Default, R>(
    slot: &Slot<P>,
    engine: &Engine,
    at: Option<u64>,
    f: impl FnOnce(&P) -> R,
) -> Result<(R, u64), EngineError> {
    if let Some(seq) = at {
        if engine.head_seq() != seq {
            let p = fold_to::<P>(engine, seq)?;
            return Ok((f(&p), seq));
        }
    }
    let guard = slot.caught_up(engine)?;
    let past = match (guard.as_ref(), at) {
        (Some(runner), None) => return Ok((f(runner.state()), runner.applied_seq())),
        (Some(runner), Some(seq)) if runner.applied_seq() == seq => return Ok((f(runner.state()), seq)),
        // the head moved on between the check and the catch-up
        (Some(_), Some(seq)) => seq,
        (None, _) => unreachable_runner(),
    };
    drop(guard);
    let p = fold_to::<P>(engine, past)?;
    Ok((f(&p), past))
}

/// `P` as of `seq`: from its stored checkpoint when that is at or below
/// `seq` (and decodes), else from genesis, folding the log up to `seq`.
pub(crate) fn fold_to<P: Projection + Default>(engine: &Engine, seq: u64) -> Result<P, EngineError> {
    let (mut p, from) = match engine.store().load_checkpoint(P::NAME)? {
        Some((at, bytes)) if at <= seq => match P::decode(&bytes) {
            Some(p) => (p, at),
            None => (P::default(), 0),
        },
        _ => (P::default(), 0),
    };
    if from < seq {
        for entry in engine.events_from(from + 1) {
            let entry = entry?;
            if entry.rec.seq > seq {
                break;
            }
            p.apply(&entry.rec);
        }
    }
    Ok(p)
}

/// Runs `f` on the caught-up state of a slot.
pub(crate) fn with_state<P: Projection + Default, R>(
    slot: &Slot<P>,
    engine: &Engine,
    f: impl FnOnce(&P) -> R,
) -> Result<R, EngineError> {
    let guard = slot.caught_up(engine)?;
    match guard.as_ref() {
        Some(runner) => Ok(f(runner.state())),
        None => unreachable_runner(),
    }
}

/// Runs `f` on the caught-up runner of a slot (its state and position).
pub(crate) fn with_runner<P: Projection + Default, R>(
    slot: &Slot<P>,
    engine: &Engine,
    f: impl FnOnce(&Runner<P>) -> R,
) -> Result<R, EngineError> {
    let guard = slot.caught_up(engine)?;
    match guard.as_ref() {
        Some(runner) => Ok(f(runner)),
        None => unreachable_runner(),
    }
}

#[allow(clippy::panic)]
fn unreachable_runner<R>() -> R {
    panic!("caught_up always leaves a runner in its slot")
}

/// The projections of a handle.
pub(crate) struct Projections {
    pub(crate) program: Slot<ProgramBalances>,
    pub(crate) reserve: Slot<ReserveBalances>,
    pub(crate) activity: Slot<ActivityBalances>,
    pub(crate) statements: Slot<Statements>,
    pub(crate) alerts: Slot<Alerts>,
    pub(crate) trial: Slot<TrialBalance>,
}

impl Projections {
    pub(crate) fn new() -> Projections {
        Projections {
            program: Slot::new(),
            reserve: Slot::new(),
            activity: Slot::new(),
            statements: Slot::new(),
            alerts: Slot::new(),
            trial: Slot::new(),
        }
    }

    /// The table of a view for `params` as of `at` (`None`: the head), with
    /// the business time of the last event the view applied and its seq.
    pub(crate) fn table(
        &self,
        engine: &Engine,
        kind: ViewKind,
        params: &Params,
        at: Option<u64>,
    ) -> Result<(Table, Option<Timestamp>, u64), crate::Error> {
        let (p, start, end) = (&params.programs, params.start_date, params.end_date);
        let ((table, last), seq) = match kind {
            ViewKind::Program(agg) => with_state_at(&self.program, engine, at, |v| {
                (v.table(p, agg, start, end, &params.expand), v.last_time())
            })?,
            ViewKind::Reserve => with_state_at(&self.reserve, engine, at, |v| {
                (v.table(p, start, end, &params.expand), v.flows().last_time())
            })?,
            ViewKind::Activity(agg) => {
                if let Some(bad) = params.expand.iter().find(|e| !EXPANDABLE.contains(&e.as_str())) {
                    return Err(QueryError::InvalidParameter {
                        param: "expand",
                        value: clip(bad),
                        reason: "pin_purchases_net or sig_purchases_net",
                    }
                    .into());
                }
                with_state_at(&self.activity, engine, at, |v| {
                    (v.table(p, agg, start, end, &params.expand), v.last_time())
                })?
            }
        };
        Ok((table, last, seq))
    }
}

/// For `verify`: the statements projection caught up from its checkpoint
/// must encode byte for byte like a fresh replay of the whole log.
pub(crate) fn verify_statements(engine: &Engine) -> Result<bool, EngineError> {
    let mut fresh = Statements::default();
    for entry in engine.events_from(1) {
        fresh.apply(&entry?.rec);
    }
    matches_checkpoint(engine, &fresh)
}

/// For `verify`: each view projection opened from its stored checkpoint
/// and caught up must encode byte for byte like a fresh replay of the
/// whole log, and a stored checkpoint must decode (the runner would
/// silently rebuild one that does not). Returns `(name, ok)` per view.
pub(crate) fn verify_views(engine: &Engine) -> Result<Vec<(&'static str, bool)>, EngineError> {
    let (mut p, mut r, mut a) = (ProgramBalances::default(), ReserveBalances::default(), ActivityBalances::default());
    let mut alerts = Alerts::default();
    let mut t = TrialBalance::default();
    for entry in engine.events_from(1) {
        let rec = entry?.rec;
        p.apply(&rec);
        r.apply(&rec);
        a.apply(&rec);
        alerts.apply(&rec);
        t.apply(&rec);
    }
    let decodable = (
        decodes::<ProgramBalances>(engine)?,
        decodes::<ReserveBalances>(engine)?,
        decodes::<ActivityBalances>(engine)?,
        decodes::<Alerts>(engine)?,
    );
    let same = (
        matches_checkpoint(engine, &p)?,
        matches_checkpoint(engine, &r)?,
        matches_checkpoint(engine, &a)?,
        matches_checkpoint(engine, &alerts)?,
    );
    let trial = decodes::<TrialBalance>(engine)? && matches_checkpoint(engine, &t)?;
    Ok(vec![
        (ProgramBalances::NAME, decodable.0 && same.0),
        (ReserveBalances::NAME, decodable.1 && same.1),
        (ActivityBalances::NAME, decodable.2 && same.2),
        (Alerts::NAME, decodable.3 && same.3),
        (TrialBalance::NAME, trial),
    ])
}

/// True when `P`'s stored checkpoint (if any) decodes.
fn decodes<P: Projection>(engine: &Engine) -> Result<bool, EngineError> {
    Ok(match engine.store().load_checkpoint(P::NAME)? {
        Some((_, bytes)) => P::decode(&bytes).is_some(),
        None => true,
    })
}

/// True when `P` caught up from its checkpoint equals `fresh`.
/// Checkpoints it when it moved, as every query does.
fn matches_checkpoint<P: Projection + Default>(engine: &Engine, fresh: &P) -> Result<bool, EngineError> {
    let slot = Slot::<P>::new();
    let same = with_state(&slot, engine, |state| state.encode() == fresh.encode())?;
    Ok(same)
}

/// User text quoted in an error, cut to 64 characters.
pub(crate) fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

/// `key=value` arguments as pairs; anything else is an error naming it
/// (`parameters`).
pub fn pairs_from_args(args: &[String]) -> Result<Vec<(String, String)>, QueryError> {
    args.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(QueryError::InvalidParameter { param: "parameters", value: clip(a), reason: "key=value" }),
        })
        .collect()
}

/// `FROM:TO=RATE` texts (RATE > 0) as a rate table; errors name `rate`.
pub fn rates_from_args(args: &[String]) -> Result<Rates, QueryError> {
    let mut rates = Rates::new();
    for a in args {
        let parsed = a.split_once('=').and_then(|(pair, rate)| {
            let (from, to) = pair.split_once(':')?;
            Some((from, to, rate.parse::<Decimal>().ok()?))
        });
        match parsed {
            Some((from, to, rate)) if rate > Decimal::ZERO => rates.insert(from, to, rate),
            _ => {
                return Err(QueryError::InvalidParameter {
                    param: "rate",
                    value: clip(a),
                    reason: "FROM:TO=RATE with RATE > 0",
                })
            }
        }
    }
    Ok(rates)
}

/// A `gz` / `zip` text as a compression; errors name `compress`.
pub fn compression_from_arg(text: &str) -> Result<Compression, QueryError> {
    match text {
        "gz" => Ok(Compression::Gz),
        "zip" => Ok(Compression::Zip),
        _ => Err(QueryError::InvalidParameter { param: "compress", value: clip(text), reason: "gz or zip" }),
    }
}
