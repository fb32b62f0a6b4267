//! The `cardledger` binary driven as a user would: bad input through
//! `ingest`, the read commands, `log`, `verify` and the demo.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::process::{Command, Stdio};

use serde_json::Value;

mod support;
use support::{json_lines, run_input};

const SETUP: &str = r#"{"time":"2017-03-31T19:13:23Z","program":{"token":"my_program","bank":"Sutton Bank","currency_code":"USD","opening_bank_balance":"100000.00"}}
{"time":"2017-03-31T19:13:23Z","funding_source":{"token":"my_program_funding_source_01","program_token":"my_program","type":"program","is_default_account":false,"active":true,"name":"my_program_funding_source_01"}}
{"time":"2017-03-31T19:13:23Z","user":{"token":"my_user_01","program_token":"my_program"}}
"#;

/// Each bad line, the code it must get, and the field its message must name.
const BAD: &[(&str, u16, &str)] = &[
    (r#"{"gpa_order": {"token": "x""#, 1001, "malformed JSON"),
    (r#"{"gpa_orderz": {"token": "x"}}"#, 1003, "gpa_orderz"),
    (
        r#"{"user": {"token":"u2","program_token":"my_program"}, "business": {"token":"b2","program_token":"my_program"}}"#,
        1004,
        "business",
    ),
    (r#"{"gpa_order": {"token":"g1","user_token":"my_user_01","currency_code":"USD"}}"#, 1006, "gpa_order.amount"),
    (
        r#"{"gpa_order": {"token":"g1","user_token":"my_user_01","amount":true,"currency_code":"USD"}}"#,
        1007,
        "gpa_order.amount",
    ),
    (
        r#"{"gpa_order": {"token":"g1","user_token":"my_user_01","amount":-5,"currency_code":"USD"}}"#,
        1101,
        "gpa_order.amount",
    ),
    (
        r#"{"gpa_order": {"token":"g1","user_token":"my_user_01","amount":0,"currency_code":"USD"}}"#,
        1101,
        "gpa_order.amount",
    ),
    (
        r#"{"gpa_order": {"token":"g1","user_token":"my_user_01","amount":"10.005","currency_code":"USD"}}"#,
        1102,
        "gpa_order.amount",
    ),
    (
        r#"{"gpa_order": {"token":"g1","user_token":"my_user_01","amount":"1000000000000","currency_code":"USD"}}"#,
        1103,
        "gpa_order.amount",
    ),
    (
        r#"{"gpa_order": {"token":"0123456789012345678901234567890123456","user_token":"my_user_01","amount":5,"currency_code":"USD"}}"#,
        1104,
        "gpa_order.token",
    ),
    (
        r#"{"gpa_order": {"token":"g1","user_token":"nobody","amount":5,"currency_code":"USD"}}"#,
        1201,
        "gpa_order.user_token",
    ),
    (
        r#"{"gpa_order": {"token":"g1","user_token":"my_user_01","amount":5,"currency_code":"USD","funding_source_token":"nope"}}"#,
        1201,
        "gpa_order.funding_source_token",
    ),
    (
        r#"{"gpa_unload": {"token":"u1","original_order_token":"nope","amount":5}}"#,
        1201,
        "gpa_unload.original_order_token",
    ),
];

#[test]
fn bad_input_is_answered_line_by_line_and_the_rest_is_processed() {
    let dir = tempfile::tempdir().unwrap();
    let mut input = SETUP.to_string();
    for (line, _, _) in BAD {
        input.push_str(line);
        input.push('\n');
        // a valid line after every bad one: it must still be recorded
        input.push_str(r#"{"program_deposit": {"program_token":"my_program","amount":"1.00","currency_code":"USD"}}"#);
        input.push('\n');
    }
    let out = run_input(dir.path(), &["ingest", "-"], Some(&input));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answers = json_lines(&out);
    assert_eq!(answers.len(), 3 + 2 * BAD.len());
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a["line"], (i + 1) as u64, "answers keep input order");
    }
    let mut seq = 3;
    for (k, (line, code, field)) in BAD.iter().enumerate() {
        let bad = &answers[3 + 2 * k];
        assert_eq!(bad["error_code"], *code, "{line}: {bad}");
        let msg = bad["error_message"].as_str().unwrap();
        assert!(msg.contains(field), "{line}: message {msg:?} names {field}");
        let good = &answers[4 + 2 * k];
        seq += 1;
        assert_eq!(good["seq"], seq, "{good}");
        assert_eq!(good["command"], "program_deposit");
    }
    let verify = run_input(dir.path(), &["verify"], None);
    assert!(verify.status.success());
    let v: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["records"], seq);
}

#[test]
fn source_page_gpa_order_and_unload_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!(
        "{SETUP}{}\n{}\n{}\n",
        r#"{"time":"2017-05-10T23:00:15Z","gpa_order":{"token":"my_gpaorder_01","user_token":"my_user_01","amount":"1000","currency_code":"USD","funding_source_token":"my_program_funding_source_01"}}"#,
        r#"{"time":"2017-05-10T23:14:50Z","gpa_unload":{"token":"my_unload_01","original_order_token":"my_gpaorder_01","amount":500}}"#,
        r#"{"time":"2017-05-10T23:14:50Z","gpa_unload":{"token":"my_unload_01","original_order_token":"my_gpaorder_01","amount":500}}"#,
    );
    let out = run_input(dir.path(), &["ingest"], Some(&input));
    let answers = json_lines(&out);
    let order = &answers[3];
    assert_eq!(order["seq"], 4);
    assert_eq!(order["token"], "my_gpaorder_01");
    let r = &order["response"];
    assert_eq!(r["amount"], 1000);
    assert_eq!(r["state"], "COMPLETION");
    assert_eq!(r["response"]["code"], "0000");
    assert_eq!(r["funding_source_token"], "**********e_01");
    assert_eq!(r["funding"]["source"]["token"], "**********e_01");
    assert_eq!(r["funding"]["source"]["created_time"], "2017-03-31T19:13:23Z");
    assert_eq!(r["created_time"], "2017-05-10T23:00:15Z");
    assert_eq!(r["transaction_token"], "4");
    assert_eq!(answers[4]["response"]["amount"], 500);
    assert_eq!(answers[5]["duplicate"], true);
    assert_eq!(answers[5]["seq"], 5);

    let get = run_input(dir.path(), &["get", "gpa_unload", "my_unload_01"], None);
    let v: Value = serde_json::from_slice(&get.stdout).unwrap();
    assert_eq!(v["original_order_token"], "my_gpaorder_01");
    let list = run_input(dir.path(), &["list", "gpa_unloads", "user_token=my_user_01"], None);
    let v: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(
        (v["count"].as_u64(), v["start_index"].as_u64(), v["end_index"].as_u64(), v["is_more"].as_bool()),
        (Some(1), Some(0), Some(0), Some(false))
    );
    let bal = run_input(dir.path(), &["balances", "my_user_01"], None);
    let v: Value = serde_json::from_slice(&bal.stdout).unwrap();
    assert_eq!(v["gpa"]["ledger_balance"], 500);
    assert_eq!(v["gpa"]["available_balance"], 500);
    let missing = run_input(dir.path(), &["get", "gpa_order", "nope"], None);
    assert_eq!(missing.status.code(), Some(3));

    let log = run_input(dir.path(), &["log", "--from", "4", "--count", "1"], None);
    let lines = json_lines(&log);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["seq"], 4);
    assert_eq!(lines[0]["time"], "2017-05-10T23:00:15Z");
    assert_eq!(lines[0]["hash"].as_str().map(str::len), Some(64));
    assert_eq!(lines[0]["event"]["gpa_order"]["token"], "my_gpaorder_01");
}

