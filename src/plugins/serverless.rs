//! The per-worker Lua runner for `pre-function` and `post-function`.
//!
//! Each proxy worker owns one [`LuaWorker`]: a piccolo VM with the standard
//! library (sandbox profile), the `kong` PDK and `ngx`. Functions are
//! instantiated in it on first use from the chunks compiled at config time,
//! and keep Kong's "return a function" semantics (§1.6): the first call
//! runs the chunk, and a returned function replaces it — and is called at
//! once — so its upvalues persist across requests on this worker.
//!
//! User code is stepped in fuel slices: a runaway loop or allocation is
//! stopped (and the VM recycled) instead of blocking the worker.
//!
//! A slot belongs to one version of a plugin (one [`CompiledPlugin`], which
//! the configuration keeps until the plugin changes). When that version is
//! gone — the plugin deleted or updated — its slots are dropped at the
//! worker's next function call, so their upvalues can be collected.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use piccolo::{Executor, Fuel, Lua, StashedExecutor, StashedFunction, StashedTable, Table, Value};
use uuid::Uuid;

use super::CompiledPlugin;
use crate::pdk::{self, Exit, ExitBody, Phase, RequestCell, RequestContext};

/// Fuel per slice between checks of the time and memory budgets.
const SLICE: i32 = 20_000;
/// Wall-clock budget of one function call.
const TIME_BUDGET: Duration = Duration::from_secs(2);
/// A VM that grows past this is stopped and rebuilt.
const MEMORY_BUDGET: usize = 256 * 1024 * 1024;

/// One function slot: the chunk until its first run completes, then
/// whatever it resolved to.
enum Slot {
    Chunk {
        chunk: StashedFunction,
        started: bool,
    },
    Resolved(StashedFunction),
}

type SlotKey = (Uuid, Phase, usize);

/// A slot and the plugin version it belongs to.
struct Owned {
    owner: Weak<CompiledPlugin>,
    slot: Slot,
}

/// Bumped whenever a plugin version is dropped: workers then sweep slots.
static RETIRED: AtomicU64 = AtomicU64::new(0);
/// Function slots held by all workers (`GET /status`).
static SLOTS: AtomicUsize = AtomicUsize::new(0);

/// Called when a [`CompiledPlugin`] is dropped.
pub fn plugin_retired() {
    RETIRED.fetch_add(1, Ordering::Release);
}

/// Function slots held by all workers' VMs.
pub fn function_slots() -> usize {
    SLOTS.load(Ordering::Relaxed)
}

enum CallResult {
    Returned(Option<StashedFunction>),
    /// Stopped by `kong.response.exit` / `ngx.exit`.
    Stopped,
    Failed(String),
}

pub struct LuaWorker {
    lua: Lua,
    globals: StashedTable,
    executor: StashedExecutor,
    cell: RequestCell,
    slots: HashMap<SlotKey, Owned>,
    /// `RETIRED` at the last sweep.
    swept: u64,
    /// `kong.ctx.plugin` tables of the current request, by plugin id.
    plugin_ctx: HashMap<Uuid, StashedTable>,
}

impl Default for LuaWorker {
    fn default() -> Self {
        Self::new()
    }
}

impl LuaWorker {
    pub fn new() -> Self {
        let mut lua = Lua::core();
        let cell: RequestCell = Rc::new(RefCell::new(None));
        let (globals, executor) = lua.enter(|ctx| {
            let globals = Table::new(&ctx);
            lua_stdlib::env::load_stdlib(ctx, globals, lua_stdlib::env::Profile::Sandbox);
            pdk::install(ctx, globals, &cell);
            let _ = globals.set(ctx, "_G", globals);
            (ctx.stash(globals), ctx.stash(Executor::new(ctx)))
        });
        LuaWorker {
            lua,
            globals,
            executor,
            cell,
            slots: HashMap::new(),
            swept: RETIRED.load(Ordering::Acquire),
            plugin_ctx: HashMap::new(),
        }
    }

    /// Fresh `kong.ctx.shared` / `kong.ctx.plugin` for a new request.
    pub fn start_request(&mut self) {
        let globals = &self.globals;
        self.lua.enter(|ctx| {
            pdk::new_request_tables(ctx, ctx.fetch(globals));
        });
        self.plugin_ctx.clear();
    }

