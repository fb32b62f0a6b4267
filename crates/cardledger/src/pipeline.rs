//! `Cardledger::ingest`: bounded input lines to answer lines in three
//! stages, so parsing, deciding, flushing and writing overlap:
//!
//! 1. a reader thread reads and parses lines into chunks of
//!    [`INGEST_CHUNK_LINES`] (`ingest::Parsed`);
//! 2. [`INGEST_CHUNKS_IN_FLIGHT`] decider threads take turns: the one whose
//!    turn it is takes the next chunk and submits its commands (to the
//!    engine, or through a host's router); its turn ends once the engine
//!    has queued them (`Engine::submit_in_batches_queued`), and it waits
//!    until they are durable while the next decider submits the next chunk,
//!    so chunk N+1 is decided while chunk N flushes, its seqs after N's
//!    (`decide_all`);
//! 3. the calling thread renders each decided chunk's answer lines into one
//!    reused buffer, written to the output whenever it holds
//!    [`INGEST_ANSWER_PIECE_BYTES`] (`Decided::write_answers_to`), the
//!    chunks in input order (each decider, in its turn, queues a receiver
//!    of its chunk's outcome for the writer).
//!
//! Each hand-over is a bounded channel of [`INGEST_PIPELINE_CHUNKS`]
//! chunks, so memory stays bounded however long the input is; a written
//! chunk goes back to the reader thread to be dropped there (see
//! [`write_all`]), or is dropped by the writer should that channel be full
//! or gone. Nothing is answered before its batch is durable (stage 3 only
//! sees what stage 2 got back from the engine), and answers keep input
//! order. The first failed chunk ends the run with its error: no later
//! chunk's answer is written (a later chunk already submitted fails too
//! should the engine be poisoned). A read error stops the run where it
//! happened, as before: the chunk it interrupted is not submitted. On any
//! error the run returns only once its deciders have ended: a submission
//! under way is flushed first, and none begins after (the reader, which
//! may be blocked on its input, is left to end at its next send).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cardledger_core::engine::{EngineError, Outcome};
use cardledger_core::ingest::{self, Decided, Parsed};
use cardledger_domain::command::CommandLine;
use cardledger_domain::limits::{INGEST_ANSWER_PIECE_BYTES, INGEST_CHUNKS_IN_FLIGHT, INGEST_STOP_POLL_MS};

use crate::lines::{LineRef, LineSource};
use crate::{Error, Tally, INGEST_CHUNK_LINES};

/// Chunks in flight between two stages (beside the one each stage holds).
pub(crate) const INGEST_PIPELINE_CHUNKS: usize = 1;

/// Written chunks on their way back to the reader thread (see [`write_all`]).
const WRITTEN_CHUNKS_BACK: usize = 2;

/// How stage 2 submits a chunk's commands: one outcome per command, in
/// order, once durable (`Engine::submit_in_batches_queued`, or a router's),
/// calling the second argument once they are queued, if it can tell (else
/// the decider's turn ends when this returns). Owned by the decider
/// threads, which [`run`] joins before it returns, on an error too: no
/// call is under way or begins once the caller has the run's result.
pub(crate) type Submit =
    Arc<dyn Fn(Vec<CommandLine>, &mut dyn FnMut()) -> Result<Vec<Outcome>, EngineError> + Send + Sync>;

/// The parsed chunks, taken by the decider whose turn it is.
type Turn = Mutex<Receiver<std::io::Result<Parsed>>>;

/// One chunk's outcome, for the writer.
type Answer = Receiver<Result<Decided, Error>>;

