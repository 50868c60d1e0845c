//! The PROXY protocol (HAProxy's, versions 1 and 2), read on a listener
//! marked `proxy_protocol` (`--proxy-listen "0.0.0.0:8000 proxy_protocol"`)
//! before HTTP or TLS: a load balancer (AWS NLB, HAProxy) names the
//! client it connected for. The source address is nginx's
//! `$proxy_protocol_addr`/`$proxy_protocol_port`; with `--real-ip-header
//! proxy_protocol` and a trusted peer it is the client (`crate::trust`).
//!
//! As nginx: a connection on such a listener that does not open with a
//! valid header is closed without an answer (nginx logs `broken header`).
//! Nothing beyond the header is consumed (it is found by peeking), so the
//! stream is handed on untouched. Limits: a v1 line is at most 107 bytes
//! (the specification's maximum), a v2 header at most [`V2_MAX`] bytes;
//! the caller bounds the time (the client header timeout).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The longest v1 line, `\r\n` included.
pub const V1_MAX: usize = 107;

/// The longest v2 header read (16 bytes and its addresses and TLVs; AWS
/// NLB's TLVs take some tens of bytes).
pub const V2_MAX: usize = 1024;

/// v2's 12-byte signature.
const V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

const V1_PREFIX: &[u8] = b"PROXY ";

/// Why a header was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BrokenHeader {
    #[error("broken header: not a PROXY protocol header")]
    NotProxy,
    #[error("broken header: malformed v1 line")]
    V1,
    #[error("broken header: no CRLF within {V1_MAX} bytes")]
    TooLong,
    #[error("broken header: malformed v2 header")]
    V2,
    #[error("broken header: v2 header longer than {V2_MAX} bytes")]
    V2TooLong,
    #[error("connection closed inside the PROXY header")]
    Closed,
    #[error("reading the PROXY header: {0}")]
    Io(String),
}

/// What a parse of the bytes so far found.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole header of this many bytes, naming this source (`None`:
    /// v1 `UNKNOWN`, v2 `LOCAL` or an address family without one).
    Done(usize, Option<SocketAddr>),
    /// A valid beginning: at least this many bytes in all are needed.
    More(usize),
}

/// Parses the beginning of a connection.
pub fn parse(buf: &[u8]) -> Result<Parsed, BrokenHeader> {
    // Whether the bytes so far agree with the start of `sig`.
    let prefix = |sig: &[u8]| {
        let n = buf.len().min(sig.len());
        buf[..n] == sig[..n]
    };
    if buf.first() == Some(&V2_SIG[0]) {
        if !prefix(V2_SIG) {
            return Err(BrokenHeader::NotProxy);
        }
        return parse_v2(buf);
    }
    if !prefix(V1_PREFIX) {
        return Err(BrokenHeader::NotProxy);
    }
    match buf.iter().position(|b| *b == b'\n') {
        Some(lf) if lf + 1 > V1_MAX => Err(BrokenHeader::TooLong),
        Some(lf) => Ok(Parsed::Done(lf + 1, parse_v1_line(&buf[..=lf])?)),
        None if buf.len() >= V1_MAX => Err(BrokenHeader::TooLong),
        None => Ok(Parsed::More(buf.len() + 1)),
    }
}

