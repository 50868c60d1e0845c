//! The conformance suite: every `conformance/*.lua` script runs on our Lua
//! (the `lua` example, i.e. `lunagate lua`) and on PUC `lua5.4`, from inside
//! `conformance/`, and the two standard outputs (and success) must agree.
//!
//! - A script with a checked-in `NAME.expected` file (LuaJIT compatibility,
//!   which lua5.4 lacks) is compared against that file instead.
//! - `conformance/deviations.txt` lists known deviations, one per line as
//!   `script.lua: reason`. A listed script must still differ: when it starts
//!   matching, the test fails until its line is removed, so the list only
//!   shrinks.
//!
//! Run: `cargo test -p lua-stdlib --test conformance` (needs `lua5.4` on
//! PATH; `.ci/run` installs it).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Longest a script may run on either interpreter.
const TIME_LIMIT: Duration = Duration::from_secs(60);

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance")
}

/// The `lua` example binary, which `cargo test` builds next to this test.
fn our_lua() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let lua = dir.join("examples").join("lua");
    assert!(
        lua.exists(),
        "{} missing: run `cargo build -p lua-stdlib --example lua` (cargo test builds it)",
        lua.display()
    );
    lua
}

struct Outcome {
    stdout: String,
    stderr: String,
    success: bool,
}

fn run(program: &Path, script: &str) -> Outcome {
    let mut child = Command::new(program)
        .arg(script)
        .current_dir(conformance_dir())
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    // Read the pipes on threads so a chatty script cannot block on them.
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for script") {
            break Some(status);
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = String::from_utf8_lossy(&out_thread.join().unwrap_or_default()).into_owned();
    let mut stderr = String::from_utf8_lossy(&err_thread.join().unwrap_or_default()).into_owned();
    if status.is_none() {
        stderr.push_str("\n(timed out)");
    }
    Outcome {
        stdout,
        stderr,
        success: status.is_some_and(|s| s.success()),
    }
}

/// `script.lua: reason` lines; `#` starts a comment.
fn deviations() -> BTreeMap<String, String> {
    let text =
        std::fs::read_to_string(conformance_dir().join("deviations.txt")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, reason) = l.split_once(':').unwrap_or((l, ""));
            (name.trim().to_string(), reason.trim().to_string())
        })
        .collect()
}

/// The first differing line, for the failure report.
fn first_difference(ours: &str, reference: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), reference.lines().collect());
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i), b.get(i));
        if x != y {
            return format!(
                "line {}:\n      ours:      {}\n      reference: {}",
                i + 1,
                x.unwrap_or(&"<none>"),
                y.unwrap_or(&"<none>")
            );
        }
    }
    "outputs equal; exit status differs".to_string()
}

#[test]
fn conformance_scripts_match_reference() {
    let dir = conformance_dir();
    let mut scripts: Vec<String> = std::fs::read_dir(&dir)
        .expect("conformance directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".lua"))
        .collect();
    scripts.sort();
    assert!(!scripts.is_empty(), "no conformance scripts");

    let ours_bin = our_lua();
    let known = deviations();
    for name in known.keys() {
        assert!(
            scripts.contains(name),
            "deviations.txt lists {name}, which does not exist"
        );
    }
    let mut failures = Vec::new();
    let mut table = String::new();
    for script in &scripts {
        let expected_file = dir.join(script.replace(".lua", ".expected"));
        let (reference, reference_ok) = if expected_file.exists() {
            (
                std::fs::read_to_string(&expected_file).expect("expected file"),
                true,
            )
        } else {
            let r = run(Path::new("lua5.4"), script);
            assert!(
                r.success,
                "{script} fails on lua5.4 itself (is lua5.4 installed?):\n{}",
                r.stderr
            );
            (r.stdout, r.success)
        };
        let ours = run(&ours_bin, script);
        let matches = ours.stdout == reference && ours.success == reference_ok;
        let status = match (matches, known.get(script)) {
            (true, None) => "pass",
            (false, Some(_)) => "known deviation",
            (true, Some(_)) => {
                failures.push(format!(
                    "{script} now matches lua5.4: remove it from conformance/deviations.txt"
                ));
                "FIXED (remove deviation)"
            }
            (false, None) => {
                failures.push(format!(
                    "{script} differs from the reference at {}\n    stderr: {}",
                    first_difference(&ours.stdout, &reference),
                    ours.stderr.trim()
                ));
                "FAIL"
            }
        };
        table.push_str(&format!("  {script:<28} {status}\n"));
    }
    eprintln!("conformance:\n{table}");
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
