//! The Service entity: where a route's traffic goes (§3.3 of the Kong reference).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::schema::{array_of, Field, FieldType};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Service {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub name: Option<String>,
    pub retries: i64,
    pub protocol: String,
    pub host: String,
    pub port: u16,
    pub path: Option<String>,
    pub connect_timeout: u64,
    pub write_timeout: u64,
    pub read_timeout: u64,
    pub tags: Option<Vec<String>>,
    pub client_certificate: Option<Value>,
    pub tls_verify: Option<bool>,
    pub tls_verify_depth: Option<i64>,
    pub ca_certificates: Option<Vec<String>>,
    pub enabled: bool,
}

const PROTOCOLS: &[&str] = &[
    "grpc",
    "grpcs",
    "http",
    "https",
    "tcp",
    "tls",
    "tls_passthrough",
    "udp",
];
const TIMEOUT_MAX: i64 = 2_147_483_646;

pub fn fields() -> &'static [Field] {
    static FIELDS: OnceLock<Vec<Field>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut f = super::common_fields();
        f.extend([
            Field::new("name", FieldType::String),
            Field::new("retries", FieldType::Integer)
                .default(json!(5))
                .between(0, 32767),
            Field::new("protocol", FieldType::String)
                .default(json!("http"))
                .one_of(PROTOCOLS),
            Field::new("host", FieldType::String).required(),
            Field::new("port", FieldType::Integer)
                .default(json!(80))
                .between(0, 65535),
            Field::new("path", FieldType::String),
            Field::new("connect_timeout", FieldType::Integer)
                .default(json!(60000))
                .between(1, TIMEOUT_MAX),
            Field::new("write_timeout", FieldType::Integer)
                .default(json!(60000))
                .between(1, TIMEOUT_MAX),
            Field::new("read_timeout", FieldType::Integer)
                .default(json!(60000))
                .between(1, TIMEOUT_MAX),
            Field::new("client_certificate", FieldType::Foreign),
            Field::new("tls_verify", FieldType::Boolean),
            Field::new("tls_verify_depth", FieldType::Integer).between(0, 64),
            Field::new("ca_certificates", array_of(FieldType::String)),
            Field::new("enabled", FieldType::Boolean).default(json!(true)),
            Field::new("url", FieldType::String).write_only(),
        ]);
        f
    })
}

/// Expands the write-only `url` shorthand into protocol, host, port and
/// path, as Kong does before validation. A missing port becomes the scheme's
/// default; a missing path becomes null.
pub fn expand_url(obj: &mut Map<String, Value>, errors: &mut Map<String, Value>) {
    let Some(Value::String(url)) = obj.remove("url") else {
        return;
    };
    if !url.contains("://") {
        // Kong's URL parser reads a string without a scheme as a path
        // alone: the host is then missing, and the path checked.
        if !url.starts_with('/') {
            errors.insert("path".into(), json!("should start with: /"));
        }
        obj.insert("path".into(), json!(url));
        return;
    }
    let parsed = url
        .parse::<http::Uri>()
        .ok()
        .filter(|u| u.scheme().is_some() && u.host().is_some());
    let Some(uri) = parsed else {
        errors.insert(
            "url".into(),
            json!(format!("invalid url '{url}': missing scheme or host")),
        );
        return;
    };
    let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(
        if scheme == "https" || scheme == "grpcs" || scheme == "tls" {
            443
        } else {
            80
        },
    );
    let path = if url_has_path(&url) {
        json!(uri.path())
    } else {
        Value::Null
    };
    obj.insert("protocol".into(), json!(scheme));
    obj.insert("host".into(), json!(uri.host().unwrap_or_default()));
    obj.insert("port".into(), json!(port));
    obj.insert("path".into(), path);
}

/// `http::Uri` reports "/" for `http://h`; Kong stores null there.
fn url_has_path(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.contains('/'))
        .unwrap_or(false)
}

/// Rules that span fields or need more than a type check.
pub fn check(obj: &Map<String, Value>, errors: &mut Map<String, Value>) {
    super::check_name(obj, "name", errors);
    if let Some(Value::String(path)) = obj.get("path") {
        if !path.starts_with('/') {
            errors.insert("path".into(), json!("should start with: /"));
        } else if path.contains("//") {
            errors.insert("path".into(), json!("must not have empty segments"));
        }
    }
    if let Some(Value::String(host)) = obj.get("host") {
        if !valid_host(host) {
            errors.insert("host".into(), json!(format!("invalid hostname: {host}")));
        }
    }
    let protocol = obj
        .get("protocol")
        .and_then(Value::as_str)
        .unwrap_or("http");
    if matches!(protocol, "grpc" | "grpcs" | "tcp" | "tls" | "udp")
        && !obj.get("path").unwrap_or(&Value::Null).is_null()
    {
        super::entity_error(
            errors,
            format!("value must be null (path with protocol '{protocol}')"),
        );
    }
    if let Some(Value::Array(ids)) = obj.get("ca_certificates") {
        let errs: Vec<Value> = ids
            .iter()
            .map(|v| match v.as_str().map(Uuid::parse_str) {
                Some(Ok(_)) => Value::Null,
                _ => json!("expected a valid UUID"),
            })
            .collect();
        if errs.iter().any(|e| !e.is_null()) {
            errors.insert("ca_certificates".into(), Value::Array(errs));
        }
    }
    if !matches!(protocol, "https" | "tls") {
        for f in [
            "client_certificate",
            "tls_verify",
            "tls_verify_depth",
            "ca_certificates",
        ] {
            if !obj.get(f).unwrap_or(&Value::Null).is_null() {
                errors.insert(f.into(), json!(format!("value must be null")));
            }
        }
    }
}

/// A hostname or an IPv4/IPv6 literal; no scheme, port or path.
pub(crate) fn valid_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}
