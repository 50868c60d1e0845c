//! Certificates made in the test (rcgen, signed with graviola: no C, no
//! `ring`), a TLS client (tokio-rustls) and a TLS upstream that reports
//! what it saw of the handshake.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use graviola::hashing::Sha256;
use graviola::signing::ecdsa::{SigningKey as EcKey, P256};
use graviola::signing::eddsa::Ed25519SigningKey;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyIdMethod,
    PublicKeyData, SerialNumber, SignatureAlgorithm, SigningKey,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

pub enum Key {
    Ec(EcKey<P256>, Vec<u8>),
    Ed(Ed25519SigningKey, Vec<u8>),
}

impl PublicKeyData for Key {
    fn der_bytes(&self) -> &[u8] {
        match self {
            Key::Ec(_, p) | Key::Ed(_, p) => p,
        }
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            Key::Ec(..) => &rcgen::PKCS_ECDSA_P256_SHA256,
            Key::Ed(..) => &rcgen::PKCS_ED25519,
        }
    }
}

impl SigningKey for Key {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            Key::Ec(k, _) => {
                let mut buf = [0u8; 80];
                Ok(k.sign_asn1::<Sha256>(&[msg], &mut buf).unwrap().to_vec())
            }
            Key::Ed(k, _) => Ok(k.sign(msg).to_vec()),
        }
    }
}

impl Key {
    pub fn ec() -> Key {
        let k = EcKey::<P256>::generate().unwrap();
        let mut spki = [0u8; 128];
        let spki = k.to_spki_der(&mut spki).unwrap();
        let public = spki[spki.len() - 65..].to_vec();
        Key::Ec(k, public)
    }

    pub fn ed25519() -> Key {
        let k = Ed25519SigningKey::generate().unwrap();
        let public = k.public_key().as_bytes().to_vec();
        Key::Ed(k, public)
    }

    fn pkcs8(&self) -> Vec<u8> {
        let mut buf = [0u8; 256];
        match self {
            Key::Ec(k, _) => k.to_pkcs8_der(&mut buf).unwrap().to_vec(),
            Key::Ed(k, _) => k.to_pkcs8_der(&mut buf).unwrap().to_vec(),
        }
    }
}

/// A certificate with its key, in PEM and DER.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
}

/// A CA that can issue certificates.
pub struct Ca {
    pub issued: Issued,
    params: CertificateParams,
    key: Key,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn params(cn: &str, names: &[&str], days: (i64, i64)) -> CertificateParams {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    let mut serial = [0u8; 16];
    graviola::random::fill(&mut serial).unwrap();
    serial[0] &= 0x7f;
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    p.key_identifier_method = KeyIdMethod::PreSpecified(serial[..8].to_vec());
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now + time::Duration::days(days.0);
    p.not_after = now + time::Duration::days(days.1);
    p
}

fn issued(cert: rcgen::Certificate, key: &Key) -> Issued {
    let pkcs8 = key.pkcs8();
    Issued {
        cert_pem: cert.pem(),
        key_pem: pem("PRIVATE KEY", &pkcs8),
        cert: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8)),
    }
}

/// A self-signed CA, valid for a year (`expired`: ended yesterday).
pub fn ca(name: &str, expired: bool) -> Ca {
    let key = Key::ec();
    let days = if expired { (-30, -1) } else { (-1, 365) };
    let mut p = params(name, &[], days);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = p.self_signed(&key).unwrap();
    Ca {
        issued: issued(cert, &key),
        params: p,
        key,
    }
}

impl Ca {
    /// An intermediate CA signed by this one.
    pub fn intermediate(&self, name: &str) -> Ca {
        let key = Key::ec();
        let mut p = params(name, &[], (-1, 365));
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = p.signed_by(&key, &issuer).unwrap();
        Ca {
            issued: issued(cert, &key),
            params: p,
            key,
        }
    }

