//! The `io` library of the command-line runner (`Full` profile only;
//! gateway functions get no `io`): `io.open close input output read
//! write lines type tmpfile`, the standard streams, and file methods
//! `read write lines seek flush setvbuf close`, with lua5.4's formats
//! (`n a l L` and counts) and messages. Standard output goes to the
//! environment's [`Output`], so it interleaves with `print`. `io.popen`
//! is refused (no processes through `io`).

use std::io::{Read, Seek, SeekFrom, Write};

use super::args::{
    arg_fail, check_integer, check_string, fail, opt_integer, opt_string, LibError, LibResult,
};
use super::base::Output;
use crate::{Callback, CallbackReturn, Context, Execution, Stack, Table, UserData, Value};

/// Bytes read from a file at a time.
const CHUNK: usize = 8192;

/// Registry keys of the default input and output files.
const INPUT: &str = "lua-stdlib.io.input";
const OUTPUT: &str = "lua-stdlib.io.output";
/// Registry key of the file metatable.
const FILE_META: &str = "lua-stdlib.io.FILE*";

enum Kind {
    Stdin,
    Stdout(Output),
    Stderr,
    Disk(std::fs::File),
}

/// An open (or closed) Lua file: the stream, what was read ahead of the
/// reader and what was written but not yet flushed.
struct LuaFile {
    kind: Kind,
    closed: bool,
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
    /// A standard stream: `close` refuses it, as lua5.4 does.
    standard: bool,
}

