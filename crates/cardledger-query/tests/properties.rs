#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Properties of paging, sorting and totals under random queries over the
//! sample table: pages tile the full answer, the order is the one asked for,
//! totals equal the sum of the records, conversion rounds each amount once.

use cardledger_query::fuzz::sample_table;
use cardledger_query::{pairs_from_query, parse_params, run, Principal, Rates, Value};
use proptest::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};

const SORTABLE: [&str; 6] = ["corrected_post_date", "amount_to_send", "deposit", "transactions", "program", "ratio"];
const FILTERS: [&str; 6] = [
    "",
    "&amount_to_send=<0",
    "&deposit=>=10",
    "&transactions=2..7",
    "&bank=bank_b",
    "&corrected_post_date=2019-11-02,2019-11-09",
];

fn rates() -> Rates {
    Rates::new().with("USD", "EUR", Decimal::new(91, 2))
}

/// `(total, is_more, records, totals)`.
type Page = (u64, bool, Vec<Vec<Value>>, Option<Vec<(&'static str, Value)>>);

fn records(q: &str) -> Page {
    let table = sample_table();
    let params = parse_params(&pairs_from_query(q)).unwrap();
    let a = run(&table, &params, &Principal::all(), &rates(), None).unwrap();
    (a.total(), a.is_more(), a.records().collect(), a.totals())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn pages_tile_the_full_answer(
        sort in 0..SORTABLE.len(), desc in any::<bool>(), filter in 0..FILTERS.len(),
        count in 1u32..8, eur in any::<bool>(),
    ) {
        let base = format!(
            "program=p1,p2&sort_by={}{}{}{}",
            if desc { "-" } else { "" }, SORTABLE[sort], FILTERS[filter], if eur { "&currency=EUR" } else { "" }
        );
        let (total, more, all, _) = records(&base);
        prop_assert!(!more);
        prop_assert_eq!(total as usize, all.len());
        let mut tiled = Vec::new();
        let mut start = 0u64;
        loop {
            let (t, more, page, _) = records(&format!("{base}&count={count}&start_index={start}"));
            prop_assert_eq!(t, total);
            prop_assert!(page.len() <= count as usize);
            tiled.extend(page);
            start += u64::from(count);
            prop_assert_eq!(more, start < total);
            if !more { break; }
        }
        prop_assert_eq!(&tiled, &all);

        // Sorted as asked: the key column never goes the wrong way.
        let table = sample_table();
        let col = table.column_index(SORTABLE[sort]).unwrap();
        let params = parse_params(&pairs_from_query(&base)).unwrap();
        let a = run(&table, &params, &Principal::all(), &rates(), None).unwrap();
        let fields: Vec<&str> = a.fields().collect();
        let at = fields.iter().position(|f| *f == table.columns[col].field).unwrap();
        for w in all.windows(2) {
            let (x, y) = (&w[0][at], &w[1][at]);
            let ordered = match (x, y) {
                (Value::Null, Value::Null) => true,
                (Value::Null, _) => !desc,
                (_, Value::Null) => desc,
                (Value::Amount(x), Value::Amount(y)) => if desc { x >= y } else { x <= y },
                (Value::Integer(x), Value::Integer(y)) => if desc { x >= y } else { x <= y },
                (Value::Date(x), Value::Date(y)) => if desc { x >= y } else { x <= y },
                (Value::Text(x), Value::Text(y)) => if desc { x >= y } else { x <= y },
                _ => false,
            };
            prop_assert!(ordered, "{:?} then {:?} in {}", x, y, base);
        }
    }

    #[test]
    fn totals_are_sums_of_records(filter in 0..FILTERS.len(), eur in any::<bool>(), count in 1u32..30) {
        let q = format!(
            "program=p1,p2&totals=true&fields=amount_to_send,deposit,transactions{}{}",
            FILTERS[filter], if eur { "&currency=EUR" } else { "" }
        );
        let (_, _, all, totals) = records(&q);
        let totals = totals.unwrap();
        let mut sums = [Decimal::ZERO; 2];
        let mut count_sum = 0i64;
        for r in &all {
            for (i, sum) in sums.iter_mut().enumerate() {
                if let Value::Amount(v) = r[i] {
                    prop_assert_eq!(v.round_dp(2), v, "converted amounts are at the cent");
                    *sum += v;
                }
            }
            if let Value::Integer(n) = r[2] { count_sum += n; }
        }
        prop_assert_eq!(&totals, &vec![
            ("amount_to_send", Value::Amount(sums[0])),
            ("deposit", Value::Amount(sums[1])),
            ("transactions", Value::Integer(count_sum)),
        ]);
        // Totals cover every matched row, whatever the page size.
        let (_, _, _, paged) = records(&format!("{q}&count={count}"));
        prop_assert_eq!(paged.unwrap(), totals);
    }

    #[test]
    fn conversion_rounds_each_amount_once(filter in 0..FILTERS.len()) {
        // Filters on money columns see converted amounts, so only the others
        // select the same rows in both currencies.
        prop_assume!(!FILTERS[filter].contains("amount_to_send") && !FILTERS[filter].contains("deposit"));
        let usd = records(&format!("program=p1,p2&fields=amount_to_send{}", FILTERS[filter])).2;
        let eur = records(&format!("program=p1,p2&fields=amount_to_send&currency=EUR{}", FILTERS[filter])).2;
        prop_assert_eq!(usd.len(), eur.len());
        for (u, e) in usd.iter().zip(&eur) {
            let (Value::Amount(u), Value::Amount(e)) = (&u[0], &e[0]) else { panic!("amounts") };
            let want = (u * Decimal::new(91, 2)).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
            prop_assert_eq!(*e, want);
        }
    }
}
