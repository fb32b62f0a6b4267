//! Reading a report back: a view answer saved as the JSON envelope, CSV or
//! XLSX (also gz- or zip-compressed, as exports are) is parsed into its
//! [`Source`] (log position, chain hash, query) and its rows as text, so a
//! host can recompute the answer at that position and name the first row
//! that differs (`cardledger verify-report`). Comparing two reports of the
//! same format compares what each format prints, cell by cell.

use std::io::Read;

use crate::answer::Source;

/// XLSX custom document property holding the seq.
pub const PROP_SEQ: &str = "as_of_seq";
/// XLSX custom document property holding the chain hash.
pub const PROP_HASH: &str = "as_of_hash";
/// XLSX custom document property holding the query.
pub const PROP_QUERY: &str = "query";
/// The start of the CSV trailer line.
const CSV_MARK: &str = "# cardledger ";
/// Most bytes a report may decompress to.
use cardledger_domain::limits::REPORT_BYTES_MAX;

/// The CSV trailer line (without its newline):
/// `# cardledger as_of_seq=N as_of_hash=HEX query=VIEW/AGG?…`.
pub fn csv_trailer(src: &Source) -> String {
    format!("{CSV_MARK}as_of_seq={} as_of_hash={} query={}", src.seq, src.hash, src.query)
}

/// A report's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// The JSON envelope.
    Json,
    /// CSV with the trailer line.
    Csv,
    /// An XLSX workbook with custom properties.
    Xlsx,
}

impl ReportFormat {
    /// `json`, `csv` or `xlsx`.
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Json => "json",
            ReportFormat::Csv => "csv",
            ReportFormat::Xlsx => "xlsx",
        }
    }
}

/// A report read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Its format (after decompression).
    pub format: ReportFormat,
    /// Where it says it comes from.
    pub source: Source,
    /// The field names of its rows.
    pub header: Vec<String>,
    /// Each row's cells as the format prints them.
    pub rows: Vec<Vec<String>>,
}

/// Why a file is not a report this engine can check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReportError(pub String);

/// The first difference between a report and the same query recomputed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// 1-based record number (0: the header row).
    pub row: usize,
    /// The field (column) that differs; empty when a whole row is missing.
    pub field: String,
    /// The report's cell (or row) text.
    pub report: String,
    /// The recomputed cell (or row) text.
    pub ledger: String,
}

/// Parses a report: gz and zip are unwrapped first (a zip that is an XLSX
/// workbook is read as one).
pub fn read_report(bytes: &[u8]) -> Result<Report, ReportError> {
    read_at(bytes, 0)
}

fn read_at(bytes: &[u8], depth: u8) -> Result<Report, ReportError> {
    let err = |m: String| ReportError(m);
    if depth > 2 {
        return Err(err("nested compression".into()));
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(REPORT_BYTES_MAX as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| err(format!("gzip: {e}")))?;
        too_large(out.len())?;
        return read_at(&out, depth + 1);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| err(format!("zip: {e}")))?;
        if zip.by_name("xl/workbook.xml").is_ok() {
            return read_xlsx(&mut zip);
        }
        if zip.len() != 1 {
            return Err(err(format!("a zip export holds one file; this one holds {}", zip.len())));
        }
        let inner = entry(&mut zip, 0)?;
        return read_at(&inner, depth + 1);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| err(format!("not UTF-8 text: {e}")))?;
    if text.trim_start().starts_with('{') {
        read_json(text)
    } else {
        read_csv(text)
    }
}

fn too_large(n: usize) -> Result<(), ReportError> {
    if n > REPORT_BYTES_MAX {
        return Err(ReportError(format!("more than {REPORT_BYTES_MAX} bytes uncompressed")));
    }
    Ok(())
}

fn entry<R: Read + std::io::Seek>(zip: &mut zip::ZipArchive<R>, index: usize) -> Result<Vec<u8>, ReportError> {
    let f = zip.by_index(index).map_err(|e| ReportError(format!("zip: {e}")))?;
    let mut out = Vec::new();
    f.take(REPORT_BYTES_MAX as u64 + 1).read_to_end(&mut out).map_err(|e| ReportError(format!("zip: {e}")))?;
    too_large(out.len())?;
    Ok(out)
}

fn named<R: Read + std::io::Seek>(zip: &mut zip::ZipArchive<R>, name: &str) -> Result<Option<String>, ReportError> {
    let Some(index) = zip.index_for_name(name) else { return Ok(None) };
    let bytes = entry(zip, index)?;
    String::from_utf8(bytes).map(Some).map_err(|_| ReportError(format!("{name} is not UTF-8")))
}

