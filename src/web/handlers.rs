//! What each page and form does: login and logout (slowed, then locked, after failed logins),
//! the schools, a school, what didn't come through, a record, downloads and the audit list.
//! Each reads through the operators' views and the store; each school's page first asks
//! whether this user is given the school (a 404 if not).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use hyper::StatusCode;
use hyper::header::{self, HeaderValue};

use super::auth;
use super::pages::{self, GroupRow, SchoolRow, State};
use super::reply::{
    Answer, Call, Dashboard, Failure, LOGIN_COOKIE, SESSION_COOKIE, cookie, html, is_operator,
    redirect,
};
use crate::config::SchoolSettings;
use crate::ops::export::{Cells, ExportTable};
use crate::roster::{ExcludedEntity, Reason};
use crate::snapshot::SchoolId;
use crate::store::{DashboardSession, Decision, Store, StoredExclusion};

/// Failures in a row from which each further failed login is answered more slowly.
const SLOW_FROM: u32 = 3;
/// The longest a failed login is held back.
const SLOWEST: Duration = Duration::from_secs(5);
/// How the audit names a login attempt for a name that is no user's.
const UNKNOWN_NAME: &str = "(unknown name)";
/// How many runs the school page lists and charts.
const RUNS_SHOWN: i64 = 40;
/// How many IDs a group page lists (the rest are counted).
const IDS_SHOWN: usize = 5000;

pub struct Context<'a> {
    pub dashboard: &'a Dashboard,
    pub store: &'a Store,
    pub session: &'a DashboardSession,
    pub call: &'a Call,
}

impl Context<'_> {
    fn page(&self, title: &str, body: maud::Markup) -> Answer {
        html(
            StatusCode::OK,
            pages::layout(title, Some(self.session), body),
        )
    }

    /// The school, if it is configured and this user is given it.
    fn school(&self, id: &str) -> Result<&SchoolSettings, Failure> {
        let id: SchoolId = id.parse().map_err(|_| Failure::NotFound)?;
        if !self.session.user.may_see(id) {
            return Err(Failure::NotFound);
        }
        self.dashboard.settings.school(id).ok_or(Failure::NotFound)
    }

    async fn audit(&self, action: &str, school: Option<SchoolId>, detail: &str) {
        if let Err(e) = self
            .store
            .dashboard_audit(&self.session.user.username, action, school, detail)
            .await
        {
            tracing::warn!(
                user_id = self.session.user.user_id,
                "dashboard: the audit record of {action} failed: {e}"
            );
        }
    }
}

pub async fn route(cx: &Context<'_>, path: &[&str]) -> Result<Answer, Failure> {
    use hyper::Method;
    match (&cx.call.method, path) {
        (&Method::GET, []) => schools(cx).await,
        (&Method::POST, ["logout"]) => logout(cx).await,
        (&Method::GET, ["audit"]) if is_operator(cx.session) => audit_list(cx).await,
        (&Method::GET, ["schools", id]) => school(cx, cx.school(id)?).await,
        (&Method::GET, ["schools", id, "record"]) => {
            let school = cx.school(id)?;
            let entity = cx.call.param("entity").unwrap_or("student");
            let record = cx.call.param("id").unwrap_or("").trim();
            match (ExcludedEntity::parse(entity), record.parse::<i64>()) {
                (Some(entity), Ok(record)) => Ok(redirect(&format!(
                    "/schools/{}/records/{entity}/{record}",
                    school.id
                ))),
                _ => Ok(redirect(&format!("/schools/{}", school.id))),
            }
        }
        (&Method::GET, ["schools", id, "records", entity, record]) => {
            let school = cx.school(id)?;
            let entity = ExcludedEntity::parse(entity).ok_or(Failure::NotFound)?;
            let record = record.parse::<i64>().map_err(|_| Failure::NotFound)?;
            record_page(cx, school, entity, record).await
        }
        (&Method::GET, ["schools", id, "excluded"]) => excluded(cx, cx.school(id)?).await,
        (&Method::GET, ["schools", id, "excluded", entity, reason]) => {
            let school = cx.school(id)?;
            let entity = ExcludedEntity::parse(entity).ok_or(Failure::NotFound)?;
            let reason = Reason::parse(reason).ok_or(Failure::NotFound)?;
            excluded_group(cx, school, entity, reason).await
        }
        (&Method::POST, ["schools", id, "sync"]) => sync_now(cx, cx.school(id)?).await,
        (&Method::GET, ["schools", id, "removals"]) => removals(cx, cx.school(id)?).await,
        (&Method::POST, ["schools", id, "removals", decision @ ("approve" | "hold")]) => {
            let decision = if *decision == "approve" {
                Decision::Approved
            } else {
                Decision::Rejected
            };
            decide(cx, cx.school(id)?, decision).await
        }
        (&Method::GET, ["schools", id, "downloads"]) => {
            let school = cx.school(id)?;
            Ok(cx.page(
                &format!("Downloads: school {}", school.id),
                pages::downloads(school.id),
            ))
        }
        (&Method::GET, ["schools", id, "downloads", file]) => {
            let school = cx.school(id)?;
            let table = file
                .strip_suffix(".csv")
                .and_then(table_named)
                .ok_or(Failure::NotFound)?;
            download(cx, school.id, table, file).await
        }
        _ => Err(Failure::NotFound),
    }
}

