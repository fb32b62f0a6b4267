//! `verify-report`: a view answer saved as JSON, CSV or XLSX (plain or a
//! gz / zip export) carries the log position, chain hash and query it was
//! computed with (`cardledger_query::report`); this recomputes the query at
//! that seq, renders it in the same format, and compares row by row.

use serde_json::{json, Value};

use cardledger_query::report::{first_difference, read_report, Difference, ReportFormat};
use cardledger_query::{pairs_from_query, ExportFormat};

use crate::asof::AsOf;
use crate::{Cardledger, Error, ViewRequest};

/// What `verify-report` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportCheck {
    /// The report's format.
    pub format: &'static str,
    /// The seq it says it was computed at.
    pub as_of_seq: u64,
    /// The chain hash it carries.
    pub as_of_hash: String,
    /// The log's chain hash at that seq (`None`: the seq is beyond this log).
    pub log_hash: Option<String>,
    /// Its query.
    pub query: String,
    /// Rows in the report.
    pub rows: usize,
    /// The first difference with the recomputed answer (`None`: every row
    /// matches).
    pub difference: Option<Difference>,
}

impl ReportCheck {
    /// True when the log is the report's (same hash at its seq) and every
    /// row matches.
    pub fn matches(&self) -> bool {
        self.log_hash.as_deref() == Some(self.as_of_hash.as_str()) && self.difference.is_none()
    }

    /// `{"matches", "format", "as_of_seq", "as_of_hash", "log_hash",
    /// "hash_matches", "query", "rows", "first_difference": {"row", "field",
    /// "report", "ledger"} | null}`.
    pub fn to_json(&self) -> Value {
        json!({
            "matches": self.matches(),
            "format": self.format,
            "as_of_seq": self.as_of_seq,
            "as_of_hash": self.as_of_hash,
            "log_hash": self.log_hash,
            "hash_matches": self.log_hash.as_deref() == Some(self.as_of_hash.as_str()),
            "query": self.query,
            "rows": self.rows,
            "first_difference": self.difference.as_ref().map(|d| json!({
                "row": d.row, "field": d.field, "report": d.report, "ledger": d.ledger,
            })),
        })
    }
}

impl Cardledger {
    /// Checks a saved report against the log: the chain hash at its seq,
    /// then its rows against the same query recomputed at that seq and
    /// rendered in the same format. A file that is not such a report is
    /// [`Error::Report`]; a query it carries that no longer parses is the
    /// query's error.
    pub fn verify_report(&self, bytes: &[u8]) -> Result<ReportCheck, Error> {
        self.not_routed("verify-report")?;
        let report = read_report(bytes).map_err(|e| Error::Report(e.0))?;
        let src = &report.source;
        let mut check = ReportCheck {
            format: report.format.name(),
            as_of_seq: src.seq,
            as_of_hash: src.hash.clone(),
            log_hash: None,
            query: src.query.clone(),
            rows: report.rows.len(),
            difference: None,
        };
        if src.seq > self.head_seq() {
            return Ok(check);
        }
        check.log_hash = Some(self.at(src.seq)?.hash);
        let (path, query) = src.query.split_once('?').unwrap_or((src.query.as_str(), ""));
        let Some((view, agg)) = path.split_once('/') else {
            return Err(Error::Report(format!("query {:?} does not start with VIEW/AGG", src.query)));
        };
        let mut pairs = pairs_from_query(query);
        let mut rates = Vec::new();
        pairs.retain(|(k, v)| {
            let rate = k == "rate";
            if rate {
                rates.push(v.clone());
            }
            !rate
        });
        pairs.push(("as_of_seq".into(), src.seq.to_string()));
        let mut request = ViewRequest::parse(view, agg, &pairs)?;
        request.set_rates(&rates)?;
        if src.seq == 0 {
            request.as_of = AsOf::Head;
        }
        let fresh = match report.format {
            ReportFormat::Json => self.view_json_text(&request)?.into_bytes(),
            ReportFormat::Csv => self.view_bytes(&request, ExportFormat::Csv)?,
            ReportFormat::Xlsx => self.view_bytes(&request, ExportFormat::Xlsx)?,
        };
        let recomputed = read_report(&fresh).map_err(|e| Error::Report(format!("the recomputed answer: {}", e.0)))?;
        check.difference = first_difference(&report, &recomputed);
        Ok(check)
    }
}
