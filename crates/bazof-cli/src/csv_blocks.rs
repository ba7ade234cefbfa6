//! CSV blocks ([`crate::blocks`]): where a block of whole records may end, and splitting
//! a block without quotes into fields directly.
//!
//! A block always starts at the start of a record. Where records end is found with the
//! reader's own quoting rules ([`crate::quoting`]): in a stretch without `"` every line
//! break ends a record; from the first `"` on, the quote state is followed byte by byte.
//! A block that breaks a rule is cut somewhere all the same: the parser of the block that
//! holds the first broken rule reports it, at its line, as reading in one pass would.

use memchr::{memchr, memchr3, memchr3_iter, memrchr2};

use crate::blocks::Cut;

const BOM: &[u8] = b"\xef\xbb\xbf";

/// Where the bytes after a possible BOM start.
fn after_bom(buf: &[u8], at_start: bool) -> usize {
    if at_start && buf.starts_with(BOM) {
        BOM.len()
    } else {
        0
    }
}

/// Whether a block holds no `"` (after a BOM at the start of the file).
pub(crate) fn quote_free(buf: &[u8], at_start: bool) -> bool {
    memchr(b'"', &buf[after_bom(buf, at_start)..]).is_none()
}

fn is_terminator(c: u8) -> bool {
    c == b'\n' || c == b'\r'
}

/// Whether the terminator at `i` ends a record that a block may end with: a `\r` is
/// passed over when a `\n` follows, or may follow (it is the last byte read), so that a
/// `\r\n` stays in one block.
fn ends_block(buf: &[u8], i: usize) -> bool {
    buf[i] == b'\n' || buf.get(i + 1).is_some_and(|&c| c != b'\n')
}

/// The end of the last line in `buf` that a block may end with.
fn last_line_end(buf: &[u8]) -> Option<usize> {
    let mut end = buf.len();
    while let Some(i) = memrchr2(b'\n', b'\r', &buf[..end]) {
        if ends_block(buf, i) {
            return Some(i + 1);
        }
        end = i;
    }
    None
}

/// The end of the last whole record in `buf`, which starts at the start of a record.
pub(crate) fn last_record_end(buf: &[u8], delimiter: u8, at_start: bool) -> Option<Cut> {
    let start = after_bom(buf, at_start);
    let Some(q) = memchr(b'"', &buf[start..]).map(|k| start + k) else {
        return last_line_end(buf).map(|at| Cut {
            at,
            quote_free: true,
        });
    };
    // Before the first `"` nothing is quoted, so the state there is known locally.
    let mut last = last_line_end(&buf[..q]);
    let opens = q == start || buf[q - 1] == delimiter || is_terminator(buf[q - 1]);
    let mut state = if opens {
        Quote::Inside
    } else {
        Quote::Unquoted
    };
    let mut i = q + 1;
    while i < buf.len() {
        match state {
            Quote::Inside => match memchr(b'"', &buf[i..]) {
                Some(k) => {
                    i += k;
                    state = Quote::AfterClosing;
                }
                None => break,
            },
            Quote::Unquoted => match memchr3(delimiter, b'\n', b'\r', &buf[i..]) {
                Some(k) => {
                    i += k;
                    if is_terminator(buf[i]) && ends_block(buf, i) {
                        last = Some(i + 1);
                    }
                    state = Quote::FieldStart;
                }
                None => break,
            },
            Quote::FieldStart | Quote::AfterClosing => {
                let c = buf[i];
                state = if c == b'"' {
                    // Opens a field, or is `""` inside one.
                    Quote::Inside
                } else if c == delimiter {
                    Quote::FieldStart
                } else if is_terminator(c) {
                    if ends_block(buf, i) {
                        last = Some(i + 1);
                    }
                    Quote::FieldStart
                } else {
                    // After a closing quote this is an error; the block's parser says so.
                    Quote::Unquoted
                };
            }
        }
        i += 1;
    }
    last.map(|at| Cut {
        at,
        quote_free: at <= q,
    })
}

