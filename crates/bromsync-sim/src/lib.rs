//! The Bromcom simulator: synthetic schools from a seed ([`generator`]), measured by [`shape`]
//! and changed between runs by [`churn`], or a dataset from a JSON file ([`dataset`]), served
//! over real HTTP per `docs/bromcom-api.md` ([`server`]) with switchable [`faults`]. Tests,
//! the demo and the benchmark use it; `bromsync sim ...` ([`cli`]) runs it on its own.

pub mod churn;
pub mod cli;
pub mod dataset;
pub mod faults;
pub mod generator;
pub mod server;
pub mod shape;

pub use faults::{Fault, FaultPlan, FaultRule, Hits, RandomFaults};
pub use server::{RequestRecord, SimHandle, SimOptions, SimServer};
