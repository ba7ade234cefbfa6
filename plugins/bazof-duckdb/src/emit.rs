//! Emitting core batch streams as DuckDB chunks. A scan's key ranges (SPEC §6.5) form
//! a pool that DuckDB's threads draw from: each call takes an idle range, fills one
//! vector-sized chunk from it without holding the pool's lock, and puts it back in
//! front. One thread therefore emits the ranges in key order; several threads each
//! work on their own range. A call that finds no idle range ends that thread's share
//! while the others drain theirs. Alternatively (the C API v2 function), a thread
//! claims a whole range and emits it alone, and DuckDB, told each range's position,
//! puts the threads' output back in key order.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Mutex;

use arrow::array::RecordBatch;
use duckdb::core::DataChunkHandle;
use futures::{Stream, StreamExt};

use bazof::blocking::block_on;

use crate::types::{vector_size, write_batch};

type BoxError = Box<dyn std::error::Error>;

/// Any of the core's batch streams (a scan range, history, diff).
pub(crate) type Batches = Pin<Box<dyn Stream<Item = bazof::Result<RecordBatch>> + Send>>;

/// The running output of one query.
pub struct Emitter {
    /// Ranges no thread is reading right now, in key order.
    idle: Mutex<VecDeque<Part>>,
    /// DuckDB asked for no column at all (`count(*)`): emit row counts only.
    no_columns: bool,
    vector_size: usize,
}

/// One stream and the core batch being emitted from it, with the rows already out.
struct Part {
    /// Position of the stream in the output (key order).
    ordinal: u64,
    stream: Batches,
    current: Option<(RecordBatch, usize)>,
}

/// A range one thread claimed for itself ([`Emitter::claim`]): it emits the range
/// alone, from start to end.
pub(crate) struct Claimed(Part);

impl Claimed {
    /// The range's position in key order: DuckDB's batch index, which lets it put the
    /// output of parallel threads back in key order.
    pub(crate) fn ordinal(&self) -> u64 {
        self.0.ordinal
    }
}

impl Emitter {
    /// Emits `streams` (concatenated, they are the output in order); `no_columns`:
    /// DuckDB needs row counts only.
    pub(crate) fn new(streams: impl IntoIterator<Item = Batches>, no_columns: bool) -> Self {
        let idle = streams
            .into_iter()
            .zip(0..)
            .map(|(stream, ordinal)| Part {
                ordinal,
                stream,
                current: None,
            })
            .collect();
        Emitter {
            idle: Mutex::new(idle),
            no_columns,
            vector_size: vector_size(),
        }
    }

    /// How many threads can usefully work on the output: one per range.
    pub(crate) fn parallelism(&self) -> u64 {
        self.idle.lock().map_or(1, |idle| idle.len().max(1) as u64)
    }

    /// Fills `output` with the next slice of some range; an empty chunk ends this
    /// thread's share of the output.
    pub(crate) fn next_chunk(&self, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        match self.next_slice()? {
            None => output.set_len(0),
            Some(slice) if self.no_columns => output.set_len(slice.num_rows()),
            Some(slice) => write_batch(&slice, output)?,
        }
        Ok(())
    }

    /// The next slice (at most a DuckDB vector) of some range; `None` ends this
    /// thread's share of the output.
    fn next_slice(&self) -> Result<Option<RecordBatch>, BoxError> {
        loop {
            let part = self
                .idle
                .lock()
                .map_err(|_| "bazof: output state poisoned by an earlier error")?
                .pop_front();
            let Some(mut part) = part else {
                return Ok(None);
            };
            if let Some(slice) = self.fill(&mut part)? {
                self.idle
                    .lock()
                    .map_err(|_| "bazof: output state poisoned by an earlier error")?
                    .push_front(part);
                return Ok(Some(slice));
            }
            // That range is exhausted: it is dropped, the next one is tried.
        }
    }

    /// Takes the next range in key order for one thread, which then emits it alone
    /// ([`Emitter::next_claimed`]); `None` when every range is taken.
    pub(crate) fn claim(&self) -> Result<Option<Claimed>, BoxError> {
        Ok(self
            .idle
            .lock()
            .map_err(|_| "bazof: output state poisoned by an earlier error")?
            .pop_front()
            .map(Claimed))
    }

    /// The next slice (at most a DuckDB vector) of a claimed range; `None` at its end.
    pub(crate) fn next_claimed(
        &self,
        claimed: &mut Claimed,
    ) -> Result<Option<RecordBatch>, BoxError> {
        self.fill(&mut claimed.0)
    }

    /// The next slice of `part`; `None` when `part` is exhausted.
    fn fill(&self, part: &mut Part) -> Result<Option<RecordBatch>, BoxError> {
        loop {
            if let Some((batch, offset)) = part.current.as_mut() {
                if *offset < batch.num_rows() {
                    let len = (batch.num_rows() - *offset).min(self.vector_size);
                    let slice = batch.slice(*offset, len);
                    *offset += len;
                    return Ok(Some(slice));
                }
                part.current = None;
            }
            // Pull the next core batch on the bazof runtime (the stream is borrowed).
            let stream = &mut part.stream;
            let item = block_on(async move { Ok::<_, bazof::Error>(stream.next().await) })?;
            match item {
                None => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(batch)) => part.current = Some((batch, 0)),
            }
        }
    }
}
