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

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::entities::certificates::{CaCertificate, Certificate, Sni};
use crate::entities::upstreams::{Target, Upstream};
use crate::entities::{Kind, Plugin, Route, Service};
use crate::plugins::{ChunkCache, CompiledPlugin, PluginIndex, PluginPlan, Scope};
use crate::proxy::balancer::{Balancers, Ring};
use crate::proxy::router::{split_host_port, Router, Upstreams};
use crate::store::{Entity, Store, StoreError};
use crate::tls::material::TlsMaterial;

pub struct ConfigSnapshot {
    pub router: Router,
    /// The plugins of each route, compiled, in run order.
    pub plugins_plan: PluginPlan,
    /// The listener's TLS configuration (per-SNI certificates); `None`
    /// only if rustls refused to build one (logged).
    pub server_tls: Option<Arc<crate::tls::server::ServerTls>>,
    /// The Upstreams (Kong's load balancers) by name, with their targets.
    pub balancers: Arc<Balancers>,
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
            server_tls: crate::tls::server::server_config(Arc::default()).ok(),
            balancers: Arc::default(),
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

/// The typed copy of what the store holds, kept by the Admin API, with the
/// router and plugin plan of the next snapshot. A change updates only what
/// it touches: the routes it changed (or those of a service it changed),
/// the plugin lists of the routes a plugin applies to.
#[derive(Default)]
pub struct Model {
    services: HashMap<Uuid, Arc<Service>>,
    routes: HashMap<Uuid, Arc<Route>>,
    /// Route ids by service id.
    routes_of: HashMap<Uuid, HashSet<Uuid>>,
    plugins: HashMap<Uuid, Arc<CompiledPlugin>>,
    chunks: ChunkCache,
    index: PluginIndex,
    upstreams: Upstreams,
    router: Router,
    plan: PluginPlan,
    /// Certificates, SNIs and CA certificates, parsed; rebuilt from the
    /// store whenever one of them changes (they are few).
    tls: Arc<TlsMaterial>,
    server_tls: Option<Arc<crate::tls::server::ServerTls>>,
    /// Upstreams and targets, and the balancers built from them.
    balanced: HashMap<Uuid, Upstream>,
    targets: HashMap<Uuid, Target>,
    balancers: Arc<Balancers>,
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
        let services = typed::<Service>(store, Kind::Service)?;
        let routes = typed::<Route>(store, Kind::Route)?;
        let plugins = typed::<Plugin>(store, Kind::Plugin)?;
        self.services = services.into_iter().map(|s| (s.id, Arc::new(s))).collect();
        self.routes = routes.into_iter().map(|r| (r.id, Arc::new(r))).collect();
        self.routes_of.clear();
        for r in self.routes.values() {
            link(&mut self.routes_of, r);
        }
        // Chunks the old plugins had are reused by the new ones.
        for old in self.plugins.values() {
            self.chunks.release(old);
        }
        self.index = PluginIndex::default();
        self.plugins = plugins
            .into_iter()
            .map(|p| {
                let compiled =
                    Arc::new(CompiledPlugin::compile_with(Arc::new(p), &mut self.chunks));
                self.index.insert(&compiled);
                (compiled.plugin.id, compiled)
            })
            .collect();
        self.chunks.prune();
        self.reload_tls(store)?;
        let routes: Vec<Arc<Route>> = self.routes.values().cloned().collect();
        self.rebuild_router(&routes);
        self.plan = PluginPlan::plan(&self.index, &routes);
        self.balanced = typed::<Upstream>(store, Kind::Upstream)?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        self.targets = typed::<Target>(store, Kind::Target)?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        self.balancers = Arc::default();
        let all: HashSet<Uuid> = self.balanced.keys().copied().collect();
        self.rebuild_balancers(&all);
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
        // Route versions the router holds that must go, and the routes to
        // compile (again) and plan again.
        let mut removed: Vec<Arc<Route>> = Vec::new();
        let mut touched: HashSet<Uuid> = HashSet::new();
        let mut scopes: Vec<Scope> = Vec::new();
        let mut services_removed = false;
        let mut tls_changed = false;
        // Upstreams whose balancer must be built again.
        let mut rebalance: HashSet<Uuid> = HashSet::new();
        for change in changes {
            match change {
                Change::Put(Kind::Service, e) => {
                    let Some(s) = from_entity::<Service>(Kind::Service, e) else {
                        continue;
                    };
                    for id in self.routes_of.get(&s.id).into_iter().flatten() {
                        if let Some(r) = self.routes.get(id) {
                            removed.push(r.clone());
                            touched.insert(*id);
                        }
                    }
                    self.services.insert(s.id, Arc::new(s));
                }
                Change::Removed(Kind::Service, id) => {
                    self.services.remove(&id);
                    services_removed = true;
                }
                Change::Put(Kind::Route, e) => {
                    let Some(r) = from_entity::<Route>(Kind::Route, e) else {
                        continue;
                    };
                    let r = Arc::new(r);
                    if let Some(old) = self.routes.insert(r.id, r.clone()) {
                        unlink(&mut self.routes_of, &old);
                        removed.push(old);
                    }
                    link(&mut self.routes_of, &r);
                    touched.insert(r.id);
                }
                Change::Removed(Kind::Route, id) => {
                    if let Some(old) = self.routes.remove(&id) {
                        unlink(&mut self.routes_of, &old);
                        removed.push(old);
                        touched.insert(id);
                    }
                }
                Change::Put(Kind::Plugin, e) => {
                    let Some(p) = from_entity::<Plugin>(Kind::Plugin, e) else {
                        continue;
                    };
                    let compiled =
                        Arc::new(CompiledPlugin::compile_with(Arc::new(p), &mut self.chunks));
                    if let Some(old) = self.plugins.insert(compiled.plugin.id, compiled.clone()) {
                        self.forget_plugin(&old, &mut scopes);
                    }
                    self.index.insert(&compiled);
                    scopes.push(Scope::of(&compiled.plugin));
                }
                Change::Removed(Kind::Plugin, id) => {
                    if let Some(old) = self.plugins.remove(&id) {
                        self.forget_plugin(&old, &mut scopes);
                    }
                }
                Change::Put(Kind::Consumer, _) | Change::Removed(Kind::Consumer, _) => {}
                Change::Put(Kind::Upstream, e) => {
                    if let Some(u) = from_entity::<Upstream>(Kind::Upstream, e) {
                        rebalance.insert(u.id);
                        self.balanced.insert(u.id, u);
                    }
                }
                Change::Removed(Kind::Upstream, id) => {
                    self.balanced.remove(&id);
                    rebalance.insert(id);
                }
                Change::Put(Kind::Target, e) => {
                    if let Some(t) = from_entity::<Target>(Kind::Target, e) {
                        if let Some(old) = self.targets.get(&t.id) {
                            rebalance.insert(old.upstream.id);
                        }
                        rebalance.insert(t.upstream.id);
                        self.targets.insert(t.id, t);
                    }
                }
                Change::Removed(Kind::Target, id) => {
                    if let Some(old) = self.targets.remove(&id) {
                        rebalance.insert(old.upstream.id);
                    }
                }
                Change::Put(kind, _) | Change::Removed(kind, _) if kind.is_tls() => {
                    tls_changed = true;
                }
                Change::Put(..) | Change::Removed(..) => {}
                Change::Everything => {}
            }
        }
        if services_removed {
            self.upstreams.retain(&self.services);
        }
        if !rebalance.is_empty() {
            self.rebuild_balancers(&rebalance);
        }
        self.chunks.prune();

