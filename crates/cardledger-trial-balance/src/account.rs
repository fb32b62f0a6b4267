//! Account names: the one text form of a ledger [`Account`], used by the
//! trial balance rows, the `postings ACCOUNT` argument and the HTTP path.
//!
//! | account | name |
//! |---|---|
//! | `ProgramBank(p)` | `program_bank:p` |
//! | `ProgramEquity(p)` | `program_equity:p` |
//! | `ProgramFees(p)` | `fee_income:p` |
//! | `ProgramRewards(p)` | `reward_expense:p` |
//! | `ProgramIncome(p)` | `credit_income:p` |
//! | `CreditPayments(p)` | `credit_payments:p` |
//! | `FundingSource(t)` | `funding_source:t` |
//! | `Gpa(holder)` | `gpa:user:t` / `gpa:business:t` |
//! | `Msa(holder, c)` | `msa:user:t:c` / `msa:business:t:c` |
//! | `MsaCredit(holder, c)` | `msa_credit:user:t:c` / `msa_credit:business:t:c` |
//! | `Credit(a)` | `credit_receivable:a` |
//! | `Network(n)` | `network:n` |
//!
//! Names are compared as whole strings (see [`name_matches`]), so a token
//! that itself holds `:` still names exactly one account.

use std::fmt::Write;

use cardledger_domain::command::Holder;
use cardledger_domain::event::Account;

/// Every kind prefix of an account name, in the table's order.
pub const KINDS: &[&str] = &[
    "program_bank",
    "program_equity",
    "fee_income",
    "reward_expense",
    "credit_income",
    "credit_payments",
    "funding_source",
    "gpa",
    "msa",
    "msa_credit",
    "credit_receivable",
    "network",
];

/// The kind prefix of an account's name.
pub fn kind(a: &Account) -> &'static str {
    match a {
        Account::ProgramBank(_) => "program_bank",
        Account::ProgramEquity(_) => "program_equity",
        Account::ProgramFees(_) => "fee_income",
        Account::ProgramRewards(_) => "reward_expense",
        Account::ProgramIncome(_) => "credit_income",
        Account::CreditPayments(_) => "credit_payments",
        Account::FundingSource(_) => "funding_source",
        Account::Gpa(_) => "gpa",
        Account::Msa(..) => "msa",
        Account::MsaCredit(..) => "msa_credit",
        Account::Credit(_) => "credit_receivable",
        Account::Network(_) => "network",
    }
}

/// Writes the account's name into `out` (cleared first).
pub fn write_name(a: &Account, out: &mut String) {
    out.clear();
    out.push_str(kind(a));
    out.push(':');
    let holder = |h: &Holder, out: &mut String| {
        let _ = write!(out, "{}:{}", if matches!(h, Holder::User(_)) { "user" } else { "business" }, h.token());
    };
    match a {
        Account::ProgramBank(t)
        | Account::ProgramEquity(t)
        | Account::ProgramFees(t)
        | Account::ProgramRewards(t)
        | Account::ProgramIncome(t)
        | Account::CreditPayments(t)
        | Account::FundingSource(t)
        | Account::Credit(t)
        | Account::Network(t) => out.push_str(t),
        Account::Gpa(h) => holder(h, out),
        Account::Msa(h, c) | Account::MsaCredit(h, c) => {
            holder(h, out);
            out.push(':');
            out.push_str(c);
        }
    }
}

/// The account's name.
pub fn name(a: &Account) -> String {
    let mut s = String::new();
    write_name(a, &mut s);
    s
}

/// The program an account belongs to by its name alone (the program
/// accounts); `None` for holder, funding-source, credit and network
/// accounts.
pub fn named_program(a: &Account) -> Option<&str> {
    match a {
        Account::ProgramBank(p)
        | Account::ProgramEquity(p)
        | Account::ProgramFees(p)
        | Account::ProgramRewards(p)
        | Account::ProgramIncome(p)
        | Account::CreditPayments(p) => Some(p),
        _ => None,
    }
}

/// Checks a requested account name: a known kind prefix, `:`, and a
/// non-empty rest. `Err` says what is wrong (the caller names the field).
pub fn check_name(text: &str) -> Result<(), String> {
    match text.split_once(':') {
        Some((k, rest)) if KINDS.contains(&k) && !rest.is_empty() => Ok(()),
        Some((k, _)) if !KINDS.contains(&k) => {
            Err(format!("{k:?} is not an account kind; one of {}", KINDS.join(", ")))
        }
        _ => Err(format!("{text:?} is not KIND:TOKEN (kinds: {})", KINDS.join(", "))),
    }
}

/// True when `a` is the account named `wanted`; `buf` is scratch space
/// (reused across calls, so a scan allocates once).
pub fn name_matches(a: &Account, wanted: &str, buf: &mut String) -> bool {
    if !wanted.starts_with(kind(a)) {
        return false;
    }
    write_name(a, buf);
    buf == wanted
}
