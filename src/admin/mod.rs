//! The Admin API (Kong's port 8001): entity endpoints, node information and
//! schemas. Requests are decoded here, validated by `crate::entities`,
//! written by `crate::store` in one transaction, and then a new config
//! snapshot is published to the proxy before the response is sent — so a
//! route is live as soon as its `201 Created` arrives.

mod body;
mod conn;
mod declarative;
mod entity;
mod errors;
mod guard;
mod info;
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW, CONTENT_TYPE, SERVER, VARY, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::entities::Kind;
use crate::snapshot::{Change, Model, SharedConfig};
use crate::store::{Store, StoreError};
pub use conn::Timeouts;
use entity::Parent;
pub use errors::AdminError;
pub use guard::AccessPolicy;

/// Largest Admin API body accepted (Lua code included); larger gets a 413.
const MAX_BODY: usize = 8 * 1024 * 1024;

pub const SERVER_TOKEN: &str = concat!("lunagate/", env!("CARGO_PKG_VERSION"));

/// What the Admin API shows of the node in `GET /`.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node_id: Uuid,
    pub proxy_listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub workers: usize,
    pub data_dir: std::path::PathBuf,
}

pub struct Admin {
    store: Arc<Store>,
    config: SharedConfig,
    /// The typed copy of what is committed. Its lock serialises commit +
    /// publish, so snapshots are published in commit order.
    model: Arc<Mutex<Model>>,
    node: NodeInfo,
    access: AccessPolicy,
}

impl Admin {
    pub fn new(
        store: Arc<Store>,
        config: SharedConfig,
        model: Model,
        node: NodeInfo,
        access: AccessPolicy,
    ) -> Self {
        Admin {
            store,
            config,
            model: Arc::new(Mutex::new(model)),
            node,
            access,
        }
    }

    /// Runs one write on a blocking thread, applies what it changed to the
    /// model, and publishes the proxy's next snapshot. The snapshot it
    /// replaces is dropped on another thread, after the answer.
    async fn commit(
        &self,
        write: impl FnOnce() -> Result<Vec<Change>, StoreError> + Send + 'static,
    ) -> Result<(), AdminError> {
        let store = self.store.clone();
        let config = self.config.clone();
        let model = self.model.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut model = model
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let changes = write()?;
            model.apply(&store, changes)?;
            Ok::<_, StoreError>(config.swap(Arc::new(model.snapshot())))
        })
        .await;
        match result {
            Ok(r) => {
                let previous = r.map_err(AdminError::from)?;
                tokio::task::spawn_blocking(move || drop(previous));
                Ok(())
            }
            Err(e) => Err(AdminError::Store(StoreError::Db(format!(
                "write task failed: {e}"
            )))),
        }
    }
}

/// Accepts Admin API connections until `shutdown` flips to true.
pub async fn serve(
    listener: TcpListener,
    admin: Arc<Admin>,
    timeouts: Timeouts,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!("admin accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let admin = admin.clone();
        tokio::spawn(async move {
            let watch = conn::Watch::new();
            let service = {
                let watch = watch.clone();
                hyper::service::service_fn(move |req| {
                    let admin = admin.clone();
                    let watch = watch.clone();
                    async move {
                        watch.busy();
                        let response = admin.handle(req).await;
                        watch.idle();
                        Ok::<_, Infallible>(response)
                    }
                })
            };
            let io = hyper_util::rt::TokioIo::new(conn::Watched::new(stream, watch.clone()));
            let connection =
                hyper::server::conn::http1::Builder::new().serve_connection(io, service);
            if let Err(e) = watch.supervise(timeouts, connection).await {
                tracing::debug!("admin connection ended: {e}");
            }
        });
    }
}

