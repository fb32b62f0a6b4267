//! The dashboard in a real browser: headless Chromium loads `GET /` from a
//! `--no-auth` server on loopback, the DOM must hold each program's charts
//! with their axis labels, and a screenshot goes to
//! `target/dashboard.png`. Chromium missing is a failure, never a skip
//! (`.ci/run` installs Debian's `chromium`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(profile: &std::path::Path, extra: &[&str], url: &str) -> std::process::Output {
    if !std::path::Path::new(CHROMIUM).exists() {
        // a fresh machine: the pinned install .ci/run uses (one script)
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/install-chromium.sh");
        let status = Command::new("bash").arg(script).status().expect("running scripts/install-chromium.sh");
        assert!(status.success(), "{CHROMIUM} is missing and scripts/install-chromium.sh failed ({status})");
    }
    assert!(std::path::Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing after scripts/install-chromium.sh");
    let mut args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--no-first-run".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(url.to_string());
    let out = Command::new(CHROMIUM).args(&args).output().expect("running chromium");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn dashboard_in_headless_chromium() {
    // credentials for the seeding request; the browser uses a second,
    // --no-auth server on the same data afterwards
    let mut s = Server::start();
    s.seed();
    s.stop().unwrap();
    let data = s.data();
    let dir = tempfile::tempdir().unwrap();
    let cfg = cardledger_server::Config::new(data, "127.0.0.1:0".into(), None, true);
    let open = Server::start_config(dir, cfg);
    let url = open.url("/");

    let profile = tempfile::tempdir().unwrap();
    let out = chromium(profile.path(), &["--dump-dom"], &url);
    let dom = String::from_utf8_lossy(&out.stdout);
    for program in ["prog_alpha", "prog_beta"] {
        let start =
            dom.find(&format!("data-program=\"{program}\"")).unwrap_or_else(|| panic!("{program} missing:\n{dom}"));
        let section = &dom[start..];
        let section = &section[..section.find("</section>").unwrap()];
        for chart in ["bank", "activity", "fees"] {
            assert!(section.contains(&format!("data-chart=\"{chart}\"")), "{program}: no {chart} chart");
        }
        assert!(section.contains("class=\"x-tick\""), "{program}: no date ticks");
        assert!(section.contains("class=\"y-tick\""), "{program}: no value ticks");
        assert!(section.contains("class=\"legend-entry\""), "{program}: no legend");
        assert!(section.contains(">2024-01-"), "{program}: no dates on the x axis");
        assert!(section.contains("bank balance by day"), "{program}: no title");
    }
    assert!(dom.contains("data-chart=\"reserve\""), "the reserve program's chart");
    // the latest statement closes, per program: a table of rows, or a line saying none
    let mut rows = 0;
    for program in ["prog_alpha", "prog_beta"] {
        let start = dom.find(&format!("data-program=\"{program}\"")).unwrap();
        let section = &dom[start..];
        let section = &section[..section.find("</section>").unwrap()];
        assert!(
            section.contains("data-table=\"closes\"") || section.contains("class=\"no-closes\""),
            "{program}: no latest statement closes"
        );
        for row in section.split("<tr class=\"close\">").skip(1) {
            rows += 1;
            let cells: Vec<&str> =
                row.split("<td").skip(1).map(|c| &c[c.find('>').unwrap() + 1..c.find("</td>").unwrap()]).collect();
            assert_eq!(cells.len(), 8, "{row}");
            assert!(cells[0].starts_with("ca_"), "an account: {row}");
            assert!(cardledger::layers::domain::time::Date::parse(cells[3]).is_some(), "a closing date: {row}");
            assert!(cells[4].parse::<f64>().is_ok() && cells[5].parse::<f64>().is_ok(), "amounts: {row}");
        }
    }
    assert!(rows > 0, "the seeded credit accounts' closes are listed");

    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tempfile::tempdir().unwrap();
    chromium(profile.path(), &[&format!("--screenshot={}", shot.display()), "--window-size=1280,1600"], &url);
    let png = std::fs::read(&shot).expect("the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 10_000, "a blank screenshot is tiny: {} bytes", png.len());
}
