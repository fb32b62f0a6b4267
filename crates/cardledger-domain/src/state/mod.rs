//! The ledger state and the pure decision function.
//!
//! `Ledger::decide` is `(state, command, time) -> event or rejection`; it reads
//! nothing else and writes nothing. `Ledger::apply` folds a recorded event into
//! the state. Replaying the log through `apply` rebuilds the state exactly.
//!
//! One module per concern: `idempotency` (token kinds, fingerprints, the
//! token index), `decide` (the commands' checks and events, ticks and cycle
//! closes), `funding` (funding-source resolution), `journal` (journal-entry
//! classification, holds and pending credits), `apply` (the fold),
//! `accounts` (the account records' table), `cold`
//! (what grows with history, on disk behind a `ColdStore`).

mod accounts;
mod apply;
mod cold;
mod decide;
mod funding;
mod idempotency;
mod journal;

pub use accounts::AccountMap;
pub use cold::{je_closed, key as cold_key, Book, ColdGroup, ColdLink, ColdStore, SpareMaps, TakenCold};
pub(crate) use idempotency::sip13;
pub use idempotency::{
    event_token, fingerprint, fingerprint_blake3, fingerprint_sip13, TokenIndex, TokenKind, Tokens, FINGERPRINT_KEY,
};
pub use journal::classify;
pub(crate) use journal::JeDecided;

use std::collections::BTreeMap;

/// The engine's hash map: ahash with a random key per process (resistant to
/// crafted tokens, and no output depends on iteration order).
pub type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

use crate::command::*;
use crate::cycle::{self, CycleAccount, CyclesClosed};
use crate::event::*;
use crate::limits;
use crate::money::Money;
use crate::rejection::{Code, Rejection};
use crate::time::Timestamp;

/// The result of deciding one command.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // decided once per command and moved straight into the log
pub enum Decision {
    /// A new fact to record.
    Accept(Fact),
    /// Several facts to record in order, atomically, in one batch: a tick
    /// that closes statement cycles (`CyclesClosed` events, then `Ticked`).
    /// The command's answer is the last fact's.
    AcceptAll(Vec<Fact>),
    /// The same command was already recorded at this sequence number.
    Duplicate(u64),
    /// Rejected; nothing is recorded.
    Reject(Rejection),
}

/// A program and what the engine knows of it.
#[derive(Clone, Debug)]
pub struct ProgramState {
    /// The creating command.
    pub cmd: ProgramCmd,
    /// Created at.
    pub created: Timestamp,
    /// The program has an active `programgateway` source: authorizations are funded just in time.
    pub jit: bool,
}

/// A funding source.
#[derive(Clone, Debug)]
pub struct FundingSourceState {
    /// The creating command.
    pub cmd: FundingSourceCmd,
    /// Its program.
    pub program_token: Token,
    /// Created at.
    pub created: Timestamp,
    /// Has at least one address (needed by payment cards).
    pub has_address: bool,
}

/// A GPA or MSA order with what has been unloaded from it.
#[derive(Clone, Debug)]
pub struct OrderState {
    /// Where it is recorded.
    pub seq: u64,
    /// The holder.
    pub holder: Holder,
    /// The MSA campaign (MSA and offer orders).
    pub campaign_token: Option<Token>,
    /// Amount of the order (purchase amount for MSA orders).
    pub amount: Money,
    /// Sum of its unloads.
    pub unloaded: Money,
    /// The funding used.
    pub funding: Funding,
    /// MSA order flag.
    pub active: bool,
    /// MSA order validity.
    pub start_date: Option<Timestamp>,
    /// MSA order validity.
    pub end_date: Option<Timestamp>,
    /// Last change (MSA order updates and unloads).
    pub last_modified: Timestamp,
    /// Created at.
    pub created: Timestamp,
    /// MSA order reward (recorded, not credited).
    pub reward_amount: Money,
    /// MSA order reward trigger.
    pub reward_trigger_amount: Money,
}

