//! Operators: binary chains into registers or conditional jumps.
//!
//! A chain `first op1 r1 op2 r2 ...` (see `ast::ExprKind::Binary`) can be
//! as long as the source: `1+1+...` or `a or b or ...` fifty thousand long
//! are ordinary Lua. It is compiled without recursing along it. Compiling a
//! step needs to know what its left operand (the chain before it) must
//! produce: a value in a register, or jumps (`a and b` in a condition
//! compiles `a` as a jump). So [`CodeGen::chain`] first walks the chain from
//! its end to its start, deciding for each step what its left operand must
//! produce and reserving the registers that needs, then emits from the
//! start: `first` with the first step, and each later step with its left
//! operand already compiled ([`Left::Reg`] or [`Left::Jumps`]). Along a
//! chain, each step's left value reuses the register of the step above, so
//! a chain needs a fixed number of registers, whatever its length.

use piccolo::{
    opcode::{Operation, RCIndex},
    types::{RegisterIndex, VarCount},
    Constant,
};

use super::{expr::Guard, expr::Subject, CodeGen, GResult};
use crate::compiler::ast::{BinOp, BinRhs, Expr, ExprKind};
use crate::runtime::{ArithOp, CompareOp, Helper};

/// Operands of `..` passed to one helper call.
const CONCAT_GROUP: usize = 100;

/// Longest `and`/`or` chain compiled as jumps in a condition. Its jumps all
/// land past the whole chain, and piccolo's jumps reach 32,767
/// instructions; a longer chain is computed as a value (each jump then
/// skips one operand) and tested once, with the same result.
const MAX_JUMPING_CHAIN: usize = 1000;

fn reg(r: u8) -> RegisterIndex {
    RegisterIndex(r)
}

/// An operand of an operator.
#[derive(Clone, Copy)]
pub(super) enum Operand<'a> {
    /// An expression still to evaluate.
    Expr(&'a Expr),
    /// The first steps of a binary chain, still to evaluate (never empty).
    Chain(&'a Expr, &'a [BinRhs]),
    /// A value already in a register (a chain prefix compiled before).
    Reg(u8),
}

impl<'a> Operand<'a> {
    /// `first` followed by `rest`, as an operand.
    fn chain(first: &'a Expr, rest: &'a [BinRhs]) -> Self {
        if rest.is_empty() {
            Operand::Expr(first)
        } else {
            Operand::Chain(first, rest)
        }
    }

    /// The chain this operand is, if it is one.
    fn as_chain(self) -> Option<(&'a Expr, &'a [BinRhs])> {
        match self {
            Operand::Expr(Expr {
                kind: ExprKind::Binary(first, rest),
                ..
            }) => Some((first, rest)),
            Operand::Chain(first, rest) => Some((first, rest)),
            _ => None,
        }
    }

    fn subject(self) -> Subject<'a> {
        match self {
            Operand::Expr(e) => Subject::of(e),
            _ => Subject::None,
        }
    }

    fn is_number_literal(self) -> bool {
        matches!(self, Operand::Expr(e) if is_number_literal(e))
    }
}

/// What the code of an expression must produce.
#[derive(Clone, Copy)]
pub(super) enum Want {
    /// Its value, in this register.
    Reg(u8),
    /// Jumps taken when its truth equals the flag (falling through
    /// otherwise).
    Cond(bool),
}

/// The left operand of a chain step.
enum Left<'a> {
    /// The chain's first operand, not compiled yet.
    Expr(&'a Expr),
    /// The chain before the step, compiled into this register.
    Reg(u8),
    /// The chain before the step, compiled into these jumps.
    Jumps(Vec<usize>),
}

fn is_and_or(op: BinOp) -> bool {
    matches!(op, BinOp::And | BinOp::Or)
}

fn is_comparison(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
    )
}

impl CodeGen {
    /// The chain `first rest...` into `dest`: a single operator directly
    /// (the common case, and a small frame on the nesting path).
    pub(super) fn binary_to_reg(&mut self, first: &Expr, rest: &[BinRhs], dest: u8) -> GResult<()> {
        match rest {
            [step] => self.step(Left::Expr(first), step, Want::Reg(dest)),
            _ => self.chain(first, rest, Want::Reg(dest)),
        }
        .map(|_| ())
    }

