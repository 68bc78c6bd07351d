//! bromsync: brings a school's roster from Bromcom into Postgres, letting through only the
//! people and classes that the parents'-evening system may show.
//!
//! One school's run is a straight line (see `shared/architecture.md`): the [`bromcom`] client
//! fetches a whole [`snapshot::Snapshot`], [`eligibility`] decides who comes through (a pure
//! function producing a [`roster::Roster`] and [`roster::Exclusions`]), and [`store`] writes the
//! difference into Postgres in one transaction. [`sync`] drives one school's run; [`daemon`]
//! schedules runs for many schools; [`cli`] is what operators type; [`sim`] is the Bromcom
//! simulator that tests, the demo and the benchmark use.

pub mod batch;
pub mod bromcom;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod eligibility;
pub mod roster;
pub mod sim;
pub mod snapshot;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod text;
pub mod why;
