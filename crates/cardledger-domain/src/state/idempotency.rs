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

/// Fingerprint of a command's payload (its `time` excluded).
pub fn fingerprint(line: &CommandLine) -> Result<u64, String> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let cfg = bincode::config::standard();
    // encode into a reused buffer, then hash it in one call: feeding blake3
    // the encoder's many tiny writes cost more than the rest of `decide`
    let h = BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        bincode::encode_into_writer((&line.command, &line.corrected_post_date), crate::VecWriter(&mut buf), cfg)
            .map_err(|e| format!("the command does not encode: {e}"))?;
        Ok::<_, String>(blake3::hash(&buf))
    })?;
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    Ok(u64::from_be_bytes(first))
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
pub(super) fn same_payload(recorded: u64, fp: u64, _line: &CommandLine) -> bool {
    recorded == fp
}
