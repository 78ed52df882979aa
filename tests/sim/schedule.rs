//! Secrets Manager rotation schedules and windows, as the simulation fires them.
//!
//! What AWS documents, and what is modelled
//! (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html>,
//! <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html>):
//! - Schedules are in UTC; Secrets Manager rotates at any time inside a rotation window, and
//!   windows always start on the hour.
//! - `rate(N hours)` (N ≥ 4: "You can rotate a secret as often as every four hours") and
//!   `rate(N days)` (N ≤ 999): the window starts at midnight. Modelled: windows every N hours
//!   (or days) counted from midnight UTC of the day the rules were set.
//! - `cron(0 H … *)`: the window opens at the hour given. "A cron expression that includes
//!   increments of hours resets each day": `cron(0 4/12 * * ? *)` is 4:00 and 16:00 every day.
//!   Modelled: daily (`cron(0 H * * ? *)`), every K hours from H each day
//!   (`cron(0 H/K * * ? *)`), weekly on one weekday (`cron(0 H ? * D *)`).
//! - `Duration` (`3h`) sets the window's length. Without it the window closes after one hour
//!   for a schedule in hours and at the end of the UTC day for one in days. A window may not
//!   reach into the next window nor into the next UTC day: only such rules are generated.
//!
//! Two scheduled rotations can therefore be as close as the gap between the end of one window
//! and the start of the next. The rotator's interval guard
//! (`cfcookie_rotator::model::min_spacing_secs`, reached through DescribeSecret) reads the same
//! rules; the simulation checks it against the windows modelled here ([`Rules::true_spacing`]).

use rand::rngs::StdRng;
use rand::Rng;

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// A schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    /// `rate(N hours)`.
    Hours(i64),
    /// `rate(N days)`.
    Days(i64),
    /// `cron(0 H/K * * ? *)`; `step` 24 is once a day, written `cron(0 H * * ? *)`.
    Daily { hour: i64, step: i64 },
    /// `cron(0 H ? * D *)`, D = 1 (SUN) … 7 (SAT).
    Weekly { weekday: i64, hour: i64 },
}

/// RotationRules: a schedule expression and an optional `Duration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rules {
    pub expr: Expr,
    /// `Duration` in hours; `None` is the default window.
    pub duration: Option<i64>,
    /// Midnight UTC of the day the rules were set (where `rate()` windows are counted from).
    pub anchor: i64,
}

impl Rules {
    /// The rules a seed starts with. Mostly daily schedules (the simulation is of daily
    /// rotation first, and infra's default is `rate(1 day)`); also longer ones, and shorter
    /// ones (some of which the rotator must refuse). Schedules of hours are one seed in nine:
    /// each of their seeds costs up to six daily ones (a rotation every four hours), and one in
    /// nine still gives a thousand-seed run about a hundred of them.
    pub(crate) fn for_seed(r: &mut StdRng, anchor: i64) -> Rules {
        let pick = |r: &mut StdRng, opts: &[i64]| opts[r.random_range(0..opts.len())];
        let (expr, duration) = match r.random_range(0..100) {
            // The daily schedule with a short window.
            0..44 => (Expr::Days(1), Some(pick(r, &[1, 2, 4, 8]))),
            44..50 => {
                let n = r.random_range(4..=23);
                let d = r.random_bool(0.5).then(|| r.random_range(1..=n.min(6)));
                (Expr::Hours(n), d)
            }
            50..60 => {
                let d = r.random_bool(0.5).then(|| pick(r, &[1, 3, 12, 24]));
                (Expr::Days(r.random_range(2..=7)), d)
            }
            60..78 => {
                let hour = r.random_range(0..24);
                let d = r
                    .random_bool(0.6)
                    .then(|| r.random_range(1..=(24 - hour).min(8)));
                (Expr::Daily { hour, step: 24 }, d)
            }
            78..82 => {
                let step = pick(r, &[4, 6, 8, 12]);
                let hour = r.random_range(0..step);
                let last = hour + (23 - hour) / step * step;
                let d = r
                    .random_bool(0.5)
                    .then(|| r.random_range(1..=step.min(24 - last)));
                (Expr::Daily { hour, step }, d)
            }
            82..90 => {
                let hour = r.random_range(0..24);
                let d = r.random_bool(0.5).then(|| r.random_range(1..=24 - hour));
                (
                    Expr::Weekly {
                        weekday: r.random_range(1..=7),
                        hour,
                    },
                    d,
                )
            }
            // What infra writes for `rotation_interval_hours = 24` (no Duration: the window is
            // the whole day, so two rotations may be seconds apart), and the shortest rate.
            90..99 => (Expr::Days(1), None),
            _ => (Expr::Hours(4), None),
        };
        Rules {
            expr,
            duration,
            anchor,
        }
    }

    /// The daily rules an operator sets after the rotator refused a schedule.
    pub(crate) fn lengthened(r: &mut StdRng, anchor: i64) -> Rules {
        Rules {
            expr: Expr::Days(1),
            duration: Some([1, 2, 4][r.random_range(0..3)]),
            anchor,
        }
    }

    /// `ScheduleExpression` as DescribeSecret returns it.
    pub(crate) fn expression(&self) -> String {
        match self.expr {
            Expr::Hours(n) => format!("rate({n} hours)"),
            Expr::Days(1) => "rate(1 day)".into(),
            Expr::Days(n) => format!("rate({n} days)"),
            Expr::Daily { hour, step: 24 } => format!("cron(0 {hour} * * ? *)"),
            Expr::Daily { hour, step } => format!("cron(0 {hour}/{step} * * ? *)"),
            Expr::Weekly { weekday, hour } => format!("cron(0 {hour} ? * {weekday} *)"),
        }
    }

