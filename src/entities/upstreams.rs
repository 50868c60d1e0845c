//! Kong's load balancer entities: `upstreams` (a virtual host name a
//! Service's `host` can name) and their `targets` (`host:port` with a
//! weight). The proxy balances over the targets (`proxy/balancer.rs`);
//! health checks are stored and returned as Kong's, not run.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::schema::{Field, FieldType};
use super::ForeignKey;

/// What the proxy reads of an upstream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Upstream {
    pub id: Uuid,
    pub name: String,
    pub slots: u32,
}

/// What the proxy reads of a target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub id: Uuid,
    pub upstream: ForeignKey,
    /// `host:port` (`[v6]:port`), as `normalize_target` wrote it.
    pub target: String,
    pub weight: u32,
}

const ALGORITHMS: &[&str] = &[
    "consistent-hashing",
    "least-connections",
    "round-robin",
    "latency",
];
const HASH_ON: &[&str] = &[
    "none",
    "consumer",
    "ip",
    "header",
    "cookie",
    "path",
    "query_arg",
    "uri_capture",
];

/// Kong's `DEFAULT_PORT` for a target without one.
pub const TARGET_DEFAULT_PORT: u16 = 8000;

pub fn upstream_fields() -> &'static [Field] {
    static FIELDS: OnceLock<Vec<Field>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut f = super::common_fields();
        f.extend([
            Field::new("name", FieldType::String).required(),
            Field::new("algorithm", FieldType::String)
                .default(json!("round-robin"))
                .one_of(ALGORITHMS),
            Field::new("hash_on", FieldType::String)
                .default(json!("none"))
                .one_of(HASH_ON),
            Field::new("hash_fallback", FieldType::String)
                .default(json!("none"))
                .one_of(HASH_ON),
            Field::new("hash_on_header", FieldType::String),
            Field::new("hash_fallback_header", FieldType::String),
            Field::new("hash_on_cookie", FieldType::String),
            Field::new("hash_on_cookie_path", FieldType::String).default(json!("/")),
            Field::new("hash_on_query_arg", FieldType::String),
            Field::new("hash_fallback_query_arg", FieldType::String),
            Field::new("hash_on_uri_capture", FieldType::String),
            Field::new("hash_fallback_uri_capture", FieldType::String),
            Field::new("slots", FieldType::Integer)
                .default(json!(10000))
                .between(10, 65536),
            Field::new("healthchecks", FieldType::Any).default(healthchecks_defaults()),
            Field::new("host_header", FieldType::String),
            Field::new("client_certificate", FieldType::Foreign),
            Field::new("use_srv_name", FieldType::Boolean).default(json!(false)),
        ]);
        f
    })
}

pub fn target_fields() -> &'static [Field] {
    static FIELDS: OnceLock<Vec<Field>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut f = super::common_fields();
        // Kong's `auto_timestamp_ms`: seconds with milliseconds.
        for field in &mut f {
            if field.name == "created_at" || field.name == "updated_at" {
                field.ty = FieldType::Number;
            }
        }
        f.extend([
            Field::new("upstream", FieldType::Foreign).required(),
            Field::new("target", FieldType::String).required(),
            Field::new("weight", FieldType::Integer)
                .default(json!(100))
                .between(0, 65535),
        ]);
        f
    })
}

/// Kong's `healthchecks` default: every probe and circuit breaker off.
fn healthchecks_defaults() -> Value {
    json!({
        "active": {
            "type": "http",
            "timeout": 1,
            "concurrency": 10,
            "http_path": "/",
            "https_sni": null,
            "https_verify_certificate": true,
            "headers": null,
            "healthy": {"interval": 0, "http_statuses": [200, 302], "successes": 0},
            "unhealthy": {
                "interval": 0,
                "http_statuses": [429, 404, 500, 501, 502, 503, 504, 505],
                "tcp_failures": 0,
                "timeouts": 0,
                "http_failures": 0
            }
        },
        "passive": {
            "type": "http",
            "healthy": {
                "http_statuses": [200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
                                  300, 301, 302, 303, 304, 305, 306, 307, 308],
                "successes": 0
            },
            "unhealthy": {
                "http_statuses": [429, 500, 503],
                "tcp_failures": 0,
                "timeouts": 0,
                "http_failures": 0
            }
        },
        "threshold": 0
    })
}

