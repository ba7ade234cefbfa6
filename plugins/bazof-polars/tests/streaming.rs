//! What happens with Polars' streaming engine (its own test binary: it sets an
//! environment variable that would leak into parallel tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, TimestampMicrosecondArray};
use bazof::{ColumnDef, ColumnType, KeyType, Table, TableSchema};
use bazof_polars::{scan_bazof, ScanArgsBazof};
use polars::prelude::*;

#[test]
fn streaming_is_refused_clearly_and_in_memory_works() {
    let location = common::fresh("streaming");
    let schema = TableSchema::new(KeyType::Int, vec![ColumnDef::new("v", ColumnType::Int)]);
    bazof_testkit::block_on(async {
        let table = Table::create(&location, schema).await.unwrap();
        let batch = RecordBatch::try_from_iter([
            ("key", Arc::new(Int64Array::from(vec![1, 2])) as _),
            (
                "event_time",
                Arc::new(TimestampMicrosecondArray::from(vec![0, 0]).with_timezone("UTC")) as _,
            ),
            ("v", Arc::new(Int64Array::from(vec![10, 20])) as _),
        ])
        .unwrap();
        table.commit(&[batch]).await.unwrap();
    });

    // POLARS_FORCE_STREAMING=1: a clear error from scan_bazof, not a panic at collect.
    std::env::set_var("POLARS_FORCE_STREAMING", "1");
    let err = scan_bazof(&location, ScanArgsBazof::default()).err();
    std::env::remove_var("POLARS_FORCE_STREAMING");
    let msg = err.expect("refused").to_string();
    assert!(msg.contains("POLARS_FORCE_STREAMING"), "{msg}");

    // An explicit Engine::Streaming cannot be intercepted by a scan source: Polars
    // panics (here: the workspace builds Polars without its `streaming` feature; with
    // it, the streaming engine's `todo!("unimplemented: AnonymousScan")`).
    let lf = scan_bazof(&location, ScanArgsBazof::default()).unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        lf.clone().collect_with_engine(Engine::Streaming)
    }));
    match &outcome {
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            eprintln!("Engine::Streaming panics: {text}");
        }
        Ok(Err(e)) => eprintln!("Engine::Streaming errors: {e}"),
        Ok(Ok(_)) => eprintln!("Engine::Streaming works"),
    }
    assert!(
        !matches!(outcome, Ok(Ok(_))),
        "if this starts working, update the crate docs"
    );

    // The default engine is the in-memory one.
    let df = lf
        .collect_with_engine(Engine::InMemory)
        .unwrap()
        .unwrap_single();
    assert_eq!(df.height(), 2);
}
