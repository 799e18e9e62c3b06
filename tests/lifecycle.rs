//! The whole session lifecycle against anvil, on EntryPoint v0.7 and v0.8: deploy the stack, create an account,
//! grant a session by an owner operation, use it (single call and batch), get out-of-scope calls rejected with
//! typed validator errors, expire it (AA22), revoke one session and all sessions (SessionNotActive), reach a use
//! limit and a cumulative ERC-20 limit, uninstall the validator (AA24) and reinstall it (old sessions stay void).
//! Finer revocation: the owner revokes one permission of a session (its other permission keeps working, a batch
//! using both fails, an operation signed before the revocation fails after it, the listing shows the leaf), and a
//! session key revokes its own session (its kill switch) with no permission for it.
//! And the fee scope: the SDK keeps session operations within it before signing (lowering `maxFeePerGas` when the
//! chain allows, refusing with `Error::FeeScopeExceeded` when not), and the validator agrees with it.
//! And periodic allowances: an ERC-20 allowance per period is spent, refused over, and whole again in the next
//! period, as the SDK's query of what is left in the current period says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use keyscope::bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;
use keyscope::bindings::DemoToken;
use keyscope::permissions::CompiledSession;
use keyscope::signer::{SessionKey, ENTRY_POINT_V07, ENTRY_POINT_V08};
use keyscope::{
    max_operation_cost, operation_gas, Account, Client, Error, FeeLimit, FeeScopeExceeded,
    GasSettings, OpOutcome, PreparedOp, SessionCall, SessionStatus, Stack, Version,
    CREATE2_DEPLOYER,
};
use keyscope_e2e::{
    advance_time, anvil, assert_validator_error, balance, deploy_token, fixed_fees, funded_account,
    funded_provider, grant, mint_call, mint_tokens, now, resign, transfer, transfer_session,
    SessionJson, GWEI, TRANSFER,
};
use serde_json::json;

/// An account of one test, with its owner, its tokens and the recipient of its transfers, and the client that
/// sends its operations.
struct Setup {
    client: Client,
    account: Account,
    owner: SessionKey,
    token: Address,
    other_token: Address,
    recipient: Address,
}

async fn setup(client: &Client, version: Version, token: Address, other_token: Address) -> Setup {
    let owner = SessionKey::generate();
    let deposit = 10u128.pow(16);
    let account = funded_account(client, owner.address(), version, 7, Some(deposit)).await;
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
    assert_eq!(
        client.deposit_of(&account).await.unwrap(),
        U256::from(deposit)
    );
    mint_tokens(client, token, account.address, 1000).await;
    Setup {
        client: client.clone(),
        account,
        owner,
        token,
        other_token,
        // One recipient per account, so that balances are per account.
        recipient: Address::repeat_byte(if version == Version::V07 { 0x42 } else { 0x43 }),
    }
}

impl Setup {
    /// `token.transfer(recipient, amount)`.
    fn pay(&self, amount: u64) -> SessionCall {
        transfer(self.token, self.recipient, amount)
    }

    /// The recipient's balance of `token`.
    async fn paid(&self) -> U256 {
        balance(&self.client, self.token, self.recipient).await
    }

    /// Grants `session` (asserting success).
    async fn grant(&self, session: &CompiledSession) {
        grant(&self.client, &self.account, &self.owner, session).await;
    }

    /// The session operation of `calls`, sent; it must succeed.
    async fn send(
        &self,
        key: &SessionKey,
        session: &CompiledSession,
        calls: &[SessionCall],
    ) -> OpOutcome {
        let outcome = self.sent(key, session, calls).await.unwrap();
        assert!(outcome.success, "{outcome:?}");
        outcome
    }

    /// The session operation of `calls`, sent: included (`Ok`, whether its calls succeeded or not) or refused.
    async fn sent(
        &self,
        key: &SessionKey,
        session: &CompiledSession,
        calls: &[SessionCall],
    ) -> Result<OpOutcome, Error> {
        self.client
            .send_session_op(&self.account, key, session, calls)
            .await
    }

    /// The session operation of `calls`, sent; it must be refused.
    async fn refused(
        &self,
        key: &SessionKey,
        session: &CompiledSession,
        calls: &[SessionCall],
    ) -> Error {
        self.sent(key, session, calls).await.unwrap_err()
    }

