//! Pieces of the bitemporal reads: key columns read row by row (history and diff), and
//! diff's output batches gathered from rows of several input batches.

use std::cmp::Ordering;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray,
};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, Int64Type, SchemaRef};

use crate::error::{Error, Result};
use crate::scan::gather::{gather_rows, gather_runs, Run, RUN_GATHER_MIN_ROWS};

/// Picked rows ((input, row), or `None` for null) for the columns of one output batch,
/// with their runs found once for every column.
pub(crate) struct Selection<'a> {
    picks: &'a [Option<(usize, usize)>],
    runs: Option<Vec<Run>>,
}

impl<'a> Selection<'a> {
    /// The selection of `picks`.
    pub(crate) fn new(picks: &'a [Option<(usize, usize)>]) -> Self {
        Selection {
            picks,
            runs: runs_of(picks),
        }
    }
}

/// `picks` as runs of consecutive rows of one input, when none is null.
fn runs_of(picks: &[Option<(usize, usize)>]) -> Option<Vec<Run>> {
    let mut runs: Vec<Run> = Vec::new();
    for pick in picks {
        let &(input, row) = pick.as_ref()?;
        match runs.last_mut() {
            Some((i, first, n)) if *i == input && *first + *n == row => *n += 1,
            _ => runs.push((input, row, 1)),
        }
    }
    (!runs.is_empty()).then_some(runs)
}

/// A key column (Int or String), compared row by row.
pub(crate) enum Keys {
    /// Int keys.
    Int(Int64Array),
    /// String keys.
    Str(StringArray),
}

impl Keys {
    /// The key column of a batch (column 0 in every stream history and diff read).
    pub(crate) fn of(batch: &RecordBatch, table: &str) -> Result<Keys> {
        let col = batch.column(0);
        match col.data_type() {
            DataType::Int64 => Ok(Keys::Int(col.as_primitive::<Int64Type>().clone())),
            DataType::Utf8 => Ok(Keys::Str(col.as_string::<i32>().clone())),
            other => Err(Error::Internal {
                table: table.to_string(),
                reason: format!("key column of type {other}"),
            }),
        }
    }

    /// Orders row `a` of `self` against row `b` of `other`.
    pub(crate) fn cmp(&self, a: usize, other: &Keys, b: usize) -> Ordering {
        match (self, other) {
            (Keys::Int(x), Keys::Int(y)) => x.value(a).cmp(&y.value(b)),
            (Keys::Str(x), Keys::Str(y)) => x.value(a).cmp(y.value(b)),
            // Both sides of a diff come from one table: the key types agree.
            (Keys::Int(_), Keys::Str(_)) => Ordering::Less,
            (Keys::Str(_), Keys::Int(_)) => Ordering::Greater,
        }
    }
}

/// Builds output batches from picked rows of input batches: each output column is
/// gathered from one input column, or is all null where an input is absent.
pub(crate) struct Gather {
    /// Input batches referenced by the picks.
    pub(crate) inputs: Vec<RecordBatch>,
    table: String,
}

impl Gather {
    /// An empty gather for `table` (named in errors).
    pub(crate) fn new(table: &str) -> Self {
        Gather {
            inputs: Vec::new(),
            table: table.to_string(),
        }
    }

    /// Registers an input batch; returns its index for picks.
    pub(crate) fn input(&mut self, batch: RecordBatch) -> usize {
        self.inputs.push(batch);
        self.inputs.len() - 1
    }

    /// Column `column` of the inputs at the selected rows. Picks without nulls are
    /// gathered as a scan's output is: run by run when runs average
    /// [`RUN_GATHER_MIN_ROWS`] rows or more, else value by value; picks with nulls
    /// through Arrow's `interleave`.
    pub(crate) fn column(
        &self,
        column: usize,
        data_type: &DataType,
        selection: &Selection<'_>,
    ) -> Result<ArrayRef> {
        let picks = selection.picks;
        let arrow_err = |e| Error::Arrow {
            table: self.table.clone(),
            source: e,
        };
        if let Some(runs) = &selection.runs {
            let arrays: Vec<&dyn Array> = self
                .inputs
                .iter()
                .map(|b| b.column(column).as_ref())
                .collect();
            if runs.len() * RUN_GATHER_MIN_ROWS <= picks.len() {
                return gather_runs(&arrays, runs, picks.len()).map_err(arrow_err);
            }
            let rows: Vec<(usize, usize)> = picks.iter().flatten().copied().collect();
            return gather_rows(&arrays, &rows).map_err(arrow_err);
        }
        let null = new_null_array(data_type, 1);
        let mut arrays: Vec<&dyn Array> = self
            .inputs
            .iter()
            .map(|b| b.column(column).as_ref())
            .collect();
        arrays.push(null.as_ref());
        let null_at = arrays.len() - 1;
        let idx: Vec<(usize, usize)> = picks.iter().map(|p| p.unwrap_or((null_at, 0))).collect();
        interleave(&arrays, &idx).map_err(arrow_err)
    }

    /// A batch of `schema` from finished columns.
    pub(crate) fn batch(&self, schema: &SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| Error::Arrow {
            table: self.table.clone(),
            source: e,
        })
    }
}
