//! JSON-lines ingestion: the answer lines of `cardledger ingest`
//! (product.md §7). Lines are parsed, the valid ones submitted as one batch,
//! and every line answered in order once the batch is durable.

use serde_json::{json, Value};

use cardledger_domain::limits;
use cardledger_domain::rejection::Rejection;
use cardledger_domain::wire;

use crate::engine::{Engine, EngineError, Outcome};

/// Answers a chunk of input lines, numbered from `first_line` (1-based).
/// Every line gets exactly one answer, an empty or whitespace-only one a
/// 1001 rejection, so answers line up with input lines. Returns the answer
/// objects in input order, after the chunk's events are flushed.
pub fn ingest_chunk(engine: &Engine, lines: &[String], first_line: u64) -> Result<Vec<Value>, EngineError> {
    let mut parsed = Vec::with_capacity(lines.len());
    let mut slots: Vec<(u64, Result<usize, Rejection>)> = Vec::with_capacity(lines.len());
    for (i, raw) in lines.iter().enumerate() {
        let line_no = first_line + i as u64;
        match wire::parse_line(raw) {
            Ok(cmd) => {
                slots.push((line_no, Ok(parsed.len())));
                parsed.push(cmd);
            }
            Err(r) => slots.push((line_no, Err(r))),
        }
    }
    // a chunk is not an atomic unit: larger ones go in batches of the limit
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(parsed.len());
    let mut parsed = parsed.into_iter().peekable();
    while parsed.peek().is_some() {
        let batch: Vec<_> = parsed.by_ref().take(limits::BATCH_RECORDS_MAX).collect();
        outcomes.extend(engine.submit_batch(batch)?.into_iter().map(Some));
    }
    Ok(slots
        .into_iter()
        .map(|(line, slot)| match slot {
            Err(r) => rejection_line(line, &r),
            Ok(i) => match outcomes.get_mut(i).and_then(Option::take) {
                Some(o) => answer_line(line, o),
                None => json!({"line": line, "error_code": 0, "error_message": "internal: missing outcome"}),
            },
        })
        .collect())
}

/// The answer line of one outcome.
pub fn answer_line(line: u64, o: Outcome) -> Value {
    match o {
        Outcome::Recorded { seq, command, token, response } => {
            json!({"line": line, "seq": seq, "command": command, "token": token_json(token), "response": response})
        }
        Outcome::Duplicate { seq, command, token, response } => {
            json!({"line": line, "seq": seq, "command": command, "token": token_json(token), "duplicate": true, "response": response})
        }
        Outcome::Rejected(r) => rejection_line(line, &r),
    }
}

/// `tick` has no token: null rather than an empty string.
fn token_json(token: String) -> Value {
    if token.is_empty() {
        Value::Null
    } else {
        Value::String(token)
    }
}

fn rejection_line(line: u64, r: &Rejection) -> Value {
    json!({"line": line, "error_code": r.code.number(), "error_message": r.message})
}
