//! The ledger state and the pure decision function.
//!
//! `Ledger::decide` is `(state, command, time) -> event or rejection`; it reads
//! nothing else and writes nothing. `Ledger::apply` folds a recorded event into
//! the state. Replaying the log through `apply` rebuilds the state exactly.

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
    pub program_token: String,
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
    pub campaign_token: Option<String>,
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
    pub original_order_token: String,
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
}

/// The whole decision state.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Last applied sequence number.
    pub head_seq: u64,
    /// Business time of the last applied event.
    pub last_time: Option<Timestamp>,
    /// Programs.
    pub programs: HashMap<String, ProgramState>,
    /// Users and businesses → (program, created).
    pub holders: HashMap<Holder, (String, Timestamp)>,
    /// Funding sources.
    pub funding_sources: HashMap<String, FundingSourceState>,
    /// Funding source addresses → (source, created).
    pub addresses: HashMap<String, (String, Timestamp)>,
    /// Fees.
    pub fees: HashMap<String, (FeeCmd, Timestamp)>,
    /// Campaigns (merchants included) → (command, created, is_merchant).
    pub campaigns: HashMap<String, (CampaignCmd, Timestamp)>,
    /// Offers.
    pub offers: HashMap<String, (OfferCmd, Timestamp)>,
    /// Credit accounts.
    pub credit_accounts: HashMap<String, (CreditAccountCmd, Timestamp)>,
    /// GPA orders.
    pub gpa_orders: HashMap<String, OrderState>,
    /// MSA orders.
    pub msa_orders: HashMap<String, OrderState>,
    /// Offer orders → seq.
    pub offer_orders: HashMap<String, u64>,
    /// GPA unloads in log order.
    pub gpa_unloads: Vec<UnloadState>,
    /// MSA unloads in log order.
    pub msa_unloads: Vec<UnloadState>,
    /// Journal entries with something open (holds, pending credits).
    pub journal_entries: HashMap<String, JeState>,
    /// Account balances (sum over all is zero).
    pub accounts: HashMap<Account, Money>,
    /// Last change per account.
    pub last_impact: HashMap<Account, Money>,
    /// Open holds per GPA / credit account.
    pub holds: HashMap<JeTarget, Money>,
    /// Pending credits per GPA / credit account.
    pub pending: HashMap<JeTarget, Money>,
    /// Idempotency index: kind → token → (seq, fingerprint).
    pub tokens: HashMap<&'static str, HashMap<String, (u64, u64)>>,
    /// Funding sources per owning holder (tokens, sorted).
    pub holder_sources: HashMap<Holder, Vec<String>>,
    /// Program funding sources per program (tokens, sorted).
    pub program_sources: HashMap<String, Vec<String>>,
    /// Last tick's `now`.
    pub last_tick: Option<Timestamp>,
    /// MSA campaigns per holder (for balance listings).
    pub msa_campaigns: BTreeMap<Holder, Vec<String>>,
    /// Statement-cycle accumulators per credit account.
    pub cycles: HashMap<String, CycleAccount>,
}

/// The idempotency kind of a command: tokens are unique within it.
fn token_kind(c: &Command) -> Option<&'static str> {
    match c {
        Command::MsaOrderUpdate(_) | Command::Tick(_) => None,
        // a merchant creates its default campaign: the two share a namespace
        Command::Merchant(_) => Some("campaign"),
        other => Some(other.key()),
    }
}

fn event_token_kind(e: &Event) -> Option<&'static str> {
    match e {
        Event::MsaOrderUpdated(_) | Event::Ticked(_) | Event::CyclesClosed(_) => None,
        Event::MerchantCreated(_) => Some("campaign"),
        other => Some(other.kind()),
    }
}

/// Fingerprint of a command's payload (its `time` excluded).
pub fn fingerprint(line: &CommandLine) -> u64 {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let cfg = bincode::config::standard();
    // encode into a reused buffer, then hash it in one call: feeding blake3
    // the encoder's many tiny writes cost more than the rest of `decide`
    let h = BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        let _ = bincode::encode_into_std_write((&line.command, &line.corrected_post_date), &mut *buf, cfg);
        blake3::hash(&buf)
    });
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_be_bytes(first)
}

fn reject<T>(code: Code, field: String, what: impl std::fmt::Display) -> Result<T, Rejection> {
    Err(Rejection::new(code, field, what))
}

impl Ledger {
    /// Where a token of an idempotency kind was recorded: (seq, fingerprint).
    /// Kinds are command keys, except that merchants are `campaign`.
    pub fn recorded_token(&self, kind: &str, token: &str) -> Option<(u64, u64)> {
        self.tokens.get(kind).and_then(|m| m.get(token)).copied()
    }

    /// A GPA's, MSA's or credit account's balance.
    pub fn balance(&self, a: &Account) -> Money {
        self.accounts.get(a).copied().unwrap_or(Money::ZERO)
    }

    /// The sum over every account: zero after every event.
    pub fn total(&self) -> Money {
        self.accounts.values().copied().sum()
    }

    /// Balances of a holder's GPA.
    pub fn gpa_balances(&self, h: &Holder) -> Balances {
        let acct = Account::Gpa(h.clone());
        let ledger = self.balance(&acct);
        let target = JeTarget::Gpa(h.clone());
        let holds = self.holds.get(&target).copied().unwrap_or(Money::ZERO);
        Balances {
            ledger_balance: ledger,
            available_balance: ledger.minus(holds),
            credit_balance: Money::ZERO,
            pending_credits: self.pending.get(&target).copied().unwrap_or(Money::ZERO),
            impacted_amount: self.last_impact.get(&acct).copied().unwrap_or(Money::ZERO),
        }
    }