    /// `session`'s status on the account.
    async fn status(&self, session: &CompiledSession) -> SessionStatus {
        self.client
            .session_status(&self.account, session.session_id())
            .await
            .unwrap()
    }

    /// What `session`'s operations were charged so far.
    async fn fees_charged(&self, session: &CompiledSession) -> U256 {
        self.client
            .fees_charged(&self.account, session.session_id())
            .await
            .unwrap()
    }
}

/// Phase 1: grant, use, out-of-scope calls. Returns the session for the expiry phase.
async fn grant_and_use(client: &Client, s: &Setup, key: &SessionKey) -> CompiledSession {
    let t = now(client.provider()).await;
    let compiled = transfer_session(key, s.token, t);
    assert_eq!(s.status(&compiled).await, SessionStatus::Unknown);
    s.grant(&compiled).await;
    assert_eq!(s.status(&compiled).await, SessionStatus::Active);

    // In scope: one transfer, then a batch of two.
    let outcome = s.send(key, &compiled, &[s.pay(60)]).await;
    assert!(outcome.gas_used > 0 && outcome.actual_gas_used > U256::ZERO);
    assert_eq!(s.paid().await, U256::from(60));
    s.send(key, &compiled, &[s.pay(100), s.pay(1)]).await;
    assert_eq!(s.paid().await, U256::from(161));

    // Out of scope: another function, another contract, an amount over the rule.
    let mint = mint_call(s.token, s.recipient, 1);
    let error = s.refused(key, &compiled, &[mint]).await;
    assert_validator_error(&error, |e| {
        matches!(e, SessionKeyValidatorErrors::SelectorNotAllowed(e)
            if e.selector == DemoToken::mintCall::SELECTOR && e.allowed == DemoToken::transferCall::SELECTOR)
    });
    let other = transfer(s.other_token, s.recipient, 1);
    let error = s.refused(key, &compiled, &[other]).await;
    assert_validator_error(&error, |e| {
        matches!(e, SessionKeyValidatorErrors::TargetNotAllowed(e)
            if e.target == s.other_token && e.allowed == s.token)
    });
    assert!(error.to_string().contains("TargetNotAllowed"), "{error}");
    let error = s.refused(key, &compiled, &[s.pay(101)]).await;
    assert_validator_error(&error, |e| {
        matches!(e, SessionKeyValidatorErrors::ArgumentRuleFailed(_))
    });
    // Nothing moved.
    assert_eq!(s.paid().await, U256::from(161));
    compiled
}

/// Phase 2 (after the chain's time passed the sessions' end): AA22, then revocations.
async fn expire_and_revoke(
    client: &Client,
    s: &Setup,
    key: &SessionKey,
    expired: &CompiledSession,
) {
    let error = s.refused(key, expired, &[s.pay(1)]).await;
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
    let fresh = transfer_session(key, s.token, t);
    s.grant(&fresh).await;
    s.send(key, &fresh, &[s.pay(5)]).await;
    client
        .revoke_session(&s.account, &s.owner, fresh.session_id())
        .await
        .unwrap();
    assert_eq!(s.status(&fresh).await, SessionStatus::Revoked);
    let error = s.refused(key, &fresh, &[s.pay(5)]).await;
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
    let other = SessionJson::new(key, t)
        .valid_until(t + 7200)
        .salt(B256::repeat_byte(9).to_string())
        .transfer_of_at_most(s.token, 100)
        .compile();
    s.grant(&other).await;
    client
        .revoke_all_sessions(&s.account, &s.owner)
        .await
        .unwrap();
    assert_eq!(s.status(&other).await, SessionStatus::Unknown);
    let error = s.refused(key, &other, &[s.pay(5)]).await;
    assert_validator_error(&error, |e| {
        matches!(e, SessionKeyValidatorErrors::SessionNotActive(_))
    });
    assert_eq!(s.paid().await, U256::from(166));
}

#[tokio::test(flavor = "multi_thread")]
async fn session_lifecycle_on_anvil() {
    let anvil = anvil();
    let (provider, bundler_key) = funded_provider(&anvil);
    let bundler = bundler_key.address();
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
    let token = deploy_token(&client).await;
    let other_token = deploy_token(&client).await;

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
        revoke_one_permission_then_self_revoke(&client, s, &key).await;
        limits_then_uninstall(&client, s, &key).await;
    }
}

