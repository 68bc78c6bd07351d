//! The commands an operator types: `sync`, `run`, `migrate`, `why`, `export`, `status`,
//! `check`, `history`, `user`, `demo`, `sim` (the operator views live in [`crate::ops`]). Each prints
//! counts and IDs, never names (but for export's CSV, which is the roster by design); each exits
//! non-zero when something went wrong, and says what.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Settings};
use crate::exit::{self, CommandError};
use crate::report::print_outcome;
use crate::roster::ExcludedEntity;
use crate::snapshot::SchoolId;
use crate::store::{Store, Trigger};
use crate::sync::{RunHooks, RunRequest, SyncContext};
use crate::telemetry::{self, LogFormat};
use crate::why;

#[derive(Debug, Parser)]
#[command(
    name = "bromsync",
    version,
    about = "Syncs school rosters from Bromcom into Postgres for a parents'-evening system.",
    after_help = "Exit codes: 0 every school succeeded; 1 a run failed; 2 the configuration or \
arguments were refused; 3 a run was refused by the removal guard; 4 a school was skipped \
because another runner holds it; 5 the database schema is not current (run `bromsync migrate` \
with the role that owns the schema).\n\nLogs go to stderr; RUST_LOG sets the level (default info)."
)]
pub struct Cli {
    /// The configuration file (TOML); every key can be overridden as BROMSYNC_<SECTION>__<KEY>.
    #[arg(
        long,
        short,
        global = true,
        env = "BROMSYNC_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// Log lines as human-readable text or as JSON objects.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sync every configured school (or those named) once, then exit.
    Sync(SyncArgs),
    /// Create the database if missing and apply the migrations, then exit: the only command
    /// that changes the schema (run it with the role that owns it; the others only check).
    Migrate,
    /// Run as a daemon: sync every school on its cron schedule until stopped.
    #[command(
        long_about = "Run as a daemon: sync every configured school on its cron schedule \
(`daemon.schedule`, or the school's own `schedule`), read in the school's time zone, until \
stopped. A school never runs twice at once; at most `daemon.max_concurrent_schools` run \
together; a failed run is retried after `daemon.retry_delays_secs`. Several daemons may share \
one database: each scheduled run is carried out by one of them, and each `bromsync resync` or \
`bromsync approve` request by whichever takes it first (heard at once through Postgres \
LISTEN/NOTIFY, and looked for every `daemon.control_poll_secs`).",
        after_help = "Signals:\n  SIGUSR1          sync every school now (a school that is running syncs once more after)\n  \
SIGHUP           reload the configuration file; a file that fails to load is logged and the \
old configuration kept\n  SIGTERM, SIGINT  stop: no new runs, runs in flight cancelled (nothing \
half-written), exit 0 within daemon.grace_period_secs\n\nExit codes: 0 stopped by a signal; 2 the \
configuration was refused at start. A school's failure or an unreachable database never ends \
the daemon."
    )]
    Run,
    /// Say why a record is or is not in the roster, following a ripple back to where it
    /// started (from what the latest successful run stored; IDs and reasons only).
    Why(WhyArgs),
    /// One roster table of one school as CSV (the "Export Classes" button), from what the
    /// latest successful run stored.
    #[command(
        after_help = "Columns:\n  classes   class_id,name,subject,kind,main_teacher_staff_id,staff_ids,student_ids\n  \
students  student_id,first_name,last_name,date_of_birth,tutor_group,year_group\n  \
teachers  staff_id,title,first_name,last_name,email,room\n  \
parents   person_id,title,first_name,last_name,email,phone,student_ids\n  \
groups    group_id,name,kind,student_ids\n\nRows by ID; ID lists ascending, separated by one space; \
an absent value is an empty field; dates yyyy-mm-dd.\n\nExit codes: 0 written; 1 the database or \
the output failed; 2 the school is not configured."
    )]
    Export(crate::ops::export::ExportArgs),
    /// Each school's latest run, last success, a refused run waiting, the next scheduled run,
    /// and (SSO schools) who has no email.
    #[command(
        after_help = "Exit codes: 0 every school's latest run succeeded; 1 a school's latest run \
failed or was refused, or it never ran (or the database cannot be read); 2 the school is not configured."
    )]
    Status(crate::ops::status::StatusArgs),
    /// Whether everything a run needs is in place: configuration, database (migrations,
    /// privileges), and per school every entity granted in Bromcom.
    #[command(
        after_help = "Bromcom is asked one cheap question per school and entity (a page past the \
end), so this is quick even for the largest school.\n\nExit codes: 0 all is well; 1 something \
needs fixing (printed); 2 the configuration or arguments were refused."
    )]
    Check(crate::ops::check::CheckArgs),
    /// Since when: the runs that added a record to the roster, changed it (column names only)
    /// or removed it (with its exclusion reasons), newest first.
    #[command(
        after_help = "Kept for sync.history_retention_days (default 400).\n\nExit codes: 0 \
printed (also when there is no history); 1 the database cannot be read; 2 the school is not configured."
    )]
    History(crate::ops::history::HistoryArgs),
    /// The Data Dashboard's users: add, remove, list, reset (printing a one-time password).
    #[command(
        subcommand,
        after_help = "Exit codes: 0 done; 1 the database failed or there is no such user; 2 the \
arguments were refused (or the name is taken)."
    )]
    User(crate::web::users::UserCommand),
    /// Ask the running daemons to sync every school (or those named) now: recorded in the
    /// database, heard by every daemon, each school run once by whichever takes it first.
    #[command(
        after_help = "A request made while no daemon runs is served by the first to start; one \
whose run dies with its daemon is served by another. `bromsync status` shows requests waiting.\n\n\
Exit codes: 0 recorded; 1 the database cannot be written; 2 a school is not configured."
    )]
    Resync(crate::control::ResyncArgs),
    /// Approve (or with --reject keep holding) the removals of a school's latest run refused by
    /// the removal guard; an approval starts a run at once on any daemon.
    #[command(
        after_help = "The approved run may remove what the refused run would have removed and no \
more: if it would remove more, it is refused again. Decisions are recorded with who and when.\n\n\
Exit codes: 0 recorded; 1 no refused run waits, or the database cannot be written; 2 the school \
is not configured."
    )]
    Approve(crate::control::ApproveArgs),
    /// The embedded default: a generated school on the built-in simulator, synced into the
    /// local Postgres, with what came through and what was left out.
    #[cfg(feature = "sim")]
    Demo(crate::demo::DemoArgs),
    /// The Bromcom simulator: serve generated schools or a dataset file over HTTP, or print the
    /// shape of generated data.
    #[cfg(feature = "sim")]
    #[command(subcommand)]
    Sim(bromsync_sim::cli::SimCommand),
}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Only these schools (repeat the flag for several); default every configured school.
    #[arg(long = "school", value_name = "ID")]
    pub schools: Vec<SchoolId>,
    /// Write removals the removal guard would refuse, for this run only (recorded on the run).
    #[arg(long)]
    pub accept_removals: bool,
    /// Print what a run would add, change, remove and exclude; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct WhyArgs {
    /// The school.
    #[arg(long)]
    pub school: SchoolId,
    /// student, teacher, parent, class, group or collection.
    #[arg(value_parser = parse_entity)]
    pub entity: ExcludedEntity,
    /// The record's Bromcom ID (studentID, staffID, personID or collectionID).
    pub id: i64,
}

