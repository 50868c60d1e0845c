//! TLS for both sides of the proxy, in pure Rust: rustls with graviola's
//! crypto provider.
//!
//! Why graviola rather than RustCrypto's `rustls-rustcrypto` (the two
//! rustls providers that link no C; `ring` and `aws-lc-rs` compile C).
//! Measured in one run on this machine (2 cores, x86_64, both sides of an
//! in-memory TLS 1.3 handshake, X25519; README "HTTPS" has the table):
//! graviola does 2.7-3.8x the ECDSA P-256 handshakes, 3.5-5x the RSA-2048
//! ones (its RSA and P-256 come from formally verified s2n-bignum
//! assembly, translated to Rust `asm!`), and 6-7x the AES-128-GCM
//! throughput (1.3-1.8 GB/s against 0.2). It has ECDSA P-256/P-384,
//! Ed25519 and RSA (PKCS#1 and PSS) signatures, X25519, P-256, P-384 and
//! the X25519MLKEM768 hybrid, AES-GCM and ChaCha20-Poly1305, and is
//! maintained by rustls' author. `rustls-rustcrypto` is an alpha
//! (0.0.2-alpha), pulls an older webpki beside rustls', and signs RSA with
//! the `rsa` crate (RUSTSEC-2023-0071, a timing side channel). graviola's
//! limit: x86_64 with AES-NI, AVX2, BMI2 and ADX (CPUs since about 2014)
//! or aarch64 with the crypto extensions; it builds on
//! x86_64-unknown-linux-musl with rustc alone.
//!
//! - `x509`: the little of X.509 the Admin API checks (expiry, CA, key type).
//! - `pem`: certificates and keys as the Admin API receives them.
//! - `material`: the TLS entities of a snapshot, parsed.
//! - `server`: the listener's configuration: per-SNI certificate choice
//!   and ALPN.
//! - `upstream`: the client configuration of `https` services:
//!   verification, trust anchors, client certificates, session resumption.
//! - `selfsigned`: the certificate served when none is configured.
//! - `client_auth`: client certificates a certificate-phase function asks
//!   for (`kong.client.tls`), and nginx's verdict on them.

pub mod client_auth;
pub mod material;
pub mod pem;
pub mod selfsigned;
pub mod server;
pub mod upstream;
pub mod x509;

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;

/// The crypto provider every TLS configuration uses.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls_graviola::default_provider()))
        .clone()
}
