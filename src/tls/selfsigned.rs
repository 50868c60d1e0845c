//! The certificate served when no `certificates` entity applies and none
//! was configured as the default: an ECDSA P-256 key generated at start,
//! self-signed (nginx-based Kong ships a generated one too). Signed with
//! graviola through rcgen's `SigningKey` trait, so rcgen needs no `ring`.

use graviola::hashing::Sha256;
use graviola::signing::ecdsa::{SigningKey as EcKey, P256};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyIdMethod, PublicKeyData, SerialNumber,
    SignatureAlgorithm, SigningKey,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A P-256 key rcgen can sign with.
struct P256Key {
    key: EcKey<P256>,
    /// The uncompressed point (rcgen's "public key data").
    public: Vec<u8>,
}

impl PublicKeyData for P256Key {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for P256Key {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let mut buf = [0u8; 80];
        self.key
            .sign_asn1::<Sha256>(&[msg], &mut buf)
            .map(<[u8]>::to_vec)
            .map_err(|_| rcgen::Error::RingUnspecified)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("key generation failed: {0:?}")]
    Key(graviola::Error),
    #[error("certificate generation failed: {0}")]
    Cert(#[from] rcgen::Error),
}

/// A self-signed certificate for `names`, valid from yesterday for ten
/// years, and its PKCS#8 key.
pub fn generate(
    names: &[&str],
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), GenerateError> {
    let key = EcKey::<P256>::generate().map_err(GenerateError::Key)?;
    let mut spki = [0u8; 128];
    let spki = key.to_spki_der(&mut spki).map_err(GenerateError::Key)?;
    // A P-256 SubjectPublicKeyInfo ends with the 65-byte point.
    let public = spki[spki.len().saturating_sub(65)..].to_vec();
    let key_id = {
        use graviola::hashing::Hash;
        Sha256::hash(spki).as_ref()[..20].to_vec()
    };
    let mut pkcs8 = [0u8; 200];
    let pkcs8 = key
        .to_pkcs8_der(&mut pkcs8)
        .map_err(GenerateError::Key)?
        .to_vec();
    let signer = P256Key { key, public };

    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("lunagate"),
    );
    dn.push(DnType::OrganizationName, "lunagate (generated)");
    params.distinguished_name = dn;
    let mut serial = [0u8; 16];
    graviola::random::fill(&mut serial).map_err(GenerateError::Key)?;
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.key_identifier_method = KeyIdMethod::PreSpecified(key_id);
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(86_400)).into();
    params.not_after = (now + std::time::Duration::from_secs(10 * 365 * 86_400)).into();
    let cert = params.self_signed(&signer)?;
    Ok((
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8)),
    ))
}
