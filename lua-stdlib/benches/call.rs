//! Cost of calling an already-loaded Lua function from Rust: two integer
//! arguments in, two results read back out. This is the per-request shape of
//! the gateway (call a stored function, read what it returned), measured on
//! piccolo 0.3.3 so the figure survives piccolo's removal; `lua-next` has
//! the same bench (`cargo bench -p lua-next --bench call`).
//!
//! `cargo bench -p lua-stdlib --bench call` prints the best mean of 5 rounds
//! in microseconds per call. Release profile only; ratios between runs on a
//! busy machine are noisy (±30 %).

use std::hint::black_box;
use std::time::Instant;

use lua_stdlib::env::{load_stdlib, Profile};
use piccolo::{Executor, Fuel, Lua, StashedExecutor, StashedFunction, Table};

const SOURCE: &str = "return function(a, b) return a + b, a * b end";
const CALLS: u32 = 200_000;
const ROUNDS: usize = 5;

fn main() {
    let mut lua = Lua::core();
    let (function, executor): (StashedFunction, StashedExecutor) = lua.enter(|ctx| {
        let env = Table::new(&ctx);
        load_stdlib(ctx, env, Profile::Sandbox);
        let chunk = lua_stdlib::compiler::compile(SOURCE.as_bytes(), "=bench").expect("compiles");
        let closure = chunk.instantiate(ctx, env).expect("instantiates");
        let ex = Executor::start(ctx, closure.into(), ());
        assert!(ex.step(ctx, &mut Fuel::with(1_000_000)), "chunk finished");
        let f = ex
            .take_result::<piccolo::Function>(ctx)
            .expect("finished")
            .expect("returned a function");
        (ctx.stash(f), ctx.stash(Executor::new(ctx)))
    });

    let mut call = |a: i64, b: i64| -> (i64, i64) {
        lua.enter(|ctx| {
            let ex = ctx.fetch(&executor);
            ex.restart(ctx, ctx.fetch(&function), (a, b));
            assert!(ex.step(ctx, &mut Fuel::with(10_000)), "call finished");
            ex.take_result::<(i64, i64)>(ctx)
                .expect("finished")
                .expect("no error")
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
    println!("piccolo 0.3.3: call a loaded function (2 args, 2 results): {best:.3} µs/call");
}
