//! The cold state on disk: sorted runs in the store's `cold` tree.
//!
//! A sled key costs about 6 µs to insert, so one key per token or order
//! would cap the write path; and sled keeps per-key structures in memory.
//! Instead each cold flush writes one **run**: its entries (sorted, newest
//! version of each key) packed into blocks of about `COLD_BLOCK_BYTES`,
//! appended back to back to a file of the run's own (`cold/<run>.run`,
//! store format 7; up to format 6 one sled value per block), then, once
//! that file is synced, the run's meta value (every block's first key and
//! a Bloom filter over the run's keys), where its blocks end in the file,
//! and the watermark — in one atomic `apply_batch` of the `cold` tree. In
//! memory stay only the metas and block ends: a lookup checks the
//! runs newest first, skips a run whose filter says no (the common case for
//! a token never seen: no disk read), finds the one block that can hold the
//! key by its first key, reads it (one `pread` of the run's file) and
//! searches it. `docs/format.md` has the byte layout.
//!
//! Each run also records the log position it was written at (its
//! **position** value, `P`): the runs written at or before a seq are exactly
//! the cold state at that seq (a newer version of a key is always written
//! in a later run; no run is ever rewritten or deleted, except all of them
//! by [`ColdRuns::clear`] before a replay from genesis). A [`ColdView`]
//! reads only those runs: an as-of state starts from the hot snapshot at a
//! seq plus the view at that seq.
//!
//! A cold flush first **stages** its entries ([`ColdRuns::stage`]): they
//! are an in-memory newest run that every live lookup and scan sees first,
//! while a background writer puts them on disk. [`ColdRuns::write_run`]
//! writes a run in **parts** of at most `COLD_FLUSH_PART_BLOCKS` blocks,
//! group by group in key order ([`TakenCold::groups`]): each part is
//! encoded from the typed entries (a group's are shared, read in key order
//! with no lock held: `TakenGroup::sorted`) and its blocks appended to the
//! run's file (one `write`, no sync); once a
//! group's last part is written, under the staged run's lock its blocks
//! join the run's written part and the group's typed entries are dropped
//! whole, so the typed entries leave memory group by group and a lookup
//! finds every staged key at every instant (typed, else in a written
//! block). The file is then `fdatasync`ed (and the `cold` directory, which
//! gained it); the meta, the block ends, the position and the watermark go
//! last, in one atomic batch: only then is the run complete, and the
//! staged run is swapped for it under the runs' lock. A run file without
//! its meta (a crash or a failure before that batch) is ignored, and
//! removed at the next open; a meta is never durable without its whole,
//! synced file. A staged run is not part of any
//! [`ColdView`]: it lies after the watermark, and a view at or past it is
//! refused until it is written.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use cardledger_domain::limits::{
    COLD_BLOCK_BYTES, COLD_BLOCK_CACHE_BLOCKS, COLD_FILTER_BITS_PER_KEY, COLD_FLUSH_PART_BLOCKS,
    COLD_RUN_FILES_OPEN_MAX,
};
use cardledger_domain::state::{ColdStore, TakenCold};

use crate::lock;
use crate::record::Head;
use crate::store::files::sync_dir;
use crate::store::{sled_err, StoreError};

/// Key of the watermark: the seq and chain hash the cold entries are at.
const WATERMARK: &[u8] = &[0];
/// Prefix of a run's meta value: `M`, run number (u32 BE).
const META: u8 = b'M';
/// Prefix of a block up to store format 6: `B`, run number (u32 BE), block
/// number (u32 BE). A format-7 store keeps its blocks in run files; such
/// keys are what an upgrade left after its switch, removed at open.
const BLOCK: u8 = b'B';
/// Prefix of a run's block ends (store format 7): `E`, run number (u32
/// BE); the value is the end offset in the run's file of each block (u64
/// BE), in order, then a crc32 of those bytes.
const ENDS: u8 = b'E';
/// The directory of the run files, inside the store's.
const DIR: &str = "cold";
/// The extension of a run file's name.
const SUFFIX: &str = ".run";
/// Digits of a run file's name (the run number, zero-padded).
const NAME_DIGITS: usize = 10;
/// Prefix of a run's position: `P`, run number (u32 BE); the value is the
/// seq (u64 BE) and chain hash (32 bytes) the run was written at.
const POSITION: u8 = b'P';
/// Probes per key in a run's filter.
const FILTER_PROBES: u64 = 7;

fn corrupt(reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { seq: 0, reason: reason.into() }
}

/// A blocked Bloom filter over a run's keys: a key's probes all fall in one
/// 512-bit block (one cache line), so a lookup costs one memory access per
/// run. The key's 128-bit hash ([`key_hashes`]) gives the block (first
/// 64 bits) and the probes' bits (9 bits each from the next 64).
#[derive(Clone)]
struct Filter {
    bits: Vec<u64>,
    hash: FilterHash,
}

/// The hash every new run's filter is written with.
const NEW_RUN_FILTER_HASH: FilterHash = FilterHash::Mum;

/// How a run's filter hashes a key (`docs/format.md`, "Cold state").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FilterHash {
    /// blake3 of the key, its first 16 bytes as two LE u64s: runs written
    /// before [`FilterHash::Sip13`] (still read, never written).
    Blake3,
    /// SipHash-1-3 (128-bit output) with [`FILTER_KEY`]: runs written
    /// before [`FilterHash::Mum`] (still read, never written; ≈ 150
    /// instructions a key instead of blake3's ≈ 600).
    Sip13,
    /// Multiply-folds of the key's 16-byte chunks ([`mum_hashes`]): every
    /// run written now, and the filter over a staged run's keys (≈ 40
    /// instructions a key of 38 bytes; every new token's lookup hashes it
    /// once per kind of run it probes).
    Mum,
}

/// The fixed key of the [`FilterHash::Sip13`] filters: part of the run
/// format, never changed.
const FILTER_KEY: (u64, u64) = (0x636f_6c64_2066_696c, 0x7465_7220_7369_7031);

/// Set in a run meta's filter word count when its filter is
/// [`FilterHash::Sip13`] (a count never reaches 2^30 words: 8 GiB).
const SIP13_FILTER_FLAG: u32 = 1 << 31;

/// Set in a run meta's filter word count when its filter is
/// [`FilterHash::Mum`] (never with [`SIP13_FILTER_FLAG`]).
const MUM_FILTER_FLAG: u32 = 1 << 30;

/// The constants of [`FilterHash::Mum`] (wyhash's): part of the run
/// format, never changed.
const MUM_KEYS: [u64; 4] = [0xa076_1d64_78bd_642f, 0xe703_7ed1_a0b4_28db, 0x8ebc_6af0_9c88_c6e3, 0x5899_65cc_7537_4cc3];

/// `a × b` in 128 bits, its two halves xored (wyhash's "mum").
fn mum(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A key's [`FilterHash::Mum`] hashes: the length, then each 16-byte
/// chunk (two LE u64s; the last one zero-padded, always present) folded
/// into a state by one [`mum`] each, and the two hashes two more folds of
/// the state with different constants.
fn mum_hashes(key: &[u8]) -> (u64, u64) {
    let [k0, k1, k2, k3] = MUM_KEYS;
    // the bytes key[from..to] (at most 8) as a LE u64, zero-padded: one
    // load of the 8 bytes ending at `to`, shifted, when the key has them
    let word = |from: usize, to: usize| {
        let n = to.saturating_sub(from);
        let last8 = to.checked_sub(8).and_then(|at| key.get(at..to)).and_then(|b| <[u8; 8]>::try_from(b).ok());
        match (last8, n) {
            (_, 0) => 0,
            (Some(w), 1..=8) => u64::from_le_bytes(w) >> (8 * (8 - n)),
            _ => key.get(from..to).unwrap_or_default().iter().rev().fold(0u64, |w, &b| (w << 8) | u64::from(b)),
        }
    };
    let mut h = mum(key.len() as u64 ^ k0, k1);
    let whole = key.len() / 16 * 16;
    for at in (0..whole).step_by(16) {
        h = mum(word(at, at + 8) ^ k0 ^ h, word(at + 8, at + 16) ^ k1);
    }
    let mid = (whole + 8).min(key.len());
    h = mum(word(whole, mid) ^ k2 ^ h, word(mid, key.len()) ^ k3);
    (mum(h ^ k0, k2), mum(h ^ k1, k3))
}

/// u64 words in one filter block (512 bits).
const BLOCK_WORDS: usize = 8;

/// A key's two 64-bit filter hashes, as a filter of kind `hash` takes them.
fn key_hashes(hash: FilterHash, key: &[u8]) -> (u64, u64) {
    match hash {
        FilterHash::Blake3 => {
            let h = blake3::hash(key);
            let b = h.as_bytes();
            let mut x = [0u8; 8];
            let mut y = [0u8; 8];
            x.copy_from_slice(b.get(..8).unwrap_or(&[0; 8]));
            y.copy_from_slice(b.get(8..16).unwrap_or(&[0; 8]));
            (u64::from_le_bytes(x), u64::from_le_bytes(y))
        }
        FilterHash::Sip13 => {
            use siphasher::sip128::Hasher128;
            use std::hash::Hasher;
            let mut h = siphasher::sip128::SipHasher13::new_with_keys(FILTER_KEY.0, FILTER_KEY.1);
            h.write(key);
            let h = h.finish128();
            (h.h1, h.h2)
        }
        FilterHash::Mum => mum_hashes(key),
    }
}

/// A key's filter hashes, computed at most once per kind and only when a
/// run's filter is probed (none before the first cold flush).
struct LazyHashes<'a> {
    key: &'a [u8],
    blake3: Option<(u64, u64)>,
    sip13: Option<(u64, u64)>,
    mum: Option<(u64, u64)>,
}

impl<'a> LazyHashes<'a> {
    fn new(key: &'a [u8]) -> Self {
        LazyHashes { key, blake3: None, sip13: None, mum: None }
    }

    fn of(&mut self, hash: FilterHash) -> (u64, u64) {
        let slot = match hash {
            FilterHash::Blake3 => &mut self.blake3,
            FilterHash::Sip13 => &mut self.sip13,
            FilterHash::Mum => &mut self.mum,
        };
        *slot.get_or_insert_with(|| key_hashes(hash, self.key))
    }
}

