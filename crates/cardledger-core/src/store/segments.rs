//! The log's frames in segment files of the store's own (store format 6).
//!
//! `<dir>/segments/<first seq, 20 digits>.seg`: each file holds frames
//! back to back in log order, each preceded by its length (u32
//! big-endian, the framing of a backup file's frames), and is named by the
//! first seq of its first frame, zero-padded so that name order is log
//! order. A frame is appended once, never rewritten, and never spans two
//! files: a file is closed when the next frame would take it past
//! [`limits::SEGMENT_BYTES_MAX`]. Where the log ends (a segment and the end
//! offset of its last frame, [`Position`]) is recorded in sled's `meta`
//! with the head (`store.rs`): bytes past it are an unfinished group,
//! removed at open ([`Segments::truncate_to`]).
//!
//! Frames written ahead of their batch (`Store::write_ahead`) are handed to
//! a thread of the store's own ([`EarlyWriteback`], `cardledger-sync`) that
//! `fdatasync`s their file while the batch is still being decided, so that
//! the group's own flush ([`Segments::sync`]) finds little left to write.
//! That sync is a head start, never a guarantee: the flush still syncs every
//! file written since the last one, and it fails when an early sync failed
//! (docs/reliability.md, "Frames synced ahead of their flush").
//!
//! What it deliberately is not: a frame index. A reader finds the frame
//! holding a seq by the file names, then by the frame headers of one file
//! ([`FrameReader::at`]); nothing in memory grows with the log but the
//! list of file names (one per 64 MiB).

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use cardledger_domain::limits;

use super::StoreError;
use crate::lock;
use crate::record::{self, FRAME_BYTES_MAX, FRAME_HEADER_BYTES};

/// The directory of the segment files, inside the store's.
pub(crate) const DIR: &str = "segments";
/// The extension of a segment file's name.
const SUFFIX: &str = ".seg";
/// Digits of a segment file's name (a u64 in decimal, zero-padded).
const NAME_DIGITS: usize = 20;
/// Bytes of the length before each frame in a segment file.
pub(crate) const LENGTH_BYTES: u64 = 4;
/// Bytes of a frame's start a header scan reads: its length, then the
/// frame header's version, first seq and record count.
const SCAN_BYTES: usize = LENGTH_BYTES as usize + record::HEADER_COUNT_OFFSET + 4;

/// Where the log's frames end: the segment holding the last frame (its
/// first seq; 0 when the log is empty) and the end offset of that frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Position {
    /// The segment's first seq (its name); 0 for an empty log.
    pub(crate) segment: u64,
    /// Bytes of the segment up to the end of the log's last frame.
    pub(crate) end: u64,
}

/// The segment files of one store: their names, and what was synced.
pub(crate) struct Segments {
    dir: PathBuf,
    /// The first seq of every segment file, in log order.
    names: RwLock<BTreeSet<u64>>,
    /// Test hook: the segment files the last log flush synced, with their
    /// lengths then ([`Segments::synced`]).
    synced: Mutex<Vec<(u64, u64)>>,
    /// Syncs frames written ahead of their batch before its flush.
    early: EarlyWriteback,
}

fn io_err(what: &str, e: io::Error) -> StoreError {
    StoreError::Io(format!("{what}: {e}"))
}

/// A segment's file name for its first seq.
fn file_name(first: u64) -> String {
    format!("{first:0NAME_DIGITS$}{SUFFIX}")
}

