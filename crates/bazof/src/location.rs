//! SPEC §1: where a table lives: a local path or an object_store URL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use object_store::aws::AmazonS3Builder;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::ObjectStore;
use url::Url;

use crate::error::{Error, Result};
use crate::local_store::LocalStore;

/// An object store and the path of the table root inside it.
#[derive(Debug, Clone)]
pub struct Location {
    /// The location as the user gave it (used in messages).
    pub display: String,
    /// The store holding the table.
    pub store: Arc<dyn ObjectStore>,
    /// The table root inside the store.
    pub root: Path,
}

fn memory_stores() -> &'static Mutex<HashMap<String, Arc<InMemory>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

impl Location {
    /// Resolves a location string.
    ///
    /// * a plain path or `file:///abs/path`: the local file system;
    /// * `memory://name/path`: a process-wide in-memory store per `name` (tests, examples);
    /// * `s3://bucket/prefix`: Amazon S3 or an S3-compatible server, configured from the
    ///   usual `AWS_*` environment variables (`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, `AWS_REGION`,
    ///   `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    pub fn parse(location: &str) -> Result<Location> {
        let invalid = |reason: String| Error::InvalidLocation {
            location: location.to_string(),
            reason,
        };
        if location.trim().is_empty() {
            return Err(invalid("empty location".into()));
        }
        let looks_like_url = location.contains("://");
        if !looks_like_url {
            return Self::local(location, std::path::Path::new(location));
        }
        let url = Url::parse(location).map_err(|e| invalid(e.to_string()))?;
        match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|_| invalid("not an absolute file path".into()))?;
                Self::local(location, &path)
            }
            "memory" => {
                let name = url.host_str().unwrap_or_default().to_string();
                let store = memory_stores()
                    .lock()
                    .map_err(|_| invalid("in-memory store registry poisoned".into()))?
                    .entry(name)
                    .or_insert_with(|| Arc::new(InMemory::new()))
                    .clone();
                let root = Path::parse(url.path().trim_matches('/'))
                    .map_err(|e| invalid(e.to_string()))?;
                Ok(Location {
                    display: location.to_string(),
                    store,
                    root,
                })
            }
            "s3" | "s3a" => {
                let bucket = url
                    .host_str()
                    .ok_or_else(|| invalid("missing bucket".into()))?;
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
                    builder = builder.with_endpoint(&endpoint);
                    if endpoint.starts_with("http://") {
                        builder = builder.with_allow_http(true);
                    }
                }
                let store = builder.build().map_err(|e| invalid(e.to_string()))?;
                let root = Path::parse(url.path().trim_matches('/'))
                    .map_err(|e| invalid(e.to_string()))?;
                Ok(Location {
                    display: location.to_string(),
                    store: Arc::new(store),
                    root,
                })
            }
            other => Err(invalid(format!(
                "unsupported scheme '{other}' (use a path, file://, memory:// or s3://)"
            ))),
        }
    }

    fn local(display: &str, path: &std::path::Path) -> Result<Location> {
        let abs = std::path::absolute(path).map_err(|e| Error::InvalidLocation {
            location: display.to_string(),
            reason: e.to_string(),
        })?;
        // Resolve `.` and `..` (object store paths have neither).
        let abs = std::fs::canonicalize(&abs).unwrap_or_else(|_| {
            let mut out = std::path::PathBuf::new();
            for c in abs.components() {
                match c {
                    std::path::Component::ParentDir => {
                        out.pop();
                    }
                    std::path::Component::CurDir => {}
                    other => out.push(other),
                }
            }
            out
        });
        if abs.is_file() {
            return Err(Error::InvalidLocation {
                location: display.to_string(),
                reason: "it is a file; a table is a directory".into(),
            });
        }
        let root = Path::from_absolute_path(&abs).map_err(|e| Error::InvalidLocation {
            location: display.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Location {
            display: display.to_string(),
            store: Arc::new(LocalStore::default()),
            root,
        })
    }

    /// The path of a file relative to the table root.
    pub fn child(&self, relative: &str) -> Path {
        relative
            .split('/')
            .filter(|p| !p.is_empty())
            .fold(self.root.clone(), |p, part| p.join(part))
    }
}
