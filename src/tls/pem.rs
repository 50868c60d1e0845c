//! PEM certificates and keys as the Admin API receives them: parsed once
//! when written (a bad one is a 400 with Kong's `invalid certificate` /
//! `invalid key` text) and again when a snapshot is built.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::SigningKey;

use super::x509::{self, CertInfo};

/// A certificate and the intermediates that follow it.
pub struct Chain {
    pub chain: Vec<CertificateDer<'static>>,
    /// The first (leaf) certificate, parsed.
    pub info: CertInfo,
}

/// Every certificate of a PEM text, the first one parsed.
pub fn certificate_chain(pem: &str) -> Result<Chain, String> {
    let bad = |why: &str| format!("invalid certificate: x509.new: {why}");
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e.to_string()))?;
    let first = chain
        .first()
        .ok_or_else(|| bad("no PEM certificate found"))?;
    let info = x509::parse(first).map_err(bad)?;
    for other in &chain[1..] {
        x509::parse(other).map_err(bad)?;
    }
    Ok(Chain { chain, info })
}

/// A PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC) the provider can
/// sign with.
pub fn private_key(pem: &str) -> Result<Arc<dyn SigningKey>, String> {
    let bad = |why: &str| format!("invalid key: pkey.new: {why}");
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| bad(&e.to_string()))?;
    super::provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| bad(&e.to_string()))
}

/// The key's public half is the certificate's public key. Unknown when
/// the provider cannot tell (then it is accepted, as the handshake will
/// tell).
pub fn key_matches(chain: &Chain, key: &Arc<dyn SigningKey>) -> bool {
    key.public_key()
        .is_none_or(|spki| spki.as_ref() == chain.info.spki.as_slice())
}

/// Kong's `cert_digest`: the SHA-256 of the DER certificate, in hex.
pub fn sha256_hex(der: &[u8]) -> String {
    use graviola::hashing::{Hash, Sha256};
    let digest = Sha256::hash(der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
