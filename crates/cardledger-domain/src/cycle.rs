//! Statement cycles of credit accounts (`docs/statements.md`): the pure
//! arithmetic a `tick` needs to decide cycle closes, and the per-account
//! accumulators `Ledger::apply` keeps for it.
//!
//! Every amount is computed in integer cents (`i64`/`i128`) and converted to
//! [`Money`] at the edges, so each rounding point is one explicit call of
//! [`div_round`] (half away from zero, which is half up for the non-negative
//! values the rules round). Rates are kept as integers too: an APR or a
//! percentage with at most 4 decimals is `value × 10^4`, a daily periodic
//! rate is `value × 10^8` (statements.md: 8 places).
//!
//! The module decides nothing by itself: `Ledger::decide` calls
//! [`close_cycle`] for every cycle a tick passes and records the results as
//! [`CyclesClosed`] events; `Ledger::apply` folds them back with
//! [`CycleAccount::after_close`].

use bincode::{Decode, Encode};
use chrono::{Datelike, NaiveDate};

/// The zone of an account that names none (statements.md §1).
pub const DEFAULT_ZONE: Tz = chrono_tz::America::New_York;
use rust_decimal::{Decimal, MathematicalOps};

use crate::command::{CreditAccountCmd, JournalEntryCmd, Rate};
use crate::event::JeEffect;
pub use crate::money::div_round;
use crate::money::Money;
use crate::time::{Date, Timestamp};
use crate::token::Token;
/// Zone-name parsing lives in [`crate::zone`]; this name stays for the
/// callers that still spell it `cycle::zone`.
pub use crate::zone::parse as zone;
pub use crate::zone::Tz;
use crate::zone::{day_start, local_date};

/// One `tick`'s closes of statement cycles, recorded in the tick's batch
/// (at most `limits::CYCLE_CLOSES_PER_EVENT_MAX` per event). Postings: each
/// close's interest and late fee move from the credit account to the
/// program's income account.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CyclesClosed {
    /// The tick's `now`.
    pub now: Timestamp,
    /// The program of every account closed here, per close (same order).
    pub program_tokens: Vec<Token>,
    /// The closes, ordered by account token then cycle.
    pub closes: Vec<CycleClose>,
}

/// Everything a statement shows, computed once when its cycle closes, so a
/// projection never recomputes it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CycleClose {
    /// Credit account.
    pub account_token: Token,
    /// Statement summary token (derived: [`derived_token`]).
    pub statement_token: Token,
    /// 1 for the account's first statement.
    pub number: u32,
    /// Local midnight of the cycle's first day.
    pub opening_date: Timestamp,
    /// 23:59:59.999 local of the cycle's last day.
    pub closing_date: Timestamp,
    /// Local calendar days in the cycle.
    pub days_in_billing_cycle: u32,
    /// TRANSACTING, BEGINNING_REVOLVING, REVOLVING or END_REVOLVING.
    pub cycle_type: CycleType,
    /// Balance when the cycle opened (the previous closing balance).
    pub opening_balance: Money,
    /// opening + purchases + fees + interest − payments − credits.
    pub closing_balance: Money,
    /// Credit limit at the close.
    pub credit_limit: Money,
    /// max(0, limit − closing).
    pub available_credit: Money,
    /// Past-due amount after this cycle's payments and credits.
    pub past_due_amount: Money,
    /// Purchases (clearings, PIN purchases, ATM withdrawals, debit adjustments).
    pub purchases: Money,
    /// Refunds, credit adjustments and rewards.
    pub credits: Money,
    /// Refunds alone (rewards are a percentage of purchases net of refunds).
    pub refunds: Money,
    /// Payments.
    pub payments: Money,
    /// Fees (posted in the cycle plus the late fee of the close).
    pub fees: Money,
    /// Interest (posted in the cycle plus the interest of the close).
    pub interest: Money,
    /// APR.
    pub apr: Rate,
    /// The average daily balance interest was computed on.
    pub average_daily_balance: Money,
    /// round(APR / 100 / 365, 8).
    pub daily_periodic_rate: Rate,
    /// The `account.interest` entry of the close, if any.
    pub interest_entry: Option<Charge>,
    /// The `account.fee.payment.late` entry of the close, if any.
    pub late_fee_entry: Option<Charge>,
    /// The configured late payment fee (the fee detail's `value`).
    pub late_fee_value: Money,
    /// Minimum payment due.
    pub minimum_payment: Money,
    /// Due (and cut-off) date: the closing instant of the next cycle.
    pub payment_due_date: Timestamp,
    /// Savings of paying in three years over paying the minimum.
    pub three_year_savings: Money,
    /// Repayment warnings (Appendix M1).
    pub warnings: Vec<Warning>,
    /// Reward of this cycle.
    pub reward: Money,
    /// Reward of the previous statement.
    pub previous_reward: Money,
    /// Fees of statements closing in this local calendar year, this one included.
    pub ytd_fees: Money,
    /// Interest of statements closing in this local calendar year.
    pub ytd_interest: Money,
    /// Delinquency after the close.
    pub delinquency: Delinquency,
    /// The delinquency state the previous close left (payments since then
    /// not counted; the projection compares with its running state instead).
    pub delinquency_before: Delinquency,
    /// Outstanding dues after the close, oldest first.
    pub dues: Vec<Due>,
    /// Balance components after the close.
    pub components: Components,
    /// This cycle paid the previous statement in full (or it was ≤ 0).
    pub paid_previous_in_full: bool,
    /// This cycle revolves.
    pub revolving: bool,
}

