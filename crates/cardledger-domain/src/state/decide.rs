//! Deciding a command: the checks of each command and the event it
//! records; ticks and the statement-cycle closes they decide.

use super::idempotency::{same_payload, token_kind, with_scratch, TokenKind};
use super::*;

impl Ledger {
    /// Decides a command at business time `time`. Pure. A `tick` that
    /// passes the closing instant of statement cycles decides their closes
    /// (`Decision::AcceptAll`); its `now`, not `time`, is what cycles compare.
    pub fn decide(&self, line: &CommandLine, _time: Timestamp) -> Decision {
        if let Some(d) = self.idempotency(line) {
            return d;
        }
        if let Command::Tick(c) = &line.command {
            return self.decide_tick(c, line);
        }
        // the command is cloned into its event only once it passed the token checks
        let event = self.decide_event(line.command.clone());
        with_scratch(|payload| accept(event, line.corrected_post_date, line.command.key(), payload))
    }

    /// [`Ledger::decide`] taking the line by value: the command is moved
    /// into its event instead of cloned (the engine's commit path), and an
    /// accepted fact comes with its payload — the bytes `encode_fact` writes
    /// for it, encoded once while fingerprinting (`crate::encode_new_fact`).
    /// The same decision as `decide(&line, time)`; the payload is `Some` only
    /// with a `Decision::Accept` (a tick's facts are encoded by the caller).
    pub fn decide_owned(&self, mut line: CommandLine, time: Timestamp) -> (Decision, Option<Vec<u8>>) {
        let mut payload = Vec::new();
        let decision = self.decide_owned_into(&mut line, time, &mut payload);
        let encoded = matches!(decision, Decision::Accept(_)) && !payload.is_empty();
        (decision, encoded.then_some(payload))
    }

    /// [`Ledger::decide_owned`] moving the command out of `line` (a `tick`
    /// at 0 is left in its place once the token checks passed — for a
    /// journal entry, once it is accepted: the line must not be decided
    /// again) and writing the payload of an accepted
    /// fact into `payload` (left empty otherwise, and with a tick's facts):
    /// the decision is returned as it is built, not moved into a pair (each
    /// move of an event, ≈ 420 bytes, is a `memcpy`). The engine's commit
    /// path. A journal entry (two thirds of the demo mix) is decided and
    /// encoded from the command where it is, in the line, and its command
    /// moves out of the line once it is accepted, into the decision.
    pub fn decide_owned_into(&self, line: &mut CommandLine, _time: Timestamp, payload: &mut Vec<u8>) -> Decision {
        if let Some(d) = self.idempotency(line) {
            return d;
        }
        if let Command::Tick(c) = &line.command {
            return self.decide_tick(c, line);
        }
        let key = line.command.key();
        if payload.capacity() < crate::ENCODED_FACT_CAPACITY_BYTES {
            // a fresh allocation (`reserve` on an empty `Vec` takes the
            // general growth path, ≈ 80 instructions more)
            *payload = Vec::with_capacity(crate::ENCODED_FACT_CAPACITY_BYTES);
        }
        let cpd = line.corrected_post_date;
        // (the placeholder is written where it is used: a `Command` built
        // aside first is copied whole into the line, a `memcpy` of its
        // ≈ 330 bytes)
        // a journal entry is checked and encoded where it is, in the line,
        // and its command moved once, straight into the decision
        let Command::JournalEntry(cmd) = &line.command else {
            let command = std::mem::replace(&mut line.command, Command::Tick(TickCmd { now: Timestamp(0) }));
            return accept(self.decide_event(command), cpd, key, payload);
        };
        let decided = match self.journal_entry_decided(cmd) {
            Ok(decided) => decided,
            Err(r) => return Decision::Reject(r),
        };
        let fingerprint = match crate::encode_new_journal_entry(cpd, cmd, &decided, payload) {
            Ok(fingerprint) => fingerprint,
            Err(e) => return Decision::Reject(Rejection::new(Code::EventTooLarge, key, e)),
        };
        match std::mem::replace(&mut line.command, Command::Tick(TickCmd { now: Timestamp(0) })) {
            Command::JournalEntry(cmd) => Decision::Accept(Fact {
                fingerprint,
                fingerprint_kind: FingerprintKind::Sip13Payload,
                corrected_post_date: cpd,
                event: Event::JournalEntryRecorded(decided.recorded(cmd)),
            }),
            // the line was matched as a journal entry just above
            other => unreachable!("a journal entry's line holds a {} command", other.key()),
        }
    }

