//! Arrow-rs ⇄ Polars through the Arrow C Data Interface (scans go to Polars, writes
//! come from it).
//!
//! Both crates implement the same `repr(C)` structs of the C Data Interface: the
//! arrow-rs array is exported (`arrow::ffi::to_ffi`), the two structs are handed
//! over as they are, and Polars imports them (`polars_arrow::ffi`). The import
//! takes ownership of the buffers through the interface's `release` callback, so no
//! value is copied for Int64, Float64, Boolean, Date32 and timestamps. For Utf8,
//! Polars builds its 16-byte string views over the *same* character buffer (the
//! bytes are not copied; `polars_compute::cast::binary_to_binview`).

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{Field as ArrowRsField, SchemaRef as ArrowRsSchemaRef};
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use polars::prelude::*;
use polars_arrow::ffi::{ArrowArray, ArrowSchema};

// The two sides must describe the same C structs, or the hand-over below is unsound.
const _: () = assert!(std::mem::size_of::<FFI_ArrowArray>() == std::mem::size_of::<ArrowArray>());
const _: () = assert!(std::mem::size_of::<FFI_ArrowSchema>() == std::mem::size_of::<ArrowSchema>());
const _: () = assert!(std::mem::align_of::<FFI_ArrowArray>() == std::mem::align_of::<ArrowArray>());
const _: () =
    assert!(std::mem::align_of::<FFI_ArrowSchema>() == std::mem::align_of::<ArrowSchema>());

fn ffi_err(what: &str, e: impl std::fmt::Display) -> PolarsError {
    polars_err!(ComputeError: "bazof: cannot hand {} to Polars through the C Data Interface: {}", what, e)
}

fn schema_to_polars_ffi(schema: FFI_ArrowSchema) -> ArrowSchema {
    // SAFETY: both types are `repr(C)` mirrors of the C Data Interface's `ArrowSchema`
    // (sizes and alignments checked above); ownership (the release callback) moves.
    unsafe { std::mem::transmute::<FFI_ArrowSchema, ArrowSchema>(schema) }
}

fn array_to_polars_ffi(array: FFI_ArrowArray) -> ArrowArray {
    // SAFETY: as above, for the C Data Interface's `ArrowArray`.
    unsafe { std::mem::transmute::<FFI_ArrowArray, ArrowArray>(array) }
}

/// The Polars field of an arrow-rs field (via the C schema, so it matches the data import).
pub(crate) fn field_to_polars(
    field: &ArrowRsField,
) -> PolarsResult<polars_arrow::datatypes::Field> {
    let c = FFI_ArrowSchema::try_from(field).map_err(|e| ffi_err(field.name(), e))?;
    let c = schema_to_polars_ffi(c);
    // SAFETY: `c` was just produced by arrow-rs and is valid.
    unsafe { polars_arrow::ffi::import_field_from_c(&c) }
}

/// The Polars schema of an arrow-rs schema.
pub(crate) fn schema_to_polars(schema: &ArrowRsSchemaRef) -> PolarsResult<Schema> {
    schema
        .fields()
        .iter()
        .map(|f| Ok(Field::from(&field_to_polars(f)?)))
        .collect::<PolarsResult<Schema>>()
}

/// One arrow-rs array as a Polars series, without copying its buffers.
pub(crate) fn array_to_series(name: &str, array: &dyn Array) -> PolarsResult<Series> {
    let (c_array, c_schema) = arrow::ffi::to_ffi(&array.to_data()).map_err(|e| ffi_err(name, e))?;
    let c_schema = schema_to_polars_ffi(c_schema);
    // SAFETY: the structs were just exported by arrow-rs; the import takes ownership of
    // the array (its release callback frees the arrow-rs buffers when Polars drops them).
    let imported = unsafe {
        let field = polars_arrow::ffi::import_field_from_c(&c_schema)?;
        polars_arrow::ffi::import_array_from_c(array_to_polars_ffi(c_array), field.dtype)?
    };
    Series::from_arrow(name.into(), imported)
}

/// An arrow-rs record batch as a Polars data frame (one chunk per column), sharing
/// buffers through the Arrow C Data Interface instead of copying values.
pub fn batch_to_frame(batch: &RecordBatch) -> PolarsResult<DataFrame> {
    let schema = batch.schema();
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, a)| array_to_series(f.name(), a.as_ref()).map(Column::from))
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(batch.num_rows(), columns)
}

fn schema_from_polars_ffi(schema: ArrowSchema) -> FFI_ArrowSchema {
    // SAFETY: the reverse of `schema_to_polars_ffi`: same `repr(C)` layout (checked
    // above); ownership (the release callback) moves to arrow-rs.
    unsafe { std::mem::transmute::<ArrowSchema, FFI_ArrowSchema>(schema) }
}

