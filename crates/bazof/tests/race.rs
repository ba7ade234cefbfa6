//! Racing writers: threads and separate processes commit to one table at once.
//! Every commit lands whole or gets a conflict (retried for blind appends); none
//! is lost or duplicated; the table equals the oracle over the successful commits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use bazof::{ColumnDef, ColumnType, KeyType, ScanOptions, Table, TableSchema};
use bazof_testkit::{batch_rows, Value};

const WRITERS: usize = 4;
const COMMITS_EACH: usize = 6;

fn schema() -> TableSchema {
    TableSchema::new(
        KeyType::String,
        vec![
            ColumnDef::new("writer", ColumnType::Int),
            ColumnDef::new("n", ColumnType::Int),
        ],
    )
}

/// Writer `w`'s `n`-th commit: every writer touches the same keys at the same event
/// times, so the commit order decides the answer (ties go to the later commit).
fn events(w: usize, n: usize) -> RecordBatch {
    let keys: Vec<String> = (0..3).map(|k| format!("k{k}")).collect();
    RecordBatch::try_from_iter([
        ("key", Arc::new(StringArray::from(keys)) as _),
        (
            "event_time",
            Arc::new(
                TimestampMicrosecondArray::from(vec![10, 10, (n as i64) % 3]).with_timezone("UTC"),
            ) as _,
        ),
        ("writer", Arc::new(Int64Array::from(vec![w as i64; 3])) as _),
        ("n", Arc::new(Int64Array::from(vec![n as i64; 3])) as _),
    ])
    .unwrap()
}

async fn writer(location: String, w: usize) -> Vec<(u64, usize, usize)> {
    let table = Table::open(&location).await.unwrap();
    let mut landed = Vec::new();
    for n in 0..COMMITS_EACH {
        let info = table
            .commit_with_retry(&[events(w, n)], 1000)
            .await
            .unwrap();
        landed.push((info.commit, w, n));
    }
    landed
}

/// Replays the landed commits in commit order through the naive rule.
async fn check(location: &str, landed: &mut [(u64, usize, usize)]) {
    landed.sort();
    let commits: Vec<u64> = landed.iter().map(|l| l.0).collect();
    let expected_commits: Vec<u64> = (2..2 + (WRITERS * COMMITS_EACH) as u64).collect();
    assert_eq!(
        commits, expected_commits,
        "every commit landed exactly once, numbers without gaps"
    );
    let mut want: BTreeMap<String, (i64, Value, Value)> = BTreeMap::new();
    for (_, w, n) in landed.iter() {
        let b = events(*w, *n);
        let ts = b
            .column(1)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        for r in 0..3 {
            let k = format!("k{r}");
            if want.get(&k).is_none_or(|x| x.0 <= ts.value(r)) {
                want.insert(
                    k,
                    (ts.value(r), Value::Int(*w as i64), Value::Int(*n as i64)),
                );
            }
        }
    }
    let table = Table::open(location).await.unwrap();
    let got = batch_rows(
        &table
            .scan(ScanOptions::default().with_columns(["key", "writer", "n"]))
            .await
            .unwrap()
            .collect_batches()
            .await
            .unwrap(),
    );
    let want: Vec<Vec<Value>> = want
        .into_iter()
        .map(|(k, (_, w, n))| vec![Value::Str(k), w, n])
        .collect();
    assert_eq!(got, want);
}

async fn seed(location: &str) {
    let t = Table::create(location, schema()).await.unwrap();
    t.commit(&[events(99, 0)]).await.unwrap();
}

fn race_threads(location: String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(seed(&location));
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let loc = location.clone();
            std::thread::spawn(move || {
                tokio::runtime::Runtime::new()
                    .unwrap()
                    .block_on(writer(loc, w))
            })
        })
        .collect();
    let mut landed: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    rt.block_on(check(&location, &mut landed));
}

#[test]
fn threads_race_on_the_in_memory_store() {
    race_threads("memory://race/threads".into());
}

#[test]
fn threads_race_on_the_local_file_system() {
    let dir = tempfile::tempdir().unwrap();
    race_threads(dir.path().join("t").to_str().unwrap().into());
}

/// Child mode: when BAZOF_RACE_CHILD is set, this test is one writer process.
#[test]
fn race_child_writer() {
    let (Ok(loc), Ok(w)) = (
        std::env::var("BAZOF_RACE_CHILD"),
        std::env::var("BAZOF_RACE_WRITER"),
    ) else {
        return;
    };
    let landed = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(writer(loc, w.parse().unwrap()));
    for (c, w, n) in landed {
        println!("LANDED {c} {w} {n}");
    }
}

#[test]
fn processes_race_on_the_local_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_str().unwrap().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(seed(&location));
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..WRITERS)
        .map(|w| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "race_child_writer",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("BAZOF_RACE_CHILD", &location)
                .env("BAZOF_RACE_WRITER", w.to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut landed = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // The harness may print "test race_child_writer ... " on the same line.
            if let Some(rest) = line.find("LANDED ").map(|i| &line[i + 7..]) {
                let v: Vec<usize> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
                landed.push((v[0] as u64, v[1], v[2]));
            }
        }
    }
    assert_eq!(landed.len(), WRITERS * COMMITS_EACH);
    rt.block_on(check(&location, &mut landed));
}