/// The owner revokes permission 0 of a two-permission session: permission 1 keeps working, permission 0 fails
/// (alone, in a batch, and in an operation signed before the revocation, as one waiting in a mempool would); then
/// the session key revokes its own session and nothing of it works any more.
async fn revoke_one_permission_then_self_revoke(client: &Client, s: &Setup, key: &SessionKey) {
    let t = now(client.provider()).await;
    let session = SessionJson::new(key, t)
        .valid_until(t + 7200)
        .salt(B256::repeat_byte(0x5e).to_string())
        .transfer_of_at_most(s.token, 100)
        .transfer_of(s.other_token)
        .compile();
    s.grant(&session).await;
    mint_tokens(client, s.other_token, s.account.address, 10).await;
    let mut other_call = transfer(s.other_token, s.recipient, 1);
    other_call.permission = 1;
    s.send(key, &session, &[s.pay(1)]).await;
    // Signed now, sent after the revocation: what a bundler's mempool would hold.
    let waiting = client
        .prepare_session_op(&s.account, key, &session, &[s.pay(2)])
        .await
        .unwrap();

    let leaf = session.tree.leaf(0).unwrap();
    client
        .revoke_permission(&s.account, &s.owner, session.session_id(), leaf)
        .await
        .unwrap();
    assert_eq!(s.status(&session).await, SessionStatus::Active);
    let revoked = |e: &SessionKeyValidatorErrors, index: u64| {
        matches!(e, SessionKeyValidatorErrors::PermissionIsRevoked(e)
            if e.leaf == leaf && e.callIndex == U256::from(index))
    };
    let error = client.send(&waiting).await.unwrap_err();
    assert_validator_error(&error, |e| revoked(e, 0));
    let error = s.refused(key, &session, &[s.pay(3)]).await;
    assert_validator_error(&error, |e| revoked(e, 0));
    let error = s
        .refused(key, &session, &[other_call.clone(), s.pay(3)])
        .await;
    assert_validator_error(&error, |e| revoked(e, 1));
    let paid_before = s.paid().await;
    s.send(key, &session, &[other_call.clone()]).await;
    assert_eq!(
        s.paid().await,
        paid_before,
        "the other token moved, not this one"
    );
    assert_eq!(
        balance(client, s.other_token, s.recipient).await,
        U256::from(1)
    );
    let listing = client
        .sessions_of(s.account.address, 0, 10_000)
        .await
        .unwrap();
    let entry = listing
        .sessions
        .iter()
        .find(|e| e.session_id == session.session_id())
        .unwrap();
    assert_eq!(entry.revoked_permissions, [leaf]);

    // The kill switch: the key revokes its own session, with no permission for that call.
    let outcome = client
        .revoke_own_session(&s.account, key, &session)
        .await
        .unwrap();
    assert!(outcome.success, "{outcome:?}");
    assert_eq!(s.status(&session).await, SessionStatus::Revoked);
    let error = s.refused(key, &session, &[other_call]).await;
    assert_validator_error(
        &error,
        |e| matches!(e, SessionKeyValidatorErrors::SessionNotActive(e) if e.sessionId == session.session_id()),
    );
}

