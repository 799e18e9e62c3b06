//! Session operations through a real ERC-4337 bundler: the pinned Alto (npm `@pimlico/alto`) on anvil, for
//! EntryPoint v0.7 and v0.8. Gas is estimated by Alto with a dummy session signature, the operation is signed,
//! sent with `eth_sendUserOperation` and its receipt polled; out-of-scope calls come back as typed bundler errors
//! with the `AAxx` code and the validator's error; a bundler that is down is `Error::BundlerUnavailable` after
//! the bounded retries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use keyscope::bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;
use keyscope::bindings::DemoToken;
use keyscope::bundler::codes;
use keyscope::permissions::{CompiledSession, SessionSpec};
use keyscope::signer::SessionKey;
use keyscope::signer::{ENTRY_POINT_V07, ENTRY_POINT_V08};
use keyscope::{
    nonce_key, session_lane, Account, BundlerClient, BundlerOptions, Client, Error, SessionCall,
    SessionStatus, Version,
};
use keyscope_e2e::{alto, anvil, client, free_port, now};

fn session(key: &SessionKey, token: Address, now: u64) -> CompiledSession {
    let json = format!(
        r#"{{
            "signer": "{}",
            "valid_after": {},
            "valid_until": {},
            "permissions": [{{
                "target": "{token}",
                "function": "transfer(address to,uint256 amount)",
                "rules": [{{ "arg": "amount", "op": "lte", "value": "100" }}]
            }}]
        }}"#,
        key.address(),
        now - 1,
        now + 3600
    );
    SessionSpec::compile_json(&json).unwrap()
}

fn transfer(token: Address, to: Address, amount: u64) -> SessionCall {
    let data = DemoToken::transferCall {
        to,
        value: U256::from(amount),
    }
    .abi_encode();
    SessionCall::new(token, data, 0)
}

async fn balance(client: &Client, token: Address, who: Address) -> U256 {
    DemoToken::new(token, client.provider().clone())
        .balanceOf(who)
        .call()
        .await
        .unwrap()
}

/// An account on `version` with ETH for gas (no EntryPoint deposit: it pays its prefund from its balance),
/// 1000 tokens, and its owner.
async fn account(client: &Client, version: Version, token: Address) -> (Account, SessionKey) {
    let owner = SessionKey::generate();
    let account = client
        .create_account(owner.address(), U256::ZERO, version)
        .await
        .unwrap();
    client
        .fund(account.address, U256::from(10u128.pow(18)))
        .await
        .unwrap();
    DemoToken::new(token, client.provider().clone())
        .mint(account.address, U256::from(1000))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    (account, owner)
}

/// A granted session of `account` (granted by an owner operation sent by the client itself).
async fn granted(
    client: &Client,
    account: &Account,
    owner: &SessionKey,
    token: Address,
) -> (SessionKey, CompiledSession) {
    let key = SessionKey::generate();
    let compiled = session(&key, token, now(client.provider()).await);
    assert!(
        client
            .grant_session(account, owner, &compiled.session)
            .await
            .unwrap()
            .success
    );
    (key, compiled)
}

