//! Durable, shareable state, against the real parts: a SQLite file (in a temporary directory) and a PostgreSQL
//! server (`KEYSCOPE_TEST_POSTGRES_URL`, from `script/postgres.sh`; a fresh database per test). Records survive
//! a restart of the service and a `kill -9` of the binary; two instances on one PostgreSQL see each other's
//! sessions; the same create request twice leaves one record; a full store answers `-32005` and evicts nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::process::Child;

use common::{config_on, databases, env, env_with, post, serve, stored_sessions, transfer, Env};
use keyscope::alloy::node_bindings::AnvilInstance;
use keyscope::alloy::primitives::Address;
use keyscope::bundler::to_rpc;
use keyscope::signer::SessionKey;
use keyscope::Version;
use keyscope_rpc::{Config, ServiceOptions};
use serde_json::{json, Value};

/// A Keyscope session for `key`: `DemoToken.transfer` of at most 100 on `token`, until `until`.
fn session(key: &SessionKey, token: Address, until: u64) -> Value {
    json!({
        "signer": key.address(), "validAfter": 0, "validUntil": until,
        "permissions": [{ "target": token, "function": "transfer(address to,uint256 amount)",
                          "rules": [{ "arg": "amount", "op": "lte", "value": "100" }] }]
    })
}

/// An ERC-7715 native-token allowance request of `account` for `key`.
fn permission_request(chain: &str, account: Address, key: &SessionKey, until: u64) -> Value {
    json!([{ "chainId": chain, "from": account, "to": key.address(),
             "permission": { "type": "native-token-allowance", "isAdjustmentAllowed": false,
                             "data": { "allowanceAmount": "0x3e8", "justification": "tips" } },
             "rules": [{ "type": "expiry", "data": { "timestamp": until } }] }])
}

/// The sessions of a `keyscope_getSessions` answer (what listings say, without the block they were read at).
/// `keyscope_createSessions` of `session` for `account`, signed and sent by `owner`: the service's answer.
async fn create_and_grant(
    env: &Env,
    owner: &SessionKey,
    account: Address,
    session: Value,
) -> Value {
    let request = json!({ "account": { "address": account }, "sessions": [session] });
    let created = env.ok("keyscope_createSessions", request).await;
    env.sign_and_send(owner, &created).await;
    created
}

/// `wallet_requestExecutionPermissions` of `request`, its operation signed and sent by `owner`: the answer.
async fn request_and_grant(env: &Env, owner: &SessionKey, request: Value) -> Value {
    let granted = env.ok("wallet_requestExecutionPermissions", request).await;
    env.sign_and_send(owner, &granted[0]["keyscope"]).await;
    granted
}

async fn listed(env: &Env, account: Address) -> Value {
    env.ok("keyscope_getSessions", json!({ "account": account }))
        .await["sessions"]
        .clone()
}

#[tokio::test]
async fn records_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    for url in databases(dir.path()).await {
        let env = env_with(config_on(&url)).await;
        let chain = format!("{:#x}", env.client.chain_id());
        let (now, token, owner, key) = env.cast().await;
        let account = env.funded_account(&owner, 3, Version::V08).await;
        let granted = request_and_grant(
            &env,
            &owner,
            permission_request(&chain, account.address, &key, now + 3600),
        )
        .await;
        create_and_grant(
            &env,
            &owner,
            account.address,
            session(&key, token, now + 7200),
        )
        .await;
        let permissions = env
            .ok(
                "wallet_getGrantedExecutionPermissions",
                json!([account.address]),
            )
            .await;
        assert_eq!(permissions.as_array().unwrap().len(), 1, "{url}");
        assert_eq!(permissions[0]["context"], granted[0]["context"]);
        let sessions = listed(&env, account.address).await;
        assert_eq!(sessions.as_array().unwrap().len(), 2, "{url}");
        assert!(sessions
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["record"].is_object()));

        // Stop the service; a new one on the same database answers the same.
        let Env {
            anvil,
            client,
            server,
            http,
        } = env;
        server.shutdown().await;
        let env = Env {
            server: serve(&anvil, config_on(&url)).await,
            anvil,
            client,
            http,
        };
        assert_eq!(
            env.ok(
                "wallet_getGrantedExecutionPermissions",
                json!([account.address])
            )
            .await,
            permissions,
            "{url}"
        );
        assert_eq!(listed(&env, account.address).await, sessions, "{url}");
        assert_eq!(stored_sessions(&url).await, 2, "{url}");
        env.server.shutdown().await;
    }
}

