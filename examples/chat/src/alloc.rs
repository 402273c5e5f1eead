//! A global allocator that counts: bytes in use, allocations and frees.
//!
//! It forwards every call to the allocator it wraps (jemalloc, or the
//! system's; see `main.rs`) and adds three relaxed atomic operations,
//! cheap enough to leave on. The stats task reads [`snapshot`] once a
//! second and turns the counters into rates.

// A counting allocator must implement the unsafe `GlobalAlloc`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Allocator `A`, counted. Installed in `main.rs` with
/// `#[global_allocator]`.
#[derive(Debug)]
pub(crate) struct Counting<A>(pub A);

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static FREES: AtomicU64 = AtomicU64::new(0);

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Snapshot {
    /// Bytes allocated and not yet freed.
    pub in_use: usize,
    /// Allocations since the start (a `realloc` counts as one allocation
    /// and one free).
    pub allocations: u64,
    /// Frees since the start.
    pub frees: u64,
}

/// Reads the counters.
pub(crate) fn snapshot() -> Snapshot {
    Snapshot {
        in_use: IN_USE.load(Ordering::Relaxed),
        allocations: ALLOCATIONS.load(Ordering::Relaxed),
        frees: FREES.load(Ordering::Relaxed),
    }
}

fn allocated(size: usize) {
    IN_USE.fetch_add(size, Ordering::Relaxed);
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
}

fn freed(size: usize) {
    IN_USE.fetch_sub(size, Ordering::Relaxed);
    FREES.fetch_add(1, Ordering::Relaxed);
}

// SAFETY: every method passes its arguments unchanged to `A` and returns
// what `A` returns, so it keeps `GlobalAlloc`'s contract as `A` does. The
// bookkeeping only touches atomics and never allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        let ptr = unsafe { self.0.alloc(layout) };
        if !ptr.is_null() {
            allocated(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.0.alloc_zeroed(layout) };
        if !ptr.is_null() {
            allocated(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `A` through this allocator
        // with `layout`, as the caller guarantees.
        unsafe { self.0.dealloc(ptr, layout) };
        freed(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller guarantees `new_size`.
        let new = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            freed(layout.size());
            allocated(new_size);
        }
        new
    }
}
