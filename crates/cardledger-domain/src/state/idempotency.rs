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

/// The fixed key of the SipHash-1-3 fingerprint (`FingerprintKind::Sip13`):
/// part of the payload format, never changed (docs/format.md).
pub const FINGERPRINT_KEY: (u64, u64) = (0x6361_7264_6c65_6467, 0x6572_2066_7020_7632);

/// The bincode (`standard()` configuration) of a command and its
/// `corrected_post_date`, in a reused per-thread buffer, handed to `f`.
fn with_payload_bytes<T>(line: &CommandLine, f: impl FnOnce(&[u8]) -> T) -> Result<T, String> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        bincode::encode_into_writer(
            (&line.command, &line.corrected_post_date),
            crate::VecWriter(&mut buf),
            bincode::config::standard(),
        )
        .map_err(|e| format!("the command does not encode: {e}"))?;
        Ok(f(&buf))
    })
}

/// Fingerprint of a command's payload (its `time` excluded), as `decide`
/// records it (`FingerprintKind::Sip13`): SipHash-1-3 with
/// [`FINGERPRINT_KEY`] over the bincode of the command and its
/// `corrected_post_date`, in one call over a reused buffer.
pub fn fingerprint(line: &CommandLine) -> Result<u64, String> {
    with_payload_bytes(line, |bytes| {
        use std::hash::Hasher;
        let mut h = siphasher::sip::SipHasher13::new_with_keys(FINGERPRINT_KEY.0, FINGERPRINT_KEY.1);
        h.write(bytes);
        h.finish()
    })
}

/// The fingerprint payloads written before `FingerprintKind::Sip13`
/// carry (`FingerprintKind::Blake3`): the first 8 bytes (big-endian) of
/// blake3 over the same bytes. Computed only when a token is found
/// recorded with another fingerprint (a conflict, or a resubmission of a
/// command recorded by an older version).
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

/// Whether a command with fingerprint `fp` repeats the recorded command
/// whose fingerprint is `recorded` (a duplicate, not a conflict).
/// The index keeps a bare fingerprint, of either kind: a recorded Blake3 one
/// is matched against the line's Blake3 fingerprint (computed only then).
/// A different command passes by chance with probability about 2^-63.
pub(super) fn same_payload(recorded: u64, fp: u64, line: &CommandLine) -> bool {
    recorded == fp || fingerprint_blake3(line).is_ok_and(|legacy| legacy == recorded)
}
