//! TLS end to end: `https` services (verification on and off, CA
//! certificates, depth, client certificates, SNI, session resumption) and
//! the HTTPS listener (per-SNI certificates, wildcards, the default and the
//! generated certificate, ALPN, 426 and redirects, forwarded headers). All
//! certificates are made in the test; clients and upstreams are rustls.

mod common;

use common::tls::{any_cert_client, ca, get, https_request, self_signed, tls_upstream};
use common::{echo_upstream, Gateway};
use reqwest::Method;
use serde_json::{json, Value};

async fn proxied(gw: &Gateway, path: &str) -> (u16, Value) {
    let resp = gw.get(path).await;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn ca_certificate(gw: &Gateway, pem: &str) -> String {
    let v = gw
        .admin(Method::POST, "/ca_certificates", json!({"cert": pem}))
        .await;
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstreams_verify_as_configured_present_client_certs_and_resume_sessions() {
    let good = ca("upstream CA", false);
    let other = ca("someone else", false);
    let leaf = good.leaf(&["localhost"]);
    let client_ca = ca("client CA", false);
    let client = client_ca.leaf(&["gateway"]);
    let plain = tls_upstream(vec![leaf.cert.clone()], leaf.key.clone_key(), None).await;
    let mtls = tls_upstream(
        vec![leaf.cert.clone()],
        leaf.key.clone_key(),
        Some(client_ca.issued.cert.clone()),
    )
    .await;
    let gw = Gateway::start();
    let good_id = ca_certificate(&gw, &good.issued.cert_pem).await;
    let other_id = ca_certificate(&gw, &other.issued.cert_pem).await;
    let cert = gw
        .admin(
            Method::POST,
            "/certificates",
            json!({"cert": client.cert_pem, "key": client.key_pem}),
        )
        .await;
    let url = |port: u16| format!("https://localhost:{port}");
    for (name, port, extra) in [
        // Kong's default: tls_verify unset, nothing verified.
        ("noverify", plain.port(), json!({})),
        (
            "verified",
            plain.port(),
            json!({"tls_verify": true, "ca_certificates": [good_id]}),
        ),
        (
            "wrongca",
            plain.port(),
            json!({"tls_verify": true, "ca_certificates": [other_id]}),
        ),
        // Mozilla's roots do not know the test CA.
        ("publicroots", plain.port(), json!({"tls_verify": true})),
        (
            "mtls",
            mtls.port(),
            json!({"client_certificate": {"id": cert["id"]}}),
        ),
        ("nocert", mtls.port(), json!({})),
    ] {
        gw.service(name, &url(port), extra).await;
        gw.route(name, json!({"paths": [format!("/{name}")]})).await;
    }

    let (status, body) = proxied(&gw, "/noverify/close").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sni"], "localhost", "SNI from the service host");
    assert_eq!(body["x_forwarded_proto"], "http");
    let (status, body) = proxied(&gw, "/verified/close").await;
    assert_eq!(status, 200, "{body}");
    // The first connection closed: the next one resumes its session.
    let (status, body) = proxied(&gw, "/verified").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resumed"], true, "{body}");
    // Kept alive: the same (resumed) connection serves the next request.
    let (_, again) = proxied(&gw, "/verified").await;
    assert_eq!(again["resumed"], true);

    for name in ["wrongca", "publicroots"] {
        let (status, body) = proxied(&gw, &format!("/{name}")).await;
        assert_eq!(status, 502, "{name}: {body}");
        assert_eq!(
            body["message"], "An invalid response was received from the upstream server",
            "{name}"
        );
    }
    let (status, body) = proxied(&gw, "/mtls").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["client_cert_len"], client.cert.len());
    let (status, _) = proxied(&gw, "/nocert").await;
    assert_eq!(status, 502, "the upstream requires a client certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_verify_depth_bounds_the_intermediates() {
    let root = ca("root", false);
    let mid = root.intermediate("intermediate");
    let leaf = mid.leaf(&["localhost"]);
    let up = tls_upstream(
        vec![leaf.cert.clone(), mid.issued.cert.clone()],
        leaf.key.clone_key(),
        None,
    )
    .await;
    let gw = Gateway::start();
    let root_id = ca_certificate(&gw, &root.issued.cert_pem).await;
    for (name, depth) in [
        ("depth0", json!(0)),
        ("depth1", json!(1)),
        ("default", Value::Null),
    ] {
        gw.service(
            name,
            &format!("https://localhost:{}", up.port()),
            json!({"tls_verify": true, "tls_verify_depth": depth, "ca_certificates": [root_id]}),
        )
        .await;
        gw.route(name, json!({"paths": [format!("/{name}")]})).await;
    }
    assert_eq!(proxied(&gw, "/depth0").await.0, 502);
    assert_eq!(proxied(&gw, "/depth1").await.0, 200);
    assert_eq!(
        proxied(&gw, "/default").await.0,
        200,
        "nginx's default depth is 1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_serves_the_certificate_of_the_sni_and_follows_changes() {
    let up = echo_upstream("echo").await;
    let gw = Gateway::start();
    let tls = gw.proxy_tls.expect("TLS listener");
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"paths": ["/"]})).await;
    let exact = self_signed(&["api.example.test"], false);
    let wild = self_signed(&["*.example.test"], false);
    let suffix = self_signed(&["shop.example.*"], false);
    let catch_all = self_signed(&["default"], false);
    for (c, snis) in [
        (&exact, json!(["api.example.test"])),
        (&wild, json!(["*.example.test"])),
        (&suffix, json!(["shop.example.*"])),
    ] {
        gw.admin(
            Method::POST,
            "/certificates",
            json!({"cert": c.cert_pem, "key": c.key_pem, "snis": snis}),
        )
        .await;
    }
    // A new client each time: a resumed session would show the
    // certificate of the session it resumes.
    let served = |sni: &'static str| {
        let client = any_cert_client(&[b"h2", b"http/1.1"]);
        async move {
            https_request(tls, sni, client, get(sni, "/x"))
                .await
                .unwrap()
        }
    };
    let r = served("api.example.test").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.peer_cert.as_ref(), Some(&exact.cert), "exact name first");
    assert_eq!(r.alpn.as_deref(), Some(&b"h2"[..]), "ALPN prefers h2");
    assert_eq!(r.version, http::Version::HTTP_2);
    let echoed = r.json();
    assert_eq!(echoed["headers"]["x-forwarded-proto"], "https");
    assert_eq!(
        echoed["headers"]["x-forwarded-port"],
        tls.port().to_string()
    );
    assert_eq!(
        served("www.example.test").await.peer_cert.as_ref(),
        Some(&wild.cert)
    );
    assert_eq!(
        served("shop.example.org").await.peer_cert.as_ref(),
        Some(&suffix.cert)
    );
    // No match and no `*` SNI: the certificate generated at start.
    let generated = served("other.test").await.peer_cert.unwrap();
    assert!(generated != exact.cert && generated != wild.cert && generated != suffix.cert);
    // A `*` SNI becomes the default, without a restart.
    gw.admin(
        Method::POST,
        "/certificates",
        json!({"cert": catch_all.cert_pem, "key": catch_all.key_pem, "snis": ["*"]}),
    )
    .await;
    assert_eq!(
        served("other.test").await.peer_cert.as_ref(),
        Some(&catch_all.cert)
    );
    // HTTP/1.1 clients get it through ALPN too.
    let h1 = https_request(
        tls,
        "api.example.test",
        any_cert_client(&[b"http/1.1"]),
        get("api.example.test", "/"),
    )
    .await
    .unwrap();
    assert_eq!(h1.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(h1.version, http::Version::HTTP_11);
    assert_eq!(h1.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_only_routes_answer_426_or_redirect_on_plain_http() {
    let up = echo_upstream("echo").await;
    let gw = Gateway::start();
    let tls = gw.proxy_tls.expect("TLS listener");
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"paths": ["/secure"], "protocols": ["https"]}))
        .await;
    for code in [301, 302, 307, 308] {
        gw.route(
            "s",
            json!({"paths": [format!("/moved{code}")], "protocols": ["https"],
                   "https_redirect_status_code": code}),
        )
        .await;
    }
    gw.route("s", json!({"paths": ["/plain"], "protocols": ["http"]}))
        .await;

    let resp = gw.get("/secure/a?b=1").await;
    assert_eq!(resp.status(), 426);
    assert_eq!(resp.headers()["connection"], "Upgrade");
    assert_eq!(resp.headers()["upgrade"], "TLS/1.2, HTTP/1.1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "Please use HTTPS protocol");

    // Kong's redirects: `Location: https://` + the host without its port
    // + the request URI, for each of the four codes.
    for code in [301, 302, 307, 308] {
        let request = format!(
            "GET /moved{code}/a?b=1 HTTP/1.1\r\nHost: Example.test:8000\r\nConnection: close\r\n\r\n"
        );
        let resp = gw.raw(request.as_bytes());
        assert!(resp.starts_with(&format!("HTTP/1.1 {code} ")), "{resp}");
        let location = format!("\r\nlocation: https://example.test/moved{code}/a?b=1\r\n");
        assert!(resp.to_ascii_lowercase().contains(&location), "{resp}");
    }

    let client = any_cert_client(&[b"http/1.1"]);
    for path in ["/secure/a", "/moved301/a", "/moved308/a", "/plain/a"] {
        let r = https_request(tls, "localhost", client.clone(), get("localhost", path))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{path} over TLS: {}", r.body);
        assert_eq!(r.json()["headers"]["x-forwarded-proto"], "https");
    }
}

