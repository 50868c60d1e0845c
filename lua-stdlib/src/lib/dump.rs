//! `string.dump` and the binary chunks `load` accepts.
//!
//! A binary chunk starts with lua5.4's header (signature, version 0x54,
//! format 0, `LUAC_DATA`, the instruction, integer and float sizes,
//! `LUAC_INT` and `LUAC_NUM`), so code that inspects it sees what it
//! expects. The rest is our own layout of a compiled [`Proto`], followed by
//! a keyed hash (SipHash with a key drawn once per process). `load` takes
//! only chunks whose hash checks: bytecode that this process's compiler did
//! not produce (corrupted or forged) is refused before it is read, so the
//! VM never runs instructions that could index past its registers or
//! constants. A chunk dumped by another process is refused the same way
//! (`bad binary format`).

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};

use super::args::{check_function, fail, LibResult};
use crate::vm::closure::{Constant, LocVar, Proto, UpvalDesc};
use crate::{CallbackReturn, Context, Execution, Function, Stack};

/// lua5.4's header: signature, version, format, `LUAC_DATA`, sizes of an
/// instruction, an integer and a float.
const HEADER: &[u8] = b"\x1bLua\x54\x00\x19\x93\r\n\x1a\n\x04\x08\x08";
const LUAC_INT: i64 = 0x5678;
const LUAC_NUM: f64 = 370.5;

/// Nesting of function prototypes a chunk may have (the compiler's own
/// limit is far below).
const MAX_DEPTH: usize = 200;

fn key() -> &'static std::collections::hash_map::RandomState {
    static KEY: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    KEY.get_or_init(std::collections::hash_map::RandomState::new)
}

fn mac(bytes: &[u8]) -> u64 {
    let mut h = key().build_hasher();
    h.write(bytes);
    h.finish()
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

fn put_proto(out: &mut Vec<u8>, p: &Proto, strip: bool) {
    put_u32(out, p.code.len() as u32);
    for &i in &p.code {
        put_u32(out, i);
    }
    put_u32(out, p.constants.len() as u32);
    for c in &p.constants {
        match c {
            Constant::Nil => out.push(0),
            Constant::Boolean(b) => out.extend_from_slice(&[1, *b as u8]),
            Constant::Integer(i) => {
                out.push(2);
                out.extend_from_slice(&i.to_le_bytes());
            }
            Constant::Number(f) => {
                out.push(3);
                out.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            Constant::String(s) => {
                out.push(4);
                put_bytes(out, s);
            }
        }
    }
    put_u32(out, p.protos.len() as u32);
    for child in &p.protos {
        put_proto(out, child, strip);
    }
    put_u32(out, p.upvalues.len() as u32);
    for u in &p.upvalues {
        out.extend_from_slice(&[u.in_stack as u8, u.index]);
        put_bytes(out, if strip { b"" } else { &u.name });
    }
    out.extend_from_slice(&[p.num_params, p.is_vararg as u8, p.max_stack]);
    let lines: &[u32] = if strip { &[] } else { &p.lines };
    put_u32(out, lines.len() as u32);
    for &l in lines {
        put_u32(out, l);
    }
    let locals: &[LocVar] = if strip { &[] } else { &p.local_vars };
    put_u32(out, locals.len() as u32);
    for l in locals {
        put_bytes(out, &l.name);
        put_u32(out, l.start_pc);
        put_u32(out, l.end_pc);
    }
    let (source, chunk_name) = if strip {
        ("?", "=?")
    } else {
        (&*p.source, &*p.chunk_name)
    };
    put_bytes(out, source.as_bytes());
    put_bytes(out, chunk_name.as_bytes());
    put_u32(out, p.line_defined);
    put_u32(out, p.last_line_defined);
}

/// The binary chunk of `p` (`string.dump`); `strip` drops debug
/// information (lines, local and upvalue names, the source name).
pub fn dump(p: &Proto, strip: bool) -> Vec<u8> {
    let mut out = HEADER.to_vec();
    out.extend_from_slice(&LUAC_INT.to_le_bytes());
    out.extend_from_slice(&LUAC_NUM.to_bits().to_le_bytes());
    out.push(p.upvalues.len().min(255) as u8);
    // Total length (header included, hash excluded), then the body.
    let len_at = out.len();
    out.extend_from_slice(&0u64.to_le_bytes());
    put_proto(&mut out, p, strip);
    let total = out.len() as u64;
    out[len_at..len_at + 8].copy_from_slice(&total.to_le_bytes());
    let m = mac(&out);
    out.extend_from_slice(&m.to_le_bytes());
    out
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], &'static str> {
        let end = self.at.checked_add(n).ok_or("corrupted chunk")?;
        let s = self.b.get(self.at..end).ok_or("truncated chunk")?;
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    /// A count of items of at least `min` bytes each that fit in what is left.
    fn count(&mut self, min: usize) -> Result<usize, &'static str> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min) > self.b.len() - self.at {
            return Err("corrupted chunk");
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<Box<[u8]>, &'static str> {
        let n = self.count(1)?;
        Ok(self.take(n)?.into())
    }

    fn text(&mut self) -> Result<Arc<str>, &'static str> {
        let b = self.bytes()?;
        Ok(Arc::from(String::from_utf8_lossy(&b).as_ref()))
    }

    fn proto(&mut self, depth: usize) -> Result<Proto, &'static str> {
        if depth > MAX_DEPTH {
            return Err("corrupted chunk");
        }
        let n = self.count(4)?;
        let mut code = Vec::with_capacity(n);
        for _ in 0..n {
            code.push(self.u32()?);
        }
        let n = self.count(1)?;
        let mut constants = Vec::with_capacity(n);
        for _ in 0..n {
            constants.push(match self.u8()? {
                0 => Constant::Nil,
                1 => Constant::Boolean(self.u8()? != 0),
                2 => Constant::Integer(self.u64()? as i64),
                3 => Constant::Number(f64::from_bits(self.u64()?)),
                4 => Constant::String(self.bytes()?),
                _ => return Err("corrupted chunk"),
            });
        }
        let n = self.count(1)?;
        let mut protos = Vec::with_capacity(n);
        for _ in 0..n {
            protos.push(Arc::new(self.proto(depth + 1)?));
        }
        let n = self.count(2)?;
        let mut upvalues = Vec::with_capacity(n);
        for _ in 0..n {
            let in_stack = self.u8()? != 0;
            let index = self.u8()?;
            let name = self.bytes()?;
            upvalues.push(UpvalDesc {
                in_stack,
                index,
                name,
            });
        }
        let num_params = self.u8()?;
        let is_vararg = self.u8()? != 0;
        let max_stack = self.u8()?;
        let n = self.count(4)?;
        let mut lines = Vec::with_capacity(n);
        for _ in 0..n {
            lines.push(self.u32()?);
        }
        let n = self.count(12)?;
        let mut local_vars = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.bytes()?;
            let start_pc = self.u32()?;
            let end_pc = self.u32()?;
            local_vars.push(LocVar {
                name,
                start_pc,
                end_pc,
            });
        }
        let source = self.text()?;
        let chunk_name = self.text()?;
        let line_defined = self.u32()?;
        let last_line_defined = self.u32()?;
        Ok(Proto {
            code,
            constants,
            protos,
            upvalues,
            num_params,
            is_vararg,
            max_stack,
            lines,
            local_vars,
            source,
            chunk_name,
            line_defined,
            last_line_defined,
        })
    }
}

