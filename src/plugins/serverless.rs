//! The per-worker Lua runner for `pre-function` and `post-function`.
//!
//! Each proxy worker owns one [`LuaWorker`]: a lua-stdlib VM with the
//! sandboxed globals (`sandbox`: standard library, `kong` PDK and `ngx`,
//! frozen). Functions are loaded into it on first use from the chunks
//! compiled once at config time (a [`Chunk`] is shared by every worker),
//! each with its own `_ENV`, and keep Kong's "return a function" semantics
//! (§1.6): the first call runs the chunk, and a returned function replaces
//! it — and is called at once — so its upvalues persist across requests on
//! this worker.
//!
//! A phase runs as a [`PhaseRun`]: every call runs under a [`Budget`]
//! (instructions, running time, memory; [`Limits`]) in slices, and the
//! runner returns to the worker's event loop between slices
//! ([`LuaWorker::advance`]), so a long function does not hold up the other
//! requests of its worker. Calls of several requests interleave on one VM:
//! each slice puts its own request in the [`RequestCell`] the PDK reads.
//!
//! A slot belongs to one version of a plugin (one [`CompiledPlugin`], which
//! the configuration keeps until the plugin changes). When that version is
//! gone — the plugin deleted or updated — its slots are dropped at the
//! worker's next function call, so their upvalues can be collected.

use std::cell::{Cell, RefCell};
use std::collections::hash_map::Entry;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use lua_stdlib::{
    Budget, Call, Chunk, Function, Outcome, StashedFunction, StashedTable, Value, Vm,
};

use super::{sandbox, CompiledPlugin};
use crate::pdk::{Exit, ExitBody, Phase, RequestCell, RequestContext};

/// What one function call may use (`serve --lua-*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// VM instructions (and library work) per call.
    pub instructions: u64,
    /// Running time per call, not counting time suspended between slices.
    pub time: Duration,
    /// Memory of the worker's VM.
    pub memory: usize,
    /// Instructions per slice: after a slice the worker's other requests
    /// get their turn.
    pub slice: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            instructions: 1_000_000_000,
            time: Duration::from_secs(2),
            memory: 256 * 1024 * 1024,
            slice: 100_000,
        }
    }
}

static LIMITS: OnceLock<Limits> = OnceLock::new();

/// Sets the limits of every function call (once, at start-up, before the
/// workers run Lua).
pub fn set_limits(limits: Limits) {
    let _ = LIMITS.set(limits);
}

fn limits() -> Limits {
    *LIMITS.get_or_init(Limits::default)
}

/// One function slot: the chunk until its first run completes, then
/// whatever it resolved to.
enum Slot {
    Chunk {
        chunk: StashedFunction,
        started: bool,
    },
    Resolved(StashedFunction),
}

/// The plugin's id (as a number: hashed in one step), the phase and the
/// function's index.
type SlotKey = (u128, Phase, usize);

/// A slot and the plugin version it belongs to.
struct Owned {
    owner: Weak<CompiledPlugin>,
    slot: Slot,
    /// The executor of this slot's last call, once it ended: the next call
    /// of the slot starts on it (`Vm::restart`), not on a new one. Kept
    /// per slot, so that no function ever runs on a thread another
    /// function could have kept (`coroutine.running()`). Shared with the
    /// slot's call in flight, which parks its executor here when it ends
    /// (no second look-up; a slot dropped or replaced meanwhile takes it
    /// with it).
    idle: Idle,
}

/// Where a slot keeps its idle executor.
type Idle = Rc<Cell<Option<Call>>>;

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
    Returned,
    /// Stopped by `kong.response.exit` / `ngx.exit`.
    Stopped,
    Failed(String),
}

/// A call in flight.
struct Running {
    call: Call,
    key: SlotKey,
    /// The slot's [`Owned::idle`].
    idle: Idle,
    /// The chunk's first run: a function it returns becomes the slot.
    first_run: Option<StashedFunction>,
}

/// One phase of one request, in progress. The request is boxed: it moves
/// between the run and the PDK's cell at every slice.
pub struct PhaseRun<'p> {
    phase: Phase,
    plugins: &'p [Arc<CompiledPlugin>],
    /// The next function to start: plugin index, function index.
    plugin: usize,
    function: usize,
    /// The request, while no slice of it runs.
    req: Option<Box<RequestContext>>,
    running: Option<Running>,
}