impl Filter {
    /// An empty filter for `keys` keys, of the kind every run is written with.
    fn new(keys: usize) -> Filter {
        let words = keys.saturating_mul(COLD_FILTER_BITS_PER_KEY) / 64;
        let blocks = words.div_ceil(BLOCK_WORDS).max(1);
        Filter { bits: vec![0; blocks * BLOCK_WORDS], hash: NEW_RUN_FILTER_HASH }
    }

    /// Adds the key whose [`key_hashes`] (of this filter's kind) are `hashes`.
    fn insert(&mut self, hashes: (u64, u64)) {
        for (w, mask) in probes(self.bits.len(), hashes) {
            if let Some(word) = self.bits.get_mut(w) {
                *word |= mask;
            }
        }
    }

    fn may_contain(&self, hashes: (u64, u64)) -> bool {
        probes(self.bits.len(), hashes).all(|(w, mask)| self.bits.get(w).is_some_and(|word| word & mask != 0))
    }
}

/// The words and bits, in a filter of `words` words, of a key whose
/// [`key_hashes`] are `(a, b)` (computed once per lookup, not once per run).
fn probes(words: usize, (a, b): (u64, u64)) -> impl Iterator<Item = (usize, u64)> {
    let blocks = (words / BLOCK_WORDS).max(1) as u64;
    let base = ((a % blocks) as usize) * BLOCK_WORDS;
    (0..FILTER_PROBES).map(move |i| {
        let bit = (b >> (9 * i)) & 511;
        (base + (bit / 64) as usize, 1u64 << (bit % 64))
    })
}

/// What stays in memory of a run.
struct Run {
    no: u32,
    /// This process's name for this run in memory ([`fresh_run_id`]): the
    /// block cache's key, never reused, so a cached block can only be one
    /// this very run read (a run number may name another run after a
    /// clear, or a staged run whose write failed and was retried).
    id: u64,
    /// First key of each block, in order.
    first_keys: Vec<Vec<u8>>,
    /// Where each block ends in the run's file (block `b` starts where
    /// `b - 1` ends, the first at 0).
    ends: Vec<u64>,
    /// The run's file, kept open for the newest
    /// [`COLD_RUN_FILES_OPEN_MAX`] runs (older ones open it per read).
    file: Option<Arc<File>>,
    filter: Filter,
    /// The seq the run was written at; `None` for a run written before
    /// runs recorded their position (it is at or before
    /// [`ColdRuns::legacy_bound`]).
    at: Option<u64>,
}

/// A cached block: its body ([`block_body`]: crc checked, the crc cut
/// off) and its last use.
type CachedBlock = (Arc<[u8]>, u64);

/// A new [`Run::id`].
fn fresh_run_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The blocks a point lookup read last ([`ColdRuns::find`]), checked: at
/// most [`COLD_BLOCK_CACHE_BLOCKS`], the least recently used evicted. A
/// lookup of a key that lives in a cached block (an old order the workload
/// returns to) or that a run's filter lets through into one (a false
/// positive of a new token, which lands in the same block of a run as the
/// last one did when tokens grow) reads no file and checks no crc. Scans
/// (`collect`, `verify`) read their blocks from the file, uncached: damage
/// on disk is found by them whatever the cache holds.
#[derive(Default)]
struct BlockCache {
    /// (run id, block) → the block.
    blocks: std::collections::HashMap<(u64, u32), CachedBlock>,
    /// Uses so far: the clock of `last use`.
    uses: u64,
}

impl BlockCache {
    fn get(&mut self, key: (u64, u32)) -> Option<Arc<[u8]>> {
        self.uses += 1;
        let uses = self.uses;
        self.blocks.get_mut(&key).map(|(bytes, last)| {
            *last = uses;
            bytes.clone()
        })
    }

    fn insert(&mut self, key: (u64, u32), bytes: Arc<[u8]>) {
        if self.blocks.len() >= COLD_BLOCK_CACHE_BLOCKS {
            // a miss already read a file: a scan of the few cached blocks is small beside it
            let oldest = self.blocks.iter().min_by_key(|(_, (_, last))| *last).map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.blocks.remove(&k);
            }
        }
        self.uses += 1;
        self.blocks.insert(key, (bytes, self.uses));
    }
}

impl Run {
    /// Where block `b` starts in the run's file: where block `b - 1` ends,
    /// the first at 0.
    fn block_start(&self, b: u32) -> u64 {
        b.checked_sub(1).and_then(|p| self.ends.get(p as usize)).copied().unwrap_or(0)
    }
}

/// The entries of a cold flush on their way to disk (see [`ColdRuns::stage`]):
/// taken typed out of the ledger under its lock (an O(1) move), then
/// written group by group ([`ColdRuns::write_run`]): a written group's
/// blocks join `written` and its typed entries leave `taken` in one step
/// under this lock, so a lookup finds every key in one or the other.
/// Beside the lock, once its writer has built it ([`StagedRun::index`]):
/// a filter over every key the run was staged with. A key it rules out is
/// in neither part: a new token is answered without the lock (which the
/// writer holds while it drops a written part) and without reading a block.
pub(crate) struct StagedRun(RwLock<StagedParts>, OnceLock<Filter>);

struct StagedParts {
    /// The typed entries not yet in a written block.
    taken: TakenCold,
    /// The run's blocks written so far (no meta yet; `None` until its
    /// writer starts).
    written: Option<Run>,
}

impl StagedRun {
    pub(crate) fn new(taken: TakenCold) -> StagedRun {
        StagedRun(RwLock::new(StagedParts { taken, written: None }), OnceLock::new())
    }

    /// Builds the filter over every staged key (the background writer's
    /// first step: off the state's lock and off the commit path). Only
    /// before the run's writing starts: nothing has left `taken` yet, and
    /// nothing ever joins it, so the filter holds every key either part
    /// will ever hold; once writing started it is not built (lookups then
    /// take the lock, as before).
    pub(crate) fn index(&self) -> Result<(), StoreError> {
        let parts = self.read();
        if parts.written.is_some() || self.1.get().is_some() {
            return Ok(());
        }
        let mut filter = Filter::new(parts.taken.len());
        parts.taken.for_each_key(|k| filter.insert(key_hashes(filter.hash, k))).map_err(not_encoded)?;
        // `parts` (read) is still held: `written` cannot have started
        let _already = self.1.set(filter);
        Ok(())
    }

    /// Whether the key of `hashes` may be staged: false only when the
    /// filter over the staged keys is built and rules it out.
    fn may_hold(&self, hashes: &mut LazyHashes<'_>) -> bool {
        self.1.get().is_none_or(|f| f.may_contain(hashes.of(f.hash)))
    }

    fn read(&self) -> RwLockReadGuard<'_, StagedParts> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, StagedParts> {
        self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn not_encoded(e: String) -> StoreError {
    corrupt(format!("a staged cold entry does not encode: {e}"))
}

/// Packs a run's entries, given in key order, into blocks: each block ends
/// at about `COLD_BLOCK_BYTES` (or when told), its end offset in the file
/// goes to `ends` and its first key to `first_keys`, until
/// [`Blocks::take_part`] hands the ended blocks' bytes to their writer.
/// Each entry is built in place at the end of `part` (key and value
/// encoded straight into it: no per-entry buffer, no copy of a block into
/// the part), and `part` keeps its capacity from one part to the next.
struct Blocks {
    /// Blocks ended so far.
    count: u32,
    /// The bytes of the blocks ended and not taken yet, then of the block
    /// being filled (from `block_at`).
    part: Vec<u8>,
    /// Where the block being filled starts in `part`.
    block_at: usize,
    /// Where the first key of the block being filled lies in `part`.
    first: std::ops::Range<usize>,
    /// Entries in the block being filled.
    pending: usize,
    /// Where the last key pushed lies in `part` (keys must come in
    /// increasing order), or `None` when it is in `last_taken`.
    last_at: Option<std::ops::Range<usize>>,
    /// The last key pushed, once the part that held it was taken.
    last_taken: Option<Vec<u8>>,
    /// Bytes of the blocks ended so far (where the next one starts).
    offset: u64,
    ends: Vec<u64>,
    first_keys: Vec<Vec<u8>>,
}

/// The blocks of a part taken ([`Blocks::take_part`]): their end offsets
/// and first keys.
struct Part {
    ends: Vec<u64>,
    first_keys: Vec<Vec<u8>>,
}

impl Blocks {
    /// Blocks written in parts of about `part_blocks` blocks (the part's
    /// buffer is sized for that many once).
    fn new(part_blocks: usize) -> Blocks {
        Blocks {
            count: 0,
            part: Vec::with_capacity(part_blocks.saturating_mul(COLD_BLOCK_BYTES + 1024)),
            block_at: 0,
            first: 0..0,
            pending: 0,
            last_at: None,
            last_taken: None,
            offset: 0,
            ends: Vec::new(),
            first_keys: Vec::new(),
        }
    }

    /// Appends the entry `(k, v)`.
    #[cfg(test)]
    fn push(&mut self, k: &[u8], v: &[u8]) -> Result<(), StoreError> {
        let key = |out: &mut Vec<u8>| {
            out.extend_from_slice(k);
            true
        };
        let value = |out: &mut Vec<u8>| {
            out.extend_from_slice(v);
            Ok(true)
        };
        self.push_with(key, value).map(|_| ())
    }

    /// Appends an entry: `key` appends its key to the block (false: there
    /// is no entry, nothing is appended), then `value` its value (as [`put`]
    /// would: each length is filled in after it; `Ok(false)` from `value`:
    /// the entry has no value, an error). Answers the key appended, as it
    /// lies in the block.
    fn push_with(
        &mut self,
        key: impl FnOnce(&mut Vec<u8>) -> bool,
        value: impl FnOnce(&mut Vec<u8>) -> Result<bool, String>,
    ) -> Result<Option<&[u8]>, StoreError> {
        let entry_at = self.part.len();
        let key_at = entry_at + 4;
        self.part.extend_from_slice(&[0; 4]);
        if !key(&mut self.part) {
            self.part.truncate(entry_at);
            return Ok(None);
        }
        let key_end = self.part.len();
        let k = self.part.get(key_at..key_end).unwrap_or_default();
        let last = match &self.last_at {
            Some(r) => self.part.get(r.clone()),
            None => self.last_taken.as_deref(),
        };
        if last.is_some_and(|last| last >= k) {
            self.part.truncate(entry_at);
            return Err(corrupt("cold entries reached a run out of key order"));
        }
        fill_len(&mut self.part, entry_at)?;
        self.last_at = Some(key_at..key_end);
        if self.pending == 0 {
            self.first = key_at..key_end;
        }
        self.part.extend_from_slice(&[0; 4]);
        if !value(&mut self.part).map_err(not_encoded)? {
            return Err(corrupt("a staged cold entry left before it was written"));
        }
        fill_len(&mut self.part, key_end)?;
        self.pending += 1;
        if self.part.len() - self.block_at >= COLD_BLOCK_BYTES {
            self.end_block();
        }
        Ok(self.part.get(key_at..key_end))
    }

