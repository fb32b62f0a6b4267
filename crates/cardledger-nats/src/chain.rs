//! `ChainCheck`: verifies a stream's messages as frames, in order, against
//! the hash chain from a known head (the anchor), with the core's own
//! frame decoder (`record::visit_frame`): every record's crc, every seq,
//! each frame's `prev_hash` linking to the record before it.

use cardledger_core::record::{peek_first_seq, visit_frame, Head, StoredRecord};

use crate::error::NatsLogError;

/// The state of a verified read: the anchor it started from and the last
/// record verified.
#[derive(Debug)]
pub(crate) struct ChainCheck {
    stream: String,
    anchor: Head,
    /// The last verified record (the anchor until the first frame).
    last: Head,
    /// Whether the frame holding the anchor's successor was seen.
    anchored: bool,
    /// Whether the anchor's hash is known (else the first frame's own
    /// chain is taken as it is, like the sled store's `read_from`).
    anchor_hash_known: bool,
}

impl ChainCheck {
    /// A check that trusts `anchor` (genesis, or a head recorded by a
    /// checkpoint or a snapshot) and emits only records after it.
    pub(crate) fn new(stream: &str, anchor: Head) -> ChainCheck {
        ChainCheck { stream: stream.to_owned(), anchor, last: anchor, anchored: false, anchor_hash_known: true }
    }

    /// A check from the record after `seq` whose hash is not known (a read
    /// from a seq, as the sled store's `read_from`): the frame holding it
    /// is checked on its own (crc of every record, its seqs) and chained
    /// from there on; seq 0 is genesis, whose hash is known.
    pub(crate) fn from_seq(stream: &str, seq: u64) -> ChainCheck {
        let anchor = Head { seq, hash: if seq == 0 { Head::GENESIS.hash } else { [0; 32] } };
        ChainCheck { anchor_hash_known: seq == 0, ..ChainCheck::new(stream, anchor) }
    }

    /// The last verified record.
    pub(crate) fn last(&self) -> Head {
        self.last
    }

