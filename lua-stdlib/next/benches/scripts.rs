//! VM-bound scripts from `bench/lua/` on lua-next against lua5.4, in the
//! same run: `cargo bench -p lua-next --bench scripts [-- fib arith]`.
//! Prints the best of 5 wall times and the ratio (target: at most 2.0).
//! lua5.4's time includes starting the process (about 1 ms).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lua_next::{load_minimal_base, Budget, Chunk, Function, Outcome, Vm};

const ROUNDS: usize = 5;

fn ours(source: &[u8], name: &str) -> Duration {
    let chunk = Chunk::compile(source, &format!("@{name}")).expect("compiles");
    let sink = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut vm = Vm::new();
    let f = vm.enter(|ctx| {
        let env = ctx.globals();
        load_minimal_base(ctx, env, Some(sink.clone()));
        ctx.stash(Function::from(chunk.load(ctx, env)))
    });
    let start = Instant::now();
    let mut call = vm.start(&f, (), Budget::default());
    loop {
        match vm.run(&mut call) {
            Outcome::Finished(_) => break,
            Outcome::Error(m) => panic!("{name}: {m}"),
            _ => {}
        }
    }
    start.elapsed()
}

fn reference(path: &Path) -> Option<Duration> {
    let start = Instant::now();
    let ok = Command::new("lua5.4")
        .arg(path)
        .output()
        .ok()?
        .status
        .success();
    ok.then(|| start.elapsed())
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/lua");
    let mut names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if names.is_empty() {
        names = ["fib", "arith", "methods"].map(String::from).to_vec();
    }
    println!(
        "{:<10} {:>10} {:>10} {:>7}",
        "script", "lua5.4 ms", "next ms", "ratio"
    );
    for name in names {
        let path = root.join(format!("{name}.lua"));
        let source = std::fs::read(&path).expect("script exists");
        let a = (0..ROUNDS).filter_map(|_| reference(&path)).min();
        let b = (0..ROUNDS)
            .map(|_| ours(&source, &name))
            .min()
            .expect("rounds");
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        match a {
            Some(a) => println!(
                "{name:<10} {:>10.1} {:>10.1} {:>7.2}",
                ms(a),
                ms(b),
                ms(b) / ms(a)
            ),
            None => println!("{name:<10} {:>10} {:>10.1} {:>7}", "n/a", ms(b), "n/a"),
        }
    }
}
