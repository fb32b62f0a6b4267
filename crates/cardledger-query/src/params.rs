//! Query parameters: `key=value` pairs → `Params`. Reserved keys are parsed
//! here; every other key is a column filter whose operator is parsed here and
//! whose operands are typed later, against the view's columns (`run`).

use cardledger_domain::time::Date;

use crate::error::{clip, QueryError};

/// The query limits, under their names in this module (`limits.rs` holds them).
pub use cardledger_domain::limits::{
    QUERY_COUNT_MAX as COUNT_MAX, QUERY_KEY_BYTES_MAX as KEY_BYTES_MAX, QUERY_LIST_ITEMS_MAX as LIST_ITEMS_MAX,
    QUERY_PAIRS_MAX as PAIRS_MAX, QUERY_VALUE_BYTES_MAX as VALUE_BYTES_MAX,
};

/// The keys that are parameters, not column filters.
pub const RESERVED: [&str; 11] = [
    "program",
    "fields",
    "sort_by",
    "count",
    "start_index",
    "start_date",
    "end_date",
    "totals",
    "currency",
    "expand",
    "compress",
];

/// A parsed query. The view and its aggregation come from the path, not from
/// here; `expand` is passed through for the view to interpret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// `program=a,b` (required, at least one).
    pub programs: Vec<String>,
    /// `fields=a,b`: limits records and schema, in this order.
    pub fields: Option<Vec<String>>,
    /// Column filters, all of which a row must pass.
    pub filters: Vec<Filter>,
    /// `start_date=YYYY-MM-DD`: first date (inclusive) of the table's date field.
    pub start_date: Option<Date>,
    /// `end_date=YYYY-MM-DD`: last date (inclusive).
    pub end_date: Option<Date>,
    /// `sort_by=f` or `-f`; `None`: newest date first.
    pub sort: Option<Sort>,
    /// `count`: records per page, 1..=10,000 (default 10,000).
    pub count: u32,
    /// `start_index`: rows skipped before the page (default 0).
    pub start_index: u64,
    /// `totals=true`: sum the `has_total` columns into `info.totals`.
    pub totals: bool,
    /// `currency=EUR`: convert `Currency` columns (ISO alpha code).
    pub currency: Option<String>,
    /// `expand=a,b`: view-specific extra columns (the view validates them).
    pub expand: Vec<String>,
    /// `compress=gz|zip` for exports (default gz).
    pub compress: Compression,
}

impl Default for Params {
    /// No program (invalid until one is set), everything else at its default.
    fn default() -> Params {
        Params {
            programs: Vec::new(),
            fields: None,
            filters: Vec::new(),
            start_date: None,
            end_date: None,
            sort: None,
            count: COUNT_MAX,
            start_index: 0,
            totals: false,
            currency: None,
            expand: Vec::new(),
            compress: Compression::Gz,
        }
    }
}

/// `sort_by`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sort {
    /// The column.
    pub field: String,
    /// `-field`: largest (newest) first.
    pub descending: bool,
}

/// One column filter: `field=<op>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// The column.
    pub field: String,
    /// The raw value, for error messages.
    pub raw: String,
    /// The operator and its untyped operands.
    pub op: FilterOp,
}

/// A filter operator with its operands as text; `run` types them by column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterOp {
    /// `v` or `=v`.
    Eq(String),
    /// `>v`.
    Gt(String),
    /// `>=v`.
    Ge(String),
    /// `<v`.
    Lt(String),
    /// `<=v`.
    Le(String),
    /// `a..b`, both ends inclusive.
    Between(String, String),
    /// `v1,v2,…`: equal to any.
    AnyOf(Vec<String>),
}

/// Export compression (`compress`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip, `.gz` (the default).
    Gz,
    /// A zip archive holding one file, `.zip`.
    Zip,
}

impl Compression {
    /// The file name suffix without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gz => "gz",
            Compression::Zip => "zip",
        }
    }
}

/// An export file format (the `{export_type}` path segment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// An Excel workbook with one sheet.
    Xlsx,
}

impl ExportFormat {
    /// `csv` or `xlsx`.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }

