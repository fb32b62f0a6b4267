//! Seeded, realistic cardledger workloads as JSON lines.
//!
//! This crate produces the command stream that the `cardledger` host ingests
//! in its demo, that tests replay, and that benchmarks time: one JSON object
//! per line, exactly one command key (product spec §3) plus `"time"` (RFC 3339
//! UTC, non-decreasing over the stream). The same seed always yields
//! byte-identical output.
//!
//! What it deliberately is not: it does not link the engine, does not validate
//! commands against the engine's rules, and does not read the clock. It keeps
//! just enough state of its own (tracked GPA balances, open holds, order
//! remainders, credit owed) to only emit commands a correct engine accepts.
//!
//! Two programs are simulated: `prog_alpha` (GPA orders from a program funding
//! source, with a reserve) and `prog_beta` (just-in-time funded through a
//! program gateway).
//!
//! ```
//! use cardledger_workload::{generate, generate_bulk, WorkloadConfig};
//!
//! let cfg = WorkloadConfig { days: 2, holders: 10, ..WorkloadConfig::default() };
//! let lines: Vec<String> = generate(&cfg).collect();
//! assert!(lines[0].starts_with(r#"{"time":"2024-01-01T00:00:00Z","program":"#));
//! assert_eq!(generate_bulk(7, 500).count(), 500);
//! ```

mod world;

use chrono::{Datelike, Days, NaiveDate, NaiveTime};
use rand::seq::SliceRandom;
use rand::Rng;

use world::{Program, SetupSpec, World, RESUBMIT_PER_MILLE};

/// What to generate with [`generate`]. Memory use grows with `holders` and
/// `credit_accounts`, never with `days`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadConfig {
    /// Seed of the only source of randomness: same seed, same bytes.
    pub seed: u64,
    /// Number of simulated days after the set-up.
    pub days: u32,
    /// Number of account holders (users and a few businesses), split about
    /// 60/40 between the two programs.
    pub holders: u32,
    /// The first simulated day (UTC); the set-up is stamped at its midnight.
    pub start_date: NaiveDate,
    /// Number of alpha users that get a credit account (capped at the number
    /// of alpha users).
    pub credit_accounts: u32,
}

impl Default for WorkloadConfig {
    /// Seed 42, 30 days from 2024-01-01, 100 holders, 10 credit accounts: a
    /// demo-sized workload of roughly ten thousand lines.
    fn default() -> Self {
        WorkloadConfig {
            seed: 42,
            days: 30,
            holders: 100,
            start_date: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default(),
            credit_accounts: 10,
        }
    }
}

/// Streams the workload line by line (no trailing newline in each `String`):
/// the set-up, then each day's activity in time order. Lazy: one day is
/// generated at a time, so 10,000,000 lines stream in memory bounded by the
/// number of holders.
pub fn generate(cfg: &WorkloadConfig) -> impl Iterator<Item = String> {
    Daily::new(cfg)
}

/// Streams exactly `n` lines, set-up included, of bulk money movements for
/// throughput measurements: mostly GPA orders, authorization + clearing
/// pairs, PIN debits, GPA unloads and program deposits, all valid and with
/// unique tokens (no resubmissions). Time advances 0–2 seconds per line.
pub fn generate_bulk(seed: u64, n: u64) -> impl Iterator<Item = String> {
    Bulk::new(seed, n)
}

// ---- daily driver -----------------------------------------------------------

/// Seconds in a day.
const DAY_SECONDS: i64 = 86_400;
/// Mean number of random actions per holder per day.
const ACTIONS_PER_HOLDER_DAY: u64 = 3;
/// Days between two deposits of the same program (a parameter of the
/// generated world, not a limit of the engine).
const DEPOSIT_GAP_DAYS: std::ops::RangeInclusive<u32> = 2..=5;

/// The random actions of an ordinary day and their weights.
#[derive(Clone, Copy, Debug)]
enum Action {
    GpaOrder,
    GpaUnload,
    BetaLoad,
    Authorize,
    Settle,
    PinDebit,
    AtmWithdrawal,
    Refund,
    MsaOrder,
    MsaUnload,
    OfferOrder,
    CreditPurchase,
    CreditRefund,
    CreditPayment,
}

