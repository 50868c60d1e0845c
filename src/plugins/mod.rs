//! Which plugins run for a request and in which order (§1.4 of the Kong
//! reference), worked out once per config change: for every route, the
//! most specific configuration of each plugin name (Route+Service > Route >
//! Service > global), sorted by priority, with its Lua already compiled.
//! The per-worker runner that executes them is in `serverless`.
//!
//! A [`CompiledPlugin`] is made once per version of a plugin and shared by
//! every snapshot until the plugin changes (the Admin API's model keeps
//! them), and its chunks come from a [`ChunkCache`] keyed by source: a
//! write recompiles only the code it changed. The plan is built in time
//! linear in routes + plugins.

pub mod sandbox;
pub mod serverless;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lua_stdlib::Chunk;
use serde_json::Value;
use uuid::Uuid;

use crate::entities::{plugins, Plugin, Route};
use crate::pdk::Phase;

/// The phases functions are compiled for, with their config keys.
const PHASES: [(Phase, &str); 6] = [
    (Phase::Certificate, "certificate"),
    (Phase::Rewrite, "rewrite"),
    (Phase::Access, "access"),
    (Phase::HeaderFilter, "header_filter"),
    (Phase::BodyFilter, "body_filter"),
    (Phase::Log, "log"),
];

/// A plugin ready to run: its entity, priority, and compiled functions per
/// phase (a function that does not compile is kept as its error message
/// and fails the request at run time, as Kong does).
pub struct CompiledPlugin {
    pub plugin: Arc<Plugin>,
    pub priority: i64,
    /// The functions of each phase, indexed by `Phase as usize` (read on
    /// every request: no search).
    functions: [Vec<Result<Chunk, String>>; PHASES.len()],
    /// The phases it has functions for.
    phases: PhaseSet,
}

/// A set of phases: those some plugins have functions for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseSet(u8);

impl PhaseSet {
    /// The phases any of `plugins` has functions for.
    pub fn of(plugins: &[Arc<CompiledPlugin>]) -> Self {
        PhaseSet(plugins.iter().fold(0, |set, p| set | p.phases.0))
    }

    pub fn has(self, phase: Phase) -> bool {
        self.0 & (1 << phase as u8) != 0
    }
}

/// Chunks compiled for plugins since start (`GET /status` shows it: a
/// write compiles only the functions it changed).
static CHUNKS_COMPILED: AtomicU64 = AtomicU64::new(0);

pub fn chunks_compiled() -> u64 {
    CHUNKS_COMPILED.load(Ordering::Relaxed)
}

/// Compiled chunks by their source, counted by the live plugins using
/// them: plugins with the same code share one chunk, and a plugin rebuilt
/// from the store is not compiled again. Chunks no plugin uses any more
/// are dropped by [`ChunkCache::prune`].
#[derive(Default)]
pub struct ChunkCache {
    chunks: HashMap<String, CachedChunk>,
    /// Sources whose last user was released since the last prune.
    idle: Vec<String>,
}

struct CachedChunk {
    chunk: Result<Chunk, String>,
    users: usize,
}

impl ChunkCache {
    fn acquire(&mut self, code: &str) -> Result<Chunk, String> {
        if let Some(found) = self.chunks.get_mut(code) {
            found.users += 1;
            return found.chunk.clone();
        }
        // With `untrusted_lua = off` nothing is loaded: the function fails
        // its requests with Kong's message.
        let chunk = if sandbox::settings().mode == sandbox::Mode::Off {
            Err(sandbox::OFF_MESSAGE.to_string())
        } else {
            Chunk::compile(code.as_bytes(), code).map_err(|e| e.message)
        };
        CHUNKS_COMPILED.fetch_add(1, Ordering::Relaxed);
        self.chunks.insert(
            code.to_string(),
            CachedChunk {
                chunk: chunk.clone(),
                users: 1,
            },
        );
        chunk
    }

