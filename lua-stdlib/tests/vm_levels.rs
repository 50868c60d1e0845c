//! `Execution::debug_info` at every level a callback can ask for: 0 (the
//! callback itself), the Lua levels above it, and past the bottom of the
//! stack, without a panic.

use lua_stdlib::{Budget, Callback, CallbackReturn, Chunk, Function, Outcome, Vm};

#[test]
fn debug_info_levels_from_a_callback() {
    let chunk = Chunk::compile(
        b"local function f() local r = probe() return r end\nlocal r = f() return r",
        "=levels",
    )
    .expect("compiles");
    let mut vm = Vm::new();
    let f = vm.enter(|ctx| {
        let env = ctx.new_table();
        let probe = Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let mut seen = Vec::new();
            for level in [0usize, 1, 2, 3, 1000, usize::MAX] {
                seen.push(match exec.debug_info(level) {
                    Some(i) => format!("{level}:{}:{}", i.what, i.current_line),
                    None => format!("{level}:none"),
                });
            }
            stack.replace(ctx, seen.join(" "));
            Ok(CallbackReturn::Return)
        });
        let _ = env.set(ctx, "probe", probe);
        ctx.stash(Function::from(chunk.load(ctx, env)))
    });
    let mut call = vm.start(&f, (), Budget::default());
    let values = match vm.run(&mut call) {
        Outcome::Finished(v) => v,
        o => panic!("{o:?}"),
    };
    let text = vm.enter(|ctx| ctx.fetch(&values[0]).as_string().map(|s| s.to_string()));
    assert_eq!(
        text.as_deref(),
        Some("0:C:-1 1:Lua:1 2:main:2 3:none 1000:none 18446744073709551615:none")
    );
}