fn assert_bundler_rejection(error: &Error, check: impl Fn(&SessionKeyValidatorErrors) -> bool) {
    match error {
        Error::Bundler { code, .. } => assert_eq!(*code, codes::VALIDATION_REVERTED, "{error}"),
        other => panic!("expected a bundler rejection, got {other:?}"),
    }
    assert_eq!(error.aa_code(), Some("AA23"), "{error}");
    let inner = error
        .validator_error()
        .unwrap_or_else(|| panic!("no validator error in {error}"));
    assert!(check(inner), "unexpected validator error: {error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn session_ops_through_alto() {
    let anvil = anvil();
    let client = client(&anvil).await;
    let started = Instant::now();
    let alto = alto(&anvil).await;
    println!("Alto up in {:?}", started.elapsed());
    let bundler = BundlerClient::new(alto.url()).unwrap();

    assert_eq!(bundler.chain_id().await.unwrap(), client.chain_id());
    let supported = bundler.supported_entry_points().await.unwrap();
    assert!(
        supported.contains(&ENTRY_POINT_V07) && supported.contains(&ENTRY_POINT_V08),
        "{supported:?}"
    );
    let token = *DemoToken::deploy(client.provider().clone())
        .await
        .unwrap()
        .address();
    let other_token = *DemoToken::deploy(client.provider().clone())
        .await
        .unwrap()
        .address();

    for (version, recipient) in [
        (Version::V07, Address::repeat_byte(0x42)),
        (Version::V08, Address::repeat_byte(0x43)),
    ] {
        let (account, owner) = account(&client, version, token).await;
        let (key, compiled) = granted(&client, &account, &owner, token).await;
        bundler.check(&client, version).await.unwrap();

        // Estimate → sign → send → receipt, timed step by step.
        let started = Instant::now();
        let prepared = bundler
            .prepare_session_op(
                &client,
                &account,
                &key,
                &compiled,
                &[transfer(token, recipient, 60)],
            )
            .await
            .unwrap();
        let estimated = started.elapsed();
        // The estimated limits replaced the client's defaults (1 000 000 / 500 000 / 60 000).
        let (verification, call) = prepared.op.gas_limits();
        assert!(
            verification > 10_000 && verification < 1_000_000,
            "{verification}"
        );
        assert!(call > 10_000 && call < 500_000, "{call}");
        // Its own nonce lane: key = SessionKeyValidator ‖ lane, sequence 0.
        let lane = nonce_key(
            client.stack().session_key_validator,
            session_lane(compiled.session_id()),
        );
        assert_eq!(prepared.op.nonce, U256::from(lane) << 64);

        let sent = Instant::now();
        let outcome = bundler.send(&client, &prepared).await.unwrap();
        let included = sent.elapsed();
        println!(
            "{version:?}: estimate + sign {estimated:?}, send → receipt {included:?}, total {:?}; \
             verificationGasLimit {verification}, callGasLimit {call}, preVerificationGas {}, \
             actualGasUsed {}, handleOps gas {}",
            started.elapsed(),
            prepared.op.preVerificationGas,
            outcome.actual_gas_used,
            outcome.gas_used
        );
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.user_op_hash, prepared.user_op_hash);
        assert!(outcome.actual_gas_used > U256::ZERO && outcome.gas_used > 0);
        assert_eq!(balance(&client, token, recipient).await, U256::from(60));
        // The handleOps transaction was sent by Alto's executor (anvil's second key), not by the client.
        let tx = client
            .provider()
            .get_transaction_by_hash(outcome.tx_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            alloy::consensus::Transaction::to(&tx).unwrap_or_default(),
            client.stack().version(version).entry_point
        );
        assert_ne!(tx.inner.signer(), client.bundler());
        // The receipt is there to read again.
        let receipt = bundler
            .get_user_operation_receipt(outcome.user_op_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(receipt.sender, account.address);
        assert_eq!(receipt.receipt.transaction_hash, outcome.tx_hash);

        // The whole flow at once, with a batch: the next nonce of the lane.
        let outcome = bundler
            .send_session_op(
                &client,
                &account,
                &key,
                &compiled,
                &[
                    transfer(token, recipient, 100),
                    transfer(token, recipient, 1),
                ],
            )
            .await
            .unwrap();
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(balance(&client, token, recipient).await, U256::from(161));
        assert_eq!(
            client.nonce(&account, lane).await.unwrap(),
            (U256::from(lane) << 64) + U256::from(2)
        );

        // Two sessions of the account at once: separate lanes, neither waits for the other.
        let (key2, compiled2) = granted(&client, &account, &owner, token).await;
        let calls_a = [transfer(token, recipient, 5)];
        let calls_b = [transfer(token, recipient, 7)];
        let (a, b) = tokio::join!(
            bundler.send_session_op(&client, &account, &key, &compiled, &calls_a),
            bundler.send_session_op(&client, &account, &key2, &compiled2, &calls_b),
        );
        assert!(a.unwrap().success && b.unwrap().success);
        assert_eq!(balance(&client, token, recipient).await, U256::from(173));

        // Enable mode: a session granted and used in one operation, with no owner transaction before it.
        let key3 = SessionKey::generate();
        let compiled3 = session(&key3, token, now(client.provider()).await);
        let prepared = bundler
            .prepare_enable_session_op(
                &client,
                &account,
                &owner,
                &key3,
                &compiled3,
                &[transfer(token, recipient, 3)],
            )
            .await
            .unwrap();
        let outcome = bundler.send(&client, &prepared).await.unwrap();
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(
            client
                .session_status(&account, compiled3.session_id())
                .await
                .unwrap(),
            SessionStatus::Active
        );
        assert_eq!(balance(&client, token, recipient).await, U256::from(176));

        // Out of scope: rejected by the bundler in estimation, with the AA code and the validator's error.
        let mint = DemoToken::mintCall {
            to: recipient,
            amount: U256::from(1),
        }
        .abi_encode();
        let error = bundler
            .send_session_op(
                &client,
                &account,
                &key,
                &compiled,
                &[SessionCall::new(token, mint, 0)],
            )
            .await
            .unwrap_err();
        assert_bundler_rejection(&error, |e| {
            matches!(e, SessionKeyValidatorErrors::SelectorNotAllowed(e)
                if e.selector == DemoToken::mintCall::SELECTOR && e.allowed == DemoToken::transferCall::SELECTOR)
        });
        let error = bundler
            .send_session_op(
                &client,
                &account,
                &key,
                &compiled,
                &[transfer(token, recipient, 101)],
            )
            .await
            .unwrap_err();
        assert_bundler_rejection(&error, |e| {
            matches!(e, SessionKeyValidatorErrors::ArgumentRuleFailed(_))
        });
        // And by eth_sendUserOperation itself (no estimation first): a correctly signed operation for another
        // token.
        let op = client
            .prepare_session_op(
                &account,
                &key,
                &compiled,
                &[transfer(other_token, recipient, 1)],
            )
            .await
            .unwrap();
        let error = bundler
            .send_user_operation(&op.op, client.stack().version(version).entry_point)
            .await
            .unwrap_err();
        assert_bundler_rejection(&error, |e| {
            matches!(e, SessionKeyValidatorErrors::TargetNotAllowed(e)
                if e.target == other_token && e.allowed == token)
        });
        println!("{version:?} rejection: {error}");
        // Nothing moved.
        assert_eq!(balance(&client, token, recipient).await, U256::from(176));
    }

    // Receipt of an unknown operation: none yet, then a timeout.
    let unknown = alloy::primitives::B256::repeat_byte(7);
    assert!(bundler
        .get_user_operation_receipt(unknown)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        bundler.wait_for_receipt(unknown, Duration::from_millis(600)).await,
        Err(Error::ReceiptTimeout { user_op_hash, waited }) if user_op_hash == unknown && waited >= Duration::from_millis(600)
    ));

    // The bundler goes down between estimation and sending: the send itself fails typed after the bounded
    // retries (connection refused: the operation cannot have been taken, so this is no "outcome unknown"), and
    // the operation, signed and valid, was not executed.
    let (account, owner) = account(&client, Version::V07, token).await;
    let (key, compiled) = granted(&client, &account, &owner, token).await;
    let recipient = Address::repeat_byte(0x44);
    let prepared = bundler
        .prepare_session_op(
            &client,
            &account,
            &key,
            &compiled,
            &[transfer(token, recipient, 1)],
        )
        .await
        .unwrap();
    // A new client: no pooled connection to the bundler that is about to go away.
    let options = BundlerOptions {
        attempts: 3,
        initial_backoff: Duration::from_millis(100),
        ..BundlerOptions::default()
    };
    let down = BundlerClient::with_options(alto.url(), options).unwrap();
    drop(alto);
    let started = Instant::now();
    let error = down.send(&client, &prepared).await.unwrap_err();
    let elapsed = started.elapsed();
    match &error {
        Error::BundlerUnavailable { attempts, .. } => assert_eq!(*attempts, 3),
        other => panic!("{other:?}"),
    }
    // Two waits between three tries: 100 ms, then 200 ms.
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    println!("bundler down: {error} (after {elapsed:?})");
    // Nothing moved: the lane's nonce is still 0 and the recipient has no tokens.
    let lane = nonce_key(
        client.stack().session_key_validator,
        session_lane(compiled.session_id()),
    );
    assert_eq!(prepared.op.nonce, U256::from(lane) << 64);
    assert_eq!(
        client.nonce(&account, lane).await.unwrap(),
        U256::from(lane) << 64
    );
    assert_eq!(balance(&client, token, recipient).await, U256::ZERO);
    // It was a valid operation: the client's own handleOps runs it.
    assert!(client.send(&prepared).await.unwrap().success);
    assert_eq!(balance(&client, token, recipient).await, U256::from(1));
    // And the whole flow fails the same way, before anything is signed.
    let error = down
        .send_session_op(
            &client,
            &account,
            &key,
            &compiled,
            &[transfer(token, recipient, 1)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::BundlerUnavailable { .. }),
        "{error:?}"
    );
}

/// Without any node: a bundler URL where nothing listens.
#[tokio::test]
async fn bundler_down_is_unavailable_after_bounded_retries() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/rpc?apikey=do-not-log")
        .parse()
        .unwrap();
    let options = BundlerOptions {
        attempts: 4,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
        ..BundlerOptions::default()
    };
    let bundler = BundlerClient::with_options(url, options).unwrap();
    let started = Instant::now();
    let error = bundler.supported_entry_points().await.unwrap_err();
    let elapsed = started.elapsed();
    match &error {
        Error::BundlerUnavailable {
            url,
            attempts,
            reason,
        } => {
            assert_eq!(*attempts, 4);
            assert_eq!(url, &format!("http://127.0.0.1:{port}"));
            assert!(reason.to_lowercase().contains("connect"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Waits of 20, 40 and 50 (capped) ms.
    assert!(elapsed >= Duration::from_millis(110), "{elapsed:?}");
    assert!(!error.to_string().contains("do-not-log"), "{error}");
    println!("{error}");
}
