//! The JSON-lines wire format (product.md §3): one object per line with
//! exactly one command key, its body's fields named as in the source pages,
//! and an optional `time` beside it. Parsing is total: every input gives a
//! `CommandLine` or a `Rejection` naming the field, never a panic.
//!
//! A line is read by serde_json's own parser (so a malformed line gets the
//! same message, position included) into [`Json`], a tree that borrows its
//! strings from the line (an escaped string is the one copy) and keeps an
//! object's members in a small vector — no `serde_json::Value`, no map, no
//! `String` per key. It behaves as `Value` with the workspace's
//! `preserve_order` and `arbitrary_precision` features: members in first
//! appearance order, a repeated key keeps its first place and its last
//! value, a number is its text. `parse_value` (the HTTP host's entry) views
//! a `Value` as the same tree, so both hosts share one set of rules.
//!
//! The plain well-formed line (the hosts' common case) skips serde_json: a
//! one-pass scanner (`scan_line`) builds the same tree, and declines every
//! line it does not fully accept, which serde_json then reads as above. The
//! field rules see one tree either way.
//!
//! The commonest line — a `time` and one command whose body's members are
//! each a field, once — skips the tree too (`scan_command`): the scanner
//! files the body's members as fields, in line order, and the same rules
//! (`Body`, from `Body::allow_with` on) read them. Anything else declines
//! to the tree.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::command::*;
use crate::limits;
use crate::money::{Money, MoneyError};
use crate::rejection::{Code, Rejection};
use crate::time::{Date, Timestamp};
use rust_decimal::Decimal;

/// Parses one input line. Tokens left out are generated (UUID v4), which is
/// the host boundary's job: deciding stays pure.
pub fn parse_line(line: &str) -> Result<CommandLine, Rejection> {
    if line.len() > limits::LINE_BYTES_MAX {
        return Err(Rejection::new(
            Code::LineTooLong,
            "",
            format!("line is {} bytes; the limit is {}", line.len(), limits::LINE_BYTES_MAX),
        ));
    }
    if line.trim().is_empty() {
        return Err(Rejection::new(
            Code::MalformedJson,
            "",
            "malformed JSON: an empty or whitespace-only line is not a command (one JSON object per line)",
        ));
    }
    // the fields live here, and the answer is `parse_body`'s own (built in
    // this function's result: no copy of the command on the way out)
    let mut fields = FieldList::new();
    if let Some(scanned) = scan_command(line, &mut fields) {
        return answer_scanned(scanned, &fields);
    }
    let value = match scan_line(line) {
        Some(value) => value,
        None => serde_json::from_str(line)
            .map_err(|e| Rejection::new(Code::MalformedJson, "", format!("malformed JSON: {e}")))?,
    };
    parse_json(&value)
}

/// For the oracle tests: the answer of the fast path without a tree
/// (`scan_command`), or `None` when it declines `line`.
#[doc(hidden)]
pub fn direct_path(line: &str) -> Option<Result<CommandLine, Rejection>> {
    let mut fields = FieldList::new();
    let scanned = scan_command(line, &mut fields)?;
    Some(answer_scanned(scanned, &fields))
}

/// For the oracle tests: `None` when the fast path declines `line`, else
/// whether its tree is the one serde_json's parser builds (it must be).
#[doc(hidden)]
pub fn fast_path_agrees(line: &str) -> Option<bool> {
    let fast = scan_line(line)?;
    Some(serde_json::from_str::<Json<'_>>(line).ok() == Some(fast))
}

/// Parses an already-decoded JSON line.
pub fn parse_value(value: &Value) -> Result<CommandLine, Rejection> {
    parse_json(&Json::from_value(value))
}

/// A JSON value read from a line, borrowing from it where it can (see the
/// module documentation).
#[derive(Clone, Debug, PartialEq)]
enum Json<'a> {
    Null,
    Bool(bool),
    /// The number's text, as `serde_json::Number` displays it.
    Number(Cow<'a, str>),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// An object's members in first-appearance order, each key once.
#[derive(Clone, Debug, PartialEq, Default)]
struct Object<'a> {
    members: Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a> Object<'a> {
    /// `IndexMap::insert`: a repeated key keeps its place, takes the new value.
    fn insert(&mut self, key: Cow<'a, str>, value: Json<'a>) {
        match self.members.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.members.push((key, value)),
        }
    }
}

impl<'a> Json<'a> {
    fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// True when dropping it frees nothing (no owned string, no items).
    #[inline(always)]
    fn owns_nothing(&self) -> bool {
        matches!(self, Json::Null | Json::Bool(_) | Json::Number(Cow::Borrowed(_)) | Json::String(Cow::Borrowed(_)))
    }

    /// Views a `serde_json::Value` as the same tree (borrowing its strings).
    fn from_value(value: &'a Value) -> Json<'a> {
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(Cow::Owned(n.to_string())),
            Value::String(s) => Json::String(Cow::Borrowed(s)),
            Value::Array(items) => Json::Array(items.iter().map(Json::from_value).collect()),
            Value::Object(map) => Json::Object(Object {
                members: map.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Json::from_value(v))).collect(),
            }),
        }
    }
}

/// The fast path: a single pass over the line that builds the tree
/// serde_json's parser would build, for the well-formed line the hosts send
/// (a top-level object; strings of printable ASCII without escapes; numbers
/// without an exponent, kept as their text as `arbitrary_precision` keeps
/// them; JSON's four whitespace bytes between tokens). It declines (`None`)
/// anything else — escapes, other bytes in strings, exponents, the private
/// number key, nesting beyond [`limits::WIRE_SCAN_DEPTH_MAX`] and every
/// error — and the line then takes serde_json's parser, so a rejection (its
/// message and position included) is always serde_json's. A repeated key goes through [`Object::insert`],
/// the rule the slow path applies. The field rules read the same tree either
/// way.
fn scan_line(line: &str) -> Option<Json<'_>> {
    let mut s = Scan { text: line, pos: 0 };
    s.skip_ws();
    if s.peek()? != b'{' {
        return None;
    }
    let value = s.value(0)?;
    s.skip_ws();
    (s.pos == line.len()).then_some(value)
}

/// The fast path without a tree: a line of one object holding a command
/// key whose value is an object and at most one `time`, in either order,
/// whose body's members each name a [`Field`] once, read in one pass into
/// `fields` (which must be empty) and answered by the same rules as the
/// tree's ([`answer_scanned`]: `line_time`, `parse_body`).
/// It declines (`None`) whatever else [`scan_line`] declines, a repeated
/// key, a second command key, a body member that is no field or beyond
/// [`limits::WIRE_SCAN_FIELDS_MAX`], and a body that is not an object; the
/// line then takes the tree, which answers it as before. Every error it can
/// answer — the time's, then the rules' — comes after the whole line was
/// read, as the tree's do.
fn scan_command<'a>(line: &'a str, fields: &mut FieldList<'a>) -> Option<Scanned<'a>> {
    let mut s = Scan { text: line, pos: 0 };
    s.skip_ws();
    if s.peek()? != b'{' {
        return None;
    }
    s.pos += 1;
    let mut time = None;
    let mut command = None;
    loop {
        s.skip_ws();
        if s.peek()? != b'"' {
            return None;
        }
        let key = s.string()?;
        s.expect(b':')?;
        if key == "time" {
            if time.is_some() {
                return None;
            }
            time = Some(s.member_value(1)?);
        } else {
            if command.is_some() || key == NUMBER_TOKEN {
                return None;
            }
            s.skip_ws();
            if s.peek()? != b'{' {
                return None;
            }
            s.fields(fields)?;
            command = Some(key);
        }
        if !s.next_or_close(b'}')? {
            break;
        }
    }
    s.skip_ws();
    if s.pos != line.len() {
        return None;
    }
    Some(Scanned { time, key: command? })
}

/// What [`scan_command`] read besides the body's fields: the line's `time`
/// (as written) and its command key.
struct Scanned<'a> {
    time: Option<Json<'a>>,
    key: &'a str,
}

/// The answer to a line [`scan_command`] read: its time's error, else the
/// rules' answer on its fields. Inlined: the answer is built where the
/// caller returns it.
#[inline(always)]
fn answer_scanned<'a>(scanned: Scanned<'a>, fields: &'a FieldList<'a>) -> Result<CommandLine, Rejection> {
    let time = match &scanned.time {
        Some(time) => Some(line_time(time)?),
        None => None,
    };
    parse_body(time, Body::of_fields(scanned.key, fields))
}

