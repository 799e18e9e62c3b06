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

/// Use, enable or multichain enable mode.
fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Use),
        prop::collection::vec(any::<u8>(), 0..100)
            .prop_map(|owner_signature| Mode::Enable { owner_signature }),
        (
            prop::collection::vec(any::<[u8; 32]>(), 0..12),
            prop::collection::vec(any::<u8>(), 0..100),
        )
            .prop_map(|(proof, owner_signature)| Mode::EnableMultichain {
                chain_proof: proof.into_iter().map(B256::from).collect(),
                owner_signature,
            }),
    ]
}

fn signature() -> impl Strategy<Value = SessionSignature> {
    (
        any::<[u8; 20]>(),
        any::<u64>(),
        0u8..4,
        any::<[u8; 32]>(),
        mode(),
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
            |(signer, time, policy, salt, mode, calls, sig, (max_operation_fee, fee_budget))| {
                SessionSignature {
                    mode,
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
        let mut framed = vec![bytes.first().copied().unwrap_or(0) % 4];
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
        // a strict prefix that cuts before the session signature is a truncation error; one that cuts into the
        // session signature (the rest) decodes with a shorter one. Never a panic.
        let signature_start = bytes.len() - sig.session_signature.len();
        for cut in [
            0,
            1,
            SESSION_LENGTH,
            SESSION_LENGTH + 1,
            SESSION_LENGTH + 2,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            let decoded = SessionSignature::decode(&bytes[..cut]);
            if cut < signature_start {
                prop_assert!(decoded.is_err());
            } else {
                prop_assert_eq!(
                    decoded.map(|d| d.session_signature),
                    Ok(bytes[signature_start..cut].to_vec())
                );
            }
        }
        // a flipped byte either still decodes or is a typed error
        let mut flipped = bytes.clone();
        let i = bytes.len() / 3;
        flipped[i] ^= 0x5a;
        let _ = SessionSignature::decode(&flipped);
        // the dummy keeps the mode (and a multichain proof), and round-trips
        let dummy = sig.to_dummy();
        if let (
            Mode::EnableMultichain { chain_proof: a, .. },
            Mode::EnableMultichain { chain_proof: b, .. },
        ) = (&dummy.mode, &sig.mode)
        {
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(core::mem::discriminant(&dummy.mode), core::mem::discriminant(&sig.mode));
        prop_assert_eq!(SessionSignature::decode(&dummy.encode().unwrap()).unwrap(), dummy);
    }

    /// Mode-2 signatures with mutated bytes, a mutated chain-proof length, or cut anywhere: a typed error or a
    /// decoding, never a panic; a decoding re-encodes to the same bytes.
    #[test]
    fn multichain_mutations_never_panic(
        sig in signature(),
        proof in prop::collection::vec(any::<[u8; 32]>(), 0..12),
        owner in prop::collection::vec(any::<u8>(), 0..100),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        proof_length in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let sig = SessionSignature {
            mode: Mode::EnableMultichain {
                chain_proof: proof.into_iter().map(B256::from).collect(),
                owner_signature: owner,
            },
            ..sig
        };
        let bytes = sig.encode().unwrap();
        prop_assert_eq!(bytes[0], 2);
        prop_assert_eq!(&SessionSignature::decode(&bytes).unwrap(), &sig);
        let check = |data: &[u8]| -> Result<(), TestCaseError> {
            // (the decoder, as the validator, leaves the call count to `execute`; the encoder refuses 0)
            if let Ok(reencoded) = SessionSignature::decode(data).and_then(|d| d.encode()) {
                prop_assert_eq!(reencoded, data);
            }
            Ok(())
        };
        let mut mutated = bytes.clone();
        for (index, value) in &edits {
            mutated[index.index(bytes.len())] = *value;
        }
        check(&mutated)?;
        let mut relengthed = bytes.clone();
        relengthed[1 + SESSION_LENGTH] = proof_length;
        check(&relengthed)?;
        let cut = cut.index(bytes.len());
        if cut < bytes.len() - sig.session_signature.len() {
            prop_assert!(SessionSignature::decode(&bytes[..cut]).is_err());
        }
        check(&mutated[..cut])?;
    }
}