        let added: Vec<Arc<Route>> = touched
            .iter()
            .filter_map(|id| self.routes.get(id).cloned())
            .collect();
        if tls_changed {
            // Services' client configurations refer to certificates and
            // CAs: rebuild every upstream (TLS changes are rare).
            self.reload_tls(store)?;
            let routes: Vec<Arc<Route>> = self.routes.values().cloned().collect();
            self.rebuild_router(&routes);
        } else if !removed.is_empty() || !added.is_empty() {
            self.router =
                self.router
                    .updated(&self.services, &mut self.upstreams, &removed, &added);
        }

        let mut replan = touched;
        for scope in scopes {
            match scope {
                Scope::Global => {
                    self.plan.set_global(self.index.global());
                    replan.extend(self.plan.routes());
                }
                Scope::Service(s) => replan.extend(self.routes_of.get(&s).into_iter().flatten()),
                Scope::Route(r) | Scope::RouteAndService(r, _) => {
                    replan.insert(r);
                }
            }
        }
        for id in replan {
            let list = self.routes.get(&id).and_then(|r| self.index.for_route(r));
            self.plan.set_route(id, list);
        }
        Ok(())
    }

    fn forget_plugin(&mut self, old: &CompiledPlugin, scopes: &mut Vec<Scope>) {
        self.index.remove(&old.plugin);
        self.chunks.release(old);
        scopes.push(Scope::of(&old.plugin));
    }

