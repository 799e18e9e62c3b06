//! The JSON format: parsing, checks (with field paths), compilation, round trips and summaries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use alloy_primitives::{address, Address, B256, I256, U256};
use keyscope_permissions::{
    abi::{self, SELECTOR_TRANSFER},
    Error, PermissionSpec, RuleOperator, SessionSpec, SummaryOptions, Target, TokenInfo,
    FLAG_ANY_TARGET, FLAG_ERC20_TOTAL, FLAG_NATIVE_TOTAL, FLAG_NATIVE_TRANSFER, FLAG_PER_PERIOD,
};
use serde_json::{json, Value};

mod common;

use common::{compile, err, session, transfer, BOB, SIGNER, TOKEN, TOKEN_ADDR};

#[test]
fn full_example_compiles_to_exact_structs() {
    let v = session(json!([
        {
            "target": TOKEN,
            "function": "transfer(address to, uint256 amount)",
            "rules": [
                {"arg": "to", "op": "one_of", "value": [BOB, SIGNER.to_lowercase()]},
                {"arg": "amount", "op": "lte", "value": "1.5 ether"}
            ],
            "erc20_total_limit": "1000000",
            "max_uses": 10,
            "rate_limit": {"count": 2, "interval": "1h"},
            "valid_until": "2026-06-01T00:00:00Z"
        },
        {"target": "*", "native_transfer": true, "value_limit": "0.01 ether", "native_total_limit": "100 gwei"},
        {"target": TOKEN, "selector": "0x095ea7b3", "erc20_total_limit": 5, "rules": [{"arg": 1, "op": "lt", "value": 7}]}
    ]));
    let c = compile(&v).unwrap();
    let p = &c.permissions[0];
    assert_eq!(p.target, TOKEN_ADDR);
    assert_eq!(p.selector, SELECTOR_TRANSFER);
    assert_eq!(p.flags, FLAG_ERC20_TOTAL);
    assert_eq!(p.erc20TotalLimit, U256::from(1_000_000u64));
    assert_eq!(p.maxUses, 10);
    assert_eq!(p.rateLimitCount, 2);
    assert_eq!(abi::u48_to_u64(p.rateLimitInterval), 3600);
    assert_eq!(abi::u48_to_u64(p.validUntil), 1_780_272_000);
    assert_eq!(p.rules[0].operator, RuleOperator::OneOf as u8);
    assert_eq!(p.rules[0].argIndex, 0);
    assert_eq!(
        p.rules[0].operands[0],
        address!("dbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB").into_word()
    );
    assert_eq!(p.rules[1].operator, RuleOperator::Lte as u8);
    assert_eq!(p.rules[1].argIndex, 1);
    assert_eq!(
        p.rules[1].operands[0],
        B256::from(U256::from(1_500_000_000_000_000_000u128))
    );
    let n = &c.permissions[1];
    assert_eq!(
        n.flags,
        FLAG_NATIVE_TRANSFER | FLAG_ANY_TARGET | FLAG_NATIVE_TOTAL
    );
    assert_eq!(n.target, Address::ZERO);
    assert_eq!(n.valueLimit, U256::from(10_000_000_000_000_000u64));
    assert_eq!(n.nativeTotalLimit, U256::from(100_000_000_000u64));
    assert_eq!(c.session.signer, SIGNER.parse::<Address>().unwrap());
    assert_eq!(abi::u48_to_u64(c.session.validUntil), 1_796_126_400);
    assert_eq!(c.session.permissionsRoot, c.tree.root());
    assert_eq!(c.session_id(), abi::session_id(&c.session));
    for i in 0..3 {
        assert!(keyscope_permissions::verify(
            c.tree.root(),
            c.permissions[i].leaf(),
            &c.proof(i).unwrap()
        ));
    }
}

#[test]
fn signed_operators_are_chosen_for_int_arguments() {
    let v = session(json!([{
        "target": TOKEN, "function": "f(int256 delta, int8 small, uint256 u)",
        "rules": [
            {"arg": "delta", "op": "gte", "value": "-1.5 ether"},
            {"arg": "small", "op": "in_range", "value": [-128, 127]},
            {"arg": "delta", "op": "unsigned_lt", "value": 5},
            {"arg": "u", "op": "signed_lt", "value": 5}
        ]
    }]));
    let c = compile(&v).unwrap();
    let rules = &c.permissions[0].rules;
    assert_eq!(rules[0].operator, RuleOperator::SignedGte as u8);
    assert_eq!(
        rules[0].operands[0],
        B256::from(
            I256::try_from(-1_500_000_000_000_000_000i128)
                .unwrap()
                .into_raw()
        )
    );
    assert_eq!(rules[1].operator, RuleOperator::SignedInRange as u8);
    assert_eq!(
        rules[1].operands[0],
        B256::from(I256::try_from(-128).unwrap().into_raw())
    );
    assert_eq!(rules[2].operator, RuleOperator::Lt as u8);
    assert_eq!(rules[3].operator, RuleOperator::SignedLt as u8);
    assert_eq!(rules[1].argIndex, 1);
}

