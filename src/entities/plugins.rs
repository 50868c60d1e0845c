//! The Plugin entity, the plugins this build has, which of them the node
//! loads (Kong's `plugins` setting), and their config schemas:
//! `pre-function` and `post-function` (§1.2 of the Kong reference), and
//! `rewriter` and `api-override`, Kong's test fixture plugins
//! (`spec/fixtures/custom_plugins/kong/plugins/`), loaded only when named,
//! so that Kong's specs that use them can be ported.

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

/// A plugin this build has.
#[derive(Debug)]
pub struct Known {
    pub name: &'static str,
    /// Higher runs first (Kong's `PRIORITY`).
    pub priority: i64,
    /// Loaded by Kong's `bundled` keyword. The others are Kong's test
    /// fixtures: loaded only when `--plugins` names them.
    pub bundled: bool,
    /// `protocols` when a plugin entity gives none: Kong's
    /// `typedefs.protocols` (the HTTP protocols, sorted) unless the
    /// plugin's schema has a `protocols` field with its own default.
    pub protocols: &'static [&'static str],
}

/// Kong's `typedefs.protocols` default.
const HTTP_PROTOCOLS: &[&str] = &["grpc", "grpcs", "http", "https"];

/// Every plugin this build has.
pub const KNOWN: &[Known] = &[
    Known {
        name: "pre-function",
        priority: 1_000_000,
        bundled: true,
        protocols: HTTP_PROTOCOLS,
    },
    Known {
        name: "post-function",
        priority: -1000,
        bundled: true,
        protocols: HTTP_PROTOCOLS,
    },
    // Kong's fixture: `ngx.req.set_header("rewriter", conf.value)` in the
    // rewrite phase (which runs global plugins only), priority 1000.
    Known {
        name: "rewriter",
        priority: 1000,
        bundled: false,
        protocols: HTTP_PROTOCOLS,
    },
    // Kong's fixture extending the Admin API: `GET`/`POST /routes` and
    // `GET /services` answer with `Kong-Api-Override: ok` (admin/mod.rs);
    // no handler, an empty config, and a `protocols` field of its own
    // whose default, in its order, adds the stream protocols.
    Known {
        name: "api-override",
        priority: 1000,
        bundled: false,
        protocols: &["http", "https", "tcp", "tls", "grpc", "grpcs"],
    },
];

/// The plugin of that name this build has (loaded or not).
pub fn known(name: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.name == name)
}

/// Kong's `plugins` setting: the names as given (`kong.configuration.plugins`)
/// and the plugins they load.
#[derive(Debug, Clone)]
pub struct PluginsSetting {
    pub given: Vec<String>,
    pub loaded: Vec<&'static str>,
}

/// Parses Kong's `plugins` syntax: comma-separated names, `bundled` for the
/// bundled plugins, `off` first for none (elsewhere it is ignored, as Kong
/// ignores it). A name this build does not have is refused, as Kong refuses
/// to start with one (`foo plugin is enabled but not installed`).
pub fn parse_setting(s: &str) -> Result<PluginsSetting, String> {
    let given: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    let mut loaded: Vec<&'static str> = Vec::new();
    if given.first().map(String::as_str) != Some("off") {
        for name in &given {
            let names: Vec<&'static str> = match name.as_str() {
                "off" => continue,
                "bundled" => KNOWN.iter().filter(|k| k.bundled).map(|k| k.name).collect(),
                other => match known(other) {
                    Some(k) => vec![k.name],
                    None => {
                        let have: Vec<&str> = KNOWN.iter().map(|k| k.name).collect();
                        return Err(format!(
                            "{other} plugin is enabled but not installed (this build has: \
                             {}; or 'bundled', 'off')",
                            have.join(", ")
                        ));
                    }
                },
            };
            for n in names {
                if !loaded.contains(&n) {
                    loaded.push(n);
                }
            }
        }
    }
    // Kong's order of `loaded_plugins` is a set's; ours is the build's.
    loaded.sort_by_key(|n| KNOWN.iter().position(|k| k.name == *n));
    Ok(PluginsSetting { given, loaded })
}

static LOADED: OnceLock<Vec<&'static str>> = OnceLock::new();

/// Records the node's `plugins` setting once at start-up.
pub fn configure(loaded: Vec<&'static str>) {
    let _ = LOADED.set(loaded);
}

