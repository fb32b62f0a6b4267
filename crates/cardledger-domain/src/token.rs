//! The inline small strings: [`Token`], the one type of every token and id
//! (user, card, program, funding source, fee, order, unload, journal
//! entry, …) in commands, events, accounts and the state's maps, and
//! [`Text`], the one type of a short free text on the hot paths (a journal
//! entry's group, type, memo, network and mcc).
//!
//! Both are one definition (`inline_str!`): a small string
//! (`compact_str`) of up to 24 bytes lives inside the 24-byte value
//! itself, so building, cloning and dropping one allocates and frees
//! nothing (a longer one — a token of at most [`limits::TOKEN_CHARS_MAX`]
//! characters, a memo of at most [`limits::MEMO_CHARS_MAX`], of any script —
//! lives on the heap as a `String` would). They hash, compare and order
//! exactly as their `str` ([`Borrow<str>`]: a map keyed by one is searched
//! with a `&str`), print (`Display`, `Debug`) and serialize (serde) as their
//! `str`, and their bincode is exactly `String`'s — a varint length, then
//! the UTF-8 bytes — so no byte on disk or on the wire depends on whether a
//! field is one of them or a `String`. The limits are the wire's
//! (`wire.rs`), not the type's.
//!
//! [`limits::TOKEN_CHARS_MAX`]: crate::limits::TOKEN_CHARS_MAX
//! [`limits::MEMO_CHARS_MAX`]: crate::limits::MEMO_CHARS_MAX

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use bincode::de::read::Reader;
use bincode::error::DecodeError;
use bincode::{BorrowDecode, Decode, Encode};
use compact_str::CompactString;

