//! The whole session lifecycle against anvil, on EntryPoint v0.7 and v0.8: deploy the stack, create an account,
//! grant a session by an owner operation, use it (single call and batch), get out-of-scope calls rejected with
//! typed validator errors, expire it (AA22), revoke one session and all sessions (SessionNotActive), reach a use
//! limit and a cumulative ERC-20 limit, uninstall the validator (AA24) and reinstall it (old sessions stay void).
//! And the fee scope: the SDK keeps session operations within it before signing (lowering `maxFeePerGas` when the
//! chain allows, refusing with `Error::FeeScopeExceeded` when not), and the validator agrees with it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use keyscope::bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;
use keyscope::bindings::DemoToken;
use keyscope::permissions::{CompiledSession, SessionSpec};
use keyscope::signer::{SessionKey, SessionSignature, ENTRY_POINT_V07, ENTRY_POINT_V08};
use keyscope::{
    max_operation_cost, operation_gas, Account, Client, Error, FeeLimit, GasSettings, PreparedOp,
    SessionCall, SessionStatus, Stack, Version, CREATE2_DEPLOYER,
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

/// A one-permission session (`transfer` on `token`) with the fee scope `fees` (the JSON format's).
fn fee_session(key: &SessionKey, token: Address, t: u64, fees: &str, salt: u8) -> CompiledSession {
    let json = format!(
        r#"{{ "signer": "{}", "valid_after": {}, "valid_until": {}, "salt": {salt}, "fees": {fees},
              "permissions": [{{ "target": "{token}", "function": "transfer(address to,uint256 amount)" }}] }}"#,
        key.address(),
        t - 1,
        t + 3600,
    );
    SessionSpec::compile_json(&json).unwrap()
}

/// `prepared` with other fees, signed again by `key`: what a leaked key signs with `keyscope-signer` alone,
/// without the SDK's fee check.
fn resigned(
    client: &Client,
    mut prepared: PreparedOp,
    key: &SessionKey,
    max_fee: u128,
) -> PreparedOp {
    let signature = SessionSignature::decode(&prepared.op.signature).unwrap();
    prepared
        .op
        .set_gas_fees(max_fee.min(1_000_000_000), max_fee);
    prepared.user_op_hash = client
        .stack()
        .entry_point(prepared.version)
        .user_op_hash(&prepared.op, client.chain_id())
        .unwrap();
    prepared.op.signature = signature
        .sign(key, &prepared.user_op_hash)
        .unwrap()
        .encode()
        .unwrap()
        .into();
    prepared
}

const GWEI: u128 = 1_000_000_000;
const FINNEY: u128 = 1_000_000_000_000_000; // 0.001 ether

