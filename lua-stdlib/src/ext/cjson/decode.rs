//! Decoding: lua-cjson's tokenizer and parser (its token names, error
//! texts and number rules), with the open arrays and objects on an
//! explicit stack.

use gc_arena::Collect;

use super::{array_mt, finish, Config, Failure};
use crate::lib::args::{charge, work_left, LibResult};
use crate::{Context, Error, Execution, Sequence, SequencePoll, Stack, String, Table, Value};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Integer,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Kind {
    /// lua-cjson's `json_token_type_name`.
    fn name(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::Str => "T_STRING",
            Kind::Number => "T_NUMBER",
            Kind::Integer => "T_INTEGER",
            Kind::Boolean => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error => "T_ERROR",
        }
    }
}

struct Token {
    kind: Kind,
    /// 0-based offset of the token (of the error, for `Kind::Error`).
    index: usize,
    /// The error text for `Kind::Error`.
    error: &'static str,
    number: f64,
    integer: i64,
    boolean: bool,
    /// Decoded bytes of a `Kind::Str` (in `Parser::tmp`).
    has_string: bool,
}

impl Token {
    fn new(kind: Kind, index: usize) -> Token {
        Token {
            kind,
            index,
            error: "",
            number: 0.0,
            integer: 0,
            boolean: false,
            has_string: false,
        }
    }
}

/// A decode in progress: the tokenizer's position and the open arrays
/// and objects. It stops between values when the step's budget is spent
/// and goes on in the next step (a [`Sequence`] returning `Pending`).
#[derive(Collect)]
#[collect(no_drop)]
pub(super) struct Parser<'gc> {
    src: String<'gc>,
    pos: usize,
    tmp: Vec<u8>,
    depth: i64,
    #[collect(require_static)]
    cfg: Config,
    safe: bool,
    open: Vec<Open<'gc>>,
    /// The token that starts the next value (`None` before the first).
    #[collect(require_static)]
    tok: Option<Token>,
    array_mt: Option<Table<'gc>>,
    /// Values made so far (charged like bytes read).
    values: usize,
}

/// An open container while decoding.
#[derive(Collect)]
#[collect(no_drop)]
enum Open<'gc> {
    Array(Table<'gc>, i64),
    Object(Table<'gc>, Value<'gc>),
}

impl<'gc> Parser<'gc> {
    /// A decode of `src`, or lua-cjson's refusal of UTF-16/32 input.
    pub(super) fn new(
        ctx: Context<'gc>,
        cfg: Config,
        safe: bool,
        src: String<'gc>,
    ) -> Result<Parser<'gc>, Failure> {
        let data = src.as_bytes();
        if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
            return Err(Failure::Msg(
                "JSON parser does not support UTF-16 or UTF-32".into(),
            ));
        }
        let array_mt = match (cfg.decode_array_with_array_mt, array_mt(ctx)) {
            (true, Value::Table(t)) => Some(t),
            _ => None,
        };
        Ok(Parser {
            src,
            pos: 0,
            tmp: Vec::new(),
            depth: 0,
            cfg,
            safe,
            open: Vec::new(),
            tok: None,
            array_mt,
            values: 0,
        })
    }

    /// Decodes until the value is complete (`Some`) or the step's budget
    /// is spent (`None`), charging what it read.
    pub(super) fn step(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
    ) -> Result<Option<Value<'gc>>, Failure> {
        let limit = work_left(exec);
        let start = (self.pos, self.values);
        let mut open = std::mem::take(&mut self.open);
        let mut tok = match self.tok.take() {
            Some(t) => t,
            None => self.next_token(),
        };
        let r = self.run(ctx, &mut open, &mut tok, limit, start);
        self.open = open;
        self.tok = Some(tok);
        charge(exec, self.work(start));
        r
    }

    fn work(&self, (pos0, values0): (usize, usize)) -> usize {
        self.pos.saturating_sub(pos0) + (self.values - values0) * 8
    }

    /// Puts a finished step's result on the stack (`true`), or says the
    /// decode goes on (`false`).
    pub(super) fn answer(
        &self,
        ctx: Context<'gc>,
        stack: &mut Stack<'gc, '_>,
        r: Result<Option<Value<'gc>>, Failure>,
    ) -> LibResult<'gc, bool> {
        let r = match r {
            Ok(None) => return Ok(false),
            Ok(Some(v)) => Ok(v),
            Err(f) => Err(f),
        };
        finish(ctx, stack, self.safe, r).map(|_| true)
    }
}

