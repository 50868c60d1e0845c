//! Node settings: the `serve` command's flags, each also read from a
//! `LUNAGATE_<FLAG>` environment variable. Built once at start-up and passed
//! down as a typed struct; nothing else reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address the proxy accepts client traffic on. Followed by
    /// `proxy_protocol` (`"0.0.0.0:8000 proxy_protocol"`, Kong's
    /// `proxy_listen` flag), every connection must open with a PROXY
    /// protocol header (v1 or v2, as AWS NLB and HAProxy send it); one
    /// without is closed.
    #[arg(long, env = "LUNAGATE_PROXY_LISTEN", default_value = "0.0.0.0:8000", value_parser = parse_listen)]
    pub proxy_listen: Listen,

    /// Address the proxy accepts HTTPS on, as Kong's `proxy_listen …
    /// ssl` (8443); `off` disables it. Certificates come from the
    /// `certificates` and `snis` entities; without one the gateway serves a
    /// self-signed certificate generated at start. `proxy_protocol` after
    /// the address: a PROXY protocol header precedes the TLS handshake.
    #[arg(long, env = "LUNAGATE_PROXY_LISTEN_TLS", default_value = "0.0.0.0:8443", value_parser = parse_listen_tls)]
    pub proxy_listen_tls: ListenTls,

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

    /// Time an Admin API client has to send a request head, from its first
    /// byte (`60s`, `500ms`, `2m`); then the connection is closed.
    #[arg(long, env = "LUNAGATE_ADMIN_HEADER_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub admin_header_timeout: Duration,

    /// Time an Admin API connection may wait for its next request before it
    /// is closed (`60s`, `500ms`, `2m`).
    #[arg(long, env = "LUNAGATE_ADMIN_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub admin_idle_timeout: Duration,

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

    /// How long a client has to send a whole request head, as nginx's
    /// `client_header_timeout` (`60s`, `500ms`, `2m`; a bare number is
    /// seconds). A client still sending its head then gets a 408.
    #[arg(long, env = "LUNAGATE_CLIENT_HEADER_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub client_header_timeout: Duration,

    /// The longest wait between two reads of a request body, as nginx's
    /// `client_body_timeout`. A client that stops sending its body then
    /// gets a 408, and the upstream connection it held is closed.
    #[arg(long, env = "LUNAGATE_CLIENT_BODY_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub client_body_timeout: Duration,

    /// nginx's `client_body_buffer_size` (Kong's
    /// `nginx_http_client_body_buffer_size`, `8k`; `16k`, `1m`, or a bare
    /// number of bytes): a request body larger than this is one Kong would
    /// have spooled to a file, which `kong.request.get_raw_body()` and
    /// `get_body()` report as Kong does.
    #[arg(long, env = "LUNAGATE_CLIENT_BODY_BUFFER_SIZE", default_value = "8k", value_parser = parse_size)]
    pub client_body_buffer_size: usize,

    /// Kong's `trusted_ips`: addresses and CIDR blocks (IPv4 and IPv6,
    /// comma-separated; `0.0.0.0/0,::/0` trusts every peer) whose
    /// `X-Forwarded-*` headers are believed and passed upstream, and whose
    /// `real_ip_header` names the client. Unset (Kong's `NONE`): no one;
    /// clients' `X-Forwarded-Proto/Host/Port/Path/Prefix` are replaced.
    #[arg(long, env = "LUNAGATE_TRUSTED_IPS", value_name = "LIST", value_parser = crate::trust::parse_trusted_ips)]
    pub trusted_ips: Option<crate::trust::TrustedIps>,

    /// Kong's `real_ip_header`: the header in which a trusted peer names
    /// the client (`X-Real-IP`, `X-Forwarded-For` or any header name), for
    /// `X-Real-IP` upstream and `kong.client.get_forwarded_ip()`;
    /// `proxy_protocol`: the PROXY header's source (needs a listener with
    /// `proxy_protocol`).
    #[arg(long, env = "LUNAGATE_REAL_IP_HEADER", default_value = "X-Real-IP", value_parser = crate::trust::parse_real_ip_header)]
    pub real_ip_header: crate::trust::RealIpHeader,

    /// Kong's `real_ip_recursive` (`on`/`off`): `on` takes the rightmost
    /// address of `real_ip_header` that is not itself trusted; `off` the
    /// last one.
    #[arg(long, env = "LUNAGATE_REAL_IP_RECURSIVE", default_value = "off", value_name = "on|off", action = clap::ArgAction::Set, value_parser = crate::trust::parse_on_off)]
    pub real_ip_recursive: bool,

    /// Kong's `port_maps`: `PUBLISHED:LISTENING` port pairs, comma-separated
    /// (`80:8000,443:8443`), for a gateway its clients reach on other ports
    /// than it listens on (a container's published ports). The published
    /// port is the `X-Forwarded-Port` sent upstream, what
    /// `kong.request.get_forwarded_port()` returns (unless a trusted peer
    /// sent its own) and the port of `kong.log.serialize`'s `request.url`;
    /// `kong.request.get_port()` stays the listening one.
    #[arg(long, env = "LUNAGATE_PORT_MAPS", value_name = "LIST", value_parser = parse_port_maps)]
    pub port_maps: Option<PortMaps>,

    /// Lua: VM instructions one function call may run (library functions
    /// count their work too) before it is stopped with an error.
    #[arg(
        long,
        env = "LUNAGATE_LUA_INSTRUCTION_LIMIT",
        default_value_t = 1_000_000_000
    )]
    pub lua_instruction_limit: u64,

    /// Lua: running time one function call may use (`2s`, `500ms`). Time a
    /// call spends suspended while its worker serves other requests does
    /// not count.
    #[arg(long, env = "LUNAGATE_LUA_TIME_LIMIT", default_value = "2s", value_parser = parse_duration)]
    pub lua_time_limit: Duration,

    /// Lua: memory of a worker's Lua VM, in MiB; a call that takes it past
    /// this is stopped with an error and its memory collected.
    #[arg(long, env = "LUNAGATE_LUA_MEMORY_LIMIT", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub lua_memory_limit: u64,

    /// Lua: instructions a function runs before its worker serves its
    /// other requests, then continues it.
    #[arg(long, env = "LUNAGATE_LUA_SLICE", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub lua_slice: u64,

    /// Lua functions from the Admin API (Kong's `untrusted_lua`): `sandbox`
    /// runs them in Kong's sandbox; `on` gives them the whole library
    /// (`io`, `os`, `require`, `load`: they can do anything the gateway's
    /// user can); `off` refuses them at the Admin API, and stored ones fail
    /// their requests. In every mode one function's changes are not seen by
    /// another.
    #[arg(
        long,
        env = "LUNAGATE_UNTRUSTED_LUA",
        value_enum,
        default_value = "sandbox"
    )]
    pub untrusted_lua: crate::plugins::sandbox::Mode,

    /// Modules `require` may load in `sandbox` mode (comma-separated, e.g.
    /// `cjson,cjson.safe`); others raise `require 'x' not allowed within
    /// sandbox`. Allowing `os` or `io` lets functions out of the sandbox.
    #[arg(
        long,
        env = "LUNAGATE_UNTRUSTED_LUA_SANDBOX_REQUIRES",
        value_name = "MODULE",
        value_delimiter = ','
    )]
    pub untrusted_lua_sandbox_requires: Vec<String>,

    /// Dotted global names also visible in `sandbox` mode
    /// (comma-separated, e.g. `os.getenv`), read-only; their siblings stay
    /// hidden.
    #[arg(
        long,
        env = "LUNAGATE_UNTRUSTED_LUA_SANDBOX_ENVIRONMENT",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub untrusted_lua_sandbox_environment: Vec<String>,

    /// Kong's `plugins`: the plugins this node loads, comma-separated.
    /// `bundled` loads pre-function and post-function; `off` (alone)
    /// loads none; names add plugins (`bundled,rewriter`). `rewriter` is
    /// Kong's test fixture plugin, for running Kong's specs: a global one
    /// sets the request header `rewriter` to its `config.value` in the
    /// rewrite phase; `api-override`, another, adds `Kong-Api-Override: ok`
    /// to the Admin API's `/routes` and `/services` answers. Neither is
    /// ever part of `bundled`. A plugin not loaded is
    /// refused at the Admin API (Kong's `plugin 'x' not enabled; add it to
    /// the 'plugins' configuration property`), and a stored one stops the
    /// start.
    #[arg(long, env = "LUNAGATE_PLUGINS", value_name = "LIST", default_value = "bundled", value_parser = crate::entities::plugins::parse_setting)]
    pub plugins: crate::entities::plugins::PluginsSetting,

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

    /// Who may speak for the client (`--trusted-ips`, `--real-ip-header`,
    /// `--real-ip-recursive`).
    pub fn trust(&self) -> crate::trust::Trust {
        crate::trust::Trust {
            trusted_ips: self.trusted_ips.clone().unwrap_or_default(),
            real_ip_header: self.real_ip_header.clone(),
            real_ip_recursive: self.real_ip_recursive,
        }
    }

    /// Settings that contradict each other: `--real-ip-header
    /// proxy_protocol` without a listener that reads the header could never
    /// apply.
    pub fn check(&self) -> Result<(), String> {
        let reads_header = self.proxy_listen.proxy_protocol
            || self.proxy_listen_tls.0.is_some_and(|l| l.proxy_protocol);
        if self.real_ip_header.is_proxy_protocol() && !reads_header {
            return Err(
                "--real-ip-header proxy_protocol needs a listener that reads the \
                        PROXY protocol (--proxy-listen \"0.0.0.0:8000 proxy_protocol\")"
                    .into(),
            );
        }
        Ok(())
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("lunagate.redb")
    }
}

