//! The configuration the proxy serves from: an immutable snapshot with the
//! compiled router and plugin plan, rebuilt after each committed Admin API
//! write and swapped in atomically. Workers load the current snapshot once
//! per request (one atomic load); nothing on the request path takes a lock.
//!
//! The Admin API keeps a [`Model`]: the typed entities the store holds,
//! with plugins already compiled. A write hands it what it changed (a
//! [`Change`]), so publishing the next snapshot neither reads the store
//! again nor recompiles unchanged plugins; the model reloads from the store
//! only when everything changed (a declarative import) or the store had to
//! reopen its file.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::entities::{Kind, Plugin, Route, Service};
use crate::plugins::{ChunkCache, CompiledPlugin, PluginPlan};
use crate::proxy::router::Router;
use crate::store::{Entity, Store, StoreError};

pub struct ConfigSnapshot {
    pub router: Router,
    /// The plugins of each route, compiled, in run order.
    pub plugins_plan: PluginPlan,
}

/// What every worker and the Admin API share.
pub type SharedConfig = Arc<ArcSwap<ConfigSnapshot>>;

impl ConfigSnapshot {
    /// A snapshot from entities built by hand (proxy tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn build(services: Vec<Service>, routes: Vec<Route>, plugins: Vec<Plugin>) -> Self {
        let services: HashMap<Uuid, Arc<Service>> =
            services.into_iter().map(|s| (s.id, Arc::new(s))).collect();
        let routes: Vec<Arc<Route>> = routes.into_iter().map(Arc::new).collect();
        let plugins: Vec<Arc<Plugin>> = plugins.into_iter().map(Arc::new).collect();
        ConfigSnapshot {
            router: Router::build(&services, &routes),
            plugins_plan: PluginPlan::build(&plugins, &routes),
        }
    }
}

/// What one committed write changed.
#[derive(Debug)]
pub enum Change {
    /// An entity was created or replaced; this is what was stored.
    Put(Kind, Entity),
    Removed(Kind, Uuid),
    /// Anything may have changed (the whole configuration was replaced).
    Everything,
}

/// The typed copy of what the store holds, kept by the Admin API.
#[derive(Default)]
pub struct Model {
    services: HashMap<Uuid, Arc<Service>>,
    routes: HashMap<Uuid, Arc<Route>>,
    plugins: HashMap<Uuid, Arc<CompiledPlugin>>,
    chunks: ChunkCache,
    /// `Store::generation` when the model was loaded.
    generation: u64,
}

impl Model {
    /// Reads every entity from the store. An entity that no longer
    /// deserialises (it passed validation when written, so this means a
    /// newer format) is skipped with an error in the log.
    pub fn load(store: &Store) -> Result<Model, StoreError> {
        let mut model = Model::default();
        model.reload(store)?;
        Ok(model)
    }

    fn reload(&mut self, store: &Store) -> Result<(), StoreError> {
        let generation = store.generation();
        let services: HashMap<Uuid, Arc<Service>> = typed::<Service>(store, Kind::Service)?
            .into_iter()
            .map(|s| (s.id, Arc::new(s)))
            .collect();
        let routes = typed::<Route>(store, Kind::Route)?
            .into_iter()
            .map(|r| (r.id, Arc::new(r)))
            .collect();
        let plugins: Vec<Plugin> = typed(store, Kind::Plugin)?;
        self.services = services;
        self.routes = routes;
        self.plugins = plugins
            .into_iter()
            .map(|p| {
                (
                    p.id,
                    Arc::new(CompiledPlugin::compile_with(Arc::new(p), &mut self.chunks)),
                )
            })
            .collect();
        self.chunks
            .retain(self.plugins.values().map(|c| c.as_ref()));
        self.generation = generation;
        Ok(())
    }

    /// Applies what a committed write changed. The whole model is reloaded
    /// when everything changed, or when the store reopened its file since
    /// the model was loaded (a failed commit may have landed after all).
    pub fn apply(&mut self, store: &Store, changes: Vec<Change>) -> Result<(), StoreError> {
        if store.generation() != self.generation
            || changes.iter().any(|c| matches!(c, Change::Everything))
        {
            return self.reload(store);
        }
        let mut plugins_changed = false;
        for change in changes {
            match change {
                Change::Put(Kind::Service, e) => {
                    if let Some(s) = from_entity::<Service>(Kind::Service, e) {
                        self.services.insert(s.id, Arc::new(s));
                    }
                }
                Change::Put(Kind::Route, e) => {
                    if let Some(r) = from_entity::<Route>(Kind::Route, e) {
                        self.routes.insert(r.id, Arc::new(r));
                    }
                }
                Change::Put(Kind::Plugin, e) => {
                    if let Some(p) = from_entity::<Plugin>(Kind::Plugin, e) {
                        let compiled = CompiledPlugin::compile_with(Arc::new(p), &mut self.chunks);
                        self.plugins.insert(compiled.plugin.id, Arc::new(compiled));
                        plugins_changed = true;
                    }
                }
                Change::Removed(Kind::Service, id) => {
                    self.services.remove(&id);
                }
                Change::Removed(Kind::Route, id) => {
                    self.routes.remove(&id);
                }
                Change::Removed(Kind::Plugin, id) => {
                    plugins_changed |= self.plugins.remove(&id).is_some();
                }
                Change::Put(Kind::Consumer, _) | Change::Removed(Kind::Consumer, _) => {}
                Change::Everything => {}
            }
        }
        if plugins_changed {
            self.chunks
                .retain(self.plugins.values().map(|c| c.as_ref()));
        }
        Ok(())
    }

    /// The snapshot for the proxy: the router and plugin plan of the model.
    pub fn snapshot(&self) -> ConfigSnapshot {
        let routes: Vec<Arc<Route>> = self.routes.values().cloned().collect();
        ConfigSnapshot {
            router: Router::build(&self.services, &routes),
            plugins_plan: PluginPlan::plan(self.plugins.values(), &routes),
        }
    }

    /// The names of the plugins configured, sorted, once each (`GET /`).
    pub fn plugin_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .plugins
            .values()
            .map(|c| c.plugin.name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

fn typed<T: DeserializeOwned>(store: &Store, kind: Kind) -> Result<Vec<T>, StoreError> {
    Ok(store
        .list(kind)?
        .into_iter()
        .filter_map(|e| from_entity(kind, e))
        .collect())
}

fn from_entity<T: DeserializeOwned>(kind: Kind, entity: Entity) -> Option<T> {
    match serde_json::from_value(serde_json::Value::Object(entity)) {
        Ok(v) => Some(v),
        Err(err) => {
            tracing::error!("skipping unreadable {} entity: {err}", kind.collection());
            None
        }
    }
}
