//! Hot and cold state.
//!
//! What grows with history — the idempotency index, GPA and MSA orders,
//! offer orders, unloads and closed journal entries — is *cold*: an engine
//! with a cold store keeps in memory only what changed since the last cold
//! flush (the typed maps of [`Ledger`], used as a write buffer) and reads
//! everything older through a [`ColdStore`] (the store's `cold` tree). A
//! flush ([`Ledger::take_cold`]) moves the buffer out typed; the engine
//! encodes and writes it in parts, then the run's meta with the cold
//! watermark in one atomic batch, after the snapshot of the hot part at the
//! same seq (`docs/format.md`). A ledger without a cold store keeps everything in
//! the maps, exactly as before: `verify`'s replay from genesis. An as-of
//! state (`Engine::state_as_of`) reads through a read-only view of the cold
//! runs written at or before its snapshot and keeps what its replay changes
//! in the maps.
//!
//! Every lookup goes through the accessors here (memory first, then cold),
//! so deciding and applying read the same state either way.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::snapshot::{self, ColdValue};

/// Read access to the cold entries of a store. A read that fails (I/O,
/// a value that does not decode) is never answered with a default: the
/// store records the failure ([`ColdStore::failure`]) and the engine fails
/// the group (nothing of it is written) and stops.
pub trait ColdStore: Send + Sync {
    /// The value at `key`, if any.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// Every entry whose key starts with `prefix`, in key order.
    fn scan(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)>;
    /// Records a failure (a read that failed, a value that did not decode).
    fn fail(&self, what: String);
    /// The first failure recorded, if any.
    fn failure(&self) -> Option<String>;
    /// The emptied maps of the cold runs written since the last call
    /// ([`TakenGroup::into_spare`]), for [`Ledger::take_cold`]'s new hot
    /// maps. A store that keeps none answers none (the maps are then
    /// allocated afresh).
    fn take_spares(&self) -> SpareMaps {
        SpareMaps::default()
    }
}

/// Emptied hot maps, their room kept: a written cold run's groups, given
/// back ([`TakenGroup::into_spare`]) so that the next cold flush's hot maps
/// reuse memory that is already mapped. A map allocated afresh at each
/// flush is faulted in page by page again as it fills (the allocator
/// returns a freed map's pages to the system), which cost a replay's
/// applier about one page fault every eight events (docs/performance.md,
/// "hot maps reused"). Every map here is empty ([`Ledger::take_cold`]
/// asserts it). A clone has none: spares are memory, not state.
#[derive(Debug, Default)]
pub struct SpareMaps {
    tokens: [Option<Tokens>; idempotency::KINDS],
    gpa_orders: Option<HashMap<Token, OrderState>>,
    msa_orders: Option<HashMap<Token, OrderState>>,
    offer_orders: Option<HashMap<Token, u64>>,
    gpa_unloads: Option<Vec<UnloadState>>,
    msa_unloads: Option<Vec<UnloadState>>,
    journal_entries: Option<HashMap<Token, JeState>>,
}

impl Clone for SpareMaps {
    fn clone(&self) -> SpareMaps {
        SpareMaps::default()
    }
}

impl SpareMaps {
    /// Takes `newer`'s maps (they replace the ones held for the same map).
    pub fn keep(&mut self, newer: SpareMaps) {
        fn put<T>(slot: &mut Option<T>, newer: Option<T>) {
            if newer.is_some() {
                *slot = newer;
            }
        }
        let SpareMaps { tokens, gpa_orders, msa_orders, offer_orders, gpa_unloads, msa_unloads, journal_entries } =
            newer;
        for (slot, newer) in self.tokens.iter_mut().zip(tokens) {
            put(slot, newer);
        }
        put(&mut self.gpa_orders, gpa_orders);
        put(&mut self.msa_orders, msa_orders);
        put(&mut self.offer_orders, offer_orders);
        put(&mut self.gpa_unloads, gpa_unloads);
        put(&mut self.msa_unloads, msa_unloads);
        put(&mut self.journal_entries, journal_entries);
    }

    /// The spare map of a token kind, if any (the kind's next map).
    pub(super) fn take_tokens(&mut self, kind: TokenKind) -> Option<Tokens> {
        self.tokens.get_mut(usize::from(kind.index())).and_then(Option::take)
    }

    /// Whether this holds no map.
    pub fn is_empty(&self) -> bool {
        self.tokens.iter().all(Option::is_none)
            && self.gpa_orders.is_none()
            && self.msa_orders.is_none()
            && self.offer_orders.is_none()
            && self.gpa_unloads.is_none()
            && self.msa_unloads.is_none()
            && self.journal_entries.is_none()
    }
}

/// A hot map a spare can stand in for ([`spare_or`]).
pub(super) trait HotMap {
    /// Whether it holds no entry.
    fn holds_none(&self) -> bool;
}

impl<K, V, S> HotMap for std::collections::HashMap<K, V, S> {
    fn holds_none(&self) -> bool {
        self.is_empty()
    }
}

impl<T> HotMap for Vec<T> {
    fn holds_none(&self) -> bool {
        self.is_empty()
    }
}

/// A spare map for a new hot map, else `new()`: emptiness is the spare's
/// whole contract (a spare that kept an entry would bring a cold entry
/// back as hot).
pub(super) fn spare_or<M: HotMap>(spare: Option<M>, new: impl FnOnce() -> M) -> M {
    match spare {
        Some(m) => {
            assert!(m.holds_none(), "a spare hot map is not empty");
            m
        }
        None => new(),
    }
}

/// A ledger's link to its cold store (shared, cheap to clone).
#[derive(Clone)]
pub struct ColdLink(pub Arc<dyn ColdStore>);

impl std::fmt::Debug for ColdLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ColdLink")
    }
}

/// Which order book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Book {
    /// GPA orders and unloads.
    Gpa,
    /// MSA orders and unloads.
    Msa,
}

impl Book {
    fn byte(self) -> u8 {
        match self {
            Book::Gpa => 0,
            Book::Msa => 1,
        }
    }
}