    /// Balances of a holder's MSA for a campaign.
    pub fn msa_balances(&self, h: &Holder, campaign: &str) -> Balances {
        let acct = Account::Msa(h.clone(), campaign.to_string());
        let ledger = self.balance(&acct);
        let credit = self.balance(&Account::MsaCredit(h.clone(), campaign.to_string()));
        Balances {
            ledger_balance: ledger,
            available_balance: ledger.plus(credit),
            credit_balance: credit,
            pending_credits: Money::ZERO,
            impacted_amount: self.last_impact.get(&acct).copied().unwrap_or(Money::ZERO),
        }
    }

    /// Decides a command at business time `time`. Pure. A `tick` that
    /// passes the closing instant of statement cycles decides their closes
    /// (`Decision::AcceptAll`); its `now`, not `time`, is what cycles compare.
    pub fn decide(&self, line: &CommandLine, _time: Timestamp) -> Decision {
        let fp = fingerprint(line);
        if let (Some(kind), Some(token)) = (token_kind(&line.command), line.command.token()) {
            if let Some((seq, recorded)) = self.recorded_token(kind, token) {
                if recorded == fp {
                    return Decision::Duplicate(seq);
                }
                return Decision::Reject(Rejection::new(
                    Code::TokenConflict,
                    format!("{}.token", line.command.key()),
                    format!("token {token:?} was already used for a different {kind}"),
                ));
            }
        }
        if let Command::Tick(c) = &line.command {
            return self.decide_tick(c, fp, line.corrected_post_date);
        }
        match self.decide_event(&line.command) {
            Ok(event) => {
                Decision::Accept(Fact { fingerprint: fp, corrected_post_date: line.corrected_post_date, event })
            }
            Err(r) => Decision::Reject(r),
        }
    }

    /// A tick: rejected unless later than the previous one; otherwise every
    /// cycle whose closing instant is at or before `now` closes, in account
    /// token order, each account's cycles oldest first.
    fn decide_tick(&self, c: &TickCmd, fp: u64, cpd: Option<crate::time::Date>) -> Decision {
        if let Some(last) = self.last_tick {
            if c.now <= last {
                return Decision::Reject(Rejection::new(
                    Code::TickNotAfterPrevious,
                    "tick.now",
                    format!("{} is not after the previous tick {}", c.now, last),
                ));
            }
        }
        let fact = |event| Fact { fingerprint: fp, corrected_post_date: cpd, event };
        let mut facts: Vec<Fact> = self.cycle_closes(c.now).into_iter().map(|e| fact(Event::CyclesClosed(e))).collect();
        if facts.is_empty() {
            return Decision::Accept(fact(Event::Ticked(c.clone())));
        }
        facts.push(fact(Event::Ticked(c.clone())));
        Decision::AcceptAll(facts)
    }

    /// Every cycle close a tick at `now` records, in account-token order,
    /// each account's cycles oldest first, as events of at most
    /// `CYCLE_CLOSES_PER_EVENT_MAX` closes (built in place: a close is large).
    pub fn cycle_closes(&self, now: Timestamp) -> Vec<CyclesClosed> {
        let mut due: Vec<(&String, &CycleAccount)> = self.cycles.iter().filter(|(_, a)| a.closes_at <= now).collect();
        due.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let per = limits::CYCLE_CLOSES_PER_EVENT_MAX;
        let mut out: Vec<CyclesClosed> = Vec::with_capacity(due.len() / per + 1);
        let mut chunk = CyclesClosed { now, program_tokens: Vec::with_capacity(per), closes: Vec::with_capacity(per) };
        for (token, acct) in due {
            let Some((cmd, _)) = self.credit_accounts.get(token) else { continue };
            // the accumulators advance on a copy only when a tick closes several cycles
            let mut later: Option<CycleAccount> = None;
            loop {
                let current = later.as_ref().unwrap_or(acct);
                let close = cycle::close_cycle(cmd, current);
                let more = close.payment_due_date <= now;
                if more {
                    let mut next = current.clone();
                    next.after_close(&close);
                    later = Some(next);
                }
                chunk.closes.push(close);
                chunk.program_tokens.push(cmd.program_token.clone());
                if chunk.closes.len() == per {
                    let next =
                        CyclesClosed { now, program_tokens: Vec::with_capacity(per), closes: Vec::with_capacity(per) };
                    out.push(std::mem::replace(&mut chunk, next));
                }
                if !more {
                    break;
                }
            }
        }
        if !chunk.closes.is_empty() {
            out.push(chunk);
        }
        out
    }

