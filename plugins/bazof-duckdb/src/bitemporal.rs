//! `bazof_history(path, …)` and `bazof_diff(path, …)`: the core's bitemporal reads
//! (SPEC §10) as table functions, streamed like `bazof_scan`.

use arrow::datatypes::SchemaRef;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use std::sync::Arc;

use bazof::bitemporal::history::history_schema;
use bazof::blocking::block_on;
use bazof::{AnySnapshot, DiffOptions, HistoryOptions, KeyPredicate, Point, Table};
use futures::StreamExt;

use crate::emit::Emitter;
use crate::params::{self, in_function, ArgValue};
use crate::types::logical_type;

type BoxError = Box<dyn std::error::Error>;

/// What `bind` learned: the table and the core options of the query.
pub struct Bind<O> {
    table: Table,
    options: O,
}

/// Opens the table and the snapshot whose schema the output follows (metadata only:
/// `bind` runs twice per query).
fn open<V: ArgValue>(
    func: &str,
    path: &V,
    snapshot: Option<u64>,
) -> Result<(Table, Arc<AnySnapshot>), BoxError> {
    let path = in_function(func, params::path(path))?;
    Ok(block_on(Table::open_snapshot(&path, snapshot))?)
}

/// Reads `bazof_history`'s arguments (either C API's values; `None`: not given) and
/// opens the table. Returns the bind data and the result columns.
pub(crate) fn bind_history<V: ArgValue>(
    path: &V,
    snapshot: Option<&V>,
    from_time: Option<&V>,
    to_time: Option<&V>,
    keys: Option<&V>,
) -> Result<(Bind<HistoryOptions>, SchemaRef), BoxError> {
    const F: &str = "bazof_history";
    let mut options = HistoryOptions::default();
    if let Some(v) = snapshot {
        options.snapshot = in_function(F, params::snapshot(v))?;
    }
    if let Some(v) = from_time {
        options.from = in_function(F, params::time("from_time", v))?;
    }
    if let Some(v) = to_time {
        options.to = in_function(F, params::time("to_time", v))?;
    }
    let (table, snap) = open(F, path, options.snapshot)?;
    // History reads the snapshot whose columns bind declares.
    options.snapshot = Some(snap.commit());
    let schema = snap.schema();
    if let Some(v) = keys {
        options.key_predicate = in_function(F, params::keys(v, schema.key_type, &schema.key))?;
    }
    let values: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
    Ok((Bind { table, options }, history_schema(schema, &values)))
}

/// Reads `bazof_diff`'s arguments (as [`bind_history`]): `points` are the `as_of`
/// and `snapshot` of the `from` and then the `to` point.
pub(crate) fn bind_diff<V: ArgValue>(
    path: &V,
    points: [[Option<&V>; 2]; 2],
    keys: Option<&V>,
) -> Result<(Bind<DiffOptions>, SchemaRef), BoxError> {
    const F: &str = "bazof_diff";
    let mut resolved = [Point::default(), Point::default()];
    for ((point, [as_of, snapshot]), side) in resolved.iter_mut().zip(points).zip(["from", "to"]) {
        if let Some(v) = as_of {
            point.as_of = in_function(F, params::time(&format!("{side}_as_of"), v))?;
        }
        if let Some(v) = snapshot {
            point.snapshot = in_function(F, params::commit(&format!("{side}_snapshot"), v))?;
        }
    }
    let [from, to] = resolved;
    let mut options = DiffOptions::new(from, to);
    let (table, snap) = open(F, path, to.snapshot)?;
    let schema = snap.schema();
    if let Some(v) = keys {
        options.key_predicate = in_function(F, params::keys(v, schema.key_type, &schema.key))?;
    }
    let out = block_on(table.diff_output_schema(&options)).map_err(|e| format!("{F}: {e}"))?;
    Ok((Bind { table, options }, out))
}

/// Starts a history: its key ranges are the output's streams.
pub(crate) fn start_history(bind: &Bind<HistoryOptions>) -> Result<Emitter, BoxError> {
    let (table, options) = (bind.table.clone(), bind.options.clone());
    let stream = block_on(async move { table.history(options).await })?;
    Ok(Emitter::new(stream.into_parts(), false))
}

