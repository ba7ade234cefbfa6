//! Batches of table columns: the [`BatchBuilder`] every reader feeds cell by cell (the
//! rules of [`crate::convert`]), and the [`BatchSource`] a file being read is.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{Field, Schema};

use crate::convert::{push_cell, with_hint, Builder, Cell, ColumnMap, Target};
use crate::error::Result;

/// A file being read as batches of table columns (one per input format).
pub trait BatchSource {
    /// The next batch, or `None` at the end of the file.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>>;
    /// Rows read so far.
    fn rows(&self) -> u64;
    /// Bytes of the file read so far (for the progress bar).
    fn bytes(&self) -> u64;
}

/// Builds batches of table columns from cells, row by row; every reader feeds one.
pub struct BatchBuilder {
    columns: Vec<ColumnMap>,
    builders: Vec<Builder>,
    schema: Arc<Schema>,
    rows: usize,
}

impl BatchBuilder {
    /// A builder for the given output columns.
    pub fn new(columns: Vec<ColumnMap>) -> BatchBuilder {
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| {
                let dt = match &c.target {
                    Target::Key(k) => k.arrow_type(),
                    Target::EventTime => bazof::schema::timestamp_type(),
                    Target::Value(t) => t.arrow_type(),
                    Target::Deleted => arrow::datatypes::DataType::Boolean,
                };
                let nullable = matches!(c.target, Target::Value(_));
                Field::new(&c.name, dt, nullable)
            })
            .collect();
        let builders = columns.iter().map(|c| Builder::new(&c.target)).collect();
        BatchBuilder {
            columns,
            builders,
            schema: Arc::new(Schema::new(fields)),
            rows: 0,
        }
    }

    /// The output columns.
    pub fn columns(&self) -> &[ColumnMap] {
        &self.columns
    }

    /// Appends `cell` to output column `i`; `Err` holds the reason, with the hint.
    pub fn push(
        &mut self,
        i: usize,
        column: &str,
        cell: Cell<'_>,
    ) -> std::result::Result<(), String> {
        match (self.builders.get_mut(i), self.columns.get(i)) {
            (Some(b), Some(c)) => push_cell(b, &c.target, c.inferred, cell)
                .map_err(|reason| with_hint(c, column, &reason)),
            _ => Err(format!("internal: no output column {i}")),
        }
    }

    /// Appends `rows` cells to output column `i`, `cell(r)` for row `r`; `Err` holds the
    /// first row that failed and the reason, with the hint.
    pub fn push_column<'a>(
        &mut self,
        i: usize,
        column: &str,
        rows: usize,
        cell: impl Fn(usize) -> Cell<'a>,
    ) -> std::result::Result<(), (usize, String)> {
        let (Some(b), Some(c)) = (self.builders.get_mut(i), self.columns.get(i)) else {
            return Err((0, format!("internal: no output column {i}")));
        };
        for r in 0..rows {
            push_cell(b, &c.target, c.inferred, cell(r))
                .map_err(|reason| (r, with_hint(c, column, &reason)))?;
        }
        Ok(())
    }

    /// Ends `n` rows (every column got `n` more cells).
    pub fn end_rows(&mut self, n: usize) {
        self.rows += n;
    }

    /// Rows since the last [`BatchBuilder::finish`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The rows so far as a batch (`None` if there are none); starts a new batch.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>> {
        self.finish_with(Vec::new())
    }

    /// As [`BatchBuilder::finish`], with the output columns given in `whole` (by index)
    /// taken as they are; their builders got no cells.
    pub fn finish_with(&mut self, mut whole: Vec<Option<ArrayRef>>) -> Result<Option<RecordBatch>> {
        if self.rows == 0 {
            return Ok(None);
        }
        let rows = std::mem::take(&mut self.rows);
        let arrays: Vec<ArrayRef> = (self.builders.iter_mut().zip(&self.columns).enumerate())
            .map(
                |(i, (b, c))| match whole.get_mut(i).and_then(Option::take) {
                    Some(a) => a,
                    None => {
                        let a = b.finish();
                        // The next batch is likely as large as this one: room for it up front.
                        let bytes = a.as_string_opt::<i32>().map_or(0, |s| s.value_data().len());
                        *b = Builder::with_capacity(&c.target, rows, bytes);
                        a
                    }
                },
            )
            .collect();
        Ok(Some(RecordBatch::try_new(self.schema.clone(), arrays)?))
    }
}