    fn decide_event(&self, command: &Command) -> Result<Event, Rejection> {
        let key = command.key();
        let f = |field: &str| format!("{key}.{field}");
        Ok(match command {
            Command::Program(c) => Event::ProgramCreated(c.clone()),
            Command::User(c) | Command::Business(c) => {
                self.program(&c.program_token, f("program_token"))?;
                let h = if matches!(command, Command::User(_)) {
                    Holder::User(c.token.clone())
                } else {
                    Holder::Business(c.token.clone())
                };
                if self.holders.contains_key(&h) {
                    return reject(Code::TokenConflict, f("token"), format!("{} {:?} already exists", key, c.token));
                }
                if matches!(command, Command::User(_)) {
                    Event::UserCreated(c.clone())
                } else {
                    Event::BusinessCreated(c.clone())
                }
            }
            Command::FundingSource(c) => {
                let program_token = match &c.holder {
                    Some(h) => {
                        let program = self.holder_program(h, f(h.field()))?;
                        if let Some(p) = &c.program_token {
                            if p != program {
                                return reject(
                                    Code::ProgramMismatch,
                                    f("program_token"),
                                    format!("the holder belongs to program {program:?}"),
                                );
                            }
                        }
                        program.to_string()
                    }
                    None => {
                        let p = c.program_token.clone().unwrap_or_default();
                        self.program(&p, f("program_token"))?;
                        p
                    }
                };
                Event::FundingSourceCreated { cmd: c.clone(), program_token }
            }
            Command::FundingSourceAddress(c) => {
                let fs = self.funding_sources.get(&c.funding_source_token).ok_or_else(|| {
                    Rejection::new(
                        Code::UnknownReference,
                        f("funding_source_token"),
                        format!("no funding source {:?}", c.funding_source_token),
                    )
                })?;
                if fs.cmd.kind.is_program() {
                    return reject(
                        Code::InvalidValue,
                        f("funding_source_token"),
                        "program funding sources have no address",
                    );
                }
                Event::FundingSourceAddressCreated(c.clone())
            }
            Command::Fee(c) => Event::FeeCreated(c.clone()),
            Command::Campaign(c) => Event::CampaignCreated(c.clone()),
            Command::Merchant(c) => Event::MerchantCreated(c.clone()),
            Command::Offer(c) => {
                self.campaign(&c.campaign_token, f("campaign_token"))?;
                Event::OfferCreated(c.clone())
            }
            Command::CreditAccount(c) => {
                if cycle::zone(&c.timezone).is_none() {
                    return reject(
                        Code::InvalidValue,
                        f("timezone"),
                        format!("{:?} is not an IANA time zone", c.timezone),
                    );
                }
                let h = Holder::User(c.user_token.clone());
                let program = self.holder_program(&h, f("user_token"))?;
                self.program(&c.program_token, f("program_token"))?;
                if program != c.program_token {
                    return reject(
                        Code::ProgramMismatch,
                        f("program_token"),
                        format!("the user belongs to program {program:?}"),
                    );
                }
                Event::CreditAccountOpened(c.clone())
            }
            Command::GpaOrder(c) => {
                let field = f(c.holder.field());
                let program = self.holder_program(&c.holder, field)?;
                let funding = self.resolve_funding(
                    key,
                    &c.holder,
                    program,
                    c.funding_source_token.as_deref(),
                    c.funding_source_address_token.as_deref(),
                )?;
                let fees = self.charge_fees(key, &c.fees)?;
                self.check_range(&Account::Gpa(c.holder.clone()), c.amount, f("amount"))?;
                Event::GpaOrdered(GpaOrdered { cmd: c.clone(), funding, fees })
            }
            Command::GpaUnload(c) => {
                let (order, _) = unloadable(&self.gpa_orders, "GPA", key, c)?;
                let available = self.gpa_balances(&order.holder).available_balance;
                if c.amount > available {
                    return reject(
                        Code::InsufficientFunds,
                        f("amount"),
                        format!("{} exceeds the GPA's available balance {}", c.amount, available),
                    );
                }
                Event::GpaUnloaded(GpaUnloaded {
                    cmd: c.clone(),
                    holder: order.holder.clone(),
                    funding: order.funding.clone(),
                })
            }
            Command::MsaOrder(c) => {
                let program = self.holder_program(&c.holder, f(c.holder.field()))?;
                self.campaign(&c.campaign_token, f("campaign_token"))?;
                let funding = self.resolve_funding(
                    key,
                    &c.holder,
                    program,
                    c.funding_source_token.as_deref(),
                    c.funding_source_address_token.as_deref(),
                )?;
                let acct = Account::Msa(c.holder.clone(), c.campaign_token.clone());
                self.check_range(&acct, c.purchase_amount, f("purchase_amount"))?;
                let before = self.msa_balances(&c.holder, &c.campaign_token);
                let aggregated_after =
                    MsaBalance { ledger: before.ledger_balance.plus(c.purchase_amount), credit: before.credit_balance };
                Event::MsaOrdered(MsaOrdered { cmd: c.clone(), funding, aggregated_after })
            }
            Command::MsaOrderUpdate(c) => {
                if !self.msa_orders.contains_key(&c.token) {
                    return reject(Code::UnknownReference, f("token"), format!("no MSA order {:?}", c.token));
                }
                Event::MsaOrderUpdated(c.clone())
            }
            Command::MsaUnload(c) => {
                let (order, remaining) = unloadable(&self.msa_orders, "MSA", key, c)?;
                let campaign = order.campaign_token.clone().unwrap_or_default();
                let before = self.msa_balances(&order.holder, &campaign);
                if c.amount > before.ledger_balance {
                    return reject(
                        Code::InsufficientFunds,
                        f("amount"),
                        format!("{} exceeds the MSA's ledger balance {}", c.amount, before.ledger_balance),
                    );
                }
                Event::MsaUnloaded(MsaUnloaded {
                    cmd: c.clone(),
                    holder: order.holder.clone(),
                    campaign_token: campaign,
                    funding: order.funding.clone(),
                    order_after: MsaBalance { ledger: remaining.minus(c.amount), credit: Money::ZERO },
                    aggregated_after: MsaBalance {
                        ledger: before.ledger_balance.minus(c.amount),
                        credit: before.credit_balance,
                    },
                })
            }
            Command::OfferOrder(c) => {
                let program = self.holder_program(&c.holder, f(c.holder.field()))?;
                let (offer, _) = self.offers.get(&c.offer_token).ok_or_else(|| {
                    Rejection::new(Code::UnknownReference, f("offer_token"), format!("no offer {:?}", c.offer_token))
                })?;
                if !offer.active {
                    return reject(Code::Inactive, f("offer_token"), format!("offer {:?} is inactive", c.offer_token));
                }
                self.campaign(&offer.campaign_token, f("offer_token"))?;
                let funding = self.resolve_funding(
                    key,
                    &c.holder,
                    program,
                    c.funding_source_token.as_deref(),
                    c.funding_source_address_token.as_deref(),
                )?;
                let before = self.msa_balances(&c.holder, &offer.campaign_token);
                Event::OfferOrdered(OfferOrdered {
                    cmd: c.clone(),
                    funding,
                    campaign_token: offer.campaign_token.clone(),
                    purchase_amount: offer.purchase_amount,
                    reward_amount: offer.reward_amount,
                    aggregated_after: MsaBalance {
                        ledger: before.ledger_balance.plus(offer.purchase_amount),
                        credit: before.credit_balance.plus(offer.reward_amount),
                    },
                })
            }
            Command::FeeTransfer(c) => {
                let program = self.holder_program(&c.holder, f(c.holder.field()))?.to_string();
                let fees = self.charge_fees(key, &c.fees)?;
                let total: Money = fees.iter().map(|x| x.amount).sum();
                let available = self.gpa_balances(&c.holder).available_balance;
                if total > available {
                    return reject(
                        Code::InsufficientFunds,
                        f("fees"),
                        format!("fees of {total} exceed the GPA's available balance {available}"),
                    );
                }
                Event::FeeTransferred(FeeTransferred { cmd: c.clone(), program_token: program, fees })
            }
            Command::JournalEntry(c) => Event::JournalEntryRecorded(self.decide_journal_entry(c)?),
            Command::ProgramDeposit(c) => {
                self.program(&c.program_token, f("program_token"))?;
                self.check_range(&Account::ProgramBank(c.program_token.clone()), c.amount, f("amount"))?;
                Event::ProgramDeposited(c.clone())
            }
            Command::Tick(c) => Event::Ticked(c.clone()),
        })
    }

