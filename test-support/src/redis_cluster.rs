//! A Redis Cluster of the test's own: three masters and three replicas,
//! six `redis-server` processes on free loopback ports, killed by PID on
//! drop. A test can kill a master and wait for its replica to take over
//! ([`RedisCluster::kill_master`], [`RedisCluster::wait_for_failover`]),
//! start the killed node again ([`RedisCluster::restart_node`]), and move
//! a slot to another master while clients write to it
//! ([`RedisCluster::migrate_slot`]).
//!
//! A missing `redis-server` or `redis-cli` fails the test (it is never
//! skipped): install them with `apt-get install -y redis-server`, or point
//! `REDIS_SERVER` (and `REDIS_CLI`) at the binaries.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How many hash slots a Redis Cluster has.
pub const SLOTS: u16 = 16384;

/// How long [`RedisCluster::start`] waits for the cluster to agree, and
/// [`RedisCluster::restart_node`] and [`RedisCluster::migrate_slot`] for
/// the nodes to agree again.
const SETTLE: Duration = Duration::from_secs(20);

/// Keys moved per `MIGRATE` by [`RedisCluster::migrate_slot`].
const BATCH: usize = 100;

/// Three masters and three replicas, each a `redis-server` stopped (by
/// PID) when the cluster is dropped, with its directory.
pub struct RedisCluster {
    server: PathBuf,
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
}

struct Node {
    port: u16,
    child: Option<Child>,
}

/// One reply of a node, as RESP2 encodes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Status(String),
    /// `-ERR …`, `-MOVED …`, `-ASK …`.
    Error(String),
    /// `:1`.
    Integer(i64),
    /// A bulk string; `None` for the null bulk string.
    Bulk(Option<Vec<u8>>),
    /// An array; `None` for the null array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// A status or bulk string as text; panics on any other reply.
    pub fn text(&self) -> String {
        match self {
            Reply::Status(text) => text.clone(),
            Reply::Bulk(Some(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            other => panic!("expected a string reply, got {other:?}"),
        }
    }

    fn items(&self) -> &[Reply] {
        match self {
            Reply::Array(Some(items)) => items,
            other => panic!("expected an array reply, got {other:?}"),
        }
    }

    fn integer(&self) -> i64 {
        match self {
            Reply::Integer(n) => *n,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }
}

/// How often a master ran scripts and functions (`INFO commandstats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptCalls {
    /// `cmdstat_eval` calls.
    pub eval: u64,
    /// `cmdstat_evalsha` calls.
    pub evalsha: u64,
    /// `cmdstat_fcall` calls.
    pub fcall: u64,
}

impl ScriptCalls {
    /// All three counts added up.
    pub fn total(&self) -> u64 {
        self.eval + self.evalsha + self.fcall
    }
}

/// Who serves a range of slots, in one node's view (`CLUSTER SLOTS`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Shard {
    start: u16,
    end: u16,
    master: u16,
    replicas: Vec<u16>,
}

impl RedisCluster {
    /// Starts six nodes in cluster mode, joins them with `redis-cli
    /// --cluster create … --cluster-replicas 1` and waits until every node
    /// reports `cluster_state:ok`, all agree on who serves each slot and
    /// each replica is in sync; panics after 20 s.
    pub fn start() -> Self {
        let server = binary("REDIS_SERVER", "redis-server");
        let cli = cli_binary(&server);
        let dir = tempfile::tempdir().expect("a temporary directory for the cluster");
        let mut cluster = RedisCluster {
            server,
            dir,
            nodes: Vec::new(),
        };
        cluster.spawn_all();
        cluster.create(&cli);
        cluster.wait_until(SETTLE, "the new cluster to settle", |cluster| {
            let shards = cluster.agreed()?;
            let mut ports: Vec<u16> = shards.iter().map(|s| s.master).collect();
            ports.extend(shards.iter().flat_map(|s| s.replicas.iter().copied()));
            ports.sort_unstable();
            ports.dedup();
            if shards.len() != 3 || shards.iter().any(|s| s.replicas.len() != 1) {
                return Err(format!("not three masters with a replica each: {shards:?}"));
            }
            match ports.len() {
                6 => Ok(()),
                _ => Err(format!("not six nodes: {shards:?}")),
            }
        });
        cluster
    }