    /// Ends the block being filled, if it holds an entry.
    fn end_block(&mut self) {
        if self.pending == 0 {
            return;
        }
        let crc = crc32fast::hash(self.part.get(self.block_at..).unwrap_or_default());
        self.part.extend_from_slice(&crc.to_be_bytes());
        self.offset += (self.part.len() - self.block_at) as u64;
        self.block_at = self.part.len();
        self.ends.push(self.offset);
        self.first_keys.push(self.part.get(self.first.clone()).unwrap_or_default().to_vec());
        self.count += 1;
        self.pending = 0;
    }

    /// Hands the bytes of the ended blocks not taken yet to `write` (not
    /// called when there are none) and answers their ends and first keys;
    /// the block being filled, if any, stays (moved to the buffer's start).
    fn take_part<E>(&mut self, write: impl FnOnce(&[u8]) -> Result<(), E>) -> Result<Part, E> {
        let taken = self.block_at;
        if taken > 0 {
            write(self.part.get(..taken).unwrap_or_default())?;
            // the last key, if in a taken block, is kept aside
            if let Some(r) = self.last_at.take() {
                if r.start < taken {
                    self.last_taken = self.part.get(r).map(<[u8]>::to_vec);
                } else {
                    self.last_at = Some(r.start - taken..r.end - taken);
                }
            }
            if self.pending > 0 {
                self.first = self.first.start - taken..self.first.end - taken;
            }
            self.part.drain(..taken);
            self.block_at = 0;
        }
        Ok(Part { ends: std::mem::take(&mut self.ends), first_keys: std::mem::take(&mut self.first_keys) })
    }
}

/// Fills in the u32 length of what follows the 4 bytes at `at` in `out`
/// (to its end): [`put`]'s length, written after its bytes.
fn fill_len(out: &mut [u8], at: usize) -> Result<(), StoreError> {
    let len = u32::try_from(out.len() - at - 4).map_err(|_| corrupt("a cold key or value over 4 GiB"))?;
    if let Some(to) = out.get_mut(at..at + 4) {
        to.copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

/// A staged run, shared by the cold store and the writer that writes it.
pub(crate) type StagedEntries = Arc<StagedRun>;

/// A staged run: the entries of a cold flush at seq `at`, not yet written.
struct Staged {
    at: u64,
    entries: StagedEntries,
}

/// The runs in memory, oldest first, with the watermark's seq (0: none),
/// kept together so a reader never sees a run without the watermark that
/// names it, nor the reverse.
struct Runs {
    list: Vec<Run>,
    watermark: u64,
    /// The newest run, still in memory (at most one: the engine waits for
    /// a flush's write before it stages the next).
    staged: Option<Staged>,
    /// How many times the runs were cleared: a view made before a clear
    /// reads nothing after it (run numbers start again at 0).
    generation: u64,
}

/// Appends `bytes` with a u32 length.
fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Reads what [`put`] wrote at `at`.
fn take<'a>(bytes: &'a [u8], at: &mut usize) -> Result<&'a [u8], StoreError> {
    let len = bytes.get(*at..*at + 4).ok_or_else(|| corrupt("a cold value ends inside a length"))?;
    let len = <[u8; 4]>::try_from(len).map(u32::from_be_bytes).map_err(|_| corrupt("a cold length"))? as usize;
    let start = *at + 4;
    let v = bytes.get(start..start + len).ok_or_else(|| corrupt("a cold value ends inside an entry"))?;
    *at = start + len;
    Ok(v)
}

fn meta_key(no: u32) -> Vec<u8> {
    let mut k = vec![META];
    k.extend_from_slice(&no.to_be_bytes());
    k
}

fn position_key(no: u32) -> Vec<u8> {
    let mut k = vec![POSITION];
    k.extend_from_slice(&no.to_be_bytes());
    k
}

fn block_key(no: u32, block: u32) -> Vec<u8> {
    let mut k = vec![BLOCK];
    k.extend_from_slice(&no.to_be_bytes());
    k.extend_from_slice(&block.to_be_bytes());
    k
}

/// A block's entries: (key, value) pairs borrowed from its bytes.
type BlockEntries<'a> = Vec<(&'a [u8], &'a [u8])>;

/// A block's entries, its crc32 (at its end) checked.
fn block_body(bytes: &[u8]) -> Result<&[u8], StoreError> {
    let (body, crc) =
        bytes.split_at_checked(bytes.len().saturating_sub(4)).ok_or_else(|| corrupt("a short cold block"))?;
    let crc = <[u8; 4]>::try_from(crc).map(u32::from_be_bytes).map_err(|_| corrupt("a short cold block"))?;
    if crc32fast::hash(body) != crc {
        return Err(corrupt("a cold block fails its checksum"));
    }
    Ok(body)
}

/// The value at `key` in a block's checked body: its entries (in key
/// order) are read up to the first key not below `key`, none of them
/// copied or listed.
fn body_value<'a>(body: &'a [u8], key: &[u8]) -> Result<Option<&'a [u8]>, StoreError> {
    let mut at = 0;
    while at < body.len() {
        let k = take(body, &mut at)?;
        let v = take(body, &mut at)?;
        match k.cmp(key) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => return Ok(Some(v)),
            std::cmp::Ordering::Greater => return Ok(None),
        }
    }
    Ok(None)
}

/// Decodes a block: (key, value) pairs in key order, with a crc32 at its end.
fn decode_block(bytes: &[u8]) -> Result<BlockEntries<'_>, StoreError> {
    let body = block_body(bytes)?;
    let mut at = 0;
    let mut out = Vec::new();
    while at < body.len() {
        let k = take(body, &mut at)?;
        let v = take(body, &mut at)?;
        out.push((k, v));
    }
    Ok(out)
}

/// The cold entries of a store (a ledger reads through it as its [`ColdStore`]).
pub struct ColdRuns {
    tree: sled::Tree,
    /// The directory of the run files (`<store>/cold`).
    dir: PathBuf,
    runs: RwLock<Runs>,
    /// The watermark's seq when the store was opened: every run without a
    /// recorded position (written by an older build) is at or before it.
    legacy_bound: u64,
    failure: FirstFailure,
    blocks: Mutex<BlockCache>,
    /// Test hook: the next run's write fails after its file is synced,
    /// before its meta (a crash between the two).
    #[cfg(test)]
    fail_before_meta: std::sync::atomic::AtomicBool,
}

fn io_corrupt(what: String, e: &io::Error) -> StoreError {
    match e.kind() {
        // a run file gone or cut short is damage, as a missing block was
        io::ErrorKind::NotFound | io::ErrorKind::UnexpectedEof => corrupt(format!("{what}: {e}")),
        _ => StoreError::Io(format!("{what}: {e}")),
    }
}

fn ends_key(no: u32) -> Vec<u8> {
    let mut k = vec![ENDS];
    k.extend_from_slice(&no.to_be_bytes());
    k
}

fn encode_ends(ends: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ends.len() * 8 + 4);
    for e in ends {
        out.extend_from_slice(&e.to_be_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// A run's block ends ([`encode_ends`]): `blocks` offsets, increasing.
fn decode_ends(no: u32, blocks: usize, bytes: &[u8]) -> Result<Vec<u64>, StoreError> {
    let bad = |why: &str| corrupt(format!("cold run {no}'s block ends {why}"));
    let (body, crc) = bytes.split_at_checked(bytes.len().saturating_sub(4)).ok_or_else(|| bad("are short"))?;
    let crc = <[u8; 4]>::try_from(crc).map(u32::from_be_bytes).map_err(|_| bad("are short"))?;
    if crc32fast::hash(body) != crc {
        return Err(bad("fail their checksum"));
    }
    if body.len() != blocks * 8 {
        return Err(bad("do not name every block"));
    }
    let ends: Vec<u64> = body.chunks_exact(8).map(|c| <[u8; 8]>::try_from(c).map_or(0, u64::from_be_bytes)).collect();
    let increasing = ends.iter().try_fold(0u64, |previous, &end| (end > previous).then_some(end)).is_some();
    if !increasing {
        return Err(bad("are out of order"));
    }
    Ok(ends)
}

/// A run file's name.
fn file_name(no: u32) -> String {
    format!("{no:0NAME_DIGITS$}{SUFFIX}")
}

/// The run number a run file's name gives (`None`: not a run file's name).
fn parse_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(SUFFIX)?;
    (digits.len() == NAME_DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

/// The run numbers of the files in `dir` (none when it does not exist).
fn run_files(dir: &Path) -> Result<Vec<u32>, StoreError> {
    let mut out = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|e| StoreError::Io(format!("listing the cold run files: {e}")))?;
                out.extend(entry.file_name().to_str().and_then(parse_name));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::Io(format!("listing the cold run files: {e}"))),
    }
    out.sort_unstable();
    Ok(out)
}

/// Removes the run files in `dir` whose run `keep` rules out, then syncs
/// the directory if it lost one.
fn remove_run_files(dir: &Path, keep: impl Fn(u32) -> bool) -> Result<(), StoreError> {
    let mut any = false;
    for no in run_files(dir)? {
        if !keep(no) {
            std::fs::remove_file(dir.join(file_name(no)))
                .map_err(|e| StoreError::Io(format!("removing cold run file {no}: {e}")))?;
            any = true;
        }
    }
    if any {
        sync_dir(dir, "the cold directory")?;
    }
    Ok(())
}

/// Creates (or empties) the file of run `no`, for reading and appending.
fn create_run_file(dir: &Path, no: u32) -> Result<File, StoreError> {
    crate::store::files::create_dir(dir, "the cold directory")?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join(file_name(no)))
        .map_err(|e| StoreError::Io(format!("creating cold run file {no}: {e}")))
}

