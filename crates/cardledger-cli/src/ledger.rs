//! The ledger-account and report commands of the CLI: `trialbalance`,
//! `postings`, `verify-report`, and the `--as-of-seq` / `--as-of-time`
//! options the read commands share. Argument parsing and printing over the
//! facade.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cardledger::{AsOf, Error, ErrorKind, PostingsQuery};

/// `--as-of-seq N` / `--as-of-time T`: read as of that log position.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AsOfArgs {
    /// Read as of this log position (1 to the head).
    #[arg(long)]
    pub as_of_seq: Option<String>,
    /// Read as of the last event recorded at or before this RFC 3339 time.
    #[arg(long, conflicts_with = "as_of_seq")]
    pub as_of_time: Option<String>,
}

impl AsOfArgs {
    /// The parsed position (errors name the option's field).
    pub fn as_of(&self) -> Result<AsOf, Error> {
        AsOf::parse(self.as_of_seq.as_deref(), self.as_of_time.as_deref())
    }

    /// As `key=value` texts, for commands that take parameters.
    pub fn pairs(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(s) = &self.as_of_seq {
            v.push(format!("as_of_seq={s}"));
        }
        if let Some(t) = &self.as_of_time {
            v.push(format!("as_of_time={t}"));
        }
        v
    }
}

/// A read's failure: a bad parameter (exit 4) or a miss (exit 3) prints
/// `{"error_code", "error_message"}` on stdout and a line on stderr; an
/// engine failure is an error (exit 2).
pub fn read_failed(e: Error) -> Result<ExitCode> {
    let code = match e.kind() {
        ErrorKind::BadParameter | ErrorKind::Forbidden => 4,
        ErrorKind::NotFound => 3,
        ErrorKind::Unavailable | ErrorKind::Internal => return Err(e.into()),
    };
    outln!("{}", e.to_json())?;
    eprintln!("cardledger: {e}");
    Ok(ExitCode::from(code))
}

/// `cardledger trialbalance [--program P] [--as-of-seq N | --as-of-time T]`.
pub fn trialbalance_command(data: &Path, program: Option<&str>, as_of: &AsOfArgs) -> Result<ExitCode> {
    let as_of = match as_of.as_of() {
        Ok(a) => a,
        Err(e) => return read_failed(e),
    };
    let ledger = crate::open(data)?;
    match ledger.trial_balance(program, as_of) {
        Ok(v) => crate::print_json(&v),
        Err(e) => read_failed(e),
    }
}

/// `cardledger postings ACCOUNT [count=… start_index=… sort_by=…]`.
pub fn postings_command(data: &Path, account: &str, params: &[String], as_of: &AsOfArgs) -> Result<ExitCode> {
    let mut args = params.to_vec();
    args.extend(as_of.pairs());
    let query = cardledger::pairs_from_args(&args).map_err(Error::from).and_then(|p| PostingsQuery::parse(&p));
    let query = match query {
        Ok(q) => q,
        Err(e) => return read_failed(e),
    };
    let ledger = crate::open(data)?;
    match ledger.postings(account, &query) {
        Ok(v) => crate::print_json(&v),
        Err(e) => read_failed(e),
    }
}

/// `cardledger verify-report FILE`: prints the check; exits 0 when the
/// report matches the log, 1 when it does not (the first differing row is
/// named), 4 when the file is not a report.
pub fn verify_report_command(data: &Path, file: &Path) -> Result<ExitCode> {
    let len = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?.len();
    if len > cardledger::layers::domain::limits::REPORT_BYTES_MAX as u64 {
        let max = cardledger::layers::domain::limits::REPORT_BYTES_MAX;
        return read_failed(Error::Report(format!("{} holds {len} bytes, more than a report's {max}", file.display())));
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let ledger = crate::open(data)?;
    match ledger.verify_report(&bytes) {
        Ok(check) => {
            outln!("{}", serde_json::to_string_pretty(&check.to_json())?)?;
            if check.matches() {
                return Ok(ExitCode::SUCCESS);
            }
            match (&check.log_hash, &check.difference) {
                (None, _) => eprintln!(
                    "cardledger: the report is at seq {}, beyond this log's head {}",
                    check.as_of_seq,
                    ledger.head_seq()
                ),
                (Some(h), _) if *h != check.as_of_hash => eprintln!(
                    "cardledger: the log's hash at seq {} is {h}, the report's {}: another log",
                    check.as_of_seq, check.as_of_hash
                ),
                (_, Some(d)) => eprintln!(
                    "cardledger: row {} differs{}: the report has {:?}, the ledger {:?}",
                    d.row,
                    if d.field.is_empty() { String::new() } else { format!(" in {}", d.field) },
                    d.report,
                    d.ledger
                ),
                _ => {}
            }
            Ok(ExitCode::from(1))
        }
        Err(e) => read_failed(e),
    }
}
