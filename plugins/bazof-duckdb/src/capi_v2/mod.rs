//! bazof's table functions on DuckDB's unstable C API v2, the one API where DuckDB
//! hands a table function the query's `WHERE` conjuncts (so that key predicates
//! written in SQL prune files, row groups and pages as `keys => [...]` does) and
//! takes batch indexes (so that key ranges run on all threads and keep key order).
//!
//! Two ways in, one entry point ([`entry`]): in-process, a database opened through
//! the duckdb crate is a C API v1 database, which v2 reaches only as a statically
//! linked extension whose entry point DuckDB runs for every database opened after
//! [`install`] registered it ([`crate::register`] then adds only what v2 lacks); the
//! loadable extension (`extension/`, DuckDB 2.0.0 exactly) is a v2 extension whose
//! entry point is [`loadable_entry`].
//!
//! Layers: [`ffi`] declares the C functions; this module holds the small safe
//! helpers over them (error slots, owned handles, the panic guard of every callback);
//! `value` reads arguments, `filter` turns expressions into key predicates, `table`
//! is the table-function machinery, `functions` the functions themselves and `copy`
//! `COPY … TO (FORMAT bazof)`.

mod copy;
mod ffi;
mod filter;
mod functions;
mod table;
mod value;

use std::os::raw::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
#[cfg(feature = "bundled")]
use std::sync::OnceLock;

use ffi::{ErrSlot, Handle, Status, Str};

/// DuckDB refused to register bazof's static extension (its code).
#[cfg(feature = "bundled")]
#[derive(Debug, Clone)]
pub struct InstallError(i32);

#[cfg(feature = "bundled")]
impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DuckDB refused the bazof static extension (code {})",
            self.0
        )
    }
}

#[cfg(feature = "bundled")]
impl std::error::Error for InstallError {}

/// Registers bazof's C API v2 extension with DuckDB, for every database this process
/// opens afterwards: those get the table functions whose `bazof_scan` prunes by SQL
/// key predicates and keeps key order on all threads. Call it before opening the
/// database (a database already open is not changed); calling it again does nothing.
#[cfg(feature = "bundled")]
pub fn install() -> Result<(), InstallError> {
    static RESULT: OnceLock<Result<(), InstallError>> = OnceLock::new();
    RESULT
        .get_or_init(|| {
            // SAFETY: `describe` is a valid describe function for the whole process
            // (a plain function); DuckDB calls it now and keeps no pointer into Rust
            // data except the static strings it copies.
            let rc = unsafe { ffi::duckdb_register_static_extension(Some(describe)) };
            if rc == 0 {
                Ok(())
            } else {
                Err(InstallError(rc))
            }
        })
        .clone()
}

/// The static extension's description: its name and its C API v2 entry point.
#[cfg(feature = "bundled")]
unsafe extern "C" fn describe(d: *mut ffi::ExtensionDescriptor) -> i32 {
    let r = catch_unwind(|| {
        // SAFETY: DuckDB passes a valid descriptor of at least layout 2 (it offers
        // its layout in `version`; 2 is the layout these fields follow) for the
        // duration of the call; the strings are static.
        let d = unsafe { d.as_mut() }?;
        if d.version < 2 {
            return None;
        }
        d.version = 2;
        d.name = c"bazof".as_ptr();
        d.extension_version = c"v0.3.0".as_ptr();
        d.api_version = c"v2.0.0".as_ptr();
        // SAFETY: DuckDB calls `entry_capi_v2` with one argument, a
        // `duckdb_v2_extension_input*`; the descriptor stores it as `void(*)(void)`.
        d.entry_capi_v2 = Some(unsafe {
            std::mem::transmute::<
                unsafe extern "C" fn(*mut ffi::ExtensionInput),
                unsafe extern "C" fn(),
            >(entry)
        });
        Some(())
    });
    match r {
        Ok(Some(())) => 0,
        _ => 1,
    }
}

/// The extension's entry point: registers the table functions and `FORMAT bazof`.
unsafe extern "C" fn entry(input: *mut ffi::ExtensionInput) {
    // SAFETY: DuckDB passes a valid input for the duration of the call; its `err` is
    // a live slot (never NULL) that DuckDB owns.
    let Some(input) = (unsafe { input.as_ref() }) else {
        return;
    };
    guard(input.err, || {
        functions::register_all(input.extension, input.context)?;
        copy::register(input.extension, input.context)
    });
}

