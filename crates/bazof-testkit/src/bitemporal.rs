//! Naive history and diff, derived from the oracle of DESIGN §1 alone (SPEC §10).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use bazof::KeyValue;

use crate::{oracle, Event, Log};

/// One version: key, valid_from, valid_to (None = current), the winning event.
pub type Version = (KeyValue, i64, Option<i64>, Event);

/// History at snapshot `v`, from scans alone: for every key and each of its distinct
/// event times `t`, the oracle's answer as of `t` is the version starting at `t` (absent
/// when the winner at `t` is a tombstone); it lasts until the key's next event time.
pub fn history_oracle(log: &Log, snapshot: Option<u64>) -> Vec<Version> {
    let v = snapshot.unwrap_or(log.commits.len() as u64) as usize;
    let mut times: BTreeMap<KeyValue, BTreeSet<i64>> = BTreeMap::new();
    for e in log.commits.iter().take(v).flatten() {
        times.entry(e.key.clone()).or_default().insert(e.event_time);
    }
    let mut out = Vec::new();
    for (key, ts) in &times {
        let ts: Vec<i64> = ts.iter().copied().collect();
        for (i, &t) in ts.iter().enumerate() {
            if let Some(e) = oracle(log, Some(t), snapshot).remove(key) {
                assert_eq!(e.event_time, t, "the winner as of one of its key's times");
                out.push((key.clone(), t, ts.get(i + 1).copied(), e));
            }
        }
    }
    out
}

/// What changed for one key: `insert`, `delete` or `update`, with the rows before and after.
pub type Change = (KeyValue, &'static str, Option<Event>, Option<Event>);

/// Diff of two points, from two oracle scans; `same` says whether two rows are equal
/// over the compared columns.
pub fn diff_oracle(
    log: &Log,
    a: (Option<i64>, Option<u64>),
    b: (Option<i64>, Option<u64>),
    same: impl Fn(&Event, &Event) -> bool,
) -> Vec<Change> {
    let before = oracle(log, a.0, a.1);
    let mut after = oracle(log, b.0, b.1);
    let mut out = Vec::new();
    let keys: BTreeSet<KeyValue> = before.keys().chain(after.keys()).cloned().collect();
    for k in keys {
        match (before.get(&k), after.remove(&k)) {
            (None, Some(y)) => out.push((k, "insert", None, Some(y))),
            (Some(x), None) => out.push((k, "delete", Some(x.clone()), None)),
            (Some(x), Some(y)) if !same(x, &y) => out.push((k, "update", Some(x.clone()), Some(y))),
            _ => {}
        }
    }
    out
}
