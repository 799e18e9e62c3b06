//! Property tests: lossless round trips, no panics on arbitrary input, Merkle proofs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use alloy_primitives::{aliases::U48, Address, FixedBytes, B256, U256};
use keyscope_permissions::{
    abi::{
        self, SELECTOR_APPROVE, SELECTOR_INCREASE_ALLOWANCE, SELECTOR_TRANSFER,
        SELECTOR_TRANSFER_FROM, U48_MAX,
    },
    merkle::process_multi_proof,
    values, ArgRule, FeeBound, FeeScopeSpec, Permission, PermissionSpec, PermissionTree,
    RuleOperator, Session, SessionSpec, SummaryOptions, FLAG_ANY_TARGET, FLAG_ERC20_TOTAL,
    FLAG_NATIVE_TOTAL, FLAG_NATIVE_TRANSFER, FLAG_PER_PERIOD, UNLIMITED_FEE,
};
use proptest::prelude::*;

fn word() -> impl Strategy<Value = B256> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(B256::from),
        any::<u64>().prop_map(|v| B256::from(U256::from(v))),
        any::<[u8; 20]>().prop_map(|a| Address::from(a).into_word()),
        any::<i64>()
            .prop_map(|v| B256::from(alloy_primitives::I256::try_from(v).unwrap().into_raw())),
    ]
}

fn u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(U256::from_be_bytes),
        any::<u64>().prop_map(U256::from),
        (0u64..1000).prop_map(|v| U256::from(v) * U256::from(10u64).pow(U256::from(15u8))),
    ]
}

fn rule() -> impl Strategy<Value = ArgRule> {
    (
        0u8..14,
        any::<u16>(),
        prop::collection::vec(word(), 1..5),
        any::<bool>(),
    )
        .prop_map(|(op, arg, mut ops, sparse)| {
            let operator = RuleOperator::from_u8(op).unwrap();
            let arg_index = if sparse { arg % 4 } else { arg };
            match operator {
                RuleOperator::OneOf => {}
                RuleOperator::InRange | RuleOperator::SignedInRange => {
                    let (a, b) = (ops[0], *ops.get(1).unwrap_or(&ops[0]));
                    let swap = !operator.evaluate(a, &[a, b]);
                    ops = if swap { vec![b, a] } else { vec![a, b] };
                }
                RuleOperator::Bitmask => {
                    let (mask, value) = (ops[0], *ops.get(1).unwrap_or(&ops[0]));
                    ops = vec![mask, value & mask];
                }
                _ => ops.truncate(1),
            }
            ArgRule {
                operator: op,
                argIndex: arg_index,
                operands: ops,
            }
        })
}

/// Permissions the JSON format can express (every flag combination that makes sense), `FLAG_PER_PERIOD` included:
/// with it the totals are per period of `rateLimitInterval` (never 0), with or without a rate-limit count.
fn permission() -> impl Strategy<Value = Permission> {
    (
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<[u8; 20]>(),
            0usize..6,
            any::<[u8; 4]>(),
        ),
        (u256(), u256(), u256()),
        (
            any::<u64>(),
            prop_oneof![Just(0u64), any::<u64>()],
            any::<u32>(),
            prop_oneof![Just((0u32, 0u64)), (1u32.., 1u64..=U48_MAX)],
            any::<bool>(),
            prop_oneof![1u64..=604_800, 1u64..=U48_MAX],
        ),
        prop::collection::vec(rule(), 0..4),
    )
        .prop_map(
            |(
                (native, any_target, native_total, erc20, target, sel, raw_sel),
                (value, total, erc20_limit),
                (after, until, uses, rate, per_period, period),
                rules,
            )| {
                let selectors = [
                    SELECTOR_TRANSFER,
                    SELECTOR_TRANSFER_FROM,
                    SELECTOR_APPROVE,
                    SELECTOR_INCREASE_ALLOWANCE,
                ];
                let mut flags = 0;
                let mut p = Permission::default();
                if any_target {
                    flags |= FLAG_ANY_TARGET;
                } else {
                    p.target = Address::from(target);
                    if p.target.is_zero() {
                        p.target = Address::repeat_byte(1);
                    }
                }
                if native {
                    flags |= FLAG_NATIVE_TRANSFER;
                } else {
                    p.selector = if sel < 4 {
                        selectors[sel]
                    } else {
                        FixedBytes(raw_sel)
                    };
                    p.rules = rules;
                    if erc20 && sel < 4 {
                        flags |= FLAG_ERC20_TOTAL;
                        p.erc20TotalLimit = erc20_limit;
                    }
                }
                if native_total {
                    flags |= FLAG_NATIVE_TOTAL;
                    p.nativeTotalLimit = total;
                }
                p.flags = flags;
                p.valueLimit = value;
                let after = after % (U48_MAX + 1);
                let until = if until == 0 {
                    0
                } else {
                    after + until % (U48_MAX + 1 - after)
                };
                p.validAfter = U48::from(after);
                p.validUntil = U48::from(until);
                p.maxUses = uses;
                p.rateLimitCount = rate.0;
                p.rateLimitInterval = U48::from(rate.1);
                if per_period && flags & (FLAG_NATIVE_TOTAL | FLAG_ERC20_TOTAL) != 0 {
                    p.flags |= FLAG_PER_PERIOD;
                    if rate.0 == 0 {
                        p.rateLimitInterval = U48::from(period);
                    }
                }
                p
            },
        )
}

