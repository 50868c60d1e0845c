//! The code emitter (`lcode.c`): instructions, registers, constants, jump
//! lists and expression descriptors. [`super::expr`] and [`super::stat`]
//! walk the syntax tree and drive it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::vm::closure::{Constant, LocVar, Proto, UpvalDesc};
use crate::vm::number;
use crate::vm::opcode::*;

pub const NO_JUMP: i32 = -1;
/// Registers a function may use (`MAXREGS`).
pub const MAX_REGS: usize = 255;

/// lua5.4's `MAXUPVAL`: upvalues one function may have.
pub const MAX_UPVALUES: usize = 255;

/// A compile-time error (semantic, found after parsing).
#[derive(Debug)]
pub struct GenError {
    pub line: u32,
    pub message: String,
}

pub type GResult<T> = Result<T, GenError>;

/// Where an expression's value is (`expkind` of `lparser.h`).
#[derive(Debug, Clone, PartialEq)]
pub enum ExpKind {
    Void,
    Nil,
    True,
    False,
    /// Constant index.
    K(u32),
    KFlt(f64),
    KInt(i64),
    KStr(Vec<u8>),
    /// Value in a fixed register.
    NonReloc(u32),
    /// Local variable in register `reg`.
    Local {
        reg: u32,
        vidx: usize,
    },
    Upval(u32),
    /// Compile-time constant (`<const>` with a constant value): index in
    /// the active variables.
    Const(usize),
    Indexed {
        t: u32,
        key: u32,
    },
    IndexUp {
        t: u32,
        key: u32,
    },
    IndexInt {
        t: u32,
        key: u32,
    },
    IndexStr {
        t: u32,
        key: u32,
    },
    /// A test whose jump is at this pc.
    Jmp(i32),
    /// An instruction at this pc whose target register is still free.
    Reloc(i32),
    Call(i32),
    Vararg(i32),
}

#[derive(Debug, Clone)]
pub struct ExpDesc {
    pub k: ExpKind,
    /// Patch list of "exit when true".
    pub t: i32,
    /// Patch list of "exit when false".
    pub f: i32,
}

impl ExpDesc {
    pub fn new(k: ExpKind) -> ExpDesc {
        ExpDesc {
            k,
            t: NO_JUMP,
            f: NO_JUMP,
        }
    }
    pub fn has_jumps(&self) -> bool {
        self.t != self.f
    }
}

/// Kind of an active variable.
#[derive(Debug, Clone, PartialEq)]
pub enum VarKind {
    Regular,
    Const,
    Close,
    /// Compile-time constant with its value.
    CompileConst(ExpKind),
}

#[derive(Debug, Clone)]
pub struct VarDesc {
    pub name: Vec<u8>,
    pub kind: VarKind,
    pub reg: u32,
    /// Index in the prototype's local variable info.
    pub pidx: usize,
}

#[derive(Debug, Clone)]
pub struct LabelDesc {
    pub name: Vec<u8>,
    pub pc: i32,
    pub line: u32,
    pub nactvar: usize,
    pub close: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Block {
    /// Index of the first label of this block (in `labels`).
    pub first_label: usize,
    pub first_goto: usize,
    pub nactvar: usize,
    pub upval: bool,
    pub is_loop: bool,
    pub inside_tbc: bool,
}

/// One function being compiled.
pub struct FuncState {
    pub p: Proto,
    pub kcache: HashMap<KKey, u32>,
    pub freereg: u32,
    /// Index in `Gen::actvar` of this function's first active variable.
    pub first_local: usize,
    /// Number of active locals of this function.
    pub nactvar: usize,
    pub blocks: Vec<Block>,
    pub last_target: i32,
    pub need_close: bool,
    pub line: u32,
    /// Index in `Gen::labels` / `Gen::gotos` where this function's start.
    pub first_label: usize,
    pub first_goto: usize,
    /// Per upvalue: whether it refers to a `<const>`/`<close>` variable.
    pub upval_kinds: Vec<bool>,
}

/// Key of the constant cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KKey {
    Nil,
    Bool(bool),
    Int(i64),
    Flt(u64),
    Str(Vec<u8>),
}

impl FuncState {
    pub fn new(source: Arc<str>, chunk_name: Arc<str>, line: u32) -> FuncState {
        FuncState {
            p: Proto {
                source,
                chunk_name,
                line_defined: line,
                ..Proto::default()
            },
            kcache: HashMap::new(),
            freereg: 0,
            first_local: 0,
            nactvar: 0,
            blocks: Vec::new(),
            last_target: 0,
            need_close: false,
            line,
            first_label: 0,
            first_goto: 0,
            upval_kinds: Vec::new(),
        }
    }