const GENERATED_LOG: &str = "TLS: generated a self-signed ECDSA P-256 certificate for 'localhost'";

/// Kong's `proxy_listen … ssl` is 8443; this checks the default through
/// `--help` (a gateway on the default port would share it with any other
/// through SO_REUSEPORT).
#[test]
fn the_tls_listener_defaults_to_8443() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lunagate"))
        .args(["serve", "--help"])
        .env_remove("LUNAGATE_PROXY_LISTEN_TLS")
        .output()
        .expect("lunagate serve --help");
    let help = String::from_utf8_lossy(&out.stdout);
    let option = help
        .split("\n  -")
        .find(|o| o.contains("--proxy-listen-tls"))
        .unwrap_or_else(|| panic!("no --proxy-listen-tls in:\n{help}"));
    assert!(option.contains("[default: 0.0.0.0:8443]"), "{option}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_certificate_the_listener_generates_one_and_logs_it() {
    let gw = Gateway::start_logged_with(1, &["--log-level", "info"]);
    let tls = gw.proxy_tls.expect("TLS listener");
    assert!(gw.log_text().contains(GENERATED_LOG), "{}", gw.log_text());
    let r = https_request(
        tls,
        "any.test",
        any_cert_client(&[b"http/1.1"]),
        get("any.test", "/"),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 404);
    let cert = r.peer_cert.expect("a certificate");
    let organization = b"lunagate (generated)";
    assert!(
        cert.windows(organization.len()).any(|w| w == organization),
        "the generated certificate names itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_listener_can_be_turned_off() {
    let gw = Gateway::start_logged_with(1, &["--proxy-listen-tls", "off", "--log-level", "info"]);
    assert!(gw.proxy_tls.is_none());
    assert_eq!(gw.get("/").await.status(), 404);
    assert!(
        !gw.log_text().contains(GENERATED_LOG),
        "no listener, no certificate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_phase_functions_run_during_the_handshake() {
    let up = echo_upstream("echo").await;
    let gw = Gateway::start();
    let tls = gw.proxy_tls.expect("TLS listener");
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"paths": ["/"]})).await;
    // The certificate phase sees the SNI and the client, may refuse the
    // handshake, and gets Kong's phase error for request functions.
    let refuse =
        r#"if ngx.ssl.server_name() == "blocked.test" then return ngx.exit(ngx.ERROR) end"#;
    let phase_error = r#"
        local ok, err = pcall(kong.request.get_path)
        local expected = "function cannot be called in certificate phase"
        if ngx.ssl.server_name() == "strict.test" and not ok and err:find(expected, 1, true) then
          return ngx.exit(ngx.ERROR)
        end"#;
    let client_ip = r#"if ngx.ssl.server_name() == "ip.test" and kong.client.get_ip() == "127.0.0.1" then error("seen") end"#;
    // `ngx.exit(ngx.OK)` ends the phase and the handshake goes on: the
    // functions after it do not run.
    let done = r#"if ngx.ssl.server_name() == "done.test" then return ngx.exit(ngx.OK) end"#;
    let after_done =
        r#"if ngx.ssl.server_name() == "done.test" then error("ran after ngx.exit(ngx.OK)") end"#;
    gw.admin(
        Method::POST,
        "/plugins",
        json!({"name": "pre-function", "config": {"certificate": [done, refuse, phase_error, client_ip, after_done]}}),
    )
    .await;
    let attempt = |sni: &'static str| async move {
        https_request(tls, sni, any_cert_client(&[b"http/1.1"]), get(sni, "/"))
            .await
            .map(|r| r.status)
    };
    assert_eq!(attempt("ok.test").await.unwrap(), 200);
    assert_eq!(attempt("done.test").await.unwrap(), 200, "ngx.exit(ngx.OK)");
    assert!(
        attempt("blocked.test").await.is_err(),
        "ngx.exit(ngx.ERROR) aborts the handshake"
    );
    assert!(
        attempt("strict.test").await.is_err(),
        "Kong's phase error was raised"
    );
    assert!(
        attempt("ip.test").await.is_err(),
        "an error aborts the handshake"
    );
    // Plain HTTP requests do not run certificate functions.
    assert_eq!(gw.get("/").await.status(), 200);

    // The PDK knows the request came over TLS. And as in Kong, only global
    // plugins run in the certificate phase: this route's never does.
    let proto = r#"return kong.response.exit(200, kong.client.get_protocol() .. " "
        .. kong.request.get_scheme() .. " " .. kong.request.get_forwarded_scheme())"#;
    let route = gw.route("s", json!({"paths": ["/proto"]})).await;
    gw.admin(
        Method::POST,
        &format!("/routes/{}/plugins", route["id"].as_str().unwrap()),
        json!({"name": "pre-function", "config": {
            "access": [proto],
            "certificate": ["error('a route plugin ran in the certificate phase')"],
        }}),
    )
    .await;
    let r = https_request(
        tls,
        "ok.test",
        any_cert_client(&[b"h2"]),
        get("ok.test", "/proto"),
    )
    .await
    .unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "https https https"));
    assert_eq!(
        gw.get("/proto").await.text().await.unwrap(),
        "http http http"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_snis_match_the_tls_server_name() {
    let a = echo_upstream("a").await;
    let b = echo_upstream("b").await;
    let gw = Gateway::start();
    let tls = gw.proxy_tls.expect("TLS listener");
    gw.service("a", &format!("http://{a}"), json!({})).await;
    gw.service("b", &format!("http://{b}"), json!({})).await;
    gw.route(
        "a",
        json!({"paths": ["/sni"], "snis": ["api.test", "*.wild.test"]}),
    )
    .await;
    gw.route("b", json!({"paths": ["/sni"]})).await;
    let upstream_for = |sni: &'static str| async move {
        let r = https_request(tls, sni, any_cert_client(&[b"http/1.1"]), get(sni, "/sni"))
            .await
            .unwrap();
        r.json()["upstream"].as_str().unwrap().to_string()
    };
    assert_eq!(upstream_for("api.test").await, "a");
    assert_eq!(upstream_for("x.wild.test").await, "a");
    assert_eq!(
        upstream_for("other.test").await,
        "b",
        "another SNI: the route without snis"
    );
    // Kong: snis do not apply to plain HTTP (the route with more fields wins).
    let plain: Value = gw.get("/sni").await.json().await.unwrap();
    assert_eq!(plain["upstream"], "a");

    // Kong's schema rules for route snis.
    let (status, body) = common::post_json(
        &gw.admin_url("/routes"),
        json!({"protocols": ["http"], "paths": ["/x"], "snis": ["a.test"]}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["fields"]["snis"],
        "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'"
    );
    let (status, body) = common::post_json(&gw.admin_url("/routes"), json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["fields"]["@entity"][0],
        "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"
    );
    let (status, _) = common::post_json(
        &gw.admin_url("/routes"),
        json!({"protocols": ["https"], "snis": ["only.test"]}),
    )
    .await;
    assert_eq!(status, 201, "snis alone route an https route");
}

/// The suite a client offering `suites` (in its order of preference) gets
/// from the listener.
async fn negotiated(tls: std::net::SocketAddr, suites: &[rustls::SupportedCipherSuite]) -> String {
    let mut provider = (*common::tls::provider()).clone();
    provider.cipher_suites = suites.to_vec();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(common::tls::AnyCert::new())
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(tls).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let suite = stream.get_ref().1.negotiated_cipher_suite().unwrap();
    format!("{:?}", suite.suite())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aes_128_gcm_is_chosen_unless_the_client_prefers_chacha20() {
    use rustls_graviola::suites::*;
    let gw = Gateway::start();
    let tls = gw.proxy_tls.expect("TLS listener");
    // OpenSSL's order (AES-256 first): the server's order wins.
    let openssl_like = [
        TLS13_AES_256_GCM_SHA384,
        TLS13_CHACHA20_POLY1305_SHA256,
        TLS13_AES_128_GCM_SHA256,
    ];
    assert_eq!(
        negotiated(tls, &openssl_like).await,
        "TLS13_AES_128_GCM_SHA256"
    );
    // A client without AES instructions lists ChaCha20 first: it gets it.
    let no_aes = [TLS13_CHACHA20_POLY1305_SHA256, TLS13_AES_128_GCM_SHA256];
    assert_eq!(
        negotiated(tls, &no_aes).await,
        "TLS13_CHACHA20_POLY1305_SHA256"
    );
    // A client that offers only AES-256 still connects.
    assert_eq!(
        negotiated(tls, &[TLS13_AES_256_GCM_SHA384]).await,
        "TLS13_AES_256_GCM_SHA384"
    );
    // TLS 1.2 clients: the same rule.
    let tls12 = [
        TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ];
    assert_eq!(
        negotiated(tls, &tls12).await,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    );
}

/// Attack: with `preserve_host`, an `https` service's connections are
/// pooled per client Host (the SNI). A client sending a new Host on every
/// request made the gateway keep one idle upstream connection, and its
/// descriptor, per Host for ever. A worker's pool is bounded as a whole
/// (`proxy/pool.rs`'s `set_idle_limit`: a quarter of the open files limit,
/// here 256 for the one worker, so 64).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_hosts_cannot_grow_the_upstream_pool_without_bound() {
    const BOUND: usize = 256 / 4;
    const HOSTS: usize = 200;
    let leaf = self_signed(&["localhost"], false);
    let up = tls_upstream(vec![leaf.cert.clone()], leaf.key.clone_key(), None).await;
    let (gw, _log) =
        Gateway::start_under(&["sh", "-c", "ulimit -n 256 && exec \"$0\" \"$@\""], 1, &[]);
    gw.service("s", &format!("https://localhost:{}", up.port()), json!({}))
        .await;
    gw.route("s", json!({"paths": ["/"], "preserve_host": true}))
        .await;
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", gw.pid()))
            .unwrap()
            .count()
    };
    let request = |host: String| gw.http.get(gw.proxy_url("/")).header("host", host).send();
    let before = fds();
    for i in 0..HOSTS {
        let host = format!("h{i}.example");
        let resp = request(host.clone()).await.expect("proxy request");
        assert_eq!(resp.status(), 200, "{host}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["sni"], host.as_str());
    }
    // The bound, and the client's connection to the gateway.
    let grown = fds() - before;
    assert!(
        grown <= BOUND + 1,
        "{grown} descriptors more after {HOSTS} Hosts"
    );
    // Pooling still works: the same Host again reuses its connection.
    assert_eq!(request("again.example".into()).await.unwrap().status(), 200);
    let after = fds();
    assert_eq!(request("again.example".into()).await.unwrap().status(), 200);
    assert_eq!(fds(), after, "the idle connection was reused");
}

/// nginx's `$ssl_protocol`, `$ssl_cipher` and `$ssl_client_verify` (OpenSSL's
/// names; nil on a plain connection) and Kong's `kong.log.serialize()`
/// `request.tls` (`version`, `cipher`, `client_verify`: `NONE` without a
/// client certificate), absent on a plain request. Red before: all nil,
/// and no `request.tls`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_session_variables_and_the_serialized_tls() {
    let up = echo_upstream("echo").await;
    let gw = Gateway::start();
    let tls = gw.proxy_tls.expect("TLS listener");
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"paths": ["/s"]})).await;
    gw.service("read", &format!("http://{up}"), json!({})).await;
    gw.route("read", json!({"paths": ["/read"]})).await;
    let show = r#"kong.response.set_header("x-ssl", tostring(ngx.var.ssl_protocol) .. " " ..
        tostring(ngx.var.ssl_cipher) .. " " .. tostring(ngx.var.ssl_client_verify))"#;
    let record = r#"local t = kong.log.serialize().request.tls
        local seen = t and (t.version .. " " .. t.cipher .. " " .. t.client_verify) or "none"
        kong.cache:invalidate("tls")
        kong.cache:get("tls", nil, function() return seen end)"#;
    gw.admin(
        Method::POST,
        "/services/s/plugins",
        json!({"name": "pre-function", "config": {"access": [show], "log": [record]}}),
    )
    .await;
    gw.admin(
        Method::POST,
        "/services/read/plugins",
        json!({"name": "pre-function", "config": {"access": [
            r#"return kong.response.exit(200, kong.cache:get("tls") or "unset")"#
        ]}}),
    )
    .await;
    // What the last request's log phase recorded (it runs after the answer).
    let recorded = |want_plain: bool| {
        let gw = &gw;
        async move {
            for _ in 0..100 {
                let text = gw.get("/read").await.text().await.unwrap();
                if (text == "none") == want_plain && text != "unset" {
                    return text;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            panic!("the log phase recorded nothing");
        }
    };

    let r = gw.get("/s").await;
    assert_eq!(r.headers()["x-ssl"], "nil nil nil");
    assert_eq!(recorded(true).await, "none");

    let r = https_request(
        tls,
        "any.test",
        any_cert_client(&[b"http/1.1"]),
        get("any.test", "/s"),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    let seen = r.headers["x-ssl"].to_str().unwrap().to_string();
    assert!(
        seen.starts_with("TLSv1.3 TLS_") && seen.ends_with(" NONE"),
        "{seen}"
    );
    assert_eq!(recorded(false).await, seen, "serialize's request.tls");
}

/// A client configuration presenting `cert` (none: no client
/// certificate), accepting any server certificate.
fn client_presenting(cert: Option<&common::tls::Issued>) -> std::sync::Arc<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(common::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(common::tls::AnyCert::new());
    let mut c = match cert {
        Some(i) => builder
            .with_client_auth_cert(vec![i.cert.clone()], i.key.clone_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    std::sync::Arc::new(c)
}

/// `kong.client.tls` (Kong's `kong/pdk/client/tls.lua`, issue 9): a
/// certificate-phase function asks for a client certificate
/// (`request_client_certificate`, with the CA certificates' PEM where
/// Kong takes OpenResty's parsed chain) and turns session reuse off;
/// requests then read nginx's `$ssl_client_verify` (`SUCCESS`,
/// `FAILED:unable to get local issuer certificate` for a chain no given
/// CA issued or when none was given, `NONE` when no certificate came or
/// none was asked for) and the chain as PEM
/// (`get_full_client_certificate_chain`); `set_client_verify` overrides
/// what `kong.log.serialize` reports, with Kong's checks. The handshake
/// goes on whatever the client sends, as nginx's `optional_no_ca`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_phase_asks_for_client_certificates() {
    let up = echo_upstream("echo").await;
    let gw = Gateway::start();
    let tls = gw.proxy_tls.expect("TLS listener");
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"paths": ["/"]})).await;
    let client_ca = ca("client CA", false);
    let alice = client_ca.leaf(&["alice.test"]);
    let mallory = ca("someone else", false).leaf(&["mallory.test"]);
    let certificate = format!(
        r#"local sni = ngx.ssl.server_name()
        if sni == "mtls.test" then
          assert(kong.client.tls.request_client_certificate([[{}]]))
          assert(kong.client.tls.disable_session_reuse())
          for name, only in pairs({{
            get_full_client_certificate_chain = "rewrite, access, balancer, response, log",
            set_client_verify = "rewrite, access, balancer, response",
          }}) do
            local ok, err = pcall(kong.client.tls[name], "SUCCESS")
            local refused = "function cannot be called in certificate phase (only in: " .. only .. ")"
            if ok or err ~= refused then error(name .. ": " .. tostring(err)) end
          end
        elseif sni == "noca.test" then
          assert(kong.client.tls.request_client_certificate())
        elseif sni == "bad.test" then
          local ok, err = kong.client.tls.request_client_certificate("no pem here")
          if ok or not err then error("a bad PEM was taken") end
        end"#,
        client_ca.issued.cert_pem
    );
    gw.admin(
        Method::POST,
        "/plugins",
        json!({"name": "pre-function", "config": {"certificate": [certificate]}}),
    )
    .await;
    let access = r#"
        local ok, err = pcall(kong.client.tls.set_client_verify, "MAYBE")
        if ok or not err:find('unknown client verify value: MAYBE accepted values are: "SUCCESS", "NONE" or "FAILED:<reason>"', 1, true) then
          error("set_client_verify took MAYBE: " .. tostring(err))
        end
        local _, phase_err = pcall(kong.client.tls.request_client_certificate)
        local chain = kong.client.tls.get_full_client_certificate_chain()
        return kong.response.exit(200, ngx.var.ssl_client_verify .. "\n" .. tostring(chain) .. "\n" .. phase_err)"#;
    gw.admin(
        Method::POST,
        "/services/s/plugins",
        json!({"name": "post-function", "config": {"access": [access]}}),
    )
    .await;
    let ask = |sni: &'static str, cert: Option<&common::tls::Issued>| {
        let config = client_presenting(cert);
        async move {
            let r = https_request(tls, sni, config, get(sni, "/"))
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{sni}: {}", r.body);
            let mut lines = r.body.splitn(2, '\n');
            let verify = lines.next().unwrap().to_string();
            let rest = lines.next().unwrap_or_default().replace('\r', "");
            (verify, rest)
        }
    };
    let phase_error = "function cannot be called in access phase (only in: certificate)";
    let alice_pem = alice.cert_pem.replace('\r', "");

    // Not asked for: nothing requested, whatever the client holds.
    let (verify, rest) = ask("plain.test", Some(&alice)).await;
    assert_eq!(verify, "NONE");
    assert_eq!(rest, format!("nil\n{phase_error}"));
    // Asked for, with the CA: hers chains to it, his does not.
    let (verify, rest) = ask("mtls.test", Some(&alice)).await;
    assert_eq!(verify, "SUCCESS");
    assert_eq!(rest, format!("{alice_pem}\n{phase_error}"));
    let (verify, rest) = ask("mtls.test", Some(&mallory)).await;
    assert_eq!(verify, "FAILED:unable to get local issuer certificate");
    assert!(rest.starts_with("-----BEGIN CERTIFICATE-----"), "{rest}");
    let (verify, rest) = ask("mtls.test", None).await;
    assert_eq!(verify, "NONE");
    assert_eq!(rest, format!("nil\n{phase_error}"));
    // Asked for without CA certificates: no chain can succeed.
    let (verify, _) = ask("noca.test", Some(&alice)).await;
    assert_eq!(verify, "FAILED:unable to get local issuer certificate");
    // A bad PEM is refused with an error, and the handshake goes on.
    let (verify, _) = ask("bad.test", Some(&alice)).await;
    assert_eq!(verify, "NONE");
}

