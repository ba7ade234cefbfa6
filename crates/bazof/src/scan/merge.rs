//! SPEC §5: resolution as a streaming k-way merge.
//!
//! Every source is sorted by key. For each key (in key order) the merge keeps the
//! row with the greatest (event time, commit, seq) and drops the key if that row is
//! a tombstone. Memory: one batch per source plus one output batch.

use arrow::array::{
    Array, BooleanArray, Int64Array, RecordBatch, RecordBatchOptions, StringArray,
    TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::SchemaRef;
use futures::StreamExt;
use std::cmp::Ordering;

use crate::error::{Error, Result};
use crate::scan::plan::ScanMode;
use crate::scan::read::Source;

enum KeyCol {
    Str(StringArray),
    Int(Int64Array),
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone)]
enum OwnedKey {
    Str(String),
    Int(i64),
}

struct Cursor {
    stream: Source,
    batch: RecordBatch,
    row: usize,
    keys: KeyCol,
    et: TimestampMicrosecondArray,
    commit: UInt64Array,
    seq: UInt32Array,
    deleted: BooleanArray,
    slot: Option<usize>,
}

impl Cursor {
    /// Reads the next non-empty batch; `None` when the source is exhausted.
    async fn open(mut stream: Source, table: &str) -> Result<Option<Cursor>> {
        loop {
            match stream.next().await {
                None => return Ok(None),
                Some(batch) => {
                    let batch = batch?;
                    // The as-of filter can empty a batch; a cursor must point at a row.
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    return Cursor::from_batch(stream, batch, table).map(Some);
                }
            }
        }
    }

    fn from_batch(stream: Source, batch: RecordBatch, table: &str) -> Result<Cursor> {
        let bad = || Error::Internal {
            table: table.to_string(),
            reason: "merge schema mismatch".into(),
        };
        let keys = if let Some(s) = batch.column(0).as_any().downcast_ref::<StringArray>() {
            KeyCol::Str(s.clone())
        } else if let Some(i) = batch.column(0).as_any().downcast_ref::<Int64Array>() {
            KeyCol::Int(i.clone())
        } else {
            return Err(bad());
        };
        let get = |i: usize| batch.column(i).as_any();
        Ok(Cursor {
            keys,
            et: get(1)
                .downcast_ref::<TimestampMicrosecondArray>()
                .ok_or_else(bad)?
                .clone(),
            commit: get(2)
                .downcast_ref::<UInt64Array>()
                .ok_or_else(bad)?
                .clone(),
            seq: get(3)
                .downcast_ref::<UInt32Array>()
                .ok_or_else(bad)?
                .clone(),
            deleted: get(4)
                .downcast_ref::<BooleanArray>()
                .ok_or_else(bad)?
                .clone(),
            stream,
            batch,
            row: 0,
            slot: None,
        })
    }

    fn cmp_key(&self, other: &Cursor) -> Ordering {
        self.cmp_key_at(self.row, other)
    }

    /// Compares the key of row `a` of the current batch with `other`'s current key.
    fn cmp_key_at(&self, a: usize, other: &Cursor) -> Ordering {
        match (&self.keys, &other.keys) {
            (KeyCol::Str(x), KeyCol::Str(y)) => x.value(a).cmp(y.value(other.row)),
            (KeyCol::Int(x), KeyCol::Int(y)) => x.value(a).cmp(&y.value(other.row)),
            _ => Ordering::Equal,
        }
    }

    /// Whether rows `a` and `b` of the current batch have the same key.
    fn same_key(&self, a: usize, b: usize) -> bool {
        match &self.keys {
            KeyCol::Str(k) => k.value(a) == k.value(b),
            KeyCol::Int(k) => k.value(a) == k.value(b),
        }
    }

    fn rank_at(&self, row: usize) -> (i64, u64, u32) {
        (
            self.et.value(row),
            self.commit.value(row),
            self.seq.value(row),
        )
    }