    pub fn pc(&self) -> i32 {
        self.p.code.len() as i32
    }

    pub fn code(&mut self, i: Instruction) -> i32 {
        self.p.code.push(i);
        self.p.lines.push(self.line);
        self.pc() - 1
    }

    pub fn abc(&mut self, op: u8, a: u32, b: u32, c: u32, k: bool) -> i32 {
        self.code(abck(op, a, b, c, k))
    }

    pub fn abx(&mut self, op: u8, a: u32, bx: u32) -> i32 {
        self.code(abx(op, a, bx))
    }

    pub fn asbx(&mut self, op: u8, a: u32, sbx: i32) -> i32 {
        self.code(asbx(op, a, sbx))
    }

    /// Sets the line of the last instruction (`luaK_fixline`).
    pub fn fix_line(&mut self, line: u32) {
        if let Some(l) = self.p.lines.last_mut() {
            *l = line;
        }
    }

    fn err<T>(&self, msg: impl Into<String>) -> GResult<T> {
        Err(GenError {
            line: self.line,
            message: msg.into(),
        })
    }

    // ---- registers ------------------------------------------------------

    pub fn check_stack(&mut self, n: u32) -> GResult<()> {
        let newstack = self.freereg + n;
        if newstack as usize > self.p.max_stack as usize {
            if newstack as usize >= MAX_REGS {
                return self.err("function or expression needs too many registers");
            }
            self.p.max_stack = newstack as u8;
        }
        Ok(())
    }

    pub fn reserve_regs(&mut self, n: u32) -> GResult<()> {
        self.check_stack(n)?;
        self.freereg += n;
        Ok(())
    }

    /// Number of registers holding active locals (`luaY_nvarstack`).
    pub fn nvarstack(&self, actvar: &[VarDesc]) -> u32 {
        let mut i = self.nactvar;
        while i > 0 {
            let v = &actvar[self.first_local + i - 1];
            if !matches!(v.kind, VarKind::CompileConst(_)) {
                return v.reg + 1;
            }
            i -= 1;
        }
        0
    }

    fn free_reg(&mut self, reg: u32, nvarstack: u32) {
        if reg >= nvarstack {
            self.freereg -= 1;
            debug_assert_eq!(reg, self.freereg);
        }
    }

    pub fn free_exp(&mut self, e: &ExpDesc, nvarstack: u32) {
        if let ExpKind::NonReloc(r) = e.k {
            self.free_reg(r, nvarstack);
        }
    }

    pub fn free_exps(&mut self, e1: &ExpDesc, e2: &ExpDesc, nvarstack: u32) {
        let r1 = if let ExpKind::NonReloc(r) = e1.k {
            Some(r)
        } else {
            None
        };
        let r2 = if let ExpKind::NonReloc(r) = e2.k {
            Some(r)
        } else {
            None
        };
        match (r1, r2) {
            (Some(a), Some(b)) if a > b => {
                self.free_reg(a, nvarstack);
                self.free_reg(b, nvarstack);
            }
            (Some(a), Some(b)) => {
                self.free_reg(b, nvarstack);
                self.free_reg(a, nvarstack);
            }
            (Some(a), None) | (None, Some(a)) => self.free_reg(a, nvarstack),
            _ => {}
        }
    }

    // ---- constants ------------------------------------------------------

    fn add_k(&mut self, key: KKey, c: Constant) -> u32 {
        if let Some(&i) = self.kcache.get(&key) {
            return i;
        }
        let i = self.p.constants.len() as u32;
        self.p.constants.push(c);
        self.kcache.insert(key, i);
        i
    }

    pub fn string_k(&mut self, s: &[u8]) -> u32 {
        self.add_k(KKey::Str(s.to_vec()), Constant::String(s.into()))
    }

    pub fn int_k(&mut self, i: i64) -> u32 {
        self.add_k(KKey::Int(i), Constant::Integer(i))
    }

    pub fn number_k(&mut self, f: f64) -> u32 {
        // Floats with an integral value get a distinct key so they never
        // merge with the integer constant of the same value.
        let key = if f.is_nan() {
            KKey::Flt(u64::MAX)
        } else {
            KKey::Flt(f.to_bits())
        };
        self.add_k(key, Constant::Number(f))
    }

    pub fn bool_k(&mut self, b: bool) -> u32 {
        self.add_k(KKey::Bool(b), Constant::Boolean(b))
    }

    pub fn nil_k(&mut self) -> u32 {
        self.add_k(KKey::Nil, Constant::Nil)
    }

