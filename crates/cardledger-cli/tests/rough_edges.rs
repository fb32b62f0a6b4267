//! Issue 15 item 7: the rough edges a new user hits, each driven through
//! the binary — and item 3's lists and credit-account balance.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod support;
use support::run_input;

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?} / {:?}", String::from_utf8_lossy(&out.stdout), stderr(out)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The one error style: exit code, `{"error_code", "error_message"}` on
/// stdout, a readable `cardledger: …` line on stderr.
fn assert_error(out: &Output, exit: i32, code: u64, names: &str) {
    assert_eq!(out.status.code(), Some(exit), "{}", stderr(out));
    let v = stdout_json(out);
    assert_eq!(v["error_code"], code, "{v}");
    let msg = v["error_message"].as_str().unwrap();
    assert!(msg.contains(names), "{msg:?} does not name {names:?}");
    assert!(stderr(out).starts_with("cardledger: "), "{}", stderr(out));
    assert!(stderr(out).contains(names), "{}", stderr(out));
}

/// One of every kind `list` answers, in two programs.
const SETUP: &str = r#"{"time":"2024-01-02T00:00:00Z","program":{"token":"p1","bank":"Sutton Bank","currency_code":"USD","opening_bank_balance":"100000.00"}}
{"time":"2024-01-02T00:00:00Z","program":{"token":"p2","bank":"Other Bank","currency_code":"USD"}}
{"time":"2024-01-02T00:00:01Z","funding_source":{"token":"fs1","program_token":"p1","type":"program","is_default_account":true,"name":"Program funds"}}
{"time":"2024-01-02T00:00:01Z","funding_source":{"token":"fs2","program_token":"p2","type":"program","is_default_account":true,"name":"Program funds 2"}}
{"time":"2024-01-02T00:00:02Z","user":{"token":"u1","program_token":"p1"}}
{"time":"2024-01-02T00:00:03Z","user":{"token":"u2","program_token":"p1"}}
{"time":"2024-01-02T00:00:04Z","user":{"token":"u3","program_token":"p2"}}
{"time":"2024-01-02T00:00:05Z","business":{"token":"b1","program_token":"p1"}}
{"time":"2024-01-02T00:00:06Z","funding_source":{"token":"card1","user_token":"u1","type":"paymentcard","name":"Visa"}}
{"time":"2024-01-02T00:00:07Z","funding_source_address":{"token":"addr1","funding_source_token":"card1"}}
{"time":"2024-01-02T00:00:08Z","fee":{"token":"fee1","name":"Load fee","amount":"1.00","currency_code":"USD"}}
{"time":"2024-01-02T00:00:09Z","campaign":{"token":"camp1","name":"Grocer"}}
{"time":"2024-01-02T00:00:10Z","merchant":{"token":"merch1","name":"Coffee"}}
{"time":"2024-01-02T00:00:11Z","offer":{"token":"off1","name":"Spring","campaign_token":"camp1","purchase_amount":20,"reward_amount":5,"reward_trigger_amount":20,"currency_code":"USD"}}
{"time":"2024-01-02T00:00:12Z","credit_account":{"token":"ca1","user_token":"u1","program_token":"p1","credit_limit":1000,"apr":"14.99","billing_cycle_day":1}}
{"time":"2024-01-03T10:00:00Z","gpa_order":{"token":"g1","user_token":"u1","amount":"100.00","currency_code":"USD","funding_source_token":"fs1","fees":[{"token":"fee1"}]}}
{"time":"2024-01-03T10:00:01Z","gpa_order":{"token":"g2","user_token":"u2","amount":"50.00","currency_code":"USD"}}
{"time":"2024-01-03T10:00:02Z","gpa_order":{"token":"g3","business_token":"b1","amount":"70.00","currency_code":"USD"}}
{"time":"2024-01-03T10:00:03Z","gpa_order":{"token":"g4","user_token":"u3","amount":"30.00","currency_code":"USD"}}
{"time":"2024-01-03T10:00:04Z","gpa_unload":{"token":"gu1","original_order_token":"g1","amount":"10.00"}}
{"time":"2024-01-03T10:00:05Z","msa_order":{"token":"m1","campaign_token":"camp1","user_token":"u1","currency_code":"USD","purchase_amount":"40.00","funding_source_token":"fs1"}}
{"time":"2024-01-03T10:00:06Z","msa_order":{"token":"m2","campaign_token":"merch1","user_token":"u2","currency_code":"USD","purchase_amount":"15.00"}}
{"time":"2024-01-03T10:00:07Z","msa_unload":{"token":"mu1","original_order_token":"m1","amount":"4.00"}}
{"time":"2024-01-03T10:00:08Z","offer_order":{"token":"oo1","user_token":"u1","offer_token":"off1","funding_source_token":"fs1"}}
{"time":"2024-01-03T10:00:09Z","fee_transfer":{"token":"ft1","user_token":"u1","fees":[{"token":"fee1"}]}}
{"time":"2024-01-03T10:00:10Z","journal_entry":{"token":"je1","type":"authorization","user_token":"u1","card_token":"c1","amount":"9.11","currency_code":"USD","status":"PENDING","group":"PURCHASE","network":"VISA"}}
{"time":"2024-01-05T10:00:00Z","journal_entry":{"token":"je2","type":"authorization.clearing","account_token":"ca1","amount":"247.12","currency_code":"USD","status":"POSTED","group":"PURCHASE","network":"VISA"}}
{"time":"2024-01-06T10:00:00Z","journal_entry":{"token":"je3","type":"payment","account_token":"ca1","amount":"47.12","currency_code":"USD","status":"POSTED","group":"PAYMENT"}}
{"time":"2024-01-06T11:00:00Z","journal_entry":{"token":"je4","type":"authorization","account_token":"ca1","amount":"100.00","currency_code":"USD","status":"PENDING","group":"PURCHASE","network":"VISA"}}
{"time":"2024-01-07T10:00:00Z","program_deposit":{"token":"pd1","program_token":"p1","amount":"500.00","currency_code":"USD"}}
"#;