/// Key prefixes of the cold entries (one byte each; `docs/format.md`).
pub mod key {
    /// Token index: `T`, kind index (in `snapshot::TOKEN_KINDS`), token.
    pub const TOKEN: u8 = b'T';
    /// Orders: `O`, book, token.
    pub const ORDER: u8 = b'O';
    /// Offer orders: `F`, token.
    pub const OFFER_ORDER: u8 = b'F';
    /// Unloads: `U`, book, seq (big-endian u64).
    pub const UNLOAD: u8 = b'U';
    /// Closed journal entries: `J`, token.
    pub const JOURNAL_ENTRY: u8 = b'J';
}

fn token_key(kind: &str, token: &str) -> Option<Vec<u8>> {
    let k = snapshot::TOKEN_KINDS.iter().position(|k| *k == kind)?;
    let mut v = Vec::with_capacity(2 + token.len());
    v.push(key::TOKEN);
    v.push(u8::try_from(k).ok()?);
    v.extend_from_slice(token.as_bytes());
    Some(v)
}

/// The longest token key [`Ledger::recorded_token`] builds on the stack.
const TOKEN_KEY_STACK_BYTES: usize = 64;

fn order_key(book: Book, token: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 + token.len());
    v.push(key::ORDER);
    v.push(book.byte());
    v.extend_from_slice(token.as_bytes());
    v
}

fn offer_key(token: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + token.len());
    v.push(key::OFFER_ORDER);
    v.extend_from_slice(token.as_bytes());
    v
}

fn unload_prefix(book: Book) -> [u8; 2] {
    [key::UNLOAD, book.byte()]
}

fn unload_key(book: Book, seq: u64) -> Vec<u8> {
    let mut v = unload_prefix(book).to_vec();
    v.extend_from_slice(&seq.to_be_bytes());
    v
}

fn je_key(token: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + token.len());
    v.push(key::JOURNAL_ENTRY);
    v.extend_from_slice(token.as_bytes());
    v
}

/// A journal entry with nothing left open: it can no longer change, and
/// leaves memory at the next cold flush.
pub fn je_closed(j: &JeState) -> bool {
    j.open.is_zero() && j.jit_open.is_zero()
}

impl Ledger {
    /// Attaches a cold store: from now on what grows with history is read
    /// through it and leaves memory at each [`Ledger::take_cold`].
    pub fn attach_cold(&mut self, cold: Arc<dyn ColdStore>) {
        self.cold = Some(ColdLink(cold));
    }

    /// The cold store's first failure, if any (the engine checks it after
    /// every group and every read).
    pub fn cold_failure(&self) -> Option<String> {
        self.cold.as_ref().and_then(|c| c.0.failure())
    }

