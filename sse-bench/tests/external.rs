//! The external mode end to end, small: `sse-bench --only-latency` starts
//! two external servers (the `axum-broadcast` reference twice: one as
//! "ours", one as itself), subscribes through their stream route, posts
//! events through their form route and reads the events back.

use std::process::Command;

const BENCH: &str = env!("CARGO_BIN_EXE_sse-bench");
const REFERENCE: &str = env!("CARGO_BIN_EXE_axum-broadcast");

#[test]
fn the_external_mode_posts_through_the_routes_and_reads_every_event_back() {
    let output = Command::new(BENCH)
        .args(["--only-latency", "--runs", "1", "--small", "20"])
        .args(["--phase-ms", "500", "--latency-rate", "40"])
        .arg("--ours-cmd")
        .arg(format!("{REFERENCE} --addr {{addr}}"))
        .args(["--ours-stream-path", "/events"])
        .args(["--ours-post-path", "/publish"])
        .output()
        .expect("sse-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("- ours: external, `") && stdout.contains("(GET /events, POST /publish)"),
        "{stdout}"
    );
    // Every event posted reached all 20 subscribers of both servers, in
    // order.
    let phases: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("20 × 100 B at 40/s"))
        .collect();
    assert_eq!(phases.len(), 2, "{stderr}");
    for phase in phases {
        assert!(phase.contains("100.0 % arrived by the deadline"), "{phase}");
        assert!(phase.contains("silent_lost: 0,"), "{phase}");
        assert!(phase.contains("duplicates: 0,"), "{phase}");
    }
    assert!(
        stdout.contains("40/s × 20 × 100 B: p99 latency"),
        "{stdout}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
}
