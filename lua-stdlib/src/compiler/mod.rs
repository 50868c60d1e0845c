//! The front-end: source → syntax tree → bytecode.
//!
//! `lexer`, `parser` and `ast` read Lua 5.4 source into a tree (chains are
//! lists, nesting is counted like lua5.4's C levels); the code generator
//! (`code`, `expr`, `stat`) does register allocation, constants, jump lists
//! and debug information as `lcode.c`/`lparser.c` produce them, so the
//! bytecode, its line numbers and its variable names match what lua5.4
//! reports.

#[allow(dead_code)]
pub(crate) mod ast;
#[allow(dead_code)]
pub(crate) mod lexer;
#[allow(dead_code)]
pub(crate) mod parser;

#[cfg(test)]
mod depth_tests;
#[cfg(test)]
mod tests;

mod code;
mod expr;
mod stat;

use std::sync::Arc;

use code::*;

use crate::vm::closure::Proto;
use crate::vm::opcode::*;

/// A syntax or semantic error, formatted as lua5.4 prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub message: String,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CompileError {}

/// Compiles `source` as a chunk named `chunk_name` (`=name`, `@file`, or
/// the source itself, as `load` takes them).
pub fn compile(source: &[u8], chunk_name: &str) -> Result<Arc<Proto>, CompileError> {
    let id = chunk_id(chunk_name);
    let block = parser::parse_chunk(source).map_err(|e| CompileError {
        message: if e.line == 0 {
            e.message
        } else {
            format!("{id}:{}: {}", e.line, e.message)
        },
    })?;
    let mut g = Gen {
        fs: Vec::new(),
        actvar: Vec::new(),
        labels: Vec::new(),
        gotos: Vec::new(),
        source: Arc::from(id.as_str()),
        chunk_name: Arc::from(chunk_name),
    };
    let proto = g.main(&block).map_err(|e| CompileError {
        message: format!("{id}:{}: {}", e.line, e.message),
    })?;
    Ok(Arc::new(proto))
}

/// The code generator's state: the functions being compiled (innermost
/// last) and the variables, labels and pending gotos of all of them.
pub(crate) struct Gen {
    fs: Vec<FuncState>,
    actvar: Vec<VarDesc>,
    labels: Vec<LabelDesc>,
    gotos: Vec<LabelDesc>,
    source: Arc<str>,
    chunk_name: Arc<str>,
}

impl Gen {
    fn fs(&mut self) -> &mut FuncState {
        self.fs.last_mut().expect("a function is open")
    }

    fn fs_ref(&self) -> &FuncState {
        self.fs.last().expect("a function is open")
    }

    /// Registers in use by active locals of the current function.
    fn nvs(&self) -> u32 {
        let fs = self.fs_ref();
        fs.nvarstack(&self.actvar)
    }

    fn gen_error(&self, msg: &str) -> GenError {
        GenError {
            line: self.fs.last().map_or(0, |f| f.line),
            message: msg.to_string(),
        }
    }

    fn main(&mut self, block: &ast::Block) -> GResult<Proto> {
        self.open_function(0);
        {
            let fs = self.fs();
            fs.p.is_vararg = true;
            fs.add_upvalue(b"_ENV", true, 0)?;
            fs.upval_kinds.push(false);
            fs.abc(VARARGPREP, 0, 0, 0, false);
        }
        self.stat_list(&block.stats, false)?;
        self.fs().line = block.end_line;
        self.close_function(block.end_line)
    }

    fn open_function(&mut self, line: u32) {
        let mut fs = FuncState::new(self.source.clone(), self.chunk_name.clone(), line);
        fs.first_local = self.actvar.len();
        fs.first_label = self.labels.len();
        fs.first_goto = self.gotos.len();
        fs.p.max_stack = 2;
        self.fs.push(fs);
        self.enter_block(false);
    }

