//! SPEC §3: snapshot files `s{n}.json`, one per commit, describing the whole table.

pub mod legacy;
mod time_format;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::schema::TableSchema;
use crate::Commit;

pub use legacy::LegacySnapshot;

/// The format version this crate writes.
pub const FORMAT_VERSION: u64 = 1;

/// A key value as it appears in metadata (min/max key) and in key predicates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyValue {
    /// An Int key.
    Int(i64),
    /// A String key.
    String(String),
}

impl std::fmt::Display for KeyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyValue::Int(v) => write!(f, "{v}"),
            KeyValue::String(v) => write!(f, "{v}"),
        }
    }
}

/// Whether a data file holds events (delta) or the resolved state at a segment start (base).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// Events of one or more commits.
    Delta,
    /// For every key, its winning event among events with `event_time < start`
    /// committed in commits `<= folds_through` (tombstones kept).
    Base,
}

/// One Parquet data file and the statistics that let readers skip it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFile {
    /// Path relative to the table root, `/`-separated.
    pub path: String,
    /// Base or delta.
    pub kind: FileKind,
    /// Number of rows.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Smallest event time in the file (absent when the file is empty).
    #[serde(with = "time_format::option", default)]
    pub min_event_time: Option<DateTime<Utc>>,
    /// Greatest event time in the file.
    #[serde(with = "time_format::option", default)]
    pub max_event_time: Option<DateTime<Utc>>,
    /// Smallest key.
    #[serde(default)]
    pub min_key: Option<KeyValue>,
    /// Greatest key.
    #[serde(default)]
    pub max_key: Option<KeyValue>,
    /// The commit that wrote the file.
    pub commit: Commit,
    /// Smallest `_bazof_commit` of its rows.
    pub min_commit: Commit,
    /// Greatest `_bazof_commit` of its rows.
    pub max_commit: Commit,
    /// Bases only: the event-time start of the segment whose state it holds.
    #[serde(
        with = "time_format::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub base_start: Option<DateTime<Utc>>,
    /// Bases only: the commit up to which it folds events in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folds_through: Option<Commit>,
}

/// A node of the segment tree: an event-time range `[start, end)` with its files.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Segment {
    /// Inclusive start; absent = the beginning of time.
    #[serde(with = "time_format::option", default)]
    pub start: Option<DateTime<Utc>>,
    /// Exclusive end; absent = open-ended.
    #[serde(with = "time_format::option", default)]
    pub end: Option<DateTime<Utc>>,
    /// The base file at `start`, if the segment has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<DataFile>,
    /// Delta files whose smallest event time lies in the segment.
    #[serde(default)]
    pub deltas: Vec<DataFile>,
    /// Child segments (sub-ranges). Readers treat their files like their parent's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
}

impl Segment {
    /// Whether an event time falls into `[start, end)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start.is_none_or(|s| s <= t) && self.end.is_none_or(|e| t < e)
    }

    /// Every data file of this segment and its children.
    pub fn files(&self) -> Vec<&DataFile> {
        let mut out: Vec<&DataFile> = self.base.iter().chain(self.deltas.iter()).collect();
        for child in &self.segments {
            out.extend(child.files());
        }
        out
    }
}

/// What one commit did, for `bazof log`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CommitSummary {
    /// `append`, `compact` ...
    pub operation: String,
    /// Event rows added by the commit (0 for a compaction).
    pub rows_added: u64,
    /// Paths of data files the commit wrote.
    pub files_added: Vec<String>,
    /// Smallest event time of the events the commit added.
    #[serde(with = "time_format::option", default)]
    pub min_event_time: Option<DateTime<Utc>>,
    /// Greatest event time of the events the commit added.
    #[serde(with = "time_format::option", default)]
    pub max_event_time: Option<DateTime<Utc>>,
}

/// One line of the commit log ([`crate::Table::log`]): what a commit did.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// The commit number.
    pub commit: Commit,
    /// Wall-clock time of the commit (absent for bazof 0.2 snapshots).
    pub commit_time: Option<DateTime<Utc>>,
    /// `append`, `compact`, ... (absent for bazof 0.2 snapshots, like the two below).
    pub operation: Option<String>,
    /// Event rows the commit added (absent for bazof 0.2 snapshots).
    pub rows_added: Option<u64>,
    /// Data files the commit wrote.
    pub files_added: Option<u64>,
    /// Smallest event time the commit added.
    pub min_event_time: Option<DateTime<Utc>>,
    /// Greatest event time the commit added.
    pub max_event_time: Option<DateTime<Utc>>,
}