/// Removes every block key of a tree (blocks of format 6: an upgrade's
/// leftovers once it switched, or its copied blocks). Not flushed.
pub(crate) fn remove_tree_blocks(tree: &sled::Tree) -> Result<bool, StoreError> {
    let mut batch = sled::Batch::default();
    let mut any = false;
    for k in tree.scan_prefix([BLOCK]).keys() {
        batch.remove(k.map_err(sled_err)?);
        any = true;
    }
    if any {
        tree.apply_batch(batch).map_err(sled_err)?;
    }
    Ok(any)
}

/// A run's block ends as the tree keeps them: key and value.
pub(crate) type BlockEnds = (Vec<u8>, Vec<u8>);

/// The first half of the upgrade from store format 6 (blocks in the tree)
/// to 7: every run's blocks (as its meta names them) copied byte for byte
/// into its run file, each file synced and then the directory. Answers the
/// `E` (block ends) keys and values the switch must write with the format
/// byte in one atomic step; the tree is not changed. Whatever an earlier,
/// interrupted copy left in the directory is replaced.
pub(crate) fn copy_tree_blocks(tree: &sled::Tree, store_dir: &Path) -> Result<Vec<BlockEnds>, StoreError> {
    let dir = store_dir.join(DIR);
    remove_run_files(&dir, |_| false)?;
    let mut out = Vec::new();
    for r in tree.scan_prefix([META]) {
        let (k, v) = r.map_err(sled_err)?;
        let no = run_no(&k, "meta")?;
        let blocks = decode_meta(no, &v)?.first_keys.len();
        let mut file = create_run_file(&dir, no)?;
        let mut ends = Vec::with_capacity(blocks);
        let mut end = 0u64;
        for b in 0..blocks as u32 {
            let block = tree
                .get(block_key(no, b))
                .map_err(sled_err)?
                .ok_or_else(|| corrupt(format!("cold run {no} lacks block {b}")))?;
            file.write_all(&block).map_err(|e| StoreError::Io(format!("writing cold run file {no}: {e}")))?;
            end += block.len() as u64;
            ends.push(end);
        }
        file.sync_data().map_err(|e| StoreError::Io(format!("syncing cold run file {no}: {e}")))?;
        out.push((ends_key(no), encode_ends(&ends)));
    }
    if !out.is_empty() {
        sync_dir(&dir, "the cold directory")?;
    }
    Ok(out)
}

fn decode_head(v: &[u8], what: &str) -> Result<Head, StoreError> {
    let bad = || corrupt(format!("{what} is not 40 bytes"));
    let (seq, hash) = v.split_at_checked(8).ok_or_else(bad)?;
    let seq = <[u8; 8]>::try_from(seq).map(u64::from_be_bytes).map_err(|_| bad())?;
    let hash = <[u8; 32]>::try_from(hash).map_err(|_| bad())?;
    Ok(Head { seq, hash })
}

fn encode_head(at: Head) -> Vec<u8> {
    let mut w = Vec::with_capacity(40);
    w.extend_from_slice(&at.seq.to_be_bytes());
    w.extend_from_slice(&at.hash);
    w
}

/// The run number in a key `prefix` + run (u32 BE).
fn run_no(k: &[u8], what: &str) -> Result<u32, StoreError> {
    let no = k.get(1..5).filter(|_| k.len() == 5).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes);
    no.ok_or_else(|| corrupt(format!("a cold run {what} key is not 5 bytes")))
}

