//! SPEC §2: the table schema and its Arrow form.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

/// Reserved column: `true` marks a row as a deletion (tombstone).
pub const DELETED_COLUMN: &str = "_bazof_deleted";
/// Reserved column in data files: the commit that carried the event.
pub const COMMIT_COLUMN: &str = "_bazof_commit";
/// Reserved column in data files: the run of its commit that carried the event
/// (a commit written in several sorted runs numbers them 0, 1, ...; later runs win ties).
pub const SEQ_COLUMN: &str = "_bazof_seq";
/// Time zone of every timestamp bazof writes.
pub const UTC: &str = "UTC";

/// Type of the key column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    /// UTF-8 string key (Arrow Utf8).
    String,
    /// 64-bit signed integer key (Arrow Int64).
    Int,
}

/// Type of a value column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnType {
    /// UTF-8 string.
    String,
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Float,
    /// Boolean.
    Boolean,
    /// UTC timestamp, microseconds.
    DateTime,
    /// Calendar date (days since 1970-01-01).
    Date,
}

impl ColumnType {
    /// The Arrow type bazof uses for this column type.
    pub fn arrow_type(self) -> DataType {
        match self {
            ColumnType::String => DataType::Utf8,
            ColumnType::Int => DataType::Int64,
            ColumnType::Float => DataType::Float64,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::DateTime => timestamp_type(),
            ColumnType::Date => DataType::Date32,
        }
    }

    /// Parses a type name as written in `--schema` (case-insensitive, with common aliases).
    pub fn parse(name: &str) -> Option<ColumnType> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "string" | "str" | "utf8" | "varchar" | "text" => ColumnType::String,
            "int" | "int64" | "integer" | "bigint" | "long" => ColumnType::Int,
            "float" | "float64" | "double" | "real" => ColumnType::Float,
            "boolean" | "bool" => ColumnType::Boolean,
            "datetime" | "timestamp" | "timestamptz" => ColumnType::DateTime,
            "date" => ColumnType::Date,
            _ => return None,
        })
    }
}

impl KeyType {
    /// The Arrow type of the key column.
    pub fn arrow_type(self) -> DataType {
        match self {
            KeyType::String => DataType::Utf8,
            KeyType::Int => DataType::Int64,
        }
    }
}

/// The Arrow type of event times and DateTime values: microseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

/// One value column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    /// Column name.
    pub name: String,
    /// Column type.
    pub data_type: ColumnType,
    /// Whether the column may hold nulls.
    pub nullable: bool,
}

impl ColumnDef {
    /// A nullable column.
    pub fn new(name: impl Into<String>, data_type: ColumnType) -> Self {
        Self {
            name: name.into(),
            data_type,
            nullable: true,
        }
    }

    /// Sets nullability.
    #[must_use]
    pub fn with_nullable(mut self, nullable: bool) -> Self {
        self.nullable = nullable;
        self
    }
}

/// The schema of a table: key column, event-time column and value columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    /// Name of the key column.
    pub key: String,
    /// Type of the key column.
    pub key_type: KeyType,
    /// Name of the event-time column.
    pub event_time: String,
    /// Value columns in order.
    pub columns: Vec<ColumnDef>,
}

impl TableSchema {
    /// A schema with the default names `key` / `event_time` and the given value columns.
    pub fn new(key_type: KeyType, columns: Vec<ColumnDef>) -> Self {
        Self {
            key: "key".into(),
            key_type,
            event_time: "event_time".into(),
            columns,
        }
    }

    /// Checks names: non-empty, unique, not reserved.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for name in self.column_names() {
            if name.is_empty() {
                return Err("a column has an empty name".into());
            }
            if name.starts_with("_bazof_") {
                return Err(format!("column name '{name}' is reserved (prefix _bazof_)"));
            }
            if !seen.insert(name) {
                return Err(format!("column '{name}' appears twice in the schema"));
            }
        }
        Ok(())
    }

    /// All user-visible column names: key, event time, values.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        [self.key.as_str(), self.event_time.as_str()]
            .into_iter()
            .chain(self.columns.iter().map(|c| c.name.as_str()))
    }

    /// The value column with this name.
    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The Arrow schema a full scan returns.
    pub fn arrow_schema(&self) -> SchemaRef {
        let names: Vec<&str> = self.column_names().collect();
        self.arrow_projection(&names)
            .unwrap_or_else(|_| Arc::new(Schema::empty()))
    }

    /// The Arrow field of a user-visible column.
    pub fn arrow_field(&self, name: &str) -> Option<Field> {
        if name == self.key {
            Some(Field::new(name, self.key_type.arrow_type(), false))
        } else if name == self.event_time {
            Some(Field::new(name, timestamp_type(), false))
        } else {
            self.column(name)
                .map(|c| Field::new(name, c.data_type.arrow_type(), c.nullable))
        }
    }

    /// The Arrow schema of the given user-visible columns, in the given order.
    pub fn arrow_projection(&self, names: &[&str]) -> Result<SchemaRef, String> {
        let fields = names
            .iter()
            .map(|n| {
                self.arrow_field(n)
                    .ok_or_else(|| format!("unknown column '{n}'"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(Schema::new(fields)))
    }

    /// Positions of the value columns in [`TableSchema::file_schema`] (after the key and
    /// the event time).
    pub(crate) fn file_value_columns(&self) -> std::ops::Range<usize> {
        2..2 + self.columns.len()
    }

    /// The Arrow schema of a data file: user columns plus the reserved ones. Value
    /// columns are nullable in files (a tombstone carries no values); the table's
    /// nullability is enforced on the other rows when they are written.
    pub fn file_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .arrow_schema()
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| f.as_ref().clone().with_nullable(i >= 2))
            .collect();
        fields.push(Field::new(COMMIT_COLUMN, DataType::UInt64, false));
        fields.push(Field::new(SEQ_COLUMN, DataType::UInt32, false));
        fields.push(Field::new(DELETED_COLUMN, DataType::Boolean, false));
        Arc::new(Schema::new(fields))
    }
}

