//! Code generation: syntax tree to piccolo `CompiledPrototype`s.
//!
//! Split along its seams: this file holds the per-function state (registers,
//! scopes, constants, name resolution, jump patching, finishing a
//! prototype); `expr.rs` compiles expressions, `binary.rs` operator chains,
//! `suffix.rs` indexing and call chains, and `stat.rs` statements.
//!
//! Recursion follows the tree, which is only as deep as the source is truly
//! nested (see `parser`'s module doc); the lists the tree holds for
//! lua5.4's loops (operator and suffix chains, statements, `elseif` arms,
//! table items) are compiled with loops.
//!
//! Conventions worth knowing before reading the rest:
//! - Locals live in registers `0..n` in declaration order; temporaries sit
//!   above them and are released by resetting `freereg`.
//! - Operations the 0.3.3 VM gets wrong are compiled into calls of Rust
//!   callbacks (`crate::runtime`). Compiled code reaches them through hidden
//!   upvalues of the main chunk whose names cannot be spelled in Lua, so user
//!   code can neither see nor replace them.
//! - Before every call of a Lua value, registers above the arguments are
//!   cleared (`LoadNil`), because the VM leaks the caller's stale registers
//!   into missing parameters of the callee.

mod binary;
mod close;
mod expr;
mod stat;
mod suffix;

use std::{collections::HashMap, sync::Arc};

use piccolo::{
    compiler::{CompiledPrototype, FunctionRef, LineNumber},
    opcode::{OpCode, Operation, RCIndex},
    types::{ConstantIndex16, ConstantIndex8, RegisterIndex, UpValueDescriptor, UpValueIndex},
    Constant,
};

use super::ast::{Attrib, Block, FuncBody, Name};
use crate::runtime::Helper;

/// Where the main chunk's upvalues come from when it is instantiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MainUpval {
    Env,
    Helper(Helper),
}

/// A semantic error found during code generation (no `near` part).
#[derive(Debug)]
pub struct GenError {
    pub line: u32,
    pub message: String,
}

pub type GResult<T> = Result<T, GenError>;

pub(super) type Str = Arc<[u8]>;

#[derive(Debug)]
struct LocalVar {
    name: Name,
    reg: u8,
    attrib: Attrib,
}

#[derive(Debug, Default)]
struct BlockScope {
    /// `actives.len()` when the block was entered.
    nactive: usize,
    is_loop: bool,
    /// Jump instructions of `break`s to patch to the loop's exit.
    breaks: Vec<usize>,
    labels: Vec<Label>,
    /// Whether some local declared in this block was captured by a closure
    /// (its upvalue must be closed when the block is left).
    captured: bool,
    /// Whether a nested block had captured locals (breaks must close them).
    inner_captured: bool,
    /// Index into `pending_gotos` at block entry.
    first_goto: usize,
    /// Registers of `<close>` variables declared in this block.
    to_close: Vec<u8>,
}

#[derive(Debug)]
struct Label {
    name: Name,
    pc: usize,
    nactive: usize,
    line: u32,
}

#[derive(Debug)]
struct PendingGoto {
    name: Name,
    pc: usize,
    line: u32,
    nactive: usize,
}