/// Defines an inline small string type `$name(CompactString)` with every
/// impl the module's documentation names: the one home of the rule for
/// [`Token`] and [`Text`].
///
/// Its `Hash`, `Eq` and `Ord` are written over `as_str`, `#[inline]`:
/// `CompactString`'s are out-of-line calls on the hot paths (each map
/// probe, each comparison).
macro_rules! inline_str {
    ($(#[$meta:meta])* $name:ident) => {
    $(#[$meta])*
    #[derive(Clone, Default)]
    pub struct $name(CompactString);

    impl PartialEq for $name {
        #[inline]
        fn eq(&self, other: &$name) -> bool {
            self.as_str() == other.as_str()
        }
    }

    impl Eq for $name {}

    impl PartialOrd for $name {
        #[inline]
        fn partial_cmp(&self, other: &$name) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }

    impl Ord for $name {
        #[inline]
        fn cmp(&self, other: &$name) -> std::cmp::Ordering {
            self.as_str().cmp(other.as_str())
        }
    }

    impl std::hash::Hash for $name {
        /// Exactly the `str`'s hash (as `Borrow<str>` requires: a map keyed by
        /// it is searched with a `&str`).
        #[inline]
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            self.as_str().hash(state)
        }
    }

    impl $name {
        /// The longest text, in bytes, held inline (no allocation).
        pub const INLINE_BYTES: usize = std::mem::size_of::<CompactString>();

        /// An empty one (for tests and defaults; the wire refuses an empty token).
        pub const fn empty() -> $name {
            $name(CompactString::const_new(""))
        }

        /// Its text.
        #[inline]
        pub fn as_str(&self) -> &str {
            self.0.as_str()
        }

        /// True when it lives on the heap (longer than `INLINE_BYTES`).
        pub fn is_heap_allocated(&self) -> bool {
            self.0.is_heap_allocated()
        }
    }

    impl Deref for $name {
        type Target = str;
        #[inline]
        fn deref(&self) -> &str {
            self.0.as_str()
        }
    }

    impl Borrow<str> for $name {
        #[inline]
        fn borrow(&self) -> &str {
            self.0.as_str()
        }
    }

    impl AsRef<str> for $name {
        #[inline]
        fn as_ref(&self) -> &str {
            self.0.as_str()
        }
    }

    impl From<&str> for $name {
        #[inline]
        fn from(s: &str) -> $name {
            $name(CompactString::new(s))
        }
    }

    impl From<&String> for $name {
        #[inline]
        fn from(s: &String) -> $name {
            $name(CompactString::new(s))
        }
    }

    impl From<String> for $name {
        #[inline]
        fn from(s: String) -> $name {
            $name(CompactString::from(s))
        }
    }

    impl From<&$name> for $name {
        #[inline]
        fn from(t: &$name) -> $name {
            t.clone()
        }
    }

    impl From<$name> for String {
        fn from(t: $name) -> String {
            t.0.into_string()
        }
    }

    impl fmt::Display for $name {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Display::fmt(self.as_str(), f)
        }
    }

    impl fmt::Debug for $name {
        /// As the `str`'s (`"u1"`), so that debug output reads as it did when
        /// the field was a `String`.
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Debug::fmt(self.as_str(), f)
        }
    }

    impl PartialEq<str> for $name {
        #[inline]
        fn eq(&self, other: &str) -> bool {
            self.as_str() == other
        }
    }

    impl PartialEq<&str> for $name {
        #[inline]
        fn eq(&self, other: &&str) -> bool {
            self.as_str() == *other
        }
    }

    impl PartialEq<String> for $name {
        fn eq(&self, other: &String) -> bool {
            self.as_str() == other.as_str()
        }
    }

    impl PartialEq<$name> for str {
        fn eq(&self, other: &$name) -> bool {
            self == other.as_str()
        }
    }

    impl PartialEq<$name> for &str {
        fn eq(&self, other: &$name) -> bool {
            *self == other.as_str()
        }
    }

    impl PartialEq<$name> for String {
        fn eq(&self, other: &$name) -> bool {
            self.as_str() == other.as_str()
        }
    }

    impl serde::Serialize for $name {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(self.as_str())
        }
    }

    impl<'de> serde::Deserialize<'de> for $name {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
            struct V;
            impl serde::de::Visitor<'_> for V {
                type Value = $name;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string")
                }
                fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$name, E> {
                    Ok($name::from(s))
                }
            }
            d.deserialize_str(V)
        }
    }

    impl Encode for $name {
        /// `String`'s bytes: the length as a varint, then the UTF-8.
        #[inline]
        fn encode<E: bincode::enc::Encoder>(&self, e: &mut E) -> Result<(), bincode::error::EncodeError> {
            self.as_str().encode(e)
        }
    }

    impl<C> Decode<C> for $name {
        /// What `String`'s decoding accepts, with its errors and its size-limit
        /// accounting (the length claimed before a byte is read), built
        /// straight from the bytes: inline when short, never through a `String`
        /// that would be copied again.
        fn decode<D: bincode::de::Decoder<Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
            let len = u64::decode(d)?;
            let len = usize::try_from(len).map_err(|_| DecodeError::OutsideUsizeRange(len))?;
            d.claim_container_read::<u8>(len)?;
            if let Some(bytes) = d.reader().peek_read(len) {
                let text = CompactString::from_utf8(bytes).map_err(|inner| DecodeError::Utf8 { inner })?;
                d.reader().consume(len);
                return Ok($name(text));
            }
            let mut inline = [0u8; $name::INLINE_BYTES];
            if let Some(buf) = inline.get_mut(..len) {
                d.reader().read(buf)?;
                return CompactString::from_utf8(buf).map($name).map_err(|inner| DecodeError::Utf8 { inner });
            }
            let mut bytes = vec![0u8; len];
            d.reader().read(&mut bytes)?;
            String::from_utf8(bytes).map($name::from).map_err(|e| DecodeError::Utf8 { inner: e.utf8_error() })
        }
    }

    impl<'de, C> BorrowDecode<'de, C> for $name {
        fn borrow_decode<D: bincode::de::BorrowDecoder<'de, Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
            <&str>::borrow_decode(d).map($name::from)
        }
    }
    };
}

inline_str! {
    /// A token or id: an immutable string, inline up to
    /// [`Token::INLINE_BYTES`] bytes (see the module's documentation).
    Token
}

inline_str! {
    /// A short free text of a command (a journal entry's group, type, memo,
    /// network, mcc): an immutable string, inline up to
    /// [`Text::INLINE_BYTES`] bytes (see the module's documentation).
    Text
}

