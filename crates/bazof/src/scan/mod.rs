//! SPEC §5–6: the scan pipeline. [`plan`] chooses files, row groups and pages;
//! [`tasks`] splits a plan into independent key ranges; `read` decodes each file into
//! the merge layout; `merge` resolves keys in one streaming k-way merge per range;
//! [`metrics`] counts what was read. This module executes a plan as a stream of Arrow
//! record batches in key order.

pub(crate) mod gather;
pub(crate) mod merge;
pub mod metrics;
pub mod options;
pub mod plan;
pub(crate) mod prune;
pub(crate) mod read;
pub mod tasks;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{BoxStream, Stream, StreamExt, TryStreamExt};

use self::merge::Merger;
use self::metrics::ScanMetrics;
use self::options::{ScanMode, ScanOptions};
use self::plan::ScanPlan;
use self::read::{merge_schema, open_source, Source};
use crate::error::{Error, Result};
use crate::table::Table;

/// The batches of one key range of a scan, in key order.
pub type PartStream = BoxStream<'static, Result<RecordBatch>>;

/// The batches of a scan, in key order, with the plan and live metrics.
pub struct ScanStream {
    schema: SchemaRef,
    plan: Arc<ScanPlan>,
    metrics: Arc<ScanMetrics>,
    parts: Parts,
}

/// Opens one key range of a plan: the range's merge, turned into its output.
type Opener = Arc<dyn Fn(ScanPlan) -> BoxFuture<'static, Result<PartStream>> + Send + Sync>;

/// A plan whose key ranges are cut when it is read (SPEC §6.5): a reader in key
/// order gets more ranges than tasks, [`Parts::into_vec`] one per task.
struct Unsplit {
    plan: Arc<ScanPlan>,
    tasks: usize,
    open: Opener,
    handle: tokio::runtime::Handle,
}

/// Key-range streams (SPEC §6.5) read one after another, the front one first:
/// together, one stream in key order.
pub(crate) struct Parts {
    /// Started ranges, in key order; the front one is being read.
    running: VecDeque<PartStream>,
    /// A split plan not yet cut into ranges.
    unsplit: Option<Unsplit>,
    /// Ranges not started, in key order.
    waiting: VecDeque<Waiting>,
    /// Ranges running at once while a reader takes them in key order.
    window: usize,
}

/// A key range not started: its output, to run on `handle` up to `ahead` batches
/// ahead of its reader.
struct Waiting {
    part: PartStream,
    ahead: usize,
    handle: tokio::runtime::Handle,
}

impl Waiting {
    /// Starts the range, `ahead` batches ahead of its reader at most.
    fn start(self, ahead: usize) -> PartStream {
        tasks::stream_ahead(&self.handle, self.part, ahead)
    }
}

