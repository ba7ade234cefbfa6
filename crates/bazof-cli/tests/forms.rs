//! The text forms inference accepts (`bazof_cli::forms`) and the quoting check
//! (`bazof_cli::quoting`), tested on their own; `fidelity.rs` and `roundtrip.rs` test them
//! through `bazof import`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;

use bazof_cli::forms::{canonical_int, date_form, datetime_form, exact_float};
use bazof_cli::quoting::{quote_error, QuoteCheck, QuoteError, QuoteErrorKind};

#[test]
fn ints() {
    for (s, v) in [
        ("0", 0),
        ("7", 7),
        ("-7", -7),
        ("9223372036854775807", i64::MAX),
    ] {
        assert_eq!(canonical_int(s), Some(v), "{s}");
    }
    for s in [
        "",
        "-",
        "-0",
        "007",
        "+7",
        " 7",
        "7 ",
        "0x1",
        "1e3",
        "9223372036854775808",
        "1_0",
    ] {
        assert_eq!(canonical_int(s), None, "{s}");
    }
}

#[test]
fn floats() {
    for s in [
        "0",
        "1.5",
        "-0.0",
        "3",
        "0.1",
        "1e20",
        "1.50",
        "2.5E-3",
        "123456789.125",
    ] {
        let x = exact_float(s).unwrap_or(f64::NAN);
        assert_eq!(Some(x), s.parse().ok(), "{s}");
    }
    for s in [
        "",
        "+1.5",
        "01.5",
        ".5",
        "1.",
        " 1.5",
        "1e",
        "NaN",
        "inf",
        "1e400",
        "1e-400",
        "0.1000000000000000000001",
        "9007199254740993",
    ] {
        assert_eq!(exact_float(s), None, "{s}");
    }
}

#[test]
fn dates_and_times() {
    assert!(date_form("2024-02-29").is_some());
    for s in ["2024-2-29", " 2024-02-29", "2023-02-29", "20240229"] {
        assert!(date_form(s).is_none(), "{s}");
    }
    assert!(datetime_form("2024-01-01 10:00:00.123456").is_some());
    assert!(datetime_form("2024-01-01 10:00:00.1234567").is_none());
    assert!(datetime_form(" 2024-01-01").is_none());
}

fn check(text: &str) -> Result<String, QuoteError> {
    let mut out = String::new();
    match QuoteCheck::new(text.as_bytes(), b',').read_to_string(&mut out) {
        Ok(_) => Ok(out),
        Err(e) => Err(quote_error(&e).cloned().expect("a quote error")),
    }
}

#[test]
fn good_quoting_passes_through_unchanged() {
    for text in [
        "a,b\n1,2\n",
        "a,\"b, \"\"c\"\"\"\r\n\"x\ny\",2",
        "\u{feff}\"key\",v\n",
        "a,b\"c,d\n",
        "\"\",\"\"\n",
        "a,\"b\"\r\n",
    ] {
        assert_eq!(check(text).as_deref(), Ok(text), "{text:?}");
    }
}

#[test]
fn errors_name_line_and_column() {
    let e = check("key,event_time,note\na,2024-01-01,\"hello\nb,2024-01-02,world\n");
    assert_eq!(
        e,
        Err(QuoteError {
            line: 2,
            column: 3,
            kind: QuoteErrorKind::Unterminated
        })
    );
    let e = check("k,v\n\"x\ny\",\"ab\"c\n");
    assert_eq!(
        e,
        Err(QuoteError {
            line: 3,
            column: 2,
            kind: QuoteErrorKind::TextAfterClosingQuote
        })
    );
    let e = check("k,v\na,\"b\" \n");
    assert!(
        matches!(
            e,
            Err(QuoteError {
                line: 2,
                column: 2,
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn record_lines_skip_blank_lines_and_count_embedded_ones() {
    let text = "h1,h2\r\n\r\na,\"x\r\ny\"\r\n\n\nb,c";
    let mut q = QuoteCheck::new(text.as_bytes(), b',');
    let mut out = Vec::new();
    q.read_to_end(&mut out).expect("read");
    let lines: Vec<u64> = std::iter::from_fn(|| q.take_record_line()).collect();
    assert_eq!(lines, [1, 3, 7]);
}
