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

pub mod serverless;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lua_stdlib::compiler::{compile, Chunk};
use serde_json::Value;
use uuid::Uuid;

use crate::entities::{plugins, Plugin, Route};
use crate::pdk::Phase;

/// The phases functions are compiled for, with their config keys.
const PHASES: [(Phase, &str); 5] = [
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
    pub phases: Vec<(Phase, Vec<Result<Chunk, String>>)>,
}

/// Chunks compiled for plugins since start (`GET /status` shows it: a
/// write compiles only the functions it changed).
static CHUNKS_COMPILED: AtomicU64 = AtomicU64::new(0);

pub fn chunks_compiled() -> u64 {
    CHUNKS_COMPILED.load(Ordering::Relaxed)
}

/// Compiled chunks by their source: plugins with the same code share one
/// chunk, and a plugin rebuilt from the store is not compiled again.
/// [`ChunkCache::retain`] drops what no live plugin uses.
#[derive(Default)]
pub struct ChunkCache {
    chunks: HashMap<String, Result<Chunk, String>>,
}

impl ChunkCache {
    fn get(&mut self, code: &str) -> Result<Chunk, String> {
        if let Some(found) = self.chunks.get(code) {
            return found.clone();
        }
        let compiled = compile(code.as_bytes(), code).map_err(|e| e.message);
        CHUNKS_COMPILED.fetch_add(1, Ordering::Relaxed);
        self.chunks.insert(code.to_string(), compiled.clone());
        compiled
    }

    /// Keeps the chunks of `live` plugins only.
    pub fn retain<'a>(&mut self, live: impl Iterator<Item = &'a CompiledPlugin>) {
        let used: std::collections::HashSet<&str> =
            live.flat_map(CompiledPlugin::sources).collect();
        self.chunks.retain(|code, _| used.contains(code.as_str()));
    }
}

impl CompiledPlugin {
    /// Compiles a plugin on its own (tests, hand-built snapshots).
    pub fn compile(plugin: Arc<Plugin>) -> Self {
        Self::compile_with(plugin, &mut ChunkCache::default())
    }

    /// Compiles a plugin, taking chunks already compiled from `cache`.
    pub fn compile_with(plugin: Arc<Plugin>, cache: &mut ChunkCache) -> Self {
        let priority = plugins::ENABLED
            .iter()
            .find(|(n, _)| *n == plugin.name)
            .map_or(0, |(_, p)| *p);
        let mut phases = Vec::new();
        for (phase, key) in PHASES {
            let Some(Value::Array(items)) = plugin.config.get(key) else {
                continue;
            };
            let chunks: Vec<Result<Chunk, String>> = items
                .iter()
                .filter_map(Value::as_str)
                .map(|code| cache.get(code))
                .collect();
            if !chunks.is_empty() {
                phases.push((phase, chunks));
            }
        }
        CompiledPlugin {
            plugin,
            priority,
            phases,
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
        self.phases
            .iter()
            .find(|(p, _)| *p == phase)
            .map_or(&[], |(_, f)| f.as_slice())
    }
}

impl Drop for CompiledPlugin {
    fn drop(&mut self) {
        // This version is gone from every configuration: workers drop its
        // function slots.
        serverless::plugin_retired();
    }
}

/// The plugins of every route, and the global ones (for requests that
/// matched no route, and for the rewrite phase).
#[derive(Default)]
pub struct PluginPlan {
    by_route: HashMap<Uuid, Arc<[Arc<CompiledPlugin>]>>,
    global: Arc<[Arc<CompiledPlugin>]>,
}

impl PluginPlan {
    /// Compiles `plugins` and plans them (tests, hand-built snapshots).
    pub fn build(plugins: &[Arc<Plugin>], routes: &[Arc<Route>]) -> Self {
        let compiled: Vec<Arc<CompiledPlugin>> = plugins
            .iter()
            .map(|p| Arc::new(CompiledPlugin::compile(p.clone())))
            .collect();
        Self::plan(compiled.iter(), routes)
    }

    /// Picks each route's plugins among compiled ones. Plugins are indexed
    /// by scope first, so each route looks only at its own candidates.
    pub fn plan<'a>(
        plugins: impl Iterator<Item = &'a Arc<CompiledPlugin>>,
        routes: &[Arc<Route>],
    ) -> Self {
        type Scoped<'a, K> = HashMap<K, Vec<&'a Arc<CompiledPlugin>>>;
        let mut global = Vec::new();
        let mut by_service: Scoped<Uuid> = HashMap::new();
        let mut by_route: Scoped<Uuid> = HashMap::new();
        let mut by_both: Scoped<(Uuid, Uuid)> = HashMap::new();
        for c in plugins.filter(|c| c.plugin.enabled && c.plugin.consumer.is_none()) {
            let p = &c.plugin;
            match (p.route.as_ref(), p.service.as_ref()) {
                (None, None) => global.push(c),
                (None, Some(s)) => by_service.entry(s.id).or_default().push(c),
                (Some(r), None) => by_route.entry(r.id).or_default().push(c),
                (Some(r), Some(s)) => by_both.entry((r.id, s.id)).or_default().push(c),
            }
        }
        // Candidates from the most specific scope first: the first plugin
        // of each name wins.
        let pick = |scopes: &[&[&Arc<CompiledPlugin>]]| -> Arc<[Arc<CompiledPlugin>]> {
            let mut list: Vec<Arc<CompiledPlugin>> = Vec::new();
            for c in scopes.iter().flat_map(|s| s.iter()) {
                if !list.iter().any(|have| have.plugin.name == c.plugin.name) {
                    list.push(Arc::clone(c));
                }
            }
            list.sort_by_key(|c| std::cmp::Reverse(c.priority));
            list.into()
        };
        let none: &[&Arc<CompiledPlugin>] = &[];
        let by_route = routes
            .iter()
            .filter_map(|r| {
                let service = r.service.as_ref().map(|s| s.id);
                let both = service.and_then(|s| by_both.get(&(r.id, s)));
                let own = by_route.get(&r.id);
                let of_service = service.and_then(|s| by_service.get(&s));
                if both.is_none() && own.is_none() && of_service.is_none() {
                    // Only global plugins: `for_route` falls back to them.
                    return None;
                }
                let list = pick(&[
                    both.map_or(none, Vec::as_slice),
                    own.map_or(none, Vec::as_slice),
                    of_service.map_or(none, Vec::as_slice),
                    &global,
                ]);
                Some((r.id, list))
            })
            .collect();
        PluginPlan {
            by_route,
            global: pick(&[&global]),
        }
    }

    /// The plugins to run for a request that matched `route` (or none).
    pub fn for_route(&self, route: Option<Uuid>) -> &Arc<[Arc<CompiledPlugin>]> {
        route
            .and_then(|id| self.by_route.get(&id))
            .unwrap_or(&self.global)
    }
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