    // ---- jumps ----------------------------------------------------------

    pub fn jump(&mut self) -> i32 {
        self.code(isj(JMP, NO_JUMP))
    }

    fn get_jump(&self, pc: i32) -> i32 {
        let off = sj(self.p.code[pc as usize]);
        if off == NO_JUMP as i64 {
            NO_JUMP
        } else {
            pc + 1 + off as i32
        }
    }

    fn fix_jump(&mut self, pc: i32, dest: i32) -> GResult<()> {
        let off = dest - (pc + 1);
        if !(-(OFFSET_SJ)..=(MAXARG_SJ as i32 - OFFSET_SJ)).contains(&off) {
            return self.err("control structure too long");
        }
        set_sj(&mut self.p.code[pc as usize], off);
        Ok(())
    }

    /// Appends list `l2` to list `l1`.
    pub fn concat(&mut self, l1: &mut i32, l2: i32) -> GResult<()> {
        if l2 == NO_JUMP {
            return Ok(());
        }
        if *l1 == NO_JUMP {
            *l1 = l2;
            return Ok(());
        }
        let mut list = *l1;
        loop {
            let next = self.get_jump(list);
            if next == NO_JUMP {
                break;
            }
            list = next;
        }
        self.fix_jump(list, l2)
    }

    /// Marks the current pc as a jump target (`luaK_getlabel`).
    pub fn get_label(&mut self) -> i32 {
        self.last_target = self.pc();
        self.pc()
    }

    /// The instruction controlling jump `pc` (the test before it, if any).
    fn jump_control(&self, pc: i32) -> usize {
        let pc = pc as usize;
        if pc >= 1 && is_test(op(self.p.code[pc - 1])) {
            pc - 1
        } else {
            pc
        }
    }

    fn patch_test_reg(&mut self, node: i32, reg: u32) -> bool {
        let ic = self.jump_control(node);
        let i = self.p.code[ic];
        if op(i) != TESTSET {
            return false;
        }
        if reg != NO_REG && reg != b(i) as u32 {
            set_a(&mut self.p.code[ic], reg);
        } else {
            self.p.code[ic] = abck(TEST, b(i) as u32, 0, 0, k(i));
        }
        true
    }

    fn remove_values(&mut self, mut list: i32) {
        while list != NO_JUMP {
            self.patch_test_reg(list, NO_REG);
            list = self.get_jump(list);
        }
    }

    fn patch_list_aux(
        &mut self,
        mut list: i32,
        vtarget: i32,
        reg: u32,
        dtarget: i32,
    ) -> GResult<()> {
        while list != NO_JUMP {
            let next = self.get_jump(list);
            if self.patch_test_reg(list, reg) {
                self.fix_jump(list, vtarget)?;
            } else {
                self.fix_jump(list, dtarget)?;
            }
            list = next;
        }
        Ok(())
    }

    pub fn patch_list(&mut self, list: i32, target: i32) -> GResult<()> {
        self.patch_list_aux(list, target, NO_REG, target)
    }

    pub fn patch_to_here(&mut self, list: i32) -> GResult<()> {
        let here = self.get_label();
        self.patch_list(list, here)
    }

    fn need_value(&self, mut list: i32) -> bool {
        while list != NO_JUMP {
            let i = self.p.code[self.jump_control(list)];
            if op(i) != TESTSET {
                return true;
            }
            list = self.get_jump(list);
        }
        false
    }

    fn cond_jump(&mut self, op: u8, a: u32, b: u32, c: u32, k: bool) -> i32 {
        self.abc(op, a, b, c, k);
        self.jump()
    }

    // ---- expressions ----------------------------------------------------

    /// `luaK_nil`: sets `n` registers from `from` to nil, merging with a
    /// previous `LOADNIL` when possible.
    pub fn nil(&mut self, from: u32, n: u32) {
        let l = from + n - 1;
        if self.pc() > self.last_target && self.pc() > 0 {
            let prev = self.p.code.len() - 1;
            let pi = self.p.code[prev];
            if op(pi) == LOADNIL {
                let pfrom = a(pi) as u32;
                let pl = pfrom + b(pi) as u32;
                if (pfrom <= from && from <= pl + 1) || (from <= pfrom && pfrom <= l + 1) {
                    let f = pfrom.min(from);
                    let l2 = pl.max(l);
                    set_a(&mut self.p.code[prev], f);
                    set_b(&mut self.p.code[prev], l2 - f);
                    return;
                }
            }
        }
        self.abc(LOADNIL, from, n - 1, 0, false);
    }

