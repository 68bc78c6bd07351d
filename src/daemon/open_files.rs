//! The process's open-files limit, raised at the start of `bromsync run`. Every database
//! connection, every Bromcom connection and every HTTP client of `/metrics` holds a file; the
//! usual soft limit (1024) is far below what the hard limit allows, and a daemon that meets it
//! fails every school's run with "Too many open files". Raising the soft limit to the hard one
//! needs no privilege.

use tracing::{info, warn};

/// The most a soft limit is raised to when the hard one is unlimited: the kernel refuses
/// RLIM_INFINITY for open files, and its own ceiling (`fs.nr_open`) is 1048576 by default.
const UNLIMITED_TARGET: libc::rlim_t = 1 << 20;

/// The soft and hard limits on open files now.
pub fn current() -> std::io::Result<(libc::rlim_t, libc::rlim_t)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// Raises the soft limit to the hard one and logs the figure. Nothing is changed (no system
/// call made) when they are already equal, as under the systemd unit's `LimitNOFILE=`, whose
/// system call filter refuses `setrlimit`. A failure is logged, never fatal: the daemon still
/// runs, with the limit it has.
pub fn raise() {
    let (soft, hard) = match current() {
        Ok(limits) => limits,
        Err(e) => {
            warn!("cannot read the open-files limit: {e}");
            return;
        }
    };
    let target = if hard == libc::RLIM_INFINITY {
        UNLIMITED_TARGET.max(soft)
    } else {
        hard
    };
    if soft >= target {
        info!(open_files_limit = soft, "open-files limit");
        return;
    }
    let limit = libc::rlimit {
        rlim_cur: target,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct it is given; raising a soft limit up to the hard one
    // is always allowed.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        let e = std::io::Error::last_os_error();
        warn!(
            open_files_limit = soft,
            "cannot raise the open-files limit to {target}: {e}"
        );
        return;
    }
    info!(
        open_files_limit = target,
        was = soft,
        "open-files limit raised to the hard limit"
    );
}