/// A journal entry a close records (interest or late fee).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Charge {
    /// Journal entry token (derived from the statement token).
    pub token: Token,
    /// Amount.
    pub amount: Money,
}

/// The four cycle types of the source page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum CycleType {
    /// Not revolving, not revolving before.
    Transacting,
    /// Revolving now, not before.
    BeginningRevolving,
    /// Revolving now and before.
    Revolving,
    /// Revolving before, not now.
    EndRevolving,
}

impl CycleType {
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            CycleType::Transacting => "TRANSACTING",
            CycleType::BeginningRevolving => "BEGINNING_REVOLVING",
            CycleType::Revolving => "REVOLVING",
            CycleType::EndRevolving => "END_REVOLVING",
        }
    }
}

/// A repayment warning.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Warning {
    /// MIN_PAYMENT or 3_YEAR.
    pub three_year: bool,
    /// Total paid.
    pub total_paid: Money,
    /// Total paid − balance.
    pub interest_paid: Money,
    /// 0 for MIN_PAYMENT; P36 for 3_YEAR.
    pub monthly_payment: Money,
    /// Months or years.
    pub pay_off_period: u32,
    /// YEAR when true, else MONTH.
    pub in_years: bool,
    /// NEGATIVE_OR_NO_AMORTIZATION / NO_LIFETIME_REPAYMENT.
    pub disclosure: Option<Disclosure>,
}

impl Warning {
    /// Wire name of the type.
    pub fn type_name(&self) -> &'static str {
        if self.three_year {
            "3_YEAR"
        } else {
            "MIN_PAYMENT"
        }
    }
    /// Wire name of the period type.
    pub fn period_type(&self) -> &'static str {
        if self.in_years {
            "YEAR"
        } else {
            "MONTH"
        }
    }
}

/// Why the minimum payment never repays the balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Disclosure {
    /// The minimum does not exceed the monthly interest.
    NegativeOrNoAmortization,
    /// Repayment takes longer than 1,200 months.
    NoLifetimeRepayment,
}

impl Disclosure {
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            Disclosure::NegativeOrNoAmortization => "NEGATIVE_OR_NO_AMORTIZATION",
            Disclosure::NoLifetimeRepayment => "NO_LIFETIME_REPAYMENT",
        }
    }
}

/// One statement's current due with what remains of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Due {
    /// Its due date.
    pub due_date: Timestamp,
    /// Unpaid remainder.
    pub amount: Money,
}

/// Delinquency: the past-due buckets and what is due.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Delinquency {
    /// Σ past-due remainders.
    pub total_past_due: Money,
    /// Σ dues not yet due.
    pub current_due: Money,
    /// Oldest past-due due date.
    pub oldest_payment_due_date: Option<Timestamp>,
    /// Number of past-due dues.
    pub bucket_count: u32,
}

impl Delinquency {
    /// Delinquent when anything is past due.
    pub fn is_delinquent(&self) -> bool {
        self.bucket_count > 0
    }
    /// CURRENT or DELINQUENT.
    pub fn status(&self) -> &'static str {
        if self.is_delinquent() {
            "DELINQUENT"
        } else {
            "CURRENT"
        }
    }
    /// past due + current.
    pub fn total_due(&self) -> Money {
        self.total_past_due.plus(self.current_due)
    }
    /// A transition is recorded when status or bucket count changes.
    pub fn differs(&self, other: &Delinquency) -> bool {
        self.is_delinquent() != other.is_delinquent() || self.bucket_count != other.bucket_count
    }
}

/// The delinquency of a dues list at an instant: dues whose date is before
/// `at` are past due. `None` for `at` counts every due but the newest as past
/// due (between closes the newest due is the only one not yet due).
pub fn delinquency_of(dues: &[Due], at: Option<Timestamp>) -> Delinquency {
    let mut d = Delinquency::default();
    let newest = dues.len().saturating_sub(1);
    for (i, due) in dues.iter().enumerate() {
        let past = match at {
            Some(t) => due.due_date <= t,
            None => i < newest,
        };
        if past {
            d.total_past_due = d.total_past_due.plus(due.amount);
            d.bucket_count += 1;
            if d.oldest_payment_due_date.is_none() {
                d.oldest_payment_due_date = Some(due.due_date);
            }
        } else {
            d.current_due = d.current_due.plus(due.amount);
        }
    }
    d
}

