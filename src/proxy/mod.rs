//! The proxy: per-worker listeners, the router, upstream forwarding and
//! Kong's error pages.
//!
//! A request's path through this module: `worker` accepts it on the
//! worker's own SO_REUSEPORT socket (HTTP/1.1, or h2c with prior
//! knowledge) and supervises the connection (`idle`); `dispatch` routes it
//! on the current configuration snapshot (`router`, with `normalize`d
//! paths) and sends it down the one request path, `pipeline::run`, with
//! the route's hooks: none (`NoHooks`), or its serverless functions
//! (`functions`: rewrite, access, header_filter; `filter`: body_filter and
//! log on the body); `forward` works out the upstream path (`path`) and
//! headers (`headers`), and `client` writes it on a keep-alive connection
//! from the worker's `pool` and streams the response back (`body`);
//! failures become Kong's error responses (`errors`). `context` is what
//! a worker owns.
//!
//! Modules depend on each other one way: worker → dispatch → {functions
//! → filter, pipeline → forward → {client → pool, errors → body →
//! client}}; `functions` implements `pipeline::Hooks` and never calls
//! `forward`, which knows nothing of functions.
//!
//! Entry point: [`spawn_workers`].

pub mod balancer;
pub mod body;
pub mod client;
pub mod context;
pub mod dispatch;
pub mod errors;
pub mod fdlimit;
pub mod filter;
pub mod forward;
pub mod framing;
pub mod functions;
pub mod headers;
pub mod idle;
pub mod inbound;
pub mod normalize;
pub mod path;
pub mod pipeline;
pub mod pool;
pub mod proxy_protocol;
pub mod refused;
pub mod router;
pub mod server;
pub mod short_copy;
pub mod stats;
pub mod worker;

pub use worker::spawn_workers;

#[cfg(test)]
mod fuzz;

use std::time::Duration;

/// How long the proxy waits on a client (the `serve` flags of the same
/// names).
#[derive(Debug, Clone, Copy)]
pub struct ClientTimeouts {
    /// To send a whole request head (HTTP/1).
    pub header: Duration,
    /// Between two reads of a request body.
    pub body: Duration,
}

impl Default for ClientTimeouts {
    /// nginx's defaults.
    fn default() -> Self {
        ClientTimeouts {
            header: Duration::from_secs(60),
            body: Duration::from_secs(60),
        }
    }
}

#[cfg(test)]
mod tests;