fn parse_entity(text: &str) -> Result<ExcludedEntity, String> {
    text.to_lowercase().parse().map_err(|_| {
        format!("`{text}` is not one of: student, teacher, parent, class, group, collection")
    })
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's report is its output; its log stays quiet unless asked for with RUST_LOG.
    let default_level = match cli.command {
        #[cfg(feature = "sim")]
        Command::Demo(_) => "warn",
        _ => "info",
    };
    telemetry::init(cli.log_format, default_level, std::io::stderr);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bromsync: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    ExitCode::from(runtime.block_on(dispatch(cli)))
}

async fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Sync(args) => match load_settings(cli.config.as_ref()) {
            Ok(settings) => sync_command(&settings, &args).await,
            Err(e) => ended(&e),
        },
        Command::Migrate => match load_settings(cli.config.as_ref()) {
            Ok(settings) => {
                let database = &settings.database;
                match Store::connect_and_migrate(&database.url, database.max_connections).await {
                    Ok(store) => {
                        store.close().await;
                        println!("migrations applied");
                        exit::OK
                    }
                    Err(e) => ended(&CommandError::Migrate(e)),
                }
            }
            Err(e) => ended(&e),
        },
        Command::Why(args) => match load_settings(cli.config.as_ref()) {
            Ok(settings) => why_command(&settings, &args).await,
            Err(e) => ended(&e),
        },
        Command::Export(args) => match load_settings(cli.config.as_ref()) {
            Ok(settings) => ops_exit(crate::ops::export::run(&settings, &args).await),
            Err(e) => ended(&e),
        },
        Command::Status(args) => match load_settings(cli.config.as_ref()) {
            Ok(settings) => ops_exit(crate::ops::status::run(&settings, &args).await),
            Err(e) => ended(&e),
        },
        Command::Check(args) => match load_settings(cli.config.as_ref()) {
            Ok(settings) => ops_exit(crate::ops::check::run(&settings, &args).await),
            Err(e) => ended(&e),
        },
        Command::History(args) => match load_settings(cli.config.as_ref()) {
            Ok(settings) => ops_exit(crate::ops::history::run(&settings, &args).await),
            Err(e) => ended(&e),
        },
        Command::Resync(args) => match load_settings(cli.config.as_ref()) {
            Ok(settings) => ops_exit(crate::control::resync(&settings, &args).await),
            Err(e) => ended(&e),
        },
        Command::Approve(args) => match load_settings(cli.config.as_ref()) {
            Ok(settings) => ops_exit(crate::control::approve(&settings, &args).await),
            Err(e) => ended(&e),
        },
        Command::User(command) => match load_settings(cli.config.as_ref()) {
            Ok(settings) => crate::web::users::run(&settings, &command).await,
            Err(e) => ended(&e),
        },
        #[cfg(feature = "sim")]
        Command::Demo(args) => crate::demo::run(&args).await,
        #[cfg(feature = "sim")]
        Command::Sim(command) => match bromsync_sim::cli::run(command).await {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("bromsync sim: {e}");
                exit::FAILED
            }
        },
        Command::Run => crate::daemon::run_command(cli.config.as_deref(), hooks_for_tests()).await,
    }
}

