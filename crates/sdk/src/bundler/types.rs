//! The JSON shapes of ERC-4337 bundler RPC: user operations in the unpacked RPC form, gas estimates, receipts.

use alloy::hex;
use alloy::primitives::{Address, Bytes, B256, U256, U64};
use alloy::rpc::types::PackedUserOperation as RpcUserOperation;
use keyscope_signer::userop::{paymaster_and_data, PAYMASTER_DATA_OFFSET};
use keyscope_signer::PackedUserOperation;
use serde::{Deserialize, Deserializer};

use crate::client::OpOutcome;
use crate::error::{Error, Result, Revert};

/// `eth_estimateUserOperationGas`'s answer (EntryPoint v0.7 and v0.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GasEstimate {
    /// `preVerificationGas`.
    pub pre_verification_gas: U256,
    /// `verificationGasLimit`.
    pub verification_gas_limit: U256,
    /// `callGasLimit`.
    pub call_gas_limit: U256,
    /// `paymasterVerificationGasLimit`, when the operation has a paymaster.
    #[serde(default)]
    pub paymaster_verification_gas_limit: Option<U256>,
    /// `paymasterPostOpGasLimit`, when the operation has a paymaster.
    #[serde(default)]
    pub paymaster_post_op_gas_limit: Option<U256>,
}

impl GasEstimate {
    /// Sets the estimated limits on `op` (`accountGasLimits`, `preVerificationGas`, and the paymaster's limits
    /// inside `paymasterAndData` when it has a paymaster; `paymasterData` is kept as it is). Fails with
    /// [`Error::BundlerResponse`] on a limit above 2^128 − 1, leaving `op` unchanged.
    ///
    /// Apply the estimate *before* a verifying paymaster signs: such a paymaster's signature in `paymasterData`
    /// covers these very fields (its own gas limits as well as the account's), so a `paymasterData` signed
    /// before is invalid afterwards. Estimate with the paymaster's stub data, apply, then ask the paymaster for
    /// its final data (ERC-7677 `pm_getPaymasterData`), then sign the operation.
    pub fn apply(&self, op: &mut PackedUserOperation) -> Result<()> {
        let verification = gas_u128("verificationGasLimit", self.verification_gas_limit)?;
        let call = gas_u128("callGasLimit", self.call_gas_limit)?;
        let paymaster = match op.paymaster_gas_limits() {
            Some((verification, post_op)) => {
                let verification = match self.paymaster_verification_gas_limit {
                    Some(limit) => gas_u128("paymasterVerificationGasLimit", limit)?,
                    None => verification,
                };
                let post_op = match self.paymaster_post_op_gas_limit {
                    Some(limit) => gas_u128("paymasterPostOpGasLimit", limit)?,
                    None => post_op,
                };
                Some(paymaster_and_data(
                    op.paymaster(),
                    verification,
                    post_op,
                    op.paymaster_data(),
                ))
            }
            None => None,
        };
        op.set_gas_limits(verification, call);
        op.preVerificationGas = self.pre_verification_gas;
        if let Some(paymaster) = paymaster {
            op.paymasterAndData = paymaster;
        }
        Ok(())
    }
}

fn gas_u128(field: &'static str, value: U256) -> Result<u128> {
    u128::try_from(value).map_err(|_| Error::BundlerResponse {
        method: "eth_estimateUserOperationGas",
        reason: format!("{field} {value} does not fit in 128 bits"),
    })
}

/// `eth_getUserOperationReceipt`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserOperationReceipt {
    /// The userOpHash.
    pub user_op_hash: B256,
    /// The EntryPoint.
    pub entry_point: Address,
    /// The account.
    pub sender: Address,
    /// The operation's nonce.
    pub nonce: U256,
    /// The paymaster (zero or absent when none).
    #[serde(default)]
    pub paymaster: Option<Address>,
    /// `UserOperationEvent.actualGasCost`.
    pub actual_gas_cost: U256,
    /// `UserOperationEvent.actualGasUsed`.
    pub actual_gas_used: U256,
    /// `UserOperationEvent.success`: whether the account's call succeeded.
    pub success: bool,
    /// The call's revert data when it failed (`UserOperationRevertReason`), as the bundler reports it.
    #[serde(default)]
    pub reason: Option<String>,
    /// The `handleOps` transaction's receipt (the fields read from it).
    pub receipt: BundleReceipt,
}

/// The fields of the `handleOps` transaction's receipt that an [`OpOutcome`] needs. Bundlers differ in the rest
/// (some leave out `type`, `effectiveGasPrice` …), so nothing else is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleReceipt {
    /// The `handleOps` transaction.
    pub transaction_hash: B256,
    /// Gas used by the whole transaction.
    #[serde(deserialize_with = "quantity_u64")]
    pub gas_used: u64,
}

