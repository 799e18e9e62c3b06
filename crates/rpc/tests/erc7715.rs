//! ERC-7715 over real HTTP: supported → request (native and ERC-20 allowances) → the owner sends the returned
//! operation → granted → the session key spends within the allowance → revoke by context → no longer granted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{compiled, env, transfer};
use keyscope::alloy::primitives::{Address, Bytes, U256};
use keyscope::alloy::providers::Provider;
use keyscope::{SessionCall, Version};
use serde_json::{json, Value};

/// Most bytes of a permission's `justification` (the README's bounds).
const MAX_JUSTIFICATION_BYTES: usize = 1024;

#[tokio::test]
async fn request_grant_list_revoke() {
    let env = env().await;
    let chain = format!("{:#x}", env.client.chain_id());
    let (now, token, owner, key) = env.cast().await;
    let account = env.funded_account(&owner, 3, Version::V08).await;
    env.mint(token, account.address, 1_000).await;

    let supported = env
        .ok("wallet_getSupportedExecutionPermissions", json!([]))
        .await;
    assert_eq!(
        supported["native-token-allowance"]["chainIds"],
        json!([chain])
    );
    assert_eq!(
        supported["erc20-token-allowance"]["ruleTypes"],
        json!(["expiry", "redeemer", "payee"])
    );

    let expiry = json!([{ "type": "expiry", "data": { "timestamp": now + 3600 } }]);
    let requests = json!([
        { "chainId": chain, "from": account.address, "to": key.address(),
          "permission": { "type": "native-token-allowance", "isAdjustmentAllowed": false,
                          "data": { "allowanceAmount": "0x3e8", "justification": "tips" } },
          "rules": expiry },
        { "chainId": chain, "from": account.address, "to": key.address(),
          "permission": { "type": "erc20-token-allowance", "isAdjustmentAllowed": false,
                          "data": { "tokenAddress": token, "allowanceAmount": "0x12c" } },
          "rules": expiry }
    ]);
    let granted = env
        .ok("wallet_requestExecutionPermissions", requests.clone())
        .await;
    let granted = granted.as_array().unwrap();
    assert_eq!(granted.len(), 2);
    for (response, request) in granted.iter().zip(requests.as_array().unwrap()) {
        assert_eq!(response["permission"], request["permission"]);
        assert_eq!(response["rules"], request["rules"]);
        assert!(response["context"].as_str().unwrap().starts_with("0x01"));
        assert_eq!(response["dependencies"], json!([]));
        assert_eq!(
            response["delegationManager"],
            json!(env.client.stack().session_key_validator)
        );
        // The safe default fee scope and paymaster policy, said in the answer, without warnings.
        assert_eq!(
            response["fees"],
            json!({ "perOperation": "0.01 ether", "budget": "0.1 ether" })
        );
        assert_eq!(response["paymaster"], "none");
        assert_eq!(response["keyscope"]["feeScope"], response["fees"]);
        assert_eq!(response["keyscope"]["warnings"], json!([]));
        assert_eq!(
            response["keyscope"]["session"]["session"]["maxOperationFee"],
            "0x2386f26fc10000"
        );
    }
    // One owner operation grants both.
    assert_eq!(
        granted[0]["keyscope"]["userOpHash"],
        granted[1]["keyscope"]["userOpHash"]
    );
    assert_eq!(granted[0]["keyscope"]["calls"].as_array().unwrap().len(), 2);
    let erc20_limit = &granted[1]["keyscope"]["session"]["spec"]["permissions"][0];
    assert_eq!(erc20_limit["erc20_total_limit"], "300", "{erc20_limit}");

    // Not granted until the owner sends it.
    assert_eq!(
        env.ok(
            "wallet_getGrantedExecutionPermissions",
            json!([account.address])
        )
        .await,
        json!([])
    );
    env.sign_and_send(&owner, &granted[0]["keyscope"]).await;
    let listed = env
        .ok(
            "wallet_getGrantedExecutionPermissions",
            json!({ "from": account.address }),
        )
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed[0]["context"], granted[0]["context"]);

    // The session specs are public (in every response): submitting one again through keyscope_createSessions
    // builds the same session, but does not replace what the service remembers of it.
    let again = env
        .ok(
            "keyscope_createSessions",
            json!({ "account": { "address": account.address },
                    "sessions": [granted[0]["keyscope"]["session"]["spec"]] }),
        )
        .await;
    assert_eq!(
        again["sessions"][0]["sessionId"],
        granted[0]["keyscope"]["sessionId"]
    );
    let relisted = env
        .ok(
            "wallet_getGrantedExecutionPermissions",
            json!({ "from": account.address }),
        )
        .await;
    assert_eq!(relisted, listed);

    // The ERC-20 allowance is a total: 200 + 100 pass, one more unit does not.
    let session = compiled(&granted[1]["keyscope"]["session"]);
    let transfers = |amount: u64| [transfer(token, Address::repeat_byte(9), amount)];
    env.client
        .send_session_op(&account, &key, &session, &transfers(200))
        .await
        .unwrap();
    env.client
        .send_session_op(&account, &key, &session, &transfers(100))
        .await
        .unwrap();
    let verdict = env
        .validate_calls(&account, &key, &session, &transfers(1))
        .await;
    assert_eq!(
        verdict["failure"]["rule"], "Erc20TotalExceeded",
        "{verdict}"
    );
    // The listing shows what the two transfers were charged and what is left of the budget.
    let charged = env
        .client
        .fees_charged(&account, session.session_id())
        .await
        .unwrap();
    assert!(charged > U256::ZERO);
    let listed = env
        .ok(
            "wallet_getGrantedExecutionPermissions",
            json!([account.address]),
        )
        .await;
    let erc20 = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["context"] == granted[1]["context"])
        .unwrap();
    assert_eq!(erc20["keyscope"]["feesCharged"], format!("{charged:#x}"));
    assert_eq!(
        erc20["keyscope"]["feesLeft"],
        format!("{:#x}", U256::from(10u128.pow(17)) - charged)
    );

    // Revoke the ERC-20 permission by its context.
    let revoke = env
        .ok(
            "wallet_revokeExecutionPermission",
            json!({ "permissionContext": granted[1]["context"] }),
        )
        .await;
    assert_eq!(
        revoke["keyscope"]["sessionIds"],
        json!([granted[1]["keyscope"]["sessionId"]])
    );
    env.sign_and_send(&owner, &revoke["keyscope"]).await;
    let listed = env
        .ok(
            "wallet_getGrantedExecutionPermissions",
            json!([account.address]),
        )
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["permission"]["type"], "native-token-allowance");

    // One request of a native allowance of 1 wei to the session key, with `changes` over it (`null` removes).
    let native = |changes: Value| {
        let mut request = json!({ "chainId": chain, "from": account.address, "to": key.address(),
            "permission": { "type": "native-token-allowance", "isAdjustmentAllowed": false,
                            "data": { "allowanceAmount": "0x1" } },
            "rules": expiry });
        for (name, value) in changes.as_object().unwrap() {
            match value {
                Value::Null => request.as_object_mut().unwrap().remove(name),
                value => request
                    .as_object_mut()
                    .unwrap()
                    .insert(name.clone(), value.clone()),
            };
        }
        json!([request])
    };

    // Refusals name the field.
    let error = env
        .err("wallet_requestExecutionPermissions", native(json!({
              "permission": { "type": "erc20-token-stream", "isAdjustmentAllowed": false,
                              "data": { "tokenAddress": token, "initialAmount": "0x1", "amountPerSecond": "0x1",
                                        "maxAmount": "0xa", "startTime": now } } })))
        .await;
    assert_eq!(
        (error.code, error.field().as_str()),
        (-32602, "[0].permission.type"),
        "{error:?}"
    );
    assert_eq!(
        error.data["reason"], "unsupportedPermissionType",
        "{error:?}"
    );
    assert_eq!(error.data["instead"], "erc20-token-periodic", "{error:?}");
    // Without an expiry: one day from now (never unlimited); an expiry of 0 is refused.
    let answer = env
        .ok(
            "wallet_requestExecutionPermissions",
            native(json!({ "rules": null })),
        )
        .await;
    let until = answer[0]["rules"][0]["data"]["timestamp"].as_u64().unwrap();
    assert!(until >= now + 86_400, "{answer}");
    let error = env
        .err(
            "wallet_requestExecutionPermissions",
            native(json!({ "rules": [{ "type": "expiry", "data": { "timestamp": 0 } }] })),
        )
        .await;
    assert_eq!(error.field(), "[0].rules", "{error:?}");
    let error = env
        .err(
            "wallet_requestExecutionPermissions",
            native(json!({ "to": token })),
        )
        .await;
    assert_eq!(error.field(), "[0].to", "{error:?}");
    // Free-form fields are bounded, and only what was read is kept and echoed.
    let error = env
        .err("wallet_requestExecutionPermissions", native(json!({
              "permission": { "type": "native-token-allowance", "isAdjustmentAllowed": false,
                              "data": { "allowanceAmount": "0x1", "justification": "x".repeat(MAX_JUSTIFICATION_BYTES + 1) } } })))
        .await;
    assert_eq!(
        (error.code, error.field().as_str()),
        (-32602, "[0].permission.data.justification"),
        "{error:?}"
    );
    let answer = env
        .ok("wallet_requestExecutionPermissions", native(json!({ "to": null,
              "signer": { "type": "account", "data": { "address": key.address(), "note": "not kept" } } })))
        .await;
    assert_eq!(
        answer[0]["signer"],
        json!({ "type": "account", "data": { "address": key.address() } })
    );
    assert_eq!(answer[0]["to"], json!(key.address()));
    let error = env
        .err(
            "wallet_revokeExecutionPermission",
            json!({ "permissionContext": "0x02" }),
        )
        .await;
    assert_eq!(error.field(), "permissionContext", "{error:?}");
    // An unlimited fee scope and any paymaster only when written out, answered with the warning.
    let answer = env
        .ok("wallet_requestExecutionPermissions", native(json!({
              "fees": { "perOperation": "unlimited", "budget": "unlimited" }, "paymaster": "any" })))
        .await;
    assert_eq!(
        answer[0]["fees"],
        json!({ "perOperation": "unlimited", "budget": "unlimited" })
    );
    assert_eq!(answer[0]["paymaster"], "any");
    assert_eq!(
        answer[0]["keyscope"]["session"]["session"]["paymasterPolicy"],
        0
    );
    let warnings = answer[0]["keyscope"]["warnings"].to_string();
    assert!(warnings.contains("UNLIMITED FEES"), "{warnings}");
    for (fees, field) in [
        (json!("lots"), "[0].fees"),
        (
            json!({ "perOperation": "0.1 ether", "budget": "x" }),
            "[0].fees.budget",
        ),
    ] {
        let error = env
            .err(
                "wallet_requestExecutionPermissions",
                native(json!({ "fees": fees })),
            )
            .await;
        assert_eq!(
            (error.code, error.field().as_str()),
            (-32602, field),
            "{error:?}"
        );
    }
    env.server.shutdown().await;
}

