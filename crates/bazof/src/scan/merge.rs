//! SPEC §5: resolution as a streaming k-way merge.
//!
//! Every source is sorted by key. For each key (in key order) the merge keeps the
//! row with the greatest (event time, commit, seq) and drops the key if that row is
//! a tombstone. Memory: one batch per source plus one output batch.

use arrow::array::{
    Array, BooleanArray, RecordBatch, RecordBatchOptions, TimestampMicrosecondArray, UInt32Array,
    UInt64Array,
};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::SchemaRef;
use futures::StreamExt;
use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::key_order::{needs_tail, KeyColumn};
use crate::scan::gather::Picks;
use crate::scan::plan::ScanMode;
use crate::scan::read::Source;

/// The key being resolved, when it runs past a batch end: prefix and string bytes.
#[derive(Default)]
struct OwnedKey(u128, String);

struct Cursor {
    stream: Source,
    batch: RecordBatch,
    row: usize,
    /// Shared with the arena slot of this batch, if it has one ([`Merger::arena_keys`]).
    keys: Arc<KeyColumn>,
    et: ScalarBuffer<i64>,
    commit: ScalarBuffer<u64>,
    seq: ScalarBuffer<u32>,
    deleted: BooleanArray,
    slot: Option<usize>,
    /// [`Cursor::order_prefix`] of the current row: most cursor comparisons end here.
    cur: u128,
    /// The source holds one row per key (a base, SPEC §8).
    unique: bool,
}

impl Cursor {
    /// Reads the next non-empty batch; `None` when the source is exhausted.
    async fn open(mut stream: Source, unique: bool, table: &str) -> Result<Option<Cursor>> {
        loop {
            match stream.next().await {
                None => return Ok(None),
                Some(batch) => {
                    let batch = batch?;
                    // The as-of filter can empty a batch; a cursor must point at a row.
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    return Cursor::from_batch(stream, batch, unique, table).map(Some);
                }
            }
        }
    }

    fn from_batch(stream: Source, batch: RecordBatch, unique: bool, table: &str) -> Result<Cursor> {
        let bad = || Error::Internal {
            table: table.to_string(),
            reason: "merge schema mismatch".into(),
        };
        let keys = Arc::new(KeyColumn::new(batch.column(0).as_ref()).ok_or_else(bad)?);
        let get = |i: usize| batch.column(i).as_any();
        Ok(Cursor {
            keys,
            et: get(1)
                .downcast_ref::<TimestampMicrosecondArray>()
                .ok_or_else(bad)?
                .values()
                .clone(),
            commit: get(2)
                .downcast_ref::<UInt64Array>()
                .ok_or_else(bad)?
                .values()
                .clone(),
            seq: get(3)
                .downcast_ref::<UInt32Array>()
                .ok_or_else(bad)?
                .values()
                .clone(),
            deleted: get(4)
                .downcast_ref::<BooleanArray>()
                .ok_or_else(bad)?
                .clone(),
            stream,
            batch,
            row: 0,
            slot: None,
            cur: 0,
            unique,
        }
        .at_first_row())
    }

    fn at_first_row(mut self) -> Cursor {
        self.set_row(0);
        self
    }

    /// Moves to row `r` of the current batch (or past its end).
    #[inline]
    fn set_row(&mut self, r: usize) {
        self.row = r;
        if r < self.batch.num_rows() {
            self.cur = self.keys.prefix[r];
        }
    }

    #[inline]
    fn cmp_key(&self, other: &Cursor) -> Ordering {
        match self.cur.cmp(&other.cur) {
            Ordering::Equal => self.keys.tail_at(self.row, &other.keys, other.row),
            o => o,
        }
    }

    /// Compares the key of row `a` of the current batch with `other`'s current key.
    #[inline]
    fn cmp_key_at(&self, a: usize, other: &Cursor) -> Ordering {
        self.keys.cmp_at(a, &other.keys, other.row)
    }

    /// Whether rows `a` and `b` of the current batch have the same key.
    #[inline]
    fn same_key(&self, a: usize, b: usize) -> bool {
        self.keys.eq_at(a, &self.keys, b)
    }

    #[inline]
    fn rank_at(&self, row: usize) -> (i64, u64, u32) {
        (self.et[row], self.commit[row], self.seq[row])
    }

    fn key_is(&self, k: &OwnedKey) -> bool {
        self.keys.is_at(self.row, k.0, &k.1)
    }

    /// Copies the key of row `r` into `into`.
    fn owned_key(&self, r: usize, into: &mut OwnedKey) {
        into.0 = self.keys.prefix[r];
        into.1.clear();
        into.1.push_str(self.keys.str_at(r));
    }
}

