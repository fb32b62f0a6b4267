//! Shared set-up of the cardledger benchmarks: pre-parsed workloads, so a
//! benchmark measures the engine and not the JSON parser.

use cardledger_domain::command::CommandLine;
use cardledger_domain::wire::parse_line;

/// The bulk workload (set-up lines first), parsed. Lines that do not parse
/// would be a generator bug; they are skipped and counted in the second value.
pub fn bulk_commands(seed: u64, n: u64) -> (Vec<CommandLine>, usize) {
    let mut bad = 0;
    let cmds = cardledger_workload::generate_bulk(seed, n)
        .filter_map(|l| match parse_line(&l) {
            Ok(c) => Some(c),
            Err(_) => {
                bad += 1;
                None
            }
        })
        .collect();
    (cmds, bad)
}
