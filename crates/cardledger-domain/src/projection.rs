//! The `Projection` trait: a read model folded from recorded events. It
//! lives here, below the storage, so the fold crates (program, reserve and
//! activity balances, statements) need no sled; the runner that feeds a
//! projection from the log and checkpoints it stays in `cardledger-core`.

use crate::event::Recorded;

/// A read model folded from events. The one trait of the engine: the
/// runner needs it because there are several projections.
pub trait Projection: Sized {
    /// Checkpoint name; unique per projection and format.
    const NAME: &'static str;
    /// Folds one event. Never reads the clock; never fails.
    fn apply(&mut self, rec: &Recorded);
    /// Serializes the state for a checkpoint.
    fn encode(&self) -> Vec<u8>;
    /// Restores a checkpoint; `None` if the bytes are not a valid state
    /// (the runner then rebuilds from the start of the log).
    fn decode(bytes: &[u8]) -> Option<Self>;
}
