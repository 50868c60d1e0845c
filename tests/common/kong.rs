//! Support for Kong's Admin API specs ported case by case
//! (`tests/kong_admin_*.rs`): Kong's test client (bodies in the three
//! content types, encoded as `kong.tools.http.encode_args` does), its
//! blueprints (`bp.services:insert()` …) made through the Admin API, and a
//! runner that runs every case against one gateway and names each failing
//! case by its source.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::Gateway;

/// The content types Kong's `it_content_types` runs a case with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ct {
    Form,
    Multipart,
    Json,
}

pub const CONTENT_TYPES: [Ct; 3] = [Ct::Form, Ct::Multipart, Ct::Json];

impl Ct {
    /// The suffix Kong's `it_content_types` gives the case's title.
    pub fn title(self) -> &'static str {
        match self {
            Ct::Form => "with application/www-form-urlencoded",
            Ct::Multipart => "with multipart/form-data",
            Ct::Json => "with application/json",
        }
    }
}

/// One answer: status, body as JSON (a string when it is not JSON), the
/// raw text and the headers.
pub struct Res {
    pub status: u16,
    pub json: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Res {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `kong.tools.http.encode_args`: nested records as `a.b`, arrays as
/// `a[1]`, keys sorted; null is an empty value.
pub fn form_pairs(body: &Value) -> Vec<(String, String)> {
    fn walk(key: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for k in keys {
                    walk(&format!("{key}.{k}"), &m[k.as_str()], out);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(&format!("{key}[{}]", i + 1), item, out);
                }
            }
            Value::String(s) => out.push((key.to_string(), s.clone())),
            Value::Null => out.push((key.to_string(), String::new())),
            other => out.push((key.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    if let Value::Object(m) = body {
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        for k in keys {
            walk(k, &m[k.as_str()], &mut out);
        }
    }
    out
}

/// Sends `body` in content type `ct` (`None`: no body and no
/// Content-Type).
pub async fn send(gw: &Gateway, method: &str, path: &str, ct: Option<Ct>, body: Value) -> Res {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let req = gw.http.request(method, gw.admin_url(path));
    let req = match ct {
        None => req,
        Some(Ct::Json) => req.json(&body),
        Some(Ct::Form) => {
            let text = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form_pairs(&body))
                .finish();
            req.header("content-type", "application/x-www-form-urlencoded")
                .body(text)
        }
        Some(Ct::Multipart) => {
            let mut form = reqwest::multipart::Form::new();
            for (k, v) in form_pairs(&body) {
                form = form.text(k, v);
            }
            req.multipart(form)
        }
    };
    finish(req).await
}

/// Sends raw body bytes with a given Content-Type.
pub async fn send_raw(
    gw: &Gateway,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> Res {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let req = gw
        .http
        .request(method, gw.admin_url(path))
        .header("content-type", content_type)
        .body(body.to_string());
    finish(req).await
}

async fn finish(req: reqwest::RequestBuilder) -> Res {
    let resp = req.send().await.expect("admin request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    Res {
        status,
        json: serde_json::from_str(&text).unwrap_or(Value::String(text.clone())),
        text,
        headers,
    }
}

pub async fn get(gw: &Gateway, path: &str) -> Res {
    send(gw, "GET", path, None, Value::Null).await
}

pub async fn json(gw: &Gateway, method: &str, path: &str, body: Value) -> Res {
    send(gw, method, path, Some(Ct::Json), body).await
}

/// Asserts the status and returns the JSON body.
pub fn status(res: &Res, want: u16, what: &str) -> Value {
    assert_eq!(res.status, want, "{what}: {}", res.text);
    res.json.clone()
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A name no other case uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", SEQ.fetch_add(1, Ordering::Relaxed) + 1)
}

/// Kong's blueprints, written through the Admin API.
pub struct Bp<'a>(pub &'a Gateway);

impl Bp<'_> {
    async fn insert(&self, collection: &str, body: Value) -> Value {
        let res = json(self.0, "POST", &format!("/{collection}"), body.clone()).await;
        assert_eq!(
            res.status, 201,
            "blueprint {collection} {body}: {}",
            res.text
        );
        res.json
    }

    /// `bp.services:insert(overrides)`: http://127.0.0.1:15555.
    pub async fn service(&self, overrides: Value) -> Value {
        let mut body = json!({"protocol": "http", "host": "127.0.0.1", "port": 15555});
        merge(&mut body, overrides);
        self.insert("services", body).await
    }

    /// `bp.named_services:insert(overrides)`: a service named
    /// `service-N`, host `service-N.test`.
    pub async fn named_service(&self, overrides: Value) -> Value {
        let name = unique("service");
        let mut body = json!({"protocol": "http", "name": name,
                              "host": format!("{name}.test"), "port": 15555});
        merge(&mut body, overrides);
        self.insert("services", body).await
    }

    /// `bp.routes:insert(overrides)`: with a fresh service unless one is given.
    pub async fn route(&self, overrides: Value) -> Value {
        let mut body = json!({});
        if overrides.get("service").is_none() {
            let service = self.service(json!({})).await;
            body["service"] = json!({"id": service["id"]});
        }
        merge(&mut body, overrides);
        if let Some(Value::Object(s)) = body.get("service").cloned() {
            body["service"] = json!({"id": s["id"]});
        }
        self.insert("routes", body).await
    }

    /// `bp.named_routes:insert()`.
    pub async fn named_route(&self, overrides: Value) -> Value {
        let name = unique("route");
        let mut body = json!({"name": name, "hosts": [format!("{name}.test")]});
        merge(&mut body, overrides);
        self.route(body).await
    }

    pub async fn consumer(&self, overrides: Value) -> Value {
        let mut body = json!({"username": unique("consumer")});
        merge(&mut body, overrides);
        self.insert("consumers", body).await
    }

    pub async fn plugin(&self, body: Value) -> Value {
        self.insert("plugins", body).await
    }
}

pub fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

/// Only the entity's id, as a foreign key.
pub fn fk(entity: &Value) -> Value {
    json!({"id": entity["id"]})
}

pub type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
pub type Case = (String, Box<dyn Fn(Arc<Gateway>) -> CaseFuture + Send>);

/// A case list, each `(title, async fn(Arc<Gateway>))`.
#[macro_export]
macro_rules! case {
    ($cases:ident, $title:expr, $f:path) => {
        $cases.push((
            String::from($title),
            Box::new(|gw| -> $crate::common::kong::CaseFuture { Box::pin($f(gw)) }),
        ));
    };
}

/// An `it_content_types` case: registered once per content type.
#[macro_export]
macro_rules! case_ct {
    ($cases:ident, $title:expr, $f:path) => {
        for ct in common::kong::CONTENT_TYPES {
            $cases.push((
                format!("{} {}", $title, ct.title()),
                Box::new(move |gw| -> $crate::common::kong::CaseFuture { Box::pin($f(gw, ct)) }),
            ));
        }
    };
}

/// Runs every case in order against one gateway; each runs as its own
/// task, so one case's failure is reported by its title and the others
/// still run. Fails listing every failed case.
pub async fn run(file: &str, gw: Gateway, cases: Vec<Case>) {
    // Failures are listed at the end by case; the hook only names where.
    std::panic::set_hook(Box::new(|info| {
        if let Some(at) = info.location() {
            eprintln!("case failed at {at}");
        }
    }));
    let gw = Arc::new(gw);
    let total = cases.len();
    let mut failed = Vec::new();
    for (title, case) in cases {
        if let Err(e) = tokio::spawn(case(gw.clone())).await {
            let why = e
                .try_into_panic()
                .ok()
                .and_then(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                })
                .unwrap_or_default();
            failed.push(format!("{file} :: {title}\n    {why}"));
        }
    }
    drop(std::panic::take_hook());
    assert!(
        failed.is_empty(),
        "{} of {total} cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    eprintln!("{file}: {total} cases passed");
}

/// `Map` of a JSON object, for comparisons ignoring some keys.
pub fn without(v: &Value, keys: &[&str]) -> Map<String, Value> {
    let mut m = v.as_object().cloned().unwrap_or_default();
    for k in keys {
        m.remove(*k);
    }
    m
}

/// Registers a case that shares fixtures made before the cases run (Kong's
/// `lazy_setup`).
pub fn add<S, Fut>(
    cases: &mut Vec<Case>,
    title: impl Into<String>,
    state: &Arc<S>,
    f: fn(Arc<Gateway>, Arc<S>) -> Fut,
) where
    S: Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let state = state.clone();
    cases.push((
        title.into(),
        Box::new(move |gw| -> CaseFuture { Box::pin(f(gw, state.clone())) }),
    ));
}
