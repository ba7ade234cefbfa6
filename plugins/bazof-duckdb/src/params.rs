//! Reading the table functions' arguments: times (TIMESTAMP, TIMESTAMPTZ, DATE or a
//! VARCHAR in any form `bazof::time` takes), commits and key lists. Messages name the
//! argument; callers prefix the function name ([`in_function`]).

use chrono::{DateTime, Utc};
use duckdb::core::LogicalTypeId;
use duckdb::vtab::Value;

use bazof::{KeyPredicate, KeyType, KeyValue};

/// An argument value as the table functions read it: the C API v1 [`Value`] of the
/// duckdb crate, or a C API v2 value (the pushdown scan, `capi_v2`).
pub(crate) trait ArgValue: Sized + std::fmt::Display {
    /// Whether it is SQL `NULL`.
    fn is_null(&self) -> bool;
    /// Its type.
    fn logical_type_id(&self) -> LogicalTypeId;
    /// Its elements, if it is a list.
    fn to_list(&self) -> Option<Vec<Self>>;
}

impl ArgValue for Value {
    fn is_null(&self) -> bool {
        Value::is_null(self)
    }
    fn logical_type_id(&self) -> LogicalTypeId {
        Value::logical_type_id(self)
    }
    fn to_list(&self) -> Option<Vec<Self>> {
        Value::to_list(self)
    }
}

/// A SQL-facing argument error (becomes the DuckDB error message).
pub(crate) type ArgResult<T> = Result<T, String>;

/// Prefixes an argument error with the table function's name.
pub(crate) fn in_function<T>(func: &str, r: ArgResult<T>) -> ArgResult<T> {
    r.map_err(|e| format!("{func}: {e}"))
}

/// DuckDB's name of a logical type, for error messages.
pub(crate) fn type_name(id: LogicalTypeId) -> String {
    use LogicalTypeId as T;
    match id {
        T::Boolean => "BOOLEAN".into(),
        T::Tinyint => "TINYINT".into(),
        T::Smallint => "SMALLINT".into(),
        T::Integer | T::IntegerLiteral => "INTEGER".into(),
        T::Bigint => "BIGINT".into(),
        T::UTinyint => "UTINYINT".into(),
        T::USmallint => "USMALLINT".into(),
        T::UInteger => "UINTEGER".into(),
        T::UBigint => "UBIGINT".into(),
        T::Hugeint => "HUGEINT".into(),
        T::UHugeint => "UHUGEINT".into(),
        T::Float => "FLOAT".into(),
        T::Double => "DOUBLE".into(),
        T::Decimal => "DECIMAL".into(),
        T::Varchar | T::StringLiteral => "VARCHAR".into(),
        T::Blob => "BLOB".into(),
        T::Date => "DATE".into(),
        T::Time | T::TimeNs => "TIME".into(),
        T::TimeTZ => "TIMETZ".into(),
        T::Timestamp => "TIMESTAMP".into(),
        T::TimestampS => "TIMESTAMP_S".into(),
        T::TimestampMs => "TIMESTAMP_MS".into(),
        T::TimestampNs => "TIMESTAMP_NS".into(),
        T::TimestampTZ => "TIMESTAMPTZ".into(),
        T::Interval => "INTERVAL".into(),
        T::List => "LIST".into(),
        T::Array => "ARRAY".into(),
        T::Struct => "STRUCT".into(),
        T::Map => "MAP".into(),
        T::Uuid => "UUID".into(),
        other => format!("{other:?}").to_uppercase(),
    }
}

/// Reads a table path argument (it must not be NULL).
pub(crate) fn path(value: &impl ArgValue) -> ArgResult<String> {
    if value.is_null() {
        return Err("the table path must not be NULL".into());
    }
    Ok(value.to_string())
}

/// Reads an `as_of` argument. SQL `NULL` means "current" (no event-time limit).
pub(crate) fn as_of(value: &impl ArgValue) -> ArgResult<Option<DateTime<Utc>>> {
    time("as_of", value)
}

/// Reads a time argument named `name`. SQL `NULL` means none (no limit).
pub(crate) fn time(name: &str, value: &impl ArgValue) -> ArgResult<Option<DateTime<Utc>>> {
    if value.is_null() {
        return Ok(None);
    }
    let id = value.logical_type_id();
    match id {
        LogicalTypeId::Timestamp
        | LogicalTypeId::TimestampS
        | LogicalTypeId::TimestampMs
        | LogicalTypeId::TimestampNs
        | LogicalTypeId::TimestampTZ
        | LogicalTypeId::Date
        | LogicalTypeId::Varchar
        | LogicalTypeId::StringLiteral => {
            // DuckDB renders TIMESTAMP as `2024-03-15 14:30:00`, TIMESTAMPTZ as
            // `2024-03-15 14:30:00+00` (UTC) and DATE as `2024-03-15`; all are ISO-8601.
            let text = value.to_string();
            parse_time(&text).ok_or_else(|| {
                format!(
                    "{name} '{text}' is not a timestamp; use TIMESTAMP '2024-03-15 14:30:00', \
                     a DATE, or an ISO-8601 string such as '2024-03-15T14:30:00Z'"
                )
            })
        }
        other => Err(format!(
            "{name} must be a TIMESTAMP, TIMESTAMPTZ, DATE or ISO-8601 VARCHAR, not {}",
            type_name(other)
        )),
    }
}

