//! [`shutdown_signal`]: what a server's graceful shutdown waits for.

/// Completes when the process is asked to stop: Ctrl-C (`SIGINT`), or
/// `SIGTERM` on Unix, which is what `systemd`, Docker and Kubernetes send
/// on a deploy. It logs which one; a signal it cannot listen for is logged
/// and never completes.
///
/// ```no_run
/// # async fn run(app: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// ssekit_tower::serve(listener, app)
///     .with_graceful_shutdown(ssekit_tower::serve::shutdown_signal())
///     .await
/// # }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(error) => {
                tracing::warn!(%error, "cannot listen for Ctrl-C");
                std::future::pending().await
            }
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
                "SIGTERM"
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<&str>();
    let signal = tokio::select! {
        signal = ctrl_c => signal,
        signal = terminate => signal,
    };
    tracing::info!(signal, "shutting down");
}
