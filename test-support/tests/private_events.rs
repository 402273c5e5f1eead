//! Private events on the memory broker: a subscriber receives a private
//! event only when its grant names one of the event's topics that it
//! follows, live and replayed; checked on a script covering every case and
//! on random scripts against the model in `sse_test_support::private`.

use proptest::prelude::*;
use sse_test_support::private::{self, Publish, Reader};
use ssekit_core::broker::{Broker, Visibility};

#[tokio::test]
async fn private_events_reach_only_granted_subscribers_live_and_replayed() {
    let broker = Broker::new();
    let (script, readers) = private::every_case();
    private::check(&broker, &broker, &script, &readers).await;
}

const TOPICS: [&str; 3] = ["a", "b", "c"];

fn topics() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(TOPICS.to_vec(), 1..=3)
}

fn publish() -> impl Strategy<Value = Publish> {
    (topics(), any::<bool>()).prop_map(|(topics, private)| Publish {
        topics,
        visibility: if private {
            Visibility::Private
        } else {
            Visibility::Public
        },
    })
}

fn reader() -> impl Strategy<Value = Reader> {
    (
        topics(),
        proptest::sample::subsequence(TOPICS.to_vec(), 0..=3),
    )
        .prop_map(|(subscribed, granted)| Reader {
            subscribed,
            granted,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_scripts_deliver_what_the_model_says(
        script in proptest::collection::vec(publish(), 0..40),
        readers in proptest::collection::vec(reader(), 1..5),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async {
            let broker = Broker::new();
            private::check(&broker, &broker, &script, &readers).await;
        });
    }
}
