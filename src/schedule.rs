//! Cron expressions as operators write them: the 5-field crontab form, or 6 fields with
//! seconds first. Anything else is refused with the expression and what is wrong.
//!
//! Times are wall-clock times in the school's zone, so "0 2 * * *" stays 02:00 across the
//! clock changes. Two days a year need a rule, and [`CronSchedule::next_after`] keeps it:
//!
//! - **Gap** (spring forward: in Europe/London on 29 March 2026 the clocks go 01:00 GMT ->
//!   02:00 BST, so 01:00-01:59 does not happen): a wall-clock time that does not exist runs at
//!   the instant it would have been had the clocks not changed yet, i.e. one hour later by the
//!   new clock (01:30 -> 02:30 BST). The run is not lost. Times that land on the same instant
//!   as another trigger are one trigger.
//! - **Overlap** (fall back: on 25 October 2026 01:00-01:59 happens twice): a wall-clock time
//!   runs once, at its first occurrence (01:30 BST, 00:30 UTC).
//!
//! Weekdays are written as in crontab: 0 or 7 is Sunday, 1 is Monday (or names: MON-FRI).
//!
//! An expression that matches no date at all (`0 2 30 2 *`: there is no 30 February) is
//! refused. There is no year field, and from 1901 to 2099 the calendar's days of the month,
//! months and weekdays repeat every 28 years, so an expression with no time in 2000-2099 has
//! none ever; one that fires rarely (29 February, every four years) is accepted.

use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "schedule `{expression}` has {fields} fields; write 5 (minute hour day month weekday, e.g. \"0 2 * * *\") or 6 with seconds first"
    )]
    FieldCount { expression: String, fields: usize },
    #[error("schedule `{expression}` is not a cron expression: {message}")]
    Syntax { expression: String, message: String },
    #[error(
        "schedule `{expression}` never fires: no date has that day of the month in that month (and weekday); e.g. \"0 2 * * *\" is 02:00 every day"
    )]
    Never { expression: String },
}

/// A checked cron schedule. Configuration reads it straight from its text, so a schedule that
/// loaded is one that parses.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct CronSchedule {
    expression: String,
    schedule: cron::Schedule,
}

/// The largest amount by which a zone's offset changes at one transition, with room to spare
/// (real ones are one hour, a few are two).
const MAX_SHIFT_HOURS: i64 = 3;

impl TryFrom<String> for CronSchedule {
    type Error = ScheduleError;

    fn try_from(expression: String) -> Result<Self, Self::Error> {
        CronSchedule::parse(&expression)
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression
    }
}

