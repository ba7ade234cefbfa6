//! A C API v2 table function over the core's batch streams: the callbacks every
//! bazof function shares (arguments, result columns, threads, key order, chunks),
//! parameterised by a [`Source`] that says what the arguments mean and which streams
//! answer them.
//!
//! Each thread claims a whole stream, a key range (`claim_batch`), and tells DuckDB
//! the range's position (`partition_data`, the batch index). So the ranges run on
//! all threads even where DuckDB keeps insertion order (`CREATE TABLE … AS`,
//! `INSERT`, `COPY`): it puts the ranges' rows back in key order.
//!
//! A source with a key column also sees the `WHERE` conjuncts on it (`filter`), read
//! as key predicates. They only prune: none is accepted, so DuckDB applies every
//! filter to the resolved rows.

use std::os::raw::c_void;
use std::ptr;
use std::sync::Mutex;

use arrow::array::{Array, StructArray};
use arrow::datatypes::{DataType, Field};
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use duckdb::core::LogicalTypeId;

use bazof::{KeyPredicate, KeyType};

use super::ffi::{self, ErrSlot, Handle, Str};
use super::filter::{key_predicate, Expr, KeyColumn};
use super::value::Value;
use super::{call, factory, guard, opaque, LogicalType};
use crate::emit::{Claimed, Emitter};
use crate::types::type_id;

/// What one table function does with its arguments.
pub(super) trait Source: Sized + Send + Sync + 'static {
    /// The parameters after the table path (VARCHAR, positional): name and kind
    /// (`ffi::PARAM_*`); each is ANY with a NULL default, and `bind` receives them in
    /// this order.
    const PARAMS: &'static [(&'static str, u32)];
    /// Whether DuckDB passes the columns the query needs (else all of them) and the
    /// `WHERE` conjuncts on the key column ([`Source::key`]).
    const PUSHDOWN: bool;

    /// Reads the arguments (the path first) and opens what they name. Metadata only:
    /// DuckDB may bind a query more than once.
    fn bind(args: &[Value]) -> Result<Self, String>;
    /// The result columns.
    fn fields(&self) -> Vec<Field>;
    /// An upper bound of the rows, for DuckDB's planner.
    fn cardinality(&self) -> Option<u64> {
        None
    }
    /// The key column's position among the result columns and the key's type: `WHERE`
    /// predicates on it are read as key predicates. `None`: nothing is pushed.
    fn key(&self) -> Option<(usize, KeyType)> {
        None
    }
    /// Starts the output for the result columns `columns` (all, unless
    /// [`Source::PUSHDOWN`]) and the key predicate read from `WHERE`. Returns the
    /// streams, and a line for DuckDB's log (type `bazof`) if there is one.
    fn start(
        &self,
        columns: &[u64],
        pushed: Option<KeyPredicate>,
    ) -> Result<(Emitter, Option<String>), String>;
}

/// The bind data: the source, and the key predicates read from `WHERE`.
struct Bind<S> {
    source: S,
    pushed: Mutex<Vec<KeyPredicate>>,
}

/// A thread's state: the range it emits and the Arrow importer that turns its slices
/// into DuckDB chunks.
struct Local {
    importer: Handle,
    claimed: Option<Claimed>,
    /// The batch index last reported (a thread's must never decrease).
    ordinal: u64,
}

impl Drop for Local {
    fn drop(&mut self) {
        // SAFETY: the importer (or NULL) belongs to this state and is destroyed once.
        unsafe { ffi::duckdb_v2_arrow_importer_destroy(&mut self.importer) };
    }
}

/// Registers the table function `name` of source `S` in the database being loaded
/// (`extension`, `context`: the entry point's).
pub(super) fn register<S: Source>(
    name: &str,
    extension: Handle,
    context: Handle,
) -> Result<(), String> {
    let factory = factory(context)?;
    let mut f: Handle = ptr::null_mut();
    // SAFETY: `factory` is the loading context's; `f` receives a function we own and
    // destroy below (registration copies it).
    call(|e| unsafe { ffi::duckdb_v2_table_function_create(factory, &mut f, e) })?;
    let r = configure::<S>(name, factory, f).and_then(|()| {
        // SAFETY: `extension` is live during the entry point; `f` is configured.
        call(|e| unsafe { ffi::duckdb_v2_extension_register_table_function(extension, f, e) })
    });
    // SAFETY: `f` is ours; the registered copy is the engine's.
    unsafe { ffi::duckdb_v2_table_function_destroy(&mut f) };
    r
}

