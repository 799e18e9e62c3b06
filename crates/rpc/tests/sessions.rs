//! keyscope_createSessions → the owner sends the returned operation → keyscope_getSessions shows it →
//! keyscope_validateSession says true in scope and names the rule out of scope → keyscope_revokeSessions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{compiled, env, env_with, post, serve, transfer};
use keyscope::alloy::primitives::{Address, Bytes, U256};
use keyscope::alloy::providers::Provider;
use keyscope::alloy::sol_types::SolCall;
use keyscope::bindings::KeyscopeAccountFactory;
use keyscope::bundler::to_rpc;
use keyscope::permissions::{PermissionSpec, SessionSpec, Target};
use keyscope::signer::SessionKey;
use keyscope::{
    max_operation_cost, Account, GasSettings, PreparedOp, SessionCall, SessionStatus, Version,
};
use keyscope_rpc::{Config, Limits, ServiceOptions};
use serde_json::{json, Value};

#[tokio::test]
async fn create_use_validate_revoke() {
    let env = env().await;
    let (now, token, owner, key) = env.cast().await;
    let recipient = Address::repeat_byte(0x42);

    // An account that does not exist yet: the returned operation creates it and grants the session.
    let answer = env
        .ok(
            "keyscope_createSessions",
            json!({
                "chainId": format!("{:#x}", env.client.chain_id()),
                "account": { "owner": owner.address(), "salt": "0x7", "entryPoint": "v0.7" },
                "sessions": [{
                    "signer": key.address(), "validAfter": 0, "validUntil": now + 3600,
                    "permissions": [{ "target": token, "function": "transfer(address to,uint256 amount)",
                                      "rules": [{ "arg": "amount", "op": "lte", "value": "100" }] }]
                }]
            }),
        )
        .await;
    assert_eq!(answer["deployed"], false);
    assert_eq!(answer["entryPointVersion"], "v0.7");
    assert!(answer["userOp"]["factory"].is_string(), "{answer}");
    let account: Address = serde_json::from_value(answer["account"].clone()).unwrap();
    assert_eq!(
        account,
        env.client
            .account_address(owner.address(), U256::from(7), Version::V07, true)
            .await
            .unwrap()
    );
    let record = &answer["sessions"][0];
    let session = compiled(record);
    assert_eq!(record["sessionId"], json!(session.session_id()));
    // No fee scope nor paymaster asked for: the safe defaults, without warnings.
    assert_eq!(
        record["feeScope"],
        json!({ "perOperation": "0.01 ether", "budget": "0.1 ether" })
    );
    assert_eq!(record["session"]["maxOperationFee"], "0x2386f26fc10000");
    assert_eq!(record["session"]["feeBudget"], "0x16345785d8a0000");
    assert_eq!(record["spec"]["paymaster"], "none");
    assert_eq!(record["session"]["paymasterPolicy"], 1);
    assert!(record.get("warnings").is_none(), "{record}");
    assert_eq!(record["root"], json!(session.session.permissionsRoot));
    assert_eq!(
        record["permissions"][0]["proof"],
        json!(session.proof(0).unwrap())
    );
    assert_eq!(
        answer["calls"][0]["to"],
        json!(env.client.stack().session_key_validator)
    );

    // The owner signs and sends it (the account pays the EntryPoint, so it needs ETH first).
    assert_eq!(
        env.fund_and_grant(&owner, &answer, token, 1_000).await,
        account
    );

    let listed = env.ok("keyscope_getSessions", json!([account])).await;
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{listed}");
    assert_eq!(sessions[0]["status"], "active");
    assert_eq!(sessions[0]["sessionId"], record["sessionId"]);
    assert_eq!(sessions[0]["signer"], json!(key.address()));
    assert_eq!(
        sessions[0]["record"]["permissions"][0]["leaf"],
        record["permissions"][0]["leaf"]
    );
    assert_eq!(sessions[0]["feesCharged"], "0x0");
    assert_eq!(sessions[0]["feesLeft"], "0x16345785d8a0000");

    // In scope: valid. The session key signs; the service only answers.
    let account = Account {
        address: account,
        version: Version::V07,
    };
    // The session key's transfer of `amount` to the recipient, prepared and signed by the client.
    let prepare = |amount: u64| {
        let (client, key, session) = (&env.client, &key, &session);
        let calls = [transfer(token, recipient, amount)];
        async move {
            client
                .prepare_session_op(&account, key, session, &calls)
                .await
                .unwrap()
        }
    };
    let op = prepare(100).await;
    let verdict = env
        .ok(
            "keyscope_validateSession",
            json!([to_rpc(&op.op).unwrap(), env.client.stack().v07.entry_point]),
        )
        .await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["explain"]["accepted"], true);
    assert_eq!(verdict["sessionId"], record["sessionId"]);

    // Out of scope: amount 500 > 100 fails rule 0, named.
    let op = prepare(500).await;
    let verdict = env
        .ok(
            "keyscope_validateSession",
            json!({ "userOp": to_rpc(&op.op).unwrap() }),
        )
        .await;
    assert_eq!(verdict["valid"], false, "{verdict}");
    assert_eq!(
        verdict["failure"]["rule"], "ArgumentRuleFailed",
        "{verdict}"
    );
    assert_eq!(verdict["failure"]["code"], "AA23");
    assert_eq!(
        verdict["simulation"]["failure"]["rule"],
        "ArgumentRuleFailed"
    );
    assert!(
        verdict["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("500"),
        "{verdict}"
    );

    // The valid one really goes through, charged its maximum cost, which the listing shows.
    let op = prepare(100).await;
    let cost = max_operation_cost(&op.op);
    assert!(cost > U256::ZERO);
    let sent = env.client.send(&op).await.unwrap();
    assert!(sent.success);
    assert_eq!(env.balance(token, recipient).await, U256::from(100));
    let listed = env
        .ok("keyscope_getSessions", json!([account.address]))
        .await;
    assert_eq!(listed["sessions"][0]["feesCharged"], format!("{cost:#x}"));
    let budget = U256::from(10u128.pow(17));
    assert_eq!(
        listed["sessions"][0]["feesLeft"],
        format!("{:#x}", budget - cost)
    );

    // Revoke: the owner signs the returned operation; the session is listed revoked and no longer validates.
    let revoke = env
        .ok(
            "keyscope_revokeSessions",
            json!({ "account": { "address": account.address }, "sessionIds": [record["sessionId"]] }),
        )
        .await;
    assert_eq!(revoke["calls"].as_array().unwrap().len(), 1);
    env.sign_and_send(&owner, &revoke).await;
    let listed = env
        .ok(
            "keyscope_getSessions",
            json!({ "account": account.address }),
        )
        .await;
    assert_eq!(listed["sessions"][0]["status"], "revoked", "{listed}");
    assert!(listed["sessions"][0]["revokedIn"]["transactionHash"].is_string());
    let verdict = env
        .validate_calls(&account, &key, &session, &[transfer(token, recipient, 1)])
        .await;
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["failure"]["rule"], "SessionNotActive", "{verdict}");

    env.server.shutdown().await;
}