/// SPEC §2.1: the table type of an input column, for columns a commit adds.
pub fn column_type_of(t: &DataType) -> Option<ColumnType> {
    Some(match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::String,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => ColumnType::Int,
        DataType::Float32 | DataType::Float64 => ColumnType::Float,
        DataType::Boolean => ColumnType::Boolean,
        DataType::Timestamp(_, _) => ColumnType::DateTime,
        DataType::Date32 | DataType::Date64 => ColumnType::Date,
        _ => return None,
    })
}

/// SPEC §2: the key type of an input key column.
pub fn key_type_of(t: &DataType) -> Option<KeyType> {
    match column_type_of(t)? {
        ColumnType::String => Some(KeyType::String),
        ColumnType::Int => Some(KeyType::Int),
        _ => None,
    }
}

impl TableSchema {
    /// SPEC §2.1: checks that `next` may follow this schema in a later snapshot (value
    /// columns appended and nullable, `Int` widened to `Float`, nothing else). The error
    /// names the column and says what to do instead.
    pub fn check_evolution(&self, next: &TableSchema) -> Result<(), String> {
        next.validate()?;
        if next.key != self.key || next.key_type != self.key_type {
            return Err(format!(
                "the key column is '{}' ({:?}); it cannot become '{}' ({:?}): create a new table instead",
                self.key, self.key_type, next.key, next.key_type
            ));
        }
        if next.event_time != self.event_time {
            return Err(format!(
                "the event-time column is '{}'; it cannot become '{}': create a new table instead",
                self.event_time, next.event_time
            ));
        }
        for (i, old) in self.columns.iter().enumerate() {
            let Some(new) = next.columns.get(i).filter(|c| c.name == old.name) else {
                return Err(match next.column(&old.name) {
                    Some(_) => format!(
                        "column '{}' cannot move: value columns keep their order (choose the order in the scan instead)",
                        old.name
                    ),
                    None => format!(
                        "column '{}' cannot be dropped or renamed: keep writing it{} and add a new name as a new column, or scan the table and import the result into a new table",
                        old.name,
                        if old.nullable { " (nulls are fine)" } else { "" }
                    ),
                });
            };
            match (old.data_type, new.data_type) {
                (a, b) if a == b => {}
                (ColumnType::Int, ColumnType::Float) => {}
                (a, b) => {
                    return Err(format!(
                        "column '{}' cannot change type from {a:?} to {b:?} (only Int may widen to Float): write {a:?} values, or add a new column of type {b:?}",
                        old.name
                    ))
                }
            }
            if old.nullable != new.nullable {
                return Err(format!(
                    "column '{}' cannot change nullability from {} to {}: keep it as it is",
                    old.name, old.nullable, new.nullable
                ));
            }
        }
        if let Some(c) = next.columns[self.columns.len().min(next.columns.len())..]
            .iter()
            .find(|c| !c.nullable)
        {
            return Err(format!(
                "new column '{}' must be nullable: rows written before it existed have no value",
                c.name
            ));
        }
        Ok(())
    }

    /// SPEC §2.1: the schema a commit of input columns `input` leads to. Input columns
    /// the schema lacks are appended (type from the input, nullable), and a `Float` input
    /// for an `Int` column widens it; `reserved` input columns (e.g. a deletion marker)
    /// are skipped. Returns the schema unchanged when the input fits it.
    pub fn evolve_for(&self, input: &Schema, reserved: &[&str]) -> Result<TableSchema, String> {
        let mut next = self.clone();
        for f in input.fields() {
            let name = f.name().as_str();
            if reserved.contains(&name) || name == self.key || name == self.event_time {
                continue;
            }
            match next.columns.iter_mut().find(|c| c.name == name) {
                Some(c) => {
                    if c.data_type == ColumnType::Int
                        && column_type_of(f.data_type()) == Some(ColumnType::Float)
                    {
                        c.data_type = ColumnType::Float;
                    }
                }
                None => {
                    let t = column_type_of(f.data_type()).ok_or_else(|| {
                        format!(
                            "new column '{name}' has type {}, which bazof cannot store (String, Int, Float, Boolean, DateTime, Date): cast it first",
                            f.data_type()
                        )
                    })?;
                    next.columns.push(ColumnDef::new(name, t));
                }
            }
        }
        self.check_evolution(&next)?;
        Ok(next)
    }

    /// A schema for a new table from input columns: `key` and `event_time` name two of
    /// them, every other column (but `reserved` ones) is a nullable value column.
    pub fn from_input(
        input: &Schema,
        key: &str,
        event_time: &str,
        reserved: &[&str],
    ) -> Result<TableSchema, String> {
        let field = |name: &str, role: &str| {
            input.field_with_name(name).map_err(|_| {
                format!(
                    "the {role} column '{name}' is not in the input (it has {})",
                    input
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        };
        let k = field(key, "key")?;
        let key_type = key_type_of(k.data_type()).ok_or_else(|| {
            format!(
                "the key column '{key}' has type {}; a key is a string or an integer",
                k.data_type()
            )
        })?;
        let t = field(event_time, "event-time")?;
        if !matches!(
            t.data_type(),
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
        ) {
            return Err(format!(
                "the event-time column '{event_time}' has type {}; it must be a timestamp or a date",
                t.data_type()
            ));
        }
        let base = TableSchema {
            key: key.into(),
            key_type,
            event_time: event_time.into(),
            columns: Vec::new(),
        };
        base.evolve_for(input, reserved)
    }
}
