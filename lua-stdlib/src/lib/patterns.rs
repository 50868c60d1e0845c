//! Lua patterns.
