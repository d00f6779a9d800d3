//! The systemd service protocol (sd_notify(3)), without libsystemd: one datagram per message
//! to `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). `READY=1` once the
//! pipeline runs, `STOPPING=1` when shutting down,
//! `WATCHDOG=1` every half of `$WATCHDOG_USEC` while the daemon's tasks are scheduled. Outside
//! systemd (no `$NOTIFY_SOCKET`) every call does nothing.

use std::time::Duration;

/// Send `state` (e.g. `"READY=1"`) to the service manager, if there is one.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send(&path, state.as_bytes()) {
        tracing::warn!(error = %e, "Cannot notify systemd.");
    }
}

#[cfg(target_os = "linux")]
fn send(path: &std::ffi::OsStr, msg: &[u8]) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let bytes = path.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(std::path::Path::new(path))?,
    };
    UnixDatagram::unbound()?.send_to_addr(msg, &addr)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn send(_: &std::ffi::OsStr, _: &[u8]) -> std::io::Result<()> {
    Ok(())
}

/// The watchdog interval systemd asked for (`WatchdogSec=`), if any, for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Some(pid) = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
    {
        if pid != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Ping the watchdog every half interval for as long as the runtime schedules this task.
pub async fn watchdog() {
    let Some(every) = watchdog_interval() else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        notify("WATCHDOG=1");
    }
}