fn array_from_polars_ffi(array: ArrowArray) -> FFI_ArrowArray {
    // SAFETY: as above, for the C Data Interface's `ArrowArray`.
    unsafe { std::mem::transmute::<ArrowArray, FFI_ArrowArray>(array) }
}

/// The arrow-rs field of a Polars column (through the C schema, as the data moves).
pub(crate) fn field_from_polars(
    field: &polars_arrow::datatypes::Field,
) -> PolarsResult<ArrowRsField> {
    let c = schema_from_polars_ffi(polars_arrow::ffi::export_field_to_c(field));
    ArrowRsField::try_from(&c).map_err(|e| ffi_err(field.name.as_str(), e))
}

/// The arrow-rs schema of a Polars frame (`CompatLevel::newest`: strings as views).
pub(crate) fn frame_schema(df: &DataFrame) -> PolarsResult<arrow::datatypes::Schema> {
    df.columns()
        .iter()
        .map(|c| field_from_polars(&c.field().to_arrow(CompatLevel::newest())))
        .collect::<PolarsResult<Vec<_>>>()
        .map(arrow::datatypes::Schema::new)
}

/// One Polars chunk (as [`DataFrame::iter_chunks`] yields it) as an arrow-rs record
/// batch with `schema`, handing the buffers over through the C Data Interface: the
/// values are not copied.
pub(crate) fn chunk_to_batch(
    schema: &ArrowRsSchemaRef,
    chunk: polars_arrow::record_batch::RecordBatch,
) -> PolarsResult<RecordBatch> {
    let height = chunk.height();
    let (polars_schema, arrays) = chunk.into_schema_and_arrays();
    let columns = polars_schema
        .iter_values()
        .zip(arrays)
        .map(|(field, array)| {
            let c_schema = schema_from_polars_ffi(polars_arrow::ffi::export_field_to_c(field));
            let c_array = array_from_polars_ffi(polars_arrow::ffi::export_array_to_c(array));
            // SAFETY: both structs were just exported by polars-arrow for this array and
            // field; `from_ffi` takes ownership of the array (its release callback frees
            // the Polars buffers when arrow-rs drops them).
            let data = unsafe { arrow::ffi::from_ffi(c_array, &c_schema) }
                .map_err(|e| ffi_err(field.name.as_str(), e))?;
            Ok(arrow::array::make_array(data))
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(height)),
    )
    .map_err(|e| ffi_err("a record batch", e))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use arrow::array::{
        BooleanArray, Date32Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };

    #[test]
    fn types_nulls_and_time_zone_survive() {
        let batch = RecordBatch::try_from_iter([
            (
                "k",
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("a very long string value here"),
                ])) as _,
            ),
            ("i", Arc::new(Int64Array::from(vec![Some(1), None])) as _),
            (
                "f",
                Arc::new(Float64Array::from(vec![None, Some(2.5)])) as _,
            ),
            (
                "b",
                Arc::new(BooleanArray::from(vec![Some(true), None])) as _,
            ),
            ("d", Arc::new(Date32Array::from(vec![Some(3), None])) as _),
            (
                "t",
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(1_000_000), None])
                        .with_timezone("UTC"),
                ) as _,
            ),
        ])
        .unwrap();
        let df = batch_to_frame(&batch).unwrap();
        assert_eq!(df.height(), 2);
        let dtypes: Vec<DataType> = df.dtypes();
        assert_eq!(
            dtypes,
            vec![
                DataType::String,
                DataType::Int64,
                DataType::Float64,
                DataType::Boolean,
                DataType::Date,
                DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
            ]
        );
        assert_eq!(df.column("i").unwrap().null_count(), 1);
        assert_eq!(df.column("t").unwrap().null_count(), 1);
        assert_eq!(
            df.column("k").unwrap().str().unwrap().get(1),
            Some("a very long string value here")
        );
        // Same dtypes as the schema conversion.
        let schema = schema_to_polars(&batch.schema()).unwrap();
        assert_eq!(schema.iter_values().cloned().collect::<Vec<_>>(), dtypes);
    }

    #[test]
    fn numeric_buffers_are_shared_not_copied() {
        let values = Int64Array::from((0..1000).collect::<Vec<i64>>());
        let ptr = values.values().as_ptr() as usize;
        let s = array_to_series("x", &values).unwrap();
        let ca = s.i64().unwrap();
        let chunk = ca.downcast_iter().next().unwrap();
        assert_eq!(chunk.values().as_ptr() as usize, ptr);
    }
}
