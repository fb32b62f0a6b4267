//! The `programreservebalances` view (source page 002, product.md §5): for
//! every program with a reserve policy, each day's amount to send and
//! ending bank balance against the reserve requirement, and what is owed
//! when the balance falls short.
//!
//! [`ReserveBalances`] is a fold over recorded events (the core
//! [`Projection`] trait). Its state is the program-balances fold's (the
//! per-day bank flows and each program's policy), kept for the reserve
//! programs only (the flows of other programs are skipped, not folded
//! twice); every reserve column is
//! derived at query time from those flows, so a backdated event restates
//! the requirement of every day whose window it falls in. It is not a
//! policy engine: it reports, it never moves money.
//!
//! Numeric rule, in integer cents (exact): outflow(d) = max(0,
//! −amount_to_send(d)); S(d) = Σ outflow over the `window_days` days ending
//! with d; `reserve_avg_week_amount` = round(S / window_days);
//! `reserve_days_amount` = round(days × S / window_days), from the exact
//! sum and rounded once, half up (half away from zero; the values are never
//! negative); `reserve_requirement_amount` = max(minimum, days amount);
//! `reserve_owed_amount` = max(0, requirement − ending_bank_balance).
//!
//! ```
//! use cardledger_reserve_balances::ReserveBalances;
//! assert!(ReserveBalances::default().day_rows("prog", None, None).is_empty());
//! ```

use cardledger_calendar::day_of_week;
use cardledger_domain::command::Currency;
use cardledger_domain::event::Recorded;
use cardledger_domain::projection::Projection;
use cardledger_domain::time::{Date, Timestamp};
use cardledger_program_balances::ProgramBalances;
use cardledger_query::{Column, ColumnType, Table, Value};
use rust_decimal::Decimal;

/// Checkpoint format version: the first byte of [`ReserveBalances::encode`].
const FORMAT_VERSION: u8 = 1;

/// The reserve view's projection.
#[derive(Clone, Debug, Default)]
pub struct ReserveBalances {
    flows: ProgramBalances,
}

/// One day of one reserve program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReserveRow<'a> {
    /// Program token.
    pub program: &'a str,
    /// Bank name.
    pub bank: &'a str,
    /// The reporting day.
    pub post_date: Date,
    /// English weekday name ("Monday").
    pub day_of_week: &'static str,
    /// The program's currency.
    pub currency: Currency,
    /// Net flows of the day, in cents (see the program-balances view).
    pub amount_to_send_cents: i64,
    /// Bank balance at the end of the day, in cents.
    pub ending_cents: i64,
    /// The policy's text ("3 days or $50K").
    pub description: &'a str,
    /// The policy's minimum, in cents.
    pub minimum_cents: i64,
    /// round(S / window_days), in cents.
    pub avg_week_cents: i64,
    /// round(days × S / window_days), in cents.
    pub days_cents: i64,
    /// max(minimum, days amount), in cents.
    pub requirement_cents: i64,
    /// max(0, requirement − ending), in cents.
    pub owed_cents: i64,
    /// Latest business time the row depends on.
    pub last_modified: Timestamp,
}

impl ReserveBalances {
    /// The underlying program-balances state: every program and policy,
    /// and the flows of the reserve programs (programs without a reserve
    /// policy have no days here; see
    /// [`ProgramBalances::apply_reserve_programs`]).
    pub fn flows(&self) -> &ProgramBalances {
        &self.flows
    }

    /// Daily rows of a reserve program from `start` to `end` (oldest first);
    /// none for a program without a reserve policy. The window, quiet days
    /// and defaults are the program-balances view's.
    pub fn day_rows<'a>(&'a self, program: &str, start: Option<Date>, end: Option<Date>) -> Vec<ReserveRow<'a>> {
        let Some((program, info)) = self.flows.programs().get_key_value(program) else { return Vec::new() };
        let Some(policy) = &info.reserve else { return Vec::new() };
        let window = i64::from(policy.window_days.max(1));
        // the window reaches back window − 1 days before the first row shown
        let lead = start.map(|s| Date(s.0.saturating_sub(i32::try_from(window - 1).unwrap_or(0))));
        let days = self.flows.day_rows(program, lead, end);
        let outflows: Vec<i64> = days.iter().map(|r| r.flows.amount_to_send().min(0).saturating_neg()).collect();
        let minimum = policy.minimum_amount.cents();
        let mut rows = Vec::new();
        let mut sum: i64 = 0;
        for (i, day) in days.iter().enumerate() {
            sum = sum.saturating_add(outflows.get(i).copied().unwrap_or(0));
            if let Some(old) = i.checked_sub(usize::try_from(window).unwrap_or(usize::MAX)) {
                sum = sum.saturating_sub(outflows.get(old).copied().unwrap_or(0));
            }
            if start.is_some_and(|s| day.corrected_post_date < s) {
                continue;
            }
            let days_cents = round_div(i128::from(policy.days) * i128::from(sum), i128::from(window));
            let requirement = minimum.max(days_cents);
            rows.push(ReserveRow {
                program,
                bank: &info.bank,
                post_date: day.corrected_post_date,
                day_of_week: day_of_week(day.corrected_post_date),
                currency: info.currency,
                amount_to_send_cents: day.flows.amount_to_send(),
                ending_cents: day.ending_cents,
                description: &policy.description,
                minimum_cents: minimum,
                avg_week_cents: round_div(i128::from(sum), i128::from(window)),
                days_cents,
                requirement_cents: requirement,
                owed_cents: requirement.saturating_sub(day.ending_cents).max(0),
                last_modified: day.last_modified,
            });
        }
        rows
    }

    /// The rows of `programs` (programs without a reserve policy have none)
    /// from `start` to `end` as a query-layer table keyed by `post_date`.
    /// The view has one aggregation, `day`; `expand` is ignored.
    pub fn table(&self, programs: &[String], start: Option<Date>, end: Option<Date>, _expand: &[String]) -> Table {
        let mut table = Table::new(schema(), "post_date");
        table.program_field = Some("program");
        table.currency_field = Some("currency");
        table.currency_code_field = Some("currency_code");
        table.programs =
            self.flows.programs().iter().filter(|(_, p)| p.reserve.is_some()).map(|(t, _)| t.clone()).collect();
        for program in programs {
            table.rows.extend(self.day_rows(program, start, end).iter().map(cells));
        }
        table
    }
}

