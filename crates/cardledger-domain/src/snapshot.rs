//! The canonical encoding of the whole [`Ledger`]: what a snapshot stores
//! and what `verify`'s state digest hashes.
//!
//! Canonical: every map is written in key order, so two ledgers with the
//! same contents encode to the same bytes whatever their hash maps'
//! iteration order, and [`state_digest`] is a digest over every field.
//! bincode 2.0.1 (`standard()`, big-endian, varints) encodes each value;
//! the layout (field order below) is versioned by [`SNAPSHOT_STATE_VERSION`]
//! and documented in `docs/format.md`. Decoding is total: bad bytes are an
//! `Err` naming what failed, never a panic (a snapshot is never trusted).

use bincode::{Decode, Encode};

use crate::command::JeTarget;
use crate::cycle::{Activity, ActivityKind, CycleAccount, FeeType};
use crate::event::Account;
use crate::limits;
use crate::money::Money;
use crate::state::{
    AccountMap, AccountRecord, FundingSourceState, HashMap, JeState, Ledger, OrderState, ProgramState, UnloadState,
};
use crate::time::Timestamp;
use crate::token::Token;

/// Version of the state layout written by [`encode_state`] (its first byte).
pub const SNAPSHOT_STATE_VERSION: u8 = 2;

/// Version of the layout written by [`encode_hot_to`]: the same fields, the
/// cold ones empty; valid only with the store's cold entries at the same seq.
pub const HOT_STATE_VERSION: u8 = 3;

/// The idempotency kinds a ledger can hold (`Ledger::tokens` keys).
pub const TOKEN_KINDS: &[&str] = &[
    "program",
    "user",
    "business",
    "funding_source",
    "funding_source_address",
    "fee",
    "campaign",
    "offer",
    "credit_account",
    "gpa_order",
    "gpa_unload",
    "msa_order",
    "msa_unload",
    "offer_order",
    "fee_transfer",
    "journal_entry",
    "program_deposit",
];

type Cfg = bincode::config::Configuration<
    bincode::config::BigEndian,
    bincode::config::Varint,
    bincode::config::Limit<{ limits::SNAPSHOT_STATE_BYTES_MAX }>,
>;

fn cfg() -> Cfg {
    bincode::config::standard().with_big_endian().with_limit::<{ limits::SNAPSHOT_STATE_BYTES_MAX }>()
}

/// The output, refusing to grow past the state limit.
struct Out<'a> {
    w: &'a mut dyn std::io::Write,
    written: usize,
}

impl bincode::enc::write::Writer for Out<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.written += bytes.len();
        if self.written > limits::SNAPSHOT_STATE_BYTES_MAX {
            return Err(bincode::error::EncodeError::Other("the state exceeds SNAPSHOT_STATE_BYTES_MAX"));
        }
        self.w.write_all(bytes).map_err(|error| bincode::error::EncodeError::Io { inner: error, index: self.written })
    }
}

/// One encoder over the whole state (a call per value would set one up per value).
struct W<'a> {
    enc: bincode::enc::EncoderImpl<Out<'a>, Cfg>,
}

impl W<'_> {
    fn put<T: Encode>(&mut self, v: T) -> Result<(), String> {
        v.encode(&mut self.enc).map_err(|e| e.to_string())
    }

    /// A map in key order: its length, then (key, value) pairs.
    fn map<'a, K: Ord + Encode + 'a, V: 'a>(
        &mut self,
        m: impl ExactSizeIterator<Item = (&'a K, &'a V)>,
        mut each: impl FnMut(&mut Self, &V) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut entries: Vec<(&K, &V)> = m.collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        self.put(entries.len() as u64)?;
        for (k, v) in entries {
            self.put(k)?;
            each(self, v)?;
        }
        Ok(())
    }
}