    fn decide_journal_entry(&self, c: &JournalEntryCmd) -> Result<JournalEntryRecorded, Rejection> {
        let f = |field: &str| format!("journal_entry.{field}");
        let (program, jit_program) = match &c.target {
            JeTarget::Gpa(h) => {
                let p = self.holder_program(h, f(h.field()))?;
                (p.to_string(), self.programs.get(p).map(|s| s.jit).unwrap_or(false))
            }
            JeTarget::Credit(a) => {
                let (acct, _) = self.credit_accounts.get(a).ok_or_else(|| {
                    Rejection::new(Code::UnknownReference, f("account_token"), format!("no credit account {a:?}"))
                })?;
                (acct.program_token.clone(), false)
            }
        };
        let effect = classify(c);
        let mut e = JournalEntryRecorded {
            cmd: c.clone(),
            program_token: program,
            effect,
            hold_amount: Money::ZERO,
            jit_load: Money::ZERO,
            jit_unload: Money::ZERO,
            pending_credit: Money::ZERO,
        };
        let amount = c.amount;
        let available = self.available(&c.target);
        // the related authorization, for clearings and reversals
        let related = |want_open: bool| -> Result<Option<&JeState>, Rejection> {
            let Some(rt) = &c.related_token else { return Ok(None) };
            let je = self.journal_entries.get(rt).filter(|j| j.target == c.target).ok_or_else(|| {
                Rejection::new(
                    Code::NoOpenHold,
                    f("related_token"),
                    format!("no open authorization {rt:?} on this account"),
                )
            })?;
            if want_open && je.open.is_zero() {
                return reject(Code::NoOpenHold, f("related_token"), format!("authorization {rt:?} has no open hold"));
            }
            Ok(Some(je))
        };
        match effect {
            JeEffect::NoBalance | JeEffect::Payment | JeEffect::Reward | JeEffect::AdjustmentCredit => {}
            JeEffect::Hold => {
                if jit_program {
                    e.jit_load = amount.minus(available.max(Money::ZERO)).max(Money::ZERO);
                } else if amount > available {
                    return reject(
                        Code::InsufficientFunds,
                        f("amount"),
                        format!("{amount} exceeds the available balance {available}"),
                    );
                }
                e.hold_amount = amount;
            }
            JeEffect::Clearing => {
                let released = match related(false)? {
                    Some(je) if je.effect == JeEffect::Hold => je.open,
                    Some(_) => {
                        return reject(
                            Code::NoOpenHold,
                            f("related_token"),
                            "the related entry is not an authorization",
                        )
                    }
                    None => Money::ZERO,
                };
                e.hold_amount = released;
                let spendable = available.plus(released);
                if amount > spendable {
                    if jit_program {
                        e.jit_load = amount.minus(spendable.max(Money::ZERO)).max(Money::ZERO);
                    } else if matches!(c.target, JeTarget::Gpa(_)) {
                        return reject(
                            Code::InsufficientFunds,
                            f("amount"),
                            format!("{amount} exceeds the available balance {spendable}"),
                        );
                    }
                } else if let Some(je) = related(false)? {
                    // a clearing below its hold returns the unspent JIT-funded part to the program bank
                    e.jit_unload = je.jit_open.min(released.minus(amount).max(Money::ZERO));
                }
            }
            JeEffect::Reversal => {
                let Some(je) = related(true)? else {
                    return reject(
                        Code::MissingField,
                        f("related_token"),
                        "a reversal needs the authorization it reverses",
                    );
                };
                if je.effect != JeEffect::Hold {
                    return reject(Code::NoOpenHold, f("related_token"), "the related entry is not an authorization");
                }
                if amount > je.open {
                    return reject(
                        Code::ExceedsHold,
                        f("amount"),
                        format!("{amount} exceeds the open hold {}", je.open),
                    );
                }
                e.hold_amount = amount;
                // the JIT-funded part of the hold goes back first; the holder's own money stays
                e.jit_unload = je.jit_open.min(amount);
            }
            JeEffect::PinPurchase
            | JeEffect::AtmWithdrawal
            | JeEffect::Fee
            | JeEffect::Interest
            | JeEffect::AdjustmentDebit => {
                if let JeTarget::Gpa(_) = c.target {
                    if amount > available {
                        if jit_program && matches!(effect, JeEffect::PinPurchase | JeEffect::AtmWithdrawal) {
                            e.jit_load = amount.minus(available.max(Money::ZERO));
                        } else {
                            return reject(
                                Code::InsufficientFunds,
                                f("amount"),
                                format!("{amount} exceeds the available balance {available}"),
                            );
                        }
                    }
                }
            }
            JeEffect::Refund => {
                if let Some(je) = related(false)? {
                    if je.effect == JeEffect::PendingRefund {
                        e.pending_credit = je.open.min(amount);
                    }
                }
            }
            JeEffect::PendingRefund => e.pending_credit = amount,
        }
        if let JeTarget::Credit(_) = c.target {
            if effect == JeEffect::Hold && amount > available {
                return reject(
                    Code::InsufficientFunds,
                    f("amount"),
                    format!("{amount} exceeds the available credit {available}"),
                );
            }
        }
        Ok(e)
    }

