//! The `ngx` codecs Kong functions use: `encode_args decode_args md5
//! md5_bin sha1_bin hmac_sha1 crc32_short crc32_long encode_base64
//! decode_base64 escape_uri unescape_uri quote_sql_str` ([`load_ngx_codecs`],
//! fields for the `ngx` table) and lua-resty-core's `ngx.base64`
//! (`encode_base64url`, `decode_base64url`: [`load_ngx_base64`]).
//!
//! Each behaves as lua-nginx-module 0.10.x with lua-resty-core does (the
//! tests compare with it): `nil` reads as `""` where OpenResty does so,
//! numbers as their text, nginx's escaping tables, its lenient base64
//! decoder, `decode_args`'s 100-argument default limit (`"truncated"` as
//! the second result). Work is charged per byte.

use base64::Engine as _;
use hmac::Mac as _;

use crate::lib::args::{
    charge, check_integer, check_string_size, lib_fn, plain_tostring, type_error, LibError, LibFn,
    LibResult,
};
use crate::number::{number_to_string, Number};
use crate::{CallbackReturn, Context, Execution, Stack, String, Table, Value};

/// The codec functions, to be set as fields of `ngx`.
pub fn load_ngx_codecs<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let t = ctx.new_table();
    let fns: [(&'static str, LibFn); 13] = [
        ("encode_args", encode_args),
        ("decode_args", decode_args),
        ("md5", digest::<md5::Md5, true>),
        ("md5_bin", digest::<md5::Md5, false>),
        ("sha1_bin", digest::<sha1::Sha1, false>),
        ("hmac_sha1", hmac_sha1),
        ("crc32_short", crc32),
        ("crc32_long", crc32),
        ("encode_base64", encode_base64),
        ("decode_base64", decode_base64),
        ("escape_uri", escape_uri),
        ("unescape_uri", unescape_uri),
        ("quote_sql_str", quote_sql_str),
    ];
    for (name, f) in fns {
        let _ = t.set(ctx, name, lib_fn(ctx, name, f));
    }
    t
}

/// `require "ngx.base64"` (lua-resty-core): URL-safe base64 without
/// padding.
pub fn load_ngx_base64<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let t = ctx.new_table();
    let _ = t.set(
        ctx,
        "encode_base64url",
        lib_fn(ctx, "encode_base64url", encode_base64url),
    );
    let _ = t.set(
        ctx,
        "decode_base64url",
        lib_fn(ctx, "decode_base64url", decode_base64url),
    );
    t
}

fn ret<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    bytes: &[u8],
) -> LibResult<'gc, CallbackReturn<'gc>> {
    check_string_size(ctx, bytes.len())?;
    stack.replace(ctx, ctx.intern(bytes));
    Ok(CallbackReturn::Return)
}

/// A string argument where OpenResty reads `nil` as `""` and numbers as
/// their text; other types fail as `luaL_checklstring` does.
fn bytes_or_empty<'gc>(
    ctx: Context<'gc>,
    stack: &Stack<'gc, '_>,
    i: usize,
) -> LibResult<'gc, Option<String<'gc>>> {
    match stack.get(i) {
        Value::Nil => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Integer(n) => Ok(Some(
            ctx.intern(number_to_string(Number::Int(n)).as_bytes()),
        )),
        Value::Number(f) => Ok(Some(
            ctx.intern(number_to_string(Number::Float(f)).as_bytes()),
        )),
        _ => type_error(stack, i, "string"),
    }
}

fn input<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &Stack<'gc, '_>,
    i: usize,
) -> LibResult<'gc, Vec<u8>> {
    let v = bytes_or_empty(ctx, stack, i)?.map_or_else(Vec::new, |s| s.as_bytes().to_vec());
    charge(exec, v.len());
    Ok(v)
}

/// A required string argument (numbers converted).
fn required<'gc>(
    ctx: Context<'gc>,
    stack: &Stack<'gc, '_>,
    i: usize,
) -> LibResult<'gc, String<'gc>> {
    match bytes_or_empty(ctx, stack, i)? {
        Some(s) => Ok(s),
        None => type_error(stack, i, "string"),
    }
}

/// `ngx.md5` (`HEX`), `ngx.md5_bin`, `ngx.sha1_bin`: the digest of the
/// argument, as hex digits or bytes.
fn digest<'gc, D: md5::Digest, const HEX: bool>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let data = input(ctx, exec, stack, 0)?;
    let digest = D::digest(&data);
    if HEX {
        ret(ctx, stack, hex(&digest).as_bytes())
    } else {
        ret(ctx, stack, &digest)
    }
}