/// A format-version-1 snapshot: the whole table at one commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u64,
    /// The commit number of this snapshot (`s{commit}.json`).
    pub commit: Commit,
    /// Wall-clock time of the commit.
    #[serde(with = "time_format")]
    pub commit_time: DateTime<Utc>,
    /// The table schema.
    pub schema: TableSchema,
    /// Top-level segments, ordered by start, non-overlapping, covering all time.
    pub segments: Vec<Segment>,
    /// What this commit did.
    pub summary: CommitSummary,
}

impl Snapshot {
    /// Every data file of the snapshot.
    pub fn files(&self) -> Vec<&DataFile> {
        self.segments.iter().flat_map(|s| s.files()).collect()
    }

    /// Serialises to pretty JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec_pretty(self)
    }

    /// Checks the invariants a reader relies on; returns a description of the first violation.
    pub fn validate(&self) -> Result<(), String> {
        self.schema.validate()?;
        match (self.segments.first(), self.segments.last()) {
            (Some(first), Some(last)) if first.start.is_none() && last.end.is_none() => {}
            _ => {
                return Err(
                    "segments must cover all event time: the first starts and the last ends open"
                        .into(),
                )
            }
        }
        let mut prev_end: Option<Option<DateTime<Utc>>> = None;
        for seg in &self.segments {
            if let Some(prev) = prev_end {
                if prev.is_none() || prev != seg.start {
                    return Err("top-level segments are not contiguous".into());
                }
            }
            if let (Some(s), Some(e)) = (seg.start, seg.end) {
                if s >= e {
                    return Err(format!("segment starting {s} ends before it starts"));
                }
            }
            prev_end = Some(seg.end);
        }
        for f in self.files() {
            if f.path.is_empty() || f.path.starts_with('/') || f.path.split('/').any(|p| p == "..")
            {
                return Err(format!(
                    "data file path '{}' is not a relative path inside the table",
                    f.path
                ));
            }
            if f.commit > self.commit || f.max_commit > self.commit || f.min_commit > f.max_commit {
                return Err(format!(
                    "data file '{}' claims commits after snapshot {}",
                    f.path, self.commit
                ));
            }
            if f.folds_through.is_some_and(|c| c > self.commit) {
                return Err(format!(
                    "base file '{}' folds commits after snapshot {}",
                    f.path, self.commit
                ));
            }
            if f.kind == FileKind::Base && (f.base_start.is_none() || f.folds_through.is_none()) {
                return Err(format!(
                    "base file '{}' lacks base_start or folds_through",
                    f.path
                ));
            }
        }
        Ok(())
    }
}

/// A parsed snapshot file: format version 1 or a legacy bazof 0.2 snapshot.
#[derive(Debug, Clone)]
pub enum AnySnapshot {
    /// Format version 1.
    V1(Snapshot),
    /// bazof 0.2 (no `format_version`).
    Legacy(LegacySnapshot),
}

impl AnySnapshot {
    /// Parses snapshot JSON; `Err` carries the reason for the caller to wrap.
    pub fn parse(bytes: &[u8], commit: Commit) -> Result<AnySnapshot, ParseError> {
        /// Only the version, to pick the type the whole file is then read into (one
        /// typed pass instead of a JSON tree converted afterwards: every scan reads a
        /// snapshot, a lookup spends a tenth of its time here).
        #[derive(Deserialize)]
        struct Probe {
            format_version: Option<serde_json::Value>,
        }
        let malformed = |e: serde_json::Error| ParseError::Malformed(e.to_string());
        let probe: Probe = serde_json::from_slice(bytes).map_err(malformed)?;
        match probe.format_version {
            None => {
                let legacy: LegacySnapshot = serde_json::from_slice(bytes).map_err(malformed)?;
                Ok(AnySnapshot::Legacy(legacy.with_commit(commit)))
            }
            Some(v) => match v.as_u64() {
                Some(FORMAT_VERSION) => {
                    let snap: Snapshot = serde_json::from_slice(bytes).map_err(malformed)?;
                    if snap.commit != commit {
                        return Err(ParseError::Malformed(format!(
                            "file is s{commit}.json but says commit {}",
                            snap.commit
                        )));
                    }
                    snap.validate().map_err(ParseError::Malformed)?;
                    Ok(AnySnapshot::V1(snap))
                }
                Some(other) => Err(ParseError::UnsupportedVersion(other)),
                None => Err(ParseError::Malformed(format!(
                    "format_version {v} is not a number"
                ))),
            },
        }
    }