/// Runs the three stages (see the module documentation).
pub(crate) fn run(
    submit: Submit,
    lines: impl LineSource,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Tally, Error> {
    let (parsed_tx, parsed_rx) = sync_channel(INGEST_PIPELINE_CHUNKS);
    let (written_tx, written_rx) = sync_channel(WRITTEN_CHUNKS_BACK);
    // the reader is not joined on an error: it ends at its next send, once
    // the receiving side is gone (a blocked read of stdin must not hold the
    // answer to an engine or output error); the deciders are, once stopped
    let reader = std::thread::Builder::new()
        .name("ingest-parse".into())
        .spawn(move || read_and_parse(lines, &parsed_tx, &written_rx))
        .map_err(Error::Input)?;
    let turn = Arc::new(Mutex::new(parsed_rx));
    let (answers_tx, answers_rx) = sync_channel(INGEST_PIPELINE_CHUNKS);
    let stop = Arc::new(AtomicBool::new(false));
    let mut deciders = Vec::with_capacity(INGEST_CHUNKS_IN_FLIGHT);
    for i in 0..INGEST_CHUNKS_IN_FLIGHT {
        let (submit, turn, answers, stopped) = (submit.clone(), turn.clone(), answers_tx.clone(), stop.clone());
        let decider = std::thread::Builder::new()
            .name(format!("ingest-decide-{i}"))
            .spawn(move || decide_all(&submit, &turn, &answers, &stopped));
        match decider {
            Ok(d) => deciders.push(d),
            Err(e) => {
                stop.store(true, Ordering::SeqCst);
                join_deciders(deciders);
                return Err(Error::Input(e));
            }
        }
    }
    // the writer's channel closes once every decider is done
    drop(answers_tx);
    let written = write_all(answers_rx, out, progress, &written_tx);
    // on an error the deciders stop at their next chunk (a submit under way
    // ends first); at the input's end they saw the channel close
    if written.is_err() {
        stop.store(true, Ordering::SeqCst);
    }
    join_deciders(deciders);
    let tally = written?;
    if reader.join().is_err() {
        unreachable!("the ingest reader thread panicked");
    }
    Ok(tally)
}

/// Waits for every decider thread to end.
fn join_deciders(deciders: Vec<std::thread::JoinHandle<()>>) {
    if deciders.into_iter().any(|d| d.join().is_err()) {
        unreachable!("an ingest decider thread panicked");
    }
}

/// Stage 1: reads and parses (each line borrowed from the source while it
/// is parsed); sends each full chunk, then the last one. Before each chunk
/// it drops the chunks the writer has handed back.
fn read_and_parse(mut lines: impl LineSource, tx: &SyncSender<std::io::Result<Parsed>>, written: &Receiver<Decided>) {
    let mut chunk = Parsed::new(1, INGEST_CHUNK_LINES);
    loop {
        let read = lines.read_line(|line| match line {
            LineRef::Text(t) => chunk.push_line(t),
            LineRef::Rejected(r) => chunk.push_rejected(r),
        });
        match read {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                let _ = tx.send(Err(e));
                return;
            }
            None => break,
        }
        if chunk.len() == INGEST_CHUNK_LINES {
            let next = Parsed::new(chunk.next_line(), INGEST_CHUNK_LINES);
            if tx.send(Ok(std::mem::replace(&mut chunk, next))).is_err() {
                return;
            }
            written.try_iter().for_each(drop);
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(Ok(chunk));
    }
}

/// Stage 2, on each decider thread: in its turn, takes the next chunk and
/// queues a receiver of its outcome for the writer, then submits it; the
/// turn ends once the engine has queued its commands (or once submitted),
/// and the outcome is passed on once durable. Stops at the first error
/// (after passing it on), at the end of the input, or when the writer is
/// gone, or once the run is stopped (checked while it waits for a chunk,
/// every `INGEST_STOP_POLL_MS`, and before it submits one).
fn decide_all(submit: &Submit, turn: &Turn, answers: &SyncSender<Answer>, stop: &AtomicBool) {
    let poll = Duration::from_millis(INGEST_STOP_POLL_MS);
    loop {
        let taken = turn.lock().unwrap_or_else(PoisonError::into_inner);
        let parsed = loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            match taken.recv_timeout(poll) {
                Ok(parsed) => break parsed,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let (tx, rx) = sync_channel(1);
        if answers.send(rx).is_err() {
            return;
        }
        let mut taken = Some(taken);
        let decided = match parsed {
            Ok(p) => {
                ingest::decide_with(p, |commands| submit(commands, &mut || drop(taken.take()))).map_err(Error::from)
            }
            Err(e) => Err(Error::Input(e)),
        };
        drop(taken);
        let failed = decided.is_err();
        // its own channel of one: never blocks (the writer may be gone)
        let _ = tx.send(decided);
        if failed {
            return;
        }
    }
}

/// Stage 3: writes the answer lines of each chunk in order, then hands the
/// chunk to the reader thread to drop. Most of a chunk's memory is the
/// commands' strings, which the reader thread allocated: freed there, they
/// go back to its own heap pages; freed here, each was a cross-thread free
/// (≈ 1,900 instructions a line, a quarter of this thread's work, measured
/// with callgrind: docs/performance.md, "the JSON path, ninth pass").
fn write_all(
    rx: Receiver<Answer>,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
    written: &SyncSender<Decided>,
) -> Result<Tally, Error> {
    let mut tally = Tally::default();
    // a piece ends at the end of the line that reached the piece size
    let mut buf = Vec::with_capacity(2 * INGEST_ANSWER_PIECE_BYTES);
    for answer in rx {
        // a decider that is gone without an answer failed to send it: impossible
        let Ok(decided) = answer.recv() else { unreachable!("an ingest decider dropped a chunk's answer") };
        let decided = decided?;
        let output = |source| Error::Output { what: "answers".into(), source };
        decided.write_answers_to(&mut buf, INGEST_ANSWER_PIECE_BYTES, out).map_err(output)?;
        let c = decided.counts();
        tally.lines += decided.len() as u64;
        tally.recorded += c.recorded;
        tally.duplicates += c.duplicates;
        tally.rejected += c.rejected;
        progress(decided.len() as u64);
        // a full channel (the reader is blocked on its next send) or a
        // finished reader: drop it here
        let _ = written.try_send(decided);
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc::{channel, Sender};
    use std::time::Duration;

    use cardledger_domain::rejection::{Code, Rejection};

    use super::*;
    use crate::lines::Line;

    /// How long a held chunk waits for the next one to be submitted: only
    /// reached when chunks are not in flight together (the test then fails).
    const PATIENCE: Duration = Duration::from_secs(20);

    /// A command line that parses (the fake submitter never decides it).
    const COMMAND: &str = r#"{"program":{"token":"p3","bank":"Sutton","currency_code":"USD"}}"#;

    /// A submitter answering every command with a rejection, which holds
    /// its call `held` (0-based) until call `held + 1` has begun, then
    /// fails it if `fail`; `overlapped` says whether that happened.
    fn holding(held: usize, fail: bool, overlapped: Arc<AtomicBool>) -> Submit {
        let calls = AtomicUsize::new(0);
        let (began_tx, began_rx) = channel::<usize>();
        let (began_tx, began_rx): (Mutex<Sender<usize>>, Mutex<Receiver<usize>>) =
            (Mutex::new(began_tx), Mutex::new(began_rx));
        Arc::new(move |commands: Vec<CommandLine>, on_queued: &mut dyn FnMut()| {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            on_queued();
            let _ = began_tx.lock().unwrap().send(call);
            if call == held {
                let began = began_rx.lock().unwrap();
                while let Ok(c) = began.recv_timeout(PATIENCE) {
                    if c == held + 1 {
                        overlapped.store(true, Ordering::SeqCst);
                        break;
                    }
                }
                if fail {
                    return Err(EngineError::Poisoned);
                }
            }
            Ok(commands.iter().map(|_| Outcome::Rejected(Rejection::new(Code::MalformedJson, "", "fake"))).collect())
        })
    }

    /// Runs the pipeline on `n` command lines; the result, and the line
    /// numbers of the answers written.
    fn ingest(submit: Submit, n: usize) -> (Result<Tally, Error>, Vec<u64>) {
        let lines = (0..n).map(|_| Ok(Line::Text(COMMAND.to_string()))).collect::<Vec<_>>().into_iter();
        let mut out = Vec::new();
        let result = run(submit, lines, &mut out, &mut |_| {});
        let numbers = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["line"].as_u64().unwrap())
            .collect();
        (result, numbers)
    }

    #[test]
    fn the_next_chunk_is_submitted_while_one_is_in_flight_and_answers_keep_input_order() {
        let overlapped = Arc::new(AtomicBool::new(false));
        // the first chunk is answered after the second: written first all the same
        let n = 3 * INGEST_CHUNK_LINES + 5;
        let (result, numbers) = ingest(holding(0, false, overlapped.clone()), n);
        assert!(overlapped.load(Ordering::SeqCst), "chunk 2 was not submitted while chunk 1 was in flight");
        assert_eq!(result.unwrap().lines, n as u64);
        assert_eq!(numbers, (1..=n as u64).collect::<Vec<_>>());
    }

    /// An output that fails at its first write.
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("broken output"))
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// An output error ends the run only once no submission is under way:
    /// the chunk a decider was submitting when the writer failed is flushed
    /// first, and no chunk is submitted after the caller has the error.
    #[test]
    fn a_run_that_fails_returns_once_no_chunk_is_being_submitted() {
        let (active, calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (a, c) = (active.clone(), calls.clone());
        // each submission takes a while, as a flush does, its turn given up at once
        let submit: Submit = Arc::new(move |commands: Vec<CommandLine>, on_queued: &mut dyn FnMut()| {
            a.fetch_add(1, Ordering::SeqCst);
            c.fetch_add(1, Ordering::SeqCst);
            on_queued();
            std::thread::sleep(Duration::from_millis(300));
            a.fetch_sub(1, Ordering::SeqCst);
            Ok(commands.iter().map(|_| Outcome::Rejected(Rejection::new(Code::MalformedJson, "", "fake"))).collect())
        });
        let lines = (0..6 * INGEST_CHUNK_LINES).map(|_| Ok(Line::Text(COMMAND.to_string()))).collect::<Vec<_>>();
        let result = run(submit, lines.into_iter(), &mut Broken, &mut |_| {});
        assert!(matches!(result, Err(Error::Output { .. })), "{result:?}");
        assert_eq!(active.load(Ordering::SeqCst), 0, "a chunk was still being submitted when the run returned");
        let submitted = calls.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(calls.load(Ordering::SeqCst), submitted, "a chunk was submitted after the run returned");
        assert!(submitted < 6, "every chunk was submitted despite the error: {submitted}");
    }

    /// A run whose output fails returns even while its input is blocked
    /// (as stdin may be): a decider waiting for the next chunk sees the
    /// stop, the reader is left to end at its next send.
    #[test]
    fn a_run_that_fails_returns_while_its_input_is_blocked() {
        let (hold_tx, hold_rx) = channel::<()>();
        let mut read = 0;
        let lines = std::iter::from_fn(move || {
            read += 1;
            if read <= INGEST_CHUNK_LINES {
                return Some(Ok(Line::Text(COMMAND.to_string())));
            }
            // the input blocks until the test ends
            let _ = hold_rx.recv();
            None
        });
        let submit: Submit = Arc::new(|commands: Vec<CommandLine>, on_queued: &mut dyn FnMut()| {
            on_queued();
            Ok(commands.iter().map(|_| Outcome::Rejected(Rejection::new(Code::MalformedJson, "", "fake"))).collect())
        });
        let (done_tx, done_rx) = channel();
        std::thread::spawn(move || {
            let _ = done_tx.send(run(submit, lines, &mut Broken, &mut |_| {}));
        });
        let result = done_rx.recv_timeout(PATIENCE).expect("the run did not return while its input was blocked");
        assert!(matches!(result, Err(Error::Output { .. })), "{result:?}");
        drop(hold_tx);
    }

    #[test]
    fn a_failed_chunk_ends_the_run_before_the_answers_of_the_next_one_in_flight() {
        let overlapped = Arc::new(AtomicBool::new(false));
        // chunk 2 fails after chunk 3 was submitted (and answered)
        let (result, numbers) = ingest(holding(1, true, overlapped.clone()), 4 * INGEST_CHUNK_LINES);
        assert!(overlapped.load(Ordering::SeqCst), "chunk 3 was not submitted while chunk 2 was in flight");
        assert!(matches!(result, Err(Error::Engine(EngineError::Poisoned))), "{result:?}");
        // chunk 1's answers only
        assert_eq!(numbers, (1..=INGEST_CHUNK_LINES as u64).collect::<Vec<_>>());
    }
}
