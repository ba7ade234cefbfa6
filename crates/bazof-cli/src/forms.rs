//! Which text reads back as written: the forms type inference accepts.
//!
//! `bazof import` gives an inferred column a type other than String only if every value is
//! written in that type's form, so that a scan prints the same value back (README, "CSV
//! import"). A value in none of these forms keeps the whole column a String, stored byte for
//! byte. An Int is strict everywhere, also in a column whose type was given: `007`, `+7` and
//! ` 7` are not Ints, because they would read back as `7` (and as keys would merge with it).
//! A Float or Boolean column whose type was given also takes the wider spellings of
//! [`parse_float`] and [`parse_bool`].

use chrono::{DateTime, Timelike, Utc};

use crate::timefmt::{parse_date, parse_timestamp};

/// The value of an Int written canonically: an optional `-`, then digits without a leading
/// zero (`0` itself is fine, `-0` is not), no `+`, no spaces, within 64 bits.
pub fn canonical_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let ok = match digits.as_bytes() {
        [] => false,
        [b'0'] => digits.len() == s.len(),
        [first, ..] => *first != b'0' && digits.bytes().all(|b| b.is_ascii_digit()),
    };
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

/// A float written so that its value survives: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
/// (no `+`, no leading zeros, no spaces), and the nearest 64-bit float is exactly the decimal
/// written (after dropping trailing zeros), so the shortest form a scan prints (`1.5`,
/// `3.0`, `1e20`) is the same number. `0.1` qualifies; 20 significant digits do not.
pub fn exact_float(s: &str) -> Option<f64> {
    let digits = float_digits(s)?;
    let x: f64 = s.parse().ok()?;
    if !x.is_finite() {
        return None;
    }
    // Fast path: a decimal of at most 15 significant digits in the normal range is what the
    // nearest float prints back as (DBL_DIG); only longer ones need the comparison.
    if digits == 0 || (digits <= 15 && (1e-300..1e300).contains(&x.abs())) {
        return Some(x);
    }
    (decimal(s)? == decimal(&format!("{x:?}"))?).then_some(x)
}

/// If `s` has the float form above: its significant digits (from the first non-zero
/// digit of the mantissa to the last), in one pass.
fn float_digits(s: &str) -> Option<usize> {
    let b = s.strip_prefix('-').unwrap_or(s).as_bytes();
    let (mut i, mut n) = (0, 0);
    let (mut first, mut last) = (None, 0);
    let mut mantissa_digits = |i: &mut usize| {
        let start = *i;
        while let Some(&d) = b.get(*i).filter(|d| d.is_ascii_digit()) {
            if d != b'0' {
                first.get_or_insert(n);
                last = n;
            }
            n += 1;
            *i += 1;
        }
        *i - start
    };
    let int = mantissa_digits(&mut i);
    if int == 0 || (int > 1 && b[0] == b'0') {
        return None;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if mantissa_digits(&mut i) == 0 {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|d| d.is_ascii_digit()).count();
        if exp == 0 {
            return None;
        }
        i += exp;
    }
    (i == b.len()).then(|| first.map_or(0, |f| last - f + 1))
}

/// A decimal number as (negative, significant digits without leading or trailing zeros,
/// power of ten of the last digit); zero has no digits.
fn decimal(s: &str) -> Option<(bool, Vec<u8>, i64)> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let mut exp = exp.checked_sub(i64::try_from(frac.len()).ok()?)?;
    let lead = digits.iter().take_while(|&&d| d == b'0').count();
    digits.drain(..lead);
    while digits.last() == Some(&b'0') {
        digits.pop();
        exp = exp.checked_add(1)?;
    }
    if digits.is_empty() {
        exp = 0;
    }
    Some((neg, digits, exp))
}

/// `true` or `false` in any case.
pub fn boolean_form(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A date written `YYYY-MM-DD` exactly as a scan prints it.
pub fn date_form(s: &str) -> Option<chrono::NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if shape {
        parse_date(s)
    } else {
        None
    }
}

/// A timestamp in an accepted form, without surrounding spaces, within microseconds (what
/// a table stores). A scan prints the same instant as RFC 3339 in UTC.
pub fn datetime_form(s: &str) -> Option<DateTime<Utc>> {
    if s.trim() != s {
        return None;
    }
    parse_timestamp(s).filter(whole_micros)
}

/// Whether a timestamp has no digits finer than a microsecond (it is stored in µs).
pub fn whole_micros(t: &DateTime<Utc>) -> bool {
    t.nanosecond().is_multiple_of(1_000)
}

/// Parses a float; accepts what Rust does (incl. `1e3`, `NaN`, `inf`).
pub fn parse_float(v: &str) -> Option<f64> {
    v.parse::<f64>().ok()
}

/// Parses a boolean: true/false, t/f, yes/no, y/n, 1/0 (case-insensitive).
pub fn parse_bool(v: &str) -> Option<bool> {
    let is = |words: [&str; 5]| words.iter().any(|w| v.eq_ignore_ascii_case(w));
    if is(["true", "t", "yes", "y", "1"]) {
        Some(true)
    } else if is(["false", "f", "no", "n", "0"]) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// The float form and its significant digits as first written, in several passes.
    fn reference(s: &str) -> Option<usize> {
        let b = s.strip_prefix('-').unwrap_or(s).as_bytes();
        let digits = |b: &[u8]| b.iter().take_while(|c| c.is_ascii_digit()).count();
        let int = digits(b);
        if int == 0 || (int > 1 && b[0] == b'0') {
            return None;
        }
        let mut rest = &b[int..];
        if let Some(r) = rest.strip_prefix(b".") {
            let frac = digits(r);
            if frac == 0 {
                return None;
            }
            rest = &r[frac..];
        }
        let form = match rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
            Some(r) => {
                let r = r
                    .strip_prefix(b"+")
                    .or_else(|| r.strip_prefix(b"-"))
                    .unwrap_or(r);
                let exp = digits(r);
                exp > 0 && exp == r.len()
            }
            None => rest.is_empty(),
        };
        if !form {
            return None;
        }
        let mantissa = s.split(['e', 'E']).next().unwrap_or(s);
        let (mut first, mut last) = (None, 0);
        for (i, d) in mantissa.bytes().filter(u8::is_ascii_digit).enumerate() {
            if d != b'0' {
                first.get_or_insert(i);
                last = i;
            }
        }
        Some(first.map_or(0, |f| last - f + 1))
    }

    proptest! {
        #[test]
        fn float_digits_in_one_pass(s in "-?[0-9]{0,4}(\\.[0-9]{0,4})?([eE][+-]?[0-9]{0,3})?[ x.e]?") {
            prop_assert_eq!(super::float_digits(&s), reference(&s), "{}", s);
        }
    }
}