/// A session with a use limit and a cumulative ERC-20 limit reaches both; uninstalling the validator voids every
/// session, and after a reinstall the old session stays void (its counters never come back).
async fn limits_then_uninstall(client: &Client, s: &Setup, key: &SessionKey) {
    let t = now(client.provider()).await;
    let limited = SessionJson::new(key, t)
        .salt(format!("0x{}", "77".repeat(32)))
        .permission(json!({ "target": s.token.to_string(), "function": TRANSFER, "max_uses": 2 }))
        .permission(json!({
            "target": s.other_token.to_string(),
            "function": TRANSFER,
            "erc20_total_limit": "30",
        }))
        .compile();
    s.grant(&limited).await;
    let uses = |amount| s.pay(amount);
    let spends = |amount| SessionCall {
        permission: 1,
        ..transfer(s.other_token, s.recipient, amount)
    };

    // max_uses 2: the third use is refused (the error names the use it would have been).
    for _ in 0..2 {
        s.send(key, &limited, &[uses(1)]).await;
    }
    let error = s.refused(key, &limited, &[uses(1)]).await;
    assert_validator_error(
        &error,
        |e| matches!(e, SessionKeyValidatorErrors::UsageLimitReached(e) if e.uses == U256::from(3) && e.maxUses == U256::from(2)),
    );

    // 30 tokens in all: 20 + 10 pass, one more unit does not (a batch counts as a whole).
    // (The account holds none of `other_token`: the transfers revert in execution, the limit counts in validation.)
    s.sent(key, &limited, &[spends(20)]).await.unwrap();
    let error = s.refused(key, &limited, &[spends(10), spends(1)]).await;
    assert_validator_error(
        &error,
        |e| matches!(e, SessionKeyValidatorErrors::Erc20TotalExceeded(e) if e.callIndex == U256::from(1) && e.total == U256::from(31) && e.limit == U256::from(30)),
    );
    s.sent(key, &limited, &[spends(10)]).await.unwrap();

    // Uninstall: the session stops validating (the account no longer routes to the validator: AA24).
    client
        .uninstall_session_validator(&s.account, &s.owner)
        .await
        .unwrap();
    let error = s.refused(key, &limited, &[spends(0)]).await;
    assert_eq!(error.aa_code(), Some("AA24"), "{error}");

    // Reinstall: the old session is void (a new epoch), nothing comes back.
    client
        .install_session_validator(&s.account, &s.owner)
        .await
        .unwrap();
    assert_eq!(s.status(&limited).await, SessionStatus::Unknown);
    let error = s.refused(key, &limited, &[spends(0)]).await;
    assert_validator_error(&error, |e| {
        matches!(e, SessionKeyValidatorErrors::SessionNotActive(_))
    });
}

impl Setup {
    /// Grants a one-permission session of `key` (`transfer` on `token`, no rule, from `t - 1`) with the fee
    /// scope `fees` (the JSON format's) and salt `salt`.
    async fn fee_session(&self, key: &SessionKey, t: u64, fees: &str, salt: u8) -> CompiledSession {
        let session = SessionJson::new(key, t)
            .salt(salt)
            .fees(fees)
            .transfer_of(self.token)
            .compile();
        self.grant(&session).await;
        session
    }

    /// `session`'s operation paying 1 token, prepared by the client (with its fee check).
    async fn prepare(
        &self,
        key: &SessionKey,
        session: &CompiledSession,
    ) -> Result<PreparedOp, Error> {
        self.client
            .prepare_session_op(&self.account, key, session, &[self.pay(1)])
            .await
    }

    /// `session`'s operation paying 1 token, prepared at no fee (so within any fee scope) and signed again by
    /// `key` at `max_fee` per gas: what a leaked key signs with `keyscope-signer` alone, without the SDK's fee
    /// check.
    async fn leaked(
        &self,
        key: &SessionKey,
        session: &CompiledSession,
        max_fee: u128,
    ) -> PreparedOp {
        let mut prepared = self
            .client
            .clone()
            .with_gas(fixed_fees(0, 0))
            .prepare_session_op(&self.account, key, session, &[self.pay(1)])
            .await
            .unwrap();
        prepared.op.set_gas_fees(max_fee.min(GWEI), max_fee);
        resign(&self.client, &mut prepared, key);
        prepared
    }
}

