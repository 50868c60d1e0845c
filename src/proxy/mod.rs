//! The proxy: per-worker listeners, the router, upstream forwarding and
//! Kong's error pages.
//!
//! A request's path through this module: `worker` accepts it on the
//! worker's own SO_REUSEPORT socket (HTTP/1.1, or h2c with prior
//! knowledge) and supervises the connection (`idle`); `dispatch` routes it
//! on the current configuration snapshot (`router`, with `normalize`d
//! paths) and runs its serverless functions (`functions`) if it has any;
//! `forward` works out the upstream path (`path`) and headers (`headers`),
//! and `client` writes it on a keep-alive connection from the worker's
//! `pool` and streams the response back (`body`); failures become Kong's
//! error responses (`errors`).
//!
//! Modules depend on each other one way: worker → dispatch → functions →
//! forward → {client → pool, errors → body → client}.
//!
//! Entry point: [`spawn_workers`].

pub mod body;
pub mod client;
pub mod dispatch;
pub mod errors;
pub mod forward;
pub mod functions;
pub mod headers;
pub mod idle;
pub mod normalize;
pub mod path;
pub mod pool;
pub mod router;
pub mod worker;

pub use worker::spawn_workers;

#[cfg(test)]
mod tests;
