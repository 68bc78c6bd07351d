//! The one integration-test binary: real HTTP against the simulator, real Postgres.

mod check;
mod cli;
mod client;
mod concurrent;
mod control;
mod daemon;
mod eligibility;
mod export;
mod faults;
mod generator;
mod guard;
mod harness;
mod history;
mod hostile;
mod least_privilege;
mod metrics;
mod ops_fixture;
mod relay;
mod secrets;
mod status;
mod support;
mod sync;
mod write_counters;
