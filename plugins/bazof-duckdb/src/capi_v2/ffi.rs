//! The raw declarations of DuckDB's unstable C API v2 that bazof's functions use, as
//! `duckdb_v2.h` and `duckdb_static_extension.h` of DuckDB 2.0.0 declare them
//! (libduckdb-sys 1.20000.1 ships the same in `bindgen_bundled_version_v2.rs`).
//! In-process, the bundled build compiles these functions whatever libduckdb-sys's
//! features are, so declaring them here links them without the `capi-v2` feature,
//! which would rebuild DuckDB's C++; in the loadable extension each one calls
//! libduckdb-sys's wrapper of the same name, which dispatches through the function
//! table DuckDB hands the entry point. Handles are opaque pointers; C enums are `u32`.
#![allow(non_camel_case_types, missing_docs)]

use std::os::raw::{c_char, c_void};

pub type idx_t = u64;
/// `DUCKDB_V2_ERROR`: 0 is success.
pub type Status = u32;
pub const ERROR_NONE: Status = 0;
pub const ERROR_INPUT_INVALID: Status = 2001;

pub type Handle = *mut c_void;
pub type ErrSlot = *mut Handle;

/// `duckdb_v2_str` / `duckdb_v2_identifier_t`: a borrowed byte view.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Str {
    pub ptr: *const c_char,
    pub len: idx_t,
}

impl Str {
    /// A view of `s` (valid while `s` is).
    pub fn of(s: &str) -> Str {
        Str {
            ptr: s.as_ptr().cast(),
            len: s.len() as idx_t,
        }
    }
}

/// `duckdb_v2_opaque`: data the engine owns and destroys.
#[repr(C)]
pub struct Opaque {
    pub ptr: *mut c_void,
    pub destroy: Option<unsafe extern "C" fn(*mut c_void)>,
    pub equals: Option<unsafe extern "C" fn(*mut c_void, *mut c_void) -> bool>,
}

/// `struct duckdb_v2_extension_input`.
#[repr(C)]
pub struct ExtensionInput {
    pub get_api: Option<unsafe extern "C" fn(Handle, *const c_char) -> *const c_void>,
    pub extension: Handle,
    pub context: Handle,
    pub err: ErrSlot,
}

/// `struct duckdb_extension_descriptor` (layout version 2).
#[cfg(feature = "bundled")]
#[repr(C)]
pub struct ExtensionDescriptor {
    pub version: u32,
    pub set_error: Option<unsafe extern "C" fn(*mut ExtensionDescriptor, *const c_char)>,
    pub internal: *mut c_void,
    pub name: *const c_char,
    pub extension_version: *const c_char,
    pub api_version: *const c_char,
    pub entry_cpp: Option<unsafe extern "C" fn()>,
    pub entry_capi_v1: Option<unsafe extern "C" fn()>,
    pub entry_capi_v2: Option<unsafe extern "C" fn()>,
    pub database_callback: Option<unsafe extern "C" fn()>,
}

#[cfg(feature = "bundled")]
pub type DescribeFn = unsafe extern "C" fn(*mut ExtensionDescriptor) -> i32;
/// Every table-function callback: (info, context, error slot).
pub type Callback = unsafe extern "C" fn(Handle, Handle, ErrSlot);
/// The bind callback: (bind info, table bind info, context, error slot).
pub type BindCallback = unsafe extern "C" fn(Handle, Handle, Handle, ErrSlot);

