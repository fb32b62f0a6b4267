//! Every list against a naive model on a generated workload: a filtered
//! list equals the unfiltered one narrowed by the records' own fields, and
//! paging walks the whole list exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use cardledger_core::engine::Engine;
use cardledger_core::ingest::ingest_chunk;
use cardledger_core::reads::{ReadError, LIST_KINDS};
use serde_json::Value;

fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Every record of a kind, oldest first, by paging through it.
fn all(engine: &Engine, kind: &str, extra: &[(&str, &str)]) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let start = out.len().to_string();
        let mut p = vec![("count", "100"), ("start_index", start.as_str()), ("sort_by", "createdTime")];
        p.extend_from_slice(extra);
        let page = engine.list(kind, &params(&p)).unwrap();
        let data = page["data"].as_array().unwrap();
        assert_eq!(page["count"].as_u64(), Some(data.len() as u64));
        out.extend(data.iter().cloned());
        if page["is_more"] == false {
            break;
        }
        assert!(!data.is_empty(), "{kind}: is_more with an empty page");
    }
    out
}

#[test]
fn filtered_lists_equal_the_model_and_pages_cover_each_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    let cfg = cardledger_workload::WorkloadConfig { days: 4, holders: 12, ..Default::default() };
    let lines: Vec<String> = cardledger_workload::generate(&cfg).collect();
    ingest_chunk(&engine, &lines, 1).unwrap();

    let mut listed = 0;
    for spec in LIST_KINDS {
        let records = all(&engine, spec.name, &[]);
        listed += records.len();
        // each record once, and the index knows exactly these tokens
        let mut tokens: Vec<&str> = records.iter().map(|r| r["token"].as_str().unwrap()).collect();
        let n = tokens.len();
        tokens.sort_unstable();
        tokens.dedup();
        assert_eq!(tokens.len(), n, "{}: a record listed twice", spec.name);
        // newest first by default: the reverse of creation order
        let newest = engine.list(spec.name, &params(&[("count", "100"), ("sort_by", "-createdTime")])).unwrap();
        let first_page: Vec<&Value> = records.iter().rev().take(100).collect();
        assert_eq!(newest["data"].as_array().unwrap().iter().collect::<Vec<_>>(), first_page, "{}", spec.name);
        // the filters a record renders: narrowing the list by its own field is the filter
        for filter in spec.filters {
            // (funding source tokens render masked: nothing to compare with)
            let mut values: Vec<&str> =
                records.iter().filter_map(|r| r[*filter].as_str()).filter(|v| !v.starts_with('*')).collect();
            values.sort_unstable();
            values.dedup();
            for v in values.iter().take(5) {
                let want: Vec<&Value> = records.iter().filter(|r| r[*filter].as_str() == Some(v)).collect();
                let got = all(&engine, spec.name, &[(filter, v)]);
                assert_eq!(got.iter().collect::<Vec<_>>(), want, "{} {filter}={v}", spec.name);
            }
            let none = all(&engine, spec.name, &[(filter, "no-such-token")]);
            assert!(none.is_empty(), "{} {filter}", spec.name);
        }
        // a parameter the kind does not take is refused, naming it
        match engine.list(spec.name, &params(&[("bogus_token", "x")])) {
            Err(ReadError::Rejected(r)) => assert_eq!(r.field, "bogus_token"),
            other => panic!("{}: {other:?}", spec.name),
        }
    }
    assert!(listed > 100, "the workload lists records of many kinds ({listed})");
}
