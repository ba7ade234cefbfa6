//! RFC 3339 timestamps in snapshot JSON (`2024-01-01T00:00:00.000000Z`).

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Formats a timestamp as the spec writes it.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses any RFC 3339 timestamp into UTC, and whatever [`format`] writes: years outside
/// 0000-9999 (in UTC, e.g. `9999-12-31T23:00:00-02:00`) come out as `+10000-...`, which
/// RFC 3339 cannot express. Refuses sub-microsecond digits: bazof times are microseconds,
/// and rounding a segment bound would move events across it.
pub fn parse(s: &str) -> Result<DateTime<Utc>, String> {
    let t = match DateTime::parse_from_rfc3339(s) {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) if s.starts_with(['+', '-']) => s
            .parse::<DateTime<Utc>>()
            .map_err(|_| format!("timestamp '{s}': {e}"))?,
        Err(e) => return Err(format!("timestamp '{s}': {e}")),
    };
    if t.nanosecond() % 1_000 != 0 {
        return Err(format!(
            "timestamp '{s}' is more precise than a microsecond"
        ));
    }
    Ok(t)
}

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}
