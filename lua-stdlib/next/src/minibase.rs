//! A minimal base library for testing the VM before the standard library
//! is ported: `print type tostring tonumber pcall error assert select next
//! pairs ipairs setmetatable getmetatable rawget rawset rawequal rawlen
//! collectgarbage`, `coroutine.*`, `table.unpack/insert/concat` and a small
//! `string` table set as the strings' `__index`. The real library (ported
//! from `lua-stdlib`) replaces it; it is also a worked example of the
//! callback API.

use std::cell::RefCell;
use std::rc::Rc;

use gc_arena::Collect;

use crate::vm::meta;
use crate::{
    BoxSequence, Callback, CallbackReturn, Context, Error, Execution, Function, Sequence,
    SequencePoll, Stack, Table, Thread, ThreadMode, Value,
};

fn msg<'gc>(ctx: Context<'gc>, m: &str) -> Error<'gc> {
    Error::from_value(Value::String(ctx.intern(m.as_bytes())))
}

/// `chunk:line: ` of the Lua function `level` levels up (1: the caller).
fn position(exec: &Execution<'_, '_>, level: usize) -> String {
    match exec.lua_frame(level) {
        Some(f) => format!("{}:{}: ", f.chunk_name, f.current_line),
        None => String::new(),
    }
}

fn arg_error<'gc>(
    ctx: Context<'gc>,
    exec: &Execution<'gc, '_>,
    n: usize,
    name: &str,
    detail: &str,
) -> Error<'gc> {
    msg(
        ctx,
        &format!(
            "{}bad argument #{n} to '{name}' ({detail})",
            position(exec, 1)
        ),
    )
}

fn check_table<'gc>(
    ctx: Context<'gc>,
    exec: &Execution<'gc, '_>,
    stack: &Stack<'gc, '_>,
    i: usize,
    name: &str,
) -> Result<Table<'gc>, Error<'gc>> {
    match stack.get(i) {
        Value::Table(t) => Ok(t),
        v => Err(arg_error(
            ctx,
            exec,
            i + 1,
            name,
            &format!(
                "table expected, got {}",
                if i >= stack.len() {
                    "no value"
                } else {
                    v.type_name()
                }
            ),
        )),
    }
}

/// The text `tostring` gives a value without `__tostring`.
pub fn plain_tostring<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Vec<u8> {
    match v {
        Value::Nil => b"nil".to_vec(),
        Value::Boolean(b) => {
            if b {
                b"true".to_vec()
            } else {
                b"false".to_vec()
            }
        }
        Value::Integer(_) | Value::Number(_) => {
            crate::vm::number::number_to_string(v.as_number().expect("number")).into_bytes()
        }
        Value::String(s) => s.as_bytes().to_vec(),
        v => {
            let name = meta::type_name_of(ctx, v);
            let kind = match v {
                Value::Function(Function::Callback(_)) => "builtin".to_string(),
                _ => name,
            };
            format!("{kind}: {:p}", v.object_ptr().unwrap_or(std::ptr::null())).into_bytes()
        }
    }
}

/// Converts the values on `stack` one by one with `__tostring` (a
/// sequence, since `__tostring` may be a Lua function), then hands the
/// texts to `finish`.
#[derive(Collect)]
#[collect(no_drop)]
struct ToStrings<'gc> {
    args: Vec<Value<'gc>>,
    done: Vec<Value<'gc>>,
    waiting: bool,
    #[collect(require_static)]
    finish: Finish,
    #[collect(require_static)]
    out: Output,
}

/// Where `print` writes: stdout, or a buffer the host reads.
pub type Output = Option<Rc<RefCell<Vec<u8>>>>;

/// What to do with the texts.
#[derive(Clone, Copy)]
enum Finish {
    Print,
    ToString,
    Format,
}

impl<'gc> Sequence<'gc> for ToStrings<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        if self.waiting {
            self.waiting = false;
            let r = stack.get(0);
            if !matches!(r, Value::String(_)) {
                return Err(msg(ctx, "'__tostring' must return a string"));
            }
            self.done.push(r);
        }
        while self.done.len() < self.args.len() {
            let v = self.args[self.done.len()];
            let tm = meta::event(ctx, v, crate::vm::meta::TOSTRING);
            if let Value::Function(f) = tm {
                self.waiting = true;
                stack.replace(ctx, v);
                return Ok(SequencePoll::Call {
                    function: f,
                    is_tail: false,
                });
            }
            let s = match meta::metatable(ctx, v)
                .map(|mt| mt.raw_get(Value::String(ctx.intern(b"__name"))))
            {
                Some(Value::String(n)) if matches!(v, Value::Table(_) | Value::UserData(_)) => {
                    format!("{n}: {:p}", v.object_ptr().unwrap_or(std::ptr::null())).into_bytes()
                }
                _ => plain_tostring(ctx, v),
            };
            self.done.push(Value::String(ctx.intern(&s)));
        }
        stack.clear();
        match self.finish {
            Finish::Print => finish_print(&self.done, &self.out),
            Finish::ToString => stack.replace(ctx, self.done[0]),
            Finish::Format => finish_format(ctx, &self.done, &mut stack),
        }
        Ok(SequencePoll::Return)
    }
}