impl Parts {
    /// Streams already running, in key order.
    pub(crate) fn new(parts: impl IntoIterator<Item = PartStream>) -> Self {
        Parts {
            running: parts.into_iter().collect(),
            unsplit: None,
            waiting: VecDeque::new(),
            window: 1,
        }
    }
    /// A split plan, cut into ranges when it is read.
    fn unsplit(unsplit: Unsplit) -> Self {
        Parts {
            running: VecDeque::new(),
            unsplit: Some(unsplit),
            waiting: VecDeque::new(),
            window: 1,
        }
    }
    /// The streams, in key order, each running ahead of its reader on the runtime: a
    /// split plan is cut into one range per task, so that each may be read by a
    /// thread of its own.
    pub(crate) fn into_vec(self) -> Vec<PartStream> {
        let mut out: Vec<PartStream> = self.running.into();
        out.extend(self.waiting.into_iter().map(|w| w.start(2)));
        if let Some(u) = self.unsplit {
            out.extend(
                u.plan
                    .split(u.tasks)
                    .into_iter()
                    .map(|range| tasks::stream_ahead(&u.handle, opened(&u.open, range), 2)),
            );
        }
        out
    }
    /// Every stream mapped by `f`, those not yet opened too.
    fn map(self, f: impl Fn(PartStream) -> PartStream + Send + Sync + 'static) -> Self {
        let f = Arc::new(f);
        let unsplit = self.unsplit.map(|u| {
            let (old, g) = (u.open, f.clone());
            let open: Opener = Arc::new(move |range| {
                let (opening, g) = (old(range), g.clone());
                async move { Ok(g(opening.await?)) }.boxed()
            });
            Unsplit { open, ..u }
        });
        Parts {
            running: self.running.into_iter().map(|p| f(p)).collect(),
            unsplit,
            waiting: self
                .waiting
                .into_iter()
                .map(|w| Waiting {
                    part: f(w.part),
                    ..w
                })
                .collect(),
            window: self.window,
        }
    }
    /// Cuts a split plan for a reader in key order: ranges of about
    /// [`tasks::RANGE_ROWS`] rows, `tasks` of them running at once, each up to its
    /// whole output ahead of the reader, so every task stays busy while memory stays
    /// bounded per task.
    fn cut_in_key_order(&mut self) {
        let Some(u) = self.unsplit.take() else {
            return;
        };
        let batch = u.plan.options.batch_size.max(1) as u64;
        let ranges = u.plan.split(tasks::ranges_for(&u.plan, u.tasks));
        let alone = ranges.len() == 1;
        self.window = u.tasks;
        self.waiting = ranges
            .into_iter()
            .map(|range| {
                // A range alone gains nothing from running far ahead.
                let ahead = match alone {
                    true => 2,
                    false => usize::try_from(tasks::planned_rows(&range) / batch + 2)
                        .unwrap_or(usize::MAX),
                };
                Waiting {
                    part: opened(&u.open, range),
                    ahead,
                    handle: u.handle.clone(),
                }
            })
            .collect();
    }
}

/// The columns a plan's merge puts out: the scan's for a scan, every merge column
/// for a read of rows (a base, a compaction, a history).
fn output_schema(plan: &ScanPlan) -> SchemaRef {
    match plan.mode {
        ScanMode::Resolve => plan.output_schema.clone(),
        ScanMode::Base | ScanMode::AllRows => merge_schema(plan),
    }
}

/// The output of one key range, its files opened when it is first polled.
fn opened(open: &Opener, range: ScanPlan) -> PartStream {
    futures::stream::once(open(range)).try_flatten().boxed()
}

impl Stream for Parts {
    type Item = Result<RecordBatch>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.cut_in_key_order();
        loop {
            while self.running.len() < self.window {
                let Some(w) = self.waiting.pop_front() else {
                    break;
                };
                let ahead = w.ahead;
                self.running.push_back(w.start(ahead));
            }
            let Some(front) = self.running.front_mut() else {
                return Poll::Ready(None);
            };
            match front.poll_next_unpin(cx) {
                Poll::Ready(None) => {
                    self.running.pop_front();
                }
                other => return other,
            }
        }
    }
}

impl ScanStream {
    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    /// The plan being executed.
    pub fn plan(&self) -> &ScanPlan {
        &self.plan
    }
    /// Live counters.
    pub fn metrics(&self) -> Arc<ScanMetrics> {
        self.metrics.clone()
    }
    /// The scan's key ranges as separate streams, in key order: concatenated they are
    /// this stream, and each may be read by a different thread (one range per task,
    /// each starting its merge on the runtime now, a couple of batches ahead). An
    /// engine with its own threads, such as DuckDB, hands them out as work.
    pub fn into_parts(self) -> Vec<PartStream> {
        self.parts.into_vec()
    }
    /// The key ranges, not yet started, for a stream of another kind (history).
    pub(crate) fn into_ranges(self) -> Parts {
        self.parts
    }
    /// SPEC §2.1: the same rows under a later schema `to` of the table: each of its
    /// columns by name, null where this scan's snapshot lacked it, cast where it widened.
    pub(crate) fn conform(self, to: SchemaRef, table: &str) -> ScanStream {
        if to == self.schema {
            return self;
        }
        let (target, table) = (to.clone(), table.to_string());
        let parts = self
            .parts
            .map(move |part| conform_part(part, target.clone(), table.clone()));
        ScanStream {
            schema: to,
            plan: self.plan,
            metrics: self.metrics,
            parts,
        }
    }