#[test]
fn typed_values() {
    let v = session(json!([{
        "target": TOKEN, "function": "g(bool flag, bytes4 tag, address who, uint8 small, (uint256 a, address b) pair, uint16[2] xs)",
        "rules": [
            {"arg": "flag", "op": "eq", "value": true},
            {"arg": "tag", "op": "eq", "value": "0xdeadbeef"},
            {"arg": "who", "op": "ne", "value": BOB},
            {"arg": "small", "op": "bitmask", "mask": "0xf0", "value": "0x10"},
            {"arg": "pair.b", "op": "eq", "value": BOB},
            {"arg": "xs[1]", "op": "lte", "value": 65535},
            {"arg": 3, "op": "gt", "value": "0x01"}
        ]
    }]));
    let c = compile(&v).unwrap();
    let rules = &c.permissions[0].rules;
    assert_eq!(rules[0].operands[0], B256::with_last_byte(1));
    let mut tag = B256::ZERO;
    tag[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(rules[1].operands[0], tag, "bytesN is left-aligned");
    assert_eq!(
        rules[3].operands,
        vec![B256::with_last_byte(0xf0), B256::with_last_byte(0x10)]
    );
    assert_eq!(rules[4].argIndex, 5);
    assert_eq!(rules[5].argIndex, 7);
    assert_eq!(rules[6].argIndex, 3);
}

type Case = (Value, &'static str, fn(&Error) -> bool);

#[test]
fn errors_name_the_field() {
    let cases: Vec<Case> = vec![
        (
            transfer(json!([{"arg": "amount", "op": "lte", "value": "-1"}])),
            "permissions[0].rules[0].value",
            |e| matches!(e, Error::ValueOutOfRange { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "f(uint8 x)", "rules": [{"arg": "x", "op": "eq", "value": 300}]}]),
            ),
            "permissions[0].rules[0].value",
            |e| matches!(e, Error::ValueOutOfRange { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "f(int8 x)", "rules": [{"arg": "x", "op": "eq", "value": -129}]}]),
            ),
            "permissions[0].rules[0].value",
            |e| matches!(e, Error::ValueOutOfRange { .. }),
        ),
        (
            transfer(json!([{"arg": "amount", "op": "like", "value": "1"}])),
            "permissions[0].rules[0].op",
            |e| matches!(e, Error::UnknownOperator { .. }),
        ),
        (
            transfer(
                json!([{"arg": "to", "op": "eq", "value": "0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}]),
            ),
            "permissions[0].rules[0].value",
            |e| matches!(e, Error::BadChecksum { .. }),
        ),
        (
            transfer(json!([{"arg": "nobody", "op": "eq", "value": 1}])),
            "permissions[0].rules[0].arg",
            |e| matches!(e, Error::UnknownArgument { .. }),
        ),
        (
            transfer(json!([{"arg": 2, "op": "eq", "value": 1}])),
            "permissions[0].rules[0].arg",
            |e| matches!(e, Error::UnknownArgument { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "f(string s)", "rules": [{"arg": "s", "op": "eq", "value": 1}]}]),
            ),
            "permissions[0].rules[0].arg",
            |e| matches!(e, Error::UnsupportedArgument { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "f(uint256[] s)", "rules": [{"arg": 0, "op": "eq", "value": 1}]}]),
            ),
            "permissions[0].rules[0].arg",
            |e| matches!(e, Error::UnsupportedArgument { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "f((uint256,uint256) p)", "rules": [{"arg": "p", "op": "eq", "value": 1}]}]),
            ),
            "permissions[0].rules[0].arg",
            |e| matches!(e, Error::UnsupportedArgument { .. }),
        ),
        (
            transfer(json!([{"arg": "amount", "op": "in_range", "value": [5, 1]}])),
            "permissions[0].rules[0].value",
            |e| matches!(e, Error::Conflict { .. }),
        ),
        (
            transfer(json!([{"arg": "amount", "op": "in_range", "value": 5}])),
            "permissions[0].rules[0].value",
            |e| matches!(e, Error::OperandCount { .. }),
        ),
        (
            transfer(json!([{"arg": "amount", "op": "lte", "value": [1, 2]}])),
            "permissions[0].rules[0].value",
            |e| matches!(e, Error::OperandCount { .. }),
        ),
        (
            transfer(json!([{"arg": "amount", "op": "lte"}])),
            "permissions[0].rules[0].value",
            |e| matches!(e, Error::OperandCount { .. }),
        ),
        (
            transfer(json!([{"arg": "amount", "op": "bitmask", "value": 1}])),
            "permissions[0].rules[0].mask",
            |e| matches!(e, Error::Missing { .. }),
        ),
        (
            transfer(json!([{"arg": "amount", "op": "bitmask", "mask": 1, "value": 3}])),
            "permissions[0].rules[0].value",
            |e| matches!(e, Error::Conflict { .. }),
        ),
        (
            transfer(json!((0..33)
                .map(|_| json!({"arg": "amount", "op": "lte", "value": 1}))
                .collect::<Vec<_>>())),
            "permissions[0].rules",
            |e| matches!(e, Error::TooMany { .. }),
        ),
        (
            transfer(
                json!([{"arg": "amount", "op": "one_of", "value": (0..65).collect::<Vec<_>>()}]),
            ),
            "permissions[0].rules[0].value",
            |e| matches!(e, Error::TooMany { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "mint(address,uint256)", "erc20_total_limit": 1}]),
            ),
            "permissions[0].erc20_total_limit",
            |e| matches!(e, Error::Erc20LimitSelector { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "transfer(address,uint256)", "native_transfer": true}]),
            ),
            "permissions[0].native_transfer",
            |e| matches!(e, Error::Conflict { .. }),
        ),
        (
            session(json!([{"target": TOKEN}])),
            "permissions[0].function",
            |e| matches!(e, Error::Missing { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "transfer(address,uint256)", "selector": "0x12345678"}]),
            ),
            "permissions[0].selector",
            |e| matches!(e, Error::Conflict { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "transfer(address,uint)", "valid_after": 10, "valid_until": 5}]),
            ),
            "permissions[0].valid_until",
            |e| matches!(e, Error::WindowOutOfOrder { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "transfer(address,uint)", "valid_until": 5}]),
            ),
            "permissions[0].valid_after",
            |e| matches!(e, Error::Conflict { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "transfer(address,uint)", "max_uses": 0}]),
            ),
            "permissions[0].max_uses",
            |e| matches!(e, Error::Missing { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "transfer(address,uint)", "rate_limit": {"count": 1, "interval": 0}}]),
            ),
            "permissions[0].rate_limit.interval",
            |e| matches!(e, Error::Missing { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "transfer(address,uint)", "rate_limit": {"count": 1, "interval": "1y"}}]),
            ),
            "permissions[0].rate_limit.interval",
            |e| matches!(e, Error::Parse { .. }),
        ),
        (
            session(
                json!([{"target": "0x0000000000000000000000000000000000000000", "function": "f()"}]),
            ),
            "permissions[0].target",
            |e| matches!(e, Error::ForbiddenTarget { .. }),
        ),
        (
            session(
                json!([{"target": "0xfb6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "function": "f()"}]),
            ),
            "permissions[0].target",
            |e| matches!(e, Error::BadChecksum { .. }),
        ),
        (
            session(json!([{"target": TOKEN, "function": "f(", "max_uses": 1}])),
            "permissions[0].function",
            |e| matches!(e, Error::BadSignature { .. }),
        ),
        (
            session(json!([{"target": TOKEN, "function": "f()", "colour": "red"}])),
            "permissions[0].colour",
            |e| matches!(e, Error::Parse { .. }),
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "f()"}, {"target": TOKEN, "function": "f()"}]),
            ),
            "permissions[1]",
            |e| matches!(e, Error::DuplicatePermission { first: 0, .. }),
        ),
        (session(json!([])), "permissions", |e| {
            matches!(e, Error::Missing { .. })
        }),
        (
            session(json!([{"target": "*", "native_transfer": true, "value_limit": 1.5}])),
            "permissions[0].value_limit",
            |e| matches!(e, Error::Parse { .. }),
        ),
        (
            session(json!([{"target": "*", "native_transfer": true, "value_limit": "1.5"}])),
            "permissions[0].value_limit",
            |e| matches!(e, Error::Parse { .. }),
        ),
        (
            session(
                json!([{"target": "*", "native_transfer": true, "rules": [{"arg": 0, "op": "eq", "value": 1}]}]),
            ),
            "permissions[0].rules",
            |e| matches!(e, Error::Conflict { .. }),
        ),
        (
            session(json!([
                {"target": TOKEN, "function": "transfer(address,uint256)", "erc20_total_limit": 100},
                {"target": TOKEN, "function": "approve(address,uint256)"}
            ])),
            "permissions[1]",
            |e| matches!(e, Error::Erc20LimitBypass { .. }),
        ),
        (
            session(json!([
                {"target": TOKEN, "function": "transfer(address,uint256)", "erc20_total_limit": 100},
                {"target": "*", "function": "transferFrom(address,address,uint256)"}
            ])),
            "permissions[1]",
            |e| matches!(e, Error::Erc20LimitBypass { .. }),
        ),
        (
            session(json!([
                {"target": "*", "function": "transfer(address,uint256)", "erc20_total_limit": 100},
                {"target": TOKEN, "function": "increaseAllowance(address,uint256)"}
            ])),
            "permissions[1]",
            |e| matches!(e, Error::Erc20LimitBypass { .. }),
        ),
    ];
    for (i, (v, path, kind)) in cases.into_iter().enumerate() {
        let e = err(v.clone());
        assert_eq!(e.path(), Some(path), "case {i}: {e}");
        assert!(kind(&e), "case {i}: unexpected {e:?}");
    }
}

