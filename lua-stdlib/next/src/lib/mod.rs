//! The Lua standard library as callbacks, one file per library, ported
//! from `lua-stdlib/src/lib` (see `PORTING.md`). Each library has a
//! `load_*` function the host calls to install it.
//!
//! | file | library |
//! |---|---|
//! | `string`, `patterns`, `format`, `pack` | `string.*`: Lua patterns, `string.format`, `string.pack`; the string metatable |
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
pub mod bit;
pub mod format;
pub mod math;
mod meta_op;
pub mod pack;
pub mod patterns;
pub mod string;
pub mod table;
mod table_sort;
pub mod utf8;
