//! The `activitybalances` view (source page 000, product.md §5): money in
//! and out of cardholders' accounts (GPAs and MSA ledger balances) per
//! program and reporting day, per card network, and per acting user.
//!
//! [`ActivityBalances`] is a deterministic, infallible fold over recorded
//! events (the core [`Projection`](cardledger_domain::projection::Projection)
//! trait). It stores per-day flows only, keyed by `corrected_post_date`;
//! starting and ending balances are chained at query time from the first
//! day (holders start at zero), so a backdated event restates every later
//! balance. Credit accounts are not part of this view (their balances are
//! the statements' business), and neither are holds, pending credits or
//! MSA reward (credit) balances: only ledger balances move here.
//!
//! ```
//! use cardledger_activity_balances::{ActivityBalances, ActivityAggregation};
//! let t = ActivityBalances::default().table(&["p".to_string()], ActivityAggregation::Day, None, None, &[]);
//! assert!(t.rows.is_empty());
//! ```

mod fold;
mod table;

pub use fold::{ActivityBalances, ActorDay, DayActivity, NetworkDay};
pub use table::{schema, ActivityAggregation, Network, EXPANDABLE, NETWORKS, QUERY_DAYS_MAX};