    fn cold_get<T>(&self, key: &[u8], decode: impl FnOnce(&[u8]) -> Result<T, String>) -> Option<T> {
        let cold = &self.cold.as_ref()?.0;
        let bytes = cold.get(key)?;
        match decode(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                cold.fail(e);
                None
            }
        }
    }

    /// Where a token of an idempotency kind was recorded: (seq, fingerprint).
    /// Kinds are command keys, except that merchants are `campaign`.
    pub fn recorded_token(&self, kind: &str, token: &str) -> Option<(u64, u64)> {
        self.recorded_token_of(TokenKind::named(kind)?, token)
    }

    /// [`Ledger::recorded_token`] of a kind known by its index (the commit
    /// path's: no kind name is hashed or searched).
    pub fn recorded_token_of(&self, kind: TokenKind, token: &str) -> Option<(u64, u64)> {
        if let Some(v) = self.tokens.of(kind).and_then(|m| m.get(token)) {
            return Some(*v);
        }
        self.cold.as_ref()?;
        // every new token is looked up here: its key is built on the stack
        // (tokens are at most 36 bytes on the wire), on the heap only if longer
        let mut stack = [0u8; TOKEN_KEY_STACK_BYTES];
        let key_len = 2 + token.len();
        if let Some(buf) = stack.get_mut(..key_len) {
            let (head, rest) = buf.split_at_mut(2);
            head.copy_from_slice(&[key::TOKEN, kind.index()]);
            rest.copy_from_slice(token.as_bytes());
            return self.cold_get(buf, snapshot::decode_cold_token);
        }
        self.cold_get(&token_key(kind.name(), token)?, snapshot::decode_cold_token)
    }

    fn book(&self, book: Book) -> &HashMap<Token, OrderState> {
        match book {
            Book::Gpa => &self.gpa_orders,
            Book::Msa => &self.msa_orders,
        }
    }

    /// A GPA or MSA order.
    pub fn order(&self, book: Book, token: &str) -> Option<Cow<'_, OrderState>> {
        if let Some(o) = self.book(book).get(token) {
            return Some(Cow::Borrowed(o));
        }
        self.cold.as_ref()?;
        self.cold_get(&order_key(book, token), snapshot::decode_cold_order).map(Cow::Owned)
    }

    /// A GPA or MSA order to change (brought into memory until the next flush).
    pub(super) fn order_mut(&mut self, book: Book, token: &str) -> Option<&mut OrderState> {
        let in_memory = self.book(book).contains_key(token);
        if !in_memory {
            let o = self.order(book, token)?.into_owned();
            let map = match book {
                Book::Gpa => &mut self.gpa_orders,
                Book::Msa => &mut self.msa_orders,
            };
            map.insert(Token::from(token), o);
        }
        match book {
            Book::Gpa => self.gpa_orders.get_mut(token),
            Book::Msa => self.msa_orders.get_mut(token),
        }
    }

    /// Where an offer order was recorded.
    pub fn offer_order(&self, token: &str) -> Option<u64> {
        if let Some(seq) = self.offer_orders.get(token) {
            return Some(*seq);
        }
        self.cold.as_ref()?;
        self.cold_get(&offer_key(token), snapshot::decode_cold_offer_order)
    }

    /// A journal entry the engine remembers (open, or closed and cold).
    pub fn journal_entry(&self, token: &str) -> Option<Cow<'_, JeState>> {
        if let Some(j) = self.journal_entries.get(token) {
            return Some(Cow::Borrowed(j));
        }
        self.cold.as_ref()?;
        self.cold_get(&je_key(token), snapshot::decode_cold_je).map(Cow::Owned)
    }

    /// A journal entry to change (brought back into memory).
    pub(super) fn journal_entry_mut(&mut self, token: &str) -> Option<&mut JeState> {
        if !self.journal_entries.contains_key(token) {
            let j = self.journal_entry(token)?.into_owned();
            self.journal_entries.insert(Token::from(token), j);
        }
        self.journal_entries.get_mut(token)
    }

    /// Every token of an idempotency kind with where it was recorded
    /// (seq, fingerprint), cold ones included, in token order.
    pub fn tokens_of(&self, kind: &str) -> Vec<(String, (u64, u64))> {
        let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        if let (Some(cold), Some(prefix)) = (&self.cold, token_key(kind, "")) {
            for (k, v) in cold.0.scan(&prefix) {
                let token = k.get(prefix.len()..).map(|t| String::from_utf8_lossy(t).into_owned());
                match (token, snapshot::decode_cold_token(&v)) {
                    (Some(t), Ok(at)) => {
                        out.insert(t, at);
                    }
                    (_, Err(e)) => cold.0.fail(e),
                    (None, _) => cold.0.fail("a cold token key without its token".into()),
                }
            }
        }
        if let Some(m) = self.tokens.get(kind) {
            for (t, at) in m {
                out.insert(t.to_string(), *at);
            }
        }
        out.into_iter().collect()
    }

    /// Every GPA or MSA unload, in log order (cold ones first: they are older).
    pub fn unloads(&self, book: Book) -> Vec<UnloadState> {
        let mut out = Vec::new();
        if let Some(cold) = &self.cold {
            for (_, v) in cold.0.scan(&unload_prefix(book)) {
                match snapshot::decode_cold_unload(&v) {
                    Ok(u) => out.push(u),
                    Err(e) => cold.0.fail(e),
                }
            }
        }
        out.extend_from_slice(match book {
            Book::Gpa => &self.gpa_unloads,
            Book::Msa => &self.msa_unloads,
        });
        out
    }

    /// The cold entries held in memory, encoded and sorted by key: every
    /// token, order, offer order, unload and closed journal entry in the
    /// maps. For a ledger without a cold store this is its whole cold
    /// state; `verify` compares it with the store's (`cold_digest`).
    pub fn cold_entries(&self) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, String> {
        encode_cold_parts(ColdParts {
            tokens: self.tokens.iter().collect(),
            gpa_orders: &self.gpa_orders,
            msa_orders: &self.msa_orders,
            offer_orders: &self.offer_orders,
            gpa_unloads: &self.gpa_unloads,
            msa_unloads: &self.msa_unloads,
            journal_entries: &self.journal_entries,
        })
    }

    /// Every cold entry of the state, encoded and sorted by key: the cold
    /// store's (all of them: held in memory at once), overridden by those
    /// in memory ([`Ledger::cold_entries`]) — what `verify` compares and
    /// digests. A cold read that fails is an error.
    pub fn all_cold_entries(&self) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, String> {
        let mut out: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        if let Some(cold) = &self.cold {
            out.extend(cold.0.scan(&[]));
            if let Some(why) = cold.0.failure() {
                return Err(why);
            }
        }
        out.extend(self.cold_entries()?);
        Ok(out)
    }

    /// Moves the cold entries out of memory, encoded (see
    /// [`Ledger::cold_entries`]). The engine's flushes use
    /// [`Ledger::take_cold`]; this is kept as the test oracle its taken
    /// entries are checked against. Only for a ledger with a cold store.
    pub fn drain_cold(&mut self) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, String> {
        assert!(self.cold.is_some(), "drain_cold on a ledger without a cold store");
        let out = self.cold_entries()?;
        self.tokens.clear();
        self.gpa_orders.clear();
        self.msa_orders.clear();
        self.offer_orders.clear();
        self.gpa_unloads.clear();
        self.msa_unloads.clear();
        self.journal_entries.retain(|_, j| !je_closed(j));
        self.gpa_orders.shrink_to_fit();
        self.msa_orders.shrink_to_fit();
        self.offer_orders.shrink_to_fit();
        self.gpa_unloads.shrink_to_fit();
        self.msa_unloads.shrink_to_fit();
        self.journal_entries.shrink_to_fit();
        Ok(out)
    }
}

/// Borrowed cold maps: a ledger's ([`Ledger::cold_entries`]) or those a
/// flush took out of it ([`TakenCold`]).
struct ColdParts<'a> {
    /// Per token kind, its tokens.
    tokens: Vec<(&'static str, &'a Tokens)>,
    gpa_orders: &'a HashMap<Token, OrderState>,
    msa_orders: &'a HashMap<Token, OrderState>,
    offer_orders: &'a HashMap<Token, u64>,
    gpa_unloads: &'a [UnloadState],
    msa_unloads: &'a [UnloadState],
    journal_entries: &'a HashMap<Token, JeState>,
}

impl ColdParts<'_> {
    /// How many entries these are.
    fn len(&self) -> usize {
        let tokens: usize = self.tokens.iter().map(|(_, m)| m.len()).sum();
        tokens
            + self.gpa_orders.len()
            + self.msa_orders.len()
            + self.offer_orders.len()
            + self.gpa_unloads.len()
            + self.msa_unloads.len()
            + self.journal_entries.len()
    }
}

