//! The README tour, output formats, inspection commands and import options.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ok, run, test_data, tree, write};

#[test]
fn readme_tour() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("prices");
    let t = t.to_str().expect("utf8");
    let data = test_data();
    let prices = data.join("prices.csv");
    let late = data.join("prices-late.csv");
    let out = ok(&[
        "import",
        t,
        prices.to_str().expect("utf8"),
        "--key",
        "symbol",
    ]);
    assert!(
        out.starts_with("commit 1: 6 rows from 1 file into"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("(table created)"));
    let now = "symbol,event_time,price,currency\nAAPL,2024-03-01T09:30:00Z,179.66,USD\nMSFT,2024-03-01T09:30:00Z,415.5,USD\nSAP,2024-01-02T09:30:00Z,140.2,EUR\n";
    assert_eq!(ok(&["scan", t]), now);
    let feb = "symbol,event_time,price,currency\nAAPL,2024-02-01T09:30:00Z,186.86,USD\nMSFT,2024-01-02T09:30:00Z,370.87,USD\nSAP,2024-01-02T09:30:00Z,140.2,EUR\n";
    assert_eq!(ok(&["scan", t, "--as-of", "2024-02-15"]), feb);
    let jan = "symbol,event_time,price,currency\nAAPL,2024-01-02T09:30:00Z,185.64,USD\nMSFT,2024-01-02T09:30:00Z,370.87,USD\nSAP,2024-01-02T09:30:00Z,140.2,EUR\n";
    assert_eq!(ok(&["scan", t, "--as-of", "2024-01-15"]), jan);

    let out = ok(&[
        "import",
        t,
        late.to_str().expect("utf8"),
        "--key",
        "symbol",
        "--deleted",
        "delisted",
    ]);
    assert!(out.starts_with("commit 2: 2 rows"), "{out}");
    // The late MSFT price changes mid-February, not mid-January; SAP's delisting removes it now.
    assert_eq!(
        ok(&["scan", t, "--as-of", "2024-02-15"]),
        feb.replace(
            "MSFT,2024-01-02T09:30:00Z,370.87",
            "MSFT,2024-02-01T09:30:00Z,397.58"
        )
    );
    assert_eq!(ok(&["scan", t, "--as-of", "2024-01-15"]), jan);
    assert_eq!(
        ok(&["scan", t]),
        now.replace("SAP,2024-01-02T09:30:00Z,140.2,EUR\n", "")
    );
    // What the table knew before the late data arrived.
    assert_eq!(
        ok(&["scan", t, "--as-of", "2024-02-15", "--snapshot", "1"]),
        feb
    );
    let log = ok(&["log", t]);
    assert_eq!(log.lines().count(), 2);
    assert!(
        log.lines().nth(1).is_some_and(|l| l.starts_with("2  ")
            && l.contains("+2 rows")
            && l.contains("1 file")
            && l.contains("2024-02-01T09:30:00Z .. 2024-02-15T17:30:00Z")),
        "{log}"
    );
    let info = ok(&["info", t]);
    for want in [
        "format version: 1",
        "latest commit:  2",
        "symbol",
        "Float",
        "segment [-inf, +inf)",
        "rows 6",
        "rows 2",
    ] {
        assert!(info.contains(want), "{want} in {info}");
    }
    assert!(ok(&["info", t, "--snapshot", "1"]).contains("1 files, 6 rows"));
    assert!(ok(&["check", t]).starts_with("ok: 2 snapshots, 2 data files"));
}

#[test]
fn formats_projection_keys_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("t");
    let t = t.to_str().expect("utf8");
    let csv = write(
        dir.path(),
        "in.csv",
        "id,at,name,score,ok,day,seen\n2,2024-01-01T12:00:00+02:00,\"b, with comma\",1.25,true,2024-01-01,2024-01-01 10:00:00.5\n1,2024-01-01,a,,false,,\n3,2024-01-02 00:00,c,3,,2024-02-29,2024-01-01T00:00:00Z\n",
    );
    let out = ok(&["import", t, &csv, "--key", "id", "--event-time", "at"]);
    assert!(out.starts_with("commit 1: 3 rows"), "{out}");
    let info = ok(&["info", t])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        "id Int key",
        "at DateTime event time",
        "name String",
        "score Float",
        "ok Boolean",
        "day Date",
        "seen DateTime",
    ] {
        assert!(info.contains(want), "{want} in {info}");
    }
    assert_eq!(
        ok(&["scan", t, "--format", "csv"]),
        "id,at,name,score,ok,day,seen\n1,2024-01-01T00:00:00Z,a,,false,,\n2,2024-01-01T10:00:00Z,\"b, with comma\",1.25,true,2024-01-01,2024-01-01T10:00:00.500Z\n3,2024-01-02T00:00:00Z,c,3.0,,2024-02-29,2024-01-01T00:00:00Z\n"
    );
    assert_eq!(
        ok(&["scan", t, "--format", "json", "--columns", "name,id,score,ok,day", "--limit", "2"]),
        "{\"name\":\"a\",\"id\":1,\"score\":null,\"ok\":false,\"day\":null}\n{\"name\":\"b, with comma\",\"id\":2,\"score\":1.25,\"ok\":true,\"day\":\"2024-01-01\"}\n"
    );
    assert_eq!(
        ok(&[
            "scan",
            t,
            "--key",
            "3",
            "--key",
            "1",
            "--columns",
            "id,name"
        ]),
        "id,name\n1,a\n3,c\n"
    );
    assert_eq!(
        ok(&["scan", t, "--key", "3", "1", "--columns", "id"]),
        "id\n1\n3\n"
    );
    let (code, _, err) = run(&["scan", t, "--key", "x"]);
    assert_eq!(code, 1);
    assert!(err.contains("--key 'x' is not an Int"), "{err}");
    let table = ok(&["scan", t, "--format", "table", "--columns", "id,name"]);
    assert_eq!(table, "+----+---------------+\n| id | name          |\n+----+---------------+\n| 1  | a             |\n| 2  | b, with comma |\n| 3  | c             |\n+----+---------------+\n(3 rows)\n");
    // Parquet needs --output; --output picks the format from the extension.
    let pq = dir.path().join("out.parquet");
    ok(&[
        "scan",
        t,
        "--output",
        pq.to_str().expect("utf8"),
        "--as-of",
        "2024-01-01T10:00:00Z",
    ]);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&pq).expect("open"),
    )
    .expect("parquet")
    .build()
    .expect("reader");
    let rows: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
    assert_eq!(rows, 2);
    let js = dir.path().join("out.json");
    ok(&[
        "scan",
        t,
        "-o",
        js.to_str().expect("utf8"),
        "--columns",
        "id",
    ]);
    assert_eq!(
        std::fs::read_to_string(&js).expect("read"),
        "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n"
    );
}

