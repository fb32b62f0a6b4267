//! The cardledger engine: the append-only log in sled, group commit, reads and
//! the projection runner.

pub mod record;
pub mod store;
