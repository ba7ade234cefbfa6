//! `bazof scan`: the table as of an event time and a commit.

use std::io::IsTerminal;
use std::path::Path;

use bazof::blocking::block_on;
use bazof::{KeyPredicate, KeyType, KeyValue, ScanOptions, Table};
use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::cli::{Format, ScanArgs};
use crate::error::Result;
use crate::fail;
use crate::output::open_sink;
use crate::timefmt::{parse_timestamp, ACCEPTED};

/// The output format: `--format`, else from `--output`'s extension, else a table on a
/// terminal and CSV otherwise.
pub(crate) fn output_format(format: Option<Format>, output: Option<&Path>) -> Result<Format> {
    let format = match (format, output) {
        (Some(f), _) => f,
        (None, Some(p)) => match p
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("parquet") | Some("pq") => Format::Parquet,
            Some("json") | Some("jsonl") | Some("ndjson") => Format::Json,
            Some("txt") => Format::Table,
            _ => Format::Csv,
        },
        (None, None) if std::io::stdout().is_terminal() => Format::Table,
        (None, None) => Format::Csv,
    };
    if format == Format::Parquet && output.is_none() {
        return Err(fail!("--format parquet needs --output FILE"));
    }
    Ok(format)
}

/// A time option (`--as-of`, `--from`, ...).
pub(crate) fn time_arg(option: &str, text: &str) -> Result<DateTime<Utc>> {
    parse_timestamp(text)
        .ok_or_else(|| fail!("{option} '{text}' is not a timestamp; use {ACCEPTED}"))
}

/// `--key` values as a key predicate for the table's key type (None: no `--key`).
pub(crate) fn key_list(
    keys: &[String],
    key_type: KeyType,
    location: &str,
) -> Result<Option<KeyPredicate>> {
    if keys.is_empty() {
        return Ok(None);
    }
    let keys =
        keys.iter()
            .map(|k| match key_type {
                KeyType::String => Ok(KeyValue::String(k.clone())),
                KeyType::Int => k.trim().parse::<i64>().map(KeyValue::Int).map_err(|_| {
                    fail!("--key '{k}' is not an Int, the key type of table {location}")
                }),
            })
            .collect::<Result<Vec<_>>>()?;
    Ok(Some(KeyPredicate::In(keys)))
}

/// Writes a stream of batches in `format` to stdout or `output`.
pub(crate) fn write_stream<S>(
    mut stream: S,
    schema: arrow::datatypes::SchemaRef,
    format: Format,
    output: Option<&Path>,
) -> Result<()>
where
    S: futures::Stream<Item = bazof::Result<arrow::array::RecordBatch>> + Send + Unpin,
{
    block_on(async {
        let mut sink = open_sink(format, schema, output)?;
        match sink.encoder() {
            // Text formats: a few batches are encoded at once on the blocking pool
            // (formatting is most of such a scan's time) and written in order.
            Some(encode) => {
                let mut encoded = stream
                    .map(|batch| {
                        let encode = encode.clone();
                        async move {
                            let batch = batch?;
                            tokio::task::spawn_blocking(move || encode(&batch))
                                .await
                                .map_err(|e| fail!("encoding a batch failed: {e}"))?
                        }
                    })
                    .buffered(bazof::scan::tasks::default_tasks() + 1);
                while let Some(bytes) = encoded.next().await {
                    sink.write_encoded(&bytes?)?;
                }
            }
            None => {
                while let Some(batch) = stream.next().await {
                    sink.write(&batch?)?;
                }
            }
        }
        sink.finish()
    })
}

/// Runs `bazof scan`.
pub fn run(args: ScanArgs) -> Result<()> {
    let location = args.location();
    let format = output_format(args.out.format, args.out.output.as_deref())?;
    let mut opts = ScanOptions::default();
    if let Some(ts) = &args.as_of {
        opts = opts.with_as_of(time_arg("--as-of", ts)?);
    }
    if let Some(n) = args.snapshot {
        opts = opts.with_snapshot(n);
    }
    if let Some(cols) = &args.columns {
        opts = opts.with_columns(cols.iter().map(|c| c.trim().to_string()));
    }
    if let Some(n) = args.limit {
        opts = opts.with_limit(n);
    }
    let table = block_on(Table::open(&location))?;
    if !args.key.is_empty() {
        let key_type = block_on(table.snapshot(args.snapshot))?.schema().key_type;
        opts.key_predicate = key_list(&args.key, key_type, &location)?;
    }
    let stream = block_on(table.scan(opts))?;
    let schema = stream.schema();
    write_stream(stream, schema, format, args.out.output.as_deref())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    /// Text output encoded several batches at a time on the blocking pool is byte for
    /// byte what writing the batches in turn gives, rows in stream order.
    #[test]
    fn encoded_in_parallel_equals_written_in_turn() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("x", DataType::Float64, true),
        ]));
        // Batches of varied sizes (encoding times differ), some values needing quotes.
        let batches: Vec<RecordBatch> = (0..40)
            .map(|b| {
                let rows = 1 + (b * 37) % 300;
                let keys: Vec<String> = (0..rows).map(|r| format!("k{b:03},{r:04}")).collect();
                let xs: Vec<Option<f64>> = (0..rows)
                    .map(|r| (r % 7 != 0).then_some(r as f64 / 3.0))
                    .collect();
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(StringArray::from(keys)),
                        Arc::new(Float64Array::from(xs)),
                    ],
                )
                .unwrap()
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        for format in [Format::Csv, Format::Json] {
            let (parallel, in_turn) = (dir.path().join("p"), dir.path().join("t"));
            let stream = futures::stream::iter(batches.clone().into_iter().map(Ok));
            write_stream(stream, schema.clone(), format, Some(&parallel)).unwrap();
            let mut sink = open_sink(format, schema.clone(), Some(&in_turn)).unwrap();
            for b in &batches {
                sink.write(b).unwrap();
            }
            sink.finish().unwrap();
            let got = std::fs::read_to_string(&parallel).unwrap();
            assert_eq!(
                got,
                std::fs::read_to_string(&in_turn).unwrap(),
                "{format:?}"
            );
            // In stream order: every batch's first key appears after the previous one's.
            let at = |b: usize| got.find(&format!("k{b:03},0000")).unwrap();
            assert!((1..40).all(|b| at(b - 1) < at(b)), "{format:?}");
        }
    }
}
