//! Library functions whose work grows with their input charge the
//! instruction budget in proportion, so a host's budget bounds them
//! (`table.sort` and `table.concat`: `tests/libs.rs`).

use lua_stdlib::env::{load_stdlib, Profile};
use lua_stdlib::{Budget, Chunk, Function, Outcome, Vm};

/// Instructions (and library work) one run of `code` is charged.
fn charged(code: &str) -> u64 {
    let chunk = Chunk::compile(code.as_bytes(), "=fuel").expect("compiles");
    let mut vm = Vm::new();
    let f = vm.enter(|ctx| {
        let env = ctx.new_table();
        load_stdlib(ctx, env, Profile::Sandbox);
        ctx.stash(Function::from(chunk.load(ctx, env)))
    });
    let mut call = vm.start(&f, (), Budget::default());
    match vm.run(&mut call) {
        Outcome::Finished(_) => call.instructions(),
        other => panic!("{code}: {other:?}"),
    }
}

#[test]
fn work_is_charged_in_proportion_to_input() {
    let small = charged("local s = string.rep('x', 8)");
    for big in [
        "local s = string.rep('x', 8000000)",
        "local s = string.rep('ab', 1000000, ',') local n = select(2, string.gsub(s, 'a', 'b'))",
        "local t = {} for i = 1, 100 do t[i] = string.rep('x', 80000) end local s = table.concat(t)",
        "local s = string.format('%s', string.rep('y', 8000000))",
        "local n = select(2, string.find(string.rep('a', 8000000), 'b'))",
    ] {
        let used = charged(big);
        assert!(used > small + 500_000, "{big}: {used} charged (small: {small})");
    }
}
