//! SPEC §2 and §4: the key order, packed into integers so that most comparisons of
//! keys (merging, sorting runs) are one integer compare instead of a `memcmp`.

use std::cmp::Ordering;

use arrow::array::{Array, Int64Array, StringArray};

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
fn needs_tail(prefix: u128) -> bool {
    prefix as u8 == LONG
}

/// Byte-wise order of two long strings whose prefixes are equal.
#[cold]
fn cmp_tail(a: &[u8], b: &[u8]) -> Ordering {
    a[PREFIX.min(a.len())..].cmp(&b[PREFIX.min(b.len())..])
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
        if let Some(s) = keys.as_any().downcast_ref::<StringArray>() {
            let prefix = if s.null_count() == 0 {
                let data = s.value_data();
                s.value_offsets()
                    .windows(2)
                    .map(|w| prefix_in(data, w[0] as usize, w[1] as usize))
                    .collect()
            } else {
                s.iter()
                    .map(|k| prefix_of(k.unwrap_or("").as_bytes()))
                    .collect()
            };
            Some(KeyColumn {
                prefix,
                strings: Some(s.clone()),
            })
        } else {
            keys.as_any()
                .downcast_ref::<Int64Array>()
                .map(|i| KeyColumn {
                    prefix: i.values().iter().map(|&k| int_prefix(k)).collect(),
                    strings: None,
                })
        }
    }

    /// Whether some keys are long enough that equal prefixes need [`KeyColumn::tail_at`].
    pub(crate) fn has_tails(&self) -> bool {
        self.strings.is_some() && self.prefix.iter().any(|&p| needs_tail(p))
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
        fn int_prefix_order_is_int_order(a in any::<i64>(), b in any::<i64>()) {
            prop_assert_eq!(int_prefix(a).cmp(&int_prefix(b)), a.cmp(&b));
            prop_assert!(!needs_tail(int_prefix(a)));
        }
    }
}