    fn close_function(&mut self, end_line: u32) -> GResult<Proto> {
        let nvs = self.nvs();
        self.fs().line = end_line;
        self.fs().ret(nvs, 0);
        self.leave_block()?;
        let mut fs = self.fs.pop().expect("a function is open");
        fs.finish()?;
        fs.p.last_line_defined = end_line;
        self.actvar.truncate(fs.first_local);
        Ok(fs.p)
    }

    /// Declares a local (active only after `adjust_locals`). The parser
    /// has checked lua5.4's limit of 200 locals per function
    /// (`parser::MAX_LOCALS`), at the token where lua5.4 raises it.
    fn new_local(&mut self, name: &[u8], kind: VarKind) -> GResult<()> {
        self.actvar.push(VarDesc {
            name: name.to_vec(),
            kind,
            reg: 0,
            pidx: 0,
        });
        Ok(())
    }

    /// Activates the next `n` declared locals.
    fn adjust_locals(&mut self, n: usize) {
        let first_reg = self.nvs();
        for reg in first_reg..first_reg + n as u32 {
            let fs = self.fs.last_mut().expect("a function is open");
            let vidx = fs.first_local + fs.nactvar;
            fs.nactvar += 1;
            let name = self.actvar[vidx].name.clone();
            let pidx = fs.add_local_info(&name);
            let v = &mut self.actvar[vidx];
            v.reg = reg;
            v.pidx = pidx;
        }
    }

    fn remove_vars(&mut self, to_level: usize) {
        loop {
            let fs = self.fs.last_mut().expect("a function is open");
            if fs.nactvar <= to_level {
                break;
            }
            fs.nactvar -= 1;
            let v = self.actvar.pop();
            if let Some(v) = v {
                if !matches!(v.kind, VarKind::CompileConst(_)) {
                    let pc = fs.pc() as u32;
                    if let Some(lv) = fs.p.local_vars.get_mut(v.pidx) {
                        lv.end_pc = pc;
                    }
                }
            }
        }
    }

    /// Register level of the `nvar`-th active local (`reglevel`).
    fn reg_level(&self, nvar: usize) -> u32 {
        let fs = self.fs_ref();
        let mut i = nvar;
        while i > 0 {
            let v = &self.actvar[fs.first_local + i - 1];
            if !matches!(v.kind, VarKind::CompileConst(_)) {
                return v.reg + 1;
            }
            i -= 1;
        }
        0
    }

    fn single_var_aux(&mut self, level: usize, name: &[u8], base: bool) -> GResult<ExpKind> {
        let (first_local, nactvar) = {
            let fs = &self.fs[level];
            (fs.first_local, fs.nactvar)
        };
        for i in (0..nactvar).rev() {
            let vidx = first_local + i;
            if self.actvar[vidx].name == name {
                let k = match &self.actvar[vidx].kind {
                    VarKind::CompileConst(_) => ExpKind::Const(vidx),
                    _ => ExpKind::Local {
                        reg: self.actvar[vidx].reg,
                        vidx,
                    },
                };
                if !base && matches!(k, ExpKind::Local { .. }) {
                    // mark the block where the variable was declared
                    let fs = &mut self.fs[level];
                    if let Some(b) = fs.blocks.iter_mut().rev().find(|b| b.nactvar <= i) {
                        b.upval = true;
                    }
                    fs.need_close = true;
                }
                return Ok(k);
            }
        }
        if let Some(u) = self.fs[level].search_upvalue(name) {
            return Ok(ExpKind::Upval(u));
        }
        if level == 0 {
            return Ok(ExpKind::Void);
        }
        let k = self.single_var_aux(level - 1, name, false)?;
        match k {
            ExpKind::Local { reg, vidx } => {
                let is_const = self.actvar[vidx].kind != VarKind::Regular;
                let fs = &mut self.fs[level];
                let u = fs.add_upvalue(name, true, reg as u8)?;
                fs.upval_kinds.push(is_const);
                Ok(ExpKind::Upval(u))
            }
            ExpKind::Upval(pu) => {
                let is_const = self.fs[level - 1]
                    .upval_kinds
                    .get(pu as usize)
                    .copied()
                    .unwrap_or(false);
                let fs = &mut self.fs[level];
                let u = fs.add_upvalue(name, false, pu as u8)?;
                fs.upval_kinds.push(is_const);
                Ok(ExpKind::Upval(u))
            }
            other => Ok(other),
        }
    }

