//! `kong.service.set_upstream`, `set_target`, `set_retries` and
//! `set_timeouts` (Kong's `kong/pdk/service.lua`): where this request
//! connects and how patiently. They fill the request's
//! [`Balancer`](crate::proxy::pipeline::Balancer) (Kong's
//! `ngx.ctx.balancer_data`), which the proxy applies to this request's
//! copy of the upstream (`Upstream::with_balancer`): the target is the
//! address connected to, retries and timeouts are the ones the upstream
//! call uses.
//!
//! `set_upstream` names an Upstream of the configuration (Kong's load
//! balancer; `proxy/balancer.rs` picks its target), or answers Kong's
//! `nil, "could not find an Upstream named '…'"`. As in Kong, the later of
//! `set_upstream` and `set_target` decides where the request goes.

use std::time::Duration;

use lua_stdlib::{Context, Error, Table, Value};

use super::super::{add, lua_error, lua_number, only_in, Phases, RequestCell};
use crate::proxy::pipeline::BalancerTimeouts;

/// Kong's `access_and_rewrite_and_balancer_preread` (`set_target`).
const TARGET_PHASES: Phases = Phases::REWRITE
    .or(Phases::ACCESS)
    .or(Phases::BALANCER)
    .or(Phases::PREREAD);

pub(super) fn install<'gc>(ctx: Context<'gc>, service: Table<'gc>, cell: &RequestCell) {
    add(ctx, service, "set_upstream", cell, |ctx, _, stack, req| {
        only_in(ctx, req, Phases::ACCESS)?;
        let Value::String(host) = stack.get(0) else {
            return Err(lua_error(ctx, "host must be a string"));
        };
        let known = std::str::from_utf8(host.as_bytes()).ok().filter(|name| {
            req.balancers
                .as_ref()
                .is_some_and(|b| b.get(name).is_some())
        });
        if let Some(name) = known {
            req.balancer.upstream = Some(name.into());
            req.balancer.target = None;
            stack.replace(ctx, true);
            return Ok(());
        }
        let message = format!(
            "could not find an Upstream named '{}'",
            String::from_utf8_lossy(host.as_bytes())
        );
        stack.replace(ctx, (Value::Nil, ctx.intern(message.as_bytes())));
        Ok(())
    });
    add(ctx, service, "set_target", cell, |ctx, _, stack, req| {
        only_in(ctx, req, TARGET_PHASES)?;
        let Value::String(host) = stack.get(0) else {
            return Err(lua_error(ctx, "host must be a string"));
        };
        let port = integer_arg(ctx, stack.get(1), "port", 0, 65535)?;
        // The host becomes the connection's address, its SNI and the
        // upstream `Host` (Kong sets `ngx.var.upstream_host`): a name or
        // an IP address, by the rule a service's host follows, and
        // nothing else (no CR/LF, spaces, `/`, `@` or port).
        let text = std::str::from_utf8(host.as_bytes())
            .ok()
            .filter(|h| crate::entities::services::valid_host(h));
        let Some(host) = text else {
            let shown = String::from_utf8_lossy(host.as_bytes());
            return Err(lua_error(
                ctx,
                &format!("invalid hostname: {}", shown.escape_debug()),
            ));
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let header = if bare.contains(':') {
            format!("[{bare}]")
        } else {
            bare.to_string()
        };
        req.upstream_host = http::HeaderValue::from_str(&header).ok();
        req.balancer.target = Some((bare.into(), port as u16));
        req.balancer.upstream = None;
        stack.clear();
        Ok(())
    });
    add(ctx, service, "set_retries", cell, |ctx, _, stack, req| {
        only_in(ctx, req, Phases::ACCESS)?;
        let retries = integer_arg(ctx, stack.get(0), "retries", 0, 32767)?;
        req.balancer.retries = Some(retries as u32);
        stack.clear();
        Ok(())
    });
    add(ctx, service, "set_timeouts", cell, |ctx, _, stack, req| {
        only_in(ctx, req, Phases::ACCESS)?;
        let mut ms = [0u64; 3];
        for (i, name) in ["connect_timeout", "write_timeout", "read_timeout"]
            .into_iter()
            .enumerate()
        {
            ms[i] = integer_arg(ctx, stack.get(i), name, 1, 2_147_483_646)? as u64;
        }
        req.balancer.timeouts = Some(BalancerTimeouts {
            connect: Duration::from_millis(ms[0]),
            write: Duration::from_millis(ms[1]),
            read: Duration::from_millis(ms[2]),
        });
        stack.clear();
        Ok(())
    });
}

/// Kong's integer argument check: `X must be an integer` (not a number,
/// or not integral), then `X must be an integer between MIN and MAX:
/// given N` (N as LuaJIT prints it).
fn integer_arg<'gc>(
    ctx: Context<'gc>,
    v: Value<'gc>,
    name: &str,
    min: i64,
    max: i64,
) -> Result<i64, Error<'gc>> {
    let (n, shown) = match v {
        Value::Integer(n) => (n as f64, n.to_string()),
        Value::Number(f) if f.floor() == f => (f, lua_number(f)),
        _ => return Err(lua_error(ctx, &format!("{name} must be an integer"))),
    };
    if n < min as f64 || n > max as f64 {
        return Err(lua_error(
            ctx,
            &format!("{name} must be an integer between {min} and {max}: given {shown}"),
        ));
    }
    Ok(n as i64)
}
