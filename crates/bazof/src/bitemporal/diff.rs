//! SPEC §10.2: `diff`, the keys whose resolved row differs between two points.
//!
//! A point is an (as_of, snapshot) pair: event time and knowledge time. `diff(a, b)`
//! compares, key by key, `scan(a)` with `scan(b)` over the same columns: a key only in
//! `b` is an `insert`, only in `a` a `delete`, in both with different values (any
//! column, event time included) an `update`. Equal rows are not returned.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, Rows, SortField};
use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::history::BatchStream;
use super::rows::{Gather, Keys, Selection};
use crate::error::{Error, Result};
use crate::predicate::KeyPredicate;
use crate::scan::options::{ScanOptions, DEFAULT_BATCH_SIZE};
use crate::scan::{Parts, ScanStream};
use crate::schema::TableSchema;
use crate::table::Table;
use crate::Commit;

/// Name of the column saying what changed: `insert`, `delete` or `update`.
pub const CHANGE: &str = "change";
/// Prefix of the columns holding a row as it was at the first point.
pub const BEFORE: &str = "before_";
/// Prefix of the columns holding a row as it is at the second point.
pub const AFTER: &str = "after_";

/// A point in both times: what was true at `as_of`, as known after `snapshot`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Point {
    /// Event time (default: current).
    pub as_of: Option<DateTime<Utc>>,
    /// Commit (default: the latest).
    pub snapshot: Option<Commit>,
}

impl Point {
    /// What was true at `as_of`, as known now.
    pub fn as_of(as_of: DateTime<Utc>) -> Self {
        Point {
            as_of: Some(as_of),
            snapshot: None,
        }
    }
    /// The current state as known after `snapshot`.
    pub fn snapshot(snapshot: Commit) -> Self {
        Point {
            as_of: None,
            snapshot: Some(snapshot),
        }
    }
}

/// What [`Table::diff`] compares.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// The first point (`before_` columns).
    pub from: Point,
    /// The second point (`after_` columns).
    pub to: Point,
    /// Columns to compare and return (default: all but the key, event time included).
    pub columns: Option<Vec<String>>,
    /// Keys to compare (prunes both scans).
    pub key_predicate: Option<KeyPredicate>,
    /// Rows per output batch (a target).
    pub batch_size: usize,
}

impl DiffOptions {
    /// Compares `from` with `to`.
    pub fn new(from: Point, to: Point) -> Self {
        DiffOptions {
            from,
            to,
            columns: None,
            key_predicate: None,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
    /// Compares and returns these columns.
    #[must_use]
    pub fn with_columns<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }
    /// Compares only keys matching the predicate.
    #[must_use]
    pub fn with_key_predicate(mut self, p: KeyPredicate) -> Self {
        self.key_predicate = Some(p);
        self
    }
    /// Sets the output batch size.
    #[must_use]
    pub fn with_batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }
}

/// The schema of a diff of scans returning `scanned` (the key first): the key,
/// [`CHANGE`], the other columns prefixed [`BEFORE`], then prefixed [`AFTER`].
pub fn diff_schema(scanned: &Schema) -> SchemaRef {
    let mut fields = vec![
        scanned.field(0).clone(),
        Field::new(CHANGE, DataType::Utf8, false),
    ];
    for prefix in [BEFORE, AFTER] {
        fields.extend(
            scanned.fields()[1..]
                .iter()
                .map(|f| Field::new(format!("{prefix}{}", f.name()), f.data_type().clone(), true)),
        );
    }
    Arc::new(Schema::new(fields))
}

/// The columns a diff compares: `columns` (default: all) without the key.
pub fn compared_columns(schema: &TableSchema, columns: Option<&[String]>) -> Vec<String> {
    match columns {
        Some(c) => c.iter().filter(|c| **c != schema.key).cloned().collect(),
        None => schema
            .column_names()
            .filter(|c| *c != schema.key)
            .map(String::from)
            .collect(),
    }
}

impl Table {
    /// SPEC §10.2: the schema of [`Table::diff`]'s output, from metadata only (the
    /// later of the two snapshots' schema, see [`diff_schema`]).
    pub async fn diff_output_schema(&self, options: &DiffOptions) -> Result<SchemaRef> {
        let (_, _, _, scanned) = self.diff_columns(options).await?;
        Ok(diff_schema(&scanned))
    }

