//! Activity balances from a stream decided by the real domain: every
//! credit and debit column, the chain of starting and ending balances
//! against the ledger, `expand` network columns, network detail, actors,
//! restatement and checkpoints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger_activity_balances::{ActivityAggregation, ActivityBalances};
use cardledger_domain::command::Holder;
use cardledger_domain::event::{Account, Recorded};
use cardledger_domain::money::Money;
use cardledger_domain::projection::Projection;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::Date;
use cardledger_domain::wire::parse_line;
use cardledger_query::{Table, Value};

struct Log {
    ledger: Ledger,
    view: ActivityBalances,
    seq: u64,
}

impl Log {
    fn new(lines: &[&str]) -> Log {
        let mut log = Log { ledger: Ledger::default(), view: ActivityBalances::default(), seq: 0 };
        for l in lines {
            log.record(l);
        }
        log
    }

    fn record(&mut self, line: &str) {
        let cmd = parse_line(line).unwrap_or_else(|r| panic!("{r}: {line}"));
        let time = cmd.time.expect("test lines carry time");
        match self.ledger.decide(&cmd, time) {
            Decision::Accept(fact) => {
                self.seq += 1;
                let rec = Recorded { seq: self.seq, time, fact };
                self.ledger.apply(&rec);
                self.view.apply(&rec);
            }
            other => panic!("not accepted: {other:?}\n{line}"),
        }
    }

    /// GPA of u1 and u2 plus u2's MSA ledger balance, in cents.
    fn holders_cents(&self) -> i64 {
        let u = |t: &str| Holder::User(t.into());
        [Account::Gpa(u("u1")), Account::Gpa(u("u2")), Account::Msa(u("u2"), "camp".into())]
            .iter()
            .map(|a| self.ledger.balance(a).cents())
            .sum()
    }
}

