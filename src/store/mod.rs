//! The Postgres store: migrations, reading what a school has, writing the difference in one
//! transaction, run records and the single-runner lock. Nothing else in the program writes SQL.
