//! The whole session lifecycle against anvil, on EntryPoint v0.7 and v0.8: deploy the stack, create an account,
//! grant a session by an owner operation, use it (single call and batch), get out-of-scope calls rejected with
//! typed validator errors, expire it (AA22), revoke one session and all sessions (SessionNotActive), reach a use
//! limit and a cumulative ERC-20 limit, uninstall the validator (AA24) and reinstall it (old sessions stay void).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use keyscope::bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;
use keyscope::bindings::DemoToken;
use keyscope::permissions::{CompiledSession, SessionSpec};
use keyscope::signer::{SessionKey, ENTRY_POINT_V07, ENTRY_POINT_V08};
use keyscope::{
    Account, Client, Error, SessionCall, SessionStatus, Stack, Version, CREATE2_DEPLOYER,
};
use keyscope_e2e::{advance_time, anvil, now};

fn session(
    key: &SessionKey,
    token: Address,
    valid_after: u64,
    valid_until: u64,
) -> CompiledSession {
    let json = format!(
        r#"{{
            "signer": "{}",
            "valid_after": {valid_after},
            "valid_until": {valid_until},
            "permissions": [{{
                "target": "{token}",
                "function": "transfer(address to,uint256 amount)",
                "rules": [{{ "arg": "amount", "op": "lte", "value": "100" }}]
            }}]
        }}"#,
        key.address()
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

fn assert_validator_error(error: &Error, check: impl Fn(&SessionKeyValidatorErrors) -> bool) {
    assert_eq!(error.aa_code(), Some("AA23"), "{error}");
    let inner = error
        .validator_error()
        .unwrap_or_else(|| panic!("no validator error in {error}"));
    assert!(check(inner), "unexpected validator error: {error}");
}

struct Setup {
    account: Account,
    owner: SessionKey,
    token: Address,
    other_token: Address,
    recipient: Address,
}

async fn setup(client: &Client, version: Version, token: Address, other_token: Address) -> Setup {
    let owner = SessionKey::generate();
    let account = client
        .create_account(owner.address(), U256::from(7), version)
        .await
        .unwrap();
    assert_eq!(account.version, version);
    assert!(!client
        .provider()
        .get_code_at(account.address)
        .await
        .unwrap()
        .is_empty());
    // Idempotent.
    assert_eq!(
        client
            .create_account(owner.address(), U256::from(7), version)
            .await
            .unwrap(),
        account
    );
    client
        .fund(account.address, U256::from(10u128.pow(18)))
        .await
        .unwrap();
    client
        .deposit(&account, U256::from(10u128.pow(16)))
        .await
        .unwrap();
    assert_eq!(
        client.deposit_of(&account).await.unwrap(),
        U256::from(10u128.pow(16))
    );

    let demo = DemoToken::new(token, client.provider().clone());
    demo.mint(account.address, U256::from(1000))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    Setup {
        account,
        owner,
        token,
        other_token,
        // One recipient per account, so that balances are per account.
        recipient: Address::repeat_byte(if version == Version::V07 { 0x42 } else { 0x43 }),
    }
}

async fn balance(client: &Client, token: Address, who: Address) -> U256 {
    DemoToken::new(token, client.provider().clone())
        .balanceOf(who)
        .call()
        .await
        .unwrap()
}

/// Phase 1: grant, use, out-of-scope calls. Returns the session for the expiry phase.
async fn grant_and_use(client: &Client, s: &Setup, key: &SessionKey) -> CompiledSession {
    let t = now(client.provider()).await;
    let compiled = session(key, s.token, t - 1, t + 3600);
    let id = compiled.session_id();
    assert_eq!(
        client.session_status(&s.account, id).await.unwrap(),
        SessionStatus::Unknown
    );
    let granted = client
        .grant_session(&s.account, &s.owner, &compiled.session)
        .await
        .unwrap();
    assert!(granted.success);
    assert_eq!(
        client.session_status(&s.account, id).await.unwrap(),
        SessionStatus::Active
    );

    // In scope: one transfer, then a batch of two.
    let outcome = client
        .send_session_op(
            &s.account,
            key,
            &compiled,
            &[transfer(s.token, s.recipient, 60)],
        )
        .await
        .unwrap();
    assert!(outcome.success, "{outcome:?}");
    assert!(outcome.gas_used > 0 && outcome.actual_gas_used > U256::ZERO);
    assert_eq!(balance(client, s.token, s.recipient).await, U256::from(60));
    let outcome = client
        .send_session_op(
            &s.account,
            key,
            &compiled,
            &[
                transfer(s.token, s.recipient, 100),
                transfer(s.token, s.recipient, 1),
            ],
        )
        .await
        .unwrap();
    assert!(outcome.success, "{outcome:?}");
    assert_eq!(balance(client, s.token, s.recipient).await, U256::from(161));

    // Out of scope: another function, another contract, an amount over the rule.
    let mint = DemoToken::mintCall {
        to: s.recipient,
        amount: U256::from(1),
    }
    .abi_encode();
    let error = client
        .send_session_op(
            &s.account,
            key,
            &compiled,
            &[SessionCall::new(s.token, mint, 0)],
        )
        .await
        .unwrap_err();
    assert_validator_error(&error, |e| {
        matches!(e, SessionKeyValidatorErrors::SelectorNotAllowed(e)
            if e.selector == DemoToken::mintCall::SELECTOR && e.allowed == DemoToken::transferCall::SELECTOR)
    });
    let error = client
        .send_session_op(
            &s.account,
            key,
            &compiled,
            &[transfer(s.other_token, s.recipient, 1)],
        )
        .await
        .unwrap_err();
    assert_validator_error(&error, |e| {
        matches!(e, SessionKeyValidatorErrors::TargetNotAllowed(e)
            if e.target == s.other_token && e.allowed == s.token)
    });
    assert!(error.to_string().contains("TargetNotAllowed"), "{error}");
    let error = client
        .send_session_op(
            &s.account,
            key,
            &compiled,
            &[transfer(s.token, s.recipient, 101)],
        )
        .await
        .unwrap_err();
    assert_validator_error(&error, |e| {
        matches!(e, SessionKeyValidatorErrors::ArgumentRuleFailed(_))
    });
    // Nothing moved.
    assert_eq!(balance(client, s.token, s.recipient).await, U256::from(161));
    compiled
}

