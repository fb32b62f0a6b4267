//! `cardledger alerts [--after SEQ] [--follow]`: the alerts projection's
//! alerts as JSON lines (`docs/alerts.md`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use cardledger::Cardledger;

/// The `alerts` command's arguments.
#[derive(clap::Args)]
pub struct AlertsCmd {
    /// Print only the alerts of events after this sequence number.
    #[arg(long, default_value_t = 0)]
    after: u64,
    /// Keep printing new alerts as the log grows, until interrupted: the
    /// store is opened every --interval-ms and released in between, so
    /// `ingest` and other commands can write meanwhile.
    #[arg(long)]
    follow: bool,
    /// Milliseconds between polls with --follow.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
}

/// Prints the alerts after `after` one per line; returns the position read at.
fn print_after(ledger: &Cardledger, after: u64) -> Result<u64> {
    let (alerts, at) = ledger.alerts(after)?;
    let mut out = std::io::stdout().lock();
    for a in alerts {
        std::io::Write::write_fmt(&mut out, format_args!("{a}\n"))?;
    }
    std::io::Write::flush(&mut out)?;
    Ok(at)
}

/// Runs the command.
pub fn run(data: &Path, cmd: &AlertsCmd) -> Result<ExitCode> {
    let ledger = super::open(data)?;
    let mut at = print_after(&ledger, cmd.after)?;
    drop(ledger);
    if !cmd.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let mut waiting = false;
    loop {
        std::thread::sleep(Duration::from_millis(cmd.interval_ms.max(10)));
        // another process may hold the store for a while (a long ingest, serve)
        match Cardledger::open_with_log(data, crate::log_config()) {
            Ok(ledger) => {
                waiting = false;
                at = print_after(&ledger, at)?;
            }
            Err(e) if !waiting => {
                eprintln!("cardledger: waiting for the store: {e}");
                waiting = true;
            }
            Err(_) => {}
        }
    }
}
