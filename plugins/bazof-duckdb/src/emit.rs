//! Emitting a core batch stream as DuckDB chunks: each core batch is cut into
//! vector-sized slices; the stream is pulled on the bazof runtime.

use std::pin::Pin;
use std::sync::Mutex;

use arrow::array::RecordBatch;
use duckdb::core::DataChunkHandle;
use futures::{Stream, StreamExt};

use bazof::blocking::block_on;

use crate::types::{vector_size, write_batch};

type BoxError = Box<dyn std::error::Error>;

/// Any of the core's batch streams (scan, history, diff).
pub(crate) type Batches = Pin<Box<dyn Stream<Item = bazof::Result<RecordBatch>> + Send>>;

/// The running output of one query.
pub struct Emitter {
    state: Mutex<State>,
}

struct State {
    stream: Option<Batches>,
    /// The core batch being emitted and how many of its rows went out already.
    current: Option<(RecordBatch, usize)>,
    /// DuckDB asked for no column at all (`count(*)`): emit row counts only.
    no_columns: bool,
    vector_size: usize,
}

impl Emitter {
    /// Emits `stream`; `no_columns`: DuckDB needs row counts only.
    pub(crate) fn new(stream: Batches, no_columns: bool) -> Self {
        Emitter {
            state: Mutex::new(State {
                stream: Some(stream),
                current: None,
                no_columns,
                vector_size: vector_size(),
            }),
        }
    }

    /// Fills `output` with the next slice; an empty chunk ends the output.
    pub(crate) fn next_chunk(&self, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        let mut guard = self
            .state
            .lock()
            .map_err(|_| "bazof: output state poisoned by an earlier error")?;
        let state = &mut *guard;
        loop {
            if let Some((batch, offset)) = state.current.as_mut() {
                if *offset < batch.num_rows() {
                    let len = (batch.num_rows() - *offset).min(state.vector_size);
                    let slice = batch.slice(*offset, len);
                    *offset += len;
                    if state.no_columns {
                        output.set_len(len);
                    } else {
                        write_batch(&slice, output)?;
                    }
                    return Ok(());
                }
                state.current = None;
            }
            let Some(mut stream) = state.stream.take() else {
                output.set_len(0);
                return Ok(());
            };
            // Pull the next core batch on the bazof runtime (the stream is moved in and back).
            let (item, stream) = block_on(async move {
                let item = stream.next().await;
                Ok::<_, bazof::Error>((item, stream))
            })?;
            match item {
                None => {
                    output.set_len(0);
                    return Ok(());
                }
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(batch)) => {
                    state.stream = Some(stream);
                    state.current = Some((batch, 0));
                }
            }
        }
    }
}