    /// Compiles the chain `first rest...` for `want`; returns its jumps
    /// (none for [`Want::Reg`]). Registers it reserves stay reserved: the
    /// caller resets `freereg`.
    pub(super) fn chain(
        &mut self,
        first: &Expr,
        rest: &[BinRhs],
        want: Want,
    ) -> GResult<Vec<usize>> {
        if rest.is_empty() {
            // (the parser never builds an empty chain)
            return match want {
                Want::Reg(dest) => self.expr_to_reg(first, dest).map(|()| Vec::new()),
                Want::Cond(jump_if) => self.cond_jump(first, jump_if),
            };
        }
        if let Want::Cond(jump_if) = want {
            if rest.len() > MAX_JUMPING_CHAIN && rest.iter().any(|s| is_and_or(s.op)) {
                let r = self.alloc(1)?;
                self.chain(first, rest, Want::Reg(r))?;
                self.emit(Operation::Test {
                    value: reg(r),
                    is_true: !jump_if,
                });
                return Ok(vec![self.emit_jump()]);
            }
        }
        // from the end: what each step's left operand must produce
        let mut plans = Vec::with_capacity(rest.len());
        let mut w = want;
        for step in rest[1..].iter().rev() {
            let (left_want, left_reg) = self.plan_left(step.op, w)?;
            plans.push((w, left_reg));
            w = left_want;
        }
        let reserved = self.freereg();
        let mut jumps = self.step(Left::Expr(first), &rest[0], w)?;
        self.set_freereg(reserved);
        for (step, (w, left_reg)) in rest[1..].iter().zip(plans.into_iter().rev()) {
            let left = match left_reg {
                Some(r) => Left::Reg(r),
                None => Left::Jumps(std::mem::take(&mut jumps)),
            };
            jumps = self.step(left, step, w)?;
            self.set_freereg(reserved);
        }
        Ok(jumps)
    }

    /// What the left operand of an `op` step compiled for `want` must
    /// produce, and the register it goes to (none for jumps).
    fn plan_left(&mut self, op: BinOp, want: Want) -> GResult<(Want, Option<u8>)> {
        if is_and_or(op) {
            if let Want::Cond(_) = want {
                // `a and b`: `a` jumps when false; `a or b`: when true
                return Ok((Want::Cond(op == BinOp::Or), None));
            }
        }
        // a value: straight into a temporary destination; a local
        // destination may still be read by the right operand
        let r = match want {
            Want::Reg(d) if d >= self.nactive_regs() => d,
            _ => self.alloc(1)?,
        };
        Ok((Want::Reg(r), Some(r)))
    }

    /// Compiles one step of a chain given its left operand.
    fn step(&mut self, left: Left, step: &BinRhs, want: Want) -> GResult<Vec<usize>> {
        let (op, b, line) = (step.op, &step.rhs, step.line);
        if is_and_or(op) {
            return match want {
                Want::Cond(jump_if) => {
                    let left = match left {
                        Left::Jumps(j) => j,
                        Left::Expr(e) => self.cond_jump(e, op == BinOp::Or)?,
                        Left::Reg(_) => unreachable!("planned as jumps"),
                    };
                    self.and_or_jumps(op, left, b, jump_if)
                }
                Want::Reg(dest) => {
                    self.and_or_value(op, left, b, line, dest)?;
                    Ok(Vec::new())
                }
            };
        }
        let a = match left {
            Left::Expr(e) => Operand::Expr(e),
            Left::Reg(r) => Operand::Reg(r),
            Left::Jumps(_) => unreachable!("planned as a value"),
        };
        match want {
            Want::Cond(jump_if) if is_comparison(op) => self.compare_jump(op, a, b, line, jump_if),
            Want::Cond(jump_if) => {
                let r = match a {
                    Operand::Reg(r) => r,
                    _ => self.alloc(1)?,
                };
                self.binary(op, a, b, line, r)?;
                self.cur_line = line;
                self.emit(Operation::Test {
                    value: reg(r),
                    is_true: !jump_if,
                });
                Ok(vec![self.emit_jump()])
            }
            Want::Reg(dest) => {
                self.binary(op, a, b, line, dest)?;
                Ok(Vec::new())
            }
        }
    }

    /// `a and b` / `a or b` into `dest`.
    fn and_or_value(
        &mut self,
        op: BinOp,
        left: Left,
        b: &Expr,
        line: u32,
        dest: u8,
    ) -> GResult<()> {
        let target = match left {
            Left::Reg(r) => r,
            Left::Expr(e) => {
                // a local destination may be read by `b`
                let target = if dest < self.nactive_regs() {
                    self.alloc(1)?
                } else {
                    dest
                };
                self.expr_to_reg(e, target)?;
                target
            }
            Left::Jumps(_) => unreachable!("planned as a value"),
        };
        self.cur_line = line;
        self.emit(Operation::Test {
            value: reg(target),
            is_true: op == BinOp::And,
        });
        let j = self.emit_jump();
        self.expr_to_reg(b, target)?;
        self.patch_here(&[j])?;
        if target != dest {
            self.emit(Operation::Move {
                dest: reg(dest),
                source: reg(target),
            });
        }
        Ok(())
    }

