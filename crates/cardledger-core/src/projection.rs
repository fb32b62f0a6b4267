//! The projection runner. A projection is a deterministic, infallible fold
//! over recorded events; the runner feeds it from its checkpoint, persists
//! checkpoints with their log position, and catches up after reopen.

use std::time::Duration;

use cardledger_domain::event::Recorded;

use crate::engine::{Engine, EngineError};

/// The trait lives in `cardledger-domain` (so fold crates need no sled);
/// re-exported here beside its runner.
pub use cardledger_domain::projection::Projection;

/// Feeds one projection from the log.
pub struct Runner<P: Projection> {
    engine: Engine,
    projection: P,
    applied_seq: u64,
    checkpoint_every: u64,
    since_checkpoint: u64,
}

impl<P: Projection> Runner<P> {
    /// Starts from the stored checkpoint (or from `empty` at seq 0).
    /// A checkpoint beyond the log's head (a log cut short) is discarded.
    pub fn open(engine: &Engine, empty: P) -> Result<Runner<P>, EngineError> {
        let head = engine.head_seq();
        let (projection, applied_seq) = match engine.store().load_checkpoint(P::NAME)? {
            Some((seq, bytes)) if seq <= head => match P::decode(&bytes) {
                Some(p) => (p, seq),
                None => (empty, 0),
            },
            _ => (empty, 0),
        };
        Ok(Runner { engine: engine.clone(), projection, applied_seq, checkpoint_every: 100_000, since_checkpoint: 0 })
    }

    /// Sets how many events pass between automatic checkpoints.
    pub fn checkpoint_every(mut self, events: u64) -> Self {
        self.checkpoint_every = events.max(1);
        self
    }

    /// Applies every durable event after the last applied one; returns the
    /// new position.
    pub fn catch_up(&mut self) -> Result<u64, EngineError> {
        for entry in self.engine.events_from(self.applied_seq + 1) {
            let entry = entry?;
            self.projection.apply(&entry.rec);
            self.applied_seq = entry.rec.seq;
            self.since_checkpoint += 1;
            if self.since_checkpoint >= self.checkpoint_every {
                self.checkpoint()?;
            }
        }
        Ok(self.applied_seq)
    }

    /// Waits up to `timeout` for new events, then catches up.
    pub fn follow(&mut self, timeout: Duration) -> Result<u64, EngineError> {
        self.engine.subscribe().wait_beyond(self.applied_seq, timeout);
        self.catch_up()
    }

    /// Persists the state with its position (flushed).
    pub fn checkpoint(&mut self) -> Result<(), EngineError> {
        self.engine.store().save_checkpoint(P::NAME, self.applied_seq, &self.projection.encode())?;
        self.since_checkpoint = 0;
        Ok(())
    }

    /// The projection's state.
    pub fn state(&self) -> &P {
        &self.projection
    }

    /// The last applied sequence number.
    pub fn applied_seq(&self) -> u64 {
        self.applied_seq
    }
}

/// A small projection used by hosts and tests: events per command kind and
/// the net amount posted to GPAs. Its checkpoint is a text form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Count per event kind.
    pub by_kind: std::collections::BTreeMap<String, u64>,
    /// Net cents posted to all GPAs.
    pub gpa_net_cents: i64,
}

impl Projection for EventCounts {
    const NAME: &'static str = "event_counts.v1";

    fn apply(&mut self, rec: &Recorded) {
        *self.by_kind.entry(rec.fact.event.kind().to_string()).or_default() += 1;
        for p in cardledger_domain::event::postings(&rec.fact.event) {
            if let cardledger_domain::event::Account::Gpa(_) = p.account {
                self.gpa_net_cents = self.gpa_net_cents.saturating_add(p.amount.cents());
            }
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut s = format!("{}\n", self.gpa_net_cents);
        for (k, v) in &self.by_kind {
            s.push_str(&format!("{k} {v}\n"));
        }
        s.into_bytes()
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        let gpa_net_cents = lines.next()?.parse().ok()?;
        let mut by_kind = std::collections::BTreeMap::new();
        for l in lines {
            let (k, v) = l.split_once(' ')?;
            by_kind.insert(k.to_string(), v.parse().ok()?);
        }
        Some(EventCounts { by_kind, gpa_net_cents })
    }
}
