//! Where lua5.4.4 (the `lua5.4` our scripts are compared with) has a bug
//! that 5.4.8 (the official suite) fixed, lua-stdlib follows 5.4.8. The
//! oracle cannot check these, so each case states 5.4.8's answer here; the
//! comment names the official test that checks the same thing.

use std::cell::RefCell;
use std::rc::Rc;

use lua_stdlib::env::{load_stdlib_with, Output, Profile};
use lua_stdlib::{Budget, Chunk, Function, Outcome, Vm};

/// What `src` prints on our VM (its uncaught error as `error: msg`).
fn run(src: &str) -> String {
    let chunk = match Chunk::compile(src.as_bytes(), "=test") {
        Ok(c) => c,
        Err(e) => return format!("compile: {e}\n"),
    };
    let out = Rc::new(RefCell::new(Vec::new()));
    let mut vm = Vm::new();
    let sink = out.clone();
    let f = vm.enter(|ctx| {
        let env = ctx.globals();
        load_stdlib_with(ctx, env, Profile::Full, Output::Buffer(sink));
        ctx.stash(Function::from(chunk.load(ctx, env)))
    });
    let mut call = vm.start(&f, (), Budget::default());
    let tail = loop {
        match vm.run(&mut call) {
            Outcome::Suspended => continue,
            Outcome::Finished(_) => break String::new(),
            Outcome::Error(e) => break format!("error: {e}\n"),
            o => break format!("{o:?}\n"),
        }
    };
    let printed = String::from_utf8_lossy(&out.borrow()).into_owned();
    printed + &tail
}

/// A chunk with more than 256 constants, then `tail`.
fn many_constants(tail: &str) -> String {
    let mut src = String::from("local x = {");
    for i in 1..=257 {
        src.push_str(&format!("{i}.1,"));
    }
    src.push_str("};");
    src.push_str(tail);
    src
}

#[test]
fn bitwise_constants_past_the_k_range_keep_operand_order() {
    // constructs.lua:126 ("bug since 5.4.0"); 5.4.4 prints 0
    let src = many_constants(
        "print(1 ~ (2 or 3), 1 | (2 or 3), 1 + (2 or 3), 1 << (2 or 3), (2 or 3) ~ 1)",
    );
    assert_eq!(run(&src), "3\t3\t3\t4\t3\n");
}

#[test]
fn a_comparison_as_an_upvalue_index_is_a_boolean_key() {
    // closure.lua:8 ("bug in 5.4.7")
    let src = "_ENV[true] = 10\n\
               local function aux () return _ENV[1 < 2] end\n\
               print(aux())\n\
               local t = {[false] = 'f'}\n\
               local function g(a) return t[a > 1], t[a ~= a] end\n\
               print(g(0))";
    assert_eq!(run(src), "10\nf\tf\n");
}

#[test]
fn only_the_variable_env_makes_a_global_name() {
    // errors.lua:144 ("bug in 5.4.6") and :147 ("similar bug in 5.4.7")
    let out = run(
        "print(pcall(load('a = {_ENV = {}}; print(a._ENV.x + 1)')))\n\
         print(pcall(load(\"print(('_ENV').x + 1)\")))\n\
         print(pcall(load('local _ENV = {print = print}; return x + 1')))",
    );
    assert_eq!(
        out,
        "false\t[string \"a = {_ENV = {}}; print(a._ENV.x + 1)\"]:1: attempt to perform arithmetic on a nil value (field 'x')\n\
         false\t[string \"print(('_ENV').x + 1)\"]:1: attempt to perform arithmetic on a nil value (field 'x')\n\
         false\t[string \"local _ENV = {print = print}; return x + 1\"]:1: attempt to perform arithmetic on a nil value (global 'x')\n"
    );
}

#[test]
fn integer_division_by_zero_names_its_own_line() {
    // errors.lua:440 (5.4.4 reports the line of the last saved pc)
    let out = run(
        "print(pcall(load('local a = 0\\nlocal b = 1\\nlocal c = b % a\\n')))\n\
         print(pcall(load('local a = 0\\nlocal b = 1\\nlocal c = b // a\\n')))",
    );
    assert_eq!(
        out,
        "false\t[string \"local a = 0...\"]:3: attempt to perform 'n%0'\n\
         false\t[string \"local a = 0...\"]:3: attempt to divide by zero\n"
    );
}

#[test]
fn assigning_a_compile_time_constant_fails_to_compile() {
    // constructs.lua:236 and attrib.lua:446
    let out = run("print(load('local xxx <const> = 20; xxx = 10'))\n\
         print(load('local x <const> = 1; local function f() return function() x = 2 end end'))\n\
         local function foo() local _ENV <const> = 11; X = 'hi' end\n\
         print(pcall(foo))");
    assert_eq!(
        out,
        "nil\t[string \"local xxx <const> = 20; xxx = 10\"]:1: attempt to assign to const variable 'xxx'\n\
         nil\t[string \"local x <const> = 1; local function f() retur...\"]:1: attempt to assign to const variable 'x'\n\
         false\ttest:3: attempt to index a number value\n"
    );
}

#[test]
fn a_call_spanning_lines_errors_at_the_line_of_its_arguments() {
    // errors.lua:411-428 (5.4.8's `funcargs` takes the line of `(`; 5.4.4
    // gives the line where the called expression starts)
    let out = run("print(pcall(load('a\\n(\\n23)\\n')))\n\
         print(pcall(load('local a = {x = 13}\\na\\n.\\nx\\n(\\n23\\n)')))\n\
         print(pcall(load('local a = {}\\na:x\\n(\\n23)')))\n\
         print(pcall(load('local a = {}\\na:x\\n\"s\"')))\n\
         print(pcall(load('local a = {}\\na\\n{}')))\n\
         print(load('f\\n(1,\\n2'))");
    assert_eq!(
        out,
        "false\t[string \"a...\"]:2: attempt to call a nil value (global 'a')\n\
         false\t[string \"local a = {x = 13}...\"]:5: attempt to call a number value (field 'x')\n\
         false\t[string \"local a = {}...\"]:3: attempt to call a nil value (method 'x')\n\
         false\t[string \"local a = {}...\"]:3: attempt to call a nil value (method 'x')\n\
         false\t[string \"local a = {}...\"]:3: attempt to call a table value (local 'a')\n\
         nil\t[string \"f...\"]:3: ')' expected (to close '(' at line 2) near <eof>\n"
    );
}
