//! The core's matrix (create, commit, scan, compact, vacuum, racing writers) against
//! a real S3-compatible server on loopback that implements conditional writes
//! (`If-None-Match: *`): moto's server, which `.ci/run` installs from PyPI.
//!
//! The server comes from `BAZOF_S3_ENDPOINT` (e.g. `http://127.0.0.1:5555`) or, when
//! that is unset, this test starts `moto_server` on a free port itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bazof::Table;
use bazof_testkit::history::{arb_maintenance, check_history};
use bazof_testkit::{arb_log, current_rows, oracle_rows, to_batch, TIME_UNIT};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

const BUCKET: &str = "bazof-test";

struct Server {
    endpoint: String,
    child: Option<Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn http(addr: &str, request: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.write_all(request.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn server() -> Server {
    let (endpoint, child) = match std::env::var("BAZOF_S3_ENDPOINT") {
        Ok(e) => (e, None),
        Err(_) => {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("the S3 suite needs an S3 server: run `bash .ci/run`, or `pip install 'moto[server]'`, or set BAZOF_S3_ENDPOINT ({e})")
                });
            (format!("http://127.0.0.1:{port}"), Some(child))
        }
    };
    let addr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let start = Instant::now();
    loop {
        let req = format!("PUT /{BUCKET} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        match http(&addr, &req) {
            Ok(resp)
                if resp.starts_with("HTTP/1.1 200") || resp.contains("BucketAlreadyOwnedByYou") =>
            {
                break
            }
            Ok(resp) => panic!("cannot create bucket: {resp}"),
            Err(_) if start.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(200))
            }
            Err(e) => panic!("S3 server at {endpoint} did not come up: {e}"),
        }
    }
    Server { endpoint, child }
}

#[test]
fn core_matrix_on_s3() {
    let server = server();
    // SAFETY-free: this test binary has one test; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &server.endpoint);
        std::env::set_var("AWS_ALLOW_HTTP", "true");
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut runner = TestRunner::deterministic();

    // 1. Random histories with compactions and vacuums, every retained snapshot vs the oracle.
    for i in 0..12 {
        let log = arb_log(5, 10).new_tree(&mut runner).unwrap().current();
        let maintenance = proptest::collection::vec(arb_maintenance(), 1..6)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let queries: Vec<(Option<i64>, usize)> = (0..4)
            .map(|q| {
                (
                    if q == 0 {
                        None
                    } else {
                        Some((q * 4 - 1) * TIME_UNIT)
                    },
                    q as usize * 7,
                )
            })
            .collect();
        rt.block_on(check_history(
            &format!("s3://{BUCKET}/history/t{i}"),
            &log,
            &maintenance,
            &queries,
        ));
    }

    // 2. Racing writers: conditional put lets exactly one win each commit number.
    let log = arb_log(1, 8).new_tree(&mut runner).unwrap().current();
    let location = format!("s3://{BUCKET}/race");
    rt.block_on(async {
        let t = Table::create(&location, log.schema.clone()).await.unwrap();
        t.commit(&[to_batch(&log.schema, &log.commits[0])])
            .await
            .unwrap();
    });
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (loc, log) = (location.clone(), log.clone());
            std::thread::spawn(move || {
                tokio::runtime::Runtime::new().unwrap().block_on(async {
                    let t = Table::open(&loc).await.unwrap();
                    let mut mine = Vec::new();
                    for _ in 0..4 {
                        let info = t
                            .commit_with_retry(&[to_batch(&log.schema, &log.commits[0])], 200)
                            .await
                            .unwrap();
                        mine.push((info.commit, w));
                    }
                    mine
                })
            })
        })
        .collect();
    let mut landed: Vec<u64> = writers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .map(|(c, _)| c)
        .collect();
    landed.sort();
    assert_eq!(
        landed,
        (2..14).collect::<Vec<u64>>(),
        "each commit landed exactly once"
    );
    let all: Vec<String> = log.schema.column_names().map(String::from).collect();
    let mut replay = log.clone();
    replay.commits = vec![log.commits[0].clone(); 13];
    let got = rt.block_on(current_rows(&location)).unwrap();
    assert_eq!(got, oracle_rows(&replay, None, None, &all));
}
