//! Runs `bazof-bench --smoke` (2k keys, one run per cell): every cell must run and
//! every engine must return the same answer. No timing is asserted.

use std::process::Command;

#[test]
fn smoke_every_cell_runs_and_answers_agree() {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_bazof-bench"))
        .arg("--smoke")
        .arg("--out-dir")
        .arg(out_dir.path())
        .output()
        .expect("run bazof-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bazof-bench --smoke failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // The Markdown table lists every query, and no cell disagrees.
    for q in ["q1", "q2", "q3", "q4", "q5", "hist"] {
        assert!(
            stdout.contains(&format!("| {q} | core |")),
            "no core cell for {q}:\n{stdout}"
        );
        assert!(
            stdout.contains(&format!("| {q} | duckdb-bazof |")),
            "no duckdb-bazof cell for {q}:\n{stdout}"
        );
        assert!(
            stdout.contains(&format!("| {q} | polars-bazof |")),
            "no polars-bazof cell for {q}:\n{stdout}"
        );
    }
    assert!(!stdout.contains("DIFFERS"), "{stdout}");
    let csv = std::fs::read_to_string(out_dir.path().join("results.csv")).expect("results.csv");
    assert!(csv.lines().count() > 20, "{csv}");
    // The raw reads `hist` is weighed against are not compared with the versions, but
    // arrow-rs and DuckDB read the same raw events: their checksums agree.
    let raw_answer = |engine: &str| {
        csv.lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.get(1) == Some(&"hist") && f.get(2) == Some(&engine))
            .and_then(|f| f.get(12).map(|a| a.to_string()))
            .unwrap_or_else(|| panic!("no hist {engine} row in\n{csv}"))
    };
    assert_eq!(raw_answer("core-parquet"), raw_answer("duckdb-parquet"));
}