#[test]
fn session_level_errors() {
    let mut v = transfer(json!([]));
    v["valid_after"] = json!("2027-01-01T00:00:00Z");
    let e = err(v);
    assert!(
        matches!(e, Error::WindowOutOfOrder { .. }) && e.path() == Some("valid_until"),
        "{e}"
    );
    let mut v = transfer(json!([]));
    v["valid_until"] = json!(0);
    assert_eq!(err(v).path(), Some("valid_until"));
    let mut v = transfer(json!([]));
    v["valid_until"] = json!(1u64 << 48);
    assert_eq!(err(v).path(), Some("valid_until"));
    let mut v = transfer(json!([]));
    v["paymaster"] = json!({"exactly": "0x0000000000000000000000000000000000000000"});
    assert_eq!(err(v).path(), Some("paymaster.exactly"));
    let mut v = transfer(json!([]));
    v["paymaster"] = json!("sometimes");
    assert_eq!(err(v).path(), Some("paymaster"));
    let mut v = transfer(json!([]));
    v["signer"] = json!("0x0000000000000000000000000000000000000000");
    assert_eq!(err(v).path(), Some("signer"));
    assert!(matches!(
        SessionSpec::from_json("{"),
        Err(Error::Parse { .. })
    ));
    assert!(matches!(
        SessionSpec::from_json("{} {}"),
        Err(Error::Parse { .. })
    ));
}

