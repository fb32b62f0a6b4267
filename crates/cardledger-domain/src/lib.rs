//! cardledger-domain: the vocabulary and the pure decision logic of the
//! cardledger engine — money, time, commands, events, rejections, the ledger
//! state with `decide` and `apply`, double-entry postings and the JSON
//! responses of the source pages.
//!
//! It deliberately does no I/O: no storage, no clock reads inside decisions,
//! no threads. The `cardledger-core` crate wraps it in a durable log.
//!
//! ```
//! use cardledger_domain::{wire, state::{Ledger, Decision}, time::Timestamp};
//! let line = wire::parse_line(r#"{"program": {"token":"p1","bank":"B","currency_code":"USD"}}"#).unwrap();
//! let ledger = Ledger::default();
//! assert!(matches!(ledger.decide(&line, Timestamp(0)), Decision::Accept(_)));
//! ```

pub mod checkpoint;
pub mod command;
pub mod cycle;
pub mod event;
pub mod fuzz;
pub mod limits;
pub mod money;
mod payload;
pub mod projection;
pub mod rejection;
pub mod response;
pub mod snapshot;
pub mod state;
pub mod time;
pub mod token;
pub mod wire;
pub mod zone;

/// The type of [`codec`].
pub type Codec = bincode::config::Configuration<
    bincode::config::BigEndian,
    bincode::config::Varint,
    bincode::config::Limit<{ limits::EVENT_BYTES_MAX }>,
>;

/// The bincode configuration of every encoded event, with its size limit.
pub fn codec() -> Codec {
    bincode::config::standard().with_big_endian().with_limit::<{ limits::EVENT_BYTES_MAX }>()
}

/// Encodes a fact as a log payload. Fails when the fact does not encode or
/// encodes larger than `EVENT_BYTES_MAX` (which [`decode_fact`] would refuse):
/// such an event must never be written.
pub fn encode_fact(f: &event::Fact) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(ENCODED_FACT_CAPACITY_BYTES);
    bincode::encode_into_writer(f, VecWriter(&mut out), codec()).map_err(|e| e.to_string())?;
    if out.len() > limits::EVENT_BYTES_MAX {
        return Err(format!("the event encodes to {} bytes, over {}", out.len(), limits::EVENT_BYTES_MAX));
    }
    Ok(out)
}

/// Encodes a new fact of `event` (not a `CyclesClosed`: it holds no
/// command), decided from a command line with `corrected_post_date`, as a
/// [`event::FingerprintKind::Sip13Payload`] fact into `out` (cleared first),
/// and returns its fingerprint: the command is encoded once, into the
/// payload, and the fingerprint hashes it there (docs/format.md,
/// "Fingerprint kind"). `out` then holds exactly what [`encode_fact`] writes
/// for the fact with that fingerprint, and the fingerprint equals
/// `state::fingerprint` of the command line. Fails as [`encode_fact`] does.
pub fn encode_new_fact(
    corrected_post_date: Option<time::Date>,
    event: &event::Event,
    out: &mut Vec<u8>,
) -> Result<u64, String> {
    encode_new_with(corrected_post_date, out, event.kind(), |e| {
        // the hottest events: written by hand, the same bytes (payload.rs)
        if let Some(end) = payload::by_hand(event, bincode::enc::Encoder::writer(e).0) {
            return Ok(Some(end));
        }
        let mut end = None;
        event.encode_marking_command(e, |e| end = Some(bincode::enc::Encoder::writer(e).0.len()))?;
        Ok(end)
    })
}

