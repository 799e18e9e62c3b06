//! The service with a bundler (`--bundler-url`, the real Alto on anvil): the owner operations it returns are
//! estimated by the bundler through the SDK's submission seam, and stay valid once the owner signs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::env_with_bundler;
use keyscope::alloy::primitives::{Address, U256};
use keyscope::{Account, GasSettings, SessionStatus, Version};
use serde_json::{json, Value};

fn quantity(value: &Value) -> u128 {
    let text = value.as_str().unwrap_or_else(|| panic!("{value}"));
    u128::from_str_radix(text.trim_start_matches("0x"), 16).unwrap()
}

#[tokio::test]
async fn owner_operations_are_estimated_by_the_bundler() {
    let (env, alto) = env_with_bundler().await;
    let (now, token, owner, key) = env.cast().await;
    // A counterfactual account, funded before it exists so that the bundler's simulation can pay its prefund.
    let account = env
        .client
        .account_address(owner.address(), U256::from(3), Version::V08, true)
        .await
        .unwrap();
    env.client
        .fund(account, U256::from(10u128.pow(18)))
        .await
        .unwrap();

    let answer = env
        .ok(
            "keyscope_createSessions",
            json!({
                "account": { "owner": owner.address(), "salt": "0x3", "entryPoint": "v0.8" },
                "sessions": [{
                    "signer": key.address(), "validAfter": 0, "validUntil": now + 3600,
                    "permissions": [{ "target": token, "function": "transfer(address to,uint256 amount)" }]
                }]
            }),
        )
        .await;
    assert_eq!(answer["gasEstimated"], true, "{answer}");
    assert!(answer.get("gasEstimateError").is_none(), "{answer}");
    // The bundler's limits, not the SDK's defaults.
    let defaults = GasSettings::default();
    let op = &answer["userOp"];
    let verification = quantity(&op["verificationGasLimit"]);
    assert_ne!(verification, defaults.verification_gas_limit, "{op}");
    assert!(verification > 50_000, "{op}");
    assert_ne!(
        quantity(&op["callGasLimit"]),
        defaults.call_gas_limit,
        "{op}"
    );

    // Signed by the owner as estimated, it creates the account and grants the session.
    env.sign_and_send(&owner, &answer).await;
    let session = common::compiled(&answer["sessions"][0]);
    let account = Account {
        address: account,
        version: Version::V08,
    };
    assert_eq!(
        env.client
            .session_status(&account, session.session_id())
            .await
            .unwrap(),
        SessionStatus::Active
    );
    // And the session key uses it, through the same bundler.
    env.mint(token, account.address, 10).await;
    let recipient = Address::repeat_byte(0x61);
    let via = env
        .client
        .clone()
        .with_bundler(keyscope::BundlerClient::new(alto.url()).unwrap());
    let outcome = via
        .send_session_op(
            &account,
            &key,
            &session,
            &[common::transfer(token, recipient, 4)],
        )
        .await
        .unwrap();
    assert!(outcome.success, "{outcome:?}");
    assert_eq!(env.balance(token, recipient).await, U256::from(4));
}

/// keyscope_prepareSessionOperation estimates through the bundler; keyscope_sendSessionOperation sends through it
/// and answers the receipt.
#[tokio::test]
async fn session_operations_through_the_bundler() {
    let (env, _alto) = env_with_bundler().await;
    let (now, token, owner, key) = env.cast().await;
    let account = env.funded_account(&owner, 4, Version::V07).await;
    let answer = env
        .ok(
            "keyscope_createSessions",
            json!({
                "account": { "address": account.address },
                "sessions": [{
                    "signer": key.address(), "validAfter": 0, "validUntil": now + 3600,
                    "permissions": [{ "target": token, "function": "transfer(address to,uint256 amount)" }]
                }]
            }),
        )
        .await;
    env.sign_and_send(&owner, &answer).await;
    env.mint(token, account.address, 10).await;
    let recipient = Address::repeat_byte(0x62);
    let data = keyscope::alloy::sol_types::SolCall::abi_encode(
        &keyscope::bindings::DemoToken::transferCall {
            to: recipient,
            value: U256::from(3),
        },
    );
    let prepared = env
        .ok(
            "keyscope_prepareSessionOperation",
            json!({ "account": account.address, "session": answer["sessions"][0]["sessionId"],
                    "calls": [{ "to": token, "data": keyscope::alloy::primitives::Bytes::from(data) }] }),
        )
        .await;
    assert_eq!(prepared["gasEstimated"], true, "{prepared}");
    assert_ne!(
        quantity(&prepared["userOp"]["verificationGasLimit"]),
        GasSettings::default().verification_gas_limit,
        "{prepared}"
    );
    let hash: keyscope::alloy::primitives::B256 =
        serde_json::from_value(prepared["userOpHash"].clone()).unwrap();
    let signature =
        keyscope::alloy::primitives::Bytes::from(key.sign_hash_bytes(&hash).unwrap().to_vec());
    let sent = env
        .ok(
            "keyscope_sendSessionOperation",
            json!([prepared["userOp"], signature]),
        )
        .await;
    assert_eq!(sent["sent"], true, "{sent}");
    assert_eq!(sent["success"], true, "{sent}");
    assert_eq!(sent["userOpHash"], prepared["userOpHash"]);
    assert!(sent["transactionHash"].is_string(), "{sent}");
    assert_eq!(env.balance(token, recipient).await, U256::from(3));
}