    /// The jumps of `a and b` / `a or b` (for `jump_if`), given the jumps
    /// of `a` (taken when `a` is false for `and`, true for `or`).
    fn and_or_jumps(
        &mut self,
        op: BinOp,
        a: Vec<usize>,
        b: &Expr,
        jump_if: bool,
    ) -> GResult<Vec<usize>> {
        // `and`: a false `a` decides when we jump if false, else skips;
        // `or` the other way round
        if (op == BinOp::And) != jump_if {
            let mut j = a;
            j.extend(self.cond_jump(b, jump_if)?);
            Ok(j)
        } else {
            let j = self.cond_jump(b, jump_if)?;
            self.patch_here(&a)?;
            Ok(j)
        }
    }

    /// A value operator (not `and`/`or`) on `a` and `b` into `dest`.
    fn binary(&mut self, op: BinOp, a: Operand, b: &Expr, line: u32, dest: u8) -> GResult<()> {
        match op {
            BinOp::And | BinOp::Or => unreachable!("compiled by `step`"),
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let jumps = self.compare_jump(op, a, b, line, true)?;
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
            BinOp::Concat => self.concat(a, b, line, dest)?,
            BinOp::IDiv => self.helper_binary(Helper::IDiv, a, b, line, dest)?,
            BinOp::Mod => {
                let safe_const = matches!(b.kind, ExprKind::Int(i) if i > 0 && i < (1 << 62));
                if self.strict {
                    self.helper_arith(ArithOp::Mod, a, Some(b), line, dest)?;
                } else if safe_const {
                    self.arith(op, a, b, line, dest)?;
                } else {
                    self.helper_binary(Helper::Mod, a, b, line, dest)?;
                }
            }
            // the VM's shifts panic or wrap for counts outside 0..63
            _ if matches!(op, BinOp::Shl | BinOp::Shr)
                || (self.strict
                    && !(matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div)
                        && a.is_number_literal()
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
                self.helper_arith(code, a, Some(b), line, dest)?;
            }
            _ => self.arith(op, a, b, line, dest)?,
        }
        Ok(())
    }

    /// `a .. b` into `dest`, with every operand of the `..` chain in one
    /// helper call.
    fn concat(&mut self, a: Operand, b: &Expr, line: u32, dest: u8) -> GResult<()> {
        let mut parts = Vec::new();
        flatten_concat(a, &mut parts);
        flatten_concat(Operand::Expr(b), &mut parts);
        // very long chains are folded left to right in groups so
        // they fit the registers (only `__concat` order differs)
        let mut acc: Option<u8> = None;
        for (i, group) in parts.chunks(CONCAT_GROUP).enumerate() {
            let r = self.concat_call(acc, group, line)?;
            if i == 0 {
                acc = Some(r);
            }
        }
        let acc = acc.expect("a concatenation has operands");
        self.emit(Operation::Move {
            dest: reg(dest),
            source: reg(acc),
        });
        Ok(())
    }

    /// Evaluates an operand into `dest`.
    fn operand_to_reg(&mut self, o: Operand, dest: u8) -> GResult<()> {
        match o {
            Operand::Expr(e) => self.expr_to_reg(e, dest),
            Operand::Chain(first, rest) => {
                let save = self.freereg();
                self.chain(first, rest, Want::Reg(dest))?;
                self.set_freereg(save);
                Ok(())
            }
            Operand::Reg(r) => {
                if r != dest {
                    self.emit(Operation::Move {
                        dest: reg(dest),
                        source: reg(r),
                    });
                }
                Ok(())
            }
        }
    }

    /// An operand as a constant or a register.
    fn operand_rc(&mut self, o: Operand) -> GResult<RCIndex> {
        match o {
            Operand::Expr(e) => self.expr_rc(e),
            Operand::Reg(r) => Ok(RCIndex::Register(reg(r))),
            Operand::Chain(..) => {
                let r = self.alloc(1)?;
                self.operand_to_reg(o, r)?;
                Ok(RCIndex::Register(reg(r)))
            }
        }
    }

