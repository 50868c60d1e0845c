//! The `bit` library.

use piccolo::{Context, Table};

pub fn load_bit<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    Table::new(&ctx)
}
