//! Corruption campaign: random bytes of a populated data directory's files
//! are flipped, zeroed or truncated (and, through the store's test hook,
//! bytes of individual records); each damaged copy is then opened and
//! verified by the real binary in a child process, so a panic or an abort is
//! seen and counted instead of taking the test down (docs/reliability.md §2).
//!
//! Corruptions: `CARDLEDGER_CORRUPTIONS` (200 by default; the long run is
//! 1,000 or more), seed: `CARDLEDGER_SEED` (printed). The test fails on any
//! outcome where damage is reported as a good ledger with different content,
//! on a panic, an abort or a hang.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use cardledger_core::engine::Engine;
use serde_json::Value;
use support::{bin, env_u64, run, Rng};

/// How long one child may take before it counts as a hang.
const CHILD_TIME_MAX: Duration = Duration::from_secs(60);

/// What happened to one corrupted copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    /// Opening or verifying failed with a typed error naming no log seq
    /// (storage engine, meta, format): detected.
    TypedError,
    /// `verify` failed and named the first bad sequence number: detected.
    NamedSeq,
    /// Reported good and every event (chain hash) and the balances are the
    /// original ones: the damage hit bytes the store does not use.
    Intact,
    /// Reported good, but the log ends before the original head with the
    /// original chain up to there: acknowledged events silently gone.
    LostSuffix,
    /// Reported good with different content.
    Wrong,
    /// The child panicked or was killed by a signal.
    Panic,
    /// The child did not finish in time.
    Hang,
}

/// The original ledger, as the binary reports it.
struct Original {
    dir: PathBuf,
    records: u64,
    head_hash: String,
    /// Chain hash (hex) of every seq, 1-based at index seq-1.
    hashes: Vec<String>,
    /// `balances` output of some holders.
    balances: Vec<(String, Value)>,
}

#[test]
fn corrupted_data_is_detected_never_reported_good() {
    let n = env_u64("CARDLEDGER_CORRUPTIONS", 200);
    let seed = support::seed("corruption");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let original = populate(tmp.path(), seed);

    let mut counts: BTreeMap<(String, Verdict), u64> = BTreeMap::new();
    let mut failures = Vec::new();
    for i in 0..n {
        let copy = tmp.path().join(format!("copy-{i}"));
        support::copy_dir(&original.dir, &copy);
        let (what, expect_seq) = if rng.range(0, 5) == 0 {
            corrupt_record(&copy, &original, &mut rng)
        } else {
            (corrupt_file(&copy, &mut rng), None)
        };
        let (verdict, detail) = judge(&copy, &original, &mut rng);
        let kind = what.split(' ').next().unwrap_or("").to_string();
        *counts.entry((kind, verdict)).or_default() += 1;
        if std::env::var_os("CARDLEDGER_CORRUPTION_TRACE").is_some() {
            eprintln!("#{i} {what}: {verdict:?} {}", detail.chars().take(300).collect::<String>());
        }
        let named_ok = match (expect_seq, verdict) {
            (Some(seq), Verdict::NamedSeq) => detail.contains(&format!("\"first_bad_seq\":{seq},")),
            (Some(_), _) => false,
            (None, _) => true,
        };
        if matches!(verdict, Verdict::Wrong | Verdict::Panic | Verdict::Hang | Verdict::LostSuffix) || !named_ok {
            failures.push(format!("#{i} {what}: {verdict:?} (expected seq {expect_seq:?}): {detail}"));
        }
        std::fs::remove_dir_all(&copy).unwrap();
    }

    let total = |v: Verdict| counts.iter().filter(|((_, w), _)| *w == v).map(|(_, c)| c).sum::<u64>();
    let detected = total(Verdict::TypedError) + total(Verdict::NamedSeq);
    let intact = total(Verdict::Intact);
    let rate = if n > intact { detected as f64 / (n - intact) as f64 * 100.0 } else { 100.0 };
    eprintln!(
        "corruption: seed {seed}: {n} injected into a log of {} events; detected {detected} ({} typed error, {} named seq), \
         intact {intact}, lost suffix {}, wrong {}, panic {}, hang {}; detection rate {rate:.2}% of {} that changed content; {:.1}s",
        original.records,
        total(Verdict::TypedError),
        total(Verdict::NamedSeq),
        total(Verdict::LostSuffix),
        total(Verdict::Wrong),
        total(Verdict::Panic),
        total(Verdict::Hang),
        n - intact,
        started.elapsed().as_secs_f64()
    );
    for ((kind, verdict), c) in &counts {
        eprintln!("  {kind:<10} {verdict:?}: {c}");
    }
    assert!(failures.is_empty(), "{} bad outcomes:\n{}", failures.len(), failures.join("\n"));
}

