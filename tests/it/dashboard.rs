//! The Data Dashboard over plain HTTP (reqwest), after real syncs from the simulator: login and
//! logout, the session and login cookies' flags, CSRF refused, failed logins slowed then locked,
//! a school user's 404 on another school, every page's security headers, the pages' content
//! (the state, the runs' chart, the groups with their fixes, a record's why and history), the
//! Export Classes download (parsed, and audited), and no personal data in any URL.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bromsync::config::Settings;
use bromsync::snapshot::SchoolId;
use bromsync::store::DashboardRole;
use bromsync::web::{self, auth};
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::harness::{run_once, write_config};
use crate::support::{TestDb, client_for, generated, start_sim, succeeded};

const OURS: SchoolId = 71;
const THEIRS: SchoolId = 72;

/// A browser of our own: one cookie jar, redirects not followed (the tests look at them).
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub cookies: BTreeMap<String, String>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Browser {
    pub fn new(base: String) -> Browser {
        bromsync::bromcom::install_tls_crypto();
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base,
            cookies: BTreeMap::new(),
        }
    }

    fn jar(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, response: reqwest::Response) -> Answer {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let value = value.to_str().unwrap();
            let (pair, _) = value.split_once(';').unwrap_or((value, ""));
            let (name, cookie) = pair.split_once('=').unwrap();
            if cookie.is_empty() || value.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), cookie.to_owned());
            }
        }
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.jar())
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.jar())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    /// Logs in through the form, as a person would.
    pub async fn log_in(&mut self, username: &str, password: &str) -> Answer {
        let form = self.get("/login").await;
        let csrf = csrf_of(&form.body);
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }
}