    /// Checks the frame in message `stream_seq` and returns its records
    /// after the anchor; nothing of a frame that fails is returned.
    pub(crate) fn frame(&mut self, stream_seq: u64, bytes: &[u8]) -> Result<Vec<StoredRecord>, NatsLogError> {
        let want = self.last.seq.saturating_add(1);
        let corrupt =
            |seq: u64, reason: String| NatsLogError::Corrupt { stream: self.stream.clone(), stream_seq, seq, reason };
        let key = peek_first_seq(bytes).ok_or_else(|| corrupt(want, "message shorter than a frame header".into()))?;
        if self.anchored {
            if key != want {
                return Err(corrupt(want, format!("frame starts at seq {key}, the chain continues at {want}")));
            }
        } else if key > want {
            return Err(corrupt(want, format!("frame starts at seq {key}, after the anchor's successor {want}")));
        }
        let anchor = self.anchor;
        let check_anchor = self.anchor_hash_known;
        let mut out = Vec::new();
        let mut anchor_seen = key == want;
        let mut last = self.last;
        let header = visit_frame(key, bytes, |v| {
            if v.seq == anchor.seq && !check_anchor {
                anchor_seen = true;
                last = Head { seq: v.seq, hash: v.hash };
            } else if v.seq == anchor.seq && !anchor_seen {
                anchor_seen = true;
                if v.hash != anchor.hash {
                    return Err(cardledger_core::record::FrameError::Corrupt {
                        seq: v.seq,
                        reason: "chain hash differs from the anchor's".into(),
                    });
                }
            }
            if v.seq > anchor.seq {
                let hash = v.hash;
                out.push(StoredRecord { seq: v.seq, time_micros: v.time_micros, hash, payload: v.payload.to_vec() });
                last = Head { seq: v.seq, hash };
            }
            Ok(())
        })
        .map_err(|e| NatsLogError::frame(&self.stream, stream_seq, e))?;
        if key == want && (self.anchored || check_anchor) && header.prev_hash != self.last.hash {
            return Err(corrupt(key, "frame's prev_hash breaks the chain".into()));
        }
        // a frame that ends exactly at the anchor only verifies it (a
        // reader or subscriber starting at the head)
        if !anchor_seen || header.last_seq() < anchor.seq {
            return Err(corrupt(want, format!("frame {key}..={} does not continue the anchor", header.last_seq())));
        }
        self.anchored = true;
        self.last = last;
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use cardledger_core::record::{FrameBuilder, NewRecord};

    fn frames(n: usize) -> (Vec<Vec<u8>>, Vec<Head>) {
        // frames of 3 records each, and the head after every record
        let mut out = Vec::new();
        let mut heads = vec![Head::GENESIS];
        let mut head = Head::GENESIS;
        for f in 0..n {
            let mut b = FrameBuilder::new(head);
            for r in 0..3u8 {
                b.push(i64::from(r), &[f as u8, r]).unwrap();
            }
            let batch = b.finish();
            let mut h = head;
            for rec in cardledger_core::record::decode_frame(head.seq + 1, &batch.frames()[0].1).unwrap().records {
                h = Head { seq: rec.seq, hash: rec.hash };
                heads.push(h);
            }
            head = h;
            assert_eq!(head, batch.head());
            out.push(batch.frames()[0].1.clone());
        }
        let _ = NewRecord { time_micros: 0, payload: b"" };
        (out, heads)
    }

    #[test]
    fn a_chain_verifies_from_genesis_and_from_any_anchor() {
        let (fs, heads) = frames(4);
        let mut c = ChainCheck::new("s", Head::GENESIS);
        let mut seqs = Vec::new();
        for (i, f) in fs.iter().enumerate() {
            seqs.extend(c.frame(i as u64 + 1, f).unwrap().into_iter().map(|r| r.seq));
        }
        assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
        assert_eq!(c.last(), heads[12]);
        // anchored mid-frame (seq 5 is in frame 2: seqs 4..=6)
        let mut c = ChainCheck::new("s", heads[5]);
        let got: Vec<u64> = c.frame(2, &fs[1]).unwrap().into_iter().map(|r| r.seq).collect();
        assert_eq!(got, vec![6]);
        assert_eq!(c.frame(3, &fs[2]).unwrap().len(), 3);
        // anchored at a frame's end: that frame verifies it, gives nothing
        let mut c = ChainCheck::new("s", heads[6]);
        assert_eq!(c.frame(3, &fs[2]).unwrap()[0].seq, 7);
        let mut c = ChainCheck::new("s", heads[6]);
        assert!(c.frame(2, &fs[1]).unwrap().is_empty());
        assert_eq!(c.frame(3, &fs[2]).unwrap()[0].seq, 7);
        let e = ChainCheck::new("s", Head { seq: 6, hash: [3; 32] }).frame(2, &fs[1]).unwrap_err();
        assert!(matches!(e, NatsLogError::Corrupt { seq: 6, .. }), "{e:?}");
        // a frame that ends before the anchor does not continue it
        let e = ChainCheck::new("s", heads[7]).frame(2, &fs[1]).unwrap_err();
        assert!(matches!(e, NatsLogError::Corrupt { seq: 8, .. }), "{e:?}");
    }

    #[test]
    fn a_wrong_anchor_a_gap_a_repeat_and_a_flipped_byte_fail_naming_the_seq() {
        let (fs, heads) = frames(3);
        let wrong = Head { seq: 5, hash: [9; 32] };
        let e = ChainCheck::new("s", wrong).frame(2, &fs[1]).unwrap_err();
        assert!(matches!(e, NatsLogError::Corrupt { seq: 5, stream_seq: 2, .. }), "{e:?}");
        let wrong = Head { seq: 3, hash: [9; 32] };
        let e = ChainCheck::new("s", wrong).frame(2, &fs[1]).unwrap_err();
        assert!(matches!(e, NatsLogError::Corrupt { seq: 4, .. }), "{e:?}");
        let mut c = ChainCheck::new("s", Head::GENESIS);
        c.frame(1, &fs[0]).unwrap();
        let e = c.frame(2, &fs[2]).unwrap_err();
        assert!(matches!(e, NatsLogError::Corrupt { seq: 4, .. }), "{e:?}");
        let e = c.frame(2, &fs[0]).unwrap_err();
        assert!(matches!(e, NatsLogError::Corrupt { seq: 4, .. }), "{e:?}");
        assert_eq!(c.last(), heads[3]);
        for i in 0..fs[1].len() {
            let mut b = fs[1].clone();
            b[i] ^= 0x20;
            let mut c = ChainCheck::new("s", heads[3]);
            assert!(c.frame(2, &b).is_err(), "byte {i}");
            assert_eq!(c.last(), heads[3]);
        }
    }
}
