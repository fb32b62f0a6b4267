#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The query layer, table-driven: each case is a query string, a principal
//! and what the answer must hold (JSON pointers and their compact JSON text)
//! or the error code and a word the message must name.
//!
//! The table is `fuzz::sample_table()`: programs p1 (amounts negative) and
//! p2, days 2019-11-01..=2019-11-10 (d = 0..9): amount_to_send = ∓(1000.00 +
//! 123.45·d), deposit = 5.00·d (null on d = 3), transactions = d, bank
//! bank_a on even days (filter-only), ratio = 0.1234·d (numeric(10,4)).

use std::collections::BTreeSet;

use cardledger_domain::time::{Date, Timestamp};
use cardledger_query::fuzz::sample_table;
use cardledger_query::{
    pairs_from_query, parse_params, run, schema, Column, ColumnType, ExportFormat, Principal, QueryError, Rates, Table,
    Value,
};
use rust_decimal::Decimal;

#[derive(Clone, Copy)]
enum Who {
    /// Everything.
    All,
    /// Only p1; `deposit` denied.
    Limited,
}

fn principal(who: Who) -> Principal {
    match who {
        Who::All => Principal::all(),
        Who::Limited => Principal {
            programs: Some(BTreeSet::from(["p1".to_string()])),
            denied_fields: BTreeSet::from(["deposit".to_string()]),
        },
    }
}

fn rates() -> Rates {
    Rates::new().with("USD", "EUR", Decimal::new(91, 2))
}

fn query(table: &Table, q: &str, who: Who) -> Result<serde_json::Value, QueryError> {
    let params = parse_params(&pairs_from_query(q))?;
    let last_run = Timestamp::parse("2018-08-27T16:08:03.250Z");
    let answer = run(table, &params, &principal(who), &rates(), last_run)?;
    let json = answer.to_json();
    // The streamed text is the same document as the built value.
    let text = answer.to_json_string();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), json, "{q}: write_json differs");
    assert_eq!(text, json.to_string(), "{q}: write_json is not byte-identical to to_json");
    Ok(json)
}

/// `expect` is either `err <code> <word in message>` or whitespace-separated
/// `/json/pointer=<compact json>` items (`=absent` for a missing key).
fn check(q: &str, who: Who, expect: &str) {
    let table = sample_table();
    let got = query(&table, q, who);
    if let Some(rest) = expect.strip_prefix("err ") {
        let (code, word) = rest.split_once(' ').unwrap();
        match got {
            Err(e) => {
                assert_eq!(e.code().to_string(), code, "{q}: wrong code for {e}");
                assert!(e.to_string().contains(word), "{q}: message {e:?} does not name {word:?}");
                assert_eq!(e.to_json()["error_code"], e.code(), "{q}");
            }
            Ok(j) => panic!("{q}: expected error {code}, got {j}"),
        }
        return;
    }
    let json = got.unwrap_or_else(|e| panic!("{q}: unexpected error {e}"));
    // Items start with `/`; a word that does not continues the previous
    // item's value after one space (`"timestamp without time zone"`).
    let mut items: Vec<String> = Vec::new();
    for word in expect.split_whitespace() {
        match items.last_mut() {
            Some(last) if !word.starts_with('/') => {
                last.push(' ');
                last.push_str(word);
            }
            _ => items.push(word.to_string()),
        }
    }
    for item in &items {
        let (pointer, want) = item.split_once('=').unwrap();
        let have = json.pointer(pointer).map_or("absent".to_string(), |v| v.to_string());
        assert_eq!(have, want, "{q}: at {pointer}");
    }
}

