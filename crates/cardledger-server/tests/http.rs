//! The HTTP API end to end: a server on 127.0.0.1:0 and a real client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{json, Value};
use support::*;

/// Set-up through the Core API as the program-bound `alpha` credential:
/// the user lands in alpha's program without naming it.
fn setup_alpha(s: &Server) {
    let (st, v) = call(
        s,
        "POST",
        "/v3/fundingsources/program",
        "admin",
        Some(json!({"token": "my_program_funding_source_01", "name": "Program funds", "program_token": "prog_alpha"})),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["token"], "my_program_funding_source_01");
    // product.md §4: a program funding source carries a derived account number
    let account = v["account"].as_str().expect("a program funding source has an account");
    assert!(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()), "{v}");
    let (st, v) = call(s, "POST", "/v3/users", "alpha", Some(json!({"token": "my_user_01"})));
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["program_token"], "prog_alpha", "a program-bound credential acts in its program: {v}");
}

#[test]
fn core_api_families() {
    let s = Server::start();
    s.seed();
    setup_alpha(&s);

    // users and businesses
    let (st, v) = call(&s, "GET", "/v3/users/my_user_01", "alpha", None);
    assert_eq!((st, v["token"].as_str()), (200, Some("my_user_01")), "{v}");
    let (st, v) =
        call(&s, "POST", "/v3/businesses", "admin", Some(json!({"token": "biz_01", "program_token": "prog_alpha"})));
    assert_eq!(st, 201, "{v}");
    let (st, v) = call(&s, "GET", "/v3/businesses/biz_01", "admin", None);
    assert_eq!((st, v["program_token"].as_str()), (200, Some("prog_alpha")));

    // funding sources
    let (st, v) = call(
        &s,
        "POST",
        "/v3/fundingsources/ach",
        "alpha",
        Some(
            json!({"token": "fs_ach_01", "user_token": "my_user_01", "name": "Checking", "is_default_account": false}),
        ),
    );
    assert_eq!(st, 201, "{v}");
    let (st, v) = call(&s, "GET", "/v3/fundingsources/fs_ach_01", "alpha", None);
    assert_eq!((st, v["token"].as_str()), (200, Some("fs_ach_01")), "{v}");
    let (st, v) = call(
        &s,
        "POST",
        "/v3/fundingsources/paymentcard",
        "alpha",
        Some(json!({"token": "fs_card_01", "user_token": "my_user_01"})),
    );
    assert_eq!(st, 201, "{v}");
    let (st, v) = call(
        &s,
        "POST",
        "/v3/fundingsources/addresses",
        "alpha",
        Some(json!({"token": "fsa_01", "funding_source_token": "fs_card_01"})),
    );
    assert_eq!(st, 201, "{v}");
    let (st, _) = call(&s, "GET", "/v3/fundingsources/addresses/fsa_01", "alpha", None);
    assert_eq!(st, 200);
    let (st, v) = call(
        &s,
        "POST",
        "/v3/fundingsources/programgateway",
        "admin",
        Some(json!({"token": "fs_gw_beta", "program_token": "prog_beta", "name": "gateway"})),
    );
    assert_eq!(st, 201, "{v}");

    // fees, campaigns, merchants, offers
    for (path, body) in [
        (
            "/v3/fees",
            json!({"token": "fee_http", "name": "HTTP fee", "amount": 2.5, "currency_code": "USD", "active": true}),
        ),
        ("/v3/campaigns", json!({"token": "camp_http", "name": "HTTP campaign", "active": true})),
        ("/v3/merchants", json!({"token": "merch_http", "name": "HTTP merchant", "active": true})),
        (
            "/v3/offers",
            json!({"token": "offer_http", "name": "HTTP offer", "campaign_token": "camp_http",
            "purchase_amount": 200, "reward_amount": 50, "reward_trigger_amount": 200, "currency_code": "USD", "active": true}),
        ),
    ] {
        let (st, v) = call(&s, "POST", path, "admin", Some(body));
        assert_eq!(st, 201, "{path}: {v}");
        let token = v["token"].as_str().unwrap().to_string();
        let (st, g) = call(&s, "GET", &format!("{path}/{token}"), "admin", None);
        assert_eq!(st, 200, "{path}: {g}");
        assert_eq!(g["token"], v["token"]);
    }

    // GPA order: the page's request sample gives its response shape
    let order = json!({"token": "my_gpaorder_01", "user_token": "my_user_01", "amount": 1000, "currency_code": "USD",
        "funding_source_token": "my_program_funding_source_01", "fees": [{"token": "fee_http"}]});
    let (st, v) = call(&s, "POST", "/v3/gpaorders", "alpha", Some(order.clone()));
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["amount"], json!(1000));
    assert_eq!(v["state"], "COMPLETION");
    assert_eq!(v["response"]["code"], "0000");
    assert_eq!(v["funding_source_token"], "**********e_01");
    assert_eq!(v["user_token"], "my_user_01");
    assert_eq!(v["currency_code"], "USD");
    assert!(v["created_time"].as_str().unwrap().ends_with('Z'));
    // product.md §4: each fee item nests the fee resource in full
    let fee = &v["fees"][0];
    assert_eq!(fee["token"], "fee_http", "{v}");
    assert_eq!(fee["transaction_token"], v["transaction_token"]);
    assert_eq!(fee["fee"]["token"], "fee_http");
    assert_eq!(fee["fee"]["name"], "HTTP fee");
    assert_eq!(fee["fee"]["amount"], json!(2.5));
    assert_eq!(fee["fee"]["currency_code"], "USD");
    assert_eq!(fee["fee"]["active"], true);
    assert!(fee["fee"]["created_time"].as_str().unwrap().ends_with('Z'), "{fee}");
    // idempotent retry: same token, same body → the original answer
    let (st2, v2) = call(&s, "POST", "/v3/gpaorders", "alpha", Some(order.clone()));
    assert_eq!((st2, &v2), (201, &v));
    // same token, another body → 409
    let mut other = order.clone();
    other["amount"] = json!(999);
    let (st, e) = call(&s, "POST", "/v3/gpaorders", "alpha", Some(other));
    assert_eq!(assert_error(st, &e, 409), "1202");
    let (st, g) = call(&s, "GET", "/v3/gpaorders/my_gpaorder_01", "alpha", None);
    assert_eq!((st, &g), (200, &v));

    // GPA unloads: create, list with filters and paging, get
    for (i, amount) in [(1, 10), (2, 20), (3, 30)] {
        let (st, v) = call(
            &s,
            "POST",
            "/v3/gpaorders/unloads",
            "alpha",
            Some(json!({"token": format!("unload_{i}"), "original_order_token": "my_gpaorder_01", "amount": amount})),
        );
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["original_order_token"], "my_gpaorder_01");
    }
    let (st, l) = call(
        &s,
        "GET",
        "/v3/gpaorders/unloads?original_order_token=my_gpaorder_01&count=2&start_index=0&sort_by=createdTime",
        "alpha",
        None,
    );
    assert_eq!(st, 200, "{l}");
    assert_eq!((l["count"].as_u64(), l["is_more"].as_bool()), (Some(2), Some(true)), "{l}");
    assert_eq!(l["data"][0]["token"], "unload_1");
    let (st, l) = call(
        &s,
        "GET",
        "/v3/gpaorders/unloads?user_token=my_user_01&fields=token,amount&sort_by=-createdTime&count=5",
        "alpha",
        None,
    );
    assert_eq!(st, 200, "{l}");
    assert_eq!(l["data"][0], json!({"token": "unload_3", "amount": 30}), "{l}");
    let (st, g) = call(&s, "GET", "/v3/gpaorders/unloads/unload_2", "alpha", None);
    assert_eq!((st, g["amount"].clone()), (200, json!(20)));
    let (st, e) = call(&s, "GET", "/v3/gpaorders/unloads?count=1000&user_token=my_user_01", "alpha", None);
    assert_eq!(assert_error(st, &e, 400), "1106");

    // MSA orders, update, unloads; offer orders; fee transfers
    let (st, m) = call(
        &s,
        "POST",
        "/v3/msaorders",
        "alpha",
        Some(json!({"token": "msa_http", "campaign_token": "camp_http",
        "user_token": "my_user_01", "currency_code": "USD", "purchase_amount": 100, "funding_source_token": "my_program_funding_source_01"})),
    );
    assert_eq!(st, 201, "{m}");
    assert!(m.get("order_balances").is_some(), "{m}");
    let (st, u) = call(&s, "PUT", "/v3/msaorders/msa_http", "alpha", Some(json!({"active": false})));
    assert_eq!(st, 200, "{u}");
    let (st, g) = call(&s, "GET", "/v3/msaorders/msa_http", "alpha", None);
    assert_eq!((st, g["active"].clone()), (200, json!(false)), "{g}");
    // an inactive order refuses unloads (1216); reactivated, it takes them
    let unload = json!({"token": "msa_unload_http", "original_order_token": "msa_http", "amount": 5});
    let (st, e) = call(&s, "POST", "/v3/msaorders/unloads", "alpha", Some(unload.clone()));
    assert_eq!(assert_error(st, &e, 400), "1216");
    let (st, u) = call(&s, "PUT", "/v3/msaorders/msa_http", "alpha", Some(json!({"active": true})));
    assert_eq!(st, 200, "{u}");
    let (st, mu) = call(&s, "POST", "/v3/msaorders/unloads", "alpha", Some(unload));
    assert_eq!(st, 201, "{mu}");
    assert_eq!(mu["active"], true, "{mu}");
    let (st, _) = call(&s, "GET", "/v3/msaorders/unloads/msa_unload_http", "alpha", None);
    assert_eq!(st, 200);
    let (st, l) = call(&s, "GET", "/v3/msaorders/unloads?original_order_token=msa_http", "alpha", None);
    assert_eq!((st, l["count"].as_u64()), (200, Some(1)), "{l}");
    let (st, o) = call(
        &s,
        "POST",
        "/v3/offerorders",
        "alpha",
        Some(json!({"token": "offer_order_http", "offer_token": "offer_http",
        "user_token": "my_user_01", "funding_source_token": "my_program_funding_source_01"})),
    );
    assert_eq!(st, 201, "{o}");
    let (st, _) = call(&s, "GET", "/v3/offerorders/offer_order_http", "alpha", None);
    assert_eq!(st, 200);
    let (st, f) = call(
        &s,
        "POST",
        "/v3/feetransfers",
        "alpha",
        Some(json!({"token": "ft_http", "user_token": "my_user_01", "fees": [{"token": "fee_http"}]})),
    );
    assert_eq!(st, 201, "{f}");
    let (st, _) = call(&s, "GET", "/v3/feetransfers/ft_http", "alpha", None);
    assert_eq!(st, 200);

    // balances: 1000 loaded, 60 unloaded, fees 2.5 debited twice (order, transfer), 200 offer purchase on the MSA
    let (st, b) = call(&s, "GET", "/v3/balances/my_user_01", "alpha", None);
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["gpa"]["ledger_balance"], json!(937.5), "{b}");
    assert_eq!(b["gpa"]["currency_code"], "USD");
    assert_eq!(b["gpa"]["cached_balance"], json!(937.5), "{b}");
    assert_eq!(b["gpa"]["balances"]["USD"]["balances"], json!({}), "{b}");
    assert!(b["links"].as_array().is_some_and(|l| !l.is_empty()));
    let (st, b) = call(&s, "GET", "/v3/balances/my_user_01/msas", "alpha", None);
    assert_eq!(st, 200, "{b}");
    assert!(b["data"].as_array().is_some_and(|d| !d.is_empty()), "{b}");

    // credit accounts and statements (the workload's ca_0001 has closed cycles after 5 days)
    let (st, a) = call(&s, "GET", "/v3/credit/accounts/ca_0001", "admin", None);
    assert_eq!(st, 200, "{a}");
    let (st, list) = call(&s, "GET", "/v3/credit/accounts/ca_0001/statements?count=10", "admin", None);
    assert_eq!(st, 200, "{list}");
    let first = list["data"][0]["token"].as_str().expect("a statement summary").to_string();
    for part in ["", "/paymentinfo", "/interestcharges", "/journalentries", "/yeartodate", "/rewards", "/files"] {
        let (st, v) = call(&s, "GET", &format!("/v3/credit/accounts/ca_0001/statements/{first}{part}"), "admin", None);
        assert_eq!(st, 200, "{part}: {v}");
    }
    // its balance between statements, its journal entries, and the lists
    let (st, b) = call(&s, "GET", "/v3/credit/accounts/ca_0001/balances", "admin", None);
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["account_token"], "ca_0001");
    for field in ["current_balance", "available_credit", "credit_limit"] {
        assert!(b[field].is_number(), "{field}: {b}");
    }
    assert!(b["open_cycle"]["purchases"].is_number() && b["open_cycle"]["payments"].is_number(), "{b}");
    let other = if a["program_token"] == "prog_alpha" { "beta" } else { "alpha" };
    let (st, e) = call(&s, "GET", "/v3/credit/accounts/ca_0001/balances", other, None);
    assert_error(st, &e, 404);
    let (st, e) = call(&s, "GET", "/v3/credit/accounts/nope/balances", "admin", None);
    assert_error(st, &e, 404);
    let (st, v) = call(&s, "GET", "/v3/credit/accounts/ca_0001/journalentries?count=3", "admin", None);
    assert_eq!((st, v["count"].as_u64()), (200, Some(3)), "{v}");
    assert!(v["data"].as_array().unwrap().iter().all(|j| j["account_token"] == "ca_0001"), "{v}");
    for path in [
        "/v3/credit/accounts",
        "/v3/fees",
        "/v3/campaigns",
        "/v3/merchants",
        "/v3/offers",
        "/v3/gpaorders",
        "/v3/msaorders",
        "/v3/offerorders",
        "/v3/feetransfers",
        "/v3/journalentries",
        "/v3/programdeposits",
    ] {
        let (st, v) = call(&s, "GET", &format!("{path}?count=2"), "admin", None);
        assert_eq!(st, 200, "{path}: {v}");
        assert!(v["data"].is_array() && v["is_more"].is_boolean(), "{path}: {v}");
    }
    let (st, e) = call(&s, "GET", "/v3/gpaorders?count=101", "admin", None);
    assert_error(st, &e, 400);
    for path in ["/statements/files", "/delinquencystate", "/delinquencystate/transitions"] {
        let (st, v) = call(&s, "GET", &format!("/v3/credit/accounts/ca_0001{path}"), "admin", None);
        assert_eq!(st, 200, "{path}: {v}");
    }
    let (st, e) = call(&s, "GET", "/v3/credit/accounts/nope/statements", "admin", None);
    assert_error(st, &e, 404);
    let (st, e) = call(&s, "GET", "/v3/credit/accounts/ca_0001/statements?count=x", "admin", None);
    assert_error(st, &e, 400);
}