fn day(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn amt(s: &str) -> Value {
    Value::Amount(Money::parse(s).unwrap().decimal())
}

/// The cell of `field` in the row whose `key_field` is `key`.
fn cell(t: &Table, key_field: &str, key: &Value, field: &str) -> Value {
    let k = t.column_index(key_field).unwrap();
    let f = t.column_index(field).unwrap_or_else(|| panic!("no column {field}"));
    let row = t.rows.iter().find(|r| &r[k] == key).unwrap_or_else(|| panic!("no row {key:?}"));
    row[f].clone()
}

const LINES: &[&str] = &[
    r#"{"time":"2020-03-01T08:00:00Z","program":{"token":"ap","bank":"B","currency_code":"USD","opening_bank_balance":"100000.00"}}"#,
    r#"{"time":"2020-03-01T08:00:00Z","funding_source":{"token":"pfs","program_token":"ap","type":"program","is_default_account":true,"active":true,"name":"Program funds"}}"#,
    r#"{"time":"2020-03-01T08:00:00Z","fee":{"token":"fee_load","name":"Load","amount":"1.50","currency_code":"USD","active":true}}"#,
    r#"{"time":"2020-03-01T08:00:00Z","fee":{"token":"fee_month","name":"Monthly","amount":"4.95","currency_code":"USD","active":true}}"#,
    r#"{"time":"2020-03-01T08:00:00Z","campaign":{"token":"camp","name":"Grocer","active":true}}"#,
    r#"{"time":"2020-03-01T08:00:00Z","offer":{"token":"off","name":"Spring","campaign_token":"camp","purchase_amount":"200.00","reward_amount":"50.00","reward_trigger_amount":"200.00","currency_code":"USD","active":true}}"#,
    r#"{"time":"2020-03-01T08:00:00Z","user":{"token":"u1","program_token":"ap"}}"#,
    r#"{"time":"2020-03-01T08:00:00Z","user":{"token":"u2","program_token":"ap"}}"#,
    // day 1: loads
    r#"{"time":"2020-03-01T09:00:00Z","gpa_order":{"token":"o1","user_token":"u1","amount":"100.00","currency_code":"USD","fees":[{"token":"fee_load"}]}}"#,
    r#"{"time":"2020-03-01T10:00:00Z","msa_order":{"token":"m1","campaign_token":"camp","user_token":"u2","currency_code":"USD","purchase_amount":"50.00"}}"#,
    r#"{"time":"2020-03-01T11:00:00Z","offer_order":{"token":"oo1","user_token":"u2","offer_token":"off"}}"#,
    // day 2: spending and the rest
    r#"{"time":"2020-03-02T09:00:00Z","journal_entry":{"type":"authorization","token":"a1","user_token":"u1","amount":"30.00","currency_code":"USD","network":"VISA","status":"PENDING"}}"#,
    r#"{"time":"2020-03-02T09:05:00Z","journal_entry":{"type":"authorization.clearing","token":"c1","related_token":"a1","user_token":"u1","amount":"30.00","currency_code":"USD","network":"VISA","status":"POSTED"}}"#,
    r#"{"time":"2020-03-02T10:00:00Z","journal_entry":{"type":"pindebit","token":"p1","user_token":"u1","amount":"10.00","currency_code":"USD","network":"PULSE","pin_present":true,"acting_user_token":"agent7","status":"POSTED"}}"#,
    r#"{"time":"2020-03-02T11:00:00Z","journal_entry":{"type":"pindebit.atm.withdrawal","token":"atm1","user_token":"u1","amount":"20.00","currency_code":"USD","network":"pulse","pin_present":true,"status":"POSTED"}}"#,
    r#"{"time":"2020-03-02T12:00:00Z","journal_entry":{"type":"refund","token":"r1","user_token":"u1","amount":"5.00","currency_code":"USD","network":"VISA","status":"POSTED"}}"#,
    r#"{"time":"2020-03-02T13:00:00Z","gpa_unload":{"token":"un1","original_order_token":"o1","amount":"10.00"}}"#,
    r#"{"time":"2020-03-02T14:00:00Z","fee_transfer":{"token":"ft1","user_token":"u1","fees":[{"token":"fee_month"}]}}"#,
    r#"{"time":"2020-03-02T15:00:00Z","journal_entry":{"type":"adjustment.credit","group":"ADJUSTMENT","token":"ac","user_token":"u1","amount":"3.00","currency_code":"USD","status":"POSTED"}}"#,
    r#"{"time":"2020-03-02T15:30:00Z","journal_entry":{"type":"adjustment.debit","group":"ADJUSTMENT","token":"ad","user_token":"u1","amount":"1.00","currency_code":"USD","status":"POSTED"}}"#,
    r#"{"time":"2020-03-02T16:00:00Z","journal_entry":{"type":"reward.credit","group":"REWARD","token":"rw","user_token":"u1","amount":"2.00","currency_code":"USD","status":"POSTED"}}"#,
    r#"{"time":"2020-03-02T17:00:00Z","journal_entry":{"type":"authorization","token":"a2","user_token":"u1","amount":"7.00","currency_code":"USD","network":"VISA","status":"DECLINED"}}"#,
];

fn programs() -> Vec<String> {
    vec!["ap".to_string()]
}

#[test]
fn day_columns_chain_and_match_the_ledger() {
    let log = Log::new(LINES);
    let t = log.view.table(&programs(), ActivityAggregation::Day, None, None, &[]);
    assert_eq!(t.rows.len(), 2);
    let d1 = Value::Date(day("2020-03-01"));
    let d2 = Value::Date(day("2020-03-02"));
    let want_d1 = [
        ("starting_balance", "0"),
        ("gpa_loads", "101.50"),
        ("fees", "1.50"),
        ("msa_loads", "50"),
        ("offer_loads", "200"),
        ("ending_balance", "350.00"),
    ];
    for (f, v) in want_d1 {
        assert_eq!(cell(&t, "corrected_post_date", &d1, f), amt(v), "day 1 {f}");
    }
    let want_d2 = [
        ("starting_balance", "350.00"),
        ("gpa_loads", "0"),
        ("refunds", "5.00"),
        ("credit_adjustments", "3.00"),
        ("rewards", "2.00"),
        ("unloads", "10.00"),
        ("pin_purchases", "10.00"),
        ("signature_purchases", "30.00"),
        ("atm_withdrawals", "20.00"),
        ("fees", "4.95"),
        ("debit_adjustments", "1.00"),
        ("pin_purchases_net", "10.00"),
        ("sig_purchases_net", "25.00"),
        ("ending_balance", "284.05"),
    ];
    for (f, v) in want_d2 {
        assert_eq!(cell(&t, "corrected_post_date", &d2, f), amt(v), "day 2 {f}");
    }
    assert_eq!(log.holders_cents(), 28_405, "the view's ending is the holders' ledger balances");
}

#[test]
fn expand_adds_one_column_per_network_used() {
    let log = Log::new(LINES);
    let expand = vec!["pin_purchases_net".to_string(), "sig_purchases_net".to_string()];
    let t = log.view.table(&programs(), ActivityAggregation::Day, None, None, &expand);
    let fields: Vec<&str> = t.columns.iter().map(|c| c.field).collect();
    let at = fields.iter().position(|f| *f == "ending_balance").unwrap();
    assert_eq!(
        &fields[at + 1..],
        ["visa_pin_net", "visa_sig_net", "pulse_pin_net", "pulse_sig_net", "last_modified_time"]
    );
    let d2 = Value::Date(day("2020-03-02"));
    assert_eq!(cell(&t, "corrected_post_date", &d2, "visa_sig_net"), amt("25.00"));
    let display = |f: &str| t.columns.iter().find(|c| c.field == f).unwrap().display;
    assert_eq!((display("visa_sig_net"), display("pulse_pin_net")), ("Visa Signature Net", "Pulse PIN Net"));
    assert_eq!(cell(&t, "corrected_post_date", &d2, "visa_pin_net"), amt("0"));
    assert_eq!(
        cell(&t, "corrected_post_date", &d2, "pulse_pin_net"),
        amt("10.00"),
        "ATM withdrawals are not purchases"
    );
    assert_eq!(cell(&t, "corrected_post_date", &d2, "pulse_sig_net"), amt("0"));
    for row in &t.rows {
        assert_eq!(row.len(), t.columns.len());
    }
    let only_pin =
        log.view.table(&programs(), ActivityAggregation::Day, None, None, &["pin_purchases_net".to_string()]);
    let fields: Vec<&str> = only_pin.columns.iter().map(|c| c.field).collect();
    assert!(fields.contains(&"visa_pin_net") && !fields.contains(&"visa_sig_net"));
    let plain = log.view.table(&programs(), ActivityAggregation::Day, None, None, &[]);
    assert_eq!(plain.columns.len(), 19);
}

#[test]
fn network_detail_rows_per_day_and_network() {
    let log = Log::new(LINES);
    let t = log.view.table(&programs(), ActivityAggregation::Network, None, None, &[]);
    assert_eq!(t.rows.len(), 2, "only the day with card activity, one row per network");
    let pulse = Value::Text("PULSE".into());
    let visa = Value::Text("VISA".into());
    assert_eq!(cell(&t, "network", &pulse, "pin_purchases"), amt("10.00"));
    assert_eq!(cell(&t, "network", &pulse, "atm_withdrawals"), amt("20.00"), "lower-case pulse counted as PULSE");
    assert_eq!(cell(&t, "network", &pulse, "transaction_count"), Value::Integer(2));
    assert_eq!(cell(&t, "network", &visa, "signature_purchases"), amt("30.00"));
    assert_eq!(cell(&t, "network", &visa, "refunds"), amt("5.00"));
    assert_eq!(cell(&t, "network", &visa, "sig_purchases_net"), amt("25.00"));
    assert_eq!(cell(&t, "network", &visa, "transaction_count"), Value::Integer(2), "declined entries are not counted");
}

#[test]
fn actor_rows_count_loads_pin_and_signature_per_acting_user() {
    let log = Log::new(LINES);
    let t = log.view.table(&programs(), ActivityAggregation::Actor, None, None, &[]);
    assert_eq!(t.rows.len(), 3);
    let who = |s: &str| Value::Text(s.to_string());
    let get = |w: &str, f: &str| cell(&t, "acting_user_token", &who(w), f);
    assert_eq!((get("u1", "load_count"), get("u1", "load_amount")), (Value::Integer(1), amt("100.00")));
    assert_eq!((get("u1", "signature_count"), get("u1", "signature_amount")), (Value::Integer(1), amt("30.00")));
    assert_eq!((get("u1", "pin_count"), get("u1", "pin_amount")), (Value::Integer(1), amt("20.00")));
    assert_eq!((get("agent7", "pin_count"), get("agent7", "pin_amount")), (Value::Integer(1), amt("10.00")));
    assert_eq!((get("u2", "load_count"), get("u2", "load_amount")), (Value::Integer(2), amt("250.00")));
    assert_eq!(get("u2", "last_activity_date"), Value::Date(day("2020-03-01")));
    // the window bounds what is summed
    let t2 = log.view.table(&programs(), ActivityAggregation::Actor, Some(day("2020-03-02")), None, &[]);
    assert_eq!(t2.rows.len(), 2, "u2 had no activity on day 2");
    assert_eq!(cell(&t2, "acting_user_token", &who("u1"), "load_count"), Value::Integer(0));
}

#[test]
fn backdated_activity_restates_later_balances_and_checkpoints_round_trip() {
    let mut log = Log::new(LINES);
    log.record(r#"{"time":"2020-03-05T09:00:00Z","gpa_order":{"token":"late","user_token":"u2","amount":"40.00","currency_code":"USD","corrected_post_date":"2020-03-01"}}"#);
    let t = log.view.table(&programs(), ActivityAggregation::Day, None, Some(day("2020-03-05")), &[]);
    assert_eq!(t.rows.len(), 5, "quiet days 03-03..03-05 included");
    let d = |s: &str| Value::Date(day(s));
    assert_eq!(cell(&t, "corrected_post_date", &d("2020-03-01"), "gpa_loads"), amt("141.50"));
    assert_eq!(cell(&t, "corrected_post_date", &d("2020-03-02"), "starting_balance"), amt("390.00"));
    assert_eq!(cell(&t, "corrected_post_date", &d("2020-03-05"), "ending_balance"), amt("324.05"));
    assert_eq!(log.holders_cents(), 32_405);
    let bytes = log.view.encode();
    let back = ActivityBalances::decode(&bytes).unwrap();
    assert_eq!(back.encode(), bytes);
    assert_eq!(
        back.table(&programs(), ActivityAggregation::Day, None, None, &[]),
        log.view.table(&programs(), ActivityAggregation::Day, None, None, &[])
    );
    assert!(ActivityBalances::decode(&bytes[..bytes.len() - 1]).is_none());
    assert!(ActivityBalances::decode(&[0]).is_none());
}
