//! The one integration-test binary: real HTTP against the simulator, real Postgres.

mod client;
mod eligibility;
mod generator;
mod support;
mod sync;
