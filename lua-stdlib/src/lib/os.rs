//! The `os` library.

use piccolo::{Context, Table};

use crate::env::Profile;

pub fn load_os<'gc>(ctx: Context<'gc>, _profile: Profile) -> Table<'gc> {
    Table::new(&ctx)
}

pub fn load_io<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    Table::new(&ctx)
}