/// A `0x…` JSON-RPC quantity as a `u64`.
fn quantity_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    U64::deserialize(deserializer).map(|value| value.to())
}

impl UserOperationReceipt {
    /// The call's revert, decoded ([`Revert::Validator`] for a validator error), when the bundler reports revert
    /// data.
    pub fn revert(&self) -> Option<Revert> {
        let reason = self.reason.as_deref()?;
        let data = hex::decode(reason).ok()?;
        (!data.is_empty()).then(|| Revert::decode(&data))
    }

    /// As the [`OpOutcome`] of [`Client::send`](crate::client::Client::send).
    pub fn outcome(&self) -> OpOutcome {
        OpOutcome {
            user_op_hash: self.user_op_hash,
            tx_hash: self.receipt.transaction_hash,
            gas_used: self.receipt.gas_used,
            actual_gas_used: self.actual_gas_used,
            actual_gas_cost: self.actual_gas_cost,
            success: self.success,
            revert: if self.success { None } else { self.revert() },
        }
    }
}

/// The ERC-4337 v0.7 JSON shape of a user operation (`factory`/`factoryData`, unpacked gas fields, `paymaster`
/// fields), as bundlers take it. Fails with [`Error::InvalidUserOperation`] when `initCode` or
/// `paymasterAndData` is too short to hold an address (and its gas limits).
///
/// EIP-7702 operations are not supported: an `initCode` with the EIP-7702 marker
/// ([`PackedUserOperation::has_eip7702_init_code`]) is [`Error::InvalidUserOperation`] on `initCode`, since the
/// bundler also needs the account's signed authorization (`eip7702Auth`), which this shape does not carry.
pub fn to_rpc(op: &PackedUserOperation) -> Result<RpcUserOperation> {
    if op.has_eip7702_init_code() {
        return Err(Error::InvalidUserOperation {
            field: "initCode",
            reason:
                "EIP-7702 initCode marker: EIP-7702 user operations (eip7702Auth) are not supported"
                    .into(),
        });
    }
    let (factory, factory_data) = match op.initCode.len() {
        0 => (None, None),
        1..20 => {
            return Err(Error::InvalidUserOperation {
                field: "initCode",
                reason: format!(
                    "{} bytes, shorter than a factory address",
                    op.initCode.len()
                ),
            })
        }
        _ => (
            Some(Address::from_slice(&op.initCode[..20])),
            Some(Bytes::copy_from_slice(&op.initCode[20..])),
        ),
    };
    let (paymaster, paymaster_verification_gas_limit, paymaster_post_op_gas_limit, paymaster_data) =
        match op.paymaster_gas_limits() {
            None if op.paymasterAndData.is_empty() => (None, None, None, None),
            None => {
                return Err(Error::InvalidUserOperation {
                    field: "paymasterAndData",
                    reason: format!(
                        "{} bytes, shorter than paymaster ‖ verification gas ‖ postOp gas ({PAYMASTER_DATA_OFFSET})",
                        op.paymasterAndData.len()
                    ),
                })
            }
            Some((verification, post_op)) => (
                Some(op.paymaster()),
                Some(U256::from(verification)),
                Some(U256::from(post_op)),
                Some(Bytes::copy_from_slice(op.paymaster_data())),
            ),
        };
    let (verification_gas_limit, call_gas_limit) = op.gas_limits();
    let (max_priority_fee_per_gas, max_fee_per_gas) = op.gas_fees();
    Ok(RpcUserOperation {
        sender: op.sender,
        nonce: op.nonce,
        factory,
        factory_data,
        call_data: op.callData.clone(),
        call_gas_limit: U256::from(call_gas_limit),
        verification_gas_limit: U256::from(verification_gas_limit),
        pre_verification_gas: op.preVerificationGas,
        max_fee_per_gas: U256::from(max_fee_per_gas),
        max_priority_fee_per_gas: U256::from(max_priority_fee_per_gas),
        paymaster,
        paymaster_verification_gas_limit,
        paymaster_post_op_gas_limit,
        paymaster_data,
        signature: op.signature.clone(),
    })
}

