//! SPEC §5: putting a merge's output together. The merge records the rows it picks as
//! runs (a batch, its first row, a length); each column is copied run by run with a
//! kernel per type, a slice copy per run, instead of Arrow's generic
//! `MutableArrayData`, whose dynamic dispatch per run and per buffer cost more than the
//! copies themselves when runs are short (a base between the keys of a small level:
//! about 11 rows a run). Runs of a row or two (history's, mostly) are gathered value
//! by value instead, from a list of (source, row) made once for every column.

use std::sync::Arc;

use arrow::array::{
    make_array, Array, ArrayData, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray,
    BooleanBufferBuilder, MutableArrayData, PrimitiveArray, RecordBatch, RecordBatchOptions,
    StringArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::interleave;
use arrow::datatypes::{
    DataType, Date32Type, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
    UInt32Type, UInt64Type,
};
use arrow::error::ArrowError;

/// One run of picked rows: (source array, first row, rows).
pub(crate) type Run = (usize, usize, usize);

/// Runs averaging at least this many rows are copied run by run; shorter ones row by
/// row ([`gather_rows`]), where a copy per run of one or two rows costs more.
pub(crate) const RUN_GATHER_MIN_ROWS: usize = 4;

/// The rows a merge picked for its next output batch, in output order, as runs of
/// consecutive rows of one arena batch.
#[derive(Default)]
pub(crate) struct Picks {
    runs: Vec<Run>,
    rows: usize,
}

impl Picks {
    /// No picks yet, with room for `runs` runs (grown one push at a time, a batch's
    /// list of runs was copied a dozen times).
    pub(crate) fn with_capacity(runs: usize) -> Self {
        Picks {
            runs: Vec::with_capacity(runs),
            rows: 0,
        }
    }

    /// Rows picked.
    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row is picked.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Picks row `row` of arena batch `slot`.
    #[inline]
    pub(crate) fn push(&mut self, slot: usize, row: usize) {
        self.push_run(slot, row, 1);
    }

    /// Picks rows `first..first + n` of arena batch `slot`.
    #[inline]
    pub(crate) fn push_run(&mut self, slot: usize, first: usize, n: usize) {
        if n == 0 {
            return;
        }
        self.rows += n;
        match self.runs.last_mut() {
            Some((s, f, len)) if *s == slot && *f + *len == first => *len += n,
            _ => self.runs.push((slot, first, n)),
        }
    }

    /// The picks, as runs in output order.
    pub(crate) fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// The picked rows of `arena`'s batches (one schema) as one batch (see
    /// [`Picks::gather_columns`]).
    pub(crate) fn gather(&self, arena: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
        let no_batch = || ArrowError::InvalidArgumentError("gather of no batches".into());
        let batch = arena.first().ok_or_else(no_batch)?;
        let all: Vec<usize> = (0..batch.num_columns()).collect();
        let columns = self.gather_columns(arena, &all)?;
        RecordBatch::try_new_with_options(
            batch.schema(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(self.rows)),
        )
    }

    /// Columns `columns` of the picked rows of `arena`'s batches (one schema): slices
    /// when the rows are one run, each column copied run by run when runs average
    /// [`RUN_GATHER_MIN_ROWS`] rows or more, else row by row.
    pub(crate) fn gather_columns(
        &self,
        arena: &[RecordBatch],
        columns: &[usize],
    ) -> Result<Vec<ArrayRef>, ArrowError> {
        let no_batch = || ArrowError::InvalidArgumentError("gather of no batches".into());
        if let [(slot, first, n)] = self.runs[..] {
            let batch = arena.get(slot).ok_or_else(no_batch)?;
            return Ok(columns
                .iter()
                .map(|&c| batch.column(c).slice(first, n))
                .collect());
        }
        let rows = (self.runs.len() * RUN_GATHER_MIN_ROWS > self.rows).then(|| {
            let mut rows: Vec<(usize, usize)> = Vec::with_capacity(self.rows);
            for &(s, f, n) in &self.runs {
                for r in f..f + n {
                    rows.push((s, r));
                }
            }
            rows
        });
        columns
            .iter()
            .map(|&c| {
                let sources: Vec<&dyn Array> = arena.iter().map(|b| b.column(c).as_ref()).collect();
                match &rows {
                    Some(rows) => gather_rows(&sources, rows),
                    None => gather_runs(&sources, &self.runs, self.rows),
                }
            })
            .collect()
    }
}

/// The rows of `runs`, in order, from `sources` (arrays of one type), as one array.
pub(crate) fn gather_runs(
    sources: &[&dyn Array],
    runs: &[Run],
    rows: usize,
) -> Result<ArrayRef, ArrowError> {
    let Some(first) = sources.first() else {
        return Err(ArrowError::InvalidArgumentError(
            "gather of no arrays".into(),
        ));
    };
    // The generic copy carries its own validity; only the typed kernels need this.
    let nulls = || gather_nulls(sources, runs, rows);
    Ok(match first.data_type() {
        DataType::Int64 => primitive::<Int64Type>(sources, runs, rows, nulls()),
        DataType::Float64 => primitive::<Float64Type>(sources, runs, rows, nulls()),
        DataType::Int32 => primitive::<Int32Type>(sources, runs, rows, nulls()),
        DataType::UInt64 => primitive::<UInt64Type>(sources, runs, rows, nulls()),
        DataType::UInt32 => primitive::<UInt32Type>(sources, runs, rows, nulls()),
        DataType::Date32 => primitive::<Date32Type>(sources, runs, rows, nulls()),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            primitive::<TimestampMicrosecondType>(sources, runs, rows, nulls())
        }
        DataType::Boolean => boolean(sources, runs, rows, nulls()),
        DataType::Utf8 => utf8(sources, runs, rows, nulls())?,
        _ => generic(sources, runs, rows)?,
    })
}

