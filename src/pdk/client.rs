//! `kong.client`: who sent the request (Kong's `kong/pdk/client.lua`).
//!
//! `get_ip`/`get_port` are the peer of the connection; the forwarded
//! forms are the client address the trusted proxies report. Who the
//! client is authenticated as lives where Kong keeps it, in the request's
//! `ngx.ctx` (`authenticated_consumer`, `authenticated_credential`), so a
//! function that sets those fields by hand is read back as on Kong.
//! `load_consumer` reads the Consumers of the node's database.

use std::sync::{Arc, OnceLock};

use lua_stdlib::{Context, Error, Stack, Table, Value};
use rustls::pki_types::CertificateDer;
use uuid::Uuid;

use super::router::from_json;
use super::{add, lua_error, only_in, Phases, RequestCell, RequestContext};
use crate::entities::Kind;
use crate::store::Store;
use crate::trust;

/// Kong's `AUTH_AND_LATER`: who the client is authenticated as is known
/// from access on (`get_protocol` and the consumer functions).
const AUTH_AND_LATER: Phases = Phases::ACCESS
    .or(Phases::HEADER_FILTER)
    .or(Phases::RESPONSE)
    .or(Phases::BODY_FILTER)
    .or(Phases::LOG);

/// The `ngx.ctx` fields Kong keeps the authenticated client in.
const CONSUMER: &str = "authenticated_consumer";
const CREDENTIAL: &str = "authenticated_credential";

/// The node's database, for `load_consumer` (set once at start-up).
static STORE: OnceLock<Arc<Store>> = OnceLock::new();

/// Gives `kong.client.load_consumer` the node's database.
pub fn set_store(store: Arc<Store>) {
    let _ = STORE.set(store);
}

pub fn install<'gc>(ctx: Context<'gc>, kong: Table<'gc>, cell: &RequestCell) {
    let t = ctx.new_table();
    add(ctx, t, "get_ip", cell, |ctx, _, stack, req| {
        stack.replace(ctx, ctx.intern(req.client_addr.ip().to_string().as_bytes()));
        Ok(())
    });
    add(ctx, t, "get_port", cell, |ctx, _, stack, req| {
        stack.replace(ctx, i64::from(req.client_addr.port()));
        Ok(())
    });
    add(ctx, t, "get_forwarded_ip", cell, |ctx, _, stack, req| {
        let ip = req.client.ip;
        stack.replace(ctx, ctx.intern(ip.to_string().as_bytes()));
        Ok(())
    });
    add(ctx, t, "get_forwarded_port", cell, |ctx, _, stack, req| {
        // nginx's `$remote_port` is empty when the trusted header gave an
        // address without a port: Kong's `tonumber` makes it nil.
        let port = req.client.port;
        stack.replace(
            ctx,
            port.map_or(Value::Nil, |p| Value::Integer(i64::from(p))),
        );
        Ok(())
    });
    add(ctx, t, "get_credential", cell, |ctx, _, stack, req| {
        only_in(ctx, req, AUTH_AND_LATER)?;
        let v = req.lua_tables.ngx_ctx(ctx).get(ctx, CREDENTIAL);
        stack.replace(ctx, v);
        Ok(())
    });
    add(ctx, t, "get_consumer", cell, |ctx, _, stack, req| {
        only_in(ctx, req, AUTH_AND_LATER)?;
        let v = req.lua_tables.ngx_ctx(ctx).get(ctx, CONSUMER);
        stack.replace(ctx, v);
        Ok(())
    });
    add(ctx, t, "authenticate", cell, |ctx, _, stack, req| {
        only_in(ctx, req, Phases::ACCESS)?;
        let table_or_nil = |v: Value| matches!(v, Value::Table(_) | Value::Nil);
        let (consumer, credential) = (stack.get(0), stack.get(1));
        if !table_or_nil(consumer) {
            return Err(lua_error(ctx, "consumer must be a table or nil"));
        }
        if !table_or_nil(credential) {
            return Err(lua_error(ctx, "credential must be a table or nil"));
        }
        if consumer.is_nil() && credential.is_nil() {
            return Err(lua_error(
                ctx,
                "either credential or consumer must be provided",
            ));
        }
        let ngx_ctx = req.lua_tables.ngx_ctx(ctx);
        let _ = ngx_ctx.set(ctx, CONSUMER, consumer);
        let _ = ngx_ctx.set(ctx, CREDENTIAL, credential);
        stack.clear();
        Ok(())
    });
    add(ctx, t, "load_consumer", cell, |ctx, _, stack, req| {
        only_in(ctx, req, AUTH_AND_LATER)?;
        load_consumer(ctx, stack)
    });
    add(ctx, t, "get_protocol", cell, |ctx, _, stack, req| {
        only_in(ctx, req, AUTH_AND_LATER)?;
        let allow_terminated = stack.get(0).to_bool();
        match protocol(req, allow_terminated) {
            Ok(p) => stack.replace(ctx, ctx.intern(p.as_bytes())),
            Err(e) => stack.replace(ctx, (Value::Nil, ctx.intern(e.as_bytes()))),
        }
        Ok(())
    });
    install_tls(ctx, t, cell);
    super::set(ctx, kong, "client", t);
}

