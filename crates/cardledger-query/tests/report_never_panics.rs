//! `read_report` reads files a user hands over: whatever the bytes, it
//! answers a report or a `ReportError`, never a panic; and a report it
//! wrote reads back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger_query::report::{csv_trailer, first_difference, read_report};
use cardledger_query::Source;
use proptest::prelude::*;

fn csv_report() -> Vec<u8> {
    let src = Source {
        seq: 7,
        hash: "ab".repeat(32),
        query: Source::query_text("v", "day", &[("program".into(), "p 1&x".into())]),
    };
    format!("a,b\n1,\"x,y\"\n2,z\n{}\n", csv_trailer(&src)).into_bytes()
}

#[test]
fn a_csv_report_reads_back_with_its_source() {
    let r = read_report(&csv_report()).unwrap();
    assert_eq!((r.source.seq, r.source.query.as_str()), (7, "v/day?program=p%201%26x"));
    assert_eq!(r.header, vec!["a", "b"]);
    assert_eq!(r.rows, vec![vec!["1", "x,y"], vec!["2", "z"]]);
    assert_eq!(first_difference(&r, &r), None);
    assert_eq!(
        cardledger_query::pairs_from_query("program=p%201%26x"),
        vec![("program".to_string(), "p 1&x".to_string())]
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_report(&bytes);
    }

    #[test]
    fn damaged_reports_never_panic(at in 0usize..200, with in any::<u8>(), cut in 0usize..200) {
        let mut b = csv_report();
        let i = at % b.len();
        b[i] = with;
        b.truncate(cut.max(1).min(b.len()));
        let _ = read_report(&b);
        let mut j = br#"{"as_of_seq": 3, "as_of_hash": "h", "query": "v/a", "records": [{"a": 1}, {"a": 2}]}"#.to_vec();
        let k = at % j.len();
        j[k] = with;
        let _ = read_report(&j);
    }
}
