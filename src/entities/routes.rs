//! The Route entity: which requests go to which Service (§3.3, §4.1).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::schema::{array_of, set_of, Field, FieldType};
use super::ForeignKey;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Route {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub name: Option<String>,
    pub protocols: Vec<String>,
    pub methods: Option<Vec<String>>,
    pub hosts: Option<Vec<String>>,
    pub paths: Option<Vec<String>>,
    pub headers: Option<BTreeMap<String, Vec<String>>>,
    pub https_redirect_status_code: u16,
    pub regex_priority: i64,
    pub strip_path: bool,
    pub path_handling: String,
    pub preserve_host: bool,
    pub request_buffering: bool,
    pub response_buffering: bool,
    pub snis: Option<Vec<String>>,
    pub sources: Option<Vec<Value>>,
    pub destinations: Option<Vec<Value>>,
    pub tags: Option<Vec<String>>,
    pub service: Option<ForeignKey>,
}

/// Most hosts or paths one route may have.
const MAX_MATCH_ITEMS: usize = 256;

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

pub fn fields() -> &'static [Field] {
    static FIELDS: OnceLock<Vec<Field>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut f = super::common_fields();
        f.extend([
            Field::new("name", FieldType::String),
            Field::new("protocols", set_of(FieldType::String))
                .default(json!(["http", "https"]))
                .one_of(PROTOCOLS),
            Field::new("methods", set_of(FieldType::String)),
            // Each path and host byte is a node of the router's trie.
            Field::new("hosts", array_of(FieldType::String))
                .max_items(MAX_MATCH_ITEMS)
                .max_len(256),
            Field::new("paths", array_of(FieldType::String))
                .max_items(MAX_MATCH_ITEMS)
                .max_len(1024),
            Field::new(
                "headers",
                FieldType::Map(Box::new(array_of(FieldType::String))),
            )
            .max_items(64),
            Field::new("https_redirect_status_code", FieldType::Integer).default(json!(426)),
            Field::new("regex_priority", FieldType::Integer).default(json!(0)),
            Field::new("strip_path", FieldType::Boolean).default(json!(true)),
            Field::new("path_handling", FieldType::String)
                .default(json!("v0"))
                .one_of(&["v0", "v1"]),
            Field::new("preserve_host", FieldType::Boolean).default(json!(false)),
            Field::new("request_buffering", FieldType::Boolean).default(json!(true)),
            Field::new("response_buffering", FieldType::Boolean).default(json!(true)),
            Field::new("snis", set_of(FieldType::String)),
            Field::new("sources", set_of(FieldType::Any)),
            Field::new("destinations", set_of(FieldType::Any)),
            Field::new("service", FieldType::Foreign),
        ]);
        f
    })
}

/// Rules that span fields: Kong's path, host, method and header checks and
/// the "must set one of" rule for http routes.
pub fn check(obj: &Map<String, Value>, errors: &mut Map<String, Value>) {
    super::check_name(obj, "name", errors);
    let strings = |key: &str| -> Vec<String> {
        obj.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };

    let path_errors: Vec<Value> = strings("paths")
        .iter()
        .map(|p| check_path(p).map_or(Value::Null, Value::from))
        .collect();
    if path_errors.iter().any(|e| !e.is_null()) {
        errors.insert("paths".into(), trim_nulls(path_errors));
    }
    let host_errors: Vec<Value> = strings("hosts")
        .iter()
        .map(|h| check_host(h).map_or(Value::Null, Value::from))
        .collect();
    if host_errors.iter().any(|e| !e.is_null()) {
        errors.insert("hosts".into(), trim_nulls(host_errors));
    }
    let method_errors: Vec<Value> = strings("methods")
        .iter()
        .map(|m| {
            if !m.is_empty() && m.chars().all(|c| c.is_ascii_uppercase()) {
                Value::Null
            } else {
                Value::from(format!("invalid value: {m}"))
            }
        })
        .collect();
    if method_errors.iter().any(|e| !e.is_null()) {
        errors.insert("methods".into(), trim_nulls(method_errors));
    }
    if let Some(Value::Object(headers)) = obj.get("headers") {
        if headers.keys().any(|k| k.eq_ignore_ascii_case("host")) {
            errors.insert("headers".into(), json!("cannot contain 'host' header"));
        }
    }
    if let Some(code) = obj
        .get("https_redirect_status_code")
        .and_then(Value::as_i64)
    {
        if ![426, 301, 302, 307, 308].contains(&code) {
            errors.insert(
                "https_redirect_status_code".into(),
                json!("expected one of: 426, 301, 302, 307, 308"),
            );
        }
    }

    let protocols = strings("protocols");
    let snis = strings("snis");
    let tls_capable = protocols
        .iter()
        .any(|p| matches!(p.as_str(), "grpcs" | "https" | "tls" | "tls_passthrough"));
    if !snis.is_empty() && !protocols.is_empty() && !tls_capable {
        errors.insert(
            "snis".into(),
            json!("'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'"),
        );
    } else {
        let sni_errors: Vec<Value> = snis
            .iter()
            .map(|s| {
                super::certificates::check_wildcard_host(s)
                    .map_or_else(Value::from, |()| Value::Null)
            })
            .collect();
        if sni_errors.iter().any(|e| !e.is_null()) {
            errors.insert("snis".into(), trim_nulls(sni_errors));
        }
    }
    if let Some(msg) = mixed_protocols(&protocols) {
        errors.insert("protocols".into(), json!(msg));
        return;
    }
    let set = |k: &str| match obj.get(k) {
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        _ => false,
    };
    let has = |p: &str| protocols.iter().any(|x| x == p);
    // Kong's subschema is chosen by the first protocol; the subsets are
    // mutually exclusive, so any member tells.
    let first = protocols.first().map_or("http", String::as_str);
    let (fields, which): (&[&str], &str) = match first {
        "http" | "https" => {
            for f in ["sources", "destinations"] {
                if set(f) {
                    errors.insert(
                        f.into(),
                        json!(format!(
                            "cannot set '{f}' when 'protocols' is 'http' or 'https'"
                        )),
                    );
                }
            }
            if has("https") {
                (&["methods", "hosts", "headers", "paths", "snis"], "https")
            } else {
                (&["methods", "hosts", "headers", "paths"], "http")
            }
        }
        "grpc" | "grpcs" => {
            // A gRPC route never strips (Kong's subschema), takes no
            // methods, and must be told apart by something: one with
            // nothing to match would capture every request.
            if obj.get("strip_path") == Some(&Value::Bool(true)) {
                errors.insert(
                    "strip_path".into(),
                    json!("cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"),
                );
            }
            for f in ["methods", "sources", "destinations"] {
                if set(f) {
                    errors.insert(
                        f.into(),
                        json!(format!(
                            "cannot set '{f}' when 'protocols' is 'grpc' or 'grpcs'"
                        )),
                    );
                }
            }
            if has("grpcs") {
                (&["hosts", "headers", "paths", "snis"], "grpcs")
            } else {
                (&["hosts", "headers", "paths"], "grpc")
            }
        }
        "tls_passthrough" | "tcp" | "tls" | "udp" => {
            // Stream routes: the proxy does not serve them, but Kong's
            // rules still say what they may hold.
            for f in ["methods", "hosts", "paths", "headers"] {
                if set(f) {
                    errors.insert(
                        f.into(),
                        json!(format!(
                            "cannot set '{f}' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"
                        )),
                    );
                }
            }
            if first == "tls_passthrough" {
                if !set("snis") {
                    super::entity_error(
                        errors,
                        "must set snis when 'protocols' is 'tls_passthrough'",
                    );
                }
                return;
            }
            (&["sources", "destinations", "snis"], "tcp', 'tls' or 'udp")
        }
        _ => return,
    };
    if !fields.iter().any(|k| set(k)) {
        let listed: Vec<String> = fields.iter().map(|f| format!("'{f}'")).collect();
        super::entity_error(
            errors,
            format!(
                "must set one of {} when 'protocols' is '{which}'",
                listed.join(", ")
            ),
        );
    }
}

