//! Idempotency: which kind a token belongs to, the payload fingerprint,
//! and where a token was recorded.

use super::*;
use crate::snapshot;

/// An idempotency kind: its index in [`snapshot::TOKEN_KINDS`] (the byte
/// of its cold keys) and its name, so the token index is an array and a
/// command's kind is read from its variant without hashing or comparing
/// its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenKind {
    index: u8,
    name: &'static str,
}

/// Kinds a ledger can hold: [`snapshot::TOKEN_KINDS`]'s length.
pub(super) const KINDS: usize = snapshot::TOKEN_KINDS.len();

/// Whether two byte strings are equal (a `const fn`: `==` on slices is not).
const fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    match (a.split_first(), b.split_first()) {
        (None, None) => true,
        (Some((x, a)), Some((y, b))) => *x == *y && same_bytes(a, b),
        _ => false,
    }
}

/// The kind named `name` in [`snapshot::TOKEN_KINDS`], at compile time (a
/// name that is not there fails the build).
const fn kind_named(name: &'static str) -> TokenKind {
    let mut kinds = snapshot::TOKEN_KINDS;
    let mut index: u8 = 0;
    let mut found = false;
    while let Some((first, rest)) = kinds.split_first() {
        if same_bytes(first.as_bytes(), name.as_bytes()) {
            found = true;
            break;
        }
        kinds = rest;
        index = index.saturating_add(1);
    }
    assert!(found && KINDS <= u8::MAX as usize, "not a token kind");
    TokenKind { index, name }
}

impl TokenKind {
    /// The kind named `name` (a command key; a merchant's is `campaign`).
    pub fn named(name: &str) -> Option<TokenKind> {
        let (index, name) = snapshot::TOKEN_KINDS.iter().enumerate().find(|(_, k)| **k == name)?;
        Some(TokenKind { index: u8::try_from(index).ok()?, name })
    }

    /// Its name (a command key).
    pub fn name(self) -> &'static str {
        self.name
    }

    /// Its index in [`snapshot::TOKEN_KINDS`]: the kind byte of its cold keys.
    pub fn index(self) -> u8 {
        self.index
    }
}

/// The kinds by name, evaluated at compile time.
mod kind {
    use super::{kind_named, TokenKind};
    pub(super) const PROGRAM: TokenKind = kind_named("program");
    pub(super) const USER: TokenKind = kind_named("user");
    pub(super) const BUSINESS: TokenKind = kind_named("business");
    pub(super) const FUNDING_SOURCE: TokenKind = kind_named("funding_source");
    pub(super) const FUNDING_SOURCE_ADDRESS: TokenKind = kind_named("funding_source_address");
    pub(super) const FEE: TokenKind = kind_named("fee");
    pub(super) const CAMPAIGN: TokenKind = kind_named("campaign");
    pub(super) const OFFER: TokenKind = kind_named("offer");
    pub(super) const CREDIT_ACCOUNT: TokenKind = kind_named("credit_account");
    pub(super) const GPA_ORDER: TokenKind = kind_named("gpa_order");
    pub(super) const GPA_UNLOAD: TokenKind = kind_named("gpa_unload");
    pub(super) const MSA_ORDER: TokenKind = kind_named("msa_order");
    pub(super) const MSA_UNLOAD: TokenKind = kind_named("msa_unload");
    pub(super) const OFFER_ORDER: TokenKind = kind_named("offer_order");
    pub(super) const FEE_TRANSFER: TokenKind = kind_named("fee_transfer");
    pub(super) const JOURNAL_ENTRY: TokenKind = kind_named("journal_entry");
    pub(super) const PROGRAM_DEPOSIT: TokenKind = kind_named("program_deposit");
}

/// The idempotency kind of a command: tokens are unique within it. Its
/// key's kind, except that a merchant creates its default campaign (the two
/// share a namespace); `msa_order_update` and `tick` have none.
#[inline]
pub(super) fn token_kind(c: &Command) -> Option<TokenKind> {
    Some(match c {
        Command::MsaOrderUpdate(_) | Command::Tick(_) => return None,
        Command::Program(_) => kind::PROGRAM,
        Command::User(_) => kind::USER,
        Command::Business(_) => kind::BUSINESS,
        Command::FundingSource(_) => kind::FUNDING_SOURCE,
        Command::FundingSourceAddress(_) => kind::FUNDING_SOURCE_ADDRESS,
        Command::Fee(_) => kind::FEE,
        Command::Campaign(_) | Command::Merchant(_) => kind::CAMPAIGN,
        Command::Offer(_) => kind::OFFER,
        Command::CreditAccount(_) => kind::CREDIT_ACCOUNT,
        Command::GpaOrder(_) => kind::GPA_ORDER,
        Command::GpaUnload(_) => kind::GPA_UNLOAD,
        Command::MsaOrder(_) => kind::MSA_ORDER,
        Command::MsaUnload(_) => kind::MSA_UNLOAD,
        Command::OfferOrder(_) => kind::OFFER_ORDER,
        Command::FeeTransfer(_) => kind::FEE_TRANSFER,
        Command::JournalEntry(_) => kind::JOURNAL_ENTRY,
        Command::ProgramDeposit(_) => kind::PROGRAM_DEPOSIT,
    })
}

