//! The listener's TLS configuration, rebuilt with every configuration
//! snapshot: which certificate a client gets (by the server name it sent,
//! `TlsMaterial::find`), ALPN (`h2`, then `http/1.1`), TLS 1.3 and 1.2,
//! and the cipher suite ([`ServerTls::for_hello`]).
//!
//! When no `certificates` entity applies (no SNI matches and there is no
//! `*` SNI), the client gets the certificate generated at start
//! ([`fallback`]). Session ids and tickets are process-wide, so sessions
//! resume across configuration changes.

use std::sync::{Arc, LazyLock, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::{CipherSuite, ServerConfig};

use super::client_auth::{AnyClientCert, HandshakeAsks};
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

/// The listener's configurations, the same but for whose cipher suite
/// order wins, each without and with a request for a client certificate.
pub struct ServerTls {
    /// Ours: AES-128-GCM first (the provider's order), then AES-256-GCM,
    /// then ChaCha20-Poly1305.
    ours: Arc<ServerConfig>,
    /// The client's.
    clients: Arc<ServerConfig>,
    /// The same two, asking for a client certificate
    /// (`kong.client.tls.request_client_certificate`).
    ours_asking: Arc<ServerConfig>,
    clients_asking: Arc<ServerConfig>,
}

impl ServerTls {
    /// The configuration for the client that sent `hello`: ours, unless the
    /// client puts ChaCha20-Poly1305 before AES-GCM, as clients without
    /// AES instructions do (Go's crypto/tls decides the same way).
    ///
    /// Most clients (OpenSSL, browsers on x86) list AES-256-GCM first;
    /// AES-128-GCM is as safe for a session and its key schedule hashes
    /// with SHA-256, which CPUs have instructions for (SHA-384 they do
    /// not): a resumed handshake took 8 % less CPU.
    ///
    /// `asks`: what the certificate phase asked for: a client
    /// certificate, and no session reuse (then the handshake neither
    /// resumes a session nor makes one that could be resumed).
    pub fn for_hello(&self, hello: &ClientHello<'_>, asks: &HandshakeAsks) -> Arc<ServerConfig> {
        let config = match (
            prefers_chacha(hello.cipher_suites()),
            asks.client_cert.is_some(),
        ) {
            (true, false) => &self.clients,
            (false, false) => &self.ours,
            (true, true) => &self.clients_asking,
            (false, true) => &self.ours_asking,
        };
        if !asks.no_session_reuse {
            return config.clone();
        }
        let mut once = (**config).clone();
        once.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        once.ticketer = Arc::new(NoTickets);
        once.send_tls13_tickets = 0;
        Arc::new(once)
    }
}

/// Issues no session ticket and accepts none.
#[derive(Debug)]
struct NoTickets;

impl rustls::server::ProducesTickets for NoTickets {
    fn enabled(&self) -> bool {
        false
    }
    fn lifetime(&self) -> u32 {
        0
    }
    fn encrypt(&self, _: &[u8]) -> Option<Vec<u8>> {
        None
    }
    fn decrypt(&self, _: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// Whether the first AEAD suite the client offers is ChaCha20-Poly1305.
fn prefers_chacha(offered: &[CipherSuite]) -> bool {
    use CipherSuite::*;
    offered
        .iter()
        .find_map(|s| match *s {
            TLS13_CHACHA20_POLY1305_SHA256
            | TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            | TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => Some(true),
            TLS13_AES_128_GCM_SHA256
            | TLS13_AES_256_GCM_SHA384
            | TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            | TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            | TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            | TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => Some(false),
            _ => None,
        })
        .unwrap_or(false)
}

/// A TLS session's protocol and cipher suite as nginx's `$ssl_protocol`
/// and `$ssl_cipher` name them (OpenSSL's names), for the PDK.
pub fn session_names(conn: &rustls::ServerConnection) -> Option<(&'static str, &'static str)> {
    use CipherSuite::*;
    let version = match conn.protocol_version()? {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => return None,
    };
    let cipher = match conn.negotiated_cipher_suite()?.suite() {
        TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => "UNKNOWN",
    };
    Some((version, cipher))
}

/// TLS 1.3 session tickets sent after each handshake (rustls' default: 2).
/// OpenSSL, so nginx and Kong, sends 1 after a resumed handshake (2 after a
/// full one; which one is coming is not known when the configuration is
/// chosen). A client resuming every connection (wrk's `Connection: close`
/// runs, a browser's next visit) takes one ticket and gets one back; each
/// extra ticket costs the client a session object and the server an
/// encryption and three `getrandom` calls: with 2, wrk did 2-5 % fewer
/// handshakes per second (`bench/PROFILE.md`).
const TLS13_TICKETS: usize = 1;

/// The listener's configuration for `material`.
pub fn server_config(material: Arc<TlsMaterial>) -> Result<Arc<ServerTls>, rustls::Error> {
    let resolver = Arc::new(SniResolver { material });
    // Ours and the client's cipher order.
    let pair = |asking: bool| -> Result<(Arc<ServerConfig>, Arc<ServerConfig>), rustls::Error> {
        let provider: Arc<CryptoProvider> = super::provider();
        let builder =
            ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
        let builder = if asking {
            builder.with_client_cert_verifier(Arc::new(AnyClientCert))
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.session_storage = session_cache();
        if let Some(t) = ticketer() {
            config.ticketer = t;
        }
        config.send_tls13_tickets = TLS13_TICKETS;
        let mut ours = config.clone();
        ours.ignore_client_order = true;
        Ok((Arc::new(ours), Arc::new(config)))
    };
    let (ours, clients) = pair(false)?;
    let (ours_asking, clients_asking) = pair(true)?;
    Ok(Arc::new(ServerTls {
        ours,
        clients,
        ours_asking,
        clients_asking,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CipherSuite::*;

    #[test]
    fn our_order_starts_with_aes_128_gcm() {
        let suites: Vec<CipherSuite> = super::super::provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        assert_eq!(
            suites[..3],
            [
                TLS13_AES_128_GCM_SHA256,
                TLS13_AES_256_GCM_SHA384,
                TLS13_CHACHA20_POLY1305_SHA256
            ]
        );
        let tls12 = suites
            .iter()
            .position(|s| *s == TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
        let tls12_256 = suites
            .iter()
            .position(|s| *s == TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384);
        assert!(tls12 < tls12_256);
    }

    #[test]
    fn chacha_first_clients_keep_their_order() {
        // GREASE and signalling values are skipped.
        let grease = CipherSuite::from(0x0a0a);
        assert!(prefers_chacha(&[
            grease,
            TLS13_CHACHA20_POLY1305_SHA256,
            TLS13_AES_128_GCM_SHA256
        ]));
        assert!(!prefers_chacha(&[
            grease,
            TLS13_AES_256_GCM_SHA384,
            TLS13_CHACHA20_POLY1305_SHA256
        ]));
        assert!(prefers_chacha(&[
            TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        ]));
        assert!(!prefers_chacha(&[TLS_EMPTY_RENEGOTIATION_INFO_SCSV]));
    }
}