    /// Collects every batch.
    pub async fn collect_batches(mut self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        while let Some(b) = self.next().await {
            out.push(b?);
        }
        Ok(out)
    }
}

impl Stream for ScanStream {
    type Item = Result<RecordBatch>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.parts.poll_next_unpin(cx)
    }
}

/// One key range of a scan under a later schema (see [`ScanStream::conform`]).
fn conform_part(part: PartStream, target: SchemaRef, table: String) -> PartStream {
    part.map(move |batch| {
        let batch = batch?;
        let columns = target
            .fields()
            .iter()
            .map(|f| match batch.column_by_name(f.name()) {
                Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
                Some(c) => arrow::compute::cast(c, f.data_type()),
                None => Ok(arrow::array::new_null_array(
                    f.data_type(),
                    batch.num_rows(),
                )),
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .and_then(|cols| {
                RecordBatch::try_new_with_options(
                    target.clone(),
                    cols,
                    &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
                )
            });
        columns.map_err(|source| Error::Arrow {
            table: table.clone(),
            source,
        })
    })
    .boxed()
}

/// Decodes a source on the runtime's worker threads, a couple of batches ahead, so
/// that several files are read and decoded in parallel while the merge runs.
fn prefetch(source: Source) -> Source {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => tasks::stream_ahead(&handle, source, 2),
        Err(_) => source,
    }
}

/// Decodes a source on the merge's own task (a plan of a few pages: a thread hand-off
/// would cost more than the decoding), giving the runtime its turn whenever the task's
/// budget runs out: a source that never waits (an in-memory or local store) would
/// otherwise hold its worker thread for a whole scan and starve other tasks.
fn inline(source: Source) -> Source {
    source
        .then(|item| async move {
            tokio::task::consume_budget().await;
            item
        })
        .boxed()
}

impl Table {
    /// Scans the table as of an event time and a commit: DESIGN §1's four steps.
    pub async fn scan(&self, options: ScanOptions) -> Result<ScanStream> {
        let plan = self.plan(&options).await?;
        self.execute(plan).await
    }

    /// Executes a plan made by [`Table::plan`]: one merge, or, when the plan splits
    /// into several key ranges ([`ScanPlan::split`]), one merge per range, as many at
    /// once as the plan has tasks, their outputs concatenated in key order.
    pub async fn execute(&self, plan: ScanPlan) -> Result<ScanStream> {
        let batches = |merger: Merger| -> PartStream {
            futures::stream::try_unfold(merger, |mut m| async move {
                Ok(m.next_batch().await?.map(|b| (b, m)))
            })
            .boxed()
        };
        self.execute_with(plan, None, batches).await
    }

    /// Executes a plan as [`Table::execute`] does, each key range's merge turned into
    /// its output by `finish` (history reads a merge's picks); `schema`: the output's
    /// schema when `finish` changes it.
    ///
    /// A plan of several tasks is cut into key ranges only when it is read (see
    /// [`Parts`]), and each range opens its files when it starts.
    pub(crate) async fn execute_with(
        &self,
        plan: ScanPlan,
        schema: Option<SchemaRef>,
        finish: impl Fn(Merger) -> PartStream + Send + Sync + 'static,
    ) -> Result<ScanStream> {
        let metrics = Arc::new(ScanMetrics::default());
        let tasks = plan
            .options
            .tasks
            .unwrap_or_else(|| tasks::default_for(&plan));
        let plan = Arc::new(plan);
        let split = tasks > 1 && plan.may_split();
        let parts = match (split, tokio::runtime::Handle::try_current()) {
            (true, Ok(handle)) => {
                let (table, metrics) = (self.clone(), metrics.clone());
                let finish = Arc::new(finish);
                let open: Opener = Arc::new(move |range: ScanPlan| {
                    let (table, metrics, finish) = (table.clone(), metrics.clone(), finish.clone());
                    async move {
                        let merger = table.merger(&range, &metrics).await?;
                        Ok(finish(merger))
                    }
                    .boxed()
                });
                let unsplit = Unsplit {
                    plan: plan.clone(),
                    tasks,
                    open,
                    handle,
                };
                Parts::unsplit(unsplit)
            }
            _ => {
                let merger = self.merger(&plan, &metrics).await?;
                Parts::new([finish(merger)])
            }
        };
        let out_schema = schema.unwrap_or_else(|| output_schema(&plan));
        Ok(ScanStream {
            schema: out_schema,
            plan,
            metrics,
            parts,
        })
    }

    /// The merge of one plan (or one key range of it) over its opened files.
    async fn merger(&self, plan: &ScanPlan, metrics: &Arc<ScanMetrics>) -> Result<Merger> {
        let merge = merge_schema(plan);
        let out_schema = output_schema(plan);
        let mut output = Vec::with_capacity(out_schema.fields().len());
        for field in out_schema.fields() {
            let idx = merge.index_of(field.name()).map_err(|_| Error::Internal {
                table: self.location().to_string(),
                reason: format!("column '{}' not decoded", field.name()),
            })?;
            output.push(idx);
        }
        let mut sources = Vec::with_capacity(plan.files.len());
        let inline_decode = tasks::decodes_inline(plan);
        for f in &plan.files {
            let source = open_source(self, plan, f, metrics).await?;
            let source = if inline_decode {
                inline(source)
            } else {
                prefetch(source)
            };
            sources.push((source, plan.unique_keys(f)));
        }
        let merger = Merger::new(
            self.location().to_string(),
            sources,
            output,
            out_schema,
            plan.options.batch_size,
            plan.options.limit,
            plan.mode,
        );
        Ok(merger)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use arrow::array::{Array, Int32Array};

    use super::*;

    /// Six ranges of three batches each, read in key order through a window of two:
    /// the order holds, two ranges run at once, and no range starts before the one
    /// two places earlier has been read to its end (memory stays bounded per task).
    #[test]
    fn ranges_in_key_order_run_two_at_a_time() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("runtime");
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let read_whole = Arc::new(AtomicUsize::new(0));
        let started_early = Arc::new(AtomicUsize::new(0));
        let waiting = (0..6)
            .map(|part: i32| {
                let (running, most) = (running.clone(), most.clone());
                let (read_whole, started_early) = (read_whole.clone(), started_early.clone());
                let opening = async move {
                    if part as usize >= read_whole.load(Ordering::SeqCst) + 2 {
                        started_early.fetch_add(1, Ordering::SeqCst);
                    }
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // Long enough for the other running range to start meanwhile.
                    std::thread::sleep(std::time::Duration::from_millis(30));
                    running.fetch_sub(1, Ordering::SeqCst);
                    let batches = (0..3).map(move |i| {
                        let column = Int32Array::from(vec![part * 10 + i]);
                        RecordBatch::try_from_iter([("v", Arc::new(column) as _)]).map_err(
                            |source| Error::Arrow {
                                table: String::new(),
                                source,
                            },
                        )
                    });
                    Ok::<_, Error>(futures::stream::iter(batches).boxed())
                };
                Waiting {
                    part: futures::stream::once(opening).try_flatten().boxed(),
                    ahead: 3,
                    handle: rt.handle().clone(),
                }
            })
            .collect();
        let mut parts = Parts {
            running: VecDeque::new(),
            unsplit: None,
            waiting,
            window: 2,
        };
        let got: Vec<i32> = rt.block_on(async {
            let mut got = Vec::new();
            while let Some(batch) = parts.next().await {
                let batch = batch.expect("batch");
                let v = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int32Array>()
                    .expect("ints")
                    .value(0);
                if v % 10 == 2 {
                    read_whole.fetch_add(1, Ordering::SeqCst);
                }
                got.push(v);
            }
            got
        });
        let want: Vec<i32> = (0..6)
            .flat_map(|p| (0..3).map(move |i| p * 10 + i))
            .collect();
        assert_eq!(got, want);
        assert_eq!(most.load(Ordering::SeqCst), 2, "two ranges run at once");
        assert_eq!(started_early.load(Ordering::SeqCst), 0);
    }
}