/// The input, with its position (for counts and trailing bytes).
struct In<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl bincode::de::read::Reader for In<'_> {
    fn read(&mut self, out: &mut [u8]) -> Result<(), bincode::error::DecodeError> {
        let end = self
            .at
            .checked_add(out.len())
            .filter(|e| *e <= self.bytes.len())
            .ok_or(bincode::error::DecodeError::UnexpectedEnd { additional: out.len() })?;
        out.copy_from_slice(self.bytes.get(self.at..end).unwrap_or_default());
        self.at = end;
        Ok(())
    }

    /// The next `n` bytes, borrowed: a [`Token`] is built straight from them.
    #[inline]
    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        self.bytes.get(self.at..self.at.checked_add(n)?)
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.at = self.at.saturating_add(n).min(self.bytes.len());
    }
}

struct R<'a> {
    input: In<'a>,
}

impl R<'_> {
    /// One value, through a decoder of its own: bincode's limit counts the
    /// memory a decoder's containers claim, so one per value bounds what a
    /// corrupt length can make it allocate without capping the whole state.
    fn get<T: Decode<()>>(&mut self) -> Result<T, String> {
        let mut dec = bincode::de::DecoderImpl::new(&mut self.input, cfg(), ());
        T::decode(&mut dec).map_err(|e| e.to_string())
    }

    fn left(&mut self) -> usize {
        self.input.bytes.len().saturating_sub(self.input.at)
    }

    fn len(&mut self) -> Result<usize, String> {
        let n: u64 = self.get()?;
        // every entry takes at least one byte: a larger count is corrupt
        let left = self.left() as u64;
        if n > left {
            return Err(format!("a count of {n} entries exceeds the {left} bytes left"));
        }
        Ok(n as usize)
    }

    fn map<K: Decode<()> + Eq + std::hash::Hash, V>(
        &mut self,
        mut each: impl FnMut(&mut Self) -> Result<V, String>,
    ) -> Result<HashMap<K, V>, String> {
        let n = self.len()?;
        let mut m = HashMap::with_capacity_and_hasher(n, Default::default());
        for _ in 0..n {
            let k: K = self.get()?;
            let v = each(self)?;
            if m.insert(k, v).is_some() {
                return Err("a map key appears twice".into());
            }
        }
        Ok(m)
    }
}

fn put_order(w: &mut W<'_>, o: &OrderState) -> Result<(), String> {
    w.put((o.seq, &o.holder, &o.campaign_token, o.amount, o.unloaded, &o.funding, o.active))?;
    w.put((o.start_date, o.end_date, o.last_modified, o.created, o.reward_amount, o.reward_trigger_amount))
}

fn get_order(r: &mut R<'_>) -> Result<OrderState, String> {
    let (seq, holder, campaign_token, amount, unloaded, funding, active) = r.get()?;
    let (start_date, end_date, last_modified, created, reward_amount, reward_trigger_amount) = r.get()?;
    Ok(OrderState {
        seq,
        holder,
        campaign_token,
        amount,
        unloaded,
        funding,
        active,
        start_date,
        end_date,
        last_modified,
        created,
        reward_amount,
        reward_trigger_amount,
    })
}

fn put_unloads(w: &mut W<'_>, v: &[UnloadState]) -> Result<(), String> {
    w.put(v.len() as u64)?;
    for u in v {
        w.put((u.seq, u.time, &u.holder, &u.original_order_token, u.amount))?;
    }
    Ok(())
}

fn get_unloads(r: &mut R<'_>) -> Result<Vec<UnloadState>, String> {
    let n = r.len()?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let (seq, time, holder, original_order_token, amount) = r.get()?;
        v.push(UnloadState { seq, time, holder, original_order_token, amount });
    }
    Ok(v)
}

/// An activity kind as two bytes: the kind, then the fee type (0 unless a fee).
fn kind_code(k: ActivityKind) -> (u8, u8) {
    match k {
        ActivityKind::Purchase => (0, 0),
        ActivityKind::Refund => (1, 0),
        ActivityKind::Credit => (2, 0),
        ActivityKind::Payment => (3, 0),
        ActivityKind::Interest => (4, 0),
        ActivityKind::Fee(f) => (
            5,
            match f {
                FeeType::LatePayment => 0,
                FeeType::OverLimit => 1,
                FeeType::ForeignTransaction => 2,
                FeeType::ReturnedPayment => 3,
                FeeType::CardReplacement => 4,
                FeeType::Annual => 5,
                FeeType::Monthly => 6,
                FeeType::Other => 7,
            },
        ),
    }
}

