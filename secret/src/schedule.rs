//! Secrets Manager rotation schedules, as far as the spacing of rotations goes.

/// The shortest time a Secrets Manager rotation schedule allows between two scheduled
/// rotations, in seconds; `None` when it cannot be told from the rules (a `cron` restricted by
/// day of month, month or year).
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
    cron_spacing(expr, window)
}

/// `cron(minutes hours day-of-month month day-of-week year)` with a fixed minute, any hours
/// field (`H`, `H/K`, `*/K`, `a-b`, `a-b/K`, lists), every day or some weekdays
/// (`SUN`–`SAT` or 1–7); `None` for day-of-month, month or year restrictions. "A cron
/// expression that includes increments of hours resets each day" (`cron(0 4/12 * * ? *)` is
/// 4:00 and 16:00 every day), and a schedule that opens more than one window a day is one "in
/// hours": its window closes after an hour unless `Duration` says otherwise; a daily or weekly
/// one's at the end of the UTC day. A window never reaches into the next window or day.
/// <https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html>
fn cron_spacing(expr: &str, duration: Option<i64>) -> Option<i64> {
    const DAY: i64 = 86_400;
    const HOUR: i64 = 3_600;
    let inner = expr.strip_prefix("cron(")?.strip_suffix(')')?;
    let f: Vec<&str> = inner.split_whitespace().collect();
    let [minute, hours, dom, month, dow, year] = f.as_slice() else {
        return None;
    };
    let any = |x: &str| x == "*" || x == "?";
    if !(any(dom) && any(month) && any(year)) {
        return None;
    }
    let minute: i64 = minute.parse().ok().filter(|m| (0..60).contains(m))?;
    let hours = cron_field(hours, 0, 23, |t| t.parse().ok())?;
    // Day 0 of the enumeration is a Sunday, day-of-week 1.
    let weekdays = if any(dow) {
        (1..=7).collect()
    } else {
        cron_field(dow, 1, 7, |t| {
            const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
            t.parse().ok().or_else(|| {
                NAMES
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(t))
                    .map(|i| i as i64 + 1)
            })
        })?
    };
    if hours.is_empty() || weekdays.is_empty() {
        return None;
    }
    // Two weeks of window starts: every schedule here repeats within one.
    let starts: Vec<i64> = (0..14)
        .filter(|d| weekdays.contains(&(d % 7 + 1)))
        .flat_map(|d| hours.iter().map(move |h| d * DAY + h * HOUR + minute * 60))
        .collect();
    let in_hours = hours.len() > 1;
    starts
        .windows(2)
        .map(|pair| {
            let (start, next) = (pair[0], pair[1]);
            let length = match duration {
                Some(w) => w,
                None if in_hours => HOUR,
                None => DAY - start.rem_euclid(DAY),
            };
            let end = (start + length)
                .min(next)
                .min(start.div_euclid(DAY) * DAY + DAY);
            next - end
        })
        .min()
        .map(|s| s.max(0))
}

/// The values a cron field allows, sorted: `*`, `N`, `a-b`, `X/K` (from X, or `*` for the
/// lowest, every K up to `hi`), and comma lists of those; `None` for anything else.
fn cron_field(
    text: &str,
    lo: i64,
    hi: i64,
    value: impl Fn(&str) -> Option<i64>,
) -> Option<Vec<i64>> {
    let mut out = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, k)) => (r, Some(k.parse::<i64>().ok().filter(|k| *k > 0)?)),
            None => (part, None),
        };
        let (from, to) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None => {
                    let v = value(r)?;
                    (v, if step.is_some() { hi } else { v })
                }
            },
        };
        if from < lo || to > hi || from > to {
            return None;
        }
        out.extend((from..=to).step_by(usize::try_from(step.unwrap_or(1)).ok()?));
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
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
        // Weekly: the window runs to the end of Monday; the next opens a week after it opened.
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 ? * MON *)"), None),
            Some(6 * 86_400 + 8 * 3_600)
        );
        // Every four hours from midnight, the default one-hour window: 3 h (the case that
        // left the interval guard off when cron schedules were not read).
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 0/4 * * ? *)"), None),
            Some(3 * 3_600)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 */4 * * ? *)"), Some("2h")),
            Some(2 * 3_600)
        );
        // Increments reset each day: 4:00 and 16:00, then 4:00.
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 4/12 * * ? *)"), None),
            Some(11 * 3_600)
        );
        // Two weekdays: Tuesday's window ends at midnight, Thursday's opens at 9:00.
        assert_eq!(
            min_spacing_secs(None, Some("cron(30 9 ? * TUE,THU *)"), None),
            Some(86_400 + 9 * 3_600 + 1_800)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 1 * ? *)"), None),
            None
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 25 * * ? *)"), None),
            None
        );
        assert_eq!(min_spacing_secs(Some(0), None, None), None);
    }
}
