//! Core-only benchmark of compaction layouts (issue 14), beside `benches/` (which needs
//! Polars and DuckDB built from source). Two workloads at K keys:
//!
//! * `dense`: the `benches` generator's shape — a log-normal number of events per key
//!   (mean 5), two years in 40 commits, 10 % late events up to 120 days back, 2 %
//!   tombstones — compacted every `--compact-every` commits and at the end;
//! * `scd`: a slowly changing dimension — K keys loaded once (sign-up times over the
//!   previous three years), then 48 monthly commits that each change 1 % of them,
//!   compacted every 6 commits, `vacuum --retain-hours 0` at the end.
//!
//! `gen` writes the bazof table, the same events as one raw Parquet file, and for each
//! query point the resolved state as one Parquet file (the limit a reader can reach),
//! and records every compaction's time and bytes. `scan` times the core's scan of a
//! point (checksum over every column, like `benches`' core cell). `bench.py` runs both
//! and times DuckDB over the state files (the limit) and over the raw events.

use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasherDefault;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use bazof::{
    ColumnDef, ColumnType, CompactionPolicy, HistoryOptions, KeyPredicate, KeyType, KeyValue,
    ScanOptions, SegmentWidth, Table, TableSchema, VacuumOptions, DELETED_COLUMN,
};
use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const DAY_US: i64 = 86_400_000_000;

struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(1e-12);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[derive(Debug, Clone, Copy)]
struct Event {
    key: u32,
    t: i64,
    cat: u8,
    qty: i64,
    price: f64,
    active: bool,
    upd: i64,
    deleted: bool,
}

fn key_name(i: usize) -> String {
    format!("k{i:08}")
}

fn t0() -> i64 {
    Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0)
        .single()
        .map(|t| t.timestamp_micros())
        .unwrap_or(0)
}

fn random_event(rng: &mut Rng, key: u32, t: i64, upd: i64, deleted: bool) -> Event {
    Event {
        key,
        t,
        cat: (rng.f64() * rng.f64() * 16.0) as u8,
        qty: rng.below(1000) as i64,
        price: rng.below(100_000) as f64 / 100.0,
        active: rng.f64() < 0.7,
        upd,
        deleted,
    }
}

/// The events of each commit, in arrival order.
fn workload(name: &str, keys: usize, seed: u64) -> Result<Vec<Vec<Event>>, BoxError> {
    let mut rng = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
    let t0 = t0();
    match name {
        "dense" => {
            let commits = 40usize;
            let window = 730 * DAY_US / commits as i64;
            let mut per: Vec<Vec<Event>> = vec![Vec::new(); commits];
            for k in 0..keys {
                let n = (5.0 * (rng.normal() - 0.5).exp()).round() as usize;
                for _ in 0..n.clamp(1, 251) {
                    let c = rng.below(commits as u64) as usize;
                    let mut t = t0 + c as i64 * window + rng.below(window as u64) as i64;
                    if rng.f64() < 0.1 {
                        t -= DAY_US + rng.below((119 * DAY_US) as u64) as i64;
                        if t < t0 {
                            t = t0 + rng.below(DAY_US as u64) as i64;
                        }
                    }
                    let deleted = rng.f64() < 0.02;
                    let upd = t0 + (c as i64 + 1) * window - rng.below(DAY_US as u64) as i64;
                    per[c].push(random_event(&mut rng, k as u32, t, upd, deleted));
                }
            }
            for evs in &mut per {
                for i in (1..evs.len()).rev() {
                    let j = rng.below(i as u64 + 1) as usize;
                    evs.swap(i, j);
                }
            }
            Ok(per)
        }
        "scd" => {
            let month = 30 * DAY_US;
            let mut per = vec![(0..keys)
                .map(|k| {
                    let t = t0 - rng.below((3 * 365 * DAY_US) as u64) as i64;
                    random_event(&mut rng, k as u32, t, t0, false)
                })
                .collect::<Vec<_>>()];
            for m in 0..48i64 {
                let evs = (0..keys / 100)
                    .map(|_| {
                        let t = t0 + m * month + rng.below(month as u64) as i64;
                        let k = rng.below(keys as u64) as u32;
                        random_event(&mut rng, k, t, t0 + (m + 1) * month, false)
                    })
                    .collect();
                per.push(evs);
            }
            Ok(per)
        }
        other => Err(format!("unknown workload '{other}' (dense, scd)").into()),
    }
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn columns(events: &[Event]) -> Vec<(&'static str, ArrayRef)> {
    let live = |e: &Event| !e.deleted;
    vec![
        (
            "key",
            Arc::new(StringArray::from_iter_values(
                events.iter().map(|e| key_name(e.key as usize)),
            )) as ArrayRef,
        ),
        (
            "event_time",
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| e.t))
                    .with_timezone("UTC"),
            ),
        ),
        (
            "category",
            Arc::new(StringArray::from_iter(
                events
                    .iter()
                    .map(|e| live(e).then(|| format!("cat_{:02}", e.cat))),
            )),
        ),
        (
            "qty",
            Arc::new(Int64Array::from_iter(
                events.iter().map(|e| live(e).then_some(e.qty)),
            )),
        ),
        (
            "price",
            Arc::new(Float64Array::from_iter(
                events.iter().map(|e| live(e).then_some(e.price)),
            )),
        ),
        (
            "active",
            Arc::new(BooleanArray::from_iter(
                events.iter().map(|e| live(e).then_some(e.active)),
            )),
        ),
        (
            "updated_at",
            Arc::new(
                TimestampMicrosecondArray::from_iter(
                    events.iter().map(|e| live(e).then_some(e.upd)),
                )
                .with_timezone("UTC"),
            ),
        ),
    ]
}