/// Kong's shorthands, applied to what a request gives before it is merged
/// or checked: `hash_on` other than `none` means consistent hashing,
/// `none` round-robin; least-connections and latency hash on nothing.
pub fn apply_shorthands(body: &mut Map<String, Value>) {
    if let Some(Value::String(a)) = body.get("algorithm") {
        if a == "least-connections" || a == "latency" {
            body.insert("hash_on".into(), Value::Null);
        }
    }
    match body.get("hash_on") {
        Some(Value::Null) => {
            body.insert("hash_on".into(), json!("none"));
        }
        Some(Value::String(h)) if h == "none" => {
            body.insert("algorithm".into(), json!("round-robin"));
        }
        Some(Value::String(_)) => {
            body.insert("algorithm".into(), json!("consistent-hashing"));
        }
        _ => {}
    }
}

/// Fills the defaults of a partial `healthchecks` record and checks it
/// (types and ranges of Kong's schema); errors go under `healthchecks`.
pub fn normalize_healthchecks(obj: &mut Map<String, Value>, errors: &mut Map<String, Value>) {
    let given = match obj.get_mut("healthchecks") {
        None => return,
        Some(v @ Value::Null) => {
            *v = healthchecks_defaults();
            return;
        }
        Some(v) => v.take(),
    };
    let mut filled = healthchecks_defaults();
    match merge_record(&mut filled, given, "") {
        Ok(()) => {
            obj.insert("healthchecks".into(), filled);
        }
        Err(e) => {
            errors.insert("healthchecks".into(), e);
        }
    }
}

/// Merges `given` into the defaults record `into`, checking each leaf.
fn merge_record(into: &mut Value, given: Value, path: &str) -> Result<(), Value> {
    let Value::Object(given) = given else {
        return Err(json!("expected a record"));
    };
    let Value::Object(record) = into else {
        return Err(json!("expected a record"));
    };
    let mut errs = Map::new();
    for (k, v) in given {
        let Some(slot) = record.get_mut(&k) else {
            errs.insert(k, json!("unknown field"));
            continue;
        };
        let result = if slot.is_object() && !v.is_null() {
            merge_record(slot, v, &k)
        } else {
            check_leaf(&k, path, v).map(|v| *slot = v)
        };
        if let Err(e) = result {
            errs.insert(k, e);
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Value::Object(errs))
    }
}

/// One health check setting, as Kong's `upstreams.lua` types it (form
/// values arrive as strings and are read as numbers or booleans here).
fn check_leaf(name: &str, parent: &str, v: Value) -> Result<Value, Value> {
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let ranged = |v: Value, lo: f64, hi: f64, integer: bool| -> Result<Value, Value> {
        let Some(n) = number(&v) else {
            return Err(json!(if integer {
                "expected an integer"
            } else {
                "expected a number"
            }));
        };
        if integer && n.fract() != 0.0 {
            return Err(json!("expected an integer"));
        }
        if n < lo || n > hi {
            return Err(json!(format!("value should be between {lo} and {hi}")));
        }
        Ok(if n.fract() == 0.0 {
            json!(n as i64)
        } else {
            json!(n)
        })
    };
    match name {
        "type" => match v.as_str() {
            Some("tcp" | "http" | "https" | "grpc" | "grpcs") => Ok(v),
            _ => Err(json!("expected one of: tcp, http, https, grpc, grpcs")),
        },
        "timeout" | "interval" => ranged(v, 0.0, 65535.0, false),
        "concurrency" => ranged(v, 1.0, 2_147_483_648.0, true),
        "successes" | "tcp_failures" | "timeouts" | "http_failures" => ranged(v, 0.0, 255.0, true),
        "threshold" if parent.is_empty() => ranged(v, 0.0, 100.0, false),
        "http_path" => match v.as_str() {
            Some(p) if p.starts_with('/') => Ok(v),
            Some(_) => Err(json!("should start with: /")),
            None => Err(json!("expected a string")),
        },
        "https_sni" => match &v {
            Value::Null => Ok(v),
            Value::String(s) if super::services::valid_host(s) => Ok(v),
            Value::String(s) => Err(json!(format!("invalid hostname: {s}"))),
            _ => Err(json!("expected a string")),
        },
        "https_verify_certificate" => match &v {
            Value::Bool(_) => Ok(v),
            Value::String(s) if s == "true" || s == "false" => Ok(json!(s == "true")),
            _ => Err(json!("expected a boolean")),
        },
        // Kong's `typedefs.headers`: header names to arrays of strings.
        "headers" => match &v {
            Value::Null => Ok(v),
            Value::Object(map) => {
                let mut errs = Map::new();
                for (name, values) in map {
                    if let Some(why) = header_name_error(name) {
                        errs.insert(name.clone(), json!(why));
                    } else if !values
                        .as_array()
                        .is_some_and(|a| a.iter().all(Value::is_string))
                    {
                        errs.insert(name.clone(), json!("expected an array of strings"));
                    }
                }
                if errs.is_empty() {
                    Ok(v)
                } else {
                    Err(Value::Object(errs))
                }
            }
            _ => Err(json!("expected a map")),
        },
        "http_statuses" => {
            let items = match v {
                Value::Array(items) => items,
                s @ Value::String(_) => vec![s],
                _ => return Err(json!("expected an array")),
            };
            let mut out = Vec::with_capacity(items.len());
            let mut errs = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                match ranged(item, 100.0, 999.0, true) {
                    Ok(n) => out.push(n),
                    Err(e) => {
                        errs.resize(i, Value::Null);
                        errs.push(e);
                    }
                }
            }
            if errs.is_empty() {
                Ok(Value::Array(out))
            } else {
                Err(Value::Array(errs))
            }
        }
        _ => Err(json!("unknown field")),
    }
}