/// ERC-7715 periodic allowances: `erc20-token-periodic` (MetaMask's shape, without `startTime`: periods start at
/// the chain's time) becomes a Keyscope periodic allowance; the listing shows what is left in the current period,
/// the validator refuses an operation over it, and the stream types are refused with the reason.
#[tokio::test]
async fn periodic_permissions_show_what_is_left() {
    let env = env().await;
    let chain = format!("{:#x}", env.client.chain_id());
    let (now, token, owner, key) = env.cast().await;
    let account = env.funded_account(&owner, 5, Version::V07).await;
    env.mint(token, account.address, 1_000).await;

    let supported = env
        .ok("wallet_getSupportedExecutionPermissions", json!([]))
        .await;
    for kind in ["native-token-periodic", "erc20-token-periodic"] {
        assert_eq!(supported[kind]["chainIds"], json!([chain]), "{supported}");
    }
    assert!(
        supported.get("native-token-stream").is_none(),
        "{supported}"
    );

    let request = json!([{ "chainId": chain, "from": account.address, "to": key.address(),
        "permission": { "type": "erc20-token-periodic", "isAdjustmentAllowed": false,
                        "data": { "tokenAddress": token, "periodAmount": "0x32", "periodDuration": 3600,
                                  "justification": "50 an hour" } },
        "rules": [{ "type": "expiry", "data": { "timestamp": now + 86_400 } }] }]);
    let granted = env.ok("wallet_requestExecutionPermissions", request).await;
    let data = &granted[0]["permission"]["data"];
    let start = data["startTime"].as_u64().unwrap();
    assert!(start >= now, "{data}");
    assert_eq!(
        (&data["periodAmount"], &data["periodDuration"]),
        (&json!("0x32"), &json!(3600))
    );
    let spec = &granted[0]["keyscope"]["session"]["spec"]["permissions"][0];
    assert_eq!(spec["erc20_period_limit"], "50", "{spec}");
    env.sign_and_send(&owner, &granted[0]["keyscope"]).await;

    let period = || async {
        let listed = env
            .ok(
                "wallet_getGrantedExecutionPermissions",
                json!({ "from": account.address }),
            )
            .await;
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        assert_eq!(listed[0]["context"], granted[0]["context"]);
        listed[0]["keyscope"]["period"].clone()
    };
    let fresh = period().await;
    assert_eq!(fresh["index"], 0, "{fresh}");
    assert_eq!(fresh["start"], start, "{fresh}");
    assert_eq!(fresh["nextStart"], start + 3600, "{fresh}");
    assert_eq!(fresh["periodDuration"], 3600, "{fresh}");
    assert_eq!(
        (&fresh["periodAmount"], &fresh["spent"], &fresh["left"]),
        (&json!("0x32"), &json!("0x0"), &json!("0x32")),
        "{fresh}"
    );

    // Wait for the chain to pass the start (EntryPoint's validAfter), then spend 30 of the 50.
    let _: Value = env
        .client
        .provider()
        .raw_request("evm_increaseTime".into(), (2,))
        .await
        .unwrap();
    let _: Value = env
        .client
        .provider()
        .raw_request("evm_mine".into(), ())
        .await
        .unwrap();
    let session = compiled(&granted[0]["keyscope"]["session"]);
    let transfers = |amount: u64| [transfer(token, Address::repeat_byte(9), amount)];
    let outcome = env
        .client
        .send_session_op(&account, &key, &session, &transfers(30))
        .await
        .unwrap();
    assert!(outcome.success, "{outcome:?}");
    let spent = period().await;
    assert_eq!(
        (&spent["index"], &spent["spent"], &spent["left"]),
        (&json!(0), &json!("0x1e"), &json!("0x14")),
        "{spent}"
    );
    // 21 more is over what is left in the period.
    let error = env
        .client
        .send_session_op(&account, &key, &session, &transfers(21))
        .await
        .unwrap_err();
    assert!(
        error
            .validator_error()
            .is_some_and(|e| format!("{e:?}").starts_with("PeriodAllowanceExceeded")),
        "{error}"
    );
    assert_eq!(
        env.balance(token, Address::repeat_byte(9)).await,
        U256::from(30)
    );
}