    /// `plugin` no longer uses its chunks.
    pub fn release(&mut self, plugin: &CompiledPlugin) {
        for code in plugin.sources() {
            if let Some(found) = self.chunks.get_mut(code) {
                found.users = found.users.saturating_sub(1);
                if found.users == 0 {
                    self.idle.push(code.to_string());
                }
            }
        }
    }

    /// Drops the chunks released by their last user.
    pub fn prune(&mut self) {
        for code in std::mem::take(&mut self.idle) {
            if self.chunks.get(&code).is_some_and(|c| c.users == 0) {
                self.chunks.remove(&code);
            }
        }
    }
}

impl CompiledPlugin {
    /// Compiles a plugin on its own (tests, hand-built snapshots).
    pub fn compile(plugin: Arc<Plugin>) -> Self {
        Self::compile_with(plugin, &mut ChunkCache::default())
    }

    /// Compiles a plugin, taking chunks already compiled from `cache`.
    pub fn compile_with(plugin: Arc<Plugin>, cache: &mut ChunkCache) -> Self {
        let priority = plugins::known(&plugin.name).map_or(0, |k| k.priority);
        let mut functions: [Vec<Result<Chunk, String>>; PHASES.len()] = Default::default();
        if plugin.name == "rewriter" {
            functions[Phase::Rewrite as usize] = vec![rewriter_handler(&plugin.config)];
        }
        for (phase, key) in PHASES {
            let Some(Value::Array(items)) = plugin.config.get(key) else {
                continue;
            };
            functions[phase as usize] = items
                .iter()
                .filter_map(Value::as_str)
                .map(|code| cache.acquire(code))
                .collect();
        }
        let phases = PHASES
            .iter()
            .filter(|(phase, _)| !functions[*phase as usize].is_empty())
            .fold(0, |set, (phase, _)| set | 1 << *phase as u8);
        CompiledPlugin {
            plugin,
            priority,
            functions,
            phases: PhaseSet(phases),
        }
    }

    /// The Lua source of every function, all phases.
    fn sources(&self) -> impl Iterator<Item = &str> {
        PHASES
            .into_iter()
            .filter_map(|(_, key)| self.plugin.config.get(key).and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
    }

    pub fn functions(&self, phase: Phase) -> &[Result<Chunk, String>] {
        &self.functions[phase as usize]
    }
}

/// Kong's `rewriter` fixture handler, `ngx.req.set_header("rewriter",
/// conf.value)`, as one line of Lua with the value as a literal (every
/// byte a decimal escape: no value can end the string). Its config has no
/// phase arrays, so the chunk cache never sees it.
fn rewriter_handler(config: &Value) -> Result<Chunk, String> {
    let value = match config.get("value").and_then(Value::as_str) {
        Some(v) => {
            let mut lit = String::with_capacity(2 + 4 * v.len());
            lit.push('"');
            for b in v.bytes() {
                lit.push_str(&format!("\\{b}"));
            }
            lit.push('"');
            lit
        }
        None => "nil".to_string(),
    };
    let code = format!("ngx.req.set_header(\"rewriter\", {value})");
    Chunk::compile(code.as_bytes(), "rewriter").map_err(|e| e.message)
}

impl Drop for CompiledPlugin {
    fn drop(&mut self) {
        // This version is gone from every configuration: workers drop its
        // function slots.
        serverless::plugin_retired();
    }
}

/// A plugin list, in run order.
pub type PluginList = Arc<[Arc<CompiledPlugin>]>;

/// Copy-on-write shards of the per-route lists: a change copies one shard,
/// a snapshot clones `SHARDS` pointers.
const SHARDS: usize = 64;

/// The plugins of every route that has some of its own (or its service's),
/// and the global ones (for every other route, for requests that matched
/// no route, and for the rewrite phase). Cloning it is cheap.
#[derive(Clone, Default)]
pub struct PluginPlan {
    by_route: Vec<Arc<foldhash::HashMap<Uuid, PluginList>>>,
    global: PluginList,
}

/// Where a plugin applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    Service(Uuid),
    Route(Uuid),
    RouteAndService(Uuid, Uuid),
}

