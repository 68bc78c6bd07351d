//! The one integration-test binary: real HTTP against the simulator, real Postgres.

mod check;
mod cli;
mod client;
mod concurrent;
mod daemon;
mod eligibility;
mod export;
mod faults;
mod fixtures;
mod generator;
mod guard;
mod harness;
mod history;
mod hostile;
mod least_privilege;
mod log_capture;
mod metrics;
mod ops_fixture;
mod relay;
mod rooms;
mod secrets;
mod settings;
mod status;
mod support;
mod sync;
mod write_counters;
