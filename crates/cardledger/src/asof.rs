//! As-of reads: [`AsOf`] says where a read looks (the head, a seq, or a
//! time), [`Cardledger::resolve`] turns it into one [`At`] (a seq and the
//! log's chain hash there) once, and every read then answers at that seq.
//!
//! `as_of_time=T` (RFC 3339) reads at the last event of the log's longest
//! prefix whose events are all recorded at or before `T`: with business
//! times in log order (the usual case) that is the last event at or before
//! `T`; an event back-dated before `T` but recorded after a later one is
//! not read (the log as it stood when it passed `T`). Resolving a time scans
//! the log's frame headers from seq 1 (no event is decoded).

use std::ops::Deref;
use std::sync::RwLockReadGuard;

use serde_json::Value;

use cardledger_core::engine::EngineError;
use cardledger_domain::state::Ledger;
use cardledger_domain::time::Timestamp;

use crate::{Cardledger, Error};

/// Where a read looks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AsOf {
    /// The durable head (the default).
    #[default]
    Head,
    /// After the event with this seq (1 ≤ seq ≤ head).
    Seq(u64),
    /// After the last event recorded at or before this time.
    Time(Timestamp),
}

/// The query keys of an as-of read.
pub const AS_OF_KEYS: [&str; 2] = ["as_of_seq", "as_of_time"];

impl AsOf {
    /// From the texts of `as_of_seq` and `as_of_time` (at most one);
    /// errors name the field.
    pub fn parse(seq: Option<&str>, time: Option<&str>) -> Result<AsOf, Error> {
        match (seq, time) {
            (None, None) => Ok(AsOf::Head),
            (Some(_), Some(_)) => {
                Err(Error::AsOf { field: "as_of_time", message: "give as_of_seq or as_of_time, not both".into() })
            }
            (Some(s), None) => s.parse::<u64>().map(AsOf::Seq).map_err(|_| Error::AsOf {
                field: "as_of_seq",
                message: format!("{:?} is not a whole number", clip(s)),
            }),
            (None, Some(t)) => Timestamp::parse(t).map(AsOf::Time).ok_or_else(|| Error::AsOf {
                field: "as_of_time",
                message: format!("{:?} is not an RFC 3339 time", clip(t)),
            }),
        }
    }

    /// Takes `as_of_seq` / `as_of_time` out of `key=value` pairs (the rest
    /// stay, for the read's own parameters). A repeated key is an error.
    pub fn take_from(pairs: &mut Vec<(String, String)>) -> Result<AsOf, Error> {
        let mut seq = None;
        let mut time = None;
        let mut repeated = None;
        pairs.retain(|(k, v)| {
            let slot = match k.as_str() {
                "as_of_seq" => &mut seq,
                "as_of_time" => &mut time,
                _ => return true,
            };
            if slot.replace(v.clone()).is_some() {
                repeated = Some(if k == "as_of_seq" { "as_of_seq" } else { "as_of_time" });
            }
            false
        });
        if let Some(field) = repeated {
            return Err(Error::AsOf { field, message: "given more than once".into() });
        }
        AsOf::parse(seq.as_deref(), time.as_deref())
    }

    /// True for [`AsOf::Head`].
    pub fn is_head(&self) -> bool {
        matches!(self, AsOf::Head)
    }
}

/// A resolved read position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At {
    /// The seq of the last event read (0: the empty log).
    pub seq: u64,
    /// Hex of the log's chain hash at that seq.
    pub hash: String,
}

impl At {
    /// Adds `as_of_seq` and `as_of_hash` to an answer object (first keys).
    pub fn stamp(&self, v: Value) -> Value {
        match v {
            Value::Object(o) => {
                let mut out = serde_json::Map::with_capacity(o.len() + 2);
                out.insert("as_of_seq".into(), self.seq.into());
                out.insert("as_of_hash".into(), self.hash.clone().into());
                out.extend(o);
                Value::Object(out)
            }
            other => other,
        }
    }
}

/// The ledger state a read uses: the live one (read-locked) at the head, or
/// one rebuilt as of a past seq.
pub enum StateAt<'a> {
    /// The live state.
    Live(RwLockReadGuard<'a, Ledger>),
    /// A state rebuilt by `Engine::state_as_of`.
    Past(Box<Ledger>),
}

impl Deref for StateAt<'_> {
    type Target = Ledger;
    fn deref(&self) -> &Ledger {
        match self {
            StateAt::Live(g) => g,
            StateAt::Past(l) => l,
        }
    }
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

impl Cardledger {
    /// Resolves `as_of` to one seq and its chain hash: a seq beyond the head
    /// (or 0) is an `as_of_seq` error, a time before the first event (or
    /// any time on an empty log) an `as_of_time` one.
    pub fn resolve(&self, as_of: AsOf) -> Result<At, Error> {
        let head = self.engine().store().head();
        match as_of {
            AsOf::Head => Ok(At { seq: head.seq, hash: cardledger_core::record::hex(&head.hash) }),
            AsOf::Seq(seq) => {
                if seq == 0 || seq > head.seq {
                    return Err(Error::AsOf {
                        field: "as_of_seq",
                        message: format!("{seq} is outside the log: its events are 1 to {}", head.seq),
                    });
                }
                self.at(seq)
            }
            AsOf::Time(t) => {
                let mut last: Option<(u64, [u8; 32])> = None;
                for r in self.engine().store().read_from(1) {
                    let r = r.map_err(EngineError::from)?;
                    if r.time_micros > t.0 || r.seq > head.seq {
                        break;
                    }
                    last = Some((r.seq, r.hash));
                }
                match last {
                    Some((seq, hash)) => Ok(At { seq, hash: cardledger_core::record::hex(&hash) }),
                    None => Err(Error::AsOf {
                        field: "as_of_time",
                        message: match self.engine().event(1)? {
                            Some(first) => format!("{t} is before the first event ({})", first.rec.time),
                            None => "the log has no events".into(),
                        },
                    }),
                }
            }
        }
    }

    /// The read position of a seq that exists (0: the empty log's genesis).
    pub(crate) fn at(&self, seq: u64) -> Result<At, Error> {
        if seq == 0 {
            return Ok(At { seq: 0, hash: cardledger_core::record::hex(&cardledger_core::record::GENESIS_HASH) });
        }
        match self.engine().store().read_from(seq).next() {
            Some(r) => {
                let r = r.map_err(EngineError::from)?;
                Ok(At { seq: r.seq, hash: cardledger_core::record::hex(&r.hash) })
            }
            None => Err(Error::AsOf { field: "as_of_seq", message: format!("{seq} is not in the log") }),
        }
    }

    /// The ledger state at `at`: the live state when it is still at that
    /// seq, else `Engine::state_as_of` (the newest kept snapshot at or
    /// below the seq with the cold runs written by then, then the log
    /// replayed up to it; read-only).
    pub fn state_at(&self, at: &At) -> Result<StateAt<'_>, Error> {
        let live = self.engine().state();
        if live.head_seq == at.seq {
            return Ok(StateAt::Live(live));
        }
        drop(live);
        Ok(StateAt::Past(Box::new(self.engine().state_as_of(at.seq)?)))
    }
}
