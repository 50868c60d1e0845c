//! Recursive-descent parser for Lua 5.4, shaped after lua5.4's `lparser.c`
//! so that its syntax errors (`'=' expected near 'x'`, `'end' expected (to
//! close 'function' at line 1) near <eof>` ...) come out identical.
//!
//! # How deep it goes
//!
//! Source text comes from function authors (the Admin API compiles every
//! stored function), so nesting must not be able to exhaust the Rust stack
//! of the parser, the code generator or the tree's destructor. Two rules
//! bound it, and a new code generator must keep both:
//!
//! - **Loops stay loops.** What lua5.4 parses in a loop (suffixes
//!   `f()()`, `t.a.a`, `a.b:c():d()`; left-associative operators
//!   `1+1+1`, `a or b or c`, `a == b == c`; `elseif` arms; statements of a
//!   block; items of a table) is a `Vec` in the tree, and the code generator
//!   walks it with a loop, never by recursing once per element. These
//!   shapes have no depth limit, as in lua5.4.
//! - **Nesting is counted as lua5.4 counts it.** lua5.4 calls `enterlevel`
//!   (one C level) on entering `statement` and `subexpr`, and stops at
//!   `LUAI_MAXCCALLS` = 200 with the message `C stack overflow` (5.4.4; no
//!   position). Every recursion of the grammar passes through one of the
//!   two (parentheses, table constructors, call arguments, keys, function
//!   bodies, blocks, unary operators and the right operands of `..` and `^`
//!   all nest through `subexpr`; blocks through `statement`), so counting
//!   there bounds every path. We count the same places from
//!   [`BASE_LEVEL`] = 1, the level a chunk given to `lua5.4 -e` or
//!   `lua5.4 file.lua` starts at (a `load` called from a Lua script starts
//!   one level deeper, at 2, so it stops one level earlier). Hence we
//!   accept exactly what `lua5.4 -e` accepts, e.g. 198 nested `do ... end`,
//!   `x = ((...(1)...))` with 196 parentheses, 98 nested `function() return
//!   ... end`, and reject one more with the same `C stack overflow`.
//!
//! The tree is then at most about [`MAX_LEVELS`] levels deep (each level a
//! few nodes), which is what bounds the code generator's recursion.

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

/// lua5.4's `LUAI_MAXCCALLS`: nesting stops when the level reaches it.
pub const MAX_LEVELS: u32 = 200;

/// The C level at which lua5.4 starts parsing a chunk given on its command
/// line (`lua5.4 -e`, `lua5.4 file`): the `pmain` call.
pub const BASE_LEVEL: u32 = 1;

/// lua5.4's `MAXVARS`: locals one function may have in scope at once.
pub const MAX_LOCALS: usize = 200;

/// lua5.4's `errorlimit` text: `too many local variables (limit is 200)
/// in function at line 3` (`in main function` for the chunk itself).
pub(crate) fn limit_message(what: &str, limit: usize, line_defined: u32) -> String {
    if line_defined == 0 {
        format!("too many {what} (limit is {limit}) in main function")
    } else {
        format!("too many {what} (limit is {limit}) in function at line {line_defined}")
    }
}

pub struct Parser<'a> {
    lexer: Lexer<'a>,
    tok: Token,
    ahead: Option<Token>,
    /// Line of the last token consumed (lua5.4's `lastline`).
    last_line: u32,
    /// The enclosing functions (innermost last).
    funcs: Vec<FuncScope>,
    depth: u32,
}

/// What the parser tracks of a function being parsed: enough to raise
/// lua5.4's parse-time limits where `lparser.c` raises them (so a limit
/// wins over a syntax error later in the chunk, as in lua5.4).
struct FuncScope {
    /// `linedefined` (0 for the main chunk), for `in function at line N`.
    line: u32,
    vararg: bool,
    /// Locals declared and still in scope, counted as `new_localvar`
    /// counts them (`(for state)` variables and `<const>`s included).
    locals: usize,
}

