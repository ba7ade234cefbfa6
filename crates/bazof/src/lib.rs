//! # bazof: event-time time travel over tables in object storage
//!
//! A bazof table is a log of events (key, event time, values, optional deletion
//! marker) arriving in numbered commits. [`Table::scan`] answers "what was true in
//! the world at `as_of`, as known at commit `snapshot`" (DESIGN §1):
//!
//! 1. take every event committed in commits `<= snapshot`;
//! 2. drop events with `event_time > as_of`;
//! 3. per key keep the event with the greatest event time (ties: later commit, then later row);
//! 4. drop keys whose surviving event is a deletion.
//!
//! Everything else (segments, bases, pruning, the streaming merge) is an
//! optimisation that never changes that result. The format is specified in
//! `SPEC.md`; the modules follow its sections.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
//! use bazof::{ColumnDef, ColumnType, KeyType, ScanOptions, Table, TableSchema};
//!
//! let schema = TableSchema::new(KeyType::String, vec![ColumnDef::new("price", ColumnType::String)]);
//! let table = Table::create("memory://doc/prices", schema).await?;
//! let batch = RecordBatch::try_from_iter([
//!     ("key", Arc::new(StringArray::from(vec!["a", "a"])) as _),
//!     ("event_time", Arc::new(TimestampMicrosecondArray::from(vec![0, 10]).with_timezone("UTC")) as _),
//!     ("price", Arc::new(StringArray::from(vec!["1", "2"])) as _),
//! ])?;
//! assert_eq!(table.commit(&[batch]).await?.commit, 1);
//! let as_of = chrono::DateTime::from_timestamp_micros(5).unwrap();
//! let rows = table.scan(ScanOptions::default().with_as_of(as_of)).await?.collect_batches().await?;
//! assert_eq!(rows[0].num_rows(), 1);
//! # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
#![warn(missing_docs)]

pub mod bitemporal;
pub mod blocking;
mod check;
mod commit;
mod compact;
mod data_file;
pub mod decode_guard;
mod encode;
pub mod error;
mod key_order;
mod local_store;
mod location;
mod object_cache;
pub mod predicate;
pub mod scan;
pub mod schema;
pub mod snapshot;
mod sorted_run;
pub mod table;
pub mod time;
mod write;

/// A commit number (1, 2, 3, ...); snapshot `s{n}.json` describes the table after commit `n`.
pub type Commit = u64;

pub use bitemporal::diff::{DiffOptions, Point};
pub use bitemporal::history::{BatchStream, HistoryOptions};
pub use check::{CheckProblem, CheckReport, ExpiredSnapshot};
pub use commit::{CommitInfo, CommitWriter, DEFAULT_RUN_ROWS};
pub use compact::{CompactionInfo, CompactionPolicy, SegmentWidth, VacuumOptions, VacuumReport};
pub use data_file::{PAGE_ROWS, ROW_GROUP_ROWS};
pub use error::{Error, Result};
pub use location::Location;
pub use predicate::KeyPredicate;
pub use scan::metrics::{MetricTotals, ScanMetrics};
pub use scan::options::{ScanOptions, DEFAULT_BATCH_SIZE};
pub use scan::plan::{PlannedFile, ScanPlan, SkipReason, SkippedFile};
pub use scan::{PartStream, ScanStream};
pub use schema::{ColumnDef, ColumnType, KeyType, TableSchema, DELETED_COLUMN};
pub use snapshot::{AnySnapshot, DataFile, FileKind, KeyValue, LogEntry, Segment, Snapshot};
pub use table::Table;
pub use write::WriteOptions;