#[test]
fn commands_endpoint_answers_ingest_lines() {
    let s = Server::start();
    let body = "{\"program\": {\"token\": \"p_cmd\", \"bank\": \"B\", \"currency_code\": \"USD\"}}\n\n{\"nope\": {}}\n{\"program_deposit\": {\"program_token\": \"p_cmd\", \"amount\": 10, \"currency_code\": \"USD\"}}\n";
    let (st, text) = call_raw("POST", &s.url("/v3/commands"), Some("admin"), Some(body), "application/x-ndjson");
    assert_eq!(st, 200, "{text}");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // one answer per line: the empty one too (1001)
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!((lines[0]["line"].as_u64(), lines[0]["seq"].as_u64()), (Some(1), Some(1)));
    assert_eq!((lines[1]["line"].as_u64(), lines[1]["error_code"].as_u64()), (Some(2), Some(1001)));
    assert_eq!(lines[2]["line"].as_u64(), Some(3));
    assert!(lines[2]["error_code"].as_u64().is_some());
    assert_eq!(lines[3]["command"], "program_deposit");
    // a program-bound credential may not send another program's commands, nor a tick
    let (st, text) = call_raw(
        "POST",
        &s.url("/v3/commands"),
        Some("alpha"),
        Some("{\"program_deposit\": {\"program_token\": \"p_cmd\", \"amount\": 1, \"currency_code\": \"USD\"}}"),
        "application/x-ndjson",
    );
    assert_eq!(st, 403, "{text}");
    let (st, text) = call_raw(
        "POST",
        &s.url("/v3/commands"),
        Some("alpha"),
        Some("{\"tick\": {\"now\": \"2030-01-01T00:00:00Z\"}}"),
        "application/x-ndjson",
    );
    assert_eq!(st, 403, "{text}");
}

