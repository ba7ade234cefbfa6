//! arrow-rs record batches → Polars frames through the Arrow C Data Interface (no
//! value copies), as `bazof-polars` does internally; used by the Polars baseline,
//! which reads the raw Parquet with arrow-rs (the workspace builds Polars without
//! its `parquet` feature).

use arrow::array::{Array, RecordBatch};
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use polars::prelude::*;
use polars_arrow::ffi::{ArrowArray, ArrowSchema};

const _: () = assert!(std::mem::size_of::<FFI_ArrowArray>() == std::mem::size_of::<ArrowArray>());
const _: () = assert!(std::mem::size_of::<FFI_ArrowSchema>() == std::mem::size_of::<ArrowSchema>());
const _: () = assert!(std::mem::align_of::<FFI_ArrowArray>() == std::mem::align_of::<ArrowArray>());
const _: () =
    assert!(std::mem::align_of::<FFI_ArrowSchema>() == std::mem::align_of::<ArrowSchema>());

fn array_to_series(name: &str, array: &dyn Array) -> PolarsResult<Series> {
    let (c_array, c_schema) = arrow::ffi::to_ffi(&array.to_data())
        .map_err(|e| polars_err!(ComputeError: "cannot export {}: {}", name, e))?;
    // SAFETY: both crates define `repr(C)` mirrors of the C Data Interface structs
    // (sizes and alignments checked above); the import takes ownership of the
    // buffers through the release callback.
    let imported = unsafe {
        let c_schema = std::mem::transmute::<FFI_ArrowSchema, ArrowSchema>(c_schema);
        let c_array = std::mem::transmute::<FFI_ArrowArray, ArrowArray>(c_array);
        let field = polars_arrow::ffi::import_field_from_c(&c_schema)?;
        polars_arrow::ffi::import_array_from_c(c_array, field.dtype)?
    };
    Series::from_arrow(name.into(), imported)
}

/// One record batch as a Polars frame.
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
