//! The JSON format's fee scope: parsing, defaults, typed errors, warnings, the contract words, summaries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use alloy_primitives::Address;
use keyscope_permissions::{
    abi::{self, PaymasterPolicyKind},
    Error, FeeBound, FeeScopeSpec, PaymasterSpec, SessionSpec, SummaryOptions, DEFAULT_FEE_BUDGET,
    DEFAULT_MAX_OPERATION_FEE, UNLIMITED_FEE,
};
use serde_json::{json, Value};

use common::{compile, err, transfer, SIGNER};

// -------------------------------------------------------------------------------------------------------------
// The fee scope
// -------------------------------------------------------------------------------------------------------------

/// 2^128 - 2: the largest bound that is not `UNLIMITED_FEE`.
const MAX_BOUNDED_FEE: u128 = UNLIMITED_FEE - 1;

fn with_fees(per_operation: Value, budget: Value) -> Value {
    let mut v = transfer(json!([]));
    v["fees"] = json!({"per_operation": per_operation, "budget": budget});
    v
}

fn fee_warnings(v: &Value) -> Vec<(String, String)> {
    compile(v)
        .unwrap()
        .warnings
        .into_iter()
        .filter(|w| w.path.starts_with("fees"))
        .map(|w| (w.path, w.message))
        .collect()
}

#[test]
fn fee_scope_json_round_trip_is_lossless() {
    let bounds: Vec<(Value, FeeBound)> = vec![
        (json!("0.01 ether"), FeeBound::Wei(10_000_000_000_000_000)),
        (json!("500000 gwei"), FeeBound::Wei(500_000_000_000_000)),
        (json!("1.5 gwei"), FeeBound::Wei(1_500_000_000)),
        (json!(123_456_789u64), FeeBound::Wei(123_456_789)),
        (
            json!("987654321987654321987"),
            FeeBound::Wei(987_654_321_987_654_321_987),
        ),
        (json!(0), FeeBound::Wei(0)),
        (json!("1"), FeeBound::Wei(1)),
        (
            json!(MAX_BOUNDED_FEE.to_string()),
            FeeBound::Wei(MAX_BOUNDED_FEE),
        ),
        (json!("unlimited"), FeeBound::Unlimited),
        (json!(" unlimited "), FeeBound::Unlimited),
    ];
    for (per_operation_json, per_operation) in &bounds {
        for (budget_json, budget) in &bounds {
            let v = with_fees(per_operation_json.clone(), budget_json.clone());
            let spec = SessionSpec::from_json(&v.to_string()).unwrap();
            let expected = FeeScopeSpec {
                per_operation: *per_operation,
                budget: *budget,
            };
            assert_eq!(spec.fees, expected, "{v}");
            // spec → JSON → spec
            let text = spec.to_json();
            assert_eq!(SessionSpec::from_json(&text).unwrap(), spec, "{text}");
            // spec → contract words → spec → JSON → spec → contract words
            let c = spec.compile().unwrap();
            assert_eq!(
                (c.session.maxOperationFee, c.session.feeBudget),
                expected.to_contract()
            );
            let back = SessionSpec::from_contract(&c.session, &c.permissions, &[]).unwrap();
            assert_eq!(back.fees, expected);
            let c2 = SessionSpec::from_json(&back.to_json())
                .unwrap()
                .compile()
                .unwrap();
            assert_eq!(c2.session, c.session);
            assert_eq!(c2.session_id(), c.session_id());
        }
    }
    // what the JSON says: amounts in their most readable unit, "unlimited" spelt out
    let spec =
        SessionSpec::from_json(&with_fees(json!("500000 gwei"), json!("unlimited")).to_string())
            .unwrap();
    let written: Value = serde_json::from_str(&spec.to_json()).unwrap();
    assert_eq!(
        written["fees"],
        json!({"per_operation": "500000 gwei", "budget": "unlimited"})
    );
    let spec = SessionSpec::from_json(&with_fees(json!(7), json!("1 gwei")).to_string()).unwrap();
    let written: Value = serde_json::from_str(&spec.to_json()).unwrap();
    assert_eq!(
        written["fees"],
        json!({"per_operation": "7", "budget": "1 gwei"})
    );
}