#[tokio::test]
async fn payee_and_redeemer_rules_bind_the_session() {
    let env = env().await;
    let chain = format!("{:#x}", env.client.chain_id());
    let (now, token, owner, key) = env.cast().await;
    let account = env.funded_account(&owner, 6, Version::V08).await;
    env.mint(token, account.address, 1_000).await;
    let (a, b, stranger) = (
        Address::repeat_byte(0x21),
        Address::repeat_byte(0x22),
        Address::repeat_byte(0x23),
    );
    let expiry = json!({ "type": "expiry", "data": { "timestamp": now + 3600 } });
    let request = |permission: Value, rules: Value| {
        json!({ "chainId": chain, "from": account.address, "to": key.address(),
                "permission": permission, "rules": rules })
    };
    let erc20 = json!({ "type": "erc20-token-allowance",
                        "data": { "tokenAddress": token, "allowanceAmount": "0x64" } });
    let native =
        json!({ "type": "native-token-allowance", "data": { "allowanceAmount": "0x3e8" } });

    // A redeemer set without the session key cannot be honoured: only the session key uses the permission.
    let error = env
        .err(
            "wallet_requestExecutionPermissions",
            json!([request(
                erc20.clone(),
                json!([{ "type": "redeemer", "data": { "addresses": [stranger] } }])
            )]),
        )
        .await;
    assert_eq!(
        (error.code, error.field()),
        (-32602, "[0].rules[0].data.addresses".into()),
        "{error:?}"
    );

    // The account itself can never be paid by a session's call.
    let error = env
        .err(
            "wallet_requestExecutionPermissions",
            json!([request(
                native.clone(),
                json!([expiry, { "type": "payee", "data": { "addresses": [a, account.address] } }])
            )]),
        )
        .await;
    assert_eq!(
        (error.code, error.field()),
        (-32602, "[0].rules[1].data.addresses".into()),
        "{error:?}"
    );

    let redeemer = json!({ "type": "redeemer", "data": { "addresses": [key.address()] } });
    let granted = env
        .ok(
            "wallet_requestExecutionPermissions",
            json!([
                request(
                    erc20,
                    json!([expiry, redeemer, { "type": "payee", "data": { "addresses": [a] } }])
                ),
                request(
                    native,
                    json!([expiry, { "type": "payee", "data": { "addresses": [a, b] } }])
                )
            ]),
        )
        .await;
    assert_eq!(
        granted[0]["rules"],
        json!([expiry, redeemer, { "type": "payee", "data": { "addresses": [a] } }])
    );
    assert_eq!(
        granted[1]["rules"][1],
        json!({ "type": "payee", "data": { "addresses": [a, b] } })
    );
    let erc20_spec = &granted[0]["keyscope"]["session"]["spec"]["permissions"];
    assert_eq!(erc20_spec[0]["rules"][0]["op"], "eq", "{erc20_spec}");
    let native_spec = &granted[1]["keyscope"]["session"]["spec"]["permissions"];
    assert_eq!(native_spec.as_array().unwrap().len(), 2, "{native_spec}");
    env.sign_and_send(&owner, &granted[0]["keyscope"]).await;

    // The ERC-20 allowance pays only `a`.
    let tokens = compiled(&granted[0]["keyscope"]["session"]);
    env.client
        .send_session_op(&account, &key, &tokens, &[transfer(token, a, 40)])
        .await
        .unwrap();
    let verdict = env
        .validate_calls(&account, &key, &tokens, &[transfer(token, stranger, 1)])
        .await;
    assert_eq!(
        verdict["failure"]["rule"], "ArgumentRuleFailed",
        "{verdict}"
    );

    // The native allowance pays `a` and `b`, one allowance for both, and no one else.
    let value = compiled(&granted[1]["keyscope"]["session"]);
    let pay = |to: Address, wei: u64, permission: usize| SessionCall {
        target: to,
        value: U256::from(wei),
        data: Bytes::new(),
        permission,
    };
    env.client
        .send_session_op(&account, &key, &value, &[pay(a, 600, 0), pay(b, 400, 1)])
        .await
        .unwrap();
    assert_eq!(
        env.client.provider().get_balance(b).await.unwrap(),
        U256::from(400)
    );
    let verdict = env
        .validate_calls(&account, &key, &value, &[pay(b, 1, 1)])
        .await;
    assert_eq!(
        verdict["failure"]["rule"], "NativeTotalExceeded",
        "{verdict}"
    );
    let verdict = env
        .validate_calls(&account, &key, &value, &[pay(stranger, 1, 0)])
        .await;
    assert_eq!(verdict["failure"]["rule"], "TargetNotAllowed", "{verdict}");
}

