//! Inputs found by the fuzz targets in `/fuzz` (see fuzz/README.md), kept as regression tests:
//! snapshot JSON must parse to an error or to a snapshot that validates and round-trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use bazof::{AnySnapshot, ColumnDef, ColumnType, KeyType, ScanOptions, Table, TableSchema};

/// A valid V1 snapshot (commit 1, no files) whose first segment ends at `end`.
fn snapshot_with_end(end: &str) -> String {
    format!(
        r#"{{"format_version":1,"commit":1,"commit_time":"2024-01-01T00:00:00Z",
        "schema":{{"key":"key","key_type":"String","event_time":"event_time","columns":[]}},
        "segments":[{{"start":null,"end":"{end}","deltas":[]}},{{"start":"{end}","end":null,"deltas":[]}}],
        "summary":{{"operation":"append","rows_added":0,"files_added":[]}}}}"#
    )
}

/// Parses, serialises and parses again; the two parses must agree.
fn round_trip(json: &str) -> Result<(), String> {
    let first = match AnySnapshot::parse(json.as_bytes(), 1).map_err(|e| format!("{e:?}"))? {
        AnySnapshot::V1(s) => s,
        AnySnapshot::Legacy(_) => return Err("parsed as legacy".into()),
    };
    let again = match AnySnapshot::parse(&first.to_json().unwrap(), 1) {
        Ok(AnySnapshot::V1(s)) => s,
        other => panic!("to_json of a valid snapshot does not parse back: {other:?}"),
    };
    assert_eq!(first, again, "snapshot does not round-trip");
    Ok(())
}

#[test]
fn offset_timestamp_past_year_9999_round_trips() {
    // In UTC this is +10000-01-01T01:00:00Z, which RFC 3339 cannot write; it used to be
    // written that way and then refused on reading.
    round_trip(&snapshot_with_end("9999-12-31T23:00:00-02:00")).unwrap();
    round_trip(&snapshot_with_end("0000-01-01T00:30:00+01:00")).unwrap();
}

#[test]
fn sub_microsecond_timestamp_is_refused() {
    // Used to be truncated by to_json, silently moving the segment bound.
    let err = round_trip(&snapshot_with_end("2024-01-01T00:00:00.0000001Z")).unwrap_err();
    assert!(err.contains("more precise than a microsecond"), "{err}");
    round_trip(&snapshot_with_end("2024-01-01T00:00:00.123456Z")).unwrap();
}

#[test]
fn event_times_past_year_9999_are_readable() {
    // The writer stores min/max event times in the snapshot: a year-20000 event must not make
    // the table unreadable.
    let far = 20_000i64 * 365 * 86_400 * 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("t").to_str().unwrap().to_string();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let schema = TableSchema::new(KeyType::String, vec![ColumnDef::new("v", ColumnType::Int)]);
        let t = Table::create(&loc, schema).await.unwrap();
        let batch = RecordBatch::try_from_iter([
            ("key", Arc::new(StringArray::from(vec!["a", "b"])) as _),
            (
                "event_time",
                Arc::new(TimestampMicrosecondArray::from(vec![-far, far]).with_timezone("UTC"))
                    as _,
            ),
            ("v", Arc::new(Int64Array::from(vec![1, 2])) as _),
        ])
        .unwrap();
        t.commit(&[batch]).await.unwrap();
        let t = Table::open(&loc).await.unwrap();
        let rows: usize = t
            .scan(ScanOptions::default())
            .await
            .unwrap()
            .collect_batches()
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(rows, 2);
    });
}
