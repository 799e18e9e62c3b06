//! Typed-data permissions (`FLAG_TYPED_DATA`): the `typed_data` entries of the JSON format, their leaves, errors,
//! round trips and summary lines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use alloy_primitives::{address, keccak256, Address, B256, U256};
use keyscope_permissions::{
    abi, verify, Error, Permission, PermissionSpec, RuleOperator, RuleValue, Scalar, SessionSpec,
    SummaryOptions, TypedDataRuleSpec, TypedDataSpec, FLAG_TYPED_DATA, MAX_RULES,
};
use serde_json::{json, Value};

mod common;

use common::{compile, err, transfer_permission, BOB, SIGNER};

const OFFER: &str = "Offer(address buyer,address collection,uint256 tokenId,address currency,uint256 price,uint256 nonce,uint256 deadline)";
const MARKET: &str = "0x1111111111111111111111111111111111111111";
const MARKET_ADDR: Address = address!("1111111111111111111111111111111111111111");
const HUNDRED_ETHER: &str = "100000000000000000000";

fn offer_entry() -> Value {
    json!({
        "verifying_contract": MARKET,
        "type": OFFER,
        "rules": [ { "field": "price", "op": "lte", "value": HUNDRED_ETHER } ]
    })
}

fn session_with(permissions: Value, typed_data: Value) -> Value {
    json!({
        "signer": SIGNER,
        "valid_after": 1_767_225_600u64,
        "valid_until": "2026-12-01T12:00:00Z",
        "permissions": permissions,
        "typed_data": typed_data,
    })
}

fn typed_only(entries: Value) -> Value {
    json!({
        "signer": SIGNER,
        "valid_until": "2026-12-01T12:00:00Z",
        "typed_data": entries,
    })
}

fn offer_with_rules(rules: Value) -> Value {
    typed_only(json!([{ "verifying_contract": MARKET, "type": OFFER, "rules": rules }]))
}