    pub fn set_returns(&mut self, e: &mut ExpDesc, nresults: i32) -> GResult<()> {
        match e.k {
            ExpKind::Call(pc) => set_c(&mut self.p.code[pc as usize], (nresults + 1) as u32),
            ExpKind::Vararg(pc) => {
                let i = &mut self.p.code[pc as usize];
                set_c(i, (nresults + 1) as u32);
                set_a(i, self.freereg);
                self.reserve_regs(1)?;
            }
            _ => {}
        }
        Ok(())
    }

    pub fn set_one_ret(&mut self, e: &mut ExpDesc) {
        match e.k {
            ExpKind::Call(pc) => e.k = ExpKind::NonReloc(a(self.p.code[pc as usize]) as u32),
            ExpKind::Vararg(pc) => {
                set_c(&mut self.p.code[pc as usize], 2);
                e.k = ExpKind::Reloc(pc);
            }
            _ => {}
        }
    }

    /// `luaK_dischargevars`: variables become values.
    pub fn discharge_vars(&mut self, e: &mut ExpDesc, nvarstack: u32) {
        match e.k.clone() {
            ExpKind::Local { reg, .. } => e.k = ExpKind::NonReloc(reg),
            ExpKind::Upval(u) => e.k = ExpKind::Reloc(self.abc(GETUPVAL, 0, u, 0, false)),
            ExpKind::IndexUp { t, key } => {
                e.k = ExpKind::Reloc(self.abc(GETTABUP, 0, t, key, false))
            }
            ExpKind::IndexInt { t, key } => {
                self.free_reg(t, nvarstack);
                e.k = ExpKind::Reloc(self.abc(GETI, 0, t, key, false))
            }
            ExpKind::IndexStr { t, key } => {
                self.free_reg(t, nvarstack);
                e.k = ExpKind::Reloc(self.abc(GETFIELD, 0, t, key, false))
            }
            ExpKind::Indexed { t, key } => {
                // free in the right order
                if t > key {
                    self.free_reg(t, nvarstack);
                    self.free_reg(key, nvarstack);
                } else {
                    self.free_reg(key, nvarstack);
                    self.free_reg(t, nvarstack);
                }
                e.k = ExpKind::Reloc(self.abc(GETTABLE, 0, t, key, false))
            }
            ExpKind::Vararg(_) | ExpKind::Call(_) => self.set_one_ret(e),
            _ => {}
        }
    }

    fn load_int(&mut self, reg: u32, i: i64) {
        if (-(OFFSET_SBX as i64)..=(MAXARG_BX as i64 - OFFSET_SBX as i64)).contains(&i) {
            self.asbx(LOADI, reg, i as i32);
        } else {
            let k = self.int_k(i);
            self.load_k(reg, k);
        }
    }

    fn load_flt(&mut self, reg: u32, f: f64) {
        let fi = f as i64;
        if f.fract() == 0.0
            && (-(OFFSET_SBX as i64)..=(MAXARG_BX as i64 - OFFSET_SBX as i64)).contains(&fi)
            && !(f == 0.0 && f.is_sign_negative())
        {
            self.asbx(LOADF, reg, fi as i32);
        } else {
            let k = self.number_k(f);
            self.load_k(reg, k);
        }
    }

    fn load_k(&mut self, reg: u32, k: u32) {
        if k <= MAXARG_BX {
            self.abx(LOADK, reg, k);
        } else {
            self.abx(LOADKX, reg, 0);
            self.code(iax(EXTRAARG, k));
        }
    }

    fn discharge_to_reg(&mut self, e: &mut ExpDesc, reg: u32, nvarstack: u32) {
        self.discharge_vars(e, nvarstack);
        match e.k.clone() {
            ExpKind::Nil => self.nil(reg, 1),
            ExpKind::False => {
                self.abc(LOADFALSE, reg, 0, 0, false);
            }
            ExpKind::True => {
                self.abc(LOADTRUE, reg, 0, 0, false);
            }
            ExpKind::KStr(s) => {
                let k = self.string_k(&s);
                self.load_k(reg, k);
            }
            ExpKind::K(k) => self.load_k(reg, k),
            ExpKind::KFlt(f) => self.load_flt(reg, f),
            ExpKind::KInt(i) => self.load_int(reg, i),
            ExpKind::Reloc(pc) => set_a(&mut self.p.code[pc as usize], reg),
            ExpKind::NonReloc(r) => {
                if r != reg {
                    self.abc(MOVE, reg, r, 0, false);
                }
            }
            ExpKind::Jmp(_) => return,
            _ => return,
        }
        e.k = ExpKind::NonReloc(reg);
    }

