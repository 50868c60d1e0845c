//! The proxy: per-worker listeners, the router, upstream forwarding and
//! Kong's error pages.
//!
//! A request's path through this module: `worker` accepts it on the
//! worker's own SO_REUSEPORT socket, `forward` routes it on the current
//! configuration snapshot (`router`), builds the upstream request (`path`,
//! `headers`), sends it through the worker's connection `pool` and streams
//! the response back (`body`); failures become Kong's error responses
//! (`errors`).

pub mod body;
pub mod client;
pub mod errors;
pub mod forward;
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
