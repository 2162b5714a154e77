//! Dropping root after the capture handles are open (`apitap capture --user NAME`).

use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::path::Path;

/// Gives `dir` and what is in it to `user`, then becomes that user: supplementary groups
/// cleared, group, then user. Fails clearly rather than carry on as root.
pub fn drop_to(user: &str, dir: &Path) -> Result<()> {
    let name = CString::new(user).context("user name contains a NUL byte")?;
    // SAFETY: getpwnam takes a valid C string and returns null or a pointer to static data,
    // read at once before any other call that could overwrite it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        bail!("no user named '{user}'");
    }
    // SAFETY: `pw` is non-null and points to a passwd record (see above).
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    // Rotation creates files in the output directory after the drop: the user must own it.
    chown(dir, uid, gid)?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let p = entry?.path();
        if p.is_file() {
            chown(&p, uid, gid)?;
        }
    }
    // SAFETY: plain system calls with valid arguments; their results are checked.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            bail!("cannot clear supplementary groups: {}", std::io::Error::last_os_error());
        }
        if libc::setgid(gid) != 0 {
            bail!("cannot switch to group {gid}: {}", std::io::Error::last_os_error());
        }
        if libc::setuid(uid) != 0 {
            bail!("cannot switch to user '{user}': {}", std::io::Error::last_os_error());
        }
        if uid != 0 && libc::setuid(0) == 0 {
            bail!("root could be regained after switching to '{user}'; refusing to continue");
        }
    }
    tracing::info!(user, uid, gid, "dropped privileges");
    Ok(())
}

fn chown(p: &Path, uid: libc::uid_t, gid: libc::gid_t) -> Result<()> {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).with_context(|| format!("cannot give {} to uid {uid}", p.display()))
}