impl LuaFile {
    fn new(kind: Kind, standard: bool) -> LuaFile {
        LuaFile {
            kind,
            closed: false,
            rbuf: Vec::new(),
            rpos: 0,
            wbuf: Vec::new(),
            standard,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.wbuf.is_empty() {
            return match &mut self.kind {
                Kind::Disk(f) => f.flush(),
                Kind::Stdout(Output::Stdout) => std::io::stdout().flush(),
                _ => Ok(()),
            };
        }
        let data = std::mem::take(&mut self.wbuf);
        match &mut self.kind {
            Kind::Disk(f) => f.write_all(&data),
            Kind::Stdout(out) => {
                out.write(&data);
                if let Output::Stdout = out {
                    std::io::stdout().flush()?;
                }
                Ok(())
            }
            Kind::Stderr => std::io::stderr().write_all(&data),
            Kind::Stdin => Err(std::io::Error::from_raw_os_error(9)),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        // Unread input is given back before writing at the position.
        self.unread()?;
        match &mut self.kind {
            Kind::Stdin => return Err(std::io::Error::from_raw_os_error(9)),
            Kind::Stdout(out) => {
                // Unbuffered towards the sink, so it interleaves with print.
                out.write(bytes);
                return Ok(());
            }
            Kind::Stderr => return std::io::stderr().write_all(bytes),
            _ => {}
        }
        self.wbuf.extend_from_slice(bytes);
        if self.wbuf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Moves the OS position back over read-ahead bytes not consumed.
    fn unread(&mut self) -> std::io::Result<()> {
        let ahead = (self.rbuf.len() - self.rpos) as i64;
        if ahead > 0 {
            if let Kind::Disk(f) = &mut self.kind {
                f.seek(SeekFrom::Current(-ahead))?;
            }
        }
        self.rbuf.clear();
        self.rpos = 0;
        Ok(())
    }

    /// Reads more input; `false` at end of file.
    fn fill(&mut self) -> std::io::Result<bool> {
        self.flush()?;
        if self.rpos > 0 {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        let mut chunk = [0u8; CHUNK];
        let n = match &mut self.kind {
            Kind::Disk(f) => f.read(&mut chunk)?,
            Kind::Stdin => std::io::stdin().lock().read(&mut chunk)?,
            _ => return Err(std::io::Error::from_raw_os_error(9)),
        };
        self.rbuf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    fn peek(&mut self) -> std::io::Result<Option<u8>> {
        if self.rpos >= self.rbuf.len() && !self.fill()? {
            return Ok(None);
        }
        Ok(Some(self.rbuf[self.rpos]))
    }

    fn read_line(&mut self, keep_newline: bool) -> std::io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        loop {
            if self.rpos >= self.rbuf.len() && !self.fill()? {
                return Ok(if line.is_empty() { None } else { Some(line) });
            }
            let avail = &self.rbuf[self.rpos..];
            match avail.iter().position(|&c| c == b'\n') {
                Some(i) => {
                    line.extend_from_slice(&avail[..if keep_newline { i + 1 } else { i }]);
                    self.rpos += i + 1;
                    return Ok(Some(line));
                }
                None => {
                    line.extend_from_slice(avail);
                    self.rpos = self.rbuf.len();
                }
            }
        }
    }

    fn read_all(&mut self) -> std::io::Result<Vec<u8>> {
        let mut all = Vec::new();
        loop {
            all.extend_from_slice(&self.rbuf[self.rpos..]);
            self.rpos = self.rbuf.len();
            if all.len() > super::args::MAX_STRING {
                return Err(std::io::Error::other("not enough memory"));
            }
            if !self.fill()? {
                return Ok(all);
            }
        }
    }

    fn read_count(&mut self, n: usize) -> std::io::Result<Option<Vec<u8>>> {
        if n == 0 {
            // `read(0)`: "" unless at end of file.
            return Ok(self.peek()?.map(|_| Vec::new()));
        }
        let mut out = Vec::new();
        while out.len() < n {
            if self.rpos >= self.rbuf.len() && !self.fill()? {
                break;
            }
            let take = (n - out.len()).min(self.rbuf.len() - self.rpos);
            out.extend_from_slice(&self.rbuf[self.rpos..self.rpos + take]);
            self.rpos += take;
        }
        Ok(if out.is_empty() && n > 0 {
            None
        } else {
            Some(out)
        })
    }

    /// `read("n")`: a numeral as lua5.4's `read_number` accepts it.
    fn read_number(&mut self) -> std::io::Result<Option<crate::Number>> {
        while let Some(c) = self.peek()? {
            if !c.is_ascii_whitespace() {
                break;
            }
            self.rpos += 1;
        }
        let mut text = Vec::new();
        while text.len() < 200 {
            match self.peek()? {
                Some(c)
                    if c.is_ascii_hexdigit()
                        || matches!(c, b'x' | b'X' | b'.' | b'p' | b'P' | b'+' | b'-') =>
                {
                    // A sign only at the start or after an exponent mark.
                    if matches!(c, b'+' | b'-')
                        && !(text.is_empty()
                            || matches!(text.last(), Some(b'e' | b'E' | b'p' | b'P')))
                    {
                        break;
                    }
                    text.push(c);
                    self.rpos += 1;
                }
                _ => break,
            }
        }
        Ok(crate::number::str_to_number(&text))
    }

    fn seek(&mut self, whence: &[u8], offset: i64) -> std::io::Result<u64> {
        self.flush()?;
        self.unread()?;
        let pos = match whence {
            b"set" => SeekFrom::Start(offset.max(0) as u64),
            b"end" => SeekFrom::End(offset),
            _ => SeekFrom::Current(offset),
        };
        match &mut self.kind {
            Kind::Disk(f) => f.seek(pos),
            _ => Err(std::io::Error::from_raw_os_error(29)),
        }
    }
}

/// lua5.4's wording of an OS error (`strerror`).
fn reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "Is a directory".to_string(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

/// `luaL_fileresult` on failure: `nil, "[name: ]reason", errno`.
fn failure<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    name: Option<&str>,
    e: &std::io::Error,
) {
    let msg = match name {
        Some(n) => format!("{n}: {}", reason(e)),
        None => reason(e),
    };
    stack.replace(
        ctx,
        (
            Value::Nil,
            ctx.intern(msg.as_bytes()),
            e.raw_os_error().unwrap_or(0) as i64,
        ),
    );
}

fn file_meta<'gc>(ctx: Context<'gc>) -> Option<Table<'gc>> {
    match ctx.registry().get(ctx, FILE_META) {
        Value::Table(t) => Some(t),
        _ => None,
    }
}

fn new_file<'gc>(ctx: Context<'gc>, file: LuaFile) -> UserData<'gc> {
    let ud = UserData::new_static(&ctx, file);
    ud.set_metatable(&ctx, file_meta(ctx));
    ud
}