/// The cold entries of `p`, encoded and sorted by key (of the journal
/// entries, the closed ones). Gathered in a vector and sorted once, then
/// built into the map from sorted order (linear): inserting each into the
/// map took most of a flush's time. The key prefixes keep the kinds apart,
/// and within a kind the keys are unique (map keys, unload seqs).
fn encode_cold_parts(p: ColdParts<'_>) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, String> {
    let mut out = Vec::with_capacity(p.len());
    for (kind, tokens) in &p.tokens {
        for (token, (seq, fp)) in *tokens {
            let k = token_key(kind, token).ok_or_else(|| format!("unknown token kind {kind:?}"))?;
            out.push((k, snapshot::encode_cold(ColdValue::Token(*seq, *fp))?));
        }
    }
    for (book, map) in [(Book::Gpa, p.gpa_orders), (Book::Msa, p.msa_orders)] {
        for (token, o) in map {
            out.push((order_key(book, token), snapshot::encode_cold(ColdValue::Order(o))?));
        }
    }
    for (token, seq) in p.offer_orders {
        out.push((offer_key(token), snapshot::encode_cold(ColdValue::OfferOrder(*seq))?));
    }
    for (book, list) in [(Book::Gpa, p.gpa_unloads), (Book::Msa, p.msa_unloads)] {
        for u in list {
            out.push((unload_key(book, u.seq), snapshot::encode_cold(ColdValue::Unload(u))?));
        }
    }
    for (token, j) in p.journal_entries {
        if je_closed(j) {
            out.push((je_key(token), snapshot::encode_cold(ColdValue::JournalEntry(j))?));
        }
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let len = out.len();
    let map: BTreeMap<Vec<u8>, Vec<u8>> = out.into_iter().collect();
    // two entries with one key would have lost one of them in the map
    if map.len() != len {
        return Err(format!("{} cold entries share a key with another", len - map.len()));
    }
    Ok(map)
}

/// The cold entries a cold flush took out of a ledger, still typed
/// ([`Ledger::take_cold`]): a flush moves them out in O(1) under the
/// state's lock and encodes them later, off it. Meanwhile the engine serves
/// lookups from here ([`TakenCold::get`]), so no decision misses one.
///
/// Each group's entries ([`ColdGroup`]) are shared and never change once
/// taken: a cold flush's writer holds a group ([`TakenCold::group`])
/// without any lock, reads it in key order with each value beside its key
/// ([`TakenGroup::sorted`]: no lookup per key), and drops it whole once
/// every entry of it is in a written block ([`TakenCold::remove_group`]:
/// no removal per key). Until then a lookup finds each of its keys here.
#[derive(Debug, Default)]
pub struct TakenCold {
    tokens: HashMap<&'static str, Arc<Tokens>>,
    gpa_orders: Arc<HashMap<Token, OrderState>>,
    msa_orders: Arc<HashMap<Token, OrderState>>,
    offer_orders: Arc<HashMap<Token, u64>>,
    gpa_unloads: Arc<Vec<UnloadState>>,
    msa_unloads: Arc<Vec<UnloadState>>,
    /// Closed journal entries only.
    journal_entries: Arc<HashMap<Token, JeState>>,
}

/// A cold key's token bytes as text (`None`: not UTF-8, so no token).
fn utf8(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

/// The token kind at index `k` of `snapshot::TOKEN_KINDS`.
fn token_kind(k: u8) -> Option<&'static str> {
    snapshot::TOKEN_KINDS.get(usize::from(k)).copied()
}

impl TakenCold {
    fn parts(&self) -> ColdParts<'_> {
        ColdParts {
            tokens: self.tokens.iter().map(|(kind, m)| (*kind, &**m)).collect(),
            gpa_orders: &self.gpa_orders,
            msa_orders: &self.msa_orders,
            offer_orders: &self.offer_orders,
            gpa_unloads: &self.gpa_unloads,
            msa_unloads: &self.msa_unloads,
            journal_entries: &self.journal_entries,
        }
    }

    /// Every entry, encoded and sorted by key: exactly what
    /// [`Ledger::drain_cold`] would have answered.
    pub fn entries(&self) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, String> {
        encode_cold_parts(self.parts())
    }

    /// Where a cold `key` (`docs/format.md`, "Cold state") would be held
    /// (`None`: no key of any kind this holds).
    fn locate<'k>(key: &'k [u8]) -> Option<Slot<'k>> {
        let (&prefix, rest) = key.split_first()?;
        let book = |b: u8| match b {
            0 => Some(Book::Gpa),
            1 => Some(Book::Msa),
            _ => None,
        };
        match prefix {
            key::TOKEN => {
                let (&k, token) = rest.split_first()?;
                Some(Slot::Token(token_kind(k)?, utf8(token)?))
            }
            key::ORDER => {
                let (&b, token) = rest.split_first()?;
                Some(Slot::Order(book(b)?, utf8(token)?))
            }
            key::OFFER_ORDER => Some(Slot::OfferOrder(utf8(rest)?)),
            key::UNLOAD => {
                let (&b, seq) = rest.split_first()?;
                Some(Slot::Unload(book(b)?, <[u8; 8]>::try_from(seq).map(u64::from_be_bytes).ok()?))
            }
            key::JOURNAL_ENTRY => Some(Slot::JournalEntry(utf8(rest)?)),
            _ => None,
        }
    }

    fn book(&self, book: Book) -> &Arc<HashMap<Token, OrderState>> {
        match book {
            Book::Gpa => &self.gpa_orders,
            Book::Msa => &self.msa_orders,
        }
    }

    fn unload_list(&self, book: Book) -> &Arc<Vec<UnloadState>> {
        match book {
            Book::Gpa => &self.gpa_unloads,
            Book::Msa => &self.msa_unloads,
        }
    }

    /// The typed value held at `slot`, if any.
    fn value(&self, slot: Slot<'_>) -> Option<ColdValue<'_>> {
        match slot {
            Slot::Token(kind, t) => {
                self.tokens.get(kind).and_then(|m| m.get(t)).map(|(seq, fp)| ColdValue::Token(*seq, *fp))
            }
            Slot::Order(b, t) => self.book(b).get(t).map(ColdValue::Order),
            Slot::OfferOrder(t) => self.offer_orders.get(t).copied().map(ColdValue::OfferOrder),
            Slot::Unload(b, seq) => {
                // in log order, so by seq: O(log n) each; a list out of
                // order is searched whole
                let list = self.unload_list(b);
                let at = list.partition_point(|u| u.seq < seq);
                list.get(at)
                    .filter(|u| u.seq == seq)
                    .or_else(|| list.iter().find(|u| u.seq == seq))
                    .map(ColdValue::Unload)
            }
            Slot::JournalEntry(t) => self.journal_entries.get(t).map(ColdValue::JournalEntry),
        }
    }

    /// The encoded value at a cold `key` (`docs/format.md`, "Cold state"),
    /// if this holds it: the same bytes as [`TakenCold::entries`]' value at it.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        TakenCold::locate(key).and_then(|slot| self.value(slot)).map(snapshot::encode_cold).transpose()
    }

    /// How many entries this holds.
    pub fn len(&self) -> usize {
        self.parts().len()
    }

    /// True when this holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The groups this holds entries of, in key order (every key of a
    /// group sorts after every key of the groups before it): a cold flush
    /// writes its run group by group ([`TakenCold::group`]).
    pub fn groups(&self) -> Result<Vec<ColdGroup>, String> {
        let mut out = Vec::new();
        if !self.offer_orders.is_empty() {
            out.push(ColdGroup::OfferOrders);
        }
        if !self.journal_entries.is_empty() {
            out.push(ColdGroup::JournalEntries);
        }
        for b in [Book::Gpa, Book::Msa] {
            if !self.book(b).is_empty() {
                out.push(ColdGroup::Orders(b));
            }
        }
        let mut kinds = Vec::new();
        for (kind, m) in &self.tokens {
            let k = snapshot::TOKEN_KINDS.iter().position(|k| k == kind);
            let k = k.and_then(|k| u8::try_from(k).ok()).ok_or_else(|| format!("unknown token kind {kind:?}"))?;
            if !m.is_empty() {
                kinds.push(k);
            }
        }
        kinds.sort_unstable();
        out.extend(kinds.into_iter().map(ColdGroup::Tokens));
        for b in [Book::Gpa, Book::Msa] {
            if !self.unload_list(b).is_empty() {
                out.push(ColdGroup::Unloads(b));
            }
        }
        Ok(out)
    }

    /// A group's entries, shared (nothing is copied; empty if this holds
    /// none of it): what a cold flush's writer reads with no lock held.
    pub fn group(&self, group: ColdGroup) -> TakenGroup {
        let entries = match group {
            ColdGroup::OfferOrders => GroupEntries::OfferOrders(self.offer_orders.clone()),
            ColdGroup::JournalEntries => GroupEntries::JournalEntries(self.journal_entries.clone()),
            ColdGroup::Orders(b) => GroupEntries::Orders(self.book(b).clone()),
            ColdGroup::Tokens(k) => {
                GroupEntries::Tokens(token_kind(k).and_then(|kind| self.tokens.get(kind)).cloned().unwrap_or_default())
            }
            ColdGroup::Unloads(b) => GroupEntries::Unloads(self.unload_list(b).clone()),
        };
        TakenGroup { group, entries }
    }

    /// Takes a group's entries out (a cold flush wrote every one of them):
    /// one step whatever its size. The caller drops what it returns, off
    /// the staged run's lock: that frees the group's memory.
    pub fn remove_group(&mut self, group: ColdGroup) -> TakenGroup {
        let entries = match group {
            ColdGroup::OfferOrders => GroupEntries::OfferOrders(std::mem::take(&mut self.offer_orders)),
            ColdGroup::JournalEntries => GroupEntries::JournalEntries(std::mem::take(&mut self.journal_entries)),
            ColdGroup::Orders(Book::Gpa) => GroupEntries::Orders(std::mem::take(&mut self.gpa_orders)),
            ColdGroup::Orders(Book::Msa) => GroupEntries::Orders(std::mem::take(&mut self.msa_orders)),
            ColdGroup::Tokens(k) => {
                GroupEntries::Tokens(token_kind(k).and_then(|kind| self.tokens.remove(kind)).unwrap_or_default())
            }
            ColdGroup::Unloads(Book::Gpa) => GroupEntries::Unloads(std::mem::take(&mut self.gpa_unloads)),
            ColdGroup::Unloads(Book::Msa) => GroupEntries::Unloads(std::mem::take(&mut self.msa_unloads)),
        };
        TakenGroup { group, entries }
    }

    /// The keys of a group, sorted (each once): [`TakenGroup::sorted`]'s.
    pub fn sorted_keys(&self, group: ColdGroup) -> Vec<Vec<u8>> {
        let taken = self.group(group);
        let sorted = taken.sorted();
        let mut out = Vec::with_capacity(sorted.len());
        for i in 0..sorted.len() {
            let mut k = Vec::new();
            sorted.key_into(i, &mut k);
            out.push(k);
        }
        out
    }

    /// Every entry whose key starts with `prefix`, encoded, in key order.
    pub fn scan(&self, prefix: &[u8]) -> Result<Vec<ColdEntry>, String> {
        let mut out = Vec::new();
        for group in self.groups()? {
            let p = group.prefix();
            if !(p.starts_with(prefix) || prefix.starts_with(&p)) {
                continue;
            }
            let taken = self.group(group);
            let sorted = taken.sorted();
            for i in 0..sorted.len() {
                let mut k = Vec::new();
                sorted.key_into(i, &mut k);
                if k.starts_with(prefix) {
                    let mut v = Vec::new();
                    if !sorted.encode_value(i, &mut v)? {
                        return Err("a taken cold entry lost its value".into());
                    }
                    out.push((k, v));
                }
            }
        }
        Ok(out)
    }
}

