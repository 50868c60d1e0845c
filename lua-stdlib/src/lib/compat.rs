//! LuaJIT / Lua 5.1 compatibility.

use piccolo::{Context, Table};

pub fn load_compat<'gc>(_ctx: Context<'gc>, _env: Table<'gc>) {}
