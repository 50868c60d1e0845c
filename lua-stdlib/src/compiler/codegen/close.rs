//! `<close>` variables closed on errors too.
//!
//! Bytecode cannot catch errors; only a Rust sequence can. So the statements
//! that follow `local x <close> = v` in its block are compiled into a hidden
//! function `C`, and the block calls `protect(C, x, ...)`: it runs `C`, then
//! calls `x`'s `__close(x, nil)` — or `__close(x, err)` and re-raises when
//! `C` failed. `C` reports how its statements ended as two values:
//! `0` fell off the end, `(1, packed results)` returned, `2` broke out of
//! the enclosing loop, `(3, i)` left by the `i`-th outer `goto`; the block
//! then does the same itself. (Not inside `repeat ... until`, whose
//! condition sees the body's locals.)

use piccolo::{
    opcode::{Operation, RCIndex},
    types::{ConstantIndex8, PrototypeIndex, RegisterIndex, VarCount},
    Constant,
};

use super::{CodeGen, GResult};
use crate::compiler::ast::{Block, Expr, Stat, StatKind};
use crate::runtime::Helper;

fn reg(r: u8) -> RegisterIndex {
    RegisterIndex(r)
}

/// How a protected body ended (the first value it returns).
const FELL_THROUGH: i64 = 0;
const RETURNED: i64 = 1;
const BROKE: i64 = 2;
const WENT_TO: i64 = 3;

impl CodeGen {
    /// Compiles `rest` (the statements after the `<close>` variable in
    /// register `var`) as a protected body and the dispatch on its outcome.
    pub(super) fn protected_rest(
        &mut self,
        var: u8,
        rest: &[Stat],
        line: u32,
        end_line: u32,
    ) -> GResult<()> {
        let body = Block {
            stats: rest.to_vec(),
            end_line,
        };
        let vararg = self.fs().vararg;
        let (idx, broke, gotos) = self.protected_function(&body, vararg, line, end_line)?;
        self.cur_line = line;
        let base = self.alloc(3)?;
        self.load_helper(Helper::Protect, base);
        self.emit(Operation::Closure {
            dest: reg(base + 1),
            proto: PrototypeIndex(idx),
        });
        self.emit(Operation::Move {
            dest: reg(base + 2),
            source: reg(var),
        });
        let args = if vararg {
            let at = self.freereg();
            self.emit(Operation::VarArgs {
                dest: reg(at),
                count: VarCount::variable(),
            });
            VarCount::variable()
        } else {
            VarCount::constant(2)
        };
        self.emit(Operation::Call {
            func: reg(base),
            args,
            returns: VarCount::constant(2),
        });
        self.set_freereg(base + 2);
        // `protect` has closed the variable: no second close at block exit
        for b in self.fs().blocks.iter_mut() {
            b.to_close.retain(|&r| r != var);
        }
        let (status, payload) = (base, base + 1);
        let mut exits = Vec::new();
        let ret = self.jump_if_equal(status, RETURNED)?;
        let brk = if broke {
            Some(self.jump_if_equal(status, BROKE)?)
        } else {
            None
        };
        let mut goto_jumps = Vec::new();
        for (i, _) in gotos.iter().enumerate() {
            // only `WENT_TO` leaves an integer payload
            goto_jumps.push(self.jump_if_equal(payload, i as i64)?);
        }
        exits.push(self.emit_jump());

        // returned: pass the results on
        self.patch_here(&[ret])?;
        if self.fs().protected {
            self.emit(Operation::Return {
                start: reg(status),
                count: VarCount::constant(2),
            });
        } else {
            for r in self.close_regs_from(0).into_iter().rev() {
                self.emit_close_call(r)?;
            }
            let u = self.alloc(2)?;
            self.load_helper(Helper::Unpack, u);
            self.emit(Operation::Move {
                dest: reg(u + 1),
                source: reg(payload),
            });
            self.emit(Operation::Call {
                func: reg(u),
                args: VarCount::constant(1),
                returns: VarCount::variable(),
            });
            self.emit(Operation::Return {
                start: reg(u),
                count: VarCount::variable(),
            });
        }
        if let Some(brk) = brk {
            self.patch_here(&[brk])?;
            let s = Stat {
                kind: StatKind::Break,
                line,
            };
            self.protected_exit(&s)?;
        }
        for (j, name) in goto_jumps.into_iter().zip(gotos) {
            self.patch_here(&[j])?;
            let s = Stat {
                kind: StatKind::Goto(name),
                line,
            };
            self.protected_exit(&s)?;
        }
        self.patch_here(&exits)?;
        let _ = FELL_THROUGH;
        Ok(())
    }