// `DUCKDB_V2_LOGICAL_TYPE_ID`
pub const TYPE_ANY: u32 = 3;
pub const TYPE_BOOLEAN: u32 = 10;
pub const TYPE_TINYINT: u32 = 11;
pub const TYPE_SMALLINT: u32 = 12;
pub const TYPE_INTEGER: u32 = 13;
pub const TYPE_BIGINT: u32 = 14;
pub const TYPE_DATE: u32 = 15;
pub const TYPE_TIME: u32 = 16;
pub const TYPE_TIMESTAMP_SEC: u32 = 17;
pub const TYPE_TIMESTAMP_MS: u32 = 18;
pub const TYPE_TIMESTAMP: u32 = 19;
pub const TYPE_TIMESTAMP_NS: u32 = 20;
pub const TYPE_DECIMAL: u32 = 21;
pub const TYPE_FLOAT: u32 = 22;
pub const TYPE_DOUBLE: u32 = 23;
pub const TYPE_VARCHAR: u32 = 25;
pub const TYPE_BLOB: u32 = 26;
pub const TYPE_INTERVAL: u32 = 27;
pub const TYPE_UTINYINT: u32 = 28;
pub const TYPE_USMALLINT: u32 = 29;
pub const TYPE_UINTEGER: u32 = 30;
pub const TYPE_UBIGINT: u32 = 31;
pub const TYPE_TIMESTAMP_TZ: u32 = 32;
pub const TYPE_HUGEINT: u32 = 50;
pub const TYPE_UUID: u32 = 54;
pub const TYPE_STRUCT: u32 = 100;
pub const TYPE_LIST: u32 = 101;
pub const TYPE_MAP: u32 = 102;

// `DUCKDB_V2_LOG_LEVEL`
pub const LOG_INFO: u32 = 30;

// `DUCKDB_V2_FUNCTION_PARAMETER_KIND`
pub const PARAM_STANDARD: u32 = 1;
pub const PARAM_NAMED_ONLY: u32 = 3;

// `DUCKDB_V2_EXPRESSION_TYPE`
pub const EXPR_COMPARE_EQUAL: u32 = 25;
pub const EXPR_COMPARE_LESSTHAN: u32 = 27;
pub const EXPR_COMPARE_GREATERTHAN: u32 = 28;
pub const EXPR_COMPARE_LESSTHANOREQUALTO: u32 = 29;
pub const EXPR_COMPARE_GREATERTHANOREQUALTO: u32 = 30;
pub const EXPR_COMPARE_IN: u32 = 35;
pub const EXPR_COMPARE_BETWEEN: u32 = 38;
pub const EXPR_COMPARE_NOT_DISTINCT_FROM: u32 = 40;
pub const EXPR_CONJUNCTION_AND: u32 = 50;
pub const EXPR_CONJUNCTION_OR: u32 = 51;
pub const EXPR_VALUE_CONSTANT: u32 = 75;
pub const EXPR_BOUND_COLUMN_REF: u32 = 228;

#[cfg(feature = "bundled")]
extern "C" {
    /// Registers a static extension for every database opened afterwards (bundled only).
    pub fn duckdb_register_static_extension(describe: Option<DescribeFn>) -> i32;
}

/// Declares the C API v2 functions this crate calls. In-process (`bundled`) they are
/// the linked DuckDB's symbols. In the loadable extension they dispatch through the
/// function table DuckDB hands the entry point (libduckdb-sys's
/// `loadable-extension-v2` wrappers, filled by [`init_loadable`]); the signatures
/// here use opaque handles where libduckdb-sys has typed pointers of the same ABI.
macro_rules! capi_v2 {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;)*) => {
        #[cfg(feature = "bundled")]
        extern "C" {
            $(pub fn $name($($arg: $ty),*) -> $ret;)*
        }
        $(
            #[cfg(not(feature = "bundled"))]
            pub unsafe fn $name($($arg: $ty),*) -> $ret {
                // SAFETY: libduckdb-sys's wrapper of the same name is an `extern "C"`
                // function whose parameters are pointers, integers and `repr(C)`
                // structs of the same layout as these (handles are pointers), so it
                // may be called through this signature.
                unsafe {
                    let f: unsafe extern "C" fn($($ty),*) -> $ret =
                        std::mem::transmute(libduckdb_sys::v2::$name as *const ());
                    f($($arg),*)
                }
            }
        )*
    };
}

