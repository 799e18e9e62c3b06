//! Multichain enable through the service: keyscope_prepareMultichainEnable answers what the owner signs once for
//! several chains; keyscope_prepareSessionOperation with `multichainEnable` builds this chain's first session
//! operation, which grants the session with that signature (mode 2) through real handleOps. (The same signature
//! on two chains, and refused on a third, is tests/multichain.rs's end-to-end test, through the SDK.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{env, transfer_data, Env, RpcError};
use keyscope::alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use keyscope::alloy::sol_types::Eip712Domain;
use keyscope::permissions::merkle::process_proof;
use keyscope::signer::{multichain_leaf, SessionKey};
use keyscope::{SessionStatus, Version};
use serde_json::{json, Value};

const OTHER_CHAIN: u64 = 10;

fn hash_of(value: &Value) -> B256 {
    serde_json::from_value(value.clone()).unwrap()
}

/// The EIP-712 signing hash of the answer's `typedData`, computed from its members with alloy's domain type:
/// what a wallet's `eth_signTypedData_v4` signs.
fn typed_data_hash(typed: &Value) -> B256 {
    let domain = &typed["domain"];
    assert_eq!(
        typed["types"]["EIP712Domain"].as_array().unwrap().len(),
        3,
        "{typed}"
    );
    let domain = Eip712Domain::new(
        Some(domain["name"].as_str().unwrap().to_owned().into()),
        Some(domain["version"].as_str().unwrap().to_owned().into()),
        None,
        Some(serde_json::from_value(domain["verifyingContract"].clone()).unwrap()),
        None,
    );
    assert_eq!(typed["primaryType"], "EnableSessions");
    assert_eq!(
        typed["types"]["EnableSessions"],
        json!([{ "name": "chainsRoot", "type": "bytes32" }])
    );
    let struct_hash = keccak256(
        [
            keccak256("EnableSessions(bytes32 chainsRoot)").as_slice(),
            hash_of(&typed["message"]["chainsRoot"]).as_slice(),
        ]
        .concat(),
    );
    keccak256(
        [
            &[0x19, 0x01][..],
            domain.separator().as_slice(),
            struct_hash.as_slice(),
        ]
        .concat(),
    )
}

/// `keyscope_sendSessionOperation` of `prepared`, signed by `key` (no bundler: answered as the handleOps
/// transaction, paid to the test's sender).
async fn send_signed(env: &Env, prepared: &Value, key: &SessionKey) -> Result<Value, RpcError> {
    let hash = hash_of(&prepared["userOpHash"]);
    let signature = Bytes::from(key.sign_hash_bytes(&hash).unwrap().to_vec());
    env.call(
        "keyscope_sendSessionOperation",
        json!({ "userOp": prepared["userOp"], "signature": signature,
                "beneficiary": env.client.sender() }),
    )
    .await
}

