//! The TLS client side: how the proxy talks to `https` services.
//!
//! Kong's defaults, from nginx's: `tls_verify` unset means no verification
//! (`proxy_ssl_verify off`), as Kong does; the handshake signature is still
//! checked against the certificate. With `tls_verify: true` the chain must
//! lead to one of the service's `ca_certificates`, or, when it lists none,
//! to Mozilla's roots compiled into the binary (`webpki-roots`: a
//! `FROM scratch` image has no system store); the name checked is the SNI.
//! `tls_verify_depth` bounds the intermediates between the certificate and
//! its anchor, nginx's `proxy_ssl_verify_depth` (1 when unset, nginx's
//! default). A `client_certificate` is presented when the upstream asks.
//!
//! Session resumption: every connection of one service's settings shares a
//! client configuration, whose session cache keeps the tickets and session
//! ids the upstream gave. The caches are process-wide, keyed by the
//! settings, so they survive configuration changes that do not touch them.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore};
use uuid::Uuid;

use super::material::TlsMaterial;
use crate::entities::Service;

/// nginx's `proxy_ssl_verify_depth` default.
const DEFAULT_VERIFY_DEPTH: usize = 1;
/// Sessions kept per settings: one per upstream host it is used for, a few.
const SESSIONS_PER_CONFIG: usize = 256;
/// Session caches kept before the oldest settings' are forgotten.
const MAX_SESSION_CACHES: usize = 1024;

/// Mozilla's roots, parsed once.
fn public_roots() -> Arc<RootCertStore> {
    static ROOTS: LazyLock<Arc<RootCertStore>> = LazyLock::new(|| {
        Arc::new(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
    });
    ROOTS.clone()
}

/// The session cache for one set of TLS settings.
fn session_cache(key: &str) -> Arc<ClientSessionMemoryCache> {
    static CACHES: LazyLock<Mutex<HashMap<String, Arc<ClientSessionMemoryCache>>>> =
        LazyLock::new(Default::default);
    let mut caches = CACHES.lock().unwrap_or_else(PoisonError::into_inner);
    if caches.len() >= MAX_SESSION_CACHES && !caches.contains_key(key) {
        caches.clear();
    }
    caches
        .entry(key.to_string())
        .or_insert_with(|| Arc::new(ClientSessionMemoryCache::new(SESSIONS_PER_CONFIG)))
        .clone()
}

/// Why a service's TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("ca certificate {0} does not exist")]
    MissingCa(Uuid),
    #[error("client certificate {0} does not exist")]
    MissingClientCertificate(Uuid),
    #[error("{0}")]
    Rustls(#[from] Error),
}

/// The client configuration for a service's TLS settings, and a key that
/// names those settings (connections made with different settings must
/// not share a pool).
pub fn client_config(
    service: &Service,
    material: &TlsMaterial,
) -> Result<(Arc<ClientConfig>, String), SettingsError> {
    let provider = super::provider();
    let verify = service.tls_verify.unwrap_or(false);
    let depth = service
        .tls_verify_depth
        .map_or(DEFAULT_VERIFY_DEPTH, |d| d.clamp(0, 64) as usize);
    let mut key = format!("v={verify};d={depth}");
    let roots = if !verify {
        None
    } else {
        match service.ca_certificates.as_deref().filter(|c| !c.is_empty()) {
            None => Some(public_roots()),
            Some(ids) => {
                let mut store = RootCertStore::empty();
                for id in ids {
                    let id = Uuid::parse_str(id).unwrap_or_default();
                    let (der, updated) =
                        material.cas.get(&id).ok_or(SettingsError::MissingCa(id))?;
                    store.add(der.clone())?;
                    key.push_str(&format!(";ca={id}@{updated}"));
                }
                Some(Arc::new(store))
            }
        }
    };
    let verifier = Arc::new(Verifier {
        roots,
        depth,
        algorithms: provider.signature_verification_algorithms,
    });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let client_cert = service
        .client_certificate
        .as_ref()
        .and_then(|v| v.get("id"))
        .and_then(|v| v.as_str())
        .map(|id| Uuid::parse_str(id).unwrap_or_default());
    let mut config = match client_cert {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let cert = material
                .certificates
                .get(&id)
                .ok_or(SettingsError::MissingClientCertificate(id))?;
            key.push_str(&format!(";client={id}@{}", cert.updated_at));
            builder.with_client_cert_resolver(Arc::new(ClientCert(cert.main.clone())))
        }
    };
    config.resumption = Resumption::store(session_cache(&key));
    // HTTP/1.1 only upstream (the proxy's client speaks nothing else).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), key))
}

/// The name to send as SNI and verify: the service host (or the Host the
/// request is sent with), without a port.
pub fn server_name(host: &str) -> Option<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).ok()
}

/// A service's `client_certificate`, presented whenever asked.
#[derive(Debug)]
struct ClientCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _: &[&[u8]],
        _: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Chain verification with nginx's depth limit, or none at all.
#[derive(Debug)]
struct Verifier {
    /// `None`: `tls_verify` is off.
    roots: Option<Arc<RootCertStore>>,
    depth: usize,
    algorithms: WebPkiSupportedAlgorithms,
}

fn certificate_error(e: webpki::Error) -> Error {
    Error::InvalidCertificate(match e {
        webpki::Error::UnknownIssuer => CertificateError::UnknownIssuer,
        webpki::Error::CertExpired { .. } => CertificateError::Expired,
        webpki::Error::CertNotValidYet { .. } => CertificateError::NotValidYet,
        webpki::Error::CertNotValidForName(_) => CertificateError::NotValidForName,
        webpki::Error::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        e => CertificateError::Other(rustls::OtherError(Arc::new(e))),
    })
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(roots) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(certificate_error)?;
        let depth = self.depth;
        let within_depth = move |path: &webpki::VerifiedPath<'_>| {
            if path.intermediate_certificates().count() > depth {
                Err(webpki::Error::MaximumPathDepthExceeded)
            } else {
                Ok(())
            }
        };
        cert.verify_for_usage(
            self.algorithms.all,
            &roots.roots,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            Some(&within_depth),
        )
        .map_err(certificate_error)?;
        cert.verify_is_valid_for_subject_name(server_name)
            .map_err(certificate_error)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    /// `tls_verify` without `ca_certificates` trusts Mozilla's roots from
    /// the binary, not from a system store a `FROM scratch` image lacks.
    #[test]
    fn mozillas_roots_are_compiled_in() {
        let roots = super::public_roots();
        assert!(roots.len() > 100, "{} roots", roots.len());
        assert_eq!(roots.len(), webpki_roots::TLS_SERVER_ROOTS.len());
        let isrg = b"ISRG Root X1";
        assert!(roots
            .roots
            .iter()
            .any(|a| a.subject.windows(isrg.len()).any(|w| w == isrg)));
    }
}