/// One group of a [`TakenCold`]'s entries, shared ([`TakenCold::group`]):
/// a clone copies no entry, and the entries live until the last clone goes.
#[derive(Clone, Debug)]
pub struct TakenGroup {
    group: ColdGroup,
    entries: GroupEntries,
}

/// A [`TakenGroup`]'s entries, as the ledger held them.
#[derive(Clone, Debug)]
enum GroupEntries {
    Tokens(Arc<Tokens>),
    Orders(Arc<HashMap<Token, OrderState>>),
    OfferOrders(Arc<HashMap<Token, u64>>),
    JournalEntries(Arc<HashMap<Token, JeState>>),
    Unloads(Arc<Vec<UnloadState>>),
}

impl TakenGroup {
    /// Which group.
    pub fn group(&self) -> ColdGroup {
        self.group
    }

    /// The group's map, emptied with its room kept, as a spare for the next
    /// cold flush ([`SpareMaps`]) when this is its last holder; none
    /// otherwise (the last holder frees it). The entries are dropped here,
    /// on the caller's thread (a cold run's writer, off the commit path).
    pub fn into_spare(self) -> SpareMaps {
        fn emptied<T>(shared: Arc<T>, clear: impl FnOnce(&mut T)) -> Option<T> {
            let mut owned = Arc::into_inner(shared)?;
            clear(&mut owned);
            Some(owned)
        }
        let mut spare = SpareMaps::default();
        match (self.group, self.entries) {
            (ColdGroup::Tokens(k), GroupEntries::Tokens(m)) => {
                if let Some(slot) = spare.tokens.get_mut(usize::from(k)) {
                    *slot = emptied(m, Tokens::clear);
                }
            }
            (ColdGroup::Orders(Book::Gpa), GroupEntries::Orders(m)) => spare.gpa_orders = emptied(m, HashMap::clear),
            (ColdGroup::Orders(Book::Msa), GroupEntries::Orders(m)) => spare.msa_orders = emptied(m, HashMap::clear),
            (ColdGroup::OfferOrders, GroupEntries::OfferOrders(m)) => spare.offer_orders = emptied(m, HashMap::clear),
            (ColdGroup::JournalEntries, GroupEntries::JournalEntries(m)) => {
                spare.journal_entries = emptied(m, HashMap::clear);
            }
            (ColdGroup::Unloads(Book::Gpa), GroupEntries::Unloads(v)) => spare.gpa_unloads = emptied(v, Vec::clear),
            (ColdGroup::Unloads(Book::Msa), GroupEntries::Unloads(v)) => spare.msa_unloads = emptied(v, Vec::clear),
            (group, entries) => unreachable!("a taken group {group:?} holds {entries:?}"),
        }
        spare
    }