#[test]
fn offer_compiles_to_the_exact_leaf() {
    let c = compile(&typed_only(json!([offer_entry()]))).unwrap();
    assert_eq!(c.permissions.len(), 1);
    let p = &c.permissions[0];
    let expected = Permission {
        target: MARKET_ADDR,
        flags: FLAG_TYPED_DATA,
        rules: vec![
            abi::ArgRule {
                operator: RuleOperator::Eq as u8,
                argIndex: 0,
                operands: vec![keccak256(OFFER)],
            },
            abi::ArgRule {
                operator: RuleOperator::Lte as u8,
                argIndex: 5,
                operands: vec![B256::from(U256::from(100u128 * 10u128.pow(18)))],
            },
        ],
        ..Permission::default()
    };
    assert_eq!(*p, expected);
    assert_eq!(FLAG_TYPED_DATA, 32);
    assert_eq!(p.flags & abi::ALL_FLAGS, 0, "never usable for calls");
    // in the session's tree like any leaf
    assert_eq!(c.typed_data_index(0), Some(0));
    assert_eq!(c.typed_data_index(1), None);
    let proof = c.proof(0).unwrap();
    assert!(verify(c.session.permissionsRoot, p.leaf(), &proof));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn typed_data_joins_the_call_permissions_tree() {
    let v = session_with(
        json!([transfer_permission(json!([]))]),
        json!([offer_entry(), {
            "verifying_contract": MARKET,
            "type": "Cancel(uint256 nonce)",
            "valid_after": "2026-06-01T00:00:00Z",
            "valid_until": "2026-07-01T00:00:00Z"
        }]),
    );
    let c = compile(&v).unwrap();
    assert_eq!(c.permissions.len(), 3);
    assert_eq!(c.permissions[0].flags, 0);
    assert_eq!(c.typed_data_index(0), Some(1));
    assert_eq!(c.typed_data_index(1), Some(2));
    let cancel = &c.permissions[2];
    assert_eq!(cancel.rules.len(), 1);
    assert_eq!(
        cancel.rules[0].operands[0],
        keccak256("Cancel(uint256 nonce)")
    );
    assert_eq!(abi::u48_to_u64(cancel.validAfter), 1_780_272_000);
    assert_eq!(abi::u48_to_u64(cancel.validUntil), 1_782_864_000);
    for i in 0..3 {
        assert!(verify(
            c.session.permissionsRoot,
            c.permissions[i].leaf(),
            &c.proof(i).unwrap()
        ));
    }
}

#[test]
fn permissions_may_be_empty_only_with_typed_data() {
    // left out, or empty
    assert!(compile(&typed_only(json!([offer_entry()]))).is_ok());
    assert!(compile(&session_with(json!([]), json!([offer_entry()]))).is_ok());
    // neither: the existing error
    let e = err(session_with(json!([]), json!([])));
    assert!(
        matches!(&e, Error::Missing { path, .. } if path == "permissions"),
        "{e}"
    );
    let e = err(typed_only(json!([])));
    assert_eq!(e.path(), Some("permissions"), "{e}");
}

#[test]
fn rules_read_values_by_member_type() {
    let ty = "Order(address maker,int64 delta,bool partial,bytes4 tag,uint8 kind,string memo)";
    let c = compile(&typed_only(json!([{
        "verifying_contract": MARKET,
        "type": ty,
        "rules": [
            { "field": "maker", "op": "one_of", "value": [BOB, SIGNER] },
            { "field": "delta", "op": "gte", "value": -5 },
            { "field": "partial", "op": "eq", "value": false },
            { "field": "tag", "op": "eq", "value": "0xdeadbeef" },
            { "field": "kind", "op": "in_range", "value": [1, 3] },
            { "word": 2, "op": "unsigned_lt", "value": 7 },
            { "field": "kind", "op": "bitmask", "mask": "0x0f", "value": 1, "type": "word" }
        ]
    }])))
    .unwrap();
    let rules = &c.permissions[0].rules;
    assert_eq!(rules.len(), 8);
    assert_eq!(rules[1].operator, RuleOperator::OneOf as u8);
    assert_eq!(rules[1].argIndex, 1);
    assert_eq!(
        rules[1].operands[0],
        BOB.parse::<Address>().unwrap().into_word()
    );
    // signed comparison on intN
    assert_eq!(rules[2].operator, RuleOperator::SignedGte as u8);
    assert_eq!(rules[2].argIndex, 2);
    assert_eq!(rules[2].operands[0], B256::from(U256::MAX - U256::from(4)));
    assert_eq!(rules[3].argIndex, 3);
    assert_eq!(rules[3].operands[0], B256::ZERO);
    assert_eq!(rules[4].operands[0].0[..4], [0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(rules[5].operator, RuleOperator::InRange as u8);
    assert_eq!(rules[5].argIndex, 5);
    assert_eq!(rules[6].operator, RuleOperator::Lt as u8);
    assert_eq!(rules[6].argIndex, 2);
    assert_eq!(rules[7].operator, RuleOperator::Bitmask as u8);
}

#[test]
fn type_hash_alone_with_rules_by_word() {
    let hash = keccak256(OFFER);
    let c = compile(&typed_only(json!([{
        "verifying_contract": MARKET,
        "type_hash": hash.to_string(),
        "rules": [ { "word": 5, "op": "lte", "value": HUNDRED_ETHER } ]
    }])))
    .unwrap();
    let by_name = compile(&typed_only(json!([offer_entry()]))).unwrap();
    assert_eq!(c.permissions, by_name.permissions);
    // both given: they must agree
    let both = typed_only(json!([{
        "verifying_contract": MARKET, "type": OFFER, "type_hash": hash.to_string()
    }]));
    assert!(compile(&both).is_ok());
}

fn assert_error(v: Value, path: &str, check: impl Fn(&Error) -> bool) {
    let e = err(v);
    assert_eq!(e.path(), Some(path), "{e}");
    assert!(check(&e), "unexpected error: {e:?}");
}

#[test]
fn refusals_name_the_entry_and_field() {
    let entry = |extra: Value| {
        let mut e = json!({ "verifying_contract": MARKET, "type": OFFER });
        for (k, v) in extra.as_object().unwrap() {
            e[k] = v.clone();
        }
        typed_only(json!([e]))
    };
    // zero verifying contract
    assert_error(
        entry(json!({"verifying_contract": "0x0000000000000000000000000000000000000000"})),
        "typed_data[0].verifying_contract",
        |e| matches!(e, Error::ForbiddenTarget { .. }),
    );
    // malformed type strings
    for bad in [
        "Offer",
        "Offer(uint256 price, address buyer)",
        "Offer(uint price)",
        "Offer(Item item)",
        "",
    ] {
        assert_error(
            entry(json!({ "type": bad })),
            "typed_data[0].type",
            |e| matches!(e, Error::BadTypeString { type_string, .. } if type_string == bad),
        );
    }
    // neither type nor type hash; a hash that is not the type's
    assert_error(
        typed_only(json!([{ "verifying_contract": MARKET }])),
        "typed_data[0].type",
        |e| matches!(e, Error::Missing { .. }),
    );
    assert_error(
        entry(json!({ "type_hash": B256::repeat_byte(1).to_string() })),
        "typed_data[0].type_hash",
        |e| matches!(e, Error::Conflict { .. }),
    );
    // unknown field, word past the members, field and word, neither, word 0
    assert_error(
        offer_with_rules(json!([{ "field": "amount", "op": "eq", "value": 1 }])),
        "typed_data[0].rules[0].field",
        |e| matches!(e, Error::UnknownMember { type_name, .. } if type_name == "Offer"),
    );
    assert_error(
        offer_with_rules(json!([{ "word": 8, "op": "eq", "value": 1 }])),
        "typed_data[0].rules[0].word",
        |e| matches!(e, Error::UnknownMember { .. }),
    );
    assert_error(
        offer_with_rules(json!([{ "field": "price", "word": 5, "op": "eq", "value": 1 }])),
        "typed_data[0].rules[0].word",
        |e| matches!(e, Error::Conflict { .. }),
    );
    assert_error(
        offer_with_rules(json!([{ "op": "eq", "value": 1 }])),
        "typed_data[0].rules[0].field",
        |e| matches!(e, Error::Missing { .. }),
    );
    assert_error(
        offer_with_rules(json!([{ "word": 0, "op": "eq", "value": 1 }])),
        "typed_data[0].rules[0].word",
        |e| matches!(e, Error::Conflict { .. }),
    );
    // names need the type string
    assert_error(
        typed_only(json!([{
            "verifying_contract": MARKET,
            "type_hash": keccak256(OFFER).to_string(),
            "rules": [{ "field": "price", "op": "eq", "value": 1 }]
        }])),
        "typed_data[0].rules[0].field",
        |e| matches!(e, Error::Conflict { .. }),
    );
    // rules on members whose word is a hash
    let mail = "Mail(Person from,Person[] to,string contents,bytes data,uint256[2] ids)Person(string name,address wallet)";
    for (field, ty) in [
        ("from", "Person"),
        ("to", "Person[]"),
        ("contents", "string"),
        ("data", "bytes"),
        ("ids", "uint256[2]"),
    ] {
        assert_error(
            typed_only(json!([{
                "verifying_contract": MARKET,
                "type": mail,
                "rules": [{ "field": field, "op": "eq", "value": 1 }]
            }])),
            "typed_data[0].rules[0].field",
            |e| matches!(e, Error::UnsupportedMember { member, ty: t, .. } if member == field && t == ty),
        );
    }
    // too many rules: the type rule counts
    let rules: Vec<Value> = (0..MAX_RULES)
        .map(|_| json!({ "field": "price", "op": "lte", "value": 1 }))
        .collect();
    assert_error(
        offer_with_rules(json!(rules)),
        "typed_data[0].rules",
        |e| matches!(e, Error::TooMany { count, max, .. } if *count == MAX_RULES + 1 && *max == MAX_RULES),
    );
    let rules: Vec<Value> = (0..MAX_RULES - 1)
        .map(|k| json!({ "field": "price", "op": "lte", "value": k }))
        .collect();
    assert!(compile(&offer_with_rules(json!(rules))).is_ok());
    // bad values, read by the member's type
    assert_error(
        offer_with_rules(json!([{ "field": "price", "op": "lte", "value": "lots" }])),
        "typed_data[0].rules[0].value",
        |e| matches!(e, Error::InvalidValue { .. }),
    );
    assert_error(
        offer_with_rules(json!([{ "field": "price", "op": "lte", "value": "-1" }])),
        "typed_data[0].rules[0].value",
        |e| matches!(e, Error::ValueOutOfRange { ty, .. } if ty == "uint256"),
    );
    assert_error(
        offer_with_rules(
            json!([{ "field": "buyer", "op": "eq", "value": "0xdbf03B407c01E7cD3CBea99509d93f8DDDC8C6FB" }]),
        ),
        "typed_data[0].rules[0].value",
        |e| matches!(e, Error::BadChecksum { .. }),
    );
    assert_error(
        offer_with_rules(json!([{ "field": "price", "op": "nope", "value": 1 }])),
        "typed_data[0].rules[0].op",
        |e| matches!(e, Error::UnknownOperator { .. }),
    );
    assert_error(
        offer_with_rules(json!([{ "field": "price", "op": "in_range", "value": 1 }])),
        "typed_data[0].rules[0].value",
        |e| matches!(e, Error::OperandCount { .. }),
    );
    // windows
    assert_error(
        entry(json!({ "valid_after": 20, "valid_until": 10 })),
        "typed_data[0].valid_until",
        |e| matches!(e, Error::WindowOutOfOrder { .. }),
    );
    // duplicates
    assert_error(
        typed_only(
            json!([offer_entry(), {"verifying_contract": MARKET, "type": "Cancel(uint256 nonce)"}, offer_entry()]),
        ),
        "typed_data[2]",
        |e| matches!(e, Error::DuplicateTypedData { first: 0, .. }),
    );
    // the format's own syntax
    let e = SessionSpec::from_json(
        &typed_only(json!([{ "verifying_contract": MARKET, "type": OFFER, "extra": 1 }]))
            .to_string(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Parse { .. }), "{e}");
    assert!(e.path().unwrap().starts_with("typed_data[0]"), "{e}");
    let e = SessionSpec::from_json(
        &offer_with_rules(json!([{ "field": "price", "op": "eq", "value": 1, "arg": 1 }]))
            .to_string(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Parse { .. }), "{e}");
}

#[test]
fn json_round_trip() {
    let v = session_with(
        json!([transfer_permission(json!([]))]),
        json!([offer_entry(), {
            "verifying_contract": MARKET,
            "type_hash": keccak256("Cancel(uint256 nonce)").to_string(),
            "rules": [{ "word": 1, "op": "one_of", "value": [1, 2, "0x03"] }],
            "valid_until": "2026-07-01T00:00:00Z"
        }]),
    );
    let spec = SessionSpec::from_json(&v.to_string()).unwrap();
    assert_eq!(spec.typed_data.len(), 2);
    assert_eq!(spec.typed_data[0].type_string.as_deref(), Some(OFFER));
    assert_eq!(spec.typed_data[0].rules[0].field.as_deref(), Some("price"));
    assert_eq!(spec.typed_data[1].rules[0].word, Some(1));
    let text = spec.to_json();
    let back = SessionSpec::from_json(&text).unwrap();
    assert_eq!(back, spec);
    let written: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(written["typed_data"][0]["type"], OFFER);
    assert_eq!(written["typed_data"][0]["rules"][0]["field"], "price");
    assert!(written["typed_data"][0].get("type_hash").is_none());
    assert_eq!(
        written["typed_data"][1]["valid_until"],
        "2026-07-01T00:00:00Z"
    );
    // no typed data: nothing written
    let plain = SessionSpec::from_json(&common::transfer(json!([])).to_string()).unwrap();
    assert!(plain.typed_data.is_empty());
    assert!(!plain.to_json().contains("typed_data"));
    // the builder gives the same entry
    let built = TypedDataSpec::new(MARKET_ADDR, OFFER).rule(
        "price",
        "lte",
        RuleValue::One(Scalar::Text(HUNDRED_ETHER.into())),
    );
    assert_eq!(built, spec.typed_data[0]);
    assert_eq!(
        TypedDataSpec::from_json(&offer_entry().to_string()).unwrap(),
        built
    );
}

#[test]
fn decompile_round_trips_to_the_same_leaves() {
    let v = session_with(
        json!([transfer_permission(
            json!([{"arg": "amount", "op": "lte", "value": 5}])
        )]),
        json!([
            offer_entry(),
            {
                "verifying_contract": MARKET,
                "type": "Order(address maker,int64 delta,bytes4 tag,uint8 kind)",
                "rules": [
                    { "field": "maker", "op": "one_of", "value": [BOB, SIGNER] },
                    { "field": "delta", "op": "in_range", "value": [-5, 5] },
                    { "field": "delta", "op": "unsigned_gt", "value": 1 },
                    { "field": "tag", "op": "eq", "value": "0xdeadbeef" },
                    { "field": "kind", "op": "bitmask", "mask": "0x0f", "value": 1 }
                ],
                "valid_after": "2026-06-01T00:00:00Z"
            }
        ]),
    );
    let c = compile(&v).unwrap();
    let back = SessionSpec::from_contract(&c.session, &c.permissions, &[]).unwrap();
    assert_eq!(back.permissions.len(), 1);
    assert_eq!(back.typed_data.len(), 2);
    let offer = &back.typed_data[0];
    assert_eq!(offer.verifying_contract, MARKET_ADDR);
    assert_eq!(offer.type_string, None);
    assert_eq!(offer.type_hash, Some(keccak256(OFFER)));
    assert_eq!(
        offer.rules,
        vec![TypedDataRuleSpec {
            field: None,
            word: Some(5),
            op: "lte".into(),
            value: Some(RuleValue::One(Scalar::Text(HUNDRED_ETHER.into()))),
            mask: None,
            ty: None,
        }]
    );
    // through JSON and back to the same structs and root
    let again = SessionSpec::from_json(&back.to_json())
        .unwrap()
        .compile()
        .unwrap();
    assert_eq!(again.session, c.session);
    assert_eq!(again.permissions, c.permissions);

    // with the type string: rules by member name with typed values, the spec as written
    let spec = SessionSpec::from_json(&v.to_string()).unwrap();
    for (i, entry) in spec.typed_data.iter().enumerate() {
        let p = &c.permissions[c.typed_data_index(i).unwrap()];
        let named = TypedDataSpec::from_permission(p, entry.type_string.as_deref()).unwrap();
        let recompiled = typed_only(json!([serde_json::to_value(&named).unwrap()]));
        assert_eq!(
            compile(&recompiled).unwrap().permissions[0],
            *p,
            "{named:?}"
        );
    }
    let named = TypedDataSpec::from_permission(&c.permissions[1], Some(OFFER)).unwrap();
    assert_eq!(named, spec.typed_data[0]);
    // a type string of another type hash is refused
    assert!(matches!(
        TypedDataSpec::from_permission(&c.permissions[1], Some("Cancel(uint256 nonce)")),
        Err(Error::Conflict { .. })
    ));
}

#[test]
fn decompile_refuses_what_the_contract_refuses() {
    let c = compile(&typed_only(json!([offer_entry()]))).unwrap();
    let good = c.permissions[0].clone();
    assert!(TypedDataSpec::from_permission(&good, None).is_ok());
    // never a call permission
    assert!(matches!(
        PermissionSpec::from_permission(&good, None),
        Err(Error::NonCanonical { .. })
    ));
    let mut other_flag = good.clone();
    other_flag.flags |= abi::FLAG_ANY_TARGET;
    let mut call_field = good.clone();
    call_field.maxUses = 1;
    let mut no_type_rule = good.clone();
    no_type_rule.rules.remove(0);
    let mut wrong_type_rule = good.clone();
    wrong_type_rule.rules[0].operator = RuleOperator::Lte as u8;
    let mut zero_target = good.clone();
    zero_target.target = Address::ZERO;
    for p in [
        other_flag,
        call_field,
        no_type_rule,
        wrong_type_rule,
        zero_target,
    ] {
        let e = TypedDataSpec::from_permission(&p, None).unwrap_err();
        assert!(matches!(e, Error::NonCanonical { .. }), "{e}");
    }
}

#[test]
fn summary_lines() {
    let v = session_with(
        json!([transfer_permission(json!([]))]),
        json!([offer_entry(), {
            "verifying_contract": MARKET,
            "type_hash": keccak256("Cancel(uint256 nonce)").to_string(),
            "rules": [{ "word": 1, "op": "lt", "value": 10 }],
            "valid_after": "2026-06-01T00:00:00Z"
        }]),
    );
    let spec = SessionSpec::from_json(&v.to_string()).unwrap();
    let text = spec.summary(&SummaryOptions::default()).unwrap();
    assert!(text.contains("(3 permissions)"), "{text}");
    assert!(
        text.contains(&format!(
            "2. may sign Offer typed data for {MARKET} with price ≤ {HUNDRED_ETHER}, until 2026-12-01 12:00 UTC\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "3. may sign typed data of type hash {} for {MARKET} with word 1 < 10, from 2026-06-01 00:00 UTC, \
             until 2026-12-01 12:00 UTC\n",
            keccak256("Cancel(uint256 nonce)")
        )),
        "{text}"
    );
    assert!(text.contains("ERC-1271"), "{text}");
    assert!(text.contains("within the session window"), "{text}");
    // no typed data, no signature line
    let plain = SessionSpec::from_json(&common::transfer(json!([])).to_string()).unwrap();
    assert!(!plain
        .summary(&SummaryOptions::default())
        .unwrap()
        .contains("ERC-1271"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 512, failure_persistence: None, ..proptest::prelude::ProptestConfig::default()
    })]

    /// The type-string parser never panics, and what it accepts hashes as written.
    #[test]
    fn type_strings_never_panic(text in "[A-Za-z0-9_$(), \\[\\]]{0,48}") {
        if let Ok(ty) = keyscope_permissions::TypedDataType::parse(&text) {
            proptest::prop_assert_eq!(ty.type_hash(), keccak256(&text));
            let prefix = format!("{}(", ty.name);
            proptest::prop_assert!(text.starts_with(&prefix), "{}", text);
        }
    }

    /// Typed-looking strings: accepted ones compile to a leaf whose rule 0 is their hash.
    #[test]
    fn typed_entries_compile_or_refuse(
        members in proptest::collection::vec(("(address|bool|uint8|int256|bytes32|string|Item|uint256\\[\\])", "[a-z]{1,3}"), 0..5)
    ) {
        let list: Vec<String> = members.iter().map(|(t, n)| format!("{t} {n}")).collect();
        let mut ty = format!("Thing({})", list.join(","));
        if members.iter().any(|(t, _)| t == "Item") {
            ty.push_str("Item(uint8 x)");
        }
        let v = typed_only(json!([{ "verifying_contract": MARKET, "type": ty }]));
        match compile(&v) {
            Ok(c) => proptest::prop_assert_eq!(c.permissions[0].rules[0].operands[0], keccak256(&ty)),
            Err(e) => proptest::prop_assert!(matches!(e, Error::BadTypeString { .. }), "{}", e),
        }
    }
}