#[tokio::test]
async fn particle_shape_on_an_existing_account() {
    let env = env().await;
    let (now, token, owner, key) = env.cast().await;
    let recipient = Address::repeat_byte(0x77);
    let account = env.funded_account(&owner, 0, Version::V08).await;
    env.mint(token, account.address, 1_000).await;

    // Particle's positional form [accountConfig, sessions] with Biconomy's ERC-20 module.
    let answer = env
        .ok(
            "keyscope_createSessions",
            json!([
                { "name": "KEYSCOPE", "version": "0.8", "ownerAddress": owner.address() },
                [{
                    "validUntil": now + 3600, "validAfter": 0,
                    "sessionValidationModule": "0x000000D50C68705bd6897B2d17c7de32FB519fDA",
                    "sessionKeyDataInAbi": [["address", "address", "address", "uint256"],
                                            [key.address(), token, recipient, "250"]]
                }]
            ]),
        )
        .await;
    assert_eq!(answer["deployed"], true);
    assert_eq!(answer["account"], json!(account.address));
    assert!(answer["userOp"]["factory"].is_null());
    let spec = &answer["sessions"][0]["spec"]["permissions"][0];
    assert_eq!(spec["function"], "transfer(address to,uint256 amount)");
    assert_eq!(spec["rules"][0]["op"], "eq");
    assert_eq!(spec["rules"][1]["op"], "lte");
    env.sign_and_send(&owner, &answer).await;

    let session = compiled(&answer["sessions"][0]);
    let verdict = env
        .validate_calls(&account, &key, &session, &[transfer(token, recipient, 250)])
        .await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    // Another recipient breaks the EQ rule on `to`.
    let verdict = env
        .validate_calls(
            &account,
            &key,
            &session,
            &[transfer(token, Address::repeat_byte(1), 1)],
        )
        .await;
    assert_eq!(
        verdict["failure"]["rule"], "ArgumentRuleFailed",
        "{verdict}"
    );

    // A module with no Keyscope equivalent is refused, naming the field.
    let error = env
        .err(
            "keyscope_createSessions",
            json!([
                { "name": "KEYSCOPE", "version": "0.8", "ownerAddress": owner.address() },
                [{ "validUntil": now + 60, "validAfter": 0,
                   "sessionValidationModule": "0x7Ba4a7338D7A90dfA465cF975Cc6691812C3772E",
                   "sessionKeyDataInAbi": [["address"], [key.address()]] }]
            ]),
        )
        .await;
    assert_eq!(error.code, -32602);
    assert_eq!(
        error.field(),
        "sessions[0].sessionValidationModule",
        "{error:?}"
    );
    // And a Biconomy account is not one this service serves.
    let error = env
        .err(
            "keyscope_createSessions",
            json!([{ "name": "BICONOMY", "version": "2.0.0", "ownerAddress": owner.address() }, []]),
        )
        .await;
    assert_eq!(error.code, -32602);
    env.server.shutdown().await;
}