    fn key_is(&self, k: &OwnedKey) -> bool {
        match (&self.keys, k) {
            (KeyCol::Str(a), OwnedKey::Str(s)) => a.value(self.row) == s,
            (KeyCol::Int(a), OwnedKey::Int(i)) => a.value(self.row) == *i,
            _ => false,
        }
    }

    fn owned_key(&self, into: &mut OwnedKey) {
        match (&self.keys, into) {
            (KeyCol::Str(a), OwnedKey::Str(s)) => {
                s.clear();
                s.push_str(a.value(self.row));
            }
            (KeyCol::Int(a), k) => *k = OwnedKey::Int(a.value(self.row)),
            (KeyCol::Str(a), k) => *k = OwnedKey::Str(a.value(self.row).to_string()),
        }
    }

    fn rank(&self) -> (i64, u64, u32) {
        self.rank_at(self.row)
    }
}

/// Best row of the current key.
struct Pick {
    rank: (i64, u64, u32),
    slot: usize,
    row: usize,
    deleted: bool,
}

/// The merge state; [`Merger::next_batch`] yields resolved, projected batches.
pub(crate) struct Merger {
    table: String,
    cursors: Vec<Cursor>,
    pending: Vec<Source>,
    output: Vec<usize>,
    output_schema: SchemaRef,
    batch_size: usize,
    remaining: Option<usize>,
    mode: ScanMode,
    arena: Vec<RecordBatch>,
    picks: Vec<(usize, usize)>,
    key: OwnedKey,
}

