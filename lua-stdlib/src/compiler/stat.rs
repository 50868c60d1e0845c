//! Statements, blocks, scopes and `goto` (`lparser.c`'s statement half).

use super::ast::{Attrib, Block as AstBlock, Expr, ExprKind, FuncBody, Stat, StatKind};
use super::code::*;
use super::Gen;
use crate::vm::opcode::*;

impl Gen {
    pub(super) fn block(&mut self, b: &AstBlock, is_loop: bool) -> GResult<()> {
        self.enter_block(is_loop);
        self.stat_list(&b.stats, false)?;
        self.fs().line = b.end_line;
        self.leave_block()
    }

    pub(super) fn stat_list(&mut self, stats: &[Stat], in_repeat: bool) -> GResult<()> {
        for (i, s) in stats.iter().enumerate() {
            if let StatKind::Return(es) = &s.kind {
                self.fs().line = s.line;
                return self.ret_stat(es);
            }
            let last_label = matches!(s.kind, StatKind::Label(_))
                && !in_repeat
                && stats[i + 1..]
                    .iter()
                    .all(|t| matches!(t.kind, StatKind::Label(_)));
            self.statement(s, last_label)?;
        }
        Ok(())
    }

    fn statement(&mut self, s: &Stat, last_label: bool) -> GResult<()> {
        self.fs().line = s.line;
        match &s.kind {
            StatKind::Call(e) => {
                let mut v = ExpDesc::new(ExpKind::Void);
                self.suffixed(e, &mut v)?;
                if let ExpKind::Call(pc) = v.k {
                    set_c(&mut self.fs().p.code[pc as usize], 1);
                }
            }
            StatKind::Assign(targets, exprs) => self.assign(targets, exprs)?,
            StatKind::Local(names, exprs) => self.local(names, exprs)?,
            StatKind::LocalFunction(name, body) => {
                self.new_local(name, VarKind::Regular)?;
                self.adjust_locals(1);
                let mut v = ExpDesc::new(ExpKind::Void);
                self.function(body, false, &mut v)?;
                // debug information only sees the variable after the closure
                let pidx = self.actvar.last().map(|v| v.pidx).unwrap_or(0);
                let pc = self.fs().pc() as u32;
                if let Some(lv) = self.fs().p.local_vars.get_mut(pidx) {
                    lv.start_pc = pc;
                }
            }
            StatKind::Do(b) => self.block(b, false)?,
            StatKind::While(cond, body) => {
                let init = self.fs().get_label();
                let exit = self.cond(cond)?;
                self.enter_block(true);
                self.block(body, false)?;
                let j = self.fs().jump();
                self.fs().patch_list(j, init)?;
                self.fs().line = s.line;
                self.leave_block()?;
                self.fs().patch_to_here(exit)?;
            }
            StatKind::Repeat(body, cond) => {
                let init = self.fs().get_label();
                self.enter_block(true);
                self.enter_block(false);
                self.stat_list(&body.stats, true)?;
                let mut exit = self.cond(cond)?;
                let (upval, nact) = {
                    let bl = self.fs_ref().blocks.last().cloned().unwrap_or_default();
                    (bl.upval, bl.nactvar)
                };
                self.leave_block()?;
                if upval {
                    let fs_nact = nact;
                    let level = self.reg_level(fs_nact);
                    let fs = self.fs();
                    let normal = fs.jump();
                    fs.patch_to_here(exit)?;
                    fs.abc(CLOSE, level, 0, 0, false);
                    exit = fs.jump();
                    fs.patch_to_here(normal)?;
                }
                self.fs().patch_list(exit, init)?;
                self.leave_block()?;
            }
            StatKind::If(arms, orelse) => {
                let mut escape = NO_JUMP;
                for (idx, (cond, then_line, body)) in arms.iter().enumerate() {
                    self.fs().line = cond.line;
                    let mut v = ExpDesc::new(ExpKind::Void);
                    self.expr(cond, &mut v)?;
                    self.fs().line = *then_line;
                    let nvs = self.nvs();
                    self.fs().go_if_true(&mut v, nvs)?;
                    let jf = v.f;
                    self.block(body, false)?;
                    if idx + 1 < arms.len() || orelse.is_some() {
                        let j = self.fs().jump();
                        self.fs().concat(&mut escape, j)?;
                    }
                    self.fs().patch_to_here(jf)?;
                }
                if let Some(b) = orelse {
                    self.block(b, false)?;
                }
                self.fs().patch_to_here(escape)?;
            }
            StatKind::NumFor(f) => {
                let (var, start, limit, step, body) =
                    (&f.var, &f.start, &f.limit, &f.step, &f.body);
                self.enter_block(true);
                let base = self.fs().freereg;
                for _ in 0..3 {
                    self.new_local(b"(for state)", VarKind::Regular)?;
                }
                self.new_local(var, VarKind::Regular)?;
                self.exp1(start)?;
                self.exp1(limit)?;
                match step {
                    Some(e) => self.exp1(e)?,
                    None => {
                        let fs = self.fs();
                        let r = fs.freereg;
                        fs.asbx(LOADI, r, 1);
                        fs.reserve_regs(1)?;
                    }
                }
                self.adjust_locals(3);
                self.for_body(base, s.line, 1, false, body)?;
                self.leave_block()?;
            }
            StatKind::GenFor(f) => {
                let (names, exprs, body) = (&f.names, &f.exprs, &f.body);
                self.enter_block(true);
                let base = self.fs().freereg;
                for _ in 0..4 {
                    self.new_local(b"(for state)", VarKind::Regular)?;
                }
                for n in names {
                    self.new_local(n, VarKind::Regular)?;
                }
                let line = f.line;
                let mut e = ExpDesc::new(ExpKind::Void);
                let n = self.exp_list(exprs, &mut e)?;
                self.adjust_assign(4, n, &mut e)?;
                self.adjust_locals(4);
                self.mark_to_be_closed();
                self.fs().check_stack(3)?;
                self.for_body(base, line, names.len() as u32, true, body)?;
                self.leave_block()?;
            }
            StatKind::Return(es) => self.ret_stat(es)?,
            StatKind::Break => {
                let pc = self.fs().jump();
                self.new_goto(b"break", s.line, pc);
            }
            StatKind::Goto(name) => self.goto_stat(name, s.line)?,
            StatKind::Label(name) => self.label_stat(name, s.line, last_label)?,
        }
        // Free registers used by the statement.
        let nvs = self.nvs();
        self.fs().freereg = nvs;
        Ok(())
    }

