//! SPEC §5: resolution as a streaming k-way merge.
//!
//! Every source is sorted by key. For each key (in key order) the merge keeps the
//! row with the greatest (event time, commit, seq) and drops the key if that row is
//! a tombstone. Memory: one batch per source plus one output batch.
//!
//! The merge's parts: [`cursor`] (an input and the row it stands at), [`resolve`]
//! (one key, or a run of keys one input holds alone), [`window`] (history's
//! tournament over every input's rows).

mod cursor;
mod resolve;
mod window;

use arrow::array::{Array, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::SchemaRef;
use futures::StreamExt;
use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::key_order::KeyColumn;
use crate::scan::gather::Picks;
use crate::scan::options::ScanMode;
use crate::scan::read::Source;
use cursor::{Cursor, OwnedKey};

/// Rows picked but not gathered ([`Merger::next_picks`]): the batches they are in, the
/// key prefixes of each batch, and the picks.
pub(crate) type Picked = (Vec<RecordBatch>, Vec<Arc<KeyColumn>>, Picks);

/// The merge state; [`Merger::next_batch`] yields resolved, projected batches.
pub(crate) struct Merger {
    table: String,
    cursors: Vec<Cursor>,
    /// Sources not yet opened, each with whether it holds one row per key.
    pending: Vec<(Source, bool)>,
    output: Vec<usize>,
    output_schema: SchemaRef,
    batch_size: usize,
    remaining: Option<usize>,
    mode: ScanMode,
    arena: Vec<RecordBatch>,
    /// `AllRows`: the key prefixes of each arena batch (history compares consecutive
    /// picks' keys by them instead of by their bytes); empty in the other modes.
    arena_keys: Vec<Arc<KeyColumn>>,
    picks: Picks,
    /// The key being resolved, when it runs past a batch end.
    key: OwnedKey,
    /// Scratch: cursors at the smallest key.
    equal: Vec<usize>,
    /// Scratch: every row of the key being resolved (`AllRows`): rank, slot, row.
    all_rows: Vec<((i64, u64, u32), usize, usize)>,
    /// The one source has one row per key (a base read alone): no merge needed.
    base_alone: bool,
    /// Pass-through: the rest of a source batch longer than the output batch size.
    carry: Option<RecordBatch>,
}

impl Merger {
    /// `sources`: each with whether it holds one row per key (a base, SPEC §8);
    /// `output`: merge-schema column indices to return, in order.
    pub(crate) fn new(
        table: String,
        sources: Vec<(Source, bool)>,
        output: Vec<usize>,
        output_schema: SchemaRef,
        batch_size: usize,
        limit: Option<usize>,
        mode: ScanMode,
    ) -> Merger {
        // A base read alone (SPEC §5); `AllRows` still merges (it keeps every row anyway).
        let base_alone = mode != ScanMode::AllRows && matches!(&sources[..], [(_, true)]);
        Merger {
            table,
            cursors: Vec::new(),
            pending: sources,
            output,
            output_schema,
            batch_size: batch_size.max(1),
            remaining: limit,
            mode,
            arena: Vec::new(),
            arena_keys: Vec::new(),
            picks: Picks::default(),
            key: OwnedKey::default(),
            equal: Vec::new(),
            all_rows: Vec::new(),
            base_alone,
            carry: None,
        }
    }

    /// Resolution of a single source with one row per key: its batches, without
    /// tombstones (unless the mode keeps them), cut to the batch size and limit.
    async fn pass_through(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if self.remaining == Some(0) {
                return Ok(None);
            }
            let mut batch = match self.carry.take() {
                Some(b) => b,
                None => match self.pending.first_mut() {
                    None => return Ok(None),
                    Some((source, _)) => match source.next().await {
                        None => return Ok(None),
                        Some(b) => self.output_rows(b?)?,
                    },
                },
            };
            let n = batch
                .num_rows()
                .min(self.batch_size)
                .min(self.remaining.unwrap_or(usize::MAX));
            if n < batch.num_rows() {
                self.carry = Some(batch.slice(n, batch.num_rows() - n));
                batch = batch.slice(0, n);
            }
            if let Some(r) = self.remaining.as_mut() {
                *r -= n;
            }
            if n > 0 {
                return Ok(Some(batch));
            }
        }
    }

    /// A source batch (merge schema) as output rows: its output columns, less its
    /// tombstones when the mode drops them (the reserved columns are not copied for
    /// rows the output does not keep: a base holds tombstones in most batches).
    fn output_rows(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let arrow = |e| Error::Arrow {
            table: self.table.clone(),
            source: e,
        };
        let keep = match batch.column(4).as_any().downcast_ref::<BooleanArray>() {
            Some(deleted) if self.mode == ScanMode::Resolve && deleted.true_count() > 0 => {
                Some(arrow::compute::not(deleted).map_err(arrow)?)
            }
            _ => None,
        };
        // Nulls of tombstones' values are allowed until the tombstones are gone.
        let projected = batch.project(&self.output).map_err(arrow)?;
        let kept = match keep {
            Some(keep) => arrow::compute::filter_record_batch(&projected, &keep).map_err(arrow)?,
            None => projected,
        };
        RecordBatch::try_new_with_options(
            self.output_schema.clone(),
            kept.columns().to_vec(),
            &RecordBatchOptions::new().with_row_count(Some(kept.num_rows())),
        )
        .map_err(arrow)
    }

    async fn advance(&mut self, i: usize) -> Result<()> {
        let next = self.cursors[i].row + 1;
        self.cursors[i].set_row(next);
        if self.cursors[i].row < self.cursors[i].batch.num_rows() {
            return Ok(());
        }
        // Batch exhausted: fetch the next one (the old batch stays alive in the arena if picked).
        loop {
            let next = self.cursors[i].stream.next().await;
            match next {
                None => {
                    self.cursors.swap_remove(i);
                    return Ok(());
                }
                Some(b) => {
                    let b = b?;
                    if b.num_rows() == 0 {
                        continue;
                    }
                    let stream = std::mem::replace(
                        &mut self.cursors[i].stream,
                        futures::stream::empty().boxed(),
                    );
                    let unique = self.cursors[i].unique;
                    self.cursors[i] = Cursor::from_batch(stream, b, unique, &self.table)?;
                    return Ok(());
                }
            }
        }
    }

    /// The arena slot of cursor `i`'s current batch (projected to the output columns).
    fn slot_of(&mut self, i: usize) -> Result<usize> {
        if let Some(s) = self.cursors[i].slot {
            return Ok(s);
        }
        let projected = self.cursors[i]
            .batch
            .project(&self.output)
            .map_err(|e| Error::Arrow {
                table: self.table.clone(),
                source: e,
            })?;
        self.arena.push(projected);
        if self.mode == ScanMode::AllRows {
            self.arena_keys.push(self.cursors[i].keys.clone());
        }
        let slot = self.arena.len() - 1;
        self.cursors[i].slot = Some(slot);
        Ok(slot)
    }

    /// The next output batch, or `None` at the end. A batch ends between keys: a key's
    /// rows (all of them, in `AllRows`) are never split across two batches.
    pub(crate) async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.base_alone {
            return self.pass_through().await;
        }
        self.fill().await?;
        self.flush()
    }

    /// `AllRows`: the rows of the next output batch, not yet gathered: the batches they
    /// are in (merge schema, every column), those batches' key prefixes, and the picks,
    /// in output order; `None` at the end. They end between keys, as
    /// [`Merger::next_batch`]'s do (history relies on it). For readers that keep some
    /// of the rows (history): they gather only those, and only the columns they return.
    pub(crate) async fn next_picks(&mut self) -> Result<Option<Picked>> {
        if self.mode != ScanMode::AllRows {
            return Err(Error::Internal {
                table: self.table.clone(),
                reason: "picks are read from merges of every row and column only".into(),
            });
        }
        self.fill().await?;
        Ok((!self.picks.is_empty()).then(|| self.take_picks()))
    }

    /// Merges until the next output batch is full or the sources are done.
    async fn fill(&mut self) -> Result<()> {
        for (s, unique) in std::mem::take(&mut self.pending) {
            if let Some(c) = Cursor::open(s, unique, &self.table).await? {
                self.cursors.push(c);
            }
        }
        // Taken for the whole fill, not per key: storing it back for every key held
        // 7 % of this function's perf samples.
        let mut equal = std::mem::take(&mut self.equal);
        loop {
            let done = self.remaining == Some(0) || self.cursors.is_empty();
            if done || self.picks.len() >= self.batch_size {
                self.equal = equal;
                return Ok(());
            }
            if self.mode == ScanMode::AllRows
                && self.remaining.is_none()
                && self.cursors.len() > 1
                && self.merge_window()?
            {
                continue;
            }
            // The cursor with the smallest key, the one with the next smallest, and
            // every cursor whose current key equals the smallest (ascending).
            let mut min = 0;
            let mut second: Option<usize> = None;
            equal.clear();
            equal.push(0);
            for i in 1..self.cursors.len() {
                match self.cursors[i].cmp_key(&self.cursors[min]) {
                    Ordering::Less => {
                        second = Some(min);
                        min = i;
                        equal.clear();
                        equal.push(i);
                    }
                    Ordering::Equal => {
                        second = Some(i);
                        equal.push(i);
                    }
                    Ordering::Greater => {
                        if second.is_none_or(|j| {
                            self.cursors[i].cmp_key(&self.cursors[j]) == Ordering::Less
                        }) {
                            second = Some(i);
                        }
                    }
                }
            }
            let resolved = if equal.len() == 1 {
                self.resolve_run(min, second)?
            } else {
                self.resolve_single_rows(&equal)?
            };
            if !resolved {
                self.resolve_key(&equal).await?;
            }
        }
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        if self.picks.is_empty() {
            return Ok(None);
        }
        let (arena, _, picks) = self.take_picks();
        let rows = picks.len();
        let batch = if self.output.is_empty() {
            RecordBatch::try_new_with_options(
                self.output_schema.clone(),
                vec![],
                &RecordBatchOptions::new().with_row_count(Some(rows)),
            )
        } else {
            picks.gather(&arena).and_then(|b| {
                RecordBatch::try_new(self.output_schema.clone(), b.columns().to_vec())
            })
        }
        .map_err(|e| Error::Arrow {
            table: self.table.clone(),
            source: e,
        })?;
        Ok(Some(batch))
    }

    /// The picks so far and the batches they refer to; the merge starts a new batch.
    fn take_picks(&mut self) -> Picked {
        for c in &mut self.cursors {
            c.slot = None;
        }
        // The next batch most likely needs as many runs as this one.
        let next = Picks::with_capacity(self.picks.runs().len());
        (
            std::mem::take(&mut self.arena),
            std::mem::take(&mut self.arena_keys),
            std::mem::replace(&mut self.picks, next),
        )
    }
}

#[cfg(test)]
mod tests;
