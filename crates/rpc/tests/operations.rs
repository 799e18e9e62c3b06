//! Operating the service, over real HTTP against anvil: `/health` (and 503 once the node is gone), `/metrics`
//! counting the calls and errors made, request ids, API keys and per-key rate limits, and the binary's JSON log
//! lines on stderr.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use common::{env, env_with};
use keyscope::alloy::transports::http::reqwest;
use keyscope_rpc::{ApiKeys, Config, RateLimit};
use serde_json::{json, Value};

/// The value of the sample `series` (name and labels exactly as written) in a Prometheus exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let response = http.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

/// POSTs a `keyscope_info` call with the extra `headers`: the status, the headers and the body.
async fn info_with(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = http
        .post(url)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "keyscope_info" }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn health_metrics_and_request_ids() {
    let env = env().await;
    let url = env.server.url();

    let (status, body, headers) = get(&env.http, &format!("{url}/health")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["ok"], true, "{health}");
    assert_eq!(health["chainId"], env.server.chain_id(), "{health}");
    assert_eq!(
        (health["node"].as_str(), health["store"].as_str()),
        (Some("ok"), Some("ok"))
    );
    assert!(health["blockNumber"].is_u64(), "{health}");

    // A call, an error of a method, an unknown method and a parse error.
    env.ok("keyscope_info", json!([])).await;
    env.ok("keyscope_info", json!([])).await;
    let error = env
        .err("keyscope_createSessions", json!({ "account": {} }))
        .await;
    assert_eq!(error.code, -32602);
    assert_eq!(env.err("keyscope_nope", json!([])).await.code, -32601);
    let (_, body) = env.raw(r#"{"jsonrpc":"2.0","id":1,"method":"#).await;
    assert_eq!(body["error"]["code"], -32700, "{body}");
    // A batch: each call counted.
    let (_, body) = env
        .raw(
            r#"[{"jsonrpc":"2.0","id":1,"method":"wallet_getSupportedExecutionPermissions"},
                {"jsonrpc":"2.0","id":2,"method":"keyscope_validateSession","params":{}}]"#,
        )
        .await;
    assert_eq!(body.as_array().map(Vec::len), Some(2), "{body}");

    let (status, text, headers) = get(&env.http, &format!("{url}/metrics")).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{headers:?}"
    );
    let count = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}:\n{text}"));
    assert_eq!(
        count(r#"keyscope_rpc_requests_total{method="keyscope_info",outcome="ok"}"#),
        2.0
    );
    assert_eq!(
        count(r#"keyscope_rpc_requests_total{method="keyscope_createSessions",outcome="-32602"}"#),
        1.0
    );
    assert_eq!(
        count(r#"keyscope_rpc_requests_total{method="other",outcome="-32601"}"#),
        1.0
    );
    assert_eq!(
        count(
            r#"keyscope_rpc_requests_total{method="wallet_getSupportedExecutionPermissions",outcome="ok"}"#
        ),
        1.0
    );
    assert_eq!(
        count(r#"keyscope_rpc_requests_total{method="keyscope_validateSession",outcome="-32602"}"#),
        1.0
    );
    assert_eq!(count(r#"keyscope_rpc_errors_total{code="-32602"}"#), 2.0);
    assert_eq!(count(r#"keyscope_rpc_errors_total{code="-32601"}"#), 1.0);
    assert_eq!(count(r#"keyscope_rpc_errors_total{code="-32700"}"#), 1.0);
    assert_eq!(
        count(r#"keyscope_rpc_request_duration_seconds_count{method="keyscope_info"}"#),
        2.0
    );
    assert_eq!(
        count(r#"keyscope_rpc_request_duration_seconds_bucket{method="keyscope_info",le="+Inf"}"#),
        2.0
    );
    assert!(count(r#"keyscope_rpc_request_duration_seconds_sum{method="keyscope_info"}"#) > 0.0);
    assert_eq!(
        count(r#"keyscope_rpc_http_responses_total{status="200"}"#),
        6.0
    );
    assert_eq!(count("keyscope_store_sessions"), 0.0);
    assert_eq!(count("keyscope_store_bytes"), 0.0);
    assert_eq!(count("keyscope_store_up"), 1.0);
    let build = format!(
        r#"keyscope_rpc_build_info{{version="{}",chain_id="{}",backend="sqlite"}}"#,
        env!("CARGO_PKG_VERSION"),
        env.server.chain_id()
    );
    assert_eq!(count(&build), 1.0);
    // /health and /metrics are not JSON-RPC requests: not counted.
    let (_, again, _) = get(&env.http, &format!("{url}/metrics")).await;
    assert_eq!(
        sample(&again, r#"keyscope_rpc_http_responses_total{status="200"}"#),
        Some(6.0)
    );

    // Request ids: the caller's when well-formed, else a new one; always echoed.
    let (status, headers, body) =
        info_with(&env.http, &url, &[("x-request-id", "trace-42.a_b:c")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-request-id"], "trace-42.a_b:c");
    let (_, headers, _) = info_with(&env.http, &url, &[]).await;
    let generated = headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32, "{generated}");
    assert!(
        generated.bytes().all(|b| b.is_ascii_hexdigit()),
        "{generated}"
    );
    let (_, headers, _) =
        info_with(&env.http, &url, &[("x-request-id", "no spaces allowed")]).await;
    let replaced = headers["x-request-id"].to_str().unwrap();
    assert!(
        replaced != "no spaces allowed" && replaced != generated,
        "{replaced}"
    );
    // Errors too.
    let response = env
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("x-request-id", "bad-json-1")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "bad-json-1");

    // Without the node, /health answers 503 (the store still answers).
    let common::Env {
        anvil,
        http,
        server,
        ..
    } = env;
    drop(anvil);
    let (status, body, _) = get(&http, &format!("{}/health", server.url())).await;
    assert_eq!(status, 503, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["ok"], false, "{health}");
    assert_eq!(
        (health["node"].as_str(), health["store"].as_str()),
        (Some("unreachable"), Some("ok"))
    );
    server.shutdown().await;
}

const KEY_A: &str = "alpha-0123456789abcdef";
const KEY_B: &str = "bravo-0123456789abcdef";

#[tokio::test]
async fn api_keys_and_rate_limits() {
    let keys = ApiKeys::parse(&format!("# test keys\nalpha:{KEY_A}\nbravo:{KEY_B}\n")).unwrap();
    // 1 request a second, bursts of 2: eight quick requests cannot all pass unless they take over 6 s.
    let env = env_with(Config {
        api_keys: Some(keys),
        rate_limit: Some(RateLimit {
            per_second: 1.0,
            burst: 2,
        }),
        ..Config::default()
    })
    .await;
    let url = env.server.url();

    // No key, a wrong key: 401 with a JSON-RPC error.
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong-0123456789abcdef")],
        vec![("x-api-key", "wrong-0123456789abcdef")],
        vec![("authorization", "Basic YWxwaGE6")],
    ] {
        let (status, response_headers, body) = info_with(&env.http, &url, &headers).await;
        assert_eq!(status, 401, "{headers:?}: {body}");
        assert_eq!(body["error"]["code"], -32040, "{body}");
        assert_eq!(body["error"]["data"]["reason"], "unauthorized", "{body}");
        assert_eq!(response_headers["www-authenticate"], "Bearer");
        assert!(response_headers.contains_key("x-request-id"));
    }
    // The right key, either way: 200.
    let bearer = format!("Bearer {KEY_A}");
    let (status, _, body) = info_with(&env.http, &url, &[("authorization", &bearer)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["chainId"],
        format!("{:#x}", env.server.chain_id()),
        "{body}"
    );
    let (status, _, body) = info_with(&env.http, &url, &[("x-api-key", KEY_A)]).await;
    assert_eq!(status, 200, "{body}");
    // /health and /metrics stay open.
    let (status, _, _) = get(&env.http, &format!("{url}/health")).await;
    assert_eq!(status, 200);

    // Over the rate: 429 with -32005 and retry-after, for this key only; then OK after waiting.
    let mut limited = None;
    for _ in 0..8 {
        let (status, headers, body) = info_with(&env.http, &url, &[("x-api-key", KEY_B)]).await;
        if status == 429 {
            assert_eq!(body["error"]["code"], -32005, "{body}");
            assert_eq!(body["error"]["data"]["reason"], "rateLimited", "{body}");
            limited = Some(
                headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            );
            break;
        }
        assert_eq!(status, 200, "{body}");
    }
    let retry_after = limited.expect("8 requests at 1/s with bursts of 2 were never limited");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(100)).await;
    let (status, _, body) = info_with(&env.http, &url, &[("x-api-key", KEY_B)]).await;
    assert_eq!(status, 200, "{body}");

    let (status, text, _) = get(&env.http, &format!("{url}/metrics")).await;
    assert_eq!(status, 200);
    assert_eq!(
        sample(
            &text,
            r#"keyscope_rpc_rejected_total{reason="unauthorized"}"#
        ),
        Some(4.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            r#"keyscope_rpc_rejected_total{reason="rate_limited"}"#
        ) >= Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"keyscope_rpc_errors_total{code="-32040"}"#),
        Some(4.0)
    );
    assert_eq!(
        sample(&text, r#"keyscope_rpc_http_responses_total{status="401"}"#),
        Some(4.0)
    );
    assert!(!text.contains(KEY_A) && !text.contains(KEY_B));
}

#[tokio::test]
async fn binary_logs_one_json_line_per_request() {
    let help = Command::new(env!("CARGO_BIN_EXE_keyscope-rpc"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--api-key-file",
        "--rate-limit",
        "--rate-burst",
        "/health",
        "/metrics",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }

    let anvil = keyscope_e2e::anvil();
    let _client = keyscope_e2e::client(&anvil).await;
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("sessions.sqlite").display());
    let key_file = dir.path().join("keys");
    std::fs::write(&key_file, format!("ops:{KEY_A}\n")).unwrap();
    let common::Binary {
        mut child,
        mut stderr,
        first_line: line,
        url,
    } = common::spawn_binary(
        &anvil,
        &database,
        &["--api-key-file".as_ref(), key_file.as_ref()],
    );
    assert!(line.contains("1 API key"), "{line}");

    let http = reqwest::Client::new();
    let bearer = format!("Bearer {KEY_A}");
    let (status, _, _) = info_with(
        &http,
        &url,
        &[("authorization", &bearer), ("x-request-id", "log-me-1")],
    )
    .await;
    assert_eq!(status, 200);
    let response = http
        .post(&url)
        .header("authorization", &bearer)
        .header("x-request-id", "log-me-2")
        .json(&json!({ "jsonrpc": "2.0", "id": "abc", "method": "keyscope_getSessions", "params": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (status, _, _) = info_with(&http, &url, &[("x-request-id", "log-me-3")]).await;
    assert_eq!(status, 401);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains("SIGTERM") && rest.contains("stopped"),
        "{rest}"
    );
    assert!(!rest.contains(KEY_A), "{rest}");

    let entry = |id: &str| -> Value {
        let line = rest
            .lines()
            .find(|l| l.contains(&format!("\"requestId\":\"{id}\"")))
            .unwrap_or_else(|| panic!("no line for {id}: {rest}"));
        serde_json::from_str(line).unwrap()
    };
    let ok = entry("log-me-1");
    assert_eq!(ok["method"], "keyscope_info", "{ok}");
    assert_eq!(
        (ok["id"].as_u64(), ok["outcome"].as_str()),
        (Some(1), Some("ok")),
        "{ok}"
    );
    assert_eq!(ok["key"], "ops", "{ok}");
    assert!(
        ok["code"].is_null() && ok["durationMs"].as_f64().is_some(),
        "{ok}"
    );
    assert!(ok["ts"].as_str().unwrap().ends_with('Z'), "{ok}");
    let error = entry("log-me-2");
    assert_eq!(
        (
            error["method"].as_str(),
            error["id"].as_str(),
            error["code"].as_i64()
        ),
        (Some("keyscope_getSessions"), Some("abc"), Some(-32602)),
        "{error}"
    );
    assert_eq!(error["outcome"], "error");
    let refused = entry("log-me-3");
    assert_eq!(
        (
            refused["status"].as_u64(),
            refused["code"].as_i64(),
            refused["outcome"].as_str()
        ),
        (Some(401), Some(-32040), Some("error")),
        "{refused}"
    );
    assert!(
        refused["method"].is_null() && refused["key"].is_null(),
        "{refused}"
    );
}
