//! The view's schema and its rows as a query-layer [`Table`].

use cardledger_domain::time::Date;
use cardledger_query::{Column, ColumnType, Table, Value};
use rust_decimal::Decimal;

use crate::fold::ProgramBalances;
use crate::rows::BalanceRow;

/// The view's time aggregations (`/views/programbalances/{time_agg}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramAggregation {
    /// One row per reporting day.
    Day,
    /// One row per calendar month.
    Month,
}

impl ProgramAggregation {
    /// Parses the path segment (`day`, `month`).
    pub fn parse(text: &str) -> Option<ProgramAggregation> {
        match text {
            "day" => Some(ProgramAggregation::Day),
            "month" => Some(ProgramAggregation::Month),
            _ => None,
        }
    }

    /// Every allowed value, for error messages.
    pub const ALLOWED: &'static str = "day, month";
}

const CORRECTED_POST_DATE: &str = "A transaction date that accounts for potential adjustments, allowing balances to be calculated across a single date range. For most cases, Corrected Post Date and Post Date are identical. When different, Corrected Post Date represents the correct reporting date, and Post Date represents when the transaction was posted to the Marqeta ledger.";

/// The columns, in schema order. Names, types, displays and descriptions
/// are source page 001's where it shows them (including its `#N/A`
/// descriptions); the six flow columns and `bank` / `post_date` are
/// product.md §5's.
const COLUMNS: [Column; 15] = [
    Column::new("program", ColumnType::Varchar(128), "Program").description("The name of the card program."),
    Column::new("bank", ColumnType::Varchar(128), "Bank").description("The program's bank."),
    Column::new("post_date", ColumnType::Date, "Post Date")
        .description("The day the row's transactions are reported on (rows are aggregated by corrected post date)."),
    Column::new("corrected_post_date", ColumnType::Date, "Corrected Post Date").description(CORRECTED_POST_DATE),
    Column::amount("partner_funds_loads", "Partner Funds Loads")
        .description("Loads funded by a program funding source, from the bank's side (negative)."),
    Column::amount("partner_funds_unloads", "Partner Funds Unloads")
        .description("Unloads of partner-funded orders back to the bank (positive)."),
    Column::amount("partner_funds_adjustments", "Partner Funds Adjustments")
        .description("Adjustment journal entries on accounts of a program without JIT funding (credit negative, debit positive)."),
    Column::amount("jit_loads", "JIT Loads").description("Just-in-time funding paid by the bank (negative)."),
    Column::amount("jit_unloads", "JIT Unloads").description("Just-in-time funding returned to the bank (positive)."),
    Column::amount("jit_adjustments", "JIT Adjustments")
        .description("Adjustment journal entries on accounts of a JIT-funded program (credit negative, debit positive)."),
    Column::amount("amount_to_send", "Amount To Send").description("The net amount of partner funds and JIT Funding loads: (Partner Funds Loads + Partner Funds Unloads + Partner Funds Adjustments) + (JIT Loads + JIT Unloads + JIT Adjustments)"),
    Column::amount("deposit", "Deposit").description("#N/A"),
    Column::amount("beginning_bank_balance", "Beginning Bank Balance").description("#N/A"),
    Column::amount("ending_bank_balance", "Ending Bank Balance").description(""),
    Column::new("last_modified_time", ColumnType::Timestamp, "Last Modified Time")
        .description("The date when the record was most recently updated."),
];

/// The view's schema (the same for `day` and `month`).
pub fn schema() -> Vec<Column> {
    COLUMNS.to_vec()
}

impl ProgramBalances {
    /// The rows of `programs` (unknown ones have none) at `aggregation`,
    /// from `start` to `end`, as a query-layer table keyed by
    /// `corrected_post_date`. `expand` has no meaning for this view and is
    /// ignored. Amounts are exact cents; nothing is rounded.
    pub fn table(
        &self,
        programs: &[String],
        aggregation: ProgramAggregation,
        start: Option<Date>,
        end: Option<Date>,
        _expand: &[String],
    ) -> Table {
        let mut table = Table::new(schema(), "corrected_post_date");
        table.program_field = Some("program");
        table.programs = self.programs().keys().cloned().collect();
        for program in programs {
            let rows = match aggregation {
                ProgramAggregation::Day => self.day_rows(program, start, end),
                ProgramAggregation::Month => self.month_rows(program, start, end),
            };
            table.rows.extend(rows.iter().map(cells));
        }
        table
    }
}

/// Money in cents as an exact two-place amount.
pub(crate) fn amount(cents: i64) -> Value {
    Value::Amount(Decimal::new(cents, 2))
}

fn cells(r: &BalanceRow<'_>) -> Vec<Value> {
    let f = &r.flows;
    vec![
        Value::Text(r.program.to_string()),
        Value::Text(r.bank.to_string()),
        Value::Date(r.corrected_post_date),
        Value::Date(r.corrected_post_date),
        amount(f.partner_funds_loads),
        amount(f.partner_funds_unloads),
        amount(f.partner_funds_adjustments),
        amount(f.jit_loads),
        amount(f.jit_unloads),
        amount(f.jit_adjustments),
        amount(f.amount_to_send()),
        amount(f.deposit),
        amount(r.beginning_cents),
        amount(r.ending_cents),
        Value::Timestamp(r.last_modified),
    ]
}
