//! The configuration the proxy serves from: an immutable snapshot of every
//! entity plus the compiled router, rebuilt after each committed Admin API
//! write and swapped in atomically. Workers load the current snapshot once
//! per request (one atomic load); nothing on the request path takes a lock.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use uuid::Uuid;

use crate::entities::{Consumer, Plugin, Route, Service};
use crate::proxy::router::Router;

pub struct ConfigSnapshot {
    /// Increases with every committed change.
    pub version: u64,
    pub services: HashMap<Uuid, Arc<Service>>,
    pub routes: Vec<Arc<Route>>,
    pub plugins: Vec<Arc<Plugin>>,
    pub consumers: Vec<Arc<Consumer>>,
    pub router: Router,
}

/// What every worker and the Admin API share.
pub type SharedConfig = Arc<ArcSwap<ConfigSnapshot>>;

impl ConfigSnapshot {
    pub fn build(
        version: u64,
        services: Vec<Service>,
        routes: Vec<Route>,
        plugins: Vec<Plugin>,
        consumers: Vec<Consumer>,
    ) -> Self {
        let services: HashMap<Uuid, Arc<Service>> =
            services.into_iter().map(|s| (s.id, Arc::new(s))).collect();
        let routes: Vec<Arc<Route>> = routes.into_iter().map(Arc::new).collect();
        let router = Router::build(&services, &routes);
        ConfigSnapshot {
            version,
            services,
            routes,
            plugins: plugins.into_iter().map(Arc::new).collect(),
            consumers: consumers.into_iter().map(Arc::new).collect(),
            router,
        }
    }

    pub fn empty() -> Self {
        Self::build(0, Vec::new(), Vec::new(), Vec::new(), Vec::new())
    }
}
