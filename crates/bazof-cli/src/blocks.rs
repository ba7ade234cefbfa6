//! Reading a text file (CSV or NDJSON) on all cores: one thread cuts the text into blocks
//! of whole records, one thread per core turns blocks into batches, and the batches are
//! handed out in file order, so the rows, their line numbers and the first error are
//! those of reading the file in one pass.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use arrow::array::RecordBatch;
use memchr::{memchr_iter, memrchr};

use crate::batches::BatchSource;
use crate::csv_blocks::{last_record_end, quote_free};
use crate::error::{CliError, Result};
use crate::fail;
use crate::source::ByteCount;

/// Bytes read per block; a block grows when a record is longer.
pub const BLOCK_BYTES: usize = 2 << 20;

/// Whole records of a file, in file order.
#[derive(Debug)]
pub struct Block {
    /// The records' bytes (only the last block may end without a line break).
    pub bytes: Vec<u8>,
    /// The line the block starts on (1-based, counted by `\n`).
    pub first_line: u64,
    /// Whether the block starts the file (a CSV header, a BOM).
    pub at_start: bool,
    /// Whether the block holds no `"` at all (CSV only; always false for lines).
    pub quote_free: bool,
    /// Bytes of the file (compressed, if it is) consumed once the block was read.
    pub consumed: u64,
}

/// How records end.
#[derive(Debug, Clone, Copy)]
pub enum Records {
    /// CSV with this field delimiter: a line break ends a record outside quotes.
    Csv(u8),
    /// One record per line (NDJSON: JSON text holds no raw line break).
    Lines,
}

/// Where a block ends, and whether it holds no `"`.
pub(crate) struct Cut {
    /// The end of the block's last record.
    pub at: usize,
    /// Whether the block holds no `"`.
    pub quote_free: bool,
}

/// Reads a text as blocks of whole records.
pub struct BlockReader<R> {
    inner: R,
    counted: ByteCount,
    records: Records,
    block_bytes: usize,
    carry: Vec<u8>,
    line: u64,
    at_start: bool,
    ended: bool,
}

impl<R: Read> BlockReader<R> {
    /// Blocks of about `block_bytes` of the text `inner`, whose records end as `records`
    /// says; `counted` counts the bytes of the file read.
    pub fn new(inner: R, counted: ByteCount, records: Records, block_bytes: usize) -> Self {
        BlockReader {
            inner,
            counted,
            records,
            block_bytes: block_bytes.max(1),
            carry: Vec::new(),
            line: 1,
            at_start: true,
            ended: false,
        }
    }