    /// The snapshot for the proxy: shares the model's router and plan.
    pub fn snapshot(&self) -> ConfigSnapshot {
        ConfigSnapshot {
            router: self.router.clone(),
            plugins_plan: self.plan.clone(),
            server_tls: self.server_tls.clone(),
            balancers: self.balancers.clone(),
        }
    }

    /// The balancers with those of `changed` upstreams built again (the
    /// others shared with the previous snapshot).
    fn rebuild_balancers(&mut self, changed: &HashSet<Uuid>) {
        // The changed upstreams' targets, in one pass over the targets.
        let mut targets: HashMap<Uuid, Vec<(&str, u16, u32)>> = HashMap::new();
        for t in self.targets.values() {
            if !changed.contains(&t.upstream.id) {
                continue;
            }
            let (host, port) = split_host_port(&t.target);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if let Some(port) = port {
                targets
                    .entry(t.upstream.id)
                    .or_default()
                    .push((host, port, t.weight));
            }
        }
        let by_name = self
            .balanced
            .values()
            .map(|u| {
                let reused = self
                    .balancers
                    .get(&u.name)
                    .filter(|_| !changed.contains(&u.id));
                let ring = match reused {
                    Some(ring) => ring.clone(),
                    None => {
                        let mut mine = targets.remove(&u.id).unwrap_or_default();
                        mine.sort_unstable();
                        Arc::new(Ring::build(u.slots, &mine))
                    }
                };
                (Box::from(u.name.as_str()), ring)
            })
            .collect();
        self.balancers = Arc::new(Balancers::new(by_name));
    }

    /// Compiles every route again, with fresh upstreams.
    fn rebuild_router(&mut self, routes: &[Arc<Route>]) {
        self.upstreams = Upstreams::with_tls(self.tls.clone());
        self.router = Router::default().updated(&self.services, &mut self.upstreams, &[], routes);
    }

    fn reload_tls(&mut self, store: &Store) -> Result<(), StoreError> {
        let certs: Vec<Certificate> = typed(store, Kind::Certificate)?;
        let snis: Vec<Sni> = typed(store, Kind::Sni)?;
        let cas: Vec<CaCertificate> = typed(store, Kind::CaCertificate)?;
        self.tls = Arc::new(TlsMaterial::build(&certs, &snis, &cas));
        self.server_tls = match crate::tls::server::server_config(self.tls.clone()) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!("cannot build the TLS configuration: {e}");
                None
            }
        };
        Ok(())
    }

    /// Every stored plugin (the start-up checks read them).
    pub fn plugins(&self) -> impl Iterator<Item = &crate::entities::Plugin> {
        self.plugins.values().map(|c| c.plugin.as_ref())
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

fn link(routes_of: &mut HashMap<Uuid, HashSet<Uuid>>, route: &Route) {
    if let Some(s) = &route.service {
        routes_of.entry(s.id).or_default().insert(route.id);
    }
}

fn unlink(routes_of: &mut HashMap<Uuid, HashSet<Uuid>>, route: &Route) {
    if let Some(s) = &route.service {
        if let Some(ids) = routes_of.get_mut(&s.id) {
            ids.remove(&route.id);
            if ids.is_empty() {
                routes_of.remove(&s.id);
            }
        }
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
