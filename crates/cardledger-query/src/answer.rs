//! Running a query over a `Table`: access, fields, filters, date bounds,
//! sorting, paging, totals and conversion, giving an `Answer` that borrows
//! the table (no row is copied) and renders JSON, CSV or XLSX.

use std::cmp::Ordering;
use std::str::FromStr;

use cardledger_domain::time::{Date, Timestamp};
use rust_decimal::Decimal;
use serde_json::Value as Json;

use crate::access::{check_access, Principal};
use crate::error::{clip, QueryError};
use crate::params::{FilterOp, Params};
use crate::rates::{convert, iso_numeric, Rates};
use crate::table::{ColumnType, Table, Units, Value};

/// The result of a query: the page of rows, how many rows matched, the
/// schema the principal may see, and totals when asked. Render it with
/// `to_json`, `write_csv` or `write_xlsx`.
#[derive(Clone, Debug)]
pub struct Answer<'t> {
    pub(crate) table: &'t Table,
    /// Columns of records, in output order (indices into `table.columns`).
    pub(crate) record_cols: Vec<usize>,
    /// Columns of the schema (records' plus filter-only ones when no
    /// `fields` was given).
    pub(crate) schema_cols: Vec<usize>,
    /// The page: row indices in output order.
    pub(crate) page: Vec<usize>,
    pub(crate) total: u64,
    pub(crate) start_index: u64,
    conversion: Option<Conversion>,
    pub(crate) totals: Option<Vec<(usize, Value)>>,
    pub(crate) start_date: Option<Date>,
    pub(crate) end_date: Option<Date>,
    pub(crate) last_run_time: Option<Timestamp>,
    /// The log position the answer was computed at, when the host says.
    pub(crate) source: Option<Source>,
}

/// Where an answer comes from, so a report can be tied back to the ledger
/// and recomputed (`cardledger verify-report`): the log position and its
/// chain hash, and the query that produced it
/// (`VIEW/AGG?key=value&…`, percent-encoded, with `rate=` pairs and an
/// explicit `fields=` list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The seq of the last event the answer reflects.
    pub seq: u64,
    /// Hex of the log's chain hash at that seq.
    pub hash: String,
    /// The query, as [`Source::query_text`] writes it.
    pub query: String,
}

