//! JSON responses shaped as the source pages return them (product.md §4).
//! A response is a pure function of the recorded event and a few state
//! facts (funding source details, an order's flag and balances, fee and
//! offer resources), so an idempotent resubmission gets the original result
//! back.
//!
//! Rendering is split in two so that the engine does only the cheap half
//! under its state lock (issue 13, docs/performance.md "Responses rendered
//! off the engine thread"): [`Response::capture`] takes the recorded event
//! and copies the few state facts its response reads, at that moment;
//! [`Response::write`] writes the JSON straight into bytes (no
//! `serde_json::Value`, no map), on whatever thread the host answers from
//! (the ingest pipeline's writer, an HTTP handler). This file is the one
//! home of every response rule: the `Value` forms ([`response`],
//! [`msa_order_now`], [`balances_json`], the created kinds of
//! [`event_body`]) parse the bytes of the same writer.
//!
//! The bytes are what `serde_json::to_writer` printed for the `Value`s the
//! renderer built before (the workspace's `preserve_order` and
//! `arbitrary_precision` features: members in insertion order, a number
//! printed as its text): same member order, same string escaping
//! (`tests/response_oracle.rs` compares the two).

use std::fmt::Display;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::command::{FeeCmd, FundingKind, Holder, OfferCmd, Token};
use crate::event::*;
use crate::money::Money;
use crate::state::{Balances, Book, Ledger};
use crate::time::Timestamp;

/// Masks a funding source token: ten `*` then its last four characters.
pub fn mask(token: &str) -> String {
    format!("**********{}", mask_tail(token))
}

/// The last four characters of a token.
fn mask_tail(token: &str) -> &str {
    let start = token.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
    token.get(start..).unwrap_or(token)
}

/// A program funding source's `account` (product.md §4): a 12-digit account
/// number derived from its token (blake3, first 8 bytes, modulo 10^12), so
/// the same token always shows the same number and nothing is random.
pub fn program_account_number(token: &str) -> String {
    let h = blake3::hash(token.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    format!("{:012}", u64::from_be_bytes(first) % 1_000_000_000_000)
}

// ---- what a response reads from the state ---------------------------------

/// A funding source's details as a response shows them.
#[derive(Clone, Debug, PartialEq)]
struct SourceFacts {
    created: Timestamp,
    active: bool,
    name: String,
    is_default_account: bool,
}

impl SourceFacts {
    fn of(ledger: &Ledger, token: &str) -> Option<SourceFacts> {
        ledger.funding_sources.get(token).map(|f| SourceFacts {
            created: f.created,
            active: f.cmd.active,
            name: f.cmd.name.clone(),
            is_default_account: f.cmd.is_default_account,
        })
    }
}

/// An MSA order as it stands (retrieve, and the answer to an update).
#[derive(Clone, Debug, PartialEq)]
struct OrderNow {
    token: Token,
    holder: Holder,
    campaign_token: Token,
    purchase_amount: Money,
    reward_amount: Money,
    reward_trigger_amount: Money,
    funding: Funding,
    source: Option<SourceFacts>,
    start_date: Option<Timestamp>,
    end_date: Option<Timestamp>,
    created: Timestamp,
    last_modified: Timestamp,
    active: bool,
    order: MsaBalance,
    aggregated: MsaBalance,
    seq: u64,
}

impl OrderNow {
    fn of(ledger: &Ledger, token: &str) -> Option<OrderNow> {
        let s = ledger.order(Book::Msa, token)?;
        let campaign = s.campaign_token.clone().unwrap_or_default();
        let agg = ledger.msa_balances(&s.holder, &campaign);
        Some(OrderNow {
            token: Token::from(token),
            holder: s.holder.clone(),
            purchase_amount: s.amount,
            reward_amount: s.reward_amount,
            reward_trigger_amount: s.reward_trigger_amount,
            source: SourceFacts::of(ledger, &s.funding.source_token),
            funding: s.funding.clone(),
            start_date: s.start_date,
            end_date: s.end_date,
            created: s.created,
            last_modified: s.last_modified,
            active: s.active,
            order: MsaBalance { ledger: s.amount.minus(s.unloaded), credit: Money::ZERO },
            aggregated: MsaBalance { ledger: agg.ledger_balance, credit: agg.credit_balance },
            seq: s.seq,
            campaign_token: campaign,
        })
    }

    fn view(&self) -> MsaOrderView<'_> {
        MsaOrderView {
            token: &self.token,
            holder: &self.holder,
            campaign_token: &self.campaign_token,
            purchase_amount: self.purchase_amount,
            reward_amount: self.reward_amount,
            reward_trigger_amount: self.reward_trigger_amount,
            funding: &self.funding,
            source: self.source.as_ref(),
            start_date: self.start_date,
            end_date: self.end_date,
            created: self.created,
            last_modified: self.last_modified,
            active: self.active,
            order: self.order,
            aggregated: self.aggregated,
            transaction_seq: self.seq,
        }
    }
}

/// The state facts one event's response reads, copied at capture time.
#[derive(Clone, Debug, PartialEq)]
enum Facts {
    /// The response is a function of the event alone.
    None,
    /// The funding source used (GPA unloads, MSA orders).
    Source(Option<SourceFacts>),
    /// A GPA order: its funding source and each charged fee as created.
    GpaOrder(Option<SourceFacts>, Vec<(FeeCmd, Timestamp)>),
    /// An MSA unload: its order's `active` flag.
    OrderActive(bool),
    /// An offer order: the offer as created.
    Offer(Option<(OfferCmd, Timestamp)>),
    /// An MSA order update: the whole order as it stands after it.
    OrderNow(Option<Box<OrderNow>>),
}