/// A fee bound as the contract stores it: unlimited, the edges, whole ether/gwei amounts and arbitrary wei.
fn fee() -> impl Strategy<Value = u128> {
    prop_oneof![
        Just(UNLIMITED_FEE),
        Just(UNLIMITED_FEE - 1),
        Just(0u128),
        Just(1u128),
        any::<u128>(),
        any::<u64>().prop_map(u128::from),
        (0u64..100_000).prop_map(|v| u128::from(v) * 1_000_000_000_000_000),
        (0u64..10_000_000).prop_map(|v| u128::from(v) * 1_000_000_000),
    ]
}

fn session_for(
    permissions: &[Permission],
    (max_operation_fee, fee_budget): (u128, u128),
) -> Session {
    Session {
        signer: Address::repeat_byte(0x11),
        validAfter: U48::ZERO,
        validUntil: U48::from(U48_MAX),
        permissionsRoot: PermissionTree::from_permissions(permissions)
            .unwrap()
            .root(),
        paymasterPolicy: 0,
        paymaster: Address::ZERO,
        maxOperationFee: max_operation_fee,
        feeBudget: fee_budget,
        salt: B256::repeat_byte(7),
    }
}

/// Any session the ABI can carry (fields need not pass the contract's checks).
fn any_session() -> impl Strategy<Value = Session> {
    (
        any::<[u8; 20]>(),
        0u64..=U48_MAX,
        0u64..=U48_MAX,
        any::<[u8; 32]>(),
        any::<u8>(),
        any::<[u8; 20]>(),
        (fee(), fee()),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(
                signer,
                after,
                until,
                root,
                policy,
                paymaster,
                (max_operation_fee, fee_budget),
                salt,
            )| {
                Session {
                    signer: Address::from(signer),
                    validAfter: U48::from(after),
                    validUntil: U48::from(until),
                    permissionsRoot: B256::from(root),
                    paymasterPolicy: policy,
                    paymaster: Address::from(paymaster),
                    maxOperationFee: max_operation_fee,
                    feeBudget: fee_budget,
                    salt: B256::from(salt),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_flag_survives_the_json_round_trip(p in permission(), fees in (fee(), fee())) {
        // without a signature: rules by index, raw words
        let spec = PermissionSpec::from_permission(&p, None).unwrap();
        let text = serde_json::to_string(&spec).unwrap();
        let read = PermissionSpec::from_json(&text).unwrap();
        prop_assert_eq!(&read, &spec);
        let session = session_for(std::slice::from_ref(&p), fees);
        // through a whole session, with the ERC-20 signatures known (typed values where canonical)
        let spec = SessionSpec::from_contract(&session, std::slice::from_ref(&p), &[]).unwrap();
        prop_assert_eq!(spec.fees, FeeScopeSpec::from_contract(fees.0, fees.1));
        let text = spec.to_json();
        let compiled = SessionSpec::from_json(&text).unwrap().compile().unwrap();
        prop_assert_eq!(&compiled.permissions[0], &p, "{}", text);
        prop_assert_eq!(compiled.session, session);
        prop_assert_eq!(compiled.permissions[0].flags, p.flags);
    }

    #[test]
    fn period_limits_decompile_and_recompile_to_the_same_leaf(p in permission(), per_period in any::<bool>()) {
        // force FLAG_PER_PERIOD onto every generated permission with a total (the generator sets it half the time)
        let mut p = p;
        if per_period && p.flags & (FLAG_NATIVE_TOTAL | FLAG_ERC20_TOTAL) != 0 && !p.has_flag(FLAG_PER_PERIOD) {
            p.flags |= FLAG_PER_PERIOD;
            if abi::u48_to_u64(p.rateLimitInterval) == 0 {
                p.rateLimitInterval = U48::from(86_400u64);
            }
        }
        let spec = PermissionSpec::from_permission(&p, None).unwrap();
        let periodic = p.has_flag(FLAG_PER_PERIOD);
        prop_assert_eq!(spec.period.is_some(), periodic);
        prop_assert_eq!(spec.native_period_limit.is_some(), periodic && p.has_flag(FLAG_NATIVE_TOTAL));
        prop_assert_eq!(spec.erc20_period_limit.is_some(), periodic && p.has_flag(FLAG_ERC20_TOTAL));
        prop_assert!(!periodic || (spec.native_total_limit.is_none() && spec.erc20_total_limit.is_none()));
        if let (Some(period), Some(rate)) = (spec.period, spec.rate_limit) {
            prop_assert_eq!(rate.interval, period);
        }
        let session = session_for(std::slice::from_ref(&p), (1, 1));
        let text = SessionSpec::from_contract(&session, std::slice::from_ref(&p), &[]).unwrap().to_json();
        let compiled = SessionSpec::from_json(&text).unwrap().compile().unwrap();
        prop_assert_eq!(compiled.permissions[0].leaf(), p.leaf(), "{}", text);
        prop_assert_eq!(&compiled.permissions[0], &p);
        // the summary of a periodic permission says when its periods start
        let summary = SessionSpec::from_json(&text).unwrap().summary(&SummaryOptions::default()).unwrap();
        prop_assert_eq!(summary.contains("unused allowance does not carry over"), periodic, "{}", summary);
    }

    #[test]
    fn fee_scope_survives_the_json_round_trip(fees in (fee(), fee()), spelling in 0u8..3) {
        let scope = FeeScopeSpec::from_contract(fees.0, fees.1);
        prop_assert_eq!(scope.to_contract(), fees);
        let text = serde_json::to_string(&scope).unwrap();
        let read: FeeScopeSpec = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(read, scope, "{}", text);
        // every spelling of an amount reads back to the same wei: plain integer, decimal string, ether/gwei
        let spell = |bound: FeeBound| match (bound, spelling) {
            (FeeBound::Unlimited, _) => serde_json::json!("unlimited"),
            (FeeBound::Wei(wei), 0) if wei <= u128::from(u64::MAX) => serde_json::json!(wei as u64),
            (FeeBound::Wei(wei), 1) => serde_json::json!(wei.to_string()),
            (FeeBound::Wei(wei), _) => serde_json::json!(values::format_native(U256::from(wei))),
        };
        let other = serde_json::json!({"per_operation": spell(scope.per_operation), "budget": spell(scope.budget)});
        let read: FeeScopeSpec = serde_json::from_value(other.clone()).unwrap();
        prop_assert_eq!(read, scope, "{}", other);
    }

    #[test]
    fn session_encoding_round_trips(session in any_session(), dirty in 0usize..16, word in 6usize..8) {
        let bytes = abi::encode_session(&session);
        prop_assert_eq!(bytes.len(), abi::SESSION_LENGTH);
        prop_assert_eq!(&bytes[..], &alloy_sol_types::SolValue::abi_encode(&session)[..], "alloy agrees");
        prop_assert_eq!(abi::decode_session(&bytes).unwrap(), session.clone());
        prop_assert_eq!(abi::session_id(&session), abi::session_id_via_alloy(&session));
        // the uint128 words' high half must be zero
        let mut b = bytes;
        b[word * 32 + dirty] |= 1 << (dirty % 8);
        prop_assert!(abi::decode_session(&b).is_err());
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(text in ".{0,300}") {
        if let Ok(spec) = SessionSpec::from_json(&text) {
            let _ = spec.compile();
            let _ = spec.summary(&SummaryOptions::default());
        }
        let _ = PermissionSpec::from_json(&text);
        let _ = values::parse_number(&text);
        let _ = values::parse_duration(&text);
        let _ = values::parse_timestamp(&text);
        let _ = keyscope_permissions::FunctionSignature::parse(&text);
    }

    #[test]
    fn parser_never_panics_on_plausible_json(v in plausible_session()) {
        let text = v.to_string();
        if let Ok(spec) = SessionSpec::from_json(&text) {
            let _ = spec.summary(&SummaryOptions::default());
            if let Ok(c) = spec.compile() {
                let back = SessionSpec::from_contract(&c.session, &c.permissions, &[]).unwrap();
                prop_assert_eq!(back.fees, spec.fees);
                let again = back.compile().unwrap();
                prop_assert_eq!(again.permissions, c.permissions);
                prop_assert_eq!(
                    (again.session.maxOperationFee, again.session.feeBudget),
                    spec.fees.to_contract()
                );
            }
        }
    }

    #[test]
    fn proofs_verify(leaves in prop::collection::vec(any::<[u8; 32]>().prop_map(B256::from), 1..120), pick in any::<prop::sample::Index>(), subset in prop::collection::btree_set(0usize..120, 0..10)) {
        let tree = PermissionTree::from_leaves(leaves.clone()).unwrap();
        for (i, leaf) in leaves.iter().enumerate() {
            prop_assert!(tree.verify(*leaf, &tree.proof(i).unwrap()));
        }
        let i = pick.index(leaves.len());
        let mut proof = tree.proof(i).unwrap();
        if let Some(first) = proof.first_mut() {
            first.0[0] ^= 1;
            prop_assert!(!tree.verify(leaves[i], &proof));
        }
        let indices: Vec<usize> = subset.into_iter().filter(|i| *i < leaves.len()).collect();
        let multi = tree.multi_proof(&indices).unwrap();
        prop_assert_eq!(process_multi_proof(&multi), Some(tree.root()));
    }

    #[test]
    fn numbers_round_trip(v in u256(), d in 0u64..=U48_MAX, t in 0u64..253_402_300_799) {
        prop_assert_eq!(values::parse_number(&values::format_native(v)).unwrap().magnitude, v);
        prop_assert_eq!(values::parse_duration(&values::format_duration(d)).unwrap(), d);
        prop_assert_eq!(values::parse_timestamp(&values::format_rfc3339(t).unwrap()).unwrap(), t);
    }

    #[test]
    fn permission_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..700), p in permission()) {
        let _ = abi::decode_permission(&bytes);
        let _ = abi::decode_session(&bytes);
        let encoded = abi::encode_permission(&p);
        prop_assert_eq!(abi::decode_permission(&encoded).unwrap(), p);
    }
}

fn scalar() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        any::<u64>().prop_map(|v| json!(v)),
        any::<i64>().prop_map(|v| json!(v)),
        any::<bool>().prop_map(|v| json!(v)),
        Just(json!("1.5 ether")),
        Just(json!("-3")),
        Just(json!("0xdeadbeef")),
        Just(json!("0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB")),
        Just(json!("0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb")),
        Just(json!("2026-01-01T00:00:00Z")),
        Just(json!("1h")),
        Just(json!("*")),
        ".{0,12}".prop_map(|s| json!(s)),
        Just(json!(1.5)),
        Just(json!(null)),
    ]
}

