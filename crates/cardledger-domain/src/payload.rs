//! Hand-written payload encoders for the hottest events: a journal entry
//! (two thirds of the demo mix's events), a GPA order and a GPA unload
//! (most of the rest). They write straight into the
//! payload's `Vec` exactly the bytes bincode's derived encoding writes in the
//! payload configuration ([`crate::codec`]: big-endian varints) — bincode
//! walks every field through its generic encoder, ≈ 1,100 instructions for a
//! journal entry's command (docs/performance.md, "Issue 13: commit path,
//! fourth pass"). The golden fixtures and the tests below check the bytes
//! are the derived ones.
//!
//! The same three events are decoded by hand too ([`decode_by_hand`]):
//! straight from the payload's bytes into the typed event, each string
//! copied once out of the slice — bincode decodes every field through its
//! generic decoder and every string through a zero-filled `Vec<u8>`,
//! ≈ 280 instructions a string (docs/performance.md, "Issue 13: replay,
//! decode and cold entries"). It accepts only what bincode's derived
//! decoding accepts, to the same value (the tests below, the golden
//! fixtures, and the fuzz body `fuzz_decode_fact`, which checks every
//! input it decodes against bincode's); anything else — another event,
//! bytes bincode would refuse — it leaves to bincode ([`crate::decode_fact`]).

use crate::command::{
    Currency, FeeRef, FundingKind, GpaOrderCmd, Holder, JeStatus, JeTarget, JournalEntryCmd, UnloadCmd,
};
use crate::event::{
    ChargedFee, Event, Fact, FingerprintKind, Funding, GpaOrdered, GpaUnloaded, JeEffect, JournalEntryRecorded,
};
use crate::limits;
use crate::money::Money;
use crate::time::{Date, Timestamp};

/// bincode's varint tags (`bincode::varint`): a value up to 250 is its own
/// byte; above, a tag then the value big-endian in 2, 4 or 8 bytes.
const SINGLE_BYTE_TOP: u64 = 250;
const U16_TAG: u8 = 251;
const U32_TAG: u8 = 252;
const U64_TAG: u8 = 253;

/// Room for any u64 varint: the longest is a tag and 8 bytes.
pub(crate) const U64_VARINT_ROOM_BYTES: usize = 9;

/// A u64 varint (payload configuration), right-aligned in 9 bytes, and its
/// length: the varint is the last `len` bytes (the bytes before them are
/// zero). The one home of the varint's bytes on the encoding side.
#[inline]
pub(crate) fn u64_right_aligned(v: u64) -> ([u8; U64_VARINT_ROOM_BYTES], usize) {
    let [a, b, c, d, e, f, g, h] = v.to_be_bytes();
    if v <= SINGLE_BYTE_TOP {
        ([0, 0, 0, 0, 0, 0, 0, 0, h], 1)
    } else if v <= u64::from(u16::MAX) {
        ([0, 0, 0, 0, 0, 0, U16_TAG, g, h], 3)
    } else if v <= u64::from(u32::MAX) {
        ([0, 0, 0, 0, U32_TAG, e, f, g, h], 5)
    } else {
        ([U64_TAG, a, b, c, d, e, f, g, h], 9)
    }
}

/// Appends bincode's encodings (payload configuration) to a `Vec` (the
/// cold values' hand encoder writes with it too: `snapshot::encode_cold_into`).
pub(crate) struct Out<'a>(pub(crate) &'a mut Vec<u8>);

impl Out<'_> {
    /// A u64 varint: one byte inline (lengths, variant indexes, most
    /// options' contents), the wider forms out of line.
    #[inline(always)]
    pub(crate) fn u64(&mut self, v: u64) {
        if v <= SINGLE_BYTE_TOP {
            self.0.push(v as u8);
        } else {
            self.u64_wide(v);
        }
    }

    #[inline(never)]
    fn u64_wide(&mut self, v: u64) {
        // copies of a fixed length each (a variable one is a `memcpy` call)
        match u64_right_aligned(v) {
            ([.., h], 1) => self.0.push(h),
            ([.., t, g, h], 3) => self.0.extend_from_slice(&[t, g, h]),
            ([.., t, e, f, g, h], 5) => self.0.extend_from_slice(&[t, e, f, g, h]),
            (all, _) => self.0.extend_from_slice(&all),
        }
    }

    /// An i64: zig-zag, then as a u64 (bincode's `varint_encode_i64`).
    #[inline]
    pub(crate) fn i64(&mut self, v: i64) {
        let bits = v as u64;
        self.u64(if v < 0 { (!bits << 1) | 1 } else { bits << 1 });
    }

    /// A variant index (a u32, written as a u64 of the same value).
    #[inline]
    pub(crate) fn variant(&mut self, index: u32) {
        self.u64(u64::from(index));
    }

    #[inline(always)]
    pub(crate) fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    #[inline(always)]
    pub(crate) fn opt_str<S: std::ops::Deref<Target = str>>(&mut self, s: &Option<S>) {
        match s {
            None => self.0.push(0),
            Some(s) => {
                self.0.push(1);
                self.str(s);
            }
        }
    }

    #[inline]
    pub(crate) fn money(&mut self, m: Money) {
        self.i64(m.cents());
    }

    #[inline]
    pub(crate) fn opt_time(&mut self, t: Option<Timestamp>) {
        match t {
            None => self.0.push(0),
            Some(Timestamp(micros)) => {
                self.0.push(1);
                self.i64(micros);
            }
        }
    }

    #[inline]
    fn opt_bool(&mut self, b: Option<bool>) {
        match b {
            None => self.0.push(0),
            Some(b) => {
                self.0.push(1);
                self.0.push(u8::from(b));
            }
        }
    }

    #[inline(always)]
    pub(crate) fn holder(&mut self, h: &Holder) {
        match h {
            Holder::User(t) => {
                self.variant(0);
                self.str(t);
            }
            Holder::Business(t) => {
                self.variant(1);
                self.str(t);
            }
        }
    }
}