/// Pays dues oldest first; returns what was left of `amount`.
pub fn pay_dues(dues: &mut Vec<Due>, amount: Money) -> Money {
    let mut left = amount;
    for due in dues.iter_mut() {
        let take = due.amount.min(left);
        due.amount = due.amount.minus(take);
        left = left.minus(take);
    }
    dues.retain(|d| d.amount.is_positive());
    left
}

/// Balance components of a credit account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Components {
    /// Purchases − refunds − principal payments (negative: a credit balance).
    pub principal: Money,
    /// Fees not yet paid.
    pub fees: Money,
    /// Billed interest not yet paid (bears no interest).
    pub interest: Money,
}

impl Components {
    /// The balance.
    pub fn total(&self) -> Money {
        self.principal.plus(self.fees).plus(self.interest)
    }
}

/// What a credit-account journal entry does to the statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivityKind {
    /// Adds to principal and purchases.
    Purchase,
    /// A refund: reduces principal; counts in credits and refunds.
    Refund,
    /// A credit adjustment or reward: reduces principal; counts in credits.
    Credit,
    /// A payment, split by the allocation order.
    Payment,
    /// A fee; `late` fees bear interest only from the next cycle.
    Fee(FeeType),
    /// Billed interest posted by the client.
    Interest,
}

/// Fee types of the source page, from `account.fee.*` journal entry types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeeType {
    /// `account.fee.payment.late`.
    LatePayment,
    /// `account.fee.overlimit`.
    OverLimit,
    /// `account.fee.foreign_transaction`.
    ForeignTransaction,
    /// `account.fee.payment.returned`.
    ReturnedPayment,
    /// `account.fee.card.replacement`.
    CardReplacement,
    /// `account.fee.annual`.
    Annual,
    /// `account.fee.monthly`.
    Monthly,
    /// Any other `account.fee.*`.
    Other,
}

impl FeeType {
    /// From a journal entry type.
    pub fn of_kind(kind: &str) -> FeeType {
        match kind {
            "account.fee.payment.late" => FeeType::LatePayment,
            "account.fee.overlimit" | "account.fee.over_limit" => FeeType::OverLimit,
            "account.fee.foreign_transaction" => FeeType::ForeignTransaction,
            "account.fee.payment.returned" => FeeType::ReturnedPayment,
            "account.fee.card.replacement" => FeeType::CardReplacement,
            "account.fee.annual" => FeeType::Annual,
            "account.fee.monthly" => FeeType::Monthly,
            _ => FeeType::Other,
        }
    }
    /// Wire name (as in `min_payment.include_fees_charged`).
    pub fn name(self) -> &'static str {
        match self {
            FeeType::LatePayment => "LATE_PAYMENT_FEE",
            FeeType::OverLimit => "OVER_LIMIT_FEE",
            FeeType::ForeignTransaction => "FOREIGN_TRANSACTION_FEE",
            FeeType::ReturnedPayment => "RETURNED_PAYMENT_FEE",
            FeeType::CardReplacement => "CARD_REPLACEMENT_FEE",
            FeeType::Annual => "ANNUAL_FEE",
            FeeType::Monthly => "MONTHLY_FEE",
            FeeType::Other => "OTHER_FEE",
        }
    }
}

/// The statement effect of a journal entry on a credit account, or `None`
/// when it moves no balance (holds, reversals, pending refunds, declines).
pub fn activity_kind(effect: JeEffect, cmd: &JournalEntryCmd) -> Option<ActivityKind> {
    match effect {
        JeEffect::NoBalance | JeEffect::Hold | JeEffect::Reversal | JeEffect::PendingRefund => None,
        JeEffect::Clearing | JeEffect::PinPurchase | JeEffect::AtmWithdrawal | JeEffect::AdjustmentDebit => {
            Some(ActivityKind::Purchase)
        }
        JeEffect::Refund => Some(ActivityKind::Refund),
        JeEffect::AdjustmentCredit | JeEffect::Reward => Some(ActivityKind::Credit),
        JeEffect::Payment => Some(ActivityKind::Payment),
        JeEffect::Interest => Some(ActivityKind::Interest),
        JeEffect::Fee => Some(ActivityKind::Fee(FeeType::of_kind(&cmd.kind))),
    }
}

/// A journal entry waiting for its cycle to close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activity {
    /// Local date of its impact time.
    pub date: Date,
    /// Where it is recorded (ties on a date keep log order).
    pub seq: u64,
    /// Its statement effect.
    pub kind: ActivityKind,
    /// Amount (positive).
    pub amount: Money,
}

