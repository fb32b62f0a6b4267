//! Every limit lives in `crates/cardledger-domain/src/limits.rs`: this test
//! scans every `.rs` file of the workspace (crates, benches, fuzz) and fails
//! on a `const …_MAX` defined anywhere else. Other crates re-export a limit
//! under a local name with `pub use cardledger_domain::limits::…`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::{Path, PathBuf};

/// Directories still allowed to define `_MAX` constants, each with why.
/// Each entry says why its constants are not limits of the engine.
const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "crates/cardledger-cli/tests",
        "test-harness bounds (kill delays, resend window, child timeouts) of the crash and corruption tests: settings of the tests, not limits of the engine",
    ),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// The `_MAX` constants a source text defines: `(line number, name)`.
fn max_consts(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut words = code.split(|c: char| c.is_whitespace() || c == ':').filter(|w| !w.is_empty());
        while let Some(w) = words.next() {
            if w == "const" {
                if let Some(name) = words.next() {
                    if name.ends_with("_MAX") {
                        found.push((i + 1, name.to_string()));
                    }
                }
                break;
            }
        }
    }
    found
}

#[test]
fn the_scanner_finds_what_it_should() {
    // spelt with a placeholder so that this file defines no such constant
    let text = "pub KONST A_MAX: usize = 1;\n// KONST B_MAX: u8 = 2;\nKONST C_MIN: u8 = 0;\n    pub(crate) KONST D_MAX: i32 = 3;\npub use x::E_MAX;\nKONST F_MAX:u8=1;"
        .replace("KONST", "const");
    let names: Vec<String> = max_consts(&text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["A_MAX", "D_MAX", "F_MAX"]);
}

#[test]
fn every_max_constant_is_defined_in_limits_rs() {
    let root = workspace();
    let mut files = Vec::new();
    for dir in ["crates", "benches", "fuzz"] {
        if root.join(dir).is_dir() {
            rust_files(&root.join(dir), &mut files);
        }
    }
    assert!(files.len() > 50, "the scan sees the workspace ({} files)", files.len());
    let home = root.join("crates/cardledger-domain/src/limits.rs");
    assert!(!max_consts(&std::fs::read_to_string(&home).unwrap()).is_empty(), "limits.rs holds the limits");
    let mut misplaced = Vec::new();
    let mut excepted = vec![0usize; EXCEPTIONS.len()];
    for file in &files {
        if *file == home {
            continue;
        }
        let rel = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let found = max_consts(&std::fs::read_to_string(file).unwrap());
        if found.is_empty() {
            continue;
        }
        if let Some(i) = EXCEPTIONS.iter().position(|(dir, _)| rel.starts_with(&format!("{dir}/"))) {
            excepted[i] += found.len();
            continue;
        }
        for (line, name) in found {
            misplaced.push(format!("{rel}:{line}: const {name}"));
        }
    }
    assert!(
        misplaced.is_empty(),
        "limits live in crates/cardledger-domain/src/limits.rs (re-export them with `pub use`):\n{}",
        misplaced.join("\n")
    );
    for ((dir, why), n) in EXCEPTIONS.iter().zip(&excepted) {
        assert!(*n > 0, "exception {dir} holds no `_MAX` constant any more: remove it from EXCEPTIONS ({why})");
        eprintln!("note: {n} `_MAX` constants still defined in {dir}: {why}");
    }
}
