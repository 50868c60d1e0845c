//! Runs every `tests/lua/*.lua` script on the new VM (with the Full
//! profile's standard library, `env::load_stdlib_with`) and compares its output
//! with lua5.4's. The scripts cover the VM areas one by one: coercions,
//! int/float comparison, metamethods, errors with variable names,
//! closures, varargs, goto, coroutines, and the ported libraries
//! (`string_*.lua`, ...).
//!
//! The scripts of `conformance/` run through the runner in
//! `tests/conformance.rs`.
//!
//! Without `lua5.4` the comparison is skipped, except in CI (`CI=true`),
//! where it fails.

use std::cell::RefCell;
use std::path::Path;
use std::process::Command;
use std::rc::Rc;

use lua_stdlib::env::{load_stdlib_with, Output, Profile};
use lua_stdlib::{Budget, Chunk, Function, Outcome, Vm};

/// Output of `path` on our VM: what it printed, then `error: msg` if it
/// ended with an uncaught error.
fn run_ours(path: &Path) -> String {
    let source = std::fs::read(path).expect("script readable");
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let chunk = match Chunk::compile(&source, &format!("@{name}")) {
        Ok(c) => c,
        Err(e) => return format!("error: {e}\n"),
    };
    let out = Rc::new(RefCell::new(Vec::new()));
    let mut vm = Vm::new();
    let sink = out.clone();
    let f = vm.enter(|ctx| {
        let env = ctx.globals();
        load_stdlib_with(ctx, env, Profile::Full, Output::Buffer(sink));
        ctx.stash(Function::from(chunk.load(ctx, env)))
    });
    let budget = Budget {
        instructions: 2_000_000_000,
        ..Budget::default()
    };
    let mut call = vm.start(&f, (), budget);
    let tail = loop {
        match vm.run(&mut call) {
            Outcome::Finished(_) => break String::new(),
            Outcome::Error(m) => break format!("error: {m}\n"),
            Outcome::Suspended | Outcome::Waiting => continue,
        }
    };
    let mut s = String::from_utf8_lossy(&out.borrow()).into_owned();
    s.push_str(&tail);
    s
}

fn run_reference(path: &Path) -> Option<String> {
    let dir = path.parent().unwrap();
    let name = path.file_name().unwrap();
    let o = Command::new("lua5.4")
        .arg(name)
        .current_dir(dir)
        .env("TZ", "UTC")
        .output()
        .ok()?;
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let first = err.lines().next().unwrap_or("");
        let msg = first.strip_prefix("lua5.4: ").unwrap_or(first);
        s.push_str(&format!("error: {msg}\n"));
    }
    Some(s)
}

#[test]
fn scripts_match_lua54() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/lua");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/lua exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "lua"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    // LUA_STDLIB_SCRIPTS=part runs only the scripts whose name contains it.
    if let Ok(only) = std::env::var("LUA_STDLIB_SCRIPTS") {
        paths.retain(|p| p.to_string_lossy().contains(&only));
    }
    let mut failures = Vec::new();
    for p in &paths {
        let ours = run_ours(p);
        let Some(reference) = run_reference(p) else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("lua5.4 is needed in CI");
            }
            eprintln!("lua5.4 not installed: comparison skipped");
            return;
        };
        assert!(
            !reference.starts_with("error:"),
            "{}: the script itself fails under lua5.4: {reference}",
            p.display()
        );
        if ours != reference {
            failures.push(format!(
                "{}:\n--- lua5.4\n{reference}--- lua-stdlib\n{ours}",
                p.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