impl Source {
    /// `VIEW/AGG?k=v&…`: each key and value percent-encoded (everything but
    /// ASCII letters, digits and `-_.~,:` ), so `pairs_from_query` reads the
    /// pairs back exactly.
    pub fn query_text(view: &str, agg: &str, pairs: &[(String, String)]) -> String {
        let mut s = format!("{}/{}", encode(view), encode(agg));
        for (i, (k, v)) in pairs.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(&encode(k));
            s.push('=');
            s.push_str(&encode(v));
        }
        s
    }
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~,:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Runs `params` over `table` for `principal`. `last_run_time` is the
/// business time of the last event the view applied (printed as is).
///
/// Checks, in this order: access (403003, 403001, 403002), `fields` (400006,
/// 400007), filters (400006, 400008, 400009), `sort_by` (400006), programs
/// (400010), rates (400011). Never panics, whatever the table holds.
pub fn run<'t>(
    table: &'t Table,
    params: &Params,
    principal: &Principal,
    rates: &Rates,
    last_run_time: Option<Timestamp>,
) -> Result<Answer<'t>, QueryError> {
    check_access(principal, params, &table.columns)?;
    let (record_cols, schema_cols) = select_columns(table, params, principal)?;
    let filters = compile_filters(table, params)?;
    let sort = match &params.sort {
        Some(s) => match table.column_index(&s.field) {
            Some(i) => Some((i, s.descending)),
            None => return Err(QueryError::UnknownField { param: "sort_by", field: clip(&s.field) }),
        },
        None => table.column_index(table.date_field).map(|i| (i, true)),
    };
    if let Some(p) = params.programs.iter().find(|p| !table.programs.contains(p.as_str())) {
        return Err(QueryError::UnknownProgram { program: clip(p) });
    }
    let conversion = Conversion::new(table, params, rates)?;
    let mut answer = Answer {
        table,
        record_cols,
        schema_cols,
        page: Vec::new(),
        total: 0,
        start_index: params.start_index,
        conversion,
        totals: None,
        start_date: params.start_date,
        end_date: params.end_date,
        last_run_time,
        source: None,
    };

    let program_col = table.program_field.and_then(|f| table.column_index(f));
    let date_col = table.column_index(table.date_field);
    let mut matched: Vec<usize> = Vec::with_capacity(table.rows.len());
    for (r, row) in table.rows.iter().enumerate() {
        if let Some(pc) = program_col {
            let keep = match row.get(pc) {
                Some(Value::Text(p)) => params.programs.iter().any(|q| q == p),
                _ => false,
            };
            if !keep {
                continue;
            }
        }
        if params.start_date.is_some() || params.end_date.is_some() {
            let d = date_col.and_then(|c| row_date(row.get(c)));
            let inside = match d {
                Some(d) => within(d, params.start_date, params.end_date),
                None => false,
            };
            if !inside {
                continue;
            }
        }
        if filters.iter().all(|f| f.accepts(answer.cell(r, f.col))) {
            matched.push(r);
        }
    }

    if let Some((col, descending)) = sort {
        // Ties on the requested field fall back to newest date first. Keys
        // are read (and converted) once per row, not once per comparison.
        let tie = date_col.filter(|&d| d != col);
        let mut keyed: Vec<(Cell<'_>, Cell<'_>, usize)> =
            matched.iter().map(|&r| (answer.cell(r, col), tie.map_or(Cell::Null, |d| answer.cell(r, d)), r)).collect();
        keyed.sort_by(|a, b| {
            let o = compare(&a.0, &b.0);
            let o = if descending { o.reverse() } else { o };
            o.then_with(|| compare(&b.1, &a.1))
        });
        for (slot, (_, _, r)) in matched.iter_mut().zip(&keyed) {
            *slot = *r;
        }
    }

    if params.start_date.is_none() || params.end_date.is_none() {
        let dates = matched.iter().filter_map(|&r| date_col.and_then(|c| row_date(table.rows.get(r)?.get(c))));
        let (lo, hi) = dates.fold((None, None), |(lo, hi): (Option<Date>, Option<Date>), d| {
            (Some(lo.map_or(d, |l| l.min(d))), Some(hi.map_or(d, |h| h.max(d))))
        });
        answer.start_date = params.start_date.or(lo);
        answer.end_date = params.end_date.or(hi);
    }

    if params.totals {
        answer.totals = Some(answer.sum_totals(&matched));
    }
    answer.total = u64::try_from(matched.len()).unwrap_or(u64::MAX);
    let start = usize::try_from(params.start_index).unwrap_or(usize::MAX).min(matched.len());
    let end = start.saturating_add(usize::try_from(params.count).unwrap_or(usize::MAX)).min(matched.len());
    matched.truncate(end);
    matched.drain(..start);
    answer.page = matched;
    Ok(answer)
}

/// The schema a principal sees for `params` (`fields` applied, units
/// following `currency`), without running over rows: the schema endpoint.
pub fn schema(table: &Table, params: &Params, principal: &Principal, rates: &Rates) -> Result<Json, QueryError> {
    let empty = Table {
        columns: table.columns.clone(),
        rows: Vec::new(),
        date_field: table.date_field,
        program_field: table.program_field,
        programs: table.programs.clone(),
        currency_field: table.currency_field,
        currency_code_field: table.currency_code_field,
        currency: table.currency,
    };
    let answer = run(&empty, params, principal, rates, None)?;
    Ok(answer.schema_json())
}

impl<'t> Answer<'t> {
    /// Rows that matched the filters (before paging).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Records on this page.
    pub fn count(&self) -> usize {
        self.page.len()
    }

    /// Whether rows remain after this page.
    pub fn is_more(&self) -> bool {
        self.start_index.saturating_add(self.page.len() as u64) < self.total
    }