pub fn parse_chunk(src: &[u8]) -> PResult<Block> {
    let mut lexer = Lexer::new(src);
    let tok = lexer.next_token()?;
    let mut p = Parser {
        lexer,
        tok,
        ahead: None,
        last_line: 1,
        funcs: vec![FuncScope {
            line: 0,
            vararg: true,
            locals: 0,
        }],
        depth: BASE_LEVEL,
    };
    let block = p.block()?;
    if p.tok.tok != Tok::Eof {
        return Err(p.error_expected(&Tok::Eof));
    }
    Ok(block)
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> PResult<()> {
        self.last_line = self.tok.line;
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

    /// lua5.4's `enterlevel`, on entering `statement` and `subexpr`.
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth >= MAX_LEVELS {
            // lua5.4 raises this from its C-stack check, without position
            return Err(SyntaxError {
                line: 0,
                message: "C stack overflow".into(),
            });
        }
        Ok(())
    }

    fn func(&mut self) -> &mut FuncScope {
        self.funcs.last_mut().expect("a function is open")
    }

    /// lua5.4's `new_localvar`: declares `n` locals of the current
    /// function, raising `too many local variables` at the current token
    /// as `checklimit` does.
    fn new_locals(&mut self, n: usize) -> PResult<()> {
        let f = self.func();
        f.locals += n;
        if f.locals > MAX_LOCALS {
            let msg = limit_message("local variables", MAX_LOCALS, f.line);
            return Err(self.error(&msg));
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

    /// A statement list; the locals it declares go out of scope at its end.
    fn block(&mut self) -> PResult<Block> {
        let outer = self.func().locals;
        let mut stats = Vec::new();
        while !self.block_follow(true) {
            // `return` is one of lua5.4's statements (one level too)
            self.enter()?;
            if self.tok.tok == Tok::Return {
                stats.push(self.retstat()?);
                self.depth -= 1;
                break;
            }
            if let Some(s) = self.statement()? {
                stats.push(s);
            }
            self.depth -= 1;
        }
        self.func().locals = outer;
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

    /// One statement. Each kind is parsed by its own function: statements
    /// nest through here, and small frames keep deep nesting cheap.
    fn statement(&mut self) -> PResult<Option<Stat>> {
        let line = self.line();
        // one `?` for all arms: in unoptimized builds every `?` has its own
        // slot in the frame, and this frame is on every nesting path
        let kind = match self.tok.tok {
            Tok::Char(b';') => {
                self.next()?;
                return Ok(None);
            }
            Tok::If => self.ifstat(line),
            Tok::While => self.whilestat(line),
            Tok::Do => self.dostat(line),
            Tok::For => self.forstat(line),
            Tok::Repeat => self.repeatstat(line),
            Tok::Function => self.funcstat(line),
            Tok::Local => self.localstat_or_function(line),
            Tok::DbColon => self.labelstat(),
            Tok::Return => unreachable!("return handled by block"),
            Tok::Break => self.next().map(|()| StatKind::Break),
            Tok::Goto => self.gotostat(),
            _ => self.exprstat(),
        }?;
        Ok(Some(Stat { kind, line }))
    }

    fn whilestat(&mut self, line: u32) -> PResult<StatKind> {
        self.next()?;
        let cond = self.expr()?;
        self.check_next(&Tok::Do)?;
        let body = self.block()?;
        self.check_match(&Tok::End, &Tok::While, line)?;
        Ok(StatKind::While(cond, body))
    }

    fn dostat(&mut self, line: u32) -> PResult<StatKind> {
        self.next()?;
        let body = self.block()?;
        self.check_match(&Tok::End, &Tok::Do, line)?;
        Ok(StatKind::Do(body))
    }

    fn repeatstat(&mut self, line: u32) -> PResult<StatKind> {
        self.next()?;
        let body = self.block()?;
        self.check_match(&Tok::Until, &Tok::Repeat, line)?;
        let cond = self.expr()?;
        Ok(StatKind::Repeat(body, cond))
    }

    fn gotostat(&mut self) -> PResult<StatKind> {
        self.next()?;
        Ok(StatKind::Goto(self.name()?))
    }

    fn labelstat(&mut self) -> PResult<StatKind> {
        self.next()?;
        let name = self.name()?;
        self.check_next(&Tok::DbColon)?;
        Ok(StatKind::Label(name))
    }

    fn localstat_or_function(&mut self, line: u32) -> PResult<StatKind> {
        self.next()?;
        if self.test_next(&Tok::Function)? {
            let name = self.name()?;
            self.new_locals(1)?;
            let body = self.body(false, line, Some(name.clone()))?;
            Ok(StatKind::LocalFunction(name, Box::new(body)))
        } else {
            self.localstat()
        }
    }

    /// `function funcname body`; funcname: Name {'.' Name} [':' Name]
    fn funcstat(&mut self, line: u32) -> PResult<StatKind> {
        self.next()?;
        let nline = self.line();
        let n = self.name()?;
        let mut full = n.clone();
        let base = Expr {
            kind: ExprKind::Name(n),
            line: nline,
        };
        let mut keys = Vec::new();
        let mut is_method = false;
        while matches!(self.tok.tok, Tok::Char(b'.') | Tok::Char(b':')) {
            let colon = self.tok.tok == Tok::Char(b':');
            let lead_line = self.last_line;
            self.next()?;
            let kline = self.line();
            let key = self.name()?;
            full.push(if colon { b':' } else { b'.' });
            full.extend_from_slice(&key);
            keys.push(Suffix {
                kind: SuffixKind::Index(Expr {
                    kind: ExprKind::Str(key),
                    line: kline,
                }),
                line: kline,
                lead_line,
            });
            if colon {
                is_method = true;
                break;
            }
        }
        let target = match keys.last() {
            None => base,
            Some(last) => Expr {
                line: last.line,
                kind: ExprKind::Suffixed(Box::new(base), keys),
            },
        };
        let body = self.body(is_method, line, Some(full))?;
        Ok(StatKind::Assign(
            vec![target],
            vec![Expr {
                kind: ExprKind::Function(Box::new(body)),
                line,
            }],
        ))
    }

    fn ifstat(&mut self, line: u32) -> PResult<StatKind> {
        let mut arms = Vec::new();
        let mut orelse = None;
        // 'if' or 'elseif'
        loop {
            self.next()?;
            let cond = self.expr()?;
            self.check_next(&Tok::Then)?;
            let then_line = self.last_line;
            let body = self.block()?;
            arms.push((cond, then_line, body));
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

    /// The loop's variables are in scope until its `end`.
    fn forstat(&mut self, line: u32) -> PResult<StatKind> {
        let outer = self.func().locals;
        self.next()?;
        let var = self.name()?;
        match self.tok.tok {
            Tok::Char(b'=') => {
                // three `(for state)` and the variable
                self.new_locals(4)?;
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
                self.func().locals = outer;
                Ok(StatKind::NumFor(Box::new(NumFor {
                    var,
                    start,
                    limit,
                    step,
                    body,
                })))
            }
            Tok::Char(b',') | Tok::In => {
                // four `(for state)` and the first variable
                self.new_locals(5)?;
                let mut names = vec![var];
                while self.test_next(&Tok::Char(b','))? {
                    names.push(self.name()?);
                    self.new_locals(1)?;
                }
                self.check_next(&Tok::In)?;
                let exprs_line = self.line();
                let exprs = self.exprlist()?;
                self.check_next(&Tok::Do)?;
                let body = self.block()?;
                self.check_match(&Tok::End, &Tok::For, line)?;
                self.func().locals = outer;
                Ok(StatKind::GenFor(Box::new(GenFor {
                    names,
                    exprs,
                    body,
                    line: exprs_line,
                })))
            }
            _ => Err(self.error("'=' or 'in' expected")),
        }
    }

    fn localstat(&mut self) -> PResult<StatKind> {
        let mut names = Vec::new();
        let mut has_close = false;
        loop {
            let name = self.name()?;
            self.new_locals(1)?;
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
                if !last.is_assignable() {
                    return Err(self.error("syntax error"));
                }
                if !self.test_next(&Tok::Char(b','))? {
                    break;
                }
                targets.push(self.suffixedexp()?);
                // lua5.4's `restassign` recurses (one level) per target
                self.enter()?;
            }
            self.check_next(&Tok::Char(b'='))?;
            let exprs = self.exprlist()?;
            self.depth -= targets.len() as u32 - 1;
            Ok(StatKind::Assign(targets, exprs))
        } else {
            if !e.is_call() {
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
        self.funcs.push(FuncScope {
            line,
            vararg: false,
            locals: 0,
        });
        let mut params = Vec::new();
        if is_method {
            self.new_locals(1)?;
            params.push(b"self".to_vec());
        }
        self.check_next(&Tok::Char(b'('))?;
        let mut vararg = false;
        if self.tok.tok != Tok::Char(b')') {
            loop {
                match &self.tok.tok {
                    Tok::Name(n) => {
                        params.push(n.clone());
                        self.next()?;
                        self.new_locals(1)?;
                    }
                    Tok::Dots => {
                        self.next()?;
                        vararg = true;
                    }
                    _ => return Err(self.error("<name> or '...' expected")),
                }
                if vararg || !self.test_next(&Tok::Char(b','))? {
                    break;
                }
            }
        }
        self.check_next(&Tok::Char(b')'))?;
        self.func().vararg = vararg;
        let body = self.block()?;
        self.funcs.pop();
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
            Tok::Char(b'(') => self.parenexp(line),
            _ => Err(self.error("unexpected symbol")),
        }
    }

    /// `primaryexp { '.' NAME | '[' exp ']' | ':' NAME funcargs | funcargs }`:
    /// a loop, so the suffixes go into one list.
    fn parenexp(&mut self, line: u32) -> PResult<Expr> {
        self.next()?;
        let e = self.expr()?;
        self.check_match(&Tok::Char(b')'), &Tok::Char(b'('), line)?;
        Ok(Expr {
            kind: ExprKind::Paren(Box::new(e)),
            line,
        })
    }

    fn suffixedexp(&mut self) -> PResult<Expr> {
        let line = self.line();
        let base = self.primaryexp()?;
        let mut suffixes = Vec::new();
        while let Some(suffix) = self.suffix()? {
            suffixes.push(suffix);
        }
        Ok(match suffixes.last() {
            None => base,
            Some(last) => Expr {
                // a call chain keeps the line where it starts
                line: if last.kind.is_call() { line } else { last.line },
                kind: ExprKind::Suffixed(Box::new(base), suffixes),
            },
        })
    }

    /// One suffix, if one follows.
    fn suffix(&mut self) -> PResult<Option<Suffix>> {
        // one `?` for all arms (small frames on the nesting path)
        match &self.tok.tok {
            Tok::Char(b'.') => self.field_suffix(),
            Tok::Char(b'[') => self.index_suffix(),
            Tok::Char(b':') => self.method_suffix(),
            Tok::Char(b'(') | Tok::Str(_) | Tok::Char(b'{') => {
                let (lead_line, line) = (self.last_line, self.line());
                self.funcargs().map(|args| Suffix {
                    kind: SuffixKind::Call(args),
                    line,
                    lead_line,
                })
            }
            _ => return Ok(None),
        }
        .map(Some)
    }

    fn field_suffix(&mut self) -> PResult<Suffix> {
        let lead_line = self.last_line;
        self.next()?;
        let kline = self.line();
        let key = self.name()?;
        Ok(Suffix {
            kind: SuffixKind::Index(Expr {
                kind: ExprKind::Str(key),
                line: kline,
            }),
            line: kline,
            lead_line,
        })
    }

    fn index_suffix(&mut self) -> PResult<Suffix> {
        let lead_line = self.last_line;
        self.next()?;
        let k = self.expr()?;
        self.check_next(&Tok::Char(b']'))?;
        Ok(Suffix {
            kind: SuffixKind::Index(k),
            line: self.last_line,
            lead_line,
        })
    }

    fn method_suffix(&mut self) -> PResult<Suffix> {
        self.next()?;
        let name = self.name()?;
        let (lead_line, line) = (self.last_line, self.line());
        let args = self.funcargs()?;
        Ok(Suffix {
            kind: SuffixKind::Method(name, args),
            line,
            lead_line,
        })
    }

    /// Call arguments; a missing `)` names the line of its `(` (5.4.8).
    fn funcargs(&mut self) -> PResult<Vec<Expr>> {
        let line = self.line();
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
                        fields.push(Field::Item(self.expr()?, 0));
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
                _ => fields.push(Field::Item(self.expr()?, 0)),
            }
            if !(self.test_next(&Tok::Char(b','))? || self.test_next(&Tok::Char(b';'))?) {
                break;
            }
            if let Some(Field::Item(_, sep_line)) = fields.last_mut() {
                *sep_line = self.last_line;
            }
        }
        self.check_match(&Tok::Char(b'}'), &Tok::Char(b'{'), line)?;
        if let Some(Field::Item(_, close_line)) = fields.last_mut() {
            *close_line = self.last_line;
        }
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
                if !self.funcs.last().is_some_and(|f| f.vararg) {
                    return Err(self.error("cannot use '...' outside a vararg function"));
                }
                ExprKind::Vararg
            }
            Tok::Char(b'{') => return self.constructor(),
            Tok::Function => return self.functionexp(line),
            _ => return self.suffixedexp(),
        };
        self.next()?;
        Ok(Expr { kind, line })
    }

    fn functionexp(&mut self, line: u32) -> PResult<Expr> {
        self.next()?;
        let body = self.body(false, line, None)?;
        Ok(Expr {
            kind: ExprKind::Function(Box::new(body)),
            line,
        })
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
            fold_unary(op, operand, line, self.last_line)
        } else {
            self.simpleexp()?
        };
        // a loop in lua5.4: one list, folded left to right
        let mut chain = Vec::new();
        while let Some(op) = self.binop() {
            let (left, right) = op.priority();
            if left <= limit {
                break;
            }
            let line = self.line();
            self.next()?;
            let rhs = self.subexpr(right)?;
            chain.push(BinRhs {
                op,
                rhs,
                line,
                end_line: self.last_line,
            });
        }
        if let Some(last) = chain.last() {
            e = Expr {
                line: last.line,
                kind: ExprKind::Binary(Box::new(e), chain),
            };
        }
        self.depth -= 1;
        Ok(e)
    }
}

/// Folds `-<numeral>` so that `-9223372036854775808` stays an integer and
/// negative constants need no instruction.
fn fold_unary(op: UnOp, operand: Expr, line: u32, end_line: u32) -> Expr {
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
        kind: ExprKind::Un(op, Box::new(operand), end_line),
        line,
    }
}