/// A command body's members as [`Scan::fields`] reads them (each a field,
/// in line order), on the stack: no allocation, and dropping it drops only
/// the values that own memory (a nested array or object, an escaped
/// string), not every member's value in turn.
struct FieldList<'a> {
    len: usize,
    /// The bits ([`Field::bit`]) of the members' fields.
    seen: u64,
    /// Whether a member's value owns memory: else the drop has nothing to
    /// free and returns at once (the common line's strings are borrowed).
    owns: bool,
    /// The first `len` are the members; the rest stay `null` (owning
    /// nothing, they need no drop).
    items: std::mem::ManuallyDrop<[(Field, Json<'a>); limits::WIRE_SCAN_FIELDS_MAX]>,
}

impl<'a> FieldList<'a> {
    fn new() -> FieldList<'a> {
        FieldList {
            len: 0,
            seen: 0,
            owns: false,
            items: std::mem::ManuallyDrop::new([const { (Field::Token, Json::Null) }; limits::WIRE_SCAN_FIELDS_MAX]),
        }
    }

    /// Whether a member names `field` already (a repeated one declines).
    #[inline(always)]
    fn has(&self, field: Field) -> bool {
        self.seen & field.bit() != 0
    }

    /// Appends a member, or declines beyond [`limits::WIRE_SCAN_FIELDS_MAX`].
    #[inline(always)]
    fn push(&mut self, field: Field, value: Json<'a>) -> Option<()> {
        self.owns |= !value.owns_nothing();
        let (_, free) = std::mem::replace(self.items.get_mut(self.len)?, (field, value));
        // a free place holds `null`: nothing to drop (and no drop glue's call)
        debug_assert!(free.is_null());
        std::mem::forget(free);
        self.len += 1;
        self.seen |= field.bit();
        Some(())
    }

    fn as_slice(&self) -> &[(Field, Json<'a>)] {
        match self.items.get(..self.len) {
            Some(members) => members,
            None => unreachable!("push never passes the list's capacity"),
        }
    }
}

impl Drop for FieldList<'_> {
    fn drop(&mut self) {
        if !self.owns {
            return;
        }
        for (_, value) in self.items.iter_mut().take(self.len) {
            if !value.owns_nothing() {
                drop(std::mem::replace(value, Json::Null));
            }
        }
    }
}

/// The fast path's cursor over a line.
struct Scan<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Skips JSON's whitespace. Inlined to its first test: the hosts'
    /// lines have none between tokens, and this runs before each token.
    #[inline(always)]
    fn skip_ws(&mut self) {
        if let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.skip_ws_rest();
        }
    }

    fn skip_ws_rest(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `b` (after whitespace), or declines.
    #[inline(always)]
    fn expect(&mut self, b: u8) -> Option<()> {
        if self.peek() != Some(b) {
            self.skip_ws();
            if self.peek()? != b {
                return None;
            }
        }
        self.pos += 1;
        Some(())
    }

    fn value(&mut self, depth: usize) -> Option<Json<'a>> {
        self.skip_ws();
        match self.peek()? {
            b'"' => self.string().map(|s| Json::String(Cow::Borrowed(s))),
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// A member's value ([`Scan::value`] at `depth`): a string (most
    /// members, and every `time`) read here, inline, without the call.
    #[inline(always)]
    fn member_value(&mut self, depth: usize) -> Option<Json<'a>> {
        self.skip_ws();
        match self.peek()? {
            b'"' => Some(Json::String(Cow::Borrowed(self.string()?))),
            _ => self.value(depth),
        }
    }

    fn literal(&mut self, word: &str, value: Json<'a>) -> Option<Json<'a>> {
        let end = self.pos + word.len();
        (self.text.get(self.pos..end)? == word).then(|| {
            self.pos = end;
            value
        })
    }

    /// A string of printable ASCII without escapes, borrowed. Read eight
    /// bytes at a time: the first byte that is not plain ASCII (see
    /// [`not_plain`]) must be the closing quote. Inlined: a line has some
    /// 25 strings, and the call's own cost was a third of each.
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        let start = self.pos + 1;
        let len = self.quoted(not_plain)?;
        self.text.get(start..start + len)
    }

    /// A body member's name (at its opening quote): the text up to the
    /// next quote, borrowed. Only the quote is looked for, not every byte
    /// [`Scan::string`] declines: the caller keeps the text only when it is
    /// a field's name, which holds none of them, and declines it otherwise,
    /// as it would decline whatever `string` declines. Its bytes: a name is
    /// matched, never kept (no `str`'s boundary checks).
    #[inline(always)]
    fn field_name(&mut self) -> Option<&'a [u8]> {
        let start = self.pos + 1;
        let len = self.quoted(quotes)?;
        self.text.as_bytes().get(start..start + len)
    }

    /// At an opening quote: the length of the text up to the first byte
    /// `stop` finds, which must be the closing quote (else it declines),
    /// read eight bytes at a time; the cursor moves past the closing quote.
    #[inline(always)]
    fn quoted(&mut self, stop: fn(u64) -> u64) -> Option<usize> {
        let start = self.pos + 1;
        let rest = self.text.as_bytes().get(start..)?;
        let mut at = 0;
        loop {
            // past the end of the line the word reads as quotes, found beyond it
            let chunk = rest.get(at..)?;
            let word = match chunk.first_chunk::<8>() {
                Some(word) => *word,
                None => {
                    let mut word = [b'"'; 8];
                    for (w, &b) in word.iter_mut().zip(chunk) {
                        *w = b;
                    }
                    word
                }
            };
            let found = stop(u64::from_le_bytes(word));
            if found != 0 {
                let end = at + (found.trailing_zeros() / 8) as usize;
                if rest.get(end) != Some(&b'"') {
                    return None;
                }
                self.pos = start + end + 1;
                return Some(end);
            }
            at += 8;
        }
    }

    /// JSON's number grammar without an exponent (whose text serde_json
    /// rewrites); the text as it stands, which is what `arbitrary_precision`
    /// keeps (a canonical integer displays as its text too).
    fn number(&mut self) -> Option<Json<'a>> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let at = self.pos;
            self.digits();
            if self.pos == at {
                return None;
            }
        }
        match self.peek() {
            Some(b'e' | b'E' | b'0'..=b'9') => None,
            _ => self.text.get(start..self.pos).map(|t| Json::Number(Cow::Borrowed(t))),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn object(&mut self, depth: usize) -> Option<Json<'a>> {
        if depth > limits::WIRE_SCAN_DEPTH_MAX {
            return None;
        }
        self.pos += 1; // '{'
        let mut obj = Object { members: Vec::with_capacity(16) };
        // a bit per (length, last byte) of the keys so far: a key whose bit
        // is clear repeats none of them, so `Object::insert` would push it
        let mut seen = 0u64;
        self.skip_ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(Json::Object(obj));
        }
        loop {
            self.skip_ws();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            if key == NUMBER_TOKEN {
                return None;
            }
            self.expect(b':')?;
            let value = self.value(depth)?;
            let bit = 1u64 << ((key.len() * 7 + usize::from(key.as_bytes().last().copied().unwrap_or(0))) % 64);
            if seen & bit == 0 {
                seen |= bit;
                obj.members.push((Cow::Borrowed(key), value));
            } else {
                obj.insert(Cow::Borrowed(key), value);
            }
            if !self.next_or_close(b'}')? {
                return Some(Json::Object(obj));
            }
        }
    }

    /// After a member or an item: `true` past a `,` (another follows),
    /// `false` past `close`; declines at anything else.
    fn next_or_close(&mut self, close: u8) -> Option<bool> {
        self.skip_ws();
        let b = self.peek()?;
        self.pos += 1;
        match b {
            b',' => Some(true),
            _ if b == close => Some(false),
            _ => None,
        }
    }

    /// A command body (at `{`): its members as fields, in line order, into
    /// `out`. Declines a member that is no field, a repeated one, one beyond
    /// [`limits::WIRE_SCAN_FIELDS_MAX`], and whatever [`Scan::value`] declines.
    fn fields(&mut self, out: &mut FieldList<'a>) -> Option<()> {
        self.pos += 1; // '{'
        self.skip_ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.skip_ws();
            if self.peek()? != b'"' {
                return None;
            }
            let field = Field::of(self.field_name()?)?;
            if out.has(field) {
                return None;
            }
            self.expect(b':')?;
            // a body's members sit at depth 2, as in `scan_line`'s tree
            out.push(field, self.member_value(2)?)?;
            if !self.next_or_close(b'}')? {
                return Some(());
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Json<'a>> {
        if depth > limits::WIRE_SCAN_DEPTH_MAX {
            return None;
        }
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(Json::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            if !self.next_or_close(b']')? {
                return Some(Json::Array(items));
            }
        }
    }
}

/// The bytes of `word` (little-endian) that a fast-path string may not hold
/// unescaped or that end it: `"`, `\\`, below U+0020, above U+007E. Each
/// such byte's high bit is set in the result, and the lowest set bit is
/// exactly the first such byte (a higher bit may be a false one).
#[inline(always)]
fn not_plain(word: u64) -> u64 {
    (word & HIGH)
        | (word.wrapping_sub(ONES * 0x20) & !word & HIGH)
        | zero_bytes(word ^ (ONES * u64::from(b'"')))
        | zero_bytes(word ^ (ONES * u64::from(b'\\')))
        | zero_bytes(word ^ (ONES * 0x7f))
}

/// The quotes of `word` (little-endian), as [`not_plain`] marks its bytes.
#[inline(always)]
fn quotes(word: u64) -> u64 {
    zero_bytes(word ^ (ONES * u64::from(b'"')))
}

/// A one in each byte of a word.
const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of each byte of a word.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `x` that is zero (and maybe of a byte after
/// one: the lowest set bit is exact).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGH
}

