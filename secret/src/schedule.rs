//! Secrets Manager rotation schedules, as far as the spacing of rotations goes.

/// The shortest time a Secrets Manager rotation schedule allows between two scheduled
/// rotations, in seconds; `None` when it cannot be told from the rules (most `cron`s).
///
/// Secrets Manager rotates at any instant inside a rotation window. A `rate()` window starts at
/// midnight UTC (`rate(N days)`) or at each period start (`rate(N hours)`); without a
/// `Duration` it closes after one hour for hours and at the end of the UTC day for days. A
/// rotation at the very end of one window and the next at the very start of the next are
/// therefore `period - window` apart, not `period`. With `AutomaticallyAfterDays` alone the
/// next rotation falls on the day N days after the last one, at any hour of it, so `N - 1`
/// days. DescribeSecret recomputes `AutomaticallyAfterDays` from a schedule expression, so the
/// expression, when there is one, is what counts.
/// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html>,
/// <https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html>.
pub fn min_spacing_secs(
    days: Option<i64>,
    schedule: Option<&str>,
    duration: Option<&str>,
) -> Option<i64> {
    const DAY: i64 = 86_400;
    let window = duration.and_then(|d| {
        let h: i64 = d.trim().strip_suffix('h')?.trim().parse().ok()?;
        (h > 0).then_some(h * 3_600)
    });
    let Some(expr) = schedule.map(str::trim).filter(|s| !s.is_empty()) else {
        let d = days.filter(|d| *d > 0)?;
        return Some((d - 1) * DAY);
    };
    if let Some(inner) = expr.strip_prefix("rate(").and_then(|e| e.strip_suffix(')')) {
        let (n, unit) = inner.trim().split_once(' ')?;
        let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
        let (period, default_window) = match unit.trim().trim_end_matches('s') {
            "hour" => (n * 3_600, 3_600),
            "day" => (n * DAY, DAY),
            _ => return None,
        };
        return Some((period - window.unwrap_or(default_window)).max(0));
    }
    // cron(minutes hours day-of-month month day-of-week year): only "once a day at H:M".
    let inner = expr.strip_prefix("cron(")?.strip_suffix(')')?;
    let f: Vec<&str> = inner.split_whitespace().collect();
    let [m, h, dom, month, dow, year] = f.as_slice() else {
        return None;
    };
    let (m, h): (i64, i64) = (m.parse().ok()?, h.parse().ok()?);
    let any = |x: &str| x == "*" || x == "?";
    if !(any(dom) && any(month) && any(dow) && any(year)) {
        return None;
    }
    let start = h * 3_600 + m * 60;
    Some((DAY - window.unwrap_or(DAY - start)).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_intervals() {
        // The window shortens the spacing: the last instant of one window to the first of the
        // next. DescribeSecret's recomputed AutomaticallyAfterDays never overrides the expression.
        assert_eq!(min_spacing_secs(Some(30), None, None), Some(29 * 86_400));
        assert_eq!(
            min_spacing_secs(None, Some("rate(4 hours)"), None),
            Some(10_800)
        );
        assert_eq!(
            min_spacing_secs(Some(1), Some("rate(4 hours)"), Some("2h")),
            Some(7_200)
        );
        assert_eq!(min_spacing_secs(None, Some("rate(1 day)"), None), Some(0));
        assert_eq!(
            min_spacing_secs(None, Some("rate(2 days)"), Some("3h")),
            Some(162_000)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 * * ? *)"), None),
            Some(28_800)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 * * ? *)"), Some("1h")),
            Some(82_800)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 ? * MON *)"), None),
            None
        );
        assert_eq!(min_spacing_secs(Some(0), None, None), None);
    }
}