pub(super) struct FuncState {
    ops: Vec<Operation>,
    op_lines: Vec<u32>,
    constants: Vec<Constant<Str>>,
    const_map: HashMap<ConstKey, u16>,
    upvalues: Vec<(Name, UpValueDescriptor)>,
    #[allow(clippy::vec_box)] // piccolo's CompiledPrototype wants boxes
    protos: Vec<Box<CompiledPrototype<Str>>>,
    actives: Vec<LocalVar>,
    blocks: Vec<BlockScope>,
    freereg: u16,
    max_stack: u16,
    nparams: u8,
    vararg: bool,
    /// `LoadNil`s before calls, completed once the frame size is known.
    precall_nils: Vec<usize>,
    pending_gotos: Vec<PendingGoto>,
    reference: FunctionRef<Str>,
    end_line: u32,
    has_tail_call: bool,
    /// A protected body (see `close.rs`): `return`, outer `break` and
    /// outer `goto` become status results.
    protected: bool,
    protected_break: bool,
    /// Named locals of the Lua function this one is part of, declared
    /// before it: nonzero for protected bodies, which are one Lua function
    /// with their parent (lua5.4's limit of 200 locals counts them all).
    outer_locals: usize,
    /// An upvalue past lua5.4's limit was needed.
    too_many_upvalues: bool,
    /// Where the Lua function this one is part of starts (`None`: the
    /// main chunk), for limit messages.
    line_defined: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ConstKey {
    Nil,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(Str),
}

pub(super) struct CodeGen {
    /// Compile arithmetic and ordering through runtime helpers (full Lua
    /// semantics with metamethods) instead of plain VM operations.
    strict: bool,
    funcs: Vec<FuncState>,
    cur_line: u32,
    interned: HashMap<Vec<u8>, Str>,
    pub(super) main_upvals: Vec<MainUpval>,
    /// Most parameters of any function in the chunk.
    max_params: u16,
    /// Outer labels the protected body just closed jumps to.
    last_protected_gotos: Vec<Vec<u8>>,
    /// Depth of `while` conditions being compiled (they run every
    /// iteration: see `in_loop`).
    pub(super) loop_conditions: u32,
}

/// Compiles a parsed chunk. Returns the main prototype and the plan for its
/// upvalues.
pub fn generate(block: &Block, strict: bool) -> GResult<(CompiledPrototype<Str>, Vec<MainUpval>)> {
    let mut g = CodeGen {
        strict,
        funcs: Vec::new(),
        cur_line: 1,
        interned: HashMap::new(),
        main_upvals: Vec::new(),
        max_params: max_params(block),
        last_protected_gotos: Vec::new(),
        loop_conditions: 0,
    };
    g.open_function(FunctionRef::Chunk, true, block.end_line);
    // `_ENV` is always the main chunk's first upvalue (`setfenv` relies on it)
    g.resolve(b"_ENV");
    g.block_body(block)?;
    let proto = g.close_function(block.end_line)?;
    Ok((proto, g.main_upvals))
}

/// The largest parameter count of any function in `block`.
fn max_params(block: &Block) -> u16 {
    use super::ast::{ExprKind, Field, StatKind, SuffixKind};
    fn expr(e: &super::ast::Expr, m: &mut u16) {
        match &e.kind {
            ExprKind::Function(f) => {
                *m = (*m).max(f.params.len() as u16);
                blk(&f.body, m);
            }
            ExprKind::Table(fields) => {
                for f in fields {
                    match f {
                        Field::Keyed(k, v) => {
                            expr(k, m);
                            expr(v, m);
                        }
                        Field::Item(v) => expr(v, m),
                    }
                }
            }
            ExprKind::Binary(first, rest) => {
                expr(first, m);
                rest.iter().for_each(|r| expr(&r.rhs, m));
            }
            ExprKind::Un(_, a) | ExprKind::Paren(a) => expr(a, m),
            ExprKind::Suffixed(base, sufs) => {
                expr(base, m);
                for s in sufs {
                    match &s.kind {
                        SuffixKind::Index(k) => expr(k, m),
                        SuffixKind::Call(args) | SuffixKind::Method(_, args) => {
                            args.iter().for_each(|a| expr(a, m))
                        }
                    }
                }
            }
            _ => {}
        }
    }
    fn blk(b: &Block, m: &mut u16) {
        for s in &b.stats {
            match &s.kind {
                StatKind::Call(e) => expr(e, m),
                StatKind::Assign(t, v) => t.iter().chain(v).for_each(|e| expr(e, m)),
                StatKind::Local(_, v) | StatKind::Return(v) => v.iter().for_each(|e| expr(e, m)),
                StatKind::LocalFunction(_, f) => {
                    *m = (*m).max(f.params.len() as u16);
                    blk(&f.body, m);
                }
                StatKind::Do(b) => blk(b, m),
                StatKind::While(c, b) | StatKind::Repeat(b, c) => {
                    expr(c, m);
                    blk(b, m);
                }
                StatKind::If(arms, e) => {
                    for (c, b) in arms {
                        expr(c, m);
                        blk(b, m);
                    }
                    if let Some(b) = e {
                        blk(b, m);
                    }
                }
                StatKind::NumFor(f) => {
                    expr(&f.start, m);
                    expr(&f.limit, m);
                    if let Some(s) = &f.step {
                        expr(s, m);
                    }
                    blk(&f.body, m);
                }
                StatKind::GenFor(f) => {
                    f.exprs.iter().for_each(|e| expr(e, m));
                    blk(&f.body, m);
                }
                StatKind::Break | StatKind::Goto(_) | StatKind::Label(_) => {}
            }
        }
    }
    let mut m = 0;
    blk(block, &mut m);
    m
}

/// piccolo's `LineNumber` counts from 0.
fn line_number(line: u32) -> LineNumber {
    LineNumber(line.saturating_sub(1) as u64)
}

pub(super) const MAX_REGS: u16 = 250;

/// lua5.4's `MAXVARS`: active locals per function.
const MAX_VARS: usize = 200;

/// lua5.4's `MAXUPVAL`.
const MAX_UPVALUES: usize = 255;

/// Minimum frame size of functions that make tail calls.
const TAIL_CALL_FRAME: u16 = 32;

impl CodeGen {
    pub(super) fn fs(&mut self) -> &mut FuncState {
        self.funcs.last_mut().expect("a function is open")
    }

