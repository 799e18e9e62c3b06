//! Failure modes a long-running client meets, on anvil: the node restarted without state (the stack is gone), the
//! chain id changed under the client, and several sessions of one account sending at the same time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeSet;

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use keyscope::permissions::CompiledSession;
use keyscope::signer::SessionKey;
use keyscope::{nonce_key, session_lane, Account, Client, Error, SessionCall, Stack, Version};
use keyscope_e2e::{
    anvil_path, balance, client as client_on, deploy_token, funded_account, funded_provider, grant,
    lane_key, mint_tokens, now, transfer, SessionJson,
};

/// A session of `key` (salt `salt`) that may call `transfer` on `token`, from `t - 1` until `t + 3600`.
fn session(key: &SessionKey, token: Address, t: u64, salt: u8) -> CompiledSession {
    SessionJson::new(key, t)
        .salt(salt)
        .transfer_of(token)
        .compile()
}

/// An account on EntryPoint `version` with ETH, a deposit and tokens, and a token.
async fn account(client: &Client, owner: &SessionKey, version: Version) -> (Account, Address) {
    let token = deploy_token(client).await;
    let account = funded_account(client, owner.address(), version, 1, Some(10u128.pow(17))).await;
    mint_tokens(client, token, account.address, 1_000_000).await;
    (account, token)
}

fn anvil_on(port: u16, chain_id: Option<u64>) -> AnvilInstance {
    let mut anvil = Anvil::at(anvil_path()).port(port);
    if let Some(id) = chain_id {
        anvil = anvil.chain_id(id);
    }
    anvil.spawn()
}

/// An account of `owner` on EntryPoint `version` (with [`account`]'s token), a session of `key` (salt `salt`)
/// granted on it, and a transfer the session allows.
async fn granted(
    client: &Client,
    owner: &SessionKey,
    key: &SessionKey,
    version: Version,
    salt: u8,
) -> (Account, CompiledSession, [SessionCall; 1]) {
    let (account, token) = account(client, owner, version).await;
    let compiled = session(key, token, now(client.provider()).await, salt);
    grant(client, &account, owner, &compiled).await;
    (
        account,
        compiled,
        [transfer(token, Address::repeat_byte(0x42), 1)],
    )
}

/// A node about to be restarted and the client on it, an owner's account on EntryPoint `version` with tokens, a
/// session (salt 1) of `key` granted on it, and a transfer it allows ([`granted`]).
struct Restartable {
    node: AnvilInstance,
    client: Client,
    owner: SessionKey,
    key: SessionKey,
    account: Account,
    session: CompiledSession,
    call: [SessionCall; 1],
}

async fn restartable(version: Version) -> Restartable {
    let node = keyscope_e2e::anvil();
    let client = client_on(&node).await;
    let owner = SessionKey::generate();
    let key = SessionKey::generate();
    let (account, session, call) = granted(&client, &owner, &key, version, 1).await;
    Restartable {
        node,
        client,
        owner,
        key,
        account,
        session,
        call,
    }
}

/// The node restarts on the same port with empty state: the client reports the missing stack by name, and works
/// again once the stack is redeployed.
#[tokio::test(flavor = "multi_thread")]
async fn restarted_node_reports_the_missing_stack() {
    let Restartable {
        node: first,
        client,
        owner,
        key,
        account,
        session: compiled,
        call,
        ..
    } = restartable(Version::V07).await;
    let port = first.port();
    assert!(
        client
            .send_session_op(&account, &key, &compiled, &call)
            .await
            .unwrap()
            .success
    );

    drop(first);
    let second = anvil_on(port, None);
    let stack = client.stack().clone();

    let error = client
        .send_session_op(&account, &key, &compiled, &call)
        .await
        .unwrap_err();
    match &error {
        Error::StackNotDeployed { name, address } => {
            assert_eq!(*name, "EntryPoint v0.7");
            assert_eq!(*address, stack.v07.entry_point);
        }
        other => panic!("expected StackNotDeployed, got {other:?}"),
    }
    assert!(
        error.to_string().contains("EntryPoint v0.7 has no code"),
        "{error}"
    );
    let error = client
        .create_account(owner.address(), U256::from(1), Version::V08)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::StackNotDeployed {
                name: "EntryPoint v0.8",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(matches!(
        client
            .nonce(&account, nonce_key(stack.session_key_validator, 0))
            .await,
        Err(Error::StackNotDeployed { .. })
    ));

    // Redeployed at the same addresses, everything works again. A new provider: the recommended fillers' cached
    // nonce manager still holds the bundler's nonce on the old chain (a transaction sent with it would wait in the
    // new node's pool for ever).
    let fresh = client_on(&second).await;
    assert_eq!(fresh.stack(), &stack);
    let (account, compiled, call) = granted(&fresh, &owner, &key, Version::V07, 2).await;
    let outcome = fresh
        .send_session_op(&account, &key, &compiled, &call)
        .await
        .unwrap();
    assert!(outcome.success);
}

/// The chain id changes under the client: no operation is signed for the new chain, and an operation signed
/// before the change is refused with the same typed error, before anything is sent.
#[tokio::test(flavor = "multi_thread")]
async fn chain_id_change_is_reported_before_signing() {
    let anvil = keyscope_e2e::anvil();
    let client = client_on(&anvil).await;
    let provider = client.provider().clone();
    let expected = client.chain_id();
    let owner = SessionKey::generate();
    let key = SessionKey::generate();
    for version in [Version::V07, Version::V08] {
        let (account, compiled, call) = granted(&client, &owner, &key, version, 1).await;
        let signed_before = client
            .prepare_session_op(&account, &key, &compiled, &call)
            .await
            .unwrap();
        let lane = lane_key(&client, &compiled);
        let nonce_before = client.nonce(&account, lane).await.unwrap();
        let bundler_txs = provider
            .get_transaction_count(client.sender())
            .await
            .unwrap();

        let actual = expected + 1;
        let _: serde_json::Value = provider
            .raw_request("anvil_setChainId".into(), (actual,))
            .await
            .unwrap();
        assert_eq!(provider.get_chain_id().await.unwrap(), actual);

        let changed = |error: Error| match error {
            Error::ChainChanged {
                expected: e,
                actual: a,
            } => assert_eq!((e, a), (expected, actual)),
            other => panic!("expected ChainChanged, got {other:?}"),
        };
        changed(
            client
                .prepare_session_op(&account, &key, &compiled, &call)
                .await
                .unwrap_err(),
        );
        changed(
            client
                .prepare_enable_session_op(&account, &owner, &key, &compiled, &call)
                .await
                .unwrap_err(),
        );
        changed(
            client
                .grant_session(&account, &owner, &compiled.session)
                .await
                .unwrap_err(),
        );
        // Signed for the old chain: the EntryPoint would reject it (AA24); the client says why.
        changed(client.simulate(&signed_before).await.unwrap_err());
        changed(client.send(&signed_before).await.unwrap_err());
        let error = client
            .send_session_op(&account, &key, &compiled, &call)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains(&format!(
                "created on chain {expected}, the provider is now on chain {actual}"
            )),
            "{error}"
        );
        changed(error);
        // Nothing was sent.
        assert_eq!(
            provider
                .get_transaction_count(client.sender())
                .await
                .unwrap(),
            bundler_txs
        );

        // Back on the client's chain, the operation signed before goes through.
        let _: serde_json::Value = provider
            .raw_request("anvil_setChainId".into(), (expected,))
            .await
            .unwrap();
        assert!(client.send(&signed_before).await.unwrap().success);
        assert_eq!(
            client.nonce(&account, lane).await.unwrap(),
            nonce_before + U256::from(1)
        );
    }
}