#[test]
fn verify_names_the_first_bad_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_input(dir.path(), &["ingest"], Some(SETUP));
    assert!(out.status.success());
    {
        let engine = cardledger_core::engine::Engine::open(dir.path()).unwrap();
        engine.store().debug_corrupt_record(2, 30, 0x5a).unwrap();
    }
    let verify = run_input(dir.path(), &["verify"], None);
    assert_eq!(verify.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_bad_seq"], 2, "{v}");
}

#[test]
fn demo_runs_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = run_input(&data, &["demo", "--days", "3", "--holders", "20"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rejected"], 0, "the demo workload is valid");
    assert_eq!(v["verify"]["ok"], true);
    assert_eq!(v["sum_of_all_accounts"], 0);
    assert!(v["recorded"].as_u64().unwrap() > 100);
    // a second run starts from scratch and gives the same ledger
    let again = run_input(&data, &["demo", "--days", "3", "--holders", "20"], None);
    let w: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["programs"], w["programs"]);
    assert_eq!(v["verify"]["head_hash"], w["verify"]["head_hash"]);
}

/// A reader that closes stdout early (`cardledger … | head`) ends the
/// command quietly: exit 0, no panic message.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    assert!(run_input(&data, &["demo", "--days", "3", "--holders", "20"], None).status.success());
    for args in
        [&["view", "programbalances", "day", "program=prog_alpha"][..], &["log", "--from", "1", "--count", "5000"]]
    {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cardledger"))
            .arg("--data")
            .arg(&data)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away before anything is written
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// SIGKILL `cardledger ingest` mid-stream, several times: every answered
/// (acknowledged) line is in the log with its token, sequence numbers are
/// contiguous, verify passes, and ingesting the whole input again continues
/// correctly (acknowledged lines come back as duplicates).
#[test]
fn a_killed_ingest_loses_no_acknowledged_event() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("input.jsonl");
    let lines: Vec<String> = cardledger_workload::generate_bulk(11, 60_000).collect();
    std::fs::write(&input_path, lines.join("\n")).unwrap();
    let data = dir.path().join("data");
    let mut acked: std::collections::BTreeMap<u64, String> = std::collections::BTreeMap::new();
    for round in 0..3u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cardledger"))
            .arg("--data")
            .arg(&data)
            .arg("ingest")
            .arg(&input_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        // read some answers, then kill without warning
        let stop_after = 2_000 + round * 7_919;
        let mut read = 0;
        while read < stop_after && reader.read_line(&mut line).unwrap() > 0 {
            let v: Value = serde_json::from_str(line.trim()).unwrap();
            if let (Some(seq), Some(token)) = (v["seq"].as_u64(), v["token"].as_str()) {
                let prev = acked.insert(seq, token.to_string());
                assert!(
                    prev.is_none() || prev.as_deref() == Some(token),
                    "seq {seq} answered twice with different tokens"
                );
            }
            line.clear();
            read += 1;
        }
        child.kill().unwrap();
        let _ = child.wait();
        // every acknowledged event is present and identical
        let engine = cardledger_core::engine::Engine::open(&data).unwrap();
        assert!(engine.head_seq() >= acked.keys().next_back().copied().unwrap_or(0));
        for (expect, entry) in (1..).zip(engine.events_from(1)) {
            let entry = entry.unwrap();
            assert_eq!(entry.rec.seq, expect, "contiguous");
            if let Some(token) = acked.get(&entry.rec.seq) {
                let body = cardledger_domain::response::event_body(&entry.rec.fact.event);
                assert_eq!(body["token"].as_str(), Some(token.as_str()), "seq {} changed", entry.rec.seq);
            }
        }
        assert!(engine.verify().is_ok());
    }
    // finishing the ingest: recorded + duplicates cover every line, nothing rejected
    let out = run_input(&data, &["ingest", input_path.to_str().unwrap()], None);
    let answers = json_lines(&out);
    assert_eq!(answers.len(), lines.len());
    assert!(answers.iter().all(|a| a.get("error_code").is_none()), "no line rejected on resume");
    let verify = run_input(&data, &["verify"], None);
    let v: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(v["records"], lines.len() as u64);
}