    /// The record fields, in output order.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.record_cols.iter().filter_map(|&c| self.table.columns.get(c).map(|col| col.field))
    }

    /// The page's cells, row by row, in output order (converted, not yet
    /// rounded for printing).
    pub fn records(&self) -> impl Iterator<Item = Vec<Value>> + '_ {
        self.page.iter().map(|&r| self.record_cols.iter().map(|&c| self.cell(r, c).to_value()).collect())
    }

    /// The totals (`has_total` record columns summed over every matched row),
    /// when `totals=true`.
    pub fn totals(&self) -> Option<Vec<(&'static str, Value)>> {
        let totals = self.totals.as_ref()?;
        Some(totals.iter().filter_map(|(c, v)| Some((self.table.columns.get(*c)?.field, v.clone()))).collect())
    }

    /// The cell at (row, column) as shown: amounts of `Currency` columns
    /// converted (rounded to the cent), the currency columns rewritten to the
    /// target; a missing cell is null.
    #[inline]
    /// Whether amounts are converted (cells then differ from the table's).
    pub(crate) fn converts(&self) -> bool {
        self.conversion.is_some()
    }

    pub(crate) fn cell(&self, row: usize, col: usize) -> Cell<'_> {
        let table = self.table;
        let raw = table.rows.get(row).and_then(|r| r.get(col));
        let Some(conv) = &self.conversion else { return Cell::from_option(raw) };
        if conv.currency_col == Some(col) {
            return Cell::Text(&conv.target);
        }
        if conv.code_col == Some(col) {
            return iso_numeric(&conv.target).map_or(Cell::Null, Cell::Integer);
        }
        match (raw, table.columns.get(col).map(|c| c.units)) {
            (Some(Value::Amount(a)), Some(Units::Currency)) => {
                let rate = conv.row_rates.get(row).copied().unwrap_or(Decimal::ONE);
                if rate == Decimal::ONE {
                    // Same currency: shown as is (printing rounds to the cent).
                    Cell::Amount(*a)
                } else {
                    convert(*a, rate).map_or(Cell::Null, Cell::Amount)
                }
            }
            _ => Cell::from_option(raw),
        }
    }

    /// The same answer stamped with where it comes from: the JSON envelope
    /// gains `as_of_seq`, `as_of_hash` and `query`, CSV a trailing
    /// `# cardledger …` comment line, XLSX custom document properties.
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }

    /// Where the answer comes from, when stamped.
    pub fn source(&self) -> Option<&Source> {
        self.source.as_ref()
    }

    /// The currency amounts are shown in.
    pub fn currency(&self) -> &str {
        self.conversion.as_ref().map_or(self.table.currency, |c| c.target.as_str())
    }

    /// Record column indices and the page's row indices (for renderers).
    pub(crate) fn layout(&self) -> (&'t Table, &[usize], &[usize]) {
        (self.table, &self.record_cols, &self.page)
    }

    /// Sums every `has_total` record column over `rows`, row by row (one
    /// pass over the table, which is kinder to the cache than a pass per
    /// column). Integer columns sum as integers, others as exact decimals
    /// (cents-scale values as `i128`); an overflow makes that total null.
    fn sum_totals(&self, rows: &[usize]) -> Vec<(usize, Value)> {
        let cols: Vec<(usize, bool)> = self
            .record_cols
            .iter()
            .filter_map(|&c| {
                self.table.columns.get(c).filter(|col| col.has_total).map(|col| (c, col.ty == ColumnType::Integer))
            })
            .collect();
        let mut sums: Vec<Sum> = vec![Sum::default(); cols.len()];
        for &r in rows {
            for (&(c, _), sum) in cols.iter().zip(sums.iter_mut()) {
                sum.add(self.cell(r, c));
            }
        }
        cols.iter()
            .zip(sums)
            .map(|(&(c, integer), sum)| {
                let v = match (integer, sum.overflow) {
                    (_, true) => Value::Null,
                    (true, false) => i64::try_from(sum.cents / 100).map_or(Value::Null, Value::Integer),
                    (false, false) => sum.decimal().map_or(Value::Null, Value::Amount),
                };
                (c, v)
            })
            .collect()
    }
}

