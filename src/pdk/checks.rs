//! Kong's PDK argument checks (`kong/pdk/private/checks.lua` and the
//! checks at the top of each setter of `kong/pdk/response.lua` and
//! `kong/pdk/service/request.lua`), with Kong's exact messages, so a
//! function that reports `pcall`'s error shows what it shows on Kong:
//! `invalid header value for "x": got table, expected array of string,
//! string, number or boolean`, `code must be a number`, `invalid method:
//! get` …
//!
//! One place for each rule: `kong.response` (its setters, `exit` and
//! `error`) and `kong.service.request` call these; `ngx.req`, `ngx.header`
//! and `ngx.status` keep OpenResty's own, looser checks (`pdk/mod.rs`).

use http::{HeaderMap, HeaderName, HeaderValue};
use lua_stdlib::{Context, Error, Table, Value};

use super::{lua_error, lua_number, NameArg};

/// Kong's `MIN_STATUS_CODE`, `MAX_STATUS_CODE` and `MIN_ERR_STATUS_CODE`.
pub(crate) const MIN_STATUS: u16 = 100;
pub(crate) const MAX_STATUS: u16 = 599;
pub(crate) const MIN_ERR_STATUS: u16 = 400;

/// A value as LuaJIT's `string.format("%q", v)` shows it in Kong's
/// messages: strings quoted and escaped, numbers and the other scalars as
/// `tostring` writes them, also quoted (`"nil"`, `"127001"`).
pub(crate) fn quoted(v: Value<'_>) -> String {
    let bytes: Vec<u8> = match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Integer(n) => n.to_string().into_bytes(),
        Value::Number(f) => lua_number(f).into_bytes(),
        Value::Boolean(b) => b.to_string().into_bytes(),
        Value::Nil => b"nil".to_vec(),
        other => other.type_name().as_bytes().to_vec(),
    };
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\\n"),
            b'\r' => out.push_str("\\r"),
            b'\0' => out.push_str("\\0"),
            c if c < b' ' || c == 0x7f => {
                // `\ddd` as short as the next character allows.
                if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    out.push_str(&format!("\\{c:03}"));
                } else {
                    out.push_str(&format!("\\{c}"));
                }
            }
            _ => out.push(c as char),
        }
    }
    out.push('"');
    // Non-ASCII bytes went in one by one as Latin-1; rebuild them as UTF-8
    // where they were, so `"foó"` reads as written.
    let latin: Vec<u8> = out.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8(latin).unwrap_or(out)
}

/// How a header name becomes the name sent: response headers have `_`
/// turned into `-` (nginx's `lua_transform_underscores_in_response_headers`,
/// on in Kong); request headers go upstream as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Names {
    Response,
    Request,
}

/// One header as a setter sends it: its name and its values in order (no
/// values: the header is removed).
#[derive(Debug)]
pub(crate) struct Header {
    pub name: HeaderName,
    pub values: Vec<HeaderValue>,
}

impl Header {
    /// `set_header`: replaces every value of the name.
    pub(crate) fn set_in(self, headers: &mut HeaderMap) {
        headers.remove(&self.name);
        self.add_to(headers);
    }

    /// `add_header`: appends after the values already there.
    pub(crate) fn add_to(self, headers: &mut HeaderMap) {
        for v in self.values {
            headers.append(self.name.clone(), v);
        }
    }
}

/// A header name that the HTTP layer can send; bytes that cannot be part
/// of a header name at all (space, `:`, CR, LF …) are refused.
fn header_name<'gc>(
    ctx: Context<'gc>,
    names: Names,
    name: &[u8],
) -> Result<HeaderName, Error<'gc>> {
    NameArg::new(name, names == Names::Response)
        .to_name()
        .map_err(|_| invalid_name(ctx, name))
}

fn invalid_name<'gc>(ctx: Context<'gc>, name: &[u8]) -> Error<'gc> {
    lua_error(
        ctx,
        &format!(
            "invalid header name {}: contains characters a header name cannot have",
            quoted_bytes(name)
        ),
    )
}

fn quoted_bytes(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    format!("\"{}\"", s.escape_debug())
}

