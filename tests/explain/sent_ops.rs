//! Sent operations: accepted operations are sent so that usage, rate-limit and spending counters move, and the
//! limits they reach are explained; the window boundary; a new epoch after `revokeAllSessions`.

use alloy::primitives::{Address, Bytes, U256};
use keyscope::Version;

use crate::compare::{check, expect_error, fees_charged, set_time, Stats};
use crate::generators::{
    call_data, erc20, idx, valid_args, Times, ANY_SELECTOR, APPROVE, BOUNDARY_SELECTOR,
    RATE_SELECTOR, RATE_TARGET, RULES_SELECTOR, RULES_TARGET, TIMED_TARGET, TOKEN, TRANSFER,
};
use crate::operations::{Env, Mode, Plan};
use crate::setup::Setup;

/// Sends accepted operations so that the counters move, and explains the limits as they are reached.
pub(crate) async fn counter_ops(env: &Env, stats: &mut Stats, s: &Setup, times: &Times) {
    let a = &s.account;
    let m = &s.main;
    let recipient = Address::new([0x77; 20]);

    // Native total 3e15, per call 1e15.
    for i in 0..4 {
        let plan = Plan::single(
            "native total",
            recipient,
            U256::from(10u64.pow(15)),
            Bytes::new(),
            idx::NATIVE,
        );
        let v = check(env, stats, a, m, &plan, true).await;
        if i == 3 {
            expect_error(&v, "NativeTotalExceeded");
        }
    }
    // ERC-20: transfer (≤ 600 each, 4 uses) and approve share the token's total of 1000.
    let transfer = |amount| {
        Plan::single(
            "erc20 transfer",
            TOKEN,
            U256::ZERO,
            erc20(TRANSFER, amount),
            idx::TRANSFER,
        )
    };
    assert!(check(env, stats, a, m, &transfer(600), true)
        .await
        .is_accepted());
    let approve = Plan::single(
        "erc20 approve",
        TOKEN,
        U256::ZERO,
        erc20(APPROVE, 401),
        idx::APPROVE,
    );
    expect_error(
        &check(env, stats, a, m, &approve, true).await,
        "Erc20TotalExceeded",
    );
    let approve = Plan::single(
        "erc20 approve",
        TOKEN,
        U256::ZERO,
        erc20(APPROVE, 300),
        idx::APPROVE,
    );
    assert!(check(env, stats, a, m, &approve, true).await.is_accepted());
    let both = Plan::batch(
        "erc20 batch",
        &[
            (TOKEN, U256::ZERO, erc20(TRANSFER, 50), idx::TRANSFER),
            (TOKEN, U256::ZERO, erc20(TRANSFER, 51), idx::TRANSFER),
        ],
    );
    expect_error(
        &check(env, stats, a, m, &both, true).await,
        "Erc20TotalExceeded",
    );
    assert!(check(env, stats, a, m, &transfer(50), true)
        .await
        .is_accepted());
    assert!(check(env, stats, a, m, &transfer(0), true)
        .await
        .is_accepted());
    assert!(check(env, stats, a, m, &transfer(0), true)
        .await
        .is_accepted());
    expect_error(
        &check(env, stats, a, m, &transfer(0), true).await,
        "UsageLimitReached",
    );

    // Rate limit: 2 uses per 50-second window, windows counted from `start - 1000`.
    let rate_start = times.start - 1000;
    let now = keyscope_e2e::now(env.client.provider()).await;
    let window = (now - rate_start) / 50 + 1;
    set_time(env, rate_start + window * 50 + 1).await;
    let rate = |k: u32| {
        let mut plan = Plan::single(
            "rate limit",
            RATE_TARGET,
            U256::ZERO,
            Bytes::from(RATE_SELECTOR.to_vec()),
            idx::RATE,
        );
        plan.entries[0].window = k;
        plan
    };
    let k = m.rate_window(idx::RATE, keyscope_e2e::now(env.client.provider()).await);
    assert_eq!(u64::from(k), window);
    // A window not yet open, and one that has closed: the EntryPoint's window check (AA22).
    assert_eq!(
        check(env, stats, a, m, &rate(k + 1), false).await.aa_code(),
        Some("AA22")
    );
    assert_eq!(
        check(env, stats, a, m, &rate(k - 1), false).await.aa_code(),
        Some("AA22")
    );
    assert!(check(env, stats, a, m, &rate(k), true).await.is_accepted());
    assert!(check(env, stats, a, m, &rate(k), true).await.is_accepted());
    expect_error(
        &check(env, stats, a, m, &rate(k), true).await,
        "RateLimitReached",
    );
    expect_error(
        &check(env, stats, a, m, &rate(k - 1), true).await,
        "RateLimitWindowPassed",
    );
    set_time(env, rate_start + (window + 1) * 50 + 1).await;
    let v = check(env, stats, a, m, &rate(k + 1), true).await;
    assert!(v.is_accepted(), "{v}");
    expect_error(
        &check(env, stats, a, m, &rate(k), true).await,
        "RateLimitWindowPassed",
    );

    // Enable mode, for real: the session becomes active.
    let plan = Plan::single(
        "enable",
        Address::new([0x78; 20]),
        U256::ZERO,
        Bytes::from(ANY_SELECTOR.to_vec()),
        0,
    );
    let mut enable = plan.clone();
    enable.mode = Mode::Enable(true);
    assert!(check(env, stats, a, &s.enable, &enable, true)
        .await
        .is_accepted());
    assert!(check(env, stats, a, &s.enable, &plan, true)
        .await
        .is_accepted());
}

