//! The trial balance, postings and as-of reads over HTTP: a server on
//! 127.0.0.1:0 and a real client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use support::*;

#[test]
fn trial_balance_postings_and_as_of_over_http() {
    let s = Server::start();
    let answers = s.seed();
    let head = answers.iter().filter_map(|a| a["seq"].as_u64()).max().unwrap();

    let (st, v) = call(&s, "GET", "/v3/trialbalance", "admin", None);
    assert_eq!(st, 200, "{v}");
    assert_eq!((v["as_of_seq"].as_u64(), v["total"].to_string().as_str()), (Some(head), "0.00"), "{v}");
    assert!(v["accounts"].as_array().unwrap().iter().any(|a| a["program"] == "prog_beta"), "{v}");
    // a program-bound credential reads its own program by default, no other
    let (st, v) = call(&s, "GET", "/v3/trialbalance?as_of_seq=10", "alpha", None);
    assert_eq!((st, v["as_of_seq"].as_u64()), (200, Some(10)), "{v}");
    assert!(v["accounts"].as_array().unwrap().iter().all(|a| a["program"] == "prog_alpha"), "{v}");
    let (st, v) = call(&s, "GET", "/v3/trialbalance?program=prog_beta", "alpha", None);
    assert_error(st, &v, 403);
    let (st, v) = call(&s, "GET", "/v3/trialbalance?bogus=1", "admin", None);
    assert_error(st, &v, 400);

    let (st, v) = call(&s, "GET", "/v3/postings/program_bank:prog_alpha?count=3&sort_by=createdTime", "alpha", None);
    assert_eq!((st, v["count"].as_u64()), (200, Some(3)), "{v}");
    assert_eq!(v["data"][0]["event"], "program", "the opening balance is the first posting: {v}");
    let (st, v) = call(&s, "GET", "/v3/postings/network:VISA", "alpha", None);
    assert_error(st, &v, 403);
    let (st, v) = call(&s, "GET", "/v3/postings/program_bank:prog_beta", "alpha", None);
    assert_error(st, &v, 404);
    let (st, v) = call(&s, "GET", "/v3/postings/nope:x", "admin", None);
    assert_error(st, &v, 400);

    // as-of on a holder's balances and a view; a seq outside the log names the field
    let user = {
        let (_, v) = call(&s, "GET", "/v3/users?count=1&sort_by=createdTime", "admin", None);
        v["data"][0]["token"].as_str().unwrap().to_string()
    };
    let (st, v) = call(&s, "GET", &format!("/v3/balances/{user}?as_of_seq={head}"), "admin", None);
    assert_eq!((st, v["as_of_seq"].as_u64()), (200, Some(head)), "{v}");
    let (st, v) = call(&s, "GET", &format!("/v3/balances/{user}?as_of_seq={}", head + 1), "admin", None);
    assert_eq!(assert_error(st, &v, 400), "400101", "{v}");
    let (st, v) = call(&s, "GET", "/v3/balances/x?as_of_time=1999-01-01T00:00:00Z", "admin", None);
    assert_eq!(assert_error(st, &v, 400), "400102", "{v}");
    let (st, v) = call(
        &s,
        "GET",
        &format!("/data/v2/views/programbalances/day?program=prog_alpha&as_of_seq={}", head / 2),
        "admin",
        None,
    );
    assert_eq!((st, v["as_of_seq"].as_u64()), (200, Some(head / 2)), "{v}");
    assert!(v["as_of_hash"].as_str().unwrap().len() == 64 && v["query"].is_string(), "{v}");
}
