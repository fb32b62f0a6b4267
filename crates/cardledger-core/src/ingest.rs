//! JSON-lines ingestion: the answer lines of `cardledger ingest`
//! (product.md §7). Lines are parsed, the valid ones submitted as one batch,
//! and every line answered in order once the batch is durable.
//!
//! The work is in three steps a host can run on different threads (the
//! facade's `Cardledger::ingest` pipelines them): [`Parsed::push_line`]
//! (parse, no engine), [`decide`] (submit the chunk's commands as one batch
//! and wait for it to be durable) and [`Decided::write_answers`] (the answer
//! lines, written straight into a byte buffer). [`ingest_chunk`] runs the
//! three in a row and returns the answers as JSON values; both give the same
//! bytes (`tests/ingest.rs` checks it).

use std::io::Write;

use serde_json::{json, Value};

use cardledger_domain::command::CommandLine;
use cardledger_domain::rejection::Rejection;
use cardledger_domain::response::{self, Response};
use cardledger_domain::wire;

use crate::engine::{Engine, EngineError, Outcome};

/// A chunk of input lines, parsed: numbered from `first_line` (1-based),
/// each line either a command to submit (in order) or its rejection.
#[derive(Debug)]
pub struct Parsed {
    first_line: u64,
    /// Per line: `None` for the next command of `commands`, else the rejection.
    slots: Vec<Option<Rejection>>,
    commands: Vec<CommandLine>,
}

impl Parsed {
    /// An empty chunk whose first line will be `first_line`.
    pub fn new(first_line: u64, capacity: usize) -> Parsed {
        Parsed { first_line, slots: Vec::with_capacity(capacity), commands: Vec::with_capacity(capacity) }
    }

    /// Parses one line (without its terminator) into the chunk. An empty
    /// or whitespace-only line gets a 1001 rejection, so answers line up
    /// with input lines.
    pub fn push_line(&mut self, text: &str) {
        match wire::parse_line(text) {
            Ok(cmd) => {
                self.slots.push(None);
                self.commands.push(cmd);
            }
            Err(r) => self.slots.push(Some(r)),
        }
    }

    /// Adds a line rejected before parsing (too long, not UTF-8).
    pub fn push_rejected(&mut self, r: Rejection) {
        self.slots.push(Some(r));
    }

    /// Lines in the chunk.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the chunk has no line.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The line number after the chunk's last line.
    pub fn next_line(&self) -> u64 {
        self.first_line + self.slots.len() as u64
    }
}

/// A decided chunk: every command's outcome, durable.
#[derive(Debug)]
pub struct Decided {
    first_line: u64,
    slots: Vec<Option<Rejection>>,
    outcomes: Vec<Outcome>,
}

/// How a chunk's lines were answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Commands recorded.
    pub recorded: u64,
    /// Repeats of recorded commands.
    pub duplicates: u64,
    /// Lines rejected.
    pub rejected: u64,
}

/// Submits a parsed chunk's commands (in batches of at most
/// `BATCH_RECORDS_MAX`: a chunk is not an atomic unit) and returns once they
/// are durable.
pub fn decide(engine: &Engine, parsed: Parsed) -> Result<Decided, EngineError> {
    decide_with(parsed, |commands| engine.submit_in_batches(commands))
}

/// [`decide`] through any submitter answering one outcome per command, in
/// order, once durable (a host of several programs routes them).
pub fn decide_with(
    parsed: Parsed,
    submit: impl FnOnce(Vec<CommandLine>) -> Result<Vec<Outcome>, EngineError>,
) -> Result<Decided, EngineError> {
    let Parsed { first_line, slots, commands } = parsed;
    let expected = commands.len();
    let outcomes = submit(commands)?;
    // every command is answered, in order
    assert_eq!(outcomes.len(), expected, "the engine answered {} of {expected} commands", outcomes.len());
    Ok(Decided { first_line, slots, outcomes })
}

impl Decided {
    /// Lines in the chunk.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the chunk has no line.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// How the chunk's lines were answered.
    pub fn counts(&self) -> Counts {
        let mut c = Counts { rejected: self.slots.iter().filter(|s| s.is_some()).count() as u64, ..Counts::default() };
        for o in &self.outcomes {
            match o {
                Outcome::Recorded { .. } => c.recorded += 1,
                Outcome::Duplicate { .. } => c.duplicates += 1,
                Outcome::Rejected(_) => c.rejected += 1,
            }
        }
        c
    }

    /// Appends the chunk's answer lines (each ending in `\n`) to `out`: the
    /// bytes of `serde_json::to_writer` on [`ingest_chunk`]'s values.
    pub fn write_answers(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        self.render_answers(out, |_| Ok(()))
    }

