//! The history read (issue 16: "history scan cost ≤ 1.3× the cost of reading the raw
//! events once"): every version of every key, through each door, against each
//! engine reading the raw events once. Both sides compute the queries' checksum over
//! all value columns (the version's `valid_from` in place of the event time), so
//! every column is decoded; the raw side's answer is over the raw events, not the
//! versions, and is not compared.

use std::time::Instant;

use bazof::{HistoryOptions, Table};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::gen::Meta;
use crate::queries::{
    checksum_parts, duckdb_aggregate_alone, duckdb_answer, duckdb_parquet_source, for_each_file,
    ms, polars_aggregate_alone, polars_answer, polars_parquet_source, BoxError, CellOutcome,
    Checksum, Engine, Query,
};

/// Runs the history read through engine `e`; `Ok(None)` for engines it does not apply to.
pub fn run_cell(e: Engine, meta: &Meta) -> Result<Option<CellOutcome>, BoxError> {
    let q = Query::Hist;
    // DuckDB's connection is set up before the clock starts, as in the other cells.
    let con = match e {
        Engine::DuckdbBazof | Engine::DuckdbParquet => {
            bazof_duckdb::install()?;
            let con = duckdb::Connection::open_in_memory()?;
            bazof_duckdb::register(&con)?;
            Some(con)
        }
        _ => None,
    };
    let start = Instant::now();
    let (answer, note, wall_ms, aggregate_ms) = match (e, con) {
        (Engine::DuckdbBazof | Engine::DuckdbParquet, Some(con)) => {
            let (src, regs) = match e {
                Engine::DuckdbBazof => (
                    format!(
                        "SELECT * EXCLUDE (valid_from), valid_from AS event_time \
                         FROM bazof_history('{}')",
                        meta.table
                    ),
                    Vec::new(),
                ),
                _ => {
                    let (raw, regs) = duckdb_parquet_source(&con, &meta.raw_files, false)?;
                    (format!("SELECT * FROM {raw}"), regs)
                }
            };
            let answer = duckdb_answer(&con, q, &src, &regs)?;
            let wall_ms = ms(start);
            // On both sides, so that read and aggregate split alike.
            let aggregate_ms = duckdb_aggregate_alone(&con, q, &src, &regs)?;
            (answer, "", wall_ms, Some(aggregate_ms))
        }
        (Engine::PolarsBazof | Engine::PolarsParquet, _) => {
            let lf = match e {
                Engine::PolarsBazof => {
                    bazof_polars::scan_bazof_history(&meta.table, HistoryOptions::default())?
                        .rename(["valid_from"], ["event_time"], true)
                }
                _ => polars_parquet_source(&meta.raw_files, false)?,
            };
            let answer = polars_answer(q, lf.clone())?;
            let wall_ms = ms(start);
            (answer, "", wall_ms, Some(polars_aggregate_alone(q, lf)?))
        }
        (Engine::CoreParquet, _) => {
            let sums = for_each_file(&meta.raw_files, |path| {
                let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path)?)?
                    .with_batch_size(8192)
                    .build()?;
                let schema = arrow::array::RecordBatchReader::schema(&reader);
                let mut sum = Checksum::default();
                for batch in reader {
                    sum.add(&batch?, &schema, "event_time", false)?;
                }
                Ok(sum)
            })?;
            let mut total = Checksum::default();
            for sum in sums {
                total.merge(sum);
            }
            (
                total.answer(),
                "arrow-rs, a file per thread",
                ms(start),
                None,
            )
        }
        (Engine::Core, _) => {
            let answer = bazof::blocking::block_on(async {
                let table = Table::open(&meta.table).await?;
                let stream = table.history(HistoryOptions::default()).await?;
                let schema = stream.schema();
                let sum = checksum_parts(stream.into_parts(), &schema, "valid_from", false).await?;
                Ok::<_, BoxError>(sum.answer())
            })?;
            let note = "counted in Rust, a task per key range";
            (answer, note, ms(start), None)
        }
        _ => return Ok(None),
    };
    Ok(Some(CellOutcome {
        answer,
        wall_ms,
        bytes: None,
        note: note.to_string(),
        aggregate_ms,
    }))
}