    pub(super) fn err<T>(&self, line: u32, msg: impl Into<String>) -> GResult<T> {
        Err(GenError {
            line,
            message: msg.into(),
        })
    }

    pub(super) fn intern(&mut self, s: &[u8]) -> Str {
        if let Some(v) = self.interned.get(s) {
            return v.clone();
        }
        let a: Str = Arc::from(s);
        self.interned.insert(s.to_vec(), a.clone());
        a
    }

    fn open_function(&mut self, reference: FunctionRef<Str>, vararg: bool, end_line: u32) {
        let line_defined = match &reference {
            FunctionRef::Chunk => None,
            FunctionRef::Named(_, l) | FunctionRef::Expression(l) => Some(l.0 as u32 + 1),
        };
        self.funcs.push(FuncState {
            ops: Vec::new(),
            op_lines: Vec::new(),
            constants: Vec::new(),
            const_map: HashMap::new(),
            upvalues: Vec::new(),
            protos: Vec::new(),
            actives: Vec::new(),
            blocks: vec![BlockScope::default()],
            freereg: 0,
            max_stack: 0,
            nparams: 0,
            vararg,
            precall_nils: Vec::new(),
            pending_gotos: Vec::new(),
            reference,
            end_line,
            has_tail_call: false,
            protected: false,
            protected_break: false,
            outer_locals: 0,
            too_many_upvalues: false,
            line_defined,
        });
    }

    /// Compiles a nested function and returns its prototype index.
    pub(super) fn function(&mut self, f: &FuncBody) -> GResult<u8> {
        let reference = match &f.name {
            Some(n) => FunctionRef::Named(self.intern(n), line_number(f.line)),
            None => FunctionRef::Expression(line_number(f.line)),
        };
        self.open_function(reference, f.vararg, f.end_line);
        let saved_line = self.cur_line;
        if f.params.len() > MAX_REGS as usize {
            return self.err(f.line, "too many parameters");
        }
        for p in &f.params {
            self.declare_local(p.clone(), Attrib::None)?;
        }
        let np = f.params.len() as u8;
        self.fs().nparams = np;
        self.block_body(&f.body)?;
        let proto = self.close_function(f.end_line)?;
        self.cur_line = saved_line;
        let fs = self.fs();
        if fs.protos.len() >= 255 {
            return self.err(f.line, "too many functions");
        }
        fs.protos.push(Box::new(proto));
        Ok((fs.protos.len() - 1) as u8)
    }

