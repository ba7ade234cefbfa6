//! Arrow (the core's batches) to DuckDB types and vectors.

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, TimeUnit};
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};

type BoxError = Box<dyn std::error::Error>;

/// The DuckDB type of a bazof column: Utf8 → VARCHAR, Int64 → BIGINT, Float64 →
/// DOUBLE, Boolean → BOOLEAN, Timestamp(µs, UTC) → TIMESTAMPTZ, Date32 → DATE.
pub(crate) fn logical_type(t: &DataType) -> Result<LogicalTypeHandle, BoxError> {
    Ok(LogicalTypeHandle::from(type_id(t)?))
}

/// The id of [`logical_type`].
pub(crate) fn type_id(t: &DataType) -> Result<LogicalTypeId, BoxError> {
    Ok(match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => LogicalTypeId::Varchar,
        DataType::Int64 => LogicalTypeId::Bigint,
        DataType::Float64 => LogicalTypeId::Double,
        DataType::Boolean => LogicalTypeId::Boolean,
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => LogicalTypeId::TimestampTZ,
        DataType::Timestamp(TimeUnit::Microsecond, None) => LogicalTypeId::Timestamp,
        DataType::Date32 => LogicalTypeId::Date,
        other => return Err(format!("bazof: column type {other} has no DuckDB mapping").into()),
    })
}

/// DuckDB's vector size (rows per output chunk), 2048 unless DuckDB was built otherwise.
#[cfg(feature = "bundled")]
pub(crate) fn vector_size() -> usize {
    // SAFETY: a plain getter of a compile-time constant of the linked DuckDB.
    let n = unsafe { duckdb::ffi::duckdb_vector_size() } as usize;
    if n == 0 {
        2048
    } else {
        n
    }
}

/// DuckDB's vector size: the loadable extension has no getter (C API v2 has none, and
/// its v1 functions are not loaded), and DuckDB's release builds use 2048.
#[cfg(not(feature = "bundled"))]
pub(crate) fn vector_size() -> usize {
    2048
}

/// Writes a batch of at most [`vector_size`] rows whose columns match the output
/// chunk's, one to one.
pub(crate) fn write_batch(
    batch: &RecordBatch,
    output: &mut DataChunkHandle,
) -> Result<(), BoxError> {
    if batch.num_columns() != output.num_columns() {
        return Err(format!(
            "bazof: internal: batch has {} columns, DuckDB's chunk {}",
            batch.num_columns(),
            output.num_columns()
        )
        .into());
    }
    duckdb::vtab::record_batch_to_duckdb_data_chunk(batch, output)
}
