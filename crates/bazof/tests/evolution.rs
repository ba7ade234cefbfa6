//! SPEC §2.1 schema evolution: what a commit may change, what it may not (with an error
//! that says what to do instead, and the table byte-for-byte unchanged), and how older
//! rows read. The random histories are in `oracle.rs` and `compaction.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::{
    BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use bazof::{ColumnDef, ColumnType, Error, KeyType, ScanOptions, Table, TableSchema, WriteOptions};
use bazof_testkit::{batch_rows, tree_bytes, Value};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn schema() -> TableSchema {
    TableSchema::new(
        KeyType::String,
        vec![
            ColumnDef::new("v", ColumnType::Int).with_nullable(false),
            ColumnDef::new("w", ColumnType::Int),
        ],
    )
}

fn times(t: &[i64]) -> Arc<TimestampMicrosecondArray> {
    Arc::new(TimestampMicrosecondArray::from(t.to_vec()).with_timezone("UTC"))
}

/// A table with one commit (keys a, b at t=1, 2) in a temp dir.
fn table() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("t").to_str().unwrap().to_string();
    rt().block_on(async {
        let t = Table::create(&loc, schema()).await.unwrap();
        let b = RecordBatch::try_from_iter([
            ("key", Arc::new(StringArray::from(vec!["a", "b"])) as _),
            ("event_time", times(&[1, 2]) as _),
            ("v", Arc::new(Int64Array::from(vec![1, 2])) as _),
            ("w", Arc::new(Int64Array::from(vec![Some(10), None])) as _),
        ])
        .unwrap();
        t.commit(&[b]).await.unwrap();
    });
    (dir, loc)
}

fn with(f: impl FnOnce(&mut TableSchema)) -> TableSchema {
    let mut s = schema();
    f(&mut s);
    s
}

#[test]
fn refused_changes_say_what_to_do_instead_and_write_nothing() {
    let cases: Vec<(TableSchema, &str)> = vec![
        (with(|s| { s.columns.remove(1); }), "column 'w' cannot be dropped or renamed: keep writing it (nulls are fine) and add a new name as a new column"),
        (with(|s| s.columns[1].name = "w2".into()), "column 'w' cannot be dropped or renamed"),
        (with(|s| s.columns.swap(0, 1)), "column 'v' cannot move: value columns keep their order"),
        (with(|s| s.columns[1].data_type = ColumnType::String), "column 'w' cannot change type from Int to String (only Int may widen to Float): write Int values, or add a new column of type String"),
        (with(|s| s.columns[0].nullable = true), "column 'v' cannot change nullability"),
        (with(|s| s.columns.push(ColumnDef::new("n", ColumnType::Int).with_nullable(false))), "new column 'n' must be nullable"),
        (with(|s| s.key_type = KeyType::Int), "create a new table instead"),
        (with(|s| s.event_time = "ts".into()), "the event-time column is 'event_time'; it cannot become 'ts'"),
    ];
    for (next, want) in cases {
        let (dir, loc) = table();
        let before = tree_bytes(dir.path());
        let err = rt().block_on(async {
            let t = Table::open(&loc).await.unwrap();
            t.begin_commit()
                .await
                .unwrap()
                .evolve(next.clone())
                .err()
                .unwrap()
        });
        assert!(matches!(err, Error::Schema { .. }), "{err}");
        assert!(err.to_string().contains(want), "{err}\nwanted: {want}");
        assert_eq!(tree_bytes(dir.path()), before, "{want}");
    }
    // Float may not narrow back to Int.
    let (dir, loc) = table();
    let widened = with(|s| s.columns[1].data_type = ColumnType::Float);
    let err = rt().block_on(async {
        let t = Table::open(&loc).await.unwrap();
        let w = t
            .begin_commit()
            .await
            .unwrap()
            .evolve(widened.clone())
            .unwrap();
        w.finish().await.unwrap();
        let before = tree_bytes(dir.path());
        let e = t
            .begin_commit()
            .await
            .unwrap()
            .evolve(schema())
            .err()
            .unwrap();
        assert_eq!(tree_bytes(dir.path()), before);
        e
    });
    assert!(
        err.to_string().contains(
            "column 'w' cannot change type from Float to Int (only Int may widen to Float)"
        ),
        "{err}"
    );
}