fn configure<S: Source>(name: &str, factory: Handle, f: Handle) -> Result<(), String> {
    // SAFETY (every call below): `f` is the live function being configured, `factory`
    // the loading context's; names and types are borrowed and copied by the engine.
    call(|e| unsafe { ffi::duckdb_v2_table_function_set_name(f, &Str::of(name), e) })?;
    let mut sig: Handle = ptr::null_mut();
    call(|e| unsafe { ffi::duckdb_v2_table_function_get_signature(f, &mut sig, e) })?;
    let varchar = LogicalType::new(factory, ffi::TYPE_VARCHAR)?;
    let any = LogicalType::new(factory, ffi::TYPE_ANY)?;
    let mut null: Handle = ptr::null_mut();
    call(|e| unsafe { ffi::duckdb_v2_value_create_null(factory, varchar.0, &mut null, e) })?;
    let null = Value::owned(null).ok_or_else(|| format!("{name}: no NULL value"))?;
    call(|e| unsafe {
        ffi::duckdb_v2_function_signature_add_parameter(
            sig,
            &Str::of("path"),
            varchar.0,
            ptr::null_mut(),
            ffi::PARAM_STANDARD,
            e,
        )
    })?;
    for &(param, kind) in S::PARAMS {
        call(|e| unsafe {
            ffi::duckdb_v2_function_signature_add_parameter(
                sig,
                &Str::of(param),
                any.0,
                null.0,
                kind,
                e,
            )
        })?;
    }
    call(|e| unsafe { ffi::duckdb_v2_table_function_set_bind_callback(f, Some(bind::<S>), e) })?;
    call(|e| unsafe {
        ffi::duckdb_v2_table_function_set_init_global_callback(f, Some(init_global::<S>), e)
    })?;
    call(|e| unsafe {
        ffi::duckdb_v2_table_function_set_init_local_callback(f, Some(init_local), e)
    })?;
    call(|e| unsafe { ffi::duckdb_v2_table_function_set_exec_callback(f, Some(exec), e) })?;
    call(|e| unsafe { ffi::duckdb_v2_table_function_set_projection_pushdown(f, S::PUSHDOWN, e) })?;
    call(|e| unsafe {
        ffi::duckdb_v2_table_function_set_claim_batch_callback(f, Some(claim_batch), e)
    })?;
    call(|e| unsafe {
        ffi::duckdb_v2_table_function_set_partition_data_callback(f, Some(partition_data), e)
    })?;
    if !S::PUSHDOWN {
        return Ok(());
    }
    call(|e| unsafe {
        ffi::duckdb_v2_table_function_set_filter_pushdown_callback(f, Some(filter::<S>), e)
    })
}

/// DuckDB's v2 type id of a bazof column.
fn v2_type(t: &DataType) -> Result<u32, String> {
    Ok(match type_id(t).map_err(|e| e.to_string())? {
        LogicalTypeId::Varchar => ffi::TYPE_VARCHAR,
        LogicalTypeId::Bigint => ffi::TYPE_BIGINT,
        LogicalTypeId::Double => ffi::TYPE_DOUBLE,
        LogicalTypeId::Boolean => ffi::TYPE_BOOLEAN,
        LogicalTypeId::TimestampTZ => ffi::TYPE_TIMESTAMP_TZ,
        LogicalTypeId::Timestamp => ffi::TYPE_TIMESTAMP,
        LogicalTypeId::Date => ffi::TYPE_DATE,
        other => return Err(format!("bazof: no DuckDB type for {other:?}")),
    })
}

