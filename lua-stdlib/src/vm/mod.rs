//! Our Lua 5.4 virtual machine on gc-arena, split along its seams: values
//! and objects (`value`, `string`, `table`, `closure`, `userdata`), the
//! leaf rules everyone shares (`number`, `meta`), execution (`opcode`,
//! `interp`, `call`, `thread`, `callback`), errors and debug information
//! (`error`, `debug`) and arena glue (`context`, `mem`, `conv`).

pub(crate) mod call;
pub mod callback;
pub mod closure;
pub mod context;
pub mod conv;
pub mod debug;
pub mod error;
pub(crate) mod gc;
pub mod interp;
pub mod mem;
pub mod meta;
pub mod number;
pub mod opcode;
pub mod string;
pub mod table;
pub mod thread;
pub mod userdata;
pub mod value;
