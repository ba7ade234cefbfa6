//! Command-line arguments (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// bazof: event-time time travel over tables in object storage.
#[derive(Debug, Parser)]
#[command(name = "bazof", version, about, long_about = None, after_help = "\
Examples:
  bazof import ./prices test-data/prices.csv --key symbol
  bazof scan ./prices --as-of 2024-03-01
  bazof log ./prices

TABLE is a local path or a URL (file://, s3://bucket/prefix).")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import CSV, NDJSON and Parquet files as ONE atomic commit (creates the table on first import).
    #[command(after_help = "\
Examples:
  bazof import ./prices test-data/prices.csv --key symbol
  bazof import ./prices late.csv more.csv --key symbol --deleted gone
  bazof import ./t data.tsv --delimiter '\\t' --schema 'id:int,price:float,day:date'
  bazof import ./t raw.csv --no-header --schema 'key:string,event_time:datetime,v:int'
  bazof import ./fl flights.csv --key tailnum --event-time time_hour --null NA
  bazof import ./t events.parquet more.ndjson.gz old.csv.gz

Formats come from the extension (.csv, .tsv, .csv.gz, .parquet, .pq, .ndjson, .jsonl,
.json, .ndjson.gz, .jsonl.gz) or --format. NDJSON: one object per line; timestamps and
dates are strings. Parquet: types map onto the table's exactly, or the import is refused.

Timestamps: RFC 3339 (with Z or an offset) or YYYY-MM-DD[ HH:MM:SS[.fff]] (read as UTC).
Types for --schema: string, int, float, boolean, datetime, date.
Inferred types keep every value as written: 007, +7 and ' 7' are not Ints, so such a column
(or key) is a String; a later row that breaks the type inferred from the first 10,000 rows
is refused with its line. Empty fields are null; other text is kept byte for byte.")]
    Import(ImportArgs),
    /// Print the table as of an event time (--as-of) and/or a commit (--snapshot).
    #[command(after_help = "\
Examples:
  bazof scan ./prices
  bazof scan ./prices --as-of 2024-03-01 --format csv
  bazof scan ./prices --as-of '2024-03-01 12:00:00' --snapshot 1 --key AAPL --key MSFT
  bazof scan ./prices --format parquet --output prices.parquet
  bazof scan --path ./test-data --table table0 --as-of 2024-03-15T14:30:00   (bazof 0.2 form)")]
    Scan(ScanArgs),
    /// Every version of every key with its valid-time interval (valid_from, valid_to).
    #[command(after_help = "\
Examples:
  bazof history ./prices
  bazof history ./prices --key AAPL --from 2024-01-01 --to 2024-03-31
  bazof history ./prices --snapshot 1 --format json

For every time t, the rows with valid_from <= t < valid_to (an empty valid_to: still
current) are exactly `bazof scan --as-of t` at the same snapshot.")]
    History(HistoryArgs),
    /// The keys whose row differs between two points (event time and/or commit).
    #[command(after_help = "\
Examples:
  bazof diff ./prices --from-snapshot 1 --to-snapshot 2               # what commit 2 changed
  bazof diff ./prices --from-as-of 2024-01-31 --to-as-of 2024-02-29   # what changed in February
  bazof diff ./prices --from-snapshot 1 --to-snapshot 2 --from-as-of 2024-02-15 --to-as-of 2024-02-15

A point is an --as-of (default: current) and a --snapshot (default: latest). Output:
key, change (insert, delete, update), before_<column>..., after_<column>...")]
    Diff(DiffArgs),
    /// Show the schema, format version, latest commit and segment tree.
    #[command(after_help = "Example:\n  bazof info ./prices --snapshot 1")]
    Info(InfoArgs),
    /// One line per commit: number, commit time, rows added, files added, event-time range.
    #[command(after_help = "Example:\n  bazof log ./prices")]
    Log(TableArg),
    /// Validate the snapshots vacuum retained and every data file they reference; exit 1 on any problem.
    #[command(after_help = "Examples:\n  bazof check ./prices\n  bazof check ./prices --data")]
    Check(CheckArgs),
    /// Compact in one atomic commit: place bases by data volume, split and merge deltas. Answers never change.
    #[command(after_help = "\
Examples:
  bazof compact ./prices
  bazof compact ./prices --dry-run
  bazof compact ./prices --segment month --max-deltas 8
  bazof compact ./prices --close-at 2024-03-01")]
    Compact(CompactArgs),
    /// Delete data files no retained snapshot references (default: keep 7 days of snapshots).
    #[command(after_help = "\
Examples:
  bazof vacuum ./prices --dry-run
  bazof vacuum ./prices --retain-hours 0")]
    Vacuum(VacuumArgs),
    /// bazof 0.2: convert DIR/NAME/FILE.csv (no header) into DIR/NAME/FILE.parquet.
    #[command(after_help = "Example:\n  bazof gen --path ./test-data --table table2 --file base")]
    Gen(GenArgs),
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Table location: a path or a URL.
    pub table: String,
    /// Where bases go: volume (by data volume, the default), day, month or year (calendar
    /// periods of event time), or rows:N (about N events per segment).
    #[arg(long, default_value = "volume")]
    pub segment: String,
    /// Do the work and say what would be written and dropped; publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Merge a segment's deltas once it has more than this many.
    #[arg(long, default_value_t = 4)]
    pub max_deltas: usize,
    /// Rows per written data file.
    #[arg(long, default_value_t = 4 << 20)]
    pub target_file_rows: usize,
    /// Also close the open segment at this event time.
    #[arg(long, value_name = "TS")]
    pub close_at: Option<String>,
}

