//! SPEC §1 and §7: opening a table, finding its snapshots.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;

use crate::error::{Error, Result};
use crate::location::Location;
use crate::object_cache;
use crate::schema::TableSchema;
use crate::snapshot::{AnySnapshot, ParseError};
use crate::Commit;

/// The version hint file.
pub const VERSION_FILE: &str = "version.txt";

/// Name of the snapshot file of a commit.
pub fn snapshot_file(commit: Commit) -> String {
    format!("s{commit}.json")
}

/// A bazof table in object storage.
///
/// A `Table` holds no state that can go stale: every scan and commit reads the
/// latest snapshot anew (snapshots are immutable, so parsed ones are cached).
#[derive(Debug, Clone)]
pub struct Table {
    pub(crate) location: Location,
    /// Schema given to [`Table::create`], used by the first commit.
    pub(crate) new_schema: Option<TableSchema>,
    cache: Arc<Mutex<HashMap<Commit, Arc<AnySnapshot>>>>,
}

impl Table {
    /// Opens an existing table (local path, `file://`, `memory://` or `s3://` URL).
    pub async fn open(location: &str) -> Result<Table> {
        Self::open_at(Location::parse(location)?).await
    }

    /// Opens an existing table and reads one of its snapshots (default: the latest),
    /// probing for the latest commit once (`open` then `snapshot` probe twice).
    pub async fn open_snapshot(
        location: &str,
        commit: Option<Commit>,
    ) -> Result<(Table, Arc<AnySnapshot>)> {
        let table = Self::reader(Location::parse(location)?);
        let latest = table.latest_commit().await?;
        let snapshot = table.snapshot_at(commit, latest).await?;
        Ok((table, snapshot))
    }

    /// Opens an existing table in a given object store (any `ObjectStore`, e.g. a wrapper).
    pub async fn open_at(location: Location) -> Result<Table> {
        let table = Self::reader(location);
        table.latest_commit().await?;
        Ok(table)
    }

    /// A table at `location` opened for reading, not yet checked to exist.
    fn reader(location: Location) -> Table {
        Table {
            location,
            new_schema: None,
            cache: Default::default(),
        }
    }

    /// Prepares a new table with the given schema. Nothing is written until the
    /// first [`Table::commit`], which writes `s1.json`: creation and first data are one
    /// atomic commit. Fails if a table already exists at the location.
    pub async fn create(location: &str, schema: TableSchema) -> Result<Table> {
        Self::create_at(Location::parse(location)?, schema).await
    }

    /// [`Table::create`] in a given object store.
    pub async fn create_at(loc: Location, schema: TableSchema) -> Result<Table> {
        schema.validate().map_err(|reason| Error::Schema {
            table: loc.display.clone(),
            reason,
        })?;
        let table = Table {
            location: loc,
            new_schema: Some(schema),
            cache: Default::default(),
        };
        match table.latest_commit().await {
            Ok(_) => Err(Error::AlreadyExists {
                table: table.location.display.clone(),
            }),
            Err(Error::NotATable { .. }) => Ok(table),
            Err(e) => Err(e),
        }
    }

    /// The location as given by the user.
    pub fn location(&self) -> &str {
        &self.location.display
    }

