//! Expressions (`lparser.c`'s `expr` family and `lcode.c`'s operators).
//! Left-nested chains — `a.b.c…`, `f()()…`, `1+1+…` — are compiled with
//! loops over their spine, not recursion, so their length costs no Rust
//! stack.

use super::ast::{BinOp, BinRhs, Expr, ExprKind, Field, SuffixKind, UnOp};
use super::code::*;
use super::Gen;
use crate::vm::meta;
use crate::vm::opcode::*;

fn bin_event(op: BinOp) -> meta::Event {
    match op {
        BinOp::Add => meta::ADD,
        BinOp::Sub => meta::SUB,
        BinOp::Mul => meta::MUL,
        BinOp::Div => meta::DIV,
        BinOp::IDiv => meta::IDIV,
        BinOp::Mod => meta::MOD,
        BinOp::Pow => meta::POW,
        BinOp::BAnd => meta::BAND,
        BinOp::BOr => meta::BOR,
        BinOp::BXor => meta::BXOR,
        BinOp::Shl => meta::SHL,
        BinOp::Shr => meta::SHR,
        _ => meta::CONCAT,
    }
}

fn arith_op(ev: meta::Event, k: bool) -> u8 {
    let base = match ev {
        meta::ADD => ADD,
        meta::SUB => SUB,
        meta::MUL => MUL,
        meta::MOD => MOD,
        meta::POW => POW,
        meta::DIV => DIV,
        meta::IDIV => IDIV,
        meta::BAND => BAND,
        meta::BOR => BOR,
        meta::BXOR => BXOR,
        meta::SHL => SHL,
        _ => SHR,
    };
    if k {
        base - ADD + ADDK
    } else {
        base
    }
}

fn is_numeral(e: &ExpDesc) -> bool {
    !e.has_jumps() && matches!(e.k, ExpKind::KInt(_) | ExpKind::KFlt(_))
}

impl Gen {
    /// Compiles `e` into `v`.
    pub(super) fn expr(&mut self, e: &Expr, v: &mut ExpDesc) -> GResult<()> {
        self.fs().line = e.line;
        match &e.kind {
            ExprKind::Nil => *v = ExpDesc::new(ExpKind::Nil),
            ExprKind::True => *v = ExpDesc::new(ExpKind::True),
            ExprKind::False => *v = ExpDesc::new(ExpKind::False),
            ExprKind::Int(i) => *v = ExpDesc::new(ExpKind::KInt(*i)),
            // The parser folds `-0.0`; lua5.4 does not (a zero result is
            // never folded), so it stays a negation of 0.0, as its code,
            // jumps and error names show.
            ExprKind::Float(f) if *f == 0.0 && f.is_sign_negative() => {
                *v = ExpDesc::new(ExpKind::KFlt(0.0));
                self.prefix(UnOp::Neg, v, e.line)?;
            }
            ExprKind::Float(f) => *v = ExpDesc::new(ExpKind::KFlt(*f)),
            ExprKind::Str(s) => *v = ExpDesc::new(ExpKind::KStr(s.clone())),
            ExprKind::Vararg => {
                let pc = self.fs().abc(VARARG, 0, 0, 1, false);
                *v = ExpDesc::new(ExpKind::Vararg(pc));
            }
            ExprKind::Function(body) => self.function(body, false, v)?,
            ExprKind::Table(fields) => self.constructor(fields, v)?,
            ExprKind::Binary(first, rest) => self.binary_chain(first, rest, v)?,
            ExprKind::Un(op, operand, end_line) => {
                self.expr(operand, v)?;
                self.fs().line = *end_line;
                self.prefix(*op, v, e.line)?;
            }
            ExprKind::Paren(inner) => {
                self.expr(inner, v)?;
                let nvs = self.nvs();
                self.fs().discharge_vars(v, nvs);
            }
            ExprKind::Name(_) | ExprKind::Suffixed(..) => self.suffixed(e, v)?,
        }
        Ok(())
    }