/// The file at stack index `i` (`luaL_checkudata(L, i, "FILE*")`).
fn to_file<'gc>(stack: &Stack<'gc, '_>, i: usize) -> LibResult<'gc, UserData<'gc>> {
    match stack.get(i) {
        Value::UserData(u) if u.downcast_static::<LuaFile>().is_some() => Ok(u),
        _ => super::args::type_error(stack, i, "FILE*"),
    }
}

/// Runs `f` on the open file `u` (`tofile`: `attempt to use a closed
/// file` when closed).
fn with_open<'gc, R>(u: UserData<'gc>, f: impl FnOnce(&mut LuaFile) -> R) -> LibResult<'gc, R> {
    let Some(mut file) = u.downcast_static_mut::<LuaFile>() else {
        return fail("attempt to use a closed file");
    };
    if file.closed {
        return fail("attempt to use a closed file");
    }
    Ok(f(&mut file))
}

/// Reads with the formats at `stack[first..]` (`g_read`): the values, with
/// nil (fail) for the first format that finds nothing.
fn read_formats<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &Stack<'gc, '_>,
    file: &mut LuaFile,
    first: usize,
) -> LibResult<'gc, Result<Vec<Value<'gc>>, std::io::Error>> {
    let mut formats: Vec<Value<'gc>> = stack.iter().skip(first).collect();
    if formats.is_empty() {
        formats.push(Value::String(ctx.intern(b"l")));
    }
    let mut out = Vec::new();
    for (k, fmt) in formats.iter().enumerate() {
        let r = match fmt {
            Value::Integer(_) | Value::Number(_) => {
                let n = check_integer(stack, first + k)?;
                file.read_count(n.max(0) as usize)
                    .map(|v| v.map(|b| Value::String(ctx.intern(&b))))
            }
            Value::String(s) => {
                let spec = s.as_bytes();
                let spec = spec.strip_prefix(b"*").unwrap_or(spec);
                match spec.first() {
                    Some(b'n') => file.read_number().map(|n| {
                        n.map(Value::from)
                            .or(Some(Value::Nil))
                            .filter(|v| !v.is_nil())
                    }),
                    Some(b'l') => file
                        .read_line(false)
                        .map(|v| v.map(|b| Value::String(ctx.intern(&b)))),
                    Some(b'L') => file
                        .read_line(true)
                        .map(|v| v.map(|b| Value::String(ctx.intern(&b)))),
                    Some(b'a') => file.read_all().map(|b| Some(Value::String(ctx.intern(&b)))),
                    _ => return arg_fail(first + k, "invalid format"),
                }
            }
            _ => return arg_fail(first + k, "invalid format"),
        };
        match r {
            Ok(Some(v)) => {
                if let Value::String(s) = v {
                    super::args::charge(exec, s.len());
                }
                out.push(v);
            }
            Ok(None) => {
                out.push(Value::Nil);
                break;
            }
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(out))
}

fn finish_read<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    r: Result<Vec<Value<'gc>>, std::io::Error>,
) {
    match r {
        Ok(values) => {
            stack.clear();
            stack.extend(values);
        }
        Err(e) => failure(ctx, stack, None, &e),
    }
}

fn f_read<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let u = to_file(stack, 0)?;
    let r = {
        let Some(mut file) = u.downcast_static_mut::<LuaFile>() else {
            return fail("attempt to use a closed file");
        };
        if file.closed {
            return fail("attempt to use a closed file");
        }
        read_formats(ctx, exec, stack, &mut file, 1)?
    };
    finish_read(ctx, stack, r);
    Ok(CallbackReturn::Return)
}

fn write_to<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    u: UserData<'gc>,
    first: usize,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let mut bytes = Vec::new();
    for i in first..stack.len() {
        bytes.extend_from_slice(check_string(ctx, stack, i)?.as_bytes());
    }
    match with_open(u, |f| f.write(&bytes))? {
        Ok(()) => stack.replace(ctx, u),
        Err(e) => failure(ctx, stack, None, &e),
    }
    Ok(CallbackReturn::Return)
}

fn f_write<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let u = to_file(stack, 0)?;
    write_to(ctx, stack, u, 1)
}