/// The idempotency kind an event's token is indexed under: its command's
/// ([`token_kind`]).
#[inline]
pub(super) fn event_token_kind(e: &Event) -> Option<TokenKind> {
    Some(match e {
        Event::MsaOrderUpdated(_) | Event::Ticked(_) | Event::CyclesClosed(_) => return None,
        Event::ProgramCreated(_) => kind::PROGRAM,
        Event::UserCreated(_) => kind::USER,
        Event::BusinessCreated(_) => kind::BUSINESS,
        Event::FundingSourceCreated { .. } => kind::FUNDING_SOURCE,
        Event::FundingSourceAddressCreated(_) => kind::FUNDING_SOURCE_ADDRESS,
        Event::FeeCreated(_) => kind::FEE,
        Event::CampaignCreated(_) | Event::MerchantCreated(_) => kind::CAMPAIGN,
        Event::OfferCreated(_) => kind::OFFER,
        Event::CreditAccountOpened(_) => kind::CREDIT_ACCOUNT,
        Event::GpaOrdered(_) => kind::GPA_ORDER,
        Event::GpaUnloaded(_) => kind::GPA_UNLOAD,
        Event::MsaOrdered(_) => kind::MSA_ORDER,
        Event::MsaUnloaded(_) => kind::MSA_UNLOAD,
        Event::OfferOrdered(_) => kind::OFFER_ORDER,
        Event::FeeTransferred(_) => kind::FEE_TRANSFER,
        Event::JournalEntryRecorded(_) => kind::JOURNAL_ENTRY,
        Event::ProgramDeposited(_) => kind::PROGRAM_DEPOSIT,
    })
}

/// A token kind's tokens, each with where it was recorded (seq, fingerprint).
pub type Tokens = HashMap<Token, (u64, u64)>;

/// The idempotency index (`Ledger::tokens`): per kind, its tokens, in an
/// array indexed by [`TokenKind`] (a kind's map is reached without hashing
/// its name). A kind is present once a token of it was inserted (or a
/// snapshot held it), as the map keyed by kind name it replaces: the
/// snapshot writes the present kinds, so no stored byte changed.
#[derive(Clone)]
pub struct TokenIndex {
    maps: [Option<Tokens>; KINDS],
}

impl Default for TokenIndex {
    fn default() -> TokenIndex {
        TokenIndex { maps: [const { None }; KINDS] }
    }
}

impl std::fmt::Debug for TokenIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl TokenIndex {
    /// A kind's tokens, if the kind is present.
    #[inline]
    pub fn of(&self, kind: TokenKind) -> Option<&Tokens> {
        self.maps.get(usize::from(kind.index)).and_then(Option::as_ref)
    }

    /// A kind's tokens by its name, if the kind is present.
    pub fn get(&self, kind: &str) -> Option<&Tokens> {
        self.of(TokenKind::named(kind)?)
    }

    /// A kind's tokens to change, the kind made present (its map created
    /// by `new`) if it is not.
    #[inline]
    pub(super) fn of_mut(&mut self, kind: TokenKind, new: impl FnOnce() -> Tokens) -> &mut Tokens {
        self.slot(kind).get_or_insert_with(new)
    }

    /// Sets a kind's tokens, returning those it replaces.
    pub fn insert(&mut self, kind: TokenKind, tokens: Tokens) -> Option<Tokens> {
        self.slot(kind).replace(tokens)
    }

    /// A kind's place in the array.
    #[inline]
    fn slot(&mut self, kind: TokenKind) -> &mut Option<Tokens> {
        match self.maps.get_mut(usize::from(kind.index)) {
            Some(slot) => slot,
            // a TokenKind is only built from an index into TOKEN_KINDS
            None => unreachable!("token kind {} past TOKEN_KINDS", kind.index),
        }
    }

