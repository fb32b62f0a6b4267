//! `cardledger backup` and `cardledger restore` through the binary: the
//! restored store verifies with the same head and state digest, answers
//! duplicates like the original, and a damaged store is recovered by
//! restore + re-ingest (`docs/reliability.md`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::process::Output;

use serde_json::Value;
use support::run;

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn backup_restore_and_recovery_by_re_ingest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gen = run(&data, &["generate", "--days", "35", "--holders", "12"]);
    let all = String::from_utf8(gen.stdout).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    let half = lines.len() / 2;
    let first = tmp.path().join("first.jsonl");
    let rest = tmp.path().join("rest.jsonl");
    std::fs::write(&first, lines[..half].join("\n") + "\n").unwrap();
    std::fs::write(&rest, lines[half..].join("\n") + "\n").unwrap();
    let (first, rest) = (first.to_str().unwrap(), rest.to_str().unwrap());
    assert!(run(&data, &["ingest", first]).status.success());

    let file = tmp.path().join("backup.clb");
    let b = json(&run(&data, &["backup", "--out", file.to_str().unwrap()]));
    assert_eq!(b["bytes"].as_u64(), Some(std::fs::metadata(&file).unwrap().len()));
    let records = b["records"].as_u64().unwrap();
    assert!(records >= half as u64 / 2);

    // the original goes on (later its pages may be damaged beyond opening)
    assert!(run(&data, &["ingest", rest]).status.success());
    let before = json(&run(&data, &["verify"]));

    // recovery: restore the backup into a new directory, re-ingest what
    // came after (here: the whole input again; recorded lines are duplicates)
    let restored = tmp.path().join("restored");
    let r = json(&run(&restored, &["restore", file.to_str().unwrap()]));
    assert_eq!(r["records"], b["records"]);
    assert_eq!(r["head_hash"], b["head_hash"]);
    let v = json(&run(&restored, &["verify"]));
    assert_eq!(v["records"].as_u64(), Some(records));
    assert!(run(&restored, &["ingest", first]).status.success());
    assert!(run(&restored, &["ingest", rest]).status.success());
    let after = json(&run(&restored, &["verify"]));
    assert_eq!(after["records"], before["records"]);
    assert_eq!(after["head_hash"], before["head_hash"]);
    assert_eq!(after["state_digest"], before["state_digest"]);

    // restoring over a non-empty directory is refused and changes nothing
    let refused = run(&data, &["restore", file.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert_eq!(json(&run(&data, &["verify"]))["head_hash"], before["head_hash"]);
}
