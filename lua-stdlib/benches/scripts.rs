//! Scripts from `bench/lua/` on lua-stdlib against lua5.4, in the same run:
//! `cargo bench -p lua-stdlib --bench scripts [-- fib arith]`. Prints the
//! best of 5 wall times and the ratio. Targets: at most 2.0 for VM-bound
//! scripts (`fib arith methods tables closures`, and `sort_strings`, a
//! sort with a Lua comparator), at most 1.2 for library work
//! (`sort_numbers concat format gsub`). lua5.4's time includes starting the process
//! (about 1 ms). The ported libraries are loaded over the minimal base.
//!
//! Besides wall time it prints CPU time (from `/proc`: this thread's run
//! time, and the children's user+system time at 10 ms resolution), whose
//! ratio stays meaningful when other work shares the machine.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lua_stdlib::env::{load_stdlib_with, Output, Profile};
use lua_stdlib::{Budget, Chunk, Function, Outcome, Vm};

const ROUNDS: usize = 5;

/// Wall and CPU time of one run.
#[derive(Clone, Copy)]
struct Times {
    wall: Duration,
    cpu: Option<Duration>,
}

/// This thread's CPU time so far (`/proc/thread-self/schedstat`, ns).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// CPU time of the children waited for so far (`cutime + cstime` of
/// `/proc/self/stat`, in 10 ms ticks).
fn children_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn ours(source: &[u8], name: &str) -> Times {
    let chunk = Chunk::compile(source, &format!("@{name}")).expect("compiles");
    let sink = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut vm = Vm::new();
    let f = vm.enter(|ctx| {
        let env = ctx.globals();
        load_stdlib_with(ctx, env, Profile::Full, Output::Buffer(sink.clone()));
        ctx.stash(Function::from(chunk.load(ctx, env)))
    });
    let start = Instant::now();
    let cpu = thread_cpu();
    let mut call = vm.start(&f, (), Budget::default());
    loop {
        match vm.run(&mut call) {
            Outcome::Finished(_) => break,
            Outcome::Error(m) => panic!("{name}: {m}"),
            _ => {}
        }
    }
    Times {
        wall: start.elapsed(),
        cpu: cpu.zip(thread_cpu()).map(|(a, b)| b - a),
    }
}

fn reference(path: &Path) -> Option<Times> {
    let start = Instant::now();
    let cpu = children_cpu();
    let ok = Command::new("lua5.4")
        .arg(path)
        .output()
        .ok()?
        .status
        .success();
    ok.then(|| Times {
        wall: start.elapsed(),
        cpu: cpu.zip(children_cpu()).map(|(a, b)| b - a),
    })
}

/// The best (smallest) wall time and the best CPU time of some runs.
fn best(runs: impl Iterator<Item = Times>) -> Option<Times> {
    runs.reduce(|a, b| Times {
        wall: a.wall.min(b.wall),
        cpu: match (a.cpu, b.cpu) {
            (Some(x), Some(y)) => Some(x.min(y)),
            _ => None,
        },
    })
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/lua");
    let mut names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if names.is_empty() {
        names = [
            "fib",
            "arith",
            "methods",
            "tables",
            "closures",
            "sort_numbers",
            "sort_strings",
            "concat",
            "format",
            "gsub",
        ]
        .map(String::from)
        .to_vec();
    }
    println!(
        "{:<13} {:>10} {:>10} {:>7}   {:>10} {:>10} {:>7}",
        "script", "lua5.4 ms", "next ms", "ratio", "lua cpu", "next cpu", "ratio"
    );
    for name in names {
        let path = root.join(format!("{name}.lua"));
        let source = std::fs::read(&path).expect("script exists");
        let a = best((0..ROUNDS).filter_map(|_| reference(&path)));
        let b = best((0..ROUNDS).map(|_| ours(&source, &name))).expect("rounds");
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let cols = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => format!(
                "{:>10.1} {:>10.1} {:>7.2}",
                ms(a),
                ms(b),
                ms(b) / ms(a).max(1e-3)
            ),
            (None, Some(b)) => format!("{:>10} {:>10.1} {:>7}", "n/a", ms(b), "n/a"),
            _ => format!("{:>10} {:>10} {:>7}", "n/a", "n/a", "n/a"),
        };
        println!(
            "{name:<13} {}   {}",
            cols(a.map(|t| t.wall), Some(b.wall)),
            cols(a.and_then(|t| t.cpu), b.cpu)
        );
    }
}
