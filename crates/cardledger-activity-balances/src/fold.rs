//! The fold: events → per-program daily activity, network detail and actors.

use std::borrow::Cow;
use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use cardledger_calendar::{DayMap, ReportingClock};
use cardledger_domain::command::{Holder, JeTarget};
use cardledger_domain::event::{ChargedFee, Event, JeEffect, Recorded};
use cardledger_domain::money::Money;
use cardledger_domain::projection::Projection;
use cardledger_domain::state::HashMap;
use cardledger_domain::time::{Date, Timestamp};

/// Checkpoint format version: the first byte of [`ActivityBalances::encode`].
const FORMAT_VERSION: u8 = 1;

/// The activity-balances projection.
#[derive(Clone, Debug, Default, Encode, Decode)]
pub struct ActivityBalances {
    pub(crate) programs: BTreeMap<String, ProgramActivity>,
    pub(crate) last_time: Option<Timestamp>,
}

/// One program's activity.
#[derive(Clone, Debug, Encode, Decode)]
pub(crate) struct ProgramActivity {
    pub(crate) clock: ReportingClock,
    pub(crate) created_day: Date,
    pub(crate) created_time: Timestamp,
    pub(crate) days: DayMap<DayActivity>,
    /// Card activity per network (upper-case name; `UNKNOWN` when absent) and day.
    pub(crate) networks: Keyed<DayMap<NetworkDay>>,
    /// Loads and purchases per acting user and day.
    pub(crate) actors: Keyed<DayMap<ActorDay>>,
}

/// One program's cardholder flows on one day, in cents (all non-negative
/// except the nets; credits raise balances, debits lower them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct DayActivity {
    /// Credit: GPA orders (amount plus fees credited) and just-in-time funding.
    pub gpa_loads: i64,
    /// Credit: MSA orders.
    pub msa_loads: i64,
    /// Credit: offer orders (purchase amount into the MSA ledger balance).
    pub offer_loads: i64,
    /// Credit: posted refunds.
    pub refunds: i64,
    /// Credit: ADJUSTMENT credits.
    pub credit_adjustments: i64,
    /// Credit: REWARD entries.
    pub rewards: i64,
    /// Debit: GPA and MSA unloads, and JIT funds returned to the bank.
    pub unloads: i64,
    /// Debit: PIN purchases (`pindebit`, and clearings with `pin_present`).
    pub pin_purchases: i64,
    /// Debit: signature purchases (clearings without `pin_present`).
    pub signature_purchases: i64,
    /// Debit: ATM withdrawals.
    pub atm_withdrawals: i64,
    /// Debit: fees (order fees, fee transfers, `account.fee.*`, interest).
    pub fees: i64,
    /// Debit: ADJUSTMENT debits.
    pub debit_adjustments: i64,
    /// PIN purchases minus refunds marked `pin_present`.
    pub pin_purchases_net: i64,
    /// Signature purchases minus the other refunds.
    pub sig_purchases_net: i64,
    /// Business time of the last event that changed the day.
    pub last_modified: Timestamp,
}

/// One day's card activity on one network, in cents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct NetworkDay {
    /// PIN purchases.
    pub pin_purchases: i64,
    /// Signature purchases.
    pub signature_purchases: i64,
    /// ATM withdrawals.
    pub atm_withdrawals: i64,
    /// Refunds.
    pub refunds: i64,
    /// PIN purchases minus PIN refunds.
    pub pin_purchases_net: i64,
    /// Signature purchases minus the other refunds.
    pub sig_purchases_net: i64,
    /// Balance-moving card transactions counted.
    pub transaction_count: i64,
}

/// One acting user's activity on one day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct ActorDay {
    /// GPA, MSA and offer orders for the user.
    pub load_count: i64,
    /// Their amount, in cents.
    pub load_amount: i64,
    /// PIN transactions (PIN purchases and ATM withdrawals).
    pub pin_count: i64,
    /// Their amount, in cents.
    pub pin_amount: i64,
    /// Signature transactions (clearings without PIN).
    pub signature_count: i64,
    /// Their amount, in cents.
    pub signature_amount: i64,
}

impl NetworkDay {
    fn add(&mut self, o: &NetworkDay) {
        self.pin_purchases = self.pin_purchases.saturating_add(o.pin_purchases);
        self.signature_purchases = self.signature_purchases.saturating_add(o.signature_purchases);
        self.atm_withdrawals = self.atm_withdrawals.saturating_add(o.atm_withdrawals);
        self.refunds = self.refunds.saturating_add(o.refunds);
        self.pin_purchases_net = self.pin_purchases_net.saturating_add(o.pin_purchases_net);
        self.sig_purchases_net = self.sig_purchases_net.saturating_add(o.sig_purchases_net);
        self.transaction_count = self.transaction_count.saturating_add(o.transaction_count);
    }
}