/// Kong's `normalize_header`: an empty value is sent as a single space
/// (the receiver reads it as empty). CR, LF and NUL would end the header
/// and start another, so they are refused, as nginx refuses them.
fn header_value<'gc>(
    ctx: Context<'gc>,
    name: Value<'gc>,
    bytes: &[u8],
) -> Result<HeaderValue, Error<'gc>> {
    let bytes = if bytes.is_empty() { b" " } else { bytes };
    HeaderValue::from_bytes(bytes).map_err(|_| {
        lua_error(
            ctx,
            &format!(
                "invalid header value for {}: contains CR, LF or NUL",
                quoted(name)
            ),
        )
    })
}

/// A scalar header value as `tostring` writes it (LuaJIT's numbers).
fn scalar_bytes(v: Value<'_>) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(n) => Some(n.to_string().into_bytes()),
        Value::Number(f) => Some(lua_number(f).into_bytes()),
        Value::Boolean(b) => Some(b.to_string().into_bytes()),
        _ => None,
    }
}

/// The strings of an array value (`ipairs` order); Kong wants strings only.
fn array_values<'gc>(
    ctx: Context<'gc>,
    name: Value<'gc>,
    t: Table<'gc>,
) -> Result<Vec<HeaderValue>, Error<'gc>> {
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        match t.raw_get_int(i) {
            Value::Nil => return Ok(out),
            Value::String(s) => out.push(header_value(ctx, name, s.as_bytes())?),
            other => {
                return Err(lua_error(
                    ctx,
                    &format!(
                        "invalid header value in array {}: got {}, expected string",
                        quoted(name),
                        other.type_name()
                    ),
                ))
            }
        }
        i += 1;
    }
}

fn name_of<'gc>(
    ctx: Context<'gc>,
    names: Names,
    name: Value<'gc>,
) -> Result<HeaderName, Error<'gc>> {
    match name {
        Value::String(s) => header_name(ctx, names, s.as_bytes()),
        other => Err(lua_error(
            ctx,
            &format!(
                "invalid header name {}: got {}, expected string",
                quoted(other),
                other.type_name()
            ),
        )),
    }
}

/// One value (a scalar or an array of strings) of the header `name`;
/// `expected` ends Kong's message for any other type.
fn values_of<'gc>(
    ctx: Context<'gc>,
    name: Value<'gc>,
    value: Value<'gc>,
    expected: &str,
) -> Result<Vec<HeaderValue>, Error<'gc>> {
    match value {
        Value::Table(t) => array_values(ctx, name, t),
        v => match scalar_bytes(v) {
            Some(b) => Ok(vec![header_value(ctx, name, &b)?]),
            None => Err(lua_error(
                ctx,
                &format!(
                    "invalid header value for {}: got {}, expected {expected}",
                    quoted(name),
                    v.type_name()
                ),
            )),
        },
    }
}

/// `checks.validate_header(name, value)` and `normalize_multi_header`:
/// the header to send.
pub(crate) fn validate_header<'gc>(
    ctx: Context<'gc>,
    names: Names,
    name: Value<'gc>,
    value: Value<'gc>,
) -> Result<Header, Error<'gc>> {
    let parsed = name_of(ctx, names, name)?;
    let values = values_of(
        ctx,
        name,
        value,
        "array of string, string, number or boolean",
    )?;
    Ok(Header {
        name: parsed,
        values,
    })
}

/// `checks.validate_headers(headers)`: every pair, sorted by name (Kong's
/// setters document "lexicographical order"; `pairs` order is not stable).
pub(crate) fn validate_headers<'gc>(
    ctx: Context<'gc>,
    names: Names,
    headers: Value<'gc>,
) -> Result<Vec<Header>, Error<'gc>> {
    let Value::Table(t) = headers else {
        return Err(lua_error(ctx, "headers must be a table"));
    };
    let mut out = Vec::new();
    for (k, v) in super::entries(t) {
        let name = name_of(ctx, names, k)?;
        let values = values_of(ctx, k, v, "string, number, boolean or array of strings")?;
        let key = match k {
            Value::String(s) => s.as_bytes().to_vec(),
            _ => Vec::new(),
        };
        out.push((key, Header { name, values }));
    }
    out.sort_by_key(|(key, _)| key.clone());
    Ok(out.into_iter().map(|(_, h)| h).collect())
}

/// A header name argument of `clear_header`: a string (`what` is Kong's
/// wording: `header name` for the response, `header` for the service).
pub(crate) fn name_arg<'gc>(
    ctx: Context<'gc>,
    names: Names,
    v: Value<'gc>,
    what: &str,
) -> Result<NameArg<'gc>, Error<'gc>> {
    let Value::String(s) = v else {
        return Err(lua_error(ctx, &format!("{what} must be a string")));
    };
    let name = NameArg::new(s.as_bytes(), names == Names::Response);
    if name.is_valid() {
        Ok(name)
    } else {
        Err(invalid_name(ctx, s.as_bytes()))
    }
}

