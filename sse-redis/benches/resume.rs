//! What one resume costs inside Redis: `Last-Event-ID: <epoch>-1` on 64
//! topics against a history of about 100 000 entries, against a
//! `redis-server` of its own.
//!
//! `cargo bench -p ssekit-redis --bench resume`
//!
//! Three cases, each resumed `RESUMES` times by one `subscribe` to the 64
//! topics; Redis's own time per resume script is `usec_per_call` of
//! `EVALSHA` in `INFO commandstats` (reset before each case), next to the
//! subscribe's wall time as the client sees it:
//!
//! - **evicted**: each topic holds its bound (1 563 events, exact trim:
//!   100 032 entries in all) after twice as many were published, so id 1
//!   is long gone and the answer is a reset.
//! - **over the bound**: each topic holds 1 563 events, none trimmed, but
//!   the resuming process's bound is 100: more than the bound lies after
//!   id 1, so the answer is a reset too.
//! - **whole history**: the same streams, resumed by a process whose bound
//!   is 1 563: every entry after id 1 is replayed (100 031 events), the
//!   largest read a resume may legitimately make.
//!
//! Before each case, "before" runs the resume script of ssekit-redis up to
//! commit 6f34a9b (`OLD_OPEN`, verbatim) on the same streams with the same
//! position, as that version's `subscribe` did: its time in Redis, and the
//! round trip of its reply (without the parsing that followed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sse_test_support::redis::RedisServer;
use ssekit_core::Event;
use ssekit_core::broker::{Broker, Resume, TopicConfig};
use ssekit_redis::RedisBackend;

/// The resume script before bounded resume (commit 6f34a9b), verbatim:
/// every topic's stream from the position to its end.
const OLD_OPEN: &str = r#"
local epoch = redis.call('GET', KEYS[1])
if not epoch or (epoch == ARGV[3] and tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[4])) then
  redis.call('SET', KEYS[1], ARGV[1])
  epoch = ARGV[1]
end
local out = {epoch, redis.call('GET', KEYS[2]) or '0'}
if ARGV[2] ~= '' then
  for i = 3, #KEYS do
    out[i] = redis.call('XRANGE', KEYS[i], ARGV[2], '+')
  end
end
return out
"#;

const TOPICS: usize = 64;
const BOUND: usize = 1_563;
const PUBLISHERS: usize = 32;

fn resumes() -> usize {
    // `cargo bench` passes `--bench`; anything else (`cargo test`) is a
    // smoke run.
    if std::env::args().any(|arg| arg == "--bench") {
        20
    } else {
        2
    }
}

fn topics(prefix: &str) -> Vec<String> {
    (0..TOPICS).map(|n| format!("{prefix}{n}")).collect()
}

async fn broker(server: &RedisServer, prefix: &str, bound: usize) -> Broker {
    let backend = RedisBackend::builder(&server.url())
        .key_prefix(prefix)
        .defaults(TopicConfig::new().max_events(bound).lag_limit(bound))
        .exact_trim(true)
        .command_timeout(Duration::from_secs(30))
        .connect()
        .await
        .expect("connect to redis-server");
    Broker::builder().build_with(backend)
}

