//! A stand-alone `lua` built from `lua_stdlib::cli` (the same runner as
//! `lunagate lua`), for the conformance tests and for trying things out:
//! `cargo run -p lua-stdlib --example lua -- -e 'print(1)'`.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(lua_stdlib::cli::main(args));
}
