//! The listener's TLS configuration, rebuilt with every configuration
//! snapshot: which certificate a client gets (by the server name it sent,
//! `TlsMaterial::find`), ALPN (`h2`, then `http/1.1`), TLS 1.3 and 1.2.
//!
//! When no `certificates` entity applies (no SNI matches and there is no
//! `*` SNI), the client gets the certificate generated at start
//! ([`fallback`]). Session ids and tickets are process-wide, so sessions
//! resume across configuration changes.

use std::sync::{Arc, LazyLock, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use super::material::{ServedCert, TlsMaterial};
use super::x509::KeyType;

static FALLBACK: OnceLock<Arc<CertifiedKey>> = OnceLock::new();

/// The generated certificate. Generated on first use, if [`generate_fallback`]
/// was not called at start.
pub fn fallback() -> Arc<CertifiedKey> {
    FALLBACK
        .get_or_init(|| match generate() {
            Ok(k) => k,
            Err(e) => {
                // Cannot happen short of the system RNG failing.
                tracing::error!("cannot generate a TLS certificate: {e}");
                Arc::new(CertifiedKey::new(
                    Vec::new(),
                    Arc::new(NoKey) as Arc<dyn rustls::sign::SigningKey>,
                ))
            }
        })
        .clone()
}

fn generate() -> Result<Arc<CertifiedKey>, String> {
    let (cert, key) = super::selfsigned::generate(&["localhost"]).map_err(|e| e.to_string())?;
    let key = super::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(CertifiedKey::new(vec![cert], key)))
}

/// Generates the fallback certificate now (at start), logging that it did.
pub fn generate_fallback() {
    let _ = fallback();
    tracing::info!(
        "TLS: generated a self-signed ECDSA P-256 certificate for 'localhost'; it is served \
         when no certificate entity matches the client's SNI (add one with a '*' SNI to \
         replace it)"
    );
}

#[derive(Debug)]
struct NoKey;

impl rustls::sign::SigningKey for NoKey {
    fn choose_scheme(
        &self,
        _: &[rustls::SignatureScheme],
    ) -> Option<Box<dyn rustls::sign::Signer>> {
        None
    }
    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        rustls::SignatureAlgorithm::Anonymous
    }
}

fn session_cache() -> Arc<dyn rustls::server::StoresServerSessions> {
    static CACHE: LazyLock<Arc<ServerSessionMemoryCache>> =
        LazyLock::new(|| ServerSessionMemoryCache::new(64 * 1024));
    CACHE.clone()
}

fn ticketer() -> Option<Arc<dyn rustls::server::ProducesTickets>> {
    static TICKETER: LazyLock<Option<Arc<dyn rustls::server::ProducesTickets>>> =
        LazyLock::new(|| match rustls_graviola::Ticketer::new() {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!("TLS session tickets disabled: {e}");
                None
            }
        });
    TICKETER.clone()
}

/// Picks a certificate by the client's SNI.
#[derive(Debug)]
struct SniResolver {
    material: Arc<TlsMaterial>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("certificates", &self.certificates.len())
            .field("snis", &self.snis.len())
            .finish_non_exhaustive()
    }
}

/// Of a certificate and its alternative, the one the client can verify,
/// ECDSA first (as nginx with OpenSSL does).
fn pick(served: &ServedCert, hello: &ClientHello<'_>) -> Arc<CertifiedKey> {
    let schemes = hello.signature_schemes();
    let usable = |k: &Arc<CertifiedKey>| k.key.choose_scheme(schemes).is_some();
    match &served.alt {
        Some(alt) if served.main_type != KeyType::Ec && usable(alt) => alt.clone(),
        Some(alt) if !usable(&served.main) && usable(alt) => alt.clone(),
        _ => served.main.clone(),
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(match self.material.find(hello.server_name()) {
            Some(served) => pick(served, &hello),
            None => fallback(),
        })
    }
}

/// The listener's configuration for `material`.
pub fn server_config(material: Arc<TlsMaterial>) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider: Arc<CryptoProvider> = super::provider();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { material }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.session_storage = session_cache();
    if let Some(t) = ticketer() {
        config.ticketer = t;
    }
    Ok(Arc::new(config))
}