const DAILY_MIX: [(Action, u32); 14] = [
    (Action::GpaOrder, 16),
    (Action::GpaUnload, 4),
    (Action::BetaLoad, 1),
    (Action::Authorize, 26),
    (Action::Settle, 12),
    (Action::PinDebit, 6),
    (Action::AtmWithdrawal, 3),
    (Action::Refund, 2),
    (Action::MsaOrder, 3),
    (Action::MsaUnload, 2),
    (Action::OfferOrder, 1),
    (Action::CreditPurchase, 8),
    (Action::CreditRefund, 1),
    (Action::CreditPayment, 3),
];

/// Work that must happen on a given day, interleaved with random actions.
#[derive(Clone, Debug)]
enum Task {
    /// Clear or reverse a hold left open from an earlier day.
    SettleOverdue,
    /// Assess the monthly fee on this holder (1st of the month).
    MonthlyFee(usize),
    /// Fund a program's bank account.
    Deposit(Program),
    /// Close the statement cycles that ended (the 2nd of each month).
    Tick,
}

#[derive(Debug)]
struct Daily {
    world: World,
    day: u32,
    days: u32,
    start_date: NaiveDate,
    midnight_ts: i64,
    holders: u32,
    next_deposit_day: [u32; 2],
}

impl Daily {
    fn new(cfg: &WorkloadConfig) -> Daily {
        let midnight_ts = cfg.start_date.and_time(NaiveTime::MIN).and_utc().timestamp();
        let spec = SetupSpec {
            seed: cfg.seed,
            holders: cfg.holders,
            credit_accounts: cfg.credit_accounts,
            resubmit_per_mille: RESUBMIT_PER_MILLE,
        };
        Daily {
            world: World::new(&spec, midnight_ts),
            day: 0,
            days: cfg.days,
            start_date: cfg.start_date,
            midnight_ts,
            holders: cfg.holders,
            next_deposit_day: [0, 0],
        }
    }

    /// Queues every line of day `day`, in time order.
    fn run_day(&mut self, day: u32) {
        let day_ts = self.midnight_ts + i64::from(day) * DAY_SECONDS;
        let tasks = self.tasks(day);
        let mean = u64::from(self.holders) * ACTIONS_PER_HOLDER_DAY;
        let random = if mean == 0 { 0 } else { self.world.rng.gen_range(mean * 4 / 5..=mean * 6 / 5) };
        let total = usize::try_from(random).unwrap_or(0) + tasks.len();
        let mut seconds: Vec<i64> = (0..total).map(|_| self.world.rng.gen_range(0..DAY_SECONDS)).collect();
        seconds.sort_unstable();
        let mut tasks = tasks.into_iter();
        let mut tasks_left = tasks.len();
        for (k, second) in seconds.into_iter().enumerate() {
            let ts = day_ts + second;
            let slots_left = total - k;
            // Tasks are spread uniformly over the slots and all get one.
            if tasks_left > 0 && self.world.rng.gen_range(0..slots_left) < tasks_left {
                tasks_left -= 1;
                if let Some(task) = tasks.next() {
                    self.run_task(ts, task);
                }
            } else {
                self.run_random(ts, day);
            }
        }
    }

    fn tasks(&mut self, day: u32) -> Vec<Task> {
        let overdue = self.world.mark_overdue(day);
        let mut tasks: Vec<Task> = vec![Task::SettleOverdue; overdue];
        let first_of_month = self.start_date.checked_add_days(Days::new(u64::from(day))).is_some_and(|d| d.day() == 1);
        if first_of_month {
            tasks.extend(self.world.alpha_holder_indexes().into_iter().map(Task::MonthlyFee));
        }
        let second_of_month = self.start_date.checked_add_days(Days::new(u64::from(day))).is_some_and(|d| d.day() == 2);
        if second_of_month {
            tasks.push(Task::Tick);
        }
        for (slot, program) in [Program::Alpha, Program::Beta].into_iter().enumerate() {
            if let Some(next) = self.next_deposit_day.get_mut(slot) {
                if *next <= day {
                    tasks.push(Task::Deposit(program));
                    *next = day + self.world.rng.gen_range(DEPOSIT_GAP_DAYS);
                }
            }
        }
        tasks.shuffle(&mut self.world.rng);
        tasks
    }

    fn run_task(&mut self, ts: i64, task: Task) {
        // A task that is no longer possible (balance too low for the fee)
        // simply emits nothing.
        match task {
            Task::SettleOverdue => self.world.settle_overdue(ts),
            Task::MonthlyFee(holder) => self.world.monthly_fee(ts, holder),
            Task::Deposit(program) => self.world.program_deposit(ts, program),
            Task::Tick => self.world.tick(ts),
        };
    }