    /// `redis://127.0.0.1:{port}` of every node, masters and replicas: what
    /// a cluster client is given.
    pub fn urls(&self) -> Vec<String> {
        self.ports()
            .into_iter()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect()
    }

    /// The ports of all six nodes, killed ones included.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|node| node.port).collect()
    }

    /// The process id of the node on `port`; `None` while it is killed.
    pub fn pid(&self, port: u16) -> Option<u32> {
        self.node(port).child.as_ref().map(Child::id)
    }

    /// The hash slot of `key`: CRC16 (XMODEM) of its hash tag, the part
    /// between the first `{` and the next `}` when not empty, or else of the
    /// whole key, modulo 16384.
    pub fn slot_of(key: &str) -> u16 {
        let key = key.as_bytes();
        let hashed = key
            .iter()
            .position(|&b| b == b'{')
            .and_then(|open| {
                let tag = &key[open + 1..];
                let close = tag.iter().position(|&b| b == b'}')?;
                (close > 0).then(|| &tag[..close])
            })
            .unwrap_or(key);
        crc16(hashed) % SLOTS
    }

    /// The port of the master serving `slot`, as the first live node sees
    /// it (`CLUSTER SLOTS`).
    pub fn master_of(&self, slot: u16) -> u16 {
        master_in(&self.view(), slot)
    }

    /// The ports of the masters that serve slots, as the first live node
    /// sees it, in slot order.
    pub fn masters(&self) -> Vec<u16> {
        let mut masters = Vec::new();
        for shard in self.view() {
            if !masters.contains(&shard.master) {
                masters.push(shard.master);
            }
        }
        masters
    }

    /// Kills the node on `port` (SIGKILL, by PID: a crash) and waits for it
    /// to exit. Nothing if it is already killed.
    pub fn kill(&mut self, port: u16) {
        if let Some(mut child) = self.node_mut(port).child.take() {
            child
                .kill()
                .unwrap_or_else(|e| panic!("cannot kill redis-server {}: {e}", child.id()));
            child.wait().expect("wait for the killed redis-server");
        }
    }

    /// Kills the master serving `slot` (SIGKILL, by PID) and returns its
    /// port.
    pub fn kill_master(&mut self, slot: u16) -> u16 {
        let port = self.master_of(slot);
        self.kill(port);
        port
    }

    /// Waits until a live node serves `slot` as master and every live node
    /// reports `cluster_state:ok` with the same slot map, and returns that
    /// master's port; panics with the nodes' view after `timeout`.
    pub fn wait_for_failover(&self, slot: u16, timeout: Duration) -> u16 {
        self.wait_until(timeout, &format!("a failover of slot {slot}"), |cluster| {
            Ok(master_in(&cluster.agreed()?, slot))
        })
    }

    /// Starts the killed node on `port` again, with its `nodes.conf`, and
    /// waits until every live node sees it in the cluster (a killed master
    /// whose replica took over comes back as that replica's replica, in
    /// sync); panics after 20 s.
    pub fn restart_node(&mut self, port: u16) {
        assert!(
            self.node(port).child.is_none(),
            "the node on port {port} runs; kill it first"
        );
        let child = self.spawn(port).unwrap_or_else(|e| panic!("{e}"));
        self.node_mut(port).child = Some(child);
        self.wait_until(SETTLE, &format!("node {port} to rejoin"), |cluster| {
            cluster.agreed().map(drop)
        });
    }

    /// Moves `slot` and its keys to the master on `to_port` as `redis-cli
    /// --cluster reshard` does (`IMPORTING`, `MIGRATING`, keys moved by
    /// `MIGRATE` in batches, `SETSLOT … NODE`), and waits until all live
    /// nodes agree; clients may keep writing meanwhile (they are sent `ASK`).
    pub fn migrate_slot(&self, slot: u16, to_port: u16) {
        let from_port = self.master_of(slot);
        if from_port == to_port {
            return;
        }
        let masters = self.masters();
        assert!(
            masters.contains(&to_port),
            "{to_port} is not a master: {masters:?}"
        );
        let from_id = self.node_id(from_port);
        let to_id = self.node_id(to_port);
        let slot_arg = slot.to_string();
        let setslot = |port: u16, state: &str, id: &str| {
            self.expect_ok(port, &["CLUSTER", "SETSLOT", &slot_arg, state, id]);
        };
        setslot(to_port, "IMPORTING", &from_id);
        setslot(from_port, "MIGRATING", &to_id);
        let batch = BATCH.to_string();
        loop {
            let reply = self.command(from_port, &["CLUSTER", "GETKEYSINSLOT", &slot_arg, &batch]);
            let keys = reply.items();
            if keys.is_empty() {
                break;
            }
            let to = to_port.to_string();
            let mut args: Vec<&[u8]> = vec![b"MIGRATE", b"127.0.0.1", to.as_bytes(), b""];
            args.extend([b"0".as_slice(), b"5000", b"KEYS"]);
            for key in keys {
                match key {
                    Reply::Bulk(Some(key)) => args.push(key),
                    other => panic!("GETKEYSINSLOT gave {other:?}"),
                }
            }
            match request(from_port, &args) {
                // NOKEY: the keys were deleted since GETKEYSINSLOT.
                Ok(Reply::Status(status)) if status == "OK" || status == "NOKEY" => {}
                other => panic!("MIGRATE of slot {slot} from {from_port} to {to_port}: {other:?}"),
            }
        }
        // The new owner first, so that it answers for the slot before the
        // old one redirects there; then every other master.
        setslot(to_port, "NODE", &to_id);
        setslot(from_port, "NODE", &to_id);
        for master in masters {
            if master != to_port && master != from_port {
                setslot(master, "NODE", &to_id);
            }
        }
        let what = format!("the nodes to agree that {to_port} serves slot {slot}");
        self.wait_until(SETTLE, &what, |cluster| {
            match master_in(&cluster.agreed()?, slot) {
                port if port == to_port => Ok(()),
                port => Err(format!("slot {slot} is still served by {port}")),
            }
        });
    }

    /// Runs one command on the node on `port` over a connection of its own
    /// and returns the reply (errors included, as [`Reply::Error`]); panics
    /// when the node cannot be reached.
    pub fn command(&self, port: u16, args: &[&str]) -> Reply {
        let args: Vec<&[u8]> = args.iter().map(|arg| arg.as_bytes()).collect();
        request(port, &args).unwrap_or_else(|e| panic!("node {port}: {e}"))
    }

    /// Runs `ASKING` and then one command on the node on `port`, over one
    /// connection, as a cluster client does after an `ASK` redirect, and
    /// returns the command's reply.
    pub fn command_asking(&self, port: u16, args: &[&str]) -> Reply {
        let args: Vec<&[u8]> = args.iter().map(|arg| arg.as_bytes()).collect();
        pipeline(port, &[&[b"ASKING"], &args])
            .unwrap_or_else(|e| panic!("node {port}: {e}"))
            .pop()
            .expect("a reply per command")
    }

    /// `INFO commandstats` of the node on `port`.
    pub fn info_commandstats(&self, port: u16) -> String {
        self.command(port, &["INFO", "commandstats"]).text()
    }

    /// How often each master ran `EVAL`, `EVALSHA` and `FCALL` since it
    /// started or since [`reset_stats`](Self::reset_stats), by port.
    pub fn script_calls(&self) -> BTreeMap<u16, ScriptCalls> {
        self.masters()
            .into_iter()
            .map(|port| {
                let stats = self.info_commandstats(port);
                let calls = |command: &str| {
                    let prefix = format!("cmdstat_{command}:calls=");
                    stats
                        .lines()
                        .find_map(|line| line.strip_prefix(prefix.as_str()))
                        .and_then(|rest| rest.split(',').next()?.parse().ok())
                        .unwrap_or(0)
                };
                let counts = ScriptCalls {
                    eval: calls("eval"),
                    evalsha: calls("evalsha"),
                    fcall: calls("fcall"),
                };
                (port, counts)
            })
            .collect()
    }

    /// Zeroes the statistics of every live node (`CONFIG RESETSTAT`).
    pub fn reset_stats(&self) {
        for port in self.live() {
            self.expect_ok(port, &["CONFIG", "RESETSTAT"]);
        }
    }

    fn node(&self, port: u16) -> &Node {
        self.nodes
            .iter()
            .find(|node| node.port == port)
            .unwrap_or_else(|| panic!("no node on port {port}"))
    }

    fn node_mut(&mut self, port: u16) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|node| node.port == port)
            .unwrap_or_else(|| panic!("no node on port {port}"))
    }

    fn live(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|node| node.child.is_some())
            .map(|node| node.port)
            .collect()
    }

    fn node_id(&self, port: u16) -> String {
        self.command(port, &["CLUSTER", "MYID"]).text()
    }

    fn expect_ok(&self, port: u16, args: &[&str]) {
        let reply = self.command(port, args);
        assert_eq!(
            reply,
            Reply::Status("OK".into()),
            "{} on {port}",
            args.join(" ")
        );
    }

    /// The slot map of the first live node that answers.
    fn view(&self) -> Vec<Shard> {
        self.live()
            .into_iter()
            .find_map(|port| shards(port).ok())
            .expect("a live node that answers CLUSTER SLOTS")
    }

    /// The slot map every live node agrees on, when each reports
    /// `cluster_state:ok`, the map covers every slot with live masters,
    /// names every live node and each live replica is in sync.
    fn agreed(&self) -> Result<Vec<Shard>, String> {
        let live = self.live();
        let mut agreed: Option<Vec<Shard>> = None;
        for &port in &live {
            let info = request(port, &[b"CLUSTER", b"INFO"]).map_err(|e| format!("{port}: {e}"))?;
            if !info.text().contains("cluster_state:ok") {
                return Err(format!("{port}: cluster_state is not ok"));
            }
            let view = shards(port)?;
            match &agreed {
                Some(first) if *first != view => {
                    return Err(format!("{port} sees {view:?}, another {first:?}"));
                }
                _ => agreed = Some(view),
            }
        }
        let shards = agreed.ok_or("no live node")?;
        let mut next = 0u32;
        for shard in &shards {
            if u32::from(shard.start) != next {
                return Err(format!("slot {next} is not served: {shards:?}"));
            }
            if !live.contains(&shard.master) {
                return Err(format!("{} serves slots but is killed", shard.master));
            }
            next = u32::from(shard.end) + 1;
        }
        if next != u32::from(SLOTS) {
            return Err(format!("slot {next} is not served: {shards:?}"));
        }
        for &port in &live {
            let shard = shards
                .iter()
                .find(|s| s.master == port || s.replicas.contains(&port))
                .ok_or_else(|| format!("{port} is in no shard: {shards:?}"))?;
            if shard.master != port {
                let info = request(port, &[b"INFO", b"replication"])
                    .map_err(|e| format!("{port}: {e}"))?;
                if !info.text().contains("master_link_status:up") {
                    return Err(format!("replica {port} is not in sync yet"));
                }
            }
        }
        Ok(shards)
    }

    /// Calls `check` every 50 ms until it succeeds; panics after `timeout`
    /// with its last error and every live node's `CLUSTER NODES`.
    fn wait_until<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut check: impl FnMut(&Self) -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let error = match check(self) {
                Ok(value) => return value,
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}: {error}\n{}",
                    self.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every node's `CLUSTER NODES`, or why there is none, for a panic.
    fn describe(&self) -> String {
        let mut text = String::new();
        for node in &self.nodes {
            let view = match &node.child {
                None => "killed".to_owned(),
                Some(_) => match request(node.port, &[b"CLUSTER", b"NODES"]) {
                    Ok(reply @ Reply::Bulk(Some(_))) => reply.text(),
                    Ok(reply) => format!("{reply:?}"),
                    Err(e) => e.to_string(),
                },
            };
            let view = view.trim_end().replace('\n', "\n  ");
            text.push_str(&format!("node {}:\n  {view}\n", node.port));
        }
        text
    }

    /// Starts six nodes on fresh ports, trying other ports when one was
    /// taken between the choice and the start.
    fn spawn_all(&mut self) {
        let mut error = String::new();
        for _ in 0..3 {
            let (ports, held) = free_ports(6);
            drop(held);
            self.nodes = ports
                .into_iter()
                .map(|port| Node { port, child: None })
                .collect();
            let mut failed = None;
            for i in 0..self.nodes.len() {
                match self.spawn(self.nodes[i].port) {
                    Ok(child) => self.nodes[i].child = Some(child),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            match failed {
                None => return,
                Some(e) => error = e,
            }
            for port in self.ports() {
                self.kill(port);
            }
        }
        panic!("cannot start the cluster's nodes: {error}");
    }

    /// Joins the six nodes, three masters and a replica for each.
    fn create(&self, cli: &Path) {
        let mut command = Command::new(cli);
        command.args(["--cluster", "create"]);
        command.args(self.ports().iter().map(|port| format!("127.0.0.1:{port}")));
        command.args(["--cluster-replicas", "1", "--cluster-yes"]);
        let output_path = self.dir.path().join("create.log");
        let output = std::fs::File::create(&output_path).expect("create.log");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("create.log"))
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", cli.display()));
        let deadline = Instant::now() + SETTLE;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for redis-cli") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if status.is_none_or(|status| !status.success()) {
            let output = std::fs::read_to_string(&output_path).unwrap_or_default();
            panic!("redis-cli --cluster create failed ({status:?}):\n{output}");
        }
    }

    /// Starts `redis-server` on `port` in its own directory and waits until
    /// it answers `PING`.
    fn spawn(&self, port: u16) -> Result<Child, String> {
        let dir = self.dir.path().join(port.to_string());
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let log = dir.join("redis.log");
        let mut child = Command::new(&self.server)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-config-file"])
            .arg(dir.join(format!("nodes-{port}.conf")))
            .args(["--cluster-node-timeout", "1000"])
            // A replica takes over however long ago it heard from its master.
            .args(["--cluster-replica-validity-factor", "0"])
            .args(["--cluster-allow-reads-when-down", "no"])
            // A replica syncs at once, not after a 5 s wait for other replicas.
            .args(["--repl-diskless-sync-delay", "0"])
            // A master pings its replicas every second, so a replica of an
            // idle master reaches an offset above 0, which `CLUSTER SLOTS`
            // needs to list it, within a second, not ten.
            .args(["--repl-ping-replica-period", "1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.server.display()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ping(port) {
                return Ok(child);
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(10).collect();
                let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
                return Err(format!(
                    "redis-server on port {port} did not come up ({exited:?}):\n{tail}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        // Never a panic here: it may run while a failing test unwinds.
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// The master serving `slot` in `shards`.
fn master_in(shards: &[Shard], slot: u16) -> u16 {
    shards
        .iter()
        .find(|shard| (shard.start..=shard.end).contains(&slot))
        .map(|shard| shard.master)
        .unwrap_or_else(|| panic!("no master serves slot {slot}: {shards:?}"))
}

/// The `CLUSTER SLOTS` of the node on `port`, ranges in slot order.
fn shards(port: u16) -> Result<Vec<Shard>, String> {
    let reply = request(port, &[b"CLUSTER", b"SLOTS"]).map_err(|e| format!("{port}: {e}"))?;
    let Reply::Array(Some(ranges)) = reply else {
        return Err(format!("{port}: CLUSTER SLOTS gave {reply:?}"));
    };
    let node_port = |node: &Reply| node.items()[1].integer() as u16;
    let mut shards: Vec<Shard> = ranges
        .iter()
        .map(|range| {
            let items = range.items();
            let mut replicas: Vec<u16> = items[3..].iter().map(node_port).collect();
            replicas.sort_unstable();
            Shard {
                start: items[0].integer() as u16,
                end: items[1].integer() as u16,
                master: node_port(&items[2]),
                replicas,
            }
        })
        .collect();
    shards.sort_by_key(|shard| shard.start);
    Ok(shards)
}

/// `n` loopback ports below 55535, free with their cluster bus ports
/// (port + 10000), and the listeners that hold them all until dropped.
fn free_ports(n: usize) -> (Vec<u16>, Vec<TcpListener>) {
    let mut ports = Vec::new();
    let mut held = Vec::new();
    for _ in 0..1000 {
        if ports.len() == n {
            return (ports, held);
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free local port");
        let port = listener.local_addr().expect("its address").port();
        // Held even when refused, so that the next bind gives another port.
        held.push(listener);
        if port < 55535 {
            if let Ok(bus) = TcpListener::bind(("127.0.0.1", port + 10000)) {
                held.push(bus);
                ports.push(port);
            }
        }
    }
    panic!("no {n} free local ports with free cluster bus ports");
}

/// Runs one command on the node on `port` over a connection of its own.
fn request(port: u16, args: &[&[u8]]) -> io::Result<Reply> {
    Ok(pipeline(port, &[args])?.pop().expect("a reply per command"))
}

/// Sends `commands` to the node on `port` over one connection of their own
/// and reads their replies.
fn pipeline(port: u16, commands: &[&[&[u8]]]) -> io::Result<Vec<Reply>> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    for args in commands {
        request.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in *args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
    }
    stream.write_all(&request)?;
    let mut reader = BufReader::new(stream);
    commands.iter().map(|_| read_reply(&mut reader)).collect()
}

fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.len() < 3 || !line.ends_with(b"\r\n") {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the connection closed mid-reply",
        ));
    }
    let rest = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
    let length = || {
        rest.parse::<i64>()
            .map_err(|_| invalid(format!("a bad length: {rest}")))
    };
    Ok(match line[0] {
        b'+' => Reply::Status(rest.clone()),
        b'-' => Reply::Error(rest.clone()),
        b':' => Reply::Integer(length()?),
        b'$' => match usize::try_from(length()?) {
            Err(_) => Reply::Bulk(None),
            Ok(n) => {
                let mut bytes = vec![0; n + 2];
                reader.read_exact(&mut bytes)?;
                bytes.truncate(n);
                Reply::Bulk(Some(bytes))
            }
        },
        b'*' => match usize::try_from(length()?) {
            Err(_) => Reply::Array(None),
            Ok(n) => Reply::Array(Some(
                (0..n)
                    .map(|_| read_reply(reader))
                    .collect::<io::Result<_>>()?,
            )),
        },
        other => {
            return Err(invalid(format!(
                "an unknown reply type {:?}",
                other as char
            )));
        }
    })
}

fn ping(port: u16) -> bool {
    matches!(request(port, &[b"PING"]), Ok(Reply::Status(s)) if s == "PONG")
}

/// CRC16-XMODEM (polynomial 0x1021, initial value 0), Redis Cluster's key
/// hash.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// `redis-cli`: `$REDIS_CLI`, else next to `server`, else as [`binary`]
/// finds it.
fn cli_binary(server: &Path) -> PathBuf {
    if std::env::var_os("REDIS_CLI").is_none() {
        let beside = server.with_file_name("redis-cli");
        if beside.is_file() {
            return beside;
        }
    }
    binary("REDIS_CLI", "redis-cli")
}

/// `$variable`, else `name` on `PATH`, else the usual places; a clear
/// failure when there is none, in CI (`CI` set) and elsewhere.
fn binary(variable: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let usual = ["/usr/bin", "/usr/local/bin"].map(|dir| Path::new(dir).join(name));
    if let Some(found) = on_path.into_iter().chain(usual).find(|p| p.is_file()) {
        return found;
    }
    let ci = std::env::var_os("CI").is_some();
    panic!(
        "{name} not found (CI={ci}): the Redis Cluster tests need a real Redis 7 and do not \
         skip; install it with `apt-get install -y redis-server` or set {variable} to its path"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_is_xmodem() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slot_of_matches_the_cluster_spec_examples() {
        assert_eq!(RedisCluster::slot_of("foo"), 12182);
        assert_eq!(RedisCluster::slot_of("bar"), 5061);
        assert_eq!(
            RedisCluster::slot_of("{user1000}.following"),
            RedisCluster::slot_of("user1000")
        );
    }

    #[test]
    fn an_empty_or_unclosed_tag_hashes_the_whole_key() {
        assert_eq!(
            RedisCluster::slot_of("foo{}{bar}"),
            crc16(b"foo{}{bar}") % SLOTS
        );
        assert_eq!(RedisCluster::slot_of("foo{bar"), crc16(b"foo{bar") % SLOTS);
        assert_eq!(
            RedisCluster::slot_of("foo{{bar}}zap"),
            RedisCluster::slot_of("{bar")
        );
    }
}