#[test]
fn auth_and_scoping() {
    let s = Server::start();
    s.seed();
    setup_alpha(&s);
    // no credentials, wrong password, unknown user: 401 with WWW-Authenticate
    for auth in [None, Some("Basic YWxwaGE6d3Jvbmc="), Some("Basic bm9ib2R5Om5vcGU="), Some("Bearer x")] {
        let mut req = ureq::get(&s.url("/v3/users/my_user_01"));
        if let Some(a) = auth {
            req = req.set("Authorization", a);
        }
        match req.call() {
            Err(ureq::Error::Status(401, r)) => {
                assert!(r.header("WWW-Authenticate").is_some_and(|h| h.starts_with("Basic")));
                let v: Value = r.into_json().unwrap();
                assert_eq!(v["error_code"], "401001");
            }
            other => panic!("{auth:?}: expected 401, got {other:?}"),
        }
    }
    let (st, _) = call_raw("GET", &s.url("/"), None, None, "");
    assert_eq!(st, 401, "the dashboard needs credentials too");
    // naming another program: 403
    let (st, e) = call(&s, "POST", "/v3/users", "alpha", Some(json!({"token": "u_x", "program_token": "prog_beta"})));
    assert_eq!(assert_error(st, &e, 403), "403101");
    // ordering for a holder of another program: 403, nothing recorded
    let (st, e) = call(
        &s,
        "POST",
        "/v3/gpaorders",
        "beta",
        Some(json!({"token": "g_cross", "user_token": "my_user_01",
        "amount": 5, "currency_code": "USD"})),
    );
    assert_error(st, &e, 403);
    let (st, _) = call(&s, "GET", "/v3/gpaorders/g_cross", "admin", None);
    assert_eq!(st, 404);
    // another program's resource reads as absent
    let (st, e) = call(&s, "GET", "/v3/users/my_user_01", "beta", None);
    assert_error(st, &e, 404);
    let (st, e) = call(&s, "GET", "/v3/balances/my_user_01", "beta", None);
    assert_error(st, &e, 404);
    // a credential bound to one program lists that program's records only
    let (st, v) = call(&s, "GET", "/v3/gpaorders/unloads", "beta", None);
    assert_eq!((st, v["count"].as_u64()), (200, Some(0)), "{v}");
    let (st, v) = call(&s, "GET", "/v3/gpaorders/unloads", "alpha", None);
    assert!(st == 200 && v["count"].as_u64() > Some(0), "{v}");
    let (st, e) = call(&s, "GET", "/v3/gpaorders/unloads?user_token=my_user_01", "beta", None);
    assert_error(st, &e, 403);
    // DiVA: the principal's programs scope every query (403001..403003)
    let (st, e) = call(&s, "GET", "/data/v2/views/programbalances/day?program=prog_alpha", "beta", None);
    let code = assert_error(st, &e, 403);
    assert!(["403001", "403002", "403003"].contains(&code.as_str()), "{e}");
    let (st, v) = call(&s, "GET", "/data/v2/views/programbalances/day?program=prog_beta", "beta", None);
    assert_eq!(st, 200, "{v}");
}