#[tokio::test]
async fn one_owner_signature_grants_on_first_use() {
    let env = env().await;
    let (now, token, owner, key) = env.cast().await;
    let here = env.client.chain_id();
    let account = env.funded_account(&owner, 31, Version::V07).await;
    env.mint(token, account.address, 1_000).await;
    let recipient = Address::repeat_byte(0x61);
    let record = json!({ "spec": {
        "signer": key.address(), "valid_after": 0, "valid_until": now + 3600,
        "permissions": [{ "target": token, "function": "transfer(address to,uint256 amount)",
                          "rules": [{ "arg": "amount", "op": "lte", "value": "100" }] }]
    }});

    // The epoch of another chain is the client's to give; this chain's is read from the node and must match; an
    // entry given twice.
    let on = |chain: u64, epoch: Option<u64>| json!({ "chainId": chain, "account": account.address, "epoch": epoch });
    for (chains, field) in [
        (
            json!([on(here, None), on(OTHER_CHAIN, None)]),
            "chains[1].epoch",
        ),
        (json!([on(here, Some(4))]), "chains[0].epoch"),
        (json!([on(here, None), on(here, None)]), "chains"),
    ] {
        let error = env
            .err(
                "keyscope_prepareMultichainEnable",
                json!({ "session": record, "chains": chains }),
            )
            .await;
        assert_eq!(
            (error.code, error.field()),
            (-32602, field.into()),
            "{error:?}"
        );
    }

    let enable = env
        .ok(
            "keyscope_prepareMultichainEnable",
            json!({ "session": record, "chains": [
                { "chainId": here, "account": account.address },
                { "chainId": format!("{OTHER_CHAIN:#x}"), "account": account.address, "epoch": 0 }
            ]}),
        )
        .await;
    let session_id = hash_of(&enable["sessionId"]);
    let root = hash_of(&enable["chainsRoot"]);
    let digest = hash_of(&enable["digest"]);
    // The typed data is the digest a wallet signs; every entry's proof leads to the root.
    assert_eq!(typed_data_hash(&enable["typedData"]), digest);
    for (chain, entry) in [here, OTHER_CHAIN]
        .into_iter()
        .zip(enable["chains"].as_array().unwrap())
    {
        let proof: Vec<B256> = serde_json::from_value(entry["proof"].clone()).unwrap();
        let epoch = u64::from_str_radix(
            entry["epoch"].as_str().unwrap().trim_start_matches("0x"),
            16,
        )
        .unwrap();
        let leaf = multichain_leaf(chain, account.address, epoch, session_id);
        assert_eq!(process_proof(leaf, &proof), root, "{entry}");
    }

    // The owner signs once (raw digest); the session key's first operation here grants and uses the session.
    let owner_signature = Bytes::from(owner.sign_hash_bytes(&digest).unwrap().to_vec());
    let mut signed = enable.clone();
    signed["ownerSignature"] = json!(owner_signature);
    let call = json!([{ "to": token, "data": transfer_data(recipient, 30) }]);
    let prepare = |multichain: Value| {
        json!({ "account": account.address, "session": record, "calls": call,
                "multichainEnable": multichain })
    };

    // Another chain's proof for this chain's entry: refused by the service when the root is there to check…
    let mut swapped = signed.clone();
    swapped["chains"][0]["proof"] = enable["chains"][1]["proof"].clone();
    let error = env
        .err("keyscope_prepareSessionOperation", prepare(swapped.clone()))
        .await;
    assert_eq!(
        error.field(),
        "multichainEnable.chains[0].proof",
        "{error:?}"
    );
    // …and, without it, by the account's ERC-1271 check, which the service asks as the validator would: the proof
    // leads to another digest, which the owner did not sign (on chain, AA24: tests/multichain.rs).
    for member in ["chainsRoot", "digest", "typedData"] {
        swapped.as_object_mut().unwrap().remove(member);
    }
    let error = env
        .err("keyscope_prepareSessionOperation", prepare(swapped))
        .await;
    assert_eq!(
        (error.code, error.field()),
        (-32602, "multichainEnable.ownerSignature".into()),
        "{error:?}"
    );
    // A signature by someone else, or a malformed one.
    for signature in [
        Bytes::from(key.sign_hash_bytes(&digest).unwrap().to_vec()),
        Bytes::from(vec![1u8; 64]),
    ] {
        let mut unsigned = signed.clone();
        unsigned["ownerSignature"] = json!(signature);
        let error = env
            .err("keyscope_prepareSessionOperation", prepare(unsigned))
            .await;
        assert_eq!(
            error.field(),
            "multichainEnable.ownerSignature",
            "{error:?}"
        );
    }
    // An entry for another account only.
    let mut elsewhere = signed.clone();
    elsewhere["chains"] = json!([enable["chains"][1]]);
    let error = env
        .err("keyscope_prepareSessionOperation", prepare(elsewhere))
        .await;
    assert_eq!(error.field(), "multichainEnable.chains", "{error:?}");

    // Not stored before its first operation is prepared with the owner's signature.
    let by_id = json!({ "account": account.address, "session": session_id, "calls": call });
    let error = env.err("keyscope_prepareSessionOperation", by_id).await;
    assert_eq!(error.field(), "session", "{error:?}");
    // The typed data as a wallet may give it back (an address in lower case) is the same typed data.
    let mut relaxed = signed.clone();
    relaxed["typedData"]["domain"]["verifyingContract"] =
        json!(enable["validator"].as_str().unwrap().to_lowercase());
    let prepared = env
        .ok("keyscope_prepareSessionOperation", prepare(relaxed))
        .await;
    assert_eq!(prepared["multichainEnable"], true, "{prepared}");
    let sent = send_signed(&env, &prepared, &key).await.unwrap();
    assert!(env.send_transaction(&sent["transaction"]).await.status());
    assert_eq!(env.balance(token, recipient).await, U256::from(30));
    let status = env.client.session_status(&account, session_id).await;
    assert_eq!(status.unwrap(), SessionStatus::Active);

    // Granted: later operations name the session by id (stored when its first operation was prepared), in use
    // mode; the enable data is refused now.
    let error = env
        .err("keyscope_prepareSessionOperation", prepare(signed))
        .await;
    assert_eq!(error.field(), "multichainEnable", "{error:?}");
    let prepared = env
        .ok(
            "keyscope_prepareSessionOperation",
            json!({ "account": account.address, "session": session_id,
                    "calls": [{ "to": token, "data": transfer_data(recipient, 5) }] }),
        )
        .await;
    assert_eq!(prepared["multichainEnable"], false, "{prepared}");
    let sent = send_signed(&env, &prepared, &key).await.unwrap();
    assert!(env.send_transaction(&sent["transaction"]).await.status());
    assert_eq!(env.balance(token, recipient).await, U256::from(35));

    env.server.shutdown().await;
}
