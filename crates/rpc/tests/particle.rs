//! The `particle_aa_*` methods over HTTP without a bundler: Particle's shapes, and the refusals that say why and
//! what to send instead (the whole flow with Particle's own SDK and a bundler is `examples_js.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use serde_json::{json, Value};

const ERC20_SVM: &str = "0x000000D50C68705bd6897B2d17c7de32FB519fDA";

fn config(owner: impl std::fmt::Display) -> Value {
    json!({ "name": "KEYSCOPE", "version": "0.7", "ownerAddress": owner.to_string(), "biconomyApiKey": "k-123" })
}

#[tokio::test]
async fn particle_methods_answer_particles_shapes() {
    let env = common::env().await;
    let (now, token, owner, key) = env.cast().await;
    let accounts = env
        .ok(
            "particle_aa_getSmartAccount",
            json!([config(owner.address())]),
        )
        .await;
    let account = &accounts[0];
    assert_eq!(account["isDeployed"], false, "{account}");
    assert_eq!(account["chainId"], env.server.chain_id(), "{account}");
    assert_eq!(account["owner"], json!(owner.address()), "{account}");
    assert!(
        account["smartAccountAddress"].as_str().is_some(),
        "{account}"
    );

    let session = json!({
        "validUntil": now + 3600, "validAfter": now - 60, "sessionValidationModule": ERC20_SVM,
        "sessionKeyDataInAbi": [["address", "address", "address", "uint256"], [key.address(), token, token, 5]]
    });
    let created = env
        .ok(
            "particle_aa_createSessions",
            json!([config(owner.address()), [session.clone()]]),
        )
        .await;
    let bundle = &created["verifyingPaymasterNative"];
    assert!(bundle["userOp"]["sender"].is_string(), "{created}");
    assert!(bundle["userOpHash"].is_string(), "{created}");
    assert!(
        created["sessions"][0]["sessionKeyData"].is_string(),
        "{created}"
    );
    assert_eq!(
        created["keyscope"]["account"],
        account["smartAccountAddress"]
    );

    // Not granted yet (the owner has not sent the operation): false, not an error.
    let valid = env
        .ok(
            "particle_aa_validateSession",
            json!([config(owner.address()), { "sessions": created["sessions"], "targetSession": session }]),
        )
        .await;
    assert_eq!(valid, json!(false));
    env.server.shutdown().await;
}

#[tokio::test]
async fn particle_refusals_say_why() {
    let env = common::env().await;
    let (now, token, owner, key) = env.cast().await;
    let biconomy = json!({ "name": "BICONOMY", "version": "2.0.0", "ownerAddress": owner.address(), "biconomyApiKey": "k-123" });
    let error = env
        .err("particle_aa_getSmartAccount", json!([biconomy]))
        .await;
    assert_eq!(error.code, -32602);
    assert_eq!(error.field(), "params[0].name");
    assert!(error.message.contains("KEYSCOPE"), "{}", error.message);
    assert!(!error.message.contains("k-123"), "{}", error.message);

    let forever = json!({
        "validUntil": 0, "validAfter": 0, "sessionValidationModule": ERC20_SVM,
        "sessionKeyDataInAbi": [["address", "address", "address", "uint256"], [key.address(), token, token, 5]]
    });
    let error = env
        .err(
            "particle_aa_createSessions",
            json!([config(owner.address()), [forever]]),
        )
        .await;
    assert_eq!(error.code, -32602);
    assert!(error.field().ends_with("validUntil"), "{}", error.field());

    // No bundler: sendUserOp says what to start the service with.
    let op = json!({ "sender": owner.address(), "nonce": "0x0", "callData": "0x", "signature": "0x",
        "callGasLimit": "0x0", "verificationGasLimit": "0x0", "preVerificationGas": "0x0",
        "maxFeePerGas": "0x0", "maxPriorityFeePerGas": "0x0" });
    let error = env
        .err(
            "particle_aa_sendUserOp",
            json!([config(owner.address()), op]),
        )
        .await;
    assert!(error.message.contains("--bundler-url"), "{}", error.message);
    let _ = now;

    // Particle's SDK names the chain in the query string: another chain than the node's is refused.
    let url = format!(
        "{}/?method=particle_aa_getSmartAccount&chainId=1",
        env.server.url()
    );
    let answer = common::post(
        &env.http,
        &url,
        "particle_aa_getSmartAccount",
        json!([config(owner.address())]),
    )
    .await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    assert_eq!(answer["error"]["data"]["field"], "chainId", "{answer}");
    let url = format!("{}/?chainId={}", env.server.url(), env.server.chain_id());
    let answer = common::post(
        &env.http,
        &url,
        "particle_aa_getSmartAccount",
        json!([config(owner.address())]),
    )
    .await;
    assert!(
        answer["result"][0]["smartAccountAddress"].is_string(),
        "{answer}"
    );
    env.server.shutdown().await;
}
