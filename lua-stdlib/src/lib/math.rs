//! The `math` library.

use piccolo::{Context, Table};

pub fn load_math<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    Table::new(&ctx)
}