impl Out<'_> {
    #[inline(always)]
    pub(crate) fn funding(&mut self, f: &Funding) {
        let Funding { source_token, kind, program_token } = f;
        self.str(source_token);
        self.variant(funding_kind_index(*kind));
        self.str(program_token);
    }

    /// A journal entry's target (a command's, a cold entry's).
    #[inline(always)]
    pub(crate) fn je_target(&mut self, t: &JeTarget) {
        match t {
            JeTarget::Gpa(h) => {
                self.variant(0);
                self.holder(h);
            }
            JeTarget::Credit(a) => {
                self.variant(1);
                self.str(a);
            }
        }
    }

    /// A sequence's length (bincode writes it as a u64).
    fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
}

/// `event` appended to `out` as the derived encoding writes it, when it is
/// one of the events encoded by hand here; returns `out.len()` right after
/// its command (where the fingerprinted bytes end). `None`: not one of
/// them, nothing written.
#[inline]
pub(crate) fn by_hand(event: &Event, out: &mut Vec<u8>) -> Option<usize> {
    match event {
        Event::JournalEntryRecorded(je) => Some(journal_entry_recorded(je, out)),
        Event::GpaOrdered(e) => Some(gpa_ordered(e, out)),
        Event::GpaUnloaded(e) => Some(gpa_unloaded(e, out)),
        _ => None,
    }
}

/// The variant index of a funding kind (declaration order).
fn funding_kind_index(k: FundingKind) -> u32 {
    match k {
        FundingKind::Program => 0,
        FundingKind::ProgramGateway => 1,
        FundingKind::Ach => 2,
        FundingKind::PaymentCard => 3,
    }
}

/// `Event::GpaOrdered`'s and `Event::GpaUnloaded`'s variant indexes (=
/// `Command::GpaOrder`'s and `Command::GpaUnload`'s).
pub(crate) const GPA_ORDERED_INDEX: u32 = 10;
pub(crate) const GPA_UNLOADED_INDEX: u32 = 11;

fn gpa_ordered(e: &GpaOrdered, out: &mut Vec<u8>) -> usize {
    let GpaOrdered { cmd, funding, fees } = e;
    let GpaOrderCmd {
        token,
        holder,
        amount,
        currency_code,
        funding_source_token,
        funding_source_address_token,
        tags,
        memo,
        fees: fee_refs,
    } = cmd;
    let mut o = Out(out);
    o.variant(GPA_ORDERED_INDEX);
    o.str(token);
    o.holder(holder);
    o.money(*amount);
    o.variant(currency_index(*currency_code));
    o.opt_str(funding_source_token);
    o.opt_str(funding_source_address_token);
    o.opt_str(tags);
    o.opt_str(memo);
    o.len(fee_refs.len());
    for FeeRef { token, memo, tags } in fee_refs {
        o.str(token);
        o.opt_str(memo);
        o.opt_str(tags);
    }
    let command_end = o.0.len();
    o.funding(funding);
    o.len(fees.len());
    for ChargedFee { token, amount } in fees {
        o.str(token);
        o.money(*amount);
    }
    command_end
}

fn gpa_unloaded(e: &GpaUnloaded, out: &mut Vec<u8>) -> usize {
    let GpaUnloaded { cmd, holder, funding } = e;
    let UnloadCmd { token, original_order_token, amount, tags, memo } = cmd;
    let mut o = Out(out);
    o.variant(GPA_UNLOADED_INDEX);
    o.str(token);
    o.str(original_order_token);
    o.money(*amount);
    o.opt_str(tags);
    o.opt_str(memo);
    let command_end = o.0.len();
    o.holder(holder);
    o.funding(funding);
    command_end
}

/// The variant index of a journal entry's status (declaration order).
fn status_index(s: JeStatus) -> u32 {
    match s {
        JeStatus::Pending => 0,
        JeStatus::Posted => 1,
        JeStatus::Cleared => 2,
        JeStatus::Declined => 3,
        JeStatus::Error => 4,
    }
}

/// The variant index of a currency (declaration order).
fn currency_index(c: Currency) -> u32 {
    match c {
        Currency::Usd => 0,
    }
}

/// The variant index of an effect (declaration order).
pub(crate) fn effect_index(e: JeEffect) -> u32 {
    match e {
        JeEffect::NoBalance => 0,
        JeEffect::Hold => 1,
        JeEffect::Clearing => 2,
        JeEffect::Reversal => 3,
        JeEffect::PinPurchase => 4,
        JeEffect::AtmWithdrawal => 5,
        JeEffect::Refund => 6,
        JeEffect::PendingRefund => 7,
        JeEffect::Payment => 8,
        JeEffect::Interest => 9,
        JeEffect::Fee => 10,
        JeEffect::AdjustmentCredit => 11,
        JeEffect::AdjustmentDebit => 12,
        JeEffect::Reward => 13,
    }
}

