//! The merge against a naive resolution, on sources cut into tiny batches (keys run
//! across batch ends) with string keys that share long prefixes (the tail compare).
use super::*;
use arrow::array::{StringArray, TimestampMicrosecondArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use futures::StreamExt;
use proptest::prelude::*;
use std::sync::Arc;

/// One row: (key, event time, commit, seq, deleted).
type Row = (String, i64, u64, u32, bool);

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("t", crate::schema::timestamp_type(), false),
        Field::new("c", DataType::UInt64, false),
        Field::new("s", DataType::UInt32, false),
        Field::new("d", DataType::Boolean, false),
    ]))
}

fn batch(rows: &[Row]) -> RecordBatch {
    let cols: Vec<arrow::array::ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.0))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                .with_timezone("UTC"),
        ),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.2))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.3))),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.4).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema(), cols).unwrap()
}

/// Keys with a shared 20-byte stem, short ones (one a NUL-padded copy of the
/// other), and ones ending inside the 16-byte prefix.
fn key(i: u8) -> String {
    match i % 5 {
        0 => format!("customer-account-0000{i:03}"),
        1 => format!("customer-account-0000{i:03}x"),
        2 => format!("c{}", i / 2),
        3 => format!("c{}\0", i / 2),
        _ => format!("customer-acc{i}"),
    }
}

fn arb_source() -> impl Strategy<Value = (Vec<Row>, usize)> {
    (
        prop::collection::vec((0u8..24, 0i64..5, 1u64..4, 0u32..2), 0..120),
        prop_oneof![1usize..4, 16usize..64],
    )
        .prop_map(|(rows, chunk)| {
            // Equal ranks are copies of one event (SPEC §5): the flag follows the rank.
            let mut rows: Vec<Row> = rows
                .into_iter()
                .map(|(k, t, c, s)| {
                    (
                        key(k),
                        t,
                        c,
                        s,
                        (k as i64 + t + c as i64 + s as i64) % 4 == 0,
                    )
                })
                .collect();
            rows.sort_by(|a, b| (&a.0, a.1, a.2, a.3).cmp(&(&b.0, b.1, b.2, b.3)));
            // One row per rank in a file (SPEC §4: equal ranks keep the last).
            rows.dedup_by(|b, a| (&a.0, a.1, a.2, a.3) == (&b.0, b.1, b.2, b.3));
            (rows, chunk)
        })
}

fn run(
    sources: &[(Vec<Row>, usize)],
    mode: ScanMode,
    batch_size: usize,
    unique: &[bool],
) -> Vec<(String, i64, u64, u32)> {
    run_with(sources, mode, batch_size, None, unique)
}

/// A base of sorted rows: the last (greatest-rank) row of every key.
fn last_per_key(rows: &[Row]) -> Vec<Row> {
    let last = |i: usize| rows.get(i + 1).is_none_or(|n| n.0 != rows[i].0);
    (0..rows.len())
        .filter(|&i| last(i))
        .map(|i| rows[i].clone())
        .collect()
}

/// `unique[i]`: source `i` is declared to hold one row per key (a base).
fn run_with(
    sources: &[(Vec<Row>, usize)],
    mode: ScanMode,
    batch_size: usize,
    limit: Option<usize>,
    unique: &[bool],
) -> Vec<(String, i64, u64, u32)> {
    let streams: Vec<(Source, bool)> = sources
        .iter()
        .enumerate()
        .map(|(i, (rows, chunk))| {
            let batches: Vec<Result<RecordBatch>> =
                rows.chunks(*chunk).map(|c| Ok(batch(c))).collect();
            let stream: Source = futures::stream::iter(batches).boxed();
            (stream, unique.get(i).copied().unwrap_or(false))
        })
        .collect();
    let mut m = Merger::new(
        "t".into(),
        streams,
        vec![0, 1, 2, 3],
        schema().project(&[0, 1, 2, 3]).unwrap().into(),
        batch_size,
        limit,
        mode,
    );
    let mut out: Vec<(String, i64, u64, u32)> = Vec::new();
    futures::executor::block_on(async {
        while let Some(b) = m.next_batch().await.unwrap() {
            let k = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            // A key's rows are never split across two batches (history relies on it).
            if let (Some(prev), true) = (out.last(), b.num_rows() > 0) {
                assert_ne!(prev.0, k.value(0), "a key split across two batches");
            }
            let t = b
                .column(1)
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap();
            let c = b.column(2).as_any().downcast_ref::<UInt64Array>().unwrap();
            let s = b.column(3).as_any().downcast_ref::<UInt32Array>().unwrap();
            for i in 0..b.num_rows() {
                out.push((k.value(i).to_string(), t.value(i), c.value(i), s.value(i)));
            }
        }
    });
    out
}

proptest! {
    #[test]
    fn base_alone_passes_through(
        (rows, chunk) in arb_source(),
        batch_size in prop_oneof![Just(5usize), Just(1000)],
        limit in prop::option::of(0usize..30),
    ) {
        let src = [(last_per_key(&rows), chunk)];
        for mode in [ScanMode::Resolve, ScanMode::Base] {
            let merged = run_with(&src, mode, batch_size, limit, &[false]);
            prop_assert_eq!(run_with(&src, mode, batch_size, limit, &[true]), merged);
        }
    }

    #[test]
    fn merge_equals_naive_resolution(
        mut sources in prop::collection::vec(arb_source(), 1..8),
        batch_size in prop_oneof![Just(5usize), Just(1000)],
        with_base in any::<bool>(),
        limit in prop::option::of(0usize..30),
    ) {
        // A base (one row per key, declared so) among the sources: the last row
        // of each key of the first source.
        if with_base {
            sources[0].0 = last_per_key(&sources[0].0);
        }
        let unique = [with_base];
        let mut all: Vec<Row> = sources.iter().flat_map(|(r, _)| r.iter().cloned()).collect();
        all.sort_by(|a, b| (&a.0, a.1, a.2, a.3).cmp(&(&b.0, b.1, b.2, b.3)));
        let mut want = Vec::new();
        let mut with_tombstones = Vec::new();
        for (i, r) in all.iter().enumerate() {
            if all.get(i + 1).is_none_or(|n| n.0 != r.0) {
                with_tombstones.push((r.0.clone(), r.1, r.2, r.3));
                if !r.4 {
                    want.push((r.0.clone(), r.1, r.2, r.3));
                }
            }
        }
        prop_assert_eq!(run(&sources, ScanMode::Resolve, batch_size, &unique), want.clone());
        prop_assert_eq!(run(&sources, ScanMode::Base, batch_size, &unique), with_tombstones);
        let every: Vec<_> = all.iter().map(|r| (r.0.clone(), r.1, r.2, r.3)).collect();
        prop_assert_eq!(run(&sources, ScanMode::AllRows, batch_size, &unique), every);
        if let Some(n) = limit {
            let got = run_with(&sources, ScanMode::Resolve, batch_size, Some(n), &unique);
            prop_assert_eq!(&got[..], &want[..n.min(want.len())]);
        }
    }
}
