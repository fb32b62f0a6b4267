//! The view commands of the host: `view`, `schema`, the projection checks of
//! `verify` and `rebuild`, and the demo's view summary and charts.
//!
//! Projections are caught up through the core `Runner` from their
//! checkpoints in the store, and checkpointed again after catching up, so a
//! query replays only what was appended since the last one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use cardledger_activity_balances::{ActivityBalances, Aggregation as ActivityAgg, EXPANDABLE};
use cardledger_core::engine::Engine;
use cardledger_core::projection::{Projection, Runner};
use cardledger_domain::time::Timestamp;
use cardledger_program_balances::{Aggregation as ProgramAgg, ProgramBalances};
use cardledger_query::{
    export, pairs_from_query, parse_params, run, Compression, ExportFormat, Params, Principal, QueryError, Rates, Table,
};
use cardledger_reserve_balances::ReserveBalances;

/// Events between automatic checkpoints while catching up.
const CHECKPOINT_EVENTS: u64 = 100_000;

/// A view and aggregation named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewKind {
    /// `programbalances day|month`.
    Program(ProgramAgg),
    /// `programreservebalances day`.
    Reserve,
    /// `activitybalances day|network|actor`.
    Activity(ActivityAgg),
}

impl ViewKind {
    /// Parses NAME and AGG; errors name the bad one.
    pub fn parse(name: &str, agg: &str) -> Result<ViewKind, QueryError> {
        let bad_agg =
            |reason: &'static str| QueryError::InvalidParameter { param: "time_agg", value: clip(agg), reason };
        match name {
            "programbalances" => ProgramAgg::parse(agg).map(ViewKind::Program).ok_or_else(|| bad_agg("day or month")),
            "programreservebalances" => {
                if cardledger_reserve_balances::is_aggregation(agg) {
                    Ok(ViewKind::Reserve)
                } else {
                    Err(bad_agg("day"))
                }
            }
            "activitybalances" => {
                ActivityAgg::parse(agg).map(ViewKind::Activity).ok_or_else(|| bad_agg("day, network or actor"))
            }
            _ => Err(QueryError::InvalidParameter {
                param: "view",
                value: clip(name),
                reason: "programbalances, programreservebalances or activitybalances",
            }),
        }
    }

    /// The export formats the source page lists (XLSX only for reserve balances).
    fn formats(self) -> &'static [ExportFormat] {
        match self {
            ViewKind::Reserve => &[ExportFormat::Csv, ExportFormat::Xlsx],
            ViewKind::Program(_) | ViewKind::Activity(_) => &[ExportFormat::Csv],
        }
    }
}

/// The three view projections, caught up with the log.
pub struct Views {
    program: Runner<ProgramBalances>,
    reserve: Runner<ReserveBalances>,
    activity: Runner<ActivityBalances>,
}

impl Views {
    /// Opens every runner at its checkpoint, catches up and checkpoints.
    pub fn open(engine: &Engine) -> Result<Views> {
        Ok(Views {
            program: caught_up(engine, ProgramBalances::default())?,
            reserve: caught_up(engine, ReserveBalances::default())?,
            activity: caught_up(engine, ActivityBalances::default())?,
        })
    }

    /// The table of a view for `params` (programs, window, expand), with the
    /// business time of the last event applied.
    pub fn table(&self, kind: ViewKind, params: &Params) -> Result<(Table, Option<Timestamp>), QueryError> {
        let (p, start, end) = (&params.programs, params.start_date, params.end_date);
        Ok(match kind {
            ViewKind::Program(agg) => {
                let v = self.program.state();
                (v.table(p, agg, start, end, &params.expand), v.last_time())
            }
            ViewKind::Reserve => {
                let v = self.reserve.state();
                (v.table(p, start, end, &params.expand), v.flows().last_time())
            }
            ViewKind::Activity(agg) => {
                if let Some(bad) = params.expand.iter().find(|e| !EXPANDABLE.contains(&e.as_str())) {
                    return Err(QueryError::InvalidParameter {
                        param: "expand",
                        value: clip(bad),
                        reason: "pin_purchases_net or sig_purchases_net",
                    });
                }
                let v = self.activity.state();
                (v.table(p, agg, start, end, &params.expand), v.last_time())
            }
        })
    }

    /// The program-balances state.
    pub fn program(&self) -> &ProgramBalances {
        self.program.state()
    }
}