/// `statements`: the endpoints through the binary, after ingesting a month
/// of credit activity and a tick (the E1 sample: interest 2.31 on ADB 181.67).
#[test]
fn statements_endpoints_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let input = r#"{"time":"2023-06-01T12:00:00Z","program":{"token":"p1","bank":"Sutton Bank","currency_code":"USD"}}
{"time":"2023-06-01T12:00:01Z","user":{"token":"u1","program_token":"p1"}}
{"time":"2023-06-01T12:00:02Z","credit_account":{"token":"ca","user_token":"u1","program_token":"p1","credit_limit":1000,"apr":"14.99","minimum_interest":"1.00","reward_percentage":1}}
{"time":"2023-06-15T16:00:00Z","journal_entry":{"token":"j1","type":"authorization.clearing","account_token":"ca","amount":"247.12","currency_code":"USD","status":"POSTED","group":"PURCHASE"}}
{"time":"2023-07-01T12:00:00Z","tick":{"now":"2023-07-01T12:00:00Z"}}
{"time":"2023-07-10T16:00:00Z","journal_entry":{"token":"p1","type":"payment","account_token":"ca","amount":"100.00","currency_code":"USD","status":"POSTED","group":"PAYMENT"}}
{"time":"2023-07-14T16:00:00Z","journal_entry":{"token":"j2","type":"authorization.clearing","account_token":"ca","amount":"59.50","currency_code":"USD","status":"POSTED","group":"PURCHASE"}}
{"time":"2023-08-01T12:00:00Z","tick":{"now":"2023-08-01T12:00:00Z"}}
{"time":"2023-08-01T12:00:00Z","tick":{"now":"2023-08-01T12:00:00Z"}}
"#;
    let out = run_input(dir.path(), &["ingest", "-"], Some(input));
    assert!(out.status.success());
    let answers = json_lines(&out);
    assert_eq!(answers.len(), 9);
    assert_eq!(answers[8]["error_code"], 1213, "a second tick with the same now records nothing");
    let out = run_input(dir.path(), &["statements", "ca", "sort_by=-createdTime", "count=1"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["is_more"], true);
    let july = &list["data"][0];
    assert_eq!(july["cycle_type"], "BEGINNING_REVOLVING");
    assert_eq!(july["closing_balance"].to_string(), "208.93");
    let token = july["token"].as_str().unwrap().to_string();
    let out = run_input(dir.path(), &["statements", "ca", &token, "interestcharges"], None);
    let charges: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(charges["data"][0]["balance_subject_to_interest_rate"].to_string(), "181.67");
    assert_eq!(charges["data"][0]["amount"].to_string(), "2.31");
    let out = run_input(dir.path(), &["statements", "ca", &token, "files"], None);
    let files: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(files["data"][0]["signed_url"], Value::Null);
    let out = run_input(dir.path(), &["statements", "nope"], None);
    assert_eq!(out.status.code(), Some(3));
    let out = run_input(dir.path(), &["statements", "ca", "count=0"], None);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("count"));
    let out = run_input(dir.path(), &["verify"], None);
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["statements_projection"], "ok", "the projection equals a fresh replay");
}