#[test]
fn fee_bounds_map_to_the_contract_words() {
    assert_eq!(FeeBound::Unlimited.to_contract(), UNLIMITED_FEE);
    assert_eq!(UNLIMITED_FEE, u128::MAX, "SessionTypes.UNLIMITED_FEE");
    assert_eq!(FeeBound::from_contract(UNLIMITED_FEE), FeeBound::Unlimited);
    assert_eq!(
        FeeBound::from_contract(MAX_BOUNDED_FEE),
        FeeBound::Wei(MAX_BOUNDED_FEE)
    );
    assert_eq!(FeeBound::from_contract(0), FeeBound::Wei(0));
    assert_eq!(FeeBound::Wei(5).wei(), Some(5));
    assert_eq!(FeeBound::Unlimited.wei(), None);
    assert_eq!(
        FeeScopeSpec::UNLIMITED.to_contract(),
        (u128::MAX, u128::MAX)
    );
    assert_eq!(
        FeeScopeSpec::from_contract(u128::MAX, u128::MAX),
        FeeScopeSpec::UNLIMITED
    );
    assert_eq!(
        FeeScopeSpec::default().to_contract(),
        (DEFAULT_MAX_OPERATION_FEE, DEFAULT_FEE_BUDGET)
    );
    assert_eq!(
        FeeBound::Wei(10_000_000_000_000_000).to_string(),
        "0.01 ether"
    );
    assert_eq!(FeeBound::Unlimited.to_string(), "unlimited");
}

#[test]
fn omitted_fees_and_paymaster_default_to_a_bounded_self_paid_session() {
    let spec = SessionSpec::from_json(&transfer(json!([])).to_string()).unwrap();
    assert_eq!(
        DEFAULT_MAX_OPERATION_FEE, 10_000_000_000_000_000,
        "0.01 ether"
    );
    assert_eq!(DEFAULT_FEE_BUDGET, 100_000_000_000_000_000, "0.1 ether");
    assert_eq!(
        spec.fees,
        FeeScopeSpec {
            per_operation: FeeBound::Wei(DEFAULT_MAX_OPERATION_FEE),
            budget: FeeBound::Wei(DEFAULT_FEE_BUDGET),
        }
    );
    assert_eq!(spec.fees, FeeScopeSpec::default());
    assert_eq!(spec.paymaster, PaymasterSpec::None);
    assert_eq!(PaymasterSpec::default(), PaymasterSpec::None);
    let c = spec.compile().unwrap();
    assert_eq!(c.session.maxOperationFee, DEFAULT_MAX_OPERATION_FEE);
    assert_eq!(c.session.feeBudget, DEFAULT_FEE_BUDGET);
    assert_eq!(c.session.paymasterPolicy, PaymasterPolicyKind::None as u8);
    assert_eq!(c.session.paymaster, Address::ZERO);
    assert!(
        c.warnings.iter().all(|w| !w.path.starts_with("fees")),
        "{:?}",
        c.warnings
    );
    // the defaults are written out, so a reader of the JSON sees them
    let written: Value = serde_json::from_str(&spec.to_json()).unwrap();
    assert_eq!(
        written["fees"],
        json!({"per_operation": "0.01 ether", "budget": "0.1 ether"})
    );
    assert_eq!(written["paymaster"], json!("none"));
    // "any" is still there, by explicit choice
    let mut v = transfer(json!([]));
    v["paymaster"] = json!("any");
    assert_eq!(
        compile(&v).unwrap().session.paymasterPolicy,
        PaymasterPolicyKind::Any as u8
    );
}

