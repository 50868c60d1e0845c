//! The proxy: listeners, router, upstream forwarding, error pages.
pub mod router;