    fn discharge_to_any_reg(&mut self, e: &mut ExpDesc, nvarstack: u32) -> GResult<()> {
        if !matches!(e.k, ExpKind::NonReloc(_)) {
            self.reserve_regs(1)?;
            let r = self.freereg - 1;
            self.discharge_to_reg(e, r, nvarstack);
        }
        Ok(())
    }

    fn code_load_bool(&mut self, a: u32, op: u8) -> i32 {
        self.get_label();
        self.abc(op, a, 0, 0, false)
    }

    fn exp_to_reg(&mut self, e: &mut ExpDesc, reg: u32, nvarstack: u32) -> GResult<()> {
        self.discharge_to_reg(e, reg, nvarstack);
        if let ExpKind::Jmp(pc) = e.k {
            self.concat(&mut e.t, pc)?;
        }
        if e.has_jumps() {
            let mut p_f = NO_JUMP;
            let mut p_t = NO_JUMP;
            if self.need_value(e.t) || self.need_value(e.f) {
                let fj = if matches!(e.k, ExpKind::Jmp(_)) {
                    NO_JUMP
                } else {
                    self.jump()
                };
                p_f = self.code_load_bool(reg, LFALSESKIP);
                p_t = self.code_load_bool(reg, LOADTRUE);
                self.patch_to_here(fj)?;
            }
            let end = self.get_label();
            self.patch_list_aux(e.f, end, reg, p_f)?;
            self.patch_list_aux(e.t, end, reg, p_t)?;
        }
        e.f = NO_JUMP;
        e.t = NO_JUMP;
        e.k = ExpKind::NonReloc(reg);
        Ok(())
    }

    pub fn exp_to_next_reg(&mut self, e: &mut ExpDesc, nvarstack: u32) -> GResult<()> {
        self.discharge_vars(e, nvarstack);
        self.free_exp(e, nvarstack);
        self.reserve_regs(1)?;
        let r = self.freereg - 1;
        self.exp_to_reg(e, r, nvarstack)
    }

    pub fn exp_to_any_reg(&mut self, e: &mut ExpDesc, nvarstack: u32) -> GResult<u32> {
        self.discharge_vars(e, nvarstack);
        if let ExpKind::NonReloc(r) = e.k {
            if !e.has_jumps() {
                return Ok(r);
            }
            if r >= nvarstack {
                self.exp_to_reg(e, r, nvarstack)?;
                return Ok(r);
            }
        }
        self.exp_to_next_reg(e, nvarstack)?;
        match e.k {
            ExpKind::NonReloc(r) => Ok(r),
            _ => self.err("internal: expression not in a register"),
        }
    }

    pub fn exp_to_any_reg_up(&mut self, e: &mut ExpDesc, nvarstack: u32) -> GResult<()> {
        if !matches!(e.k, ExpKind::Upval(_)) || e.has_jumps() {
            self.exp_to_any_reg(e, nvarstack)?;
        }
        Ok(())
    }

    pub fn exp_to_val(&mut self, e: &mut ExpDesc, nvarstack: u32) -> GResult<()> {
        // A bare comparison (`Jmp`) has empty lists but still needs its
        // value materialized (5.4.8's fix of `_ENV[1 < 2]`).
        if matches!(e.k, ExpKind::Jmp(_)) || e.has_jumps() {
            self.exp_to_any_reg(e, nvarstack)?;
        } else {
            self.discharge_vars(e, nvarstack);
        }
        Ok(())
    }

    /// Makes `e` a constant operand if it can be one (`luaK_exp2K`).
    pub fn exp_to_k(&mut self, e: &mut ExpDesc) -> bool {
        if !e.has_jumps() {
            let info = match e.k.clone() {
                ExpKind::True => self.bool_k(true),
                ExpKind::False => self.bool_k(false),
                ExpKind::Nil => self.nil_k(),
                ExpKind::KInt(i) => self.int_k(i),
                ExpKind::KFlt(f) => self.number_k(f),
                ExpKind::KStr(s) => self.string_k(&s),
                ExpKind::K(k) => k,
                _ => return false,
            };
            if info <= MAXARG_C {
                e.k = ExpKind::K(info);
                return true;
            }
        }
        false
    }

    /// `exp2RK`: constant (true) or register (false); the index is `reg_or_k`.
    pub fn exp_to_rk(&mut self, e: &mut ExpDesc, nvarstack: u32) -> GResult<(bool, u32)> {
        if self.exp_to_k(e) {
            if let ExpKind::K(k) = e.k {
                return Ok((true, k));
            }
        }
        Ok((false, self.exp_to_any_reg(e, nvarstack)?))
    }