impl CronSchedule {
    pub fn parse(expression: &str) -> Result<CronSchedule, ScheduleError> {
        let shown = crate::clip::clip(expression);
        let syntax = |message: String| ScheduleError::Syntax {
            expression: shown.clone(),
            message,
        };
        let mut fields: Vec<String> = expression.split_whitespace().map(str::to_owned).collect();
        match fields.len() {
            5 => fields.insert(0, "0".to_owned()),
            6 => {}
            count => {
                return Err(ScheduleError::FieldCount {
                    expression: shown,
                    fields: count,
                });
            }
        }
        fields[5] = crontab_weekdays(&fields[5]).map_err(syntax)?;
        let schedule = cron::Schedule::from_str(&fields.join(" "))
            .map_err(|e| syntax(cron_reason(&e.to_string())))?;
        let since = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
        if since.is_some_and(|since| schedule.after(&since).next().is_none()) {
            return Err(ScheduleError::Never { expression: shown });
        }
        Ok(CronSchedule {
            expression: expression.to_owned(),
            schedule,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn inner(&self) -> &cron::Schedule {
        &self.schedule
    }

    /// The first trigger strictly after `after`, with wall-clock times read in `tz` (see the
    /// module header for the clock-change days). `None` when the expression never matches again.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        // Wall-clock times are walked on a timeline without clock changes (UTC used as a plain
        // calendar), then each is placed in the zone. Near a clock change a wall-clock time in
        // the gap lands later than the ones just after it, so there we look a few hours either
        // side and keep the earliest instant after `after`.
        let look_back = shift_window(tz, after);
        let start = after.with_timezone(&tz).naive_local() - look_back;
        let mut best: Option<(NaiveDateTime, DateTime<Utc>)> = None;
        for wall in self.schedule.after(&Utc.from_utc_datetime(&start)) {
            let wall = wall.naive_utc();
            if let Some((best_wall, best_instant)) = best
                && wall > best_wall + shift_window(tz, best_instant)
            {
                break;
            }
            let instant = place(wall, tz);
            if instant > after && best.is_none_or(|(_, b)| instant < b) {
                best = Some((wall, instant));
            }
        }
        best.map(|(_, instant)| instant)
    }
}

/// The cron crate's reason, without the copy of the expression (and a caret under it) that
/// some of its messages start with, and with any value it quotes clipped.
fn cron_reason(message: &str) -> String {
    use crate::clip::{clip_quoted_by, clip_to};
    let last = message
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("");
    clip_to(&clip_quoted_by(last.trim(), &['\'', '"', '`']), 200)
}

/// How far around `instant` wall-clock order and instant order may disagree: nothing when the
/// zone's offset is the same a few hours either side (no clock change near), a few hours
/// otherwise. (A schedule every second walks that many candidates only near a clock change.)
fn shift_window(tz: Tz, instant: DateTime<Utc>) -> Duration {
    let offset_at = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let span = Duration::hours(MAX_SHIFT_HOURS);
    let now = offset_at(instant);
    if offset_at(instant - span) == now && offset_at(instant + span) == now {
        Duration::zero()
    } else {
        Duration::hours(MAX_SHIFT_HOURS)
    }
}

/// The instant of a wall-clock time in `tz`: the first occurrence when it happens twice, and
/// the time read with the offset before the change when it does not happen at all.
fn place(wall: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // The offset in force a day earlier is the one before the change.
            let as_utc = Utc.from_utc_datetime(&wall);
            let before = tz
                .offset_from_utc_datetime(&(as_utc - Duration::days(1)).naive_utc())
                .fix();
            as_utc - Duration::seconds(i64::from(before.local_minus_utc()))
        }
    }
}

