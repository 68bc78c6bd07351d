//! The commands an operator types: `sync`, `run`, `migrate`, `demo`, `sim`. Each prints counts
//! and IDs, never names; each exits non-zero when something went wrong, and says what.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::{self, Settings};
use crate::roster::ExcludedEntity;
use crate::snapshot::SchoolId;
use crate::store::{Store, Trigger};
use crate::sync::{self, RunOutcome, RunRequest, RunSummary, SyncContext};
use crate::telemetry::{self, LogFormat};
use crate::why::{self, Standing};

/// Exit codes, documented in `--help` and README.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const BAD_CONFIG: u8 = 2;
    pub const REFUSED: u8 = 3;
    pub const SKIPPED: u8 = 4;
}

#[derive(Debug, Parser)]
#[command(
    name = "bromsync",
    version,
    about = "Syncs school rosters from Bromcom into Postgres for a parents'-evening system.",
    after_help = "Exit codes: 0 every school succeeded; 1 a run failed; 2 the configuration or \
arguments were refused; 3 a run was refused by the removal guard; 4 a school was skipped \
because another runner holds it.\n\nLogs go to stderr; RUST_LOG sets the level (default info)."
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
    /// Apply the database migrations and exit (runs also apply them at start).
    Migrate,
    /// Run as a daemon: sync every school on its cron schedule until stopped.
    #[command(
        long_about = "Run as a daemon: sync every configured school on its cron schedule \
(`daemon.schedule`, or the school's own `schedule`), read in the school's time zone, until \
stopped. A school never runs twice at once; at most `daemon.max_concurrent_schools` run \
together; a failed run is retried after `daemon.retry_delays_secs`. Several daemons may share \
one database: each scheduled run is carried out by one of them.",
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
    /// The embedded default: a generated school on the built-in simulator, synced into the
    /// local Postgres, with what came through and what was left out.
    Demo(DemoArgs),
    /// The Bromcom simulator: serve generated schools or a dataset file over HTTP, or print the
    /// shape of generated data.
    #[command(subcommand)]
    Sim(crate::sim::cli::SimCommand),
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
    ExcludedEntity::parse(&text.to_lowercase()).ok_or_else(|| {
        format!("`{text}` is not one of: student, teacher, parent, class, group, collection")
    })
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Students in the generated school.
    #[arg(long, default_value_t = 1200)]
    pub students: usize,
    /// Seed of the generated school.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The database to sync into; created if missing.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://root@127.0.0.1:5432/bromsync_demo"
    )]
    pub database_url: String,
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's report is its output; its log stays quiet unless asked for with RUST_LOG.
    let default_level = match cli.command {
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
            Err(code) => code,
        },
        Command::Migrate => match load_settings(cli.config.as_ref()) {
            Ok(settings) => match connect(&settings).await {
                Ok(_) => {
                    println!("migrations applied");
                    exit::OK
                }
                Err(code) => code,
            },
            Err(code) => code,
        },
        Command::Why(args) => match load_settings(cli.config.as_ref()) {
            Ok(settings) => why_command(&settings, &args).await,
            Err(code) => code,
        },
        Command::Demo(args) => crate::demo::run(&args).await,
        Command::Sim(command) => match crate::sim::cli::run(command).await {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("bromsync sim: {e}");
                exit::FAILED
            }
        },
        Command::Run => crate::daemon::run_command(cli.config.as_deref()).await,
    }
}

fn load_settings(path: Option<&PathBuf>) -> Result<Settings, u8> {
    let Some(path) = path else {
        eprintln!("bromsync: no configuration given; pass --config FILE (see config/example.toml)");
        return Err(exit::BAD_CONFIG);
    };
    config::load(path).map_err(|e| {
        eprintln!("bromsync: configuration refused: {e}");
        exit::BAD_CONFIG
    })
}

async fn connect(settings: &Settings) -> Result<Store, u8> {
    Store::connect(&settings.database.url, settings.database.max_connections)
        .await
        .map_err(|e| {
            eprintln!("bromsync: cannot use the database: {e}");
            exit::FAILED
        })
}

/// Builds what every run needs from the settings.
pub async fn context(settings: &Settings) -> Result<SyncContext, u8> {
    let store = connect(settings).await?;
    let client = crate::bromcom::Client::new(settings.bromcom.clone()).map_err(|e| {
        eprintln!("bromsync: cannot set up the Bromcom client: {e}");
        exit::BAD_CONFIG
    })?;
    Ok(SyncContext { store, client })
}