/// The fee scope, straight to `handleOps` on both EntryPoints: an operation whose cheapest fee the chain takes is
/// over the per-operation bound is refused before signing (and the validator agrees: `OperationFeeExceeded`);
/// one over the bound at the client's fee is sent with a lower `maxFeePerGas`; operations go until the budget is
/// used up, then the SDK refuses with the budget named (and the validator agrees: `FeeBudgetExceeded`); the
/// charges are the operations' maximum costs, exactly.
#[tokio::test(flavor = "multi_thread")]
async fn fee_scope_is_kept_before_signing() {
    let anvil = anvil();
    // 10 gwei per gas with a 1 gwei tip: anvil's base fee is at most 1 gwei, so the chain takes 2 gwei or less.
    let client = keyscope_e2e::client(&anvil).await.with_gas(GasSettings {
        max_priority_fee_per_gas: Some(GWEI),
        max_fee_per_gas: Some(10 * GWEI),
        ..GasSettings::default()
    });
    let gas = u128::from(GasSettings::default().pre_verification_gas)
        + GasSettings::default().verification_gas_limit
        + GasSettings::default().call_gas_limit;
    let token = *DemoToken::deploy(client.provider().clone())
        .await
        .unwrap()
        .address();
    let key = SessionKey::generate();
    for version in Version::ALL {
        let s = setup(&client, version, token, token).await;
        let t = now(client.provider()).await;
        let pay = |amount| [transfer(s.token, s.recipient, amount)];

        // 1. A bound no fee the chain takes fits: 0.001 ETH per operation, 1,560,000 gas.
        let tight = fee_session(
            &key,
            s.token,
            t,
            r#"{ "per_operation": "0.001 ether", "budget": "0.1 ether" }"#,
            1,
        );
        client
            .grant_session(&s.account, &s.owner, &tight.session)
            .await
            .unwrap();
        let error = client
            .prepare_session_op(&s.account, &key, &tight, &pay(1))
            .await
            .unwrap_err();
        let Error::FeeScopeExceeded(exceeded) = &error else {
            panic!("expected FeeScopeExceeded, got {error}")
        };
        assert_eq!(exceeded.limit_kind, FeeLimit::PerOperation);
        assert_eq!(exceeded.limit, U256::from(FINNEY));
        assert_eq!(exceeded.gas, Some(gas));
        assert_eq!(exceeded.max_fee_per_gas, 10 * GWEI);
        assert_eq!(exceeded.max_cost, U256::from(gas * 10 * GWEI));
        assert!(exceeded.min_fee_per_gas >= GWEI && exceeded.min_fee_per_gas <= 2 * GWEI);
        assert!(exceeded.min_cost() > U256::from(FINNEY));
        let text = error.to_string();
        assert!(
            text.contains("nothing was signed")
                && text.contains("may cost up to 0.0156 ETH (1560000 gas × 10 gwei maxFeePerGas)")
                && text.contains("per-operation fee bound of 0.001 ETH"),
            "{text}"
        );
        // The validator agrees: the same operation, signed anyway, is OperationFeeExceeded with those values.
        let cheap = client
            .clone()
            .with_gas(GasSettings {
                max_priority_fee_per_gas: Some(0),
                max_fee_per_gas: Some(0),
                ..GasSettings::default()
            })
            .prepare_session_op(&s.account, &key, &tight, &pay(1))
            .await
            .unwrap();
        let leaked = resigned(&client, cheap, &key, 10 * GWEI);
        assert_eq!(max_operation_cost(&leaked.op), exceeded.max_cost);
        let error = client.send(&leaked).await.unwrap_err();
        assert_validator_error(&error, |e| {
            matches!(e, SessionKeyValidatorErrors::OperationFeeExceeded(e)
                if e.fee == exceeded.max_cost && e.limit == U256::from(FINNEY))
        });

        // 2. Over the bound at 10 gwei, within it at a fee the chain takes: sent at the most that fits.
        let fitting = fee_session(
            &key,
            s.token,
            t,
            r#"{ "per_operation": "0.01 ether", "budget": "0.025 ether" }"#,
            2,
        );
        client
            .grant_session(&s.account, &s.owner, &fitting.session)
            .await
            .unwrap();
        let op = client
            .prepare_session_op(&s.account, &key, &fitting, &pay(1))
            .await
            .unwrap();
        let bound = 10 * FINNEY;
        assert_eq!(operation_gas(&op.op), Some(gas));
        assert_eq!(op.op.gas_fees(), (GWEI, bound / gas));
        let mut costs = max_operation_cost(&op.op);
        assert!(costs <= U256::from(bound) && costs > U256::from(bound - gas));
        assert!(client.send(&op).await.unwrap().success);
        assert_eq!(
            client
                .fees_charged(&s.account, fitting.session_id())
                .await
                .unwrap(),
            costs
        );

        // 3. Until the budget (0.025 ETH) is used up: 0.01 + 0.01 + what is left, then a typed refusal.
        let mut sent = 1;
        let error = loop {
            match client
                .prepare_session_op(&s.account, &key, &fitting, &pay(1))
                .await
            {
                Ok(op) => {
                    costs += max_operation_cost(&op.op);
                    assert!(client.send(&op).await.unwrap().success);
                    sent += 1;
                    assert!(sent <= 3, "the budget was not enforced");
                }
                Err(error) => break error,
            }
        };
        assert_eq!(sent, 3);
        let usage = client
            .fee_usage(&s.account, &fitting.session)
            .await
            .unwrap();
        assert_eq!(usage.charged, costs);
        assert!(costs <= U256::from(25 * FINNEY) && costs > U256::from(25 * FINNEY - gas));
        let Error::FeeScopeExceeded(exceeded) = &error else {
            panic!("expected FeeScopeExceeded, got {error}")
        };
        assert_eq!(exceeded.limit_kind, FeeLimit::Budget);
        assert_eq!(exceeded.limit, U256::from(25 * FINNEY) - costs);
        assert_eq!(Some(exceeded.limit), usage.left());
        assert_eq!(exceeded.charged, costs);
        assert!(
            error
                .to_string()
                .contains("over what is left of the session's fee budget"),
            "{error}"
        );
        // The validator agrees: one more operation at 2 gwei takes the charges past the budget.
        let cheap = client
            .clone()
            .with_gas(GasSettings {
                max_priority_fee_per_gas: Some(0),
                max_fee_per_gas: Some(0),
                ..GasSettings::default()
            })
            .prepare_session_op(&s.account, &key, &fitting, &pay(1))
            .await
            .unwrap();
        let leaked = resigned(&client, cheap, &key, 2 * GWEI);
        let cost = max_operation_cost(&leaked.op);
        let error = client.send(&leaked).await.unwrap_err();
        assert_validator_error(&error, |e| {
            matches!(e, SessionKeyValidatorErrors::FeeBudgetExceeded(e)
                if e.total == costs + cost && e.budget == U256::from(25 * FINNEY))
        });
        assert_eq!(
            client
                .fees_charged(&s.account, fitting.session_id())
                .await
                .unwrap(),
            costs
        );
        // Nothing the refused operations tried happened: three transfers of 1.
        assert_eq!(balance(&client, s.token, s.recipient).await, U256::from(3));

        // 4. Unlimited bounds (an explicit owner choice) skip the check: no count is kept.
        let open = fee_session(
            &key,
            s.token,
            t,
            r#"{ "per_operation": "unlimited", "budget": "unlimited" }"#,
            3,
        );
        assert!(open
            .warnings
            .iter()
            .any(|w| w.message.contains("UNLIMITED FEES")));
        client
            .grant_session(&s.account, &s.owner, &open.session)
            .await
            .unwrap();
        let op = client
            .prepare_session_op(&s.account, &key, &open, &pay(1))
            .await
            .unwrap();
        assert_eq!(op.op.gas_fees(), (GWEI, 10 * GWEI));
        assert!(client.send(&op).await.unwrap().success);
        assert_eq!(
            client
                .fees_charged(&s.account, open.session_id())
                .await
                .unwrap(),
            U256::ZERO
        );
    }
}