    fn exp1(&mut self, e: &Expr) -> GResult<()> {
        let mut v = ExpDesc::new(ExpKind::Void);
        self.expr(e, &mut v)?;
        let nvs = self.nvs();
        self.fs().exp_to_next_reg(&mut v, nvs)
    }

    /// A loop condition: jumps out when false; returns the exit list.
    fn cond(&mut self, e: &Expr) -> GResult<i32> {
        let mut v = ExpDesc::new(ExpKind::Void);
        self.expr(e, &mut v)?;
        if matches!(v.k, ExpKind::Nil) {
            v.k = ExpKind::False;
        }
        let nvs = self.nvs();
        self.fs().go_if_true(&mut v, nvs)?;
        Ok(v.f)
    }

    fn for_body(
        &mut self,
        base: u32,
        line: u32,
        nvars: u32,
        generic: bool,
        body: &AstBlock,
    ) -> GResult<()> {
        let prep = self
            .fs()
            .abx(if generic { TFORPREP } else { FORPREP }, base, 0);
        self.enter_block(false);
        self.adjust_locals(nvars as usize);
        self.fs().reserve_regs(nvars)?;
        self.block(body, false)?;
        self.leave_block()?;
        let here = self.fs().get_label();
        self.fix_for_jump(prep, here, false)?;
        self.fs().line = line;
        if generic {
            self.fs().abc(TFORCALL, base, 0, nvars, false);
            self.fs().fix_line(line);
        }
        let end = self
            .fs()
            .abx(if generic { TFORLOOP } else { FORLOOP }, base, 0);
        self.fix_for_jump(end, prep + 1, true)?;
        self.fs().fix_line(line);
        Ok(())
    }

