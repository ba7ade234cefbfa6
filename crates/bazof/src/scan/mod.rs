//! SPEC §5–6: the scan pipeline. [`plan`] chooses files, row groups and pages;
//! [`tasks`] splits a plan into independent key ranges; `read` decodes each file into
//! the merge layout; `merge` resolves keys in one streaming k-way merge per range;
//! [`metrics`] counts what was read. This module executes a plan as a stream of Arrow
//! record batches in key order.

pub(crate) mod gather;
pub(crate) mod merge;
pub mod metrics;
pub mod plan;
pub(crate) mod read;
pub mod tasks;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::stream::{BoxStream, Stream, StreamExt};

use self::merge::Merger;
use self::metrics::ScanMetrics;
use self::plan::{ScanMode, ScanOptions, ScanPlan};
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

/// Key-range streams (SPEC §6.5) read one after another, the front one first:
/// together, one stream in key order.
pub(crate) struct Parts(VecDeque<PartStream>);

impl Parts {
    /// One stream, or several in key order.
    pub(crate) fn new(parts: impl IntoIterator<Item = PartStream>) -> Self {
        Parts(parts.into_iter().collect())
    }
    /// The streams not yet exhausted, in key order.
    pub(crate) fn into_vec(self) -> Vec<PartStream> {
        self.0.into()
    }
}

impl Stream for Parts {
    type Item = Result<RecordBatch>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        while let Some(part) = self.0.front_mut() {
            match part.poll_next_unpin(cx) {
                Poll::Ready(None) => {
                    self.0.pop_front();
                }
                other => return other,
            }
        }
        Poll::Ready(None)
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
    /// this stream, and each may be read by a different thread (every range's merge
    /// already runs ahead on the runtime). An engine with its own threads, such as
    /// DuckDB, hands them out as work.
    pub fn into_parts(self) -> Vec<PartStream> {
        self.parts.into_vec()
    }
    /// SPEC §2.1: the same rows under a later schema `to` of the table: each of its
    /// columns by name, null where this scan's snapshot lacked it, cast where it widened.
    pub(crate) fn conform(self, to: SchemaRef, table: &str) -> ScanStream {
        if to == self.schema {
            return self;
        }
        let parts = Parts::new(
            self.parts
                .into_vec()
                .into_iter()
                .map(|part| conform_part(part, to.clone(), table.to_string())),
        );
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
        Ok(handle) => {
            let (tx, rx) = tokio::sync::mpsc::channel(2);
            handle.spawn(async move {
                let mut source = source;
                while let Some(item) = source.next().await {
                    if tx.send(item).await.is_err() {
                        break;
                    }
                }
            });
            futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            })
            .boxed()
        }
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
    /// into several key ranges ([`ScanPlan::split`]), one merge per range running in
    /// parallel on the runtime, their outputs concatenated in key order.
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
    pub(crate) async fn execute_with(
        &self,
        plan: ScanPlan,
        schema: Option<SchemaRef>,
        finish: impl Fn(Merger) -> PartStream,
    ) -> Result<ScanStream> {
        let metrics = Arc::new(ScanMetrics::default());
        let tasks = plan
            .options
            .tasks
            .unwrap_or_else(|| tasks::default_for(&plan));
        let parts = plan.split(tasks);
        let handle = tokio::runtime::Handle::try_current();
        let (out_schema, parts) = match (parts.len(), handle) {
            (2.., Ok(handle)) => {
                let mut outputs = Vec::with_capacity(parts.len());
                let mut schema = plan.output_schema.clone();
                for part in parts {
                    let (merger, s) = self.merger(&part, &metrics).await?;
                    schema = s;
                    outputs.push(tasks::stream_ahead(&handle, finish(merger)));
                }
                (schema, Parts::new(outputs))
            }
            _ => {
                let (merger, schema) = self.merger(&plan, &metrics).await?;
                (schema, Parts::new([finish(merger)]))
            }
        };
        let out_schema = schema.unwrap_or(out_schema);
        Ok(ScanStream {
            schema: out_schema,
            plan: Arc::new(plan),
            metrics,
            parts,
        })
    }

    /// The merge of one plan (or one key range of it) over its opened files.
    async fn merger(
        &self,
        plan: &ScanPlan,
        metrics: &Arc<ScanMetrics>,
    ) -> Result<(Merger, SchemaRef)> {
        let merge = merge_schema(plan);
        let (output, out_schema) = match plan.mode {
            ScanMode::Resolve => {
                let mut output = Vec::new();
                for field in plan.output_schema.fields() {
                    let idx = merge.index_of(field.name()).map_err(|_| Error::Internal {
                        table: self.location().to_string(),
                        reason: format!("column '{}' not decoded", field.name()),
                    })?;
                    output.push(idx);
                }
                (output, plan.output_schema.clone())
            }
            ScanMode::Base | ScanMode::AllRows => {
                ((0..merge.fields().len()).collect(), merge.clone())
            }
        };
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
            out_schema.clone(),
            plan.options.batch_size,
            plan.options.limit,
            plan.mode,
        );
        Ok((merger, out_schema))
    }
}
