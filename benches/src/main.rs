//! `bazof-bench`: bazof against what users would do instead, in the same run, as ratios
//! (issue 7). See `benches/README.md` and `benches/RESULTS.md`.
//!
//! The parent process generates (or reuses) the data sets and runs every cell
//! (query × engine × run) in a child process of this same binary
//! (`bazof-bench cell ...`), so that each cell's peak RSS is its own.

mod gen;
mod hist;
mod pit;
mod queries;
mod report;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::{Args, Parser, Subcommand};

use crate::gen::{GenConfig, Meta};
use crate::queries::{CellOutcome, Engine, Query};
use crate::report::{CellRow, RunRecord};

#[derive(Debug, Parser)]
#[command(
    name = "bazof-bench",
    about = "bazof vs DuckDB / Polars over raw Parquet: time, peak RSS and ratios",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Runs one cell once and prints its outcome (used by the parent process).
    #[command(hide = true)]
    Cell(CellArgs),
}

#[derive(Debug, Args)]
struct CellArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long, value_enum)]
    query: Query,
    #[arg(long, value_enum)]
    engine: Engine,
    #[arg(long)]
    scratch: PathBuf,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Table sizes (number of keys), comma-separated; several sizes also draw the plot.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    keys: Vec<usize>,
    /// Mean events per key (log-normally skewed).
    #[arg(long, default_value_t = 5.0)]
    events_per_key: f64,
    /// Fraction of events arriving late (up to --max-late-days behind their commit).
    #[arg(long, default_value_t = 0.1)]
    late_fraction: f64,
    #[arg(long, default_value_t = 120)]
    max_late_days: i64,
    /// Commits (arrival order) the history is written in.
    #[arg(long, default_value_t = 40)]
    commits: usize,
    /// Compact every N commits as well as at the end (0: only at the end).
    #[arg(long, default_value_t = 0)]
    compact_every: usize,
    /// Compaction policy of the bazof table: where segments go (volume, day, month,
    /// year, rows:N); the default is the library's.
    #[arg(long, default_value = "volume")]
    segment: String,
    /// Compaction policy: merge a segment's deltas once it has more than this many.
    #[arg(long, default_value_t = bazof::CompactionPolicy::default().max_deltas)]
    max_deltas: usize,
    /// Runs per cell; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Queries to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    queries: Vec<Query>,
    /// Engines to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    engines: Vec<Engine>,
    /// Where results (CSV, Markdown, PNG) go.
    #[arg(long, default_value = "bench-out")]
    out_dir: PathBuf,
    /// Where data sets are generated and reused [default: OUT_DIR/data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Generate data sets even if an identical one exists.
    #[arg(long)]
    regen: bool,
    /// Tiny size (2k keys), one run, and a check that all cells agree; no timing claims.
    #[arg(long)]
    smoke: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Sub::Cell(a)) => cell_main(a),
        None => match run_main(cli.run) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("bazof-bench: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

const CELL_PREFIX: &str = "BAZOF_BENCH_CELL ";

/// The cell's peak resident set, frozen when its clock stopped (see [`freeze_peak_rss`]).
static FROZEN_PEAK_KIB: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Freezes the peak resident set reported for this cell at its current value: work a
/// cell does after its clock stops (its engine's aggregate alone, over the answer held
/// in memory) must not count as the cell's memory.
pub(crate) fn freeze_peak_rss() {
    let _ = FROZEN_PEAK_KIB.set(current_peak_rss_kib());
}

/// Peak resident set of the cell, in KiB: frozen by [`freeze_peak_rss`], else now.
fn peak_rss_kib() -> u64 {
    FROZEN_PEAK_KIB
        .get()
        .copied()
        .unwrap_or_else(current_peak_rss_kib)
}

/// Peak resident set of this process and of its waited-for children, in KiB.
fn current_peak_rss_kib() -> u64 {
    let own = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0);
    // SAFETY: getrusage only writes into the struct we pass.
    let children = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) == 0 {
            ru.ru_maxrss as u64
        } else {
            0
        }
    };
    own.max(children)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CellLine {
    outcome: Option<CellOutcome>,
    rss_kib: u64,
}

fn cell_main(a: CellArgs) -> ExitCode {
    let meta = match Meta::load(&a.data) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cannot read {}/meta.json: {e}", a.data.display());
            return ExitCode::FAILURE;
        }
    };
    let _ = std::fs::create_dir_all(&a.scratch);
    match queries::run_cell(a.query, a.engine, &meta, &a.scratch) {
        Ok(outcome) => {
            let line = CellLine {
                outcome,
                rss_kib: peak_rss_kib(),
            };
            println!(
                "{CELL_PREFIX}{}",
                serde_json::to_string(&line).expect("json")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{} {}: {e}", a.query.name(), a.engine.name());
            ExitCode::FAILURE
        }
    }
}

fn run_child(
    data: &Path,
    scratch: &Path,
    q: Query,
    e: Engine,
) -> Result<Option<(CellOutcome, u64)>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .arg("cell")
        .arg("--data")
        .arg(data)
        .args(["--query", q.name(), "--engine", e.name()])
        .arg("--scratch")
        .arg(scratch)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{} {} failed ({}): {}",
            q.name(),
            e.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(CELL_PREFIX))
        .ok_or_else(|| format!("{} {}: no result line", q.name(), e.name()))?;
    let parsed: CellLine = serde_json::from_str(line).map_err(|e| e.to_string())?;
    Ok(parsed.outcome.map(|o| (o, parsed.rss_kib)))
}

