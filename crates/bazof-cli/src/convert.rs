//! Turning input values into table columns: one set of rules for every input format.
//!
//! A reader (CSV, NDJSON, Parquet) hands each value to a
//! [`BatchBuilder`](crate::batches::BatchBuilder) as a [`Cell`]; [`push_cell`] checks it
//! against its column's [`Target`] and appends it, or says why not. Text (a CSV field, a
//! JSON string, a Parquet string) follows the CSV rules (README, "CSV import: what is
//! stored"); typed values (JSON numbers, Parquet columns) are stored only where they fit
//! exactly: nothing an import accepts is lost or changed.

use std::sync::Arc;

use arrow::array::AsArray;
use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use bazof::{ColumnType, KeyType};

use crate::forms::{
    boolean_form, canonical_int, date_form, datetime_form, exact_float, whole_micros,
};
use crate::forms::{parse_bool, parse_float};
use crate::infer::SAMPLE_ROWS;
use crate::timefmt::{self, parse_date, parse_timestamp};

/// The largest integer magnitude a 64-bit float holds exactly (2^53).
const EXACT_FLOAT_INT: i64 = 1 << 53;
/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// One input value, as a reader found it.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// No value: an empty CSV field or a `--null` string, JSON null, a Parquet null.
    Null,
    /// Text, parsed by the CSV rules: a CSV field, a JSON string, a Parquet string.
    Text(&'a str),
    /// A 64-bit integer (JSON integer, Parquet integer column).
    Int(i64),
    /// A 64-bit float (JSON number with a fraction or exponent, Parquet float column).
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An instant, microseconds since the epoch (UTC).
    Micros(i64),
    /// A calendar date, days since 1970-01-01.
    Days(i32),
}

/// Where a batch column comes from and how to parse it.
#[derive(Debug, Clone)]
pub enum Target {
    /// The key column.
    Key(KeyType),
    /// The event-time column.
    EventTime,
    /// A value column.
    Value(ColumnType),
    /// The tombstone marker.
    Deleted,
}

#[cfg(test)]
impl Target {
    /// Every kind of output column, for the readers' tests.
    pub(crate) const ALL: [Target; 10] = [
        Target::Key(KeyType::String),
        Target::Key(KeyType::Int),
        Target::EventTime,
        Target::Deleted,
        Target::Value(ColumnType::String),
        Target::Value(ColumnType::Int),
        Target::Value(ColumnType::Float),
        Target::Value(ColumnType::Boolean),
        Target::Value(ColumnType::DateTime),
        Target::Value(ColumnType::Date),
    ];
}

/// One output column: its name in the batch, the CSV column it comes from, its type.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    /// Name in the batch (table column name or [`bazof::DELETED_COLUMN`]).
    pub name: String,
    /// Index of the CSV column.
    pub csv_index: usize,
    /// Target.
    pub target: Target,
    /// Whether the type was inferred from a sample: then every value must have the form
    /// the sample had ([`crate::forms`]), or the import is refused at that line.
    pub inferred: bool,
}

/// An Arrow builder for one output column.
pub enum Builder {
    /// String.
    Str(StringBuilder),
    /// Int.
    Int(Int64Builder),
    /// Float.
    Float(Float64Builder),
    /// Boolean.
    Bool(BooleanBuilder),
    /// Timestamp.
    Time(TimestampMicrosecondBuilder),
    /// Date.
    Date(Date32Builder),
}

impl Builder {
    pub(crate) fn new(target: &Target) -> Builder {
        Builder::with_capacity(target, 1024, 1024)
    }

