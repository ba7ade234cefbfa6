//! SPEC §2 and §4: the key order, packed into integers so that most comparisons of
//! keys (merging, sorting runs) are one integer compare instead of a `memcmp`.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};

/// Bytes of a string key held in its [`prefix_of`].
const PREFIX: usize = 15;

/// Last byte of the prefix of a key longer than [`PREFIX`] bytes.
const LONG: u8 = 0xFF;

/// The first [`PREFIX`] bytes of `s`, zero-padded, then its length (or [`LONG`]), as
/// a big-endian integer: ordering these orders the strings, and equal values mean
/// equal strings unless both are long ([`needs_tail`]).
fn prefix_of(s: &[u8]) -> u128 {
    let mut buf = [0u8; PREFIX + 1];
    let n = s.len().min(PREFIX);
    buf[..n].copy_from_slice(&s[..n]);
    // A shorter string that is zero-padded equal is a prefix of the other: smaller.
    buf[PREFIX] = if s.len() <= PREFIX {
        s.len() as u8
    } else {
        LONG
    };
    u128::from_be_bytes(buf)
}

/// [`prefix_of`] the bytes `data[start..end]`, read as one 16-byte load where the
/// buffer has 16 bytes from `start` (keys are read by the million: a scan computes one
/// prefix per key row it decodes).
#[inline]
fn prefix_in(data: &[u8], start: usize, end: usize) -> u128 {
    let Some(word) = data
        .get(start..start + PREFIX + 1)
        .and_then(|w| <[u8; PREFIX + 1]>::try_from(w).ok())
    else {
        return prefix_of(data.get(start..end).unwrap_or_default());
    };
    let len = end.saturating_sub(start);
    let n = len.min(PREFIX);
    // Keep the first `n` bytes (the high ones, big-endian); the last byte is the length.
    let keep = if n == 0 {
        0
    } else {
        !0u128 << (8 * (PREFIX + 1 - n))
    };
    let last = if len <= PREFIX {
        len as u128
    } else {
        u128::from(LONG)
    };
    (u128::from_be_bytes(word) & keep) | last
}

/// An integer key as a prefix: flipping the sign bit maps i64 order onto u64 order,
/// and the low byte stays 0, so equal values are equal keys.
fn int_prefix(k: i64) -> u128 {
    (((k as u64) ^ (1 << 63)) as u128) << 64
}

/// Whether two equal prefixes still need [`cmp_tail`] (both keys are long).
#[inline]
pub(crate) fn needs_tail(prefix: u128) -> bool {
    prefix as u8 == LONG
}

/// Order of two keys whose prefixes are both `prefix`: equal unless they are long.
#[inline]
pub(crate) fn cmp_long(prefix: u128, a: &[u8], b: &[u8]) -> Ordering {
    if needs_tail(prefix) {
        cmp_tail(a, b)
    } else {
        Ordering::Equal
    }
}

/// Byte-wise order of two long strings whose prefixes are equal.
#[cold]
fn cmp_tail(a: &[u8], b: &[u8]) -> Ordering {
    a[PREFIX.min(a.len())..].cmp(&b[PREFIX.min(b.len())..])
}

/// A key column whose prefixes are computed row by row, for one pass over it (sorting
/// a run reads each key once; [`KeyColumn`] keeps them for repeated comparisons).
pub(crate) enum Prefixes<'a> {
    /// String keys.
    Str(&'a StringArray),
    /// Integer keys.
    Int(&'a Int64Array),
}

impl<'a> Prefixes<'a> {
    /// A Utf8 or Int64 key column; `None` for any other type.
    pub(crate) fn new(keys: &'a dyn Array) -> Option<Self> {
        if let Some(s) = keys.as_any().downcast_ref::<StringArray>() {
            Some(Prefixes::Str(s))
        } else {
            keys.as_any()
                .downcast_ref::<Int64Array>()
                .map(Prefixes::Int)
        }
    }

    /// The prefix of row `i` (a null key counts as the empty string).
    #[inline]
    pub(crate) fn at(&self, i: usize) -> u128 {
        match self {
            Prefixes::Str(s) if s.is_null(i) => prefix_of(b""),
            Prefixes::Str(s) => {
                let offsets = s.value_offsets();
                prefix_in(s.value_data(), offsets[i] as usize, offsets[i + 1] as usize)
            }
            Prefixes::Int(a) => int_prefix(a.value(i)),
        }
    }

    /// Every row's prefix.
    pub(crate) fn all(&self) -> Vec<u128> {
        match self {
            Prefixes::Str(s) if s.null_count() == 0 => {
                let data = s.value_data();
                (s.value_offsets().windows(2))
                    .map(|w| prefix_in(data, w[0] as usize, w[1] as usize))
                    .collect()
            }
            Prefixes::Str(s) => (0..s.len()).map(|i| self.at(i)).collect(),
            Prefixes::Int(a) => a.values().iter().map(|&k| int_prefix(k)).collect(),
        }
    }

    /// The bytes of the string key of row `i` (empty for integer keys).
    #[inline]
    pub(crate) fn bytes(&self, i: usize) -> &'a [u8] {
        match self {
            Prefixes::Str(s) => s.value(i).as_bytes(),
            Prefixes::Int(_) => &[],
        }
    }
}

/// A key column as packed prefixes: most comparisons are one integer compare; only
/// string keys longer than [`PREFIX`] bytes with equal prefixes compare their bytes.
pub(crate) struct KeyColumn {
    /// One prefix per row.
    pub(crate) prefix: Vec<u128>,
    /// String keys (for the tails); `None` for integer keys.
    strings: Option<StringArray>,
}

