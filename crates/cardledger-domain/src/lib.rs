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

pub mod command;
pub mod cycle;
pub mod event;
pub mod limits;
pub mod money;
pub mod rejection;
pub mod response;
pub mod state;
pub mod time;
pub mod wire;

/// The bincode configuration of every encoded event, with its size limit.
pub fn codec() -> bincode::config::Configuration<
    bincode::config::BigEndian,
    bincode::config::Varint,
    bincode::config::Limit<{ limits::EVENT_BYTES_MAX }>,
> {
    bincode::config::standard().with_big_endian().with_limit::<{ limits::EVENT_BYTES_MAX }>()
}

/// Encodes a fact as a log payload.
pub fn encode_fact(f: &event::Fact) -> Vec<u8> {
    bincode::encode_to_vec(f, codec()).unwrap_or_default()
}

/// Decodes a log payload; the whole payload must be consumed.
pub fn decode_fact(bytes: &[u8]) -> Result<event::Fact, String> {
    if bytes.len() > limits::EVENT_BYTES_MAX {
        return Err(format!("payload of {} bytes exceeds {}", bytes.len(), limits::EVENT_BYTES_MAX));
    }
    match bincode::decode_from_slice::<event::Fact, _>(bytes, codec()) {
        Ok((f, used)) if used == bytes.len() => Ok(f),
        Ok((_, used)) => Err(format!("{} trailing bytes after the event", bytes.len() - used)),
        Err(e) => Err(e.to_string()),
    }
}

/// Fuzz body: parse and decide any bytes as a command line against an empty
/// and a small populated ledger. Must never panic.
pub fn fuzz_parse_line(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(line) = wire::parse_line(text) {
        let ledger = state::Ledger::default();
        let _ = ledger.decide(&line, time::Timestamp(0));
    }
}

/// Fuzz body: decode any bytes as an event payload. Must never panic; a
/// decoded fact must re-encode to the same bytes.
pub fn fuzz_decode_fact(data: &[u8]) {
    if let Ok(fact) = decode_fact(data) {
        let again = encode_fact(&fact);
        assert_eq!(decode_fact(&again).ok().as_ref(), Some(&fact), "re-encoding changed the fact");
    }
}
