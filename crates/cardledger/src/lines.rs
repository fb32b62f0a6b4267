//! Bounded line reading for `ingest`: no input line is ever held in memory
//! beyond `LINE_BYTES_MAX` (+1) bytes, however long it is, and a line that
//! is too long or not UTF-8 is answered with a rejection instead of ending
//! the run (`BufRead::lines` would buffer a 100 MB line whole and stop at
//! the first invalid UTF-8 byte).
//!
//! The ingest reader borrows each line ([`LineSource`]): [`BoundedLines`]
//! hands out a line that lies whole in its reader's buffer as a slice of
//! that buffer (no `String` per line, no copy); only a line that crosses
//! the buffer's end is gathered into a buffer of its own (reused).

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

/// One input line, borrowed from its source until the next is read.
pub enum LineRef<'a> {
    /// A line within the limit (without its line terminator).
    Text(&'a str),
    /// A line rejected before parsing (too long, or not UTF-8).
    Rejected(Rejection),
}

/// Where `Cardledger::ingest` reads its lines: one at a time, each lent to
/// the reader until it has parsed it. [`BoundedLines`] is one; so is every
/// iterator of owned [`Line`]s.
pub trait LineSource: Send + 'static {
    /// Reads the next line and hands it to `f`; `None` at the end of input.
    fn read_line<T>(&mut self, f: impl FnOnce(LineRef<'_>) -> T) -> Option<std::io::Result<T>>;
}

impl<I> LineSource for I
where
    I: Iterator<Item = std::io::Result<Line>> + Send + 'static,
{
    fn read_line<T>(&mut self, f: impl FnOnce(LineRef<'_>) -> T) -> Option<std::io::Result<T>> {
        Some(self.next()?.map(|line| match line {
            Line::Text(t) => f(LineRef::Text(&t)),
            Line::Rejected(r) => f(LineRef::Rejected(r)),
        }))
    }
}

/// The lines of a reader, each bounded by [`LINE_BYTES_MAX`]; the rest of
/// a long line is read and discarded.
pub struct BoundedLines<R> {
    reader: R,
    /// A line that crossed the end of the reader's buffer, gathered.
    buf: Vec<u8>,
}

impl<R: BufRead> BoundedLines<R> {
    /// Wraps a reader.
    pub fn new(reader: R) -> Self {
        BoundedLines { reader, buf: Vec::new() }
    }

    /// Reads one line into `buf` (up to the limit + 1 bytes); returns the
    /// line's full length, or `None` at the end of input.
    fn gather_line(&mut self) -> std::io::Result<Option<u64>> {
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

/// A line's bytes (at most the limit + 1 of them, its terminator's `\n`
/// removed) and its full length, as the caller sees it: its text, or its
/// rejection.
fn line_of(bytes: &[u8], total: u64) -> LineRef<'_> {
    let bytes = match bytes.split_last() {
        Some((b'\r', text)) if total <= LINE_BYTES_MAX as u64 + 1 => text,
        _ => bytes,
    };
    if bytes.len() > LINE_BYTES_MAX {
        return LineRef::Rejected(Rejection::new(
            Code::LineTooLong,
            "",
            format!("line is {total} bytes; the limit is {LINE_BYTES_MAX}"),
        ));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => LineRef::Text(s),
        Err(e) => LineRef::Rejected(Rejection::new(
            Code::MalformedJson,
            "",
            format!("malformed JSON: not UTF-8 at byte {}", e.valid_up_to()),
        )),
    }
}

impl<R: BufRead + Send + 'static> LineSource for BoundedLines<R> {
    fn read_line<T>(&mut self, f: impl FnOnce(LineRef<'_>) -> T) -> Option<std::io::Result<T>> {
        // the common line: whole in the reader's buffer, lent from there
        let chunk = match self.reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) => return Some(Err(e)),
        };
        if chunk.is_empty() {
            return None;
        }
        if let Some(end) = memchr::memchr(b'\n', chunk) {
            if end <= LINE_BYTES_MAX + 1 {
                let answer = f(line_of(chunk.get(..end).unwrap_or_default(), end as u64));
                self.reader.consume(end + 1);
                return Some(Ok(answer));
            }
        }
        // a line crossing the buffer's end (or longer than the limit + 1)
        match self.gather_line() {
            Ok(Some(total)) => Some(Ok(f(line_of(&self.buf, total)))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a line source hands out, owned.
    fn all(mut lines: impl LineSource) -> Vec<Result<String, (u16, String)>> {
        let mut out = Vec::new();
        while let Some(line) = lines.read_line(|l| match l {
            LineRef::Text(t) => Ok(t.to_string()),
            LineRef::Rejected(r) => Err((r.code.number(), r.message)),
        }) {
            out.push(line.unwrap());
        }
        out
    }

    /// The lines as `BoundedLines` gave them when each line was gathered
    /// into a `String` of its own (the reader before lines were lent).
    fn gathered(input: &[u8]) -> Vec<Result<String, (u16, String)>> {
        let mut lines = BoundedLines::new(input);
        let mut out = Vec::new();
        while let Some(total) = lines.gather_line().unwrap() {
            out.push(match line_of(&lines.buf, total) {
                LineRef::Text(t) => Ok(t.to_string()),
                LineRef::Rejected(r) => Err((r.code.number(), r.message)),
            });
        }
        out
    }

    #[test]
    fn lent_lines_are_the_gathered_lines_whatever_the_buffer() {
        let long = "x".repeat(LINE_BYTES_MAX);
        let mut input = Vec::new();
        for line in [
            b"{\"a\":1}".to_vec(),
            b"{\"a\":1}\r".to_vec(),
            b"".to_vec(),
            b"\r".to_vec(),
            b"caf\xc3\xa9".to_vec(),
            b"bad \xff byte".to_vec(),
            b"cut \xe2\x82".to_vec(),
            b"cut \xe2\x82\r".to_vec(),
            long.clone().into_bytes(),
            format!("{long}\r").into_bytes(),
            format!("{long}x").into_bytes(),
            format!("{long}x\r").into_bytes(),
            format!("{long}xx").into_bytes(),
            "y".repeat(3 * LINE_BYTES_MAX).into_bytes(),
        ] {
            input.extend_from_slice(&line);
            input.push(b'\n');
        }
        input.extend_from_slice(b"last line without a newline");
        let want = gathered(&input);
        let (long_max, too_long) = (LINE_BYTES_MAX + 1, LINE_BYTES_MAX + 2);
        let texts = |s: &[&str]| s.iter().map(|t| Ok(t.to_string())).collect::<Vec<_>>();
        let rejected = |code: Code, m: String| Err((code.number(), m));
        let mut expected = texts(&["{\"a\":1}", "{\"a\":1}", "", "", "caf\u{e9}"]);
        expected.push(rejected(Code::MalformedJson, "malformed JSON: not UTF-8 at byte 4".into()));
        expected.push(rejected(Code::MalformedJson, "malformed JSON: not UTF-8 at byte 4".into()));
        expected.push(rejected(Code::MalformedJson, "malformed JSON: not UTF-8 at byte 4".into()));
        expected.extend(texts(&[&long, &long]));
        for total in [long_max, too_long, too_long, 3 * LINE_BYTES_MAX] {
            let m = format!("line is {total} bytes; the limit is {LINE_BYTES_MAX}");
            expected.push(rejected(Code::LineTooLong, m));
        }
        expected.extend(texts(&["last line without a newline"]));
        assert_eq!(want, expected);
        // buffers smaller than a line, about a line, and holding it all
        for capacity in [1, 2, 7, 64, 1000, LINE_BYTES_MAX - 1, LINE_BYTES_MAX + 2, 1 << 20] {
            let reader = std::io::BufReader::with_capacity(capacity, std::io::Cursor::new(input.clone()));
            assert_eq!(all(BoundedLines::new(reader)), want, "buffer of {capacity} bytes");
        }
        // and an iterator of owned lines lends what it holds
        let owned = vec![Ok(Line::Text("a".into())), Ok(Line::Rejected(Rejection::new(Code::LineTooLong, "", "x")))];
        assert_eq!(all(owned.into_iter()), vec![Ok("a".to_string()), Err((Code::LineTooLong.number(), "x".into()))]);
    }
}