    /// The group's entries in key order (each once), each key's value
    /// beside it (a token's copied, the others borrowed): a cold flush
    /// builds each key ([`SortedGroup::key_into`]) and encodes its value
    /// ([`SortedGroup::encode_value`]) with no lookup. A group's keys are
    /// its prefix and then a token or a big-endian seq, so they sort as
    /// those do.
    pub fn sorted(&self) -> SortedGroup<'_> {
        let mut out =
            SortedGroup { group: self.group, prefix: self.group.prefix(), tokens: Vec::new(), unloads: Vec::new() };
        // byte order (as the keys sort), compared mostly as one u128 of the
        // first 16 bytes (zero-padded: a shorter token, a prefix of a longer
        // one, sorts first either way), the whole token only on a tie
        let mut heads: Vec<(u128, &str, ColdValue<'_>)> = match &self.entries {
            GroupEntries::Tokens(m) => {
                m.iter().map(|(t, (seq, fp))| (token_head(t), t.as_str(), ColdValue::Token(*seq, *fp))).collect()
            }
            GroupEntries::Orders(m) => {
                m.iter().map(|(t, o)| (token_head(t), t.as_str(), ColdValue::Order(o))).collect()
            }
            GroupEntries::OfferOrders(m) => {
                m.iter().map(|(t, seq)| (token_head(t), t.as_str(), ColdValue::OfferOrder(*seq))).collect()
            }
            GroupEntries::JournalEntries(m) => {
                m.iter().map(|(t, j)| (token_head(t), t.as_str(), ColdValue::JournalEntry(j))).collect()
            }
            GroupEntries::Unloads(list) => {
                // by seq, each seq once: the first of it in log order (what
                // a lookup of its key answers)
                let mut unloads: Vec<&UnloadState> = list.iter().collect();
                unloads.sort_by_key(|u| u.seq);
                unloads.dedup_by_key(|u| u.seq);
                out.unloads = unloads;
                return out;
            }
        };
        // a map's tokens are each there once: nothing to dedup
        sort_heads(&mut heads);
        out.tokens = heads;
        out
    }
}

/// A group's entries of a [`TakenCold`] in key order, named by position,
/// each with its value ([`TakenGroup::sorted`]): borrowed from the group,
/// which no lock guards (its entries never change).
pub struct SortedGroup<'a> {
    group: ColdGroup,
    prefix: Vec<u8>,
    /// The tokens in key order, each with its head ([`token_head`]) and
    /// value (empty for unloads).
    tokens: Vec<(u128, &'a str, ColdValue<'a>)>,
    /// The unloads in key order (unloads only).
    unloads: Vec<&'a UnloadState>,
}

impl<'a> SortedGroup<'a> {
    /// How many entries.
    pub fn len(&self) -> usize {
        match self.group {
            ColdGroup::Unloads(_) => self.unloads.len(),
            _ => self.tokens.len(),
        }
    }

