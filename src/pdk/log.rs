//! `kong.log`: Kong's logging facility (`kong/pdk/log.lua`). `kong.log(...)`
//! and `kong.log.LEVEL(...)` at nginx's eight levels, `kong.log.new`,
//! `set_format`, `inspect` (with `inspect.on/off`) and `deprecation`. A line
//! is written as Kong writes it, `[kong] %file_src:%line_src [%namespace]
//! %message` by default, the namespace being the running plugin's name; the
//! gateway's log adds nginx's level as `[notice]` etc. in front (its own
//! framing, a timestamp and a tracing level, replaces nginx's). The global
//! `print` writes there too, at `notice`, as OpenResty's does.
//!
//! Whatever a function logs, a line stays one bounded line: control
//! characters (CR, LF …) are escaped and a line is cut at [`MAX_LINE`].
//!
//! `kong.log` itself is shared by every function of a worker (frozen with
//! the PDK): what `kong.log.set_format` and `kong.log.inspect.off` change
//! is kept per request and plugin ([`LogSettings`] in the request's
//! [`super::LuaTables`]), so one function cannot change another's log. A
//! facility made by `kong.log.new` is the function's own table.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

use lua_stdlib::{Callback, CallbackReturn, Context, Execution, Stack, Table, Value};

use super::RequestCell;

/// The longest log line written (bytes, after escaping): longer ones are
/// cut and end in `...`.
pub(crate) const MAX_LINE: usize = 4096;

/// nginx's log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Debug,
    Info,
    Notice,
    Warn,
    Err,
    Crit,
    Alert,
    Emerg,
}

impl Level {
    /// The `kong.log` function names, each with its level.
    const ALL: [(&'static str, Level); 8] = [
        ("debug", Level::Debug),
        ("info", Level::Info),
        ("notice", Level::Notice),
        ("warn", Level::Warn),
        ("err", Level::Err),
        ("crit", Level::Crit),
        ("alert", Level::Alert),
        ("emerg", Level::Emerg),
    ];

    /// As nginx writes it in its error log.
    fn nginx_name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Notice => "notice",
            Level::Warn => "warn",
            Level::Err => "error",
            Level::Crit => "crit",
            Level::Alert => "alert",
            Level::Emerg => "emerg",
        }
    }

    /// A level by its `kong.log` name (`err`); anything else is `err`.
    pub(crate) fn named(name: &str) -> Level {
        Level::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Level::Err, |&(_, l)| l)
    }

    /// Whether the gateway's log filter lets this level through (Kong
    /// returns early below nginx's level, before formatting anything).
    fn enabled(self) -> bool {
        match self {
            Level::Debug => tracing::enabled!(target: "lunagate::lua", tracing::Level::DEBUG),
            Level::Info | Level::Notice => {
                tracing::enabled!(target: "lunagate::lua", tracing::Level::INFO)
            }
            Level::Warn => tracing::enabled!(target: "lunagate::lua", tracing::Level::WARN),
            _ => tracing::enabled!(target: "lunagate::lua", tracing::Level::ERROR),
        }
    }
}

/// Writes one line from Lua to the gateway's log: `[level] text`, with
/// control characters escaped and cut at [`MAX_LINE`].
pub(crate) fn write(level: Level, text: &str) {
    let line = one_line(text);
    let name = level.nginx_name();
    match level {
        Level::Debug => tracing::debug!(target: "lunagate::lua", "[{name}] {line}"),
        Level::Info | Level::Notice => tracing::info!(target: "lunagate::lua", "[{name}] {line}"),
        Level::Warn => tracing::warn!(target: "lunagate::lua", "[{name}] {line}"),
        _ => tracing::error!(target: "lunagate::lua", "[{name}] {line}"),
    }
}

/// `text` as one line of at most [`MAX_LINE`] bytes: CR, LF and other
/// control characters as `\r`, `\n`, `\xNN` (so a function cannot forge
/// log lines or terminal escapes).
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_LINE));
    let mut piece = String::new();
    for c in text.chars() {
        piece.clear();
        match c {
            '\n' => piece.push_str("\\n"),
            '\r' => piece.push_str("\\r"),
            c if c != '\t' && ((c as u32) < 0x20 || c as u32 == 0x7f) => {
                let _ = write!(piece, "\\x{:02x}", c as u32);
            }
            c => piece.push(c),
        }
        if out.len() + piece.len() > MAX_LINE - 3 {
            out.push_str("...");
            break;
        }
        out.push_str(&piece);
    }
    out
}