    pub fn code_abrk(
        &mut self,
        o: u8,
        a: u32,
        b: u32,
        ec: &mut ExpDesc,
        nvarstack: u32,
    ) -> GResult<()> {
        let (isk, c) = self.exp_to_rk(ec, nvarstack)?;
        self.abc(o, a, b, c, isk);
        Ok(())
    }

    /// Stores `ex` into variable `var` (`luaK_storevar`).
    pub fn store_var(&mut self, var: &ExpDesc, ex: &mut ExpDesc, nvarstack: u32) -> GResult<()> {
        match var.k {
            ExpKind::Local { reg, .. } => {
                self.free_exp(ex, nvarstack);
                return self.exp_to_reg(ex, reg, nvarstack);
            }
            ExpKind::Upval(u) => {
                let e = self.exp_to_any_reg(ex, nvarstack)?;
                self.abc(SETUPVAL, e, u, 0, false);
            }
            ExpKind::IndexUp { t, key } => self.code_abrk(SETTABUP, t, key, ex, nvarstack)?,
            ExpKind::IndexInt { t, key } => self.code_abrk(SETI, t, key, ex, nvarstack)?,
            ExpKind::IndexStr { t, key } => self.code_abrk(SETFIELD, t, key, ex, nvarstack)?,
            ExpKind::Indexed { t, key } => self.code_abrk(SETTABLE, t, key, ex, nvarstack)?,
            _ => return self.err("internal: cannot store to this expression"),
        }
        self.free_exp(ex, nvarstack);
        Ok(())
    }

    /// `e:key` (`luaK_self`).
    pub fn self_op(&mut self, e: &mut ExpDesc, key: &mut ExpDesc, nvarstack: u32) -> GResult<()> {
        self.exp_to_any_reg(e, nvarstack)?;
        let ereg = match e.k {
            ExpKind::NonReloc(r) => r,
            _ => 0,
        };
        self.free_exp(e, nvarstack);
        let base = self.freereg;
        e.k = ExpKind::NonReloc(base);
        self.reserve_regs(2)?;
        self.code_abrk(SELF, base, ereg, key, nvarstack)?;
        self.free_exp(key, nvarstack);
        Ok(())
    }

    fn negate_condition(&mut self, e: &ExpDesc) {
        if let ExpKind::Jmp(pc) = e.k {
            let ic = self.jump_control(pc);
            let i = self.p.code[ic];
            set_k(&mut self.p.code[ic], !k(i));
        }
    }

    fn jump_on_cond(&mut self, e: &mut ExpDesc, cond: bool, nvarstack: u32) -> GResult<i32> {
        if let ExpKind::Reloc(pc) = e.k {
            let ie = self.p.code[pc as usize];
            if op(ie) == NOT {
                self.p.code.pop();
                self.p.lines.pop();
                return Ok(self.cond_jump(TEST, b(ie) as u32, 0, 0, !cond));
            }
        }
        self.discharge_to_any_reg(e, nvarstack)?;
        self.free_exp(e, nvarstack);
        let r = match e.k {
            ExpKind::NonReloc(r) => r,
            _ => 0,
        };
        Ok(self.cond_jump(TESTSET, NO_REG, r, 0, cond))
    }

    pub fn go_if_true(&mut self, e: &mut ExpDesc, nvarstack: u32) -> GResult<()> {
        self.discharge_vars(e, nvarstack);
        let pc = match e.k {
            ExpKind::Jmp(pc) => {
                self.negate_condition(e);
                pc
            }
            ExpKind::K(_)
            | ExpKind::KFlt(_)
            | ExpKind::KInt(_)
            | ExpKind::KStr(_)
            | ExpKind::True => NO_JUMP,
            _ => self.jump_on_cond(e, false, nvarstack)?,
        };
        self.concat(&mut e.f, pc)?;
        self.patch_to_here(e.t)?;
        e.t = NO_JUMP;
        Ok(())
    }

    pub fn go_if_false(&mut self, e: &mut ExpDesc, nvarstack: u32) -> GResult<()> {
        self.discharge_vars(e, nvarstack);
        let pc = match e.k {
            ExpKind::Jmp(pc) => pc,
            ExpKind::Nil | ExpKind::False => NO_JUMP,
            _ => self.jump_on_cond(e, true, nvarstack)?,
        };
        self.concat(&mut e.t, pc)?;
        self.patch_to_here(e.f)?;
        e.f = NO_JUMP;
        Ok(())
    }