/// Options of the `view` command besides NAME, AGG and the parameters.
pub struct ViewOptions {
    /// `json` (default), `csv` or `xlsx`.
    pub format: String,
    /// Overrides the `compress` parameter.
    pub compress: Option<String>,
    /// Where to write the answer or export.
    pub out: Option<PathBuf>,
    /// The principal's allowed programs (all when absent).
    pub programs: Option<String>,
    /// Conversion rates, `FROM:TO=RATE`.
    pub rates: Vec<String>,
}

/// `cardledger view NAME AGG [key=value …]`: prints the JSON envelope, or
/// writes an export and prints its token. A bad parameter prints the error
/// JSON (`{"error_code", "error_message"}`) and exits with 4.
pub fn view_command(data: &Path, name: &str, agg: &str, params: &[String], opts: &ViewOptions) -> Result<ExitCode> {
    let prepared = (|| {
        let kind = ViewKind::parse(name, agg)?;
        let mut params = parse_params(&pairs(params)?)?;
        if let Some(c) = &opts.compress {
            params.compress = match c.as_str() {
                "gz" => Compression::Gz,
                "zip" => Compression::Zip,
                _ => {
                    return Err(QueryError::InvalidParameter { param: "compress", value: clip(c), reason: "gz or zip" })
                }
            };
        }
        let format = match opts.format.as_str() {
            "json" => None,
            other => Some(ExportFormat::parse(other, kind.formats())?),
        };
        Ok((kind, params, format, principal(opts.programs.as_deref()), rates(&opts.rates)?))
    })();
    let (kind, params, format, principal, rates) = match prepared {
        Ok(p) => p,
        Err(e) => return query_failed(&e),
    };
    let engine = crate::open(data)?;
    let views = Views::open(&engine)?;
    let answer_json = (|| {
        let (table, last) = views.table(kind, &params)?;
        let answer = run(&table, &params, &principal, &rates, last)?;
        match format {
            None => Ok(answer.to_json()),
            Some(f) => {
                let dir = match &opts.out {
                    Some(out) => out.parent().map(Path::to_path_buf).unwrap_or_default(),
                    None => exports_dir(data),
                };
                std::fs::create_dir_all(if dir.as_os_str().is_empty() { Path::new(".") } else { &dir })
                    .map_err(|e| QueryError::Io { path: dir.display().to_string(), message: e.to_string() })?;
                let token = export(&answer, f, kind.formats(), params.compress, &dir)?;
                let file = match &opts.out {
                    Some(out) => {
                        std::fs::rename(&token.path, out)
                            .map_err(|e| QueryError::Io { path: out.display().to_string(), message: e.to_string() })?;
                        out.clone()
                    }
                    None => token.path.clone(),
                };
                Ok(json!({"token": token.token, "file": file.display().to_string()}))
            }
        }
    })();
    match answer_json {
        Ok(v) => match (&opts.out, format) {
            (Some(out), None) => {
                std::fs::write(out, serde_json::to_string_pretty(&v)?)
                    .with_context(|| format!("writing {}", out.display()))?;
                crate::print_json(&json!({"file": out.display().to_string()}))
            }
            _ => crate::print_json(&v),
        },
        Err(e) => query_failed(&e),
    }
}

/// `cardledger schema NAME AGG [key=value …]`: the schema array (with
/// `expand` columns when asked; `fields` limits it).
pub fn schema_command(data: &Path, name: &str, agg: &str, params: &[String]) -> Result<ExitCode> {
    let prepared = (|| {
        let kind = ViewKind::parse(name, agg)?;
        let pairs = pairs(params)?;
        let params = if pairs.is_empty() { Params::default() } else { parse_params(&pairs)? };
        Ok((kind, params))
    })();
    let (kind, params) = match prepared {
        Ok(p) => p,
        Err(e) => return query_failed(&e),
    };
    let engine = crate::open(data)?;
    let views = Views::open(&engine)?;
    let schema = views
        .table(kind, &params)
        .and_then(|(table, _)| cardledger_query::schema(&table, &params, &Principal::all(), &Rates::new()));
    match schema {
        Ok(v) => crate::print_json(&v),
        Err(e) => query_failed(&e),
    }
}