/// Reads a binary chunk made by [`dump`] in this process; the error is
/// lua5.4's `chunk: bad binary format (reason)`.
pub fn undump(bytes: &[u8], chunk_name: &str) -> Result<Arc<Proto>, String> {
    // As lundump.c names the chunk in its messages.
    let id = match chunk_name.as_bytes().first() {
        Some(b'@' | b'=') => &chunk_name[1..],
        Some(0x1b) => "binary string",
        _ => chunk_name,
    };
    let bad = |why: &str| format!("{id}: bad binary format ({why})");
    let mut r = Reader { b: bytes, at: 0 };
    let header = r.take(HEADER.len()).map_err(bad)?;
    if header[..4] != HEADER[..4] {
        return Err(bad("not a binary chunk"));
    }
    if header[4] != HEADER[4] {
        return Err(bad("version mismatch"));
    }
    if header != HEADER {
        return Err(bad("format mismatch"));
    }
    if r.u64().map_err(bad)? as i64 != LUAC_INT {
        return Err(bad("integer format mismatch"));
    }
    if f64::from_bits(r.u64().map_err(bad)?) != LUAC_NUM {
        return Err(bad("float format mismatch"));
    }
    let _nupvalues = r.u8().map_err(bad)?;
    let total = r.u64().map_err(bad)?;
    if (bytes.len() as u64) < total.saturating_add(8) {
        return Err(bad("truncated chunk"));
    }
    let total = total as usize;
    if bytes.len() != total + 8 || total < r.at {
        return Err(bad("corrupted chunk"));
    }
    let mut m = [0u8; 8];
    m.copy_from_slice(&bytes[total..]);
    if mac(&bytes[..total]) != u64::from_le_bytes(m) {
        return Err(bad("chunk not made by this process"));
    }
    let mut body = Reader {
        b: &bytes[..total],
        at: r.at,
    };
    let p = body.proto(0).map_err(bad)?;
    if body.at != total {
        return Err(bad("corrupted chunk"));
    }
    Ok(Arc::new(p))
}

/// `string.dump(f [, strip])`.
pub fn str_dump<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let f = check_function(stack, 0)?;
    let strip = stack.get(1).to_bool();
    let Function::Closure(c) = f else {
        return fail("unable to dump given function");
    };
    let bytes = dump(&c.fproto().proto, strip);
    super::args::charge(exec, bytes.len());
    stack.replace(ctx, ctx.intern(&bytes));
    Ok(CallbackReturn::Return)
}
