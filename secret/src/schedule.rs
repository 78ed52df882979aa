//! Secrets Manager rotation schedules, as far as the spacing of rotations goes.

use chrono::{Datelike, NaiveDate};

/// How close the rotation rules let two scheduled rotations come.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Spacing {
    /// No schedule: rotation rules without an interval or an expression.
    #[default]
    Unscheduled,
    /// At least this many seconds apart.
    AtLeast(i64),
    /// Rules the guard cannot bound, and why. The guard fails closed on them.
    Unbounded(String),
}

impl From<Option<i64>> for Spacing {
    fn from(secs: Option<i64>) -> Spacing {
        secs.map_or(Spacing::Unscheduled, Spacing::AtLeast)
    }
}

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// The shortest time a Secrets Manager rotation schedule allows between two scheduled
/// rotations.
///
/// Secrets Manager rotates at any instant inside a rotation window. A `rate()` window starts at
/// midnight UTC (`rate(N days)`) or at each period start (`rate(N hours)`); without a
/// `Duration` it closes after one hour for hours and at the end of the UTC day for days. A
/// rotation at the very end of one window and the next at the very start of the next are
/// therefore `period - window` apart, not `period`. With `AutomaticallyAfterDays` alone the
/// next rotation falls on the day N days after the last one, at any hour of it, so `N - 1`
/// days. DescribeSecret recomputes `AutomaticallyAfterDays` from a schedule expression, so the
/// expression, when there is one, is what counts. An expression this cannot read is
/// [`Spacing::Unbounded`], never a pass.
/// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html>,
/// <https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html>.
pub fn min_spacing_secs(
    days: Option<i64>,
    schedule: Option<&str>,
    duration: Option<&str>,
) -> Spacing {
    match spacing(days, schedule, duration) {
        Ok(s) => s.into(),
        Err(why) => Spacing::Unbounded(why),
    }
}

fn spacing(
    days: Option<i64>,
    schedule: Option<&str>,
    duration: Option<&str>,
) -> Result<Option<i64>, String> {
    let window = match duration.map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => {
            let h = d
                .strip_suffix('h')
                .and_then(|h| h.trim().parse::<i64>().ok())
                .filter(|h| (1..=24).contains(h))
                .ok_or_else(|| format!("Duration {d:?} is not 1h to 24h"))?;
            Some(h * HOUR)
        }
    };
    let Some(expr) = schedule.map(str::trim).filter(|s| !s.is_empty()) else {
        return match days {
            None => Ok(None),
            Some(d) if (1..=1000).contains(&d) => Ok(Some((d - 1) * DAY)),
            Some(d) => Err(format!("AutomaticallyAfterDays {d} is not 1 to 1000")),
        };
    };
    if let Some(inner) = expr.strip_prefix("rate(").and_then(|e| e.strip_suffix(')')) {
        let bad = || format!("{expr:?} is not rate(N hours) or rate(N days)");
        let (n, unit) = inner.trim().split_once(' ').ok_or_else(bad)?;
        let n: i64 = n.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
        let (period, default_window) = match unit.trim().trim_end_matches('s') {
            "hour" => (n * HOUR, HOUR),
            "day" => (n * DAY, DAY),
            _ => return Err(bad()),
        };
        return Ok(Some((period - window.unwrap_or(default_window)).max(0)));
    }
    cron_spacing(expr, window).map(Some)
}

