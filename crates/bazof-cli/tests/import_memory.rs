//! `bazof import` holds a bounded amount of memory: the blocks in flight and two sorted
//! runs, not the file. A counting allocator measures the peak of importing CSV and
//! NDJSON files of 4x the rows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};

use bazof_cli::cli::{Cli, Command};
use bazof_cli::commands::import::import;
use bazof_testkit::alloc::{peak_during, CountingAlloc};
use clap::Parser;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// A file of `rows` events over 5,000 keys, as CSV or NDJSON.
fn events(dir: &Path, rows: usize, json: bool) -> PathBuf {
    let path = dir.join(if json { "e.ndjson" } else { "e.csv" });
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    if !json {
        writeln!(f, "key,event_time,qty,note").unwrap();
    }
    for i in 0..rows {
        let (key, sec, qty) = (format!("k{:05}", i * 7919 % 5000), i % 86_400, i % 1000);
        let time = format!(
            "2024-01-01T{:02}:{:02}:{:02}Z",
            sec / 3600,
            sec / 60 % 60,
            sec % 60
        );
        if json {
            let line =
                format!(r#"{{"key":"{key}","event_time":"{time}","qty":{qty},"note":"n{i}"}}"#);
            writeln!(f, "{line}").unwrap();
        } else {
            writeln!(f, "{key},{time},{qty},n{i}").unwrap();
        }
    }
    f.flush().unwrap();
    path
}

/// The peak of live bytes while importing `rows` rows in runs of 20,000.
fn peak(rows: usize, json: bool) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let file = events(dir.path(), rows, json);
    let table = dir.path().join("t");
    let cli = Cli::try_parse_from([
        "bazof".as_ref(),
        "import".as_ref(),
        table.as_os_str(),
        file.as_os_str(),
        "--run-rows".as_ref(),
        "20000".as_ref(),
    ])
    .unwrap();
    let Command::Import(args) = cli.command else {
        panic!("not an import")
    };
    let (done, peak) = futures::executor::block_on(peak_during(async { import(args) }));
    let summary = done.unwrap();
    assert!(summary.contains(&format!("{rows} rows")), "{summary}");
    peak
}

/// Growing with the file would take the peak to about 4x. The blocks in flight are the
/// one part that may still grow from the smaller file to the larger: up to three per
/// converting thread, which the smaller file may not fill on a machine of many cores.
#[test]
fn import_memory_does_not_grow_with_the_file() {
    for json in [false, true] {
        let (small, large) = (peak(300_000, json), peak(1_200_000, json));
        assert!(
            large < small * 5 / 2,
            "json {json}: importing 4x the rows peaked at {large} bytes against {small}"
        );
    }
}