#[test]
fn too_many_permissions_is_a_clear_error() {
    let one = PermissionSpec::call(TOKEN_ADDR, "f()");
    let spec = SessionSpec {
        signer: SIGNER.parse().unwrap(),
        signer_key: None,
        valid_after: 0,
        valid_until: 10,
        paymaster: Default::default(),
        fees: Default::default(),
        salt: B256::ZERO,
        permissions: vec![one; keyscope_permissions::MAX_PERMISSIONS + 1],
        typed_data: Vec::new(),
    };
    let e = spec.compile().unwrap_err();
    assert!(
        matches!(e, Error::TooMany { count, max, .. } if count == max + 1),
        "{e}"
    );
}

#[test]
fn oversized_permission_encoding_is_refused() {
    let rules: Vec<Value> = (0..32)
        .map(|_| json!({"arg": "amount", "op": "one_of", "value": (0..64).collect::<Vec<_>>()}))
        .collect();
    let e = err(transfer(json!(rules)));
    assert!(
        matches!(e, Error::TooMany { .. }) && e.path() == Some("permissions[0].rules"),
        "{e}"
    );
}

#[test]
fn warnings() {
    let v = session(json!([
        {"target": TOKEN, "function": "transfer(address,uint256)", "erc20_total_limit": 100},
        {"target": TOKEN, "function": "approve(address,uint256)", "erc20_total_limit": 50},
        {"target": BOB, "native_transfer": true}
    ]));
    let c = compile(&v).unwrap();
    let paths: Vec<&str> = c.warnings.iter().map(|w| w.path.as_str()).collect();
    assert!(
        paths.contains(&"permissions[1].erc20_total_limit"),
        "{paths:?}"
    );
    assert!(paths.contains(&"permissions[2].value_limit"), "{paths:?}");
}

#[test]
fn json_round_trip_is_lossless() {
    let v = session(json!([
        {
            "target": TOKEN, "function": "transfer(address to,uint256 amount)",
            "rules": [{"arg": "amount", "op": "in_range", "value": ["1 gwei", "2 ether"]}, {"arg": "to", "op": "ne", "value": BOB}],
            "erc20_total_limit": "123", "max_uses": 3, "rate_limit": {"count": 1, "interval": "1d2h"}, "valid_after": 5
        },
        {"target": "*", "native_transfer": true, "value_limit": 1, "native_total_limit": 0},
        {"target": BOB, "selector": "0xdeadbeef", "value_limit": "3 ether", "rules": [
            {"arg": 4, "op": "signed_lt", "value": -3},
            {"arg": 5, "op": "bitmask", "mask": "0x00000000000000000000000000000000000000000000000000000000000000ff", "value": 1},
            {"arg": 6, "op": "one_of", "value": ["0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", 7]}
        ]}
    ]));
    let spec = SessionSpec::from_json(&v.to_string()).unwrap();
    let c = spec.compile().unwrap();
    // spec → JSON → spec
    let again = SessionSpec::from_json(&spec.to_json()).unwrap();
    assert_eq!(again, spec);
    assert_eq!(again.compile().unwrap().permissions, c.permissions);
    // contract structs → spec → JSON → spec → contract structs
    let back = SessionSpec::from_contract(&c.session, &c.permissions, &[]).unwrap();
    let text = back.to_json();
    let back2 = SessionSpec::from_json(&text).unwrap();
    let c2 = back2.compile().unwrap();
    assert_eq!(c2.permissions, c.permissions, "{text}");
    assert_eq!(c2.session, c.session);
    assert_eq!(
        c2.permissions[1].flags,
        FLAG_ANY_TARGET | FLAG_NATIVE_TRANSFER | FLAG_NATIVE_TOTAL,
        "flag with a 0 limit survives"
    );
    // the decompiler names transfer's arguments and types its values
    assert!(text.contains("\"arg\": \"amount\""), "{text}");
    assert!(text.contains(BOB), "{text}");
}