/// A ledger of a few thousand events of every kind, closed cleanly, plus a
/// projection checkpoint (`rebuild`).
fn populate(root: &Path, seed: u64) -> Original {
    let dir = root.join("original");
    let gen = bin()
        .args(["generate", "--days", "10", "--holders", "120", "--seed", &(seed % 1_000_000).to_string()])
        .output()
        .unwrap();
    assert!(gen.status.success());
    let input = root.join("input.jsonl");
    std::fs::write(&input, &gen.stdout).unwrap();
    let out = run(&dir, &["ingest", input.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(run(&dir, &["rebuild"]).status.success());
    let v: Value = serde_json::from_slice(&run(&dir, &["verify"]).stdout).unwrap();
    assert_eq!(v["ok"], true);
    let (hashes, holders) = {
        let engine = Engine::open(&dir).unwrap();
        let hashes: Vec<String> =
            engine.events_from(1).map(|e| cardledger_core::record::hex(&e.unwrap().hash)).collect();
        let mut holders: Vec<String> = engine
            .state()
            .holders
            .keys()
            .map(|h| match h {
                cardledger_domain::command::Holder::User(t) => t.to_string(),
                cardledger_domain::command::Holder::Business(t) => format!("business:{t}"),
            })
            .collect();
        holders.sort();
        (hashes, holders)
    };
    let balances = holders
        .iter()
        .step_by((holders.len() / 8).max(1))
        .map(|h| (h.clone(), serde_json::from_slice(&run(&dir, &["balances", h]).stdout).unwrap()))
        .collect();
    Original {
        records: v["records"].as_u64().unwrap(),
        head_hash: v["head_hash"].as_str().unwrap().to_string(),
        hashes,
        balances,
        dir,
    }
}

/// Flips, zeroes or truncates random bytes of one random file of the
/// directory. Returns a description.
fn corrupt_file(dir: &Path, rng: &mut Rng) -> String {
    let mut files = Vec::new();
    list_files(dir, &mut files);
    files.sort();
    // half the time any file, half the time weighted by size (the log file)
    let sizes: Vec<u64> = files.iter().map(|f| std::fs::metadata(f).unwrap().len()).collect();
    let path = if rng.range(0, 2) == 0 {
        &files[rng.range(0, files.len() as u64) as usize]
    } else {
        let mut at = rng.range(0, sizes.iter().sum::<u64>().max(1));
        let i = sizes.iter().position(|&s| {
            at < s || {
                at -= s;
                false
            }
        });
        &files[i.unwrap_or(0)]
    };
    let name = path.strip_prefix(dir).unwrap().display().to_string();
    let mut bytes = std::fs::read(path).unwrap();
    let len = bytes.len() as u64;
    let what = match rng.range(0, 3) {
        _ if len == 0 => "truncate (empty file)".to_string(),
        0 => {
            let k = rng.range(1, 5);
            let at = rng.range(0, len);
            for j in 0..k {
                if let Some(b) = bytes.get_mut((at + j) as usize) {
                    *b ^= rng.range(1, 256) as u8;
                }
            }
            format!("flip {k} bytes of {name} at {at}/{len}")
        }
        1 => {
            let k = rng.range(1, 513);
            let at = rng.range(0, len);
            let end = (at + k).min(len);
            bytes[at as usize..end as usize].fill(0);
            format!("zero {} bytes of {name} at {at}/{len}", end - at)
        }
        _ => {
            let at = rng.range(0, len);
            bytes.truncate(at as usize);
            format!("truncate {name} to {at}/{len}")
        }
    };
    std::fs::write(path, bytes).unwrap();
    what
}

/// XORs one byte of one random record through the store's test hook.
/// Returns a description and the seq `verify` must name.
fn corrupt_record(dir: &Path, original: &Original, rng: &mut Rng) -> (String, Option<u64>) {
    let seq = rng.range(1, original.records + 1);
    let offset = rng.range(0, 25) as usize; // within the smallest record
    let xor = rng.range(1, 256) as u8;
    let engine = Engine::open(dir).unwrap();
    engine.store().debug_corrupt_record(seq, offset, xor).unwrap();
    (format!("record seq {seq} byte {offset} ^ {xor:#04x}"), Some(seq))
}

fn list_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            list_files(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

/// Runs `verify` (and, if it passes, `balances`) on the damaged copy in
/// child processes and classifies the outcome.
fn judge(dir: &Path, original: &Original, rng: &mut Rng) -> (Verdict, String) {
    let (code, stdout, stderr) = match child(dir, &["verify"]) {
        Ok(r) => r,
        Err(v) => return (v, String::new()),
    };
    let detail = format!("exit {code:?} stdout {} stderr {}", stdout.trim(), stderr.trim());
    if code != Some(0) && code != Some(1) || stderr.contains("panicked") {
        return (Verdict::Panic, detail);
    }
    let Ok(v) = serde_json::from_str::<Value>(stdout.trim()) else { return (Verdict::Wrong, detail) };
    if code == Some(1) {
        assert_eq!(v["ok"], false, "{detail}");
        let compact = v.to_string();
        return match v["first_bad_seq"].as_u64() {
            Some(seq) if seq >= 1 => (Verdict::NamedSeq, compact),
            _ => (Verdict::TypedError, compact),
        };
    }
    let records = v["records"].as_u64().unwrap_or(0);
    let hash = v["head_hash"].as_str().unwrap_or("");
    if records == original.records && hash == original.head_hash {
        let (holder, want) = &original.balances[rng.range(0, original.balances.len() as u64) as usize];
        return match child(dir, &["balances", holder]) {
            Ok((Some(0), out, _)) if serde_json::from_str::<Value>(out.trim()).ok().as_ref() == Some(want) => {
                (Verdict::Intact, detail)
            }
            Ok((code, out, err)) => (Verdict::Wrong, format!("balances of {holder}: exit {code:?} {out} {err}")),
            Err(v) => (v, format!("balances of {holder}")),
        };
    }
    if records < original.records
        && records >= 1
        && original.hashes.get(records as usize - 1).map(String::as_str) == Some(hash)
    {
        return (Verdict::LostSuffix, detail);
    }
    (Verdict::Wrong, detail)
}

/// Runs the binary with a time limit; `Err` is the verdict when it hangs or
/// dies by a signal.
fn child(dir: &Path, args: &[&str]) -> Result<(Option<i32>, String, String), Verdict> {
    let mut c = bin()
        .arg("--data")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if c.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > CHILD_TIME_MAX {
            let _ = c.kill();
            let _ = c.wait();
            return Err(Verdict::Hang);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = c.wait_with_output().unwrap();
    if out.status.code().is_none() {
        return Err(Verdict::Panic);
    }
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}