/// For `verify`: each view projection caught up from its checkpoint must
/// encode byte for byte like a fresh replay of the whole log.
pub fn verify_projections(engine: &Engine) -> Result<(bool, Value)> {
    let (mut p, mut r, mut a) = (ProgramBalances::default(), ReserveBalances::default(), ActivityBalances::default());
    for entry in engine.events_from(1) {
        let rec = entry?.rec;
        p.apply(&rec);
        r.apply(&rec);
        a.apply(&rec);
    }
    // a stored checkpoint that does not decode would be silently rebuilt by the runner: report it
    let decodable = (
        checkpoint_decodes::<ProgramBalances>(engine)?,
        checkpoint_decodes::<ReserveBalances>(engine)?,
        checkpoint_decodes::<ActivityBalances>(engine)?,
    );
    let views = Views::open(engine)?;
    let checks = [
        (ProgramBalances::NAME, decodable.0 && views.program.state().encode() == p.encode()),
        (ReserveBalances::NAME, decodable.1 && views.reserve.state().encode() == r.encode()),
        (ActivityBalances::NAME, decodable.2 && views.activity.state().encode() == a.encode()),
    ];
    let ok = checks.iter().all(|(_, ok)| *ok);
    let report = checks.iter().map(|(name, ok)| (name.to_string(), Value::Bool(*ok))).collect();
    Ok((ok, Value::Object(report)))
}

/// True when `P`'s stored checkpoint (if any) decodes.
fn checkpoint_decodes<P: Projection>(engine: &Engine) -> Result<bool> {
    Ok(match engine.store().load_checkpoint(P::NAME)? {
        Some((_, bytes)) => P::decode(&bytes).is_some(),
        None => true,
    })
}

/// For `rebuild` (after the checkpoints were deleted): replays the log into
/// every view and checkpoints them; returns the position.
pub fn rebuild(engine: &Engine) -> Result<u64> {
    let views = Views::open(engine)?;
    Ok(views.program.applied_seq())
}

/// For the demo: the last `days` rows of each view for every program, as
/// the query layer answers them (newest first).
pub fn demo_summary(engine: &Engine, days: u32) -> Result<Value> {
    let views = Views::open(engine)?;
    let programs: Vec<String> = views.program().programs().keys().cloned().collect();
    let reserve: Vec<String> =
        views.program().programs().iter().filter(|(_, p)| p.reserve.is_some()).map(|(t, _)| t.clone()).collect();
    let mut out = serde_json::Map::new();
    let queries = [
        ("programbalances/day", ViewKind::Program(ProgramAgg::Day), &programs, "fields=program,corrected_post_date,amount_to_send,deposit,beginning_bank_balance,ending_bank_balance"),
        ("programbalances/month", ViewKind::Program(ProgramAgg::Month), &programs, "fields=program,corrected_post_date,amount_to_send,deposit,beginning_bank_balance,ending_bank_balance"),
        ("programreservebalances/day", ViewKind::Reserve, &reserve, "fields=program,post_date,day_of_week,amount_to_send,ending_bank_balance,reserve_requirement_amount,reserve_owed_amount"),
        ("activitybalances/day", ViewKind::Activity(ActivityAgg::Day), &programs, "fields=program,corrected_post_date,starting_balance,pin_purchases_net,sig_purchases_net,ending_balance"),
    ];
    for (label, kind, programs, fields) in queries {
        let mut rows = Vec::new();
        for program in programs.iter() {
            let query = format!("program={program}&count={days}&{fields}");
            let params = parse_params(&pairs_from_query(&query))?;
            let (table, last) = views.table(kind, &params)?;
            let answer = run(&table, &params, &Principal::all(), &Rates::new(), last)?;
            if let Some(Value::Array(records)) = answer.to_json().get("records") {
                rows.extend(records.iter().cloned());
            }
        }
        out.insert(label.to_string(), Value::Array(rows));
    }
    Ok(Value::Object(out))
}

/// Opens a runner at its checkpoint, catches up, and checkpoints when it moved.
fn caught_up<P: Projection>(engine: &Engine, empty: P) -> Result<Runner<P>> {
    let mut runner = Runner::open(engine, empty)?.checkpoint_every(CHECKPOINT_EVENTS);
    let before = runner.applied_seq();
    if runner.catch_up()? != before {
        runner.checkpoint()?;
    }
    Ok(runner)
}

/// `key=value` arguments as pairs; anything else is an error naming it.
fn pairs(args: &[String]) -> Result<Vec<(String, String)>, QueryError> {
    args.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(QueryError::InvalidParameter { param: "parameters", value: clip(a), reason: "key=value" }),
        })
        .collect()
}

/// The principal: the `--programs` list, or everything.
fn principal(programs: Option<&str>) -> Principal {
    match programs {
        Some(list) => Principal {
            programs: Some(
                list.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect::<BTreeSet<_>>(),
            ),
            ..Principal::all()
        },
        None => Principal::all(),
    }
}