#[test]
fn decompiling_refuses_what_the_format_cannot_say() {
    let c = compile(&transfer(json!([]))).unwrap();
    let mut p = c.permissions[0].clone();
    p.nativeTotalLimit = U256::from(1u8);
    assert!(matches!(
        PermissionSpec::from_permission(&p, None),
        Err(Error::NonCanonical { .. })
    ));
    let mut p = c.permissions[0].clone();
    p.flags = 0x10;
    assert!(matches!(
        PermissionSpec::from_permission(&p, None),
        Err(Error::NonCanonical { .. })
    ));
    let mut p = c.permissions[0].clone();
    p.rules.push(abi::ArgRule {
        operator: 14,
        argIndex: 0,
        operands: vec![B256::ZERO],
    });
    assert!(matches!(
        PermissionSpec::from_permission(&p, None),
        Err(Error::NonCanonical { .. })
    ));
    let p = c.permissions[0].clone();
    assert!(matches!(
        PermissionSpec::from_permission(&p, Some("approve(address,uint256)")),
        Err(Error::Conflict { .. })
    ));
    let mut session = c.session.clone();
    session.permissionsRoot = B256::repeat_byte(1);
    assert!(matches!(
        SessionSpec::from_contract(&session, &c.permissions, &[]),
        Err(Error::RootMismatch { .. })
    ));
}

#[test]
fn summary_reads_well() {
    let v = session(json!([
        {"target": TOKEN, "function": "transfer(address to,uint256 amount)",
         "rules": [{"arg": "amount", "op": "lte", "value": "100"}], "max_uses": 10},
        {"target": "*", "native_transfer": true, "value_limit": "0.01 ether", "native_total_limit": "1 ether",
         "rate_limit": {"count": 3, "interval": "1h"}}
    ]));
    let spec = SessionSpec::from_json(&v.to_string()).unwrap();
    let text = spec.summary(&SummaryOptions::default()).unwrap();
    assert!(
        text.contains(&format!(
            "may call transfer(address,uint256) on {TOKEN} with amount ≤ 100 (raw units), at most 10 times, until 2026-12-01 12:00 UTC"
        )),
        "{text}"
    );
    assert!(text.contains("may send native value to any address, up to 0.01 ether per transfer, 1 ether of native value in all"), "{text}");
    assert!(text.contains("at most 3 per 1h"), "{text}");
    assert!(
        text.contains("from 2026-01-01 00:00 UTC until 2026-12-01 12:00 UTC"),
        "{text}"
    );
    let mut options = SummaryOptions::default();
    options.tokens.insert(
        TOKEN_ADDR,
        TokenInfo {
            symbol: "USDC".into(),
            decimals: 6,
        },
    );
    let text = spec.summary(&options).unwrap();
    assert!(text.contains("(USDC) with amount ≤ 0.0001 USDC"), "{text}");
}

#[test]
fn builders() {
    let p = PermissionSpec::native_transfer(Target::Any, U256::from(5u8));
    let mut spec = SessionSpec::from_json(&transfer(json!([])).to_string()).unwrap();
    spec.permissions.push(p);
    let c = spec.compile().unwrap();
    assert_eq!(c.permissions.len(), 2);
}