/// The first seq a segment file's name gives (`None`: not a segment's name).
fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    (digits.len() == NAME_DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

impl Segments {
    /// The segment files of the store at `store_dir` (none when its
    /// `segments` directory does not exist yet: it is created with the
    /// first file). Names that are not a segment's are left alone.
    pub(crate) fn open(store_dir: &Path) -> Result<Segments, StoreError> {
        let dir = store_dir.join(DIR);
        let mut names = BTreeSet::new();
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(|e| io_err("listing the segment files", e))?;
                    if let Some(first) = entry.file_name().to_str().and_then(parse_name) {
                        names.insert(first);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("listing the segment files", e)),
        }
        Ok(Segments {
            dir,
            names: RwLock::new(names),
            synced: Mutex::new(Vec::new()),
            early: EarlyWriteback::default(),
        })
    }

    fn path(&self, first: u64) -> PathBuf {
        self.dir.join(file_name(first))
    }

    fn names(&self) -> std::sync::RwLockReadGuard<'_, BTreeSet<u64>> {
        self.names.read().unwrap_or_else(|p| p.into_inner())
    }

    fn names_mut(&self) -> std::sync::RwLockWriteGuard<'_, BTreeSet<u64>> {
        self.names.write().unwrap_or_else(|p| p.into_inner())
    }

    /// True when there is no segment file.
    pub(crate) fn is_empty(&self) -> bool {
        self.names().is_empty()
    }

    /// The segment that holds `seq` if any does: the last one named at or
    /// before it (else the first one, where a reader finds the gap).
    fn holding(&self, seq: u64) -> Option<u64> {
        let names = self.names();
        names.range(..=seq).next_back().or_else(|| names.iter().next()).copied()
    }

    /// The segment after `first`.
    fn after(&self, first: u64) -> Option<u64> {
        self.names().range(first.saturating_add(1)..).next().copied()
    }

    /// Removes every segment file (an upgrade's copy that a crash cut short).
    pub(crate) fn remove_all(&self) -> Result<(), StoreError> {
        let all: Vec<u64> = self.names().iter().copied().collect();
        for first in &all {
            std::fs::remove_file(self.path(*first)).map_err(|e| io_err("removing a segment file", e))?;
        }
        self.names_mut().clear();
        if !all.is_empty() {
            self.sync_dir()?;
        }
        Ok(())
    }

    fn sync_dir(&self) -> Result<(), StoreError> {
        super::files::sync_dir(&self.dir, "the segment directory")
    }

    /// Cuts the log's files back to `end` (the head's position): bytes past
    /// it in its segment and every later segment file are an unfinished
    /// group, never acknowledged. Synced. Checked first, nothing removed
    /// otherwise: [`StoreError::Corrupt`] (naming `head_seq`) when the
    /// files end before it, or when it names no segment for a log that has
    /// records (or one for a log that has none).
    pub(crate) fn truncate_to(&self, end: Position, head_seq: u64) -> Result<(), StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt { seq: head_seq, reason };
        if (end.segment == 0) != (head_seq == 0) || end.segment > head_seq {
            return Err(corrupt(format!("the log's head (seq {head_seq}) names segment {}", end.segment)));
        }
        let head_file = if end.segment == 0 {
            None
        } else {
            let missing =
                || corrupt(format!("segment {} (the log's head is in it) is missing", file_name(end.segment)));
            if !self.names().contains(&end.segment) {
                return Err(missing());
            }
            let file = OpenOptions::new().write(true).open(self.path(end.segment)).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    missing()
                } else {
                    io_err("opening a segment", e)
                }
            })?;
            let len = file.metadata().map_err(|e| io_err("reading a segment's length", e))?.len();
            if len < end.end {
                return Err(corrupt(format!(
                    "segment {} ends at byte {len} before the log's head at byte {}",
                    file_name(end.segment),
                    end.end
                )));
            }
            Some((file, len))
        };
        let later: Vec<u64> = self.names().range(end.segment.saturating_add(1)..).copied().collect();
        for first in &later {
            std::fs::remove_file(self.path(*first)).map_err(|e| io_err("removing an unfinished segment", e))?;
            self.names_mut().remove(first);
        }
        let mut changed = !later.is_empty();
        if let Some((file, len)) = head_file.filter(|(_, len)| *len > end.end) {
            debug_assert!(len > end.end);
            file.set_len(end.end).map_err(|e| io_err("cutting an unfinished group", e))?;
            file.sync_all().map_err(|e| io_err("syncing a cut segment", e))?;
            changed = true;
        }
        if changed {
            self.sync_dir()?;
        }
        Ok(())
    }

    /// The last frame before `end` in its segment: `(its offset, bytes)`,
    /// found by the frame lengths from the file's start (they must lead
    /// exactly to `end`); `None` for an empty log. `head_seq` names errors.
    pub(crate) fn last_frame(&self, end: Position, head_seq: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        if end.segment == 0 {
            return Ok(None);
        }
        let corrupt = |reason: String| StoreError::Corrupt { seq: head_seq, reason };
        let mut file = File::open(self.path(end.segment)).map_err(|e| io_err("opening a segment", e))?;
        let walk = walk_frames(&mut file, end.end, |_, _| true)?;
        let Some(at) = walk.last.filter(|_| walk.stop == end.end) else {
            return Err(corrupt(format!(
                "the frames of segment {} do not end at the log's head (byte {})",
                file_name(end.segment),
                end.end
            )));
        };
        let len = end.end.saturating_sub(at).saturating_sub(LENGTH_BYTES);
        if len > FRAME_BYTES_MAX as u64 {
            return Err(corrupt(format!("a frame length of {len} bytes at the log's head")));
        }
        let mut frame = vec![0u8; len as usize];
        file.seek(SeekFrom::Start(at.saturating_add(LENGTH_BYTES))).map_err(|e| io_err("reading a segment", e))?;
        file.read_exact(&mut frame).map_err(|e| io_err("reading a segment", e))?;
        Ok(Some((at, frame)))
    }

    /// An appender continuing the log after `end`.
    pub(crate) fn appender(&self, end: Position) -> Result<Appender, StoreError> {
        let current = if end.segment == 0 {
            None
        } else {
            let file = OpenOptions::new()
                .append(true)
                .open(self.path(end.segment))
                .map_err(|e| io_err("opening the last segment", e))?;
            Some((end.segment, Arc::new(file)))
        };
        Ok(Appender { current, end: end.end, unsynced: Vec::new(), dir_unsynced: false, unrequested: 0 })
    }

    /// Test hook: the segments the last log flush synced, `(first seq,
    /// length)`.
    pub(crate) fn synced(&self) -> Vec<(u64, u64)> {
        lock(&self.synced).clone()
    }

    /// Syncs what `sync` names (taken from an [`Appender`]): each file's
    /// data, then the directory when a file was created. Then it
    /// fails if an early sync ever failed ([`Segments::sync_early`]; see
    /// `EarlyWriteback::settle`): its error may be the only report of a
    /// write that never reached the disk where an `fdatasync` reports a
    /// failed writeback once, to whichever call checks first.
    pub(crate) fn sync(&self, sync: Unsynced) -> Result<(), StoreError> {
        let mut synced = Vec::with_capacity(sync.files.len());
        let own = sync.files.iter().try_for_each(|(first, file)| {
            file.sync_data().map_err(|e| io_err("syncing a segment", e))?;
            let len = file.metadata().map_err(|e| io_err("reading a segment's length", e))?.len();
            synced.push((*first, len));
            Ok(())
        });
        let early = self.early.settle();
        own.and(early)?;
        if sync.dir {
            self.sync_dir()?;
        }
        *lock(&self.synced) = synced;
        Ok(())
    }

    /// Asks for the files an [`Appender`] wrote since the last flush to be
    /// synced now, on the early-writeback thread, without waiting, once it
    /// has appended [`limits::EARLY_SYNC_BYTES`] since the last such request
    /// (or the last flush): called after frames are written ahead of their
    /// batch. Does nothing when that thread cannot be started (the flush
    /// syncs everything anyway).
    pub(crate) fn sync_early(&self, appender: &mut Appender) {
        if appender.unrequested < limits::EARLY_SYNC_BYTES {
            return;
        }
        appender.unrequested = 0;
        self.early.request(appender.unsynced.iter().map(|(first, _)| self.path(*first)));
    }

    /// Test hook: early syncs done so far.
    pub(crate) fn early_syncs(&self) -> u64 {
        lock(&self.early.shared.state).done
    }

    /// Test hook: the next early sync fails with `reason` instead of
    /// syncing (an I/O error of the writeback).
    pub(crate) fn fail_next_early_sync(&self, reason: &str) {
        lock(&self.early.shared.state).fail_next = Some(reason.to_string());
    }

    /// The frame holding `seq`: `(segment, offset of its length, bytes)`
    /// (test hooks).
    pub(crate) fn frame_at(self: &Arc<Self>, seq: u64) -> Result<(u64, u64, Vec<u8>), StoreError> {
        let mut reader = FrameReader::at(Arc::clone(self), seq)?;
        let (segment, at) = (reader.segment, reader.pos);
        match reader.next_frame(seq)? {
            Some(frame) => Ok((segment, at, frame.to_vec())),
            None => Err(StoreError::Corrupt { seq, reason: "no frame holds this seq".into() }),
        }
    }

    /// Test hook: XORs byte `at` of segment `segment` with `xor`, synced.
    pub(crate) fn xor_byte(&self, segment: u64, at: u64, xor: u8) -> Result<(), StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.path(segment))
            .map_err(|e| io_err("opening a segment", e))?;
        let mut b = [0u8; 1];
        file.seek(SeekFrom::Start(at)).and_then(|_| file.read_exact(&mut b)).map_err(|e| io_err("reading", e))?;
        b[0] ^= xor;
        file.seek(SeekFrom::Start(at))
            .and_then(|_| file.write_all(&b))
            .and_then(|()| file.sync_data())
            .map_err(|e| io_err("writing", e))
    }

    /// Test hook: removes the `len` bytes at `at` from segment `segment`
    /// (the later bytes move up), synced.
    pub(crate) fn cut(&self, segment: u64, at: u64, len: u64) -> Result<(), StoreError> {
        let path = self.path(segment);
        let mut bytes = std::fs::read(&path).map_err(|e| io_err("reading a segment", e))?;
        let start = usize::try_from(at).unwrap_or(usize::MAX).min(bytes.len());
        let end = usize::try_from(at.saturating_add(len)).unwrap_or(usize::MAX).min(bytes.len());
        bytes.drain(start..end);
        let mut file =
            OpenOptions::new().write(true).truncate(true).open(&path).map_err(|e| io_err("opening a segment", e))?;
        file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(|e| io_err("writing a segment", e))
    }

    /// Total bytes of the segment files.
    pub(crate) fn bytes(&self) -> Result<u64, StoreError> {
        let names: Vec<u64> = self.names().iter().copied().collect();
        let mut total = 0u64;
        for first in names {
            let len = std::fs::metadata(self.path(first)).map_err(|e| io_err("reading a segment's length", e))?.len();
            total = total.saturating_add(len);
        }
        Ok(total)
    }
}