#[test]
fn envelope_schema_and_records() {
    use Who::All;
    let cases: &[(&str, Who, &str)] = &[
        // The envelope, default sort (newest first), all of p1.
        ("program=p1", All, "/total=10 /is_more=false /count=10 /info={} \
            /start_date=\"2019-11-01T00:00:00+0000\" /end_date=\"2019-11-10T00:00:00+0000\" \
            /last_run_time=\"2018-08-27T16:08:03Z\" /records/0/corrected_post_date=\"2019-11-10T00:00:00.000Z\" \
            /records/9/corrected_post_date=\"2019-11-01T00:00:00.000Z\""),
        // Schema objects: every column the principal may see, filter-only included.
        ("program=p1", All, "/schema/8/field=\"ratio\" /schema/9=absent"),
        ("program=p1", All, "/schema/0={\"field\":\"program\",\"type\":\"character varying(128)\",\"description\":\"\",\
            \"display\":\"Program\",\"units\":null,\"has_total\":false,\"is_filter_only\":false}"),
        ("program=p1", All, "/schema/1={\"field\":\"corrected_post_date\",\"type\":\"date\",\"description\":\"\",\
            \"display\":\"Corrected Post Date\",\"units\":null,\"has_total\":false,\"date_format\":\"YYYY-MM-DD\",\
            \"is_filter_only\":false}"),
        ("program=p1", All, "/schema/2/type=\"numeric(14,2)\" /schema/2/units=\"USD\" /schema/2/has_total=true \
            /schema/4/type=\"integer\" /schema/6/type=\"timestamp without time zone\" \
            /schema/7/is_filter_only=true /schema/8/type=\"numeric(10,4)\" /schema/8/units=null"),
        // Records: amounts with 2 decimals (4 for numeric(10,4)), the filter-only column absent.
        ("program=p1&sort_by=corrected_post_date", All, "/records/0/amount_to_send=-1000.00 /records/0/deposit=0.00 \
            /records/3/deposit=null /records/1/ratio=0.1234 /records/0/bank=absent /records/0/transactions=0 \
            /records/0/last_modified_time=\"2019-11-01T00:00:00.000Z\" /records/0/program=\"p1\""),
        // fields limits records and schema, in the order asked.
        ("program=p1&fields=amount_to_send,corrected_post_date", All, "/schema/0/field=\"amount_to_send\" \
            /schema/2=absent /records/0={\"amount_to_send\":-2111.05,\"corrected_post_date\":\"2019-11-10T00:00:00.000Z\"}"),
        ("program=p1&fields=amount_to_send,nope", All, "err 400006 nope"),
        ("program=p1&fields=bank", All, "err 400007 bank"),
        ("program=p1&fields=", All, "err 400002 fields"),
        ("program=p1&fields=,", All, "err 400002 fields"),
        ("program=p1&fields=amount_to_send,amount_to_send", All, "/schema/1=absent /records/0={\"amount_to_send\":-2111.05}"),
        // Programs.
        ("program=p1,p2", All, "/total=20"),
        ("program=p3", All, "/total=0 /start_date=null /end_date=null /records=[]"),
        ("program=zzz", All, "err 400010 zzz"),
        ("fields=amount_to_send", All, "err 400001 program"),
        ("program=", All, "err 400001 program"),
        ("program=p1&program=p2", All, "err 400013 program"),
    ];
    for (q, who, expect) in cases {
        check(q, *who, expect);
    }
}