impl ColdRuns {
    /// Loads the runs' metas, block ends and positions from the tree (of a
    /// format-7 store, or a new one) of the store at `store_dir`, whose
    /// `cold` directory holds the run files. A run file no meta names (a
    /// run whose write stopped before its meta) is removed (block keys an
    /// upgrade left are `Store::open`'s to remove). A meta whose file is
    /// missing or shorter than its blocks is [`StoreError::Corrupt`].
    pub(crate) fn open(tree: sled::Tree, store_dir: &Path) -> Result<ColdRuns, StoreError> {
        let dir = store_dir.join(DIR);
        let mut list = Vec::new();
        for r in tree.scan_prefix([META]) {
            let (k, v) = r.map_err(sled_err)?;
            list.push(decode_meta(run_no(&k, "meta")?, &v)?);
        }
        for run in &mut list {
            let no = run.no;
            let v = tree.get(ends_key(no)).map_err(sled_err)?;
            let v = v.ok_or_else(|| corrupt(format!("cold run {no} has a meta but no block ends")))?;
            run.ends = decode_ends(no, run.first_keys.len(), &v)?;
        }
        for r in tree.scan_prefix([POSITION]) {
            let (k, v) = r.map_err(sled_err)?;
            let no = run_no(&k, "position")?;
            let at = decode_head(&v, "a cold run position")?.seq;
            let run = list.iter_mut().find(|r| r.no == no);
            run.ok_or_else(|| corrupt(format!("cold run {no} has a position but no meta")))?.at = Some(at);
        }
        // a run file no meta names is what is left of a run whose write
        // stopped before its meta (a crash or a failure between its parts
        // or after its sync): it counts for nothing; removed here
        remove_run_files(&dir, |no| list.binary_search_by_key(&no, |r| r.no).is_ok())?;
        let open_from = list.len().saturating_sub(COLD_RUN_FILES_OPEN_MAX);
        for (i, run) in list.iter_mut().enumerate() {
            let no = run.no;
            let path = dir.join(file_name(no));
            let what = || format!("cold run {no}'s file");
            let file = File::open(&path).map_err(|e| io_corrupt(what(), &e))?;
            let len = file.metadata().map_err(|e| io_corrupt(what(), &e))?.len();
            let need = run.ends.last().copied().unwrap_or(0);
            if len < need {
                return Err(corrupt(format!("cold run {no}'s file ends at byte {len}, before its blocks ({need})")));
            }
            if i >= open_from {
                run.file = Some(Arc::new(file));
            }
        }
        let watermark = read_watermark(&tree)?.map_or(0, |w| w.seq);
        let mut previous = 0;
        for run in &list {
            match run.at {
                Some(at) if at < previous || at > watermark => {
                    return Err(corrupt(format!("cold run {} names seq {at}, out of order", run.no)))
                }
                Some(at) => previous = at,
                None if previous > 0 => {
                    return Err(corrupt(format!("cold run {} has no position after runs that have", run.no)))
                }
                None => {}
            }
        }
        Ok(ColdRuns {
            tree,
            dir,
            runs: RwLock::new(Runs { list, watermark, staged: None, generation: 0 }),
            legacy_bound: watermark,
            failure: FirstFailure::default(),
            blocks: Mutex::new(BlockCache::default()),
            #[cfg(test)]
            fail_before_meta: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The watermark (`None`: no cold entries were ever written).
    pub(crate) fn watermark(&self) -> Result<Option<Head>, StoreError> {
        read_watermark(&self.tree)
    }

    /// A read-only view of the cold entries as they were at `seq`: only
    /// the runs written at or before it. `None` when that state cannot be
    /// told apart: the watermark is below `seq` (a run at `seq` may still
    /// be on its way, or was lost with a failed flush), or a run written
    /// by an older build (no recorded position) may lie after `seq`.
    pub fn view_at(self: &Arc<Self>, seq: u64) -> Option<ColdView> {
        let runs = self.runs.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if runs.watermark < seq {
            return None;
        }
        let mut last = None;
        for run in &runs.list {
            match run.at {
                Some(at) if at > seq => break,
                Some(_) => last = Some(run.no),
                None if self.legacy_bound <= seq => last = Some(run.no),
                None => return None,
            }
        }
        Some(ColdView { runs: self.clone(), last, generation: runs.generation, failure: FirstFailure::default() })
    }

    /// Stages the entries of a cold flush at seq `at` as the newest run,
    /// in memory: every live lookup and scan sees them (before any written
    /// run) until [`ColdRuns::write_run`] at the same seq replaces them with
    /// the run it wrote. One at a time: a second stage before the first is
    /// written is refused, as is one below the watermark.
    pub(crate) fn stage(&self, at: u64, entries: StagedEntries) -> Result<(), StoreError> {
        let mut runs = self.runs.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(staged) = &runs.staged {
            return Err(corrupt(format!("a cold flush at seq {at} while the one at seq {} is unwritten", staged.at)));
        }
        if at < runs.watermark {
            return Err(corrupt(format!("a cold run at seq {at} below the watermark {}", runs.watermark)));
        }
        runs.staged = Some(Staged { at, entries });
        Ok(())
    }

    /// Writes the entries of `staged` as a new run with the watermark at
    /// `at` (the caller flushes), then makes it visible, replacing the run
    /// staged at `at` if there is one (`staged` need not be staged: a
    /// flush under the state's lock writes it directly). The run is written
    /// in parts (see the module's doc); `between` runs after each part
    /// (its failure stops the write: the blocks written so far have no
    /// meta and count for nothing). The parts are built and written
    /// without holding the runs' lock (lookups go on, reading the staged
    /// run); writers are one at a time (the engine's flushes).
    pub(crate) fn write_run<E: From<StoreError>>(
        &self,
        at: Head,
        staged: &StagedRun,
        between: impl FnMut() -> Result<(), E>,
    ) -> Result<(), E> {
        self.write_run_in_parts(at, staged, COLD_FLUSH_PART_BLOCKS, between)
    }

    /// [`ColdRuns::write_run`] in parts of at most `part_blocks` blocks
    /// (a test writes a small run in several parts).
    fn write_run_in_parts<E: From<StoreError>>(
        &self,
        at: Head,
        staged: &StagedRun,
        part_blocks: usize,
        mut between: impl FnMut() -> Result<(), E>,
    ) -> Result<(), E> {
        let no = {
            let runs = self.runs.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            if at.seq < runs.watermark {
                return Err(
                    corrupt(format!("a cold run at seq {} below the watermark {}", at.seq, runs.watermark)).into()
                );
            }
            if runs.staged.as_ref().is_some_and(|s| s.at != at.seq) {
                return Err(corrupt(format!("a cold run at seq {} while another is staged", at.seq)).into());
            }
            runs.list.last().map_or(Ok(0), |r| r.no.checked_add(1).ok_or_else(|| corrupt("too many cold runs")))?
        };
        // the filter over the staged keys, when its writer built it
        // ([`StagedRun::index`]), is this run's filter already (same kind,
        // size and keys): then no key is hashed again
        let rehash = staged.1.get().is_none();
        let (groups, mut filter) = {
            let mut parts = staged.write();
            let filter = staged.1.get().cloned().unwrap_or_else(|| Filter::new(parts.taken.len()));
            parts.written = Some(Run {
                no,
                id: fresh_run_id(),
                first_keys: Vec::new(),
                ends: Vec::new(),
                file: None,
                filter: filter.clone(),
                at: Some(at.seq),
            });
            (parts.taken.groups().map_err(not_encoded)?, filter)
        };
        // `filter` is the run's filter as the writer builds it (no lock
        // held); the staged run's copy gets it whenever a group is written
        let mut blocks = Blocks::new(part_blocks);
        // the run's file, created with its first part (none for a run of
        // no block)
        let mut file: Option<Arc<File>> = None;
        for group in groups {
            // the group's entries, shared: read with no lock held (taken
            // entries never change), each value beside its key
            let taken = staged.read().taken.group(group);
            let sorted = taken.sorted();
            // the first keys and ends of the group's blocks written so far
            let mut first_keys = Vec::new();
            let mut ends = Vec::new();
            let mut pushed = 0;
            while pushed < sorted.len() {
                while blocks.first_keys.len() < part_blocks && pushed < sorted.len() {
                    let key = |out: &mut Vec<u8>| sorted.append_key(pushed, out);
                    let Some(key) = blocks.push_with(key, |out| sorted.encode_value(pushed, out))? else {
                        return Err(corrupt("a staged cold entry left before it was written").into());
                    };
                    if rehash {
                        filter.insert(key_hashes(NEW_RUN_FILTER_HASH, key));
                    }
                    pushed += 1;
                }
                let done = pushed == sorted.len();
                if done {
                    // a group ends its block
                    blocks.end_block();
                }
                // one append a part, not synced (the file is synced once,
                // before its meta)
                let part = blocks.take_part(|bytes| {
                    let f = match &file {
                        Some(f) => f,
                        None => file.insert(Arc::new(create_run_file(&self.dir, no)?)),
                    };
                    (&**f).write_all(bytes).map_err(|e| StoreError::Io(format!("writing cold run file {no}: {e}")))
                })?;
                first_keys.extend(part.first_keys);
                ends.extend(part.ends);
                if done {
                    // every entry of the group is in a written block: the
                    // blocks join the staged run's written part and the
                    // group leaves `taken` in one step (its memory goes
                    // with `taken`, off the lock)
                    let mut parts = staged.write();
                    let run = parts.written.as_mut().ok_or_else(|| corrupt("a staged cold run lost its blocks"))?;
                    run.first_keys.append(&mut first_keys);
                    run.ends.append(&mut ends);
                    if run.file.is_none() {
                        run.file.clone_from(&file);
                    }
                    if rehash {
                        run.filter.bits.clone_from(&filter.bits);
                    }
                    drop(parts.taken.remove_group(group));
                }
                between()?;
            }
        }
        // the file whole on disk, and its name, before the meta that names it
        if let Some(f) = &file {
            f.sync_data().map_err(|e| StoreError::Io(format!("syncing cold run file {no}: {e}")))?;
            sync_dir(&self.dir, "the cold directory")?;
        }
        #[cfg(test)]
        if self.fail_before_meta.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Io("injected failure between a run file's sync and its meta".into()).into());
        }
        let mut batch = sled::Batch::default();
        if blocks.count > 0 {
            let parts = staged.read();
            let run = parts.written.as_ref().ok_or_else(|| corrupt("a staged cold run lost its blocks"))?;
            batch.insert(meta_key(no), encode_meta(run));
            batch.insert(ends_key(no), encode_ends(&run.ends));
            batch.insert(position_key(no), encode_head(at));
        }
        batch.insert(WATERMARK, encode_head(at));
        self.tree.apply_batch(batch).map_err(sled_err)?;
        let mut runs = self.runs.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if runs.list.last().map_or(0, |r| r.no + 1) != no {
            return Err(corrupt(format!("cold run {no} was written by two writers at once")).into());
        }
        let run = staged.write().written.take().ok_or_else(|| corrupt("a staged cold run lost its blocks"))?;
        if blocks.count > 0 {
            runs.list.push(run);
            // only the newest runs keep their file open
            if let Some(old) = runs.list.len().checked_sub(COLD_RUN_FILES_OPEN_MAX + 1) {
                if let Some(r) = runs.list.get_mut(old) {
                    r.file = None;
                }
            }
        }
        runs.watermark = at.seq;
        if runs.staged.as_ref().is_some_and(|s| s.at == at.seq) {
            runs.staged = None;
        }
        Ok(())
    }

    /// Removes every run and the watermark from the tree (the caller
    /// flushes, then removes the run files: [`ColdRuns::remove_files`]; a
    /// crash between the two leaves files no meta names, removed at open,
    /// while the reverse order could leave a meta without its file).
    pub(crate) fn clear(&self) -> Result<(), StoreError> {
        let mut runs = self.runs.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.tree.clear().map_err(sled_err)?;
        runs.list.clear();
        runs.staged = None;
        runs.watermark = 0;
        runs.generation += 1;
        Ok(())
    }

    /// Removes every run file no run in memory names (after a
    /// [`ColdRuns::clear`] made durable: all of them), then syncs the
    /// directory.
    pub(crate) fn remove_files(&self) -> Result<(), StoreError> {
        let runs = self.runs.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        remove_run_files(&self.dir, |no| runs.list.binary_search_by_key(&no, |r| r.no).is_ok())
    }

    /// Block `b` of `run`: one read of its file at the block's offset. A
    /// missing file or one that ends inside the block is `Corrupt`.
    fn block(&self, run: &Run, b: u32) -> Result<Vec<u8>, StoreError> {
        let no = run.no;
        let end = run.ends.get(b as usize).copied();
        let end = end.ok_or_else(|| corrupt(format!("cold run {no} lacks block {b}")))?;
        let start = run.block_start(b);
        let len = usize::try_from(end.saturating_sub(start)).map_err(|_| corrupt("a cold block over memory"))?;
        let mut bytes = vec![0; len];
        let what = || format!("cold run {no}, block {b}");
        match &run.file {
            Some(f) => f.read_exact_at(&mut bytes, start),
            None => File::open(self.dir.join(file_name(no))).and_then(|f| f.read_exact_at(&mut bytes, start)),
        }
        .map_err(|e| io_corrupt(what(), &e))?;
        Ok(bytes)
    }

    /// The newest value of `key` in the runs `upto` admits.
    fn lookup(&self, key: &[u8], upto: Upto) -> Result<Option<Vec<u8>>, StoreError> {
        let runs = self.runs.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        upto.check(&runs)?;
        let mut hashes = LazyHashes::new(key);
        // the staged run is the newest: its filter (once built) rules out
        // a new key before its lock is taken
        let staged = runs.staged.as_ref().filter(|_| matches!(upto, Upto::All));
        if let Some(staged) = staged.filter(|s| s.entries.may_hold(&mut hashes)) {
            let parts = staged.entries.read();
            if let Some(v) = parts.taken.get(key).map_err(not_encoded)? {
                return Ok(Some(v));
            }
            if let Some(v) = parts.written.as_ref().map(|run| self.find(run, key, &mut hashes)).transpose()?.flatten() {
                return Ok(Some(v));
            }
        }
        for run in runs.list.iter().rev() {
            if !upto.includes(run.no) {
                continue;
            }
            if let Some(v) = self.find(run, key, &mut hashes)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// The value of `key` (its filter hashes computed as `run` needs them) in `run`.
    fn find(&self, run: &Run, key: &[u8], hashes: &mut LazyHashes<'_>) -> Result<Option<Vec<u8>>, StoreError> {
        if !run.filter.may_contain(hashes.of(run.filter.hash)) {
            return Ok(None);
        }
        let i = run.first_keys.partition_point(|f| f.as_slice() <= key);
        let Some(b) = i.checked_sub(1) else { return Ok(None) };
        let body = self.cached_body(run, b as u32)?;
        Ok(body_value(&body, key).map_err(in_block(run.no, b))?.map(<[u8]>::to_vec))
    }

    /// The body of block `b` of `run` ([`block_body`], its crc checked):
    /// from the block cache, or read from the file, checked and cached.
    fn cached_body(&self, run: &Run, b: u32) -> Result<Arc<[u8]>, StoreError> {
        if let Some(body) = lock(&self.blocks).get((run.id, b)) {
            return Ok(body);
        }
        let bytes = self.block(run, b)?;
        let body: Arc<[u8]> = block_body(&bytes).map_err(in_block(run.no, b as usize))?.into();
        lock(&self.blocks).insert((run.id, b), body.clone());
        Ok(body)
    }

    /// Every entry whose key starts with `prefix` (`&[]`: all), newest
    /// version of each, in key order.
    pub(crate) fn collect(&self, prefix: &[u8]) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StoreError> {
        self.collect_upto(prefix, Upto::All)
    }

    fn collect_upto(&self, prefix: &[u8], upto: Upto) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StoreError> {
        let runs = self.runs.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        upto.check(&runs)?;
        let mut out = BTreeMap::new();
        // oldest first: a newer run's value replaces an older one's
        for run in runs.list.iter().filter(|r| upto.includes(r.no)) {
            self.collect_run(run, prefix, &mut out)?;
        }
        // the staged run is the newest: its written blocks, then its typed rest
        if let (Upto::All, Some(staged)) = (upto, &runs.staged) {
            let parts = staged.entries.read();
            if let Some(run) = &parts.written {
                self.collect_run(run, prefix, &mut out)?;
            }
            out.extend(parts.taken.scan(prefix).map_err(not_encoded)?);
        }
        Ok(out)
    }

    /// Adds every entry of `run` whose key starts with `prefix` to `out`.
    fn collect_run(&self, run: &Run, prefix: &[u8], out: &mut BTreeMap<Vec<u8>, Vec<u8>>) -> Result<(), StoreError> {
        let from = run.first_keys.partition_point(|f| f.as_slice() <= prefix).saturating_sub(1);
        for b in from..run.first_keys.len() {
            if run.first_keys.get(b).is_some_and(|f| f.as_slice() > prefix && !f.starts_with(prefix)) {
                break;
            }
            let bytes = self.block(run, b as u32)?;
            for (k, v) in decode_block(&bytes).map_err(in_block(run.no, b))? {
                if k.starts_with(prefix) {
                    out.insert(k.to_vec(), v.to_vec());
                }
            }
        }
        Ok(())
    }

    /// The bytes of every run file (the blocks of whole runs or not).
    pub(crate) fn file_bytes(&self) -> Result<u64, StoreError> {
        let mut bytes = 0;
        for no in run_files(&self.dir)? {
            let len = std::fs::metadata(self.dir.join(file_name(no))).map(|m| m.len());
            bytes += len.map_err(|e| StoreError::Io(format!("cold run file {no}: {e}")))?;
        }
        Ok(bytes)
    }

    /// Test hook: [`ColdRuns::file_bytes`] and how many run metas the tree
    /// holds.
    pub(crate) fn debug_keys(&self) -> Result<(u64, usize), StoreError> {
        let metas = self.tree.scan_prefix([META]).try_fold(0, |n, r| r.map(|_| n + 1));
        Ok((self.file_bytes()?, metas.map_err(sled_err)?))
    }

    /// Test hook: the cold tree as store format 6 kept it (every run's
    /// blocks as `B` keys, no block ends), the run files removed. Not
    /// flushed; the handle reads no run after it.
    pub(crate) fn debug_blocks_into_tree(&self) -> Result<(), StoreError> {
        let mut runs = self.runs.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut batch = sled::Batch::default();
        for run in &runs.list {
            for b in 0..run.ends.len() as u32 {
                batch.insert(block_key(run.no, b), self.block(run, b)?);
            }
            batch.remove(ends_key(run.no));
        }
        self.tree.apply_batch(batch).map_err(sled_err)?;
        runs.list.clear();
        drop(runs);
        remove_run_files(&self.dir, |_| false)
    }

    /// Test hook: flips bits in the block of the newest run that holds
    /// `key`, just after the key's bytes (inside its entry).
    pub(crate) fn debug_corrupt(&self, key: &[u8], xor: u8) -> Result<(), StoreError> {
        let runs = self.runs.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        for run in runs.list.iter().rev() {
            let i = run.first_keys.partition_point(|f| f.as_slice() <= key);
            let Some(b) = i.checked_sub(1) else { continue };
            let mut bytes = self.block(run, b as u32)?;
            let Some(at) = bytes.windows(key.len()).position(|w| w == key) else { continue };
            let at = at + key.len() + 4;
            let Some(x) = bytes.get_mut(at) else { continue };
            let flipped = [*x ^ xor];
            let start = run.block_start(b as u32);
            let file = OpenOptions::new().write(true).open(self.dir.join(file_name(run.no)));
            file.and_then(|f| f.write_all_at(&flipped, start + at as u64).and_then(|()| f.sync_data()))
                .map_err(|e| StoreError::Io(format!("damaging cold run file {}: {e}", run.no)))?;
            // the damage is what the next lookup reads (as after a reopen)
            lock(&self.blocks).blocks.clear();
            return Ok(());
        }
        Err(corrupt("no such cold entry"))
    }
}

/// Names run `no`'s block `b` in a failure found in its bytes.
fn in_block(no: u32, b: usize) -> impl Fn(StoreError) -> StoreError {
    move |e| match e {
        StoreError::Corrupt { seq, reason } => {
            StoreError::Corrupt { seq, reason: format!("cold run {no}, block {b}: {reason}") }
        }
        other => other,
    }
}

fn encode_meta(run: &Run) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(run.first_keys.len() as u32).to_be_bytes());
    for k in &run.first_keys {
        put(&mut out, k);
    }
    let flag = match run.filter.hash {
        FilterHash::Blake3 => 0,
        FilterHash::Sip13 => SIP13_FILTER_FLAG,
        FilterHash::Mum => MUM_FILTER_FLAG,
    };
    out.extend_from_slice(&(run.filter.bits.len() as u32 | flag).to_be_bytes());
    for w in &run.filter.bits {
        out.extend_from_slice(&w.to_be_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn decode_meta(no: u32, bytes: &[u8]) -> Result<Run, StoreError> {
    let (body, crc) =
        bytes.split_at_checked(bytes.len().saturating_sub(4)).ok_or_else(|| corrupt("a short cold run meta"))?;
    let crc = <[u8; 4]>::try_from(crc).map(u32::from_be_bytes).map_err(|_| corrupt("a short cold run meta"))?;
    if crc32fast::hash(body) != crc {
        return Err(corrupt(format!("cold run {no}'s meta fails its checksum")));
    }
    let u32_at = |at: usize| -> Result<u32, StoreError> {
        body.get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| corrupt("a cold run meta ends early"))
    };
    let n = u32_at(0)? as usize;
    let mut at = 4;
    let mut first_keys = Vec::with_capacity(n.min(body.len()));
    for _ in 0..n {
        first_keys.push(take(body, &mut at)?.to_vec());
    }
    let count = u32_at(at)?;
    let hash = match (count & SIP13_FILTER_FLAG != 0, count & MUM_FILTER_FLAG != 0) {
        (false, false) => FilterHash::Blake3,
        (true, false) => FilterHash::Sip13,
        (false, true) => FilterHash::Mum,
        (true, true) => return Err(corrupt(format!("cold run {no}'s filter names two hashes"))),
    };
    let words = (count & !(SIP13_FILTER_FLAG | MUM_FILTER_FLAG)) as usize;
    at += 4;
    let bits_bytes = body.get(at..).ok_or_else(|| corrupt("a cold run meta ends early"))?;
    if bits_bytes.len() != words * 8 || words == 0 || !words.is_multiple_of(BLOCK_WORDS) {
        return Err(corrupt("a cold run meta's filter has the wrong length"));
    }
    let bits = bits_bytes.chunks_exact(8).map(|c| <[u8; 8]>::try_from(c).map_or(0, u64::from_be_bytes)).collect();
    Ok(Run {
        no,
        id: fresh_run_id(),
        first_keys,
        ends: Vec::new(),
        file: None,
        filter: Filter { bits, hash },
        at: None,
    })
}

fn read_watermark(tree: &sled::Tree) -> Result<Option<Head>, StoreError> {
    let Some(v) = tree.get(WATERMARK).map_err(sled_err)? else { return Ok(None) };
    decode_head(&v, "the cold watermark").map(Some)
}

/// Which runs a read looks at.
#[derive(Clone, Copy)]
enum Upto {
    /// Every run (the live state).
    All,
    /// The runs numbered up to this one (`None`: no run) of a generation.
    Run(Option<u32>, u64),
}

impl Upto {
    fn includes(self, no: u32) -> bool {
        match self {
            Upto::All => true,
            Upto::Run(last, _) => last.is_some_and(|l| no <= l),
        }
    }

    /// A view's runs must still be there: not cleared since it was made.
    fn check(self, runs: &Runs) -> Result<(), StoreError> {
        match self {
            Upto::Run(_, generation) if generation != runs.generation => {
                Err(corrupt("the cold runs were cleared after this as-of view was made"))
            }
            _ => Ok(()),
        }
    }
}

/// A read-only view of a store's cold entries as they were at a past seq
/// ([`ColdRuns::view_at`]): the runs written at or before it. It has no way
/// to write: a ledger reading through it (an as-of state) keeps whatever
/// it changes in memory. Its read failures are its own (they fail the
/// as-of read, never the live engine).
pub struct ColdView {
    runs: Arc<ColdRuns>,
    last: Option<u32>,
    generation: u64,
    failure: FirstFailure,
}

impl ColdView {
    fn upto(&self) -> Upto {
        Upto::Run(self.last, self.generation)
    }
}

impl ColdStore for ColdView {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.failure.or_record("cold read", self.runs.lookup(key, self.upto()), None)
    }

    fn scan(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.failure
            .or_record("cold scan", self.runs.collect_upto(prefix, self.upto()), BTreeMap::new())
            .into_iter()
            .collect()
    }

    fn fail(&self, what: String) {
        self.failure.record(what);
    }

    fn failure(&self) -> Option<String> {
        self.failure.get()
    }
}

impl ColdStore for ColdRuns {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.failure.or_record("cold read", self.lookup(key, Upto::All), None)
    }

    fn scan(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.failure.or_record("cold scan", self.collect(prefix), BTreeMap::new()).into_iter().collect()
    }

    fn fail(&self, what: String) {
        self.failure.record(what);
    }

    fn failure(&self) -> Option<String> {
        self.failure.get()
    }
}

/// The first failure a cold reader met ([`ColdStore::failure`]); later ones
/// are not kept.
#[derive(Default)]
struct FirstFailure(Mutex<Option<String>>);

impl FirstFailure {
    fn record(&self, what: String) {
        let mut f = lock(&self.0);
        if f.is_none() {
            *f = Some(what);
        }
    }

