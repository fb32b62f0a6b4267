//! `cardledger alerts`: the alerts as JSON lines, and `--follow` printing
//! new ones while another process ingests (bounded by a timeout).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

mod support;
use support::run_input;

const SETUP: &str = r#"{"time":"2024-05-01T10:00:00Z","program":{"token":"p1","bank":"B","currency_code":"USD","opening_bank_balance":"1000.00","funding_alert_threshold":"800.00"}}
{"time":"2024-05-01T10:00:00Z","funding_source":{"token":"fs1","program_token":"p1","type":"program","is_default_account":true,"name":"P1"}}
{"time":"2024-05-01T10:00:00Z","user":{"token":"u1","program_token":"p1"}}
"#;

fn order(token: &str, amount: &str) -> String {
    format!(
        r#"{{"time":"2024-05-01T11:00:00Z","gpa_order":{{"token":"{token}","user_token":"u1","amount":"{amount}","currency_code":"USD"}}}}
"#
    )
}

fn deposit(token: &str, amount: &str) -> String {
    format!(
        r#"{{"time":"2024-05-01T12:00:00Z","program_deposit":{{"token":"{token}","program_token":"p1","amount":"{amount}","currency_code":"USD"}}}}
"#
    )
}

fn ingest(data: &std::path::Path, lines: &str) {
    let out = run_input(data, &["ingest", "-"], Some(lines));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn alerts_prints_each_crossing_once_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    ingest(&data, &(SETUP.to_string() + &order("o1", "300") + &order("o2", "10") + &deposit("d1", "500")));
    let out = run_input(&data, &["alerts"], None);
    assert!(out.status.success());
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let got: Vec<(u64, &str, String)> = lines
        .iter()
        .map(|l| (l["seq"].as_u64().unwrap(), l["state"].as_str().unwrap(), l["funding_balance"].to_string()))
        .collect();
    assert_eq!(got, vec![(4, "STARTED", "700".to_string()), (6, "CLEARED", "1190".to_string())]);
    assert_eq!(lines[0]["kind"], "funding_below_threshold");
    assert_eq!(lines[0]["funding_alert_threshold"].to_string(), "800");
    let after = run_input(&data, &["alerts", "--after", "4"], None);
    assert_eq!(String::from_utf8_lossy(&after.stdout).lines().count(), 1);
}

#[test]
fn follow_prints_new_alerts_as_another_process_ingests() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    ingest(&data, &(SETUP.to_string() + &order("o1", "300")));
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardledger"))
        .arg("--data")
        .arg(&data)
        .args(["alerts", "--follow", "--interval-ms", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| -> Value {
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("no line for {what}"));
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(next("the existing alert")["state"], "STARTED");
    // the follower releases the store between polls, so this process can write
    ingest(&data, &deposit("d1", "500"));
    let cleared = next("the clearing deposit");
    assert_eq!((cleared["seq"].as_u64(), cleared["state"].as_str()), (Some(5), Some("CLEARED")));
    ingest(&data, &order("o2", "900"));
    assert_eq!(next("the second crossing")["seq"], 6);
    // nothing more: the condition still holds after another order
    ingest(&data, &order("o3", "1"));
    assert!(rx.recv_timeout(Duration::from_millis(1500)).is_err(), "no alert while the condition holds");
    child.kill().unwrap();
    child.wait().unwrap();
}
