//! Arbitrary bytes as a CSV file for `bazof import` into an in-memory table: errors are
//! fine, panics are not. The first byte picks the import options, the rest is the file.
//!
//! The round-trip property (README, "CSV import"): a refused first import leaves no table;
//! an accepted one with a header, no `--deleted`, no `--schema` and distinct keys scans back
//! with one row per data row of the file and every value as the file wrote it under the
//! documented mapping (String byte for byte, empty is null, Int canonical, Float the same
//! number, Boolean the same truth value, Date the same text, DateTime the same instant).
//!
//! Flags (first byte): bit 0 `--no-header`; bits 1-2 delimiter `,` `;` tab `|`;
//! bit 3 `--key symbol` (else the default `key`); bit 4 `--deleted delisted`;
//! bit 5 import the file a second time into the now existing table; bit 6 `--run-rows 3`;
//! bit 7 the first line of the file is the `--schema` value.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use std::collections::BTreeMap;

use bazof::blocking::block_on;
use bazof::{ColumnType, Location, ScanOptions, Table};
use bazof_cli::cli::ImportArgs;
use bazof_cli::commands::import::import;
use bazof_cli::output::{cell, Cell};
use bazof_cli::timefmt::{format_micros, parse_timestamp};
use futures::TryStreamExt;
use libfuzzer_sys::fuzz_target;
use object_store::{ObjectStore, ObjectStoreExt};

const TABLE: &str = "memory://fuzz/csv_import";

fn csv_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("bazof-fuzz-{}.csv", std::process::id())))
}

/// Every object of the table.
fn table_objects() -> Vec<object_store::path::Path> {
    let loc = Location::parse(TABLE).expect("memory location");
    block_on(async {
        loc.store
            .list(Some(&loc.root))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .expect("list in-memory store")
    })
}

/// Deletes every object of the table so each input starts from "no table".
fn clear_table() {
    let loc = Location::parse(TABLE).expect("memory location");
    let paths = table_objects();
    block_on(async {
        for p in paths {
            loc.store
                .delete(&p)
                .await
                .expect("delete from in-memory store");
        }
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut body)) = data.split_first() else {
        return;
    };
    let mut schema = None;
    if flags & 0x80 != 0 {
        let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
        schema = Some(String::from_utf8_lossy(&body[..end]).into_owned());
        body = body.get(end + 1..).unwrap_or_default();
    }
    let path = csv_path();
    std::fs::write(path, body).expect("write the fuzz CSV");
    let args = || ImportArgs {
        table: TABLE.to_string(),
        files: vec![path.clone()],
        key: (flags & 0x08 != 0).then(|| "symbol".to_string()),
        event_time: None,
        deleted: (flags & 0x10 != 0).then(|| "delisted".to_string()),
        schema: schema.clone(),
        delimiter: [",", ";", "\\t", "|"][usize::from((flags >> 1) & 3)].to_string(),
        no_header: flags & 0x01 != 0,
        format: None,
        null: Vec::new(),
        run_rows: (flags & 0x40 != 0).then_some(3),
    };
    let first = import(args());
    match &first {
        Err(_) => assert!(
            table_objects().is_empty(),
            "a refused import into a new table left files behind"
        ),
        Ok(_) if flags & 0x91 == 0 => {
            let delimiter = [b',', b';', b'\t', b'|'][usize::from((flags >> 1) & 3)];
            let key = if flags & 0x08 != 0 { "symbol" } else { "key" };
            round_trip(body, delimiter, key);
        }
        Ok(_) => {}
    }
    if first.is_ok() && flags & 0x20 != 0 {
        let _ = import(args());
    }
    clear_table();
});

/// What a value must read back as, given the column's type; `None` when it matches.
fn mismatch(ty: Option<ColumnType>, raw: &str, got: &Cell) -> Option<String> {
    let ok = match (ty, got) {
        (_, Cell::Null) => raw.is_empty(),
        (_, _) if raw.is_empty() => false,
        (None, c) => {
            parse_timestamp(raw)
                .map(|t| format_micros(t.timestamp_micros()))
                .as_deref()
                == Some(c.text())
        }
        (Some(ColumnType::String), Cell::Text(s)) => s == raw,
        (Some(ColumnType::Int), Cell::Number(s)) => s == raw,
        (Some(ColumnType::Float), c) => {
            let want: Option<f64> = raw.parse().ok();
            let got: Option<f64> = c.text().parse().ok();
            want.is_some() && want.map(f64::to_bits) == got.map(f64::to_bits)
        }
        (Some(ColumnType::Boolean), Cell::Bool(b)) => raw.eq_ignore_ascii_case(&b.to_string()),
        (Some(ColumnType::Date), Cell::Text(s)) => s == raw,
        (Some(ColumnType::DateTime), Cell::Text(s)) => {
            parse_timestamp(raw)
                .map(|t| format_micros(t.timestamp_micros()))
                .as_ref()
                == Some(s)
        }
        _ => false,
    };
    (!ok).then(|| format!("{raw:?} ({ty:?}) read back as {got:?}"))
}

/// Reads the file as the documented CSV rules say and compares every value with the scan.
fn round_trip(body: &[u8], delimiter: u8, key: &str) {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut records = rdr.records();
    let Some(Ok(header)) = records.next() else {
        panic!("an accepted import without a readable header");
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    if header.iter().any(|h| h == bazof::DELETED_COLUMN) {
        return; // A deletion marker named like the reserved column: tombstones hide rows.
    }
    let rows: Vec<csv::StringRecord> = records
        .map(|r| r.expect("an accepted file reads as CSV"))
        .filter(|r| !(r.len() == 1 && header.len() > 1 && r[0].trim().is_empty()))
        .collect();
    let table = block_on(Table::open(TABLE)).expect("the imported table");
    let schema = block_on(table.schema()).expect("schema");
    let key_at = header.iter().position(|h| h == key).expect("key column");
    let mut keys = std::collections::HashSet::new();
    if !rows.iter().all(|r| keys.insert(r[key_at].to_string())) {
        return; // Repeated keys: the scan keeps one event per key.
    }
    let names: Vec<String> = schema.column_names().map(String::from).collect();
    let batches = block_on(async {
        table
            .scan(ScanOptions::default())
            .await?
            .collect_batches()
            .await
    })
    .expect("scan");
    let mut scanned: BTreeMap<String, Vec<Cell>> = BTreeMap::new();
    for b in &batches {
        for row in 0..b.num_rows() {
            let cells: Vec<Cell> = (0..b.num_columns())
                .map(|c| cell(b.column(c).as_ref(), row))
                .collect();
            scanned.insert(cells[0].text().to_string(), cells);
        }
    }
    assert_eq!(
        scanned.len(),
        rows.len(),
        "one row per data row of the file"
    );
    for r in &rows {
        let got = scanned
            .get(&r[key_at])
            .unwrap_or_else(|| panic!("key {:?} lost", &r[key_at]));
        for (i, h) in header.iter().enumerate() {
            let at = names
                .iter()
                .position(|n| n == h)
                .expect("every column is in the schema");
            let ty = if *h == schema.key {
                Some(match schema.key_type {
                    bazof::KeyType::Int => ColumnType::Int,
                    bazof::KeyType::String => ColumnType::String,
                })
            } else if *h == schema.event_time {
                None
            } else {
                schema.column(h).map(|c| c.data_type)
            };
            if let Some(why) = mismatch(ty, &r[i], &got[at]) {
                panic!("column '{h}': {why}");
            }
        }
    }
}