    /// A name, or a chain of `.k`, `[k]`, `(args)`, `:m(args)` on one.
    pub(super) fn suffixed(&mut self, e: &Expr, v: &mut ExpDesc) -> GResult<()> {
        let (cur, spine) = match &e.kind {
            ExprKind::Suffixed(base, sufs) => (&**base, &sufs[..]),
            _ => (e, &[][..]),
        };
        match &cur.kind {
            ExprKind::Name(n) => {
                self.fs().line = cur.line;
                self.single_var(n, v)?
            }
            _ => self.expr(cur, v)?,
        }
        for node in spine {
            self.fs().line = node.lead_line;
            let nvs = self.nvs();
            match &node.kind {
                SuffixKind::Index(key) => {
                    self.fs().exp_to_any_reg_up(v, nvs)?;
                    let mut k = ExpDesc::new(ExpKind::Void);
                    if let ExprKind::Str(s) = &key.kind {
                        k.k = ExpKind::KStr(s.clone());
                    } else {
                        self.expr(key, &mut k)?;
                        let nvs = self.nvs();
                        self.fs().exp_to_val(&mut k, nvs)?;
                    }
                    let nvs = self.nvs();
                    self.fs().line = node.line;
                    self.fs().indexed(v, &mut k, nvs)?;
                }
                SuffixKind::Call(args) => {
                    self.fs().exp_to_next_reg(v, nvs)?;
                    self.call_args(v, args, node.line)?;
                }
                SuffixKind::Method(name, args) => {
                    let mut k = ExpDesc::new(ExpKind::KStr(name.clone()));
                    let kk = self.fs().string_k(name);
                    k.k = ExpKind::K(kk);
                    self.fs().self_op(v, &mut k, nvs)?;
                    self.call_args(v, args, node.line)?;
                }
            }
        }
        Ok(())
    }

