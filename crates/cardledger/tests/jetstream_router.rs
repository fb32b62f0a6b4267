//! A host owning two programs of a JetStream cluster (a 3-node loopback
//! cluster this test starts, `cardledger_nats::testing`): it answers a mixed
//! two-program workload (both programs' commands, ticks, shared set-up,
//! holder- and order-routed commands, repeats, bad lines) exactly as a sled
//! host answers it, except each answer's `seq` and the `transaction_token`
//! made of it (each stream numbers its own events); each stream holds only
//! its program's events (and the shared ones); reads and views across both
//! programs equal the sled host's; a command for a third program is 1220;
//! a reopen, and a host with an empty directory, rebuild from the streams.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger::{Cardledger, Code, Holder, Line, LogConfig, Outcome, ViewRequest, VIEWS};
use serde_json::Value;

const A: &str = "prog_alpha";
const B: &str = "prog_beta";

fn lines() -> Vec<String> {
    let cfg = cardledger_workload::WorkloadConfig {
        seed: 11,
        days: 40,
        holders: 12,
        credit_accounts: 3,
        ..Default::default()
    };
    let mut lines: Vec<String> = cardledger_workload::generate(&cfg).collect();
    let n = lines.len();
    // a repeat of a set-up line and of an order (duplicates), a bad line, an
    // order for a holder no program knows, an unload of an unknown order,
    // and ticks closing the credit cycles after the workload
    let user = lines.iter().find(|l| l.contains("\"user\"")).unwrap().clone();
    let order = lines.iter().find(|l| l.contains("\"gpa_order\"")).unwrap().clone();
    lines.insert(n / 2, user);
    lines.insert(n / 2, order);
    lines.push("{not json".into());
    lines.push(
        r#"{"gpa_order":{"token":"o-nobody","user_token":"nobody","amount":"1.00","currency_code":"USD"}}"#.into(),
    );
    lines.push(r#"{"gpa_unload":{"token":"u-nobody","original_order_token":"no-order","amount":"1.00"}}"#.into());
    for day in ["2024-03-01", "2024-03-15", "2024-04-02"] {
        lines.push(format!(r#"{{"time":"{day}T12:00:00Z","tick":{{"now":"{day}T12:00:00Z"}}}}"#));
    }
    lines
}

fn ingest(ledger: &Cardledger, lines: &[String]) -> Vec<Value> {
    let input: Vec<std::io::Result<Line>> = lines.iter().map(|l| Ok(Line::Text(l.clone()))).collect();
    let mut out = Vec::new();
    let tally = ledger.ingest(input.into_iter(), &mut out, &mut |_| ()).unwrap();
    assert_eq!(tally.lines, lines.len() as u64);
    let text = String::from_utf8(out).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// What must differ between the two hosts: every seq (each stream numbers
/// its own events), the transaction tokens made of them, and a view's or
/// as-of answer's position (the router's is the sum of the streams' seqs
/// with a digest of their heads).
fn strip(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for k in ["seq", "transaction_token", "as_of_seq", "as_of_hash", "source"] {
                o.remove(k);
            }
            o.values_mut().for_each(strip);
        }
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

fn stripped(mut v: Value) -> Value {
    strip(&mut v);
    v
}

fn views_of(ledger: &Cardledger, programs: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for info in VIEWS.iter() {
        for agg in info.aggregations {
            let pairs = vec![("count".to_string(), "1000".to_string()), ("program".to_string(), programs.to_string())];
            let request = ViewRequest::parse(info.name, agg, &pairs).unwrap();
            // an error (a program the view does not know) must be the same error
            let v = ledger.view_json(&request).unwrap_or_else(|e| Value::from(e.to_string()));
            if info.name == "programbalances" {
                assert!(v["records"].as_array().is_some_and(|r| !r.is_empty()), "{} {agg}: {v}", info.name);
            }
            out.push(stripped(v));
        }
    }
    // the activity view's per-network columns (one per network used)
    let pairs = vec![
        ("count".to_string(), "1000".to_string()),
        ("program".to_string(), programs.to_string()),
        ("expand".to_string(), "pin_purchases_net,sig_purchases_net".to_string()),
    ];
    let request = ViewRequest::parse("activitybalances", "day", &pairs).unwrap();
    out.push(stripped(ledger.view_json(&request).unwrap_or_else(|e| Value::from(e.to_string()))));
    out
}

/// Every item of a list kind, in the list's order (`createdTime` or
/// `-createdTime`).
fn whole_list(ledger: &Cardledger, kind: &str, sort: &str) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let params = vec![
            ("count".to_string(), "100".to_string()),
            ("start_index".to_string(), all.len().to_string()),
            ("sort_by".to_string(), sort.to_string()),
        ];
        let v = stripped(ledger.list(kind, &params).unwrap());
        all.extend(v["data"].as_array().unwrap().iter().cloned());
        if v["is_more"] == false {
            return all;
        }
    }
}

const KINDS: [&str; 9] = [
    "users",
    "businesses",
    "gpa_orders",
    "gpa_unloads",
    "msa_orders",
    "fees",
    "credit_accounts",
    "program_deposits",
    "funding_sources",
];

/// Lists across programs: the same items as the sled host's, in time order
/// (events of one instant in two programs: the first program's first — the
/// one order a router can give, docs/scale-out.md), paged as that order.
fn lists_match(router: &Cardledger, sled: &Cardledger) {
    for kind in KINDS {
        for sort in ["createdTime", "-createdTime"] {
            let got = whole_list(router, kind, sort);
            let want = whole_list(sled, kind, sort);
            assert!(!want.is_empty() || kind == "businesses", "{kind}");
            let key = |v: &Value| v.to_string();
            let mut a: Vec<String> = got.iter().map(key).collect();
            let mut b: Vec<String> = want.iter().map(key).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b, "{kind} {sort}: not the same items");
            let times: Vec<&str> = got.iter().map(|v| v["created_time"].as_str().unwrap()).collect();
            let mut sorted = times.clone();
            sorted.sort();
            if sort.starts_with('-') {
                sorted.reverse();
            }
            assert_eq!(times, sorted, "{kind} {sort}: not in time order");
            let params = vec![
                ("count".to_string(), "7".to_string()),
                ("start_index".to_string(), "3".to_string()),
                ("sort_by".to_string(), sort.to_string()),
                ("fields".to_string(), "token,created_time".to_string()),
            ];
            let page = stripped(router.list(kind, &params).unwrap());
            let expected: Vec<Value> = got
                .iter()
                .skip(3)
                .take(7)
                .map(|v| serde_json::json!({"token": v["token"], "created_time": v["created_time"]}))
                .collect();
            assert_eq!(page["data"], Value::from(expected), "{kind} {sort}: a page");
            assert_eq!(page["is_more"], got.len() > 10);
        }
    }
}

fn tokens(ledger: &Cardledger, kind: &str) -> Vec<String> {
    let mut t: Vec<String> =
        whole_list(ledger, kind, "createdTime").iter().map(|v| v["token"].as_str().unwrap().to_string()).collect();
    t.sort();
    t
}

fn reads_of(ledger: &Cardledger) -> Vec<Value> {
    let mut out = Vec::new();
    // the largest list: two pages (times are distinct: no tie to order)
    for (start, sort, filter) in
        [("0", "-createdTime", None), ("150", "createdTime", None), ("3", "createdTime", Some("user_00002"))]
    {
        let mut params = vec![
            ("count".to_string(), "100".to_string()),
            ("start_index".to_string(), start.to_string()),
            ("sort_by".to_string(), sort.to_string()),
        ];
        if let Some(user) = filter {
            params.push(("user_token".to_string(), user.to_string()));
        }
        out.push(stripped(ledger.list("journal_entries", &params).unwrap()));
    }
    for token in tokens(ledger, "users") {
        out.push(stripped(ledger.get("user", &token).unwrap()));
        out.push(stripped(ledger.balances(&Holder::User(token.into())).unwrap()));
    }
    for token in tokens(ledger, "gpa_orders").iter().step_by(17) {
        out.push(stripped(ledger.get("gpa_order", token).unwrap()));
    }
    let accounts = tokens(ledger, "credit_accounts");
    assert!(!accounts.is_empty());
    for token in &accounts {
        out.push(stripped(ledger.credit_balance(token).unwrap()));
        for path in [&[][..], &["ledgerentries"], &["delinquencystate"]] {
            out.push(stripped(ledger.statements(token, path, &["count=50"]).unwrap()));
        }
    }
    out.push(stripped(ledger.trial_balance(None, cardledger::AsOf::Head).unwrap()));
    out.push(stripped(ledger.trial_balance(Some(B), cardledger::AsOf::Head).unwrap()));
    out.push(Value::from(ledger.programs().unwrap()));
    out.push(ledger.statement_counts().unwrap());
    out
}

#[test]
fn a_host_owning_two_programs_answers_as_one_sled_host() {
    let urls = cardledger_nats::testing::loopback().unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let lines = lines();
    let both = LogConfig::from_args(Some(&urls), Some(&format!("{B},{A}"))).unwrap();

    let sled = Cardledger::open(dirs.path().join("sled")).unwrap();
    let router = Cardledger::open_with_log(dirs.path().join("router"), &both).unwrap();
    assert_eq!(router.owned_programs(), Some(vec![A.to_string(), B.to_string()]));
    assert_eq!(sled.owned_programs(), None);

    // the same answers, line by line, in input order
    let expected = ingest(&sled, &lines);
    let got = ingest(&router, &lines);
    assert_eq!(got.len(), expected.len());
    let mut recorded = 0;
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(stripped(g.clone()), stripped(e.clone()), "line {}: {}", i + 1, lines[i]);
        assert_eq!(g.get("seq").is_some(), e.get("seq").is_some());
        recorded += u64::from(g.get("seq").is_some() && g.get("duplicate").is_none());
    }
    assert!(got.iter().any(|a| a.get("duplicate").is_some()), "the repeats are duplicates");
    assert_eq!(got[got.len() - 5]["error_code"], 1201, "an order for a holder no program knows");
    // shared lines (ticks, fees, campaigns, merchants, offers) are in both
    // streams, every other recorded command in one
    let shared = lines
        .iter()
        .zip(&got)
        .filter(|(l, a)| {
            a.get("seq").is_some()
                && a.get("duplicate").is_none()
                && ["\"tick\"", "\"fee\"", "\"campaign\"", "\"merchant\"", "\"offer\""].iter().any(|k| l.contains(k))
        })
        .count() as u64;
    assert!(shared >= 4, "{shared}");
    // the tick's closes are recorded in the program of each account
    let closes: u64 = sled.engine().state().head_seq - recorded;
    assert_eq!(router.head_seq(), sled.head_seq() + shared, "closes {closes}");

    // reads and views across both programs equal the sled host's
    let (got, want) = (reads_of(&router), reads_of(&sled));
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    lists_match(&router, &sled);
    assert_eq!(views_of(&router, &format!("{A},{B}")), views_of(&sled, &format!("{A},{B}")));
    assert_eq!(views_of(&router, B), views_of(&sled, B));
    assert_eq!(stripped(router.view_summary(7).unwrap()), stripped(sled.view_summary(7).unwrap()));

    // a command for a program the host does not own: 1220, unwritten
    let head = router.head_seq();
    for line in [
        r#"{"program":{"token":"prog_gamma","bank":"B","currency_code":"USD"}}"#,
        r#"{"user":{"token":"u-gamma","program_token":"prog_gamma"}}"#,
    ] {
        match router.submit_json(line).unwrap() {
            Outcome::Rejected(r) => {
                assert_eq!(r.code, Code::ProgramNotServed);
                assert!(r.message.contains("prog_alpha, prog_beta"), "{r}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(router.head_seq(), head);
    assert!(router.verify().unwrap().ok());

    // what needs one log order is refused, naming the option (1106)
    let refused = [
        router.list("users", &[("as_of_seq".into(), "1".into())]).err(),
        router.log(1).next().and_then(Result::err),
        router.alerts(0).err(),
        router.statements("ca_0001", &[], &["as_of_seq=1"]).err(),
    ];
    for e in refused {
        match e {
            Some(cardledger::Error::Rejected(r)) => {
                assert_eq!((r.code, r.field.as_str()), (Code::InvalidValue, "programs"), "{r}")
            }
            other => panic!("{other:?}"),
        }
    }

    // each stream holds only its program's events (and the shared ones)
    for (mine, other) in [(A, B), (B, A)] {
        let one = LogConfig::from_args(Some(&urls), Some(mine)).unwrap();
        let host = Cardledger::open_with_log(dirs.path().join(format!("only-{mine}")), &one).unwrap();
        assert_eq!(host.programs().unwrap(), vec![mine.to_string()]);
        let events: Vec<Value> = host.log(1).map(Result::unwrap).collect();
        assert_eq!(events.len() as u64, host.head_seq());
        assert!(events.iter().all(|e| !e.to_string().contains(&format!("\"{other}\""))), "{other} in {mine}'s stream");
        let users = host.list("users", &[("count".into(), "100".into())]).unwrap();
        assert!(users["data"].as_array().unwrap().iter().all(|u| u["program_token"] == mine));
        assert!(host.verify().unwrap().ok());
    }

    // a reopen, and a host with an empty directory, rebuild from the streams
    let before = (views_of(&router, &format!("{A},{B}")), reads_of(&router), router.head_seq());
    let rebuilt = router.rebuild().unwrap();
    assert_eq!(rebuilt.events, router.head_seq());
    drop(router);
    let router = Cardledger::open_with_log(dirs.path().join("router"), &both).unwrap();
    assert_eq!((views_of(&router, &format!("{A},{B}")), reads_of(&router), router.head_seq()), before);
    let fresh = Cardledger::open_with_log(dirs.path().join("empty"), &both).unwrap();
    assert_eq!((views_of(&fresh, &format!("{A},{B}")), reads_of(&fresh), fresh.head_seq()), before);
    assert!(fresh.verify().unwrap().ok());

    // a batch split over both shards answers in input order (beta's program
    // has no funding source for a new user's order: 1206 on both hosts)
    let batch = [
        r#"{"time":"2024-04-03T00:00:00Z","user":{"token":"ub","program_token":"prog_beta"}}"#,
        r#"{"time":"2024-04-03T00:00:00Z","user":{"token":"ua","program_token":"prog_alpha"}}"#,
        r#"{"time":"2024-04-03T00:00:00Z","gpa_order":{"token":"oa","user_token":"ua","amount":"2.00","currency_code":"USD"}}"#,
        r#"{"time":"2024-04-03T00:00:00Z","gpa_order":{"token":"ob","user_token":"ub","amount":"3.00","currency_code":"USD"}}"#,
        r#"{"time":"2024-04-03T00:00:00Z","gpa_unload":{"token":"xa","original_order_token":"oa","amount":"1.00"}}"#,
    ];
    let answers = fresh.ingest_chunk(&batch.iter().map(|s| s.to_string()).collect::<Vec<_>>(), 1).unwrap();
    let expected = sled.ingest_chunk(&batch.iter().map(|s| s.to_string()).collect::<Vec<_>>(), 1).unwrap();
    assert_eq!(stripped(Value::from(answers.clone())), stripped(Value::from(expected)));
    for token in ["oa", "ob"] {
        let got = fresh.get("gpa_order", token).map(stripped).map_err(|e| e.to_string());
        assert_eq!(got, sled.get("gpa_order", token).map(stripped).map_err(|e| e.to_string()));
    }
    for holder in ["ua", "ub"] {
        let h = Holder::User(holder.into());
        assert_eq!(stripped(fresh.balances(&h).unwrap()), stripped(sled.balances(&h).unwrap()));
    }
}

/// Shared set-up (fees, campaigns, merchants, offers) is recorded in the
/// streams of the host that receives it. A program added to a host later
/// lacks what was recorded before it: its orders naming such a fee are
/// rejected 1201, as one engine without the fee rejects them. Submitting
/// the set-up line again records it where it is missing (the answer is the
/// first shard's: a duplicate) and nothing twice where it is present.
#[test]
fn a_program_added_later_gets_the_shared_set_up_submitted_again() {
    let urls = cardledger_nats::testing::loopback().unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let (pa, pb) = ("prog_setup_a", "prog_setup_b");
    let fee = r#"{"time":"2024-01-01T00:00:00Z","fee":{"token":"f-later","name":"Load fee","amount":"1.00","currency_code":"USD"}}"#;
    let submit = |host: &Cardledger, line: &str| host.submit_json(line).unwrap();
    let setup = |program: &str, suffix: &str| {
        vec![
            format!(
                r#"{{"time":"2024-01-01T00:00:00Z","program":{{"token":"{program}","bank":"B","currency_code":"USD","opening_bank_balance":"1000.00"}}}}"#
            ),
            format!(
                r#"{{"time":"2024-01-01T00:00:01Z","funding_source":{{"token":"fs-{suffix}","program_token":"{program}","type":"program","is_default_account":true,"name":"funds"}}}}"#
            ),
            format!(r#"{{"time":"2024-01-01T00:00:02Z","user":{{"token":"u-{suffix}","program_token":"{program}"}}}}"#),
        ]
    };
    let order = |token: &str, user: &str| {
        format!(
            r#"{{"time":"2024-01-01T00:00:03Z","gpa_order":{{"token":"{token}","user_token":"{user}","amount":"30.00","currency_code":"USD","fees":[{{"token":"f-later"}}]}}}}"#
        )
    };

    // a host of program A alone records the fee in A's stream only
    let only_a = LogConfig::from_args(Some(&urls), Some(pa)).unwrap();
    let host = Cardledger::open_with_log(dirs.path().join("a"), &only_a).unwrap();
    for line in setup(pa, "a").iter().chain([&fee.to_string()]) {
        assert!(matches!(submit(&host, line), Outcome::Recorded { .. }), "{line}");
    }
    assert!(matches!(submit(&host, &order("o-a", "u-a")), Outcome::Recorded { .. }));
    drop(host);

    // the host now owns A and B: B's stream has no such fee
    let both = LogConfig::from_args(Some(&urls), Some(&format!("{pa},{pb}"))).unwrap();
    let host = Cardledger::open_with_log(dirs.path().join("ab"), &both).unwrap();
    for line in setup(pb, "b") {
        assert!(matches!(submit(&host, &line), Outcome::Recorded { .. }), "{line}");
    }
    match submit(&host, &order("o-b1", "u-b")) {
        Outcome::Rejected(r) => {
            assert_eq!(r.code, Code::UnknownReference, "{r}");
            assert!(r.message.contains("f-later"), "{r}");
        }
        other => panic!("an order naming a fee its program's stream lacks: {other:?}"),
    }
    // the fee submitted again: a duplicate in A (its answer), recorded in B
    let head = host.head_seq();
    assert!(matches!(submit(&host, fee), Outcome::Duplicate { .. }));
    assert_eq!(host.head_seq(), head + 1, "recorded in B's stream only");
    assert!(matches!(submit(&host, &order("o-b2", "u-b")), Outcome::Recorded { .. }));
    // and again: nothing more anywhere
    let head = host.head_seq();
    assert!(matches!(submit(&host, fee), Outcome::Duplicate { .. }));
    assert_eq!(host.head_seq(), head);
    assert!(host.verify().unwrap().ok());
}