impl<'gc> Sequence<'gc> for Parser<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let r = self.step(ctx, &mut exec);
        match self.answer(ctx, &mut stack, r) {
            Ok(true) => Ok(SequencePoll::Return),
            Ok(false) => Ok(SequencePoll::Pending),
            Err(e) => Err(e.into_error(ctx, &exec, "decode")),
        }
    }
}

fn parse_error(exp: &str, t: &Token) -> Failure {
    let found = if t.kind == Kind::Error {
        t.error
    } else {
        t.kind.name()
    };
    Failure::Msg(format!(
        "Expected {exp} but found {found} at character {}",
        t.index + 1
    ))
}

impl<'gc> Parser<'gc> {
    fn data(&self) -> &'gc [u8] {
        self.src.as_bytes()
    }

    /// The byte at `i`; past the end reads as the C string's NUL.
    fn at(&self, i: usize) -> u8 {
        self.data().get(i).copied().unwrap_or(0)
    }

    /// The parser's loop: `tok` starts a value, `open` are the containers
    /// it goes into. Stops before a value once `limit` work is done.
    fn run(
        &mut self,
        ctx: Context<'gc>,
        open: &mut Vec<Open<'gc>>,
        tok: &mut Token,
        limit: usize,
        start: (usize, usize),
    ) -> Result<Option<Value<'gc>>, Failure> {
        let array_mt = self.array_mt;
        loop {
            if self.work(start) >= limit {
                return Ok(None);
            }
            // `tok` starts a value.
            self.values += 1;
            let mut value = match tok.kind {
                Kind::Str => Value::String(ctx.intern(&self.tmp)),
                Kind::Number => Value::Number(tok.number),
                Kind::Integer => Value::Integer(tok.integer),
                Kind::Boolean => Value::Boolean(tok.boolean),
                Kind::Null => crate::ext::null(ctx),
                Kind::ObjBegin => {
                    self.descend()?;
                    let t = ctx.new_table();
                    *tok = self.next_token();
                    if tok.kind == Kind::ObjEnd {
                        self.depth -= 1;
                        Value::Table(t)
                    } else {
                        let key = self.object_key(ctx, tok)?;
                        *tok = self.next_token();
                        open.push(Open::Object(t, key));
                        continue;
                    }
                }
                Kind::ArrBegin => {
                    self.descend()?;
                    let t = ctx.new_table();
                    if let Some(mt) = array_mt {
                        let _ = t.set_metatable(&ctx, Some(mt));
                    }
                    *tok = self.next_token();
                    if tok.kind == Kind::ArrEnd {
                        self.depth -= 1;
                        Value::Table(t)
                    } else {
                        open.push(Open::Array(t, 1));
                        continue;
                    }
                }
                _ => return Err(parse_error("value", tok)),
            };
            // Attach the finished value to the open containers, closing
            // those that end here.
            loop {
                match open.last_mut() {
                    None => {
                        let end = self.next_token();
                        if end.kind != Kind::End {
                            return Err(parse_error("the end", &end));
                        }
                        return Ok(Some(value));
                    }
                    Some(Open::Array(t, i)) => {
                        let _ = t.raw_set_int(&ctx, *i, value);
                        *i += 1;
                        let t = *t;
                        *tok = self.next_token();
                        match tok.kind {
                            Kind::ArrEnd => {
                                self.depth -= 1;
                                open.pop();
                                value = Value::Table(t);
                            }
                            Kind::Comma => {
                                *tok = self.next_token();
                                break;
                            }
                            _ => return Err(parse_error("comma or array end", tok)),
                        }
                    }
                    Some(Open::Object(t, key)) => {
                        let _ = t.raw_set(&ctx, *key, value);
                        let t = *t;
                        *tok = self.next_token();
                        match tok.kind {
                            Kind::ObjEnd => {
                                self.depth -= 1;
                                open.pop();
                                value = Value::Table(t);
                            }
                            Kind::Comma => {
                                *tok = self.next_token();
                                let k = self.object_key(ctx, tok)?;
                                if let Some(Open::Object(_, key)) = open.last_mut() {
                                    *key = k;
                                }
                                *tok = self.next_token();
                                break;
                            }
                            _ => return Err(parse_error("comma or object end", tok)),
                        }
                    }
                }
            }
        }
    }

    /// An object key and its colon; leaves the position on the value.
    fn object_key(&mut self, ctx: Context<'gc>, tok: &Token) -> Result<Value<'gc>, Failure> {
        if tok.kind != Kind::Str {
            return Err(parse_error("object key string", tok));
        }
        let key = Value::String(ctx.intern(&self.tmp));
        let colon = self.next_token();
        if colon.kind != Kind::Colon {
            return Err(parse_error("colon", &colon));
        }
        Ok(key)
    }

    fn descend(&mut self) -> Result<(), Failure> {
        self.depth += 1;
        if self.depth > self.cfg.decode_max_depth {
            return Err(Failure::Msg(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth, self.pos
            )));
        }
        Ok(())
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let index = self.pos;
        let ch = self.at(index);
        let single = match ch {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b',' => Some(Kind::Comma),
            b':' => Some(Kind::Colon),
            0 => return Token::new(Kind::End, index),
            _ => None,
        };
        if let Some(kind) = single {
            self.pos += 1;
            return Token::new(kind, index);
        }
        let rest = &self.data()[index.min(self.data().len())..];
        match ch {
            b'"' => self.string_token(),
            b'-' | b'0'..=b'9' => {
                if !self.cfg.decode_invalid_numbers && self.is_invalid_number() {
                    return self.error_token("invalid number");
                }
                self.number_token()
            }
            _ if rest.starts_with(b"true") => {
                self.pos += 4;
                let mut t = Token::new(Kind::Boolean, index);
                t.boolean = true;
                t
            }
            _ if rest.starts_with(b"false") => {
                self.pos += 5;
                Token::new(Kind::Boolean, index)
            }
            _ if rest.starts_with(b"null") => {
                self.pos += 4;
                Token::new(Kind::Null, index)
            }
            b'+' | b'i' | b'I' | b'n' | b'N'
                if self.cfg.decode_invalid_numbers && self.is_invalid_number() =>
            {
                self.number_token()
            }
            _ => self.error_token("invalid token"),
        }
    }

    fn error_token(&self, what: &'static str) -> Token {
        let mut t = Token::new(Kind::Error, self.pos);
        t.error = what;
        t
    }

    /// `json_is_invalid_number`: forms strtod accepts that JSON does not.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        match self.at(p) {
            b'+' => return true,
            b'-' => p += 1,
            _ => {}
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let word = |w: &[u8]| {
            self.data()
                .get(p..p + 3)
                .is_some_and(|s| s.eq_ignore_ascii_case(w))
        };
        word(b"inf") || word(b"nan")
    }

    /// `json_next_number_token`: `strtoll(ptr, &end, 10)`, or C's
    /// `strtod` when no digits come first or a `.`, `e`, `E` or `x`
    /// follows them (so `0x1p4`, `Infinity` and `NaN` read as floats). A
    /// decimal integer too large for 64 bits reads as a float (strtoll
    /// would clamp it).
    fn number_token(&mut self) -> Token {
        let start = self.pos;
        let mut p = start;
        if matches!(self.at(p), b'+' | b'-') {
            p += 1;
        }
        let digits_from = p;
        while self.at(p).is_ascii_digit() {
            p += 1;
        }
        let integral = p > digits_from && !matches!(self.at(p), b'.' | b'e' | b'E' | b'x');
        let integer = integral
            .then(|| std::str::from_utf8(&self.data()[start..p]).ok())
            .flatten()
            .and_then(|t| t.strip_prefix('+').unwrap_or(t).parse::<i64>().ok());
        if let Some(n) = integer {
            self.pos = p;
            let mut t = Token::new(Kind::Integer, start);
            t.integer = n;
            return t;
        }
        let (f, end) = strtod(self.data(), start);
        if end == start {
            return self.error_token("invalid number");
        }
        self.pos = end;
        let mut t = Token::new(Kind::Number, start);
        t.number = f;
        t
    }

    fn string_token(&mut self) -> Token {
        let index = self.pos;
        self.pos += 1;
        self.tmp.clear();
        loop {
            let ch = self.at(self.pos);
            match ch {
                b'"' => break,
                0 => return self.error_token("unexpected end of string"),
                b'\\' => {
                    let c = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            if self.unicode_escape() {
                                continue;
                            }
                            return self.error_token("invalid unicode escape code");
                        }
                        _ => return self.error_token("invalid escape code"),
                    };
                    self.tmp.push(c);
                    self.pos += 2;
                }
                _ => {
                    // Copy the run of plain bytes at once.
                    let from = self.pos;
                    let mut to = from + 1;
                    while !matches!(self.at(to), b'"' | b'\\' | 0) {
                        to += 1;
                    }
                    self.tmp.extend_from_slice(&self.data()[from..to]);
                    self.pos = to;
                }
            }
        }
        self.pos += 1;
        let mut t = Token::new(Kind::Str, index);
        t.has_string = true;
        t
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0;
        for i in 0..4 {
            v = v << 4 | (self.at(at + i) as char).to_digit(16)?;
        }
        Some(v)
    }

    /// `json_append_unicode_escape`: `\uXXXX` (a surrogate pair as two)
    /// to UTF-8 in `tmp`.
    fn unicode_escape(&mut self) -> bool {
        let Some(mut cp) = self.hex4(self.pos + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return false;
            }
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let Some(c) = char::from_u32(cp) else {
            return false;
        };
        let mut buf = [0u8; 4];
        self.tmp
            .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        self.pos += len;
        true
    }
}