impl Facts {
    fn capture(rec: &Recorded, ledger: &Ledger) -> Facts {
        match &rec.fact.event {
            Event::GpaOrdered(e) => {
                let fees = e
                    .fees
                    .iter()
                    .zip(&e.cmd.fees)
                    .map(|(c, _)| {
                        // a charged fee always names a created fee (`decide`
                        // checks it), and fees are never removed
                        let Some((f, created)) = ledger.fees.get(&c.token) else {
                            unreachable!("order charged fee {:?}, which the ledger does not hold", c.token)
                        };
                        (f.clone(), *created)
                    })
                    .collect();
                Facts::GpaOrder(SourceFacts::of(ledger, &e.funding.source_token), fees)
            }
            Event::GpaUnloaded(e) => Facts::Source(SourceFacts::of(ledger, &e.funding.source_token)),
            Event::MsaOrdered(e) => Facts::Source(SourceFacts::of(ledger, &e.funding.source_token)),
            // the order's flag as it stands: an unload is refused while its
            // order is inactive, and never shows an inactive order as active
            Event::MsaUnloaded(e) => {
                Facts::OrderActive(ledger.order(Book::Msa, &e.cmd.original_order_token).is_none_or(|o| o.active))
            }
            Event::OfferOrdered(e) => Facts::Offer(ledger.offers.get(&e.cmd.offer_token).cloned()),
            Event::MsaOrderUpdated(c) => Facts::OrderNow(OrderNow::of(ledger, &c.token).map(Box::new)),
            Event::FeeTransferred(_)
            | Event::JournalEntryRecorded(_)
            | Event::ProgramDeposited(_)
            | Event::Ticked(_)
            | Event::CyclesClosed(_)
            | Event::ProgramCreated(_)
            | Event::UserCreated(_)
            | Event::BusinessCreated(_)
            | Event::FundingSourceCreated { .. }
            | Event::FundingSourceAddressCreated(_)
            | Event::FeeCreated(_)
            | Event::CampaignCreated(_)
            | Event::MerchantCreated(_)
            | Event::OfferCreated(_)
            | Event::CreditAccountOpened(_) => Facts::None,
        }
    }
}

/// The response of one recorded event, captured but not yet rendered: the
/// event (shared, not copied) and the state facts its response reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    rec: Arc<Recorded>,
    facts: Facts,
}

impl Response {
    /// Takes what the response of `rec` needs from `ledger` now (the state
    /// right after `rec` was applied, or at a resubmission). Cheap: a few
    /// lookups and small copies; the rendering is [`Response::write`].
    pub fn capture(rec: Arc<Recorded>, ledger: &Ledger) -> Response {
        let facts = Facts::capture(&rec, ledger);
        Response { rec, facts }
    }

    /// The recorded event.
    pub fn recorded(&self) -> &Recorded {
        &self.rec
    }

    /// Appends the response's compact JSON to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        write_response(out, &self.rec, &self.facts);
    }

    /// The response's compact JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write(&mut out);
        out
    }

    /// The response as a JSON value (the bytes of [`Response::write`], parsed).
    pub fn to_value(&self) -> Value {
        parse(&self.to_bytes())
    }
}

/// The response of a recorded event, as the command that caused it returned
/// it, against the state `ledger` (see [`Response`]).
pub fn response(rec: &Recorded, ledger: &Ledger) -> Value {
    let facts = Facts::capture(rec, ledger);
    let mut out = Vec::with_capacity(512);
    write_response(&mut out, rec, &facts);
    parse(&out)
}

/// An MSA order as it stands now (retrieve, and the answer to an update):
/// current order balances, flags, dates and the holder's MSA for the campaign.
pub fn msa_order_now(token: &str, ledger: &Ledger) -> Option<Value> {
    let now = OrderNow::of(ledger, token)?;
    let mut out = Vec::with_capacity(512);
    let mut o = Obj::new(&mut out);
    write_msa_order(&mut o, &now.view());
    o.end();
    Some(parse(&out))
}

/// The balances object of the source pages, with the nested `balances {USD: …}`.
pub fn balances_json(b: &Balances, with_impacted: bool, nested: bool) -> Value {
    let mut out = Vec::with_capacity(256);
    write_balances(Obj::new(&mut out), b, with_impacted, nested);
    parse(&out)
}

/// Bytes this file wrote, as a `Value` (they are always JSON).
fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        unreachable!("the response writer wrote invalid JSON ({e}): {}", String::from_utf8_lossy(bytes))
    })
}

// ---- the writer ------------------------------------------------------------

/// Appends formatted text (integers, times, decimals) to `out`.
fn put(out: &mut Vec<u8>, args: std::fmt::Arguments<'_>) {
    if let Err(e) = std::io::Write::write_fmt(out, args) {
        unreachable!("writing into a Vec cannot fail: {e}")
    }
}

/// A JSON string, escaped as serde_json escapes it: `"`, `\` and the
/// control characters below U+0020 (`\b \t \n \f \r` short, the others
/// `\u00XX` in lowercase hex); everything else as is. The answer lines'
/// own strings (`ingest::write_answer`) are written by it too.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // most strings need no escape
    if needs_escape(bytes) {
        out.push(b'"');
        write_escaped(out, bytes);
        out.push(b'"');
    } else {
        copy_plain::<true>(out, bytes);
    }
}

/// [`write_str`] without its quotes.
fn write_str_inner(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if needs_escape(bytes) {
        write_escaped(out, bytes);
    } else {
        copy_plain::<false>(out, bytes);
    }
}

/// `bytes` escaped (see [`write_str`]), without quotes: out of line, so
/// that the plain strings' path saves no registers for it.
#[cold]
#[inline(never)]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0a => b"\\n",
            0x0c => b"\\f",
            0x0d => b"\\r",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        if short.is_empty() {
            put(out, format_args!("\\u{b:04x}"));
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
}