/// The largest `--retain-hours` (about 114,000 years): the cutoff stays a valid timestamp.
pub const MAX_RETAIN_HOURS: i64 = 1_000_000_000;

#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// Table location: a path or a URL.
    pub table: String,
    /// Keep snapshots (and unreferenced files) younger than this many hours (0 to 1000000000).
    #[arg(long, default_value_t = 168, allow_negative_numbers = true)]
    pub retain_hours: i64,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct TableArg {
    /// Table location: a path or a URL.
    pub table: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Table location: a path or a URL.
    pub table: String,
    /// Also read every row of every data file (the whole table): each page must decode,
    /// rows must be in key order and inside the key, event-time and commit ranges the
    /// snapshot records (scans prune by them)
    #[arg(long)]
    pub data: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Table location: a path or a URL.
    pub table: String,
    /// CSV, NDJSON or Parquet files (gzipped CSV and NDJSON too); all of them form one commit.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Format of every file [default: from each file's extension].
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,
    /// CSV: a field that means null, besides the empty field (repeatable: --null NA --null '\N').
    #[arg(long = "null", value_name = "STR", allow_hyphen_values = true)]
    pub null: Vec<String>,
    /// Key column [default: key, or the table's key column].
    #[arg(long, value_name = "COL")]
    pub key: Option<String>,
    /// Event-time column [default: event_time, or the table's event-time column].
    #[arg(long, value_name = "COL")]
    pub event_time: Option<String>,
    /// Boolean column marking deletions (tombstones); not stored as a value column.
    #[arg(long, value_name = "COL")]
    pub deleted: Option<String>,
    /// Column types instead of inference, e.g. 'key:int,price:float,day:date'.
    /// With --no-header it names every column of the file in order.
    #[arg(long, value_name = "COL:TYPE,...")]
    pub schema: Option<String>,
    /// Field delimiter (one character; '\t' or 'tab' for tabs).
    #[arg(long, value_name = "C", default_value = ",")]
    pub delimiter: String,
    /// The files have no header row.
    #[arg(long)]
    pub no_header: bool,
    /// Rows sorted in memory per data file (bounds memory).
    #[arg(long, hide = true)]
    pub run_rows: Option<usize>,
}