fn ingested() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = run_input(&dir.path().join("d"), &["ingest", "--strict"], Some(SETUP));
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    dir
}

fn list(data: &Path, args: &[&str]) -> Value {
    let mut all = vec!["list"];
    all.extend_from_slice(args);
    let out = run_input(data, &all, None);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout_json(&out)
}

fn tokens(v: &Value) -> Vec<String> {
    v["data"].as_array().unwrap().iter().map(|r| r["token"].as_str().unwrap().to_string()).collect()
}

#[test]
fn every_kind_lists_with_its_filters_and_the_core_api_conventions() {
    let dir = ingested();
    let d = dir.path().join("d");
    // newest first by default; every kind, all of it
    let want: &[(&str, &[&str])] = &[
        ("users", &["u3", "u2", "u1"]),
        ("businesses", &["b1"]),
        ("funding_sources", &["card1", "fs2", "fs1"]),
        ("funding_source_addresses", &["addr1"]),
        ("fees", &["fee1"]),
        ("campaigns", &["merch1", "camp1"]),
        ("merchants", &["merch1"]),
        ("offers", &["off1"]),
        ("gpa_orders", &["g4", "g3", "g2", "g1"]),
        // m1's unload modified it after m2 was created
        ("msa_orders", &["m1", "m2"]),
        ("offer_orders", &["oo1"]),
        ("gpa_unloads", &["gu1"]),
        ("msa_unloads", &["mu1"]),
        ("fee_transfers", &["ft1"]),
        ("journal_entries", &["je4", "je3", "je2", "je1"]),
        ("credit_accounts", &["ca1"]),
        ("program_deposits", &["pd1"]),
    ];
    for (kind, toks) in want {
        let v = list(&d, &[kind, "count=100"]);
        assert_eq!(tokens(&v), *toks, "{kind}");
        assert_eq!(v["count"], toks.len(), "{kind}");
        assert_eq!(v["is_more"], false, "{kind}");
    }
    // filters the kinds take
    let filtered: &[(&[&str], &[&str])] = &[
        (&["users", "program_token=p2"], &["u3"]),
        (&["gpa_orders", "user_token=u1"], &["g1"]),
        (&["gpa_orders", "business_token=b1"], &["g3"]),
        (&["gpa_orders", "program_token=p1"], &["g3", "g2", "g1"]),
        // the source that paid: named (g1) or the program default (g2, g3)
        (&["gpa_orders", "funding_source_token=fs1"], &["g3", "g2", "g1"]),
        (&["gpa_orders", "funding_source_token=fs2"], &["g4"]),
        (&["msa_orders", "campaign_token=merch1"], &["m2"]),
        (&["msa_orders", "sort_by=-createdTime"], &["m2", "m1"]),
        (&["offer_orders", "offer_token=off1"], &["oo1"]),
        (&["offer_orders", "user_token=u2"], &[]),
        (&["gpa_unloads", "original_order_token=g1"], &["gu1"]),
        (&["gpa_unloads", "original_order_token=g2"], &[]),
        (&["journal_entries", "account_token=ca1"], &["je4", "je3", "je2"]),
        (&["journal_entries", "user_token=u1"], &["je1"]),
        (&["fee_transfers", "program_token=p2"], &[]),
        (&["credit_accounts", "user_token=u1"], &["ca1"]),
        (&["offers", "campaign_token=camp1"], &["off1"]),
        (&["funding_sources", "user_token=u1"], &["card1"]),
        (&["funding_sources", "program_token=p2"], &["fs2"]),
    ];
    for (args, toks) in filtered {
        assert_eq!(tokens(&list(&d, args)), *toks, "{args:?}");
    }
    // paging, sorting, fields
    let page = list(&d, &["gpa_orders", "count=2", "start_index=1", "sort_by=createdTime"]);
    assert_eq!(tokens(&page), ["g2", "g3"]);
    assert_eq!(
        (page["start_index"].clone(), page["end_index"].clone(), page["is_more"].clone()),
        (1.into(), 2.into(), true.into())
    );
    let last = list(&d, &["gpa_orders", "count=2", "start_index=2", "sort_by=createdTime"]);
    assert_eq!(last["is_more"], false);
    let slim = list(&d, &["fees", "fields=token,amount"]);
    let mut keys: Vec<&String> = slim["data"][0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["amount", "token"]);
    // a list record is the resource `get` answers
    let one = list(&d, &["journal_entries", "count=1", "sort_by=createdTime"]);
    let got = stdout_json(&run_input(&d, &["get", "journal_entry", "je1"], None));
    assert_eq!(one["data"][0], got);
}