    /// A builder with room for `rows` values (and `bytes` of string data), so that a
    /// block's column grows without copying itself.
    pub(crate) fn with_capacity(target: &Target, rows: usize, bytes: usize) -> Builder {
        match target {
            Target::Key(KeyType::String) | Target::Value(ColumnType::String) => {
                Builder::Str(StringBuilder::with_capacity(rows, bytes))
            }
            Target::Key(KeyType::Int) | Target::Value(ColumnType::Int) => {
                Builder::Int(Int64Builder::with_capacity(rows))
            }
            Target::Value(ColumnType::Float) => Builder::Float(Float64Builder::with_capacity(rows)),
            Target::Value(ColumnType::Boolean) | Target::Deleted => {
                Builder::Bool(BooleanBuilder::with_capacity(rows))
            }
            Target::EventTime | Target::Value(ColumnType::DateTime) => {
                Builder::Time(TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"))
            }
            Target::Value(ColumnType::Date) => Builder::Date(Date32Builder::with_capacity(rows)),
        }
    }

    fn append_null(&mut self) {
        match self {
            Builder::Str(b) => b.append_null(),
            Builder::Int(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Time(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
        }
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
        }
    }
}

fn type_name(target: &Target) -> &'static str {
    match target {
        Target::Key(KeyType::Int) | Target::Value(ColumnType::Int) => "an Int (64-bit integer)",
        Target::Key(KeyType::String) | Target::Value(ColumnType::String) => "a String",
        Target::Value(ColumnType::Float) => "a Float",
        Target::Value(ColumnType::Boolean) | Target::Deleted => "a Boolean (true/false)",
        Target::Value(ColumnType::Date) => "a Date (YYYY-MM-DD)",
        Target::EventTime | Target::Value(ColumnType::DateTime) => "a timestamp",
    }
}

/// `s` without surrounding whitespace; a field that starts and ends with a visible ASCII
/// character (nearly every one) is returned as it is, without a look at the rest.
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// Appends a non-empty field that is plainly a value of the column's type, as [`push`]
/// would; false, with nothing appended, for anything else (which then goes through
/// [`push`] for its exact treatment or error).
#[inline(always)]
fn push_common(b: &mut Builder, inferred: bool, raw: &str) -> bool {
    let v = if inferred { raw } else { trim(raw) };
    match b {
        Builder::Str(b) => b.append_value(raw),
        Builder::Int(b) => match canonical_int(raw) {
            Some(i) => b.append_value(i),
            None => return false,
        },
        Builder::Float(b) => match (if inferred { exact_float } else { parse_float })(v) {
            Some(x) => b.append_value(x),
            None => return false,
        },
        Builder::Bool(b) => match (if inferred { boolean_form } else { parse_bool })(v) {
            Some(x) => b.append_value(x),
            None => return false,
        },
        Builder::Time(b) => match bazof::time::parse_common_micros(v) {
            Some(us) => b.append_value(us),
            None => return false,
        },
        Builder::Date(_) => return false,
    }
    true
}

/// Appends one raw field; `Err` holds the reason (without position).
fn push(
    b: &mut Builder,
    target: &Target,
    inferred: bool,
    raw: &str,
) -> std::result::Result<(), String> {
    let bad = |why: &str| {
        let hint = match target {
            Target::EventTime | Target::Value(ColumnType::DateTime) => {
                format!(" ({})", timefmt::ACCEPTED)
            }
            _ => String::new(),
        };
        Err(format!("'{raw}' is not {}{why}{hint}", type_name(target)))
    };
    // Spaces around a value of a given (not inferred) type other than String and Int are
    // not part of it; an inferred column holds only values in their exact form.
    let v = if inferred { raw } else { trim(raw) };
    // Empty text is an empty String (a JSON ""); readers turn empty CSV fields into nulls.
    if raw.is_empty() && matches!(target, Target::Key(_)) {
        return Err("the key is empty".into());
    }
    if (raw.is_empty() && !matches!(b, Builder::Str(_)))
        || (v.is_empty() && !matches!(b, Builder::Str(_) | Builder::Int(_)))
    {
        return match (b, target) {
            (_, Target::Key(_)) => Err("the key is empty".into()),
            (_, Target::EventTime) => Err("the event time is empty".into()),
            (Builder::Bool(b), Target::Deleted) => {
                b.append_value(false);
                Ok(())
            }
            (b, _) => {
                b.append_null();
                Ok(())
            }
        };
    }
    match b {
        Builder::Str(b) => b.append_value(raw),
        Builder::Int(b) => match canonical_int(raw) {
            Some(i) => b.append_value(i),
            None => {
                return match raw.trim().trim_start_matches('+').parse::<i64>() {
                    Ok(i) => Err(format!(
                        "'{raw}' is not an Int written canonically (an optional '-' and \
                         digits, without a leading zero, '+' or spaces): it would read back as {i}"
                    )),
                    Err(_) => bad(""),
                }
            }
        },
        Builder::Float(b) => match (if inferred { exact_float } else { parse_float })(v) {
            Some(x) => b.append_value(x),
            None if inferred && parse_float(v).is_some() => {
                return bad(" in a form that reads back as written")
            }
            None => return bad(""),
        },
        Builder::Bool(b) => match (if inferred { boolean_form } else { parse_bool })(v) {
            Some(x) => b.append_value(x),
            None => return bad(""),
        },
        Builder::Time(b) => {
            let parse = if inferred {
                datetime_form
            } else {
                parse_timestamp
            };
            match parse(v) {
                Some(t) if whole_micros(&t) => b.append_value(t.timestamp_micros()),
                Some(_) => return bad(" to the microsecond (finer digits would be lost)"),
                None => return bad(""),
            }
        }
        Builder::Date(b) => match (if inferred { date_form } else { parse_date })(v) {
            Some(d) => b.append_value(timefmt::date_to_days(d)),
            None => return bad(""),
        },
    }
    Ok(())
}

/// The shortest text that reads back as the float `x` (as JSON writes it).
fn float_text(x: f64) -> String {
    serde_json::Number::from_f64(x).map_or_else(|| x.to_string(), |n| n.to_string())
}

/// A date as `YYYY-MM-DD`.
fn day_text(days: i32) -> String {
    chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0).map_or_else(
        || format!("day {days} since 1970-01-01"),
        |t| t.date_naive().to_string(),
    )
}