/// The early-writeback thread of one store's segments (see the module
/// doc): started with the first request, stopped and joined on drop.
#[derive(Default)]
struct EarlyWriteback {
    shared: Arc<EarlyShared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct EarlyShared {
    state: Mutex<EarlyState>,
    changed: Condvar,
}

#[derive(Default)]
struct EarlyState {
    /// Segment files to sync next (each once), by path.
    pending: Vec<PathBuf>,
    /// A sync is under way (its files taken out of `pending`).
    running: bool,
    /// The first early sync that failed: every later flush fails with it.
    failed: Option<String>,
    /// The thread could not be started: requests are dropped.
    unavailable: bool,
    stop: bool,
    /// Test hooks: syncs done; the next one fails with this.
    done: u64,
    fail_next: Option<String>,
}

impl EarlyWriteback {
    /// Queues the files at `paths` to be synced (a file already queued
    /// once) and wakes the thread, starting it if it is not running yet.
    fn request(&self, paths: impl Iterator<Item = PathBuf>) {
        let mut st = lock(&self.shared.state);
        if st.unavailable || st.stop || st.failed.is_some() {
            return;
        }
        for path in paths {
            if !st.pending.contains(&path) {
                st.pending.push(path);
            }
        }
        drop(st);
        let mut thread = lock(&self.thread);
        if thread.is_none() {
            let shared = Arc::clone(&self.shared);
            match std::thread::Builder::new().name("cardledger-sync".into()).spawn(move || shared.run()) {
                Ok(handle) => *thread = Some(handle),
                Err(_) => {
                    let mut st = lock(&self.shared.state);
                    st.unavailable = true;
                    st.pending.clear();
                    return;
                }
            }
        }
        drop(thread);
        self.shared.changed.notify_all();
    }

