//! The checkpoint codec of the view folds: a format-version byte, then the
//! state in bincode's standard configuration. Decoding refuses another
//! version, trailing bytes and anything over
//! [`limits::CHECKPOINT_STATE_BYTES_MAX`] (the store's checkpoint cap, so every
//! state a fold decodes is one the store can save, and the reverse).

use bincode::{Decode, Encode};

use crate::limits;

/// `version` then `state`'s bincode encoding.
pub fn encode<T: Encode>(version: u8, state: &T) -> Vec<u8> {
    let mut out = vec![version];
    // encoding plain data into a Vec cannot fail
    let _ = bincode::encode_into_std_write(state, &mut out, bincode::config::standard());
    out
}

/// The state [`encode`] wrote with `version`; `None` for another version,
/// a damaged or truncated body, trailing bytes, or more than
/// [`limits::CHECKPOINT_STATE_BYTES_MAX`] bytes.
pub fn decode<T: Decode<()>>(version: u8, bytes: &[u8]) -> Option<T> {
    let (&v, body) = bytes.split_first()?;
    if v != version || bytes.len() > limits::CHECKPOINT_STATE_BYTES_MAX {
        return None;
    }
    let cfg = bincode::config::standard().with_limit::<{ limits::CHECKPOINT_STATE_BYTES_MAX }>();
    match bincode::decode_from_slice::<T, _>(body, cfg) {
        Ok((state, used)) if used == body.len() => Some(state),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let state: Vec<(String, i64)> = vec![("p".into(), 7), ("q".into(), -3)];
        let bytes = encode(3, &state);
        assert_eq!(bytes.first(), Some(&3));
        assert_eq!(decode::<Vec<(String, i64)>>(3, &bytes), Some(state));
        assert_eq!(decode::<Vec<(String, i64)>>(4, &bytes), None, "another version");
        assert_eq!(decode::<Vec<(String, i64)>>(3, &[]), None);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode::<Vec<(String, i64)>>(3, &longer), None, "trailing bytes");
        for cut in 1..bytes.len() {
            assert_eq!(decode::<Vec<(String, i64)>>(3, bytes.get(..cut).unwrap_or(&[])), None, "cut at {cut}");
        }
        // a length prefix claiming more than the cap is refused, not allocated
        let mut huge = vec![3u8];
        let _ = bincode::encode_into_std_write(u64::MAX, &mut huge, bincode::config::standard());
        assert_eq!(decode::<Vec<u8>>(3, &huge), None);
    }
}