/// Kong's `REWRITE_AND_LATER` (the client's chain) and
/// `REWRITE_BEFORE_LOG` (`set_client_verify`) of `kong.client.tls`.
const CHAIN_PHASES: Phases = Phases::REWRITE
    .or(Phases::ACCESS)
    .or(Phases::RESPONSE)
    .or(Phases::BALANCER)
    .or(Phases::LOG);
const VERIFY_PHASES: Phases = Phases::REWRITE
    .or(Phases::ACCESS)
    .or(Phases::RESPONSE)
    .or(Phases::BALANCER);

/// `kong.client.tls` (Kong's `kong/pdk/client/tls.lua`): in the
/// certificate phase, ask the client for a certificate (checked against
/// the given CA certificates once the handshake is done, nginx's
/// `$ssl_client_verify`) and turn session reuse off; from rewrite on,
/// read the chain it sent and override the verdict logged
/// (`ngx.ctx.CLIENT_VERIFY_OVERRIDE`, for `kong.log.serialize`).
fn install_tls<'gc>(ctx: Context<'gc>, client: Table<'gc>, cell: &RequestCell) {
    let t = ctx.new_table();
    add(
        ctx,
        t,
        "request_client_certificate",
        cell,
        |ctx, _, stack, req| {
            only_in(ctx, req, Phases::CERTIFICATE)?;
            // Kong takes OpenResty's parsed cdata (`ngx.ssl.parse_pem_cert`),
            // which functions cannot make: here the CA certificates' PEM.
            let cas: Result<Arc<[CertificateDer<'static>]>, String> = match stack.get(0) {
                Value::Nil => Ok(Arc::from(Vec::new())),
                Value::String(pem) => crate::tls::client_auth::parse_cas(pem.as_bytes()),
                other => {
                    return Err(lua_error(
                        ctx,
                        &format!(
                            "bad ca_certs arg: PEM string expected, got {}",
                            other.type_name()
                        ),
                    ))
                }
            };
            match cas {
                Ok(cas) => {
                    req.handshake.client_cert = Some(cas);
                    stack.replace(ctx, true);
                }
                Err(e) => stack.replace(ctx, (Value::Nil, ctx.intern(e.as_bytes()))),
            }
            Ok(())
        },
    );
    add(
        ctx,
        t,
        "disable_session_reuse",
        cell,
        |ctx, _, stack, req| {
            only_in(ctx, req, Phases::CERTIFICATE)?;
            req.handshake.no_session_reuse = true;
            stack.replace(ctx, true);
            Ok(())
        },
    );
    add(
        ctx,
        t,
        "get_full_client_certificate_chain",
        cell,
        |ctx, _, stack, req| {
            only_in(ctx, req, CHAIN_PHASES)?;
            let pem = req.client_cert.as_ref().map(|c| c.pem());
            stack.replace(
                ctx,
                pem.map_or(Value::Nil, |p| Value::String(ctx.intern(p.as_bytes()))),
            );
            Ok(())
        },
    );
    add(ctx, t, "set_client_verify", cell, |ctx, _, stack, req| {
        only_in(ctx, req, VERIFY_PHASES)?;
        let Value::String(v) = stack.get(0) else {
            return Err(lua_error(ctx, "assertion failed!"));
        };
        let b = v.as_bytes();
        if b != b"SUCCESS" && b != b"NONE" && !b.starts_with(b"FAILED:") {
            return Err(lua_error(
                ctx,
                &format!(
                    "unknown client verify value: {} accepted values are: \"SUCCESS\", \"NONE\" or \"FAILED:<reason>\"",
                    String::from_utf8_lossy(b)
                ),
            ));
        }
        let ngx_ctx = req.lua_tables.ngx_ctx(ctx);
        let _ = ngx_ctx.set(ctx, "CLIENT_VERIFY_OVERRIDE", v);
        stack.clear();
        Ok(())
    });
    super::set(ctx, client, "tls", t);
}

