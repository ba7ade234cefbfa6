//! Medians, ratios, answer checks, Markdown / CSV output and the PNG plot.

use std::fmt::Write as _;
use std::path::Path;

use crate::gen::Meta;
use crate::queries::{Answer, CellOutcome, Engine, Query};

/// One cell (query × engine) at one table size, summarised over its runs.
#[derive(Debug, Clone)]
pub struct CellRow {
    pub keys: usize,
    pub query: Query,
    pub engine: Engine,
    pub runs: usize,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub median_rss_kib: u64,
    pub bytes: Option<u64>,
    pub answer: Option<Answer>,
    pub note: String,
    /// Median over the runs of the engine's aggregate alone (door cells).
    pub aggregate_ms: Option<f64>,
    pub error: Option<String>,
    /// Baseline time / this time (same engine over raw Parquet): > 1 means bazof is faster.
    pub speedup_vs_baseline: Option<f64>,
    /// This time / the limit's time.
    pub times_limit: Option<f64>,
}

/// One run of one cell (runs.csv).
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub keys: usize,
    pub query: Query,
    pub engine: Engine,
    pub run: usize,
    pub wall_ms: f64,
    pub rss_kib: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl CellRow {
    pub fn from_runs(
        keys: usize,
        query: Query,
        engine: Engine,
        outcomes: &[(CellOutcome, u64)],
        error: Option<String>,
    ) -> CellRow {
        let times: Vec<f64> = outcomes.iter().map(|(o, _)| o.wall_ms).collect();
        let rss = median(outcomes.iter().map(|(_, r)| *r as f64).collect());
        let aggregates: Vec<f64> = outcomes
            .iter()
            .filter_map(|(o, _)| o.aggregate_ms)
            .collect();
        let aggregate_ms = (!aggregates.is_empty()).then(|| median(aggregates));
        let mut note = outcomes
            .first()
            .map(|(o, _)| o.note.clone())
            .unwrap_or_default();
        if let Some(a) = aggregate_ms {
            if !note.is_empty() {
                note += "; ";
            }
            let _ = write!(note, "the aggregate alone {a:.1} ms");
        }
        CellRow {
            keys,
            query,
            engine,
            runs: outcomes.len(),
            median_ms: median(times.clone()),
            min_ms: times.iter().copied().fold(f64::INFINITY, f64::min),
            max_ms: times.iter().copied().fold(0.0, f64::max),
            median_rss_kib: if rss.is_nan() { 0 } else { rss as u64 },
            bytes: outcomes.first().and_then(|(o, _)| o.bytes),
            answer: outcomes.first().map(|(o, _)| o.answer.clone()),
            note,
            aggregate_ms,
            error,
            speedup_vs_baseline: None,
            times_limit: None,
        }
    }
}

pub fn fill_ratios(rows: &mut [CellRow]) {
    let snapshot = rows.to_vec();
    let lookup = |r: &CellRow, e: Engine| {
        snapshot.iter().find(|o| {
            o.keys == r.keys
                && o.query == r.query
                && o.engine == e
                && o.error.is_none()
                && o.runs > 0
        })
    };
    for r in rows.iter_mut() {
        if r.error.is_some() || r.runs == 0 {
            continue;
        }
        if let Some(b) = r.engine.baseline().and_then(|b| lookup(r, b)) {
            r.speedup_vs_baseline = Some(b.median_ms / r.median_ms);
        }
        if r.engine.is_bazof() && r.engine != Engine::BazofImport {
            if let Some(l) = lookup(r, Engine::Limit) {
                r.times_limit = Some(r.median_ms / l.median_ms);
            }
        }
    }
}

