//! Cross-implementation vectors from OpenZeppelin's `StandardMerkleTree` and viem (see `vectors/generate.cjs`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use alloy_primitives::{aliases::U48, hex, Address, FixedBytes, B256, U256};
use alloy_sol_types::SolValue;
use keyscope_permissions::{
    abi::{self, decode_permission, decode_session, encode_permission, encode_session, session_id},
    merkle::{process_multi_proof, MultiProof},
    ArgRule, Permission, PermissionTree, Session,
};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/reference.json")).unwrap()
}

fn b256(v: &Value) -> B256 {
    v.as_str().unwrap().parse().unwrap()
}

fn u256(v: &Value) -> U256 {
    v.as_str().unwrap().parse().unwrap()
}

fn u48(v: &Value) -> U48 {
    U48::from(v.as_u64().unwrap())
}

fn permission(v: &Value) -> Permission {
    Permission {
        target: v["target"].as_str().unwrap().parse().unwrap(),
        selector: v["selector"].as_str().unwrap().parse().unwrap(),
        flags: v["flags"].as_u64().unwrap() as u8,
        valueLimit: u256(&v["valueLimit"]),
        nativeTotalLimit: u256(&v["nativeTotalLimit"]),
        erc20TotalLimit: u256(&v["erc20TotalLimit"]),
        validAfter: u48(&v["validAfter"]),
        validUntil: u48(&v["validUntil"]),
        maxUses: v["maxUses"].as_u64().unwrap() as u32,
        rateLimitCount: v["rateLimitCount"].as_u64().unwrap() as u32,
        rateLimitInterval: u48(&v["rateLimitInterval"]),
        rules: v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| ArgRule {
                operator: r["operator"].as_u64().unwrap() as u8,
                argIndex: r["argIndex"].as_u64().unwrap() as u16,
                operands: r["operands"].as_array().unwrap().iter().map(b256).collect(),
            })
            .collect(),
    }
}