/// Appends `bytes` (nothing to escape), between quotes when `QUOTED`: a
/// string of 4 to 32 bytes (tokens, codes, types, memos) as two
/// fixed-size copies, the opening quote (if any) and the first 4, 8 or 16
/// bytes, then the last as many and the closing quote (if any) over the
/// first copy's tail; any other as it is. Two capacity checks, not up to
/// four, and no `memcpy` call.
#[inline(always)]
fn copy_plain<const QUOTED: bool>(out: &mut Vec<u8>, bytes: &[u8]) {
    /// The opening quote (if any) and the first `N` bytes, then the last
    /// `N` and the closing quote (if any), the second over the first's
    /// tail (`N ≤ bytes.len() ≤ 2N`).
    #[inline(always)]
    fn two_copies<const N: usize, const QUOTED: bool>(
        out: &mut Vec<u8>,
        bytes: &[u8],
        first: &[u8; N],
        last: &[u8; N],
    ) {
        let q = usize::from(QUOTED);
        let end = out.len() + bytes.len() + 2 * q;
        let mut open = [b'"'; 32 + 1];
        let mut close = [b'"'; 32 + 1];
        if let (Some(o), Some(c)) = (open.get_mut(q..q + N), close.get_mut(..N)) {
            o.copy_from_slice(first);
            c.copy_from_slice(last);
        }
        out.extend_from_slice(open.get(..q + N).unwrap_or_default());
        out.truncate(end - (N + q));
        out.extend_from_slice(close.get(..N + q).unwrap_or_default());
    }
    if let (Some(first), Some(last)) = (bytes.first_chunk::<16>(), bytes.last_chunk::<16>()) {
        if bytes.len() <= 32 {
            return two_copies::<16, QUOTED>(out, bytes, first, last);
        }
    } else if let (Some(first), Some(last)) = (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
        return two_copies::<8, QUOTED>(out, bytes, first, last);
    } else if let (Some(first), Some(last)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        return two_copies::<4, QUOTED>(out, bytes, first, last);
    }
    if QUOTED {
        out.push(b'"');
    }
    out.extend_from_slice(bytes);
    if QUOTED {
        out.push(b'"');
    }
}

/// Whether any byte of `bytes` is one [`write_str`] escapes (`"`, `\\`,
/// below U+0020), eight bytes at a time: the words of the string, the last
/// one overlapping the one before it (a string of 4 to 7 bytes: its first
/// and its last four bytes, as one word). Most strings written are tokens
/// and codes of 5 to 25 bytes, where a byte-wise pass costs several
/// instructions a byte (docs/performance.md, "the JSON path, tenth pass").
#[inline(always)]
fn needs_escape(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    let mut any = false;
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        any |= word_needs_escape(u64::from_le_bytes(*word));
        rest = tail;
    }
    if rest.is_empty() {
        return any;
    }
    if let Some(last) = bytes.last_chunk::<8>() {
        return any | word_needs_escape(u64::from_le_bytes(*last));
    }
    match (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        (Some(first), Some(last)) => {
            word_needs_escape(u64::from(u32::from_le_bytes(*first)) | (u64::from(u32::from_le_bytes(*last)) << 32))
        }
        _ => bytes.iter().fold(false, |esc, &b| esc | (b < 0x20) | (b == b'"') | (b == b'\\')),
    }
}

/// Whether any of the eight bytes of `w` is below 0x20, `"` or `\\`. Per
/// test, `(v - n·ONES) & !v` keeps a byte's high bit only where a byte
/// below `n` (n ≤ 0x80) borrowed: exact for the word as a whole (bytes of
/// 0x80 and above never set it themselves).
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = zero_byte(w ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(w ^ (ONES * u64::from(b'\\')));
    (below_space | quote | backslash) & HIGH != 0
}

/// Whether `text` is a JSON number (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`).
fn is_json_number(text: &[u8]) -> bool {
    let digits = |t: &[u8]| t.iter().take_while(|c| c.is_ascii_digit()).count();
    let t = text.strip_prefix(b"-").unwrap_or(text);
    let int = digits(t);
    if int == 0 || (int > 1 && t.first() == Some(&b'0')) {
        return false;
    }
    let mut t = t.get(int..).unwrap_or_default();
    if let Some(rest) = t.strip_prefix(b".") {
        let frac = digits(rest);
        if frac == 0 {
            return false;
        }
        t = rest.get(frac..).unwrap_or_default();
    }
    if let Some(rest) = t.strip_prefix(b"e").or_else(|| t.strip_prefix(b"E")) {
        let rest = rest.strip_prefix(b"+").or_else(|| rest.strip_prefix(b"-")).unwrap_or(rest);
        let exp = digits(rest);
        if exp == 0 {
            return false;
        }
        t = rest.get(exp..).unwrap_or_default();
    }
    t.is_empty()
}

/// An amount as [`Money::to_json`] gives it: the normalized decimal as a
/// JSON number, or as a string should its text not be one. An amount of
/// whole cents (every amount the engine makes) is written from the integer.
fn write_money(out: &mut Vec<u8>, m: Money) {
    match m.exact_cents() {
        Some(cents) => write_cents(out, cents),
        None => write_decimal(out, m),
    }
}

/// An amount through `Decimal::normalize` and its `Display`: the normalized
/// decimal as a JSON number, or as a string should its text not be one.
fn write_decimal(out: &mut Vec<u8>, m: Money) {
    let start = out.len();
    put(out, format_args!("{}", m.decimal().normalize()));
    if !is_json_number(out.get(start..).unwrap_or_default()) {
        out.insert(start, b'"');
        out.push(b'"');
    }
}

/// `cents / 100` as `Decimal::normalize` displays it: no trailing zeros in
/// the fraction, no point for a whole amount, no sign for zero (always a
/// JSON number).
fn write_cents(out: &mut Vec<u8>, cents: i64) {
    if cents < 0 {
        out.push(b'-');
    }
    let abs = cents.unsigned_abs();
    write_u64(out, abs / 100);
    let frac = (abs % 100) as u8;
    if frac != 0 {
        out.push(b'.');
        out.push(b'0' + frac / 10);
        if !frac.is_multiple_of(10) {
            out.push(b'0' + frac % 10);
        }
    }
}

/// The two digits of every number below 100, in order (`00` to `99`).
const DIGIT_PAIRS: &[u8; 200] =
    b"0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849\
5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/// An integer's decimal digits (as `Display` writes them): counted first,
/// written into a buffer of 20 (the most a `u64` has), and that buffer
/// copied whole and cut (a fixed-size copy, not a `memcpy` call).
pub fn write_u64(out: &mut Vec<u8>, n: u64) {
    let len = n.checked_ilog10().map_or(1, |l| l as usize + 1);
    let mut buf = [b'0'; 20];
    let mut n = n;
    // two digits a division, from a table (half the divisions of one a digit)
    let mut end = len;
    while end >= 2 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        if let (Some(d), Some(p)) = (buf.get_mut(end - 2..end), DIGIT_PAIRS.get(pair..pair + 2)) {
            d.copy_from_slice(p);
        }
        end -= 2;
    }
    if end == 1 {
        // what is left of `n` is one digit
        buf[0] = b'0' + n as u8;
    }
    let start = out.len();
    out.extend_from_slice(&buf);
    out.truncate(start + len);
}

