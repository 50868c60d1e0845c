//! The configuration functions (`encode_max_depth`, `encode_sparse_array`
//! …): lua-cjson's argument rules and messages.

use super::{Config, Shared};
use crate::lib::args::{check_string, LibError, LibResult};
use crate::{Callback, CallbackReturn, Context, Stack, Table, Value};

type Getter = fn(&Config) -> Setting;

#[derive(Clone, Copy)]
enum Setting {
    Bool(bool),
    Int(i64),
    Enum(u8),
}

/// `json_arg_init`: at most `n` arguments.
fn max_args<'gc>(stack: &Stack<'gc, '_>, n: usize) -> LibResult<'gc, ()> {
    if stack.len() > n {
        Err(LibError::Arg(n + 1, "found too many arguments".into()))
    } else {
        Ok(())
    }
}

/// `json_integer_option`: the range error always names argument 1, as
/// lua-cjson's does.
fn int_option<'gc>(
    stack: &Stack<'gc, '_>,
    i: usize,
    min: i64,
    max: i64,
) -> LibResult<'gc, Option<i64>> {
    if stack.get(i).is_nil() {
        return Ok(None);
    }
    let v = crate::lib::args::check_integer(stack, i)?;
    if v < min || v > max {
        return Err(LibError::Arg(
            1,
            format!("expected integer between {min} and {max}"),
        ));
    }
    Ok(Some(v))
}

/// `json_enum_option`: a boolean, or one of `options` by name.
fn enum_option<'gc>(
    ctx: Context<'gc>,
    stack: &Stack<'gc, '_>,
    i: usize,
    options: &[&str],
) -> LibResult<'gc, Option<u8>> {
    match stack.get(i) {
        Value::Nil => Ok(None),
        Value::Boolean(b) => Ok(Some(b as u8)),
        _ => {
            let s = check_string(ctx, stack, i)?;
            match options.iter().position(|o| o.as_bytes() == s.as_bytes()) {
                Some(p) => Ok(Some(p as u8)),
                None => Err(LibError::Arg(
                    i + 1,
                    format!("invalid option '{}'", String::from_utf8_lossy(s.as_bytes())),
                )),
            }
        }
    }
}

const ON_OFF: &[&str] = &["off", "on"];

fn setting_value<'gc>(ctx: Context<'gc>, s: Setting, options: &[&str]) -> Value<'gc> {
    match s {
        Setting::Bool(b) => Value::Boolean(b),
        Setting::Int(n) => Value::Integer(n),
        Setting::Enum(0) => Value::Boolean(false),
        Setting::Enum(1) => Value::Boolean(true),
        Setting::Enum(n) => {
            Value::String(ctx.intern(options.get(n as usize).copied().unwrap_or("").as_bytes()))
        }
    }
}