    pub fn code_not(&mut self, e: &mut ExpDesc, nvarstack: u32) -> GResult<()> {
        match e.k {
            ExpKind::Nil | ExpKind::False => e.k = ExpKind::True,
            ExpKind::K(_)
            | ExpKind::KFlt(_)
            | ExpKind::KInt(_)
            | ExpKind::KStr(_)
            | ExpKind::True => e.k = ExpKind::False,
            ExpKind::Jmp(_) => self.negate_condition(e),
            ExpKind::Reloc(_) | ExpKind::NonReloc(_) => {
                self.discharge_to_any_reg(e, nvarstack)?;
                self.free_exp(e, nvarstack);
                let r = match e.k {
                    ExpKind::NonReloc(r) => r,
                    _ => 0,
                };
                e.k = ExpKind::Reloc(self.abc(NOT, 0, r, 0, false));
            }
            _ => return self.err("internal: bad 'not' operand"),
        }
        std::mem::swap(&mut e.f, &mut e.t);
        self.remove_values(e.f);
        self.remove_values(e.t);
        Ok(())
    }

    /// `luaK_indexed`: `t[k]` as an indexed expression.
    pub fn indexed(&mut self, t: &mut ExpDesc, key: &mut ExpDesc, nvarstack: u32) -> GResult<()> {
        if let ExpKind::KStr(s) = key.k.clone() {
            // short string constants become K operands
            let kidx = self.string_k(&s);
            key.k = ExpKind::K(kidx);
        }
        if matches!(t.k, ExpKind::Upval(_)) && !self.is_kstr(key) {
            self.exp_to_any_reg(t, nvarstack)?;
        }
        match t.k {
            ExpKind::Upval(u) => {
                let ExpKind::K(kk) = key.k else {
                    return self.err("internal: upvalue index");
                };
                t.k = ExpKind::IndexUp { t: u, key: kk };
            }
            _ => {
                let treg = match t.k {
                    ExpKind::Local { reg, .. } => reg,
                    ExpKind::NonReloc(r) => r,
                    _ => return self.err("internal: indexed base"),
                };
                if self.is_kstr(key) {
                    let ExpKind::K(kk) = key.k else {
                        unreachable!()
                    };
                    t.k = ExpKind::IndexStr { t: treg, key: kk };
                } else if let Some(i) = is_cint(key) {
                    t.k = ExpKind::IndexInt { t: treg, key: i };
                } else {
                    let kreg = self.exp_to_any_reg(key, nvarstack)?;
                    t.k = ExpKind::Indexed { t: treg, key: kreg };
                }
            }
        }
        Ok(())
    }

    pub fn is_kstr(&self, e: &ExpDesc) -> bool {
        match e.k {
            ExpKind::K(k) => {
                !e.has_jumps()
                    && k <= MAXARG_B
                    && matches!(&self.p.constants[k as usize], Constant::String(s) if s.len() <= 40)
            }
            _ => false,
        }
    }

    pub fn ret(&mut self, first: u32, nret: i32) {
        let op = match nret {
            0 => RETURN0,
            1 => RETURN1,
            _ => RETURN,
        };
        self.abc(op, first, (nret + 1) as u32, 0, false);
    }

    /// `luaK_setlist`.
    pub fn set_list(&mut self, base: u32, nelems: u32, tostore: i32) {
        let tostore = if tostore == -1 { 0 } else { tostore as u32 };
        if nelems <= MAXARG_C {
            self.abc(SETLIST, base, tostore, nelems, false);
        } else {
            let extra = nelems / (MAXARG_C + 1);
            let rest = nelems % (MAXARG_C + 1);
            self.abc(SETLIST, base, tostore, rest, true);
            self.code(iax(EXTRAARG, extra));
        }
        self.freereg = base + 1;
    }

    /// `luaK_settablesize`.
    pub fn set_table_size(&mut self, pc: i32, ra: u32, asize: u32, hsize: u32) {
        let rb = if hsize != 0 {
            (32 - (hsize - 1).leading_zeros()) + 1
        } else {
            0
        };
        let extra = asize / (MAXARG_C + 1);
        let rc = asize % (MAXARG_C + 1);
        let k = extra > 0;
        self.p.code[pc as usize] = abck(NEWTABLE, ra, rb, rc, k);
        self.p.code[pc as usize + 1] = iax(EXTRAARG, extra);
    }