    /// `Duration` as DescribeSecret returns it.
    pub(crate) fn duration_text(&self) -> Option<String> {
        self.duration.map(|h| format!("{h}h"))
    }

    fn in_hours(&self) -> bool {
        matches!(self.expr, Expr::Hours(_))
            || matches!(self.expr, Expr::Daily { step, .. } if step < 24)
    }

    /// The length of the window that opens at `start`.
    fn window(&self, start: i64) -> i64 {
        match self.duration {
            Some(h) => h * HOUR,
            None if self.in_hours() => HOUR,
            None => DAY - start.rem_euclid(DAY),
        }
    }

    /// The first window opening at or after `t`: (start, length).
    pub(crate) fn window_from(&self, t: i64) -> (i64, i64) {
        let periodic = |period: i64| {
            let k = ((t - self.anchor).max(0) as u64).div_ceil(period as u64) as i64;
            self.anchor + k * period
        };
        let start = match self.expr {
            Expr::Hours(n) => periodic(n * HOUR),
            Expr::Days(n) => periodic(n * DAY),
            Expr::Daily { hour, step } => {
                let mut day = t.div_euclid(DAY) * DAY;
                loop {
                    let next = (hour..24)
                        .step_by(step as usize)
                        .map(|h| day + h * HOUR)
                        .find(|s| *s >= t);
                    if let Some(s) = next {
                        break s;
                    }
                    day += DAY;
                }
            }
            Expr::Weekly { weekday, hour } => {
                let mut day = t.div_euclid(DAY) * DAY;
                loop {
                    // 1970-01-01 was a Thursday (5).
                    let wd = (day / DAY + 4).rem_euclid(7) + 1;
                    let s = day + hour * HOUR;
                    if wd == weekday && s >= t {
                        break s;
                    }
                    day += DAY;
                }
            }
        };
        (start, self.window(start))
    }

    /// The shortest time between two scheduled rotations these windows allow (the end of one
    /// window to the start of the next), the longest time between two window starts and the
    /// longest window, over four weeks of windows (every schedule modelled repeats within a
    /// week).
    fn gaps(&self) -> (i64, i64, i64) {
        let (mut start, mut len) = self.window_from(self.anchor);
        let (mut shortest, mut longest, mut widest) = (i64::MAX, 0, len);
        while start < self.anchor + 28 * DAY {
            let (next, next_len) = self.window_from(start + len);
            shortest = shortest.min(next - (start + len));
            longest = longest.max(next - start);
            widest = widest.max(next_len);
            (start, len) = (next, next_len);
        }
        (shortest, longest, widest)
    }

    /// The shortest time between two scheduled rotations.
    pub(crate) fn true_spacing(&self) -> i64 {
        self.gaps().0
    }

    /// The longest time between two windows' starts.
    pub(crate) fn longest_gap(&self) -> i64 {
        self.gaps().1
    }

    /// The longest rotation window.
    pub(crate) fn longest_window(&self) -> i64 {
        self.gaps().2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_798_761_600; // 2027-01-01 (a Friday), midnight UTC

    fn rules(expr: Expr, duration: Option<i64>) -> Rules {
        Rules {
            expr,
            duration,
            anchor: T0,
        }
    }

    #[test]
    fn windows_open_where_the_aws_examples_say() {
        // cron(0 4/12 * * ? *): 4:00 and 16:00, then 4:00 the next day.
        let r = rules(Expr::Daily { hour: 4, step: 12 }, None);
        assert_eq!(r.window_from(T0), (T0 + 4 * HOUR, HOUR));
        assert_eq!(r.window_from(T0 + 5 * HOUR), (T0 + 16 * HOUR, HOUR));
        assert_eq!(r.window_from(T0 + 17 * HOUR), (T0 + DAY + 4 * HOUR, HOUR));
        assert_eq!(r.expression(), "cron(0 4/12 * * ? *)");
        // rate(1 day) without Duration: midnight to the end of the day.
        let r = rules(Expr::Days(1), None);
        assert_eq!(r.window_from(T0 + 1), (T0 + DAY, DAY));
        assert_eq!(r.true_spacing(), 0);
        // rate(4 hours) with Duration 2h: 0:00-2:00, 4:00-6:00, …: 2 h apart at least.
        let r = rules(Expr::Hours(4), Some(2));
        assert_eq!(r.window_from(T0 + 1), (T0 + 4 * HOUR, 2 * HOUR));
        assert_eq!(r.true_spacing(), 2 * HOUR);
        // A daily cron at 22:00 runs to midnight by default.
        let r = rules(Expr::Daily { hour: 22, step: 24 }, None);
        assert_eq!(r.window_from(T0), (T0 + 22 * HOUR, 2 * HOUR));
        assert_eq!(r.true_spacing(), 22 * HOUR);
        // rate(2 days) with Duration 24h: a whole day every other day.
        let r = rules(Expr::Days(2), Some(24));
        assert_eq!(r.window_from(T0 + 1), (T0 + 2 * DAY, DAY));
        assert_eq!((r.longest_gap(), r.longest_window()), (2 * DAY, DAY));
        // Every Monday (2) at 3:00: 2027-01-04.
        let r = rules(
            Expr::Weekly {
                weekday: 2,
                hour: 3,
            },
            Some(1),
        );
        assert_eq!(r.window_from(T0), (T0 + 3 * DAY + 3 * HOUR, HOUR));
        assert_eq!(r.expression(), "cron(0 3 ? * 2 *)");
    }
}
