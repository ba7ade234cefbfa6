//! `bazof gen` (bazof 0.2): DIR/NAME/FILE.csv → DIR/NAME/FILE.parquet in the legacy layout.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use bazof::blocking::block_on;
use bazof::{AnySnapshot, ColumnType, KeyType, Table};
use parquet::arrow::ArrowWriter;

use crate::batches::BatchSource;
use crate::cli::GenArgs;
use crate::convert::{ColumnMap, Target};
use crate::csv_input::{self, CsvFile, CsvOptions};
use crate::error::Result;
use crate::fail;

/// The Arrow type bazof 0.2 wrote for a value column (timestamps in milliseconds).
fn legacy_type(t: ColumnType) -> DataType {
    match t {
        ColumnType::DateTime => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        other => other.arrow_type(),
    }
}

/// Runs `bazof gen`.
pub fn run(args: GenArgs) -> Result<()> {
    let dir = PathBuf::from(&args.path).join(&args.table);
    let location = dir.to_string_lossy();
    let snap = block_on(async { Table::open(&location).await?.snapshot(None).await })?;
    let AnySnapshot::Legacy(legacy) = snap.as_ref() else {
        return Err(fail!(
            "{} is a format-version-{} table; gen writes bazof 0.2 data files, use `bazof import` instead",
            dir.display(),
            snap.format_version()
        ));
    };
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
    let columns = legacy.table_schema.columns.iter();
    for (i, (c, &nullable)) in columns.zip(&legacy.declared_nullable).enumerate() {
        let dt = legacy_type(c.data_type);
        header.push(c.name.clone());
        maps.push(ColumnMap {
            name: c.name.clone(),
            csv_index: i + 2,
            target: Target::Value(c.data_type),
            inferred: false,
        });
        fields.push(Field::new(c.name.clone(), dt, nullable));
    }
    let schema = Arc::new(Schema::new(fields));

    let mut file = CsvFile::open(
        &csv_path,
        &CsvOptions {
            delimiter: b',',
            has_header: false,
            nulls: Vec::new(),
        },
    )?;
    file.header = header;
    let mut conv = csv_input::converter(file, maps)?;
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
                        conv.rows() as usize - batch.num_rows() + row + 1
                    ));
                }
                arrays.push(cast(a, f.data_type())?);
            }
            writer.write(&RecordBatch::try_new(schema.clone(), arrays)?)?;
        }
        writer.close()?;
        Ok(conv.rows())
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