/// The log line of other PDK code (`ngx.log`, warnings): `place
/// [plugin] msg` at the level named as `kong.log` names them.
pub(crate) fn emit(level: &str, plugin: &str, place: &str, msg: &str) {
    let prefix = if plugin.is_empty() {
        String::new()
    } else {
        format!("[{plugin}] ")
    };
    write(Level::named(level), &format!("{place} {prefix}{msg}"));
}

/// Appends `v` as Lua's `tostring` shows it (numbers as LuaJIT prints
/// them, `ngx.null` as `userdata: NULL`); `__tostring` metamethods are not
/// called.
fn push_text<'gc>(ctx: Context<'gc>, out: &mut String, v: Value<'gc>) {
    match v {
        Value::String(s) => out.push_str(&String::from_utf8_lossy(s.as_bytes())),
        Value::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Number(f) => out.push_str(&super::lua_number(f)),
        Value::Boolean(b) => out.push_str(if b { "true" } else { "false" }),
        Value::Nil => out.push_str("nil"),
        v if v.raw_eq(lua_stdlib::ext::null(ctx)) => out.push_str("userdata: NULL"),
        other => {
            let _ = match other.object_ptr() {
                Some(p) => write!(out, "{}: {p:p}", other.type_name()),
                None => write!(out, "{}", other.type_name()),
            };
        }
    }
}

/// Joins log arguments as Kong does (`tostring` of each, separated by
/// `sep`), stopping once longer than a log line can be.
fn join_with<'gc>(ctx: Context<'gc>, values: &[Value<'gc>], sep: &str) -> String {
    let mut out = String::new();
    for (i, &v) in values.iter().enumerate() {
        if out.len() > MAX_LINE {
            break;
        }
        if i > 0 {
            out.push_str(sep);
        }
        push_text(ctx, &mut out, v);
    }
    out
}

/// Joins log arguments as Kong does (tostring of each, no separator).
pub(crate) fn join_args<'gc>(ctx: Context<'gc>, stack: &Stack<'gc, '_>) -> String {
    join_with(ctx, stack.as_slice(), "")
}

/// One piece of a parsed format (Kong's `parse_modifiers`).
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    FileSrc,
    LineSrc,
    FuncName,
    Message,
}

/// A log format, `[kong] ` included.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Format(Vec<Piece>);

/// Kong's default format of a namespaced facility.
const NAMESPACED_FORMAT: &[u8] = b"%file_src:%line_src [%namespace] %message";

impl Format {
    /// Kong's `set_format`: `[kong] ` then `fmt` with `%namespace` replaced
    /// where a character other than `%` precedes it (Lua's `gsub` of
    /// `([^%%])%%namespace`), then split at each `%name` not preceded by
    /// `%` (`(?<!%)(%[a-z_]+)`): `%file_src`, `%line_src`, `%func_name`
    /// and `%message` are modifiers, anything else stays as written.
    fn new(fmt: &[u8], namespace: &[u8]) -> Format {
        const NS: &[u8] = b"%namespace";
        let mut text = b"[kong] ".to_vec();
        let mut i = 0;
        while i < fmt.len() {
            if fmt[i] != b'%' && fmt[i + 1..].starts_with(NS) {
                text.push(fmt[i]);
                text.extend_from_slice(namespace);
                i += 1 + NS.len();
            } else {
                text.push(fmt[i]);
                i += 1;
            }
        }
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut i = 0;
        while i < text.len() {
            let name_len = text[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_lowercase() || **b == b'_')
                .count();
            if text[i] == b'%' && (i == 0 || text[i - 1] != b'%') && name_len > 0 {
                let name = &text[i + 1..i + 1 + name_len];
                let piece = match name {
                    b"file_src" => Some(Piece::FileSrc),
                    b"line_src" => Some(Piece::LineSrc),
                    b"func_name" => Some(Piece::FuncName),
                    b"message" => Some(Piece::Message),
                    _ => None,
                };
                if let Some(p) = piece {
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(
                            String::from_utf8_lossy(&std::mem::take(&mut literal)).into_owned(),
                        ));
                    }
                    pieces.push(p);
                    i += 1 + name_len;
                    continue;
                }
                literal.extend_from_slice(&text[i..i + 1 + name_len]);
                i += 1 + name_len;
                continue;
            }
            literal.push(text[i]);
            i += 1;
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(String::from_utf8_lossy(&literal).into_owned()));
        }
        Format(pieces)
    }

    fn namespaced(namespace: &str) -> Format {
        Format::new(NAMESPACED_FORMAT, namespace.as_bytes())
    }

    fn render(&self, caller: &Caller, msg: &str) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::FileSrc => out.push_str(&caller.file),
                Piece::LineSrc => out.push_str(&caller.line),
                Piece::FuncName => out.push_str(&caller.func),
                Piece::Message => out.push_str(msg),
            }
        }
        out
    }
}

