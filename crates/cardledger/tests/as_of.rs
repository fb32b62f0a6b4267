//! As-of reads, the trial balance and report provenance against the log:
//! the trial balance sums to zero at every seq of a random workload; a read
//! as of seq N equals the same read on a fresh store that ingested only the
//! commands up to N; a saved report verifies, and one changed cell is
//! reported with its row.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger::layers::domain::event::Account;
use cardledger::layers::domain::projection::Projection;
use cardledger::layers::domain::snapshot::state_digest;
use cardledger::{AsOf, Cardledger, ExportFormat, Holder, PostingsQuery, ViewRequest};
use cardledger_trial_balance::TrialBalance;
use proptest::prelude::*;
use serde_json::Value;

mod support;

fn workload(seed: u64, days: u32, holders: u32) -> Vec<String> {
    let cfg = cardledger_workload::WorkloadConfig { seed, days, holders, credit_accounts: 3, ..Default::default() };
    cardledger_workload::generate(&cfg).collect()
}

/// Ingests `lines` in one chunk; returns the head seq after each line
/// (only lines that recorded something move it).
fn ingest(ledger: &Cardledger, lines: &[String]) -> Vec<u64> {
    let answers = ledger.ingest_chunk(lines, 1).unwrap();
    assert_eq!(answers.len(), lines.len());
    let mut head = 0;
    answers
        .iter()
        .map(|a| {
            if a.get("error_code").is_none() && a.get("duplicate").is_none() {
                head = head.max(a["seq"].as_u64().unwrap());
            }
            head
        })
        .collect()
}

fn without_stamp(mut v: Value) -> Value {
    if let Value::Object(o) = &mut v {
        o.remove("as_of_seq");
        o.remove("as_of_hash");
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3, ..ProptestConfig::default() })]

    /// Every seq of a random workload (with credit cycles closing): the
    /// trial balance folded to that seq sums to zero, in total and per
    /// program; the facade's answer at a few seqs too.
    #[test]
    fn trial_balance_sums_to_zero_at_every_seq(seed in 0u64..1_000_000, picks in proptest::collection::vec(0.0f64..1.0, 3)) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = support::open(dir.path());
        ingest(&ledger, &workload(seed, 35, 8));
        let head = ledger.head_seq();
        let mut tb = TrialBalance::default();
        let mut networks = false;
        for entry in ledger.engine().events_from(1) {
            let rec = entry.unwrap().rec;
            tb.apply(&rec);
            prop_assert_eq!(tb.total(None), 0, "at seq {}", rec.seq);
            for p in tb.programs().map(String::from).collect::<Vec<_>>() {
                prop_assert_eq!(tb.total(Some(&p)), 0, "program {} at seq {}", p, rec.seq);
            }
            networks |= tb.rows(None).any(|r| matches!(r.account, Account::Network(_)));
        }
        prop_assert!(networks, "the workload posts to card networks");
        for f in picks {
            let seq = 1 + ((head - 1) as f64 * f) as u64;
            let v = ledger.trial_balance(None, AsOf::Seq(seq)).unwrap();
            prop_assert_eq!(v["as_of_seq"].as_u64(), Some(seq));
            prop_assert_eq!(v["total"].to_string(), "0.00");
            let sum: rust_decimal::Decimal = v["accounts"].as_array().unwrap().iter()
                .map(|a| a["balance"].to_string().parse::<rust_decimal::Decimal>().unwrap()).sum();
            prop_assert!(sum.is_zero());
        }
    }

    /// A read as of seq N equals the same read at the head of a fresh store
    /// that ingested only the lines up to N: the whole state (digest),
    /// balances, a list, the trial balance, postings and a view.
    #[test]
    fn as_of_equals_a_store_cut_at_that_seq(seed in 0u64..1_000_000, picks in proptest::collection::vec(0.05f64..1.0, 2)) {
        let lines = workload(seed, 12, 10);
        let dir = tempfile::tempdir().unwrap();
        let full = support::open(dir.path());
        let heads = ingest(&full, &lines);
        let holders: Vec<Holder> = full.engine().state().holders.keys().cloned().collect();
        for f in picks {
            let k = ((lines.len() as f64 * f) as usize).clamp(1, lines.len());
            let seq = heads[k - 1];
            prop_assume!(seq > 0);
            let cut_dir = tempfile::tempdir().unwrap();
            let cut = support::open(cut_dir.path());
            ingest(&cut, &lines[..k]);
            prop_assert_eq!(cut.head_seq(), seq);
            let at = full.resolve(AsOf::Seq(seq)).unwrap();
            // the same seq; its chain hash is the full log's own there (since
            // store format 4 the chain covers frame boundaries, and the cut
            // store ingested its lines in another group, so its hash differs)
            prop_assert_eq!(at.seq, cut.resolve(AsOf::Head).unwrap().seq, "same seq");
            let own = full.engine().event(seq).unwrap().unwrap().hash;
            prop_assert_eq!(&at.hash, &cardledger::layers::core::record::hex(&own));
            let past = full.state_at(&at).unwrap();
            prop_assert_eq!(state_digest(&past).unwrap(), state_digest(&cut.engine().state()).unwrap());
            drop(past);
            for h in holders.iter().take(4) {
                let then = full.balances_at(h, AsOf::Seq(seq)).map(without_stamp).ok();
                prop_assert_eq!(then, cut.balances(h).ok());
            }
            let list = vec![("count".to_string(), "20".to_string()), ("as_of_seq".to_string(), seq.to_string())];
            prop_assert_eq!(without_stamp(full.list("gpa_unloads", &list).unwrap()), cut.list("gpa_unloads", &list[..1]).unwrap());
            // (the answers' as_of_hash differs, see above; the rest is equal)
            prop_assert_eq!(
                without_stamp(full.trial_balance(None, AsOf::Seq(seq)).unwrap()),
                without_stamp(cut.trial_balance(None, AsOf::Head).unwrap())
            );
            let q = |as_of| PostingsQuery { count: 50, start_index: 0, descending: true, as_of };
            prop_assert_eq!(
                without_stamp(full.postings("program_bank:prog_alpha", &q(AsOf::Seq(seq))).unwrap()),
                without_stamp(cut.postings("program_bank:prog_alpha", &q(AsOf::Head)).unwrap())
            );
            let pairs = vec![("program".to_string(), "prog_alpha".to_string()), ("as_of_seq".to_string(), seq.to_string())];
            let then = full.view_json(&ViewRequest::parse("activitybalances", "day", &pairs).unwrap()).unwrap();
            let now = cut.view_json(&ViewRequest::parse("activitybalances", "day", &pairs[..1]).unwrap()).unwrap();
            prop_assert_eq!(without_stamp(then), without_stamp(now));
        }
    }
}