/// Problems: cells of one query whose answers differ.
pub fn check_answers(rows: &[CellRow]) -> Vec<String> {
    let mut problems = Vec::new();
    for q in Query::ALL {
        let cells: Vec<&CellRow> = rows
            .iter()
            .filter(|r| r.query == q && q.compares(r.engine) && r.answer.is_some())
            .collect();
        let Some(first) = cells.first() else { continue };
        let reference = first.answer.as_ref().expect("answer");
        for c in &cells[1..] {
            let a = c.answer.as_ref().expect("answer");
            if !a.agrees(reference) {
                problems.push(format!(
                    "{} at K={}: {} says {a} but {} says {reference}",
                    q.name(),
                    c.keys,
                    c.engine.name(),
                    first.engine.name()
                ));
            }
        }
    }
    problems
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

pub fn markdown(meta: &Meta, rows: &[CellRow]) -> String {
    let c = &meta.config;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### K = {} keys, {} events ({:.1}/key, {:.0}% late up to {} days, {} tombstones), {} commits\n",
        c.keys,
        meta.events,
        meta.events as f64 / c.keys as f64,
        c.late_fraction * 100.0,
        c.max_late_days,
        meta.tombstones,
        c.commits
    );
    let _ = writeln!(
        s,
        "bazof table {:.1} MB in {} files (compacted with segment = {}, max_deltas = {}: {:.1} s); raw Parquet {:.1} MB in {} files; CSV {} rows.\n",
        meta.bazof_bytes as f64 / 1e6,
        meta.bazof_files,
        c.segment,
        c.max_deltas,
        meta.compact_seconds,
        meta.raw_bytes as f64 / 1e6,
        meta.raw_files.len(),
        meta.csv_rows
    );
    let _ = writeln!(
        s,
        "| query | engine | median ms | min–max ms | speedup vs baseline | × limit | peak RSS MB | bytes read MB | rows | answer |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        if let Some(e) = &r.error {
            let _ = writeln!(
                s,
                "| {} | {} | error | | | | | | | {} |",
                r.query.name(),
                r.engine.name(),
                e.replace('|', "/").lines().next().unwrap_or("")
            );
            continue;
        }
        let answer = match (&r.answer, r.query.compares(r.engine)) {
            (Some(a), true) => {
                let agrees = rows
                    .iter()
                    .filter(|o| o.query == r.query && r.query.compares(o.engine))
                    .filter_map(|o| o.answer.as_ref())
                    .all(|o| o.agrees(a));
                if agrees && !r.note.is_empty() {
                    format!("same; {}", r.note)
                } else if agrees {
                    "same".to_string()
                } else {
                    format!("DIFFERS: {a}")
                }
            }
            (Some(_), false) => format!(
                "({}{})",
                if r.query == Query::Hist {
                    "the raw events, read once"
                } else {
                    "rows stored"
                },
                if r.note.is_empty() {
                    String::new()
                } else {
                    format!(", {}", r.note)
                }
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {:.1}–{:.1} | {} | {} | {:.0} | {} | {} | {} |",
            r.query.name(),
            r.engine.name(),
            r.median_ms,
            r.min_ms,
            r.max_ms,
            opt(r.speedup_vs_baseline, 2),
            opt(r.times_limit, 2),
            r.median_rss_kib as f64 / 1024.0,
            r.bytes
                .map(|b| format!("{:.1}", b as f64 / 1e6))
                .unwrap_or_else(|| "–".into()),
            r.answer
                .as_ref()
                .map(|a| a.rows().to_string())
                .unwrap_or_default(),
            answer
        );
    }
    // Query 4 against a full resolution (the core resolving every key as of mid-history).
    let cell = |q: Query, e: Engine| {
        rows.iter()
            .find(|r| r.query == q && r.engine == e && r.error.is_none())
    };
    if let (Some(full), Some(point)) =
        (cell(Query::Q2, Engine::Core), cell(Query::Q4, Engine::Core))
    {
        let _ = writeln!(
            s,
            "\nq4 point lookup vs a full resolution (core q2): {:.1}× faster.",
            full.median_ms / point.median_ms
        );
    }
    // Each door against the core plus its engine's aggregate alone: what the door adds
    // to the core beyond the engine's own work.
    for q in [Query::Q1, Query::Q2, Query::Q3, Query::Q5] {
        let Some(core) = cell(q, Engine::Core) else {
            continue;
        };
        let ratios: Vec<String> = [Engine::DuckdbBazof, Engine::PolarsBazof]
            .into_iter()
            .filter_map(|e| {
                let door = cell(q, e)?;
                let aggregate = door.aggregate_ms?;
                Some(format!(
                    "{} {:.2}",
                    e.name(),
                    door.median_ms / (core.median_ms + aggregate)
                ))
            })
            .collect();
        if !ratios.is_empty() {
            let _ = writeln!(
                s,
                "{} door ÷ (core + its engine's aggregate alone): {}.",
                q.name(),
                ratios.join(", ")
            );
        }
    }
    // History against one raw read in the same engine (issue 16), whole and without
    // each side's aggregate alone (what the engine itself spends on the rows).
    let pairs = [
        (Engine::DuckdbBazof, Engine::DuckdbParquet),
        (Engine::PolarsBazof, Engine::PolarsParquet),
        (Engine::Core, Engine::CoreParquet),
    ];
    let ratios: Vec<String> = pairs
        .into_iter()
        .filter_map(|(door, raw)| {
            let (d, r) = (cell(Query::Hist, door)?, cell(Query::Hist, raw)?);
            let read = match (d.aggregate_ms, r.aggregate_ms) {
                (Some(da), Some(ra)) if r.median_ms > ra => format!(
                    ", {:.2} without the aggregate ({:.0} ÷ {:.0} ms)",
                    (d.median_ms - da) / (r.median_ms - ra),
                    d.median_ms - da,
                    r.median_ms - ra
                ),
                _ => String::new(),
            };
            Some(format!(
                "{} {:.2}{read}",
                door.name(),
                d.median_ms / r.median_ms
            ))
        })
        .collect();
    if !ratios.is_empty() {
        let _ = writeln!(
            s,
            "hist door ÷ the raw read in the same engine: {}.",
            ratios.join("; ")
        );
    }
    // `WHERE key = x` in SQL against the full scan through the same door.
    if let (Some(full), Some(point)) = (
        cell(Query::Q1, Engine::DuckdbBazof),
        cell(Query::Q6, Engine::DuckdbBazofWhere),
    ) {
        let _ = writeln!(
            s,
            "q6 `WHERE key = x` vs the full `bazof_scan` (q1): {:.1}× faster.",
            full.median_ms / point.median_ms
        );
    }
    s
}