/// `FROM:TO=RATE` options as a rate table.
fn rates(args: &[String]) -> Result<Rates, QueryError> {
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

/// Exports without `--out` go to `exports/` beside the data directory.
fn exports_dir(data: &Path) -> PathBuf {
    data.parent().map(Path::to_path_buf).unwrap_or_default().join("exports")
}

fn query_failed(e: &QueryError) -> Result<ExitCode> {
    outln!("{}", e.to_json())?;
    eprintln!("cardledger: {e}");
    Ok(ExitCode::from(4))
}

/// User text quoted in an error, cut to 64 characters.
fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Writes one SVG per program into `dir`: its ending bank balance by day
/// and, for a reserve program, its reserve requirement. Returns the files.
/// Charts are pictures: amounts become `f64` only here, never in a figure
/// anyone reads back.
pub fn write_charts(engine: &Engine, dir: &Path) -> Result<Vec<PathBuf>> {
    let views = Views::open(engine)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut files = Vec::new();
    for (program, info) in views.program().programs() {
        let balances: Vec<f64> =
            views.program().day_rows(program, None, None).iter().map(|r| cents_f64(r.ending_cents)).collect();
        let requirement: Vec<f64> = if info.reserve.is_some() {
            views.reserve.state().day_rows(program, None, None).iter().map(|r| cents_f64(r.requirement_cents)).collect()
        } else {
            Vec::new()
        };
        let first = views.program().day_rows(program, None, None).first().map(|r| r.corrected_post_date.to_string());
        let svg = chart_svg(program, first.as_deref().unwrap_or(""), &balances, &requirement)?;
        let path = dir.join(format!("{}.svg", file_stem(program)));
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
        files.push(path);
    }
    Ok(files)
}

/// The chart of one program: two line series (blue: ending bank balance,
/// red: reserve requirement), then a legend and title as SVG text (drawn by
/// hand: plotters is built without font support).
fn chart_svg(program: &str, first_day: &str, balances: &[f64], requirement: &[f64]) -> Result<String> {
    use plotters::prelude::*;
    let (width, height) = (960u32, 480u32);
    let values = balances.iter().chain(requirement).copied();
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    let pad = (hi - lo) * 0.05;
    let days = balances.len().max(requirement.len()).max(2);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("chart: {e:?}"))?;
        let mut chart = ChartBuilder::on(&root)
            .margin_top(50)
            .margin_left(30)
            .margin_right(30)
            .margin_bottom(30)
            .build_cartesian_2d(0f64..(days - 1) as f64, (lo - pad)..(hi + pad))
            .map_err(|e| anyhow::anyhow!("chart: {e:?}"))?;
        let points = |s: &[f64]| s.iter().enumerate().map(|(i, v)| (i as f64, *v)).collect::<Vec<_>>();
        chart.draw_series(LineSeries::new(points(balances), &BLUE)).map_err(|e| anyhow::anyhow!("chart: {e:?}"))?;
        if !requirement.is_empty() {
            chart
                .draw_series(LineSeries::new(points(requirement), &RED))
                .map_err(|e| anyhow::anyhow!("chart: {e:?}"))?;
        }
        root.present().map_err(|e| anyhow::anyhow!("chart: {e:?}"))?;
    }
    let mut legend = format!(
        "<text x=\"30\" y=\"22\" font-family=\"sans-serif\" font-size=\"16\">{} — daily from {} ({} days)</text>\n\
         <text x=\"30\" y=\"42\" font-family=\"sans-serif\" font-size=\"13\" fill=\"#0000FF\">ending_bank_balance {:.2} … {:.2}</text>\n",
        xml_escape(program),
        xml_escape(first_day),
        balances.len(),
        balances.first().copied().unwrap_or(0.0),
        balances.last().copied().unwrap_or(0.0),
    );
    if !requirement.is_empty() {
        legend.push_str(&format!(
            "<text x=\"500\" y=\"42\" font-family=\"sans-serif\" font-size=\"13\" fill=\"#FF0000\">reserve_requirement_amount {:.2} … {:.2}</text>\n",
            requirement.first().copied().unwrap_or(0.0),
            requirement.last().copied().unwrap_or(0.0),
        ));
    }
    match svg.rfind("</svg>") {
        Some(at) => svg.insert_str(at, &legend),
        None => anyhow::bail!("chart: the SVG backend wrote no </svg>"),
    }
    Ok(svg)
}

fn cents_f64(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// A program token as a file name: ASCII letters, digits, `-` and `_` kept.
fn file_stem(token: &str) -> String {
    token.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