#[tokio::test]
async fn two_instances_share_one_postgres() {
    let Some(url) = common::postgres_database().await else {
        return;
    };
    let env = env_with(config_on(&url)).await;
    let other = serve(&env.anvil, config_on(&url)).await;
    let on_other = |method: &'static str, params: Value| {
        let (http, url) = (env.http.clone(), other.url());
        async move {
            let answer = post(&http, &url, method, params).await;
            assert!(
                answer["result"].is_object() || answer["result"].is_array(),
                "{method}: {answer}"
            );
            answer["result"].clone()
        }
    };
    let chain = format!("{:#x}", env.client.chain_id());
    let (now, token, owner, key) = env.cast().await;
    let account = env.funded_account(&owner, 5, Version::V07).await;
    env.mint(token, account.address, 1_000).await;

    // Created on the first instance, granted by the owner.
    let created = create_and_grant(
        &env,
        &owner,
        account.address,
        session(&key, token, now + 3600),
    )
    .await;
    let granted = request_and_grant(
        &env,
        &owner,
        permission_request(&chain, account.address, &key, now + 3600),
    )
    .await;

    // Listed on the second, with the records the first built.
    let listing = on_other(
        "keyscope_getSessions",
        json!({ "account": account.address }),
    )
    .await;
    let sessions = listing["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listing}");
    assert_eq!(sessions[0]["record"], created["sessions"][0], "{listing}");
    assert_eq!(listing["sessions"], listed(&env, account.address).await);
    let permissions = on_other(
        "wallet_getGrantedExecutionPermissions",
        json!([account.address]),
    )
    .await;
    assert_eq!(permissions.as_array().unwrap().len(), 1, "{permissions}");
    assert_eq!(permissions[0]["context"], granted[0]["context"]);

    // Validated on the second: in scope, then out of scope.
    let compiled = common::compiled(&created["sessions"][0]);
    for (amount, valid) in [(100, true), (101, false)] {
        let calls = [transfer(token, Address::repeat_byte(7), amount)];
        let prepared = env
            .client
            .prepare_session_op(&account, &key, &compiled, &calls)
            .await
            .unwrap();
        let verdict = on_other(
            "keyscope_validateSession",
            json!([to_rpc(&prepared.op).unwrap()]),
        )
        .await;
        assert_eq!(verdict["valid"], valid, "{verdict}");
    }

    // The same session asked for on the second instance: the same answer, still one record.
    let again = on_other(
        "keyscope_createSessions",
        json!({ "account": { "address": account.address },
                "sessions": [session(&key, token, now + 3600)] }),
    )
    .await;
    assert_eq!(again["sessions"], created["sessions"]);
    assert_eq!(stored_sessions(&url).await, 2);
    other.shutdown().await;
    env.server.shutdown().await;
}

#[tokio::test]
async fn the_same_request_twice_is_one_record() {
    let dir = tempfile::tempdir().unwrap();
    for url in databases(dir.path()).await {
        let env = env_with(config_on(&url)).await;
        let (now, token, owner, key) = env.cast().await;
        // An account not deployed yet: the answer deploys it, installs the validator and grants the session.
        let request = json!({
            "account": { "owner": owner.address(), "salt": "0x9", "entryPoint": "v0.8" },
            "sessions": [session(&key, token, now + 3600)]
        });
        let first = env.ok("keyscope_createSessions", request.clone()).await;
        let second = env.ok("keyscope_createSessions", request.clone()).await;
        assert_eq!(first, second, "{url}");
        // Concurrently, on one instance and on another on the same database.
        let twin = serve(&env.anvil, config_on(&url)).await;
        let twin_url = twin.url();
        let (a, b) = tokio::join!(
            env.call("keyscope_createSessions", request.clone()),
            post(
                &env.http,
                &twin_url,
                "keyscope_createSessions",
                request.clone()
            ),
        );
        assert_eq!(a.unwrap(), first);
        assert_eq!(b["result"], first);
        assert_eq!(stored_sessions(&url).await, 1, "{url}");
        twin.shutdown().await;
        env.server.shutdown().await;
    }
}

