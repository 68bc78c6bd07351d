//! The one integration-test binary: real HTTP against the simulator, real Postgres.

mod cli;
mod client;
mod daemon;
mod eligibility;
mod generator;
mod support;
mod sync;