// ---------------------------------------------------------------------------------------------------------------
// Periodic allowances: `period`, `native_period_limit`, `erc20_period_limit` (FLAG_PER_PERIOD)
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn period_limits_compile_to_flag_per_period() {
    let v = session(json!([
        {"target": "*", "native_transfer": true, "value_limit": "0.01 ether",
         "native_period_limit": "0.05 ether", "period": "1d"},
        {"target": TOKEN, "function": "transfer(address to,uint256 amount)",
         "erc20_period_limit": "100000000", "period": 3600, "rate_limit": {"count": 5, "interval": "1h"},
         "valid_after": "2026-06-07T00:00:00Z"},
        {"target": TOKEN, "function": "approve(address,uint256)", "erc20_period_limit": 7, "period": "1w"}
    ]));
    let c = compile(&v).unwrap();
    let n = &c.permissions[0];
    assert_eq!(
        n.flags,
        FLAG_NATIVE_TRANSFER | FLAG_ANY_TARGET | FLAG_NATIVE_TOTAL | FLAG_PER_PERIOD
    );
    assert_eq!(n.nativeTotalLimit, U256::from(50_000_000_000_000_000u64));
    assert_eq!(n.rateLimitCount, 0);
    assert_eq!(abi::u48_to_u64(n.rateLimitInterval), 86_400);
    assert!(n.is_periodic());
    let t = &c.permissions[1];
    assert_eq!(t.flags, FLAG_ERC20_TOTAL | FLAG_PER_PERIOD);
    assert_eq!(t.erc20TotalLimit, U256::from(100_000_000u64));
    assert!(t.nativeTotalLimit.is_zero());
    assert_eq!(t.rateLimitCount, 5);
    assert_eq!(abi::u48_to_u64(t.rateLimitInterval), 3600);
    assert_eq!(abi::u48_to_u64(t.validAfter), 1_780_790_400);
    assert_eq!(t.rate_limit_window(1_780_790_400 + 2 * 3600 + 5), 2);
    assert_eq!(c.permissions[2].flags, FLAG_ERC20_TOTAL | FLAG_PER_PERIOD);
    assert_eq!(abi::u48_to_u64(c.permissions[2].rateLimitInterval), 604_800);
    // a period that only restates the rate limit's interval: no period limit, no flag
    let v = session(json!([{"target": TOKEN, "function": "f()", "period": "1h",
                            "rate_limit": {"count": 2, "interval": "1h"}}]));
    let p = &compile(&v).unwrap().permissions[0];
    assert_eq!(p.flags, 0);
    assert_eq!(
        (p.rateLimitCount, abi::u48_to_u64(p.rateLimitInterval)),
        (2, 3600)
    );
}

/// The spec, the error's path, its kind, and a part of its message.
type PeriodCase = (Value, &'static str, fn(&Error) -> bool, &'static str);

#[test]
fn period_errors_name_the_field() {
    let transfer_with = |extra: Value| {
        let mut p = json!({"target": TOKEN, "function": "transfer(address to,uint256 amount)"});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        session(json!([p]))
    };
    let cases: Vec<PeriodCase> = vec![
        (
            transfer_with(json!({"erc20_period_limit": 100})),
            "permissions[0].erc20_period_limit",
            |e| matches!(e, Error::Missing { .. }),
            "a period limit needs `period`",
        ),
        (
            session(
                json!([{"target": "*", "native_transfer": true, "native_period_limit": "1 ether"}]),
            ),
            "permissions[0].native_period_limit",
            |e| matches!(e, Error::Missing { .. }),
            "a period limit needs `period`",
        ),
        (
            transfer_with(json!({"period": "1d"})),
            "permissions[0].period",
            |e| matches!(e, Error::Missing { .. }),
            "a period alone does nothing",
        ),
        (
            transfer_with(json!({"period": "1d", "erc20_period_limit": 1, "erc20_total_limit": 5})),
            "permissions[0].erc20_period_limit",
            |e| matches!(e, Error::Conflict { .. }),
            "either lifetime totals or period limits, not both: remove `erc20_total_limit`",
        ),
        (
            transfer_with(
                json!({"period": "1d", "erc20_period_limit": 1, "native_total_limit": "1 ether"}),
            ),
            "permissions[0].erc20_period_limit",
            |e| matches!(e, Error::Conflict { .. }),
            "remove `native_total_limit` or `erc20_period_limit`",
        ),
        (
            session(
                json!([{"target": "*", "native_transfer": true, "period": "1d",
                            "native_period_limit": "1 ether", "native_total_limit": "2 ether"}]),
            ),
            "permissions[0].native_period_limit",
            |e| matches!(e, Error::Conflict { .. }),
            "not both",
        ),
        (
            transfer_with(json!({"period": "1d", "erc20_period_limit": 1,
                                 "rate_limit": {"count": 3, "interval": "1h"}})),
            "permissions[0].rate_limit.interval",
            |e| matches!(e, Error::Conflict { .. }),
            "1h is not the period 1d: a permission has one interval",
        ),
        (
            transfer_with(json!({"period": "1d", "rate_limit": {"count": 3, "interval": "1h"}})),
            "permissions[0].rate_limit.interval",
            |e| matches!(e, Error::Conflict { .. }),
            "1h is not the period 1d",
        ),
        (
            transfer_with(json!({"period": 0, "erc20_period_limit": 1})),
            "permissions[0].period",
            |e| matches!(e, Error::Missing { .. }),
            "period must be at least 1 second",
        ),
        (
            transfer_with(json!({"period": 1u64 << 48, "erc20_period_limit": 1})),
            "permissions[0].period",
            |e| matches!(e, Error::Parse { .. }),
            "does not fit uint48",
        ),
        (
            transfer_with(json!({"period": "1y", "erc20_period_limit": 1})),
            "permissions[0].period",
            |e| matches!(e, Error::Parse { .. }),
            "unknown unit",
        ),
        (
            session(
                json!([{"target": TOKEN, "function": "mint(address,uint256)", "period": "1d",
                            "erc20_period_limit": 1}]),
            ),
            "permissions[0].erc20_period_limit",
            |e| matches!(e, Error::Erc20LimitSelector { .. }),
            "an ERC-20 limit needs transfer",
        ),
        (
            session(
                json!([{"target": TOKEN, "selector": "0x40c10f19", "period": "1d",
                            "erc20_period_limit": 1}]),
            ),
            "permissions[0].erc20_period_limit",
            |e| matches!(e, Error::Erc20LimitSelector { .. }),
            "not selector 0x40c10f19",
        ),
        (
            session(
                json!([{"target": BOB, "native_transfer": true, "period": "1d",
                            "erc20_period_limit": 1}]),
            ),
            "permissions[0].erc20_period_limit",
            |e| matches!(e, Error::Conflict { .. }),
            "a native transfer moves no ERC-20 token",
        ),
        (
            session(json!([
                {"target": TOKEN, "function": "transfer(address,uint256)", "period": "1d", "erc20_period_limit": 100},
                {"target": TOKEN, "function": "approve(address,uint256)"}
            ])),
            "permissions[1]",
            |e| matches!(e, Error::Erc20LimitBypass { .. }),
            "without counting against the ERC-20 limit of permissions[0]",
        ),
    ];
    for (i, (v, path, kind, text)) in cases.into_iter().enumerate() {
        let e = err(v.clone());
        assert_eq!(e.path(), Some(path), "case {i}: {e}");
        assert!(kind(&e), "case {i}: unexpected {e:?}");
        assert!(e.to_string().contains(text), "case {i}: {e}");
    }
    // past uint48 from Rust (JSON stops it at parsing)
    let mut spec = SessionSpec::from_json(&transfer(json!([])).to_string()).unwrap();
    spec.permissions[0].period = Some(1 << 48);
    spec.permissions[0].erc20_period_limit = Some(U256::from(1u8));
    let e = spec.compile().unwrap_err();
    assert!(
        matches!(e, Error::ValueOutOfRange { .. }) && e.path() == Some("permissions[0].period"),
        "{e}"
    );
}