/// A whole v1 line (`PROXY TCP4 src dst sport dport\r\n`).
fn parse_v1_line(line: &[u8]) -> Result<Option<SocketAddr>, BrokenHeader> {
    let line = line
        .strip_suffix(b"\r\n")
        .and_then(|l| l.strip_prefix(V1_PREFIX))
        .ok_or(BrokenHeader::V1)?;
    let line = std::str::from_utf8(line).map_err(|_| BrokenHeader::V1)?;
    if line == "UNKNOWN" || line.starts_with("UNKNOWN ") {
        return Ok(None);
    }
    let fields: Vec<&str> = line.split(' ').collect();
    let [family, src, dst, sport, dport] = fields[..] else {
        return Err(BrokenHeader::V1);
    };
    // The destination must parse too; only the source is kept.
    let (src, _dst): (IpAddr, IpAddr) = match family {
        "TCP4" => (
            IpAddr::V4(src.parse().map_err(|_| BrokenHeader::V1)?),
            IpAddr::V4(dst.parse().map_err(|_| BrokenHeader::V1)?),
        ),
        "TCP6" => (
            IpAddr::V6(src.parse().map_err(|_| BrokenHeader::V1)?),
            IpAddr::V6(dst.parse().map_err(|_| BrokenHeader::V1)?),
        ),
        _ => return Err(BrokenHeader::V1),
    };
    let port = |p: &str| -> Result<u16, BrokenHeader> {
        let ok = !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p == "0" || !p.starts_with('0'));
        ok.then(|| p.parse().ok()).flatten().ok_or(BrokenHeader::V1)
    };
    let sport = port(sport)?;
    port(dport)?;
    Ok(Some(SocketAddr::new(src, sport)))
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, BrokenHeader> {
    if buf.len() < 16 {
        return Ok(Parsed::More(16));
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = 16 + len;
    if total > V2_MAX {
        return Err(BrokenHeader::V2TooLong);
    }
    if buf.len() < total {
        return Ok(Parsed::More(total));
    }
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0f);
    if version != 2 || command > 1 {
        return Err(BrokenHeader::V2);
    }
    let body = &buf[16..total];
    // LOCAL (a health check from the balancer itself): no client.
    if command == 0 {
        return Ok(Parsed::Done(total, None));
    }
    let src = match buf[13] {
        // TCP or UDP over IPv4.
        0x11 | 0x12 => {
            let a = body.get(..12).ok_or(BrokenHeader::V2)?;
            Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
                u16::from_be_bytes([a[8], a[9]]),
            ))
        }
        // Over IPv6.
        0x21 | 0x22 => {
            let a = body.get(..36).ok_or(BrokenHeader::V2)?;
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&a[..16]);
            Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(ip)),
                u16::from_be_bytes([a[32], a[33]]),
            ))
        }
        // UNSPEC, UNIX sockets: nothing to name.
        0x00 | 0x31 | 0x32 => None,
        _ => return Err(BrokenHeader::V2),
    };
    Ok(Parsed::Done(total, src))
}