/// The key serde_json's `arbitrary_precision` feature hands a number under
/// (as a one-member map); `Value` reads such a map as a number, and so do we.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl<'de> de::Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(Cow::Owned(v.to_string())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(Cow::Owned(v.to_string())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json<'de>, E> {
        // as `Value` does; with `arbitrary_precision` the parser never calls it
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, |n| Json::Number(Cow::Owned(n.to_string()))))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v)))
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json<'de>, D::Error> {
        de::Deserialize::deserialize(deserializer)
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let Some(first) = map.next_key_seed(KeySeed)? else { return Ok(Json::Object(Object::default())) };
        if first == NUMBER_TOKEN {
            return Ok(Json::Number(Cow::Owned(map.next_value_seed(NumberText)?)));
        }
        let mut obj = Object { members: Vec::with_capacity(8) };
        obj.members.push((first, map.next_value()?));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value()?;
            obj.insert(key, value);
        }
        Ok(Json::Object(obj))
    }
}

/// An object key, borrowed from the line unless it had escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The value under [`NUMBER_TOKEN`], read as serde_json's own
/// `NumberFromString` reads it (same expectation, same error).
struct NumberText;

impl<'de> DeserializeSeed<'de> for NumberText {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NumberText {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("string containing a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        v.parse::<serde_json::Number>().map(|n| n.to_string()).map_err(de::Error::custom)
    }
}

/// Reads a decoded line into a command.
fn parse_json(value: &Json<'_>) -> Result<CommandLine, Rejection> {
    let Json::Object(obj) = value else {
        return Err(Rejection::new(Code::NotAnObject, "", "a command line must be a JSON object"));
    };
    let mut time = None;
    let mut command_key = None;
    for (k, v) in &obj.members {
        if k == "time" {
            time = Some(line_time(v)?);
        } else if command_key.is_some() {
            return Err(Rejection::new(Code::CommandCount, k.as_ref(), "a line carries exactly one command key"));
        } else {
            command_key = Some((k.as_ref(), v));
        }
    }
    let Some((key, body)) = command_key else {
        return Err(Rejection::new(Code::CommandCount, "", "the line has no command key"));
    };
    let Json::Object(map) = body else {
        return Err(Rejection::new(Code::NotAnObject, key, "the command body must be a JSON object"));
    };
    parse_body(time, Body::new(key, map))
}

/// A line's `time`.
fn line_time(v: &Json<'_>) -> Result<Timestamp, Rejection> {
    let Json::String(text) = v else {
        return Err(Rejection::new(Code::WrongType, "time", "must be an RFC 3339 string"));
    };
    Timestamp::parse(text)
        .ok_or_else(|| Rejection::new(Code::InvalidTime, "time", format!("not an RFC 3339 time: {text:?}")))
}

/// A money movement's line: `time`, the command and the body's
/// `corrected_post_date`. The date is read first, so the command is built in
/// place in the answer (not built aside and moved in once the date is read);
/// the date's error is answered only after the command was read without one,
/// as before (a command's own error comes first).
macro_rules! money_line {
    ($time:expr, $b:expr, $command:expr) => {
        match $b.opt_date(F::CorrectedPostDate) {
            Ok(corrected_post_date) => Ok(CommandLine { time: $time, corrected_post_date, command: $command }),
            // the command's own error comes first, as it is read first
            Err(e) => {
                let _command: Command = $command;
                Err(e)
            }
        }
    };
}

/// The line of a body's command: `time`, the command, and for a money
/// movement its `corrected_post_date` ([`money_line`]). Each line is built
/// where it is answered (not moved through a `Result` of the command).
fn parse_body(time: Option<Timestamp>, mut b: Body<'_>) -> Result<CommandLine, Rejection> {
    const MONEY_COMMON: &[Field] = &[F::CorrectedPostDate];
    let cmd = match b.key {
        "program" => {
            b.allow(&[
                F::Token,
                F::Bank,
                F::CurrencyCode,
                F::OpeningBankBalance,
                F::ReportingTimezone,
                F::Reserve,
                F::FundingAlertThreshold,
            ])?;
            Command::Program(ProgramCmd {
                token: b.token_or_new(F::Token)?,
                bank: b.text(F::Bank, limits::NAME_CHARS_MAX)?,
                currency_code: b.currency(F::CurrencyCode)?,
                opening_bank_balance: b.opt_money_signed(F::OpeningBankBalance)?.unwrap_or(Money::ZERO),
                reporting_timezone: b.opt_zone(F::ReportingTimezone)?.unwrap_or_else(|| "UTC".into()),
                reserve: b.opt_reserve(F::Reserve)?,
                funding_alert_threshold: b.opt_money_nonneg(F::FundingAlertThreshold)?,
            })
        }
        "user" | "business" => {
            b.allow(&[F::Token, F::ProgramToken])?;
            let c = HolderCmd { token: b.token_or_new(F::Token)?, program_token: b.token(F::ProgramToken)? };
            if b.key == "user" {
                Command::User(c)
            } else {
                Command::Business(c)
            }
        }
        "funding_source" => {
            b.allow(&[
                F::Token,
                F::ProgramToken,
                F::UserToken,
                F::BusinessToken,
                F::Type,
                F::IsDefaultAccount,
                F::Active,
                F::Name,
            ])?;
            let token = b.token_or_new(F::Token)?;
            let kind = match b.text::<&str>(F::Type, limits::CODE_CHARS_MAX)? {
                "program" => FundingKind::Program,
                "programgateway" => FundingKind::ProgramGateway,
                "ach" => FundingKind::Ach,
                "paymentcard" => FundingKind::PaymentCard,
                other => {
                    return Err(b.err(
                        Code::InvalidValue,
                        "type",
                        format!("{other:?} is not one of program, programgateway, ach, paymentcard"),
                    ))
                }
            };
            let holder = b.opt_holder()?;
            let program_token = b.opt_token(F::ProgramToken)?;
            if kind.is_program() {
                if let Some(h) = &holder {
                    return Err(b.err(Code::HolderChoice, h.field(), "a program funding source has no holder"));
                }
                if program_token.is_none() {
                    return Err(b.err(Code::MissingField, "program_token", "is required for a program funding source"));
                }
            } else if holder.is_none() {
                return Err(b.err(
                    Code::HolderChoice,
                    "user_token",
                    "exactly one of user_token or business_token is required for an ach or paymentcard source",
                ));
            }
            Command::FundingSource(FundingSourceCmd {
                token,
                program_token,
                holder,
                kind,
                is_default_account: b.opt_bool(F::IsDefaultAccount)?.unwrap_or(false),
                active: b.opt_bool(F::Active)?.unwrap_or(true),
                name: b.opt_text(F::Name, limits::NAME_CHARS_MAX)?.unwrap_or_default(),
            })
        }
        "funding_source_address" => {
            b.allow(&[F::Token, F::FundingSourceToken])?;
            Command::FundingSourceAddress(FundingSourceAddressCmd {
                token: b.token_or_new(F::Token)?,
                funding_source_token: b.token(F::FundingSourceToken)?,
            })
        }
        "fee" => {
            b.allow(&[F::Token, F::Name, F::Amount, F::CurrencyCode, F::Active])?;
            Command::Fee(FeeCmd {
                token: b.token_or_new(F::Token)?,
                name: b.text(F::Name, limits::NAME_CHARS_MAX)?,
                amount: b.money(F::Amount)?,
                currency_code: b.currency(F::CurrencyCode)?,
                active: b.opt_bool(F::Active)?.unwrap_or(true),
            })
        }
        "campaign" | "merchant" => {
            b.allow(&[F::Token, F::Name, F::Active])?;
            let c = CampaignCmd {
                token: b.token_or_new(F::Token)?,
                name: b.text(F::Name, limits::NAME_CHARS_MAX)?,
                active: b.opt_bool(F::Active)?.unwrap_or(true),
            };
            if b.key == "campaign" {
                Command::Campaign(c)
            } else {
                Command::Merchant(c)
            }
        }
        "offer" => {
            b.allow(&[
                F::Token,
                F::Name,
                F::CampaignToken,
                F::PurchaseAmount,
                F::RewardAmount,
                F::RewardTriggerAmount,
                F::CurrencyCode,
                F::Active,
            ])?;
            Command::Offer(OfferCmd {
                token: b.token_or_new(F::Token)?,
                name: b.text(F::Name, limits::NAME_CHARS_MAX)?,
                campaign_token: b.token(F::CampaignToken)?,
                purchase_amount: b.money(F::PurchaseAmount)?,
                reward_amount: b.opt_money_nonneg(F::RewardAmount)?.unwrap_or(Money::ZERO),
                reward_trigger_amount: b.opt_money_nonneg(F::RewardTriggerAmount)?.unwrap_or(Money::ZERO),
                currency_code: b.currency(F::CurrencyCode)?,
                active: b.opt_bool(F::Active)?.unwrap_or(true),
            })
        }
        "credit_account" => {
            b.allow(&[
                F::Token,
                F::UserToken,
                F::ProgramToken,
                F::CreditLimit,
                F::Apr,
                F::Timezone,
                F::BillingCycleDay,
                F::MinPayment,
                F::LatePaymentFee,
                F::MinimumInterest,
                F::RewardPercentage,
                F::InterestOnGraceReactivation,
                F::AllocationOrder,
                F::OpenedTime,
            ])?;
            let billing_cycle_day = b.opt_u32(F::BillingCycleDay)?.unwrap_or(1);
            if !(1..=28).contains(&billing_cycle_day) {
                return Err(b.err(Code::InvalidValue, "billing_cycle_day", "must be 1 to 28"));
            }
            let grace: String = b
                .opt_text(F::InterestOnGraceReactivation, limits::CODE_CHARS_MAX)?
                .unwrap_or_else(|| "ACCRUE_PAYMENT_DATE".into());
            if !["ACCRUE_PAYMENT_DATE", "ACCRUE_FULL_CYCLE", "WAIVE"].contains(&grace.as_str()) {
                return Err(b.err(
                    Code::InvalidValue,
                    "interest_on_grace_reactivation",
                    "must be ACCRUE_PAYMENT_DATE, ACCRUE_FULL_CYCLE or WAIVE",
                ));
            }
            Command::CreditAccount(CreditAccountCmd {
                token: b.token_or_new(F::Token)?,
                user_token: b.token(F::UserToken)?,
                program_token: b.token(F::ProgramToken)?,
                credit_limit: b.money(F::CreditLimit)?,
                apr: b.rate(F::Apr)?,
                timezone: b.opt_zone(F::Timezone)?.unwrap_or_else(|| "America/New_York".into()),
                billing_cycle_day,
                min_payment: b.min_payment(F::MinPayment)?,
                late_payment_fee: b.opt_money_nonneg(F::LatePaymentFee)?.unwrap_or(Money::from_cents(2500)),
                minimum_interest: b.opt_money_nonneg(F::MinimumInterest)?.unwrap_or(Money::ZERO),
                reward_percentage: b.opt_rate(F::RewardPercentage)?.unwrap_or_default(),
                interest_on_grace_reactivation: grace,
                allocation_order: b
                    .opt_codes(F::AllocationOrder)?
                    .unwrap_or_else(|| vec!["INTEREST".into(), "FEES".into(), "PRINCIPAL".into()]),
                opened_time: b.opt_time(F::OpenedTime)?,
            })
        }
        "gpa_order" => {
            b.allow_with(
                &[
                    F::Token,
                    F::UserToken,
                    F::BusinessToken,
                    F::Amount,
                    F::CurrencyCode,
                    F::FundingSourceToken,
                    F::FundingSourceAddressToken,
                    F::Tags,
                    F::Memo,
                    F::Fees,
                ],
                MONEY_COMMON,
            )?;
            return money_line!(
                time,
                b,
                Command::GpaOrder(GpaOrderCmd {
                    token: b.token_or_new(F::Token)?,
                    holder: b.holder()?,
                    amount: b.money(F::Amount)?,
                    currency_code: b.currency(F::CurrencyCode)?,
                    funding_source_token: b.opt_token(F::FundingSourceToken)?,
                    funding_source_address_token: b.opt_token(F::FundingSourceAddressToken)?,
                    tags: b.opt_text(F::Tags, limits::TAGS_CHARS_MAX)?,
                    memo: b.opt_text(F::Memo, limits::MEMO_CHARS_MAX)?,
                    fees: b.fees(F::Fees, false)?,
                })
            );
        }
        "gpa_unload" | "msa_unload" => {
            b.allow_with(&[F::Token, F::OriginalOrderToken, F::Amount, F::Tags, F::Memo], MONEY_COMMON)?;
            let c = UnloadCmd {
                token: b.token_or_new(F::Token)?,
                original_order_token: b.token(F::OriginalOrderToken)?,
                amount: b.money(F::Amount)?,
                tags: b.opt_text(F::Tags, limits::TAGS_CHARS_MAX)?,
                memo: b.opt_text(F::Memo, limits::MEMO_CHARS_MAX)?,
            };
            return money_line!(
                time,
                b,
                if b.key == "gpa_unload" { Command::GpaUnload(c) } else { Command::MsaUnload(c) }
            );
        }
        "msa_order" => {
            b.allow_with(
                &[
                    F::Token,
                    F::CampaignToken,
                    F::UserToken,
                    F::BusinessToken,
                    F::CurrencyCode,
                    F::PurchaseAmount,
                    F::RewardAmount,
                    F::RewardTriggerAmount,
                    F::FundingSourceToken,
                    F::FundingSourceAddressToken,
                    F::StartDate,
                    F::EndDate,
                ],
                MONEY_COMMON,
            )?;
            return money_line!(
                time,
                b,
                Command::MsaOrder(MsaOrderCmd {
                    token: b.token_or_new(F::Token)?,
                    campaign_token: b.token(F::CampaignToken)?,
                    holder: b.holder()?,
                    currency_code: b.currency(F::CurrencyCode)?,
                    purchase_amount: b.money(F::PurchaseAmount)?,
                    reward_amount: b.opt_money_nonneg(F::RewardAmount)?.unwrap_or(Money::ZERO),
                    reward_trigger_amount: b.opt_money_nonneg(F::RewardTriggerAmount)?.unwrap_or(Money::from_cents(1)),
                    funding_source_token: b.opt_token(F::FundingSourceToken)?,
                    funding_source_address_token: b.opt_token(F::FundingSourceAddressToken)?,
                    start_date: b.opt_time(F::StartDate)?,
                    end_date: b.opt_time(F::EndDate)?,
                })
            );
        }
        "msa_order_update" => {
            b.allow(&[F::Token, F::Active, F::StartDate, F::EndDate])?;
            Command::MsaOrderUpdate(MsaOrderUpdateCmd {
                token: b.token(F::Token)?,
                active: b.opt_bool(F::Active)?,
                start_date: b.opt_time(F::StartDate)?,
                end_date: b.opt_time(F::EndDate)?,
            })
        }
        "offer_order" => {
            b.allow_with(
                &[
                    F::Token,
                    F::UserToken,
                    F::BusinessToken,
                    F::OfferToken,
                    F::FundingSourceToken,
                    F::FundingSourceAddressToken,
                ],
                MONEY_COMMON,
            )?;
            return money_line!(
                time,
                b,
                Command::OfferOrder(OfferOrderCmd {
                    token: b.token_or_new(F::Token)?,
                    holder: b.holder()?,
                    offer_token: b.token(F::OfferToken)?,
                    funding_source_token: b.opt_token(F::FundingSourceToken)?,
                    funding_source_address_token: b.opt_token(F::FundingSourceAddressToken)?,
                })
            );
        }
        "fee_transfer" => {
            b.allow_with(&[F::Token, F::UserToken, F::BusinessToken, F::Fees], MONEY_COMMON)?;
            return money_line!(
                time,
                b,
                Command::FeeTransfer(FeeTransferCmd {
                    token: b.token_or_new(F::Token)?,
                    holder: b.holder()?,
                    fees: b.fees(F::Fees, true)?,
                })
            );
        }
        "journal_entry" => {
            b.allow_with(
                &[
                    F::Token,
                    F::UserToken,
                    F::BusinessToken,
                    F::AccountToken,
                    F::RelatedToken,
                    F::RootToken,
                    F::CardToken,
                    F::Status,
                    F::Group,
                    F::Type,
                    F::Amount,
                    F::CurrencyCode,
                    F::Memo,
                    F::RequestTime,
                    F::ImpactTime,
                    F::Network,
                    F::PinPresent,
                    F::Mcc,
                    F::ActingUserToken,
                ],
                MONEY_COMMON,
            )?;
            let token = b.token_or_new(F::Token)?;
            let account = b.opt_token(F::AccountToken)?;
            let holder = b.opt_holder()?;
            let target = match (holder, account) {
                (Some(h), None) => JeTarget::Gpa(h),
                (None, Some(a)) => JeTarget::Credit(a),
                (Some(_), Some(_)) => {
                    return Err(b.err(
                        Code::HolderChoice,
                        "account_token",
                        "give either account_token or a user/business token, not both",
                    ))
                }
                (None, None) => {
                    return Err(b.err(
                        Code::HolderChoice,
                        "user_token",
                        "one of user_token, business_token or account_token is required",
                    ))
                }
            };
            let status = match b.text::<&str>(F::Status, limits::CODE_CHARS_MAX)? {
                "PENDING" => JeStatus::Pending,
                "POSTED" => JeStatus::Posted,
                "CLEARED" => JeStatus::Cleared,
                "DECLINED" => JeStatus::Declined,
                "ERROR" => JeStatus::Error,
                other => {
                    return Err(b.err(
                        Code::InvalidValue,
                        "status",
                        format!("{other:?} is not one of PENDING, POSTED, CLEARED, DECLINED, ERROR"),
                    ))
                }
            };
            return money_line!(
                time,
                b,
                Command::JournalEntry(JournalEntryCmd {
                    token,
                    target,
                    related_token: b.opt_token(F::RelatedToken)?,
                    root_token: b.opt_token(F::RootToken)?,
                    card_token: b.opt_token(F::CardToken)?,
                    status,
                    group: b.opt_text(F::Group, limits::CODE_CHARS_MAX)?,
                    kind: b.text(F::Type, limits::CODE_CHARS_MAX)?,
                    amount: b.money(F::Amount)?,
                    currency_code: b.currency(F::CurrencyCode)?,
                    memo: b.opt_text(F::Memo, limits::MEMO_CHARS_MAX)?,
                    request_time: b.opt_time(F::RequestTime)?,
                    impact_time: b.opt_time(F::ImpactTime)?,
                    network: b.opt_text::<Text>(F::Network, limits::CODE_CHARS_MAX)?.map(|mut n| {
                        n.make_ascii_uppercase();
                        n
                    }),
                    pin_present: b.opt_bool(F::PinPresent)?,
                    mcc: b.opt_text(F::Mcc, limits::CODE_CHARS_MAX)?,
                    acting_user_token: b.opt_token(F::ActingUserToken)?,
                })
            );
        }
        "program_deposit" => {
            b.allow_with(&[F::Token, F::ProgramToken, F::Amount, F::CurrencyCode], MONEY_COMMON)?;
            return money_line!(
                time,
                b,
                Command::ProgramDeposit(ProgramDepositCmd {
                    token: b.token_or_new(F::Token)?,
                    program_token: b.token(F::ProgramToken)?,
                    amount: b.money(F::Amount)?,
                    currency_code: b.currency(F::CurrencyCode)?,
                })
            );
        }
        "tick" => {
            b.allow(&[F::Now])?;
            let now = b.opt_time(F::Now)?.ok_or_else(|| b.err(Code::MissingField, "now", "is required"))?;
            Command::Tick(TickCmd { now })
        }
        other => {
            return Err(Rejection::new(Code::UnknownCommand, other, format!("unknown command {other:?}")));
        }
    };
    Ok(CommandLine { time, corrected_post_date: None, command: cmd })
}

/// Declares [`Field`], the name of every member a command body (or one of
/// its nested objects) may carry: one list, its names, and [`Field::of`].
macro_rules! fields {
    ($($id:ident = $name:literal,)*) => {
        /// A member name of a command body or a nested object.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Field {
            $($id,)*
        }

        impl Field {
            /// Every field, in declaration order (`Field as usize` is its place).
            const ALL: &'static [Field] = &[$(Field::$id,)*];

            /// Every field's name, in declaration order (a table: no `match`).
            const NAMES: &'static [&'static str] = &[$($name,)*];

            /// The member name, as written in a line and named in a rejection.
            const fn name(self) -> &'static str {
                match self {
                    $(Field::$id => $name,)*
                }
            }
        }
    };
}

