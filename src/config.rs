//! Node settings: the `serve` command's flags, each also read from a
//! `LUNAGATE_<FLAG>` environment variable. Built once at start-up and passed
//! down as a typed struct; nothing else reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address the proxy accepts client traffic on.
    #[arg(long, env = "LUNAGATE_PROXY_LISTEN", default_value = "0.0.0.0:8000")]
    pub proxy_listen: SocketAddr,

    /// Address of the Admin API. Like Kong, it listens on loopback only by
    /// default: anyone who reaches it can run code on the gateway.
    #[arg(long, env = "LUNAGATE_ADMIN_LISTEN", default_value = "127.0.0.1:8001")]
    pub admin_listen: SocketAddr,

    /// An origin (`https://ui.example.com`) whose web pages may call the
    /// Admin API: its requests are accepted and get CORS headers. Repeat
    /// the flag or separate origins with commas; `*` allows every origin
    /// (Kong's behaviour: any web page can then drive the gateway). Without
    /// it, browsers get no CORS headers and cross-origin requests get a 403.
    #[arg(
        long = "admin-allow-origin",
        env = "LUNAGATE_ADMIN_ALLOW_ORIGIN",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub admin_allow_origins: Vec<String>,

    /// A host name the Admin API answers to (its `Host` header), besides
    /// `localhost` and IP literals: other names get a 403, which defeats
    /// DNS rebinding. Repeat or separate with commas; `*` allows any name.
    #[arg(
        long = "admin-allow-host",
        env = "LUNAGATE_ADMIN_ALLOW_HOST",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub admin_allow_hosts: Vec<String>,

    /// A token every Admin API request must carry, as
    /// `Authorization: Bearer <token>` (or `Kong-Admin-Token: <token>`);
    /// others get a 401. Prefer the environment variable: command lines are
    /// visible to every user of the machine.
    #[arg(long, env = "LUNAGATE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Directory holding the configuration database (`lunagate.redb`).
    /// Created if missing.
    #[arg(long, env = "LUNAGATE_DATA_DIR", default_value = "./lunagate-data")]
    pub data_dir: PathBuf,

    /// Proxy worker threads, each with its own event loop, Lua VM and
    /// upstream connection pool. Defaults to the number of CPU cores.
    #[arg(long, env = "LUNAGATE_WORKERS")]
    pub workers: Option<usize>,

    /// Log filter: error, warn, info, debug, trace (or a tracing
    /// `EnvFilter` directive such as `lunagate=debug`).
    #[arg(long, env = "LUNAGATE_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl ServeConfig {
    pub fn workers(&self) -> usize {
        self.workers.filter(|w| *w > 0).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("lunagate.redb")
    }
}