    /// Drops the syncs not started (the flush calling this has synced
    /// those files itself) and fails if an early sync failed. On Linux it
    /// does not wait for the one under way: that one syncs through a file
    /// description of its own, and a failed writeback is reported to every
    /// description open when it failed (`errseq_t`, Linux 4.13 on), so the
    /// flush's own `fdatasync`, which also waits for every page under
    /// writeback, reports it too. Elsewhere it waits for it.
    fn settle(&self) -> Result<(), StoreError> {
        let mut st = lock(&self.shared.state);
        st.pending.clear();
        #[cfg(not(target_os = "linux"))]
        while st.running {
            st = crate::wait(&self.shared.changed, st);
        }
        match &st.failed {
            Some(e) => Err(StoreError::Io(format!("syncing a segment ahead of its flush: {e}"))),
            None => Ok(()),
        }
    }
}

impl EarlyShared {
    /// The thread: syncs the files queued, one batch of requests at a time,
    /// each through a file description of its own (the last one kept
    /// open), until stopped; stops syncing at the first failure
    /// (remembered).
    fn run(&self) {
        let mut open: Option<(PathBuf, File)> = None;
        let mut st = lock(&self.state);
        loop {
            while st.pending.is_empty() && !st.stop {
                st = crate::wait(&self.changed, st);
            }
            if st.stop {
                return;
            }
            let files = std::mem::take(&mut st.pending);
            let fail = st.fail_next.take();
            st.running = true;
            drop(st);
            let result = match fail {
                Some(reason) => Err(io::Error::other(reason)),
                None => files.into_iter().try_for_each(|path| {
                    let file = match open.take() {
                        Some((p, f)) if p == path => f,
                        // opened to write (nothing is written through it):
                        // not every system syncs a file opened to read
                        _ => OpenOptions::new().write(true).open(&path)?,
                    };
                    let synced = file.sync_data();
                    open = Some((path, file));
                    synced
                }),
            };
            st = lock(&self.state);
            st.running = false;
            st.done += 1;
            if let Err(e) = result {
                st.failed.get_or_insert(e.to_string());
                st.pending.clear();
            }
            self.changed.notify_all();
        }
    }
}

impl Drop for EarlyWriteback {
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.changed.notify_all();
        if let Some(thread) = lock(&self.thread).take() {
            // a panic there is not this thread's to carry on
            let _ = thread.join();
        }
    }
}

