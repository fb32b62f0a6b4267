//! The facade over a real store: commands from many threads, reads, views,
//! statements, typed errors with stable codes, verify and rebuild.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger::{Cardledger, Error, ErrorKind, ExportFormat, Holder, Outcome, ViewKind, ViewRequest};

mod support;

fn pairs(query: &str) -> Vec<(String, String)> {
    cardledger::layers::query::pairs_from_query(query)
}

/// A ledger holding a small seeded workload (two programs, credit accounts).
fn ledger() -> (tempfile::TempDir, Cardledger) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = support::open(dir.path().join("data"));
    let cfg = cardledger_workload::WorkloadConfig { seed: 7, days: 40, holders: 20, ..Default::default() };
    let lines = cardledger_workload::generate(&cfg).map(|l| Ok(cardledger::Line::Text(l)));
    let mut out = Vec::new();
    let mut progress = 0u64;
    let tally = ledger.ingest(lines, &mut out, &mut |n| progress += n).unwrap();
    let answers = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as u64;
    assert_eq!(tally.lines, answers);
    assert_eq!(tally.lines, progress);
    assert!(tally.recorded > 1000, "{tally:?}");
    (dir, ledger)
}

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

#[test]
fn the_handle_is_shared_by_threads_and_they_share_group_commit() {
    assert_send_sync_clone::<Cardledger>();
    let dir = tempfile::tempdir().unwrap();
    let ledger = support::open(dir.path());
    for line in [
        r#"{"time": "2024-01-02T00:00:00Z", "program": {"token": "p1", "bank": "B", "currency_code": "USD"}}"#,
        r#"{"time": "2024-01-02T00:00:00Z", "funding_source": {"token": "fs1", "program_token": "p1", "type": "program", "is_default_account": true, "name": "F"}}"#,
        r#"{"time": "2024-01-02T00:00:00Z", "user": {"token": "u1", "program_token": "p1"}}"#,
    ] {
        assert!(matches!(ledger.submit_json(line).unwrap(), Outcome::Recorded { .. }));
    }
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let line = format!(
                        r#"{{"time": "2024-01-02T10:00:00Z", "gpa_order": {{"token": "o{t}_{i}", "user_token": "u1", "amount": "1.00", "currency_code": "USD"}}}}"#
                    );
                    assert!(matches!(ledger.submit_json(&line).unwrap(), Outcome::Recorded { .. }));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(ledger.head_seq(), 3 + 200);
    let balances = ledger.balances(&Holder::User("u1".into())).unwrap();
    assert_eq!(balances["gpa"]["ledger_balance"].to_string(), "200");
    // a repeat is answered as a duplicate, a bad line as a rejection
    let again = r#"{"time": "2024-01-02T10:00:00Z", "gpa_order": {"token": "o0_0", "user_token": "u1", "amount": "1.00", "currency_code": "USD"}}"#;
    assert!(matches!(ledger.submit_json(again).unwrap(), Outcome::Duplicate { .. }));
    assert!(matches!(ledger.submit_json("{").unwrap(), Outcome::Rejected(_)));
    // reopening sees everything acknowledged
    drop(ledger);
    let reopened = support::open(dir.path());
    assert_eq!(reopened.head_seq(), 203);
    assert!(reopened.verify().unwrap().ok());
}

#[test]
fn errors_carry_stable_codes_kinds_and_the_field() {
    let (_dir, ledger) = ledger();
    let e = ledger.get("gpa_order", "nope").unwrap_err();
    assert_eq!((e.code(), e.kind(), e.status()), (404001, ErrorKind::NotFound, 404));
    assert!(matches!(ledger.balances(&Holder::User("nobody".into())), Err(Error::NotFound { .. })));

    let e = ledger.list("gpa_unloads", &pairs("count=zero")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadParameter, "{e}");
    assert_eq!(e.field().as_deref(), Some("count"), "{e}");

    let e = ViewRequest::parse("programbalances", "week", &[]).map(|_| ()).unwrap_err();
    assert_eq!((e.code(), e.status()), (400002, 400));
    assert!(e.to_string().contains("time_agg"), "{e}");
    assert_eq!(e.field().as_deref(), Some("time_agg"));
    let e = ledger
        .view_json(&ViewRequest::parse("programbalances", "day", &pairs("program=prog_alpha&sort_by=colour")).unwrap())
        .unwrap_err();
    assert_eq!((e.code(), e.field().as_deref()), (400006, Some("sort_by")));

    let request = ViewRequest::parse("programbalances", "day", &pairs("program=prog_alpha")).unwrap();
    let denied = request.clone().with_principal(cardledger::principal_for(["prog_beta".to_string()]));
    let e = ledger.view_json(&denied).unwrap_err();
    assert_eq!((e.code(), e.kind()), (403003, ErrorKind::Forbidden));
    assert_eq!(e.to_json()["error_code"], 403003);
    assert_eq!(e.field().as_deref(), Some("program"));

    let e = ledger.view_bytes(&request, ExportFormat::Xlsx).unwrap_err();
    assert_eq!((e.code(), e.status()), (400012, 400));

    let e = ledger.statements("nope", &[], &[]).unwrap_err();
    assert_eq!((e.code(), e.status()), (1301, 404));
    let e = ledger.statements("ca_0001", &["x", "bogus"], &[]).unwrap_err();
    assert_eq!((e.code(), e.status(), e.field().as_deref()), (1303, 400, Some("endpoint")));
    let e = ledger.statements("ca_0001", &[], &["colour=red"]).unwrap_err();
    assert_eq!((e.code(), e.status()), (1304, 400));
}