fn table_schema() -> TableSchema {
    TableSchema::new(
        KeyType::String,
        vec![
            ColumnDef::new("category", ColumnType::String),
            ColumnDef::new("qty", ColumnType::Int),
            ColumnDef::new("price", ColumnType::Float),
            ColumnDef::new("active", ColumnType::Boolean),
            ColumnDef::new("updated_at", ColumnType::DateTime),
        ],
    )
}

fn zstd() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(Default::default()))
        .build()
}

/// Every event as one Parquet file, with `deleted`, `commit` and `row` for tie-breaking.
fn write_raw(path: &Path, per: &[Vec<Event>]) -> Result<(), BoxError> {
    let mut fields: Vec<Field> = vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("event_time", ts_type(), false),
        Field::new("category", DataType::Utf8, true),
        Field::new("qty", DataType::Int64, true),
        Field::new("price", DataType::Float64, true),
        Field::new("active", DataType::Boolean, true),
        Field::new("updated_at", ts_type(), true),
    ];
    fields.push(Field::new("deleted", DataType::Boolean, false));
    fields.push(Field::new("commit", DataType::Int64, false));
    fields.push(Field::new("row", DataType::Int64, false));
    let schema = Arc::new(Schema::new(fields));
    let mut w = ArrowWriter::try_new(std::fs::File::create(path)?, schema.clone(), Some(zstd()))?;
    for (c, evs) in per.iter().enumerate() {
        let mut cols: Vec<ArrayRef> = columns(evs).into_iter().map(|(_, a)| a).collect();
        cols.push(Arc::new(BooleanArray::from_iter(
            evs.iter().map(|e| Some(e.deleted)),
        )));
        cols.push(Arc::new(Int64Array::from_iter_values(std::iter::repeat_n(
            c as i64 + 1,
            evs.len(),
        ))));
        cols.push(Arc::new(Int64Array::from_iter_values(0..evs.len() as i64)));
        w.write(&RecordBatch::try_new(schema.clone(), cols)?)?;
    }
    w.close()?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Compaction {
    after_commit: usize,
    events_so_far: u64,
    seconds: f64,
    rows_written: u64,
    bytes_written: u64,
    files_written: usize,
    files_dropped: usize,
    bases_in_snapshot: usize,
    table_bytes_referenced: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Point {
    name: String,
    as_of: Option<i64>,
    keys: Option<Vec<String>>,
    grouped: bool,
    state_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    workload: String,
    keys: usize,
    policy: String,
    events: u64,
    table: String,
    raw_file: String,
    raw_bytes: u64,
    table_bytes: u64,
    table_files: usize,
    bases: usize,
    base_rows: u64,
    delta_rows: u64,
    compactions: Vec<Compaction>,
    points: Vec<Point>,
}

fn dir_size(dir: &Path) -> (u64, usize) {
    let mut out = (0, 0);
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                let (b, f) = dir_size(&p);
                out.0 += b;
                out.1 += f;
            } else if let Ok(m) = e.metadata() {
                out.0 += m.len();
                out.1 += usize::from(p.extension().is_some_and(|x| x == "parquet"));
            }
        }
    }
    out
}

