//! Calldata the client builds: `handleOps`, and the bindings' struct forms.

use alloy::primitives::{Address, Bytes};
use alloy::sol_types::{SolCall, SolValue};
use keyscope_bindings::entry_point_v07::EntryPoint as EntryPointContract;
use keyscope_permissions::Session;
use keyscope_signer::PackedUserOperation;

use crate::error::{Error, Result};

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