/// Where a log function was called from (Kong's `debug.getinfo` fields,
/// `?` when unknown).
struct Caller {
    file: String,
    line: String,
    func: String,
}

impl Caller {
    fn of(exec: &Execution<'_, '_>) -> Caller {
        let Some(info) = exec.debug_info(1) else {
            return Caller {
                file: "?".into(),
                line: "?".into(),
                func: "?".into(),
            };
        };
        // Kong's `%file_src`: `short_src` after its last `/`.
        let file = match info.short_src.rfind('/') {
            Some(i) => info.short_src[i + 1..].to_string(),
            None => info.short_src.clone(),
        };
        Caller {
            file,
            line: if info.current_line >= 0 {
                info.current_line.to_string()
            } else {
                "?".into()
            },
            func: info.name.map_or_else(|| "?".into(), |(_, n)| n),
        }
    }
}

/// What a facility's functions change: its format and whether `inspect`
/// writes.
#[derive(Clone)]
pub struct LogSettings {
    namespace: String,
    format: Rc<Format>,
    inspect: bool,
}

impl LogSettings {
    /// The settings of a plugin's `kong.log` (namespace: its name).
    pub(crate) fn for_plugin(name: &str) -> LogSettings {
        LogSettings::new(name.to_string(), Format::namespaced(name))
    }

    fn new(namespace: String, format: Format) -> LogSettings {
        LogSettings {
            namespace,
            format: Rc::new(format),
            inspect: true,
        }
    }
}

/// Where a facility keeps its settings.
#[derive(Clone)]
enum Owner {
    /// `kong.log`: in the current request, per plugin.
    Plugin(RequestCell),
    /// A facility from `kong.log.new`.
    Own(Rc<RefCell<LogSettings>>),
}

impl Owner {
    fn with<R>(&self, f: impl FnOnce(&mut LogSettings) -> R) -> R {
        match self {
            Owner::Own(s) => f(&mut s.borrow_mut()),
            Owner::Plugin(cell) => {
                let mut guard = cell.borrow_mut();
                match guard.as_mut() {
                    Some(req) => {
                        let (id, name) = (req.plugin_id, req.plugin_name);
                        f(req.lua_tables.log_settings(id, name))
                    }
                    None => f(&mut LogSettings::for_plugin("")),
                }
            }
        }
    }

    fn settings(&self) -> LogSettings {
        self.with(|s| s.clone())
    }
}

/// A facility's `LEVEL` function (`__call` of the facility passes itself
/// first when `via_call`).
fn level_fn<'gc>(ctx: Context<'gc>, owner: &Owner, level: Level, via_call: bool) -> Callback<'gc> {
    let owner = owner.clone();
    Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        if via_call && matches!(stack.get(0), Value::Table(_)) {
            stack.pop_front();
        }
        if level.enabled() {
            let format = owner.settings().format;
            let msg = join_args(ctx, &stack);
            write(level, &format.render(&Caller::of(&exec), &msg));
        }
        stack.clear();
        Ok(CallbackReturn::Return)
    })
}

/// `set_format(fmt)`: nil restores the namespaced default.
fn set_format_fn<'gc>(ctx: Context<'gc>, owner: &Owner) -> Callback<'gc> {
    let owner = owner.clone();
    Callback::from_fn(&ctx, move |ctx, _, mut stack| {
        let fmt = match stack.get(0) {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Nil | Value::Boolean(false) => NAMESPACED_FORMAT.to_vec(),
            _ => return Err(super::lua_error(ctx, "format must be a string")),
        };
        owner.with(|s| s.format = Rc::new(Format::new(&fmt, s.namespace.as_bytes())));
        stack.clear();
        Ok(CallbackReturn::Return)
    })
}