/// `cron(minutes hours day-of-month month day-of-week year)` as Secrets Manager takes it: a
/// fixed minute, any hours field (`H`, `H/K`, `*/K`, `a-b`, `a-b/K`, lists); a day-of-month
/// (`N`, ranges, `X/K`, lists, `L` for the month's last day) or a day-of-week (`SUN`–`SAT` or
/// 1–7, ranges, lists, `D#n` for the n-th D of the month, `DL` for its last D), the other `?`;
/// months by number or name; the year `*`, which Secrets Manager requires. "A cron expression
/// that includes increments of hours resets each day" (`cron(0 4/12 * * ? *)` is 4:00 and 16:00
/// every day), and a schedule that opens more than one window a day is one "in hours": its
/// window closes after an hour unless `Duration` says otherwise; a daily, weekly or monthly
/// one's at the end of the UTC day. A window never reaches into the next window or day.
/// The spacing is the least over 28 years of the calendar (every weekday on every date, leap
/// years included).
/// <https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html>
fn cron_spacing(expr: &str, duration: Option<i64>) -> Result<i64, String> {
    let bad = |why: &str| format!("{expr:?}: {why}");
    let inner = expr
        .strip_prefix("cron(")
        .and_then(|e| e.strip_suffix(')'))
        .ok_or_else(|| bad("not cron(...) or rate(...)"))?;
    let f: Vec<&str> = inner.split_whitespace().collect();
    let [minute, hours, dom, month, dow, year] = f.as_slice() else {
        return Err(bad("a cron expression has six fields"));
    };
    let any = |x: &str| x == "*" || x == "?";
    if *year != "*" {
        return Err(bad("the year field must be *"));
    }
    let minute: i64 = minute
        .parse()
        .ok()
        .filter(|m| (0..60).contains(m))
        .ok_or_else(|| bad("the minutes field must be one minute"))?;
    let hours = cron_field(hours, 0, 23, |t| t.parse().ok())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("unreadable hours field"))?;
    let months = cron_field(month, 1, 12, |t| {
        t.parse().ok().or_else(|| name_index(t, &MONTHS))
    })
    .ok_or_else(|| bad("unreadable month field"))?;
    let day: Box<dyn Fn(NaiveDate) -> bool> = match (any(dom), any(dow)) {
        (true, true) => Box::new(|_| true),
        (false, true) => day_of_month(dom).ok_or_else(|| bad("unreadable day-of-month field"))?,
        (true, false) => day_of_week(dow).ok_or_else(|| bad("unreadable day-of-week field"))?,
        (false, false) => return Err(bad("day-of-month or day-of-week must be ?")),
    };
    let first = NaiveDate::from_ymd_opt(2024, 1, 1).ok_or_else(|| bad("calendar"))?;
    // Every day, or some weekdays, repeat within two weeks.
    let span = if months.len() == 12 && any(dom) && !dow.contains(['#', 'L']) {
        14
    } else {
        28 * 366
    };
    let starts: Vec<i64> = first
        .iter_days()
        .take(span)
        .enumerate()
        .filter(|(_, d)| months.contains(&i64::from(d.month())) && day(*d))
        .flat_map(|(i, _)| {
            let day_start = i as i64 * DAY;
            hours
                .iter()
                .map(move |h| day_start + h * HOUR + minute * 60)
        })
        .collect();
    let in_hours = hours.len() > 1;
    starts
        .windows(2)
        .map(|pair| {
            let (start, next) = (pair[0], pair[1]);
            let length = match duration {
                Some(w) => w,
                None if in_hours => HOUR,
                // To the end of the UTC day, where every window is cut below.
                None => DAY,
            };
            let end = (start + length)
                .min(next)
                .min(start.div_euclid(DAY) * DAY + DAY);
            next - end
        })
        .min()
        .map(|s| s.max(0))
        .ok_or_else(|| bad("opens fewer than two windows in 28 years"))
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// `names[i]` (any case) is `i + 1`.
fn name_index(text: &str, names: &[&str]) -> Option<i64> {
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
        .map(|i| i as i64 + 1)
}

fn weekday(text: &str) -> Option<i64> {
    text.parse().ok().or_else(|| name_index(text, &WEEKDAYS))
}

fn last_of_month(d: NaiveDate) -> bool {
    d.succ_opt().is_none_or(|n| n.month() != d.month())
}

/// The days a day-of-month field allows: the usual values, and `L` for the month's last day.
fn day_of_month(text: &str) -> Option<Box<dyn Fn(NaiveDate) -> bool>> {
    let last = text.split(',').any(|p| p == "L");
    let rest: Vec<&str> = text.split(',').filter(|p| *p != "L").collect();
    let days = if rest.is_empty() {
        Vec::new()
    } else {
        cron_field(&rest.join(","), 1, 31, |t| t.parse().ok())?
    };
    Some(Box::new(move |d| {
        days.contains(&i64::from(d.day())) || (last && last_of_month(d))
    }))
}