    /// Runs every function of `phase` of `plugins`, in order, on `req`. In
    /// rewrite and access an exit or an error ends the phase for all
    /// plugins; in the later phases an error is logged and the rest run.
    pub fn run_phase(
        &mut self,
        phase: Phase,
        plugins: &[Arc<CompiledPlugin>],
        mut req: RequestContext,
    ) -> RequestContext {
        req.phase = phase;
        self.sweep();
        *self.cell.borrow_mut() = Some(req);
        'plugins: for plugin in plugins {
            let functions = plugin.functions(phase);
            if functions.is_empty() {
                continue;
            }
            self.enter_plugin(plugin);
            for (index, function) in functions.iter().enumerate() {
                let outcome = match function {
                    Ok(chunk) => self.run_slot(plugin, phase, index, chunk),
                    Err(message) => CallResult::Failed(message.clone()),
                };
                if let CallResult::Failed(message) = outcome {
                    tracing::error!(target: "lunagate::lua", "[{}] {} phase: {message}", plugin.plugin.name, phase.name());
                    if matches!(phase, Phase::Certificate | Phase::Rewrite | Phase::Access) {
                        if let Some(req) = self.cell.borrow_mut().as_mut() {
                            req.response_source = "error";
                            req.exit.get_or_insert(Exit {
                                status: 500,
                                headers: http::HeaderMap::new(),
                                body: ExitBody::KongError("An unexpected error occurred".into()),
                            });
                        }
                    }
                }
                let mut guard = self.cell.borrow_mut();
                let Some(req) = guard.as_mut() else {
                    break 'plugins;
                };
                req.leave_function = false;
                if req.exit.is_some()
                    && matches!(phase, Phase::Certificate | Phase::Rewrite | Phase::Access)
                {
                    break 'plugins;
                }
            }
        }
        let req = self.cell.borrow_mut().take();
        req.expect("the request stays in the cell while functions run")
    }

    /// Drops the slots of plugin versions no configuration holds any more,
    /// then collects garbage so their memory is freed now.
    fn sweep(&mut self) {
        let retired = RETIRED.load(Ordering::Acquire);
        if retired == self.swept {
            return;
        }
        self.swept = retired;
        let before = self.slots.len();
        self.slots.retain(|_, s| s.owner.strong_count() > 0);
        let dropped = before - self.slots.len();
        if dropped > 0 {
            SLOTS.fetch_sub(dropped, Ordering::Relaxed);
            self.lua.gc_collect();
        }
    }

    /// Points `kong.ctx.plugin` at this plugin's table for the request.
    fn enter_plugin(&mut self, plugin: &CompiledPlugin) {
        if let Some(req) = self.cell.borrow_mut().as_mut() {
            // The enabled plugins' names are static: no allocation per call.
            req.plugin_name = crate::entities::plugins::ENABLED
                .iter()
                .find(|(name, _)| *name == plugin.plugin.name)
                .map_or("", |(name, _)| name);
        }
        let id = plugin.plugin.id;
        let globals = &self.globals;
        let existing = self.plugin_ctx.get(&id);
        let created = self.lua.enter(|ctx| {
            let table = match existing {
                Some(t) => ctx.fetch(t),
                None => Table::new(&ctx),
            };
            if let Value::Table(kong) = ctx.fetch(globals).get(ctx, "kong") {
                if let Value::Table(kctx) = kong.get(ctx, "ctx") {
                    let _ = kctx.set(ctx, "plugin", table);
                }
            }
            existing.is_none().then(|| ctx.stash(table))
        });
        if let Some(t) = created {
            self.plugin_ctx.insert(id, t);
        }
    }

    /// Runs one function slot with the trampoline semantics of §1.6.
    fn run_slot(
        &mut self,
        plugin: &Arc<CompiledPlugin>,
        phase: Phase,
        index: usize,
        chunk: &lua_stdlib::compiler::Chunk,
    ) -> CallResult {
        let key = (plugin.plugin.id, phase, index);
        let current = self
            .slots
            .get(&key)
            .is_some_and(|s| std::ptr::eq(s.owner.as_ptr(), Arc::as_ptr(plugin)));
        if !current {
            let globals = &self.globals;
            let made = self.lua.enter(|ctx| {
                // Each chunk gets its own environment: globals it assigns
                // persist for this chunk only.
                let env = Table::new(&ctx);
                let meta = Table::new(&ctx);
                let _ = meta.set(ctx, "__index", ctx.fetch(globals));
                let _ = env.set_metatable(&ctx, Some(meta));
                chunk
                    .instantiate(ctx, env)
                    .map(|closure| ctx.stash(piccolo::Function::Closure(closure)))
                    .map_err(|e| e.to_string())
            });
            let slot = match made {
                Ok(f) => Slot::Chunk {
                    chunk: f,
                    started: false,
                },
                Err(e) => return CallResult::Failed(e),
            };
            let owned = Owned {
                owner: Arc::downgrade(plugin),
                slot,
            };
            // A slot of the plugin's previous version is replaced.
            if self.slots.insert(key, owned).is_none() {
                SLOTS.fetch_add(1, Ordering::Relaxed);
            }
        }
        let slot = &mut self.slots.get_mut(&key).expect("inserted above").slot;
        match slot {
            Slot::Resolved(f) => {
                let f = f.clone();
                self.call(&f)
            }
            Slot::Chunk {
                chunk,
                started: true,
            } => {
                // The first run ended early: from now on the chunk itself runs.
                let f = chunk.clone();
                *slot = Slot::Resolved(f.clone());
                self.call(&f)
            }
            Slot::Chunk { chunk, started } => {
                *started = true;
                let f = chunk.clone();
                match self.call(&f) {
                    CallResult::Returned(Some(inner)) => {
                        self.resolve(&key, inner.clone());
                        self.call(&inner)
                    }
                    CallResult::Returned(None) => {
                        self.resolve(&key, f);
                        CallResult::Returned(None)
                    }
                    other => other,
                }
            }
        }
    }

    /// What a slot runs from now on (the VM may have been rebuilt meanwhile,
    /// taking the slot with it).
    fn resolve(&mut self, key: &SlotKey, f: StashedFunction) {
        if let Some(owned) = self.slots.get_mut(key) {
            owned.slot = Slot::Resolved(f);
        }
    }

    /// Calls a function with no arguments under the fuel, time and memory
    /// budgets.
    fn call(&mut self, f: &StashedFunction) -> CallResult {
        // piccolo 0.3.3 can panic on some table growth patterns (see
        // conformance/deviations.txt): the request fails, the worker lives on
        // with a fresh VM.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.call_unguarded(f))) {
            Ok(result) => result,
            Err(_) => {
                self.recycle();
                CallResult::Failed(
                    "the Lua VM failed internally; this worker's VM was rebuilt".into(),
                )
            }
        }
    }

    fn call_unguarded(&mut self, f: &StashedFunction) -> CallResult {
        let executor = &self.executor;
        let cell = &self.cell;
        let started = Instant::now();
        let mut first = true;
        loop {
            // One arena entry per slice: start, step and (when finished)
            // collect the result together; most calls need one slice.
            let finished = self.lua.enter(|ctx| {
                let ex = ctx.fetch(executor);
                if std::mem::take(&mut first) {
                    ex.restart(ctx, ctx.fetch(f), ());
                }
                let done = ex.step(ctx, &mut Fuel::with(SLICE));
                let stopped = cell
                    .borrow()
                    .as_ref()
                    .is_some_and(|r| r.exit.is_some() || r.leave_function);
                if stopped {
                    ex.stop(&ctx);
                    return Some(CallResult::Stopped);
                }
                if !done {
                    return None;
                }
                Some(match ex.take_result::<Value>(ctx) {
                    Ok(Ok(Value::Function(inner))) => CallResult::Returned(Some(ctx.stash(inner))),
                    Ok(Ok(_)) => CallResult::Returned(None),
                    Ok(Err(e)) => CallResult::Failed(
                        lua_stdlib::stdlib::base::error_value(ctx, e).to_string(),
                    ),
                    Err(e) => CallResult::Failed(format!("{e:?}")),
                })
            });
            if let Some(result) = finished {
                return result;
            }
            let over_time = started.elapsed() > TIME_BUDGET;
            if over_time || self.lua.total_memory() > MEMORY_BUDGET {
                let what = if over_time { "time" } else { "memory" };
                self.recycle();
                return CallResult::Failed(format!(
                    "function exceeded its {what} budget and was stopped"
                ));
            }
        }
    }

    /// Replaces the VM after a runaway function: a stopped executor keeps
    /// its memory until dropped. Function state on this worker starts over.
    fn recycle(&mut self) {
        let req = self.cell.borrow_mut().take();
        let fresh = LuaWorker::new();
        *fresh.cell.borrow_mut() = req;
        *self = fresh;
    }
}