#[test]
fn filters() {
    use Who::All;
    let cases: &[(&str, Who, &str)] = &[
        ("program=p1&amount_to_send=<-2000", All, "/total=1 /records/0/amount_to_send=-2111.05"),
        ("program=p1&amount_to_send=<=-2111.05", All, "/total=1"),
        ("program=p1&amount_to_send=>-1123.45", All, "/total=1"),
        ("program=p1&amount_to_send=>=-1123.45", All, "/total=2"),
        (
            "program=p1&amount_to_send=-1246.90",
            All,
            "/total=1 /records/0/corrected_post_date=\"2019-11-03T00:00:00.000Z\"",
        ),
        ("program=p1&amount_to_send==-1246.9", All, "/total=1"),
        ("program=p1&amount_to_send=-1500..-1200", All, "/total=3"),
        ("program=p1&amount_to_send=-1493.80..-1246.90", All, "/total=3"),
        ("program=p1&transactions=1,3,5", All, "/total=3"),
        ("program=p1&transactions=>2&transactions=<5", All, "/total=2"),
        ("program=p1&corrected_post_date=2019-11-05", All, "/total=1"),
        ("program=p1&corrected_post_date=>2019-11-08", All, "/total=2"),
        ("program=p1&corrected_post_date=2019-11-02..2019-11-04", All, "/total=3"),
        ("program=p1&last_modified_time=>=2019-11-09", All, "/total=2"),
        ("program=p1&last_modified_time=>=2019-11-09T00:00:01Z", All, "/total=1"),
        ("program=p1&bank=bank_a", All, "/total=5"),
        ("program=p1&bank=bank_a,bank_b", All, "/total=10"),
        ("program=p1&ratio=0.1234", All, "/total=1"),
        ("program=p1&deposit=>-1", All, "/total=9"),
        // Bad operators and values name the field.
        ("program=p1&amount_to_send=>>5", All, "err 400008 amount_to_send"),
        ("program=p1&amount_to_send=<>5", All, "err 400008 amount_to_send"),
        ("program=p1&amount_to_send===5", All, "err 400008 amount_to_send"),
        ("program=p1&amount_to_send=5..", All, "err 400008 amount_to_send"),
        ("program=p1&amount_to_send=..5", All, "err 400008 amount_to_send"),
        ("program=p1&amount_to_send=1,,2", All, "err 400008 amount_to_send"),
        ("program=p1&amount_to_send=>", All, "err 400008 amount_to_send"),
        ("program=p1&bank=>bank_a", All, "err 400008 bank"),
        ("program=p1&bank=a..b", All, "err 400008 bank"),
        ("program=p1&amount_to_send=abc", All, "err 400009 amount_to_send"),
        ("program=p1&amount_to_send=1e3", All, "err 400009 amount_to_send"),
        ("program=p1&transactions=1.5", All, "err 400009 transactions"),
        ("program=p1&transactions=1,x", All, "err 400009 transactions"),
        ("program=p1&corrected_post_date=2019-13-01", All, "err 400009 corrected_post_date"),
        ("program=p1&corrected_post_date=2019-1-1", All, "err 400009 corrected_post_date"),
        ("program=p1&last_modified_time=yesterday", All, "err 400009 last_modified_time"),
        ("program=p1&nope=1", All, "err 400006 nope"),
        ("program=p1&=1", All, "err 400002 filter"),
    ];
    for (q, who, expect) in cases {
        check(q, *who, expect);
    }
}

#[test]
fn dates_sorting_paging() {
    use Who::All;
    let cases: &[(&str, Who, &str)] = &[
        (
            "program=p1&start_date=2019-11-03&end_date=2019-11-05",
            All,
            "/total=3 \
            /start_date=\"2019-11-03T00:00:00+0000\" /end_date=\"2019-11-05T00:00:00+0000\" \
            /records/0/corrected_post_date=\"2019-11-05T00:00:00.000Z\"",
        ),
        ("program=p1&start_date=2019-11-09", All, "/total=2 /end_date=\"2019-11-10T00:00:00+0000\""),
        ("program=p1&end_date=2019-10-01", All, "/total=0 /start_date=null /end_date=\"2019-10-01T00:00:00+0000\""),
        ("program=p1&start_date=2019-11-5", All, "err 400004 start_date"),
        ("program=p1&end_date=20191105", All, "err 400004 end_date"),
        ("program=p1&start_date=2019-11-06&end_date=2019-11-05", All, "err 400005 start_date"),
        // Sorting.
        ("program=p1&sort_by=corrected_post_date", All, "/records/0/corrected_post_date=\"2019-11-01T00:00:00.000Z\""),
        (
            "program=p1&sort_by=-amount_to_send",
            All,
            "/records/0/amount_to_send=-1000.00 /records/9/amount_to_send=-2111.05",
        ),
        ("program=p1&sort_by=amount_to_send", All, "/records/0/amount_to_send=-2111.05"),
        ("program=p1&sort_by=deposit", All, "/records/0/deposit=null /records/1/deposit=0.00 /records/9/deposit=45.00"),
        ("program=p1,p2&sort_by=-program&count=1", All, "/records/0/program=\"p2\""),
        (
            "program=p1&sort_by=bank&fields=corrected_post_date",
            All,
            "/records/0/corrected_post_date=\"2019-11-09T00:00:00.000Z\"",
        ),
        ("program=p1&sort_by=nope", All, "err 400006 sort_by"),
        ("program=p1&sort_by=-", All, "err 400002 sort_by"),
        ("program=p1&sort_by=a,b", All, "err 400002 sort_by"),
        // Paging.
        ("program=p1&count=3", All, "/total=10 /count=3 /is_more=true /records/3=absent"),
        (
            "program=p1&count=3&start_index=3",
            All,
            "/count=3 /is_more=true /records/0/corrected_post_date=\"2019-11-07T00:00:00.000Z\"",
        ),
        ("program=p1&count=3&start_index=8", All, "/total=10 /count=2 /is_more=false"),
        ("program=p1&start_index=100", All, "/total=10 /count=0 /is_more=false /records=[]"),
        ("program=p1&count=10000", All, "/count=10"),
        ("program=p1&count=0", All, "err 400003 count"),
        ("program=p1&count=10001", All, "err 400003 count"),
        ("program=p1&count=-1", All, "err 400003 count"),
        ("program=p1&count=99999999999999999999999", All, "err 400003 count"),
        ("program=p1&start_index=-1", All, "err 400002 start_index"),
        ("program=p1&count=1&count=2", All, "err 400013 count"),
    ];
    for (q, who, expect) in cases {
        check(q, *who, expect);
    }
}

