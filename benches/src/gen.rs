//! Seeded generator of an event table shaped like business data, written twice:
//! as a bazof table (many commits in arrival order, then compacted with the default
//! policy) and as plain Parquet files (one per commit, with `commit` and `row`
//! columns for tie-breaking), plus a CSV of the first commits for the import cells.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use bazof::{
    ColumnDef, ColumnType, CompactionPolicy, KeyType, ScanOptions, Table, TableSchema,
    DELETED_COLUMN,
};
use futures::StreamExt;

use crate::queries::BoxError;
use chrono::{DateTime, TimeZone, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

/// Microseconds per day.
pub const DAY_US: i64 = 86_400_000_000;
/// Number of categories of the String value column.
pub const CATEGORIES: usize = 16;

/// Small, fast, seeded PRNG (SplitMix64): the data must be reproducible across
/// machines and runs without depending on a `rand` version.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(1e-12);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Generator parameters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GenConfig {
    pub keys: usize,
    /// Mean events per key; the count per key is log-normal (sigma 1), so a few keys
    /// carry many events and many keys carry one or two.
    pub events_per_key: f64,
    /// Fraction of events that arrive late (event time far behind their commit).
    pub late_fraction: f64,
    /// Longest lateness in days.
    pub max_late_days: i64,
    /// Fraction of events that are deletions (tombstones).
    pub tombstone_fraction: f64,
    /// Commits in arrival order.
    pub commits: usize,
    /// Event-time span of the history in days (starting 2023-01-01).
    pub span_days: i64,
    /// Compact every N commits as well as at the end (0: only at the end).
    pub compact_every: usize,
    /// Compaction policy: where segments go (`volume`, `day`, `month`, `year`, `rows:N`).
    pub segment: String,
    /// Compaction policy: merge a segment's deltas beyond this many.
    pub max_deltas: usize,
    pub seed: u64,
}

impl GenConfig {
    /// The compaction policy the bazof table is compacted with.
    pub fn policy(&self) -> Result<CompactionPolicy, String> {
        let segment = bazof::SegmentWidth::parse(&self.segment)
            .ok_or_else(|| format!("unknown segment width '{}'", self.segment))?;
        Ok(CompactionPolicy {
            segment,
            max_deltas: self.max_deltas,
            ..CompactionPolicy::default()
        })
    }
}

/// What the queries need to know about a generated data set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub config: GenConfig,
    pub events: u64,
    pub tombstones: u64,
    pub late_events: u64,
    /// Absolute path of the bazof table.
    pub table: String,
    /// Glob of the raw Parquet files.
    pub raw_glob: String,
    pub raw_files: Vec<String>,
    pub csv: String,
    pub csv_rows: u64,
    pub t0_us: i64,
    pub t_end_us: i64,
    /// Query 2 and 5: the middle of history.
    pub mid_us: i64,
    /// Query 3: inside the late-event window (late events still land before it).
    pub late_window_us: i64,
    /// Query 4: the point lookup's past time.
    pub lookup_us: i64,
    pub lookup_keys: Vec<String>,
    pub bazof_bytes: u64,
    pub raw_bytes: u64,
    pub bazof_files: usize,
    pub gen_seconds: f64,
    pub compact_seconds: f64,
}

impl Meta {
    pub fn load(dir: &Path) -> Result<Meta, String> {
        let text = fs::read_to_string(dir.join("meta.json")).map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }
}

/// The key of index `i` (zero-padded so that string order is index order).
pub fn key_name(i: usize) -> String {
    format!("k{i:08}")
}

pub fn category_name(i: u8) -> String {
    format!("cat_{i:02}")
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

pub fn table_schema() -> TableSchema {
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

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Columns shared by the bazof commit batch and the raw Parquet file.
fn value_columns(events: &[Event]) -> Vec<(&'static str, ArrayRef)> {
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
                events.iter().map(|e| live(e).then(|| category_name(e.cat))),
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

fn bazof_batch(events: &[Event]) -> RecordBatch {
    let mut cols = value_columns(events);
    cols.push((
        DELETED_COLUMN,
        Arc::new(BooleanArray::from_iter(
            events.iter().map(|e| Some(e.deleted)),
        )),
    ));
    RecordBatch::try_from_iter(cols).expect("bazof batch")
}

fn raw_batch(events: &[Event], commit: usize) -> RecordBatch {
    let mut fields = vec![
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
    let mut cols: Vec<ArrayRef> = value_columns(events).into_iter().map(|(_, a)| a).collect();
    cols.push(Arc::new(BooleanArray::from_iter(
        events.iter().map(|e| Some(e.deleted)),
    )));
    cols.push(Arc::new(Int64Array::from_iter_values(std::iter::repeat_n(
        commit as i64 + 1,
        events.len(),
    ))));
    cols.push(Arc::new(Int64Array::from_iter_values(
        0..events.len() as i64,
    )));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("raw batch")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0)
        .single()
        .expect("t0")
}

fn dir_size(dir: &Path) -> (u64, usize) {
    let mut bytes = 0;
    let mut files = 0;
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                let (b, f) = dir_size(&p);
                bytes += b;
                files += f;
            } else if let Ok(m) = e.metadata() {
                bytes += m.len();
                if p.extension().is_some_and(|x| x == "parquet") {
                    files += 1;
                }
            }
        }
    }
    (bytes, files)
}