fn run_main(mut a: RunArgs) -> Result<bool, Box<dyn std::error::Error>> {
    if a.smoke {
        a.keys = vec![2000];
        a.runs = 1;
        a.events_per_key = a.events_per_key.min(3.0);
        a.commits = 12;
        a.compact_every = 4;
    }
    let queries: Vec<Query> = if a.queries.is_empty() {
        Query::ALL.to_vec()
    } else {
        a.queries.clone()
    };
    std::fs::create_dir_all(&a.out_dir)?;
    let data_root = a.data_dir.clone().unwrap_or_else(|| a.out_dir.join("data"));
    let scratch = a.out_dir.join("scratch");
    let mut all_rows: Vec<CellRow> = Vec::new();
    let mut all_runs: Vec<RunRecord> = Vec::new();
    let mut metas: Vec<Meta> = Vec::new();
    let mut ok = true;
    for &keys in &a.keys {
        let cfg = GenConfig {
            keys,
            events_per_key: a.events_per_key,
            late_fraction: a.late_fraction,
            max_late_days: a.max_late_days,
            tombstone_fraction: 0.02,
            commits: a.commits,
            span_days: 730,
            compact_every: a.compact_every,
            segment: a.segment.clone(),
            max_deltas: a.max_deltas,
            seed: a.seed,
        };
        eprintln!("== K = {keys}: data set ...");
        let (dir, meta) = gen::ensure(&cfg, &data_root, a.regen)?;
        eprintln!(
            "   {} events ({} late, {} tombstones) in {} commits; bazof {:.1} MB in {} files, raw Parquet {:.1} MB; generated in {:.1} s (compaction {:.1} s)",
            meta.events,
            meta.late_events,
            meta.tombstones,
            cfg.commits,
            meta.bazof_bytes as f64 / 1e6,
            meta.bazof_files,
            meta.raw_bytes as f64 / 1e6,
            meta.gen_seconds,
            meta.compact_seconds
        );
        let mut rows = Vec::new();
        for &q in &queries {
            for &e in Engine::engines_for(q) {
                if !a.engines.is_empty() && !a.engines.contains(&e) {
                    continue;
                }
                let mut outcomes = Vec::new();
                let mut error = None;
                for run in 0..a.runs.max(1) {
                    match run_child(&dir, &scratch, q, e) {
                        Ok(Some((o, rss))) => {
                            eprintln!(
                                "   {:<6} {:<15} run {}: {:>10.1} ms {:>8.1} MB  {}",
                                q.name(),
                                e.name(),
                                run + 1,
                                o.wall_ms,
                                rss as f64 / 1024.0,
                                o.answer
                            );
                            all_runs.push(RunRecord {
                                keys,
                                query: q,
                                engine: e,
                                run: run + 1,
                                wall_ms: o.wall_ms,
                                rss_kib: rss,
                            });
                            outcomes.push((o, rss));
                        }
                        Ok(None) => break,
                        Err(msg) => {
                            eprintln!("   {msg}");
                            error = Some(msg);
                            break;
                        }
                    }
                }
                if outcomes.is_empty() && error.is_none() {
                    continue; // the cell does not apply
                }
                rows.push(CellRow::from_runs(keys, q, e, &outcomes, error));
            }
        }
        report::fill_ratios(&mut rows);
        let agree = report::check_answers(&rows);
        for problem in &agree {
            eprintln!("   ANSWER MISMATCH: {problem}");
        }
        let errors = rows.iter().filter(|r| r.error.is_some()).count();
        if !agree.is_empty() || errors > 0 {
            ok = false;
        }
        println!("{}", report::markdown(&meta, &rows));
        all_rows.extend(rows);
        metas.push(meta);
    }
    report::write_csv(&a.out_dir.join("results.csv"), &all_rows)?;
    report::write_runs_csv(&a.out_dir.join("runs.csv"), &all_runs)?;
    let mut md = String::new();
    for m in &metas {
        let rows: Vec<CellRow> = all_rows
            .iter()
            .filter(|r| r.keys == m.config.keys)
            .cloned()
            .collect();
        md += &report::markdown(m, &rows);
        md += "\n";
    }
    std::fs::write(a.out_dir.join("results.md"), md)?;
    if a.keys.len() > 1 {
        match report::plot(&a.out_dir.join("time_vs_keys.png"), &all_rows) {
            Ok(()) => eprintln!("plot: {}", a.out_dir.join("time_vs_keys.png").display()),
            Err(e) => eprintln!("plot skipped: {e}"),
        }
    }
    eprintln!(
        "results: {}, {}, {}",
        a.out_dir.join("results.md").display(),
        a.out_dir.join("results.csv").display(),
        a.out_dir.join("runs.csv").display()
    );
    if a.smoke {
        if ok {
            eprintln!("smoke: every cell ran and all comparable answers agree");
        } else {
            eprintln!("smoke: FAILED (errors or disagreeing answers above)");
        }
    }
    Ok(ok)
}
