//! Calldata the client builds: nonce keys, `execute` encodings, `handleOps`, and the bindings' struct forms.

use alloy::primitives::{aliases::U192, Address, Bytes, B256, U256};
use alloy::sol_types::{SolCall, SolValue};
use keyscope_bindings::entry_point_v07::EntryPoint as EntryPointContract;
use keyscope_bindings::KeyscopeAccount;
use keyscope_permissions::Session;
use keyscope_signer::PackedUserOperation;

use crate::error::{Error, Result};

alloy::sol! {
    /// ERC-7579 `Execution` (OpenZeppelin `ERC7579Utils`), for batch calls.
    struct Execution {
        address target;
        uint256 value;
        bytes callData;
    }
}

/// `validator (20 bytes) ‖ lane (4 bytes)`: the nonce key by which a `KeyscopeAccount` picks the validator of a
/// user operation. Operations on different lanes have independent nonce sequences.
pub fn nonce_key(validator: Address, lane: u32) -> U192 {
    let mut bytes = [0u8; 24];
    bytes[..20].copy_from_slice(validator.as_slice());
    bytes[20..].copy_from_slice(&lane.to_be_bytes());
    U192::from_be_bytes(bytes)
}

/// The nonce lane of a session: the first 4 bytes of its id, so that sessions of one account don't queue behind
/// each other (and behind the owner, who uses lane 0 of the owner validator's key).
pub fn session_lane(session_id: B256) -> u32 {
    u32::from_be_bytes([session_id[0], session_id[1], session_id[2], session_id[3]])
}

/// `account.execute(mode, executionCalldata)` for one call (`CALLTYPE_SINGLE`, `EXECTYPE_DEFAULT`).
pub fn execute_single(target: Address, value: U256, data: &[u8]) -> Bytes {
    let mut execution = Vec::with_capacity(52 + data.len());
    execution.extend_from_slice(target.as_slice());
    execution.extend_from_slice(&value.to_be_bytes::<32>());
    execution.extend_from_slice(data);
    KeyscopeAccount::executeCall {
        mode: B256::ZERO,
        executionCalldata: execution.into(),
    }
    .abi_encode()
    .into()
}

/// `account.execute(mode, executionCalldata)` for a batch (`CALLTYPE_BATCH`, `EXECTYPE_DEFAULT`).
pub fn execute_batch(calls: &[(Address, U256, Bytes)]) -> Bytes {
    let executions: Vec<Execution> = calls
        .iter()
        .map(|(target, value, data)| Execution {
            target: *target,
            value: *value,
            callData: data.clone(),
        })
        .collect();
    let mut mode = B256::ZERO;
    mode.0[0] = 0x01;
    KeyscopeAccount::executeCall {
        mode,
        executionCalldata: executions.abi_encode().into(),
    }
    .abi_encode()
    .into()
}

/// Converts the permissions crate's `Session` to the bindings' (same ABI).
pub(super) fn binding_session(
    session: &Session,
) -> Result<keyscope_bindings::session_key_validator::SessionTypes::Session> {
    keyscope_bindings::session_key_validator::SessionTypes::Session::abi_decode(
        &session.abi_encode(),
    )
    .map_err(|e| Error::Contract(Box::new(e.into())))
}

pub(super) fn binding_op(op: &PackedUserOperation) -> EntryPointContract::PackedUserOperation {
    EntryPointContract::PackedUserOperation {
        sender: op.sender,
        nonce: op.nonce,
        initCode: op.initCode.clone(),
        callData: op.callData.clone(),
        accountGasLimits: op.accountGasLimits,
        preVerificationGas: op.preVerificationGas,
        gasFees: op.gasFees,
        paymasterAndData: op.paymasterAndData.clone(),
        signature: op.signature.clone(),
    }
}

/// The calldata of `EntryPoint.handleOps(ops, beneficiary)` (the same ABI on v0.7 and v0.8): what an EOA sends to
/// the EntryPoint to bundle `ops` itself.
pub fn handle_ops_calldata(ops: &[PackedUserOperation], beneficiary: Address) -> Bytes {
    EntryPointContract::handleOpsCall {
        ops: ops.iter().map(binding_op).collect(),
        beneficiary,
    }
    .abi_encode()
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::address;

    #[test]
    fn nonce_key_is_validator_then_lane() {
        let validator = address!("1111111111111111111111111111111111111111");
        let key = nonce_key(validator, 0xdead_beef);
        let bytes = key.to_be_bytes::<24>();
        assert_eq!(&bytes[..20], validator.as_slice());
        assert_eq!(&bytes[20..], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(session_lane(B256::repeat_byte(0xab)), 0xabab_abab);
    }

    #[test]
    fn execute_encodings() {
        let single = execute_single(Address::repeat_byte(1), U256::from(5), &[0xaa]);
        let decoded = KeyscopeAccount::executeCall::abi_decode(&single);
        assert!(
            matches!(decoded, Ok(c) if c.mode == B256::ZERO && c.executionCalldata.len() == 53)
        );
        let batch = execute_batch(&[(Address::repeat_byte(1), U256::ZERO, Bytes::new())]);
        let decoded = KeyscopeAccount::executeCall::abi_decode(&batch);
        assert!(matches!(decoded, Ok(c) if c.mode.0[0] == 1));
    }
}
