//! Debug information read back from bytecode: the names errors give to
//! values (`(local 'x')`, `(global 'g')`, `(field 'f')`, `(upvalue 'u')`,
//! `(method 'm')`, `(constant 'c')`), found as `ldebug.c` finds them, by
//! symbolic execution of the function up to the failing instruction.

use super::closure::{Constant, Proto};
use super::opcode::*;

/// Name of local number `n` (1-based) active at `pc`.
pub fn local_name(p: &Proto, mut n: usize, pc: usize) -> Option<&[u8]> {
    for v in &p.local_vars {
        if v.start_pc as usize > pc {
            break;
        }
        if pc < v.end_pc as usize {
            n -= 1;
            if n == 0 {
                return Some(&v.name);
            }
        }
    }
    None
}

fn sets_a(op: u8) -> bool {
    !matches!(
        op,
        SETUPVAL
            | SETTABUP
            | SETTABLE
            | SETI
            | SETFIELD
            | MMBIN
            | MMBINI
            | MMBINK
            | CLOSE
            | TBC
            | JMP
            | EQ
            | LT
            | LE
            | EQK
            | EQI
            | LTI
            | LEI
            | GTI
            | GEI
            | TEST
            | RETURN
            | RETURN0
            | RETURN1
            | TFORPREP
            | TFORCALL
            | SETLIST
            | EXTRAARG
    )
}

/// The instruction before `lastpc` that last set register `reg`
/// unconditionally (`findsetreg`).
fn find_set_reg(p: &Proto, mut lastpc: usize, reg: usize) -> Option<usize> {
    if let Some(&i) = p.code.get(lastpc) {
        if matches!(op(i), MMBIN | MMBINI | MMBINK) {
            lastpc = lastpc.saturating_sub(1);
        }
    }
    let mut setreg = None;
    let mut jmptarget = 0usize;
    for pc in 0..lastpc.min(p.code.len()) {
        let i = p.code[pc];
        let o = op(i);
        let ra = a(i);
        let change = match o {
            LOADNIL => ra <= reg && reg <= ra + b(i),
            TFORCALL => reg >= ra + 2,
            CALL | TAILCALL => reg >= ra,
            JMP => {
                let dest = pc as i64 + 1 + sj(i);
                if dest <= lastpc as i64 && dest > jmptarget as i64 {
                    jmptarget = dest as usize;
                }
                false
            }
            o => sets_a(o) && reg == ra,
        };
        if change {
            setreg = if pc < jmptarget { None } else { Some(pc) };
        }
    }
    setreg
}

fn upval_name(p: &Proto, i: usize) -> String {
    p.upvalues
        .get(i)
        .map(|u| String::from_utf8_lossy(&u.name).into_owned())
        .unwrap_or_else(|| "?".into())
}

fn const_name(p: &Proto, k: usize) -> Option<String> {
    match p.constants.get(k) {
        Some(Constant::String(s)) => Some(String::from_utf8_lossy(s).into_owned()),
        _ => None,
    }
}

fn kname(p: &Proto, k: usize) -> String {
    const_name(p, k).unwrap_or_else(|| "?".into())
}

/// `basicgetobjname`: a local, an upvalue, a string constant or a move of
/// one, for register `reg` at `*pc`; `*pc` becomes the instruction that
/// set the register (`None` when none could be found).
fn basic_obj_name(p: &Proto, pc: &mut Option<usize>, reg: usize) -> Option<(&'static str, String)> {
    let at = (*pc)?;
    if let Some(n) = local_name(p, reg + 1, at) {
        return Some(("local", String::from_utf8_lossy(n).into_owned()));
    }
    *pc = find_set_reg(p, at, reg);
    let i = p.code[(*pc)?];
    match op(i) {
        MOVE if b(i) < a(i) => basic_obj_name(p, pc, b(i)),
        GETUPVAL => Some(("upvalue", upval_name(p, b(i)))),
        LOADK => const_name(p, bx(i)).map(|n| ("constant", n)),
        LOADKX => p
            .code
            .get((*pc)? + 1)
            .and_then(|&e| const_name(p, ax(e)))
            .map(|n| ("constant", n)),
        _ => None,
    }
}

/// `rname`: the name of a key in register `r`, when it is a string
/// constant; else `?`.
fn rname(p: &Proto, pc: usize, r: usize) -> String {
    match basic_obj_name(p, &mut Some(pc), r) {
        Some(("constant", n)) => n,
        _ => "?".into(),
    }
}

/// `isEnv`: `global` when the indexed table is the variable (local or
/// upvalue) `_ENV`, else `field`.
fn is_env(p: &Proto, pc: usize, i: Instruction, is_up: bool) -> &'static str {
    let t = b(i);
    let name = if is_up {
        Some(upval_name(p, t))
    } else {
        match basic_obj_name(p, &mut Some(pc), t) {
            Some(("local" | "upvalue", n)) => Some(n),
            _ => None,
        }
    };
    if name.as_deref() == Some("_ENV") {
        "global"
    } else {
        "field"
    }
}

