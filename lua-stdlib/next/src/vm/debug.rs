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

fn rname(p: &Proto, pc: usize, r: usize) -> String {
    match obj_name(p, pc, r) {
        Some(("constant", n)) => n,
        _ => "?".into(),
    }
}

fn is_env(p: &Proto, pc: usize, i: Instruction, is_up: bool) -> &'static str {
    let t = b(i);
    let name = if is_up {
        Some(upval_name(p, t))
    } else {
        obj_name(p, pc, t).map(|(_, n)| n)
    };
    if name.as_deref() == Some("_ENV") {
        "global"
    } else {
        "field"
    }
}

/// `getobjname`: what register `reg` holds at `lastpc`, as a (kind, name).
pub fn obj_name(p: &Proto, lastpc: usize, reg: usize) -> Option<(&'static str, String)> {
    if let Some(n) = local_name(p, reg + 1, lastpc) {
        return Some(("local", String::from_utf8_lossy(n).into_owned()));
    }
    let pc = find_set_reg(p, lastpc, reg)?;
    let i = p.code[pc];
    match op(i) {
        MOVE => {
            if b(i) < a(i) {
                return obj_name(p, pc, b(i));
            }
            None
        }
        GETTABUP => Some((is_env(p, pc, i, true), kname(p, c(i)))),
        GETTABLE => Some((is_env(p, pc, i, false), rname(p, pc, c(i)))),
        GETI => Some(("field", "integer index".into())),
        GETFIELD => Some((is_env(p, pc, i, false), kname(p, c(i)))),
        GETUPVAL => Some(("upvalue", upval_name(p, b(i)))),
        LOADK => const_name(p, bx(i)).map(|n| ("constant", n)),
        LOADKX => p
            .code
            .get(pc + 1)
            .and_then(|&e| const_name(p, ax(e)))
            .map(|n| ("constant", n)),
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
#[allow(dead_code)] // for debug.traceback, next step
pub fn called_name(p: &Proto, pc: usize) -> Option<(&'static str, String)> {
    let i = *p.code.get(pc)?;
    match op(i) {
        CALL | TAILCALL => obj_name(p, pc, a(i)),
        TFORCALL => Some(("for iterator", "for iterator".into())),
        _ => None,
    }
}
