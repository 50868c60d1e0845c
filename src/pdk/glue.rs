//! PDK functions written in Lua: the few that call back into Lua
//! (`kong.cache:get` runs the caller's loader) or into the VM's own
//! libraries (`kong.request.get_body` decodes JSON with cjson, so a body
//! reads exactly as `cjson.decode` reads it and the work is charged to the
//! function's budget and may pause between slices).
//!
//! Each is a small chunk compiled once per process, loaded per VM with a
//! private `_ENV`: the Rust helpers it calls and the few base functions it
//! needs, copied from the globals when the VM is built. No function can
//! reach that table (it is no global and no field), so replacing `type`
//! or `pcall` in a function's own environment changes nothing here.
//! `error(msg, 2)` in a chunk blames the caller's line, as Kong's
//! `error(..., 2)` does.

use std::sync::OnceLock;

use lua_stdlib::{Chunk, Context, Table, Value};

/// A glue chunk: its name (as tracebacks show it) and its source.
pub(crate) struct Glue {
    pub name: &'static str,
    pub source: &'static str,
    pub compiled: OnceLock<Chunk>,
}

impl Glue {
    pub const fn new(name: &'static str, source: &'static str) -> Glue {
        Glue {
            name,
            source,
            compiled: OnceLock::new(),
        }
    }

    fn chunk(&self) -> &Chunk {
        self.compiled.get_or_init(|| {
            Chunk::compile(self.source.as_bytes(), self.name)
                // Our own source: `glue_chunks_compile` checks every one.
                .unwrap_or_else(|e| panic!("PDK glue {} does not compile: {e}", self.name))
        })
    }

    /// The chunk as a function of this VM, with `env` as its `_ENV`.
    pub fn load<'gc>(&self, ctx: Context<'gc>, env: Table<'gc>) -> Value<'gc> {
        self.chunk().load(ctx, env).into()
    }
}

/// The base functions glue chunks use, read from the VM's globals.
const BASE: &[&str] = &["type", "error", "pcall", "select", "tostring"];

/// A fresh private environment with the base functions.
pub(crate) fn private_env<'gc>(ctx: Context<'gc>, globals: Table<'gc>) -> Table<'gc> {
    let env = ctx.new_table();
    for name in BASE {
        let _ = env.set(ctx, *name, globals.get(ctx, *name));
    }
    env
}

#[cfg(test)]
pub(crate) fn check_compiles(glue: &Glue) {
    assert!(
        Chunk::compile(glue.source.as_bytes(), glue.name).is_ok(),
        "{}",
        glue.name
    );
}
