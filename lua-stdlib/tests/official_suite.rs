//! The official Lua 5.4 test suite's portable core, run with
//! `conformance/run-suite.sh` on our Lua.
//!
//! The suite (Lua 5.4.8's `testes/`, from PyPI's lupa 2.8 sdist) is fetched
//! at test time by `conformance/fetch-official.sh` into
//! `target/lua54-testes` (or taken from `$LUA54_TESTES`); without network
//! the test reports that and passes. It prints the per-file table, and fails
//! if a file that passed before (`PASSING`) stops passing.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

/// The portable core named by issue 3.
const CORE: &[&str] = &[
    "bitwise",
    "constructs",
    "events",
    "goto",
    "literals",
    "math",
    "nextvar",
    "pm",
    "sort",
    "strings",
    "tpack",
    "utf8",
    "vararg",
];

/// Core files that pass today: they must keep passing.
const PASSING: &[&str] = &[
    "literals", "pm", "sort", "strings", "tpack", "utf8", "vararg",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

fn say(text: &str) {
    // Straight to the process's stderr, past the test harness's capture, so
    // CI logs show the table.
    let _ = std::io::stderr().write_all(text.as_bytes());
}

#[test]
fn official_suite_portable_core() {
    let dir = match std::env::var_os("LUA54_TESTES") {
        Some(d) => PathBuf::from(d),
        None => target_dir().join("lua54-testes"),
    };
    if !dir.join("pm.lua").exists() {
        let fetched = Command::new("timeout")
            .arg("300")
            .arg(repo().join("conformance/fetch-official.sh"))
            .arg(&dir)
            .status();
        if !matches!(fetched, Ok(s) if s.success()) || !dir.join("pm.lua").exists() {
            say("official Lua 5.4 suite: could not fetch it (no network?); skipped\n");
            return;
        }
    }
    // Only the portable core: stage it in its own directory with the
    // helper files the scripts `require` or read.
    let stage = target_dir().join("lua54-testes-core");
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(&stage).expect("stage dir");
    for entry in std::fs::read_dir(&dir).expect("suite dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stem = name.trim_end_matches(".lua");
        let keep = !name.ends_with(".lua") || CORE.contains(&stem) || stem == "bwcoercion";
        if keep && entry.path().is_file() {
            std::fs::copy(entry.path(), stage.join(&name)).expect("copy suite file");
        }
    }
    let lua = target_dir().join("debug/examples/lua");
    let lua = if lua.exists() {
        lua
    } else {
        target_dir().join("release/examples/lua")
    };
    let out = Command::new(repo().join("conformance/run-suite.sh"))
        .arg(&stage)
        .env("LUA", &lua)
        .env("TIMEOUT", "120")
        .output()
        .expect("run-suite.sh");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    say(&format!("official Lua 5.4 suite, portable core:\n{table}"));
    let mut regressions = Vec::new();
    for file in PASSING {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("{file}.lua ")))
            .unwrap_or("");
        if !line.contains(" pass ") {
            regressions.push(format!("{file}.lua no longer passes: {line}"));
        }
    }
    assert!(regressions.is_empty(), "{}", regressions.join("\n"));
}