    /// True when it names no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`th entry's value (`None`: past the end).
    fn value(&self, i: usize) -> Option<ColdValue<'a>> {
        match self.group {
            ColdGroup::Unloads(_) => self.unloads.get(i).map(|u| ColdValue::Unload(u)),
            _ => self.tokens.get(i).map(|(_, _, v)| *v),
        }
    }

    /// Writes the `i`th entry's key into `out` (cleared first); false past the end.
    pub fn key_into(&self, i: usize, out: &mut Vec<u8>) -> bool {
        out.clear();
        self.append_key(i, out)
    }

    /// Appends the `i`th entry's key to `out` (a cold flush builds it
    /// straight into its block); false past the end, `out` unchanged.
    #[inline]
    pub fn append_key(&self, i: usize, out: &mut Vec<u8>) -> bool {
        let seq;
        let tail: &[u8] = match self.group {
            ColdGroup::Unloads(_) => match self.unloads.get(i) {
                Some(u) => {
                    seq = u.seq.to_be_bytes();
                    &seq
                }
                None => return false,
            },
            _ => match self.tokens.get(i) {
                Some((_, t, _)) => t.as_bytes(),
                None => return false,
            },
        };
        out.reserve(self.prefix.len() + tail.len());
        // the prefix (one or two bytes) byte by byte: no copy call for it
        for &b in &self.prefix {
            out.push(b);
        }
        out.extend_from_slice(tail);
        true
    }

    /// Appends the encoded value of entry `i` (the bytes [`TakenCold::get`]
    /// answers at its key) to `out`, typed: no key is parsed or looked
    /// up, no `Vec` made (a cold flush writes it straight into its block).
    /// `Ok(false)`: past the end.
    pub fn encode_value(&self, i: usize, out: &mut Vec<u8>) -> Result<bool, String> {
        match self.value(i) {
            Some(v) => snapshot::encode_cold_into(v, out).map(|()| true),
            None => Ok(false),
        }
    }
}

/// Below this many tokens a group is sorted by comparisons ([`sort_heads`]).
const RADIX_SORT_MIN_TOKENS: usize = 256;

/// Sorts tokens with their heads ([`token_head`]) and values by head, then
/// by token on a tie: what `sort_unstable_by` with that order gives. A big
/// group is sorted by its heads' bytes (an LSD radix sort: stable counting
/// passes from the head's last byte to its first, skipping a byte every
/// head has the same value at — a group's tokens share most of theirs),
/// then each run of equal heads by its tokens: ≈ 6 passes over a group of
/// the demo's tokens instead of ≈ 17 comparisons an entry, which were most
/// of a cold flush's sorting.
fn sort_heads<T: Copy>(heads: &mut Vec<(u128, &str, T)>) {
    let by_token = |a: &(u128, &str, T), b: &(u128, &str, T)| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1));
    let n = heads.len();
    if n < RADIX_SORT_MIN_TOKENS {
        heads.sort_unstable_by(by_token);
        return;
    }
    // counts[i][v]: heads whose byte i (little-endian: 0 least significant) is v
    let mut counts = vec![[0usize; 256]; 16];
    for (head, ..) in heads.iter() {
        for (count, byte) in counts.iter_mut().zip(head.to_le_bytes()) {
            if let Some(c) = count.get_mut(usize::from(byte)) {
                *c += 1;
            }
        }
    }
    let mut other = heads.clone();
    for (i, count) in counts.iter().enumerate() {
        if count.contains(&n) {
            continue;
        }
        let mut at = [0usize; 256];
        let mut sum = 0;
        for (a, c) in at.iter_mut().zip(count) {
            *a = sum;
            sum += c;
        }
        for e in heads.iter() {
            let byte = (e.0 >> (8 * i)) as u8;
            if let Some(a) = at.get_mut(usize::from(byte)) {
                if let Some(slot) = other.get_mut(*a) {
                    *slot = *e;
                }
                *a += 1;
            }
        }
        std::mem::swap(heads, &mut other);
    }
    for run in heads.chunk_by_mut(|a, b| a.0 == b.0) {
        if run.len() > 1 {
            run.sort_unstable_by(by_token);
        }
    }
}

/// A token's first 16 bytes, zero-padded, as a big-endian u128: tokens
/// whose heads differ sort as their heads do ([`TakenGroup::sorted`]).
fn token_head(t: &str) -> u128 {
    let mut head = [0u8; 16];
    let n = t.len().min(head.len());
    if let (Some(to), Some(from)) = (head.get_mut(..n), t.as_bytes().get(..n)) {
        to.copy_from_slice(from);
    }
    u128::from_be_bytes(head)
}

/// An encoded cold entry: (key, value).
pub type ColdEntry = (Vec<u8>, Vec<u8>);