#[test]
fn period_limits_round_trip_through_the_contract_structs() {
    let v = session(json!([
        {"target": "*", "native_transfer": true, "value_limit": "0.01 ether",
         "native_period_limit": "0.05 ether", "period": "1d"},
        {"target": TOKEN, "function": "transfer(address to,uint256 amount)",
         "erc20_period_limit": "100000000", "period": "1h", "rate_limit": {"count": 5, "interval": 3600},
         "valid_after": "2026-06-07T00:00:00Z"},
        {"target": BOB, "function": "f()", "native_period_limit": 0, "period": "1h30m"}
    ]));
    let spec = SessionSpec::from_json(&v.to_string()).unwrap();
    let again = SessionSpec::from_json(&spec.to_json()).unwrap();
    assert_eq!(again, spec);
    let c = spec.compile().unwrap();
    let back = SessionSpec::from_contract(&c.session, &c.permissions, &[]).unwrap();
    assert_eq!(back.permissions[0].period, Some(86_400));
    assert_eq!(
        back.permissions[0].native_period_limit,
        Some(U256::from(50_000_000_000_000_000u64))
    );
    assert_eq!(back.permissions[0].native_total_limit, None);
    assert_eq!(back.permissions[0].rate_limit, None);
    assert_eq!(
        back.permissions[1].erc20_period_limit,
        Some(U256::from(100_000_000u64))
    );
    assert_eq!(back.permissions[1].erc20_total_limit, None);
    assert_eq!(
        back.permissions[1].rate_limit.map(|r| r.interval),
        Some(3600)
    );
    assert_eq!(
        back.permissions[2].native_period_limit,
        Some(U256::ZERO),
        "a 0 period limit keeps its flag"
    );
    let text = back.to_json();
    assert!(text.contains("\"period\": \"1d\""), "{text}");
    assert!(
        text.contains("\"native_period_limit\": \"0.05 ether\""),
        "{text}"
    );
    assert!(
        text.contains("\"erc20_period_limit\": \"100000000\""),
        "{text}"
    );
    let c2 = SessionSpec::from_json(&text).unwrap().compile().unwrap();
    assert_eq!(c2.permissions, c.permissions, "{text}");
    assert_eq!(c2.session, c.session);
}