impl Merger {
    /// `output`: merge-schema column indices to return, in order.
    pub(crate) fn new(
        table: String,
        sources: Vec<Source>,
        output: Vec<usize>,
        output_schema: SchemaRef,
        batch_size: usize,
        limit: Option<usize>,
        mode: ScanMode,
    ) -> Merger {
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
            picks: Vec::new(),
            key: OwnedKey::Int(0),
        }
    }

    async fn advance(&mut self, i: usize) -> Result<()> {
        self.cursors[i].row += 1;
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
                    self.cursors[i] = Cursor::from_batch(stream, b, &self.table)?;
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
        let slot = self.arena.len() - 1;
        self.cursors[i].slot = Some(slot);
        Ok(slot)
    }

    /// The next output batch, or `None` at the end.
    pub(crate) async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        for s in std::mem::take(&mut self.pending) {
            if let Some(c) = Cursor::open(s, &self.table).await? {
                self.cursors.push(c);
            }
        }
        loop {
            let done = self.remaining == Some(0) || self.cursors.is_empty();
            if done || self.picks.len() >= self.batch_size {
                return self.flush();
            }
            // The cursor with the smallest key, and the one with the next smallest.
            let mut min = 0;
            let mut second: Option<usize> = None;
            for i in 1..self.cursors.len() {
                if self.cursors[i].cmp_key(&self.cursors[min]) == Ordering::Less {
                    second = Some(min);
                    min = i;
                } else if second
                    .is_none_or(|j| self.cursors[i].cmp_key(&self.cursors[j]) == Ordering::Less)
                {
                    second = Some(i);
                }
            }
            if self.resolve_run(min, second)? {
                continue;
            }
            let mut key = std::mem::replace(&mut self.key, OwnedKey::Int(0));
            self.cursors[min].owned_key(&mut key);
            let mut best: Option<Pick> = None;
            let mut all_rows: Vec<((i64, u64, u32), usize, usize)> = Vec::new();
            let mut i = 0;
            while i < self.cursors.len() {
                let before = self.cursors.len();
                while i < self.cursors.len() && self.cursors[i].key_is(&key) {
                    let rank = self.cursors[i].rank();
                    if self.mode == ScanMode::AllRows {
                        let slot = self.slot_of(i)?;
                        all_rows.push((rank, slot, self.cursors[i].row));
                    } else if best.as_ref().is_none_or(|b| rank > b.rank) {
                        let slot = self.slot_of(i)?;
                        let c = &self.cursors[i];
                        best = Some(Pick {
                            rank,
                            slot,
                            row: c.row,
                            deleted: c.deleted.value(c.row),
                        });
                    }
                    self.advance(i).await?;
                    if self.cursors.len() < before {
                        break; // cursor i was removed; the one swapped in is examined next
                    }
                }
                if self.cursors.len() == before {
                    i += 1;
                }
            }
            self.key = key;
            // Merged files keep SPEC §4's order: a key's rows by rank.
            all_rows.sort_by_key(|(rank, _, _)| *rank);
            self.picks
                .extend(all_rows.into_iter().map(|(_, slot, row)| (slot, row)));
            if let Some(b) = best {
                if !b.deleted || self.mode == ScanMode::Base {
                    self.picks.push((b.slot, b.row));
                    if let Some(r) = self.remaining.as_mut() {
                        *r -= 1;
                    }
                }
            }
        }
    }

    /// Fast path: resolves, inside cursor `min`'s current batch, the keys that no other
    /// cursor can hold (smaller than cursor `second`'s current key) without stepping
    /// key by key through every cursor. The batch's last key is left to the general
    /// path, since the next batch may continue it. Returns whether it resolved any key.
    fn resolve_run(&mut self, min: usize, second: Option<usize>) -> Result<bool> {
        let c = &self.cursors[min];
        let last = c.batch.num_rows() - 1;
        // Rows [c.row, end) have keys below every other cursor's (keys are sorted).
        let end = match second {
            None => last,
            Some(j) => {
                let other = &self.cursors[j];
                let (mut lo, mut hi) = (c.row, last);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if c.cmp_key_at(mid, other) == Ordering::Less {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo
            }
        };
        if end <= c.row + 1 {
            return Ok(false);
        }
        let slot = self.slot_of(min)?;
        let c = &self.cursors[min];
        let mut run_start = c.row;
        let mut best = c.row;
        let mut resolved = false;
        for row in c.row..end {
            if c.rank_at(row) > c.rank_at(best) {
                best = row;
            }
            // `row + 1 <= end <= last`: the next row exists in this batch.
            if c.same_key(row, row + 1) {
                continue;
            }
            // Rows [run_start, row] are the whole key.
            resolved = true;
            match self.mode {
                // A data file's rows of one key are already in rank order (SPEC §4).
                ScanMode::AllRows => self.picks.extend((run_start..=row).map(|r| (slot, r))),
                ScanMode::Resolve if c.deleted.value(best) => {}
                ScanMode::Resolve | ScanMode::Base => {
                    self.picks.push((slot, best));
                    if let Some(r) = self.remaining.as_mut() {
                        *r -= 1;
                    }
                }
            }
            run_start = row + 1;
            best = run_start;
            if self.picks.len() >= self.batch_size || self.remaining == Some(0) {
                break;
            }
        }
        self.cursors[min].row = run_start;
        Ok(resolved)
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        if self.picks.is_empty() {
            return Ok(None);
        }
        let rows = self.picks.len();
        let batch = if self.output.is_empty() {
            RecordBatch::try_new_with_options(
                self.output_schema.clone(),
                vec![],
                &RecordBatchOptions::new().with_row_count(Some(rows)),
            )
        } else {
            let refs: Vec<&RecordBatch> = self.arena.iter().collect();
            interleave_record_batch(&refs, &self.picks).and_then(|b| {
                RecordBatch::try_new(self.output_schema.clone(), b.columns().to_vec())
            })
        }
        .map_err(|e| Error::Arrow {
            table: self.table.clone(),
            source: e,
        })?;
        self.arena.clear();
        self.picks.clear();
        for c in &mut self.cursors {
            c.slot = None;
        }
        Ok(Some(batch))
    }
}