#[test]
fn totals_and_currency() {
    use Who::All;
    let cases: &[(&str, Who, &str)] = &[
        // Totals over every matched row, not just the page; only has_total columns.
        (
            "program=p1&totals=true&count=1",
            All,
            "/count=1 /info/totals={\"amount_to_send\":-15555.25,\
            \"deposit\":210.00,\"transactions\":45}",
        ),
        (
            "program=p1&totals=true&fields=corrected_post_date,amount_to_send",
            All,
            "/info/totals={\"amount_to_send\":-15555.25}",
        ),
        ("program=p1&totals=true&start_date=2019-11-10", All, "/info/totals/amount_to_send=-2111.05"),
        ("program=p1&totals=false", All, "/info={}"),
        ("program=p1&totals=yes", All, "err 400002 totals"),
        // Conversion: each amount × 0.91 rounded half away from zero to the
        // cent; totals sum the rounded amounts (−14155.30, not −14155.28).
        (
            "program=p1&currency=EUR&totals=true",
            All,
            "/records/0/amount_to_send=-1921.06 /records/0/currency=\"EUR\" \
            /schema/2/units=\"EUR\" /schema/3/units=\"EUR\" /schema/8/units=null \
            /info/totals/amount_to_send=-14155.30 /info/totals/deposit=191.10 /records/0/ratio=1.1106",
        ),
        ("program=p1&currency=EUR&amount_to_send=-1921.06", All, "/total=1"),
        ("program=p1&currency=USD", All, "/records/0/amount_to_send=-2111.05 /schema/2/units=\"USD\""),
        ("program=p1&currency=GBP", All, "err 400011 GBP"),
        ("program=p1&currency=eur", All, "err 400002 currency"),
        ("program=p1&currency=EUR&currency=EUR", All, "err 400013 currency"),
        ("program=p1&compress=rar", All, "err 400002 compress"),
    ];
    for (q, who, expect) in cases {
        check(q, *who, expect);
    }
}

#[test]
fn access_scoping() {
    use Who::{All, Limited};
    let cases: &[(&str, Who, &str)] = &[
        (
            "program=p1",
            Limited,
            "/total=10 /schema/3/field=\"transactions\" /schema/8=absent /records/0/deposit=absent",
        ),
        ("program=p1&totals=true", Limited, "/info/totals={\"amount_to_send\":-15555.25,\"transactions\":45}"),
        ("program=p2", Limited, "err 403003 p2"),
        ("program=p1,p2", Limited, "err 403003 p2"),
        ("program=zzz", Limited, "err 403003 zzz"),
        ("program=p1&fields=amount_to_send,deposit", Limited, "err 403001 deposit"),
        ("program=p1&sort_by=-deposit", Limited, "err 403001 deposit"),
        ("program=p1&deposit=>1", Limited, "err 403002 deposit"),
        // Precedence: program before field before filter.
        ("program=p2&fields=deposit&deposit=1", Limited, "err 403003 p2"),
        ("program=p1&fields=deposit&deposit=1", Limited, "err 403001 deposit"),
        // The same queries for a principal allowed everything.
        ("program=p1&fields=deposit&deposit=>1", All, "/total=8"),
    ];
    for (q, who, expect) in cases {
        check(q, *who, expect);
    }
}

