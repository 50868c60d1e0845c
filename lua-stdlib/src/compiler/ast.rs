//! The syntax tree the parser builds and the code generator walks.
//!
//! Names stay unresolved here (locals, upvalues and globals are told apart by
//! the code generator, which owns scopes); every node that can raise a
//! runtime error carries the line lua5.4 would report for it.
//!
//! The tree is only as deep as the source is truly nested. What lua5.4's
//! parser reads in a loop is a list here, not a left-deep chain of boxes:
//! a suffix chain `f()()`, `t.a.a`, `a.b:c():d()` is a base plus a `Vec` of
//! suffixes ([`ExprKind::Suffixed`]), and a left-associative operator chain
//! `1+1+1`, `a or b or c`, `a == b == c` is a first operand plus a `Vec` of
//! (operator, right operand) folded left to right ([`ExprKind::Binary`]).
//! Everything else that nests (parentheses, table constructors, function
//! bodies, blocks, right operands of `..` and `^`, unary operators) passes
//! through the parser's depth check (see `parser`), so walking, cloning and
//! dropping a tree recurses at most about `parser::MAX_LEVELS` nodes deep.

pub type Name = Vec<u8>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    IDiv,
    Mod,
    Pow,
    Concat,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    BAnd,
    BOr,
    BXor,
    Shl,
    Shr,
}

