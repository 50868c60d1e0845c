mod entities;
mod proxy;
mod snapshot;
fn main() {}
