//! The configuration the proxy serves from: an immutable snapshot with the
//! compiled router and plugin plan, rebuilt after each committed Admin API
//! write and swapped in atomically. Workers load the current snapshot once
//! per request (one atomic load); nothing on the request path takes a lock.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use uuid::Uuid;

use crate::entities::{Kind, Plugin, Route, Service};
use crate::plugins::PluginPlan;
use crate::proxy::router::Router;
use crate::store::{Store, StoreError};

pub struct ConfigSnapshot {
    /// Every plugin entity (the Admin API lists their names in `GET /`).
    pub plugins: Vec<Arc<Plugin>>,
    pub router: Router,
    /// The plugins of each route, compiled, in run order.
    pub plugins_plan: PluginPlan,
}

/// What every worker and the Admin API share.
pub type SharedConfig = Arc<ArcSwap<ConfigSnapshot>>;

impl ConfigSnapshot {
    pub fn build(services: Vec<Service>, routes: Vec<Route>, plugins: Vec<Plugin>) -> Self {
        let services: HashMap<Uuid, Arc<Service>> =
            services.into_iter().map(|s| (s.id, Arc::new(s))).collect();
        let routes: Vec<Arc<Route>> = routes.into_iter().map(Arc::new).collect();
        let plugins: Vec<Arc<Plugin>> = plugins.into_iter().map(Arc::new).collect();
        ConfigSnapshot {
            router: Router::build(&services, &routes),
            plugins_plan: PluginPlan::build(&plugins, &routes),
            plugins,
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
            typed(store, Kind::Service)?,
            typed(store, Kind::Route)?,
            typed(store, Kind::Plugin)?,
        ))
    }
}
