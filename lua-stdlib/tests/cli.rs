//! The `lua` runner end to end (the `lua` example is `lua_stdlib::cli`, the
//! runner behind `lunagate lua`): `-e`, `-l`, scripts with `arg`, stdin,
//! error output with its traceback and exit status, against lua5.4 where
//! it is installed.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

fn lua() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    dir.join("examples").join("lua")
}

fn run_with(program: &Path, args: &[&str], stdin: &str) -> (String, String, i32) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the lua example (cargo test builds it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn run(args: &[&str], stdin: &str) -> (String, String, i32) {
    run_with(&lua(), args, stdin)
}

/// lua5.4's answer with its program name as ours (`lua:`), or `None`
/// without lua5.4 (outside CI).
fn reference(args: &[&str], stdin: &str) -> Option<(String, String, i32)> {
    if Command::new("lua5.4").arg("-v").output().is_err() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "lua5.4 is needed in CI"
        );
        return None;
    }
    let (out, err, code) = run_with(Path::new("lua5.4"), args, stdin);
    Some((out, err.replace("lua5.4: ", "lua: "), code))
}

#[test]
fn dash_e_runs_code() {
    let (out, err, code) = run(
        &[
            "-e",
            r#"local a, b = 1, 2; a, b = b, a; print(a, b, ("%5.2f"):format(3.14159), ("hello"):upper(), string.gsub("hello world", "o", "0"))"#,
        ],
        "",
    );
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("2\t1\t 3.14\tHELLO\thell0 w0rld\t2\n", "", 0)
    );
}

#[test]
fn syntax_errors_are_reported_like_lua() {
    let (out, err, code) = run(&["-e", "print("], "");
    assert_eq!(out, "");
    assert_eq!(err, "lua: (command line):1: unexpected symbol near <eof>\n");
    assert_eq!(code, 1);
}

#[test]
fn runtime_errors_print_a_traceback_and_exit_with_status_one() {
    let args = ["-e", "local function f() local x = nil; return x.y end f()"];
    let (_, err, code) = run(&args, "");
    assert_eq!(
        err,
        "lua: (command line):1: attempt to index a nil value (local 'x')\n\
         stack traceback:\n\
         \t(command line):1: in local 'f'\n\
         \t(command line):1: in main chunk\n\
         \t[C]: in ?\n"
    );
    assert_eq!(code, 1);
    if let Some(r) = reference(&args, "") {
        assert_eq!((err.as_str(), code), (r.1.as_str(), r.2));
    }
    let (_, err, code) = run(&["-e", "error('boom')"], "");
    assert!(
        err.starts_with("lua: (command line):1: boom\nstack traceback:\n"),
        "{err}"
    );
    assert!(err.ends_with("\t(command line):1: in main chunk\n\t[C]: in ?\n"));
    assert_eq!(code, 1);
    let (_, err, code) = run(&["-e", "error({})"], "");
    assert!(err.starts_with("lua: (error object is a table value)\nstack traceback:\n"));
    assert_eq!(code, 1);
    // An error object with `__tostring`: its text, no traceback.
    let args = [
        "-e",
        "error(setmetatable({}, {__tostring = function() return 'EOBJ' end}))",
    ];
    let (_, err, code) = run(&args, "");
    assert_eq!((err.as_str(), code), ("lua: EOBJ\n", 1));
    if let Some(r) = reference(&args, "") {
        assert_eq!((err.as_str(), code), (r.1.as_str(), r.2));
    }
}