#[test]
fn bad_fee_values_are_typed_errors_naming_the_field() {
    let two_128 = "340282366920938463463374607431768211456";
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with_fees(json!("-1 gwei"), json!("1 ether")),
            "fees.per_operation",
            "negative",
        ),
        (
            with_fees(json!(-1), json!("1 ether")),
            "fees.per_operation",
            "negative",
        ),
        (
            with_fees(json!("0.01 ether"), json!(UNLIMITED_FEE.to_string())),
            "fees.budget",
            "2^128 - 2",
        ),
        (
            with_fees(json!("0.01 ether"), json!(two_128)),
            "fees.budget",
            "2^128 - 2",
        ),
        (
            with_fees(json!("1000000000000000000000 ether"), json!("1 ether")),
            "fees.per_operation",
            "2^128 - 2",
        ),
        (
            with_fees(json!("1.5"), json!("1 ether")),
            "fees.per_operation",
            "",
        ),
        (
            with_fees(json!(1.5), json!("1 ether")),
            "fees.per_operation",
            "",
        ),
        (
            with_fees(json!("0.01 ether"), json!("plenty")),
            "fees.budget",
            "",
        ),
        (
            with_fees(json!(null), json!("1 ether")),
            "fees.per_operation",
            "",
        ),
        (with_fees(json!("1 wei"), json!(true)), "fees.budget", ""),
    ];
    for (i, (v, path, needle)) in cases.into_iter().enumerate() {
        let e = err(v.clone());
        assert!(matches!(e, Error::Parse { .. }), "case {i}: {e:?}");
        assert_eq!(e.path(), Some(path), "case {i}: {e}");
        assert!(e.to_string().contains(needle), "case {i}: {e}");
        assert!(
            SessionSpec::from_json(&v.to_string()).is_err(),
            "case {i}: refused when read, before compiling"
        );
    }
    // an unknown field in `fees` (a typo must not silently fall back to a default)
    let mut v = transfer(json!([]));
    v["fees"] = json!({"per_operation": "1 gwei", "budget": "1 ether", "per_day": "1 ether"});
    let e = err(v);
    assert!(matches!(e, Error::Parse { .. }), "{e:?}");
    assert_eq!(e.path(), Some("fees.per_day"), "{e}");
    let mut v = transfer(json!([]));
    v["fees"] = json!({"per_op": "1 gwei", "budget": "1 ether"});
    assert_eq!(err(v).path(), Some("fees.per_op"));
    // a half-given scope is refused, not completed with a default
    let mut v = transfer(json!([]));
    v["fees"] = json!({"per_operation": "1 gwei"});
    let e = err(v);
    assert!(
        matches!(e, Error::Parse { .. }) && e.path() == Some("fees"),
        "{e}"
    );
    assert!(e.to_string().contains("budget"), "{e}");
    // not an object
    let mut v = transfer(json!([]));
    v["fees"] = json!("0.1 ether");
    assert_eq!(err(v).path(), Some("fees"));
    // a JSON integer past 64 bits would lose digits: refused with a hint to write it as a string
    let text = format!(
        r#"{{"signer": "{SIGNER}", "valid_until": 5, "permissions": [],
            "fees": {{"per_operation": 1, "budget": {two_128}}}}}"#
    );
    let e = SessionSpec::from_json(&text).unwrap_err();
    assert!(
        matches!(e, Error::Parse { .. }) && e.path() == Some("fees.budget"),
        "{e}"
    );
    assert!(e.to_string().contains("as strings"), "{e}");
    let text = text.replace(&format!(": {two_128}"), &format!(": \"{MAX_BOUNDED_FEE}\""));
    assert_eq!(
        SessionSpec::from_json(&text).unwrap().fees.budget,
        FeeBound::Wei(MAX_BOUNDED_FEE)
    );
}

#[test]
fn unlimited_and_odd_fee_bounds_are_warned_about() {
    let w = fee_warnings(&with_fees(json!("unlimited"), json!("unlimited")));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "fees");
    assert!(w[0].1.contains("UNLIMITED FEES"), "{w:?}");
    let w = fee_warnings(&with_fees(json!("0.01 ether"), json!("unlimited")));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "fees.budget");
    assert!(w[0].1.contains("UNLIMITED FEE BUDGET"), "{w:?}");
    let w = fee_warnings(&with_fees(json!("unlimited"), json!("0.1 ether")));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "fees.per_operation");
    assert!(w[0].1.contains("whole fee budget"), "{w:?}");
    let w = fee_warnings(&with_fees(json!(0), json!("0.1 ether")));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "fees");
    assert!(w[0].1.contains("zero"), "{w:?}");
    let w = fee_warnings(&with_fees(json!("0.01 ether"), json!(0)));
    assert_eq!(w[0].0, "fees", "{w:?}");
    let w = fee_warnings(&with_fees(json!("1 ether"), json!("0.1 ether")));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "fees.per_operation");
    assert!(w[0].1.contains("above the budget"), "{w:?}");
    // bounded scopes, the per-operation bound at the budget included, are quiet
    for (per_operation, budget) in [
        (json!("0.1 ether"), json!("0.1 ether")),
        (json!("1 gwei"), json!(MAX_BOUNDED_FEE.to_string())),
        (json!(1), json!(1)),
    ] {
        let w = fee_warnings(&with_fees(per_operation, budget));
        assert!(w.is_empty(), "{w:?}");
    }
}