#[test]
fn csv_output() {
    let cases: &[(&str, &str)] = &[
        (
            "program=p1&fields=corrected_post_date,amount_to_send,deposit,last_modified_time,transactions&count=4&sort_by=corrected_post_date",
            "corrected_post_date,amount_to_send,deposit,last_modified_time,transactions\n\
             2019-11-01,-1000.00,0.00,2019-11-01T00:00:00.000Z,0\n\
             2019-11-02,-1123.45,5.00,2019-11-02T00:00:00.000Z,1\n\
             2019-11-03,-1246.90,10.00,2019-11-03T00:00:00.000Z,2\n\
             2019-11-04,-1370.35,,2019-11-04T00:00:00.000Z,3\n",
        ),
        (
            "program=p2&fields=program,amount_to_send,ratio&currency=EUR&count=1",
            "program,amount_to_send,ratio\np2,1921.06,1.1106\n",
        ),
        ("program=p3&fields=program,amount_to_send", "program,amount_to_send\n"),
    ];
    let table = sample_table();
    for (q, want) in cases {
        let params = parse_params(&pairs_from_query(q)).unwrap();
        let answer = run(&table, &params, &Principal::all(), &rates(), None).unwrap();
        let mut out = Vec::new();
        answer.write_csv(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), *want, "{q}");
    }
}

#[test]
fn csv_quotes_text_with_commas() {
    let mut table = Table::new(
        vec![Column::new("day", ColumnType::Date, "Day"), Column::new("note", ColumnType::Varchar(64), "Note")],
        "day",
    );
    table.programs.insert("p".into());
    table.rows.push(vec![Value::Date(Date::parse("2020-01-01").unwrap()), Value::Text("a, \"b\"".into())]);
    let params = parse_params(&pairs_from_query("program=p")).unwrap();
    let answer = run(&table, &params, &Principal::all(), &Rates::new(), None).unwrap();
    let mut out = Vec::new();
    answer.write_csv(&mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "day,note\n2020-01-01,\"a, \"\"b\"\"\"\n");
}

/// The page-001 sample: the records print with the page's dates, and the
/// amounts with two decimals (the page's `13386182.9` is the same number).
#[test]
fn program_balances_page_sample() {
    let mut table = Table::new(
        vec![
            Column::new("program", ColumnType::Varchar(128), "Program"),
            Column::new("corrected_post_date", ColumnType::Date, "Corrected Post Date"),
            Column::amount("beginning_bank_balance", "Beginning Bank Balance"),
            Column::amount("amount_to_send", "Amount To Send"),
            Column::amount("ending_bank_balance", "Ending Bank Balance"),
        ],
        "corrected_post_date",
    );
    table.program_field = Some("program");
    table.programs.insert("my_program".into());
    let rows = [
        ("2019-11-19", "13386182.90", "-1507807.27", "11878375.63"),
        ("2019-11-20", "11878375.63", "0", "11878375.63"),
    ];
    for (d, b, a, e) in rows {
        table.rows.push(vec![
            Value::Text("my_program".into()),
            Value::Date(Date::parse(d).unwrap()),
            Value::Amount(b.parse().unwrap()),
            Value::Amount(a.parse().unwrap()),
            Value::Amount(e.parse().unwrap()),
        ]);
    }
    let q = "program=my_program&fields=corrected_post_date,beginning_bank_balance,amount_to_send,ending_bank_balance";
    let json = query(&table, q, Who::All).unwrap();
    assert_eq!(
        json["records"].to_string(),
        "[{\"corrected_post_date\":\"2019-11-20T00:00:00.000Z\",\"beginning_bank_balance\":11878375.63,\
         \"amount_to_send\":0.00,\"ending_bank_balance\":11878375.63},\
         {\"corrected_post_date\":\"2019-11-19T00:00:00.000Z\",\"beginning_bank_balance\":13386182.90,\
         \"amount_to_send\":-1507807.27,\"ending_bank_balance\":11878375.63}]"
    );
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["total", "is_more", "count", "info", "start_date", "end_date", "last_run_time", "schema", "records"]
    );
    // The schema endpoint answers the same schema without rows.
    let params = parse_params(&pairs_from_query(q)).unwrap();
    let s = schema(&table, &params, &Principal::all(), &Rates::new()).unwrap();
    assert_eq!(s, json["schema"]);
    assert_eq!(s[1]["units"], "USD");
}

