//! bazof's table functions on C API v2: what each one's arguments mean and which
//! streams answer them; `table` does the rest. The argument readers and the core
//! calls are the v1 functions' own (`crate::scan`, `crate::bitemporal`, `crate::log`).

use arrow::datatypes::{DataType, Field, SchemaRef};
use futures::StreamExt;

use bazof::{DiffOptions, HistoryOptions, KeyPredicate, KeyType};

use super::ffi::Handle;
use super::ffi::{PARAM_NAMED_ONLY, PARAM_STANDARD};
use super::table::{register, Source};
use super::value::Value;
use crate::bitemporal::{bind_diff, bind_history, start_diff, start_history_columns, Bind};
use crate::emit::{Batches, Emitter};
use crate::log::{log_path, log_schema, read_log};
use crate::scan::{bind_args, start_scan, ScanBind};

/// Registers every table function in the database being loaded.
pub(super) fn register_all(extension: Handle, context: Handle) -> Result<(), String> {
    register::<Scan>("bazof_scan", extension, context)?;
    // The v1 name of the positional form, kept so that queries written for it run.
    register::<Scan>("bazof_scan_at", extension, context)?;
    register::<History>("bazof_history", extension, context)?;
    register::<Diff>("bazof_diff", extension, context)?;
    register::<Log>("bazof_log", extension, context)
}

/// The arguments after the path, in `PARAMS` order.
fn rest<const N: usize>(args: &[Value]) -> Result<(&Value, [&Value; N]), String> {
    let (path, rest) = args.split_first().ok_or("bazof: no table path")?;
    let rest: &[Value; N] = rest
        .try_into()
        .map_err(|_| format!("bazof: {} arguments, expected {}", args.len(), N + 1))?;
    Ok((path, rest.each_ref()))
}

fn fields_of(schema: &SchemaRef) -> Vec<Field> {
    schema.fields().iter().map(|f| f.as_ref().clone()).collect()
}

/// `bazof_scan(path [, as_of] [, snapshot => N, keys => [...]])`.
struct Scan(ScanBind);

impl Source for Scan {
    const PARAMS: &'static [(&'static str, u32)] = &[
        ("as_of", PARAM_STANDARD),
        ("snapshot", PARAM_NAMED_ONLY),
        ("keys", PARAM_NAMED_ONLY),
    ];
    const PUSHDOWN: bool = true;

    fn bind(args: &[Value]) -> Result<Self, String> {
        let (path, [as_of, snapshot, keys]) = rest(args)?;
        bind_args(path, Some(as_of), Some(snapshot), Some(keys))
            .map(Scan)
            .map_err(|e| e.to_string())
    }

    fn fields(&self) -> Vec<Field> {
        self.0.fields.clone()
    }

    fn cardinality(&self) -> Option<u64> {
        // An upper bound (events, not keys) that helps DuckDB's join planning.
        self.0.total_rows
    }

    fn key(&self) -> Option<(usize, KeyType)> {
        Some((self.0.key_index()?, self.0.key_type))
    }

    fn start(
        &self,
        columns: &[u64],
        pushed: Option<KeyPredicate>,
    ) -> Result<(Emitter, Option<String>), String> {
        let (emitter, summary) = start_scan(&self.0, columns, pushed).map_err(|e| e.to_string())?;
        Ok((emitter, Some(format!("bazof_scan: {summary}"))))
    }
}

/// `bazof_history(path [, snapshot => N, from_time => T, to_time => T, keys => [...]])`:
/// DuckDB passes the columns the query needs (the value columns it does not need are
/// not read) and the `WHERE` conjuncts on the key, which prune as `keys =>` does.
struct History(Bind<HistoryOptions>, SchemaRef);

impl Source for History {
    const PARAMS: &'static [(&'static str, u32)] = &[
        ("snapshot", PARAM_NAMED_ONLY),
        ("from_time", PARAM_NAMED_ONLY),
        ("to_time", PARAM_NAMED_ONLY),
        ("keys", PARAM_NAMED_ONLY),
    ];
    const PUSHDOWN: bool = true;

    fn bind(args: &[Value]) -> Result<Self, String> {
        let (path, [snapshot, from, to, keys]) = rest(args)?;
        bind_history(path, Some(snapshot), Some(from), Some(to), Some(keys))
            .map(|(bind, schema)| History(bind, schema))
            .map_err(|e| e.to_string())
    }

    fn fields(&self) -> Vec<Field> {
        fields_of(&self.1)
    }

    fn key(&self) -> Option<(usize, KeyType)> {
        let key_type = match self.1.field(0).data_type() {
            DataType::Int64 => KeyType::Int,
            _ => KeyType::String,
        };
        Some((0, key_type))
    }

    fn start(
        &self,
        columns: &[u64],
        pushed: Option<KeyPredicate>,
    ) -> Result<(Emitter, Option<String>), String> {
        let emitter =
            start_history_columns(&self.0, &self.1, columns, pushed).map_err(|e| e.to_string())?;
        Ok((emitter, None))
    }
}

/// `bazof_diff(path [, from_as_of => T, from_snapshot => N, to_as_of => T,
/// to_snapshot => N, keys => [...]])`: all its columns, no pushdown.
struct Diff(Bind<DiffOptions>, SchemaRef);

impl Source for Diff {
    const PARAMS: &'static [(&'static str, u32)] = &[
        ("from_as_of", PARAM_NAMED_ONLY),
        ("from_snapshot", PARAM_NAMED_ONLY),
        ("to_as_of", PARAM_NAMED_ONLY),
        ("to_snapshot", PARAM_NAMED_ONLY),
        ("keys", PARAM_NAMED_ONLY),
    ];
    const PUSHDOWN: bool = false;

    fn bind(args: &[Value]) -> Result<Self, String> {
        let (path, [a, b, c, d, keys]) = rest(args)?;
        bind_diff(path, [[Some(a), Some(b)], [Some(c), Some(d)]], Some(keys))
            .map(|(bind, schema)| Diff(bind, schema))
            .map_err(|e| e.to_string())
    }

    fn fields(&self) -> Vec<Field> {
        fields_of(&self.1)
    }

    fn start(
        &self,
        _: &[u64],
        _: Option<KeyPredicate>,
    ) -> Result<(Emitter, Option<String>), String> {
        Ok((start_diff(&self.0).map_err(|e| e.to_string())?, None))
    }
}

/// `bazof_log(path)`.
struct Log(String);

impl Source for Log {
    const PARAMS: &'static [(&'static str, u32)] = &[];
    const PUSHDOWN: bool = false;

    fn bind(args: &[Value]) -> Result<Self, String> {
        let (path, []) = rest(args)?;
        log_path(path).map(Log).map_err(|e| e.to_string())
    }

    fn fields(&self) -> Vec<Field> {
        fields_of(&log_schema())
    }

    fn start(
        &self,
        _: &[u64],
        _: Option<KeyPredicate>,
    ) -> Result<(Emitter, Option<String>), String> {
        let batch = read_log(&self.0).map_err(|e| e.to_string())?;
        let stream: Batches = futures::stream::once(async move { Ok(batch) }).boxed();
        Ok((Emitter::new([stream], false), None))
    }
}
