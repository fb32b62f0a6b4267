//! Idempotency: which kind a token belongs to, the payload fingerprint,
//! and where a token was recorded.

use super::*;

/// The idempotency kind of a command: tokens are unique within it.
pub(super) fn token_kind(c: &Command) -> Option<&'static str> {
    match c {
        Command::MsaOrderUpdate(_) | Command::Tick(_) => None,
        // a merchant creates its default campaign: the two share a namespace
        Command::Merchant(_) => Some("campaign"),
        other => Some(other.key()),
    }
}

pub(super) fn event_token_kind(e: &Event) -> Option<&'static str> {
    match e {
        Event::MsaOrderUpdated(_) | Event::Ticked(_) | Event::CyclesClosed(_) => None,
        Event::MerchantCreated(_) => Some("campaign"),
        other => Some(other.kind()),
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