pub fn table_named(name: &str) -> Option<ExportTable> {
    Some(match name {
        "classes" => ExportTable::Classes,
        "students" => ExportTable::Students,
        "teachers" => ExportTable::Teachers,
        "parents" => ExportTable::Parents,
        "groups" => ExportTable::Groups,
        _ => return None,
    })
}

/// The login page, its CSRF token in a cookie and in the form. A token the browser holds
/// already is kept: a browser fetching something else while logged out (its favicon, say) is
/// sent here too, and a fresh token then would no longer match the form on screen.
pub fn login_form(call: Option<&Call>, message: Option<&str>, status: StatusCode) -> Answer {
    let held = call
        .and_then(|call| call.cookie(LOGIN_COOKIE))
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()));
    let token = held.map(str::to_owned).unwrap_or_else(auth::random_token);
    let mut answer = html(status, pages::login(&token, message));
    // The login form's token lives in a cookie of its own (there is no session yet); Secure is
    // left to the session cookie, so the form works on a plain-http trial too.
    answer.headers_mut().append(
        header::SET_COOKIE,
        cookie(LOGIN_COOKIE, &token, "/login", 3600, false),
    );
    answer
}

pub async fn login(dashboard: &Dashboard, store: &Store, call: &Call) -> Answer {
    let (Some(sent), Some(kept)) = (call.field("csrf"), call.cookie(LOGIN_COOKIE)) else {
        return login_form(
            None,
            Some("The form had expired: please log in again."),
            StatusCode::FORBIDDEN,
        );
    };
    if !auth::same_token(sent, kept) {
        return login_form(
            None,
            Some("The form had expired: please log in again."),
            StatusCode::FORBIDDEN,
        );
    }
    let username = call.field("username").unwrap_or("").trim().to_owned();
    let password = call.field("password").unwrap_or("").to_owned();
    let settings = &dashboard.settings.dashboard;
    let window = chrono::Duration::seconds(i64::try_from(settings.lockout_secs).unwrap_or(900));
    let refused =
        |message: &'static str| login_form(Some(call), Some(message), StatusCode::UNAUTHORIZED);
    let store_failed = |e: crate::store::StoreError| {
        tracing::warn!("dashboard: login: the database failed: {e}");
        super::reply::plain(StatusCode::SERVICE_UNAVAILABLE, "the database failed\n")
    };
    if username.is_empty() || username.len() > 200 {
        return refused("Wrong name or password.");
    }
    let failures = match store.dashboard_login_failures(&username, window).await {
        Ok(failures) => failures,
        Err(e) => return store_failed(e),
    };
    let found = match store.dashboard_password_hash(&username).await {
        Ok(found) => found,
        Err(e) => return store_failed(e),
    };
    // The audit names a user who exists; a name that is no user's may be anything typed into
    // the field, a password among them, and is not kept.
    let audited_name = if found.is_some() {
        username.as_str()
    } else {
        UNKNOWN_NAME
    };
    if failures
        .locked_until
        .is_some_and(|until| until > Utc::now())
    {
        let _ = store
            .dashboard_audit(audited_name, "login refused (locked)", None, "")
            .await;
        return login_form(
            Some(call),
            Some(
                "Too many failed logins for this name: try again later, or ask an operator to reset the password.",
            ),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    // An unknown name is checked against a decoy, so that it takes as long as a known one.
    let hash = found
        .as_ref()
        .map(|(_, hash)| hash.clone())
        .unwrap_or_else(|| auth::decoy_hash().to_owned());
    let matches = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let user = match found {
        Some((user, _)) if matches => user,
        _ => {
            let after = match store
                .dashboard_login_failed(&username, window, settings.lock_after_failures, window)
                .await
            {
                Ok(after) => after,
                Err(e) => return store_failed(e),
            };
            let _ = store
                .dashboard_audit(audited_name, "login failed", None, "")
                .await;
            if after.failures >= SLOW_FROM {
                let seconds = u64::from(after.failures - SLOW_FROM + 1);
                tokio::time::sleep(Duration::from_secs(seconds).min(SLOWEST)).await;
            }
            return refused("Wrong name or password.");
        }
    };
    let token = auth::random_token();
    let csrf = auth::random_token();
    let ttl = settings.session_ttl_secs;
    let expires = Utc::now() + chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(28_800));
    if let Err(e) = store
        .dashboard_session_create(&auth::token_hash(&token), user.user_id, &csrf, expires)
        .await
    {
        return store_failed(e);
    }
    let _ = store.dashboard_login_succeeded(&username).await;
    let _ = store.dashboard_audit(&username, "login", None, "").await;
    tracing::info!(user_id = user.user_id, "dashboard: login");
    let mut answer = redirect("/");
    let headers = answer.headers_mut();
    headers.append(
        header::SET_COOKIE,
        cookie(SESSION_COOKIE, &token, "/", ttl, settings.secure_cookies()),
    );
    headers.append(
        header::SET_COOKIE,
        cookie(LOGIN_COOKIE, "", "/login", 0, false),
    );
    answer
}

async fn logout(cx: &Context<'_>) -> Result<Answer, Failure> {
    if let Some(token) = cx.call.cookie(SESSION_COOKIE) {
        cx.store
            .dashboard_session_end(&auth::token_hash(token))
            .await?;
    }
    cx.audit("logout", None, "").await;
    let mut answer = redirect("/login");
    answer.headers_mut().append(
        header::SET_COOKIE,
        cookie(
            SESSION_COOKIE,
            "",
            "/",
            0,
            cx.dashboard.settings.dashboard.secure_cookies(),
        ),
    );
    Ok(answer)
}

/// A school's state, as the schools page sorts and shows it.
async fn school_row(cx: &Context<'_>, school: &SchoolSettings) -> Result<SchoolRow, Failure> {
    let status =
        crate::ops::status::school_status(cx.store, &cx.dashboard.settings, school, Utc::now())
            .await
            .map_err(|e| Failure::Other(e.to_string()))?;
    let running = cx.store.school_running(school.id).await?;
    let state = if running {
        State::Running
    } else if status.refused_pending {
        State::Held
    } else {
        match &status.last_run {
            None => State::NeverRun,
            Some(run) if run.status == "failed" => State::Failed {
                category: run
                    .error_category
                    .clone()
                    .unwrap_or_else(|| "unknown".to_owned()),
            },
            Some(_) => State::UpToDate,
        }
    };
    let parse = |at: &Option<String>| {
        at.as_deref()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&Utc))
    };
    Ok(SchoolRow {
        id: school.id,
        timezone: school.timezone,
        state,
        last_success: parse(&status.last_success_at),
        next_run: parse(&status.next_scheduled_at),
        missing_email: status.sso_missing_email,
    })
}

