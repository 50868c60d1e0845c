//! Who may speak for the client: Kong's `trusted_ips`, `real_ip_header`
//! and `real_ip_recursive` (nginx's realip module: `set_real_ip_from`,
//! `real_ip_header`, `real_ip_recursive`). The one place the rule lives:
//! the proxy's forwarding headers (§4.4 of the Kong reference),
//! `kong.request.get_forwarded_*`, `kong.client.get_forwarded_ip/port`
//! and `kong.ip.is_trusted` all ask [`node`].
//!
//! - A peer is trusted when its address is in `trusted_ips` (an IPv4
//!   address mapped into IPv6 counts as the IPv4 one, as nginx's
//!   `ngx_cidr_match`). Only a trusted peer's `X-Forwarded-Proto/Host/
//!   Port/Path/Prefix` are believed ([`Trust::forwarded`]).
//! - The client address ([`Trust::client`]) is the peer's unless the peer
//!   is trusted and `real_ip_header` carries an address (`addr`,
//!   `addr:port`, `[v6]:port`): then it is that header's last address, or
//!   with `real_ip_recursive` the rightmost one not itself trusted, as
//!   nginx's `ngx_http_get_forwarded_addr`. Anything that does not parse
//!   as an address leaves the address found so far. With `real_ip_header
//!   proxy_protocol` it is the source the connection's PROXY protocol
//!   header named (`proxy::proxy_protocol`; nginx's
//!   `$proxy_protocol_addr`), and the peer on a connection without one.
//!
//! Set once at start-up from the `serve` flags ([`configure`]); nothing is
//! trusted until then (Kong's default, `trusted_ips = NONE`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};

/// Kong's message for a bad `trusted_ips` entry.
fn bad_entry(entry: &str) -> String {
    format!(
        "trusted_ips must be a comma separated list in the form of IPv4 or IPv6 \
         address or CIDR block or 'unix:', got '{entry}'"
    )
}

/// One `trusted_ips` block: an address and how many leading bits count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    V4(u32, u32),
    V6(u128, u128),
}

impl Block {
    fn contains(self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Block::V4(net, mask), IpAddr::V4(a)) => u32::from(a) & mask == net,
            (Block::V6(net, mask), IpAddr::V6(a)) => u128::from(a) & mask == net,
            _ => false,
        }
    }
}

/// `trusted_ips`: addresses and CIDR blocks, IPv4 and IPv6, and `unix:`
/// (accepted as Kong does; lunagate listens on no UNIX socket).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedIps {
    blocks: Vec<Block>,
    /// The entries as given, for `kong.configuration.trusted_ips`.
    entries: Vec<String>,
}

impl TrustedIps {
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.blocks.iter().any(|b| b.contains(ip))
    }
}

/// An IPv4 address mapped into IPv6 (a dual-stack listener's peers) is
/// the IPv4 one.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A CIDR prefix length as Kong reads it: decimal, no sign or leading
/// zero, at most `max`.
fn prefix_len(s: &str, max: u32) -> Option<u32> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok().filter(|n| *n <= max)
}

fn parse_block(entry: &str) -> Option<Block> {
    let (addr, len) = match entry.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (entry, None),
    };
    if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        let len = len.map_or(Some(32), |l| prefix_len(l, 32))?;
        let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
        return Some(Block::V4(u32::from(v4) & mask, mask));
    }
    let v6 = addr.parse::<Ipv6Addr>().ok()?;
    let len = len.map_or(Some(128), |l| prefix_len(l, 128))?;
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    Some(Block::V6(u128::from(v6) & mask, mask))
}

/// `--trusted-ips`: Kong's comma-separated list (`0.0.0.0/0,::/0` trusts
/// everyone); blanks around entries and empty entries are ignored.
pub fn parse_trusted_ips(s: &str) -> Result<TrustedIps, String> {
    let mut ips = TrustedIps::default();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry != "unix:" {
            ips.blocks
                .push(parse_block(entry).ok_or_else(|| bad_entry(entry))?);
        }
        ips.entries.push(entry.to_string());
    }
    Ok(ips)
}