    fn run_random(&mut self, ts: i64, day: u32) {
        let action = weighted(&mut self.world, &DAILY_MIX).unwrap_or(Action::GpaOrder);
        let w = &mut self.world;
        let done = match action {
            Action::GpaOrder => w.gpa_order_random(ts),
            Action::GpaUnload => w.gpa_unload(ts),
            Action::BetaLoad => w.beta_load(ts),
            Action::Authorize => w.authorize(ts, day),
            Action::Settle => w.settle_random(ts, 8, 10),
            Action::PinDebit => w.pindebit(ts),
            Action::AtmWithdrawal => w.atm_withdrawal(ts),
            Action::Refund => w.refund(ts),
            Action::MsaOrder => w.msa_order(ts),
            Action::MsaUnload => w.msa_unload(ts),
            Action::OfferOrder => w.offer_order(ts),
            Action::CreditPurchase => w.credit_purchase(ts),
            Action::CreditRefund => w.credit_refund(ts),
            Action::CreditPayment => w.credit_payment(ts),
        };
        if !done {
            // Money has to come from somewhere: an infeasible spend becomes a load.
            w.gpa_order_random(ts);
        }
    }
}

impl Iterator for Daily {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            if let Some(line) = self.world.out.pop_front() {
                return Some(line);
            }
            if self.day >= self.days {
                return None;
            }
            let day = self.day;
            self.day += 1;
            self.run_day(day);
        }
    }
}

// ---- bulk driver ------------------------------------------------------------

/// Holders in the bulk workload's set-up.
const BULK_HOLDERS: u32 = 500;
/// Bulk start: 2024-01-01T00:00:00Z.
const BULK_START_TS: i64 = 1_704_067_200;

#[derive(Clone, Copy, Debug)]
enum BulkAction {
    GpaOrder,
    Authorize,
    PinDebit,
    GpaUnload,
    Deposit,
}

const BULK_MIX: [(BulkAction, u32); 5] = [
    (BulkAction::GpaOrder, 30),
    (BulkAction::Authorize, 30),
    (BulkAction::PinDebit, 20),
    (BulkAction::GpaUnload, 12),
    (BulkAction::Deposit, 1),
];

#[derive(Debug)]
struct Bulk {
    world: World,
    left: u64,
    ts: i64,
}

impl Bulk {
    fn new(seed: u64, n: u64) -> Bulk {
        let spec = SetupSpec { seed, holders: BULK_HOLDERS, credit_accounts: 0, resubmit_per_mille: 0 };
        Bulk { world: World::new(&spec, BULK_START_TS), left: n, ts: BULK_START_TS }
    }

    /// Queues at least one line.
    fn step(&mut self) {
        self.ts += self.world.rng.gen_range(0..=2);
        let ts = self.ts;
        // Settle holds soon after they are placed: authorization + clearing pairs.
        let settle_pct = if self.world.open_holds() > 16 { 100 } else { 45 };
        if self.world.open_holds() > 0
            && self.world.rng.gen_range(0..100) < settle_pct
            && self.world.settle_oldest(ts, 0, 0)
        {
            return;
        }
        let action = weighted(&mut self.world, &BULK_MIX).unwrap_or(BulkAction::GpaOrder);
        let w = &mut self.world;
        let done = match action {
            BulkAction::GpaOrder => w.gpa_order_random(ts),
            BulkAction::Authorize => w.authorize(ts, 0),
            BulkAction::PinDebit => w.pindebit(ts),
            BulkAction::GpaUnload => w.gpa_unload(ts),
            BulkAction::Deposit => w.program_deposit(ts, Program::Alpha),
        };
        if !done && !w.gpa_order_random(ts) {
            // Always possible, so every step makes progress.
            w.program_deposit(ts, Program::Beta);
        }
    }
}

impl Iterator for Bulk {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.left == 0 {
            return None;
        }
        while self.world.out.is_empty() {
            self.step();
        }
        let line = self.world.out.pop_front()?;
        self.left -= 1;
        Some(line)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.left).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

// ---- helpers ----------------------------------------------------------------

/// Picks an entry of `mix` with probability proportional to its weight.
fn weighted<T: Copy>(world: &mut World, mix: &[(T, u32)]) -> Option<T> {
    let total: u32 = mix.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return None;
    }
    let mut roll = world.rng.gen_range(0..total);
    for (item, weight) in mix {
        if roll < *weight {
            return Some(*item);
        }
        roll -= weight;
    }
    None
}
