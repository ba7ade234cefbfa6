//! Arbitrary bytes as a CSV file for `bazof import` into an in-memory table: errors are
//! fine, panics are not. The first byte picks the import options, the rest is the file.
//!
//! Flags (first byte): bit 0 `--no-header`; bits 1-2 delimiter `,` `;` tab `|`;
//! bit 3 `--key symbol` (else the default `key`); bit 4 `--deleted delisted`;
//! bit 5 import the file a second time into the now existing table; bit 6 `--run-rows 3`;
//! bit 7 the first line of the file is the `--schema` value.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use bazof::blocking::block_on;
use bazof::Location;
use bazof_cli::cli::ImportArgs;
use bazof_cli::commands::import::import;
use futures::TryStreamExt;
use libfuzzer_sys::fuzz_target;
use object_store::{ObjectStore, ObjectStoreExt};

const TABLE: &str = "memory://fuzz/csv_import";

fn csv_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("bazof-fuzz-{}.csv", std::process::id())))
}

/// Deletes every object of the table so each input starts from "no table".
fn clear_table() {
    let loc = Location::parse(TABLE).expect("memory location");
    block_on(async {
        let paths: Vec<_> = loc
            .store
            .list(Some(&loc.root))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .expect("list in-memory store");
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
        run_rows: (flags & 0x40 != 0).then_some(3),
    };
    let first = import(args());
    if first.is_ok() && flags & 0x20 != 0 {
        let _ = import(args());
    }
    clear_table();
});