/// The cycle accumulators of one credit account, kept by `Ledger::apply`.
#[derive(Clone, Debug)]
pub struct CycleAccount {
    /// The account's zone.
    pub tz: Tz,
    /// Local first day of the open cycle.
    pub open_start: Date,
    /// The open cycle's opening instant (local midnight of `open_start`).
    pub opens_at: Timestamp,
    /// The open cycle's closing instant.
    pub closes_at: Timestamp,
    /// Statements closed so far.
    pub closed: u32,
    /// Components when the open cycle opened.
    pub opening: Components,
    /// The previous statement's closing balance.
    pub prev_balance: Money,
    /// The previous statement's minimum payment.
    pub prev_minimum: Money,
    /// The previous cycle revolved.
    pub prev_revolving: bool,
    /// Paid-in-full flags of the last two closed cycles (last first).
    pub paid_history: [bool; 2],
    /// Outstanding dues, oldest first.
    pub dues: Vec<Due>,
    /// Delinquency after the last close.
    pub delinquency: Delinquency,
    /// Local year of the last close and its year-to-date totals.
    pub ytd: (i32, Money, Money),
    /// The previous statement's reward.
    pub prev_reward: Money,
    /// Activity not yet in a closed cycle.
    pub activity: Vec<Activity>,
}

impl CycleAccount {
    /// A new account: its first cycle is the whole cycle period containing
    /// the local date it opened.
    pub fn open(cmd: &CreditAccountCmd, opened: Timestamp) -> CycleAccount {
        let tz = zone(&cmd.timezone).unwrap_or(DEFAULT_ZONE);
        let local = local_date(tz, opened).to_naive();
        let day = cmd.billing_cycle_day;
        let this_month = NaiveDate::from_ymd_opt(local.year(), local.month(), day).unwrap_or(local);
        let start = if local.day() >= day { this_month } else { add_months(this_month, -1) };
        let open_start = Date::from_naive(start);
        CycleAccount {
            tz,
            open_start,
            opens_at: day_start(tz, open_start),
            closes_at: closing_instant(tz, open_start),
            closed: 0,
            opening: Components::default(),
            prev_balance: Money::ZERO,
            prev_minimum: Money::ZERO,
            prev_revolving: false,
            paid_history: [false, false],
            dues: Vec::new(),
            delinquency: Delinquency::default(),
            ytd: (start.year(), Money::ZERO, Money::ZERO),
            prev_reward: Money::ZERO,
            activity: Vec::new(),
        }
    }

    /// Notes a journal entry's statement effect.
    pub fn record(&mut self, seq: u64, impact: Timestamp, kind: ActivityKind, amount: Money) {
        self.activity.push(Activity { date: local_date(self.tz, impact), seq, kind, amount });
    }

    /// Folds a recorded close into the accumulators.
    pub fn after_close(&mut self, c: &CycleClose) {
        let end = Date(next_start(self.open_start).0 - 1);
        self.activity.retain(|a| a.date > end);
        self.open_start = next_start(self.open_start);
        self.opens_at = Timestamp(self.closes_at.0 + 1_000);
        // the next cycle closes when this statement is due
        self.closes_at = c.payment_due_date;
        self.closed = c.number;
        self.opening = c.components;
        self.prev_balance = c.closing_balance;
        self.prev_minimum = c.minimum_payment;
        self.prev_revolving = c.revolving;
        self.paid_history = [c.paid_previous_in_full, self.paid_history[0]];
        self.dues = c.dues.clone();
        self.delinquency = c.delinquency;
        self.ytd = (end.to_naive().year(), c.ytd_fees, c.ytd_interest);
        self.prev_reward = c.reward;
    }
}

/// The open cycle so far (the credit-account balance read): its dates and
/// the activity a close now would count, summed exactly as `close_cycle`
/// sums it (entries dated up to the cycle's last day; a late entry dated
/// before the cycle counts in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenCycle {
    /// Local first day.
    pub start: Date,
    /// Local last day.
    pub end: Date,
    /// The closing instant (23:59:59.999 local on `end`, or the last
    /// statement's due date after the first close).
    pub closes_at: Timestamp,
    /// Purchases.
    pub purchases: Money,
    /// Refunds (also counted in `credits`).
    pub refunds: Money,
    /// Credits: refunds, credit adjustments and rewards.
    pub credits: Money,
    /// Payments.
    pub payments: Money,
    /// Fees charged.
    pub fees: Money,
    /// Interest charged.
    pub interest: Money,
}

impl CycleAccount {
    /// The open cycle's dates and its activity so far.
    pub fn open_cycle(&self) -> OpenCycle {
        let end = Date(next_start(self.open_start).0 - 1);
        let mut o = OpenCycle {
            start: self.open_start,
            end,
            closes_at: self.closes_at,
            purchases: Money::ZERO,
            refunds: Money::ZERO,
            credits: Money::ZERO,
            payments: Money::ZERO,
            fees: Money::ZERO,
            interest: Money::ZERO,
        };
        for a in self.activity.iter().filter(|a| a.date <= end) {
            let slot = match a.kind {
                ActivityKind::Purchase => &mut o.purchases,
                ActivityKind::Refund => {
                    o.refunds = o.refunds.plus(a.amount);
                    &mut o.credits
                }
                ActivityKind::Credit => &mut o.credits,
                ActivityKind::Payment => &mut o.payments,
                ActivityKind::Fee(_) => &mut o.fees,
                ActivityKind::Interest => &mut o.interest,
            };
            *slot = slot.plus(a.amount);
        }
        o
    }
}

