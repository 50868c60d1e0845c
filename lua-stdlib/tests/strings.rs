//! The string library under a host's budgets: pattern scans charge the
//! instruction budget and stop between match attempts (so one call cannot
//! run unbounded work and a long scan yields to the host in slices),
//! huge results fail with lua5.4's errors instead of taking the process's
//! memory, and no pattern or subject can overflow the Rust stack.

use lua_stdlib::env::{load_stdlib_with, Output, Profile};
use lua_stdlib::{Budget, Chunk, Function, Outcome, StashedFunction, Vm};

fn load(vm: &mut Vm, src: &str) -> StashedFunction {
    let chunk = Chunk::compile(src.as_bytes(), "=test").expect("compiles");
    vm.enter(|ctx| {
        let env = ctx.globals();
        load_stdlib_with(ctx, env, Profile::Full, Output::Stdout);
        ctx.stash(Function::from(chunk.load(ctx, env)))
    })
}

/// Runs `src` to the end; the number of `Suspended` slices and the outcome.
fn run(vm: &mut Vm, src: &str, budget: Budget) -> (usize, Outcome, u64) {
    let f = load(vm, src);
    let mut call = vm.start(&f, (), budget);
    let mut slices = 0;
    loop {
        match vm.run(&mut call) {
            Outcome::Suspended => slices += 1,
            o => return (slices, o, call.instructions()),
        }
    }
}

fn result(vm: &mut Vm, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Finished(values) => vm.enter(|ctx| {
            values
                .iter()
                .map(|v| {
                    ctx.fetch(v)
                        .as_string()
                        .map_or("?".into(), |s| s.to_string())
                })
                .collect::<Vec<_>>()
                .join(",")
        }),
        Outcome::Error(m) => format!("error: {m}"),
        o => format!("{o:?}"),
    }
}

#[test]
fn a_quadratic_scan_is_stopped_by_the_instruction_budget() {
    // Every attempt of `a+b` runs to the end of the subject and back:
    // lua5.4 would work on this one call for hours.
    let mut vm = Vm::new();
    let budget = Budget {
        instructions: 5_000_000,
        ..Budget::default()
    };
    let src = "local s = string.rep('a', 1 << 20) return s:find('a+b')";
    let (_, outcome, used) = run(&mut vm, src, budget);
    assert_eq!(
        result(&mut vm, &outcome),
        "error: instruction budget exceeded"
    );
    // Stopped after the attempt that spent the budget, not at the end.
    assert!(used < 5_000_000 + (1 << 20), "used {used}");
    // The VM stays usable.
    let (_, outcome, _) = run(&mut vm, "return ('ok'):upper()", Budget::default());
    assert_eq!(result(&mut vm, &outcome), "OK");
}

#[test]
fn long_scans_yield_to_the_host_in_slices_and_finish_exactly() {
    let mut vm = Vm::new();
    let budget = Budget {
        slice: 20_000,
        ..Budget::default()
    };
    // One call each of gsub, find and a gmatch step over 4 MB.
    let src = "
        local s = string.rep('abc ', 1 << 20) .. 'end'
        local r, n = s:gsub('%a+', '%0.')
        local i = s:find('e%a+')
        local it = s:gmatch('n%a')
        return #r .. ' ' .. n .. ' ' .. i .. ' ' .. it()
    ";
    let (slices, outcome, _) = run(&mut vm, src, budget);
    let expected = format!(
        "{} {} {} nd",
        (4 << 20) + 3 + (1 << 20) + 1,
        (1 << 20) + 1,
        (4 << 20) + 1
    );
    assert_eq!(result(&mut vm, &outcome), expected);
    // Without pauses inside the calls, each would end one slice at most.
    assert!(slices > 20, "only {slices} slices");
}