fn close_file<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    u: UserData<'gc>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let r = with_open(u, |f| {
        if f.standard {
            return Err(None);
        }
        let r = f.flush();
        f.closed = true;
        f.kind = Kind::Stdin;
        f.rbuf = Vec::new();
        r.map_err(Some)
    })?;
    match r {
        Ok(()) => stack.replace(ctx, true),
        Err(None) => stack.replace(ctx, (Value::Nil, "cannot close standard file")),
        Err(Some(e)) => failure(ctx, stack, None, &e),
    }
    Ok(CallbackReturn::Return)
}

fn f_close<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let u = to_file(stack, 0)?;
    close_file(ctx, stack, u)
}

fn f_flush<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let u = to_file(stack, 0)?;
    match with_open(u, |f| f.flush())? {
        Ok(()) => stack.replace(ctx, u),
        Err(e) => failure(ctx, stack, None, &e),
    }
    Ok(CallbackReturn::Return)
}

fn f_seek<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let u = to_file(stack, 0)?;
    let whence = opt_string(ctx, stack, 1)?
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_else(|| b"cur".to_vec());
    if !matches!(&whence[..], b"set" | b"cur" | b"end") {
        return arg_fail(
            1,
            format!("invalid option '{}'", String::from_utf8_lossy(&whence)),
        );
    }
    let offset = opt_integer(stack, 2, 0)?;
    match with_open(u, |f| f.seek(&whence, offset))? {
        Ok(pos) => stack.replace(ctx, pos as i64),
        Err(e) => failure(ctx, stack, None, &e),
    }
    Ok(CallbackReturn::Return)
}

fn f_setvbuf<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let u = to_file(stack, 0)?;
    let mode = check_string(ctx, stack, 1)?;
    if !matches!(mode.as_bytes(), b"no" | b"full" | b"line") {
        return arg_fail(1, format!("invalid option '{mode}'"));
    }
    with_open(u, |_| ())?;
    stack.replace(ctx, true);
    Ok(CallbackReturn::Return)
}

fn f_tostring<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let u = to_file(stack, 0)?;
    let closed = u.downcast_static::<LuaFile>().is_none_or(|f| f.closed);
    let text = if closed {
        "file (closed)".to_string()
    } else {
        format!("file ({:p})", u.as_ptr())
    };
    stack.replace(ctx, ctx.intern(text.as_bytes()));
    Ok(CallbackReturn::Return)
}

/// `__close`/`__gc`: closes a file left open (errors ignored); anything
/// but a file is a bad argument, as `luaL_checkudata` says.
fn f_gc<'gc>(
    _: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let u = to_file(stack, 0)?;
    if let Some(mut f) = u.downcast_static_mut::<LuaFile>() {
        if !f.closed && !f.standard {
            let _ = f.flush();
            f.closed = true;
            f.kind = Kind::Stdin;
        }
    }
    stack.clear();
    Ok(CallbackReturn::Return)
}

/// The iterator `lines` returns: reads with its formats; at end of file it
/// closes the file when `lines` opened it.
fn lines_iterator<'gc>(
    ctx: Context<'gc>,
    file: UserData<'gc>,
    formats: Vec<Value<'gc>>,
    close_at_eof: bool,
) -> Callback<'gc> {
    Callback::from_fn_with(
        &ctx,
        (file, formats),
        move |(file, formats), ctx, mut exec, mut stack| {
            let run = |stack: &mut Stack<'gc, '_>, exec: &mut Execution<'gc, '_>| {
                stack.clear();
                stack.push_back(*file);
                stack.extend(formats.iter().copied());
                let r = {
                    let Some(mut f) = file.downcast_static_mut::<LuaFile>() else {
                        return fail("file is already closed");
                    };
                    if f.closed {
                        return fail("file is already closed");
                    }
                    read_formats(ctx, exec, stack, &mut f, 1)?
                };
                match r {
                    Ok(values) => {
                        let eof = values.first().is_none_or(|v| v.is_nil());
                        if eof && close_at_eof {
                            if let Some(mut f) = file.downcast_static_mut::<LuaFile>() {
                                let _ = f.flush();
                                f.closed = true;
                                f.kind = Kind::Stdin;
                            }
                        }
                        stack.clear();
                        stack.extend(values);
                        Ok(())
                    }
                    Err(e) => fail(reason(&e)),
                }
            };
            run(&mut stack, &mut exec).map_err(|e| e.into_error(ctx, &exec, "lines"))?;
            Ok(CallbackReturn::Return)
        },
    )
}