    fn fix_for_jump(&mut self, pc: i32, dest: i32, back: bool) -> GResult<()> {
        let mut off = dest - (pc + 1);
        if back {
            off = -off;
        }
        if off < 0 || off as u32 > MAXARG_BX {
            return Err(self.gen_error("control structure too long"));
        }
        let fs = self.fs();
        let i = fs.p.code[pc as usize];
        fs.p.code[pc as usize] = abx(op(i), a(i) as u32, off as u32);
        Ok(())
    }

    fn ret_stat(&mut self, es: &[Expr]) -> GResult<()> {
        let mut first = self.nvs();
        let nret: i32;
        if es.is_empty() {
            nret = 0;
        } else {
            let mut e = ExpDesc::new(ExpKind::Void);
            let n = self.exp_list(es, &mut e)?;
            if matches!(e.k, ExpKind::Call(_) | ExpKind::Vararg(_)) {
                self.fs().set_returns(&mut e, -1)?;
                let inside_tbc = self.fs_ref().blocks.last().is_some_and(|b| b.inside_tbc);
                if let ExpKind::Call(pc) = e.k {
                    if n == 1 && !inside_tbc {
                        set_op(&mut self.fs().p.code[pc as usize], TAILCALL);
                    }
                }
                nret = -1;
            } else if n == 1 {
                let nvs = self.nvs();
                first = self.fs().exp_to_any_reg(&mut e, nvs)?;
                nret = 1;
            } else {
                let nvs = self.nvs();
                self.fs().exp_to_next_reg(&mut e, nvs)?;
                first = nvs;
                nret = (self.fs().freereg - first) as i32;
            }
        }
        self.fs().ret(first, nret);
        Ok(())
    }

    fn local(&mut self, names: &[(Vec<u8>, Attrib)], exprs: &[Expr]) -> GResult<()> {
        let mut toclose: Option<usize> = None;
        for (i, (n, attrib)) in names.iter().enumerate() {
            let kind = match attrib {
                Attrib::None => VarKind::Regular,
                Attrib::Const => VarKind::Const,
                Attrib::Close => VarKind::Close,
            };
            if kind == VarKind::Close {
                if toclose.is_some() {
                    return Err(self.gen_error("multiple to-be-closed variables in local list"));
                }
                toclose = Some(self.fs_ref().nactvar + i);
            }
            self.new_local(n, kind)?;
        }
        let mut e = ExpDesc::new(ExpKind::Void);
        let nexps = self.exp_list(exprs, &mut e)?;
        let nvars = names.len();
        let last_const = names.last().is_some_and(|(_, a)| *a == Attrib::Const);
        let ctc = if nvars == nexps && last_const && !e.has_jumps() {
            match &e.k {
                ExpKind::Nil
                | ExpKind::True
                | ExpKind::False
                | ExpKind::KInt(_)
                | ExpKind::KFlt(_)
                | ExpKind::KStr(_) => Some(e.k.clone()),
                ExpKind::Const(ci) => match &self.actvar[*ci].kind {
                    VarKind::CompileConst(k) => Some(k.clone()),
                    _ => None,
                },
                _ => None,
            }
        } else {
            None
        };
        if let Some(k) = ctc {
            if let Some(v) = self.actvar.last_mut() {
                v.kind = VarKind::CompileConst(k);
            }
            self.adjust_locals(nvars - 1);
            self.fs().nactvar += 1;
        } else {
            self.adjust_assign(nvars, nexps, &mut e)?;
            self.adjust_locals(nvars);
        }
        if let Some(level) = toclose {
            self.mark_to_be_closed();
            let reg = self.reg_level(level);
            self.fs().abc(TBC, reg, 0, 0, false);
        }
        Ok(())
    }