/// A JSON object being written: members in call order.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut Vec<u8>) -> Obj<'a> {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// The member's key (a name from this file: nothing to escape); the
    /// value comes next. Inlined, as are the members' methods below, so
    /// that each key is a constant where it is written: its copy is a few
    /// fixed-size moves, not a call of `memcpy` with a length (it was ≈ 65
    /// instructions a key, ≈ 840 a line: docs/performance.md, "the JSON
    /// path, tenth pass").
    /// The separator and the key's opening quote are one append (`,"`).
    #[inline(always)]
    fn key(&mut self, k: &str) -> &mut Vec<u8> {
        if self.first {
            self.out.push(b'"');
        } else {
            self.out.extend_from_slice(b",\"");
        }
        self.first = false;
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    #[inline(always)]
    fn str(&mut self, k: &str, v: &str) {
        write_str(self.key(k), v);
    }

    /// A name from this crate's code (`USD`, a status, a kind): a
    /// `&'static str` of letters, digits, `_` and `.`, nothing to escape.
    #[inline(always)]
    fn name(&mut self, k: &str, v: &'static str) {
        debug_assert!(!needs_escape(v.as_bytes()), "{v:?}");
        let out = self.key(k);
        out.push(b'"');
        out.extend_from_slice(v.as_bytes());
        out.push(b'"');
    }

    /// A string, or no member when absent.
    #[inline(always)]
    fn some_str(&mut self, k: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }

    /// A string, or `null` when absent.
    #[inline(always)]
    fn opt_str(&mut self, k: &str, v: Option<&str>) {
        match v {
            Some(v) => self.str(k, v),
            None => self.key(k).extend_from_slice(b"null"),
        }
    }

    #[inline(always)]
    fn bool(&mut self, k: &str, v: bool) {
        self.key(k).extend_from_slice(if v { b"true" } else { b"false" });
    }

    #[inline(always)]
    fn null(&mut self, k: &str) {
        self.key(k).extend_from_slice(b"null");
    }

    /// An integer.
    #[inline(always)]
    fn int(&mut self, k: &str, v: impl Display) {
        put(self.key(k), format_args!("{v}"));
    }

    /// A time, quoted.
    #[inline(always)]
    fn time(&mut self, k: &str, t: Timestamp) {
        t.write_rfc3339_quoted(self.key(k));
    }

    /// A sequence number as text (`transaction_token`).
    #[inline(always)]
    fn seq(&mut self, k: &str, n: u64) {
        let out = self.key(k);
        out.push(b'"');
        write_u64(out, n);
        out.push(b'"');
    }

    #[inline(always)]
    fn money(&mut self, k: &str, m: Money) {
        write_money(self.key(k), m);
    }

    /// A masked funding source token.
    #[inline(always)]
    fn masked(&mut self, k: &str, token: &str) {
        let out = self.key(k);
        out.extend_from_slice(b"\"**********");
        write_str_inner(out, mask_tail(token));
        out.push(b'"');
    }

    /// The holder's member: each key a constant where it is written (with
    /// `h.field()` it was a `memcpy` call of a length known only then).
    #[inline(always)]
    fn holder(&mut self, h: &Holder) {
        match h {
            Holder::User(t) => self.str("user_token", t),
            Holder::Business(t) => self.str("business_token", t),
        }
    }

    /// An array of strings.
    #[inline(always)]
    fn strs(&mut self, k: &str, v: &[String]) {
        let out = self.key(k);
        out.push(b'[');
        for (i, s) in v.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, s);
        }
        out.push(b']');
    }

    /// A nested object: write its members, then [`Obj::end`] it.
    #[inline(always)]
    fn obj(&mut self, k: &str) -> Obj<'_> {
        Obj::new(self.key(k))
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

