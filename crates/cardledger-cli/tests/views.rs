//! The view commands through the binary: page 001 figures as JSON, bad
//! parameters answered with the error JSON and a non-zero exit, real gz and
//! zip exports, schemas, catch-up after more ingest, and `verify` checking
//! the projections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::io::Read;
use std::process::Output;

use serde_json::Value;

mod support;
use support::run_input;

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The page 001 stream (see the program-balances tests) plus a reserve program.
const LINES: &str = r#"{"time":"2019-11-04T08:00:00Z","program":{"token":"my_program","bank":"my_program_bank","currency_code":"USD","opening_bank_balance":"6382613.97","reserve":{"description":"3 days or $50K","days":3,"minimum_amount":"50000","window_days":7}}}
{"time":"2019-11-04T08:00:00Z","program":{"token":"other","bank":"B","currency_code":"USD"}}
{"time":"2019-11-04T08:00:00Z","funding_source":{"token":"pfs","program_token":"my_program","type":"program","is_default_account":true,"active":true,"name":"Program funds"}}
{"time":"2019-11-04T08:00:00Z","fee":{"token":"fee_load","name":"Load fee","amount":"7.27","currency_code":"USD","active":true}}
{"time":"2019-11-04T08:00:00Z","user":{"token":"u1","program_token":"my_program"}}
{"time":"2019-11-04T10:00:00Z","gpa_order":{"token":"o1","user_token":"u1","amount":"2991341.36","currency_code":"USD","funding_source_token":"pfs"}}
{"time":"2019-11-04T15:00:00Z","program_deposit":{"token":"d1","program_token":"my_program","amount":"4659036.18","currency_code":"USD"}}
{"time":"2019-11-06T09:00:00Z","program_deposit":{"token":"d2","program_token":"my_program","amount":"6000000.00","currency_code":"USD"}}
{"time":"2019-11-08T09:00:00Z","gpa_order":{"token":"o2","user_token":"u1","amount":"700000.00","currency_code":"USD"}}
{"time":"2019-11-12T09:00:00Z","gpa_unload":{"token":"un1","original_order_token":"o2","amount":"35874.11"}}
{"time":"2019-11-19T11:00:00Z","gpa_order":{"token":"o3","user_token":"u1","amount":"1507800.00","currency_code":"USD","fees":[{"token":"fee_load"}]}}
{"time":"2019-11-19T12:00:00Z","journal_entry":{"type":"pindebit","token":"p1","user_token":"u1","amount":"10.00","currency_code":"USD","network":"VISA","pin_present":true,"status":"POSTED"}}
{"time":"2019-11-20T09:00:00Z","user":{"token":"u2","program_token":"other"}}
"#;

fn store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = run_input(&dir.path().join("data"), &["ingest", "-"], Some(LINES));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answers = String::from_utf8_lossy(&out.stdout);
    assert!(!answers.contains("error_code"), "{answers}");
    dir
}