/// `Event::JournalEntryRecorded(je)` appended to `out` (its variant index,
/// its command, the rest), as the derived encoding writes it; returns
/// `out.len()` right after the command (where the fingerprinted bytes end).
fn journal_entry_recorded(je: &JournalEntryRecorded, out: &mut Vec<u8>) -> usize {
    let JournalEntryRecorded { cmd, program_token, effect, hold_amount, jit_load, jit_unload, pending_credit } = je;
    journal_entry_parts(cmd, program_token, *effect, [*hold_amount, *jit_load, *jit_unload, *pending_credit], out)
}

/// [`journal_entry_recorded`] from the event's parts: its command, and its
/// program token, effect and amounts (hold, JIT load, JIT unload, pending
/// credit) — the commit path encodes an entry before its command moves
/// into the event (`crate::encode_new_journal_entry`).
#[inline]
pub(crate) fn journal_entry_parts(
    cmd: &JournalEntryCmd,
    program_token: &str,
    effect: JeEffect,
    amounts: [Money; 4],
    out: &mut Vec<u8>,
) -> usize {
    let mut o = Out(out);
    o.variant(JOURNAL_ENTRY_RECORDED_INDEX);
    journal_entry_cmd(cmd, &mut o);
    let command_end = o.0.len();
    o.str(program_token);
    o.variant(effect_index(effect));
    for amount in amounts {
        o.money(amount);
    }
    command_end
}

/// `Event::JournalEntryRecorded`'s variant index (= `Command::JournalEntry`'s).
pub(crate) const JOURNAL_ENTRY_RECORDED_INDEX: u32 = 17;

fn journal_entry_cmd(c: &JournalEntryCmd, o: &mut Out<'_>) {
    let JournalEntryCmd {
        token,
        target,
        related_token,
        root_token,
        card_token,
        status,
        group,
        kind,
        amount,
        currency_code,
        memo,
        request_time,
        impact_time,
        network,
        pin_present,
        mcc,
        acting_user_token,
    } = c;
    o.str(token);
    o.je_target(target);
    o.opt_str(related_token);
    o.opt_str(root_token);
    o.opt_str(card_token);
    o.variant(status_index(*status));
    o.opt_str(group);
    o.str(kind);
    o.money(*amount);
    o.variant(currency_index(*currency_code));
    o.opt_str(memo);
    o.opt_time(*request_time);
    o.opt_time(*impact_time);
    o.opt_str(network);
    o.opt_bool(*pin_present);
    o.opt_str(mcc);
    o.opt_str(acting_user_token);
}

/// Reads bincode's encodings (payload configuration) from a payload's
/// bytes, counting what bincode's size limit counts: every primitive's
/// `size_of` (whatever its varint's width), the bytes of strings, and
/// `size_of` of each element of a sequence not yet decoded. `None`: not
/// what bincode would accept here.
struct In<'a> {
    /// The bytes not yet read (the tail of `all`).
    bytes: &'a [u8],
    /// bincode's `bytes_read` (`claim_bytes_read`), bounded by `EVENT_BYTES_MAX`.
    claimed: usize,
    /// The whole payload.
    all: &'a [u8],
    /// A run of the payload's bytes already checked to be UTF-8, starting
    /// at `text_at`: the strings in it are sliced out of it, not checked
    /// one by one (see [`In::utf8`]).
    text: &'a str,
    text_at: usize,
}

/// The length of the run of ASCII bytes `bytes` starts with, read eight
/// bytes at a time.
#[inline]
fn ascii_run(bytes: &[u8]) -> usize {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut run = 0;
    for word in &mut words {
        let Ok(word) = <[u8; 8]>::try_from(word) else { break };
        let high = u64::from_le_bytes(word) & HIGH_BITS;
        if high != 0 {
            // the first byte with its high bit set (little-endian: the lowest)
            return run + (high.trailing_zeros() / 8) as usize;
        }
        run += 8;
    }
    run + words.remainder().iter().take_while(|b| b.is_ascii()).count()
}

