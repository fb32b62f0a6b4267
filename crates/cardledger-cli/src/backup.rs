//! `cardledger backup --out FILE` and `cardledger restore FILE --data NEWDIR`
//! (issue 12): the log's records, verified as they are read, written to a
//! file while the store may keep taking commands; and a new store built from
//! such a file, verified before it is reported. Recovery from a damaged
//! store is restore + re-ingest of what came after (`docs/reliability.md`).

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;

use cardledger::{BackupReport, Cardledger};

/// The two subcommands' arguments.
#[derive(clap::Subcommand)]
pub enum BackupCmd {
    /// Write the log's records (checked as they are read) to FILE, from the durable head at the start.
    Backup {
        /// The backup file to write (replaced if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// Build a new store in --data (which must be empty or absent) from a backup FILE, and verify it.
    Restore {
        /// The backup file.
        file: PathBuf,
    },
}

fn report_json(what: &str, r: &BackupReport, path: &Path) -> serde_json::Value {
    json!({what: path.display().to_string(), "records": r.records, "head_hash": r.head_hash, "bytes": r.bytes})
}

/// Runs one of the subcommands against the data directory `data`.
pub fn run(data: &Path, cmd: BackupCmd) -> Result<ExitCode> {
    let v = match cmd {
        BackupCmd::Backup { out } => {
            let ledger = Cardledger::open_existing(data)?;
            // written beside the target and renamed, so a failed backup never
            // leaves a plausible partial file under the requested name
            let tmp = out.with_extension("partial");
            let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            let mut w = BufWriter::new(file);
            let r = ledger.backup(&mut w)?;
            let file = w.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&tmp, &out)?;
            report_json("backup", &r, &out)
        }
        BackupCmd::Restore { file } => {
            let f = std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
            let r = Cardledger::restore(BufReader::new(f), data)?;
            report_json("restored", &r, data)
        }
    };
    std::io::stdout().lock().write_fmt(format_args!("{}\n", serde_json::to_string_pretty(&v)?))?;
    Ok(ExitCode::SUCCESS)
}
