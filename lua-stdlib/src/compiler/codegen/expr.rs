//! Expressions: values into registers, conditions into jumps, calls.

use piccolo::{
    opcode::{Operation, RCIndex},
    types::{PrototypeIndex, RegisterIndex, UpValueIndex, VarCount},
    Constant,
};

use super::{
    binary::{is_number_literal, Operand},
    CodeGen, EnvLoc, GResult, VarLoc,
};
use crate::compiler::ast::{Expr, ExprKind, Field, FuncBody, Suffix, SuffixKind, UnOp};
use crate::runtime::{ArithOp, Helper};

/// Items of a table constructor stored per `SetList`.
const FIELDS_PER_FLUSH: u8 = 50;

fn reg(r: u8) -> RegisterIndex {
    RegisterIndex(r)
}

impl CodeGen {
    /// The constant value of a literal expression, if it is one.
    pub(super) fn literal(&mut self, e: &Expr) -> Option<Constant<super::Str>> {
        Some(match &e.kind {
            ExprKind::Nil => Constant::Nil,
            ExprKind::True => Constant::Boolean(true),
            ExprKind::False => Constant::Boolean(false),
            ExprKind::Int(i) => Constant::Integer(*i),
            ExprKind::Float(f) => Constant::Number(*f),
            ExprKind::Str(s) => Constant::String(self.intern(s)),
            _ => return None,
        })
    }

    /// Evaluates `e` (one value) into register `dest`.
    pub(super) fn expr_to_reg(&mut self, e: &Expr, dest: u8) -> GResult<()> {
        self.cur_line = e.line;
        let save = self.freereg();
        // one `?` for all arms: this frame is on every nesting path, and in
        // unoptimized builds every `?` has its own slot in it
        match &e.kind {
            ExprKind::Nil => {
                self.emit(Operation::LoadNil {
                    dest: reg(dest),
                    count: 1,
                });
                Ok(())
            }
            ExprKind::True | ExprKind::False => {
                self.emit(Operation::LoadBool {
                    dest: reg(dest),
                    value: matches!(e.kind, ExprKind::True),
                    skip_next: false,
                });
                Ok(())
            }
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => {
                let c = self.literal(e).expect("literal");
                self.load_constant(dest, c)
            }
            ExprKind::Vararg => {
                self.emit(Operation::VarArgs {
                    dest: reg(dest),
                    count: VarCount::constant(1),
                });
                Ok(())
            }
            ExprKind::Function(f) => self.closure(f, e.line, dest),
            ExprKind::Table(fields) => self.table(fields, dest),
            ExprKind::Name(n) => self.name_to_reg(n, dest),
            ExprKind::Suffixed(base, sufs) if !e.is_call() => self.index_to_reg(base, sufs, dest),
            ExprKind::Suffixed(..) => self.call_to_reg(e, dest),
            ExprKind::Paren(inner) => self.expr_to_reg(inner, dest),
            ExprKind::Un(op, operand) => self.unary(*op, operand, e.line, dest),
            ExprKind::Binary(first, rest) => self.binary_to_reg(first, rest, dest),
        }?;
        self.set_freereg(save);
        Ok(())
    }

    fn closure(&mut self, f: &FuncBody, line: u32, dest: u8) -> GResult<()> {
        let idx = self.function(f)?;
        self.cur_line = line;
        self.emit(Operation::Closure {
            dest: reg(dest),
            proto: PrototypeIndex(idx),
        });
        Ok(())
    }

    /// A call's first result into `dest`.
    fn call_to_reg(&mut self, e: &Expr, dest: u8) -> GResult<()> {
        // let the call sit in `dest` when it is the top temporary
        let top = dest as u16 + 1 == self.fs().freereg && dest >= self.nactive_regs();
        if top {
            self.set_freereg(dest);
        }
        let base = self.call(e, VarCount::constant(1))?;
        if base != dest {
            self.emit(Operation::Move {
                dest: reg(dest),
                source: reg(base),
            });
        }
        Ok(())
    }