fn hmac_sha1<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let key = required(ctx, stack, 0)?;
    let data = required(ctx, stack, 1)?;
    charge(exec, key.len() + data.len());
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes())
        .map_err(|e| LibError::Msg(e.to_string()))?;
    mac.update(data.as_bytes());
    ret(ctx, stack, &mac.finalize().into_bytes())
}

fn crc32<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let data = input(ctx, exec, stack, 0)?;
    stack.replace(ctx, crc32fast::hash(&data) as i64);
    Ok(CallbackReturn::Return)
}

fn hex(bytes: &[u8]) -> std::string::String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = std::string::String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn encode_base64<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let data = input(ctx, exec, stack, 0)?;
    let no_pad = stack.get(1).to_bool();
    let engine = if no_pad {
        base64::engine::general_purpose::STANDARD_NO_PAD
    } else {
        base64::engine::general_purpose::STANDARD
    };
    check_string_size(ctx, data.len() / 3 * 4 + 4)?;
    ret(ctx, stack, engine.encode(&data).as_bytes())
}

/// nginx's `ngx_decode_base64`: the text up to the first `=` must be
/// base64 characters and not one past a multiple of 4; padding is
/// optional.
fn nginx_base64_decode(s: &[u8], url: bool) -> Option<Vec<u8>> {
    let end = s.iter().position(|&c| c == b'=').unwrap_or(s.len());
    let body = &s[..end];
    let valid = |c: u8| {
        c.is_ascii_alphanumeric()
            || if url {
                c == b'-' || c == b'_'
            } else {
                c == b'+' || c == b'/'
            }
    };
    if body.len() % 4 == 1 || !body.iter().all(|&c| valid(c)) {
        return None;
    }
    // nginx ignores the low bits a strict decoder rejects.
    let alphabet = if url {
        base64::alphabet::URL_SAFE
    } else {
        base64::alphabet::STANDARD
    };
    let engine = base64::engine::GeneralPurpose::new(
        &alphabet,
        base64::engine::GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    );
    engine.decode(body).ok()
}

fn decode_base64<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let Value::String(s) = stack.get(0) else {
        return Err(LibError::Msg("string argument only".into()));
    };
    charge(exec, s.len());
    match nginx_base64_decode(s.as_bytes(), false) {
        Some(out) => ret(ctx, stack, &out),
        None => {
            stack.replace(ctx, Value::Nil);
            Ok(CallbackReturn::Return)
        }
    }
}

fn encode_base64url<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let Value::String(s) = stack.get(0) else {
        return Err(LibError::Msg("must provide a string".into()));
    };
    charge(exec, s.len());
    check_string_size(ctx, s.len() / 3 * 4 + 4)?;
    let out = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.as_bytes());
    ret(ctx, stack, out.as_bytes())
}

fn decode_base64url<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let Value::String(s) = stack.get(0) else {
        return Err(LibError::Msg("must provide a string".into()));
    };
    charge(exec, s.len());
    match nginx_base64_decode(s.as_bytes(), true) {
        Some(out) => ret(ctx, stack, &out),
        None => {
            stack.replace(ctx, (Value::Nil, "invalid input"));
            Ok(CallbackReturn::Return)
        }
    }
}

/// nginx's `ngx_escape_uri` tables as lua-nginx-module uses them:
/// whether byte `c` is escaped in mode `kind` (0: URI, 2: URI component,
/// also what `encode_args` uses).
fn escaped(c: u8, kind: i64) -> bool {
    if c <= 0x20 || c >= 0x7f {
        return true;
    }
    if kind == 0 {
        matches!(c, b'#' | b'%' | b'?')
    } else {
        !(c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'\'' | b'(' | b')' | b'*' | b'-' | b'.' | b'_' | b'~'
            ))
    }
}

fn escape_into(out: &mut Vec<u8>, s: &[u8], kind: i64) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in s {
        if escaped(c, kind) {
            out.extend_from_slice(&[b'%', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        } else {
            out.push(c);
        }
    }
}

/// `ngx.escape_uri(s)` (component mode, what `encode_args` writes), for
/// the PDK's query builders.
pub fn escape_uri_component(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    escape_into(&mut out, s, 2);
    out
}

fn escape_uri<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let data = input(ctx, exec, stack, 0)?;
    let kind = match stack.get(1) {
        Value::Nil => 2,
        _ => check_integer(stack, 1)?,
    };
    let mut out = Vec::with_capacity(data.len());
    escape_into(&mut out, &data, if kind == 0 { 0 } else { 2 });
    ret(ctx, stack, &out)
}

