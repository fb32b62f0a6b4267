//! The one home of a directory's `fsync`: a file created, renamed or
//! removed is durable only once its directory is synced (Linux keeps a
//! directory's entries apart from its files' data).

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
