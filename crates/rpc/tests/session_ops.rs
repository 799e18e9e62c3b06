//! Session operations for any language: keyscope_prepareSessionOperation → the session key signs userOpHash
//! (elsewhere) → keyscope_sendSessionOperation, through real handleOps; and the SDK API behind them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{compiled, env, transfer, transfer_data, Env};
use keyscope::alloy::primitives::{Address, Bytes, B256, U256};
use keyscope::alloy::sol_types::SolCall;
use keyscope::bindings::session_key_validator::SessionKeyValidator;
use keyscope::bindings::DemoToken;
use keyscope::signer::signers::DummyShape;
use keyscope::signer::{P256Key, SessionKey, SessionSignature, SessionSigner};
use keyscope::{Account, Error, SessionStatus, Version};
use serde_json::{json, Value};

/// A `KeyscopeAccount` of a new owner (salt `salt`, EntryPoint `version`) created, funded and granted, through the
/// service, a session of `key` with two permissions: `transfer` of `token` (amount ≤ 100) and `approve` of it.
async fn granted(env: &Env, version: &str, salt: u64) -> (Address, Address, SessionKey, Value) {
    let (now, token, owner, key) = env.cast().await;
    let answer = env
        .ok(
            "keyscope_createSessions",
            json!({
                "account": { "owner": owner.address(), "salt": salt, "entryPoint": version },
                "sessions": [{
                    "signer": key.address(), "validAfter": 0, "validUntil": now + 3600,
                    "permissions": [
                        { "target": token, "function": "transfer(address to,uint256 amount)",
                          "rules": [{ "arg": "amount", "op": "lte", "value": "100" }] },
                        { "target": token, "function": "approve(address spender,uint256 amount)" }
                    ]
                }]
            }),
        )
        .await;
    let account = env.fund_and_grant(&owner, &answer, token, 1_000).await;
    (account, token, key, answer["sessions"][0].clone())
}

/// The session key's signature over a prepared operation's `userOpHash` (raw, no EIP-191).
fn key_signs(key: &SessionKey, prepared: &Value) -> Bytes {
    let hash: B256 = serde_json::from_value(prepared["userOpHash"].clone()).unwrap();
    Bytes::from(key.sign_hash_bytes(&hash).unwrap().to_vec())
}

/// Sends a `{to, value, data}` transaction from the funded sender; its success.
async fn send_transaction(env: &Env, tx: &Value) -> bool {
    env.send_transaction(tx).await.status()
}