    fn get(&self) -> Option<String> {
        lock(&self.0).clone()
    }

    /// A read's value; a failed read is recorded (`what: error`) and
    /// answers `otherwise` (the caller's decision then fails as a whole).
    fn or_record<T>(&self, what: &str, read: Result<T, StoreError>, otherwise: T) -> T {
        read.unwrap_or_else(|e| {
            self.record(format!("{what}: {e}"));
            otherwise
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize, tag: &str) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("T\u{1}{tag}_{i:08}").into_bytes()).collect()
    }

    /// [`FilterHash::Mum`] of the empty key and of `keys(1, "in")[0]`.
    const MUM_EMPTY: (u64, u64) = (0x1669_c735_2ae0_2b40, 0x765b_5b47_8275_3fcc);
    const MUM_OF_FIRST_KEY: (u64, u64) = (0x9a33_5f30_d1fe_0a13, 0x6ec7_adb2_b163_7d4e);

    /// [`mum_hashes`] as `docs/format.md` defines it, every word zero-padded by a copy.
    fn plain_mum(key: &[u8]) -> (u64, u64) {
        let [k0, k1, k2, k3] = MUM_KEYS;
        let w = |b: &[u8]| {
            let mut x = [0u8; 8];
            x[..b.len()].copy_from_slice(b);
            u64::from_le_bytes(x)
        };
        let mut h = mum(key.len() as u64 ^ k0, k1);
        let mut chunks = key.chunks_exact(16);
        for c in &mut chunks {
            h = mum(w(&c[..8]) ^ k0 ^ h, w(&c[8..]) ^ k1);
        }
        let r = chunks.remainder();
        let (x, y) = r.split_at(r.len().min(8));
        h = mum(w(x) ^ k2 ^ h, w(y) ^ k3);
        (mum(h ^ k0, k2), mum(h ^ k1, k3))
    }