/// The first day of the cycle after the one starting on `start`.
pub fn next_start(start: Date) -> Date {
    Date::from_naive(add_months(start.to_naive(), 1))
}

/// 23:59:59.999 local on the last day of the cycle starting on `start`.
pub fn closing_instant(tz: Tz, start: Date) -> Timestamp {
    Timestamp(day_start(tz, next_start(start)).0 - 1_000)
}

fn add_months(d: NaiveDate, months: i32) -> NaiveDate {
    let m = d.year() * 12 + d.month0() as i32 + months;
    NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, d.day()).unwrap_or(d)
}

/// A token derived from labelled parts: 36 characters in UUID form, so
/// statement, payment-info, reward, year-to-date, file and journal-entry
/// tokens are reproducible from the log alone.
pub fn derived_token(parts: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0]);
    }
    let hex = h.finalize().to_hex();
    let s = hex.as_str();
    format!(
        "{}-{}-{}-{}-{}",
        s.get(0..8).unwrap_or(""),
        s.get(8..12).unwrap_or(""),
        s.get(12..16).unwrap_or(""),
        s.get(16..20).unwrap_or(""),
        s.get(20..32).unwrap_or("")
    )
}

/// `round(a × b / d)` like [`div_round`], in 64-bit arithmetic when the
/// product fits (the simulation's hot loop), else in 128-bit.
fn div_round_fast(a: i128, b: i128, d: i128) -> i128 {
    if let (Ok(a64), Ok(b64), Ok(d64)) = (i64::try_from(a), i64::try_from(b), i64::try_from(d)) {
        if let Some(n) = a64.checked_mul(b64) {
            if n >= 0 && d64 > 0 {
                let (q, r) = (n / d64, n % d64);
                return i128::from(if 2 * r >= d64 { q + 1 } else { q });
            }
        }
    }
    div_round(a * b, d)
}

/// A rate with at most 4 decimals as `value × 10^4` (wire rates are checked
/// to have at most 4 decimals).
pub fn rate_e4(r: Rate) -> i128 {
    let (m, scale) = (r.0.mantissa(), r.0.scale());
    if scale <= 4 {
        m * 10i128.pow(4 - scale)
    } else {
        m / 10i128.pow(scale - 4)
    }
}

fn cents(m: Money) -> i64 {
    m.cents()
}

fn money(c: i128) -> Money {
    Money::from_cents(i64::try_from(c).unwrap_or(if c < 0 { i64::MIN } else { i64::MAX }))
}

