//! Runs Lua files on the new VM with the minimal base library and the
//! ported libraries:
//! `cargo run -p lua-stdlib --release --example run -- script.lua`.
//! Output goes to stdout as with `lua5.4 script.lua`; an uncaught error is
//! printed to stderr as `lua: message` with exit status 1.

use lua_stdlib::env::{load_stdlib_with, Output, Profile};
use lua_stdlib::{Budget, Chunk, Function, Outcome, Vm};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: run script.lua");
        std::process::exit(2);
    };
    let source = match std::fs::read(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lua: cannot open {path}: {e}");
            std::process::exit(1);
        }
    };
    let chunk = match Chunk::compile(&source, &format!("@{path}")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lua: {e}");
            std::process::exit(1);
        }
    };
    let mut vm = Vm::new();
    let f = vm.enter(|ctx| {
        let env = ctx.globals();
        load_stdlib_with(ctx, env, Profile::Full, Output::Stdout);
        ctx.stash(Function::from(chunk.load(ctx, env)))
    });
    let mut call = vm.start(&f, (), Budget::default());
    loop {
        match vm.run(&mut call) {
            Outcome::Finished(_) => break,
            Outcome::Error(m) => {
                eprintln!("lua: {m}");
                std::process::exit(1);
            }
            Outcome::Suspended | Outcome::Waiting => continue,
        }
    }
}