/// The input of `begin_write`: key, event_time, v, w (Float), and a new column n.
fn evolving_input(keys: &[&str], t: &[i64]) -> RecordBatch {
    let n = keys.len();
    RecordBatch::try_from_iter([
        ("key", Arc::new(StringArray::from(keys.to_vec())) as _),
        ("event_time", times(t) as _),
        ("v", Arc::new(Int64Array::from(vec![7; n])) as _),
        ("w", Arc::new(Float64Array::from(vec![2.5; n])) as _),
        ("n", Arc::new(StringArray::from(vec!["new"; n])) as _),
        ("gone", Arc::new(BooleanArray::from(vec![false; n])) as _),
    ])
    .unwrap()
}

#[test]
fn writes_evolve_only_when_asked_and_older_rows_read_null() {
    let (dir, loc) = table();
    let input = evolving_input(&["a"], &[5]);
    let opts = WriteOptions::new("key", "event_time").with_deleted("gone");
    let before = tree_bytes(dir.path());
    let err = rt()
        .block_on(Table::begin_write(&loc, &input.schema(), &opts))
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        format!("table '{loc}': the input has columns the table lacks: 'n', and the input has Float values for Int column 'w'; allow schema evolution to add/widen them (SPEC §2.1), or leave them out of the input")
    );
    assert_eq!(tree_bytes(dir.path()), before);

    rt().block_on(async {
        let mut w = Table::begin_write(&loc, &input.schema(), &opts.clone().with_evolve(true))
            .await
            .unwrap();
        w.write(&input).await.unwrap();
        assert_eq!(w.finish().await.unwrap().commit, 2);
        let t = Table::open(&loc).await.unwrap();
        let scan = |o: ScanOptions| {
            let t = t.clone();
            async move { batch_rows(&t.scan(o).await.unwrap().collect_batches().await.unwrap()) }
        };
        // Latest: a's new row; b's old row has n null and w read as Float.
        assert_eq!(
            scan(ScanOptions::default().with_columns(["key", "w", "n"])).await,
            vec![
                vec![
                    Value::Str("a".into()),
                    Value::Float(2.5),
                    Value::Str("new".into())
                ],
                vec![Value::Str("b".into()), Value::Null, Value::Null],
            ]
        );
        // As of t=1 in the latest snapshot: a's old row, widened, n null.
        let as_of = chrono::DateTime::from_timestamp_micros(1).unwrap();
        assert_eq!(
            scan(
                ScanOptions::default()
                    .with_as_of(as_of)
                    .with_columns(["key", "w", "n"])
            )
            .await,
            vec![vec![
                Value::Str("a".into()),
                Value::Float(10.0),
                Value::Null
            ]]
        );
        // Snapshot 1 keeps its own schema: w is Int, n unknown.
        assert_eq!(
            scan(
                ScanOptions::default()
                    .with_snapshot(1)
                    .with_columns(["key", "w"])
            )
            .await,
            vec![
                vec![Value::Str("a".into()), Value::Int(10)],
                vec![Value::Str("b".into()), Value::Null],
            ]
        );
        let e = t
            .scan(ScanOptions::default().with_snapshot(1).with_columns(["n"]))
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("unknown column 'n'"), "{e}");
    });
}