    /// The two snapshots, the columns a diff scans (key first) and their schema, taken
    /// from the later snapshot, which holds every column of the earlier (SPEC §2.1).
    async fn diff_columns(
        &self,
        options: &DiffOptions,
    ) -> Result<(
        Arc<crate::snapshot::AnySnapshot>,
        Arc<crate::snapshot::AnySnapshot>,
        Vec<String>,
        SchemaRef,
    )> {
        let (a, b) = (
            self.snapshot(options.from.snapshot).await?,
            self.snapshot(options.to.snapshot).await?,
        );
        let schema = if a.commit() > b.commit() {
            a.schema()
        } else {
            b.schema()
        };
        let compared = compared_columns(schema, options.columns.as_deref());
        let mut scanned = vec![schema.key.clone()];
        scanned.extend(compared);
        let wanted = schema
            .arrow_projection(&scanned.iter().map(String::as_str).collect::<Vec<_>>())
            .map_err(|reason| Error::InvalidScan {
                table: self.location().to_string(),
                reason,
            })?;
        Ok((a, b, scanned, wanted))
    }

    /// The keys whose resolved row differs between two points (SPEC §10.2), in key
    /// order: the key, [`CHANGE`], then every compared column prefixed [`BEFORE`],
    /// then every compared column prefixed [`AFTER`] (null on the side without the key).
    pub async fn diff(&self, options: DiffOptions) -> Result<BatchStream> {
        let (a, b, scanned, wanted) = self.diff_columns(&options).await?;
        // Each side scans the columns its snapshot has (pinned to the snapshot whose
        // schema was read), then reads as the later schema (SPEC §10.2).
        let scan = |p: Point, at: &crate::snapshot::AnySnapshot| {
            let mut o = ScanOptions::default()
                .with_columns(
                    scanned
                        .iter()
                        .filter(|c| at.schema().column_names().any(|n| n == c.as_str()))
                        .cloned(),
                )
                .with_batch_size(options.batch_size);
            o.as_of = p.as_of;
            o.snapshot = Some(at.commit());
            o.key_predicate = options.key_predicate.clone();
            self.scan(o)
        };
        let before = scan(options.from, &a)
            .await?
            .conform(wanted.clone(), self.location());
        let after = scan(options.to, &b).await?.conform(wanted, self.location());
        if before.schema() != after.schema() {
            return Err(Error::InvalidScan {
                table: self.location().to_string(),
                reason: "the two points have different schemas".into(),
            });
        }
        let input = after.schema();
        let out = diff_schema(&input);
        let converter = RowConverter::new(
            input.fields()[1..]
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )
        .map_err(|e| Error::Arrow {
            table: self.location().to_string(),
            source: e,
        })?;
        let state = Compare {
            table: self.location().to_string(),
            schema: out.clone(),
            sides: [Side::new(before), Side::new(after)],
            converter,
            gather: Gather::new(self.location()),
            picks: [Vec::new(), Vec::new()],
            changes: Vec::new(),
            batch_size: options.batch_size.max(1),
        };
        let inner = futures::stream::try_unfold(state, |mut s| async move {
            Ok(s.next_batch().await?.map(|b| (b, s)))
        })
        .boxed();
        Ok(BatchStream::new(out, Parts::new([inner])))
    }
}

/// One of the two scans, at its current row.
struct Side {
    stream: ScanStream,
    /// Current batch: gather input index, keys, comparable rows of the other columns.
    current: Option<(usize, Keys, Rows)>,
    row: usize,
    done: bool,
}

impl Side {
    fn new(stream: ScanStream) -> Self {
        Side {
            stream,
            current: None,
            row: 0,
            done: false,
        }
    }
}

/// The streaming comparison of two key-ordered scans.
struct Compare {
    table: String,
    schema: SchemaRef,
    sides: [Side; 2],
    converter: RowConverter,
    gather: Gather,
    /// Per side, the (input, row) of each output row (None: the key is absent there).
    picks: [Vec<Option<(usize, usize)>>; 2],
    changes: Vec<&'static str>,
    batch_size: usize,
}

