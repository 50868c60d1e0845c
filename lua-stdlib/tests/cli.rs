//! The `lua` runner end to end (the `lua` example is `lunagate lua`):
//! `-e`, scripts with `arg`, stdin, error output and exit status.

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

fn run(args: &[&str], stdin: &str) -> (String, String, i32) {
    let mut child = Command::new(lua())
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
fn runtime_errors_exit_with_status_one() {
    let (_, err, code) = run(&["-e", "error('boom')"], "");
    assert_eq!(err, "lua: (command line):1: boom\n");
    assert_eq!(code, 1);
    let (_, err, code) = run(&["-e", "error({})"], "");
    assert_eq!(err, "lua: (error object is a table value)\n");
    assert_eq!(code, 1);
}

#[test]
fn scripts_get_arg_and_varargs() {
    let dir = std::env::temp_dir().join(format!("lua-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = dir.join("args.lua");
    std::fs::write(&script, "#!/usr/bin/env lua\nprint(arg[0] ~= nil, arg[1], arg[2], select('#', ...), ...)\nerror('line three')\n")
        .expect("write script");
    let path = script.to_string_lossy().into_owned();
    let (out, err, code) = run(&[&path, "x", "y"], "");
    assert_eq!(out, "true\tx\ty\t2\tx\ty\n");
    assert_eq!(err, format!("lua: {path}:3: line three\n"));
    assert_eq!(code, 1);
    let (_, err, code) = run(&[&dir.join("missing.lua").to_string_lossy()], "");
    assert!(err.starts_with("lua: cannot open "), "{err}");
    assert_eq!(code, 1);
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
    assert_eq!((err.as_str(), code), ("lua: stdin:1: x\n", 1));
}