    fn close_function(&mut self, end_line: u32) -> GResult<CompiledPrototype<Str>> {
        self.cur_line = end_line;
        // implicit `return`
        self.emit(Operation::Return {
            start: RegisterIndex(0),
            count: piccolo::types::VarCount::constant(0),
        });
        self.resolve_block_gotos_at_function_end()?;
        if self.fs().too_many_upvalues {
            let msg = format!(
                "too many upvalues (limit is {MAX_UPVALUES}) in {}",
                self.function_where()
            );
            return self.err(end_line, msg);
        }
        let mut fs = self.funcs.pop().expect("function open");
        let mut stack_size = fs.max_stack.max(fs.nparams as u16).max(1);
        if fs.has_tail_call {
            // piccolo 0.3.3 panics when a tail-called function has more
            // parameters than the caller's frame has registers; no Lua
            // function has more than `max_params` (chunk) or, in practice,
            // TAIL_CALL_FRAME parameters
            stack_size = stack_size.max(TAIL_CALL_FRAME.max(self.max_params));
        }
        for &i in &fs.precall_nils {
            if let Operation::LoadNil { dest, count } = &mut fs.ops[i] {
                *count = (stack_size.saturating_sub(dest.0 as u16)).min(255) as u8;
            }
        }
        let mut opcode_line_numbers: Vec<(usize, LineNumber)> = Vec::new();
        for (i, &l) in fs.op_lines.iter().enumerate() {
            if opcode_line_numbers.last().map(|x| x.1) != Some(line_number(l)) {
                opcode_line_numbers.push((i, line_number(l)));
            }
        }
        if opcode_line_numbers.is_empty() {
            opcode_line_numbers.push((0, line_number(end_line)));
        }
        Ok(CompiledPrototype {
            reference: fs.reference,
            fixed_params: fs.nparams,
            has_varargs: fs.vararg,
            stack_size,
            constants: fs.constants,
            opcodes: fs.ops.into_iter().map(OpCode::encode).collect(),
            opcode_line_numbers,
            upvalues: fs.upvalues.into_iter().map(|(_, d)| d).collect(),
            prototypes: fs.protos,
        })
    }

    // ---- emission -------------------------------------------------------

    pub(super) fn emit(&mut self, op: Operation) -> usize {
        let line = self.cur_line;
        let fs = self.fs();
        fs.ops.push(op);
        fs.op_lines.push(line);
        fs.ops.len() - 1
    }

    pub(super) fn pc(&mut self) -> usize {
        self.fs().ops.len()
    }

    /// Emits a jump to be patched later.
    pub(super) fn emit_jump(&mut self) -> usize {
        self.emit(Operation::Jump {
            offset: 0,
            close_upvalues: piccolo::types::Opt254::none(),
        })
    }

    /// Points the jump at `at` to `target`.
    pub(super) fn patch_jump(&mut self, at: usize, target: usize) -> GResult<()> {
        let line = self.cur_line;
        let offset = target as i64 - (at as i64 + 1);
        let Ok(offset) = i16::try_from(offset) else {
            return self.err(line, "control structure too long");
        };
        match &mut self.fs().ops[at] {
            Operation::Jump { offset: o, .. } => *o = offset,
            Operation::NumericForPrep { jump, .. }
            | Operation::NumericForLoop { jump, .. }
            | Operation::GenericForLoop { jump, .. } => *jump = offset,
            _ => unreachable!("patching a non-jump"),
        }
        Ok(())
    }

    pub(super) fn patch_here(&mut self, jumps: &[usize]) -> GResult<()> {
        let here = self.pc();
        for &j in jumps {
            self.patch_jump(j, here)?;
        }
        Ok(())
    }

    pub(super) fn set_jump_close(&mut self, at: usize, reg: u8) {
        if let Operation::Jump { close_upvalues, .. } = &mut self.fs().ops[at] {
            *close_upvalues = piccolo::types::Opt254::some(reg);
        }
    }

    // ---- registers --------------------------------------------------------