/// The files an [`Appender`] wrote since it last handed them over to be
/// synced ([`Appender::take_unsynced`], [`Segments::sync`]).
#[derive(Default)]
pub(crate) struct Unsynced {
    files: Vec<(u64, Arc<File>)>,
    dir: bool,
}

/// Appends frames to the last segment, opening the next one when a frame
/// would take it past [`limits::SEGMENT_BYTES_MAX`]. Not synced here: the
/// log's flush syncs what [`Appender::take_unsynced`] hands it.
pub(crate) struct Appender {
    /// The last segment: its first seq and file (opened to append).
    current: Option<(u64, Arc<File>)>,
    /// Bytes written to it.
    end: u64,
    unsynced: Vec<(u64, Arc<File>)>,
    dir_unsynced: bool,
    /// Bytes appended since the last early sync was asked for
    /// ([`Segments::sync_early`]) or the files were taken to be synced.
    unrequested: u64,
}

impl Appender {
    /// Where the last frame appended ends.
    pub(crate) fn position(&self) -> Position {
        Position { segment: self.current.as_ref().map_or(0, |(first, _)| *first), end: self.end }
    }

    /// Appends `frames` (each `(first seq, bytes)`, in log order) after the
    /// last one, one write per segment written.
    pub(crate) fn append<'f>(
        &mut self,
        segments: &Segments,
        frames: impl IntoIterator<Item = (u64, &'f [u8])>,
    ) -> Result<(), StoreError> {
        let mut lengths: Vec<[u8; LENGTH_BYTES as usize]> = Vec::new();
        let mut pending: Vec<&'f [u8]> = Vec::new();
        for (first, frame) in frames {
            let len = u32::try_from(frame.len())
                .ok()
                .filter(|l| *l as usize <= FRAME_BYTES_MAX)
                .ok_or(StoreError::TooLarge { what: "frame bytes", limit: FRAME_BYTES_MAX as u64 })?;
            let needed = LENGTH_BYTES.saturating_add(u64::from(len));
            let full = self.end.saturating_add(needed) > limits::SEGMENT_BYTES_MAX && self.end > 0;
            if self.current.is_none() || full {
                self.write(&lengths, &pending)?;
                lengths.clear();
                pending.clear();
                self.roll(segments, first)?;
            }
            lengths.push(len.to_be_bytes());
            pending.push(frame);
            self.end = self.end.saturating_add(needed);
            self.unrequested = self.unrequested.saturating_add(needed);
        }
        self.write(&lengths, &pending)
    }