/// The rows `rows` ((source, row), in order) of `sources` (arrays of one type), as one
/// array, a value at a time: for runs too short to copy run by run.
pub(crate) fn gather_rows(
    sources: &[&dyn Array],
    rows: &[(usize, usize)],
) -> Result<ArrayRef, ArrowError> {
    let Some(first) = sources.first() else {
        return Err(ArrowError::InvalidArgumentError(
            "gather of no arrays".into(),
        ));
    };
    let nulls = || row_nulls(sources, rows);
    Ok(match first.data_type() {
        DataType::Int64 => primitive_rows::<Int64Type>(sources, rows, nulls()),
        DataType::Float64 => primitive_rows::<Float64Type>(sources, rows, nulls()),
        DataType::Int32 => primitive_rows::<Int32Type>(sources, rows, nulls()),
        DataType::UInt64 => primitive_rows::<UInt64Type>(sources, rows, nulls()),
        DataType::UInt32 => primitive_rows::<UInt32Type>(sources, rows, nulls()),
        DataType::Date32 => primitive_rows::<Date32Type>(sources, rows, nulls()),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            primitive_rows::<TimestampMicrosecondType>(sources, rows, nulls())
        }
        DataType::Boolean => {
            let bits: Vec<&BooleanBuffer> =
                sources.iter().map(|a| a.as_boolean().values()).collect();
            let values = BooleanBuffer::collect_bool(rows.len(), |i| {
                let (s, r) = rows[i];
                bits[s].value(r)
            });
            Arc::new(BooleanArray::new(values, nulls()))
        }
        DataType::Utf8 => utf8_rows(sources, rows, nulls())?,
        _ => interleave(sources, rows)?,
    })
}

/// The validity of rows gathered one by one; `None` when no source holds a null.
fn row_nulls(sources: &[&dyn Array], rows: &[(usize, usize)]) -> Option<NullBuffer> {
    if sources.iter().all(|a| a.null_count() == 0) {
        return None;
    }
    let bits: Vec<Option<&NullBuffer>> = sources.iter().map(|a| a.nulls()).collect();
    Some(NullBuffer::new(BooleanBuffer::collect_bool(
        rows.len(),
        |i| {
            let (s, r) = rows[i];
            bits[s].is_none_or(|n| n.is_valid(r))
        },
    )))
}

fn primitive_rows<T: ArrowPrimitiveType>(
    sources: &[&dyn Array],
    rows: &[(usize, usize)],
    nulls: Option<NullBuffer>,
) -> ArrayRef {
    let typed: Vec<&[T::Native]> = sources
        .iter()
        .map(|a| a.as_primitive::<T>().values().as_ref())
        .collect();
    let values: Vec<T::Native> = rows.iter().map(|&(s, r)| typed[s][r]).collect();
    let data_type = sources[0].data_type().clone();
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(values), nulls).with_data_type(data_type))
}

