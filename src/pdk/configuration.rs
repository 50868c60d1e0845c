//! `kong.configuration`: the node's settings, read-only, as Kong's
//! `kong.conf` names them where lunagate has the same setting, and under
//! lunagate's own names (`lua_*`) otherwise.
//!
//! What functions see is already redacted, as Kong's sandbox gives them
//! `remove_sensitive()`'s copy: a sensitive setting that is set reads as
//! `******` (Kong's list, plus lunagate's `admin_token`). The table is a
//! proxy: writing to it raises Kong's "cannot write to configuration",
//! and what it reads through is frozen with the rest of the PDK.
//!
//! Built once at start-up from the `serve` flags ([`set`]); a VM made
//! without it (unit tests) sees the defaults.

use std::sync::OnceLock;

use lua_stdlib::{Callback, CallbackReturn, Context, Table, Value};

use super::glue::{self, Glue};
use crate::config::ServeConfig;

/// Kong's `CONF_SENSITIVE_PLACEHOLDER`.
const REDACTED: &str = "******";

/// Settings whose values functions never see (Kong's `CONF_SENSITIVE`
/// and lunagate's `admin_token`).
const SENSITIVE: &[&str] = &[
    "pg_password",
    "pg_ro_password",
    "proxy_server",
    "declarative_config_string",
    "cluster_cert_key",
    "ssl_cert_key",
    "client_ssl_cert_key",
    "admin_ssl_cert_key",
    "admin_token",
];

/// nginx's `client_body_buffer_size` as Kong sets it (`8k`), when the
/// `serve` flags did not say (`--client-body-buffer-size`).
const CLIENT_BODY_BUFFER_SIZE: usize = 8 * 1024;

/// Kong's `mem_cache_size` default (`128m`): what `kong.cache` holds on
/// this node at most.
pub const MEM_CACHE_SIZE: usize = 128 * 1024 * 1024;

/// One setting's value as Lua sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    Str(String),
    Int(i64),
    /// A comma-separated list in `kong.conf`: an array of strings.
    List(Vec<String>),
    /// A set (`loaded_plugins`): names mapped to `true`.
    Set(Vec<String>),
}

/// The node's settings, in the order they were added.
#[derive(Debug, Clone)]
pub struct NodeConfiguration {
    entries: Vec<(&'static str, Setting)>,
    /// `client_body_buffer_size` in bytes.
    body_buffer: usize,
}

static NODE: OnceLock<NodeConfiguration> = OnceLock::new();

/// Records the node's settings once at start-up.
pub fn set(conf: NodeConfiguration) {
    let _ = NODE.set(conf);
}

fn node() -> &'static NodeConfiguration {
    NODE.get_or_init(NodeConfiguration::defaults)
}

/// nginx's `client_body_buffer_size`: a request body larger than this is
/// one Kong would have spooled to a file, which
/// `kong.request.get_raw_body()` and `get_body()` report as Kong does.
pub fn client_body_buffer_size() -> usize {
    node().body_buffer
}

impl NodeConfiguration {
    /// The settings that do not depend on the `serve` flags.
    fn defaults() -> NodeConfiguration {
        let mut c = NodeConfiguration {
            entries: Vec::new(),
            body_buffer: 0,
        };
        c.set_body_buffer(CLIENT_BODY_BUFFER_SIZE);
        c.add("plugins", Setting::List(vec!["bundled".into()]));
        c.add(
            "loaded_plugins",
            Setting::Set(
                crate::entities::plugins::loaded()
                    .iter()
                    .map(|n| n.to_string())
                    .collect(),
            ),
        );
        c.add(
            "mem_cache_size",
            Setting::Str(format!("{}m", MEM_CACHE_SIZE >> 20)),
        );
        c.add("db_cache_ttl", Setting::Int(0));
        c.add("db_cache_neg_ttl", Setting::Int(0));
        c.add("role", Setting::Str("traditional".into()));
        c
    }

