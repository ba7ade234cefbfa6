//! `COPY (SELECT …) TO 'location' (FORMAT bazof, KEY 'col', EVENT_TIME 'col',
//! DELETED 'col', EVOLVE)`: the rows of a query as one atomic bazof commit, through
//! C API v2's copy functions (v1's have no column names, which a commit matches by).
//!
//! `bind` reads the columns and options; `init` starts the commit (the core checks
//! the columns against the table, before anything is written); `batch` (on any of
//! DuckDB's threads) turns a batch of rows into Arrow; `flush` (one at a time) hands
//! it to the core's bounded sorted runs; `finalize` commits. A statement that fails
//! never reaches `finalize`: dropping the commit deletes the files it wrote, and the
//! table is unchanged.

use std::ptr;
use std::sync::Mutex;

use arrow::array::{RecordBatch, StructArray};
use arrow::datatypes::Schema;
use arrow::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};

use bazof::blocking::block_on;
use bazof::{CommitWriter, Table, WriteOptions};

use super::ffi::{self, ErrSlot, Handle, Str};
use super::table::state;
use super::value::Value;
use super::{call, factory, guard, opaque, str_of};
use crate::params::ArgValue;

const F: &str = "COPY … TO (FORMAT bazof)";

/// Rows per batch handed to `batch`: fewer, larger Arrow conversions.
const BATCH_ROWS: u64 = 122_880;

/// What `bind` read: the table, the write options and the copied columns.
struct Bind {
    location: String,
    options: WriteOptions,
    names: Vec<String>,
    /// The columns' DuckDB types, owned (destroyed on drop).
    types: Vec<Handle>,
}

// SAFETY: the type handles are immutable after `bind` and only read (DuckDB's logical
// types may be read from any thread); they are destroyed once, with the bind data.
unsafe impl Send for Bind {}
// SAFETY: as above.
unsafe impl Sync for Bind {}

impl Drop for Bind {
    fn drop(&mut self) {
        for t in &mut self.types {
            // SAFETY: each type is owned by this bind data and destroyed once.
            unsafe { ffi::duckdb_v2_logical_type_destroy(t) };
        }
    }
}

/// The commit being written (one per statement).
struct Commit {
    writer: Mutex<Option<CommitWriter>>,
}

impl Drop for Commit {
    fn drop(&mut self) {
        // A statement that failed (or was interrupted) never finalized: abandon the
        // commit and delete its files, so that the table is unchanged.
        if let Ok(mut w) = self.writer.lock() {
            if let Some(w) = w.take() {
                let _ = block_on(w.abort());
            }
        }
    }
}

/// Registers `FORMAT bazof` in the database being loaded.
pub(super) fn register(extension: Handle, context: Handle) -> Result<(), String> {
    let factory = factory(context)?;
    let mut f: Handle = ptr::null_mut();
    // SAFETY: `factory` is the loading context's; `f` receives a function we own and
    // destroy below (registration copies it).
    call(|e| unsafe { ffi::duckdb_v2_copy_function_create(factory, &mut f, e) })?;
    // SAFETY (each call): `f` is the live function being configured; the name is
    // copied; the callbacks are plain functions.
    let r = (|| {
        call(|e| unsafe { ffi::duckdb_v2_copy_function_set_name(f, &Str::of("bazof"), e) })?;
        call(|e| unsafe { ffi::duckdb_v2_copy_to_set_bind_callback(f, Some(bind), e) })?;
        call(|e| unsafe {
            ffi::duckdb_v2_copy_to_set_batch_size_callback(f, Some(batch_size), e)
        })?;
        call(|e| unsafe { ffi::duckdb_v2_copy_to_set_init_callback(f, Some(init), e) })?;
        call(|e| unsafe { ffi::duckdb_v2_copy_to_set_batch_callback(f, Some(batch), e) })?;
        call(|e| unsafe { ffi::duckdb_v2_copy_to_set_flush_callback(f, Some(flush), e) })?;
        call(|e| unsafe { ffi::duckdb_v2_copy_to_set_finalize_callback(f, Some(finalize), e) })?;
        // SAFETY: `extension` is live during the entry point.
        call(|e| unsafe { ffi::duckdb_v2_extension_register_copy_function(extension, f, e) })
    })();
    // SAFETY: `f` is ours; the registered copy is the engine's.
    unsafe { ffi::duckdb_v2_copy_function_destroy(&mut f) };
    r
}

