//! The private-event check shared by the memory and Redis backends: a
//! script of public and private publishes, and a model of who must receive
//! what, applied to live delivery and to replay.

use std::future::{Ready, ready};
use std::net::SocketAddr;

use futures_util::StreamExt;
use http::request::Parts;
use ssekit_core::Event;
use ssekit_core::broker::{Broker, Grant, Resume, Subscription, Visibility};
use ssekit_tower::Denied;

use crate::{Client, FrameReader, subscriptions_become, text, within};

/// One publish of a script: to `topics`, with `visibility`.
#[derive(Clone, Debug)]
pub struct Publish {
    /// The topics, one or several.
    pub topics: Vec<&'static str>,
    /// Public or private.
    pub visibility: Visibility,
}

/// One subscriber of a script: the topics it follows and those its grant
/// names.
#[derive(Clone, Debug)]
pub struct Reader {
    /// The topics subscribed to.
    pub subscribed: Vec<&'static str>,
    /// The topics whose private events it is granted.
    pub granted: Vec<&'static str>,
}

impl Reader {
    fn grant(&self) -> Grant {
        Grant::topics(&self.granted)
    }

    /// The model: whether this reader must receive `publish`. It follows
    /// one of the event's topics and, for a private event, is granted one
    /// that it also follows.
    pub fn receives(&self, publish: &Publish) -> bool {
        let mut followed = publish
            .topics
            .iter()
            .filter(|topic| self.subscribed.contains(topic));
        match publish.visibility {
            Visibility::Public => followed.next().is_some(),
            Visibility::Private => followed.any(|topic| self.granted.contains(topic)),
        }
    }

    /// The data of the script's events this reader must receive, in order.
    pub fn expected(&self, script: &[Publish]) -> Vec<String> {
        script
            .iter()
            .enumerate()
            .filter(|(_, publish)| self.receives(publish))
            .map(|(n, _)| n.to_string())
            .collect()
    }
}

/// The topic every reader of [`check`] also follows, carrying the marker
/// that starts and ends a script.
pub const MARKER: &str = "marker";

/// Publishes `script` on `publisher` (event `n` carries data `n`) and checks
/// that each of `readers`, subscribed on `subscriber` (the same broker, or
/// another process's over a shared backend), receives exactly what the
/// model says, in id order: live, and again when it resumes from before the
/// script.
pub async fn check(
    publisher: &Broker,
    subscriber: &Broker,
    script: &[Publish],
    readers: &[Reader],
) {
    let start = publisher
        .publish(MARKER, Event::data("start"))
        .await
        .expect("publish the start marker")
        .to_string();
    let mut live = Vec::new();
    for reader in readers {
        let topics = with_marker(reader);
        let subscription = subscriber
            .subscribe_granted(&topics, None, &reader.grant())
            .await
            .expect("subscribe");
        live.push(subscription);
    }
    for (n, publish) in script.iter().enumerate() {
        let event = Event::data(&n.to_string());
        publisher
            .publish_with(&publish.topics, event, publish.visibility)
            .await
            .expect("publish");
    }
    publisher
        .publish(MARKER, Event::data("end"))
        .await
        .expect("publish the end marker");

    for (reader, subscription) in readers.iter().zip(&mut live) {
        let expected = reader.expected(script);
        assert_eq!(until_end(subscription).await, expected, "live, {reader:?}");
    }
    for reader in readers {
        let topics = with_marker(reader);
        let mut resumed = subscriber
            .subscribe_granted(&topics, Some(&start), &reader.grant())
            .await
            .expect("resume");
        let expected = reader.expected(script);
        assert_eq!(
            resumed.resume(),
            Resume::Replayed {
                events: expected.len() + 1
            },
            "{reader:?}"
        );
        assert_eq!(
            until_end(&mut resumed).await,
            expected,
            "replayed, {reader:?}"
        );
    }
}

fn with_marker(reader: &Reader) -> Vec<&'static str> {
    let mut topics = reader.subscribed.clone();
    topics.push(MARKER);
    topics
}

/// The data of each event before the end marker.
async fn until_end(subscription: &mut Subscription) -> Vec<String> {
    let mut data = Vec::new();
    loop {
        let event = within("the end marker", subscription.next())
            .await
            .expect("the subscription ends only after the end marker");
        let frame = std::str::from_utf8(event.as_bytes()).expect("UTF-8 frames");
        let value = frame
            .lines()
            .find_map(|line| line.strip_prefix("data: "))
            .unwrap_or_else(|| panic!("an event with data, not {frame:?}"));
        match value {
            "end" => return data,
            "start" => panic!("the start marker is before the subscription's position"),
            _ => data.push(value.to_string()),
        }
    }
}