#[tokio::test]
async fn a_full_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for url in databases(dir.path()).await {
        let mut config = config_on(&url);
        config.service.max_stored_sessions = 2;
        let env = env_with(config).await;
        let (now, token, owner, key) = env.cast().await;
        let account = env.funded_account(&owner, 4, Version::V08).await.address;
        let create = |sessions: Vec<Value>| json!({ "account": { "address": account }, "sessions": sessions });
        let first = create(vec![
            session(&key, token, now + 100),
            session(&key, token, now + 200),
        ]);
        env.ok("keyscope_createSessions", first.clone()).await;
        // One stored session and one new one: refused whole, with the store's figures.
        let error = env
            .err(
                "keyscope_createSessions",
                create(vec![
                    session(&key, token, now + 200),
                    session(&key, token, now + 300),
                ]),
            )
            .await;
        assert_eq!(error.code, -32005, "{url}: {error:?}");
        assert!(
            error.message.contains("the session store is full"),
            "{}",
            error.message
        );
        assert_eq!(error.data["reason"], "storeFull");
        assert_eq!(error.data["newSessions"], 1);
        assert_eq!(error.data["storedSessions"], 2);
        assert_eq!(error.data["maxStoredSessions"], 2);
        // The same for ERC-7715 requests.
        let chain = format!("{:#x}", env.client.chain_id());
        let error = env
            .err(
                "wallet_requestExecutionPermissions",
                permission_request(&chain, account, &key, now + 3600),
            )
            .await;
        assert_eq!(error.code, -32005, "{error:?}");
        // Nothing was evicted, and what is stored can still be asked for again.
        env.ok("keyscope_createSessions", first).await;
        assert_eq!(stored_sessions(&url).await, 2, "{url}");
        env.server.shutdown().await;
    }
}

/// The binary on `anvil` with `database`; its URL.
fn spawn(anvil: &AnvilInstance, database: &str) -> (Child, String) {
    let binary = common::spawn_binary(anvil, database, &[]);
    let line = &binary.first_line;
    // The database is named, without credentials.
    assert!(line.contains("sessions stored in"), "{line}");
    assert!(!line.contains("keyscope-test@"), "{line}");
    (binary.child, binary.url)
}

#[tokio::test]
async fn kill_9_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The test's own service (in memory) builds the owner's handleOps transactions.
    let env = env().await;
    for database in databases(dir.path()).await {
        let (now, token, owner, key) = env.cast().await;
        let account = env.funded_account(&owner, 11, Version::V08).await;
        let (mut child, url) = spawn(&env.anvil, &database);
        let created = post(
            &env.http,
            &url,
            "keyscope_createSessions",
            json!({ "account": { "address": account.address },
                    "sessions": [session(&key, token, now + 3600), session(&key, token, now + 3601)] }),
        )
        .await["result"]
            .clone();
        assert!(created["userOpHash"].is_string(), "{created}");
        // Killed at once after answering: no graceful stop, no chance to flush anything.
        child.kill().unwrap();
        child.wait().unwrap();
        env.sign_and_send(&owner, &created).await;

        let (mut child, url) = spawn(&env.anvil, &database);
        let listing = post(
            &env.http,
            &url,
            "keyscope_getSessions",
            json!({ "account": account.address }),
        )
        .await;
        let sessions = listing["result"]["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 2, "{listing}");
        for (listed, record) in sessions.iter().zip(created["sessions"].as_array().unwrap()) {
            assert_eq!(&listed["record"], record, "{database}");
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(stored_sessions(&database).await, 2, "{database}");
    }
    env.server.shutdown().await;
}

#[tokio::test]
async fn a_bad_database_url_stops_the_start() {
    let anvil = keyscope_e2e::anvil();
    let _client = keyscope_e2e::client(&anvil).await;
    for url in [
        "mysql://localhost/keyscope",
        "sqlite:///nonexistent-directory/sessions.sqlite",
    ] {
        let error = keyscope_rpc::start(Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            rpc_url: anvil.endpoint(),
            service: ServiceOptions {
                database_url: url.into(),
                ..ServiceOptions::default()
            },
            ..Config::default()
        })
        .await
        .err()
        .unwrap();
        assert_eq!(error.field(), Some("--database-url"), "{url}: {error}");
    }
}