impl<'p> PhaseRun<'p> {
    pub fn new(
        phase: Phase,
        plugins: &'p [Arc<CompiledPlugin>],
        mut req: Box<RequestContext>,
    ) -> Self {
        req.phase = phase;
        PhaseRun {
            phase,
            plugins,
            plugin: 0,
            function: 0,
            req: Some(req),
            running: None,
        }
    }

    /// The request, once [`LuaWorker::advance`] said the phase is done
    /// (taken out, not the run moved: it is ~200 bytes).
    pub fn finish(&mut self) -> Box<RequestContext> {
        self.req
            .take()
            .expect("the request is back in the run between slices")
    }

    /// The next function to start, in plugin order.
    fn next_function(&mut self) -> Option<(usize, usize)> {
        while let Some(plugin) = self.plugins.get(self.plugin) {
            if self.function < plugin.functions(self.phase).len() {
                self.function += 1;
                return Some((self.plugin, self.function - 1));
            }
            self.plugin += 1;
            self.function = 0;
        }
        None
    }
}

/// Where a phase goes after a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    /// The next function runs.
    No,
    /// No other function runs in the phase (an exit or an error before
    /// the response).
    Phase,
    /// The plugin's other functions run, no other plugin's (a delayed
    /// exit is pending).
    AfterPlugin,
}

/// What to do after a call's outcome.
enum Next {
    Call(Running),
    Done(CallResult),
}

pub struct LuaWorker {
    vm: Vm,
    /// What every function's `_ENV` is built from (`sandbox::build`).
    env_base: StashedTable,
    cell: RequestCell,
    slots: foldhash::HashMap<SlotKey, Owned>,
    /// `RETIRED` at the last sweep.
    swept: u64,
    /// The VM panicked in the last slice (its call's executor is not
    /// reused).
    panicked: bool,
}

impl Default for LuaWorker {
    fn default() -> Self {
        Self::new()
    }
}

impl LuaWorker {
    pub fn new() -> Self {
        let mut vm = Vm::new();
        let cell: RequestCell = Rc::new(RefCell::new(None));
        let env_base = vm.enter(|ctx| ctx.stash(sandbox::build(ctx, &cell)));
        LuaWorker {
            vm,
            env_base,
            cell,
            slots: foldhash::HashMap::default(),
            swept: RETIRED.load(Ordering::Acquire),
            panicked: false,
        }
    }

    /// Runs a whole phase without returning to the event loop between
    /// slices (the TLS handshake's certificate phase, tests).
    pub fn run_phase(
        &mut self,
        phase: Phase,
        plugins: &[Arc<CompiledPlugin>],
        req: Box<RequestContext>,
    ) -> Box<RequestContext> {
        let mut run = PhaseRun::new(phase, plugins, req);
        while !self.advance(&mut run) {}
        run.finish()
    }

    /// Runs `run` until it is done (true) or a call used up its slice
    /// (false: let the worker's other requests run, then call again).
    ///
    /// Every function of the phase runs, in order; in certificate, rewrite
    /// and access an exit (`ngx.exit(ngx.OK)` too) or an error ends the
    /// phase for all plugins; in the later phases an error is logged and
    /// the rest run.
    pub fn advance(&mut self, run: &mut PhaseRun<'_>) -> bool {
        self.sweep();
        *self.cell.borrow_mut() = run.req.take();
        let done = loop {
            // The call in progress, or the next function's, started here
            // and run at once (a call that ends in its first slice is
            // never stored in the run: each store and take copied it).
            let mut running = match run.running.take() {
                Some(running) => running,
                None => {
                    let Some((p, f)) = run.next_function() else {
                        break true;
                    };
                    let plugin = &run.plugins[p];
                    if let Some(req) = self.cell.borrow_mut().as_mut() {
                        // The enabled plugins' names are static: no allocation.
                        req.plugin_name = crate::entities::plugins::known(&plugin.plugin.name)
                            .map_or("", |k| k.name);
                        req.plugin_id = Some(plugin.plugin.id);
                    }
                    let started = match &plugin.functions(run.phase)[f] {
                        Ok(chunk) => self.start_slot(plugin, run.phase, f, chunk),
                        Err(message) => Err(message.clone()),
                    };
                    match started {
                        Ok(running) => running,
                        Err(message) => {
                            let ends =
                                self.after_function(run.phase, plugin, CallResult::Failed(message));
                            if ends == Ends::Phase {
                                run.plugin = run.plugins.len();
                            }
                            continue;
                        }
                    }
                }
            };
            let outcome = self.run_slice(&mut running.call);
            if matches!(outcome, Outcome::Suspended) {
                run.running = Some(running);
                break false;
            }
            match self.settle(running, outcome) {
                Next::Call(next) => run.running = Some(next),
                Next::Done(result) => {
                    let plugin = &run.plugins[run.plugin];
                    match self.after_function(run.phase, plugin, result) {
                        Ends::Phase => run.plugin = run.plugins.len(),
                        // A delayed exit: Kong sends it once the
                        // plugin's handler has returned.
                        Ends::AfterPlugin => run.plugins = &run.plugins[..=run.plugin],
                        Ends::No => {}
                    }
                }
            }
        };
        run.req = self.cell.borrow_mut().take();
        if let (true, Some(req)) = (done, &run.req) {
            // `kong.node.get_memory_stats`' report of this worker's VM
            // (the request's start is the clock: no clock read per phase).
            let vm = &self.vm;
            crate::pdk::node::report_lua_memory(|| vm.memory(), req.times.start);
        }
        done
    }

