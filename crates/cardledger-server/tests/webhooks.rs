//! Webhooks end to end: a receiver on 127.0.0.1 that fails (500), times
//! out, and stays down across a server restart; every notification is
//! delivered at least once, in log order, with a valid signature, and the
//! deliveries list shows the attempts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const SECRET: &str = "a-secret-of-24-characters";

/// What the receiver answers.
const FAIL: u8 = 0;
const OK: u8 = 1;
const SCRIPT: u8 = 2; // 500, then a hang past the timeout, then OK

#[derive(Clone, Debug)]
struct Received {
    headers: BTreeMap<String, String>,
    body: String,
    /// The status sent; 0 when it came after the deliverer stopped waiting.
    answered: u16,
}

struct Receiver {
    url: String,
    mode: Arc<AtomicU8>,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(SCRIPT));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let scripted = Arc::new(AtomicUsize::new(0));
        let (m, s) = (mode.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (m, s, scripted) = (m.clone(), s.clone(), scripted.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut headers = BTreeMap::new();
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = line.trim_end().split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        }
                    }
                    let len: usize = headers.get("content-length").map_or(0, |v| v.parse().unwrap());
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    let answered = match m.load(Ordering::SeqCst) {
                        FAIL => 500,
                        OK => 200,
                        _ => match scripted.fetch_add(1, Ordering::SeqCst) {
                            0 => 500,
                            1 => 0,
                            _ => 200,
                        },
                    };
                    // recorded in arrival order
                    s.lock().unwrap().push(Received { headers, body: String::from_utf8(body).unwrap(), answered });
                    if answered == 0 {
                        // longer than the deliverer waits: a timeout on its side
                        std::thread::sleep(Duration::from_millis(1200));
                    }
                    let code = if answered == 0 { 200 } else { answered };
                    let _ = write!(stream, "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                });
            }
        });
        Receiver { url, mode, seen }
    }

    fn delivered(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        let mut tokens: Vec<String> = Vec::new();
        for r in seen.iter().filter(|r| r.answered == 200) {
            let t = r.headers["x-cardledger-delivery"].clone();
            if !tokens.contains(&t) {
                tokens.push(t);
            }
        }
        tokens
    }
}

fn start(dir: &std::path::Path) -> Server {
    let creds = dir.join("credentials.jsonl");
    std::fs::write(&creds, CREDENTIALS).unwrap();
    let mut config = cardledger_server::Config::new(dir.join("data"), "127.0.0.1:0".into(), Some(creds), false);
    config.webhooks = cardledger_server::webhooks::DeliverySettings {
        response_wait: Duration::from_millis(400),
        backoff_first: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
    };
    Server::start_config(tempfile::tempdir().unwrap(), config)
}

/// A program with a funding threshold crossing it several times, and a
/// workload with credit accounts (statements, delinquency).
fn commands() -> String {
    let mut lines = vec![
        r#"{"time":"2024-01-01T00:00:00Z","program":{"token":"pw","bank":"B","currency_code":"USD","opening_bank_balance":"600.00","funding_alert_threshold":"500.00"}}"#.to_string(),
        r#"{"time":"2024-01-01T00:00:00Z","funding_source":{"token":"fs_pw","program_token":"pw","type":"program","is_default_account":true,"name":"PW"}}"#.to_string(),
        r#"{"time":"2024-01-01T00:00:00Z","user":{"token":"u_pw","program_token":"pw"}}"#.to_string(),
    ];
    for i in 0..8 {
        lines.push(format!(
            r#"{{"time":"2024-01-01T01:00:00Z","gpa_order":{{"token":"o{i}","user_token":"u_pw","amount":"200.00","currency_code":"USD"}}}}"#
        ));
        lines.push(format!(
            r#"{{"time":"2024-01-01T02:00:00Z","program_deposit":{{"token":"d{i}","program_token":"pw","amount":"200.00","currency_code":"USD"}}}}"#
        ));
    }
    let cfg = cardledger_workload::WorkloadConfig { seed: 3, days: 40, holders: 10, ..Default::default() };
    lines.extend(cardledger_workload::generate(&cfg));
    lines.join("\n") + "\n"
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn registration_is_checked_and_scoped() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let good = json!({"token": "wh1", "name": "ops", "events": ["alert.*"], "config": {"url": "http://127.0.0.1:9/x", "secret": SECRET}});
    let (st, v) = call(&s, "POST", "/v3/webhooks", "alpha", Some(good.clone()));
    assert_eq!(assert_error(st, &v, 403), "403201");
    for (patch, field) in [
        (json!({"config": {"url": "https://example.com/x", "secret": SECRET}}), "config.url"),
        (json!({"config": {"url": "http://127.0.0.1:9/x", "secret": "short"}}), "config.secret"),
        (json!({"config": {"url": "http://127.0.0.1:9/x"}}), "config.secret"),
        (json!({"events": []}), "events"),
        (json!({"events": ["transactions.*"]}), "events"),
        (json!({"name": 5}), "name"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let mut body = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (st, v) = call(&s, "POST", "/v3/webhooks", "admin", Some(body));
        assert_eq!(assert_error(st, &v, 400), "400201");
        assert!(v["error_message"].as_str().unwrap().starts_with(field), "{field}: {v}");
    }
    let (st, v) = call(&s, "POST", "/v3/webhooks", "admin", Some(good.clone()));
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["config"]["secret"], "********", "the secret is never echoed");
    assert_eq!(v["events"], json!(["alert.*"]));
    let (st, v) = call(&s, "POST", "/v3/webhooks", "admin", Some(good));
    assert_eq!(assert_error(st, &v, 409), "409201");
    let (st, v) = call(&s, "GET", "/v3/webhooks/nope", "admin", None);
    assert_eq!(assert_error(st, &v, 404), "404201");
    let (st, v) = call(&s, "GET", "/v3/webhooks", "admin", None);
    assert_eq!((st, v["count"].as_u64(), v["data"][0]["token"].as_str()), (200, Some(1), Some("wh1")));
}

