//! `NatsLogError`: every way the JetStream log refuses or fails, typed, with
//! a stable numeric code (5001xx, beside the engine's 5000xx).

use cardledger_core::record::{FrameError, Head};

/// Why a JetStream log operation failed. Nothing is acknowledged with an
/// error: an append that returns one is not (or not known to be) in the
/// stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NatsLogError {
    /// The program token cannot name a stream (`field` is `program`).
    #[error("program: {reason}")]
    InvalidProgram {
        /// What is wrong with it.
        reason: String,
    },
    /// A bad `nats://` address list (`field` is `log`).
    #[error("log: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// Another writer appended to the stream since this one last knew its
    /// head: the expected-last-sequence check refused the batch. Nothing of
    /// the batch is in the stream; reload ([`crate::JetStreamLog::reload`])
    /// and retry, or stop.
    #[error("fenced: stream {stream} is at message {actual}, this writer expected {expected}")]
    Fenced {
        /// The stream.
        stream: String,
        /// The stream sequence this writer expected to be last.
        expected: u64,
        /// The stream's last sequence as read after the refusal.
        actual: u64,
    },
    /// The caller's expected head is not this log's head.
    #[error("expected head seq {} but the log is at seq {}", expected.seq, actual.seq)]
    HeadMismatch {
        /// What the caller expected.
        expected: Head,
        /// Where the log is.
        actual: Head,
    },
    /// A message fails the frame checks or the hash chain: the log is not
    /// folded past it. `seq` is the first bad record seq (as the core's
    /// frame checks name it), `stream_seq` the message.
    #[error("corrupt log at seq {seq} (stream {stream} message {stream_seq}): {reason}")]
    Corrupt {
        /// The stream.
        stream: String,
        /// The message's stream sequence.
        stream_seq: u64,
        /// First bad record seq.
        seq: u64,
        /// What check failed.
        reason: String,
    },
    /// A batch larger than one atomic batch may be, or a frame limit.
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
    /// The cluster did not answer in time, or an append's outcome could not
    /// be settled: not acknowledged.
    #[error("JetStream unavailable: {0}")]
    Unavailable(String),
    /// The server refused a request with a JetStream API error.
    #[error("JetStream error {err_code} ({code}): {description}")]
    Server {
        /// HTTP-like status.
        code: u64,
        /// JetStream error code.
        err_code: u64,
        /// The server's description.
        description: String,
    },
}

impl NatsLogError {
    /// The stable numeric code of each variant.
    pub fn code(&self) -> u32 {
        match self {
            NatsLogError::InvalidProgram { .. } => 500101,
            NatsLogError::InvalidUrl { .. } => 500102,
            NatsLogError::Fenced { .. } => 500103,
            NatsLogError::HeadMismatch { .. } => 500104,
            NatsLogError::Corrupt { .. } => 500105,
            NatsLogError::TooLarge { .. } => 500106,
            NatsLogError::Unavailable(_) => 500107,
            NatsLogError::Server { .. } => 500108,
        }
    }

    /// A frame error of message `stream_seq` of `stream`, as a typed error.
    pub(crate) fn frame(stream: &str, stream_seq: u64, e: FrameError) -> NatsLogError {
        match e {
            FrameError::Corrupt { seq, reason } => {
                NatsLogError::Corrupt { stream: stream.to_owned(), stream_seq, seq, reason }
            }
            FrameError::TooLarge { what, limit } => NatsLogError::TooLarge { what, limit },
        }
    }
}