impl Compare {
    /// Makes sure side `s` points at a row, unless it is exhausted.
    async fn fill(&mut self, s: usize) -> Result<()> {
        while !self.sides[s].done
            && self.sides[s]
                .current
                .as_ref()
                .is_none_or(|(_, keys, _)| self.sides[s].row >= keys_len(keys))
        {
            match self.sides[s].stream.next().await {
                None => self.sides[s].done = true,
                Some(batch) => {
                    let batch = batch?;
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    let keys = Keys::of(&batch, &self.table)?;
                    let rows = self
                        .converter
                        .convert_columns(&batch.columns()[1..])
                        .map_err(|e| Error::Arrow {
                            table: self.table.clone(),
                            source: e,
                        })?;
                    let input = self.gather.input(batch);
                    self.sides[s].current = Some((input, keys, rows));
                    self.sides[s].row = 0;
                }
            }
        }
        Ok(())
    }

    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        while self.changes.len() < self.batch_size {
            self.fill(0).await?;
            self.fill(1).await?;
            let (a, b) = (&self.sides[0], &self.sides[1]);
            let order = match (keys_at(a), keys_at(b)) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(ka), Some(kb)) => ka.cmp(a.row, kb, b.row),
            };
            let pick = |s: &Side| s.current.as_ref().map(|(i, _, _)| (*i, s.row));
            match order {
                std::cmp::Ordering::Less => {
                    self.push(pick(&self.sides[0]), None, "delete");
                    self.sides[0].row += 1;
                }
                std::cmp::Ordering::Greater => {
                    self.push(None, pick(&self.sides[1]), "insert");
                    self.sides[1].row += 1;
                }
                std::cmp::Ordering::Equal => {
                    let same = match (&self.sides[0].current, &self.sides[1].current) {
                        (Some((_, _, ra)), Some((_, _, rb))) => {
                            ra.row(self.sides[0].row) == rb.row(self.sides[1].row)
                        }
                        _ => false,
                    };
                    if !same {
                        self.push(pick(&self.sides[0]), pick(&self.sides[1]), "update");
                    }
                    self.sides[0].row += 1;
                    self.sides[1].row += 1;
                }
            }
        }
        self.flush()
    }

    fn push(&mut self, a: Option<(usize, usize)>, b: Option<(usize, usize)>, change: &'static str) {
        self.picks[0].push(a);
        self.picks[1].push(b);
        self.changes.push(change);
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        if self.changes.is_empty() {
            return Ok(None);
        }
        let n = (self.schema.fields().len() - 2) / 2;
        let key_picks: Vec<Option<(usize, usize)>> = self.picks[0]
            .iter()
            .zip(&self.picks[1])
            .map(|(a, b)| a.or(*b))
            .collect();
        let mut columns: Vec<ArrayRef> = vec![
            self.gather.column(
                0,
                self.schema.field(0).data_type(),
                &Selection::new(&key_picks),
            )?,
            Arc::new(StringArray::from(std::mem::take(&mut self.changes))),
        ];
        for side in 0..2 {
            let selection = Selection::new(&self.picks[side]);
            for c in 0..n {
                let dt = self.schema.field(2 + side * n + c).data_type();
                columns.push(self.gather.column(1 + c, dt, &selection)?);
            }
        }
        let batch = self.gather.batch(&self.schema, columns)?;
        self.picks = [Vec::new(), Vec::new()];
        // Keep only the two current inputs.
        let mut kept = Vec::new();
        for s in 0..2 {
            if let Some((input, _, _)) = self.sides[s].current.as_mut() {
                kept.push(self.gather.inputs[*input].clone());
                *input = kept.len() - 1;
            }
        }
        self.gather.inputs = kept;
        Ok(Some(batch))
    }
}

/// The keys of a side's current batch, unless the side is exhausted.
fn keys_at(s: &Side) -> Option<&Keys> {
    if s.done {
        return None;
    }
    s.current.as_ref().map(|c| &c.1)
}

fn keys_len(k: &Keys) -> usize {
    match k {
        Keys::Int(a) => arrow::array::Array::len(a),
        Keys::Str(a) => arrow::array::Array::len(a),
    }
}
