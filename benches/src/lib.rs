//! Shared set-up of the cardledger benchmarks: the seeded demo workload,
//! parsed, so a benchmark measures the engine (or the SQLite baseline) and
//! not the JSON parser; and the SQLite baseline itself ([`baseline`]).

pub mod baseline;
pub mod figures;

use cardledger_domain::command::CommandLine;
use cardledger_domain::wire::parse_line;
use cardledger_workload::WorkloadConfig;

/// Seed of every benchmark workload.
pub const SEED: u64 = 42;

/// A lower bound of the generated commands per holder per day of the demo
/// mix (three random actions on average plus scheduled work): used only to
/// pick enough days; generation is lazy, so spare days cost nothing.
const COMMANDS_PER_HOLDER_DAY: u64 = 2;

/// Holders of the benchmark workloads: the demo mix with more holders so
/// that holder-keyed state is realistic (growth with events, not holders).
const BENCH_HOLDERS: u32 = 2_000;

/// The demo's workload (`cardledger demo`: two programs, the daily mix of
/// orders, authorizations, clearings, PIN debits, ATM withdrawals, refunds,
/// MSA and offer orders, credit activity, fees and deposits) with seed
/// [`SEED`] and enough days that it yields at least `events` commands.
pub fn demo_config(events: u64) -> WorkloadConfig {
    let per_day = u64::from(BENCH_HOLDERS) * COMMANDS_PER_HOLDER_DAY;
    let days = u32::try_from(events / per_day + 2).unwrap_or(u32::MAX);
    WorkloadConfig { seed: SEED, days, holders: BENCH_HOLDERS, credit_accounts: 200, ..WorkloadConfig::default() }
}

/// Streams the first `events` commands of [`demo_config`]`(events)`, parsed.
/// Lines that do not parse would be a generator bug: they are skipped (and
/// the caller sees fewer than `events` commands).
pub fn demo_stream(events: u64) -> impl Iterator<Item = CommandLine> {
    let n = usize::try_from(events).unwrap_or(usize::MAX);
    cardledger_workload::generate(&demo_config(events)).filter_map(|l| parse_line(&l).ok()).take(n)
}

/// The first `events` commands of the demo workload, parsed, in memory.
pub fn demo_commands(events: u64) -> Vec<CommandLine> {
    demo_stream(events).collect()
}

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
