//! Suffix chains: indexing, calls and method calls (`a.b[c](d):e(f)`).
//!
//! A chain (`ast::ExprKind::Suffixed`) is compiled with a loop over its
//! suffixes, each step leaving its value in one temporary register that the
//! next step reads and overwrites, so `f()()...` or `t.a.a...` any number of
//! steps long needs neither Rust recursion nor more registers. The prefix
//! before the first suffix is compiled only by the first step, into the
//! register that step wants it in (a local is used where it lives).

use piccolo::{
    opcode::Operation,
    types::{RegisterIndex, VarCount},
    Constant,
};

use super::{expr::Guard, expr::Subject, CodeGen, GResult};
use crate::compiler::ast::{Expr, Suffix, SuffixKind};
use crate::runtime::Helper;

fn reg(r: u8) -> RegisterIndex {
    RegisterIndex(r)
}

/// The value a chain step starts from.
#[derive(Clone, Copy)]
enum Val<'a> {
    /// The chain's prefix, not compiled yet.
    Expr(&'a Expr),
    /// A value in a register.
    Reg(u8),
}

impl CodeGen {
    /// The value in some register: a local's own, or `t`.
    fn val_any_reg(&mut self, v: Val, t: u8) -> GResult<u8> {
        match v {
            Val::Reg(r) => Ok(r),
            Val::Expr(e) => match self.local_reg(e) {
                Some(r) => Ok(r),
                None => {
                    self.expr_to_reg(e, t)?;
                    Ok(t)
                }
            },
        }
    }

    fn val_to_reg(&mut self, v: Val, dest: u8) -> GResult<()> {
        match v {
            Val::Reg(r) => {
                if r != dest {
                    self.emit(Operation::Move {
                        dest: reg(dest),
                        source: reg(r),
                    });
                }
                Ok(())
            }
            Val::Expr(e) => self.expr_to_reg(e, dest),
        }
    }

    /// Compiles `base` followed by `sufs` (one value per step) with the
    /// steps' values in `t`, a temporary at the top (`freereg` is `t + 1`
    /// before and after). Returns where the value is: `t`, or `base` still
    /// uncompiled when `sufs` is empty.
    fn chain_value<'a>(&mut self, base: &'a Expr, sufs: &'a [Suffix], t: u8) -> GResult<Val<'a>> {
        let mut cur = Val::Expr(base);
        for (i, s) in sufs.iter().enumerate() {
            let subject = Subject::of_prefix(base, &sufs[..i]);
            match &s.kind {
                SuffixKind::Index(k) => self.index_step(subject, cur, k, s.line, t, t)?,
                _ => self.call_step(subject, cur, s, t, VarCount::constant(1))?,
            }
            cur = Val::Reg(t);
        }
        Ok(cur)
    }

    /// `table[k]` into `dest`, the table in `cur` (`t` is a scratch
    /// register for it, not written when `cur` is a local).
    #[allow(clippy::too_many_arguments)]
    fn index_step(
        &mut self,
        subject: Subject,
        cur: Val,
        k: &Expr,
        line: u32,
        t: u8,
        dest: u8,
    ) -> GResult<()> {
        let save = self.freereg();
        let tr = self.val_any_reg(cur, t)?;
        self.guard(subject, tr, Guard::Index)?;
        let kr = self.expr_rc(k)?;
        self.cur_line = line;
        self.emit(Operation::GetTable {
            dest: reg(dest),
            table: reg(tr),
            key: kr,
        });
        self.set_freereg(save);
        Ok(())
    }