    /// Spendable now: GPA ledger − holds, or credit limit + balance − holds.
    pub fn available(&self, target: &JeTarget) -> Money {
        let holds = self.holds.get(target).copied().unwrap_or(Money::ZERO);
        match target {
            JeTarget::Gpa(h) => self.balance(&Account::Gpa(h.clone())).minus(holds),
            JeTarget::Credit(a) => {
                let limit = self.credit_accounts.get(a).map(|(c, _)| c.credit_limit).unwrap_or(Money::ZERO);
                limit.plus(self.balance(&Account::Credit(a.clone()))).minus(holds)
            }
        }
    }

    fn program(&self, token: &str, field: String) -> Result<&ProgramState, Rejection> {
        self.programs
            .get(token)
            .ok_or_else(|| Rejection::new(Code::UnknownReference, field, format!("no program {token:?}")))
    }

    fn holder_program(&self, h: &Holder, field: String) -> Result<&str, Rejection> {
        self.holders.get(h).map(|(p, _)| p.as_str()).ok_or_else(|| {
            let kind = match h {
                Holder::User(_) => "user",
                Holder::Business(_) => "business",
            };
            Rejection::new(Code::UnknownReference, field, format!("no {kind} {:?}", h.token()))
        })
    }

    fn campaign(&self, token: &str, field: String) -> Result<(), Rejection> {
        match self.campaigns.get(token) {
            None => reject(Code::UnknownReference, field, format!("no campaign {token:?}")),
            Some((c, _)) if !c.active => reject(Code::Inactive, field, format!("campaign {token:?} is inactive")),
            Some(_) => Ok(()),
        }
    }

    fn check_range(&self, acct: &Account, amount: Money, field: String) -> Result<(), Rejection> {
        let limit = Money::from_cents(i64::MAX / 4);
        if self.balance(acct).plus(amount) > limit {
            return reject(Code::BalanceOverflow, field, "the balance would leave the engine's exact range");
        }
        Ok(())
    }

    fn charge_fees(&self, key: &str, fees: &[FeeRef]) -> Result<Vec<ChargedFee>, Rejection> {
        fees.iter()
            .enumerate()
            .map(|(i, r)| {
                let field = format!("{key}.fees[{i}].token");
                match self.fees.get(&r.token) {
                    None => reject(Code::UnknownReference, field, format!("no fee {:?}", r.token)),
                    Some((fee, _)) if !fee.active => {
                        reject(Code::Inactive, field, format!("fee {:?} is inactive", r.token))
                    }
                    Some((fee, _)) => Ok(ChargedFee { token: r.token.clone(), amount: fee.amount }),
                }
            })
            .collect()
    }

