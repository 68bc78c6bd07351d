//! `bromsync user add|remove|list|reset`, as the real binary: the one-time password printed
//! once and stored only as an argon2id hash that it verifies against; names taken, schools not
//! configured and roles without schools refused; a reset that ends the user's sessions.

use bromsync::web::auth;

use crate::harness::{run_binary, stderr, stdout, write_config};
use crate::support::{TestDb, generated, start_sim};

/// The password at the end of `add`'s or `reset`'s line.
fn printed_password(out: &str) -> String {
    let marker = "shown only now: ";
    let start = out
        .find(marker)
        .unwrap_or_else(|| panic!("no password in {out:?}"))
        + marker.len();
    out[start..]
        .split_whitespace()
        .next()
        .expect("a password")
        .to_owned()
}

async fn stored_hash(db: &TestDb, username: &str) -> String {
    sqlx::query_scalar("SELECT password_hash FROM dashboard_users WHERE username = $1")
        .bind(username)
        .fetch_one(db.store.pool())
        .await
        .expect("the user's row")
}

#[tokio::test]
async fn users_are_added_listed_reset_and_removed_from_the_command_line() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(7, &[61, 62], 5)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &db.url,
        &sim,
        100_000,
        &["id = 61".to_owned(), "id = 62".to_owned()],
        "",
    );

    let added = run_binary(&config, &["user", "add", "ops", "--role", "operator"], &[]).await;
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
    let password = printed_password(&stdout(&added));
    let hash = stored_hash(&db, "ops").await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(&password));
    assert!(auth::verify_password(&password, &hash));

    let school = run_binary(
        &config,
        &[
            "user", "add", "head61", "--role", "school", "--school", "61",
        ],
        &[],
    )
    .await;
    assert_eq!(school.status.code(), Some(0), "{}", stderr(&school));

    // Refused: a taken name, a school user without a school, an operator with one, a school
    // that is not configured. Nothing is added by any of them.
    for args in [
        &["user", "add", "ops", "--role", "operator"][..],
        &["user", "add", "x", "--role", "school"][..],
        &["user", "add", "y", "--role", "operator", "--school", "61"][..],
        &["user", "add", "z", "--role", "school", "--school", "99"][..],
        &["user", "add", "with space", "--role", "operator"][..],
    ] {
        let refused = run_binary(&config, args, &[]).await;
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{args:?}: {}",
            stdout(&refused)
        );
        assert!(!stderr(&refused).is_empty());
    }

    let list = run_binary(&config, &["user", "list"], &[]).await;
    assert_eq!(list.status.code(), Some(0));
    assert_eq!(
        stdout(&list),
        "head61\tschool\tschool 61\nops\toperator\tevery school\n"
    );

    // A reset: a new password, the old one no longer verifies, and sessions end.
    let user_id: i64 =
        sqlx::query_scalar("SELECT user_id FROM dashboard_users WHERE username = 'ops'")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    db.store
        .dashboard_session_create(
            &auth::token_hash("t"),
            user_id,
            "c",
            chrono::Utc::now() + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    let reset = run_binary(&config, &["user", "reset", "ops"], &[]).await;
    assert_eq!(reset.status.code(), Some(0), "{}", stderr(&reset));
    let new_password = printed_password(&stdout(&reset));
    assert_ne!(new_password, password);
    let hash = stored_hash(&db, "ops").await;
    assert!(auth::verify_password(&new_password, &hash));
    assert!(!auth::verify_password(&password, &hash));
    assert!(
        db.store
            .dashboard_session(&auth::token_hash("t"))
            .await
            .unwrap()
            .is_none()
    );

    let removed = run_binary(&config, &["user", "remove", "head61"], &[]).await;
    assert_eq!(removed.status.code(), Some(0));
    let again = run_binary(&config, &["user", "remove", "head61"], &[]).await;
    assert_eq!(again.status.code(), Some(1));
    let list = run_binary(&config, &["user", "list"], &[]).await;
    assert_eq!(stdout(&list), "ops\toperator\tevery school\n");
}
