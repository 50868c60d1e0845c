//! The Lua standard library as callbacks, one file per library. Each
//! library has a `load_*` function the host calls to install it.
//!
//! | file | library |
//! |---|---|
//! | `base`, `load` | basic functions (`print` writes to an [`base::Output`]); `load` compiles text chunks |
//! | `string`, `patterns`, `format`, `pack` | `string.*`: Lua patterns, `string.format`, `string.pack`; the string metatable |
//! | `table`, `table_sort`, `math`, `utf8`, `coroutine`, `os` | as in Lua 5.4 (`os` without files and processes in the sandbox) |
//! | `bit`, `compat` | LuaJIT / 5.1 compatibility (`bit`, `unpack`, `loadstring`, `table.new` …) |
//! | `dump` | `string.dump` and the binary chunks `load` takes (only this process's, checked by a keyed hash) |
//! | `io` | the command-line runner's `io` (files, formats, `lines`, `seek`) |
//! | `debug`, `hook` | the command-line runner's `debug` (levels, locals, upvalues, hooks, tracebacks) |
//!
//! `crate::env` puts them together per profile.
//!
//! Shared by all: `args` (our `lauxlib`: argument checking, the error
//! messages lua5.4 prints, e.g. `bad argument #1 to 'sub' (number
//! expected, got no value)`, positioned at the calling Lua line, and
//! charging the instruction budget for library work). Number conversions
//! come from [`crate::number`], never from a library copy. `meta_op` runs
//! the functions that must read, write and compare through metamethods
//! (or call an order function) as resumable state machines: `table.*`,
//! `math.min`/`math.max`.

#![allow(dead_code)] // helpers land before every library that uses them

pub mod args;
pub mod base;
pub mod bit;
pub mod compat;
pub mod coroutine;
pub mod debug;
pub mod dump;
pub mod format;
mod hook;
pub mod io;
pub mod load;
pub mod math;
mod meta_op;
pub mod os;
pub mod pack;
pub mod patterns;
pub mod string;
pub mod table;
mod table_sort;
pub mod utf8;