#[test]
fn scripts_get_arg_and_varargs() {
    let dir = std::env::temp_dir().join(format!("lua-stdlib-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = dir.join("args.lua");
    std::fs::write(
        &script,
        "#!/usr/bin/env lua\nprint(arg[0] ~= nil, arg[1], arg[2], select('#', ...), ...)\nerror('line three')\n",
    )
    .expect("write script");
    let path = script.to_string_lossy().into_owned();
    let (out, err, code) = run(&[&path, "x", "y"], "");
    assert_eq!(out, "true\tx\ty\t2\tx\ty\n");
    assert!(
        err.starts_with(&format!("lua: {path}:3: line three\nstack traceback:\n")),
        "{err}"
    );
    assert_eq!(code, 1);
    let (_, err, code) = run(&[&dir.join("missing.lua").to_string_lossy()], "");
    assert!(err.starts_with("lua: cannot open "), "{err}");
    assert_eq!(code, 1);
    // `-l mod` requires a module into a global; `arg` counts options.
    std::fs::write(dir.join("m.lua"), "return { v = 42 }\n").expect("write module");
    let (out, err, code) = run(
        &[
            "-e",
            &format!("package.path = '{}/?.lua'", dir.display()),
            "-l",
            "m",
            "-e",
            "print(m.v, arg[0], arg[-1])",
        ],
        "",
    );
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("42\tlunagate\tnil\n", "", 0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stdin_is_the_default_chunk() {
    let (out, err, code) = run(&[], "print('from stdin', 1 + 1)\n");
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("from stdin\t2\n", "", 0)
    );
    let (_, err, code) = run(&["-"], "error('x')\n");
    assert!(
        err.starts_with("lua: stdin:1: x\nstack traceback:\n"),
        "{err}"
    );
    assert_eq!(code, 1);
}

#[test]
fn warnings_go_to_stderr_when_on() {
    let (out, err, code) = run(&["-e", "warn('a') warn('@on') warn('b', 'c') print(1)"], "");
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("1\n", "Lua warning: bc\n", 0)
    );
    let (_, err, _) = run(&["-W", "-e", "warn('x')"], "");
    assert_eq!(err, "Lua warning: x\n");
}

#[test]
fn require_dofile_and_loadfile_match_lua54() {
    let dir = std::env::temp_dir().join(format!("lua-stdlib-require-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("pkg")).expect("temp dir");
    std::fs::write(
        dir.join("mod.lua"),
        "local n = ... return { name = n, n = 1 }\n",
    )
    .unwrap();
    std::fs::write(dir.join("pkg/init.lua"), "return 'pkg init'\n").unwrap();
    std::fs::write(dir.join("noret.lua"), "NORET = (NORET or 0) + 1\n").unwrap();
    std::fs::write(dir.join("bad.lua"), "return +\n").unwrap();
    std::fs::write(dir.join("env.lua"), "return x\n").unwrap();
    let script = r#"
local m = require("mod")
print(m.name, m.n, require("mod") == m, package.loaded.mod == m)
print(require("pkg"), select(2, require("noret")), require("noret"), NORET)
package.preload.pre = function(...) return { ... } end
local p = require("pre") print(p[1], p[2])
print(pcall(require, "missing"))
print(select(2, pcall(require, "bad")):gsub("\n.*", ""))
print(dofile("mod.lua").n, loadfile("env.lua", "t", { x = 7 })())
print(loadfile("missing.lua"))
print(loadfile("mod.lua", "b"))
print(pcall(dofile, "bad.lua"))
print(package.searchpath("mod", package.path), package.searchpath("nope", "./?.lua;./?.x"))
"#;
    let args = ["-e", script];
    let ours = run_in(&dir, &args);
    if let Some(reference) = reference_in(&dir, &args) {
        assert_eq!(ours, reference);
    }
    assert_eq!(ours.2, 0, "{}", ours.1);
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_in(dir: &Path, args: &[&str]) -> (String, String, i32) {
    let out = Command::new(lua())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run lua");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn reference_in(dir: &Path, args: &[&str]) -> Option<(String, String, i32)> {
    reference(&["-v"], "")?;
    let out = Command::new("lua5.4")
        .args(args)
        .current_dir(dir)
        .env("LUA_PATH", "./?.lua;./?/init.lua")
        .env("LUA_CPATH", "")
        .output()
        .ok()?;
    Some((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    ))
}