/// `get_protocol(allow_terminated)`: the route's protocol when it has one;
/// else https when the connection is TLS, or (with `allow_terminated`) a
/// trusted peer says so in its one `X-Forwarded-Proto` (Kong's
/// `check_https`).
fn protocol(req: &RequestContext, allow_terminated: bool) -> Result<&str, &'static str> {
    let Some(route) = req.route.as_deref() else {
        return Err("No active route found");
    };
    if let [only] = route.protocols.as_slice() {
        return Ok(only);
    }
    let https = req.scheme.eq_ignore_ascii_case("https")
        || (allow_terminated
            && trust::node().is_trusted(req.client_addr.ip())
            && forwarded_https(req)?);
    Ok(if https { "https" } else { "http" })
}

/// Whether the request's `X-Forwarded-Proto` says https; several values
/// (nginx joins repeated headers with `, `) are refused, as Kong does.
fn forwarded_https(req: &RequestContext) -> Result<bool, &'static str> {
    let mut values = req.request.headers.get_all("x-forwarded-proto").iter();
    let Some(first) = values.next() else {
        return Ok(false);
    };
    if values.next().is_some() || first.as_bytes().contains(&b',') {
        return Err("Only one X-Forwarded-Proto header allowed");
    }
    Ok(first.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// `load_consumer(consumer_id, search_by_username)`: the Consumer with
/// that id, or (when asked) that username; `nil, err` when the database
/// fails.
fn load_consumer<'gc>(ctx: Context<'gc>, stack: &mut Stack<'gc, '_>) -> Result<(), Error<'gc>> {
    let Value::String(id) = stack.get(0) else {
        return Err(lua_error(ctx, "consumer_id must be a string"));
    };
    let by_username = stack.get(1).to_bool();
    let id = String::from_utf8_lossy(id.as_bytes()).into_owned();
    let uuid = kong_uuid(&id);
    if uuid.is_none() && !by_username {
        return Err(lua_error(
            ctx,
            "cannot load a consumer with an id that is not a uuid",
        ));
    }
    let Some(store) = STORE.get() else {
        stack.replace(ctx, (Value::Nil, "no database"));
        return Ok(());
    };
    let found = match uuid {
        Some(uuid) => store.get(Kind::Consumer, &uuid),
        None => Ok(None),
    };
    let found = match found {
        Ok(None) if by_username => store.find_by_key(Kind::Consumer, &id),
        other => other,
    };
    match found {
        Ok(consumer) => {
            let v = consumer.map_or(Value::Nil, |c| {
                from_json(ctx, &serde_json::Value::Object(c))
            });
            stack.replace(ctx, v);
        }
        Err(e) => stack.replace(ctx, (Value::Nil, ctx.intern(e.to_string().as_bytes()))),
    }
    Ok(())
}

/// Kong's `is_valid_uuid`: 36 characters, hexadecimal groups of 8-4-4-4-12
/// in any case (nothing else `Uuid::parse_str` would take).
fn kong_uuid(s: &str) -> Option<Uuid> {
    let b = s.as_bytes();
    let shaped = b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if shaped {
        Uuid::parse_str(s).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_is_kongs_shape_only() {
        assert!(kong_uuid("5a61a36e-6133-4be7-b8be-6431d6e98019").is_some());
        assert!(kong_uuid("5A61A36E-6133-4BE7-B8BE-6431D6E98019").is_some());
        assert!(kong_uuid("5a61a36e61334be7b8be6431d6e98019").is_none());
        assert!(kong_uuid("{5a61a36e-6133-4be7-b8be-6431d6e98019}").is_none());
        assert!(kong_uuid("5a61a36e-6133-4be7-b8be-6431d6e9801g").is_none());
        assert!(kong_uuid("bob").is_none());
    }
}
