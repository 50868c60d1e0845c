//! Which plugins run for a request and in which order (§1.4 of the Kong
//! reference), worked out once per config change: for every route, the
//! most specific configuration of each plugin name (Route+Service > Route >
//! Service > global), sorted by priority, with its Lua already compiled.
//! The per-worker runner that executes them is in `serverless`.

pub mod serverless;

use std::collections::HashMap;
use std::sync::Arc;

use lua_stdlib::compiler::{compile, Chunk};
use serde_json::Value;
use uuid::Uuid;

use crate::entities::{plugins, Plugin, Route};
use crate::pdk::Phase;

/// A plugin ready to run: its entity, priority, and compiled functions per
/// phase (a function that does not compile is kept as its error message
/// and fails the request at run time, as Kong does).
pub struct CompiledPlugin {
    pub plugin: Arc<Plugin>,
    pub priority: i64,
    pub phases: Vec<(Phase, Vec<Result<Chunk, String>>)>,
}

impl CompiledPlugin {
    fn compile(plugin: Arc<Plugin>) -> Self {
        let priority = plugins::ENABLED
            .iter()
            .find(|(n, _)| *n == plugin.name)
            .map_or(0, |(_, p)| *p);
        let mut phases = Vec::new();
        for (phase, key) in [
            (Phase::Rewrite, "rewrite"),
            (Phase::Access, "access"),
            (Phase::HeaderFilter, "header_filter"),
            (Phase::BodyFilter, "body_filter"),
            (Phase::Log, "log"),
        ] {
            let Some(Value::Array(items)) = plugin.config.get(key) else {
                continue;
            };
            let chunks: Vec<Result<Chunk, String>> = items
                .iter()
                .filter_map(Value::as_str)
                .map(|code| compile(code.as_bytes(), code).map_err(|e| e.message))
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

    pub fn functions(&self, phase: Phase) -> &[Result<Chunk, String>] {
        self.phases
            .iter()
            .find(|(p, _)| *p == phase)
            .map_or(&[], |(_, f)| f.as_slice())
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
    pub fn build(plugins: &[Arc<Plugin>], routes: &[Arc<Route>]) -> Self {
        let compiled: Vec<Arc<CompiledPlugin>> = plugins
            .iter()
            .filter(|p| p.enabled && p.consumer.is_none())
            .map(|p| Arc::new(CompiledPlugin::compile(p.clone())))
            .collect();
        let pick = |route: Option<Uuid>, service: Option<Uuid>| -> Arc<[Arc<CompiledPlugin>]> {
            let mut chosen: HashMap<&str, (u8, Arc<CompiledPlugin>)> = HashMap::new();
            for c in &compiled {
                let p = &c.plugin;
                let (pr, ps) = (
                    p.route.as_ref().map(|f| f.id),
                    p.service.as_ref().map(|f| f.id),
                );
                let rank = match (pr, ps) {
                    (Some(r), Some(s)) if Some(r) == route && Some(s) == service => 3,
                    (Some(r), None) if Some(r) == route => 2,
                    (None, Some(s)) if Some(s) == service => 1,
                    (None, None) => 0,
                    _ => continue,
                };
                let entry = chosen.entry(p.name.as_str()).or_insert((rank, c.clone()));
                if rank > entry.0 {
                    *entry = (rank, c.clone());
                }
            }
            let mut list: Vec<Arc<CompiledPlugin>> = chosen.into_values().map(|(_, c)| c).collect();
            list.sort_by_key(|c| std::cmp::Reverse(c.priority));
            list.into()
        };
        let by_route = routes
            .iter()
            .map(|r| (r.id, pick(Some(r.id), r.service.as_ref().map(|s| s.id))))
            .filter(|(_, list)| !list.is_empty())
            .collect();
        PluginPlan {
            by_route,
            global: pick(None, None),
        }
    }

    /// The plugins to run for a request that matched `route` (or none).
    pub fn for_route(&self, route: Option<Uuid>) -> &Arc<[Arc<CompiledPlugin>]> {
        route
            .and_then(|id| self.by_route.get(&id))
            .unwrap_or(&self.global)
    }
}
