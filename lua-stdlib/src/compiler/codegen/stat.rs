//! Statements: assignment, locals, control flow, loops, returns.

use piccolo::{
    opcode::{Operation, RCIndex},
    types::{PrototypeIndex, RegisterIndex, UpValueIndex, VarCount},
    Constant,
};

use super::{CodeGen, EnvLoc, GResult, VarLoc};
use crate::compiler::ast::{Attrib, Block, Expr, ExprKind, FuncBody, GenFor, Name, Stat, StatKind};
use crate::runtime::Helper;

fn reg(r: u8) -> RegisterIndex {
    RegisterIndex(r)
}

/// Where an assignment stores, once its table and key are evaluated.
enum Target {
    Local(u8),
    Upval(u8),
    Global(RCIndex),
    Index(u8, RCIndex),
}

/// Hidden locals of `for` loops: names no Lua identifier can spell.
const FOR_STATE: &[u8] = b"(for state)";

impl CodeGen {
    /// Compiles the statements of a block in the current scope.
    pub(super) fn block_body(&mut self, block: &Block) -> GResult<()> {
        self.block_stats(block, false)
    }

    fn block_stats(&mut self, block: &Block, repeat_body: bool) -> GResult<()> {
        for (i, s) in block.stats.iter().enumerate() {
            // a label followed only by labels up to the block's end is
            // outside the scope of the block's locals (not before `until`)
            let at_end = !repeat_body
                && block.stats[i + 1..]
                    .iter()
                    .all(|s| matches!(s.kind, StatKind::Label(_)));
            self.statement(s, at_end)?;
            let n = self.nactive_regs();
            self.set_freereg(n);
            if let StatKind::Local(names, _) = &s.kind {
                let rest = &block.stats[i + 1..];
                if !repeat_body && !rest.is_empty() {
                    if let Some(pos) = names.iter().position(|(_, a)| *a == Attrib::Close) {
                        // the rest of the block runs protected (close.rs)
                        let var = self.nactive_regs() - names.len() as u8 + pos as u8;
                        self.protected_rest(var, rest, s.line, block.end_line)?;
                        let n = self.nactive_regs();
                        self.set_freereg(n);
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Compiles one statement that is not at the end of its block.
    pub(super) fn statement_in_block(&mut self, s: &Stat) -> GResult<()> {
        self.statement(s, false)
    }

    fn scoped_block(&mut self, block: &Block) -> GResult<()> {
        self.enter_block(false);
        self.block_body(block)?;
        self.leave_block(true)?;
        Ok(())
    }

    /// One statement. Each kind is compiled by its own function: blocks nest
    /// through here, and small frames keep deep nesting cheap.
    fn statement(&mut self, s: &Stat, at_block_end: bool) -> GResult<()> {
        self.cur_line = s.line;
        match &s.kind {
            StatKind::Call(e) => {
                self.call(e, VarCount::constant(0))?;
            }
            StatKind::Assign(targets, exprs) => self.assign(targets, exprs, s.line)?,
            StatKind::Local(names, exprs) => self.local_stat(names, exprs)?,
            StatKind::LocalFunction(name, body) => self.local_function(name, body, s.line)?,
            StatKind::Do(b) => self.scoped_block(b)?,
            StatKind::While(cond, body) => self.while_stat(cond, body)?,
            StatKind::Repeat(body, cond) => self.repeat_stat(body, cond)?,
            StatKind::If(arms, orelse) => self.if_stat(arms, orelse.as_ref())?,
            StatKind::NumFor(f) => {
                self.numeric_for(&f.var, &f.start, &f.limit, f.step.as_ref(), &f.body, s.line)?
            }
            StatKind::GenFor(f) => self.generic_for(f, s.line)?,
            StatKind::Return(exprs) => self.return_stat(exprs, s.line)?,
            StatKind::Break => self.break_stat(s.line)?,
            StatKind::Goto(name) => self.goto(name, s.line)?,
            StatKind::Label(name) => self.add_label(name, s.line, at_block_end)?,
        }
        Ok(())
    }

    fn local_stat(&mut self, names: &[(Name, Attrib)], exprs: &[Expr]) -> GResult<()> {
        if names.len() == 1 && exprs.len() == 1 && !exprs[0].is_multi() {
            let r = self.alloc(1)?;
            self.expr_to_reg(&exprs[0], r)?;
        } else {
            self.explist_n(exprs, names.len())?;
        }
        for (n, a) in names {
            let r = self.declare_local(n.clone(), *a)?;
            if *a == Attrib::Close {
                self.emit_close_check(r, n)?;
            }
        }
        Ok(())
    }

    fn local_function(&mut self, name: &Name, body: &FuncBody, line: u32) -> GResult<()> {
        let r = self.declare_local(name.clone(), Attrib::None)?;
        let idx = self.function(body)?;
        self.cur_line = line;
        self.emit(Operation::Closure {
            dest: reg(r),
            proto: PrototypeIndex(idx),
        });
        Ok(())
    }

    fn while_stat(&mut self, cond: &Expr, body: &Block) -> GResult<()> {
        let start = self.pc();
        self.loop_conditions += 1;
        let exits = self.cond_jump(cond, false);
        self.loop_conditions -= 1;
        let exits = exits?;
        self.enter_block(true);
        self.block_body(body)?;
        let breaks = self.leave_block(true)?;
        let back = self.emit_jump();
        self.patch_jump(back, start)?;
        self.patch_here(&exits)?;
        self.patch_here(&breaks)?;
        Ok(())
    }

    fn repeat_stat(&mut self, body: &Block, cond: &Expr) -> GResult<()> {
        let start = self.pc();
        self.enter_block(true);
        self.block_stats(body, true)?;
        let again = self.cond_jump(cond, false)?;
        let base = self.nactive_regs_at_block_start();
        let captured = self.block_captured();
        for &j in &again {
            self.patch_jump(j, start)?;
            if captured {
                self.set_jump_close(j, base);
            }
        }
        let breaks = self.leave_block(true)?;
        self.patch_here(&breaks)?;
        Ok(())
    }

    fn if_stat(&mut self, arms: &[(Expr, Block)], orelse: Option<&Block>) -> GResult<()> {
        let mut ends = Vec::new();
        for (i, (cond, body)) in arms.iter().enumerate() {
            let skip = self.cond_jump(cond, false)?;
            self.scoped_block(body)?;
            if i + 1 < arms.len() || orelse.is_some() {
                ends.push(self.emit_jump());
            }
            self.patch_here(&skip)?;
        }
        if let Some(b) = orelse {
            self.scoped_block(b)?;
        }
        self.patch_here(&ends)?;
        Ok(())
    }

    fn generic_for(&mut self, f: &GenFor, line: u32) -> GResult<()> {
        let (names, exprs, body) = (&f.names, &f.exprs, &f.body);
        self.enter_block(false);
        let base = self.explist_n(exprs, 3)?;
        for _ in 0..3 {
            self.declare_local(FOR_STATE.to_vec(), Attrib::None)?;
        }
        let to_call = self.emit_jump();
        let body_start = self.pc();
        self.enter_block(true);
        for n in names {
            self.declare_local(n.clone(), Attrib::None)?;
        }
        self.block_body(body)?;
        let breaks = self.leave_block(true)?;
        self.patch_here(&[to_call])?;
        self.cur_line = line;
        self.emit(Operation::GenericForCall {
            base: reg(base),
            var_count: names.len().min(250) as u8,
        });
        let lp = self.emit(Operation::GenericForLoop {
            base: reg(base + 2),
            jump: 0,
        });
        self.patch_jump(lp, body_start)?;
        self.patch_here(&breaks)?;
        self.leave_block(false)?;
        Ok(())
    }

    fn break_stat(&mut self, line: u32) -> GResult<()> {
        if self.innermost_loop().is_none() && self.fs().protected {
            return self.protected_break();
        }
        let Some(loop_idx) = self.innermost_loop() else {
            let end = self.fs().end_line;
            return self.err(end, format!("break outside loop at line {line}"));
        };
        for r in self.close_regs_from(loop_idx).into_iter().rev() {
            self.emit_close_call(r)?;
        }
        let j = self.emit_jump();
        self.add_break(loop_idx, j);
        Ok(())
    }

    fn nactive_regs_at_block_start(&mut self) -> u8 {
        let fs = self.fs();
        let b = fs.blocks.last().expect("block open");
        match fs.actives.get(b.nactive) {
            Some(l) => l.reg,
            None => fs.freereg as u8,
        }
    }

    fn block_captured(&mut self) -> bool {
        let b = self.fs().blocks.last().expect("block open");
        b.captured || b.inner_captured
    }

    fn check_assignable(&mut self, name: &[u8], line: u32) -> GResult<()> {
        let attrib = match self.resolve(name) {
            VarLoc::Local(_, a) | VarLoc::Upval(_, a) => a,
            VarLoc::Global => Attrib::None,
        };
        if attrib != Attrib::None {
            return self.err(
                line,
                format!(
                    "attempt to assign to const variable '{}'",
                    String::from_utf8_lossy(name)
                ),
            );
        }
        Ok(())
    }

    /// Evaluates what a target needs before the values (table and key).
    fn prepare_target(&mut self, t: &Expr, copy: bool) -> GResult<Target> {
        Ok(match &t.kind {
            ExprKind::Name(n) => match self.resolve(n) {
                VarLoc::Local(r, _) => Target::Local(r),
                VarLoc::Upval(i, _) => Target::Upval(i),
                VarLoc::Global => Target::Global(self.str_key_rc(n)?),
            },
            ExprKind::Suffixed(base, sufs) => {
                let (tr, key) = self.target_table(base, sufs, copy)?;
                let kr = if copy && self.literal(key).is_none() {
                    let r = self.alloc(1)?;
                    self.expr_to_reg(key, r)?;
                    RCIndex::Register(reg(r))
                } else {
                    self.expr_rc(key)?
                };
                Target::Index(tr, kr)
            }
            _ => unreachable!("parser only accepts names and indexes as targets"),
        })
    }

    fn store(&mut self, t: &Target, value: RCIndex) -> GResult<()> {
        match *t {
            Target::Local(r) => {
                let op = match value {
                    RCIndex::Register(s) => Operation::Move {
                        dest: reg(r),
                        source: s,
                    },
                    RCIndex::Constant(c) => Operation::LoadConstant {
                        dest: reg(r),
                        constant: piccolo::types::ConstantIndex16(c.0 as u16),
                    },
                };
                self.emit(op);
            }
            Target::Upval(i) => {
                let src = match value {
                    RCIndex::Register(s) => s.0,
                    RCIndex::Constant(c) => {
                        let r = self.alloc(1)?;
                        self.emit(Operation::LoadConstant {
                            dest: reg(r),
                            constant: piccolo::types::ConstantIndex16(c.0 as u16),
                        });
                        r
                    }
                };
                self.emit(Operation::SetUpValue {
                    dest: UpValueIndex(i),
                    source: reg(src),
                });
            }
            Target::Global(key) => match self.resolve_env() {
                EnvLoc::Local(r) => {
                    self.emit(Operation::SetTable {
                        table: reg(r),
                        key,
                        value,
                    });
                }
                EnvLoc::Upval(i) => {
                    self.emit(Operation::SetUpTable {
                        table: UpValueIndex(i),
                        key,
                        value,
                    });
                }
            },
            Target::Index(tr, key) => {
                self.emit(Operation::SetTable {
                    table: reg(tr),
                    key,
                    value,
                });
            }
        }
        Ok(())
    }

    fn assign(&mut self, targets: &[Expr], exprs: &[Expr], line: u32) -> GResult<()> {
        for t in targets {
            if let ExprKind::Name(n) = &t.kind {
                self.check_assignable(n, line)?;
            }
        }
        if targets.len() == 1 && exprs.len() == 1 {
            let t = &targets[0];
            let e = &exprs[0];
            if let ExprKind::Name(n) = &t.kind {
                if let VarLoc::Local(r, _) = self.resolve(n) {
                    // straight into the local's register
                    return self.expr_to_reg(e, r);
                }
            }
            let target = self.prepare_target(t, false)?;
            let v = if e.is_multi() {
                let r = self.alloc(1)?;
                self.expr_to_reg(e, r)?;
                RCIndex::Register(reg(r))
            } else {
                self.expr_rc(e)?
            };
            self.cur_line = line;
            return self.store(&target, v);
        }
        // general case: evaluate every table and key, then every value into
        // fresh registers, then store right to left
        let mut prepared = Vec::with_capacity(targets.len());
        for t in targets {
            prepared.push(self.prepare_target(t, true)?);
        }
        let base = self.explist_n(exprs, targets.len())?;
        self.cur_line = line;
        for (i, t) in prepared.iter().enumerate().rev() {
            self.store(t, RCIndex::Register(reg(base + i as u8)))?;
        }
        Ok(())
    }

    fn return_stat(&mut self, exprs: &[Expr], line: u32) -> GResult<()> {
        if self.fs().protected {
            return self.protected_return(exprs, line);
        }
        let closing = self.has_close_vars();
        if !closing && exprs.len() == 1 {
            let e = &exprs[0];
            if e.is_call() {
                return self.tail_call(e);
            }
            if let ExprKind::Name(n) = &e.kind {
                if let VarLoc::Local(r, _) = self.resolve(n) {
                    self.cur_line = line;
                    self.emit(Operation::Return {
                        start: reg(r),
                        count: VarCount::constant(1),
                    });
                    return Ok(());
                }
            }
        }
        let (base, n, variable) = self.explist_open(exprs)?;
        if closing {
            if variable {
                // the open results would be clobbered by the close calls:
                // the count is fixed by collecting them into a table first
                // is not done; `<close>` with open returns is a deviation
            }
            let depth = 0;
            for r in self.close_regs_from(depth).into_iter().rev() {
                self.set_freereg(base + n);
                self.emit_close_call(r)?;
            }
        }
        self.cur_line = line;
        self.emit(Operation::Return {
            start: reg(base),
            count: if variable {
                VarCount::variable()
            } else {
                VarCount::constant(n)
            },
        });
        Ok(())
    }

    fn tail_call(&mut self, e: &Expr) -> GResult<()> {
        // compile as an ordinary call, then turn its Call into a TailCall
        let base = self.call(e, VarCount::variable())?;
        let last = self.pc() - 1;
        let fs = self.fs();
        if let Operation::Call { func, args, .. } = fs.ops[last] {
            debug_assert_eq!(func.0, base);
            if args.is_variable() {
                // piccolo 0.3.3's tail call with open arguments indexes
                // past the stack when the callee has missing parameters:
                // make it an ordinary call and return its results
                self.emit(Operation::Return {
                    start: reg(base),
                    count: VarCount::variable(),
                });
                return Ok(());
            }
            fs.ops[last] = Operation::TailCall { func, args };
            // the VM's tail call clears the callee's missing parameters
            // inside the caller's frame: keep the frame big enough
            fs.has_tail_call = true;
        }
        Ok(())
    }

    fn numeric_for(
        &mut self,
        var: &[u8],
        start: &Expr,
        limit: &Expr,
        step: Option<&Expr>,
        body: &Block,
        line: u32,
    ) -> GResult<()> {
        self.enter_block(false);
        let one = Expr {
            kind: ExprKind::Int(1),
            line,
        };
        let step = step.unwrap_or(&one);
        let consts = (self.literal(start), self.literal(limit), self.literal(step));
        let direct = match consts {
            (
                Some(Constant::Integer(a)),
                Some(Constant::Integer(b)),
                Some(Constant::Integer(s)),
            ) => {
                s != 0
                    && a.checked_sub(s).is_some()
                    && b.checked_add(s).is_some()
                    && b.checked_sub(s).is_some()
            }
            _ => false,
        };
        // `extra` = (flag, last): registers of the final-iteration fix-up
        let (base, extra) = if direct {
            let base = self.alloc(3)?;
            self.expr_to_reg(start, base)?;
            self.expr_to_reg(limit, base + 1)?;
            self.expr_to_reg(step, base + 2)?;
            (base, None)
        } else {
            // forprep(start, limit, step) -> flag, last, start, limit, step:
            // checks and normalizes the loop; when the VM's increment past
            // the last value would overflow, the VM loop stops one value
            // early and `flag` asks for a final iteration with `last`
            let h = self.alloc(4)?;
            self.load_helper(Helper::ForPrep, h);
            self.expr_to_reg(start, h + 1)?;
            self.expr_to_reg(limit, h + 2)?;
            self.expr_to_reg(step, h + 3)?;
            self.alloc(1)?;
            self.cur_line = line;
            self.emit(Operation::Call {
                func: reg(h),
                args: VarCount::constant(3),
                returns: VarCount::constant(5),
            });
            self.set_freereg(h);
            self.declare_local(FOR_STATE.to_vec(), Attrib::None)?;
            self.declare_local(FOR_STATE.to_vec(), Attrib::None)?;
            (h + 2, Some((h, h + 1)))
        };
        for _ in 0..3 {
            self.declare_local(FOR_STATE.to_vec(), Attrib::None)?;
        }
        self.cur_line = line;
        let prep = self.emit(Operation::NumericForPrep {
            base: reg(base),
            jump: 0,
        });
        self.enter_block(true);
        self.declare_local(var.to_vec(), Attrib::None)?;
        self.block_body(body)?;
        let breaks = self.leave_block(true)?;
        self.cur_line = line;
        let lp = self.emit(Operation::NumericForLoop {
            base: reg(base),
            jump: 0,
        });
        self.patch_jump(prep, lp)?;
        self.patch_jump(lp, prep + 1)?;
        if let Some((flag, last)) = extra {
            self.emit(Operation::Test {
                value: reg(flag),
                is_true: true,
            });
            let done = self.emit_jump();
            self.emit(Operation::LoadBool {
                dest: reg(flag),
                value: false,
                skip_next: false,
            });
            self.emit(Operation::Move {
                dest: reg(base + 3),
                source: reg(last),
            });
            // the VM's next increment lands exactly past the limit
            self.emit(Operation::Move {
                dest: reg(base),
                source: reg(base + 1),
            });
            let again = self.emit_jump();
            self.patch_jump(again, prep + 1)?;
            self.patch_here(&[done])?;
        }
        self.patch_here(&breaks)?;
        self.leave_block(false)?;
        Ok(())
    }
}