    /// Writes the chunk's answer lines (the bytes of [`Decided::write_answers`])
    /// to `out` in pieces: rendered into `buf` (cleared first), which is
    /// written out and cleared whenever it holds `piece_bytes` or more, and
    /// once more at the end (if not empty). A piece ends at a line's end.
    /// Small pieces are still in the cache when `out` copies them (the
    /// pipeline's piece: `INGEST_ANSWER_PIECE_BYTES`). An error writing
    /// ends the call; the pieces before it are written.
    pub fn write_answers_to(&self, buf: &mut Vec<u8>, piece_bytes: usize, out: &mut dyn Write) -> std::io::Result<()> {
        buf.clear();
        self.render_answers(buf, |buf| {
            if buf.len() >= piece_bytes {
                out.write_all(buf)?;
                buf.clear();
            }
            Ok(())
        })?;
        if !buf.is_empty() {
            out.write_all(buf)?;
            buf.clear();
        }
        Ok(())
    }

    /// Appends the answer lines to `out`, calling `after_line` after each.
    fn render_answers(
        &self,
        out: &mut Vec<u8>,
        mut after_line: impl FnMut(&mut Vec<u8>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut outcomes = self.outcomes.iter();
        for (i, slot) in self.slots.iter().enumerate() {
            let line = self.first_line + i as u64;
            match slot {
                Some(r) => write_rejection(out, line, r)?,
                None => {
                    let Some(o) = outcomes.next() else { unreachable!("decide checked one outcome per command") };
                    write_answer(out, line, o)?;
                }
            }
            out.push(b'\n');
            after_line(out)?;
        }
        Ok(())
    }

    /// The chunk's answers as JSON values.
    pub fn into_values(self) -> Vec<Value> {
        let Decided { first_line, slots, outcomes } = self;
        let mut outcomes = outcomes.into_iter();
        slots
            .into_iter()
            .enumerate()
            .map(|(i, slot)| {
                let line = first_line + i as u64;
                match slot {
                    Some(r) => rejection_line(line, &r),
                    None => match outcomes.next() {
                        Some(o) => answer_line(line, o),
                        None => unreachable!("decide checked one outcome per command"),
                    },
                }
            })
            .collect()
    }
}

/// Answers a chunk of input lines, numbered from `first_line` (1-based).
/// Every line gets exactly one answer, an empty or whitespace-only one a
/// 1001 rejection, so answers line up with input lines. Returns the answer
/// objects in input order, after the chunk's events are flushed.
pub fn ingest_chunk(engine: &Engine, lines: &[String], first_line: u64) -> Result<Vec<Value>, EngineError> {
    let mut parsed = Parsed::new(first_line, lines.len());
    for raw in lines {
        parsed.push_line(raw);
    }
    Ok(decide(engine, parsed)?.into_values())
}

/// The answer line of one outcome.
pub fn answer_line(line: u64, o: Outcome) -> Value {
    match o {
        Outcome::Recorded { seq, command, token, response } => {
            let response = response_value(response.as_deref());
            json!({"line": line, "seq": seq, "command": command, "token": token_json(token), "response": response})
        }
        Outcome::Duplicate { seq, command, token, response } => {
            let response = response_value(response.as_deref());
            json!({"line": line, "seq": seq, "command": command, "token": token_json(token), "duplicate": true, "response": response})
        }
        Outcome::Rejected(r) => rejection_line(line, &r),
    }
}

/// Writes [`answer_line`]'s JSON (compact, without a newline) to `out`
/// directly, with the same member order and string escaping.
pub fn write_answer(out: &mut Vec<u8>, line: u64, o: &Outcome) -> std::io::Result<()> {
    let (seq, command, token, response, duplicate) = match o {
        Outcome::Recorded { seq, command, token, response } => (*seq, *command, token, response, false),
        Outcome::Duplicate { seq, command, token, response } => (*seq, *command, token, response, true),
        Outcome::Rejected(r) => return write_rejection(out, line, r),
    };
    // integers and strings as `serde_json` writes them (response.rs's writer)
    out.extend_from_slice(b"{\"line\":");
    response::write_u64(out, line);
    out.extend_from_slice(b",\"seq\":");
    response::write_u64(out, seq);
    out.extend_from_slice(b",\"command\":");
    response::write_str(out, command);
    out.extend_from_slice(b",\"token\":");
    // `tick` has no token: null rather than an empty string
    if token.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        response::write_str(out, token);
    }
    if duplicate {
        out.extend_from_slice(b",\"duplicate\":true");
    }
    out.extend_from_slice(b",\"response\":");
    // rendered here, on the thread that writes the answers, not under the
    // engine's state lock
    match response {
        Some(r) => r.write(out),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    Ok(())
}

/// Writes a rejection's answer line (compact, without a newline).
pub fn write_rejection(out: &mut Vec<u8>, line: u64, r: &Rejection) -> std::io::Result<()> {
    write!(out, "{{\"line\":{line},\"error_code\":{},\"error_message\":", r.code.number())?;
    serde_json::to_writer(&mut *out, &r.message)?;
    out.push(b'}');
    Ok(())
}

/// A response as a JSON value (`null` where none was captured).
fn response_value(r: Option<&Response>) -> Value {
    r.map_or(Value::Null, Response::to_value)
}

/// `tick` has no token: null rather than an empty string.
fn token_json(token: String) -> Value {
    if token.is_empty() {
        Value::Null
    } else {
        Value::String(token)
    }
}

/// A rejection's answer line.
pub fn rejection_line(line: u64, r: &Rejection) -> Value {
    json!({"line": line, "error_code": r.code.number(), "error_message": r.message})
}
