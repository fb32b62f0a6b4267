//! The `programbalances` view (source page 001, product.md §5): the program
//! bank account's flows per reporting day, and its beginning and ending
//! balances.
//!
//! [`ProgramBalances`] is a deterministic, infallible fold over recorded
//! events (the core [`Projection`](cardledger_domain::projection::Projection) trait). It stores **only per-day flows**
//! keyed by `corrected_post_date` (the event's correction when it has one,
//! else its business time's day in the program's reporting zone) plus each
//! program's opening balance. Balances are derived when a query runs by
//! chaining days from the program's first day, so a backdated event restates
//! its day and every later balance without touching any stored balance.
//!
//! Signs are the program bank's: loads paid by the bank are negative,
//! unloads back into it positive. It is not a general ledger: it sees only
//! the money that moves through a program's bank account.
//!
//! ```
//! use cardledger_program_balances::ProgramBalances;
//! let view = ProgramBalances::default();
//! assert!(view.day_rows("prog", None, None).is_empty()); // unknown program: no rows
//! ```

mod fold;
mod rows;
mod table;

pub use fold::{DayFlows, ProgramBalances, ProgramInfo};
pub use rows::BalanceRow;
pub use table::{schema, ProgramAggregation};
