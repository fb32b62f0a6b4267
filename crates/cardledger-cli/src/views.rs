//! The view commands of the CLI, `view` and `schema`: argument parsing and
//! printing over the facade's views runtime.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use cardledger::{Error, ExportFormat, QueryError, ViewKind, ViewRequest};
use serde_json::json;

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
        let mut request = ViewRequest::parse(name, agg, &cardledger::pairs_from_args(params)?)?;
        if let Some(c) = &opts.compress {
            request.params.compress = cardledger::compression_from_arg(c)?;
        }
        let format = match opts.format.as_str() {
            "json" => None,
            other => Some(ExportFormat::parse(other, kind.formats())?),
        };
        if let Some(list) = &opts.programs {
            request.principal =
                cardledger::principal_for(list.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from));
        }
        request.set_rates(&opts.rates)?;
        Ok::<_, Error>((request, format))
    })();
    let (request, format) = match prepared {
        Ok(p) => p,
        Err(e) => return query_failed(e),
    };
    let ledger = crate::open_existing(data)?;
    let answer_json = (|| match format {
        None => ledger.view_json(&request),
        Some(f) => {
            let dir = match &opts.out {
                Some(out) => out.parent().map(Path::to_path_buf).unwrap_or_default(),
                None => ledger.exports_dir(),
            };
            let token = ledger.view_export(&request, f, &dir)?;
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
        Err(e) => query_failed(e),
    }
}

/// `cardledger schema NAME AGG [key=value …]`: the schema array (with
/// `expand` columns when asked; `fields` limits it).
pub fn schema_command(data: &Path, name: &str, agg: &str, params: &[String]) -> Result<ExitCode> {
    let prepared = (|| Ok::<_, QueryError>((ViewKind::parse(name, agg)?, cardledger::pairs_from_args(params)?)))();
    let (kind, pairs) = match prepared {
        Ok(p) => p,
        Err(e) => return query_failed(e.into()),
    };
    let ledger = crate::open_existing(data)?;
    match ledger.view_schema(kind, &pairs) {
        Ok(v) => crate::print_json(&v),
        Err(e) => query_failed(e),
    }
}

/// A query's error JSON on stdout, exit 4; engine failures are errors.
fn query_failed(e: Error) -> Result<ExitCode> {
    match e {
        Error::View(q) => {
            outln!("{}", q.to_json())?;
            eprintln!("cardledger: {q}");
            Ok(ExitCode::from(4))
        }
        e @ Error::AsOf { .. } => crate::ledger::read_failed(e),
        other => Err(other.into()),
    }
}