/// An unload, indexed for listing.
#[derive(Clone, Debug)]
pub struct UnloadState {
    /// Where it is recorded.
    pub seq: u64,
    /// When.
    pub time: Timestamp,
    /// The holder.
    pub holder: Holder,
    /// The order unloaded.
    pub original_order_token: Token,
    /// Amount.
    pub amount: Money,
}

/// A journal entry the engine must remember (authorizations with holds).
#[derive(Clone, Debug)]
pub struct JeState {
    /// Where it is recorded.
    pub seq: u64,
    /// What it acts on.
    pub target: JeTarget,
    /// Open hold left (authorizations) or pending credit left (pending refunds).
    pub open: Money,
    /// The part of the open hold that was funded just in time (returned to
    /// the program bank if the hold is released unspent).
    pub jit_open: Money,
    /// Its effect.
    pub effect: JeEffect,
}

/// Balances of one GPA, MSA or credit account, as the source pages return them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balances {
    /// Posted balance.
    pub ledger_balance: Money,
    /// Spendable: ledger − holds (+ credit for MSAs).
    pub available_balance: Money,
    /// Reward credit (MSAs).
    pub credit_balance: Money,
    /// Pending credits (pending refunds).
    pub pending_credits: Money,
    /// The last change to the ledger balance.
    pub impacted_amount: Money,
    /// Business time of the last event that changed any of these balances
    /// (for a GPA never changed: when its holder was created).
    pub last_updated_time: Option<Timestamp>,
}

/// What the state keeps of one account: one map entry, so a posting line
/// (or a journal entry's hold) costs one lookup. The snapshot writes it as
/// the five maps it replaced (balances, last changes, last updates, holds,
/// pending credits; `docs/format.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountRecord {
    /// Balance: the sum of the account's postings.
    pub balance: Money,
    /// The last posting's amount (the last change to the balance).
    pub last_impact: Money,
    /// Business time of the last event that changed the account's balance
    /// (a posting to it, or a change of a GPA's or credit account's holds or
    /// pending credits).
    pub last_updated: Option<Timestamp>,
    /// Open holds (a GPA or a credit account: a journal entry's target).
    pub holds: Money,
    /// Pending credits (pending refunds; a GPA or a credit account).
    pub pending: Money,
    /// Posted to at least once: only such an account has a balance and a
    /// last change (an account whose holds changed but that was never
    /// posted to has only a last update).
    pub posted: bool,
    /// A hold was placed on it at least once (it has a holds entry).
    pub held: bool,
    /// A pending credit was recorded for it at least once (it has a
    /// pending-credits entry).
    pub has_pending: bool,
}

/// The whole decision state.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Last applied sequence number.
    pub head_seq: u64,
    /// Business time of the last applied event.
    pub last_time: Option<Timestamp>,
    /// Programs.
    pub programs: HashMap<Token, ProgramState>,
    /// Users and businesses → (program, created).
    pub holders: HashMap<Holder, (Token, Timestamp)>,
    /// Funding sources.
    pub funding_sources: HashMap<Token, FundingSourceState>,
    /// Funding source addresses → (source, created).
    pub addresses: HashMap<Token, (Token, Timestamp)>,
    /// Fees.
    pub fees: HashMap<Token, (FeeCmd, Timestamp)>,
    /// Campaigns (merchants included) → (command, created, is_merchant).
    pub campaigns: HashMap<Token, (CampaignCmd, Timestamp)>,
    /// Offers.
    pub offers: HashMap<Token, (OfferCmd, Timestamp)>,
    /// Credit accounts.
    pub credit_accounts: HashMap<Token, (CreditAccountCmd, Timestamp)>,
    /// GPA orders.
    pub gpa_orders: HashMap<Token, OrderState>,
    /// MSA orders.
    pub msa_orders: HashMap<Token, OrderState>,
    /// Offer orders → seq.
    pub offer_orders: HashMap<Token, u64>,
    /// GPA unloads in log order.
    pub gpa_unloads: Vec<UnloadState>,
    /// MSA unloads in log order.
    pub msa_unloads: Vec<UnloadState>,
    /// Journal entries with something open (holds, pending credits).
    pub journal_entries: HashMap<Token, JeState>,
    /// Every account's record: balance (the sum over all is zero), last
    /// change and last update, in one entry so a posting line is one lookup.
    pub accounts: AccountMap,
    /// Idempotency index: kind → token → (seq, fingerprint).
    pub tokens: TokenIndex,
    /// Funding sources per owning holder (tokens, sorted).
    pub holder_sources: HashMap<Holder, Vec<Token>>,
    /// Program funding sources per program (tokens, sorted).
    pub program_sources: HashMap<Token, Vec<Token>>,
    /// Last tick's `now`.
    pub last_tick: Option<Timestamp>,
    /// MSA campaigns per holder (for balance listings).
    pub msa_campaigns: BTreeMap<Holder, Vec<Token>>,
    /// Statement-cycle accumulators per credit account.
    pub cycles: HashMap<Token, CycleAccount>,
    /// The cold store, when history lives on disk (`cold`): then the token
    /// index, the order maps, offer orders, unload lists and closed journal
    /// entries above hold only what changed since the last cold flush.
    pub cold: Option<ColdLink>,
    /// The capacities the hot maps grew to (not part of the state: a
    /// snapshot neither writes nor reads it).
    pub room: HotRoom,
}