/// Starts a history for the result columns `columns` (positions in `schema`, the
/// bound history schema) only, pruned by the key predicate `pushed` as well: the
/// value columns not asked for are not read.
pub(crate) fn start_history_columns(
    bind: &Bind<HistoryOptions>,
    schema: &SchemaRef,
    columns: &[u64],
    pushed: Option<KeyPredicate>,
) -> Result<Emitter, BoxError> {
    // Key, valid_from and valid_to come first; the values asked for follow, in order.
    const FIXED: usize = 3;
    let mut values: Vec<String> = Vec::new();
    let mut positions: Vec<usize> = Vec::with_capacity(columns.len());
    for &c in columns {
        let i = usize::try_from(c)
            .ok()
            .filter(|&i| i < schema.fields().len())
            .ok_or_else(|| format!("bazof_history: DuckDB asked for column {c}"))?;
        positions.push(if i < FIXED {
            i
        } else {
            values.push(schema.field(i).name().clone());
            FIXED + values.len() - 1
        });
    }
    let mut options = bind.options.clone().with_columns(values);
    options.key_predicate = KeyPredicate::both(options.key_predicate.take(), pushed);
    let table = bind.table.clone();
    let location = table.location().to_string();
    let stream = block_on(async move { table.history(options).await })?;
    let parts = stream.into_parts().into_iter().map(|part| {
        let (positions, location) = (positions.clone(), location.clone());
        part.map(move |batch| {
            batch?
                .project(&positions)
                .map_err(|source| bazof::Error::Arrow {
                    table: location.clone(),
                    source,
                })
        })
        .boxed()
    });
    Ok(Emitter::new(parts, columns.is_empty()))
}

/// Starts a diff (one stream).
pub(crate) fn start_diff(bind: &Bind<DiffOptions>) -> Result<Emitter, BoxError> {
    let (table, options) = (bind.table.clone(), bind.options.clone());
    let stream = block_on(async move { table.diff(options).await })?;
    Ok(Emitter::new(stream.into_parts(), false))
}

fn add_columns(bind: &BindInfo, schema: &SchemaRef) -> Result<(), BoxError> {
    for f in schema.fields() {
        bind.add_result_column(f.name(), logical_type(f.data_type())?);
    }
    Ok(())
}

/// The bind data `bind` stored for this query.
fn bind_data<'a, O>(func: &str, init: &'a InitInfo) -> Result<&'a Bind<O>, BoxError> {
    // SAFETY: the bind data `bind` stored for this query, alive until it ends.
    Ok(unsafe { init.get_bind_data::<Bind<O>>().as_ref() }
        .ok_or_else(|| format!("{func}: missing bind data"))?)
}

/// Tells DuckDB how many threads can work on `emitter`: one per key range (one reads
/// them in key order where the order matters).
fn threads(init: &InitInfo, emitter: Emitter) -> Emitter {
    init.set_max_threads(emitter.parallelism());
    emitter
}

fn named(names: &[&str]) -> Option<Vec<(String, LogicalTypeHandle)>> {
    Some(
        names
            .iter()
            .map(|n| (n.to_string(), LogicalTypeHandle::from(LogicalTypeId::Any)))
            .collect(),
    )
}

/// `bazof_history(path [, snapshot => N, from_time => T, to_time => T, keys => [...]])`: one row
/// per version of each key with `valid_from` and `valid_to`.
pub struct BazofHistory;

impl VTab for BazofHistory {
    type BindData = Bind<HistoryOptions>;
    type InitData = Emitter;

    fn bind(bind: &BindInfo) -> Result<Self::BindData, BoxError> {
        let named = |n: &str| bind.get_named_parameter(n);
        let (data, schema) = bind_history(
            &bind.get_parameter(0),
            named("snapshot").as_ref(),
            // Not `from`/`to`: FROM is reserved in SQL and would need quoting.
            named("from_time").as_ref(),
            named("to_time").as_ref(),
            named("keys").as_ref(),
        )?;
        add_columns(bind, &schema)?;
        Ok(data)
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, BoxError> {
        Ok(threads(
            init,
            start_history(bind_data("bazof_history", init)?)?,
        ))
    }

    fn func(func: &TableFunctionInfo<Self>, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        func.get_init_data().next_chunk(output)
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Varchar)])
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        named(&["snapshot", "from_time", "to_time", "keys"])
    }
}

/// `bazof_diff(path [, from_as_of => T, from_snapshot => N, to_as_of => T,
/// to_snapshot => N, keys => [...]])`: the keys whose row differs between two points.
pub struct BazofDiff;

impl VTab for BazofDiff {
    type BindData = Bind<DiffOptions>;
    type InitData = Emitter;

    fn bind(bind: &BindInfo) -> Result<Self::BindData, BoxError> {
        let named = |n: &str| bind.get_named_parameter(n);
        let values = ["from_as_of", "from_snapshot", "to_as_of", "to_snapshot"].map(named);
        let [a, b, c, d] = &values;
        let (data, schema) = bind_diff(
            &bind.get_parameter(0),
            [[a.as_ref(), b.as_ref()], [c.as_ref(), d.as_ref()]],
            named("keys").as_ref(),
        )?;
        add_columns(bind, &schema)?;
        Ok(data)
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, BoxError> {
        Ok(threads(init, start_diff(bind_data("bazof_diff", init)?)?))
    }

    fn func(func: &TableFunctionInfo<Self>, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        func.get_init_data().next_chunk(output)
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Varchar)])
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        named(&[
            "from_as_of",
            "from_snapshot",
            "to_as_of",
            "to_snapshot",
            "keys",
        ])
    }
}