impl ActorDay {
    pub(crate) fn add(&mut self, o: &ActorDay) {
        self.load_count = self.load_count.saturating_add(o.load_count);
        self.load_amount = self.load_amount.saturating_add(o.load_amount);
        self.pin_count = self.pin_count.saturating_add(o.pin_count);
        self.pin_amount = self.pin_amount.saturating_add(o.pin_amount);
        self.signature_count = self.signature_count.saturating_add(o.signature_count);
        self.signature_amount = self.signature_amount.saturating_add(o.signature_amount);
    }
}

impl DayActivity {
    /// Credits minus debits: the day's change of the holders' balances.
    pub fn net(&self) -> i64 {
        let credits =
            [self.gpa_loads, self.msa_loads, self.offer_loads, self.refunds, self.credit_adjustments, self.rewards];
        let debits = [
            self.unloads,
            self.pin_purchases,
            self.signature_purchases,
            self.atm_withdrawals,
            self.fees,
            self.debit_adjustments,
        ];
        let c = credits.iter().fold(0i64, |a, &x| a.saturating_add(x));
        debits.iter().fold(c, |a, &x| a.saturating_sub(x))
    }
}

/// Values keyed by a string, in first-seen order, with a hash index so a
/// known key costs one hash lookup and no allocation. Encodes as the
/// ordered `(key, value)` list only; the index is rebuilt on decode. The
/// order is the log's, so it is the same after a checkpoint as after a replay.
#[derive(Clone, Debug, Default)]
pub(crate) struct Keyed<V> {
    index: HashMap<String, usize>,
    pub(crate) items: Vec<(String, V)>,
}

impl<V: Default> Keyed<V> {
    /// Applies `f` to the value of `key`, inserting a default one first.
    #[inline]
    fn with(&mut self, key: &str, f: impl FnOnce(&mut V)) {
        // a few keys (networks) are scanned: lengths tell most apart without hashing
        if self.items.len() <= cardledger_calendar::SCAN_MAX {
            if let Some((_, v)) = self.items.iter_mut().find(|(k, _)| k == key) {
                f(v);
                return;
            }
        }
        let slot = match self.index.get(key) {
            Some(&i) => self.items.get_mut(i),
            None => {
                self.index.insert(key.to_string(), self.items.len());
                self.items.push((key.to_string(), V::default()));
                self.items.last_mut()
            }
        };
        if let Some((_, v)) = slot {
            f(v);
        }
    }
}

impl<V: Encode> Encode for Keyed<V> {
    fn encode<E: bincode::enc::Encoder>(&self, e: &mut E) -> Result<(), bincode::error::EncodeError> {
        self.items.encode(e)
    }
}

impl<C, V: Decode<C>> Decode<C> for Keyed<V> {
    fn decode<D: bincode::de::Decoder<Context = C>>(d: &mut D) -> Result<Self, bincode::error::DecodeError> {
        let items: Vec<(String, V)> = Vec::decode(d)?;
        let index = items.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
        Ok(Keyed { index, items })
    }
}

impl<'de, C, V: bincode::BorrowDecode<'de, C>> bincode::BorrowDecode<'de, C> for Keyed<V> {
    fn borrow_decode<D: bincode::de::BorrowDecoder<'de, Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let items: Vec<(String, V)> = bincode::BorrowDecode::borrow_decode(d)?;
        let index = items.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
        Ok(Keyed { index, items })
    }
}

/// What a card journal entry does to the day, the network and the actor.
enum Card {
    Pin,
    Signature,
    Atm,
    Refund { pin: bool },
}

impl ActivityBalances {
    /// Business time of the last event applied (`last_run_time`).
    pub fn last_time(&self) -> Option<Timestamp> {
        self.last_time
    }

    /// The programs the view knows.
    pub fn program_tokens(&self) -> impl Iterator<Item = &str> {
        self.programs.keys().map(String::as_str)
    }

