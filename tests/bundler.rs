//! Session operations through a real ERC-4337 bundler: the pinned Alto (npm `@pimlico/alto`) on anvil, for
//! EntryPoint v0.7 and v0.8. Gas is estimated by Alto with a dummy session signature, the operation is signed,
//! sent with `eth_sendUserOperation` and its receipt polled; out-of-scope calls come back as typed bundler errors
//! with the `AAxx` code and the validator's error; a bundler that is down is `Error::BundlerUnavailable` after
//! the bounded retries. A session with a tight fee scope is estimated (with the dummy signature: no revert,
//! within the bound), signed within its bound and charged exactly its maximum cost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use keyscope::bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;
use keyscope::bindings::DemoToken;
use keyscope::permissions::CompiledSession;
use keyscope::signer::{SessionKey, SessionSignature};
use keyscope::signer::{ENTRY_POINT_V07, ENTRY_POINT_V08};
use keyscope::{
    execute_single, max_operation_cost, operation_gas, Account, BundlerClient, BundlerOptions,
    Client, Error, GasSource, SessionCall, SessionStatus, Version,
};
use keyscope_e2e::{
    alto, anvil, assert_bundler_rejection, balance, client, deploy_token, fixed_fees, free_port,
    funded_account, grant, lane_key, mint_call, mint_tokens, now, transfer, transfer_session,
    SessionJson, ValidatorCheck, GWEI,
};

/// An account on `version` with ETH for gas (no EntryPoint deposit: it pays its prefund from its balance),
/// 1000 tokens, and its owner.
async fn account(client: &Client, version: Version, token: Address) -> (Account, SessionKey) {
    let owner = SessionKey::generate();
    let account = funded_account(client, owner.address(), version, 0, None).await;
    mint_tokens(client, token, account.address, 1000).await;
    (account, owner)
}

/// The time the bundler tests' sessions are built around: a minute before the chain's latest block, since Alto's
/// ERC-7562 safe mode refuses an operation whose `validAfter` is within 5 s of its own clock (and the sessions start
/// one second before this time).
async fn strict_start(client: &Client) -> u64 {
    now(client.provider()).await - 60
}

/// A granted session of `account` (granted by an owner operation sent by the client itself).
async fn granted(
    client: &Client,
    account: &Account,
    owner: &SessionKey,
    token: Address,
) -> (SessionKey, CompiledSession) {
    let key = SessionKey::generate();
    let compiled = transfer_session(&key, token, strict_start(client).await);
    grant(client, account, owner, &compiled).await;
    (key, compiled)
}