/// The route a request path resolved to.
enum Endpoint<'a> {
    Root,
    Status,
    Endpoints,
    EnabledPlugins,
    Schema(&'a str),
    PluginSchema(&'a str),
    /// `POST /schemas/{entity}/validate`: checks a body, writes nothing.
    Validate(Kind),
    /// `/config`: the declarative configuration (backup and restore).
    Config,
    Collection(Kind, Option<(Kind, &'a str)>),
    /// `/upstreams/{u}/targets/all`: Kong's listing of an upstream's
    /// targets, GET only.
    AllTargets(&'a str),
    Entity(Kind, &'a str, Option<(Kind, &'a str)>),
    /// `/routes/{r}/service`, `/plugins/{p}/route` …: the entity a foreign key points to.
    Foreign(Kind, &'a str, &'static str, Kind),
}

fn kind_of(segment: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.collection() == segment)
}

/// Nested collections Kong exposes: (parent, child) → the child's foreign-key field.
fn nested_field(parent: Kind, child: Kind) -> Option<&'static str> {
    match (parent, child) {
        (Kind::Service, Kind::Route) => Some("service"),
        (Kind::Service, Kind::Plugin) => Some("service"),
        (Kind::Route, Kind::Plugin) => Some("route"),
        (Kind::Consumer, Kind::Plugin) => Some("consumer"),
        (Kind::Certificate, Kind::Sni) => Some("certificate"),
        (Kind::Upstream, Kind::Target) => Some("upstream"),
        _ => None,
    }
}

fn route<'a>(segs: &'a [String]) -> Option<Endpoint<'a>> {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    Some(match s.as_slice() {
        [] => Endpoint::Root,
        ["status"] => Endpoint::Status,
        ["endpoints"] => Endpoint::Endpoints,
        ["config"] => Endpoint::Config,
        ["plugins", "enabled"] => Endpoint::EnabledPlugins,
        ["schemas", entity, "validate"] => Endpoint::Validate(kind_of(entity)?),
        ["schemas", "plugins", name] => Endpoint::PluginSchema(name),
        ["schemas", entity] => Endpoint::Schema(entity),
        // Targets live under their upstream only, as Kong's.
        ["targets", ..] => return None,
        ["upstreams", id, "targets", "all"] => Endpoint::AllTargets(id),
        [coll] => Endpoint::Collection(kind_of(coll)?, None),
        [coll, id] => Endpoint::Entity(kind_of(coll)?, id, None),
        [coll, id, sub] => {
            let parent = kind_of(coll)?;
            match (parent, *sub) {
                (Kind::Route, "service") => Endpoint::Foreign(parent, id, "service", Kind::Service),
                (Kind::Plugin, "route") => Endpoint::Foreign(parent, id, "route", Kind::Route),
                (Kind::Plugin, "service") => {
                    Endpoint::Foreign(parent, id, "service", Kind::Service)
                }
                (Kind::Sni, "certificate") => {
                    Endpoint::Foreign(parent, id, "certificate", Kind::Certificate)
                }
                (Kind::Upstream, "client_certificate") => {
                    Endpoint::Foreign(parent, id, "client_certificate", Kind::Certificate)
                }
                (Kind::Plugin, "consumer") => {
                    Endpoint::Foreign(parent, id, "consumer", Kind::Consumer)
                }
                _ => {
                    let child = kind_of(sub)?;
                    nested_field(parent, child)?;
                    Endpoint::Collection(child, Some((parent, id)))
                }
            }
        }
        [coll, id, sub, sid] => {
            let (parent, child) = (kind_of(coll)?, kind_of(sub)?);
            nested_field(parent, child)?;
            Endpoint::Entity(child, sid, Some((parent, id)))
        }
        _ => return None,
    })
}

/// A request path's segments, percent-decoded.
fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