/// C's `strtod` from `start`: decimal and hexadecimal (`0x1.8p3`)
/// numbers, `inf`/`infinity` and `nan`/`nan(...)` in any case, with a
/// sign. Returns the value and where it stopped (`start` when nothing was
/// read; `1.` and `1e` stop after `1.` and `1`).
fn strtod(data: &[u8], start: usize) -> (f64, usize) {
    let at = |i: usize| data.get(i).copied().unwrap_or(0);
    let word = |i: usize, w: &[u8]| {
        data.get(i..i + w.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(w))
    };
    let mut p = start;
    let neg = match at(p) {
        b'-' => {
            p += 1;
            true
        }
        b'+' => {
            p += 1;
            false
        }
        _ => false,
    };
    let signed = |v: f64| if neg { -v } else { v };
    if word(p, b"infinity") {
        return (signed(f64::INFINITY), p + 8);
    }
    if word(p, b"inf") {
        return (signed(f64::INFINITY), p + 3);
    }
    if word(p, b"nan") {
        let mut e = p + 3;
        if at(e) == b'(' {
            let mut q = e + 1;
            while at(q).is_ascii_alphanumeric() || at(q) == b'_' {
                q += 1;
            }
            if at(q) == b')' {
                e = q + 1;
            }
        }
        return (f64::NAN, e);
    }
    if at(p) == b'0' && at(p + 1) | 0x20 == b'x' {
        let mut q = p + 2;
        let mut mantissa = 0f64;
        let mut exp = 0i64;
        let mut digits = 0;
        while let Some(d) = (at(q) as char).to_digit(16) {
            mantissa = mantissa * 16.0 + d as f64;
            digits += 1;
            q += 1;
        }
        if at(q) == b'.' {
            q += 1;
            while let Some(d) = (at(q) as char).to_digit(16) {
                mantissa = mantissa * 16.0 + d as f64;
                exp -= 4;
                digits += 1;
                q += 1;
            }
        }
        if digits == 0 {
            // "0x" alone: strtod reads the "0".
            return (signed(0.0), p + 1);
        }
        if at(q) | 0x20 == b'p' {
            let mut r = q + 1;
            let eneg = match at(r) {
                b'-' => {
                    r += 1;
                    true
                }
                b'+' => {
                    r += 1;
                    false
                }
                _ => false,
            };
            let from = r;
            let mut e: i64 = 0;
            while at(r).is_ascii_digit() {
                e = (e * 10 + (at(r) - b'0') as i64).min(100_000);
                r += 1;
            }
            if r > from {
                exp += if eneg { -e } else { e };
                q = r;
            }
        }
        return (
            signed(mantissa * 2f64.powi(exp.clamp(-5000, 5000) as i32)),
            q,
        );
    }
    let body = p;
    while at(p).is_ascii_digit() {
        p += 1;
    }
    let mut digits = p - body;
    if at(p) == b'.' {
        let dot = p;
        p += 1;
        while at(p).is_ascii_digit() {
            p += 1;
        }
        digits += p - dot - 1;
    }
    if digits == 0 {
        return (0.0, start);
    }
    if at(p) | 0x20 == b'e' {
        let mut q = p + 1;
        if matches!(at(q), b'+' | b'-') {
            q += 1;
        }
        if at(q).is_ascii_digit() {
            while at(q).is_ascii_digit() {
                q += 1;
            }
            p = q;
        }
    }
    let text = std::str::from_utf8(&data[body..p]).unwrap_or("0");
    let text = text.strip_suffix('.').unwrap_or(text);
    let text = if text.starts_with('.') {
        format!("0{text}")
    } else {
        text.replace(".e", ".0e").replace(".E", ".0E")
    };
    (signed(text.parse().unwrap_or(0.0)), p)
}