impl<'a> In<'a> {
    fn new(all: &'a [u8]) -> In<'a> {
        In { bytes: all, claimed: 0, all, text: "", text_at: 0 }
    }

    /// The string of `len` bytes at `at` in the payload (`bytes`), if it is
    /// UTF-8. A string is sliced out of the run checked last when it lies
    /// in it (`str::get` refuses a slice that does not start and end on a
    /// character's boundary: what it gives is UTF-8 and those very bytes);
    /// otherwise the run of ASCII bytes it starts is checked at once —
    /// the strings of an event mostly follow one another with only ASCII
    /// bytes between them (lengths, option tags, variant indexes), so one
    /// check covers several, ≈ 110 instructions a string checked alone —
    /// and a string with other bytes in it is checked alone.
    #[inline]
    fn utf8(&mut self, at: usize, bytes: &'a [u8]) -> Option<&'a str> {
        let len = bytes.len();
        if let Some(s) = at.checked_sub(self.text_at).and_then(|from| self.text.get(from..from.checked_add(len)?)) {
            return Some(s);
        }
        let run = self.all.get(at..).map_or(0, ascii_run);
        if run < len {
            return std::str::from_utf8(bytes).ok();
        }
        self.text = std::str::from_utf8(self.all.get(at..at + run)?).ok()?;
        self.text_at = at;
        self.text.get(..len)
    }

    #[inline(always)]
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(b)
    }

    #[inline(always)]
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// A u64 varint (bincode accepts a value in a wider form than needed too).
    #[inline(always)]
    fn u64(&mut self) -> Option<u64> {
        self.claim(8)?;
        let b = self.byte()?;
        if u64::from(b) <= SINGLE_BYTE_TOP {
            Some(u64::from(b))
        } else {
            self.u64_wide(b)
        }
    }

    #[inline(never)]
    fn u64_wide(&mut self, tag: u8) -> Option<u64> {
        match tag {
            U16_TAG => Some(u64::from(u16::from_be_bytes(self.array()?))),
            U32_TAG => Some(u64::from(u32::from_be_bytes(self.array()?))),
            U64_TAG => Some(u64::from_be_bytes(self.array()?)),
            _ => None,
        }
    }

    /// A u32 varint: a u64's forms but the 8-byte one.
    #[inline(always)]
    fn u32(&mut self) -> Option<u32> {
        self.claim(4)?;
        let b = self.byte()?;
        match b {
            U16_TAG => Some(u32::from(u16::from_be_bytes(self.array()?))),
            U32_TAG => Some(u32::from_be_bytes(self.array()?)),
            _ if u64::from(b) <= SINGLE_BYTE_TOP => Some(u32::from(b)),
            _ => None,
        }
    }

    /// An i64: a u64 varint, zig-zag (bincode's `varint_decode_i64`).
    #[inline(always)]
    fn i64(&mut self) -> Option<i64> {
        let n = self.u64()?;
        Some(if n % 2 == 0 { (n / 2) as i64 } else { !(n / 2) as i64 })
    }

    /// An i32: a u32 varint, zig-zag (bincode's `varint_decode_i32`).
    fn i32(&mut self) -> Option<i32> {
        let n = self.u32()?;
        Some(if n % 2 == 0 { (n / 2) as i32 } else { !(n / 2) as i32 })
    }

    /// A variant index (a u32) below `count`.
    #[inline]
    fn variant(&mut self, count: u32) -> Option<u32> {
        self.u32().filter(|v| *v < count)
    }

    /// bincode's limit on what it allocates (`claim_bytes_read`).
    #[inline]
    fn claim(&mut self, n: usize) -> Option<()> {
        self.claimed = self.claimed.checked_add(n)?;
        (self.claimed <= limits::EVENT_BYTES_MAX).then_some(())
    }

    /// A sequence length (a u64).
    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok()
    }

    /// A string: its length, then that many bytes of UTF-8, built once
    /// from the borrowed bytes (a `String`, or a [`Token`] — inline when
    /// short — by the field's type).
    #[inline]
    fn str<T: From<&'a str>>(&mut self) -> Option<T> {
        let len = self.len()?;
        self.claim(len)?;
        let at = self.all.len() - self.bytes.len();
        let bytes = self.take(len)?;
        self.utf8(at, bytes).map(T::from)
    }

    /// A raw byte (a u8).
    #[inline(always)]
    fn u8(&mut self) -> Option<u8> {
        self.claim(1)?;
        self.byte()
    }

    /// An option's tag or a bool (a u8, 0 or 1).
    #[inline]
    fn some(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    #[inline]
    fn opt_str<T: From<&'a str>>(&mut self) -> Option<Option<T>> {
        match self.some()? {
            false => Some(None),
            true => self.str().map(Some),
        }
    }

    #[inline(always)]
    fn money(&mut self) -> Option<Money> {
        self.i64().map(Money::from_cents)
    }

    #[inline(always)]
    fn opt_time(&mut self) -> Option<Option<Timestamp>> {
        match self.some()? {
            false => Some(None),
            true => self.i64().map(|t| Some(Timestamp(t))),
        }
    }

    #[inline(always)]
    fn opt_bool(&mut self) -> Option<Option<bool>> {
        match self.some()? {
            false => Some(None),
            true => self.some().map(Some),
        }
    }

    fn holder(&mut self) -> Option<Holder> {
        match self.variant(2)? {
            0 => self.str().map(Holder::User),
            _ => self.str().map(Holder::Business),
        }
    }

    #[inline(always)]
    fn currency(&mut self) -> Option<Currency> {
        self.variant(1).map(|_| Currency::Usd)
    }

    fn funding(&mut self) -> Option<Funding> {
        let source_token = self.str()?;
        let kind = FUNDING_KINDS.get(usize::try_from(self.u32()?).ok()?).copied()?;
        Some(Funding { source_token, kind, program_token: self.str()? })
    }

    /// A sequence (a `Vec<T>`): its length, then its elements. bincode
    /// claims `size_of::<T>()` for every element first, and gives each back
    /// as it decodes it.
    fn seq<T>(&mut self, mut element: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let n = self.len()?;
        self.claim(n.checked_mul(std::mem::size_of::<T>())?)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            self.claimed = self.claimed.saturating_sub(std::mem::size_of::<T>());
            out.push(element(self)?);
        }
        Some(out)
    }
}

/// Funding kinds by variant index (declaration order; `funding_kind_index`'s inverse).
pub(crate) const FUNDING_KINDS: [FundingKind; 4] =
    [FundingKind::Program, FundingKind::ProgramGateway, FundingKind::Ach, FundingKind::PaymentCard];