/// `{"code": "0000", "memo": …}`.
fn approved(o: &mut Obj<'_>) {
    o.key("response").extend_from_slice(br#"{"code":"0000","memo":"Approved or completed successfully"}"#);
}

fn write_funding(o: &mut Obj<'_>, funding: &Funding, src: Option<&SourceFacts>, amount: Money) {
    let mut f = o.obj("funding");
    f.money("amount", amount);
    let mut s = f.obj("source");
    s.name("type", funding.kind.name());
    s.masked("token", &funding.source_token);
    s.bool("active", src.is_none_or(|f| f.active));
    s.str("name", src.map_or("", |f| f.name.as_str()));
    s.bool("is_default_account", src.is_some_and(|f| f.is_default_account));
    match src {
        Some(f) => {
            s.time("created_time", f.created);
            s.time("last_modified_time", f.created);
        }
        None => {
            s.str("created_time", "");
            s.str("last_modified_time", "");
        }
    }
    s.end();
    f.end();
}

/// The fee resource an order's `fees` item nests in full (product.md §4,
/// the published Core API schema): the fee as created.
fn write_fee_resource(o: &mut Obj<'_>, c: &FeeCmd, created: Timestamp) {
    let mut f = o.obj("fee");
    f.str("token", &c.token);
    f.str("name", &c.name);
    f.money("amount", c.amount);
    f.null("tags");
    f.time("created_time", created);
    f.time("last_modified_time", created);
    f.bool("active", c.active);
    f.name("currency_code", c.currency_code.alpha());
    f.end();
}

fn balances_members(o: &mut Obj<'_>, b: &Balances, with_impacted: bool) {
    o.name("currency_code", "USD");
    o.money("ledger_balance", b.ledger_balance);
    o.money("available_balance", b.available_balance);
    o.money("credit_balance", b.credit_balance);
    o.money("pending_credits", b.pending_credits);
    if with_impacted {
        o.money("impacted_amount", b.impacted_amount);
    }
}

/// The balances object of the source pages, with the nested `balances {USD: …}`.
fn write_balances(mut o: Obj<'_>, b: &Balances, with_impacted: bool, nested: bool) {
    balances_members(&mut o, b, with_impacted);
    if nested {
        let mut n = o.obj("balances");
        let mut usd = n.obj("USD");
        balances_members(&mut usd, b, with_impacted);
        usd.end();
        n.end();
    }
    o.end();
}

fn msa(b: MsaBalance, impacted: Money) -> Balances {
    Balances {
        ledger_balance: b.ledger,
        available_balance: b.ledger.plus(b.credit),
        credit_balance: b.credit,
        pending_credits: Money::ZERO,
        impacted_amount: impacted,
        last_updated_time: None,
    }
}

/// Writes the response of `rec` with the facts captured for it.
fn write_response(out: &mut Vec<u8>, rec: &Recorded, facts: &Facts) {
    // the event's time (most responses print it twice; `write_rfc3339`
    // keeps the text of the last second it wrote)
    let t = rec.time;
    let tx = rec.seq;
    let mut o = Obj::new(out);
    match (&rec.fact.event, facts) {
        (Event::GpaOrdered(e), Facts::GpaOrder(src, fee_resources)) => {
            let fees: Money = e.fees.iter().map(|f| f.amount).sum();
            o.str("token", &e.cmd.token);
            o.money("amount", e.cmd.amount);
            o.time("created_time", t);
            o.time("last_modified_time", t);
            o.seq("transaction_token", tx);
            o.name("state", "COMPLETION");
            approved(&mut o);
            write_funding(&mut o, &e.funding, src.as_ref(), e.cmd.amount.plus(fees));
            o.masked("funding_source_token", &e.funding.source_token);
            o.holder(&e.cmd.holder);
            o.name("currency_code", "USD");
            if !e.fees.is_empty() {
                let list = o.key("fees");
                list.push(b'[');
                for (i, ((c, r), (fee, created))) in e.fees.iter().zip(&e.cmd.fees).zip(fee_resources).enumerate() {
                    if i > 0 {
                        list.push(b',');
                    }
                    let mut item = Obj::new(list);
                    item.str("token", &c.token);
                    item.money("amount", c.amount);
                    item.opt_str("memo", r.memo.as_deref());
                    item.opt_str("tags", r.tags.as_deref());
                    item.seq("transaction_token", tx);
                    write_fee_resource(&mut item, fee, *created);
                    item.end();
                }
                list.push(b']');
            }
            if let Some(m) = &e.cmd.memo {
                o.str("memo", m);
            }
            if let Some(tags) = &e.cmd.tags {
                o.str("tags", tags);
            }
        }
        (Event::GpaUnloaded(e), Facts::Source(src)) => {
            o.str("token", &e.cmd.token);
            o.money("amount", e.cmd.amount);
            o.time("created_time", t);
            o.time("last_modified_time", t);
            o.seq("transaction_token", tx);
            o.name("state", "COMPLETION");
            approved(&mut o);
            write_funding(&mut o, &e.funding, src.as_ref(), e.cmd.amount);
            o.masked("funding_source_token", &e.funding.source_token);
            o.str("original_order_token", &e.cmd.original_order_token);
        }
        (Event::MsaOrdered(e), Facts::Source(src)) => write_msa_order(
            &mut o,
            &MsaOrderView {
                token: &e.cmd.token,
                holder: &e.cmd.holder,
                campaign_token: &e.cmd.campaign_token,
                purchase_amount: e.cmd.purchase_amount,
                reward_amount: e.cmd.reward_amount,
                reward_trigger_amount: e.cmd.reward_trigger_amount,
                funding: &e.funding,
                source: src.as_ref(),
                start_date: e.cmd.start_date,
                end_date: e.cmd.end_date,
                created: rec.time,
                last_modified: rec.time,
                active: true,
                order: MsaBalance { ledger: e.cmd.purchase_amount, credit: Money::ZERO },
                aggregated: e.aggregated_after,
                transaction_seq: tx,
            },
        ),
        (Event::MsaUnloaded(e), Facts::OrderActive(active)) => {
            o.str("token", &e.cmd.token);
            o.holder(&e.holder);
            write_balances(o.obj("order_balances"), &msa(e.order_after, -e.cmd.amount), true, false);
            o.money("amount", e.cmd.amount);
            o.name("currency_code", "USD");
            o.bool("active", *active);
            o.str("campaign_token", &e.campaign_token);
            o.time("created_time", t);
            o.time("last_modified_time", t);
            write_balances(o.obj("aggregated_balances"), &msa(e.aggregated_after, -e.cmd.amount), false, true);
            o.str("original_order_token", &e.cmd.original_order_token);
            o.seq("transaction_token", tx);
        }
        (Event::OfferOrdered(e), Facts::Offer(offer)) => {
            let order = MsaBalance { ledger: e.purchase_amount, credit: e.reward_amount };
            o.time("created_time", t);
            o.time("last_modified_time", t);
            o.holder(&e.cmd.holder);
            o.str("token", &e.cmd.token);
            write_balances(o.obj("order_balances"), &msa(order, e.purchase_amount), false, true);
            write_balances(
                o.obj("order_aggregated_balances"),
                &msa(e.aggregated_after, e.purchase_amount),
                false,
                true,
            );
            if let Some((c, created)) = offer {
                let mut f = o.obj("offer");
                f.str("token", &c.token);
                f.bool("active", c.active);
                f.str("name", &c.name);
                f.money("purchase_amount", c.purchase_amount);
                f.money("reward_amount", c.reward_amount);
                f.money("reward_trigger_amount", c.reward_trigger_amount);
                f.str("campaign_token", &c.campaign_token);
                f.name("currency_code", c.currency_code.numeric());
                f.time("created_time", *created);
                f.time("last_modified_time", *created);
                f.end();
            }
            o.masked("funding_source_token", &e.funding.source_token);
            o.seq("transaction_token", tx);
        }
        (Event::FeeTransferred(e), Facts::None) => {
            o.str("token", &e.cmd.token);
            o.holder(&e.cmd.holder);
            let list = o.key("fees");
            list.push(b'[');
            for (i, f) in e.fees.iter().enumerate() {
                if i > 0 {
                    list.push(b',');
                }
                let mut item = Obj::new(list);
                item.str("token", &f.token);
                item.money("amount", f.amount);
                item.name("currency_code", "USD");
                item.end();
            }
            list.push(b']');
            o.time("created_time", t);
            o.seq("transaction_token", tx);
            o.name("state", "COMPLETION");
            approved(&mut o);
        }
        (Event::JournalEntryRecorded(e), Facts::None) => {
            journal_entry_members(&mut o, e, rec.time);
            o.time("created_time", t);
            o.seq("transaction_token", tx);
        }
        (Event::ProgramDeposited(c), Facts::None) => {
            o.str("token", &c.token);
            o.str("program_token", &c.program_token);
            o.money("amount", c.amount);
            o.name("currency_code", "USD");
            o.time("created_time", t);
            o.seq("transaction_token", tx);
        }
        // the update answers with the whole order as it stands after it (source 004)
        (Event::MsaOrderUpdated(_), Facts::OrderNow(Some(now))) => write_msa_order(&mut o, &now.view()),
        (Event::MsaOrderUpdated(c), Facts::OrderNow(None)) => {
            o.str("token", &c.token);
            o.time("last_modified_time", t);
            o.seq("transaction_token", tx);
        }
        (Event::Ticked(c), Facts::None) => {
            o.time("now", c.now);
            o.seq("transaction_token", tx);
        }
        (Event::CyclesClosed(e), Facts::None) => {
            o.time("now", e.now);
            o.int("statements", e.closes.len());
            o.seq("transaction_token", tx);
        }
        (e, Facts::None) if created_body(&mut o, e) => {
            o.time("created_time", t);
            o.time("last_modified_time", t);
            if let Event::FundingSourceCreated { cmd, .. } = e {
                if cmd.kind == FundingKind::Program {
                    o.str("account", &program_account_number(&cmd.token));
                }
            }
        }
        (e, f) => unreachable!("facts {f:?} were not captured for event {e:?}"),
    }
    o.end();
}

/// The fields of an MSA order response, from its event or from the state.
struct MsaOrderView<'a> {
    token: &'a str,
    holder: &'a Holder,
    campaign_token: &'a str,
    purchase_amount: Money,
    reward_amount: Money,
    reward_trigger_amount: Money,
    funding: &'a Funding,
    source: Option<&'a SourceFacts>,
    start_date: Option<Timestamp>,
    end_date: Option<Timestamp>,
    created: Timestamp,
    last_modified: Timestamp,
    active: bool,
    order: MsaBalance,
    aggregated: MsaBalance,
    transaction_seq: u64,
}

