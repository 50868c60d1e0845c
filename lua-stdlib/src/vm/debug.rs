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
/// tracebacks and `debug.getinfo(...).name`: the called register's name,
/// `for iterator`, or the metamethod an instruction calls.
pub fn called_name(p: &Proto, pc: usize) -> Option<(&'static str, String)> {
    use super::meta;
    let i = *p.code.get(pc)?;
    let ev = match op(i) {
        CALL | TAILCALL => return obj_name(p, pc, a(i)),
        TFORCALL => return Some(("for iterator", "for iterator".into())),
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
    let name = meta::EVENT_NAMES.get(ev as usize)?;
    Some(("metamethod", name[2..].to_string()))
}

use super::context::Context;
use super::thread::Frame;
use super::value::{Function, Value};

/// One thread's stack as the debug functions see it: its frames, its
/// values, and (on the running thread) the slot of the running callback,
/// which is level 0.
pub(crate) struct StackView<'a, 'gc> {
    pub frames: &'a [Frame<'gc>],
    pub stack: &'a [Value<'gc>],
    pub running: Option<usize>,
}

/// A stack level: the running callback, or a frame (by index).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Level {
    Running(usize),
    Frame(usize),
}

/// Whether a frame is a level `debug` functions count: VM-internal
/// continuations are not, except the one standing for a callback whose
/// error a message handler is handling.
fn visible(f: &Frame<'_>) -> bool {
    match f {
        Frame::Sequence { seq, .. } => {
            seq.0.culprit().is_some()
                || !matches!(seq.0.traceback_name(), Some(n) if n.is_empty() || n.starts_with('\0'))
        }
        _ => true,
    }
}

impl<'a, 'gc> StackView<'a, 'gc> {
    /// Every level, innermost (0) first.
    pub fn levels(&self) -> Vec<Level> {
        let mut v = Vec::with_capacity(self.frames.len() + 1);
        if let Some(slot) = self.running {
            v.push(Level::Running(slot));
        }
        let mut unwound = false;
        for (i, f) in self.frames.iter().enumerate().rev() {
            if let Frame::Sequence { seq, .. } = f {
                if seq.0.unwinding() {
                    unwound = true;
                    continue;
                }
                if unwound && !matches!(seq.0.handler(), super::callback::Handler::None) {
                    unwound = false;
                }
            }
            if !unwound && visible(f) {
                v.push(Level::Frame(i));
            }
        }
        v
    }

    pub fn level(&self, n: usize) -> Option<Level> {
        if let (0, Some(slot)) = (n, self.running) {
            return Some(Level::Running(slot));
        }
        self.levels().get(n).copied()
    }

    fn callback_at(&self, slot: usize) -> Option<Function<'gc>> {
        match self.stack.get(slot) {
            Some(Value::Function(f @ Function::Callback(_))) => Some(*f),
            _ => None,
        }
    }

    /// The function running at `level` (`getinfo(level, "f")`).
    pub fn function(&self, level: Level) -> Option<Function<'gc>> {
        match level {
            Level::Running(slot) => match self.stack.get(slot) {
                Some(Value::Function(f)) => Some(*f),
                _ => None,
            },
            Level::Frame(i) => match &self.frames[i] {
                Frame::Lua(f) => Some(Function::Closure(f.closure)),
                Frame::Sequence { seq, base, .. } => seq
                    .0
                    .culprit()
                    .or_else(|| self.callback_at(base.checked_sub(1)?)),
                Frame::Await { ret } => self.callback_at(ret.func),
            },
        }
    }

    /// The Lua frame below `level` that called it, if it is Lua and the
    /// call was not a tail call.
    fn caller(&self, level: Level) -> Option<&'a super::thread::LuaFrame<'gc>> {
        let below = match level {
            Level::Running(_) => self.frames.len(),
            Level::Frame(i) => {
                match &self.frames[i] {
                    Frame::Lua(f) if f.ret.tail => return None,
                    Frame::Sequence { seq, .. } if seq.0.culprit().is_some() => {
                        // The callback that raised: named by the Lua
                        // frame below the handler's marker.
                    }
                    _ => {}
                }
                i
            }
        };
        match self.frames.get(below.checked_sub(1)?)? {
            Frame::Lua(f) => Some(f),
            _ => None,
        }
    }

    /// How the caller named the function at `level` (`getfuncname`).
    pub fn name(&self, level: Level) -> Option<(&'static str, String)> {
        let below = match level {
            Level::Running(_) => self.frames.len(),
            Level::Frame(i) => i,
        };
        if let Some(Frame::Sequence { seq, .. }) = below.checked_sub(1).map(|b| &self.frames[b]) {
            if seq.0.hook_marker() {
                return Some(("hook", "?".into()));
            }
        }
        let caller = self.caller(level)?;
        called_name(caller.closure.proto(), caller.pc.checked_sub(1)?)
    }

    pub fn is_tail_call(&self, level: Level) -> bool {
        matches!(level, Level::Frame(i) if matches!(&self.frames[i], Frame::Lua(f) if f.ret.tail))
    }

    /// `getinfo` at `level`.
    pub fn info(&self, level: Level) -> DebugInfo<'gc> {
        let mut info = match self.function(level) {
            Some(f) => function_info(f),
            None => c_info(None),
        };
        if let Level::Frame(i) = level {
            if let Frame::Lua(f) = &self.frames[i] {
                info.current_line = f.current_line();
            }
        }
        info.name = self.name(level);
        info.is_tail_call = self.is_tail_call(level);
        info
    }

    /// `luaL_traceback` from `level`, with `[C]: in ?` for the host below
    /// when `host_below`.
    pub fn traceback(
        &self,
        ctx: Context<'gc>,
        msg: Option<&str>,
        level: usize,
        host_below: bool,
    ) -> String {
        let mut out = String::new();
        if let Some(m) = msg {
            out.push_str(m);
            out.push('\n');
        }
        out.push_str("stack traceback:");
        let mut lines: Vec<String> = self
            .levels()
            .into_iter()
            .skip(level)
            .map(|l| self.traceback_line(ctx, l))
            .collect();
        if host_below {
            lines.push("\n\t[C]: in ?".into());
        }
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

    fn traceback_line(&self, ctx: Context<'gc>, level: Level) -> String {
        let info = self.info(level);
        let mut line = if info.current_line > 0 {
            format!("\n\t{}:{}: in ", info.short_src, info.current_line)
        } else {
            format!("\n\t{}: in ", info.short_src)
        };
        let global = info
            .function
            .and_then(|f| global_name(ctx, Value::Function(f)));
        // Without the stack's values a callback is known by its
        // continuation's name.
        let hint = match level {
            Level::Frame(i) => match &self.frames[i] {
                Frame::Sequence { seq, .. } if info.function.is_none() => seq.0.traceback_name(),
                _ => None,
            },
            Level::Running(_) => None,
        };
        if let Some(g) = global.as_deref().or(hint) {
            line.push_str(&format!("function '{g}'"));
        } else if let Some((kind, name)) = &info.name {
            line.push_str(&format!("{kind} '{name}'"));
        } else if info.what == "main" {
            line.push_str("main chunk");
        } else if info.what != "C" {
            line.push_str(&format!(
                "function <{}:{}>",
                info.short_src, info.line_defined
            ));
        } else {
            line.push('?');
        }
        if info.is_tail_call {
            line.push_str("\n\t(...tail calls...)");
        }
        line
    }
}