/// Rules that span fields: the name is a host name (no address, no
/// port), and a hash on a header, cookie, query argument or URI capture
/// names it.
pub fn check_upstream(obj: &Map<String, Value>, errors: &mut Map<String, Value>) {
    if let Some(why) = obj.get("name").and_then(Value::as_str).and_then(name_error) {
        errors.insert("name".into(), json!(why));
    }
    for field in ["hash_on_header", "hash_fallback_header"] {
        if let Some(why) = obj
            .get(field)
            .and_then(Value::as_str)
            .and_then(header_name_error)
        {
            errors.insert(field.into(), json!(why));
        }
    }
    if let Some(Value::String(c)) = obj.get("hash_on_cookie") {
        let bad = c
            .bytes()
            .any(|b| b < 32 || b == 127 || b" \t()<>@,;:\\\"/?={}[]".contains(&b));
        if bad {
            errors.insert(
                "hash_on_cookie".into(),
                json!(
                "contains one or more invalid characters. ASCII control characters (0-31;127), \
                 space, tab and the characters ()<>@,;:\\\"/?={}[] are not allowed."
            ),
            );
        }
    }
    if let Some(Value::String(p)) = obj.get("hash_on_cookie_path") {
        if !p.starts_with('/') {
            errors.insert("hash_on_cookie_path".into(), json!("should start with: /"));
        }
    }
    if let Some(Value::String(h)) = obj.get("host_header") {
        let (host, _) = crate::proxy::router::split_host_port(h);
        if !super::services::valid_host(host) {
            errors.insert(
                "host_header".into(),
                json!(format!("invalid hostname: {h}")),
            );
        }
    }
    let text = |k: &str| obj.get(k).and_then(Value::as_str);
    let is_set = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
    for (on_field, value, needed) in [
        ("hash_on", "header", "hash_on_header"),
        ("hash_fallback", "header", "hash_fallback_header"),
        ("hash_on", "cookie", "hash_on_cookie"),
        ("hash_fallback", "cookie", "hash_on_cookie"),
        ("hash_on", "query_arg", "hash_on_query_arg"),
        ("hash_fallback", "query_arg", "hash_fallback_query_arg"),
        ("hash_on", "uri_capture", "hash_on_uri_capture"),
        ("hash_fallback", "uri_capture", "hash_fallback_uri_capture"),
    ] {
        if text(on_field) == Some(value) && !is_set(needed) {
            super::entity_error(
                errors,
                format!("failed conditional validation given value of field '{on_field}'"),
            );
            errors.insert(needed.into(), json!("required field missing"));
        }
    }
    let fallback = text("hash_fallback").unwrap_or("none");
    let allowed: Option<&[&str]> = match text("hash_on") {
        Some("none" | "cookie") => Some(&["none"]),
        Some(on @ ("consumer" | "ip" | "path")) => Some(match on {
            "consumer" => &[
                "none",
                "ip",
                "header",
                "cookie",
                "path",
                "query_arg",
                "uri_capture",
            ],
            "ip" => &[
                "none",
                "consumer",
                "header",
                "cookie",
                "path",
                "query_arg",
                "uri_capture",
            ],
            _ => &[
                "none",
                "consumer",
                "header",
                "cookie",
                "query_arg",
                "ip",
                "uri_capture",
            ],
        }),
        _ => None,
    };
    if let Some(allowed) = allowed.filter(|a| !a.contains(&fallback)) {
        super::entity_error(
            errors,
            "failed conditional validation given value of field 'hash_on'",
        );
        errors.insert(
            "hash_fallback".into(),
            json!(format!("expected one of: {}", allowed.join(", "))),
        );
    }
    for (a, b) in [
        ("hash_on_header", "hash_fallback_header"),
        ("hash_on_query_arg", "hash_fallback_query_arg"),
        ("hash_on_uri_capture", "hash_fallback_uri_capture"),
    ] {
        if is_set(a) && text(a).is_some() && text(a) == text(b) {
            super::entity_error(
                errors,
                format!("values of these fields must be distinct: '{a}', '{b}'"),
            );
        }
    }
}

