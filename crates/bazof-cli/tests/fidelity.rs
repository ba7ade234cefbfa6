//! Nothing a user imports is lost or silently changed, and no command panics: the
//! reproductions of issue 13, each either stored faithfully or refused with one line
//! naming file, line and column, with the table left byte for byte as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use common::{ok, run, tree, write};

/// A table at `dir/t` holding one commit; returns its location.
fn table_with_one_commit(dir: &Path) -> String {
    let t = dir.join("t");
    let t = t.to_str().expect("utf8").to_string();
    let good = write(
        dir,
        "good.csv",
        "key,event_time,note\nk,2024-01-01T00:00:00Z,first\n",
    );
    ok(&["import", &t, &good]);
    t
}

/// Runs bazof expecting a refusal with `code`; asserts one line on stderr holding every
/// `want`, nothing on stdout and no change under `dir`. Returns stderr.
fn refused(dir: &Path, args: &[&str], code: i32, want: &[&str]) -> String {
    let before = tree(dir);
    let (got, out, err) = run(args);
    assert_eq!(got, code, "{args:?}: stdout {out} stderr {err}");
    assert!(out.is_empty(), "{args:?}: {out}");
    assert!(
        err.starts_with("error: ") && err.trim_end().lines().count() == 1,
        "one line: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
    for w in want {
        assert!(err.contains(w), "expected '{w}' in: {err}");
    }
    assert_eq!(before, tree(dir), "{args:?} changed files");
    err
}

#[test]
fn d1_an_unterminated_quote_is_an_error_not_one_long_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = table_with_one_commit(dir.path());
    let bad = write(
        dir.path(),
        "bad.csv",
        "key,event_time,note\na,2024-01-01,\"hello\nb,2024-01-02,world\nc,2024-01-03,bye\n",
    );
    refused(
        dir.path(),
        &["import", &t, &bad],
        1,
        &["bad.csv: line 2, column 3: unterminated quoted field"],
    );
    // Into a new table: nothing is created.
    let new = dir.path().join("new");
    refused(
        dir.path(),
        &["import", new.to_str().expect("utf8"), &bad],
        1,
        &["bad.csv: line 2, column 3: unterminated"],
    );
    // Text glued to a closing quote is an error too; the report points at its line.
    let glued = write(
        dir.path(),
        "glued.csv",
        "key,event_time,note\na,2024-01-01,\"two\nlines\"\nb,2024-01-02,\"ab\"c\n",
    );
    refused(
        dir.path(),
        &["import", &t, &glued],
        1,
        &["glued.csv: line 4, column 3: text after the closing '\"'"],
    );
    // Well-formed quotes (embedded delimiter, newline, doubled quote) import as written.
    let fine = write(
        dir.path(),
        "fine.csv",
        "key,event_time,note\nb,2024-01-02,\"x, \"\"y\"\"\r\nz\"\nc,2024-01-03,5'10\"\n",
    );
    ok(&["import", &t, &fine]);
    assert_eq!(
        ok(&["scan", &t, "--format", "json", "--columns", "key,note"]),
        "{\"key\":\"b\",\"note\":\"x, \\\"y\\\"\\r\\nz\"}\n{\"key\":\"c\",\"note\":\"5'10\\\"\"}\n{\"key\":\"k\",\"note\":\"first\"}\n"
    );
}

#[test]
fn errors_name_the_line_a_record_starts_on_after_crlf_blank_lines_and_bad_utf8() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = table_with_one_commit(dir.path());
    // The CSV reader's own position is a line early after `\r\n` and blank lines.
    let crlf = write(
        dir.path(),
        "crlf.csv",
        "key,event_time,note\r\n\r\na,2024-01-01,\"x\r\ny\"\r\nb,someday,z\r\n",
    );
    refused(
        dir.path(),
        &["import", &t, &crlf],
        1,
        &["crlf.csv: line 5, column 2 ('event_time'): 'someday' is not a timestamp"],
    );
    let path = dir.path().join("latin1.csv");
    std::fs::write(&path, b"key,event_time,note\na,2024-01-01,caf\xe9\n").expect("write");
    refused(
        dir.path(),
        &["import", &t, path.to_str().expect("utf8")],
        1,
        &["latin1.csv: line 2, column 3: not valid UTF-8"],
    );
}