/// Decides the close of `acct`'s open cycle under the account's settings.
pub fn close_cycle(cmd: &CreditAccountCmd, acct: &CycleAccount) -> CycleClose {
    let start = acct.open_start;
    let next = next_start(start);
    let end = Date(next.0 - 1);
    let days = (next.0 - start.0).max(1) as usize;
    let closing_date = acct.closes_at;
    let first = acct.closed == 0;

    let mut acts: Vec<Activity> = acct.activity.iter().filter(|a| a.date <= end).copied().collect();
    // a late entry dated before the open cycle counts from its first day
    for a in &mut acts {
        if a.date < start {
            a.date = start;
        }
    }
    acts.sort_by_key(|a| (a.date, a.seq));

    let actual = run(cmd, acct.opening, &acts, start, days, false);
    let (mut purchases, mut refunds, mut credits, mut payments, mut fees, mut interest) = (0i64, 0, 0, 0, 0, 0);
    let mut listed_fees = 0i64;
    for a in &acts {
        let c = cents(a.amount);
        match a.kind {
            ActivityKind::Purchase => purchases += c,
            ActivityKind::Refund => {
                refunds += c;
                credits += c
            }
            ActivityKind::Credit => credits += c,
            ActivityKind::Payment => payments += c,
            ActivityKind::Fee(t) => {
                fees += c;
                if cmd.min_payment.include_fees_charged.iter().any(|n| n == t.name()) {
                    listed_fees += c;
                }
            }
            ActivityKind::Interest => interest += c,
        }
    }
    let prev_balance = cents(acct.prev_balance);
    let repaid = payments + credits;

    // cycle type (statements.md §3)
    let revolving = !first && prev_balance > 0 && repaid < prev_balance;
    let cycle_type = match (acct.prev_revolving, revolving) {
        (false, false) => CycleType::Transacting,
        (false, true) => CycleType::BeginningRevolving,
        (true, true) => CycleType::Revolving,
        (true, false) => CycleType::EndRevolving,
    };

    // interest
    let apr = rate_e4(cmd.apr);
    // DPR = round(APR / 100 / 365, 8 places), as value × 10^8
    let dpr_e8 = div_round(apr * 100, 365);
    let counted: i128 = match cycle_type {
        CycleType::Transacting => 0,
        CycleType::BeginningRevolving => run(cmd, acct.opening, &acts, start, days, true).daily.iter().sum(),
        CycleType::Revolving => actual.daily.iter().sum(),
        CycleType::EndRevolving => match cmd.interest_on_grace_reactivation.as_str() {
            "WAIVE" => 0,
            "ACCRUE_FULL_CYCLE" => actual.daily.iter().sum(),
            _ => actual.daily.iter().take(actual.repaid_day.unwrap_or(days)).sum(),
        },
    };
    // ADB = round(Σ daily balances / days)
    let adb = div_round(counted, days as i128);
    // interest = round(ADB × DPR × days)
    let mut charged = div_round(adb * dpr_e8 * days as i128, 100_000_000);
    let min_interest = i128::from(cents(cmd.minimum_interest));
    if charged > 0 && charged < min_interest {
        charged = min_interest;
    }
    let charged = charged as i64;

    // late fee: the previous minimum not covered by this cycle's payments and credits
    let prev_min = cents(acct.prev_minimum);
    let late = if !first && prev_min > 0 && repaid < prev_min { cents(cmd.late_payment_fee).min(prev_min) } else { 0 };
    if cmd.min_payment.include_fees_charged.iter().any(|n| n == FeeType::LatePayment.name()) {
        listed_fees += late;
    }
    interest += charged;
    fees += late;

    let mut comps = actual.comps;
    comps.interest = comps.interest.plus(Money::from_cents(charged));
    comps.fees = comps.fees.plus(Money::from_cents(late));
    let opening_balance = acct.opening.total();
    let closing = cents(opening_balance) + purchases + fees + interest - payments - credits;
    assert_eq!(closing, cents(comps.total()), "closing-balance identity of {}", start);

    // dues FIFO: this cycle's payments and credits pay the oldest first; every
    // older due is due by this close
    let mut dues = acct.dues.clone();
    pay_dues(&mut dues, Money::from_cents(repaid));
    let past_due: i64 = dues.iter().map(|d| cents(d.amount)).sum();

    // minimum payment
    let limit = cents(cmd.credit_limit);
    let pct = rate_e4(cmd.min_payment.percentage_of_balance);
    let minimum = if closing <= 0 {
        0
    } else {
        let mut core = div_round(i128::from(closing) * pct, 1_000_000) as i64;
        if cmd.min_payment.include_interest_charged {
            core += interest;
        }
        core += listed_fees;
        let mut m = core.max(cents(cmd.min_payment.flat_amount));
        if cmd.min_payment.include_past_due_amount {
            m += past_due;
        }
        if cmd.min_payment.include_overlimit_amount {
            m += (closing - limit).max(0);
        }
        m.clamp(0, closing)
    };
    let past_part = if cmd.min_payment.include_past_due_amount { past_due.min(minimum) } else { 0 };
    let current_due = minimum - past_part;
    let payment_due_date = closing_instant(acct.tz, next);
    let delinquency_before = acct.delinquency;
    let delinquency = delinquency_of(&dues, Some(closing_date));
    if current_due > 0 {
        dues.push(Due { due_date: payment_due_date, amount: Money::from_cents(current_due) });
    }
    // a long-delinquent account: the two oldest dues merge (their sum, the
    // oldest date), so the list and every close event stay bounded
    while dues.len() > crate::limits::DUES_PER_ACCOUNT_MAX {
        let oldest = dues.remove(0);
        if let Some(next) = dues.first_mut() {
            next.amount = next.amount.plus(oldest.amount);
            next.due_date = oldest.due_date;
        }
    }
    let delinquency = Delinquency { current_due: Money::from_cents(current_due), ..delinquency };

    // warnings (Appendix M1)
    let paid_previous_in_full = !first && (prev_balance <= 0 || repaid >= prev_balance);
    let exempt = acct.paid_history[0] && acct.paid_history[1];
    let (three_year_savings, warnings) = if closing <= 0 || minimum >= closing || exempt {
        (0, Vec::new())
    } else {
        repayment_warnings(cmd, closing, minimum)
    };

    // rewards and year to date
    let rpct = rate_e4(cmd.reward_percentage);
    let reward = div_round(i128::from(purchases - refunds) * rpct, 1_000_000).max(0);
    let year = end.to_naive().year();
    let (ytd_fees, ytd_interest) = if year == acct.ytd.0 {
        (acct.ytd.1.plus(Money::from_cents(fees)), acct.ytd.2.plus(Money::from_cents(interest)))
    } else {
        (Money::from_cents(fees), Money::from_cents(interest))
    };

    let first_day = start.to_naive();
    let first_day = format!("{:04}-{:02}-{:02}", first_day.year(), first_day.month(), first_day.day());
    let statement_token = derived_token(&["statement", &cmd.token, &first_day]);
    let interest_entry = (charged > 0).then(|| Charge {
        token: derived_token(&["interest", &statement_token]).into(),
        amount: Money::from_cents(charged),
    });
    let late_fee_entry = (late > 0).then(|| Charge {
        token: derived_token(&["late_fee", &statement_token]).into(),
        amount: Money::from_cents(late),
    });
    CycleClose {
        account_token: cmd.token.clone(),
        statement_token: statement_token.into(),
        number: acct.closed + 1,
        opening_date: acct.opens_at,
        closing_date,
        days_in_billing_cycle: days as u32,
        cycle_type,
        opening_balance,
        closing_balance: Money::from_cents(closing),
        credit_limit: cmd.credit_limit,
        available_credit: Money::from_cents((limit - closing).max(0)),
        past_due_amount: Money::from_cents(past_due),
        purchases: Money::from_cents(purchases),
        credits: Money::from_cents(credits),
        refunds: Money::from_cents(refunds),
        payments: Money::from_cents(payments),
        fees: Money::from_cents(fees),
        interest: Money::from_cents(interest),
        apr: cmd.apr,
        average_daily_balance: money(adb),
        daily_periodic_rate: Rate(Decimal::from_i128_with_scale(dpr_e8, 8)),
        interest_entry,
        late_fee_entry,
        late_fee_value: cmd.late_payment_fee,
        minimum_payment: Money::from_cents(minimum),
        payment_due_date,
        three_year_savings: money(three_year_savings),
        warnings,
        reward: money(reward),
        previous_reward: acct.prev_reward,
        ytd_fees,
        ytd_interest,
        delinquency,
        delinquency_before,
        dues,
        components: comps,
        paid_previous_in_full,
        revolving,
    }
}