/// Best row of the current key.
struct Pick {
    rank: (i64, u64, u32),
    slot: usize,
    row: usize,
    deleted: bool,
}

/// A cursor's row in [`Merger::merge_window`]'s tree, with what orders it most often
/// held inline: the key's prefix and the event time. Commit and seq, which only
/// order rows of one key and one event time, are read from the cursor when needed:
/// two fewer arrays per cursor to stream through keep more of the rest in cache.
#[derive(Clone, Copy)]
struct Head {
    prefix: u128,
    time: i64,
    /// 32 bits each: a head fits 32 bytes, and the merge copies heads at every match.
    cursor: u32,
    row: u32,
}

impl Head {
    /// The row of a done head: it comes after every other head.
    const DONE: u32 = u32::MAX;

    #[inline]
    fn at(c: &Cursor, cursor: usize, row: usize) -> Head {
        Head {
            prefix: c.keys.prefix[row],
            time: c.et[row],
            cursor: cursor as u32,
            row: row as u32,
        }
    }

    /// The head of a cursor with no row left to merge.
    fn done(cursor: usize) -> Head {
        Head {
            prefix: u128::MAX,
            time: i64::MAX,
            cursor: cursor as u32,
            row: Head::DONE,
        }
    }

    /// Order by key, then rank (§5), then cursor (never equal: a row is in one file);
    /// done heads last.
    #[inline(always)]
    fn less(&self, other: &Head, cursors: &[Cursor]) -> bool {
        if self.prefix != other.prefix {
            return self.prefix < other.prefix;
        }
        if self.row == Head::DONE || other.row == Head::DONE {
            return other.row == Head::DONE && self.row != Head::DONE;
        }
        let (a, b) = (
            &cursors[self.cursor as usize],
            &cursors[other.cursor as usize],
        );
        let (ra, rb) = (self.row as usize, other.row as usize);
        // Equal prefixes are equal keys unless the keys are long.
        let tail = match needs_tail(self.prefix) {
            true => a.keys.tail_at(ra, &b.keys, rb),
            false => Ordering::Equal,
        };
        let ties = |c: &Cursor, r: usize| (c.commit[r], c.seq[r]);
        tail.then_with(|| self.time.cmp(&other.time))
            .then_with(|| ties(a, ra).cmp(&ties(b, rb)))
            .then_with(|| self.cursor.cmp(&other.cursor))
            == Ordering::Less
    }
}

/// A tournament tree of losers (Knuth, TAOCP 5.4.1) over the heads of `k` cursors:
/// a pick replays one leaf-to-root path, about log2 k comparisons, and moves indices
/// only (a binary heap's sift-down compares twice per level and moves whole heads).
/// Done heads ([`Head::DONE`]) lose every match.
struct LoserTree {
    heads: Vec<Head>,
    /// `nodes[0]`: the winner; `nodes[n]`, `1 <= n < k`: the loser of node `n`'s match.
    /// Leaf `i` sits at position `k + i`; node `n`'s children are `2n` and `2n + 1`.
    nodes: Vec<usize>,
}

impl LoserTree {
    fn new(heads: Vec<Head>, cursors: &[Cursor]) -> LoserTree {
        let k = heads.len();
        let mut nodes = vec![0; k.max(1)];
        // Winners of every position, played bottom up: leaf `i` (position `k + i`)
        // stands for itself.
        let mut winners = vec![0; 2 * k];
        for (i, w) in winners[k..].iter_mut().enumerate() {
            *w = i;
        }
        for n in (1..k).rev() {
            let (a, b) = (winners[2 * n], winners[2 * n + 1]);
            let (win, lose) = if heads[a].less(&heads[b], cursors) {
                (a, b)
            } else {
                (b, a)
            };
            winners[n] = win;
            nodes[n] = lose;
        }
        if k > 1 {
            nodes[0] = winners[1];
        }
        LoserTree { heads, nodes }
    }

    /// The leaf whose head comes first, and that head (done when all are).
    #[inline]
    fn top(&self) -> &Head {
        &self.heads[self.nodes[0]]
    }

    /// Sets the winner's head to `next` and replays its path to the root.
    #[inline]
    fn replace_top(&mut self, next: Head, cursors: &[Cursor]) {
        let mut winner = self.nodes[0];
        self.heads[winner] = next;
        // The winner's head is kept in registers, not read back from `heads`: the
        // first match's load of the prefix just stored there stalled on store
        // forwarding (28 % of the merge's samples in a profile of a history).
        let mut head = next;
        let mut n = (self.heads.len() + winner) / 2;
        while n >= 1 {
            let other = self.nodes[n];
            let other_head = self.heads[other];
            if other_head.less(&head, cursors) {
                self.nodes[n] = winner;
                winner = other;
                head = other_head;
            }
            n /= 2;
        }
        self.nodes[0] = winner;
    }
}

