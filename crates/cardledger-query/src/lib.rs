//! cardledger-query: the view-agnostic query layer. A view (a projection
//! crate) builds a [`Table`] — ordered, typed columns and rows of
//! [`Value`]s — and this crate does everything the source pages call
//! "response customization": schema objects, `fields`, column filters,
//! `start_date` / `end_date`, `sort_by`, `count` / `start_index` paging,
//! totals, currency conversion, access scoping, the JSON envelope, CSV and
//! XLSX output, and gz / zip exports named by a token.
//!
//! It deliberately knows no view: no event, no projection, no storage, no
//! clock (`last_run_time` is an argument). Every bad input is a
//! [`QueryError`] with a stable code; nothing here panics on any input.
//!
//! ```
//! use cardledger_query::{parse_params, run, Column, ColumnType, Principal, Rates, Table, Value};
//! use cardledger_domain::time::Date;
//! use rust_decimal::Decimal;
//!
//! let mut table = Table::new(
//!     vec![
//!         Column::new("corrected_post_date", ColumnType::Date, "Corrected Post Date"),
//!         Column::amount("amount_to_send", "Amount To Send"),
//!     ],
//!     "corrected_post_date",
//! );
//! table.programs.insert("my_program".into());
//! table.rows.push(vec![Value::Date(Date::parse("2019-11-19").unwrap()), Value::Amount(Decimal::new(-150780727, 2))]);
//! let pairs = vec![("program".to_string(), "my_program".to_string())];
//! let params = parse_params(&pairs).unwrap();
//! let answer = run(&table, &params, &Principal::all(), &Rates::new(), None).unwrap();
//! let json = answer.to_json();
//! assert_eq!(json["records"][0]["corrected_post_date"], "2019-11-19T00:00:00.000Z");
//! assert_eq!(json["records"][0]["amount_to_send"].to_string(), "-1507807.27");
//! ```

pub mod access;
pub mod answer;
pub mod error;
pub mod export;
pub mod fuzz;
pub mod params;
pub mod rates;
mod render;
pub mod report;
pub mod table;
mod text;
mod xlsx;

pub use access::{check_access, Principal};
pub use answer::{run, schema, Answer, Source};
pub use error::QueryError;
pub use export::{export, ExportToken};
pub use fuzz::fuzz_params;
pub use params::{pairs_from_query, parse_params, Compression, ExportFormat, Filter, FilterOp, Params, Sort};
pub use rates::Rates;
pub use table::{Column, ColumnType, Table, Units, Value};