#[test]
fn page_001_figures_through_the_binary() {
    let dir = store();
    let data = dir.path().join("data");
    let out = run_input(
        &data,
        &[
            "view",
            "programbalances",
            "day",
            "program=my_program",
            "end_date=2019-11-20",
            "fields=corrected_post_date,beginning_bank_balance,amount_to_send,deposit,ending_bank_balance",
        ],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = stdout_json(&out);
    assert_eq!(v["total"], 17);
    let records = v["records"].as_array().unwrap();
    // newest first, as on the page
    assert_eq!(records[0]["corrected_post_date"], "2019-11-20T00:00:00.000Z");
    assert_eq!(records[0]["amount_to_send"].to_string(), "0.00");
    assert_eq!(records[0]["ending_bank_balance"].to_string(), "11878375.63");
    assert_eq!(records[1]["beginning_bank_balance"].to_string(), "13386182.90");
    assert_eq!(records[1]["amount_to_send"].to_string(), "-1507807.27");
    let first = records.last().unwrap();
    assert_eq!(first["corrected_post_date"], "2019-11-04T00:00:00.000Z");
    assert_eq!(first["deposit"].to_string(), "4659036.18");
    assert_eq!(first["ending_bank_balance"].to_string(), "8050308.79");
    let schema: Vec<&str> = v["schema"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(
        schema,
        ["corrected_post_date", "beginning_bank_balance", "amount_to_send", "deposit", "ending_bank_balance"]
    );
}

/// Each bad invocation, the error code it must print and a word its message must contain.
const BAD: &[(&[&str], u32, &str)] = &[
    (&["view", "programbalancez", "day", "program=my_program"], 400002, "view"),
    (&["view", "programbalances", "week", "program=my_program"], 400002, "time_agg"),
    (&["view", "programreservebalances", "month", "program=my_program"], 400002, "time_agg"),
    (&["view", "programbalances", "day"], 400001, "program"),
    (&["view", "programbalances", "day", "program=my_program", "nonsense"], 400002, "nonsense"),
    (&["view", "programbalances", "day", "program=my_program", "fields=nope"], 400006, "nope"),
    (&["view", "programbalances", "day", "program=my_program", "deposit=>abc"], 400009, "deposit"),
    (&["view", "programbalances", "day", "program=my_program", "count=0"], 400003, "count"),
    (&["view", "programbalances", "day", "program=my_program", "start_date=2019-13-01"], 400004, "start_date"),
    (&["view", "programbalances", "day", "program=nobody"], 400010, "nobody"),
    (&["view", "programbalances", "day", "program=my_program", "--format", "xlsx"], 400012, "xlsx"),
    (
        &["view", "programbalances", "day", "program=my_program", "--format", "csv", "--compress", "rar"],
        400002,
        "compress",
    ),
    (&["view", "activitybalances", "day", "program=my_program", "expand=bogus"], 400002, "expand"),
    (&["view", "programbalances", "day", "program=my_program", "--programs", "other"], 403003, "my_program"),
    (&["view", "programreservebalances", "day", "program=other"], 400010, "other"),
    (&["view", "programbalances", "day", "program=my_program", "currency=EUR"], 400011, "EUR"),
    (&["view", "programbalances", "day", "program=my_program", "--rate", "USD-EUR"], 400002, "rate"),
    (&["schema", "activitybalances", "hour"], 400002, "time_agg"),
];

#[test]
fn bad_parameters_print_the_error_json_and_exit_non_zero() {
    let dir = store();
    let data = dir.path().join("data");
    for (args, code, word) in BAD {
        let out = run_input(&data, args, None);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let v = stdout_json(&out);
        assert_eq!(v["error_code"], *code, "{args:?}: {v}");
        let msg = v["error_message"].as_str().unwrap();
        assert!(msg.contains(word), "{args:?}: {msg:?} should name {word:?}");
    }
}

#[test]
fn exports_write_real_gz_and_zip_files() {
    let dir = store();
    let data = dir.path().join("data");
    let file = dir.path().join("pb.csv.gz");
    let out = run_input(
        &data,
        &["view", "programbalances", "day", "program=my_program", "end_date=2019-11-20", "--format", "csv", "--out"],
        None,
    );
    assert!(!out.status.success(), "--out needs a file");
    let out = run_input(
        &data,
        &[
            "view",
            "programbalances",
            "day",
            "program=my_program",
            "end_date=2019-11-20",
            "--format",
            "csv",
            "--out",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = stdout_json(&out);
    assert!(v["token"].as_str().unwrap().ends_with(".csv.gz"), "{v}");
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    let mut csv = String::new();
    flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut csv).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("program,bank,post_date,corrected_post_date,"), "{csv}");
    // 17 rows and the `# cardledger as_of_seq=…` source trailer
    assert_eq!(lines.clone().count(), 18);
    assert!(lines.clone().last().unwrap().starts_with("# cardledger as_of_seq="), "{csv}");
    assert!(csv.contains(",4659036.18,6382613.97,8050308.79,"), "deposit, beginning and ending of 11-04 in CSV: {csv}");
    // the reserve view also exports XLSX, zipped; without --out it lands in exports/
    let out = run_input(
        &data,
        &["view", "programreservebalances", "day", "program=my_program", "--format", "xlsx", "--compress", "zip"],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = stdout_json(&out);
    let path = std::path::PathBuf::from(v["file"].as_str().unwrap());
    assert!(path.starts_with(dir.path().join("exports")), "{path:?}");
    let zip = std::fs::read(&path).unwrap();
    assert_eq!(&zip[..2], b"PK", "zip magic");
}

#[test]
fn schemas_activity_expand_and_actor() {
    let dir = store();
    let data = dir.path().join("data");
    let out = run_input(&data, &["schema", "programreservebalances", "day"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let fields: Vec<String> =
        stdout_json(&out).as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap().to_string()).collect();
    assert_eq!(fields.len(), 15);
    assert_eq!(fields[9], "reserve_minimum_amount");
    let out = run_input(
        &data,
        &[
            "view",
            "activitybalances",
            "day",
            "program=my_program",
            "expand=pin_purchases_net",
            "start_date=2019-11-19",
            "end_date=2019-11-19",
        ],
        None,
    );
    let v = stdout_json(&out);
    assert_eq!(v["records"][0]["visa_pin_net"].to_string(), "10.00");
    assert_eq!(v["records"][0]["starting_balance"].to_string(), "3655467.25", "2,991,341.36 + 700,000 − 35,874.11");
    let out = run_input(&data, &["view", "activitybalances", "actor", "program=my_program"], None);
    let v = stdout_json(&out);
    assert_eq!(v["records"][0]["acting_user_token"], "u1");
    assert_eq!(v["records"][0]["load_count"], 3);
    assert_eq!(v["records"][0]["pin_count"], 1);
}

#[test]
fn views_catch_up_after_more_ingest_and_verify_checks_them() {
    let dir = store();
    let data = dir.path().join("data");
    let q = ["view", "programbalances", "day", "program=my_program", "start_date=2019-11-21", "end_date=2019-11-21"];
    let before = stdout_json(&run_input(&data, &q, None));
    let more = r#"{"time":"2019-11-21T10:00:00Z","program_deposit":{"token":"d9","program_token":"my_program","amount":"0.01","currency_code":"USD"}}"#;
    assert!(run_input(&data, &["ingest", "-"], Some(more)).status.success());
    let after = stdout_json(&run_input(&data, &q, None));
    // 11-21 lies past the data (the last event is on 11-20): no row yet
    assert_eq!(before["total"], 0, "{before}");
    assert_eq!(after["records"][0]["deposit"].to_string(), "0.01");
    assert_eq!(after["records"][0]["ending_bank_balance"].to_string(), "11878375.64");
    let out = run_input(&data, &["verify"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = stdout_json(&out);
    assert_eq!(v["projections"]["view.programbalances.v1"], true);
    assert_eq!(v["projections"]["view.activitybalances.v1"], true);
    assert_eq!(v["projections"]["view.programreservebalances.v1"], true);
    // a checkpoint that no longer decodes fails verify, naming the projection; rebuild repairs it
    {
        let engine = cardledger_core::engine::Engine::open(&data).unwrap();
        let (seq, _) = engine.store().load_checkpoint("view.activitybalances.v1").unwrap().unwrap();
        engine.store().save_checkpoint("view.activitybalances.v1", seq, &[9, 9, 9]).unwrap();
    }
    let out = run_input(&data, &["verify"], None);
    assert_eq!(out.status.code(), Some(1));
    let v = stdout_json(&out);
    assert_eq!(v["projections"]["view.activitybalances.v1"], false, "{v}");
    assert_eq!(v["projections"]["view.programbalances.v1"], true, "{v}");
    let out = run_input(&data, &["rebuild"], None);
    assert!(out.status.success());
    assert_eq!(stdout_json(&run_input(&data, &q, None)), after);
    assert!(run_input(&data, &["verify"], None).status.success());
}

#[test]
fn the_demo_writes_one_svg_chart_per_program() {
    let dir = tempfile::tempdir().unwrap();
    let charts = dir.path().join("my-charts");
    let out = run_input(
        &dir.path().join("data"),
        &["demo", "--days", "6", "--holders", "20", "--charts", charts.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = stdout_json(&out);
    assert_eq!(summary["charts"].as_array().unwrap().len(), 2);
    assert!(summary["views"]["programreservebalances/day"].as_array().unwrap().len() == 5);
    // alpha reports in New York time: its set-up at midnight UTC falls on the day before
    for (program, series, days) in [("prog_alpha", 2, 7), ("prog_beta", 1, 6)] {
        let svg = std::fs::read_to_string(charts.join(format!("{program}.svg"))).unwrap();
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert_eq!(svg.matches("<polyline").count(), series, "{program}: {svg}");
        let blue = svg.lines().find(|l| l.contains("<polyline") && l.contains("#0000FF")).unwrap();
        let points = blue.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(points.split_whitespace().count(), days, "one point per day: {points}");
        assert!(svg.contains(&format!(">{program} — daily from ")), "{svg}");
        assert!(svg.contains("ending_bank_balance"));
        assert_eq!(svg.contains("reserve_requirement_amount"), series == 2);
        assert_eq!(svg.matches('<').count(), svg.matches('>').count(), "balanced tags");
    }
}