fn plausible_rule() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    (
        prop_oneof![
            Just(json!("amount")),
            Just(json!("to")),
            Just(json!(0)),
            Just(json!(1)),
            Just(json!(9)),
            Just(json!("x"))
        ],
        prop_oneof![
            Just("eq"),
            Just("lte"),
            Just("one_of"),
            Just("in_range"),
            Just("bitmask"),
            Just("signed_gt"),
            Just("unsigned_lt"),
            Just("nope")
        ],
        prop_oneof![
            scalar(),
            prop::collection::vec(scalar(), 0..4).prop_map(serde_json::Value::from)
        ],
        prop::option::of(scalar()),
        prop::option::of(prop_oneof![
            Just("uint8"),
            Just("int256"),
            Just("address"),
            Just("word"),
            Just("string"),
            Just("bytes4")
        ]),
    )
        .prop_map(|(arg, op, value, mask, ty)| {
            let mut r = json!({"arg": arg, "op": op, "value": value});
            if let Some(mask) = mask {
                r["mask"] = mask;
            }
            if let Some(ty) = ty {
                r["type"] = json!(ty);
            }
            r
        })
}

fn plausible_permission() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    (
        prop_oneof![
            Just(json!("*")),
            Just(json!("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359")),
            Just(json!("0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"))
        ],
        prop::option::of(prop_oneof![
            Just("transfer(address to,uint256 amount)"),
            Just("approve(address,uint256)"),
            Just("f(int8 x, bytes data, (uint256 a, address b) p)"),
            Just("g(uint256[2] xs)"),
            Just("bad("),
        ]),
        any::<bool>(),
        prop::option::of(scalar()),
        prop::option::of(scalar()),
        prop::option::of(scalar()),
        (
            prop::option::of(scalar()),
            prop::option::of(scalar()),
            prop::option::of(0u32..3),
        ),
        prop::option::of((0u32..3, scalar())),
        prop::collection::vec(plausible_rule(), 0..4),
        (
            prop::option::of(scalar()),
            prop::option::of(scalar()),
            prop::option::of(scalar()),
        ),
    )
        .prop_map(
            |(
                target,
                function,
                native,
                value,
                native_total,
                erc20,
                (after, until, uses),
                rate,
                rules,
                (period, native_period, erc20_period),
            )| {
                let mut p = json!({"target": target, "rules": rules});
                if let Some(f) = function {
                    p["function"] = json!(f);
                }
                if native {
                    p["native_transfer"] = json!(true);
                }
                for (key, v) in [
                    ("value_limit", value),
                    ("native_total_limit", native_total),
                    ("erc20_total_limit", erc20),
                    ("valid_after", after),
                    ("valid_until", until),
                    ("period", period),
                    ("native_period_limit", native_period),
                    ("erc20_period_limit", erc20_period),
                ] {
                    if let Some(v) = v {
                        p[key] = v;
                    }
                }
                if let Some(uses) = uses {
                    p["max_uses"] = json!(uses);
                }
                if let Some((count, interval)) = rate {
                    p["rate_limit"] = json!({"count": count, "interval": interval});
                }
                p
            },
        )
}