/// The hidden CSRF field of the page's first form.
pub fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no csrf field in {page}"));
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Every `href` of a page.
pub fn links(page: &str) -> Vec<String> {
    page.split("href=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].replace("&amp;", "&"))
        .collect()
}

pub struct Site {
    pub db: TestDb,
    pub base: String,
    pub stop: CancellationToken,
    pub settings: Settings,
    pub _sim: bromsync_sim::server::SimHandle,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Two schools synced from the simulator and the dashboard serving them; `extra` goes into the
/// configuration's `[dashboard]` section.
pub async fn site(dir: &Path, extra: &str) -> Site {
    let db = TestDb::new().await;
    let sim = start_sim(generated(11, &[OURS, THEIRS], 60)).await;
    let client = client_for(&sim);
    for school in [OURS, THEIRS] {
        succeeded(run_once(&db, &client, school).await.expect("the run"));
    }
    let config = write_config(
        dir,
        &db.url,
        &sim,
        100_000,
        &[format!("id = {OURS}\nsso = true"), format!("id = {THEIRS}")],
        &format!("[dashboard]\nlisten = \"127.0.0.1:0\"\n{extra}"),
    );
    let settings = bromsync::config::load(&config).expect("the configuration loads");
    let listener = bromsync::http::bind(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    web::serve(
        listener,
        settings.dashboard.limits(),
        Arc::new(web::Dashboard {
            settings: Arc::new(settings.clone()),
            store: web::fixed_store(db.store.clone()),
        }),
        stop.clone(),
    );
    Site {
        db,
        base,
        stop,
        settings,
        _sim: sim,
    }
}

/// Adds a user straight through the store; returns the password.
pub async fn user(db: &TestDb, name: &str, role: DashboardRole, schools: &[SchoolId]) -> String {
    let password = auth::one_time_password();
    let hash = auth::hash_password(&password).unwrap();
    db.store
        .dashboard_user_add(name, role, schools, &hash)
        .await
        .unwrap()
        .expect("a new user");
    password
}

async fn audit_actions(db: &TestDb) -> Vec<(String, String)> {
    sqlx::query_as("SELECT username, action FROM dashboard_audit ORDER BY audit_id")
        .fetch_all(db.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn login_sets_a_strict_cookie_csrf_is_checked_and_logout_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path(), "").await;
    let password = user(&site.db, "ops", DashboardRole::Operator, &[]).await;
    let mut browser = Browser::new(site.base.clone());

    // Nothing without a session: pages send to the login, forms are refused.
    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.headers["location"], "/login");
    assert_eq!(
        browser.post("/logout", &[("csrf", "x")]).await.status,
        StatusCode::FORBIDDEN
    );

    // A login form posted without its token (or with another) is refused.
    browser.get("/login").await;
    let forged = browser
        .post(
            "/login",
            &[
                ("csrf", "forged"),
                ("username", "ops"),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!browser.cookies.contains_key("bromsync_session"));

    // The form on screen stays good while the browser, logged out, fetches something else (its
    // favicon) and is sent to the login page for it: the token it holds is kept.
    let form = browser.get("/login").await;
    let on_screen = csrf_of(&form.body);
    let favicon = browser.get("/favicon.ico").await;
    assert_eq!(favicon.headers["location"], "/login");
    browser.get("/login").await;
    let login = browser
        .post(
            "/login",
            &[
                ("csrf", &on_screen),
                ("username", "ops"),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
    let set_cookie: Vec<&str> = login
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("bromsync_session="))
        .expect("a session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(
        !session.contains("Secure"),
        "plain http public URL: {session}"
    );
    let token = browser.cookies["bromsync_session"].clone();
    assert_eq!(token.len(), 64);
    // Only the token's hash is stored.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM dashboard_sessions")
        .fetch_all(site.db.store.pool())
        .await
        .unwrap();
    assert_eq!(stored, vec![auth::token_hash(&token)]);

    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.body.contains(&format!("School {OURS}")),
        "{}",
        home.body
    );
    assert!(home.body.contains(&format!("School {THEIRS}")));
    assert!(home.body.contains("Up to date"));
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(home.headers["cache-control"], "no-store");
    assert_eq!(home.headers["x-frame-options"], "DENY");
    assert!(!home.body.contains("<script"));
    assert!(!home.body.contains("style="));

    // A form without the session's token, or with the login form's, is refused; the session
    // stays.
    for csrf in ["", "0123"] {
        let refused = browser.post("/logout", &[("csrf", csrf)]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(browser.get("/").await.status, StatusCode::OK);

    let csrf = csrf_of(&home.body);
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!browser.cookies.contains_key("bromsync_session"));
    // The old token no longer works, even if a copy was kept.
    browser.cookies.insert("bromsync_session".into(), token);
    assert_eq!(browser.get("/").await.status, StatusCode::SEE_OTHER);

    let actions = audit_actions(&site.db).await;
    assert_eq!(
        actions,
        vec![
            ("ops".to_owned(), "login".to_owned()),
            ("ops".to_owned(), "logout".to_owned())
        ]
    );
}

#[tokio::test]
async fn failed_logins_are_slowed_then_locked_even_for_the_right_password() {
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path(), "lock_after_failures = 4\nlockout_secs = 600").await;
    let password = user(&site.db, "head", DashboardRole::School, &[OURS]).await;
    let mut browser = Browser::new(site.base.clone());
    let mut took = Vec::new();
    for _ in 0..4 {
        let started = Instant::now();
        let wrong = browser.log_in("head", "not-the-password").await;
        took.push(started.elapsed());
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.body.contains("Wrong name or password"));
    }
    // The first two answer at once; from the third each waits longer.
    assert!(took[0] < Duration::from_millis(900), "{took:?}");
    assert!(took[2] >= Duration::from_secs(1), "{took:?}");
    assert!(took[3] >= Duration::from_secs(2), "{took:?}");
    let locked = browser.log_in("head", &password).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!browser.cookies.contains_key("bromsync_session"));
    // Another name is not locked by these.
    let other = user(&site.db, "other", DashboardRole::School, &[OURS]).await;
    assert_eq!(
        browser.log_in("other", &other).await.status,
        StatusCode::SEE_OTHER
    );
    // A reset lifts the lock.
    site.db
        .store
        .dashboard_user_reset("head", &auth::hash_password("new-one").unwrap())
        .await
        .unwrap();
    let mut again = Browser::new(site.base.clone());
    assert_eq!(
        again.log_in("head", "new-one").await.status,
        StatusCode::SEE_OTHER
    );
    let actions = audit_actions(&site.db).await;
    assert_eq!(
        actions.iter().filter(|(_, a)| a == "login failed").count(),
        4
    );
    assert!(actions.contains(&("head".to_owned(), "login refused (locked)".to_owned())));

    // A password typed into the name field is kept nowhere: the audit says "(unknown name)"
    // and the failure count is kept under the name's digest.
    let typed = "Secret-Typed-Into-The-Name-Field";
    assert_eq!(
        Browser::new(site.base.clone())
            .log_in(typed, "x")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let actions = audit_actions(&site.db).await;
    assert!(actions.contains(&("(unknown name)".to_owned(), "login failed".to_owned())));
    let kept: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM dashboard_audit WHERE strpos(username || detail, $1) > 0) \
              + (SELECT count(*) FROM dashboard_login_failures \
                 WHERE strpos(encode(name_digest, 'escape'), $1) > 0)",
    )
    .bind(typed)
    .fetch_one(site.db.store.pool())
    .await
    .unwrap();
    assert_eq!(kept, 0);

    // Failures older than the window are let go by the next failed login, unless the name is
    // still locked: the table does not grow with every name ever tried.
    let pool = site.db.store.pool();
    sqlx::query(
        "INSERT INTO dashboard_login_failures (name_digest, failures, last_failed_at, locked_until) \
         VALUES ('stale', 2, now() - interval '11 minutes', NULL), \
                ('stale and locked', 4, now() - interval '11 minutes', now() + interval '1 minute')",
    )
    .execute(pool)
    .await
    .unwrap();
    Browser::new(site.base.clone()).log_in("someone", "x").await;
    let left: Vec<String> = sqlx::query_scalar(
        "SELECT convert_from(name_digest, 'UTF8') FROM dashboard_login_failures \
         WHERE name_digest IN ('stale', 'stale and locked')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(left, ["stale and locked"]);
}

#[tokio::test]
async fn a_school_user_gets_404_for_another_schools_pages_and_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path(), "").await;
    let password = user(&site.db, "head", DashboardRole::School, &[OURS]).await;
    let mut browser = Browser::new(site.base.clone());
    assert_eq!(
        browser.log_in("head", &password).await.status,
        StatusCode::SEE_OTHER
    );
    let home = browser.get("/").await;
    assert!(home.body.contains(&format!("School {OURS}")));
    assert!(!home.body.contains(&format!("School {THEIRS}")));
    for path in [
        format!("/schools/{THEIRS}"),
        format!("/schools/{THEIRS}/excluded"),
        format!("/schools/{THEIRS}/excluded/student/no_consent"),
        format!("/schools/{THEIRS}/records/student/1"),
        format!("/schools/{THEIRS}/downloads"),
        format!("/schools/{THEIRS}/downloads/classes.csv"),
        "/schools/99/downloads/classes.csv".to_owned(),
        "/audit".to_owned(),
    ] {
        let answer = browser.get(&path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Their own school answers.
    assert_eq!(
        browser.get(&format!("/schools/{OURS}")).await.status,
        StatusCode::OK
    );
    // Until the session expires.
    sqlx::query("UPDATE dashboard_sessions SET expires_at = now() - interval '1 second'")
        .execute(site.db.store.pool())
        .await
        .unwrap();
    let expired = browser.get(&format!("/schools/{OURS}")).await;
    assert_eq!(expired.status, StatusCode::SEE_OTHER);
    assert_eq!(expired.headers["location"], "/login");
    browser.log_in("head", &password).await;
    assert_eq!(
        browser
            .get(&format!("/schools/{OURS}/downloads/classes.csv"))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_pages_show_state_runs_groups_records_and_export_classes_without_pii_in_urls() {
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path(), "").await;
    let password = user(&site.db, "ops", DashboardRole::Operator, &[]).await;
    let mut browser = Browser::new(site.base.clone());
    browser.log_in("ops", &password).await;
    let mut visited = Vec::new();

    let school = browser.get(&format!("/schools/{OURS}")).await;
    assert_eq!(school.status, StatusCode::OK);
    assert!(school.body.contains("<svg"), "a chart");
    assert!(school.body.contains("Up to date"));
    assert!(school.body.contains("Without an email (single sign-on)"));
    visited.push(school.body.clone());

    // What didn't come through: groups largest first, each with its fix.
    let excluded = browser.get(&format!("/schools/{OURS}/excluded")).await;
    assert_eq!(excluded.status, StatusCode::OK);
    let groups: Vec<String> = links(&excluded.body)
        .into_iter()
        .filter(|l| l.starts_with(&format!("/schools/{OURS}/excluded/")))
        .collect();
    assert!(!groups.is_empty(), "the generated school has exclusions");
    let exclusions = site.db.store.load_exclusions(OURS).await.unwrap();
    let first = &groups[0];
    let (entity, reason) = {
        let parts: Vec<&str> = first.rsplitn(3, '/').collect();
        (parts[1].to_owned(), parts[0].to_owned())
    };
    let in_group: Vec<i64> = exclusions
        .iter()
        .filter(|e| e.entity.as_str() == entity && e.reasons.iter().any(|r| r.as_str() == reason))
        .map(|e| e.id)
        .collect();
    let largest = exclusions
        .iter()
        .flat_map(|e| e.reasons.iter().map(move |r| (e.entity, *r)))
        .fold(BTreeMap::<_, usize>::new(), |mut counts, key| {
            *counts.entry(key).or_default() += 1;
            counts
        })
        .into_values()
        .max()
        .unwrap();
    assert_eq!(in_group.len(), largest, "the first group is the largest");
    let fix = bromsync::web::fixes::fix(bromsync::roster::Reason::parse(&reason).unwrap());
    assert!(excluded.body.contains(fix.fix) || excluded.body.contains(&html_escaped(fix.fix)));
    visited.push(excluded.body.clone());

    let group = browser.get(first).await;
    assert_eq!(group.status, StatusCode::OK);
    let record_links: Vec<String> = links(&group.body)
        .into_iter()
        .filter(|l| l.starts_with(&format!("/schools/{OURS}/records/{entity}/")))
        .collect();
    let linked: Vec<i64> = record_links
        .iter()
        .map(|l| l.rsplit('/').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(linked, in_group, "every record of the group, by Bromcom ID");
    visited.push(group.body.clone());

    let record = browser.get(&record_links[0]).await;
    assert_eq!(record.status, StatusCode::OK);
    let why = bromsync::why::answer(
        &site.db.store,
        OURS,
        bromsync::roster::ExcludedEntity::parse(&entity).unwrap(),
        in_group[0],
    )
    .await
    .unwrap();
    assert!(record.body.contains(&html_escaped(&why)), "{}", record.body);
    visited.push(record.body.clone());

    // A student who came through: the why, the history (added by the first run), the classes.
    let student: i64 =
        sqlx::query_scalar("SELECT min(student_id) FROM class_students WHERE school_id = $1")
            .bind(OURS)
            .fetch_one(site.db.store.pool())
            .await
            .unwrap();
    let searched = browser
        .get(&format!(
            "/schools/{OURS}/record?entity=student&id={student}"
        ))
        .await;
    assert_eq!(searched.status, StatusCode::SEE_OTHER);
    let location = searched.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!("/schools/{OURS}/records/student/{student}")
    );
    let page = browser.get(&location).await;
    assert!(page.body.contains("comes through"), "{}", page.body);
    assert!(page.body.contains("<td>added</td>"), "{}", page.body);
    assert!(page.body.contains("/records/class/"), "its classes");
    visited.push(page.body.clone());

    let downloads = browser.get(&format!("/schools/{OURS}/downloads")).await;
    let files: Vec<String> = links(&downloads.body)
        .into_iter()
        .filter(|l| l.contains("/downloads/"))
        .collect();
    assert_eq!(files.len(), 5);
    assert!(files[0].ends_with("/classes.csv"), "Export Classes first");
    let csv = browser.get(&files[0]).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let mut reader = csv::Reader::from_reader(csv.body.trim_start_matches('\u{feff}').as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        bromsync::ops::export::header(bromsync::ops::export::ExportTable::Classes)
    );
    let classes: i64 = sqlx::query_scalar("SELECT count(*) FROM classes WHERE school_id = $1")
        .bind(OURS)
        .fetch_one(site.db.store.pool())
        .await
        .unwrap();
    assert_eq!(reader.records().count() as i64, classes);
    visited.push(downloads.body.clone());

    let audit = browser.get("/audit").await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(audit.body.contains("download"), "{}", audit.body);
    assert!(audit.body.contains("classes.csv"));

    // No name, email or phone of the roster in any URL the pages link to.
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT first_name FROM students WHERE school_id = $1 \
         UNION SELECT last_name FROM students WHERE school_id = $1 \
         UNION SELECT last_name FROM parents WHERE school_id = $1 \
         UNION SELECT coalesce(email, '') FROM parents WHERE school_id = $1",
    )
    .bind(OURS)
    .fetch_all(site.db.store.pool())
    .await
    .unwrap();
    for page in &visited {
        for link in links(page) {
            for name in names.iter().filter(|n| n.len() >= 3) {
                assert!(!link.contains(name.as_str()), "{link} holds {name}");
            }
            assert!(
                link.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)),
                "{link}"
            );
        }
    }
    let _ = &site.settings;
}

