//! The one home of a directory's `fsync`: a file created, renamed or
//! removed is durable only once its directory is synced (Linux keeps a
//! directory's entries apart from its files' data), and a new directory
//! only once its parent is.

use std::fs::File;
use std::io;
use std::path::Path;

use super::StoreError;

/// Syncs the directory at `path` (its entries: files created or removed in
/// it), as an I/O error.
pub(crate) fn sync_dir_io(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Syncs the directory at `path`; a failure is [`StoreError::Io`] naming
/// `what` ("the segment directory", "the cold directory", …).
pub(crate) fn sync_dir(path: &Path, what: &str) -> Result<(), StoreError> {
    sync_dir_io(path).map_err(|e| StoreError::Io(format!("syncing {what}: {e}")))
}

/// Creates the directory at `path` (`what`: "the segment directory", …)
/// if it is missing, then syncs the store's directory, its parent, which
/// gained its entry.
pub(crate) fn create_dir(path: &Path, what: &str) -> Result<(), StoreError> {
    if path.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(path).map_err(|e| StoreError::Io(format!("creating {what}: {e}")))?;
    match path.parent() {
        Some(parent) => sync_dir(parent, "the store directory"),
        None => Ok(()),
    }
}