/// Defaults that depend on the protocols: a gRPC route's `strip_path` is
/// false (Kong's grpc subschema). Runs before the schema's defaults.
pub fn fill_protocol_defaults(obj: &mut Map<String, Value>) {
    let grpc = obj
        .get("protocols")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .is_some_and(|p| p == "grpc" || p == "grpcs");
    if grpc && !obj.contains_key("strip_path") {
        obj.insert("strip_path".into(), json!(false));
    }
}

/// Kong's `mutually_exclusive_subsets` for protocols: http/https,
/// tcp/tls/udp, tls_passthrough and grpc/grpcs do not mix.
fn mixed_protocols(protocols: &[String]) -> Option<String> {
    const SUBSETS: [&[&str]; 4] = [
        &["http", "https"],
        &["tcp", "tls", "udp"],
        &["tls_passthrough"],
        &["grpc", "grpcs"],
    ];
    let mut member_of: Vec<&[&str]> = Vec::new();
    for p in protocols {
        if let Some(set) = SUBSETS.iter().find(|s| s.contains(&p.as_str())) {
            if !member_of.contains(set) {
                member_of.push(set);
            }
        }
    }
    (member_of.len() > 1).then(|| {
        let sets: Vec<String> = member_of
            .iter()
            .map(|s| {
                let words: Vec<String> = s.iter().map(|w| format!("'{w}'")).collect();
                format!("({})", words.join(", "))
            })
            .collect();
        format!("these sets are mutually exclusive: {}", sets.join(", "))
    })
}

/// Kong reports errors of array elements by position.
fn trim_nulls(mut v: Vec<Value>) -> Value {
    while v.last().is_some_and(Value::is_null) {
        v.pop();
    }
    Value::Array(v)
}

/// A path is a prefix (`/…`) or a regex (`~/…`) that must compile.
fn check_path(path: &str) -> Option<String> {
    if let Some(re) = path.strip_prefix('~') {
        if !re.starts_with('/') {
            return Some("should start with: / (fixed path) or ~/ (regex path)".into());
        }
        return regex::Regex::new(re)
            .err()
            .map(|e| format!("invalid regex: '{re}' ({})", last_line(&e.to_string())));
    }
    if !path.starts_with('/') {
        return Some("should start with: / (fixed path) or ~/ (regex path)".into());
    }
    if path.contains("//") {
        return Some("must not have empty segments".into());
    }
    None
}

fn last_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

/// A host, optionally with a port, with at most one wildcard as the
/// leftmost or rightmost label.
fn check_host(host: &str) -> Option<String> {
    let stars = host.matches('*').count();
    if stars > 1 {
        return Some("invalid wildcard: must have at most one wildcard".into());
    }
    if stars == 1 && !(host.starts_with("*.") || host.ends_with(".*")) {
        return Some("invalid wildcard: must be placed at leftmost or rightmost label".into());
    }
    let bare = host.trim_start_matches("*.").trim_end_matches(".*");
    let name = match bare.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.parse::<u16>().is_ok() => h,
        _ => bare,
    };
    if super::services::valid_host(name) {
        None
    } else {
        Some(format!("invalid hostname: {host}"))
    }
}