fields! {
    Token = "token",
    Bank = "bank",
    CurrencyCode = "currency_code",
    OpeningBankBalance = "opening_bank_balance",
    ReportingTimezone = "reporting_timezone",
    Reserve = "reserve",
    FundingAlertThreshold = "funding_alert_threshold",
    ProgramToken = "program_token",
    UserToken = "user_token",
    BusinessToken = "business_token",
    Type = "type",
    IsDefaultAccount = "is_default_account",
    Active = "active",
    Name = "name",
    FundingSourceToken = "funding_source_token",
    Amount = "amount",
    CampaignToken = "campaign_token",
    PurchaseAmount = "purchase_amount",
    RewardAmount = "reward_amount",
    RewardTriggerAmount = "reward_trigger_amount",
    CreditLimit = "credit_limit",
    Apr = "apr",
    Timezone = "timezone",
    BillingCycleDay = "billing_cycle_day",
    MinPayment = "min_payment",
    LatePaymentFee = "late_payment_fee",
    MinimumInterest = "minimum_interest",
    RewardPercentage = "reward_percentage",
    InterestOnGraceReactivation = "interest_on_grace_reactivation",
    AllocationOrder = "allocation_order",
    OpenedTime = "opened_time",
    FundingSourceAddressToken = "funding_source_address_token",
    Tags = "tags",
    Memo = "memo",
    Fees = "fees",
    CorrectedPostDate = "corrected_post_date",
    OriginalOrderToken = "original_order_token",
    StartDate = "start_date",
    EndDate = "end_date",
    OfferToken = "offer_token",
    AccountToken = "account_token",
    RelatedToken = "related_token",
    RootToken = "root_token",
    CardToken = "card_token",
    Status = "status",
    Group = "group",
    RequestTime = "request_time",
    ImpactTime = "impact_time",
    Network = "network",
    PinPresent = "pin_present",
    Mcc = "mcc",
    ActingUserToken = "acting_user_token",
    Now = "now",
    FlatAmount = "flat_amount",
    PercentageOfBalance = "percentage_of_balance",
    IncludeInterestCharged = "include_interest_charged",
    IncludeFeesCharged = "include_fees_charged",
    IncludePastDueAmount = "include_past_due_amount",
    IncludeOverlimitAmount = "include_overlimit_amount",
    Description = "description",
    Days = "days",
    MinimumAmount = "minimum_amount",
    WindowDays = "window_days",
}