fn permissions() -> Vec<Permission> {
    vectors()["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(permission)
        .collect()
}

#[test]
fn permission_encoding_matches_viem_and_alloy() {
    let v = vectors();
    for (p, expected) in permissions().iter().zip(v["encodings"].as_array().unwrap()) {
        let expected = hex::decode(expected.as_str().unwrap()).unwrap();
        let ours = encode_permission(p);
        assert_eq!(ours, expected);
        assert_eq!(
            &ours[..32],
            B256::with_last_byte(0x20).as_slice(),
            "abi.encode of one dynamic tuple"
        );
        assert_eq!(p.abi_encode(), expected, "alloy's own encoder agrees");
        assert_eq!(abi::encoded_permission_len(p), expected.len());
        assert_eq!(&decode_permission(&expected).unwrap(), p);
    }
}

#[test]
fn non_canonical_permission_encodings_are_refused() {
    let p = &permissions()[3];
    let mut bytes = encode_permission(p);
    bytes.push(0);
    assert!(decode_permission(&bytes).is_err(), "trailing byte");
    let bytes = encode_permission(p);
    assert!(
        decode_permission(&bytes[..bytes.len() - 1]).is_err(),
        "truncated"
    );
    let mut bytes = encode_permission(p);
    bytes[32 + 2 * 32] = 1; // high byte of the uint8 flags word
    assert!(decode_permission(&bytes).is_err(), "dirty high bits");
    assert!(decode_permission(&[]).is_err());
}

#[test]
fn trees_match_standard_merkle_tree() {
    let v = vectors();
    let all = permissions();
    for t in v["trees"].as_array().unwrap() {
        let count = t["count"].as_u64().unwrap() as usize;
        let tree = PermissionTree::from_permissions(&all[..count]).unwrap();
        assert_eq!(tree.root(), b256(&t["root"]), "root of {count}");
        let nodes: Vec<B256> = t["nodes"].as_array().unwrap().iter().map(b256).collect();
        assert_eq!(tree.nodes(), &nodes[..]);
        for (i, (leaf, proof)) in t["leaves"]
            .as_array()
            .unwrap()
            .iter()
            .zip(t["proofs"].as_array().unwrap())
            .enumerate()
        {
            assert_eq!(all[i].leaf(), b256(leaf));
            assert_eq!(tree.leaf(i).unwrap(), b256(leaf));
            let proof: Vec<B256> = proof.as_array().unwrap().iter().map(b256).collect();
            assert_eq!(tree.proof(i).unwrap(), proof, "proof {i} of {count}");
            assert!(keyscope_permissions::verify(
                tree.root(),
                b256(leaf),
                &proof
            ));
        }
        let m = &t["multiproof"];
        let indices: Vec<usize> = m["indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap() as usize)
            .collect();
        let ours = tree.multi_proof(&indices).unwrap();
        let expected = MultiProof {
            leaves: m["leaves"].as_array().unwrap().iter().map(b256).collect(),
            proof: m["proof"].as_array().unwrap().iter().map(b256).collect(),
            proof_flags: m["proofFlags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_bool().unwrap())
                .collect(),
        };
        assert_eq!(ours, expected, "multiproof of {count}");
        assert_eq!(process_multi_proof(&ours), Some(tree.root()));
    }
}

#[test]
fn sessions_match_viem() {
    let v = vectors();
    for s in v["sessions"].as_array().unwrap() {
        let j = &s["session"];
        let session = Session {
            signer: j["signer"].as_str().unwrap().parse::<Address>().unwrap(),
            validAfter: u48(&j["validAfter"]),
            validUntil: u48(&j["validUntil"]),
            permissionsRoot: b256(&j["permissionsRoot"]),
            paymasterPolicy: j["paymasterPolicy"].as_u64().unwrap() as u8,
            paymaster: j["paymaster"].as_str().unwrap().parse().unwrap(),
            maxOperationFee: j["maxOperationFee"].as_str().unwrap().parse().unwrap(),
            feeBudget: j["feeBudget"].as_str().unwrap().parse().unwrap(),
            salt: b256(&j["salt"]),
        };
        let encoding = hex::decode(s["encoding"].as_str().unwrap()).unwrap();
        assert_eq!(encode_session(&session).as_slice(), &encoding[..]);
        assert_eq!(session.abi_encode(), encoding, "alloy agrees");
        assert_eq!(encoding.len(), abi::SESSION_LENGTH);
        assert_eq!(decode_session(&encoding).unwrap(), session);
        assert_eq!(session_id(&session), b256(&s["id"]));
        assert_eq!(
            abi::session_id_via_alloy(&session),
            b256(&s["id"]),
            "alloy's EIP-712 hashStruct agrees"
        );
    }
}

#[test]
fn typehashes() {
    use alloy_primitives::keccak256;
    assert_eq!(abi::SESSION_TYPEHASH, keccak256(abi::SESSION_TYPE));
    assert_eq!(
        abi::ENABLE_SESSION_TYPEHASH,
        keccak256(abi::ENABLE_SESSION_TYPE)
    );
    use alloy_sol_types::SolStruct;
    assert_eq!(Session::default().eip712_type_hash(), abi::SESSION_TYPEHASH);
    for (sig, sel) in [
        ("transfer(address,uint256)", abi::SELECTOR_TRANSFER),
        (
            "transferFrom(address,address,uint256)",
            abi::SELECTOR_TRANSFER_FROM,
        ),
        ("approve(address,uint256)", abi::SELECTOR_APPROVE),
        (
            "increaseAllowance(address,uint256)",
            abi::SELECTOR_INCREASE_ALLOWANCE,
        ),
    ] {
        assert_eq!(FixedBytes::<4>::from_slice(&keccak256(sig)[..4]), sel);
    }
}

#[test]
fn session_decoding_is_strict() {
    let session = Session {
        signer: Address::repeat_byte(1),
        validUntil: U48::from(5u8),
        ..Default::default()
    };
    let bytes = encode_session(&session);
    assert_eq!(bytes.len(), 288, "nine words");
    assert!(decode_session(&bytes[..abi::SESSION_LENGTH - 1]).is_err());
    assert!(
        decode_session(&bytes[..224]).is_err(),
        "the old 7-word session"
    );
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(decode_session(&longer).is_err());
    for dirty in [
        0usize,
        32 + 25,
        64 + 25,
        4 * 32 + 30,
        5 * 32 + 11,
        // the high half of the uint128 words maxOperationFee (6) and feeBudget (7)
        6 * 32,
        6 * 32 + 15,
        7 * 32,
        7 * 32 + 15,
    ] {
        let mut b = bytes;
        b[dirty] = 1;
        assert!(decode_session(&b).is_err(), "byte {dirty}");
    }
    // the low halves are the values themselves
    let mut b = bytes;
    b[6 * 32 + 16] = 0x80;
    b[7 * 32 + 31] = 0x01;
    let read = decode_session(&b).unwrap();
    assert_eq!(read.maxOperationFee, 1u128 << 127);
    assert_eq!(read.feeBudget, 1);
    assert_eq!(encode_session(&read), b);
    // a fee scope with every bit set: UNLIMITED_FEE on both bounds
    let unlimited = Session {
        maxOperationFee: abi::UNLIMITED_FEE,
        feeBudget: abi::UNLIMITED_FEE,
        ..session
    };
    let b = encode_session(&unlimited);
    assert_eq!(&b[6 * 32..6 * 32 + 16], &[0u8; 16]);
    assert_eq!(&b[6 * 32 + 16..7 * 32], &[0xffu8; 16]);
    assert_eq!(&b[7 * 32 + 16..8 * 32], &[0xffu8; 16]);
    assert_eq!(decode_session(&b).unwrap(), unlimited);
}

#[test]
fn rule_evaluation_mirrors_the_contract() {
    use keyscope_permissions::RuleOperator as Op;
    let w = |v: i64| B256::from(alloy_primitives::I256::try_from(v).unwrap().into_raw());
    assert!(Op::Lt.evaluate(w(1), &[w(2)]));
    assert!(!Op::Lt.evaluate(w(-1), &[w(2)]), "unsigned: -1 is huge");
    assert!(Op::SignedLt.evaluate(w(-1), &[w(2)]));
    assert!(Op::SignedInRange.evaluate(w(-5), &[w(-10), w(0)]));
    assert!(!Op::InRange.evaluate(w(-5), &[w(-10), w(0)]));
    assert!(Op::OneOf.evaluate(w(3), &[w(1), w(3)]));
    assert!(!Op::OneOf.evaluate(w(3), &[]));
    assert!(Op::Bitmask.evaluate(w(0b1011), &[w(0b0011), w(0b0011)]));
    assert!(
        !Op::Eq.evaluate(w(1), &[w(1), w(1)]),
        "wrong operand count fails"
    );
    for op in Op::ALL {
        assert_eq!(Op::from_u8(op as u8), Some(op));
        assert_eq!(Op::from_name(op.name()), Some(op));
    }
    assert_eq!(Op::from_u8(14), None);
}
