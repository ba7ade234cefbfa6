//! The conformance suite (`bazof_testkit::conformance`) through `bazof scan --format
//! json`: every answer equals DESIGN §1's oracle, value by value.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bazof::{ColumnType, KeyValue};
use bazof_testkit::conformance::{run, DiffQuery, Door, HistoryQuery, Query, Suite};
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

/// The type of an output column of scan, history or diff, by name (`None`: a time).
fn column_type(log: &Log, name: &str) -> Option<ColumnType> {
    let schema = &log.schema;
    let name = name
        .strip_prefix("before_")
        .or_else(|| name.strip_prefix("after_"))
        .unwrap_or(name);
    if name == schema.key {
        Some(match schema.key_type {
            bazof::KeyType::Int => ColumnType::Int,
            bazof::KeyType::String => ColumnType::String,
        })
    } else if name == "change" {
        Some(ColumnType::String)
    } else {
        schema.column(name).map(|c| c.data_type)
    }
}

/// Runs the CLI and reads its JSON lines into rows of `columns`.
fn json_rows(args: &[String], log: &Log, columns: &[String]) -> Vec<Vec<Value>> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::ok(&args)
        .lines()
        .map(|line| {
            let obj: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(line).expect("one JSON object per line");
            columns
                .iter()
                .map(|c| cell(&obj[c], column_type(log, c)))
                .collect()
        })
        .collect()
}

fn key_args(args: &mut Vec<String>, keys: &[KeyValue]) {
    for k in keys {
        args.push(match k {
            KeyValue::Int(i) => format!("--key={i}"),
            KeyValue::String(s) => format!("--key={s}"),
        });
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
        key_args(&mut args, &q.key_list().unwrap_or_default());
        json_rows(&args, log, &q.columns)
    }
    fn history(&mut self, location: &str, log: &Log, q: &HistoryQuery) -> Option<Vec<Vec<Value>>> {
        let mut args = vec![
            "history".to_string(),
            location.to_string(),
            "--format".into(),
            "json".into(),
        ];
        if let Some(s) = q.snapshot {
            args.extend(["--snapshot".into(), s.to_string()]);
        }
        if let Some(t) = q.from {
            args.extend(["--from".into(), bazof_testkit::format_time(t)]);
        }
        if let Some(t) = q.to {
            args.extend(["--to".into(), bazof_testkit::format_time(t)]);
        }
        key_args(&mut args, q.keys.as_deref().unwrap_or_default());
        let mut columns = vec![
            log.schema.key.clone(),
            "valid_from".into(),
            "valid_to".into(),
        ];
        columns.extend(log.schema.columns.iter().map(|c| c.name.clone()));
        Some(json_rows(&args, log, &columns))
    }
    fn diff(&mut self, location: &str, log: &Log, q: &DiffQuery) -> Option<Vec<Vec<Value>>> {
        let mut args = vec![
            "diff".to_string(),
            location.to_string(),
            "--format".into(),
            "json".into(),
        ];
        for (side, (t, s)) in [("from", q.from), ("to", q.to)] {
            if let Some(t) = t {
                args.extend([format!("--{side}-as-of"), bazof_testkit::format_time(t)]);
            }
            if let Some(s) = s {
                args.extend([format!("--{side}-snapshot"), s.to_string()]);
            }
        }
        key_args(&mut args, q.keys.as_deref().unwrap_or_default());
        let mut compared = vec![log.schema.event_time.clone()];
        compared.extend(log.schema.columns.iter().map(|c| c.name.clone()));
        let mut columns = vec![log.schema.key.clone(), "change".into()];
        for prefix in ["before_", "after_"] {
            columns.extend(compared.iter().map(|c| format!("{prefix}{c}")));
        }
        Some(json_rows(&args, log, &columns))
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
