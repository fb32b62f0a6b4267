//! Tidy checks that keep `ARCHITECTURE.md` a true map of the code (in the
//! spirit of rust-analyzer's `tidy.rs`):
//! - every path it names exists;
//! - every `src` file of every crate (and of `benches`) is named in it;
//! - the dependency list under "## Dependency graph" equals the workspace
//!   dependencies each crate's `Cargo.toml` declares.
//!
//! A path in backticks is read relative to the section's crate (its `src/`
//! first, then the crate folder) unless it starts at the repository root
//! (`crates/`, `benches/`, `fuzz/`, `docs/`, …). `a/{b, c}.rs` names
//! `a/b.rs` and `a/c.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn architecture() -> String {
    std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md is readable")
}

/// The folder a `## ` heading is about, if it names one.
fn section_dir(heading: &str) -> Option<String> {
    let first = heading.trim_start_matches('#').split_whitespace().next()?;
    let first = first.trim_end_matches('/');
    if first.starts_with("crates/") || first == "benches" || first == "fuzz" {
        Some(first.to_string())
    } else {
        None
    }
}

/// `a/{b, c}.rs` → [`a/b.rs`, `a/c.rs`]; anything else → itself.
fn expand_braces(s: &str) -> Vec<String> {
    match (s.find('{'), s.find('}')) {
        (Some(open), Some(close)) if open < close => {
            let (head, tail) = (&s[..open], &s[close + 1..]);
            s[open + 1..close].split(',').map(|part| format!("{head}{}{tail}", part.trim())).collect()
        }
        _ => vec![s.to_string()],
    }
}

/// Paths in backticks on a line: text ending in a known file extension or
/// `/`, without spaces (but for brace lists) or `::`.
fn path_tokens(line: &str) -> Vec<String> {
    const EXTS: [&str; 6] = [".rs", ".md", ".toml", ".bin", ".jsonl", ".txt"];
    let mut out = Vec::new();
    // the odd pieces of a split on backticks are the quoted texts
    for t in line.split('`').skip(1).step_by(2).map(str::trim) {
        let pathish = EXTS.iter().any(|e| t.ends_with(e)) || t.ends_with('/');
        if pathish && (!t.contains(' ') || t.contains('{')) && !t.contains("::") {
            out.extend(expand_braces(t));
        }
    }
    out
}

/// Every (section folder, path) named in the document.
fn named_paths(doc: &str) -> Vec<(Option<String>, String)> {
    let mut section: Option<String> = None;
    let mut in_code = false;
    let mut out = Vec::new();
    for line in doc.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if line.starts_with("## ") {
            section = section_dir(line);
        }
        for p in path_tokens(line) {
            out.push((section.clone(), p));
        }
    }
    out
}

const ROOT_PREFIXES: [&str; 7] = ["crates/", "benches/", "fuzz/", "docs/", ".ci/", "README.md", "Cargo.toml"];

/// Where a named path can be found, if it exists.
fn resolve(section: &Option<String>, p: &str) -> Option<PathBuf> {
    let root = root();
    // `fuzz/corpus/<target>/`: the folder before the placeholder must exist
    let p = p.split('<').next().unwrap_or(p);
    let mut candidates = Vec::new();
    if ROOT_PREFIXES.iter().any(|r| p.starts_with(r)) || p.ends_with(".md") && !p.contains('/') {
        candidates.push(root.join(p));
    }
    if let Some(dir) = section {
        candidates.push(root.join(dir).join("src").join(p));
        candidates.push(root.join(dir).join(p));
    }
    candidates.push(root.join(p));
    candidates.into_iter().find(|c| c.exists()).map(|c| c.canonicalize().expect("an existing path canonicalizes"))
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries {
        let path = e.expect("a readable directory entry").path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path.canonicalize().expect("an existing path canonicalizes"));
        }
    }
}

/// The workspace's package folders: `crates/*` and `benches`.
fn package_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .expect("crates/ is readable")
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    dirs.push(root().join("benches"));
    dirs.sort();
    dirs
}

#[test]
fn every_named_path_exists() {
    let doc = architecture();
    let missing: Vec<String> = named_paths(&doc)
        .into_iter()
        .filter(|(s, p)| resolve(s, p).is_none())
        .map(|(s, p)| format!("`{p}` (section {})", s.unwrap_or_else(|| "-".into())))
        .collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md names paths that do not exist:\n{}", missing.join("\n"));
}

#[test]
fn every_source_file_is_named() {
    let doc = architecture();
    let named: BTreeSet<PathBuf> = named_paths(&doc).iter().filter_map(|(s, p)| resolve(s, p)).collect();
    let mut unnamed = Vec::new();
    for dir in package_dirs() {
        let mut files = Vec::new();
        rs_files(&dir.join("src"), &mut files);
        for f in files {
            if !named.contains(&f) {
                unnamed.push(f.display().to_string());
            }
        }
    }
    assert!(unnamed.is_empty(), "source files ARCHITECTURE.md does not name:\n{}", unnamed.join("\n"));
}

/// The workspace crates a manifest's `[dependencies]` table names.
fn manifest_deps(manifest: &str) -> (String, BTreeSet<String>) {
    let mut name = String::new();
    let mut deps = BTreeSet::new();
    let mut table = String::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            table = line.to_string();
            continue;
        }
        let key = line.split(['=', '.', ' ']).next().unwrap_or("").trim();
        if table == "[package]" && key == "name" {
            name = line.split('"').nth(1).expect("a quoted package name").to_string();
        }
        if table == "[dependencies]" && key.starts_with("cardledger") {
            deps.insert(key.to_string());
        }
    }
    (name, deps)
}

/// `crate -> a, b` lines of the code block under "## Dependency graph".
fn drawn_graph(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let section =
        doc.split("\n## Dependency graph").nth(1).expect("ARCHITECTURE.md has a '## Dependency graph' section");
    let block = section.split("```").nth(1).expect("the graph section holds a code block");
    let mut graph = BTreeMap::new();
    for line in block.lines().filter(|l| l.contains("->")) {
        let (from, to) = line.split_once("->").expect("an arrow");
        let deps: BTreeSet<String> =
            to.split(',').map(|d| d.trim().to_string()).filter(|d| !d.is_empty() && d != "(nothing)").collect();
        assert!(graph.insert(from.trim().to_string(), deps).is_none(), "{} is drawn twice", from.trim());
    }
    graph
}

#[test]
fn dependency_graph_matches_manifests() {
    let drawn = drawn_graph(&architecture());
    let mut actual = BTreeMap::new();
    for dir in package_dirs() {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("a readable manifest");
        let (name, deps) = manifest_deps(&manifest);
        actual.insert(name, deps);
    }
    assert_eq!(drawn, actual, "ARCHITECTURE.md's dependency graph (left) differs from the manifests (right)");
}

#[test]
fn brace_expansion_and_path_tokens() {
    assert_eq!(expand_braces("state/{mod, decide}.rs"), ["state/mod.rs", "state/decide.rs"]);
    assert_eq!(path_tokens("- `money.rs` — `Money`: see `docs/format.md` and `a b`"), ["money.rs", "docs/format.md"]);
}