/// [`name_arg`] as a `HeaderName`.
pub(crate) fn header_name_arg<'gc>(
    ctx: Context<'gc>,
    names: Names,
    v: Value<'gc>,
    what: &str,
) -> Result<HeaderName, Error<'gc>> {
    let name = name_arg(ctx, names, v, what)?;
    name.to_name().map_err(|_| invalid_name(ctx, name.bytes))
}

/// A status code argument: `code must be a number`, then `code must be a
/// number between {min} and {max}`.
pub(crate) fn status_code<'gc>(
    ctx: Context<'gc>,
    v: Value<'gc>,
    min: u16,
    max: u16,
) -> Result<u16, Error<'gc>> {
    let n = match v {
        Value::Integer(n) => n as f64,
        Value::Number(f) => f,
        _ => return Err(lua_error(ctx, "code must be a number")),
    };
    if !(f64::from(min)..=f64::from(max)).contains(&n) {
        return Err(lua_error(
            ctx,
            &format!("code must be a number between {min} and {max}"),
        ));
    }
    // nginx keeps the integer part of a fractional status.
    Ok(n as u16)
}

/// A string argument, or Kong's `<what> must be a string`.
pub(crate) fn string_arg<'gc>(
    ctx: Context<'gc>,
    v: Value<'gc>,
    what: &str,
) -> Result<Vec<u8>, Error<'gc>> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        _ => Err(lua_error(ctx, &format!("{what} must be a string"))),
    }
}

/// Kong's `get_headers` limit when no `max_headers` is given
/// (`lua_max_req_headers` / `lua_max_resp_headers`).
pub(crate) const MAX_HEADERS_DEFAULT: usize = 100;

/// Kong's `max_headers` argument: 1..=1000, 100 when absent.
pub(crate) fn max_headers<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Result<usize, Error<'gc>> {
    max_count(ctx, v, "max_headers")
}

/// `kong.request.get_query`'s `max_args` argument: 1..=1000, 100 when
/// absent.
pub(crate) fn max_args<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Result<usize, Error<'gc>> {
    max_count(ctx, v, "max_args")
}

/// A count limit named `what`: 1..=1000, 100 when absent, with Kong's
/// messages.
fn max_count<'gc>(ctx: Context<'gc>, v: Value<'gc>, what: &str) -> Result<usize, Error<'gc>> {
    let n = match v {
        Value::Nil => return Ok(MAX_HEADERS_DEFAULT),
        Value::Integer(n) => n as f64,
        Value::Number(n) => n,
        _ => return Err(lua_error(ctx, &format!("{what} must be a number"))),
    };
    if n < 1.0 {
        Err(lua_error(ctx, &format!("{what} must be >= 1")))
    } else if n > 1000.0 {
        Err(lua_error(ctx, &format!("{what} must be <= 1000")))
    } else {
        Ok(n as usize)
    }
}

/// The methods `kong.service.request.set_method` takes (Kong's
/// `accepted_methods`, upper case only).
const METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "PUT",
    "POST",
    "DELETE",
    "OPTIONS",
    "MKCOL",
    "COPY",
    "MOVE",
    "PROPFIND",
    "PROPPATCH",
    "LOCK",
    "UNLOCK",
    "PATCH",
    "TRACE",
];

/// `set_method`'s argument: `method must be a string`, `invalid method: X`.
pub(crate) fn method<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Result<http::Method, Error<'gc>> {
    let m = string_arg(ctx, v, "method")?;
    let text = String::from_utf8_lossy(&m);
    let invalid = || lua_error(ctx, &format!("invalid method: {text}"));
    if !METHODS.contains(&text.as_ref()) {
        return Err(invalid());
    }
    http::Method::from_bytes(&m).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_as_kong_formats_names() {
        assert_eq!(quoted(Value::Nil), "\"nil\"");
        assert_eq!(quoted(Value::Integer(127001)), "\"127001\"");
        assert_eq!(quoted(Value::Number(2.0)), "\"2\"");
        assert_eq!(quoted(Value::Number(2.5)), "\"2.5\"");
        assert_eq!(quoted(Value::Boolean(true)), "\"true\"");
    }
}
