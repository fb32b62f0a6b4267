//! `trialbalance`, `postings`, `--as-of-seq` / `--as-of-time` and
//! `verify-report` driven through the binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn run(data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardledger"))
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("spawn cardledger")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn trial_balance_postings_as_of_and_verify_report() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let out =
        run(&data, &["demo", "--days", "8", "--holders", "20", "--charts", tmp.path().join("c").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = run(&data, &["trialbalance", "--program", "prog_alpha", "--as-of-seq", "50"]);
    assert!(out.status.success());
    let v = json(&out);
    assert_eq!((v["as_of_seq"].as_u64(), v["total"].to_string().as_str()), (Some(50), "0.00"), "{v}");
    let out = run(&data, &["trialbalance", "--as-of-seq", "99999999"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(json(&out)["error_code"], 400101);
    assert!(String::from_utf8_lossy(&out.stderr).contains("as_of_seq"));
    let out = run(&data, &["balances", "nobody", "--as-of-time", "1990-01-01T00:00:00Z"]);
    assert_eq!((out.status.code(), json(&out)["error_code"].as_u64()), (Some(4), Some(400102)));

    let out = run(&data, &["postings", "program_bank:prog_alpha", "count=2", "--as-of-seq", "100"]);
    assert!(out.status.success());
    let v = json(&out);
    assert_eq!((v["as_of_seq"].as_u64(), v["count"].as_u64()), (Some(100), Some(2)), "{v}");
    assert!(v["data"][0]["seq"].as_u64().unwrap() <= 100);

    // a CSV report verifies; one changed cell fails with its row named
    let report = tmp.path().join("r.csv.gz");
    let out = run(
        &data,
        &["view", "programbalances", "day", "program=prog_alpha", "count=4", "--format", "csv", "--as-of-seq", "300"],
    );
    assert!(out.status.success());
    let exported = json(&out)["file"].as_str().unwrap().to_string();
    std::fs::copy(&exported, &report).unwrap();
    let out = run(&data, &["verify-report", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(json(&out)["matches"], true);
    let mut csv = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(std::fs::File::open(&report).unwrap()), &mut csv)
        .unwrap();
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    let col = lines[0].split(',').position(|h| h == "deposit").unwrap();
    let mut cells: Vec<String> = lines[3].split(',').map(String::from).collect();
    cells[col] = "999.99".into();
    lines[3] = cells.join(",");
    let changed = tmp.path().join("changed.csv");
    std::fs::write(&changed, lines.join("\n") + "\n").unwrap();
    let out = run(&data, &["verify-report", changed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(
        (v["first_difference"]["row"].as_u64(), v["first_difference"]["field"].as_str()),
        (Some(3), Some("deposit"))
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("row 3 differs in deposit"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // a file without a source is refused, naming the file
    let plain = tmp.path().join("plain.csv");
    std::fs::write(&plain, "a,b\n1,2\n").unwrap();
    let out = run(&data, &["verify-report", plain.to_str().unwrap()]);
    assert_eq!((out.status.code(), json(&out)["error_code"].as_u64()), (Some(4), Some(400103)));
}
