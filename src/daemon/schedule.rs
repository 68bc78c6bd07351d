//! Cron expressions as operators write them: the 5-field crontab form, or 6 fields with
//! seconds first. Anything else is refused with the expression and what is wrong.

use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "schedule `{expression}` has {fields} fields; write 5 (minute hour day month weekday, e.g. \"0 2 * * *\") or 6 with seconds first"
    )]
    FieldCount { expression: String, fields: usize },
    #[error("schedule `{expression}` is not a cron expression: {message}")]
    Syntax { expression: String, message: String },
}

/// A checked cron schedule.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    expression: String,
    schedule: cron::Schedule,
}

impl CronSchedule {
    pub fn parse(expression: &str) -> Result<CronSchedule, ScheduleError> {
        let fields = expression.split_whitespace().count();
        let six_fields = match fields {
            5 => format!("0 {}", expression.trim()),
            6 => expression.trim().to_owned(),
            _ => {
                return Err(ScheduleError::FieldCount {
                    expression: expression.to_owned(),
                    fields,
                });
            }
        };
        let schedule =
            cron::Schedule::from_str(&six_fields).map_err(|e| ScheduleError::Syntax {
                expression: expression.to_owned(),
                message: e.to_string(),
            })?;
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
}