fn kind_of(code: (u8, u8)) -> Result<ActivityKind, String> {
    Ok(match code {
        (0, 0) => ActivityKind::Purchase,
        (1, 0) => ActivityKind::Refund,
        (2, 0) => ActivityKind::Credit,
        (3, 0) => ActivityKind::Payment,
        (4, 0) => ActivityKind::Interest,
        (5, f) => ActivityKind::Fee(match f {
            0 => FeeType::LatePayment,
            1 => FeeType::OverLimit,
            2 => FeeType::ForeignTransaction,
            3 => FeeType::ReturnedPayment,
            4 => FeeType::CardReplacement,
            5 => FeeType::Annual,
            6 => FeeType::Monthly,
            7 => FeeType::Other,
            other => return Err(format!("unknown fee type {other}")),
        }),
        other => return Err(format!("unknown activity kind {other:?}")),
    })
}

fn put_cycle(w: &mut W<'_>, c: &CycleAccount) -> Result<(), String> {
    w.put((c.tz.name(), c.open_start, c.opens_at, c.closes_at, c.closed, c.opening, c.prev_balance))?;
    w.put((c.prev_minimum, c.prev_revolving, c.paid_history, &c.dues, c.delinquency, c.ytd, c.prev_reward))?;
    w.put(c.activity.len() as u64)?;
    for a in &c.activity {
        w.put((a.date, a.seq, kind_code(a.kind), a.amount))?;
    }
    Ok(())
}

fn get_cycle(r: &mut R<'_>) -> Result<CycleAccount, String> {
    let (tz, open_start, opens_at, closes_at, closed, opening, prev_balance): (String, _, _, _, _, _, _) = r.get()?;
    let tz = crate::cycle::zone(&tz).ok_or_else(|| format!("unknown time zone {tz:?}"))?;
    let (prev_minimum, prev_revolving, paid_history, dues, delinquency, ytd, prev_reward) = r.get()?;
    let n = r.len()?;
    let mut activity = Vec::with_capacity(n);
    for _ in 0..n {
        let (date, seq, code, amount) = r.get()?;
        activity.push(Activity { date, seq, kind: kind_of(code)?, amount });
    }
    Ok(CycleAccount {
        tz,
        open_start,
        opens_at,
        closes_at,
        closed,
        opening,
        prev_balance,
        prev_minimum,
        prev_revolving,
        paid_history,
        dues,
        delinquency,
        ytd,
        prev_reward,
        activity,
    })
}

/// Encodes the whole ledger canonically (see the module documentation).
/// Fails only if a value does not encode or the state exceeds
/// `SNAPSHOT_STATE_BYTES_MAX`.
pub fn encode_state(l: &Ledger) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(1 << 16);
    encode_state_to(l, &mut out)?;
    Ok(out)
}

/// Streams the canonical encoding of `l` into `w` (a snapshot is written in
/// chunks, never held whole in memory); fails as soon as it passes
/// `SNAPSHOT_STATE_BYTES_MAX`.
pub fn encode_state_to(l: &Ledger, w: &mut dyn std::io::Write) -> Result<(), String> {
    encode_to(l, w, false)
}

/// Streams the canonical encoding of `l`'s **hot** part: the same layout
/// as [`encode_state_to`], with what belongs to the cold state
/// (`state::cold`: the token index, orders, offer orders, unloads and
/// closed journal entries) written as empty. A snapshot of an engine with a
/// cold store holds exactly this; [`decode_state`] reads it back.
pub fn encode_hot_to(l: &Ledger, w: &mut dyn std::io::Write) -> Result<(), String> {
    encode_to(l, w, true)
}

/// [`encode_hot_to`] into memory.
pub fn encode_hot(l: &Ledger) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(1 << 16);
    encode_hot_to(l, &mut out)?;
    Ok(out)
}

