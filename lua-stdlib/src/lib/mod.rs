//! The Lua standard library as Rust callbacks, one file per library, each
//! with a `load_*` function that builds the library's table (the same shape
//! as piccolo's own `src/stdlib`). `env::load_stdlib` puts them together.
//!
//! | file | library |
//! |---|---|
//! | `base`, `load` | basic functions; `load` compiles with `crate::compiler` |
//! | `string`, `patterns`, `format`, `pack` | `string.*`: Lua patterns, `string.format`, `string.pack` |
//! | `table`, `table_meta` | `table.*`; `table_meta` handles tables with `__index`/`__newindex`/`__len` |
//! | `math`, `os`, `utf8`, `coroutine` | as in Lua 5.4 |
//! | `bit`, `compat` | LuaJIT / 5.1 compatibility (`bit`, `unpack`, `loadstring`, `table.new` …) |
//! | `io`, `debug` | the command-line runner's minimal `io` and placeholder `debug` |
//!
//! Shared by all: `args` (argument checking and the error messages lua5.4
//! prints, e.g. `bad argument #1 to 'sub' (number expected, got no value)`,
//! positioned at the calling Lua line) and `number` (Lua's number <-> string
//! conversions: `%.14g`, `tonumber`). Library functions whose work grows with
//! their input charge piccolo fuel through `args::charge`.

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
