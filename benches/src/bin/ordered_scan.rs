//! `CREATE TABLE … AS SELECT * FROM bazof_scan(t)` (DuckDB keeps insertion order) with
//! 1 and 2 DuckDB threads, through the C API v1 function (one thread reads the ranges
//! in key order) or the v2 one (each thread claims ranges and reports their positions):
//!
//! ```text
//! ordered-scan TABLE v1|v2 [RUNS]
//! ```
//!
//! Prints the median wall time per thread count and checks that every run's table
//! holds the same rows in the same order (a checksum over key order).

use std::time::Instant;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(table), Some(api)) = (args.get(1), args.get(2)) else {
        return Err("usage: ordered-scan TABLE v1|v2 [RUNS]".into());
    };
    let runs: usize = args.get(3).map_or(Ok(5), |r| r.parse())?;
    if api == "v2" {
        bazof_duckdb::install()?;
    } else if api != "v1" {
        return Err(format!("api must be v1 or v2, got {api}").into());
    }
    let mut answer: Option<(i64, i64)> = None;
    for threads in [1, 2] {
        let mut times = Vec::new();
        for _ in 0..runs {
            let con = duckdb::Connection::open_in_memory()?;
            bazof_duckdb::register(&con)?;
            con.execute_batch(&format!("SET threads = {threads}"))?;
            let start = Instant::now();
            con.execute_batch(&format!(
                "CREATE TABLE m AS SELECT * FROM bazof_scan('{table}')"
            ))?;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            // Rows and their order: a position-weighted hash of the keys.
            let got: (i64, i64) = con.query_row(
                "SELECT count(*), sum(hash(key) % 1000003 * (rowid % 1009))::BIGINT FROM m",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            match answer {
                None => answer = Some(got),
                Some(a) if a != got => {
                    return Err(format!("threads {threads}: {got:?}, before {a:?}").into())
                }
                Some(_) => {}
            }
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "{api} threads {threads}: median {median:.1} ms (min {:.1}, max {:.1}), rows and order {:?}",
            times[0],
            times[times.len() - 1],
            answer
        );
    }
    Ok(())
}