/// A node started with another chain id on the client's port: reported as a chain change, not as a missing stack
/// nor as a bad signature.
#[tokio::test(flavor = "multi_thread")]
async fn node_restarted_with_another_chain_id() {
    let r = restartable(Version::V08).await;
    let port = r.node.port();
    drop(r.node);
    let _second = anvil_on(port, Some(r.client.chain_id() + 7));
    let error = r
        .client
        .send_session_op(&r.account, &r.key, &r.session, &r.call)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::ChainChanged { expected, actual } if actual == expected + 7),
        "{error:?}"
    );
}

/// Sessions of one account sending at once: each has its own nonce lane, and the client's `handleOps`
/// transactions get distinct bundler nonces, so all of them land. Run on a provider with alloy's simple nonce
/// manager (every transaction reads the pending count: two concurrent sends read the same one unless the client
/// serialises its submissions) and on one with the recommended fillers (cached nonces).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_sessions_of_one_account_all_land() {
    let anvil = keyscope_e2e::anvil();
    let (cached, bundler_key) = funded_provider(&anvil);
    let simple = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(bundler_key.clone())
        .connect_http(anvil.endpoint_url())
        .erased();
    let bundler = bundler_key.address();
    let (stack, _) = Stack::deploy_or_detect(&simple, bundler).await.unwrap();
    for (provider, version) in [(simple, Version::V07), (cached, Version::V08)] {
        let client = Client::new(provider.clone(), stack.clone(), bundler)
            .await
            .unwrap();
        let owner = SessionKey::generate();
        let (account, token) = account(&client, &owner, version).await;
        let t = now(&provider).await;
        let keys: Vec<SessionKey> = (0..4).map(|_| SessionKey::generate()).collect();
        let sessions: Vec<CompiledSession> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| session(key, token, t, i as u8))
            .collect();
        for compiled in &sessions {
            grant(&client, &account, &owner, compiled).await;
        }
        let lanes: BTreeSet<u32> = sessions
            .iter()
            .map(|s| session_lane(s.session_id()))
            .collect();
        assert_eq!(lanes.len(), sessions.len(), "one nonce lane per session");

        let recipient = Address::repeat_byte(0x77);
        let send = |i: usize, amount: u64| {
            // Clones share the client's submission lock.
            let client = client.clone();
            let key = &keys[i];
            let compiled = &sessions[i];
            async move {
                client
                    .send_session_op(
                        &account,
                        key,
                        compiled,
                        &[transfer(token, recipient, amount)],
                    )
                    .await
            }
        };
        let mut outcomes = vec![];
        let rounds = 5;
        for _ in 0..rounds {
            let (a, b) = tokio::join!(send(0, 1), send(1, 2));
            outcomes.extend([a.unwrap(), b.unwrap()]);
            let (a, b, c, d) = tokio::join!(send(0, 1), send(1, 2), send(2, 3), send(3, 4));
            outcomes.extend([a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()]);
        }
        assert!(outcomes.iter().all(|o| o.success), "{outcomes:?}");
        let txs: BTreeSet<_> = outcomes.iter().map(|o| o.tx_hash).collect();
        assert_eq!(
            txs.len(),
            outcomes.len(),
            "one handleOps transaction per operation"
        );
        assert_eq!(
            balance(&client, token, recipient).await,
            U256::from(rounds * (1 + 2 + 1 + 2 + 3 + 4))
        );
        for (i, compiled) in sessions.iter().enumerate() {
            let lane = lane_key(&client, compiled);
            // The nonce is key ‖ sequence; the sequence counts the operations sent on the lane.
            let sequence = client.nonce(&account, lane).await.unwrap() & U256::from(u64::MAX);
            assert_eq!(
                sequence,
                U256::from(if i < 2 { 2 * rounds } else { rounds })
            );
        }
    }
}