/// `inspect`: a table with `on` and `off`, called through `__call`.
fn inspect_table<'gc>(ctx: Context<'gc>, owner: &Owner) -> Table<'gc> {
    let t = ctx.new_table();
    for (name, on) in [("on", true), ("off", false)] {
        let owner = owner.clone();
        let f = Callback::from_fn(&ctx, move |_, _, mut stack| {
            owner.with(|s| s.inspect = on);
            stack.clear();
            Ok(CallbackReturn::Return)
        });
        let _ = t.set(ctx, name, f);
    }
    let owner = owner.clone();
    let call = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        stack.pop_front();
        let settings = owner.settings();
        if settings.inspect && Level::Notice.enabled() {
            let caller = Caller::of(&exec);
            let mut msg = String::new();
            for (i, v) in stack.iter().enumerate() {
                if i > 0 {
                    msg.push(' ');
                }
                super::inspect::inspect(ctx, v, &mut msg);
            }
            let head = format!(
                "[kong] {}:{}:{} [{}]",
                caller.file, caller.func, caller.line, settings.namespace
            );
            for line in boxed(&head, &msg) {
                write(Level::Notice, &line);
            }
        }
        stack.clear();
        Ok(CallbackReturn::Return)
    });
    let mt = ctx.new_table();
    let _ = mt.set(ctx, "__call", call);
    let _ = t.set_metatable(&ctx, Some(mt));
    t
}

/// Kong's inspect output: the head line ruled to the box's width, then the
/// message in lines of at most 120 characters between `|`, then a rule.
fn boxed(head: &str, msg: &str) -> Vec<String> {
    const WRAP: usize = 120;
    // Kong: `i` is the (1-based) index after the head's newline.
    let i = head.len() + 2;
    let mut lines = vec![format!(
        "{head}{}+",
        "-".repeat((WRAP + 3).saturating_sub(i))
    )];
    for part in msg.split('\n') {
        let chars: Vec<char> = part.chars().collect();
        for chunk in chars
            .chunks(WRAP)
            .chain(chars.is_empty().then_some(&[][..]))
        {
            let s: String = chunk.iter().collect();
            lines.push(format!("|{s}{}|", " ".repeat(WRAP - chunk.len())));
        }
    }
    lines.push(format!("+{}+", "-".repeat(WRAP)));
    lines
}

/// `deprecation`: `write(...)` logs at `warn`; calling it (`__call`)
/// takes a last table `{ after = v, removal = v, trace = bool }` as Kong's
/// `kong.deprecation` does.
fn deprecation_table<'gc>(ctx: Context<'gc>, owner: &Owner) -> Table<'gc> {
    let t = ctx.new_table();
    let _ = t.set(ctx, "write", level_fn(ctx, owner, Level::Warn, false));
    let owner = owner.clone();
    let call = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        stack.pop_front();
        let mut args: Vec<Value<'_>> = stack.iter().collect();
        let meta = match args.last() {
            Some(Value::Table(t)) => {
                let t = *t;
                args.pop();
                Some(t)
            }
            _ => None,
        };
        let mut msg = join_with(ctx, &args, "");
        if let Some(meta) = meta {
            let text = |k: &'static str| match meta.get(ctx, k) {
                Value::Nil => None,
                v => {
                    let mut s = String::new();
                    push_text(ctx, &mut s, v);
                    Some(s)
                }
            };
            let mut info = String::new();
            if let Some(after) = text("after") {
                info.push_str(&format!("deprecated after {after}"));
            }
            if let Some(removal) = text("removal") {
                if !info.is_empty() {
                    info.push_str(", ");
                }
                info.push_str(&format!("scheduled for removal in {removal}"));
            }
            if !info.is_empty() {
                msg.push_str(&format!(" ({info})"));
            }
            if meta.get(ctx, "trace").to_bool() {
                let trace = exec.traceback(ctx, None, 1);
                msg.push(' ');
                msg.push_str(trace.trim_start());
            }
        }
        if Level::Warn.enabled() {
            let format = owner.settings().format;
            write(Level::Warn, &format.render(&Caller::of(&exec), &msg));
        }
        stack.clear();
        Ok(CallbackReturn::Return)
    });
    let mt = ctx.new_table();
    let _ = mt.set(ctx, "__call", call);
    let _ = t.set_metatable(&ctx, Some(mt));
    t
}

/// `new(namespace, format)`: a facility of the function's own.
fn new_fn<'gc>(ctx: Context<'gc>, cell: &RequestCell) -> Callback<'gc> {
    let cell = cell.clone();
    Callback::from_fn(&ctx, move |ctx, _, mut stack| {
        let namespace = match stack.get(0) {
            Value::String(s) if s.as_bytes().is_empty() => {
                return Err(super::lua_error(ctx, "namespace cannot be an empty string"))
            }
            Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
            _ => return Err(super::lua_error(ctx, "namespace must be a string")),
        };
        let format = match stack.get(1) {
            Value::Nil | Value::Boolean(false) => Format::namespaced(&namespace),
            Value::String(s) if s.as_bytes().is_empty() => {
                return Err(super::lua_error(
                    ctx,
                    "format cannot be an empty string if specified",
                ))
            }
            Value::String(s) => Format::new(s.as_bytes(), namespace.as_bytes()),
            _ => {
                return Err(super::lua_error(
                    ctx,
                    "format must be a string if specified",
                ))
            }
        };
        let owner = Owner::Own(Rc::new(RefCell::new(LogSettings::new(namespace, format))));
        stack.replace(ctx, facility(ctx, &cell, &owner));
        Ok(CallbackReturn::Return)
    })
}