#[test]
fn every_notification_arrives_in_order_signed_through_failures_timeouts_and_a_restart() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path());
    let (st, v) = call(
        &s,
        "POST",
        "/v3/webhooks",
        "admin",
        Some(
            json!({"token": "wh_all", "name": "all", "events": ["*"], "config": {"url": receiver.url, "secret": SECRET}}),
        ),
    );
    assert_eq!(st, 201, "{v}");
    let (st, text) = call_raw("POST", &s.url("/v3/commands"), Some("admin"), Some(&commands()), "application/x-ndjson");
    assert_eq!(st, 200, "{text}");

    // a few go through (after the 500 and the timeout), then the receiver goes down
    wait_until("the first deliveries", Duration::from_secs(30), || receiver.delivered().len() >= 5);
    receiver.mode.store(FAIL, Ordering::SeqCst);
    let failures_before = receiver.seen.lock().unwrap().iter().filter(|r| r.answered == 500).count();
    wait_until("failed attempts", Duration::from_secs(30), || {
        receiver.seen.lock().unwrap().iter().filter(|r| r.answered == 500).count() >= failures_before + 2
    });
    s.stop().unwrap();
    drop(s);

    // what must arrive: every notification, from the facade on the same data
    let expected: Vec<(String, String)> = {
        let ledger = cardledger::Cardledger::open(dir.path().join("data")).unwrap();
        ledger.notifications(0, usize::MAX).unwrap().into_iter().map(|n| (n.token, n.event_type)).collect()
    };
    for kind in ["alert.funding_below_threshold", "accountstatement.created", "delinquencytransition.created"] {
        assert!(expected.iter().any(|(_, t)| t == kind), "the stream has {kind}");
    }
    let before_restart = receiver.delivered().len();
    assert!(before_restart < expected.len(), "the restart happens mid-stream");

    // restart: the registration and the cursor survive
    receiver.mode.store(OK, Ordering::SeqCst);
    let s = start(dir.path());
    let (st, v) = call(&s, "GET", "/v3/webhooks/wh_all", "admin", None);
    assert_eq!((st, v["name"].as_str()), (200, Some("all")), "{v}");
    wait_until(&format!("every notification ({})", expected.len()), Duration::from_secs(60), || {
        receiver.delivered().len() >= expected.len()
    });

    let want: Vec<String> = expected.iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(receiver.delivered(), want, "every notification delivered, in log order");
    let ordinal: BTreeMap<&str, usize> = want.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
    let seen = receiver.seen.lock().unwrap().clone();
    let mut last = 0usize;
    for r in &seen {
        let token = r.headers["x-cardledger-delivery"].as_str();
        let i = ordinal[token];
        // a later notification is never sent before an earlier one is acknowledged
        assert!(i == last || i == last + 1 || (i == 0 && last == 0), "{token} (#{i}) after #{last}");
        last = i;
        let signature = r.headers["x-cardledger-signature"].as_str();
        assert_eq!(signature, format!("sha256={}", cardledger_server::webhooks::sign(SECRET, r.body.as_bytes())));
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["token"], token);
        assert_eq!(body["type"].as_str(), Some(r.headers["x-cardledger-event"].as_str()));
        assert!(body["data"].is_object(), "{body}");
    }

    // the attempts: 500, then a timeout (no response code), then 200
    let (st, v) = call(&s, "GET", "/v3/webhooks/wh_all/deliveries?count=3", "admin", None);
    assert_eq!(st, 200, "{v}");
    let first: Vec<(u64, &str, Value)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["attempt"].as_u64().unwrap(), a["status"].as_str().unwrap(), a["response_code"].clone()))
        .collect();
    assert_eq!(first, vec![(1, "FAILED", json!(500)), (2, "FAILED", Value::Null), (3, "DELIVERED", json!(200))]);
    assert!(v["data"][1]["error"].as_str().unwrap().contains("timed out"), "{v}");
    assert_eq!(v["data"][0]["notification_token"], want[0].as_str());
    assert_eq!(v["is_more"], true);
    let (_, v) = call(&s, "GET", "/v3/webhooks/wh_all/deliveries?count=1", "admin", None);
    assert_eq!(v["delivered_through"].as_u64(), Some(want.len() as u64));
}
