//! SPEC §6.3: key predicates, the only predicates that may prune before resolution.

use std::ops::{Bound, Range};

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, StringArray};

use crate::snapshot::KeyValue;

/// A predicate on the key column. It commutes with resolution (all events of a key
/// share its key), so it may prune files, row groups, pages and rows before resolution.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum KeyPredicate {
    /// `key == v`
    Eq(KeyValue),
    /// `key IN (...)`
    In(Vec<KeyValue>),
    /// `lower <(=) key <(=) upper`
    Range {
        /// Lower bound.
        lower: Bound<KeyValue>,
        /// Upper bound.
        upper: Bound<KeyValue>,
    },
    /// All must hold.
    And(Vec<KeyPredicate>),
    /// Any may hold.
    Or(Vec<KeyPredicate>),
}

fn above_lower(v: &KeyValue, lower: &Bound<KeyValue>) -> bool {
    match lower {
        Bound::Unbounded => true,
        Bound::Included(l) => v >= l,
        Bound::Excluded(l) => v > l,
    }
}

fn below_upper(v: &KeyValue, upper: &Bound<KeyValue>) -> bool {
    match upper {
        Bound::Unbounded => true,
        Bound::Included(u) => v <= u,
        Bound::Excluded(u) => v < u,
    }
}

/// A key as SQL would write it: strings quoted (quotes doubled), integers bare.
fn key_sql(v: &KeyValue) -> String {
    match v {
        KeyValue::Int(i) => i.to_string(),
        KeyValue::String(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

/// SQL-like text (`key = 'a'`, `key IN (1, 2)`, `key >= 'a' AND key < 'b'`), for
/// plans and logs.
impl std::fmt::Display for KeyPredicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let join = |ps: &[KeyPredicate], op: &str| {
            let parts: Vec<String> = ps.iter().map(|p| format!("({p})")).collect();
            parts.join(op)
        };
        match self {
            KeyPredicate::Eq(v) => write!(f, "key = {}", key_sql(v)),
            KeyPredicate::In(vs) => {
                let vs: Vec<String> = vs.iter().map(key_sql).collect();
                write!(f, "key IN ({})", vs.join(", "))
            }
            KeyPredicate::Range { lower, upper } => {
                let lower = match lower {
                    Bound::Included(v) => Some(format!("key >= {}", key_sql(v))),
                    Bound::Excluded(v) => Some(format!("key > {}", key_sql(v))),
                    Bound::Unbounded => None,
                };
                let upper = match upper {
                    Bound::Included(v) => Some(format!("key <= {}", key_sql(v))),
                    Bound::Excluded(v) => Some(format!("key < {}", key_sql(v))),
                    Bound::Unbounded => None,
                };
                let parts: Vec<String> = lower.into_iter().chain(upper).collect();
                if parts.is_empty() {
                    write!(f, "true")
                } else {
                    write!(f, "{}", parts.join(" AND "))
                }
            }
            KeyPredicate::And(ps) if ps.is_empty() => write!(f, "true"),
            KeyPredicate::Or(ps) if ps.is_empty() => write!(f, "false"),
            KeyPredicate::And(ps) => write!(f, "{}", join(ps, " AND ")),
            KeyPredicate::Or(ps) => write!(f, "{}", join(ps, " OR ")),
        }
    }
}

impl KeyPredicate {
    /// Both predicates, where either may be absent (then the other alone).
    pub fn both(a: Option<KeyPredicate>, b: Option<KeyPredicate>) -> Option<KeyPredicate> {
        match (a, b) {
            (Some(a), Some(b)) => Some(KeyPredicate::And(vec![a, b])),
            (a, b) => a.or(b),
        }
    }

    /// Whether one key satisfies the predicate.
    pub fn matches(&self, key: &KeyValue) -> bool {
        match self {
            KeyPredicate::Eq(v) => key == v,
            KeyPredicate::In(vs) => vs.contains(key),
            KeyPredicate::Range { lower, upper } => {
                above_lower(key, lower) && below_upper(key, upper)
            }
            KeyPredicate::And(ps) => ps.iter().all(|p| p.matches(key)),
            KeyPredicate::Or(ps) => ps.iter().any(|p| p.matches(key)),
        }
    }

    /// Whether some key in `[min, max]` may satisfy the predicate (false = skip the range).
    pub fn may_match_range(&self, min: &KeyValue, max: &KeyValue) -> bool {
        match self {
            KeyPredicate::Eq(v) => min <= v && v <= max,
            KeyPredicate::In(vs) => vs.iter().any(|v| min <= v && v <= max),
            KeyPredicate::Range { lower, upper } => {
                below_upper(min, upper) && above_lower(max, lower)
            }
            KeyPredicate::And(ps) => ps.iter().all(|p| p.may_match_range(min, max)),
            KeyPredicate::Or(ps) => ps.iter().any(|p| p.may_match_range(min, max)),
        }
    }

    /// Whether the keys satisfying the predicate form one interval (no `In` or `Or`):
    /// then, in a key-sorted column, rows between two matching rows match too.
    pub(crate) fn is_interval(&self) -> bool {
        match self {
            KeyPredicate::Eq(_) | KeyPredicate::Range { .. } => true,
            KeyPredicate::And(ps) => ps.iter().all(KeyPredicate::is_interval),
            KeyPredicate::In(_) | KeyPredicate::Or(_) => false,
        }
    }

    /// For an interval predicate on a key column sorted ascending without nulls: the
    /// rows that match, which are one span (rows between two matching rows match too).
    /// Found from both ends: a batch that matches whole costs two comparisons, one at a
    /// range's edge a comparison per row it loses. `None` when the span does not apply
    /// (evaluate row by row with [`KeyPredicate::evaluate`] instead).
    pub(crate) fn sorted_span(&self, keys: &ArrayRef) -> Option<Range<usize>> {
        if keys.null_count() > 0 || !self.is_interval() {
            return None;
        }
        let strings = keys.as_any().downcast_ref::<StringArray>();
        let ints = keys.as_any().downcast_ref::<Int64Array>();
        if strings.is_none() && ints.is_none() {
            return None;
        }
        let at = |i: usize| match (strings, ints) {
            (Some(a), _) => self.matches_ref(KeyRef::Str(a.value(i))),
            (_, Some(a)) => self.matches_ref(KeyRef::Int(a.value(i))),
            _ => false,
        };
        let n = keys.len();
        let mut start = 0;
        while start < n && !at(start) {
            start += 1;
        }
        let mut end = n;
        while end > start && !at(end - 1) {
            end -= 1;
        }
        Some(start..end)
    }

    /// Evaluates the predicate on a key column (Utf8 or Int64), without allocating per row.
    pub fn evaluate(&self, keys: &ArrayRef) -> BooleanArray {
        if let Some(a) = keys.as_any().downcast_ref::<StringArray>() {
            (0..a.len())
                .map(|i| Some(a.is_valid(i) && self.matches_ref(KeyRef::Str(a.value(i)))))
                .collect()
        } else if let Some(a) = keys.as_any().downcast_ref::<Int64Array>() {
            (0..a.len())
                .map(|i| Some(a.is_valid(i) && self.matches_ref(KeyRef::Int(a.value(i)))))
                .collect()
        } else {
            BooleanArray::from(vec![false; keys.len()])
        }
    }

    fn matches_ref(&self, key: KeyRef<'_>) -> bool {
        match self {
            KeyPredicate::Eq(v) => key.cmp_value(v).is_eq(),
            KeyPredicate::In(vs) => vs.iter().any(|v| key.cmp_value(v).is_eq()),
            KeyPredicate::Range { lower, upper } => {
                let above = match lower {
                    Bound::Unbounded => true,
                    Bound::Included(l) => key.cmp_value(l).is_ge(),
                    Bound::Excluded(l) => key.cmp_value(l).is_gt(),
                };
                let below = match upper {
                    Bound::Unbounded => true,
                    Bound::Included(u) => key.cmp_value(u).is_le(),
                    Bound::Excluded(u) => key.cmp_value(u).is_lt(),
                };
                above && below
            }
            KeyPredicate::And(ps) => ps.iter().all(|p| p.matches_ref(key)),
            KeyPredicate::Or(ps) => ps.iter().any(|p| p.matches_ref(key)),
        }
    }
}

/// A borrowed key, compared with [`KeyValue`]s in the same order as `KeyValue`'s `Ord`.
#[derive(Clone, Copy)]
enum KeyRef<'a> {
    Int(i64),
    Str(&'a str),
}

impl KeyRef<'_> {
    fn cmp_value(self, v: &KeyValue) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (self, v) {
            (KeyRef::Int(a), KeyValue::Int(b)) => a.cmp(b),
            (KeyRef::Str(a), KeyValue::String(b)) => a.cmp(b.as_str()),
            // Int sorts before String, as in `KeyValue`'s derived order.
            (KeyRef::Int(_), KeyValue::String(_)) => Ordering::Less,
            (KeyRef::Str(_), KeyValue::Int(_)) => Ordering::Greater,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_reads_as_sql() {
        let s = |v: &str| KeyValue::String(v.into());
        let p = KeyPredicate::Or(vec![
            KeyPredicate::Range {
                lower: Bound::Excluded(s("a")),
                upper: Bound::Included(s("it's")),
            },
            KeyPredicate::And(vec![
                KeyPredicate::In(vec![KeyValue::Int(1), KeyValue::Int(2)]),
                KeyPredicate::Range {
                    lower: Bound::Unbounded,
                    upper: Bound::Excluded(KeyValue::Int(9)),
                },
            ]),
        ]);
        assert_eq!(
            p.to_string(),
            "(key > 'a' AND key <= 'it''s') OR ((key IN (1, 2)) AND (key < 9))"
        );
        assert_eq!(KeyPredicate::Or(vec![]).to_string(), "false");
    }

    fn bound(b: u8, v: i64) -> Bound<KeyValue> {
        match b % 3 {
            0 => Bound::Unbounded,
            1 => Bound::Included(KeyValue::Int(v)),
            _ => Bound::Excluded(KeyValue::Int(v)),
        }
    }

    proptest::proptest! {
        /// The span of an interval predicate over sorted keys holds exactly the rows
        /// row-by-row evaluation keeps; `In` and `Or` get no span.
        #[test]
        fn sorted_span_is_what_evaluation_keeps(
            mut keys in proptest::collection::vec(0i64..40, 0..60),
            bounds in proptest::collection::vec((0u8..3, 0i64..40, 0u8..3, 0i64..40), 1..3),
            eq in proptest::option::of(0i64..40),
        ) {
            keys.sort_unstable();
            let mut parts: Vec<KeyPredicate> = bounds
                .iter()
                .map(|&(lb, l, ub, u)| KeyPredicate::Range { lower: bound(lb, l), upper: bound(ub, u) })
                .collect();
            parts.extend(eq.map(|v| KeyPredicate::Eq(KeyValue::Int(v))));
            let array: ArrayRef = std::sync::Arc::new(Int64Array::from(keys.clone()));
            for p in [KeyPredicate::And(parts.clone()), parts[0].clone()] {
                let span = p.sorted_span(&array).expect("an interval predicate has a span");
                let kept = p.evaluate(&array);
                for (i, k) in keys.iter().enumerate() {
                    proptest::prop_assert_eq!(span.contains(&i), kept.value(i), "key {} of {:?}", k, keys);
                }
            }
            let or = KeyPredicate::Or(parts.clone());
            proptest::prop_assert!(or.sorted_span(&array).is_none());
            let strings: ArrayRef = std::sync::Arc::new(StringArray::from(
                keys.iter().map(|k| format!("k{k:03}")).collect::<Vec<_>>(),
            ));
            let sp = KeyPredicate::Range {
                lower: Bound::Included(KeyValue::String("k010".into())),
                upper: Bound::Excluded(KeyValue::String("k020".into())),
            };
            let span = sp.sorted_span(&strings).expect("a range has a span");
            let kept = sp.evaluate(&strings);
            for i in 0..keys.len() {
                proptest::prop_assert_eq!(span.contains(&i), kept.value(i));
            }
        }
    }
}