    /// Parses an export type, checking it against the formats the view
    /// offers (program balances and activity balances: csv; reserve
    /// balances: csv and xlsx).
    pub fn parse(text: &str, allowed: &[ExportFormat]) -> Result<ExportFormat, QueryError> {
        let format = match text {
            "csv" => Some(ExportFormat::Csv),
            "xlsx" => Some(ExportFormat::Xlsx),
            _ => None,
        };
        match format {
            Some(f) if allowed.contains(&f) => Ok(f),
            _ => Err(QueryError::FormatNotAllowed {
                format: clip(text),
                allowed: allowed.iter().map(|f| f.name()).collect::<Vec<_>>().join(","),
            }),
        }
    }
}

/// Parses query pairs. Reserved keys given twice are an error; filters on the
/// same column may repeat (all must pass). Never panics.
pub fn parse_params(pairs: &[(String, String)]) -> Result<Params, QueryError> {
    if pairs.len() > PAIRS_MAX {
        return Err(QueryError::TooLarge { param: "query".into(), reason: "more than 256 parameters" });
    }
    let mut params = Params::default();
    let mut seen = [false; RESERVED.len()];
    for (key, value) in pairs {
        if key.len() > KEY_BYTES_MAX {
            return Err(QueryError::TooLarge { param: clip(key), reason: "key longer than 128 bytes" });
        }
        if value.len() > VALUE_BYTES_MAX {
            return Err(QueryError::TooLarge { param: clip(key), reason: "value longer than 8192 bytes" });
        }
        let Some(slot) = RESERVED.iter().position(|r| *r == key.as_str()) else {
            params.filters.push(parse_filter(key, value)?);
            continue;
        };
        if let Some(s) = seen.get_mut(slot) {
            if *s {
                return Err(QueryError::DuplicateParameter { param: key.clone() });
            }
            *s = true;
        }
        match key.as_str() {
            "program" => params.programs = list("program", value)?,
            "fields" => {
                let fields = list("fields", value)?;
                if fields.is_empty() {
                    return Err(QueryError::InvalidParameter {
                        param: "fields",
                        value: clip(value),
                        reason: "must name at least one field",
                    });
                }
                params.fields = Some(fields);
            }
            "sort_by" => params.sort = Some(parse_sort(value)?),
            "count" => params.count = parse_count(value)?,
            "start_index" => {
                params.start_index = value.parse().map_err(|_| QueryError::InvalidParameter {
                    param: "start_index",
                    value: clip(value),
                    reason: "must be a whole number >= 0",
                })?
            }
            "start_date" => params.start_date = Some(parse_date("start_date", value)?),
            "end_date" => params.end_date = Some(parse_date("end_date", value)?),
            "totals" => params.totals = parse_bool("totals", value)?,
            "currency" => params.currency = Some(parse_currency(value)?),
            "expand" => params.expand = list("expand", value)?,
            "compress" => params.compress = parse_compress(value)?,
            _ => {}
        }
    }
    if params.programs.is_empty() {
        return Err(QueryError::MissingParameter { param: "program" });
    }
    if let (Some(start), Some(end)) = (params.start_date, params.end_date) {
        if start > end {
            return Err(QueryError::DateOrder { start: start.to_string(), end: end.to_string() });
        }
    }
    Ok(params)
}

/// Splits a query string `k=v&k=v` into pairs, percent-decoding `%XX` (and
/// `+` as a space) in keys and values. A pair without `=` has an empty value;
/// empty pieces (`&&`) are skipped. Never panics; bad escapes stay literal.
pub fn pairs_from_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| match piece.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(piece), String::new()),
        })
        .collect()
}

// ---------------------------------------------------------------------------

fn list(param: &'static str, value: &str) -> Result<Vec<String>, QueryError> {
    let items: Vec<String> = value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    if items.len() > LIST_ITEMS_MAX {
        return Err(QueryError::TooLarge { param: param.into(), reason: "more than 512 list items" });
    }
    if items.is_empty() && param == "program" {
        return Err(QueryError::MissingParameter { param: "program" });
    }
    Ok(items)
}

fn parse_sort(value: &str) -> Result<Sort, QueryError> {
    let (descending, field) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    if field.is_empty() || field.contains(',') {
        return Err(QueryError::InvalidParameter {
            param: "sort_by",
            value: clip(value),
            reason: "must be one field, optionally prefixed by -",
        });
    }
    Ok(Sort { field: field.to_string(), descending })
}