/// The capacities the hot maps (the token index's maps, the order maps,
/// offer orders) last grew to. A cold flush (`take_cold`) moves these maps
/// out and leaves them empty; the first insert of the next interval gives
/// an empty map the room its predecessor grew to (`apply`), so that it does
/// not regrow through every size again, rehashing every entry each time
/// (docs/performance.md, "Issue 13: integer cents inside Money"). A ledger
/// without a cold store never empties its maps: there it changes nothing.
#[derive(Clone, Debug, Default)]
pub struct HotRoom {
    /// Per token kind (by [`TokenKind`]).
    pub(super) tokens: [usize; idempotency::KINDS],
    pub(super) gpa_orders: usize,
    pub(super) msa_orders: usize,
    pub(super) offer_orders: usize,
    /// The spare maps ([`SpareMaps`]) a cold flush takes from its store:
    /// a token kind's waits here for that kind's first token.
    pub(super) spares: SpareMaps,
}

impl HotRoom {
    /// The room noted for a token kind's map (0: none yet).
    pub(super) fn token(&self, kind: TokenKind) -> usize {
        self.tokens.get(usize::from(kind.index())).copied().unwrap_or(0)
    }

    /// A token kind's new map after a cold flush: its spare if a written
    /// run gave one back, else an empty map with the kind's room.
    pub(super) fn new_token_map(&mut self, kind: TokenKind) -> Tokens {
        let room = self.token(kind);
        cold::spare_or(self.spares.take_tokens(kind), || apply::with_room(room))
    }

    /// Notes the room a token kind's map grew to.
    #[cold]
    pub(super) fn note_token(&mut self, kind: TokenKind, capacity: usize) {
        if let Some(n) = self.tokens.get_mut(usize::from(kind.index())) {
            *n = capacity;
        }
    }
}

/// A rejection, as a `Result`. Cold, like [`Rejection::new`]: the branch
/// that rejects (and the `format!` of its message) is laid out away from
/// the accepted path's code.
#[cold]
fn reject<T>(code: Code, field: impl Into<String>, what: impl std::fmt::Display) -> Result<T, Rejection> {
    Err(Rejection::new(code, field, what))
}

/// The field a rejection names (`gpa_order.amount`, `fee_transfer.fees[2].token`),
/// kept as its static parts and rendered only when a command is rejected:
/// an accepted command builds no text. Renders exactly as the `format!`s it
/// replaces.
#[derive(Clone, Copy, Debug)]
pub(super) enum Field {
    /// `{command key}.{field}`.
    Of(&'static str, &'static str),
    /// `{command key}.fees[{index}].token`.
    FeeToken(&'static str, usize),
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Field::Of(key, field) => write!(f, "{key}.{field}"),
            Field::FeeToken(key, i) => write!(f, "{key}.fees[{i}].token"),
        }
    }
}

impl From<Field> for String {
    fn from(f: Field) -> String {
        f.to_string()
    }
}

