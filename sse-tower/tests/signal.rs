//! `serve::shutdown_signal` completes on the signal a deploy sends.
#![cfg(unix)]

use std::time::Duration;

#[tokio::test]
async fn sigterm_completes_the_shutdown_signal() {
    let signal = tokio::spawn(ssekit_tower::serve::shutdown_signal());
    // Let the task register its handler before the signal is sent: without
    // it, SIGTERM would end this test process.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!signal.is_finished());
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(5), signal)
        .await
        .expect("the signal completes within 5 s")
        .unwrap();
}