async fn schools(cx: &Context<'_>) -> Result<Answer, Failure> {
    let mut rows = Vec::new();
    for school in &cx.dashboard.settings.schools {
        if cx.session.user.may_see(school.id) {
            rows.push(school_row(cx, school).await?);
        }
    }
    // Problems first, then by ID.
    rows.sort_by_key(|row| (row.state.rank(), row.id));
    Ok(cx.page("Schools", pages::schools(&rows)))
}

async fn school(cx: &Context<'_>, school: &SchoolSettings) -> Result<Answer, Failure> {
    let row = school_row(cx, school).await?;
    let runs = cx.store.recent_runs(school.id, RUNS_SHOWN).await?;
    let counts = cx.store.roster_counts(school.id).await?;
    let excluded = cx.store.exclusion_count(school.id).await?;
    let waiting = cx.store.waiting_requests(Some(school.id)).await?.len();
    let sso_gaps = if school.sso {
        Some(cx.store.missing_email_ids(school.id, 500).await?)
    } else {
        None
    };
    Ok(cx.page(
        &format!("School {}", school.id),
        pages::school(&pages::SchoolPage {
            row: &row,
            runs: &runs,
            counts,
            excluded,
            sso_gaps: sso_gaps.as_ref(),
            waiting,
            csrf: &cx.session.csrf_token,
        }),
    ))
}

