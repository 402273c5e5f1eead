//! What ssekit-tower logs: refusals with their kind and status, evictions,
//! stream ends with their reason; never a refusal's text, where names the
//! request chose (a topic) are, nor anything of the request.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use ssekit_core::Event;
use ssekit_core::broker::BrokerError;
use ssekit_tower::{Denied, KeepAlive, SseBody, SseConfig, WriteDeadline, refusal};
use tokio::io::AsyncWriteExt;
use tracing_subscriber::fmt::MakeWriter;

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Lines {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Lines;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A subscriber of this thread that keeps every event from `debug` up.
fn capture() -> (Lines, tracing::subscriber::DefaultGuard) {
    let lines = Lines::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .without_time()
        .with_writer(lines.clone())
        .finish();
    (lines, tracing::subscriber::set_default(subscriber))
}

#[test]
fn a_refusal_is_logged_once_with_its_kind_and_status_never_its_reason() {
    let (lines, _guard) = capture();

    refusal(&BrokerError::TooManySubscribers {
        topic: "secret-room".into(),
        max: 1,
    });
    refusal(&Denied::Forbidden {
        topic: "payroll?token=hunter2".into(),
    });

    let text = lines.text();
    let logged: Vec<&str> = text.lines().collect();
    assert_eq!(logged.len(), 2, "{text}");
    assert!(logged[0].contains("INFO"), "{text}");
    assert!(logged[0].contains("kind=\"topic_full\"") && logged[0].contains("status=200"));
    assert!(logged[1].contains("DEBUG"), "{text}");
    assert!(logged[1].contains("kind=\"forbidden\"") && logged[1].contains("status=403"));
    assert!(
        !text.contains("secret-room") && !text.contains("hunter2"),
        "{text}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_write_deadline_eviction_is_logged_at_info() {
    let (lines, _guard) = capture();

    let (ours, _peer) = tokio::io::duplex(64);
    let mut io = WriteDeadline::new(ours, Duration::from_millis(50));
    assert!(io.write_all(&[0; 1024]).await.is_err());

    let text = lines.text();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("INFO") && text.contains("write deadline"),
        "{text}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_stream_end_is_logged_at_debug_with_its_reason() {
    let (lines, _guard) = capture();

    let config = SseConfig::new().keep_alive(KeepAlive::disabled());
    let events = futures_util::stream::iter([Event::data("a")]);
    SseBody::with_config(events, &config)
        .collect()
        .await
        .unwrap();
    drop(SseBody::with_config(
        futures_util::stream::pending::<Event>(),
        &config,
    ));

    let text = lines.text();
    let logged: Vec<&str> = text.lines().collect();
    assert_eq!(logged.len(), 2, "{text}");
    assert!(
        logged[0].contains("DEBUG") && logged[0].contains("reason=\"end\""),
        "{text}"
    );
    assert!(logged[1].contains("reason=\"disconnect\""), "{text}");
}
