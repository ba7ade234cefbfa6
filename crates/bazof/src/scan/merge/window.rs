//! `AllRows` (history's) fast path: the rows of every cursor's current batch below
//! the horizon, merged by a tournament tree of the cursors' heads.

use std::cmp::Ordering;

use super::cursor::Cursor;
use super::Merger;
use crate::error::Result;
use crate::key_order::needs_tail;

impl Merger {
    /// `AllRows` fast path: merges, in (key, rank) order, the rows of every cursor's
    /// current batch whose keys lie below the horizon (the smallest key that ends a
    /// batch: its rows may go on in the next batch, so the general path takes it).
    /// A tournament tree of cursor heads ([`LoserTree`]) replaces the selection per
    /// key, which history's inputs (many deltas, each key in several, one or two rows
    /// each) made the merge's main cost. Stops between keys once the output batch is
    /// full. Returns whether it picked any row.
    // Kept out of `next_batch`: inlined there it slowed the resolving scans by 13 %
    // (1M keys, as of mid-history: 124-130 -> 141-147 ms), which never call it.
    #[inline(never)]
    pub(super) fn merge_window(&mut self) -> Result<bool> {
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
}

/// A cursor's row in [`Merger::merge_window`]'s tree, with what orders it most often
/// held inline: the key's prefix and the event time. Commit and seq, which only
/// order rows of one key and one event time, are read from the cursor when needed:
/// two fewer arrays per cursor to stream through keep more of the rest in cache.
#[derive(Clone, Copy)]
pub(super) struct Head {
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
