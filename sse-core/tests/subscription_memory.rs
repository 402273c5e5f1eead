//! What one subscription holds on the heap, by number of topics: the
//! figure behind `ssekit_tower::Topics`' default limit (each `?topic=` of
//! a request is a live feed the connection holds).
//!
//! Its own test binary: the counting `#[global_allocator]` sees every
//! allocation of the process, so nothing else may run beside it.

// A counting `#[global_allocator]` must implement the unsafe `GlobalAlloc`.
#![allow(unsafe_code)]
#![cfg(feature = "broker")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll, Waker};

use ssekit_core::Event;
use ssekit_core::broker::Broker;

struct Counting;

/// Bytes allocated and not yet freed.
static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only
// counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
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

/// Heap bytes 100 subscriptions to `n` topics hold, per subscription, once
/// the topics exist (each has had a publish and a subscriber before).
fn bytes_per_subscription(broker: &Broker, n: usize) -> i64 {
    let topics: Vec<String> = (0..n).map(|i| format!("topic-{n}-{i}")).collect();
    for topic in &topics {
        now(broker.publish(topic, Event::data("x"))).unwrap();
    }
    drop(now(broker.subscribe(&topics, None)).unwrap());
    let before = LIVE.load(Ordering::Relaxed);
    let held: Vec<_> = (0..100)
        .map(|_| now(broker.subscribe(&topics, None)).unwrap())
        .collect();
    let per = (LIVE.load(Ordering::Relaxed) - before) / 100;
    drop(held);
    per
}

#[test]
fn a_subscription_holds_a_few_hundred_bytes_per_topic() {
    // No sweep task: this test is outside a runtime, and must count only
    // the subscriptions.
    let broker = Broker::new();
    let one = bytes_per_subscription(&broker, 1);
    let sixteen = bytes_per_subscription(&broker, 16);
    let sixty_four = bytes_per_subscription(&broker, 64);
    eprintln!("per subscription: 1 topic {one} B, 16 topics {sixteen} B, 64 topics {sixty_four} B");
    // Measured on 2026-12-07: 368 B, 3 207 B and 12 085 B, about 185 B per
    // extra topic. The bounds leave room for a field or two, not for a
    // buffer per topic.
    let per_topic = (sixty_four - one) / 63;
    assert!(per_topic <= 512, "{per_topic} B per extra topic");
    assert!(sixty_four <= 16 * 1024, "{sixty_four} B for 64 topics");
}