/// Rewrites crontab weekday numbers (0-7, Sunday being 0 or 7) as names, because the cron
/// crate counts from Sunday = 1 and would shift every numeric weekday by one.
fn crontab_weekdays(field: &str) -> Result<String, String> {
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let name = |token: &str| -> Result<String, String> {
        match token.parse::<usize>() {
            Ok(n) => NAMES.get(n).map(|s| (*s).to_owned()).ok_or_else(|| {
                format!("weekday {n} is out of range; write 0-7 (0 and 7 are Sunday) or MON-SUN")
            }),
            Err(_) => Ok(token.to_owned()),
        }
    };
    let mut items = Vec::new();
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (item, None),
        };
        let rewritten = match base.split_once('-') {
            Some((from, "7")) if from != "0" && from != "7" => {
                if step.is_some() {
                    return Err(format!(
                        "weekday range `{item}` ending on 7 with a step: write it with names (e.g. MON-SAT/2,SUN)"
                    ));
                }
                items.push("SUN".to_owned());
                format!("{}-SAT", name(from)?)
            }
            Some((from, to)) => format!("{}-{}", name(from)?, name(to)?),
            None => name(base)?,
        };
        items.push(match step {
            Some(step) => format!("{rewritten}/{step}"),
            None => rewritten,
        });
    }
    Ok(items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;
    use chrono_tz::Europe::{London, Paris};

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
    }

    fn next(expression: &str, after: &str, tz: Tz) -> DateTime<Utc> {
        CronSchedule::parse(expression)
            .unwrap_or_else(|e| panic!("{e}"))
            .next_after(utc(after), tz)
            .unwrap_or_else(|| panic!("{expression} never fires after {after}"))
    }

    /// Every trigger in [from, to).
    fn all_between(expression: &str, from: &str, to: &str, tz: Tz) -> Vec<DateTime<Utc>> {
        let schedule = CronSchedule::parse(expression).unwrap_or_else(|e| panic!("{e}"));
        let (mut at, end) = (utc(from) - Duration::nanoseconds(1), utc(to));
        let mut out = Vec::new();
        while let Some(t) = schedule.next_after(at, tz) {
            if t >= end {
                break;
            }
            out.push(t);
            at = t;
        }
        out
    }

    #[test]
    fn two_oclock_stays_two_oclock_local_across_both_2026_changes() {
        // Before spring forward 02:00 GMT is 02:00 UTC; after, 02:00 BST is 01:00 UTC.
        assert_eq!(
            next("0 2 * * *", "2026-03-27T12:00:00Z", London),
            utc("2026-03-28T02:00:00Z")
        );
        assert_eq!(
            next("0 2 * * *", "2026-03-28T02:00:00Z", London),
            utc("2026-03-29T01:00:00Z")
        );
        assert_eq!(
            next("0 2 * * *", "2026-03-29T01:00:00Z", London),
            utc("2026-03-30T01:00:00Z")
        );
        // Autumn: 02:00 BST on the 24th, then 02:00 GMT on the 25th (after the second 01:xx).
        assert_eq!(
            next("0 2 * * *", "2026-10-23T12:00:00Z", London),
            utc("2026-10-24T01:00:00Z")
        );
        assert_eq!(
            next("0 2 * * *", "2026-10-24T01:00:00Z", London),
            utc("2026-10-25T02:00:00Z")
        );
        assert_eq!(
            next("0 2 * * *", "2026-10-25T02:00:00Z", London),
            utc("2026-10-26T02:00:00Z")
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_runs_an_hour_later_by_the_new_clock() {
        // 01:30 does not happen in London on 29 March 2026: it runs at 02:30 BST (01:30 UTC).
        assert_eq!(
            next("30 1 * * *", "2026-03-28T12:00:00Z", London),
            utc("2026-03-29T01:30:00Z")
        );
        assert_eq!(
            next("30 1 * * *", "2026-03-29T01:30:00Z", London),
            utc("2026-03-30T00:30:00Z")
        );
        // The same rule where the gap is 02:00-03:00 (Paris): 02:30 runs at 03:30 CEST.
        assert_eq!(
            next("30 2 * * *", "2026-03-28T12:00:00Z", Paris),
            utc("2026-03-29T01:30:00Z")
        );
    }

    #[test]
    fn gap_times_never_go_before_real_times_and_collapse_onto_them() {
        // Every 30 min over the night of the spring change: 00:00, 00:30 (GMT), the two gap
        // times 01:00 and 01:30 land on 02:00 and 02:30 BST, which are also real times.
        let runs = all_between(
            "0,30 * * * *",
            "2026-03-29T00:00:00Z",
            "2026-03-29T02:00:00Z",
            London,
        );
        let expected: Vec<_> = ["00:00", "00:30", "01:00", "01:30"]
            .iter()
            .map(|t| utc(&format!("2026-03-29T{t}:00Z")))
            .collect();
        assert_eq!(runs, expected);
        // Seen from just after 02:00 BST (01:00 UTC), the next is 02:30 BST, not 02:00 again.
        assert_eq!(
            next("0,30 * * * *", "2026-03-29T01:00:00Z", London),
            utc("2026-03-29T01:30:00Z")
        );
    }

    #[test]
    fn a_time_in_the_autumn_overlap_runs_once_at_its_first_occurrence() {
        let runs = all_between(
            "30 1 * * *",
            "2026-10-24T12:00:00Z",
            "2026-10-26T12:00:00Z",
            London,
        );
        assert_eq!(
            runs,
            vec![utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")]
        );
        // Asked during the second 01:xx hour, the next 01:30 is the following day's.
        assert_eq!(
            next("30 1 * * *", "2026-10-25T01:10:00Z", London),
            utc("2026-10-26T01:30:00Z")
        );
        // Hourly: the repeated hour runs once, so the night has one run fewer than it has hours.
        let hourly = all_between(
            "0 * * * *",
            "2026-10-24T23:00:00Z",
            "2026-10-25T03:30:00Z",
            London,
        );
        let locals: Vec<u32> = hourly
            .iter()
            .map(|t| t.with_timezone(&London).hour())
            .collect();
        assert_eq!(locals, vec![0, 1, 2, 3]);
    }

    #[test]
    fn every_second_across_the_spring_gap_never_goes_back_or_repeats() {
        // 00:59:58 GMT, 00:59:59 GMT, then 02:00:00 BST (the same instant as "01:00:00").
        let runs = all_between(
            "* * * * * *",
            "2026-03-29T00:59:58Z",
            "2026-03-29T01:00:02Z",
            London,
        );
        let expected: Vec<_> = ["00:59:58", "00:59:59", "01:00:00", "01:00:01"]
            .iter()
            .map(|t| utc(&format!("2026-03-29T{t}Z")))
            .collect();
        assert_eq!(runs, expected);
    }

    #[test]
    fn six_fields_have_seconds_first() {
        assert_eq!(
            next("*/5 * * * * *", "2026-06-01T10:00:02Z", London),
            utc("2026-06-01T10:00:05Z")
        );
        assert_eq!(
            next("30 0 2 * * *", "2026-06-01T10:00:00Z", London),
            utc("2026-06-02T01:00:30Z")
        );
        assert_eq!(
            next("*/3 * * * * *", "2026-03-29T00:59:59Z", London),
            utc("2026-03-29T01:00:00Z")
        );
    }

    #[test]
    fn weekdays_count_as_in_crontab() {
        // 1 June 2026 is a Monday; 6 June a Saturday.
        assert_eq!(
            next("0 9 * * 1-5", "2026-06-05T12:00:00Z", London),
            utc("2026-06-08T08:00:00Z")
        );
        assert_eq!(
            next("0 9 * * 0", "2026-06-01T12:00:00Z", London),
            utc("2026-06-07T08:00:00Z")
        );
        assert_eq!(
            next("0 9 * * 7", "2026-06-01T12:00:00Z", London),
            utc("2026-06-07T08:00:00Z")
        );
        assert_eq!(
            next("0 9 * * 6-7", "2026-06-01T12:00:00Z", London),
            utc("2026-06-06T08:00:00Z")
        );
        assert_eq!(
            next("0 9 * * MON", "2026-06-01T12:00:00Z", London),
            utc("2026-06-08T08:00:00Z")
        );
    }

    #[test]
    fn bad_expressions_are_refused_with_the_expression() {
        for bad in [
            "0 2 * *",
            "0 0 2 * * * 2026 extra",
            "",
            "61 2 * * *",
            "0 2 * * 9",
            "every night",
        ] {
            let message = match CronSchedule::parse(bad) {
                Ok(_) => panic!("`{bad}` was accepted"),
                Err(e) => e.to_string(),
            };
            assert!(message.contains(&format!("`{bad}`")), "{message}");
        }
    }

    #[test]
    fn a_schedule_that_never_fires_is_refused_and_a_rare_one_accepted() {
        for never in [
            "0 2 30 2 *",
            "0 0 31 4 *",
            "0 0 0 31 11 *",
            "0 0 31 2,4,6 MON",
        ] {
            match CronSchedule::parse(never) {
                Ok(_) => panic!("`{never}` was accepted"),
                Err(e) => {
                    assert!(matches!(e, ScheduleError::Never { .. }), "{never}: {e}");
                    assert!(e.to_string().contains("never fires"), "{e}");
                }
            }
        }
        // 29 February on a Monday: next in 2044, then 2072. Rare, but it fires.
        for rare in ["0 0 29 2 *", "0 0 29 2 MON", "0 0 31 12 *"] {
            let schedule = CronSchedule::parse(rare).unwrap_or_else(|e| panic!("{rare}: {e}"));
            assert!(
                schedule
                    .next_after(utc("2026-03-01T00:00:00Z"), London)
                    .is_some(),
                "{rare}"
            );
        }
    }

    #[test]
    fn a_long_expression_is_echoed_clipped() {
        let long = format!("0 2 * * * {}", "x".repeat(300));
        let message = CronSchedule::parse(&long)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(message.len() < 300, "{message}");
        assert!(message.contains("characters)"), "{message}");
    }
}