    /// A filter of `hash`'s kind over `ks`, as a run of that kind was written.
    fn filter_of(hash: FilterHash, ks: &[Vec<u8>]) -> Filter {
        let mut f = Filter::new(ks.len());
        f.hash = hash;
        for k in ks {
            f.insert(key_hashes(hash, k));
        }
        f
    }

    /// New runs are written with the multiply-fold filter, an old (blake3
    /// or SipHash) run's filter still finds every key it was built with,
    /// and every kind rules out most keys it was not (about 1 % pass).
    #[test]
    fn every_filter_kind_finds_its_keys_and_new_runs_use_mum() {
        assert_eq!(Filter::new(10).hash, FilterHash::Mum);
        let present = keys(5000, "in");
        let absent = keys(5000, "out");
        for hash in [FilterHash::Blake3, FilterHash::Sip13, FilterHash::Mum] {
            let f = filter_of(hash, &present);
            for k in &present {
                assert!(f.may_contain(LazyHashes::new(k).of(hash)), "{hash:?} lost a key");
            }
            let passed = absent.iter().filter(|k| f.may_contain(LazyHashes::new(k).of(hash))).count();
            assert!(passed < absent.len() / 20, "{hash:?}: {passed} of {} absent keys passed", absent.len());
        }
        // the kinds hash differently: a run must be probed with its own
        let k = &present[0];
        assert_ne!(key_hashes(FilterHash::Blake3, k), key_hashes(FilterHash::Sip13, k));
        assert_ne!(key_hashes(FilterHash::Sip13, k), key_hashes(FilterHash::Mum, k));
        // the multiply-fold hash is part of the run format: pinned
        assert_eq!(key_hashes(FilterHash::Mum, b""), MUM_EMPTY);
        assert_eq!(key_hashes(FilterHash::Mum, k), MUM_OF_FIRST_KEY);
        // every byte and the length count, at each place of a chunk; and
        // at every length it is its plain definition (format.md)
        let long = keys(1, "a_key_over_two_chunks_long")[0].clone();
        let mut seen = std::collections::HashSet::new();
        for n in 0..=long.len() {
            assert_eq!(key_hashes(FilterHash::Mum, &long[..n]), plain_mum(&long[..n]), "prefix {n}");
            assert!(seen.insert(key_hashes(FilterHash::Mum, &long[..n])), "prefix {n}");
            for i in 0..n {
                let mut flipped = long[..n].to_vec();
                flipped[i] ^= 1;
                assert!(seen.insert(key_hashes(FilterHash::Mum, &flipped)), "prefix {n}, byte {i}");
            }
        }
    }

    /// The cold entries of a generated workload, taken typed: every kind
    /// (tokens of several kinds, orders, unloads, closed journal entries).
    /// A cold store (in a temporary directory and sled database) with one
    /// run written, of [`taken_of_a_workload`]'s entries: (directory,
    /// database, its `cold` tree, the runs, the run's entries).
    #[allow(clippy::type_complexity)]
    fn one_run_of_a_workload() -> (tempfile::TempDir, sled::Db, sled::Tree, ColdRuns, BTreeMap<Vec<u8>, Vec<u8>>) {
        let taken = taken_of_a_workload();
        let entries = taken.entries().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("cold").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let runs = ColdRuns::open(tree.clone(), dir.path()).unwrap();
        runs.write_run(Head { seq: 10, hash: [1; 32] }, &StagedRun::new(taken), || Ok::<(), StoreError>(())).unwrap();
        (dir, db, tree, runs, entries)
    }

    fn taken_of_a_workload() -> TakenCold {
        use crate::engine::{Engine, OpenOptions};
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open_with(dir.path(), OpenOptions { cold_flush_events: 1 << 40 }).unwrap();
        let config = cardledger_workload::WorkloadConfig {
            seed: 11,
            days: 60,
            holders: 40,
            credit_accounts: 4,
            ..cardledger_workload::WorkloadConfig::default()
        };
        crate::engine::submit_workload(&engine, &config, 1000);
        let mut ledger = engine.state_as_of(engine.head_seq()).unwrap();
        // an empty cold store (a ledger must have one to be taken from)
        let db = sled::Config::new().temporary(true).open().unwrap();
        ledger.attach_cold(Arc::new(ColdRuns::open(db.open_tree("empty").unwrap(), dir.path()).unwrap()));
        ledger.take_cold()
    }

    /// Every key and value of a tree, in key order.
    fn contents(tree: &sled::Tree) -> Vec<(Vec<u8>, Vec<u8>)> {
        tree.iter().map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect()
    }

    /// Every run file of the store at `dir`: its name and bytes.
    fn run_file_contents(dir: &Path) -> Vec<(u32, Vec<u8>)> {
        let dir = dir.join(DIR);
        run_files(&dir).unwrap().into_iter().map(|no| (no, std::fs::read(dir.join(file_name(no))).unwrap())).collect()
    }

    /// Takes the ended blocks of `blocks` as a part, their bytes appended to `bytes`.
    fn take_part_into(blocks: &mut Blocks, bytes: &mut Vec<u8>) -> Part {
        blocks
            .take_part(|b| {
                bytes.extend_from_slice(b);
                Ok::<(), StoreError>(())
            })
            .unwrap()
    }

    /// Blocks built in place are the same bytes, ends and first keys
    /// whenever their parts are taken, a block being filled carried over
    /// to the next part too; a key not above the last one is refused,
    /// across a part taken as within one.
    #[test]
    fn blocks_taken_in_parts_mid_block_are_the_blocks_taken_whole() {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..3000u32)
            .map(|i| (format!("key_{i:08}").into_bytes(), vec![u8::try_from(i % 251).unwrap(); (i % 97) as usize]))
            .collect();
        let mut whole = Blocks::new(0);
        for (k, v) in &entries {
            whole.push(k, v).unwrap();
        }
        whole.end_block();
        let mut want = Vec::new();
        let want_part = take_part_into(&mut whole, &mut want);
        assert!(want_part.ends.len() > 10, "{} blocks", want_part.ends.len());
        let mut parts = Blocks::new(2);
        let (mut got, mut ends, mut first_keys) = (Vec::new(), Vec::new(), Vec::new());
        let mut mid_block = 0;
        for (i, (k, v)) in entries.iter().enumerate() {
            parts.push(k, v).unwrap();
            if i % 7 == 3 {
                mid_block += usize::from(parts.pending > 0);
                let part = take_part_into(&mut parts, &mut got);
                ends.extend(part.ends);
                first_keys.extend(part.first_keys);
                // the last key is kept whichever part holds it
                assert!(parts.push(k, v).is_err(), "a repeated key after a part taken is refused");
            }
        }
        parts.end_block();
        let part = take_part_into(&mut parts, &mut got);
        ends.extend(part.ends);
        first_keys.extend(part.first_keys);
        assert!(mid_block > 100, "parts taken mid-block: {mid_block}");
        assert!(got == want, "the same bytes");
        assert_eq!(ends, want_part.ends);
        assert_eq!(first_keys, want_part.first_keys);
    }

