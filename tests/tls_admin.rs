//! Kong's Admin API specs for the TLS entities, ported:
//! `spec/02-integration/04-admin_api/06-certificates_routes_spec.lua` and
//! `16-ca_certificates_routes_spec.lua`. Every case names its source as
//! `file :: describe … :: it`; cases Kong runs once per content type run
//! here once per content type too. One gateway per describe block keeps
//! the wall time small.
//!
//! Kong's fixtures (`spec/fixtures/ssl.lua`) are replaced by certificates
//! made here: `cert` is ECDSA where Kong's is RSA, and the "other key
//! type" alternatives (`cert_ecdsa`, `cert_alt_ecdsa`) are Ed25519.
//!
//! Kong's direct DAO reads (`db.certificates:select_with_name_list`,
//! `bp.snis:insert`) are replaced by the Admin API.

mod common;

use common::tls::{ca, self_signed, Issued};
use common::Gateway;
use serde_json::{json, Value};

const M: &str = "06-certificates_routes_spec.lua";
const CA: &str = "16-ca_certificates_routes_spec.lua";

struct Fixtures {
    cert: Issued,
    cert_ecdsa: Issued,
    cert_alt: Issued,
    cert_alt_ecdsa: Issued,
}

fn fixtures() -> Fixtures {
    Fixtures {
        cert: self_signed(&["ssl-example.com"], false),
        cert_ecdsa: self_signed(&["ssl-example.com"], true),
        cert_alt: self_signed(&["ssl-alt.com"], false),
        cert_alt_ecdsa: self_signed(&["ssl-alt.com"], true),
    }
}

#[derive(Clone, Copy, Debug)]
enum Ct {
    Form,
    Multipart,
    Json,
}

const CONTENT_TYPES: [Ct; 3] = [Ct::Form, Ct::Multipart, Ct::Json];

/// Sends `body` (a flat object; arrays become `k[1]`, `k[2]` …) in the
/// given content type.
async fn send(gw: &Gateway, method: &str, path: &str, ct: Ct, body: Value) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let req = gw.http.request(method, gw.admin_url(path));
    let pairs = || -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, v) in body.as_object().unwrap() {
            match v {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        out.push((format!("{k}[{}]", i + 1), item.as_str().unwrap().into()));
                    }
                }
                Value::String(s) => out.push((k.clone(), s.clone())),
                other => out.push((k.clone(), other.to_string())),
            }
        }
        out
    };
    let req = match ct {
        Ct::Json => req.json(&body),
        Ct::Form => {
            let text = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs())
                .finish();
            req.header("content-type", "application/x-www-form-urlencoded")
                .body(text)
        }
        Ct::Multipart => {
            let mut form = reqwest::multipart::Form::new();
            for (k, v) in pairs() {
                form = form.text(k, v);
            }
            req.multipart(form)
        }
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn json(gw: &Gateway, method: &str, path: &str, body: Value) -> (u16, Value) {
    send(gw, method, path, Ct::Json, body).await
}

fn names(n: usize, tag: &str) -> Vec<String> {
    (1..=n).map(|i| format!("{tag}{i:04}.test")).collect()
}

/// Kong's `add_certificate`: a certificate with two fresh SNIs, checked
/// with `/schemas/certificates/validate` first.
async fn add_certificate(gw: &Gateway, f: &Fixtures, tag: &str) -> (Value, Vec<String>) {
    let n = names(2, tag);
    let certificate = json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem, "snis": n});
    let (status, body) = json(
        gw,
        "POST",
        "/schemas/certificates/validate",
        certificate.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "schema validation successful");
    let (status, body) = json(gw, "POST", "/certificates", certificate).await;
    assert_eq!(status, 201, "{body}");
    (body, n)
}

/// Kong's `add_certificate_with_alt_cert`.
async fn add_certificate_with_alt_cert(
    gw: &Gateway,
    f: &Fixtures,
    tag: &str,
) -> (Value, Vec<String>) {
    let n = names(2, tag);
    let (status, body) = json(
        gw,
        "POST",
        "/certificates",
        json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem,
               "cert_alt": f.cert_ecdsa.cert_pem, "key_alt": f.cert_ecdsa.key_pem, "snis": n}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (body, n)
}