/// Reads a borrowed string an accessor fills.
fn text(get: impl FnOnce(*mut Str, ErrSlot) -> ffi::Status) -> Result<String, String> {
    let mut s = Str {
        ptr: ptr::null(),
        len: 0,
    };
    call(|e| get(&mut s, e))?;
    // SAFETY: on success `s` views bytes valid for the callback; copied at once.
    unsafe { str_of(s) }.ok_or_else(|| format!("{F}: unreadable text"))
}

/// The value of a text option (`KEY 'ts'`): its string, never NULL.
fn option_text(name: &str, v: &Value) -> Result<String, String> {
    if v.is_null() {
        return Err(format!("{F}: option {name} must not be NULL"));
    }
    v.varchar()
        .ok_or_else(|| format!("{F}: option {name} takes a column name, such as {name} 'col'"))
}

unsafe extern "C" fn bind(info: Handle, _context: Handle, err: ErrSlot) {
    guard(err, || {
        // SAFETY (each accessor): `info` is this call's bind info; indices are below
        // the counts it reports; values and types received are owned here.
        let location =
            text(|s, e| unsafe { ffi::duckdb_v2_copy_to_bind_get_file_path(info, s, e) })?;
        let mut n: ffi::idx_t = 0;
        call(|e| unsafe { ffi::duckdb_v2_copy_to_bind_get_column_count(info, &mut n, e) })?;
        let mut bound = Bind {
            location,
            options: WriteOptions::new("key", "event_time"),
            names: Vec::new(),
            types: Vec::new(),
        };
        for i in 0..n {
            bound.names.push(text(|s, e| unsafe {
                ffi::duckdb_v2_copy_to_bind_get_column_name(info, i, s, e)
            })?);
            let mut t: Handle = ptr::null_mut();
            call(|e| unsafe { ffi::duckdb_v2_copy_to_bind_get_column_type(info, i, &mut t, e) })?;
            bound.types.push(t);
        }
        let mut options: ffi::idx_t = 0;
        call(|e| unsafe { ffi::duckdb_v2_copy_to_bind_get_option_count(info, &mut options, e) })?;
        for i in 0..options {
            let name =
                text(|s, e| unsafe { ffi::duckdb_v2_copy_to_bind_get_option_name(info, i, s, e) })?
                    .to_ascii_lowercase();
            let mut v: Handle = ptr::null_mut();
            call(|e| unsafe { ffi::duckdb_v2_copy_to_bind_get_option_value(info, i, &mut v, e) })?;
            let v = Value::owned(v).ok_or_else(|| format!("{F}: option {name} has no value"))?;
            match name.as_str() {
                "key" => bound.options.key = option_text("KEY", &v)?,
                "event_time" => bound.options.event_time = option_text("EVENT_TIME", &v)?,
                "deleted" => bound.options.deleted = Some(option_text("DELETED", &v)?),
                "evolve" => {
                    let mut b = false;
                    // SAFETY: `v` is a live value; a non-BOOLEAN one is an error result.
                    call(|e| unsafe { ffi::duckdb_v2_value_get_bool(v.0, &mut b, e) })
                        .map_err(|_| format!("{F}: EVOLVE takes true or false, not {v}"))?;
                    bound.options.evolve = b;
                }
                other => {
                    return Err(format!(
                    "{F}: unknown option {}; the options are KEY, EVENT_TIME, DELETED and EVOLVE",
                    other.to_uppercase()
                ))
                }
            }
        }
        let mut data = opaque(bound);
        // SAFETY: the engine takes the bind data and destroys it with the statement.
        call(|e| unsafe { ffi::duckdb_v2_copy_to_bind_set_bind_data(info, &mut data, e) })
    })
}

unsafe extern "C" fn batch_size(info: Handle, _context: Handle, err: ErrSlot) {
    guard(err, || {
        // SAFETY: `info` is this call's.
        call(|e| unsafe { ffi::duckdb_v2_copy_to_batch_size_set_target(info, BATCH_ROWS, e) })
    })
}

/// An Arrow exporter of the copied columns (destroyed on drop).
struct Exporter(Handle);

