//! Reading Parquet, record batch by record batch (bounded memory), into the same cells as
//! CSV ([`crate::convert`]).
//!
//! Types map onto the table's exactly: any integer (an unsigned 64-bit one only when it
//! fits) into an Int, floats into a Float (integers too, when a 64-bit float holds them
//! exactly), timestamps of any unit into a DateTime (nanoseconds only when whole
//! microseconds), dates into a Date or a DateTime; strings follow the CSV rules for the
//! column's type. Anything else (decimals, binary, lists, structs, times, durations) is
//! refused, naming the column and both types.

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Float16Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use bazof::decode_guard::catch_decoder_panic;
use bazof::{ColumnType, KeyType};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::batches::{BatchBuilder, BatchSource};
use crate::convert::{taken_whole, Cell, ColumnMap, Target};
use crate::error::Result;
use crate::fail;

/// Rows per Arrow batch read from a Parquet file and handed to the commit writer.
const CHUNK_ROWS: usize = 32 * 1024;

/// An open Parquet file.
pub struct ParquetFile {
    /// The path as given (for messages).
    pub name: String,
    /// Column names, in file order.
    pub header: Vec<String>,
    /// Column types (Arrow's reading of the Parquet schema), in file order.
    pub types: Vec<DataType>,
    rows_total: u64,
    bytes_total: u64,
    reader: ParquetRecordBatchReader,
}

impl ParquetFile {
    /// Opens a file and reads its schema.
    pub fn open(path: &Path) -> Result<ParquetFile> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| fail!("{name}: {e}"))?;
        let bytes_total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let builder = catch_decoder_panic(|| ParquetRecordBatchReaderBuilder::try_new(file))
            .map_err(|reason| fail!("{name}: {reason}"))?
            .map_err(|e| fail!("{name}: not a readable Parquet file: {e}"))?;
        let schema = builder.schema().clone();
        let rows_total = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let reader = builder
            .with_batch_size(CHUNK_ROWS)
            .build()
            .map_err(|e| fail!("{name}: {e}"))?;
        Ok(ParquetFile {
            name,
            header: schema.fields().iter().map(|f| f.name().clone()).collect(),
            types: schema
                .fields()
                .iter()
                .map(|f| f.data_type().clone())
                .collect(),
            rows_total,
            bytes_total,
            reader,
        })
    }
}

/// The value type of a dictionary, else the type itself.
fn plain(dt: &DataType) -> &DataType {
    match dt {
        DataType::Dictionary(_, v) => v,
        other => other,
    }
}

fn is_int(dt: &DataType) -> bool {
    dt.is_integer()
}