fn source(seq: Option<&str>, hash: Option<&str>, query: Option<&str>) -> Result<Source, ReportError> {
    let missing = |what: &str| ReportError(format!("the report carries no {what}: it was not written by this engine"));
    let seq = seq.ok_or_else(|| missing("as_of_seq"))?;
    let seq = seq.parse().map_err(|_| ReportError(format!("as_of_seq {seq:?} is not a number")))?;
    let hash = hash.ok_or_else(|| missing("as_of_hash"))?.to_string();
    let query = query.ok_or_else(|| missing("query"))?.to_string();
    Ok(Source { seq, hash, query })
}

fn read_json(text: &str) -> Result<Report, ReportError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| ReportError(format!("JSON: {e}")))?;
    let seq = v.get("as_of_seq").map(|s| s.to_string());
    let source = source(
        seq.as_deref(),
        v.get("as_of_hash").and_then(serde_json::Value::as_str),
        v.get("query").and_then(serde_json::Value::as_str),
    )?;
    let records = v
        .get("records")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| ReportError("the JSON has no records array".into()))?;
    let header: Vec<String> = match records.first().and_then(serde_json::Value::as_object) {
        Some(o) => o.keys().cloned().collect(),
        None => Vec::new(),
    };
    let mut rows = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let o = r.as_object().ok_or_else(|| ReportError(format!("record {} is not an object", i + 1)))?;
        let keys: Vec<&String> = o.keys().collect();
        if keys.len() != header.len() || keys.iter().zip(&header).any(|(k, h)| *k != h) {
            return Err(ReportError(format!("record {} has other fields than record 1", i + 1)));
        }
        rows.push(o.values().map(|v| v.to_string()).collect());
    }
    Ok(Report { format: ReportFormat::Json, source, header, rows })
}

fn read_csv(text: &str) -> Result<Report, ReportError> {
    let body_end = text.trim_end_matches(['\r', '\n']).rfind('\n').map_or(0, |i| i + 1);
    let (body, trailer) = text.split_at(body_end);
    let trailer = trailer.trim_end_matches(['\r', '\n']);
    let Some(fields) = trailer.strip_prefix(CSV_MARK) else {
        return Err(ReportError(format!(
            "the CSV's last line is not a \"{}…\" trailer: it was not written by this engine",
            CSV_MARK.trim_end()
        )));
    };
    let mut kv = std::collections::HashMap::new();
    for f in fields.split(' ') {
        if let Some((k, v)) = f.split_once('=') {
            kv.insert(k, v);
        }
    }
    let source = source(kv.get("as_of_seq").copied(), kv.get("as_of_hash").copied(), kv.get("query").copied())?;
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(body.as_bytes());
    let header: Vec<String> =
        r.headers().map_err(|e| ReportError(format!("CSV header: {e}")))?.iter().map(String::from).collect();
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| ReportError(format!("CSV record {}: {e}", i + 1)))?;
        rows.push(rec.iter().map(String::from).collect());
    }
    Ok(Report { format: ReportFormat::Csv, source, header, rows })
}

fn read_xlsx<R: Read + std::io::Seek>(zip: &mut zip::ZipArchive<R>) -> Result<Report, ReportError> {
    let custom = named(zip, "docProps/custom.xml")?.unwrap_or_default();
    let prop = |name: &str| -> Option<String> {
        let at = custom.find(&format!("name=\"{name}\""))?;
        let rest = custom.get(at..)?;
        let open = rest.find("<vt:lpwstr>")? + "<vt:lpwstr>".len();
        let close = rest.find("</vt:lpwstr>")?;
        rest.get(open..close).map(unescape)
    };
    let source = source(prop(PROP_SEQ).as_deref(), prop(PROP_HASH).as_deref(), prop(PROP_QUERY).as_deref())?;
    let shared: Vec<String> = match named(zip, "xl/sharedStrings.xml")? {
        Some(xml) => elements(&xml, "si").map(|si| elements(si, "t").map(unescape).collect::<String>()).collect(),
        None => Vec::new(),
    };
    let sheet = named(zip, "xl/worksheets/sheet1.xml")?
        .ok_or_else(|| ReportError("the workbook has no xl/worksheets/sheet1.xml".into()))?;
    let mut table: Vec<Vec<String>> = Vec::new();
    for row in elements(&sheet, "row") {
        let mut cells: Vec<String> = Vec::new();
        for (attrs, content) in cells_of(row) {
            let col = attr(attrs, "r").map(column_index).unwrap_or(cells.len());
            let value = match attr(attrs, "t") {
                Some("s") => {
                    let i: usize =
                        elements(content, "v").next().and_then(|v| v.trim().parse().ok()).unwrap_or(usize::MAX);
                    shared.get(i).cloned().ok_or_else(|| ReportError(format!("shared string {i} is missing")))?
                }
                Some("inlineStr") => elements(content, "t").map(unescape).collect(),
                _ => elements(content, "v").next().map(unescape).unwrap_or_default(),
            };
            if cells.len() <= col {
                cells.resize(col + 1, String::new());
            }
            if let Some(c) = cells.get_mut(col) {
                *c = value;
            }
        }
        table.push(cells);
    }
    let mut it = table.into_iter();
    let header = it.next().unwrap_or_default();
    let rows = it
        .map(|mut r| {
            r.resize(header.len().max(r.len()), String::new());
            r
        })
        .collect();
    Ok(Report { format: ReportFormat::Xlsx, source, header, rows })
}