#[test]
fn diva_views_schema_exports() {
    let s = Server::start();
    s.seed();
    let (st, v) = call(&s, "GET", "/data/v2/views", "admin", None);
    assert_eq!(st, 200);
    assert_eq!(v["views"].as_array().unwrap().len(), 3);
    for (view, agg) in [
        ("programbalances", "day"),
        ("programbalances", "month"),
        ("programreservebalances", "day"),
        ("activitybalances", "day"),
        ("activitybalances", "network"),
        ("activitybalances", "actor"),
    ] {
        let (st, v) = call(
            &s,
            "GET",
            &format!("/data/v2/views/{view}/{agg}?program=prog_alpha&count=3&totals=true"),
            "admin",
            None,
        );
        assert_eq!(st, 200, "{view}/{agg}: {v}");
        assert!(v["records"].as_array().is_some_and(|r| !r.is_empty()), "{view}/{agg}: {v}");
        let (st, sc) = call(&s, "GET", &format!("/data/v2/views/{view}/{agg}/schema"), "admin", None);
        assert_eq!(st, 200, "{sc}");
        assert!(sc.as_array().is_some_and(|a| a.iter().any(|c| c["field"] == "program")), "{sc}");
    }
    let (st, e) = call(&s, "GET", "/data/v2/views/programbalances/week?program=prog_alpha", "admin", None);
    assert_error(st, &e, 400);
    let (st, e) = call(&s, "GET", "/data/v2/views/programbalances/day?program=prog_alpha&sort_by=nope", "admin", None);
    assert_error(st, &e, 400);
    // downloads: gz csv, zip xlsx
    let res = ureq::get(&s.url("/data/v2/views/programbalances/day?program=prog_alpha&format=csv"))
        .set("Authorization", &basic("admin"))
        .call()
        .unwrap();
    assert!(res.header("Content-Disposition").is_some_and(|d| d.contains("attachment") && d.contains(".csv.gz")));
    let mut gz = Vec::new();
    res.into_reader().read_to_end(&mut gz).unwrap();
    let mut csv = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut csv).unwrap();
    assert!(csv.lines().next().unwrap().contains("ending_bank_balance"), "{csv}");
    let res =
        ureq::get(&s.url("/data/v2/views/programreservebalances/day?program=prog_alpha&format=xlsx&compress=zip"))
            .set("Authorization", &basic("admin"))
            .call()
            .unwrap();
    let mut zip = Vec::new();
    res.into_reader().read_to_end(&mut zip).unwrap();
    assert_eq!(&zip[..2], b"PK");
    let (st, e) = call(&s, "GET", "/data/v2/views/programbalances/day?program=prog_alpha&format=xlsx", "admin", None);
    assert_error(st, &e, 400);
    // the page's export: a token, then the file
    let (st, t) =
        call(&s, "GET", "/data/v2/views/activitybalances/day/csv?program=prog_alpha&compress=gz", "admin", None);
    assert_eq!(st, 200, "{t}");
    let token = t["token"].as_str().unwrap();
    assert!(token.ends_with(".csv.gz"));
    let (st, _) = call_raw("GET", &s.url(&format!("/data/v2/exports/{token}")), Some("admin"), None, "");
    assert_eq!(st, 200);
    let (st, e) = call(&s, "GET", "/data/v2/exports/..%2F..%2Fcredentials.jsonl", "admin", None);
    assert_error(st, &e, 404);
}