use Field as F;

/// Fields there are; each has a bit in a `u64` mask (see [`Field::bit`]).
const FIELD_COUNT: usize = Field::ALL.len();
const _: () = assert!(FIELD_COUNT <= 64, "a field's bit must fit a u64");

/// Every field's name by its place ([`Field::NAMES`]).
const FIELD_NAMES: &[&str] = Field::NAMES;

/// Slots of [`FIELD_SLOTS`]: a power of two, so a hash is masked into it.
const FIELD_SLOT_COUNT: usize = 256;
/// A free slot of [`FIELD_SLOTS`].
const NO_FIELD: u8 = u8::MAX;

/// The slot of a member name: from its length and three of its bytes.
/// Every field has its own slot (checked when the table is built), so a
/// name is one slot and one comparison away from its field.
const fn field_slot(name: &[u8]) -> usize {
    match name {
        [] => 0,
        [a] => slot_of(1, *a, 0, *a),
        [a, b] => slot_of(2, *a, *b, *b),
        [a, b, .., z] => slot_of(name.len(), *a, *b, *z),
    }
}

/// [`field_slot`] of a name of `len` bytes, its first, second and last.
#[inline(always)]
const fn slot_of(len: usize, first: u8, second: u8, last: u8) -> usize {
    (len * 16 + first as usize * 5 + last as usize * 7 + second as usize) % FIELD_SLOT_COUNT
}

/// Per slot, the place of the field whose name hashes there, or [`NO_FIELD`].
/// Built at compile time; two fields in one slot fail the build (and so
/// would an index out of bounds: hence the indexing).
#[allow(clippy::indexing_slicing)]
const FIELD_SLOTS: [u8; FIELD_SLOT_COUNT] = {
    let mut table = [NO_FIELD; FIELD_SLOT_COUNT];
    let mut i = 0;
    while i < FIELD_COUNT {
        let name = Field::ALL[i].name().as_bytes();
        assert!(name.len() >= 3, "Field::of reads a name's first two bytes and its last");
        let slot = field_slot(name);
        assert!(table[slot] == NO_FIELD, "two field names share a slot: change field_slot");
        table[slot] = i as u8;
        i += 1;
    }
    table
};

impl Field {
    /// The field named `name` (its bytes), if any.
    #[inline(always)]
    fn of(name: &[u8]) -> Option<Field> {
        // every field's name has three bytes or more ([`field_slot`]'s last arm)
        let [first, second, .., last] = name else { return None };
        let place = FIELD_SLOTS.get(slot_of(name.len(), *first, *second, *last)).copied()?;
        let field = Field::ALL.get(usize::from(place)).copied()?;
        let known = FIELD_NAMES.get(usize::from(place)).copied()?;
        same_bytes(known.as_bytes(), name).then_some(field)
    }

    fn bit(self) -> u64 {
        1 << (self as u64)
    }
}

/// `a == b`, inline: words of eight (or four) bytes, the last overlapping
/// the one before, rather than a `memcmp` call per member name (the names
/// are short: 3 to 30 bytes).
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word8 = |s: &[u8], at: usize| s.get(at..).and_then(|s| s.first_chunk::<8>()).map(|w| u64::from_le_bytes(*w));
    let word4 = |s: &[u8], at: usize| s.get(at..).and_then(|s| s.first_chunk::<4>()).map(|w| u32::from_le_bytes(*w));
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if word8(a, at) != word8(b, at) {
                return false;
            }
            at += 8;
        }
        word8(a, n - 8) == word8(b, n - 8)
    } else if n >= 4 {
        word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4)
    } else {
        a == b
    }
}

/// A command body being read field by field. [`Body::allow`] (every
/// command's first rule) checks the members and files each value under its
/// field, in one pass; the rules then read a field in one step.
struct Body<'a> {
    /// The line's command key.
    key: &'a str,
    /// Where the body sits under it: the command's own body, or an object
    /// one of its fields holds.
    nested: Nested,
    members: Members<'a>,
    /// Per field (`Field as usize`): its value, `null` as absent. Filled
    /// by `allow`.
    slots: [Option<&'a Json<'a>>; FIELD_COUNT],
    /// Whether `allow` has run (a rule read before it would see nothing).
    allowed: bool,
}

/// Where a [`Body`] sits in its command, as its rejections name it: the
/// command's body (`gpa_order`), an object a field holds
/// (`credit_account.min_payment`) or an item of a field's array
/// (`fee_transfer.fees[0]`). The name is written only for a rejection (a
/// `format!` per nested object cost ≈ 500 instructions, on every fee).
#[derive(Clone, Copy)]
enum Nested {
    No,
    Field(Field),
    Item(Field, usize),
}

/// A body's place in its line, as a rejection names it (see [`Nested`]).
struct Place<'a>(&'a str, Nested);

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.1 {
            Nested::No => f.write_str(self.0),
            Nested::Field(field) => write!(f, "{}.{}", self.0, field.name()),
            Nested::Item(field, i) => write!(f, "{}.{}[{i}]", self.0, field.name()),
        }
    }
}

