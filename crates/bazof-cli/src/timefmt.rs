//! The CLI's view of times: parsing and printing come from [`bazof::time`]; this module
//! only adapts them to the CLI's call sites (options instead of errors, `-` for none).

use chrono::{DateTime, NaiveDate, Utc};

pub use bazof::time::{format as format_time, format_micros, write_micros, ACCEPTED};

/// Parses a time literal in any form [`bazof::time`] accepts.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    bazof::time::parse(s).ok()
}

/// Parses a calendar date `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    bazof::time::parse_date(s).ok()
}

/// Days since 1970-01-01.
pub fn date_to_days(d: NaiveDate) -> i32 {
    (d - NaiveDate::default()).num_days() as i32
}

/// Formats an optional timestamp, `-` when absent.
pub fn format_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| format_time(&t)).unwrap_or_else(|| "-".into())
}