/// Phase 2 (after the chain's time passed the sessions' end): AA22, then revocations.
async fn expire_and_revoke(
    client: &Client,
    s: &Setup,
    key: &SessionKey,
    expired: &CompiledSession,
) {
    let error = client
        .send_session_op(
            &s.account,
            key,
            expired,
            &[transfer(s.token, s.recipient, 1)],
        )
        .await
        .unwrap_err();
    match &error {
        Error::EntryPoint {
            code,
            message,
            revert: None,
            ..
        } => {
            assert_eq!(code, "AA22");
            assert_eq!(message, "expired or not due");
        }
        other => panic!("expected AA22, got {other}"),
    }

    // A fresh session works, then is revoked.
    let t = now(client.provider()).await;
    let fresh = session(key, s.token, t - 1, t + 3600);
    client
        .grant_session(&s.account, &s.owner, &fresh.session)
        .await
        .unwrap();
    let ok = client
        .send_session_op(
            &s.account,
            key,
            &fresh,
            &[transfer(s.token, s.recipient, 5)],
        )
        .await
        .unwrap();
    assert!(ok.success);
    client
        .revoke_session(&s.account, &s.owner, fresh.session_id())
        .await
        .unwrap();
    assert_eq!(
        client
            .session_status(&s.account, fresh.session_id())
            .await
            .unwrap(),
        SessionStatus::Revoked
    );
    let error = client
        .send_session_op(
            &s.account,
            key,
            &fresh,
            &[transfer(s.token, s.recipient, 5)],
        )
        .await
        .unwrap_err();
    assert_validator_error(
        &error,
        |e| matches!(e, SessionKeyValidatorErrors::SessionNotActive(e) if e.sessionId == fresh.session_id()),
    );

    // Granting it again fails in execution with the validator's SessionIsRevoked.
    let error = client
        .grant_session(&s.account, &s.owner, &fresh.session)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::OperationReverted { revert: Some(r), .. } if r.name() == Some("SessionIsRevoked")),
        "{error}"
    );

    // Revoke all: another fresh session stops working.
    let mut other = session(key, s.token, t - 1, t + 7200);
    other.session.salt = alloy::primitives::B256::repeat_byte(9);
    client
        .grant_session(&s.account, &s.owner, &other.session)
        .await
        .unwrap();
    client
        .revoke_all_sessions(&s.account, &s.owner)
        .await
        .unwrap();
    assert_eq!(
        client
            .session_status(&s.account, other.session_id())
            .await
            .unwrap(),
        SessionStatus::Unknown
    );
    let error = client
        .send_session_op(
            &s.account,
            key,
            &other,
            &[transfer(s.token, s.recipient, 5)],
        )
        .await
        .unwrap_err();
    assert_validator_error(&error, |e| {
        matches!(e, SessionKeyValidatorErrors::SessionNotActive(_))
    });
    assert_eq!(balance(client, s.token, s.recipient).await, U256::from(166));
}