impl Exporter {
    fn new(context: Handle, bind: &Bind) -> Result<Exporter, String> {
        let names: Vec<Str> = bind.names.iter().map(|n| Str::of(n)).collect();
        let mut x: Handle = ptr::null_mut();
        // SAFETY: `context` is the running callback's; types and names are parallel
        // arrays of the bind's column count, borrowed and copied; no batch limit.
        call(|e| unsafe {
            ffi::duckdb_v2_arrow_exporter_create(
                context,
                bind.types.as_ptr(),
                names.as_ptr(),
                names.len() as u64,
                0,
                &mut x,
                e,
            )
        })?;
        Ok(Exporter(x))
    }

    /// The Arrow schema of the exported rows.
    fn schema(&self) -> Result<FFI_ArrowSchema, String> {
        let mut schema = FFI_ArrowSchema::empty();
        // SAFETY: `self.0` is live; the engine fills the caller-allocated schema,
        // which `FFI_ArrowSchema` releases on drop.
        call(|e| unsafe {
            ffi::duckdb_v2_arrow_exporter_get_schema(
                self.0,
                (&mut schema as *mut FFI_ArrowSchema).cast(),
                e,
            )
        })?;
        Ok(schema)
    }

    /// Converts `chunk` (borrowed; NULL with `flush` to finish) and appends every
    /// completed array to `out`.
    fn append(
        &self,
        schema: &FFI_ArrowSchema,
        mut chunk: Handle,
        flush: bool,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), String> {
        let slot = if chunk.is_null() {
            ptr::null_mut()
        } else {
            &mut chunk as *mut Handle
        };
        // SAFETY: `self.0` is live; the chunk is borrowed (not consumed) and copied.
        call(|e| unsafe { ffi::duckdb_v2_arrow_exporter_append(self.0, slot, false, flush, e) })?;
        loop {
            let mut array = FFI_ArrowArray::empty();
            // SAFETY: the engine fills the caller-allocated array (or leaves it
            // released when none is ready); `FFI_ArrowArray` releases it on drop.
            call(|e| unsafe {
                ffi::duckdb_v2_arrow_exporter_next_array(
                    self.0,
                    (&mut array as *mut FFI_ArrowArray).cast(),
                    e,
                )
            })?;
            if array.is_released() {
                return Ok(());
            }
            // SAFETY: the array is a struct array of `schema`, just produced by the
            // exporter; `from_ffi` takes it over.
            let data = unsafe { from_ffi(array, schema) }.map_err(|e| e.to_string())?;
            out.push(RecordBatch::from(StructArray::from(data)));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        // SAFETY: the exporter is owned here and destroyed once.
        unsafe { ffi::duckdb_v2_arrow_exporter_destroy(&mut self.0) };
    }
}

unsafe extern "C" fn init(info: Handle, context: Handle, err: ErrSlot) {
    guard(err, || {
        // SAFETY: the bind data is the `Bind` stored by `bind`, alive for the statement.
        let bind: &Bind =
            unsafe { state(|p, e| ffi::duckdb_v2_copy_to_init_get_bind_data(info, p, e)) }?;
        // SAFETY: `info` is this call's.
        let path = text(|s, e| unsafe { ffi::duckdb_v2_copy_to_init_get_file_path(info, s, e) })?;
        if path != bind.location {
            return Err(format!(
                "{F}: writes one table, at '{}', not '{path}' (PARTITION_BY, PER_THREAD_OUTPUT \
                 and FILE_SIZE_BYTES are not supported)",
                bind.location
            ));
        }
        let schema = Exporter::new(context, bind)?.schema()?;
        let schema = Schema::try_from(&schema).map_err(|e| e.to_string())?;
        let writer = block_on(Table::begin_write(&bind.location, &schema, &bind.options))
            .map_err(|e| format!("{F}: {e}"))?;
        let mut data = opaque(Commit {
            writer: Mutex::new(Some(writer)),
        });
        // SAFETY: the engine takes the init data and destroys it with the statement.
        call(|e| unsafe { ffi::duckdb_v2_copy_to_init_set_init_data(info, &mut data, e) })
    })
}

/// Owned scan states and chunk of one batch's collection (destroyed on drop).
struct CollectionScan {
    collection: Handle,
    shared: Handle,
    worker: Handle,
    chunk: Handle,
}

impl Drop for CollectionScan {
    fn drop(&mut self) {
        // SAFETY: each handle is NULL or owned here, destroyed once (NULL-safe).
        unsafe {
            ffi::duckdb_v2_data_chunk_destroy(&mut self.chunk);
            ffi::duckdb_v2_column_data_collection_worker_scan_state_destroy(&mut self.worker);
            ffi::duckdb_v2_column_data_collection_shared_scan_state_destroy(&mut self.shared);
            ffi::duckdb_v2_column_data_collection_destroy(&mut self.collection);
        }
    }
}

unsafe extern "C" fn batch(info: Handle, context: Handle, err: ErrSlot) {
    guard(err, || {
        // SAFETY: the bind data is the `Bind` stored by `bind`, alive for the statement.
        let bind: &Bind =
            unsafe { state(|p, e| ffi::duckdb_v2_copy_to_batch_get_bind_data(info, p, e)) }?;
        let mut scan = CollectionScan {
            collection: ptr::null_mut(),
            shared: ptr::null_mut(),
            worker: ptr::null_mut(),
            chunk: ptr::null_mut(),
        };
        // SAFETY (each call): `info` is this call's; the collection taken is owned by
        // `scan`, and so are the states and the chunk created over it; the chunk has
        // the collection's types (the bind's).
        call(|e| unsafe {
            ffi::duckdb_v2_copy_to_batch_take_input(info, &mut scan.collection, e)
        })?;
        call(|e| unsafe {
            ffi::duckdb_v2_column_data_collection_shared_scan_state_create(
                scan.collection,
                &mut scan.shared,
                e,
            )
        })?;
        call(|e| unsafe {
            ffi::duckdb_v2_column_data_collection_worker_scan_state_create(
                scan.collection,
                &mut scan.worker,
                e,
            )
        })?;
        let factory = factory(context)?;
        call(|e| unsafe {
            ffi::duckdb_v2_data_chunk_create(
                factory,
                bind.types.as_ptr(),
                bind.types.len() as u64,
                &mut scan.chunk,
                e,
            )
        })?;
        let exporter = Exporter::new(context, bind)?;
        let schema = exporter.schema()?;
        let mut batches = Vec::new();
        loop {
            let mut produced = false;
            call(|e| unsafe {
                ffi::duckdb_v2_column_data_collection_scan(
                    scan.collection,
                    scan.shared,
                    scan.worker,
                    scan.chunk,
                    &mut produced,
                    e,
                )
            })?;
            if !produced {
                break;
            }
            exporter.append(&schema, scan.chunk, false, &mut batches)?;
        }
        exporter.append(&schema, ptr::null_mut(), true, &mut batches)?;
        let mut data = opaque(batches);
        // SAFETY: the engine takes the batch data and hands it to `flush`.
        call(|e| unsafe { ffi::duckdb_v2_copy_to_batch_set_batch_data(info, &mut data, e) })
    })
}

unsafe extern "C" fn flush(info: Handle, _context: Handle, err: ErrSlot) {
    guard(err, || {
        // SAFETY: the init data is the `Commit` stored by `init`, the batch data the
        // `Vec<RecordBatch>` stored by `batch`; both alive for this call.
        let commit: &Commit =
            unsafe { state(|p, e| ffi::duckdb_v2_copy_to_flush_get_init_data(info, p, e)) }?;
        let batches: &Vec<RecordBatch> =
            unsafe { state(|p, e| ffi::duckdb_v2_copy_to_flush_get_batch_data(info, p, e)) }?;
        let mut writer = commit
            .writer
            .lock()
            .map_err(|_| format!("{F}: an earlier batch failed"))?;
        let writer = writer
            .as_mut()
            .ok_or_else(|| format!("{F}: the commit is already finished"))?;
        for b in batches {
            block_on(writer.write(b)).map_err(|e| format!("{F}: {e}"))?;
        }
        Ok(())
    })
}

unsafe extern "C" fn finalize(info: Handle, _context: Handle, err: ErrSlot) {
    guard(err, || {
        // SAFETY: the init data is the `Commit` stored by `init`.
        let commit: &Commit =
            unsafe { state(|p, e| ffi::duckdb_v2_copy_to_finalize_get_init_data(info, p, e)) }?;
        let writer = commit
            .writer
            .lock()
            .map_err(|_| format!("{F}: an earlier batch failed"))?
            .take()
            .ok_or_else(|| format!("{F}: the commit is already finished"))?;
        block_on(writer.finish()).map_err(|e| format!("{F}: {e}"))?;
        Ok(())
    })
}
