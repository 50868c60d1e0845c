//! Library functions whose work grows with their input charge piccolo fuel
//! in proportion, so a host's fuel limit bounds them.

use lua_stdlib::env::{load_stdlib, Profile};
use piccolo::{Executor, Fuel, Lua, Table};

/// Fuel one run of `code` consumes, from a budget large enough to finish.
fn fuel_used(code: &str) -> i64 {
    let mut lua = Lua::empty();
    lua.enter(|ctx| {
        let env = Table::new(&ctx);
        load_stdlib(ctx, env, Profile::Sandbox);
        let chunk = lua_stdlib::compiler::compile(code.as_bytes(), "=fuel").expect("compiles");
        let closure = chunk.instantiate(ctx, env).expect("instantiates");
        let executor = Executor::start(ctx, closure.into(), ());
        let budget = i32::MAX / 2;
        let mut fuel = Fuel::with(budget);
        assert!(executor.step(ctx, &mut fuel), "finished within the budget");
        budget as i64 - fuel.remaining() as i64
    })
}

#[test]
fn work_is_charged_in_proportion_to_input() {
    let small = fuel_used("local s = string.rep('x', 8)");
    for big in [
        "local s = string.rep('x', 8000000)",
        "local s = string.rep('ab', 1000000, ',') local n = select(2, string.gsub(s, 'a', 'b'))",
        "local t = {} for i = 1, 100 do t[i] = string.rep('x', 80000) end local s = table.concat(t)",
        "local s = string.format('%s', string.rep('y', 8000000))",
        "local n = select(2, string.find(string.rep('a', 8000000), 'b'))",
    ] {
        let used = fuel_used(big);
        assert!(used > small + 500_000, "{big}: {used} fuel (small: {small})");
    }
}

#[test]
fn sorting_is_charged_per_comparison() {
    let small = fuel_used("local t = {3, 1, 2} table.sort(t)");
    let big =
        fuel_used("local t = {} for i = 1, 20000 do t[i] = (i * 7919) % 20011 end table.sort(t)");
    assert!(big > small * 100, "sort of 20000: {big}, of 3: {small}");
}