fn utf8_rows(
    sources: &[&dyn Array],
    rows: &[(usize, usize)],
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef, ArrowError> {
    let parts: Vec<(&[i32], &[u8])> = sources
        .iter()
        .map(|a| {
            let a = a.as_string::<i32>();
            (a.value_offsets(), a.value_data())
        })
        .collect();
    let mut offsets: Vec<i32> = Vec::with_capacity(rows.len() + 1);
    offsets.push(0);
    let mut end = 0usize;
    for &(s, r) in rows {
        let o = parts[s].0;
        end += (o[r + 1] - o[r]).max(0) as usize;
        let end = i32::try_from(end)
            .map_err(|_| ArrowError::ComputeError("gathered strings exceed 2 GiB".into()))?;
        offsets.push(end);
    }
    // Most values are short (keys, categories): each is copied as one 16-byte word
    // where its source holds 16 bytes from its start, and the next value overwrites
    // the excess; a copy of its exact length was a `memcpy` call per value.
    const WORD: usize = 16;
    let mut data = vec![0u8; end + WORD];
    let mut at = 0;
    for &(s, r) in rows {
        let (o, d) = parts[s];
        let (start, stop) = (o[r] as usize, o[r + 1] as usize);
        let len = stop.saturating_sub(start);
        match d.get(start..start + WORD) {
            Some(word) if len <= WORD => data[at..at + WORD].copy_from_slice(word),
            _ => data[at..at + len].copy_from_slice(&d[start..stop]),
        }
        at += len;
    }
    data.truncate(at);
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    // SAFETY: as in `utf8`: the offsets start at 0, never decrease (each adds a
    // value's length) and end at `data.len()` (the same lengths, copied in the same
    // order); `data` is whole values of valid `StringArray`s, hence valid UTF-8 at
    // every offset; `nulls`, if any, has one bit per row.
    Ok(Arc::new(unsafe {
        StringArray::new_unchecked(offsets, data.into(), nulls)
    }))
}

/// The validity of the gathered rows; `None` when no source holds a null.
fn gather_nulls(sources: &[&dyn Array], runs: &[Run], rows: usize) -> Option<NullBuffer> {
    if sources.iter().all(|a| a.null_count() == 0) {
        return None;
    }
    let mut out = BooleanBufferBuilder::new(rows);
    for &(s, first, n) in runs {
        match sources[s].nulls() {
            Some(nulls) => {
                let bits = nulls.inner();
                let at = bits.offset() + first;
                out.append_packed_range(at..at + n, bits.values());
            }
            None => out.append_n(n, true),
        }
    }
    Some(NullBuffer::new(out.finish()))
}

fn primitive<T: ArrowPrimitiveType>(
    sources: &[&dyn Array],
    runs: &[Run],
    rows: usize,
    nulls: Option<NullBuffer>,
) -> ArrayRef {
    let typed: Vec<&PrimitiveArray<T>> = sources.iter().map(|a| a.as_primitive::<T>()).collect();
    let mut values: Vec<T::Native> = Vec::with_capacity(rows);
    for &(s, first, n) in runs {
        values.extend_from_slice(&typed[s].values()[first..first + n]);
    }
    let data_type = sources[0].data_type().clone();
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(values), nulls).with_data_type(data_type))
}

fn boolean(
    sources: &[&dyn Array],
    runs: &[Run],
    rows: usize,
    nulls: Option<NullBuffer>,
) -> ArrayRef {
    let mut values = BooleanBufferBuilder::new(rows);
    for &(s, first, n) in runs {
        let bits: &BooleanBuffer = sources[s].as_boolean().values();
        let at = bits.offset() + first;
        values.append_packed_range(at..at + n, bits.values());
    }
    Arc::new(BooleanArray::new(values.finish(), nulls))
}

