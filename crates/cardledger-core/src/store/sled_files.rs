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
//!
//! The open syncs every blob present without reading it when it was last
//! written at least `limits::BLOB_SETTLED_SECS` before the open began
//! ([`SledFiles::open`]'s `opened_at`): no thread of this process has
//! written it, and the process that did is gone (sled's lock is held), so
//! nothing is still being written into it; a blob cut short by a crash is
//! then synced as it is, which changes nothing sled reads. Newer blobs take
//! the crc path. So an open no longer reads and checks every snapshot chunk
//! (≈ 80 MB after a million events) before its replay starts.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::lock;
use cardledger_domain::limits::BLOB_SETTLED_SECS;

/// sled's data file and blob directory of one store, and the blobs synced.
pub(crate) struct SledFiles {
    /// `<dir>/db`, opened read-only: an fdatasync of any handle syncs the file.
    db: File,
    blobs: PathBuf,
    /// The blob files synced and present at the last flush.
    synced: Mutex<HashSet<OsString>>,
}

impl SledFiles {
    /// The files of the sled database at `dir` (open), whose open of sled
    /// began at `opened_at`: the directory, `conf` and `db` are synced once,
    /// so that a new store's files survive, and so is every blob (those last
    /// written before `opened_at` less `BLOB_SETTLED_SECS` unread: see the
    /// module doc).
    pub(crate) fn open(dir: &Path, opened_at: SystemTime) -> io::Result<SledFiles> {
        File::open(dir.join("conf"))?.sync_data()?;
        super::files::sync_dir_io(dir)?;
        let files =
            SledFiles { db: File::open(dir.join("db"))?, blobs: dir.join("blobs"), synced: Mutex::new(HashSet::new()) };
        // the blobs and `db` (its one sync at open)
        files.sync(opened_at.checked_sub(Duration::from_secs(BLOB_SETTLED_SECS)))?;
        Ok(files)
    }

    /// sled's flush, then what it leaves out (see the module doc).
    pub(crate) fn flush(&self, db: &sled::Db) -> Result<(), super::StoreError> {
        db.flush().map_err(super::sled_err)?;
        self.sync(None).map_err(|e| super::StoreError::Io(format!("syncing sled's files after a flush: {e}")))
    }

    /// Syncs each blob not synced before (one last written before
    /// `settled_before` without reading it, any other only when whole), the
    /// `blobs` directory when it gained one, and `db`.
    fn sync(&self, settled_before: Option<SystemTime>) -> io::Result<()> {
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
            if !known && !sync_blob(&self.blobs.join(&name), settled_before)? {
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

/// Syncs the blob at `path` if it was last written before `settled_before`
/// (unread: nothing writes it any more), or else if it is whole (its crc32
/// holds); false if it is not (still being written) or gone (sled removed
/// it).
fn sync_blob(path: &Path, settled_before: Option<SystemTime>) -> io::Result<bool> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if let Some(settled_before) = settled_before {
        if file.metadata()?.modified()? < settled_before {
            file.sync_data()?;
            return Ok(true);
        }
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let Some((crc, rest)) = bytes.split_first_chunk::<4>() else { return Ok(false) };
    if rest.is_empty() || u32::from_le_bytes(*crc) != crc32fast::hash(rest) {
        return Ok(false);
    }
    file.sync_data()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blob file in `dir/blobs` named `name`, its crc32 wrong (cut short
    /// by a crash, or still being written), last written `age` ago.
    fn torn_blob(dir: &Path, name: &str, age: Duration) {
        let path = dir.join("blobs").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, [0u8, 0, 0, 0, 7, 7, 7]).unwrap();
        let file = File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    /// The open syncs a blob last written before it began (less the margin)
    /// unread, and takes it as synced; a newer one must be whole. Fails when
    /// the open reads and checks every blob (the settled one stays unknown)
    /// or trusts every blob (the new one is taken as synced).
    #[test]
    fn the_open_syncs_settled_blobs_unread_and_checks_newer_ones() {
        let dir = tempfile::tempdir().unwrap();
        drop(crate::store::Store::open(dir.path()).unwrap());
        torn_blob(dir.path(), "1", Duration::from_secs(3600));
        torn_blob(dir.path(), "2", Duration::ZERO);
        let files = SledFiles::open(dir.path(), SystemTime::now()).unwrap();
        assert_eq!(files.synced_blobs(), vec!["1".to_string()]);
        // a flush checks every blob it does not know: the new one is still not whole
        files.sync(None).unwrap();
        assert_eq!(files.synced_blobs(), vec!["1".to_string()]);
    }
}