/// `--real-ip-header`: where a trusted peer names the client. Every line
/// of `X-Forwarded-For` counts, as one list; of another header
/// (`X-Real-IP`, Kong's default) the first line; `proxy_protocol` is the
/// connection's PROXY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealIpHeader {
    /// `None`: `proxy_protocol`.
    name: Option<HeaderName>,
    /// As given, for `kong.configuration.real_ip_header`.
    text: String,
}

impl RealIpHeader {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_proxy_protocol(&self) -> bool {
        self.name.is_none()
    }
}

impl Default for RealIpHeader {
    fn default() -> Self {
        RealIpHeader {
            name: Some(HeaderName::from_static("x-real-ip")),
            text: "X-Real-IP".into(),
        }
    }
}

pub fn parse_real_ip_header(s: &str) -> Result<RealIpHeader, String> {
    let s = s.trim();
    if s == "proxy_protocol" {
        return Ok(RealIpHeader {
            name: None,
            text: s.to_string(),
        });
    }
    match HeaderName::from_bytes(s.as_bytes()) {
        Ok(name) => Ok(RealIpHeader {
            name: Some(name),
            text: s.to_string(),
        }),
        Err(_) => Err(format!("real_ip_header is not a header name: '{s}'")),
    }
}

/// `--real-ip-recursive`: nginx's `on`/`off`.
pub fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.trim() {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("real_ip_recursive is not a ngx_boolean: '{other}'")),
    }
}

/// The node's trust settings.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub trusted_ips: TrustedIps,
    pub real_ip_header: RealIpHeader,
    pub real_ip_recursive: bool,
}

/// Who the client is: the address the gateway believes, and its port
/// (`None` when a trusted header named an address without one, as nginx's
/// empty `$remote_port`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

static NODE: OnceLock<Trust> = OnceLock::new();

/// Records the node's settings once at start-up.
pub fn configure(trust: Trust) {
    let _ = NODE.set(trust);
}

/// The node's settings (nothing trusted when [`configure`] was not
/// called).
pub fn node() -> &'static Trust {
    NODE.get_or_init(Trust::default)
}

impl Trust {
    /// Whether `ip` is in `trusted_ips`.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_ips.contains(ip)
    }

    /// `kong.ip.is_trusted(address)`: an address as text; anything else
    /// (a port, a CIDR block, garbage) is not trusted.
    pub fn is_trusted_text(&self, address: &[u8]) -> bool {
        std::str::from_utf8(address)
            .ok()
            .and_then(|s| s.parse::<IpAddr>().ok())
            .is_some_and(|ip| self.is_trusted(ip))
    }

    /// The client's `X-Forwarded-*` header `name` (its first line), when
    /// the peer is trusted to send it; `None` means "use the gateway's own
    /// value".
    pub fn forwarded<'h>(
        &self,
        peer: IpAddr,
        headers: &'h HeaderMap,
        name: &HeaderName,
    ) -> Option<&'h HeaderValue> {
        if self.trusted_ips.is_empty() {
            return None;
        }
        let value = headers.get(name)?;
        self.is_trusted(peer).then_some(value)
    }

    /// The client as the gateway sees it (`$remote_addr`/`$remote_port`
    /// after nginx's realip module): see the module's description.
    /// `proxied` is the source the connection's PROXY header named.
    pub fn client(
        &self,
        peer: SocketAddr,
        proxied: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Client {
        let mut found = Client {
            ip: canonical(peer.ip()),
            port: Some(peer.port()),
        };
        if self.trusted_ips.is_empty() || !self.is_trusted(found.ip) {
            return found;
        }
        let Some(name) = &self.real_ip_header.name else {
            return proxied.map_or(found, |p| Client {
                ip: canonical(p.ip()),
                port: Some(p.port()),
            });
        };
        let lines: Vec<&HeaderValue> = if name == X_FORWARDED_FOR {
            headers.get_all(name).iter().collect()
        } else {
            headers.get(name).into_iter().collect()
        };
        for line in lines.iter().rev() {
            let mut items = line
                .as_bytes()
                .rsplit(|b| *b == b' ' || *b == b',')
                .filter(|i| !i.is_empty())
                .peekable();
            if items.peek().is_none() {
                // A line of separators only: nginx stops there.
                return found;
            }
            for item in items {
                match parse_addr_port(item) {
                    Some(c) => found = c,
                    None => return found,
                }
                if !self.real_ip_recursive || !self.is_trusted(found.ip) {
                    return found;
                }
            }
        }
        found
    }
}

