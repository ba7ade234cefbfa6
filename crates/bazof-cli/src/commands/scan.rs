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
        while let Some(batch) = stream.next().await {
            sink.write(&batch?)?;
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