    pub(super) fn alloc(&mut self, n: u16) -> GResult<u8> {
        let line = self.cur_line;
        let fs = self.fs();
        let r = fs.freereg;
        if r + n > MAX_REGS {
            return self.err(line, "function or expression needs too many registers");
        }
        fs.freereg += n;
        if fs.freereg > fs.max_stack {
            fs.max_stack = fs.freereg;
        }
        Ok(r as u8)
    }

    pub(super) fn freereg(&mut self) -> u8 {
        self.fs().freereg as u8
    }

    pub(super) fn set_freereg(&mut self, r: u8) {
        let fs = self.fs();
        fs.freereg = r as u16;
        if fs.freereg > fs.max_stack {
            fs.max_stack = fs.freereg;
        }
    }

    /// Registers in use by active locals.
    pub(super) fn nactive_regs(&mut self) -> u8 {
        let fs = self.fs();
        fs.actives.last().map(|l| l.reg + 1).unwrap_or(0)
    }

    // ---- constants --------------------------------------------------------

    pub(super) fn constant(&mut self, c: Constant<Str>) -> GResult<u16> {
        let key = match &c {
            Constant::Nil => ConstKey::Nil,
            Constant::Boolean(b) => ConstKey::Bool(*b),
            Constant::Integer(i) => ConstKey::Int(*i),
            Constant::Number(n) => ConstKey::Float(n.to_bits()),
            Constant::String(s) => ConstKey::Str(s.clone()),
        };
        let line = self.cur_line;
        let fs = self.fs();
        if let Some(&i) = fs.const_map.get(&key) {
            return Ok(i);
        }
        if fs.constants.len() >= u16::MAX as usize {
            return self.err(line, "too many constants");
        }
        fs.constants.push(c);
        let i = (fs.constants.len() - 1) as u16;
        fs.const_map.insert(key, i);
        Ok(i)
    }

    /// A constant as an `RCIndex` if its index fits in 8 bits.
    pub(super) fn constant_rc(&mut self, c: Constant<Str>) -> GResult<Option<RCIndex>> {
        let i = self.constant(c)?;
        Ok(u8::try_from(i)
            .ok()
            .map(|i| RCIndex::Constant(ConstantIndex8(i))))
    }

    pub(super) fn load_constant(&mut self, dest: u8, c: Constant<Str>) -> GResult<()> {
        let i = self.constant(c)?;
        self.emit(Operation::LoadConstant {
            dest: RegisterIndex(dest),
            constant: ConstantIndex16(i),
        });
        Ok(())
    }

    // ---- scopes -----------------------------------------------------------

    pub(super) fn enter_block(&mut self, is_loop: bool) {
        let fs = self.fs();
        let b = BlockScope {
            nactive: fs.actives.len(),
            is_loop,
            first_goto: fs.pending_gotos.len(),
            ..Default::default()
        };
        fs.blocks.push(b);
    }

    /// Leaves a block: closes captured upvalues and `<close>` variables on
    /// the fall-through path, resolves gotos, frees its registers. Returns
    /// the loop's break jumps (to be patched by the caller).
    pub(super) fn leave_block(&mut self, fallthrough_close: bool) -> GResult<Vec<usize>> {
        let (nactive, captured, to_close) = {
            let fs = self.fs();
            let b = fs.blocks.last().expect("block open");
            (b.nactive, b.captured, b.to_close.clone())
        };
        let base_reg = self.reg_of_active(nactive);
        if fallthrough_close {
            for &r in to_close.iter().rev() {
                self.emit_close_call(r)?;
            }
            if captured {
                self.emit(Operation::Jump {
                    offset: 0,
                    close_upvalues: piccolo::types::Opt254::some(base_reg),
                });
            }
        }
        let fs = self.fs();
        let b = fs.blocks.pop().expect("block open");
        fs.actives.truncate(nactive);
        // pending gotos of this block move out: they now stand at the
        // block's own level
        for g in fs.pending_gotos[b.first_goto..].iter_mut() {
            if g.nactive > nactive {
                g.nactive = nactive;
            }
        }
        let any_captured = captured || b.inner_captured;
        if let Some(parent) = fs.blocks.last_mut() {
            parent.inner_captured |= any_captured;
        }
        let breaks = b.breaks;
        if any_captured {
            for &j in &breaks {
                self.set_jump_close(j, base_reg);
            }
        }
        let r = self.nactive_regs();
        self.set_freereg(r);
        Ok(breaks)
    }