/// A script that covers every case: public and private, one topic and
/// several, granted and not, followed and not.
pub fn every_case() -> (Vec<Publish>, Vec<Reader>) {
    use Visibility::{Private, Public};
    let publish = |topics: &[&'static str], visibility| Publish {
        topics: topics.to_vec(),
        visibility,
    };
    let script = vec![
        publish(&["a"], Public),
        publish(&["a"], Private),
        publish(&["b"], Private),
        publish(&["a", "b"], Private),
        publish(&["b", "c"], Private),
        publish(&["c"], Private),
        publish(&["a", "b"], Public),
        publish(&["b"], Public),
    ];
    let reader = |subscribed: &[&'static str], granted: &[&'static str]| Reader {
        subscribed: subscribed.to_vec(),
        granted: granted.to_vec(),
    };
    let readers = vec![
        // Nobody let it in: public events only.
        reader(&["a", "b"], &[]),
        // Granted one of its two topics.
        reader(&["a", "b"], &["a"]),
        // Granted a topic it does not follow: that grant opens nothing.
        reader(&["a"], &["b", "c"]),
        // Granted everything it follows.
        reader(&["b", "c"], &["b", "c"]),
    ];
    (script, readers)
}

/// The [`Authorize`](ssekit_tower::Authorize) hook of every adapter's
/// `/private` route: `?token=owner` reads the private events of `orders`;
/// `?token=guest` public events only, and not topic `admin`; no token, no
/// stream.
pub fn by_token(request: &Parts, topics: &[String]) -> Ready<Result<Grant, Denied>> {
    let token = request
        .uri
        .query()
        .into_iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("token="));
    ready(match token {
        Some("owner") => Ok(Grant::topics(["orders"])),
        Some("guest") => match topics.iter().find(|topic| *topic == "admin") {
            Some(topic) => Err(Denied::Forbidden {
                topic: topic.clone(),
            }),
            None => Ok(Grant::none()),
        },
        _ => Err(Denied::Unauthenticated),
    })
}

/// The private-event check of every adapter: `addr` serves
/// `/private?topic=…&token=…` from `broker` through the adapter's
/// `subscribe_authorized` with [`by_token`]. A guest never receives a
/// private event of `orders`, live or replayed after `Last-Event-ID`;
/// the owner receives them; a request without a token gets `401`, a guest
/// asking for `admin` gets `403`.
pub async fn assert_private_events_reach_only_authorized(addr: SocketAddr, broker: &Broker) {
    let start = broker
        .publish("orders", Event::data("opened"))
        .await
        .unwrap()
        .to_string();
    let connect = |token: &'static str, last_event_id: Option<String>| async move {
        let headers: Vec<(&str, &[u8])> = match &last_event_id {
            Some(id) => vec![("last-event-id", id.as_bytes())],
            None => Vec::new(),
        };
        let path = format!("/private?topic=orders&token={token}");
        let response = Client::connect(addr).await.get(&path, &headers).await;
        assert_eq!(response.status(), 200, "{token}");
        FrameReader::new(response)
    };
    let mut owner = connect("owner", None).await;
    let mut guest = connect("guest", None).await;
    subscriptions_become(broker, 2).await;

    broker
        .publish_private("orders", Event::data("card 4242"))
        .await
        .unwrap();
    broker.publish("orders", Event::data("paid")).await.unwrap();
    broker
        .publish_private("orders", Event::data("address"))
        .await
        .unwrap();
    broker.publish("orders", Event::data("end")).await.unwrap();

    let everything = ["card 4242", "paid", "address", "end"];
    assert_eq!(data_until_end(&mut owner).await, everything, "owner, live");
    assert_eq!(
        data_until_end(&mut guest).await,
        ["paid", "end"],
        "guest, live"
    );

    let mut owner = connect("owner", Some(start.clone())).await;
    let mut guest = connect("guest", Some(start)).await;
    assert_eq!(
        data_until_end(&mut owner).await,
        everything,
        "owner, replayed"
    );
    assert_eq!(
        data_until_end(&mut guest).await,
        ["paid", "end"],
        "guest, replayed"
    );

    let anonymous = Client::connect(addr)
        .await
        .get("/private?topic=orders", &[])
        .await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let forbidden = Client::connect(addr)
        .await
        .get("/private?topic=orders&topic=admin&token=guest", &[])
        .await;
    assert_eq!(forbidden.status(), 403);
    assert_eq!(text(forbidden).await, "not allowed to read topic \"admin\"");
}

/// The data of each frame up to the one whose data is `end`.
async fn data_until_end(frames: &mut FrameReader) -> Vec<String> {
    let mut data = Vec::new();
    loop {
        let frame = frames.next().await.expect("a frame before the end");
        // Keep-alive comments carry no data.
        let Some(value) = frame.lines().find_map(|line| line.strip_prefix("data: ")) else {
            continue;
        };
        let value = value.to_string();
        let end = value == "end";
        data.push(value);
        if end {
            return data;
        }
    }
}
