//! The conformance suite (`bazof_testkit::conformance`) through `bazof scan --format
//! json`: every answer equals DESIGN §1's oracle, value by value.

mod common;

use bazof::{ColumnType, KeyValue};
use bazof_testkit::conformance::{run, Door, Query, Suite};
use bazof_testkit::{Log, Value};

/// The CLI, one process per scan, on tables in a temporary directory.
struct Cli {
    dir: tempfile::TempDir,
    tables: usize,
}

/// A JSON cell of a column of type `t` (`None` = the event-time column) as a value.
fn cell(v: &serde_json::Value, t: Option<ColumnType>) -> Value {
    let time = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Value::Time(t.timestamp_micros()))
            .unwrap_or_else(|e| panic!("time {s}: {e}"))
    };
    match (v, t) {
        (serde_json::Value::Null, _) => Value::Null,
        (serde_json::Value::String(s), None | Some(ColumnType::DateTime)) => time(s),
        (serde_json::Value::String(s), Some(ColumnType::Date)) => {
            let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
            Value::Date((d - chrono::NaiveDate::default()).num_days() as i32)
        }
        (serde_json::Value::String(s), _) => Value::Str(s.clone()),
        (serde_json::Value::Bool(b), _) => Value::Bool(*b),
        (serde_json::Value::Number(n), Some(ColumnType::Float)) => {
            Value::Float(n.as_f64().expect("float"))
        }
        (serde_json::Value::Number(n), _) => Value::Int(n.as_i64().expect("int")),
        other => panic!("unexpected JSON cell {other:?}"),
    }
}

impl Door for Cli {
    fn name(&self) -> &str {
        "CLI"
    }
    fn location(&mut self) -> String {
        self.tables += 1;
        let p = self.dir.path().join(format!("t{}", self.tables));
        p.to_string_lossy().into_owned()
    }
    /// `--key` lists keys; the CLI has no key ranges.
    fn supports(&self, q: &Query) -> bool {
        q.key.is_none() || q.key_list().is_some()
    }
    fn scan(&mut self, location: &str, log: &Log, q: &Query) -> Vec<Vec<Value>> {
        let mut args = vec![
            "scan".to_string(),
            location.to_string(),
            "--format".into(),
            "json".into(),
            "--columns".into(),
            q.columns.join(","),
        ];
        if let Some(t) = q.as_of {
            args.push("--as-of".into());
            args.push(bazof_testkit::format_time(t));
        }
        if let Some(s) = q.snapshot {
            args.push("--snapshot".into());
            args.push(s.to_string());
        }
        for k in q.key_list().unwrap_or_default() {
            args.push(match k {
                KeyValue::Int(i) => format!("--key={i}"),
                KeyValue::String(s) => format!("--key={s}"),
            });
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = common::ok(&args);
        let schema = &log.schema;
        let types: Vec<Option<ColumnType>> = q
            .columns
            .iter()
            .map(|c| {
                if *c == schema.key {
                    Some(match schema.key_type {
                        bazof::KeyType::Int => ColumnType::Int,
                        bazof::KeyType::String => ColumnType::String,
                    })
                } else {
                    schema.column(c).map(|c| c.data_type)
                }
            })
            .collect();
        out.lines()
            .map(|line| {
                let obj: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(line).expect("one JSON object per line");
                q.columns
                    .iter()
                    .zip(&types)
                    .map(|(c, t)| cell(&obj[c], *t))
                    .collect()
            })
            .collect()
    }
}

#[test]
fn cli_equals_oracle() {
    let mut cli = Cli {
        dir: tempfile::tempdir().expect("tempdir"),
        tables: 0,
    };
    let checked = run(
        &mut cli,
        Suite {
            logs: 40,
            ..Suite::default()
        },
    );
    assert!(checked > 80, "{checked}");
}
