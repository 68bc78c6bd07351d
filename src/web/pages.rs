//! The dashboard's pages as HTML (maud): no script, no inline style, forms that work without
//! JavaScript, charts as SVG drawn here. Times are shown in the school's zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{DOCTYPE, Markup, html};
use strum::VariantArray;

use super::fixes::fix;
use crate::roster::{ExcludedEntity, Reason};
use crate::snapshot::SchoolId;
use crate::store::{
    AuditRecord, DashboardSession, HistoryEvent, Memberships, MissingEmail, RefusedRun, RunRow,
    StoredExclusion,
};

/// A school's state at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Failed { category: String },
    Held,
    NeverRun,
    Running,
    UpToDate,
}

impl State {
    /// Problems first.
    pub fn rank(&self) -> u8 {
        match self {
            State::Failed { .. } => 0,
            State::Held => 1,
            State::NeverRun => 2,
            State::Running => 3,
            State::UpToDate => 4,
        }
    }

    fn class(&self) -> &'static str {
        match self {
            State::Failed { .. } => "state failed",
            State::Held => "state held",
            State::NeverRun => "state never",
            State::Running => "state running",
            State::UpToDate => "state ok",
        }
    }

    fn text(&self) -> String {
        match self {
            State::Failed { category } => format!("Failed ({category})"),
            State::Held => "Held by the removal guard".to_owned(),
            State::NeverRun => "Never run".to_owned(),
            State::Running => "Running".to_owned(),
            State::UpToDate => "Up to date".to_owned(),
        }
    }
}

pub struct SchoolRow {
    pub id: SchoolId,
    pub timezone: Tz,
    pub state: State,
    pub last_success: Option<DateTime<Utc>>,
    pub next_run: Option<DateTime<Utc>>,
    pub missing_email: Option<MissingEmail>,
}

pub struct GroupRow {
    pub entity: ExcludedEntity,
    pub reason: Reason,
    pub count: usize,
}

fn when(at: Option<DateTime<Utc>>, tz: Tz) -> String {
    match at {
        Some(at) => at
            .with_timezone(&tz)
            .format("%a %-d %b %Y, %H:%M %Z")
            .to_string(),
        None => "never".to_owned(),
    }
}

/// What a failed run's category means for a school, and what to do.
fn category_help(category: &str) -> &'static str {
    match category {
        "credentials_rejected" | "http_401" | "http_403" => {
            "Bromcom refused the application's credentials or a permission: check the application is still granted in Bromcom's Data Sharing settings."
        }
        "http_5xx" | "server_error_message" | "timeout" | "connect" => {
            "Bromcom did not answer properly; the run is retried on its own. If it persists, Bromcom may be down."
        }
        "database" => "Our database failed; the operators have been told in the log.",
        _ => {
            "The run failed; the next run tries again. The operators can see the details in the log."
        }
    }
}