fn policy_of(spec: &str) -> Result<CompactionPolicy, BoxError> {
    // volume[:history[:current]] | day | month | year | rows:N
    let mut policy = CompactionPolicy::default();
    let mut parts = spec.split(':');
    let head = parts.next().unwrap_or("volume");
    if head == "volume" {
        if let Some(h) = parts.next() {
            policy.history_ratio = h.parse()?;
        }
        if let Some(c) = parts.next() {
            policy.current_ratio = c.parse()?;
        }
    } else {
        policy.segment = SegmentWidth::parse(spec).ok_or("bad --policy")?;
    }
    Ok(policy)
}

async fn gen(
    workload_name: &str,
    keys: usize,
    out: &Path,
    policy_spec: &str,
    every: usize,
) -> Result<Meta, BoxError> {
    let per = workload(workload_name, keys, 42)?;
    std::fs::create_dir_all(out)?;
    let out = out.canonicalize()?;
    let raw = out.join("raw.parquet");
    write_raw(&raw, &per)?;
    let table_dir = out.join("table");
    if table_dir.exists() {
        std::fs::remove_dir_all(&table_dir)?;
    }
    let policy = policy_of(policy_spec)?;
    let table = Table::create(&table_dir.to_string_lossy(), table_schema()).await?;
    let mut compactions = Vec::new();
    let mut events = 0u64;
    let n = per.len();
    for (c, evs) in per.iter().enumerate() {
        let mut cols = columns(evs);
        cols.push((
            DELETED_COLUMN,
            Arc::new(BooleanArray::from_iter(evs.iter().map(|e| Some(e.deleted)))),
        ));
        table.commit(&[RecordBatch::try_from_iter(cols)?]).await?;
        events += evs.len() as u64;
        if (c + 1) % every == 0 || c + 1 == n {
            let s = Instant::now();
            let info = table.compact(&policy).await?;
            let seconds = s.elapsed().as_secs_f64();
            let snap = table.snapshot(None).await?;
            let (bases, bytes) = match snap.as_ref() {
                bazof::AnySnapshot::V1(s) => (
                    s.files()
                        .iter()
                        .filter(|f| f.kind == bazof::FileKind::Base)
                        .count(),
                    s.files().iter().map(|f| f.bytes).sum(),
                ),
                _ => (0, 0),
            };
            let (rows_written, bytes_written, files_written, files_dropped) = info
                .map(|i| {
                    (
                        i.rows_written,
                        i.bytes_written,
                        i.files_added.len(),
                        i.files_dropped.len(),
                    )
                })
                .unwrap_or_default();
            eprintln!(
                "compaction after commit {}: {seconds:.2} s, {rows_written} rows, {bytes_written} bytes written, {bases} bases",
                c + 1
            );
            compactions.push(Compaction {
                after_commit: c + 1,
                events_so_far: events,
                seconds,
                rows_written,
                bytes_written,
                files_written,
                files_dropped,
                bases_in_snapshot: bases,
                table_bytes_referenced: bytes,
            });
        }
    }
    table
        .vacuum(&VacuumOptions {
            retain: chrono::Duration::zero(),
            dry_run: false,
        })
        .await?;
    let snap = table.snapshot(None).await?;
    let (bases, base_rows, delta_rows) = match snap.as_ref() {
        bazof::AnySnapshot::V1(s) => {
            let f = s.files();
            (
                f.iter().filter(|f| f.kind == bazof::FileKind::Base).count(),
                f.iter()
                    .filter(|f| f.kind == bazof::FileKind::Base)
                    .map(|f| f.rows)
                    .sum(),
                f.iter()
                    .filter(|f| f.kind == bazof::FileKind::Delta)
                    .map(|f| f.rows)
                    .sum(),
            )
        }
        _ => (0, 0, 0),
    };

    // Query points: current, as of several points of history, q3 (late window), q4, q5.
    let (lo, hi) = per
        .iter()
        .flatten()
        .fold((i64::MAX, i64::MIN), |(a, b), e| (a.min(e.t), b.max(e.t)));
    let (span_lo, span_hi) = if workload_name == "scd" {
        (t0(), hi)
    } else {
        (lo, hi)
    };
    let at = |f: f64| span_lo + ((span_hi - span_lo) as f64 * f) as i64;
    let mut rng = Rng(7);
    let lookup: Vec<String> = (0..5)
        .map(|_| key_name(rng.below(keys as u64) as usize))
        .collect();
    let mut points = vec![("q1-current".to_string(), None, None, false)];
    for f in [0.1, 0.25, 0.5, 0.75, 0.9] {
        points.push((
            format!("asof-{:02}", (f * 100.0) as u32),
            Some(at(f)),
            None,
            false,
        ));
    }
    points.push(("q3-late-window".into(), Some(hi - 40 * DAY_US), None, false));
    points.push(("q4-lookup".into(), Some(at(0.75)), Some(lookup), false));
    points.push(("q5-by-category".into(), Some(at(0.5)), None, true));
    let mut out_points = Vec::new();
    for (name, as_of, keys, grouped) in points {
        let state_file = out.join(format!("state-{name}.parquet"));
        let mut opts = ScanOptions::default();
        if let Some(t) = as_of {
            opts = opts.with_as_of(DateTime::from_timestamp_micros(t).ok_or("time")?);
        }
        let mut stream = table.scan(opts).await?;
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&state_file)?,
            stream.schema(),
            Some(zstd()),
        )?;
        while let Some(b) = stream.next().await {
            w.write(&b?)?;
        }
        w.close()?;
        out_points.push(Point {
            name,
            as_of,
            keys,
            grouped,
            state_file: state_file.to_string_lossy().into(),
        });
    }
    let (table_bytes, table_files) = dir_size(&table_dir);
    let meta = Meta {
        workload: workload_name.into(),
        keys,
        policy: policy_spec.into(),
        events,
        table: table_dir.to_string_lossy().into(),
        raw_file: raw.to_string_lossy().into(),
        raw_bytes: std::fs::metadata(&raw)?.len(),
        table_bytes,
        table_files,
        bases,
        base_rows,
        delta_rows,
        compactions,
        points: out_points,
    };
    std::fs::write(out.join("meta.json"), serde_json::to_vec_pretty(&meta)?)?;
    Ok(meta)
}