    pub(super) fn adjust_assign(
        &mut self,
        nvars: usize,
        nexps: usize,
        e: &mut ExpDesc,
    ) -> GResult<()> {
        let needed = nvars as i32 - nexps as i32;
        let nvs = self.nvs();
        let fs = self.fs();
        if matches!(e.k, ExpKind::Call(_) | ExpKind::Vararg(_)) {
            let extra = (needed + 1).max(0);
            fs.set_returns(e, extra)?;
        } else {
            if !matches!(e.k, ExpKind::Void) {
                fs.exp_to_next_reg(e, nvs)?;
            }
            if needed > 0 {
                let r = fs.freereg;
                fs.nil(r, needed as u32);
            }
        }
        if needed > 0 {
            fs.reserve_regs(needed as u32)?;
        } else {
            fs.freereg = (fs.freereg as i32 + needed) as u32;
        }
        Ok(())
    }

    fn assign(&mut self, targets: &[Expr], exprs: &[Expr]) -> GResult<()> {
        let mut lhs: Vec<ExpDesc> = Vec::with_capacity(targets.len());
        for t in targets {
            if let ExprKind::Name(n) = &t.kind {
                self.fs().line = t.line;
                if self.is_compile_const(n)? {
                    return Err(self.gen_error(&format!(
                        "attempt to assign to const variable '{}'",
                        String::from_utf8_lossy(n)
                    )));
                }
            }
            let mut v = ExpDesc::new(ExpKind::Void);
            self.suffixed(t, &mut v)?;
            self.check_readonly(&v)?;
            if !matches!(
                v.k,
                ExpKind::Indexed { .. }
                    | ExpKind::IndexUp { .. }
                    | ExpKind::IndexInt { .. }
                    | ExpKind::IndexStr { .. }
            ) {
                self.check_conflict(&mut lhs, &v)?;
            }
            lhs.push(v);
        }
        let mut e = ExpDesc::new(ExpKind::Void);
        let nexps = self.exp_list(exprs, &mut e)?;
        let nvars = lhs.len();
        if nexps != nvars {
            self.adjust_assign(nvars, nexps, &mut e)?;
        } else {
            self.fs().set_one_ret(&mut e);
            let nvs = self.nvs();
            let last = lhs.pop().expect("at least one target");
            self.fs().store_var(&last, &mut e, nvs)?;
        }
        while let Some(var) = lhs.pop() {
            let nvs = self.nvs();
            let fs = self.fs();
            let mut e = ExpDesc::new(ExpKind::NonReloc(fs.freereg - 1));
            fs.store_var(&var, &mut e, nvs)?;
        }
        Ok(())
    }

    fn check_readonly(&self, v: &ExpDesc) -> GResult<()> {
        let name = match &v.k {
            ExpKind::Const(i) => Some(self.actvar[*i].name.clone()),
            ExpKind::Local { vidx, .. } => {
                let d = &self.actvar[*vidx];
                (d.kind != VarKind::Regular).then(|| d.name.clone())
            }
            ExpKind::Upval(u) => {
                let fs = self.fs_ref();
                match fs.upval_kinds.get(*u as usize) {
                    Some(true) => Some(fs.p.upvalues[*u as usize].name.to_vec()),
                    _ => None,
                }
            }
            _ => None,
        };
        match name {
            Some(n) => Err(self.gen_error(&format!(
                "attempt to assign to const variable '{}'",
                String::from_utf8_lossy(&n)
            ))),
            None => Ok(()),
        }
    }

