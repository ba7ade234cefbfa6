//! SPEC §6.3 from SQL: the `WHERE` conjuncts DuckDB offers the scan, read as key
//! predicates where they are exactly a comparison of the bare key column with
//! constants of the key's type. Anything else (other columns, functions or casts
//! of the key, NULL constants, parameters, `<>`, `NOT IN`) yields nothing. What is
//! read only prunes: DuckDB still applies every filter above the scan.

use std::ops::Bound;
use std::ptr;

use bazof::{KeyPredicate, KeyType, KeyValue};

use super::call;
use super::ffi::{self, Handle};
use super::value::Value;

/// What a conjunct may refer to: the key column's position among the declared
/// columns, and how DuckDB's column references map onto declared columns.
pub(crate) struct KeyColumn<'a> {
    /// Declared index of the key column.
    pub(crate) index: u64,
    /// The key's type.
    pub(crate) key_type: KeyType,
    /// Maps a column reference's index onto a declared column index.
    pub(crate) declared: &'a dyn Fn(u64) -> Option<u64>,
}

/// An expression node of a pushed filter (borrowed from the engine for the callback).
#[derive(Clone, Copy)]
pub(crate) struct Expr(pub(crate) Handle);

impl Expr {
    fn kind(self) -> Option<u32> {
        let mut t = 0u32;
        // SAFETY: `self.0` is an expression the engine lends for this callback.
        call(|e| unsafe { ffi::duckdb_v2_expression_get_type(self.0, &mut t, e) }).ok()?;
        Some(t)
    }

    fn children(self) -> Option<Vec<Expr>> {
        let mut n: ffi::idx_t = 0;
        // SAFETY: as in `kind`.
        call(|e| unsafe { ffi::duckdb_v2_expression_get_child_count(self.0, &mut n, e) }).ok()?;
        (0..n)
            .map(|i| {
                let mut c: Handle = ptr::null_mut();
                // SAFETY: `i` is below the child count; the child is borrowed like
                // its parent.
                call(|e| unsafe { ffi::duckdb_v2_expression_get_child(self.0, i, &mut c, e) })
                    .ok()?;
                (!c.is_null()).then_some(Expr(c))
            })
            .collect()
    }

    /// Whether this is a bare reference to the key column.
    fn is_key(self, key: &KeyColumn) -> bool {
        if self.kind() != Some(ffi::EXPR_BOUND_COLUMN_REF) {
            return false;
        }
        let mut i: ffi::idx_t = 0;
        // SAFETY: as in `kind`; this is a column reference.
        let ok =
            call(|e| unsafe { ffi::duckdb_v2_expression_column_ref_get_index(self.0, &mut i, e) });
        ok.is_ok() && (key.declared)(i) == Some(key.index)
    }

    /// The non-NULL constant of the key's own type this node is.
    fn key_constant(self, key: &KeyColumn) -> Option<KeyValue> {
        if self.kind() != Some(ffi::EXPR_VALUE_CONSTANT) {
            return None;
        }
        let mut v: Handle = ptr::null_mut();
        // SAFETY: as in `kind`; `v` receives an owned copy of the constant.
        call(|e| unsafe { ffi::duckdb_v2_expression_constant_get_value(self.0, &mut v, e) })
            .ok()?;
        let v = Value::owned(v)?;
        if crate::params::ArgValue::is_null(&v) {
            return None;
        }
        match (key.key_type, v.type_id()) {
            (KeyType::String, ffi::TYPE_VARCHAR) => v.varchar().map(KeyValue::String),
            (KeyType::Int, ffi::TYPE_BIGINT) => v.bigint().map(KeyValue::Int),
            _ => None,
        }
    }
}

/// The key predicate a filter implies, if it is one bazof can prune by.
pub(crate) fn key_predicate(f: Expr, key: &KeyColumn) -> Option<KeyPredicate> {
    let kind = f.kind()?;
    let args = f.children()?;
    match kind {
        ffi::EXPR_CONJUNCTION_AND => {
            // Any part that is a key predicate narrows the rows; the rest is DuckDB's.
            let parts: Vec<_> = args.iter().filter_map(|&a| key_predicate(a, key)).collect();
            (!parts.is_empty()).then_some(KeyPredicate::And(parts))
        }
        ffi::EXPR_CONJUNCTION_OR => {
            // Every branch must be one: a branch bazof cannot read may hold any key.
            let parts: Option<Vec<_>> = args.iter().map(|&a| key_predicate(a, key)).collect();
            parts.map(KeyPredicate::Or)
        }
        ffi::EXPR_COMPARE_IN => {
            let (first, rest) = args.split_first()?;
            if !first.is_key(key) {
                return None;
            }
            // A NULL candidate matches no key; any other non-constant defeats pruning.
            let mut values = Vec::new();
            for c in rest {
                values.push(c.key_constant(key)?);
            }
            Some(KeyPredicate::In(values))
        }
        ffi::EXPR_COMPARE_BETWEEN => {
            // DuckDB does not say whether the bounds are inclusive (it makes exclusive
            // ones from `k > a AND k < b`): the inclusive range holds either way.
            let [v, lo, hi] = args.as_slice() else {
                return None;
            };
            if !v.is_key(key) {
                return None;
            }
            Some(KeyPredicate::Range {
                lower: Bound::Included(lo.key_constant(key)?),
                upper: Bound::Included(hi.key_constant(key)?),
            })
        }
        ffi::EXPR_COMPARE_EQUAL
        | ffi::EXPR_COMPARE_NOT_DISTINCT_FROM
        | ffi::EXPR_COMPARE_LESSTHAN
        | ffi::EXPR_COMPARE_LESSTHANOREQUALTO
        | ffi::EXPR_COMPARE_GREATERTHAN
        | ffi::EXPR_COMPARE_GREATERTHANOREQUALTO => {
            let [l, r] = args.as_slice() else {
                return None;
            };
            // `key op c`, or `c op key` read as `key op' c` with the order flipped.
            let (c, flipped) = if l.is_key(key) {
                (r.key_constant(key)?, false)
            } else if r.is_key(key) {
                (l.key_constant(key)?, true)
            } else {
                return None;
            };
            let (lower, upper) = match (kind, flipped) {
                (ffi::EXPR_COMPARE_EQUAL | ffi::EXPR_COMPARE_NOT_DISTINCT_FROM, _) => {
                    return Some(KeyPredicate::Eq(c))
                }
                (ffi::EXPR_COMPARE_LESSTHAN, false) | (ffi::EXPR_COMPARE_GREATERTHAN, true) => {
                    (Bound::Unbounded, Bound::Excluded(c))
                }
                (ffi::EXPR_COMPARE_LESSTHANOREQUALTO, false)
                | (ffi::EXPR_COMPARE_GREATERTHANOREQUALTO, true) => {
                    (Bound::Unbounded, Bound::Included(c))
                }
                (ffi::EXPR_COMPARE_GREATERTHAN, false) | (ffi::EXPR_COMPARE_LESSTHAN, true) => {
                    (Bound::Excluded(c), Bound::Unbounded)
                }
                _ => (Bound::Included(c), Bound::Unbounded),
            };
            Some(KeyPredicate::Range { lower, upper })
        }
        _ => None,
    }
}