pub fn layout(title: &str, session: Option<&DashboardSession>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - Data Dashboard" }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                header {
                    nav aria-label="Main" {
                        a.brand href="/" { "Data Dashboard" }
                        @if let Some(session) = session {
                            a href="/" { "Schools" }
                            @if session.user.role == crate::store::DashboardRole::Operator {
                                a href="/audit" { "Audit" }
                            }
                            form.logout method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(session.csrf_token);
                                span { "Signed in as " (session.user.username) }
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub fn login(csrf: &str, message: Option<&str>) -> Markup {
    layout(
        "Log in",
        None,
        html! {
            @if let Some(message) = message {
                p.error role="alert" { (message) }
            }
            form.login method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                p {
                    label for="username" { "Name" }
                    input #username type="text" name="username" autocomplete="username" required;
                }
                p {
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required;
                }
                button type="submit" { "Log in" }
            }
        },
    )
}

pub fn schools(rows: &[SchoolRow]) -> Markup {
    html! {
        @if rows.is_empty() {
            p { "No schools are given to you yet: ask an operator." }
        } @else {
            table.schools {
                caption { "Each school's state, problems first" }
                thead { tr {
                    th scope="col" { "School" }
                    th scope="col" { "State" }
                    th scope="col" { "Last success" }
                    th scope="col" { "Next run" }
                    th scope="col" { "Without email (SSO)" }
                } }
                tbody {
                    @for row in rows {
                        tr id=(format!("school-{}", row.id)) {
                            td { a href=(format!("/schools/{}", row.id)) { "School " (row.id) } }
                            td { span class=(row.state.class()) { (row.state.text()) } }
                            td { (when(row.last_success, row.timezone)) }
                            td { (when(row.next_run, row.timezone)) }
                            td {
                                @if let Some(missing) = row.missing_email {
                                    (missing.parents) " parents, " (missing.teachers) " teachers"
                                } @else { "not SSO" }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub struct SchoolPage<'a> {
    pub row: &'a SchoolRow,
    pub runs: &'a [RunRow],
    /// students, teachers, parents, classes, groups
    pub counts: [i64; 5],
    pub excluded: i64,
    pub sso_gaps: Option<&'a (Vec<i64>, Vec<i64>)>,
    /// Resync requests not yet served.
    pub waiting: usize,
    pub csrf: &'a str,
}

pub fn school(page: &SchoolPage) -> Markup {
    let row = page.row;
    let id = row.id;
    let tz = row.timezone;
    html! {
        section aria-labelledby="state" {
            h2 #state { "State" }
            p { span class=(row.state.class()) { (row.state.text()) } }
            @if let State::Failed { category } = &row.state {
                p { (category_help(category)) }
            }
            @if row.state == State::Held {
                p { "The latest run would have removed more than the removal guard allows, so nothing was written. Check what would go; if it is expected, approve the removals." }
                p { a.button href=(format!("/schools/{id}/removals")) { "Review removals" } }
            }
            form.sync method="post" action=(format!("/schools/{id}/sync")) {
                input type="hidden" name="csrf" value=(page.csrf);
                button type="submit" { "Sync now" }
                @if page.waiting > 0 {
                    span.waiting { " A sync was asked for and waits for a daemon (" (page.waiting) " waiting); reload to see its run." }
                }
            }
            dl {
                dt { "Last success" } dd { (when(row.last_success, tz)) }
                dt { "Next scheduled run" } dd { (when(row.next_run, tz)) }
                dt { "Time zone" } dd { (tz.name()) }
            }
        }
        section aria-labelledby="through" {
            h2 #through { "What came through" }
            table {
                thead { tr {
                    th scope="col" { "Students" } th scope="col" { "Teachers" }
                    th scope="col" { "Parents" } th scope="col" { "Classes" }
                    th scope="col" { "Groups" } th scope="col" { "Left out" }
                } }
                tbody { tr {
                    @for count in page.counts { td { (count) } }
                    td { a href=(format!("/schools/{id}/excluded")) { (page.excluded) " records: see why" } }
                } }
            }
            p {
                a href=(format!("/schools/{id}/excluded")) { "What didn't come through, and how to fix it" }
                " | "
                a href=(format!("/schools/{id}/downloads")) { "Downloads" }
            }
            form.search method="get" action=(format!("/schools/{id}/record")) {
                label for="entity" { "Find a record: " }
                select #entity name="entity" {
                    @for entity in ExcludedEntity::VARIANTS {
                        option value=(entity.as_str()) { (entity.as_str()) }
                    }
                }
                label for="record-id" { " Bromcom ID " }
                input #record-id type="text" name="id" inputmode="numeric" required;
                button type="submit" { "Find" }
            }
        }
        @if let Some((parents, teachers)) = page.sso_gaps {
            section aria-labelledby="sso" {
                h2 #sso { "Without an email (single sign-on)" }
                p { "These parents and teachers came through but cannot sign in: give each an email address in Bromcom." }
                (id_list("Parents", id, ExcludedEntity::Parent, parents))
                (id_list("Teachers", id, ExcludedEntity::Teacher, teachers))
            }
        }
        section aria-labelledby="runs" {
            h2 #runs { "Recent runs" }
            (duration_chart(page.runs))
            (left_out_chart(page.runs))
            table.runs {
                caption { "The latest runs, newest first (times in " (tz.name()) ")" }
                thead { tr {
                    th scope="col" { "Run" } th scope="col" { "Trigger" } th scope="col" { "Started" }
                    th scope="col" { "Took" } th scope="col" { "Outcome" } th scope="col" { "Added" }
                    th scope="col" { "Changed" } th scope="col" { "Removed" } th scope="col" { "Left out" }
                } }
                tbody {
                    @for run in page.runs {
                        tr {
                            td { (run.run_id) }
                            td { (run.trigger) }
                            td { (when(Some(run.started_at), tz)) }
                            td { (seconds(run)) }
                            td { (outcome(run)) }
                            td { (run.added) } td { (run.changed) } td { (run.removed) } td { (run.excluded) }
                        }
                    }
                }
            }
        }
    }
}

fn id_list(label: &str, school: SchoolId, entity: ExcludedEntity, ids: &[i64]) -> Markup {
    html! {
        h3 { (label) " (" (ids.len()) ")" }
        @if ids.is_empty() { p { "None." } } @else {
            ul.ids {
                @for id in ids {
                    li { a href=(format!("/schools/{school}/records/{entity}/{id}")) { (id) } }
                }
            }
        }
    }
}

fn seconds(run: &RunRow) -> String {
    let ms = (run.finished_at - run.started_at).num_milliseconds().max(0);
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn outcome(run: &RunRow) -> String {
    match (run.status.as_str(), &run.error) {
        ("failed", Some(error)) => {
            let category = error
                .split_once(": ")
                .map(|(head, _)| head)
                .unwrap_or("failed");
            format!("failed ({category})")
        }
        ("succeeded", _) if run.accepted_removals => "succeeded (removals approved)".to_owned(),
        ("refused", _) => "held by the removal guard".to_owned(),
        (status, _) => status.to_owned(),
    }
}

const CHART_W: f64 = 600.0;
const CHART_H: f64 = 100.0;

/// Bars, oldest on the left, scaled to the largest; each with a title a screen reader and a
/// hover can read.
fn bars(label: &str, runs: &[RunRow], value: impl Fn(&RunRow) -> f64, unit: &str) -> Markup {
    let runs: Vec<&RunRow> = runs.iter().rev().collect();
    let max = runs
        .iter()
        .map(|r| value(r))
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let width = CHART_W / runs.len().max(1) as f64;
    html! {
        figure {
            svg.chart role="img" aria-label=(label) viewBox=(format!("0 0 {CHART_W} {}", CHART_H + 2.0)) width="600" height="102" {
                title { (label) }
                @for (i, run) in runs.iter().enumerate() {
                    @let v = value(run);
                    @let h = (v / max * CHART_H).max(1.0);
                    rect class=(format!("bar {}", run.status)) x=(format!("{:.1}", i as f64 * width + 1.0))
                        y=(format!("{:.1}", CHART_H - h)) width=(format!("{:.1}", (width - 2.0).max(1.0)))
                        height=(format!("{h:.1}")) {
                        title { "run " (run.run_id) ": " (format!("{v:.1}")) " " (unit) }
                    }
                }
                line.axis x1="0" y1=(CHART_H) x2=(CHART_W) y2=(CHART_H);
            }
            figcaption { (label) " (largest " (format!("{max:.1}")) " " (unit) ")" }
        }
    }
}

fn duration_chart(runs: &[RunRow]) -> Markup {
    bars(
        "How long each run took, oldest first",
        runs,
        |r| (r.finished_at - r.started_at).num_milliseconds().max(0) as f64 / 1000.0,
        "s",
    )
}

fn left_out_chart(runs: &[RunRow]) -> Markup {
    let succeeded: Vec<RunRow> = runs
        .iter()
        .filter(|r| r.status == "succeeded")
        .cloned()
        .collect();
    bars(
        "Records left out by each successful run, oldest first",
        &succeeded,
        |r| r.excluded as f64,
        "records",
    )
}

pub fn excluded(school: SchoolId, groups: &[GroupRow], records: usize) -> Markup {
    html! {
        p { a href=(format!("/schools/{school}")) { "Back to school " (school) } }
        @if groups.is_empty() {
            p { "Everything Bromcom sent came through (or no run has succeeded yet)." }
        } @else {
            p { (records) " records were left out by the latest successful run. Each group below says what it means and what to change in Bromcom; after fixing, press Sync now on the school's page and the group shrinks." }
            table.groups {
                caption { "Left out, by kind of record and reason, largest first" }
                thead { tr {
                    th scope="col" { "Records" } th scope="col" { "Kind" } th scope="col" { "Reason" }
                    th scope="col" { "What it means" } th scope="col" { "How to fix it in Bromcom" }
                } }
                tbody {
                    @for group in groups {
                        @let text = fix(group.reason);
                        tr {
                            td { a href=(format!("/schools/{school}/excluded/{}/{}", group.entity, group.reason)) { (group.count) } }
                            td { (group.entity) }
                            td { a href=(format!("/schools/{school}/excluded/{}/{}", group.entity, group.reason)) { (text.title) } " " code { (group.reason) } }
                            td { (text.means) }
                            td { (text.fix) }
                        }
                    }
                }
            }
        }
    }
}

pub fn excluded_group(
    school: SchoolId,
    entity: ExcludedEntity,
    reason: Reason,
    members: &[&StoredExclusion],
    shown: usize,
) -> Markup {
    let text = fix(reason);
    html! {
        p { a href=(format!("/schools/{school}/excluded")) { "Back to what didn't come through" } }
        h2 { (text.title) }
        p { (text.means) }
        p.fix { strong { "To fix: " } (text.fix) }
        p { (members.len()) " " (entity) " records, by Bromcom ID:" }
        table.records {
            thead { tr {
                th scope="col" { "Bromcom ID" } th scope="col" { "All its reasons" } th scope="col" { "Fields / caused by" }
            } }
            tbody {
                @for member in members.iter().take(shown) {
                    tr {
                        td { a href=(format!("/schools/{school}/records/{entity}/{}", member.id)) { (member.id) } }
                        td { (member.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")) }
                        td {
                            (member.invalid_fields.join(", "))
                            @for cause in &member.caused_by {
                                " " a href=(format!("/schools/{school}/records/{}/{}", cause.entity, cause.id)) { (cause.entity) " " (cause.id) }
                            }
                        }
                    }
                }
            }
        }
        @if members.len() > shown {
            p { "and " (members.len() - shown) " more (download or ask an operator)." }
        }
    }
}

pub struct RecordPage<'a> {
    pub school: SchoolId,
    pub timezone: Tz,
    pub entity: ExcludedEntity,
    pub id: i64,
    pub why: &'a str,
    pub history: Option<&'a [HistoryEvent]>,
    pub memberships: Option<&'a Memberships>,
    pub retention_days: u32,
}

pub fn record(page: &RecordPage) -> Markup {
    let school = page.school;
    html! {
        p { a href=(format!("/schools/{school}")) { "Back to school " (school) } }
        section aria-labelledby="why" {
            h2 #why { "Why" }
            p.why { (page.why) }
        }
        @if let Some(memberships) = page.memberships {
            section aria-labelledby="member" {
                h2 #member { "Classes and groups" }
                @if memberships.classes.is_empty() && memberships.groups.is_empty() {
                    p { "In no class or group of the roster." }
                }
                ul {
                    @for (id, name) in &memberships.classes {
                        li { "Class " a href=(format!("/schools/{school}/records/class/{id}")) { (id) } ": " (name) }
                    }
                    @for (id, name) in &memberships.groups {
                        li { "Group " a href=(format!("/schools/{school}/records/group/{id}")) { (id) } ": " (name) }
                    }
                }
            }
        }
        @if let Some(history) = page.history {
            section aria-labelledby="history" {
                h2 #history { "History" }
                @if history.is_empty() {
                    p { "No event in the last " (page.retention_days) " days." }
                } @else {
                    table {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Run" } th scope="col" { "What" } th scope="col" { "Columns or reasons" } } }
                        tbody {
                            @for event in history {
                                tr {
                                    td { (when(Some(event.at), page.timezone)) }
                                    td { (event.run_id) }
                                    td { (event.event) }
                                    td { (event.columns.join(", ")) (event.reasons.join(", ")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        p.entity { (page.entity) " " (page.id) }
    }
}

/// The five exports, Export Classes first.
pub fn downloads(school: SchoolId) -> Markup {
    html! {
        p { a href=(format!("/schools/{school}")) { "Back to school " (school) } }
        p { "The roster as it stands, as CSV for a spreadsheet (cells a spreadsheet would run as a formula are made safe). Each download is recorded." }
        ul.downloads {
            @for (file, label) in [("classes", "Export Classes"), ("students", "Export Students"), ("teachers", "Export Teachers"), ("parents", "Export Parents"), ("groups", "Export Groups")] {
                li { a href=(format!("/schools/{school}/downloads/{file}.csv")) download { (label) } }
            }
        }
    }
}

pub fn audit(records: &[AuditRecord]) -> Markup {
    html! {
        table.audit {
            caption { "Who did what, newest first" }
            thead { tr { th scope="col" { "When (UTC)" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "School" } th scope="col" { "Detail" } } }
            tbody {
                @for record in records {
                    tr {
                        td { (record.at.format("%Y-%m-%d %H:%M:%S")) }
                        td { (record.username) }
                        td { (record.action) }
                        td { @if let Some(school) = record.school_id { (school) } }
                        td { (record.detail) }
                    }
                }
            }
        }
    }
}

/// The review before a mass removal: what the held run would remove, by table, with IDs.
pub fn removals(
    school: SchoolId,
    tz: Tz,
    refused: Option<&RefusedRun>,
    keys: &[(String, Vec<String>)],
    csrf: &str,
) -> Markup {
    html! {
        p { a href=(format!("/schools/{school}")) { "Back to school " (school) } }
        @match refused {
            None => p { "No run is held: nothing waits for a decision." },
            Some(run) => {
                p { "Run " (run.run_id) " (" (when(Some(run.finished_at), tz)) ") would have removed more than the removal guard allows, so it wrote nothing. If these records really left (for example at the end of a school year), approve: the next run may remove them and no more. If not, keep holding and fix the data in Bromcom." }
                @if run.removals.is_empty() {
                    p { "This run was held before the removals were recorded; an operator can accept it from the command line." }
                }
                @for (table, ids) in keys {
                    section {
                        h2 { (table) ": " (ids.len()) " to remove" }
                        ul.ids {
                            @for key in ids { li { (key.replace('\t', " / ")) } }
                        }
                    }
                }
                @if !run.removals.is_empty() {
                    form.decide method="post" action=(format!("/schools/{school}/removals/approve")) {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="run" value=(run.run_id);
                        button type="submit" { "Approve these removals" }
                    }
                }
                form.decide method="post" action=(format!("/schools/{school}/removals/hold")) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="run" value=(run.run_id);
                    button type="submit" { "Keep holding" }
                }
            }
        }
    }
}
