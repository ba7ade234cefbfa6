//! Damaged files, for every door's test that damage is an error naming the file and
//! never a panic (parquet-rs's decoders panic on some damage; the core turns that into
//! the file's error).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use bazof::{ColumnDef, ColumnType, KeyType, Table, TableSchema};

/// Bytes of `0xFF` written over the file at each offset: more than the ten bytes a
/// variable-length integer may take, so the damage reaches the decoders' integers.
pub const DAMAGE_BYTES: usize = 12;

/// 300 rows (100 keys, three events each, a non-null Int column `v`) as a batch for a
/// table of `key`, `event_time`, `v`, or a Parquet file of those columns.
pub fn rows() -> RecordBatch {
    let keys: Vec<String> = (0..300).map(|i| format!("k{:03}", i % 100)).collect();
    let times = TimestampMicrosecondArray::from_iter_values((0..300).map(|i| i * 7_919_000));
    let result = RecordBatch::try_from_iter([
        ("key", Arc::new(StringArray::from(keys)) as _),
        ("event_time", Arc::new(times.with_timezone("UTC")) as _),
        (
            "v",
            Arc::new(Int64Array::from_iter_values((0..300).map(|i| i * i))) as _,
        ),
    ]);
    match result {
        Ok(batch) => batch,
        Err(e) => panic!("the damage test's rows: {e}"),
    }
}

/// Creates a table at the local path `location` with [`rows`] in one commit and
/// returns the path of its one data file.
pub fn one_file_table(location: &str) -> PathBuf {
    let schema = TableSchema::new(
        KeyType::String,
        vec![ColumnDef::new("v", ColumnType::Int).with_nullable(false)],
    );
    let written = bazof::blocking::block_on(async {
        let t = Table::create(location, schema).await?;
        t.commit(&[rows()]).await.map(|_| ())
    });
    if let Err(e) = written {
        panic!("cannot write the damage test's table: {e}");
    }
    let data = Path::new(location).join("data");
    match std::fs::read_dir(&data).map(|mut d| d.next()) {
        Ok(Some(Ok(entry))) => entry.path(),
        other => panic!("no data file in {}: {other:?}", data.display()),
    }
}

/// Overwrites `file` with [`DAMAGE_BYTES`] of `0xFF` at every `step`-th offset, each
/// time from its original bytes, and calls `read`. A read may answer (the damage hit
/// values: arrow-rs writes no page checksums) or fail; its error must name the file.
/// Panics (with the offset) otherwise, or if no damage was found at all. Leaves the
/// file as it was; returns how many reads failed.
pub fn at_every_offset(
    file: &Path,
    step: usize,
    mut read: impl FnMut() -> Result<(), String>,
) -> usize {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pristine = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) => panic!("cannot read {}: {e}", file.display()),
    };
    let mut errors = 0;
    for offset in (0..pristine.len()).step_by(step) {
        let mut damaged = pristine.clone();
        let end = (offset + DAMAGE_BYTES).min(damaged.len());
        damaged[offset..end].fill(0xFF);
        if let Err(e) = std::fs::write(file, &damaged) {
            panic!("cannot write {}: {e}", file.display());
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut read));
        match outcome {
            Err(_) => panic!("damage at byte {offset} of {name} made the reader panic"),
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                errors += 1;
                assert!(e.contains(&name), "damage at byte {offset} of {name}: {e}");
            }
        }
    }
    if let Err(e) = std::fs::write(file, &pristine) {
        panic!("cannot restore {}: {e}", file.display());
    }
    assert!(errors > 0, "no damage to {name} was found");
    errors
}