    /// The decision the command's token already implies, if it is recorded:
    /// a duplicate of the recorded command, or a conflict with it. The
    /// command's fingerprint is computed only then (an accepted command's is
    /// computed from its payload).
    fn idempotency(&self, line: &CommandLine) -> Option<Decision> {
        let (Some(kind), Some(token)) = (token_kind(&line.command), line.command.token()) else { return None };
        let (seq, recorded) = self.recorded_token_of(kind, token)?;
        Some(recorded_token_decision(line, kind, token, seq, recorded))
    }

    /// A tick: rejected unless later than the previous one; otherwise every
    /// cycle whose closing instant is at or before `now` closes, in account
    /// token order, each account's cycles oldest first.
    pub(super) fn decide_tick(&self, c: &TickCmd, line: &CommandLine) -> Decision {
        let fp = match fingerprint(line) {
            Ok(fp) => fp,
            Err(e) => return Decision::Reject(Rejection::new(Code::EventTooLarge, line.command.key(), e)),
        };
        let cpd = line.corrected_post_date;
        if let Some(last) = self.last_tick {
            if c.now <= last {
                return Decision::Reject(Rejection::new(
                    Code::TickNotAfterPrevious,
                    "tick.now",
                    format!("{} is not after the previous tick {}", c.now, last),
                ));
            }
        }
        // the closes carry their tick's fingerprint (they hold no command)
        let fact = |event| Fact {
            fingerprint: fp,
            fingerprint_kind: FingerprintKind::Sip13Payload,
            corrected_post_date: cpd,
            event,
        };
        let mut facts: Vec<Fact> = self.cycle_closes(c.now).into_iter().map(|e| fact(Event::CyclesClosed(e))).collect();
        if facts.is_empty() {
            return Decision::Accept(fact(Event::Ticked(c.clone())));
        }
        facts.push(fact(Event::Ticked(c.clone())));
        Decision::AcceptAll(facts)
    }

