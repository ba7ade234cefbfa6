//! Reading a Polars predicate: which part of it may prune before resolution, and
//! whether it can be evaluated batch by batch (DESIGN §5).
//!
//! [`key_predicate`] returns a [`KeyPredicate`] `K` that every row satisfying the
//! Polars predicate `P` also satisfies (`P ⇒ K`), built only from comparisons of the
//! key column with constants. `K` commutes with resolution (all events of a key share
//! its key), so the core may use it to skip files, row groups and rows. It is a
//! pruning hint, never the filter: the full `P` is always evaluated on the resolved
//! rows, because Polars does not re-apply a predicate it pushed into a scan.

use std::ops::Bound;
use std::sync::Arc;

use bazof::{KeyPredicate, KeyType, KeyValue};
use polars::prelude::*;

/// The predicate the scan must evaluate, from the one Polars pushed.
///
/// Polars converts its internal predicate back to an `Expr` for an `AnonymousScan`.
/// Parts without an `Expr` form arrive as `Expr::Display`, which cannot be evaluated.
/// One such part is harmless: the *dynamic predicate* Polars adds for a top-k
/// (`sort(..).head(k)`), a hint whose only job is to skip rows that cannot make the
/// top k (Polars' own readers treat "no answer" from it as "keep every row"). A
/// conjunct that is only that hint is dropped (`None` = keep every row). Any other
/// unevaluable part is an error, never silently ignored.
pub(crate) fn evaluable(expr: Expr) -> PolarsResult<Option<Expr>> {
    match expr {
        Expr::BinaryExpr {
            left,
            op: op @ (Operator::And | Operator::LogicalAnd),
            right,
        } => {
            let l = evaluable(Arc::unwrap_or_clone(left))?;
            let r = evaluable(Arc::unwrap_or_clone(right))?;
            Ok(match (l, r) {
                (Some(l), Some(r)) => Some(Expr::BinaryExpr {
                    left: Arc::new(l),
                    op,
                    right: Arc::new(r),
                }),
                (l, r) => l.or(r),
            })
        }
        Expr::Display { fmt_str, .. } if fmt_str.starts_with("dynamic_pred") => Ok(None),
        e if e.into_iter().any(|n| matches!(n, Expr::Display { .. })) => polars_bail!(
            ComputeError: "bazof: Polars pushed a predicate into the scan that cannot be evaluated here ({}); \
            please report this query", e
        ),
        e => Ok(Some(e)),
    }
}

/// The key-only necessary condition of `expr`, if it has one.
///
/// * `key == c`, `key <op> c` and `c <op> key` for `<`, `<=`, `>`, `>=`;
/// * `key.is_in([...])`;
/// * `a & b`: both sides' conditions (or the one that exists);
/// * `a | b`: only if both sides have one.
///
/// Anything else (`!=`, negation, functions of the key, constants of another type
/// than the key's, such as `key < 2.5` on an Int key) yields `None`: no pruning, still
/// correct.
pub(crate) fn key_predicate(expr: &Expr, key: &str, key_type: KeyType) -> Option<KeyPredicate> {
    match expr {
        Expr::BinaryExpr { left, op, right } => match op {
            Operator::And | Operator::LogicalAnd => KeyPredicate::both(
                key_predicate(left, key, key_type),
                key_predicate(right, key, key_type),
            ),
            Operator::Or | Operator::LogicalOr => {
                let a = key_predicate(left, key, key_type)?;
                let b = key_predicate(right, key, key_type)?;
                Some(KeyPredicate::Or(vec![a, b]))
            }
            Operator::Eq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                let (op, value) = if is_column(left, key) {
                    (*op, right)
                } else if is_column(right, key) {
                    (flip(*op), left)
                } else {
                    return None;
                };
                let mut values = constant_keys(value, key_type)?;
                if values.len() != 1 {
                    return None;
                }
                let v = values.pop()?;
                Some(match op {
                    Operator::Eq => KeyPredicate::Eq(v),
                    Operator::Lt => KeyPredicate::Range {
                        lower: Bound::Unbounded,
                        upper: Bound::Excluded(v),
                    },
                    Operator::LtEq => KeyPredicate::Range {
                        lower: Bound::Unbounded,
                        upper: Bound::Included(v),
                    },
                    Operator::Gt => KeyPredicate::Range {
                        lower: Bound::Excluded(v),
                        upper: Bound::Unbounded,
                    },
                    _ => KeyPredicate::Range {
                        lower: Bound::Included(v),
                        upper: Bound::Unbounded,
                    },
                })
            }
            _ => None,
        },
        Expr::Function {
            input,
            function: FunctionExpr::Boolean(BooleanFunction::IsIn { .. }),
        } => match input.as_slice() {
            [column, values] if is_column(column, key) => {
                Some(KeyPredicate::In(constant_keys(values, key_type)?))
            }
            _ => None,
        },
        _ => None,
    }
}

fn flip(op: Operator) -> Operator {
    match op {
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        other => other,
    }
}

fn is_column(e: &Expr, name: &str) -> bool {
    matches!(e, Expr::Column(c) if c.as_str() == name)
}

/// Whether `e` is built only from literals and casts (a constant).
fn is_constant(e: &Expr) -> bool {
    match e {
        Expr::Literal(_) => true,
        Expr::Cast { expr, .. } | Expr::Alias(expr, _) => is_constant(expr),
        // `lit(series).implode()`, the usual right side of `is_in`, before optimization.
        Expr::Agg(AggExpr::Implode { input, .. }) => is_constant(input),
        _ => false,
    }
}