    /// `concat([acc,] parts...)` into a register: `acc`'s own when given,
    /// else a new one (returned).
    fn concat_call(&mut self, acc: Option<u8>, parts: &[Operand], line: u32) -> GResult<u8> {
        let save = self.freereg();
        let names: Vec<String> = parts
            .iter()
            .map(|p| self.describe_subject(p.subject()))
            .collect();
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
            self.operand_to_reg(*p, r)?;
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

    /// `arith(op, a, b)`: an operator with full Lua semantics (strict
    /// mode); `b` is `None` for a unary operator (`a` is passed twice).
    pub(super) fn helper_arith(
        &mut self,
        op: ArithOp,
        a: Operand,
        b: Option<&Expr>,
        line: u32,
        dest: u8,
    ) -> GResult<()> {
        let base = self.alloc(4)?;
        self.load_helper(Helper::Arith, base);
        self.load_constant(base + 1, Constant::Integer(op as i64))?;
        self.operand_to_reg(a, base + 2)?;
        let b_subject = match b {
            Some(b) => {
                self.expr_to_reg(b, base + 3)?;
                Subject::of(b)
            }
            None => {
                self.emit(Operation::Move {
                    dest: reg(base + 3),
                    source: reg(base + 2),
                });
                a.subject()
            }
        };
        let mut nargs = 3;
        if let Some(names) = self.operand_names(a.subject(), b_subject) {
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

    fn arith(&mut self, op: BinOp, a: Operand, b: &Expr, line: u32, dest: u8) -> GResult<()> {
        let kind = if matches!(op, BinOp::BAnd | BinOp::BOr | BinOp::BXor) {
            Guard::Bitwise
        } else {
            Guard::Arith
        };
        let left = self.operand_rc(a)?;
        self.cur_line = line;
        self.guard_rc(a.subject(), left, kind)?;
        let right = self.expr_rc(b)?;
        self.cur_line = line;
        self.guard_rc(Subject::of(b), right, kind)?;
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

    fn helper_binary(
        &mut self,
        h: Helper,
        a: Operand,
        b: &Expr,
        line: u32,
        dest: u8,
    ) -> GResult<()> {
        let names = self.operand_names(a.subject(), Subject::of(b));
        let base = self.alloc(3)?;
        self.load_helper(h, base);
        self.operand_to_reg(a, base + 1)?;
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

    /// "names of a\nnames of b" as a constant, when either has one.
    fn operand_names(&mut self, a: Subject, b: Subject) -> Option<Constant<super::Str>> {
        let (na, nb) = (self.describe_subject(a), self.describe_subject(b));
        if na.is_empty() && nb.is_empty() {
            return None;
        }
        Some(Constant::String(
            self.intern(format!("{na}\n{nb}").as_bytes()),
        ))
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
            ExprKind::Un(crate::compiler::ast::UnOp::Not, x) => self.cond_jump(x, !jump_if)?,
            ExprKind::Paren(x) => self.cond_jump(x, jump_if)?,
            ExprKind::Binary(first, rest) => self.chain(first, rest, Want::Cond(jump_if))?,
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

    /// A comparison that jumps when its result equals `jump_if`.
    fn compare_jump(
        &mut self,
        op: BinOp,
        a: Operand,
        b: &Expr,
        line: u32,
        jump_if: bool,
    ) -> GResult<Vec<usize>> {
        let ordering = matches!(op, BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge);
        if ordering && self.strict && !(a.is_number_literal() && is_number_literal(b)) {
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
            self.operand_to_reg(a, ra)?;
            self.expr_to_reg(b, rb)?;
            self.cur_line = line;
            self.emit(Operation::Call {
                func: reg(base),
                args: VarCount::constant(3),
                returns: VarCount::constant(1),
            });
            self.emit(Operation::Test {
                value: reg(base),
                is_true: !jump_if,
            });
            return Ok(vec![self.emit_jump()]);
        }
        let ra = self.operand_rc(a)?;
        let rb = self.expr_rc(b)?;
        self.cur_line = line;
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
        Ok(vec![self.emit_jump()])
    }
}

pub(super) fn is_number_literal(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Int(_) | ExprKind::Float(_))
}

/// The operands of `a .. b .. c`: `..` is right-associative, so a chain
/// holds at most a last `..` whose right operand holds the next one; one
/// helper call takes all. Recursion follows the right operands only (true
/// nesting, bounded by the parser).
fn flatten_concat<'e>(o: Operand<'e>, out: &mut Vec<Operand<'e>>) {
    let mut rights = Vec::new();
    let mut left = o;
    while let Some((first, rest)) = left.as_chain() {
        match rest.split_last() {
            Some((last, init)) if last.op == BinOp::Concat => {
                rights.push(&last.rhs);
                left = Operand::chain(first, init);
            }
            _ => break,
        }
    }
    out.push(left);
    for r in rights.into_iter().rev() {
        flatten_concat(Operand::Expr(r), out);
    }
}
