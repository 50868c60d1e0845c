//! The `lunagate` command: `serve` runs the gateway (Admin API + proxy),
//! `lua` runs a Lua script the way the gateway would, for trying a function
//! before uploading it.

/// The static build replaces musl's allocator, which costs twice glibc's
/// CPU per proxied request, with a pure-Rust one (Cargo.toml; README,
/// "Benchmarks"). glibc builds keep glibc's, the fastest measured.
#[cfg(all(target_env = "musl", not(feature = "alloc-count")))]
#[global_allocator]
static ALLOCATOR: rusty_alloc_api::RustyAlloc = rusty_alloc_api::RustyAlloc;

mod admin;
#[cfg(feature = "alloc-count")]
mod alloc_count;
mod config;
mod entities;
mod pdk;
mod plugins;
mod proxy;
mod snapshot;
mod store;
mod tls;
mod trust;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use clap::{Parser, Subcommand};

use config::ServeConfig;
use snapshot::Model;

/// A Kong-compatible API gateway in one static binary.
///
/// Configure it through the Admin API (Kong's, on 127.0.0.1:8001 by default)
/// with curl or any Kong tooling; it proxies client traffic (port 8000) to
/// your services and runs your Lua `pre-function`/`post-function` plugins.
/// Entities are stored in an embedded database in --data-dir.
#[derive(Parser)]
#[command(name = "lunagate", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Built once at start-up: the size of `Serve`'s settings does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Start the gateway: the Admin API and the proxy.
    ///
    /// Example: lunagate serve --data-dir /var/lib/lunagate
    Serve(ServeConfig),
    /// Run Lua like `lua5.4` does, with lunagate's Lua runtime:
    /// `lunagate lua FILE [ARGS…]`, `lunagate lua -e 'CODE'`, or
    /// `lunagate lua` to read a script from standard input.
    #[command(disable_help_flag = true)]
    Lua {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<std::ffi::OsString>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lua { args } => std::process::ExitCode::from(run_lua(args)),
        Command::Serve(config) => match serve(config) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lunagate: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

/// `lunagate lua`, on lua-stdlib's runner. A panic inside the VM would be a
/// bug in it: the last-resort hook reports it in one line, not as a Rust
/// backtrace.
fn run_lua(args: Vec<std::ffi::OsString>) -> u8 {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("lua: internal error in the Lua VM (a bug, please report it): {what}");
    }));
    match std::panic::catch_unwind(|| lua_stdlib::cli::main(args)) {
        Ok(status) => status.clamp(0, 255) as u8,
        Err(_) => 1,
    }
}

fn serve(config: ServeConfig) -> anyhow::Result<()> {
    config.check().map_err(anyhow::Error::msg)?;
    #[cfg(feature = "alloc-count")]
    alloc_count::serve_counts();
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .with_context(|| format!("invalid --log-level '{}'", config.log_level))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let db_path = config.database_path();
    let store = Arc::new(
        store::Store::open(&db_path)
            .with_context(|| format!("cannot open database {}", db_path.display()))?,
    );
    // Before the plugins are compiled: `off` loads no function.
    plugins::sandbox::configure(plugins::sandbox::Settings {
        mode: config.untrusted_lua,
        requires: config.untrusted_lua_sandbox_requires.clone(),
        environment: config.untrusted_lua_sandbox_environment.clone(),
    });
    entities::plugins::configure(config.plugins.loaded.clone());
    let model = Model::load(&store).context("cannot load configuration")?;
    entities::plugins::check_in_use(model.plugins()).map_err(anyhow::Error::msg)?;
    plugins::sandbox::warn_hidden(model.plugins());
    let shared = Arc::new(ArcSwap::from_pointee(model.snapshot()));
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);

    match proxy::fdlimit::raise_nofile_limit() {
        Ok(limit) => {
            let show = |n: Option<u64>| n.map_or("unlimited".to_string(), |n| n.to_string());
            tracing::info!(
                "open files limit (RLIMIT_NOFILE): {} (was {})",
                show(limit.now),
                show(limit.was)
            );
        }
        Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit (RLIMIT_NOFILE)"),
    }
    trust::configure(config.trust());
    proxy::headers::set_port_maps(config.port_maps.clone().unwrap_or_default());
    pdk::configuration::set(pdk::configuration::NodeConfiguration::from_serve(&config));
    pdk::client::set_store(store.clone());
    plugins::serverless::set_limits(plugins::serverless::Limits {
        instructions: config.lua_instruction_limit,
        time: config.lua_time_limit,
        memory: usize::try_from(config.lua_memory_limit.saturating_mul(1 << 20))
            .unwrap_or(usize::MAX),
        slice: config.lua_slice,
    });
    let workers = config.workers();
    proxy::pool::set_idle_limit(workers);
    let timeouts = proxy::ClientTimeouts {
        header: config.client_header_timeout,
        body: config.client_body_timeout,
    };
    let tls_listen = config.proxy_listen_tls.0;
    if tls_listen.is_some() {
        tls::server::generate_fallback();
    }
    let proxy = proxy::spawn_workers(
        config.proxy_listen,
        tls_listen,
        workers,
        shared.clone(),
        timeouts,
        shutdown_rx.clone(),
    )
    .with_context(|| {
        format!(
            "cannot listen on {} (--proxy-listen) or {} (--proxy-listen-tls)",
            config.proxy_listen,
            tls_listen.map_or("off".to_string(), |l| l.to_string())
        )
    })?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("lunagate-admin")
        .enable_all()
        .build()
        .context("cannot start the admin runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.admin_listen)
            .await
            .with_context(|| {
                format!("cannot listen on {} (--admin-listen)", config.admin_listen)
            })?;
        let admin_addr = listener.local_addr()?;
        let node = admin::NodeInfo {
            node_id: pdk::node::id(),
            proxy_listen: proxy.local_addr,
            admin_listen: admin_addr,
            workers,
            data_dir: config.data_dir.clone(),
        };
        let access = admin::AccessPolicy::new(
            &config.admin_allow_origins,
            &config.admin_allow_hosts,
            config.admin_token.clone(),
        );
        if config.admin_token.is_none() && !admin_addr.ip().is_loopback() {
            tracing::warn!(
                "the Admin API listens on {admin_addr} without --admin-token: \
                 whoever reaches it can run code on the gateway"
            );
        }
        let admin = Arc::new(admin::Admin::new(
            store.clone(),
            shared,
            model,
            node,
            access,
        ));
        // Tests and scripts read these lines to find ephemeral ports. A
        // reader that went away (a closed stdout) is no reason to stop.
        {
            use std::io::Write as _;
            let version = env!("CARGO_PKG_VERSION");
            let tls = proxy.tls_addr.map_or_else(
                || "proxy TLS off".to_string(),
                |a| format!("proxy TLS listening on {a}"),
            );
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "lunagate {version} proxy listening on {}",
                proxy.local_addr
            );
            let _ = writeln!(out, "lunagate {version} admin listening on {admin_addr}");
            let _ = writeln!(out, "lunagate {version} {tls}");
            let _ = out.flush();
        }
        tracing::info!(workers, data = %db_path.display(), "lunagate started");
        let timeouts = admin::Timeouts {
            header: config.admin_header_timeout,
            idle: config.admin_idle_timeout,
        };
        let server = tokio::spawn(admin::serve(listener, admin, timeouts, shutdown_rx));
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = shutdown_tx.send(true);
        let _ = server.await;
        anyhow::Ok(())
    })?;
    runtime.shutdown_timeout(Duration::from_secs(5));
    proxy.join();
    drop(store);
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