/// A run request for one school with the settings' guard and retention.
pub fn request_for(
    settings: &Settings,
    school: &crate::config::SchoolSettings,
    trigger: Trigger,
) -> RunRequest {
    RunRequest {
        school: school.clone(),
        trigger,
        guard: settings.guard_of(school),
        room_retention: Duration::from_secs(
            u64::from(settings.sync.room_retention_days) * 24 * 3600,
        ),
        accept_removals: false,
        dry_run: false,
        scheduled_for: None,
    }
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
        Err(code) => return code,
    };
    let chosen: Vec<_> = settings
        .schools
        .iter()
        .filter(|s| args.schools.is_empty() || args.schools.contains(&s.id))
        .collect();
    let requests = chosen
        .into_iter()
        .map(|school| {
            let mut request = request_for(settings, school, Trigger::Manual);
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
        code = worse(code, print_outcome(school_id, outcome));
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

fn worse(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        exit::FAILED => 4,
        exit::BAD_CONFIG => 3,
        exit::REFUSED => 2,
        exit::SKIPPED => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Prints one school's outcome to stdout (counts only) and returns its exit code.
pub fn print_outcome(school_id: SchoolId, outcome: &Result<RunOutcome, sync::SyncError>) -> u8 {
    match outcome {
        Ok(RunOutcome::Succeeded(summary)) => {
            println!(
                "school {school_id}: succeeded (run {})",
                summary.run_id.unwrap_or_default()
            );
            print_summary(summary);
            exit::OK
        }
        Ok(RunOutcome::DryRun(summary)) => {
            println!("school {school_id}: dry run, nothing written; a run would do:");
            print_summary(summary);
            exit::OK
        }
        Ok(RunOutcome::Refused(summary)) => {
            println!(
                "school {school_id}: REFUSED (run {}), nothing written",
                summary.run_id.unwrap_or_default()
            );
            for v in &summary.violations {
                println!(
                    "  {} would lose {} of {} rows{}",
                    v.table,
                    v.removed,
                    v.existing,
                    if v.empties { " (all of them)" } else { "" }
                );
            }
            println!(
                "  if these removals are expected: bromsync sync --school {school_id} --accept-removals"
            );
            print_summary(summary);
            exit::REFUSED
        }
        Ok(RunOutcome::Skipped(_)) => {
            println!("school {school_id}: skipped, another runner is syncing it");
            exit::SKIPPED
        }
        Err(e) => {
            println!("school {school_id}: FAILED, nothing written: {e}");
            exit::FAILED
        }
    }
}

/// Per table: added, changed, removed; then what was left out, by entity and reason.
pub fn print_summary(summary: &RunSummary) {
    println!(
        "  {:<16} {:>8} {:>8} {:>8} {:>8}",
        "table", "had", "added", "changed", "removed"
    );
    for c in &summary.roster_changes {
        println!(
            "  {:<16} {:>8} {:>8} {:>8} {:>8}",
            c.table, c.existing, c.added, c.changed, c.removed
        );
    }
    if summary.excluded_by_reason.is_empty() {
        println!("  left out: nothing");
    } else {
        println!("  left out:");
        for (entity, reasons) in &summary.excluded_by_reason {
            let total = summary.excluded.get(entity).copied().unwrap_or_default();
            let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
            println!("    {entity:<10} {total:>6}  ({})", reasons.join(", "));
        }
    }
    if !summary.dropped.is_empty() {
        println!("  links and memberships dropped:");
        for (entity, reasons) in &summary.dropped {
            let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
            println!("    {entity:<20} {}", reasons.join(", "));
        }
    }
}

async fn why_command(settings: &Settings, args: &WhyArgs) -> u8 {
    let store = match connect(settings).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let answer = async {
        let standing = match store
            .roster_run_of(args.school, args.entity, args.id)
            .await?
        {
            Some(run) => Standing::ComesThrough {
                changed_in_run: run,
            },
            None => Standing::Unknown,
        };
        let exclusions = store.load_exclusions(args.school).await?;
        let standing = if standing == Standing::Unknown
            && exclusions
                .iter()
                .any(|e| e.entity == args.entity.as_str() && e.id == args.id)
        {
            Standing::LeftOut
        } else {
            standing
        };
        Ok::<_, crate::store::StoreError>(why::explain(
            args.entity,
            args.id,
            &standing,
            &exclusions,
        ))
    }
    .await;
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
