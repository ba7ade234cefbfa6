//! The library half of the `bazof` command-line tool: everything but `main`.
//!
//! Modules: `cli` (arguments), `csv_input` (CSV reading, inference, conversion),
//! `quoting` (quoting errors), `forms` (which text reads back as written),
//! `output` (table/csv/json/parquet), `timefmt` (timestamps), `commands` (one per command).
//! The binary (`src/main.rs`) only parses arguments and dispatches; the library exists so
//! that the CSV importer can be driven directly (fuzz targets in `/fuzz`).

pub mod cli;
pub mod commands;
pub mod csv_input;
pub mod error;
pub mod forms;
pub mod output;
pub mod quoting;
pub mod timefmt;
