//! Properties of the entry points over arbitrary input: never a panic, always an explainable verdict.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alloy::primitives::{B256, U256};
use keyscope_permissions::DEFAULT_FEE_BUDGET;
use keyscope_signer::PackedUserOperation;
use proptest::prelude::*;

use super::decode::low_bits;
use super::fixtures::*;
use super::{evaluate, state_keys, OperationCost};
use crate::client::{nonce_key, SessionStatus};
use crate::stack::Version;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random bytes for callData and signature: never a panic, always an explainable verdict.
    #[test]
    fn random_bytes_never_panic(
        call_data in proptest::collection::vec(any::<u8>(), 0..400),
        signature in proptest::collection::vec(any::<u8>(), 0..700),
        paymaster in proptest::collection::vec(any::<u8>(), 0..60),
        mode in 0u8..3,
        state in arbitrary_state(),
        now in any::<u64>(),
        gas in (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>()),
    ) {
        let mut signature = signature;
        if let Some(first) = signature.first_mut() {
            *first = mode;
        }
        let op = PackedUserOperation {
            sender: ACCOUNT,
            nonce: U256::from(nonce_key(VALIDATOR, 1)) << 64,
            callData: call_data.into(),
            paymasterAndData: paymaster.into(),
            signature: signature.into(),
            accountGasLimits: B256::from(gas.0),
            preVerificationGas: U256::from_be_bytes(gas.1),
            gasFees: B256::from(gas.2),
            ..Default::default()
        };
        let cost = OperationCost::of(&op);
        prop_assert!(cost.gas.is_some() || cost.fee == U256::MAX);
        // the SDK's fee estimation counts the same cost
        prop_assert_eq!(cost.fee, crate::fees::max_operation_cost(&op));
        prop_assert!(!cost.to_string().is_empty());
        for version in [Version::V07, Version::V08] {
            let verdict = evaluate(&input(&op, B256::ZERO, &state, now, version));
            prop_assert!(!verdict.to_string().is_empty());
        }
        let _ = state_keys(&op, VALIDATOR);
    }

    /// A valid operation with bytes of its callData or signature overwritten: never a panic, and an
    /// untouched operation is accepted.
    #[test]
    fn mutated_operations_never_panic(
        amounts in proptest::collection::vec(0u64..200, 1..4),
        edits in proptest::collection::vec((any::<bool>(), any::<usize>(), any::<u8>()), 0..6),
        state in arbitrary_state(),
    ) {
        let session = compiled();
        let calls: Vec<_> = amounts.iter().map(|a| (TOKEN, U256::ZERO, transfer(*a))).collect();
        let (mut op, hash) = signed_op(&session, &calls, &vec![0; calls.len()], &key());
        let mut call_data = op.callData.to_vec();
        let mut signature = op.signature.to_vec();
        for (in_signature, position, byte) in &edits {
            let target = if *in_signature { &mut signature } else { &mut call_data };
            let len = target.len();
            target[position % len] = *byte;
        }
        op.callData = call_data.into();
        op.signature = signature.into();
        let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V08));
        prop_assert!(!verdict.to_string().is_empty());
        if edits.is_empty() && state.installed && state.status == SessionStatus::Active
            && amounts.iter().all(|a| *a <= 100)
            && state.spent_of(&TOKEN).saturating_add(U256::from(amounts.iter().sum::<u64>())) <= U256::from(250)
            && state.usage_of(&session.permissions[0].leaf()).uses + (amounts.len() as u64) <= 3
            && low_bits(state.fees_charged, 128) <= U256::from(DEFAULT_FEE_BUDGET)
            && !state.is_revoked(&session.permissions[0].leaf())
        {
            prop_assert!(verdict.is_accepted(), "{}", verdict);
        }
    }
}
