//! Hand-written payload encoders for the hottest events: a journal entry
//! (two thirds of the demo mix's events), a GPA order and a GPA unload
//! (most of the rest). They write straight into the
//! payload's `Vec` exactly the bytes bincode's derived encoding writes in the
//! payload configuration ([`crate::codec`]: big-endian varints) — bincode
//! walks every field through its generic encoder, ≈ 1,100 instructions for a
//! journal entry's command (docs/performance.md, "Issue 13: commit path,
//! fourth pass"). Decoding stays bincode's; the golden fixtures and the
//! tests below check the bytes are the derived ones.

use crate::command::{
    Currency, FeeRef, FundingKind, GpaOrderCmd, Holder, JeStatus, JeTarget, JournalEntryCmd, UnloadCmd,
};
use crate::event::{ChargedFee, Event, Funding, GpaOrdered, GpaUnloaded, JeEffect, JournalEntryRecorded};
use crate::money::Money;
use crate::time::Timestamp;

/// bincode's varint tags (`bincode::varint`): a value up to 250 is its own
/// byte; above, a tag then the value big-endian in 2, 4 or 8 bytes.
const SINGLE_BYTE_TOP: u64 = 250;
const U16_TAG: u8 = 251;
const U32_TAG: u8 = 252;
const U64_TAG: u8 = 253;

/// Appends bincode's encodings (payload configuration) to a `Vec`.
struct Out<'a>(&'a mut Vec<u8>);

impl Out<'_> {
    /// A u64 varint: one byte inline (lengths, variant indexes, most
    /// options' contents), the wider forms out of line.
    #[inline(always)]
    fn u64(&mut self, v: u64) {
        if v <= SINGLE_BYTE_TOP {
            self.0.push(v as u8);
        } else {
            self.u64_wide(v);
        }
    }

    #[inline(never)]
    fn u64_wide(&mut self, v: u64) {
        if let Ok(v) = u16::try_from(v) {
            self.0.push(U16_TAG);
            self.0.extend_from_slice(&v.to_be_bytes());
        } else if let Ok(v) = u32::try_from(v) {
            self.0.push(U32_TAG);
            self.0.extend_from_slice(&v.to_be_bytes());
        } else {
            self.0.push(U64_TAG);
            self.0.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// An i64: zig-zag, then as a u64 (bincode's `varint_encode_i64`).
    #[inline]
    fn i64(&mut self, v: i64) {
        let bits = v as u64;
        self.u64(if v < 0 { (!bits << 1) | 1 } else { bits << 1 });
    }

    /// A variant index (a u32, written as a u64 of the same value).
    #[inline]
    fn variant(&mut self, index: u32) {
        self.u64(u64::from(index));
    }

    #[inline]
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    #[inline]
    fn opt_str(&mut self, s: &Option<String>) {
        match s {
            None => self.0.push(0),
            Some(s) => {
                self.0.push(1);
                self.str(s);
            }
        }
    }

    #[inline]
    fn money(&mut self, m: Money) {
        self.i64(m.cents());
    }

    #[inline]
    fn opt_time(&mut self, t: Option<Timestamp>) {
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

    fn holder(&mut self, h: &Holder) {
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
    fn funding(&mut self, f: &Funding) {
        let Funding { source_token, kind, program_token } = f;
        self.str(source_token);
        self.variant(funding_kind_index(*kind));
        self.str(program_token);
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
fn effect_index(e: JeEffect) -> u32 {
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
    let mut o = Out(out);
    o.variant(JOURNAL_ENTRY_RECORDED_INDEX);
    journal_entry_cmd(cmd, &mut o);
    let command_end = o.0.len();
    o.str(program_token);
    o.variant(effect_index(*effect));
    o.money(*hold_amount);
    o.money(*jit_load);
    o.money(*jit_unload);
    o.money(*pending_credit);
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
    match target {
        JeTarget::Gpa(h) => {
            o.variant(0);
            o.holder(h);
        }
        JeTarget::Credit(a) => {
            o.variant(1);
            o.str(a);
        }
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn entry(n: usize, amount: i64, time: i64, some: bool) -> JournalEntryRecorded {
        let s = |c: char| "x".repeat(n).replace('x', &c.to_string());
        let opt = |c: char| some.then(|| s(c));
        JournalEntryRecorded {
            cmd: JournalEntryCmd {
                token: s('t'),
                target: match n % 3 {
                    0 => JeTarget::Gpa(Holder::User(s('u'))),
                    1 => JeTarget::Gpa(Holder::Business(s('b'))),
                    _ => JeTarget::Credit(s('c')),
                },
                related_token: opt('r'),
                root_token: opt('o'),
                card_token: opt('k'),
                status: [JeStatus::Pending, JeStatus::Posted, JeStatus::Cleared, JeStatus::Declined, JeStatus::Error]
                    [n % 5],
                group: opt('g'),
                kind: s('y'),
                amount: Money::from_cents(amount),
                currency_code: Currency::Usd,
                memo: opt('m'),
                request_time: some.then_some(Timestamp(time)),
                impact_time: some.then_some(Timestamp(time.wrapping_neg())),
                network: opt('n'),
                pin_present: some.then_some(n.is_multiple_of(2)),
                mcc: opt('c'),
                acting_user_token: opt('a'),
            },
            program_token: s('p'),
            effect: [
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
            ][n % 14],
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
    }

    fn funding(s: &dyn Fn(char) -> String, n: usize) -> Funding {
        let kinds = [FundingKind::Program, FundingKind::ProgramGateway, FundingKind::Ach, FundingKind::PaymentCard];
        Funding { source_token: s('f'), kind: kinds[n % 4], program_token: s('p') }
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
                    let holder = if n.is_multiple_of(2) { Holder::User(s('u')) } else { Holder::Business(s('b')) };
                    let refs: Vec<FeeRef> = (0..n % 4)
                        .map(|i| FeeRef { token: format!("{}{i}", s('e')), memo: opt('m'), tags: opt('g') })
                        .collect();
                    let charged: Vec<ChargedFee> = (0..(n + 1) % 4)
                        .map(|i| ChargedFee { token: format!("{}{i}", s('e')), amount: Money::from_cents(amount / 3) })
                        .collect();
                    let cmd = GpaOrderCmd {
                        token: s('t'),
                        holder: holder.clone(),
                        amount: Money::from_cents(amount),
                        currency_code: Currency::Usd,
                        funding_source_token: opt('s'),
                        funding_source_address_token: opt('a'),
                        tags: opt('g'),
                        memo: opt('m'),
                        fees: refs,
                    };
                    let what = format!("gpa_order len {len} amount {amount} some {some} n {n}");
                    let e = Event::GpaOrdered(GpaOrdered { cmd: cmd.clone(), funding: funding(&s, n), fees: charged });
                    check_by_hand(&e, Command::GpaOrder(cmd), &what);
                    let cmd = UnloadCmd {
                        token: s('t'),
                        original_order_token: s('o'),
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
