//! Reading `bazof_scan`'s arguments: `as_of` (TIMESTAMP, TIMESTAMPTZ, DATE or an
//! ISO-8601 VARCHAR), `snapshot` and `keys`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use duckdb::core::LogicalTypeId;
use duckdb::vtab::Value;

use bazof::{KeyPredicate, KeyType, KeyValue};

/// A SQL-facing argument error (becomes the DuckDB error message).
pub(crate) type ArgResult<T> = Result<T, String>;

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

/// Reads an `as_of` argument. SQL `NULL` means "current" (no event-time limit).
pub(crate) fn as_of(value: &Value) -> ArgResult<Option<DateTime<Utc>>> {
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
                    "bazof_scan: as_of '{text}' is not a timestamp; use TIMESTAMP '2024-03-15 14:30:00', \
                     a DATE, or an ISO-8601 string such as '2024-03-15T14:30:00Z'"
                )
            })
        }
        other => Err(format!(
            "bazof_scan: as_of must be a TIMESTAMP, TIMESTAMPTZ, DATE or ISO-8601 VARCHAR, not {}",
            type_name(other)
        )),
    }
}

/// Parses ISO-8601 / RFC 3339 text as DuckDB and people write it: with `T` or a
/// space, optional fraction, optional offset (`Z`, `+02:00`, `+0200`, `+02`);
/// without an offset the time is UTC; a bare date is its midnight (UTC).
/// `infinity` is the open end ("current").
pub(crate) fn parse_time(text: &str) -> Option<Option<DateTime<Utc>>> {
    let s = text.trim();
    if s.eq_ignore_ascii_case("infinity") || s.eq_ignore_ascii_case("+infinity") {
        return Some(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(Some(t.with_timezone(&Utc)));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M%#z",
        "%Y-%m-%dT%H:%M%#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(Some(t.with_timezone(&Utc)));
        }
    }
    let naive = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(Some(t.and_utc()));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc()))
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
pub(crate) fn snapshot(value: &Value) -> ArgResult<Option<u64>> {
    if value.is_null() {
        return Ok(None);
    }
    let id = value.logical_type_id();
    let n = match id {
        id if is_integer(id) || is_string(id) => value.to_string().trim().parse::<i128>().ok(),
        other => {
            return Err(format!(
                "bazof_scan: snapshot must be a commit number (BIGINT), not {}",
                type_name(other)
            ))
        }
    };
    match n {
        Some(n) if n >= 1 && n <= u64::MAX as i128 => Ok(Some(n as u64)),
        _ => Err(format!(
            "bazof_scan: snapshot '{value}' is not a commit number (1, 2, 3, ...)"
        )),
    }
}

/// Reads `keys => [...]` into a key predicate for the table's key type: a list (or a
/// single value) of VARCHAR for a String key, of integers for an Int key. NULL
/// elements match no key. An empty list matches no key.
pub(crate) fn keys(
    value: &Value,
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

fn key_value(v: &Value, key_type: KeyType, key_name: &str) -> ArgResult<Option<KeyValue>> {
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
            "bazof_scan: keys => [...] must hold VARCHAR values: the key column '{key_name}' is VARCHAR, got {}",
            type_name(id)
        )),
        KeyType::Int => Err(format!(
            "bazof_scan: keys => [...] must hold integers: the key column '{key_name}' is BIGINT, got {}",
            type_name(id)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_time;
    use chrono::{TimeZone, Utc};

    #[test]
    fn parses_iso_forms() {
        let t = Utc.with_ymd_and_hms(2019, 1, 17, 10, 30, 0).single();
        for s in [
            "2019-01-17T10:30:00Z",
            "2019-01-17 10:30:00",
            "2019-01-17T10:30:00",
            "2019-01-17 10:30:00+00",
            "2019-01-17 12:30:00+02",
            "2019-01-17T12:30:00+02:00",
            "2019-01-17 10:30",
            "2019-01-17 10:30:00.000",
        ] {
            assert_eq!(parse_time(s), Some(t), "{s}");
        }
        assert_eq!(
            parse_time("2019-01-17"),
            Some(Utc.with_ymd_and_hms(2019, 1, 17, 0, 0, 0).single())
        );
        assert_eq!(parse_time("infinity"), Some(None));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2019-13-01"), None);
    }
}