    /// Logs a failure (and in the early phases answers 500); says whether
    /// the phase ends here.
    fn after_function(
        &mut self,
        phase: Phase,
        plugin: &CompiledPlugin,
        result: CallResult,
    ) -> Ends {
        let mut guard = self.cell.borrow_mut();
        let Some(req) = guard.as_mut() else {
            return Ends::Phase;
        };
        let early = matches!(phase, Phase::Certificate | Phase::Rewrite | Phase::Access);
        if let CallResult::Failed(message) = result {
            let route = req
                .route
                .as_ref()
                .map(|r| r.name.clone().unwrap_or_else(|| r.id.to_string()))
                .unwrap_or_default();
            let limit = limit_hit(&message);
            tracing::error!(
                target: "lunagate::lua",
                plugin = %plugin.plugin.name,
                route = %route,
                phase = phase.name(),
                "[{}] {} phase: {message}{limit}",
                plugin.plugin.name,
                phase.name()
            );
            if early {
                if std::mem::take(&mut req.delayed_exit) {
                    // Kong's iterator replaces a delayed exit with its 500
                    // when the plugin fails.
                    req.exit = None;
                }
                req.response_source = "error";
                req.exit.get_or_insert(Exit {
                    status: 500,
                    headers: http::HeaderMap::new(),
                    body: ExitBody::KongError("An unexpected error occurred".into()),
                });
            }
        }
        // Before the response any exit ends the whole phase, as `ngx.exit`
        // ends Kong's `ssl_certificate_by_lua`, `rewrite_by_lua` or
        // `access_by_lua` handler (Kong runs every plugin of a phase in
        // one): `ngx.exit(ngx.OK)` lets the handshake or the request go on
        // to the next phase without the functions after it. (From
        // header_filter on, exits never stop a function: see `ngx.exit`.)
        let ended = early && (req.leave_function || req.exit.is_some());
        req.leave_function = false;
        match (ended, req.delayed_exit) {
            (false, _) => Ends::No,
            (true, false) => Ends::Phase,
            (true, true) => Ends::AfterPlugin,
        }
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
            self.vm.collect();
        }
    }

    /// Starts the call of one function slot, with the trampoline semantics
    /// of §1.6.
    fn start_slot(
        &mut self,
        plugin: &Arc<CompiledPlugin>,
        phase: Phase,
        index: usize,
        chunk: &Chunk,
    ) -> Result<Running, String> {
        let key = (plugin.plugin.id.as_u128(), phase, index);
        let owned = match self.slots.entry(key) {
            Entry::Occupied(e) if std::ptr::eq(e.get().owner.as_ptr(), Arc::as_ptr(plugin)) => {
                e.into_mut()
            }
            entry => {
                let env_base = &self.env_base;
                let f = self.vm.enter(|ctx| {
                    let env = sandbox::function_env(ctx, ctx.fetch(env_base));
                    ctx.stash(Function::from(chunk.load(ctx, env)))
                });
                let owned = Owned {
                    owner: Arc::downgrade(plugin),
                    slot: Slot::Chunk {
                        chunk: f,
                        started: false,
                    },
                    idle: Idle::default(),
                };
                match entry {
                    // A slot of the plugin's previous version is replaced.
                    Entry::Occupied(mut e) => {
                        e.insert(owned);
                        e.into_mut()
                    }
                    Entry::Vacant(e) => {
                        SLOTS.fetch_add(1, Ordering::Relaxed);
                        e.insert(owned)
                    }
                }
            }
        };
        let idle = owned.idle.clone();
        let first_run = match &mut owned.slot {
            Slot::Resolved(_) => None,
            Slot::Chunk {
                chunk,
                started: true,
            } => {
                // The first run ended early: from now on the chunk itself runs.
                owned.slot = Slot::Resolved(chunk.clone());
                None
            }
            Slot::Chunk { chunk, started } => {
                *started = true;
                Some(chunk.clone())
            }
        };
        let (Slot::Resolved(f) | Slot::Chunk { chunk: f, .. }) = &owned.slot;
        Ok(Running {
            call: start_call(&mut self.vm, f, idle.take()),
            key,
            idle,
            first_run,
        })
    }

    /// Keeps the executor of a call that ended for its slot's next call
    /// (not after a panic in the VM: that executor's state is unknown).
    fn park(&mut self, idle: &Idle, call: Call) {
        if std::mem::take(&mut self.panicked) {
            return;
        }
        // Another request's call of the slot may have parked first.
        let kept = idle.take().unwrap_or(call);
        idle.set(Some(kept));
    }

    /// One slice of a call. A panic inside the VM is a bug in it: the
    /// request fails and the worker goes on.
    fn run_slice(&mut self, call: &mut Call) -> Outcome {
        let vm = &mut self.vm;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| vm.run(call))) {
            Ok(outcome) => outcome,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(target: "lunagate::lua", "bug: the Lua VM panicked: {what}");
                self.panicked = true;
                Outcome::Error("internal error in the Lua VM".into())
            }
        }
    }

    /// What a finished, failed or waiting call leads to.
    // Inlined into its one caller: a call taking the ~150-byte `Running`
    // copied it into its argument.
    #[inline(always)]
    fn settle(&mut self, running: Running, outcome: Outcome) -> Next {
        let Running {
            call,
            key,
            idle,
            first_run,
        } = running;
        match outcome {
            Outcome::Finished(values) => {
                let Some(chunk) = first_run else {
                    self.park(&idle, call);
                    return Next::Done(CallResult::Returned);
                };
                let inner = self
                    .vm
                    .enter(|ctx| match values.first().map(|v| ctx.fetch(v)) {
                        Some(Value::Function(f)) => Some(ctx.stash(f)),
                        _ => None,
                    });
                match inner {
                    Some(inner) => {
                        self.resolve(&key, inner.clone());
                        Next::Call(Running {
                            call: start_call(&mut self.vm, &inner, Some(call)),
                            key,
                            idle,
                            first_run: None,
                        })
                    }
                    None => {
                        self.resolve(&key, chunk);
                        self.park(&idle, call);
                        Next::Done(CallResult::Returned)
                    }
                }
            }
            Outcome::Error(message) => {
                self.park(&idle, call);
                Next::Done(CallResult::Failed(message))
            }
            Outcome::Waiting => {
                let exited = self
                    .cell
                    .borrow()
                    .as_ref()
                    .is_some_and(|r| r.leave_function);
                // Only an exit suspends a call for now; the call is
                // abandoned: coroutines it was in are dead from now on
                // (OpenResty's `coroutine.status` of a coroutine of an
                // earlier request says `dead`).
                self.vm.abandon(&call);
                self.park(&idle, call);
                Next::Done(if exited {
                    CallResult::Stopped
                } else {
                    CallResult::Failed("a function waited for the host outside an exit".into())
                })
            }
            // `advance` keeps a suspended call running; nothing to settle.
            Outcome::Suspended => Next::Call(Running {
                call,
                key,
                idle,
                first_run,
            }),
        }
    }

    /// What a slot runs from now on.
    fn resolve(&mut self, key: &SlotKey, f: StashedFunction) {
        if let Some(owned) = self.slots.get_mut(key) {
            owned.slot = Slot::Resolved(f);
        }
    }
}

