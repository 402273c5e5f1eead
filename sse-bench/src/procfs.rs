//! What `/proc` says about a process, and the file-descriptor limit.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, and the hard limit
/// to `wanted` if it is lower and the process may (root); children inherit
/// it. Returns the soft limit in force afterwards (`None`: unlimited).
pub(crate) fn raise_nofile_limit(wanted: u64) -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if let Some(hard) = limit.maximum {
        if hard < wanted {
            let raised = Rlimit {
                current: Some(wanted),
                maximum: Some(wanted),
            };
            // Fails without CAP_SYS_RESOURCE, or above fs.nr_open: then the
            // hard limit stays, and the caller warns.
            let _ = setrlimit(Resource::Nofile, raised);
        }
    }
    let limit = getrlimit(Resource::Nofile);
    // The soft limit is never above the hard one: different means lower.
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(%error, "cannot raise the file-descriptor limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// User + system CPU seconds of the process whose `stat` file is `path`.
pub(crate) fn cpu_seconds(path: &str) -> std::io::Result<f64> {
    let stat = std::fs::read_to_string(path)?;
    // Fields after the command name, which may hold spaces: state is the
    // first, utime the 12th, stime the 13th.
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let per_second = rustix::param::clock_ticks_per_second() as f64;
    Ok((ticks(11) + ticks(12)) as f64 / per_second)
}

/// Resident set size of `pid`, in bytes (`VmRSS`).
pub(crate) fn rss_bytes(pid: u32) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    Ok(kb * 1024)
}

/// The 1, 5 and 15 minute load averages.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Whether process `pid` holds a TCP socket listening on `port` of IPv4
/// (`/proc/net/tcp`): another process may listen on the same port
/// (`SO_REUSEPORT`), so a successful connect does not tell.
pub(crate) fn listens(pid: u32, port: u16) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let inodes: Vec<String> = fds
        .filter_map(|fd| {
            let target = std::fs::read_link(fd.ok()?.path()).ok()?;
            let target = target.to_str()?;
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")) else {
        return false;
    };
    let local = format!(":{port:04X}");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // local_address, state (0A: LISTEN), inode.
        fields.len() > 9
            && fields[1].ends_with(&local)
            && fields[3] == "0A"
            && inodes.iter().any(|inode| inode == fields[9])
    })
}
