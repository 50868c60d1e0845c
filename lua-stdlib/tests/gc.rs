//! Collection as the host sees it: warnings, finalizers, weak tables and
//! the memory cap, through the public API.

use std::cell::RefCell;
use std::rc::Rc;

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

fn finish(vm: &mut Vm, f: &StashedFunction) -> Outcome {
    let mut call = vm.start(f, (), Budget::default());
    loop {
        match vm.run(&mut call) {
            Outcome::Suspended => continue,
            o => return o,
        }
    }
}

/// Taking the warnings writes to an object the collector may have just
/// marked without tracing (it holds no pointers): gc-arena 0.7 then counts
/// an untrace it never counted as a trace, which underflowed (a panic in
/// debug builds) at the start of a marking phase.
#[test]
fn taking_warnings_at_any_collection_phase_never_panics() {
    let mut vm = Vm::new();
    let f = load(&mut vm, "local t = {} for i = 1, 50 do t[i] = {i} end");
    for _ in 0..3000 {
        assert!(matches!(finish(&mut vm, &f), Outcome::Finished(_)));
        assert!(vm.take_warnings().is_empty());
    }
}

fn capped(vm: &mut Vm, src: &str, cap: usize) -> (Outcome, usize, usize) {
    let f = load(vm, src);
    vm.enter(|_| ());
    let before = vm.memory();
    let budget = Budget {
        memory: before + cap,
        ..Budget::default()
    };
    let mut call = vm.start(&f, (), budget);
    let outcome = loop {
        match vm.run(&mut call) {
            Outcome::Suspended => continue,
            o => break o,
        }
    };
    (outcome, before, vm.memory())
}

/// Issue 7's budgets: a call over its memory cap ends with "not enough
/// memory", whatever allocates (one big library result or many small
/// tables), the memory is given back and the VM runs the next call.
#[test]
fn a_call_over_its_memory_cap_fails_and_its_memory_is_returned() {
    let hogs = [
        "local t = {} for i = 1, 1e7 do t[i] = {i} end",
        "local s = string.rep('x', 1 << 30)",
        "local s = string.rep('x', 1 << 20) local t = {} for i = 1, 1000 do t[i] = s .. i end",
        "local t = {} for i = 1, 1 << 26 do t[i] = i end",
        "local s = ('x'):rep(1 << 22) local t = {} for i = 1, 200 do t[i] = table.concat({s, s, s}) end",
        "local t = {} for i = 1, 300 do t[i] = string.format('%099d', i):rep(1 << 16) end",
    ];
    let mut vm = Vm::new();
    for hog in hogs {
        let (outcome, before, after) = capped(&mut vm, hog, 16 << 20);
        match outcome {
            Outcome::Error(m) => assert_eq!(m, "not enough memory", "{hog}"),
            o => panic!("{hog}: {o:?}"),
        }
        assert!(
            after < before + (4 << 20),
            "{hog}: memory not returned: {before} -> {after}"
        );
        let ok = load(&mut vm, "return 1 + 1");
        assert!(
            matches!(finish(&mut vm, &ok), Outcome::Finished(_)),
            "{hog}"
        );
    }
}

/// A `repeat ... until cond` loop jumps back from its comparison (no
/// separate jump instruction runs): the slice must still end when its
/// fuel is spent, or neither budgets nor the collector get a turn.
#[test]
fn a_repeat_until_loop_stops_at_its_slice() {
    let mut vm = Vm::new();
    for src in [
        "local n = 0 repeat n = n + 1 until n == 300000",
        "local n, t = 0, {} repeat n = n + 1 t = {} until n >= 300000 or t == nil",
        "local n, done = 0, false repeat n = n + 1 done = n == 300000 until done",
    ] {
        let f = load(&mut vm, src);
        let budget = Budget {
            slice: 10_000,
            ..Budget::default()
        };
        let mut call = vm.start(&f, (), budget);
        let first = vm.run(&mut call);
        assert!(matches!(first, Outcome::Suspended), "{src}: {first:?}");
        assert!(
            call.instructions() < 20_000,
            "{src}: {}",
            call.instructions()
        );
        assert!(
            matches!(finish_call(&mut vm, &mut call), Outcome::Finished(_)),
            "{src}"
        );
    }
}

fn finish_call(vm: &mut Vm, call: &mut lua_stdlib::Call) -> Outcome {
    loop {
        match vm.run(call) {
            Outcome::Suspended => continue,
            o => return o,
        }
    }
}

fn load_with_buffer(vm: &mut Vm, src: &str) -> (StashedFunction, Rc<RefCell<Vec<u8>>>) {
    let out = Rc::new(RefCell::new(Vec::new()));
    let chunk = Chunk::compile(src.as_bytes(), "=test").expect("compiles");
    let f = vm.enter(|ctx| {
        let env = ctx.globals();
        load_stdlib_with(ctx, env, Profile::Full, Output::Buffer(out.clone()));
        ctx.stash(Function::from(chunk.load(ctx, env)))
    });
    (f, out)
}

fn text(out: &Rc<RefCell<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&out.borrow()).into_owned()
}