/// Runs a phase on a worker's VM (made on first use). Between slices of a
/// long function the worker's event loop runs its other requests (whose
/// functions may run on the same VM meanwhile); the VM is borrowed only
/// for one slice at a time.
pub async fn run_phase(
    lua: &RefCell<Option<LuaWorker>>,
    phase: Phase,
    plugins: &[Arc<CompiledPlugin>],
    req: Box<RequestContext>,
) -> Box<RequestContext> {
    let mut run = PhaseRun::new(phase, plugins, req);
    loop {
        let done = lua
            .borrow_mut()
            .get_or_insert_with(LuaWorker::new)
            .advance(&mut run);
        if done {
            return run.finish();
        }
        tokio::task::yield_now().await;
    }
}

/// Starts a call of `f`, on `idle`'s executor when there is one.
fn start_call(vm: &mut Vm, f: &StashedFunction, idle: Option<Call>) -> Call {
    let l = limits();
    let budget = Budget {
        instructions: l.instructions,
        time: l.time,
        memory: l.memory,
        slice: l.slice,
    };
    match idle {
        Some(mut call) => {
            vm.restart(&mut call, f, (), budget);
            call
        }
        None => vm.start(f, (), budget),
    }
}

/// Whether any of `plugins` has functions for `phase`.
pub fn any_for(plugins: &[Arc<CompiledPlugin>], phase: Phase) -> bool {
    plugins.iter().any(|p| !p.functions(phase).is_empty())
}

