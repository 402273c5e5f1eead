//! Decoding event streams with our incremental `Decoder`, fed in fixed-size
//! chunks as a network read would deliver them.
//!
//! Each iteration starts a new decoder, feeds the whole input chunk by chunk,
//! and takes (and drops) every decoded event; throughput is in bytes of
//! input stream.
//!
//! Inputs:
//! - `100B_events`: 10,000 frames of exactly 100 bytes, `data: …\n\n`;
//! - `100B_typed_events`: 10,000 frames of exactly 100 bytes with an
//!   `event:` and an `id:` line before the data;
//! - `64KiB_single_line`: one event whose data is one 64 KiB line;
//! - `64KiB_multi_line`: one 64 KiB event of 64-byte `data:` lines;
//! - `8MiB_single_line`: one event whose data is one 8 MiB line.

// `criterion_group!` defines functions without docs.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ssekit_core::decode::{Decoded, Decoder};

const EVENTS: usize = 10_000;

/// `len` bytes of ASCII letters.
fn letters(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

/// `count` frames of exactly 100 bytes.
fn small_events(count: usize, typed: bool) -> Vec<u8> {
    let mut stream = Vec::new();
    for i in 0..count {
        let head = if typed {
            format!("event: tick\nid: {i:06}\n")
        } else {
            String::new()
        };
        // `data: ` (6) + data + `\n\n` (2) = 100 - head.
        let data = letters(100 - head.len() - 8);
        let frame = format!("{head}data: {data}\n\n");
        assert_eq!(frame.len(), 100);
        stream.extend_from_slice(frame.as_bytes());
    }
    stream
}

/// One event whose data is `len` bytes, in lines of `line` bytes.
fn one_event(len: usize, line: usize) -> Vec<u8> {
    let data = letters(len);
    let mut stream = Vec::new();
    for part in data.as_bytes().chunks(line) {
        stream.extend_from_slice(b"data: ");
        stream.extend_from_slice(part);
        stream.push(b'\n');
    }
    stream.push(b'\n');
    stream
}

/// Decodes `input` fed in `chunk`-byte pieces; returns the events seen and
/// their total data length, so nothing can be optimized away.
fn decode(input: &[u8], chunk: usize) -> (usize, usize) {
    let mut decoder = Decoder::new();
    let (mut events, mut bytes) = (0, 0);
    for piece in input.chunks(chunk) {
        for item in decoder.decode(piece) {
            if let Ok(Decoded::Event(event)) = item {
                events += 1;
                bytes += black_box(event).data().len();
            }
        }
    }
    (events, bytes)
}

fn bench(c: &mut Criterion) {
    let inputs = [
        ("100B_events", small_events(EVENTS, false), EVENTS),
        ("100B_typed_events", small_events(EVENTS, true), EVENTS),
        ("64KiB_single_line", one_event(64 * 1024, usize::MAX), 1),
        ("64KiB_multi_line", one_event(64 * 1024, 64), 1),
        (
            "8MiB_single_line",
            one_event(8 * 1024 * 1024, usize::MAX),
            1,
        ),
    ];

    for (name, input, expected) in &inputs {
        let mut group = c.benchmark_group(format!("decode/{name}"));
        group.throughput(Throughput::Bytes(input.len() as u64));
        if input.len() > 1024 * 1024 {
            group.sample_size(20);
        }
        for chunk in [1024, 16 * 1024] {
            assert_eq!(decode(input, chunk).0, *expected);
            group.bench_with_input(BenchmarkId::new("chunk", chunk), &chunk, |b, &chunk| {
                b.iter(|| decode(black_box(input), chunk))
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // Short by default: the machines these run on are small and shared.
    // Command-line options (`--measurement-time`, …) override these.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