fn to_strings<'gc>(
    ctx: Context<'gc>,
    args: Vec<Value<'gc>>,
    finish: Finish,
    out: Output,
) -> CallbackReturn<'gc> {
    CallbackReturn::Sequence(BoxSequence::new(
        &ctx,
        ToStrings {
            args,
            done: Vec::new(),
            waiting: false,
            finish,
            out,
        },
    ))
}

#[derive(Collect)]
#[collect(no_drop)]
struct PCall;

impl<'gc> Sequence<'gc> for PCall {
    fn traceback_name(&self) -> Option<&'static str> {
        Some("pcall")
    }

    fn handler(&self) -> crate::Handler<'gc> {
        crate::Handler::Catch
    }

    fn poll(
        &mut self,
        _ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.push_front(true);
        Ok(SequencePoll::Return)
    }

    fn error(
        &mut self,
        ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        error: Error<'gc>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.replace(ctx, (false, error.value()));
        Ok(SequencePoll::Return)
    }
}

/// `coroutine.resume`'s continuation: `true, ...` or `false, err`.
#[derive(Collect)]
#[collect(no_drop)]
struct Resumed;

impl<'gc> Sequence<'gc> for Resumed {
    fn poll(
        &mut self,
        _ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.push_front(true);
        Ok(SequencePoll::Return)
    }

    fn error(
        &mut self,
        ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        error: Error<'gc>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.replace(ctx, (false, error.value()));
        Ok(SequencePoll::Return)
    }
}

fn set<'gc>(ctx: Context<'gc>, t: Table<'gc>, name: &str, f: Callback<'gc>) {
    let _ = t.raw_set(&ctx, Value::String(ctx.intern(name.as_bytes())), f.into());
}

fn ipairs_step<'gc>(
    ctx: Context<'gc>,
    exec: Execution<'gc, '_>,
    mut stack: Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let _ = exec;
    let t = stack.get(0);
    let i = stack.get(1).to_integer().unwrap_or(0) + 1;
    let v = match t {
        Value::Table(tab) if tab.metatable().is_none() => tab.raw_get_int(i),
        Value::Table(tab) => {
            let v = tab.raw_get_int(i);
            if v.is_nil() {
                let tm = meta::event(ctx, t, crate::vm::meta::INDEX);
                if let Value::Function(f) = tm {
                    stack.replace(ctx, (t, i));
                    return Ok(CallbackReturn::Call {
                        function: f,
                        then: Some(BoxSequence::new(&ctx, IpairsIndex(i))),
                    });
                }
                if let Value::Table(idx) = tm {
                    idx.raw_get_int(i)
                } else {
                    v
                }
            } else {
                v
            }
        }
        _ => Value::Nil,
    };
    if v.is_nil() {
        stack.replace(ctx, Value::Nil);
    } else {
        stack.replace(ctx, (i, v));
    }
    Ok(CallbackReturn::Return)
}

#[derive(Collect)]
#[collect(no_drop)]
struct IpairsIndex(i64);

impl<'gc> Sequence<'gc> for IpairsIndex {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let v = stack.get(0);
        if v.is_nil() {
            stack.replace(ctx, Value::Nil);
        } else {
            stack.replace(ctx, (self.0, v));
        }
        Ok(SequencePoll::Return)
    }
}

