//! Kong's TLS entities: `certificates` (a certificate and key the proxy
//! serves, with an optional alternative of the other key type), `snis`
//! (the server names a certificate is served for, wildcards allowed) and
//! `ca_certificates` (trust anchors for verifying upstreams). The checks
//! are Kong's (`kong/db/schema/entities/{certificates,snis,ca_certificates}.lua`
//! and `typedefs.lua`), with its messages; PEM and X.509 parsing is in
//! `crate::tls`.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::schema::{array_of, Field, FieldType};
use super::ForeignKey;
use crate::tls::pem;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Certificate {
    pub id: Uuid,
    pub updated_at: i64,
    pub cert: String,
    pub key: String,
    pub cert_alt: Option<String>,
    pub key_alt: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sni {
    pub id: Uuid,
    pub name: String,
    pub certificate: ForeignKey,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaCertificate {
    pub id: Uuid,
    pub updated_at: i64,
    pub cert: String,
}

pub fn certificate_fields() -> &'static [Field] {
    static FIELDS: OnceLock<Vec<Field>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut f = super::common_fields();
        f.extend([
            Field::new("cert", FieldType::String).required(),
            Field::new("key", FieldType::String).required(),
            Field::new("cert_alt", FieldType::String),
            Field::new("key_alt", FieldType::String),
            // Transient: stored as `snis` entities, shown on the certificate.
            Field::new("snis", array_of(FieldType::String)),
        ]);
        f
    })
}

pub fn sni_fields() -> &'static [Field] {
    static FIELDS: OnceLock<Vec<Field>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut f = super::common_fields();
        f.extend([
            Field::new("name", FieldType::String).required(),
            Field::new("certificate", FieldType::Foreign).required(),
        ]);
        f
    })
}

pub fn ca_certificate_fields() -> &'static [Field] {
    static FIELDS: OnceLock<Vec<Field>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut f = super::common_fields();
        f.extend([
            Field::new("cert", FieldType::String).required(),
            Field::new("cert_digest", FieldType::String),
        ]);
        f
    })
}

fn string<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// `certificates`: the PEM fields parse, a key matches its certificate,
/// and the alternative is of the other key type.
pub fn check_certificate(obj: &Map<String, Value>, errors: &mut Map<String, Value>) {
    let mut parsed = |cert: &str, key: &str| {
        let c = string(obj, cert).map(pem::certificate_chain);
        let k = string(obj, key).map(pem::private_key);
        if let Some(Err(e)) = &c {
            errors.insert(cert.into(), json!(e));
        }
        if let Some(Err(e)) = &k {
            errors.insert(key.into(), json!(e));
        }
        (c.and_then(Result::ok), k.and_then(Result::ok))
    };
    let (cert, key) = parsed("cert", "key");
    let (cert_alt, key_alt) = parsed("cert_alt", "key_alt");
    if let Some(Value::Array(names)) = obj.get("snis") {
        let errs: Vec<Value> = names
            .iter()
            .map(|n| {
                n.as_str()
                    .and_then(|n| check_wildcard_host(n).err())
                    .map_or(Value::Null, Value::from)
            })
            .collect();
        if errs.iter().any(|e| !e.is_null()) {
            errors.insert("snis".into(), Value::Array(errs));
        }
    }
    if !errors.is_empty() {
        return;
    }
    let set = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
    if set("cert_alt") != set("key_alt") {
        super::entity_error(
            errors,
            "all or none of these fields must be set: 'cert_alt', 'key_alt'",
        );
        return;
    }
    if let (Some(c), Some(k)) = (&cert, &key) {
        if !pem::key_matches(c, k) {
            super::entity_error(errors, "certificate does not match key");
        }
    }
    if let (Some(c), Some(k)) = (&cert_alt, &key_alt) {
        if !pem::key_matches(c, k) {
            super::entity_error(errors, "alternative certificate does not match key");
        }
    }
    if let (Some(c), Some(alt)) = (&cert, &cert_alt) {
        if c.info.key_type == alt.info.key_type {
            super::entity_error(
                errors,
                "certificate and alternative certificate need to have different type \
                 (e.g. RSA and ECDSA), the provided certificates were both of the same type",
            );
        }
    }
}

/// `snis`: the name is a host name, maybe with one wildcard.
pub fn check_sni(obj: &Map<String, Value>, errors: &mut Map<String, Value>) {
    if let Some(name) = string(obj, "name") {
        if let Err(e) = check_wildcard_host(name) {
            errors.insert("name".into(), json!(e));
        }
    }
}

/// `ca_certificates`: one certificate, a CA, not expired; its digest is
/// computed (Kong's `cert_digest` transformation).
pub fn check_ca_certificate(obj: &mut Map<String, Value>, errors: &mut Map<String, Value>) {
    let Some(cert) = string(obj, "cert").map(str::to_string) else {
        return;
    };
    let chain = match pem::certificate_chain(&cert) {
        Ok(chain) => chain,
        Err(e) => {
            errors.insert("cert".into(), json!(e));
            return;
        }
    };
    if chain.chain.len() > 1 {
        super::entity_error(errors, "please submit only one certificate at a time");
        return;
    }
    if chain.info.not_after < super::now_seconds() {
        super::entity_error(
            errors,
            "certificate expired, \"Not After\" time is in the past",
        );
        return;
    }
    if !chain.info.is_ca {
        super::entity_error(
            errors,
            "certificate does not appear to be a CA because it is missing the \"CA\" basic constraint",
        );
        return;
    }
    obj.insert(
        "cert_digest".into(),
        json!(pem::sha256_hex(&chain.chain[0])),
    );
}

/// Kong's `typedefs.wildcard_host`: a host name with at most one `*`, as
/// its leftmost or rightmost character; no IP address, no port.
pub fn check_wildcard_host(host: &str) -> Result<(), String> {
    let mut mock = host.to_string();
    if let Some(idx) = host.find('*') {
        if idx != 0 && idx != host.len() - 1 {
            return Err("wildcard must be leftmost or rightmost character".into());
        }
        if host.matches('*').count() > 1 {
            return Err("only one wildcard must be specified".into());
        }
        mock = host.replace('*', "wildcard");
    }
    if mock.parse::<std::net::IpAddr>().is_ok()
        || mock
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
    {
        return Err("must not be an IP".into());
    }
    if let Some((h, port)) = mock.rsplit_once(':') {
        if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) {
            if h.parse::<std::net::Ipv4Addr>().is_ok() {
                return Err("must not be an IP".into());
            }
            return Err("must not have a port".into());
        }
    }
    if super::services::valid_host(&mock) {
        Ok(())
    } else {
        Err(format!("invalid value: {mock}"))
    }
}

#[cfg(test)]
mod tests {
    use super::check_wildcard_host;

    #[test]
    fn kong_wildcard_host_rules() {
        for ok in ["example.com", "*.example.com", "example.*", "*", "a-b.test"] {
            assert_eq!(check_wildcard_host(ok), Ok(()), "{ok}");
        }
        for (bad, msg) in [
            ("*.wildcard.*", "only one wildcard must be specified"),
            ("a.*.b", "wildcard must be leftmost or rightmost character"),
            ("10.0.0.1", "must not be an IP"),
            ("example.com:80", "must not have a port"),
            ("exa mple.com", "invalid value: exa mple.com"),
        ] {
            assert_eq!(check_wildcard_host(bad), Err(msg.to_string()), "{bad}");
        }
    }
}