/// The outcome of walking a cycle day by day.
struct Run {
    /// Interest-bearing end-of-day balance per day (≥ 0), in cents.
    daily: Vec<i128>,
    /// Components at the end of the cycle.
    comps: Components,
    /// Index of the day payments + credits first reach the previous balance.
    repaid_day: Option<usize>,
}

/// Walks the cycle: each day applies its activity, then records the
/// interest-bearing balance (principal + fees, excluding late fees posted in
/// this cycle; negative counts as 0). `backdate` applies every payment and
/// credit on day 1 (BEGINNING_REVOLVING).
fn run(
    cmd: &CreditAccountCmd,
    opening: Components,
    acts: &[Activity],
    start: Date,
    days: usize,
    backdate: bool,
) -> Run {
    let mut comps = opening;
    let mut late_this_cycle = 0i64;
    let mut repaid = 0i64;
    let target = cents(opening.total());
    let mut repaid_day = None;
    let mut daily = Vec::with_capacity(days);
    let is_repayment =
        |k: ActivityKind| matches!(k, ActivityKind::Payment | ActivityKind::Refund | ActivityKind::Credit);
    let mut i = 0;
    if backdate {
        for a in acts.iter().filter(|a| is_repayment(a.kind)) {
            apply_activity(cmd, &mut comps, &mut late_this_cycle, a);
        }
    }
    for day in 0..days {
        let date = Date(start.0 + day as i32);
        while let Some(a) = acts.get(i).filter(|a| a.date <= date) {
            i += 1;
            if backdate && is_repayment(a.kind) {
                continue;
            }
            apply_activity(cmd, &mut comps, &mut late_this_cycle, a);
            if is_repayment(a.kind) {
                repaid += cents(a.amount);
                if repaid_day.is_none() && target > 0 && repaid >= target {
                    repaid_day = Some(day);
                }
            }
        }
        let bearing = cents(comps.principal) + cents(comps.fees) - late_this_cycle;
        daily.push(i128::from(bearing.max(0)));
    }
    Run { daily, comps, repaid_day }
}

fn apply_activity(cmd: &CreditAccountCmd, comps: &mut Components, late_this_cycle: &mut i64, a: &Activity) {
    match a.kind {
        ActivityKind::Purchase => comps.principal = comps.principal.plus(a.amount),
        ActivityKind::Refund | ActivityKind::Credit => comps.principal = comps.principal.minus(a.amount),
        ActivityKind::Fee(t) => {
            comps.fees = comps.fees.plus(a.amount);
            if t == FeeType::LatePayment {
                *late_this_cycle += cents(a.amount);
            }
        }
        ActivityKind::Interest => comps.interest = comps.interest.plus(a.amount),
        ActivityKind::Payment => {
            let mut left = a.amount;
            for part in &cmd.allocation_order {
                let slot = match part.as_str() {
                    "INTEREST" => &mut comps.interest,
                    "FEES" => &mut comps.fees,
                    "PRINCIPAL" => &mut comps.principal,
                    _ => continue,
                };
                let take = left.min((*slot).max(Money::ZERO));
                *slot = slot.minus(take);
                left = left.minus(take);
            }
            // any excess goes to principal (a credit balance)
            comps.principal = comps.principal.minus(left);
        }
    }
}

