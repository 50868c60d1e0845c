//! The `coroutine` library.

use piccolo::{Context, Table};

pub fn load_coroutine<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    Table::new(&ctx)
}