#[test]
fn list_parameters_are_refused_with_the_parameter_named() {
    let dir = ingested();
    let d = dir.path().join("d");
    assert_error(&run_input(&d, &["list", "gpa_orders", "count=101"], None), 4, 1106, "count");
    assert_error(&run_input(&d, &["list", "gpa_orders", "count=0"], None), 4, 1106, "count");
    assert_error(&run_input(&d, &["list", "fees", "user_token=u1"], None), 4, 1005, "user_token");
    assert_error(&run_input(&d, &["list", "users", "bogus=1"], None), 4, 1005, "bogus");
    assert_error(&run_input(&d, &["list", "gpa_orders", "sort_by=amount"], None), 4, 1106, "sort_by");
    assert_error(
        &run_input(&d, &["list", "gpa_orders", "user_token=u1", "business_token=b1"], None),
        4,
        1108,
        "business_token",
    );
    assert_error(&run_input(&d, &["list", "widgets"], None), 4, 1106, "kind");
    assert_error(&run_input(&d, &["list", "users", "nokeyvalue"], None), 4, 1106, "nokeyvalue");
}

#[test]
fn a_credit_account_has_a_balance_between_statements() {
    let dir = ingested();
    let d = dir.path().join("d");
    for token in ["ca1", "account:ca1"] {
        let out = run_input(&d, &["balances", token], None);
        assert!(out.status.success(), "{}", stderr(&out));
        let b = stdout_json(&out);
        assert_eq!(b["account_token"], "ca1");
        assert_eq!(b["credit_limit"], 1000);
        // 247.12 purchased − 47.12 paid
        assert_eq!(b["current_balance"], 200);
        assert_eq!(b["pending_holds"], 100);
        // 1000 − 200 − 100 held
        assert_eq!(b["available_credit"], 700);
        assert_eq!(b["open_cycle"]["start_date"], "2024-01-01");
        assert_eq!(b["open_cycle"]["end_date"], "2024-01-31");
        assert_eq!(b["open_cycle"]["purchases"], 247.12);
        assert_eq!(b["open_cycle"]["payments"], 47.12);
        assert_eq!(b["statements_closed"], 0);
    }
    // a holder's balances are unchanged; an unknown token is 404001
    // u1's GPA: 100 loaded, 10 unloaded, a 1.00 fee transferred, 9.11 held
    let gpa = stdout_json(&run_input(&d, &["balances", "u1"], None));
    assert_eq!(
        (gpa["gpa"]["ledger_balance"].clone(), gpa["gpa"]["available_balance"].clone()),
        (89.into(), 79.89.into())
    );
    assert_error(&run_input(&d, &["balances", "nobody"], None), 3, 404001, "nobody");
    assert_error(&run_input(&d, &["balances", "account:u1"], None), 3, 404001, "u1");
}