/// Rows picked but not gathered ([`Merger::next_picks`]): the batches they are in, the
/// key prefixes of each batch, and the picks.
pub(crate) type Picked = (Vec<RecordBatch>, Vec<Arc<KeyColumn>>, Picks);

/// The merge state; [`Merger::next_batch`] yields resolved, projected batches.
pub(crate) struct Merger {
    table: String,
    cursors: Vec<Cursor>,
    /// Sources not yet opened, each with whether it holds one row per key.
    pending: Vec<(Source, bool)>,
    output: Vec<usize>,
    output_schema: SchemaRef,
    batch_size: usize,
    remaining: Option<usize>,
    mode: ScanMode,
    arena: Vec<RecordBatch>,
    /// `AllRows`: the key prefixes of each arena batch (history compares consecutive
    /// picks' keys by them instead of by their bytes); empty in the other modes.
    arena_keys: Vec<Arc<KeyColumn>>,
    picks: Picks,
    /// The key being resolved, when it runs past a batch end.
    key: OwnedKey,
    /// Scratch: cursors at the smallest key.
    equal: Vec<usize>,
    /// Scratch: every row of the key being resolved (`AllRows`): rank, slot, row.
    all_rows: Vec<((i64, u64, u32), usize, usize)>,
    /// The one source has one row per key (a base read alone): no merge needed.
    base_alone: bool,
    /// Pass-through: the rest of a source batch longer than the output batch size.
    carry: Option<RecordBatch>,
}

impl Merger {
    /// `sources`: each with whether it holds one row per key (a base, SPEC §8);
    /// `output`: merge-schema column indices to return, in order.
    pub(crate) fn new(
        table: String,
        sources: Vec<(Source, bool)>,
        output: Vec<usize>,
        output_schema: SchemaRef,
        batch_size: usize,
        limit: Option<usize>,
        mode: ScanMode,
    ) -> Merger {
        // A base read alone (SPEC §5); `AllRows` still merges (it keeps every row anyway).
        let base_alone = mode != ScanMode::AllRows && matches!(&sources[..], [(_, true)]);
        Merger {
            table,
            cursors: Vec::new(),
            pending: sources,
            output,
            output_schema,
            batch_size: batch_size.max(1),
            remaining: limit,
            mode,
            arena: Vec::new(),
            arena_keys: Vec::new(),
            picks: Picks::default(),
            key: OwnedKey::default(),
            equal: Vec::new(),
            all_rows: Vec::new(),
            base_alone,
            carry: None,
        }
    }