#[test]
fn export_formats_per_view() {
    let reserve = [ExportFormat::Csv, ExportFormat::Xlsx];
    let others = [ExportFormat::Csv];
    assert_eq!(ExportFormat::parse("csv", &others), Ok(ExportFormat::Csv));
    assert_eq!(ExportFormat::parse("xlsx", &reserve), Ok(ExportFormat::Xlsx));
    for (text, allowed) in [("xlsx", &others[..]), ("pdf", &reserve[..]), ("", &reserve[..])] {
        let e = ExportFormat::parse(text, allowed).unwrap_err();
        assert_eq!(e.code(), 400012, "{text}");
        assert!(e.to_string().contains(&format!("{text:?}")), "{e}");
    }
}

/// A malformed table (short rows, cells of the wrong kind, no date column)
/// must not panic: short rows read as nulls, mismatched cells never match.
#[test]
fn malformed_tables_do_not_panic() {
    let mut table = sample_table();
    table.rows.push(vec![Value::Text("p1".into())]);
    table.rows.push(vec![Value::Text("p1".into()), Value::Text("not a date".into()), Value::Integer(5)]);
    table.rows.push(vec![]);
    let queries = [
        "program=p1&totals=true",
        "program=p1&sort_by=amount_to_send&amount_to_send=>-5000",
        "program=p1&currency=EUR&start_date=2019-11-01",
        "program=p1&sort_by=transactions&transactions=1..5",
    ];
    for q in queries {
        let json = query(&table, q, Who::All).unwrap();
        assert!(json["total"].as_u64().unwrap() <= 13, "{q}");
    }
    let json = query(&table, "program=p1", Who::All).unwrap();
    assert_eq!(json["total"], 12, "the row without a program is not p1's");
    table.date_field = "missing";
    let json = query(&table, "program=p1&start_date=2019-11-01", Who::All).unwrap();
    assert_eq!(json["total"], 0, "rows without a date are outside any date bound");
}

#[test]
fn query_strings_are_percent_decoded() {
    let pairs = pairs_from_query("program=p1&amount_to_send=%3E%3D-5&note=a+b&&flag&bad=%zz%4");
    let want: Vec<(String, String)> =
        [("program", "p1"), ("amount_to_send", ">=-5"), ("note", "a b"), ("flag", ""), ("bad", "%zz%4")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    assert_eq!(pairs, want);
}

#[test]
fn limits_on_parameters() {
    let long = "x".repeat(9000);
    let many: String = (0..300).map(|i| format!("f{i}=1&")).collect();
    let cases = [
        (format!("program=p1&amount_to_send={long}"), 400014),
        (format!("program=p1&{many}"), 400014),
        (format!("program=p1&{}=1", "k".repeat(200)), 400014),
    ];
    for (q, code) in cases {
        let e = parse_params(&pairs_from_query(&q)).unwrap_err();
        assert_eq!(e.code(), code, "{}", &q[..40]);
        assert_eq!(e.status(), 400);
    }
}

#[test]
fn error_codes_are_stable() {
    let cases: [(QueryError, u32, u16); 4] = [
        (QueryError::DeniedField { param: "fields", field: "x".into() }, 403001, 403),
        (QueryError::DeniedFilter { field: "x".into() }, 403002, 403),
        (QueryError::DeniedProgram { program: "x".into() }, 403003, 403),
        (QueryError::Io { path: "x".into(), message: "m".into() }, 500001, 500),
    ];
    for (e, code, status) in cases {
        assert_eq!((e.code(), e.status()), (code, status), "{e}");
    }
}
