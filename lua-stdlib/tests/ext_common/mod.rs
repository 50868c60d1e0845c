//! The harness the `ext_*` tests share: a lua-stdlib VM with the sandbox
//! profile's standard library, plus the libraries under test registered
//! the way the gateway registers them (`require` reads `package.loaded`,
//! filled by the test).

#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use lua_stdlib::env::{load_stdlib_with, Output, Profile};
use lua_stdlib::{Budget, Chunk, Context, Function, Outcome, Table, Vm};

pub struct Lua {
    pub vm: Vm,
    out: Rc<RefCell<Vec<u8>>>,
}

impl Lua {
    /// A VM whose `package.loaded` gets what `modules` returns; `require`
    /// reads it (and fails as Lua's does for anything else).
    pub fn new(modules: impl for<'gc> Fn(Context<'gc>, Table<'gc>)) -> Lua {
        let out = Rc::new(RefCell::new(Vec::new()));
        let mut vm = Vm::new();
        let sink = out.clone();
        vm.enter(|ctx| {
            let env = ctx.globals();
            load_stdlib_with(ctx, env, Profile::Sandbox, Output::Buffer(sink));
            let package = ctx.new_table();
            let loaded = ctx.new_table();
            modules(ctx, loaded);
            let _ = package.set(ctx, "loaded", loaded);
            let _ = env.set(ctx, "package", package);
        });
        let mut lua = Lua { vm, out };
        lua.run(
            "function require(name)
               local m = package.loaded[name]
               if m == nil then error(\"module '\" .. name .. \"' not found\", 2) end
               return m
             end",
        )
        .expect("prelude runs");
        lua
    }

    /// Runs `src`: what it printed, or its error message.
    pub fn run(&mut self, src: &str) -> Result<String, String> {
        self.run_with(src, Budget::default()).0
    }

    /// Runs `src` under `budget`: the outcome and the instructions used.
    pub fn run_with(&mut self, src: &str, budget: Budget) -> (Result<String, String>, u64) {
        let (r, used, _) = self.run_counting(src, budget);
        (r, used)
    }

    /// [`Lua::run_with`], also counting how often the call came back
    /// suspended (its slice used up).
    pub fn run_counting(
        &mut self,
        src: &str,
        budget: Budget,
    ) -> (Result<String, String>, u64, usize) {
        let chunk = Chunk::compile(src.as_bytes(), "=test").expect("compiles");
        let f = self.vm.enter(|ctx| {
            let env = ctx.globals();
            ctx.stash(Function::from(chunk.load(ctx, env)))
        });
        self.out.borrow_mut().clear();
        let mut call = self.vm.start(&f, (), budget);
        let mut suspended = 0;
        let r = loop {
            match self.vm.run(&mut call) {
                Outcome::Finished(_) => {
                    break Ok(String::from_utf8_lossy(&self.out.borrow()).into_owned())
                }
                Outcome::Error(m) => break Err(m),
                Outcome::Suspended => suspended += 1,
                Outcome::Waiting => panic!("nothing waits for the host here"),
            }
        };
        (r, call.instructions(), suspended)
    }
}

/// Runs `src` and returns its printed lines; panics on an error.
pub fn lines(lua: &mut Lua, src: &str) -> Vec<String> {
    match lua.run(src) {
        Ok(out) => out.lines().map(str::to_string).collect(),
        Err(e) => panic!("script failed: {e}\n{src}"),
    }
}