#[test]
fn demo_refuses_a_store_it_did_not_create_unless_forced() {
    let dir = ingested();
    let d = dir.path().join("d");
    let small = ["demo", "--days", "2", "--holders", "3"];
    let out = run_input(&d, &small, None);
    assert_error(&out, 4, 1106, "--force");
    // nothing was deleted
    assert_eq!(lines(&run_input(&d, &["log"], None)).len(), SETUP.lines().count());
    let mut forced = small.to_vec();
    forced.push("--force");
    let out = run_input(&d, &forced, None);
    assert!(out.status.success(), "{}", stderr(&out));
    // a store the demo made is replaced without --force
    let out = run_input(&d, &small, None);
    assert!(out.status.success(), "{}", stderr(&out));
    // and a directory that is not a store is never touched
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    assert_error(&run_input(&other, &forced, None), 4, 1106, "not a cardledger store");
    assert_eq!(std::fs::read_to_string(other.join("keep.txt")).unwrap(), "mine");
}

#[test]
fn read_commands_on_a_missing_store_fail_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("none");
    let out_file = dir.path().join("b.clb").display().to_string();
    let reads: &[&[&str]] = &[
        &["log"],
        &["get", "user", "u1"],
        &["list", "users"],
        &["balances", "u1"],
        &["view", "programbalances", "day", "program=p1"],
        &["schema", "programbalances", "day"],
        &["statements", "ca1"],
        &["verify"],
        &["rebuild"],
        &["backup", "--out", &out_file],
    ];
    for args in reads {
        let out = run_input(&d, args, None);
        assert_error(&out, 3, 404003, "no cardledger store");
        assert!(!d.exists(), "{args:?} created {}", d.display());
    }
    // an empty directory is not a store either, and stays empty
    std::fs::create_dir(&d).unwrap();
    assert_error(&run_input(&d, &["log"], None), 3, 404003, "no cardledger store");
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
}

