//! One school's run from start to end: fetch everything, decide, then write in one transaction.