fn encode_to(l: &Ledger, w: &mut dyn std::io::Write, hot: bool) -> Result<(), String> {
    let none_o: HashMap<Token, OrderState> = HashMap::default();
    let none_f: HashMap<Token, u64> = HashMap::default();
    let none_t = crate::state::TokenIndex::default();
    let open_jes: HashMap<&Token, &JeState> =
        l.journal_entries.iter().filter(|(_, j)| !hot || !crate::state::je_closed(j)).collect();
    let (gpa_orders, msa_orders, offer_orders, tokens) = if hot {
        (&none_o, &none_o, &none_f, &none_t)
    } else {
        (&l.gpa_orders, &l.msa_orders, &l.offer_orders, &l.tokens)
    };
    let (gpa_unloads, msa_unloads): (&[UnloadState], &[UnloadState]) =
        if hot { (&[], &[]) } else { (&l.gpa_unloads, &l.msa_unloads) };
    let mut w = W { enc: bincode::enc::EncoderImpl::new(Out { w, written: 0 }, cfg()) };
    w.put(if hot { HOT_STATE_VERSION } else { SNAPSHOT_STATE_VERSION })?;
    w.put((l.head_seq, l.last_time, l.last_tick))?;
    w.map(l.programs.iter(), |w, p| w.put((&p.cmd, p.created, p.jit)))?;
    w.map(l.holders.iter(), |w, v| w.put(v))?;
    w.map(l.funding_sources.iter(), |w, f| w.put((&f.cmd, &f.program_token, f.created, f.has_address)))?;
    w.map(l.addresses.iter(), |w, v| w.put(v))?;
    w.map(l.fees.iter(), |w, v| w.put(v))?;
    w.map(l.campaigns.iter(), |w, v| w.put(v))?;
    w.map(l.offers.iter(), |w, v| w.put(v))?;
    w.map(l.credit_accounts.iter(), |w, v| w.put(v))?;
    w.map(gpa_orders.iter(), put_order)?;
    w.map(msa_orders.iter(), put_order)?;
    w.map(offer_orders.iter(), |w, v| w.put(v))?;
    put_unloads(&mut w, gpa_unloads)?;
    put_unloads(&mut w, msa_unloads)?;
    w.map(open_jes.iter(), |w, j| put_je(w, j))?;
    put_accounts(&mut w, &l.accounts)?;
    // the present kinds, by name (as when the index was a map keyed by name)
    let mut kinds: Vec<_> = tokens.iter().collect();
    kinds.sort_unstable_by(|a, b| a.0.cmp(b.0));
    w.put(kinds.len() as u64)?;
    for (kind, tokens) in kinds {
        w.put(kind)?;
        w.map(tokens.iter(), |w, v| w.put(v))?;
    }
    w.map(l.holder_sources.iter(), |w, v| w.put(v))?;
    w.map(l.program_sources.iter(), |w, v| w.put(v))?;
    w.put(&l.msa_campaigns)?;
    w.map(l.cycles.iter(), put_cycle)
}