    fn protected_exit(&mut self, s: &Stat) -> GResult<()> {
        let save = self.freereg();
        self.statement_in_block(s)?;
        self.set_freereg(save);
        Ok(())
    }

    /// Emits `if r == k then jump` and returns the jump.
    fn jump_if_equal(&mut self, r: u8, k: i64) -> GResult<usize> {
        let c = self.constant(Constant::Integer(k))?;
        let right = match u8::try_from(c) {
            Ok(c) => RCIndex::Constant(ConstantIndex8(c)),
            Err(_) => {
                let t = self.alloc(1)?;
                self.load_constant(t, Constant::Integer(k))?;
                RCIndex::Register(reg(t))
            }
        };
        self.emit(Operation::Eq {
            skip_if: false,
            left: RCIndex::Register(reg(r)),
            right,
        });
        Ok(self.emit_jump())
    }

    /// Compiles a protected body; returns its prototype index, whether it
    /// breaks out of an outer loop, and the outer labels it jumps to.
    fn protected_function(
        &mut self,
        body: &Block,
        vararg: bool,
        line: u32,
        end_line: u32,
    ) -> GResult<(u8, bool, Vec<Vec<u8>>)> {
        let reference = piccolo::compiler::FunctionRef::Expression(super::line_number(line));
        let (outer_locals, line_defined) = (self.named_locals(), self.fs().line_defined);
        self.open_function(reference, vararg, end_line);
        let fs = self.fs();
        fs.protected = true;
        fs.outer_locals = outer_locals;
        fs.line_defined = line_defined;
        let saved_line = self.cur_line;
        self.block_body(body)?;
        let broke = self.fs().protected_break;
        let (proto, gotos) = {
            let proto = self.close_function(end_line)?;
            (proto, std::mem::take(&mut self.last_protected_gotos))
        };
        self.cur_line = saved_line;
        let fs = self.fs();
        if fs.protos.len() >= 255 {
            return self.err(line, "too many functions");
        }
        fs.protos.push(Box::new(proto));
        Ok(((fs.protos.len() - 1) as u8, broke, gotos))
    }

    /// `return exprs` inside a protected body: `return 1, pack(exprs)`.
    pub(super) fn protected_return(&mut self, exprs: &[Expr], line: u32) -> GResult<()> {
        let s = self.alloc(2)?;
        self.load_helper(Helper::Pack, s + 1);
        let (_, n, variable) = self.explist_open(exprs)?;
        self.cur_line = line;
        self.emit(Operation::Call {
            func: reg(s + 1),
            args: if variable {
                VarCount::variable()
            } else {
                VarCount::constant(n)
            },
            returns: VarCount::constant(1),
        });
        self.set_freereg(s + 2);
        for r in self.close_regs_from(0).into_iter().rev() {
            self.emit_close_call(r)?;
        }
        self.load_constant(s, Constant::Integer(RETURNED))?;
        self.emit(Operation::Return {
            start: reg(s),
            count: VarCount::constant(2),
        });
        Ok(())
    }

    /// `break` inside a protected body, out of a loop around it.
    pub(super) fn protected_break(&mut self) -> GResult<()> {
        for r in self.close_regs_from(0).into_iter().rev() {
            self.emit_close_call(r)?;
        }
        let s = self.alloc(1)?;
        self.load_constant(s, Constant::Integer(BROKE))?;
        self.emit(Operation::Return {
            start: reg(s),
            count: VarCount::constant(1),
        });
        self.fs().protected_break = true;
        Ok(())
    }

    /// At the end of a protected body, gotos to labels outside it return
    /// `(3, i)`; the labels are remembered for the caller's dispatch.
    pub(super) fn protected_gotos_at_end(&mut self) -> GResult<()> {
        let pending = std::mem::take(&mut self.fs().pending_gotos);
        let mut names: Vec<Vec<u8>> = Vec::new();
        for g in pending {
            let i = match names.iter().position(|n| *n == g.name) {
                Some(i) => i,
                None => {
                    names.push(g.name.clone());
                    names.len() - 1
                }
            };
            self.patch_here(&[g.pc])?;
            let s = self.alloc(2)?;
            self.load_constant(s, Constant::Integer(WENT_TO))?;
            self.load_constant(s + 1, Constant::Integer(i as i64))?;
            self.emit(Operation::Return {
                start: reg(s),
                count: VarCount::constant(2),
            });
        }
        self.last_protected_gotos = names;
        Ok(())
    }
}