    /// Funding-source resolution (product.md §3): the named source (existing,
    /// active, the holder's or the program's); else the holder's default,
    /// else the program's default; else the only usable one; else rejected.
    fn resolve_funding<'a>(
        &'a self,
        key: &str,
        holder: &Holder,
        program: &str,
        named: Option<&str>,
        address: Option<&str>,
    ) -> Result<Funding, Rejection> {
        let field = format!("{key}.funding_source_token");
        let owned_by = |fs: &FundingSourceState| match &fs.cmd.holder {
            Some(h) => h == holder,
            None => fs.program_token == program,
        };
        let chosen: &FundingSourceState = match named {
            Some(t) => {
                let fs = self.funding_sources.get(t).ok_or_else(|| {
                    Rejection::new(Code::UnknownReference, field.clone(), format!("no funding source {t:?}"))
                })?;
                if !owned_by(fs) {
                    return reject(
                        Code::FundingSourceNotOwned,
                        field,
                        format!("funding source {t:?} belongs to another holder or program"),
                    );
                }
                if !fs.cmd.active {
                    return reject(Code::Inactive, field, format!("funding source {t:?} is inactive"));
                }
                fs
            }
            None => {
                // candidates in token order: deterministic whatever the hash order
                let usable = |tokens: Option<&Vec<String>>| -> Vec<&FundingSourceState> {
                    tokens
                        .into_iter()
                        .flatten()
                        .filter_map(|t| self.funding_sources.get(t))
                        .filter(|fs| fs.cmd.active && fs.cmd.kind != FundingKind::ProgramGateway)
                        .collect()
                };
                let own = usable(self.holder_sources.get(holder));
                let prog = usable(self.program_sources.get(program));
                let default_of = |v: &[&'a FundingSourceState]| -> Result<Option<&'a FundingSourceState>, Rejection> {
                    let mut d = v.iter().filter(|f| f.cmd.is_default_account);
                    match (d.next(), d.next()) {
                        (None, _) => Ok(None),
                        (Some(one), None) => Ok(Some(*one)),
                        (Some(_), Some(_)) => reject(
                            Code::FundingSourceAmbiguous,
                            field.clone(),
                            "several default funding sources; name one",
                        ),
                    }
                };
                let pick = if let Some(d) = default_of(&own)? {
                    d
                } else if let Some(d) = default_of(&prog)? {
                    d
                } else {
                    match (own.len() + prog.len(), own.first().or(prog.first())) {
                        (1, Some(one)) => *one,
                        (0, _) | (_, None) => {
                            return reject(Code::NoFundingSource, field, "the holder has no usable funding source")
                        }
                        _ => {
                            return reject(
                                Code::FundingSourceAmbiguous,
                                field,
                                "several funding sources and none is the default; name one",
                            )
                        }
                    }
                };
                return self.funding_from(key, pick, program, address);
            }
        };
        self.funding_from(key, chosen, program, address)
    }

    fn funding_from(
        &self,
        key: &str,
        fs: &FundingSourceState,
        program: &str,
        address: Option<&str>,
    ) -> Result<Funding, Rejection> {
        if let Some(a) = address {
            match self.addresses.get(a) {
                Some((owner, _)) if owner == &fs.cmd.token => {}
                Some(_) => {
                    return reject(
                        Code::FundingSourceNotOwned,
                        format!("{key}.funding_source_address_token"),
                        format!("address {a:?} belongs to another funding source"),
                    )
                }
                None => {
                    return reject(
                        Code::UnknownReference,
                        format!("{key}.funding_source_address_token"),
                        format!("no funding source address {a:?}"),
                    )
                }
            }
        }
        if fs.cmd.kind == FundingKind::PaymentCard && !fs.has_address {
            return reject(
                Code::FundingSourceAddressRequired,
                format!("{key}.funding_source_token"),
                format!("payment-card funding source {:?} needs an address first", fs.cmd.token),
            );
        }
        Ok(Funding { source_token: fs.cmd.token.clone(), kind: fs.cmd.kind, program_token: program.to_string() })
    }

    /// Folds a recorded event into the state. Infallible and deterministic.
    pub fn apply(&mut self, rec: &Recorded) {
        let (seq, time) = (rec.seq, rec.time);
        let event = &rec.fact.event;
        if let (Some(kind), Some(token)) = (event_token_kind(event), event_token(event)) {
            self.tokens.entry(kind).or_default().insert(token.to_string(), (seq, rec.fact.fingerprint));
        }
        let lines = postings(event);
        debug_assert!(
            lines.iter().map(|p| p.amount).sum::<Money>().is_zero(),
            "postings of seq {seq} do not sum to zero"
        );
        for p in lines {
            let b = self.accounts.entry(p.account.clone()).or_default();
            *b = b.plus(p.amount);
            let imp = self.last_impact.entry(p.account).or_default();
            *imp = p.amount;
        }
        match event {
            Event::ProgramCreated(c) => {
                self.programs.insert(c.token.clone(), ProgramState { cmd: c.clone(), created: time, jit: false });
            }
            Event::UserCreated(c) => {
                self.holders.insert(Holder::User(c.token.clone()), (c.program_token.clone(), time));
            }
            Event::BusinessCreated(c) => {
                self.holders.insert(Holder::Business(c.token.clone()), (c.program_token.clone(), time));
            }
            Event::FundingSourceCreated { cmd, program_token } => {
                if cmd.kind == FundingKind::ProgramGateway && cmd.active {
                    if let Some(p) = self.programs.get_mut(program_token) {
                        p.jit = true;
                    }
                }
                let list = match &cmd.holder {
                    Some(h) => self.holder_sources.entry(h.clone()).or_default(),
                    None => self.program_sources.entry(program_token.clone()).or_default(),
                };
                if let Err(at) = list.binary_search(&cmd.token) {
                    list.insert(at, cmd.token.clone());
                }
                self.funding_sources.insert(
                    cmd.token.clone(),
                    FundingSourceState {
                        cmd: cmd.clone(),
                        program_token: program_token.clone(),
                        created: time,
                        has_address: false,
                    },
                );
            }
            Event::FundingSourceAddressCreated(c) => {
                if let Some(fs) = self.funding_sources.get_mut(&c.funding_source_token) {
                    fs.has_address = true;
                }
                self.addresses.insert(c.token.clone(), (c.funding_source_token.clone(), time));
            }
            Event::FeeCreated(c) => {
                self.fees.insert(c.token.clone(), (c.clone(), time));
            }
            Event::CampaignCreated(c) | Event::MerchantCreated(c) => {
                self.campaigns.insert(c.token.clone(), (c.clone(), time));
            }
            Event::OfferCreated(c) => {
                self.offers.insert(c.token.clone(), (c.clone(), time));
            }
            Event::CreditAccountOpened(c) => {
                self.credit_accounts.insert(c.token.clone(), (c.clone(), time));
                self.cycles.insert(c.token.clone(), CycleAccount::open(c, c.opened_time.unwrap_or(time)));
            }
            Event::GpaOrdered(e) => {
                self.gpa_orders.insert(
                    e.cmd.token.clone(),
                    OrderState {
                        seq,
                        holder: e.cmd.holder.clone(),
                        campaign_token: None,
                        amount: e.cmd.amount,
                        unloaded: Money::ZERO,
                        funding: e.funding.clone(),
                        active: true,
                        start_date: None,
                        end_date: None,
                        last_modified: time,
                        created: time,
                        reward_amount: Money::ZERO,
                        reward_trigger_amount: Money::ZERO,
                    },
                );
            }
            Event::GpaUnloaded(e) => {
                if let Some(o) = self.gpa_orders.get_mut(&e.cmd.original_order_token) {
                    o.unloaded = o.unloaded.plus(e.cmd.amount);
                }
                self.gpa_unloads.push(UnloadState {
                    seq,
                    time,
                    holder: e.holder.clone(),
                    original_order_token: e.cmd.original_order_token.clone(),
                    amount: e.cmd.amount,
                });
            }
            Event::MsaOrdered(e) => {
                self.note_msa(&e.cmd.holder, &e.cmd.campaign_token);
                self.msa_orders.insert(
                    e.cmd.token.clone(),
                    OrderState {
                        seq,
                        holder: e.cmd.holder.clone(),
                        campaign_token: Some(e.cmd.campaign_token.clone()),
                        amount: e.cmd.purchase_amount,
                        unloaded: Money::ZERO,
                        funding: e.funding.clone(),
                        active: true,
                        start_date: e.cmd.start_date,
                        end_date: e.cmd.end_date,
                        last_modified: time,
                        created: time,
                        reward_amount: e.cmd.reward_amount,
                        reward_trigger_amount: e.cmd.reward_trigger_amount,
                    },
                );
            }
            Event::MsaOrderUpdated(c) => {
                if let Some(o) = self.msa_orders.get_mut(&c.token) {
                    if let Some(a) = c.active {
                        o.active = a;
                    }
                    if c.start_date.is_some() {
                        o.start_date = c.start_date;
                    }
                    if c.end_date.is_some() {
                        o.end_date = c.end_date;
                    }
                    o.last_modified = time;
                }
            }
            Event::MsaUnloaded(e) => {
                if let Some(o) = self.msa_orders.get_mut(&e.cmd.original_order_token) {
                    o.unloaded = o.unloaded.plus(e.cmd.amount);
                    o.last_modified = time;
                }
                self.msa_unloads.push(UnloadState {
                    seq,
                    time,
                    holder: e.holder.clone(),
                    original_order_token: e.cmd.original_order_token.clone(),
                    amount: e.cmd.amount,
                });
            }
            Event::OfferOrdered(e) => {
                self.note_msa(&e.cmd.holder, &e.campaign_token);
                self.offer_orders.insert(e.cmd.token.clone(), seq);
            }
            Event::FeeTransferred(_) | Event::ProgramDeposited(_) => {}
            Event::JournalEntryRecorded(e) => {
                if let JeTarget::Credit(a) = &e.cmd.target {
                    if let (Some(kind), Some(acct)) = (cycle::activity_kind(e.effect, &e.cmd), self.cycles.get_mut(a)) {
                        acct.record(seq, e.cmd.impact_time.unwrap_or(time), kind, e.cmd.amount);
                    }
                }
                self.apply_journal_entry(seq, e)
            }
            Event::Ticked(c) => self.last_tick = Some(c.now),
            Event::CyclesClosed(e) => {
                for close in &e.closes {
                    if let Some(acct) = self.cycles.get_mut(&close.account_token) {
                        acct.after_close(close);
                    }
                }
            }
        }
        self.head_seq = seq;
        self.last_time = Some(time);
    }

    fn note_msa(&mut self, h: &Holder, campaign: &str) {
        let list = self.msa_campaigns.entry(h.clone()).or_default();
        if !list.iter().any(|c| c == campaign) {
            list.push(campaign.to_string());
            list.sort();
        }
    }

    fn apply_journal_entry(&mut self, seq: u64, e: &JournalEntryRecorded) {
        let target = e.cmd.target.clone();
        let adjust = |map: &mut HashMap<JeTarget, Money>, delta: Money| {
            let v = map.entry(target.clone()).or_default();
            *v = v.plus(delta);
        };
        match e.effect {
            JeEffect::Hold => {
                adjust(&mut self.holds, e.hold_amount);
                self.journal_entries.insert(
                    e.cmd.token.clone(),
                    JeState {
                        seq,
                        target: target.clone(),
                        open: e.hold_amount,
                        jit_open: e.jit_load,
                        effect: e.effect,
                    },
                );
            }
            JeEffect::Clearing | JeEffect::Reversal => {
                if let Some(rt) = &e.cmd.related_token {
                    if let Some(je) = self.journal_entries.get_mut(rt) {
                        je.open = je.open.minus(e.hold_amount);
                        je.jit_open =
                            if e.effect == JeEffect::Clearing { Money::ZERO } else { je.jit_open.minus(e.jit_unload) };
                    }
                }
                adjust(&mut self.holds, -e.hold_amount);
            }
            JeEffect::PendingRefund => {
                adjust(&mut self.pending, e.pending_credit);
                self.journal_entries.insert(
                    e.cmd.token.clone(),
                    JeState {
                        seq,
                        target: target.clone(),
                        open: e.pending_credit,
                        jit_open: Money::ZERO,
                        effect: e.effect,
                    },
                );
            }
            JeEffect::Refund => {
                if !e.pending_credit.is_zero() {
                    if let Some(rt) = &e.cmd.related_token {
                        if let Some(je) = self.journal_entries.get_mut(rt) {
                            je.open = je.open.minus(e.pending_credit);
                        }
                    }
                    adjust(&mut self.pending, -e.pending_credit);
                }
            }
            JeEffect::NoBalance
            | JeEffect::PinPurchase
            | JeEffect::AtmWithdrawal
            | JeEffect::Payment
            | JeEffect::Interest
            | JeEffect::Fee
            | JeEffect::AdjustmentCredit
            | JeEffect::AdjustmentDebit
            | JeEffect::Reward => {}
        }
    }
}

