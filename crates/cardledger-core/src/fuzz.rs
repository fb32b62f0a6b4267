//! Fuzz bodies of the storage layer, kept in the crate (not in `fuzz/`) so a
//! stable test can replay the checked-in corpus (`fuzz/corpus/decode_frame`)
//! on every `cargo test`.
//!
//! What it deliberately is not: a test harness. Each body is a total function
//! over arbitrary bytes that panics only when an invariant is broken.

use crate::record::{self, Hash, NewRecord};

/// Fuzz body: decodes any bytes as a frame (the first 8 bytes, when present,
/// are the sled key the frame is stored under; the rest the frame). Must never
/// panic. Whatever decodes must re-encode to the same bytes and chain, and
/// the three readers of a frame (`decode_frame_header`, `visit_frame`,
/// `decode_frame`, `record_span`) must agree.
pub fn fuzz_decode_frame(data: &[u8]) {
    let (key, frame) = match data.split_first_chunk::<8>() {
        Some((k, rest)) => (u64::from_be_bytes(*k), rest),
        None => (0, data),
    };
    let header = record::decode_frame_header(key, frame);
    let mut visited = Vec::new();
    let walked = record::visit_frame(key, frame, |r| {
        visited.push((r.seq, r.offset, r.len));
        Ok(())
    });
    let decoded = record::decode_frame(key, frame);
    assert_eq!(walked.is_ok(), decoded.is_ok(), "visit_frame and decode_frame disagree: {walked:?}");
    match (&walked, &decoded) {
        (Ok(h), Ok(f)) => {
            assert_eq!(&f.header, h, "decode_frame and visit_frame disagree on the header");
            assert_eq!(header.as_ref().ok(), Some(h), "header decodes alone");
            assert_eq!(f.records.len(), visited.len(), "record count");
            for (r, (seq, offset, len)) in f.records.iter().zip(&visited) {
                assert_eq!(r.seq, *seq);
                assert_eq!(record::record_span(frame, r.seq), Some((*offset, *len)), "record_span agrees");
            }
            reencodes(key, &f.header.prev_hash, &f.records, frame);
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "visit_frame and decode_frame fail differently"),
        _ => {}
    }
}

/// A decoded frame re-encodes to the same bytes and the same chain hashes.
fn reencodes(key: u64, prev: &Hash, records: &[record::StoredRecord], bytes: &[u8]) {
    let news: Vec<NewRecord<'_>> =
        records.iter().map(|r| NewRecord { time_micros: r.time_micros, payload: &r.payload }).collect();
    let version = bytes.first().copied().unwrap_or_default();
    let encoded = record::encode_frame_version(version, key, prev, &news);
    assert!(encoded.is_ok(), "a decoded frame does not re-encode: {encoded:?}");
    if let Ok((again, last)) = encoded {
        assert_eq!(again.as_slice(), bytes, "re-encoding changed the frame");
        assert_eq!(records.last().map(|r| r.hash), Some(last), "re-encoding changed the chain");
    }
}

/// Builds a valid frame (key prefix included) of `n` records from a seed, as
/// fuzz-corpus seeds and for the corpus replay test.
pub fn sample_frame_input(first_seq: u64, payloads: &[&[u8]]) -> Result<Vec<u8>, crate::store::StoreError> {
    let news: Vec<NewRecord<'_>> =
        payloads.iter().enumerate().map(|(i, p)| NewRecord { time_micros: i as i64 * 1_000, payload: p }).collect();
    let (frame, _) = record::encode_frame(first_seq, &record::GENESIS_HASH, &news)?;
    let mut out = first_seq.to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    Ok(out)
}
