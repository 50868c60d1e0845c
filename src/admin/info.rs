//! Read-only node endpoints: `/`, `/status`, `/endpoints`,
//! `/plugins/enabled` and `/schemas/...`.

use serde_json::{json, Map, Value};

use super::{Admin, AdminError};
use crate::entities::schema::{Field, FieldType};
use crate::entities::{plugins, Kind};

impl Admin {
    pub(super) fn root_info(&self) -> Result<Value, AdminError> {
        let available: Map<String, Value> = plugins::loaded()
            .iter()
            .filter_map(|name| plugins::known(name))
            .map(|k| {
                (
                    k.name.to_string(),
                    json!({"version": env!("CARGO_PKG_VERSION"), "priority": k.priority}),
                )
            })
            .collect();
        let in_cluster = self
            .model
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .plugin_names();
        let hostname = crate::pdk::node::hostname();
        Ok(json!({
            "tagline": "Welcome to lunagate",
            "version": env!("CARGO_PKG_VERSION"),
            "edition": "community",
            "hostname": hostname,
            "node_id": self.node.node_id,
            "lua_version": "Lua 5.4 (lua-stdlib)",
            "plugins": {"available_on_server": available, "enabled_in_cluster": in_cluster},
            "configuration": {
                "proxy_listen": [self.node.proxy_listen.to_string()],
                "admin_listen": [self.node.admin_listen.to_string()],
                "nginx_worker_processes": self.node.workers,
                "prefix": self.node.data_dir.display().to_string(),
                "database": "redb",
            },
            "pids": {"master": std::process::id()},
        }))
    }

    pub(super) fn status_info(&self) -> Result<Value, AdminError> {
        let version = self.store.version()?;
        Ok(json!({
            "database": {"reachable": true},
            "configuration_version": version,
            "server": {"workers": self.node.workers},
            // lunagate's own figures, for operators and tests.
            "lunagate": {
                "lua_chunks_compiled": crate::plugins::chunks_compiled(),
                "lua_function_slots": crate::plugins::serverless::function_slots(),
            },
        }))
    }
}

pub(super) fn enabled_plugins() -> Value {
    json!({"enabled_plugins": plugins::loaded()})
}

pub(super) fn endpoints() -> Value {
    let mut data = vec![
        "/".to_string(),
        "/status".into(),
        "/endpoints".into(),
        "/plugins/enabled".into(),
    ];
    for kind in Kind::ALL {
        let c = kind.collection();
        if kind != Kind::Target {
            data.push(format!("/{c}"));
            data.push(format!("/{c}/{{{c}}}"));
        }
        data.push(format!("/schemas/{c}"));
        data.push(format!("/schemas/{c}/validate"));
    }
    for (parent, child) in [
        ("services", "routes"),
        ("services", "plugins"),
        ("routes", "plugins"),
        ("consumers", "plugins"),
        ("upstreams", "targets"),
    ] {
        data.push(format!("/{parent}/{{{parent}}}/{child}"));
        data.push(format!("/{parent}/{{{parent}}}/{child}/{{{child}}}"));
    }
    data.extend([
        "/routes/{routes}/service".into(),
        "/schemas/plugins/{name}".into(),
        "/upstreams/{upstreams}/targets/all".into(),
    ]);
    data.sort();
    json!({"data": data})
}

pub(super) fn entity_schema(name: &str) -> Option<Value> {
    let kind = Kind::ALL.into_iter().find(|k| k.collection() == name)?;
    Some(json!({"fields": describe_fields(kind.fields())}))
}

pub(super) fn plugin_schema(name: &str) -> Option<Value> {
    let config = plugins::config_fields(name)?;
    let shown: Vec<Field> = config
        .iter()
        .filter(|f| f.name != "functions")
        .cloned()
        .collect();
    let default = plugins::known(name).map_or(&[][..], |k| k.protocols);
    let protocols = json!({"protocols": {"type": "set", "default": default}});
    let config =
        json!({"config": {"type": "record", "required": true, "fields": describe_fields(&shown)}});
    if !plugins::is_serverless(name) {
        return Some(json!({"fields": [protocols, config]}));
    }
    Some(json!({"fields": [
        {"consumer": {"type": "foreign", "reference": "consumers", "eq": null}},
        protocols,
        config,
    ]}))
}

fn describe_fields(fields: &[Field]) -> Vec<Value> {
    fields
        .iter()
        .filter(|f| !f.write_only)
        .map(|f| {
            let mut d = json!({"type": type_name(&f.ty)});
            if f.required {
                d["required"] = json!(true);
            }
            if !f.default.is_null() {
                d["default"] = f.default.clone();
            }
            if let Some((lo, hi)) = f.between {
                d["between"] = json!([lo, hi]);
            }
            if let Some(one_of) = f.one_of {
                d["one_of"] = json!(one_of);
            }
            // Kong's schema words: `len_max` of a collection, and of the
            // strings in it under `elements`.
            if matches!(
                f.ty,
                FieldType::Array(_) | FieldType::Set(_) | FieldType::Map(_)
            ) {
                d["len_max"] = json!(f.max_items);
                if let Some(max) = f.max_len {
                    d["elements"] = json!({"type": "string", "len_max": max});
                }
            } else if let Some(max) = f.max_len {
                d["len_max"] = json!(max);
            }
            json!({f.name: d})
        })
        .collect()
}

fn type_name(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::String => "string",
        FieldType::Integer => "integer",
        FieldType::Number => "number",
        FieldType::Boolean => "boolean",
        FieldType::Array(_) => "array",
        FieldType::Set(_) => "set",
        FieldType::Map(_) => "map",
        FieldType::Foreign => "foreign",
        FieldType::Any => "any",
    }
}
