//! Deep source: what lua5.4 parses in a loop compiles and runs at any
//! length; what truly nests stops where lua5.4 stops, with its
//! `C stack overflow`, and never overflows the Rust stack (issue 6).
//!
//! Each case runs on a thread with a 2 MiB stack, what the Admin API's
//! blocking threads and tokio's workers have. In this unoptimized build the
//! deepest accepted nesting takes up to about 1.3 MiB of it (optimized:
//! about 0.35 MiB).

use super::{compile, tests::run};

/// Stack of the threads the cases run on.
const STACK: usize = 2 << 20;

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic, no overflow")
}

/// Runs `src` on a small stack: its results, or its error.
fn run_small(src: String) -> Result<String, String> {
    on_small_stack(move || run(&src))
}

fn compile_small(src: String) -> Result<(), String> {
    on_small_stack(move || {
        compile(src.as_bytes(), "=deep")
            .map(|_| ())
            .map_err(|e| e.message)
    })
}

/// Shapes lua5.4 reads with a loop, `n` long, and what they return.
fn loop_shapes(n: usize) -> Vec<(&'static str, String, String)> {
    let n_str = n.to_string();
    vec![
        (
            "call chain",
            format!(
                "local function f() return f end return f{} == f",
                "()".repeat(n)
            ),
            "true".into(),
        ),
        (
            "field chain",
            format!("local t = {{}} t.a = t return t{} == t", ".a".repeat(n)),
            "true".into(),
        ),
        (
            "index chain",
            format!("local t = {{}} t[1] = t return t{} == t", "[1]".repeat(n)),
            "true".into(),
        ),
        (
            "method chain",
            format!(
                "local a = {{b = {{}}}} function a.b:c() return self end a.b.d = a.b.c \
                 return a.b{} == a.b",
                ":c():d()".repeat(n / 2)
            ),
            "true".into(),
        ),
        (
            "assigned chain",
            format!(
                "local t = {{}} t.a = t t{}.b = 7 return t.b",
                ".a".repeat(n)
            ),
            "7".into(),
        ),
        (
            "sum",
            format!("return 1{}", "+1".repeat(n)),
            (n + 1).to_string(),
        ),
        (
            "sum of locals",
            format!("local x, y = 1, 1 x = x{} return x", "+y".repeat(n)),
            (n + 1).to_string(),
        ),
        (
            "mixed arithmetic",
            format!("return 0{}", "+3-2".repeat(n / 2)),
            (n / 2).to_string(),
        ),
        (
            "or",
            format!("local b = 2 local x = nil{} return x", " or b".repeat(n)),
            "2".into(),
        ),
        (
            "and",
            format!("local x = 1 x = x{} return x", " and 2".repeat(n)),
            "2".into(),
        ),
        (
            "or condition",
            format!(
                "local a if a{} then return 1 end return 2",
                " or a".repeat(n)
            ),
            "2".into(),
        ),
        (
            "and condition",
            format!(
                "local a = 1 if a{} then return 1 end return 2",
                " and a".repeat(n)
            ),
            "1".into(),
        ),
        (
            "and/or mix",
            format!(
                "local a, b = false, 3 return a{} or b",
                " and a or a".repeat(n / 2)
            ),
            "3".into(),
        ),
        (
            "equality chain",
            format!("return 1{}", " == 1".repeat(n)),
            "false".into(),
        ),
        (
            "comparison condition",
            format!(
                "local a = 1 if a{} then return 1 end return 2",
                " == a".repeat(n)
            ),
            "2".into(),
        ),
        (
            "concat of sums",
            format!("return 1{} .. 'x'", "+1".repeat(n)),
            format!("{}x", n + 1),
        ),
        (
            "statements",
            format!("local x = 0 {} return x", "x = x + 1 ".repeat(n)),
            n_str.clone(),
        ),
        (
            "elseif",
            // 5,000 arms: piccolo's jumps reach 32,767 instructions
            format!(
                "local x = 0 if x == 1 then {} else return 'else' end",
                "elseif x == 1 then ".repeat(n.min(5_000))
            ),
            "else".into(),
        ),
        (
            "table items",
            format!("return #{{{}}}", "1,".repeat(2 * n)),
            (2 * n).to_string(),
        ),
        (
            "keyed items",
            format!("local t = {{{}}} return t.k", "k = 1, ".repeat(n)),
            "1".into(),
        ),
        (
            "call arguments",
            format!("return select('#', {}1)", "1, ".repeat(200)),
            "201".into(),
        ),
        (
            "long string",
            format!("return #'{}'", "x".repeat(20 * n)),
            (20 * n).to_string(),
        ),
        (
            "long comment",
            format!("--[[{}]] return 1", "x\n".repeat(n)),
            "1".into(),
        ),
    ]
}

