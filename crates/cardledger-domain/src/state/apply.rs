//! Folding a recorded event into the state: infallible and deterministic.

use super::idempotency::{event_token_kind, event_token_of};
use super::*;

impl Ledger {
    /// Folds a recorded event into the state. Infallible and deterministic.
    #[inline]
    pub fn apply(&mut self, rec: &Recorded) {
        self.apply_fact(rec.seq, rec.time, &rec.fact)
    }

    /// [`Ledger::apply`] of the fact recorded at `seq` and `time`, from
    /// where the fact is: the engine's commit path folds a decided fact
    /// without moving it into a [`Recorded`] first (a `memcpy` of
    /// ≈ 450 bytes) when nothing keeps the record.
    pub fn apply_fact(&mut self, seq: u64, time: Timestamp, fact: &Fact) {
        let event = &fact.event;
        if let (Some(kind), Some(token)) = (event_token_kind(event), event_token_of(event)) {
            let room = &mut self.room;
            let map = self.tokens.of_mut(kind, || room.new_token_map(kind));
            let capacity = map.capacity();
            map.insert(token.clone(), (seq, fact.fingerprint));
            if map.capacity() != capacity {
                room.note_token(kind, map.capacity());
            }
        }
        // the lines, borrowed from the event (nothing allocated), in one
        // pass: each is applied and summed in exact integer cents (an event
        // has far fewer than 2^31 lines of at most 2^96 cents: the `i128`
        // cannot overflow); lines that do not sum to zero are an impossible
        // state and stop the engine here, before the event is counted applied
        let mut cents: i128 = 0;
        for_each_posting(event, |account, amount| {
            cents += amount.cents_i128();
            // one lookup per line: balance, last change and last update
            // live in one record
            self.accounts.update(account, |r| {
                r.balance = r.balance.plus(amount);
                r.last_impact = amount;
                r.last_updated = Some(time);
                r.posted = true;
            });
        });
        assert!(cents == 0, "postings of seq {seq} do not sum to zero");
        match event {
            Event::JournalEntryRecorded(e) => {
                if let JeTarget::Credit(a) = &e.cmd.target {
                    if let (Some(kind), Some(acct)) = (cycle::activity_kind(e.effect, &e.cmd), self.cycles.get_mut(a)) {
                        acct.record(seq, e.cmd.impact_time.unwrap_or(time), kind, e.cmd.amount);
                    }
                }
                // the entry's fold stamps the target's last update when its
                // hold or pending credit changed (in the same record lookup)
                self.apply_journal_entry(seq, time, e);
            }
            Event::GpaOrdered(e) => {
                insert_hot(
                    &mut self.gpa_orders,
                    &mut self.room.gpa_orders,
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
            other => self.apply_other(seq, time, other),
        }
        self.head_seq = seq;
        self.last_time = Some(time);
    }

    /// The fold of every event but a journal entry's and a GPA order's
    /// (the demo mix's common two, folded in [`Ledger::apply_fact`]): out
    /// of line, so that the common events' fold stays small in the
    /// instruction cache.
    #[inline(never)]
    fn apply_other(&mut self, seq: u64, time: Timestamp, event: &Event) {
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
            Event::GpaUnloaded(e) => {
                if let Some(o) = self.order_mut(cold::Book::Gpa, &e.cmd.original_order_token) {
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
                insert_hot(
                    &mut self.msa_orders,
                    &mut self.room.msa_orders,
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
                if let Some(o) = self.order_mut(cold::Book::Msa, &c.token) {
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
                if let Some(o) = self.order_mut(cold::Book::Msa, &e.cmd.original_order_token) {
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
                insert_hot(&mut self.offer_orders, &mut self.room.offer_orders, e.cmd.token.clone(), seq);
            }
            Event::FeeTransferred(_) | Event::ProgramDeposited(_) => {}
            // folded in `apply_fact`, which never passes them here: one
            // would be an event left unfolded, so it stops the engine
            Event::JournalEntryRecorded(_) | Event::GpaOrdered(_) => {
                unreachable!("seq {seq}: a journal entry or GPA order is folded in apply_fact")
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
    }

    pub(super) fn note_msa(&mut self, h: &Holder, campaign: &str) {
        let list = self.msa_campaigns.entry(h.clone()).or_default();
        if !list.iter().any(|c| c == campaign) {
            list.push(Token::from(campaign));
            list.sort();
        }
    }
}

/// An empty hot map with room for `room` entries (none: no allocation).
pub(super) fn with_room<K, V>(room: usize) -> HashMap<K, V> {
    HashMap::with_capacity_and_hasher(room, ahash::RandomState::default())
}

/// `map.insert(key, value)` on a hot map a cold flush empties ([`HotRoom`]):
/// an empty map without room first gets the room last noted in `room`,
/// and a growth is noted there.
#[inline]
fn insert_hot<V>(map: &mut HashMap<Token, V>, room: &mut usize, key: Token, value: V) {
    if map.capacity() == 0 {
        map.reserve(*room);
    }
    map.insert(key, value);
    *room = (*room).max(map.capacity());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Recorded;

    /// Decides and applies `lines` (the demo workload's), as the engine does.
    fn run(l: &mut Ledger, lines: &[String], mut check: impl FnMut(&Ledger)) {
        for text in lines {
            let Ok(parsed) = crate::wire::parse_line(text) else { continue };
            let (time, facts) = l.next_facts(&parsed);
            for fact in facts {
                l.apply(&Recorded { seq: l.head_seq + 1, time, fact });
                check(l);
            }
        }
    }

    /// The capacity of every hot map, by name.
    fn capacities(l: &Ledger) -> Vec<(String, usize)> {
        let mut caps: Vec<(String, usize)> = l.tokens.iter().map(|(k, m)| (k.to_string(), m.capacity())).collect();
        caps.push(("gpa_orders".into(), l.gpa_orders.capacity()));
        caps.push(("msa_orders".into(), l.msa_orders.capacity()));
        caps.push(("offer_orders".into(), l.offer_orders.capacity()));
        caps
    }

    #[test]
    fn hot_maps_emptied_by_a_flush_start_with_the_room_they_grew_to() {
        let lines: Vec<String> =
            cardledger_workload::generate(&cardledger_workload::WorkloadConfig::default()).take(6_000).collect();
        let (first, second) = lines.split_at(3_000);
        let mut l = Ledger::default();
        run(&mut l, first, |_| {});
        let grown = capacities(&l);
        assert!(grown.iter().filter(|(_, c)| *c >= 28).count() >= 4, "{grown:?}");
        // what `take_cold` does to these maps
        drop((
            std::mem::take(&mut l.tokens),
            std::mem::take(&mut l.gpa_orders),
            std::mem::take(&mut l.msa_orders),
            std::mem::take(&mut l.offer_orders),
        ));
        run(&mut l, second, |l| {
            for (name, cap) in capacities(l) {
                let before = grown.iter().find(|(n, _)| *n == name).map_or(0, |(_, c)| *c);
                let filled = match name.as_str() {
                    "gpa_orders" => !l.gpa_orders.is_empty(),
                    "msa_orders" => !l.msa_orders.is_empty(),
                    "offer_orders" => !l.offer_orders.is_empty(),
                    kind => l.tokens.get(kind).is_some_and(|m| !m.is_empty()),
                };
                assert!(!filled || cap >= before, "{name}: capacity {cap} after the flush, {before} before");
            }
        });
    }
}
