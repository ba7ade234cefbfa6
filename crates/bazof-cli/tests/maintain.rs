//! `bazof compact` and `bazof vacuum` never change an answer, for old snapshots too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
        ok(&["compact", t, "--segment", "rows:1"]).trim(),
        format!("nothing to compact in {t}")
    );

    // The default policy (bases by data volume) converts the row-count layout: a dry
    // run says what it would write and drop and leaves the table as it was.
    let before = tree(dir.path());
    let dry = ok(&["compact", t, "--dry-run"]);
    assert!(dry.starts_with("commit 5: would compact"), "{dry}");
    assert!(dry.contains("would drop data/"), "{dry}");
    assert!(dry.contains("dry run: nothing was published"), "{dry}");
    assert_eq!(tree(dir.path()), before, "a dry run changed the table");
    let out = ok(&["compact", t]);
    assert!(out.starts_with("commit 5: compacted"), "{out}");
    assert_eq!(answers("5"), s2, "the volume policy changed an answer");
    assert_eq!(answers("4"), s2);
    let info = ok(&["info", t]);
    assert!(info.contains("space amplification"), "{info}");
    assert!(info.contains("level above the newest base"), "{info}");
}

/// Issue 13 #4: durations a user gives are checked: a retention past what time can
/// represent is refused with the option named, and nothing is deleted.
#[test]
fn vacuum_refuses_retentions_out_of_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("prices");
    let t = t.to_str().expect("utf8");
    let prices = test_data().join("prices.csv");
    ok(&[
        "import",
        t,
        prices.to_str().expect("utf8"),
        "--key",
        "symbol",
    ]);
    ok(&["compact", t, "--segment", "month"]);
    let before = tree(dir.path());
    for hours in ["100000000000", "9223372036854775807"] {
        let (code, out, err) = run(&["vacuum", t, "--retain-hours", hours]);
        assert_eq!(
            code, 2,
            "--retain-hours {hours} is a usage error: {out}{err}"
        );
        assert!(
            err.contains("retention") || err.contains("--retain-hours"),
            "--retain-hours {hours}: {err}"
        );
        assert!(err.contains(hours) || err.contains("hours"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            tree(dir.path()),
            before,
            "--retain-hours {hours} changed the table"
        );
    }
    for hours in ["9223372036854775807", "100000000000"] {
        let (_, _, err) = run(&["vacuum", t, "--retain-hours", hours]);
        assert!(
            err.contains(&format!("--retain-hours {hours} is too large")),
            "{err}"
        );
    }
}

/// Issue 13 #11: calendar segments over an event-time span of 400,000 years cost what
/// the segments written cost (at most `max_segments` new ones), not one entry per day.
#[test]
fn day_segments_over_a_huge_span_are_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("span");
    let t = t.to_str().expect("utf8");
    let csv = common::write(
        dir.path(),
        "span.csv",
        "key,event_time,v\na,-200000-01-01T00:00:00Z,1\nb,+200000-01-01T00:00:00Z,2\n",
    );
    ok(&["import", t, &csv]);
    let current = ok(&["scan", t]);
    let started = std::time::Instant::now();
    let out = ok(&["compact", t, "--segment", "day"]);
    assert!(out.contains("compacted"), "{out}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    let info = ok(&["info", t]);
    let segments = info.matches("segment [").count();
    assert!(segments <= 122, "{segments} segments");
    assert_eq!(ok(&["scan", t]), current, "compaction changed the answer");
}
