//! Everything Lua needs beyond the piccolo 0.3.3 VM: the front-end (lexer,
//! parser, code generation to piccolo bytecode), the standard library and the
//! LuaJIT/5.1 compatibility layer. Knows nothing about HTTP.

pub mod cli;
pub mod compiler;
pub mod env;
pub mod runtime;
#[path = "lib/mod.rs"]
pub mod stdlib;