#[test]
fn summary_states_the_fee_scope_and_warns_when_unlimited() {
    let summary = |v: Value| {
        SessionSpec::from_json(&v.to_string())
            .unwrap()
            .summary(&SummaryOptions::default())
            .unwrap()
    };
    let text = summary(transfer(json!([])));
    assert!(
        text.contains("\nFees: at most 0.01 ether per operation, at most 0.1 ether in all (each operation counts at its maximum: gas limits x maxFeePerGas, whoever pays).\n"),
        "{text}"
    );
    assert!(
        text.contains("Gas: paid by the account itself (no paymaster)."),
        "{text}"
    );
    assert!(
        !text.contains("UNLIMITED") && !text.contains("NO LIMIT"),
        "{text}"
    );

    for (per_operation, budget, fees, warning) in [
        (
            "500000 gwei",
            "unlimited",
            "Fees: at most 500000 gwei per operation, NO LIMIT in all",
            "- fees.budget: UNLIMITED FEE BUDGET",
        ),
        (
            "unlimited",
            "unlimited",
            "Fees: NO LIMIT per operation, NO LIMIT in all",
            "- fees: UNLIMITED FEES: a leaked session key can make the account pay any amount",
        ),
    ] {
        let text = summary(with_fees(json!(per_operation), json!(budget)));
        assert!(text.contains(fees), "{fees:?} not in {text}");
        let warnings = text
            .split("Warnings:\n")
            .nth(1)
            .expect("a warnings section");
        assert!(warnings.contains(warning), "{warning:?} not in {text}");
    }

    let text = summary(with_fees(json!("unlimited"), json!("2 ether")));
    assert!(
        text.contains("Fees: NO LIMIT per operation, at most 2 ether in all"),
        "{text}"
    );
    assert!(text.contains("- fees.per_operation: "), "{text}");
}

#[test]
fn decompiling_reads_the_fee_words() {
    let c = compile(&transfer(json!([]))).unwrap();
    let cases = [
        (0, 0, FeeScopeSpec::from_contract(0, 0)),
        (
            1,
            UNLIMITED_FEE,
            FeeScopeSpec {
                per_operation: FeeBound::Wei(1),
                budget: FeeBound::Unlimited,
            },
        ),
        (UNLIMITED_FEE, UNLIMITED_FEE, FeeScopeSpec::UNLIMITED),
        (
            UNLIMITED_FEE,
            12_345,
            FeeScopeSpec {
                per_operation: FeeBound::Unlimited,
                budget: FeeBound::Wei(12_345),
            },
        ),
        (
            MAX_BOUNDED_FEE,
            MAX_BOUNDED_FEE,
            FeeScopeSpec {
                per_operation: FeeBound::Wei(MAX_BOUNDED_FEE),
                budget: FeeBound::Wei(MAX_BOUNDED_FEE),
            },
        ),
        (
            DEFAULT_MAX_OPERATION_FEE,
            DEFAULT_FEE_BUDGET,
            FeeScopeSpec::default(),
        ),
    ];
    for (max_operation_fee, fee_budget, expected) in cases {
        let mut session = c.session.clone();
        session.maxOperationFee = max_operation_fee;
        session.feeBudget = fee_budget;
        let spec = SessionSpec::from_contract(&session, &c.permissions, &[]).unwrap();
        assert_eq!(spec.fees, expected);
        let text = spec.to_json();
        let again = SessionSpec::from_json(&text).unwrap().compile().unwrap();
        assert_eq!(again.session, session, "{text}");
        assert_eq!(again.session_id(), abi::session_id(&session));
    }
    // the fee words are part of the session id
    let mut other = c.session.clone();
    other.feeBudget += 1;
    assert_ne!(abi::session_id(&other), abi::session_id(&c.session));
    let mut other = c.session.clone();
    other.maxOperationFee -= 1;
    assert_ne!(abi::session_id(&other), abi::session_id(&c.session));
}
