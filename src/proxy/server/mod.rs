//! The gateway's own HTTP/1 server side: reading client requests (`parse`)
//! on the proxy listeners.

pub mod parse;
#[cfg(test)]
mod parse_fuzz;
