//! `cardledger backup` and `cardledger restore` through the binary: the
//! restored store verifies with the same head and state digest, answers
//! duplicates like the original, and a damaged store is recovered by
//! restore + re-ingest (`docs/reliability.md`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn run(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cardledger"));
    cmd.arg("--data").arg(data).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().expect("spawn cardledger");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn backup_restore_and_recovery_by_re_ingest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gen = run(&data, &["generate", "--days", "35", "--holders", "12"], None);
    let all = String::from_utf8(gen.stdout).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    let half = lines.len() / 2;
    let first = lines[..half].join("\n") + "\n";
    let rest = lines[half..].join("\n") + "\n";
    assert!(run(&data, &["ingest", "-"], Some(&first)).status.success());

    let file = tmp.path().join("backup.clb");
    let b = json(&run(&data, &["backup", "--out", file.to_str().unwrap()], None));
    assert_eq!(b["bytes"].as_u64(), Some(std::fs::metadata(&file).unwrap().len()));
    let records = b["records"].as_u64().unwrap();
    assert!(records >= half as u64 / 2);

    // the original goes on (later its pages may be damaged beyond opening)
    assert!(run(&data, &["ingest", "-"], Some(&rest)).status.success());
    let before = json(&run(&data, &["verify"], None));

    // recovery: restore the backup into a new directory, re-ingest what
    // came after (here: the whole input again; recorded lines are duplicates)
    let restored = tmp.path().join("restored");
    let r = json(&run(&restored, &["restore", file.to_str().unwrap()], None));
    assert_eq!(r["records"], b["records"]);
    assert_eq!(r["head_hash"], b["head_hash"]);
    let v = json(&run(&restored, &["verify"], None));
    assert_eq!(v["records"].as_u64(), Some(records));
    let again = run(&restored, &["ingest", "-"], Some(&(first + &rest)));
    assert!(again.status.success());
    let after = json(&run(&restored, &["verify"], None));
    assert_eq!(after["records"], before["records"]);
    assert_eq!(after["head_hash"], before["head_hash"]);
    assert_eq!(after["state_digest"], before["state_digest"]);

    // restoring over a non-empty directory is refused and changes nothing
    let refused = run(&data, &["restore", file.to_str().unwrap()], None);
    assert!(!refused.status.success());
    assert_eq!(json(&run(&data, &["verify"], None))["head_hash"], before["head_hash"]);
}