    /// A run written from the typed entries ([`ColdRuns::write_run`]: keys
    /// built from the sorted tokens, values encoded straight into the
    /// block, written in parts) is on disk byte for byte the run of its
    /// encoded entries ([`TakenCold::entries`]) packed in key order, a
    /// group ending its block: every block, the meta (first keys, filter),
    /// the position and the watermark — over every entry kind, across
    /// several parts.
    #[test]
    fn a_run_written_typed_is_the_run_of_its_encoded_entries() {
        let taken = taken_of_a_workload();
        let entries = taken.entries().unwrap();
        let prefixes: std::collections::BTreeSet<u8> = entries.keys().map(|k| k[0]).collect();
        assert_eq!(prefixes.len(), 5, "every kind of entry: {prefixes:?}");
        let at = Head { seq: 1234, hash: [7; 32] };
        // the encoded entries, pushed as bytes group by group
        let db = sled::Config::new().temporary(true).open().unwrap();
        let want = db.open_tree("want").unwrap();
        let mut blocks = Blocks::new(0);
        let mut filter = Filter::new(taken.len());
        for g in taken.groups().unwrap() {
            let prefix = g.prefix();
            for (k, v) in entries.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)) {
                blocks.push(k, v).unwrap();
                filter.insert(key_hashes(NEW_RUN_FILTER_HASH, k));
            }
            blocks.end_block();
        }
        // parts of this many blocks: the run is written in several
        let part_blocks = 32;
        assert!(blocks.count as usize > 2 * part_blocks, "several parts: {} blocks", blocks.count);
        let mut bytes = Vec::new();
        let part = blocks
            .take_part(|b| {
                bytes.extend_from_slice(b);
                Ok::<(), StoreError>(())
            })
            .unwrap();
        let run = Run {
            no: 0,
            id: fresh_run_id(),
            first_keys: part.first_keys,
            ends: part.ends,
            file: None,
            filter,
            at: Some(at.seq),
        };
        want.insert(meta_key(0), encode_meta(&run)).unwrap();
        want.insert(ends_key(0), encode_ends(&run.ends)).unwrap();
        want.insert(position_key(0), encode_head(at)).unwrap();
        want.insert(WATERMARK, encode_head(at)).unwrap();
        // the run as a flush writes it
        let got = db.open_tree("got").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let runs = ColdRuns::open(got.clone(), dir.path()).unwrap();
        let staged = StagedRun::new(taken);
        let mut parts = 0;
        runs.write_run_in_parts(at, &staged, part_blocks, || {
            parts += 1;
            Ok::<(), StoreError>(())
        })
        .unwrap();
        assert!(parts > 2, "{parts} parts");
        assert!(staged.read().taken.is_empty(), "every entry left memory");
        let (want, got) = (contents(&want), contents(&got));
        assert_eq!(want.len(), got.len());
        for (w, g) in want.iter().zip(&got) {
            assert!(w == g, "the value at {:?} differs", w.0);
        }
        // the blocks, back to back in the run's file
        let files = run_file_contents(dir.path());
        assert_eq!(files.len(), 1);
        assert!(files[0] == (0, bytes), "the run file holds the blocks byte for byte");
    }

    /// Every key of a staged run is found, with its value, wherever a
    /// lookup meets it: staged (before and after its writer builds the
    /// filter over the staged keys, which then answers for the lock),
    /// between the parts of its write (on disk in part, typed in part),
    /// written, and after a reopen; a key never staged is found nowhere.
    /// The staged filter is built from exactly the run's keys.
    #[test]
    fn every_staged_key_is_found_staged_between_parts_written_and_reopened() {
        let taken = taken_of_a_workload();
        let entries = taken.entries().unwrap();
        let mut named = std::collections::BTreeSet::new();
        taken
            .for_each_key(|k| {
                named.insert(k.to_vec());
            })
            .unwrap();
        assert!(named.iter().eq(entries.keys()), "for_each_key names every key once");
        let check = |runs: &ColdRuns, what: &str| {
            for (k, v) in &entries {
                assert_eq!(runs.lookup(k, Upto::All).unwrap().as_ref(), Some(v), "{what}: {k:?}");
                let mut absent = k.clone();
                absent.push(b'~');
                assert_eq!(runs.lookup(&absent, Upto::All).unwrap(), None, "{what}: {absent:?}");
            }
        };
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("cold").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let runs = ColdRuns::open(tree.clone(), dir.path()).unwrap();
        let at = Head { seq: 99, hash: [3; 32] };
        let staged = Arc::new(StagedRun::new(taken));
        runs.stage(at.seq, staged.clone()).unwrap();
        check(&runs, "staged, no filter yet");
        staged.index().unwrap();
        assert!(staged.1.get().is_some(), "the filter is built before the write starts");
        check(&runs, "staged, filtered");
        let mut parts = 0;
        runs.write_run(at, &staged, || {
            parts += 1;
            check(&runs, "between parts");
            Ok::<(), StoreError>(())
        })
        .unwrap();
        assert!(parts > 2, "{parts} parts");
        check(&runs, "written");
        check(&ColdRuns::open(tree.clone(), dir.path()).unwrap(), "reopened");
        // the run (its filter taken from the staged one) is on disk byte
        // for byte the run written without one (each key hashed as written)
        let plain = db.open_tree("plain").unwrap();
        let plain_dir = tempfile::tempdir().unwrap();
        ColdRuns::open(plain.clone(), plain_dir.path())
            .unwrap()
            .write_run(at, &StagedRun::new(taken_of_a_workload()), || Ok::<(), StoreError>(()))
            .unwrap();
        assert!(contents(&tree) == contents(&plain), "the same run either way");
        assert!(run_file_contents(dir.path()) == run_file_contents(plain_dir.path()), "the same run file either way");
    }

    /// A run file synced but without its meta (a crash between the two, as
    /// the injected failure leaves it) counts for nothing and is removed at
    /// the next open; the runs before it and the watermark are untouched.
    #[test]
    fn a_run_file_synced_without_its_meta_is_removed_at_open() {
        let (dir, _db, tree, runs, entries) = one_run_of_a_workload();
        let ok = || Ok::<(), StoreError>(());
        let before = run_file_contents(dir.path());
        let metas = contents(&tree);
        runs.fail_before_meta.store(true, std::sync::atomic::Ordering::SeqCst);
        let failed = runs.write_run(Head { seq: 20, hash: [2; 32] }, &StagedRun::new(taken_of_a_workload()), ok);
        assert!(matches!(failed, Err(StoreError::Io(ref e)) if e.contains("injected")), "{failed:?}");
        // the second run's file is whole on disk (the same entries: the
        // same bytes), its meta is not
        let after = run_file_contents(dir.path());
        assert_eq!(after.len(), 2);
        assert!(after[1].1 == before[0].1, "the run file was written whole");
        assert!(contents(&tree) == metas, "no meta, block ends or position of the second run");
        drop(runs);
        let runs = ColdRuns::open(tree.clone(), dir.path()).unwrap();
        assert!(run_file_contents(dir.path()) == before, "the file without its meta is removed");
        assert_eq!(runs.watermark().unwrap(), Some(Head { seq: 10, hash: [1; 32] }));
        for (k, v) in &entries {
            assert_eq!(runs.lookup(k, Upto::All).unwrap().as_ref(), Some(v));
        }
    }

    /// A run file cut short or missing is `Corrupt` naming the run: at
    /// open, and at a read (of the block it no longer holds) when it is
    /// cut after the open.
    #[test]
    fn a_run_file_missing_or_cut_is_corrupt() {
        let (dir, _db, tree, runs, entries) = one_run_of_a_workload();
        let (last, _) = entries.last_key_value().unwrap();
        let path = dir.path().join(DIR).join(file_name(0));
        let whole = std::fs::read(&path).unwrap();
        let is_corrupt = |r: Result<_, StoreError>, what: &str| match r {
            Err(StoreError::Corrupt { reason, .. }) => assert!(reason.contains("cold run 0"), "{what}: {reason}"),
            Err(other) => panic!("{what}: {other:?}"),
            Ok(_) => panic!("{what}: no error"),
        };
        // cut while open: the read of the last block fails, naming it
        let cut =
            |len: usize| std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len as u64).unwrap();
        cut(whole.len() - 1);
        let blocks = runs.runs.read().unwrap().list[0].ends.len();
        match runs.lookup(last, Upto::All) {
            Err(StoreError::Corrupt { reason, .. }) => {
                assert!(reason.contains(&format!("cold run 0, block {}", blocks - 1)), "{reason}")
            }
            other => panic!("a read of a cut block: {other:?}"),
        }
        drop(runs);
        is_corrupt(ColdRuns::open(tree.clone(), dir.path()).map(drop), "cut");
        std::fs::remove_file(&path).unwrap();
        is_corrupt(ColdRuns::open(tree.clone(), dir.path()).map(drop), "missing");
        // whole again: it opens and reads
        std::fs::write(&path, &whole).unwrap();
        let runs = ColdRuns::open(tree.clone(), dir.path()).unwrap();
        assert_eq!(runs.lookup(last, Upto::All).unwrap().as_ref(), entries.get(last));
    }

    /// A point lookup's block is read and checked once and then served
    /// from the block cache: with the run file overwritten by zeros, a key
    /// of a cached block is still found, and one of a block never read is
    /// `Corrupt` (its crc checked, nothing cached of it).
    #[test]
    fn a_looked_up_block_is_read_once_and_kept_checked() {
        let (dir, _db, _tree, runs, entries) = one_run_of_a_workload();
        let (first, first_value) = entries.first_key_value().unwrap();
        let (last, _) = entries.last_key_value().unwrap();
        assert!(runs.runs.read().unwrap().list[0].ends.len() > 1, "the first and last keys lie in two blocks");
        assert_eq!(runs.lookup(first, Upto::All).unwrap().as_ref(), Some(first_value));
        let path = dir.path().join(DIR).join(file_name(0));
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().write_all_at(&vec![0; len], 0).unwrap();
        assert_eq!(runs.lookup(first, Upto::All).unwrap().as_ref(), Some(first_value), "served from the cache");
        for _ in 0..2 {
            match runs.lookup(last, Upto::All) {
                Err(StoreError::Corrupt { reason, .. }) => assert!(reason.contains("checksum"), "{reason}"),
                other => panic!("a zeroed block read: {other:?}"),
            }
        }
    }

    /// The block cache holds at most [`COLD_BLOCK_CACHE_BLOCKS`] blocks and
    /// evicts the one used least recently.
    #[test]
    fn the_block_cache_is_bounded_and_evicts_the_least_recently_used() {
        let mut cache = BlockCache::default();
        let block = |b: u32| -> Arc<[u8]> { b.to_be_bytes().to_vec().into() };
        for b in 0..COLD_BLOCK_CACHE_BLOCKS as u32 {
            cache.insert((7, b), block(b));
        }
        // block 0 used again: block 1 is now the least recently used
        assert_eq!(cache.get((7, 0)).as_deref(), Some(&block(0)[..]));
        cache.insert((8, 0), block(99));
        assert_eq!(cache.blocks.len(), COLD_BLOCK_CACHE_BLOCKS);
        assert!(cache.get((7, 1)).is_none(), "the least recently used block left");
        assert!(cache.get((7, 0)).is_some() && cache.get((7, 2)).is_some() && cache.get((8, 0)).is_some());
    }

    /// A meta keeps its filter's kind: an old meta (no flag) decodes as
    /// blake3, a new one as SipHash, with the same words.
    #[test]
    fn a_run_meta_keeps_its_filter_kind() {
        let ks = keys(300, "m");
        for hash in [FilterHash::Blake3, FilterHash::Sip13, FilterHash::Mum] {
            let run = Run {
                no: 3,
                id: fresh_run_id(),
                first_keys: vec![ks[0].clone(), ks[100].clone()],
                ends: Vec::new(),
                file: None,
                filter: filter_of(hash, &ks),
                at: None,
            };
            let bytes = encode_meta(&run);
            let words_at = 4 + run.first_keys.iter().map(|k| 4 + k.len()).sum::<usize>();
            let count = u32::from_be_bytes(bytes[words_at..words_at + 4].try_into().unwrap());
            assert_eq!(count & SIP13_FILTER_FLAG != 0, hash == FilterHash::Sip13, "{hash:?}");
            assert_eq!(count & MUM_FILTER_FLAG != 0, hash == FilterHash::Mum, "{hash:?}");
            let back = decode_meta(3, &bytes).unwrap();
            assert_eq!(back.filter.hash, hash);
            assert_eq!(back.filter.bits, run.filter.bits);
            assert_eq!(back.first_keys, run.first_keys);
            // a count naming both SipHash and the multiply-fold is refused
            let mut both = bytes[..bytes.len() - 4].to_vec();
            let flags = (count | SIP13_FILTER_FLAG | MUM_FILTER_FLAG).to_be_bytes();
            both[words_at..words_at + 4].copy_from_slice(&flags);
            let crc = crc32fast::hash(&both);
            both.extend_from_slice(&crc.to_be_bytes());
            assert!(decode_meta(3, &both).is_err(), "{hash:?} with both flags");
        }
    }
}
