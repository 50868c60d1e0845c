//! The embedding contract: budgets, slices, host waits, frozen tables and
//! compile-once chunks, exercised as a host uses them.

use std::time::{Duration, Instant};

use lua_stdlib::env::{load_stdlib_with, Output, Profile};
use lua_stdlib::{
    Budget, Callback, CallbackReturn, Chunk, Function, Outcome, StashedFunction, Value, Vm,
};

fn load(vm: &mut Vm, src: &str) -> StashedFunction {
    let chunk = Chunk::compile(src.as_bytes(), "=test").expect("compiles");
    vm.enter(|ctx| {
        let env = ctx.globals();
        load_stdlib_with(ctx, env, Profile::Full, Output::Stdout);
        ctx.stash(Function::from(chunk.load(ctx, env)))
    })
}

fn finish(vm: &mut Vm, call: &mut lua_stdlib::Call) -> Outcome {
    loop {
        match vm.run(call) {
            Outcome::Suspended => continue,
            o => return o,
        }
    }
}

fn ints(vm: &mut Vm, values: &[lua_stdlib::StashedValue]) -> Vec<i64> {
    vm.enter(|ctx| {
        values
            .iter()
            .map(|v| ctx.fetch(v).to_integer().unwrap_or(-1))
            .collect()
    })
}

#[test]
fn a_call_returns_its_values() {
    let mut vm = Vm::new();
    let f = load(&mut vm, "local a, b = ... return a + b, a * b, '10' + 1");
    let mut call = vm.start(&f, (3, 4), Budget::default());
    let Outcome::Finished(values) = finish(&mut vm, &mut call) else {
        panic!("finished")
    };
    assert_eq!(ints(&mut vm, &values), vec![7, 12, 11]);
}

#[test]
fn a_long_call_runs_in_slices_and_finishes() {
    let mut vm = Vm::new();
    let f = load(
        &mut vm,
        "local s = 0 for i = 1, 1000000 do s = s + i end return s",
    );
    let budget = Budget {
        slice: 10_000,
        ..Budget::default()
    };
    let mut call = vm.start(&f, (), budget);
    let mut slices = 0;
    let values = loop {
        match vm.run(&mut call) {
            Outcome::Suspended => slices += 1,
            Outcome::Finished(v) => break v,
            o => panic!("{o:?}"),
        }
    };
    assert!(slices > 50, "{slices} slices");
    assert_eq!(ints(&mut vm, &values), vec![500000500000]);
}

#[test]
fn budgets_stop_runaway_calls_and_the_vm_stays_usable() {
    let mut vm = Vm::new();
    let spin = load(&mut vm, "while true do end");
    let budget = Budget {
        instructions: 100_000,
        ..Budget::default()
    };
    let mut call = vm.start(&spin, (), budget);
    match finish(&mut vm, &mut call) {
        Outcome::Error(m) => assert_eq!(m, "instruction budget exceeded"),
        o => panic!("{o:?}"),
    }
    // pcall cannot catch a budget stop
    let caught = load(&mut vm, "return pcall(function() while true do end end)");
    let mut call = vm.start(&caught, (), budget);
    assert!(matches!(finish(&mut vm, &mut call), Outcome::Error(_)));

    let hog = load(&mut vm, "local t = {} for i = 1, 1e7 do t[i] = {i} end");
    let before = vm.memory();
    let budget = Budget {
        memory: before + (8 << 20),
        ..Budget::default()
    };
    let mut call = vm.start(&hog, (), budget);
    match finish(&mut vm, &mut call) {
        Outcome::Error(m) => assert_eq!(m, "not enough memory"),
        o => panic!("{o:?}"),
    }
    assert!(
        vm.memory() < before + (4 << 20),
        "memory returned: {} -> {}",
        before,
        vm.memory()
    );

    let ok = load(&mut vm, "return 1 + 1");
    let mut call = vm.start(&ok, (), Budget::default());
    let Outcome::Finished(v) = finish(&mut vm, &mut call) else {
        panic!()
    };
    assert_eq!(ints(&mut vm, &v), vec![2]);
}

