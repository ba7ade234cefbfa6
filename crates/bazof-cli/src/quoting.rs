//! Quoting errors are errors. The `csv` crate never fails on quotes: an unterminated quote
//! makes a field that runs to the end of the file (every later row disappears into one
//! value), and text after a closing quote (`"ab"c`) is glued to the field. [`QuoteCheck`]
//! sits between the file and the CSV reader, follows the reader's own state machine
//! (`csv-core`: RFC 4180 quotes, `""` inside quotes, any of `\r`, `\n`, `\r\n` ending a
//! record, a UTF-8 BOM skipped at the start) and turns both cases into an error naming the
//! line and column. A `"` inside an unquoted field is an ordinary character, as in RFC 4180
//! readers generally, and is kept.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};

use memchr::{memchr, memchr3, memchr_iter};

/// What is wrong with the quotes, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteError {
    /// 1-based line (`\n`-separated, as the CSV reader counts).
    pub line: u64,
    /// 1-based field of the record.
    pub column: usize,
    /// Which rule was broken.
    pub kind: QuoteErrorKind,
}

/// The two ways quoting goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteErrorKind {
    /// A field opened with `"` that no `"` closes before the end of the file.
    Unterminated,
    /// Text between a closing `"` and the next delimiter or line end.
    TextAfterClosingQuote,
}

impl fmt::Display for QuoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: ", self.line, self.column)?;
        match self.kind {
            QuoteErrorKind::Unterminated => f.write_str(
                "unterminated quoted field: the '\"' that opens it here is never closed \
                 (the rest of the file would become one value)",
            ),
            QuoteErrorKind::TextAfterClosingQuote => f.write_str(
                "text after the closing '\"' of a quoted field (a '\"' inside a quoted field is written '\"\"')",
            ),
        }
    }
}

impl std::error::Error for QuoteError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field (and of a record).
    StartField,
    /// Inside an unquoted field.
    InField,
    /// Inside a quoted field.
    InQuoted,
    /// Just after a `"` inside a quoted field: `"` again is an escaped quote, anything
    /// but a delimiter or line end is an error.
    AfterQuote,
}

/// A reader that passes bytes through unchanged and fails at the first quoting error.
pub struct QuoteCheck<R> {
    inner: R,
    delimiter: u8,
    state: State,
    line: u64,
    field: usize,
    /// Where the open quoted field started (line, field).
    opened: (u64, usize),
    first_read: bool,
    /// Whether a record has started and its terminator not yet been seen.
    in_record: bool,
    /// The line each record starts on, for records read through but not yet taken.
    record_lines: VecDeque<u64>,
    /// An error found in bytes not yet handed out; returned by the next read.
    pending: Option<QuoteError>,
}

impl<R: Read> QuoteCheck<R> {
    /// Checks the CSV read from `inner`, whose fields are separated by `delimiter`.
    pub fn new(inner: R, delimiter: u8) -> Self {
        Self::starting_at(inner, delimiter, 1, true)
    }

    /// Checks CSV text that starts at the start of a record on `line` of its file;
    /// `at_start` if that is the start of the file (which may begin with a BOM).
    pub fn starting_at(inner: R, delimiter: u8, line: u64, at_start: bool) -> Self {
        QuoteCheck {
            inner,
            delimiter,
            state: State::StartField,
            line,
            field: 1,
            opened: (line, 1),
            first_read: at_start,
            in_record: false,
            record_lines: VecDeque::new(),
            pending: None,
        }
    }

    /// The line the next record read from this file starts on. The CSV reader's own
    /// position is where it began reading, which after a `\r\n` or blank lines is a line
    /// too early.
    pub fn take_record_line(&mut self) -> Option<u64> {
        self.record_lines.pop_front()
    }

    /// Advances over one byte; `Err` at a quoting error (the byte is not consumed).
    fn step(&mut self, c: u8) -> Result<(), QuoteError> {
        let terminator = c == b'\n' || c == b'\r';
        if !self.in_record && !terminator {
            self.in_record = true;
            self.record_lines.push_back(self.line);
        }
        let end_of_field = |s: &mut Self| {
            if c == s.delimiter {
                s.field += 1;
                s.state = State::StartField;
                true
            } else if terminator {
                s.field = 1;
                s.state = State::StartField;
                s.in_record = false;
                true
            } else {
                false
            }
        };
        match self.state {
            State::StartField if c == b'"' => {
                self.state = State::InQuoted;
                self.opened = (self.line, self.field);
            }
            State::StartField | State::InField => {
                if !end_of_field(self) {
                    self.state = State::InField;
                }
            }
            State::InQuoted => {
                if c == b'"' {
                    self.state = State::AfterQuote;
                }
            }
            State::AfterQuote => {
                if c == b'"' {
                    self.state = State::InQuoted;
                } else if !end_of_field(self) {
                    return Err(QuoteError {
                        line: self.line,
                        column: self.field,
                        kind: QuoteErrorKind::TextAfterClosingQuote,
                    });
                }
            }
        }
        if c == b'\n' {
            self.line += 1;
        }
        Ok(())
    }
}

fn to_io(e: QuoteError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<R: Read> Read for QuoteCheck<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.pending.take() {
            return Err(to_io(e));
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            if self.state == State::InQuoted {
                let (line, column) = self.opened;
                return Err(to_io(QuoteError {
                    line,
                    column,
                    kind: QuoteErrorKind::Unterminated,
                }));
            }
            return Ok(0);
        }
        // The CSV reader skips a UTF-8 BOM at the very start; so does the check.
        let skip = if std::mem::take(&mut self.first_read) && buf[..n].starts_with(b"\xef\xbb\xbf")
        {
            3
        } else {
            0
        };
        let mut i = skip;
        while i < n {
            // Inside a field only a few bytes matter: jump to the next one.
            match self.state {
                State::InField => {
                    i = memchr3(self.delimiter, b'\n', b'\r', &buf[i..n]).map_or(n, |k| i + k);
                }
                State::InQuoted => {
                    let end = memchr(b'"', &buf[i..n]).map_or(n, |k| i + k);
                    self.line += memchr_iter(b'\n', &buf[i..end]).count() as u64;
                    i = end;
                }
                State::StartField | State::AfterQuote => {}
            }
            if i == n {
                break;
            }
            if let Err(e) = self.step(buf[i]) {
                if i == 0 {
                    return Err(to_io(e));
                }
                // Hand out the good bytes first, so earlier errors are reported first.
                self.pending = Some(e);
                return Ok(i);
            }
            i += 1;
        }
        Ok(n)
    }
}

/// The quoting error inside an I/O error from a [`QuoteCheck`], if it is one.
pub fn quote_error(e: &io::Error) -> Option<&QuoteError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<QuoteError>())
}
