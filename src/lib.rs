//! bromsync: brings a school's roster from Bromcom into Postgres, letting through only the
//! people and classes that the parents'-evening system may show.
//!
//! One school's run is a straight line (see `docs/architecture.md`): the [`bromcom`] client
//! fetches a whole [`snapshot::Snapshot`], [`eligibility`] decides who comes through (a pure
//! function producing a [`roster::Roster`] and [`roster::Exclusions`]), and [`store`] writes the
//! difference into Postgres in one transaction. [`sync`] drives one school's run; [`daemon`]
//! schedules runs for many schools, and [`control`] lets operators reach every daemon sharing a
//! database (resync requests, approvals of held removals); [`why`] answers for a record from
//! what the store holds; [`ops`] holds the operator views (export, status, check, history);
//! [`http`] is the daemon's health and [`metrics`] server; [`cli`] is what operators type, and
//! nothing below it imports it.
//!
//! The Bromcom simulator that tests, the demo and the benchmarks use is the workspace crate
//! `bromsync-sim`, reached only through the default feature `sim` (`bromsync sim`, `bromsync
//! demo`); `--no-default-features` builds a production binary without it.

pub mod batch;
pub mod bromcom;
pub mod cli;
pub mod clip;
pub mod config;
pub mod control;
pub mod daemon;
#[cfg(feature = "sim")]
pub mod demo;
pub mod eligibility;
pub mod exit;
pub mod failure;
pub mod http;
pub mod limit;
pub mod metrics;
pub mod ops;
pub mod report;
pub mod roster;
pub mod schedule;
pub mod snapshot;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod text;
pub mod trigger;
pub mod web;
pub mod why;
