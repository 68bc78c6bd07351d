//! `bromsync sim ...`: runs the simulator on its own, for the demo and for trying the daemon
//! against something that behaves like Bromcom.

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;

use super::dataset::Dataset;
use super::faults::FaultPlan;
use super::generator::{GenerateOptions, generate};
use super::server::{SimOptions, SimServer};
use bromcom_api::SchoolId;

/// The first ID given to generated schools when `--schools` is a count.

#[derive(Debug, Clone, clap::Subcommand)]
pub enum SimCommand {
    /// Serve generated schools (or a dataset file) over HTTP until Ctrl-C.
    Serve(ServeArgs),
    /// Print the shape figures of generated data (students, contacts and classes per student,
    /// staff, consent rates, ...), to check the generator against a real school's proportions.
    Shape(crate::shape::ShapeArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1; 0 picks a free one (printed at start).
    #[arg(long, default_value_t = 8480)]
    pub port: u16,
    /// Seed for the generated data and for random faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A count N (schools 20001..20000+N) or a comma-separated list of school IDs
    /// (`20001,20007`; a single ID needs a trailing comma: `20007,`).
    #[arg(long, default_value = "1")]
    pub schools: String,
    /// Students per generated school.
    #[arg(long, default_value_t = 1000)]
    pub students: usize,
    #[arg(long, default_value_t = 100_000)]
    pub page_size: usize,
    /// Delay added to every answer.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Serve this dataset file (see `sim::dataset`) instead of generating.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Share of requests (0.0 to 1.0) answered with a random transient fault.
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// The date generated data is made around; today when not given.
    #[arg(long)]
    pub today: Option<NaiveDate>,
    #[arg(long, default_value = "demo")]
    pub application_id: String,
    #[arg(long, default_value = "demo-secret")]
    pub application_secret: String,
}

/// Why `bromsync sim` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("--schools `{0}`: write a count (3) or a comma-separated list of IDs (20001,20002)")]
    Schools(String),
    #[error("--fault-rate {0}: write a fraction between 0 and 1")]
    FaultRate(f64),
    #[error("--page-size must be at least 1")]
    PageSize,
    #[error("cannot read dataset {path}: {message}")]
    Data { path: String, message: String },
    #[error("cannot serve on port {port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("waiting for Ctrl-C failed: {0}")]
    Signal(std::io::Error),
}

/// Runs a `sim` subcommand to completion.
pub async fn run(command: SimCommand) -> Result<(), SimError> {
    match command {
        SimCommand::Serve(args) => serve(args).await,
        SimCommand::Shape(args) => {
            println!("{}", crate::shape::run_shape(&args));
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), SimError> {
    if !(0.0..=1.0).contains(&args.fault_rate) {
        return Err(SimError::FaultRate(args.fault_rate));
    }
    if args.page_size == 0 {
        return Err(SimError::PageSize);
    }
    let dataset = match &args.data {
        Some(path) => read_dataset(path).await?,
        None => generate(&GenerateOptions {
            seed: args.seed,
            schools: parse_schools(&args.schools)?,
            students_per_school: args.students,
            today: args
                .today
                .unwrap_or_else(|| chrono::Utc::now().date_naive()),
        }),
    };
    let schools: Vec<SchoolId> = dataset.schools.keys().copied().collect();
    let faults = if args.fault_rate > 0.0 {
        FaultPlan::random(args.fault_rate, args.seed)
    } else {
        FaultPlan::none()
    };
    let handle = SimServer::start(SimOptions {
        dataset,
        port: args.port,
        page_size: args.page_size,
        latency: Duration::from_millis(args.latency_ms),
        application_id: args.application_id,
        application_secret: args.application_secret,
        faults,
        ..SimOptions::default()
    })
    .await
    .map_err(|source| SimError::Bind {
        port: args.port,
        source,
    })?;
    println!(
        "Bromcom simulator at {} serving schools {:?}; Ctrl-C stops it",
        handle.base_url(),
        schools
    );
    let waited = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    waited.map_err(SimError::Signal)
}

async fn read_dataset(path: &std::path::Path) -> Result<Dataset, SimError> {
    let error = |message: String| SimError::Data {
        path: path.display().to_string(),
        message,
    };
    let text = tokio::fs::read(path)
        .await
        .map_err(|e| error(e.to_string()))?;
    serde_json::from_slice(&text).map_err(|e| error(e.to_string()))
}

/// `3` is three schools from 20001; `20001,20007` (or `20007,`) are those IDs.
pub fn parse_schools(text: &str) -> Result<Vec<SchoolId>, SimError> {
    let bad = || SimError::Schools(text.to_owned());
    if text.contains(',') {
        let ids: Vec<SchoolId> = text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| part.parse::<SchoolId>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Err(bad());
        }
        Ok(ids)
    } else {
        let count: usize = text.trim().parse().map_err(|_| bad())?;
        if !(1..=100_000).contains(&count) {
            return Err(bad());
        }
        Ok(crate::generator::school_ids(count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schools_as_count_or_list() {
        assert_eq!(parse_schools("3").ok(), Some(vec![20001, 20002, 20003]));
        assert_eq!(parse_schools("20001, 20007").ok(), Some(vec![20001, 20007]));
        assert_eq!(parse_schools("20007,").ok(), Some(vec![20007]));
        assert!(parse_schools("0").is_err());
        assert!(parse_schools("x").is_err());
        assert!(parse_schools(",").is_err());
        assert!(parse_schools("1,b").is_err());
    }
}