/// Counts the TLS 1.3 tickets a client receives.
#[derive(Debug)]
struct CountingStore {
    inner: std::sync::Arc<rustls::client::ClientSessionMemoryCache>,
    tickets: std::sync::atomic::AtomicUsize,
}

impl CountingStore {
    fn new() -> Self {
        Self {
            inner: std::sync::Arc::new(rustls::client::ClientSessionMemoryCache::new(16)),
            tickets: Default::default(),
        }
    }
}

impl rustls::client::ClientSessionStore for CountingStore {
    fn set_kx_hint(&self, name: rustls::pki_types::ServerName<'static>, g: rustls::NamedGroup) {
        self.inner.set_kx_hint(name, g)
    }
    fn kx_hint(&self, name: &rustls::pki_types::ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(name)
    }
    fn set_tls12_session(
        &self,
        name: rustls::pki_types::ServerName<'static>,
        v: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(name, v)
    }
    fn tls12_session(
        &self,
        name: &rustls::pki_types::ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(name)
    }
    fn remove_tls12_session(&self, name: &rustls::pki_types::ServerName<'static>) {
        self.inner.remove_tls12_session(name)
    }
    fn insert_tls13_ticket(
        &self,
        name: rustls::pki_types::ServerName<'static>,
        v: rustls::client::Tls13ClientSessionValue,
    ) {
        self.tickets
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.insert_tls13_ticket(name, v)
    }
    fn take_tls13_ticket(
        &self,
        name: &rustls::pki_types::ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(name)
    }
}