impl Drop for LuaWorker {
    fn drop(&mut self) {
        SLOTS.fetch_sub(self.slots.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::Plugin;
    use serde_json::json;

    fn plugin(name: &str, access: &[&str]) -> Arc<CompiledPlugin> {
        let p: Plugin = serde_json::from_value(json!({
            "id": Uuid::new_v4(), "name": name, "instance_name": null, "created_at": 1, "updated_at": 1,
            "route": null, "service": null, "consumer": null, "config": {"access": access},
            "protocols": ["http"], "enabled": true, "tags": null,
        }))
        .unwrap();
        Arc::new(CompiledPlugin::compile(Arc::new(p)))
    }

    fn request(headers: &[(&str, &str)]) -> RequestContext {
        let mut b = http::Request::builder().uri("/test?a=b");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        RequestContext::new(
            parts,
            "127.0.0.1:5000".parse().unwrap(),
            8000,
            "/test".into(),
        )
    }

    fn access(
        w: &mut LuaWorker,
        plugins: &[Arc<CompiledPlugin>],
        req: RequestContext,
    ) -> RequestContext {
        w.start_request();
        w.run_phase(Phase::Access, plugins, req)
    }

    fn exit_of(req: &RequestContext) -> (u16, String) {
        let exit = req.exit.as_ref().expect("an exit");
        let body = match &exit.body {
            ExitBody::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            ExitBody::KongError(m) => format!("kong error: {m}"),
        };
        (exit.status, body)
    }

    const CUSTOM_AUTH: &str = r#"
        -- Get list of request headers
        local custom_auth = kong.request.get_header("x-custom-auth")
        if not custom_auth then
          return kong.response.exit(401, "Invalid Credentials")
        end
        kong.request.clear_header('x-custom-auth')
    "#;

    #[test]
    fn the_seed_function_runs_unchanged() {
        let mut w = LuaWorker::new();
        let plugins = [plugin("pre-function", &[CUSTOM_AUTH])];
        let denied = access(&mut w, &plugins, request(&[]));
        assert_eq!(exit_of(&denied), (401, "Invalid Credentials".into()));
        let allowed = access(
            &mut w,
            &plugins,
            request(&[("x-custom-auth", "key"), ("x-other", "1")]),
        );
        assert!(allowed.exit.is_none());
        assert!(
            allowed.request.headers.get("x-custom-auth").is_none(),
            "cleared on the way upstream"
        );
        assert_eq!(allowed.request.headers["x-other"], "1");
    }

    /// The bodies `code` answers on three successive requests of one worker.
    fn three_bodies(code: &str) -> Vec<String> {
        let mut w = LuaWorker::new();
        let plugins = [plugin("pre-function", &[code])];
        (0..3)
            .map(|_| exit_of(&access(&mut w, &plugins, request(&[]))).1)
            .collect()
    }

    #[test]
    fn a_returned_function_keeps_its_upvalues_per_worker() {
        let bodies = three_bodies(
            "local count = 0 return function() count = count + 1 return kong.response.exit(200, tostring(count)) end",
        );
        assert_eq!(bodies, ["1", "2", "3"]);
    }

    #[test]
    fn an_old_style_chunk_runs_once_per_request() {
        let bodies = three_bodies("n = (n or 0) + 1 return kong.response.exit(200, tostring(n))");
        assert_eq!(bodies, ["1", "2", "3"]);
    }

    #[test]
    fn exits_skip_the_rest_and_errors_fail_closed() {
        let mut w = LuaWorker::new();
        let pre = plugin("pre-function", &["kong.ctx.shared.seen = 'pre'"]);
        let post = plugin(
            "post-function",
            &["return kong.response.exit(200, kong.ctx.shared.seen)"],
        );
        assert_eq!(
            exit_of(&access(&mut w, &[pre, post], request(&[]))),
            (200, "pre".into())
        );

        let p = [plugin(
            "pre-function",
            &[
                "pcall(kong.response.exit, 403, 'no')",
                "error('must not run')",
            ],
        )];
        assert_eq!(
            exit_of(&access(&mut w, &p, request(&[]))),
            (403, "no".into()),
            "pcall cannot catch exit"
        );

        let p = [plugin("pre-function", &["error('boom')"])];
        assert_eq!(
            exit_of(&access(&mut w, &p, request(&[]))),
            (500, "kong error: An unexpected error occurred".into())
        );

        let p = [plugin(
            "pre-function",
            &["ngx.status = 404 ngx.say('Not Found') ngx.exit(404)"],
        )];
        assert_eq!(
            exit_of(&access(&mut w, &p, request(&[]))),
            (404, "Not Found\n".into())
        );

        let p = [plugin(
            "pre-function",
            &["ngx.status = 400", "ngx.exit(ngx.status)"],
        )];
        assert_eq!(
            exit_of(&access(&mut w, &p, request(&[]))),
            (400, "kong error: Bad request".into())
        );

        let p = [plugin(
            "pre-function",
            &["return kong.response.exit(406, {message = 'Invalid'})"],
        )];
        let req = access(&mut w, &p, request(&[]));
        assert_eq!(exit_of(&req), (406, r#"{"message":"Invalid"}"#.into()));
        assert_eq!(
            req.exit.unwrap().headers["content-type"],
            "application/json; charset=utf-8"
        );
    }

    #[test]
    fn a_runaway_function_is_stopped_and_the_worker_recovers() {
        let mut w = LuaWorker::new();
        let p = [plugin("pre-function", &["while true do end"])];
        let req = access(&mut w, &p, request(&[]));
        assert_eq!(req.exit.unwrap().status, 500);
        let p = [plugin(
            "pre-function",
            &["return kong.response.exit(200, 'alive')"],
        )];
        assert_eq!(
            exit_of(&access(&mut w, &p, request(&[]))),
            (200, "alive".into())
        );
    }

    #[test]
    fn a_vm_panic_fails_the_request_not_the_worker() {
        let mut w = LuaWorker::new();
        // piccolo 0.3.3 panics when a table whose deleted keys were collected grows.
        let churn = "local cache = {} for round = 1, 50 do \
            for i = 1, 20 do cache['k' .. round .. '_' .. i] = {round, i} end \
            for i = 1, 20, 2 do cache['k' .. round .. '_' .. i] = nil end \
            local garbage = {} for i = 1, 200 do garbage[i] = {i} end end \
            return kong.response.exit(200, 'survived')";
        let p = [plugin("pre-function", &[churn])];
        let status = access(&mut w, &p, request(&[])).exit.unwrap().status;
        assert_eq!(status, 500, "the panic became a failed request");
        let p = [plugin(
            "pre-function",
            &["return kong.response.exit(200, 'alive')"],
        )];
        assert_eq!(
            exit_of(&access(&mut w, &p, request(&[]))),
            (200, "alive".into())
        );
    }

    #[test]
    fn upstream_changes_are_recorded() {
        let mut w = LuaWorker::new();
        let p = [plugin(
            "pre-function",
            &["ngx.var.args = nil kong.service.request.set_header('x-added', 'yes') kong.service.request.set_path('/other')"],
        )];
        let req = access(&mut w, &p, request(&[]));
        assert!(req.exit.is_none());
        assert_eq!(req.upstream_query.as_deref(), Some(""));
        assert_eq!(req.upstream_path.as_deref(), Some("/other"));
        assert_eq!(req.request.headers["x-added"], "yes");
    }
}
