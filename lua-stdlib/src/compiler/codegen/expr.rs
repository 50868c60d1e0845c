//! Expressions: values into registers, conditions into jumps, calls.

use piccolo::{
    opcode::{Operation, RCIndex},
    types::{PrototypeIndex, RegisterIndex, UpValueIndex, VarCount},
    Constant,
};

use super::{CodeGen, GResult, VarLoc};
use crate::compiler::ast::{BinOp, Expr, ExprKind, Field, UnOp};
use crate::runtime::{ArithOp, CompareOp, Helper};

/// Operands of `..` passed to one helper call.
const CONCAT_GROUP: usize = 100;

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
        match &e.kind {
            ExprKind::Nil => {
                self.emit(Operation::LoadNil {
                    dest: reg(dest),
                    count: 1,
                });
            }
            ExprKind::True | ExprKind::False => {
                self.emit(Operation::LoadBool {
                    dest: reg(dest),
                    value: matches!(e.kind, ExprKind::True),
                    skip_next: false,
                });
            }
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => {
                let c = self.literal(e).expect("literal");
                self.load_constant(dest, c)?;
            }
            ExprKind::Vararg => {
                self.emit(Operation::VarArgs {
                    dest: reg(dest),
                    count: VarCount::constant(1),
                });
            }
            ExprKind::Function(f) => {
                let idx = self.function(f)?;
                self.cur_line = e.line;
                self.emit(Operation::Closure {
                    dest: reg(dest),
                    proto: PrototypeIndex(idx),
                });
            }
            ExprKind::Table(fields) => self.table(fields, dest)?,
            ExprKind::Name(n) => self.name_to_reg(n, dest)?,
            ExprKind::Index(t, k) => {
                let tr = self.expr_any_reg(t)?;
                self.guard(t, tr, Guard::Index)?;
                let kr = self.expr_rc(k)?;
                self.cur_line = e.line;
                self.emit(Operation::GetTable {
                    dest: reg(dest),
                    table: reg(tr),
                    key: kr,
                });
            }
            ExprKind::Call(..) | ExprKind::Method(..) => {
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
            }
            ExprKind::Paren(inner) => self.expr_to_reg(inner, dest)?,
            ExprKind::Un(op @ (UnOp::Neg | UnOp::BNot), operand)
                if self.strict && !is_number_literal(operand) =>
            {
                let code = if *op == UnOp::Neg {
                    ArithOp::Unm
                } else {
                    ArithOp::BNot
                };
                self.helper_arith(code, operand, operand, e.line, dest)?;
            }
            ExprKind::Un(op, operand) => {
                let src = self.expr_any_reg(operand)?;
                self.cur_line = e.line;
                match op {
                    UnOp::Neg => self.guard(operand, src, Guard::Arith)?,
                    UnOp::BNot => self.guard(operand, src, Guard::Bitwise)?,
                    UnOp::Len => self.guard(operand, src, Guard::Length)?,
                    UnOp::Not => {}
                }
                let (dest, source) = (reg(dest), reg(src));
                self.emit(match op {
                    UnOp::Neg => Operation::Minus { dest, source },
                    UnOp::Not => Operation::Not { dest, source },
                    UnOp::Len => Operation::Length { dest, source },
                    UnOp::BNot => Operation::BitNot { dest, source },
                });
            }
            ExprKind::Bin(op, a, b) => self.binary(*op, a, b, e, dest)?,
        }
        self.set_freereg(save);
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
                match self.resolve(b"_ENV") {
                    VarLoc::Local(r, _) => {
                        self.emit(Operation::GetTable {
                            dest: reg(dest),
                            table: reg(r),
                            key,
                        });
                    }
                    VarLoc::Upval(i, _) => {
                        self.emit(Operation::GetUpTable {
                            dest: reg(dest),
                            table: UpValueIndex(i),
                            key,
                        });
                    }
                    VarLoc::Global => unreachable!("_ENV always resolves"),
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
        if let ExprKind::Name(n) = &e.kind {
            if let VarLoc::Local(r, _) = self.resolve(n) {
                return Ok(r);
            }
        }
        if let ExprKind::Paren(inner) = &e.kind {
            if let ExprKind::Name(_) = inner.kind {
                return self.expr_any_reg(inner);
            }
        }
        let r = self.alloc(1)?;
        self.expr_to_reg(e, r)?;
        Ok(r)
    }

    /// Evaluates `e` as an operand: a constant or a register.
    pub(super) fn expr_rc(&mut self, e: &Expr) -> GResult<RCIndex> {
        if let Some(c) = self.literal(e) {
            return self.const_rc_or_reg(c);
        }
        Ok(RCIndex::Register(reg(self.expr_any_reg(e)?)))
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr, e: &Expr, dest: u8) -> GResult<()> {
        match op {
            BinOp::And | BinOp::Or => {
                // write into a temporary when `dest` is a local that the
                // right operand may still read
                let is_local = dest < self.nactive_regs();
                let target = if is_local { self.alloc(1)? } else { dest };
                self.expr_to_reg(a, target)?;
                self.cur_line = e.line;
                self.emit(Operation::Test {
                    value: reg(target),
                    is_true: op == BinOp::And,
                });
                let j = self.emit_jump();
                self.expr_to_reg(b, target)?;
                self.patch_here(&[j])?;
                if is_local {
                    self.emit(Operation::Move {
                        dest: reg(dest),
                        source: reg(target),
                    });
                }
            }
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let jumps = self.cond_jump(e, true)?;
                self.emit(Operation::LoadBool {
                    dest: reg(dest),
                    value: false,
                    skip_next: true,
                });
                self.patch_here(&jumps)?;
                self.emit(Operation::LoadBool {
                    dest: reg(dest),
                    value: true,
                    skip_next: false,
                });
            }
            BinOp::Concat => {
                let mut parts = Vec::new();
                flatten_concat(e, &mut parts);
                // very long chains are folded left to right in groups so
                // they fit the registers (only `__concat` order differs)
                let mut acc: Option<u8> = None;
                for (i, group) in parts.chunks(CONCAT_GROUP).enumerate() {
                    let r = self.concat_call(acc, group, e.line)?;
                    if i == 0 {
                        acc = Some(r);
                    }
                }
                let acc = acc.expect("a concatenation has operands");
                self.emit(Operation::Move {
                    dest: reg(dest),
                    source: reg(acc),
                });
            }
            BinOp::IDiv => self.helper_binary(Helper::IDiv, a, b, e.line, dest)?,
            BinOp::Mod => {
                let safe_const = matches!(b.kind, ExprKind::Int(i) if i > 0 && i < (1 << 62));
                if self.strict {
                    self.helper_arith(ArithOp::Mod, a, b, e.line, dest)?;
                } else if safe_const {
                    self.arith(op, a, b, e.line, dest)?;
                } else {
                    self.helper_binary(Helper::Mod, a, b, e.line, dest)?;
                }
            }
            // the VM's shifts panic or wrap for counts outside 0..63
            _ if matches!(op, BinOp::Shl | BinOp::Shr)
                || (self.strict
                    && !(matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div)
                        && is_number_literal(a)
                        && is_number_literal(b))) =>
            {
                let code = match op {
                    BinOp::Add => ArithOp::Add,
                    BinOp::Sub => ArithOp::Sub,
                    BinOp::Mul => ArithOp::Mul,
                    BinOp::Div => ArithOp::Div,
                    BinOp::Pow => ArithOp::Pow,
                    BinOp::BAnd => ArithOp::BAnd,
                    BinOp::BOr => ArithOp::BOr,
                    BinOp::BXor => ArithOp::BXor,
                    BinOp::Shl => ArithOp::Shl,
                    _ => ArithOp::Shr,
                };
                self.helper_arith(code, a, b, e.line, dest)?;
            }
            _ => self.arith(op, a, b, e.line, dest)?,
        }
        Ok(())
    }

    /// `concat([acc,] parts...)` into a register: `acc`'s own when given,
    /// else a new one (returned).
    fn concat_call(&mut self, acc: Option<u8>, parts: &[&Expr], line: u32) -> GResult<u8> {
        let save = self.freereg();
        let names: Vec<String> = parts.iter().map(|p| self.describe(p)).collect();
        let named = names.iter().any(|n| !n.is_empty()) && acc.is_none();
        let base = self.alloc(1)?;
        let mut nargs = parts.len();
        if named {
            // concat_named(names, ...) for lua5.4's "(local 'x')"
            self.load_helper(Helper::ConcatNamed, base);
            let r = self.alloc(1)?;
            let c = Constant::String(self.intern(names.join("\n").as_bytes()));
            self.load_constant(r, c)?;
            nargs += 1;
        } else {
            self.load_helper(Helper::Concat, base);
        }
        if let Some(a) = acc {
            let r = self.alloc(1)?;
            self.emit(Operation::Move {
                dest: reg(r),
                source: reg(a),
            });
            nargs += 1;
        }
        for p in parts {
            let r = self.alloc(1)?;
            self.expr_to_reg(p, r)?;
        }
        self.cur_line = line;
        self.emit(Operation::Call {
            func: reg(base),
            args: VarCount::constant(nargs as u8),
            returns: VarCount::constant(1),
        });
        match acc {
            Some(a) => {
                self.emit(Operation::Move {
                    dest: reg(a),
                    source: reg(base),
                });
                self.set_freereg(save);
                Ok(a)
            }
            None => {
                self.set_freereg(base + 1);
                Ok(base)
            }
        }
    }

    /// `arith(op, a, b)`: an operator with full Lua semantics (strict mode).
    fn helper_arith(
        &mut self,
        op: ArithOp,
        a: &Expr,
        b: &Expr,
        line: u32,
        dest: u8,
    ) -> GResult<()> {
        let base = self.alloc(4)?;
        self.load_helper(Helper::Arith, base);
        self.load_constant(base + 1, Constant::Integer(op as i64))?;
        self.expr_to_reg(a, base + 2)?;
        if std::ptr::eq(a, b) {
            self.emit(Operation::Move {
                dest: reg(base + 3),
                source: reg(base + 2),
            });
        } else {
            self.expr_to_reg(b, base + 3)?;
        }
        let mut nargs = 3;
        if let Some(names) = self.operand_names(a, b) {
            let r = self.alloc(1)?;
            self.load_constant(r, names)?;
            nargs += 1;
        }
        self.cur_line = line;
        self.emit(Operation::Call {
            func: reg(base),
            args: VarCount::constant(nargs),
            returns: VarCount::constant(1),
        });
        if base != dest {
            self.emit(Operation::Move {
                dest: reg(dest),
                source: reg(base),
            });
        }
        Ok(())
    }

    fn arith(&mut self, op: BinOp, a: &Expr, b: &Expr, line: u32, dest: u8) -> GResult<()> {
        let kind = if matches!(op, BinOp::BAnd | BinOp::BOr | BinOp::BXor) {
            Guard::Bitwise
        } else {
            Guard::Arith
        };
        let left = self.expr_rc(a)?;
        self.cur_line = line;
        self.guard_rc(a, left, kind)?;
        let right = self.expr_rc(b)?;
        self.cur_line = line;
        self.guard_rc(b, right, kind)?;
        self.cur_line = line;
        let dest = reg(dest);
        self.emit(match op {
            BinOp::Add => Operation::Add { dest, left, right },
            BinOp::Sub => Operation::Sub { dest, left, right },
            BinOp::Mul => Operation::Mul { dest, left, right },
            BinOp::Div => Operation::Div { dest, left, right },
            BinOp::Mod => Operation::Mod { dest, left, right },
            BinOp::Pow => Operation::Pow { dest, left, right },
            BinOp::BAnd => Operation::BitAnd { dest, left, right },
            BinOp::BOr => Operation::BitOr { dest, left, right },
            BinOp::BXor => Operation::BitXor { dest, left, right },
            BinOp::Shl => Operation::ShiftLeft { dest, left, right },
            BinOp::Shr => Operation::ShiftRight { dest, left, right },
            _ => unreachable!("not an arithmetic operator"),
        });
        Ok(())
    }

    fn helper_binary(&mut self, h: Helper, a: &Expr, b: &Expr, line: u32, dest: u8) -> GResult<()> {
        let names = self.operand_names(a, b);
        let base = self.alloc(3)?;
        self.load_helper(h, base);
        self.expr_to_reg(a, base + 1)?;
        self.expr_to_reg(b, base + 2)?;
        let mut nargs = 2;
        if let Some(names) = names {
            let r = self.alloc(1)?;
            self.load_constant(r, names)?;
            nargs += 1;
        }
        self.cur_line = line;
        self.emit(Operation::Call {
            func: reg(base),
            args: VarCount::constant(nargs),
            returns: VarCount::constant(1),
        });
        if base != dest {
            self.emit(Operation::Move {
                dest: reg(dest),
                source: reg(base),
            });
        }
        Ok(())
    }

    /// Before calling or indexing the value of `e` (in `r`): when `e` is a
    /// global or a field, whose absence is the usual mistake, a nil or
    /// false value raises lua5.4's positioned, named error from a helper
    /// (the VM's own error has neither). Costs a test and a jump.
    pub(super) fn guard(&mut self, e: &Expr, r: u8, kind: Guard) -> GResult<()> {
        // calls are guarded for every named callee (the guard is small next
        // to a call); indexing and arithmetic everywhere but inside loops,
        // where they are the hot path and stay bare VM operations
        let named = matches!(e.kind, ExprKind::Name(_) | ExprKind::Index(..));
        let checked = named && (matches!(kind, Guard::Call) || !self.in_loop());
        if !checked {
            return Ok(());
        }
        let name = self.describe(e);
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

    fn guard_rc(&mut self, e: &Expr, rc: RCIndex, kind: Guard) -> GResult<()> {
        match rc {
            RCIndex::Register(r) => self.guard(e, r.0, kind),
            RCIndex::Constant(_) => Ok(()),
        }
    }

    /// "names of a\nnames of b" as a constant, when either has one.
    fn operand_names(&mut self, a: &Expr, b: &Expr) -> Option<Constant<super::Str>> {
        let (na, nb) = (self.describe(a), self.describe(b));
        if na.is_empty() && nb.is_empty() {
            return None;
        }
        Some(Constant::String(
            self.intern(format!("{na}\n{nb}").as_bytes()),
        ))
    }

    /// How lua5.4 names the value of `e` in error messages
    /// (`local 'x'`, `global 'x'`, `field 'k'` ...), or "".
    pub(super) fn describe(&mut self, e: &Expr) -> String {
        let quoted = |kind: &str, n: &[u8]| format!("{kind} '{}'", String::from_utf8_lossy(n));
        match &e.kind {
            ExprKind::Name(n) => match self.resolve(n) {
                VarLoc::Local(..) => quoted("local", n),
                VarLoc::Upval(..) => quoted("upvalue", n),
                VarLoc::Global => quoted("global", n),
            },
            ExprKind::Index(_, k) => match &k.kind {
                ExprKind::Str(s) => quoted("field", s),
                _ => String::new(),
            },
            ExprKind::Str(s) => quoted("constant", s),
            _ => String::new(),
        }
    }

    /// Emits code that jumps when the truth of `e` equals `jump_if`;
    /// returns the jumps to patch. Falls through otherwise.
    pub(super) fn cond_jump(&mut self, e: &Expr, jump_if: bool) -> GResult<Vec<usize>> {
        self.cur_line = e.line;
        let save = self.freereg();
        let jumps = match &e.kind {
            ExprKind::True | ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => {
                if jump_if {
                    vec![self.emit_jump()]
                } else {
                    Vec::new()
                }
            }
            ExprKind::Nil | ExprKind::False => {
                if jump_if {
                    Vec::new()
                } else {
                    vec![self.emit_jump()]
                }
            }
            ExprKind::Un(UnOp::Not, x) => self.cond_jump(x, !jump_if)?,
            ExprKind::Paren(x) => self.cond_jump(x, jump_if)?,
            ExprKind::Bin(BinOp::And, a, b) => {
                if jump_if {
                    let skip = self.cond_jump(a, false)?;
                    let t = self.cond_jump(b, true)?;
                    self.patch_here(&skip)?;
                    t
                } else {
                    let mut j = self.cond_jump(a, false)?;
                    j.extend(self.cond_jump(b, false)?);
                    j
                }
            }
            ExprKind::Bin(BinOp::Or, a, b) => {
                if jump_if {
                    let mut j = self.cond_jump(a, true)?;
                    j.extend(self.cond_jump(b, true)?);
                    j
                } else {
                    let skip = self.cond_jump(a, true)?;
                    let f = self.cond_jump(b, false)?;
                    self.patch_here(&skip)?;
                    f
                }
            }
            ExprKind::Bin(op @ (BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge), a, b)
                if self.strict && !(is_number_literal(a) && is_number_literal(b)) =>
            {
                // compare(op, x, y) with `>`/`>=` as swapped `<`/`<=`,
                // operands still evaluated left to right
                let base = self.alloc(4)?;
                self.load_helper(Helper::Compare, base);
                let (code, swap) = match op {
                    BinOp::Lt => (CompareOp::Lt, false),
                    BinOp::Le => (CompareOp::Le, false),
                    BinOp::Gt => (CompareOp::Lt, true),
                    _ => (CompareOp::Le, true),
                };
                self.load_constant(base + 1, Constant::Integer(code as i64))?;
                let (ra, rb) = if swap {
                    (base + 3, base + 2)
                } else {
                    (base + 2, base + 3)
                };
                self.expr_to_reg(a, ra)?;
                self.expr_to_reg(b, rb)?;
                self.cur_line = e.line;
                self.emit(Operation::Call {
                    func: reg(base),
                    args: VarCount::constant(3),
                    returns: VarCount::constant(1),
                });
                self.emit(Operation::Test {
                    value: reg(base),
                    is_true: !jump_if,
                });
                vec![self.emit_jump()]
            }
            ExprKind::Bin(
                op @ (BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge),
                a,
                b,
            ) => {
                let ra = self.expr_rc(a)?;
                let rb = self.expr_rc(b)?;
                self.cur_line = e.line;
                let skip_if = !jump_if;
                self.emit(match op {
                    BinOp::Eq => Operation::Eq {
                        skip_if,
                        left: ra,
                        right: rb,
                    },
                    BinOp::Ne => Operation::Eq {
                        skip_if: jump_if,
                        left: ra,
                        right: rb,
                    },
                    BinOp::Lt => Operation::Less {
                        skip_if,
                        left: ra,
                        right: rb,
                    },
                    BinOp::Le => Operation::LessEq {
                        skip_if,
                        left: ra,
                        right: rb,
                    },
                    BinOp::Gt => Operation::Less {
                        skip_if,
                        left: rb,
                        right: ra,
                    },
                    _ => Operation::LessEq {
                        skip_if,
                        left: rb,
                        right: ra,
                    },
                });
                vec![self.emit_jump()]
            }
            _ => {
                let r = self.expr_any_reg(e)?;
                self.cur_line = e.line;
                self.emit(Operation::Test {
                    value: reg(r),
                    is_true: !jump_if,
                });
                vec![self.emit_jump()]
            }
        };
        self.set_freereg(save);
        Ok(jumps)
    }

    /// Compiles a call at `freereg`; results start at the returned register.
    /// `freereg` is left just above the function register.
    pub(super) fn call(&mut self, e: &Expr, returns: VarCount) -> GResult<u8> {
        let base = self.alloc(1)?;
        let (nfixed, variable) = match &e.kind {
            ExprKind::Call(f, args) => {
                self.expr_to_reg(f, base)?;
                self.cur_line = e.line;
                self.guard(f, base, Guard::Call)?;
                let (n, var) = self.push_args(args)?;
                if !var {
                    let at = self.emit(Operation::LoadNil {
                        dest: reg(base + 1 + n),
                        count: 0,
                    });
                    self.record_precall_nil(at);
                }
                (n, var)
            }
            ExprKind::Method(obj, name, args) => {
                // `obj:name(...)` goes through a callback that looks `name`
                // up (in the string library for strings) and tail-calls it
                // (`method_named(names, obj, name, ...)` when `obj` has a
                // name for lua5.4's "attempt to index a nil value (local 's')")
                let names = self.describe(obj);
                let mut extra = 2;
                if names.is_empty() {
                    self.load_helper(Helper::Method, base);
                } else {
                    self.load_helper(Helper::MethodNamed, base);
                    let r = self.alloc(1)?;
                    let c = Constant::String(self.intern(names.as_bytes()));
                    self.load_constant(r, c)?;
                    extra += 1;
                }
                let o = self.alloc(2)?;
                self.expr_to_reg(obj, o)?;
                let c = Constant::String(self.intern(name));
                self.load_constant(o + 1, c)?;
                let (n, var) = self.push_args(args)?;
                (n + extra, var)
            }
            _ => unreachable!("not a call"),
        };
        self.cur_line = e.line;
        self.emit(Operation::Call {
            func: reg(base),
            args: if variable {
                VarCount::variable()
            } else {
                VarCount::constant(nfixed)
            },
            returns,
        });
        self.set_freereg(base + 1);
        Ok(base)
    }

    /// Pushes call arguments at `freereg`; returns (fixed count, whether the
    /// last one is open).
    fn push_args(&mut self, args: &[Expr]) -> GResult<(u8, bool)> {
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
        if nitems > 0 {
            let idx = self.alloc(1)?;
            debug_assert_eq!(idx, t + 1);
            self.load_constant(idx, Constant::Integer(0))?;
        }
        let mut pending = 0u8;
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

fn is_number_literal(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Int(_) | ExprKind::Float(_))
}

/// `a .. b .. c` parses right-associatively; one helper call takes all.
fn flatten_concat<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match &e.kind {
        ExprKind::Bin(BinOp::Concat, a, b) => {
            flatten_concat(a, out);
            flatten_concat(b, out);
        }
        _ => out.push(e),
    }
}