    /// Final pass (`luaK_finish`): returns close upvalues when needed and
    /// jumps to jumps go straight to their final target.
    pub fn finish(&mut self) -> GResult<()> {
        for pc in 0..self.p.code.len() {
            let i = self.p.code[pc];
            match op(i) {
                RETURN0 | RETURN1 | RETURN if self.need_close || self.p.is_vararg => {
                    let mut ni = i;
                    if op(i) != RETURN {
                        set_op(&mut ni, RETURN);
                    }
                    if self.need_close {
                        set_k(&mut ni, true);
                    }
                    if self.p.is_vararg {
                        set_c(&mut ni, self.p.num_params as u32 + 1);
                    }
                    self.p.code[pc] = ni;
                }
                TAILCALL if self.need_close || self.p.is_vararg => {
                    let mut ni = i;
                    if self.need_close {
                        set_k(&mut ni, true);
                    }
                    if self.p.is_vararg {
                        set_c(&mut ni, self.p.num_params as u32 + 1);
                    }
                    self.p.code[pc] = ni;
                }
                JMP => {
                    let mut target = pc as i32;
                    let mut count = 0;
                    while count < 100 {
                        let ti = self.p.code[target as usize];
                        if op(ti) != JMP {
                            break;
                        }
                        target += sj(ti) as i32 + 1;
                        count += 1;
                    }
                    self.fix_jump(pc as i32, target)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn add_local_info(&mut self, name: &[u8]) -> usize {
        self.p.local_vars.push(LocVar {
            name: name.into(),
            start_pc: self.pc() as u32,
            end_pc: 0,
        });
        self.p.local_vars.len() - 1
    }

    pub fn add_upvalue(&mut self, name: &[u8], in_stack: bool, index: u8) -> GResult<u32> {
        if self.p.upvalues.len() >= MAX_UPVALUES {
            // (lua5.4 adds `near <token>`: the code generator has no tokens)
            let line = self.p.line_defined;
            return self.err(super::parser::limit_message("upvalues", MAX_UPVALUES, line));
        }
        self.p.upvalues.push(UpvalDesc {
            in_stack,
            index,
            name: name.into(),
        });
        Ok(self.p.upvalues.len() as u32 - 1)
    }

    pub fn search_upvalue(&self, name: &[u8]) -> Option<u32> {
        self.p
            .upvalues
            .iter()
            .position(|u| &*u.name == name)
            .map(|i| i as u32)
    }

    // ---- operators ------------------------------------------------------

    pub fn code_cond_jump(&mut self, op: u8, a: u32, b: u32, c: u32, k: bool) -> i32 {
        self.cond_jump(op, a, b, c, k)
    }
}

/// A register number meaning "no register" (`NO_REG`).
pub const NO_REG: u32 = MAXARG_A;

/// Integer constant fitting in C (`isCint`).
pub fn is_cint(e: &ExpDesc) -> Option<u32> {
    match e.k {
        ExpKind::KInt(i) if !e.has_jumps() && (0..=MAXARG_C as i64).contains(&i) => Some(i as u32),
        _ => None,
    }
}

/// Integer constant fitting in sC (`isSCint`).
pub fn is_scint(e: &ExpDesc) -> Option<i32> {
    match e.k {
        ExpKind::KInt(i)
            if !e.has_jumps()
                && (-(OFFSET_SC as i64)..=(MAXARG_C as i64 - OFFSET_SC as i64)).contains(&i) =>
        {
            Some(i as i32)
        }
        _ => None,
    }
}

/// Number constant usable as an sC immediate (`isSCnumber`): value and
/// whether it was a float.
pub fn is_scnumber(e: &ExpDesc) -> Option<(i32, bool)> {
    let (i, isf) = match e.k {
        ExpKind::KInt(i) => (i, false),
        ExpKind::KFlt(f) => (number::float_to_integer(f)?, true),
        _ => return None,
    };
    if !e.has_jumps() && (-(OFFSET_SC as i64)..=(MAXARG_C as i64 - OFFSET_SC as i64)).contains(&i) {
        Some((i as i32, isf))
    } else {
        None
    }
}

/// Constant folding of a binary or unary numeric operation (`constfolding`):
/// only when the result is a number that is not NaN or -0.
pub fn fold(op: crate::vm::meta::Event, a: &ExpKind, b: &ExpKind) -> Option<ExpKind> {
    use crate::vm::value::Value;
    let v = |e: &ExpKind| match e {
        ExpKind::KInt(i) => Some(Value::Integer(*i)),
        ExpKind::KFlt(f) => Some(Value::Number(*f)),
        _ => None,
    };
    let (x, y) = (v(a)?, v(b)?);
    let r = crate::vm::interp::arith(op, x, y).ok()??;
    match r {
        Value::Integer(i) => Some(ExpKind::KInt(i)),
        Value::Number(f) if !f.is_nan() && f != 0.0 => Some(ExpKind::KFlt(f)),
        _ => None,
    }
}
