//! Stopping: SIGINT/SIGTERM, or a duration (`--duration`) for demo and simulate.

use std::time::Duration;

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Resolves after `duration` (when given) or on SIGINT/SIGTERM, whichever comes first.
pub async fn after_or_signal(duration: Option<Duration>) {
    match duration {
        Some(d) => tokio::select! {
            _ = tokio::time::sleep(d) => {},
            _ = shutdown_signal() => {},
        },
        None => shutdown_signal().await,
    }
}