    /// `funcargs`: `f` is in its register; compiles the arguments and the call.
    fn call_args(&mut self, f: &mut ExpDesc, args: &[Expr], line: u32) -> GResult<()> {
        let base = match f.k {
            ExpKind::NonReloc(r) => r,
            _ => return Err(self.gen_error("internal: call base")),
        };
        let mut last = ExpDesc::new(ExpKind::Void);
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                let nvs = self.nvs();
                self.fs().exp_to_next_reg(&mut last, nvs)?;
            }
            self.expr(a, &mut last)?;
        }
        let multi = matches!(last.k, ExpKind::Call(_) | ExpKind::Vararg(_));
        let nparams = if multi {
            self.fs().set_returns(&mut last, -1)?;
            -1
        } else {
            if !matches!(last.k, ExpKind::Void) {
                let nvs = self.nvs();
                self.fs().exp_to_next_reg(&mut last, nvs)?;
            }
            (self.fs().freereg - (base + 1)) as i32
        };
        let fs = self.fs();
        fs.line = line;
        let pc = fs.abc(CALL, base, (nparams + 1) as u32, 2, false);
        fs.fix_line(line);
        fs.freereg = base + 1;
        *f = ExpDesc::new(ExpKind::Call(pc));
        Ok(())
    }

    /// Binary operators: the left spine of same-or-tighter operators is
    /// walked with a loop.
    fn binary_chain(&mut self, first: &Expr, rest: &[BinRhs], v: &mut ExpDesc) -> GResult<()> {
        self.expr(first, v)?;
        for node in rest {
            self.fs().line = node.line;
            self.infix(node.op, v)?;
            let mut v2 = ExpDesc::new(ExpKind::Void);
            self.expr(&node.rhs, &mut v2)?;
            self.fs().line = node.end_line;
            self.posfix(node.op, v, &mut v2, node.line)?;
        }
        Ok(())
    }

    fn infix(&mut self, op: BinOp, v: &mut ExpDesc) -> GResult<()> {
        let nvs = self.nvs();
        let fs = self.fs();
        fs.discharge_vars(v, nvs);
        match op {
            BinOp::And => fs.go_if_true(v, nvs)?,
            BinOp::Or => fs.go_if_false(v, nvs)?,
            BinOp::Concat => fs.exp_to_next_reg(v, nvs)?,
            BinOp::Eq | BinOp::Ne => {
                if !is_numeral(v) {
                    fs.exp_to_rk(v, nvs)?;
                }
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                if is_scnumber(v).is_none() {
                    fs.exp_to_any_reg(v, nvs)?;
                }
            }
            _ => {
                if !is_numeral(v) {
                    fs.exp_to_any_reg(v, nvs)?;
                }
            }
        }
        Ok(())
    }

    fn posfix(&mut self, op: BinOp, e1: &mut ExpDesc, e2: &mut ExpDesc, line: u32) -> GResult<()> {
        let nvs = self.nvs();
        self.fs().discharge_vars(e2, nvs);
        let ev = bin_event(op);
        if !matches!(
            op,
            BinOp::And
                | BinOp::Or
                | BinOp::Concat
                | BinOp::Eq
                | BinOp::Ne
                | BinOp::Lt
                | BinOp::Le
                | BinOp::Gt
                | BinOp::Ge
        ) && !e1.has_jumps()
            && !e2.has_jumps()
        {
            let zero_div = matches!(op, BinOp::Div | BinOp::IDiv | BinOp::Mod)
                && matches!(e2.k, ExpKind::KInt(0))
                || matches!(e2.k, ExpKind::KFlt(f) if f == 0.0 && matches!(op, BinOp::Div | BinOp::IDiv | BinOp::Mod));
            if !zero_div {
                if let Some(k) = fold(ev, &e1.k, &e2.k) {
                    e1.k = k;
                    return Ok(());
                }
            }
        }
        let fs = self.fs();
        match op {
            BinOp::And => {
                fs.concat(&mut e2.f, e1.f)?;
                *e1 = e2.clone();
            }
            BinOp::Or => {
                fs.concat(&mut e2.t, e1.t)?;
                *e1 = e2.clone();
            }
            BinOp::Concat => {
                fs.exp_to_next_reg(e2, nvs)?;
                let r1 = match e1.k {
                    ExpKind::NonReloc(r) => r,
                    _ => 0,
                };
                let last = fs.p.code.len() - 1;
                let prev = fs.p.code[last];
                if op_is(prev, CONCAT) && fs.pc() > fs.last_target {
                    let n = b(prev) as u32;
                    fs.free_exp(e2, nvs);
                    set_a(&mut fs.p.code[last], r1);
                    set_b(&mut fs.p.code[last], n + 1);
                } else {
                    fs.abc(CONCAT, r1, 2, 0, false);
                    fs.free_exp(e2, nvs);
                    fs.fix_line(line);
                }
            }
            BinOp::Add | BinOp::Mul => {
                let mut flip = false;
                if is_numeral(e1) {
                    std::mem::swap(e1, e2);
                    flip = true;
                }
                if op == BinOp::Add {
                    if let Some(i) = is_scint(e2) {
                        return self.code_bin_imm(ADDI, e1, e2, i, flip, line, ev);
                    }
                }
                self.code_arith(ev, e1, e2, flip, line)?;
            }
            BinOp::Sub => {
                if !self.code_bin_neg(e1, e2, ADDI, line, ev)? {
                    self.code_arith(ev, e1, e2, false, line)?;
                }
            }
            BinOp::Div | BinOp::IDiv | BinOp::Mod | BinOp::Pow => {
                self.code_arith(ev, e1, e2, false, line)?
            }
            BinOp::BAnd | BinOp::BOr | BinOp::BXor => {
                let mut flip = false;
                if matches!(e1.k, ExpKind::KInt(_)) && !e1.has_jumps() {
                    std::mem::swap(e1, e2);
                    flip = true;
                }
                if matches!(e2.k, ExpKind::KInt(_)) && self.exp_to_k(e2) {
                    self.code_bin_k(ev, e1, e2, flip, line)?;
                } else {
                    if flip {
                        std::mem::swap(e1, e2);
                    }
                    self.code_bin_val(ev, e1, e2, line)?;
                }
            }
            BinOp::Shl => {
                if let Some(i) = is_scint(e1) {
                    std::mem::swap(e1, e2);
                    return self.code_bin_imm(SHLI, e1, e2, i, true, line, ev);
                }
                if !self.code_bin_neg(e1, e2, SHRI, line, ev)? {
                    self.code_bin_val(ev, e1, e2, line)?;
                }
            }
            BinOp::Shr => {
                if let Some(i) = is_scint(e2) {
                    return self.code_bin_imm(SHRI, e1, e2, i, false, line, ev);
                }
                self.code_bin_val(ev, e1, e2, line)?;
            }
            BinOp::Eq | BinOp::Ne => self.code_eq(op == BinOp::Eq, e1, e2)?,
            BinOp::Lt | BinOp::Le => self.code_order(op == BinOp::Le, e1, e2)?,
            BinOp::Gt | BinOp::Ge => {
                std::mem::swap(e1, e2);
                self.code_order(op == BinOp::Ge, e1, e2)?;
            }
        }
        Ok(())
    }

    /// `luaK_exp2K`: a constant operand when it fits, else `e` unchanged
    /// (never a register: the caller may still reorder the operands).
    fn exp_to_k(&mut self, e: &mut ExpDesc) -> bool {
        self.fs().exp_to_k(e)
    }

    /// `finishbinexpval`.
    #[allow(clippy::too_many_arguments)]
    fn finish_bin(
        &mut self,
        e1: &mut ExpDesc,
        e2: &ExpDesc,
        op: u8,
        v2: u32,
        flip: bool,
        line: u32,
        mmop: u8,
        ev: meta::Event,
    ) -> GResult<()> {
        let nvs = self.nvs();
        let fs = self.fs();
        let v1 = fs.exp_to_any_reg(e1, nvs)?;
        let pc = fs.abc(op, 0, v1, v2, false);
        fs.free_exps(e1, e2, nvs);
        e1.k = ExpKind::Reloc(pc);
        fs.fix_line(line);
        fs.abc(mmop, v1, v2, ev as u32, flip);
        fs.fix_line(line);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn code_bin_imm(
        &mut self,
        op: u8,
        e1: &mut ExpDesc,
        e2: &ExpDesc,
        imm: i32,
        flip: bool,
        line: u32,
        ev: meta::Event,
    ) -> GResult<()> {
        let v2 = (imm + OFFSET_SC) as u32;
        self.finish_bin(e1, e2, op, v2, flip, line, MMBINI, ev)
    }

    fn code_bin_k(
        &mut self,
        ev: meta::Event,
        e1: &mut ExpDesc,
        e2: &ExpDesc,
        flip: bool,
        line: u32,
    ) -> GResult<()> {
        let ExpKind::K(v2) = e2.k else {
            return Err(self.gen_error("internal: K operand"));
        };
        self.finish_bin(e1, e2, arith_op(ev, true), v2, flip, line, MMBINK, ev)
    }

    fn code_bin_val(
        &mut self,
        ev: meta::Event,
        e1: &mut ExpDesc,
        e2: &mut ExpDesc,
        line: u32,
    ) -> GResult<()> {
        let nvs = self.nvs();
        let v2 = self.fs().exp_to_any_reg(e2, nvs)?;
        self.finish_bin(e1, e2, arith_op(ev, false), v2, false, line, MMBIN, ev)
    }

    fn code_arith(
        &mut self,
        ev: meta::Event,
        e1: &mut ExpDesc,
        e2: &mut ExpDesc,
        flip: bool,
        line: u32,
    ) -> GResult<()> {
        if is_numeral(e2) && self.exp_to_k(e2) {
            self.code_bin_k(ev, e1, e2, flip, line)
        } else {
            if flip {
                std::mem::swap(e1, e2);
            }
            self.code_bin_val(ev, e1, e2, line)
        }
    }

    /// `finishbinexpneg`: `a - k` as `a + (-k)` with an immediate.
    fn code_bin_neg(
        &mut self,
        e1: &mut ExpDesc,
        e2: &ExpDesc,
        op: u8,
        line: u32,
        ev: meta::Event,
    ) -> GResult<bool> {
        let ExpKind::KInt(i2) = e2.k else {
            return Ok(false);
        };
        if e2.has_jumps() {
            return Ok(false);
        }
        let fits =
            |i: i64| (-(OFFSET_SC as i64)..=(MAXARG_C as i64 - OFFSET_SC as i64)).contains(&i);
        if !(fits(i2) && fits(-i2)) {
            return Ok(false);
        }
        let v2 = (-i2 as i32 + OFFSET_SC) as u32;
        self.finish_bin(e1, e2, op, v2, false, line, MMBINI, ev)?;
        let fs = self.fs();
        let last = fs.p.code.len() - 1;
        set_b(&mut fs.p.code[last], (i2 as i32 + OFFSET_SC) as u32);
        Ok(true)
    }

    fn code_eq(&mut self, eq: bool, e1: &mut ExpDesc, e2: &mut ExpDesc) -> GResult<()> {
        let nvs = self.nvs();
        if !matches!(e1.k, ExpKind::NonReloc(_)) {
            std::mem::swap(e1, e2);
        }
        let fs = self.fs();
        let r1 = fs.exp_to_any_reg(e1, nvs)?;
        let (op, r2, isf) = if let Some((im, isf)) = is_scnumber(e2) {
            (EQI, (im + OFFSET_SC) as u32, isf)
        } else {
            match fs.exp_to_rk(e2, nvs)? {
                (true, k) => (EQK, k, false),
                (false, r) => (EQ, r, false),
            }
        };
        fs.free_exps(e1, e2, nvs);
        let pc = fs.code_cond_jump(op, r1, r2, isf as u32, eq);
        *e1 = ExpDesc::new(ExpKind::Jmp(pc));
        Ok(())
    }

    fn code_order(&mut self, le: bool, e1: &mut ExpDesc, e2: &mut ExpDesc) -> GResult<()> {
        let nvs = self.nvs();
        let fs = self.fs();
        let (op, r1, r2, isf) = if let Some((im, isf)) = is_scnumber(e2) {
            let r1 = fs.exp_to_any_reg(e1, nvs)?;
            (if le { LEI } else { LTI }, r1, (im + OFFSET_SC) as u32, isf)
        } else if let Some((im, isf)) = is_scnumber(e1) {
            let r1 = fs.exp_to_any_reg(e2, nvs)?;
            (if le { GEI } else { GTI }, r1, (im + OFFSET_SC) as u32, isf)
        } else {
            let r1 = fs.exp_to_any_reg(e1, nvs)?;
            let r2 = fs.exp_to_any_reg(e2, nvs)?;
            (if le { LE } else { LT }, r1, r2, false)
        };
        fs.free_exps(e1, e2, nvs);
        let pc = fs.code_cond_jump(op, r1, r2, isf as u32, true);
        *e1 = ExpDesc::new(ExpKind::Jmp(pc));
        Ok(())
    }

    fn prefix(&mut self, op: UnOp, e: &mut ExpDesc, line: u32) -> GResult<()> {
        let nvs = self.nvs();
        self.fs().discharge_vars(e, nvs);
        match op {
            UnOp::Neg | UnOp::BNot => {
                let ev = if op == UnOp::Neg {
                    meta::UNM
                } else {
                    meta::BNOT
                };
                if !e.has_jumps() {
                    if let Some(k) = fold(ev, &e.k, &ExpKind::KInt(0)) {
                        e.k = k;
                        return Ok(());
                    }
                }
                self.code_unary(if op == UnOp::Neg { UNM } else { BNOT }, e, line)
            }
            UnOp::Len => self.code_unary(LEN, e, line),
            UnOp::Not => {
                let nvs = self.nvs();
                self.fs().code_not(e, nvs)
            }
        }
    }

    fn code_unary(&mut self, op: u8, e: &mut ExpDesc, line: u32) -> GResult<()> {
        let nvs = self.nvs();
        let fs = self.fs();
        let r = fs.exp_to_any_reg(e, nvs)?;
        fs.free_exp(e, nvs);
        let pc = fs.abc(op, 0, r, 0, false);
        e.k = ExpKind::Reloc(pc);
        fs.fix_line(line);
        Ok(())
    }

    /// Table constructor.
    fn constructor(&mut self, fields: &[Field], t: &mut ExpDesc) -> GResult<()> {
        let fs = self.fs();
        let pc = fs.abc(NEWTABLE, 0, 0, 0, false);
        fs.code(0);
        let treg = fs.freereg;
        *t = ExpDesc::new(ExpKind::NonReloc(treg));
        fs.reserve_regs(1)?;
        let mut na: u32 = 0;
        let mut nh: u32 = 0;
        let mut tostore: u32 = 0;
        let mut pending = ExpDesc::new(ExpKind::Void);
        let mut pending_line = 0;
        for f in fields {
            // closelistfield
            if !matches!(pending.k, ExpKind::Void) {
                self.fs().line = pending_line;
                let nvs = self.nvs();
                self.fs().exp_to_next_reg(&mut pending, nvs)?;
                pending = ExpDesc::new(ExpKind::Void);
                if tostore == FIELDS_PER_FLUSH {
                    self.fs().set_list(treg, na, tostore as i32);
                    na += tostore;
                    tostore = 0;
                }
            }
            match f {
                Field::Item(e, line) => {
                    self.expr(e, &mut pending)?;
                    pending_line = *line;
                    tostore += 1;
                }
                Field::Keyed(k, v) => {
                    let reg = self.fs().freereg;
                    nh += 1;
                    let mut key = ExpDesc::new(ExpKind::Void);
                    if let ExprKind::Str(s) = &k.kind {
                        key.k = ExpKind::KStr(s.clone());
                    } else {
                        self.expr(k, &mut key)?;
                        let nvs = self.nvs();
                        self.fs().exp_to_val(&mut key, nvs)?;
                    }
                    let mut tab = t.clone();
                    let nvs = self.nvs();
                    self.fs().indexed(&mut tab, &mut key, nvs)?;
                    let mut val = ExpDesc::new(ExpKind::Void);
                    self.expr(v, &mut val)?;
                    let nvs = self.nvs();
                    self.fs().store_var(&tab, &mut val, nvs)?;
                    self.fs().freereg = reg;
                }
            }
        }
        // lastlistfield
        if tostore > 0 {
            if !matches!(pending.k, ExpKind::Void) {
                self.fs().line = pending_line;
            }
            if matches!(pending.k, ExpKind::Call(_) | ExpKind::Vararg(_)) {
                self.fs().set_returns(&mut pending, -1)?;
                self.fs().set_list(treg, na, -1);
                na = na + tostore - 1;
            } else {
                if !matches!(pending.k, ExpKind::Void) {
                    let nvs = self.nvs();
                    self.fs().exp_to_next_reg(&mut pending, nvs)?;
                }
                self.fs().set_list(treg, na, tostore as i32);
                na += tostore;
            }
        }
        self.fs().set_table_size(pc, treg, na, nh);
        Ok(())
    }

    /// Compiles an expression list, leaving the last one open; returns the
    /// number of expressions.
    pub(super) fn exp_list(&mut self, es: &[Expr], last: &mut ExpDesc) -> GResult<usize> {
        for (i, e) in es.iter().enumerate() {
            if i > 0 {
                let nvs = self.nvs();
                self.fs().exp_to_next_reg(last, nvs)?;
            }
            self.expr(e, last)?;
        }
        Ok(es.len())
    }
}

fn op_is(i: Instruction, o: u8) -> bool {
    op(i) == o
}
