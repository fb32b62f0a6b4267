//! The ledger's accounts as a read-side fold. [`TrialBalance`] is a
//! [`Projection`] keeping every account's balance per program, in integer
//! cents, from each event's double-entry [`postings`]; its rows are the
//! trial balance, and every program's rows sum to exactly zero (each
//! posting pair lies within one program). [`postings_page`] scans events
//! for one account's postings with their running balance.
//!
//! Program attribution: a posting pair (`postings` emits transfers as
//! adjacent from/to lines) belongs to the program one of its accounts
//! names (`program_bank:p`, `fee_income:p`, …), else to the program of the
//! event (the order's funding program, the journal entry's, the fee
//! transfer's). A network account (`network:VISA`) is shared by every
//! program, so the trial balance shows one row per program that moved it.
//!
//! ```
//! use cardledger_domain::projection::Projection;
//! use cardledger_trial_balance::TrialBalance;
//!
//! let tb = TrialBalance::default();
//! assert_eq!(tb.total(None), 0);
//! assert_eq!(TrialBalance::decode(&tb.encode()), Some(tb));
//! ```

pub mod account;

use std::collections::{BTreeMap, VecDeque};

use cardledger_domain::event::{postings, Account, Event, Recorded};
use cardledger_domain::projection::Projection;
use cardledger_domain::state::event_token;
use cardledger_domain::time::Timestamp;

/// Checkpoint format version of [`TrialBalance`].
const VERSION: u8 = 1;

/// Every account's balance (cents) per program, as of the last applied
/// event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrialBalance {
    balances: BTreeMap<(String, Account), i64>,
    last_seq: u64,
}

/// One trial balance row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row<'a> {
    /// The program the balance belongs to.
    pub program: &'a str,
    /// The account.
    pub account: &'a Account,
    /// Its balance in cents (positive: a debit balance in the engine's
    /// sign convention, where money added to an account is positive).
    pub cents: i64,
}

impl TrialBalance {
    /// The rows of one program (or of all, program by program), accounts
    /// in a stable order (by program, then account kind and token).
    pub fn rows<'a>(&'a self, program: Option<&'a str>) -> impl Iterator<Item = Row<'a>> + 'a {
        self.balances.iter().filter(move |((p, _), _)| program.is_none_or(|want| want == p)).map(|((p, a), c)| Row {
            program: p,
            account: a,
            cents: *c,
        })
    }

    /// The sum of the rows (cents): zero for every program, always.
    pub fn total(&self, program: Option<&str>) -> i128 {
        self.rows(program).map(|r| i128::from(r.cents)).sum()
    }

    /// The programs that have rows, in order.
    pub fn programs(&self) -> impl Iterator<Item = &str> + '_ {
        let mut last: Option<&str> = None;
        self.balances.keys().filter_map(move |(p, _)| {
            if last == Some(p.as_str()) {
                return None;
            }
            last = Some(p.as_str());
            last
        })
    }

    /// The seq of the last applied event (0: none).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }
}

/// The program an event acts in when none of a pair's accounts names one.
fn event_program(e: &Event) -> Option<&str> {
    match e {
        Event::ProgramCreated(c) => Some(&c.token),
        Event::ProgramDeposited(c) => Some(&c.program_token),
        Event::GpaOrdered(e) => Some(&e.funding.program_token),
        Event::GpaUnloaded(e) => Some(&e.funding.program_token),
        Event::MsaOrdered(e) => Some(&e.funding.program_token),
        Event::MsaUnloaded(e) => Some(&e.funding.program_token),
        Event::OfferOrdered(e) => Some(&e.funding.program_token),
        Event::FeeTransferred(e) => Some(&e.program_token),
        Event::JournalEntryRecorded(e) => Some(&e.program_token),
        // every pair of a close names its program's income account
        Event::CyclesClosed(_)
        | Event::UserCreated(_)
        | Event::BusinessCreated(_)
        | Event::FundingSourceCreated { .. }
        | Event::FundingSourceAddressCreated(_)
        | Event::FeeCreated(_)
        | Event::CampaignCreated(_)
        | Event::MerchantCreated(_)
        | Event::OfferCreated(_)
        | Event::CreditAccountOpened(_)
        | Event::MsaOrderUpdated(_)
        | Event::Ticked(_) => None,
    }
}

