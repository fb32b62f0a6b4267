#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The fuzz body on a seeded corpus: hand-picked queries plus deterministic
//! mutations of them (byte flips, splices, truncations). `fuzz_params` must
//! not panic on any of them, and the valid ones must really run.

use cardledger_query::fuzz::sample_table;
use cardledger_query::{fuzz_params, pairs_from_query, parse_params, run, Principal, Rates};

const SEEDS: &[&str] = &[
    "program=p1",
    "program=p1,p2&fields=amount_to_send,corrected_post_date&count=3&start_index=2",
    "program=p1&amount_to_send=-1500..-1200&sort_by=-deposit&totals=true",
    "program=p1&currency=EUR&totals=true&transactions=1,3,5",
    "program=p2&start_date=2019-11-03&end_date=2019-11-05&bank=bank_a",
    "program=p1&last_modified_time=>=2019-11-09T00:00:01Z&ratio=<0.5",
    "program=p1&deposit=>1&fields=deposit&compress=zip",
    "program=p3&count=10000&start_index=18446744073709551615",
    "program=%70%31&amount_to_send=%3E%3D-5",
    "program=p1&sort_by=bank&expand=a,b",
];

/// xorshift64*: a fixed, dependency-free sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const ALPHABET: &[u8] = b"=&,.-<>!%0123456789abpz_ \xff\x00";

#[test]
fn seeds_are_valid_queries() {
    let table = sample_table();
    let rates = Rates::new().with("USD", "EUR", "0.91".parse().unwrap());
    for seed in SEEDS {
        let params = parse_params(&pairs_from_query(seed)).unwrap_or_else(|e| panic!("{seed}: {e}"));
        run(&table, &params, &Principal::all(), &rates, None).unwrap_or_else(|e| panic!("{seed}: {e}"));
    }
}

#[test]
fn fuzz_body_survives_a_seeded_corpus() {
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut runs = 0;
    for seed in SEEDS {
        fuzz_params(seed.as_bytes());
        for _ in 0..300 {
            let mut bytes = seed.as_bytes().to_vec();
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                match rng.below(4) {
                    0 => bytes.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    2 => {
                        let other = SEEDS[rng.below(SEEDS.len())].as_bytes();
                        let from = rng.below(other.len());
                        bytes.splice(at..at, other[from..].iter().copied());
                    }
                    _ => bytes.truncate(at),
                }
            }
            fuzz_params(&bytes);
            runs += 1;
        }
    }
    assert_eq!(runs, SEEDS.len() * 300);
    // Degenerate inputs.
    for bytes in [&b""[..], b"&", b"=", b"==&&==", b"%", b"%%%%", b"program", b"program=\xff\xfe", &[0u8; 64]] {
        fuzz_params(bytes);
    }
}

/// The checked-in cargo-fuzz corpus (`fuzz/corpus/query_params/`) replays
/// through the same body the `query_params` target drives, and its valid
/// queries really run.
#[test]
fn checked_in_corpus_replays_without_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/query_params");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 50, "the query_params corpus has {} inputs", files.len());
    let table = sample_table();
    let mut valid = 0;
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let ok = std::panic::catch_unwind(|| fuzz_params(&bytes));
        assert!(ok.is_ok(), "{} panics", path.display());
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(params) = parse_params(&pairs_from_query(&text)) {
            valid += usize::from(run(&table, &params, &Principal::all(), &Rates::new(), None).is_ok());
        }
    }
    assert!(valid >= 8, "the corpus keeps valid queries ({valid})");
}
