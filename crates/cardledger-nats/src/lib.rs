//! The cardledger log on a replicated NATS JetStream cluster.
//!
//! One stream per program (`cardledger-<program>`, subject
//! `cardledger.<program>`, file storage, 3 replicas in production); each
//! message is one frame of `docs/format.md` (the bytes the sled store
//! keeps), so stream sequence = frame order. A group commit is one atomic
//! batch conditional on the stream's last message
//! (`Nats-Expected-Last-Sequence` on its first message): all of it is
//! stored or none, and a second writer of the same program is refused with
//! [`NatsLogError::Fenced`]. Frames close at `NATS_FRAME_FILL_BYTES`
//! (96 KiB, as on sled: larger messages measured no cheaper for the
//! servers; `JetStreamLog::with_frame_fill` chooses another). `Nats-Msg-Id` (the frame's chain hash, a blake3 of all its
//! bytes: its position and content) lets the server drop a transport retry; an append
//! whose answer is lost is settled by reading the stream back, never by
//! guessing. Every read and subscription checks each frame with the core's
//! decoder and chains it to a known head, failing closed with
//! [`NatsLogError::Corrupt`] naming the seq and the message.
//!
//! The API is blocking (like the sled store's); a [`Cluster`] owns the
//! connection and a small tokio runtime shared by its programs' logs.
//! How to run it and what differs from the sled store: `docs/scale-out.md`.

mod chain;
pub mod error;
pub mod log;
pub mod testing;

pub use error::NatsLogError;
pub use log::{parse_urls, store_error, stream_names, Cluster, JetStreamLog, ReadIter, Subscription};
