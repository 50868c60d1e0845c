//! Allocation counting for `cargo bench --bench allocs --features
//! alloc-count` (issue 9: per-request allocations on the plain and the
//! function paths). Only in builds with the `alloc-count` feature: the
//! process's global allocator is the system one, counted (`stats_alloc`,
//! pure Rust, so this crate stays free of `unsafe`), and a thread prints
//! the totals on stdout each time a line arrives on stdin, so that the
//! benchmark can take the difference around a batch of requests. Shipped
//! builds compile none of this.

use std::alloc::System;
use std::io::{BufRead, Write};

use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Answers every line on stdin with
/// `allocs N reallocs N frees N bytes N` on stdout, until stdin closes.
pub fn serve_counts() {
    std::thread::spawn(|| {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
            let s = GLOBAL.stats();
            let report = format!(
                "allocs {} reallocs {} frees {} bytes {}\n",
                s.allocations, s.reallocations, s.deallocations, s.bytes_allocated
            );
            let mut out = std::io::stdout().lock();
            if out
                .write_all(report.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                break;
            }
        }
    });
}