#[test]
fn decompiling_refuses_non_canonical_period_limits() {
    let v = session(
        json!([{"target": TOKEN, "function": "transfer(address,uint256)",
                            "erc20_period_limit": 5, "period": "1d"}]),
    );
    let c = compile(&v).unwrap();
    let ok = c.permissions[0].clone();
    assert!(PermissionSpec::from_permission(&ok, None).is_ok());
    let refused = |p: &abi::Permission, path: &str| {
        let e = PermissionSpec::from_permission(p, None).unwrap_err();
        assert!(
            matches!(e, Error::NonCanonical { .. }) && e.path() == Some(path),
            "{e}"
        );
    };
    // FLAG_PER_PERIOD without a total flag
    let mut p = ok.clone();
    p.flags = FLAG_PER_PERIOD;
    p.erc20TotalLimit = U256::ZERO;
    refused(&p, "permission.flags");
    // FLAG_PER_PERIOD without an interval
    let mut p = ok.clone();
    p.rateLimitInterval = Default::default();
    refused(&p, "permission.period");
    // a rate-limit count without an interval, even with the flag
    p.rateLimitCount = 3;
    refused(&p, "permission.period");
    // an interval without a count or the flag is still refused
    let mut p = ok.clone();
    p.flags = FLAG_ERC20_TOTAL;
    assert!(PermissionSpec::from_permission(&p, None).is_err());
    // bits past ALL_FLAGS
    let mut p = ok;
    p.flags |= 0x20;
    refused(&p, "permission.flags");
}

#[test]
fn period_limits_warn_only_within_one_counter() {
    let v = session(json!([
        {"target": "*", "native_transfer": true, "value_limit": "1 ether",
         "native_period_limit": "0.5 ether", "period": "1d"},
        {"target": BOB, "native_transfer": true, "value_limit": "0.1 ether",
         "native_period_limit": "0.2 ether", "period": "1d"},
        {"target": TOKEN, "function": "f()", "native_total_limit": "3 ether"},
        {"target": TOKEN, "function": "g()", "native_period_limit": "0.3 ether", "period": "1h"},
        {"target": TOKEN, "function": "transfer(address,uint256)", "erc20_period_limit": 10, "period": "1d"},
        {"target": TOKEN, "function": "approve(address,uint256)", "erc20_period_limit": 20, "period": "1d"},
        {"target": TOKEN, "function": "increaseAllowance(address,uint256)", "erc20_total_limit": 30}
    ]));
    let c = compile(&v).unwrap();
    let paths: Vec<&str> = c.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "permissions[0].native_period_limit",
            "permissions[1].native_period_limit",
            "permissions[5].erc20_period_limit",
        ],
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings[0]
            .message
            .contains("the period limit binds first"),
        "{}",
        c.warnings[0]
    );
    assert!(
        c.warnings[1]
            .message
            .contains("differs from permissions[0] with the same period and start"),
        "{}",
        c.warnings[1]
    );
}

#[test]
fn summary_of_period_limits() {
    let mut v = session(json!([
        {"target": TOKEN, "function": "transfer(address to,uint256 amount)",
         "erc20_period_limit": "100000000", "period": "1d", "valid_after": "2026-12-07T00:00:00Z"},
        {"target": "*", "native_transfer": true, "value_limit": "0.01 ether",
         "native_period_limit": "0.05 ether", "period": "1h30m", "rate_limit": {"count": 3, "interval": "90m"}},
        {"target": "*", "function": "approve(address,uint256)", "erc20_period_limit": 7, "period": "1w"}
    ]));
    v["valid_after"] = json!("2026-01-01T13:20:00Z");
    v["valid_until"] = json!("2027-01-01T00:00:00Z");
    let spec = SessionSpec::from_json(&v.to_string()).unwrap();
    let mut options = SummaryOptions::default();
    options.tokens.insert(
        TOKEN_ADDR,
        TokenInfo {
            symbol: "USDC".into(),
            decimals: 6,
        },
    );
    let text = spec.summary(&options).unwrap();
    assert!(
        text.contains(&format!(
            "1. may call transfer(address,uint256) on {TOKEN} (USDC), moving at most 100 USDC of the token per 1 day \
             through transfer, transferFrom, approve and increaseAllowance, periods of 1 day from 2026-12-07 00:00 UTC \
             (unused allowance does not carry over), from 2026-12-07 00:00 UTC, until 2027-01-01 00:00 UTC"
        )),
        "{text}"
    );
    // periods counted from unix time 0, shown from the one the session starts in (13:20 → 12:00 with 1h30m)
    assert!(
        text.contains(
            "2. may send native value to any address, up to 0.01 ether per transfer, at most 0.05 ether of native \
             value per 1 hour 30 minutes (shared by every permission with the same period and start), periods of \
             1 hour 30 minutes from 2026-01-01 12:00 UTC (unused allowance does not carry over), at most 3 per 1h30m"
        ),
        "{text}"
    );
    assert!(
        text.contains("moving at most 7 (raw units) of each token per 1 week through"),
        "{text}"
    );
    // the lifetime wording is unchanged
    assert!(!text.contains("in all through"), "{text}");
}