/// [`encode_new_fact`] of the `JournalEntryRecorded` of `cmd` and what
/// deciding it added (`decided`), before the command moves into the event
/// (the commit path: `Ledger::decide_owned_into`). The same bytes.
pub(crate) fn encode_new_journal_entry(
    corrected_post_date: Option<time::Date>,
    cmd: &command::JournalEntryCmd,
    decided: &state::JeDecided,
    out: &mut Vec<u8>,
) -> Result<u64, String> {
    let state::JeDecided { program_token, effect, hold_amount, jit_load, jit_unload, pending_credit } = decided;
    let amounts = [*hold_amount, *jit_load, *jit_unload, *pending_credit];
    encode_new_with(corrected_post_date, out, "journal_entry", |e| {
        let out = &mut *bincode::enc::Encoder::writer(e).0;
        Ok(Some(payload::journal_entry_parts(cmd, program_token, *effect, amounts, out)))
    })
}

/// The one home of a new fact's framing ([`encode_new_fact`]): the room for
/// the fingerprint, the tag and date, then `body` (an event `kind`'s
/// encoding, returning where its command ends: `None`, it holds none), the
/// fingerprint of the bytes from the tag to the command's end written in
/// front, and the size limit.
#[inline]
fn encode_new_with(
    corrected_post_date: Option<time::Date>,
    out: &mut Vec<u8>,
    kind: &str,
    body: impl FnOnce(
        &mut bincode::enc::EncoderImpl<VecWriter<'_>, Codec>,
    ) -> Result<Option<usize>, bincode::error::EncodeError>,
) -> Result<u64, String> {
    /// Room for the fingerprint in front (the longest u64 varint), filled
    /// once the bytes it hashes are written.
    const FINGERPRINT_ROOM_BYTES: usize = payload::U64_VARINT_ROOM_BYTES;
    out.clear();
    out.resize(FINGERPRINT_ROOM_BYTES, 0);
    let end = {
        let mut e = bincode::enc::EncoderImpl::new(VecWriter(out), codec());
        let fp_kind = event::FingerprintKind::Sip13Payload;
        event::encode_tag_and_date(fp_kind, corrected_post_date, &mut e).map_err(|e| e.to_string())?;
        body(&mut e).map_err(|e| e.to_string())?
    };
    let hashed = end.and_then(|end| out.get(FINGERPRINT_ROOM_BYTES..end));
    let Some(hashed) = hashed else {
        return Err(format!("a {kind} event holds no command to fingerprint"));
    };
    let fingerprint = state::sip13(hashed);
    // the whole room is written (a copy of fixed length), the varint at its
    // end; the bytes before it are dropped
    let (varint, len) = payload::u64_right_aligned(fingerprint);
    match out.get_mut(..FINGERPRINT_ROOM_BYTES) {
        Some(room) => room.copy_from_slice(&varint),
        None => return Err("the fingerprint's room is missing".to_string()),
    }
    out.drain(..FINGERPRINT_ROOM_BYTES - len);
    if out.len() > limits::EVENT_BYTES_MAX {
        return Err(format!("the event encodes to {} bytes, over {}", out.len(), limits::EVENT_BYTES_MAX));
    }
    Ok(fingerprint)
}

/// A bincode writer appending to a `Vec` directly: the same bytes as
/// `encode_into_std_write` into the `Vec`, without the `std::io::Write`
/// layer (an out-of-line `write_all` per field).
pub(crate) struct VecWriter<'a>(pub(crate) &'a mut Vec<u8>);

impl bincode::enc::write::Writer for VecWriter<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Initial capacity of an encoded fact: most events of the demo mix encode
/// to 100–200 bytes, so one allocation and no regrowth.
pub(crate) const ENCODED_FACT_CAPACITY_BYTES: usize = 256;

/// Decodes a log payload; the whole payload must be consumed. The hottest
/// events are decoded by hand (payload.rs, the same facts as bincode's
/// derived decoding), the rest, and any payload it would refuse, by bincode.
#[inline]
pub fn decode_fact(bytes: &[u8]) -> Result<event::Fact, String> {
    decode_fact_with(bytes, Ok, Err)
}

