//! The Bromcom simulator: synthetic schools from a seed ([`generator`]), or a dataset from a
//! JSON file ([`dataset`]), served over real HTTP per `shared/bromcom-api.md` ([`server`]) with
//! switchable [`faults`] and churn. Tests, the demo and the benchmark use it; `bromsync sim ...`
//! ([`cli`]) runs it on its own.

pub mod cli;
pub mod dataset;
pub mod faults;
pub mod generator;
pub mod server;

pub use faults::{Fault, FaultPlan, FaultRule, Hits, RandomFaults};
pub use server::{RequestRecord, SimHandle, SimOptions, SimServer};