    /// Writes the frames (each after its length) to the current segment.
    fn write(&mut self, lengths: &[[u8; LENGTH_BYTES as usize]], frames: &[&[u8]]) -> Result<(), StoreError> {
        let Some((first, file)) = self.current.as_ref() else { return Ok(()) };
        if frames.is_empty() {
            return Ok(());
        }
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(frames.len() * 2);
        for (len, frame) in lengths.iter().zip(frames) {
            slices.push(IoSlice::new(len));
            slices.push(IoSlice::new(frame));
        }
        if !self.unsynced.iter().any(|(f, _)| f == first) {
            self.unsynced.push((*first, Arc::clone(file)));
        }
        write_all_vectored(&mut &**file, &mut slices).map_err(|e| io_err("appending to a segment", e))
    }

    /// Starts the segment whose first frame starts at `first`.
    fn roll(&mut self, segments: &Segments, first: u64) -> Result<(), StoreError> {
        super::files::create_dir(&segments.dir, "the segment directory")?;
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(segments.path(first))
            .map_err(|e| io_err("creating a segment", e))?;
        segments.names_mut().insert(first);
        self.current = Some((first, Arc::new(file)));
        self.end = 0;
        self.dir_unsynced = true;
        Ok(())
    }

    /// The files written (and the directory, if a file was created) since
    /// the last call: for [`Segments::sync`].
    pub(crate) fn take_unsynced(&mut self) -> Unsynced {
        self.unrequested = 0;
        Unsynced { files: std::mem::take(&mut self.unsynced), dir: std::mem::take(&mut self.dir_unsynced) }
    }
}