fn is_text(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// The bazof type a Parquet column is inferred as: `Ok(None)` for a column of nulls only,
/// `Err` with the reason for a type bazof cannot store.
pub fn column_type(dt: &DataType) -> std::result::Result<Option<ColumnType>, String> {
    let dt = plain(dt);
    Ok(Some(match dt {
        DataType::Null => return Ok(None),
        d if is_int(d) => ColumnType::Int,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => ColumnType::Float,
        DataType::Boolean => ColumnType::Boolean,
        d if is_text(d) => ColumnType::String,
        DataType::Timestamp(_, _) => ColumnType::DateTime,
        DataType::Date32 | DataType::Date64 => ColumnType::Date,
        other => {
            return Err(format!(
                "{other}, which no bazof column type holds (bazof stores strings, 64-bit \
                 integers and floats, booleans, timestamps and dates); cast it to one of \
                 those before importing"
            ))
        }
    }))
}

/// Whether a Parquet column of type `dt` can be stored in `target` (values are still
/// checked one by one: an unsigned integer must fit, a float must hold an integer exactly).
/// An inferred String column takes the text of any supported type.
pub fn fits(dt: &DataType, target: &Target, inferred: bool) -> bool {
    let dt = plain(dt);
    if *dt == DataType::Null || is_text(dt) {
        return true;
    }
    let time = matches!(
        dt,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
    );
    match target {
        Target::Key(KeyType::String) | Target::Value(ColumnType::String) => {
            inferred && column_type(dt).is_ok()
        }
        Target::Key(KeyType::Int) | Target::Value(ColumnType::Int) => is_int(dt),
        Target::Value(ColumnType::Float) => {
            is_int(dt)
                || matches!(
                    dt,
                    DataType::Float16 | DataType::Float32 | DataType::Float64
                )
        }
        Target::Value(ColumnType::Boolean) | Target::Deleted => *dt == DataType::Boolean,
        Target::EventTime | Target::Value(ColumnType::DateTime) => time,
        Target::Value(ColumnType::Date) => matches!(dt, DataType::Date32 | DataType::Date64),
    }
}

/// Microseconds from a timestamp of `unit`, if they fit and nothing finer is lost.
fn micros(v: i64, unit: TimeUnit) -> std::result::Result<i64, String> {
    let out = match unit {
        TimeUnit::Second => v.checked_mul(1_000_000),
        TimeUnit::Millisecond => v.checked_mul(1_000),
        TimeUnit::Microsecond => Some(v),
        TimeUnit::Nanosecond if v % 1_000 != 0 => {
            return Err(format!(
                "timestamp {v} ns has digits below the microsecond (bazof stores \
                 microseconds; they would be lost)"
            ))
        }
        TimeUnit::Nanosecond => Some(v / 1_000),
    };
    out.ok_or_else(|| format!("timestamp {v} ({unit:?}) is out of range"))
}

/// The cell at `row` of a (non-dictionary) column.
fn cell(a: &dyn Array, row: usize) -> std::result::Result<Cell<'_>, String> {
    if a.is_null(row) {
        return Ok(Cell::Null);
    }
    Ok(match a.data_type() {
        DataType::Null => Cell::Null,
        DataType::Boolean => Cell::Bool(a.as_boolean().value(row)),
        DataType::Int8 => Cell::Int(a.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => Cell::Int(a.as_primitive::<Int16Type>().value(row).into()),
        DataType::Int32 => Cell::Int(a.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => Cell::Int(a.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Cell::Int(a.as_primitive::<UInt8Type>().value(row).into()),
        DataType::UInt16 => Cell::Int(a.as_primitive::<UInt16Type>().value(row).into()),
        DataType::UInt32 => Cell::Int(a.as_primitive::<UInt32Type>().value(row).into()),
        DataType::UInt64 => {
            let v = a.as_primitive::<UInt64Type>().value(row);
            Cell::Int(
                i64::try_from(v).map_err(|_| format!("{v} does not fit a 64-bit signed Int"))?,
            )
        }
        DataType::Float16 => Cell::Float(a.as_primitive::<Float16Type>().value(row).to_f64()),
        DataType::Float32 => Cell::Float(a.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => Cell::Float(a.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => Cell::Text(a.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Cell::Text(a.as_string::<i64>().value(row)),
        DataType::Utf8View => Cell::Text(a.as_string_view().value(row)),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(row),
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(row),
            };
            Cell::Micros(micros(v, *unit)?)
        }
        DataType::Date32 => Cell::Days(a.as_primitive::<Date32Type>().value(row)),
        DataType::Date64 => {
            let ms = a.as_primitive::<Date64Type>().value(row);
            let days = i32::try_from(ms / 86_400_000)
                .ok()
                .filter(|_| ms % 86_400_000 == 0);
            match days {
                Some(d) => Cell::Days(d),
                None => Cell::Micros(micros(ms, TimeUnit::Millisecond)?),
            }
        }
        other => return Err(format!("values of type {other} cannot be read")),
    })
}

/// Converts a Parquet file into batches (one per record batch read).
pub struct ParquetConverter {
    file: ParquetFile,
    out: BatchBuilder,
    rows: u64,
}

impl ParquetConverter {
    /// Prepares conversion of `file` into the given columns.
    pub fn new(file: ParquetFile, columns: Vec<ColumnMap>) -> ParquetConverter {
        ParquetConverter {
            file,
            out: BatchBuilder::new(columns),
            rows: 0,
        }
    }
}

impl BatchSource for ParquetConverter {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let name = &self.file.name;
        let batch = loop {
            let reader = &mut self.file.reader;
            let next = catch_decoder_panic(|| reader.next())
                .map_err(|reason| fail!("{name}: {reason}, after row {}", self.rows))?;
            match next {
                None => return Ok(None),
                Some(Ok(b)) if b.num_rows() == 0 => continue,
                Some(Ok(b)) => break b,
                Some(Err(e)) => {
                    return Err(fail!(
                        "{name}: cannot read the rows after row {}: {e}",
                        self.rows
                    ))
                }
            }
        };
        let mut whole = Vec::with_capacity(self.out.columns().len());
        for i in 0..self.out.columns().len() {
            let index = self.out.columns()[i].csv_index;
            let column = &self.file.header[index];
            let array = batch.column(index);
            let array = match array.data_type() {
                DataType::Dictionary(_, v) => arrow::compute::cast(array, v)?,
                _ => array.clone(),
            };
            // A column of the table's own type is taken whole, without a look at its cells.
            let taken = taken_whole(&array, &self.out.columns()[i].target);
            if taken.is_none() {
                for row in 0..batch.num_rows() {
                    let pushed =
                        cell(array.as_ref(), row).and_then(|c| self.out.push(i, column, c));
                    if let Err(reason) = pushed {
                        return Err(fail!(
                            "{name}: row {}, column '{column}': {reason}",
                            self.rows + row as u64 + 1
                        ));
                    }
                }
            }
            whole.push(taken);
        }
        self.out.end_rows(batch.num_rows());
        self.rows += batch.num_rows() as u64;
        self.out.finish_with(whole)
    }

    fn rows(&self) -> u64 {
        self.rows
    }

    fn bytes(&self) -> u64 {
        match self.file.rows_total {
            0 => self.file.bytes_total,
            total => self.file.bytes_total * self.rows.min(total) / total,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
        TimestampMicrosecondArray,
    };
    use proptest::prelude::*;

    use super::*;

    /// A column of one of the types a table holds, from small integers (`None` = null).
    fn column(kind: usize, tz: Option<&str>, v: &[Option<i64>]) -> ArrayRef {
        match kind {
            0 => Arc::new(StringArray::from_iter(v.iter().map(|x| {
                x.map(|i| {
                    if i == 0 {
                        String::new()
                    } else {
                        format!("s{i}")
                    }
                })
            }))),
            1 => Arc::new(Int64Array::from_iter(v.iter().copied())),
            2 => Arc::new(Float64Array::from_iter(
                v.iter().map(|x| x.map(|i| i as f64 / 4.0)),
            )),
            3 => Arc::new(BooleanArray::from_iter(
                v.iter().map(|x| x.map(|i| i % 2 == 0)),
            )),
            4 => Arc::new(Date32Array::from_iter(
                v.iter().map(|x| x.map(|i| i as i32)),
            )),
            _ => Arc::new(
                TimestampMicrosecondArray::from_iter(v.iter().copied()).with_timezone_opt(tz),
            ),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// A column taken whole is the column its cells would build one by one.
        #[test]
        fn taken_whole_as_cell_by_cell(
            kind in 0usize..6,
            target in 0..Target::ALL.len(),
            tz in prop::sample::select(vec![None, Some("UTC"), Some("+08:00")]),
            values in prop::collection::vec(prop::option::weighted(0.97, -3i64..8), 1..12),
        ) {
            let array = column(kind, tz, &values);
            let target = Target::ALL[target].clone();
            let Some(whole) = taken_whole(&array, &target) else { return Ok(()) };
            let map = ColumnMap { name: "c".into(), csv_index: 0, target, inferred: true };
            let mut by_cell = BatchBuilder::new(vec![map.clone()]);
            for row in 0..array.len() {
                let c = cell(array.as_ref(), row).map_err(TestCaseError::fail)?;
                by_cell.push(0, "c", c).map_err(TestCaseError::fail)?;
            }
            by_cell.end_rows(array.len());
            let mut taken = BatchBuilder::new(vec![map]);
            taken.end_rows(array.len());
            let expected = by_cell.finish().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let got = taken.finish_with(vec![Some(whole)]).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(got, expected);
        }
    }
}