    /// A server/client certificate for `names`, signed by this CA.
    pub fn leaf(&self, names: &[&str]) -> Issued {
        let key = Key::ec();
        let p = params(names.first().copied().unwrap_or("leaf"), names, (-1, 365));
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = p.signed_by(&key, &issuer).unwrap();
        issued(cert, &key)
    }
}

/// A self-signed end-entity certificate (ECDSA P-256, or Ed25519).
pub fn self_signed(names: &[&str], ed25519: bool) -> Issued {
    let key = if ed25519 { Key::ed25519() } else { Key::ec() };
    let p = params(names.first().copied().unwrap_or("self"), names, (-1, 365));
    let cert = p.self_signed(&key).unwrap();
    issued(cert, &key)
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls_graviola::default_provider())
}

/// What a TLS client saw.
pub struct TlsResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
    pub alpn: Option<Vec<u8>>,
    /// The leaf certificate the gateway served.
    pub peer_cert: Option<CertificateDer<'static>>,
    pub version: http::Version,
}

impl TlsResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

/// A certificate verifier that accepts any certificate (the tests look at
/// which one was served).
#[derive(Debug)]
pub struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl AnyCert {
    pub fn new() -> Arc<AnyCert> {
        Arc::new(AnyCert(provider()))
    }
}

mod any_cert {
    use super::*;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    impl ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

/// A client config that accepts any certificate and offers `alpn`.
pub fn any_cert_client(alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut c = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(AnyCert::new())
        .with_no_client_auth();
    c.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    Arc::new(c)
}

/// Sends one request over TLS (SNI `sni`, none for an IP) and reads the
/// answer, over HTTP/2 when ALPN chose it.
pub async fn https_request(
    addr: SocketAddr,
    sni: &str,
    config: Arc<rustls::ClientConfig>,
    req: http::Request<String>,
) -> std::io::Result<TlsResponse> {
    use http_body_util::{BodyExt, Full};
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from(sni.to_string()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let peer_cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first().cloned());
    let io = hyper_util::rt::TokioIo::new(tls);
    let req = req.map(|b| Full::new(bytes::Bytes::from(b)));
    let resp = if alpn.as_deref() == Some(b"h2") {
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        send.send_request(req)
            .await
            .map_err(std::io::Error::other)?
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        send.send_request(req)
            .await
            .map_err(std::io::Error::other)?
    };
    let status = resp.status().as_u16();
    let version = resp.version();
    let headers = resp.headers().clone();
    let body = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?
        .to_bytes();
    Ok(TlsResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        alpn,
        peer_cert,
        version,
    })
}

/// A GET with a Host header.
pub fn get(host: &str, path: &str) -> http::Request<String> {
    http::Request::builder()
        .uri(format!("https://{host}{path}"))
        .header("host", host)
        .body(String::new())
        .unwrap()
}

/// A TLS upstream with `cert` (and, when `client_ca` is set, requiring a
/// client certificate issued by it). Every response is JSON: the SNI the
/// client sent, whether the session was resumed, the client
/// certificate's DER length, and the request path; `/close` answers with
/// `Connection: close`.
pub async fn tls_upstream(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<CertificateDer<'static>>,
) -> SocketAddr {
    use http_body_util::Full;
    let p = provider();
    let builder = rustls::ServerConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca).unwrap();
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), p)
                    .build()
                    .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let (_, conn) = tls.get_ref();
                let info = serde_json::json!({
                    "sni": conn.server_name(),
                    "resumed": conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
                    "client_cert_len": conn.peer_certificates().and_then(|c| c.first()).map(|c| c.len()),
                });
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let mut info = info.clone();
                        info["path"] = req.uri().path().into();
                        info["x_forwarded_proto"] = req
                            .headers()
                            .get("x-forwarded-proto")
                            .and_then(|v| v.to_str().ok())
                            .into();
                        let close = req.uri().path() == "/close";
                        async move {
                            let mut resp = hyper::Response::new(Full::new(bytes::Bytes::from(
                                info.to_string(),
                            )));
                            if close {
                                resp.headers_mut()
                                    .insert("connection", http::HeaderValue::from_static("close"));
                            }
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}