fn demo_ledger() -> (tempfile::TempDir, Cardledger) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = support::open(dir.path());
    ingest(&ledger, &workload(7, 12, 10));
    (dir, ledger)
}

#[test]
fn as_of_errors_name_their_field() {
    let (_dir, ledger) = demo_ledger();
    let head = ledger.head_seq();
    let e = ledger.resolve(AsOf::Seq(head + 1)).unwrap_err();
    assert_eq!((e.code(), e.field().as_deref(), e.status()), (400101, Some("as_of_seq"), 400));
    assert_eq!(ledger.resolve(AsOf::Seq(0)).unwrap_err().code(), 400101);
    let before = AsOf::parse(None, Some("2023-12-31T23:59:59Z")).unwrap();
    let e = ledger.resolve(before).unwrap_err();
    assert_eq!((e.code(), e.field().as_deref()), (400102, Some("as_of_time")));
    assert!(e.to_string().contains("before the first event"), "{e}");
    assert_eq!(AsOf::parse(Some("x"), None).unwrap_err().field().as_deref(), Some("as_of_seq"));
    assert_eq!(AsOf::parse(None, Some("yesterday")).unwrap_err().field().as_deref(), Some("as_of_time"));
    assert_eq!(AsOf::parse(Some("1"), Some("2024-01-01")).unwrap_err().code(), 400102);
    let empty_dir = tempfile::tempdir().unwrap();
    let empty = support::open(empty_dir.path());
    assert_eq!(empty.resolve(AsOf::parse(None, Some("2024-01-01")).unwrap()).unwrap_err().code(), 400102);
    // a view and a list refuse a bad position the same way
    let pairs = vec![("program".into(), "prog_alpha".into()), ("as_of_seq".into(), (head + 5).to_string())];
    let r = ViewRequest::parse("programbalances", "day", &pairs).unwrap();
    assert_eq!(ledger.view_json(&r).unwrap_err().code(), 400101);
    assert_eq!(ledger.list("gpa_unloads", &pairs[1..]).unwrap_err().code(), 400101);
}

#[test]
fn as_of_time_reads_the_last_event_at_or_before_it() {
    let (_dir, ledger) = demo_ledger();
    let t = cardledger::layers::domain::time::Timestamp::parse("2024-01-05T12:00:00Z").unwrap();
    let at = ledger.resolve(AsOf::Time(t)).unwrap();
    let this = ledger.engine().event(at.seq).unwrap().unwrap();
    let next = ledger.engine().event(at.seq + 1).unwrap().unwrap();
    assert!(this.rec.time <= t && next.rec.time > t, "{} {} {}", this.rec.time, t, next.rec.time);
    assert_eq!(at.hash, cardledger::layers::core::record::hex(&this.hash));
}

