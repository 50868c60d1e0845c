//! `require "kong.pdk.private.rate_limiting"`: Kong's rate-limiting
//! context (`kong/pdk/private/rate_limiting.lua`), which rate-limiting
//! plugins use to keep the headers they will send in `ngx.ctx` (under
//! `__rate_limiting_context__`) and apply them together. Three small glue
//! chunks over `ngx.header`, with Kong's argument errors.

use lua_stdlib::{Context, Table, Value};

use super::glue::{self, Glue};

/// Kong's `_validate_key` and `_validate_value`, then the stored entry.
static STORE: Glue = Glue::new(
    "=kong.pdk.private.rate_limiting.store_response_header",
    r#"local ngx_ctx, key, value = ...
local typ = type(key)
if typ ~= "string" then
  error(format("arg #%d `key` for function `%s` must be a string, got %s", 2, "store_response_header", typ), 2)
end
typ = type(value)
if typ ~= "number" and typ ~= "string" then
  error(format("arg #%d `value` for function `%s` must be a string or a number, got %s", 3, "store_response_header", typ), 2)
end
local rl_ctx = ngx_ctx.__rate_limiting_context__
if rl_ctx == nil then
  rl_ctx = {}
  ngx_ctx.__rate_limiting_context__ = rl_ctx
end
rl_ctx[key] = value
"#,
);

static GET: Glue = Glue::new(
    "=kong.pdk.private.rate_limiting.get_stored_response_header",
    r#"local ngx_ctx, key = ...
local typ = type(key)
if typ ~= "string" then
  error(format("arg #%d `key` for function `%s` must be a string, got %s", 2, "get_stored_response_header", typ), 2)
end
local rl_ctx = ngx_ctx.__rate_limiting_context__
if rl_ctx == nil then return nil end
return rl_ctx[key]
"#,
);

static APPLY: Glue = Glue::new(
    "=kong.pdk.private.rate_limiting.apply_response_headers",
    r#"local ngx_ctx = ...
local rl_ctx = ngx_ctx.__rate_limiting_context__
if rl_ctx == nil then return end
for k, v in pairs(rl_ctx) do
  header[k] = tostring(v)
end
"#,
);

/// The module, for `require` (`globals`: the worker's, with `ngx`).
pub fn module<'gc>(ctx: Context<'gc>, globals: Table<'gc>) -> Table<'gc> {
    let env = glue::private_env(ctx, globals);
    let _ = env.set(ctx, "pairs", globals.get(ctx, "pairs"));
    if let Value::Table(string) = globals.get(ctx, "string") {
        let _ = env.set(ctx, "format", string.get(ctx, "format"));
    }
    if let Value::Table(ngx) = globals.get(ctx, "ngx") {
        let _ = env.set(ctx, "header", ngx.get(ctx, "header"));
    }
    let m = ctx.new_table();
    let _ = m.set(ctx, "store_response_header", STORE.load(ctx, env));
    let _ = m.set(ctx, "get_stored_response_header", GET.load(ctx, env));
    let _ = m.set(ctx, "apply_response_headers", APPLY.load(ctx, env));
    m
}

#[cfg(test)]
mod tests {
    #[test]
    fn glue_chunks_compile() {
        for g in [&super::STORE, &super::GET, &super::APPLY] {
            super::glue::check_compiles(g);
        }
    }
}
