//! SPEC §8.1 and §8.2: where compaction places segment boundaries (and so bases): by
//! data volume (thinning, candidates from event density), calendar periods, or row counts.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use futures::StreamExt;

use super::base_is_stale;
use crate::error::Result;
use crate::snapshot::{DataFile, Segment, Snapshot};
use crate::table::Table;

/// Where compaction places segment boundaries (and so bases): by data volume (the
/// default), at calendar periods of event time, or every `n` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentWidth {
    /// By data volume (SPEC §8.1): a base of the current state once the events after
    /// the newest base outgrow [`CompactionPolicy::current_ratio`] of it, and past bases
    /// only where an as-of scan would otherwise read more than
    /// `1 + `[`CompactionPolicy::history_ratio`] times the rows of the state.
    Volume,
    /// Calendar days (UTC).
    Day,
    /// Calendar months (UTC).
    Month,
    /// Calendar years (UTC).
    Year,
    /// About this many events per segment: the open segment is closed at the event
    /// times that cut its events into runs of this many (ties keep equal times together).
    Rows(u64),
}

impl SegmentWidth {
    /// The start of the calendar period containing `t` (`Rows`, `Volume`: `t`).
    fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let (y, m, d) = match self {
            SegmentWidth::Day => (t.year(), t.month(), t.day()),
            SegmentWidth::Month => (t.year(), t.month(), 1),
            SegmentWidth::Year => (t.year(), 1, 1),
            SegmentWidth::Rows(_) | SegmentWidth::Volume => return t,
        };
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().unwrap_or(t)
    }

    /// The start of the calendar period before the one starting at `start`.
    fn prev(self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            SegmentWidth::Day => start.checked_sub_days(chrono::Days::new(1)),
            SegmentWidth::Month => start.checked_sub_months(chrono::Months::new(1)),
            SegmentWidth::Year => start.checked_sub_months(chrono::Months::new(12)),
            SegmentWidth::Rows(_) | SegmentWidth::Volume => None,
        }
    }

    /// Parses `volume`, `day`, `month`, `year` or `rows:N`.
    pub fn parse(s: &str) -> Option<SegmentWidth> {
        let s = s.to_ascii_lowercase();
        if let Some(n) = s.strip_prefix("rows:") {
            return n
                .trim()
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .map(SegmentWidth::Rows);
        }
        match s.as_str() {
            "volume" => Some(SegmentWidth::Volume),
            "day" | "daily" => Some(SegmentWidth::Day),
            "month" | "monthly" => Some(SegmentWidth::Month),
            "year" | "yearly" => Some(SegmentWidth::Year),
            _ => None,
        }
    }

    /// Calendar period starts `p` with `floor(min) < p <= floor(max)`, at most the
    /// newest `limit` of them: memory follows `limit`, not the time span (issue 13 #11).
    pub(super) fn periods(
        self,
        min: DateTime<Utc>,
        max: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let first = self.floor(min);
        let mut out = Vec::new();
        let mut p = Some(self.floor(max));
        while let Some(t) = p.filter(|t| *t > first && out.len() < limit) {
            out.push(t);
            p = self.prev(t);
        }
        out.reverse();
        out
    }
}

/// How compaction lays out a table. The defaults were chosen by measurement
/// (`benches/RESULTS.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionPolicy {
    /// Where segments (and bases) are placed: by data volume, by calendar period, or every `n` events.
    pub segment: SegmentWidth,
    /// A segment's deltas are merged (the smallest first) once it has more than this many.
    pub max_deltas: usize,
    /// Rows per written data file (larger outputs roll over to a new file).
    pub target_file_rows: usize,
    /// Calendar and row policies: at most this many new boundaries per compaction.
    pub max_segments: usize,
    /// Close the open segment at this event time too (in addition to the policy's boundaries).
    pub close_at: Option<DateTime<Utc>>,
    /// `Volume`: a past base is dropped while an as-of scan, without it, reads at most
    /// `1 + history_ratio` times the rows of the state (space ≈ 1 + 1/history_ratio per event).
    pub history_ratio: f64,
    /// `Volume`: a base of the current state is written once the events after the newest
    /// base exceed this fraction of its rows (current scans read at most `1 + current_ratio`).
    pub current_ratio: f64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            segment: SegmentWidth::Volume,
            max_deltas: 4,
            target_file_rows: 4 << 20,
            max_segments: 120,
            close_at: None,
            history_ratio: 1.0,
            current_ratio: 0.1,
        }
    }
}

/// Estimated number of delta events with event time `< t`, from file metadata alone:
/// each delta's rows spread evenly over its `[min, max]` event times.
pub(super) struct EventDensity(Vec<(i64, i64, f64)>);

impl EventDensity {
    pub(super) fn new(deltas: &[&DataFile]) -> Self {
        EventDensity(
            deltas
                .iter()
                .filter_map(|f| {
                    let lo = f.min_event_time?.timestamp_micros();
                    let hi = f.max_event_time?.timestamp_micros();
                    Some((lo, hi, f.rows as f64))
                })
                .collect(),
        )
    }