/// A logging facility: the level functions, `set_format`, `inspect`,
/// `deprecation`, `new`, `trace` (a no-op, as outside Kong's tests),
/// `serialize` and `set_serialize_value`; calling it logs at `notice`.
fn facility<'gc>(ctx: Context<'gc>, cell: &RequestCell, owner: &Owner) -> Table<'gc> {
    let t = ctx.new_table();
    for (name, level) in Level::ALL {
        let _ = t.set(ctx, name, level_fn(ctx, owner, level, false));
    }
    let _ = t.set(ctx, "set_format", set_format_fn(ctx, owner));
    let _ = t.set(ctx, "inspect", inspect_table(ctx, owner));
    let _ = t.set(ctx, "deprecation", deprecation_table(ctx, owner));
    let _ = t.set(ctx, "new", new_fn(ctx, cell));
    let _ = t.set(
        ctx,
        "trace",
        Callback::from_fn(&ctx, |_, _, mut stack| {
            stack.clear();
            Ok(CallbackReturn::Return)
        }),
    );
    super::serialize::install(ctx, t, cell);
    let mt = ctx.new_table();
    let _ = mt.set(ctx, "__call", level_fn(ctx, owner, Level::Notice, true));
    let _ = t.set_metatable(&ctx, Some(mt));
    t
}

pub fn install<'gc>(ctx: Context<'gc>, env: Table<'gc>, kong: Table<'gc>, cell: &RequestCell) {
    let owner = Owner::Plugin(cell.clone());
    super::set(ctx, kong, "log", facility(ctx, cell, &owner));
    // `print`: `[lua] place: [plugin] msg` at notice, as OpenResty's.
    let cell = cell.clone();
    let print = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        if Level::Notice.enabled() {
            let plugin = cell.borrow().as_ref().map(|r| r.plugin_name).unwrap_or("");
            let caller = Caller::of(&exec);
            emit(
                "notice",
                plugin,
                &format!("{}:{}", caller.file, caller.line),
                &join_args(ctx, &stack),
            );
        }
        stack.clear();
        Ok(CallbackReturn::Return)
    });
    super::set(ctx, env, "print", print);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(fmt: &str, ns: &str) -> String {
        let caller = Caller {
            file: "f.lua".into(),
            line: "7".into(),
            func: "my_func".into(),
        };
        Format::new(fmt.as_bytes(), ns.as_bytes()).render(&caller, "hello world")
    }

    /// Kong's `set_format` rules (t/01-pdk/02-log/03-set_format.t).
    #[test]
    fn formats_read_as_kong_reads_them() {
        assert_eq!(
            render("%file_src:%line_src [%namespace] %message", "ns"),
            "[kong] f.lua:7 [ns] hello world"
        );
        assert_eq!(render("a useless format", "ns"), "[kong] a useless format");
        assert_eq!(
            render("%message | %message", "ns"),
            "[kong] hello world | hello world"
        );
        assert_eq!(
            render(
                "%%namespace %%file_src %%func_name %%message %message",
                "ns"
            ),
            "[kong] %%namespace %%file_src %%func_name %%message hello world"
        );
        // Kong's gsub needs a character before `%namespace`.
        assert_eq!(
            render("%namespace %message", "ns"),
            "[kong] %namespace hello world"
        );
        assert_eq!(
            render("{%namespace} %func_name %messages", "ns"),
            "[kong] {ns} my_func %messages"
        );
    }

    #[test]
    fn a_line_stays_one_bounded_line() {
        assert_eq!(one_line("a\r\nb\x1b[0m\tc"), "a\\r\\nb\\x1b[0m\tc");
        let long = one_line(&"é".repeat(10_000));
        assert!(
            long.len() <= MAX_LINE && long.ends_with("..."),
            "{}",
            long.len()
        );
    }

    #[test]
    fn inspect_output_is_boxed_as_kongs() {
        let lines = boxed("[kong] f:g:1 [ns]", "{\n  a = 1\n}");
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("[kong] f:g:1 [ns]---") && lines[0].ends_with('+'));
        assert_eq!(lines[2], format!("|  a = 1{}|", " ".repeat(113)));
        assert_eq!(lines[4], format!("+{}+", "-".repeat(120)));
    }
}
