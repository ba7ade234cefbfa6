//! SPEC §9: snapshots written by bazof 0.2 (no `format_version`).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::time_format;
use crate::schema::{ColumnDef, ColumnType, KeyType, TableSchema};
use crate::Commit;

#[derive(Debug, Clone, Deserialize)]
struct LegacySchema {
    columns: Vec<LegacyColumn>,
}

#[derive(Debug, Clone, Deserialize)]
struct LegacyColumn {
    name: String,
    data_type: LegacyType,
    #[serde(default)]
    nullable: bool,
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum LegacyType {
    String,
    Int,
    Boolean,
    DateTime,
}

#[derive(Debug, Clone, Deserialize)]
struct LegacySegment {
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
    #[serde(with = "time_format")]
    start: DateTime<Utc>,
    #[serde(with = "time_format::option", default)]
    end: Option<DateTime<Utc>>,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    segments: Option<Vec<LegacySegment>>,
    #[serde(default)]
    delta: Option<Vec<LegacyDelta>>,
}

#[derive(Debug, Clone, Deserialize)]
struct LegacyDelta {
    file: String,
    #[serde(with = "time_format")]
    start: DateTime<Utc>,
    #[serde(with = "time_format")]
    #[allow(dead_code)]
    end: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawLegacySnapshot {
    schema: LegacySchema,
    segments: Vec<LegacySegment>,
}

/// A bazof 0.2 snapshot, read-only.
#[derive(Debug, Clone)]
pub struct LegacySnapshot {
    /// The snapshot number (`s{n}.json`).
    pub commit: Commit,
    /// The schema in bazof 1 terms: String key `key`, `event_time`, value
    /// columns in file order, all nullable (0.2 writers did not enforce it).
    pub table_schema: TableSchema,
    /// Nullability of each value column as the 0.2 snapshot declares it (what a 0.2
    /// writer such as `bazof gen` must enforce).
    pub declared_nullable: Vec<bool>,
    segments: Vec<LegacySegment>,
}

impl<'de> Deserialize<'de> for LegacySnapshot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawLegacySnapshot::deserialize(d)?;
        let columns = raw
            .schema
            .columns
            .iter()
            .map(|c| {
                let t = match c.data_type {
                    LegacyType::String => ColumnType::String,
                    LegacyType::Int => ColumnType::Int,
                    LegacyType::Boolean => ColumnType::Boolean,
                    LegacyType::DateTime => ColumnType::DateTime,
                };
                ColumnDef::new(c.name.clone(), t)
            })
            .collect();
        Ok(LegacySnapshot {
            commit: 0,
            table_schema: TableSchema::new(KeyType::String, columns),
            declared_nullable: raw.schema.columns.iter().map(|c| c.nullable).collect(),
            segments: raw.segments,
        })
    }
}

/// Which moment a legacy scan looks at.
#[derive(Debug, Clone, Copy)]
pub enum LegacyAsOf {
    /// Open-ended segments only.
    Current,
    /// Segments whose `[start, end]` (both inclusive) contain the time.
    EventTime(DateTime<Utc>),
}

impl LegacySnapshot {
    pub(crate) fn with_commit(mut self, commit: Commit) -> Self {
        self.commit = commit;
        self
    }

    /// Data files in bazof 0.2's precedence order: for each top-level segment, child
    /// segments in range first (recursively), then the segment's deltas whose start is
    /// `<= as_of` (newest start first), then the segment's base if the segment is in range.
    pub fn data_files(&self, as_of: LegacyAsOf) -> Vec<String> {
        self.segments
            .iter()
            .flat_map(|s| s.data_files(as_of))
            .collect()
    }

    /// Every file the snapshot names.
    pub fn all_files(&self) -> Vec<String> {
        fn walk(s: &LegacySegment, out: &mut Vec<String>) {
            out.extend(s.file.iter().cloned());
            out.extend(s.delta.iter().flatten().map(|d| d.file.clone()));
            for c in s.segments.iter().flatten() {
                walk(c, out);
            }
        }
        let mut out = Vec::new();
        for s in &self.segments {
            walk(s, &mut out);
        }
        out
    }
}

impl LegacySegment {
    fn in_range(&self, as_of: LegacyAsOf) -> bool {
        match as_of {
            LegacyAsOf::Current => self.end.is_none(),
            LegacyAsOf::EventTime(t) => self.start <= t && self.end.is_none_or(|e| t <= e),
        }
    }

    fn data_files(&self, as_of: LegacyAsOf) -> Vec<String> {
        let mut files = Vec::new();
        for child in self.segments.iter().flatten() {
            if child.in_range(as_of) {
                files.extend(child.data_files(as_of));
            }
        }
        let mut deltas: Vec<&LegacyDelta> = self
            .delta
            .iter()
            .flatten()
            .filter(|d| match as_of {
                LegacyAsOf::Current => true,
                LegacyAsOf::EventTime(t) => d.start <= t,
            })
            .collect();
        deltas.sort_by_key(|d| std::cmp::Reverse(d.start));
        files.extend(deltas.into_iter().map(|d| d.file.clone()));
        if self.in_range(as_of) {
            files.extend(self.file.iter().cloned());
        }
        files
    }
}
