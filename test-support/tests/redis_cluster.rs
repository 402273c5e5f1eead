//! The Redis Cluster harness does what its tests rely on: three masters
//! serve every slot, its slot hash is Redis's, a killed master is replaced
//! by its replica and comes back as a replica, and a slot moves to another
//! master with its keys, even while a client writes to it, and script
//! calls are counted per master.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sse_test_support::redis_cluster::{RedisCluster, Reply};

const FAILOVER: Duration = Duration::from_secs(15);

fn ok() -> Reply {
    Reply::Status("OK".into())
}

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Some(text.as_bytes().to_vec()))
}

/// A field of `CLUSTER INFO` on `port`.
fn cluster_info(cluster: &RedisCluster, port: u16, field: &str) -> String {
    let info = cluster.command(port, &["CLUSTER", "INFO"]).text();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .to_owned()
}

/// Sets `key` as a cluster client does: to the master of its slot, after
/// `MOVED` to the new owner, after `ASK` to the importing node with
/// `ASKING`; returns whether it was asked to.
fn cluster_set(cluster: &RedisCluster, key: &str, value: &str) -> bool {
    let mut port = cluster.master_of(RedisCluster::slot_of(key));
    let mut asked = false;
    for _ in 0..10 {
        let reply = if asked {
            cluster.command_asking(port, &["SET", key, value])
        } else {
            cluster.command(port, &["SET", key, value])
        };
        match reply {
            Reply::Status(status) if status == "OK" => return asked,
            Reply::Error(error) if error.starts_with("MOVED ") || error.starts_with("ASK ") => {
                asked = error.starts_with("ASK ");
                let target = error.rsplit(':').next().unwrap();
                port = target.parse().unwrap();
            }
            other => panic!("SET {key}: {other:?}"),
        }
    }
    panic!("SET {key}: redirected ten times");
}

#[test]
fn three_masters_serve_every_slot() {
    let started = Instant::now();
    let cluster = RedisCluster::start();
    println!("the cluster started in {:?}", started.elapsed());

    assert_eq!(cluster.urls().len(), 6);
    assert_eq!(cluster.masters().len(), 3);
    for port in cluster.ports() {
        assert!(cluster.pid(port).is_some());
        assert_eq!(cluster_info(&cluster, port, "cluster_state"), "ok");
        assert_eq!(cluster_info(&cluster, port, "cluster_slots_ok"), "16384");
        assert_eq!(cluster_info(&cluster, port, "cluster_known_nodes"), "6");
        assert_eq!(cluster_info(&cluster, port, "cluster_size"), "3");
    }
}

#[test]
fn slot_of_agrees_with_cluster_keyslot() {
    let cluster = RedisCluster::start();
    let port = cluster.masters()[0];
    let mut keys: Vec<String> = [
        "",
        "foo",
        "{user1000}.following",
        "{user1000}.followers",
        "foo{}{bar}",
        "foo{{bar}}zap",
        "foo{bar}{zap}",
        "{",
        "}{",
        "sse:{chat}:stream",
        "sse:{chat}:seq",
    ]
    .map(String::from)
    .to_vec();
    keys.extend((0..200).map(|i| format!("stream:{i}")));
    keys.extend((0..200).map(|i| format!("{{topic-{i}}}:events")));
    for key in keys {
        let expected = cluster.command(port, &["CLUSTER", "KEYSLOT", &key]);
        assert_eq!(
            Reply::Integer(i64::from(RedisCluster::slot_of(&key))),
            expected,
            "the slot of {key:?}"
        );
    }
}

#[test]
fn a_killed_master_is_replaced_by_its_replica() {
    let mut cluster = RedisCluster::start();
    let slot = RedisCluster::slot_of("{failover}");
    let master = cluster.master_of(slot);
    assert_eq!(cluster.command(master, &["SET", "{failover}", "1"]), ok());
    // Acknowledged by the replica, so it survives the failover.
    assert_eq!(
        cluster.command(master, &["WAIT", "1", "1000"]),
        Reply::Integer(1)
    );

    let killed = cluster.kill_master(slot);
    let started = Instant::now();
    let promoted = cluster.wait_for_failover(slot, FAILOVER);
    println!("failover in {:?}", started.elapsed());

    assert_eq!(killed, master);
    assert!(cluster.pid(killed).is_none());
    assert_ne!(promoted, killed);
    assert_eq!(cluster.master_of(slot), promoted);
    assert_eq!(cluster.command(promoted, &["GET", "{failover}"]), bulk("1"));
}