capi_v2! {
    fn duckdb_v2_context_get_factory(ctx: Handle, out: *mut Handle, err: ErrSlot) -> Status;
    fn duckdb_v2_factory_create_type_from_id(
        factory: Handle,
        type_id: u32,
        param_names: *const Str,
        param_values: *const Handle,
        param_count: idx_t,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_logical_type_destroy(t: *mut Handle) -> Status;
    fn duckdb_v2_logical_type_get_id(t: Handle, out: *mut u32, err: ErrSlot) -> Status;
    fn duckdb_v2_value_create_null(
        factory: Handle,
        t: Handle,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;

    fn duckdb_v2_table_function_create(
        factory: Handle,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_set_name(f: Handle, name: *const Str, err: ErrSlot) -> Status;
    fn duckdb_v2_table_function_get_signature(
        f: Handle,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_function_signature_add_parameter(
        sig: Handle,
        name: *const Str,
        t: Handle,
        default: Handle,
        kind: u32,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_set_bind_callback(
        f: Handle,
        cb: Option<BindCallback>,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_set_init_global_callback(
        f: Handle,
        cb: Option<Callback>,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_set_init_local_callback(
        f: Handle,
        cb: Option<Callback>,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_set_exec_callback(
        f: Handle,
        cb: Option<Callback>,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_set_projection_pushdown(
        f: Handle,
        enable: bool,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_set_filter_pushdown_callback(
        f: Handle,
        cb: Option<Callback>,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_set_claim_batch_callback(
        f: Handle,
        cb: Option<Callback>,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_set_partition_data_callback(
        f: Handle,
        cb: Option<Callback>,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_destroy(f: *mut Handle) -> Status;
    fn duckdb_v2_extension_register_table_function(
        extension: Handle,
        f: Handle,
        err: ErrSlot,
    ) -> Status;

    fn duckdb_v2_function_bind_get_arg_value(
        info: Handle,
        index: idx_t,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_function_bind_set_bind_data(
        info: Handle,
        data: *mut Opaque,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_bind_add_result_column(
        info: Handle,
        name: *const Str,
        t: Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_bind_set_cardinality(
        info: Handle,
        cardinality: idx_t,
        is_exact: bool,
        err: ErrSlot,
    ) -> Status;

    fn duckdb_v2_table_function_init_global_get_bind_data(
        info: Handle,
        out: *mut *mut c_void,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_init_global_set_global_state(
        info: Handle,
        data: *mut Opaque,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_init_global_set_max_threads(
        info: Handle,
        n: idx_t,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_init_global_get_column_count(
        info: Handle,
        out: *mut idx_t,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_init_global_get_column_index(
        info: Handle,
        index: idx_t,
        out: *mut idx_t,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_init_local_set_local_state(
        info: Handle,
        data: *mut Opaque,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_exec_get_global_state(
        info: Handle,
        out: *mut *mut c_void,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_exec_get_local_state(
        info: Handle,
        out: *mut *mut c_void,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_claim_batch_get_global_state(
        info: Handle,
        out: *mut *mut c_void,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_claim_batch_get_local_state(
        info: Handle,
        out: *mut *mut c_void,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_claim_batch_set_claimed(
        info: Handle,
        claimed: bool,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_partition_data_get_local_state(
        info: Handle,
        out: *mut *mut c_void,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_partition_data_set_batch_index(
        info: Handle,
        batch_index: idx_t,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_exec_get_output_chunk(
        info: Handle,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;

    fn duckdb_v2_data_chunk_get_vector(
        chunk: Handle,
        index: idx_t,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_data_chunk_destroy(chunk: *mut Handle) -> Status;
    fn duckdb_v2_vector_reference(vector: Handle, source: Handle, err: ErrSlot) -> Status;
    fn duckdb_v2_vector_set_size(vector: Handle, size: idx_t, err: ErrSlot) -> Status;

    fn duckdb_v2_arrow_importer_create(
        context: Handle,
        schema: *mut c_void,
        batch_size: idx_t,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_arrow_importer_append(
        importer: Handle,
        array: *mut c_void,
        consume: bool,
        flush: bool,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_arrow_importer_next_chunk(
        importer: Handle,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_arrow_importer_destroy(importer: *mut Handle) -> Status;

    fn duckdb_v2_table_function_filter_pushdown_get_bind_data(
        info: Handle,
        out: *mut *mut c_void,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_filter_pushdown_get_filter_count(
        info: Handle,
        out: *mut idx_t,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_filter_pushdown_get_filter(
        info: Handle,
        index: idx_t,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_table_function_filter_pushdown_get_column_index(
        info: Handle,
        index: idx_t,
        out: *mut idx_t,
        err: ErrSlot,
    ) -> Status;

    fn duckdb_v2_expression_get_type(e: Handle, out: *mut u32, err: ErrSlot) -> Status;
    fn duckdb_v2_expression_get_child_count(e: Handle, out: *mut idx_t, err: ErrSlot)
        -> Status;
    fn duckdb_v2_expression_get_child(
        e: Handle,
        index: idx_t,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_expression_constant_get_value(
        e: Handle,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_expression_column_ref_get_index(
        e: Handle,
        out: *mut idx_t,
        err: ErrSlot,
    ) -> Status;

    fn duckdb_v2_value_destroy(v: *mut Handle) -> Status;
    fn duckdb_v2_value_is_null(v: Handle, out: *mut bool, err: ErrSlot) -> Status;
    fn duckdb_v2_value_get_logical_type(v: Handle, out: *mut Handle, err: ErrSlot) -> Status;
    fn duckdb_v2_value_get_varchar(v: Handle, out: *mut Str, err: ErrSlot) -> Status;
    fn duckdb_v2_value_get_bigint(v: Handle, out: *mut i64, err: ErrSlot) -> Status;
    fn duckdb_v2_value_to_string(
        v: Handle,
        out: *mut c_char,
        capacity: idx_t,
        out_len: *mut idx_t,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_value_get_child_count(v: Handle, out: *mut idx_t, err: ErrSlot) -> Status;
    fn duckdb_v2_value_get_child(
        v: Handle,
        index: idx_t,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;

    fn duckdb_v2_context_log(
        ctx: Handle,
        level: u32,
        log_type: *const Str,
        message: *const Str,
        err: ErrSlot,
    ) -> Status;

    fn duckdb_v2_value_get_bool(v: Handle, out: *mut bool, err: ErrSlot) -> Status;

    fn duckdb_v2_copy_function_create(factory: Handle, out: *mut Handle, err: ErrSlot) -> Status;
    fn duckdb_v2_copy_function_set_name(f: Handle, name: *const Str, err: ErrSlot) -> Status;
    fn duckdb_v2_copy_to_set_bind_callback(f: Handle, cb: Option<Callback>, err: ErrSlot) -> Status;
    fn duckdb_v2_copy_to_set_batch_size_callback(
        f: Handle,
        cb: Option<Callback>,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_copy_to_set_init_callback(f: Handle, cb: Option<Callback>, err: ErrSlot) -> Status;
    fn duckdb_v2_copy_to_set_batch_callback(f: Handle, cb: Option<Callback>, err: ErrSlot) -> Status;
    fn duckdb_v2_copy_to_set_flush_callback(f: Handle, cb: Option<Callback>, err: ErrSlot) -> Status;
    fn duckdb_v2_copy_to_set_finalize_callback(
        f: Handle,
        cb: Option<Callback>,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_copy_function_destroy(f: *mut Handle) -> Status;
    fn duckdb_v2_extension_register_copy_function(
        extension: Handle,
        f: Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_copy_to_bind_get_file_path(info: Handle, out: *mut Str, err: ErrSlot) -> Status;
    fn duckdb_v2_copy_to_bind_get_column_count(info: Handle, out: *mut idx_t, err: ErrSlot)
        -> Status;
    fn duckdb_v2_copy_to_bind_get_column_type(
        info: Handle,
        index: idx_t,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_copy_to_bind_get_column_name(
        info: Handle,
        index: idx_t,
        out: *mut Str,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_copy_to_bind_get_option_count(info: Handle, out: *mut idx_t, err: ErrSlot)
        -> Status;
    fn duckdb_v2_copy_to_bind_get_option_name(
        info: Handle,
        index: idx_t,
        out: *mut Str,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_copy_to_bind_get_option_value(
        info: Handle,
        index: idx_t,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_copy_to_bind_set_bind_data(info: Handle, data: *mut Opaque, err: ErrSlot)
        -> Status;
    fn duckdb_v2_copy_to_batch_size_set_target(info: Handle, rows: idx_t, err: ErrSlot) -> Status;
    fn duckdb_v2_copy_to_init_get_bind_data(
        info: Handle,
        out: *mut *mut c_void,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_copy_to_init_get_file_path(info: Handle, out: *mut Str, err: ErrSlot) -> Status;
    fn duckdb_v2_copy_to_init_set_init_data(info: Handle, data: *mut Opaque, err: ErrSlot)
        -> Status;
    fn duckdb_v2_copy_to_batch_get_bind_data(
        info: Handle,
        out: *mut *mut c_void,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_copy_to_batch_take_input(info: Handle, out: *mut Handle, err: ErrSlot) -> Status;
    fn duckdb_v2_copy_to_batch_set_batch_data(info: Handle, data: *mut Opaque, err: ErrSlot)
        -> Status;
    fn duckdb_v2_copy_to_flush_get_init_data(
        info: Handle,
        out: *mut *mut c_void,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_copy_to_flush_get_batch_data(
        info: Handle,
        out: *mut *mut c_void,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_copy_to_finalize_get_init_data(
        info: Handle,
        out: *mut *mut c_void,
        err: ErrSlot,
    ) -> Status;

    fn duckdb_v2_column_data_collection_destroy(c: *mut Handle) -> Status;
    fn duckdb_v2_column_data_collection_shared_scan_state_create(
        c: Handle,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_column_data_collection_shared_scan_state_destroy(s: *mut Handle) -> Status;
    fn duckdb_v2_column_data_collection_worker_scan_state_create(
        c: Handle,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_column_data_collection_worker_scan_state_destroy(s: *mut Handle) -> Status;
    fn duckdb_v2_column_data_collection_scan(
        c: Handle,
        shared: Handle,
        worker: Handle,
        out: Handle,
        produced: *mut bool,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_data_chunk_create(
        factory: Handle,
        types: *const Handle,
        count: idx_t,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;

    fn duckdb_v2_arrow_exporter_create(
        context: Handle,
        types: *const Handle,
        names: *const Str,
        count: idx_t,
        batch_size: idx_t,
        out: *mut Handle,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_arrow_exporter_get_schema(e: Handle, out: *mut c_void, err: ErrSlot) -> Status;
    fn duckdb_v2_arrow_exporter_append(
        e: Handle,
        chunk: *mut Handle,
        consume: bool,
        flush: bool,
        err: ErrSlot,
    ) -> Status;
    fn duckdb_v2_arrow_exporter_next_array(e: Handle, out: *mut c_void, err: ErrSlot) -> Status;
    fn duckdb_v2_arrow_exporter_destroy(e: *mut Handle) -> Status;

    fn duckdb_v2_error_info_set_code(info: Handle, code: Status) -> Status;
    fn duckdb_v2_error_info_set_text(info: Handle, text: *const Str) -> Status;
    fn duckdb_v2_error_info_get_text(info: Handle, out: *mut Str) -> Status;
    fn duckdb_v2_error_info_destroy(info: *mut Handle) -> Status;
}

/// Fills the loadable extension's function table from the entry point's input (the
/// `DUCKDB_EXTENSION_API_INIT` of `duckdb_extension_v2.h`); false if DuckDB refused.
///
/// # Safety
/// `input` must be the live input DuckDB passed to the v2 entry point.
#[cfg(not(feature = "bundled"))]
pub unsafe fn init_loadable(input: *mut ExtensionInput) -> bool {
    // SAFETY: guaranteed by the caller; `ExtensionInput` has the layout of
    // `duckdb_v2_extension_input`.
    unsafe {
        let input = input.cast::<libduckdb_sys::v2::duckdb_v2_extension_input>();
        match input.as_ref() {
            Some(input) => matches!(
                libduckdb_sys::v2::duckdb_rs_extension_api_v2_init(input, "v2.0.0"),
                Ok(true)
            ),
            None => false,
        }
    }
}
