//! The Bromcom simulator: synthetic schools from a seed, or a dataset from a JSON file, served
//! over real HTTP per `shared/bromcom-api.md`, with switchable faults and churn.