#[test]
fn a_restarted_master_rejoins_as_a_replica() {
    let mut cluster = RedisCluster::start();
    let slot = RedisCluster::slot_of("{restart}");
    let killed = cluster.kill_master(slot);
    let promoted = cluster.wait_for_failover(slot, FAILOVER);

    let started = Instant::now();
    cluster.restart_node(killed);
    println!("rejoined in {:?}", started.elapsed());

    assert!(cluster.pid(killed).is_some());
    assert_eq!(cluster.master_of(slot), promoted);
    assert!(!cluster.masters().contains(&killed));
    let replication = cluster.command(killed, &["INFO", "replication"]).text();
    assert!(replication.contains("role:slave"), "{replication}");
    assert!(
        replication.contains(&format!("master_port:{promoted}")),
        "{replication}"
    );
}

#[test]
fn a_migrated_slot_takes_its_keys() {
    let cluster = RedisCluster::start();
    let slot = RedisCluster::slot_of("{moving}");
    let from = cluster.master_of(slot);
    let to = *cluster.masters().iter().find(|&&m| m != from).unwrap();
    // More than one MIGRATE batch.
    for i in 0..250 {
        let key = format!("{{moving}}:{i}");
        assert_eq!(cluster.command(from, &["SET", &key, &i.to_string()]), ok());
    }

    let started = Instant::now();
    cluster.migrate_slot(slot, to);
    println!("migrated in {:?}", started.elapsed());

    assert_eq!(cluster.master_of(slot), to);
    let count = ["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()];
    assert_eq!(cluster.command(to, &count), Reply::Integer(250));
    assert_eq!(cluster.command(from, &count), Reply::Integer(0));
    assert_eq!(cluster.command(to, &["GET", "{moving}:249"]), bulk("249"));
    assert_eq!(
        cluster.command(from, &["GET", "{moving}:249"]),
        Reply::Error(format!("MOVED {slot} 127.0.0.1:{to}"))
    );
}

#[test]
fn a_slot_migrates_while_a_client_writes_to_it() {
    let cluster = RedisCluster::start();
    let slot = RedisCluster::slot_of("{busy}");
    let from = cluster.master_of(slot);
    let to = *cluster.masters().iter().find(|&&m| m != from).unwrap();
    for i in 0..3000 {
        let key = format!("{{busy}}:{i}");
        assert_eq!(cluster.command(from, &["SET", &key, "old"]), ok());
    }

    let stop = AtomicBool::new(false);
    let (written, asked) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let (mut written, mut asked) = (0, 0);
            while !stop.load(Ordering::Relaxed) || written < 100 {
                let key = format!("{{busy}}:new:{written}");
                asked += usize::from(cluster_set(&cluster, &key, "new"));
                written += 1;
            }
            println!("{written} writes during the migration, {asked} after ASK");
            (written, asked)
        });
        cluster.migrate_slot(slot, to);
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap()
    });

    assert!(asked > 0, "no write met the migration");
    let count = ["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()];
    assert_eq!(
        cluster.command(to, &count),
        Reply::Integer(3000 + written as i64)
    );
    let last = format!("{{busy}}:new:{}", written - 1);
    assert_eq!(cluster.command(to, &["GET", &last]), bulk("new"));
}

#[test]
fn script_calls_count_per_master() {
    let cluster = RedisCluster::start();
    let master = cluster.master_of(RedisCluster::slot_of("{calls}"));
    let script = "return redis.call('INCR', KEYS[1])";
    cluster.reset_stats();
    for _ in 0..3 {
        cluster.command(master, &["EVAL", script, "1", "{calls}"]);
    }
    let sha = cluster.command(master, &["SCRIPT", "LOAD", script]).text();
    assert_eq!(
        cluster.command(master, &["EVALSHA", &sha, "1", "{calls}"]),
        Reply::Integer(4)
    );

    let calls = cluster.script_calls();
    assert_eq!(calls.len(), 3);
    for (port, calls) in calls {
        let expected = if port == master { (3, 1, 0) } else { (0, 0, 0) };
        assert_eq!((calls.eval, calls.evalsha, calls.fcall), expected, "{port}");
    }
}