#[test]
fn bad_input_is_refused_up_front_and_leaves_the_table_unchanged() {
    let (dir, loc) = table();
    let before = tree_bytes(dir.path());
    let base = evolving_input(&["a"], &[5]);
    let opts = WriteOptions::new("key", "event_time").with_evolve(true);
    let cases: Vec<(arrow::datatypes::Schema, WriteOptions, &str)> = vec![
        (
            base.schema().as_ref().clone(),
            WriteOptions::new("id", "event_time"),
            "the key column 'id' is not in the input (it has key, event_time, v, w, n, gone)",
        ),
        (
            base.schema().as_ref().clone(),
            WriteOptions::new("key", "v"),
            "the event-time column 'v' has type Int64; it must be a timestamp or a date",
        ),
        (
            base.schema().as_ref().clone(),
            WriteOptions::new("w", "event_time"),
            "the key column 'w' has type Float64; a key is a string or an integer",
        ),
        (
            base.schema().as_ref().clone(),
            opts.clone().with_deleted("n"),
            "the deletion column 'n' has type Utf8; it must be Boolean",
        ),
        (
            arrow::datatypes::Schema::new(vec![
                arrow::datatypes::Field::new("key", arrow::datatypes::DataType::Utf8, false),
                arrow::datatypes::Field::new("event_time", bazof::schema::timestamp_type(), false),
                arrow::datatypes::Field::new("v", arrow::datatypes::DataType::Int64, false),
                arrow::datatypes::Field::new("big", arrow::datatypes::DataType::UInt64, true),
            ]),
            opts.clone(),
            "new column 'big' has type UInt64, which bazof cannot store",
        ),
        (
            base.schema().as_ref().clone(),
            WriteOptions::new("event_time", "key"),
            "has type Timestamp",
        ),
    ];
    for (input, o, want) in cases {
        let err = rt()
            .block_on(Table::begin_write(&loc, &input, &o))
            .err()
            .unwrap();
        assert!(err.to_string().contains(want), "{err}\nwanted: {want}");
        assert_eq!(tree_bytes(dir.path()), before, "{want}");
    }
    // Nulls in the key or the event time (tombstones included) name the column and row.
    for (keys, t, want) in [
        (
            vec![Some("a"), None],
            vec![Some(5), Some(6)],
            "column 'key' is not nullable but row 2 is null",
        ),
        (
            vec![Some("a"), Some("b")],
            vec![None, Some(6)],
            "column 'event_time' is not nullable but row 1 is null",
        ),
    ] {
        let batch = RecordBatch::try_from_iter([
            ("key", Arc::new(StringArray::from(keys)) as _),
            (
                "event_time",
                Arc::new(TimestampMicrosecondArray::from(t).with_timezone("UTC")) as _,
            ),
            ("v", Arc::new(Int64Array::from(vec![1, 2])) as _),
            (
                bazof::DELETED_COLUMN,
                Arc::new(BooleanArray::from(vec![true, true])) as _,
            ),
        ])
        .unwrap();
        let err = rt().block_on(async {
            let mut w = Table::begin_write(&loc, &batch.schema(), &opts)
                .await
                .unwrap();
            let e = w.write(&batch).await.err().unwrap();
            w.abort().await.unwrap();
            e
        });
        assert!(err.to_string().contains(want), "{err}\nwanted: {want}");
        assert_eq!(tree_bytes(dir.path()), before, "{want}");
    }
}

#[test]
fn the_first_write_creates_the_table_from_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("new").to_str().unwrap().to_string();
    let input = evolving_input(&["a", "b"], &[1, 2]);
    let opts = WriteOptions::new("key", "event_time").with_deleted("gone");
    rt().block_on(async {
        let mut w = Table::begin_write(&loc, &input.schema(), &opts)
            .await
            .unwrap();
        w.write(&input).await.unwrap();
        w.finish().await.unwrap();
        let t = Table::open(&loc).await.unwrap();
        let s = t.schema().await.unwrap();
        assert_eq!(
            s,
            TableSchema::new(
                KeyType::String,
                vec![
                    ColumnDef::new("v", ColumnType::Int),
                    ColumnDef::new("w", ColumnType::Float),
                    ColumnDef::new("n", ColumnType::String),
                ]
            )
        );
    });
}