fn rfc3339_us(t: i64) -> String {
    DateTime::from_timestamp_micros(t)
        .expect("time")
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Generates the data set into `dir` (which must not hold one yet) and writes `meta.json`.
pub fn generate(cfg: &GenConfig, dir: &Path) -> Result<Meta, Box<dyn std::error::Error>> {
    let started = Instant::now();
    fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    let mut rng = Rng::new(cfg.seed);
    let t0 = t0().timestamp_micros();
    let span = cfg.span_days * DAY_US;
    let commits = cfg.commits.max(1);
    let window = span / commits as i64;
    let max_late = cfg.max_late_days * DAY_US;

    // 1. Events, bucketed by the commit that carries them.
    let mut per_commit: Vec<Vec<Event>> = vec![Vec::new(); commits];
    let (mut events, mut tombstones, mut late) = (0u64, 0u64, 0u64);
    let sigma = 1.0f64;
    for k in 0..cfg.keys {
        let mean = cfg.events_per_key.max(1.0);
        let n = (mean * (sigma * rng.normal() - sigma * sigma / 2.0).exp()).round() as usize;
        let n = n.clamp(1, 50 * mean as usize + 1);
        let home_cat = (rng.f64() * rng.f64() * CATEGORIES as f64) as u8; // skewed
        for _ in 0..n {
            let c = rng.below(commits as u64) as usize;
            let mut t = t0 + c as i64 * window + rng.below(window as u64) as i64;
            if rng.f64() < cfg.late_fraction {
                t -= DAY_US + rng.below((max_late - DAY_US).max(1) as u64) as i64;
                if t < t0 {
                    t = t0 + rng.below(DAY_US as u64) as i64;
                }
                late += 1;
            }
            let deleted = rng.f64() < cfg.tombstone_fraction;
            tombstones += deleted as u64;
            // A key mostly stays in its category, sometimes moves.
            let cat = if rng.f64() < 0.8 {
                home_cat
            } else {
                rng.below(CATEGORIES as u64) as u8
            };
            per_commit[c].push(Event {
                key: k as u32,
                t,
                cat,
                qty: rng.below(1000) as i64,
                price: (rng.below(100_000) as f64) / 100.0,
                active: rng.f64() < 0.7,
                upd: t0 + (c as i64 + 1) * window - rng.below(DAY_US as u64) as i64,
                deleted,
            });
            events += 1;
        }
    }
    // Arrival order inside a commit: shuffled.
    for evs in &mut per_commit {
        for i in (1..evs.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            evs.swap(i, j);
        }
    }

    // 2. The bazof table, commit by commit, compacted with the configured policy.
    let policy = cfg.policy()?;
    let table_dir = dir.join("bazof");
    let raw_dir = dir.join("raw");
    fs::create_dir_all(&raw_dir)?;
    let table_path = table_dir.to_string_lossy().to_string();
    let mut compact_seconds = 0.0;
    bazof::blocking::block_on(async {
        let table = Table::create(&table_path, table_schema()).await?;
        for (c, evs) in per_commit.iter().enumerate() {
            if evs.is_empty() {
                continue;
            }
            table.commit(&[bazof_batch(evs)]).await?;
            if cfg.compact_every > 0 && (c + 1) % cfg.compact_every == 0 && c + 1 < commits {
                let s = Instant::now();
                table.compact(&policy).await?;
                compact_seconds += s.elapsed().as_secs_f64();
            }
        }
        let s = Instant::now();
        table.compact(&policy).await?;
        compact_seconds += s.elapsed().as_secs_f64();
        Ok::<_, bazof::Error>(())
    })?;

    // 3. The same events as plain Parquet, one file per commit.
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(Default::default()))
        .build();
    let mut raw_files = Vec::new();
    for (c, evs) in per_commit.iter().enumerate() {
        let path = raw_dir.join(format!("commit-{:04}.parquet", c + 1));
        let batch = raw_batch(evs, c);
        let mut w = ArrowWriter::try_new(
            fs::File::create(&path)?,
            batch.schema(),
            Some(props.clone()),
        )?;
        w.write(&batch)?;
        w.close()?;
        raw_files.push(path.to_string_lossy().to_string());
    }

    // 4. A CSV of the first quarter of the commits, for the import cells.
    let csv = dir.join("import.csv");
    let mut csv_rows = 0u64;
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(fs::File::create(&csv)?);
        writeln!(
            w,
            "key,event_time,category,qty,price,active,updated_at,deleted"
        )?;
        for evs in per_commit.iter().take(commits.div_ceil(4)) {
            for e in evs {
                if e.deleted {
                    writeln!(
                        w,
                        "{},{},,,,,,true",
                        key_name(e.key as usize),
                        rfc3339_us(e.t)
                    )?;
                } else {
                    writeln!(
                        w,
                        "{},{},{},{},{:.2},{},{},false",
                        key_name(e.key as usize),
                        rfc3339_us(e.t),
                        category_name(e.cat),
                        e.qty,
                        e.price,
                        e.active,
                        rfc3339_us(e.upd)
                    )?;
                }
                csv_rows += 1;
            }
        }
    }

    let mut lookup_keys = Vec::new();
    for _ in 0..5 {
        lookup_keys.push(key_name(rng.below(cfg.keys as u64) as usize));
    }
    let t_end = t0 + span;
    let (bazof_bytes, bazof_files) = dir_size(&table_dir);
    let (raw_bytes, _) = dir_size(&raw_dir);
    let meta = Meta {
        config: cfg.clone(),
        events,
        tombstones,
        late_events: late,
        table: table_path,
        raw_glob: raw_dir.join("*.parquet").to_string_lossy().to_string(),
        raw_files,
        csv: csv.to_string_lossy().to_string(),
        csv_rows,
        t0_us: t0,
        t_end_us: t_end,
        mid_us: t0 + span / 2,
        late_window_us: t_end - max_late / 3,
        lookup_us: t0 + span * 3 / 4,
        lookup_keys,
        bazof_bytes,
        raw_bytes,
        bazof_files,
        gen_seconds: started.elapsed().as_secs_f64(),
        compact_seconds,
    };
    fs::write(dir.join("meta.json"), serde_json::to_vec_pretty(&meta)?)?;
    Ok(meta)
}