    /// Every cycle close a tick at `now` records, in account-token order,
    /// each account's cycles oldest first, as events of at most
    /// `CYCLE_CLOSES_PER_EVENT_MAX` closes (built in place: a close is large),
    /// at most `TICK_CLOSE_EVENTS_MAX` events: the accounts after them stay
    /// due and close at the next tick.
    pub fn cycle_closes(&self, now: Timestamp) -> Vec<CyclesClosed> {
        let mut due: Vec<(&Token, &CycleAccount)> = self.cycles.iter().filter(|(_, a)| a.closes_at <= now).collect();
        due.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let per = limits::CYCLE_CLOSES_PER_EVENT_MAX;
        let mut out: Vec<CyclesClosed> = Vec::with_capacity(due.len() / per + 1);
        let mut chunk = CyclesClosed { now, program_tokens: Vec::with_capacity(per), closes: Vec::with_capacity(per) };
        let full = |out: &Vec<CyclesClosed>| out.len() >= limits::TICK_CLOSE_EVENTS_MAX;
        for (token, acct) in due {
            // an account's cycles close together: stop only between accounts
            if full(&out) {
                break;
            }
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

    pub(super) fn decide_event(&self, command: Command) -> Result<Event, Rejection> {
        let key = command.key();
        let is_user = matches!(command, Command::User(_));
        // field names are rendered only if the command is rejected
        let f = |field: &'static str| Field::Of(key, field);
        Ok(match command {
            Command::Program(c) => Event::ProgramCreated(c),
            Command::User(c) | Command::Business(c) => {
                self.program(&c.program_token, f("program_token"))?;
                let h = if is_user { Holder::User(c.token.clone()) } else { Holder::Business(c.token.clone()) };
                if self.holders.contains_key(&h) {
                    return reject(Code::TokenConflict, f("token"), format!("{} {:?} already exists", key, c.token));
                }
                if is_user {
                    Event::UserCreated(c)
                } else {
                    Event::BusinessCreated(c)
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
                        program.clone()
                    }
                    None => {
                        let p = c.program_token.clone().unwrap_or_default();
                        self.program(&p, f("program_token"))?;
                        p
                    }
                };
                Event::FundingSourceCreated { cmd: c, program_token }
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
                Event::FundingSourceAddressCreated(c)
            }
            Command::Fee(c) => Event::FeeCreated(c),
            Command::Campaign(c) => Event::CampaignCreated(c),
            Command::Merchant(c) => Event::MerchantCreated(c),
            Command::Offer(c) => {
                self.campaign(&c.campaign_token, f("campaign_token"))?;
                Event::OfferCreated(c)
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
                if *program != c.program_token {
                    return reject(
                        Code::ProgramMismatch,
                        f("program_token"),
                        format!("the user belongs to program {program:?}"),
                    );
                }
                Event::CreditAccountOpened(c)
            }
            Command::GpaOrder(c) => {
                let field = f(c.holder.field());
                let program = self.holder_program(&c.holder, field)?;
                let funding = self.resolve_funding(key, &c, program)?;
                let fees = self.charge_fees(key, &c.fees)?;
                self.check_range(AccountRef::Gpa(&c.holder), c.amount, f("amount"))?;
                Event::GpaOrdered(GpaOrdered { cmd: c, funding, fees })
            }
            Command::GpaUnload(c) => {
                let (order, _) = unloadable(self.order(cold::Book::Gpa, &c.original_order_token), "GPA", key, &c)?;
                let available = self.gpa_balances(&order.holder).available_balance;
                if c.amount > available {
                    return reject(
                        Code::InsufficientFunds,
                        f("amount"),
                        format!("{} exceeds the GPA's available balance {}", c.amount, available),
                    );
                }
                Event::GpaUnloaded(GpaUnloaded { cmd: c, holder: order.holder.clone(), funding: order.funding.clone() })
            }
            Command::MsaOrder(c) => {
                let program = self.holder_program(&c.holder, f(c.holder.field()))?;
                self.campaign(&c.campaign_token, f("campaign_token"))?;
                let funding = self.resolve_funding(key, &c, program)?;
                let acct = AccountRef::Msa(&c.holder, &c.campaign_token);
                self.check_range(acct, c.purchase_amount, f("purchase_amount"))?;
                let before = self.msa_balances(&c.holder, &c.campaign_token);
                let aggregated_after =
                    MsaBalance { ledger: before.ledger_balance.plus(c.purchase_amount), credit: before.credit_balance };
                Event::MsaOrdered(MsaOrdered { cmd: c, funding, aggregated_after })
            }
            Command::MsaOrderUpdate(c) => {
                if self.order(cold::Book::Msa, &c.token).is_none() {
                    return reject(Code::UnknownReference, f("token"), format!("no MSA order {:?}", c.token));
                }
                Event::MsaOrderUpdated(c)
            }
            Command::MsaUnload(c) => {
                let (order, remaining) =
                    unloadable(self.order(cold::Book::Msa, &c.original_order_token), "MSA", key, &c)?;
                if !order.active {
                    return reject(
                        Code::OrderInactive,
                        f("original_order_token"),
                        format!(
                            "MSA order {:?} is inactive; an inactive order refuses unloads",
                            c.original_order_token
                        ),
                    );
                }
                let campaign = order.campaign_token.clone().unwrap_or_default();
                let before = self.msa_balances(&order.holder, &campaign);
                if c.amount > before.ledger_balance {
                    return reject(
                        Code::InsufficientFunds,
                        f("amount"),
                        format!("{} exceeds the MSA's ledger balance {}", c.amount, before.ledger_balance),
                    );
                }
                let order_after = MsaBalance { ledger: remaining.minus(c.amount), credit: Money::ZERO };
                let aggregated_after =
                    MsaBalance { ledger: before.ledger_balance.minus(c.amount), credit: before.credit_balance };
                Event::MsaUnloaded(MsaUnloaded {
                    cmd: c,
                    holder: order.holder.clone(),
                    campaign_token: campaign,
                    funding: order.funding.clone(),
                    order_after,
                    aggregated_after,
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
                let funding = self.resolve_funding(key, &c, program)?;
                let before = self.msa_balances(&c.holder, &offer.campaign_token);
                Event::OfferOrdered(OfferOrdered {
                    cmd: c,
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
                let program = self.holder_program(&c.holder, f(c.holder.field()))?.clone();
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
                Event::FeeTransferred(FeeTransferred { cmd: c, program_token: program, fees })
            }
            // built in place: no move of the event after it
            Command::JournalEntry(c) => return self.decide_journal_entry(c),
            Command::ProgramDeposit(c) => {
                self.program(&c.program_token, f("program_token"))?;
                self.check_range(AccountRef::ProgramBank(&c.program_token), c.amount, f("amount"))?;
                Event::ProgramDeposited(c)
            }
            Command::Tick(c) => Event::Ticked(c),
        })
    }

    /// Spendable now: GPA ledger − holds, or credit limit + balance − holds.
    pub fn available(&self, target: &JeTarget) -> Money {
        // one lookup: balance and holds are in the account's record
        let (balance, holds) =
            self.account(target_account(target)).map_or((Money::ZERO, Money::ZERO), |r| (r.balance, r.holds));
        match target {
            JeTarget::Gpa(_) => balance.minus(holds),
            JeTarget::Credit(a) => {
                let limit = self.credit_accounts.get(a).map(|(c, _)| c.credit_limit).unwrap_or(Money::ZERO);
                limit.plus(balance).minus(holds)
            }
        }
    }

    pub(super) fn program(&self, token: &str, field: Field) -> Result<&ProgramState, Rejection> {
        self.programs
            .get(token)
            .ok_or_else(|| Rejection::new(Code::UnknownReference, field, format!("no program {token:?}")))
    }

    pub(super) fn holder_program(&self, h: &Holder, field: Field) -> Result<&Token, Rejection> {
        self.holders.get(h).map(|(p, _)| p).ok_or_else(|| {
            let kind = match h {
                Holder::User(_) => "user",
                Holder::Business(_) => "business",
            };
            Rejection::new(Code::UnknownReference, field, format!("no {kind} {:?}", h.token()))
        })
    }

    pub(super) fn campaign(&self, token: &str, field: Field) -> Result<(), Rejection> {
        match self.campaigns.get(token) {
            None => reject(Code::UnknownReference, field, format!("no campaign {token:?}")),
            Some((c, _)) if !c.active => reject(Code::Inactive, field, format!("campaign {token:?} is inactive")),
            Some(_) => Ok(()),
        }
    }

    pub(super) fn check_range(&self, acct: AccountRef<'_>, amount: Money, field: Field) -> Result<(), Rejection> {
        let limit = Money::from_cents(i64::MAX / 4);
        if self.balance_of(acct).plus(amount) > limit {
            return reject(Code::BalanceOverflow, field, "the balance would leave the engine's exact range");
        }
        Ok(())
    }

    pub(super) fn charge_fees(&self, key: &'static str, fees: &[FeeRef]) -> Result<Vec<ChargedFee>, Rejection> {
        // a plain loop: collecting an iterator of `Result`s cost ≈ 200
        // instructions an order, most of which charge no fee
        let mut charged = Vec::with_capacity(fees.len());
        for (i, r) in fees.iter().enumerate() {
            let field = Field::FeeToken(key, i);
            match self.fees.get(&r.token) {
                None => return reject(Code::UnknownReference, field, format!("no fee {:?}", r.token)),
                Some((fee, _)) if !fee.active => {
                    return reject(Code::Inactive, field, format!("fee {:?} is inactive", r.token))
                }
                Some((fee, _)) => charged.push(ChargedFee { token: r.token.clone(), amount: fee.amount }),
            }
        }
        Ok(charged)
    }
}

/// An event decided from a command, as the decision that records it: its
/// payload encoded into `payload` (`crate::encode_new_fact`), which gives
/// the fingerprint; an event that does not encode, or encodes over
/// `EVENT_BYTES_MAX`, is rejected (1215) and never written.
fn accept(
    event: Result<Event, Rejection>,
    corrected_post_date: Option<crate::time::Date>,
    key: &'static str,
    payload: &mut Vec<u8>,
) -> Decision {
    let event = match event {
        Ok(event) => event,
        Err(r) => return Decision::Reject(r),
    };
    match crate::encode_new_fact(corrected_post_date, &event, payload) {
        Ok(fingerprint) => Decision::Accept(Fact {
            fingerprint,
            fingerprint_kind: FingerprintKind::Sip13Payload,
            corrected_post_date,
            event,
        }),
        Err(e) => Decision::Reject(Rejection::new(Code::EventTooLarge, key, e)),
    }
}

/// The order an unload refers to and what remains of it after the unload's
/// checks: it exists (1201) and the amount fits its remaining amount (1208).
pub(super) fn unloadable<'a>(
    order: Option<std::borrow::Cow<'a, OrderState>>,
    label: &str,
    key: &'static str,
    c: &UnloadCmd,
) -> Result<(std::borrow::Cow<'a, OrderState>, Money), Rejection> {
    let order = order.ok_or_else(|| {
        Rejection::new(
            Code::UnknownReference,
            Field::Of(key, "original_order_token"),
            format!("no {label} order {:?}", c.original_order_token),
        )
    })?;
    let remaining = order.amount.minus(order.unloaded);
    if c.amount > remaining {
        return reject(
            Code::UnloadExceedsOrder,
            Field::Of(key, "amount"),
            format!("{} exceeds the {} remaining on the order", c.amount, remaining),
        );
    }
    Ok((order, remaining))
}

/// The decision a recorded token implies ([`Ledger::idempotency`]): a
/// duplicate of the recorded command (same payload fingerprint), or a
/// conflict with it. Out of line and cold (a retried command is rare): the
/// commit path's probe of a new token stays small.
#[cold]
#[inline(never)]
fn recorded_token_decision(line: &CommandLine, kind: TokenKind, token: &str, seq: u64, recorded: u64) -> Decision {
    let fp = match fingerprint(line) {
        Ok(fp) => fp,
        Err(e) => return Decision::Reject(Rejection::new(Code::EventTooLarge, line.command.key(), e)),
    };
    if same_payload(recorded, fp, line) {
        return Decision::Duplicate(seq);
    }
    Decision::Reject(Rejection::new(
        Code::TokenConflict,
        format!("{}.token", line.command.key()),
        format!("token {token:?} was already used for a different {}", kind.name()),
    ))
}