    fn check_conflict(&mut self, lhs: &mut [ExpDesc], v: &ExpDesc) -> GResult<()> {
        let fs = self.fs();
        let extra = fs.freereg;
        let mut conflict = false;
        for prev in lhs.iter_mut() {
            match &mut prev.k {
                ExpKind::IndexUp { t, key } => {
                    if let ExpKind::Upval(u) = v.k {
                        if *t == u {
                            conflict = true;
                            prev.k = ExpKind::IndexStr {
                                t: extra,
                                key: *key,
                            };
                        }
                    }
                }
                ExpKind::Indexed { t, key } => {
                    if let ExpKind::Local { reg, .. } = v.k {
                        if *t == reg {
                            conflict = true;
                            *t = extra;
                        }
                        if *key == reg {
                            conflict = true;
                            *key = extra;
                        }
                    }
                }
                ExpKind::IndexInt { t, .. } | ExpKind::IndexStr { t, .. } => {
                    if let ExpKind::Local { reg, .. } = v.k {
                        if *t == reg {
                            conflict = true;
                            *t = extra;
                        }
                    }
                }
                _ => {}
            }
        }
        if conflict {
            match v.k {
                ExpKind::Local { reg, .. } => {
                    fs.abc(MOVE, extra, reg, 0, false);
                }
                ExpKind::Upval(u) => {
                    fs.abc(GETUPVAL, extra, u, 0, false);
                }
                _ => {}
            }
            fs.reserve_regs(1)?;
        }
        Ok(())
    }

    // ---- goto and labels ------------------------------------------------

    fn new_goto(&mut self, name: &[u8], line: u32, pc: i32) {
        let nactvar = self.fs_ref().nactvar;
        self.gotos.push(LabelDesc {
            name: name.to_vec(),
            pc,
            line,
            nactvar,
            close: false,
        });
    }

    fn find_label(&self, name: &[u8]) -> Option<LabelDesc> {
        let first = self.fs_ref().first_label;
        self.labels[first..]
            .iter()
            .find(|l| l.name == name)
            .cloned()
    }

    fn goto_stat(&mut self, name: &[u8], line: u32) -> GResult<()> {
        match self.find_label(name) {
            None => {
                let pc = self.fs().jump();
                self.new_goto(name, line, pc);
            }
            Some(lb) => {
                let lblevel = self.reg_level(lb.nactvar);
                if self.nvs() > lblevel {
                    self.fs().abc(CLOSE, lblevel, 0, 0, false);
                }
                let j = self.fs().jump();
                self.fs().patch_list(j, lb.pc)?;
            }
        }
        Ok(())
    }

    fn label_stat(&mut self, name: &[u8], line: u32, last: bool) -> GResult<()> {
        if let Some(lb) = self.find_label(name) {
            return Err(GenError {
                line,
                message: format!(
                    "label '{}' already defined on line {}",
                    String::from_utf8_lossy(name),
                    lb.line
                ),
            });
        }
        self.create_label(name, line, last)?;
        Ok(())
    }

    /// Creates a label here and resolves pending gotos to it; returns
    /// whether a `CLOSE` was emitted.
    pub(super) fn create_label(&mut self, name: &[u8], line: u32, last: bool) -> GResult<bool> {
        let pc = self.fs().get_label();
        let mut nactvar = self.fs_ref().nactvar;
        if last {
            nactvar = self.fs_ref().blocks.last().map_or(0, |b| b.nactvar);
        }
        let lb = LabelDesc {
            name: name.to_vec(),
            pc,
            line,
            nactvar,
            close: false,
        };
        self.labels.push(lb.clone());
        // solvegotos
        let first = self.fs_ref().blocks.last().map_or(0, |b| b.first_goto);
        let mut needs_close = false;
        let mut i = first;
        while i < self.gotos.len() {
            if self.gotos[i].name == name {
                let gt = self.gotos.remove(i);
                needs_close |= gt.close;
                if gt.nactvar < lb.nactvar {
                    let vname = self.local_name_at(gt.nactvar);
                    return Err(GenError {
                        line: gt.line,
                        message: format!(
                            "<goto {}> at line {} jumps into the scope of local '{}'",
                            String::from_utf8_lossy(&gt.name),
                            gt.line,
                            String::from_utf8_lossy(&vname)
                        ),
                    });
                }
                self.fs().patch_list(gt.pc, lb.pc)?;
            } else {
                i += 1;
            }
        }
        if needs_close {
            let nvs = self.nvs();
            self.fs().abc(CLOSE, nvs, 0, 0, false);
            return Ok(true);
        }
        Ok(false)
    }

    fn local_name_at(&self, i: usize) -> Vec<u8> {
        let fs = self.fs_ref();
        self.actvar
            .get(fs.first_local + i)
            .map(|v| v.name.clone())
            .unwrap_or_default()
    }

