//! SPEC §4 and §7: a commit's sorted run. The rows a writer buffered, as the batches
//! they arrived in, put in file order (key, event time, commit, seq) on all cores,
//! without first copying the batches into one.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::array::{
    Array, ArrayRef, BooleanArray, RecordBatch, TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use arrow::compute::{concat, take};
use arrow::datatypes::{ArrowPrimitiveType, TimestampMicrosecondType, UInt32Type, UInt64Type};
use arrow::error::ArrowError;
use rayon::prelude::*;

use crate::data_file::{arrow_err, nulls_are_tombstones};
use crate::error::{Error, Result};
use crate::key_order::{cmp_long, keys_from_prefixes, needs_tail, Prefixes};
use crate::schema::{KeyType, TableSchema, COMMIT_COLUMN, DELETED_COLUMN, SEQ_COLUMN};
use crate::table::Table;

/// Sorts rows in file order (key, event time, commit, seq) and keeps only the last row
/// of each (key, event time, commit, seq): within one run of one commit that is the
/// later row, the only one that can ever win resolution. `batches` are in the file
/// schema. The key, event time, commit and run are read off the sorted sort keys; the
/// other columns are gathered from the batches (a random access per row and column).
pub(crate) fn sort_for_file(
    table: &Table,
    batches: &[RecordBatch],
    schema: &TableSchema,
) -> Result<RecordBatch> {
    let file_schema = schema.file_schema();
    let internal = |reason: String| Error::Internal {
        table: table.location().to_string(),
        reason,
    };
    let index = |name: &str| {
        file_schema
            .index_of(name)
            .map_err(|_| internal(format!("column '{name}' missing")))
    };
    let (key, event_time) = (index(&schema.key)?, index(&schema.event_time)?);
    let (commit, seq) = (index(COMMIT_COLUMN)?, index(SEQ_COLUMN)?);
    let deleted = index(DELETED_COLUMN)?;
    let runs = Chunks::new(batches);
    if runs.rows == 0 {
        return Ok(RecordBatch::new_empty(file_schema));
    }
    let column =
        |i: usize| -> Vec<&dyn Array> { batches.iter().map(|b| b.column(i).as_ref()).collect() };
    let sort_cols = [column(key), column(event_time), column(commit), column(seq)];
    let (rows, long_keys) =
        file_order(&runs, &sort_cols).ok_or_else(|| internal("unexpected column types".into()))?;
    // Keys and event times are never null (`normalize` refuses that): the sort keys
    // then hold them whole, unless a key is long.
    let whole = |cols: &[&dyn Array]| cols.iter().all(|c| c.null_count() == 0);
    let (keys_whole, times_whole) = (!long_keys && whole(&sort_cols[0]), whole(&sort_cols[1]));
    let kept = UInt32Array::from_iter_values(rows.iter().map(|r| pos(r) as u32));
    let gather = |i: usize, at: &UInt32Array| -> std::result::Result<ArrayRef, ArrowError> {
        take(concat(&column(i))?.as_ref(), at, None)
    };
    let deleted_all = concat(&column(deleted)).map_err(|e| arrow_err(table, e))?;
    let deleted_all = deleted_all
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| internal("the deletion column is not Boolean".into()))?;
    let fill = tombstone_fill(deleted_all, &rows);
    let values = schema.file_value_columns();
    let string_keys = schema.key_type == KeyType::String;
    let columns: Vec<ArrayRef> = (0..file_schema.fields().len())
        .into_par_iter()
        .map(|i| -> std::result::Result<ArrayRef, ArrowError> {
            Ok(if i == key && keys_whole {
                match keys_from_prefixes(rows.iter().map(key_prefix), string_keys) {
                    Some(keys) => keys,
                    None => gather(i, &kept)?,
                }
            } else if i == event_time && times_whole {
                let times = rows.iter().map(|r| (r.2 ^ (1 << 63)) as i64);
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(times)
                        .with_data_type(sort_cols[1][0].data_type().clone()),
                )
            } else if i == commit {
                Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.3)))
            } else if i == seq {
                Arc::new(UInt32Array::from_iter_values(
                    rows.iter().map(|r| (r.4 >> 32) as u32),
                ))
            } else if i == deleted {
                take(deleted_all, &kept, None)?
            } else {
                let all = concat(&column(i))?;
                match &fill {
                    Some(fill)
                        if values.contains(&i)
                            && nulls_are_tombstones(all.as_ref(), deleted_all) =>
                    {
                        take(all.as_ref(), fill, None)?
                    }
                    _ => take(all.as_ref(), &kept, None)?,
                }
            })
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| arrow_err(table, e))?;
    RecordBatch::try_new(file_schema, columns).map_err(|e| arrow_err(table, e))
}

