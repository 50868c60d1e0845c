//! The TLS entities of one configuration snapshot, parsed once when the
//! snapshot is built: the certificates the listener serves (by SNI), the
//! CA certificates and client certificates `https` services use.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use uuid::Uuid;

use super::pem;
use super::x509::KeyType;
use crate::entities::certificates::{CaCertificate, Certificate, Sni};

/// A `certificates` entity, ready to serve or present.
pub struct ServedCert {
    pub main: Arc<CertifiedKey>,
    pub main_type: KeyType,
    pub alt: Option<Arc<CertifiedKey>>,
    /// Changes with the entity (session caches are keyed by it).
    pub updated_at: i64,
}

#[derive(Default)]
pub struct TlsMaterial {
    pub certificates: HashMap<Uuid, Arc<ServedCert>>,
    /// Lower-cased SNI name (maybe a wildcard, or `*`) → certificate.
    pub snis: HashMap<String, Uuid>,
    pub cas: HashMap<Uuid, (CertificateDer<'static>, i64)>,
}

fn certified(cert: &str, key: &str) -> Result<(Arc<CertifiedKey>, KeyType), String> {
    let chain = pem::certificate_chain(cert)?;
    let key = pem::private_key(key)?;
    let key_type = chain.info.key_type;
    Ok((Arc::new(CertifiedKey::new(chain.chain, key)), key_type))
}

impl TlsMaterial {
    /// Parses the entities; one that no longer parses (it did when it was
    /// written) is left out with an error in the log.
    pub fn build(certs: &[Certificate], snis: &[Sni], cas: &[CaCertificate]) -> Self {
        let mut m = TlsMaterial::default();
        for c in certs {
            let main = certified(&c.cert, &c.key);
            let alt = match (&c.cert_alt, &c.key_alt) {
                (Some(cert), Some(key)) => Some(certified(cert, key)),
                _ => None,
            };
            match (main, alt.transpose()) {
                (Ok((main, main_type)), Ok(alt)) => {
                    m.certificates.insert(
                        c.id,
                        Arc::new(ServedCert {
                            main,
                            main_type,
                            alt: alt.map(|(k, _)| k),
                            updated_at: c.updated_at,
                        }),
                    );
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(certificate = %c.id, "skipping unusable certificate: {e}")
                }
            }
        }
        for s in snis {
            m.snis.insert(s.name.to_ascii_lowercase(), s.certificate.id);
        }
        for ca in cas {
            match pem::certificate_chain(&ca.cert) {
                Ok(chain) => {
                    if let Some(der) = chain.chain.into_iter().next() {
                        m.cas.insert(ca.id, (der, ca.updated_at));
                    }
                }
                Err(e) => {
                    tracing::error!(ca_certificate = %ca.id, "skipping unusable CA certificate: {e}")
                }
            }
        }
        m
    }

    /// The certificate for a client's server name, Kong's order: the exact
    /// name, `*.rest` (first label replaced, names of three labels or
    /// more), `first.*` (last label replaced), then the `*` SNI.
    pub fn find(&self, server_name: Option<&str>) -> Option<&Arc<ServedCert>> {
        let by = |name: &str| self.snis.get(name).and_then(|id| self.certificates.get(id));
        if let Some(name) = server_name {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(c) = by(&name) {
                return Some(c);
            }
            let labels = name.split('.').count();
            if let Some((_, rest)) = name.split_once('.').filter(|_| labels >= 3) {
                if let Some(c) = by(&format!("*.{rest}")) {
                    return Some(c);
                }
            }
            if let Some((first, _)) = name.rsplit_once('.') {
                if let Some(c) = by(&format!("{first}.*")) {
                    return Some(c);
                }
            }
        }
        by("*")
    }
}
