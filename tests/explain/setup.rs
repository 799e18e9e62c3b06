//! The scenario's setup: per EntryPoint version, an account with the validator installed and the sessions the
//! case families use (the main session, the fee sessions).

use alloy::primitives::{Address, U256};
use keyscope::permissions::abi::encode_permission;
use keyscope::permissions::{FLAG_ANY_TARGET, UNLIMITED_FEE};
use keyscope::signer::SessionKey;
use keyscope::{Account, Version};

use crate::generators::{
    main_permissions, permission, Rng, TestSession, Times, ANY_SELECTOR, CENTI_ETHER,
};
use crate::operations::Env;

pub(crate) struct Setup {
    pub(crate) account: Account,
    pub(crate) uninstalled: Account,
    pub(crate) main: TestSession,
    pub(crate) mutants_start: usize,
    pub(crate) none_policy: TestSession,
    pub(crate) required_policy: TestSession,
    pub(crate) exact_policy: TestSession,
    pub(crate) revoked: TestSession,
    pub(crate) unknown: TestSession,
    pub(crate) enable: TestSession,
    pub(crate) fees: FeeSessions,
}

pub(crate) const PAYMASTER: Address = Address::new([0x9a; 20]);

/// The sessions of the fee scenario, all with paymaster policy `any` (paymaster gas limits count too).
pub(crate) struct FeeSessions {
    /// 0.01 ether per operation, 0.035 ether in all.
    pub(crate) bounded: TestSession,
    /// No bound at all: only what the account holds limits it (`AA21`).
    pub(crate) unlimited: TestSession,
    /// 0.02 ether per operation, no budget.
    pub(crate) per_operation_only: TestSession,
    /// No per-operation bound, 0.035 ether in all.
    pub(crate) budget_only: TestSession,
    /// Zero on both bounds: only operations with maxFeePerGas 0.
    pub(crate) zero: TestSession,
    /// 0.02 ether per operation, 0.025 ether in all; not granted: enabled by its first operation.
    pub(crate) enabled: TestSession,
}

pub(crate) async fn setup(env: &Env, version: Version, times: &Times, rng: &mut Rng) -> Setup {
    let client = &env.client;
    let account = client
        .create_account(env.owner.address(), U256::from(1), version)
        .await
        .unwrap();
    let uninstalled = client
        .create_account_with(env.owner.address(), U256::from(2), version, false)
        .await
        .unwrap();
    for a in [&account, &uninstalled] {
        client
            .fund(a.address, U256::from(10u128.pow(19)))
            .await
            .unwrap();
        client.deposit(a, U256::from(10u128.pow(18))).await.unwrap();
    }
    let (encodings, mutants_start) = main_permissions(times, rng, 80);
    let key = SessionKey::from_bytes(&[0x0c; 32]).unwrap();
    let until = times.start + 1_000_000;
    let main = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        0,
        Address::ZERO,
        encodings,
        1,
    );
    let any = vec![encode_permission(&permission(
        Address::ZERO,
        ANY_SELECTOR,
        FLAG_ANY_TARGET,
    ))];
    let none_policy = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        1,
        Address::ZERO,
        any.clone(),
        2,
    )
    .with_fees((UNLIMITED_FEE, UNLIMITED_FEE));
    let required_policy = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        2,
        Address::ZERO,
        any.clone(),
        3,
    )
    .with_fees((4 * CENTI_ETHER, UNLIMITED_FEE));
    let exact_policy = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        3,
        PAYMASTER,
        any.clone(),
        4,
    )
    .with_fees((UNLIMITED_FEE, 100 * CENTI_ETHER));
    let revoked = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        0,
        Address::ZERO,
        any.clone(),
        5,
    );
    let unknown = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        0,
        Address::ZERO,
        any.clone(),
        6,
    );
    let enable = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        0,
        Address::ZERO,
        any.clone(),
        7,
    );
    let fee_session = |salt, fees| {
        TestSession::new(
            key.clone(),
            times.start - 100,
            until,
            0,
            Address::ZERO,
            any.clone(),
            salt,
        )
        .with_fees(fees)
    };
    let fees = FeeSessions {
        bounded: fee_session(10, (CENTI_ETHER, 35 * CENTI_ETHER / 10)),
        unlimited: fee_session(11, (UNLIMITED_FEE, UNLIMITED_FEE)),
        per_operation_only: fee_session(12, (2 * CENTI_ETHER, UNLIMITED_FEE)),
        budget_only: fee_session(13, (UNLIMITED_FEE, 35 * CENTI_ETHER / 10)),
        zero: fee_session(14, (0, 0)),
        enabled: fee_session(15, (2 * CENTI_ETHER, 25 * CENTI_ETHER / 10)),
    };
    for session in [
        &main,
        &none_policy,
        &required_policy,
        &exact_policy,
        &revoked,
        &fees.bounded,
        &fees.unlimited,
        &fees.per_operation_only,
        &fees.budget_only,
        &fees.zero,
    ] {
        client
            .grant_session(&account, &env.owner, &session.session)
            .await
            .unwrap();
    }
    client
        .revoke_session(&account, &env.owner, revoked.id())
        .await
        .unwrap();
    Setup {
        account,
        uninstalled,
        main,
        mutants_start,
        none_policy,
        required_policy,
        exact_policy,
        revoked,
        unknown,
        enable,
        fees,
    }
}