/// Decodes what [`encode_state`] wrote; every byte must be used.
pub fn decode_state(bytes: &[u8]) -> Result<Ledger, String> {
    let mut r = R { input: In { bytes, at: 0 } };
    let version: u8 = r.get()?;
    if version != SNAPSHOT_STATE_VERSION && version != HOT_STATE_VERSION {
        return Err(format!(
            "snapshot state version {version}, expected {SNAPSHOT_STATE_VERSION} or {HOT_STATE_VERSION}"
        ));
    }
    let (head_seq, last_time, last_tick) = r.get()?;
    let programs = r.map(|r| {
        let (cmd, created, jit) = r.get()?;
        Ok(ProgramState { cmd, created, jit })
    })?;
    let holders = r.map(|r| r.get())?;
    let funding_sources = r.map(|r| {
        let (cmd, program_token, created, has_address) = r.get()?;
        Ok(FundingSourceState { cmd, program_token, created, has_address })
    })?;
    let addresses = r.map(|r| r.get())?;
    let fees = r.map(|r| r.get())?;
    let campaigns = r.map(|r| r.get())?;
    let offers = r.map(|r| r.get())?;
    let credit_accounts = r.map(|r| r.get())?;
    let gpa_orders = r.map(get_order)?;
    let msa_orders = r.map(get_order)?;
    let offer_orders = r.map(|r| r.get())?;
    let gpa_unloads = get_unloads(&mut r)?;
    let msa_unloads = get_unloads(&mut r)?;
    let journal_entries = r.map(get_je)?;
    let accounts = get_accounts(&mut r)?;
    let kinds = r.len()?;
    let mut tokens = crate::state::TokenIndex::default();
    for _ in 0..kinds {
        let name: String = r.get()?;
        let kind = crate::state::TokenKind::named(&name).ok_or_else(|| format!("unknown token kind {name:?}"))?;
        let m = r.map(|r| r.get())?;
        if tokens.insert(kind, m).is_some() {
            return Err(format!("token kind {name:?} appears twice"));
        }
    }
    let holder_sources = r.map(|r| r.get())?;
    let program_sources = r.map(|r| r.get())?;
    let msa_campaigns = r.get()?;
    let cycles = r.map(get_cycle)?;
    let left = r.left();
    if left != 0 {
        return Err(format!("{left} trailing bytes after the snapshot state"));
    }
    Ok(Ledger {
        head_seq,
        last_time,
        programs,
        holders,
        funding_sources,
        addresses,
        fees,
        campaigns,
        offers,
        credit_accounts,
        gpa_orders,
        msa_orders,
        offer_orders,
        gpa_unloads,
        msa_unloads,
        journal_entries,
        accounts,
        tokens,
        holder_sources,
        program_sources,
        last_tick,
        msa_campaigns,
        cycles,
        cold: None,
        room: crate::state::HotRoom::default(),
    })
}

/// The account records as the five maps of the layout (it predates the
/// records): balances and last changes of the accounts ever posted to, the
/// last updates, then holds and pending credits keyed by journal-entry
/// target (`JeTarget`); each in key order.
fn put_accounts(w: &mut W<'_>, accounts: &AccountMap) -> Result<(), String> {
    let mut all: Vec<(&Account, &AccountRecord)> = accounts.iter().collect();
    all.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let posted = all.iter().filter(|(_, r)| r.posted).count();
    w.put(posted as u64)?;
    for (a, r) in all.iter().filter(|(_, r)| r.posted) {
        w.put((a, r.balance))?;
    }
    w.put(posted as u64)?;
    for (a, r) in all.iter().filter(|(_, r)| r.posted) {
        w.put((a, r.last_impact))?;
    }
    w.put(all.iter().filter(|(_, r)| r.last_updated.is_some()).count() as u64)?;
    for (a, r) in &all {
        if let Some(t) = r.last_updated {
            w.put((a, t))?;
        }
    }
    let holds: Vec<(JeTarget, Money)> =
        all.iter().filter(|(_, r)| r.held).map(|(a, r)| Ok((je_target(a)?, r.holds))).collect::<Result<_, String>>()?;
    w.map(holds.iter().map(|(t, m)| (t, m)), |w, v| w.put(v))?;
    let pending: Vec<(JeTarget, Money)> = all
        .iter()
        .filter(|(_, r)| r.has_pending)
        .map(|(a, r)| Ok((je_target(a)?, r.pending)))
        .collect::<Result<_, String>>()?;
    w.map(pending.iter().map(|(t, m)| (t, m)), |w, v| w.put(v))
}

/// The journal-entry target whose holds and pending credits an account
/// keeps (a GPA or a credit account); any other account with one is an
/// impossible state.
fn je_target(a: &Account) -> Result<JeTarget, String> {
    match a {
        Account::Gpa(h) => Ok(JeTarget::Gpa(h.clone())),
        Account::Credit(t) => Ok(JeTarget::Credit(t.clone())),
        other => Err(format!("account {other:?} has holds or pending credits")),
    }
}

/// The account a journal-entry target's holds and pending credits live in.
fn target_account(t: JeTarget) -> Account {
    match t {
        JeTarget::Gpa(h) => Account::Gpa(h),
        JeTarget::Credit(a) => Account::Credit(a),
    }
}