/// The plugins this node loads (Kong's `loaded_plugins`): without
/// [`configure`], the bundled ones.
pub fn loaded() -> &'static [&'static str] {
    LOADED.get_or_init(|| KNOWN.iter().filter(|k| k.bundled).map(|k| k.name).collect())
}

pub fn is_loaded(name: &str) -> bool {
    loaded().contains(&name)
}

/// Kong's serverless plugins: pre-function and post-function.
pub fn is_serverless(name: &str) -> bool {
    matches!(name, "pre-function" | "post-function")
}

/// A stored plugin the node does not load stops the start, as it stops
/// Kong's (`error building initial plugins iterator: rewriter plugin is in
/// use but not enabled`).
pub fn check_in_use<'a>(plugins: impl Iterator<Item = &'a Plugin>) -> Result<(), String> {
    let mut missing: Vec<&str> = plugins
        .map(|p| p.name.as_str())
        .filter(|n| !is_loaded(n))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    match missing.first() {
        None => Ok(()),
        Some(name) => Err(format!(
            "error building initial plugins iterator: {name} plugin is in use but not \
             enabled (add it to --plugins / LUNAGATE_PLUGINS)"
        )),
    }
}

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
                .default(json!(HTTP_PROTOCOLS))
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

/// The plugin's `protocols` default (its [`Known::protocols`]) when the
/// entity gives none; runs before the entity's own defaults.
pub fn fill_protocols_default(obj: &mut Map<String, Value>) {
    if obj.contains_key("protocols") {
        return;
    }
    let Some(k) = obj.get("name").and_then(Value::as_str).and_then(known) else {
        return;
    };
    obj.insert("protocols".into(), json!(k.protocols));
}

/// The config schema of a plugin the node loads: for serverless functions
/// the six phase arrays, plus Kong 2.x's legacy `functions` (stored as
/// `access`, see `check`); for `rewriter`, Kong's fixture schema (`value`,
/// and `extra` defaulting to "extra"); `api-override`'s is empty.
pub fn config_fields(name: &str) -> Option<&'static [Field]> {
    static SERVERLESS: OnceLock<Vec<Field>> = OnceLock::new();
    static REWRITER: OnceLock<Vec<Field>> = OnceLock::new();
    if !is_loaded(name) {
        return None;
    }
    if name == "api-override" {
        return Some(&[]);
    }
    if name == "rewriter" {
        return Some(REWRITER.get_or_init(|| {
            vec![
                Field::new("value", FieldType::String),
                Field::new("extra", FieldType::String).default(json!("extra")),
            ]
        }));
    }
    Some(SERVERLESS.get_or_init(|| {
        PHASES
            .iter()
            .chain(["functions"].iter())
            .map(|p| Field::new(p, array_of(FieldType::String)).default(json!([])))
            .collect()
    }))
}

/// Validates a plugin body after the entity fields passed: the node must
/// load the plugin, the config must fit its schema, and serverless
/// functions cannot be scoped to a consumer. Also folds legacy `functions`
/// into `access` (Kong's 2.8 → 3.0 migration does the same).
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
    let serverless = is_serverless(&name);
    if serverless && !obj.get("consumer").unwrap_or(&Value::Null).is_null() {
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
    if !serverless {
        schema::fill_defaults(config_fields, config);
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

#[cfg(test)]
mod tests {
    use super::parse_setting;

    #[test]
    fn kongs_plugins_syntax() {
        let loaded = |s: &str| parse_setting(s).map(|p| p.loaded);
        assert_eq!(loaded("bundled"), Ok(vec!["pre-function", "post-function"]));
        assert_eq!(
            loaded(" rewriter , bundled,rewriter"),
            Ok(vec!["pre-function", "post-function", "rewriter"])
        );
        assert_eq!(loaded("post-function"), Ok(vec!["post-function"]));
        // `off` first: none; elsewhere Kong ignores it.
        assert_eq!(loaded("off"), Ok(vec![]));
        assert_eq!(loaded("off,rewriter"), Ok(vec![]));
        assert_eq!(loaded("rewriter,off"), Ok(vec!["rewriter"]));
        assert_eq!(loaded(""), Ok(vec![]));
        let err = parse_setting("bundled,key-auth").unwrap_err();
        assert!(
            err.starts_with("key-auth plugin is enabled but not installed"),
            "{err}"
        );
        assert_eq!(
            parse_setting("bundled, rewriter").unwrap().given,
            ["bundled", "rewriter"]
        );
    }
}
