//! Dates of generated dumps, as Unix seconds (UTC).

/// The end of generated time: nothing is logged after 2026-11-20T00:00:00Z.
pub const NOW: i64 = 1_795_132_800;

/// One day in seconds.
pub const DAY: i64 = 86_400;

/// Midnight UTC of a `YYYY-MM-DD` date (a constant of this module's tables:
/// a malformed one is a programming error).
pub fn date(text: &str) -> i64 {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .unwrap_or_else(|e| panic!("bad date {text:?} in a table: {e}"))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp()
}

/// `t` plus whole calendar months, the day of month clamped as SQL interval
/// arithmetic does.
pub fn add_months(t: i64, months: u32) -> i64 {
    let dt = chrono::DateTime::from_timestamp(t, 0).expect("in range");
    dt.checked_add_months(chrono::Months::new(months))
        .expect("in range")
        .timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_the_documented_day() {
        assert_eq!(NOW, date("2026-11-20"));
        assert_eq!(add_months(date("2013-01-31"), 1), date("2013-02-28"));
    }
}
