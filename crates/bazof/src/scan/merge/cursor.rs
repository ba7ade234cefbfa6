//! A merge input: one source's current batch, its key prefixes and reserved columns,
//! and the row the merge stands at.

use arrow::array::{
    Array, BooleanArray, RecordBatch, TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use arrow::buffer::ScalarBuffer;
use futures::StreamExt;
use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::key_order::KeyColumn;
use crate::scan::read::Source;

/// The key being resolved, when it runs past a batch end: prefix and string bytes.
#[derive(Default)]
pub(super) struct OwnedKey(pub(super) u128, pub(super) String);

pub(super) struct Cursor {
    pub(super) stream: Source,
    pub(super) batch: RecordBatch,
    pub(super) row: usize,
    /// The batch's key prefixes, shared with its arena slot if it has one
    /// ([`super::Merger::arena_keys`]).
    pub(super) keys: Arc<KeyColumn>,
    pub(super) et: ScalarBuffer<i64>,
    pub(super) commit: ScalarBuffer<u64>,
    pub(super) seq: ScalarBuffer<u32>,
    pub(super) deleted: BooleanArray,
    pub(super) slot: Option<usize>,
    /// The key prefix of the current row: most cursor comparisons end here.
    pub(super) cur: u128,
    /// The source holds one row per key (a base, SPEC §8).
    pub(super) unique: bool,
}

impl Cursor {
    /// Reads the next non-empty batch; `None` when the source is exhausted.
    pub(super) async fn open(
        mut stream: Source,
        unique: bool,
        table: &str,
    ) -> Result<Option<Cursor>> {
        loop {
            match stream.next().await {
                None => return Ok(None),
                Some(batch) => {
                    let batch = batch?;
                    // The as-of filter can empty a batch; a cursor must point at a row.
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    return Cursor::from_batch(stream, batch, unique, table).map(Some);
                }
            }
        }
    }

    pub(super) fn from_batch(
        stream: Source,
        batch: RecordBatch,
        unique: bool,
        table: &str,
    ) -> Result<Cursor> {
        let bad = || Error::Internal {
            table: table.to_string(),
            reason: "merge schema mismatch".into(),
        };
        let keys = Arc::new(KeyColumn::new(batch.column(0).as_ref()).ok_or_else(bad)?);
        let get = |i: usize| batch.column(i).as_any();
        Ok(Cursor {
            keys,
            et: get(1)
                .downcast_ref::<TimestampMicrosecondArray>()
                .ok_or_else(bad)?
                .values()
                .clone(),
            commit: get(2)
                .downcast_ref::<UInt64Array>()
                .ok_or_else(bad)?
                .values()
                .clone(),
            seq: get(3)
                .downcast_ref::<UInt32Array>()
                .ok_or_else(bad)?
                .values()
                .clone(),
            deleted: get(4)
                .downcast_ref::<BooleanArray>()
                .ok_or_else(bad)?
                .clone(),
            stream,
            batch,
            row: 0,
            slot: None,
            cur: 0,
            unique,
        }
        .at_first_row())
    }

    pub(super) fn at_first_row(mut self) -> Cursor {
        self.set_row(0);
        self
    }

    /// Moves to row `r` of the current batch (or past its end).
    #[inline]
    pub(super) fn set_row(&mut self, r: usize) {
        self.row = r;
        if r < self.batch.num_rows() {
            self.cur = self.keys.prefix[r];
        }
    }

    #[inline]
    pub(super) fn cmp_key(&self, other: &Cursor) -> Ordering {
        match self.cur.cmp(&other.cur) {
            Ordering::Equal => self.keys.tail_at(self.row, &other.keys, other.row),
            o => o,
        }
    }

    /// Compares the key of row `a` of the current batch with `other`'s current key.
    #[inline]
    pub(super) fn cmp_key_at(&self, a: usize, other: &Cursor) -> Ordering {
        self.keys.cmp_at(a, &other.keys, other.row)
    }

    /// Whether rows `a` and `b` of the current batch have the same key.
    #[inline]
    pub(super) fn same_key(&self, a: usize, b: usize) -> bool {
        self.keys.eq_at(a, &self.keys, b)
    }

    #[inline]
    pub(super) fn rank_at(&self, row: usize) -> (i64, u64, u32) {
        (self.et[row], self.commit[row], self.seq[row])
    }

    pub(super) fn key_is(&self, k: &OwnedKey) -> bool {
        self.keys.is_at(self.row, k.0, &k.1)
    }

    /// Copies the key of row `r` into `into`.
    pub(super) fn owned_key(&self, r: usize, into: &mut OwnedKey) {
        into.0 = self.keys.prefix[r];
        into.1.clear();
        into.1.push_str(self.keys.str_at(r));
    }
}
