//! Unit tests of `decide` and `explain` over whole small schools: the worked examples of
//! docs/eligibility.md one by one, then every rule and every odd input.

mod examples;
mod odd_input;
mod rules;
mod support;