/// Installs the minimal library in `env` and the string metatable.
pub fn load_minimal_base<'gc>(ctx: Context<'gc>, env: Table<'gc>, out: Output) {
    let io_out = out.clone();
    let g = |name: &str, f: Callback<'gc>| set(ctx, env, name, f);

    g(
        "print",
        Callback::from_fn(&ctx, move |ctx, _, stack| {
            let args: Vec<Value> = stack.iter().collect();
            Ok(to_strings(ctx, args, Finish::Print, out.clone()))
        }),
    );
    g(
        "tostring",
        Callback::from_fn(&ctx, |ctx, exec, stack| {
            if stack.is_empty() {
                return Err(arg_error(ctx, &exec, 1, "tostring", "value expected"));
            }
            Ok(to_strings(ctx, vec![stack.get(0)], Finish::ToString, None))
        }),
    );
    g(
        "type",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            if stack.is_empty() {
                return Err(arg_error(ctx, &exec, 1, "type", "value expected"));
            }
            let t = stack.get(0).type_name();
            stack.replace(ctx, ctx.intern(t.as_bytes()));
            Ok(CallbackReturn::Return)
        }),
    );
    g(
        "tonumber",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let v = stack.get(0);
            let r: Value = match (v, stack.get(1)) {
                (v, Value::Nil) => v.to_number().map_or(Value::Nil, Value::from),
                (Value::String(s), b) => match b.to_integer() {
                    Some(base) if (2..=36).contains(&base) => {
                        crate::vm::number::str_to_int_base(s.as_bytes(), base as u32)
                            .map_or(Value::Nil, Value::Integer)
                    }
                    _ => Value::Nil,
                },
                _ => Value::Nil,
            };
            stack.replace(ctx, r);
            Ok(CallbackReturn::Return)
        }),
    );
    g(
        "pcall",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            if stack.is_empty() {
                return Err(arg_error(ctx, &exec, 1, "pcall", "value expected"));
            }
            let f = stack.pop_front().unwrap_or(Value::Nil);
            match crate::meta::call(ctx, f) {
                Ok(function) => Ok(CallbackReturn::Call {
                    function,
                    then: Some(BoxSequence::new(&ctx, PCall)),
                }),
                Err(v) => {
                    let tn = meta::type_name_of(ctx, v);
                    stack.replace(
                        ctx,
                        (
                            false,
                            ctx.intern(format!("attempt to call a {tn} value").as_bytes()),
                        ),
                    );
                    Ok(CallbackReturn::Return)
                }
            }
        }),
    );
    g(
        "xpcall",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            if stack.len() < 2 {
                return Err(arg_error(ctx, &exec, 2, "xpcall", "value expected"));
            }
            let f = stack.pop_front().unwrap_or(Value::Nil);
            let h = stack.pop_front().unwrap_or(Value::Nil);
            let Value::Function(h) = h else {
                return Err(arg_error(ctx, &exec, 2, "xpcall", "function expected"));
            };
            match crate::meta::call(ctx, f) {
                Ok(function) => Ok(CallbackReturn::Call {
                    function,
                    then: Some(BoxSequence::new(&ctx, XPCall(h))),
                }),
                Err(v) => {
                    let tn = meta::type_name_of(ctx, v);
                    let m = format!("attempt to call a {tn} value");
                    stack.replace(ctx, Value::String(ctx.intern(m.as_bytes())));
                    Ok(CallbackReturn::Call {
                        function: h,
                        then: Some(BoxSequence::new(&ctx, XPCallFailed)),
                    })
                }
            }
        }),
    );
    g(
        "error",
        Callback::from_fn(&ctx, |ctx, exec, stack| {
            let v = stack.get(0);
            let level = stack.get(1).to_integer().unwrap_or(1);
            if let (Value::String(s), true) = (v, level > 0) {
                let pos = position(&exec, level as usize);
                let mut m = pos.into_bytes();
                m.extend_from_slice(s.as_bytes());
                return Err(Error::from_value(Value::String(ctx.intern(&m))));
            }
            Err(Error::from_value(v))
        }),
    );
    g(
        "assert",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            if stack.get(0).to_bool() {
                return Ok(CallbackReturn::Return);
            }
            if stack.is_empty() {
                return Err(arg_error(ctx, &exec, 1, "assert", "value expected"));
            }
            if stack.len() < 2 {
                return Err(msg(ctx, "assertion failed!"));
            }
            let m = stack.get(1);
            stack.clear();
            Err(Error::from_value(m))
        }),
    );
    g(
        "select",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let n = stack.len() as i64 - 1;
            match stack.get(0) {
                Value::String(s) if s.as_bytes() == b"#" => {
                    stack.replace(ctx, n);
                }
                v => match v.to_integer() {
                    Some(i) if i < 0 && -i <= n => {
                        let keep = (-i) as usize;
                        let len = stack.len();
                        stack.drain(..len - keep);
                    }
                    Some(i) if i > 0 => {
                        let cut = (i as usize).min(stack.len());
                        stack.drain(..cut);
                    }
                    _ => return Err(arg_error(ctx, &exec, 1, "select", "index out of range")),
                },
            }
            Ok(CallbackReturn::Return)
        }),
    );
    let next = Callback::from_fn(&ctx, |ctx, exec, mut stack| {
        let t = check_table(ctx, &exec, &stack, 0, "next")?;
        match t.next(stack.get(1)) {
            Ok(Some((k, v))) => stack.replace(ctx, (k, v)),
            Ok(None) => stack.replace(ctx, Value::Nil),
            Err(_) => return Err(msg(ctx, "invalid key to 'next'")),
        }
        Ok(CallbackReturn::Return)
    });
    g("next", next);
    g(
        "pairs",
        Callback::from_fn_with(&ctx, next, |next, ctx, exec, mut stack| {
            let v = stack.get(0);
            if let Value::Function(f) = meta::event(ctx, v, crate::vm::meta::PAIRS) {
                stack.replace(ctx, v);
                return Ok(CallbackReturn::Call {
                    function: f,
                    then: Some(BoxSequence::new(&ctx, Truncate3)),
                });
            }
            check_table(ctx, &exec, &stack, 0, "pairs")?;
            stack.replace(ctx, (*next, v, Value::Nil));
            Ok(CallbackReturn::Return)
        }),
    );
    let step = Callback::from_fn(&ctx, ipairs_step);
    g(
        "ipairs",
        Callback::from_fn_with(&ctx, step, |step, ctx, exec, mut stack| {
            if stack.is_empty() {
                return Err(arg_error(
                    ctx,
                    &exec,
                    1,
                    "ipairs",
                    "table expected, got no value",
                ));
            }
            let v = stack.get(0);
            stack.replace(ctx, (*step, v, 0));
            Ok(CallbackReturn::Return)
        }),
    );
    g(
        "setmetatable",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let t = check_table(ctx, &exec, &stack, 0, "setmetatable")?;
            let mt = match stack.get(1) {
                Value::Table(m) => Some(m),
                Value::Nil => None,
                _ => {
                    return Err(arg_error(
                        ctx,
                        &exec,
                        2,
                        "setmetatable",
                        "nil or table expected",
                    ))
                }
            };
            if let Some(old) = t.metatable() {
                if !old
                    .raw_get(Value::String(ctx.intern(b"__metatable")))
                    .is_nil()
                {
                    return Err(msg(ctx, "cannot change a protected metatable"));
                }
            }
            t.set_metatable(&ctx, mt)
                .map_err(|e| msg(ctx, e.message()))?;
            stack.replace(ctx, t);
            Ok(CallbackReturn::Return)
        }),
    );
    g(
        "getmetatable",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let r = match meta::metatable(ctx, stack.get(0)) {
                Some(mt) => {
                    let p = mt.raw_get(Value::String(ctx.intern(b"__metatable")));
                    if p.is_nil() {
                        Value::Table(mt)
                    } else {
                        p
                    }
                }
                None => Value::Nil,
            };
            stack.replace(ctx, r);
            Ok(CallbackReturn::Return)
        }),
    );
    g(
        "rawget",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let t = check_table(ctx, &exec, &stack, 0, "rawget")?;
            let v = t.raw_get(stack.get(1));
            stack.replace(ctx, v);
            Ok(CallbackReturn::Return)
        }),
    );
    g(
        "rawset",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let t = check_table(ctx, &exec, &stack, 0, "rawset")?;
            t.raw_set(&ctx, stack.get(1), stack.get(2))
                .map_err(|e| msg(ctx, e.message()))?;
            stack.replace(ctx, t);
            Ok(CallbackReturn::Return)
        }),
    );
    g(
        "rawequal",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let r = stack.get(0).raw_eq(stack.get(1));
            stack.replace(ctx, r);
            Ok(CallbackReturn::Return)
        }),
    );
    g(
        "rawlen",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let n = match stack.get(0) {
                Value::Table(t) => t.length(),
                Value::String(s) => s.len() as i64,
                _ => {
                    return Err(arg_error(
                        ctx,
                        &exec,
                        1,
                        "rawlen",
                        "table or string expected",
                    ))
                }
            };
            stack.replace(ctx, n);
            Ok(CallbackReturn::Return)
        }),
    );
    g(
        "collectgarbage",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let opt = match stack.get(0) {
                Value::String(s) => s.to_string(),
                _ => "collect".to_string(),
            };
            match opt.as_str() {
                "count" => stack.replace(ctx, 0.0),
                _ => stack.replace(ctx, 0),
            }
            Ok(CallbackReturn::Return)
        }),
    );
    let _ = env.raw_set(&ctx, Value::String(ctx.intern(b"_G")), Value::Table(env));
    let _ = env.raw_set(
        &ctx,
        Value::String(ctx.intern(b"_VERSION")),
        Value::String(ctx.intern(b"Lua 5.4")),
    );

    // table
    let table = ctx.new_table();
    set(
        ctx,
        table,
        "unpack",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let t = check_table(ctx, &exec, &stack, 0, "unpack")?;
            let i = stack.get(1).to_integer().unwrap_or(1);
            let j = match stack.get(2) {
                Value::Nil => t.length(),
                v => v.to_integer().unwrap_or(0),
            };
            if j >= i && (j - i) >= 1_000_000 {
                return Err(msg(ctx, "too many results to unpack"));
            }
            stack.clear();
            let mut k = i;
            while k <= j {
                stack.push_back(t.raw_get_int(k));
                k += 1;
            }
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        table,
        "insert",
        Callback::from_fn(&ctx, |ctx, exec, stack| {
            let t = check_table(ctx, &exec, &stack, 0, "insert")?;
            let n = t.length();
            match stack.len() {
                2 => {
                    t.raw_set_int(&ctx, n + 1, stack.get(1))
                        .map_err(|e| msg(ctx, e.message()))?;
                }
                3 => {
                    let pos = stack.get(1).to_integer().unwrap_or(n + 1);
                    let mut k = n;
                    while k >= pos {
                        let v = t.raw_get_int(k);
                        t.raw_set_int(&ctx, k + 1, v)
                            .map_err(|e| msg(ctx, e.message()))?;
                        k -= 1;
                    }
                    t.raw_set_int(&ctx, pos, stack.get(2))
                        .map_err(|e| msg(ctx, e.message()))?;
                }
                _ => return Err(msg(ctx, "wrong number of arguments to 'insert'")),
            }
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        table,
        "concat",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let t = check_table(ctx, &exec, &stack, 0, "concat")?;
            let sep = match stack.get(1) {
                Value::String(s) => s.as_bytes().to_vec(),
                _ => Vec::new(),
            };
            let n = t.length();
            let mut out = Vec::new();
            for i in 1..=n {
                if i > 1 {
                    out.extend_from_slice(&sep);
                }
                match t.raw_get_int(i) {
                    v @ (Value::String(_) | Value::Integer(_) | Value::Number(_)) => {
                        out.extend_from_slice(&plain_tostring(ctx, v))
                    }
                    v => {
                        return Err(msg(
                            ctx,
                            &format!("invalid value (at index {i}) in table for 'concat'",)
                                .replace("{}", v.type_name()),
                        ))
                    }
                }
            }
            stack.replace(ctx, ctx.intern(&out));
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        table,
        "pack",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let t = ctx.new_table_with(stack.len(), 1);
            for (i, v) in stack.iter().enumerate() {
                let _ = t.raw_set_int(&ctx, i as i64 + 1, v);
            }
            let _ = t.set(ctx, "n", stack.len() as i64);
            stack.replace(ctx, t);
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        table,
        "remove",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let t = check_table(ctx, &exec, &stack, 0, "remove")?;
            let n = t.length();
            let pos = match stack.get(1) {
                Value::Nil => n,
                v => v.to_integer().unwrap_or(n),
            };
            if stack.len() > 1 && n + 1 != pos && (pos < 1 || pos > n + 1) && !(n == 0 && pos == 0)
            {
                return Err(arg_error(ctx, &exec, 2, "remove", "position out of bounds"));
            }
            let v = t.raw_get_int(pos);
            let mut k = pos;
            while k < n {
                let next = t.raw_get_int(k + 1);
                let _ = t.raw_set_int(&ctx, k, next);
                k += 1;
            }
            if k <= n {
                let _ = t.raw_set_int(&ctx, k, Value::Nil);
            }
            stack.replace(ctx, v);
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        table,
        "move",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let a1 = check_table(ctx, &exec, &stack, 0, "move")?;
            let f = stack.get(1).to_integer().unwrap_or(1);
            let e = stack.get(2).to_integer().unwrap_or(0);
            let tpos = stack.get(3).to_integer().unwrap_or(1);
            let a2 = match stack.get(4) {
                Value::Table(t) => t,
                _ => a1,
            };
            if e >= f {
                if tpos > e || tpos <= f || !a1.ptr_eq(a2) {
                    for i in 0..=(e - f) {
                        let v = a1.raw_get_int(f + i);
                        let _ = a2.raw_set_int(&ctx, tpos + i, v);
                    }
                } else {
                    for i in (0..=(e - f)).rev() {
                        let v = a1.raw_get_int(f + i);
                        let _ = a2.raw_set_int(&ctx, tpos + i, v);
                    }
                }
            }
            stack.replace(ctx, a2);
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        table,
        "sort",
        Callback::from_fn(&ctx, |ctx, exec, stack| {
            let t = check_table(ctx, &exec, &stack, 0, "sort")?;
            let n = t.length();
            let items: Vec<Value> = (1..=n).map(|i| t.raw_get_int(i)).collect();
            let cmp = match stack.get(1) {
                Value::Function(f) => Some(f),
                _ => None,
            };
            Ok(CallbackReturn::Sequence(BoxSequence::new(
                &ctx,
                Sort {
                    t,
                    items,
                    i: 1,
                    j: 1,
                    cmp,
                    waiting: false,
                },
            )))
        }),
    );
    set_lib(ctx, env, "table", table);

    // string (a few functions) and the string metatable
    let string = ctx.new_table();
    set(
        ctx,
        string,
        "len",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| match stack.get(0) {
            Value::String(s) => {
                stack.replace(ctx, s.len() as i64);
                Ok(CallbackReturn::Return)
            }
            _ => Err(arg_error(ctx, &exec, 1, "len", "string expected")),
        }),
    );
    set(
        ctx,
        string,
        "rep",
        Callback::from_fn(&ctx, |ctx, mut exec, mut stack| {
            let s = plain_tostring(ctx, stack.get(0));
            let n = stack.get(1).to_integer().unwrap_or(0).max(0) as usize;
            if s.len().saturating_mul(n) > (256 << 20) {
                return Err(msg(ctx, "resulting string too large"));
            }
            exec.fuel().consume((s.len() * n / 64) as i64);
            stack.replace(ctx, ctx.intern(&s.repeat(n)));
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        string,
        "sub",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let s = plain_tostring(ctx, stack.get(0));
            let len = s.len() as i64;
            let mut i = stack.get(1).to_integer().unwrap_or(1);
            let mut j = stack.get(2).to_integer().unwrap_or(-1);
            if i < 0 {
                i = (len + i + 1).max(1);
            } else if i == 0 {
                i = 1;
            }
            if j < 0 {
                j = len + j + 1;
            } else if j > len {
                j = len;
            }
            let out = if i > j {
                &[][..]
            } else {
                &s[(i - 1) as usize..j as usize]
            };
            stack.replace(ctx, ctx.intern(out));
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        string,
        "upper",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let s = plain_tostring(ctx, stack.get(0)).to_ascii_uppercase();
            stack.replace(ctx, ctx.intern(&s));
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        string,
        "byte",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let s = plain_tostring(ctx, stack.get(0));
            let i = stack.get(1).to_integer().unwrap_or(1);
            let r = s
                .get((i - 1).max(0) as usize)
                .map_or(Value::Nil, |&b| Value::Integer(b as i64));
            stack.replace(ctx, r);
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        string,
        "format",
        Callback::from_fn(&ctx, |ctx, _, stack| {
            // `%d %s %g %5.1f`-style minimal formatting via tostring semantics.
            let args: Vec<Value> = stack.iter().collect();
            Ok(to_strings(ctx, args, Finish::Format, None))
        }),
    );
    set_lib(ctx, env, "string", string);
    let smt = ctx.new_table();
    let _ = smt.raw_set(
        &ctx,
        Value::String(ctx.intern(b"__index")),
        Value::Table(string),
    );
    ctx.set_type_metatable(Value::String(ctx.intern(b"")), Some(smt));

    // math (a few) and io.write
    let math = ctx.new_table();
    let _ = math.set(ctx, "maxinteger", i64::MAX);
    let _ = math.set(ctx, "mininteger", i64::MIN);
    let _ = math.set(ctx, "huge", f64::INFINITY);
    let _ = math.set(ctx, "pi", std::f64::consts::PI);
    set(
        ctx,
        math,
        "type",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            if stack.is_empty() {
                return Err(arg_error(ctx, &exec, 1, "type", "value expected"));
            }
            let r = match stack.get(0) {
                Value::Integer(_) => Value::String(ctx.intern(b"integer")),
                Value::Number(_) => Value::String(ctx.intern(b"float")),
                _ => Value::Nil,
            };
            stack.replace(ctx, r);
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        math,
        "abs",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let r = match stack.get(0) {
                Value::Integer(i) => Value::Integer(i.wrapping_abs()),
                v => Value::Number(v.to_float().unwrap_or(0.0).abs()),
            };
            stack.replace(ctx, r);
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        math,
        "floor",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let r = match stack.get(0) {
                Value::Integer(i) => Value::Integer(i),
                v => {
                    let f = v.to_float().unwrap_or(0.0).floor();
                    crate::vm::number::float_to_integer(f).map_or(Value::Number(f), Value::Integer)
                }
            };
            stack.replace(ctx, r);
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        math,
        "tointeger",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let r = match stack.get(0) {
                v @ (Value::Integer(_) | Value::Number(_)) => {
                    v.to_integer().map_or(Value::Nil, Value::Integer)
                }
                _ => Value::Nil,
            };
            stack.replace(ctx, r);
            Ok(CallbackReturn::Return)
        }),
    );
    set_lib(ctx, env, "math", math);
    let io = ctx.new_table();
    set(
        ctx,
        io,
        "write",
        Callback::from_fn_with(&ctx, io, move |io, ctx, _, mut stack| {
            let mut buf = Vec::new();
            for v in stack.iter() {
                buf.extend_from_slice(&plain_tostring(ctx, v));
            }
            match &io_out {
                Some(b) => b.borrow_mut().extend_from_slice(&buf),
                None => {
                    use std::io::Write;
                    let _ = std::io::stdout().write_all(&buf);
                }
            }
            stack.replace(ctx, *io);
            Ok(CallbackReturn::Return)
        }),
    );
    set_lib(ctx, env, "io", io);

    let debug = ctx.new_table();
    set(
        ctx,
        debug,
        "traceback",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let (thread, rest) = match stack.get(0) {
                Value::Thread(t) => (Some(t), 1),
                _ => (None, 0),
            };
            let m = stack.get(rest);
            let msg = match m {
                Value::String(s) => Some(s.to_string()),
                Value::Nil => None,
                Value::Integer(_) | Value::Number(_) => {
                    Some(String::from_utf8_lossy(&plain_tostring(ctx, m)).into_owned())
                }
                v => {
                    stack.replace(ctx, v);
                    return Ok(CallbackReturn::Return);
                }
            };
            let level = stack
                .get(rest + 1)
                .to_integer()
                .unwrap_or(if thread.is_some() { 0 } else { 1 });
            let text = match thread {
                Some(t) if !t.ptr_eq(exec.current_thread().thread) => {
                    t.traceback(ctx, msg.as_deref(), (level + 1).max(1) as usize)
                }
                _ => exec.traceback(ctx, msg.as_deref(), level.max(0) as usize),
            };
            stack.replace(ctx, text);
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        debug,
        "getinfo",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let what = match stack.get(1) {
                Value::String(s) => s.to_string(),
                _ => "flnSrtu".to_string(),
            };
            let info = match stack.get(0) {
                Value::Function(f) => Some(crate::function_info(f)),
                v => match v.to_integer() {
                    Some(0) => Some(crate::function_info(Function::Callback(Callback::from_fn(
                        &ctx,
                        |_, _, _| Ok(CallbackReturn::Return),
                    ))))
                    .map(|mut i| {
                        i.function = None;
                        i
                    }),
                    Some(l) if l > 0 => exec.debug_info(l as usize),
                    _ => {
                        return Err(arg_error(
                            ctx,
                            &exec,
                            1,
                            "getinfo",
                            "function or level expected",
                        ))
                    }
                },
            };
            let Some(info) = info else {
                stack.replace(ctx, Value::Nil);
                return Ok(CallbackReturn::Return);
            };
            let t = ctx.new_table();
            if what.contains('S') {
                let _ = t.set(ctx, "source", info.source.as_str());
                let _ = t.set(ctx, "short_src", info.short_src.as_str());
                let _ = t.set(ctx, "what", info.what);
                let _ = t.set(ctx, "linedefined", info.line_defined);
                let _ = t.set(ctx, "lastlinedefined", info.last_line_defined);
            }
            if what.contains('l') {
                let _ = t.set(ctx, "currentline", info.current_line);
            }
            if what.contains('n') {
                if let Some((kind, name)) = &info.name {
                    let _ = t.set(ctx, "name", name.as_str());
                    let _ = t.set(ctx, "namewhat", *kind);
                } else {
                    let _ = t.set(ctx, "namewhat", "");
                }
            }
            if what.contains('u') {
                let _ = t.set(ctx, "nups", info.nups as i64);
                let _ = t.set(ctx, "nparams", info.nparams as i64);
                let _ = t.set(ctx, "isvararg", info.is_vararg);
            }
            if what.contains('t') {
                let _ = t.set(ctx, "istailcall", false);
            }
            if what.contains('f') {
                if let Some(f) = info.function {
                    let _ = t.set(ctx, "func", f);
                }
            }
            stack.replace(ctx, t);
            Ok(CallbackReturn::Return)
        }),
    );
    set_lib(ctx, env, "debug", debug);

    // coroutine
    let co = ctx.new_table();
    set(
        ctx,
        co,
        "create",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| match stack.get(0) {
            Value::Function(f) => {
                stack.replace(ctx, Thread::with_function(&ctx, f));
                Ok(CallbackReturn::Return)
            }
            _ => Err(arg_error(ctx, &exec, 1, "create", "function expected")),
        }),
    );
    set(
        ctx,
        co,
        "resume",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| match stack.pop_front() {
            Some(Value::Thread(thread)) => Ok(CallbackReturn::Resume {
                thread,
                then: Some(BoxSequence::new(&ctx, Resumed)),
            }),
            _ => Err(arg_error(ctx, &exec, 1, "resume", "coroutine expected")),
        }),
    );
    set(
        ctx,
        co,
        "yield",
        Callback::from_fn(&ctx, |_, _, _| {
            Ok(CallbackReturn::Yield {
                to_thread: None,
                then: None,
            })
        }),
    );
    set(
        ctx,
        co,
        "status",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let Value::Thread(t) = stack.get(0) else {
                return Err(arg_error(ctx, &exec, 1, "status", "coroutine expected"));
            };
            let s = if t.ptr_eq(exec.current_thread().thread) {
                "running"
            } else {
                match t.mode() {
                    ThreadMode::Fresh | ThreadMode::Suspended => "suspended",
                    ThreadMode::Running => "running",
                    ThreadMode::Normal => "normal",
                    ThreadMode::Dead => "dead",
                }
            };
            stack.replace(ctx, ctx.intern(s.as_bytes()));
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        co,
        "running",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let c = exec.current_thread();
            stack.replace(ctx, (c.thread, c.is_main));
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        co,
        "isyieldable",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            stack.replace(ctx, !exec.current_thread().is_main);
            Ok(CallbackReturn::Return)
        }),
    );
    set(
        ctx,
        co,
        "wrap",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let Value::Function(f) = stack.get(0) else {
                return Err(arg_error(ctx, &exec, 1, "wrap", "function expected"));
            };
            let t = Thread::with_function(&ctx, f);
            let w = Callback::from_fn_with(&ctx, t, |t, ctx, _, _| {
                Ok(CallbackReturn::Resume {
                    thread: *t,
                    then: Some(BoxSequence::new(&ctx, WrapErr)),
                })
            });
            stack.replace(ctx, w);
            Ok(CallbackReturn::Return)
        }),
    );
    set_lib(ctx, env, "coroutine", co);
}

