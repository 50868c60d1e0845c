//! Cost of calling an already-loaded Lua function from Rust: two integer
//! arguments in, two results read back out — the same shape as
//! `cargo bench -p lua-stdlib --bench call` (piccolo 0.3.3), so the two
//! figures compare. Target: at most 0.3 µs per call.
//!
//! `cargo bench -p lua-stdlib --bench call` prints the best mean of 5 rounds.

use std::hint::black_box;
use std::time::Instant;

use lua_stdlib::{Chunk, Executor, Fuel, Function, StashedExecutor, StashedFunction, Vm};

const SOURCE: &str = "return function(a, b) return a + b, a * b end";
const CALLS: u32 = 200_000;
const ROUNDS: usize = 5;

fn main() {
    let mut vm = Vm::new();
    let chunk = Chunk::compile(SOURCE.as_bytes(), "=bench").expect("compiles");
    let (function, executor): (StashedFunction, StashedExecutor) = vm.enter(|ctx| {
        let env = ctx.new_table();
        let main = chunk.load(ctx, env);
        let ex = Executor::start(ctx, main.into(), ());
        assert!(ex.step(ctx, &mut Fuel::with(1_000_000)), "chunk finished");
        let f = ex
            .take_result::<Function>(ctx)
            .expect("returned a function");
        (ctx.stash(f), ctx.stash(Executor::new(ctx)))
    });

    let mut call = |a: i64, b: i64| -> (i64, i64) {
        vm.enter(|ctx| {
            let ex = ctx.fetch(&executor);
            ex.restart(ctx, ctx.fetch(&function), (a, b));
            assert!(ex.step(ctx, &mut Fuel::with(10_000)), "call finished");
            ex.take_result::<(i64, i64)>(ctx).expect("no error")
        })
    };
    assert_eq!(call(3, 4), (7, 12));

    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut acc = 0i64;
        for i in 0..CALLS {
            let (s, p) = call(black_box(i as i64), black_box(2));
            acc = acc.wrapping_add(s ^ p);
        }
        black_box(acc);
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / CALLS as f64);
    }
    println!("lua-stdlib: call a loaded function (2 args, 2 results): {best:.3} µs/call");
}
