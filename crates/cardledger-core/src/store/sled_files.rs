//! What sled 0.34's flush leaves out, made durable before an acknowledgement.
//!
//! `Db::flush` writes sled's io buffers to its `db` file and waits on
//! `sync_file_range`, which neither persists the file's size nor flushes the
//! device's write cache (spacejam/sled#1077). And sled writes every node
//! image over a quarter of its segment (snapshot chunks, large cold-run
//! leaves; up to store format 5 most leaves of the `log` tree, which held
//! 96 KiB frames) as a file of its own,
//! `blobs/<lsn>`, that it never syncs, nor the `blobs` directory. After a
//! power cut such a store opens `Corrupt`: acknowledged events lost.
//!
//! [`SledFiles::flush`] is the store's one flush: sled's, then an
//! `fdatasync` of each blob file not synced before and of the `blobs`
//! directory when it gained one, then an `fdatasync` of `db`. A blob is
//! synced once, when whole: sled writes it (crc32, kind byte, node image)
//! before the log message that points to it, so every blob a flushed message
//! names is whole when `Db::flush` returns; a blob another thread is still
//! writing fails its crc and is left to that thread's own flush.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::lock;

/// sled's data file and blob directory of one store, and the blobs synced.
pub(crate) struct SledFiles {
    /// `<dir>/db`, opened read-only: an fdatasync of any handle syncs the file.
    db: File,
    blobs: PathBuf,
    /// The blob files synced and present at the last flush.
    synced: Mutex<HashSet<OsString>>,
}

impl SledFiles {
    /// The files of the sled database at `dir` (open): the directory, `conf`
    /// and `db` are synced once, so that a new store's files survive.
    pub(crate) fn open(dir: &Path) -> io::Result<SledFiles> {
        File::open(dir.join("conf"))?.sync_data()?;
        super::files::sync_dir_io(dir)?;
        let files =
            SledFiles { db: File::open(dir.join("db"))?, blobs: dir.join("blobs"), synced: Mutex::new(HashSet::new()) };
        // the blobs and `db` (its one sync at open)
        files.sync()?;
        Ok(files)
    }

    /// sled's flush, then what it leaves out (see the module doc).
    pub(crate) fn flush(&self, db: &sled::Db) -> Result<(), super::StoreError> {
        db.flush().map_err(super::sled_err)?;
        self.sync().map_err(|e| super::StoreError::Io(format!("syncing sled's files after a flush: {e}")))
    }

    fn sync(&self) -> io::Result<()> {
        let mut synced = lock(&self.synced);
        let mut present = HashSet::with_capacity(synced.len() + 4);
        let mut gained = false;
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => Some(entries),
            // sled creates `blobs` with its first blob
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        for entry in entries.into_iter().flatten() {
            let name = entry?.file_name();
            let known = synced.contains(&name);
            if !known && !sync_whole_blob(&self.blobs.join(&name))? {
                continue;
            }
            gained |= !known;
            present.insert(name);
        }
        if gained {
            super::files::sync_dir_io(&self.blobs)?;
        }
        *synced = present;
        drop(synced);
        self.db.sync_data()
    }

    /// The names of the blob files the last flush knew synced (tests).
    pub(crate) fn synced_blobs(&self) -> Vec<String> {
        lock(&self.synced).iter().map(|n| n.to_string_lossy().into_owned()).collect()
    }
}

/// Syncs the blob at `path` if it is whole (its crc32 holds); false if it is
/// not (still being written) or gone (sled removed it).
fn sync_whole_blob(path: &Path) -> io::Result<bool> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let Some((crc, rest)) = bytes.split_first_chunk::<4>() else { return Ok(false) };
    if rest.is_empty() || u32::from_le_bytes(*crc) != crc32fast::hash(rest) {
        return Ok(false);
    }
    file.sync_data()?;
    Ok(true)
}
