//! `bazof check`: prints the core's [`bazof::CheckReport`]; exit 1 when it found a problem.

use std::io::Write;

use bazof::blocking::block_on;
use bazof::{CheckReport, Table};

use crate::cli::CheckArgs;
use crate::error::Result;
use crate::fail;

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Writes the report; the last line is `ok: …` or the list of problems.
pub fn print_report(out: &mut dyn Write, r: &CheckReport) -> std::io::Result<()> {
    if !r.expired.is_empty() {
        let commits: Vec<String> = r.expired.iter().map(|e| e.commit.to_string()).collect();
        let gone: std::collections::BTreeSet<&String> =
            r.expired.iter().flat_map(|e| &e.missing_files).collect();
        writeln!(
            out,
            "note: {} expired ({}): vacuum removed {} they reference; time travel to them fails",
            plural(r.expired.len(), "snapshot", "snapshots"),
            commits.join(", "),
            plural(gone.len(), "data file", "data files"),
        )?;
    }
    if !r.unreferenced.is_empty() {
        writeln!(
            out,
            "note: {} no retained snapshot references (harmless; a vacuum removes them): {}",
            plural(r.unreferenced.len(), "data file", "data files"),
            r.unreferenced.join(", ")
        )?;
    }
    if r.is_ok() {
        writeln!(
            out,
            "ok: {} snapshots, {} data files checked in {}",
            r.retained.len(),
            r.files_checked,
            r.table
        )
    } else {
        writeln!(
            out,
            "{} in {}:",
            plural(r.problems.len(), "problem", "problems"),
            r.table
        )?;
        for p in &r.problems {
            writeln!(out, "  - {p}")?;
        }
        Ok(())
    }
}

/// Runs `bazof check` (`--data`: every row too).
pub fn run(args: CheckArgs) -> Result<()> {
    let table = block_on(Table::open(&args.table))?;
    let report = match args.data {
        true => block_on(table.check_data())?,
        false => block_on(table.check())?,
    };
    print_report(&mut std::io::stdout().lock(), &report)?;
    if report.is_ok() {
        Ok(())
    } else {
        Err(fail!(
            "check found {} in {}",
            plural(report.problems.len(), "problem", "problems"),
            report.table
        ))
    }
}