/// One `Connection: close` request on a new TLS connection; returns how
/// the handshake went.
async fn close_request(
    tls: std::net::SocketAddr,
    config: std::sync::Arc<rustls::ClientConfig>,
) -> rustls::HandshakeKind {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(tls).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut s = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap();
    let kind = s.get_ref().1.handshake_kind().unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // To the end: the tickets come before the answer.
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    assert!(answer.starts_with(b"HTTP/1.1 "), "an HTTP answer");
    kind
}

/// A TLS 1.3 client gets one session ticket per handshake, full or
/// resumed, as from nginx after a resumption (rustls' default is two): a
/// client resuming each connection takes one and gets one back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_ticket_per_handshake_and_resumption_works() {
    let gw = Gateway::start();
    let tls = gw.proxy_tls.expect("TLS listener");
    let store = std::sync::Arc::new(CountingStore::new());
    let mut config = (*any_cert_client(&[b"http/1.1"])).clone();
    config.resumption = rustls::client::Resumption::store(store.clone());
    let config = std::sync::Arc::new(config);
    let tickets = || store.tickets.load(std::sync::atomic::Ordering::SeqCst);

    assert_eq!(
        close_request(tls, config.clone()).await,
        rustls::HandshakeKind::Full
    );
    assert_eq!(tickets(), 1, "one ticket after a full handshake");
    for n in 2..=3 {
        assert_eq!(
            close_request(tls, config.clone()).await,
            rustls::HandshakeKind::Resumed,
            "the ticket resumes the next connection"
        );
        assert_eq!(tickets(), n, "one ticket after a resumption");
    }
}
