//! Property tests: the decoder never panics, and encode/decode round-trip.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use alloy_primitives::{aliases::U48, Address, B256, U256};
use keyscope_permissions::{abi::SESSION_LENGTH, ArgRule, Permission, Session};
use keyscope_signer::{CallEntry, CallProof, Mode, SessionSignature};
use proptest::prelude::*;

fn permission() -> impl Strategy<Value = Permission> {
    (
        any::<[u8; 20]>(),
        any::<[u8; 4]>(),
        any::<u8>(),
        any::<[u8; 32]>(),
        any::<u32>(),
        prop::collection::vec(
            (
                any::<u8>(),
                any::<u16>(),
                prop::collection::vec(any::<[u8; 32]>(), 0..3),
            ),
            0..3,
        ),
    )
        .prop_map(|(target, selector, flags, value, uses, rules)| Permission {
            target: Address::from(target),
            selector: selector.into(),
            flags,
            valueLimit: U256::from_be_bytes(value),
            maxUses: uses,
            validUntil: U48::from(uses),
            rules: rules
                .into_iter()
                .map(|(operator, arg_index, ops)| ArgRule {
                    operator,
                    argIndex: arg_index,
                    operands: ops.into_iter().map(B256::from).collect(),
                })
                .collect(),
            ..Default::default()
        })
}

fn signature() -> impl Strategy<Value = SessionSignature> {
    (
        any::<[u8; 20]>(),
        any::<u64>(),
        0u8..4,
        any::<[u8; 32]>(),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..100)),
        prop::collection::vec(
            (
                permission(),
                prop::collection::vec(any::<[u8; 32]>(), 0..21),
                any::<u32>(),
            ),
            1..5,
        ),
        prop::collection::vec(any::<u8>(), 0..80),
        (any::<u128>(), any::<u128>()),
    )
        .prop_map(
            |(signer, time, policy, salt, owner, calls, sig, (max_operation_fee, fee_budget))| {
                SessionSignature {
                    mode: owner.map_or(Mode::Use, |owner_signature| Mode::Enable {
                        owner_signature,
                    }),
                    session: Session {
                        signer: Address::from(signer),
                        validAfter: U48::from(time % (1 << 48)),
                        validUntil: U48::from(time >> 16),
                        permissionsRoot: B256::from(salt),
                        paymasterPolicy: policy,
                        paymaster: Address::from(signer),
                        maxOperationFee: max_operation_fee,
                        feeBudget: fee_budget,
                        salt: B256::from(salt),
                    },
                    calls: calls
                        .into_iter()
                        .map(|(permission, proof, window)| {
                            CallEntry::Permission(CallProof {
                                permission,
                                proof: proof.into_iter().map(B256::from).collect(),
                                rate_limit_window: window,
                            })
                        })
                        .collect(),
                    session_signature: sig,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..1200)) {
        let _ = SessionSignature::decode(&bytes);
        // and with a plausible head
        let mut framed = vec![bytes.first().copied().unwrap_or(0) % 3];
        framed.extend_from_slice(&[0u8; SESSION_LENGTH]);
        framed.extend_from_slice(&bytes);
        let _ = SessionSignature::decode(&framed);
    }

    #[test]
    fn round_trip(sig in signature()) {
        let bytes = sig.encode().unwrap();
        prop_assert_eq!(bytes.len(), sig.encoded_len());
        let decoded = SessionSignature::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &sig);
        // every strict prefix is a truncation error, never a panic
        for cut in [
            0,
            1,
            SESSION_LENGTH,
            SESSION_LENGTH + 1,
            SESSION_LENGTH + 2,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            prop_assert!(SessionSignature::decode(&bytes[..cut]).is_err());
        }
        // a flipped byte either still decodes or is a typed error
        let mut flipped = bytes.clone();
        let i = bytes.len() / 3;
        flipped[i] ^= 0x5a;
        let _ = SessionSignature::decode(&flipped);
    }
}
