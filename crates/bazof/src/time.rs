//! Time literals as users write them, parsed once for every door (CLI, Polars, DuckDB).
//!
//! Accepted forms (the instant is always read in UTC unless an offset is given):
//!
//! | form | example |
//! |---|---|
//! | RFC 3339 with `Z` or an offset | `2024-03-15T14:30:00Z`, `2024-03-15T16:30:00+02:00` |
//! | date and time, `T` or a space, optional seconds and fraction | `2024-03-15 14:30`, `2024-03-15T14:30:00.25` |
//! | the same followed by `Z`, ` UTC` or an offset `+HH`, `+HHMM`, `+HH:MM` | `2024-03-15T14:30Z`, `2024-03-15 16:30+02` |
//! | a date: its first instant in UTC | `2024-03-15` |
//!
//! Leading and trailing whitespace is ignored. Anything else is an
//! [`Error::InvalidTime`](crate::Error::InvalidTime).

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

use crate::error::{Error, Result};

/// The accepted forms in one line, for messages and `--help`.
pub const ACCEPTED: &str = "RFC 3339 (2024-03-15T14:30:00Z, 2024-03-15T16:30:00+02:00), \
YYYY-MM-DD[ HH:MM[:SS[.fff]]] in UTC, optionally followed by Z or an offset, or a date YYYY-MM-DD";

/// Date-time layouts without an offset, tried in order.
const NAIVE: [&str; 4] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
];

/// Parses a time literal in one of the forms listed in the module docs.
pub fn parse(text: &str) -> Result<DateTime<Utc>> {
    parse_opt(text).ok_or_else(|| Error::InvalidTime {
        text: text.to_string(),
    })
}

fn parse_opt(text: &str) -> Option<DateTime<Utc>> {
    let s = text.trim();
    // The shortest accepted form is a date; this also keeps "12" from reading as a year.
    if s.len() < 10 {
        return None;
    }
    parse_fast(s.as_bytes()).or_else(|| parse_general(s))
}

/// Every accepted form, through chrono.
fn parse_general(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in NAIVE {
        // `%#z` accepts +HH, +HHMM and +HH:MM.
        if let Ok(t) = DateTime::parse_from_str(s, &format!("{fmt}%#z")) {
            return Some(t.with_timezone(&Utc));
        }
    }
    let naive = s
        .strip_suffix(['Z', 'z'])
        .or_else(|| s.strip_suffix(" UTC"))
        .unwrap_or(s);
    for fmt in NAIVE {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(t.and_utc());
        }
    }
    parse_date(naive)
        .ok()
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// The common forms, `YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}]` then nothing, `Z`, ` UTC` or an
/// offset `±HH[[:]MM]` (bazof's own output, RFC 3339, DuckDB's and most databases' CSV),
/// read without chrono's general parser: imports spend much of their time on
/// timestamps. Anything else, a leap second included, is `None` and goes the general
/// way; what this accepts the general parser reads the same (a property test checks it).
fn parse_fast(b: &[u8]) -> Option<DateTime<Utc>> {
    let (secs, nanos) = fast_fields(b)?;
    DateTime::from_timestamp(secs, nanos)
}

/// A time literal in one of the common forms ([`parse_fast`]) as microseconds since
/// the epoch; `None` for any other form, and for digits finer than a microsecond.
/// What it returns, [`parse`] reads the same.
pub fn parse_common_micros(text: &str) -> Option<i64> {
    let (secs, nanos) = fast_fields(text.as_bytes())?;
    nanos
        .is_multiple_of(1000)
        .then(|| secs * 1_000_000 + i64::from(nanos / 1000))
}

