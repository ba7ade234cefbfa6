//! Parsing and printing timestamps the way the CLI promises (RFC 3339 UTC with `Z`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

/// Accepted forms, for messages.
pub const ACCEPTED: &str = "RFC 3339 (2024-03-15T14:30:00Z, 2024-03-15T16:30:00+02:00) or YYYY-MM-DD[ HH:MM[:SS[.fff]]] (UTC)";

/// Parses a timestamp: RFC 3339 with `Z` or an offset, or a naive
/// `YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]]` read as UTC.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.len() < 10 {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // Offsets with a space separator or without a colon.
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    let naive = s
        .strip_suffix('Z')
        .or_else(|| s.strip_suffix(" UTC"))
        .unwrap_or(s);
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(t.and_utc());
        }
    }
    parse_date(naive)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Parses a calendar date `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Days since 1970-01-01.
pub fn date_to_days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

/// Formats microseconds since the epoch as RFC 3339 UTC with `Z` (fraction only when needed).
pub fn format_micros(us: i64) -> String {
    DateTime::from_timestamp_micros(us)
        .map(|t| format_time(&t))
        .unwrap_or_else(|| us.to_string())
}

/// Formats a timestamp as RFC 3339 UTC with `Z`.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Formats an optional timestamp, `-` when absent.
pub fn format_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| format_time(&t)).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let want = "2024-03-15T14:30:00Z";
        for s in [
            "2024-03-15T14:30:00Z",
            "2024-03-15T16:30:00+02:00",
            "2024-03-15 14:30:00",
            "2024-03-15T14:30:00",
            "2024-03-15 14:30",
            "2024-03-15 14:30:00.000",
            "2024-03-15 16:30:00+02:00",
            "2024-03-15T14:30:00.000Z",
        ] {
            assert_eq!(
                parse_timestamp(s).map(|t| format_time(&t)).as_deref(),
                Some(want),
                "{s}"
            );
        }
        assert_eq!(
            parse_timestamp("2024-03-15")
                .map(|t| format_time(&t))
                .as_deref(),
            Some("2024-03-15T00:00:00Z")
        );
        assert_eq!(
            parse_timestamp("2024-03-15 14:30:00.25")
                .map(|t| format_time(&t))
                .as_deref(),
            Some("2024-03-15T14:30:00.250Z")
        );
        for bad in [
            "",
            "2024",
            "2024-13-01",
            "yesterday",
            "2024-03-15 25:00:00",
            "12",
        ] {
            assert!(parse_timestamp(bad).is_none(), "{bad}");
        }
    }
}