/// The view's columns in schema order: source page 002's schema response
/// (names, types, displays; the page gives no descriptions).
const COLUMNS: [Column; 15] = [
    Column::new("program", ColumnType::Varchar(128), "Program"),
    Column::new("bank", ColumnType::Varchar(128), "Bank"),
    Column::new("post_date", ColumnType::Date, "Post Date"),
    Column::new("day_of_week", ColumnType::Varchar(10), "Day Of Week"),
    Column::new("currency", ColumnType::Varchar(10), "Currency"),
    Column::new("currency_code", ColumnType::Integer, "Currency Code"),
    Column::amount("amount_to_send", "Amount To Send"),
    Column::amount("ending_bank_balance", "Ending Bank Balance"),
    Column::new("reserve_requirement_description", ColumnType::Varchar(64), "Reserve Requirement Description"),
    Column::amount("reserve_minimum_amount", "Reserve Minimum Amount").total(false),
    Column::amount("reserve_avg_week_amount", "Reserve Avg Week Amount").total(false),
    Column::amount("reserve_days_amount", "Reserve Days Amount").total(false),
    Column::amount("reserve_requirement_amount", "Reserve Requirement Amount").total(false),
    Column::amount("reserve_owed_amount", "Reserve Owed Amount").total(false),
    Column::new("last_modified_time", ColumnType::Timestamp, "Last Modified Time"),
];

/// The view's schema (aggregation `day`).
pub fn schema() -> Vec<Column> {
    COLUMNS.to_vec()
}

/// Whether a time aggregation exists for this view (only `day`).
pub fn is_aggregation(text: &str) -> bool {
    text == "day"
}

impl Projection for ReserveBalances {
    const NAME: &'static str = "view.programreservebalances.v1";

    fn apply(&mut self, rec: &Recorded) {
        // the flows of programs without a reserve policy are never shown here
        self.flows.apply_reserve_programs(rec);
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT_VERSION];
        out.extend(self.flows.encode());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (&version, body) = bytes.split_first()?;
        if version != FORMAT_VERSION {
            return None;
        }
        ProgramBalances::decode(body).map(|flows| ReserveBalances { flows })
    }
}

/// `n / d` rounded half away from zero, for `d > 0`; saturates to i64.
fn round_div(n: i128, d: i128) -> i64 {
    let q = (n.abs() * 2 + d) / (2 * d);
    let q = if n < 0 { -q } else { q };
    i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX })
}

fn amount(cents: i64) -> Value {
    Value::Amount(Decimal::new(cents, 2))
}

fn cells(r: &ReserveRow<'_>) -> Vec<Value> {
    vec![
        Value::Text(r.program.to_string()),
        Value::Text(r.bank.to_string()),
        Value::Date(r.post_date),
        Value::Text(r.day_of_week.to_string()),
        Value::Text(r.currency.alpha().to_string()),
        Value::Integer(r.currency.numeric().parse().unwrap_or(0)),
        amount(r.amount_to_send_cents),
        amount(r.ending_cents),
        Value::Text(r.description.to_string()),
        amount(r.minimum_cents),
        amount(r.avg_week_cents),
        amount(r.days_cents),
        amount(r.requirement_cents),
        amount(r.owed_cents),
        Value::Timestamp(r.last_modified),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero_once() {
        for (n, d, want) in [(7, 7, 1), (3, 2, 2), (5, 2, 3), (4, 3, 1), (5, 3, 2), (-3, 2, -2), (0, 7, 0), (1, 3, 0)] {
            assert_eq!(round_div(n, d), want, "{n}/{d}");
        }
        // 3 × 7,705,026.04 / 7 = 3,302,154.0171… → 3,302,154.02 (page 002)
        assert_eq!(round_div(3 * 770_502_604, 7), 330_215_402);
    }

    #[test]
    fn unknown_checkpoint_versions_are_refused() {
        let v = ReserveBalances::default();
        let bytes = v.encode();
        assert!(ReserveBalances::decode(&bytes).is_some());
        assert!(ReserveBalances::decode(&[]).is_none());
        let mut other = bytes.clone();
        if let Some(b) = other.first_mut() {
            *b = 7;
        }
        assert!(ReserveBalances::decode(&other).is_none());
    }
}