/// The packed form of an operation in the v0.7 JSON shape (the inverse of [`to_rpc`]). Fails with
/// [`Error::InvalidUserOperation`] on a gas field above 2^128 − 1, or paymaster gas limits without a paymaster.
pub fn from_rpc(op: &RpcUserOperation) -> Result<PackedUserOperation> {
    fn field(name: &'static str, value: U256) -> Result<u128> {
        u128::try_from(value).map_err(|_| Error::InvalidUserOperation {
            field: name,
            reason: format!("{value} does not fit in 128 bits"),
        })
    }
    let mut init_code = Vec::new();
    if let Some(factory) = op.factory {
        init_code.extend_from_slice(factory.as_slice());
        init_code.extend_from_slice(op.factory_data.as_ref().map_or(&[][..], |data| &data[..]));
    } else if op
        .factory_data
        .as_ref()
        .is_some_and(|data| !data.is_empty())
    {
        return Err(Error::InvalidUserOperation {
            field: "factoryData",
            reason: "factory data without a factory".into(),
        });
    }
    let mut paymaster_and_data = Vec::new();
    match op.paymaster {
        Some(paymaster) => {
            paymaster_and_data.extend_from_slice(paymaster.as_slice());
            let verification = field(
                "paymasterVerificationGasLimit",
                op.paymaster_verification_gas_limit.unwrap_or_default(),
            )?;
            let post_op = field(
                "paymasterPostOpGasLimit",
                op.paymaster_post_op_gas_limit.unwrap_or_default(),
            )?;
            paymaster_and_data.extend_from_slice(&verification.to_be_bytes());
            paymaster_and_data.extend_from_slice(&post_op.to_be_bytes());
            paymaster_and_data
                .extend_from_slice(op.paymaster_data.as_ref().map_or(&[][..], |data| &data[..]));
        }
        None if op
            .paymaster_verification_gas_limit
            .is_some_and(|g| !g.is_zero())
            || op.paymaster_post_op_gas_limit.is_some_and(|g| !g.is_zero())
            || op.paymaster_data.as_ref().is_some_and(|d| !d.is_empty()) =>
        {
            return Err(Error::InvalidUserOperation {
                field: "paymaster",
                reason: "paymaster fields without a paymaster".into(),
            });
        }
        None => {}
    }
    let mut packed = PackedUserOperation {
        sender: op.sender,
        nonce: op.nonce,
        initCode: init_code.into(),
        callData: op.call_data.clone(),
        preVerificationGas: op.pre_verification_gas,
        paymasterAndData: paymaster_and_data.into(),
        signature: op.signature.clone(),
        ..Default::default()
    };
    packed.set_gas_limits(
        field("verificationGasLimit", op.verification_gas_limit)?,
        field("callGasLimit", op.call_gas_limit)?,
    );
    packed.set_gas_fees(
        field("maxPriorityFeePerGas", op.max_priority_fee_per_gas)?,
        field("maxFeePerGas", op.max_fee_per_gas)?,
    );
    Ok(packed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
pub(super) mod tests {
    use super::*;
    use crate::bundler::codes;

    pub(in crate::bundler) fn op() -> PackedUserOperation {
        let mut init_code = Address::repeat_byte(0xfa).to_vec();
        init_code.extend_from_slice(&[1, 2, 3]);
        let mut op = PackedUserOperation {
            sender: Address::repeat_byte(1),
            nonce: U256::from(0x1234_5678_u64) << 64,
            initCode: init_code.into(),
            callData: vec![0xca, 0x11].into(),
            preVerificationGas: U256::from(50_000),
            paymasterAndData: paymaster_and_data(Address::repeat_byte(0xaa), 70_000, 30_000, &[9]),
            signature: vec![0x5e; 65].into(),
            ..Default::default()
        };
        op.set_gas_limits(200_000, 100_000);
        op.set_gas_fees(1_000_000_000, 3_000_000_000);
        op
    }

    #[test]
    fn rpc_shape_round_trips() {
        let op = op();
        let rpc = to_rpc(&op).unwrap();
        assert_eq!(rpc.factory, Some(Address::repeat_byte(0xfa)));
        assert_eq!(rpc.factory_data, Some(Bytes::from(vec![1u8, 2, 3])));
        assert_eq!(rpc.verification_gas_limit, U256::from(200_000));
        assert_eq!(rpc.call_gas_limit, U256::from(100_000));
        assert_eq!(rpc.max_priority_fee_per_gas, U256::from(1_000_000_000u64));
        assert_eq!(rpc.max_fee_per_gas, U256::from(3_000_000_000u64));
        assert_eq!(rpc.paymaster, Some(Address::repeat_byte(0xaa)));
        assert_eq!(
            rpc.paymaster_verification_gas_limit,
            Some(U256::from(70_000))
        );
        assert_eq!(rpc.paymaster_post_op_gas_limit, Some(U256::from(30_000)));
        assert_eq!(rpc.paymaster_data, Some(Bytes::from(vec![9u8])));
        assert_eq!(from_rpc(&rpc).unwrap(), op);

        let json = serde_json::to_value(&rpc).unwrap();
        assert_eq!(json["callGasLimit"], "0x186a0");
        assert_eq!(
            json["factory"],
            "0xfafafafafafafafafafafafafafafafafafafafa"
        );

        // No factory, no paymaster: the fields are left out.
        let bare = PackedUserOperation {
            initCode: Bytes::new(),
            paymasterAndData: Bytes::new(),
            ..op
        };
        let json = serde_json::to_value(to_rpc(&bare).unwrap()).unwrap();
        assert!(json.get("factory").is_none() && json.get("paymaster").is_none());
        assert_eq!(from_rpc(&to_rpc(&bare).unwrap()).unwrap(), bare);
    }

    #[test]
    fn rpc_shape_rejects_malformed_fields() {
        let short = PackedUserOperation {
            initCode: vec![1; 19].into(),
            ..op()
        };
        assert!(matches!(
            to_rpc(&short),
            Err(Error::InvalidUserOperation {
                field: "initCode",
                ..
            })
        ));
        let short = PackedUserOperation {
            paymasterAndData: vec![1; 40].into(),
            ..op()
        };
        assert!(matches!(
            to_rpc(&short),
            Err(Error::InvalidUserOperation {
                field: "paymasterAndData",
                ..
            })
        ));
        let mut rpc = to_rpc(&op()).unwrap();
        rpc.call_gas_limit = U256::from(1) << 128;
        assert!(matches!(
            from_rpc(&rpc),
            Err(Error::InvalidUserOperation {
                field: "callGasLimit",
                ..
            })
        ));
        let mut rpc = to_rpc(&op()).unwrap();
        rpc.paymaster = None;
        assert!(matches!(
            from_rpc(&rpc),
            Err(Error::InvalidUserOperation {
                field: "paymaster",
                ..
            })
        ));
    }

    #[test]
    fn estimate_sets_limits() {
        let estimate: GasEstimate = serde_json::from_str(
            r#"{"preVerificationGas":"0xc350","verificationGasLimit":"0x30d40","callGasLimit":"0x186a0",
                "paymasterVerificationGasLimit":"0x1","paymasterPostOpGasLimit":"0x2"}"#,
        )
        .unwrap();
        let mut op = op();
        op.set_gas_limits(1, 1);
        estimate.apply(&mut op).unwrap();
        let rpc = to_rpc(&op).unwrap();
        assert_eq!(rpc.verification_gas_limit, U256::from(200_000));
        assert_eq!(rpc.call_gas_limit, U256::from(100_000));
        assert_eq!(rpc.pre_verification_gas, U256::from(50_000));
        assert_eq!(rpc.paymaster_verification_gas_limit, Some(U256::from(1)));
        assert_eq!(rpc.paymaster_post_op_gas_limit, Some(U256::from(2)));
        assert_eq!(op.paymaster_data(), &[9]);
        let huge = GasEstimate {
            call_gas_limit: U256::MAX,
            ..estimate
        };
        let before = op.clone();
        assert!(matches!(
            huge.apply(&mut op),
            Err(Error::BundlerResponse { .. })
        ));
        let huge = GasEstimate {
            paymaster_post_op_gas_limit: Some(U256::MAX),
            ..estimate
        };
        assert!(matches!(
            huge.apply(&mut op),
            Err(Error::BundlerResponse { .. })
        ));
        assert_eq!(op, before, "a failed apply changes nothing");

        // Without a paymaster the paymaster limits of the estimate are ignored.
        let mut bare = PackedUserOperation {
            paymasterAndData: Bytes::new(),
            ..op
        };
        estimate.apply(&mut bare).unwrap();
        assert!(bare.paymasterAndData.is_empty());
    }

    #[test]
    fn eip7702_init_code_is_unsupported() {
        for init_code in [vec![0x77, 0x02], {
            let mut marker = vec![0x77, 0x02];
            marker.resize(20, 0);
            marker.extend_from_slice(&[0xde, 0xad]);
            marker
        }] {
            let op = PackedUserOperation {
                initCode: init_code.into(),
                ..op()
            };
            assert!(op.has_eip7702_init_code());
            match to_rpc(&op) {
                Err(Error::InvalidUserOperation {
                    field: "initCode",
                    reason,
                }) => assert!(reason.contains("EIP-7702"), "{reason}"),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            codes::describe(codes::EXECUTION_REVERTED),
            Some("reverted in execution")
        );
    }
}