/// Which `serve` limit a budget error is about, for the log line.
fn limit_hit(message: &str) -> String {
    let l = limits();
    match message {
        "instruction budget exceeded" => format!(
            " (--lua-instruction-limit {}; the function was stopped)",
            l.instructions
        ),
        "time budget exceeded" => format!(
            " (--lua-time-limit {} ms; the function was stopped)",
            l.time.as_millis()
        ),
        "not enough memory" => format!(
            " (--lua-memory-limit {} bytes; the function was stopped)",
            l.memory
        ),
        _ => String::new(),
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
    use uuid::Uuid;

    fn plugin(name: &str, access: &[&str]) -> Arc<CompiledPlugin> {
        let p: Plugin = serde_json::from_value(json!({
            "id": Uuid::new_v4(), "name": name, "instance_name": null, "created_at": 1, "updated_at": 1,
            "route": null, "service": null, "consumer": null, "config": {"access": access},
            "protocols": ["http"], "enabled": true, "tags": null,
        }))
        .unwrap();
        Arc::new(CompiledPlugin::compile(Arc::new(p)))
    }

    fn request(headers: &[(&str, &str)]) -> Box<RequestContext> {
        let mut b = http::Request::builder().uri("/test?a=b");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        Box::new(RequestContext::new(
            parts,
            "127.0.0.1:5000".parse().unwrap(),
            8000,
            None,
        ))
    }

    fn access(
        w: &mut LuaWorker,
        plugins: &[Arc<CompiledPlugin>],
        req: Box<RequestContext>,
    ) -> Box<RequestContext> {
        w.run_phase(Phase::Access, plugins, req)
    }

    fn exit_of(req: &RequestContext) -> (u16, String) {
        let exit = req.exit.as_ref().expect("an exit");
        let body = match &exit.body {
            ExitBody::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            ExitBody::KongError(m) => format!("kong error: {m}"),
            ExitBody::Close => "closed".into(),
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
    fn a_slot_starts_each_call_clean_on_its_reused_executor() {
        let mut w = LuaWorker::new();
        // Exits from inside a coroutine (the call waits with two threads in
        // its chain) and after deep recursion (large stacks), then errors:
        // every later call of the same slot sees a fresh start.
        let p = [plugin(
            "pre-function",
            &[r#"
            local function deep(n) if n == 0 then return 0 end return 1 + deep(n - 1) end
            local depth = deep(5000)
            local args = select('#', ...)
            if kong.request.get_header("x-fail") then error("failed on purpose") end
            local co = coroutine.wrap(function()
              return kong.response.exit(403, depth .. " " .. args .. " " .. coroutine.status(coroutine.running()))
            end)
            return co()
        "#],
        )];
        for round in 0..3 {
            assert_eq!(
                exit_of(&access(&mut w, &p, request(&[]))),
                (403, "5000 0 running".into()),
                "round {round}"
            );
            assert_eq!(
                exit_of(&access(&mut w, &p, request(&[("x-fail", "1")]))),
                (500, "kong error: An unexpected error occurred".into()),
                "round {round}"
            );
        }
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
    fn a_cache_that_evicts_and_grows_keeps_working() {
        let mut w = LuaWorker::new();
        // piccolo 0.3.3 panicked when a table whose deleted keys were
        // collected grew (issue 7).
        let churn = "local cache = {} for round = 1, 50 do \
            for i = 1, 20 do cache['k' .. round .. '_' .. i] = {round, i} end \
            for i = 1, 20, 2 do cache['k' .. round .. '_' .. i] = nil end \
            local garbage = {} for i = 1, 200 do garbage[i] = {i} end end \
            return kong.response.exit(200, 'survived')";
        let p = [plugin("pre-function", &[churn])];
        assert_eq!(
            exit_of(&access(&mut w, &p, request(&[]))),
            (200, "survived".into())
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