/// The loadable extension's C API v2 entry point (`bazof_init_c_api_v2`): takes
/// DuckDB's function table, then registers the table functions. A refused function
/// table returns at once (DuckDB reports why).
///
/// # Safety
/// `input` must be the `duckdb_v2_extension_input*` DuckDB passes the entry point.
#[cfg(not(feature = "bundled"))]
pub unsafe fn loadable_entry(input: *mut c_void) {
    let input = input.cast::<ffi::ExtensionInput>();
    // SAFETY: guaranteed by the caller. A panic (none is expected) must not unwind
    // into DuckDB.
    let ready = catch_unwind(|| unsafe { ffi::init_loadable(input) }).unwrap_or(false);
    if ready {
        // SAFETY: as above; the function table is filled.
        unsafe { entry(input) };
    }
}

/// Runs a callback body: a panic or an error becomes the query's error in `err`, and
/// nothing unwinds into DuckDB.
fn guard(err: ErrSlot, body: impl FnOnce() -> Result<(), String>) {
    let message = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return,
        Ok(Err(m)) => m,
        Err(p) => format!(
            "bazof: internal error: {}",
            bazof::decode_guard::panic_message(p.as_ref())
        ),
    };
    set_error(err, &message);
}

/// Reports `message` through the engine's error slot of a callback.
fn set_error(err: ErrSlot, message: &str) {
    // SAFETY: inside a callback `err` is the engine's live slot, non-NULL and
    // pointing at a valid error info; `text` is copied before the call returns.
    unsafe {
        if let Some(&info) = err.as_ref() {
            ffi::duckdb_v2_error_info_set_code(info, ffi::ERROR_INPUT_INVALID);
            ffi::duckdb_v2_error_info_set_text(info, &Str::of(message));
        }
    }
}

/// Calls a C API v2 function with an error slot of its own: its failure comes back
/// as DuckDB's message (the slot is freed).
fn call(f: impl FnOnce(ErrSlot) -> Status) -> Result<(), String> {
    let mut slot: Handle = ptr::null_mut();
    let status = f(&mut slot);
    if status == ffi::ERROR_NONE {
        return Ok(());
    }
    let mut text = Str {
        ptr: ptr::null(),
        len: 0,
    };
    // SAFETY: on failure the call filled `slot` with an error info we own (or left
    // it NULL); its text view is read before the info is destroyed.
    let message = unsafe {
        if slot.is_null() || ffi::duckdb_v2_error_info_get_text(slot, &mut text) != 0 {
            String::new()
        } else {
            str_of(text).unwrap_or_default()
        }
    };
    // SAFETY: `slot` is NULL or an error info this function owns.
    unsafe { ffi::duckdb_v2_error_info_destroy(&mut slot) };
    Err(format!("DuckDB C API v2 error {status}: {message}"))
}

/// Copies a borrowed C API string view.
///
/// # Safety
/// `s` must point at `s.len` readable bytes (or be NULL with length 0).
unsafe fn str_of(s: Str) -> Option<String> {
    if s.ptr.is_null() {
        return (s.len == 0).then(String::new);
    }
    // SAFETY: guaranteed by the caller.
    let bytes = unsafe { std::slice::from_raw_parts(s.ptr.cast::<u8>(), s.len as usize) };
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// Hands `data` to the engine as a `duckdb_v2_opaque` it destroys (drops) later.
fn opaque<T>(data: T) -> ffi::Opaque {
    unsafe extern "C" fn drop_box<T>(p: *mut c_void) {
        // SAFETY: `p` came from `Box::into_raw` below and the engine destroys it once.
        // A panic in a destructor must not unwind into DuckDB.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(p.cast::<T>()) })
        }));
    }
    ffi::Opaque {
        ptr: Box::into_raw(Box::new(data)).cast(),
        destroy: Some(drop_box::<T>),
        equals: None,
    }
}

/// A logical type this code created (destroyed on drop).
struct LogicalType(Handle);

impl LogicalType {
    /// The type with `id` (a `DUCKDB_V2_LOGICAL_TYPE_ID` without parameters).
    fn new(factory: Handle, id: u32) -> Result<LogicalType, String> {
        let mut t: Handle = ptr::null_mut();
        // SAFETY: `factory` is the engine's factory of the current context; no
        // parameters are passed (NULL, 0); `t` receives an owned type.
        call(|e| unsafe {
            ffi::duckdb_v2_factory_create_type_from_id(
                factory,
                id,
                ptr::null(),
                ptr::null(),
                0,
                &mut t,
                e,
            )
        })?;
        Ok(LogicalType(t))
    }
}

impl Drop for LogicalType {
    fn drop(&mut self) {
        // SAFETY: the type is owned by this wrapper and destroyed once.
        unsafe { ffi::duckdb_v2_logical_type_destroy(&mut self.0) };
    }
}

/// The factory of a callback's context.
fn factory(context: Handle) -> Result<Handle, String> {
    let mut f: Handle = ptr::null_mut();
    // SAFETY: `context` is the engine's context of the running callback; the factory
    // is borrowed from it.
    call(|e| unsafe { ffi::duckdb_v2_context_get_factory(context, &mut f, e) })?;
    Ok(f)
}