fn parse_count(value: &str) -> Result<u32, QueryError> {
    match value.parse::<u64>() {
        Ok(n) if (1..=u64::from(COUNT_MAX)).contains(&n) => Ok(u32::try_from(n).unwrap_or(COUNT_MAX)),
        _ => Err(QueryError::CountOutOfRange { value: clip(value) }),
    }
}

fn parse_date(param: &'static str, value: &str) -> Result<Date, QueryError> {
    // chrono's %Y-%m-%d accepts unpadded and signed forms; insist on the shape.
    let shaped = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    match Date::parse(value) {
        Some(d) if shaped => Ok(d),
        _ => Err(QueryError::InvalidDate { param, value: clip(value) }),
    }
}

fn parse_bool(param: &'static str, value: &str) -> Result<bool, QueryError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(QueryError::InvalidParameter { param, value: clip(value), reason: "must be true or false" }),
    }
}

fn parse_currency(value: &str) -> Result<String, QueryError> {
    if value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(value.to_string())
    } else {
        Err(QueryError::InvalidParameter {
            param: "currency",
            value: clip(value),
            reason: "must be an ISO 4217 alpha code such as USD",
        })
    }
}

fn parse_compress(value: &str) -> Result<Compression, QueryError> {
    match value {
        "gz" => Ok(Compression::Gz),
        "zip" => Ok(Compression::Zip),
        _ => Err(QueryError::InvalidParameter { param: "compress", value: clip(value), reason: "must be gz or zip" }),
    }
}

/// `=v`, `>v`, `>=v`, `<v`, `<=v`, `a..b`, `v1,v2`, or a bare `v`.
fn parse_filter(field: &str, value: &str) -> Result<Filter, QueryError> {
    let bad = |reason: &'static str| QueryError::BadOperator { field: clip(field), value: clip(value), reason };
    if field.is_empty() {
        return Err(QueryError::InvalidParameter { param: "filter", value: clip(value), reason: "empty key" });
    }
    let (op, operand): (fn(String) -> FilterOp, &str) = if let Some(rest) = value.strip_prefix(">=") {
        (FilterOp::Ge, rest)
    } else if let Some(rest) = value.strip_prefix("<=") {
        (FilterOp::Le, rest)
    } else if let Some(rest) = value.strip_prefix('>') {
        (FilterOp::Gt, rest)
    } else if let Some(rest) = value.strip_prefix('<') {
        (FilterOp::Lt, rest)
    } else if let Some(rest) = value.strip_prefix('=') {
        (FilterOp::Eq, rest)
    } else if let Some((a, b)) = value.split_once("..") {
        if a.is_empty() || b.is_empty() || b.contains("..") {
            return Err(bad("a range is a..b with both ends"));
        }
        if has_operator_chars(a) || has_operator_chars(b) || a.contains(',') || b.contains(',') {
            return Err(bad("a range's ends are plain values"));
        }
        return Ok(Filter { field: field.into(), raw: value.into(), op: FilterOp::Between(a.into(), b.into()) });
    } else if value.contains(',') {
        let items: Vec<String> = value.split(',').map(String::from).collect();
        if items.len() > LIST_ITEMS_MAX {
            return Err(QueryError::TooLarge { param: clip(field), reason: "more than 512 list items" });
        }
        if items.iter().any(|i| i.is_empty() || has_operator_chars(i)) {
            return Err(bad("an any-of list holds plain, non-empty values"));
        }
        return Ok(Filter { field: field.into(), raw: value.into(), op: FilterOp::AnyOf(items) });
    } else {
        (FilterOp::Eq, value)
    };
    if operand.is_empty() {
        return Err(bad("the operator has no operand"));
    }
    if has_operator_chars(operand) || operand.contains("..") || operand.contains(',') {
        return Err(bad("one operator per filter; use a..b for a range"));
    }
    Ok(Filter { field: field.into(), raw: value.into(), op: op(operand.to_string()) })
}

/// `<`, `>`, `=` or `!` at the start of an operand: a second or unknown operator.
fn has_operator_chars(operand: &str) -> bool {
    operand.starts_with(['<', '>', '=', '!'])
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
