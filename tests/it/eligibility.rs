//! Integration tests: eligibility.
