//! Times on the command line and in configuration: epoch seconds or RFC 3339.

use chrono::DateTime;

/// Parses `text` as epoch seconds (`1795345200`) or RFC 3339 (`2026-11-22T11:00:00Z`).
pub fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .map_err(|_| format!("time {text:?} is too large"));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .map_err(|_| {
            format!(
                "time {text:?} is neither epoch seconds nor RFC 3339 (e.g. 2026-11-22T11:00:00Z)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        assert_eq!(parse_time("1795345200"), Ok(1_795_345_200));
        assert_eq!(parse_time("2026-11-22T11:00:00Z"), Ok(1_795_345_200));
        assert_eq!(parse_time("2026-11-22T12:00:00+01:00"), Ok(1_795_345_200));
        assert!(parse_time("tomorrow").is_err());
        assert!(parse_time("-5").is_err());
        assert!(parse_time("").is_err());
        assert!(parse_time("99999999999999999999999").is_err());
    }
}