/// Listings read the events in chunks of `--log-chunk-blocks`, answer in pages of at most
/// `sessionsPerListing`, derive each state from the events and the epoch (as `sessionStatus` does), and never
/// read below `--from-block`, whatever `fromBlock` the caller gives.
#[tokio::test]
async fn listings_are_chunked_paged_and_bounded() {
    let env = env_with(Config {
        service: ServiceOptions {
            log_chunk_blocks: 2,
            limits: Limits {
                sessions_per_listing: 2,
                ..Limits::default()
            },
            ..ServiceOptions::default()
        },
        ..Config::default()
    })
    .await;
    let now = keyscope_e2e::now(env.client.provider()).await;
    let owner = SessionKey::generate();
    let key = SessionKey::generate();
    let account = env.funded_account(&owner, 0, Version::V07).await;
    let sessions: Vec<Value> = (1..=3)
        .map(|i| {
            json!({ "signer": key.address(), "validUntil": now + 3600 * i,
                    "permissions": [{ "target": "*", "native_transfer": true, "value_limit": "1 gwei" }] })
        })
        .collect();
    let answer = env
        .ok(
            "keyscope_createSessions",
            json!({ "account": { "address": account.address }, "sessions": sessions }),
        )
        .await;
    env.sign_and_send(&owner, &answer).await;
    let ids: Vec<Value> = (0..3)
        .map(|i| answer["sessions"][i]["sessionId"].clone())
        .collect();
    let revoke = env
        .ok(
            "keyscope_revokeSessions",
            json!({ "account": { "address": account.address }, "sessionIds": [ids[0]] }),
        )
        .await;
    env.sign_and_send(&owner, &revoke).await;

    // Page 1 of 2: the revoked one and an active one, with their records.
    let page = env
        .ok(
            "keyscope_getSessions",
            json!({ "account": account.address, "limit": 2 }),
        )
        .await;
    assert_eq!(page["total"], 3, "{page}");
    assert_eq!(page["nextOffset"], 2, "{page}");
    let listed = page["sessions"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (&listed[0]["sessionId"], &listed[0]["status"]),
        (&ids[0], &json!("revoked"))
    );
    assert!(listed[0]["revokedIn"]["transactionHash"].is_string());
    assert_eq!(
        (&listed[1]["sessionId"], &listed[1]["status"]),
        (&ids[1], &json!("active"))
    );
    assert!(listed[1]["record"]["permissions"][0]["leaf"].is_string());
    // The states are the validator's own.
    for (entry, expected) in listed
        .iter()
        .zip([SessionStatus::Revoked, SessionStatus::Active])
    {
        let id = serde_json::from_value(entry["sessionId"].clone()).unwrap();
        assert_eq!(
            env.client.session_status(&account, id).await.unwrap(),
            expected
        );
    }
    // One permission of the active session: the owner revokes its leaf; the session stays active and its listing
    // names the leaf. sessionIds, permissions and all are exclusive.
    let leaf = listed[1]["record"]["permissions"][0]["leaf"].clone();
    let error = env
        .err(
            "keyscope_revokeSessions",
            json!({ "account": { "address": account.address }, "sessionIds": [ids[0]],
                    "permissions": [{ "sessionId": ids[1], "leaf": leaf }] }),
        )
        .await;
    assert_eq!(
        (error.code, error.field().as_str()),
        (-32602, "permissions")
    );
    let error = env
        .err(
            "keyscope_revokeSessions",
            json!({ "account": { "address": account.address }, "permissions": [] }),
        )
        .await;
    assert_eq!(
        (error.code, error.field().as_str()),
        (-32602, "permissions")
    );
    let revoke_one = env
        .ok(
            "keyscope_revokeSessions",
            json!({ "account": { "address": account.address },
                    "permissions": [{ "sessionId": ids[1], "leaf": leaf }] }),
        )
        .await;
    assert_eq!(revoke_one["permissions"][0]["leaf"], leaf, "{revoke_one}");
    env.sign_and_send(&owner, &revoke_one).await;
    let page = env
        .ok(
            "keyscope_getSessions",
            json!({ "account": account.address, "offset": 1, "limit": 1 }),
        )
        .await;
    assert_eq!(page["sessions"][0]["status"], "active", "{page}");
    assert_eq!(
        page["sessions"][0]["revokedPermissions"],
        json!([leaf]),
        "{page}"
    );
    let id = serde_json::from_value(ids[1].clone()).unwrap();
    let leaf = serde_json::from_value(leaf).unwrap();
    let validator = keyscope::bindings::SessionKeyValidator::new(
        env.client.stack().session_key_validator,
        env.client.provider(),
    );
    assert!(validator
        .permissionRevoked(account.address, id, leaf)
        .call()
        .await
        .unwrap());

    // Page 2: the last one, and no further page.
    let page = env
        .ok(
            "keyscope_getSessions",
            json!({ "account": account.address, "offset": 2 }),
        )
        .await;
    assert_eq!(page["sessions"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["sessions"][0]["sessionId"], ids[2]);
    assert!(page.get("nextOffset").is_none(), "{page}");
    // A page is at most sessionsPerListing.
    let error = env
        .err(
            "keyscope_getSessions",
            json!({ "account": account.address, "limit": 3 }),
        )
        .await;
    assert_eq!((error.code, error.field().as_str()), (-32602, "limit"));

    // revokeAllSessions: a new epoch; every session, the revoked one too, is void.
    let revoke_all = env
        .ok(
            "keyscope_revokeSessions",
            json!({ "account": { "address": account.address }, "all": true }),
        )
        .await;
    env.sign_and_send(&owner, &revoke_all).await;
    let listed = env
        .ok(
            "keyscope_getSessions",
            json!({ "account": account.address, "offset": 0, "limit": 2 }),
        )
        .await;
    let statuses: Vec<&Value> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["status"])
        .collect();
    assert_eq!(statuses, [&json!("void"), &json!("void")], "{listed}");
    let id = serde_json::from_value(ids[0].clone()).unwrap();
    assert_eq!(
        env.client.session_status(&account, id).await.unwrap(),
        SessionStatus::Unknown
    );

    // A service whose --from-block is after all that never reads below it, whatever fromBlock says.
    let head = env.client.provider().get_block_number().await.unwrap();
    let later = serve(
        &env.anvil,
        Config {
            service: ServiceOptions {
                from_block: head + 1,
                ..ServiceOptions::default()
            },
            ..Config::default()
        },
    )
    .await;
    let answer = post(
        &env.http,
        &later.url(),
        "keyscope_getSessions",
        json!({ "account": account.address, "fromBlock": 0 }),
    )
    .await;
    assert_eq!(answer["result"]["fromBlock"], head + 1, "{answer}");
    assert_eq!(answer["result"]["sessions"], json!([]), "{answer}");
    later.shutdown().await;
    env.server.shutdown().await;
}