/// The fee scope refusal in `error`.
fn fee_scope_exceeded(error: &Error) -> &FeeScopeExceeded {
    match error {
        Error::FeeScopeExceeded(exceeded) => exceeded,
        other => panic!("expected FeeScopeExceeded, got {other}"),
    }
}

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
    let client = keyscope_e2e::client(&anvil)
        .await
        .with_gas(fixed_fees(GWEI, 10 * GWEI));
    let gas = u128::from(GasSettings::default().pre_verification_gas)
        + GasSettings::default().verification_gas_limit
        + GasSettings::default().call_gas_limit;
    let token = deploy_token(&client).await;
    let key = SessionKey::generate();
    for version in Version::ALL {
        let s = setup(&client, version, token, token).await;
        let t = now(client.provider()).await;

        // 1. A bound no fee the chain takes fits: 0.001 ETH per operation, 1,560,000 gas.
        let fees = r#"{ "per_operation": "0.001 ether", "budget": "0.1 ether" }"#;
        let tight = s.fee_session(&key, t, fees, 1).await;
        let error = s.prepare(&key, &tight).await.unwrap_err();
        let exceeded = fee_scope_exceeded(&error);
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
        let leaked_op = s.leaked(&key, &tight, 10 * GWEI).await;
        assert_eq!(max_operation_cost(&leaked_op.op), exceeded.max_cost);
        let error = client.send(&leaked_op).await.unwrap_err();
        assert_validator_error(&error, |e| {
            matches!(e, SessionKeyValidatorErrors::OperationFeeExceeded(e)
                if e.fee == exceeded.max_cost && e.limit == U256::from(FINNEY))
        });

        // 2. Over the bound at 10 gwei, within it at a fee the chain takes: sent at the most that fits.
        let fees = r#"{ "per_operation": "0.01 ether", "budget": "0.025 ether" }"#;
        let fitting = s.fee_session(&key, t, fees, 2).await;
        let op = s.prepare(&key, &fitting).await.unwrap();
        let bound = 10 * FINNEY;
        assert_eq!(operation_gas(&op.op), Some(gas));
        assert_eq!(op.op.gas_fees(), (GWEI, bound / gas));
        let mut costs = max_operation_cost(&op.op);
        assert!(costs <= U256::from(bound) && costs > U256::from(bound - gas));
        assert!(client.send(&op).await.unwrap().success);
        assert_eq!(s.fees_charged(&fitting).await, costs);

        // 3. Until the budget (0.025 ETH) is used up: 0.01 + 0.01 + what is left, then a typed refusal.
        let mut sent = 1;
        let error = loop {
            match s.prepare(&key, &fitting).await {
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
        let exceeded = fee_scope_exceeded(&error);
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
        let leaked_op = s.leaked(&key, &fitting, 2 * GWEI).await;
        let cost = max_operation_cost(&leaked_op.op);
        let error = client.send(&leaked_op).await.unwrap_err();
        assert_validator_error(&error, |e| {
            matches!(e, SessionKeyValidatorErrors::FeeBudgetExceeded(e)
                if e.total == costs + cost && e.budget == U256::from(25 * FINNEY))
        });
        assert_eq!(s.fees_charged(&fitting).await, costs);
        // Nothing the refused operations tried happened: three transfers of 1.
        assert_eq!(s.paid().await, U256::from(3));

        // 4. Unlimited bounds (an explicit owner choice) skip the check: no count is kept.
        let fees = r#"{ "per_operation": "unlimited", "budget": "unlimited" }"#;
        let open = s.fee_session(&key, t, fees, 3).await;
        assert!(open
            .warnings
            .iter()
            .any(|w| w.message.contains("UNLIMITED FEES")));
        let op = s.prepare(&key, &open).await.unwrap();
        assert_eq!(op.op.gas_fees(), (GWEI, 10 * GWEI));
        assert!(client.send(&op).await.unwrap().success);
        assert_eq!(s.fees_charged(&open).await, U256::ZERO);
    }
}

/// Moves chain time to `timestamp` (a block mined at exactly that second).
async fn mine_at(client: &Client, timestamp: u64) {
    let provider = client.provider();
    let _: serde_json::Value = provider
        .raw_request("evm_setNextBlockTimestamp".into(), (timestamp,))
        .await
        .unwrap();
    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    assert_eq!(now(provider).await, timestamp);
}

/// A periodic ERC-20 allowance (`period` + `erc20_period_limit`: 50 tokens per hour from the permission's
/// `valid_after`), on both EntryPoints: spending within the period passes, one unit over is refused
/// (`PeriodAllowanceExceeded`), and in the next period the allowance is whole again (no rollover); an operation
/// signed for the earlier period is then refused (`SpendingPeriodPassed`). The SDK's query of what is left in
/// the current period agrees at every step.
#[tokio::test(flavor = "multi_thread")]
async fn periodic_allowance_renews_each_period() {
    const HOUR: u64 = 3600;
    let anvil = anvil();
    let client = keyscope_e2e::client(&anvil).await;
    let token = deploy_token(&client).await;
    let key = SessionKey::generate();
    for version in Version::ALL {
        let s = setup(&client, version, token, token).await;
        let t = now(client.provider()).await;
        // Periods start at the permission's valid_after: period 0 is [t - 1, t + 3598].
        let start = t - 1;
        let session = SessionJson::new(&key, t)
            .valid_until(t + 10 * HOUR)
            .permission(json!({
                "target": token.to_string(),
                "function": TRANSFER,
                "valid_after": start,
                "period": "1h",
                "erc20_period_limit": "50",
            }))
            .compile();
        let permission = &session.permissions[0];
        assert!(permission.is_periodic());
        s.grant(&session).await;

        // What is left now, by the SDK, at the chain's time.
        let left_now = || async {
            let at = now(client.provider()).await;
            let allowances = client
                .period_allowances(&s.account, session.session_id(), permission, at)
                .await
                .unwrap();
            assert_eq!(allowances.len(), 1, "{allowances:?}");
            let allowance = allowances[0];
            assert_eq!(allowance.asset, token);
            assert_eq!((allowance.interval, allowance.start), (HOUR, start));
            assert_eq!(allowance.limit, U256::from(50));
            assert_eq!(allowance.spent + allowance.left, allowance.limit);
            // The period the signer names for an operation now.
            assert_eq!(allowance.period, permission.rate_limit_window(at));
            assert_eq!(
                allowance.next_period_start,
                start + (u64::from(allowance.period) + 1) * HOUR
            );
            allowance
        };
        let fresh = left_now().await;
        assert_eq!((fresh.period, fresh.spent), (0, U256::ZERO));

        // Within the period: 30, then 20 in a batch of two (the whole allowance).
        s.send(&key, &session, &[s.pay(30)]).await;
        let after = left_now().await;
        assert_eq!((after.spent, after.left), (U256::from(30), U256::from(20)));
        s.send(&key, &session, &[s.pay(15), s.pay(5)]).await;
        assert_eq!(left_now().await.left, U256::ZERO);

        // Over it: one more unit is refused, with the period and the total it would have reached.
        let error = s.refused(&key, &session, &[s.pay(1)]).await;
        assert_validator_error(&error, |e| {
            matches!(e, SessionKeyValidatorErrors::PeriodAllowanceExceeded(e)
                if e.asset == token && e.period == U256::ZERO
                    && e.total == U256::from(51) && e.limit == U256::from(50))
        });
        assert_eq!(s.paid().await, U256::from(50));

        // Signed in period 0 (a zero transfer fits what is left), sent only later.
        let late = client
            .prepare_session_op(&s.account, &key, &session, &[s.pay(0)])
            .await
            .unwrap();

        // The next period: the allowance is whole again (nothing carried over), and spendable. One second in:
        // EntryPoint v0.8 reads validAfter as exclusive, so the first second of a period (the operation's
        // validAfter once narrowed to the period) is not due there (AA22).
        mine_at(&client, fresh.next_period_start + 1).await;
        let renewed = left_now().await;
        assert_eq!(renewed.period, 1);
        assert_eq!((renewed.spent, renewed.left), (U256::ZERO, U256::from(50)));
        assert_eq!(renewed.latest_period, 0);
        assert_eq!(renewed.period_start, fresh.next_period_start);
        s.send(&key, &session, &[s.pay(40)]).await;
        let spent = left_now().await;
        assert_eq!((spent.period, spent.latest_period), (1, 1));
        assert_eq!((spent.spent, spent.left), (U256::from(40), U256::from(10)));
        let error = s.refused(&key, &session, &[s.pay(11)]).await;
        assert_validator_error(&error, |e| {
            matches!(e, SessionKeyValidatorErrors::PeriodAllowanceExceeded(e)
                if e.period == U256::from(1) && e.total == U256::from(51))
        });
        assert_eq!(s.paid().await, U256::from(90));

        // The operation signed for period 0 names a period the session has left behind.
        let error = client.send(&late).await.unwrap_err();
        assert_validator_error(&error, |e| {
            matches!(e, SessionKeyValidatorErrors::SpendingPeriodPassed(e)
                if e.asset == token && e.period == U256::ZERO && e.latestPeriod == U256::from(1))
        });
        assert_eq!(s.paid().await, U256::from(90));
    }
}