/// SPEC §4's fill of tombstones' nulls (see `data_file::fill_tombstone_nulls`), done in
/// the gather: the rows to take, with each tombstone's replaced by the first live row,
/// whose values are present in each column whose nulls are all tombstones'. `None`
/// without tombstones or without a live row.
fn tombstone_fill(deleted: &BooleanArray, rows: &[SortRow]) -> Option<UInt32Array> {
    if deleted.true_count() == 0 {
        return None;
    }
    let bits = deleted.values();
    let live = (!bits).set_indices().next()? as u32;
    Some(
        rows.iter()
            .map(|r| {
                if bits.value(pos(r)) {
                    live
                } else {
                    pos(r) as u32
                }
            })
            .collect(),
    )
}

/// Where each batch of a run starts, to turn a row's position in the run into its
/// batch and its row there.
struct Chunks {
    /// The first row of every batch, in run order.
    starts: Vec<usize>,
    /// Rows in all batches.
    rows: usize,
}

impl Chunks {
    fn new(batches: &[RecordBatch]) -> Self {
        let mut starts = Vec::with_capacity(batches.len());
        let mut rows = 0;
        for b in batches {
            starts.push(rows);
            rows += b.num_rows();
        }
        Chunks { starts, rows }
    }

    /// The positions of batch `b`'s rows in the run.
    fn range(&self, b: usize) -> std::ops::Range<usize> {
        let end = self.starts.get(b + 1).copied().unwrap_or(self.rows);
        self.starts[b]..end
    }

    /// The batch holding row `p` of the run, and the row there.
    #[inline]
    fn locate(&self, p: usize) -> (usize, usize) {
        let batch = self.starts.partition_point(|&s| s <= p).saturating_sub(1);
        (batch, p - self.starts[batch])
    }
}

/// A row's place in file order, as integers compared left to right: the key's prefix
/// (high, low), the event time (sign flipped), the commit, then seq and the row's
/// position in the run.
type SortRow = (u64, u64, u64, u64, u64);

/// The rows' sort keys in file order (key, event time, commit, seq, position), keeping
/// only the last of rows equal in (key, event time, commit, seq), and whether some key
/// is too long for its prefix. `cols` are the batches' key, event time, commit and seq
/// columns. Keys compare by their integer prefix ([`Prefixes`]), so sorting a run costs
/// integer compares, not one `memcmp` per comparison; it sorts on all cores.
fn file_order(runs: &Chunks, cols: &[Vec<&dyn Array>; 4]) -> Option<(Vec<SortRow>, bool)> {
    let keys: Vec<Prefixes> = cols[0]
        .iter()
        .map(|k| Prefixes::new(*k))
        .collect::<Option<_>>()?;
    let ts = values_of::<TimestampMicrosecondType>(&cols[1])?;
    let commits = values_of::<UInt64Type>(&cols[2])?;
    let seqs = values_of::<UInt32Type>(&cols[3])?;
    // Sorting the sort keys themselves (not indices into them) keeps the comparisons
    // on contiguous memory; only equal prefixes of long keys look at the strings.
    let mut rows: Vec<SortRow> = (0..runs.rows)
        .into_par_iter()
        .map_init(
            || (0, 0..0),
            |(b, rows), p| {
                // Positions come in order within a job: find the batch only on leaving one.
                if !rows.contains(&p) {
                    *b = runs.locate(p).0;
                    *rows = runs.range(*b);
                }
                (*b, p - rows.start, p)
            },
        )
        .map(|(b, i, p)| {
            let prefix = keys[b].at(i);
            (
                (prefix >> 64) as u64,
                prefix as u64,
                (ts[b][i] as u64) ^ (1 << 63),
                commits[b][i],
                (u64::from(seqs[b][i]) << 32) | p as u64,
            )
        })
        .collect();
    // Only long keys with equal prefixes look for their batches and compare their bytes.
    let tail = |a: &SortRow, b: &SortRow| {
        let prefix = key_prefix(a);
        if !needs_tail(prefix) {
            return Ordering::Equal;
        }
        let ((ab, ai), (bb, bi)) = (runs.locate(pos(a)), runs.locate(pos(b)));
        cmp_long(prefix, keys[ab].bytes(ai), keys[bb].bytes(bi))
    };
    let long_keys = rows.iter().any(|r| needs_tail(key_prefix(r)));
    if long_keys {
        rows.par_sort_unstable_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then_with(|| tail(a, b))
                .then_with(|| (a.2, a.3, a.4).cmp(&(b.2, b.3, b.4)))
        });
    } else {
        rows.par_sort_unstable();
    }
    let same = |a: &SortRow, b: &SortRow| {
        (a.0, a.1, a.2, a.3, a.4 >> 32) == (b.0, b.1, b.2, b.3, b.4 >> 32)
            && tail(a, b) == Ordering::Equal
    };
    // The last of equal rows stays; kept rows move forward in place.
    let mut kept = 0;
    for i in 0..rows.len() {
        if i + 1 == rows.len() || !same(&rows[i], &rows[i + 1]) {
            rows[kept] = rows[i];
            kept += 1;
        }
    }
    rows.truncate(kept);
    Some((rows, long_keys))
}

