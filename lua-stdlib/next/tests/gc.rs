//! Collection as the host sees it: warnings, finalizers, weak tables and
//! the memory cap, through the public API.

use lua_next::env::{load_stdlib_with, Output, Profile};
use lua_next::{Budget, Chunk, Function, Outcome, StashedFunction, Vm};

fn load(vm: &mut Vm, src: &str) -> StashedFunction {
    let chunk = Chunk::compile(src.as_bytes(), "=test").expect("compiles");
    vm.enter(|ctx| {
        let env = ctx.globals();
        load_stdlib_with(ctx, env, Profile::Full, Output::Stdout);
        ctx.stash(Function::from(chunk.load(ctx, env)))
    })
}

fn finish(vm: &mut Vm, f: &StashedFunction) -> Outcome {
    let mut call = vm.start(f, (), Budget::default());
    loop {
        match vm.run(&mut call) {
            Outcome::Suspended => continue,
            o => return o,
        }
    }
}

/// Taking the warnings writes to an object the collector may have just
/// marked without tracing (it holds no pointers): gc-arena 0.7 then counts
/// an untrace it never counted as a trace, which underflowed (a panic in
/// debug builds) at the start of a marking phase.
#[test]
fn taking_warnings_at_any_collection_phase_never_panics() {
    let mut vm = Vm::new();
    let f = load(&mut vm, "local t = {} for i = 1, 50 do t[i] = {i} end");
    for _ in 0..3000 {
        assert!(matches!(finish(&mut vm, &f), Outcome::Finished(_)));
        assert!(vm.take_warnings().is_empty());
    }
}

fn capped(vm: &mut Vm, src: &str, cap: usize) -> (Outcome, usize, usize) {
    let f = load(vm, src);
    vm.enter(|_| ());
    let before = vm.memory();
    let budget = Budget {
        memory: before + cap,
        ..Budget::default()
    };
    let mut call = vm.start(&f, (), budget);
    let outcome = loop {
        match vm.run(&mut call) {
            Outcome::Suspended => continue,
            o => break o,
        }
    };
    (outcome, before, vm.memory())
}

/// Issue 7's budgets: a call over its memory cap ends with "not enough
/// memory", whatever allocates (one big library result or many small
/// tables), the memory is given back and the VM runs the next call.
#[test]
fn a_call_over_its_memory_cap_fails_and_its_memory_is_returned() {
    let hogs = [
        "local t = {} for i = 1, 1e7 do t[i] = {i} end",
        "local s = string.rep('x', 1 << 30)",
        "local s = string.rep('x', 1 << 20) local t = {} for i = 1, 1000 do t[i] = s .. i end",
        "local t = {} for i = 1, 1 << 26 do t[i] = i end",
        "local s = ('x'):rep(1 << 22) local t = {} for i = 1, 200 do t[i] = table.concat({s, s, s}) end",
        "local t = {} for i = 1, 300 do t[i] = string.format('%099d', i):rep(1 << 16) end",
    ];
    let mut vm = Vm::new();
    for hog in hogs {
        let t0 = std::time::Instant::now();
        let (outcome, before, after) = capped(&mut vm, hog, 16 << 20);
        eprintln!("{hog}: {:?} {before} {after}", t0.elapsed());
        match outcome {
            Outcome::Error(m) => assert_eq!(m, "not enough memory", "{hog}"),
            o => panic!("{hog}: {o:?}"),
        }
        assert!(
            after < before + (4 << 20),
            "{hog}: memory not returned: {before} -> {after}"
        );
        let ok = load(&mut vm, "return 1 + 1");
        assert!(matches!(finish(&mut vm, &ok), Outcome::Finished(_)), "{hog}");
    }
}