/// Reads a PROXY header from `stream`, consuming exactly its bytes: the
/// source it names. Peeks at what came, consumes what is surely header,
/// and waits for more only while the bytes so far are a valid beginning,
/// so garbage is refused at its first byte and a client trickling a
/// header costs one wake-up per segment. The caller bounds the time.
pub async fn read(stream: &mut TcpStream) -> Result<Option<SocketAddr>, BrokenHeader> {
    let io = |e: std::io::Error| BrokenHeader::Io(e.to_string());
    // What was consumed so far, and room to peek at what follows (on the
    // heap: this future lives inside every connection's).
    let mut got: Vec<u8> = Vec::with_capacity(V1_MAX);
    let mut peeked = vec![0u8; V2_MAX];
    loop {
        let room = V2_MAX - got.len();
        let n = stream.peek(&mut peeked[..room]).await.map_err(io)?;
        if n == 0 {
            return Err(BrokenHeader::Closed);
        }
        let mut all = got.clone();
        all.extend_from_slice(&peeked[..n]);
        match parse(&all)? {
            Parsed::Done(len, src) => {
                let rest = len - got.len();
                stream.read_exact(&mut peeked[..rest]).await.map_err(io)?;
                return Ok(src);
            }
            Parsed::More(_) => {
                // Everything peeked belongs to the header (a v1 line ends
                // at its LF, not among these bytes; a v2 header is longer
                // than what came): consume it, so the next peek waits for
                // new bytes.
                stream.read_exact(&mut peeked[..n]).await.map_err(io)?;
                got.extend_from_slice(&peeked[..n]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn v1_lines() {
        let line = b"PROXY TCP4 10.0.0.1 127.0.0.1 1234 8000\r\nGET / HTTP/1.1\r\n";
        assert_eq!(parse(line), Ok(Parsed::Done(41, addr("10.0.0.1:1234"))));
        let v6 = b"PROXY TCP6 2001:db8::1 ::1 65535 443\r\n";
        assert_eq!(
            parse(v6),
            Ok(Parsed::Done(v6.len(), addr("[2001:db8::1]:65535")))
        );
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Ok(Parsed::Done(15, None)));
        assert_eq!(
            parse(b"PROXY UNKNOWN ffff::1 ::1 1 2\r\n"),
            Ok(Parsed::Done(31, None))
        );
        // The longest line the specification allows (UNKNOWN's addresses
        // are ignored; TCP6's longest is 3 bytes shorter).
        let max6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let tcp6 = format!("PROXY TCP6 {max6} {max6} 65535 65535\r\n");
        assert!(matches!(
            parse(tcp6.as_bytes()),
            Ok(Parsed::Done(104, Some(_)))
        ));
        let mut longest = format!("PROXY UNKNOWN {max6} {max6} 65535 65535\r\n").into_bytes();
        assert_eq!(parse(&longest), Ok(Parsed::Done(V1_MAX, None)));
        longest.insert(6, b' ');
        assert_eq!(parse(&longest), Err(BrokenHeader::TooLong));
    }

    #[test]
    fn v1_beginnings_ask_for_more() {
        assert_eq!(parse(b""), Ok(Parsed::More(1)));
        assert_eq!(parse(b"PRO"), Ok(Parsed::More(4)));
        assert_eq!(parse(b"PROXY TCP4 10.0"), Ok(Parsed::More(16)));
        assert_eq!(parse(&[b'P'; 1]), Ok(Parsed::More(2)));
        let mut long = b"PROXY ".to_vec();
        long.resize(V1_MAX, b'1');
        assert_eq!(parse(&long), Err(BrokenHeader::TooLong));
    }

    #[test]
    fn broken_v1_lines() {
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"\x16\x03\x01",
            b"proxy TCP4 1.1.1.1 2.2.2.2 1 2\r\n",
            b"PROXY TCP4 1.1.1.1 2.2.2.2 1 2\n",
            b"PROXY TCP4 1.1.1.1 2.2.2.2 1 2 \r\n",
            b"PROXY TCP4 1.1.1.1  2.2.2.2 1 2\r\n",
            b"PROXY TCP4 1.1.1.1 2.2.2.2 1\r\n",
            b"PROXY TCP4 1.1.1.1 2.2.2.2 65536 2\r\n",
            b"PROXY TCP4 1.1.1.1 2.2.2.2 01 2\r\n",
            b"PROXY TCP4 1.1.1.1 2.2.2.2 -1 2\r\n",
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP6 1.1.1.1 2.2.2.2 1 2\r\n",
            b"PROXY UDP4 1.1.1.1 2.2.2.2 1 2\r\n",
            b"PROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\r\n",
            b"PROXY TCP4 1.1.1.\xff 2.2.2.2 1 2\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIG.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    #[test]
    fn v2_headers() {
        let mut body = vec![10, 0, 0, 1, 127, 0, 0, 1];
        body.extend_from_slice(&1234u16.to_be_bytes());
        body.extend_from_slice(&8000u16.to_be_bytes());
        // A TLV (AWS's VPC endpoint id) after the addresses is skipped.
        body.extend_from_slice(&[0xea, 0, 3, 1, b'v', b'p']);
        let h = v2(1, 0x11, &body);
        assert_eq!(parse(&h), Ok(Parsed::Done(h.len(), addr("10.0.0.1:1234"))));
        assert_eq!(parse(&h[..10]), Ok(Parsed::More(16)));
        assert_eq!(parse(&h[..20]), Ok(Parsed::More(h.len())));
        let mut body6 = vec![0u8; 36];
        body6[15] = 1;
        body6[32..34].copy_from_slice(&443u16.to_be_bytes());
        let h6 = v2(1, 0x21, &body6);
        assert_eq!(parse(&h6), Ok(Parsed::Done(52, addr("[::1]:443"))));
        // LOCAL: the balancer's own connection, no client.
        assert_eq!(parse(&v2(0, 0x11, &body)), Ok(Parsed::Done(h.len(), None)));
        assert_eq!(parse(&v2(1, 0x00, &[])), Ok(Parsed::Done(16, None)));
    }

    #[test]
    fn broken_v2_headers() {
        // Addresses shorter than their family's.
        assert_eq!(parse(&v2(1, 0x11, &[1, 2, 3])), Err(BrokenHeader::V2));
        assert_eq!(parse(&v2(1, 0x21, &[0; 12])), Err(BrokenHeader::V2));
        // Unknown command, version and family.
        assert_eq!(parse(&v2(2, 0x11, &[0; 12])), Err(BrokenHeader::V2));
        let mut v3 = v2(1, 0x11, &[0; 12]);
        v3[12] = 0x31;
        assert_eq!(parse(&v3), Err(BrokenHeader::V2));
        assert_eq!(parse(&v2(1, 0x41, &[0; 12])), Err(BrokenHeader::V2));
        // Announcing more than the limit is refused before it is read.
        let mut big = v2(1, 0x11, &[]);
        big[14..16].copy_from_slice(&(V2_MAX as u16).to_be_bytes());
        assert_eq!(parse(&big), Err(BrokenHeader::V2TooLong));
        // A signature that goes wrong.
        assert_eq!(parse(b"\r\n\r\nX"), Err(BrokenHeader::NotProxy));
        assert_eq!(parse(b"\r\nGET"), Err(BrokenHeader::NotProxy));
    }
}
