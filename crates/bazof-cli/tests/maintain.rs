//! `bazof compact` and `bazof vacuum` never change an answer, for old snapshots too.

mod common;

use common::{ok, run, test_data, tree};

#[test]
fn compact_then_vacuum_keeps_every_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("prices");
    let t = t.to_str().expect("utf8");
    let data = test_data();
    let prices = data.join("prices.csv");
    let late = data.join("prices-late.csv");
    ok(&[
        "import",
        t,
        prices.to_str().expect("utf8"),
        "--key",
        "symbol",
    ]);
    ok(&[
        "import",
        t,
        late.to_str().expect("utf8"),
        "--key",
        "symbol",
        "--deleted",
        "delisted",
    ]);
    let times = [
        "2024-01-01",
        "2024-01-15",
        "2024-02-01",
        "2024-02-15",
        "2024-02-16",
        "2024-03-02",
    ];
    let answers = |snapshot: &str| -> Vec<String> {
        times
            .iter()
            .map(|at| ok(&["scan", t, "--as-of", at, "--snapshot", snapshot]))
            .collect()
    };
    let (s1, s2) = (answers("1"), answers("2"));

    let out = ok(&["compact", t, "--segment", "month", "--max-deltas", "0"]);
    assert!(out.starts_with("commit 3: compacted"), "{out}");
    assert!(
        out.contains("bases written: 2"),
        "Feb and Mar segment starts get bases: {out}"
    );
    assert_eq!(answers("3"), s2, "compaction changed an answer");
    assert_eq!(answers("1"), s1, "old snapshots keep their own files");
    let info = ok(&["info", t]);
    assert!(
        info.contains("base"),
        "info shows the bases after compaction:\n{info}"
    );

    // Segments by event count: a bad width is a usage error that leaves the table as it was.
    let before = tree(dir.path());
    let (code, _, err) = run(&["compact", t, "--segment", "rows:0"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("rows:N"), "{err}");
    assert_eq!(
        tree(dir.path()),
        before,
        "a refused compaction wrote nothing"
    );
    let out = ok(&["compact", t, "--segment", "rows:1"]);
    assert!(out.starts_with("commit 4: compacted"), "{out}");
    assert_eq!(answers("4"), s2, "a row-count compaction changed an answer");
    assert_eq!(answers("3"), s2);

    let dry = ok(&["vacuum", t, "--retain-hours", "0", "--dry-run"]);
    assert!(dry.contains("would delete 2 file(s)"), "{dry}");
    let out = ok(&["vacuum", t, "--retain-hours", "0"]);
    assert!(out.contains("deleted 2 file(s)"), "{out}");
    assert_eq!(answers("4"), s2, "vacuum changed the latest answers");
    assert_eq!(
        ok(&["compact", t]).trim(),
        format!("nothing to compact in {t}")
    );
}
