//! The Plugin entity and the config schemas of the plugins lunagate ships:
//! `pre-function` and `post-function` (§1.2 of the Kong reference).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::schema::{self, array_of, set_of, Field, FieldType};
use super::ForeignKey;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plugin {
    pub id: Uuid,
    pub name: String,
    pub instance_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub route: Option<ForeignKey>,
    pub service: Option<ForeignKey>,
    pub consumer: Option<ForeignKey>,
    pub config: Value,
    pub protocols: Vec<String>,
    pub enabled: bool,
    pub tags: Option<Vec<String>>,
}

/// The plugins this build knows, with their priorities (higher runs first).
pub const ENABLED: &[(&str, i64)] = &[("pre-function", 1_000_000), ("post-function", -1000)];

/// The phases a serverless function can run in, in request order.
pub const PHASES: &[&str] = &[
    "certificate",
    "rewrite",
    "access",
    "header_filter",
    "body_filter",
    "log",
];

pub fn fields() -> &'static [Field] {
    static FIELDS: OnceLock<Vec<Field>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut f = super::common_fields();
        f.extend([
            Field::new("name", FieldType::String).required(),
            Field::new("instance_name", FieldType::String),
            Field::new("route", FieldType::Foreign),
            Field::new("service", FieldType::Foreign),
            Field::new("consumer", FieldType::Foreign),
            // Typed by `config_fields` once the plugin name is known.
            Field::new("config", FieldType::Any),
            Field::new("protocols", set_of(FieldType::String))
                .default(json!(["grpc", "grpcs", "http", "https"]))
                .one_of(&[
                    "grpc",
                    "grpcs",
                    "http",
                    "https",
                    "tcp",
                    "tls",
                    "tls_passthrough",
                    "udp",
                ]),
            Field::new("enabled", FieldType::Boolean).default(json!(true)),
        ]);
        f
    })
}

/// The config schema of a known plugin: the six phase arrays of
/// serverless functions, plus Kong 2.x's legacy `functions` (stored as
/// `access`, see `normalize_config`).
pub fn config_fields(name: &str) -> Option<&'static [Field]> {
    static FIELDS: OnceLock<Vec<Field>> = OnceLock::new();
    if !ENABLED.iter().any(|(n, _)| *n == name) {
        return None;
    }
    Some(FIELDS.get_or_init(|| {
        PHASES
            .iter()
            .chain(["functions"].iter())
            .map(|p| Field::new(p, array_of(FieldType::String)).default(json!([])))
            .collect()
    }))
}

/// Validates a plugin body after the entity fields passed: the name must be
/// enabled, the config must fit its schema, and serverless functions
/// cannot be scoped to a consumer. Also folds legacy `functions` into
/// `access` (Kong's 2.8 → 3.0 migration does the same).
pub fn check(obj: &mut Map<String, Value>, errors: &mut Map<String, Value>) {
    super::check_name(obj, "instance_name", errors);
    let Some(name) = obj.get("name").and_then(Value::as_str).map(str::to_string) else {
        return;
    };
    let Some(config_fields) = config_fields(&name) else {
        errors.insert(
            "name".into(),
            json!(format!(
                "plugin '{name}' not enabled; add it to the 'plugins' configuration property"
            )),
        );
        return;
    };
    if !obj.get("consumer").unwrap_or(&Value::Null).is_null() {
        errors.insert("consumer".into(), json!("value must be null"));
    }
    // No config, or `config: null`: the default record, as Kong fills it.
    let config = obj.entry("config").or_insert(Value::Null);
    if config.is_null() {
        *config = json!({});
    }
    let Value::Object(config) = config else {
        errors.insert("config".into(), json!("expected a record"));
        return;
    };
    let mut config_errors = Map::new();
    schema::validate(config_fields, config, &mut config_errors);
    if !config_errors.is_empty() {
        errors.insert("config".into(), Value::Object(config_errors));
        return;
    }
    // With `untrusted_lua = off` an enabled function is refused; a disabled
    // one never runs (so a stored function can still be switched off).
    let enabled = obj.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    let Some(Value::Object(config)) = obj.get_mut("config") else {
        return;
    };
    check_functions(&name, config, enabled, errors);
    if !errors.is_empty() {
        return;
    }
    let non_empty = |c: &Map<String, Value>, k: &str| {
        c.get(k)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    if non_empty(config, "functions") && non_empty(config, "access") {
        super::entity_error(
            errors,
            "these sets are mutually exclusive: ('config.functions'), ('config.access')",
        );
        return;
    }
    if let Some(functions) = config.remove("functions") {
        if functions.as_array().is_some_and(|a| !a.is_empty()) {
            tracing::warn!(
                "[{name}] 'config.functions' will be deprecated in favour of 'config.access'"
            );
            config.insert("access".into(), functions);
        }
    }
    schema::fill_defaults(&config_fields[..PHASES.len()], config);
    if !PHASES.iter().any(|p| non_empty(config, p)) {
        let list: Vec<String> = PHASES.iter().map(|p| format!("'config.{p}'")).collect();
        super::entity_error(
            errors,
            format!(
                "at least one of these fields must be non-empty: {}",
                list.join(", ")
            ),
        );
    }
}

/// Every function must compile; errors are reported per array position, in
/// Kong's words (`error parsing pre-function: [string "print("]:1: …`).
/// A value like `@custom-auth.lua` is what curl sends when `--data` is used
/// for a file upload: the message says how to send the file's content.
fn check_functions(
    plugin: &str,
    config: &Map<String, Value>,
    enabled: bool,
    errors: &mut Map<String, Value>,
) {
    let mut config_errors = Map::new();
    for phase in PHASES.iter().chain(["functions"].iter()) {
        let Some(Value::Array(items)) = config.get(*phase) else {
            continue;
        };
        let mut per_item = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(code) = item.as_str() else { continue };
            if let Some(msg) = function_error(plugin, phase, code, enabled) {
                per_item.resize(i, Value::Null);
                per_item.push(Value::String(msg));
            }
        }
        if !per_item.is_empty() {
            config_errors.insert(phase.to_string(), Value::Array(per_item));
        }
    }
    if !config_errors.is_empty() {
        errors.insert("config".into(), Value::Object(config_errors));
    }
}

fn function_error(plugin: &str, phase: &str, code: &str, enabled: bool) -> Option<String> {
    let trimmed = code.trim();
    if let Some(file) = trimmed.strip_prefix('@') {
        if !file.is_empty() && !file.contains(char::is_whitespace) {
            return Some(format!(
                "'{trimmed}' is a file name, not Lua code: curl sent it as text. \
                 To upload the file's content use --form 'config.{phase}[]=@{file}' \
                 or --data-urlencode 'config.{phase}[]@{file}'"
            ));
        }
    }
    if enabled && crate::plugins::sandbox::settings().mode == crate::plugins::sandbox::Mode::Off {
        return Some(format!(
            "error parsing {plugin}: {}",
            crate::plugins::sandbox::OFF_MESSAGE
        ));
    }
    lua_stdlib::Chunk::compile(code.as_bytes(), code)
        .err()
        .map(|e| format!("error parsing {plugin}: {}", luajit_eof(&e.message)))
}

/// LuaJIT, and so Kong, quotes the end of input as a token
/// (`near '<eof>'`); Lua 5.4 writes it bare (`near <eof>`).
fn luajit_eof(message: &str) -> String {
    match message.strip_suffix("near <eof>") {
        Some(head) => format!("{head}near '<eof>'"),
        None => message.to_string(),
    }
}
