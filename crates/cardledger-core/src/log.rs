//! The log backend boundary: what the engine needs of a log, as a trait.
//!
//! A [`Log`] is an append-only sequence of records with contiguous seqs from
//! 1, frames of `docs/format.md` and a blake3 chain: append a group commit at
//! an expected head (all or nothing, durable before it returns), read from a
//! seq (every frame checked and chained), the head, and a whole-log verify.
//! Two implementations: the embedded [`Store`] (the default: its own
//! segment files, store format 6) and the JetStream log of `cardledger-nats` (one stream per
//! program). A [`Store`] opened with [`Store::open_on`] keeps snapshots, cold
//! runs and checkpoints in its own sled directory and serves the log from
//! the backend it was given, so the engine, the projection runner and every
//! read keep calling the same `Store` methods whichever backend holds the
//! log (`docs/scale-out.md`).

use crate::record::{EncodedBatch, FrameFill, Head, StoredRecord};
use crate::store::{Store, StoreError};

/// Records read back from a log, in order; the first error ends it.
pub type LogRead = Box<dyn Iterator<Item = Result<StoredRecord, StoreError>> + Send>;

/// An append-only, hash-chained log of records.
pub trait Log: Send + Sync {
    /// The last acknowledged record this handle knows.
    fn head(&self) -> Head;

    /// Appends a batch encoded by a [`crate::record::FrameBuilder`] after
    /// `batch.base()`, atomically, and returns the new head once it is
    /// durable. On any error nothing is acknowledged; on
    /// [`StoreError::HeadMismatch`] nothing was written; another writer
    /// found at the expected position is [`StoreError::Fenced`].
    fn append_encoded(&self, batch: EncodedBatch) -> Result<Head, StoreError>;

    /// Every record with `seq >= from` (from 1 when `from` is 0) up to the
    /// head when called, each frame checked and chained to the one before.
    fn read_from(&self, from: u64) -> LogRead;

    /// Checks every frame and the whole chain from genesis and returns the
    /// head it ends at; a failure is [`StoreError::Corrupt`] naming the
    /// first bad seq.
    fn verify(&self) -> Result<Head, StoreError>;

    /// A short text naming the backend and where the log is (for reports).
    fn describe(&self) -> String;

    /// The record bytes at which the batches this log is given close a
    /// frame ([`crate::record::FrameBuilder::with_fill`]): the backend's
    /// choice, within the format's limits, so any reader decodes its frames.
    /// [`FrameFill::DEFAULT`] (`FRAME_FILL_BYTES`, sized for sled) unless
    /// the backend pays per frame more than per byte (the JetStream log:
    /// one message, Raft entry and dedupe entry per frame).
    fn frame_fill(&self) -> FrameFill {
        FrameFill::DEFAULT
    }
}

/// The sled store is a log: its inherent methods (a store opened with
/// [`Store::open_on`] serves the backend it was given through them).
impl Log for Store {
    fn head(&self) -> Head {
        Store::head(self)
    }

    fn append_encoded(&self, batch: EncodedBatch) -> Result<Head, StoreError> {
        Store::append_encoded(self, batch)
    }

    fn read_from(&self, from: u64) -> LogRead {
        Box::new(Store::read_from(self, from))
    }

    fn verify(&self) -> Result<Head, StoreError> {
        Store::verify(self)
    }

    fn describe(&self) -> String {
        self.log_description()
    }

    fn frame_fill(&self) -> FrameFill {
        Store::frame_fill(self)
    }
}
