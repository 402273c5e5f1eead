//! What this test process holds: resident memory, open file descriptors,
//! and the file-descriptor limit, for tests of leaks and of many
//! connections.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// This process's resident set size in bytes (`VmRSS` of
/// `/proc/self/status`).
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .expect("a VmRSS line")
        * 1024
}

/// How many file descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Raises the soft `RLIMIT_NOFILE` to at least `needed` (up to the hard
/// limit) and fails the test when the hard limit is lower.
pub fn ensure_nofile_limit(needed: u64) {
    let limit = getrlimit(Resource::Nofile);
    let maximum = limit.maximum.unwrap_or(u64::MAX);
    assert!(
        maximum >= needed,
        "this test needs {needed} file descriptors; the hard limit is {maximum}"
    );
    if limit.current.unwrap_or(u64::MAX) < needed {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(needed.max(limit.current.unwrap_or(0))),
                maximum: limit.maximum,
            },
        )
        .expect("raising RLIMIT_NOFILE");
    }
}