    /// A variable reference: local, upvalue, compile-time constant or
    /// global (`_ENV.name`).
    fn single_var(&mut self, name: &[u8], v: &mut ExpDesc) -> GResult<()> {
        let top = self.fs.len() - 1;
        let k = self.single_var_aux(top, name, true)?;
        match k {
            ExpKind::Void => {
                let env = match self.single_var_aux(top, b"_ENV", true)? {
                    // `local _ENV <const> = 11`: globals index the value
                    ExpKind::Const(vidx) => self.const_value(vidx)?,
                    k => k,
                };
                *v = ExpDesc::new(env);
                let nvs = self.nvs();
                self.fs().exp_to_any_reg_up(v, nvs)?;
                let mut key = ExpDesc::new(ExpKind::KStr(name.to_vec()));
                let nvs = self.nvs();
                self.fs().indexed(v, &mut key, nvs)?;
            }
            ExpKind::Const(vidx) => *v = ExpDesc::new(self.const_value(vidx)?),
            k => *v = ExpDesc::new(k),
        }
        Ok(())
    }

    /// The value of the compile-time constant at `vidx` (`const2exp`).
    fn const_value(&self, vidx: usize) -> GResult<ExpKind> {
        match &self.actvar[vidx].kind {
            VarKind::CompileConst(val) => Ok(val.clone()),
            _ => Err(self.gen_error("internal: constant")),
        }
    }

    /// Whether `name` names a compile-time constant here (an assignment
    /// to it is an error even though it compiles to its value).
    fn is_compile_const(&mut self, name: &[u8]) -> GResult<bool> {
        let top = self.fs.len() - 1;
        Ok(matches!(
            self.single_var_aux(top, name, true)?,
            ExpKind::Const(_)
        ))
    }
}

const LUA_IDSIZE: usize = 60;

/// Lua's chunk name for messages, as `luaO_chunkid` builds it.
pub fn chunk_id(chunk_name: &str) -> String {
    let src = chunk_name.as_bytes();
    let bufflen = LUA_IDSIZE;
    let out: Vec<u8> = if let Some(rest) = src.strip_prefix(b"=") {
        rest[..rest.len().min(bufflen - 1)].to_vec()
    } else if let Some(rest) = src.strip_prefix(b"@") {
        if rest.len() < bufflen {
            rest.to_vec()
        } else {
            let keep = bufflen - 1 - 3 - 1;
            let mut v = b"...".to_vec();
            v.extend_from_slice(&rest[rest.len() - keep..]);
            v
        }
    } else {
        let nl = src.iter().position(|&c| c == b'\n');
        let avail = bufflen - 9 - 3 - 2 - 1;
        let mut v = b"[string \"".to_vec();
        if src.len() < avail && nl.is_none() {
            v.extend_from_slice(src);
        } else {
            let mut l = nl.unwrap_or(src.len());
            if l > avail {
                l = avail;
            }
            v.extend_from_slice(&src[..l]);
            v.extend_from_slice(b"...");
        }
        v.extend_from_slice(b"\"]");
        v
    };
    String::from_utf8_lossy(&out).into_owned()
}

/// A readable listing of a prototype (for tests and debugging).
pub fn listing(p: &Proto) -> String {
    let mut s = String::new();
    for (pc, &i) in p.code.iter().enumerate() {
        s.push_str(&format!(
            "{pc:3} [{}] {:10} {} {} {} {}\n",
            p.lines.get(pc).copied().unwrap_or(0),
            op_name(op(i)),
            a(i),
            b(i),
            c(i),
            if k(i) { "k" } else { "" }
        ));
    }
    s
}