    fn unary(&mut self, op: UnOp, operand: &Expr, line: u32, dest: u8) -> GResult<()> {
        if matches!(op, UnOp::Neg | UnOp::BNot) && self.strict && !is_number_literal(operand) {
            let code = if op == UnOp::Neg {
                ArithOp::Unm
            } else {
                ArithOp::BNot
            };
            return self.helper_arith(code, Operand::Expr(operand), None, line, dest);
        }
        let src = self.expr_any_reg(operand)?;
        self.cur_line = line;
        let subject = Subject::of(operand);
        match op {
            UnOp::Neg => self.guard(subject, src, Guard::Arith)?,
            UnOp::BNot => self.guard(subject, src, Guard::Bitwise)?,
            UnOp::Len => self.guard(subject, src, Guard::Length)?,
            UnOp::Not => {}
        }
        let (dest, source) = (reg(dest), reg(src));
        self.emit(match op {
            UnOp::Neg => Operation::Minus { dest, source },
            UnOp::Not => Operation::Not { dest, source },
            UnOp::Len => Operation::Length { dest, source },
            UnOp::BNot => Operation::BitNot { dest, source },
        });
        Ok(())
    }

    fn name_to_reg(&mut self, n: &[u8], dest: u8) -> GResult<()> {
        match self.resolve(n) {
            VarLoc::Local(r, _) => {
                if r != dest {
                    self.emit(Operation::Move {
                        dest: reg(dest),
                        source: reg(r),
                    });
                }
            }
            VarLoc::Upval(i, _) => {
                self.emit(Operation::GetUpValue {
                    dest: reg(dest),
                    source: UpValueIndex(i),
                });
            }
            VarLoc::Global => {
                let key = self.str_key_rc(n)?;
                match self.resolve_env() {
                    EnvLoc::Local(r) => {
                        self.emit(Operation::GetTable {
                            dest: reg(dest),
                            table: reg(r),
                            key,
                        });
                    }
                    EnvLoc::Upval(i) => {
                        self.emit(Operation::GetUpTable {
                            dest: reg(dest),
                            table: UpValueIndex(i),
                            key,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// A string key as a constant operand, or loaded into a temporary.
    pub(super) fn str_key_rc(&mut self, s: &[u8]) -> GResult<RCIndex> {
        let c = Constant::String(self.intern(s));
        self.const_rc_or_reg(c)
    }

    fn const_rc_or_reg(&mut self, c: Constant<super::Str>) -> GResult<RCIndex> {
        if let Some(rc) = self.constant_rc(c.clone())? {
            return Ok(rc);
        }
        let r = self.alloc(1)?;
        self.load_constant(r, c)?;
        Ok(RCIndex::Register(reg(r)))
    }

    /// Evaluates `e` into some register: a local's own register, or a new
    /// temporary (left allocated; the caller resets `freereg`).
    pub(super) fn expr_any_reg(&mut self, e: &Expr) -> GResult<u8> {
        if let Some(r) = self.local_reg(e) {
            return Ok(r);
        }
        let r = self.alloc(1)?;
        self.expr_to_reg(e, r)?;
        Ok(r)
    }

    /// The register of a local variable `e` (`x` or `(x)`), if it is one.
    pub(super) fn local_reg(&mut self, e: &Expr) -> Option<u8> {
        let n = match &e.kind {
            ExprKind::Name(n) => n,
            ExprKind::Paren(inner) => match &inner.kind {
                ExprKind::Name(n) => n,
                _ => return None,
            },
            _ => return None,
        };
        match self.resolve(n) {
            VarLoc::Local(r, _) => Some(r),
            _ => None,
        }
    }

    /// Evaluates `e` as an operand: a constant or a register.
    pub(super) fn expr_rc(&mut self, e: &Expr) -> GResult<RCIndex> {
        if let Some(c) = self.literal(e) {
            return self.const_rc_or_reg(c);
        }
        Ok(RCIndex::Register(reg(self.expr_any_reg(e)?)))
    }

    /// Before calling or indexing a value (in `r`): when it is a variable
    /// or a field, whose absence is the usual mistake, a nil or false value
    /// raises lua5.4's positioned, named error from a helper (the VM's own
    /// error has neither). Costs a test and a jump.
    pub(super) fn guard(&mut self, subject: Subject, r: u8, kind: Guard) -> GResult<()> {
        // calls are guarded for every named callee (the guard is small next
        // to a call); indexing and arithmetic everywhere but inside loops,
        // where they are the hot path and stay bare VM operations
        let named = matches!(subject, Subject::Var(_) | Subject::Field(_));
        let checked = named && (matches!(kind, Guard::Call) || !self.in_loop());
        if !checked {
            return Ok(());
        }
        let name = self.describe_subject(subject);
        self.emit(Operation::Test {
            value: reg(r),
            is_true: false,
        });
        let ok = self.emit_jump();
        let save = self.freereg();
        let base = self.alloc(4)?;
        self.load_helper(Helper::Raise, base);
        self.load_constant(base + 1, Constant::Integer(kind as i64))?;
        self.emit(Operation::Move {
            dest: reg(base + 2),
            source: reg(r),
        });
        let c = Constant::String(self.intern(name.as_bytes()));
        self.load_constant(base + 3, c)?;
        self.emit(Operation::Call {
            func: reg(base),
            args: VarCount::constant(3),
            returns: VarCount::constant(0),
        });
        self.set_freereg(save);
        self.patch_here(&[ok])
    }

    pub(super) fn guard_rc(&mut self, subject: Subject, rc: RCIndex, kind: Guard) -> GResult<()> {
        match rc {
            RCIndex::Register(r) => self.guard(subject, r.0, kind),
            RCIndex::Constant(_) => Ok(()),
        }
    }

    /// How lua5.4 names a value in error messages (`local 'x'`,
    /// `global 'x'`, `field 'k'` ...), or "".
    pub(super) fn describe_subject(&mut self, s: Subject) -> String {
        let quoted = |kind: &str, n: &[u8]| format!("{kind} '{}'", String::from_utf8_lossy(n));
        match s {
            Subject::Var(n) => match self.resolve(n) {
                VarLoc::Local(..) => quoted("local", n),
                VarLoc::Upval(..) => quoted("upvalue", n),
                VarLoc::Global => quoted("global", n),
            },
            Subject::Field(k) => match &k.kind {
                ExprKind::Str(s) => quoted("field", s),
                _ => String::new(),
            },
            Subject::Constant(s) => quoted("constant", s),
            Subject::None => String::new(),
        }
    }

    /// Pushes call arguments at `freereg`; returns (fixed count, whether the
    /// last one is open).
    pub(super) fn push_args(&mut self, args: &[Expr]) -> GResult<(u8, bool)> {
        let mut n = 0u8;
        for (i, a) in args.iter().enumerate() {
            if i + 1 == args.len() && a.is_multi() {
                self.expr_multi(a, VarCount::variable())?;
                return Ok((n, true));
            }
            let r = self.alloc(1)?;
            self.expr_to_reg(a, r)?;
            n += 1;
        }
        Ok((n, false))
    }

    /// Evaluates a multi-value expression (call or `...`) at `freereg`
    /// producing `want` values; returns the base register.
    pub(super) fn expr_multi(&mut self, e: &Expr, want: VarCount) -> GResult<u8> {
        match &e.kind {
            ExprKind::Vararg => {
                self.cur_line = e.line;
                let base = self.freereg();
                self.emit(Operation::VarArgs {
                    dest: reg(base),
                    count: want,
                });
                Ok(base)
            }
            _ => self.call(e, want),
        }
    }

    /// Evaluates `exprs` into `n` consecutive new registers (adjusting like
    /// Lua: extra values dropped, missing ones nil). Returns the base.
    pub(super) fn explist_n(&mut self, exprs: &[Expr], n: usize) -> GResult<u8> {
        let base = self.freereg();
        let mut placed = 0usize;
        for (i, e) in exprs.iter().enumerate() {
            let last = i + 1 == exprs.len();
            if last && e.is_multi() {
                let want = n.saturating_sub(placed);
                self.set_freereg(base + placed.min(n) as u8);
                if want == 0 {
                    if matches!(e.kind, ExprKind::Vararg) {
                        // `...` without a consumer has no effect
                    } else {
                        self.call(e, VarCount::constant(0))?;
                    }
                } else {
                    self.expr_multi(e, VarCount::constant(want as u8))?;
                    placed = n;
                }
                break;
            }
            let r = self.alloc(1)?;
            self.expr_to_reg(e, r)?;
            placed += 1;
        }
        if placed < n {
            let start = base + placed as u8;
            self.set_freereg(base + n as u8);
            self.emit(Operation::LoadNil {
                dest: reg(start),
                count: (n - placed) as u8,
            });
        }
        self.set_freereg(base + n as u8);
        Ok(base)
    }

    /// Evaluates all values of `exprs` at `freereg`; when the last is open,
    /// the stack is left variable. Returns (base, fixed count, variable).
    pub(super) fn explist_open(&mut self, exprs: &[Expr]) -> GResult<(u8, u8, bool)> {
        let base = self.freereg();
        let mut n = 0u8;
        for (i, e) in exprs.iter().enumerate() {
            if i + 1 == exprs.len() && e.is_multi() {
                self.expr_multi(e, VarCount::variable())?;
                return Ok((base, n, true));
            }
            let r = self.alloc(1)?;
            self.expr_to_reg(e, r)?;
            n += 1;
        }
        Ok((base, n, false))
    }

    fn table(&mut self, fields: &[Field], dest: u8) -> GResult<()> {
        let top = dest as u16 + 1 == self.fs().freereg && dest >= self.nactive_regs();
        let t = if top { dest } else { self.alloc(1)? };
        let nitems = fields
            .iter()
            .filter(|f| matches!(f, Field::Item(_)))
            .count();
        let nkeyed = fields.len() - nitems;
        self.emit(Operation::NewTable {
            dest: reg(t),
            array_size: nitems.min(255) as u8,
            map_size: nkeyed.min(255) as u8,
        });
        // a few items are stored one by one with constant keys: no index
        // register, so nested constructors take one register per level
        // (as in lua5.4) instead of two
        let multi_last = matches!(fields.last(), Some(Field::Item(v)) if v.is_multi());
        let one_by_one = nitems <= FIELDS_PER_FLUSH as usize && !multi_last;
        if nitems > 0 && !one_by_one {
            let idx = self.alloc(1)?;
            debug_assert_eq!(idx, t + 1);
            self.load_constant(idx, Constant::Integer(0))?;
        }
        let mut pending = 0u8;
        let mut position = 0i64;
        for (i, f) in fields.iter().enumerate() {
            match f {
                Field::Keyed(k, v) => {
                    let save = self.freereg();
                    let kr = self.expr_rc(k)?;
                    let vr = self.expr_rc(v)?;
                    self.cur_line = k.line;
                    self.emit(Operation::SetTable {
                        table: reg(t),
                        key: kr,
                        value: vr,
                    });
                    self.set_freereg(save);
                }
                Field::Item(v) if one_by_one => {
                    position += 1;
                    let save = self.freereg();
                    let vr = self.expr_rc(v)?;
                    let kr = self.const_rc_or_reg(Constant::Integer(position))?;
                    self.emit(Operation::SetTable {
                        table: reg(t),
                        key: kr,
                        value: vr,
                    });
                    self.set_freereg(save);
                }
                Field::Item(v) => {
                    if i + 1 == fields.len() && v.is_multi() {
                        self.expr_multi(v, VarCount::variable())?;
                        self.emit(Operation::SetList {
                            base: reg(t),
                            count: VarCount::variable(),
                        });
                        pending = 0;
                        self.set_freereg(t + 2);
                        continue;
                    }
                    let r = self.alloc(1)?;
                    self.expr_to_reg(v, r)?;
                    pending += 1;
                    if pending == FIELDS_PER_FLUSH {
                        self.emit(Operation::SetList {
                            base: reg(t),
                            count: VarCount::constant(pending),
                        });
                        pending = 0;
                        self.set_freereg(t + 2);
                    }
                }
            }
        }
        if pending > 0 {
            self.emit(Operation::SetList {
                base: reg(t),
                count: VarCount::constant(pending),
            });
        }
        if t != dest {
            self.emit(Operation::Move {
                dest: reg(dest),
                source: reg(t),
            });
        }
        Ok(())
    }
}

/// What a guarded value is about to be used for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Guard {
    Call = 0,
    Index = 1,
    Arith = 2,
    Bitwise = 3,
    Length = 4,
}

/// What lua5.4 calls a value in error messages, before names are resolved.
#[derive(Debug, Clone, Copy)]
pub(super) enum Subject<'a> {
    /// a variable: `local 'x'`, `upvalue 'x'` or `global 'x'`
    Var(&'a [u8]),
    /// the result of indexing with this key: `field 'k'` for a string key
    Field(&'a Expr),
    /// a string constant: `constant 's'`
    Constant(&'a [u8]),
    None,
}

impl<'a> Subject<'a> {
    pub(super) fn of(e: &'a Expr) -> Self {
        match &e.kind {
            ExprKind::Name(n) => Subject::Var(n),
            ExprKind::Str(s) => Subject::Constant(s),
            ExprKind::Suffixed(base, sufs) => Subject::of_prefix(base, sufs),
            _ => Subject::None,
        }
    }

    /// The value of `base` followed by `sufs`.
    pub(super) fn of_prefix(base: &'a Expr, sufs: &'a [Suffix]) -> Self {
        match sufs.last() {
            None => Subject::of(base),
            Some(Suffix {
                kind: SuffixKind::Index(k),
                ..
            }) => Subject::Field(k),
            Some(_) => Subject::None,
        }
    }
}
