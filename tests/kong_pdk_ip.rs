//! Kong's `t/01-pdk/03-ip/01-is_trusted.t`, ported block by block: each
//! block's Lua is a pre-function's access code on a route of its own
//! (`tests/common/pdk.rs`). Kong's blocks build a PDK with their own
//! `trusted_ips` (`PDK.new({ trusted_ips = … })`); here that is the
//! gateway's `--trusted-ips`, so each configuration has a gateway of its
//! own: `127.0.0.1,0.0.0.0/0` (TEST 1), `::1,::/0` (TEST 2), none, the
//! default (TEST 3-4), and `10.0.0.0/8,2001:db8::/32` (TEST 5-6).
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 03-ip/01-is_trusted.t | 6 | 6 | 6 | 0 |
//!
//! TEST 5 and 6 are `--- SKIP: TODO` in Kong, with an empty body: ours
//! assert what their titles say (a range trusts the addresses in it and
//! no other).
//!
//! Not from Kong: `--trusted-ips`, `--real-ip-header` and
//! `--real-ip-recursive` values Kong refuses stop the gateway with Kong's
//! message.

mod common;

use common::pdk::Block;
use common::Gateway;

const FILE: &str = "t/01-pdk/03-ip/01-is_trusted.t";

/// The blocks' loop: `tests` maps addresses to what `is_trusted` should
/// say; "ok" when all agree.
fn check(tests: &str) -> String {
    format!(
        r#"local tests = {{ {tests} }}
local err
for ip, res in pairs(tests) do
  local ok = pdk.ip.is_trusted(ip)
  if ok ~= res then
    ngx.say(ip, " should be ", res, " but got: ", ok)
    err = true
  end
end
if not err then
  ngx.say("ok")
end"#
    )
}

async fn run(trusted_ips: Option<&str>, blocks: Vec<Block>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut args = vec!["--untrusted-lua", "on"];
    if let Some(ips) = trusted_ips {
        args.extend(["--trusted-ips", ips]);
    }
    let gw = Gateway::spawn_with(tmp.path(), 1, &args, &[]);
    common::kong::run(FILE, gw, common::pdk::cases(blocks)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusts_all_ipv4() {
    run(
        Some("127.0.0.1,0.0.0.0/0"),
        vec![Block::new(
            "TEST 1: ip.is_trusted() trusts all IPs if trusted_ips = 0.0.0.0/0 (ipv4)",
            &check(
                r#"["10.0.0.1"] = true, ["172.16.0.1"] = true,
["192.168.0.1"] = true, ["127.0.0.1"] = true"#,
            ),
            "ok\n",
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusts_all_ipv6() {
    run(
        Some("::1,::/0"),
        vec![Block::new(
            "TEST 2: ip.is_trusted() trusts all IPs if trusted_ips = ::/0 (ipv6)",
            &check(
                r#"["2001:db8:85a3:8d3:1319:8a2e:370:7348"] = true,
["2001:db8:85a3::8a2e:370:7334"] = true, ["::1"] = true"#,
            ),
            "ok\n",
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusts_none_by_default() {
    run(
        None,
        vec![
            Block::new(
                "TEST 3: ip.is_trusted() trusts none if no trusted_ip (ipv4)",
                &check(
                    r#"["10.0.0.1"] = false, ["172.16.0.1"] = false,
["192.168.0.1"] = false, ["127.0.0.1"] = false"#,
                ),
                "ok\n",
            ),
            Block::new(
                "TEST 4: ip.is_trusted() trusts none if no trusted_ip (ipv6)",
                &check(
                    r#"["2001:db8:85a3:8d3:1319:8a2e:370:7348"] = false,
["2001:db8:85a3::8a2e:370:7334"] = false, ["::1"] = false"#,
                ),
                "ok\n",
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusts_ranges() {
    run(
        Some("10.0.0.0/8,2001:db8::/32"),
        vec![
            Block::new(
                "TEST 5: ip.is_trusted() trusts range (ipv4)",
                &check(
                    r#"["10.0.0.1"] = true, ["10.255.255.255"] = true,
["11.0.0.1"] = false, ["9.255.255.255"] = false, ["127.0.0.1"] = false,
["::ffff:10.1.2.3"] = true, ["10.0.0.1:80"] = false, ["garbage"] = false"#,
                ),
                "ok\n",
            ),
            Block::new(
                "TEST 6: ip.is_trusted() trusts range (ipv6)",
                &check(
                    r#"["2001:db8:85a3::8a2e:370:7334"] = true, ["2001:db8::1"] = true,
["2001:db9::1"] = false, ["::1"] = false, ["[2001:db8::1]"] = false"#,
                ),
                "ok\n",
            ),
        ],
    )
    .await;
}

/// `lunagate serve` with one bad setting: it stops, with this message.
fn refused(args: &[&str], want: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lunagate"))
        .args(["serve", "--proxy-listen", "127.0.0.1:0"])
        .args(["--admin-listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path())
        .args(args)
        .output()
        .expect("run lunagate");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} was accepted");
    assert!(err.contains(want), "{args:?}: {err}");
}

#[test]
fn bad_trust_settings_stop_the_gateway_with_kongs_messages() {
    refused(
        &["--trusted-ips", "127.0.0.1, 10.0.0.0/33"],
        "trusted_ips must be a comma separated list in the form of IPv4 or IPv6 \
         address or CIDR block or 'unix:', got '10.0.0.0/33'",
    );
    refused(
        &["--trusted-ips", "localhost"],
        "or 'unix:', got 'localhost'",
    );
    refused(
        &["--real-ip-recursive", "yes"],
        "real_ip_recursive is not a ngx_boolean: 'yes'",
    );
    refused(&["--real-ip-header", "proxy_protocol"], "proxy_protocol");
}