impl Text {
    /// Upper-cases its ASCII letters in place (a network's name, as the
    /// wire stores it); inline stays inline.
    #[inline]
    pub fn make_ascii_uppercase(&mut self) {
        self.0.make_ascii_uppercase();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Every length around the inline size and the varint boundaries
    /// (250 / 251 bytes: one byte, then a `u16`'s), ASCII and not.
    fn samples() -> Vec<String> {
        let mut out = Vec::new();
        for len in [0, 1, 15, 16, 23, 24, 25, 36, 100, 250, 251, 252, 300, 65_535, 65_536] {
            out.push("x".repeat(len));
        }
        for s in ["é", "ç1", "日本語のトークン", "🦀🦀🦀🦀🦀🦀", "ü".repeat(12).as_str(), "ü".repeat(13).as_str()]
        {
            out.push(s.to_owned());
        }
        out.push("ß".repeat(200));
        out
    }

    /// The same tests of `Token` and of `Text` (one definition, two types).
    macro_rules! tests_of {
        ($module:ident, $type:ident) => {
            mod $module {
                use super::*;
                type T = $type;

                #[test]
                fn encodes_to_exactly_strings_bytes_and_decodes_them_back() {
                    for s in samples() {
                        let token = T::from(s.as_str());
                        let big = bincode::config::standard().with_big_endian();
                        let little = bincode::config::standard();
                        let string_bytes = bincode::encode_to_vec(&s, big).unwrap();
                        assert_eq!(bincode::encode_to_vec(&token, big).unwrap(), string_bytes, "{} bytes", s.len());
                        assert_eq!(
                            bincode::encode_to_vec(&token, little).unwrap(),
                            bincode::encode_to_vec(&s, little).unwrap()
                        );
                        // owned decoding (a slice reader, and a reader that cannot peek)
                        let (back, used): (T, usize) = bincode::decode_from_slice(&string_bytes, big).unwrap();
                        assert_eq!((back.as_str(), used), (s.as_str(), string_bytes.len()));
                        let back: T = bincode::decode_from_std_read(&mut string_bytes.as_slice(), big).unwrap();
                        assert_eq!(back.as_str(), s.as_str());
                        // borrowed decoding
                        let (back, _): (T, usize) = bincode::borrow_decode_from_slice(&string_bytes, big).unwrap();
                        assert_eq!(back.as_str(), s.as_str());
                        assert_eq!(token.is_heap_allocated(), s.len() > T::INLINE_BYTES);
                    }
                }

                #[test]
                fn refuses_what_string_refuses_with_the_same_error() {
                    let big = bincode::config::standard().with_big_endian();
                    let limited = big.with_limit::<8>();
                    let mut bad = bincode::encode_to_vec("ab", big).unwrap();
                    bad[1] = 0xff; // not UTF-8
                    let mut long_bad = bincode::encode_to_vec("a".repeat(30), big).unwrap();
                    long_bad[5] = 0xc3; // a lead byte followed by an ASCII byte
                    let cut = bincode::encode_to_vec("abcdef", big).unwrap()[..4].to_vec();
                    for bytes in [bad, long_bad, cut] {
                        let string = bincode::decode_from_slice::<String, _>(&bytes, big).unwrap_err();
                        let token = bincode::decode_from_slice::<T, _>(&bytes, big).unwrap_err();
                        assert_eq!(format!("{token:?}"), format!("{string:?}"));
                        let token = bincode::decode_from_std_read::<T, _, _>(&mut bytes.as_slice(), big).unwrap_err();
                        let string =
                            bincode::decode_from_std_read::<String, _, _>(&mut bytes.as_slice(), big).unwrap_err();
                        assert_eq!(format!("{token:?}"), format!("{string:?}"));
                    }
                    // the size limit counts the claimed length before reading, as String's
                    let ten = bincode::encode_to_vec("0123456789", big).unwrap();
                    let string = bincode::decode_from_slice::<String, _>(&ten, limited).unwrap_err();
                    let token = bincode::decode_from_slice::<T, _>(&ten, limited).unwrap_err();
                    assert_eq!(format!("{token:?}"), format!("{string:?}"));
                }

                #[test]
                fn hashes_compares_and_orders_as_its_str() {
                    use std::collections::{BTreeSet, HashMap};
                    use std::hash::{BuildHasher, RandomState};
                    let state = RandomState::new();
                    let mut texts: Vec<String> = samples();
                    texts.extend(["a", "b", "ab", "B", "é"].map(str::to_owned));
                    for a in &texts {
                        assert_eq!(state.hash_one(T::from(a.as_str())), state.hash_one(a.as_str()));
                        for b in &texts {
                            assert_eq!(T::from(a.as_str()).cmp(&T::from(b.as_str())), a.as_str().cmp(b.as_str()));
                        }
                    }
                    let map: HashMap<T, usize> =
                        texts.iter().enumerate().map(|(i, t)| (T::from(t.as_str()), i)).collect();
                    assert_eq!(map.get("ab"), texts.iter().position(|t| t == "ab").as_ref());
                    let set: BTreeSet<T> = texts.iter().map(|t| T::from(t.as_str())).collect();
                    assert!(set.contains("é"));
                    assert_eq!(format!("{:?} {}", T::from("u\"1"), T::from("u1")), format!("{:?} u1", "u\"1"));
                    assert_eq!(serde_json::to_string(&T::from("é1")).unwrap(), "\"é1\"");
                    assert_eq!(serde_json::from_str::<T>("\"é1\"").unwrap(), "é1");
                }
            }
        };
    }

    tests_of!(token, Token);
    tests_of!(text, Text);
}
