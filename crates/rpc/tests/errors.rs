//! Bad input over real HTTP: every JSON-RPC error code with the field named, bounded sizes and lists, the
//! client's chain id checked against the node's, and a graceful stop of the binary on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::io::BufRead;
use std::process::Command;

use common::{env, post};
use keyscope::alloy::primitives::Address;
use keyscope::alloy::transports::http::reqwest;
use keyscope::bundler::to_rpc;
use keyscope::signer::{PackedUserOperation, SessionKey};
use keyscope_rpc::{start, Config, ServiceOptions};
use serde_json::json;

#[tokio::test]
async fn codes_fields_and_bounds() {
    let env = env().await;
    let key = SessionKey::generate();
    let owner = SessionKey::generate();
    let session = |until: u64| {
        json!({ "signer": key.address(), "validUntil": until,
                "permissions": [{ "target": "*", "native_transfer": true, "value_limit": "1 gwei" }] })
    };
    let account = json!({ "owner": owner.address(), "entryPoint": "v0.7" });

    // -32700: not JSON.
    let (status, body) = env.raw(r#"{"jsonrpc":"2.0","id":1,"method":"#).await;
    assert_eq!(body["error"]["code"], -32700, "{status} {body}");
    // -32600: JSON, not a request.
    let (_, body) = env.raw(r#"{"jsonrpc":"2.0","id":1}"#).await;
    assert_eq!(body["error"]["code"], -32600, "{body}");
    let (_, body) = env
        .raw(r#"{"jsonrpc":"1.0","id":1,"method":"keyscope_info"}"#)
        .await;
    assert_eq!(body["error"]["code"], -32600, "{body}");
    // -32601: unknown method.
    let error = env.err("keyscope_nope", json!([])).await;
    assert_eq!(error.code, -32601);

    // -32602, naming the field.
    let error = env
        .err(
            "keyscope_createSessions",
            json!({ "account": account, "sessions": [session(0)] }),
        )
        .await;
    assert_eq!(
        (error.code, error.field().as_str()),
        (-32602, "sessions[0].validUntil"),
        "{error:?}"
    );
    let error = env
        .err("keyscope_createSessions", json!({ "account": { "owner": "0x12" , "entryPoint": "v0.7" }, "sessions": [session(9)] }))
        .await;
    assert_eq!(
        (error.code, error.field().as_str()),
        (-32602, "account.owner"),
        "{error:?}"
    );
    let error = env
        .err(
            "keyscope_createSessions",
            json!({ "account": { "owner": owner.address() }, "sessions": [session(9)] }),
        )
        .await;
    assert_eq!(error.field(), "account.entryPoint", "{error:?}");
    let bad_rule = json!({ "signer": key.address(), "validUntil": 9,
        "permissions": [{ "target": "*", "native_transfer": true }, { "target": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                          "function": "transfer(address to,uint256 amount)", "rules": [{ "arg": "amount", "op": "lte", "value": "-1" }] }] });
    let error = env
        .err(
            "keyscope_createSessions",
            json!({ "account": account, "sessions": [session(9), bad_rule] }),
        )
        .await;
    assert_eq!(
        error.field(),
        "sessions[1].permissions[1].rules[0].value",
        "{error:?}"
    );
    assert!(
        error
            .message
            .starts_with("sessions[1].permissions[1].rules[0].value: "),
        "{}",
        error.message
    );
    let error = env
        .err(
            "keyscope_validateSession",
            json!({ "userOp": { "sender": "0x00" } }),
        )
        .await;
    assert_eq!(error.code, -32602);
    assert!(error.field().starts_with("userOp"), "{error:?}");
    let error = env
        .err("keyscope_revokeSessions", json!({ "account": account }))
        .await;
    assert_eq!(error.field(), "sessionIds", "{error:?}");
    let error = env
        .err("keyscope_getSessions", json!({ "account": "0xnope" }))
        .await;
    assert_eq!(error.field(), "account", "{error:?}");
    let error = env
        .err(
            "keyscope_createSessions",
            json!({ "account": account, "sessions": [session(9)], "extra": 1 }),
        )
        .await;
    assert_eq!(error.field(), "extra", "{error:?}");

    // Bounded lists: sessions per request, permissions per session (the test server allows 4 and 8).
    let many: Vec<_> = (0..5).map(|_| session(9)).collect();
    let error = env
        .err(
            "keyscope_createSessions",
            json!({ "account": account, "sessions": many }),
        )
        .await;
    assert_eq!(error.field(), "sessions", "{error:?}");
    assert!(
        error.message.contains("5 sessions, at most 4"),
        "{}",
        error.message
    );
    let permissions: Vec<_> = (0..9)
        .map(|i| json!({ "target": "*", "native_transfer": true, "value_limit": i }))
        .collect();
    let error = env
        .err("keyscope_createSessions", json!({ "account": account,
              "sessions": [{ "signer": key.address(), "validUntil": 9, "permissions": permissions }] }))
        .await;
    assert_eq!(error.field(), "sessions[0].permissions", "{error:?}");

    // Bounded request size (64 KiB here): HTTP 413, JSON-RPC -32007, before any parsing.
    let padding = "x".repeat(70 * 1024);
    let (status, body) = env
        .raw(json!({ "jsonrpc": "2.0", "id": 1, "method": "keyscope_info", "params": { "pad": padding } }).to_string())
        .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], -32007, "{body}");
    // Bounded batches (1,000, viem's default batch size): one error, which says the limit.
    let batch: Vec<_> = (0..1001)
        .map(|i| json!({ "jsonrpc": "2.0", "id": i, "method": "keyscope_info" }))
        .collect();
    let (_, body) = env.raw(json!(batch).to_string()).await;
    assert_eq!(body["error"]["code"], -32010, "{body}");
    assert_eq!(body["error"]["data"]["maxBatch"], 1000, "{body}");

    // The client's chain id is never trusted: a mismatch is refused, naming it.
    let error = env
        .err(
            "keyscope_createSessions",
            json!({ "chainId": "0x1", "account": account, "sessions": [session(9)] }),
        )
        .await;
    assert_eq!(
        (error.code, error.field().as_str()),
        (-32602, "chainId"),
        "{error:?}"
    );
    assert_eq!(error.data["node"], format!("{:#x}", env.client.chain_id()));
    let error = env
        .err("wallet_requestExecutionPermissions", json!([{ "chainId": "0x1", "to": key.address(),
              "permission": { "type": "native-token-allowance", "isAdjustmentAllowed": false, "data": { "allowanceAmount": "0x1" } },
              "rules": [{ "type": "expiry", "data": { "timestamp": 9 } }] }]))
        .await;
    assert_eq!(error.field(), "[0].chainId", "{error:?}");

    // A valid call still works after all that.
    let info = env.ok("keyscope_info", json!([])).await;
    assert_eq!(info["chainId"], format!("{:#x}", env.client.chain_id()));
    // What a session gets when a request does not say: a bounded fee scope, self-paid only.
    assert_eq!(
        info["defaults"],
        json!({ "fees": { "perOperation": "0.01 ether", "budget": "0.1 ether" }, "paymaster": "none" })
    );
    env.server.shutdown().await;
}

/// The operator's node URL carries an API key (here in the query): no error a caller gets, and no `Debug` output,
/// shows it. Node failures stay node failures (`-32000`), never a wrong "no" or a blame on the request.
#[tokio::test]
async fn node_failures_keep_the_node_url_secret() {
    const KEY: &str = "FAKE-API-KEY-7d1c";
    let anvil = keyscope_e2e::anvil();
    let _client = keyscope_e2e::client(&anvil).await;
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        rpc_url: format!("{}/?apikey={KEY}", anvil.endpoint()),
        ..Config::default()
    };
    let options = ServiceOptions {
        bundler_url: Some(format!("https://bundler.example/v2/{KEY}")),
        ..ServiceOptions::default()
    };
    let printed = format!("{config:?} {options:?}");
    assert!(!printed.contains(KEY), "{printed}");
    assert!(printed.contains("https://bundler.example"), "{printed}");
    let server = start(config).await.unwrap();
    let printed = format!("{server:?}");
    assert!(!printed.contains(KEY), "{printed}");
    let url = server.url();
    let http = reqwest::Client::new();
    let call = |method: &'static str, params: serde_json::Value| post(&http, &url, method, params);
    let account = Address::repeat_byte(0x11);
    let answer = call("keyscope_getSessions", json!([account])).await;
    assert!(answer["result"].is_object(), "{answer}");

    // The node goes away.
    let origin = keyscope::error::url_origin(&anvil.endpoint());
    drop(anvil);
    let op = to_rpc(&PackedUserOperation {
        sender: account,
        ..Default::default()
    })
    .unwrap();
    for (method, params) in [
        ("keyscope_getSessions", json!([account])),
        // The account's EntryPoint cannot be read: a node failure, not "entryPoint required".
        ("keyscope_validateSession", json!({ "userOp": op })),
        (
            "keyscope_createSessions",
            json!({ "account": { "address": account }, "sessions": [{ "signer": account, "validUntil": 9,
                    "permissions": [{ "target": "*", "native_transfer": true }] }] }),
        ),
    ] {
        let answer = call(method, params).await;
        let error = &answer["error"];
        assert_eq!(error["code"], -32000, "{method}: {answer}");
        let message = error["message"].as_str().unwrap();
        assert!(!message.contains(KEY), "{method}: {message}");
        // What failed is still said, and where: the node's scheme://host:port.
        assert!(message.contains(&origin), "{method}: {message}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn binary_stops_gracefully_on_sigterm() {
    let anvil = keyscope_e2e::anvil();
    let _client = keyscope_e2e::client(&anvil).await;
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("sessions.sqlite").display());
    let common::Binary {
        mut child,
        mut stderr,
        url,
        ..
    } = common::spawn_binary(&anvil, &database, &[]);

    // Requests in flight when SIGTERM arrives are answered before the process exits.
    let http = keyscope::alloy::transports::http::reqwest::Client::new();
    let body =
        json!({ "jsonrpc": "2.0", "id": 1, "method": "wallet_getSupportedExecutionPermissions" })
            .to_string();
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let request = http
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone());
            tokio::spawn(async move {
                let response = request.send().await?;
                let status = response.status().as_u16();
                response.text().await.map(|body| (status, body))
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for request in requests {
        // Each request was either answered in full, or never answered at all: refused a connection, or (when it
        // was still in the kernel's accept queue as the server stopped accepting) closed before any response
        // came. Never cut mid-answer: a response that started is whole JSON.
        match request.await.unwrap() {
            Ok((code, body)) => {
                assert_eq!(code, 200, "{body}");
                let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert!(answer["result"].is_object(), "{body}");
            }
            Err(error) => assert!(
                (error.is_connect() || error.is_request())
                    && !error.is_body()
                    && !error.is_decode(),
                "{error:?}"
            ),
        }
    }
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    while stderr.read_line(&mut rest).unwrap() > 0 {}
    assert!(
        rest.contains("SIGTERM") && rest.contains("stopped"),
        "{rest}"
    );
}