    /// Applies `f` to the program's day of the event, and `actor`'s day
    /// when given.
    fn day(
        &mut self,
        rec: &Recorded,
        program: &str,
        f: impl FnOnce(&mut DayActivity),
        actor: Option<(&str, ActorDay)>,
        card: Option<(&str, NetworkDay)>,
    ) {
        let Some(p) = cardledger_calendar::program_mut(&mut self.programs, program) else { return };
        let day = match rec.fact.corrected_post_date {
            Some(d) => d,
            None => p.clock.date(rec.time),
        };
        let d = p.days.entry(day);
        f(d);
        d.last_modified = d.last_modified.max(rec.time);
        if let Some((who, add)) = actor {
            p.actors.with(who, |days| days.entry(day).add(&add));
        }
        if let Some((network, add)) = card {
            p.networks.with(network, |days| days.entry(day).add(&add));
        }
    }

    fn load(&mut self, rec: &Recorded, program: &str, holder: &Holder, cents: i64, f: impl FnOnce(&mut DayActivity)) {
        let actor = ActorDay { load_count: 1, load_amount: cents, ..ActorDay::default() };
        self.day(rec, program, f, Some((holder.token(), actor)), None);
    }

    fn journal_entry(&mut self, rec: &Recorded, e: &cardledger_domain::event::JournalEntryRecorded) {
        let JeTarget::Gpa(holder) = &e.cmd.target else { return };
        let moves = !matches!(
            e.effect,
            JeEffect::NoBalance | JeEffect::Hold | JeEffect::Reversal | JeEffect::PendingRefund | JeEffect::Payment
        );
        let (jit_in, jit_out) = (e.jit_load.cents(), e.jit_unload.cents());
        if !moves && jit_in == 0 && jit_out == 0 {
            return;
        }
        let amount = e.cmd.amount.cents();
        let pin_present = e.cmd.pin_present == Some(true);
        let card = match e.effect {
            JeEffect::Clearing if pin_present => Some(Card::Pin),
            JeEffect::Clearing => Some(Card::Signature),
            JeEffect::PinPurchase => Some(Card::Pin),
            JeEffect::AtmWithdrawal => Some(Card::Atm),
            JeEffect::Refund => Some(Card::Refund { pin: pin_present }),
            JeEffect::NoBalance
            | JeEffect::Hold
            | JeEffect::Reversal
            | JeEffect::PendingRefund
            | JeEffect::Payment
            | JeEffect::Interest
            | JeEffect::Fee
            | JeEffect::AdjustmentCredit
            | JeEffect::AdjustmentDebit
            | JeEffect::Reward => None,
        };
        let effect = e.effect;
        let network_name: Cow<'_, str> = match e.cmd.network.as_deref() {
            None => Cow::Borrowed("UNKNOWN"),
            Some(n) if n.bytes().any(|b| b.is_ascii_lowercase()) => Cow::Owned(n.to_ascii_uppercase()),
            Some(n) => Cow::Borrowed(n),
        };
        let actor_token = e.cmd.acting_user_token.as_deref().unwrap_or(holder.token());
        let (mut net, mut actor) = (NetworkDay::default(), ActorDay::default());
        match card {
            Some(Card::Pin) => {
                (net.pin_purchases, net.pin_purchases_net) = (amount, amount);
                (actor.pin_count, actor.pin_amount) = (1, amount);
            }
            Some(Card::Signature) => {
                (net.signature_purchases, net.sig_purchases_net) = (amount, amount);
                (actor.signature_count, actor.signature_amount) = (1, amount);
            }
            Some(Card::Atm) => {
                net.atm_withdrawals = amount;
                (actor.pin_count, actor.pin_amount) = (1, amount);
            }
            Some(Card::Refund { pin }) => {
                net.refunds = amount;
                if pin {
                    net.pin_purchases_net = -amount;
                } else {
                    net.sig_purchases_net = -amount;
                }
            }
            None => {}
        }
        net.transaction_count = i64::from(card.is_some());
        let (network, actor) = if card.is_some() {
            (Some((network_name.as_ref(), net)), Some((actor_token, actor)))
        } else {
            (None, None)
        };
        let nets = (net.pin_purchases_net, net.sig_purchases_net);
        self.day(
            rec,
            &e.program_token,
            |d| {
                d.gpa_loads = d.gpa_loads.saturating_add(jit_in);
                d.unloads = d.unloads.saturating_add(jit_out);
                d.pin_purchases_net = d.pin_purchases_net.saturating_add(nets.0);
                d.sig_purchases_net = d.sig_purchases_net.saturating_add(nets.1);
                let column = match effect {
                    JeEffect::Clearing if pin_present => &mut d.pin_purchases,
                    JeEffect::Clearing => &mut d.signature_purchases,
                    JeEffect::PinPurchase => &mut d.pin_purchases,
                    JeEffect::AtmWithdrawal => &mut d.atm_withdrawals,
                    JeEffect::Refund => &mut d.refunds,
                    JeEffect::Interest | JeEffect::Fee => &mut d.fees,
                    JeEffect::AdjustmentCredit => &mut d.credit_adjustments,
                    JeEffect::AdjustmentDebit => &mut d.debit_adjustments,
                    JeEffect::Reward => &mut d.rewards,
                    JeEffect::NoBalance
                    | JeEffect::Hold
                    | JeEffect::Reversal
                    | JeEffect::PendingRefund
                    | JeEffect::Payment => return,
                };
                *column = column.saturating_add(amount);
            },
            actor,
            network,
        );
    }
}

