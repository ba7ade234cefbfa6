//! `bazof_history(path, …)` and `bazof_diff(path, …)`: the core's bitemporal reads
//! (SPEC §10) as table functions, streamed like `bazof_scan`.

use arrow::datatypes::SchemaRef;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use bazof::bitemporal::history::history_schema;
use bazof::blocking::block_on;
use bazof::{BatchStream, DiffOptions, HistoryOptions, Point, Table, TableSchema};

use crate::emit::Emitter;
use crate::params::{self, in_function};
use crate::types::logical_type;

type BoxError = Box<dyn std::error::Error>;

/// What `bind` learned: the table and the core options of the query.
pub struct Bind<O> {
    table: Table,
    options: O,
}

/// Opens the table and the snapshot whose schema the output follows (metadata only:
/// `bind` runs twice per query).
fn open(
    func: &str,
    bind: &BindInfo,
    snapshot: Option<u64>,
) -> Result<(Table, TableSchema), BoxError> {
    let path = bind.get_parameter(0);
    if path.is_null() {
        return Err(format!("{func}: the table path must not be NULL").into());
    }
    let path = path.to_string();
    Ok(block_on(async move {
        let table = Table::open(&path).await?;
        let schema = table.snapshot(snapshot).await?.schema().clone();
        Ok::<_, bazof::Error>((table, schema))
    })?)
}

fn add_columns(bind: &BindInfo, schema: &SchemaRef) -> Result<(), BoxError> {
    for f in schema.fields() {
        bind.add_result_column(f.name(), logical_type(f.data_type())?);
    }
    Ok(())
}

/// Starts the core read of a query from the options `bind` stored: its key ranges are
/// DuckDB's work units (one thread reads them in key order where order matters).
fn start<O, F, Fut>(func: &str, init: &InitInfo, read: F) -> Result<Emitter, BoxError>
where
    O: Clone + Send + Sync,
    F: FnOnce(Table, O) -> Fut,
    Fut: std::future::Future<Output = bazof::Result<BatchStream>> + Send,
{
    // SAFETY: the bind data `bind` stored for this query, alive until it ends.
    let bind = unsafe { init.get_bind_data::<Bind<O>>().as_ref() }
        .ok_or_else(|| format!("{func}: missing bind data"))?;
    let stream = block_on(read(bind.table.clone(), bind.options.clone()))?;
    // History splits into key ranges (diff is one); each range is a work unit.
    let emitter = Emitter::new(stream.into_parts(), false);
    init.set_max_threads(emitter.parallelism());
    Ok(emitter)
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
        const F: &str = "bazof_history";
        let mut options = HistoryOptions::default();
        if let Some(v) = bind.get_named_parameter("snapshot") {
            options.snapshot = in_function(F, params::snapshot(&v))?;
        }
        // Not `from`/`to`: FROM is reserved in SQL and would need quoting.
        if let Some(v) = bind.get_named_parameter("from_time") {
            options.from = in_function(F, params::time("from_time", &v))?;
        }
        if let Some(v) = bind.get_named_parameter("to_time") {
            options.to = in_function(F, params::time("to_time", &v))?;
        }
        let (table, schema) = open(F, bind, options.snapshot)?;
        if let Some(v) = bind.get_named_parameter("keys") {
            options.key_predicate = in_function(F, params::keys(&v, schema.key_type, &schema.key))?;
        }
        let values: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
        add_columns(bind, &history_schema(&schema, &values))?;
        Ok(Bind { table, options })
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, BoxError> {
        start("bazof_history", init, |table, options| async move {
            table.history(options).await
        })
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
        const F: &str = "bazof_diff";
        let mut points = [Point::default(), Point::default()];
        for (point, side) in points.iter_mut().zip(["from", "to"]) {
            let as_of = format!("{side}_as_of");
            if let Some(v) = bind.get_named_parameter(&as_of) {
                point.as_of = in_function(F, params::time(&as_of, &v))?;
            }
            let snapshot = format!("{side}_snapshot");
            if let Some(v) = bind.get_named_parameter(&snapshot) {
                point.snapshot = in_function(F, params::commit(&snapshot, &v))?;
            }
        }
        let [from, to] = points;
        let mut options = DiffOptions::new(from, to);
        let (table, schema) = open(F, bind, to.snapshot)?;
        if let Some(v) = bind.get_named_parameter("keys") {
            options.key_predicate = in_function(F, params::keys(&v, schema.key_type, &schema.key))?;
        }
        let out = block_on(table.diff_output_schema(&options)).map_err(|e| format!("{F}: {e}"))?;
        add_columns(bind, &out)?;
        Ok(Bind { table, options })
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, BoxError> {
        start("bazof_diff", init, |table, options| async move {
            table.diff(options).await
        })
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
