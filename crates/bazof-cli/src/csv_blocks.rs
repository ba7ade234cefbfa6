//! Cutting a CSV text into blocks of whole records, so that several threads can parse and
//! convert them at once, and splitting a block without quotes into fields directly.
//!
//! A block always starts at the start of a record. Where records end is found with the
//! reader's own quoting rules ([`crate::quoting`]): in a stretch without `"` every line
//! break ends a record; from the first `"` on, the quote state is followed byte by byte.
//! A block that breaks a rule is cut somewhere all the same: the parser of the block that
//! holds the first broken rule reports it, at its line, as reading in one pass would.

use std::io::{self, Read};

use memchr::{memchr, memchr3, memchr3_iter, memchr_iter, memrchr2};

use crate::source::ByteCount;

/// Bytes read per block; a block grows when a record is longer.
pub const BLOCK_BYTES: usize = 2 << 20;

const BOM: &[u8] = b"\xef\xbb\xbf";

/// Whole records of a file, in file order.
#[derive(Debug)]
pub struct Block {
    /// The records' bytes (only the last block may end without a line break).
    pub bytes: Vec<u8>,
    /// The line the block starts on (1-based, counted by `\n`, as the CSV reader does).
    pub first_line: u64,
    /// Whether the block starts the file: it holds the header and may start with a BOM.
    pub at_start: bool,
    /// Whether the block holds no `"` at all.
    pub quote_free: bool,
    /// Bytes of the file (compressed, if it is) consumed once the block was read.
    pub consumed: u64,
}

/// Reads a CSV text as blocks of whole records.
pub struct BlockReader<R> {
    inner: R,
    counted: ByteCount,
    delimiter: u8,
    block_bytes: usize,
    carry: Vec<u8>,
    line: u64,
    at_start: bool,
    ended: bool,
}

impl<R: Read> BlockReader<R> {
    /// Blocks of about `block_bytes` of the text `inner`, whose fields end at `delimiter`.
    pub fn new(inner: R, counted: ByteCount, delimiter: u8, block_bytes: usize) -> Self {
        BlockReader {
            inner,
            counted,
            delimiter,
            block_bytes: block_bytes.max(1),
            carry: Vec::new(),
            line: 1,
            at_start: true,
            ended: false,
        }
    }

    /// The next block, or `None` at the end of the text; `spare` is a spent block's
    /// buffer to read into (memory already touched costs no page faults).
    pub fn next_block(&mut self, spare: Option<Vec<u8>>) -> io::Result<Option<Block>> {
        if self.ended {
            return Ok(None);
        }
        let mut buf = spare.unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(&self.carry);
        let mut want = self.block_bytes.max(buf.len() + 1);
        let cut = loop {
            let eof = fill(&mut self.inner, &mut buf, want)?;
            if eof {
                self.ended = true;
                break Cut {
                    at: buf.len(),
                    quote_free: quote_free(&buf, self.at_start),
                };
            }
            if let Some(cut) = last_record_end(&buf, self.delimiter, self.at_start) {
                break cut;
            }
            // Not one whole record yet: read on.
            want = buf.len() * 2;
        };
        if buf.is_empty() {
            return Ok(None);
        }
        self.carry.clear();
        self.carry.extend_from_slice(&buf[cut.at..]);
        buf.truncate(cut.at);
        let block = Block {
            first_line: self.line,
            at_start: std::mem::replace(&mut self.at_start, false),
            quote_free: cut.quote_free,
            consumed: self.counted.get(),
            bytes: buf,
        };
        self.line += memchr_iter(b'\n', &block.bytes).count() as u64;
        Ok(Some(block))
    }
}

/// Reads into `buf` until it holds `want` bytes; true if the text ended first.
fn fill(inner: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    let mut filled = buf.len();
    buf.resize(want.max(filled), 0);
    while filled < buf.len() {
        match inner.read(&mut buf[filled..]) {
            Ok(0) => {
                buf.truncate(filled);
                return Ok(true);
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(filled);
                return Err(e);
            }
        }
    }
    Ok(false)
}

/// Where a block ends, and whether it holds no `"`.
struct Cut {
    at: usize,
    quote_free: bool,
}

/// Where the bytes after a possible BOM start.
fn after_bom(buf: &[u8], at_start: bool) -> usize {
    if at_start && buf.starts_with(BOM) {
        BOM.len()
    } else {
        0
    }
}

fn quote_free(buf: &[u8], at_start: bool) -> bool {
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
fn last_record_end(buf: &[u8], delimiter: u8, at_start: bool) -> Option<Cut> {
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
pub struct Records {
    text: String,
    /// Start and end in `text` of every field, record after record.
    bounds: Vec<(usize, usize)>,
    /// The line each record starts on.
    pub lines: Vec<u64>,
}

impl Records {
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
) -> Result<Records, Vec<u8>> {
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => return Err(e.into_bytes()),
    };
    match plain_fields(text.as_bytes(), delimiter, width, first_line) {
        Some(plain) => Ok(Records {
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
