//! `kong.service.request.set_body(args, mime)`: a table encoded as the
//! request's (or the given) content type, as Kong's `set_body_handlers`
//! do it: form-urlencoded (sorted, arrays repeated), JSON (cjson's rules)
//! or multipart (sorted parts, the client's boundary kept when there is
//! one). The body and its Content-Type replace the client's.

use lua_stdlib::{Context, Error, Execution, Stack, Table, Value};

use super::super::checks::{self, quoted};
use super::super::{lua_error, only_in, RequestContext};
use super::PHASES;

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";
const MULTIPART: &str = "multipart/form-data";

pub(super) fn set_body<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    req: &mut RequestContext,
) -> Result<(), Error<'gc>> {
    only_in(ctx, req, PHASES)?;
    let Value::Table(args) = stack.get(0) else {
        return Err(lua_error(ctx, "args must be a table"));
    };
    let mime = match stack.get(1) {
        Value::Nil | Value::Boolean(false) => None,
        v => Some(checks::string_arg(ctx, v, "mime")?),
    };
    let mime = match mime {
        Some(m) => String::from_utf8_lossy(&m).into_owned(),
        None => match req.request.headers.get(http::header::CONTENT_TYPE) {
            Some(v) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
            None => {
                stack.replace(
                    ctx,
                    (
                        Value::Nil,
                        "content type was neither explicitly given as an argument or \
                         received as a header",
                    ),
                );
                return Ok(());
            }
        },
    };
    let bare = mime.split(';').next().unwrap_or_default();
    let (body, content_type) = match bare {
        FORM => (super::encode_args(ctx, args)?.into_bytes(), mime.clone()),
        JSON => {
            let mut json = Vec::new();
            super::super::response::write_json(ctx, Value::Table(args), &mut json)?;
            (json, mime.clone())
        }
        MULTIPART => multipart(ctx, args, &mime)?,
        _ => return Err(lua_error(ctx, &format!("unsupported content type {mime}"))),
    };
    let content_type = http::HeaderValue::from_str(&content_type)
        .map_err(|_| lua_error(ctx, &format!("unsupported content type {mime}")))?;
    req.request
        .headers
        .insert(http::header::CONTENT_TYPE, content_type);
    req.upstream_body = Some(body.into());
    stack.replace(ctx, true);
    Ok(())
}

/// The boundary of `mime` (`boundary=x` or `boundary="x"`), as Kong reads
/// it.
fn boundary_of(mime: &str) -> Option<String> {
    let at = mime.find("boundary=")? + "boundary=".len();
    let rest = &mime[at..];
    Some(match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next().unwrap_or_default().to_string(),
        None => rest.to_string(),
    })
}

/// Parts sorted by name; a boundary that occurs in a value is replaced
/// by a random one.
fn multipart<'gc>(
    ctx: Context<'gc>,
    args: Table<'gc>,
    mime: &str,
) -> Result<(Vec<u8>, String), Error<'gc>> {
    let mut fields = Vec::new();
    for (k, v) in super::super::entries(args) {
        let Value::String(key) = k else {
            return Err(lua_error(
                ctx,
                &format!(
                    "invalid key {}: got {}, expected string",
                    quoted(k),
                    k.type_name()
                ),
            ));
        };
        let value = match v {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Integer(n) => n.to_string().into_bytes(),
            Value::Number(f) => super::super::lua_number(f).into_bytes(),
            Value::Boolean(b) => b.to_string().into_bytes(),
            other => {
                return Err(lua_error(
                    ctx,
                    &format!(
                        "invalid value {}: got {}, expected string, number or boolean",
                        quoted(k),
                        other.type_name()
                    ),
                ))
            }
        };
        fields.push((key.as_bytes().to_vec(), value));
    }
    fields.sort();
    let collides = |b: &str| {
        let check = format!("\n--{b}");
        fields
            .iter()
            .any(|(_, v)| v.windows(check.len()).any(|w| w == check.as_bytes()))
    };
    let mut boundary = boundary_of(mime).unwrap_or_default();
    while boundary.is_empty() || collides(&boundary) {
        boundary = uuid::Uuid::new_v4().simple().to_string();
    }
    let mut out = Vec::new();
    for (k, v) in &fields {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        out.extend_from_slice(b"Content-Disposition: form-data; name=\"");
        out.extend_from_slice(k);
        out.extend_from_slice(b"\"\r\n\r\n");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((out, format!("{MULTIPART}; boundary={boundary}")))
}