#[test]
fn every_error_status() {
    let s = Server::start_with(|mut c| {
        c.requests_in_flight_max = 4;
        c
    });
    s.seed();
    // 400: malformed JSON, not an object, bad field
    let (st, text) = call_raw("POST", &s.url("/v3/users"), Some("admin"), Some("{\"token\": "), "application/json");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(assert_error(st, &v, 400), "1001");
    let (st, e) = call(&s, "POST", "/v3/users", "admin", Some(json!([1])));
    assert_eq!(assert_error(st, &e, 400), "1002");
    let (st, e) = call(
        &s,
        "POST",
        "/v3/gpaorders",
        "admin",
        Some(json!({"user_token": "user_00001", "amount": -1, "currency_code": "USD"})),
    );
    let code = assert_error(st, &e, 400);
    assert_eq!(code, "1101", "{e}");
    assert!(e["error_message"].as_str().unwrap().contains("amount"));
    let (st, e) =
        call(&s, "POST", "/v3/users", "admin", Some(json!({"token": "u1", "program_token": "prog_alpha", "extra": 1})));
    assert_eq!(assert_error(st, &e, 400), "1005");
    // 404: unknown token, unknown route; 405
    let (st, e) = call(&s, "GET", "/v3/gpaorders/nope", "admin", None);
    assert_error(st, &e, 404);
    let (st, e) = call(&s, "GET", "/v3/nothing/here", "admin", None);
    assert_error(st, &e, 404);
    let (st, e) = call(&s, "DELETE", "/v3/gpaorders", "admin", None);
    assert_error(st, &e, 405);
    // 415: not JSON
    let (st, text) =
        call_raw("POST", &s.url("/v3/users"), Some("admin"), Some("token=x"), "application/x-www-form-urlencoded");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(assert_error(st, &v, 415), "415001");
    // 414: an over-long path; 431: over-large headers
    let long = "x".repeat(5000);
    let (st, text) = call_raw("GET", &s.url(&format!("/v3/users/{long}")), Some("admin"), None, "");
    assert_eq!(st, 414, "{text}");
    let res =
        ureq::get(&s.url("/v3/users/u")).set("Authorization", &basic("admin")).set("X-Big", &"y".repeat(20_000)).call();
    assert!(matches!(res, Err(ureq::Error::Status(431, _))), "{res:?}");
    // 429: more requests in flight than allowed (4 here)
    let url = s.url("/v3/commands");
    let big: String =
        (0..20_000).map(|i| format!("{{\"tick\": {{\"now\": \"2031-01-01T00:00:{:02}Z\"}}}}\n", i % 60)).collect();
    let handles: Vec<_> = (0..24)
        .map(|_| {
            let (url, big) = (url.clone(), big.clone());
            std::thread::spawn(move || call_raw("POST", &url, Some("admin"), Some(&big), "application/x-ndjson").0)
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");
}

#[test]
fn ten_megabyte_body_is_refused_unread() {
    let s = Server::start();
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut tcp = TcpStream::connect(&addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    // declare 10 MB and send none of it: the answer comes anyway, so the
    // server did not wait to buffer the body
    let head = format!(
        "POST /v3/gpaorders HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        basic("admin"),
        10 * 1024 * 1024
    );
    tcp.write_all(head.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tcp.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("413001"), "{text}");
    // a chunked body without a length is cut at the limit while read
    let mut tcp = TcpStream::connect(&addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /v3/gpaorders HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        basic("admin")
    );
    tcp.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..3 {
        let _ = tcp.write_all(format!("{:x}\r\n", chunk.len()).as_bytes());
        let _ = tcp.write_all(&chunk);
        let _ = tcp.write_all(b"\r\n");
    }
    let n = tcp.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}

#[test]
fn refuses_to_start_without_auth_or_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let cfg = cardledger_server::Config::new(dir.path().join("d"), "127.0.0.1:0".into(), None, false);
    let e = rt.block_on(cardledger_server::serve(cfg, async {}, |_| panic!("must not listen"))).unwrap_err();
    assert!(e.to_string().contains("--credentials"), "{e}");
    let cfg = cardledger_server::Config::new(dir.path().join("d"), "0.0.0.0:0".into(), None, true);
    let e = rt.block_on(cardledger_server::serve(cfg, async {}, |_| panic!("must not listen"))).unwrap_err();
    assert!(e.to_string().contains("non-loopback"), "{e}");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"username\": \"x\"}\n").unwrap();
    let cfg = cardledger_server::Config::new(dir.path().join("d"), "127.0.0.1:0".into(), Some(bad), false);
    let e = rt.block_on(cardledger_server::serve(cfg, async {}, |_| panic!("must not listen"))).unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn graceful_shutdown_loses_nothing_acknowledged() {
    let mut s = Server::start();
    s.seed();
    let url = s.url("/v3/gpaorders");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let (url, stop) = (url.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().build();
                let mut acked = Vec::new();
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) && i > 0 {
                        break;
                    }
                    let token = format!("g_{w}_{i}");
                    let body = json!({"token": token, "user_token": "user_00001", "amount": 1, "currency_code": "USD"});
                    match agent.post(&url).set("Authorization", &basic("admin")).send_json(body) {
                        Ok(r) if r.status() == 201 => acked.push(token),
                        Ok(r) => panic!("unexpected {}", r.status()),
                        Err(ureq::Error::Status(c, r)) => panic!("{c}: {}", r.into_string().unwrap()),
                        Err(_) => break, // the server stopped accepting
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(700));
    s.stop().expect("a clean stop");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked: Vec<String> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    assert!(acked.len() > 16, "orders were acknowledged before the stop: {}", acked.len());
    let ledger = cardledger::Cardledger::open(s.data()).unwrap();
    for t in &acked {
        ledger.get("gpa_order", t).unwrap_or_else(|e| panic!("acknowledged {t} lost: {e}"));
    }
}

#[test]
fn lists_of_users_businesses_and_funding_sources() {
    let s = Server::start();
    s.seed();
    setup_alpha(&s);
    let (st, _) =
        call(&s, "POST", "/v3/businesses", "admin", Some(json!({"token": "biz_l1", "program_token": "prog_alpha"})));
    assert_eq!(st, 201);
    let (st, _) = call(
        &s,
        "POST",
        "/v3/fundingsources/ach",
        "alpha",
        Some(json!({"token": "fs_l1", "user_token": "my_user_01", "name": "Checking", "is_default_account": false})),
    );
    assert_eq!(st, 201);

    // a credential bound to one program lists that program's users only
    let (st, v) = call(&s, "GET", "/v3/users?count=100&sort_by=createdTime", "alpha", None);
    assert_eq!(st, 200, "{v}");
    let users = v["data"].as_array().unwrap();
    assert!(users.iter().any(|u| u["token"] == "my_user_01"), "{v}");
    assert!(users.iter().all(|u| u["program_token"] == "prog_alpha"), "{v}");
    // every-program credential: all users, paged, newest first by default
    let (st, all) = call(&s, "GET", "/v3/users?count=2", "admin", None);
    assert_eq!((st, all["count"].as_u64(), all["is_more"].as_bool()), (200, Some(2), Some(true)), "{all}");
    assert_eq!(all["data"][0]["token"], "my_user_01", "the newest user first: {all}");
    let (st, v) = call(&s, "GET", "/v3/businesses?program_token=prog_alpha&count=100", "admin", None);
    assert_eq!(st, 200, "{v}");
    assert!(v["data"].as_array().unwrap().iter().any(|b| b["token"] == "biz_l1"), "{v}");

    // a holder's funding sources
    let (st, v) = call(&s, "GET", "/v3/fundingsources/user/my_user_01", "alpha", None);
    assert_eq!(st, 200, "{v}");
    let tokens: Vec<&str> = v["data"].as_array().unwrap().iter().map(|f| f["token"].as_str().unwrap()).collect();
    assert!(tokens.contains(&"fs_l1"), "{v}");
    assert!(v["data"].as_array().unwrap().iter().all(|f| f["user_token"] == "my_user_01"), "{v}");
    let (st, v) = call(&s, "GET", "/v3/fundingsources/addresses/user/my_user_01", "alpha", None);
    assert_eq!((st, v["count"].as_u64()), (200, Some(0)), "{v}");

    // a filter a kind does not take is refused with the field named
    let (st, v) = call(&s, "GET", "/v3/users?original_order_token=x", "admin", None);
    assert_eq!(st, 400, "{v}");
    assert!(v["error_message"].as_str().unwrap().contains("original_order_token"), "{v}");
}

/// `2017-05-10T23:00:15Z`: whole seconds, as product.md §4 prints them.
fn assert_seconds(t: &Value) {
    let t = t.as_str().unwrap_or_else(|| panic!("a timestamp string: {t}"));
    assert!(
        t.len() == 20
            && t.ends_with('Z')
            && !t.contains('.')
            && cardledger::layers::domain::time::Timestamp::parse(t).is_some(),
        "{t:?} is not yyyy-MM-ddTHH:mm:ssZ"
    );
}

#[test]
fn timestamps_render_alike_over_http_and_json_lines() {
    let s = Server::start();
    let setup = "{\"program\": {\"token\": \"p_t\", \"bank\": \"B\", \"currency_code\": \"USD\"}}\n\
        {\"funding_source\": {\"token\": \"fs_t\", \"program_token\": \"p_t\", \"type\": \"program\", \"is_default_account\": true}}\n\
        {\"user\": {\"token\": \"u_t\", \"program_token\": \"p_t\"}}\n";
    let (st, text) = call_raw("POST", &s.url("/v3/commands"), Some("admin"), Some(setup), "application/x-ndjson");
    assert!(st == 200 && !text.contains("error_code"), "{text}");

    // the same order over HTTP and as a JSON line, neither with a `time`
    let (st, http) = call(
        &s,
        "POST",
        "/v3/gpaorders",
        "admin",
        Some(json!({"token": "g_http", "user_token": "u_t", "amount": 5, "currency_code": "USD"})),
    );
    assert_eq!(st, 201, "{http}");
    let line = "{\"gpa_order\": {\"token\": \"g_line\", \"user_token\": \"u_t\", \"amount\": 5, \"currency_code\": \"USD\"}}\n";
    let (st, text) = call_raw("POST", &s.url("/v3/commands"), Some("admin"), Some(line), "application/x-ndjson");
    assert_eq!(st, 200, "{text}");
    let answer: Value = serde_json::from_str(text.trim()).unwrap();
    let from_line = answer["response"].clone();
    for v in [&http, &from_line] {
        assert_seconds(&v["created_time"]);
        assert_seconds(&v["last_modified_time"]);
        assert_seconds(&v["funding"]["source"]["created_time"]);
    }
    // one renderer: what the JSON line answered is what HTTP reads back
    let (st, read) = call(&s, "GET", "/v3/gpaorders/g_line", "admin", None);
    assert_eq!(st, 200);
    assert_eq!(read, from_line);
    // and the two differ only in what must differ (token, transaction, time)
    let strip = |v: &Value| {
        let mut v = v.clone();
        for k in ["token", "transaction_token", "created_time", "last_modified_time"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    assert_eq!(strip(&http), strip(&from_line));
    // a time the client gives is printed as given
    let line = "{\"time\": \"2024-02-03T04:05:06Z\", \"gpa_order\": {\"token\": \"g_timed\", \"user_token\": \"u_t\", \"amount\": 5, \"currency_code\": \"USD\"}}\n";
    let (_, text) = call_raw("POST", &s.url("/v3/commands"), Some("admin"), Some(line), "application/x-ndjson");
    let answer: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(answer["response"]["created_time"], "2024-02-03T04:05:06Z", "{answer}");
    let (_, read) = call(&s, "GET", "/v3/gpaorders/g_timed", "admin", None);
    assert_eq!(read, answer["response"]);
    // balances: whole seconds too
    let (st, b) = call(&s, "GET", "/v3/balances/u_t", "admin", None);
    assert_eq!(st, 200, "{b}");
    assert_seconds(&b["gpa"]["last_updated_time"]);
    assert_eq!(b["gpa"]["balances"]["USD"]["last_updated_time"], b["gpa"]["last_updated_time"]);
}

#[test]
fn credit_ledger_entries() {
    let s = Server::start();
    s.seed();
    let (st, a) = call(&s, "GET", "/v3/credit/accounts/ca_0001", "admin", None);
    assert_eq!(st, 200, "{a}");
    let (st, list) = call(&s, "GET", "/v3/credit/accounts/ca_0001/statements?count=100", "admin", None);
    assert_eq!(st, 200, "{list}");
    let statements: Vec<String> =
        list["data"].as_array().unwrap().iter().map(|v| v["token"].as_str().unwrap().to_string()).collect();
    assert!(!statements.is_empty(), "{list}");
    let mut in_statements = Vec::new();
    let mut journal_total = 0;
    for st_token in &statements {
        let base = format!("/v3/credit/accounts/ca_0001/statements/{st_token}");
        let (st, journal) = call(&s, "GET", &format!("{base}/journalentries?count=100"), "admin", None);
        assert_eq!(st, 200, "{journal}");
        assert_eq!(journal["is_more"], false);
        journal_total += journal["data"].as_array().unwrap().len();
        // the page's bare array: the journal entries that are in the ledger, without user_token
        let (st, ledger) = call(&s, "GET", &format!("{base}/ledgerentries"), "admin", None);
        assert_eq!(st, 200, "{ledger}");
        let want: Vec<Value> = journal["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| matches!(e["status"].as_str(), Some("PENDING" | "POSTED")))
            .map(|e| {
                let mut e = e.clone();
                e.as_object_mut().unwrap().remove("user_token");
                e
            })
            .collect();
        assert_eq!(ledger, Value::Array(want), "{st_token}");
        for e in ledger.as_array().unwrap() {
            for k in [
                "token",
                "account_token",
                "status",
                "group",
                "type",
                "id",
                "amount",
                "currency_code",
                "request_time",
                "impact_time",
                "created_time",
                "detail_token",
            ] {
                assert!(!e[k].is_null(), "{k} missing: {e}");
            }
            in_statements.push(e["token"].as_str().unwrap().to_string());
        }
        // sort_by ascending: oldest first, the same entries
        let (_, asc) = call(&s, "GET", &format!("{base}/ledgerentries?sort_by=lastModifiedTime"), "admin", None);
        let times: Vec<&str> = asc.as_array().unwrap().iter().map(|e| e["created_time"].as_str().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        let mut a: Vec<String> = asc.as_array().unwrap().iter().map(|e| e["token"].to_string()).collect();
        let mut d: Vec<String> = ledger.as_array().unwrap().iter().map(|e| e["token"].to_string()).collect();
        a.sort();
        d.sort();
        assert_eq!(a, d);
        let (_, expanded) = call(&s, "GET", &format!("{base}/ledgerentries?expand=detailObject"), "admin", None);
        assert!(
            expanded.as_array().unwrap().iter().all(|e| e["detail_object"]["token"] == e["detail_token"]),
            "{expanded}"
        );
        // the page defines only sort_by and expand here
        let (st, e) = call(&s, "GET", &format!("{base}/ledgerentries?count=5"), "admin", None);
        assert_eq!(assert_error(st, &e, 400), "1304");
    }
    assert!(!in_statements.is_empty(), "the seeded account has ledger entries");
    assert!(journal_total >= in_statements.len());

    // the account's list: every statement's ledger entries, and the open cycle's
    let mut listed = Vec::new();
    let mut start = 0;
    loop {
        let (st, page) = call(
            &s,
            "GET",
            &format!("/v3/credit/accounts/ca_0001/ledgerentries?count=100&start_index={start}"),
            "admin",
            None,
        );
        assert_eq!(st, 200, "{page}");
        for e in page["data"].as_array().unwrap() {
            assert!(matches!(e["status"].as_str(), Some("PENDING" | "POSTED")), "{e}");
            assert!(e.get("user_token").is_none(), "{e}");
            listed.push(e["token"].as_str().unwrap().to_string());
        }
        if page["is_more"] != true {
            break;
        }
        start += 100;
    }
    for t in &in_statements {
        assert!(listed.contains(t), "{t} of a statement is not in the account's ledger entries");
    }
    // unknown account, another program's account
    let (st, e) = call(&s, "GET", "/v3/credit/accounts/nope/ledgerentries", "admin", None);
    assert_error(st, &e, 404);
    let other = if a["program_token"] == "prog_alpha" { "beta" } else { "alpha" };
    let (st, e) = call(&s, "GET", "/v3/credit/accounts/ca_0001/ledgerentries", other, None);
    assert_error(st, &e, 404);
}

/// 503: a storage failure stops the engine (poisoned) until a restart. Here
/// the failure is real: a record the engine must read back (to answer a
/// repeated order) is damaged on disk, so the engine refuses every write
/// from then on; reads keep answering from memory.
#[test]
fn poisoned_engine_answers_503() {
    let data = tempfile::tempdir().unwrap();
    let ledger = cardledger::Cardledger::open(data.path().join("data")).unwrap();
    let s = Server::start_ledger(ledger.clone(), |c| c);
    let setup = "{\"program\": {\"token\": \"p_p\", \"bank\": \"B\", \"currency_code\": \"USD\"}}\n\
        {\"funding_source\": {\"token\": \"fs_p\", \"program_token\": \"p_p\", \"type\": \"program\", \"is_default_account\": true}}\n\
        {\"user\": {\"token\": \"u_p\", \"program_token\": \"p_p\"}}\n";
    let (st, text) = call_raw("POST", &s.url("/v3/commands"), Some("admin"), Some(setup), "application/x-ndjson");
    assert!(st == 200 && !text.contains("error_code"), "{text}");
    let order = json!({"token": "g_p", "user_token": "u_p", "amount": 5, "currency_code": "USD"});
    let (st, v) = call(&s, "POST", "/v3/gpaorders", "admin", Some(order.clone()));
    assert_eq!(st, 201, "{v}");
    let seq = ledger.head_seq();
    ledger.engine().store().debug_corrupt_record(seq, 12, 0x5a).unwrap();
    // the repeat reads the damaged record: a storage error, which stops the engine
    let (st, e) = call(&s, "POST", "/v3/gpaorders", "admin", Some(order));
    assert_error(st, &e, 500);
    // from now on every write is 503 503001, with Retry-After
    let res = ureq::post(&s.url("/v3/gpaorders"))
        .set("Authorization", &basic("admin"))
        .set("Content-Type", "application/json")
        .send_string(&json!({"token": "g_p2", "user_token": "u_p", "amount": 1, "currency_code": "USD"}).to_string());
    let Err(ureq::Error::Status(503, r)) = res else { panic!("not 503: {res:?}") };
    assert_eq!(r.header("Retry-After"), Some("1"));
    let e: Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
    assert_eq!(assert_error(503, &e, 503), "503001");
    assert!(e["error_message"].as_str().unwrap().contains("reopen"), "{e}");
    let (st, text) = call_raw(
        "POST",
        &s.url("/v3/commands"),
        Some("admin"),
        Some("{\"user\": {\"token\": \"u_p2\", \"program_token\": \"p_p\"}}\n"),
        "application/x-ndjson",
    );
    assert_eq!(st, 503, "{text}");
    // reads still answer
    let (st, v) = call(&s, "GET", "/v3/users/u_p", "admin", None);
    assert_eq!(st, 200, "{v}");
}

/// 429: more engine calls in flight than the configured bound (1 here):
/// the extra ones are refused at once, with the error shape and
/// Retry-After, and nothing of theirs is recorded.
#[test]
fn saturated_server_answers_429() {
    let s = Server::start_with(|mut c| {
        c.requests_in_flight_max = 1;
        c
    });
    let url = s.url("/v3/commands");
    let users = |t: usize| -> String {
        (0..5_000)
            .map(|i| format!("{{\"user\": {{\"token\": \"u{t}_{i}\", \"program_token\": \"p429\"}}}}\n"))
            .collect()
    };
    let (st, text) = call_raw(
        "POST",
        &url,
        Some("admin"),
        Some("{\"program\": {\"token\": \"p429\", \"bank\": \"B\", \"currency_code\": \"USD\"}}\n"),
        "application/x-ndjson",
    );
    assert_eq!(st, 200, "{text}");
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let (url, body) = (url.clone(), users(t));
            std::thread::spawn(move || {
                let res = ureq::post(&url)
                    .set("Authorization", &basic("admin"))
                    .set("Content-Type", "application/x-ndjson")
                    .send_string(&body);
                match res {
                    Ok(r) => (t, 200, None, r.into_string().unwrap()),
                    Err(ureq::Error::Status(code, r)) => {
                        let retry = r.header("Retry-After").map(str::to_string);
                        (t, code, retry, r.into_string().unwrap())
                    }
                    Err(e) => panic!("{e}"),
                }
            })
        })
        .collect();
    let answers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let refused: Vec<_> = answers.iter().filter(|a| a.1 == 429).collect();
    assert!(!refused.is_empty(), "{:?}", answers.iter().map(|a| a.1).collect::<Vec<_>>());
    assert!(answers.iter().all(|a| a.1 == 200 || a.1 == 429));
    for (t, _, retry, body) in &refused {
        assert_eq!(retry.as_deref(), Some("1"));
        let e: Value = serde_json::from_str(body).unwrap();
        assert_eq!(assert_error(429, &e, 429), "429001");
        // nothing of a refused request was recorded
        let (st, _) = call(&s, "GET", &format!("/v3/users/u{t}_0"), "admin", None);
        assert_eq!(st, 404);
    }
    // the bound frees up: requests are answered again, a program-bound
    // credential's too (its scope check runs within its one place)
    let (st, v) = call(&s, "GET", "/v3/users/u_none", "admin", None);
    assert_eq!(st, 404, "{v}");
    let (st, text) = call_raw(
        "POST",
        &url,
        Some("admin"),
        Some("{\"program\": {\"token\": \"prog_alpha\", \"bank\": \"B\", \"currency_code\": \"USD\"}}\n"),
        "application/x-ndjson",
    );
    assert_eq!(st, 200, "{text}");
    let (st, v) = call(&s, "POST", "/v3/users", "alpha", Some(json!({"token": "u_alpha_429"})));
    assert_eq!(st, 201, "{v}");
}

/// The dashboard's latest statement closes are the statements endpoints'
/// figures: the row of an account shows its newest statement's new balance
/// and minimum payment due.
#[test]
fn dashboard_lists_latest_statement_closes() {
    let s = Server::start();
    s.seed();
    let (st, html) = call_raw("GET", &s.url("/"), Some("admin"), None, "");
    assert_eq!(st, 200);
    let (_, a) = call(&s, "GET", "/v3/credit/accounts/ca_0001", "admin", None);
    let program = a["program_token"].as_str().unwrap();
    let (_, list) = call(&s, "GET", "/v3/credit/accounts/ca_0001/statements?count=1", "admin", None);
    let newest = &list["data"][0];
    let token = newest["token"].as_str().unwrap();
    let (_, pay) =
        call(&s, "GET", &format!("/v3/credit/accounts/ca_0001/statements/{token}/paymentinfo"), "admin", None);
    let start = html.find(&format!("data-program=\"{program}\"")).unwrap();
    let section = &html[start..];
    let section = &section[..section.find("</section>").unwrap()];
    let row = section.split("<tr class=\"close\">").skip(1).find(|r| r.contains(">ca_0001<")).expect("ca_0001's row");
    let cells: Vec<&str> =
        row.split("<td").skip(1).map(|c| &c[c.find('>').unwrap() + 1..c.find("</td>").unwrap()]).collect();
    assert_eq!(cells[1], token, "{row}");
    assert_eq!(cells[4].parse::<f64>().unwrap(), newest["closing_balance"].as_f64().unwrap(), "{row}");
    assert_eq!(cells[5].parse::<f64>().unwrap(), pay["minimum_payment_due"].as_f64().unwrap(), "{row}");
    // the closing date is the account's local day of the closing instant
    // (printed in UTC by the endpoint): the same day or, west of UTC, the day before
    use cardledger::layers::domain::time::Date;
    let utc = Date::parse(&newest["closing_date"].as_str().unwrap()[..10]).unwrap();
    let local = Date::parse(cells[3]).unwrap();
    assert!(local == utc || local.0 + 1 == utc.0, "{row} vs {newest}");
    // a program-bound credential sees only its program's closes
    let other = if program == "prog_alpha" { "beta" } else { "alpha" };
    let (_, html) = call_raw("GET", &s.url("/"), Some(other), None, "");
    assert!(!html.contains(">ca_0001<"), "another program's account is not listed");
}