#[test]
fn trial_balance_lists_every_kind_of_account_and_filters_by_program() {
    let (_dir, ledger) = demo_ledger();
    let all = ledger.trial_balance(None, AsOf::Head).unwrap();
    assert_eq!(all["as_of_seq"].as_u64(), Some(ledger.head_seq()));
    let kinds: std::collections::BTreeSet<&str> =
        all["accounts"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    for k in ["program_bank", "program_equity", "fee_income", "gpa", "msa", "network", "credit_receivable"] {
        assert!(kinds.contains(k), "{k} in {kinds:?}");
    }
    let alpha = ledger.trial_balance(Some("prog_alpha"), AsOf::Head).unwrap();
    assert!(alpha["accounts"].as_array().unwrap().iter().all(|a| a["program"] == "prog_alpha"));
    assert_eq!(alpha["total"].to_string(), "0.00");
    assert_eq!(ledger.trial_balance(Some("nope"), AsOf::Head).unwrap_err().status(), 404);
    // the bank's balance equals the live state's, and its postings' running balance ends there
    let bank = ledger.engine().state().balance(&Account::ProgramBank("prog_alpha".into()));
    let row = alpha["accounts"].as_array().unwrap().iter().find(|a| a["account"] == "program_bank:prog_alpha").unwrap();
    assert_eq!(row["balance"].to_string(), bank.to_string_2dp());
    let q = PostingsQuery::parse(&[("count".into(), "5".into())]).unwrap();
    let p = ledger.postings("program_bank:prog_alpha", &q).unwrap();
    assert_eq!(p["balance"].to_string(), bank.to_string_2dp());
    assert_eq!(p["data"][0]["balance"].to_string(), bank.to_string_2dp());
    assert_eq!(p["data"].as_array().unwrap().len(), 5);
    assert_eq!(p["is_more"], true);
    // oldest first: the running balance is the sum of the amounts so far
    let q = PostingsQuery::parse(&[("count".into(), "50".into()), ("sort_by".into(), "createdTime".into())]).unwrap();
    let p = ledger.postings("program_bank:prog_alpha", &q).unwrap();
    let mut sum = rust_decimal::Decimal::ZERO;
    for r in p["data"].as_array().unwrap() {
        sum += r["amount"].to_string().parse::<rust_decimal::Decimal>().unwrap();
        assert_eq!(r["balance"].to_string().parse::<rust_decimal::Decimal>().unwrap(), sum);
    }
    // every page, newest first, is the oldest-first list reversed
    let rows = |q: &[(&str, &str)]| -> Vec<Value> {
        let q: Vec<(String, String)> = q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let p = ledger.postings("program_bank:prog_alpha", &PostingsQuery::parse(&q).unwrap()).unwrap();
        p["data"].as_array().unwrap().clone()
    };
    let total = ledger.postings("program_bank:prog_alpha", &PostingsQuery::parse(&[]).unwrap()).unwrap()["total"]
        .as_u64()
        .unwrap();
    assert!(total > 20, "{total}");
    let start = (total - 12).to_string();
    let mut oldest_first = rows(&[("count", "7"), ("start_index", &start), ("sort_by", "seq")]);
    oldest_first.reverse();
    assert_eq!(rows(&[("count", "7"), ("start_index", "5"), ("sort_by", "-seq")]), oldest_first);
    let e = PostingsQuery::parse(&[("count".into(), "0".into())]).unwrap_err();
    assert_eq!(e.field().as_deref(), Some("count"));
    assert_eq!(ledger.postings("bank:x", &q).unwrap_err().field().as_deref(), Some("account"));
}

fn report_request(ledger: &Cardledger, view: &str, seq: u64) -> ViewRequest {
    let _ = ledger;
    let pairs = vec![
        ("program".to_string(), "prog_alpha".to_string()),
        ("count".to_string(), "6".to_string()),
        ("as_of_seq".to_string(), seq.to_string()),
    ];
    ViewRequest::parse(view, "day", &pairs).unwrap()
}

#[test]
fn a_report_verifies_and_a_changed_cell_is_named_with_its_row() {
    let (_dir, ledger) = demo_ledger();
    let seq = ledger.head_seq() / 2;
    // JSON: the envelope names its position and query
    let text = ledger.view_json_text(&report_request(&ledger, "programbalances", seq)).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["as_of_seq"].as_u64(), Some(seq));
    assert_eq!(v["as_of_hash"].as_str(), Some(ledger.resolve(AsOf::Seq(seq)).unwrap().hash.as_str()));
    assert!(v["query"].as_str().unwrap().starts_with("programbalances/day?program=prog_alpha&count=6&fields="));
    let check = ledger.verify_report(text.as_bytes()).unwrap();
    assert!(check.matches(), "{:?}", check);
    assert_eq!(check.rows, 6);
    // more events later do not change a report at its seq
    ingest(&ledger, &workload(8, 3, 3));
    assert!(ledger.verify_report(text.as_bytes()).unwrap().matches());
    let mut changed = v.clone();
    changed["records"][3]["deposit"] = serde_json::from_str("123456.78").unwrap();
    let check = ledger.verify_report(changed.to_string().as_bytes()).unwrap();
    assert!(!check.matches());
    let d = check.difference.unwrap();
    assert_eq!((d.row, d.field.as_str(), d.report.as_str()), (4, "deposit", "123456.78"));
    // a dropped row
    let mut shorter = v.clone();
    shorter["records"].as_array_mut().unwrap().pop();
    assert_eq!(ledger.verify_report(shorter.to_string().as_bytes()).unwrap().difference.unwrap().row, 6);
    // another log's hash at the same seq
    let mut forged = v.clone();
    forged["as_of_hash"] = "00".repeat(32).into();
    let check = ledger.verify_report(forged.to_string().as_bytes()).unwrap();
    assert!(!check.matches() && check.difference.is_none());

    // CSV, as a gz export: trailer line, verify, change one cell
    let request = report_request(&ledger, "programreservebalances", seq);
    let out = tempfile::tempdir().unwrap();
    let token = ledger.view_export(&request, ExportFormat::Csv, out.path()).unwrap();
    let gz = std::fs::read(&token.path).unwrap();
    assert!(ledger.verify_report(&gz).unwrap().matches());
    let mut csv = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut csv).unwrap();
    let last = csv.trim_end().lines().last().unwrap();
    assert!(last.starts_with(&format!("# cardledger as_of_seq={seq} as_of_hash=")), "{last}");
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = header.iter().position(|h| *h == "ending_bank_balance").unwrap();
    let mut cells: Vec<String> = lines[2].split(',').map(String::from).collect();
    cells[col] = "0.01".into();
    lines[2] = cells.join(",");
    let check = ledger.verify_report((lines.join("\n") + "\n").as_bytes()).unwrap();
    let d = check.difference.unwrap();
    assert_eq!((d.row, d.field.as_str(), d.report.as_str()), (2, "ending_bank_balance", "0.01"));
    // a CSV without the trailer is not a report of this engine
    let e = ledger.verify_report(lines[..lines.len() - 1].join("\n").as_bytes()).unwrap_err();
    assert_eq!((e.code(), e.field().as_deref()), (400103, Some("file")));

    // XLSX: custom properties carry the position; it verifies
    let xlsx = ledger.view_bytes(&request, ExportFormat::Xlsx).unwrap();
    let check = ledger.verify_report(&xlsx).unwrap();
    assert!(check.matches(), "{check:?}");
    assert_eq!((check.format, check.as_of_seq, check.rows), ("xlsx", seq, 6));
}

#[test]
fn statements_and_get_as_of_name_their_seq() {
    let (_dir, ledger) = demo_ledger();
    let first_user = {
        let state = ledger.engine().state();
        let mut users: Vec<_> = state.holders.iter().map(|(h, (_, t))| (*t, h.token().to_string())).collect();
        users.sort();
        users.last().unwrap().1.clone()
    };
    let (seq, _) = ledger.engine().state().recorded_token("user", &first_user).unwrap();
    let got = ledger.get_at("user", &first_user, AsOf::Seq(seq)).unwrap();
    assert_eq!(got["as_of_seq"].as_u64(), Some(seq));
    assert_eq!(ledger.get_at("user", &first_user, AsOf::Seq(seq - 1)).unwrap_err().status(), 404);
    let accounts: Vec<String> = ledger.engine().state().credit_accounts.keys().map(|t| t.to_string()).collect();
    let a = &accounts[0];
    let then = ledger.statements(a, &[], &[&format!("as_of_seq={}", ledger.head_seq())]).unwrap();
    assert_eq!(then["as_of_seq"].as_u64(), Some(ledger.head_seq()));
    assert_eq!(without_stamp(then), ledger.statements(a, &[], &[]).unwrap());
}
