//! What the ported `table`, `math`, `bit` and `utf8` libraries promise
//! beyond lua5.4's output (which `tests/scripts.rs` compares): library work
//! is charged to the instruction budget and stops between budget slices, a
//! huge `table.concat` is a catchable memory error, and `bit` computes as
//! LuaJIT does (lua5.4 has no `bit` to compare with).

use std::cell::RefCell;
use std::rc::Rc;

use lua_stdlib::env::{load_stdlib_with, Output, Profile};
use lua_stdlib::{Budget, Chunk, Function, Outcome, Vm};

/// A VM with the minimal base library and the ported libraries; `print`
/// writes to the returned buffer.
fn vm_with_libs() -> (Vm, Rc<RefCell<Vec<u8>>>) {
    let out = Rc::new(RefCell::new(Vec::new()));
    let mut vm = Vm::new();
    let sink = out.clone();
    vm.enter(|ctx| {
        let env = ctx.globals();
        load_stdlib_with(ctx, env, Profile::Full, Output::Buffer(sink));
    });
    (vm, out)
}

struct Run {
    output: String,
    /// The error message, if the call failed.
    error: Option<String>,
    instructions: u64,
    /// How many times the call came back suspended.
    suspensions: usize,
}

fn run_in(vm: &mut Vm, out: &Rc<RefCell<Vec<u8>>>, src: &str, budget: Budget) -> Run {
    let chunk = Chunk::compile(src.as_bytes(), "=test").expect("compiles");
    let f = vm.enter(|ctx| {
        let env = ctx.globals();
        ctx.stash(Function::from(chunk.load(ctx, env)))
    });
    out.borrow_mut().clear();
    let mut call = vm.start(&f, (), budget);
    let mut suspensions = 0;
    let error = loop {
        match vm.run(&mut call) {
            Outcome::Finished(_) => break None,
            Outcome::Error(m) => break Some(m),
            Outcome::Suspended => suspensions += 1,
            Outcome::Waiting => panic!("nothing waits for the host here"),
        }
    };
    Run {
        output: String::from_utf8_lossy(&out.borrow()).into_owned(),
        error,
        instructions: call.instructions(),
        suspensions,
    }
}

fn run(src: &str, budget: Budget) -> Run {
    let (mut vm, out) = vm_with_libs();
    run_in(&mut vm, &out, src, budget)
}

fn instructions(n: u64) -> Budget {
    Budget {
        instructions: n,
        ..Budget::default()
    }
}

#[test]
fn a_huge_move_or_unpack_is_stopped_by_the_instruction_budget() {
    let (mut vm, out) = vm_with_libs();
    for src in [
        "table.move({}, 1, 1e15, 2)",
        "table.move({}, -1e15, 1e15, 1, {})",
        "local t = setmetatable({}, {__index = function() return 1 end}) \
         table.concat(t, ',', 1, 1e12)",
        "table.unpack({}, 1, 999999)",
    ] {
        let r = run_in(&mut vm, &out, src, instructions(200_000));
        assert_eq!(
            r.error.as_deref(),
            Some("instruction budget exceeded"),
            "{src}"
        );
        assert!(r.instructions < 300_000, "{src}: {}", r.instructions);
    }
    // The VM stays usable.
    let r = run_in(
        &mut vm,
        &out,
        "print(#table.move({1, 2, 3}, 1, 3, 1, {}))",
        instructions(10_000),
    );
    assert_eq!((r.output.as_str(), r.error), ("3\n", None));
}

#[test]
fn library_work_runs_in_slices() {
    let src = "local src = {} for i = 1, 20000 do src[i] = i end \
               local dst = table.move(src, 1, #src, 1, {}) \
               table.sort(dst, function(a, b) return a > b end) \
               print(#dst, dst[1], dst[20000], table.concat(dst, ''):len())";
    let sliced = run(
        src,
        Budget {
            slice: 4_000,
            ..Budget::default()
        },
    );
    assert_eq!(sliced.error, None);
    assert_eq!(sliced.output, "20000\t20000\t1\t88894\n");
    // The move alone is 40k accesses: it cannot have run in one slice.
    assert!(sliced.suspensions > 50, "{}", sliced.suspensions);
    let whole = run(src, Budget::default());
    assert_eq!(whole.output, sliced.output);
}