    /// The object store holding the table.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.location.store
    }

    /// An async Parquet reader of the data file at `path` (relative to the table root);
    /// `size`, when known (the snapshot records it), saves a HEAD request.
    #[allow(deprecated)] // parquet-rs 60 deprecates it for an own `AsyncFileReader`; one place to swap
    pub(crate) fn parquet_reader(&self, path: &str, size: Option<u64>) -> ParquetObjectReader {
        let reader =
            ParquetObjectReader::new(self.location.store.clone(), self.location.child(path));
        match size {
            Some(size) => reader.with_file_size(size),
            None => reader,
        }
    }

    pub(crate) fn err_store(&self, source: object_store::Error) -> Error {
        Error::Store {
            table: self.location.display.clone(),
            source,
        }
    }

    pub(crate) fn corrupt(&self, file: &str, reason: impl Into<String>) -> Error {
        Error::CorruptMetadata {
            table: self.location.display.clone(),
            file: file.to_string(),
            reason: reason.into(),
        }
    }

    async fn exists(&self, file: &str) -> Result<bool> {
        match self.location.store.head(&self.location.child(file)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err_store(e)),
        }
    }

    /// Reads a whole small file; `None` if it does not exist.
    pub(crate) async fn read_file(&self, file: &str) -> Result<Option<bytes::Bytes>> {
        match self.location.store.get(&self.location.child(file)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| self.err_store(e))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err_store(e)),
        }
    }

    /// The latest commit: `version.txt` is a hint; the reader then probes forward
    /// for `s{n+1}.json` and never trusts the hint alone.
    pub async fn latest_commit(&self) -> Result<Commit> {
        let hint = match self.read_file(VERSION_FILE).await? {
            Some(bytes) => {
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| self.corrupt(VERSION_FILE, "not UTF-8"))?;
                let n: Commit = text.trim().parse().map_err(|_| {
                    self.corrupt(
                        VERSION_FILE,
                        format!("'{}' is not a commit number", text.trim()),
                    )
                })?;
                if n == 0 || !self.exists(&snapshot_file(n)).await? {
                    return Err(self.corrupt(
                        VERSION_FILE,
                        format!(
                            "points to commit {n} but {} does not exist",
                            snapshot_file(n)
                        ),
                    ));
                }
                n
            }
            None => self.list_latest().await?.ok_or_else(|| Error::NotATable {
                table: self.location.display.clone(),
            })?,
        };
        let mut n = hint;
        while self.exists(&snapshot_file(n + 1)).await? {
            n += 1;
        }
        Ok(n)
    }

    /// Without a hint: the greatest `s{n}.json` in a listing of the table root.
    async fn list_latest(&self) -> Result<Option<Commit>> {
        let listing = self
            .location
            .store
            .list_with_delimiter(Some(&self.location.root))
            .await;
        let listing = match listing {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.err_store(e)),
        };
        Ok(listing
            .objects
            .iter()
            .filter_map(|o| {
                let name = o.location.filename()?;
                name.strip_prefix('s')?
                    .strip_suffix(".json")?
                    .parse::<Commit>()
                    .ok()
            })
            .max())
    }

    /// The snapshot of a commit (default: the latest). A commit this table has read
    /// before is served from memory (snapshots never change once written).
    pub async fn snapshot(&self, commit: Option<Commit>) -> Result<Arc<AnySnapshot>> {
        if let Some(s) = commit.and_then(|n| self.cache.lock().ok()?.get(&n).cloned()) {
            return Ok(s);
        }
        let latest = self.latest_commit().await?;
        self.snapshot_at(commit, latest).await
    }

    /// [`Table::snapshot`] once the latest commit is known.
    async fn snapshot_at(
        &self,
        commit: Option<Commit>,
        latest: Commit,
    ) -> Result<Arc<AnySnapshot>> {
        let commit = commit.unwrap_or(latest);
        if commit == 0 || commit > latest {
            return Err(Error::SnapshotNotFound {
                table: self.location.display.clone(),
                snapshot: commit,
                latest,
            });
        }
        self.load_snapshot(commit).await
    }

    pub(crate) async fn load_snapshot(&self, commit: Commit) -> Result<Arc<AnySnapshot>> {
        if let Some(s) = self.cache.lock().ok().and_then(|c| c.get(&commit).cloned()) {
            return Ok(s);
        }
        let file = snapshot_file(commit);
        let bytes = self
            .read_file(&file)
            .await?
            .ok_or_else(|| self.corrupt(&file, "snapshot file is missing"))?;
        // Another `Table` of this process may have parsed the same bytes (each DuckDB
        // query opens the table anew).
        let key = (commit, bytes.clone());
        let snap = match object_cache::snapshots().get(&key) {
            Some(snap) => snap,
            None => {
                let snap = self.parse_snapshot(&file, &bytes, commit)?;
                object_cache::snapshots().put(key, &snap, bytes.len());
                snap
            }
        };
        if let Ok(mut c) = self.cache.lock() {
            c.insert(commit, snap.clone());
        }
        Ok(snap)
    }

    /// Parses snapshot file `file` of commit `commit`; errors name the file.
    fn parse_snapshot(&self, file: &str, bytes: &[u8], commit: Commit) -> Result<Arc<AnySnapshot>> {
        match AnySnapshot::parse(bytes, commit) {
            Ok(s) => Ok(Arc::new(s)),
            Err(ParseError::Malformed(reason)) => Err(self.corrupt(file, reason)),
            Err(ParseError::UnsupportedVersion(version)) => Err(Error::UnsupportedFormatVersion {
                table: self.location.display.clone(),
                file: file.to_string(),
                version,
            }),
        }
    }

    /// Every snapshot from 1 to the latest, oldest first.
    pub async fn snapshots(&self) -> Result<Vec<Arc<AnySnapshot>>> {
        let latest = self.latest_commit().await?;
        let mut out = Vec::with_capacity(latest as usize);
        for c in 1..=latest {
            out.push(self.load_snapshot(c).await?);
        }
        Ok(out)
    }

    /// The commit log: one entry per commit, oldest first.
    pub async fn log(&self) -> Result<Vec<crate::snapshot::LogEntry>> {
        Ok(self
            .snapshots()
            .await?
            .iter()
            .map(|s| s.log_entry())
            .collect())
    }

    /// The schema at the latest snapshot.
    pub async fn schema(&self) -> Result<TableSchema> {
        Ok(self.snapshot(None).await?.schema().clone())
    }

    /// Lists every object under the table root (for `check` and `vacuum`).
    pub async fn list_files(&self) -> Result<Vec<object_store::ObjectMeta>> {
        let prefix = self.location.root.clone();
        self.location
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.err_store(e))
    }

    /// The path of an object relative to the table root.
    pub fn relative(&self, path: &object_store::path::Path) -> String {
        let root: Vec<_> = self.location.root.parts().collect();
        path.parts()
            .skip(root.len())
            .map(|p| p.as_ref().to_string())
            .collect::<Vec<_>>()
            .join("/")
    }
}