#[test]
fn every_input_line_gets_exactly_one_answer_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    let first = SETUP.lines().next().unwrap();
    let input = format!("{first}\n\n   \t\n{}\n\n", r#"{"user":{"token":"u1","program_token":"p1"}}"#);
    let out = run_input(&d, &["ingest"], Some(&input));
    assert!(out.status.success(), "without --strict, rejections exit 0: {}", stderr(&out));
    let answers = lines(&out);
    assert_eq!(answers.len(), 5, "one answer per input line, blank ones included");
    let numbers: Vec<u64> = answers.iter().map(|a| a["line"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    for i in [1, 2, 4] {
        assert_eq!(answers[i]["error_code"], 1001, "{}", answers[i]);
        assert!(answers[i]["error_message"].as_str().unwrap().contains("empty"));
    }
    assert_eq!(answers[3]["seq"], 2);
}

#[test]
fn ingest_strict_exits_non_zero_when_anything_was_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    let bad = format!("{}\n{}\n", SETUP.lines().next().unwrap(), r#"{"user":{"token":"u1","program_token":"nope"}}"#);
    let out = run_input(&d, &["ingest", "--strict"], Some(&bad));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(lines(&out).len(), 2, "every line is still answered");
    assert!(stderr(&out).contains("--strict: 1 of 2 lines were rejected"), "{}", stderr(&out));
    // the good line was recorded all the same
    assert_eq!(lines(&run_input(&d, &["log"], None)).len(), 1);
    let good = format!("{}\n", r#"{"user":{"token":"u2","program_token":"p1"}}"#);
    assert!(run_input(&d, &["ingest", "--strict"], Some(&good)).status.success());
}

/// `… the store grew G bytes (X bytes/recorded event) to T bytes`.
fn growth(out: &Output) -> (i64, u64) {
    let e = stderr(out);
    let grew = e.split("the store grew ").nth(1).unwrap_or_else(|| panic!("{e}"));
    let g: i64 = grew.split(' ').next().unwrap().parse().unwrap();
    let total: u64 = grew.split(" to ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    (g, total)
}

#[test]
fn the_ingest_summary_reports_the_directorys_growth() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    let out = run_input(&d, &["ingest"], Some(SETUP));
    let (_, total1) = growth(&out);
    // a run of duplicates only: recorded nothing, so no bytes per event
    let out = run_input(&d, &["ingest"], Some(SETUP));
    assert!(stderr(&out).contains("0 recorded"), "{}", stderr(&out));
    assert!(stderr(&out).contains("(0.0 bytes/recorded event)"), "{}", stderr(&out));
    let (g, total2) = growth(&out);
    assert!(g.unsigned_abs() < total2, "the growth ({g}) is not the whole directory ({total2})");
    assert!(total2 >= total1 / 2);
}

#[test]
fn one_error_style_on_every_command() {
    let dir = ingested();
    let d = dir.path().join("d");
    assert_error(&run_input(&d, &["get", "gpa_order", "nope"], None), 3, 404001, "nope");
    assert_error(&run_input(&d, &["get", "widget", "x"], None), 4, 1106, "kind");
    assert_error(&run_input(&d, &["statements", "nope"], None), 3, 1301, "nope");
    assert_error(&run_input(&d, &["statements", "ca1", "count=0"], None), 4, 1303, "count");
    assert_error(
        &run_input(&d, &["view", "programbalances", "day", "count=0", "program=p1"], None),
        4,
        400003,
        "count",
    );
    assert_error(&run_input(&d, &["view", "nosuchview", "day"], None), 4, 400002, "nosuchview");
    assert_error(&run_input(&d, &["ingest", "/no/such/file"], None), 2, 500020, "/no/such/file");
}

#[test]
fn an_inactive_msa_order_refuses_unloads() {
    let dir = ingested();
    let d = dir.path().join("d");
    let deactivate = r#"{"time":"2024-01-08T00:00:00Z","msa_order_update":{"token":"m1","active":false}}"#;
    let unload =
        r#"{"time":"2024-01-08T00:00:01Z","msa_unload":{"token":"mu2","original_order_token":"m1","amount":"1.00"}}"#;
    let out = run_input(&d, &["ingest"], Some(&format!("{deactivate}\n{unload}\n")));
    let answers = lines(&out);
    assert_eq!(answers[0]["response"]["active"], false);
    assert_eq!(answers[1]["error_code"], 1216, "{}", answers[1]);
    assert!(answers[1]["error_message"].as_str().unwrap().starts_with("msa_unload.original_order_token: "));
    // the earlier unload no longer shows its order as active
    let got = stdout_json(&run_input(&d, &["get", "msa_unload", "mu1"], None));
    assert_eq!(got["active"], false);
    // reactivated, it takes unloads again
    let reactivate = r#"{"time":"2024-01-08T00:00:02Z","msa_order_update":{"token":"m1","active":true}}"#;
    let answers = lines(&run_input(&d, &["ingest"], Some(&format!("{reactivate}\n{unload}\n"))));
    assert_eq!(answers[1]["response"]["active"], true, "{}", answers[1]);
}

#[test]
fn generate_takes_no_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    let help = run_input(&d, &["generate", "--help"], None);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("--seed") && !text.contains("--data"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_cardledger"))
        .args(["generate", "--days", "1", "--holders", "2", "--data"])
        .arg(&d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("takes no --data"), "{}", stderr(&out));
    assert!(!d.exists());
}

#[test]
fn view_rows_stop_at_the_last_events_day_whatever_end_date_says() {
    let dir = ingested();
    let d = dir.path().join("d");
    let out =
        run_input(&d, &["view", "programbalances", "day", "program=p1", "end_date=2100-01-01", "count=1000"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    let dates: Vec<&str> =
        v["records"].as_array().unwrap().iter().map(|r| r["corrected_post_date"].as_str().unwrap()).collect();
    // 2024-01-02 (creation) to 2024-01-07 (the last event), not to 2100
    assert_eq!(dates.len(), 6, "{dates:?}");
    assert!(dates[0].starts_with("2024-01-07"), "newest first: {dates:?}");
    assert!(v["last_run_time"].as_str().unwrap().starts_with("2024-01-07"));
    for (view, agg) in [("activitybalances", "day"), ("programbalances", "month")] {
        let out = run_input(&d, &["view", view, agg, "program=p1", "end_date=2100-01-01", "count=1000"], None);
        assert!(out.status.success(), "{}", stderr(&out));
        let n = stdout_json(&out)["records"].as_array().unwrap().len();
        assert!(n <= 6, "{view} {agg}: {n} rows");
    }
}