/// Journal entry statuses by variant index (`status_index`'s inverse).
const STATUSES: [JeStatus; 5] =
    [JeStatus::Pending, JeStatus::Posted, JeStatus::Cleared, JeStatus::Declined, JeStatus::Error];

/// Effects by variant index (`effect_index`'s inverse).
pub(crate) const EFFECTS: [JeEffect; 14] = [
    JeEffect::NoBalance,
    JeEffect::Hold,
    JeEffect::Clearing,
    JeEffect::Reversal,
    JeEffect::PinPurchase,
    JeEffect::AtmWithdrawal,
    JeEffect::Refund,
    JeEffect::PendingRefund,
    JeEffect::Payment,
    JeEffect::Interest,
    JeEffect::Fee,
    JeEffect::AdjustmentCredit,
    JeEffect::AdjustmentDebit,
    JeEffect::Reward,
];

/// A whole payload (at most `EVENT_BYTES_MAX` bytes) decoded by hand, when
/// it holds a journal entry, a GPA order or a GPA unload and bincode's
/// derived decoding would decode it whole to the same fact. `None`:
/// another event, or bytes bincode would refuse (it then decides, with its
/// own error).
///
/// Each event's decoder builds the whole `Fact` in one expression, its
/// last field checked to end the payload ([`In::last`]): the fact is
/// written once, where it is returned, not built inside out (an event,
/// then a fact around it, then an option around that: a copy of the
/// ≈ 500-byte fact each, ≈ 75 instructions a copy).
#[inline]
pub(crate) fn decode_by_hand(bytes: &[u8]) -> Option<Fact> {
    let mut i = In::new(bytes);
    let fingerprint = i.u64()?;
    let tag = i.u8()?;
    let fingerprint_kind = match tag {
        0 | 1 => FingerprintKind::Blake3,
        2 | 3 => FingerprintKind::Sip13,
        4 | 5 => FingerprintKind::Sip13Payload,
        _ => return None,
    };
    let corrected_post_date = if tag % 2 == 1 { Some(Date(i.i32()?)) } else { None };
    let head = FactHead { fingerprint, fingerprint_kind, corrected_post_date };
    match i.u32()? {
        JOURNAL_ENTRY_RECORDED_INDEX => decode_journal_entry_recorded(&mut i, head),
        GPA_ORDERED_INDEX => decode_gpa_ordered(&mut i, head),
        GPA_UNLOADED_INDEX => decode_gpa_unloaded(&mut i, head),
        _ => None,
    }
}

/// `Some(Fact)` of a [`FactHead`] and an event, built in one expression
/// (a macro, not a function: the event is written in place, not moved in).
macro_rules! fact {
    ($head:expr, $event:expr) => {
        Some(Fact {
            fingerprint: $head.fingerprint,
            fingerprint_kind: $head.fingerprint_kind,
            corrected_post_date: $head.corrected_post_date,
            event: $event,
        })
    };
}

/// A fact's fields before its event.
struct FactHead {
    fingerprint: u64,
    fingerprint_kind: FingerprintKind,
    corrected_post_date: Option<Date>,
}

impl In<'_> {
    /// The payload's last field: `None` unless the payload ends right
    /// after it (the whole payload, as `decode_fact` demands).
    #[inline(always)]
    fn last<T>(&mut self, field: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let value = field(self)?;
        self.bytes.is_empty().then_some(value)
    }
}

fn decode_gpa_ordered(i: &mut In<'_>, h: FactHead) -> Option<Fact> {
    fact!(
        h,
        Event::GpaOrdered(GpaOrdered {
            cmd: GpaOrderCmd {
                token: i.str()?,
                holder: i.holder()?,
                amount: i.money()?,
                currency_code: i.currency()?,
                funding_source_token: i.opt_str()?,
                funding_source_address_token: i.opt_str()?,
                tags: i.opt_str()?,
                memo: i.opt_str()?,
                fees: i.seq(|i| Some(FeeRef { token: i.str()?, memo: i.opt_str()?, tags: i.opt_str()? }))?,
            },
            funding: i.funding()?,
            fees: i.last(|i| i.seq(|i| Some(ChargedFee { token: i.str()?, amount: i.money()? })))?,
        })
    )
}

fn decode_gpa_unloaded(i: &mut In<'_>, h: FactHead) -> Option<Fact> {
    fact!(
        h,
        Event::GpaUnloaded(GpaUnloaded {
            cmd: UnloadCmd {
                token: i.str()?,
                original_order_token: i.str()?,
                amount: i.money()?,
                tags: i.opt_str()?,
                memo: i.opt_str()?,
            },
            holder: i.holder()?,
            funding: i.last(In::funding)?,
        })
    )
}