fn f_lines<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let u = to_file(stack, 0)?;
    with_open(u, |_| ())?;
    let formats: Vec<Value<'gc>> = stack.iter().skip(1).collect();
    if formats.len() > 250 {
        return arg_fail(251, "too many arguments");
    }
    let it = lines_iterator(ctx, u, formats, false);
    stack.replace(ctx, it);
    Ok(CallbackReturn::Return)
}

/// Opens `name` with a C `fopen` mode.
fn open(name: &str, mode: &[u8]) -> std::io::Result<std::fs::File> {
    let plus = mode.contains(&b'+');
    let mut o = std::fs::OpenOptions::new();
    match mode.first() {
        Some(b'r') => o.read(true).write(plus),
        Some(b'w') => o.write(true).create(true).truncate(true).read(plus),
        _ => o.append(true).create(true).read(plus),
    };
    o.open(name)
}

/// `l_checkmode`: `[rwa]%+?b*`.
fn valid_mode(mode: &[u8]) -> bool {
    let mut rest = match mode.split_first() {
        Some((b'r' | b'w' | b'a', rest)) => rest,
        _ => return false,
    };
    if let Some(r) = rest.strip_prefix(b"+") {
        rest = r;
    }
    rest.iter().all(|&c| c == b'b')
}

fn io_open<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let name = check_string(ctx, stack, 0)?.to_string();
    let mode = opt_string(ctx, stack, 1)?
        .map(|m| m.as_bytes().to_vec())
        .unwrap_or_else(|| b"r".to_vec());
    if !valid_mode(&mode) {
        return arg_fail(1, "invalid mode");
    }
    match open(&name, &mode) {
        Ok(f) => {
            let ud = new_file(ctx, LuaFile::new(Kind::Disk(f), false));
            stack.replace(ctx, ud);
        }
        Err(e) => failure(ctx, stack, Some(&name), &e),
    }
    Ok(CallbackReturn::Return)
}

fn io_tmpfile<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let dir = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for k in 0..100u32 {
        let path = dir.join(format!(
            "lua_tmp_{}_{:08x}",
            std::process::id(),
            nanos.wrapping_add(k)
        ));
        if let Ok(f) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            // Removed at once: the open file lives on, as tmpfile(3)'s does.
            let _ = std::fs::remove_file(&path);
            stack.replace(ctx, new_file(ctx, LuaFile::new(Kind::Disk(f), false)));
            return Ok(CallbackReturn::Return);
        }
    }
    fail("unable to create a temporary file")
}

fn default_file<'gc>(ctx: Context<'gc>, key: &'static str) -> LibResult<'gc, UserData<'gc>> {
    match ctx.registry().get(ctx, key) {
        Value::UserData(u) => Ok(u),
        _ => fail("default file is not set"),
    }
}

/// `io.input`/`io.output`: sets the default file from a name or a file,
/// returns the current one.
fn set_default<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    key: &'static str,
    mode: &[u8],
) -> LibResult<'gc, CallbackReturn<'gc>> {
    match stack.get(0) {
        Value::Nil => {}
        Value::String(s) => {
            let name = s.to_string();
            let f = open(&name, mode).map_err(|e| {
                LibError::Msg(format!("cannot open file '{name}' ({})", reason(&e)))
            })?;
            let ud = new_file(ctx, LuaFile::new(Kind::Disk(f), false));
            let _ = ctx.registry().set(ctx, key, ud);
        }
        _ => {
            let u = to_file(stack, 0)?;
            with_open(u, |_| ())?;
            let _ = ctx.registry().set(ctx, key, u);
        }
    }
    let current = default_file(ctx, key)?;
    stack.replace(ctx, current);
    Ok(CallbackReturn::Return)
}

fn io_input<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    set_default(ctx, stack, INPUT, b"r")
}

fn io_output<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    set_default(ctx, stack, OUTPUT, b"w")
}

fn io_read<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let u = default_file(ctx, INPUT)?;
    stack.push_front(u);
    f_read(ctx, exec, stack)
}

fn io_write<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let u = default_file(ctx, OUTPUT)?;
    write_to(ctx, stack, u, 0)
}

fn io_close<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let u = if stack.get(0).is_nil() {
        default_file(ctx, OUTPUT)?
    } else {
        to_file(stack, 0)?
    };
    close_file(ctx, stack, u)
}

