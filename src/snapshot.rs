//! The configuration the proxy serves from: an immutable snapshot of every
//! entity plus the compiled router, rebuilt after each committed Admin API
//! write and swapped in atomically. Workers load the current snapshot once
//! per request (one atomic load); nothing on the request path takes a lock.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use uuid::Uuid;

use crate::entities::{Consumer, Kind, Plugin, Route, Service};
use crate::plugins::PluginPlan;
use crate::proxy::router::Router;
use crate::store::{Store, StoreError};

pub struct ConfigSnapshot {
    /// Increases with every committed change.
    pub version: u64,
    pub services: HashMap<Uuid, Arc<Service>>,
    pub routes: Vec<Arc<Route>>,
    pub plugins: Vec<Arc<Plugin>>,
    pub consumers: Vec<Arc<Consumer>>,
    pub router: Router,
    /// The plugins of each route, compiled, in run order.
    pub plugins_plan: PluginPlan,
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
        let plugins: Vec<Arc<Plugin>> = plugins.into_iter().map(Arc::new).collect();
        let plugins_plan = PluginPlan::build(&plugins, &routes);
        ConfigSnapshot {
            version,
            services,
            routes,
            plugins,
            plugins_plan,
            consumers: consumers.into_iter().map(Arc::new).collect(),
            router,
        }
    }
}

impl ConfigSnapshot {
    /// Reads every entity from the store into a fresh snapshot. An entity
    /// that no longer deserialises (it passed validation when written, so
    /// this means a newer format) is skipped with an error in the log.
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        fn typed<T: serde::de::DeserializeOwned>(
            store: &Store,
            kind: Kind,
        ) -> Result<Vec<T>, StoreError> {
            Ok(store
                .list(kind)?
                .into_iter()
                .filter_map(
                    |e| match serde_json::from_value(serde_json::Value::Object(e)) {
                        Ok(v) => Some(v),
                        Err(err) => {
                            tracing::error!(
                                "skipping unreadable {} entity: {err}",
                                kind.collection()
                            );
                            None
                        }
                    },
                )
                .collect())
        }
        Ok(Self::build(
            store.version()?,
            typed(store, Kind::Service)?,
            typed(store, Kind::Route)?,
            typed(store, Kind::Plugin)?,
            typed(store, Kind::Consumer)?,
        ))
    }
}