#[test]
fn d2_keys_that_are_not_canonical_ints_are_never_merged() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Within the sample: the key is a String and all four keys stay distinct.
    let t = dir.path().join("early");
    let t = t.to_str().expect("utf8");
    let f = write(
        dir.path(),
        "early.csv",
        "key,event_time,v\n7,2024-01-01,seven\n007,2024-01-01,double-oh\n+7,2024-01-01,plus\n\" 7\",2024-01-01,space\n",
    );
    ok(&["import", t, &f]);
    let info = ok(&["info", t])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(info.contains("key String key"), "{info}");
    assert_eq!(
        ok(&["scan", t, "--key", "7", "--columns", "v"]),
        "v\nseven\n"
    );
    assert_eq!(
        ok(&["scan", t, "--key", "007", "--columns", "v"]),
        "v\ndouble-oh\n"
    );
    assert_eq!(ok(&["scan", t]).lines().count(), 5);

    // Past the sample of an inferred Int key: refused at the line, nothing created.
    let mut text = String::from("key,event_time,v\n");
    for i in 0..10_000 {
        text.push_str(&format!("{i},2024-01-01,x\n"));
    }
    for late in ["007", "+7", " 7"] {
        let f = write(
            dir.path(),
            "late.csv",
            &format!("{text}{late},2024-01-02,y\n"),
        );
        let new = dir.path().join("late");
        refused(
            dir.path(),
            &["import", new.to_str().expect("utf8"), &f],
            1,
            &[
                &format!("late.csv: line 10002, column 1 ('key'): '{late}' is not an Int"),
                "would read back as 7",
                "--schema 'key:string'",
            ],
        );
    }

    // An existing Int key: the same refusal, the table unchanged.
    let t = dir.path().join("ints");
    let t = t.to_str().expect("utf8");
    let f = write(
        dir.path(),
        "ints.csv",
        "key,event_time,v\n7,2024-01-01,a\n8,2024-01-01,b\n",
    );
    ok(&["import", t, &f]);
    let bad = write(
        dir.path(),
        "bad.csv",
        "key,event_time,v\n9,2024-01-02,c\n007,2024-01-02,d\n",
    );
    refused(
        dir.path(),
        &["import", t, &bad],
        1,
        &["bad.csv: line 3, column 1 ('key'): '007' is not an Int written canonically"],
    );
    // --schema key:int is held to the same rule.
    let new = dir.path().join("declared");
    refused(
        dir.path(),
        &[
            "import",
            new.to_str().expect("utf8"),
            &bad,
            "--schema",
            "key:int",
        ],
        1,
        &["bad.csv: line 3, column 1 ('key')", "would read back as 7"],
    );
}

#[test]
fn d2_value_columns_keep_what_was_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("t");
    let t = t.to_str().expect("utf8");
    let f = write(
        dir.path(),
        "v.csv",
        "key,event_time,zip,qty,price,flag,day,long\n\
         a,2024-01-01,02134,7,1.50,TRUE,2024-01-01,0.1000000000000000000001\n\
         b,2024-01-01,10001,+8,2,false,2024-1-02,0.5\n",
    );
    ok(&["import", t, &f]);
    let info = ok(&["info", t])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        "zip String",
        "qty String",
        "price Float",
        "flag Boolean",
        "day String",
        "long String",
    ] {
        assert!(info.contains(want), "{want}: {info}");
    }
    assert_eq!(
        ok(&["scan", t, "--format", "csv"]),
        "key,event_time,zip,qty,price,flag,day,long\n\
         a,2024-01-01T00:00:00Z,02134,7,1.5,true,2024-01-01,0.1000000000000000000001\n\
         b,2024-01-01T00:00:00Z,10001,+8,2.0,false,2024-1-02,0.5\n"
    );
    // Past the sample, an inferred Float column refuses a value that would change.
    let mut text = String::from("key,event_time,x\n");
    for i in 0..10_000 {
        text.push_str(&format!("k{i},2024-01-01,{i}.5\n"));
    }
    text.push_str("late,2024-01-01,007.5\n");
    let big = write(dir.path(), "big.csv", &text);
    let new = dir.path().join("new");
    refused(
        dir.path(),
        &["import", new.to_str().expect("utf8"), &big],
        1,
        &[
            "big.csv: line 10002, column 3 ('x'): '007.5' is not a Float in a form that reads back as written",
            "--schema 'x:string'",
        ],
    );
}