impl Scope {
    pub fn of(plugin: &Plugin) -> Scope {
        match (plugin.route.as_ref(), plugin.service.as_ref()) {
            (None, None) => Scope::Global,
            (None, Some(s)) => Scope::Service(s.id),
            (Some(r), None) => Scope::Route(r.id),
            (Some(r), Some(s)) => Scope::RouteAndService(r.id, s.id),
        }
    }
}

/// The enabled plugins by scope, kept up to date by the Admin API's model:
/// a route's list is picked among its own few candidates.
#[derive(Default)]
pub struct PluginIndex {
    scopes: HashMap<Scope, Vec<Arc<CompiledPlugin>>>,
}

impl PluginIndex {
    pub fn insert(&mut self, c: &Arc<CompiledPlugin>) {
        if c.plugin.enabled && c.plugin.consumer.is_none() {
            self.scopes
                .entry(Scope::of(&c.plugin))
                .or_default()
                .push(c.clone());
        }
    }

    pub fn remove(&mut self, plugin: &Plugin) {
        let scope = Scope::of(plugin);
        if let Some(list) = self.scopes.get_mut(&scope) {
            list.retain(|c| c.plugin.id != plugin.id);
            if list.is_empty() {
                self.scopes.remove(&scope);
            }
        }
    }

    /// Route+Service > Route > Service > global, per plugin name, in
    /// priority order.
    fn pick(&self, scopes: &[Scope]) -> PluginList {
        let mut list: Vec<Arc<CompiledPlugin>> = Vec::new();
        for c in scopes.iter().filter_map(|s| self.scopes.get(s)).flatten() {
            if !list.iter().any(|have| have.plugin.name == c.plugin.name) {
                list.push(c.clone());
            }
        }
        list.sort_by_key(|c| std::cmp::Reverse(c.priority));
        list.into()
    }

    /// A route's plugins, or `None` when only the global ones apply.
    pub fn for_route(&self, route: &Route) -> Option<PluginList> {
        let service = route.service.as_ref().map(|s| s.id);
        let mut scopes = Vec::with_capacity(4);
        if let Some(s) = service {
            scopes.push(Scope::RouteAndService(route.id, s));
        }
        scopes.push(Scope::Route(route.id));
        if let Some(s) = service {
            scopes.push(Scope::Service(s));
        }
        if !scopes.iter().any(|s| self.scopes.contains_key(s)) {
            return None;
        }
        scopes.push(Scope::Global);
        Some(self.pick(&scopes))
    }

    pub fn global(&self) -> PluginList {
        self.pick(&[Scope::Global])
    }
}

impl PluginPlan {
    /// Compiles `plugins` and plans them (tests, hand-built snapshots).
    pub fn build(plugins: &[Arc<Plugin>], routes: &[Arc<Route>]) -> Self {
        let mut index = PluginIndex::default();
        for p in plugins {
            index.insert(&Arc::new(CompiledPlugin::compile(p.clone())));
        }
        Self::plan(&index, routes)
    }

    /// The plan of every route.
    pub fn plan(index: &PluginIndex, routes: &[Arc<Route>]) -> Self {
        let mut plan = PluginPlan {
            by_route: Vec::new(),
            global: index.global(),
        };
        for r in routes {
            plan.set_route(r.id, index.for_route(r));
        }
        plan
    }

    /// Sets one route's list (`None`: the global plugins apply).
    pub fn set_route(&mut self, route: Uuid, list: Option<PluginList>) {
        if self.by_route.is_empty() {
            if list.is_none() {
                return;
            }
            self.by_route = (0..SHARDS).map(|_| Arc::default()).collect();
        }
        let shard = &mut self.by_route[shard_of(&route)];
        match list {
            Some(list) => {
                Arc::make_mut(shard).insert(route, list);
            }
            None if shard.contains_key(&route) => {
                Arc::make_mut(shard).remove(&route);
            }
            None => {}
        }
    }

