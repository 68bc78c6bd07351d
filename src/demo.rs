//! `bromsync demo`, the embedded default: a generated school on the built-in simulator (real
//! HTTP on loopback), synced into the local Postgres, then what came through and what was left
//! out and why — and a second run, to show that a resync with no change writes nothing.

use bromsync_sim::generator::{GenerateOptions, generate};
use bromsync_sim::server::{SimOptions, SimServer};
use secrecy::SecretString;

use crate::bromcom::{Client, ClientConfig};
use crate::config::SchoolSettings;
use crate::exit;
use crate::report::print_outcome;
use crate::roster::ExcludedEntity;
use crate::store::{Store, Trigger};
use crate::sync::{self, RunOutcome, RunRequest, SyncContext};
use crate::why;

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

const DEMO_SCHOOL: i64 = 20001;
const DEMO_APP_ID: &str = "demo";
const DEMO_APP_SECRET: &str = "demo-secret";

pub async fn run(args: &DemoArgs) -> u8 {
    let school = SchoolSettings::new(DEMO_SCHOOL);
    let today = chrono::Utc::now()
        .with_timezone(&school.timezone)
        .date_naive();
    let dataset = generate(&GenerateOptions {
        seed: args.seed,
        schools: vec![DEMO_SCHOOL],
        students_per_school: args.students,
        today,
    });
    let sim = match SimServer::start(SimOptions {
        dataset,
        application_id: DEMO_APP_ID.to_owned(),
        application_secret: DEMO_APP_SECRET.to_owned(),
        ..SimOptions::default()
    })
    .await
    {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("bromsync demo: cannot start the simulator: {e}");
            return exit::FAILED;
        }
    };
    println!(
        "demo: simulated Bromcom at {} serving school {DEMO_SCHOOL} ({} students, seed {})",
        sim.base_url(),
        args.students,
        args.seed
    );

    let store =
        match Store::connect_and_migrate(&SecretString::from(args.database_url.clone()), 8).await {
            Ok(store) => store,
            Err(e) => {
                eprintln!("bromsync demo: cannot use the database: {e}");
                return exit::FAILED;
            }
        };
    let client = match Client::new(ClientConfig {
        base_url: sim.base_url(),
        application_id: DEMO_APP_ID.to_owned(),
        application_secret: SecretString::from(DEMO_APP_SECRET),
        ..ClientConfig::default()
    }) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("bromsync demo: {e}");
            return exit::FAILED;
        }
    };
    let ctx = SyncContext::new(store, client);
    let defaults = crate::config::SyncSettings::default();
    let request = RunRequest {
        school,
        trigger: Trigger::Manual,
        guard: Default::default(),
        room_retention: defaults.room_retention(),
        history_retention: defaults.history_retention(),
        full_compare_every: defaults.full_compare_every(),
        // The demo database is the demo's own: a new seed or size is a new school, not an
        // accident to guard against.
        accept_removals: true,
        dry_run: false,
        scheduled_for: None,
        requests: Default::default(),
    };

    println!("\nsync:");
    let first = sync::run_school(&ctx, request.clone()).await;
    let code = print_outcome(DEMO_SCHOOL, &first);
    if code != exit::OK {
        return code;
    }
    // The question a data manager asks: why is this parent missing? Asked of a parent who
    // fell out through a ripple, since that answer has the most to say.
    let rippled_parent = ctx
        .store
        .load_exclusions(DEMO_SCHOOL)
        .await
        .ok()
        .and_then(|stored| {
            stored
                .into_iter()
                .find(|e| e.entity == ExcludedEntity::Parent && !e.caused_by.is_empty())
                .map(|e| e.id)
        });
    if let Some(parent) = rippled_parent {
        println!(
            "\nwhy is parent {parent} missing? (`bromsync why --school {DEMO_SCHOOL} parent {parent}`)"
        );
        match why::answer(&ctx.store, DEMO_SCHOOL, ExcludedEntity::Parent, parent).await {
            Ok(answer) => println!("  {answer}"),
            Err(e) => eprintln!("bromsync demo: {e}"),
        }
    }

    println!("\nthe same sync again, with nothing changed in Bromcom:");
    let second = sync::run_school(&ctx, request).await;
    let code = match &second {
        Ok(RunOutcome::Succeeded(summary)) => {
            let untouched = summary.roster_changes.iter().all(|c| c.is_empty())
                && summary.exclusion_change.is_empty();
            println!(
                "school {DEMO_SCHOOL}: succeeded (run {}); {}",
                summary.run_id.unwrap_or_default(),
                if untouched {
                    "no roster or exclusion row written"
                } else {
                    "some rows changed (the clock moved past a date bound?)"
                }
            );
            exit::OK
        }
        other => print_outcome(DEMO_SCHOOL, other),
    };
    ctx.store.close().await;
    sim.shutdown().await;
    code
}
