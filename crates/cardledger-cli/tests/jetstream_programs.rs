//! `cardledger --log nats://… --programs P1,P2` on a loopback 3-node cluster
//! this test starts (`cardledger_nats::testing`): one process owning two
//! programs ingests a mixed file and answers it as a sled data directory
//! does (except each answer's `seq` and `transaction_token`: each stream
//! numbers its own events); reads and `verify` go through the same options;
//! a command of a program it does not own is 1220; `--programs P,P` is 1106.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Output;

use serde_json::Value;

mod support;
use support::json_lines;

/// `cardledger --data DATA PRE… ARGS…` (`pre`: the global options).
fn run(data: &std::path::Path, pre: &[&str], args: &[&str], stdin: Option<&str>) -> Output {
    support::run_input(data, &[pre, args].concat(), stdin)
}

fn strip(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.remove("seq");
            o.remove("transaction_token");
            o.values_mut().for_each(strip);
        }
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

const INPUT: &str = r#"{"time":"2024-01-01T00:00:00Z","program":{"token":"pa","bank":"Sutton Bank","currency_code":"USD","opening_bank_balance":"1000.00"}}
{"time":"2024-01-01T00:00:00Z","program":{"token":"pb","bank":"Sutton Bank","currency_code":"USD","opening_bank_balance":"2000.00"}}
{"time":"2024-01-01T00:00:00Z","fee":{"token":"f1","name":"Load fee","amount":"1.00","currency_code":"USD"}}
{"time":"2024-01-01T00:00:01Z","funding_source":{"token":"fa","program_token":"pa","type":"program","is_default_account":true,"name":"A funds"}}
{"time":"2024-01-01T00:00:01Z","funding_source":{"token":"fb","program_token":"pb","type":"program","is_default_account":true,"name":"B funds"}}
{"time":"2024-01-01T00:00:02Z","user":{"token":"ua","program_token":"pa"}}
{"time":"2024-01-01T00:00:02Z","user":{"token":"ub","program_token":"pb"}}
{"time":"2024-01-01T00:00:03Z","gpa_order":{"token":"oa","user_token":"ua","amount":"30.00","currency_code":"USD","fees":[{"token":"f1"}]}}
{"time":"2024-01-01T00:00:04Z","gpa_order":{"token":"ob","user_token":"ub","amount":"50.00","currency_code":"USD"}}
{"time":"2024-01-01T00:00:05Z","gpa_unload":{"token":"xb","original_order_token":"ob","amount":"20.00"}}
{"time":"2024-01-01T00:00:05Z","gpa_unload":{"token":"xa","original_order_token":"oa","amount":"5.00"}}
{"time":"2024-01-01T00:00:06Z","program_deposit":{"token":"da","program_token":"pa","amount":"10.00","currency_code":"USD"}}
{"time":"2024-01-01T00:00:06Z","gpa_order":{"token":"oz","user_token":"nobody","amount":"1.00","currency_code":"USD"}}
{"time":"2024-01-01T00:00:06Z","user":{"token":"ub","program_token":"pb"}}
{"time":"2024-01-01T00:00:06Z","user":{"token":"ub","program_token":"pa"}}
not json
{"time":"2024-01-02T00:00:00Z","tick":{"now":"2024-01-02T00:00:00Z"}}
"#;

#[test]
fn one_process_owning_two_programs_answers_as_a_sled_directory() {
    let urls = cardledger_nats::testing::loopback().unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let sled = dirs.path().join("sled");
    let host = dirs.path().join("host");
    let on: &[&str] = &["--log", &urls, "--programs", "pa,pb"];

    let want = run(&sled, &[], &["ingest", "-"], Some(INPUT));
    let got = run(&host, on, &["ingest", "-"], Some(INPUT));
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    let (mut want, mut got) = (json_lines(&want), json_lines(&got));
    assert_eq!(got.len(), INPUT.lines().count());
    for (g, w) in got.iter_mut().zip(want.iter_mut()) {
        strip(g);
        strip(w);
    }
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "line {}", i + 1);
    }
    assert_eq!(got[12]["error_code"], 1201, "a holder no program knows");
    assert_eq!(got[13]["duplicate"], true, "a repeat is a duplicate");
    assert!(got[14]["error_code"].is_u64(), "a token of another program's user is a conflict");

    // reads through the same options
    for args in [&["get", "gpa_unload", "xb"][..], &["balances", "ua"], &["balances", "user:ub"]] {
        let g = run(&host, on, args, None);
        let w = run(&sled, &[], args, None);
        assert!(g.status.success(), "{args:?}: {}", String::from_utf8_lossy(&g.stderr));
        let mut g: Value = serde_json::from_slice(&g.stdout).unwrap();
        let mut w: Value = serde_json::from_slice(&w.stdout).unwrap();
        strip(&mut g);
        strip(&mut w);
        assert_eq!(g, w, "{args:?}");
    }
    let verify = run(&host, on, &["verify"], None);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));

    // a program it does not own: 1220, unwritten
    let other = r#"{"time":"2024-01-03T00:00:00Z","user":{"token":"uc","program_token":"pc"}}"#;
    let out = json_lines(&run(&host, on, &["ingest", "-"], Some(other)));
    assert_eq!(out[0]["error_code"], 1220);

    // each program's stream alone
    let only_b = run(&dirs.path().join("b"), &["--log", &urls, "--programs", "pb"], &["get", "user", "ua"], None);
    assert!(!only_b.status.success(), "ua is not in pb's stream");

    // `serve` on the same options: the users of both programs, a user
    // created over HTTP in the second program, and its list across both
    let served = support::serve(&host, on);
    let addr = served.addr.clone();
    let http = |request: String| {
        let mut tcp = TcpStream::connect(&addr).unwrap();
        tcp.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).unwrap();
        answer
    };
    let get = |path: &str| http(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"));
    for (path, says) in [("/v3/users/ua", "\"pa\""), ("/v3/users/ub", "\"pb\"")] {
        let answer = get(path);
        assert!(answer.starts_with("HTTP/1.1 200") && answer.contains(says), "{path}: {answer}");
    }
    let body = r#"{"token":"uc","program_token":"pb"}"#;
    let created = http(format!(
        "POST /v3/users HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    assert!(created.starts_with("HTTP/1.1 20"), "{created}");
    let users = get("/v3/users?count=10&sort_by=createdTime");
    assert!(users.contains("\"ua\"") && users.contains("\"ub\"") && users.contains("\"uc\""), "{users}");
    let (exit, _) = served.stop();
    assert!(exit.success(), "exit {exit:?}");
    let only_b = run(&dirs.path().join("b2"), &["--log", &urls, "--programs", "pb"], &["get", "user", "uc"], None);
    assert!(only_b.status.success(), "uc is in pb's stream");

    // a program named twice
    let twice = run(&host, &["--log", &urls, "--programs", "pa,pb,pa"], &["verify"], None);
    assert!(!twice.status.success());
    let err = json_lines(&twice);
    assert_eq!(err[0]["error_code"], 1106, "{err:?}");
    assert!(err[0]["error_message"].as_str().unwrap().contains("programs"), "{err:?}");
}