/// The permission whose window is `[times.boundary, times.boundary + 2]`, at `times.boundary - 1 + offset`: v0.7
/// accepts from its first second on, v0.8 only after it; both until its last second.
pub(crate) async fn boundary_ops(env: &Env, stats: &mut Stats, s: &Setup, offset: u64) {
    let plan = Plan::single(
        "window boundary",
        TIMED_TARGET,
        U256::ZERO,
        Bytes::from(BOUNDARY_SELECTOR.to_vec()),
        idx::BOUNDARY,
    );
    let v = check(env, stats, &s.account, &s.main, &plan, false).await;
    let first = match s.account.version {
        Version::V07 => 1,
        Version::V08 => 2,
    };
    let expected = if (first..=3).contains(&offset) {
        None
    } else {
        Some("AA22")
    };
    assert_eq!(v.aa_code(), expected, "{v}");
}

/// After revokeAllSessions nothing of the old epoch works.
pub(crate) async fn epoch_ops(env: &Env, stats: &mut Stats, s: &Setup) {
    // the main session's budget was charged by the operations sent
    assert!(fees_charged(env, &s.account, s.main.id()).await > U256::ZERO);
    env.client
        .revoke_all_sessions(&s.account, &env.owner)
        .await
        .unwrap();
    let plan = Plan::single(
        "after revoke all",
        RULES_TARGET,
        U256::ZERO,
        call_data(RULES_SELECTOR, &valid_args()),
        idx::RULES,
    );
    expect_error(
        &check(env, stats, &s.account, &s.main, &plan, false).await,
        "SessionNotActive",
    );
    // Granted again in the new epoch: the counters start over.
    env.client
        .grant_session(&s.account, &env.owner, &s.main.session)
        .await
        .unwrap();
    let transfer = Plan::single(
        "new epoch",
        TOKEN,
        U256::ZERO,
        erc20(TRANSFER, 600),
        idx::TRANSFER,
    );
    let v = check(env, stats, &s.account, &s.main, &transfer, false).await;
    assert!(v.is_accepted(), "{v}");
    // ... the fee counter too
    assert_eq!(v.validation().unwrap().fees.charged_before, U256::ZERO);
    assert_eq!(fees_charged(env, &s.account, s.main.id()).await, U256::ZERO);
}
