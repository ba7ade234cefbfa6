//! `bazof_scan(path [, as_of] [, as_of => …, snapshot => N, keys => [...]])`.

use arrow::datatypes::Field;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use bazof::{KeyPredicate, KeyType, ScanOptions, Table};

use crate::emit::Emitter;
use crate::params::{self, in_function, ArgValue};
use crate::types::{logical_type, vector_size};
use bazof::blocking::block_on;

/// What `bind` learned: the table, its columns and the scan's time-travel options.
pub struct ScanBind {
    table: Table,
    /// The table's columns, in order (the function's result columns).
    pub(crate) fields: Vec<Field>,
    key: String,
    /// The key column's type (what SQL key predicates must compare with).
    pub(crate) key_type: KeyType,
    options: ScanOptions,
    /// Events in the snapshot: an upper bound of the rows (for DuckDB's planner).
    pub(crate) total_rows: Option<u64>,
}

impl ScanBind {
    /// The position of the key column among the result columns.
    pub(crate) fn key_index(&self) -> Option<usize> {
        self.fields.iter().position(|f| f.name() == &self.key)
    }
}

type BoxError = Box<dyn std::error::Error>;

/// Opens the table a scan names and reads its arguments (either C API's values).
/// Metadata only (the version hint and one snapshot file): bind runs twice per query.
pub(crate) fn bind_args<V: ArgValue>(
    path: &V,
    as_of: Option<&V>,
    snapshot: Option<&V>,
    keys: Option<&V>,
) -> Result<ScanBind, BoxError> {
    let path = in_function("bazof_scan", params::path(path))?;
    let mut options = ScanOptions::default();
    if let Some(v) = as_of {
        options.as_of = in_function("bazof_scan", params::as_of(v))?;
    }
    if let Some(v) = snapshot {
        options.snapshot = in_function("bazof_scan", params::snapshot(v))?;
    }
    let snapshot = options.snapshot;
    let (table, snap) = block_on(Table::open_snapshot(&path, snapshot))?;
    // The scan reads the snapshot whose columns bind declares, even if a commit lands
    // before it starts (and reads it from memory).
    options.snapshot = Some(snap.commit());
    let schema = snap.schema().clone();
    if let Some(v) = keys {
        options.key_predicate =
            in_function("bazof_scan", params::keys(v, schema.key_type, &schema.key))?;
    }
    let mut fields = Vec::new();
    for name in schema.column_names() {
        let field = schema
            .arrow_field(name)
            .ok_or_else(|| format!("bazof_scan: internal: no field '{name}'"))?;
        fields.push(field);
    }
    Ok(ScanBind {
        table,
        fields,
        key: schema.key.clone(),
        key_type: schema.key_type,
        options,
        total_rows: snap.total_rows(),
    })
}

fn bind_scan(bind: &BindInfo) -> Result<ScanBind, BoxError> {
    let path = bind.get_parameter(0);
    let positional = if bind.get_parameter_count() > 1 {
        Some(bind.get_parameter(1))
    } else {
        None
    };
    let named = bind.get_named_parameter("as_of");
    if positional.is_some() && named.is_some() {
        return Err("bazof_scan: as_of is given twice (positionally and as as_of => …)".into());
    }
    let snapshot = bind.get_named_parameter("snapshot");
    let keys = bind.get_named_parameter("keys");
    let scan = bind_args(
        &path,
        positional.as_ref().or(named.as_ref()),
        snapshot.as_ref(),
        keys.as_ref(),
    )?;
    for field in &scan.fields {
        bind.add_result_column(field.name(), logical_type(field.data_type())?);
    }
    if let Some(rows) = scan.total_rows {
        // An upper bound (events, not keys) that helps DuckDB's join planning.
        bind.set_cardinality(rows, false);
    }
    Ok(scan)
}

/// Starts the scan `bind` describes for the result columns `indices` (DuckDB's
/// projection; none for `count(*)`), restricted further by `pushed`, key predicates
/// taken from the query's `WHERE` (pruning only: DuckDB still applies its filters).
/// Returns the output and the plan's one-line summary (what was pruned).
pub(crate) fn start_scan(
    bind: &ScanBind,
    indices: &[u64],
    pushed: Option<KeyPredicate>,
) -> Result<(Emitter, String), BoxError> {
    let mut columns = Vec::new();
    for &idx in indices {
        let field = usize::try_from(idx)
            .ok()
            .and_then(|i| bind.fields.get(i))
            .ok_or_else(|| {
                format!(
                    "bazof_scan: DuckDB asked for column {idx}, the table has {}",
                    bind.fields.len()
                )
            })?;
        columns.push(field.name().clone());
    }
    let no_columns = columns.is_empty();
    if no_columns {
        columns.push(bind.key.clone());
    }
    let vector_size = vector_size();
    // The core merges in larger batches (fewer flushes and runtime hand-overs); the
    // emitter slices each into DuckDB vectors.
    let mut options = bind
        .options
        .clone()
        .with_columns(columns)
        .with_batch_size(bazof::DEFAULT_BATCH_SIZE.max(vector_size));
    options.key_predicate = KeyPredicate::both(options.key_predicate.take(), pushed);
    let table = bind.table.clone();
    let stream = block_on(async move { table.scan(options).await })?;
    let summary = stream.plan().summary();
    // The scan's key ranges are DuckDB's work units: as many threads as ranges. Where
    // the output order matters DuckDB keeps one thread for the v1 function, reading
    // them in key order; the v2 one reports each range's position instead.
    Ok((Emitter::new(stream.into_parts(), no_columns), summary))
}

fn init_scan(init: &InitInfo) -> Result<Emitter, BoxError> {
    // SAFETY: DuckDB hands init the bind data that `bind` stored for this query;
    // it lives until the query ends.
    let bind = unsafe { init.get_bind_data::<ScanBind>().as_ref() }
        .ok_or("bazof_scan: missing bind data")?;
    let (emitter, _) = start_scan(bind, &init.get_column_indices(), None)?;
    init.set_max_threads(emitter.parallelism());
    Ok(emitter)
}

/// `bazof_scan` (`AT = false`: `as_of` is a named parameter) and `bazof_scan_at`
/// (`AT = true`: `as_of` is the second positional one): one table function body.
pub struct ScanFunction<const AT: bool>;

/// The `bazof_scan` table function.
pub type BazofScan = ScanFunction<false>;

/// `bazof_scan_at(path, as_of [, snapshot => N, keys => [...]])`: the scan with a
/// positional `as_of` (NULL: current); `bazof_scan(path, as_of)` expands to it.
pub type BazofScanAt = ScanFunction<true>;

impl<const AT: bool> VTab for ScanFunction<AT> {
    type BindData = ScanBind;
    type InitData = Emitter;

    fn bind(bind: &BindInfo) -> Result<Self::BindData, BoxError> {
        bind_scan(bind)
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, BoxError> {
        init_scan(init)
    }

    fn func(func: &TableFunctionInfo<Self>, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        func.get_init_data().next_chunk(output)
    }

    fn supports_pushdown() -> bool {
        true
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        let mut params = vec![LogicalTypeHandle::from(LogicalTypeId::Varchar)];
        if AT {
            params.push(LogicalTypeHandle::from(LogicalTypeId::Any));
        }
        Some(params)
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        let names: &[&str] = if AT {
            &["snapshot", "keys"]
        } else {
            &["as_of", "snapshot", "keys"]
        };
        Some(
            names
                .iter()
                .map(|n| (n.to_string(), LogicalTypeHandle::from(LogicalTypeId::Any)))
                .collect(),
        )
    }
}