#[test]
fn a_sort_compared_in_place_runs_in_slices() {
    // Integers and floats mixed: no comparator, and too mixed for the
    // whole-array fast path, so each `<` is done by the sort itself.
    let src = "local t = {} for i = 1, 20000 do \
               t[i] = i % 3 == 0 and (i * 7919 % 20011) + 0.5 or i * 7919 % 20011 end \
               table.sort(t) \
               for i = 2, #t do assert(t[i - 1] <= t[i]) end \
               print(t[1], t[2], t[10000], t[20000])";
    let sliced = run(
        src,
        Budget {
            slice: 4_000,
            ..Budget::default()
        },
    );
    assert_eq!(sliced.error, None);
    assert!(sliced.suspensions > 50, "{}", sliced.suspensions);
    let whole = run(src, Budget::default());
    assert_eq!(whole.output, sliced.output);
    assert_eq!(whole.instructions, sliced.instructions);
}

#[test]
fn sort_and_concat_charge_for_their_work() {
    let base = "local t = {} for i = 1, 100000 do t[i] = (i * 7919) % 100003 end";
    let without = run(base, Budget::default()).instructions;
    let sorted = run(&format!("{base} table.sort(t)"), Budget::default()).instructions;
    // At least one unit per comparison of an n log n sort.
    assert!(sorted - without > 1_000_000, "{without} -> {sorted}");
    let strings = "local t = {} for i = 1, 1000 do t[i] = ('x'):rep(1000) end";
    let without = run(strings, Budget::default()).instructions;
    let joined = run(&format!("{strings} table.concat(t)"), Budget::default()).instructions;
    // About one unit per 8 bytes copied (1 MB here).
    assert!(joined - without > 100_000, "{without} -> {joined}");
}

#[test]
fn a_huge_concat_is_a_memory_error_not_an_abort() {
    let r = run(
        "local s = ('x'):rep(1 << 20) \
         local t = {} for i = 1, 300 do t[i] = s end \
         print(pcall(table.concat, t)) \
         print(#table.concat(t, '', 1, 100))",
        Budget::default(),
    );
    assert_eq!(r.error, None);
    assert_eq!(r.output, "false\tnot enough memory\n104857600\n");
}

#[test]
fn bit_computes_as_luajit() {
    // Expected lines: LuaJIT 2.1's output (conformance/luajit_compat.expected).
    let r = run(
        r#"
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end
show(bit.tobit(0xffffffff), bit.tobit(2^32 + 5), bit.tobit(-1), bit.tobit(2^31), bit.tobit(1.5), bit.tobit(2.5))
show(bit.tohex(255), bit.tohex(-1), bit.tohex(255, 4), bit.tohex(255, -4), bit.tohex(0x12345678, 2))
show(bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0), bit.bnot(-1), bit.band(-1, 0xffffffff))
show(bit.lshift(1, 31), bit.lshift(1, 32), bit.lshift(3, 33), bit.rshift(-1, 28), bit.rshift(256, 4))
show(bit.arshift(-256, 4), bit.arshift(256, 4), bit.arshift(-1, 31))
show(bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678), bit.rol(1, 32))
show(bit.band(0x7fffffff, 0xffff0000), bit.bor(0x80000000, 1), bit.bxor(-1, 0x0f0f0f0f))
show(pcall(bit.band, {}))
"#,
        Budget::default(),
    );
    assert_eq!(r.error, None);
    assert_eq!(
        r.output,
        "-1 | 5 | -1 | -2147483648 | 2 | 2\n\
         000000ff | ffffffff | 00ff | 00FF | 78\n\
         15 | 7 | 6 | -1 | 0 | -1\n\
         -2147483648 | 1 | 6 | 15 | 16\n\
         -16 | 16 | -1\n\
         878082066 | 2014458966 | 2018915346 | 1\n\
         2147418112 | -2147483647 | -252645136\n\
         false | bad argument #1 to 'bit.band' (number expected, got table)\n"
    );
}