fn decode_journal_entry_recorded(i: &mut In<'_>, h: FactHead) -> Option<Fact> {
    fact!(
        h,
        Event::JournalEntryRecorded(JournalEntryRecorded {
            cmd: JournalEntryCmd {
                token: i.str()?,
                target: match i.variant(2)? {
                    0 => JeTarget::Gpa(i.holder()?),
                    _ => JeTarget::Credit(i.str()?),
                },
                related_token: i.opt_str()?,
                root_token: i.opt_str()?,
                card_token: i.opt_str()?,
                status: STATUSES.get(usize::try_from(i.u32()?).ok()?).copied()?,
                group: i.opt_str()?,
                kind: i.str()?,
                amount: i.money()?,
                currency_code: i.currency()?,
                memo: i.opt_str()?,
                request_time: i.opt_time()?,
                impact_time: i.opt_time()?,
                network: i.opt_str()?,
                pin_present: i.opt_bool()?,
                mcc: i.opt_str()?,
                acting_user_token: i.opt_str()?,
            },
            program_token: i.str()?,
            effect: EFFECTS.get(usize::try_from(i.u32()?).ok()?).copied()?,
            hold_amount: i.money()?,
            jit_load: i.money()?,
            jit_unload: i.money()?,
            pending_credit: i.last(In::money)?,
        })
    )
}

