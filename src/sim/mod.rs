//! The Bromcom simulator: synthetic schools from a seed ([`generator`]), measured by [`shape`]
//! and changed between runs by [`churn`], or a dataset from a
//! JSON file ([`dataset`]), served over real HTTP per `shared/bromcom-api.md` ([`server`]) with
//! switchable faults and churn. Tests, the demo and the benchmark use it; `bromsync sim ...`
//! runs it on its own.

pub mod churn;
pub mod dataset;
pub mod generator;
pub mod server;
pub mod shape;