/// A command that ended early: its error said on stderr, its exit code returned.
pub fn ended(error: &CommandError) -> u8 {
    eprintln!("bromsync: {error}");
    exit::code_of(error)
}

/// An operator view's result as an exit code, its error said on stderr.
fn ops_exit(result: Result<crate::ops::Verdict, crate::ops::OpsError>) -> u8 {
    match result {
        Ok(crate::ops::Verdict::AllWell) => exit::OK,
        Ok(crate::ops::Verdict::Problems) => exit::FAILED,
        Err(e) => ended(&CommandError::Ops(e)),
    }
}

fn load_settings(path: Option<&PathBuf>) -> Result<Settings, CommandError> {
    let path = path.ok_or(CommandError::NoConfig)?;
    Ok(config::load(path)?)
}

async fn connect(settings: &Settings) -> Result<Store, CommandError> {
    Store::connect(&settings.database.url, settings.database.max_connections)
        .await
        .map_err(CommandError::Database)
}

/// Builds what every run needs from the settings.
pub async fn context(settings: &Settings) -> Result<SyncContext, CommandError> {
    let store = connect(settings).await?;
    let client = crate::bromcom::Client::new(settings.bromcom.clone())?;
    Ok(SyncContext {
        store,
        client,
        hooks: hooks_for_tests(),
    })
}

/// Test-only, and read here at the process's edge so that the run itself reads no
/// environment: with `TEST_BROMSYNC_PAUSE_BEFORE_COMMIT_MS` set, each run waits that long
/// before it writes ([`RunHooks::before_commit`]). The integration tests that signal or kill
/// the process itself in the middle of a write (`tests/it/daemon.rs`, `tests/it/faults.rs`)
/// have no other way in; a test that can run in-process sets the hook through the library.
/// Only in builds with the test tooling (the `sim` feature): the production build
/// (`--no-default-features`) carries no hook and reads no such variable.
#[cfg(feature = "sim")]
fn hooks_for_tests() -> RunHooks {
    let pause = std::env::var("TEST_BROMSYNC_PAUSE_BEFORE_COMMIT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(std::time::Duration::from_millis);
    RunHooks {
        before_commit: pause.map(|pause| -> crate::sync::Hook {
            std::sync::Arc::new(move || Box::pin(tokio::time::sleep(pause)))
        }),
    }
}

#[cfg(not(feature = "sim"))]
fn hooks_for_tests() -> RunHooks {
    RunHooks::default()
}

async fn sync_command(settings: &Settings, args: &SyncArgs) -> u8 {
    for id in &args.schools {
        if settings.school(*id).is_none() {
            eprintln!(
                "bromsync: school {id} is not in the configuration; configured: {}",
                settings
                    .schools
                    .iter()
                    .map(|s| s.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return exit::BAD_CONFIG;
        }
    }
    let ctx = match context(settings).await {
        Ok(ctx) => ctx,
        Err(e) => return ended(&e),
    };
    let chosen: Vec<_> = settings
        .schools
        .iter()
        .filter(|s| args.schools.is_empty() || args.schools.contains(&s.id))
        .collect();
    let requests = chosen
        .into_iter()
        .map(|school| {
            let mut request = RunRequest::new(settings, school, Trigger::Manual);
            request.accept_removals = args.accept_removals;
            request.dry_run = args.dry_run;
            request
        })
        .collect();
    // Each run holds one pooled connection for its lock and transaction; one more is kept for
    // recording a failed run.
    let max_concurrent = settings
        .daemon
        .max_concurrent_schools
        .min(settings.database.max_connections.saturating_sub(1).max(1) as usize);
    let mut code = exit::OK;
    let mut told_credentials = false;
    crate::batch::run_schools(&ctx, requests, max_concurrent, |school_id, outcome| {
        code = exit::worse(code, print_outcome(school_id, outcome));
        if let Err(e) = outcome
            && e.is_credentials_rejected()
            && !std::mem::replace(&mut told_credentials, true)
        {
            eprintln!("bromsync: Bromcom rejected the application's credentials; stopping");
        }
    })
    .await;
    ctx.store.close().await;
    code
}

async fn why_command(settings: &Settings, args: &WhyArgs) -> u8 {
    let store = match connect(settings).await {
        Ok(store) => store,
        Err(e) => return ended(&e),
    };
    let answer = why::answer(&store, args.school, args.entity, args.id).await;
    store.close().await;
    match answer {
        Ok(answer) => {
            println!("school {}: {answer}", args.school);
            exit::OK
        }
        Err(e) => {
            eprintln!("bromsync: {e}");
            exit::FAILED
        }
    }
}