/// The data set for `cfg` under `root`: generated unless an identical one exists.
pub fn ensure(
    cfg: &GenConfig,
    root: &Path,
    regen: bool,
) -> Result<(PathBuf, Meta), Box<dyn std::error::Error>> {
    let name = format!(
        "k{}_e{}_l{}_c{}_s{}_{}{}_ce{}",
        cfg.keys,
        cfg.events_per_key,
        cfg.late_fraction,
        cfg.commits,
        cfg.seed,
        cfg.segment,
        cfg.max_deltas,
        cfg.compact_every
    );
    let dir = root.join(name);
    if !regen {
        if let Ok(meta) = Meta::load(&dir) {
            if &meta.config == cfg {
                return Ok((dir, meta));
            }
        }
    }
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    let meta = generate(cfg, &dir)?;
    Ok((dir, meta))
}

/// The limit's input: the state at `t` (`None`: current), resolved once by the core and
/// written beside the table as one Parquet file (ZSTD, as the raw files). Reading it
/// is the least work any engine can do for the answer. Under the volume policy no base
/// need hold the state at a past `t`, so a base file would not do.
pub fn state_file_for(table: &str, t: Option<i64>) -> Result<String, BoxError> {
    let dir = Path::new(table)
        .parent()
        .ok_or("the table has no parent directory")?;
    let path = dir.join(match t {
        Some(t) => format!("state-{t}.parquet"),
        None => "state-current.parquet".into(),
    });
    if !path.exists() {
        let tmp = path.with_extension("tmp");
        bazof::blocking::block_on(async {
            let mut opts = ScanOptions::default();
            if let Some(t) = t {
                opts = opts.with_as_of(DateTime::from_timestamp_micros(t).ok_or("time")?);
            }
            let mut stream = Table::open(table).await?.scan(opts).await?;
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(Default::default()))
                .build();
            let mut w =
                ArrowWriter::try_new(fs::File::create(&tmp)?, stream.schema(), Some(props))?;
            while let Some(b) = stream.next().await {
                w.write(&b?)?;
            }
            w.close()?;
            Ok::<_, BoxError>(())
        })?;
        fs::rename(&tmp, &path)?;
    }
    Ok(path.to_string_lossy().into_owned())
}