/// The postings of an event with the program of each line.
pub fn program_postings(e: &Event) -> Vec<(String, Account, i64)> {
    let lines = postings(e);
    assert!(
        lines.len().is_multiple_of(2),
        "postings are transfers (pairs of lines); got {} lines for {}",
        lines.len(),
        e.kind()
    );
    let mut out = Vec::with_capacity(lines.len());
    let mut it = lines.into_iter();
    while let (Some(from), Some(to)) = (it.next(), it.next()) {
        let program = match account::named_program(&from.account)
            .or_else(|| account::named_program(&to.account))
            .or_else(|| event_program(e))
        {
            Some(p) => p.to_string(),
            None => unreachable!("a {} posting pair that names no program", e.kind()),
        };
        out.push((program.clone(), from.account, from.amount.cents()));
        out.push((program, to.account, to.amount.cents()));
    }
    out
}

impl Projection for TrialBalance {
    const NAME: &'static str = "trialbalance.v1";

    fn apply(&mut self, rec: &Recorded) {
        for (program, account, cents) in program_postings(&rec.fact.event) {
            *self.balances.entry((program, account)).or_insert(0) += cents;
        }
        self.last_seq = rec.seq;
    }

    fn encode(&self) -> Vec<u8> {
        let rows: Vec<(&String, &Account, i64)> = self.balances.iter().map(|((p, a), c)| (p, a, *c)).collect();
        cardledger_domain::checkpoint::encode(VERSION, &(self.last_seq, rows))
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (last_seq, rows): (u64, Vec<(String, Account, i64)>) =
            cardledger_domain::checkpoint::decode(VERSION, bytes)?;
        let n = rows.len();
        let balances: BTreeMap<(String, Account), i64> = rows.into_iter().map(|(p, a, c)| ((p, a), c)).collect();
        // a repeated key is a damaged checkpoint, not a state
        (balances.len() == n).then_some(TrialBalance { balances, last_seq })
    }
}

/// One posting to an account, with the account's balance after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostingRow {
    /// The event's seq.
    pub seq: u64,
    /// The event's business time.
    pub time: Timestamp,
    /// The event kind (its command key).
    pub kind: &'static str,
    /// The event's token (`None` for ticks and cycle closes).
    pub token: Option<String>,
    /// The signed amount posted, in cents.
    pub cents: i64,
    /// The account's balance after this posting, in cents.
    pub balance: i64,
}

/// A page of an account's postings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostingsPage {
    /// The page, in the requested order.
    pub rows: Vec<PostingRow>,
    /// Postings of the account in the events scanned.
    pub total: u64,
    /// The account's balance after the last scanned event, in cents.
    pub balance: i64,
}

/// Scans `events` (in log order) for the postings to the account named
/// `account`: `count` rows from `start` in seq order (`descending`:
/// newest first). Holds at most `start + count` rows in memory.
pub fn postings_page<E>(
    events: impl Iterator<Item = Result<Recorded, E>>,
    account: &str,
    start: usize,
    count: usize,
    descending: bool,
) -> Result<PostingsPage, E> {
    let keep = start.saturating_add(count);
    let mut rows: VecDeque<PostingRow> = VecDeque::new();
    let mut total = 0u64;
    let mut balance = 0i64;
    let mut buf = String::new();
    for rec in events {
        let rec = rec?;
        for p in postings(&rec.fact.event) {
            if !account::name_matches(&p.account, account, &mut buf) {
                continue;
            }
            let cents = p.amount.cents();
            balance += cents;
            let index = total;
            total += 1;
            let row = || PostingRow {
                seq: rec.seq,
                time: rec.time,
                kind: rec.fact.event.kind(),
                token: event_token(&rec.fact.event).map(str::to_string),
                cents,
                balance,
            };
            if descending {
                // the newest `keep` rows: the page is among them
                if rows.len() == keep {
                    rows.pop_front();
                }
                if keep > 0 {
                    rows.push_back(row());
                }
            } else if (start as u64..keep as u64).contains(&index) {
                rows.push_back(row());
            }
        }
    }
    let rows: Vec<PostingRow> =
        if descending { rows.into_iter().rev().skip(start).take(count).collect() } else { rows.into_iter().collect() };
    Ok(PostingsPage { rows, total, balance })
}
