//! C API v2 values (arguments and constants), read through the same
//! [`ArgValue`] interface as the duckdb crate's v1 values.

use std::fmt;
use std::ptr;

use duckdb::core::LogicalTypeId;

use super::ffi::{self, Handle};
use super::{call, str_of};
use crate::params::ArgValue;

/// A value this code owns (destroyed on drop).
pub(crate) struct Value(pub(super) Handle);

impl Value {
    /// Takes ownership of a value the engine handed over (NULL for none).
    pub(crate) fn owned(v: Handle) -> Option<Value> {
        (!v.is_null()).then_some(Value(v))
    }

    /// The `DUCKDB_V2_LOGICAL_TYPE_ID` of its type.
    pub(crate) fn type_id(&self) -> u32 {
        let mut t: Handle = ptr::null_mut();
        // SAFETY: `self.0` is a live value; `t` receives an owned type.
        if call(|e| unsafe { ffi::duckdb_v2_value_get_logical_type(self.0, &mut t, e) }).is_err() {
            return 0;
        }
        let mut id = 0u32;
        // SAFETY: `t` is the live type just created; destroyed right after.
        unsafe {
            let _ = call(|e| ffi::duckdb_v2_logical_type_get_id(t, &mut id, e));
            ffi::duckdb_v2_logical_type_destroy(&mut t);
        }
        id
    }

    /// The string of a VARCHAR value.
    pub(crate) fn varchar(&self) -> Option<String> {
        let mut s = ffi::Str {
            ptr: ptr::null(),
            len: 0,
        };
        // SAFETY: `self.0` is a live value; the view stays valid while it lives and
        // is copied at once.
        call(|e| unsafe { ffi::duckdb_v2_value_get_varchar(self.0, &mut s, e) }).ok()?;
        // SAFETY: on success `s` views the value's bytes.
        unsafe { str_of(s) }
    }

    /// The integer of a BIGINT value.
    pub(crate) fn bigint(&self) -> Option<i64> {
        let mut n = 0i64;
        // SAFETY: `self.0` is a live value.
        call(|e| unsafe { ffi::duckdb_v2_value_get_bigint(self.0, &mut n, e) }).ok()?;
        Some(n)
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        // SAFETY: the value is owned by this wrapper and destroyed once.
        unsafe { ffi::duckdb_v2_value_destroy(&mut self.0) };
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut len: ffi::idx_t = 0;
        // SAFETY: a NULL buffer asks for the length only.
        if call(|e| unsafe {
            ffi::duckdb_v2_value_to_string(self.0, ptr::null_mut(), 0, &mut len, e)
        })
        .is_err()
        {
            return Ok(());
        }
        let mut buf = vec![0u8; len as usize + 1];
        // SAFETY: `buf` holds `len + 1` bytes, the text and its terminator.
        let r = call(|e| unsafe {
            ffi::duckdb_v2_value_to_string(self.0, buf.as_mut_ptr().cast(), len + 1, &mut len, e)
        });
        if r.is_ok() {
            buf.truncate(len as usize);
            f.write_str(&String::from_utf8_lossy(&buf))?;
        }
        Ok(())
    }
}

impl ArgValue for Value {
    fn is_null(&self) -> bool {
        let mut null = true;
        // SAFETY: `self.0` is a live value.
        let _ = call(|e| unsafe { ffi::duckdb_v2_value_is_null(self.0, &mut null, e) });
        null
    }

    fn logical_type_id(&self) -> LogicalTypeId {
        use LogicalTypeId as T;
        match self.type_id() {
            ffi::TYPE_BOOLEAN => T::Boolean,
            ffi::TYPE_TINYINT => T::Tinyint,
            ffi::TYPE_SMALLINT => T::Smallint,
            ffi::TYPE_INTEGER => T::Integer,
            ffi::TYPE_BIGINT => T::Bigint,
            ffi::TYPE_UTINYINT => T::UTinyint,
            ffi::TYPE_USMALLINT => T::USmallint,
            ffi::TYPE_UINTEGER => T::UInteger,
            ffi::TYPE_UBIGINT => T::UBigint,
            ffi::TYPE_HUGEINT => T::Hugeint,
            ffi::TYPE_FLOAT => T::Float,
            ffi::TYPE_DOUBLE => T::Double,
            ffi::TYPE_DECIMAL => T::Decimal,
            ffi::TYPE_VARCHAR => T::Varchar,
            ffi::TYPE_BLOB => T::Blob,
            ffi::TYPE_DATE => T::Date,
            ffi::TYPE_TIME => T::Time,
            ffi::TYPE_TIMESTAMP => T::Timestamp,
            ffi::TYPE_TIMESTAMP_SEC => T::TimestampS,
            ffi::TYPE_TIMESTAMP_MS => T::TimestampMs,
            ffi::TYPE_TIMESTAMP_NS => T::TimestampNs,
            ffi::TYPE_TIMESTAMP_TZ => T::TimestampTZ,
            ffi::TYPE_INTERVAL => T::Interval,
            ffi::TYPE_UUID => T::Uuid,
            ffi::TYPE_LIST => T::List,
            ffi::TYPE_STRUCT => T::Struct,
            ffi::TYPE_MAP => T::Map,
            _ => T::Invalid,
        }
    }

    fn to_list(&self) -> Option<Vec<Self>> {
        if self.type_id() != ffi::TYPE_LIST {
            return None;
        }
        let mut n: ffi::idx_t = 0;
        // SAFETY: `self.0` is a live LIST value.
        call(|e| unsafe { ffi::duckdb_v2_value_get_child_count(self.0, &mut n, e) }).ok()?;
        (0..n)
            .map(|i| {
                let mut c: Handle = ptr::null_mut();
                // SAFETY: `i` is below the child count; `c` receives an owned value.
                call(|e| unsafe { ffi::duckdb_v2_value_get_child(self.0, i, &mut c, e) }).ok()?;
                Value::owned(c)
            })
            .collect()
    }
}
