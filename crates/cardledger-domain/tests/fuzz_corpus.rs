//! Replays the checked-in fuzz corpora of the domain's fuzz bodies
//! (`fuzz/corpus/parse_line/`, `fuzz/corpus/decode_fact/`) on the stable
//! toolchain: every saved input runs through the function cargo-fuzz drives.
//! The seeds are (re)written by the core crate's `fuzz_corpus` test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

#[test]
fn parse_line_corpus_replays_without_panic() {
    let all = inputs("parse_line");
    assert!(all.len() >= 20, "the parse_line corpus has {} inputs", all.len());
    let mut accepted = 0;
    for (path, bytes) in &all {
        let ok = std::panic::catch_unwind(|| cardledger_domain::fuzz_parse_line(bytes));
        assert!(ok.is_ok(), "{} panics", path.display());
        accepted +=
            usize::from(std::str::from_utf8(bytes).is_ok_and(|t| cardledger_domain::wire::parse_line(t).is_ok()));
    }
    assert!(accepted >= 10, "the corpus keeps valid commands ({accepted})");
}

#[test]
fn decode_fact_corpus_replays_without_panic() {
    let all = inputs("decode_fact");
    assert!(all.len() >= 10, "the decode_fact corpus has {} inputs", all.len());
    let mut decoded = 0;
    for (path, bytes) in &all {
        let ok = std::panic::catch_unwind(|| cardledger_domain::fuzz_decode_fact(bytes));
        assert!(ok.is_ok(), "{} panics", path.display());
        decoded += usize::from(cardledger_domain::decode_fact(bytes).is_ok());
    }
    assert!(decoded >= 10, "the corpus keeps valid facts ({decoded})");
}

#[test]
fn the_fuzz_ledger_is_populated() {
    let l = cardledger_domain::fuzz::seeded_ledger();
    assert_eq!(l.head_seq, cardledger_domain::fuzz::SEED_LINES.len() as u64, "every seed line is accepted");
    assert!(l.total().is_zero());
}