/// `coroutine.wrap` passes errors on, prefixed with the position when the
/// message is a string (as lua5.4's `auxwrap`).
#[derive(Collect)]
#[collect(no_drop)]
struct WrapErr;

impl<'gc> Sequence<'gc> for WrapErr {
    fn poll(
        &mut self,
        _ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        _stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        Ok(SequencePoll::Return)
    }

    fn error(
        &mut self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        error: Error<'gc>,
        _stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        if let Value::String(s) = error.value() {
            let mut m = position(&exec, 1).into_bytes();
            m.extend_from_slice(s.as_bytes());
            return Err(Error::from_value(Value::String(ctx.intern(&m))));
        }
        Err(error)
    }
}

/// Keeps the first three results (`__pairs`).
#[derive(Collect)]
#[collect(no_drop)]
struct Truncate3;

impl<'gc> Sequence<'gc> for Truncate3 {
    fn poll(
        &mut self,
        _ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.resize(3);
        Ok(SequencePoll::Return)
    }
}

fn set_lib<'gc>(ctx: Context<'gc>, env: Table<'gc>, name: &str, t: Table<'gc>) {
    let _ = env.raw_set(
        &ctx,
        Value::String(ctx.intern(name.as_bytes())),
        Value::Table(t),
    );
}

fn finish_print(texts: &[Value<'_>], sink: &Output) {
    use std::io::Write;
    let mut out = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        if let Value::String(s) = t {
            out.extend_from_slice(s.as_bytes());
        }
    }
    out.push(b'\n');
    match sink {
        Some(buf) => buf.borrow_mut().extend_from_slice(&out),
        None => {
            let _ = std::io::stdout().write_all(&out);
        }
    }
}

