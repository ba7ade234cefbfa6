//! `bazof scan`: the table as of an event time and a commit.

use std::io::IsTerminal;

use bazof::blocking::block_on;
use bazof::{KeyPredicate, KeyType, KeyValue, ScanOptions, Table};
use futures::StreamExt;

use crate::cli::{Format, ScanArgs};
use crate::error::Result;
use crate::fail;
use crate::output::open_sink;
use crate::timefmt::{parse_timestamp, ACCEPTED};

/// Runs `bazof scan`.
pub fn run(args: ScanArgs) -> Result<()> {
    let location = args.location();
    let format = match (args.format, &args.output) {
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
    if format == Format::Parquet && args.output.is_none() {
        return Err(fail!("--format parquet needs --output FILE"));
    }
    let mut opts = ScanOptions::default();
    if let Some(ts) = &args.as_of {
        let t = parse_timestamp(ts)
            .ok_or_else(|| fail!("--as-of '{ts}' is not a timestamp; use {ACCEPTED}"))?;
        opts = opts.with_as_of(t);
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
        let keys = args
            .key
            .iter()
            .map(|k| match key_type {
                KeyType::String => Ok(KeyValue::String(k.clone())),
                KeyType::Int => k.trim().parse::<i64>().map(KeyValue::Int).map_err(|_| {
                    fail!("--key '{k}' is not an Int, the key type of table {location}")
                }),
            })
            .collect::<Result<Vec<_>>>()?;
        opts = opts.with_key_predicate(KeyPredicate::In(keys));
    }
    block_on(async {
        let mut stream = table.scan(opts).await?;
        let mut sink = open_sink(format, stream.schema(), args.output.as_deref())?;
        while let Some(batch) = stream.next().await {
            sink.write(&batch?)?;
        }
        sink.finish()
    })
}