impl BinOp {
    /// (left, right) priorities as in lua5.4's `priority` table.
    pub fn priority(self) -> (u8, u8) {
        use BinOp::*;
        match self {
            Add | Sub => (10, 10),
            Mul | Div | IDiv | Mod => (11, 11),
            Pow => (14, 13),
            Concat => (9, 8),
            Shl | Shr => (7, 7),
            BAnd => (6, 6),
            BXor => (5, 5),
            BOr => (4, 4),
            Eq | Ne | Lt | Le | Gt | Ge => (3, 3),
            And => (2, 2),
            Or => (1, 1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
    Len,
    BNot,
}

/// Priority of unary operators.
pub const UNARY_PRIORITY: u8 = 12;

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub line: u32,
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Nil,
    True,
    False,
    Int(i64),
    Float(f64),
    Str(Vec<u8>),
    Vararg,
    Function(Box<FuncBody>),
    Table(Vec<Field>),
    /// `first op1 r1 op2 r2 ...` folded left to right:
    /// `((first op1 r1) op2 r2) ...`; never empty. One loop of lua5.4's
    /// `subexpr` makes one chain, so along it operator priorities never
    /// rise; a right operand holds whatever binds tighter (`a or b and c`
    /// is `a` + [(or, `b and c`)]), and right-associative `..` and `^`
    /// nest in right operands.
    Binary(Box<Expr>, Vec<BinRhs>),
    /// An operator and its operand; the `u32` is the line of the
    /// operand's last token (lua5.4's `lastline` when the operator is
    /// coded: the operand is put in a register there).
    Un(UnOp, Box<Expr>, u32),
    Name(Name),
    /// A prefix (a `Name` or a `Paren`) followed by indexing, calls and
    /// method calls, applied in order; never empty.
    Suffixed(Box<Expr>, Vec<Suffix>),
    /// `(e)`: truncates multiple results to one.
    Paren(Box<Expr>),
}

/// One step of a [`ExprKind::Binary`] chain.
#[derive(Debug, Clone)]
pub struct BinRhs {
    pub op: BinOp,
    pub rhs: Expr,
    /// Line of the operator (where lua5.4 reports arithmetic errors).
    pub line: u32,
    /// Line of the right operand's last token: lua5.4's `lastline` when
    /// the operator is coded (the right operand is put in a register
    /// there, and comparisons, which `luaK_fixline` leaves alone, report
    /// their errors there).
    pub end_line: u32,
}

/// One step of a [`ExprKind::Suffixed`] chain.
#[derive(Debug, Clone)]
pub struct Suffix {
    pub kind: SuffixKind,
    /// The key's line for an index; for a call, the line of the token
    /// that opens its arguments (`(`, `{` or the string), where lua 5.4.8
    /// reports the call's errors (5.4.4 gave the line where the whole
    /// suffixed expression starts).
    pub line: u32,
    /// The line lua5.4's `lastline` has when the value the suffix applies
    /// to is put in a register (where an error indexing or calling it is
    /// reported): the token before the suffix (for a method call, the
    /// method's name, where `SELF` is coded).
    pub lead_line: u32,
}

#[derive(Debug, Clone)]
pub enum SuffixKind {
    /// `[k]` or `.name` (a string key)
    Index(Expr),
    Call(Vec<Expr>),
    /// `:name(args)`
    Method(Name, Vec<Expr>),
}

impl SuffixKind {
    pub fn is_call(&self) -> bool {
        matches!(self, SuffixKind::Call(_) | SuffixKind::Method(..))
    }
}

impl Expr {
    /// A call or `...`: an expression that may produce several values.
    pub fn is_multi(&self) -> bool {
        match &self.kind {
            ExprKind::Vararg => true,
            ExprKind::Suffixed(_, s) => s.last().is_some_and(|s| s.kind.is_call()),
            _ => false,
        }
    }

    /// The prefix and suffixes of a suffix chain.
    pub fn suffixed(&self) -> Option<(&Expr, &[Suffix])> {
        match &self.kind {
            ExprKind::Suffixed(base, sufs) => Some((base, sufs)),
            _ => None,
        }
    }

    /// A function or method call (what may stand as a statement).
    pub fn is_call(&self) -> bool {
        matches!(&self.kind, ExprKind::Suffixed(_, s) if s.last().is_some_and(|s| s.kind.is_call()))
    }

    /// A name or an indexing (what may be assigned to).
    pub fn is_assignable(&self) -> bool {
        match &self.kind {
            ExprKind::Name(_) => true,
            ExprKind::Suffixed(_, s) => {
                matches!(
                    s.last(),
                    Some(Suffix {
                        kind: SuffixKind::Index(_),
                        ..
                    })
                )
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Field {
    /// `[k] = v` or `name = v`
    Keyed(Expr, Expr),
    /// positional item, and the line lua5.4 puts it in a register at
    /// (`closelistfield`/`lastlistfield`: the separator after it, or the
    /// closing `}` for the last item)
    Item(Expr, u32),
}

#[derive(Debug, Clone)]
pub struct FuncBody {
    pub params: Vec<Name>,
    pub vararg: bool,
    pub body: Block,
    pub line: u32,
    pub end_line: u32,
    pub name: Option<Name>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attrib {
    None,
    Const,
    Close,
}

#[derive(Debug, Clone)]
pub struct Block {
    pub stats: Vec<Stat>,
    /// Line of the token that ends the block (for block-end errors).
    pub end_line: u32,
}

#[derive(Debug, Clone)]
pub struct Stat {
    pub kind: StatKind,
    pub line: u32,
}

#[derive(Debug, Clone)]
pub enum StatKind {
    Call(Expr),
    Assign(Vec<Expr>, Vec<Expr>),
    Local(Vec<(Name, Attrib)>, Vec<Expr>),
    LocalFunction(Name, Box<FuncBody>),
    Do(Block),
    While(Expr, Block),
    Repeat(Block, Expr),
    /// `if`/`elseif` arms: condition, line of its `then` (where lua5.4
    /// tests the condition), block.
    If(Vec<(Expr, u32, Block)>, Option<Block>),
    /// (boxed, like `GenFor`: statements stay small, and so do the
    /// parser's frames that hold them)
    NumFor(Box<NumFor>),
    GenFor(Box<GenFor>),
    Return(Vec<Expr>),
    Break,
    Goto(Name),
    Label(Name),
}

/// `for var = start, limit [, step] do body end`
#[derive(Debug, Clone)]
pub struct NumFor {
    pub var: Name,
    pub start: Expr,
    pub limit: Expr,
    pub step: Option<Expr>,
    pub body: Block,
}

/// `for names in exprs do body end`
#[derive(Debug, Clone)]
pub struct GenFor {
    pub names: Vec<Name>,
    pub exprs: Vec<Expr>,
    pub body: Block,
    /// Line of the first token after `in` (the loop's own line in
    /// lua5.4: its `TFORCALL` reports there).
    pub line: u32,
}