#[test]
fn no_header_delimiter_schema_and_leading_zero_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("t");
    let t = t.to_str().expect("utf8");
    let tsv = write(
        dir.path(),
        "in.tsv",
        "007\t2024-01-01\t5\n010\t2024-01-02\t6\n",
    );
    ok(&[
        "import",
        t,
        &tsv,
        "--no-header",
        "--delimiter",
        "\\t",
        "--schema",
        "key:string,event_time:datetime,qty:int",
    ]);
    assert_eq!(
        ok(&["scan", t]),
        "key,event_time,qty\n007,2024-01-01T00:00:00Z,5\n010,2024-01-02T00:00:00Z,6\n"
    );
    // Appending without a header uses the table's column order.
    let more = write(dir.path(), "more.csv", "007;2024-01-03;7\n");
    ok(&["import", t, &more, "--no-header", "--delimiter", ";"]);
    assert_eq!(
        ok(&["scan", t, "--key", "007", "--columns", "qty"]),
        "qty\n7\n"
    );
    // Inference keeps keys with leading zeros as strings.
    let t2 = dir.path().join("t2");
    let zips = write(
        dir.path(),
        "zips.csv",
        "key,event_time,v\n007,2024-01-01,1\n8,2024-01-01,2\n",
    );
    ok(&["import", t2.to_str().expect("utf8"), &zips]);
    assert!(ok(&["info", t2.to_str().expect("utf8")])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .contains("key String key"));
}

#[test]
fn check_reports_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("t");
    let ts = t.to_str().expect("utf8");
    for (i, day) in ["2024-01-01", "2024-01-02"].iter().enumerate() {
        let f = write(
            dir.path(),
            &format!("{i}.csv"),
            &format!("key,event_time,v\na,{day},{i}\n"),
        );
        ok(&["import", ts, &f]);
    }
    assert!(ok(&["check", ts]).starts_with("ok: 2 snapshots"));
    let files: Vec<_> = tree(&t.join("data")).into_keys().collect();
    assert_eq!(files.len(), 2);
    std::fs::write(&files[0], b"not parquet").expect("corrupt");
    std::fs::remove_file(&files[1]).expect("remove");
    let (code, out, err) = run(&["check", ts]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("2 problems"), "{out}");
    assert!(out.contains("is missing") && out.contains("bytes"), "{out}");
    assert!(err.starts_with("error: check found 2 problems"), "{err}");
}

/// `check --data` reads every row: damage inside a data page, which `check` (footers
/// only) passes, is a problem naming the file, and exit 1.
#[test]
fn check_data_finds_damage_inside_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("t");
    let ts = t.to_str().expect("utf8");
    let victim = bazof_testkit::damage::one_file_table(ts);
    let name = victim
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(ok(&["check", ts, "--data"]).starts_with("ok: 1 snapshots, 1 data files"));
    let pristine = std::fs::read(&victim).expect("read");
    // The first damage in the file's middle (its data pages) that only --data sees.
    let found = (pristine.len() / 4..pristine.len() / 2)
        .step_by(13)
        .any(|offset| {
            let mut damaged = pristine.clone();
            damaged[offset..offset + bazof_testkit::damage::DAMAGE_BYTES].fill(0xFF);
            std::fs::write(&victim, &damaged).expect("write");
            let (code, out, err) = run(&["check", ts, "--data"]);
            code == 1
                && out.contains(&name)
                && err.starts_with("error: check found 1 problem")
                && ok(&["check", ts]).starts_with("ok:")
        });
    assert!(found, "no damage that only --data finds");
}

#[test]
fn help_has_an_example_for_every_command() {
    for cmd in ["import", "scan", "info", "log", "check", "gen"] {
        let out = ok(&[cmd, "--help"]);
        assert!(out.contains("Example"), "{cmd}: {out}");
    }
    assert!(ok(&["--help"]).contains("Examples"));
}