fn html_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_and_an_approval_are_served_by_the_daemon_and_audited() {
    use crate::harness::{
        Daemon, remove_students, run_binary, stdout, stored_students, wait_count,
    };
    const WITHIN: Duration = Duration::from_secs(60);
    let db = TestDb::new().await;
    let school: SchoolId = 73;
    let sim = start_sim(generated(74, &[school], 300)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &db.url,
        &sim,
        100_000,
        &[format!("id = {school}")],
        "[daemon]\nschedule = \"0 0 1 1 *\"\nretry_delays_secs = [1]\ncontrol_poll_secs = 1\n\
         [dashboard]\nlisten = \"127.0.0.1:0\"\n",
    );
    let id = school.to_string();
    assert_eq!(
        run_binary(&config, &["sync", "--school", &id], &[])
            .await
            .status
            .code(),
        Some(0)
    );
    let students = stored_students(&db, school).await;
    let leaving: Vec<i64> = students.iter().step_by(4).copied().collect();
    remove_students(&sim, school, &leaving);
    let refused = run_binary(&config, &["sync", "--school", &id], &[]).await;
    assert_eq!(refused.status.code(), Some(3), "{}", stdout(&refused));

    let daemon = Daemon::spawn(&config, &["--log-format", "json", "run"], &[]);
    daemon
        .wait_for("serving the Data Dashboard", 1, WITHIN)
        .await;
    daemon
        .wait_for("listening for control requests", 1, WITHIN)
        .await;
    let password = user(&db, "head", DashboardRole::School, &[school]).await;
    let base = daemon.dashboard_base().await;
    let mut browser = Browser::new(base.clone());
    assert_eq!(
        browser.log_in("head", &password).await.status,
        StatusCode::SEE_OTHER
    );

    let page = browser.get(&format!("/schools/{school}")).await;
    assert!(
        page.body.contains("Held by the removal guard"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("/schools/{school}/removals")));
    let review = browser.get(&format!("/schools/{school}/removals")).await;
    assert!(
        review
            .body
            .contains(&format!("students: {} to remove", leaving.len())),
        "{}",
        review.body
    );
    for gone in &leaving {
        assert!(
            review.body.contains(&gone.to_string()),
            "student {gone} listed"
        );
    }
    let refused_run: i64 = sqlx::query_scalar("SELECT max(run_id) FROM sync_runs")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    let csrf = csrf_of(&review.body);
    let run = refused_run.to_string();
    // Without the form's token: refused, nothing decided.
    let forged = browser
        .post(
            &format!("/schools/{school}/removals/approve"),
            &[("run", &run)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let approved = browser
        .post(
            &format!("/schools/{school}/removals/approve"),
            &[("csrf", &csrf), ("run", &run)],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    let pool = db.store.pool();
    wait_count(
        pool,
        "SELECT count(*) FROM control_requests WHERE done_at IS NOT NULL",
        1,
        WITHIN,
    )
    .await;
    let left: Vec<i64> = students
        .iter()
        .filter(|s| !leaving.contains(s))
        .copied()
        .collect();
    assert_eq!(
        stored_students(&db, school).await,
        left,
        "the removals happened"
    );
    let decided_by: String =
        sqlx::query_scalar("SELECT decided_by FROM removal_approvals WHERE run_id = $1")
            .bind(refused_run)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(decided_by, "dashboard:head");
    let page = browser.get(&format!("/schools/{school}")).await;
    assert!(
        page.body.contains("succeeded (removals approved)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Up to date"));

    // Sync now: a request, served by the daemon; the new run appears on the page.
    let runs = crate::harness::count(pool, "SELECT count(*) FROM sync_runs").await;
    let csrf = csrf_of(&page.body);
    let pressed = browser
        .post(&format!("/schools/{school}/sync"), &[("csrf", &csrf)])
        .await;
    assert_eq!(pressed.status, StatusCode::SEE_OTHER);
    wait_count(pool, "SELECT count(*) FROM sync_runs", runs + 1, WITHIN).await;
    let newest: i64 = sqlx::query_scalar("SELECT max(run_id) FROM sync_runs")
        .fetch_one(pool)
        .await
        .unwrap();
    let page = browser.get(&format!("/schools/{school}")).await;
    assert!(
        page.body
            .contains(&format!("<td>{newest}</td><td>request</td>")),
        "{}",
        page.body
    );

    // Both are in the audit, which an operator reads.
    let operator = user(&db, "ops", DashboardRole::Operator, &[]).await;
    let mut ops = Browser::new(base);
    ops.log_in("ops", &operator).await;
    let audit = ops.get("/audit").await;
    assert!(audit.body.contains("<td>approve</td>"), "{}", audit.body);
    assert!(audit.body.contains("<td>resync</td>"));
    assert!(audit.body.contains(&format!("run {refused_run}")));
    drop(daemon);
}
