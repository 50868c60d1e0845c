//! Client certificates on the TLS listener, as Kong's `kong.client.tls`
//! asks for them: a certificate-phase function calls
//! `request_client_certificate(ca_certs)` (as `ngx.ssl.verify_client`),
//! the handshake then asks the client for a certificate without
//! requiring one ([`AnyClientCert`]), and the chain it sent is checked
//! against those CA certificates once the handshake is done
//! ([`ClientCert::check`]), giving nginx's `$ssl_client_verify`.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// What the certificate phase asked of the handshake.
#[derive(Debug, Default, Clone)]
pub struct HandshakeAsks {
    /// `request_client_certificate` was called: the CA certificates the
    /// client's chain must lead to (none: any chain fails, as OpenSSL's
    /// `unable to get local issuer certificate`).
    pub client_cert: Option<Arc<[CertificateDer<'static>]>>,
    /// `disable_session_reuse`: no session of this handshake is resumed
    /// later, and it resumes none.
    pub no_session_reuse: bool,
}

/// The client's certificate chain and nginx's verdict on it.
#[derive(Debug)]
pub struct ClientCert {
    /// Leaf first, as sent.
    pub chain: Vec<CertificateDer<'static>>,
    /// `$ssl_client_verify`: `SUCCESS` or `FAILED:<OpenSSL's reason>`.
    pub verify: &'static str,
}

impl ClientCert {
    /// Checks the chain a client sent (`None`: it sent none) against
    /// `cas`; `None` when there is nothing to report (`NONE`).
    pub fn check(
        sent: Option<&[CertificateDer<'static>]>,
        cas: &[CertificateDer<'static>],
    ) -> Option<ClientCert> {
        let chain = sent.filter(|c| !c.is_empty())?.to_vec();
        let verify = verdict(&chain, cas);
        Some(ClientCert { chain, verify })
    }

    /// The chain as PEM, leaf first (`get_full_client_certificate_chain`).
    pub fn pem(&self) -> String {
        use base64::Engine;
        let mut out = String::new();
        for cert in &self.chain {
            out.push_str("-----BEGIN CERTIFICATE-----\n");
            let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
            for line in b64.as_bytes().chunks(64) {
                out.push_str(std::str::from_utf8(line).unwrap_or_default());
                out.push('\n');
            }
            out.push_str("-----END CERTIFICATE-----\n");
        }
        out
    }
}

/// OpenSSL's verification result text for `chain` against `cas`.
fn verdict(chain: &[CertificateDer<'static>], cas: &[CertificateDer<'static>]) -> &'static str {
    const NO_ISSUER: &str = "FAILED:unable to get local issuer certificate";
    let Some((leaf, intermediates)) = chain.split_first() else {
        return NO_ISSUER;
    };
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        let _ = roots.add(ca.clone());
    }
    if roots.is_empty() {
        return NO_ISSUER;
    }
    let verifier = match rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        super::provider(),
    )
    .build()
    {
        Ok(v) => v,
        Err(_) => return NO_ISSUER,
    };
    match verifier.verify_client_cert(leaf, intermediates, UnixTime::now()) {
        Ok(_) => "SUCCESS",
        Err(rustls::Error::InvalidCertificate(e)) => match e {
            CertificateError::UnknownIssuer => NO_ISSUER,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "FAILED:certificate has expired"
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "FAILED:certificate is not yet valid"
            }
            CertificateError::BadSignature => "FAILED:certificate signature failure",
            CertificateError::Revoked => "FAILED:certificate revoked",
            _ => "FAILED:unsupported certificate purpose",
        },
        Err(_) => "FAILED:certificate verify failed",
    }
}

/// `request_client_certificate`'s argument: the CA certificates as PEM
/// (one or more). Kong takes OpenResty's parsed cdata
/// (`ngx.ssl.parse_pem_cert`), which functions cannot make.
pub fn parse_cas(pem: &[u8]) -> Result<Arc<[CertificateDer<'static>]>, String> {
    let cas = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if cas.is_empty() {
        return Err("no PEM certificate found".into());
    }
    Ok(cas.into())
}

/// Asks for a client certificate, takes whichever comes (or none), and
/// checks only that the client holds its key (the handshake signature):
/// the chain is judged after the handshake, which goes on either way, as
/// nginx's `ssl_verify_client optional_no_ca`.
#[derive(Debug)]
pub struct AnyClientCert;

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &super::provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &super::provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        super::provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