#[derive(Default, Serialize)]
struct Checksum {
    rows: i64,
    qty: i64,
    secs: i64,
    active: i64,
    upd: i64,
    categories: usize,
    price: f64,
    groups: BTreeMap<String, i64>,
    #[serde(skip)]
    /// aHash (arrow's own hasher), not SipHash: SipHash per row was a tenth of the
    /// core cell's CPU, while DuckDB's hash aggregate does this work for the limit.
    cats: HashSet<String, BuildHasherDefault<ahash::AHasher>>,
}

impl Checksum {
    fn add(&mut self, b: &RecordBatch, grouped: bool) -> Result<(), BoxError> {
        let col = |name: &str| -> Result<&dyn Array, BoxError> {
            Ok(b.column(b.schema().index_of(name)?).as_ref())
        };
        let cat: &StringArray = col("category")?.as_string::<i32>();
        let qty: &Int64Array = col("qty")?.as_primitive();
        if grouped {
            for i in 0..b.num_rows() {
                if cat.is_valid(i) {
                    *self.groups.entry(cat.value(i).to_string()).or_insert(0) +=
                        if qty.is_valid(i) { qty.value(i) } else { 0 };
                }
            }
            return Ok(());
        }
        let et: &TimestampMicrosecondArray = col("event_time")?.as_primitive();
        let active: &BooleanArray = col("active")?.as_boolean();
        let upd: &TimestampMicrosecondArray = col("updated_at")?.as_primitive();
        let price: &Float64Array = col("price")?.as_primitive();
        self.rows += b.num_rows() as i64;
        for i in 0..b.num_rows() {
            if qty.is_valid(i) {
                self.qty += qty.value(i);
            }
            self.secs += et.value(i).rem_euclid(1_000_000_007);
            if active.is_valid(i) && active.value(i) {
                self.active += 1;
            }
            if upd.is_valid(i) {
                self.upd += upd.value(i).rem_euclid(1_000_000_007);
            }
            if cat.is_valid(i) && !self.cats.contains(cat.value(i)) {
                self.cats.insert(cat.value(i).to_string());
            }
            if price.is_valid(i) {
                self.price += price.value(i);
            }
        }
        self.categories = self.cats.len();
        Ok(())
    }
}