/// An MSA order's members (into `o`, which the caller ends).
fn write_msa_order(o: &mut Obj<'_>, v: &MsaOrderView<'_>) {
    o.str("token", v.token);
    o.holder(v.holder);
    write_balances(o.obj("order_balances"), &msa(v.order, v.purchase_amount), true, true);
    o.money("purchase_amount", v.purchase_amount);
    o.name("currency_code", "USD");
    o.bool("active", v.active);
    o.money("reward_amount", v.reward_amount);
    o.money("reward_trigger_amount", v.reward_trigger_amount);
    o.str("campaign_token", v.campaign_token);
    write_funding(o, v.funding, v.source, v.purchase_amount);
    if let Some(s) = v.start_date {
        o.time("start_date", s);
    }
    if let Some(s) = v.end_date {
        o.time("end_date", s);
    }
    o.time("created_time", v.created);
    o.time("last_modified_time", v.last_modified);
    write_balances(o.obj("aggregated_balances"), &msa(v.aggregated, v.purchase_amount), false, true);
    o.seq("transaction_token", v.transaction_seq);
}

/// A journal entry's own fields as source 003 names them; times default to
/// the event's business time.
fn journal_entry_members(o: &mut Obj<'_>, e: &JournalEntryRecorded, time: Timestamp) {
    let c = &e.cmd;
    o.str("token", &c.token);
    match &c.target {
        crate::command::JeTarget::Gpa(h) => o.holder(h),
        crate::command::JeTarget::Credit(a) => o.str("account_token", a),
    }
    o.str("type", &c.kind);
    o.some_str("group", c.group.as_deref());
    o.name("status", c.status.name());
    o.money("amount", c.amount);
    o.name("currency_code", "USD");
    let impact = c.impact_time.unwrap_or(time);
    o.time("request_time", c.request_time.unwrap_or(impact));
    o.time("impact_time", impact);
    // one call a member, not a loop: each key a constant (see `Obj::key`)
    o.some_str("related_token", c.related_token.as_deref());
    o.some_str("root_token", c.root_token.as_deref());
    o.some_str("card_token", c.card_token.as_deref());
    o.some_str("memo", c.memo.as_deref());
    o.some_str("network", c.network.as_deref());
    o.some_str("mcc", c.mcc.as_deref());
    o.some_str("acting_user_token", c.acting_user_token.as_deref());
    if let Some(p) = c.pin_present {
        o.bool("pin_present", p);
    }
    if !e.jit_load.is_zero() || !e.jit_unload.is_zero() {
        let mut j = o.obj("jit_funding");
        j.money("load", e.jit_load);
        j.money("unload", e.jit_unload);
        j.end();
    }
}

/// A journal entry's own fields as a map (the `log` command's body).
fn journal_entry_fields(e: &JournalEntryRecorded, time: Timestamp) -> Map<String, Value> {
    let mut out = Vec::with_capacity(512);
    let mut o = Obj::new(&mut out);
    journal_entry_members(&mut o, e, time);
    o.end();
    match parse(&out) {
        Value::Object(m) => m,
        v => unreachable!("the journal entry writer wrote a non-object: {v}"),
    }
}