fn plausible_session() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    (
        prop::collection::vec(plausible_permission(), 0..4),
        prop_oneof![
            Just(json!("any")),
            Just(json!("none")),
            Just(json!({"exactly": "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"})),
            scalar()
        ],
        scalar(),
        prop::option::of(plausible_fees()),
    )
        .prop_map(|(permissions, paymaster, until, fees)| {
            let mut session = json!({
                "signer": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                "valid_until": if until.is_u64() { until } else { json!(4_000_000_000u64) },
                "paymaster": paymaster,
                "permissions": permissions,
            });
            if let Some(fees) = fees {
                session["fees"] = fees;
            }
            session
        })
}

fn plausible_fee() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        Just(json!("unlimited")),
        Just(json!("0.01 ether")),
        Just(json!("500000 gwei")),
        Just(json!("340282366920938463463374607431768211454")),
        Just(json!("340282366920938463463374607431768211455")),
        Just(json!("-1 gwei")),
        fee().prop_map(|v| json!(v.to_string())),
        scalar(),
    ]
}

fn plausible_fees() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    (
        prop::option::of(plausible_fee()),
        prop::option::of(plausible_fee()),
        prop::option::of(scalar()),
    )
        .prop_map(|(per_operation, budget, extra)| {
            let mut fees = json!({});
            if let Some(v) = per_operation {
                fees["per_operation"] = v;
            }
            if let Some(v) = budget {
                fees["budget"] = v;
            }
            if let Some(v) = extra {
                fees["per_day"] = v;
            }
            fees
        })
}
