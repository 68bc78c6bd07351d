//! Mistakes in the configuration file that must stop the binary before it runs anything: a
//! misspelt key inside a school's own section (which would otherwise run that school silently
//! on the defaults), and a removal guard's `max_fraction` outside 0..=1 (10 would let a run
//! remove everything, read as 1000%), globally or per school.

use std::process::Output;

use crate::harness::{clean_command, stderr, write_config_text};
use crate::support::server_url;

const BASE: &str = "[database]\nurl = \"DB\"\n\
    [bromcom]\nbase_url = \"http://127.0.0.1:1\"\napplication_id = \"a\"\napplication_secret = \"b\"\n";

/// `bromsync --config FILE sync` with `text` (after `BASE`) as the file. The database named
/// does not exist: a configuration that passes fails later on it, with exit 1, not 2.
fn sync_with(extra: &str) -> Output {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = format!("{}/bromsync_no_such_database", server_url());
    let path = write_config_text(dir.path(), &format!("{}{extra}", BASE.replace("DB", &db)));
    clean_command()
        .arg("--config")
        .arg(&path)
        .arg("sync")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap_or_else(|e| panic!("run bromsync: {e}"))
}

fn refused_naming(extra: &str, key: &str) {
    let output = sync_with(extra);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{extra}: {message}");
    assert!(
        message.contains(key),
        "{extra}: `{key}` not named: {message}"
    );
}

#[test]
fn a_misspelt_key_in_a_school_section_is_refused_by_name() {
    // The correct spelling passes the configuration (and fails on the missing database).
    let good = sync_with("[[schools]]\nid = 1\n[schools.removal_guard]\nmax_fraction = 0.5\n");
    assert_eq!(good.status.code(), Some(1), "{}", stderr(&good));
    refused_naming(
        "[[schools]]\nid = 1\n[schools.removal_gaurd]\nmax_fraction = 0.5\n",
        "removal_gaurd",
    );
    refused_naming(
        "[[schools]]\nid = 1\ntimezon = \"Europe/London\"\n",
        "timezon",
    );
    refused_naming(
        "[[schools]]\nid = 1\n[schools.removal_guard]\nmax_fractoin = 0.5\n",
        "max_fractoin",
    );
}

#[test]
fn a_removal_guard_fraction_outside_zero_to_one_is_refused() {
    for bad in ["10", "1.5", "-0.1", "nan"] {
        refused_naming(
            &format!("[sync.removal_guard]\nmax_fraction = {bad}\n[[schools]]\nid = 1\n"),
            "sync.removal_guard.max_fraction",
        );
        refused_naming(
            &format!("[[schools]]\nid = 1\n[schools.removal_guard]\nmax_fraction = {bad}\n"),
            "schools[0].removal_guard.max_fraction",
        );
    }
    for good in ["0", "0.1", "1"] {
        let output = sync_with(&format!(
            "[sync.removal_guard]\nmax_fraction = {good}\n[[schools]]\nid = 1\n"
        ));
        assert_eq!(output.status.code(), Some(1), "{good}: {}", stderr(&output));
    }
}