#[test]
fn views_answer_json_csv_xlsx_exports_and_schemas() {
    let (dir, ledger) = ledger();
    assert_eq!(
        ledger.views().iter().map(|v| v.name).collect::<Vec<_>>(),
        ["programbalances", "programreservebalances", "activitybalances"]
    );
    let request = ViewRequest::parse("programbalances", "day", &pairs("program=prog_alpha&count=3")).unwrap();
    let json = ledger.view_json(&request).unwrap();
    assert_eq!(json["records"].as_array().unwrap().len(), 3);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&ledger.view_json_text(&request).unwrap()).unwrap(), json);
    let csv = String::from_utf8(ledger.view_bytes(&request, ExportFormat::Csv).unwrap()).unwrap();
    assert_eq!(csv.lines().count(), 5, "a header, three rows and the source trailer: {csv}");
    assert!(csv.lines().last().unwrap().starts_with("# cardledger as_of_seq="), "{csv}");
    assert!(csv.lines().next().unwrap().contains("ending_bank_balance"));

    let reserve =
        ViewRequest::parse("programreservebalances", "day", &pairs("program=prog_alpha&compress=zip")).unwrap();
    let xlsx = ledger.view_bytes(&reserve, ExportFormat::Xlsx).unwrap();
    assert_eq!(xlsx.get(..2), Some(&b"PK"[..]));
    let token = ledger.view_export(&reserve, ExportFormat::Csv, &dir.path().join("exports")).unwrap();
    assert!(token.token.ends_with(".csv.zip") && token.path.is_file(), "{token:?}");
    assert_eq!(ledger.exports_dir(), dir.path().join("exports"));

    let schema = ledger.view_schema(ViewKind::parse("activitybalances", "day").unwrap(), &[]).unwrap();
    assert!(schema.as_array().unwrap().iter().any(|c| c["field"] == "ending_balance"), "{schema}");

    let summary = ledger.view_summary(5).unwrap();
    assert_eq!(summary["programbalances/day"].as_array().unwrap().len(), 10, "five days of two programs");
}

#[test]
fn statements_rebuild_and_verify() {
    let (_dir, ledger) = ledger();
    let list = ledger.statements("ca_0001", &[], &["count=2"]).unwrap();
    let first = list["data"][0]["token"].as_str().expect("a statement").to_string();
    let summary = ledger.statements("ca_0001", &[&first], &[]).unwrap();
    assert_eq!(summary["token"], first.as_str());
    assert!(ledger.statements("ca_0001", &[&first, "paymentinfo"], &[]).is_ok());
    assert!(ledger.statements("ca_0001", &["delinquencystate"], &[]).is_ok());
    let counts = ledger.statement_counts().unwrap();
    assert!(counts["statements"].as_u64().unwrap() >= 1, "{counts}");

    let before =
        ledger.view_json(&ViewRequest::parse("activitybalances", "day", &pairs("program=prog_beta")).unwrap()).unwrap();
    let rebuilt = ledger.rebuild().unwrap();
    assert_eq!(rebuilt.events, ledger.head_seq());
    assert_eq!(rebuilt.by_kind.values().sum::<u64>(), ledger.head_seq());
    assert_eq!(rebuilt.statements, counts);
    let after =
        ledger.view_json(&ViewRequest::parse("activitybalances", "day", &pairs("program=prog_beta")).unwrap()).unwrap();
    assert_eq!(before, after);
    let v = ledger.verify().unwrap();
    assert!(v.ok() && v.statements && v.projections.len() == 5, "{v:?}");
}

#[test]
fn charts_are_written_per_program() {
    let (dir, ledger) = ledger();
    let files = ledger.write_charts(&dir.path().join("charts")).unwrap();
    assert_eq!(files.len(), 2);
    let chart = ledger.program_chart("prog_alpha").unwrap();
    assert_eq!(chart.series.len(), 2, "alpha has a reserve policy");
    assert_eq!(chart.y_label, "USD");
    let e = ledger.program_chart("nope").unwrap_err();
    assert_eq!(e.status(), 404);
}
