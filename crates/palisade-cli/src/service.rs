//! What `palisade serve` and `palisade agent` share as long-running processes: the async
//! runtime, timestamped lines on standard error, and stopping on SIGINT or SIGTERM.

use std::io::Write as _;

use anyhow::{Context, Result};

/// Prints `palisade WHAT: LINE` with the time on standard error.
pub(crate) fn say(what: &str, line: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "{} palisade {what}: {line}",
        palisade_gate::now_utc()
    );
}

/// Runs `main` on a multi-threaded runtime named after `what`.
pub(crate) fn run<F>(what: &str, main: F) -> Result<()>
where
    F: Future<Output = Result<()>>,
{
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(format!("palisade-{what}"))
        .build()
        .context("starting the async runtime")?
        .block_on(main)
}

/// Completes on SIGTERM or SIGINT, saying which.
pub(crate) async fn stop_signal(what: &'static str) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => say(what, "SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => say(what, "SIGINT: stopping"),
    }
}