/// When the chain rejects an operation for another reason than the one `explain` finds, the failure reported is
/// the chain's: an `initCode` that deploys another account is `AA14`, although `explain` (which does not model
/// `initCode`) sees an account without the validator (`AA24`).
#[tokio::test]
async fn validation_reports_the_chains_reason() {
    let env = env().await;
    let now = keyscope_e2e::now(env.client.provider()).await;
    let key = SessionKey::generate();
    let owner = SessionKey::generate();
    let sender = env
        .client
        .account_address(owner.address(), U256::from(5), Version::V07, true)
        .await
        .unwrap();
    let session = SessionSpec {
        signer: key.address(),
        signer_key: None,
        valid_after: 0,
        valid_until: now + 3600,
        paymaster: Default::default(),
        fees: Default::default(),
        salt: Default::default(),
        permissions: vec![PermissionSpec::native_transfer(Target::Any, U256::from(1))],
        typed_data: Vec::new(),
    }
    .compile()
    .unwrap();
    let account = Account {
        address: sender,
        version: Version::V07,
    };
    let mut op = env
        .client
        .prepare_session_op(
            &account,
            &key,
            &session,
            &[SessionCall::new(Address::repeat_byte(1), Bytes::new(), 0)],
        )
        .await
        .unwrap()
        .op;
    // The factory call creates the account of someone else: not `sender`.
    let stack = env.client.stack();
    let create = KeyscopeAccountFactory::createAccountCall {
        owner: SessionKey::generate().address(),
        salt: U256::from(5),
        extraValidators: vec![stack.session_key_validator],
        extraInitData: vec![Bytes::new()],
    }
    .abi_encode();
    op.initCode = [stack.v07.account_factory.as_slice(), &create]
        .concat()
        .into();
    let verdict = env
        .ok(
            "keyscope_validateSession",
            json!({ "userOp": to_rpc(&op).unwrap(), "entryPoint": "v0.7" }),
        )
        .await;
    assert_eq!(verdict["valid"], false, "{verdict}");
    assert_eq!(verdict["explain"]["accepted"], false, "{verdict}");
    assert_eq!(verdict["failure"]["source"], "simulation", "{verdict}");
    assert_eq!(verdict["failure"]["code"], "AA14", "{verdict}");
    assert_eq!(verdict["failure"]["rule"], "AA14", "{verdict}");
    env.server.shutdown().await;
}

