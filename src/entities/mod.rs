//! Kong's core entities — Services, Routes, Plugins, Consumers, Upstreams
//! and their Targets — as typed
//! structs (what the proxy reads; consumers have none yet) and as schemas (what the Admin API checks
//! bodies against). One file per entity, each with the same shape: the
//! struct, `fields()` (the schema), and `check()` for rules that span fields.

pub mod certificates;
pub mod consumers;
pub mod plugins;
pub mod routes;
pub mod schema;
pub mod services;
pub mod upstreams;

pub use plugins::Plugin;
pub use routes::Route;
pub use services::Service;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use schema::{set_of, Field, FieldType};

/// A reference to another entity, as Kong stores and returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub id: Uuid,
}

/// The kinds of entity the store knows, with their Admin API names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Service,
    Route,
    Plugin,
    Consumer,
    Certificate,
    Sni,
    CaCertificate,
    Upstream,
    Target,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Service,
        Kind::Route,
        Kind::Plugin,
        Kind::Consumer,
        Kind::Certificate,
        Kind::Sni,
        Kind::CaCertificate,
        Kind::Upstream,
        Kind::Target,
    ];

    /// The kinds the TLS configuration is built from.
    pub fn is_tls(self) -> bool {
        matches!(self, Kind::Certificate | Kind::Sni | Kind::CaCertificate)
    }

    /// The collection name used in paths and messages (`services`).
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Service => "services",
            Kind::Route => "routes",
            Kind::Plugin => "plugins",
            Kind::Consumer => "consumers",
            Kind::Certificate => "certificates",
            Kind::Sni => "snis",
            Kind::CaCertificate => "ca_certificates",
            Kind::Upstream => "upstreams",
            Kind::Target => "targets",
        }
    }

    /// The field a non-UUID path segment is looked up by (Kong's `endpoint_key`).
    pub fn endpoint_key(self) -> &'static str {
        match self {
            Kind::Service | Kind::Route | Kind::Sni | Kind::Upstream => "name",
            Kind::Plugin => "instance_name",
            // Unique within its upstream only (see `store::unique_entries`).
            Kind::Target => "target",
            Kind::Consumer => "username",
            // A certificate is also found by one of its SNIs (admin/tls.rs).
            Kind::Certificate | Kind::CaCertificate => "id",
        }
    }

    /// Fields that must be unique across all entities of this kind.
    pub fn unique_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Service | Kind::Route | Kind::Sni | Kind::Upstream => &["name"],
            Kind::Plugin => &["instance_name"],
            Kind::Consumer => &["username", "custom_id"],
            Kind::CaCertificate => &["cert_digest"],
            Kind::Certificate | Kind::Target => &[],
        }
    }

    /// Foreign-key fields and the kind each points to.
    pub fn foreign_keys(self) -> &'static [(&'static str, Kind)] {
        match self {
            Kind::Consumer | Kind::Certificate | Kind::CaCertificate => &[],
            Kind::Service | Kind::Upstream => &[("client_certificate", Kind::Certificate)],
            Kind::Target => &[("upstream", Kind::Upstream)],
            Kind::Sni => &[("certificate", Kind::Certificate)],
            Kind::Route => &[("service", Kind::Service)],
            Kind::Plugin => &[
                ("route", Kind::Route),
                ("service", Kind::Service),
                ("consumer", Kind::Consumer),
            ],
        }
    }

    /// The fields of this entity's schema (plugins: without the config subschema).
    pub fn fields(self) -> &'static [Field] {
        match self {
            Kind::Service => services::fields(),
            Kind::Route => routes::fields(),
            Kind::Plugin => plugins::fields(),
            Kind::Consumer => consumers::fields(),
            Kind::Certificate => certificates::certificate_fields(),
            Kind::Sni => certificates::sni_fields(),
            Kind::CaCertificate => certificates::ca_certificate_fields(),
            Kind::Upstream => upstreams::upstream_fields(),
            Kind::Target => upstreams::target_fields(),
        }
    }
}

/// Fields every entity has: `id`, timestamps and `tags`.
fn common_fields() -> Vec<Field> {
    vec![
        Field::new("id", FieldType::String),
        Field::new("created_at", FieldType::Integer),
        Field::new("updated_at", FieldType::Integer),
        Field::new("tags", set_of(FieldType::String)),
    ]
}

/// Seconds since the epoch, as Kong's timestamps are.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Entity-level errors go under `@entity`, as an array.
pub(crate) fn entity_error(errors: &mut Map<String, Value>, msg: impl Into<String>) {
    let slot = errors
        .entry("@entity")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = slot {
        items.push(Value::String(msg.into()));
    }
}

/// Kong's check that a name is a `utf8_name`: letters, digits and `.-_~`.
pub(crate) fn check_name(obj: &Map<String, Value>, key: &str, errors: &mut Map<String, Value>) {
    if let Some(Value::String(name)) = obj.get(key) {
        let ok = name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '~'));
        if !ok {
            errors.insert(
                key.into(),
                json!("invalid value '".to_string() + name + "': the only accepted ascii characters are alphanumerics or ., -, _, and ~"),
            );
        }
    }
}