fn io_flush<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let u = default_file(ctx, OUTPUT)?;
    match with_open(u, |f| f.flush())? {
        Ok(()) => stack.replace(ctx, u),
        Err(e) => failure(ctx, stack, None, &e),
    }
    Ok(CallbackReturn::Return)
}

fn io_lines<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let formats: Vec<Value<'gc>> = stack.iter().skip(1).collect();
    let (u, close) = match stack.get(0) {
        Value::Nil => {
            let u = default_file(ctx, INPUT)?;
            with_open(u, |_| ())?;
            (u, false)
        }
        _ => {
            let name = check_string(ctx, stack, 0)?.to_string();
            let f = open(&name, b"r").map_err(|e| {
                LibError::Msg(format!("cannot open file '{name}' ({})", reason(&e)))
            })?;
            (new_file(ctx, LuaFile::new(Kind::Disk(f), false)), true)
        }
    };
    let it = lines_iterator(ctx, u, formats, close);
    // lua5.4 returns the iterator, nil, nil and the file (to close it).
    if close {
        stack.replace(ctx, (it, Value::Nil, Value::Nil, u));
    } else {
        stack.replace(ctx, it);
    }
    Ok(CallbackReturn::Return)
}

fn io_type<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    super::args::check_any(stack, 0)?;
    let r = match stack.get(0) {
        Value::UserData(u) => match u.downcast_static::<LuaFile>() {
            Some(f) if f.closed => Value::String(ctx.intern(b"closed file")),
            Some(_) => Value::String(ctx.intern(b"file")),
            None => Value::Nil,
        },
        _ => Value::Nil,
    };
    stack.replace(ctx, r);
    Ok(CallbackReturn::Return)
}

fn io_popen<'gc>(
    _: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    _: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    fail("'popen' not supported")
}

/// Builds the `io` table; standard output writes to `out`.
pub fn load_io<'gc>(ctx: Context<'gc>, out: Output) -> Table<'gc> {
    let methods = ctx.new_table();
    // Methods are not reachable from the loaded libraries: argument
    // errors name them '?' unless the call names them (as lua5.4's
    // `pushglobalfuncname` finds nothing).
    let m = |name: &'static str, f: super::args::LibFn| {
        let _ = methods.set(ctx, name, super::args::lib_fn(ctx, "?", f));
    };
    m("read", f_read);
    m("write", f_write);
    m("lines", f_lines);
    m("close", f_close);
    m("flush", f_flush);
    m("seek", f_seek);
    m("setvbuf", f_setvbuf);
    let meta = ctx.new_table();
    let _ = meta.set(ctx, "__index", methods);
    let _ = meta.set(ctx, "__name", "FILE*");
    let _ = meta.set(
        ctx,
        "__tostring",
        super::args::lib_fn(ctx, "tostring", f_tostring),
    );
    // no global name: called from a C function its errors say `to '?'`
    let gc = super::args::lib_fn(ctx, "?", f_gc);
    let _ = meta.set(ctx, "__gc", gc);
    let _ = meta.set(ctx, "__close", gc);
    let _ = ctx.registry().set(ctx, FILE_META, meta);

    let io = ctx.new_table();
    let f = |name: &'static str, func: super::args::LibFn| super::args::set_fn(ctx, io, name, func);
    f("io.open", io_open);
    f("io.close", io_close);
    f("io.read", io_read);
    f("io.write", io_write);
    f("io.lines", io_lines);
    f("io.input", io_input);
    f("io.output", io_output);
    f("io.flush", io_flush);
    f("io.type", io_type);
    f("io.tmpfile", io_tmpfile);
    f("io.popen", io_popen);
    let stdin = new_file(ctx, LuaFile::new(Kind::Stdin, true));
    let stdout = new_file(ctx, LuaFile::new(Kind::Stdout(out), true));
    let stderr = new_file(ctx, LuaFile::new(Kind::Stderr, true));
    let _ = io.set(ctx, "stdin", stdin);
    let _ = io.set(ctx, "stdout", stdout);
    let _ = io.set(ctx, "stderr", stderr);
    let _ = ctx.registry().set(ctx, INPUT, stdin);
    let _ = ctx.registry().set(ctx, OUTPUT, stdout);
    io
}