/// `getobjname`: what register `reg` holds at `lastpc`, as a (kind, name).
pub fn obj_name(p: &Proto, lastpc: usize, reg: usize) -> Option<(&'static str, String)> {
    let mut pc = Some(lastpc);
    if let Some(found) = basic_obj_name(p, &mut pc, reg) {
        return Some(found);
    }
    let pc = pc?;
    let i = p.code[pc];
    match op(i) {
        GETTABUP => Some((is_env(p, pc, i, true), kname(p, c(i)))),
        GETTABLE => Some((is_env(p, pc, i, false), rname(p, pc, c(i)))),
        GETI => Some(("field", "integer index".into())),
        GETFIELD => Some((is_env(p, pc, i, false), kname(p, c(i)))),
        SELF => {
            let n = if k(i) {
                kname(p, c(i))
            } else {
                rname(p, pc, c(i))
            };
            Some(("method", n))
        }
        _ => None,
    }
}

/// The ` (kind 'name')` suffix of a message about register `reg`.
pub fn reg_info(p: &Proto, pc: usize, reg: usize) -> String {
    match obj_name(p, pc, reg) {
        Some((kind, name)) => format!(" ({kind} '{name}')"),
        None => String::new(),
    }
}

/// The ` (upvalue 'name')` suffix for upvalue `i`.
pub fn upval_info(p: &Proto, i: usize) -> String {
    format!(" (upvalue '{}')", upval_name(p, i))
}

/// How the function called at `pc` is named (`funcnamefromcode`), for
/// tracebacks and `debug.getinfo(...).name`.
pub fn called_name(p: &Proto, pc: usize) -> Option<(&'static str, String)> {
    use super::meta;
    let i = *p.code.get(pc)?;
    let event = match op(i) {
        CALL | TAILCALL => return obj_name(p, pc, a(i)),
        TFORCALL => return Some(("for iterator", "for iterator".into())),
        // other instructions call through metamethods
        SELF | GETTABUP | GETTABLE | GETI | GETFIELD => meta::INDEX,
        SETTABUP | SETTABLE | SETI | SETFIELD => meta::NEWINDEX,
        MMBIN | MMBINI | MMBINK => c(i) as meta::Event,
        UNM => meta::UNM,
        BNOT => meta::BNOT,
        LEN => meta::LEN,
        CONCAT => meta::CONCAT,
        EQ => meta::EQ,
        // no EQI or EQK: they call no metamethod
        LT | LTI | GTI => meta::LT,
        LE | LEI | GEI => meta::LE,
        CLOSE | RETURN => meta::CLOSE,
        _ => return None,
    };
    let name = meta::EVENT_NAMES.get(event as usize)?;
    Some(("metamethod", name.trim_start_matches("__").to_string()))
}

/// The name `luaL_traceback` gives the function of a Lua frame: a global
/// (or library) name, else how its caller named it, else `main chunk` or
/// `function <src:line>`.
fn frame_function_name<'gc>(
    ctx: super::context::Context<'gc>,
    frames: &[super::thread::Frame<'gc>],
    i: usize,
) -> String {
    use super::thread::Frame;
    use super::value::{Function, Value};
    let Frame::Lua(f) = &frames[i] else {
        return "?".into();
    };
    let me = Value::Function(Function::Closure(f.closure));
    if let Some(name) = global_name(ctx, me) {
        return format!("function '{name}'");
    }
    if i > 0 {
        if let Frame::Lua(caller) = &frames[i - 1] {
            let p = caller.closure.proto();
            if let Some((kind, name)) = called_name(p, caller.pc.saturating_sub(1)) {
                let kind = if kind == "global" { "function" } else { kind };
                return format!("{kind} '{name}'");
            }
        }
    }
    let p = f.closure.proto();
    if p.line_defined == 0 {
        "main chunk".into()
    } else {
        format!("function <{}:{}>", p.source, p.line_defined)
    }
}

/// `pushglobalfuncname`: the function's name in the loaded libraries
/// (`package.loaded`, or the globals when there is none).
fn global_name<'gc>(
    ctx: super::context::Context<'gc>,
    f: super::value::Value<'gc>,
) -> Option<String> {
    use super::value::Value;
    let loaded = match ctx.registry().get(ctx, "_LOADED") {
        Value::Table(t) => t,
        _ => {
            let g = ctx.globals();
            let mut k = Value::Nil;
            while let Ok(Some((key, v))) = g.next(k) {
                if v.raw_eq(f) {
                    if let Value::String(s) = key {
                        return Some(s.to_string());
                    }
                }
                k = key;
            }
            return None;
        }
    };
    let mut k = Value::Nil;
    while let Ok(Some((lib, t))) = loaded.next(k) {
        if let (Value::String(lname), Value::Table(t)) = (lib, t) {
            let mut fk = Value::Nil;
            while let Ok(Some((key, v))) = t.next(fk) {
                if v.raw_eq(f) {
                    if let Value::String(s) = key {
                        let l = lname.to_string();
                        return Some(if l == "_G" {
                            s.to_string()
                        } else {
                            format!("{l}.{s}")
                        });
                    }
                }
                fk = key;
            }
        }
        k = lib;
    }
    None
}