/// Reads what [`put_accounts`] wrote (the five maps): the balance and
/// last-change maps must name the same accounts (an engine always writes
/// them so).
fn get_accounts(r: &mut R<'_>) -> Result<AccountMap, String> {
    let balances: HashMap<Account, Money> = r.map(|r| r.get())?;
    let mut last_impact: HashMap<Account, Money> = r.map(|r| r.get())?;
    let last_updated: HashMap<Account, Timestamp> = r.map(|r| r.get())?;
    if last_impact.len() != balances.len() {
        return Err("the last-change map does not name the accounts of the balance map".into());
    }
    let mut accounts = AccountMap::with_capacity(balances.len());
    for (a, balance) in balances {
        let Some(impact) = last_impact.remove(&a) else {
            return Err(format!("account {a:?} has a balance and no last change"));
        };
        accounts.insert(a, AccountRecord { balance, last_impact: impact, posted: true, ..AccountRecord::default() });
    }
    for (a, t) in last_updated {
        accounts.record_mut(a).last_updated = Some(t);
    }
    let holds: HashMap<JeTarget, Money> = r.map(|r| r.get())?;
    for (t, m) in holds {
        let rec = accounts.record_mut(target_account(t));
        (rec.held, rec.holds) = (true, m);
    }
    let pending: HashMap<JeTarget, Money> = r.map(|r| r.get())?;
    for (t, m) in pending {
        let rec = accounts.record_mut(target_account(t));
        (rec.has_pending, rec.pending) = (true, m);
    }
    Ok(accounts)
}

fn put_je(w: &mut W<'_>, j: &JeState) -> Result<(), String> {
    w.put((j.seq, &j.target, j.open, j.jit_open, j.effect))
}

fn get_je(r: &mut R<'_>) -> Result<JeState, String> {
    let (seq, target, open, jit_open, effect) = r.get()?;
    Ok(JeState { seq, target, open, jit_open, effect })
}

