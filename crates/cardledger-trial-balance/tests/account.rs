//! Account names: one per account, each checked and matched exactly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger_domain::command::Holder;
use cardledger_domain::event::Account;
use cardledger_trial_balance::account::{check_name, kind, name, name_matches, named_program, KINDS};

fn every_kind() -> Vec<(Account, &'static str)> {
    let u = || Holder::User("u:1".into());
    vec![
        (Account::ProgramBank("p".into()), "program_bank:p"),
        (Account::ProgramEquity("p".into()), "program_equity:p"),
        (Account::ProgramFees("p".into()), "fee_income:p"),
        (Account::ProgramRewards("p".into()), "reward_expense:p"),
        (Account::ProgramIncome("p".into()), "credit_income:p"),
        (Account::CreditPayments("p".into()), "credit_payments:p"),
        (Account::FundingSource("fs".into()), "funding_source:fs"),
        (Account::Gpa(Holder::Business("b".into())), "gpa:business:b"),
        (Account::Msa(u(), "c".into()), "msa:user:u:1:c"),
        (Account::MsaCredit(u(), "c".into()), "msa_credit:user:u:1:c"),
        (Account::Credit("ca".into()), "credit_receivable:ca"),
        (Account::Network("VISA".into()), "network:VISA"),
    ]
}

#[test]
fn every_account_has_one_name_that_checks_and_matches_only_itself() {
    let all = every_kind();
    assert_eq!(all.len(), KINDS.len());
    let mut buf = String::new();
    for (a, text) in &all {
        assert_eq!(name(a), *text);
        assert!(KINDS.contains(&kind(a)));
        assert_eq!(check_name(text), Ok(()));
        for (b, _) in &all {
            assert_eq!(name_matches(b, text, &mut buf), a == b, "{text} against {b:?}");
        }
    }
    assert_eq!(named_program(&all[0].0), Some("p"));
    assert_eq!(named_program(&all[7].0), None);
    assert!(check_name("bank:p").unwrap_err().contains("\"bank\""));
    assert!(check_name("program_bank").is_err());
    assert!(check_name("program_bank:").is_err());
}