#[tokio::test]
async fn prepare_sign_elsewhere_send() {
    let env = env().await;
    let (account, token, key, record) = granted(&env, "v0.7", 1).await;
    let recipient = Address::repeat_byte(0x51);
    let beneficiary = env.client.sender();

    // By session id (stored by the service); the permission found from target and selector.
    let prepared = env
        .ok(
            "keyscope_prepareSessionOperation",
            json!({
                "account": account,
                "session": record["sessionId"],
                "calls": [{ "to": token, "data": transfer_data(recipient, 40) }]
            }),
        )
        .await;
    assert_eq!(prepared["calls"][0]["permission"], 0, "{prepared}");
    assert_eq!(prepared["sessionId"], record["sessionId"]);
    assert_eq!(prepared["signer"], json!(key.address()));
    assert_eq!(prepared["entryPointVersion"], "v0.7");
    assert_eq!(prepared["gasEstimated"], false);
    assert_eq!(prepared["feesCharged"], "0x0");
    // The dummy signature of the final length: the hash is what the key signs.
    let dummy: Bytes = serde_json::from_value(prepared["userOp"]["signature"].clone()).unwrap();
    assert!(dummy.len() > 300, "{prepared}");

    // A signature by another key is refused, naming the field; nothing is sent.
    let other = SessionKey::generate();
    let error = env
        .err(
            "keyscope_sendSessionOperation",
            json!({ "userOp": prepared["userOp"], "signature": key_signs(&other, &prepared),
                    "beneficiary": beneficiary }),
        )
        .await;
    assert_eq!(error.code, -32602);
    assert_eq!(error.field(), "signature");
    assert!(
        error.message.contains(&other.address().to_string()),
        "{error:?}"
    );
    // Without a bundler, the handleOps transaction needs its beneficiary.
    let error = env
        .err(
            "keyscope_sendSessionOperation",
            json!([prepared["userOp"], key_signs(&key, &prepared)]),
        )
        .await;
    assert_eq!(error.field(), "beneficiary");

    let sent = env
        .ok(
            "keyscope_sendSessionOperation",
            json!({ "userOp": prepared["userOp"], "signature": key_signs(&key, &prepared),
                    "beneficiary": beneficiary }),
        )
        .await;
    assert_eq!(sent["sent"], false, "{sent}");
    assert_eq!(sent["userOpHash"], prepared["userOpHash"]);
    assert_eq!(
        sent["userOp"]["signature"].as_str().unwrap().len(),
        dummy.len() * 2 + 2
    );
    assert!(send_transaction(&env, &sent["transaction"]).await);
    assert_eq!(env.balance(token, recipient).await, U256::from(40));

    // By the full record (positional), the permission given; a batch of two calls under two permissions.
    let prepared = env
        .ok(
            "keyscope_prepareSessionOperation",
            json!([account, record, [
                { "to": token, "data": transfer_data(recipient, 2), "permission": 0 },
                { "to": token, "data": DemoToken::approveCall { spender: recipient, value: U256::from(9) }.abi_encode() }
            ]]),
        )
        .await;
    assert_eq!(prepared["calls"][1]["permission"], 1, "{prepared}");
    assert_ne!(prepared["feesCharged"], "0x0", "{prepared}");
    let sent = env
        .ok(
            "keyscope_sendSessionOperation",
            json!({ "userOp": prepared["userOp"], "signature": key_signs(&key, &prepared),
                    "beneficiary": beneficiary, "entryPoint": "v0.7" }),
        )
        .await;
    assert!(send_transaction(&env, &sent["transaction"]).await);
    assert_eq!(env.balance(token, recipient).await, U256::from(42));

    // Out of the session's rules: prepared, but the check refuses it, naming the rule (-32500).
    let prepared = env
        .ok(
            "keyscope_prepareSessionOperation",
            json!({ "account": account, "session": record["sessionId"],
                    "calls": [{ "to": token, "data": transfer_data(recipient, 500) }] }),
        )
        .await;
    let error = env
        .err(
            "keyscope_sendSessionOperation",
            json!({ "userOp": prepared["userOp"], "signature": key_signs(&key, &prepared),
                    "beneficiary": beneficiary }),
        )
        .await;
    assert_eq!(error.code, -32500, "{error:?}");
    assert_eq!(error.field(), "userOp");
    assert_eq!(error.data["rule"], "ArgumentRuleFailed", "{error:?}");
    assert_eq!(error.data["aaCode"], "AA23", "{error:?}");
    assert_eq!(env.balance(token, recipient).await, U256::from(42));

    // The kill switch: the session key revokes its own session with a call no permission covers.
    let session_id: B256 = serde_json::from_value(record["sessionId"].clone()).unwrap();
    let revoke_own = SessionKeyValidator::revokeSessionCall {
        sessionId: session_id,
    }
    .abi_encode();
    let validator = env.client.stack().session_key_validator;
    let prepared = env
        .ok(
            "keyscope_prepareSessionOperation",
            json!({ "account": account, "session": record["sessionId"],
                    "calls": [{ "to": validator, "data": Bytes::from(revoke_own) }] }),
        )
        .await;
    assert_eq!(
        prepared["calls"][0]["permission"],
        Value::Null,
        "{prepared}"
    );
    let sent = env
        .ok(
            "keyscope_sendSessionOperation",
            json!({ "userOp": prepared["userOp"], "signature": key_signs(&key, &prepared),
                    "beneficiary": beneficiary }),
        )
        .await;
    assert!(send_transaction(&env, &sent["transaction"]).await);
    let on_chain = Account {
        address: account,
        version: Version::V07,
    };
    assert_eq!(
        env.client
            .session_status(&on_chain, session_id)
            .await
            .unwrap(),
        SessionStatus::Revoked
    );
    // Nothing of the session works any more.
    let error = env
        .err(
            "keyscope_prepareSessionOperation",
            json!({ "account": account, "session": record["sessionId"],
                    "calls": [{ "to": token, "data": transfer_data(recipient, 1) }] }),
        )
        .await;
    assert_eq!(error.code, -32602, "{error:?}");
    assert!(error.message.contains("not active"), "{error:?}");

    env.server.shutdown().await;
}

