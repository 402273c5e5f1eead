//! Heap allocations per publish do not grow with the number of subscribers.
//!
//! Its own test binary: the counting `#[global_allocator]` sees every
//! allocation of the process, so nothing else may run beside it.

// A counting `#[global_allocator]` must implement the unsafe `GlobalAlloc`.
#![allow(unsafe_code)]
#![cfg(feature = "broker")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use futures_util::StreamExt;
use ssekit_core::Event;
use ssekit_core::broker::{Broker, Subscription, TopicConfig};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only
// counts allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn now<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the memory backend is ready at once"),
    }
}

/// Publishes one event and has every subscriber take it.
fn publish_and_deliver(broker: &Broker, subscriptions: &mut [Subscription], event: &Event) {
    now(broker.publish("t", event.clone())).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    for subscription in subscriptions.iter_mut() {
        match subscription.poll_next_unpin(&mut cx) {
            Poll::Ready(Some(received)) => assert!(received.len() > event.len()),
            other => panic!("expected the event, got {other:?}"),
        }
        assert!(subscription.poll_next_unpin(&mut cx).is_pending());
    }
}

/// Allocations over 64 publishes: a multiple of the live feed's segment of
/// 32 slots, the one allocation it makes (every 32 publishes, whatever the
/// number of readers).
fn allocations_per_64_publishes(subscribers: usize) -> u64 {
    let broker = Broker::builder()
        .defaults(TopicConfig::new().max_events(8).lag_limit(32))
        .build();
    let mut subscriptions: Vec<Subscription> = (0..subscribers)
        .map(|_| now(broker.subscribe(&["t"], None)).unwrap())
        .collect();
    let event = Event::data(&"x".repeat(100));
    // Warm up: history and live feed at their bounds, every receiver
    // registered.
    for _ in 0..64 {
        publish_and_deliver(&broker, &mut subscriptions, &event);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..64 {
        publish_and_deliver(&broker, &mut subscriptions, &event);
    }
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn allocations_per_publish_are_the_same_at_1_1000_and_100000_subscribers() {
    let one = allocations_per_64_publishes(1);
    let thousand = allocations_per_64_publishes(1_000);
    let hundred_thousand = allocations_per_64_publishes(100_000);
    assert!(
        one <= 64 * 2 + 2,
        "per publish one frame (and its shared header), and two segments: {one}"
    );
    assert_eq!((one, thousand, hundred_thousand), (one, one, one));
}