/// Checks the hand decoder against bincode's derived decoding on any bytes
/// (at most `EVENT_BYTES_MAX`): what it decodes, bincode decodes to the same
/// fact, and a journal entry, GPA order or GPA unload that bincode decodes,
/// it decodes too (used by the fuzz body `fuzz_decode_fact` and the tests).
pub(crate) fn assert_decodes_as_derived(bytes: &[u8]) {
    let by_hand = decode_by_hand(bytes);
    let derived = crate::decode_derived(bytes).ok();
    match (&by_hand, &derived) {
        (Some(h), d) => assert_eq!(d.as_ref(), Some(h), "the hand decoder differs from bincode's"),
        (None, Some(d)) => assert!(
            !matches!(d.event, Event::JournalEntryRecorded(_) | Event::GpaOrdered(_) | Event::GpaUnloaded(_)),
            "the hand decoder refused a {} bincode decodes",
            d.event.kind()
        ),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::token::{Text, Token};

    fn entry(n: usize, amount: i64, time: i64, some: bool) -> JournalEntryRecorded {
        let s = |c: char| "x".repeat(n).replace('x', &c.to_string());
        let opt = |c: char| some.then(|| s(c));
        JournalEntryRecorded {
            cmd: JournalEntryCmd {
                token: s('t').into(),
                target: match n % 3 {
                    0 => JeTarget::Gpa(Holder::User(s('u').into())),
                    1 => JeTarget::Gpa(Holder::Business(s('b').into())),
                    _ => JeTarget::Credit(s('c').into()),
                },
                related_token: opt('r').map(Token::from),
                root_token: opt('o').map(Token::from),
                card_token: opt('k').map(Token::from),
                status: STATUSES[n % STATUSES.len()],
                group: opt('g').map(Text::from),
                kind: s('y').into(),
                amount: Money::from_cents(amount),
                currency_code: Currency::Usd,
                memo: opt('m').map(Text::from),
                request_time: some.then_some(Timestamp(time)),
                impact_time: some.then_some(Timestamp(time.wrapping_neg())),
                network: opt('n').map(Text::from),
                pin_present: some.then_some(n.is_multiple_of(2)),
                mcc: opt('c').map(Text::from),
                acting_user_token: opt('a').map(Token::from),
            },
            program_token: s('p').into(),
            effect: EFFECTS[n % EFFECTS.len()],
            hold_amount: Money::from_cents(-amount),
            jit_load: Money::from_cents(amount / 3),
            jit_unload: Money::from_cents(amount.wrapping_neg() / 7),
            pending_credit: Money::from_cents(amount / 11),
        }
    }

    /// Every varint width (lengths, amounts, times around 250, 2^16, 2^32,
    /// negative and extreme values), every option both ways, every target,
    /// status and effect: the same bytes as the derived encoding, and the
    /// command ends where the command's own encoding does.
    /// Every width of the varint, at its edges: the right-aligned bytes end
    /// with bincode's encoding of the value, zeros before it.
    #[test]
    fn a_right_aligned_varint_is_bincodes() {
        let edges = [0, 1, 250, 251, 255, 256, 65_535, 65_536, u64::from(u32::MAX), 1 << 32, u64::MAX - 1, u64::MAX];
        for v in edges {
            let derived = bincode::encode_to_vec(v, crate::codec()).unwrap();
            let (bytes, len) = u64_right_aligned(v);
            assert_eq!(len, derived.len(), "{v}");
            assert_eq!(&bytes[U64_VARINT_ROOM_BYTES - len..], &derived[..], "{v}");
            assert!(bytes[..U64_VARINT_ROOM_BYTES - len].iter().all(|&b| b == 0), "{v}");
            let mut out = Vec::new();
            Out(&mut out).u64(v);
            assert_eq!(out, derived, "{v}");
        }
    }

    #[test]
    fn a_journal_entry_encodes_to_the_derived_bytes() {
        let lengths = [0usize, 1, 13, 124, 125, 126, 249, 250, 251, 252, 1000, 65_535, 65_536, 70_001];
        let numbers = [0i64, 1, -1, 125, -125, 126, 32_767, 32_768, -32_769, 1 << 31, -(1 << 31) - 1, i64::MAX / 4];
        let times = [0i64, 1_700_000_000_000_000, -5, i64::MAX, i64::MIN];
        let mut n = 0;
        for len in lengths {
            for (i, amount) in numbers.iter().enumerate() {
                let time = times[i % times.len()];
                for some in [false, true] {
                    let je = entry(len + n % 14, *amount, time, some);
                    n += 1;
                    let what = format!("len {len} amount {amount} some {some}");
                    let command = crate::command::Command::JournalEntry(je.cmd.clone());
                    check_by_hand(&Event::JournalEntryRecorded(je), command, &what);
                }
            }
        }
    }

    /// The same bytes as the derived encoding, appended, and the command's end.
    fn check_by_hand(event: &Event, command: crate::command::Command, what: &str) {
        let want = bincode::encode_to_vec(event, crate::codec()).unwrap();
        let command_len = bincode::encode_to_vec(command, crate::codec()).unwrap().len();
        let mut out = vec![9u8; 3];
        let end = by_hand(event, &mut out).unwrap();
        assert_eq!(out[..3], [9, 9, 9], "appended, not overwritten");
        assert_eq!(out[3..], want[..], "{what}");
        assert_eq!(end, 3 + command_len, "where the command ends: {what}");
        check_decodes(event, what);
    }

    /// The event as a fact of every fingerprint kind, with and without a
    /// date, decodes by hand to itself; a short event, cut anywhere or with
    /// any byte changed to any varint tag or edge value, decodes by hand
    /// only as bincode does.
    fn check_decodes(event: &Event, what: &str) {
        let kinds = [FingerprintKind::Blake3, FingerprintKind::Sip13, FingerprintKind::Sip13Payload];
        let fingerprints = [0u64, 250, 251, 65_536, u64::MAX];
        let dates = [None, Some(Date(0)), Some(Date(-1)), Some(Date(738_000)), Some(Date(i32::MIN))];
        for (n, kind) in kinds.into_iter().enumerate() {
            for (m, date) in dates.into_iter().enumerate() {
                let fact = Fact {
                    fingerprint: fingerprints[(n + m) % fingerprints.len()],
                    fingerprint_kind: kind,
                    corrected_post_date: date,
                    event: event.clone(),
                };
                let bytes = bincode::encode_to_vec(&fact, crate::codec()).unwrap();
                let decoded = decode_by_hand(&bytes);
                if bytes.len() > limits::EVENT_BYTES_MAX {
                    // over the limit: bincode refuses it, and so does the hand decoder
                    assert!(decoded.is_none() && crate::decode_derived(&bytes).is_err(), "{what}");
                    continue;
                }
                assert!(decoded.as_ref() == Some(&fact), "{what}: decoded by hand to another fact");
                if n + m > 0 || bytes.len() > 400 {
                    continue;
                }
                for cut in 0..bytes.len() {
                    assert_eq!(decode_by_hand(&bytes[..cut]), None, "{what}: cut at {cut}");
                }
                let mut longer = bytes.clone();
                longer.push(0);
                assert_eq!(decode_by_hand(&longer), None, "{what}: a trailing byte");
                for at in 0..bytes.len() {
                    for b in [0u8, 1, 2, 3, 5, 6, 10, 11, 17, 0x7f, 0x80, 0xc3, 0xff, 249, 250, 251, 252, 253, 254] {
                        let mut changed = bytes.clone();
                        changed[at] = b;
                        assert_decodes_as_derived(&changed);
                    }
                }
            }
        }
    }

    /// Strings of other scripts (two-, three- and four-byte characters) at
    /// the start, middle and end of the strings checked together, next to
    /// ASCII ones and between them: a journal entry decodes by hand to
    /// itself, and changed or cut anywhere only as bincode decodes it (the
    /// checked run must never lend a string bytes it did not check).
    #[test]
    fn strings_of_any_script_decode_as_bincode_decodes_them() {
        let words = ["é", "añb", "€x", "x€", "🦀", "ab🦀cd", "", "plain", "ß€🦀"];
        for (n, w) in words.iter().enumerate() {
            for (m, other) in words.iter().enumerate() {
                let mut je = entry(3 + n % 2, 12_345, 1_700_000_000_000_000, true);
                je.cmd.token = format!("t{w}").into();
                je.cmd.related_token = Some((*other).into());
                je.cmd.group = Some(format!("{other}{w}").into());
                je.cmd.kind = (*w).into();
                je.cmd.memo = Some(format!("{w}-{other}").into());
                je.cmd.mcc = Some((*other).into());
                je.program_token = format!("{other}p{w}").into();
                check_decodes(&Event::JournalEntryRecorded(je), &format!("{w:?} and {other:?} ({n}, {m})"));
            }
        }
    }

    /// The run of ASCII bytes, at every length and at every place of its
    /// first other byte.
    #[test]
    fn the_ascii_run_ends_at_the_first_other_byte() {
        for len in 0..40 {
            let ascii = vec![b'a'; len];
            assert_eq!(ascii_run(&ascii), len);
            for at in 0..len {
                for b in [0x80u8, 0xc3, 0xff] {
                    let mut bytes = ascii.clone();
                    bytes[at] = b;
                    assert_eq!(ascii_run(&bytes), at, "len {len}, {b:#x} at {at}");
                }
            }
        }
    }

    /// The inverse tables of the variant indexes match the encoder's.
    #[test]
    fn the_decode_tables_invert_the_variant_indexes() {
        for (i, k) in FUNDING_KINDS.iter().enumerate() {
            assert_eq!(funding_kind_index(*k) as usize, i);
        }
        for (i, s) in STATUSES.iter().enumerate() {
            assert_eq!(status_index(*s) as usize, i);
        }
        for (i, e) in EFFECTS.iter().enumerate() {
            assert_eq!(effect_index(*e) as usize, i);
        }
    }

    /// bincode refuses a sequence whose elements' `size_of` would pass the
    /// size limit, even when its bytes are few, and counts every primitive
    /// and string byte before it: the hand decoder refuses exactly the same
    /// GPA orders (the most fee references that fit, the order's token one
    /// byte longer at a time across the limit).
    #[test]
    fn the_hand_decoder_counts_the_size_limit_as_bincode_does() {
        let fees = limits::EVENT_BYTES_MAX / std::mem::size_of::<FeeRef>() - 1;
        let (mut decoded, mut refused) = (0, 0);
        for len in 0..std::mem::size_of::<FeeRef>() * 2 {
            let fee = FeeRef { token: String::new().into(), memo: None, tags: None };
            let e = Event::GpaOrdered(GpaOrdered {
                cmd: GpaOrderCmd {
                    token: "t".repeat(len).into(),
                    holder: Holder::User("u".into()),
                    amount: Money::from_cents(5),
                    currency_code: Currency::Usd,
                    funding_source_token: None,
                    funding_source_address_token: None,
                    tags: None,
                    memo: None,
                    fees: vec![fee; fees],
                },
                funding: Funding { source_token: "f".into(), kind: FundingKind::Program, program_token: "p".into() },
                fees: vec![],
            });
            let fact = Fact {
                fingerprint: 1,
                fingerprint_kind: FingerprintKind::Sip13Payload,
                corrected_post_date: None,
                event: e,
            };
            let bytes = bincode::encode_to_vec(&fact, crate::codec()).unwrap();
            let derived = crate::decode_derived(&bytes);
            assert_decodes_as_derived(&bytes);
            assert_eq!(decode_by_hand(&bytes).is_some(), derived.is_ok(), "a token of {len} bytes");
            match derived {
                Ok(_) => decoded += 1,
                Err(e) => {
                    assert_eq!(e, "LimitExceeded", "a token of {len} bytes");
                    refused += 1;
                }
            }
        }
        assert!(
            decoded > 0 && refused > 0,
            "the limit lies among the lengths tried: {decoded} decoded, {refused} refused"
        );
    }

    fn funding(s: &dyn Fn(char) -> String, n: usize) -> Funding {
        Funding {
            source_token: s('f').into(),
            kind: FUNDING_KINDS[n % FUNDING_KINDS.len()],
            program_token: s('p').into(),
        }
    }

    /// GPA orders and unloads: every varint width of lengths and amounts,
    /// every option both ways, both holders, every funding kind, 0–3 fees.
    #[test]
    fn gpa_orders_and_unloads_encode_to_the_derived_bytes() {
        use crate::command::Command;
        let lengths = [0usize, 1, 13, 124, 125, 126, 249, 250, 251, 252, 1000, 65_535, 65_536, 70_001];
        let numbers = [0i64, 1, -1, 125, -125, 126, 32_767, 32_768, -32_769, 1 << 31, -(1 << 31) - 1, i64::MAX / 4];
        let mut n = 0usize;
        for len in lengths {
            for amount in numbers {
                for some in [false, true] {
                    let len = len + n % 5;
                    let s = |c: char| c.to_string().repeat(len);
                    let opt = |c: char| some.then(|| s(c));
                    let holder =
                        if n.is_multiple_of(2) { Holder::User(s('u').into()) } else { Holder::Business(s('b').into()) };
                    let refs: Vec<FeeRef> = (0..n % 4)
                        .map(|i| FeeRef { token: format!("{}{i}", s('e')).into(), memo: opt('m'), tags: opt('g') })
                        .collect();
                    let charged: Vec<ChargedFee> = (0..(n + 1) % 4)
                        .map(|i| ChargedFee {
                            token: format!("{}{i}", s('e')).into(),
                            amount: Money::from_cents(amount / 3),
                        })
                        .collect();
                    let cmd = GpaOrderCmd {
                        token: s('t').into(),
                        holder: holder.clone(),
                        amount: Money::from_cents(amount),
                        currency_code: Currency::Usd,
                        funding_source_token: opt('s').map(Token::from),
                        funding_source_address_token: opt('a').map(Token::from),
                        tags: opt('g'),
                        memo: opt('m'),
                        fees: refs,
                    };
                    let what = format!("gpa_order len {len} amount {amount} some {some} n {n}");
                    let e = Event::GpaOrdered(GpaOrdered { cmd: cmd.clone(), funding: funding(&s, n), fees: charged });
                    check_by_hand(&e, Command::GpaOrder(cmd), &what);
                    let cmd = UnloadCmd {
                        token: s('t').into(),
                        original_order_token: s('o').into(),
                        amount: Money::from_cents(amount),
                        tags: opt('g'),
                        memo: opt('m'),
                    };
                    let e = Event::GpaUnloaded(GpaUnloaded { cmd: cmd.clone(), holder, funding: funding(&s, n + 1) });
                    check_by_hand(&e, Command::GpaUnload(cmd), &what.replace("gpa_order", "gpa_unload"));
                    n += 1;
                }
            }
        }
    }

    /// Events not encoded by hand are left to the derived encoder: nothing written.
    #[test]
    fn other_events_are_not_encoded_by_hand() {
        let e = Event::Ticked(crate::command::TickCmd { now: Timestamp(5) });
        let mut out = vec![1u8];
        assert_eq!(by_hand(&e, &mut out), None);
        assert_eq!(out, [1]);
    }
}
