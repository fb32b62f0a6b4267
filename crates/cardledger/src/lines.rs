//! Bounded line reading for `ingest`: no input line is ever held in memory
//! beyond `LINE_BYTES_MAX` (+1) bytes, however long it is, and a line that
//! is too long or not UTF-8 is answered with a rejection instead of ending
//! the run (`BufRead::lines` would buffer a 100 MB line whole and stop at
//! the first invalid UTF-8 byte).

use std::io::BufRead;

use cardledger_domain::limits::LINE_BYTES_MAX;
use cardledger_domain::rejection::{Code, Rejection};

/// One input line: its text, or why it cannot be a command.
pub enum Line {
    /// A line within the limit (without its line terminator).
    Text(String),
    /// A line rejected before parsing (too long, or not UTF-8).
    Rejected(Rejection),
}

/// Iterator over the lines of a reader, each bounded by
/// [`LINE_BYTES_MAX`]; the rest of a long line is read and discarded.
pub struct BoundedLines<R> {
    reader: R,
    buf: Vec<u8>,
}

impl<R: BufRead> BoundedLines<R> {
    /// Wraps a reader.
    pub fn new(reader: R) -> Self {
        BoundedLines { reader, buf: Vec::new() }
    }

    /// Reads one line into `buf` (up to the limit + 1 bytes); returns the
    /// line's full length, or `None` at the end of input.
    fn read_line(&mut self) -> std::io::Result<Option<u64>> {
        self.buf.clear();
        let mut total = 0u64;
        let mut any = false;
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                return Ok(any.then_some(total));
            }
            any = true;
            let (used, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            let room = (LINE_BYTES_MAX + 1).saturating_sub(self.buf.len());
            self.buf.extend_from_slice(chunk.get(..used.min(room)).unwrap_or_default());
            total = total.saturating_add(used as u64);
            self.reader.consume(if done { used + 1 } else { used });
            if done {
                return Ok(Some(total));
            }
        }
    }
}

impl<R: BufRead> Iterator for BoundedLines<R> {
    type Item = std::io::Result<Line>;

    fn next(&mut self) -> Option<Self::Item> {
        let total = match self.read_line() {
            Ok(Some(n)) => n,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        if self.buf.last() == Some(&b'\r') && total <= LINE_BYTES_MAX as u64 + 1 {
            self.buf.pop();
        }
        if self.buf.len() > LINE_BYTES_MAX {
            return Some(Ok(Line::Rejected(Rejection::new(
                Code::LineTooLong,
                "",
                format!("line is {total} bytes; the limit is {LINE_BYTES_MAX}"),
            ))));
        }
        // the next line starts with room for one like this one (growing an
        // empty buffer byte by byte costs several reallocations per line)
        let room = self.buf.len().max(64);
        Some(Ok(match String::from_utf8(std::mem::replace(&mut self.buf, Vec::with_capacity(room))) {
            Ok(s) => Line::Text(s),
            Err(e) => Line::Rejected(Rejection::new(
                Code::MalformedJson,
                "",
                format!("malformed JSON: not UTF-8 at byte {}", e.utf8_error().valid_up_to()),
            )),
        }))
    }
}
