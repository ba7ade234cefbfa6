//! An object store wrapper that crashes the writer after a given number of mutations.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// Lets `budget` mutations (put, multipart put, delete, copy) through, then fails
/// every further one, as if the writing process had died at that point.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    state: Arc<Budget>,
}

#[derive(Debug)]
struct Budget {
    budget: AtomicUsize,
    mutations: AtomicUsize,
}

impl Budget {
    fn take(&self) -> Result<()> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        let ok = self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| match b {
                0 => None,
                usize::MAX => Some(usize::MAX),
                b => Some(b - 1),
            });
        ok.map(|_| ()).map_err(|_| object_store::Error::Generic {
            store: "FaultyStore",
            source: "injected crash: the writer died here".into(),
        })
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

impl FaultyStore {
    /// Wraps a store with an unlimited budget.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        let state = Budget {
            budget: AtomicUsize::new(usize::MAX),
            mutations: AtomicUsize::new(0),
        };
        Self {
            inner,
            state: Arc::new(state),
        }
    }
    /// Allows `n` more mutations, then crashes.
    pub fn crash_after(&self, n: usize) {
        self.state.budget.store(n, Ordering::SeqCst);
    }
    /// Heals the store (the next writer proceeds).
    pub fn heal(&self) {
        self.state.budget.store(usize::MAX, Ordering::SeqCst);
    }
    /// Mutations attempted so far.
    pub fn mutations(&self) -> usize {
        self.state.mutations.load(Ordering::SeqCst)
    }
    /// Whether the crash point has been reached.
    pub fn crashed(&self) -> bool {
        self.state.budget.load(Ordering::SeqCst) == 0
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.state.take()?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.state.take()?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let (state, inner) = (self.state.clone(), self.inner.clone());
        locations
            .then(move |p| {
                let (state, inner) = (state.clone(), inner.clone());
                async move {
                    let p = p?;
                    state.take()?;
                    inner.delete(&p).await.map(|_| p)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.state.take()?;
        self.inner.copy_opts(from, to, options).await
    }
}