/// A proxy listener: an address and Kong's `proxy_protocol` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub addr: SocketAddr,
    /// Connections open with a PROXY protocol header.
    pub proxy_protocol: bool,
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.addr)?;
        if self.proxy_protocol {
            f.write_str(" proxy_protocol")?;
        }
        Ok(())
    }
}

/// `--proxy-listen`: `ADDRESS [proxy_protocol]`.
fn parse_listen(s: &str) -> Result<Listen, String> {
    let mut words = s.split_whitespace();
    let addr = words
        .next()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("'{s}' does not start with an address (0.0.0.0:8000)"))?;
    let mut listen = Listen {
        addr,
        proxy_protocol: false,
    };
    for flag in words {
        match flag {
            "proxy_protocol" => listen.proxy_protocol = true,
            other => {
                return Err(format!(
                    "'{other}': the only flag a proxy listener takes is 'proxy_protocol'"
                ))
            }
        }
    }
    Ok(listen)
}

/// `--port-maps`: (published, listening) port pairs, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortMaps(pub Vec<(u16, u16)>);

impl PortMaps {
    /// The port clients reach for listening port `port`.
    pub fn published(&self, port: u16) -> u16 {
        self.0
            .iter()
            .find(|(_, listening)| *listening == port)
            .map_or(port, |(published, _)| *published)
    }
}

