//! Libraries that are not Lua's own but that Kong functions expect to find
//! on OpenResty: `cjson`/`cjson.safe`, `ngx.re`, the `ngx` codecs and time
//! helpers, `kong.table` and `kong.tools.uuid`. Each has a `load_*`
//! function that returns its table; the gateway decides where it goes
//! (`require` name, a field of `ngx` or `kong`).
//!
//! They behave as OpenResty's C modules do (lua-cjson 2.1.0.x,
//! lua-nginx-module) — messages included — with two differences that
//! matter on a shared worker: every recursive structure has an explicit
//! depth limit, and work is charged to the caller's instruction budget
//! (`exec.fuel()`), so one call cannot run for free.
//!
//! | file | what |
//! |---|---|
//! | `cjson` | `cjson`, `cjson.safe`, and the `null` value `ngx.null` shares |
//! | `re` | `ngx.re` (`translate`: PCRE syntax; `engine`: compile, cache, search), `require "ngx.re"` (`split`) |
//! | `codec` | `ngx.encode_args` … `ngx.quote_sql_str`, `require "ngx.base64"` |
//! | `time` | `ngx.time` … `ngx.parse_http_time` on the host's clock |
//! | `kong` | `kong.table`, `kong.tools.uuid` |

//! # Registering them (what the gateway does per function environment)
//!
//! ```text
//! loaded["cjson"]      = cjson::load_cjson(ctx)        // per environment:
//! loaded["cjson.safe"] = cjson::load_cjson_safe(ctx)   //   settings live in the instance
//! ngx.null             = ext::null(ctx)                // == cjson.null
//! ngx.re               = re::load_ngx_re(ctx)
//! loaded["ngx.re"]     = re::load_ngx_re_module(ctx)   // split, opt
//! copy_fields(ctx, codec::load_ngx_codecs(ctx), ngx)   // encode_args … quote_sql_str
//! copy_fields(ctx, time::load_ngx_time(ctx, clock), ngx) // clock: the request's cached time
//! loaded["ngx.base64"] = codec::load_ngx_base64(ctx)
//! kong.table           = kong::load_kong_table(ctx)
//! kong.tools.uuid      = kong::load_kong_uuid(ctx)     // also loaded["kong.tools.uuid"]
//! ```
//!
//! A cjson instance's settings (`encode_empty_table_as_object(false)` …)
//! are Rust-side state that freezing its table does not protect: give
//! each function environment its own instances so one function's settings
//! never reach another. The compiled-pattern cache is per thread and holds
//! only immutable compiled patterns.

pub mod cjson;
pub mod codec;
pub mod kong;
pub mod re;
pub mod time;

use crate::{Context, Table, UserData, Value};

/// Copies every field of `from` into `into` (raw): for libraries whose
/// functions are fields of `ngx` itself, e.g.
/// `copy_fields(ctx, load_ngx_codecs(ctx), ngx)`.
pub fn copy_fields<'gc>(ctx: Context<'gc>, from: Table<'gc>, into: Table<'gc>) {
    let mut k = Value::Nil;
    while let Ok(Some((key, v))) = from.next(k) {
        let _ = into.raw_set(&ctx, key, v);
        k = key;
    }
}

/// The marker type behind [`null`].
struct Null;

/// OpenResty's NULL light userdata: `cjson.null` and `ngx.null` are the
/// same value (Kong code compares decoded JSON with `ngx.null`). One per
/// VM, kept in the registry; `tostring` shows `userdata: NULL` as
/// OpenResty does.
pub fn null<'gc>(ctx: Context<'gc>) -> Value<'gc> {
    const KEY: &str = "lua-stdlib.ext.null";
    let v = ctx.registry().get(ctx, KEY);
    if !v.is_nil() {
        return v;
    }
    let ud = UserData::new_static(&ctx, Null);
    let mt = ctx.new_table();
    let _ = mt.set(
        ctx,
        "__tostring",
        crate::Callback::from_fn(&ctx, |ctx, _, mut stack| {
            stack.replace(ctx, "userdata: NULL");
            Ok(crate::CallbackReturn::Return)
        }),
    );
    ud.set_metatable(&ctx, Some(mt));
    let _ = ctx.registry().set(ctx, KEY, ud);
    Value::UserData(ud)
}

/// Whether `v` is [`null`].
pub fn is_null(v: Value<'_>) -> bool {
    matches!(v, Value::UserData(ud) if ud.downcast_static::<Null>().is_some())
}
