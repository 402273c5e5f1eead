//! A second process for the tests: publishes to or subscribes from a topic
//! through Redis, printing one line per event.
//!
//! ```text
//! redis_peer URL publish TOPIC COUNT        prints each id given out
//! redis_peer URL subscribe TOPIC COUNT [ID]  prints `ready`, then each id received
//! ```

use std::time::Duration;

use futures_util::StreamExt;
use ssekit_core::Event;
use ssekit_core::broker::Broker;
use ssekit_redis::RedisBackend;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, mode, topic, count, rest @ ..] = args.as_slice() else {
        return Err("usage: redis_peer URL publish|subscribe TOPIC COUNT [LAST_EVENT_ID]".into());
    };
    let count: usize = count.parse()?;
    let broker = Broker::builder().build_with(RedisBackend::connect(url).await?);
    match mode.as_str() {
        "publish" => {
            for n in 0..count {
                let id = broker
                    .publish(topic, Event::data(&format!("peer {n}")))
                    .await?;
                println!("{id}");
            }
        }
        "subscribe" => {
            let mut subscription = broker
                .subscribe(&[topic.as_str()], rest.first().map(String::as_str))
                .await?;
            println!("ready");
            for _ in 0..count {
                let event = tokio::time::timeout(Duration::from_secs(20), subscription.next())
                    .await?
                    .ok_or("the subscription ended")?;
                let text = String::from_utf8_lossy(event.as_bytes()).into_owned();
                let id = text
                    .lines()
                    .find_map(|line| line.strip_prefix("id: "))
                    .ok_or("an event without an id")?;
                println!("{id}");
            }
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    Ok(())
}