pub(super) fn config_fns<'gc>(ctx: Context<'gc>, t: Table<'gc>, cfg: &Shared) {
    // A boolean setting: `f([on])` sets when given, returns the value.
    fn boolean<'gc>(
        ctx: Context<'gc>,
        t: Table<'gc>,
        cfg: &Shared,
        name: &'static str,
        get: Getter,
        put: fn(&mut Config, bool),
    ) {
        let c = cfg.clone();
        let f = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
            let r = max_args(&stack, 1)
                .and_then(|()| enum_option(ctx, &stack, 0, ON_OFF))
                .map(|v| {
                    if let Some(v) = v {
                        put(&mut c.borrow_mut(), v == 1);
                    }
                    let s = get(&c.borrow());
                    stack.replace(ctx, setting_value(ctx, s, ON_OFF));
                    CallbackReturn::Return
                });
            r.map_err(|e| e.into_error(ctx, &exec, name))
        });
        let _ = t.set(ctx, name, f);
    }
    // An integer setting in `min..=max`.
    fn integer<'gc>(
        ctx: Context<'gc>,
        t: Table<'gc>,
        cfg: &Shared,
        name: &'static str,
        (min, max): (i64, i64),
        get: Getter,
        put: fn(&mut Config, i64),
    ) {
        let c = cfg.clone();
        let f = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
            let r = max_args(&stack, 1)
                .and_then(|()| int_option(&stack, 0, min, max))
                .map(|v| {
                    if let Some(v) = v {
                        put(&mut c.borrow_mut(), v);
                    }
                    let s = get(&c.borrow());
                    stack.replace(ctx, setting_value(ctx, s, &[]));
                    CallbackReturn::Return
                });
            r.map_err(|e| e.into_error(ctx, &exec, name))
        });
        let _ = t.set(ctx, name, f);
    }
    const INT_MAX: i64 = i32::MAX as i64;
    integer(
        ctx,
        t,
        cfg,
        "encode_max_depth",
        (1, INT_MAX),
        |c| Setting::Int(c.encode_max_depth),
        |c, v| c.encode_max_depth = v,
    );
    integer(
        ctx,
        t,
        cfg,
        "decode_max_depth",
        (1, INT_MAX),
        |c| Setting::Int(c.decode_max_depth),
        |c, v| c.decode_max_depth = v,
    );
    integer(
        ctx,
        t,
        cfg,
        "encode_number_precision",
        (1, 16),
        |c| Setting::Int(c.precision as i64),
        |c, v| c.precision = v as usize,
    );
    boolean(
        ctx,
        t,
        cfg,
        "encode_empty_table_as_object",
        |c| Setting::Bool(c.empty_table_as_object),
        |c, v| c.empty_table_as_object = v,
    );
    boolean(
        ctx,
        t,
        cfg,
        "decode_array_with_array_mt",
        |c| Setting::Bool(c.decode_array_with_array_mt),
        |c, v| c.decode_array_with_array_mt = v,
    );
    boolean(
        ctx,
        t,
        cfg,
        "encode_keep_buffer",
        |c| Setting::Bool(c.keep_buffer),
        |c, v| c.keep_buffer = v,
    );
    boolean(
        ctx,
        t,
        cfg,
        "decode_invalid_numbers",
        |c| Setting::Bool(c.decode_invalid_numbers),
        |c, v| c.decode_invalid_numbers = v,
    );
    boolean(
        ctx,
        t,
        cfg,
        "encode_escape_forward_slash",
        |c| Setting::Bool(c.escape_forward_slash),
        |c, v| c.escape_forward_slash = v,
    );
    boolean(
        ctx,
        t,
        cfg,
        "encode_skip_unsupported_value_types",
        |c| Setting::Bool(c.skip_unsupported),
        |c, v| c.skip_unsupported = v,
    );

    // encode_invalid_numbers([off|on|null|bool])
    const INVALID: &[&str] = &["off", "on", "null"];
    let c = cfg.clone();
    let f = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        let r = max_args(&stack, 1)
            .and_then(|()| enum_option(ctx, &stack, 0, INVALID))
            .map(|v| {
                if let Some(v) = v {
                    c.borrow_mut().encode_invalid_numbers = v;
                }
                let s = Setting::Enum(c.borrow().encode_invalid_numbers);
                stack.replace(ctx, setting_value(ctx, s, INVALID));
                CallbackReturn::Return
            });
        r.map_err(|e| e.into_error(ctx, &exec, "encode_invalid_numbers"))
    });
    let _ = t.set(ctx, "encode_invalid_numbers", f);

    // encode_sparse_array([convert[, ratio[, safe]]]) -> convert, ratio, safe
    let c = cfg.clone();
    let f = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        let r = (|| {
            max_args(&stack, 3)?;
            let convert = enum_option(ctx, &stack, 0, ON_OFF)?;
            let ratio = int_option(&stack, 1, 0, INT_MAX)?;
            let safe = int_option(&stack, 2, 0, INT_MAX)?;
            let mut conf = c.borrow_mut();
            if let Some(v) = convert {
                conf.sparse_convert = v == 1;
            }
            if let Some(v) = ratio {
                conf.sparse_ratio = v;
            }
            if let Some(v) = safe {
                conf.sparse_safe = v;
            }
            stack.replace(
                ctx,
                (conf.sparse_convert, conf.sparse_ratio, conf.sparse_safe),
            );
            Ok(CallbackReturn::Return)
        })();
        r.map_err(|e: LibError<'gc>| e.into_error(ctx, &exec, "encode_sparse_array"))
    });
    let _ = t.set(ctx, "encode_sparse_array", f);
}
