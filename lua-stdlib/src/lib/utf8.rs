//! The `utf8` library.

use piccolo::{Context, Table};

pub fn load_utf8<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    Table::new(&ctx)
}