impl Ledger {
    /// A GPA's, MSA's or credit account's balance.
    pub fn balance(&self, a: &Account) -> Money {
        self.balance_of(a.as_ref())
    }

    /// [`Ledger::balance`] of a borrowed account (nothing allocated).
    pub fn balance_of(&self, a: AccountRef<'_>) -> Money {
        self.account(a).map_or(Money::ZERO, |r| r.balance)
    }

    /// A borrowed account's record, if it has one (nothing allocated).
    pub fn account(&self, a: AccountRef<'_>) -> Option<&AccountRecord> {
        self.accounts.get(a)
    }

    /// Open holds of a GPA or credit account.
    pub fn holds_of(&self, target: &JeTarget) -> Money {
        self.account(target_account(target)).map_or(Money::ZERO, |r| r.holds)
    }

    /// Every account that ever had a hold, with its open holds (in no order).
    pub fn holds(&self) -> impl Iterator<Item = (&Account, Money)> + '_ {
        self.accounts.iter().filter(|(_, r)| r.held).map(|(a, r)| (a, r.holds))
    }

    /// Every account that ever had a pending credit, with what is pending (in no order).
    pub fn pending(&self) -> impl Iterator<Item = (&Account, Money)> + '_ {
        self.accounts.iter().filter(|(_, r)| r.has_pending).map(|(a, r)| (a, r.pending))
    }

    /// Every account ever posted to, with its balance (in no order).
    pub fn balances(&self) -> impl Iterator<Item = (&Account, Money)> + '_ {
        self.accounts.iter().filter(|(_, r)| r.posted).map(|(a, r)| (a, r.balance))
    }

    /// The sum over every account: zero after every event.
    pub fn total(&self) -> Money {
        self.accounts.values().map(|r| r.balance).sum()
    }

    /// Balances of a holder's GPA.
    pub fn gpa_balances(&self, h: &Holder) -> Balances {
        let rec = self.account(AccountRef::Gpa(h)).copied().unwrap_or_default();
        Balances {
            ledger_balance: rec.balance,
            available_balance: rec.balance.minus(rec.holds),
            credit_balance: Money::ZERO,
            pending_credits: rec.pending,
            impacted_amount: rec.last_impact,
            last_updated_time: rec.last_updated.or_else(|| self.holders.get(h).map(|(_, created)| *created)),
        }
    }

    /// Balances of a holder's MSA for a campaign.
    pub fn msa_balances(&self, h: &Holder, campaign: &str) -> Balances {
        let acct = self.account(AccountRef::Msa(h, campaign)).copied().unwrap_or_default();
        let credit = self.account(AccountRef::MsaCredit(h, campaign)).copied().unwrap_or_default();
        Balances {
            ledger_balance: acct.balance,
            available_balance: acct.balance.plus(credit.balance),
            credit_balance: credit.balance,
            pending_credits: Money::ZERO,
            impacted_amount: acct.last_impact,
            last_updated_time: acct.last_updated.max(credit.last_updated),
        }
    }
}

#[cfg(test)]
impl Ledger {
    /// For the state's tests: the business time the next event of a
    /// replayed workload gets, and the facts `decide` records for `line`
    /// then (none for a duplicate or a rejection), to apply in order.
    pub(super) fn next_facts(&self, line: &CommandLine) -> (Timestamp, Vec<Fact>) {
        let time = Timestamp(1_600_000_000_000_000 + 1_000_000 * self.head_seq as i64);
        let facts = match self.decide(line, time) {
            Decision::Accept(fact) => vec![fact],
            Decision::AcceptAll(facts) => facts,
            Decision::Duplicate(_) | Decision::Reject(_) => Vec::new(),
        };
        (time, facts)
    }
}

/// The balance account of a journal entry's target, borrowed: where its
/// holds and pending credits are kept.
fn target_account(target: &JeTarget) -> AccountRef<'_> {
    match target {
        JeTarget::Gpa(h) => AccountRef::Gpa(h),
        JeTarget::Credit(a) => AccountRef::Credit(a),
    }
}