/// `%d %s %g`-style minimal formatting: every conversion takes the next
/// argument's `tostring` text.
fn finish_format<'gc>(ctx: Context<'gc>, texts: &[Value<'gc>], stack: &mut Stack<'gc, '_>) {
    let fmt = match texts.first() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    let mut ai = 1;
    let mut i = 0;
    while i < fmt.len() {
        if fmt[i] == b'%' && i + 1 < fmt.len() {
            let mut j = i + 1;
            while j < fmt.len() && !fmt[j].is_ascii_alphabetic() && fmt[j] != b'%' {
                j += 1;
            }
            if j < fmt.len() && fmt[j] == b'%' {
                out.push(b'%');
            } else if let Some(Value::String(s)) = texts.get(ai) {
                out.extend_from_slice(s.as_bytes());
                ai += 1;
            }
            i = j + 1;
        } else {
            out.push(fmt[i]);
            i += 1;
        }
    }
    stack.replace(ctx, ctx.intern(&out));
}

/// `table.sort` as an insertion sort that can call a Lua comparator
/// (a sequence: each comparison may be a Lua call).
#[derive(Collect)]
#[collect(no_drop)]
struct Sort<'gc> {
    t: Table<'gc>,
    items: Vec<Value<'gc>>,
    i: usize,
    j: usize,
    cmp: Option<Function<'gc>>,
    waiting: bool,
}