/// Kong's `validate_header_name`.
fn header_name_error(name: &str) -> Option<String> {
    let ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (!ok).then(|| {
        format!("bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
    })
}

/// Kong's check of an upstream name (`validate_name`): a host name, no
/// address, no port, judged by Kong's [`normalize_ip`].
pub fn name_error(name: &str) -> Option<String> {
    let why = match normalize_ip(name) {
        None => "must be a valid hostname",
        Some(a) if a.kind != HostKind::Name => "no ip addresses allowed",
        Some(a) if a.port.is_some() => "no port allowed",
        Some(_) => return None,
    };
    Some(format!("Invalid name ('{name}'); {why}"))
}

/// Kong's `format_target` (its targets DAO, before the schema check, with
/// its message): `host`, `host:port`, `ipv6` or `[ipv6]:port` becomes
/// `host:port`, port 8000 when none is given, an IPv4 address without
/// leading zeros, an IPv6 one fully expanded in brackets; a name is kept
/// as written.
pub fn normalize_target(obj: &mut Map<String, Value>, errors: &mut Map<String, Value>) {
    let Some(Value::String(target)) = obj.get("target") else {
        return;
    };
    match format_target(target) {
        Some(t) => {
            obj.insert("target".into(), json!(t));
        }
        None => {
            errors.insert(
                "target".into(),
                json!("Invalid target; not a valid hostname or ip address"),
            );
        }
    }
}

fn format_target(target: &str) -> Option<String> {
    let a = normalize_ip(target)?;
    let port = a.port.unwrap_or(TARGET_DEFAULT_PORT);
    Some(match a.kind {
        HostKind::Ipv6 => format!("[{}]:{port}", a.host),
        HostKind::Ipv4 | HostKind::Name => format!("{}:{port}", a.host),
    })
}

/// What Kong's `hostname_type` says an address is: decided by exclusion
/// (more than one colon: IPv6; only digits and dots: IPv4), not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostKind {
    Ipv4,
    Ipv6,
    Name,
}

/// An address as Kong's `kong.tools.ip.normalize_ip` answers it.
#[derive(Debug, PartialEq, Eq)]
struct Address {
    kind: HostKind,
    /// IPv4 without leading zeros, IPv6 expanded (no brackets), a name
    /// as given.
    host: String,
    port: Option<u16>,
}

/// Kong's `normalize_ip`: `ipv4`, `ipv4:port`, `ipv6`, `[ipv6]`,
/// `[ipv6]:port`, `name`, `name:port`; `None` where Kong answers an error.
fn normalize_ip(address: &str) -> Option<Address> {
    let colons = address.bytes().filter(|&b| b == b':').count();
    let kind = if colons > 1 {
        HostKind::Ipv6
    } else if address.len() > colons
        && address
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b':')
    {
        HostKind::Ipv4
    } else {
        HostKind::Name
    };
    let (host, port) = match kind {
        HostKind::Ipv4 => normalize_ipv4(address)?,
        HostKind::Ipv6 => normalize_ipv6(address)?,
        HostKind::Name => check_hostname(address)?,
    };
    Some(Address { kind, host, port })
}

/// Lua's `tonumber` of a run of digits, refused above 65535 as Kong
/// refuses it ("invalid port number").
fn port_number(digits: &str) -> Option<u16> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = digits.bytes().fold(0u32, |n, d| {
        n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    });
    u16::try_from(n).ok()
}