/// nginx's `ngx_parse_addr_port`: `1.2.3.4`, `1.2.3.4:80`, `::1`,
/// `[::1]:80` (a port from 1 to 65535).
fn parse_addr_port(item: &[u8]) -> Option<Client> {
    let s = std::str::from_utf8(item).ok()?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(Client { ip, port: None });
    }
    let (addr, port) = match s.strip_prefix('[') {
        Some(rest) => {
            let (a, p) = rest.split_once("]:")?;
            (IpAddr::V6(a.parse().ok()?), p)
        }
        None => {
            let (a, p) = s.split_once(':')?;
            (IpAddr::V4(a.parse().ok()?), p)
        }
    };
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok().filter(|p| *p >= 1)?;
    Some(Client {
        ip: addr,
        port: Some(port),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(ips: &str, header: &str, recursive: bool) -> Trust {
        Trust {
            trusted_ips: parse_trusted_ips(ips).unwrap(),
            real_ip_header: parse_real_ip_header(header).unwrap(),
            real_ip_recursive: recursive,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn trusted_ips_as_kong_reads_them() {
        let t = trust(
            " 10.0.0.0/8 , ::1,,unix:, 2001:db8::/32",
            "X-Real-IP",
            false,
        );
        assert_eq!(
            t.trusted_ips.entries(),
            ["10.0.0.0/8", "::1", "unix:", "2001:db8::/32"]
        );
        for yes in [
            "10.1.2.3",
            "::1",
            "2001:db8:85a3::8a2e:370:7334",
            "::ffff:10.9.9.9",
        ] {
            assert!(t.is_trusted_text(yes.as_bytes()), "{yes}");
        }
        for no in [
            "11.0.0.1",
            "::2",
            "2001:db9::1",
            "10.0.0.1:80",
            "10.0.0.0/8",
            "",
            "x",
        ] {
            assert!(!t.is_trusted_text(no.as_bytes()), "{no}");
        }
        let all = trust("0.0.0.0/0,::/0", "X-Real-IP", false);
        assert!(all.is_trusted_text(b"192.168.0.1") && all.is_trusted_text(b"2001:db8::1"));
        let v4 = trust("127.0.0.1,0.0.0.0/0", "X-Real-IP", false);
        assert!(v4.is_trusted_text(b"172.16.0.1") && !v4.is_trusted_text(b"::1"));
        assert!(!Trust::default().is_trusted_text(b"127.0.0.1"));
        // Host bits in a block are ignored, as nginx's and ipmatcher's.
        assert!(trust("10.1.2.3/8", "X-Real-IP", false).is_trusted_text(b"10.200.0.1"));
    }

    #[test]
    fn bad_settings_get_kong_messages() {
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/08",
            "10.0.0.0/",
            "localhost",
            "1.2.3",
            "10.0.0.1/-1",
        ] {
            let e = parse_trusted_ips(&format!("127.0.0.1,{bad}")).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "trusted_ips must be a comma separated list in the form of IPv4 or IPv6 \
                     address or CIDR block or 'unix:', got '{bad}'"
                )
            );
        }
        assert_eq!(
            parse_on_off("yes").unwrap_err(),
            "real_ip_recursive is not a ngx_boolean: 'yes'"
        );
        assert!(parse_real_ip_header("bad header").is_err());
        assert!(parse_real_ip_header("proxy_protocol")
            .unwrap()
            .is_proxy_protocol());
        assert_eq!(parse_real_ip_header("X-Client").unwrap().text(), "X-Client");
    }

    #[test]
    fn client_address_as_nginx_realip() {
        let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let real = trust("127.0.0.1", "X-Real-IP", false);
        let c = real.client(peer, None, &headers(&[("x-real-ip", "10.0.0.1:1234")]));
        assert_eq!((c.ip, c.port), (ip("10.0.0.1"), Some(1234)));
        let c = real.client(peer, None, &headers(&[("x-real-ip", "10.0.0.1")]));
        assert_eq!((c.ip, c.port), (ip("10.0.0.1"), None));
        let c = real.client(peer, None, &headers(&[("x-real-ip", "[2001:db8::1]:80")]));
        assert_eq!((c.ip, c.port), (ip("2001:db8::1"), Some(80)));
        // The first line; its last address.
        let c = real.client(
            peer,
            None,
            &headers(&[("x-real-ip", "1.1.1.1, 2.2.2.2"), ("x-real-ip", "3.3.3.3")]),
        );
        assert_eq!(c.ip, ip("2.2.2.2"));
        // Garbage, a port out of range, nothing: the peer.
        for bad in [
            "garbage",
            "10.0.0.1:0",
            "10.0.0.1:65536",
            "[::1]",
            "1.2.3.4:",
            ", ,",
        ] {
            let c = real.client(peer, None, &headers(&[("x-real-ip", bad)]));
            assert_eq!((c.ip, c.port), (ip("127.0.0.1"), Some(5555)), "{bad}");
        }
        // Untrusted peer: the header is ignored.
        let c = Trust::default().client(peer, None, &headers(&[("x-real-ip", "10.0.0.1")]));
        assert_eq!(c.ip, ip("127.0.0.1"));

        let xff = trust("127.0.0.1,10.0.0.0/8", "X-Forwarded-For", false);
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 10.0.0.2"),
            ("x-forwarded-for", "10.0.0.3"),
        ]);
        assert_eq!(xff.client(peer, None, &h).ip, ip("10.0.0.3"));
        let rec = trust("127.0.0.1,10.0.0.0/8", "X-Forwarded-For", true);
        assert_eq!(rec.client(peer, None, &h).ip, ip("1.1.1.1"));
        // Everything trusted: the leftmost.
        let h = headers(&[("x-forwarded-for", "10.0.0.1, 10.0.0.2")]);
        assert_eq!(rec.client(peer, None, &h).ip, ip("10.0.0.1"));
        // Recursion stops at what does not parse, keeping what it found.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, junk, 10.0.0.2")]);
        assert_eq!(rec.client(peer, None, &h).ip, ip("10.0.0.2"));
        // A mapped peer counts as its IPv4 address.
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5555".parse().unwrap();
        let c = real.client(mapped, None, &headers(&[("x-real-ip", "10.0.0.1")]));
        assert_eq!(c.ip, ip("10.0.0.1"));
    }

    #[test]
    fn client_address_from_the_proxy_protocol() {
        let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        let named: SocketAddr = "10.0.0.1:1234".parse().unwrap();
        let h = headers(&[("x-real-ip", "10.9.9.9")]);
        let pp = trust("127.0.0.1", "proxy_protocol", false);
        assert_eq!(
            pp.client(peer, Some(named), &h),
            Client {
                ip: named.ip(),
                port: Some(1234)
            }
        );
        // No header on the connection (or UNKNOWN/LOCAL): the peer; an
        // untrusted peer's header is not believed; nor is the header on a
        // node reading a real-IP header.
        assert_eq!(pp.client(peer, None, &h).ip, peer.ip());
        let untrusted = trust("10.0.0.0/8", "proxy_protocol", false);
        assert_eq!(untrusted.client(peer, Some(named), &h).ip, peer.ip());
        let xri = trust("127.0.0.1", "X-Real-IP", false);
        assert_eq!(
            xri.client(peer, Some(named), &h).ip,
            "10.9.9.9".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn forwarded_headers_only_from_trusted_peers() {
        let h = headers(&[("x-forwarded-proto", "https"), ("x-forwarded-proto", "wss")]);
        let name = HeaderName::from_static("x-forwarded-proto");
        let t = trust("127.0.0.0/8", "X-Real-IP", false);
        assert_eq!(
            t.forwarded(IpAddr::from([127, 0, 0, 9]), &h, &name)
                .unwrap(),
            "https"
        );
        assert!(t
            .forwarded(IpAddr::from([10, 0, 0, 1]), &h, &name)
            .is_none());
        assert!(Trust::default()
            .forwarded(IpAddr::from([127, 0, 0, 1]), &h, &name)
            .is_none());
    }
}