/// The non-null values of a constant expression as keys of `key_type`, or `None` if
/// it is not a constant or its type is not the key's (no implicit conversions).
fn constant_keys(e: &Expr, key_type: KeyType) -> Option<Vec<KeyValue>> {
    if !is_constant(e) {
        return None;
    }
    let df = DataFrame::empty()
        .lazy()
        .select([e.clone().alias("v")])
        .collect()
        .ok()?;
    let mut s = df.column("v").ok()?.as_materialized_series().clone();
    if let DataType::List(_) = s.dtype() {
        s = s
            .explode(ExplodeOptions {
                empty_as_null: false,
                keep_nulls: false,
            })
            .ok()?;
    }
    let s = s.drop_nulls();
    match (key_type, s.dtype()) {
        (KeyType::String, DataType::String) => Some(
            s.str()
                .ok()?
                .iter()
                .flatten()
                .map(|v| KeyValue::String(v.to_string()))
                .collect(),
        ),
        (KeyType::Int, dt) if dt.is_integer() => {
            let s = s.strict_cast(&DataType::Int64).ok()?;
            Some(s.i64().ok()?.iter().flatten().map(KeyValue::Int).collect())
        }
        _ => None,
    }
}

/// Whether `expr` gives each row a value that depends on that row alone, so that
/// evaluating it batch by batch equals evaluating it on the whole frame. A
/// conservative allow-list: anything else (aggregations, windows, `lit(series)`
/// operands, unknown functions) is evaluated once on the whole resolved frame.
pub(crate) fn is_row_local(expr: &Expr) -> bool {
    match expr {
        Expr::Column(_) => true,
        Expr::Literal(LiteralValue::Scalar(_) | LiteralValue::Dyn(_)) => true,
        Expr::Alias(e, _) | Expr::Cast { expr: e, .. } => is_row_local(e),
        Expr::BinaryExpr { left, right, .. } => is_row_local(left) && is_row_local(right),
        Expr::Ternary {
            predicate,
            truthy,
            falsy,
        } => is_row_local(predicate) && is_row_local(truthy) && is_row_local(falsy),
        Expr::Function {
            input,
            function: FunctionExpr::Boolean(f),
        } => match f {
            BooleanFunction::IsIn { .. } => match input.as_slice() {
                [a, b] => is_row_local(a) && is_constant(b),
                _ => false,
            },
            BooleanFunction::IsNull
            | BooleanFunction::IsNotNull
            | BooleanFunction::IsNan
            | BooleanFunction::IsNotNan
            | BooleanFunction::IsFinite
            | BooleanFunction::IsInfinite
            | BooleanFunction::Not => input.iter().all(is_row_local),
            _ => false,
        },
        _ => false,
    }
}

/// Every column name `expr` reads.
pub(crate) fn columns_of(expr: &Expr, out: &mut Vec<String>) {
    for e in expr.into_iter() {
        if let Expr::Column(c) = e {
            if !out.iter().any(|o| o == c.as_str()) {
                out.push(c.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(e: Expr) -> Option<KeyPredicate> {
        key_predicate(&e, "key", KeyType::String)
    }
    fn s(v: &str) -> KeyValue {
        KeyValue::String(v.into())
    }

    #[test]
    fn comparisons_of_the_key() {
        assert_eq!(kp(col("key").eq(lit("a"))), Some(KeyPredicate::Eq(s("a"))));
        assert_eq!(
            kp(lit("a").lt(col("key"))),
            Some(KeyPredicate::Range {
                lower: Bound::Excluded(s("a")),
                upper: Bound::Unbounded
            })
        );
        assert_eq!(
            kp(col("key").lt_eq(lit("m"))),
            Some(KeyPredicate::Range {
                lower: Bound::Unbounded,
                upper: Bound::Included(s("m"))
            })
        );
        assert_eq!(kp(col("key").neq(lit("a"))), None);
        assert_eq!(kp(col("key").eq(lit(1))), None, "type mismatch: no pruning");
    }

    #[test]
    fn conjunctions_keep_the_key_part_disjunctions_need_both() {
        let e = col("key")
            .gt_eq(lit("b"))
            .and(col("industry").eq(lit("Software")));
        assert_eq!(
            kp(e),
            Some(KeyPredicate::Range {
                lower: Bound::Included(s("b")),
                upper: Bound::Unbounded
            })
        );
        let e = col("key")
            .eq(lit("b"))
            .or(col("industry").eq(lit("Software")));
        assert_eq!(kp(e), None);
        let e = col("key").eq(lit("b")).or(col("key").eq(lit("c")));
        assert_eq!(
            kp(e),
            Some(KeyPredicate::Or(vec![
                KeyPredicate::Eq(s("b")),
                KeyPredicate::Eq(s("c"))
            ]))
        );
        assert_eq!(kp(col("industry").eq(lit("x")).not()), None);
    }

    #[test]
    fn is_in_and_int_keys() {
        let list = Series::new("".into(), [3i64, 5]);
        let e = col("key").is_in(lit(list).implode(false), false);
        assert_eq!(
            key_predicate(&e, "key", KeyType::Int),
            Some(KeyPredicate::In(vec![KeyValue::Int(3), KeyValue::Int(5)]))
        );
        assert_eq!(
            key_predicate(&col("key").lt(lit(4i32)), "key", KeyType::Int),
            Some(KeyPredicate::Range {
                lower: Bound::Unbounded,
                upper: Bound::Excluded(KeyValue::Int(4))
            })
        );
        assert_eq!(
            key_predicate(&col("key").lt(lit(2.5)), "key", KeyType::Int),
            None
        );
    }

    #[test]
    fn row_locality() {
        assert!(is_row_local(&col("a").eq(lit(1)).and(col("b").is_null())));
        assert!(!is_row_local(&col("a").gt(col("a").mean())));
    }
}
