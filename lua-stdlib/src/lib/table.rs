//! The `table` library.

use piccolo::{Context, Table};

pub fn load_table<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    Table::new(&ctx)
}
