//! Fee cases: operations at the fee bound, one wei over, far over, with and without paymaster gas limits, past
//! what naive arithmetic holds; budgets used up across sent operations and enable-mode replays.

use alloy::primitives::{Address, Bytes, U256};
use keyscope::explain::Verdict;

use crate::compare::{check, expect_error, fees_charged, Stats};
use crate::generators::{Rng, ANY_SELECTOR, CENTI_ETHER};
use crate::operations::{Env, Gas, Mode, Plan};
use crate::setup::{Setup, PAYMASTER};

/// The fee scope: every bound at and around its edge, arithmetic past 64 and 128 bits, budgets used up by sent
/// operations (single calls and batches alike count once), enable-mode replays that must not refill a budget.
pub(crate) async fn fee_ops(env: &Env, stats: &mut Stats, s: &Setup, rng: &mut Rng) {
    const GWEI: u128 = 1_000_000_000;
    const MAX_GAS_VALUE: u128 = (1 << 120) - 1;
    let a = &s.account;
    let f = &s.fees;
    let base = |label: &'static str, gas: Gas| {
        let mut plan = Plan::single(
            label,
            Address::new([0x78; 20]),
            U256::ZERO,
            Bytes::from(ANY_SELECTOR.to_vec()),
            0,
        );
        plan.gas = Some(gas);
        plan
    };
    let batch = |label: &'static str, gas: Gas| {
        let calls: Vec<_> = (0..3u8)
            .map(|i| {
                (
                    Address::new([0x60 + i; 20]),
                    U256::ZERO,
                    Bytes::from(ANY_SELECTOR.to_vec()),
                    0,
                )
            })
            .collect();
        let mut plan = Plan::batch(label, &calls);
        plan.gas = Some(gas);
        plan
    };
    let with_paymaster = |mut plan: Plan, verification: u128, post_op: u128| {
        plan.paymaster_and_data =
            keyscope::signer::userop::paymaster_and_data(PAYMASTER, verification, post_op, &[0xaa]);
        plan
    };
    let accepted = |v: &Verdict| assert!(v.is_accepted(), "{v}");

    // The per-operation bound, at the bound and one wei or one gas over, in gas at 1 wei and at 10 gwei.
    for (session, bound) in [
        (&f.bounded, CENTI_ETHER),
        (&f.per_operation_only, 2 * CENTI_ETHER),
    ] {
        let at = base("fee at the bound", Gas::costing(bound, 1, 0, 0));
        accepted(&check(env, stats, a, session, &at, false).await);
        let over = base("fee one wei over", Gas::costing(bound, 1, 0, 1));
        let v = check(env, stats, a, session, &over, false).await;
        expect_error(&v, "OperationFeeExceeded");
        assert!(
            v.to_string()
                .contains("over the session's per-operation fee limit of"),
            "{v}"
        );
        let at = base(
            "fee at the bound, 10 gwei",
            Gas::costing(bound, 10 * GWEI, 0, 0),
        );
        accepted(&check(env, stats, a, session, &at, false).await);
        let over = base(
            "fee one gas over, 10 gwei",
            Gas::costing(bound, 10 * GWEI, 0, 1),
        );
        expect_error(
            &check(env, stats, a, session, &over, false).await,
            "OperationFeeExceeded",
        );
        let far = base(
            "fee far over",
            Gas::new(600_000, 300_000, 100_000, 10_000 * GWEI),
        );
        expect_error(
            &check(env, stats, a, session, &far, false).await,
            "OperationFeeExceeded",
        );
        let over = batch("fee batch one wei over", Gas::costing(bound, 1, 0, 1));
        expect_error(
            &check(env, stats, a, session, &over, false).await,
            "OperationFeeExceeded",
        );
        // The paymaster's gas limits count, whoever pays: at the bound the validator accepts (and the
        // EntryPoint turns to the undeployed paymaster), one gas of post-op more and it refuses.
        // At the bound with 100,000 gas of paymaster limits, at 10 gwei, and those limits.
        let paid = |label, verification, post_op| {
            with_paymaster(
                base(label, Gas::costing(bound, 10 * GWEI, 100_000, 0)),
                verification,
                post_op,
            )
        };
        let at = paid("fee at the bound, paymaster gas", 60_000, 40_000);
        let v = check(env, stats, a, session, &at, false).await;
        accepted(&v);
        assert_eq!(v.validation().unwrap().fees.fee(), U256::from(bound), "{v}");
        let over = paid("fee over, paymaster gas", 60_000, 40_001);
        expect_error(
            &check(env, stats, a, session, &over, false).await,
            "OperationFeeExceeded",
        );
        // Fewer than 52 bytes of paymasterAndData carry no gas limits for the validator (the EntryPoint
        // refuses them: AA93).
        let mut short = paid("fee, short paymasterAndData", u128::MAX, u128::MAX);
        short.paymaster_and_data = short.paymaster_and_data.slice(..51);
        check(env, stats, a, session, &short, false).await;
    }

    // Values past what u64 and u128 arithmetic hold, and past the EntryPoint's 2^120 − 1 (AA94): refused by a
    // bounded scope, accepted by the validator under an unlimited one (then only the account's funds bound the
    // cost: AA21), refused by the zero scope unless maxFeePerGas is 0.
    let max = MAX_GAS_VALUE;
    let huge = [
        (
            "fee past u64",
            Gas::new(u128::from(u64::MAX), u128::from(u64::MAX), 1, 1),
        ),
        (
            "fee past u128",
            Gas::new(600_000, 300_000, 1 << 70, 1 << 70),
        ),
        (
            "fee of 2^127 gas",
            Gas::new(1 << 100, 1 << 100, 1 << 100, 1 << 27),
        ),
        (
            "fee at the EntryPoint's largest values",
            Gas {
                verification: max,
                call: max,
                pre_verification: U256::from(max),
                priority: max,
                max_fee: max,
            },
        ),
        (
            "fee, preVerificationGas 2^120",
            Gas::new(600_000, 300_000, max + 1, 1),
        ),
        (
            "fee, maxFeePerGas 2^120",
            Gas::new(600_000, 300_000, 100_000, max + 1),
        ),
        (
            "fee, preVerificationGas 2^128",
            Gas {
                pre_verification: U256::from(1) << 128,
                ..Gas::new(600_000, 300_000, 0, 1)
            },
        ),
        (
            "fee, preVerificationGas 2^256 - 1",
            Gas {
                pre_verification: U256::MAX,
                ..Gas::new(600_000, 300_000, 0, 0)
            },
        ),
        (
            "fee, gas limits summing past 2^128",
            Gas::new(u128::MAX, u128::MAX, 0, 1),
        ),
        (
            "fee, huge gas at maxFeePerGas 0",
            Gas::new(600_000, 300_000, 1 << 100, 0),
        ),
    ];
    for (label, gas) in huge {
        // zero only at maxFeePerGas 0 and gas that fits 128 bits: else the validator saturates to 2^256 - 1
        let fits = gas.pre_verification < U256::from(1) << 128
            && U256::from(gas.verification) + U256::from(gas.call) + gas.pre_verification
                < U256::from(1) << 128;
        let free = gas.max_fee == 0 && fits;
        let v = check(env, stats, a, &f.bounded, &base(label, gas), false).await;
        if !free {
            expect_error(&v, "OperationFeeExceeded");
        }
        let v = check(env, stats, a, &f.unlimited, &base(label, gas), false).await;
        accepted_by_validator(&v, label);
        let v = check(env, stats, a, &f.zero, &base(label, gas), false).await;
        if free {
            accepted_by_validator(&v, label);
        } else {
            expect_error(&v, "OperationFeeExceeded");
        }
        let v = check(env, stats, a, &f.budget_only, &base(label, gas), false).await;
        if !free {
            expect_error(&v, "FeeBudgetExceeded");
        }
    }
    let with_paymaster_gas = with_paymaster(
        base(
            "fee, paymaster gas past 2^128",
            Gas::new(600_000, 300_000, 0, 1),
        ),
        u128::MAX,
        1,
    );
    check(env, stats, a, &f.bounded, &with_paymaster_gas, false).await;
    check(env, stats, a, &f.unlimited, &with_paymaster_gas, false).await;

    // Random gas fields from values around the bounds and past the arithmetic's edges, under every fee scope.
    // (Verification and call gas stay where the account can run: gas itself is not what is compared here.)
    let bound_gas = CENTI_ETHER - 900_000;
    for _ in 0..20 {
        let pre_verification = rng.pick(&[
            U256::ZERO,
            U256::from(100_000),
            U256::from(bound_gas),
            U256::from(bound_gas + 1),
            U256::from(bound_gas - 1),
            U256::from(u64::MAX),
            U256::from(1) << 64,
            U256::from(max),
            U256::from(max) + U256::from(1),
            U256::from(1) << 128,
            U256::MAX,
        ]);
        let gas = Gas {
            verification: rng.pick(&[600_000, 1_000_000, 1 << 64, max, max + 1, u128::MAX]),
            call: rng.pick(&[0, 300_000]),
            pre_verification,
            priority: 0,
            max_fee: rng.pick(&[0, 1, 2, 10 * GWEI, u128::from(u64::MAX), max, max + 1]),
        };
        let gas = Gas {
            priority: gas.max_fee,
            ..gas
        };
        let session = rng.pick(&[
            &f.bounded,
            &f.unlimited,
            &f.per_operation_only,
            &f.budget_only,
            &f.zero,
        ]);
        let mut plan = if rng.chance(30) {
            batch("fee, random gas", gas)
        } else {
            base("fee, random gas", gas)
        };
        if rng.chance(30) {
            plan = with_paymaster(
                plan,
                rng.pick(&[0, 50_000, max, u128::MAX]),
                rng.pick(&[0, 1, 50_000, max + 1]),
            );
        }
        check(env, stats, a, session, &plan, false).await;
    }

    // Unlimited: sent ops leave the counter at zero; a per-operation bound alone does too.
    let ordinary = || {
        base(
            "fee, ordinary",
            Gas::new(600_000, 300_000, 100_000, 10 * GWEI),
        )
    };
    accepted(&check(env, stats, a, &f.unlimited, &ordinary(), true).await);
    let at = base(
        "fee at the bound, no budget",
        Gas::costing(2 * CENTI_ETHER, 10 * GWEI, 0, 0),
    );
    accepted(&check(env, stats, a, &f.per_operation_only, &at, true).await);
    assert_eq!(
        fees_charged(env, a, f.per_operation_only.id()).await,
        U256::ZERO
    );
    // The zero scope: only free operations, sent too.
    let free = base("fee, free", Gas::new(600_000, 300_000, 100_000, 0));
    accepted(&check(env, stats, a, &f.zero, &free, true).await);
    expect_error(
        &check(
            env,
            stats,
            a,
            &f.zero,
            &base("fee, one wei a gas", Gas::new(600_000, 300_000, 100_000, 1)),
            false,
        )
        .await,
        "OperationFeeExceeded",
    );

    // Budgets used up by sent operations: 0.035 ether, operations of 0.01 ether (batches count once).
    for (session, per_operation) in [(&f.bounded, true), (&f.budget_only, false)] {
        if per_operation {
            // over the per-operation bound with the whole budget left: the per-operation bound is checked first
            let over = base(
                "budget, one wei over the bound",
                Gas::costing(CENTI_ETHER, 1, 0, 1),
            );
            expect_error(
                &check(env, stats, a, session, &over, false).await,
                "OperationFeeExceeded",
            );
        }
        for i in 0..3 {
            let plan = if i == 1 {
                batch("budget, batch", Gas::costing(CENTI_ETHER, 10 * GWEI, 0, 0))
            } else {
                base("budget", Gas::costing(CENTI_ETHER, 10 * GWEI, 0, 0))
            };
            let v = check(env, stats, a, session, &plan, true).await;
            accepted(&v);
            assert_eq!(
                v.validation().unwrap().fees.charged_after,
                U256::from((i + 1) * CENTI_ETHER)
            );
        }
        let v = check(
            env,
            stats,
            a,
            session,
            &base("budget, over", Gas::costing(CENTI_ETHER, 10 * GWEI, 0, 0)),
            true,
        )
        .await;
        expect_error(&v, "FeeBudgetExceeded");
        assert!(v.to_string().contains("already charged"), "{v}");
        let half = CENTI_ETHER / 2;
        expect_error(
            &check(
                env,
                stats,
                a,
                session,
                &base("budget, one wei over", Gas::costing(half, 1, 0, 1)),
                true,
            )
            .await,
            "FeeBudgetExceeded",
        );
        let v = check(
            env,
            stats,
            a,
            session,
            &base("budget, exactly the rest", Gas::costing(half, GWEI, 0, 0)),
            true,
        )
        .await;
        accepted(&v);
        assert_eq!(v.validation().unwrap().fees.budget_left(), Some(U256::ZERO));
        accepted(&check(env, stats, a, session, &free, true).await);
        expect_error(
            &check(
                env,
                stats,
                a,
                session,
                &base(
                    "budget spent, one wei a gas",
                    Gas::new(600_000, 300_000, 100_000, 1),
                ),
                true,
            )
            .await,
            "FeeBudgetExceeded",
        );
        assert_eq!(
            fees_charged(env, a, session.id()).await,
            U256::from(35 * CENTI_ETHER / 10)
        );
    }

    // Enable mode: the session starts at zero; enabling it again (replaying the owner's signature) keeps the
    // counter. 0.02 ether per operation, 0.025 ether in all.
    let enabled = &f.enabled;
    let mut plan = base("enable, fee", Gas::costing(CENTI_ETHER, 10 * GWEI, 0, 0));
    plan.mode = Mode::Enable(true);
    let v = check(env, stats, a, enabled, &plan, true).await;
    accepted(&v);
    assert_eq!(v.validation().unwrap().fees.charged_before, U256::ZERO);
    plan.label = "enable again, fee";
    let v = check(env, stats, a, enabled, &plan, true).await;
    accepted(&v);
    assert_eq!(
        v.validation().unwrap().fees.charged_after,
        U256::from(2 * CENTI_ETHER)
    );
    let mut use_mode = plan.clone();
    use_mode.mode = Mode::Use;
    use_mode.label = "enabled, budget over";
    expect_error(
        &check(env, stats, a, enabled, &use_mode, true).await,
        "FeeBudgetExceeded",
    );
    plan.label = "enable again, budget over";
    expect_error(
        &check(env, stats, a, enabled, &plan, true).await,
        "FeeBudgetExceeded",
    );
    let mut rest = base(
        "enable again, the rest",
        Gas::costing(CENTI_ETHER / 2, GWEI, 0, 0),
    );
    rest.mode = Mode::Enable(true);
    accepted(&check(env, stats, a, enabled, &rest, true).await);
    assert_eq!(
        fees_charged(env, a, enabled.id()).await,
        U256::from(25 * CENTI_ETHER / 10)
    );
}

/// The validator accepts (the chain may still refuse: AA94, AA21, the paymaster).
fn accepted_by_validator(verdict: &Verdict, label: &str) {
    assert!(
        verdict.is_accepted(),
        "{label}: expected the validator to accept, got {verdict}"
    );
}