/// `op` with a huge `preVerificationGas` and `maxFeePerGas`, signed again by `key`: what a leaked key can sign
/// without the SDK's fee check.
fn drain(env: &common::Env, mut prepared: PreparedOp, key: &SessionKey) -> PreparedOp {
    prepared.op.preVerificationGas = U256::from(5_000_000u64);
    prepared.op.set_gas_fees(100_000_000_000, 100_000_000_000);
    keyscope_e2e::resign(&env.client, &mut prepared, key);
    prepared
}

/// The fee scope in requests: the safe default, explicit bounds, unlimited ones only when written out (and
/// answered with a warning), the Particle shape's extension, errors naming the field; and the validator's
/// verdict on an operation over the bound, as `keyscope_validateSession` reports it.
#[tokio::test]
async fn fee_scopes_in_requests() {
    let env = env().await;
    let (now, token, owner, key) = env.cast().await;
    let account = env.funded_account(&owner, 11, Version::V08).await;
    env.mint(token, account.address, 1_000).await;
    let session = |extra: Value| {
        let mut session = json!({
            "signer": key.address(), "validUntil": now + 3600,
            "permissions": [{ "target": token, "function": "transfer(address to,uint256 amount)" }]
        });
        for (name, value) in extra.as_object().unwrap() {
            session[name] = value.clone();
        }
        session
    };
    let answer = env
        .ok(
            "keyscope_createSessions",
            json!({ "account": { "address": account.address }, "sessions": [
                session(json!({ "fees": { "perOperation": "0.002 ether", "budget": "0.005 ether" } })),
                session(json!({ "fees": { "per_operation": "0.001 ether", "budget": "unlimited" }, "salt": 1 })),
                session(json!({ "fees": { "perOperation": "unlimited", "budget": "unlimited" }, "salt": 2 })),
                session(json!({ "paymaster": "any", "salt": 3 })),
            ] }),
        )
        .await;
    let records = answer["sessions"].as_array().unwrap();
    assert_eq!(
        records[0]["feeScope"],
        json!({ "perOperation": "0.002 ether", "budget": "0.005 ether" })
    );
    assert_eq!(records[0]["session"]["maxOperationFee"], "0x71afd498d0000");
    assert!(records[0].get("warnings").is_none(), "{}", records[0]);
    assert_eq!(
        records[1]["feeScope"],
        json!({ "perOperation": "0.001 ether", "budget": "unlimited" })
    );
    let warnings = records[1]["warnings"].to_string();
    assert!(warnings.contains("UNLIMITED FEE BUDGET"), "{warnings}");
    assert_eq!(
        records[2]["session"]["maxOperationFee"],
        "0xffffffffffffffffffffffffffffffff"
    );
    let warnings = records[2]["warnings"].to_string();
    assert!(warnings.contains("UNLIMITED FEES"), "{warnings}");
    // `any` stays an explicit choice.
    assert_eq!(records[3]["session"]["paymasterPolicy"], 0);
    assert_eq!(records[3]["feeScope"]["budget"], "0.1 ether");

    // Errors name the field, in the caller's names.
    for (fees, field, needle) in [
        (json!("unlimited"), "sessions[0].fees", ""),
        (
            json!({ "perOperation": "1 banana", "budget": "1 ether" }),
            "sessions[0].fees.perOperation",
            "banana",
        ),
        (
            json!({ "perOperation": "1 ether" }),
            "sessions[0].fees",
            "budget",
        ),
    ] {
        let error = env
            .err(
                "keyscope_createSessions",
                json!({ "account": { "address": account.address }, "sessions": [session(json!({ "fees": fees }))] }),
            )
            .await;
        assert_eq!(
            (error.code, error.field().as_str()),
            (-32602, field),
            "{error:?}"
        );
        assert!(error.message.contains(needle), "{error:?}");
    }

    // The Particle shape: the safe default, or the Keyscope extensions.
    let particle = |extra: Value| {
        let mut session = json!({
            "validUntil": now + 3600, "validAfter": 0,
            "sessionValidationModule": "0x000000D50C68705bd6897B2d17c7de32FB519fDA",
            "sessionKeyDataInAbi": [["address", "address", "address", "uint256"],
                                    [key.address(), token, Address::repeat_byte(7), "5"]]
        });
        for (name, value) in extra.as_object().unwrap() {
            session[name] = value.clone();
        }
        json!({ "account": { "address": account.address }, "sessions": [session] })
    };
    let plain = env.ok("keyscope_createSessions", particle(json!({}))).await;
    assert_eq!(
        plain["sessions"][0]["feeScope"],
        json!({ "perOperation": "0.01 ether", "budget": "0.1 ether" })
    );
    assert_eq!(plain["sessions"][0]["session"]["paymasterPolicy"], 1);
    let extended = env
        .ok(
            "keyscope_createSessions",
            particle(json!({
                "fees": { "perOperation": "0.003 ether", "budget": "0.03 ether" }, "paymaster": "any"
            })),
        )
        .await;
    assert_eq!(
        extended["sessions"][0]["feeScope"],
        json!({ "perOperation": "0.003 ether", "budget": "0.03 ether" })
    );
    assert_eq!(extended["sessions"][0]["session"]["paymasterPolicy"], 0);
    let error = env
        .err(
            "keyscope_createSessions",
            particle(json!({ "fees": { "perOperation": "-1", "budget": "1 ether" } })),
        )
        .await;
    assert_eq!(
        (error.code, error.field().as_str()),
        (-32602, "sessions[0].fees.perOperation"),
        "{error:?}"
    );

    // Granted, the first session (0.002 ether per operation, 0.005 in all) works within its scope; a leaked
    // key's operation over the bound is refused by the validator, as the service reports it.
    env.sign_and_send(&owner, &answer).await;
    let bounded = compiled(&records[0]);
    let client = env.client.clone().with_gas(GasSettings {
        max_priority_fee_per_gas: Some(1_000_000_000),
        max_fee_per_gas: Some(1_000_000_000),
        ..GasSettings::default()
    });
    let op = client
        .prepare_session_op(
            &account,
            &key,
            &bounded,
            &[transfer(token, Address::repeat_byte(8), 1)],
        )
        .await
        .unwrap();
    let cost = max_operation_cost(&op.op);
    assert!(cost <= U256::from(2 * 10u128.pow(15)), "{cost}");
    let verdict = env.validate(&op.op).await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert!(client.send(&op).await.unwrap().success);
    let drained = drain(
        &env,
        client
            .prepare_session_op(
                &account,
                &key,
                &bounded,
                &[transfer(token, Address::repeat_byte(8), 1)],
            )
            .await
            .unwrap(),
        &key,
    );
    let verdict = env.validate(&drained.op).await;
    assert_eq!(verdict["valid"], false, "{verdict}");
    assert_eq!(verdict["failure"]["code"], "AA23", "{verdict}");
    assert_eq!(
        verdict["failure"]["rule"], "OperationFeeExceeded",
        "{verdict}"
    );
    assert_eq!(
        verdict["simulation"]["failure"]["rule"], "OperationFeeExceeded",
        "{verdict}"
    );
    // The listing shows what was charged and what is left.
    let listed = env
        .ok("keyscope_getSessions", json!([account.address]))
        .await;
    let entry = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["sessionId"] == records[0]["sessionId"])
        .unwrap()
        .clone();
    assert_eq!(entry["feesCharged"], format!("{cost:#x}"), "{entry}");
    assert_eq!(
        entry["feesLeft"],
        format!("{:#x}", U256::from(5 * 10u128.pow(15)) - cost),
        "{entry}"
    );
    assert_eq!(
        entry["record"]["feeScope"],
        json!({ "perOperation": "0.002 ether", "budget": "0.005 ether" })
    );
    // The budget runs out: the SDK refuses before signing.
    let mut sent = 1;
    let error = loop {
        match client
            .prepare_session_op(
                &account,
                &key,
                &bounded,
                &[transfer(token, Address::repeat_byte(8), 1)],
            )
            .await
        {
            Ok(op) => {
                assert!(client.send(&op).await.unwrap().success);
                sent += 1;
                assert!(sent < 10, "the budget never ran out");
            }
            Err(error) => break error,
        }
    };
    assert!(
        matches!(&error, keyscope::Error::FeeScopeExceeded(e) if e.limit_kind == keyscope::FeeLimit::Budget),
        "{error}"
    );
    let charged = client
        .fees_charged(&account, bounded.session_id())
        .await
        .unwrap();
    assert!(charged <= U256::from(5 * 10u128.pow(15)), "{charged}");
    env.server.shutdown().await;
}
