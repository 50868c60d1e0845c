//! A stand-alone `lua` (`luanext`) built from `lua_next::cli` (the same runner as
//! `lunagate lua`), for the conformance tests and for trying things out:
//! `cargo run -p lua-next --example luanext -- -e 'print(1)'`.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(lua_next::cli::main(args));
}
