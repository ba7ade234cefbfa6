//! `bazof gen` (bazof 0.2): DIR/NAME/FILE.csv → DIR/NAME/FILE.parquet in the legacy layout.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use bazof::{ColumnType, KeyType};
use parquet::arrow::ArrowWriter;

use crate::cli::GenArgs;
use crate::csv_input::{ColumnMap, Converter, CsvFile, CsvOptions, Target};
use crate::error::Result;
use crate::fail;

fn legacy_type(name: &str) -> Option<(ColumnType, DataType)> {
    let ms = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Some(match name {
        "String" => (ColumnType::String, DataType::Utf8),
        "Int" => (ColumnType::Int, DataType::Int64),
        "Boolean" => (ColumnType::Boolean, DataType::Boolean),
        "DateTime" => (ColumnType::DateTime, ms),
        _ => return None,
    })
}

/// Runs `bazof gen`.
pub fn run(args: GenArgs) -> Result<()> {
    let dir = PathBuf::from(&args.path).join(&args.table);
    let hint = std::fs::read_to_string(dir.join("version.txt")).unwrap_or_else(|_| "1".into());
    let snap_path = dir.join(format!("s{}.json", hint.trim()));
    let text =
        std::fs::read_to_string(&snap_path).map_err(|e| fail!("{}: {e}", snap_path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| fail!("{}: not valid JSON: {e}", snap_path.display()))?;
    if json.get("format_version").is_some() {
        return Err(fail!(
            "{} is a format-version-1 table; gen writes bazof 0.2 data files, use `bazof import` instead",
            dir.display()
        ));
    }
    let columns = json
        .pointer("/schema/columns")
        .and_then(|c| c.as_array())
        .ok_or_else(|| fail!("{}: no schema.columns", snap_path.display()))?;

    let csv_path = dir.join(format!("{}.csv", args.file));
    let mut header = vec!["key".to_string(), "event_time".to_string()];
    let mut maps = vec![
        ColumnMap {
            name: "key".into(),
            csv_index: 0,
            target: Target::Key(KeyType::String),
            inferred: false,
        },
        ColumnMap {
            name: "event_time".into(),
            csv_index: 1,
            target: Target::EventTime,
            inferred: false,
        },
    ];
    let ms = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("event_time", ms, false),
    ];
    for (i, c) in columns.iter().enumerate() {
        let name = c
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string();
        let ty = c
            .get("data_type")
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        let nullable = c.get("nullable").and_then(|n| n.as_bool()).unwrap_or(false);
        let (ct, dt) = legacy_type(ty).ok_or_else(|| {
            fail!(
                "{}: column '{name}' has unknown type '{ty}'",
                snap_path.display()
            )
        })?;
        header.push(name.clone());
        maps.push(ColumnMap {
            name: name.clone(),
            csv_index: i + 2,
            target: Target::Value(ct),
            inferred: false,
        });
        fields.push(Field::new(name, dt, nullable));
    }
    let schema = Arc::new(Schema::new(fields));

    let mut file = CsvFile::open(
        &csv_path,
        CsvOptions {
            delimiter: b',',
            has_header: false,
        },
    )?;
    file.header = header;
    let mut conv = Converter::new(file, maps);
    let out_path = dir.join(format!("{}.parquet", args.file));
    let tmp_path = dir.join(format!(".{}.parquet.tmp", args.file));
    let out = std::fs::File::create(&tmp_path).map_err(|e| fail!("{}: {e}", tmp_path.display()))?;
    let result = (|| -> Result<u64> {
        let mut writer = ArrowWriter::try_new(out, schema.clone(), None)?;
        while let Some(batch) = conv.next_batch()? {
            let mut arrays = Vec::with_capacity(batch.num_columns());
            for (i, (a, f)) in batch.columns().iter().zip(schema.fields()).enumerate() {
                if !f.is_nullable() && a.null_count() > 0 {
                    let row = (0..a.len()).find(|&r| a.is_null(r)).unwrap_or(0);
                    return Err(fail!(
                        "{}: column {} ('{}') is not nullable but is empty in data row {}",
                        csv_path.display(),
                        i + 1,
                        f.name(),
                        conv.rows as usize - batch.num_rows() + row + 1
                    ));
                }
                arrays.push(cast(a, f.data_type())?);
            }
            writer.write(&RecordBatch::try_new(schema.clone(), arrays)?)?;
        }
        writer.close()?;
        Ok(conv.rows)
    })();
    match result {
        Ok(rows) => {
            std::fs::rename(&tmp_path, &out_path)
                .map_err(|e| fail!("{}: {e}", out_path.display()))?;
            writeln!(
                std::io::stdout().lock(),
                "wrote {} ({rows} rows)",
                out_path.display()
            )?;
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp_path);
            Err(e)
        }
    }
}