    pub(super) fn before(&self, t: i64) -> f64 {
        self.0
            .iter()
            .map(|&(lo, hi, rows)| {
                if t <= lo {
                    0.0
                } else if t > hi {
                    rows
                } else {
                    rows * ((t as f64 - lo as f64) / (hi as f64 - lo as f64 + 1.0))
                }
            })
            .sum()
    }

    pub(super) fn total(&self) -> f64 {
        self.0.iter().map(|f| f.2).sum()
    }

    /// The smallest `t` in `(lo, hi]` with `before(t) >= target` (`hi` if none).
    fn quantile(&self, target: f64, mut lo: i64, mut hi: i64) -> i64 {
        while i128::from(hi) - i128::from(lo) > 1 {
            let mid = lo / 2 + hi / 2 + (lo % 2 + hi % 2) / 2;
            if self.before(mid) >= target {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }
}

/// SPEC §8.1, thinning: which segment starts to keep, given for every segment the rows
/// of its base (`base_rows[0]`: the first segment has none, 0) and the events that lie in
/// it. Walking oldest first, a start is dropped while the merged gap keeps an as-of scan
/// within `1 + alpha` times the state it returns, both just after the dropped start
/// (the scan reads the dropped segment's deltas whole) and just before the next start:
/// the scan reads the previous kept base plus the gap's events, the state is the base
/// rows at either start. The last start is always kept.
fn thin(base_rows: &[u64], events: &[u64], alpha: f64) -> Vec<bool> {
    let n = base_rows.len();
    let mut keep = vec![true; n];
    if n < 3 {
        return keep;
    }
    let mut p = 0;
    let mut acc = events[0];
    for i in 1..n - 1 {
        let merged = acc + events[i];
        let reads = (base_rows[p] + merged) as f64;
        // A growing state is smallest just after the dropped start, a shrinking one
        // just before the next.
        let state = base_rows[i].min(base_rows[i + 1]);
        if reads <= (1.0 + alpha) * state as f64 {
            keep[i] = false;
            acc = merged;
        } else {
            p = i;
            acc = events[i];
        }
    }
    keep
}

/// [`thin`] over segments; a start the caller asked for (`close_at`) is always kept.
pub(super) fn thin_segments(
    segments: &[Segment],
    base_rows: &[u64],
    events: &[u64],
    policy: &CompactionPolicy,
) -> Vec<bool> {
    let mut keep = thin(base_rows, events, policy.history_ratio);
    for (k, g) in keep.iter_mut().zip(segments) {
        *k |= g.start.is_some() && g.start == policy.close_at;
    }
    keep
}

/// Merges every segment whose start is not kept into the one before it (its base is
/// dropped from the snapshot, its deltas move).
pub(super) fn merge_segments(segments: Vec<Segment>, keep: &[bool]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::with_capacity(segments.len());
    for (g, &k) in segments.into_iter().zip(keep) {
        match out.last_mut() {
            Some(prev) if !k => {
                prev.end = g.end;
                prev.deltas.extend(g.deltas);
            }
            _ => out.push(g),
        }
    }
    out
}

/// SPEC §8.1, new starts of the volume policy, from delta metadata alone (no data is
/// read): when the events after the newest start outgrow `current_ratio` of its base
/// (or it has none, or it is stale), a start just after the greatest event time (the
/// base of the current state), plus, when those events exceed `history_ratio` of the
/// base, candidates at estimated event quantiles (at most 7) that thinning may keep.
pub(super) fn volume_candidates(
    s: &Snapshot,
    deltas: &[&DataFile],
    max_et: DateTime<Utc>,
    policy: &CompactionPolicy,
) -> Vec<DateTime<Utc>> {
    let last = s.segments.last();
    let last_start = last.and_then(|g| g.start);
    let base_rows = last.and_then(|g| g.base.as_ref()).map_or(0, |b| b.rows) as f64;
    let stale = last.is_some_and(|g| g.start.is_some() && base_is_stale(&s.files(), g));
    let density = EventDensity::new(deltas);
    let from = last_start.map_or(i64::MIN, |t| t.timestamp_micros());
    let done = last_start.map_or(0.0, |t| density.before(t.timestamp_micros()));
    let tail = density.total() - done;
    let Some(current) = max_et.checked_add_signed(Duration::microseconds(1)) else {
        return Vec::new();
    };
    if tail < 1.0 || (base_rows > 0.0 && tail <= policy.current_ratio * base_rows && !stale) {
        return Vec::new();
    }
    if last_start.is_some_and(|t| t >= current) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let step = (policy.history_ratio * base_rows).max(tail / 8.0).max(1.0);
    let lo = deltas
        .iter()
        .filter_map(|f| f.min_event_time)
        .min()
        .map_or(from, |t| t.timestamp_micros().max(from));
    let hi = current.timestamp_micros();
    let mut k = 1.0;
    while k * step < tail {
        let t = density.quantile(done + k * step, lo, hi);
        if t > out.last().copied().unwrap_or(from) && t < hi {
            out.push(t);
        }
        k += 1.0;
    }
    out.into_iter()
        .filter_map(DateTime::from_timestamp_micros)
        .chain(std::iter::once(current))
        .collect()
}

impl Table {
    /// `SegmentWidth::Rows(n)`: the event times that cut the events of the open segment
    /// (at or after `open_start`) into runs of `n`, read from the event-time column of
    /// the deltas that reach into it (memory: 8 bytes per such event).
    pub(super) async fn row_boundaries(
        &self,
        snap: &Snapshot,
        deltas: &[&DataFile],
        open_start: Option<DateTime<Utc>>,
        n: u64,
    ) -> Result<Vec<DateTime<Utc>>> {
        let reaching: Vec<DataFile> = deltas
            .iter()
            .filter(|f| open_start.is_none_or(|s| f.max_event_time.is_some_and(|m| m >= s)))
            .map(|f| (*f).clone())
            .collect();
        let mut stream = self.all_rows(snap, &reaching, Vec::new()).await?;
        let from = open_start.map_or(i64::MIN, |s| s.timestamp_micros());
        let mut times: Vec<i64> = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if let Some(et) = batch
                .column(1)
                .as_any()
                .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
            {
                times.extend(et.values().iter().filter(|&&t| t >= from));
            }
        }
        times.sort_unstable();
        let mut out: Vec<DateTime<Utc>> = Vec::new();
        let mut last = from;
        for &t in times
            .iter()
            .step_by(usize::try_from(n).unwrap_or(usize::MAX))
            .skip(1)
        {
            if t > last {
                out.extend(DateTime::from_timestamp_micros(t));
                last = t;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::FileKind;

    #[test]
    fn thinning_keeps_a_start_where_reads_would_outgrow_the_state() {
        // A slowly changing table: 1000 keys loaded, then 5 segments of 50 changes each.
        // Every as-of scan reads at most 1250 events: no past base is needed.
        let rows = [0, 1000, 1000, 1000, 1000, 1000];
        let events = [1000, 50, 50, 50, 50, 0];
        assert_eq!(
            thin(&rows, &events, 1.0),
            [true, false, false, false, false, true]
        );
        // A dense one: each segment holds more than the whole state again.
        let events = [1100, 1100, 1100, 1100, 1100, 0];
        assert_eq!(thin(&rows, &events, 1.0), [true; 6]);
        // With history_ratio 2, a scan may read the base plus two states of events.
        let events = [1000, 1000, 1000, 1000, 1000, 0];
        assert_eq!(
            thin(&rows, &events, 2.0),
            [true, false, false, true, false, true]
        );
        // The first and the last start are always kept.
        assert_eq!(thin(&[0, 5], &[100, 0], 1.0), [true, true]);
        // A growing state: dropping start 1 would make a scan just after it read
        // 1000 events for a state of 100; the end of the gap alone (state 1000) hides it.
        assert_eq!(
            thin(&[0, 100, 1000, 1000], &[100, 900, 100, 0], 1.0),
            [true, true, false, true]
        );
    }

    #[test]
    fn calendar_periods_are_bounded_by_the_limit_not_the_span() {
        let min = Utc.with_ymd_and_hms(-200_000, 1, 1, 0, 0, 0).unwrap();
        let max = Utc.with_ymd_and_hms(200_000, 1, 1, 0, 0, 0).unwrap();
        let p = SegmentWidth::Day.periods(min, max, 120);
        assert_eq!(p.len(), 120);
        assert_eq!(p.last(), Some(&max));
        assert!(p.windows(2).all(|w| w[0] < w[1]));
        // A short span yields all its periods, oldest first.
        let m = SegmentWidth::Month.periods(
            Utc.with_ymd_and_hms(2024, 1, 15, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 4, 2, 0, 0, 0).unwrap(),
            120,
        );
        let months: Vec<u32> = m.iter().map(|t| t.month()).collect();
        assert_eq!(months, [2, 3, 4]);
    }

    #[test]
    fn density_quantiles_follow_file_statistics() {
        let f = |lo: i64, hi: i64, rows: u64| DataFile {
            path: "x".into(),
            kind: FileKind::Delta,
            rows,
            bytes: 1,
            min_event_time: DateTime::from_timestamp_micros(lo),
            max_event_time: DateTime::from_timestamp_micros(hi),
            min_key: None,
            max_key: None,
            commit: 1,
            min_commit: 1,
            max_commit: 1,
            base_start: None,
            folds_through: None,
        };
        let files = [f(0, 999, 1000), f(1000, 1999, 1000)];
        let refs: Vec<&DataFile> = files.iter().collect();
        let d = EventDensity::new(&refs);
        assert_eq!(d.total(), 2000.0);
        let q = d.quantile(1500.0, 0, 2000);
        assert!((1495..=1505).contains(&q), "{q}");
        let extreme = [f(i64::MIN / 2, i64::MAX / 2, 10)];
        let refs: Vec<&DataFile> = extreme.iter().collect();
        let q = EventDensity::new(&refs).quantile(5.0, i64::MIN / 2, i64::MAX / 2);
        assert!(q.abs() < i64::MAX / 8, "{q}");
    }
}
