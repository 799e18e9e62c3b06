//! What real wallet and dapp clients send, over real HTTP: browsers' CORS preflights, JSON-RPC notifications,
//! viem-sized batches, the earlier ERC-7715 method name, and permission requests and listings without `from` or
//! `expiry`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{env_with, serve};
use keyscope::alloy::transports::http::reqwest;
use keyscope::Version;
use keyscope_rpc::{ApiKeys, Config};
use serde_json::{json, Value};

const APP: &str = "https://app.example";
const KEY_A: &str = "alpha-key-0123456789abcdef";
const KEY_B: &str = "bravo-key-0123456789abcdef";

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn preflight(http: &reqwest::Client, url: &str, origin: &str) -> reqwest::Response {
    http.request(reqwest::Method::OPTIONS, url)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, x-api-key")
        .send()
        .await
        .unwrap()
}

async fn post_from(
    http: &reqwest::Client,
    url: &str,
    origin: &str,
    body: &Value,
) -> reqwest::Response {
    http.post(url)
        .header("origin", origin)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// POSTs `body` (text) and returns the status and the body as text.
async fn post_text(http: &reqwest::Client, url: &str, body: &str) -> (u16, String) {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn cors_notifications_and_batches() {
    let env = env_with(Config {
        cors_origins: vec![format!("{APP}, http://localhost:5173")],
        ..Config::default()
    })
    .await;
    let url = env.server.url();
    let info = json!({ "jsonrpc": "2.0", "id": 1, "method": "keyscope_info" });

    // CORS: an allowed origin's preflight and call.
    let response = preflight(&env.http, &url, APP).await;
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(APP)
    );
    assert_eq!(
        header(&response, "access-control-allow-methods").as_deref(),
        Some("POST, OPTIONS")
    );
    let allowed = header(&response, "access-control-allow-headers").unwrap();
    for name in ["content-type", "authorization", "x-api-key", "x-request-id"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert!(header(&response, "access-control-max-age").is_some());
    let response = post_from(&env.http, &url, "http://localhost:5173", &info).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some("http://localhost:5173")
    );
    assert!(header(&response, "vary")
        .unwrap()
        .to_ascii_lowercase()
        .contains("origin"));
    let body: Value = response.json().await.unwrap();
    assert!(body["result"]["chainId"].is_string(), "{body}");
    // A disallowed origin gets no CORS headers (the browser keeps the answer from the page).
    let response = preflight(&env.http, &url, "https://evil.example").await;
    assert!(header(&response, "access-control-allow-origin").is_none());
    assert!(header(&response, "access-control-allow-methods").is_none());
    let response = post_from(&env.http, &url, "https://evil.example", &info).await;
    assert!(header(&response, "access-control-allow-origin").is_none());
    // /health too, for the allowed origin.
    let response = env
        .http
        .get(format!("{url}/health"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(APP)
    );

    // Without API keys, listing grants needs `from`: an error says what to send.
    let (_, body) = env
        .raw(r#"{"jsonrpc":"2.0","id":3,"method":"wallet_getGrantedExecutionPermissions","params":[]}"#)
        .await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert_eq!(body["error"]["data"]["field"], "from", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("send {\"from\""),
        "{body}"
    );

    // Without --cors-origin: unchanged (OPTIONS is 405, no CORS header).
    let plain = serve(&env.anvil, Config::default()).await;
    let response = preflight(&env.http, &plain.url(), APP).await;
    assert_eq!(response.status().as_u16(), 405);
    assert!(header(&response, "access-control-allow-origin").is_none());
    let response = post_from(&env.http, &plain.url(), APP, &info).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(header(&response, "access-control-allow-origin").is_none());
    plain.shutdown().await;

    // Notifications get no reply: 204 and no body, alone or as a whole batch; inside a batch, no entry.
    let (status, body) = post_text(
        &env.http,
        &url,
        r#"{"jsonrpc":"2.0","method":"keyscope_info"}"#,
    )
    .await;
    assert_eq!((status, body.as_str()), (204, ""));
    let (status, body) = post_text(
        &env.http,
        &url,
        r#"{"jsonrpc":"2.0","method":"no_such_method","params":[]}"#,
    )
    .await;
    assert_eq!((status, body.as_str()), (204, ""));
    let (status, body) = post_text(
        &env.http,
        &url,
        r#"[{"jsonrpc":"2.0","method":"keyscope_info"},{"jsonrpc":"2.0","method":"keyscope_info"}]"#,
    )
    .await;
    assert_eq!((status, body.as_str()), (204, ""));
    let (status, body) = post_text(
        &env.http,
        &url,
        r#"[{"jsonrpc":"2.0","method":"keyscope_info"},{"jsonrpc":"2.0","id":7,"method":"keyscope_info"}]"#,
    )
    .await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body[0]["id"], 7);
    // A call with an id is still answered, a null id too.
    let (status, body) = env
        .raw(r#"{"jsonrpc":"2.0","id":null,"method":"keyscope_info"}"#)
        .await;
    assert_eq!(status, 200);
    assert!(body["result"].is_object(), "{body}");

    // Batches: the default limit is viem's default batch size (1,000): 1,000 calls pass ...
    let batch = |n: usize| {
        json!((0..n)
            .map(|i| json!({ "jsonrpc": "2.0", "id": i, "method": "keyscope_info" }))
            .collect::<Vec<_>>())
        .to_string()
    };
    let (status, body) = env.raw(batch(1000)).await;
    assert_eq!(status, 200);
    let answers = body.as_array().unwrap();
    assert_eq!(answers.len(), 1000);
    assert!(answers.iter().all(|a| a["result"].is_object()));
    // ... 1,001 get one error that says the limit, and no call runs.
    let (status, body) = env.raw(batch(1001)).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["code"], -32010, "{body}");
    assert_eq!(body["error"]["data"]["maxBatch"], 1000, "{body}");
    assert_eq!(body["error"]["data"]["received"], 1001, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 1000"),
        "{body}"
    );
    env.server.shutdown().await;
}

#[tokio::test]
async fn a_smaller_batch_limit_is_said() {
    let env = env_with(Config {
        max_batch: 2,
        ..Config::default()
    })
    .await;
    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "keyscope_info" });
    let (_, body) = env.raw(json!([call, call]).to_string()).await;
    assert_eq!(body.as_array().map(Vec::len), Some(2), "{body}");
    let (_, body) = env.raw(json!([call, call, call]).to_string()).await;
    assert_eq!(body["error"]["code"], -32010, "{body}");
    assert_eq!(body["error"]["data"]["maxBatch"], 2, "{body}");
    // A bad origin list is refused at start, naming the flag.
    let error = keyscope_rpc::start(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        rpc_url: env.anvil.endpoint(),
        cors_origins: vec!["https://app.example/path?key=secret".into()],
        ..Config::default()
    })
    .await
    .unwrap_err();
    assert!(error.message().contains("--cors-origin"), "{error:?}");
    env.server.shutdown().await;
}