#[tokio::test(flavor = "multi_thread")]
async fn session_lifecycle_on_anvil() {
    let anvil = anvil();
    let bundler_key: PrivateKeySigner = anvil.keys()[0].clone().into();
    let bundler = bundler_key.address();
    let provider = ProviderBuilder::new()
        .wallet(bundler_key)
        .connect_http(anvil.endpoint_url())
        .erased();
    assert!(!provider
        .get_code_at(CREATE2_DEPLOYER)
        .await
        .unwrap()
        .is_empty());

    // Deploy, then detect.
    let (stack, report) = Stack::deploy_or_detect(&provider, bundler).await.unwrap();
    assert_eq!(report.len(), 8);
    assert!(report.iter().all(|d| !d.existed), "{report:?}");
    assert_eq!(stack, Stack::predicted());
    assert_eq!(stack.v07.entry_point, ENTRY_POINT_V07);
    assert_eq!(stack.v08.entry_point, ENTRY_POINT_V08);
    let (again, report) = Stack::deploy_or_detect(&provider, bundler).await.unwrap();
    assert_eq!(again, stack);
    assert!(report.iter().all(|d| d.existed), "{report:?}");

    let client = Client::new(provider.clone(), stack, bundler).await.unwrap();
    assert!(client.stack().is_deployed(client.provider()).await.unwrap());
    let token = *DemoToken::deploy(provider.clone()).await.unwrap().address();
    let other_token = *DemoToken::deploy(provider.clone()).await.unwrap().address();

    let key = SessionKey::generate();
    let mut phase1 = vec![];
    for version in [Version::V07, Version::V08] {
        let s = setup(&client, version, token, other_token).await;
        let compiled = grant_and_use(&client, &s, &key).await;
        phase1.push((s, compiled));
    }

    advance_time(&provider, 3601).await;

    for (s, compiled) in &phase1 {
        expire_and_revoke(&client, s, &key, compiled).await;
        limits_then_uninstall(&client, s, &key).await;
    }
}

/// A session with a use limit and a cumulative ERC-20 limit reaches both; uninstalling the validator voids every
/// session, and after a reinstall the old session stays void (its counters never come back).
async fn limits_then_uninstall(client: &Client, s: &Setup, key: &SessionKey) {
    let t = now(client.provider()).await;
    let json = format!(
        r#"{{
            "signer": "{}",
            "valid_after": {},
            "valid_until": {},
            "salt": "0x{}",
            "permissions": [
                {{ "target": "{}", "function": "transfer(address to,uint256 amount)", "max_uses": 2 }},
                {{ "target": "{}", "function": "transfer(address to,uint256 amount)", "erc20_total_limit": "30" }}
            ]
        }}"#,
        key.address(),
        t - 1,
        t + 3600,
        "77".repeat(32),
        s.token,
        s.other_token,
    );
    let limited = SessionSpec::compile_json(&json).unwrap();
    client
        .grant_session(&s.account, &s.owner, &limited.session)
        .await
        .unwrap();
    let uses = |amount| transfer(s.token, s.recipient, amount);
    let spends = |amount| {
        SessionCall::new(
            s.other_token,
            transfer(s.other_token, s.recipient, amount).data,
            1,
        )
    };

    // max_uses 2: the third use is refused (the error names the use it would have been).
    for _ in 0..2 {
        client
            .send_session_op(&s.account, key, &limited, &[uses(1)])
            .await
            .unwrap();
    }
    let error = client
        .send_session_op(&s.account, key, &limited, &[uses(1)])
        .await
        .unwrap_err();
    assert_validator_error(
        &error,
        |e| matches!(e, SessionKeyValidatorErrors::UsageLimitReached(e) if e.uses == U256::from(3) && e.maxUses == U256::from(2)),
    );

    // 30 tokens in all: 20 + 10 pass, one more unit does not (a batch counts as a whole).
    client
        .send_session_op(&s.account, key, &limited, &[spends(20)])
        .await
        .unwrap();
    let error = client
        .send_session_op(&s.account, key, &limited, &[spends(10), spends(1)])
        .await
        .unwrap_err();
    assert_validator_error(
        &error,
        |e| matches!(e, SessionKeyValidatorErrors::Erc20TotalExceeded(e) if e.callIndex == U256::from(1) && e.total == U256::from(31) && e.limit == U256::from(30)),
    );
    client
        .send_session_op(&s.account, key, &limited, &[spends(10)])
        .await
        .unwrap();

    // Uninstall: the session stops validating (the account no longer routes to the validator: AA24).
    client
        .uninstall_session_validator(&s.account, &s.owner)
        .await
        .unwrap();
    let error = client
        .send_session_op(&s.account, key, &limited, &[spends(0)])
        .await
        .unwrap_err();
    assert_eq!(error.aa_code(), Some("AA24"), "{error}");

    // Reinstall: the old session is void (a new epoch), nothing comes back.
    client
        .install_session_validator(&s.account, &s.owner)
        .await
        .unwrap();
    assert_eq!(
        client
            .session_status(&s.account, limited.session_id())
            .await
            .unwrap(),
        SessionStatus::Unknown
    );
    let error = client
        .send_session_op(&s.account, key, &limited, &[spends(0)])
        .await
        .unwrap_err();
    assert_validator_error(&error, |e| {
        matches!(e, SessionKeyValidatorErrors::SessionNotActive(_))
    });
}
