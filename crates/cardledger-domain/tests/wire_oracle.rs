//! The borrowed-tree parser (`wire::parse_line`, `wire::parse_value`)
//! answers exactly as the `serde_json::Value` parser it replaced (kept in
//! `wire_oracle/old_wire.rs` as the oracle): the same command or the same
//! rejection (code, field, message — serde_json's position included) on
//! generated lines, the scenario and fuzz corpora, a table of bad lines and
//! proptest mutations of all of them. Generated tokens (UUID v4) are masked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

#[path = "wire_oracle/old_wire.rs"]
mod old_wire;
#[path = "support/uuid_mask.rs"]
mod uuid_mask;

use cardledger_domain::wire;
use proptest::prelude::*;
use uuid_mask::mask_uuids;

/// Whether the fast path read `line`; when it did, its tree must be the one
/// serde_json's parser builds (so the answer is the slow path's answer).
fn fast(line: &str) -> bool {
    match wire::fast_path_agrees(line) {
        Some(agrees) => {
            assert!(agrees, "the fast path's tree differs for {line:?}");
            true
        }
        None => false,
    }
}

/// Whether the fast path without a tree read `line`; when it did, its answer
/// must be the old parser's.
fn direct(line: &str) -> bool {
    match wire::direct_path(line) {
        Some(answer) => {
            let old = old_wire::parse_line(line);
            assert_eq!(mask_uuids(&format!("{answer:?}")), mask_uuids(&format!("{old:?}")), "direct {line:?}");
            true
        }
        None => false,
    }
}

/// Both parsers on one line (and, when it is JSON, on its `Value`); returns
/// whether the new one accepted it. Both fast paths are checked too.
fn same(line: &str) -> bool {
    fast(line);
    direct(line);
    let new = wire::parse_line(line);
    let old = old_wire::parse_line(line);
    assert_eq!(mask_uuids(&format!("{new:?}")), mask_uuids(&format!("{old:?}")), "line {line:?}");
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
        let (n, o) = (wire::parse_value(&v), old_wire::parse_value(&v));
        assert_eq!(mask_uuids(&format!("{n:?}")), mask_uuids(&format!("{o:?}")), "value of {line:?}");
    }
    new.is_ok()
}

fn generated() -> Vec<String> {
    let cfg = cardledger_workload::WorkloadConfig { holders: 40, days: 20, credit_accounts: 8, ..Default::default() };
    let mut lines: Vec<String> = cardledger_workload::generate(&cfg).collect();
    lines.extend(cardledger_workload::generate_bulk(7, 3_000));
    lines
}

fn corpus_lines() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(root.join("tests/scenarios")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        lines.extend(text.lines().filter_map(|l| l.strip_prefix("> ")).map(str::to_string));
    }
    let fuzz = root.join("../../fuzz/corpus/parse_line");
    for entry in std::fs::read_dir(fuzz).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        if let Ok(t) = String::from_utf8(bytes) {
            lines.push(t);
        }
    }
    lines
}

