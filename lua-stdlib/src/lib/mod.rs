//! The Lua standard library as Rust callbacks, one file per library, each
//! with a `load_*` function that builds the library's table (the same shape
//! as piccolo's own `src/stdlib`). `env::load_stdlib` puts them together.
//!
//! `args` holds what every library shares: argument checking and the error
//! messages lua5.4 prints (`bad argument #1 to 'sub' (number expected, got no
//! value)`), positioned at the calling Lua line. `number` holds Lua's number
//! <-> string conversions (`%.14g`, `tonumber`).

pub mod args;
pub mod base;
pub mod bit;
pub mod compat;
pub mod coroutine;
pub mod debug;
pub mod format;
pub mod io;
pub mod load;
pub mod math;
pub mod number;
pub mod os;
pub mod pack;
pub mod patterns;
pub mod string;
pub mod table;
pub mod table_meta;
pub mod utf8;