/// A running exact sum: cents-scale amounts and integers (×100) as `i128`,
/// finer amounts as `Decimal`.
#[derive(Clone, Copy, Debug, Default)]
struct Sum {
    cents: i128,
    rest: Decimal,
    overflow: bool,
}

impl Sum {
    fn add(&mut self, cell: Cell<'_>) {
        let ok = match cell {
            Cell::Amount(v) if v.scale() <= 2 => 10i128
                .checked_pow(2 - v.scale())
                .and_then(|up| v.mantissa().checked_mul(up))
                .and_then(|c| self.cents.checked_add(c))
                .map(|c| self.cents = c),
            Cell::Amount(v) => self.rest.checked_add(v).map(|d| self.rest = d),
            Cell::Integer(v) => {
                i128::from(v).checked_mul(100).and_then(|c| self.cents.checked_add(c)).map(|c| self.cents = c)
            }
            Cell::Null | Cell::Text(_) | Cell::Date(_) | Cell::Timestamp(_) => Some(()),
        };
        self.overflow |= ok.is_none();
    }

    fn decimal(&self) -> Option<Decimal> {
        Decimal::try_from_i128_with_scale(self.cents, 2).ok()?.checked_add(self.rest)
    }
}

/// A cell borrowed from the table (no allocation), or computed by conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cell<'a> {
    Null,
    Text(&'a str),
    Amount(Decimal),
    Integer(i64),
    Date(Date),
    Timestamp(Timestamp),
}

impl<'a> Cell<'a> {
    pub(crate) fn from_option(v: Option<&'a Value>) -> Cell<'a> {
        v.map_or(Cell::Null, Cell::from_value)
    }

    pub(crate) fn from_value(v: &'a Value) -> Cell<'a> {
        match v {
            Value::Null => Cell::Null,
            Value::Text(t) => Cell::Text(t),
            Value::Amount(a) => Cell::Amount(*a),
            Value::Integer(i) => Cell::Integer(*i),
            Value::Date(d) => Cell::Date(*d),
            Value::Timestamp(t) => Cell::Timestamp(*t),
        }
    }

    fn to_value(self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Text(t) => Value::Text(t.to_string()),
            Cell::Amount(a) => Value::Amount(a),
            Cell::Integer(i) => Value::Integer(i),
            Cell::Date(d) => Value::Date(d),
            Cell::Timestamp(t) => Value::Timestamp(t),
        }
    }
}

// ---------------------------------------------------------------------------

/// How amounts convert: the target and each row's rate.
#[derive(Clone, Debug)]
struct Conversion {
    target: String,
    /// Rate per table row (same length as `table.rows`).
    row_rates: Vec<Decimal>,
    currency_col: Option<usize>,
    code_col: Option<usize>,
}

impl Conversion {
    /// `None` when no currency was requested. Every currency in the table
    /// (its default and every row's) needs a rate, so the error does not
    /// depend on filters.
    fn new(table: &Table, params: &Params, rates: &Rates) -> Result<Option<Conversion>, QueryError> {
        let Some(target) = &params.currency else { return Ok(None) };
        let default_rate = rates.rate(table.currency, target)?;
        let currency_col = table.currency_field.and_then(|f| table.column_index(f));
        let code_col = table.currency_code_field.and_then(|f| table.column_index(f));
        let mut row_rates = Vec::with_capacity(table.rows.len());
        let mut last: Option<(&str, Decimal)> = None;
        for row in &table.rows {
            let rate = match currency_col.and_then(|c| row.get(c)) {
                Some(Value::Text(from)) => match last {
                    Some((l, r)) if l == from.as_str() => r,
                    _ => {
                        let r = rates.rate(from, target)?;
                        last = Some((from.as_str(), r));
                        r
                    }
                },
                _ => default_rate,
            };
            row_rates.push(rate);
        }
        Ok(Some(Conversion { target: target.clone(), row_rates, currency_col, code_col }))
    }
}

/// A filter typed against its column.
struct Compiled {
    col: usize,
    test: Test,
}

enum Test {
    Eq(Typed),
    Gt(Typed),
    Ge(Typed),
    Lt(Typed),
    Le(Typed),
    Between(Typed, Typed),
    AnyOf(Vec<Typed>),
}

/// A filter operand parsed by column type.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Typed {
    Text(String),
    Amount(Decimal),
    Integer(i64),
    Date(Date),
    Timestamp(Timestamp),
}