    /// Resolution of a single source with one row per key: its batches, without
    /// tombstones (unless the mode keeps them), cut to the batch size and limit.
    async fn pass_through(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if self.remaining == Some(0) {
                return Ok(None);
            }
            let mut batch = match self.carry.take() {
                Some(b) => b,
                None => match self.pending.first_mut() {
                    None => return Ok(None),
                    Some((source, _)) => match source.next().await {
                        None => return Ok(None),
                        Some(b) => self.output_rows(b?)?,
                    },
                },
            };
            let n = batch
                .num_rows()
                .min(self.batch_size)
                .min(self.remaining.unwrap_or(usize::MAX));
            if n < batch.num_rows() {
                self.carry = Some(batch.slice(n, batch.num_rows() - n));
                batch = batch.slice(0, n);
            }
            if let Some(r) = self.remaining.as_mut() {
                *r -= n;
            }
            if n > 0 {
                return Ok(Some(batch));
            }
        }
    }

    /// A source batch (merge schema) as output rows: its output columns, less its
    /// tombstones when the mode drops them (the reserved columns are not copied for
    /// rows the output does not keep: a base holds tombstones in most batches).
    fn output_rows(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let arrow = |e| Error::Arrow {
            table: self.table.clone(),
            source: e,
        };
        let keep = match batch.column(4).as_any().downcast_ref::<BooleanArray>() {
            Some(deleted) if self.mode == ScanMode::Resolve && deleted.true_count() > 0 => {
                Some(arrow::compute::not(deleted).map_err(arrow)?)
            }
            _ => None,
        };
        // Nulls of tombstones' values are allowed until the tombstones are gone.
        let projected = batch.project(&self.output).map_err(arrow)?;
        let kept = match keep {
            Some(keep) => arrow::compute::filter_record_batch(&projected, &keep).map_err(arrow)?,
            None => projected,
        };
        RecordBatch::try_new_with_options(
            self.output_schema.clone(),
            kept.columns().to_vec(),
            &RecordBatchOptions::new().with_row_count(Some(kept.num_rows())),
        )
        .map_err(arrow)
    }

    async fn advance(&mut self, i: usize) -> Result<()> {
        let next = self.cursors[i].row + 1;
        self.cursors[i].set_row(next);
        if self.cursors[i].row < self.cursors[i].batch.num_rows() {
            return Ok(());
        }
        // Batch exhausted: fetch the next one (the old batch stays alive in the arena if picked).
        loop {
            let next = self.cursors[i].stream.next().await;
            match next {
                None => {
                    self.cursors.swap_remove(i);
                    return Ok(());
                }
                Some(b) => {
                    let b = b?;
                    if b.num_rows() == 0 {
                        continue;
                    }
                    let stream = std::mem::replace(
                        &mut self.cursors[i].stream,
                        futures::stream::empty().boxed(),
                    );
                    let unique = self.cursors[i].unique;
                    self.cursors[i] = Cursor::from_batch(stream, b, unique, &self.table)?;
                    return Ok(());
                }
            }
        }
    }

    /// The arena slot of cursor `i`'s current batch (projected to the output columns).
    fn slot_of(&mut self, i: usize) -> Result<usize> {
        if let Some(s) = self.cursors[i].slot {
            return Ok(s);
        }
        let projected = self.cursors[i]
            .batch
            .project(&self.output)
            .map_err(|e| Error::Arrow {
                table: self.table.clone(),
                source: e,
            })?;
        self.arena.push(projected);
        if self.mode == ScanMode::AllRows {
            self.arena_keys.push(self.cursors[i].keys.clone());
        }
        let slot = self.arena.len() - 1;
        self.cursors[i].slot = Some(slot);
        Ok(slot)
    }

    /// The next output batch, or `None` at the end. A batch ends between keys: a key's
    /// rows (all of them, in `AllRows`) are never split across two batches.
    pub(crate) async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.base_alone {
            return self.pass_through().await;
        }
        self.fill().await?;
        self.flush()
    }

    /// `AllRows`: the rows of the next output batch, not yet gathered: the batches they
    /// are in (merge schema, every column), those batches' key prefixes, and the picks,
    /// in output order; `None` at the end. They end between keys, as
    /// [`Merger::next_batch`]'s do (history relies on it). For readers that keep some
    /// of the rows (history): they gather only those, and only the columns they return.
    pub(crate) async fn next_picks(&mut self) -> Result<Option<Picked>> {
        if self.mode != ScanMode::AllRows {
            return Err(Error::Internal {
                table: self.table.clone(),
                reason: "picks are read from merges of every row and column only".into(),
            });
        }
        self.fill().await?;
        Ok((!self.picks.is_empty()).then(|| self.take_picks()))
    }

    /// Merges until the next output batch is full or the sources are done.
    async fn fill(&mut self) -> Result<()> {
        for (s, unique) in std::mem::take(&mut self.pending) {
            if let Some(c) = Cursor::open(s, unique, &self.table).await? {
                self.cursors.push(c);
            }
        }
        // Taken for the whole fill, not per key: storing it back for every key held
        // 7 % of this function's perf samples.
        let mut equal = std::mem::take(&mut self.equal);
        loop {
            let done = self.remaining == Some(0) || self.cursors.is_empty();
            if done || self.picks.len() >= self.batch_size {
                self.equal = equal;
                return Ok(());
            }
            if self.mode == ScanMode::AllRows
                && self.remaining.is_none()
                && self.cursors.len() > 1
                && self.merge_window()?
            {
                continue;
            }
            // The cursor with the smallest key, the one with the next smallest, and
            // every cursor whose current key equals the smallest (ascending).
            let mut min = 0;
            let mut second: Option<usize> = None;
            equal.clear();
            equal.push(0);
            for i in 1..self.cursors.len() {
                match self.cursors[i].cmp_key(&self.cursors[min]) {
                    Ordering::Less => {
                        second = Some(min);
                        min = i;
                        equal.clear();
                        equal.push(i);
                    }
                    Ordering::Equal => {
                        second = Some(i);
                        equal.push(i);
                    }
                    Ordering::Greater => {
                        if second.is_none_or(|j| {
                            self.cursors[i].cmp_key(&self.cursors[j]) == Ordering::Less
                        }) {
                            second = Some(i);
                        }
                    }
                }
            }
            let resolved = if equal.len() == 1 {
                self.resolve_run(min, second)?
            } else {
                self.resolve_single_rows(&equal)?
            };
            if !resolved {
                self.resolve_key(&equal).await?;
            }
        }
    }

    /// `AllRows` fast path: merges, in (key, rank) order, the rows of every cursor's
    /// current batch whose keys lie below the horizon (the smallest key that ends a
    /// batch: its rows may go on in the next batch, so the general path takes it).
    /// A tournament tree of cursor heads ([`LoserTree`]) replaces the selection per
    /// key, which history's inputs (many deltas, each key in several, one or two rows
    /// each) made the merge's main cost. Stops between keys once the output batch is full. Returns whether it
    /// picked any row.
    // Kept out of `next_batch`: inlined there it slowed the resolving scans by 13 %
    // (1M keys, as of mid-history: 124-130 -> 141-147 ms), which never call it.
    #[inline(never)]
    fn merge_window(&mut self) -> Result<bool> {
        let last = |c: &Cursor| c.batch.num_rows() - 1;
        let mut h = 0;
        for i in 1..self.cursors.len() {
            let (a, b) = (&self.cursors[i], &self.cursors[h]);
            if a.keys.cmp_at(last(a), &b.keys, last(b)) == Ordering::Less {
                h = i;
            }
        }
        let mut heads: Vec<Head> = Vec::with_capacity(self.cursors.len());
        let mut ends = Vec::with_capacity(self.cursors.len());
        for i in 0..self.cursors.len() {
            let (c, hc) = (&self.cursors[i], &self.cursors[h]);
            // The first row at or past the horizon key (rows are sorted by key).
            let (mut lo, mut hi) = (c.row, c.batch.num_rows());
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if c.keys.cmp_at(mid, &hc.keys, last(hc)) == Ordering::Less {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            ends.push(lo);
            heads.push(match c.row < lo {
                true => Head::at(c, i, c.row),
                false => Head::done(i),
            });
        }
        if heads.iter().all(|h| h.row == Head::DONE) {
            return Ok(false);
        }
        let mut slots = Vec::with_capacity(self.cursors.len());
        for (i, &end) in ends.iter().enumerate() {
            slots.push(if end > self.cursors[i].row {
                self.slot_of(i)?
            } else {
                usize::MAX
            });
        }
        let cursors = &self.cursors;
        let mut tree = LoserTree::new(heads, cursors);
        let mut previous: Option<(usize, usize)> = None;
        loop {
            let (i, row) = (tree.top().cursor as usize, tree.top().row);
            if row == Head::DONE {
                break;
            }
            let row = row as usize;
            if self.picks.len() >= self.batch_size {
                let (pi, pr) = previous.unwrap_or((i, row));
                if !cursors[i].keys.eq_at(row, &cursors[pi].keys, pr) {
                    break;
                }
            }
            self.picks.push(slots[i], row);
            previous = Some((i, row));
            let next = match row + 1 < ends[i] {
                true => Head::at(&cursors[i], i, row + 1),
                false => Head::done(i),
            };
            tree.replace_top(next, cursors);
        }
        // Every cursor stands at its next unmerged row.
        for (end, head) in ends.iter_mut().zip(&tree.heads) {
            if head.row != Head::DONE {
                *end = head.row as usize;
            }
        }
        for (c, end) in self.cursors.iter_mut().zip(ends) {
            if end > c.row {
                c.set_row(end);
            }
        }
        Ok(true)
    }

    /// Fast path for a key that each of the cursors `equal` holds in exactly one row,
    /// not the last of its batch (a key in a base and in one delta, say): the row of
    /// greatest rank wins, and every cursor steps past it. Returns whether it applied.
    fn resolve_single_rows(&mut self, equal: &[usize]) -> Result<bool> {
        if self.mode == ScanMode::AllRows {
            return Ok(false);
        }
        let single = |c: &Cursor| c.row + 1 < c.batch.num_rows() && !c.same_key(c.row, c.row + 1);
        if !equal.iter().all(|&i| single(&self.cursors[i])) {
            return Ok(false);
        }
        let rank = |i: usize| self.cursors[i].rank_at(self.cursors[i].row);
        let (mut best, mut best_rank) = (equal[0], rank(equal[0]));
        for &i in &equal[1..] {
            let r = rank(i);
            if r > best_rank {
                (best, best_rank) = (i, r);
            }
        }
        let row = self.cursors[best].row;
        if !self.cursors[best].deleted.value(row) || self.mode == ScanMode::Base {
            let slot = self.slot_of(best)?;
            self.picks.push(slot, row);
            if let Some(r) = self.remaining.as_mut() {
                *r -= 1;
            }
        }
        for &i in equal {
            let next = self.cursors[i].row + 1;
            self.cursors[i].set_row(next);
        }
        Ok(true)
    }

    /// General path: resolves one key, held at their current rows by the cursors
    /// `equal` (ascending indices), reading on across batch ends.
    async fn resolve_key(&mut self, equal: &[usize]) -> Result<()> {
        let mut best: Option<Pick> = None;
        let mut all_rows = std::mem::take(&mut self.all_rows);
        // Descending: removing an exhausted cursor swaps in one of a higher index,
        // which is already done.
        for &i in equal.iter().rev() {
            let mut key_saved = false;
            loop {
                let c = &self.cursors[i];
                let (start, rows) = (c.row, c.batch.num_rows());
                let mut end = start;
                while end + 1 < rows && c.same_key(end, end + 1) {
                    end += 1;
                }
                let slot = self.slot_of(i)?;
                let c = &self.cursors[i];
                for row in start..=end {
                    let rank = c.rank_at(row);
                    if self.mode == ScanMode::AllRows {
                        all_rows.push((rank, slot, row));
                    } else if best.as_ref().is_none_or(|b| rank > b.rank) {
                        best = Some(Pick {
                            rank,
                            slot,
                            row,
                            deleted: c.deleted.value(row),
                        });
                    }
                }
                // The key may go on in the cursor's next batch.
                let at_batch_end = end + 1 == rows;
                if at_batch_end && !key_saved {
                    let mut key = std::mem::take(&mut self.key);
                    c.owned_key(end, &mut key);
                    self.key = key;
                    key_saved = true;
                }
                self.cursors[i].set_row(end);
                let before = self.cursors.len();
                self.advance(i).await?;
                if self.cursors.len() < before
                    || !at_batch_end
                    || !self.cursors[i].key_is(&self.key)
                {
                    break;
                }
            }
        }
        // Merged files keep SPEC §4's order: a key's rows by rank.
        all_rows.sort_by_key(|(rank, _, _)| *rank);
        for (_, slot, row) in all_rows.drain(..) {
            self.picks.push(slot, row);
        }
        self.all_rows = all_rows;
        if let Some(b) = best {
            if !b.deleted || self.mode == ScanMode::Base {
                self.picks.push(b.slot, b.row);
                if let Some(r) = self.remaining.as_mut() {
                    *r -= 1;
                }
            }
        }
        Ok(())
    }

    /// Fast path: resolves, inside cursor `min`'s current batch, the keys that no other
    /// cursor can hold (smaller than cursor `second`'s current key) without stepping
    /// key by key through every cursor. The batch's last key is left to the general
    /// path, since the next batch may continue it; a cursor with one row per key hands
    /// its run to [`Merger::take_run`]. Returns whether it resolved any key.
    fn resolve_run(&mut self, min: usize, second: Option<usize>) -> Result<bool> {
        let c = &self.cursors[min];
        let last = c.batch.num_rows() - 1;
        // Rows [c.row, end) have keys below every other cursor's (keys are sorted).
        let end = match second {
            None => last,
            Some(j) => {
                let other = &self.cursors[j];
                let below = |r: usize| c.cmp_key_at(r, other) == Ordering::Less;
                // Gallop from the current row (below, as `min` is alone at its key):
                // between the keys of another file runs are often a few rows long.
                let (mut lo, mut hi, mut step) = (c.row, last, 1);
                while lo + step < hi {
                    if below(lo + step) {
                        lo += step;
                        step *= 2;
                    } else {
                        hi = lo + step;
                        break;
                    }
                }
                // The first row of (lo, hi) that is not below, else `hi`.
                let mut lo = lo + 1;
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if below(mid) {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo.min(last)
            }
        };
        if c.unique {
            return self.take_run(min, end);
        }
        if end <= c.row + 1 {
            return Ok(false);
        }
        let slot = self.slot_of(min)?;
        let c = &self.cursors[min];
        let mut run_start = c.row;
        let mut best = c.row;
        let mut resolved = false;
        for row in c.row..end {
            if c.rank_at(row) > c.rank_at(best) {
                best = row;
            }
            // `row + 1 <= end <= last`: the next row exists in this batch.
            if c.same_key(row, row + 1) {
                continue;
            }
            // Rows [run_start, row] are the whole key.
            resolved = true;
            match self.mode {
                // A data file's rows of one key are already in rank order (SPEC §4).
                ScanMode::AllRows => self.picks.push_run(slot, run_start, row + 1 - run_start),
                ScanMode::Resolve if c.deleted.value(best) => {}
                ScanMode::Resolve | ScanMode::Base => {
                    self.picks.push(slot, best);
                    if let Some(r) = self.remaining.as_mut() {
                        *r -= 1;
                    }
                }
            }
            run_start = row + 1;
            best = run_start;
            if self.picks.len() >= self.batch_size || self.remaining == Some(0) {
                break;
            }
        }
        self.cursors[min].set_row(run_start);
        Ok(resolved)
    }

    /// [`Merger::resolve_run`] for a source with one row per key: every row before
    /// `end` is its key's winner, so the run is taken whole, less its tombstones
    /// when they are dropped.
    fn take_run(&mut self, min: usize, end: usize) -> Result<bool> {
        let start = self.cursors[min].row;
        let room = self.batch_size.saturating_sub(self.picks.len());
        let n = (end - start)
            .min(room)
            .min(self.remaining.unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(false);
        }
        let slot = self.slot_of(min)?;
        let c = &self.cursors[min];
        let before = self.picks.len();
        // Read in the bit buffer itself: slicing the array per run cost more than the
        // count, and most runs (between two keys of a delta) are a few rows long.
        let bits = c.deleted.values();
        let tombstones = if n <= 64 {
            (start..start + n).any(|r| bits.value(r))
        } else {
            bits.inner().count_set_bits_offset(bits.offset() + start, n) > 0
        };
        if self.mode == ScanMode::Resolve && tombstones {
            for r in (start..start + n).filter(|&r| !c.deleted.value(r)) {
                self.picks.push(slot, r);
            }
        } else {
            self.picks.push_run(slot, start, n);
        }
        if let Some(r) = self.remaining.as_mut() {
            *r -= self.picks.len() - before;
        }
        self.cursors[min].set_row(start + n);
        Ok(true)
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        if self.picks.is_empty() {
            return Ok(None);
        }
        let (arena, _, picks) = self.take_picks();
        let rows = picks.len();
        let batch = if self.output.is_empty() {
            RecordBatch::try_new_with_options(
                self.output_schema.clone(),
                vec![],
                &RecordBatchOptions::new().with_row_count(Some(rows)),
            )
        } else {
            picks.gather(&arena).and_then(|b| {
                RecordBatch::try_new(self.output_schema.clone(), b.columns().to_vec())
            })
        }
        .map_err(|e| Error::Arrow {
            table: self.table.clone(),
            source: e,
        })?;
        Ok(Some(batch))
    }

    /// The picks so far and the batches they refer to; the merge starts a new batch.
    fn take_picks(&mut self) -> Picked {
        for c in &mut self.cursors {
            c.slot = None;
        }
        // The next batch most likely needs as many runs as this one.
        let next = Picks::with_capacity(self.picks.runs().len());
        (
            std::mem::take(&mut self.arena),
            std::mem::take(&mut self.arena_keys),
            std::mem::replace(&mut self.picks, next),
        )
    }
}

#[cfg(test)]
mod tests {
    //! The merge against a naive resolution, on sources cut into tiny batches (keys run
    //! across batch ends) with string keys that share long prefixes (the tail compare).
    use super::*;
    use arrow::array::StringArray;
    use arrow::datatypes::{DataType, Field, Schema};
    use futures::StreamExt;
    use proptest::prelude::*;
    use std::sync::Arc;

    /// One row: (key, event time, commit, seq, deleted).
    type Row = (String, i64, u64, u32, bool);

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("t", crate::schema::timestamp_type(), false),
            Field::new("c", DataType::UInt64, false),
            Field::new("s", DataType::UInt32, false),
            Field::new("d", DataType::Boolean, false),
        ]))
    }

    fn batch(rows: &[Row]) -> RecordBatch {
        let cols: Vec<arrow::array::ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.0))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                    .with_timezone("UTC"),
            ),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            )),
        ];
        RecordBatch::try_new(schema(), cols).unwrap()
    }

    /// Keys with a shared 20-byte stem, short ones (one a NUL-padded copy of the
    /// other), and ones ending inside the 16-byte prefix.
    fn key(i: u8) -> String {
        match i % 5 {
            0 => format!("customer-account-0000{i:03}"),
            1 => format!("customer-account-0000{i:03}x"),
            2 => format!("c{}", i / 2),
            3 => format!("c{}\0", i / 2),
            _ => format!("customer-acc{i}"),
        }
    }

    fn arb_source() -> impl Strategy<Value = (Vec<Row>, usize)> {
        (
            prop::collection::vec((0u8..24, 0i64..5, 1u64..4, 0u32..2), 0..120),
            prop_oneof![1usize..4, 16usize..64],
        )
            .prop_map(|(rows, chunk)| {
                // Equal ranks are copies of one event (SPEC §5): the flag follows the rank.
                let mut rows: Vec<Row> = rows
                    .into_iter()
                    .map(|(k, t, c, s)| {
                        (
                            key(k),
                            t,
                            c,
                            s,
                            (k as i64 + t + c as i64 + s as i64) % 4 == 0,
                        )
                    })
                    .collect();
                rows.sort_by(|a, b| (&a.0, a.1, a.2, a.3).cmp(&(&b.0, b.1, b.2, b.3)));
                // One row per rank in a file (SPEC §4: equal ranks keep the last).
                rows.dedup_by(|b, a| (&a.0, a.1, a.2, a.3) == (&b.0, b.1, b.2, b.3));
                (rows, chunk)
            })
    }

    fn run(
        sources: &[(Vec<Row>, usize)],
        mode: ScanMode,
        batch_size: usize,
        unique: &[bool],
    ) -> Vec<(String, i64, u64, u32)> {
        run_with(sources, mode, batch_size, None, unique)
    }

    /// A base of sorted rows: the last (greatest-rank) row of every key.
    fn last_per_key(rows: &[Row]) -> Vec<Row> {
        let last = |i: usize| rows.get(i + 1).is_none_or(|n| n.0 != rows[i].0);
        (0..rows.len())
            .filter(|&i| last(i))
            .map(|i| rows[i].clone())
            .collect()
    }

    /// `unique[i]`: source `i` is declared to hold one row per key (a base).
    fn run_with(
        sources: &[(Vec<Row>, usize)],
        mode: ScanMode,
        batch_size: usize,
        limit: Option<usize>,
        unique: &[bool],
    ) -> Vec<(String, i64, u64, u32)> {
        let streams: Vec<(Source, bool)> = sources
            .iter()
            .enumerate()
            .map(|(i, (rows, chunk))| {
                let batches: Vec<Result<RecordBatch>> =
                    rows.chunks(*chunk).map(|c| Ok(batch(c))).collect();
                let stream: Source = futures::stream::iter(batches).boxed();
                (stream, unique.get(i).copied().unwrap_or(false))
            })
            .collect();
        let mut m = Merger::new(
            "t".into(),
            streams,
            vec![0, 1, 2, 3],
            schema().project(&[0, 1, 2, 3]).unwrap().into(),
            batch_size,
            limit,
            mode,
        );
        let mut out: Vec<(String, i64, u64, u32)> = Vec::new();
        futures::executor::block_on(async {
            while let Some(b) = m.next_batch().await.unwrap() {
                let k = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
                // A key's rows are never split across two batches (history relies on it).
                if let (Some(prev), true) = (out.last(), b.num_rows() > 0) {
                    assert_ne!(prev.0, k.value(0), "a key split across two batches");
                }
                let t = b
                    .column(1)
                    .as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
                    .unwrap();
                let c = b.column(2).as_any().downcast_ref::<UInt64Array>().unwrap();
                let s = b.column(3).as_any().downcast_ref::<UInt32Array>().unwrap();
                for i in 0..b.num_rows() {
                    out.push((k.value(i).to_string(), t.value(i), c.value(i), s.value(i)));
                }
            }
        });
        out
    }

    proptest! {
        #[test]
        fn base_alone_passes_through(
            (rows, chunk) in arb_source(),
            batch_size in prop_oneof![Just(5usize), Just(1000)],
            limit in prop::option::of(0usize..30),
        ) {
            let src = [(last_per_key(&rows), chunk)];
            for mode in [ScanMode::Resolve, ScanMode::Base] {
                let merged = run_with(&src, mode, batch_size, limit, &[false]);
                prop_assert_eq!(run_with(&src, mode, batch_size, limit, &[true]), merged);
            }
        }

        #[test]
        fn merge_equals_naive_resolution(
            mut sources in prop::collection::vec(arb_source(), 1..8),
            batch_size in prop_oneof![Just(5usize), Just(1000)],
            with_base in any::<bool>(),
            limit in prop::option::of(0usize..30),
        ) {
            // A base (one row per key, declared so) among the sources: the last row
            // of each key of the first source.
            if with_base {
                sources[0].0 = last_per_key(&sources[0].0);
            }
            let unique = [with_base];
            let mut all: Vec<Row> = sources.iter().flat_map(|(r, _)| r.iter().cloned()).collect();
            all.sort_by(|a, b| (&a.0, a.1, a.2, a.3).cmp(&(&b.0, b.1, b.2, b.3)));
            let mut want = Vec::new();
            let mut with_tombstones = Vec::new();
            for (i, r) in all.iter().enumerate() {
                if all.get(i + 1).is_none_or(|n| n.0 != r.0) {
                    with_tombstones.push((r.0.clone(), r.1, r.2, r.3));
                    if !r.4 {
                        want.push((r.0.clone(), r.1, r.2, r.3));
                    }
                }
            }
            prop_assert_eq!(run(&sources, ScanMode::Resolve, batch_size, &unique), want.clone());
            prop_assert_eq!(run(&sources, ScanMode::Base, batch_size, &unique), with_tombstones);
            let every: Vec<_> = all.iter().map(|r| (r.0.clone(), r.1, r.2, r.3)).collect();
            prop_assert_eq!(run(&sources, ScanMode::AllRows, batch_size, &unique), every);
            if let Some(n) = limit {
                let got = run_with(&sources, ScanMode::Resolve, batch_size, Some(n), &unique);
                prop_assert_eq!(&got[..], &want[..n.min(want.len())]);
            }
        }
    }
}