/// Kong's `normalize_ipv4`: four groups of 1-3 digits, each at most 255,
/// then `:port` if there is a colon.
fn normalize_ipv4(address: &str) -> Option<(String, Option<u16>)> {
    let (ip, port) = match address.split_once(':') {
        Some((ip, port)) => (ip, Some(port_number(port)?)),
        None => (address, None),
    };
    let mut octets = [0u8; 4];
    let mut parts = ip.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    let [a, b, c, d] = octets;
    Some((format!("{a}.{b}.{c}.{d}"), port))
}

/// Kong's `normalize_ipv6`: `[ipv6]:port` or a bare address, `::`
/// expanded, eight groups of 1-4 hex digits, written lowercase with four
/// digits each.
fn normalize_ipv6(address: &str) -> Option<(String, Option<u16>)> {
    let (check, port) = match address
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
    {
        Some((inner, "")) => (inner, None),
        Some((inner, rest)) => (inner, Some(port_number(rest.strip_prefix(':')?)?)),
        None => (address, None),
    };
    let mut check = check.to_string();
    if check.starts_with(':') {
        check.insert(0, '0');
    }
    if check.ends_with(':') {
        check.push('0');
    }
    if check.contains("::") {
        let count = check.bytes().filter(|&b| b == b':').count();
        let ins = format!(":{}", "0:".repeat(8usize.saturating_sub(count)));
        check = check.replacen("::", &ins, 1);
    }
    let groups: Vec<&str> = check.split(':').collect();
    if groups.len() != 8
        || !groups
            .iter()
            .all(|g| (1..=4).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return None;
    }
    let expanded: Vec<String> = groups
        .iter()
        .map(|g| format!("{:0>4}", g.to_ascii_lowercase()))
        .collect();
    Some((expanded.join(":"), port))
}

/// Kong's `check_hostname`: letters, digits, `-`, `.` and `_`, then
/// `:port`; no label ends with `-`, no empty label but a last one (a
/// fully qualified name's dot).
fn check_hostname(address: &str) -> Option<(String, Option<u16>)> {
    let (name, port) = match address.rsplit_once(':') {
        Some((name, digits))
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (name, Some(port_number(digits)?))
        }
        _ => (address, None),
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return None;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let last = labels.len() - 1;
    let bad = labels
        .iter()
        .enumerate()
        .any(|(i, l)| l.ends_with('-') || (l.is_empty() && i != last));
    if bad {
        return None;
    }
    Some((name.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_written_as_kong_formats_them() {
        let cases = [
            ("konghq.test", Some("konghq.test:8000")),
            ("konghq.test:123", Some("konghq.test:123")),
            ("KongHQ.test", Some("KongHQ.test:8000")),
            ("fqdn.test.:80", Some("fqdn.test.:80")),
            ("127.0.0.1", Some("127.0.0.1:8000")),
            ("001.002.003.004:0080", Some("1.2.3.4:80")),
            (
                "::1",
                Some("[0000:0000:0000:0000:0000:0000:0000:0001]:8000"),
            ),
            (
                "[::1]:81",
                Some("[0000:0000:0000:0000:0000:0000:0000:0001]:81"),
            ),
            (
                "[FE80::A]",
                Some("[fe80:0000:0000:0000:0000:0000:0000:000a]:8000"),
            ),
            ("some invalid host name", None),
            ("host:port", None),
            ("host:70000", None),
            ("1.2.3.4:65536", None),
            ("1.2.3", None),
            ("256.1.1.1", None),
            ("[::1]:", None),
            ("[::1]x", None),
            ("1::2::3", None),
            ("a..b", None),
            (".a", None),
            ("a-.b", None),
            ("", None),
            (":80", None),
        ];
        for (given, want) in cases {
            assert_eq!(format_target(given).as_deref(), want, "{given}");
        }
    }

    #[test]
    fn upstream_names_are_judged_as_kong_judges_them() {
        assert_eq!(name_error("my.upstream"), None);
        assert_eq!(name_error("my_upstream"), None);
        assert_eq!(
            name_error("1.2.3.4").as_deref(),
            Some("Invalid name ('1.2.3.4'); no ip addresses allowed")
        );
        assert_eq!(
            name_error("::1").as_deref(),
            Some("Invalid name ('::1'); no ip addresses allowed")
        );
        assert_eq!(
            name_error("my.upstream:80").as_deref(),
            Some("Invalid name ('my.upstream:80'); no port allowed")
        );
        assert_eq!(
            name_error("some invalid host name").as_deref(),
            Some("Invalid name ('some invalid host name'); must be a valid hostname")
        );
        assert!(name_error("1.2.3").is_some());
    }
}
