//! The long-running daemon (`bromsync run`): cron schedules per school in the school's time
//! zone, signals (SIGUSR1 resync, SIGHUP reload, SIGTERM/SIGINT graceful stop), and a bound on
//! how many schools run at once.

pub mod schedule;