/// The order an unload refers to and what remains of it after the unload's
/// checks: it exists (1201) and the amount fits its remaining amount (1208).
fn unloadable<'a>(
    orders: &'a HashMap<String, OrderState>,
    label: &str,
    key: &str,
    c: &UnloadCmd,
) -> Result<(&'a OrderState, Money), Rejection> {
    let order = orders.get(&c.original_order_token).ok_or_else(|| {
        Rejection::new(
            Code::UnknownReference,
            format!("{key}.original_order_token"),
            format!("no {label} order {:?}", c.original_order_token),
        )
    })?;
    let remaining = order.amount.minus(order.unloaded);
    if c.amount > remaining {
        return reject(
            Code::UnloadExceedsOrder,
            format!("{key}.amount"),
            format!("{} exceeds the {} remaining on the order", c.amount, remaining),
        );
    }
    Ok((order, remaining))
}

/// The token an event registers in the idempotency index.
pub fn event_token(e: &Event) -> Option<&str> {
    Some(match e {
        Event::ProgramCreated(c) => &c.token,
        Event::UserCreated(c) | Event::BusinessCreated(c) => &c.token,
        Event::FundingSourceCreated { cmd, .. } => &cmd.token,
        Event::FundingSourceAddressCreated(c) => &c.token,
        Event::FeeCreated(c) => &c.token,
        Event::CampaignCreated(c) | Event::MerchantCreated(c) => &c.token,
        Event::OfferCreated(c) => &c.token,
        Event::CreditAccountOpened(c) => &c.token,
        Event::GpaOrdered(e) => &e.cmd.token,
        Event::GpaUnloaded(e) => &e.cmd.token,
        Event::MsaOrdered(e) => &e.cmd.token,
        Event::MsaOrderUpdated(c) => &c.token,
        Event::MsaUnloaded(e) => &e.cmd.token,
        Event::OfferOrdered(e) => &e.cmd.token,
        Event::FeeTransferred(e) => &e.cmd.token,
        Event::JournalEntryRecorded(e) => &e.cmd.token,
        Event::ProgramDeposited(c) => &c.token,
        Event::Ticked(_) | Event::CyclesClosed(_) => return None,
    })
}