/// `pushglobalfuncname`: the function's name in the loaded libraries
/// (`package.loaded`, two levels deep; `_G.` dropped).
pub(crate) fn global_name<'gc>(ctx: Context<'gc>, f: Value<'gc>) -> Option<String> {
    let loaded = match ctx.registry().get(ctx, "_LOADED") {
        Value::Table(t) => t,
        _ => return None,
    };
    let mut k = Value::Nil;
    while let Ok(Some((lib, t))) = loaded.next(k) {
        if let Value::String(lname) = lib {
            if t.raw_eq(f) {
                return Some(lname.to_string());
            }
            if let Value::Table(t) = t {
                let mut fk = Value::Nil;
                while let Ok(Some((key, v))) = t.next(fk) {
                    if let (true, Value::String(s)) = (v.raw_eq(f), key) {
                        let l = lname.to_string();
                        return Some(if l == "_G" {
                            s.to_string()
                        } else {
                            format!("{l}.{s}")
                        });
                    }
                    fk = key;
                }
            }
        }
        k = lib;
    }
    None
}

/// `luaL_traceback` over a thread's frames (no running callback slot),
/// from `level` (0: the innermost frame).
pub(crate) fn traceback<'gc>(
    ctx: Context<'gc>,
    frames: &[Frame<'gc>],
    stack: &[Value<'gc>],
    host_below: bool,
    msg: Option<&str>,
    level: usize,
) -> String {
    StackView {
        frames,
        stack,
        running: None,
    }
    .traceback(ctx, msg, level, host_below)
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
    /// `upvalue`, `for iterator`, `metamethod`), when known.
    pub name: Option<(&'static str, String)>,
    pub nups: usize,
    pub nparams: usize,
    pub is_vararg: bool,
    /// Called by a tail call.
    pub is_tail_call: bool,
    pub function: Option<Function<'gc>>,
}

/// Info about a function value.
pub fn function_info(f: Function<'_>) -> DebugInfo<'_> {
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
                is_tail_call: false,
                function: Some(f),
            }
        }
        Function::Callback(_) => c_info(Some(f)),
    }
}

fn c_info(function: Option<Function<'_>>) -> DebugInfo<'_> {
    DebugInfo {
        source: "=[C]".into(),
        short_src: "[C]".into(),
        what: "C",
        current_line: -1,
        line_defined: -1,
        last_line_defined: -1,
        name: None,
        nups: match function {
            Some(Function::Callback(cb)) => cb.upvalues().len(),
            _ => 0,
        },
        nparams: 0,
        is_vararg: true,
        is_tail_call: false,
        function,
    }
}

/// Info about stack level `level` (0: the running callback, 1: its
/// caller …) of `frames`, for the host (`Execution::debug_info`).
pub(crate) fn level_info<'gc>(frames: &[Frame<'gc>], level: usize) -> Option<DebugInfo<'gc>> {
    if level == 0 {
        return Some(c_info(None));
    }
    let view = StackView {
        frames,
        stack: &[],
        running: None,
    };
    let l = view.level(level - 1)?;
    let mut info = view.info(l);
    if let Level::Running(_) = l {
        info.function = None;
    }
    Some(info)
}