/// Appends one cell; `Err` holds the reason (without position).
#[inline]
pub fn push_cell(
    b: &mut Builder,
    target: &Target,
    inferred: bool,
    cell: Cell<'_>,
) -> std::result::Result<(), String> {
    // Most fields of an import are plain values of the column's type: this small part
    // is inlined into the readers' loops, the rest is not.
    if let Cell::Text(raw) = cell {
        if !raw.is_empty() && push_common(b, inferred, raw) {
            return Ok(());
        }
    }
    push_any(b, target, inferred, cell)
}

/// [`push_cell`] for any cell.
fn push_any(
    b: &mut Builder,
    target: &Target,
    inferred: bool,
    cell: Cell<'_>,
) -> std::result::Result<(), String> {
    let refuse = |shown: String, what: &str| {
        Err(format!(
            "{shown} ({what}) cannot be stored as {}",
            type_name(target)
        ))
    };
    match cell {
        Cell::Null => match (b, target) {
            (_, Target::Key(_)) => Err("the key is empty (null)".into()),
            (_, Target::EventTime) => Err("the event time is empty (null)".into()),
            (Builder::Bool(b), Target::Deleted) => {
                b.append_value(false);
                Ok(())
            }
            (b, _) => {
                b.append_null();
                Ok(())
            }
        },
        Cell::Text(raw) => push(b, target, inferred, raw),
        Cell::Int(i) => match b {
            Builder::Int(b) => {
                b.append_value(i);
                Ok(())
            }
            Builder::Float(b) if i.abs() <= EXACT_FLOAT_INT => {
                b.append_value(i as f64);
                Ok(())
            }
            Builder::Float(_) => refuse(
                i.to_string(),
                "an integer that a 64-bit float does not hold exactly",
            ),
            Builder::Str(b) => {
                b.append_value(i.to_string());
                Ok(())
            }
            _ => refuse(i.to_string(), "an integer"),
        },
        Cell::Float(x) => match b {
            Builder::Float(b) => {
                b.append_value(x);
                Ok(())
            }
            Builder::Str(b) => {
                b.append_value(float_text(x));
                Ok(())
            }
            _ => refuse(float_text(x), "a float"),
        },
        Cell::Bool(v) => match b {
            Builder::Bool(b) => {
                b.append_value(v);
                Ok(())
            }
            Builder::Str(b) => {
                b.append_value(if v { "true" } else { "false" });
                Ok(())
            }
            _ => refuse(v.to_string(), "a boolean"),
        },
        Cell::Micros(t) => match b {
            Builder::Time(b) => {
                b.append_value(t);
                Ok(())
            }
            Builder::Str(b) => {
                b.append_value(timefmt::format_opt(
                    chrono::DateTime::from_timestamp_micros(t),
                ));
                Ok(())
            }
            _ => refuse(
                timefmt::format_opt(chrono::DateTime::from_timestamp_micros(t)),
                "a timestamp",
            ),
        },
        Cell::Days(d) => match b {
            Builder::Date(b) => {
                b.append_value(d);
                Ok(())
            }
            Builder::Time(b) => {
                b.append_value(i64::from(d) * DAY_MICROS);
                Ok(())
            }
            Builder::Str(b) => {
                b.append_value(day_text(d));
                Ok(())
            }
            _ => refuse(day_text(d), "a date"),
        },
    }
}

