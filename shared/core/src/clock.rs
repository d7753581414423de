//! Time as Folio stores it: UTC with a fixed microsecond width, so that
//! string order is time order (the trash index, `updated_at` listings and
//! cursors sort on it).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Timestamps as stored: UTC, fixed microsecond width, so that string order
/// is time order (the trash index sorts on it).
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    ))
    .expect("a UTC time formats")
}

pub fn now() -> String {
    format_time(OffsetDateTime::now_utc())
}

/// Parses a client's RFC 3339 time into the stored form; `None` for a
/// malformed time or one whose UTC form falls outside years 0–9999.
pub fn parse_time(s: &str) -> Option<String> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    let utc = t.checked_to_offset(time::UtcOffset::UTC)?;
    (0..=9999).contains(&utc.year()).then(|| format_time(utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_sort_as_strings() {
        let a = parse_time("2026-01-01T00:00:00Z").unwrap();
        let b = parse_time("2026-01-01T00:00:00.5+00:00").unwrap();
        let c = parse_time("2026-01-01T01:00:00+02:00").unwrap();
        assert_eq!(a, "2026-01-01T00:00:00.000000Z");
        assert!(c < a && a < b, "{c} {a} {b}");
        assert!(parse_time("yesterday").is_none());
        // Past year 9999 in UTC: refused, not a panic.
        assert!(parse_time("9999-12-31T23:59:59-23:59").is_none());
        assert!(parse_time("0000-01-01T00:00:00+23:59").is_none());
    }
}