/// The time budget counts the call's own running slices (issue 7): a call
/// suspended between slices and waiting for the host for longer than its
/// whole budget still finishes, and a spin is stopped once its running
/// time reaches the budget.
#[test]
fn the_time_budget_counts_only_running_slices() {
    let mut vm = Vm::new();
    let f = load(
        &mut vm,
        "local s = 0 for i = 1, 20000 do s = s + i end return s + sleep()",
    );
    vm.enter(|ctx| {
        let sleep = Callback::from_fn(&ctx, |_, _, mut stack| {
            stack.clear();
            Ok(CallbackReturn::Wait { then: None })
        });
        let _ = ctx
            .globals()
            .raw_set(&ctx, Value::String(ctx.intern(b"sleep")), sleep.into());
    });
    let budget = Budget {
        time: Duration::from_millis(300),
        slice: 10_000,
        ..Budget::default()
    };
    let started = Instant::now();
    let mut call = vm.start(&f, (), budget);
    let mut suspended = 0;
    let values = loop {
        match vm.run(&mut call) {
            // The host's event loop serves others between slices ...
            Outcome::Suspended => {
                suspended += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            // ... and while the callback's work is under way.
            Outcome::Waiting => {
                std::thread::sleep(Duration::from_millis(400));
                vm.resume(&mut call, 1).expect("was waiting");
            }
            Outcome::Finished(v) => break v,
            o => panic!("{o:?}"),
        }
    };
    assert!(suspended >= 3, "{suspended} slices");
    assert!(started.elapsed() > budget.time);
    assert!(call.time() < budget.time, "ran {:?}", call.time());
    assert_eq!(ints(&mut vm, &values), vec![200010001]);

    let spin = load(&mut vm, "while true do end");
    let budget = Budget {
        time: Duration::from_millis(100),
        slice: 10_000,
        ..Budget::default()
    };
    let mut call = vm.start(&spin, (), budget);
    match finish(&mut vm, &mut call) {
        Outcome::Error(m) => assert_eq!(m, "time budget exceeded"),
        o => panic!("{o:?}"),
    }
    assert!(call.time() >= budget.time, "ran {:?}", call.time());
    let ok = load(&mut vm, "return 1 + 1");
    let mut call = vm.start(&ok, (), Budget::default());
    let Outcome::Finished(v) = finish(&mut vm, &mut call) else {
        panic!("the VM is usable after a time stop")
    };
    assert_eq!(ints(&mut vm, &v), vec![2]);
}

#[test]
fn a_callback_can_wait_for_the_host_inside_a_coroutine() {
    let mut vm = Vm::new();
    let f = load(
        &mut vm,
        "local co = coroutine.wrap(function(x) local got = sleep(x) return got * 2 end)
         local ok, v = pcall(co, 21)
         return v + 1",
    );
    vm.enter(|ctx| {
        let sleep = Callback::from_fn(&ctx, |_, _, mut stack| {
            stack.clear();
            Ok(CallbackReturn::Wait { then: None })
        });
        let _ = ctx
            .globals()
            .raw_set(&ctx, Value::String(ctx.intern(b"sleep")), sleep.into());
    });
    let mut call = vm.start(&f, (), Budget::default());
    assert!(matches!(finish(&mut vm, &mut call), Outcome::Waiting));
    // ... the host's event loop runs other work, then completes the wait
    vm.resume(&mut call, 50).expect("was waiting");
    let Outcome::Finished(v) = finish(&mut vm, &mut call) else {
        panic!()
    };
    assert_eq!(ints(&mut vm, &v), vec![101]);
}

#[test]
fn frozen_tables_are_read_only_for_lua() {
    let mut vm = Vm::new();
    let f = load(
        &mut vm,
        "local ok, e = pcall(function() shared.x = 1 end)
         local ok2 = pcall(rawset, shared, 'y', 2)
         return shared.x, ok, e, ok2, shared.k",
    );
    vm.enter(|ctx| {
        let t = ctx.new_table();
        let _ = t.raw_set(&ctx, Value::String(ctx.intern(b"k")), Value::Integer(7));
        t.freeze(&ctx);
        let _ = ctx
            .globals()
            .raw_set(&ctx, Value::String(ctx.intern(b"shared")), t.into());
    });
    let mut call = vm.start(&f, (), Budget::default());
    let Outcome::Finished(v) = finish(&mut vm, &mut call) else {
        panic!()
    };
    let shown: Vec<String> =
        vm.enter(|ctx| v.iter().map(|s| format!("{:?}", ctx.fetch(s))).collect());
    assert_eq!(shown[0], "Nil");
    assert_eq!(shown[1], "Boolean(false)");
    assert!(
        shown[2].contains("attempt to modify a read-only table"),
        "{}",
        shown[2]
    );
    assert_eq!(shown[3], "Boolean(false)");
    assert_eq!(shown[4], "Integer(7)");
}

/// A frozen table with a `__newindex` hears every write, to present keys
/// too (the gateway names the table in its refusal); `rawset` still fails.
#[test]
fn a_frozen_tables_newindex_answers_every_write() {
    let mut vm = Vm::new();
    let setup = load(
        &mut vm,
        "seen = {}
         shared = setmetatable({k = 7}, {__newindex = function(_, k) seen[#seen + 1] = k end})",
    );
    let mut call = vm.start(&setup, (), Budget::default());
    assert!(matches!(finish(&mut vm, &mut call), Outcome::Finished(_)));
    vm.enter(|ctx| {
        let Value::Table(t) = ctx.globals().get(ctx, "shared") else {
            panic!("shared is a table")
        };
        t.freeze(&ctx);
    });
    let f = load(
        &mut vm,
        "shared.k = 1 shared.new = 2
         local ok = pcall(rawset, shared, 'k', 3)
         return seen[1], seen[2], shared.k, shared.new, ok",
    );
    let mut call = vm.start(&f, (), Budget::default());
    let Outcome::Finished(v) = finish(&mut vm, &mut call) else {
        panic!()
    };
    let shown: Vec<String> =
        vm.enter(|ctx| v.iter().map(|s| format!("{:?}", ctx.fetch(s))).collect());
    assert_eq!(
        shown,
        [
            "String(\"k\")",
            "String(\"new\")",
            "Integer(7)",
            "Nil",
            "Boolean(false)"
        ]
    );
}

#[test]
fn a_chunk_compiled_once_loads_into_many_vms_across_threads() {
    fn shared_by_workers<T: Send + Sync + Clone>() {}
    shared_by_workers::<Chunk>();
    let chunk = Chunk::compile(b"local n = ... return n * 2", "=shared").expect("compiles");
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let chunk = chunk.clone();
            std::thread::spawn(move || {
                let mut vm = Vm::new();
                let f = vm.enter(|ctx| ctx.stash(Function::from(chunk.load(ctx, ctx.globals()))));
                let mut call = vm.start(&f, (i as i64,), Budget::default());
                match finish(&mut vm, &mut call) {
                    Outcome::Finished(v) => vm.enter(|ctx| ctx.fetch(&v[0]).to_integer()),
                    _ => None,
                }
            })
        })
        .collect();
    let got: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, vec![Some(0), Some(2)]);
}

#[test]
fn deep_recursion_is_a_catchable_stack_overflow() {
    let mut vm = Vm::new();
    let f = load(
        &mut vm,
        "local function f() return 1 + f() end
         local ok, e = pcall(f)
         return ok, e",
    );
    let mut call = vm.start(&f, (), Budget::default());
    let Outcome::Finished(v) = finish(&mut vm, &mut call) else {
        panic!()
    };
    let e = vm.enter(|ctx| format!("{:?}", ctx.fetch(&v[1])));
    assert!(e.contains("test:1: stack overflow"), "{e}");
}

#[test]
fn long_chains_compile_without_deep_recursion() {
    // Chains are flat in the syntax tree and walked with loops in the
    // code generator (a debug build's 2 MiB test thread is enough).
    let shapes = [
        format!("return {}", vec!["1"; 50_000].join("+")),
        format!(
            "local t = setmetatable({{}}, {{__index = function(t) return t end}}) return t{}",
            ".a".repeat(50_000)
        ),
        format!(
            "local function f() return f end return f{}",
            "()".repeat(5_000)
        ),
    ];
    let expected = ["Integer(50000)", "Table", "Function"];
    for (src, want) in shapes.iter().zip(expected) {
        let mut vm = Vm::new();
        let f = load(&mut vm, src);
        let mut call = vm.start(&f, (), Budget::default());
        let Outcome::Finished(v) = finish(&mut vm, &mut call) else {
            panic!("{want}")
        };
        let got = vm.enter(|ctx| format!("{:?}", ctx.fetch(&v[0])));
        assert!(got.starts_with(want), "{got}");
    }
}

/// Lua-to-Lua calls switch functions inside the instruction loop: a
/// recursion with no loop in it still runs in slices and is stopped by
/// the instruction budget.
#[test]
fn recursion_without_loops_runs_in_slices_and_stops_at_the_budget() {
    let mut vm = Vm::new();
    let fib = load(
        &mut vm,
        "local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end \
         return fib(22)",
    );
    let budget = Budget {
        slice: 10_000,
        ..Budget::default()
    };
    let mut call = vm.start(&fib, (), budget);
    let mut slices = 0;
    let values = loop {
        match vm.run(&mut call) {
            Outcome::Suspended => slices += 1,
            Outcome::Finished(v) => break v,
            o => panic!("{o:?}"),
        }
    };
    assert!(slices > 20, "{slices} slices");
    assert_eq!(ints(&mut vm, &values), vec![17711]);

    let budget = Budget {
        instructions: 100_000,
        ..Budget::default()
    };
    let mut call = vm.start(&fib, (), budget);
    match finish(&mut vm, &mut call) {
        Outcome::Error(m) => assert_eq!(m, "instruction budget exceeded"),
        o => panic!("{o:?}"),
    }
}

/// A call abandoned while a coroutine it resumed waits for the host (the
/// gateway's `kong.response.exit` inside a coroutine) leaves that
/// coroutine dead, as an error would: a later call that kept it sees
/// `dead` and can make a new one, instead of a coroutine running forever
/// (`cannot resume non-suspended coroutine`). On a new executor after
/// `Vm::abandon`, and on the same executor restarted.
#[test]
fn a_coroutine_of_an_abandoned_call_is_dead() {
    let mut vm = Vm::new();
    let f = load(
        &mut vm,
        "if not co then
           co = coroutine.create(function() local x <close> = nil wait() return 'unreachable' end)
           return coroutine.resume(co)
         end
         local status = coroutine.status(co)
         local ok, e = coroutine.resume(co)
         co = nil
         return status, tostring(ok), e",
    );
    vm.enter(|ctx| {
        let wait = Callback::from_fn(&ctx, |_, _, mut stack| {
            stack.clear();
            Ok(CallbackReturn::Wait { then: None })
        });
        let _ = ctx
            .globals()
            .raw_set(&ctx, Value::String(ctx.intern(b"wait")), wait.into());
    });
    let shown = |vm: &mut Vm, v: &[lua_stdlib::StashedValue]| -> Vec<String> {
        vm.enter(|ctx| {
            v.iter()
                .map(|s| match ctx.fetch(s) {
                    Value::String(s) => s.to_string(),
                    v => format!("{v:?}"),
                })
                .collect()
        })
    };
    for abandoned in [true, false] {
        let mut call = vm.start(&f, (), Budget::default());
        assert!(matches!(finish(&mut vm, &mut call), Outcome::Waiting));
        if abandoned {
            vm.abandon(&call);
            call = vm.start(&f, (), Budget::default());
        } else {
            vm.restart(&mut call, &f, (), Budget::default());
        }
        let Outcome::Finished(v) = finish(&mut vm, &mut call) else {
            panic!("finished")
        };
        assert_eq!(
            shown(&mut vm, &v),
            ["dead", "false", "cannot resume dead coroutine"],
            "abandoned: {abandoned}"
        );
    }
}