    /// No kind is present.
    pub fn is_empty(&self) -> bool {
        self.maps.iter().all(Option::is_none)
    }

    /// Every present kind, by name, with its tokens (in kind order).
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Tokens)> + '_ {
        snapshot::TOKEN_KINDS.iter().zip(&self.maps).filter_map(|(k, m)| Some((*k, m.as_ref()?)))
    }

    /// Every present kind's tokens (in kind order).
    pub fn values(&self) -> impl Iterator<Item = &Tokens> + '_ {
        self.maps.iter().flatten()
    }

    /// Every present kind, by name, with its tokens, moved out.
    pub fn into_kinds(self) -> impl Iterator<Item = (&'static str, Tokens)> {
        snapshot::TOKEN_KINDS.iter().zip(self.maps).filter_map(|(k, m)| Some((*k, m?)))
    }

    /// No kind present any more.
    pub fn clear(&mut self) {
        *self = TokenIndex::default();
    }
}

/// The fixed key of the SipHash-1-3 fingerprints (`FingerprintKind::Sip13`
/// and `Sip13Payload`): part of the payload format, never changed
/// (docs/format.md).
pub const FINGERPRINT_KEY: (u64, u64) = (0x6361_7264_6c65_6467, 0x6572_2066_7020_7632);

/// SipHash-1-3 with [`FINGERPRINT_KEY`] over `bytes`, in one call.
pub(crate) fn sip13(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = siphasher::sip::SipHasher13::new_with_keys(FINGERPRINT_KEY.0, FINGERPRINT_KEY.1);
    h.write(bytes);
    h.finish()
}

/// A reused per-thread buffer, handed to `f` (never while it is in use:
/// `f` does not call back into this function).
pub(super) fn with_scratch<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| f(&mut buf.borrow_mut()))
}

/// The bincode (`standard()` configuration) of a command and its
/// `corrected_post_date`, in a reused per-thread buffer, handed to `f`: the
/// bytes of the `Blake3` and `Sip13` fingerprints.
fn with_payload_bytes<T>(line: &CommandLine, f: impl FnOnce(&[u8]) -> T) -> Result<T, String> {
    with_scratch(|buf| {
        buf.clear();
        bincode::encode_into_writer(
            (&line.command, &line.corrected_post_date),
            crate::VecWriter(buf),
            bincode::config::standard(),
        )
        .map_err(|e| format!("the command does not encode: {e}"))?;
        Ok(f(buf))
    })
}

/// Fingerprint of a command's payload (its `time` excluded), as `decide`
/// records it (`FingerprintKind::Sip13Payload`): SipHash-1-3 with
/// [`FINGERPRINT_KEY`] over the payload tag (4, or 5 with a date), the
/// `corrected_post_date` when there is one and the command's bincode, all in
/// the payload configuration (`crate::codec`) — the very bytes a payload of
/// the command's event holds after its fingerprint
/// ([`crate::encode_new_fact`] hashes them there; this encodes them apart,
/// for a tick and for a token found recorded).
pub fn fingerprint(line: &CommandLine) -> Result<u64, String> {
    with_scratch(|buf| {
        buf.clear();
        let mut e = bincode::enc::EncoderImpl::new(crate::VecWriter(buf), crate::codec());
        crate::event::encode_tag_and_date(FingerprintKind::Sip13Payload, line.corrected_post_date, &mut e)
            .and_then(|()| bincode::Encode::encode(&line.command, &mut e))
            .map_err(|e| format!("the command does not encode: {e}"))?;
        Ok(sip13(buf))
    })
}

/// The fingerprint payloads of tag 2 / 3 carry (`FingerprintKind::Sip13`):
/// SipHash-1-3 with [`FINGERPRINT_KEY`] over the bincode (`standard()`:
/// little-endian varints) of the command and its `corrected_post_date`.
/// Computed only when a token is found recorded with another fingerprint.
pub fn fingerprint_sip13(line: &CommandLine) -> Result<u64, String> {
    with_payload_bytes(line, sip13)
}

/// The fingerprint payloads written before `FingerprintKind::Sip13`
/// carry (`FingerprintKind::Blake3`): the first 8 bytes (big-endian) of
/// blake3 over the same bytes as [`fingerprint_sip13`]. Computed only when
/// a token is found recorded with another fingerprint (a conflict, or a
/// resubmission of a command recorded by an older version).
pub fn fingerprint_blake3(line: &CommandLine) -> Result<u64, String> {
    with_payload_bytes(line, |bytes| {
        let h = blake3::hash(bytes);
        let mut first = [0u8; 8];
        first.copy_from_slice(&h.as_bytes()[..8]);
        u64::from_be_bytes(first)
    })
}