/// The event body of a resource-creating event (a response's members
/// before its times); false for every other event, writing nothing.
fn created_body(o: &mut Obj<'_>, e: &Event) -> bool {
    match e {
        Event::ProgramCreated(c) => {
            o.str("token", &c.token);
            o.str("bank", &c.bank);
            o.name("currency_code", c.currency_code.alpha());
            o.money("opening_bank_balance", c.opening_bank_balance);
            o.str("reporting_timezone", &c.reporting_timezone);
            if let Some(r) = &c.reserve {
                let mut v = o.obj("reserve");
                v.str("description", &r.description);
                v.int("days", r.days);
                v.money("minimum_amount", r.minimum_amount);
                v.int("window_days", r.window_days);
                v.end();
            }
            if let Some(t) = c.funding_alert_threshold {
                o.money("funding_alert_threshold", t);
            }
        }
        Event::UserCreated(c) | Event::BusinessCreated(c) => {
            o.str("token", &c.token);
            o.str("program_token", &c.program_token);
        }
        Event::FundingSourceCreated { cmd, program_token } => {
            o.str("token", &cmd.token);
            o.str("program_token", program_token);
            if let Some(h) = &cmd.holder {
                o.holder(h);
            }
            o.name("type", cmd.kind.name());
            o.bool("is_default_account", cmd.is_default_account);
            o.bool("active", cmd.active);
            o.str("name", &cmd.name);
        }
        Event::FundingSourceAddressCreated(c) => {
            o.str("token", &c.token);
            o.str("funding_source_token", &c.funding_source_token);
        }
        Event::FeeCreated(c) => {
            o.str("token", &c.token);
            o.str("name", &c.name);
            o.money("amount", c.amount);
            o.name("currency_code", c.currency_code.alpha());
            o.bool("active", c.active);
        }
        Event::CampaignCreated(c) | Event::MerchantCreated(c) => {
            o.str("token", &c.token);
            o.str("name", &c.name);
            o.bool("active", c.active);
        }
        Event::OfferCreated(c) => {
            o.str("token", &c.token);
            o.str("name", &c.name);
            o.str("campaign_token", &c.campaign_token);
            o.money("purchase_amount", c.purchase_amount);
            o.money("reward_amount", c.reward_amount);
            o.money("reward_trigger_amount", c.reward_trigger_amount);
            o.name("currency_code", c.currency_code.alpha());
            o.bool("active", c.active);
        }
        Event::CreditAccountOpened(c) => {
            o.str("token", &c.token);
            o.str("user_token", &c.user_token);
            o.str("program_token", &c.program_token);
            o.money("credit_limit", c.credit_limit);
            o.str("apr", &c.apr.0.to_string());
            o.str("timezone", &c.timezone);
            o.int("billing_cycle_day", c.billing_cycle_day);
            o.money("late_payment_fee", c.late_payment_fee);
            o.money("minimum_interest", c.minimum_interest);
            o.str("reward_percentage", &c.reward_percentage.0.to_string());
            o.str("interest_on_grace_reactivation", &c.interest_on_grace_reactivation);
            o.strs("allocation_order", &c.allocation_order);
            let m = &c.min_payment;
            let mut p = o.obj("min_payment");
            p.money("flat_amount", m.flat_amount);
            p.str("percentage_of_balance", &m.percentage_of_balance.0.to_string());
            p.bool("include_interest_charged", m.include_interest_charged);
            p.strs("include_fees_charged", &m.include_fees_charged);
            p.bool("include_past_due_amount", m.include_past_due_amount);
            p.bool("include_overlimit_amount", m.include_overlimit_amount);
            p.end();
        }
        Event::GpaOrdered(_)
        | Event::GpaUnloaded(_)
        | Event::MsaOrdered(_)
        | Event::MsaOrderUpdated(_)
        | Event::MsaUnloaded(_)
        | Event::OfferOrdered(_)
        | Event::FeeTransferred(_)
        | Event::JournalEntryRecorded(_)
        | Event::ProgramDeposited(_)
        | Event::Ticked(_)
        | Event::CyclesClosed(_) => return false,
    }
    true
}