    /// Register of the active local at `idx` (or the next free one).
    fn reg_of_active(&mut self, idx: usize) -> u8 {
        let fs = self.fs();
        match fs.actives.get(idx) {
            Some(l) => l.reg,
            None => fs.freereg as u8,
        }
    }

    /// Declares a local in the next register (which must be `freereg` or
    /// already reserved at exactly that position).
    pub(super) fn declare_local(&mut self, name: Name, attrib: Attrib) -> GResult<u8> {
        let reg = self.nactive_regs();
        if reg as u16 >= MAX_REGS {
            let line = self.cur_line;
            return self.err(line, "too many local variables");
        }
        if !name.starts_with(b"(") && self.named_locals() >= MAX_VARS {
            let line = self.cur_line;
            let msg = format!(
                "too many local variables (limit is {MAX_VARS}) in {}",
                self.function_where()
            );
            return self.err(line, msg);
        }
        let fs = self.fs();
        fs.actives.push(LocalVar { name, reg, attrib });
        if fs.freereg < reg as u16 + 1 {
            fs.freereg = reg as u16 + 1;
        }
        if fs.freereg > fs.max_stack {
            fs.max_stack = fs.freereg;
        }
        if attrib == Attrib::Close {
            fs.blocks.last_mut().expect("block open").to_close.push(reg);
        }
        Ok(reg)
    }

    /// Named locals active in the current Lua function (hidden ones, whose
    /// names start with `(`, are ours and not counted: lua5.4 has fewer).
    pub(super) fn named_locals(&mut self) -> usize {
        let fs = self.fs();
        fs.outer_locals
            + fs.actives
                .iter()
                .filter(|l| !l.name.starts_with(b"("))
                .count()
    }

    /// "main function" or "function at line N", as in lua5.4's limit errors.
    pub(super) fn function_where(&mut self) -> String {
        match self.fs().line_defined {
            None => "main function".into(),
            Some(l) => format!("function at line {l}"),
        }
    }

    // ---- name resolution ----------------------------------------------------

    pub(super) fn resolve(&mut self, name: &[u8]) -> VarLoc {
        let fs = self.funcs.last().expect("function open");
        for l in fs.actives.iter().rev() {
            if l.name == name {
                return VarLoc::Local(l.reg, l.attrib);
            }
        }
        match self.resolve_upvalue(self.funcs.len() - 1, name) {
            Some((i, attrib)) => VarLoc::Upval(i, attrib),
            None => VarLoc::Global,
        }
    }

    /// Where `_ENV` is: a local or an upvalue (never a global; past the
    /// upvalue limit, which fails the function, upvalue 0 stands in).
    pub(super) fn resolve_env(&mut self) -> EnvLoc {
        match self.resolve(b"_ENV") {
            VarLoc::Local(r, _) => EnvLoc::Local(r),
            VarLoc::Upval(i, _) => EnvLoc::Upval(i),
            VarLoc::Global => EnvLoc::Upval(0),
        }
    }