/// The seconds since the epoch and the nanoseconds of a common form.
fn fast_fields(b: &[u8]) -> Option<(i64, u32)> {
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let mut end = 19;
    let mut nanos = 0;
    if b.get(end) == Some(&b'.') {
        let n = b[end + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if !(1..=9).contains(&n) {
            return None;
        }
        nanos = digits(end + 1..end + 1 + n)? * 10u32.pow(9 - n as u32);
        end += 1 + n;
    }
    let offset_minutes: i64 = match &b[end..] {
        [] | [b'Z' | b'z'] | b" UTC" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [_, _] => (digits(end + 1..end + 3)?, 0),
                [_, _, _, _] => (digits(end + 1..end + 3)?, digits(end + 3..end + 5)?),
                [_, _, b':', _, _] => (digits(end + 1..end + 3)?, digits(end + 4..end + 6)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = i64::from(h * 60 + m);
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let days = days_from_civil(digits(0..4)?, digits(5..7)?, digits(8..10)?)?;
    let (h, m, sec) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let local = days * 86_400 + i64::from(h * 3600 + m * 60 + sec);
    Some((local - offset_minutes * 60, nanos))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar, `None` if there is
/// no such date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: u32, month: u32, day: u32) -> Option<i64> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if day == 0 || day > month_days {
        return None;
    }
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((i64::from(month) + 9) % 12) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Parses a calendar date `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate> {
    let s = text.trim();
    (s.len() == 10)
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| Error::InvalidTime {
            text: text.to_string(),
        })
}

/// Formats an instant as RFC 3339 in UTC with `Z`, with a fraction only when it has one.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Formats microseconds since the epoch like [`format`] (the number itself when out of range).
pub fn format_micros(us: i64) -> String {
    let mut out = String::with_capacity(27);
    write_micros(&mut out, us);
    out
}

/// Appends [`format_micros`]'s text to `out`. Years 0 to 9999 are written digit by
/// digit (chrono's general formatter cost most of a CSV export's time); the rest go
/// through chrono.
pub fn write_micros(out: &mut String, us: i64) {
    let (secs, micros) = (us.div_euclid(1_000_000), us.rem_euclid(1_000_000) as u32);
    let (days, in_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        let text = DateTime::from_timestamp_micros(us)
            .map(|t| format(&t))
            .unwrap_or_else(|| us.to_string());
        out.push_str(&text);
        return;
    }
    let mut buf = [0u8; 27];
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y as u32);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, in_day / 3600);
    put(14, 2, in_day / 60 % 60);
    put(17, 2, in_day % 60);
    // RFC 3339 with chrono's `AutoSi`: no fraction, milliseconds or microseconds.
    let end = match micros {
        0 => 19,
        _ if micros % 1000 == 0 => {
            put(20, 3, micros / 1000);
            23
        }
        _ => {
            put(20, 6, micros);
            26
        }
    };
    for (at, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        buf[at] = c;
    }
    buf[end] = b'Z';
    out.extend(buf[..=end].iter().map(|&b| b as char));
}

/// The proleptic Gregorian (year, month, day) of a day count from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every accepted form and what it means; `None` = refused.
    const CASES: &[(&str, Option<&str>)] = &[
        ("2024-03-15T14:30:00Z", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15T14:30:00z", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15T16:30:00+02:00", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15T14:30:00.000Z", Some("2024-03-15T14:30:00Z")),
        (
            "2024-03-15T14:30:00.123456Z",
            Some("2024-03-15T14:30:00.123456Z"),
        ),
        ("2024-03-15 14:30:00", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15T14:30:00", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15 14:30", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15T14:30", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15T14:30Z", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15 14:30:00 UTC", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15 14:30:00.25", Some("2024-03-15T14:30:00.250Z")),
        ("2024-03-15 14:30:00.000", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15 16:30:00+02:00", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15 16:30:00+0200", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15 16:30:00+02", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15 14:30:00+00", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15T12:30:00-02:00", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15 16:30+02", Some("2024-03-15T14:30:00Z")),
        ("  2024-03-15T14:30:00Z ", Some("2024-03-15T14:30:00Z")),
        ("2024-03-15", Some("2024-03-15T00:00:00Z")),
        ("1969-12-31", Some("1969-12-31T00:00:00Z")),
        ("", None),
        ("2024", None),
        ("12", None),
        ("2024-13-01", None),
        ("2024-02-30", None),
        ("2024-03-15 25:00:00", None),
        ("2024-03-15T14:30:00+25:00", None),
        ("yesterday", None),
        ("2024-03-15 14:30:00 CET", None),
        ("15/03/2024", None),
    ];

    #[test]
    fn every_form() {
        for (text, want) in CASES {
            let got = parse(text).ok().map(|t| format(&t));
            assert_eq!(got.as_deref(), *want, "{text:?}");
        }
    }

    proptest::proptest! {
        /// Microseconds are written as chrono writes them: any instant of years 0 to
        /// 9999 (whole seconds, whole milliseconds and the rest), and beyond them.
        #[test]
        fn micros_are_written_as_chrono_writes_them(
            us in -62_167_219_200_000_000i64..253_402_300_800_000_000,
            unit in proptest::sample::select(vec![1i64, 1000, 1_000_000]),
            far in proptest::num::i64::ANY,
        ) {
            // Year 0's first instant and the one before, year 10000's first, the epoch.
            let edges = [-62_167_219_200_000_000, -62_167_219_200_000_001, 253_402_300_800_000_000, 0, -1];
            for us in [us / unit * unit, far, far / 1_000_000 * 1_000_000].into_iter().chain(edges) {
                let want = DateTime::from_timestamp_micros(us)
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                    .unwrap_or_else(|| us.to_string());
                proptest::prop_assert_eq!(format_micros(us), want, "{}", us);
            }
        }

        /// The fast path reads what chrono's general path reads, or steps aside; the
        /// forms it exists for (bazof's own and DuckDB's CSV output) it always takes.
        #[test]
        fn fast_path_agrees_with_chrono(
            y in 0u32..10000, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..62,
            sec in 0u32..62, sep in "[T t]", frac in "(\\.[0-9]{1,10})?",
            suffix in "(Z|z| UTC|[+-][0-9]{2}(:?[0-9]{2})?|[+-][0-9]{1,3}|)",
            junk in "[0-9T:.Z +-]{0,3}", at in 0usize..30,
        ) {
            let text = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{sec:02}{frac}{suffix}");
            let fast = parse_fast(text.as_bytes());
            let general = parse_general(&text);
            let whole = general.filter(|t| t.timestamp_subsec_nanos() % 1000 == 0);
            let micros = parse_common_micros(&text);
            proptest::prop_assert!(micros.is_none() || micros == whole.map(|t| t.timestamp_micros()), "{text}");
            proptest::prop_assert_eq!(micros.is_some(), fast.is_some() && whole.is_some(), "{}", text);
            proptest::prop_assert!(fast.is_none() || fast == general, "{text}: {fast:?} {general:?}");
            let common = sep != "t" && sec < 60 && frac.len() <= 10
                && (suffix.is_empty() || suffix == "Z" || suffix == "+00");
            proptest::prop_assert!(fast.is_some() || general.is_none() || !common, "{text}");
            // With anything inserted, the fast path agrees or steps aside.
            let at = at.min(text.len());
            let odd = format!("{}{junk}{}", &text[..at], &text[at..]);
            let fast = parse_fast(odd.as_bytes());
            proptest::prop_assert!(fast.is_none() || fast == parse_general(&odd), "{odd}");
        }
    }

    #[test]
    fn fast_path_knows_the_calendar() {
        for y in [
            0, 1, 4, 100, 399, 400, 1600, 1900, 1969, 1970, 2000, 2023, 2024, 2100, 9999,
        ] {
            for mo in 0..=13 {
                for d in 0..=32 {
                    let text = format!("{y:04}-{mo:02}-{d:02} 23:59:59-01:30");
                    assert_eq!(parse_fast(text.as_bytes()), parse_general(&text), "{text}");
                }
            }
        }
    }

    #[test]
    fn errors_name_the_text() {
        let e = parse("yesterday").unwrap_err().to_string();
        assert!(e.contains("'yesterday'") && e.contains("RFC 3339"), "{e}");
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("2024-03-15").ok(),
            NaiveDate::from_ymd_opt(2024, 3, 15)
        );
        assert!(parse_date("2024-03-15 00:00").is_err());
        assert!(parse_date("2024-3-5").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(format_micros(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_micros(1), "1970-01-01T00:00:00.000001Z");
        assert_eq!(format_micros(i64::MAX), i64::MAX.to_string());
    }
}
