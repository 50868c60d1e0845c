//! The syntax tree the parser builds and the code generator walks.
//!
//! Names stay unresolved here (locals, upvalues and globals are told apart by
//! the code generator, which owns scopes); every node that can raise a
//! runtime error carries the line lua5.4 would report for it.

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
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Un(UnOp, Box<Expr>),
    Name(Name),
    Index(Box<Expr>, Box<Expr>),
    Call(Box<Expr>, Vec<Expr>),
    Method(Box<Expr>, Name, Vec<Expr>),
    /// `(e)`: truncates multiple results to one.
    Paren(Box<Expr>),
}

impl Expr {
    pub fn is_multi(&self) -> bool {
        matches!(
            self.kind,
            ExprKind::Call(..) | ExprKind::Method(..) | ExprKind::Vararg
        )
    }
}

#[derive(Debug, Clone)]
pub enum Field {
    /// `[k] = v` or `name = v`
    Keyed(Expr, Expr),
    /// positional item
    Item(Expr),
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
    If(Vec<(Expr, Block)>, Option<Block>),
    NumFor {
        var: Name,
        start: Expr,
        limit: Expr,
        step: Option<Expr>,
        body: Block,
    },
    GenFor {
        names: Vec<Name>,
        exprs: Vec<Expr>,
        body: Block,
    },
    Return(Vec<Expr>),
    Break,
    Goto(Name),
    Label(Name),
}