    fn resolve_upvalue(&mut self, level: usize, name: &[u8]) -> Option<(u8, Attrib)> {
        if let Some(i) = self.funcs[level]
            .upvalues
            .iter()
            .position(|(n, _)| n == name)
        {
            let attrib = self.upvalue_attrib(level, name);
            return Some((i as u8, attrib));
        }
        let (desc, attrib) = if level == 0 {
            let up = if name == b"_ENV" {
                MainUpval::Env
            } else {
                MainUpval::Helper(Helper::from_hidden_name(name)?)
            };
            self.main_upvals.push(up);
            (UpValueDescriptor::Environment, Attrib::None)
        } else {
            let parent = &mut self.funcs[level - 1];
            let found = parent
                .actives
                .iter()
                .rev()
                .find(|l| l.name == name)
                .map(|l| (l.reg, l.attrib));
            if let Some((reg, attrib)) = found {
                // mark the block that declared it as captured
                let idx = parent
                    .actives
                    .iter()
                    .rposition(|l| l.name == name)
                    .expect("found above");
                if let Some(b) = parent.blocks.iter_mut().rev().find(|b| b.nactive <= idx) {
                    b.captured = true;
                }
                (UpValueDescriptor::ParentLocal(RegisterIndex(reg)), attrib)
            } else {
                let (i, attrib) = self.resolve_upvalue(level - 1, name)?;
                (UpValueDescriptor::Outer(UpValueIndex(i)), attrib)
            }
        };
        let f = &mut self.funcs[level];
        if f.upvalues.len() >= MAX_UPVALUES {
            // reported when the function is closed (`resolve` has no error)
            f.too_many_upvalues = true;
            return None;
        }
        f.upvalues.push((name.to_vec(), desc));
        Some(((f.upvalues.len() - 1) as u8, attrib))
    }

    fn upvalue_attrib(&self, level: usize, name: &[u8]) -> Attrib {
        for f in self.funcs[..level].iter().rev() {
            if let Some(l) = f.actives.iter().rev().find(|l| l.name == name) {
                return l.attrib;
            }
        }
        Attrib::None
    }

    /// Index of the hidden upvalue holding a runtime helper.
    pub(super) fn helper_upvalue(&mut self, h: Helper) -> u8 {
        let level = self.funcs.len() - 1;
        // `None` only past the upvalue limit, which fails the function
        // when it is closed
        self.resolve_upvalue(level, h.hidden_name())
            .map_or(0, |(i, _)| i)
    }

    /// Loads a helper callback into `dest`.
    pub(super) fn load_helper(&mut self, h: Helper, dest: u8) {
        let up = self.helper_upvalue(h);
        self.emit(Operation::GetUpValue {
            dest: RegisterIndex(dest),
            source: UpValueIndex(up),
        });
    }

    /// Emits `close(value)` for a `<close>` variable.
    pub(super) fn emit_close_call(&mut self, reg: u8) -> GResult<()> {
        let base = self.freereg();
        self.alloc(2)?;
        self.load_helper(Helper::Close, base);
        self.emit(Operation::Move {
            dest: RegisterIndex(base + 1),
            source: RegisterIndex(reg),
        });
        self.emit(Operation::Call {
            func: RegisterIndex(base),
            args: piccolo::types::VarCount::constant(1),
            returns: piccolo::types::VarCount::constant(0),
        });
        self.set_freereg(base);
        Ok(())
    }

    /// `close(value, name)`: checks at declaration that a `<close>`
    /// variable's value can be closed (lua5.4 errors there, not at exit).
    pub(super) fn emit_close_check(&mut self, reg: u8, name: &[u8]) -> GResult<()> {
        let base = self.freereg();
        self.alloc(3)?;
        self.load_helper(Helper::Close, base);
        self.emit(Operation::Move {
            dest: RegisterIndex(base + 1),
            source: RegisterIndex(reg),
        });
        let c = Constant::String(self.intern(name));
        self.load_constant(base + 2, c)?;
        self.emit(Operation::Call {
            func: RegisterIndex(base),
            args: piccolo::types::VarCount::constant(2),
            returns: piccolo::types::VarCount::constant(0),
        });
        self.set_freereg(base);
        Ok(())
    }

    /// Registers of all `<close>` variables active in the current function,
    /// innermost last, down to block depth `depth`.
    pub(super) fn close_regs_from(&mut self, depth: usize) -> Vec<u8> {
        let fs = self.fs();
        fs.blocks[depth..]
            .iter()
            .flat_map(|b| b.to_close.iter().copied())
            .collect()
    }

    pub(super) fn has_close_vars(&mut self) -> bool {
        self.fs().blocks.iter().any(|b| !b.to_close.is_empty())
    }

    // ---- goto / labels ------------------------------------------------------

