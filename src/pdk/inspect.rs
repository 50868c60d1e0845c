//! `kong.log.inspect`'s pretty-printer: the text of inspect.lua 3.1 (the
//! `inspect` rock Kong ships) with its default options, for any Lua value.
//! Strings are quoted and escaped, an array part prints inline
//! (`{ 1, 2 }`), other keys one per line, sorted, two spaces per level; a
//! table met more than once gets an id (`<1>{ …`) and is shown as
//! `<table 1>` when met again, so cycles end; functions and userdata
//! show as `<function 1>`.
//!
//! Bounded for hostile input: tables nest at most [`MAX_DEPTH`] levels
//! (deeper ones show as `{...}`, inspect.lua's own mark), and the output
//! stops at [`MAX_OUTPUT`] bytes (`...` marks the cut).

use std::collections::HashMap;

use lua_stdlib::{Context, Table, Value};

/// How deep tables are shown.
pub(crate) const MAX_DEPTH: usize = 16;
/// How much text one value may produce (bytes).
pub(crate) const MAX_OUTPUT: usize = 64 * 1024;
/// How many table entries are looked at for one value.
const MAX_ENTRIES: usize = 100_000;

/// Appends `v` as `inspect(v)` shows it.
pub(crate) fn inspect(ctx: Context<'_>, v: Value<'_>, out: &mut String) {
    let mut ins = Inspector {
        appearances: HashMap::new(),
        ids: HashMap::new(),
        next_id: HashMap::new(),
        out: String::new(),
        budget: MAX_ENTRIES,
        cut: false,
    };
    ins.count(v, 0);
    ins.budget = MAX_ENTRIES;
    ins.value(ctx, v, 0);
    if ins.cut {
        ins.out.push_str("...");
    }
    out.push_str(&ins.out);
}

struct Inspector {
    /// How often each table is reachable (inspect.lua's `cycles`).
    appearances: HashMap<*const (), usize>,
    ids: HashMap<*const (), usize>,
    next_id: HashMap<&'static str, usize>,
    out: String,
    /// Entries left to look at.
    budget: usize,
    /// The output was cut.
    cut: bool,
}

impl Inspector {
    /// The output reached its bound (entries past the entry budget are
    /// left out, and what was seen is still shown).
    fn full(&mut self) -> bool {
        if self.out.len() > MAX_OUTPUT {
            self.cut = true;
        }
        self.out.len() > MAX_OUTPUT
    }

    /// inspect.lua's `countTableAppearances`.
    fn count(&mut self, v: Value<'_>, depth: usize) {
        let Value::Table(t) = v else { return };
        let n = self.appearances.entry(t.as_ptr()).or_insert(0);
        *n += 1;
        if *n > 1 || depth >= MAX_DEPTH {
            return;
        }
        let mut key = Value::Nil;
        while let Ok(Some((k, v))) = t.next(key) {
            if self.budget == 0 {
                return;
            }
            self.budget -= 1;
            self.count(k, depth + 1);
            self.count(v, depth + 1);
            key = k;
        }
        if let Some(mt) = t.metatable() {
            self.count(Value::Table(mt), depth + 1);
        }
    }

    fn id(&mut self, kind: &'static str, ptr: *const ()) -> usize {
        if let Some(&id) = self.ids.get(&ptr) {
            return id;
        }
        let n = self.next_id.entry(kind).or_insert(0);
        *n += 1;
        self.ids.insert(ptr, *n);
        *n
    }

    fn value(&mut self, ctx: Context<'_>, v: Value<'_>, level: usize) {
        if self.full() {
            return;
        }
        match v {
            Value::String(s) => quote(&mut self.out, s.as_bytes()),
            Value::Nil => self.out.push_str("nil"),
            Value::Boolean(b) => self.out.push_str(if b { "true" } else { "false" }),
            Value::Integer(n) => self.out.push_str(&n.to_string()),
            Value::Number(f) => self.out.push_str(&super::lua_number(f)),
            Value::Table(t) => self.table(ctx, t, level),
            other => {
                let kind = other.type_name();
                let id = self.id(kind, other.object_ptr().unwrap_or(std::ptr::null()));
                self.out.push_str(&format!("<{kind} {id}>"));
            }
        }
    }

    fn tabify(&mut self, level: usize) {
        self.out.push('\n');
        for _ in 0..level {
            self.out.push_str("  ");
        }
    }

