//! `scan_bazof_history` and `scan_bazof_diff`: the core's bitemporal reads (SPEC §10)
//! as `LazyFrame`s. Polars applies every filter and projection above them; a key
//! list given in the arguments prunes inside the core.

use std::any::Any;
use std::sync::Arc;

use bazof::bitemporal::history::history_schema;
use bazof::{BatchStream, DiffOptions, HistoryOptions, KeyPredicate, KeyType, Table};
use polars::prelude::*;

use crate::convert::schema_to_polars;
use crate::scan::{bazof_err, first_frames, frames_in_key_order, Pushdown};

/// A core read that yields Arrow batches, as a Polars source. With a `key` column
/// (history) Polars pushes its projection and filters down: `read` gets the columns
/// needed (it may leave the others out) and the key predicate found in the filter
/// (it prunes by it); the filter itself is applied to the rows read ([`Pushdown`]).
struct CoreRead<F> {
    schema: SchemaRef,
    read: F,
    key: Option<(String, KeyType)>,
}

impl<F> AnonymousScan for CoreRead<F>
where
    F: Fn(&[String], Option<KeyPredicate>) -> bazof::Result<BatchStream> + Send + Sync + 'static,
{
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self, _infer_schema_length: Option<usize>) -> PolarsResult<SchemaRef> {
        Ok(self.schema.clone())
    }

    fn allows_projection_pushdown(&self) -> bool {
        self.key.is_some()
    }

    fn allows_predicate_pushdown(&self) -> bool {
        self.key.is_some()
    }

    fn scan(&self, args: AnonymousScanArgs) -> PolarsResult<DataFrame> {
        // Diff pushes nothing: its first column, the key, is the one read for `len()`.
        let key = self
            .schema
            .get_at_index(0)
            .map_or("", |(name, _)| name.as_str());
        let pushed = Pushdown::new(args, &self.schema, key)?;
        let pruning = match &self.key {
            Some((key, key_type)) => pushed.key_predicate(key, *key_type),
            None => None,
        };
        let stream = (self.read)(&pushed.read, pruning).map_err(bazof_err)?;
        let row_local = pushed.row_local();
        let frames = match pushed.n_rows {
            Some(n) => first_frames(stream.into_parts(), n)?,
            None => frames_in_key_order(stream.into_parts(), row_local.as_ref())?.0,
        };
        pushed.finish(frames, &self.schema, row_local.is_some())
    }
}

fn lazy<F>(
    name: &'static str,
    schema: &arrow::datatypes::SchemaRef,
    key: Option<(String, KeyType)>,
    read: F,
) -> PolarsResult<LazyFrame>
where
    F: Fn(&[String], Option<KeyPredicate>) -> bazof::Result<BatchStream> + Send + Sync + 'static,
{
    let schema = Arc::new(schema_to_polars(schema)?);
    LazyFrame::anonymous_scan(
        Arc::new(CoreRead {
            schema: schema.clone(),
            read,
            key,
        }),
        ScanArgsAnonymous {
            schema: Some(schema),
            name,
            ..Default::default()
        },
    )
}

/// Opens a table and the schema of one of its snapshots (metadata only).
fn open(location: &str, snapshot: Option<u64>) -> PolarsResult<(Table, bazof::TableSchema)> {
    bazof::blocking::block_on(async {
        let table = Table::open(location).await?;
        let schema = table.snapshot(snapshot).await?.schema().clone();
        Ok::<_, bazof::Error>((table, schema))
    })
    .map_err(bazof_err)
}

/// Every version of every key as a `LazyFrame`: the key, `valid_from`, `valid_to`
/// (null while current), then the value columns (SPEC §10.1). For every `t`, the rows
/// with `valid_from <= t < valid_to` are the table as of `t`, which makes it the right
/// side of a `join_asof` for point-in-time joins.
pub fn scan_bazof_history(location: &str, options: HistoryOptions) -> PolarsResult<LazyFrame> {
    let (table, schema) = open(location, options.snapshot)?;
    let values: Vec<String> = match &options.columns {
        Some(c) => c.clone(),
        None => schema.columns.iter().map(|c| c.name.clone()).collect(),
    };
    let out = history_schema(&schema, &values);
    // Polars' projection: only the value columns it needs are read (the key and the
    // interval always come); key predicates in its filter prune.
    let key = Some((schema.key.clone(), schema.key_type));
    lazy("BAZOF HISTORY", &out, key, move |needed, pruning| {
        let mut options = options.clone();
        options.key_predicate = KeyPredicate::both(options.key_predicate.take(), pruning);
        options = options.with_columns(values.iter().filter(|v| needed.contains(v)).cloned());
        let table = table.clone();
        bazof::blocking::block_on(async move { table.history(options).await })
    })
}

/// The keys whose resolved row differs between two points as a `LazyFrame`: the key,
/// `change` (`insert`, `delete`, `update`), the columns before, then after (SPEC §10.2).
pub fn scan_bazof_diff(location: &str, options: DiffOptions) -> PolarsResult<LazyFrame> {
    let (table, _) = open(location, options.to.snapshot)?;
    let out = bazof::blocking::block_on(table.diff_output_schema(&options)).map_err(bazof_err)?;
    lazy("BAZOF DIFF", &out, None, move |_, _| {
        let (table, options) = (table.clone(), options.clone());
        bazof::blocking::block_on(async move { table.diff(options).await })
    })
}