fn utf8(
    sources: &[&dyn Array],
    runs: &[Run],
    rows: usize,
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef, ArrowError> {
    let typed: Vec<&StringArray> = sources.iter().map(|a| a.as_string::<i32>()).collect();
    let bytes: usize = runs
        .iter()
        .map(|&(s, first, n)| {
            let o = typed[s].value_offsets();
            (o[first + n] - o[first]).max(0) as usize
        })
        .sum();
    i32::try_from(bytes)
        .map_err(|_| ArrowError::ComputeError("gathered strings exceed 2 GiB".into()))?;
    let mut offsets: Vec<i32> = Vec::with_capacity(rows + 1);
    let mut data: Vec<u8> = Vec::with_capacity(bytes);
    offsets.push(0);
    for &(s, first, n) in runs {
        let src = typed[s];
        let o = &src.value_offsets()[first..=first + n];
        let (lo, hi) = (o[0], o[n]);
        // Bounded by `bytes`, which fits an i32 (checked above).
        let shift = data.len() as i32 - lo;
        offsets.extend(o[1..].iter().map(|&x| x + shift));
        data.extend_from_slice(&src.value_data()[lo as usize..hi as usize]);
    }
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    // SAFETY: what `try_new` would check holds by construction, so skipping its UTF-8
    // pass over every byte is sound: the offsets start at 0, never decrease (each run's
    // are its source's, shifted to where its bytes land in `data`) and end at
    // `data.len()`; `data` is whole values of valid `StringArray`s cut at their value
    // boundaries, hence valid UTF-8 at every offset; `nulls`, if any, has `rows` bits,
    // one per value.
    Ok(Arc::new(unsafe {
        StringArray::new_unchecked(offsets, data.into(), nulls)
    }))
}

/// Any other type: Arrow's generic copy, run by run.
fn generic(sources: &[&dyn Array], runs: &[Run], rows: usize) -> Result<ArrayRef, ArrowError> {
    let data: Vec<ArrayData> = sources.iter().map(|a| a.to_data()).collect();
    let mut out = MutableArrayData::try_new(data.iter().collect(), false, rows)?;
    for &(s, first, n) in runs {
        out.try_extend(s, first, first + n)?;
    }
    Ok(make_array(out.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, TimestampMicrosecondArray};
    use proptest::prelude::*;

    /// Gathering runs, run by run and row by row, equals concatenating the slices they
    /// name, for every kernel (with and without nulls, sliced sources) and for the
    /// generic fallback.
    fn check(sources: Vec<ArrayRef>, runs: &[Run]) {
        let refs: Vec<&dyn Array> = sources.iter().map(|a| a.as_ref()).collect();
        let rows = runs.iter().map(|r| r.2).sum();
        let got = gather_runs(&refs, runs, rows).unwrap();
        let each_row: Vec<(usize, usize)> = runs
            .iter()
            .flat_map(|&(s, f, n)| (f..f + n).map(move |r| (s, r)))
            .collect();
        let by_row = gather_rows(&refs, &each_row).unwrap();
        let parts: Vec<ArrayRef> = runs
            .iter()
            .map(|&(s, f, n)| sources[s].slice(f, n))
            .collect();
        let part_refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        let want = arrow::compute::concat(&part_refs).unwrap();
        assert_eq!(got.to_data(), want.to_data());
        assert_eq!(by_row.to_data(), want.to_data());
    }

    /// Source columns (as optional ints) and runs over them.
    type Case = (Vec<Vec<Option<i64>>>, Vec<Run>);

    fn runs_strategy() -> impl Strategy<Value = Case> {
        prop::collection::vec(
            prop::collection::vec(prop::option::weighted(0.8, -50i64..50), 1..20),
            1..4,
        )
        .prop_flat_map(|srcs| {
            let lens: Vec<usize> = srcs.iter().map(|s| s.len()).collect();
            let run = (0..lens.len()).prop_flat_map(move |s| {
                let len = lens[s];
                (0..len).prop_flat_map(move |f| (Just(s), Just(f), 0..=len - f))
            });
            (Just(srcs), prop::collection::vec(run, 1..8))
        })
    }

    proptest! {
        #[test]
        fn runs_equal_concatenated_slices((srcs, runs) in runs_strategy(), cut in 0usize..2) {
            // Every source is sliced by `cut` rows (offsets into buffers), padded first.
            let pad = |v: &Vec<Option<i64>>| {
                let mut p = vec![Some(7); cut];
                p.extend(v.iter().copied());
                p
            };
            let each = |make: &dyn Fn(Vec<Option<i64>>) -> ArrayRef| -> Vec<ArrayRef> {
                srcs.iter().map(|v| make(pad(v)).slice(cut, v.len())).collect()
            };
            let ints = each(&|p| Arc::new(Int64Array::from(p)));
            let times = each(&|p| Arc::new(TimestampMicrosecondArray::from(p).with_timezone("UTC")));
            let floats = each(&|p| {
                Arc::new(Float64Array::from_iter(p.iter().map(|x| x.map(|i| i as f64 / 3.0))))
            });
            let bools = each(&|p| Arc::new(BooleanArray::from_iter(p.iter().map(|x| x.map(|i| i % 3 == 0)))));
            let strings = each(&|p| {
                Arc::new(StringArray::from_iter(
                    // 0 to 22 bytes: values copied as one 16-byte word and longer ones.
                    p.iter().map(|x| x.map(|i| "é".repeat(i.unsigned_abs() as usize % 12))),
                ))
            });
            // A type without a kernel of its own: the generic copy.
            let large = each(&|p| {
                Arc::new(arrow::array::LargeStringArray::from_iter(
                    p.iter().map(|x| x.map(|i| i.to_string())),
                ))
            });
            for sources in [ints, times, floats, bools, strings, large] {
                check(sources, &runs);
            }
        }
    }
}