/// `per_topic` events to each topic, round robin, from `PUBLISHERS` tasks.
async fn fill(broker: &Broker, names: &[String], per_topic: usize) {
    let names: Arc<[String]> = names.into();
    let total = names.len() * per_topic;
    let tasks: Vec<_> = (0..PUBLISHERS)
        .map(|task| {
            let (broker, names) = (broker.clone(), Arc::clone(&names));
            tokio::spawn(async move {
                let mut n = task;
                while n < total {
                    let topic = &names[n % names.len()];
                    broker
                        .publish(topic, Event::data(&format!("event {n} of a busy room")))
                        .await
                        .expect("publish");
                    n += PUBLISHERS;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a publisher");
    }
}

fn stat(info: &str, command: &str) -> Option<(u64, f64)> {
    let line = info
        .lines()
        .find(|line| line.starts_with(&format!("cmdstat_{command}:")))?;
    let field = |name: &str| {
        line.split([':', ','])
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    Some((
        field("calls")?.parse().ok()?,
        field("usec_per_call")?.parse().ok()?,
    ))
}

/// The old script on the streams of `prefix`, from after id 1.
async fn before(server: &RedisServer, label: &str, prefix: &str, names: &[String]) {
    let client = redis::Client::open(server.url()).expect("a client");
    let config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(60)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("connect");
    let script = redis::Script::new(OLD_OPEN);
    server.command(&["CONFIG", "RESETSTAT"]);
    let mut walls = Vec::new();
    let mut entries = 0;
    for _ in 0..resumes() {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(format!("{prefix}epoch"))
            .key(format!("{prefix}seq"));
        for name in names {
            invocation.key(format!("{prefix}topic:{name}"));
        }
        invocation.arg("1").arg("2-0").arg("").arg(0);
        let started = Instant::now();
        let reply: Vec<redis::Value> = invocation
            .invoke_async(&mut conn)
            .await
            .expect("the old script");
        walls.push(started.elapsed());
        entries = reply
            .iter()
            .skip(2)
            .map(|range| match range {
                redis::Value::Array(items) => items.len(),
                _ => 0,
            })
            .sum();
    }
    walls.sort();
    let info = server.command(&["INFO", "commandstats"]);
    let (calls, usec) = stat(&info, "evalsha")
        .or_else(|| stat(&info, "eval"))
        .unwrap_or((0, f64::NAN));
    println!(
        "{label:<16} before: read {entries:>6} entries   script: {calls} calls, {usec:>9.1} µs/call   round trip: median {:?}, max {:?}",
        walls[walls.len() / 2],
        walls[walls.len() - 1],
    );
}

async fn case(server: &RedisServer, label: &str, broker: &Broker, names: &[String]) {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let last_event_id = format!("{:x}-1", broker.epoch());
    server.command(&["CONFIG", "RESETSTAT"]);
    let mut walls = Vec::new();
    let mut outcome = String::new();
    for _ in 0..resumes() {
        let started = Instant::now();
        let subscription = broker
            .subscribe(&names, Some(&last_event_id))
            .await
            .expect("subscribe");
        walls.push(started.elapsed());
        outcome = match subscription.resume() {
            Resume::Replayed { events } => format!("replayed {events}"),
            Resume::Reset { reason, .. } => format!("reset ({reason:?})"),
            other => format!("{other:?}"),
        };
        drop(subscription);
    }
    walls.sort();
    let info = server.command(&["INFO", "commandstats"]);
    let (calls, usec) = stat(&info, "evalsha")
        .or_else(|| stat(&info, "eval"))
        .unwrap_or((0, f64::NAN));
    let (xcalls, xusec) = stat(&info, "xrange").unwrap_or((0, 0.0));
    println!(
        "{label:<16} after:  {outcome:<18} script: {calls} calls, {:>9.1} µs/call   XRANGE: {xcalls} calls, {xusec:.1} µs/call   subscribe wall: median {:?}, max {:?}",
        usec,
        walls[walls.len() / 2],
        walls[walls.len() - 1],
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let server = RedisServer::start();
        let started = Instant::now();
        let evicted = topics("room:");
        let trimmed = broker(&server, "a:", BOUND).await;
        fill(&trimmed, &evicted, 2 * BOUND).await;
        let whole = topics("hall:");
        let writer = broker(&server, "b:", BOUND).await;
        fill(&writer, &whole, BOUND).await;
        let xlen =
            |prefix: &str, name: &str| server.command(&["XLEN", &format!("{prefix}topic:{name}")]);
        println!(
            "filled in {:?}: XLEN {} and {} per topic, {} topics each",
            started.elapsed(),
            xlen("a:", &evicted[0]).trim(),
            xlen("b:", &whole[0]).trim(),
            TOPICS
        );
        before(&server, "evicted", "a:", &evicted).await;
        case(&server, "evicted", &trimmed, &evicted).await;
        let small = broker(&server, "b:", 100).await;
        before(&server, "over the bound", "b:", &whole).await;
        case(&server, "over the bound", &small, &whole).await;
        before(&server, "whole history", "b:", &whole).await;
        case(&server, "whole history", &writer, &whole).await;
    });
}