/// `luaL_traceback` over a thread's frames, innermost first, starting
/// `level` Lua-visible levels up (1: the innermost frame).
pub(crate) fn traceback<'gc>(
    ctx: super::context::Context<'gc>,
    frames: &[super::thread::Frame<'gc>],
    host_below: bool,
    msg: Option<&str>,
    level: usize,
) -> String {
    use super::thread::Frame;
    let mut out = String::new();
    if let Some(m) = msg {
        out.push_str(m);
        out.push('\n');
    }
    out.push_str("stack traceback:");
    let mut lines = Vec::new();
    for i in (0..frames.len()).rev() {
        match &frames[i] {
            Frame::Lua(f) => lines.push(format!(
                "\n\t{}:{}: in {}",
                f.closure.proto().source,
                f.current_line(),
                frame_function_name(ctx, frames, i)
            )),
            Frame::Sequence { seq, .. } => match seq.0.traceback_name() {
                // "": VM-internal; a leading NUL: internal and named.
                Some(n) if n.is_empty() || n.starts_with('\0') => {}
                Some(n) => lines.push(format!("\n\t[C]: in function '{n}'")),
                None => lines.push("\n\t[C]: in ?".into()),
            },
            Frame::Await { .. } => lines.push("\n\t[C]: in ?".into()),
        }
    }
    if host_below {
        lines.push("\n\t[C]: in ?".into());
    }
    let lines: Vec<String> = lines.into_iter().skip(level.saturating_sub(1)).collect();
    if lines.len() > 22 {
        // lua5.4 shows the first 10 and the last 11 levels, and counts
        // the skipped ones one short (`luaL_traceback`'s arithmetic).
        let n = lines.len() - 22;
        for l in &lines[..10] {
            out.push_str(l);
        }
        out.push_str(&format!("\n\t...\t(skipping {n} levels)"));
        for l in &lines[lines.len() - 11..] {
            out.push_str(l);
        }
    } else {
        for l in &lines {
            out.push_str(l);
        }
    }
    out
}

/// What `debug.getinfo` reports about a function or a stack level.
#[derive(Debug, Clone)]
pub struct DebugInfo<'gc> {
    /// `source`: the chunk name as given to `load` (`=[C]` for Rust).
    pub source: String,
    /// `short_src`: the chunk name as messages show it.
    pub short_src: String,
    /// `Lua`, `main` or `C`.
    pub what: &'static str,
    /// -1 when not running Lua (or for a function value).
    pub current_line: i64,
    pub line_defined: i64,
    pub last_line_defined: i64,
    /// How the caller named it (`local`, `global`, `field`, `method`,
    /// `upvalue`, `for iterator`), when known.
    pub name: Option<(&'static str, String)>,
    pub nups: usize,
    pub nparams: usize,
    pub is_vararg: bool,
    pub function: Option<super::value::Function<'gc>>,
}

/// Info about a function value.
pub fn function_info<'gc>(f: super::value::Function<'gc>) -> DebugInfo<'gc> {
    use super::value::Function;
    match f {
        Function::Closure(c) => {
            let p = c.proto();
            DebugInfo {
                source: p.chunk_name.to_string(),
                short_src: p.source.to_string(),
                what: if p.line_defined == 0 { "main" } else { "Lua" },
                current_line: -1,
                line_defined: p.line_defined as i64,
                last_line_defined: p.last_line_defined as i64,
                name: None,
                nups: p.upvalues.len(),
                nparams: p.num_params as usize,
                is_vararg: p.is_vararg,
                function: Some(f),
            }
        }
        Function::Callback(_) => c_info(Some(f)),
    }
}

fn c_info<'gc>(function: Option<super::value::Function<'gc>>) -> DebugInfo<'gc> {
    DebugInfo {
        source: "=[C]".into(),
        short_src: "[C]".into(),
        what: "C",
        current_line: -1,
        line_defined: -1,
        last_line_defined: -1,
        name: None,
        nups: 0,
        nparams: 0,
        is_vararg: true,
        function,
    }
}

/// Info about stack level `level` (1: the innermost frame) of `frames`.
pub(crate) fn level_info<'gc>(
    frames: &[super::thread::Frame<'gc>],
    level: usize,
) -> Option<DebugInfo<'gc>> {
    use super::thread::Frame;
    use super::value::Function;
    if level == 0 {
        // Level 0 is the running callback itself.
        return Some(c_info(None));
    }
    let idx = frames.len().checked_sub(level)?;
    match frames.get(idx)? {
        Frame::Lua(f) => {
            let mut info = function_info(Function::Closure(f.closure));
            info.current_line = f.current_line();
            if idx > 0 {
                if let Frame::Lua(caller) = &frames[idx - 1] {
                    info.name = called_name(caller.closure.proto(), caller.pc.saturating_sub(1));
                }
            }
            Some(info)
        }
        _ => Some(c_info(None)),
    }
}
