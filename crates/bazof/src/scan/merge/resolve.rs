//! Resolution of one key, or of a run of keys only one cursor holds (SPEC §5: the row
//! of greatest rank wins; a winning tombstone drops the key).

use std::cmp::Ordering;

use super::cursor::Cursor;
use super::Merger;
use crate::error::Result;
use crate::scan::options::ScanMode;

/// Best row of the current key.
struct Pick {
    rank: (i64, u64, u32),
    slot: usize,
    row: usize,
    deleted: bool,
}

impl Merger {
    /// Fast path for a key that each of the cursors `equal` holds in exactly one row,
    /// not the last of its batch (a key in a base and in one delta, say): the row of
    /// greatest rank wins, and every cursor steps past it. Returns whether it applied.
    pub(super) fn resolve_single_rows(&mut self, equal: &[usize]) -> Result<bool> {
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
    pub(super) async fn resolve_key(&mut self, equal: &[usize]) -> Result<()> {
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
    pub(super) fn resolve_run(&mut self, min: usize, second: Option<usize>) -> Result<bool> {
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
}