    pub fn set_global(&mut self, list: PluginList) {
        self.global = list;
    }

    /// The routes that have a list of their own.
    pub fn routes(&self) -> Vec<Uuid> {
        self.by_route
            .iter()
            .flat_map(|s| s.keys().copied())
            .collect()
    }

    /// The plugins to run for a request that matched `route` (or none).
    pub fn for_route(&self, route: Option<Uuid>) -> &Arc<[Arc<CompiledPlugin>]> {
        route
            .and_then(|id| self.by_route.get(shard_of(&id))?.get(&id))
            .unwrap_or(&self.global)
    }
}

fn shard_of(id: &Uuid) -> usize {
    (id.as_u128() % SHARDS as u128) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(service: Option<Uuid>) -> Arc<Route> {
        Arc::new(
            serde_json::from_value(json!({
                "id": Uuid::new_v4(), "created_at": 1, "updated_at": 1, "name": null,
                "protocols": ["http"], "methods": null, "hosts": null, "paths": ["/"],
                "headers": null, "https_redirect_status_code": 426, "regex_priority": 0,
                "strip_path": true, "path_handling": "v0", "preserve_host": false,
                "request_buffering": true, "response_buffering": true, "snis": null,
                "sources": null, "destinations": null, "tags": null,
                "service": service.map(|id| json!({"id": id})),
            }))
            .unwrap(),
        )
    }

    fn plugin(name: &str, route: Option<Uuid>, service: Option<Uuid>) -> Arc<Plugin> {
        let fk = |id: Option<Uuid>| id.map(|id| json!({"id": id}));
        Arc::new(
            serde_json::from_value(json!({
                "id": Uuid::new_v4(), "name": name, "instance_name": null, "created_at": 1,
                "updated_at": 1, "route": fk(route), "service": fk(service), "consumer": null,
                "config": {"access": ["local x = 1"]}, "protocols": ["http"], "enabled": true,
                "tags": null,
            }))
            .unwrap(),
        )
    }

    /// Route+Service > Route > Service > global, per plugin name, in
    /// priority order; a route with no plugin of its own gets the global ones.
    #[test]
    fn the_most_specific_plugin_of_each_name_wins() {
        let (s1, s2) = (Uuid::new_v4(), Uuid::new_v4());
        let (r1, r2, r3, r4) = (
            route(Some(s1)),
            route(Some(s1)),
            route(Some(s2)),
            route(None),
        );
        let plugins = [
            plugin("pre-function", None, None),
            plugin("post-function", None, None),
            plugin("pre-function", None, Some(s1)),
            plugin("pre-function", Some(r1.id), None),
            plugin("pre-function", Some(r1.id), Some(s1)),
            plugin("post-function", Some(r2.id), None),
            // Scoped to r3 with a service r3 does not have: never applies.
            plugin("post-function", Some(r3.id), Some(s1)),
        ];
        let plan = PluginPlan::build(&plugins, &[r1.clone(), r2.clone(), r3.clone(), r4.clone()]);
        let ids = |route: &Arc<Route>| -> Vec<Uuid> {
            plan.for_route(Some(route.id))
                .iter()
                .map(|c| c.plugin.id)
                .collect()
        };
        assert_eq!(ids(&r1), [plugins[4].id, plugins[1].id]);
        assert_eq!(ids(&r2), [plugins[2].id, plugins[5].id]);
        assert_eq!(ids(&r3), [plugins[0].id, plugins[1].id]);
        assert_eq!(ids(&r4), [plugins[0].id, plugins[1].id]);
        let global: Vec<Uuid> = plan.for_route(None).iter().map(|c| c.plugin.id).collect();
        assert_eq!(global, [plugins[0].id, plugins[1].id]);
    }
}