impl Compiled {
    fn accepts(&self, cell: Cell<'_>) -> bool {
        let cmp = |t: &Typed| compare_typed(&cell, t);
        match &self.test {
            Test::Eq(v) => cmp(v) == Some(Ordering::Equal),
            Test::Gt(v) => cmp(v) == Some(Ordering::Greater),
            Test::Ge(v) => matches!(cmp(v), Some(Ordering::Greater | Ordering::Equal)),
            Test::Lt(v) => cmp(v) == Some(Ordering::Less),
            Test::Le(v) => matches!(cmp(v), Some(Ordering::Less | Ordering::Equal)),
            Test::Between(a, b) => {
                matches!(cmp(a), Some(Ordering::Greater | Ordering::Equal))
                    && matches!(cmp(b), Some(Ordering::Less | Ordering::Equal))
            }
            Test::AnyOf(vs) => vs.iter().any(|v| cmp(v) == Some(Ordering::Equal)),
        }
    }
}

/// Compares a cell with a filter operand; `None` when they cannot compare
/// (a null cell, or a type mismatch from a malformed table): the row fails.
fn compare_typed(cell: &Cell<'_>, t: &Typed) -> Option<Ordering> {
    match (cell, t) {
        (Cell::Text(a), Typed::Text(b)) => Some((*a).cmp(b.as_str())),
        (Cell::Amount(a), Typed::Amount(b)) => Some(a.cmp(b)),
        (Cell::Integer(a), Typed::Integer(b)) => Some(a.cmp(b)),
        (Cell::Integer(a), Typed::Amount(b)) => Some(Decimal::from(*a).cmp(b)),
        (Cell::Amount(a), Typed::Integer(b)) => Some(a.cmp(&Decimal::from(*b))),
        (Cell::Date(a), Typed::Date(b)) => Some(a.cmp(b)),
        (Cell::Timestamp(a), Typed::Timestamp(b)) => Some(a.cmp(b)),
        (Cell::Timestamp(a), Typed::Date(b)) => Some(a.date_utc().cmp(b)),
        _ => None,
    }
}

