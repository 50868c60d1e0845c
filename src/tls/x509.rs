//! Just enough X.509 to validate what the Admin API is given: a
//! certificate's expiry, whether it is a CA, its key type and public key.
//!
//! A DER reader that walks a fixed path through the certificate
//! (RFC 5280 §4.1): no recursion, so no depth to bound, and every length
//! is checked against what is left of its parent. rustls and webpki parse
//! the certificate again, fully, when it is used; this only answers the
//! questions Kong's schema asks at write time.

/// The public key algorithm of a certificate, for Kong's rule that a
/// certificate and its alternative have different types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Ec,
    Ed25519,
    Other,
}

/// What the Admin API checks of a certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// Seconds since the epoch.
    pub not_after: i64,
    /// The basic constraints extension says `cA`.
    pub is_ca: bool,
    pub key_type: KeyType,
    /// The DER SubjectPublicKeyInfo, compared with the private key's.
    pub spki: Vec<u8>,
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BOOLEAN: u8 = 0x01;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;

const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];

/// One TLV: its tag, its contents, and the whole encoding.
struct Tlv<'a> {
    tag: u8,
    contents: &'a [u8],
    whole: &'a [u8],
}

/// Reads the TLV at the start of `input`; returns it and what follows.
fn tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags never occur in a certificate
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    let (contents, after) = rest.split_at(len);
    Some((
        Tlv {
            tag,
            contents,
            whole: &input[..header + len],
        },
        after,
    ))
}

/// Reads a TLV that must have `tag`.
fn expect(input: &[u8], tag: u8) -> Option<(Tlv<'_>, &[u8])> {
    tlv(input).filter(|(t, _)| t.tag == tag)
}

/// Parses one DER certificate.
pub fn parse(der: &[u8]) -> Result<CertInfo, &'static str> {
    const BAD: &str = "not a valid X.509 certificate";
    let (cert, rest) = expect(der, SEQUENCE).ok_or(BAD)?;
    if !rest.is_empty() {
        return Err(BAD);
    }
    let (tbs, _) = expect(cert.contents, SEQUENCE).ok_or(BAD)?;
    let mut at = tbs.contents;
    if let Some((_, rest)) = expect(at, VERSION) {
        at = rest;
    }
    let (_, at) = expect(at, INTEGER).ok_or(BAD)?; // serial
    let (_, at) = expect(at, SEQUENCE).ok_or(BAD)?; // signature algorithm
    let (_, at) = expect(at, SEQUENCE).ok_or(BAD)?; // issuer
    let (validity, at) = expect(at, SEQUENCE).ok_or(BAD)?;
    let (_, at) = expect(at, SEQUENCE).ok_or(BAD)?; // subject
    let (spki, mut at) = expect(at, SEQUENCE).ok_or(BAD)?;

    let (not_before, after) = tlv(validity.contents).ok_or(BAD)?;
    let (not_after, _) = tlv(after).ok_or(BAD)?;
    time(&not_before).ok_or("invalid validity period")?;
    let not_after = time(&not_after).ok_or("invalid validity period")?;

    let (alg, _) = expect(spki.contents, SEQUENCE).ok_or(BAD)?;
    let (oid, _) = expect(alg.contents, OID).ok_or(BAD)?;
    let key_type = match oid.contents {
        RSA_ENCRYPTION | RSASSA_PSS => KeyType::Rsa,
        EC_PUBLIC_KEY => KeyType::Ec,
        ED25519 => KeyType::Ed25519,
        _ => KeyType::Other,
    };

    let mut is_ca = false;
    while let Some((field, rest)) = tlv(at) {
        at = rest;
        if field.tag != EXTENSIONS {
            continue;
        }
        let (list, _) = expect(field.contents, SEQUENCE).ok_or(BAD)?;
        let mut exts = list.contents;
        while let Some((ext, rest)) = expect(exts, SEQUENCE) {
            exts = rest;
            let (oid, mut inner) = expect(ext.contents, OID).ok_or(BAD)?;
            if oid.contents != BASIC_CONSTRAINTS {
                continue;
            }
            if let Some((_, rest)) = expect(inner, BOOLEAN) {
                inner = rest; // critical
            }
            let (value, _) = expect(inner, OCTET_STRING).ok_or(BAD)?;
            let (constraints, _) = expect(value.contents, SEQUENCE).ok_or(BAD)?;
            if let Some((ca, _)) = expect(constraints.contents, BOOLEAN) {
                is_ca = ca.contents.first().is_some_and(|&b| b != 0);
            }
        }
    }
    Ok(CertInfo {
        not_after,
        is_ca,
        key_type,
        spki: spki.whole.to_vec(),
    })
}

/// A UTCTime or GeneralizedTime in UTC (`…Z`), as seconds since the epoch.
fn time(t: &Tlv<'_>) -> Option<i64> {
    let s = std::str::from_utf8(t.contents).ok()?;
    let s = s.strip_suffix('Z')?;
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match t.tag {
        UTC_TIME if s.len() == 12 => {
            let yy: i64 = s[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        GENERALIZED_TIME if s.len() == 14 => (s[..4].parse().ok()?, &s[4..]),
        _ => return None,
    };
    let num = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, min, sec) = (num(0)?, num(2)?, num(4)?, num(6)?, num(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2119, 8, 22), 54_654);
        let t = |tag, s: &str| {
            time(&Tlv {
                tag,
                contents: s.as_bytes(),
                whole: &[],
            })
        };
        assert_eq!(t(UTC_TIME, "190915162753Z"), Some(1_568_564_873));
        assert_eq!(t(GENERALIZED_TIME, "21190822162753Z"), Some(4_722_164_873));
        assert_eq!(t(UTC_TIME, "19091516275Z"), None);
        assert_eq!(t(UTC_TIME, "191315162753Z"), None);
    }

    #[test]
    fn truncated_or_garbage_input_is_refused() {
        for bad in [
            &b""[..],
            b"\x30",
            b"\x30\x84\xff\xff\xff\xff",
            b"\x30\x03\x02\x01",
        ] {
            assert!(parse(bad).is_err());
        }
    }
}
