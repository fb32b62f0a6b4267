//! `Cardledger::ingest`: bounded input lines to answer lines in three
//! stages on three threads, so parsing, deciding and writing overlap:
//!
//! 1. a reader thread reads and parses lines into chunks of
//!    [`INGEST_CHUNK_LINES`] (`ingest::Parsed`);
//! 2. a decider thread submits each chunk's commands (to the engine, or
//!    through a host's router) and waits until they are durable
//!    (`ingest::decide_with`);
//! 3. the calling thread writes each decided chunk's answer lines into one
//!    reused buffer and then to the output (`Decided::write_answers`).
//!
//! Each hand-over is a bounded channel of [`INGEST_PIPELINE_CHUNKS`]
//! chunks, so memory stays bounded however long the input is; a written
//! chunk goes back to the reader thread to be dropped there (see
//! [`write_all`]), or is dropped by the writer should that channel be full
//! or gone. Nothing is answered before its batch is durable (stage 3 only
//! sees what stage 2 got back from the engine), and answers keep input
//! order (one chunk at a time, in order, through each stage). A read error stops the run where
//! it happened, as before: the chunk it interrupted is not submitted.

use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use cardledger_core::engine::{EngineError, Outcome};
use cardledger_core::ingest::{self, Decided, Parsed};
use cardledger_domain::command::CommandLine;

use crate::lines::{LineRef, LineSource};
use crate::{Error, Tally, INGEST_CHUNK_LINES};

/// Chunks in flight between two stages (beside the one each stage holds).
pub(crate) const INGEST_PIPELINE_CHUNKS: usize = 1;

/// Written chunks on their way back to the reader thread (see [`write_all`]).
const WRITTEN_CHUNKS_BACK: usize = 2;

/// How stage 2 submits a chunk's commands: one outcome per command, in
/// order, once durable (`Engine::submit_in_batches`, or a router's).
pub(crate) type Submit<'a> = &'a (dyn Fn(Vec<CommandLine>) -> Result<Vec<Outcome>, EngineError> + Sync);

/// Runs the three stages (see the module documentation).
pub(crate) fn run(
    submit: Submit<'_>,
    lines: impl LineSource,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Tally, Error> {
    let (parsed_tx, parsed_rx) = sync_channel(INGEST_PIPELINE_CHUNKS);
    let (written_tx, written_rx) = sync_channel(WRITTEN_CHUNKS_BACK);
    // not joined on an error: it ends at its next send, once the
    // receiving side is gone (a blocked read of stdin must not hold the
    // answer to an engine or output error)
    let reader = std::thread::Builder::new()
        .name("ingest-parse".into())
        .spawn(move || read_and_parse(lines, &parsed_tx, &written_rx))
        .map_err(Error::Input)?;
    let tally = std::thread::scope(|s| -> Result<Tally, Error> {
        let (decided_tx, decided_rx) = sync_channel(INGEST_PIPELINE_CHUNKS);
        std::thread::Builder::new()
            .name("ingest-decide".into())
            .spawn_scoped(s, move || decide_all(submit, parsed_rx, &decided_tx))
            .map_err(Error::Input)?;
        write_all(decided_rx, out, progress, &written_tx)
    })?;
    // the input ended (the decider saw the channel close): join the reader
    if reader.join().is_err() {
        unreachable!("the ingest reader thread panicked");
    }
    Ok(tally)
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

/// Stage 2: submits each chunk and passes on its outcomes; stops at the
/// first error (after passing it on) or when the writer is gone.
fn decide_all(submit: Submit<'_>, rx: Receiver<std::io::Result<Parsed>>, tx: &SyncSender<Result<Decided, Error>>) {
    for parsed in rx {
        let decided = match parsed {
            Ok(p) => ingest::decide_with(p, submit).map_err(Error::from),
            Err(e) => Err(Error::Input(e)),
        };
        let failed = decided.is_err();
        if tx.send(decided).is_err() || failed {
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
    rx: Receiver<Result<Decided, Error>>,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
    written: &SyncSender<Decided>,
) -> Result<Tally, Error> {
    let mut tally = Tally::default();
    let mut buf = Vec::with_capacity(1 << 22);
    for decided in rx {
        let decided = decided?;
        buf.clear();
        let output = |source| Error::Output { what: "answers".into(), source };
        decided.write_answers(&mut buf).map_err(output)?;
        out.write_all(&buf).map_err(output)?;
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