/// `Write::write_all` for a list of slices (`write_all_vectored` is not
/// stable): one `writev` per call when the kernel takes it all.
fn write_all_vectored(w: &mut impl Write, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match w.write_vectored(slices) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write whole buffer")),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads frames in log order across segment files, from the one holding a
/// seq ([`FrameReader::at`]), in large reads into one buffer of its own
/// that it lends each frame out of ([`FrameReader::next_frame`]): no
/// allocation, zeroing or copy per frame. Its callers stop at the durable
/// head: bytes past it may be a group still being written.
pub(crate) struct FrameReader {
    segments: Arc<Segments>,
    /// The segment being read (its first seq).
    segment: u64,
    file: Option<File>,
    /// Offset of the next frame's length in it.
    pos: u64,
    /// The bytes read ahead: `buf[start..end]` are the segment's from
    /// `pos` on. Allocated at the first read
    /// ([`limits::SEGMENT_READ_BUFFER_BYTES`], more for a frame that needs
    /// it).
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Where the frame lent last lies in `buf` ([`FrameReader::lent_frame`]).
    lent: std::ops::Range<usize>,
}

impl FrameReader {
    /// A reader whose first frame is the one holding `seq` (or the first
    /// one after it, where the reader's caller finds the gap), found by the
    /// segment names, then the frame headers of that segment.
    pub(crate) fn at(segments: Arc<Segments>, seq: u64) -> Result<FrameReader, StoreError> {
        let Some(segment) = segments.holding(seq) else {
            return Ok(FrameReader {
                segments,
                segment: 0,
                file: None,
                pos: 0,
                buf: Vec::new(),
                start: 0,
                end: 0,
                lent: 0..0,
            });
        };
        let mut file = File::open(segments.path(segment)).map_err(|e| io_err("opening a segment", e))?;
        // a frame whose start cannot be read is where the read fails
        let pos = walk_frames(&mut file, u64::MAX, |first, count| first.saturating_add(count) <= seq)?.stop;
        file.seek(SeekFrom::Start(pos)).map_err(|e| io_err("reading a segment", e))?;
        Ok(FrameReader { segments, segment, file: Some(file), pos, buf: Vec::new(), start: 0, end: 0, lent: 0..0 })
    }

    /// The next frame's bytes, lent until the next call; `None` when the
    /// files end. `seq` (the next seq the caller expects) names a frame
    /// cut short.
    pub(crate) fn next_frame(&mut self, seq: u64) -> Result<Option<&[u8]>, StoreError> {
        let cut = |what: &str, segment: u64| StoreError::Corrupt {
            seq,
            reason: format!("segment {} ends inside a frame's {what}", file_name(segment)),
        };
        loop {
            if self.file.is_none() {
                return Ok(None);
            }
            match self.fill(LENGTH_BYTES as usize)? {
                0 => {
                    // this segment ends: the next one, if any
                    self.file = None;
                    let Some(next) = self.segments.after(self.segment) else { return Ok(None) };
                    let file = File::open(self.segments.path(next)).map_err(|e| io_err("opening a segment", e))?;
                    self.file = Some(file);
                    self.segment = next;
                    self.pos = 0;
                    (self.start, self.end) = (0, 0);
                    continue;
                }
                n if n < LENGTH_BYTES as usize => return Err(cut("length", self.segment)),
                _ => {}
            }
            let len = self
                .buf
                .get(self.start..)
                .and_then(|b| b.first_chunk::<{ LENGTH_BYTES as usize }>())
                .map(|b| u32::from_be_bytes(*b) as usize);
            let len = len.ok_or_else(|| cut("length", self.segment))?;
            if !(FRAME_HEADER_BYTES..=FRAME_BYTES_MAX).contains(&len) {
                return Err(StoreError::Corrupt {
                    seq,
                    reason: format!("segment {} holds a frame length of {len} bytes", file_name(self.segment)),
                });
            }
            let needed = LENGTH_BYTES as usize + len;
            if self.fill(needed)? < needed {
                return Err(cut("bytes", self.segment));
            }
            let at = self.start + LENGTH_BYTES as usize;
            self.start += needed;
            self.pos = self.pos.saturating_add(needed as u64);
            self.lent = at..at + len;
            return self.buf.get(at..at + len).map(Some).ok_or_else(|| cut("bytes", self.segment));
        }
    }

    /// The frame [`FrameReader::next_frame`] lent last (empty before the
    /// first), until its next call.
    pub(crate) fn lent_frame(&self) -> &[u8] {
        self.buf.get(self.lent.clone()).unwrap_or_default()
    }

    /// Reads ahead until `want` bytes from `pos` on are in the buffer or
    /// the segment ends; the bytes there (fewer than `want` only at its
    /// end). One read call fills what room the buffer has.
    fn fill(&mut self, want: usize) -> Result<usize, StoreError> {
        let Some(file) = self.file.as_mut() else { return Ok(0) };
        if self.end - self.start >= want {
            return Ok(self.end - self.start);
        }
        if self.buf.len() - self.start < want {
            // the frame's start to the buffer's front (or a larger buffer:
            // `vec!` of zeros is fresh zeroed pages, not a pass over them)
            let len = self.buf.len().max(want).max(limits::SEGMENT_READ_BUFFER_BYTES);
            if len > self.buf.len() {
                let mut grown = vec![0u8; len];
                if let (Some(to), Some(from)) =
                    (grown.get_mut(..self.end - self.start), self.buf.get(self.start..self.end))
                {
                    to.copy_from_slice(from);
                }
                self.buf = grown;
            } else {
                self.buf.copy_within(self.start..self.end, 0);
            }
            (self.start, self.end) = (0, self.end - self.start);
        }
        while self.end - self.start < want {
            let Some(room) = self.buf.get_mut(self.end..) else { break };
            match file.read(room) {
                Ok(0) => break,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("reading a segment", e)),
            }
        }
        Ok(self.end - self.start)
    }
}