/// lua_close: dropping (or closing) the VM runs the finalizers of every
/// table still marked, newest first, once.
#[test]
fn closing_the_vm_runs_pending_finalizers_newest_first() {
    let mut vm = Vm::new();
    let (f, out) = load_with_buffer(
        &mut vm,
        "A = setmetatable({}, {__gc = function() print('a') end})
         B = setmetatable({}, {__gc = function() print('b') end})
         local function garbage() setmetatable({}, {__gc = function() print('c') end}) end
         garbage()",
    );
    assert!(matches!(finish(&mut vm, &f), Outcome::Finished(_)));
    assert_eq!(text(&out), "");
    drop(vm);
    assert_eq!(text(&out), "c\nb\na\n");

    let mut vm = Vm::new();
    let (f, out) = load_with_buffer(
        &mut vm,
        "A = setmetatable({}, {__gc = function() print('closed') end})",
    );
    assert!(matches!(finish(&mut vm, &f), Outcome::Finished(_)));
    vm.close();
    vm.close();
    drop(vm);
    assert_eq!(text(&out), "closed\n");
}

/// An error in a finalizer is a warning for the host, worded as lua5.4's.
#[test]
fn an_error_in_a_finalizer_is_a_warning() {
    let mut vm = Vm::new();
    let f = load(
        &mut vm,
        "local function garbage()
           setmetatable({}, {__gc = function() error('boom') end})
           setmetatable({}, {__gc = function() error({}) end})
           setmetatable({}, {__gc = 'not a function'})
         end
         garbage()
         collectgarbage()
         return 'went on'",
    );
    let Outcome::Finished(values) = finish(&mut vm, &f) else {
        panic!("finished")
    };
    assert_eq!(values.len(), 1);
    assert_eq!(
        vm.take_warnings(),
        vec![
            "error in __gc (attempt to call a string value (metamethod '__gc'))",
            "error in __gc (error object is not a string)",
            "error in __gc (test:2: boom)",
        ]
    );
}

/// A finalizer runs under the instruction budget of the call that
/// triggered it: a spinning one is stopped (a warning) and the call ends
/// over budget.
#[test]
fn a_spinning_finalizer_is_charged_to_the_call() {
    let mut vm = Vm::new();
    let f = load(
        &mut vm,
        "local function garbage() setmetatable({}, {__gc = function() while true do end end}) end
         garbage()
         collectgarbage()
         return 1",
    );
    let mut call = vm.start(
        &f,
        (),
        Budget {
            instructions: 2_000_000,
            ..Budget::default()
        },
    );
    let outcome = finish_call(&mut vm, &mut call);
    match outcome {
        Outcome::Error(m) => assert_eq!(m, "instruction budget exceeded"),
        o => panic!("{o:?}"),
    }
    assert_eq!(
        vm.take_warnings(),
        vec!["error in __gc (instruction budget exceeded)"]
    );
    let ok = load(&mut vm, "return 1 + 1");
    assert!(matches!(finish(&mut vm, &ok), Outcome::Finished(_)));
}

/// A weak-valued cache held by the host loses what only it references,
/// through collections the host triggers and automatic ones alike.
#[test]
fn a_weak_cache_does_not_grow_without_bound() {
    let mut vm = Vm::new();
    let f = load(
        &mut vm,
        "cache = cache or setmetatable({}, {__mode = 'v'})
         for i = 1, 20000 do cache['k' .. i] = {i} end
         local n = 0 for _ in pairs(cache) do n = n + 1 end
         return n",
    );
    for _ in 0..5 {
        assert!(matches!(finish(&mut vm, &f), Outcome::Finished(_)));
    }
    let before = vm.memory();
    vm.collect();
    let after = vm.memory();
    assert!(after < before, "{before} -> {after}");
    let count = load(
        &mut vm,
        "local n = 0 for _ in pairs(cache) do n = n + 1 end return n",
    );
    let Outcome::Finished(values) = finish(&mut vm, &count) else {
        panic!()
    };
    let n = vm.enter(|ctx| ctx.fetch(&values[0]).to_integer());
    assert_eq!(n, Some(0));
}

/// `debug.upvalueid` answers one id per upvalue while the id is held
/// (they compare equal, as lua5.4's light userdata do), and an id nobody
/// holds is collected: asking for the ids of many short-lived closures
/// does not grow the registry for ever.
#[test]
fn upvalue_ids_nobody_holds_are_collected() {
    let mut vm = Vm::new();
    let f = load(
        &mut vm,
        r#"
        local function mk() local a = 1; return function() return a end end
        local f = mk()
        local id = debug.upvalueid(f, 1)
        for i = 1, 20000 do debug.upvalueid(mk(), 1) end
        collectgarbage(); collectgarbage()
        assert(id == debug.upvalueid(f, 1), "an id held stays the upvalue's id")
        local n = 0
        for _ in pairs(debug.getregistry()._UPVALUEIDS) do n = n + 1 end
        assert(n < 100, "ids kept: " .. n)
        "#,
    );
    match finish(&mut vm, &f) {
        Outcome::Finished(_) => {}
        o => panic!("{o:?}"),
    }
}