/// Kong's `port_maps` parsing: each item `HOST_PORT:KONG_PORT`, both in
/// 1..=65535, else Kong's `invalid port mapping (`port_maps`): ITEM`.
fn parse_port_maps(s: &str) -> Result<PortMaps, String> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
    let mut maps = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let pair = item
            .split_once(':')
            .and_then(|(published, listening)| Some((port(published)?, port(listening)?)));
        match pair {
            Some(pair) => maps.push(pair),
            None => return Err(format!("invalid port mapping (`port_maps`): {item}")),
        }
    }
    Ok(PortMaps(maps))
}

/// `--proxy-listen-tls`: a listener, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct ListenTls(pub Option<Listen>);

fn parse_listen_tls(s: &str) -> Result<ListenTls, String> {
    if s.trim().eq_ignore_ascii_case("off") {
        return Ok(ListenTls(None));
    }
    parse_listen(s)
        .map(|l| ListenTls(Some(l)))
        .map_err(|e| format!("{e}, nor is it 'off'"))
}

/// An nginx setting's number and unit (`500ms` → 500, `ms`); a bare
/// number has the unit `bare`.
fn number_and_unit<'a>(s: &'a str, bare: &'a str) -> Option<(u64, &'a str)> {
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, bare),
    };
    Some((number.parse().ok()?, unit))
}

/// nginx's time syntax for a setting: `500ms`, `60s`, `2m`, or a bare number
/// of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (n, unit) = number_and_unit(s, "s")
        .ok_or_else(|| format!("'{s}' is not a duration (e.g. 60s, 500ms, 2m)"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("'{s}': the unit must be ms, s or m")),
    };
    if d.is_zero() {
        return Err("a timeout must be longer than zero".into());
    }
    Ok(d)
}

/// nginx's size syntax: `8k`, `1m`, `1g`, or a bare number of bytes.
pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (n, unit) =
        number_and_unit(s, "").ok_or_else(|| format!("'{s}' is not a size (e.g. 8k, 1m, 8192)"))?;
    let n = usize::try_from(n).map_err(|_| format!("'{s}' is too large"))?;
    let shift = match unit {
        "" => 0,
        "k" | "K" => 10,
        "m" | "M" => 20,
        "g" | "G" => 30,
        _ => return Err(format!("'{s}': the unit must be k, m or g")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_as_kong_flags_them() {
        let l = parse_listen(" 0.0.0.0:8000  proxy_protocol ").unwrap();
        assert!(l.proxy_protocol);
        assert_eq!(l.to_string(), "0.0.0.0:8000 proxy_protocol");
        assert!(!parse_listen("[::]:8000").unwrap().proxy_protocol);
        assert!(parse_listen("0.0.0.0:8000 ssl").is_err());
        assert!(parse_listen("proxy_protocol").is_err());
        let maps = parse_port_maps("80:8000, 443:8443").unwrap();
        assert_eq!(maps.0, [(80, 8000), (443, 8443)]);
        assert_eq!((maps.published(8443), maps.published(9000)), (443, 9000));
        for bad in ["80", "0:8000", "80:65536", "x:1", "80:8000:1"] {
            assert_eq!(
                parse_port_maps(bad),
                Err(format!("invalid port mapping (`port_maps`): {bad}"))
            );
        }
        assert!(parse_listen_tls("off").unwrap().0.is_none());
        let tls = parse_listen_tls("127.0.0.1:8443 proxy_protocol").unwrap();
        assert!(tls.0.unwrap().proxy_protocol);
        assert!(parse_listen_tls("of").is_err());
    }

    #[test]
    fn sizes_in_nginx_syntax() {
        assert_eq!(parse_size("8k"), Ok(8192));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("8kb").is_err());
        assert!(parse_size("k").is_err());
    }

    #[test]
    fn durations_in_nginx_syntax() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "s", "1h", "-1s", "0", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
