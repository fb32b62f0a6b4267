//! The exact text of decision rejections. `decide` renders a rejection's
//! field and message only when it rejects (issue 13); these are the texts
//! the eager `format!`s produced before, byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use cardledger_domain::event::Recorded;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::Timestamp;
use cardledger_domain::wire;

const SETUP: &[&str] = &[
    r#"{"program":{"token":"p1","bank":"B","currency_code":"USD"}}"#,
    r#"{"program":{"token":"p2","bank":"B","currency_code":"USD"}}"#,
    r#"{"user":{"token":"u1","program_token":"p1"}}"#,
    r#"{"user":{"token":"u2","program_token":"p2"}}"#,
    r#"{"funding_source":{"token":"fs1","program_token":"p1","type":"program","is_default_account":true,"name":"P"}}"#,
    r#"{"funding_source":{"token":"fs1b","program_token":"p1","type":"program","is_default_account":true,"name":"P2"}}"#,
    r#"{"funding_source":{"token":"fs2","program_token":"p2","type":"program","name":"Q"}}"#,
    r#"{"funding_source":{"token":"card","user_token":"u2","type":"paymentcard","name":"Visa"}}"#,
    r#"{"fee":{"token":"fee1","name":"F","amount":"1.00","currency_code":"USD"}}"#,
    r#"{"campaign":{"token":"c1","name":"C"}}"#,
    r#"{"gpa_order":{"token":"g1","user_token":"u2","amount":"500.00","currency_code":"USD","funding_source_token":"fs2"}}"#,
];

/// (line, code, field, message)
const CASES: &[(&str, u16, &str, &str)] = &[
    (
        r#"{"gpa_order":{"token":"x1","user_token":"nobody","amount":"1.00","currency_code":"USD"}}"#,
        1201,
        "gpa_order.user_token",
        r#"gpa_order.user_token: no user "nobody""#,
    ),
    (
        r#"{"gpa_order":{"token":"x2","user_token":"u1","amount":"1.00","currency_code":"USD","funding_source_token":"nope"}}"#,
        1201,
        "gpa_order.funding_source_token",
        r#"gpa_order.funding_source_token: no funding source "nope""#,
    ),
    (
        r#"{"gpa_order":{"token":"x3","user_token":"u1","amount":"1.00","currency_code":"USD","funding_source_token":"fs2"}}"#,
        1204,
        "gpa_order.funding_source_token",
        r#"gpa_order.funding_source_token: funding source "fs2" belongs to another holder or program"#,
    ),
    (
        r#"{"gpa_order":{"token":"x4","user_token":"u1","amount":"1.00","currency_code":"USD"}}"#,
        1205,
        "gpa_order.funding_source_token",
        "gpa_order.funding_source_token: several default funding sources; name one",
    ),
    (
        r#"{"gpa_order":{"token":"x5","user_token":"u2","amount":"1.00","currency_code":"USD","funding_source_token":"card"}}"#,
        1207,
        "gpa_order.funding_source_token",
        r#"gpa_order.funding_source_token: payment-card funding source "card" needs an address first"#,
    ),
    (
        r#"{"gpa_order":{"token":"x6","user_token":"u2","amount":"1.00","currency_code":"USD","funding_source_token":"fs2","funding_source_address_token":"nowhere"}}"#,
        1201,
        "gpa_order.funding_source_address_token",
        r#"gpa_order.funding_source_address_token: no funding source address "nowhere""#,
    ),
    (
        r#"{"gpa_order":{"token":"x7","user_token":"u2","amount":"1.00","currency_code":"USD","funding_source_token":"fs2","fees":[{"token":"fee1"},{"token":"nofee"}]}}"#,
        1201,
        "gpa_order.fees[1].token",
        r#"gpa_order.fees[1].token: no fee "nofee""#,
    ),
    (
        r#"{"gpa_unload":{"token":"x8","original_order_token":"zz","amount":"1.00"}}"#,
        1201,
        "gpa_unload.original_order_token",
        r#"gpa_unload.original_order_token: no GPA order "zz""#,
    ),
    (
        r#"{"gpa_unload":{"token":"x9","original_order_token":"g1","amount":"999.00"}}"#,
        1208,
        "gpa_unload.amount",
        "gpa_unload.amount: 999.00 exceeds the 500.00 remaining on the order",
    ),
    (
        r#"{"user":{"token":"x10","program_token":"zz"}}"#,
        1201,
        "user.program_token",
        r#"user.program_token: no program "zz""#,
    ),
    (
        r#"{"offer":{"token":"x11","name":"O","campaign_token":"zz","purchase_amount":1,"reward_amount":0,"reward_trigger_amount":0,"currency_code":"USD"}}"#,
        1201,
        "offer.campaign_token",
        r#"offer.campaign_token: no campaign "zz""#,
    ),
    (
        r#"{"journal_entry":{"token":"x12","type":"authorization","user_token":"u2","amount":"9999.00","currency_code":"USD","status":"PENDING"}}"#,
        1209,
        "journal_entry.amount",
        "journal_entry.amount: 9999.00 exceeds the available balance 500.00",
    ),
    (
        r#"{"journal_entry":{"token":"x13","type":"authorization","business_token":"nob","amount":"1.00","currency_code":"USD","status":"PENDING"}}"#,
        1201,
        "journal_entry.business_token",
        r#"journal_entry.business_token: no business "nob""#,
    ),
    (
        r#"{"fee_transfer":{"token":"x14","user_token":"u2","fees":[{"token":"nofee"}]}}"#,
        1201,
        "fee_transfer.fees[0].token",
        r#"fee_transfer.fees[0].token: no fee "nofee""#,
    ),
    (
        r#"{"user":{"token":"u1","program_token":"p2"}}"#,
        1202,
        "user.token",
        r#"user.token: token "u1" was already used for a different user"#,
    ),
];

#[test]
fn rejection_fields_and_messages_are_the_texts_of_before() {
    let mut ledger = Ledger::default();
    for line in SETUP {
        let cmd = wire::parse_line(line).unwrap();
        let Decision::Accept(fact) = ledger.decide(&cmd, Timestamp(0)) else { panic!("{line} not accepted") };
        ledger.apply(&Recorded { seq: ledger.head_seq + 1, time: Timestamp(0), fact });
    }
    for (line, code, field, message) in CASES {
        let cmd = wire::parse_line(line).unwrap();
        let Decision::Reject(r) = ledger.decide(&cmd, Timestamp(0)) else { panic!("{line} not rejected") };
        assert_eq!((r.code.number(), r.field.as_str(), r.message.as_str()), (*code, *field, *message), "{line}");
    }
}
