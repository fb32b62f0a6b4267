//! The fuzz body: arbitrary bytes as a query string, parsed and run against
//! a small fixed table, then rendered. A cargo-fuzz target calls
//! [`fuzz_params`]; a stable test runs it over a seeded corpus.

use std::collections::BTreeSet;

use cardledger_domain::time::{Date, Timestamp};
use rust_decimal::Decimal;

use crate::access::Principal;
use crate::answer::run;
use crate::params::{pairs_from_query, parse_params};
use crate::rates::Rates;
use crate::table::{Column, ColumnType, Table, Units, Value};

/// Parses `data` as `k=v&k=v`, runs it over [`sample_table`] for two
/// principals (everything; one program and no `deposit`) with a USD→EUR
/// rate, and renders JSON and CSV. Must never panic; any error is a typed
/// `QueryError` whose code is 400xxx or 403xxx.
pub fn fuzz_params(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let pairs = pairs_from_query(&text);
    let Ok(params) = parse_params(&pairs) else { return };
    let table = sample_table();
    let rates = Rates::new().with("USD", "EUR", Decimal::new(91, 2));
    let limited = Principal {
        programs: Some(BTreeSet::from(["p1".to_string()])),
        denied_fields: BTreeSet::from(["deposit".to_string()]),
    };
    for principal in [Principal::all(), limited] {
        match run(&table, &params, &principal, &rates, Some(Timestamp(0))) {
            Ok(answer) => {
                let _ = answer.to_json();
                let _ = answer.write_csv(std::io::sink());
            }
            Err(e) => assert!(matches!(e.code() / 1000, 400 | 403), "unexpected error class: {e}"),
        }
    }
}

/// A small program-balances-like table: two programs, ten days, every column
/// type, one filter-only column and a null.
pub fn sample_table() -> Table {
    let columns = vec![
        Column::new("program", ColumnType::Varchar(128), "Program"),
        Column::new("corrected_post_date", ColumnType::Date, "Corrected Post Date"),
        Column::amount("amount_to_send", "Amount To Send"),
        Column::amount("deposit", "Deposit"),
        Column::new("transactions", ColumnType::Integer, "Transactions").total(true),
        Column::new("currency", ColumnType::Varchar(10), "Currency"),
        Column::new("last_modified_time", ColumnType::Timestamp, "Last Modified Time"),
        Column::new("bank", ColumnType::Varchar(128), "Bank").filter_only(),
        Column::new("ratio", ColumnType::Numeric { precision: 10, scale: 4 }, "Ratio").units(Units::None),
    ];
    let mut table = Table::new(columns, "corrected_post_date");
    table.program_field = Some("program");
    table.currency_field = Some("currency");
    table.programs = BTreeSet::from(["p1".to_string(), "p2".to_string(), "p3".to_string()]);
    let first = Date::parse("2019-11-01").map_or(0, |d| d.0);
    for day in 0..10i32 {
        for (p, sign) in [("p1", -1i64), ("p2", 1)] {
            let d = Date(first + day);
            table.rows.push(vec![
                Value::Text(p.into()),
                Value::Date(d),
                Value::Amount(Decimal::new(sign * (100_000 + i64::from(day) * 12_345), 2)),
                if day == 3 { Value::Null } else { Value::Amount(Decimal::new(i64::from(day) * 500, 2)) },
                Value::Integer(i64::from(day)),
                Value::Text("USD".into()),
                Value::Timestamp(Timestamp(1_572_566_400_000_000 + i64::from(day) * 86_400_000_000)),
                Value::Text(if day % 2 == 0 { "bank_a" } else { "bank_b" }.into()),
                Value::Amount(Decimal::new(i64::from(day) * 1_234, 4)),
            ]);
        }
    }
    table
}