/// Orders two cells of one column: nulls first, then by value; cells of
/// different kinds (a malformed table) by kind.
fn compare(a: &Cell<'_>, b: &Cell<'_>) -> Ordering {
    fn rank(c: &Cell<'_>) -> u8 {
        match c {
            Cell::Null => 0,
            Cell::Text(_) => 1,
            Cell::Amount(_) | Cell::Integer(_) => 2,
            Cell::Date(_) => 3,
            Cell::Timestamp(_) => 4,
        }
    }
    match (a, b) {
        (Cell::Text(x), Cell::Text(y)) => x.cmp(y),
        (Cell::Amount(x), Cell::Amount(y)) => x.cmp(y),
        (Cell::Integer(x), Cell::Integer(y)) => x.cmp(y),
        (Cell::Amount(x), Cell::Integer(y)) => x.cmp(&Decimal::from(*y)),
        (Cell::Integer(x), Cell::Amount(y)) => Decimal::from(*x).cmp(y),
        (Cell::Date(x), Cell::Date(y)) => x.cmp(y),
        (Cell::Timestamp(x), Cell::Timestamp(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn select_columns(
    table: &Table,
    params: &Params,
    principal: &Principal,
) -> Result<(Vec<usize>, Vec<usize>), QueryError> {
    match &params.fields {
        None => {
            let visible: Vec<usize> = (0..table.columns.len())
                .filter(|&i| table.columns.get(i).is_some_and(|c| principal.may_see(c.field)))
                .collect();
            let records =
                visible.iter().copied().filter(|&i| table.columns.get(i).is_some_and(|c| !c.is_filter_only)).collect();
            Ok((records, visible))
        }
        Some(fields) => {
            let mut cols: Vec<usize> = Vec::with_capacity(fields.len());
            for f in fields {
                let Some(i) = table.column_index(f) else {
                    return Err(QueryError::UnknownField { param: "fields", field: clip(f) });
                };
                if table.columns.get(i).is_some_and(|c| c.is_filter_only) {
                    return Err(QueryError::FilterOnlyField { field: clip(f) });
                }
                if !cols.contains(&i) {
                    cols.push(i);
                }
            }
            Ok((cols.clone(), cols))
        }
    }
}

fn compile_filters(table: &Table, params: &Params) -> Result<Vec<Compiled>, QueryError> {
    let mut out = Vec::with_capacity(params.filters.len());
    for f in &params.filters {
        let Some(col) = table.column_index(&f.field) else {
            return Err(QueryError::UnknownField { param: "filter", field: clip(&f.field) });
        };
        let ty = table.columns.get(col).map_or(ColumnType::Varchar(0), |c| c.ty);
        let typed = |text: &str| parse_typed(&f.field, ty, text);
        let ordered = !matches!(ty, ColumnType::Varchar(_));
        let needs_order = |test: Test| {
            if ordered {
                Ok(test)
            } else {
                Err(QueryError::BadOperator {
                    field: clip(&f.field),
                    value: clip(&f.raw),
                    reason: "comparisons and ranges apply to numbers, dates and timestamps, not text",
                })
            }
        };
        let test = match &f.op {
            FilterOp::Eq(v) => Test::Eq(typed(v)?),
            FilterOp::AnyOf(vs) => Test::AnyOf(vs.iter().map(|v| typed(v)).collect::<Result<_, _>>()?),
            FilterOp::Gt(v) => needs_order(Test::Gt(typed(v)?))?,
            FilterOp::Ge(v) => needs_order(Test::Ge(typed(v)?))?,
            FilterOp::Lt(v) => needs_order(Test::Lt(typed(v)?))?,
            FilterOp::Le(v) => needs_order(Test::Le(typed(v)?))?,
            FilterOp::Between(a, b) => needs_order(Test::Between(typed(a)?, typed(b)?))?,
        };
        out.push(Compiled { col, test });
    }
    Ok(out)
}

fn parse_typed(field: &str, ty: ColumnType, text: &str) -> Result<Typed, QueryError> {
    let bad = || QueryError::BadFilterValue { field: clip(field), value: clip(text), expected: ty.to_string() };
    match ty {
        ColumnType::Varchar(_) => Ok(Typed::Text(text.to_string())),
        ColumnType::Numeric { .. } => {
            let plain = !text.is_empty()
                && text.bytes().enumerate().all(|(i, b)| b.is_ascii_digit() || b == b'.' || (i == 0 && b == b'-'));
            match Decimal::from_str(text) {
                Ok(d) if plain => Ok(Typed::Amount(d)),
                _ => Err(bad()),
            }
        }
        ColumnType::Integer => text.parse().map(Typed::Integer).map_err(|_| bad()),
        ColumnType::Date => {
            let shaped = text.len() == 10
                && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
            Date::parse(text).filter(|_| shaped).map(Typed::Date).ok_or_else(bad)
        }
        ColumnType::Timestamp => {
            if text.len() == 10 {
                Date::parse(text).map(Typed::Date).ok_or_else(bad)
            } else {
                Timestamp::parse(text).map(Typed::Timestamp).ok_or_else(bad)
            }
        }
    }
}

fn row_date(v: Option<&Value>) -> Option<Date> {
    match v? {
        Value::Date(d) => Some(*d),
        Value::Timestamp(t) => Some(t.date_utc()),
        Value::Null | Value::Text(_) | Value::Amount(_) | Value::Integer(_) => None,
    }
}

fn within(d: Date, start: Option<Date>, end: Option<Date>) -> bool {
    let after_start = match start {
        Some(s) => s <= d,
        None => true,
    };
    let before_end = match end {
        Some(e) => d <= e,
        None => true,
    };
    after_start && before_end
}