/// The reason a value was refused, with the `--schema` hint when the type was inferred.
pub fn with_hint(map: &ColumnMap, column: &str, reason: &str) -> String {
    if map.inferred {
        format!(
            "{reason}; the type was inferred from the first {SAMPLE_ROWS} rows of each \
             file: give it with --schema '{column}:string' (or the right type)"
        )
    } else {
        reason.to_string()
    }
}

/// An input column (Parquet's) that already holds the output column's type, taken as it
/// is: exactly what [`push_cell`] would build from its cells one by one. `None` when
/// any cell needs converting or refusing: another type, or a null (or an empty string)
/// where the key, event time or deleted column needs a value.
pub fn taken_whole(array: &ArrayRef, target: &Target) -> Option<ArrayRef> {
    let required = matches!(target, Target::Key(_) | Target::EventTime | Target::Deleted);
    if required && array.null_count() > 0 {
        return None;
    }
    match (target, array.data_type()) {
        (Target::Key(KeyType::String), DataType::Utf8) => {
            let offsets = array.as_string::<i32>().offsets();
            let empty = offsets.windows(2).any(|w| w[0] == w[1]);
            (!empty).then(|| array.clone())
        }
        (Target::Value(ColumnType::String), DataType::Utf8)
        | (Target::Key(KeyType::Int) | Target::Value(ColumnType::Int), DataType::Int64)
        | (Target::Value(ColumnType::Float), DataType::Float64)
        | (Target::Value(ColumnType::Boolean) | Target::Deleted, DataType::Boolean)
        | (Target::Value(ColumnType::Date), DataType::Date32) => Some(array.clone()),
        (
            Target::EventTime | Target::Value(ColumnType::DateTime),
            DataType::Timestamp(TimeUnit::Microsecond, _),
        ) => {
            let utc = array.as_primitive::<TimestampMicrosecondType>().clone();
            Some(Arc::new(utc.with_timezone("UTC")))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Where the shortcut for plain fields takes a field, it appends what the full
        /// treatment appends.
        #[test]
        fn plain_fields_as_push_has_them(
            target in 0..Target::ALL.len(),
            inferred in any::<bool>(),
            raw in "( |\\t)?(-?[0-9]{1,4}(\\.[0-9]{0,3})?|007|1e3|true|FALSE|y|n|k1|2024-02-29( |T)12:30:00(\\.5|\\.1234567)?(Z|\\+02| UTC)?|2023-02-29 00:00:00)( )?",
        ) {
            let target = &Target::ALL[target];
            let (mut fast, mut full) = (Builder::new(target), Builder::new(target));
            if push_common(&mut fast, inferred, &raw) {
                prop_assert_eq!(push(&mut full, target, inferred, &raw), Ok(()), "{}", raw);
                prop_assert_eq!(fast.finish().to_data(), full.finish().to_data(), "{}", raw);
            }
        }
    }
}