/// The token an event registers in the idempotency index.
pub fn event_token(e: &Event) -> Option<&str> {
    event_token_of(e).map(Token::as_str)
}

/// [`event_token`] as the event holds it (`apply` copies it into the index
/// instead of building a new token from its text).
pub(super) fn event_token_of(e: &Event) -> Option<&Token> {
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

/// Whether a command with fingerprint `fp` ([`fingerprint`]) repeats the
/// recorded command whose fingerprint is `recorded` (a duplicate, not a
/// conflict). The index keeps a bare fingerprint, of any kind: a recorded
/// `Sip13` or `Blake3` one is matched against the line's fingerprint of that
/// kind (computed only then). A different command passes by chance with
/// probability about 3 × 2^-64.
pub(super) fn same_payload(recorded: u64, fp: u64, line: &CommandLine) -> bool {
    recorded == fp
        || fingerprint_sip13(line).is_ok_and(|older| older == recorded)
        || fingerprint_blake3(line).is_ok_and(|legacy| legacy == recorded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Recorded;

    /// The kind a command's or an event's token is indexed under, by name,
    /// as the map keyed by kind name had it: its key, a merchant's
    /// `campaign`, none for `msa_order_update`, `tick` and the cycle closes.
    fn command_kind_by_name(c: &Command) -> Option<&'static str> {
        match c {
            Command::MsaOrderUpdate(_) | Command::Tick(_) => None,
            Command::Merchant(_) => Some("campaign"),
            other => Some(other.key()),
        }
    }

    fn event_kind_by_name(e: &Event) -> Option<&'static str> {
        match e {
            Event::MsaOrderUpdated(_) | Event::Ticked(_) | Event::CyclesClosed(_) => None,
            Event::MerchantCreated(_) => Some("campaign"),
            other => Some(other.kind()),
        }
    }

    #[test]
    fn a_kind_read_from_the_variant_is_the_one_its_name_gives() {
        let lines: Vec<String> =
            cardledger_workload::generate(&cardledger_workload::WorkloadConfig::default()).take(20_000).collect();
        let mut l = Ledger::default();
        let mut commands = std::collections::BTreeSet::new();
        let mut events = std::collections::BTreeSet::new();
        for text in &lines {
            let Ok(line) = crate::wire::parse_line(text) else { continue };
            let kind = token_kind(&line.command);
            assert_eq!(kind.map(TokenKind::name), command_kind_by_name(&line.command), "{text}");
            assert_eq!(kind, kind.and_then(|k| TokenKind::named(k.name())), "{text}");
            commands.insert(line.command.key());
            let (time, facts) = l.next_facts(&line);
            for fact in facts {
                let kind = event_token_kind(&fact.event);
                assert_eq!(kind.map(TokenKind::name), event_kind_by_name(&fact.event), "{text}");
                events.insert(fact.event.kind());
                if let Some(kind) = kind {
                    // the index holds the token under its kind, found by name too
                    let token = event_token(&fact.event).map(str::to_string).unwrap_or_default();
                    l.apply(&Recorded { seq: l.head_seq + 1, time, fact });
                    assert!(l.tokens.of(kind).is_some_and(|m| m.contains_key(token.as_str())), "{text}");
                    assert_eq!(l.recorded_token(kind.name(), &token).map(|(seq, _)| seq), Some(l.head_seq));
                } else {
                    l.apply(&Recorded { seq: l.head_seq + 1, time, fact });
                }
            }
        }
        // every kind was met, as a command and as an event (a merchant's
        // `campaign` and the kinds without a token included)
        for name in snapshot::TOKEN_KINDS {
            assert!(commands.contains(name), "no {name} command in the workload");
            assert!(events.contains(name), "no {name} event in the workload");
        }
        for name in ["merchant", "tick"] {
            assert!(commands.contains(name) && events.contains(name), "no {name} in the workload");
        }
        // the present kinds are those with a token, listed in kind order
        let present: Vec<&str> = l.tokens.iter().map(|(k, _)| k).collect();
        let mut want: Vec<&str> = snapshot::TOKEN_KINDS.iter().copied().filter(|k| l.tokens.get(k).is_some()).collect();
        assert_eq!(present, want);
        want.sort_unstable();
        want.dedup();
        assert_eq!(want.len(), snapshot::TOKEN_KINDS.len());
        assert_eq!(TokenKind::named("merchant"), None);
        assert_eq!(TokenKind::named("tick"), None);
    }
}