    /// Where the last whole record in `buf` ends.
    fn last_end(&self, buf: &[u8]) -> Option<Cut> {
        match self.records {
            Records::Csv(delimiter) => last_record_end(buf, delimiter, self.at_start),
            Records::Lines => memrchr(b'\n', buf).map(|i| Cut {
                at: i + 1,
                quote_free: false,
            }),
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
                let csv = matches!(self.records, Records::Csv(_));
                break Cut {
                    at: buf.len(),
                    quote_free: csv && quote_free(&buf, self.at_start),
                };
            }
            if let Some(cut) = self.last_end(&buf) {
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

/// What a converting thread makes of a block: its rows (none if it held only a header or
/// blank lines), and its buffer to be read into again (if the thread could keep it).
pub type Converted = (Result<Option<RecordBatch>>, Option<Vec<u8>>);

/// What the splitting thread sends each converting thread, in turn.
enum Job {
    Block(Block),
    End,
    Failed(CliError),
}

/// What a converting thread sends back: a block's rows with the bytes consumed, then the
/// end or an error.
enum Done {
    Rows(Option<RecordBatch>, u64),
    End,
    Failed(CliError),
}

/// A file converted into batches on all cores, one batch per block, in file order.
pub struct BlockConverter {
    name: String,
    results: Vec<Receiver<Done>>,
    /// The block whose result comes next (its converter is `next % results.len()`).
    next: usize,
    workers: Vec<JoinHandle<()>>,
    splitter: Option<JoinHandle<()>>,
    rows: u64,
    bytes: u64,
    /// The end (or an error) was reached: every later call returns `None`.
    ended: bool,
}

/// The splitting thread: blocks to the converters in turn, then the end or an error.
fn split_blocks<R: Read>(
    mut blocks: BlockReader<R>,
    name: String,
    jobs: Vec<SyncSender<Job>>,
    spent: Receiver<Vec<u8>>,
) {
    for i in 0.. {
        let job = match blocks.next_block(spent.try_recv().ok()) {
            Ok(Some(block)) => Job::Block(block),
            Ok(None) => Job::End,
            Err(e) => Job::Failed(fail!("{name}: {e}")),
        };
        let last = !matches!(job, Job::Block(_));
        if jobs[i % jobs.len()].send(job).is_err() || last {
            return; // done, or the converter is gone
        }
    }
}

/// A converting thread: converts the blocks it is given, in order.
fn convert_blocks(
    mut convert: impl FnMut(Block) -> Converted,
    jobs: Receiver<Job>,
    done: SyncSender<Done>,
    spent: Sender<Vec<u8>>,
) {
    while let Ok(job) = jobs.recv() {
        let result = match job {
            Job::Block(block) => {
                let consumed = block.consumed;
                let (batch, buffer) = convert(block);
                if let Some(buffer) = buffer {
                    // The splitter may be gone; then the buffer is simply dropped.
                    let _ = spent.send(buffer);
                }
                match batch {
                    Ok(batch) => Done::Rows(batch, consumed),
                    Err(e) => Done::Failed(e),
                }
            }
            Job::End => Done::End,
            Job::Failed(e) => Done::Failed(e),
        };
        let last = !matches!(result, Done::Rows(..));
        if done.send(result).is_err() || last {
            return;
        }
    }
}

/// The message of a thread that ended by panicking, if it did.
fn panic_reason(handle: Option<JoinHandle<()>>) -> Option<String> {
    let p = handle?.join().err()?;
    Some(bazof::decode_guard::panic_message(p.as_ref()).to_string())
}

/// Converting threads for a machine: one per core (at most 8).
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(8))
}

impl BlockConverter {
    /// Starts converting the blocks of `blocks` on `threads` threads, each with a
    /// converter made by `converter`; `name` is the file's, for messages.
    pub fn start<R, C>(
        name: String,
        blocks: BlockReader<R>,
        threads: usize,
        converter: impl Fn() -> C,
    ) -> Result<BlockConverter>
    where
        R: Read + Send + 'static,
        C: FnMut(Block) -> Converted + Send + 'static,
    {
        let spawn_failed = |e: io::Error| fail!("{name}: cannot start a thread: {e}");
        let (mut jobs, mut results, mut workers) = (Vec::new(), Vec::new(), Vec::new());
        // Spent blocks' buffers go back to the splitter, to be read into again.
        let (spent, spent_rx) = std::sync::mpsc::channel();
        for i in 0..threads.max(1) {
            let (job_tx, job_rx) = std::sync::mpsc::sync_channel(1);
            let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
            let (convert, back) = (converter(), spent.clone());
            let worker = std::thread::Builder::new()
                .name(format!("bazof-read-{i}"))
                .spawn(move || convert_blocks(convert, job_rx, done_tx, back))
                .map_err(spawn_failed)?;
            jobs.push(job_tx);
            results.push(done_rx);
            workers.push(worker);
        }
        let file = name.clone();
        let splitter = std::thread::Builder::new()
            .name("bazof-read-split".into())
            .spawn(move || split_blocks(blocks, file, jobs, spent_rx))
            .map_err(spawn_failed)?;
        Ok(BlockConverter {
            name,
            results,
            next: 0,
            workers,
            splitter: Some(splitter),
            rows: 0,
            bytes: 0,
            ended: false,
        })
    }
}

impl BatchSource for BlockConverter {
    fn rows(&self) -> u64 {
        self.rows
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        while !self.ended {
            let slot = self.next % self.results.len();
            let received = self.results[slot].recv();
            self.next += 1;
            match received {
                Ok(Done::Rows(batch, consumed)) => {
                    self.bytes = consumed;
                    if let Some(batch) = batch {
                        self.rows += batch.num_rows() as u64;
                        return Ok(Some(batch));
                    }
                }
                Ok(Done::End) => self.ended = true,
                Ok(Done::Failed(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                Err(_) => {
                    // A thread ended without saying so: it panicked.
                    self.ended = true;
                    let worker =
                        (slot < self.workers.len()).then(|| self.workers.swap_remove(slot));
                    let reason = panic_reason(worker)
                        .or_else(|| panic_reason(self.splitter.take()))
                        .unwrap_or_else(|| "a reading thread stopped".into());
                    return Err(fail!("{}: reading failed: {reason}", self.name));
                }
            }
        }
        Ok(None)
    }
}

/// What the CSV and NDJSON readers' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Every batch of a converter; its row count must add up.
    pub fn drain(mut c: BlockConverter) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        while let Some(b) = c.next_batch()? {
            out.push(b);
        }
        let rows: u64 = out.iter().map(|b| b.num_rows() as u64).sum();
        assert_eq!(c.rows(), rows);
        Ok(out)
    }

    /// `convert(block_bytes, threads)` in blocks of `block` bytes on 1, 2 and 3 threads
    /// gives the rows of one block on one thread (`rows` of them), in more than 50 batches.
    pub fn same_in_blocks(
        convert: impl Fn(usize, usize) -> Result<Vec<RecordBatch>>,
        block: usize,
        rows: usize,
    ) -> Result<()> {
        let one = convert(1 << 30, 1)?;
        let whole = arrow::compute::concat_batches(&one[0].schema(), &one)?;
        assert_eq!(whole.num_rows(), rows);
        for threads in [1, 2, 3] {
            let parts = convert(block, threads)?;
            assert!(parts.len() > 50, "{} batches", parts.len());
            let joined = arrow::compute::concat_batches(&whole.schema(), &parts)?;
            assert_eq!(joined, whole, "{threads} threads");
        }
        Ok(())
    }
}