#[tokio::test]
async fn errors_name_the_field() {
    let env = env().await;
    let (account, token, key, record) = granted(&env, "v0.8", 2).await;
    let recipient = Address::repeat_byte(0x52);
    let call = json!({ "to": token, "data": transfer_data(recipient, 1) });
    let prepare = |session: Value, calls: Value| {
        let env = &env;
        async move {
            env.err(
                "keyscope_prepareSessionOperation",
                json!({ "account": account, "session": session, "calls": calls }),
            )
            .await
        }
    };
    // A session id the service does not have.
    let error = prepare(json!(B256::repeat_byte(7)), json!([call])).await;
    assert_eq!((error.code, error.field()), (-32602, "session".into()));
    // A record whose id is not its spec's.
    let mut wrong = record.clone();
    wrong["sessionId"] = json!(B256::repeat_byte(7));
    let error = prepare(wrong, json!([call])).await;
    assert_eq!(error.field(), "session.sessionId", "{error:?}");
    // No permission covers the call; an index out of range; no calls.
    let error = prepare(
        record["sessionId"].clone(),
        json!([call, { "to": recipient, "data": "0x" }]),
    )
    .await;
    assert_eq!(error.field(), "calls[1]", "{error:?}");
    let error = prepare(
        record["sessionId"].clone(),
        json!([{ "to": token, "data": transfer_data(recipient, 1), "permission": 5 }]),
    )
    .await;
    assert_eq!(error.field(), "calls[0].permission", "{error:?}");
    let error = prepare(record["sessionId"].clone(), json!([])).await;
    assert_eq!(error.field(), "calls", "{error:?}");
    // A valid session record that was never granted.
    let mut spec = record["spec"].clone();
    spec["signer"] = json!(Address::repeat_byte(9));
    let error = prepare(json!({ "spec": spec }), json!([call])).await;
    assert_eq!(error.field(), "session", "{error:?}");
    assert!(error.message.contains("not active"), "{error:?}");
    // An account with no code.
    let error = env
        .err(
            "keyscope_prepareSessionOperation",
            json!({ "account": Address::repeat_byte(3), "session": record, "calls": [call] }),
        )
        .await;
    assert_eq!(error.field(), "account", "{error:?}");
    // A userOp that is not a session operation's.
    let prepared = env
        .ok(
            "keyscope_prepareSessionOperation",
            json!({ "account": account, "session": record, "calls": [call] }),
        )
        .await;
    let mut op = prepared["userOp"].clone();
    op["signature"] = json!("0x0102");
    let error = env
        .err(
            "keyscope_sendSessionOperation",
            json!({ "userOp": op, "signature": key_signs(&key, &prepared),
                    "beneficiary": env.client.sender() }),
        )
        .await;
    assert_eq!(error.field(), "userOp.signature", "{error:?}");
    let error = env
        .err(
            "keyscope_sendSessionOperation",
            json!({ "userOp": prepared["userOp"], "signature": "0x1234",
                    "beneficiary": env.client.sender() }),
        )
        .await;
    assert_eq!(error.field(), "signature", "{error:?}");
    env.server.shutdown().await;
}

/// The SDK API the service stands on: prepared unsigned, signed elsewhere, assembled, sent with real handleOps.
#[tokio::test]
async fn sdk_prepares_for_a_key_that_signs_elsewhere() {
    let env = env().await;
    let (account, token, key, record) = granted(&env, "v0.8", 3).await;
    let account = Account {
        address: account,
        version: Version::V08,
    };
    let session = compiled(&record);
    let recipient = Address::repeat_byte(0x53);
    let unsigned = env
        .client
        .prepare_unsigned_session_op(&account, &session, &[transfer(token, recipient, 7)])
        .await
        .unwrap();
    assert_eq!(unsigned.signer(), key.address());
    // Another key: refused, typed.
    let other = SessionKey::generate();
    match unsigned
        .clone()
        .assemble(&other.sign_hash_bytes(&unsigned.user_op_hash).unwrap())
    {
        Err(Error::SessionKeySignature {
            recovered: Some(recovered),
            ..
        }) => assert_eq!(recovered, other.address()),
        other => panic!("{other:?}"),
    }
    let signature = key.sign_hash_bytes(&unsigned.user_op_hash).unwrap();
    let prepared = unsigned.assemble(&signature).unwrap();
    let outcome = env.client.send(&prepared).await.unwrap();
    assert!(outcome.success, "{outcome:?}");
    assert_eq!(env.balance(token, recipient).await, U256::from(7));
    env.server.shutdown().await;
}