impl<'gc> Sequence<'gc> for Sort<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        loop {
            if self.waiting {
                self.waiting = false;
                if stack.get(0).to_bool() {
                    self.items.swap(self.j, self.j - 1);
                    self.j -= 1;
                } else {
                    self.i += 1;
                    self.j = self.i;
                }
            }
            if self.i >= self.items.len() {
                for (k, v) in self.items.iter().enumerate() {
                    let _ = self.t.raw_set_int(&ctx, k as i64 + 1, *v);
                }
                stack.clear();
                return Ok(SequencePoll::Return);
            }
            if self.j == 0 {
                self.i += 1;
                self.j = self.i;
                continue;
            }
            exec.fuel().consume(1);
            let (a, b) = (self.items[self.j], self.items[self.j - 1]);
            match self.cmp {
                Some(f) => {
                    self.waiting = true;
                    stack.replace(ctx, (a, b));
                    return Ok(SequencePoll::Call {
                        function: f,
                        is_tail: false,
                    });
                }
                None => {
                    let less = match (a.as_number(), b.as_number(), a, b) {
                        (Some(x), Some(y), _, _) => {
                            crate::vm::number::compare(x, y) == Some(std::cmp::Ordering::Less)
                        }
                        (_, _, Value::String(x), Value::String(y)) => x.as_bytes() < y.as_bytes(),
                        _ => {
                            return Err(msg(
                                ctx,
                                &format!("attempt to compare two {} values", a.type_name()),
                            ))
                        }
                    };
                    if less {
                        self.items.swap(self.j, self.j - 1);
                        self.j -= 1;
                    } else {
                        self.i += 1;
                        self.j = self.i;
                    }
                }
            }
        }
    }
}

/// `xpcall`: like `pcall`, with a message handler the VM calls at the
/// error point.
#[derive(Collect)]
#[collect(no_drop)]
struct XPCall<'gc>(Function<'gc>);

impl<'gc> Sequence<'gc> for XPCall<'gc> {
    fn traceback_name(&self) -> Option<&'static str> {
        Some("xpcall")
    }

    fn poll(
        &mut self,
        _ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.push_front(true);
        Ok(SequencePoll::Return)
    }

    fn error(
        &mut self,
        ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        error: Error<'gc>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.replace(ctx, (false, error.value()));
        Ok(SequencePoll::Return)
    }

    fn handler(&self) -> crate::Handler<'gc> {
        crate::Handler::CatchWith(self.0)
    }
}

/// `xpcall` of a non-callable value: the handler's result, after `false`.
#[derive(Collect)]
#[collect(no_drop)]
struct XPCallFailed;

impl<'gc> Sequence<'gc> for XPCallFailed {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let v = stack.get(0);
        stack.replace(ctx, (false, v));
        Ok(SequencePoll::Return)
    }
}
