//! Control of a fleet of daemons through the database they share: requests to resync a school
//! and decisions on the removals a run was refused, written as rows (the store's
//! `control_requests` and `removal_approvals`) and heard by every daemon at once (Postgres
//! `LISTEN`/`NOTIFY`), with a periodic look for what nobody is serving. The CLI (`bromsync
//! resync`, `bromsync approve`) and later the dashboard write them; the daemon serves them.
//!
//! Each request is served by exactly one run across the fleet: every daemon that hears it tries
//! the school's lock, and the lock holder claims the school's waiting requests when its run
//! starts and marks them served in the run's final transaction (see `sync::ServeRequests`). A
//! request whose run died is claimed again by the next lock holder; the periodic look finds it.
//! This module holds the commands that write requests and decisions; the daemon's side (what
//! it listens to, and its periodic look) is `daemon::listen`, the rows are `store::control`.

use tracing::info;

use crate::config::Settings;
use crate::ops::{OpsError, Verdict, configured_school, connect, rfc3339, store_failed};
use crate::snapshot::SchoolId;
use crate::store::{Decision, Store};

/// `bromsync resync`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ResyncArgs {
    /// Only these schools (repeat the flag for several); default every configured school.
    #[arg(long = "school", value_name = "ID")]
    pub schools: Vec<SchoolId>,
}

/// `bromsync approve`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The school whose latest refused run is decided on.
    #[arg(long, value_name = "ID")]
    pub school: SchoolId,
    /// Keep holding the removals instead of approving them (recorded as rejected).
    #[arg(long)]
    pub reject: bool,
}

/// Who is asking: the OS user running the command (its name from the password database, else
/// `$USER`, else `uid N`). The dashboard will pass its own user instead.
pub fn who_asked() -> String {
    // SAFETY: getuid cannot fail and has no preconditions.
    let uid = unsafe { libc::getuid() };
    user_name(uid)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| format!("uid {uid}"))
}

fn user_name(uid: libc::uid_t) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to overwrite.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, the buffer's length is passed, and
    // `entry`'s strings point into `buffer`, which outlives their use below.
    let code = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if code != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string inside `buffer`.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    Some(name.to_string_lossy().into_owned()).filter(|n| !n.is_empty())
}

/// `bromsync resync [--school ID ...]`: one request per school, served by whichever daemon
/// takes it first (or the first to start, when none runs).
pub async fn resync(settings: &Settings, args: &ResyncArgs) -> Result<Verdict, OpsError> {
    let schools: Vec<SchoolId> = if args.schools.is_empty() {
        settings.schools.iter().map(|s| s.id).collect()
    } else {
        for &id in &args.schools {
            configured_school(settings, id)?;
        }
        let mut chosen = args.schools.clone();
        chosen.sort_unstable();
        chosen.dedup();
        chosen
    };
    if schools.is_empty() {
        return Err(OpsError::Refused(
            "no school is configured: nothing to resync".to_owned(),
        ));
    }
    let who = who_asked();
    let store = connect(settings).await?;
    let added = store.add_requests(&schools, &who).await;
    store.close().await;
    let ids = added.map_err(store_failed)?;
    for (school, id) in schools.iter().zip(&ids) {
        println!("school {school}: resync requested (request {id})");
    }
    info!(requests = ?ids, schools = ?schools, "resync requested");
    println!(
        "a running daemon starts each at once; with none running, the first to start serves them \
         (`bromsync status` shows requests waiting)"
    );
    Ok(Verdict::AllWell)
}

/// `bromsync approve --school ID [--reject]`: a decision on the removals of the school's
/// latest refused run. An approval requests a run at once, which may remove what the refused
/// run would have removed and no more.
pub async fn approve(settings: &Settings, args: &ApproveArgs) -> Result<Verdict, OpsError> {
    let school = configured_school(settings, args.school)?.id;
    let store = connect(settings).await?;
    let result = decide(&store, school, args.reject).await;
    store.close().await;
    result
}

async fn decide(store: &Store, school: SchoolId, reject: bool) -> Result<Verdict, OpsError> {
    let Some(refused) = store.latest_refused(school).await.map_err(store_failed)? else {
        return Err(OpsError::Failed(format!(
            "school {school}: no refused run waits (none was refused since the last success)"
        )));
    };
    if refused.removals.is_empty() && !reject {
        return Err(OpsError::Failed(format!(
            "school {school}: run {} did not record what it would remove (it was refused before \
             this version of bromsync); accept it once with: bromsync sync --school {school} --accept-removals",
            refused.run_id
        )));
    }
    let who = who_asked();
    let decision = if reject {
        Decision::Rejected
    } else {
        Decision::Approved
    };
    let (approval_id, request) = store
        .decide_removals(school, refused.run_id, decision, &who)
        .await
        .map_err(store_failed)?;
    let removals: Vec<String> = refused
        .removals
        .iter()
        .map(|(table, n)| format!("{table} {n}"))
        .collect();
    match request {
        Some(request) => {
            println!(
                "school {school}: the removals of run {} (refused {}; {}) are approved (approval {approval_id})",
                refused.run_id,
                rfc3339(refused.finished_at),
                removals.join(", ")
            );
            println!(
                "the next run (request {request}, started at once by a running daemon) may remove \
                 those rows and no more"
            );
        }
        None => println!(
            "school {school}: the removals of run {} stay held (rejected, decision {approval_id})",
            refused.run_id
        ),
    }
    info!(
        school,
        run_id = refused.run_id,
        approval = approval_id,
        decision = if reject { "rejected" } else { "approved" },
        "removals decided"
    );
    Ok(Verdict::AllWell)
}
