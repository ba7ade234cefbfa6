//! Every bad input is an error naming file, line and column, exits 1 with one line on
//! stderr, and leaves the table byte-for-byte unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ok, run, tree, write};

const GOOD: &str =
    "key,event_time,price,note\na,2024-01-01T00:00:00Z,1.5,x\nb,2024-01-02 10:00:00,2,y\n";

/// Imports `bad` into a table holding one good commit; asserts the error and that
/// nothing changed. Returns stderr.
fn rejected(bad: &str, extra: &[&str], must_contain: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = dir.path().join("t");
    let table = table.to_str().expect("utf8");
    let good = write(dir.path(), "good.csv", GOOD);
    ok(&["import", table, &good]);
    let bad_path = write(dir.path(), "bad.csv", bad);
    let before = tree(&dir.path().join("t"));
    let mut args = vec!["import", table, &bad_path];
    args.extend_from_slice(extra);
    let (code, out, err) = run(&args);
    assert_eq!(code, 1, "stdout: {out} stderr: {err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.starts_with("error: ") && err.trim_end().lines().count() == 1,
        "one line: {err}"
    );
    assert!(err.contains("bad.csv"), "names the file: {err}");
    for m in must_contain {
        assert!(err.contains(m), "expected '{m}' in: {err}");
    }
    assert_eq!(
        before,
        tree(&dir.path().join("t")),
        "table changed by a failed import"
    );
    assert_eq!(
        ok(&["scan", table, "--format", "csv"]),
        "key,event_time,price,note\na,2024-01-01T00:00:00Z,1.5,x\nb,2024-01-02T10:00:00Z,2.0,y\n"
    );
    err
}

#[test]
fn ragged_row() {
    rejected(
        "key,event_time,price,note\nc,2024-01-03T00:00:00Z,3,z\nd,2024-01-04T00:00:00Z,4\n",
        &[],
        &["line 3", "column 4", "ragged"],
    );
    rejected(
        "key,event_time,price,note\nc,2024-01-03T00:00:00Z,3,z,extra\n",
        &[],
        &["line 2", "column 5", "ragged"],
    );
}

#[test]
fn unparsable_number() {
    rejected(
        "key,event_time,price,note\nc,2024-01-03T00:00:00Z,3,z\nd,2024-01-04T00:00:00Z,cheap,w\n",
        &[],
        &["line 3", "column 3", "'price'", "'cheap'", "Float"],
    );
}

#[test]
fn unparsable_timestamp() {
    rejected(
        "key,event_time,price,note\nc,2024-13-03,3,z\n",
        &[],
        &["line 2", "column 2", "'event_time'", "timestamp"],
    );
    rejected(
        "key,event_time,price,note\nc,,3,z\n",
        &[],
        &["line 2", "column 2", "empty"],
    );
    rejected(
        "note,price,event_time,key\nz,3,yesterday,c\n",
        &[],
        &["line 2", "column 3"],
    );
}

#[test]
fn missing_key_and_event_time_columns() {
    rejected(
        "id,event_time,price\nc,2024-01-03T00:00:00Z,3\n",
        &[],
        &["line 1", "key column 'key'", "--key"],
    );
    rejected(
        "key,ts,price\nc,2024-01-03T00:00:00Z,3\n",
        &[],
        &["line 1", "event-time column 'event_time'", "--event-time"],
    );
    rejected(
        "key,event_time,price\nc,2024-01-03T00:00:00Z,3\n",
        &["--deleted", "gone"],
        &["line 1", "deleted column 'gone'"],
    );
}

#[test]
fn type_clash_with_the_table_schema() {
    // A column the table does not have.
    rejected(
        "key,event_time,price,volume\nc,2024-01-03T00:00:00Z,3,100\n",
        &[],
        &["line 1", "column 4", "'volume'", "not in the schema"],
    );
    // Bad deletion marker.
    rejected(
        "key,event_time,price,gone\nc,2024-01-03T00:00:00Z,3,maybe\n",
        &["--deleted", "gone"],
        &["line 2", "column 4", "Boolean"],
    );
}