/// The contents of each `<tag …>…</tag>` in `xml` (a self-closing
/// `<tag/>` yields ""). Enough XML for the workbook parts the XLSX writer
/// produces; not a general parser.
fn elements<'a>(xml: &'a str, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut rest = xml;
    std::iter::from_fn(move || loop {
        let at = rest.find(&format!("<{tag}"))?;
        let after = rest.get(at + tag.len() + 1..)?;
        // `<t` must not match `<tag2`: the next byte ends the name
        if !after.starts_with(['>', ' ', '/']) {
            rest = after;
            continue;
        }
        let gt = after.find('>')?;
        let open = after.get(..gt)?;
        if open.ends_with('/') {
            rest = after.get(gt + 1..)?;
            return Some("");
        }
        let body = after.get(gt + 1..)?;
        let close = format!("</{tag}>");
        let end = body.find(&close)?;
        rest = body.get(end + close.len()..)?;
        return body.get(..end);
    })
}

/// Each `<c …>` of a row: its attribute text and its content.
fn cells_of(row: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = row;
    while let Some(at) = rest.find("<c ") {
        let Some(after) = rest.get(at + 3..) else { break };
        let Some(gt) = after.find('>') else { break };
        let attrs = after.get(..gt).unwrap_or("");
        if attrs.ends_with('/') {
            out.push((attrs, ""));
            rest = after.get(gt + 1..).unwrap_or("");
            continue;
        }
        let body = after.get(gt + 1..).unwrap_or("");
        let end = body.find("</c>").unwrap_or(body.len());
        out.push((attrs, body.get(..end).unwrap_or("")));
        rest = body.get(end..).unwrap_or("");
    }
    out
}

fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let padded_at = format!(" {attrs}").find(&key)?;
    let start = padded_at + key.len() - 1;
    let rest = attrs.get(start..)?;
    rest.get(..rest.find('"')?)
}

/// `B7` → 1 (the column letters, 0-based).
fn column_index(r: &str) -> usize {
    r.bytes()
        .take_while(u8::is_ascii_uppercase)
        .fold(0usize, |acc, b| acc.saturating_mul(26).saturating_add(usize::from(b - b'A') + 1))
        .saturating_sub(1)
}

fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or(""));
        let tail = rest.get(at..).unwrap_or("");
        let Some(semi) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let name = tail.get(1..semi).unwrap_or("");
        let ch = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => out.push(c),
            None => out.push_str(tail.get(..=semi).unwrap_or("")),
        }
        rest = tail.get(semi + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// The first difference between `report` and `ledger` (the same query
/// recomputed and rendered in the same format): the header first, then row
/// by row and cell by cell; a row only one side has is named whole.
pub fn first_difference(report: &Report, ledger: &Report) -> Option<Difference> {
    if report.header != ledger.header {
        let i = report.header.iter().zip(&ledger.header).position(|(a, b)| a != b).unwrap_or(0);
        return Some(Difference {
            row: 0,
            field: report.header.get(i).or(ledger.header.get(i)).cloned().unwrap_or_default(),
            report: report.header.join(","),
            ledger: ledger.header.join(","),
        });
    }
    let n = report.rows.len().max(ledger.rows.len());
    for i in 0..n {
        match (report.rows.get(i), ledger.rows.get(i)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                let c = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
                return Some(Difference {
                    row: i + 1,
                    field: report.header.get(c).cloned().unwrap_or_default(),
                    report: a.get(c).cloned().unwrap_or_default(),
                    ledger: b.get(c).cloned().unwrap_or_default(),
                });
            }
            (a, b) => {
                return Some(Difference {
                    row: i + 1,
                    field: String::new(),
                    report: a.map(|r| r.join(",")).unwrap_or_else(|| "(no row)".into()),
                    ledger: b.map(|r| r.join(",")).unwrap_or_else(|| "(no row)".into()),
                })
            }
        }
    }
    None
}
