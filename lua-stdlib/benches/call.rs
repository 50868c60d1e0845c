//! Cost of calling an already-loaded Lua function from Rust: two integer
//! arguments in, two results read back out — the shape piccolo 0.3.3's
//! bench of the same name measured before piccolo was removed (README,
//! "Calling Lua from Rust"), so the figures compare. Issue 7's target: at
//! most 0.3 µs per call.
//!
//! Two ways in: on an executor inside the arena (what piccolo's bench did),
//! and through the host's API as the gateway calls a function
//! (`Vm::restart`, `Vm::run` under a `Budget`, the results stashed and
//! fetched). `cargo bench -p lua-stdlib --bench call` prints the best mean
//! of 5 rounds of each, and whether the target is met.
//!
//! For instruction counts (valgrind), `-- executor` or `-- vm` runs one way
//! only, and `CALL_BENCH_CALLS=n` sets the calls per round: the difference
//! of two runs with different `n`, divided by 5 × the difference of `n`, is
//! the instructions per call.

use std::hint::black_box;
use std::time::Instant;

use lua_stdlib::{
    Budget, Chunk, Executor, Fuel, Function, Outcome, StashedExecutor, StashedFunction, Vm,
};

const SOURCE: &str = "return function(a, b) return a + b, a * b end";
const CALLS: u32 = 200_000;
const ROUNDS: usize = 5;
/// Issue 7's target, µs per call.
const TARGET: f64 = 0.3;

/// Best mean of [`ROUNDS`] rounds of [`CALLS`] calls, in µs per call.
fn best_of(calls: u32, mut call: impl FnMut(i64, i64) -> (i64, i64)) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut acc = 0i64;
        for i in 0..calls {
            let (s, p) = call(black_box(i as i64), black_box(2));
            acc = acc.wrapping_add(s ^ p);
        }
        black_box(acc);
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / calls as f64);
    }
    best
}

fn report(what: &str, us: f64) {
    let verdict = if us <= TARGET { "met" } else { "NOT met" };
    println!("lua-stdlib: call a loaded function (2 args, 2 results), {what}: {us:.3} µs/call (target {TARGET} µs: {verdict})");
}

fn main() {
    let calls = std::env::var("CALL_BENCH_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CALLS);
    let args: Vec<std::string::String> = std::env::args().collect();
    let only = |way: &str| {
        let chosen = |w: &str| args.iter().any(|a| a == w);
        !chosen(if way == "vm" { "executor" } else { "vm" })
    };
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

    let mut on_executor = |a: i64, b: i64| -> (i64, i64) {
        vm.enter(|ctx| {
            let ex = ctx.fetch(&executor);
            ex.restart(ctx, ctx.fetch(&function), (a, b));
            assert!(ex.step(ctx, &mut Fuel::with(10_000)), "call finished");
            ex.take_result::<(i64, i64)>(ctx).expect("no error")
        })
    };
    assert_eq!(on_executor(3, 4), (7, 12));
    if only("executor") {
        report("on an executor", best_of(calls, on_executor));
    }

    // The gateway's way: a parked call restarted under a budget.
    let mut parked = vm.start(&function, (0, 0), Budget::default());
    assert!(matches!(vm.run(&mut parked), Outcome::Finished(_)));
    let mut through_vm = |a: i64, b: i64| -> (i64, i64) {
        vm.restart(&mut parked, &function, (a, b), Budget::default());
        let Outcome::Finished(values) = vm.run(&mut parked) else {
            panic!("call finished")
        };
        vm.enter(|ctx| {
            let int = |i: usize| ctx.fetch(&values[i]).to_integer().expect("integer");
            (int(0), int(1))
        })
    };
    assert_eq!(through_vm(3, 4), (7, 12));
    if only("vm") {
        report(
            "through Vm::restart and Vm::run",
            best_of(calls, through_vm),
        );
    }
}