/// The values of every batch's column of type `T`; `None` if one is of another type.
fn values_of<'a, T: ArrowPrimitiveType>(cols: &[&'a dyn Array]) -> Option<Vec<&'a [T::Native]>> {
    cols.iter()
        .map(|c| c.as_primitive_opt::<T>().map(|a| &a.values()[..]))
        .collect()
}

/// A sort row's key prefix.
fn key_prefix(r: &SortRow) -> u128 {
    (u128::from(r.0) << 64) | u128::from(r.1)
}

/// A sort row's position in the run.
fn pos(r: &SortRow) -> usize {
    (r.4 & u64::from(u32::MAX)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use proptest::prelude::*;

    /// Key, event time, commit, seq.
    type Row = (String, i64, u64, u32);

    proptest! {
        /// File order against a plain sort and dedup of the same tuples, with string
        /// keys that share long prefixes or differ only in trailing NULs, split into
        /// batches anywhere.
        #[test]
        fn file_order_is_sorted_and_deduplicated(
            rows in prop::collection::vec(("[ab\\x00]{0,20}", 0i64..3, 0u64..2, 0u32..2), 0..60),
            cuts in prop::collection::vec(0usize..60, 0..4),
        ) {
            let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(rows.len())).collect();
            bounds.extend([0, rows.len()]);
            bounds.sort_unstable();
            let part = |f: &dyn Fn(&[Row]) -> ArrayRef| -> Vec<ArrayRef> {
                bounds.windows(2).map(|w| f(&rows[w[0]..w[1]])).collect()
            };
            let arrays: [Vec<ArrayRef>; 4] = [
                part(&|r| Arc::new(StringArray::from_iter_values(r.iter().map(|r| r.0.clone())))),
                part(&|r| Arc::new(TimestampMicrosecondArray::from_iter_values(r.iter().map(|r| r.1)))),
                part(&|r| Arc::new(UInt64Array::from_iter_values(r.iter().map(|r| r.2)))),
                part(&|r| Arc::new(UInt32Array::from_iter_values(r.iter().map(|r| r.3)))),
            ];
            let cols = arrays.each_ref().map(|c| c.iter().map(|a| a.as_ref()).collect::<Vec<&dyn Array>>());
            let starts: Vec<usize> = bounds.windows(2).map(|w| w[0]).collect();
            let runs = Chunks { starts, rows: rows.len() };
            let (sorted, long_keys) = file_order(&runs, &cols).unwrap();
            prop_assert_eq!(long_keys, rows.iter().any(|r| r.0.len() > 15));
            let got: Vec<u32> = sorted.iter().map(|r| pos(r) as u32).collect();
            let tuple = |i: u32| {
                let r = &rows[i as usize];
                (r.0.as_bytes().to_vec(), r.1, r.2, r.3)
            };
            let mut want: Vec<u32> = (0..rows.len() as u32).collect();
            want.sort_by_key(|&i| (tuple(i), i));
            let want: Vec<u32> = (0..want.len())
                .filter(|&j| j + 1 == want.len() || tuple(want[j]) != tuple(want[j + 1]))
                .map(|j| want[j])
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
