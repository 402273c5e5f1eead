//! The `--hyper-util` accept loop out of file descriptors: it backs off
//! instead of spinning on `EMFILE`, and serves again once descriptors are
//! free. The server runs under `prlimit --nofile=64` (util-linux).
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server's user + system CPU time, in clock ticks (`/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server runs");
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn out_of_file_descriptors_the_accept_loop_backs_off_and_recovers() {
    let binary = env!("CARGO_BIN_EXE_tower-layer");
    let child = Command::new("prlimit")
        .args([
            "--nofile=64:64",
            binary,
            "--addr",
            "127.0.0.1:0",
            "--hyper-util",
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("prlimit (util-linux) runs the example");
    let mut server = Server(child);
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let pid = server.0.id();

    // More connections than the server has descriptors: it runs out.
    let held: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(&addr).expect("the kernel queues the connection"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_ticks(pid) - before;
    // A loop retrying at once burns a whole core: about 200 ticks in 2 s
    // (USER_HZ is 100). Backing off a second at a time costs next to none.
    assert!(
        spent < 40,
        "the accept loop spun: {spent} ticks of CPU in 2 s"
    );

    // Descriptors free again: the server answers within the back-off.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        if answer.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no answer after the descriptors came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