/// Exclusions grouped by (entity, reason), largest first; a record with two reasons is in two
/// groups.
fn groups(exclusions: &[StoredExclusion]) -> Vec<GroupRow> {
    let mut counts: BTreeMap<(ExcludedEntity, Reason), usize> = BTreeMap::new();
    for exclusion in exclusions {
        for reason in &exclusion.reasons {
            *counts.entry((exclusion.entity, *reason)).or_default() += 1;
        }
    }
    let mut rows: Vec<GroupRow> = counts
        .into_iter()
        .map(|((entity, reason), count)| GroupRow {
            entity,
            reason,
            count,
        })
        .collect();
    rows.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then((a.entity, a.reason).cmp(&(b.entity, b.reason)))
    });
    rows
}

async fn excluded(cx: &Context<'_>, school: &SchoolSettings) -> Result<Answer, Failure> {
    let exclusions = cx.store.load_exclusions(school.id).await?;
    Ok(cx.page(
        &format!("What didn't come through: school {}", school.id),
        pages::excluded(school.id, &groups(&exclusions), exclusions.len()),
    ))
}

async fn excluded_group(
    cx: &Context<'_>,
    school: &SchoolSettings,
    entity: ExcludedEntity,
    reason: Reason,
) -> Result<Answer, Failure> {
    let exclusions = cx.store.load_exclusions(school.id).await?;
    let members: Vec<&StoredExclusion> = exclusions
        .iter()
        .filter(|e| e.entity == entity && e.reasons.contains(&reason))
        .collect();
    Ok(cx.page(
        &format!("{entity}: {reason}: school {}", school.id),
        pages::excluded_group(school.id, entity, reason, &members, IDS_SHOWN),
    ))
}

async fn record_page(
    cx: &Context<'_>,
    school: &SchoolSettings,
    entity: ExcludedEntity,
    id: i64,
) -> Result<Answer, Failure> {
    let why = crate::why::answer(cx.store, school.id, entity, id).await?;
    let history = if crate::store::HISTORY_ENTITIES.contains(&entity) {
        Some(cx.store.record_history(school.id, entity, id).await?)
    } else {
        None
    };
    let memberships = if entity == ExcludedEntity::Student {
        Some(cx.store.student_memberships(school.id, id).await?)
    } else {
        None
    };
    Ok(cx.page(
        &format!("{entity} {id}: school {}", school.id),
        pages::record(&pages::RecordPage {
            school: school.id,
            timezone: school.timezone,
            entity,
            id,
            why: &why,
            history: history.as_deref(),
            memberships: memberships.as_ref(),
            retention_days: cx.dashboard.settings.sync.history_retention_days,
        }),
    ))
}