impl KeyColumn {
    /// The prefixes of a key column (Utf8 or Int64; `None` for any other type).
    pub(crate) fn new(keys: &dyn Array) -> Option<KeyColumn> {
        let keys = Prefixes::new(keys)?;
        Some(KeyColumn {
            prefix: keys.all(),
            strings: match keys {
                Prefixes::Str(s) => Some(s.clone()),
                Prefixes::Int(_) => None,
            },
        })
    }

    /// Whether row `a` and row `b` of `other` hold the same key.
    #[inline]
    pub(crate) fn eq_at(&self, a: usize, other: &KeyColumn, b: usize) -> bool {
        self.prefix[a] == other.prefix[b] && self.tail_at(a, other, b) == Ordering::Equal
    }

    /// Order of row `a` and row `b` of `other`.
    #[inline]
    pub(crate) fn cmp_at(&self, a: usize, other: &KeyColumn, b: usize) -> Ordering {
        self.prefix[a]
            .cmp(&other.prefix[b])
            .then_with(|| self.tail_at(a, other, b))
    }

    /// Order of the tails of rows `a` and `b` (of `other`) whose prefixes are equal.
    #[inline]
    pub(crate) fn tail_at(&self, a: usize, other: &KeyColumn, b: usize) -> Ordering {
        match (&self.strings, &other.strings) {
            (Some(x), Some(y)) if needs_tail(self.prefix[a]) => {
                cmp_tail(x.value(a).as_bytes(), y.value(b).as_bytes())
            }
            _ => Ordering::Equal,
        }
    }

    /// Whether row `r` holds `key`, whose prefix is `prefix`.
    #[inline]
    pub(crate) fn is_at(&self, r: usize, prefix: u128, key: &str) -> bool {
        self.prefix[r] == prefix
            && (!needs_tail(prefix) || self.strings.as_ref().is_some_and(|s| s.value(r) == key))
    }

    /// The string key of row `r` (empty for integer keys).
    pub(crate) fn str_at(&self, r: usize) -> &str {
        self.strings.as_ref().map_or("", |s| s.value(r))
    }
}

/// The key column whose rows have these prefixes, without reading the keys: a string
/// key of at most [`PREFIX`] bytes and an integer key are whole in their prefix. `None`
/// when some string key is longer (its prefix does not hold it).
pub(crate) fn keys_from_prefixes(
    prefixes: impl ExactSizeIterator<Item = u128>,
    string: bool,
) -> Option<ArrayRef> {
    if !string {
        let keys: Int64Array = prefixes
            .map(|p| (((p >> 64) as u64) ^ (1 << 63)) as i64)
            .collect();
        return Some(Arc::new(keys));
    }
    let mut offsets = Vec::with_capacity(prefixes.len() + 1);
    let mut bytes = Vec::with_capacity(prefixes.len() * 8);
    offsets.push(0i32);
    for p in prefixes {
        if needs_tail(p) {
            return None;
        }
        let word = p.to_be_bytes();
        bytes.extend_from_slice(&word[..usize::from(word[PREFIX])]);
        offsets.push(i32::try_from(bytes.len()).ok()?);
    }
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    // The bytes are the keys' own, so they are UTF-8; `try_new` checks it once.
    StringArray::try_new(offsets, Buffer::from_vec(bytes), None)
        .ok()
        .map(|a| Arc::new(a) as ArrayRef)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn prefix_order_is_byte_order(a in "[ab\\x00]{0,20}", b in "[ab\\x00]{0,20}") {
            let (x, y) = (a.as_bytes(), b.as_bytes());
            let got = match prefix_of(x).cmp(&prefix_of(y)) {
                Ordering::Equal if needs_tail(prefix_of(x)) => cmp_tail(x, y),
                o => o,
            };
            prop_assert_eq!(got, x.cmp(y));
        }

        #[test]
        fn prefix_in_a_buffer_is_prefix_of(data in prop::collection::vec(any::<u8>(), 0..40),
                                           a in 0usize..40, b in 0usize..40) {
            let (start, end) = (a.min(b).min(data.len()), a.max(b).min(data.len()));
            prop_assert_eq!(prefix_in(&data, start, end), prefix_of(&data[start..end]));
        }

        #[test]
        fn keys_come_back_from_their_prefixes(keys in prop::collection::vec("[a-z\\x00é]{0,18}", 0..20),
                                              ints in prop::collection::vec(any::<i64>(), 0..20)) {
            let strings = StringArray::from(keys.clone());
            let col = KeyColumn::new(&strings).unwrap();
            let back = keys_from_prefixes(col.prefix.iter().copied(), true);
            if col.prefix.iter().any(|&p| needs_tail(p)) {
                prop_assert!(back.is_none());
            } else {
                let back = back.unwrap();
                prop_assert_eq!(back.as_ref(), &strings as &dyn Array);
            }
            let ints = Int64Array::from(ints);
            let col = KeyColumn::new(&ints).unwrap();
            let back = keys_from_prefixes(col.prefix.iter().copied(), false);
            let back = back.unwrap();
            prop_assert_eq!(back.as_ref(), &ints as &dyn Array);
        }

        #[test]
        fn int_prefix_order_is_int_order(a in any::<i64>(), b in any::<i64>()) {
            prop_assert_eq!(int_prefix(a).cmp(&int_prefix(b)), a.cmp(&b));
            prop_assert!(!needs_tail(int_prefix(a)));
        }
    }
}
