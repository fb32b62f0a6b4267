//! Replays the checked-in fuzz corpora of the storage and codec fuzz bodies
//! (`fuzz/corpus/<target>/`) on the stable toolchain, so every `cargo test`
//! runs each saved input through the same function cargo-fuzz drives.
//!
//! `CARDLEDGER_WRITE_CORPUS=1 cargo test -p cardledger-core --test fuzz_corpus`
//! (re)writes the seed inputs of `parse_line`, `decode_fact` and
//! `decode_frame` from a generated workload before replaying.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::{Path, PathBuf};

use cardledger_core::fuzz::{fuzz_decode_frame, sample_frame_input};
use cardledger_domain::event::Recorded;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::Timestamp;
use cardledger_domain::{encode_fact, wire};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

#[test]
fn decode_frame_corpus_replays_without_panic() {
    if std::env::var_os("CARDLEDGER_WRITE_CORPUS").is_some() {
        write_seeds();
    }
    let all = inputs("decode_frame");
    assert!(all.len() >= 20, "the decode_frame corpus has {} inputs", all.len());
    let mut valid = 0;
    for (path, bytes) in &all {
        let ok = std::panic::catch_unwind(|| fuzz_decode_frame(bytes));
        assert!(ok.is_ok(), "{} panics", path.display());
        if let Some((k, rest)) = bytes.split_first_chunk::<8>() {
            valid += usize::from(cardledger_core::record::decode_frame(u64::from_be_bytes(*k), rest).is_ok());
        }
    }
    assert!(valid >= 10, "the corpus keeps valid frames so mutations start from real ones ({valid})");
}

/// Seeds from a realistic workload: its lines, the facts it records, and
/// frames of one to a few of those facts.
fn write_seeds() {
    let cfg = cardledger_workload::WorkloadConfig { seed: 5, days: 3, holders: 8, ..Default::default() };
    let lines: Vec<String> = cardledger_workload::generate(&cfg).collect();
    let mut ledger = Ledger::default();
    let mut facts: Vec<(String, Vec<u8>)> = Vec::new();
    for line in &lines {
        let Ok(cmd) = wire::parse_line(line) else { continue };
        let time = cmd.time.unwrap_or(Timestamp(0));
        if let Decision::Accept(fact) = ledger.decide(&cmd, time) {
            facts.push((fact.event.kind().to_string(), encode_fact(&fact).unwrap()));
            let seq = ledger.head_seq + 1;
            ledger.apply(&Recorded { seq, time, fact });
        }
    }
    // one line and one fact per kind, plus the fuzz ledger's seed lines
    let mut kinds = std::collections::BTreeMap::new();
    for (kind, bytes) in &facts {
        kinds.entry(kind.clone()).or_insert_with(|| bytes.clone());
    }
    let mut line_kinds = std::collections::BTreeMap::new();
    for l in &lines {
        let key: String = l.split('"').nth(3).unwrap_or("").to_string();
        line_kinds.entry(key).or_insert_with(|| l.clone());
    }
    let mut line_seeds: Vec<Vec<u8>> = line_kinds.into_values().map(String::into_bytes).collect();
    line_seeds.extend(cardledger_domain::fuzz::SEED_LINES.iter().map(|l| l.as_bytes().to_vec()));
    write_all("parse_line", &line_seeds);
    write_all("decode_fact", &kinds.values().cloned().collect::<Vec<_>>());
    let mut frames = Vec::new();
    let payloads: Vec<&[u8]> = kinds.values().map(Vec::as_slice).collect();
    for (i, p) in payloads.iter().enumerate() {
        frames.push(sample_frame_input(1 + i as u64, &[p]).unwrap());
    }
    for n in [2usize, 3, 4, 5, 8, 13] {
        frames.push(sample_frame_input(100, &payloads[..n.min(payloads.len())]).unwrap());
    }
    frames.push(sample_frame_input(7, &[b"", b"x"]).unwrap());
    write_all("decode_frame", &frames);
}

fn write_all(target: &str, seeds: &[Vec<u8>]) {
    let dir = corpus(target);
    std::fs::create_dir_all(&dir).unwrap();
    for s in seeds {
        let name = format!("seed-{}", &blake3::hash(s).to_hex()[..16]);
        std::fs::write(dir.join(name), s).unwrap();
    }
}