#[test]
fn d3_check_passes_after_compact_and_vacuum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("t");
    let t = t.to_str().expect("utf8");
    // Two commits in January: compaction merges their deltas, so vacuum has files to remove.
    for (i, day) in ["2024-01-01", "2024-01-15", "2024-02-01"]
        .iter()
        .enumerate()
    {
        let f = write(
            dir.path(),
            &format!("{i}.csv"),
            &format!("key,event_time,v\na,{day},{i}\nb,{day},{i}\n"),
        );
        ok(&["import", t, &f]);
    }
    ok(&["compact", t, "--max-deltas", "1"]);
    let out = ok(&["vacuum", t, "--retain-hours", "0"]);
    let deleted = out
        .lines()
        .filter(|l| l.starts_with("deleted data/"))
        .count();
    assert!(deleted > 0, "vacuum removed files: {out}");
    let out = ok(&["check", t]);
    assert!(
        out.contains(&format!(
            "note: 3 snapshots expired (1, 2, 3): vacuum removed {deleted} data files they reference"
        )),
        "{out}"
    );
    assert!(out.contains("ok: 1 snapshots"), "{out}");
    // An expired snapshot cannot be scanned; the retained one can.
    assert_eq!(run(&["scan", t, "--snapshot", "1"]).0, 1);
    assert_eq!(ok(&["scan", t]).lines().count(), 3);
    // A file the latest snapshot needs is still a problem.
    let data: Vec<_> = tree(&dir.path().join("t/data")).into_keys().collect();
    std::fs::remove_file(&data[0]).expect("remove");
    let (code, out, err) = run(&["check", t]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is missing (named by s4.json)"), "{out}");
    assert!(err.starts_with("error: check found 1 problem in"), "{err}");
}

#[test]
fn d4_huge_retention_is_refused_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = table_with_one_commit(dir.path());
    for hours in ["100000000000", "9223372036854775807", "1000000001"] {
        refused(
            dir.path(),
            &["vacuum", &t, "--retain-hours", hours],
            2,
            &["--retain-hours", "too large"],
        );
    }
    refused(
        dir.path(),
        &["vacuum", &t, "--retain-hours", "-1"],
        2,
        &["must not be negative"],
    );
    assert!(ok(&["vacuum", &t, "--retain-hours", "1000000000"]).contains("deleted 0 file(s)"));
}

/// Runs bazof with its stdout a pipe whose reader is already gone.
fn closed_pipe(args: &[&str]) -> (i32, String) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bazof"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    let status = child.wait().expect("wait");
    (status.code().unwrap_or(-1), err)
}

#[test]
fn d5_a_closed_pipe_ends_every_command_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = table_with_one_commit(dir.path());
    let more = write(
        dir.path(),
        "more.csv",
        "key,event_time,note\nz,2024-01-05,x\n",
    );
    for args in [
        vec!["info", &t],
        vec!["log", &t],
        vec!["check", &t],
        vec!["scan", &t, "--format", "table"],
        vec!["scan", &t, "--format", "json"],
        vec!["scan", &t, "--format", "csv"],
        vec!["import", &t, &more],
        vec!["compact", &t],
        vec!["vacuum", &t, "--dry-run"],
    ] {
        let (code, err) = closed_pipe(&args);
        assert_eq!((code, err.as_str()), (0, ""), "{args:?}");
    }
}

#[test]
fn d6_importing_into_a_bazof_02_table_gives_advice_that_works() {
    // A bazof 0.2 table: its snapshot has no format_version (SPEC §9).
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old");
    std::fs::create_dir_all(&old).expect("mkdir");
    let csv = write(
        &old,
        "base.csv",
        "1,2024-01-01T00:00:00,abc\n2,2024-01-02T00:00:00,\n",
    );
    std::fs::write(
        old.join("s1.json"),
        r#"{"schema":{"columns":[{"name":"value","data_type":"String","nullable":true}]},
            "segments":[{"start":"2024-01-01T00:00:00.000Z","file":"base.parquet"}]}"#,
    )
    .expect("snapshot");
    let dir_s = dir.path().to_str().expect("utf8");
    ok(&["gen", "--path", dir_s, "--table", "old", "--file", "base"]);
    std::fs::remove_file(csv).expect("rm csv");
    let o = old.to_str().expect("utf8");
    let more = write(
        dir.path(),
        "more.csv",
        "key,event_time,value\n3,2024-01-03,x\n",
    );
    let err = refused(
        dir.path(),
        &["import", o, &more],
        1,
        &[
            "bazof 0.2 table, which is read-only",
            "bazof scan",
            "--schema 'key:string,event_time:datetime,value:string'",
        ],
    );
    assert!(!err.contains("compact` to convert"), "{err}");
    // Following the advice: the new table answers like the old one, and takes new data.
    let copy = dir.path().join("current.csv");
    let copy = copy.to_str().expect("utf8");
    ok(&["scan", o, "--format", "csv", "--output", copy]);
    let new = dir.path().join("new");
    let new = new.to_str().expect("utf8");
    ok(&[
        "import",
        new,
        copy,
        "--schema",
        "key:string,event_time:datetime,value:string",
    ]);
    assert_eq!(ok(&["scan", new]), ok(&["scan", o]));
    ok(&["import", new, &more]);
    assert_eq!(ok(&["scan", new]).lines().count(), 4);
}

