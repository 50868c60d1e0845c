//! The Lua state of one request: `kong.ctx.shared` (one table per
//! request, shared by all plugins), `kong.ctx.plugin` (one per request and
//! plugin), `ngx.ctx` (one per request, another table than
//! `kong.ctx.shared`, as in Kong, which keeps the shared table under a
//! private key of `ngx.ctx`), and what each plugin's `kong.log.set_format`
//! and `inspect.on/off` changed. The
//! tables belong to the request ([`LuaTables`] in its context), are made
//! on first use, and are found through `kong.ctx`'s metatable: `kong.ctx`
//! itself is frozen with the rest of the PDK, and calls of several
//! requests may interleave on one worker's VM.

use lua_stdlib::{Callback, CallbackReturn, Context, StashedTable, Table, Value};
use uuid::Uuid;

use super::log::LogSettings;
use super::RequestCell;

/// The per-request Lua tables of one request.
#[derive(Default)]
pub struct LuaTables {
    shared: Option<StashedTable>,
    ngx: Option<StashedTable>,
    plugins: Vec<(Uuid, StashedTable)>,
    /// What each plugin's `kong.log.set_format` / `inspect.off` changed.
    logs: Vec<(Option<Uuid>, LogSettings)>,
}

impl LuaTables {
    /// `kong.ctx.shared`.
    pub fn shared<'gc>(&mut self, ctx: Context<'gc>) -> Table<'gc> {
        match &self.shared {
            Some(t) => ctx.fetch(t),
            None => {
                let t = ctx.new_table();
                self.shared = Some(ctx.stash(t));
                t
            }
        }
    }

    /// `ngx.ctx`.
    pub fn ngx_ctx<'gc>(&mut self, ctx: Context<'gc>) -> Table<'gc> {
        match &self.ngx {
            Some(t) => ctx.fetch(t),
            None => {
                let t = ctx.new_table();
                self.ngx = Some(ctx.stash(t));
                t
            }
        }
    }

    /// `ngx.ctx` if a function has used it in this request (nothing made).
    pub fn ngx_ctx_made<'gc>(&self, ctx: Context<'gc>) -> Option<Table<'gc>> {
        self.ngx.as_ref().map(|t| ctx.fetch(t))
    }

    /// The `kong.log` settings of plugin `id` (named `name`) in this
    /// request.
    pub(crate) fn log_settings(&mut self, id: Option<Uuid>, name: &str) -> &mut LogSettings {
        let i = match self.logs.iter().position(|(p, _)| *p == id) {
            Some(i) => i,
            None => {
                self.logs.push((id, LogSettings::for_plugin(name)));
                self.logs.len() - 1
            }
        };
        &mut self.logs[i].1
    }

    /// `kong.ctx.plugin` of plugin `id`.
    pub fn plugin<'gc>(&mut self, ctx: Context<'gc>, id: Uuid) -> Table<'gc> {
        if let Some((_, t)) = self.plugins.iter().find(|(p, _)| *p == id) {
            return ctx.fetch(t);
        }
        let t = ctx.new_table();
        self.plugins.push((id, ctx.stash(t)));
        t
    }
}

pub fn install<'gc>(ctx: Context<'gc>, kong: Table<'gc>, cell: &RequestCell) {
    let t = ctx.new_table();
    let mt = ctx.new_table();
    let cell = cell.clone();
    let _ = mt.set(
        ctx,
        "__index",
        Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            let mut guard = cell.borrow_mut();
            let v = match (stack.get(1), guard.as_mut()) {
                (Value::String(k), Some(req)) => match k.as_bytes() {
                    b"shared" => Value::Table(req.lua_tables.shared(ctx)),
                    b"plugin" => match req.plugin_id {
                        Some(id) => Value::Table(req.lua_tables.plugin(ctx, id)),
                        None => Value::Nil,
                    },
                    _ => Value::Nil,
                },
                _ => Value::Nil,
            };
            drop(guard);
            stack.replace(ctx, v);
            Ok(CallbackReturn::Return)
        }),
    );
    let _ = mt.set(ctx, "__metatable", false);
    let _ = t.set_metatable(&ctx, Some(mt));
    super::set(ctx, kong, "ctx", t);
}