/// Where [`walk_frames`] stopped: the offset of the first frame it did not
/// pass, and of the last one it passed.
struct Walk {
    stop: u64,
    last: Option<u64>,
}

/// Walks a segment's frames from its start by their lengths, reading one
/// frame start at a time, past each frame for which `pass(first seq,
/// record count)` holds. It stops at `limit`, at a frame `pass` refuses,
/// and where a frame start cannot be read whole, holds no header or gives
/// a length out of bounds: what that means (the end, or damage) is the
/// caller's to say. The one home of a segment's frame-length walk (the
/// open's head check, a reader's start).
fn walk_frames(file: &mut File, limit: u64, mut pass: impl FnMut(u64, u64) -> bool) -> Result<Walk, StoreError> {
    let mut walk = Walk { stop: 0, last: None };
    let mut start = [0u8; SCAN_BYTES];
    while walk.stop < limit {
        let read = file.seek(SeekFrom::Start(walk.stop)).and_then(|_| read_full(file, &mut start));
        if read.map_err(|e| io_err("reading a segment", e))? < SCAN_BYTES {
            break;
        }
        let (len, frame) = start.split_at(LENGTH_BYTES as usize);
        let len = u64::from(u32::from_be_bytes(len.try_into().unwrap_or_default()));
        let Some(first) = record::peek_first_seq(frame) else { break };
        let in_bounds = (FRAME_HEADER_BYTES as u64..=FRAME_BYTES_MAX as u64).contains(&len);
        if !in_bounds || !pass(first, record::peek_record_count(frame) as u64) {
            break;
        }
        walk.last = Some(walk.stop);
        walk.stop = walk.stop.saturating_add(LENGTH_BYTES).saturating_add(len);
    }
    Ok(walk)
}

/// Reads until `buf` is full or the file ends; the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_log_order_and_parse_back() {
        let names: Vec<String> = [1u64, 9, 10, 4096, u64::MAX].iter().map(|s| file_name(*s)).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for (s, n) in [1u64, 9, 10, 4096, u64::MAX].iter().zip(&names) {
            assert_eq!(parse_name(n), Some(*s));
        }
        assert_eq!(parse_name("1.seg"), None);
        assert_eq!(parse_name("0000000000000000000x.seg"), None);
        assert_eq!(parse_name("00000000000000000001.tmp"), None);
    }

    /// Frames across the read buffer's refills, one larger than the
    /// buffer, and a frame cut short: each lent back whole, then the cut
    /// reported `Corrupt` with the seq asked for.
    #[test]
    fn frames_are_lent_whole_across_refills_and_a_cut_one_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let segments = Arc::new(Segments::open(dir.path()).unwrap());
        // sizes that end the 1 MiB buffer mid-length and mid-frame, then
        // the largest frame (more than the buffer), then small ones
        let mut sizes: Vec<usize> = (0..40).map(|i| 99_991 + i * 7).collect();
        sizes.push(FRAME_BYTES_MAX);
        sizes.extend([FRAME_HEADER_BYTES, 70_001, FRAME_HEADER_BYTES + 1]);
        let frames: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, n)| vec![i as u8 | 0x80; *n]).collect();
        let mut appender = segments.appender(Position::default()).unwrap();
        appender.append(&segments, frames.iter().enumerate().map(|(i, f)| (i as u64 + 1, f.as_slice()))).unwrap();
        segments.sync(appender.take_unsynced()).unwrap();
        let mut reader = FrameReader::at(Arc::clone(&segments), 0).unwrap();
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(reader.next_frame(1).unwrap(), Some(f.as_slice()), "frame {i}");
        }
        assert_eq!(reader.next_frame(1).unwrap(), None);
        // the last frame loses its last byte
        let end = appender.position();
        segments.cut(end.segment, end.end - 1, 1).unwrap();
        let mut reader = FrameReader::at(Arc::clone(&segments), 0).unwrap();
        for _ in 1..frames.len() {
            reader.next_frame(1).unwrap().unwrap();
        }
        match reader.next_frame(77) {
            Err(StoreError::Corrupt { seq: 77, reason }) => assert!(reason.contains("frame's bytes"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