#[tokio::test(flavor = "multi_thread")]
async fn session_ops_through_alto() {
    let anvil = anvil();
    let client = client(&anvil).await;
    let started = Instant::now();
    let alto = alto(&anvil).await;
    println!("Alto up in {:?}", started.elapsed());
    let bundler = BundlerClient::new(alto.url()).unwrap();
    // The same client, submitting through the bundler.
    let via = client.clone().with_bundler(bundler.clone());

    assert_eq!(bundler.chain_id().await.unwrap(), client.chain_id());
    let supported = bundler.supported_entry_points().await.unwrap();
    assert!(
        supported.contains(&ENTRY_POINT_V07) && supported.contains(&ENTRY_POINT_V08),
        "{supported:?}"
    );
    let token = deploy_token(&client).await;
    let other_token = deploy_token(&client).await;

    for (version, recipient) in [
        (Version::V07, Address::repeat_byte(0x42)),
        (Version::V08, Address::repeat_byte(0x43)),
    ] {
        let (account, owner) = account(&client, version, token).await;
        let (key, compiled) = granted(&client, &account, &owner, token).await;
        bundler.check(&client, version).await.unwrap();

        // Estimate → sign → send → receipt, timed step by step.
        let started = Instant::now();
        let prepared = via
            .prepare_session_op(&account, &key, &compiled, &[transfer(token, recipient, 60)])
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
        let lane = lane_key(&client, &compiled);
        assert_eq!(prepared.op.nonce, U256::from(lane) << 64);

        let sent = Instant::now();
        let outcome = via.send(&prepared).await.unwrap();
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
        assert_ne!(tx.inner.signer(), client.sender());
        // The receipt is there to read again.
        let receipt = bundler
            .get_user_operation_receipt(outcome.user_op_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(receipt.sender, account.address);
        assert_eq!(receipt.receipt.transaction_hash, outcome.tx_hash);

        // The whole flow at once, with a batch: the next nonce of the lane.
        let outcome = via
            .send_session_op(
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
            via.send_session_op(&account, &key, &compiled, &calls_a),
            via.send_session_op(&account, &key2, &compiled2, &calls_b),
        );
        assert!(a.unwrap().success && b.unwrap().success);
        assert_eq!(balance(&client, token, recipient).await, U256::from(173));

        // Enable mode: a session granted and used in one operation, with no owner transaction before it.
        let key3 = SessionKey::generate();
        let compiled3 = transfer_session(&key3, token, strict_start(&client).await);
        let calls = [transfer(token, recipient, 3)];
        let prepared = via
            .prepare_enable_session_op(&account, &owner, &key3, &compiled3, &calls)
            .await
            .unwrap();
        let outcome = via.send(&prepared).await.unwrap();
        assert!(outcome.success, "{outcome:?}");
        let status = client.session_status(&account, compiled3.session_id());
        assert_eq!(status.await.unwrap(), SessionStatus::Active);
        assert_eq!(balance(&client, token, recipient).await, U256::from(176));

        // Out of scope: rejected by the bundler in estimation, with the AA code and the validator's error.
        let refusals: [(SessionCall, ValidatorCheck); 2] = [
            (mint_call(token, recipient, 1), |e| {
                matches!(e, SessionKeyValidatorErrors::SelectorNotAllowed(e)
                    if e.selector == DemoToken::mintCall::SELECTOR && e.allowed == DemoToken::transferCall::SELECTOR)
            }),
            (transfer(token, recipient, 101), |e| {
                matches!(e, SessionKeyValidatorErrors::ArgumentRuleFailed(_))
            }),
        ];
        for (call, check) in refusals {
            let error = via
                .send_session_op(&account, &key, &compiled, &[call])
                .await
                .unwrap_err();
            assert_bundler_rejection(&error, check);
        }
        // And by eth_sendUserOperation itself (no estimation first): a correctly signed operation for another
        // token.
        let calls = [transfer(other_token, recipient, 1)];
        let op = client
            .prepare_session_op(&account, &key, &compiled, &calls)
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

        // Owner operations go the same way: estimated by the bundler with a dummy owner signature, signed by the
        // owner, sent with eth_sendUserOperation (the session just enabled is revoked).
        let read = DemoToken::balanceOfCall {
            account: account.address,
        };
        let call_data = execute_single(token, U256::ZERO, &read.abi_encode());
        let unsigned = via
            .unsigned_owner_op(&account, call_data, None)
            .await
            .unwrap();
        assert!(
            matches!(unsigned.gas, GasSource::Estimated),
            "{:?}",
            unsigned.gas
        );
        let outcome = via
            .revoke_session(&account, &owner, compiled3.session_id())
            .await
            .unwrap();
        let tx = client.provider().get_transaction_by_hash(outcome.tx_hash);
        assert_ne!(tx.await.unwrap().unwrap().inner.signer(), client.sender());
        let status = client.session_status(&account, compiled3.session_id());
        assert_eq!(status.await.unwrap(), SessionStatus::Revoked);

        fee_scope_through_the_bundler(&client, &bundler, &account, &owner, token).await;
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
    let prepared = via
        .prepare_session_op(&account, &key, &compiled, &[transfer(token, recipient, 1)])
        .await
        .unwrap();
    // A new client: no pooled connection to the bundler that is about to go away.
    let options = BundlerOptions {
        attempts: 3,
        initial_backoff: Duration::from_millis(100),
        ..BundlerOptions::default()
    };
    let down = BundlerClient::with_options(alto.url(), options).unwrap();
    let via_down = client.clone().with_bundler(down.clone());
    drop(alto);
    let started = Instant::now();
    let error = via_down.send(&prepared).await.unwrap_err();
    let elapsed = started.elapsed();
    match &error {
        Error::BundlerUnavailable { attempts, .. } => assert_eq!(*attempts, 3),
        other => panic!("{other:?}"),
    }
    // Two waits between three tries: 100 ms, then 200 ms.
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    println!("bundler down: {error} (after {elapsed:?})");
    // Nothing moved: the lane's nonce is still 0 and the recipient has no tokens.
    let lane = lane_key(&client, &compiled);
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
    let error = via_down
        .send_session_op(&account, &key, &compiled, &[transfer(token, recipient, 1)])
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

/// A session whose fee scope (0.005 ETH per operation) the client's default limits (1,560,000 gas) do not fit at
/// its fee (10 gwei), but the bundler's estimate does: the estimate, with the dummy session signature and the fee
/// lowered for the simulation, runs validation to its end (no revert); the signed operation is back at 10 gwei,
/// within the bound, included, and charged exactly its maximum cost.
async fn fee_scope_through_the_bundler(
    client: &Client,
    bundler: &BundlerClient,
    account: &Account,
    owner: &SessionKey,
    token: Address,
) {
    let bound = U256::from(5_000_000_000_000_000u128);
    let client = client.clone().with_gas(fixed_fees(2 * GWEI, 10 * GWEI));
    let via = client.clone().with_bundler(bundler.clone());
    let key = SessionKey::generate();
    let t = strict_start(&client).await;
    let fee_session = |per_operation: &str| {
        SessionJson::new(&key, t)
            .fees(&format!(
                r#"{{ "per_operation": "{per_operation}", "budget": "0.05 ether" }}"#
            ))
            .transfer_of(token)
            .compile()
    };
    let session = fee_session("0.005 ether");
    grant(&client, account, owner, &session).await;
    let recipient = Address::repeat_byte(match account.version {
        Version::V07 => 0x45,
        Version::V08 => 0x46,
    });
    let calls = [transfer(token, recipient, 2)];

    // Straight to handleOps the defaults do not fit at 10 gwei: the client lowers the fee to fit.
    let direct = client
        .prepare_session_op(account, &key, &session, &calls)
        .await
        .unwrap();
    assert!(max_operation_cost(&direct.op) <= bound);
    let lowered = direct.op.gas_fees().1;
    assert!(lowered < 10 * GWEI, "{lowered}");

    // The bundler's own estimate of that operation, with the dummy signature: no revert, within the bound.
    let mut dummy = direct.op.clone();
    dummy.signature = SessionSignature::decode(&direct.op.signature)
        .unwrap()
        .to_dummy()
        .encode()
        .unwrap()
        .into();
    let entry_point = client.stack().version(account.version).entry_point;
    let estimate = bundler
        .estimate_user_operation_gas(&dummy, entry_point)
        .await
        .unwrap();
    estimate.apply(&mut dummy).unwrap();
    let estimated_gas = operation_gas(&dummy).unwrap();
    assert!(estimated_gas < 1_000_000, "{estimated_gas}");
    assert!(U256::from(estimated_gas) * U256::from(10 * GWEI) <= bound);

    // Through the bundler: estimated, back at 10 gwei (the estimate fits), signed, included.
    let prepared = via
        .prepare_session_op(account, &key, &session, &calls)
        .await
        .unwrap();
    assert_eq!(prepared.op.gas_fees(), (2 * GWEI, 10 * GWEI));
    let cost = max_operation_cost(&prepared.op);
    assert!(cost <= bound, "{cost}");
    let outcome = via.send(&prepared).await.unwrap();
    assert!(outcome.success, "{outcome:?}");
    assert!(outcome.actual_gas_cost <= cost);
    assert_eq!(
        client
            .fees_charged(account, session.session_id())
            .await
            .unwrap(),
        cost
    );
    println!(
        "{:?} fee scope: estimated gas {estimated_gas}, max cost {cost} wei (bound {bound}), actual {}",
        account.version, outcome.actual_gas_cost
    );

    // A bound the estimate cannot fit at any fee the chain takes: refused before signing.
    let tight = fee_session("1000 gwei");
    grant(&client, account, owner, &tight).await;
    let error = via
        .prepare_session_op(account, &key, &tight, &calls)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::FeeScopeExceeded(e) if e.limit == U256::from(10u128.pow(12))),
        "{error}"
    );
    assert_eq!(balance(&client, token, recipient).await, U256::from(2));
}