async fn scan_once(table: &Table, p: &Point) -> Result<(Checksum, u64), BoxError> {
    let mut opts = ScanOptions::default();
    if let Some(t) = p.as_of {
        opts = opts.with_as_of(DateTime::from_timestamp_micros(t).ok_or("time")?);
    }
    if let Some(k) = &p.keys {
        opts = opts.with_key_predicate(KeyPredicate::In(
            k.iter().map(|s| KeyValue::String(s.clone())).collect(),
        ));
    }
    if p.grouped {
        opts = opts.with_columns(["category", "qty"]);
    }
    let mut stream = table.scan(opts).await?;
    let plan_rows: u64 = stream.plan().files.iter().map(|f| f.rows).sum();
    let mut sum = Checksum::default();
    while let Some(b) = stream.next().await {
        sum.add(&b?, p.grouped)?;
    }
    Ok((sum, plan_rows))
}

async fn scan(dir: &Path, point: &str, runs: usize) -> Result<serde_json::Value, BoxError> {
    let meta: Meta = serde_json::from_slice(&std::fs::read(dir.join("meta.json"))?)?;
    let p = meta
        .points
        .iter()
        .find(|p| p.name == point)
        .ok_or("no such point")?;
    let mut ms = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let s = Instant::now();
        let table = Table::open(&meta.table).await?;
        let r = scan_once(&table, p).await?;
        ms.push(s.elapsed().as_secs_f64() * 1e3);
        last = Some(r);
    }
    let (sum, plan_rows) = last.ok_or("runs must be > 0")?;
    Ok(serde_json::json!({ "ms": ms, "answer": sum, "rows_planned": plan_rows }))
}

/// Times a full history (every version of every key, all columns) and counts its rows;
/// `tasks`: key-range tasks (default: one per core).
async fn history(
    dir: &Path,
    runs: usize,
    tasks: Option<usize>,
) -> Result<serde_json::Value, BoxError> {
    let meta: Meta = serde_json::from_slice(&std::fs::read(dir.join("meta.json"))?)?;
    let mut ms = Vec::new();
    let mut rows = 0usize;
    for _ in 0..runs {
        let s = Instant::now();
        let table = Table::open(&meta.table).await?;
        let options = HistoryOptions {
            tasks,
            ..HistoryOptions::default()
        };
        let mut stream = table.history(options).await?;
        rows = 0;
        while let Some(b) = stream.next().await {
            rows += b?.num_rows();
        }
        ms.push(s.elapsed().as_secs_f64() * 1e3);
    }
    Ok(serde_json::json!({ "ms": ms, "rows": rows }))
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.get(1).map(String::as_str) {
        Some("gen") => {
            let workload = opt("--workload", "dense");
            let keys: usize = opt("--keys", "100000").parse()?;
            let every: usize =
                opt("--compact-every", if workload == "scd" { "6" } else { "5" }).parse()?;
            let out = PathBuf::from(opt("--out", "bench-compaction"));
            let meta = rt.block_on(gen(
                &workload,
                keys,
                &out,
                &opt("--policy", "volume"),
                every,
            ))?;
            println!("{}", serde_json::to_string_pretty(&meta)?);
        }
        Some("scan") => {
            let dir = PathBuf::from(opt("--dir", "bench-compaction"));
            let runs: usize = opt("--runs", "3").parse()?;
            let v = rt.block_on(scan(&dir, &opt("--point", "q1-current"), runs))?;
            println!("{v}");
        }
        Some("history") => {
            let dir = PathBuf::from(opt("--dir", "bench-compaction"));
            let runs: usize = opt("--runs", "3").parse()?;
            let tasks = match opt("--tasks", "").as_str() {
                "" => None,
                n => Some(n.parse()?),
            };
            println!("{}", rt.block_on(history(&dir, runs, tasks))?);
        }
        _ => {
            eprintln!(
                "usage: bazof-compaction-bench gen --workload dense|scd --keys N --out DIR \
                 [--policy volume[:H[:C]]|month|...] [--compact-every N]\n       \
                 bazof-compaction-bench scan --dir DIR --point NAME [--runs N]\n       \
                 bazof-compaction-bench history --dir DIR [--runs N] [--tasks N]"
            );
            std::process::exit(2);
        }
    }
    Ok(())
}