#[tokio::test]
async fn erc7715_generations_and_defaults() {
    let keys = ApiKeys::parse(&format!("alpha:{KEY_A}\nbravo:{KEY_B}\n")).unwrap();
    let mut env = env_with(Config {
        api_keys: Some(keys),
        ..Config::default()
    })
    .await;
    // The common helpers call as key A; `call` below as the key it is given.
    let plain = env.http.clone();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {KEY_A}").parse().unwrap());
    env.http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let url = env.server.url();
    let chain = format!("{:#x}", env.client.chain_id());
    let (now, _, owner, key) = env.cast().await;
    let account = env.funded_account(&owner, 5, Version::V08).await;
    let call = |api_key: &'static str, method: &'static str, params: Value| {
        let http = plain.clone();
        let url = url.clone();
        async move {
            http.post(url)
                .header("x-api-key", api_key)
                .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let request = json!({ "chainId": chain, "from": account.address, "to": key.address(),
        "permission": { "type": "native-token-allowance", "isAdjustmentAllowed": false,
                        "data": { "allowanceAmount": "0x3e8" } },
        "rules": [{ "type": "expiry", "data": { "timestamp": now + 3600 } }] });

    // The earlier name answers like the current one (only the salt, so the session, differs).
    let current = call(
        KEY_A,
        "wallet_requestExecutionPermissions",
        json!([request]),
    )
    .await;
    let earlier = call(KEY_A, "wallet_grantPermissions", json!([request])).await;
    let (current, earlier) = (&current["result"][0], &earlier["result"][0]);
    for field in [
        "chainId",
        "from",
        "to",
        "permission",
        "rules",
        "fees",
        "paymaster",
        "dependencies",
        "delegationManager",
    ] {
        assert_eq!(current[field], earlier[field], "{field}: {earlier}");
    }
    assert!(earlier["context"].as_str().unwrap().starts_with("0x01"));
    // Counted under its own name.
    let metrics = env
        .http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"keyscope_rpc_requests_total{method="wallet_grantPermissions",outcome="ok"} 1"#
        ),
        "{metrics}"
    );
    // The 2024 draft's shape (viem's experimental grantPermissions) is refused, naming the field.
    let answer = call(
        KEY_A,
        "wallet_grantPermissions",
        json!([{ "expiry": now + 60, "permissions": [{ "type": "native-token-transfer", "data": {}, "policies": [] }] }]),
    )
    .await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    assert_eq!(
        answer["error"]["data"]["field"], "[0].permissions",
        "{answer}"
    );

    // Without an expiry: one day from now, said in the answer.
    let mut no_expiry = request.clone();
    no_expiry.as_object_mut().unwrap().remove("rules");
    let answer = call(
        KEY_A,
        "wallet_requestExecutionPermissions",
        json!([no_expiry]),
    )
    .await;
    let until = answer["result"][0]["rules"][0]["data"]["timestamp"]
        .as_u64()
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(
        (now + 86_400..now + 86_400 + 600).contains(&until),
        "{until} vs {now}"
    );
    assert_eq!(
        answer["result"][0]["keyscope"]["session"]["session"]["validUntil"],
        json!(until),
        "{answer}"
    );
    // An expiry of 0 is not "never".
    let mut zero = request.clone();
    zero["rules"] = json!([{ "type": "expiry", "data": { "timestamp": 0 } }]);
    let answer = call(KEY_A, "wallet_requestExecutionPermissions", json!([zero])).await;
    assert_eq!(answer["error"]["data"]["field"], "[0].rules", "{answer}");
    // Without from: the older `address` is read; with neither, an error says what to send.
    let mut by_address = request.clone();
    let from = by_address.as_object_mut().unwrap().remove("from").unwrap();
    by_address["address"] = from;
    let answer = call(
        KEY_A,
        "wallet_requestExecutionPermissions",
        json!([by_address]),
    )
    .await;
    assert_eq!(
        answer["result"][0]["from"],
        json!(account.address),
        "{answer}"
    );
    let mut no_from = request.clone();
    no_from.as_object_mut().unwrap().remove("from");
    for method in [
        "wallet_requestExecutionPermissions",
        "wallet_grantPermissions",
    ] {
        let answer = call(KEY_A, method, json!([no_from])).await;
        assert_eq!(answer["error"]["code"], -32602, "{answer}");
        assert_eq!(answer["error"]["data"]["field"], "[0].from", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("send from"), "{message}");
    }

    // The owner grants the first one: listed for its account only, never without `from`.
    let sent = call(
        KEY_A,
        "wallet_requestExecutionPermissions",
        json!([request]),
    )
    .await;
    env.sign_and_send(&owner, &sent["result"][0]["keyscope"])
        .await;
    let listed = call(
        KEY_A,
        "wallet_getGrantedExecutionPermissions",
        json!([account.address]),
    )
    .await;
    assert_eq!(
        listed["result"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    // Without from, a key sees the grants asked for with it, and only those.
    let contexts = |answer: &Value| -> Vec<Value> {
        answer["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|grant| grant["context"].clone())
            .collect()
    };
    let mine = call(KEY_A, "wallet_getGrantedExecutionPermissions", json!([])).await;
    assert_eq!(contexts(&mine), vec![sent["result"][0]["context"].clone()]);
    for params in [json!([]), json!({}), json!(null), json!([{ "from": null }])] {
        let answer = call(KEY_B, "wallet_getGrantedExecutionPermissions", params).await;
        assert_eq!(answer["result"], json!([]), "{answer}");
    }
    // Key B's grant on another account: B sees it, A still sees only its own.
    let other = env.funded_account(&owner, 6, Version::V08).await;
    let mut for_other = request.clone();
    for_other["from"] = json!(other.address);
    let theirs = call(KEY_B, "wallet_grantPermissions", json!([for_other])).await;
    env.sign_and_send(&owner, &theirs["result"][0]["keyscope"])
        .await;
    let answer = call(KEY_B, "wallet_getGrantedExecutionPermissions", json!([])).await;
    assert_eq!(
        contexts(&answer),
        vec![theirs["result"][0]["context"].clone()]
    );
    assert_eq!(
        answer["result"][0]["from"],
        json!(other.address),
        "{answer}"
    );
    let answer = call(KEY_A, "wallet_getGrantedExecutionPermissions", json!([])).await;
    assert_eq!(contexts(&answer), contexts(&mine));
    // Naming the account lists its grants, whichever key asked.
    let listed = call(
        KEY_A,
        "wallet_getGrantedExecutionPermissions",
        json!({ "from": other.address }),
    )
    .await;
    assert_eq!(contexts(&listed), contexts(&theirs));
    env.server.shutdown().await;
}
