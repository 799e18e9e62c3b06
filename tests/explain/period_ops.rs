//! Allowances per period (`FLAG_PER_PERIOD`): a session whose native and ERC-20 allowances count per period,
//! spent within and over them, in the current period, a past one (`SpendingPeriodPassed`, or the EntryPoint's
//! window) and a future one (the EntryPoint's window), alone and in batches (spending summed within the batch and
//! across the permissions of one period definition), then in the next period (a fresh allowance), and at random.
//! Accepted operations are sent; after each, the validator's `periodSpentOf` is what `explain` said it would be.

use std::collections::BTreeMap;

use alloy::primitives::{aliases::U48, Address, Bytes, U256};
use keyscope::bindings::session_key_validator::SessionKeyValidator;
use keyscope::explain::{PeriodKey, Verdict};
use keyscope::Account;

use crate::compare::{check, expect_error, set_time, Stats};
use crate::generators::{
    call_data, erc20, period_permissions, period_zero, pidx, Rng, TestSession, Times, APPROVE,
    PERIOD, TOKEN, TOKEN2, TRANSFER,
};
use crate::operations::{Entry, Env, Plan};
use crate::setup::Setup;

const RECIPIENT: Address = Address::new([0x77; 20]);
const MILLI_ETHER: u64 = 1_000_000_000_000_000;

/// One call of a periods operation: its target, value and data, its permission, and the period it names.
#[derive(Clone)]
struct Call {
    target: Address,
    value: U256,
    data: Bytes,
    permission: usize,
    period: u32,
}

fn native(wei: u64, permission: usize, period: u32) -> Call {
    Call {
        target: RECIPIENT,
        value: U256::from(wei),
        data: Bytes::new(),
        permission,
        period,
    }
}

fn token(selector: [u8; 4], amount: u64, permission: usize, period: u32) -> Call {
    Call {
        target: TOKEN,
        value: U256::ZERO,
        data: erc20(selector, amount),
        permission,
        period,
    }
}

fn unbounded(amount: U256, period: u32) -> Call {
    Call {
        target: TOKEN2,
        value: U256::ZERO,
        data: call_data(TRANSFER, &[U256::from(0x4242), amount]),
        permission: pidx::UNBOUNDED,
        period,
    }
}

fn plan(label: &'static str, calls: &[Call]) -> Plan {
    let mut plan = if let [call] = calls {
        Plan::single(
            label,
            call.target,
            call.value,
            call.data.clone(),
            call.permission,
        )
    } else {
        let executions: Vec<_> = calls
            .iter()
            .map(|c| (c.target, c.value, c.data.clone(), c.permission))
            .collect();
        Plan::batch(label, &executions)
    };
    plan.entries = calls
        .iter()
        .map(|c| Entry {
            window: c.period,
            ..Entry::new(c.permission)
        })
        .collect();
    plan
}

/// Compares the operation and sends it when accepted; then the validator's spending per period is what the
/// explanation said (the last spending of each period definition in the operation).
async fn run(
    env: &Env,
    stats: &mut Stats,
    account: &Account,
    session: &TestSession,
    label: &'static str,
    calls: &[Call],
) -> Verdict {
    let verdict = check(env, stats, account, session, &plan(label, calls), true).await;
    if let Some(validation) = verdict.validation().filter(|_| verdict.is_accepted()) {
        let mut expected = BTreeMap::new();
        for spending in validation.calls.iter().flat_map(|c| &c.periods) {
            expected.insert(spending.key, (spending.period, spending.spent_after));
        }
        for (key, (period, spent)) in expected {
            assert_eq!(
                period_spent(env, account, session, key).await,
                (period, spent),
                "{label}: {verdict}"
            );
        }
    }
    verdict
}

/// `periodSpentOf(account, sessionId, asset, interval, start)`.
async fn period_spent(
    env: &Env,
    account: &Account,
    session: &TestSession,
    key: PeriodKey,
) -> (u32, U256) {
    let validator = env.client.stack().session_key_validator;
    let answer = SessionKeyValidator::new(validator, env.client.provider().clone())
        .periodSpentOf(
            account.address,
            session.id(),
            key.asset,
            U48::from(key.interval),
            U48::from(key.start),
        )
        .call()
        .await
        .unwrap();
    (answer.period, answer.spent)
}