#[test]
fn loop_shapes_compile_and_run_at_any_length() {
    // the lengths (f()() x 5,000 crashed), ten times over
    for (name, src, want) in loop_shapes(50_000) {
        let got = run_small(src);
        assert_eq!(got.as_deref(), Ok(want.as_str()), "{name}");
    }
}

/// A name, the source nested `n` deep, the deepest `n` lua5.4 compiles.
type NestedShape = (&'static str, fn(usize) -> String, usize);

/// Truly nested shapes: the source nested `n` deep, and the deepest `n`
/// lua5.4 compiles. Measured with lua5.4 5.4.4 on the same source text:
/// `lua5.4 -e "$(python3 -c "print('x = ' + '('*196 + '1' + ')'*196)")"`
/// passes, 197 prints `lua5.4: C stack overflow` (a script's `load` starts
/// one C level deeper and stops one earlier).
fn nested_shapes() -> Vec<NestedShape> {
    vec![
        (
            "parentheses",
            |n| format!("x = {}1{}", "(".repeat(n), ")".repeat(n)),
            196,
        ),
        (
            "tables",
            |n| format!("x = {}{}", "{".repeat(n), "}".repeat(n)),
            197,
        ),
        (
            "functions",
            |n| {
                format!(
                    "x = {}1{}",
                    "function() return ".repeat(n),
                    " end".repeat(n)
                )
            },
            98,
        ),
        (
            "do blocks",
            |n| format!("{}{}", "do ".repeat(n), "end ".repeat(n)),
            198,
        ),
        (
            "concatenation",
            |n| format!("return {}'a'", "'a'..".repeat(n)),
            196,
        ),
        ("power", |n| format!("return {}2", "2^".repeat(n)), 196),
        ("negation", |n| format!("return {}1", "- ".repeat(n)), 196),
        ("not", |n| format!("return {}nil", "not ".repeat(n)), 196),
        ("length", |n| format!("return {}'x'", "#".repeat(n)), 196),
        (
            "call arguments",
            |n| format!("return {}1{}", "f(".repeat(n), ")".repeat(n)),
            196,
        ),
        (
            "keys",
            |n| format!("return {}1{}", "t[".repeat(n), "]".repeat(n)),
            196,
        ),
        (
            "if",
            |n| format!("{}x = 1 {}", "if true then ".repeat(n), "end ".repeat(n)),
            196,
        ),
        (
            "while",
            |n| format!("{}{}", "while x do ".repeat(n), "end ".repeat(n)),
            197,
        ),
        (
            "repeat",
            |n| format!("{}{}", "repeat ".repeat(n), "until true ".repeat(n)),
            197,
        ),
        (
            "local functions",
            |n| format!("{}{}", "local function f() ".repeat(n), "end ".repeat(n)),
            198,
        ),
        (
            "else",
            |n| format!("{}x = 1 {}", "if x then else ".repeat(n), "end ".repeat(n)),
            196,
        ),
        (
            "table values",
            |n| format!("x = {}1{}", "{a = ".repeat(n), "}".repeat(n)),
            196,
        ),
    ]
}

#[test]
fn nesting_stops_where_lua54_stops() {
    for (name, shape, deepest) in nested_shapes() {
        assert_eq!(compile_small(shape(deepest)), Ok(()), "{name} x {deepest}");
        for n in [deepest + 1, 10 * deepest, 100_000] {
            assert_eq!(
                compile_small(shape(n)),
                Err("C stack overflow".to_string()),
                "{name} x {n}"
            );
        }
    }
}

#[test]
fn deepest_nesting_runs() {
    let deepest = |shape: &str| {
        let (_, f, n) = nested_shapes()
            .into_iter()
            .find(|s| s.0 == shape)
            .expect("shape");
        f(n)
    };
    let src = format!("{} return x", deepest("parentheses"));
    assert_eq!(run_small(src).as_deref(), Ok("1"));
    let src = format!("{} return type(x)", deepest("tables"));
    assert_eq!(run_small(src).as_deref(), Ok("table"));
    let src = format!(
        "{} local n = 0 while type(x) == 'function' do x = x() n = n + 1 end return n, x",
        deepest("functions")
    );
    assert_eq!(run_small(src).as_deref(), Ok("98\t1"));
    let src = format!(
        "local function f(x) return x end {}",
        deepest("call arguments")
    );
    assert_eq!(run_small(src).as_deref(), Ok("1"));
    assert_eq!(
        run_small(deepest("concatenation")).as_deref(),
        Ok("a".repeat(197).as_str())
    );
    // 196 `not`s of nil, as lua5.4: false
    assert_eq!(run_small(deepest("not")).as_deref(), Ok("false"));
}

#[test]
fn limits_on_names_and_registers_are_errors() {
    // lua5.4's "too many local variables (limit is 200) in main function
    // near '='", raised by the parser (more in conformance/errors.lua)
    let locals = |n: usize| {
        (0..n)
            .map(|i| format!("local v{i} = {i} "))
            .collect::<String>()
    };
    assert_eq!(
        run_small(format!("{} return v199", locals(200))).as_deref(),
        Ok("199")
    );
    let got = run_small(locals(201));
    assert!(
        got.as_ref()
            .is_err_and(|e| e
                .ends_with("too many local variables (limit is 200) in main function near '='")),
        "{got:?}"
    );
    assert!(run_small(locals(2_000)).is_err());
    let closes = |n: usize| "local c <close> = nil ".repeat(n) + "return 1";
    assert_eq!(run_small(closes(150)).as_deref(), Ok("1"));
    assert!(run_small(closes(2_000)).is_err());
    // 255 upvalues in lua5.4
    let upvalues = |n: usize| {
        let mut s = locals(n.min(200));
        s += "return function() return 0";
        for i in 0..n.min(200) {
            s += &format!(" + v{i}");
        }
        s + " end"
    };
    assert!(run_small(upvalues(200)).is_ok());
    // 300 upvalues (150 locals from each of two levels): lua5.4's
    // "too many upvalues (limit is 255) in function at line 1 near '+'";
    // before, the 256th and later were silently read as globals (and a
    // runtime helper needed past the limit panicked)
    let a: String = (0..150).map(|i| format!("local a{i} = {i} ")).collect();
    let b: String = (0..150).map(|i| format!("local b{i} = {i} ")).collect();
    let refs: Vec<String> = (0..150)
        .map(|i| format!("a{i}"))
        .chain((0..150).map(|i| format!("b{i}")))
        .collect();
    let src = format!(
        "{a}local function f() {b}return function() return {} + g end end return f()()",
        refs.join(" + ")
    );
    // lua5.4 goes on: " near '+'"; the code generator has no tokens
    let got = run_small(src);
    assert!(
        got.as_ref().is_err_and(|e| e.ends_with(
            "[string \"local a0 = 0 local a1 = 1 local a2 = 2 local ...\"]:1: too many upvalues (limit is 255) in function at line 1"
        )),
        "{got:?}"
    );
}
