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
