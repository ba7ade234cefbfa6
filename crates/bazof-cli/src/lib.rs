//! The library half of the `bazof` command-line tool: everything but `main`.
//!
//! Modules: `cli` (arguments), `source` (formats, gzip), `csv_input` (CSV reading and
//! inference), `json_input` (NDJSON), `parquet_input` (Parquet), `convert` (values into
//! table columns, shared by the three readers),
//! `quoting` (quoting errors), `forms` (which text reads back as written),
//! `output` (table/csv/json/parquet), `timefmt` (timestamps), `commands` (one per command).
//! The binary (`src/main.rs`) only parses arguments and dispatches; the library exists so
//! that the CSV importer can be driven directly (fuzz targets in `/fuzz`).

pub mod batches;
pub mod blocks;
pub mod cli;
pub mod commands;
pub mod convert;
pub mod csv_blocks;
pub mod csv_input;
pub mod error;
pub mod forms;
pub mod infer;
pub mod json_input;
pub mod output;
pub mod parquet_input;
pub mod quoting;
pub mod source;
pub mod timefmt;
