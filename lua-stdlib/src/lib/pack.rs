//! `string.pack`, `string.unpack` and `string.packsize`.

use piccolo::{Context, Table};

pub fn load_pack<'gc>(_ctx: Context<'gc>, _string: Table<'gc>) {}