#[test]
fn d7_whitespace_is_a_value_not_a_null() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("t");
    let t = t.to_str().expect("utf8");
    let f = write(
        dir.path(),
        "ws.csv",
        "key,event_time,s\na,2024-01-01,\" \"\nb,2024-01-01,  x \nc,2024-01-01,\nd,2024-01-01,\"\"\n",
    );
    ok(&["import", t, &f]);
    assert_eq!(
        ok(&["scan", t, "--format", "json", "--columns", "key,s"]),
        "{\"key\":\"a\",\"s\":\" \"}\n{\"key\":\"b\",\"s\":\"  x \"}\n{\"key\":\"c\",\"s\":null}\n{\"key\":\"d\",\"s\":null}\n"
    );
}

#[test]
fn d8_deleted_must_be_a_column_of_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = table_with_one_commit(dir.path());
    let f = write(dir.path(), "d.csv", "key,event_time,note\nk,2024-01-02,x\n");
    for (col, what) in [("key", "key"), ("event_time", "event-time")] {
        refused(
            dir.path(),
            &["import", &t, &f, "--deleted", col],
            2,
            &[&format!("--deleted '{col}' names the {what} column")],
        );
    }
    let new = dir.path().join("new");
    refused(
        dir.path(),
        &[
            "import",
            new.to_str().expect("utf8"),
            &f,
            "--key",
            "note",
            "--deleted",
            "note",
        ],
        2,
        &["--deleted 'note' names the key column"],
    );
}

#[test]
fn d9_negative_keys_work_as_flags_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("t");
    let t = t.to_str().expect("utf8");
    let f = write(
        dir.path(),
        "n.csv",
        "key,event_time,v\n-5,2024-01-01,minus five\n5,2024-01-01,five\n-6,2024-01-01,minus six\n",
    );
    ok(&["import", t, &f]);
    assert_eq!(
        ok(&["scan", t, "--key", "-5", "--columns", "v"]),
        "v\nminus five\n"
    );
    assert_eq!(
        ok(&["scan", t, "--key=-5", "--columns", "v"]),
        "v\nminus five\n"
    );
    assert_eq!(
        ok(&["scan", t, "--key", "-6", "-5", "--columns", "v"]),
        "v\nminus six\nminus five\n"
    );
    assert_eq!(
        ok(&[
            "scan",
            t,
            "--columns",
            "v",
            "--key",
            "-5",
            "--key",
            "5",
            "--limit",
            "1"
        ]),
        "v\nminus five\n"
    );
}

#[test]
fn d10_a_header_only_file_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = write(dir.path(), "empty.csv", "key,event_time,v\n");
    let new = dir.path().join("new");
    refused(
        dir.path(),
        &["import", new.to_str().expect("utf8"), &empty],
        1,
        &["empty.csv: line 2: no data rows, nothing to import"],
    );
    let t = table_with_one_commit(dir.path());
    let blank = write(dir.path(), "blank.csv", "key,event_time,note\n\n   \n");
    refused(
        dir.path(),
        &["import", &t, &blank],
        1,
        &["blank.csv: line 2: no data rows"],
    );
    let empty = write(dir.path(), "empty2.csv", "note,key,event_time\n");
    refused(
        dir.path(),
        &["import", &t, &empty, &blank],
        1,
        &["no data rows in any of the 2 files"],
    );
    assert_eq!(ok(&["log", &t]).lines().count(), 1);
}

#[test]
fn d12_memory_tables_are_refused_by_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "m.csv", "key,event_time,v\na,2024-01-01,1\n");
    refused(
        dir.path(),
        &["import", "memory://x/t", &f],
        2,
        &["memory://x/t: a memory:// table lives only inside one process"],
    );
}

#[test]
fn sub_microsecond_times_are_refused_not_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = table_with_one_commit(dir.path());
    let f = write(
        dir.path(),
        "ns.csv",
        "key,event_time,note\nz,2024-01-05T00:00:00.1234567Z,x\n",
    );
    refused(
        dir.path(),
        &["import", &t, &f],
        1,
        &[
            "ns.csv: line 2, column 2 ('event_time')",
            "to the microsecond",
        ],
    );
}