    pub(super) fn add_label(&mut self, name: &[u8], line: u32, at_block_end: bool) -> GResult<()> {
        // duplicate in any enclosing block of this function?
        let fs = self.funcs.last().expect("function open");
        for b in &fs.blocks {
            if let Some(l) = b.labels.iter().find(|l| l.name == name) {
                return self.err(
                    line,
                    format!(
                        "label '{}' already defined on line {}",
                        String::from_utf8_lossy(name),
                        l.line
                    ),
                );
            }
        }
        let pc = self.pc();
        let fs = self.fs();
        let block = fs.blocks.last().expect("block open");
        let nactive = if at_block_end {
            block.nactive
        } else {
            fs.actives.len()
        };
        let first = block.first_goto;
        let label = Label {
            name: name.to_vec(),
            pc,
            nactive,
            line,
        };
        // resolve pending forward gotos of this block
        let mut i = first;
        while i < self.fs().pending_gotos.len() {
            if self.fs().pending_gotos[i].name == name {
                let g = self.fs().pending_gotos.remove(i);
                if g.nactive < label.nactive {
                    let fs = self.fs();
                    let var = String::from_utf8_lossy(&fs.actives[g.nactive].name).into_owned();
                    return self.err(
                        g.line,
                        format!(
                            "<goto {}> at line {} jumps into the scope of local '{}'",
                            String::from_utf8_lossy(name),
                            g.line,
                            var
                        ),
                    );
                }
                self.patch_jump(g.pc, pc)?;
                let close = self.reg_of_active(label.nactive);
                self.set_jump_close(g.pc, close);
            } else {
                i += 1;
            }
        }
        self.fs()
            .blocks
            .last_mut()
            .expect("block open")
            .labels
            .push(label);
        Ok(())
    }

    pub(super) fn goto(&mut self, name: &[u8], line: u32) -> GResult<()> {
        // a visible label (backward jump)?
        let fs = self.funcs.last().expect("function open");
        let mut found = None;
        for b in fs.blocks.iter().rev() {
            if let Some(l) = b.labels.iter().find(|l| l.name == name) {
                found = Some((l.pc, l.nactive));
                break;
            }
        }
        if let Some((pc, nactive)) = found {
            // closing `<close>` variables on backward gotos is not supported
            let j = self.emit_jump();
            self.patch_jump(j, pc)?;
            let close = self.reg_of_active(nactive);
            self.set_jump_close(j, close);
            return Ok(());
        }
        let j = self.emit_jump();
        let fs = self.fs();
        let nactive = fs.actives.len();
        fs.pending_gotos.push(PendingGoto {
            name: name.to_vec(),
            pc: j,
            line,
            nactive,
        });
        Ok(())
    }

    fn resolve_block_gotos_at_function_end(&mut self) -> GResult<()> {
        if self.fs().protected {
            return self.protected_gotos_at_end();
        }
        let end_line = self.fs().end_line;
        if let Some(g) = self.fs().pending_gotos.first() {
            let msg = format!(
                "no visible label '{}' for <goto> at line {}",
                String::from_utf8_lossy(&g.name),
                g.line
            );
            return self.err(end_line, msg);
        }
        Ok(())
    }

    /// Whether code being generated sits inside a loop of this function.
    pub(super) fn in_loop(&mut self) -> bool {
        self.loop_conditions > 0 || self.fs().blocks.iter().any(|b| b.is_loop)
    }

    /// Index of the innermost loop block, if any.
    pub(super) fn innermost_loop(&mut self) -> Option<usize> {
        self.fs().blocks.iter().rposition(|b| b.is_loop)
    }

    pub(super) fn add_break(&mut self, loop_idx: usize, jump: usize) {
        self.fs().blocks[loop_idx].breaks.push(jump);
    }

    pub(super) fn record_precall_nil(&mut self, at: usize) {
        self.fs().precall_nils.push(at);
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum VarLoc {
    Local(u8, Attrib),
    Upval(u8, Attrib),
    Global,
}

/// Where `_ENV` is.
#[derive(Debug, Clone, Copy)]
pub(super) enum EnvLoc {
    Local(u8),
    Upval(u8),
}
