//! SPEC §2.1 and §7 for writers with an Arrow input: open or create the table, check
//! the input's columns against its schema once, up front, then stream batches into one
//! commit. The Polars and DuckDB doors write through this.

use arrow::datatypes::Schema;

use crate::commit::CommitWriter;
use crate::error::{Error, Result};
use crate::location::Location;
use crate::schema::TableSchema;
use crate::table::Table;

/// How input columns map onto a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// The key column.
    pub key: String,
    /// The event-time column.
    pub event_time: String,
    /// A Boolean column marking deletions (tombstones), if any.
    pub deleted: Option<String>,
    /// SPEC §2.1: add input columns the table lacks (nullable) and widen `Int`
    /// columns to `Float` for `Float` input. Off: such input is refused, naming the columns.
    pub evolve: bool,
}

impl WriteOptions {
    /// Key and event-time column names; no deletion marker, no evolution.
    pub fn new(key: impl Into<String>, event_time: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            event_time: event_time.into(),
            deleted: None,
            evolve: false,
        }
    }

    /// Sets the deletion-marker column.
    #[must_use]
    pub fn with_deleted(mut self, column: impl Into<String>) -> Self {
        self.deleted = Some(column.into());
        self
    }

    /// Allows schema evolution (SPEC §2.1).
    #[must_use]
    pub fn with_evolve(mut self, evolve: bool) -> Self {
        self.evolve = evolve;
        self
    }
}

impl Table {
    /// Starts one commit of rows with the columns of `input` to the table at `location`,
    /// creating the table (with a schema taken from `input`) if there is none. The input
    /// schema is checked here, before anything is written: missing key or event-time
    /// column, unusable types, and (without [`WriteOptions::evolve`]) columns the table
    /// lacks are errors naming the columns. Every batch given to the writer must have
    /// these columns.
    pub async fn begin_write(
        location: &str,
        input: &Schema,
        options: &WriteOptions,
    ) -> Result<CommitWriter> {
        let loc = Location::parse(location)?;
        let display = loc.display.clone();
        let err = |reason: String| Error::Schema {
            table: display.clone(),
            reason,
        };
        let deleted = options.deleted.as_deref().unwrap_or(crate::DELETED_COLUMN);
        if let Ok(f) = input.field_with_name(deleted) {
            if f.data_type() != &arrow::datatypes::DataType::Boolean {
                return Err(err(format!(
                    "the deletion column '{deleted}' has type {}; it must be Boolean",
                    f.data_type()
                )));
            }
        } else if options.deleted.is_some() {
            return Err(err(format!(
                "the deletion column '{deleted}' is not in the input"
            )));
        }
        let wanted = TableSchema::from_input(input, &options.key, &options.event_time, &[deleted])
            .map_err(&err)?;
        let writer = match Table::open_at(loc.clone()).await {
            Ok(table) => {
                let writer = table.begin_commit().await?;
                let current = writer.schema().clone();
                if current.key != options.key || current.event_time != options.event_time {
                    return Err(err(format!(
                        "the table's key is '{}' and its event time '{}', not '{}' and '{}'",
                        current.key, current.event_time, options.key, options.event_time
                    )));
                }
                if current.key_type != wanted.key_type {
                    return Err(err(format!(
                        "the key column '{}' is {:?} in the table but {} in the input",
                        current.key,
                        current.key_type,
                        input
                            .field_with_name(&options.key)
                            .map(|f| f.data_type().to_string())
                            .unwrap_or_default()
                    )));
                }
                let next = current.evolve_for(input, &[deleted]).map_err(&err)?;
                if next == current {
                    writer
                } else if options.evolve {
                    writer.evolve(next)?
                } else {
                    return Err(err(evolution_refused(&current, &next)));
                }
            }
            Err(Error::NotATable { .. }) => {
                Table::create_at(loc, wanted.clone())
                    .await?
                    .begin_commit()
                    .await?
            }
            Err(e) => return Err(e),
        };
        // Every input column must fit the (possibly evolved) table type.
        let schema = writer.schema();
        for f in input.fields() {
            if let Some(target) = schema.arrow_field(f.name()) {
                crate::commit::check_cast(f.data_type(), target.data_type())
                    .map_err(|reason| err(format!("column '{}': {reason}", f.name())))?;
            }
        }
        Ok(writer.with_deleted_column(deleted))
    }
}

/// What an input would change in the schema, for the error when evolution is off.
fn evolution_refused(current: &TableSchema, next: &TableSchema) -> String {
    let added: Vec<&str> = next.columns[current.columns.len()..]
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let widened: Vec<&str> = current
        .columns
        .iter()
        .zip(&next.columns)
        .filter(|(a, b)| a.data_type != b.data_type)
        .map(|(a, _)| a.name.as_str())
        .collect();
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!(
            "the input has columns the table lacks: '{}'",
            added.join("', '")
        ));
    }
    if !widened.is_empty() {
        parts.push(format!(
            "the input has Float values for Int column{} '{}'",
            if widened.len() > 1 { "s" } else { "" },
            widened.join("', '")
        ));
    }
    format!(
        "{}; allow schema evolution to add/widen them (SPEC §2.1), or leave them out of the input",
        parts.join(", and ")
    )
}