/// Parses a time literal in any form [`bazof::time`] accepts; DuckDB's `infinity` is
/// the open end ("current"), its `-infinity` the earliest instant (before any event).
pub(crate) fn parse_time(text: &str) -> Option<Option<DateTime<Utc>>> {
    let s = text.trim();
    if s.eq_ignore_ascii_case("infinity") || s.eq_ignore_ascii_case("+infinity") {
        return Some(None);
    }
    if s.eq_ignore_ascii_case("-infinity") {
        return Some(Some(DateTime::<Utc>::MIN_UTC));
    }
    bazof::time::parse(s).ok().map(Some)
}

/// Whether a DuckDB value of this type is an integer.
fn is_integer(id: LogicalTypeId) -> bool {
    matches!(
        id,
        LogicalTypeId::Tinyint
            | LogicalTypeId::Smallint
            | LogicalTypeId::Integer
            | LogicalTypeId::IntegerLiteral
            | LogicalTypeId::Bigint
            | LogicalTypeId::UTinyint
            | LogicalTypeId::USmallint
            | LogicalTypeId::UInteger
            | LogicalTypeId::UBigint
            | LogicalTypeId::Hugeint
    )
}

/// Whether a DuckDB value of this type is a string.
fn is_string(id: LogicalTypeId) -> bool {
    matches!(id, LogicalTypeId::Varchar | LogicalTypeId::StringLiteral)
}

/// Reads `snapshot => N` (a positive commit number).
pub(crate) fn snapshot(value: &impl ArgValue) -> ArgResult<Option<u64>> {
    commit("snapshot", value)
}

/// Reads a commit-number argument named `name`.
pub(crate) fn commit(name: &str, value: &impl ArgValue) -> ArgResult<Option<u64>> {
    if value.is_null() {
        return Ok(None);
    }
    let id = value.logical_type_id();
    let n = match id {
        id if is_integer(id) || is_string(id) => value.to_string().trim().parse::<i128>().ok(),
        other => {
            return Err(format!(
                "{name} must be a commit number (BIGINT), not {}",
                type_name(other)
            ))
        }
    };
    match n {
        Some(n) if n >= 1 && n <= u64::MAX as i128 => Ok(Some(n as u64)),
        _ => Err(format!(
            "{name} '{value}' is not a commit number (1, 2, 3, ...)"
        )),
    }
}

/// Reads `keys => [...]` into a key predicate for the table's key type: a list (or a
/// single value) of VARCHAR for a String key, of integers for an Int key. NULL
/// elements match no key. An empty list matches no key.
pub(crate) fn keys<V: ArgValue>(
    value: &V,
    key_type: KeyType,
    key_name: &str,
) -> ArgResult<Option<KeyPredicate>> {
    if value.is_null() {
        return Ok(None);
    }
    let items = match value.to_list() {
        Some(items) => items,
        None if value.logical_type_id() == LogicalTypeId::List => Vec::new(),
        None => {
            return Ok(Some(KeyPredicate::In(
                key_value(value, key_type, key_name)?.into_iter().collect(),
            )))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        out.extend(key_value(item, key_type, key_name)?);
    }
    Ok(Some(KeyPredicate::In(out)))
}

fn key_value(v: &impl ArgValue, key_type: KeyType, key_name: &str) -> ArgResult<Option<KeyValue>> {
    if v.is_null() {
        return Ok(None);
    }
    let id = v.logical_type_id();
    let (is_int, is_str) = (is_integer(id), is_string(id));
    match key_type {
        KeyType::String if is_str => Ok(Some(KeyValue::String(v.to_string()))),
        KeyType::Int if is_int => {
            let text = v.to_string();
            // A value outside BIGINT cannot be a key: it matches nothing.
            Ok(text.trim().parse::<i64>().ok().map(KeyValue::Int))
        }
        KeyType::String => Err(format!(
            "keys => [...] must hold VARCHAR values: the key column '{key_name}' is VARCHAR, got {}",
            type_name(id)
        )),
        KeyType::Int => Err(format!(
            "keys => [...] must hold integers: the key column '{key_name}' is BIGINT, got {}",
            type_name(id)
        )),
    }
}
