//! Arbitrary bytes as snapshot JSON: parsing never panics, a parsed snapshot can be
//! validated and planned, and a V1 snapshot survives `to_json` → `parse` unchanged.
#![no_main]

use bazof::snapshot::legacy::LegacyAsOf;
use bazof::AnySnapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The commit number the file name claims: the one the JSON says (so that valid
    // snapshots get past the name check), and a different one, which must be refused.
    let commit = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|v| v.get("commit")?.as_u64())
        .unwrap_or(1);
    if let Ok(AnySnapshot::V1(s)) = AnySnapshot::parse(data, commit.wrapping_add(1)) {
        panic!(
            "snapshot {} accepted as s{}.json",
            s.commit,
            commit.wrapping_add(1)
        );
    }
    let json = data;
    match AnySnapshot::parse(json, commit) {
        Ok(AnySnapshot::V1(snap)) => {
            snap.validate()
                .expect("parse returned a snapshot that does not validate");
            let _ = snap.files();
            let _ = snap.schema.column_names().count();
            let bytes = snap.to_json().expect("a V1 snapshot serialises");
            match AnySnapshot::parse(&bytes, commit) {
                Ok(AnySnapshot::V1(again)) => {
                    assert_eq!(
                        snap, again,
                        "V1 snapshot does not round-trip through to_json"
                    )
                }
                Ok(AnySnapshot::Legacy(_)) => panic!("to_json of a V1 snapshot parsed as legacy"),
                Err(e) => panic!("to_json of a valid snapshot does not parse: {e:?}"),
            }
        }
        Ok(AnySnapshot::Legacy(legacy)) => {
            let _ = legacy.data_files(LegacyAsOf::Current);
            let _ = legacy.data_files(LegacyAsOf::EventTime(chrono::DateTime::UNIX_EPOCH));
            let _ = legacy.all_files();
            let _ = legacy.table_schema.validate();
        }
        Err(_) => {}
    }
});
