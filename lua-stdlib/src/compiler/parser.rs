//! Recursive-descent parser for Lua 5.4, shaped after lua5.4's `lparser.c`
//! so that its syntax errors (`'=' expected near 'x'`, `'end' expected (to
//! close 'function' at line 1) near <eof>` ...) come out identical.

use super::{
    ast::*,
    lexer::{LexError, Lexer, Tok, Token},
};

/// A syntax error: line and message (the `near` part included); line 0
/// means the message stands alone, without `chunk:line:`.
#[derive(Debug)]
pub struct SyntaxError {
    pub line: u32,
    pub message: String,
}

impl From<LexError> for SyntaxError {
    fn from(e: LexError) -> Self {
        SyntaxError {
            line: e.line,
            message: e.message,
        }
    }
}

type PResult<T> = Result<T, SyntaxError>;

const MAX_DEPTH: u32 = 200;

pub struct Parser<'a> {
    lexer: Lexer<'a>,
    tok: Token,
    ahead: Option<Token>,
    /// Whether each enclosing function is vararg (innermost last).
    vararg: Vec<bool>,
    depth: u32,
}

pub fn parse_chunk(src: &[u8]) -> PResult<Block> {
    let mut lexer = Lexer::new(src);
    let tok = lexer.next_token()?;
    let mut p = Parser {
        lexer,
        tok,
        ahead: None,
        vararg: vec![true],
        depth: 0,
    };
    let block = p.block()?;
    if p.tok.tok != Tok::Eof {
        return Err(p.error_expected(&Tok::Eof));
    }
    Ok(block)
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> PResult<()> {
        self.tok = match self.ahead.take() {
            Some(t) => t,
            None => self.lexer.next_token()?,
        };
        Ok(())
    }

    fn peek(&mut self) -> PResult<&Tok> {
        if self.ahead.is_none() {
            self.ahead = Some(self.lexer.next_token()?);
        }
        Ok(&self.ahead.as_ref().expect("lookahead just filled").tok)
    }

    fn line(&self) -> u32 {
        self.tok.line
    }

    fn error(&self, msg: &str) -> SyntaxError {
        SyntaxError {
            line: self.tok.line,
            message: format!("{msg} near {}", self.tok.near()),
        }
    }

    fn error_expected(&self, t: &Tok) -> SyntaxError {
        self.error(&format!("{} expected", t.describe()))
    }

    fn check(&self, t: &Tok) -> PResult<()> {
        if &self.tok.tok == t {
            Ok(())
        } else {
            Err(self.error_expected(t))
        }
    }

    fn check_next(&mut self, t: &Tok) -> PResult<()> {
        self.check(t)?;
        self.next()
    }

    fn test_next(&mut self, t: &Tok) -> PResult<bool> {
        if &self.tok.tok == t {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn check_match(&mut self, what: &Tok, who: &Tok, line: u32) -> PResult<()> {
        if &self.tok.tok == what {
            return self.next();
        }
        if line == self.line() {
            Err(self.error_expected(what))
        } else {
            Err(self.error(&format!(
                "{} expected (to close {} at line {line})",
                what.describe(),
                who.describe()
            )))
        }
    }

    fn name(&mut self) -> PResult<Name> {
        if let Tok::Name(n) = &self.tok.tok {
            let n = n.clone();
            self.next()?;
            Ok(n)
        } else {
            Err(self.error_expected(&Tok::Name(Vec::new())))
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            // lua5.4 raises this from its C-stack check, without position
            return Err(SyntaxError {
                line: 0,
                message: "C stack overflow".into(),
            });
        }
        Ok(())
    }

    fn block_follow(&self, with_until: bool) -> bool {
        match self.tok.tok {
            Tok::Else | Tok::Elseif | Tok::End | Tok::Eof => true,
            Tok::Until => with_until,
            _ => false,
        }
    }

    fn block(&mut self) -> PResult<Block> {
        self.enter()?;
        let mut stats = Vec::new();
        while !self.block_follow(true) {
            if self.tok.tok == Tok::Return {
                stats.push(self.retstat()?);
                break;
            }
            if let Some(s) = self.statement()? {
                stats.push(s);
            }
        }
        self.depth -= 1;
        Ok(Block {
            stats,
            end_line: self.line(),
        })
    }

    fn retstat(&mut self) -> PResult<Stat> {
        let line = self.line();
        self.next()?;
        let exprs = if self.block_follow(true) || self.tok.tok == Tok::Char(b';') {
            Vec::new()
        } else {
            self.exprlist()?
        };
        self.test_next(&Tok::Char(b';'))?;
        Ok(Stat {
            kind: StatKind::Return(exprs),
            line,
        })
    }

    fn statement(&mut self) -> PResult<Option<Stat>> {
        let line = self.line();
        let kind = match self.tok.tok {
            Tok::Char(b';') => {
                self.next()?;
                return Ok(None);
            }
            Tok::If => self.ifstat(line)?,
            Tok::While => {
                self.next()?;
                let cond = self.expr()?;
                self.check_next(&Tok::Do)?;
                let body = self.block()?;
                self.check_match(&Tok::End, &Tok::While, line)?;
                StatKind::While(cond, body)
            }
            Tok::Do => {
                self.next()?;
                let body = self.block()?;
                self.check_match(&Tok::End, &Tok::Do, line)?;
                StatKind::Do(body)
            }
            Tok::For => self.forstat(line)?,
            Tok::Repeat => {
                self.next()?;
                let body = self.block()?;
                self.check_match(&Tok::Until, &Tok::Repeat, line)?;
                let cond = self.expr()?;
                StatKind::Repeat(body, cond)
            }
            Tok::Function => {
                self.next()?;
                // funcname: Name {'.' Name} [':' Name]
                let nline = self.line();
                let n = self.name()?;
                let mut full = n.clone();
                let mut target = Expr {
                    kind: ExprKind::Name(n),
                    line: nline,
                };
                let mut is_method = false;
                while matches!(self.tok.tok, Tok::Char(b'.') | Tok::Char(b':')) {
                    let colon = self.tok.tok == Tok::Char(b':');
                    self.next()?;
                    let kline = self.line();
                    let key = self.name()?;
                    full.push(if colon { b':' } else { b'.' });
                    full.extend_from_slice(&key);
                    target = Expr {
                        kind: ExprKind::Index(
                            Box::new(target),
                            Box::new(Expr {
                                kind: ExprKind::Str(key),
                                line: kline,
                            }),
                        ),
                        line: kline,
                    };
                    if colon {
                        is_method = true;
                        break;
                    }
                }
                let body = self.body(is_method, line, Some(full))?;
                StatKind::Assign(
                    vec![target],
                    vec![Expr {
                        kind: ExprKind::Function(Box::new(body)),
                        line,
                    }],
                )
            }
            Tok::Local => {
                self.next()?;
                if self.test_next(&Tok::Function)? {
                    let name = self.name()?;
                    let body = self.body(false, line, Some(name.clone()))?;
                    StatKind::LocalFunction(name, Box::new(body))
                } else {
                    self.localstat()?
                }
            }
            Tok::DbColon => {
                self.next()?;
                let name = self.name()?;
                self.check_next(&Tok::DbColon)?;
                StatKind::Label(name)
            }
            Tok::Return => unreachable!("return handled by block"),
            Tok::Break => {
                self.next()?;
                StatKind::Break
            }
            Tok::Goto => {
                self.next()?;
                StatKind::Goto(self.name()?)
            }
            _ => self.exprstat()?,
        };
        Ok(Some(Stat { kind, line }))
    }

    fn ifstat(&mut self, line: u32) -> PResult<StatKind> {
        let mut arms = Vec::new();
        let mut orelse = None;
        // 'if' or 'elseif'
        loop {
            self.next()?;
            let cond = self.expr()?;
            self.check_next(&Tok::Then)?;
            let body = self.block()?;
            arms.push((cond, body));
            if self.tok.tok != Tok::Elseif {
                break;
            }
        }
        if self.test_next(&Tok::Else)? {
            orelse = Some(self.block()?);
        }
        self.check_match(&Tok::End, &Tok::If, line)?;
        Ok(StatKind::If(arms, orelse))
    }

    fn forstat(&mut self, line: u32) -> PResult<StatKind> {
        self.next()?;
        let var = self.name()?;
        match self.tok.tok {
            Tok::Char(b'=') => {
                self.next()?;
                let start = self.expr()?;
                self.check_next(&Tok::Char(b','))?;
                let limit = self.expr()?;
                let step = if self.test_next(&Tok::Char(b','))? {
                    Some(self.expr()?)
                } else {
                    None
                };
                self.check_next(&Tok::Do)?;
                let body = self.block()?;
                self.check_match(&Tok::End, &Tok::For, line)?;
                Ok(StatKind::NumFor {
                    var,
                    start,
                    limit,
                    step,
                    body,
                })
            }
            Tok::Char(b',') | Tok::In => {
                let mut names = vec![var];
                while self.test_next(&Tok::Char(b','))? {
                    names.push(self.name()?);
                }
                self.check_next(&Tok::In)?;
                let exprs = self.exprlist()?;
                self.check_next(&Tok::Do)?;
                let body = self.block()?;
                self.check_match(&Tok::End, &Tok::For, line)?;
                Ok(StatKind::GenFor { names, exprs, body })
            }
            _ => Err(self.error("'=' or 'in' expected")),
        }
    }

    fn localstat(&mut self) -> PResult<StatKind> {
        let mut names = Vec::new();
        let mut has_close = false;
        loop {
            let name = self.name()?;
            let attrib = if self.test_next(&Tok::Char(b'<'))? {
                let a = self.name()?;
                self.check_next(&Tok::Char(b'>'))?;
                match a.as_slice() {
                    b"const" => Attrib::Const,
                    b"close" => {
                        if has_close {
                            return Err(SyntaxError {
                                line: self.line(),
                                message: "multiple to-be-closed variables in local list".into(),
                            });
                        }
                        has_close = true;
                        Attrib::Close
                    }
                    _ => {
                        return Err(SyntaxError {
                            line: self.line(),
                            message: format!("unknown attribute '{}'", String::from_utf8_lossy(&a)),
                        })
                    }
                }
            } else {
                Attrib::None
            };
            names.push((name, attrib));
            if !self.test_next(&Tok::Char(b','))? {
                break;
            }
        }
        let exprs = if self.test_next(&Tok::Char(b'='))? {
            self.exprlist()?
        } else {
            Vec::new()
        };
        Ok(StatKind::Local(names, exprs))
    }

    fn exprstat(&mut self) -> PResult<StatKind> {
        let e = self.suffixedexp()?;
        if matches!(self.tok.tok, Tok::Char(b'=') | Tok::Char(b',')) {
            let mut targets = vec![e];
            loop {
                let last = targets.last().expect("at least one target");
                if !matches!(last.kind, ExprKind::Name(_) | ExprKind::Index(..)) {
                    return Err(self.error("syntax error"));
                }
                if !self.test_next(&Tok::Char(b','))? {
                    break;
                }
                targets.push(self.suffixedexp()?);
            }
            self.check_next(&Tok::Char(b'='))?;
            let exprs = self.exprlist()?;
            Ok(StatKind::Assign(targets, exprs))
        } else {
            if !matches!(e.kind, ExprKind::Call(..) | ExprKind::Method(..)) {
                return Err(self.error("syntax error"));
            }
            Ok(StatKind::Call(e))
        }
    }

    fn exprlist(&mut self) -> PResult<Vec<Expr>> {
        let mut v = vec![self.expr()?];
        while self.test_next(&Tok::Char(b','))? {
            v.push(self.expr()?);
        }
        Ok(v)
    }

    fn body(&mut self, is_method: bool, line: u32, name: Option<Name>) -> PResult<FuncBody> {
        self.check_next(&Tok::Char(b'('))?;
        let mut params = Vec::new();
        if is_method {
            params.push(b"self".to_vec());
        }
        let mut vararg = false;
        if self.tok.tok != Tok::Char(b')') {
            loop {
                match &self.tok.tok {
                    Tok::Name(n) => {
                        params.push(n.clone());
                        self.next()?;
                    }
                    Tok::Dots => {
                        self.next()?;
                        vararg = true;
                    }
                    _ => return Err(self.error("<name> expected")),
                }
                if vararg || !self.test_next(&Tok::Char(b','))? {
                    break;
                }
            }
        }
        self.check_next(&Tok::Char(b')'))?;
        self.vararg.push(vararg);
        let body = self.block()?;
        self.vararg.pop();
        let end_line = self.line();
        self.check_match(&Tok::End, &Tok::Function, line)?;
        Ok(FuncBody {
            params,
            vararg,
            body,
            line,
            end_line,
            name,
        })
    }

    fn primaryexp(&mut self) -> PResult<Expr> {
        let line = self.line();
        match &self.tok.tok {
            Tok::Name(n) => {
                let n = n.clone();
                self.next()?;
                Ok(Expr {
                    kind: ExprKind::Name(n),
                    line,
                })
            }
            Tok::Char(b'(') => {
                self.next()?;
                let e = self.expr()?;
                self.check_match(&Tok::Char(b')'), &Tok::Char(b'('), line)?;
                Ok(Expr {
                    kind: ExprKind::Paren(Box::new(e)),
                    line,
                })
            }
            _ => Err(self.error("unexpected symbol")),
        }
    }

    fn suffixedexp(&mut self) -> PResult<Expr> {
        let line = self.line();
        let mut e = self.primaryexp()?;
        loop {
            match &self.tok.tok {
                Tok::Char(b'.') => {
                    self.next()?;
                    let kline = self.line();
                    let key = self.name()?;
                    e = Expr {
                        kind: ExprKind::Index(
                            Box::new(e),
                            Box::new(Expr {
                                kind: ExprKind::Str(key),
                                line: kline,
                            }),
                        ),
                        line: kline,
                    };
                }
                Tok::Char(b'[') => {
                    self.next()?;
                    let k = self.expr()?;
                    self.check_next(&Tok::Char(b']'))?;
                    e = Expr {
                        kind: ExprKind::Index(Box::new(e), Box::new(k)),
                        line: self.line(),
                    };
                }
                Tok::Char(b':') => {
                    self.next()?;
                    let name = self.name()?;
                    let args = self.funcargs(line)?;
                    e = Expr {
                        kind: ExprKind::Method(Box::new(e), name, args),
                        line,
                    };
                }
                Tok::Char(b'(') | Tok::Str(_) | Tok::Char(b'{') => {
                    let args = self.funcargs(line)?;
                    e = Expr {
                        kind: ExprKind::Call(Box::new(e), args),
                        line,
                    };
                }
                _ => return Ok(e),
            }
        }
    }

    fn funcargs(&mut self, line: u32) -> PResult<Vec<Expr>> {
        match &self.tok.tok {
            Tok::Char(b'(') => {
                self.next()?;
                let args = if self.tok.tok == Tok::Char(b')') {
                    Vec::new()
                } else {
                    self.exprlist()?
                };
                self.check_match(&Tok::Char(b')'), &Tok::Char(b'('), line)?;
                Ok(args)
            }
            Tok::Char(b'{') => Ok(vec![self.constructor()?]),
            Tok::Str(s) => {
                let e = Expr {
                    kind: ExprKind::Str(s.clone()),
                    line: self.line(),
                };
                self.next()?;
                Ok(vec![e])
            }
            _ => Err(self.error("function arguments expected")),
        }
    }

    fn constructor(&mut self) -> PResult<Expr> {
        let line = self.line();
        self.check_next(&Tok::Char(b'{'))?;
        let mut fields = Vec::new();
        loop {
            if self.tok.tok == Tok::Char(b'}') {
                break;
            }
            match &self.tok.tok {
                Tok::Name(n) => {
                    let n = n.clone();
                    if self.peek()? == &Tok::Char(b'=') {
                        let kline = self.line();
                        self.next()?;
                        self.next()?;
                        let v = self.expr()?;
                        fields.push(Field::Keyed(
                            Expr {
                                kind: ExprKind::Str(n),
                                line: kline,
                            },
                            v,
                        ));
                    } else {
                        fields.push(Field::Item(self.expr()?));
                    }
                }
                Tok::Char(b'[') => {
                    self.next()?;
                    let k = self.expr()?;
                    self.check_next(&Tok::Char(b']'))?;
                    self.check_next(&Tok::Char(b'='))?;
                    let v = self.expr()?;
                    fields.push(Field::Keyed(k, v));
                }
                _ => fields.push(Field::Item(self.expr()?)),
            }
            if !(self.test_next(&Tok::Char(b','))? || self.test_next(&Tok::Char(b';'))?) {
                break;
            }
        }
        self.check_match(&Tok::Char(b'}'), &Tok::Char(b'{'), line)?;
        Ok(Expr {
            kind: ExprKind::Table(fields),
            line,
        })
    }

    fn simpleexp(&mut self) -> PResult<Expr> {
        let line = self.line();
        let kind = match &self.tok.tok {
            Tok::Float(f) => ExprKind::Float(*f),
            Tok::Int(i) => ExprKind::Int(*i),
            Tok::Str(s) => ExprKind::Str(s.clone()),
            Tok::Nil => ExprKind::Nil,
            Tok::True => ExprKind::True,
            Tok::False => ExprKind::False,
            Tok::Dots => {
                if !self.vararg.last().copied().unwrap_or(false) {
                    return Err(self.error("cannot use '...' outside a vararg function"));
                }
                ExprKind::Vararg
            }
            Tok::Char(b'{') => return self.constructor(),
            Tok::Function => {
                self.next()?;
                let body = self.body(false, line, None)?;
                return Ok(Expr {
                    kind: ExprKind::Function(Box::new(body)),
                    line,
                });
            }
            _ => return self.suffixedexp(),
        };
        self.next()?;
        Ok(Expr { kind, line })
    }

    fn binop(&self) -> Option<BinOp> {
        Some(match self.tok.tok {
            Tok::Char(b'+') => BinOp::Add,
            Tok::Char(b'-') => BinOp::Sub,
            Tok::Char(b'*') => BinOp::Mul,
            Tok::Char(b'/') => BinOp::Div,
            Tok::Char(b'%') => BinOp::Mod,
            Tok::Char(b'^') => BinOp::Pow,
            Tok::Char(b'&') => BinOp::BAnd,
            Tok::Char(b'|') => BinOp::BOr,
            Tok::Char(b'~') => BinOp::BXor,
            Tok::Char(b'<') => BinOp::Lt,
            Tok::Char(b'>') => BinOp::Gt,
            Tok::IDiv => BinOp::IDiv,
            Tok::Concat => BinOp::Concat,
            Tok::Eq => BinOp::Eq,
            Tok::Ne => BinOp::Ne,
            Tok::Le => BinOp::Le,
            Tok::Ge => BinOp::Ge,
            Tok::Shl => BinOp::Shl,
            Tok::Shr => BinOp::Shr,
            Tok::And => BinOp::And,
            Tok::Or => BinOp::Or,
            _ => return None,
        })
    }

    pub fn expr(&mut self) -> PResult<Expr> {
        self.subexpr(0)
    }

    fn subexpr(&mut self, limit: u8) -> PResult<Expr> {
        self.enter()?;
        let unop = match self.tok.tok {
            Tok::Not => Some(UnOp::Not),
            Tok::Char(b'-') => Some(UnOp::Neg),
            Tok::Char(b'#') => Some(UnOp::Len),
            Tok::Char(b'~') => Some(UnOp::BNot),
            _ => None,
        };
        let mut e = if let Some(op) = unop {
            let line = self.line();
            self.next()?;
            let operand = self.subexpr(UNARY_PRIORITY)?;
            fold_unary(op, operand, line)
        } else {
            self.simpleexp()?
        };
        while let Some(op) = self.binop() {
            let (left, right) = op.priority();
            if left <= limit {
                break;
            }
            let line = self.line();
            self.next()?;
            let rhs = self.subexpr(right)?;
            e = Expr {
                kind: ExprKind::Bin(op, Box::new(e), Box::new(rhs)),
                line,
            };
        }
        self.depth -= 1;
        Ok(e)
    }
}

/// Folds `-<numeral>` so that `-9223372036854775808` stays an integer and
/// negative constants need no instruction.
fn fold_unary(op: UnOp, operand: Expr, line: u32) -> Expr {
    if op == UnOp::Neg {
        match operand.kind {
            ExprKind::Int(i) => {
                return Expr {
                    kind: ExprKind::Int(i.wrapping_neg()),
                    line,
                }
            }
            ExprKind::Float(f) => {
                return Expr {
                    kind: ExprKind::Float(-f),
                    line,
                }
            }
            _ => {}
        }
    }
    Expr {
        kind: ExprKind::Un(op, Box::new(operand)),
        line,
    }
}
