//! The one integration-test binary: real HTTP against the simulator, real Postgres.

mod cli;
mod client;
mod concurrent;
mod daemon;
mod eligibility;
mod faults;
mod generator;
mod guard;
mod harness;
mod hostile;
mod secrets;
mod support;
mod sync;