    /// The schema of the table at this snapshot.
    pub fn schema(&self) -> &TableSchema {
        match self {
            AnySnapshot::V1(s) => &s.schema,
            AnySnapshot::Legacy(s) => &s.table_schema,
        }
    }

    /// The commit number.
    pub fn commit(&self) -> Commit {
        match self {
            AnySnapshot::V1(s) => s.commit,
            AnySnapshot::Legacy(s) => s.commit,
        }
    }

    /// Whether this is a read-only bazof 0.2 snapshot.
    pub fn is_legacy(&self) -> bool {
        matches!(self, AnySnapshot::Legacy(_))
    }

    /// Wall-clock time of the commit (bazof 0.2 did not record it).
    pub fn commit_time(&self) -> Option<DateTime<Utc>> {
        match self {
            AnySnapshot::V1(s) => Some(s.commit_time),
            AnySnapshot::Legacy(_) => None,
        }
    }

    /// What the commit did (bazof 0.2 did not record it).
    pub fn summary(&self) -> Option<&CommitSummary> {
        match self {
            AnySnapshot::V1(s) => Some(&s.summary),
            AnySnapshot::Legacy(_) => None,
        }
    }

    /// The segment tree (empty for bazof 0.2, whose files are listed by [`Self::data_paths`]).
    pub fn segments(&self) -> &[Segment] {
        match self {
            AnySnapshot::V1(s) => &s.segments,
            AnySnapshot::Legacy(_) => &[],
        }
    }

    /// Every data file with its statistics (empty for bazof 0.2, which kept none).
    pub fn files(&self) -> Vec<&DataFile> {
        match self {
            AnySnapshot::V1(s) => s.files(),
            AnySnapshot::Legacy(_) => Vec::new(),
        }
    }

    /// The paths of every data file the snapshot references, relative to the table root.
    pub fn data_paths(&self) -> Vec<String> {
        match self {
            AnySnapshot::V1(s) => s.files().iter().map(|f| f.path.clone()).collect(),
            AnySnapshot::Legacy(l) => l.all_files(),
        }
    }

    /// Rows stored in all data files, when the snapshot records them (an upper bound of
    /// the rows a scan returns).
    pub fn total_rows(&self) -> Option<u64> {
        match self {
            AnySnapshot::V1(s) => Some(s.files().iter().map(|f| f.rows).sum()),
            AnySnapshot::Legacy(_) => None,
        }
    }

    /// Bytes stored in all data files, when the snapshot records them.
    pub fn total_bytes(&self) -> Option<u64> {
        match self {
            AnySnapshot::V1(s) => Some(s.files().iter().map(|f| f.bytes).sum()),
            AnySnapshot::Legacy(_) => None,
        }
    }

    /// This snapshot as one line of the commit log.
    pub fn log_entry(&self) -> LogEntry {
        let summary = self.summary();
        LogEntry {
            commit: self.commit(),
            commit_time: self.commit_time(),
            operation: summary.map(|s| s.operation.clone()),
            rows_added: summary.map(|s| s.rows_added),
            files_added: summary.map(|s| s.files_added.len() as u64),
            min_event_time: summary.and_then(|s| s.min_event_time),
            max_event_time: summary.and_then(|s| s.max_event_time),
        }
    }

    /// Format version (0 for legacy).
    pub fn format_version(&self) -> u64 {
        match self {
            AnySnapshot::V1(s) => s.format_version,
            AnySnapshot::Legacy(_) => 0,
        }
    }
}

/// Why a snapshot file could not be parsed.
#[derive(Debug)]
pub enum ParseError {
    /// Not valid JSON or not of the expected shape.
    Malformed(String),
    /// A `format_version` this reader does not know.
    UnsupportedVersion(u64),
}