#[test]
fn schema_option_disagreeing_with_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = dir.path().join("t");
    let table = table.to_str().expect("utf8");
    let good = write(dir.path(), "good.csv", GOOD);
    ok(&["import", table, &good]);
    let before = tree(&dir.path().join("t"));
    let more = write(
        dir.path(),
        "more.csv",
        "key,event_time,price\nc,2024-01-03T00:00:00Z,3\n",
    );
    let (code, _, err) = run(&["import", table, &more, "--schema", "price:int"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--schema says price:int") && err.contains("price:float"),
        "{err}"
    );
    assert_eq!(before, tree(&dir.path().join("t")));
}

#[test]
fn int_key_table_rejects_text_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = dir.path().join("t");
    let table = table.to_str().expect("utf8");
    let good = write(
        dir.path(),
        "good.csv",
        "key,event_time,v\n1,2024-01-01,10\n2,2024-01-01,20\n",
    );
    assert!(ok(&["import", table, &good]).contains("commit 1"));
    assert!(ok(&["info", table]).contains("Int"));
    let before = tree(&dir.path().join("t"));
    let bad = write(
        dir.path(),
        "bad.csv",
        "key,event_time,v\n3,2024-01-02,30\nx4,2024-01-02,40\n",
    );
    let (code, _, err) = run(&["import", table, &bad]);
    assert_eq!(code, 1);
    assert!(
        err.contains("bad.csv: line 3, column 1 ('key')") && err.contains("Int"),
        "{err}"
    );
    assert_eq!(before, tree(&dir.path().join("t")));
}

#[test]
fn a_bad_second_file_commits_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = dir.path().join("t");
    let table = table.to_str().expect("utf8");
    let good = write(dir.path(), "good.csv", GOOD);
    ok(&["import", table, &good]);
    let before = tree(&dir.path().join("t"));
    let more = write(
        dir.path(),
        "more.csv",
        "key,event_time,price\nz,2024-05-01,9\n",
    );
    let bad = write(
        dir.path(),
        "bad.csv",
        "key,event_time,price\ny,2024-05-01,nine\n",
    );
    let (code, _, err) = run(&["import", table, &more, &bad]);
    assert_eq!(code, 1);
    assert!(err.contains("bad.csv: line 2, column 3"), "{err}");
    assert_eq!(before, tree(&dir.path().join("t")));
    // The same files, fixed, form one commit.
    let fixed = write(
        dir.path(),
        "fixed.csv",
        "key,event_time,price\ny,2024-05-01,9.5\n",
    );
    let out = ok(&["import", table, &more, &fixed]);
    assert!(out.starts_with("commit 2: 2 rows from 2 files"), "{out}");
    assert_eq!(ok(&["log", table]).lines().count(), 2);
}

#[test]
fn a_failed_first_import_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = dir.path().join("t");
    let table_s = table.to_str().expect("utf8");
    let bad = write(
        dir.path(),
        "bad.csv",
        "key,event_time,v\na,2024-01-01,1\nb,2024-01-01\n",
    );
    let (code, _, err) = run(&["import", table_s, &bad]);
    assert_eq!(code, 1);
    assert!(err.contains("bad.csv: line 3, column 3"), "{err}");
    assert!(tree(&table).is_empty(), "nothing may be written");
    let (code, _, err) = run(&["scan", table_s]);
    assert_eq!(code, 1);
    assert!(err.contains("not a bazof table"), "{err}");
}

#[test]
fn a_row_past_the_inference_sample_that_does_not_fit_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = dir.path().join("t");
    let table_s = table.to_str().expect("utf8");
    let mut text = String::from("key,event_time,n\n");
    for i in 0..10_050 {
        text.push_str(&format!("k{i},2024-01-01,{i}\n"));
    }
    text.push_str("late,2024-01-01,4.5\n");
    let bad = write(dir.path(), "big.csv", &text);
    let (code, _, err) = run(&["import", table_s, &bad]);
    assert_eq!(code, 1);
    assert!(
        err.contains("big.csv: line 10052, column 3 ('n'): '4.5' is not an Int"),
        "{err}"
    );
    assert!(tree(&table).is_empty());
}

