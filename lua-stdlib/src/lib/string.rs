//! The `string` library.

use piccolo::{Context, Table};

use super::args::set_fn;

pub fn load_string<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let string = Table::new(&ctx);
    set_fn(ctx, string, "format", super::format::string_format);
    string
}