pub use crate::limits::SIMULATION_MONTHS_MAX;

/// Appendix M1 via M2: the repayment simulation and the warnings, from a
/// closing balance `b` and minimum payment (both in cents, `b > 0`).
/// Returns (three_year_savings, warnings) in cents.
pub fn repayment_warnings(cmd: &CreditAccountCmd, b: i64, minimum: i64) -> (i128, Vec<Warning>) {
    let apr = rate_e4(cmd.apr);
    let pct = rate_e4(cmd.min_payment.percentage_of_balance);
    let flat = i128::from(cents(cmd.min_payment.flat_amount));
    let b = i128::from(b);
    let mut t = b;
    let mut months = 0u32;
    let mut total = 0i128;
    let mut disclosure = None;
    while t > 0 {
        if months >= SIMULATION_MONTHS_MAX {
            disclosure = Some(Disclosure::NoLifetimeRepayment);
            break;
        }
        // fc = round(t × APR / 1200), exact: t cents × APR×10^4 / (1200 × 10^4)
        let fc = div_round_fast(t, apr, 12_000_000);
        // p = max(flat, round(t × pct / 100) + [fc])
        let mut p = div_round_fast(t, pct, 1_000_000);
        if cmd.min_payment.include_interest_charged {
            p += fc;
        }
        p = p.max(flat);
        if p > t + fc {
            p = t + fc;
        }
        if p <= fc {
            disclosure = Some(Disclosure::NegativeOrNoAmortization);
            break;
        }
        t = t + fc - p;
        total += p;
        months += 1;
    }
    let three_year = |p36: i128| Warning {
        three_year: true,
        total_paid: money(36 * p36),
        interest_paid: money(36 * p36 - b),
        monthly_payment: money(p36),
        pay_off_period: 36,
        in_years: false,
        disclosure: None,
    };
    if let Some(d) = disclosure {
        let min = Warning {
            three_year: false,
            total_paid: Money::ZERO,
            interest_paid: Money::ZERO,
            monthly_payment: Money::ZERO,
            pay_off_period: 0,
            in_years: false,
            disclosure: Some(d),
        };
        return (0, vec![min, three_year(p36_cents(b, cmd.apr))]);
    }
    let (period, in_years) =
        if months < 24 { (months, false) } else { (div_round(i128::from(months), 12) as u32, true) };
    let min = Warning {
        three_year: false,
        total_paid: money(total),
        interest_paid: money(total - b),
        monthly_payment: Money::ZERO,
        pay_off_period: period,
        in_years,
        disclosure: None,
    };
    // P36 (a Decimal power) only when the 3_YEAR test can pass
    if in_years && period >= 4 {
        let p36 = p36_cents(b, cmd.apr);
        if p36 >= i128::from(minimum) {
            return (total - 36 * p36, vec![min, three_year(p36)]);
        }
    }
    (0, vec![min])
}

/// P36 = round(B × r / (1 − (1 + r)^−36)) with r = APR / 1200 (B / 36 when
/// r = 0), in cents. Computed in `Decimal` (28 significant digits) and
/// rounded once, half up, to the cent.
pub fn p36_cents(b: i128, apr: Rate) -> i128 {
    let bal = Decimal::from_i128_with_scale(b, 2);
    let r = apr.0 / Decimal::from(1200);
    let exact = if r.is_zero() {
        bal / Decimal::from(36)
    } else {
        let growth = (Decimal::ONE + r).powi(36);
        let denom = Decimal::ONE - Decimal::ONE / growth;
        if denom.is_zero() {
            bal
        } else {
            bal * r / denom
        }
    };
    let c = exact.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    c.mantissa() * 10i128.pow(2u32.saturating_sub(c.scale())) / 10i128.pow(c.scale().saturating_sub(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_points() {
        assert_eq!(div_round(4_9975, 1000), 50);
        assert_eq!(div_round(5, 10), 1);
        assert_eq!(div_round(-5, 10), -1);
        assert_eq!(div_round(4, 10), 0);
        // 3000.00 at 19.99%: 49.975 → 49.98
        assert_eq!(div_round(300_000 * 199_900, 12_000_000), 4998);
        assert_eq!(rate_e4(Rate(Decimal::new(1499, 2))), 149_900);
        assert_eq!(div_round(149_900 * 100, 365), 41_068);
        assert_eq!(p36_cents(200_000, Rate(Decimal::new(2499, 2))), 7951);
    }

    #[test]
    fn march_2023_in_new_york() {
        let tz = chrono_tz::America::New_York;
        let start = Date::parse("2023-03-01").unwrap_or(Date(0));
        assert_eq!(day_start(tz, start).to_string(), "2023-03-01T05:00:00Z");
        assert_eq!(closing_instant(tz, start).to_string(), "2023-04-01T03:59:59.999Z");
    }
}
