//! Differential test of `explain` against the chain: a few hundred session operations (valid ones, every kind of
//! violation, rule boundaries, random mutations of calldata, signatures and permission encodings), each explained
//! off-chain and run through `EntryPoint.handleOps` (`eth_call`) and `SessionKeyValidator.validateUserOp` called
//! from the account (`eth_call`), on EntryPoint v0.7 and v0.8. The verdicts must agree exactly: `AA23` with the
//! same revert data (custom error and parameters, or no data), `AA24`, `AA22`, or acceptance with the same
//! `validationData`. Accepted operations are also sent, so that usage, rate-limit, spending and fee counters move,
//! and the limits they reach are explained too.
//!
//! The fee scope: sessions with bounded per-operation fees and budgets, unlimited ones, and operations whose gas
//! fields and `maxFeePerGas` are at the bound, one wei over, far over, with and without paymaster gas limits, and
//! past what naive arithmetic holds (the EntryPoint itself refuses any gas value above 2^120 − 1 with `AA94`
//! before it calls the account, and an operation the account cannot pay for with `AA21`: the validator's own
//! answer is still compared through the direct call); budgets used up across sent operations and enable-mode
//! replays. After every sent operation the validator's `feesChargedOf` is what `explain` said it would be.
//!
//! Allowances per period (`FLAG_PER_PERIOD`): native and ERC-20 allowances per period spent within and over
//! them, in past, current and future periods, in batches and across the permissions of one period definition,
//! sent so that the spending per period moves (and `periodSpentOf` is checked against the explanation), then in
//! the next period, and at random.
//!
//! Revocation: permissions revoked one by one by the owner (`revokePermission`), after the session's grant and
//! before it, used alone, next to their sibling permissions and in batches (`PermissionIsRevoked`, which `explain`
//! finds through `hasRevokedPermissions` and `permissionRevoked`); the session key's own revocation (an empty
//! permission entry for `revokeSession(sessionId)` on the validator), valid, in batches, in enable mode, sent, and
//! wrong in each way the validator checks (`InvalidSelfRevocation`).
//!
//! Signer kinds: sessions whose signer is a P-256 key, a WebAuthn credential (UP and UV, UP only) or a 2-of-3
//! multisig of a secp256k1, a P-256 and a WebAuthn member, with valid signatures (sent), another signer's, dummies,
//! flipped bytes, assertions without UP, a multisig below its threshold, truncated and empty signatures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod compare;
mod fee_ops;
mod generators;
mod message_ops;
mod operations;
mod period_ops;
mod revocation_ops;
mod sent_ops;
mod setup;
mod signer_ops;
mod static_ops;

use std::time::Instant;

use keyscope::signer::SessionKey;
use keyscope::{GasSettings, Version};

use compare::{set_time, Stats};
use fee_ops::fee_ops;
use generators::{Rng, Times};
use operations::Env;
use period_ops::period_ops;
use revocation_ops::{new_epoch_ops, revocation_ops};
use sent_ops::{boundary_ops, counter_ops, epoch_ops};
use setup::setup;
use signer_ops::signer_ops;
use static_ops::static_ops;

#[tokio::test(flavor = "multi_thread")]
async fn explain_agrees_with_the_chain() {
    let started = Instant::now();
    let anvil = keyscope_e2e::anvil();
    let client = keyscope_e2e::client(&anvil).await.with_gas(GasSettings {
        max_priority_fee_per_gas: Some(1_000_000_000),
        max_fee_per_gas: Some(20_000_000_000),
        ..GasSettings::default()
    });
    let env = Env {
        _anvil: anvil,
        client,
        owner: SessionKey::from_bytes(&[0x0a; 32]).unwrap(),
        other_key: SessionKey::from_bytes(&[0x0b; 32]).unwrap(),
    };
    // Deterministic; `KEYSCOPE_EXPLAIN_SEED=<u64>` explores other operations.
    let seed = std::env::var("KEYSCOPE_EXPLAIN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6b65_7973_636f_7065);
    let mut rng = Rng(seed);
    let mut stats = Stats::default();
    let start = keyscope_e2e::now(env.client.provider()).await;
    let times = Times {
        start,
        boundary: start + 100_000,
    };
    let mut setups = vec![];
    for version in [Version::V07, Version::V08] {
        setups.push(setup(&env, version, &times, &mut rng).await);
    }
    for s in &setups {
        static_ops(&env, &mut stats, s, &mut rng).await;
    }
    for s in &setups {
        counter_ops(&env, &mut stats, s, &times).await;
    }
    for s in &setups {
        fee_ops(&env, &mut stats, s, &mut rng).await;
    }
    for s in &setups {
        revocation_ops(&env, &mut stats, s).await;
    }
    for s in &setups {
        period_ops(&env, &mut stats, s, &times, &mut rng).await;
    }
    for s in &setups {
        signer_ops(&env, &mut stats, s, &times, &mut rng, seed).await;
    }
    // The boundary permission's window is [boundary, boundary + 2].
    for at in times.boundary - 1..=times.boundary + 3 {
        set_time(&env, at).await;
        for s in &setups {
            boundary_ops(&env, &mut stats, s, at + 1 - times.boundary).await;
        }
    }
    for s in &setups {
        epoch_ops(&env, &mut stats, s).await;
        new_epoch_ops(&env, &mut stats, s).await;
    }

    let elapsed = started.elapsed();
    println!(
        "{} operations compared ({} sent) in {:.1} s",
        stats.compared,
        stats.sent,
        elapsed.as_secs_f64()
    );
    for (outcome, count) in &stats.by_outcome {
        println!("{count:5}  {outcome}");
    }
    println!("sample explanations:");
    for (outcome, sample) in &stats.samples {
        println!("  [{outcome}] {sample}");
    }
    assert!(stats.compared >= 300, "{} operations", stats.compared);
    // Every kind of outcome was exercised.
    for expected in [
        "accepted",
        "AA22",
        "AA24",
        "AA23 ArgumentRuleFailed",
        "AA23 (empty revert)",
        "AA23 OperationFeeExceeded",
        "AA23 FeeBudgetExceeded",
        "AA23 MalformedSession",
        "AA23 PermissionIsRevoked",
        "AA23 InvalidSelfRevocation",
        "AA23 PeriodAllowanceExceeded",
        "AA23 SpendingPeriodPassed",
        "AA23 InvalidPermissionFlags",
        "AA23 MalformedPermission",
        "AA94 (gas values overflow)",
        "AA93 (short paymasterAndData)",
        "accepted by the validator, AA21 (prefund)",
    ] {
        assert!(stats.by_outcome.contains_key(expected), "no {expected}");
    }
}