    // ---- blocks ---------------------------------------------------------

    pub(super) fn enter_block(&mut self, is_loop: bool) {
        let labels = self.labels.len();
        let gotos = self.gotos.len();
        let fs = self.fs();
        let inside_tbc = fs.blocks.last().is_some_and(|b| b.inside_tbc);
        let nactvar = fs.nactvar;
        fs.blocks.push(Block {
            first_label: labels,
            first_goto: gotos,
            nactvar,
            upval: false,
            is_loop,
            inside_tbc,
        });
    }

    pub(super) fn leave_block(&mut self) -> GResult<()> {
        let bl = self.fs_ref().blocks.last().cloned().unwrap_or_default();
        let stklevel = self.reg_level(bl.nactvar);
        // Register levels of pending gotos, while their variables exist.
        let goto_levels: Vec<u32> = (bl.first_goto..self.gotos.len())
            .map(|i| self.reg_level(self.gotos[i].nactvar.min(self.fs_ref().nactvar)))
            .collect();
        self.remove_vars(bl.nactvar);
        let mut has_close = false;
        if bl.is_loop {
            has_close = self.create_label(b"break", 0, false)?;
        }
        let nested = self.fs_ref().blocks.len() > 1;
        let fs = self.fs();
        if !has_close && nested && bl.upval {
            fs.abc(CLOSE, stklevel, 0, 0, false);
        }
        fs.freereg = stklevel;
        fs.blocks.pop();
        self.labels.truncate(bl.first_label);
        if nested {
            // movegotosout
            for i in bl.first_goto..self.gotos.len() {
                let gl = goto_levels.get(i - bl.first_goto).copied().unwrap_or(0);
                if gl > stklevel {
                    self.gotos[i].close |= bl.upval;
                }
                self.gotos[i].nactvar = bl.nactvar;
            }
        } else if bl.first_goto < self.gotos.len() {
            let gt = self.gotos[bl.first_goto].clone();
            let message = if gt.name == b"break" {
                format!("break outside a loop at line {}", gt.line)
            } else {
                format!(
                    "no visible label '{}' for <goto> at line {}",
                    String::from_utf8_lossy(&gt.name),
                    gt.line
                )
            };
            return Err(GenError {
                line: gt.line,
                message,
            });
        }
        Ok(())
    }

    pub(super) fn mark_to_be_closed(&mut self) {
        let fs = self.fs();
        if let Some(b) = fs.blocks.last_mut() {
            b.upval = true;
            b.inside_tbc = true;
        }
        fs.need_close = true;
    }

    /// Compiles a function body into a closure in `v`.
    pub(super) fn function(
        &mut self,
        body: &FuncBody,
        _method: bool,
        v: &mut ExpDesc,
    ) -> GResult<()> {
        self.open_function(body.line);
        for p in &body.params {
            self.new_local(p, VarKind::Regular)?;
        }
        self.adjust_locals(body.params.len());
        {
            let fs = self.fs();
            fs.p.num_params = fs.nactvar as u8;
            if body.vararg {
                fs.p.is_vararg = true;
                let np = fs.p.num_params as u32;
                fs.abc(VARARGPREP, np, 0, 0, false);
            }
            let n = fs.nactvar as u32;
            fs.reserve_regs(n)?;
        }
        self.stat_list(&body.body.stats, false)?;
        self.fs().line = body.end_line;
        let proto = self.close_function(body.end_line)?;
        let fs = self.fs();
        fs.p.protos.push(std::sync::Arc::new(proto));
        let idx = fs.p.protos.len() as u32 - 1;
        let pc = fs.abx(CLOSURE, 0, idx);
        *v = ExpDesc::new(ExpKind::Reloc(pc));
        let nvs = self.nvs();
        self.fs().exp_to_next_reg(v, nvs)?;
        Ok(())
    }
}

/// `a.b.c = function` names etc. need nothing more here.
#[allow(dead_code)]
fn is_name(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Name(_))
}