#[test]
fn a_gsub_paused_in_the_middle_keeps_its_replacement_calls_exact() {
    let mut vm = Vm::new();
    let budget = Budget {
        slice: 5_000,
        ..Budget::default()
    };
    let src = "
        local count = 0
        local s = string.rep('x', 200000) .. 'y' .. string.rep('x', 200000) .. 'y'
        local r = s:gsub('x*y', function(m) count = count + 1 return #m .. ';' end)
        return r .. count
    ";
    let (slices, outcome, _) = run(&mut vm, src, budget);
    assert_eq!(result(&mut vm, &outcome), "200001;200001;2");
    assert!(slices > 1);
}

#[test]
fn huge_results_fail_with_lua_errors_and_the_vm_lives() {
    let mut vm = Vm::new();
    let cases = [
        // Past lua5.4's INT_MAX limit: its own message.
        ("return string.rep('x', 2^31)", "test:1: resulting string too large"),
        ("return string.rep('ab', 1 << 30)", "test:1: resulting string too large"),
        ("return string.rep('x', 1 << 40, ',')", "test:1: resulting string too large"),
        // Within lua5.4's limit but over what one call may allocate: the
        // memory error, as lua5.4 gives it when memory runs out.
        ("return string.rep('x', 1 << 30)", "not enough memory"),
        ("return string.rep('x', 1 << 29, 'y')", "not enough memory"),
        (
            "local s = string.rep('x', 1 << 16) return s:gsub('x', string.rep('y', 1 << 13))",
            "not enough memory",
        ),
        ("return string.pack('c2000000000', '')", "not enough memory"),
        (
            "return string.format('%s%s%s', string.rep('x', 1 << 27), string.rep('x', 1 << 27), 'x')",
            "not enough memory",
        ),
    ];
    for (src, message) in cases {
        let wrapped = format!(
            "local ok, e = pcall(function() {src} end) return tostring(ok) .. ' ' .. tostring(e)"
        );
        let (_, outcome, _) = run(&mut vm, &wrapped, Budget::default());
        assert_eq!(
            result(&mut vm, &outcome),
            format!("false {message}"),
            "{src}"
        );
        vm.collect();
    }
    let (_, outcome, _) = run(
        &mut vm,
        "return string.rep('ab', 3, ',')",
        Budget::default(),
    );
    assert_eq!(result(&mut vm, &outcome), "ab,ab,ab");
}

#[test]
fn no_pattern_or_subject_overflows_the_rust_stack() {
    // On a thread with a small stack: the matcher's recursion is bounded
    // (lua5.4's MAXCCALLS), whatever the pattern's or subject's length.
    let t = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let mut vm = Vm::new();
            let src = "
                local out = {}
                local function try(...)
                    local ok, e = pcall(...)
                    out[#out + 1] = ok and 'ok' or e
                end
                local long = string.rep('a', 100000)
                try(string.match, long, string.rep('a?', 100000))
                try(string.match, long, string.rep('a-', 100000) .. 'b')
                try(string.match, long, string.rep('(', 100000))
                try(string.match, long, string.rep('()', 100000))
                try(string.find, string.rep('(', 1000000) .. string.rep(')', 1000000), '%b()')
                try(string.gsub, long, string.rep('a?', 300), 'x')
                try(string.match, long, '.-.-.-$')
                try(string.match, long, (string.rep('%f[a]', 100000)))
                return table.concat(out, '|')
            ";
            let (_, outcome, _) = run(&mut vm, src, Budget::default());
            result(&mut vm, &outcome)
        })
        .expect("thread starts");
    let out = t.join().expect("no stack overflow");
    assert_eq!(
        out,
        "pattern too complex|pattern too complex|too many captures|too many captures\
         |ok|pattern too complex|ok|ok"
    );
}

#[test]
fn a_gsub_that_writes_much_per_match_yields_by_its_output() {
    // Few matcher steps, 40 MB of output: the output counts as work.
    let mut vm = Vm::new();
    let budget = Budget {
        slice: 100_000,
        ..Budget::default()
    };
    let src = "
        local r, n = string.rep('x', 4000):gsub('x', string.rep('y', 10000))
        return #r .. ' ' .. n
    ";
    let (slices, outcome, used) = run(&mut vm, src, budget);
    assert_eq!(result(&mut vm, &outcome), "40000000 4000");
    assert!(slices > 10, "only {slices} slices");
    assert!(used > 40_000_000 / 32, "charged {used}");
}