    /// The node's settings from its `serve` flags.
    pub fn from_serve(config: &ServeConfig) -> NodeConfiguration {
        let mut c = NodeConfiguration::defaults();
        c.add("plugins", Setting::List(config.plugins.given.clone()));
        c.add(
            "prefix",
            Setting::Str(config.data_dir.display().to_string()),
        );
        let mut proxy = vec![config.proxy_listen.to_string()];
        if let Some(tls) = config.proxy_listen_tls.0 {
            proxy.push(format!("{tls} http2 ssl"));
        }
        c.add("proxy_listen", Setting::List(proxy));
        c.add(
            "admin_listen",
            Setting::List(vec![config.admin_listen.to_string()]),
        );
        c.add(
            "nginx_worker_processes",
            Setting::Str(config.workers().to_string()),
        );
        c.add("log_level", Setting::Str(config.log_level.clone()));
        let trust = config.trust();
        c.add(
            "trusted_ips",
            Setting::List(trust.trusted_ips.entries().to_vec()),
        );
        c.add(
            "real_ip_header",
            Setting::Str(trust.real_ip_header.text().to_string()),
        );
        let recursive = if trust.real_ip_recursive { "on" } else { "off" };
        c.add("real_ip_recursive", Setting::Str(recursive.into()));
        if let Some(maps) = &config.port_maps {
            let items = maps.0.iter().map(|(p, l)| format!("{p}:{l}")).collect();
            c.add("port_maps", Setting::List(items));
        }
        c.set_body_buffer(config.client_body_buffer_size);
        if config.admin_token.is_some() {
            c.add("admin_token", Setting::Str(String::new()));
        }
        c.add(
            "untrusted_lua",
            Setting::Str(config.untrusted_lua.name().to_string()),
        );
        c.add(
            "untrusted_lua_sandbox_requires",
            Setting::List(config.untrusted_lua_sandbox_requires.clone()),
        );
        c.add(
            "untrusted_lua_sandbox_environment",
            Setting::List(config.untrusted_lua_sandbox_environment.clone()),
        );
        c.add(
            "lua_instruction_limit",
            Setting::Int(i64::try_from(config.lua_instruction_limit).unwrap_or(i64::MAX)),
        );
        c.add(
            "lua_time_limit",
            Setting::Int(i64::try_from(config.lua_time_limit.as_millis()).unwrap_or(i64::MAX)),
        );
        c.add(
            "lua_memory_limit",
            Setting::Int(i64::try_from(config.lua_memory_limit).unwrap_or(i64::MAX)),
        );
        c
    }

    /// Sets `client_body_buffer_size`, under both of Kong's names, in
    /// nginx's notation (`8k`, `1m`, bytes).
    fn set_body_buffer(&mut self, bytes: usize) {
        self.body_buffer = bytes;
        let text = if bytes.is_multiple_of(1 << 20) && bytes > 0 {
            format!("{}m", bytes >> 20)
        } else if bytes.is_multiple_of(1024) && bytes > 0 {
            format!("{}k", bytes >> 10)
        } else {
            bytes.to_string()
        };
        self.add("client_body_buffer_size", Setting::Str(text.clone()));
        self.add("nginx_http_client_body_buffer_size", Setting::Str(text));
    }

    /// Adds (or replaces) a setting; a sensitive one is stored redacted.
    pub fn add(&mut self, key: &'static str, value: Setting) {
        let value = if SENSITIVE.contains(&key) {
            Setting::Str(REDACTED.into())
        } else {
            value
        };
        self.entries.retain(|(k, _)| *k != key);
        self.entries.push((key, value));
    }

    /// The settings as a plain Lua table (also `remove_sensitive()`'s copy).
    fn to_table<'gc>(&self, ctx: Context<'gc>) -> Table<'gc> {
        let t = ctx.new_table();
        for (key, value) in &self.entries {
            let v: Value<'gc> = match value {
                Setting::Str(s) => ctx.intern(s.as_bytes()).into(),
                Setting::Int(n) => Value::Integer(*n),
                Setting::List(items) => {
                    let list = ctx.new_table();
                    for (i, s) in items.iter().enumerate() {
                        let _ = list.set(ctx, i as i64 + 1, ctx.intern(s.as_bytes()));
                    }
                    list.into()
                }
                Setting::Set(items) => {
                    let set = ctx.new_table();
                    for s in items {
                        let _ = set.set(ctx, ctx.intern(s.as_bytes()), true);
                    }
                    set.into()
                }
            };
            let _ = t.set(ctx, *key, v);
        }
        t
    }
}

/// Kong's `__newindex`: the error blames the line that wrote.
static READ_ONLY: Glue = Glue::new(
    "=kong.configuration",
    "error('cannot write to configuration', 2)",
);

/// Builds `kong.configuration`.
pub fn install<'gc>(ctx: Context<'gc>, globals: Table<'gc>, kong: Table<'gc>) {
    let values = node().to_table(ctx);
    let proxy = ctx.new_table();
    let _ = proxy.set(
        ctx,
        "remove_sensitive",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            stack.replace(ctx, node().to_table(ctx));
            Ok(CallbackReturn::Return)
        }),
    );
    let mt = ctx.new_table();
    let _ = mt.set(ctx, "__index", values);
    let _ = mt.set(
        ctx,
        "__newindex",
        READ_ONLY.load(ctx, glue::private_env(ctx, globals)),
    );
    let _ = mt.set(ctx, "__metatable", false);
    let _ = proxy.set_metatable(&ctx, Some(mt));
    super::set(ctx, kong, "configuration", proxy);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_settings_are_stored_redacted() {
        let mut c = NodeConfiguration::defaults();
        c.add("admin_token", Setting::Str("secret".into()));
        c.add("pg_password", Setting::Str("hunter2".into()));
        c.add("log_level", Setting::Str("warn".into()));
        let get = |k| c.entries.iter().find(|(key, _)| *key == k).map(|(_, v)| v);
        assert_eq!(get("admin_token"), Some(&Setting::Str("******".into())));
        assert_eq!(get("pg_password"), Some(&Setting::Str("******".into())));
        assert_eq!(get("log_level"), Some(&Setting::Str("warn".into())));
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn glue_compiles() {
        glue::check_compiles(&READ_ONLY);
    }
}
