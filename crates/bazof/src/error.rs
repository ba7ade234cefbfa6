//! The one error type of the core crate.

use crate::Commit;

/// Result type of the bazof core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when creating, committing to or scanning a table.
///
/// Messages name the table, the file and the column involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The location string could not be turned into an object store.
    #[error("invalid table location '{location}': {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// Why it is not usable.
        reason: String,
    },
    /// No snapshot file exists at the location: it is not a bazof table.
    #[error("'{table}' is not a bazof table: no s1.json / version.txt found")]
    NotATable {
        /// The table location.
        table: String,
    },
    /// `Table::create` found an existing table.
    #[error("a bazof table already exists at '{table}'")]
    AlreadyExists {
        /// The table location.
        table: String,
    },
    /// A requested snapshot does not exist.
    #[error("table '{table}' has no snapshot {snapshot} (latest is {latest})")]
    SnapshotNotFound {
        /// The table location.
        table: String,
        /// The requested commit.
        snapshot: Commit,
        /// The latest commit of the table.
        latest: Commit,
    },
    /// Metadata (snapshot JSON, version hint) is malformed or inconsistent.
    #[error("corrupt metadata in table '{table}', file '{file}': {reason}")]
    CorruptMetadata {
        /// The table location.
        table: String,
        /// The metadata file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The snapshot was written by a newer, unknown format version.
    #[error("table '{table}', file '{file}': unsupported format_version {version} (this reader knows 1)")]
    UnsupportedFormatVersion {
        /// The table location.
        table: String,
        /// The snapshot file.
        file: String,
        /// The version found.
        version: u64,
    },
    /// A data file is missing, unreadable or disagrees with the snapshot.
    #[error("table '{table}', data file '{file}': {reason}")]
    DataFile {
        /// The table location.
        table: String,
        /// The data file path relative to the table.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// Input to a commit or a scan does not fit the table schema.
    #[error("table '{table}': {reason}")]
    Schema {
        /// The table location.
        table: String,
        /// What does not fit (names the column).
        reason: String,
    },
    /// A scan option is invalid (unknown column, bad predicate, ...).
    #[error("invalid scan of table '{table}': {reason}")]
    InvalidScan {
        /// The table location.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// An option of a maintenance command is out of range (a duration, a time).
    #[error("invalid option for table '{table}': {reason}")]
    InvalidOption {
        /// The table location.
        table: String,
        /// Which option, and why it cannot be used.
        reason: String,
    },
    /// Another writer committed the same commit number first.
    #[error("commit conflict on table '{table}': commit {commit} was written by another writer")]
    Conflict {
        /// The table location.
        table: String,
        /// The commit number both writers tried to create.
        commit: Commit,
    },
    /// The object store failed.
    #[error("object store error on table '{table}': {source}")]
    Store {
        /// The table location.
        table: String,
        /// The underlying error.
        #[source]
        source: object_store::Error,
    },
    /// A time literal is in none of the accepted forms ([`crate::time`]).
    #[error("cannot read time '{text}': expected {}", crate::time::ACCEPTED)]
    InvalidTime {
        /// The text as given.
        text: String,
    },
    /// A write to a bazof 0.2 table, which this version reads but never writes (SPEC §9).
    #[error("table '{table}' is a bazof 0.2 table, which is read-only: {reason}")]
    ReadOnlyLegacy {
        /// The table location.
        table: String,
        /// What was attempted and what to do instead.
        reason: String,
    },
    /// An internal invariant failed: a bug in bazof, not a problem with the table or the input.
    #[error("internal error (a bug in bazof, please report it) on table '{table}': {reason}")]
    Internal {
        /// The table location (empty when none is involved).
        table: String,
        /// The invariant that failed.
        reason: String,
    },
    /// Arrow failed while processing data of a table.
    #[error("arrow error on table '{table}': {source}")]
    Arrow {
        /// The table location.
        table: String,
        /// The underlying error.
        #[source]
        source: arrow::error::ArrowError,
    },
}

impl Error {
    /// True for a lost race with another writer (the commit may be retried).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }
}