/// One value of the cold state, encoded as the snapshot encodes it.
#[derive(Clone, Copy)]
pub enum ColdValue<'a> {
    /// A token's (seq, fingerprint).
    Token(u64, u64),
    /// A GPA or MSA order.
    Order(&'a OrderState),
    /// An offer order's seq.
    OfferOrder(u64),
    /// An unload.
    Unload(&'a UnloadState),
    /// A closed journal entry.
    JournalEntry(&'a JeState),
}

/// Encodes one cold value (bounded by `SNAPSHOT_STATE_BYTES_MAX` like the rest).
pub fn encode_cold(v: ColdValue<'_>) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64);
    encode_cold_into(v, &mut out)?;
    Ok(out)
}

/// Appends one cold value's encoding to `out` (a cold flush writes it
/// straight into its block): written by hand, exactly the bytes bincode's
/// derived encoding writes in the state configuration (big-endian varints:
/// the payloads' too, `payload::Out`) — the generic encoder cost about
/// three times as much per value and a `Vec` each. The test
/// `cold_values_encode_by_hand_as_bincode_does` pins every kind against it.
/// A value over `SNAPSHOT_STATE_BYTES_MAX` is refused, as bincode's limit did.
pub fn encode_cold_into(v: ColdValue<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    let start = out.len();
    let mut o = crate::payload::Out(out);
    match v {
        ColdValue::Token(seq, fp) => {
            o.u64(seq);
            o.u64(fp);
        }
        ColdValue::Order(x) => {
            o.u64(x.seq);
            o.holder(&x.holder);
            o.opt_str(&x.campaign_token);
            o.money(x.amount);
            o.money(x.unloaded);
            o.funding(&x.funding);
            o.0.push(u8::from(x.active));
            o.opt_time(x.start_date);
            o.opt_time(x.end_date);
            o.i64(x.last_modified.0);
            o.i64(x.created.0);
            o.money(x.reward_amount);
            o.money(x.reward_trigger_amount);
        }
        ColdValue::OfferOrder(seq) => o.u64(seq),
        ColdValue::Unload(u) => {
            o.u64(u.seq);
            o.i64(u.time.0);
            o.holder(&u.holder);
            o.str(&u.original_order_token);
            o.money(u.amount);
        }
        ColdValue::JournalEntry(j) => {
            o.u64(j.seq);
            o.je_target(&j.target);
            o.money(j.open);
            o.money(j.jit_open);
            o.variant(crate::payload::effect_index(j.effect));
        }
    }
    let len = out.len() - start;
    if len > limits::SNAPSHOT_STATE_BYTES_MAX {
        out.truncate(start);
        return Err(format!("a cold value of {len} bytes exceeds SNAPSHOT_STATE_BYTES_MAX"));
    }
    Ok(())
}

/// [`encode_cold`] through bincode's derived encoding: the oracle the hand
/// encoder is checked against.
#[cfg(test)]
fn encode_cold_derived(v: ColdValue<'_>) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64);
    {
        let mut w = W { enc: bincode::enc::EncoderImpl::new(Out { w: &mut out, written: 0 }, cfg()) };
        match v {
            ColdValue::Token(seq, fp) => w.put((seq, fp))?,
            ColdValue::Order(o) => put_order(&mut w, o)?,
            ColdValue::OfferOrder(seq) => w.put(seq)?,
            ColdValue::Unload(u) => w.put((u.seq, u.time, &u.holder, &u.original_order_token, u.amount))?,
            ColdValue::JournalEntry(j) => put_je(&mut w, j)?,
        }
    }
    Ok(out)
}

fn decode_whole<T>(bytes: &[u8], what: &str, f: impl FnOnce(&mut R<'_>) -> Result<T, String>) -> Result<T, String> {
    let mut r = R { input: In { bytes, at: 0 } };
    let v = f(&mut r).map_err(|e| format!("cold {what}: {e}"))?;
    match r.left() {
        0 => Ok(v),
        n => Err(format!("cold {what}: {n} trailing bytes")),
    }
}

/// Decodes a token's (seq, fingerprint).
pub fn decode_cold_token(bytes: &[u8]) -> Result<(u64, u64), String> {
    decode_whole(bytes, "token", |r| r.get())
}

/// Decodes an order.
pub fn decode_cold_order(bytes: &[u8]) -> Result<OrderState, String> {
    decode_whole(bytes, "order", get_order)
}

/// Decodes an offer order's seq.
pub fn decode_cold_offer_order(bytes: &[u8]) -> Result<u64, String> {
    decode_whole(bytes, "offer order", |r| r.get())
}

/// Decodes an unload.
pub fn decode_cold_unload(bytes: &[u8]) -> Result<UnloadState, String> {
    decode_whole(bytes, "unload", |r| {
        let (seq, time, holder, original_order_token, amount) = r.get()?;
        Ok(UnloadState { seq, time, holder, original_order_token, amount })
    })
}

/// Decodes a closed journal entry.
pub fn decode_cold_je(bytes: &[u8]) -> Result<JeState, String> {
    decode_whole(bytes, "journal entry", get_je)
}

/// A digest over every field of a ledger: blake3 over its hot encoding
/// ([`encode_hot`]) followed by every cold entry (`Ledger::all_cold_entries`:
/// its cold store's, if it has one, overridden by those in memory) in key
/// order, each fed by [`digest_cold_entry`]. `verify` computes the same over
/// a live engine's hot state and its store's cold entries; a ledger that
/// holds its whole state in memory and one reading part of it through a
/// cold store get the same digest for the same state.
pub fn state_digest(l: &Ledger) -> Result<[u8; 32], String> {
    let mut h = blake3::Hasher::new();
    h.update(&encode_hot(l)?);
    for (k, v) in l.all_cold_entries()? {
        digest_cold_entry(&mut h, &k, &v);
    }
    Ok(*h.finalize().as_bytes())
}

/// Feeds one cold entry to a state digest: key length, key, value length, value.
pub fn digest_cold_entry(h: &mut blake3::Hasher, k: &[u8], v: &[u8]) {
    h.update(&(k.len() as u64).to_be_bytes());
    h.update(k);
    h.update(&(v.len() as u64).to_be_bytes());
    h.update(v);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_populated_ledger_round_trips_byte_for_byte() {
        let l = crate::fuzz::seeded_ledger();
        let bytes = encode_state(l).unwrap();
        let back = decode_state(&bytes).unwrap();
        assert_eq!(encode_state(&back).unwrap(), bytes);
        assert_eq!(state_digest(&back).unwrap(), state_digest(l).unwrap());
        assert!(!l.accounts.is_empty() && !l.tokens.is_empty());
    }

    /// The hand encoder of cold values writes exactly bincode's bytes,
    /// for every kind: integers at each varint width and both signs,
    /// options absent and present, both holders and targets, every funding
    /// kind and effect, empty and non-ASCII strings. (With a field left
    /// out or written in another order, or a width's tag wrong, it fails.)
    #[test]
    fn cold_values_encode_by_hand_as_bincode_does() {
        use crate::command::Holder;
        use crate::event::Funding;
        use crate::payload::{EFFECTS as effects, FUNDING_KINDS as kinds};
        let ints: [u64; 9] = [0, 1, 250, 251, 65_535, 65_536, u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX];
        let cents: [i64; 7] = [0, 1, -1, 125, -126, i64::MAX, i64::MIN];
        let holders = [Holder::User("u_1".into()), Holder::Business("".into()), Holder::User("é€😀".into())];
        let check = |v: ColdValue<'_>, derived: Vec<u8>| {
            let mut out = vec![7u8];
            encode_cold_into(v, &mut out).unwrap();
            assert_eq!(out[1..], derived[..]);
        };
        for (n, &i) in ints.iter().enumerate() {
            let j = ints[(n + 3) % ints.len()];
            check(ColdValue::Token(i, j), encode_cold_derived(ColdValue::Token(i, j)).unwrap());
            check(ColdValue::OfferOrder(i), encode_cold_derived(ColdValue::OfferOrder(i)).unwrap());
        }
        let money = |n: usize| Money::from_cents(cents[n % cents.len()]);
        let time = |n: usize| Timestamp(cents[n % cents.len()]);
        for n in 0..28 {
            let holder = holders[n % holders.len()].clone();
            let order = OrderState {
                seq: ints[n % ints.len()],
                holder: holder.clone(),
                campaign_token: (n % 2 == 0).then(|| format!("camp_{n}é").into()),
                amount: money(n),
                unloaded: money(n + 1),
                funding: Funding {
                    source_token: format!("fs_{n}").into(),
                    kind: kinds[n % kinds.len()],
                    program_token: "p".repeat(n).into(),
                },
                active: n % 3 == 0,
                start_date: (n % 2 == 1).then(|| time(n + 2)),
                end_date: (n % 4 < 2).then(|| time(n + 3)),
                last_modified: time(n + 4),
                created: time(n + 5),
                reward_amount: money(n + 6),
                reward_trigger_amount: money(n + 2),
            };
            check(ColdValue::Order(&order), encode_cold_derived(ColdValue::Order(&order)).unwrap());
            let unload = UnloadState {
                seq: ints[(n + 1) % ints.len()],
                time: time(n),
                holder: holder.clone(),
                original_order_token: "o".repeat(n * 10).into(),
                amount: money(n + 3),
            };
            check(ColdValue::Unload(&unload), encode_cold_derived(ColdValue::Unload(&unload)).unwrap());
            let target = if n % 2 == 0 { JeTarget::Gpa(holder) } else { JeTarget::Credit(format!("ca_{n}").into()) };
            let je = JeState {
                seq: ints[(n + 2) % ints.len()],
                target,
                open: money(n),
                jit_open: money(n + 5),
                effect: effects[n % effects.len()],
            };
            check(ColdValue::JournalEntry(&je), encode_cold_derived(ColdValue::JournalEntry(&je)).unwrap());
        }
    }

    #[test]
    fn damaged_state_bytes_are_an_error_never_a_panic() {
        let bytes = encode_state(crate::fuzz::seeded_ledger()).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode_state(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode_state(&extra).is_err());
        for i in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            // a flipped byte either fails to decode or decodes to another state
            if let Ok(l) = decode_state(&b) {
                let _ = encode_state(&l);
            }
        }
    }
}