/// Resolves how a journal entry moves money from its type, group and status
/// (product.md §3). CLEARED, DECLINED and ERROR never move a balance.
pub fn classify(c: &JournalEntryCmd) -> JeEffect {
    use JeStatus::*;
    if matches!(c.status, Cleared | Declined | Error) {
        return JeEffect::NoBalance;
    }
    let posted = c.status == Posted;
    let group = c.group.as_deref().unwrap_or("");
    let t = c.kind.as_str();
    match t {
        "authorization" if !posted => JeEffect::Hold,
        "authorization.clearing" if posted => JeEffect::Clearing,
        "authorization.reversal" => JeEffect::Reversal,
        "pindebit" if posted => JeEffect::PinPurchase,
        "pindebit.atm.withdrawal" if posted => JeEffect::AtmWithdrawal,
        "refund" if posted => JeEffect::Refund,
        "refund" => JeEffect::PendingRefund,
        "payment" if posted && matches!(c.target, JeTarget::Credit(_)) => JeEffect::Payment,
        "account.interest" if posted => JeEffect::Interest,
        _ if posted && t.starts_with("account.fee.") => JeEffect::Fee,
        _ if posted && group == "ADJUSTMENT" && (t.ends_with(".credit") || t == "adjustment.credit") => {
            JeEffect::AdjustmentCredit
        }
        _ if posted && group == "ADJUSTMENT" && (t.ends_with(".debit") || t == "adjustment.debit") => {
            JeEffect::AdjustmentDebit
        }
        _ if posted && group == "REWARD" => JeEffect::Reward,
        _ => JeEffect::NoBalance,
    }
}