    fn table(&mut self, ctx: Context<'_>, t: Table<'_>, level: usize) {
        let ptr = t.as_ptr();
        if self.ids.contains_key(&ptr) {
            let id = self.id("table", ptr);
            self.out.push_str(&format!("<table {id}>"));
            return;
        }
        if level >= MAX_DEPTH {
            self.out.push_str("{...}");
            return;
        }
        if self.appearances.get(&ptr).copied().unwrap_or(0) > 1 {
            let id = self.id("table", ptr);
            self.out.push_str(&format!("<{id}>"));
        } else {
            // Marks the table visited (inspect.lua's `alreadyVisited`).
            self.ids.insert(ptr, 0);
        }
        // The sequence: 1, 2 … up to the first nil.
        let mut seq = 0i64;
        while self.budget > 0 && !t.raw_get_int(seq + 1).is_nil() {
            self.budget -= 1;
            seq += 1;
        }
        let mut keys = Vec::new();
        let mut key = Value::Nil;
        while let Ok(Some((k, _))) = t.next(key) {
            if self.budget == 0 {
                self.cut = true;
                break;
            }
            self.budget -= 1;
            let in_seq = match k {
                Value::Integer(i) => 1 <= i && i <= seq,
                Value::Number(f) => f.fract() == 0.0 && 1.0 <= f && f <= seq as f64,
                _ => false,
            };
            if !in_seq {
                keys.push(k);
            }
            key = k;
        }
        keys.sort_by(|&a, &b| order(a, b));
        let mt = t.metatable();
        self.out.push('{');
        let mut count = 0;
        for i in 1..=seq {
            if self.full() {
                return;
            }
            if count > 0 {
                self.out.push(',');
            }
            self.out.push(' ');
            self.value(ctx, t.raw_get_int(i), level + 1);
            count += 1;
        }
        for &k in &keys {
            if self.full() {
                return;
            }
            if count > 0 {
                self.out.push(',');
            }
            self.tabify(level + 1);
            match k {
                Value::String(s) if is_identifier(s.as_bytes()) => {
                    self.out.push_str(&String::from_utf8_lossy(s.as_bytes()))
                }
                k => {
                    self.out.push('[');
                    self.value(ctx, k, level + 1);
                    self.out.push(']');
                }
            }
            self.out.push_str(" = ");
            self.value(ctx, t.raw_get(k), level + 1);
            count += 1;
        }
        if let Some(mt) = mt {
            if count > 0 {
                self.out.push(',');
            }
            self.tabify(level + 1);
            self.out.push_str("<metatable> = ");
            self.value(ctx, Value::Table(mt), level + 1);
        }
        if !keys.is_empty() || mt.is_some() {
            self.tabify(level);
        } else if seq > 0 {
            self.out.push(' ');
        }
        self.out.push('}');
    }
}

fn is_identifier(s: &[u8]) -> bool {
    matches!(s.first(), Some(c) if c.is_ascii_alphabetic() || *c == b'_')
        && s.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// inspect.lua's `sortKeys`: numbers, then booleans, strings, tables,
/// functions, userdata, threads; numbers and strings in order.
fn order(a: Value<'_>, b: Value<'_>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let rank = |v: Value<'_>| match v {
        Value::Integer(_) | Value::Number(_) => 1,
        Value::Boolean(_) => 2,
        Value::String(_) => 3,
        Value::Table(_) => 4,
        Value::Function(_) => 5,
        Value::UserData(_) => 6,
        _ => 7,
    };
    let num = |v: Value<'_>| match v {
        Value::Integer(i) => i as f64,
        Value::Number(f) => f,
        _ => 0.0,
    };
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Integer(x), Value::Integer(y)) => x.cmp(&y),
        (x, y) if rank(x) == 1 && rank(y) == 1 => {
            num(x).partial_cmp(&num(y)).unwrap_or(Ordering::Equal)
        }
        (x, y) => rank(x).cmp(&rank(y)),
    }
}

/// inspect.lua's `smartQuote(escape(s))`.
fn quote(out: &mut String, s: &[u8]) {
    let text = String::from_utf8_lossy(s);
    let mut escaped = String::with_capacity(text.len() + 2);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next_is_digit = chars.peek().is_some_and(|d| d.is_ascii_digit());
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\x07' => escaped.push_str("\\a"),
            '\x08' => escaped.push_str("\\b"),
            '\x0c' => escaped.push_str("\\f"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            '\x0b' => escaped.push_str("\\v"),
            '\x7f' => escaped.push_str("\\127"),
            c if (c as u32) < 0x20 && next_is_digit => {
                escaped.push_str(&format!("\\{:03}", c as u32))
            }
            c if (c as u32) < 0x20 => escaped.push_str(&format!("\\{}", c as u32)),
            c => escaped.push(c),
        }
        if escaped.len() > MAX_OUTPUT {
            break;
        }
    }
    if escaped.contains('"') && !escaped.contains('\'') {
        out.push('\'');
        out.push_str(&escaped);
        out.push('\'');
    } else {
        out.push('"');
        out.push_str(&escaped.replace('"', "\\\""));
        out.push('"');
    }
}
