//! A `redis-server` of the test's own, on a free port, killed on drop;
//! for outage tests, killed by PID and started again on the same port,
//! with its data ([`RedisServer::start_persistent`]) or without
//! ([`RedisServer::restart_empty`]).
//!
//! A missing `redis-server` fails the test (it is never skipped): install
//! it with `apt-get install -y redis-server`, or point `REDIS_SERVER` at
//! the binary.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`, stopped (by PID) when dropped.
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    persistent: bool,
    child: Option<Child>,
}

impl RedisServer {
    /// A server without persistence (`--save '' --appendonly no`): a
    /// restart loses everything.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// A server that writes every command to its append-only file: a
    /// restart keeps the streams, the epoch and the sequence.
    pub fn start_persistent() -> Self {
        Self::launch(true)
    }

    fn launch(persistent: bool) -> Self {
        let binary = binary();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free local port")
            .port();
        let dir = tempfile::tempdir().expect("a temporary directory for redis-server");
        let mut server = RedisServer {
            binary,
            port,
            dir,
            persistent,
            child: None,
        };
        server.spawn();
        server
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server process's id; `None` while it is killed.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (SIGKILL, by PID: no shutdown, no final save, as a
    /// crash) and waits for it to exit; the port then refuses connections
    /// until [`restart`](Self::restart). Nothing if it is already killed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` is `kill(pid, SIGKILL)` on Unix.
            child
                .kill()
                .unwrap_or_else(|e| panic!("cannot kill redis-server {}: {e}", child.id()));
            child.wait().expect("wait for the killed redis-server");
        }
    }

    /// Stops the server (SIGSTOP, by PID) without closing anything: its
    /// connections stay open and unanswered, as in a network partition,
    /// until [`resume`](Self::resume).
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a [paused](Self::pause) server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid().expect("redis-server runs");
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("`kill` runs");
        assert!(status.success(), "kill {signal} {pid}: {status}");
    }

    /// Starts the server again on the same port and directory (killing it
    /// first if it runs), with the same settings: a persistent server
    /// reloads its append-only file, with every command it acknowledged; a
    /// server without persistence starts empty.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Kills the server and starts it again on the same port with nothing
    /// of its data (the directory emptied), as after a restart without
    /// persistence or a lost disk: the ssekit-redis epoch and sequence are
    /// gone, so the next process to use it sets a new epoch.
    pub fn restart_empty(&mut self) {
        self.kill();
        for entry in std::fs::read_dir(self.dir.path()).expect("the data directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            }
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
        }
        self.spawn();
    }

    /// Runs one command over a raw connection and returns the reply line.
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("redis-server is up");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("a read timeout");
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream
            .write_all(request.as_bytes())
            .expect("send the command");
        let mut reply = Vec::new();
        let mut buf = [0u8; 65536];
        // Enough for the short replies the tests read.
        std::thread::sleep(Duration::from_millis(20));
        let n = stream.read(&mut buf).expect("read the reply");
        reply.extend_from_slice(&buf[..n]);
        String::from_utf8_lossy(&reply).into_owned()
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let mut command = Command::new(&self.binary);
        command
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.persistent {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ping(self.port) {
                return;
            }
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "redis-server on port {} exited at start: {status}",
                        self.port
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Never a panic here: it may run while a failing test unwinds.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

/// `$REDIS_SERVER`, else `redis-server` on `PATH`, else the usual places;
/// a clear failure when there is none, in CI (`CI` set) and elsewhere.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("redis-server"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let usual = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].map(PathBuf::from);
    if let Some(found) = on_path.into_iter().chain(usual).find(|p| p.is_file()) {
        return found;
    }
    let ci = std::env::var_os("CI").is_some();
    panic!(
        "redis-server not found (CI={ci}): the ssekit-redis tests need a real Redis 6+ and do not \
         skip; install it with `apt-get install -y redis-server` or set REDIS_SERVER to its path"
    );
}