unsafe extern "C" fn bind<S: Source>(info: Handle, result: Handle, context: Handle, err: ErrSlot) {
    guard(err, || {
        let args = (0..=S::PARAMS.len() as u64)
            .map(|i| {
                let mut v: Handle = ptr::null_mut();
                // SAFETY: `info` is the bind info of this call; `i` is below the
                // signature's parameter count (an omitted one holds its default);
                // `v` receives an owned value.
                call(|e| unsafe {
                    ffi::duckdb_v2_function_bind_get_arg_value(info, i, &mut v, e)
                })?;
                Value::owned(v).ok_or_else(|| format!("bazof: argument {i} is missing"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let source = S::bind(&args)?;
        let factory = factory(context)?;
        for field in source.fields() {
            let t = LogicalType::new(factory, v2_type(field.data_type())?)?;
            // SAFETY: `result` is this call's table bind info; name and type are copied.
            call(|e| unsafe {
                ffi::duckdb_v2_table_function_bind_add_result_column(
                    result,
                    &Str::of(field.name()),
                    t.0,
                    e,
                )
            })?;
        }
        if let Some(rows) = source.cardinality() {
            // SAFETY: as above.
            call(|e| unsafe {
                ffi::duckdb_v2_table_function_bind_set_cardinality(result, rows, false, e)
            })?;
        }
        let mut data = opaque(Bind {
            source,
            pushed: Mutex::new(Vec::new()),
        });
        // SAFETY: the engine takes the bind data and destroys it with the query.
        call(|e| unsafe { ffi::duckdb_v2_function_bind_set_bind_data(info, &mut data, e) })
    })
}

/// Reads the data pointer a `*_get_*` accessor hands out, as a `&T`.
///
/// # Safety
/// `get` must return a pointer this module stored as a `T` (through [`opaque`]),
/// which the engine keeps alive for the callback's duration.
pub(super) unsafe fn state<'a, T>(
    get: impl FnOnce(*mut *mut c_void, ErrSlot) -> ffi::Status,
) -> Result<&'a T, String> {
    let mut p: *mut c_void = ptr::null_mut();
    call(|e| get(&mut p, e))?;
    // SAFETY: guaranteed by the caller.
    unsafe { p.cast::<T>().as_ref() }.ok_or_else(|| "bazof: missing state".to_string())
}

unsafe extern "C" fn filter<S: Source>(info: Handle, _context: Handle, err: ErrSlot) {
    // Never fails the query: a filter that cannot be read is left to DuckDB alone.
    guard(err, || {
        // SAFETY: the bind data is the `Bind<S>` stored by `bind`, alive while the
        // query is planned.
        let Ok(bind) = (unsafe {
            state::<Bind<S>>(|p, e| {
                ffi::duckdb_v2_table_function_filter_pushdown_get_bind_data(info, p, e)
            })
        }) else {
            return Ok(());
        };
        let Some((index, key_type)) = bind.source.key() else {
            return Ok(());
        };
        let declared = |i: u64| {
            let mut d: ffi::idx_t = 0;
            // SAFETY: `info` is this call's; an index out of range is an error result.
            call(|e| unsafe {
                ffi::duckdb_v2_table_function_filter_pushdown_get_column_index(info, i, &mut d, e)
            })
            .ok()
            .map(|()| d)
        };
        let key = KeyColumn {
            index: index as u64,
            key_type,
            declared: &declared,
        };
        let mut n: ffi::idx_t = 0;
        // SAFETY: as above.
        if call(|e| unsafe {
            ffi::duckdb_v2_table_function_filter_pushdown_get_filter_count(info, &mut n, e)
        })
        .is_err()
        {
            return Ok(());
        }
        let mut found = Vec::new();
        for i in 0..n {
            let mut f: Handle = ptr::null_mut();
            // SAFETY: `i` is below the filter count; the filter is borrowed for the call.
            if call(|e| unsafe {
                ffi::duckdb_v2_table_function_filter_pushdown_get_filter(info, i, &mut f, e)
            })
            .is_ok()
                && !f.is_null()
            {
                found.extend(key_predicate(Expr(f), &key));
            }
        }
        // The callback may run more than once, offering the same filters again.
        if let Ok(mut pushed) = bind.pushed.lock() {
            for p in found {
                if !pushed.contains(&p) {
                    pushed.push(p);
                }
            }
        }
        Ok(())
    })
}

unsafe extern "C" fn init_global<S: Source>(info: Handle, context: Handle, err: ErrSlot) {
    guard(err, || {
        // SAFETY: the bind data is the `Bind<S>` stored by `bind`, alive for the query.
        let bind: &Bind<S> = unsafe {
            state(|p, e| ffi::duckdb_v2_table_function_init_global_get_bind_data(info, p, e))
        }?;
        let mut n: ffi::idx_t = 0;
        // SAFETY: `info` is this call's.
        call(|e| unsafe {
            ffi::duckdb_v2_table_function_init_global_get_column_count(info, &mut n, e)
        })?;
        let indices = (0..n)
            .map(|i| {
                let mut c: ffi::idx_t = 0;
                // SAFETY: `i` is below the column count.
                call(|e| unsafe {
                    ffi::duckdb_v2_table_function_init_global_get_column_index(info, i, &mut c, e)
                })
                .map(|()| c)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pushed = bind
            .pushed
            .lock()
            .map_err(|_| "bazof: pushed filters poisoned")?
            .clone();
        let pushed = match pushed.len() {
            0 => None,
            1 => pushed.into_iter().next(),
            _ => Some(KeyPredicate::And(pushed)),
        };
        let (emitter, message) = bind.source.start(&indices, pushed)?;
        if let Some(message) = message {
            // SAFETY: `context` is this query's; type and message are borrowed for
            // the call. Logging is best effort: a failure leaves the query alone.
            let _ = call(|e| unsafe {
                ffi::duckdb_v2_context_log(
                    context,
                    ffi::LOG_INFO,
                    &Str::of("bazof"),
                    &Str::of(&message),
                    e,
                )
            });
        }
        let threads = emitter.parallelism();
        // SAFETY: `info` is this call's; the engine takes and later destroys the state.
        call(|e| unsafe {
            ffi::duckdb_v2_table_function_init_global_set_max_threads(info, threads, e)
        })?;
        let mut state = opaque(emitter);
        call(|e| unsafe {
            ffi::duckdb_v2_table_function_init_global_set_global_state(info, &mut state, e)
        })
    })
}

unsafe extern "C" fn init_local(info: Handle, _context: Handle, err: ErrSlot) {
    guard(err, || {
        let mut state = opaque(Local {
            importer: ptr::null_mut(),
            claimed: None,
            ordinal: 0,
        });
        // SAFETY: `info` is this call's; the engine takes and later destroys the state.
        call(|e| unsafe {
            ffi::duckdb_v2_table_function_init_local_set_local_state(info, &mut state, e)
        })
    })
}

/// The calling thread's `Local`.
///
/// # Safety
/// `get` must return the pointer `init_local` stored for the calling thread; the engine
/// calls one callback at a time per thread, so no other reference to it exists.
unsafe fn local<'a>(
    get: impl FnOnce(*mut *mut c_void, ErrSlot) -> ffi::Status,
) -> Result<&'a mut Local, String> {
    let mut p: *mut c_void = ptr::null_mut();
    call(|e| get(&mut p, e))?;
    // SAFETY: guaranteed by the caller.
    unsafe { p.cast::<Local>().as_mut() }.ok_or_else(|| "bazof: missing local state".into())
}

/// Claims the next key range, in key order, for the calling thread; none left ends
/// its scan.
unsafe extern "C" fn claim_batch(info: Handle, _context: Handle, err: ErrSlot) {
    guard(err, || {
        // SAFETY: the global state is the `Emitter` stored by `init_global`.
        let emitter: &Emitter = unsafe {
            state(|p, e| ffi::duckdb_v2_table_function_claim_batch_get_global_state(info, p, e))
        }?;
        // SAFETY: this thread's state, set by `init_local`.
        let local = unsafe {
            local(|p, e| ffi::duckdb_v2_table_function_claim_batch_get_local_state(info, p, e))
        }?;
        local.claimed = emitter.claim().map_err(|e| e.to_string())?;
        if let Some(c) = &local.claimed {
            local.ordinal = c.ordinal();
        }
        let claimed = local.claimed.is_some();
        // SAFETY: `info` is this call's.
        call(|e| unsafe { ffi::duckdb_v2_table_function_claim_batch_set_claimed(info, claimed, e) })
    })
}

/// Reports the batch index of the chunk `exec` just produced: its range's position.
unsafe extern "C" fn partition_data(info: Handle, _context: Handle, err: ErrSlot) {
    guard(err, || {
        // SAFETY: this thread's state, set by `init_local`.
        let local = unsafe {
            local(|p, e| ffi::duckdb_v2_table_function_partition_data_get_local_state(info, p, e))
        }?;
        let index = local.ordinal;
        // SAFETY: `info` is this call's.
        call(|e| unsafe {
            ffi::duckdb_v2_table_function_partition_data_set_batch_index(info, index, e)
        })
    })
}

unsafe extern "C" fn exec(info: Handle, context: Handle, err: ErrSlot) {
    guard(err, || {
        // SAFETY: the global state is the `Emitter` stored by `init_global`.
        let emitter: &Emitter = unsafe {
            state(|p, e| ffi::duckdb_v2_table_function_exec_get_global_state(info, p, e))
        }?;
        // SAFETY: this thread's state, set by `init_local`.
        let local = unsafe {
            local(|p, e| ffi::duckdb_v2_table_function_exec_get_local_state(info, p, e))
        }?;
        let mut out: Handle = ptr::null_mut();
        // SAFETY: the output chunk is borrowed for this call.
        call(|e| unsafe {
            ffi::duckdb_v2_table_function_exec_get_output_chunk(info, &mut out, e)
        })?;
        let vector = |chunk: Handle, i: u64| -> Result<Handle, String> {
            let mut v: Handle = ptr::null_mut();
            // SAFETY: `chunk` is live; `i` is one of its columns.
            call(|e| unsafe { ffi::duckdb_v2_data_chunk_get_vector(chunk, i, &mut v, e) })?;
            Ok(v)
        };
        let slice = match local.claimed.as_mut() {
            Some(range) => emitter.next_claimed(range).map_err(|e| e.to_string())?,
            None => None,
        };
        let Some(slice) = slice else {
            // An empty chunk ends the claimed range; DuckDB then claims the next one.
            local.claimed = None;
            let v = vector(out, 0)?;
            // SAFETY: `v` is the output's first vector.
            return call(|e| unsafe { ffi::duckdb_v2_vector_set_size(v, 0, e) });
        };
        if local.importer.is_null() {
            let mut schema =
                FFI_ArrowSchema::try_from(&DataType::Struct(slice.schema().fields().clone()))
                    .map_err(|e| e.to_string())?;
            let mut imp: Handle = ptr::null_mut();
            // SAFETY: `context` is this query's; the schema is read, not consumed, and
            // outlives the call; the importer is owned by `local` from here on.
            call(|e| unsafe {
                ffi::duckdb_v2_arrow_importer_create(
                    context,
                    (&mut schema as *mut FFI_ArrowSchema).cast(),
                    0,
                    &mut imp,
                    e,
                )
            })?;
            local.importer = imp;
        }
        let rows = slice.num_rows() as u64;
        let columns = slice.num_columns() as u64;
        let mut array = FFI_ArrowArray::new(&StructArray::from(slice).to_data());
        // SAFETY: the array is a valid C Data Interface struct array of the importer's
        // schema; with `consume` the importer takes it over (sets `release` to NULL),
        // so dropping `array` afterwards frees nothing twice.
        call(|e| unsafe {
            ffi::duckdb_v2_arrow_importer_append(
                local.importer,
                (&mut array as *mut FFI_ArrowArray).cast(),
                true,
                true,
                e,
            )
        })?;
        let mut chunk: Handle = ptr::null_mut();
        // SAFETY: the importer holds one array of at most a vector's rows: one chunk.
        call(|e| unsafe {
            ffi::duckdb_v2_arrow_importer_next_chunk(local.importer, &mut chunk, e)
        })?;
        let r = (|| {
            for i in 0..columns {
                let (to, from) = (vector(out, i)?, vector(chunk, i)?);
                // SAFETY: both vectors are live and of the same type (the importer's
                // types are the declared ones); the output shares the chunk's buffers.
                call(|e| unsafe { ffi::duckdb_v2_vector_reference(to, from, e) })?;
            }
            let v = vector(out, 0)?;
            // SAFETY: `v` is the output's first vector, whose size is the row count.
            call(|e| unsafe { ffi::duckdb_v2_vector_set_size(v, rows, e) })
        })();
        // SAFETY: the imported chunk is ours; the output keeps its buffers alive.
        unsafe { ffi::duckdb_v2_data_chunk_destroy(&mut chunk) };
        r
    })
}