    /// A call (or method call) with the function register `f` (the top
    /// temporary); the callee, or the method's object, is `cur`. Results
    /// start at `f`; `freereg` is left at `f + 1`.
    fn call_step(
        &mut self,
        subject: Subject,
        cur: Val,
        s: &Suffix,
        f: u8,
        returns: VarCount,
    ) -> GResult<()> {
        let (nfixed, variable) = match &s.kind {
            SuffixKind::Call(args) => {
                self.val_to_reg(cur, f)?;
                self.cur_line = s.line;
                self.guard(subject, f, Guard::Call)?;
                let (n, var) = self.push_args(args)?;
                if !var {
                    let at = self.emit(Operation::LoadNil {
                        dest: reg(f + 1 + n),
                        count: 0,
                    });
                    self.record_precall_nil(at);
                }
                (n, var)
            }
            SuffixKind::Method(name, args) => {
                // `obj:name(...)` goes through a callback that looks `name`
                // up (in the string library for strings) and tail-calls it
                // (`method_named(names, obj, name, ...)` when `obj` has a
                // name for lua5.4's "attempt to index a nil value (local 's')")
                let names = self.describe_subject(subject);
                let named = !names.is_empty();
                let o = self.alloc(2 + named as u16)? + named as u8;
                if let Val::Reg(r) = cur {
                    // before `f` (which may hold the object) gets the helper
                    self.emit(Operation::Move {
                        dest: reg(o),
                        source: reg(r),
                    });
                }
                if named {
                    self.load_helper(Helper::MethodNamed, f);
                    let c = Constant::String(self.intern(names.as_bytes()));
                    self.load_constant(f + 1, c)?;
                } else {
                    self.load_helper(Helper::Method, f);
                }
                if let Val::Expr(e) = cur {
                    self.expr_to_reg(e, o)?;
                }
                let c = Constant::String(self.intern(name));
                self.load_constant(o + 1, c)?;
                let (n, var) = self.push_args(args)?;
                (n + 2 + named as u8, var)
            }
            SuffixKind::Index(_) => unreachable!("not a call"),
        };
        self.cur_line = s.line;
        self.emit(Operation::Call {
            func: reg(f),
            args: if variable {
                VarCount::variable()
            } else {
                VarCount::constant(nfixed)
            },
            returns,
        });
        self.set_freereg(f + 1);
        Ok(())
    }

    /// Compiles a call at `freereg`; results start at the returned register.
    /// `freereg` is left just above the function register.
    pub(super) fn call(&mut self, e: &Expr, returns: VarCount) -> GResult<u8> {
        let Some((base, sufs)) = e.suffixed() else {
            unreachable!("not a call")
        };
        let (last, init) = sufs.split_last().expect("a suffix chain is never empty");
        let f = self.alloc(1)?;
        let cur = self.chain_value(base, init, f)?;
        let subject = Subject::of_prefix(base, init);
        self.call_step(subject, cur, last, f, returns)?;
        Ok(f)
    }

    /// Compiles an indexing chain (`e` ends with an index) into `dest`.
    pub(super) fn index_to_reg(&mut self, base: &Expr, sufs: &[Suffix], dest: u8) -> GResult<()> {
        let (last, init) = sufs.split_last().expect("a suffix chain is never empty");
        let SuffixKind::Index(k) = &last.kind else {
            unreachable!("not an index")
        };
        // the steps before the last need a scratch register: `dest` when
        // it is the top temporary (nothing reads it before the result),
        // else a new one; not needed for a local table
        let top = dest as u16 + 1 == self.fs().freereg && dest >= self.nactive_regs();
        let t = if top || (init.is_empty() && self.local_reg(base).is_some()) {
            dest
        } else {
            self.alloc(1)?
        };
        let cur = self.chain_value(base, init, t)?;
        let subject = Subject::of_prefix(base, init);
        self.index_step(subject, cur, k, last.line, t, dest)
    }

    /// The table and key of an assignment target `base sufs... [k]`:
    /// the table in a register (a new one when `copy`, so later stores
    /// cannot change it), `k` returned for the caller to evaluate.
    pub(super) fn target_table<'a>(
        &mut self,
        base: &Expr,
        sufs: &'a [Suffix],
        copy: bool,
    ) -> GResult<(u8, &'a Expr)> {
        let (last, init) = sufs.split_last().expect("a suffix chain is never empty");
        let SuffixKind::Index(k) = &last.kind else {
            unreachable!("parser only accepts names and indexes as targets")
        };
        let tr = if copy || !init.is_empty() || self.local_reg(base).is_none() {
            let r = self.alloc(1)?;
            let v = self.chain_value(base, init, r)?;
            self.val_to_reg(v, r)?;
            r
        } else {
            self.expr_any_reg(base)?
        };
        self.cur_line = last.line;
        self.guard(Subject::of_prefix(base, init), tr, Guard::Index)?;
        Ok((tr, k))
    }
}