/// [`decode_fact`], its answer built by `ok` from the fact or by `err`
/// from the reason it is refused: a caller that wraps the fact (a replay's
/// log entry, ≈ 500 bytes) builds its value once, not the fact, then a
/// `Result` of it, then its own value around that (a copy of the fact
/// each).
#[inline]
pub fn decode_fact_with<T>(bytes: &[u8], ok: impl FnOnce(event::Fact) -> T, err: impl FnOnce(String) -> T) -> T {
    if bytes.len() > limits::EVENT_BYTES_MAX {
        return err(format!("payload of {} bytes exceeds {}", bytes.len(), limits::EVENT_BYTES_MAX));
    }
    match payload::decode_by_hand(bytes) {
        Some(fact) => ok(fact),
        None => match decode_derived(bytes) {
            Ok(fact) => ok(fact),
            Err(e) => err(e),
        },
    }
}

/// A payload (at most `EVENT_BYTES_MAX` bytes) decoded by bincode's
/// derived decoding alone: [`decode_fact`]'s answer for every payload not
/// decoded by hand, and the oracle the hand decoder is checked against.
fn decode_derived(bytes: &[u8]) -> Result<event::Fact, String> {
    match bincode::decode_from_slice::<event::Fact, _>(bytes, codec()) {
        Ok((f, used)) if used == bytes.len() => Ok(f),
        Ok((_, used)) => Err(format!("{} trailing bytes after the event", bytes.len() - used)),
        Err(e) => Err(e.to_string()),
    }
}

/// Fuzz body: parse and decide any bytes as a command line against an empty
/// and a small populated ledger ([`fuzz::seeded_ledger`]). Must never panic;
/// an accepted fact must round-trip through the codec and keep the sum of
/// all accounts at zero.
pub fn fuzz_parse_line(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(line) = wire::parse_line(text) {
        let time = line.time.unwrap_or(time::Timestamp(0));
        let _ = state::Ledger::default().decide(&line, time);
        let seeded = fuzz::seeded_ledger();
        if let state::Decision::Accept(fact) = seeded.decide(&line, time) {
            // an accepted fact encodes, decodes to itself, and keeps the books balanced
            let bytes = encode_fact(&fact);
            assert!(bytes.is_ok(), "an accepted fact does not encode: {bytes:?}");
            assert_eq!(bytes.and_then(|b| decode_fact(&b)).as_ref(), Ok(&fact), "fact round trip");
            let mut after = seeded.clone();
            after.apply(&event::Recorded { seq: seeded.head_seq.saturating_add(1), time, fact });
            assert!(after.total().is_zero(), "accounts do not sum to zero after {text}");
        }
    }
}

/// Fuzz body: decode any bytes as an event payload. Must never panic; a
/// decoded fact must re-encode to the same bytes, and the hand decoder
/// (payload.rs) must agree with bincode's derived decoding.
pub fn fuzz_decode_fact(data: &[u8]) {
    if data.len() <= limits::EVENT_BYTES_MAX {
        payload::assert_decodes_as_derived(data);
    }
    if let Ok(fact) = decode_fact(data) {
        let again = encode_fact(&fact);
        assert_eq!(again.and_then(|b| decode_fact(&b)).ok().as_ref(), Some(&fact), "re-encoding changed the fact");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// An event over the decode limit is refused by the encoder, so it is
    /// never written to a log that would then not reopen.
    #[test]
    fn an_event_over_the_decode_limit_does_not_encode() {
        let program = |name: String| event::Fact {
            fingerprint: 1,
            fingerprint_kind: event::FingerprintKind::Sip13,
            corrected_post_date: None,
            event: event::Event::ProgramCreated(command::ProgramCmd {
                token: "p".into(),
                bank: name,
                ..crate::fuzz::seeded_ledger().programs.values().next().unwrap().cmd.clone()
            }),
        };
        let fits = encode_fact(&program("n".repeat(1000))).unwrap();
        assert_eq!(decode_fact(&fits).unwrap(), program("n".repeat(1000)));
        let err = encode_fact(&program("n".repeat(limits::EVENT_BYTES_MAX))).unwrap_err();
        assert!(err.contains("over"), "{err}");
    }
}