/// The format of an input file of `bazof import`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// CSV (.csv, .tsv, .csv.gz).
    Csv,
    /// One JSON object per line (.ndjson, .jsonl, .json, and .gz).
    Ndjson,
    /// Parquet (.parquet, .pq).
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned, human-readable table.
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Json,
    /// Parquet (needs --output).
    Parquet,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Table location: a path or a URL.
    #[arg(required_unless_present_all = ["path", "table_name"], conflicts_with_all = ["path", "table_name"])]
    pub table: Option<String>,
    /// bazof 0.2 form: directory holding the table (with --table).
    #[arg(long, value_name = "DIR", requires = "table_name")]
    pub path: Option<String>,
    /// bazof 0.2 form: table name inside --path.
    #[arg(
        long = "table",
        id = "table_name",
        value_name = "NAME",
        requires = "path"
    )]
    pub table_name: Option<String>,
    /// Event time to travel to (what was true in the world then).
    #[arg(long, value_name = "TS")]
    pub as_of: Option<String>,
    /// Commit to travel to (what the table knew then) [default: latest].
    #[arg(long, value_name = "N")]
    pub snapshot: Option<u64>,
    /// Columns to print, comma-separated [default: key, event time, values].
    #[arg(long, value_name = "a,b", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Only these keys (repeatable; negative Int keys as --key -5, a String key that
    /// starts with '-' as --key=-k).
    #[arg(long, value_name = "K", num_args = 1.., action = clap::ArgAction::Append, allow_negative_numbers = true)]
    pub key: Vec<String>,
    /// At most N rows (in key order).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub out: OutputArgs,
}

impl ScanArgs {
    /// The table location, from TABLE or --path/--table.
    pub fn location(&self) -> String {
        match (&self.table, &self.path, &self.table_name) {
            (Some(t), _, _) => t.clone(),
            (None, Some(dir), Some(name)) => format!("{}/{}", dir.trim_end_matches('/'), name),
            _ => String::new(),
        }
    }
}

/// Where and how scan-like commands print rows.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format [default: table on a terminal, else csv; from --output's extension].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Table location: a path or a URL.
    pub table: String,
    /// Use what the table knew after this commit [default: latest].
    #[arg(long, value_name = "N")]
    pub snapshot: Option<u64>,
    /// Only versions still valid at or after this time.
    #[arg(long, value_name = "TS")]
    pub from: Option<String>,
    /// Only versions starting at or before this time.
    #[arg(long, value_name = "TS")]
    pub to: Option<String>,
    /// Value columns to print, comma-separated [default: all].
    #[arg(long, value_name = "a,b", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Only these keys (repeatable).
    #[arg(long, value_name = "K", num_args = 1.., action = clap::ArgAction::Append, allow_negative_numbers = true)]
    pub key: Vec<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Table location: a path or a URL.
    pub table: String,
    /// First point: event time [default: current].
    #[arg(long, value_name = "TS")]
    pub from_as_of: Option<String>,
    /// First point: commit [default: latest].
    #[arg(long, value_name = "N")]
    pub from_snapshot: Option<u64>,
    /// Second point: event time [default: current].
    #[arg(long, value_name = "TS")]
    pub to_as_of: Option<String>,
    /// Second point: commit [default: latest].
    #[arg(long, value_name = "N")]
    pub to_snapshot: Option<u64>,
    /// Columns to compare and print, comma-separated [default: all but the key].
    #[arg(long, value_name = "a,b", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Only these keys (repeatable).
    #[arg(long, value_name = "K", num_args = 1.., action = clap::ArgAction::Append, allow_negative_numbers = true)]
    pub key: Vec<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Table location: a path or a URL.
    pub table: String,
    /// Describe this commit's snapshot [default: latest].
    #[arg(long, value_name = "N")]
    pub snapshot: Option<u64>,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Directory holding the table.
    #[arg(long, value_name = "DIR")]
    pub path: String,
    /// Table name inside --path.
    #[arg(long, value_name = "NAME")]
    pub table: String,
    /// File stem: reads FILE.csv, writes FILE.parquet.
    #[arg(long, value_name = "FILE")]
    pub file: String,
}