/// A P-256 key and a 2-of-2 multisig (secp256k1 + WebAuthn) as ERC-7715 signers: granted through the service at
/// their commitment addresses, then operations signed by the SDK's `SessionSigner`s spend within the allowances.
#[tokio::test]
async fn p256_and_multisig_signers() {
    use keyscope::alloy::primitives::hex;
    use keyscope::signer::signers::{DEFAULT_ORIGIN, DEFAULT_RP_ID};
    use keyscope::signer::{P256Key, SessionSigner, WebAuthnAuthenticator};

    let env = env().await;
    let chain = format!("{:#x}", env.client.chain_id());
    let (now, token, owner, key) = env.cast().await;
    let account = env.funded_account(&owner, 6, Version::V08).await;
    env.mint(token, account.address, 1_000).await;

    let p256 = P256Key::from_bytes(&[0x11; 32]).unwrap();
    let sec1 = |(x, y): (
        keyscope::alloy::primitives::B256,
        keyscope::alloy::primitives::B256,
    )| { format!("0x04{}{}", hex::encode(x), hex::encode(y)) };
    let p256_public = sec1(p256.public());
    let p256_signer = SessionSigner::from(p256);
    let passkey = WebAuthnAuthenticator::new(
        P256Key::from_bytes(&[0x22; 32]).unwrap(),
        DEFAULT_RP_ID,
        DEFAULT_ORIGIN,
    );
    let passkey_public = sec1(passkey.public());
    let secp_public = format!(
        "0x{}",
        hex::encode(
            key.to_k256()
                .unwrap()
                .verifying_key()
                .to_encoded_point(true)
                .as_bytes()
        )
    );
    let multisig = SessionSigner::multisig(
        2,
        vec![
            (1, SessionSigner::from(key.clone())),
            (1, SessionSigner::from(passkey)),
        ],
    )
    .unwrap();

    let allowance = |signer: Value| {
        json!({ "chainId": chain, "from": account.address, "signer": signer,
                "permission": { "type": "erc20-token-allowance", "isAdjustmentAllowed": false,
                                "data": { "tokenAddress": token, "allowanceAmount": "0x12c" } },
                "rules": [{ "type": "expiry", "data": { "timestamp": now + 3600 } }] })
    };
    let p256_request =
        json!({ "type": "key", "data": { "type": "secp256r1", "publicKey": p256_public } });
    let keys_request = json!({ "type": "keys", "data": { "keys": [
        { "type": "secp256k1", "publicKey": secp_public },
        { "type": "webAuthn", "publicKey": passkey_public } ] } });
    let granted = env
        .ok(
            "wallet_requestExecutionPermissions",
            json!([allowance(p256_request.clone()), allowance(keys_request)]),
        )
        .await;
    // The session signer is the commitment to the key(s), echoed as `to`; the signer as read.
    assert_eq!(granted[0]["to"], json!(p256_signer.address().unwrap()));
    assert_eq!(granted[0]["signer"], p256_request);
    assert_eq!(granted[1]["to"], json!(multisig.address().unwrap()));
    assert_eq!(granted[1]["signer"]["data"]["threshold"], 2);
    assert_eq!(granted[1]["signer"]["data"]["keys"][1]["type"], "webauthn");
    let spec_signer: Address =
        serde_json::from_value(granted[0]["keyscope"]["session"]["spec"]["signer"].clone())
            .unwrap();
    assert_eq!(spec_signer, p256_signer.address().unwrap());
    env.sign_and_send(&owner, &granted[0]["keyscope"]).await;

    let transfers = |amount: u64| [transfer(token, Address::repeat_byte(9), amount)];
    let p256_session = compiled(&granted[0]["keyscope"]["session"]);
    let outcome = env
        .client
        .send_session_op(&account, &p256_signer, &p256_session, &transfers(200))
        .await
        .unwrap();
    assert!(outcome.success, "{outcome:?}");
    let multisig_session = compiled(&granted[1]["keyscope"]["session"]);
    let outcome = env
        .client
        .send_session_op(&account, &multisig, &multisig_session, &transfers(50))
        .await
        .unwrap();
    assert!(outcome.success, "{outcome:?}");
    // Another P-256 key cannot use the P-256 session.
    let other = SessionSigner::from(P256Key::from_bytes(&[0x33; 32]).unwrap());
    assert!(env
        .client
        .send_session_op(&account, &other, &p256_session, &transfers(1))
        .await
        .is_err());
    assert_eq!(
        env.balance(token, Address::repeat_byte(9)).await,
        U256::from(250)
    );
}