pub fn write_csv(path: &Path, rows: &[CellRow]) -> std::io::Result<()> {
    let mut s = String::from(
        "keys,query,engine,runs,median_ms,min_ms,max_ms,peak_rss_mib,bytes_read,rows,speedup_vs_baseline,times_limit,answer,note,error\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{:.3},{:.3},{:.3},{:.1},{},{},{},{},{},{},{}",
            r.keys,
            r.query.name(),
            r.engine.name(),
            r.runs,
            r.median_ms,
            r.min_ms,
            r.max_ms,
            r.median_rss_kib as f64 / 1024.0,
            r.bytes.map(|b| b.to_string()).unwrap_or_default(),
            r.answer
                .as_ref()
                .map(|a| a.rows().to_string())
                .unwrap_or_default(),
            r.speedup_vs_baseline
                .map(|x| format!("{x:.3}"))
                .unwrap_or_default(),
            r.times_limit.map(|x| format!("{x:.3}")).unwrap_or_default(),
            r.answer.as_ref().map(|a| a.to_string()).unwrap_or_default(),
            r.note.replace(',', ";"),
            r.error.as_deref().unwrap_or("").replace([',', '\n'], " ")
        );
    }
    std::fs::write(path, s)
}

pub fn write_runs_csv(path: &Path, runs: &[RunRecord]) -> std::io::Result<()> {
    let mut s = String::from("keys,query,engine,run,wall_ms,peak_rss_mib\n");
    for r in runs {
        let _ = writeln!(
            s,
            "{},{},{},{},{:.3},{:.1}",
            r.keys,
            r.query.name(),
            r.engine.name(),
            r.run,
            r.wall_ms,
            r.rss_kib as f64 / 1024.0
        );
    }
    std::fs::write(path, s)
}

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

fn register_font() -> Result<(), String> {
    let path = std::env::var("BAZOF_BENCH_FONT")
        .ok()
        .or_else(|| {
            FONT_PATHS
                .iter()
                .find(|p| Path::new(p).is_file())
                .map(|p| p.to_string())
        })
        .ok_or("no TrueType font found (set BAZOF_BENCH_FONT=/path/to/font.ttf)")?;
    let bytes: &'static [u8] = Box::leak(
        std::fs::read(&path)
            .map_err(|e| format!("{path}: {e}"))?
            .into_boxed_slice(),
    );
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes)
        .map_err(|_| format!("{path}: not a usable font"))
}

/// Time vs table size, one panel per query, one line per engine (log-log).
pub fn plot(path: &Path, rows: &[CellRow]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    register_font()?;
    let queries: Vec<Query> = Query::ALL
        .into_iter()
        .filter(|q| rows.iter().any(|r| r.query == *q && r.error.is_none()))
        .collect();
    let cols = 3usize;
    let nrows = queries.len().div_ceil(cols).max(1);
    let root = BitMapBackend::new(path, (1500, 480 * nrows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((nrows, cols));
    let colors = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(127, 127, 127),
    ];
    for (panel, q) in panels.iter().zip(&queries) {
        let qrows: Vec<&CellRow> = rows
            .iter()
            .filter(|r| r.query == *q && r.error.is_none() && r.median_ms.is_finite())
            .collect();
        let kmin = qrows.iter().map(|r| r.keys).min().unwrap_or(1) as f64;
        let kmax = qrows.iter().map(|r| r.keys).max().unwrap_or(10) as f64;
        let tmin = qrows
            .iter()
            .map(|r| r.median_ms)
            .fold(f64::INFINITY, f64::min)
            .max(0.01);
        let tmax = qrows
            .iter()
            .map(|r| r.median_ms)
            .fold(0.0, f64::max)
            .max(tmin * 10.0);
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{}: {}", q.name(), q.describe()),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (kmin * 0.8..kmax * 1.25).log_scale(),
                (tmin * 0.7..tmax * 1.5).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc("keys")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y}"))
            .y_desc("median ms")
            .label_style(("sans-serif", 12))
            .draw()?;
        let engines: Vec<Engine> = Engine::engines_for(*q)
            .iter()
            .copied()
            .filter(|e| qrows.iter().any(|r| r.engine == *e))
            .collect();
        for (i, e) in engines.iter().enumerate() {
            let color = colors[i % colors.len()];
            let mut pts: Vec<(f64, f64)> = qrows
                .iter()
                .filter(|r| r.engine == *e)
                .map(|r| (r.keys as f64, r.median_ms))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let style = if e.is_bazof() {
                color.stroke_width(3)
            } else {
                color.stroke_width(1)
            };
            chart
                .draw_series(LineSeries::new(pts.clone(), style))?
                .label(e.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
                });
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()?;
    }
    root.present()?;
    Ok(())
}