/// A body's members in line order: an object of the tree, or the fields
/// [`scan_command`] read (each a field, once).
#[derive(Clone, Copy)]
enum Members<'a> {
    Tree(&'a Object<'a>),
    Fields(&'a FieldList<'a>),
}

impl<'a> Body<'a> {
    fn new(key: &'a str, map: &'a Object<'a>) -> Body<'a> {
        Body::with(key, Nested::No, Members::Tree(map))
    }

    fn of_fields(key: &'a str, fields: &'a FieldList<'a>) -> Body<'a> {
        Body::with(key, Nested::No, Members::Fields(fields))
    }

    /// The body of an object this body's field holds (see [`Nested`]).
    fn nested(&self, nested: Nested, map: &'a Object<'a>) -> Body<'a> {
        Body::with(self.inner_place(nested).0, nested, Members::Tree(map))
    }

    /// The place of an object this body's field holds: objects nest one
    /// level below a command's body, no deeper (no rule reads deeper).
    fn inner_place(&self, nested: Nested) -> Place<'a> {
        assert!(matches!(self.nested, Nested::No), "a nested object's fields hold no objects the rules read");
        Place(self.key, nested)
    }

    fn with(key: &'a str, nested: Nested, members: Members<'a>) -> Body<'a> {
        Body { key, nested, members, slots: [None; FIELD_COUNT], allowed: false }
    }

    /// Where this body sits, as its rejections name it.
    fn place(&self) -> Place<'a> {
        Place(self.key, self.nested)
    }

    fn err(&self, code: Code, field: &str, what: impl std::fmt::Display) -> Rejection {
        Rejection::new(code, format!("{}.{}", self.place(), field), what)
    }

    fn allow(&mut self, fields: &[Field]) -> Result<(), Rejection> {
        self.allow_with(fields, &[])
    }

    /// The first member (in line order) that is none of `fields` or `more`
    /// is an unknown field; otherwise each value is filed under its field.
    fn allow_with(&mut self, fields: &[Field], more: &[Field]) -> Result<(), Rejection> {
        let allowed = fields.iter().chain(more).fold(0, |mask, f| mask | f.bit());
        match self.members {
            Members::Tree(map) => {
                for (k, v) in &map.members {
                    self.file(allowed, Field::of(k.as_bytes()), k, v)?;
                }
            }
            // each a field, once: when all are allowed, only the filing is left
            Members::Fields(list) if list.seen & !allowed == 0 => {
                for (f, v) in list.as_slice() {
                    if !v.is_null() {
                        self.fill(*f, v);
                    }
                }
            }
            Members::Fields(list) => {
                for (f, v) in list.as_slice() {
                    self.file(allowed, Some(*f), f.name(), v)?;
                }
            }
        }
        self.allowed = true;
        Ok(())
    }

    /// One member, `name` (its field, if it is one): an unknown field
    /// unless `allowed` holds its field's bit; else its value is filed
    /// under its field (`null` as absent).
    fn file(&mut self, allowed: u64, field: Option<Field>, name: &str, v: &'a Json<'a>) -> Result<(), Rejection> {
        let Some(f) = field.filter(|f| allowed & f.bit() != 0) else {
            return Err(self.err(Code::UnknownField, name, "is not a field of this command"));
        };
        if !v.is_null() {
            self.fill(f, v);
        }
        Ok(())
    }

    /// Files a value (not `null`) under its field.
    #[inline(always)]
    fn fill(&mut self, f: Field, v: &'a Json<'a>) {
        match self.slots.get_mut(f as usize) {
            Some(slot) => *slot = Some(v),
            None => unreachable!("a field's place is below FIELD_COUNT"),
        }
    }

    /// The field's value; `null` reads as absent.
    #[inline]
    fn get(&self, field: Field) -> Option<&'a Json<'a>> {
        assert!(self.allowed, "a command's fields are read after Body::allow");
        self.slots.get(field as usize).copied().flatten()
    }

    #[inline]
    fn opt_str(&self, field: Field) -> Result<Option<&'a str>, Rejection> {
        match self.get(field) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(Code::WrongType, field.name(), "must be a string")),
        }
    }

    fn opt_token(&self, field: Field) -> Result<Option<Token>, Rejection> {
        let Some(s) = self.opt_str(field)? else { return Ok(None) };
        // a character is at least one byte: within the limit in bytes is
        // within it in characters, without counting them
        if s.is_empty() || (s.len() > limits::TOKEN_CHARS_MAX && s.chars().count() > limits::TOKEN_CHARS_MAX) {
            let n = s.chars().count();
            return Err(self.err(
                Code::TokenLength,
                field.name(),
                format!("a token has 1 to {} characters; got {n}", limits::TOKEN_CHARS_MAX),
            ));
        }
        Ok(Some(Token::from(s)))
    }

    fn token(&self, field: Field) -> Result<Token, Rejection> {
        self.opt_token(field)?.ok_or_else(|| self.err(Code::MissingField, field.name(), "is required"))
    }

    fn token_or_new(&self, field: Field) -> Result<Token, Rejection> {
        Ok(self.opt_token(field)?.unwrap_or_else(|| Token::from(uuid::Uuid::new_v4().to_string())))
    }

    /// A free text of at most `max` characters, built once from the borrowed
    /// JSON text as the field's type (a `String`, or a [`Text`]: inline when
    /// short).
    fn opt_text<T: From<&'a str>>(&self, field: Field, max: usize) -> Result<Option<T>, Rejection> {
        let Some(s) = self.opt_str(field)? else { return Ok(None) };
        // as in `opt_token`: only a text longer in bytes can be too long
        if s.len() > max && s.chars().count() > max {
            return Err(self.err(Code::TextTooLong, field.name(), format!("is longer than {max} characters")));
        }
        Ok(Some(T::from(s)))
    }

    fn text<T: From<&'a str>>(&self, field: Field, max: usize) -> Result<T, Rejection> {
        self.opt_text(field, max)?.ok_or_else(|| self.err(Code::MissingField, field.name(), "is required"))
    }

    fn opt_zone(&self, field: Field) -> Result<Option<String>, Rejection> {
        let Some(z): Option<String> = self.opt_text(field, limits::CODE_CHARS_MAX)? else { return Ok(None) };
        let ok = !z.is_empty() && z.chars().all(|c| c.is_ascii_alphanumeric() || "_/+-".contains(c));
        if !ok {
            return Err(self.err(Code::InvalidValue, field.name(), format!("{z:?} is not an IANA time zone name")));
        }
        if crate::zone::parse(&z).is_none() {
            return Err(self.err(
                Code::UnknownTimeZone,
                field.name(),
                format!("{z:?} is not a time zone of the tz database"),
            ));
        }
        Ok(Some(z))
    }

    fn opt_codes(&self, field: Field) -> Result<Option<Vec<String>>, Rejection> {
        let Some(v) = self.get(field) else { return Ok(None) };
        let Json::Array(items) = v else {
            return Err(self.err(Code::WrongType, field.name(), "must be an array of strings"));
        };
        if items.len() > limits::FEES_PER_COMMAND_MAX {
            return Err(self.err(Code::InvalidValue, field.name(), "has too many entries"));
        }
        items
            .iter()
            .map(|i| match i {
                Json::String(s) if s.len() <= limits::CODE_CHARS_MAX => Ok(s.to_string()),
                _ => Err(self.err(Code::WrongType, field.name(), "must be an array of short strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn opt_bool(&self, field: Field) -> Result<Option<bool>, Rejection> {
        match self.get(field) {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(Code::WrongType, field.name(), "must be true or false")),
        }
    }

    fn opt_u32(&self, field: Field) -> Result<Option<u32>, Rejection> {
        match self.get(field) {
            None => Ok(None),
            // `Number::as_u64` under `arbitrary_precision`: the text as a u64
            Some(Json::Number(n)) => n
                .parse::<u64>()
                .ok()
                .and_then(|v| u32::try_from(v).ok())
                .map(Some)
                .ok_or_else(|| self.err(Code::InvalidValue, field.name(), "must be a whole number")),
            Some(_) => Err(self.err(Code::WrongType, field.name(), "must be a number")),
        }
    }

    fn opt_time(&self, field: Field) -> Result<Option<Timestamp>, Rejection> {
        let Some(s) = self.opt_str(field)? else { return Ok(None) };
        Timestamp::parse(s).map(Some).ok_or_else(|| {
            self.err(Code::InvalidTime, field.name(), format!("not an RFC 3339 time or yyyy-MM-dd date: {s:?}"))
        })
    }

    fn opt_date(&self, field: Field) -> Result<Option<Date>, Rejection> {
        let Some(s) = self.opt_str(field)? else { return Ok(None) };
        Date::parse(s)
            .map(Some)
            .ok_or_else(|| self.err(Code::InvalidTime, field.name(), format!("not a yyyy-MM-dd date: {s:?}")))
    }

    fn currency(&self, field: Field) -> Result<Currency, Rejection> {
        match self.opt_str(field)? {
            None => Err(self.err(Code::MissingField, field.name(), "is required")),
            Some("USD") | Some("840") => Ok(Currency::Usd),
            Some(other) => Err(self.err(Code::Currency, field.name(), format!("{other:?} is not supported; use USD"))),
        }
    }

    fn decimal_text(&self, field: Field) -> Result<Option<&'a str>, Rejection> {
        match self.get(field) {
            None => Ok(None),
            Some(Json::Number(n)) => Ok(Some(n)),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(Code::WrongType, field.name(), "must be a number or a numeric string")),
        }
    }

    fn opt_money_signed(&self, field: Field) -> Result<Option<Money>, Rejection> {
        let Some(text) = self.decimal_text(field)? else { return Ok(None) };
        Money::parse(text).map(Some).map_err(|e| match e {
            MoneyError::TooManyDecimals => {
                self.err(Code::AmountTooPrecise, field.name(), format!("{text} has more than 2 decimal places"))
            }
            MoneyError::TooLarge => {
                self.err(Code::AmountTooLarge, field.name(), format!("{text} is not below 1000000000000"))
            }
            MoneyError::NotANumber => {
                self.err(Code::AmountNotANumber, field.name(), format!("{text:?} is not a decimal number"))
            }
        })
    }

    fn opt_money_nonneg(&self, field: Field) -> Result<Option<Money>, Rejection> {
        let m = self.opt_money_signed(field)?;
        if let Some(v) = m {
            if v < Money::ZERO {
                return Err(self.err(Code::AmountNotPositive, field.name(), format!("{v} is negative")));
            }
        }
        Ok(m)
    }

    fn money(&self, field: Field) -> Result<Money, Rejection> {
        let m =
            self.opt_money_signed(field)?.ok_or_else(|| self.err(Code::MissingField, field.name(), "is required"))?;
        if !m.is_positive() {
            return Err(self.err(Code::AmountNotPositive, field.name(), format!("{m} must be greater than 0")));
        }
        Ok(m)
    }

    fn opt_rate(&self, field: Field) -> Result<Option<Rate>, Rejection> {
        let Some(text) = self.decimal_text(field)? else { return Ok(None) };
        let d = Decimal::from_str_exact(text.trim())
            .map_err(|_| self.err(Code::AmountNotANumber, field.name(), format!("{text:?} is not a decimal number")))?
            .normalize();
        if d.is_sign_negative() || d > Decimal::from(1000) || d.scale() > 4 {
            return Err(self.err(
                Code::InvalidValue,
                field.name(),
                format!("{text} must be a percentage from 0 to 1000 with at most 4 decimals"),
            ));
        }
        Ok(Some(Rate(d)))
    }

    fn rate(&self, field: Field) -> Result<Rate, Rejection> {
        self.opt_rate(field)?.ok_or_else(|| self.err(Code::MissingField, field.name(), "is required"))
    }

    fn min_payment(&self, field: Field) -> Result<MinPayment, Rejection> {
        let default = MinPayment {
            flat_amount: Money::from_cents(2500),
            percentage_of_balance: Rate(Decimal::ONE),
            include_interest_charged: true,
            include_fees_charged: vec!["LATE_PAYMENT_FEE".into()],
            include_past_due_amount: true,
            include_overlimit_amount: true,
        };
        let Some(v) = self.get(field) else { return Ok(default) };
        let Json::Object(map) = v else { return Err(self.err(Code::NotAnObject, field.name(), "must be an object")) };
        let mut inner = self.nested(Nested::Field(field), map);
        inner.allow(&[
            F::FlatAmount,
            F::PercentageOfBalance,
            F::IncludeInterestCharged,
            F::IncludeFeesCharged,
            F::IncludePastDueAmount,
            F::IncludeOverlimitAmount,
        ])?;
        Ok(MinPayment {
            flat_amount: inner.opt_money_nonneg(F::FlatAmount)?.unwrap_or(default.flat_amount),
            percentage_of_balance: inner.opt_rate(F::PercentageOfBalance)?.unwrap_or(default.percentage_of_balance),
            include_interest_charged: inner.opt_bool(F::IncludeInterestCharged)?.unwrap_or(true),
            include_fees_charged: inner.opt_codes(F::IncludeFeesCharged)?.unwrap_or(default.include_fees_charged),
            include_past_due_amount: inner.opt_bool(F::IncludePastDueAmount)?.unwrap_or(true),
            include_overlimit_amount: inner.opt_bool(F::IncludeOverlimitAmount)?.unwrap_or(true),
        })
    }

    fn opt_reserve(&self, field: Field) -> Result<Option<ReservePolicy>, Rejection> {
        let Some(v) = self.get(field) else { return Ok(None) };
        let Json::Object(map) = v else { return Err(self.err(Code::NotAnObject, field.name(), "must be an object")) };
        let mut inner = self.nested(Nested::Field(field), map);
        inner.allow(&[F::Description, F::Days, F::MinimumAmount, F::WindowDays])?;
        let days = inner.opt_u32(F::Days)?.ok_or_else(|| inner.err(Code::MissingField, "days", "is required"))?;
        let window_days = inner.opt_u32(F::WindowDays)?.unwrap_or(7);
        if days > limits::RESERVE_WINDOW_DAYS_MAX {
            return Err(inner.err(
                Code::InvalidValue,
                "days",
                format!("must be at most {}", limits::RESERVE_WINDOW_DAYS_MAX),
            ));
        }
        if window_days == 0 || window_days > limits::RESERVE_WINDOW_DAYS_MAX {
            return Err(inner.err(
                Code::InvalidValue,
                "window_days",
                format!("must be 1 to {}", limits::RESERVE_WINDOW_DAYS_MAX),
            ));
        }
        Ok(Some(ReservePolicy {
            description: inner.opt_text(F::Description, limits::NAME_CHARS_MAX)?.unwrap_or_default(),
            days,
            minimum_amount: inner.opt_money_nonneg(F::MinimumAmount)?.unwrap_or(Money::ZERO),
            window_days,
        }))
    }

    fn opt_holder(&self) -> Result<Option<Holder>, Rejection> {
        match (self.opt_token(F::UserToken)?, self.opt_token(F::BusinessToken)?) {
            (Some(u), None) => Ok(Some(Holder::User(u))),
            (None, Some(b)) => Ok(Some(Holder::Business(b))),
            (None, None) => Ok(None),
            (Some(_), Some(_)) => {
                Err(self.err(Code::HolderChoice, "business_token", "give user_token or business_token, not both"))
            }
        }
    }

    fn holder(&self) -> Result<Holder, Rejection> {
        self.opt_holder()?.ok_or_else(|| {
            self.err(Code::HolderChoice, "user_token", "exactly one of user_token or business_token is required")
        })
    }

    fn fees(&self, field: Field, required: bool) -> Result<Vec<FeeRef>, Rejection> {
        let Some(v) = self.get(field) else {
            return if required {
                Err(self.err(Code::MissingField, field.name(), "is required"))
            } else {
                Ok(Vec::new())
            };
        };
        let Json::Array(items) = v else {
            return Err(self.err(Code::WrongType, field.name(), "must be an array of fee objects"));
        };
        if items.len() > limits::FEES_PER_COMMAND_MAX {
            return Err(self.err(
                Code::InvalidValue,
                field.name(),
                format!("at most {} fees", limits::FEES_PER_COMMAND_MAX),
            ));
        }
        if required && items.is_empty() {
            return Err(self.err(Code::MissingField, field.name(), "needs at least one fee"));
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let place = Nested::Item(field, i);
            let Json::Object(map) = item else {
                return Err(Rejection::new(
                    Code::NotAnObject,
                    self.inner_place(place).to_string(),
                    "must be a fee object",
                ));
            };
            let mut inner = self.nested(place, map);
            inner.allow(&[F::Token, F::Memo, F::Tags])?;
            out.push(FeeRef {
                token: inner.token(F::Token)?,
                memo: inner.opt_text(F::Memo, 99)?,
                tags: inner.opt_text(F::Tags, limits::TAGS_CHARS_MAX)?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn code(line: &str) -> Option<u16> {
        parse_line(line).err().map(|r| r.code.number())
    }

    #[test]
    fn not_plain_finds_the_first_byte_in_every_place() {
        for b in 0..=255u8 {
            let plain = (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\';
            for at in 0..8 {
                let mut word = [b'a'; 8];
                word[at] = b;
                let found = not_plain(u64::from_le_bytes(word));
                assert_eq!(found == 0, plain, "byte {b:#04x} at {at}");
                // a later byte that is not plain does not hide this one
                word[7] = b'"';
                let found = not_plain(u64::from_le_bytes(word));
                let first = if plain { 7 } else { at as u32 };
                assert_eq!(found.trailing_zeros() / 8, first, "byte {b:#04x} at {at}");
                // `quotes` finds the first quote, whatever the bytes around it
                for before in [0u8, 0x22, 0x80, 0xff] {
                    let mut word = [before; 8];
                    word[at] = b;
                    word[7] = b'"';
                    let first = word.iter().position(|&c| c == b'"').map_or(8, |p| p as u32);
                    assert_eq!(quotes(u64::from_le_bytes(word)).trailing_zeros() / 8, first, "{word:?}");
                }
            }
        }
    }

    /// `same_bytes` is `==` on slices of every length up to 33 bytes: equal
    /// ones, one byte changed at every place, and one longer or shorter;
    /// `Field::of` finds every field by its name and nothing by a name
    /// changed so.
    #[test]
    fn same_bytes_is_equality_and_fields_are_found_by_name() {
        let mut texts: Vec<Vec<u8>> = (0..=33).map(|n| (0..n).map(|i| b'a' + (i % 26) as u8).collect()).collect();
        texts.extend(Field::ALL.iter().map(|f| f.name().as_bytes().to_vec()));
        for a in &texts {
            for at in 0..a.len() {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_bytes(a, &b), "{a:?} changed at {at}");
                assert!(same_bytes(a, a));
            }
            let mut longer = a.clone();
            longer.push(b'"');
            assert!(!same_bytes(a, &longer) && !same_bytes(&longer, a), "{a:?}");
            for b in &texts {
                assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
            }
        }
        for f in Field::ALL {
            let name = f.name();
            assert_eq!(Field::of(name.as_bytes()), Some(*f), "{name}");
            for at in 0..name.len() {
                let mut changed = name.as_bytes().to_vec();
                changed[at] = b'#';
                assert_eq!(Field::of(&changed), None, "{name} at {at}");
            }
            assert_eq!(Field::of(&name.as_bytes()[..name.len() - 1]), None, "{name}");
            assert_eq!(Field::of(format!("{name}s").as_bytes()), None, "{name}");
        }
    }

    #[test]
    fn parses_the_sample_gpa_order_exactly() {
        let line = r#"{"time": "2017-05-10T23:00:15Z", "gpa_order": {"token": "my_gpaorder_01", "user_token": "my_user_01", "amount": 1000, "currency_code": "USD", "funding_source_token": "my_program_funding_source_01"}}"#;
        let parsed = parse_line(line);
        let Ok(CommandLine { time, command: Command::GpaOrder(o), .. }) = parsed else {
            panic!("not parsed: {parsed:?}")
        };
        assert_eq!(time.map(|t| t.to_string()), Some("2017-05-10T23:00:15Z".to_string()));
        assert_eq!(o.amount, Money::from_cents(100_000));
        assert_eq!(o.holder, Holder::User("my_user_01".into()));
    }

    #[test]
    fn numbers_are_read_exactly() {
        let line = r#"{"journal_entry": {"type": "authorization.clearing", "token": "je_2", "related_token": "je_1", "user_token": "u", "amount": 9.11, "currency_code": "USD", "network": "VISA", "pin_present": false, "status": "POSTED"}}"#;
        let Ok(CommandLine { command: Command::JournalEntry(j), .. }) = parse_line(line) else { panic!("not parsed") };
        assert_eq!(j.amount.cents(), 911);
    }

    /// A journal entry's free texts are read as they were `String`s: short
    /// ones inline, the longest a field allows on the heap, a network
    /// upper-cased either way, escapes and any script as written.
    #[test]
    fn a_journal_entrys_texts_read_inline_when_short() {
        let memo = "é".repeat(limits::MEMO_CHARS_MAX);
        let network = "visa-".repeat(limits::CODE_CHARS_MAX / 5);
        for (memo, network, inline) in [("CITY FUEL 0031", "Discover", true), (memo.as_str(), network.as_str(), false)]
        {
            let line = format!(
                r#"{{"journal_entry": {{"type": "authorization.clearing", "token": "je_2", "user_token": "u", "amount": 9.11, "currency_code": "USD", "group": "PURCHASE", "memo": "{memo}", "network": "{network}", "mcc": "5541", "status": "PENDING"}}}}"#
            );
            let Ok(CommandLine { command: Command::JournalEntry(j), .. }) = parse_line(&line) else {
                panic!("not parsed: {line}")
            };
            assert_eq!(j.kind, "authorization.clearing");
            assert_eq!(j.group.as_deref(), Some("PURCHASE"));
            assert_eq!(j.memo.as_deref(), Some(memo));
            assert_eq!(j.network.as_deref(), Some(network.to_ascii_uppercase().as_str()));
            assert_eq!(j.mcc.as_deref(), Some("5541"));
            assert_eq!(j.status, JeStatus::Pending);
            let short = [Some(&j.kind), j.group.as_ref(), j.mcc.as_ref()];
            assert!(short.iter().flatten().all(|t| !t.is_heap_allocated()), "{short:?}");
            for text in [&j.memo, &j.network] {
                assert_eq!(text.as_ref().map(|t| t.is_heap_allocated()), Some(!inline), "{text:?}");
            }
        }
        let line = r#"{"journal_entry": {"type": "refund", "token": "je_3", "user_token": "u", "amount": 1, "currency_code": "USD", "memo": "a \"quoted\" \u00e9", "status": "POSTED"}}"#;
        let Ok(CommandLine { command: Command::JournalEntry(j), .. }) = parse_line(line) else { panic!("not parsed") };
        assert_eq!(j.memo.as_deref(), Some("a \"quoted\" é"));
    }

    #[test]
    fn rejections_name_the_field() {
        let cases: &[(&str, u16, &str)] = &[
            ("{", 1001, ""),
            ("[1]", 1002, ""),
            (r#"{"bogus": {}}"#, 1003, "bogus"),
            (
                r#"{"user": {"token":"a","program_token":"p"}, "business": {"token":"b","program_token":"p"}}"#,
                1004,
                "business",
            ),
            (r#"{"time": "2020-01-01T00:00:00Z"}"#, 1004, ""),
            (r#"{"user": {"token":"a","program_token":"p","x":1}}"#, 1005, "user.x"),
            (r#"{"user": {"token":"a"}}"#, 1006, "user.program_token"),
            (r#"{"user": {"token":5,"program_token":"p"}}"#, 1007, "user.token"),
            (r#"{"time": "nope", "user": {"token":"a","program_token":"p"}}"#, 1008, "time"),
            (
                r#"{"program_deposit": {"program_token":"p","amount":-1,"currency_code":"USD"}}"#,
                1101,
                "program_deposit.amount",
            ),
            (
                r#"{"program_deposit": {"program_token":"p","amount":0,"currency_code":"USD"}}"#,
                1101,
                "program_deposit.amount",
            ),
            (
                r#"{"program_deposit": {"program_token":"p","amount":"1.005","currency_code":"USD"}}"#,
                1102,
                "program_deposit.amount",
            ),
            (
                r#"{"program_deposit": {"program_token":"p","amount":1e12,"currency_code":"USD"}}"#,
                1103,
                "program_deposit.amount",
            ),
            (r#"{"user": {"token":"0123456789012345678901234567890123456","program_token":"p"}}"#, 1104, "user.token"),
            (
                r#"{"program_deposit": {"program_token":"p","amount":1,"currency_code":"EUR"}}"#,
                1105,
                "program_deposit.currency_code",
            ),
            (r#"{"funding_source": {"program_token":"p","type":"gold"}}"#, 1106, "funding_source.type"),
            (
                r#"{"fee": {"token":"f","name":"x","amount":1,"currency_code":"USD","active":"yes"}}"#,
                1007,
                "fee.active",
            ),
            (r#"{"gpa_order": {"amount":1,"currency_code":"USD"}}"#, 1108, "gpa_order.user_token"),
            (
                r#"{"program_deposit": {"program_token":"p","amount":"ten","currency_code":"USD"}}"#,
                1109,
                "program_deposit.amount",
            ),
            (
                r#"{"program": {"token":"p","bank":"B","currency_code":"USD","reporting_timezone":"Mars/Olympus"}}"#,
                1110,
                "program.reporting_timezone",
            ),
            (
                r#"{"program": {"token":"p","bank":"B","currency_code":"USD","reporting_timezone":"Mars Olympus"}}"#,
                1106,
                "program.reporting_timezone",
            ),
        ];
        // nested objects: named with their field (and item), as written
        let nested: &[(&str, u16, &str)] = &[
            (r#"{"fee_transfer": {"user_token":"u","fees":[{"token":"f"},7]}}"#, 1002, "fee_transfer.fees[1]"),
            (r#"{"fee_transfer": {"user_token":"u","fees":[{"token":"f","x":1}]}}"#, 1005, "fee_transfer.fees[0].x"),
            (
                r#"{"gpa_order": {"user_token":"u","amount":1,"currency_code":"USD","fees":[{"memo":"m"}]}}"#,
                1006,
                "gpa_order.fees[0].token",
            ),
            (
                r#"{"program": {"token":"p","bank":"B","currency_code":"USD","reserve":{"window_days":3}}}"#,
                1006,
                "program.reserve.days",
            ),
            (
                r#"{"credit_account": {"user_token":"u","program_token":"p","credit_limit":1,"apr":1,"min_payment":{"flat_amount":-1}}}"#,
                1101,
                "credit_account.min_payment.flat_amount",
            ),
        ];
        for (line, want, field) in cases.iter().chain(nested) {
            let r = parse_line(line);
            let Err(rej) = r else { panic!("{line} accepted") };
            assert_eq!((rej.code.number(), rej.field.as_str()), (*want, *field), "{line}: {}", rej.message);
            if !field.is_empty() {
                assert!(rej.message.contains(field), "message {:?} names {field}", rej.message);
            }
        }
        assert_eq!(code(&"x".repeat(limits::LINE_BYTES_MAX + 1)), Some(1009));
    }
}