#[test]
fn usage_errors_exit_2_and_user_errors_exit_1() {
    assert_eq!(run(&["scan"]).0, 2);
    assert_eq!(run(&["import", "t"]).0, 2);
    assert_eq!(run(&["scan", "t", "--format", "xml"]).0, 2);
    assert_eq!(run(&["frobnicate"]).0, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    let (code, _, err) = run(&["scan", missing.to_str().expect("utf8")]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: ") && err.contains("not a bazof table"),
        "{err}"
    );
    let (code, _, err) = run(&[
        "import",
        missing.to_str().expect("utf8"),
        "/definitely/not/here.csv",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("/definitely/not/here.csv"), "{err}");
}

#[test]
fn scan_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = dir.path().join("t");
    let table = table.to_str().expect("utf8");
    let good = write(dir.path(), "good.csv", GOOD);
    ok(&["import", table, &good]);
    for (args, want) in [
        (vec!["--as-of", "last tuesday"], "--as-of 'last tuesday'"),
        (vec!["--snapshot", "5"], "no snapshot 5"),
        (vec!["--columns", "key,nope"], "unknown column 'nope'"),
        (vec!["--format", "parquet"], "--output"),
    ] {
        let mut a = vec!["scan", table];
        a.extend(args);
        let (code, _, err) = run(&a);
        assert_eq!(code, 1, "{a:?}");
        assert!(
            err.contains(want) && err.lines().count() == 1,
            "{a:?}: {err}"
        );
    }
}

#[test]
fn a_failure_after_runs_were_flushed_leaves_no_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = dir.path().join("t");
    let table = table.to_str().expect("utf8");
    let good = write(dir.path(), "good.csv", GOOD);
    ok(&["import", table, &good]);
    let before = tree(&dir.path().join("t"));
    // Small runs force data files to be written before the bad row is reached.
    let mut text = String::from("key,event_time,price\n");
    for i in 0..70_000 {
        text.push_str(&format!("k{i},2024-02-01,{i}.5\n"));
    }
    text.push_str("bad,2024-02-01,n/a\n");
    let bad = write(dir.path(), "bad.csv", &text);
    let (code, _, err) = run(&["import", table, &bad, "--run-rows", "1000"]);
    assert_eq!(code, 1);
    assert!(err.contains("bad.csv: line 70002, column 3"), "{err}");
    assert_eq!(
        before,
        tree(&dir.path().join("t")),
        "runs written before the error must be removed"
    );
}

/// A damaged Parquet input (12 bytes overwritten, at every third offset) ends in a
/// commit (the damage hit values: arrow-rs writes no page checksums) or in one error
/// line naming the file, never in a panic of the decoder reported as a bug. The input
/// is uncompressed and delta-packed, so the damage reaches the decoder's integers (a
/// run of 0xFF bytes is a variable-length integer longer than the ten bytes allowed).
#[test]
fn a_damaged_parquet_input_is_an_error_not_a_panic() {
    use parquet::basic::{Compression, Encoding};
    use parquet::file::properties::WriterProperties;

    let dir = tempfile::tempdir().expect("tempdir");
    let batch = bazof_testkit::damage::rows();
    let props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_column_encoding("event_time".into(), Encoding::DELTA_BINARY_PACKED)
        .set_column_encoding("v".into(), Encoding::DELTA_BINARY_PACKED)
        .build();
    let input = dir.path().join("bad.parquet");
    let file = std::fs::File::create(&input).expect("create");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    let bad = input.to_str().expect("utf8");
    let mut imports = 0;
    bazof_testkit::damage::at_every_offset(&input, 3, || {
        imports += 1;
        let table = dir.path().join(format!("t{imports}"));
        let (code, _, err) = run(&["import", table.to_str().expect("utf8"), bad]);
        assert!(
            !err.contains("internal error") && !err.contains("panicked"),
            "{err}"
        );
        match code {
            0 => Ok(()),
            1 if err.trim_end().lines().count() == 1 => Err(err),
            _ => panic!("exit {code}: {err}"),
        }
    });
}