async fn all_snis(gw: &Gateway) -> Vec<String> {
    let (_, list) = json(gw, "GET", "/certificates?size=1000", Value::Null).await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["snis"].as_array().unwrap().clone())
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn without_updated_at(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("updated_at");
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_collection() {
    let f = fixtures();
    let gw = Gateway::start();

    // 06 :: /certificates GET :: retrieves all certificates with snis
    let my_snis: Vec<String> = (1..=150).map(|i| format!("my-sni-{i:03}.test")).collect();
    let (status, _) = json(
        &gw,
        "POST",
        "/certificates",
        json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem, "snis": my_snis}),
    )
    .await;
    assert_eq!(status, 201, "{M} :: retrieves all certificates with snis");
    let (_, list) = json(&gw, "GET", "/certificates", Value::Null).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(list["data"][0]["cert"].is_string() && list["data"][0]["key"].is_string());
    assert_eq!(list["data"][0]["cert_alt"], Value::Null);
    assert_eq!(list["data"][0]["key_alt"], Value::Null);
    assert_eq!(list["data"][0]["snis"], json!(my_snis));

    // 06 :: /certificates POST :: returns a conflict when duplicated snis are present in the request
    let n = names(2, "dup");
    let (status, body) = json(
        &gw,
        "POST",
        "/certificates",
        json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem, "snis": [n[0], n[1], n[0]]}),
    )
    .await;
    assert_eq!(status, 400, "{M} :: duplicated snis");
    assert_eq!(
        body["message"],
        format!("schema violation (snis: {} is duplicated)", n[0])
    );
    assert!(!all_snis(&gw).await.iter().any(|s| n.contains(s)));

    // 06 :: /certificates POST :: returns a conflict when a pre-existing sni is detected
    let n = names(2, "pre");
    let (status, _) = json(
        &gw,
        "POST",
        "/certificates",
        json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem, "snis": [n[0]]}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = json(
        &gw,
        "POST",
        "/certificates",
        json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem, "snis": [n[0], n[1]]}),
    )
    .await;
    assert_eq!(status, 400, "{M} :: pre-existing sni");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "snis: {} already associated with existing certificate",
            n[0]
        )),
        "{msg}"
    );
    assert!(!all_snis(&gw).await.contains(&n[1]));

    for ct in CONTENT_TYPES {
        // 06 :: /certificates POST :: creates a certificate and returns it with the snis pseudo-property (per content type)
        let n = names(2, &format!("ct{ct:?}"));
        let (status, body) = send(
            &gw,
            "POST",
            "/certificates",
            ct,
            json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem, "snis": n}),
        )
        .await;
        assert_eq!(
            status, 201,
            "{M} :: creates a certificate … with {ct:?}: {body}"
        );
        assert!(body["cert"].is_string() && body["key"].is_string());
        assert_eq!(body["cert_alt"], Value::Null);
        assert_eq!(body["key_alt"], Value::Null);
        assert_eq!(body["snis"], json!(n));

        // 06 :: /certificates POST :: returns snis as [] when none is set (per content type)
        let (status, body) = send(
            &gw,
            "POST",
            "/certificates",
            ct,
            json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem}),
        )
        .await;
        assert_eq!(
            status, 201,
            "{M} :: returns snis as [] … with {ct:?}: {body}"
        );
        assert_eq!(body["snis"], json!([]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_by_id_or_sni_get_and_put() {
    let f = fixtures();
    let gw = Gateway::start();

    // 06 :: /certificates/cert_id_or_sni GET :: retrieves a certificate by id
    let (cert, n) = add_certificate(&gw, &f, "g1-").await;
    let (status, got) = json(
        &gw,
        "GET",
        &format!("/certificates/{}", cert["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{M} :: retrieves a certificate by id");
    assert_eq!(got["snis"], json!(n));
    assert_eq!(got["cert_alt"], Value::Null);

    // 06 :: … GET :: retrieves a certificate by id with alternate certificate
    let (cert, n) = add_certificate_with_alt_cert(&gw, &f, "g2-").await;
    let (_, got) = json(
        &gw,
        "GET",
        &format!("/certificates/{}", cert["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    assert!(
        got["cert_alt"].is_string() && got["key_alt"].is_string(),
        "{M} :: by id with alternate"
    );
    assert_eq!(got["snis"], json!(n));

    // 06 :: … GET :: retrieves a certificate by sni (and with alternate certificate)
    for alt in [false, true] {
        let (_, n) = if alt {
            add_certificate_with_alt_cert(&gw, &f, "g3a-").await
        } else {
            add_certificate(&gw, &f, "g3-").await
        };
        let (s1, j1) = json(&gw, "GET", &format!("/certificates/{}", n[0]), Value::Null).await;
        let (s2, j2) = json(&gw, "GET", &format!("/certificates/{}", n[1]), Value::Null).await;
        assert_eq!(
            (s1, s2),
            (200, 200),
            "{M} :: retrieves a certificate by sni (alt: {alt})"
        );
        assert_eq!(j1, j2);
        assert_eq!(j1["snis"], json!(n));
        assert_eq!(j1["cert_alt"].is_string(), alt);
    }

    // 06 :: … GET :: returns 404 for a random non-existing uuid / sni
    let (status, _) = json(
        &gw,
        "GET",
        &format!("/certificates/{}", uuid::Uuid::new_v4()),
        Value::Null,
    )
    .await;
    assert_eq!(
        status, 404,
        "{M} :: returns 404 for a random non-existing uuid"
    );
    let (status, _) = json(&gw, "GET", "/certificates/doesntexist.test", Value::Null).await;
    assert_eq!(
        status, 404,
        "{M} :: returns 404 for a random non-existing sni"
    );

    // 06 :: … PUT :: creates if not found
    let id = uuid::Uuid::new_v4();
    let n1 = names(1, "p1-");
    let (status, body) = json(
        &gw,
        "PUT",
        &format!("/certificates/{id}"),
        json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem, "snis": n1}),
    )
    .await;
    assert_eq!(status, 200, "{M} :: PUT creates if not found: {body}");
    assert_eq!(body["cert"], f.cert.cert_pem);
    assert_eq!(body["snis"], json!(n1));
    let (_, in_db) = json(&gw, "GET", &format!("/certificates/{id}"), Value::Null).await;
    assert_eq!(in_db, body);

    // 06 :: … PUT :: creates a new sni when provided in the url (and with the sni duplicated in url and body)
    for dup in [false, true] {
        let n = names(2, if dup { "p3-" } else { "p2-" });
        let snis = if dup {
            json!([n[0], n[1]])
        } else {
            json!([n[1]])
        };
        let (status, body) = json(
            &gw,
            "PUT",
            &format!("/certificates/{}", n[0]),
            json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem, "snis": snis}),
        )
        .await;
        assert_eq!(
            status, 200,
            "{M} :: creates a new sni when provided in the url (dup: {dup}): {body}"
        );
        assert_eq!(body["snis"], json!(n));
        let (_, in_db) = json(
            &gw,
            "GET",
            &format!("/certificates/{}", body["id"].as_str().unwrap()),
            Value::Null,
        )
        .await;
        assert_eq!(in_db, body);
    }

    // 06 :: … PUT :: upserts if found (and with alternate certificate)
    for alt in [false, true] {
        let (cert, _) = add_certificate(&gw, &f, if alt { "p5-" } else { "p4-" }).await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let mut body = json!({"cert": f.cert_alt.cert_pem, "key": f.cert_alt.key_pem});
        if alt {
            body["cert_alt"] = json!(f.cert_alt_ecdsa.cert_pem);
            body["key_alt"] = json!(f.cert_alt_ecdsa.key_pem);
        }
        let (status, got) = json(
            &gw,
            "PUT",
            &format!("/certificates/{}", cert["id"].as_str().unwrap()),
            body,
        )
        .await;
        assert_eq!(status, 200, "{M} :: upserts if found (alt: {alt}): {got}");
        assert_eq!(got["cert"], f.cert_alt.cert_pem);
        assert_eq!(got["key"], f.cert_alt.key_pem);
        assert_eq!(got["snis"], json!([]));
        if alt {
            assert_eq!(got["cert_alt"], f.cert_alt_ecdsa.cert_pem);
        } else {
            assert_eq!(got["cert_alt"], Value::Null);
            assert!(cert["updated_at"].as_i64() < got["updated_at"].as_i64());
        }
    }

    // 06 :: … PUT :: handles invalid input
    let (status, body) = json(
        &gw,
        "PUT",
        &format!("/certificates/{}", uuid::Uuid::new_v4()),
        json!({}),
    )
    .await;
    assert_eq!(status, 400, "{M} :: handles invalid input");
    assert_eq!(
        body,
        json!({"code": 2, "name": "schema violation",
        "message": "2 schema violations (cert: required field missing; key: required field missing)",
        "fields": {"cert": "required field missing", "key": "required field missing"}})
    );

    // 06 :: … PUT :: handles invalid input with alternate certificate
    let (status, body) = json(
        &gw,
        "PUT",
        &format!("/certificates/{}", uuid::Uuid::new_v4()),
        json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem, "cert_alt": f.cert_ecdsa.cert_pem}),
    )
    .await;
    assert_eq!(
        status, 400,
        "{M} :: handles invalid input with alternate certificate"
    );
    assert_eq!(
        body,
        json!({"code": 2, "name": "schema violation",
        "message": "schema violation (all or none of these fields must be set: 'cert_alt', 'key_alt')",
        "fields": {"@entity": ["all or none of these fields must be set: 'cert_alt', 'key_alt'"]}})
    );

    // 06 :: … PUT :: handles mismatched keys/certificates (and with alternate certificate)
    for (body, msg) in [
        (json!({"cert": f.cert.cert_pem, "key": f.cert_alt.key_pem}), "certificate does not match key"),
        (json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem, "cert_alt": f.cert_ecdsa.cert_pem,
                "key_alt": f.cert_alt_ecdsa.key_pem}), "alternative certificate does not match key"),
        // 06 :: … PUT :: errors on non-distinct certs
        (json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem, "cert_alt": f.cert.cert_pem, "key_alt": f.cert.key_pem}),
         "certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type"),
    ] {
        let (status, got) = json(&gw, "POST", "/certificates", body).await;
        assert_eq!(status, 400, "{M} :: {msg}");
        assert_eq!(got, json!({"code": 2, "name": "schema violation",
            "message": format!("schema violation ({msg})"), "fields": {"@entity": [msg]}}));
    }

    // Beyond Kong's spec: text that is not PEM is Kong's "invalid certificate" / "invalid key".
    let (status, got) = json(
        &gw,
        "POST",
        "/certificates",
        json!({"cert": "nope", "key": "nope"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        got["fields"]["cert"]
            .as_str()
            .unwrap()
            .starts_with("invalid certificate: "),
        "{got}"
    );
    assert!(
        got["fields"]["key"]
            .as_str()
            .unwrap()
            .starts_with("invalid key: "),
        "{got}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_patch_and_delete() {
    let f = fixtures();
    let gw = Gateway::start();
    let mut tag = 0;
    let mut next = || {
        tag += 1;
        format!("t{tag}-")
    };

    for ct in CONTENT_TYPES {
        for by_sni in [false, true] {
            for alt in [false, true] {
                // 06 :: … PATCH :: updates a certificate by cert id / by sni (with alternate certificate) (per content type)
                let (cert, n) = if alt {
                    add_certificate_with_alt_cert(&gw, &f, &next()).await
                } else {
                    add_certificate(&gw, &f, &next()).await
                };
                let at = if by_sni {
                    n[0].clone()
                } else {
                    cert["id"].as_str().unwrap().to_string()
                };
                let mut body = json!({"cert": f.cert_alt.cert_pem, "key": f.cert_alt.key_pem});
                if alt {
                    body["cert_alt"] = json!(f.cert_alt_ecdsa.cert_pem);
                    body["key_alt"] = json!(f.cert_alt_ecdsa.key_pem);
                }
                let (status, got) =
                    send(&gw, "PATCH", &format!("/certificates/{at}"), ct, body).await;
                assert_eq!(
                    status, 200,
                    "{M} :: updates a certificate (by sni: {by_sni}, alt: {alt}, {ct:?}): {got}"
                );
                assert_eq!(got["cert"], f.cert_alt.cert_pem);
                if alt {
                    assert_eq!(got["cert_alt"], f.cert_alt_ecdsa.cert_pem);
                } else {
                    assert_eq!(got["cert_alt"], Value::Null);
                }

                // 06 :: … PATCH :: update by id / by sni returns full certificate (with alternative certificate) (per content type)
                let (cert, n) = if alt {
                    add_certificate_with_alt_cert(&gw, &f, &next()).await
                } else {
                    add_certificate(&gw, &f, &next()).await
                };
                let at = if by_sni {
                    n[0].clone()
                } else {
                    cert["id"].as_str().unwrap().to_string()
                };
                let (status, got) =
                    send(&gw, "PATCH", &format!("/certificates/{at}"), ct, json!({})).await;
                assert_eq!(status, 200, "{M} :: update returns full certificate (by sni: {by_sni}, alt: {alt}, {ct:?}): {got}");
                assert_eq!(without_updated_at(got), without_updated_at(cert));
            }
        }
    }

    // 06 :: … PATCH :: returns 404 for a random non-existing id
    let n1 = names(1, "missing-");
    let (status, _) = json(
        &gw,
        "PATCH",
        &format!("/certificates/{}", uuid::Uuid::new_v4()),
        json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem, "snis": n1}),
    )
    .await;
    assert_eq!(
        status, 404,
        "{M} :: returns 404 for a random non-existing id"
    );
    assert!(!all_snis(&gw).await.contains(&n1[0]));

    // 06 :: … PATCH :: updates snis associated with a certificate (and with alternate certificate)
    for alt in [false, true] {
        let (cert, _) = if alt {
            add_certificate_with_alt_cert(&gw, &f, &next()).await
        } else {
            add_certificate(&gw, &f, &next()).await
        };
        let n1 = names(1, &next());
        let (status, got) = json(
            &gw,
            "PATCH",
            &format!("/certificates/{}", cert["id"].as_str().unwrap()),
            json!({"snis": n1}),
        )
        .await;
        assert_eq!(
            status, 200,
            "{M} :: updates snis associated with a certificate (alt: {alt})"
        );
        assert_eq!(got["snis"], json!(n1));
        let (_, again) = json(
            &gw,
            "GET",
            &format!("/certificates/{}", cert["id"].as_str().unwrap()),
            Value::Null,
        )
        .await;
        assert_eq!(again["snis"], json!(n1));
    }

    // 06 :: … PATCH :: updates only the certificate if no snis are specified
    let (cert, n) = add_certificate(&gw, &f, &next()).await;
    let before = all_snis(&gw).await;
    let (status, got) = json(
        &gw,
        "PATCH",
        &format!("/certificates/{}", cert["id"].as_str().unwrap()),
        json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem}),
    )
    .await;
    assert_eq!(
        status, 200,
        "{M} :: updates only the certificate if no snis are specified"
    );
    assert_eq!(got["snis"], json!(n));
    assert_eq!(all_snis(&gw).await, before);

    // 06 :: … PATCH :: returns a conflict when duplicated snis are present in the request
    let (cert, _) = add_certificate(&gw, &f, &next()).await;
    let before = all_snis(&gw).await;
    let n1 = names(1, &next());
    let (status, got) = json(
        &gw,
        "PATCH",
        &format!("/certificates/{}", cert["id"].as_str().unwrap()),
        json!({"snis": [n1[0], n1[0]]}),
    )
    .await;
    assert_eq!(status, 400, "{M} :: PATCH duplicated snis");
    assert_eq!(
        got["message"],
        format!("schema violation (snis: {} is duplicated)", n1[0])
    );
    assert_eq!(all_snis(&gw).await, before);

    // 06 :: … PATCH :: returns a conflict when a pre-existing sni present in the request is associated with another certificate
    let (cert, _) = add_certificate(&gw, &f, &next()).await;
    let (cert2, names2) = add_certificate(&gw, &f, &next()).await;
    let before = all_snis(&gw).await;
    let (status, got) = json(
        &gw,
        "PATCH",
        &format!("/certificates/{}", cert["id"].as_str().unwrap()),
        json!({"snis": names2}),
    )
    .await;
    assert_eq!(
        status, 400,
        "{M} :: PATCH pre-existing sni of another certificate"
    );
    assert_eq!(
        got["message"],
        format!(
            "schema violation (snis: {} already associated with existing certificate '{}')",
            names2[0],
            cert2["id"].as_str().unwrap()
        )
    );
    assert_eq!(all_snis(&gw).await, before);

    // 06 :: … PATCH :: deletes all snis from a certificate if snis field is JSON null
    let (cert, n) = add_certificate(&gw, &f, &next()).await;
    let (status, got) = json(
        &gw,
        "PATCH",
        &format!("/certificates/{}", cert["id"].as_str().unwrap()),
        json!({"snis": null}),
    )
    .await;
    assert_eq!(status, 200, "{M} :: deletes all snis … JSON null");
    assert_eq!(got["snis"], json!([]));
    assert!(!all_snis(&gw).await.iter().any(|s| n.contains(s)));

    // 06 :: … DELETE :: deletes a certificate and all related snis (by sni, then by id)
    for by_sni in [true, false] {
        let (_, before) = json(&gw, "GET", "/certificates?size=1000", Value::Null).await;
        let (cert, n) = add_certificate(&gw, &f, &next()).await;
        let at = if by_sni {
            n[0].clone()
        } else {
            cert["id"].as_str().unwrap().to_string()
        };
        let (status, _) = json(&gw, "DELETE", &format!("/certificates/{at}"), Value::Null).await;
        assert_eq!(
            status, 204,
            "{M} :: deletes a certificate (by sni: {by_sni})"
        );
        let (_, after) = json(&gw, "GET", "/certificates?size=1000", Value::Null).await;
        assert_eq!(after, before);
        let (status, _) = json(&gw, "GET", &format!("/snis/{}", n[1]), Value::Null).await;
        assert_eq!(status, 404, "the SNIs went with it");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snis_endpoints() {
    let f = fixtures();
    let gw = Gateway::start();

    // 06 :: /certificates/:certificate/snis POST :: errors :: certificate doesn't exist
    let (status, body) = json(
        &gw,
        "POST",
        "/certificates/585e4c16-c656-11e6-8db9-5f512d8a12cd/snis",
        json!({"name": "x.test"}),
    )
    .await;
    assert_eq!(status, 404, "{M} :: certificate doesn't exist");
    assert_eq!(body["message"], "Not found");

    for (i, ct) in CONTENT_TYPES.into_iter().enumerate() {
        // 06 :: … POST :: creates a sni using a certificate id (per content type)
        let (cert, n) = add_certificate(&gw, &f, &format!("s{i}-")).await;
        let new = format!("new{i}.test");
        let (status, body) = send(
            &gw,
            "POST",
            &format!("/certificates/{}/snis", cert["id"].as_str().unwrap()),
            ct,
            json!({"name": new}),
        )
        .await;
        assert_eq!(
            status, 201,
            "{M} :: creates a sni using a certificate id ({ct:?}): {body}"
        );
        assert_eq!(body["name"], new);
        assert_eq!(body["certificate"]["id"], cert["id"]);
        // 06 :: … POST :: creates a sni using a sni to id the certificate (per content type)
        let other = format!("other{i}.test");
        let (status, body) = send(
            &gw,
            "POST",
            &format!("/certificates/{}/snis", n[0]),
            ct,
            json!({"name": other}),
        )
        .await;
        assert_eq!(
            status, 201,
            "{M} :: creates a sni using a sni to id the certificate ({ct:?}): {body}"
        );
        assert_eq!(body["certificate"]["id"], cert["id"]);
    }

    // 06 :: … POST :: returns a conflict when an sni already exists
    let (cert, n) = add_certificate(&gw, &f, "conflict-").await;
    let (status, body) = json(
        &gw,
        "POST",
        &format!("/certificates/{}/snis", cert["id"].as_str().unwrap()),
        json!({"name": n[0]}),
    )
    .await;
    assert_eq!(
        status, 409,
        "{M} :: returns a conflict when an sni already exists"
    );
    assert_eq!(body["name"], "unique constraint violation");

    // 06 :: … GET :: retrieves a list of snis
    let (status, cert) = json(
        &gw,
        "POST",
        "/certificates",
        json!({"cert": f.cert.cert_pem, "key": f.cert.key_pem}),
    )
    .await;
    assert_eq!(status, 201);
    let cid = cert["id"].as_str().unwrap();
    json(
        &gw,
        "POST",
        "/snis",
        json!({"name": "listed.test", "certificate": {"id": cid}}),
    )
    .await;
    let (status, list) = json(
        &gw,
        "GET",
        &format!("/certificates/{cid}/snis"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{M} :: retrieves a list of snis");
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["name"], "listed.test");
    assert_eq!(list["data"][0]["certificate"]["id"], cid);

    // 06 :: /snis/:name wildcard snis POST :: creates with prefix wildcard / suffix wildcard
    for name in ["*.wild1.test", "wild2.test.*"] {
        let (status, body) = json(
            &gw,
            "POST",
            "/snis",
            json!({"name": name, "certificate": {"id": cid}}),
        )
        .await;
        assert_eq!(status, 201, "{M} :: creates with a wildcard: {body}");
        assert_eq!(body["name"], name);
        assert_eq!(body["certificate"]["id"], cid);
    }
    // 06 :: … wildcard snis POST :: rejects invalid SNIs
    let (status, body) = json(
        &gw,
        "POST",
        "/snis",
        json!({"name": "*.wildcard.*", "certificate": {"id": cid}}),
    )
    .await;
    assert_eq!(status, 400, "{M} :: rejects invalid SNIs");
    assert_eq!(
        body["fields"]["name"],
        "only one wildcard must be specified"
    );
    // 06 :: … wildcard snis GET :: retrieves a wildcard SNI using the name
    json(
        &gw,
        "POST",
        "/snis",
        json!({"name": "*.wildcard.test", "certificate": {"id": cid}}),
    )
    .await;
    let (status, body) = json(&gw, "GET", "/snis/%2A.wildcard.test", Value::Null).await;
    assert_eq!(
        status, 200,
        "{M} :: retrieves a wildcard SNI using the name"
    );
    assert_eq!(body["name"], "*.wildcard.test");

    // 06 :: /snis/:name GET :: retrieves a sni using the name / using the id
    let (cert, n) = add_certificate(&gw, &f, "named-").await;
    let (status, by_name) = json(&gw, "GET", &format!("/snis/{}", n[0]), Value::Null).await;
    assert_eq!(status, 200, "{M} :: retrieves a sni using the name");
    assert_eq!(by_name["certificate"]["id"], cert["id"]);
    let (status, by_id) = json(
        &gw,
        "GET",
        &format!("/snis/{}", by_name["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{M} :: retrieves a sni using the id");
    assert_eq!(by_id, by_name);

    // 06 :: /snis/:name PUT :: creates if not found
    let id = uuid::Uuid::new_v4();
    let (status, body) = json(
        &gw,
        "PUT",
        &format!("/snis/{id}"),
        json!({"certificate": {"id": cid}, "name": "put1.test"}),
    )
    .await;
    assert_eq!(status, 200, "{M} :: PUT /snis creates if not found: {body}");
    assert_eq!(body["name"], "put1.test");
    let (_, in_db) = json(&gw, "GET", &format!("/snis/{id}"), Value::Null).await;
    assert_eq!(in_db, body);
    // 06 :: /snis/:name PUT :: updates if found
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, updated) = json(
        &gw,
        "PUT",
        &format!("/snis/{id}"),
        json!({"certificate": {"id": cid}, "name": "put2.test"}),
    )
    .await;
    assert_eq!(status, 200, "{M} :: PUT /snis updates if found");
    assert_eq!(updated["name"], "put2.test");
    assert!(body["updated_at"].as_i64() < updated["updated_at"].as_i64());
    // 06 :: /snis/:name PUT :: handles invalid input
    let (status, body) = json(
        &gw,
        "PUT",
        &format!("/snis/{}", uuid::Uuid::new_v4()),
        json!({}),
    )
    .await;
    assert_eq!(status, 400, "{M} :: PUT /snis handles invalid input");
    assert_eq!(
        body,
        json!({"code": 2, "name": "schema violation",
        "message": "2 schema violations (certificate: required field missing; name: required field missing)",
        "fields": {"certificate": "required field missing", "name": "required field missing"}})
    );

    // 06 :: /snis/:name PATCH :: updates a sni (and with alternate certificate)
    for alt in [false, true] {
        let (cert, n) = add_certificate(&gw, &f, if alt { "pa-" } else { "pb-" }).await;
        let mut second = json!({"cert": f.cert_alt.cert_pem, "key": f.cert_alt.key_pem});
        if alt {
            second["cert_alt"] = json!(f.cert_alt_ecdsa.cert_pem);
            second["key_alt"] = json!(f.cert_alt_ecdsa.key_pem);
        }
        let (_, cert2) = json(&gw, "POST", "/certificates", second).await;
        let (status, body) = json(
            &gw,
            "PATCH",
            &format!("/snis/{}", n[0]),
            json!({"certificate": {"id": cert2["id"]}}),
        )
        .await;
        assert_eq!(status, 200, "{M} :: updates a sni (alt: {alt})");
        assert_eq!(body["certificate"]["id"], cert2["id"]);
        let (_, c1) = json(
            &gw,
            "GET",
            &format!("/certificates/{}", cert["id"].as_str().unwrap()),
            Value::Null,
        )
        .await;
        assert_eq!(c1["snis"], json!([n[1]]));
        let (_, c2) = json(
            &gw,
            "GET",
            &format!("/certificates/{}", cert2["id"].as_str().unwrap()),
            Value::Null,
        )
        .await;
        assert_eq!(c2["snis"], json!([n[0]]));
    }

    // 06 :: /snis/:name DELETE :: deletes a sni
    json(
        &gw,
        "POST",
        "/snis",
        json!({"name": "gone.test", "certificate": {"id": cid}}),
    )
    .await;
    let (status, _) = json(&gw, "DELETE", "/snis/gone.test", Value::Null).await;
    assert_eq!(status, 204, "{M} :: deletes a sni");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_certificates() {
    let root = ca("Yolo42.1", false);
    let cert_ca = ca("cert_ca", false);
    let expired = ca("expired", true);
    let leaf = self_signed(&["ssl-example.com"], false);
    let gw = Gateway::start();

    // 16 :: GET
    let (status, list) = json(&gw, "GET", "/ca_certificates", Value::Null).await;
    assert_eq!(
        (status, list["data"].as_array().unwrap().len()),
        (200, 0),
        "{CA} :: GET"
    );
    let (status, _) = json(
        &gw,
        "POST",
        "/ca_certificates",
        json!({"cert": cert_ca.issued.cert_pem}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, list) = json(&gw, "GET", "/ca_certificates", Value::Null).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["cert"], cert_ca.issued.cert_pem);
    let ca_id = list["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(list["data"][0]["cert_digest"].as_str().unwrap().len(), 64);

    // 16 :: POST :: succeeds
    let (status, _) = json(
        &gw,
        "POST",
        "/ca_certificates",
        json!({"cert": root.issued.cert_pem}),
    )
    .await;
    assert_eq!(status, 201, "{CA} :: POST succeeds");
    // (the same certificate twice: its digest is unique)
    let (status, _) = json(
        &gw,
        "POST",
        "/ca_certificates",
        json!({"cert": root.issued.cert_pem}),
    )
    .await;
    assert_eq!(status, 409);

    let non_ca = "schema violation (certificate does not appear to be a CA because it is missing the \"CA\" basic constraint)";
    let expired_msg = "schema violation (certificate expired, \"Not After\" time is in the past)";
    for method in ["POST", "PATCH", "PUT"] {
        let path = if method == "POST" {
            "/ca_certificates".to_string()
        } else {
            format!("/ca_certificates/{ca_id}")
        };
        // 16 :: POST/PUT :: missing field
        if method != "PATCH" {
            let (status, body) = json(&gw, method, &path, json!({})).await;
            assert_eq!(status, 400, "{CA} :: {method} missing field");
            assert_eq!(
                body["message"],
                "schema violation (cert: required field missing)"
            );
        }
        // 16 :: POST/PATCH/PUT :: non CA cert
        let (status, body) = json(&gw, method, &path, json!({"cert": leaf.cert_pem})).await;
        assert_eq!(
            (status, body["message"].as_str().unwrap()),
            (400, non_ca),
            "{CA} :: {method} non CA cert"
        );
        // 16 :: POST/PATCH/PUT :: expired cert
        let (status, body) =
            json(&gw, method, &path, json!({"cert": expired.issued.cert_pem})).await;
        assert_eq!(
            (status, body["message"].as_str().unwrap()),
            (400, expired_msg),
            "{CA} :: {method} expired cert"
        );
    }
    // 16 :: POST :: multiple certs
    let (status, body) = json(
        &gw,
        "POST",
        "/ca_certificates",
        json!({"cert": format!("{}\n{}", leaf.cert_pem, leaf.cert_pem)}),
    )
    .await;
    assert_eq!(status, 400, "{CA} :: multiple certs");
    assert_eq!(
        body["message"],
        "schema violation (please submit only one certificate at a time)"
    );

    // 16 :: PATCH :: works
    let (_, before) = json(
        &gw,
        "GET",
        &format!("/ca_certificates/{ca_id}"),
        Value::Null,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let other = ca("patched", false);
    let (status, patched) = json(
        &gw,
        "PATCH",
        &format!("/ca_certificates/{ca_id}"),
        json!({"cert": other.issued.cert_pem}),
    )
    .await;
    assert_eq!(status, 200, "{CA} :: PATCH works");
    assert!(before["updated_at"].as_i64() < patched["updated_at"].as_i64());
    // 16 :: PUT :: updates existing cert
    let (status, _) = json(
        &gw,
        "PUT",
        &format!("/ca_certificates/{ca_id}"),
        json!({"cert": cert_ca.issued.cert_pem}),
    )
    .await;
    assert_eq!(status, 200, "{CA} :: PUT updates existing cert");
    let (_, got) = json(
        &gw,
        "GET",
        &format!("/ca_certificates/{ca_id}"),
        Value::Null,
    )
    .await;
    assert_eq!(got["cert"], cert_ca.issued.cert_pem);
    // 16 :: PUT :: creates new cert when uuid does not exist
    let new = ca("new", false);
    let (status, _) = json(
        &gw,
        "PUT",
        "/ca_certificates/123e4567-e89b-12d3-a456-426655440000",
        json!({"cert": new.issued.cert_pem}),
    )
    .await;
    assert_eq!(
        status, 200,
        "{CA} :: PUT creates new cert when uuid does not exist"
    );
    let (_, got) = json(
        &gw,
        "GET",
        "/ca_certificates/123e4567-e89b-12d3-a456-426655440000",
        Value::Null,
    )
    .await;
    assert_eq!(got["cert"], new.issued.cert_pem);

    // 16 :: DELETE :: not allowed to delete if it is referenced by other entities
    let (status, service) = json(
        &gw,
        "POST",
        "/services",
        json!({"url": "https://127.0.0.1:15555", "protocol": "https", "ca_certificates": [ca_id]}),
    )
    .await;
    assert_eq!(status, 201, "{service}");
    let (status, body) = json(
        &gw,
        "DELETE",
        &format!("/ca_certificates/{ca_id}"),
        Value::Null,
    )
    .await;
    assert_eq!(
        status, 400,
        "{CA} :: not allowed to delete if it is referenced"
    );
    assert_eq!(
        body["message"],
        format!(
            "ca certificate {ca_id} is still referenced by services (id = {})",
            service["id"].as_str().unwrap()
        )
    );
    let (status, _) = json(
        &gw,
        "DELETE",
        &format!("/services/{}", service["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    // 16 :: DELETE :: works
    let (status, _) = json(
        &gw,
        "DELETE",
        &format!("/ca_certificates/{ca_id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 204, "{CA} :: DELETE works");
    let (status, _) = json(
        &gw,
        "GET",
        &format!("/ca_certificates/{ca_id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
}