/// Where a cold key is held in a [`TakenCold`] ([`TakenCold::locate`]).
enum Slot<'k> {
    Token(&'static str, &'k str),
    Order(Book, &'k str),
    OfferOrder(&'k str),
    Unload(Book, u64),
    JournalEntry(&'k str),
}

/// The entries of one kind (and book, or token kind) of a [`TakenCold`]:
/// their keys share a prefix ([`ColdGroup::prefix`]), so a group's keys
/// sort together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColdGroup {
    /// Offer orders (`F`).
    OfferOrders,
    /// Closed journal entries (`J`).
    JournalEntries,
    /// A book's orders (`O`, book).
    Orders(Book),
    /// A token kind's tokens (`T`, its index in `snapshot::TOKEN_KINDS`).
    Tokens(u8),
    /// A book's unloads (`U`, book).
    Unloads(Book),
}

impl ColdGroup {
    /// The prefix every key of the group starts with.
    pub fn prefix(self) -> Vec<u8> {
        match self {
            ColdGroup::OfferOrders => vec![key::OFFER_ORDER],
            ColdGroup::JournalEntries => vec![key::JOURNAL_ENTRY],
            ColdGroup::Orders(b) => vec![key::ORDER, b.byte()],
            ColdGroup::Tokens(k) => vec![key::TOKEN, k],
            ColdGroup::Unloads(b) => unload_prefix(b).to_vec(),
        }
    }
}

impl TakenCold {
    /// Hands every key this holds to `f`, each once, in no order (a filter
    /// over a staged run's keys is built from them: nothing is sorted).
    pub fn for_each_key(&self, mut f: impl FnMut(&[u8])) -> Result<(), String> {
        let mut key = Vec::new();
        for group in self.groups()? {
            key.clear();
            key.extend_from_slice(&group.prefix());
            let prefix = key.len();
            let mut with = |tail: &[u8]| {
                key.truncate(prefix);
                key.extend_from_slice(tail);
                f(&key);
            };
            match group {
                ColdGroup::OfferOrders => self.offer_orders.keys().for_each(|t| with(t.as_bytes())),
                ColdGroup::JournalEntries => self.journal_entries.keys().for_each(|t| with(t.as_bytes())),
                ColdGroup::Orders(b) => self.book(b).keys().for_each(|t| with(t.as_bytes())),
                ColdGroup::Tokens(k) => {
                    let tokens = token_kind(k).and_then(|kind| self.tokens.get(kind));
                    tokens.into_iter().flat_map(|m| m.keys()).for_each(|t| with(t.as_bytes()));
                }
                ColdGroup::Unloads(b) => self.unload_list(b).iter().for_each(|u| with(&u.seq.to_be_bytes())),
            }
        }
        Ok(())
    }
}

impl Ledger {
    /// Moves the cold entries out of memory like [`Ledger::drain_cold`],
    /// but typed and without encoding them (the maps are moved, not
    /// copied; the open journal entries stay): the engine stages them for
    /// lookups and encodes them off the state's lock. Only for a ledger
    /// with a cold store.
    pub fn take_cold(&mut self) -> TakenCold {
        assert!(self.cold.is_some(), "take_cold on a ledger without a cold store");
        // the maps of the runs written since the last flush, emptied: the
        // new hot maps (a token kind's waits in the room for its first token)
        if let Some(cold) = &self.cold {
            self.room.spares.keep(cold.0.take_spares());
        }
        let spares = &mut self.room.spares;
        let gpa_orders = std::mem::replace(&mut self.gpa_orders, spare_or(spares.gpa_orders.take(), HashMap::default));
        let msa_orders = std::mem::replace(&mut self.msa_orders, spare_or(spares.msa_orders.take(), HashMap::default));
        let offer_orders =
            std::mem::replace(&mut self.offer_orders, spare_or(spares.offer_orders.take(), HashMap::default));
        let gpa_unloads = std::mem::replace(&mut self.gpa_unloads, spare_or(spares.gpa_unloads.take(), Vec::new));
        let msa_unloads = std::mem::replace(&mut self.msa_unloads, spare_or(spares.msa_unloads.take(), Vec::new));
        // the closed entries (nearly all) leave in the map they are in, none
        // of them hashed or moved again; the open ones go back into a new
        // hot map (a spare, or one with its predecessor's room)
        let room = self.journal_entries.capacity();
        let new_journal = spare_or(spares.journal_entries.take(), || super::apply::with_room(room));
        let mut journal_entries = std::mem::replace(&mut self.journal_entries, new_journal);
        self.journal_entries.extend(journal_entries.extract_if(|_, j| !je_closed(j)));
        let tokens = std::mem::take(&mut self.tokens);
        TakenCold {
            tokens: tokens.into_kinds().map(|(kind, m)| (kind, Arc::new(m))).collect(),
            gpa_orders: Arc::new(gpa_orders),
            msa_orders: Arc::new(msa_orders),
            offer_orders: Arc::new(offer_orders),
            gpa_unloads: Arc::new(gpa_unloads),
            msa_unloads: Arc::new(msa_unloads),
            journal_entries: Arc::new(journal_entries),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A group's keys come out in byte order, each once, as sorting the
    /// built keys would give: tokens sharing their first 16 bytes, tokens
    /// that are prefixes of others, shorter and longer than 16 bytes,
    /// non-ASCII, empty; unload seqs across byte boundaries.
    #[test]
    fn sorted_keys_sorts_as_the_built_keys_do() {
        let long = "abcdefghijklmnop";
        let mut tokens: Vec<String> =
            ["", "a", "ab", "a\u{0}", "b", "z", "A", "é", "ée", "\u{7f}", "je_000000010", "je_000000009"]
                .iter()
                .map(|t| t.to_string())
                .collect();
        for tail in ["", "a", "b", "\u{0}", "aa", "ab", "zzzzzzzzzzzzzzzzzz", "é"] {
            tokens.push(format!("{long}{tail}"));
            tokens.push(format!("{}{tail}", &long[..15]));
        }
        let mut taken = TakenCold::default();
        for (n, t) in tokens.iter().enumerate() {
            Arc::make_mut(&mut taken.offer_orders).insert(t.clone().into(), n as u64);
        }
        for seq in [0u64, 1, 255, 256, 65_535, 65_536, u64::MAX, 7] {
            Arc::make_mut(&mut taken.gpa_unloads).push(UnloadState {
                seq,
                time: crate::time::Timestamp(0),
                holder: crate::command::Holder::User("u".into()),
                original_order_token: "o".into(),
                amount: crate::money::Money::from_cents(1),
            });
        }
        let mut want: Vec<Vec<u8>> = tokens.iter().map(|t| offer_key(t)).collect();
        want.sort();
        assert_eq!(taken.sorted_keys(ColdGroup::OfferOrders), want);
        // a big group (sorted by radix): the same tokens among many more,
        // sharing heads, bytes and prefixes
        let mut x = 7u64;
        for n in 0..5000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let digits = format!("{:012}", x >> 24);
            let t = match n % 5 {
                0 => format!("je_{}", &digits[..9]),
                1 => format!("{long}{}", &digits[..(x % 12) as usize]),
                2 => format!("é{}", &digits[..(x % 5) as usize]),
                3 => digits[..(x % 13) as usize].to_string(),
                _ => format!("gpo_{digits}_{}", "z".repeat((x % 20) as usize)),
            };
            tokens.push(t);
        }
        tokens.sort();
        tokens.dedup();
        assert!(tokens.len() > 2 * RADIX_SORT_MIN_TOKENS, "{}", tokens.len());
        taken.offer_orders = Arc::default();
        for (n, t) in tokens.iter().enumerate() {
            Arc::make_mut(&mut taken.offer_orders).insert(t.clone().into(), n as u64);
        }
        let mut want: Vec<Vec<u8>> = tokens.iter().map(|t| offer_key(t)).collect();
        want.sort();
        assert_eq!(taken.sorted_keys(ColdGroup::OfferOrders), want);
        let mut want: Vec<Vec<u8>> = taken.gpa_unloads.iter().map(|u| unload_key(Book::Gpa, u.seq)).collect();
        want.sort();
        assert_eq!(taken.sorted_keys(ColdGroup::Unloads(Book::Gpa)), want);
    }
}
