//! Static operations: every kind of violation, rule boundaries and random mutations of calldata, signatures and
//! permission encodings, explained and compared without sending anything.

use alloy::primitives::{Address, Bytes, U256};
use keyscope::explain::{Rejection, Verdict};
use keyscope::permissions::abi::SESSION_LENGTH;

use crate::compare::{check, expect_error, Stats};
use crate::generators::{
    boundaries, call_data, erc20, idx, valid_args, Rng, ANY_SELECTOR, BOUNDARY_SELECTOR,
    FUTURE_SELECTOR, MUTANT_SELECTOR, MUTANT_TARGET, RULES_SELECTOR, RULES_TARGET, TIMED_TARGET,
    TOKEN, TRANSFER,
};
use crate::operations::{build, Entry, Env, Mode, Plan, SigEdit};
use crate::setup::{Setup, PAYMASTER};

/// Valid and invalid operations of every kind against the sessions as granted (nothing is sent).
pub(crate) async fn static_ops(env: &Env, stats: &mut Stats, s: &Setup, rng: &mut Rng) {
    let a = &s.account;
    let m = &s.main;
    let validator = env.client.stack().session_key_validator;
    let rules_call = |args: &[U256]| call_data(RULES_SELECTOR, args);
    let any_call = || Bytes::from(ANY_SELECTOR.to_vec());
    let one = |label, target, value, data, p| Plan::single(label, target, value, data, p);

    // In scope.
    let v = check(
        env,
        stats,
        a,
        m,
        &one(
            "rules ok",
            RULES_TARGET,
            U256::from(1000),
            rules_call(&valid_args()),
            idx::RULES,
        ),
        false,
    )
    .await;
    assert!(v.is_accepted(), "{v}");
    let plan = Plan::batch(
        "batch ok",
        &[
            (
                RULES_TARGET,
                U256::ZERO,
                rules_call(&valid_args()),
                idx::RULES,
            ),
            (
                Address::new([0x77; 20]),
                U256::from(5),
                Bytes::new(),
                idx::NATIVE,
            ),
            (Address::new([0x78; 20]), U256::ZERO, any_call(), idx::ANY),
            (TOKEN, U256::ZERO, erc20(TRANSFER, 10), idx::TRANSFER),
        ],
    );
    assert!(check(env, stats, a, m, &plan, false).await.is_accepted());

    // Every rule at and around its boundaries, one argument at a time.
    for r in 0..16 {
        for value in boundaries(r) {
            let mut args = valid_args();
            args[r] = value;
            check(
                env,
                stats,
                a,
                m,
                &one(
                    "rule boundary",
                    RULES_TARGET,
                    U256::ZERO,
                    rules_call(&args),
                    idx::RULES,
                ),
                false,
            )
            .await;
        }
    }
    // Several arguments at once (the first failing rule wins), and short calldata (rules fail closed).
    for _ in 0..30 {
        let mut args = valid_args();
        for _ in 0..1 + rng.below(3) {
            let r = rng.below(16);
            args[r] = if rng.chance(20) {
                rng.word()
            } else {
                rng.pick(&boundaries(r))
            };
        }
        if rng.chance(25) {
            args.truncate(rng.below(16));
        }
        let mut data = rules_call(&args).to_vec();
        if rng.chance(15) {
            data.truncate((4 + 32 * args.len()).saturating_sub(1 + rng.below(31)));
        }
        check(
            env,
            stats,
            a,
            m,
            &one(
                "rule mix",
                RULES_TARGET,
                U256::ZERO,
                data.into(),
                idx::RULES,
            ),
            false,
        )
        .await;
    }

    // Scope: target, selector, value, native transfers, forbidden targets.
    let cases: Vec<(&'static str, Address, U256, Bytes, usize)> = vec![
        (
            "other target",
            TOKEN,
            U256::ZERO,
            rules_call(&valid_args()),
            idx::RULES,
        ),
        (
            "other selector",
            RULES_TARGET,
            U256::ZERO,
            call_data(ANY_SELECTOR, &valid_args()),
            idx::RULES,
        ),
        (
            "short calldata",
            RULES_TARGET,
            U256::ZERO,
            Bytes::from(vec![0x12, 0x34]),
            idx::RULES,
        ),
        (
            "value over limit",
            RULES_TARGET,
            U256::from(1001),
            rules_call(&valid_args()),
            idx::RULES,
        ),
        (
            "native with calldata",
            Address::new([0x77; 20]),
            U256::ZERO,
            any_call(),
            idx::NATIVE,
        ),
        (
            "native over limit",
            Address::new([0x77; 20]),
            U256::from(10u64.pow(15) + 1),
            Bytes::new(),
            idx::NATIVE,
        ),
        ("account", a.address, U256::ZERO, any_call(), idx::ANY),
        ("validator", validator, U256::ZERO, any_call(), idx::ANY),
        ("zero", Address::ZERO, U256::ZERO, Bytes::new(), idx::NATIVE),
        (
            "transfer over rule",
            TOKEN,
            U256::ZERO,
            erc20(TRANSFER, 601),
            idx::TRANSFER,
        ),
        (
            "transfer short",
            TOKEN,
            U256::ZERO,
            Bytes::from(TRANSFER.to_vec()),
            idx::TRANSFER,
        ),
        (
            "future permission",
            TIMED_TARGET,
            U256::ZERO,
            Bytes::from(FUTURE_SELECTOR.to_vec()),
            idx::FUTURE,
        ),
        (
            "boundary permission",
            TIMED_TARGET,
            U256::ZERO,
            Bytes::from(BOUNDARY_SELECTOR.to_vec()),
            idx::BOUNDARY,
        ),
    ];
    for (label, target, value, data, p) in cases {
        check(env, stats, a, m, &one(label, target, value, data, p), false).await;
    }
    // Ill-formed permissions: each against the call it names.
    for p in idx::WEIRD..s.mutants_start {
        let data = if p == idx::WEIRD + 3 {
            Bytes::new()
        } else {
            rules_call(&valid_args())
        };
        let target = if matches!(p - idx::WEIRD, 2 | 3) {
            Address::new([0x77; 20])
        } else {
            RULES_TARGET
        };
        check(
            env,
            stats,
            a,
            m,
            &one("ill-formed permission", target, U256::ZERO, data, p),
            false,
        )
        .await;
    }
    // Non-canonical permission encodings, each in the tree.
    for p in s.mutants_start..m.encodings.len() {
        let args: Vec<U256> = [100u64, 2, 0x11, 0]
            .iter()
            .map(|v| U256::from(*v))
            .collect();
        let value = U256::from(rng.below(12));
        check(
            env,
            stats,
            a,
            m,
            &one(
                "mutant permission",
                MUTANT_TARGET,
                value,
                call_data(MUTANT_SELECTOR, &args),
                p,
            ),
            false,
        )
        .await;
    }

    // Signature: wrong key, bad proof, truncations, trailing bytes, mode, counts.
    let base = one(
        "base",
        Address::new([0x78; 20]),
        U256::ZERO,
        any_call(),
        idx::ANY,
    );
    let mut plan = base.clone();
    plan.wrong_key = true;
    plan.label = "wrong session key";
    assert_eq!(
        check(env, stats, a, m, &plan, false).await.aa_code(),
        Some("AA24")
    );
    let mut plan = base.clone();
    plan.entries[0].bad_proof = true;
    plan.label = "bad proof";
    expect_error(
        &check(env, stats, a, m, &plan, false).await,
        "PermissionNotInSession",
    );
    let full = build(env, a, m, &base).await.op.signature.len();
    for cut in [
        0,
        1,
        100,
        225,
        226,
        227,
        SESSION_LENGTH,
        SESSION_LENGTH + 1,
        SESSION_LENGTH + 2,
        SESSION_LENGTH + 3,
        400,
        full - 70,
        full - 66,
        full - 65,
        full - 1,
    ] {
        let mut plan = base.clone();
        plan.edit = SigEdit::Truncate(cut);
        plan.label = "truncated signature";
        check(env, stats, a, m, &plan, false).await;
    }
    for _ in 0..10 {
        let mut plan = base.clone();
        plan.edit = SigEdit::Truncate(rng.below(full));
        plan.label = "truncated signature";
        check(env, stats, a, m, &plan, false).await;
    }
    // the session signature is the rest: bytes after it make it another, invalid signature
    let mut plan = base.clone();
    plan.edit = SigEdit::Append(3);
    plan.label = "trailing bytes";
    assert_eq!(
        check(env, stats, a, m, &plan, false).await.aa_code(),
        Some("AA24")
    );
    for byte in [3u8, 0xff] {
        let mut plan = base.clone();
        plan.mode = Mode::Raw(byte);
        plan.label = "unknown mode";
        expect_error(
            &check(env, stats, a, m, &plan, false).await,
            "UnknownSignatureMode",
        );
    }
    // Mode 2 over a use-mode body: the call count read as the chain proof's length.
    let mut plan = base.clone();
    plan.mode = Mode::Raw(2);
    plan.label = "multichain mode, use-mode body";
    check(env, stats, a, m, &plan, false).await;
    for _ in 0..25 {
        let mut plan = base.clone();
        plan.edit = SigEdit::Byte(rng.below(full), rng.next() as u8);
        plan.label = "signature byte";
        check(env, stats, a, m, &plan, false).await;
    }
    let mut plan = base.clone();
    plan.entries.push(Entry::new(idx::ANY));
    plan.label = "two entries, one call";
    expect_error(
        &check(env, stats, a, m, &plan, false).await,
        "CallCountMismatch",
    );

    // Execute calldata: other functions, modes, batch sizes, random corruption.
    let mut plan = base.clone();
    plan.call_data = call_data([0xde, 0xad, 0xbe, 0xef], &[]);
    plan.label = "not execute";
    expect_error(
        &check(env, stats, a, m, &plan, false).await,
        "UnsupportedAccountCall",
    );
    for (position, byte) in [(4usize, 0xfe), (5, 0x01), (5, 0x02), (10, 0x01), (35, 0x01)] {
        let mut data = base.call_data.to_vec();
        data[position] = byte;
        let mut plan = base.clone();
        plan.call_data = data.into();
        plan.label = "execution mode";
        check(env, stats, a, m, &plan, false).await;
    }
    let batch = |count: usize| -> Plan {
        let calls: Vec<_> = (0..count)
            .map(|i| {
                (
                    Address::new([0x60 + (i % 16) as u8; 20]),
                    U256::ZERO,
                    any_call(),
                    idx::ANY,
                )
            })
            .collect();
        Plan::batch("batch", &calls)
    };
    for count in [0usize, 2, 32, 33] {
        let mut plan = batch(count);
        if count == 0 {
            plan.entries = vec![Entry::new(idx::ANY)];
        }
        check(env, stats, a, m, &plan, false).await;
    }
    let mut plan = batch(3);
    plan.entries.pop();
    expect_error(
        &check(env, stats, a, m, &plan, false).await,
        "CallCountMismatch",
    );
    for _ in 0..30 {
        let mut plan = batch(1 + rng.below(3));
        let mut data = plan.call_data.to_vec();
        match rng.below(3) {
            0 => {
                let at = 100 + rng.below(data.len() - 100);
                data[at] = rng.next() as u8;
            }
            1 => {
                let word = (rng.below(data.len() - 100) / 32) * 32 + 100;
                let value = rng.pick(&[
                    U256::ZERO,
                    U256::from(0x20),
                    U256::from(0x60),
                    U256::from(0x80),
                    U256::MAX,
                ]);
                data[word..word + 32].copy_from_slice(&value.to_be_bytes::<32>());
            }
            _ => {
                let keep = 100 + rng.below(data.len() - 100);
                data.truncate(keep);
            }
        }
        plan.call_data = data.into();
        plan.label = "corrupted batch";
        check(env, stats, a, m, &plan, false).await;
    }

    // Paymaster policies and session states.
    let pm = |address: Address| -> Bytes {
        let mut data = address.to_vec();
        data.extend_from_slice(&[0u8; 32]);
        data[20 + 15] = 0x01; // paymasterVerificationGasLimit 1 (counted in the fee)
        data.into()
    };
    let any_plan = |label| one(label, Address::new([0x78; 20]), U256::ZERO, any_call(), 0);
    let mut plan = any_plan("policy none, paymaster");
    plan.paymaster_and_data = pm(PAYMASTER);
    expect_error(
        &check(env, stats, a, &s.none_policy, &plan, false).await,
        "PaymasterNotAllowed",
    );
    assert!(check(
        env,
        stats,
        a,
        &s.none_policy,
        &any_plan("policy none, self-paid"),
        false
    )
    .await
    .is_accepted());
    expect_error(
        &check(
            env,
            stats,
            a,
            &s.required_policy,
            &any_plan("policy required, self-paid"),
            false,
        )
        .await,
        "PaymasterNotAllowed",
    );
    let mut plan = any_plan("policy exactly, other paymaster");
    plan.paymaster_and_data = pm(Address::new([0x9b; 20]));
    expect_error(
        &check(env, stats, a, &s.exact_policy, &plan, false).await,
        "PaymasterNotAllowed",
    );
    let mut plan = any_plan("policy exactly, its paymaster");
    plan.paymaster_and_data = pm(PAYMASTER);
    assert!(check(env, stats, a, &s.exact_policy, &plan, false)
        .await
        .is_accepted());
    for (session, label) in [
        (&s.revoked, "revoked session"),
        (&s.unknown, "unknown session"),
    ] {
        expect_error(
            &check(env, stats, a, session, &any_plan(label), false).await,
            "SessionNotActive",
        );
    }
    let mut plan = any_plan("enable revoked session");
    plan.mode = Mode::Enable(true);
    expect_error(
        &check(env, stats, a, &s.revoked, &plan, false).await,
        "SessionIsRevoked",
    );
    let mut plan = any_plan("enable, bad owner signature");
    plan.mode = Mode::Enable(false);
    assert_eq!(
        check(env, stats, a, &s.enable, &plan, false)
            .await
            .aa_code(),
        Some("AA24")
    );
    // Multichain enable (mode 2): one owner signature over a tree of four chains' entries.
    let mut plan = any_plan("multichain enable, this chain's proof");
    plan.mode = Mode::Multichain(true);
    assert!(check(env, stats, a, &s.enable, &plan, false)
        .await
        .is_accepted());
    let mut plan = any_plan("multichain enable, another chain's proof");
    plan.mode = Mode::Multichain(false);
    assert_eq!(
        check(env, stats, a, &s.enable, &plan, false)
            .await
            .aa_code(),
        Some("AA24")
    );
    let mut plan = any_plan("multichain enable, revoked session");
    plan.mode = Mode::Multichain(true);
    expect_error(
        &check(env, stats, a, &s.revoked, &plan, false).await,
        "SessionIsRevoked",
    );
    // truncated: within the proof, right after the proof length, before the owner signature's length
    for at in [1 + 288, 1 + 288 + 1, 1 + 288 + 1 + 40, 1 + 288 + 1 + 64 + 1] {
        let mut plan = any_plan("multichain enable, truncated");
        plan.mode = Mode::Multichain(true);
        plan.edit = SigEdit::Truncate(at);
        expect_error(
            &check(env, stats, a, &s.enable, &plan, false).await,
            "SignatureTruncated",
        );
    }
    for (word, value) in [
        (0usize, U256::from(1) << 160),
        (1, U256::from(1) << 48),
        (2, U256::ZERO),
        (1, U256::from(u64::MAX >> 16)),
        (4, U256::from(4)),
        (4, U256::from(0x103)),
        (4, U256::from(3)),
        (5, U256::from(1)),
        (0, U256::ZERO),
        // the fee words: uint128, so the high half must be zero; all ones in the low half is UNLIMITED_FEE
        (6, U256::from(1) << 128),
        (7, U256::from(1) << 255),
        (6, U256::MAX),
        (6, U256::from(u128::MAX)),
        (7, U256::from(u128::MAX)),
        (6, U256::ZERO),
        (7, U256::ZERO),
    ] {
        let mut bytes = s.enable.session.encode().to_vec();
        bytes[word * 32..word * 32 + 32].copy_from_slice(&value.to_be_bytes::<32>());
        let mut plan = any_plan("enable, session fields");
        plan.mode = Mode::Enable(true);
        plan.session_override = Some(bytes);
        check(env, stats, a, &s.enable, &plan, false).await;
    }
    let v = check(
        env,
        stats,
        &s.uninstalled,
        m,
        &any_plan("module not installed"),
        false,
    )
    .await;
    assert_eq!(v, Verdict::Rejected(Rejection::ModuleNotInstalled));
}
