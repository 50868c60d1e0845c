//! Kong's `spec/03-plugins/33-serverless-functions/01-schema_spec.lua`,
//! ported case by case on one gateway. Kong validates the config against
//! the plugin's schema in-process (`validate_plugin_config_schema`); here
//! the same body goes to `POST /schemas/plugins/validate`, which checks a
//! plugin exactly as a write would and stores nothing.
//!
//! Kong's file has 8 `it`, run for pre-function and post-function: 16
//! cases. One of them (`throws a log warning when being used`) sits under
//! `if method == "functions"` while the only method is
//! `"phase=functions"`, so Kong never runs it; it is ported anyway, with
//! what the harness can observe (the legacy `functions` list is accepted
//! and becomes `access`). Ported: 16. Not applicable: 0.

mod common;

use std::sync::Arc;

use common::kong::{json, status, Case};
use common::Gateway;
use serde_json::{json, Value};

const F: &str = "01-schema_spec.lua";

const MOCK_FN_ONE: &str = r#"("hello world!"):find("world")"#;
const MOCK_FN_TWO: &str = "local x = 1";
const MOCK_FN_THREE: &str = "local x = 1 return function() x = x + 1 end";
const MOCK_FN_INVALID: &str = "print(";
const MOCK_FN_INVALID_RETURN: &str = r#"return "hello-world""#;

async fn validate(gw: &Gateway, plugin: &str, functions: &[&str]) -> (u16, Value) {
    let r = json(
        gw,
        "POST",
        "/schemas/plugins/validate",
        json!({"name": plugin, "config": {"access": functions}}),
    )
    .await;
    (r.status, r.json)
}

async fn valid(gw: &Gateway, plugin: &str, functions: &[&str]) {
    let (code, body) = validate(gw, plugin, functions).await;
    assert_eq!(code, 200, "{plugin} {functions:?}: {body}");
    assert_eq!(body["message"], "schema validation successful");
}

/// Kong's message is LuaJIT's, which quotes the end of input.
fn assert_parse_error(got: &Value, plugin: &str) {
    let expected =
        format!("error parsing {plugin}: [string \"print(\"]:1: unexpected symbol near '<eof>'");
    assert_eq!(got.as_str().unwrap_or_default(), expected);
}

macro_rules! per_plugin {
    ($($name:ident => |$gw:ident, $plugin:ident| $body:block)*) => {
        $(
            async fn $name($gw: Arc<Gateway>, $plugin: &'static str) $body
        )*
    };
}

per_plugin! {
    validates_single_function => |gw, plugin| {
        valid(&gw, plugin, &[MOCK_FN_ONE]).await;
    }
    error_not_triggered_during_validation => |gw, plugin| {
        valid(&gw, plugin, &[r#"error("should never happen")"#]).await;
    }
    validates_single_function_with_upvalues => |gw, plugin| {
        valid(&gw, plugin, &[MOCK_FN_THREE]).await;
    }
    validates_multiple_functions => |gw, plugin| {
        valid(&gw, plugin, &[MOCK_FN_ONE, MOCK_FN_TWO]).await;
    }
    valid_chunk_with_invalid_return_type => |gw, plugin| {
        valid(&gw, plugin, &[MOCK_FN_INVALID_RETURN]).await;
    }
    functions_warning => |gw, plugin| {
        let r = json(
            &gw,
            "POST",
            "/plugins",
            json!({"name": plugin, "config": {"functions": [MOCK_FN_ONE, MOCK_FN_TWO]}}),
        )
        .await;
        let j = status(&r, 201, "legacy functions");
        assert_eq!(j["config"]["access"], json!([MOCK_FN_ONE, MOCK_FN_TWO]));
        let id = j["id"].as_str().unwrap();
        let r = common::kong::send(&gw, "DELETE", &format!("/plugins/{id}"), None, Value::Null).await;
        assert_eq!(r.status, 204);
    }
    with_an_invalid_function => |gw, plugin| {
        let (code, body) = validate(&gw, plugin, &[MOCK_FN_INVALID]).await;
        assert_eq!(code, 400, "{body}");
        assert_parse_error(&body["fields"]["config"]["access"][0], plugin);
    }
    with_a_valid_and_invalid_function => |gw, plugin| {
        let (code, body) = validate(&gw, plugin, &[MOCK_FN_ONE, MOCK_FN_INVALID]).await;
        assert_eq!(code, 400, "{body}");
        assert_parse_error(&body["fields"]["config"]["access"][1], plugin);
    }
    null_config_is_the_default_record => |gw, plugin| {
        // Not a Kong case: `config: null` is the default record, as Kong
        // fills a missing one (every phase `[]`, so the entity check
        // answers), not "expected a record".
        let missing = json(&gw, "POST", "/plugins", json!({"name": plugin})).await;
        let null = json(&gw, "POST", "/plugins", json!({"name": plugin, "config": null})).await;
        assert_eq!(missing.status, 400, "{}", missing.json);
        assert_eq!(null.status, 400, "{}", null.json);
        assert_eq!(null.json, missing.json);
        assert_eq!(
            null.json["fields"]["@entity"][0],
            "at least one of these fields must be non-empty: 'config.certificate', \
             'config.rewrite', 'config.access', 'config.header_filter', 'config.body_filter', \
             'config.log'"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_serverless_schema_spec() {
    let gw = Gateway::start();
    let mut c: Vec<Case> = Vec::new();
    for plugin in ["pre-function", "post-function"] {
        let d = format!("Plugin: {plugin} (by phase=functions) schema");
        macro_rules! add {
            ($title:expr, $f:ident) => {
                c.push((
                    format!("{d} {}", $title),
                    Box::new(move |gw| -> common::kong::CaseFuture { Box::pin($f(gw, plugin)) }),
                ));
            };
        }
        add!("validates single function", validates_single_function);
        add!(
            "error in function is not triggered during validation",
            error_not_triggered_during_validation
        );
        add!(
            "validates single function with upvalues",
            validates_single_function_with_upvalues
        );
        add!("validates multiple functions", validates_multiple_functions);
        add!(
            "a valid chunk with an invalid return type",
            valid_chunk_with_invalid_return_type
        );
        add!("throws a log warning when being used", functions_warning);
        add!("errors with an invalid function", with_an_invalid_function);
        add!(
            "errors with a valid and invalid function",
            with_a_valid_and_invalid_function
        );
        add!(
            "(lunagate) config: null is the default record",
            null_config_is_the_default_record
        );
    }
    common::kong::run(F, gw, c).await;
}