/// The days a day-of-week field allows (1 = Sunday): the usual values, `D#n` or `DL`.
fn day_of_week(text: &str) -> Option<Box<dyn Fn(NaiveDate) -> bool>> {
    let of = |d: NaiveDate| i64::from(d.weekday().number_from_sunday());
    if let Some((w, n)) = text.split_once('#') {
        let (w, n) = (
            weekday(w)?,
            n.parse::<u32>().ok().filter(|n| (1..=5).contains(n))?,
        );
        return Some(Box::new(move |d| of(d) == w && (d.day() - 1) / 7 + 1 == n));
    }
    if let Some(w) = text.strip_suffix('L') {
        let w = if w.is_empty() { 7 } else { weekday(w)? };
        return Some(Box::new(move |d| {
            of(d) == w
                && d.checked_add_days(chrono::Days::new(7))
                    .is_none_or(|n| n.month() != d.month())
        }));
    }
    let days = cron_field(text, 1, 7, weekday)?;
    Some(Box::new(move |d| days.contains(&of(d))))
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
    use Spacing::AtLeast;

    #[test]
    fn rotation_intervals() {
        // The window shortens the spacing: the last instant of one window to the first of the
        // next. DescribeSecret's recomputed AutomaticallyAfterDays never overrides the expression.
        assert_eq!(min_spacing_secs(Some(30), None, None), AtLeast(29 * 86_400));
        assert_eq!(
            min_spacing_secs(None, Some("rate(4 hours)"), None),
            AtLeast(10_800)
        );
        assert_eq!(
            min_spacing_secs(Some(1), Some("rate(4 hours)"), Some("2h")),
            AtLeast(7_200)
        );
        assert_eq!(
            min_spacing_secs(None, Some("rate(1 day)"), None),
            AtLeast(0)
        );
        assert_eq!(
            min_spacing_secs(None, Some("rate(2 days)"), Some("3h")),
            AtLeast(162_000)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 * * ? *)"), None),
            AtLeast(28_800)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 * * ? *)"), Some("1h")),
            AtLeast(82_800)
        );
        // Weekly: the window runs to the end of Monday; the next opens a week after it opened.
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 ? * MON *)"), None),
            AtLeast(6 * 86_400 + 8 * 3_600)
        );
        // Every four hours from midnight, the default one-hour window: 3 h (the case that
        // left the interval guard off when cron schedules were not read).
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 0/4 * * ? *)"), None),
            AtLeast(3 * 3_600)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 */4 * * ? *)"), Some("2h")),
            AtLeast(2 * 3_600)
        );
        // Increments reset each day: 4:00 and 16:00, then 4:00.
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 4/12 * * ? *)"), None),
            AtLeast(11 * 3_600)
        );
        // Two weekdays: Tuesday's window ends at midnight, Thursday's opens at 9:00.
        assert_eq!(
            min_spacing_secs(None, Some("cron(30 9 ? * TUE,THU *)"), None),
            AtLeast(86_400 + 9 * 3_600 + 1_800)
        );
        // Monthly on the 1st: the window closes at midnight, February is the shortest month.
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 1 * ? *)"), None),
            AtLeast(27 * 86_400 + 8 * 3_600)
        );
        // Twice a month, and the last day then the 1st: a day apart at most.
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 1,2 * ? *)"), Some("1h")),
            AtLeast(86_400 - 3_600)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 0 1,L * ? *)"), None),
            AtLeast(0)
        );
        // Quarterly, by month names.
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 6 1 JAN,APR,JUL,OCT ? *)"), None),
            AtLeast((31 + 28 + 31 - 1) * 86_400 + 6 * 3_600)
        );
        // The first Sunday of each month: 28 days apart at least (a month of five Sundays).
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 0 ? * SUN#1 *)"), None),
            AtLeast(27 * 86_400)
        );
        // Checked against Python's calendar over the same 28 years: the fifth Monday comes
        // at least 62 days after the last one; the second Sunday, 28 days less the window.
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 0 ? * MON#5 *)"), None),
            AtLeast(62 * 86_400)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 0 ? * 1#2 *)"), Some("1h")),
            AtLeast(28 * 86_400 - 3_600)
        );
        // Every day in July: the daily spacing, whatever month the calendar starts in.
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 * JUL ? *)"), None),
            AtLeast(8 * 3_600)
        );
        // The last Friday, then the first Sunday two days later.
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 0 ? * 6L *)"), Some("1h")),
            AtLeast(27 * 86_400 + 23 * 3_600)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 16 L * ? *)"), None),
            AtLeast(27 * 86_400 + 16 * 3_600)
        );
        // "Every 7 days from the 1st" is the 1st, 8th, 15th, 22nd and 29th: in a leap year
        // February 29th's window closes at midnight and March 1st's opens at 8:00.
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 1/7 * ? *)"), None),
            AtLeast(8 * 3_600)
        );
    }

    #[test]
    fn rules_it_cannot_bound_are_refused_with_a_reason() {
        for (days, expr, duration, why) in [
            (None, Some("cron(0 25 * * ? *)"), None, "hours"),
            (None, Some("cron(0 8 * * ? 2027)"), None, "year"),
            (None, Some("cron(0 8 1 * MON *)"), None, "must be ?"),
            (
                None,
                Some("cron(0 8 30 2 ? *)"),
                None,
                "fewer than two windows",
            ),
            (None, Some("cron(0 8 * *)"), None, "six fields"),
            (None, Some("rate(5 minutes)"), None, "rate(N hours)"),
            (None, Some("rate(0 days)"), None, "rate(N hours)"),
            (None, Some("cron(0 0/0 * * ? *)"), None, "hours"),
            (None, Some("cron(0 8 1 13 ? *)"), None, "month"),
            (None, Some("every day"), None, "not cron"),
            (None, Some("rate(1 day)"), Some("25h"), "Duration"),
            (Some(0), None, None, "AutomaticallyAfterDays"),
        ] {
            match min_spacing_secs(days, expr, duration) {
                Spacing::Unbounded(reason) => assert!(reason.contains(why), "{expr:?}: {reason}"),
                other => panic!("{expr:?} {duration:?}: {other:?}"),
            }
        }
        assert_eq!(min_spacing_secs(None, None, None), Spacing::Unscheduled);
    }
}