async fn download(
    cx: &Context<'_>,
    school: SchoolId,
    table: ExportTable,
    file: &str,
) -> Result<Answer, Failure> {
    let mut bytes = Vec::new();
    let rows =
        crate::ops::export::write_csv(cx.store, school, table, Cells::Spreadsheet, &mut bytes)
            .await
            .map_err(|e| Failure::Other(format!("download for school {school}: {e}")))?;
    cx.audit("download", Some(school), &format!("{file} ({rows} rows)"))
        .await;
    tracing::info!(
        user_id = cx.session.user.user_id,
        school,
        file,
        rows,
        "dashboard: download"
    );
    let mut answer = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(bytes)));
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"school-{school}-{file}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(answer)
}

async fn audit_list(cx: &Context<'_>) -> Result<Answer, Failure> {
    let records = cx.store.dashboard_audit_list(500).await?;
    Ok(cx.page("Audit", pages::audit(&records)))
}

/// Who a request or decision is recorded as: the dashboard's user, marked as such (the command
/// line records the OS user).
fn requester(cx: &Context<'_>) -> String {
    format!("dashboard:{}", cx.session.user.username)
}

/// Sync now: a request row, served by whichever daemon takes it first.
async fn sync_now(cx: &Context<'_>, school: &SchoolSettings) -> Result<Answer, Failure> {
    let ids = cx.store.add_requests(&[school.id], &requester(cx)).await?;
    let detail = ids
        .first()
        .map(|id| format!("request {id}"))
        .unwrap_or_default();
    cx.audit("resync", Some(school.id), &detail).await;
    tracing::info!(
        user_id = cx.session.user.user_id,
        school = school.id,
        "dashboard: resync requested"
    );
    Ok(redirect(&format!("/schools/{}", school.id)))
}

/// Review removals: what the held run would remove, by table, with IDs.
async fn removals(cx: &Context<'_>, school: &SchoolSettings) -> Result<Answer, Failure> {
    let refused = cx.store.latest_refused(school.id).await?;
    let keys = match &refused {
        Some(run) => cx.store.refused_removal_keys(run.run_id).await?,
        None => Vec::new(),
    };
    Ok(cx.page(
        &format!("Review removals: school {}", school.id),
        pages::removals(
            school.id,
            school.timezone,
            refused.as_ref(),
            &keys,
            &cx.session.csrf_token,
        ),
    ))
}

/// Approve or Keep holding, on the run the form was for (a newer refused run means the page
/// was stale: shown again rather than decided blind).
async fn decide(
    cx: &Context<'_>,
    school: &SchoolSettings,
    decision: Decision,
) -> Result<Answer, Failure> {
    let review = format!("/schools/{}/removals", school.id);
    let Some(refused) = cx.store.latest_refused(school.id).await? else {
        return Ok(redirect(&format!("/schools/{}", school.id)));
    };
    if cx.call.field("run").and_then(|r| r.parse::<i64>().ok()) != Some(refused.run_id) {
        return Ok(redirect(&review));
    }
    if refused.removals.is_empty() && decision == Decision::Approved {
        return Ok(redirect(&review));
    }
    let (approval, request) = cx
        .store
        .decide_removals(school.id, refused.run_id, decision, &requester(cx))
        .await?;
    let removals: Vec<String> = refused
        .removals
        .iter()
        .map(|(table, n)| format!("{table} {n}"))
        .collect();
    let (action, detail) = match request {
        Some(request) => (
            "approve",
            format!(
                "run {} ({}); approval {approval}, request {request}",
                refused.run_id,
                removals.join(", ")
            ),
        ),
        None => (
            "keep holding",
            format!(
                "run {} ({}); decision {approval}",
                refused.run_id,
                removals.join(", ")
            ),
        ),
    };
    cx.audit(action, Some(school.id), &detail).await;
    tracing::info!(
        user_id = cx.session.user.user_id,
        school = school.id,
        run_id = refused.run_id,
        action,
        "dashboard: removals decided"
    );
    Ok(redirect(&format!("/schools/{}", school.id)))
}