/// Lines written to reach every rejection the parser has, and the corners
/// of serde_json's `Value` the new tree must copy.
fn bad_lines() -> Vec<String> {
    let gpa = |body: &str| format!(r#"{{"gpa_order":{{"token":"o","user_token":"u","currency_code":"USD",{body}}}}}"#);
    let mut v: Vec<String> = [
        "", " ", "\t", "{", "}", "[1]", "\"user\"", "5", "null", "true", "{}", "{\"user\": 5}", "{\"user\": null}",
        r#"{"user": {"token":"a","program_token":"p1"}} trailing"#,
        r#"{"user": {"token":"a","program_token":"p1"}, "business": {"token":"b","program_token":"p1"}}"#,
        r#"{"user": {"token":"a","program_token":"p1"}, "user": {"token":"b","program_token":"p1"}}"#,
        r#"{"user": {"token":"a","program_token":"p1","token":"z"}}"#,
        r#"{"user": {"token":"a","program_token":"p1","x":1,"y":2}}"#,
        r#"{"user": {"y":1,"token":"a","x":2}}"#,
        r#"{"time":"2020-01-01T00:00:00Z","time":5,"user":{"token":"a","program_token":"p"}}"#,
        r#"{"time":5,"time":"2020-01-01T00:00:00Z","user":{"token":"a","program_token":"p"}}"#,
        r#"{"time":null,"user":{"token":"a","program_token":"p"}}"#,
        r#"{"user":{"token":"a","program_token":"p"},"time":"2020-01-01"}"#,
        r#"{"us\u0065r":{"tok\u0065n":"\u00e9\"\\","program_token":"p"}}"#,
        r#"{"user":{"token":"","program_token":"p"}}"#,
        r#"{"user":{"token":"0123456789012345678901234567890123456","program_token":"p"}}"#,
        r#"{"user":{"token":"ééééééééééééééééééééééééééééééééééé","program_token":"p"}}"#,
        r#"{"$serde_json::private::Number":"12"}"#,
        r#"{"$serde_json::private::Number":"x"}"#,
        r#"{"$serde_json::private::Number":5}"#,
        r#"{"$serde_json::private::Number":"1","a":2}"#,
        r#"{"user":{"$serde_json::private::Number":"12"}}"#,
        r#"{"program_deposit":{"program_token":"p","amount":{"$serde_json::private::Number":"12.5"},"currency_code":"USD"}}"#,
        r#"{"program":{"token":"p","bank":"B","currency_code":"USD","reserve":{"days":3,"window_days":0}}}"#,
        r#"{"program":{"token":"p","bank":"B","currency_code":"USD","reserve":{"days":-3}}}"#,
        r#"{"program":{"token":"p","bank":"B","currency_code":"USD","reserve":{"days":3.0}}}"#,
        r#"{"program":{"token":"p","bank":"B","currency_code":"USD","reserve":{"days":1e1}}}"#,
        r#"{"program":{"token":"p","bank":"B","currency_code":"USD","reserve":{"days":99999999999}}}"#,
        r#"{"program":{"token":"p","bank":"B","currency_code":"USD","reserve":{"days":3,"minimum_amount":"-1"}}}"#,
        r#"{"program":{"token":"p","bank":"B","currency_code":"USD","reserve":{"days":3,"x":1}}}"#,
        r#"{"program":{"token":"p","bank":"B","currency_code":"USD","reserve":[]}}"#,
        r#"{"program":{"token":"p","bank":"B","currency_code":"840","opening_bank_balance":-12.5}}"#,
        r#"{"program":{"token":"p","bank":"B","currency_code":"USD","reporting_timezone":"Mars/Olympus"}}"#,
        r#"{"program":{"token":"p","bank":"B","currency_code":"USD","reporting_timezone":"Mars Olympus"}}"#,
        r#"{"program":{"token":"p","bank":"B","currency_code":"USD","funding_alert_threshold":"-0.01"}}"#,
        r#"{"credit_account":{"user_token":"u","program_token":"p","credit_limit":100,"apr":"19.99","billing_cycle_day":29}}"#,
        r#"{"credit_account":{"user_token":"u","program_token":"p","credit_limit":100,"apr":"19.999999"}}"#,
        r#"{"credit_account":{"user_token":"u","program_token":"p","credit_limit":100,"apr":" 5 "}}"#,
        r#"{"credit_account":{"user_token":"u","program_token":"p","credit_limit":100,"apr":-1}}"#,
        r#"{"credit_account":{"user_token":"u","program_token":"p","credit_limit":100,"apr":"x"}}"#,
        r#"{"credit_account":{"user_token":"u","program_token":"p","credit_limit":100,"apr":5,"min_payment":{"flat_amount":"1.234"}}}"#,
        r#"{"credit_account":{"user_token":"u","program_token":"p","credit_limit":100,"apr":5,"min_payment":{"include_fees_charged":["A",5]}}}"#,
        r#"{"credit_account":{"user_token":"u","program_token":"p","credit_limit":100,"apr":5,"min_payment":{"include_fees_charged":"A"}}}"#,
        r#"{"credit_account":{"user_token":"u","program_token":"p","credit_limit":100,"apr":5,"allocation_order":["FEES","INTEREST","PRINCIPAL"]}}"#,
        r#"{"credit_account":{"user_token":"u","program_token":"p","credit_limit":100,"apr":5,"interest_on_grace_reactivation":"NO"}}"#,
        r#"{"credit_account":{"user_token":"u","program_token":"p","credit_limit":100,"apr":5,"opened_time":"2024-02-30"}}"#,
        r#"{"funding_source":{"program_token":"p","type":"gold"}}"#,
        r#"{"funding_source":{"type":"program"}}"#,
        r#"{"funding_source":{"type":"program","program_token":"p","user_token":"u"}}"#,
        r#"{"funding_source":{"type":"ach"}}"#,
        r#"{"funding_source":{"type":"ach","user_token":"u","business_token":"b"}}"#,
        r#"{"fee":{"token":"f","name":"x","amount":1,"currency_code":"USD","active":"yes"}}"#,
        r#"{"fee":{"token":"f","name":"x","amount":1,"currency_code":"EUR"}}"#,
        r#"{"fee":{"token":"f","name":"x","amount":1,"currency_code":5}}"#,
        r#"{"tick":{}}"#,
        r#"{"tick":{"now":"2024-01-01T00:00:00Z","x":1}}"#,
        r#"{"tick":{"now":"2024-01-01"}}"#,
        r#"{"msa_order_update":{"token":"m","active":null,"start_date":"2024-01-01"}}"#,
        r#"{"fee_transfer":{"user_token":"u","fees":[]}}"#,
        r#"{"fee_transfer":{"user_token":"u","fees":[{"token":"f","memo":5}]}}"#,
        r#"{"fee_transfer":{"user_token":"u","fees":[5]}}"#,
        r#"{"fee_transfer":{"user_token":"u","fees":{}}}"#,
        r#"{"fee_transfer":{"user_token":"u"}}"#,
        r#"{"journal_entry":{"type":"authorization","user_token":"u","account_token":"a","amount":1,"currency_code":"USD","status":"PENDING"}}"#,
        r#"{"journal_entry":{"type":"authorization","amount":1,"currency_code":"USD","status":"PENDING"}}"#,
        r#"{"journal_entry":{"type":"authorization","user_token":"u","amount":1,"currency_code":"USD","status":"NOPE"}}"#,
        r#"{"journal_entry":{"type":"authorization","user_token":"u","amount":9.11,"currency_code":"USD","status":"POSTED","network":"visa","pin_present":1}}"#,
        r#"{"gpa_unload":{"token":"x1","amount":5}}"#,
        r#"{"gpa_unload":{"token":"x1","original_order_token":"o","amount":5,"corrected_post_date":"2024-13-01"}}"#,
        r#"{"msa_unload":{"token":"x1","original_order_token":"o","amount":5,"corrected_post_date":"2024-01-01"}}"#,
        // a command's own error and its corrected_post_date's: the command's comes first
        r#"{"gpa_unload":{"token":"x1","amount":5,"corrected_post_date":"2024-13-01"}}"#,
        r#"{"program_deposit":{"program_token":"p","amount":"1.005","currency_code":"USD","corrected_post_date":5}}"#,
        r#"{"journal_entry":{"type":"pindebit","user_token":"u","amount":1,"currency_code":"USD","status":"NOPE","corrected_post_date":"x"}}"#,
        r#"{"journal_entry":{"type":"pindebit","user_token":"u","amount":1,"currency_code":"USD","status":"POSTED","corrected_post_date":"x"}}"#,
        r#"{"user":{"token":"a","program_token":"p","corrected_post_date":"2024-01-01"}}"#,
        r#"{"bogus_order":{"token":"x"}}"#,
        r#"{"user":{"token":"a","program_token":"p"},"time":"yesterday"}"#,
        r#"{"a":{"b":{"c":{"d":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}}}}"#,
        r#"{"user":{"token":"a","program_token":"p"}}   "#,
        "\u{feff}{\"user\":{\"token\":\"a\",\"program_token\":\"p\"}}",
        r#"{"user":{"token":"a\ud800","program_token":"p"}}"#,
        r#"{"user":{"token":"a","program_token":"p",}}"#,
        r#"{"user":{"token":"a","program_token":"p"},}"#,
        r#"{'user':{}}"#,
        r#"{"user":{"token":"a" "program_token":"p"}}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for amount in [
        "true",
        "null",
        "[]",
        "{}",
        "-5",
        "0",
        "-0",
        "\"0.00\"",
        "\"1.005\"",
        "1e12",
        "1E2",
        "1.5e-1",
        "\"ten\"",
        "1.",
        ".5",
        "01",
        "-",
        "\"  7 \"",
        "\"+7\"",
        "99999999999999999999999",
        "-99999999999999999999999",
        "123456789012.34",
        "999999999999.99",
        "\"1,000\"",
        "\"\"",
        "5.10",
        "0.001",
    ] {
        v.push(gpa(&format!(r#""amount":{amount}"#)));
    }
    v.push(gpa(
        r#""amount":5,"funding_source_token":"fs","memo":"m","tags":"t","fees":[{"token":"f"}],"colour":"red""#,
    ));
    v.push(gpa(r#""amount":5,"business_token":"b""#));
    v.push("x".repeat(cardledger_domain::limits::LINE_BYTES_MAX + 1));
    v.push(" ".repeat(cardledger_domain::limits::LINE_BYTES_MAX));
    let deep = format!(r#"{{"user":{}{}}}"#, "[".repeat(200), "]".repeat(200));
    v.push(deep);
    v
}

#[test]
fn generated_lines_parse_the_same() {
    let lines = generated();
    let accepted = lines.iter().filter(|l| same(l)).count();
    assert_eq!(accepted, lines.len(), "every generated line is a command");
    // the workload's lines are all the fast path's
    let fast_read = lines.iter().filter(|l| fast(l)).count();
    assert_eq!(fast_read, lines.len(), "the fast path reads every generated line");
    let direct_read = lines.iter().filter(|l| direct(l)).count();
    assert_eq!(direct_read, lines.len(), "the fast path without a tree reads every generated line");
}

#[test]
fn the_corpora_parse_the_same() {
    let lines = corpus_lines();
    assert!(lines.len() > 1_000, "{} corpus lines", lines.len());
    let accepted = lines.iter().filter(|l| same(l)).count();
    // both outcomes are exercised, so the comparison is not vacuous
    assert!(accepted > 100 && accepted < lines.len(), "{accepted} of {}", lines.len());
    // and both paths: the fast one reads many lines, declines many others
    let fast_read = lines.iter().filter(|l| fast(l)).count();
    eprintln!("corpus lines: the fast path read {fast_read} of {}", lines.len());
    assert!(fast_read > 100 && fast_read < lines.len(), "fast path: {fast_read} of {}", lines.len());
    // the path without a tree: lines it answers, accepted and rejected
    let direct_read: Vec<&String> = lines.iter().filter(|l| direct(l)).collect();
    let direct_rejected = direct_read.iter().filter(|l| wire::parse_line(l).is_err()).count();
    eprintln!("corpus lines: the path without a tree read {} ({direct_rejected} rejected)", direct_read.len());
    assert!(
        direct_read.len() > 100 && direct_read.len() < fast_read,
        "direct path: {} of {fast_read}",
        direct_read.len()
    );
    assert!(direct_rejected > 20, "direct path rejected {direct_rejected}");
}

#[test]
fn bad_lines_are_rejected_the_same() {
    for line in bad_lines() {
        same(&line);
    }
    // and they are rejections: the table is not a table of commands
    let rejected = bad_lines().iter().filter(|l| wire::parse_line(l).is_err()).count();
    assert!(rejected * 10 > bad_lines().len() * 8, "{rejected} of {} rejected", bad_lines().len());
}

/// Tokens and texts at their limits in characters, in one-, two- and
/// four-byte characters (longer in bytes than the limit, not in
/// characters): the rules count characters, whatever the bytes.
#[test]
fn lengths_at_the_limits_parse_the_same() {
    let gpa = |body: &str| format!(r#"{{"gpa_order":{{"token":"o","user_token":"u","currency_code":"USD",{body}}}}}"#);
    let (token, name) = (cardledger_domain::limits::TOKEN_CHARS_MAX, cardledger_domain::limits::NAME_CHARS_MAX);
    let memo = cardledger_domain::limits::MEMO_CHARS_MAX;
    let mut v = Vec::new();
    for c in ["x", "é", "\u{1f600}"] {
        for n in [0, 1, token - 1, token, token + 1] {
            v.push(format!(r#"{{"user":{{"token":"{}","program_token":"p"}}}}"#, c.repeat(n)));
        }
        for n in [name - 1, name, name + 1] {
            v.push(format!(r#"{{"campaign":{{"token":"c","name":"{}"}}}}"#, c.repeat(n)));
        }
        for n in [memo - 1, memo, memo + 1] {
            v.push(gpa(&format!(r#""amount":5,"memo":"{}""#, c.repeat(n))));
        }
    }
    let accepted = v.iter().filter(|l| same(l)).count();
    // per character: 3 tokens, 2 names and 2 memos within the limits
    assert_eq!(accepted, 3 * 7, "{accepted} of {} accepted", v.len());
}

/// Pieces spliced into lines: JSON syntax, every kind of value, keys that
/// exist and keys that do not.
const PIECES: &[&str] = &[
    ",",
    ":",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\",
    "\\u00e9",
    "\\n",
    "null",
    "true",
    "false",
    "0",
    "-0",
    "1e3",
    "1.005",
    "-7",
    "99999999999999999999",
    "\"5\"",
    "\"x\"",
    "[]",
    "{}",
    "\"token\":",
    "\"amount\":",
    "\"time\":",
    "\"user\":",
    "\"user_token\":",
    "\"business_token\":",
    "\"currency_code\":\"EUR\",",
    "\"fees\":[{\"token\":\"f\"}],",
    "\"$serde_json::private::Number\":",
    "é",
    " ",
    "\"2024-01-01T00:00:00Z\"",
    "\"corrected_post_date\":\"2024-01-02\",",
];

fn mutate(line: &str, edits: &[(usize, usize, usize)]) -> String {
    let mut chars: Vec<char> = line.chars().collect();
    for &(kind, at, piece) in edits {
        let at = if chars.is_empty() { 0 } else { at % (chars.len() + 1) };
        match kind % 4 {
            0 => {
                if at < chars.len() {
                    chars.remove(at);
                }
            }
            1 | 2 => {
                let p: Vec<char> = PIECES[piece % PIECES.len()].chars().collect();
                chars.splice(at..at, p);
            }
            _ => {
                // replace a run of up to 6 characters
                let end = (at + piece % 7).min(chars.len());
                let p: Vec<char> = PIECES[piece % PIECES.len()].chars().collect();
                chars.splice(at..end, p);
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_lines_are_answered_the_same(
        pick in any::<usize>(),
        edits in prop::collection::vec((any::<usize>(), any::<usize>(), any::<usize>()), 0..4),
    ) {
        thread_local! {
            static SEEDS: Vec<String> = {
                let mut s = bad_lines();
                s.truncate(s.len() - 3); // not the over-long ones
                let g = generated();
                s.extend(g.iter().step_by(7).cloned());
                s.extend(corpus_lines().into_iter().filter(|l| l.len() < 2_000));
                s
            };
        }
        let line = SEEDS.with(|s| mutate(&s[pick % s.len()], &edits));
        same(&line);
    }
}

/// The mutations reach both paths: a fixed sequence of them (the proptest
/// above draws its own) is read by the fast path often and declined often.
#[test]
fn mutated_lines_reach_both_paths() {
    let mut seeds = bad_lines();
    seeds.truncate(seeds.len() - 3);
    seeds.extend(generated().into_iter().step_by(7));
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let (mut read, mut declined, mut direct_read) = (0, 0, 0);
    for _ in 0..4_000 {
        let seed = &seeds[next() % seeds.len()];
        let edits: Vec<_> = (0..next() % 3).map(|_| (next(), next(), next())).collect();
        let line = mutate(seed, &edits);
        same(&line);
        if fast(&line) {
            read += 1;
        } else {
            declined += 1;
        }
        direct_read += usize::from(direct(&line));
    }
    eprintln!("mutated lines: the fast path read {read}, declined {declined}; without a tree read {direct_read}");
    assert!(read > 500 && declined > 500, "fast path read {read}, declined {declined}");
    assert!(direct_read > 500 && direct_read < read, "the path without a tree read {direct_read} of {read}");
}
