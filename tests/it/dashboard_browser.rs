//! The Data Dashboard in a real browser: Debian's Chromium, headless, driven over WebDriver
//! (chromedriver) by a small client of our own, against a real `bromsync run` after real syncs
//! from the simulator. It logs in through the form, sees every school's state, opens a reason
//! group and a record, downloads Export Classes and parses it, presses Sync now and sees the
//! run, reviews and approves a held run and sees the removals and the audit, is refused a form
//! without its CSRF token, logs out, and as a school user cannot reach another school. axe-core
//! runs on every page (no serious or critical violation); each page is saved as a screenshot
//! under target/dashboard-screenshots/.
//!
//! Needs `chromium`, `chromium-driver` and axe-core in target/browser-test/ (scripts/test
//! installs them when missing).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use bromsync::snapshot::SchoolId;
use bromsync::store::DashboardRole;
use serde_json::{Value, json};

use crate::dashboard::user;
use crate::harness::{
    Daemon, count, remove_students, run_binary, stdout, stored_students, wait_count, write_config,
};
use crate::support::{TestDb, generated, start_sim};

const WITHIN: Duration = Duration::from_secs(60);
const HELD: SchoolId = 81;
const PLAIN: SchoolId = 82;
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A WebDriver session on a chromedriver of its own.
struct Browser {
    http: reqwest::Client,
    session: String,
    base: String,
    driver: tokio::process::Child,
    shots: PathBuf,
}

/// The port in chromedriver's "ChromeDriver was started successfully on port N."; the rest
/// of what it prints is drained so that it never blocks on a full pipe.
async fn driver_port(stdout: tokio::process::ChildStdout) -> u16 {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await.expect("chromedriver's output") {
        if let Some(rest) = line.split("started successfully on port ").nth(1) {
            let port = rest.trim_end_matches('.').parse().expect("a port number");
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return port;
        }
    }
    panic!("chromedriver exited without saying its port");
}