async fn now(env: &Env) -> u64 {
    keyscope_e2e::now(env.client.provider()).await
}

/// Moves to 31 s into the next period of the permissions counted from [`period_zero`] (so that the shifted
/// permission's period, 30 s later, has started too), and returns its index.
async fn next_period(env: &Env, times: &Times) -> u32 {
    let start = period_zero(times);
    let k = (now(env).await - start) / PERIOD + 1;
    set_time(env, start + k * PERIOD + 31).await;
    k as u32
}

pub(crate) async fn period_ops(
    env: &Env,
    stats: &mut Stats,
    s: &Setup,
    times: &Times,
    rng: &mut Rng,
) {
    let a = &s.account;
    let main = &s.main.session;
    let p = TestSession::new(
        s.main.key.clone(),
        main.validAfter.to(),
        main.validUntil.to(),
        0,
        Address::ZERO,
        period_permissions(times),
        20,
    );
    env.client
        .grant_session(a, &env.owner, &p.session)
        .await
        .unwrap();
    let p = &p;

    // Period k: spend within the allowance, up to it, over it.
    let k = next_period(env, times).await;
    assert_eq!(p.rate_window(pidx::NATIVE, now(env).await), k);
    let milli = |period| native(MILLI_ETHER, pidx::NATIVE, period);
    for _ in 0..2 {
        let v = run(env, stats, a, p, "period native", &[milli(k)]).await;
        assert!(v.is_accepted(), "{v}");
    }
    let v = run(
        env,
        stats,
        a,
        p,
        "period native over",
        &[native(1, pidx::NATIVE, k)],
    )
    .await;
    expect_error(&v, "PeriodAllowanceExceeded");
    // A past period: the validator refuses it (the slot's latest period is k); a future one: the EntryPoint.
    let v = run(
        env,
        stats,
        a,
        p,
        "period passed",
        &[native(1, pidx::NATIVE, k - 1)],
    )
    .await;
    expect_error(&v, "SpendingPeriodPassed");
    let v = run(
        env,
        stats,
        a,
        p,
        "period not open",
        &[native(1, pidx::NATIVE, k + 1)],
    )
    .await;
    assert_eq!(v.aa_code(), Some("AA22"), "{v}");
    // Transfers and approvals share the token's spending per period; the calling permission's allowance counts.
    let v = run(
        env,
        stats,
        a,
        p,
        "period shared batch",
        &[
            token(TRANSFER, 100, pidx::TRANSFER, k),
            token(APPROVE, 401, pidx::APPROVE, k),
        ],
    )
    .await;
    expect_error(&v, "PeriodAllowanceExceeded");
    let v = run(
        env,
        stats,
        a,
        p,
        "period batch",
        &[
            token(APPROVE, 400, pidx::APPROVE, k),
            token(TRANSFER, 600, pidx::TRANSFER, k),
        ],
    )
    .await;
    assert!(v.is_accepted(), "{v}");
    let v = run(
        env,
        stats,
        a,
        p,
        "period token over",
        &[token(TRANSFER, 1, pidx::TRANSFER, k)],
    )
    .await;
    expect_error(&v, "PeriodAllowanceExceeded");
    // The rate-limited permission counts uses in the same periods and shares the spending.
    for _ in 0..2 {
        let v = run(
            env,
            stats,
            a,
            p,
            "period rate",
            &[token(TRANSFER, 0, pidx::RATE, k)],
        )
        .await;
        assert!(v.is_accepted(), "{v}");
    }
    let v = run(
        env,
        stats,
        a,
        p,
        "period rate over",
        &[token(TRANSFER, 0, pidx::RATE, k)],
    )
    .await;
    expect_error(&v, "RateLimitReached");
    // Periods that start 30 s later are another definition, with their own spending.
    let shifted = p.rate_window(pidx::SHIFTED, now(env).await);
    let v = run(
        env,
        stats,
        a,
        p,
        "period shifted",
        &[token(TRANSFER, 1000, pidx::SHIFTED, shifted)],
    )
    .await;
    assert!(v.is_accepted(), "{v}");
    // An allowance of 2^256 − 1: the validator stops at 2^224 − 1 (saturating beyond).
    let max224 = (U256::from(1) << 224) - U256::from(1);
    let v = run(env, stats, a, p, "period uint224", &[unbounded(max224, k)]).await;
    assert!(v.is_accepted(), "{v}");
    for amount in [U256::from(1), U256::MAX] {
        let v = run(
            env,
            stats,
            a,
            p,
            "period uint224 over",
            &[unbounded(amount, k)],
        )
        .await;
        expect_error(&v, "PeriodAllowanceExceeded");
    }
    // UTC days from 0.
    let day = p.rate_window(pidx::DAILY, now(env).await);
    let v = run(
        env,
        stats,
        a,
        p,
        "period daily",
        &[native(1000, pidx::DAILY, day)],
    )
    .await;
    assert!(v.is_accepted(), "{v}");
    let v = run(
        env,
        stats,
        a,
        p,
        "period daily over",
        &[native(1, pidx::DAILY, day)],
    )
    .await;
    expect_error(&v, "PeriodAllowanceExceeded");
    // A permission whose first period has not started.
    let v = run(
        env,
        stats,
        a,
        p,
        "period future",
        &[native(1, pidx::FUTURE, 0)],
    )
    .await;
    assert_eq!(v.aa_code(), Some("AA22"), "{v}");

    // Period k + 1: a fresh allowance; k is past.
    let k1 = next_period(env, times).await;
    assert_eq!(k1, k + 1);
    let v = run(
        env,
        stats,
        a,
        p,
        "period reset batch",
        &[milli(k1), milli(k1)],
    )
    .await;
    assert!(v.is_accepted(), "{v}");
    let v = run(
        env,
        stats,
        a,
        p,
        "period passed",
        &[native(0, pidx::NATIVE, k)],
    )
    .await;
    expect_error(&v, "SpendingPeriodPassed");
    // Within one batch: a later period, then an earlier one (refused), or the other way round (the periods'
    // windows do not overlap: the EntryPoint's window check).
    let v = run(
        env,
        stats,
        a,
        p,
        "period batch order",
        &[native(0, pidx::NATIVE, k1 + 1), native(0, pidx::NATIVE, k1)],
    )
    .await;
    expect_error(&v, "SpendingPeriodPassed");
    let v = run(
        env,
        stats,
        a,
        p,
        "period batch two periods",
        &[native(0, pidx::NATIVE, k1), native(0, pidx::NATIVE, k1 + 1)],
    )
    .await;
    assert_eq!(v.aa_code(), Some("AA22"), "{v}");

    // Random operations in period k + 2, sent when accepted.
    let k2 = next_period(env, times).await;
    let native_amounts = [
        0,
        1,
        MILLI_ETHER / 2,
        MILLI_ETHER - 1,
        MILLI_ETHER,
        MILLI_ETHER + 1,
    ];
    let token_amounts = [0, 1, 100, 299, 400, 499, 500, 501, 999, 1000, 1001];
    for _ in 0..30 {
        let count = 1 + rng.below(3);
        let calls: Vec<Call> = (0..count)
            .map(|_| {
                let offset = rng.pick(&[-1i64, 0, 0, 0, 0, 1]);
                let period = (i64::from(k2) + offset) as u32;
                match rng.below(5) {
                    0 | 1 => native(rng.pick(&native_amounts), pidx::NATIVE, period),
                    2 => token(TRANSFER, rng.pick(&token_amounts), pidx::TRANSFER, period),
                    3 => token(APPROVE, rng.pick(&token_amounts), pidx::APPROVE, period),
                    _ => token(TRANSFER, rng.pick(&token_amounts), pidx::RATE, period),
                }
            })
            .collect();
        run(env, stats, a, p, "period random", &calls).await;
    }
}