/// A P-256 session signer that signs elsewhere: the service estimates with the P-256 dummy (the session records
/// its `signer_key`), the signature made with `P256Key` is assembled and sent through handleOps; the SDK's
/// `prepare_unsigned_session_op_for` does the same. A WebAuthn shape or multisig members for a P-256 key are
/// refused, naming the field.
#[tokio::test]
async fn p256_session_prepared_unsigned_signed_elsewhere() {
    let env = env().await;
    let (now, token, owner, _) = env.cast().await;
    let key = P256Key::generate();
    let signer = SessionSigner::from(key.clone());
    let (x, y) = key.public();
    let answer = env
        .ok(
            "keyscope_createSessions",
            json!({
                "account": { "owner": owner.address(), "salt": 4, "entryPoint": "v0.7" },
                "sessions": [{
                    "signer": signer.address().unwrap(),
                    "signer_key": { "kind": "p256", "x": x, "y": y },
                    "validAfter": 0, "validUntil": now + 3600,
                    "permissions": [
                        { "target": token, "function": "transfer(address to,uint256 amount)" }
                    ]
                }]
            }),
        )
        .await;
    let account = env.fund_and_grant(&owner, &answer, token, 1_000).await;
    let record = answer["sessions"][0].clone();
    let recipient = Address::repeat_byte(0x54);

    // By session id: the recorded signer key gives the dummy's kind and length.
    let prepare = |extra: Value| {
        let mut params = json!({
            "account": account,
            "session": record["sessionId"],
            "calls": [{ "to": token, "data": transfer_data(recipient, 11) }]
        });
        if let (Value::Object(params), Value::Object(extra)) = (&mut params, extra) {
            params.extend(extra);
        }
        params
    };
    let prepared = env
        .ok("keyscope_prepareSessionOperation", prepare(json!({})))
        .await;
    assert_eq!(prepared["signer"], json!(signer.address().unwrap()));
    let wire: Bytes = serde_json::from_value(prepared["userOp"]["signature"].clone()).unwrap();
    let carried = SessionSignature::decode(&wire).unwrap();
    assert_eq!(
        carried.session_signature,
        signer.dummy_signature().unwrap(),
        "{prepared}"
    );
    // Given explicitly, the same.
    let explicit = env
        .ok(
            "keyscope_prepareSessionOperation",
            prepare(
                json!({ "signerKey": { "kind": "p256", "x": x, "y": y }, "signatureShape": {} }),
            ),
        )
        .await;
    assert_eq!(
        explicit["userOp"]["signature"],
        prepared["userOp"]["signature"]
    );
    // Wrong shapes and keys: refused, naming the field.
    let error = env
        .err(
            "keyscope_prepareSessionOperation",
            prepare(json!({ "signatureShape": { "members": [0] } })),
        )
        .await;
    assert_eq!(error.field(), "signatureShape.members", "{error:?}");
    let (ox, oy) = P256Key::generate().public();
    let error = env
        .err(
            "keyscope_prepareSessionOperation",
            prepare(json!({ "signerKey": { "kind": "p256", "x": ox, "y": oy } })),
        )
        .await;
    assert_eq!(error.field(), "signerKey", "{error:?}");
    let error = env
        .err(
            "keyscope_prepareSessionOperation",
            prepare(json!({ "signatureShape": { "origin": 5 } })),
        )
        .await;
    assert_eq!(error.field(), "signatureShape.origin", "{error:?}");

    // Signed elsewhere with the P-256 key; assembled by the service and sent through handleOps.
    let hash: B256 = serde_json::from_value(prepared["userOpHash"].clone()).unwrap();
    let signature = Bytes::from(signer.sign(&hash).unwrap());
    let sent = env
        .ok(
            "keyscope_sendSessionOperation",
            json!({ "userOp": prepared["userOp"], "signature": signature,
                    "beneficiary": env.client.sender() }),
        )
        .await;
    assert_eq!(sent["userOpHash"], prepared["userOpHash"]);
    assert!(send_transaction(&env, &sent["transaction"]).await);
    assert_eq!(env.balance(token, recipient).await, U256::from(11));

    // The SDK behind it: prepared for the P-256 key, signed elsewhere, assembled, sent.
    let account = Account {
        address: account,
        version: Version::V07,
    };
    let session = compiled(&record);
    let unsigned = env
        .client
        .prepare_unsigned_session_op_for(
            &account,
            &session,
            &[transfer(token, recipient, 5)],
            &signer.key(),
            &DummyShape::default(),
        )
        .await
        .unwrap();
    assert_eq!(unsigned.signer(), signer.address().unwrap());
    // A 65-byte ECDSA signature is not what the gas was estimated for.
    let ecdsa = SessionKey::generate()
        .sign_hash_bytes(&unsigned.user_op_hash)
        .unwrap();
    assert!(matches!(
        unsigned.clone().assemble(&ecdsa),
        Err(Error::SessionKeySignature { .. })
    ));
    let signature = SessionSigner::from(key)
        .sign(&unsigned.user_op_hash)
        .unwrap();
    let prepared = unsigned.assemble(&signature).unwrap();
    let outcome = env.client.send(&prepared).await.unwrap();
    assert!(outcome.success, "{outcome:?}");
    assert_eq!(env.balance(token, recipient).await, U256::from(16));
    env.server.shutdown().await;
}