/// The methods an endpoint answers (Kong's `Allow` on OPTIONS).
fn allowed_methods(endpoint: Endpoint<'_>) -> &'static str {
    match endpoint {
        Endpoint::Root
        | Endpoint::Status
        | Endpoint::Endpoints
        | Endpoint::EnabledPlugins
        | Endpoint::Schema(_)
        | Endpoint::PluginSchema(_)
        | Endpoint::AllTargets(_) => "GET, HEAD, OPTIONS",
        Endpoint::Validate(_) => "OPTIONS, POST",
        Endpoint::Config | Endpoint::Collection(..) => "GET, HEAD, OPTIONS, POST",
        Endpoint::Entity(..) => "DELETE, GET, HEAD, OPTIONS, PATCH, PUT",
        Endpoint::Foreign(..) => "GET, HEAD, OPTIONS, PATCH, PUT",
    }
}

impl Admin {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let preflight = req.method() == Method::OPTIONS;
        let overridden = api_override(req.method(), req.uri().path());
        let allow = if preflight {
            route(&segments(req.uri().path())).map(allowed_methods)
        } else {
            None
        };
        // Refused requests are answered before routing: not even a 404
        // tells a foreign page what exists.
        let (cors_origin, result) = match self.access.check(req.method(), req.uri(), req.headers())
        {
            Ok(accepted) => (accepted.cors_origin, self.dispatch(req).await),
            Err(refused) => (None, Err(refused)),
        };
        let mut response = match result {
            Ok((status, body)) => json_response(status, body),
            Err(e) => {
                let (status, body) = e.status_and_body();
                json_response(status, Some(body))
            }
        };
        let status = response.status();
        let headers = response.headers_mut();
        if let (Some(allow), StatusCode::NO_CONTENT) = (allow, status) {
            // Kong's OPTIONS answer: the endpoint's methods. Without
            // Access-Control-Allow-Origin below it grants a browser nothing.
            let allow = HeaderValue::from_static(allow);
            headers.insert(ACCESS_CONTROL_ALLOW_METHODS, allow.clone());
            headers.insert(ALLOW, allow);
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lunagate-admin\""),
            );
        }
        if overridden {
            headers.insert("kong-api-override", HeaderValue::from_static("ok"));
        }
        headers.insert(SERVER, HeaderValue::from_static(SERVER_TOKEN));
        headers.insert(VARY, HeaderValue::from_static("Origin"));
        // CORS headers only for origins allowed with --admin-allow-origin
        // ('*': every answer says so, as Kong's do).
        let cors_origin = cors_origin.or_else(|| {
            self.access
                .any_origin()
                .then(|| HeaderValue::from_static("*"))
        });
        if let Some(origin) = cors_origin {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            if preflight {
                headers.insert(
                    ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static(if self.access.has_token() {
                        "Content-Type, Authorization, Kong-Admin-Token"
                    } else {
                        "Content-Type"
                    }),
                );
            }
        }
        if let Ok(v) = HeaderValue::from_str(&started.elapsed().as_millis().to_string()) {
            headers.insert("x-kong-admin-latency", v);
        }
        response
    }

    async fn dispatch(
        &self,
        req: Request<Incoming>,
    ) -> Result<(StatusCode, Option<Value>), AdminError> {
        let (parts, incoming) = req.into_parts();
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or("").to_string();
        let segs = segments(&path);
        let endpoint = route(&segs).ok_or(AdminError::NotFound)?;
        let method = parts.method.clone();
        if method == Method::OPTIONS {
            return Ok((StatusCode::NO_CONTENT, None));
        }
        let content_types: Vec<&HeaderValue> = parts.headers.get_all(CONTENT_TYPE).iter().collect();
        if content_types.len() > 1 {
            return Err(AdminError::bad_request(
                "Multiple Content-Type headers not allowed",
            ));
        }
        let content_type = content_types
            .first()
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let read_body = || async {
            let bytes = match Limited::new(incoming, MAX_BODY).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e)
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some() =>
                {
                    return Err(AdminError::Message(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "Payload too large".into(),
                    ));
                }
                Err(e) => return Err(AdminError::bad_request(format!("Cannot read body: {e}"))),
            };
            body::decode(content_type.as_deref(), bytes).await
        };
        let get = method == Method::GET || method == Method::HEAD;
        let ok = |v: Value| Ok((StatusCode::OK, Some(v)));
        match endpoint {
            Endpoint::Root if get => ok(self.root_info()?),
            Endpoint::Status if get => ok(self.status_info()?),
            Endpoint::Endpoints if get => ok(info::endpoints()),
            Endpoint::EnabledPlugins if get => ok(info::enabled_plugins()),
            Endpoint::Schema(name) if get => {
                ok(info::entity_schema(name).ok_or(AdminError::NotFound)?)
            }
            Endpoint::PluginSchema(name) if get => {
                ok(info::plugin_schema(name).ok_or_else(|| {
                    AdminError::Message(StatusCode::NOT_FOUND, format!("No plugin named '{name}'"))
                })?)
            }
            Endpoint::Config if get => ok(self.export_config()?),
            Endpoint::Config if method == Method::POST => {
                let (body, enc) = read_body().await?;
                self.import_config(body, enc).await
            }
            Endpoint::Validate(kind) if method == Method::POST => {
                let (body, enc) = read_body().await?;
                self.prepare(kind, body, enc, None, None)?;
                ok(json!({"message": "schema validation successful"}))
            }
            Endpoint::Collection(kind, parent) => {
                let parent = self.resolve_parent(kind, parent)?;
                if get {
                    ok(self.list(kind, parent.as_ref(), &query, &path)?)
                } else if method == Method::POST {
                    let (body, enc) = read_body().await?;
                    let created = self.create(kind, body, enc, parent.as_ref()).await?;
                    Ok((StatusCode::CREATED, Some(Value::Object(created))))
                } else {
                    Err(AdminError::MethodNotAllowed)
                }
            }
            Endpoint::AllTargets(upstream) if get => {
                let parent = self.resolve_parent(Kind::Target, Some((Kind::Upstream, upstream)))?;
                let mut page = self.list(Kind::Target, parent.as_ref(), &query, &path)?;
                // Kong's `next` here is its own: the offset alone.
                if let Some(offset) = page.get("offset").and_then(Value::as_str) {
                    let mut next = format!("/upstreams/{upstream}/targets/all?offset=");
                    next.extend(form_urlencoded::byte_serialize(offset.as_bytes()));
                    page["next"] = Value::String(next);
                }
                ok(page)
            }
            Endpoint::Entity(kind, ident, parent) => {
                let parent = self.resolve_parent(kind, parent)?;
                let parent = parent.as_ref();
                match method {
                    _ if get => ok(Value::Object(self.read(kind, ident, parent)?)),
                    // Kong's PUT on a target updates the one there.
                    Method::PUT | Method::PATCH if kind == Kind::Target => {
                        let (body, enc) = read_body().await?;
                        ok(Value::Object(
                            self.update(kind, ident, body, enc, parent).await?,
                        ))
                    }
                    Method::PUT => {
                        let (body, enc) = read_body().await?;
                        ok(Value::Object(
                            self.replace(kind, ident, body, enc, parent).await?,
                        ))
                    }
                    Method::PATCH => {
                        let (body, enc) = read_body().await?;
                        ok(Value::Object(
                            self.update(kind, ident, body, enc, parent).await?,
                        ))
                    }
                    Method::DELETE => {
                        self.remove(kind, ident, parent).await?;
                        Ok((StatusCode::NO_CONTENT, None))
                    }
                    _ => Err(AdminError::MethodNotAllowed),
                }
            }
            Endpoint::Foreign(kind, ident, field, target) => {
                let owner = self.read(kind, ident, None)?;
                let target_id = crate::store::fk_id(&owner, field)
                    .ok_or(AdminError::NotFound)?
                    .to_string();
                match method {
                    _ if get => ok(Value::Object(self.read(target, &target_id, None)?)),
                    Method::PATCH => {
                        let (body, enc) = read_body().await?;
                        ok(Value::Object(
                            self.update(target, &target_id, body, enc, None).await?,
                        ))
                    }
                    Method::PUT => {
                        let (body, enc) = read_body().await?;
                        ok(Value::Object(
                            self.replace(target, &target_id, body, enc, None).await?,
                        ))
                    }
                    _ => Err(AdminError::MethodNotAllowed),
                }
            }
            _ => Err(AdminError::MethodNotAllowed),
        }
    }

    /// The parent of a nested path must exist (404 otherwise).
    fn resolve_parent(
        &self,
        child: Kind,
        parent: Option<(Kind, &str)>,
    ) -> Result<Option<Parent>, AdminError> {
        let Some((kind, ident)) = parent else {
            return Ok(None);
        };
        let field = nested_field(kind, child).ok_or(AdminError::NotFound)?;
        let found = self.lookup(kind, ident)?.ok_or(AdminError::NotFound)?;
        let id = found
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or(AdminError::NotFound)?;
        Ok(Some(Parent { field, id }))
    }
}

/// Whether Kong's `api-override` test fixture (loaded with `--plugins`)
/// overrides this endpoint: its `api.lua` sets `Kong-Api-Override: ok`
/// on `GET`/`POST /routes` and `GET /services`, then runs Kong's own
/// handler.
fn api_override(method: &Method, path: &str) -> bool {
    if !crate::entities::plugins::is_loaded("api-override") {
        return false;
    }
    match route(&segments(path)) {
        Some(Endpoint::Collection(Kind::Route, None)) => {
            *method == Method::GET || *method == Method::POST
        }
        Some(Endpoint::Collection(Kind::Service, None)) => *method == Method::GET,
        _ => false,
    }
}

fn json_response(status: StatusCode, body: Option<Value>) -> Response<Full<Bytes>> {
    let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = status;
    if status != StatusCode::NO_CONTENT {
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    response
}
