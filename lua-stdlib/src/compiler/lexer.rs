//! Lua 5.4 lexer: bytes to tokens, with lua5.4's lexical error messages.
//!
//! Every token remembers the line it ends on and the text lua5.4 would show
//! for it in a `near ...` clause, so the parser can build messages that match
//! the reference interpreter byte for byte.

use crate::vm::number::{self, Number};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Name(Vec<u8>),
    Str(Vec<u8>),
    Int(i64),
    Float(f64),
    // keywords
    And,
    Break,
    Do,
    Else,
    Elseif,
    End,
    False,
    For,
    Function,
    Goto,
    If,
    In,
    Local,
    Nil,
    Not,
    Or,
    Repeat,
    Return,
    Then,
    True,
    Until,
    While,
    // multi-char symbols
    IDiv,
    Concat,
    Dots,
    Eq,
    Ge,
    Le,
    Ne,
    Shl,
    Shr,
    DbColon,
    /// A single-character symbol.
    Char(u8),
    Eof,
}

impl Tok {
    /// The token as `luaX_token2str` names it (used for `'x' expected`).
    pub fn describe(&self) -> String {
        match self {
            Tok::Name(_) => "<name>".into(),
            Tok::Str(_) => "<string>".into(),
            Tok::Int(_) => "<integer>".into(),
            Tok::Float(_) => "<number>".into(),
            Tok::Eof => "<eof>".into(),
            Tok::Char(c) => char_token(*c),
            other => format!("'{}'", symbol_text(other)),
        }
    }
}

fn char_token(c: u8) -> String {
    if c.is_ascii_graphic() || c == b' ' {
        format!("'{}'", c as char)
    } else {
        format!("'<\\{}>'", c)
    }
}

fn symbol_text(t: &Tok) -> &'static str {
    match t {
        Tok::And => "and",
        Tok::Break => "break",
        Tok::Do => "do",
        Tok::Else => "else",
        Tok::Elseif => "elseif",
        Tok::End => "end",
        Tok::False => "false",
        Tok::For => "for",
        Tok::Function => "function",
        Tok::Goto => "goto",
        Tok::If => "if",
        Tok::In => "in",
        Tok::Local => "local",
        Tok::Nil => "nil",
        Tok::Not => "not",
        Tok::Or => "or",
        Tok::Repeat => "repeat",
        Tok::Return => "return",
        Tok::Then => "then",
        Tok::True => "true",
        Tok::Until => "until",
        Tok::While => "while",
        Tok::IDiv => "//",
        Tok::Concat => "..",
        Tok::Dots => "...",
        Tok::Eq => "==",
        Tok::Ge => ">=",
        Tok::Le => "<=",
        Tok::Ne => "~=",
        Tok::Shl => "<<",
        Tok::Shr => ">>",
        Tok::DbColon => "::",
        _ => "?",
    }
}

fn keyword(name: &[u8]) -> Option<Tok> {
    Some(match name {
        b"and" => Tok::And,
        b"break" => Tok::Break,
        b"do" => Tok::Do,
        b"else" => Tok::Else,
        b"elseif" => Tok::Elseif,
        b"end" => Tok::End,
        b"false" => Tok::False,
        b"for" => Tok::For,
        b"function" => Tok::Function,
        b"goto" => Tok::Goto,
        b"if" => Tok::If,
        b"in" => Tok::In,
        b"local" => Tok::Local,
        b"nil" => Tok::Nil,
        b"not" => Tok::Not,
        b"or" => Tok::Or,
        b"repeat" => Tok::Repeat,
        b"return" => Tok::Return,
        b"then" => Tok::Then,
        b"true" => Tok::True,
        b"until" => Tok::Until,
        b"while" => Tok::While,
        _ => return None,
    })
}

/// One lexed token.
#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    /// Line the token ends on (what lua5.4 reports for errors at it).
    pub line: u32,
    /// Text shown in `near '...'` for names, strings and numbers.
    pub text: Vec<u8>,
}

impl Token {
    /// The `near ...` text lua5.4's `txtToken` produces.
    pub fn near(&self) -> String {
        match self.tok {
            Tok::Name(_) | Tok::Str(_) | Tok::Int(_) | Tok::Float(_) => {
                format!("'{}'", String::from_utf8_lossy(&self.text))
            }
            _ => self.tok.describe(),
        }
    }
}

/// A lexical error: message and line, `near` text already included.
#[derive(Debug)]
pub struct LexError {
    pub line: u32,
    pub message: String,
}

pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a [u8]) -> Self {
        // (a first `#` line is skipped by the file loader, not here: `load`
        // rejects it, as lua5.4 does)
        Lexer {
            src,
            pos: 0,
            line: 1,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.src.get(self.pos + n).copied()
    }

    fn err(&self, msg: &str, near: Option<String>) -> LexError {
        let message = match near {
            Some(n) => format!("{msg} near {n}"),
            None => msg.to_string(),
        };
        LexError {
            line: self.line,
            message,
        }
    }

    fn near_text(text: &[u8]) -> String {
        format!("'{}'", String::from_utf8_lossy(text))
    }

    /// Consumes a newline sequence (\n, \r, \n\r or \r\n) and counts it.
    fn newline(&mut self) {
        let c = self.src[self.pos];
        self.pos += 1;
        if let Some(n) = self.peek() {
            if (n == b'\n' || n == b'\r') && n != c {
                self.pos += 1;
            }
        }
        self.line += 1;
    }

    pub fn next_token(&mut self) -> Result<Token, LexError> {
        loop {
            let Some(c) = self.peek() else {
                return Ok(Token {
                    tok: Tok::Eof,
                    line: self.line,
                    text: Vec::new(),
                });
            };
            match c {
                b'\n' | b'\r' => self.newline(),
                b' ' | b'\t' | 0x0b | 0x0c => self.pos += 1,
                b'-' if self.peek_at(1) == Some(b'-') => {
                    self.pos += 2;
                    if self.peek() == Some(b'[') {
                        if let Some(level) = self.long_bracket_level() {
                            self.read_long_string(level, true)?;
                            continue;
                        }
                    }
                    while let Some(c) = self.peek() {
                        if c == b'\n' || c == b'\r' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => return self.token(c),
            }
        }
    }

    fn single(&mut self, tok: Tok, len: usize) -> Result<Token, LexError> {
        self.pos += len;
        Ok(Token {
            tok,
            line: self.line,
            text: Vec::new(),
        })
    }

    fn token(&mut self, c: u8) -> Result<Token, LexError> {
        let n = self.peek_at(1);
        match c {
            b'[' => {
                if let Some(level) = self.long_bracket_level() {
                    let start = self.pos;
                    let s = self.read_long_string(level, false)?;
                    return Ok(Token {
                        tok: Tok::Str(s),
                        line: self.line,
                        text: self.src[start..self.pos].to_vec(),
                    });
                }
                // `[=` without a second `[` is an error in lua5.4
                let mut p = self.pos + 1;
                while self.src.get(p) == Some(&b'=') {
                    p += 1;
                }
                if p > self.pos + 1 {
                    // lua5.4 shows what it read: `[` and every `=`
                    let text = Self::near_text(&self.src[self.pos..p]);
                    return Err(self.err("invalid long string delimiter", Some(text)));
                }
                self.single(Tok::Char(b'['), 1)
            }
            b'=' if n == Some(b'=') => self.single(Tok::Eq, 2),
            b'<' if n == Some(b'=') => self.single(Tok::Le, 2),
            b'<' if n == Some(b'<') => self.single(Tok::Shl, 2),
            b'>' if n == Some(b'=') => self.single(Tok::Ge, 2),
            b'>' if n == Some(b'>') => self.single(Tok::Shr, 2),
            b'/' if n == Some(b'/') => self.single(Tok::IDiv, 2),
            b'~' if n == Some(b'=') => self.single(Tok::Ne, 2),
            b':' if n == Some(b':') => self.single(Tok::DbColon, 2),
            b'"' | b'\'' => self.read_string(c),
            b'.' => {
                if n == Some(b'.') {
                    if self.peek_at(2) == Some(b'.') {
                        self.single(Tok::Dots, 3)
                    } else {
                        self.single(Tok::Concat, 2)
                    }
                } else if n.is_some_and(|d| d.is_ascii_digit()) {
                    self.read_number()
                } else {
                    self.single(Tok::Char(b'.'), 1)
                }
            }
            b'0'..=b'9' => self.read_number(),
            c if is_name_start(c) => {
                let start = self.pos;
                while self.peek().is_some_and(is_name_char) {
                    self.pos += 1;
                }
                let name = self.src[start..self.pos].to_vec();
                let tok = keyword(&name).unwrap_or_else(|| Tok::Name(name.clone()));
                Ok(Token {
                    tok,
                    line: self.line,
                    text: name,
                })
            }
            c => self.single(Tok::Char(c), 1),
        }
    }

    /// At `[`: returns the level if this opens a long bracket `[==[`.
    fn long_bracket_level(&self) -> Option<usize> {
        let mut p = self.pos + 1;
        let mut level = 0;
        while self.src.get(p) == Some(&b'=') {
            p += 1;
            level += 1;
        }
        (self.src.get(p) == Some(&b'[')).then_some(level)
    }

    fn read_long_string(&mut self, level: usize, comment: bool) -> Result<Vec<u8>, LexError> {
        let start_line = self.line;
        self.pos += level + 2;
        // a newline right after the opening bracket is skipped
        if matches!(self.peek(), Some(b'\n' | b'\r')) {
            self.newline();
        }
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                let what = if comment { "comment" } else { "string" };
                return Err(self.err(
                    &format!("unfinished long {what} (starting at line {start_line})"),
                    Some("<eof>".into()),
                ));
            };
            match c {
                b']' => {
                    let mut p = self.pos + 1;
                    let mut l = 0;
                    while self.src.get(p) == Some(&b'=') {
                        p += 1;
                        l += 1;
                    }
                    if l == level && self.src.get(p) == Some(&b']') {
                        self.pos = p + 1;
                        return Ok(out);
                    }
                    out.push(b']');
                    self.pos += 1;
                }
                b'\n' | b'\r' => {
                    self.newline();
                    out.push(b'\n');
                }
                _ => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn read_string(&mut self, delim: u8) -> Result<Token, LexError> {
        // `text` mirrors lua's token buffer: what has been read so far
        let mut text = vec![delim];
        let mut out = Vec::new();
        self.pos += 1;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unfinished string", Some("<eof>".into())));
            };
            match c {
                c if c == delim => {
                    self.pos += 1;
                    text.push(c);
                    break;
                }
                b'\n' | b'\r' => {
                    return Err(self.err("unfinished string", Some(Self::near_text(&text))));
                }
                b'\\' => {
                    self.pos += 1;
                    text.push(b'\\');
                    self.read_escape(&mut out, &mut text)?;
                }
                _ => {
                    self.pos += 1;
                    out.push(c);
                    text.push(c);
                }
            }
        }
        Ok(Token {
            tok: Tok::Str(out),
            line: self.line,
            text,
        })
    }

    fn escape_error(&self, msg: &str, text: &[u8]) -> LexError {
        self.err(msg, Some(Self::near_text(text)))
    }

    fn read_escape(&mut self, out: &mut Vec<u8>, text: &mut Vec<u8>) -> Result<(), LexError> {
        let Some(c) = self.peek() else {
            return Err(self.err("unfinished string", Some("<eof>".into())));
        };
        let simple = match c {
            b'a' => Some(7),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'\\' => Some(b'\\'),
            b'"' => Some(b'"'),
            b'\'' => Some(b'\''),
            _ => None,
        };
        if let Some(v) = simple {
            self.pos += 1;
            out.push(v);
            text.push(v);
            return Ok(());
        }
        match c {
            b'\n' | b'\r' => {
                self.newline();
                out.push(b'\n');
                text.push(b'\n');
            }
            b'x' => {
                self.pos += 1;
                text.push(b'x');
                let mut v = 0u8;
                for _ in 0..2 {
                    let d = self.peek();
                    match d.and_then(|d| (d as char).to_digit(16)) {
                        Some(h) => {
                            v = v * 16 + h as u8;
                            text.push(d.unwrap_or(b'0'));
                            self.pos += 1;
                        }
                        None => {
                            if let Some(d) = d {
                                text.push(d);
                            }
                            return Err(self.escape_error("hexadecimal digit expected", text));
                        }
                    }
                }
                out.push(v);
            }
            b'z' => {
                self.pos += 1;
                text.pop();
                while let Some(c) = self.peek() {
                    match c {
                        b'\n' | b'\r' => self.newline(),
                        b' ' | b'\t' | 0x0b | 0x0c => self.pos += 1,
                        _ => break,
                    }
                }
            }
            b'u' => {
                self.pos += 1;
                text.push(b'u');
                if self.peek() != Some(b'{') {
                    if let Some(d) = self.peek() {
                        text.push(d);
                    }
                    return Err(self.escape_error("missing '{'", text));
                }
                self.pos += 1;
                text.push(b'{');
                let mut v: u32 = 0;
                let mut digits = 0;
                loop {
                    let d = self.peek();
                    match d.and_then(|d| (d as char).to_digit(16)) {
                        Some(h) => {
                            text.push(d.unwrap_or(b'0'));
                            self.pos += 1;
                            digits += 1;
                            if v >= 0x0800_0000 {
                                return Err(self.escape_error("UTF-8 value too large", text));
                            }
                            v = v * 16 + h;
                        }
                        None => {
                            if digits == 0 {
                                if let Some(d) = d {
                                    text.push(d);
                                }
                                return Err(self.escape_error("hexadecimal digit expected", text));
                            }
                            if d != Some(b'}') {
                                if let Some(d) = d {
                                    text.push(d);
                                }
                                return Err(self.escape_error("missing '}'", text));
                            }
                            self.pos += 1;
                            break;
                        }
                    }
                }
                utf8_encode(v, out);
                text.extend_from_slice(&out[out.len().saturating_sub(1)..]);
            }
            b'0'..=b'9' => {
                let mut v: u32 = 0;
                for _ in 0..3 {
                    match self.peek() {
                        Some(d @ b'0'..=b'9') => {
                            v = v * 10 + (d - b'0') as u32;
                            text.push(d);
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                if v > 255 {
                    if let Some(d) = self.peek() {
                        text.push(d);
                    }
                    return Err(self.escape_error("decimal escape too large", text));
                }
                out.push(v as u8);
            }
            _ => {
                text.push(c);
                return Err(self.escape_error("invalid escape sequence", text));
            }
        }
        Ok(())
    }

    fn read_number(&mut self) -> Result<Token, LexError> {
        let start = self.pos;
        let mut expo = (b'e', b'E');
        if self.peek() == Some(b'0') && matches!(self.peek_at(1), Some(b'x' | b'X')) {
            self.pos += 2;
            expo = (b'p', b'P');
        }
        while let Some(c) = self.peek() {
            if c == expo.0 || c == expo.1 {
                self.pos += 1;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.pos += 1;
                }
            } else if c.is_ascii_hexdigit() || c == b'.' {
                self.pos += 1;
            } else {
                break;
            }
        }
        // a letter touching the numeral is read into it (one, as lua5.4's
        // `read_numeral` does), to force `malformed number near '3i'`
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        {
            self.pos += 1;
        }
        let text = self.src[start..self.pos].to_vec();
        match parse_number(&text) {
            Some(tok) => Ok(Token {
                tok,
                line: self.line,
                text,
            }),
            None => Err(self.err("malformed number", Some(Self::near_text(&text)))),
        }
    }
}

fn utf8_encode(mut x: u32, out: &mut Vec<u8>) {
    if x < 0x80 {
        out.push(x as u8);
        return;
    }
    // lua's luaO_utf8esc: up to 6 bytes for values up to 0x7FFFFFFF
    let mut buf = [0u8; 8];
    let mut n = 1;
    let mut mfb: u32 = 0x3f;
    loop {
        buf[8 - n] = 0x80 | (x & 0x3f) as u8;
        n += 1;
        x >>= 6;
        mfb >>= 1;
        if x <= mfb {
            break;
        }
    }
    buf[8 - n] = ((!mfb << 1) | x) as u8;
    out.extend_from_slice(&buf[8 - n..]);
}

/// A numeral's token: the text the lexer read (digits, `.`, exponent,
/// and any name characters that follow) is a number exactly when
/// `lua_stringtonumber` takes it, which `vm::number` decides for the
/// whole engine (decimal integers that overflow become floats, hex
/// integers wrap around).
fn parse_number(text: &[u8]) -> Option<Tok> {
    match number::str_to_number(text)? {
        Number::Int(i) => Some(Tok::Int(i)),
        Number::Float(f) => Some(Tok::Float(f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        let mut lx = Lexer::new(s.as_bytes());
        let mut v = Vec::new();
        loop {
            let t = lx.next_token().unwrap();
            if t.tok == Tok::Eof {
                break;
            }
            v.push(t.tok);
        }
        v
    }

    #[test]
    fn numbers() {
        assert_eq!(
            toks("3 0x10 1e2 .5 0xA.8p1"),
            vec![
                Tok::Int(3),
                Tok::Int(16),
                Tok::Float(100.0),
                Tok::Float(0.5),
                Tok::Float(21.0)
            ]
        );
        assert_eq!(
            toks("9223372036854775808"),
            vec![Tok::Float(9.223372036854776e18)]
        );
        assert_eq!(toks("0xffffffffffffffff"), vec![Tok::Int(-1)]);
    }

    #[test]
    fn strings() {
        assert_eq!(
            toks(r#""a\n\x41\65\u{48}\z   b""#),
            vec![Tok::Str(b"a\nAAHb".to_vec())]
        );
        assert_eq!(toks("[==[\nx]]y]==]"), vec![Tok::Str(b"x]]y".to_vec())]);
        assert_eq!(toks("--[[ c ]] x -- y"), vec![Tok::Name(b"x".to_vec())]);
    }
}