impl Browser {
    async fn start(downloads: &Path) -> Browser {
        // Port 0: the driver binds a port the system picks and says which, so no other
        // process can take it between a guess and the bind.
        let mut driver = tokio::process::Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("chromedriver: {e} (scripts/test installs chromium and chromium-driver)")
            });
        let port = tokio::time::timeout(WITHIN, driver_port(driver.stdout.take().unwrap()))
            .await
            .expect("chromedriver says its port in time");
        bromsync::bromcom::install_tls_crypto();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WITHIN;
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                             "--window-size=1280,1100", "--disable-gpu"],
                    "prefs": {
                        "download.default_directory": downloads.to_str().unwrap(),
                        "download.prompt_for_download": false
                    }
                }
            }}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        let shots = root().join("target/dashboard-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            http,
            session,
            base,
            driver,
            shots,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = answer["value"].get("error") {
            panic!("webdriver {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {found}"))
            .to_owned()
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Clicks something that loads a new page, and waits until the new page has loaded (the
    /// old document is marked first, so a form that comes back to the same URL counts too).
    async fn click_to_page(&self, css: &str) {
        self.script("window.bromsyncOldPage = true;").await;
        self.click(css).await;
        let deadline = Instant::now() + WITHIN;
        loop {
            let loaded = self
                .script(
                    "return window.bromsyncOldPage !== true && document.readyState === 'complete';",
                )
                .await;
            if loaded == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "clicking {css} loaded no page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn type_in(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// axe-core on the page as it is: the serious and critical violations, and a screenshot.
    async fn check_page(&self, name: &str) {
        let axe = std::fs::read_to_string(
            root().join("target/browser-test/node_modules/axe-core/axe.min.js"),
        )
        .expect("axe-core in target/browser-test (scripts/test installs it)");
        self.script(&axe).await;
        let violations = self
            .call(
                reqwest::Method::POST,
                "/execute/async",
                Some(
                    json!({"script": "const done = arguments[arguments.length - 1]; \
                    axe.run(document).then(r => done(r.violations \
                      .filter(v => v.impact === 'serious' || v.impact === 'critical') \
                      .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + \
                        v.nodes.map(n => n.target.join(' ')).join(', ')))) \
                      .catch(e => done(['axe failed: ' + e]));", "args": []}),
                ),
            )
            .await;
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), bytes).unwrap();
        assert_eq!(violations, json!([]), "{name}: accessibility violations");
    }

    async fn log_in(&self, site: &str, name: &str, password: &str) {
        self.go(&format!("{site}/login")).await;
        self.type_in("#username", name).await;
        self.type_in("#password", password).await;
        self.click_to_page("form.login button").await;
    }

    /// Reloads `url` until its source contains `needle`.
    async fn until_shows(&self, url: &str, needle: &str) -> String {
        let deadline = Instant::now() + WITHIN;
        loop {
            self.go(url).await;
            let source = self.source().await;
            if source.contains(needle) {
                return source;
            }
            assert!(
                Instant::now() < deadline,
                "{url} never showed {needle}:\n{source}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn quit(mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
        let _ = self.driver.kill().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_fixes_its_data_in_a_real_browser() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(91, &[HELD, PLAIN], 200)).await;
    let dir = tempfile::tempdir().unwrap();
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let config = write_config(
        dir.path(),
        &db.url,
        &sim,
        100_000,
        &[format!("id = {HELD}"), format!("id = {PLAIN}\nsso = true")],
        "[daemon]\nschedule = \"0 0 1 1 *\"\nretry_delays_secs = [1]\ncontrol_poll_secs = 1\n\
         [dashboard]\nlisten = \"127.0.0.1:0\"\n",
    );
    let synced = run_binary(&config, &["sync"], &[]).await;
    assert_eq!(synced.status.code(), Some(0), "{}", stdout(&synced));
    let students = stored_students(&db, HELD).await;
    let leaving: Vec<i64> = students.iter().step_by(4).copied().collect();
    remove_students(&sim, HELD, &leaving);
    let held = run_binary(&config, &["sync", "--school", &HELD.to_string()], &[]).await;
    assert_eq!(held.status.code(), Some(3), "{}", stdout(&held));

    let daemon = Daemon::spawn(&config, &["--log-format", "json", "run"], &[]);
    daemon
        .wait_for("serving the Data Dashboard", 1, WITHIN)
        .await;
    daemon
        .wait_for("listening for control requests", 1, WITHIN)
        .await;
    let ops_password = user(&db, "ops", DashboardRole::Operator, &[]).await;
    let head_password = user(&db, "head", DashboardRole::School, &[PLAIN]).await;
    let site = daemon.dashboard_base().await;
    let browser = Browser::start(&downloads).await;

    // Log in; every school's state, problems first.
    browser.go(&format!("{site}/")).await;
    assert!(browser.url().await.ends_with("/login"));
    browser.check_page("login").await;
    browser.log_in(&site, "ops", &ops_password).await;
    assert_eq!(
        browser.url().await,
        format!("{site}/"),
        "{}",
        browser.source().await
    );
    let schools = browser.source().await;
    let held_at = schools
        .find(&format!("school-{HELD}"))
        .expect("the held school");
    let plain_at = schools.find(&format!("school-{PLAIN}")).expect("the other");
    assert!(held_at < plain_at, "problems first");
    assert!(schools.contains("Held by the removal guard"));
    assert!(schools.contains("Up to date"));
    browser.check_page("schools").await;

    // A school, its reasons, a group, a record.
    browser.click_to_page(&format!("#school-{PLAIN} a")).await;
    assert!(browser.source().await.contains("<svg"));
    browser.check_page("school").await;
    browser
        .go(&format!("{site}/schools/{PLAIN}/excluded"))
        .await;
    browser.check_page("excluded").await;
    browser
        .click("table.groups tbody tr:first-child td:first-child a")
        .await;
    let group = browser.source().await;
    assert!(group.contains("To fix:"), "{group}");
    browser.check_page("excluded-group").await;
    browser
        .click("table.records tbody tr:first-child td:first-child a")
        .await;
    let record = browser.source().await;
    assert!(record.contains("id=\"why\""), "{record}");
    assert!(
        record.contains("fell out") || record.contains("left out"),
        "{record}"
    );
    assert!(record.contains("id=\"history\""));
    browser.check_page("record").await;

    // Export Classes, downloaded by the browser and parsed.
    browser
        .go(&format!("{site}/schools/{PLAIN}/downloads"))
        .await;
    browser.check_page("downloads").await;
    browser.click("ul.downloads li:first-child a").await;
    let file = downloads.join(format!("school-{PLAIN}-classes.csv"));
    let deadline = Instant::now() + WITHIN;
    while !file.exists() {
        assert!(Instant::now() < deadline, "no download in {downloads:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = std::fs::read_to_string(&file).unwrap();
    let mut csv = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    assert_eq!(
        csv.headers().unwrap().iter().collect::<Vec<_>>(),
        bromsync::ops::export::header(bromsync::ops::export::ExportTable::Classes)
    );
    let classes = count(
        db.store.pool(),
        &format!("SELECT count(*) FROM classes WHERE school_id = {PLAIN}"),
    )
    .await;
    assert_eq!(csv.records().count() as i64, classes);

    // Sync now: the new run appears.
    let runs = count(db.store.pool(), "SELECT count(*) FROM sync_runs").await;
    browser.go(&format!("{site}/schools/{PLAIN}")).await;
    browser.click_to_page("form.sync button").await;
    wait_count(
        db.store.pool(),
        "SELECT count(*) FROM sync_runs",
        runs + 1,
        WITHIN,
    )
    .await;
    browser
        .until_shows(&format!("{site}/schools/{PLAIN}"), "<td>request</td>")
        .await;

    // A form without its CSRF token is refused.
    browser
        .script("document.querySelector('form.sync input[name=csrf]').remove();")
        .await;
    browser.click_to_page("form.sync button").await;
    let refused = browser.source().await;
    assert!(refused.contains("security token"), "{refused}");

    // The held school: review, approve, the removals happen, the approval is in the audit.
    browser.go(&format!("{site}/schools/{HELD}")).await;
    browser.click_to_page("a.button").await;
    let review = browser.source().await;
    assert!(
        review.contains(&format!("students: {} to remove", leaving.len())),
        "{review}"
    );
    browser.check_page("review-removals").await;
    browser.click_to_page("form.decide button").await;
    let left: Vec<i64> = students
        .iter()
        .filter(|s| !leaving.contains(s))
        .copied()
        .collect();
    let deadline = Instant::now() + WITHIN;
    while stored_students(&db, HELD).await != left {
        assert!(
            Instant::now() < deadline,
            "the approved removals did not happen"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser
        .until_shows(&format!("{site}/schools/{HELD}"), "removals approved")
        .await;
    browser.go(&format!("{site}/audit")).await;
    let audit = browser.source().await;
    assert!(audit.contains("<td>approve</td>"), "{audit}");
    assert!(audit.contains("<td>download</td>"));
    assert!(audit.contains("<td>resync</td>"));
    browser.check_page("audit").await;

    // Logout ends the session.
    browser.click_to_page("form.logout button").await;
    assert!(browser.url().await.ends_with("/login"));
    browser.go(&format!("{site}/")).await;
    assert!(browser.url().await.ends_with("/login"));

    // A school user reaches neither another school's pages nor its downloads.
    browser.log_in(&site, "head", &head_password).await;
    let home = browser.source().await;
    assert!(home.contains(&format!("school-{PLAIN}")));
    assert!(!home.contains(&format!("school-{HELD}")));
    for path in [
        format!("/schools/{HELD}"),
        format!("/schools/{HELD}/excluded"),
        format!("/schools/{HELD}/downloads/classes.csv"),
    ] {
        browser.go(&format!("{site}{path}")).await;
        assert!(browser.source().await.contains("not found"), "{path}");
    }
    browser.quit().await;
    drop(daemon);
}