/// Where the scan for record ends is.
#[derive(Clone, Copy)]
enum Quote {
    FieldStart,
    Unquoted,
    Inside,
    AfterClosing,
}

/// Records as text and field bounds, with the line each starts on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fields {
    text: String,
    /// Start and end in `text` of every field, record after record.
    bounds: Vec<(usize, usize)>,
    /// The line each record starts on.
    pub lines: Vec<u64>,
}

impl Fields {
    /// Appends one record the CSV reader read.
    pub fn push(&mut self, record: &csv::StringRecord, line: u64) {
        let base = self.text.len();
        self.text.push_str(record.as_slice());
        self.bounds.extend(
            (0..record.len())
                .filter_map(|i| record.range(i))
                .map(|r| (base + r.start, base + r.end)),
        );
        self.lines.push(line);
    }

    /// The text's buffer, for the next block to be read into.
    pub fn into_bytes(self) -> Vec<u8> {
        self.text.into_bytes()
    }

    /// The number of fields of all records together.
    pub fn fields(&self) -> usize {
        self.bounds.len()
    }

    /// Field `i` of record `r`, for records of `width` fields.
    pub fn field(&self, r: usize, width: usize, i: usize) -> &str {
        self.bounds
            .get(r * width + i)
            .and_then(|&(s, e)| self.text.get(s..e))
            .unwrap_or("")
    }
}

/// Splits a block without `"` into records of `width` fields, each line one record.
/// Gives the bytes back when the block needs the CSV reader: text that is not UTF-8, an
/// empty line, a `\r` that does not end a line, or a record of another width (the reader
/// skips, or reports, those with the exact line and column).
pub fn split_plain(
    bytes: Vec<u8>,
    delimiter: u8,
    width: usize,
    first_line: u64,
) -> Result<Fields, Vec<u8>> {
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => return Err(e.into_bytes()),
    };
    match plain_fields(text.as_bytes(), delimiter, width, first_line) {
        Some(plain) => Ok(Fields {
            text,
            bounds: plain.bounds,
            lines: plain.lines,
        }),
        None => Err(text.into_bytes()),
    }
}

/// Records being split by [`plain_fields`].
struct Plain {
    bounds: Vec<(usize, usize)>,
    lines: Vec<u64>,
    width: usize,
    /// Fields of the record being split, before its last.
    fields: usize,
    line: u64,
}

impl Plain {
    fn field(&mut self, start: usize, end: usize) {
        self.bounds.push((start, end));
        self.fields += 1;
    }

    /// Ends a record with its last field; false for an empty line or a record of
    /// another width (those are for the CSV reader).
    fn end_record(&mut self, start: usize, end: usize) -> bool {
        if self.fields + 1 != self.width || (self.fields == 0 && start == end) {
            return false;
        }
        self.bounds.push((start, end));
        self.lines.push(self.line);
        self.line += 1;
        self.fields = 0;
        true
    }
}

/// The field bounds and line numbers of [`split_plain`], found in one sweep over the
/// block for delimiters and line breaks.
fn plain_fields(b: &[u8], delimiter: u8, width: usize, first_line: u64) -> Option<Plain> {
    let mut out = Plain {
        bounds: Vec::with_capacity(width * (b.len() / 64 + 1)),
        lines: Vec::with_capacity(b.len() / 64 + 1),
        width,
        fields: 0,
        line: first_line,
    };
    let mut start = 0;
    let mut seps = memchr3_iter(delimiter, b'\n', b'\r', b);
    while let Some(p) = seps.next() {
        match b[p] {
            c if c == delimiter => out.field(start, p),
            b'\r' => {
                // Only as part of `\r\n`; a lone `\r` ends a record for the CSV reader.
                if b.get(p + 1) != Some(&b'\n') || !out.end_record(start, p) {
                    return None;
                }
                seps.next();
                start = p + 2;
                continue;
            }
            _ => {
                if !out.end_record(start, p) {
                    return None;
                }
            }
        }
        start = p + 1;
    }
    if (start < b.len() || out.fields > 0) && !out.end_record(start, b.len()) {
        return None;
    }
    Some(out)
}