/// `(Σ fees).cents()`, summed in integer cents when every fee is exact in
/// cents and no partial sum leaves `i64` (the exact sums are then equal);
/// otherwise by that very expression.
#[inline]
fn fees_cents(fees: &[ChargedFee]) -> i64 {
    let mut total = Some(0i64);
    for f in fees {
        total = total.and_then(|t| t.checked_add(f.amount.exact_cents()?));
    }
    total.unwrap_or_else(|| fees.iter().map(|f| f.amount).sum::<Money>().cents())
}

impl Projection for ActivityBalances {
    const NAME: &'static str = "view.activitybalances.v1";

    fn apply(&mut self, rec: &Recorded) {
        self.last_time = Some(self.last_time.map_or(rec.time, |t| t.max(rec.time)));
        match &rec.fact.event {
            Event::ProgramCreated(c) => {
                let mut clock = ReportingClock::new(&c.reporting_timezone);
                let created_day = clock.date(rec.time);
                self.programs.entry(c.token.to_string()).or_insert(ProgramActivity {
                    clock,
                    created_day,
                    created_time: rec.time,
                    days: DayMap::new(),
                    networks: Keyed::default(),
                    actors: Keyed::default(),
                });
            }
            Event::GpaOrdered(e) => {
                let fees = fees_cents(&e.fees);
                let amount = e.cmd.amount.cents();
                self.load(rec, &e.funding.program_token, &e.cmd.holder, amount, |d| {
                    d.gpa_loads = d.gpa_loads.saturating_add(amount.saturating_add(fees));
                    d.fees = d.fees.saturating_add(fees);
                });
            }
            Event::MsaOrdered(e) => {
                let amount = e.cmd.purchase_amount.cents();
                self.load(rec, &e.funding.program_token, &e.cmd.holder, amount, |d| {
                    d.msa_loads = d.msa_loads.saturating_add(amount)
                });
            }
            Event::OfferOrdered(e) => {
                let amount = e.purchase_amount.cents();
                self.load(rec, &e.funding.program_token, &e.cmd.holder, amount, |d| {
                    d.offer_loads = d.offer_loads.saturating_add(amount)
                });
            }
            Event::GpaUnloaded(e) => {
                let amount = e.cmd.amount.cents();
                self.day(rec, &e.funding.program_token, |d| d.unloads = d.unloads.saturating_add(amount), None, None);
            }
            Event::MsaUnloaded(e) => {
                let amount = e.cmd.amount.cents();
                self.day(rec, &e.funding.program_token, |d| d.unloads = d.unloads.saturating_add(amount), None, None);
            }
            Event::FeeTransferred(e) => {
                let fees = fees_cents(&e.fees);
                self.day(rec, &e.program_token, |d| d.fees = d.fees.saturating_add(fees), None, None);
            }
            Event::JournalEntryRecorded(e) => self.journal_entry(rec, e),
            Event::UserCreated(_)
            | Event::BusinessCreated(_)
            | Event::FundingSourceCreated { .. }
            | Event::FundingSourceAddressCreated(_)
            | Event::FeeCreated(_)
            | Event::CampaignCreated(_)
            | Event::MerchantCreated(_)
            | Event::OfferCreated(_)
            | Event::CreditAccountOpened(_)
            | Event::MsaOrderUpdated(_)
            | Event::ProgramDeposited(_)
            // statement closes post interest and late fees between a credit
            // account and the program's income account: no bank or GPA/MSA money
            | Event::CyclesClosed(_)
            | Event::Ticked(_) => {}
        }
    }

    fn encode(&self) -> Vec<u8> {
        cardledger_domain::checkpoint::encode(FORMAT_VERSION, self)
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        cardledger_domain::checkpoint::decode(FORMAT_VERSION, bytes)
    }
}