/// The event's own fields as JSON (the `log` command's `event` object body).
pub fn event_body(e: &Event) -> Value {
    let holder = |o: &mut Map<String, Value>, h: &Holder| {
        o.insert(h.field().to_string(), Value::String(h.token().to_string()));
    };
    let mut out = Vec::with_capacity(256);
    let mut o = Obj::new(&mut out);
    if created_body(&mut o, e) {
        o.end();
        return parse(&out);
    }
    match e {
        Event::GpaOrdered(e) => {
            let mut o = Map::new();
            o.insert("token".into(), e.cmd.token.as_str().into());
            holder(&mut o, &e.cmd.holder);
            o.insert("amount".into(), e.cmd.amount.to_json());
            o.insert("currency_code".into(), "USD".into());
            o.insert("funding_source_token".into(), e.funding.source_token.as_str().into());
            o.insert(
                "fees".into(),
                Value::Array(e.fees.iter().map(|f| json!({"token": f.token, "amount": f.amount.to_json()})).collect()),
            );
            Value::Object(o)
        }
        Event::GpaUnloaded(e) => {
            json!({"token": e.cmd.token, "original_order_token": e.cmd.original_order_token, "amount": e.cmd.amount.to_json()})
        }
        Event::MsaOrdered(e) => {
            let mut o = Map::new();
            o.insert("token".into(), e.cmd.token.as_str().into());
            o.insert("campaign_token".into(), e.cmd.campaign_token.as_str().into());
            holder(&mut o, &e.cmd.holder);
            o.insert("purchase_amount".into(), e.cmd.purchase_amount.to_json());
            o.insert("funding_source_token".into(), e.funding.source_token.as_str().into());
            Value::Object(o)
        }
        Event::MsaOrderUpdated(c) => json!({"token": c.token, "active": c.active}),
        Event::MsaUnloaded(e) => {
            json!({"token": e.cmd.token, "original_order_token": e.cmd.original_order_token, "amount": e.cmd.amount.to_json()})
        }
        Event::OfferOrdered(e) => {
            let mut o = Map::new();
            o.insert("token".into(), e.cmd.token.as_str().into());
            holder(&mut o, &e.cmd.holder);
            o.insert("offer_token".into(), e.cmd.offer_token.as_str().into());
            o.insert("funding_source_token".into(), e.funding.source_token.as_str().into());
            Value::Object(o)
        }
        Event::FeeTransferred(e) => {
            let mut o = Map::new();
            o.insert("token".into(), e.cmd.token.as_str().into());
            holder(&mut o, &e.cmd.holder);
            o.insert(
                "fees".into(),
                Value::Array(e.fees.iter().map(|f| json!({"token": f.token, "amount": f.amount.to_json()})).collect()),
            );
            Value::Object(o)
        }
        Event::JournalEntryRecorded(e) => {
            // the log shows what the engine resolved, beside the entry itself
            let mut o = journal_entry_fields(e, Timestamp(0));
            o.remove("request_time");
            o.remove("impact_time");
            for (k, v) in [("request_time", e.cmd.request_time), ("impact_time", e.cmd.impact_time)] {
                if let Some(v) = v {
                    o.insert(k.into(), v.to_string().into());
                }
            }
            o.insert("program_token".into(), e.program_token.as_str().into());
            o.insert("effect".into(), format!("{:?}", e.effect).into());
            o.insert("hold_amount".into(), e.hold_amount.to_json());
            o.insert("pending_credit".into(), e.pending_credit.to_json());
            Value::Object(o)
        }
        Event::ProgramDeposited(c) => {
            json!({"token": c.token, "program_token": c.program_token, "amount": c.amount.to_json()})
        }
        Event::Ticked(c) => json!({"now": c.now.to_string()}),
        Event::CyclesClosed(e) => json!({"now": e.now.to_string(), "closes": e.closes.iter().map(|c| json!({
            "account_token": c.account_token, "statement_token": c.statement_token,
            "closing_date": c.closing_date.to_string(), "closing_balance": c.closing_balance.to_json(),
            "interest": c.interest_entry.as_ref().map(|x| x.amount.to_json()),
            "late_fee": c.late_fee_entry.as_ref().map(|x| x.amount.to_json()),
        })).collect::<Vec<_>>()}),
        Event::ProgramCreated(_)
        | Event::UserCreated(_)
        | Event::BusinessCreated(_)
        | Event::FundingSourceCreated { .. }
        | Event::FundingSourceAddressCreated(_)
        | Event::FeeCreated(_)
        | Event::CampaignCreated(_)
        | Event::MerchantCreated(_)
        | Event::OfferCreated(_)
        | Event::CreditAccountOpened(_) => unreachable!("created_body wrote {e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The amount writer before whole cents were written from the integer.
    fn decimal_text(m: Money) -> Vec<u8> {
        let mut out = Vec::new();
        write_decimal(&mut out, m);
        out
    }

    #[test]
    fn needs_escape_finds_every_escaped_byte_in_every_place() {
        for len in 1..=26 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    let want = b < 0x20 || b == b'"' || b == b'\\';
                    assert_eq!(needs_escape(&bytes), want, "byte {b:#04x} at {at} of {len}");
                    // beside bytes of every kind, the answer is the same
                    for other in [0x7f, 0x80, 0xff, b'!', b'#', b'[', b']', 0x1f, 0x21] {
                        let mut more = bytes.clone();
                        more.push(other);
                        let want = want || other < 0x20;
                        assert_eq!(needs_escape(&more), want, "byte {b:#04x} at {at} of {len}, then {other:#04x}");
                    }
                }
            }
        }
        assert!(!needs_escape(b""));
    }

    /// `Obj::holder` names each key itself (a constant): they are the
    /// holders' wire fields.
    #[test]
    fn holders_are_written_under_their_wire_field() {
        for h in [Holder::User(Token::from("user_1")), Holder::Business(Token::from("biz_1"))] {
            let mut out = Vec::new();
            let mut o = Obj::new(&mut out);
            o.holder(&h);
            o.end();
            assert_eq!(String::from_utf8_lossy(&out), format!("{{\"{}\":\"{}\"}}", h.field(), h.token()));
        }
    }

    #[test]
    fn integers_are_written_as_display_writes_them() {
        let mut numbers: Vec<u64> = (0..100_000).collect();
        for p in 0..20 {
            let c = 10_u64.pow(p);
            numbers.extend([c - 1, c, c + 1, c.wrapping_mul(7).wrapping_add(3)]);
        }
        numbers.extend([u64::MAX, u64::MAX - 1, 1 << 63]);
        let mut out = b"x".to_vec();
        for n in numbers {
            out.truncate(1);
            write_u64(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes(), "{n}");
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut texts: Vec<String> = (0..=0x7fu8).map(|b| format!("abcdefg{}hijklmnop", b as char)).collect();
        texts.extend((0..=0x7fu8).map(|b| (b as char).to_string()));
        texts.extend(
            ["", "plain token_0001", "caf\u{e9} \u{2028} \u{1f600}", "\"\\\n\t", "12345678\"", "1234567\\"]
                .map(String::from),
        );
        for t in &texts {
            let mut out = Vec::new();
            write_str(&mut out, t);
            assert_eq!(out, serde_json::to_vec(t).unwrap(), "{t:?}");
        }
        // plain strings of every length (`copy_plain`'s two copies of 4, 8
        // and 16 bytes, and its three appends), after other bytes; then each
        // with one byte to escape in every place, and with a two-byte
        // character at either end (`write_escaped`, `needs_escape`'s words)
        for len in 0..=40u8 {
            let t: String = (0..len).map(|i| char::from(b'a' + i % 26)).collect();
            let mut cases = vec![t.clone(), format!("\u{e9}{t}"), format!("{t}\u{e9}")];
            for at in 0..usize::from(len) {
                for esc in ['"', '\\', '\n', '\u{1}'] {
                    let mut e = t.clone();
                    e.replace_range(at..=at, &esc.to_string());
                    cases.push(e);
                }
            }
            for c in &cases {
                let mut out = b"xy".to_vec();
                write_str(&mut out, c);
                assert_eq!(out, [b"xy".to_vec(), serde_json::to_vec(c).unwrap()].concat(), "{c:?}");
                // unquoted (a masked token's tail)
                let mut inner = b"xy".to_vec();
                write_str_inner(&mut inner, c);
                assert_eq!(
                    inner,
                    out.get(..out.len() - 1)
                        .unwrap()
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != 2)
                        .map(|(_, b)| *b)
                        .collect::<Vec<_>>(),
                    "{c:?}"
                );
            }
        }
    }

    #[test]
    fn whole_cents_are_written_as_the_normalized_decimal() {
        let mut amounts: Vec<Money> = (-20_000..20_000).map(Money::from_cents).collect();
        for c in [i64::MIN, i64::MIN + 1, i64::MAX, 99_999_999_999_999, -99_999_999_999_999, 100_000_000_000_000] {
            amounts.push(Money::from_cents(c));
        }
        for p in 0..19 {
            let c = 10_i64.pow(p);
            amounts.extend([c - 1, c, c + 1, c * 7 + 3, -c].map(Money::from_cents));
        }
        for text in ["-0", "-0.00", "0.0", "-0.5", "12", "12.3", "-12.30", "1e2", "1.5e1", "999999999999.99"] {
            if let Ok(m) = Money::parse(text) {
                amounts.push(m);
            }
        }
        let mut whole = 0;
        for m in amounts {
            let mut out = Vec::new();
            write_money(&mut out, m);
            assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&decimal_text(m)), "{m:?}");
            whole += usize::from(m.exact_cents().is_some());
        }
        assert!(whole > 40_000, "{whole} amounts of whole cents");
    }
}