/// nginx's `ngx_unescape_uri` for arguments: `+` is a space, `%XX` a
/// byte, a `%` not followed by two hex digits stays as it is.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    let hexval = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    while i < s.len() {
        match s[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                s.get(i + 1).copied().and_then(hexval),
                s.get(i + 2).copied().and_then(hexval),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn unescape_uri<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let data = input(ctx, exec, stack, 0)?;
    ret(ctx, stack, &unescape(&data))
}

fn quote_sql_str<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = required(ctx, stack, 0)?;
    charge(exec, s.len());
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'\'');
    for &c in s.as_bytes() {
        let esc: &[u8] = match c {
            0 => b"\\0",
            0x08 => b"\\b",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            26 => b"\\Z",
            b'\\' => b"\\\\",
            b'\'' => b"\\'",
            b'"' => b"\\\"",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.extend_from_slice(esc);
    }
    out.push(b'\'');
    ret(ctx, stack, &out)
}

/// One `key=value` for `encode_args`; `None` for a value that adds nothing
/// (`false`).
fn arg_value<'gc>(
    ctx: Context<'gc>,
    v: Value<'gc>,
) -> Result<Option<Option<Vec<u8>>>, &'static str> {
    Ok(match v {
        Value::Boolean(true) => Some(None),
        Value::Boolean(false) => None,
        Value::String(s) => Some(Some(s.as_bytes().to_vec())),
        Value::Integer(_) | Value::Number(_) => {
            Some(Some(plain_tostring(ctx, v).as_bytes().to_vec()))
        }
        other => return Err(other.type_name()),
    })
}

fn encode_args<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let Value::Table(t) = stack.get(0) else {
        return type_error(stack, 0, "table");
    };
    let mut out = Vec::new();
    let mut key = Value::Nil;
    let add = |out: &mut Vec<u8>, k: &[u8], v: Option<Vec<u8>>| {
        if !out.is_empty() {
            out.push(b'&');
        }
        escape_into(out, k, 2);
        if let Some(v) = v {
            out.push(b'=');
            escape_into(out, &v, 2);
        }
    };
    while let Ok(Some((k, v))) = t.next(key) {
        key = k;
        let Value::String(name) = k else {
            return Err(LibError::Msg(
                "attempt to use a non-string key in the \"args\" option table".into(),
            ));
        };
        let fail = |ty: &str| LibError::Msg(format!("attempt to use {ty} as query arg value"));
        match v {
            Value::Table(list) => {
                for i in 1..=list.length() {
                    if let Some(v) = arg_value(ctx, list.raw_get_int(i)).map_err(fail)? {
                        add(&mut out, name.as_bytes(), v)
                    }
                }
            }
            v => {
                if let Some(v) = arg_value(ctx, v).map_err(fail)? {
                    add(&mut out, name.as_bytes(), v)
                }
            }
        }
        check_string_size(ctx, out.len())?;
    }
    charge(exec, out.len());
    ret(ctx, stack, &out)
}

fn decode_args<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let Value::String(s) = stack.get(0) else {
        return type_error(stack, 0, "string");
    };
    let max = match stack.get(1) {
        Value::Nil => 100,
        _ => check_integer(stack, 1)?,
    };
    charge(exec, s.len());
    let t = ctx.new_table();
    let mut count = 0i64;
    let mut truncated = false;
    for part in s.as_bytes().split(|&c| c == b'&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = match part.iter().position(|&c| c == b'=') {
            Some(eq) => (&part[..eq], Some(&part[eq + 1..])),
            None => (part, None),
        };
        if k.is_empty() {
            continue;
        }
        if max > 0 && count >= max {
            truncated = true;
            break;
        }
        count += 1;
        let key = Value::String(ctx.intern(&unescape(k)));
        let value = match v {
            Some(v) => Value::String(ctx.intern(&unescape(v))),
            None => Value::Boolean(true),
        };
        match t.raw_get(key) {
            Value::Nil => {
                let _ = t.raw_set(&ctx, key, value);
            }
            Value::Table(list) => {
                let _ = list.raw_set_int(&ctx, list.length() + 1, value);
            }
            old => {
                let list = ctx.new_table();
                let _ = list.raw_set_int(&ctx, 1, old);
                let _ = list.raw_set_int(&ctx, 2, value);
                let _ = t.raw_set(&ctx, key, Value::Table(list));
            }
        }
    }
    charge(exec, count as usize * 16);
    if truncated {
        stack.replace(ctx, (t, "truncated"));
    } else {
        stack.replace(ctx, t);
    }
    Ok(CallbackReturn::Return)
}
