//! ERC-4337 v0.7/v0.8 `PackedUserOperation` and its `userOpHash`.

#![allow(missing_docs)] // the sol! expansion

use alloy_primitives::{address, b256, keccak256, Address, Bytes, B256, U256};

use crate::error::{Error, Result};

alloy_sol_types::sol! {
    /// The user operation as the EntryPoint v0.7 and v0.8 take it (`PackedUserOperation.sol`).
    #[derive(Debug, PartialEq, Eq, Default)]
    struct PackedUserOperation {
        /// The account.
        address sender;
        /// Anti-replay nonce (192-bit key ‖ 64-bit sequence).
        uint256 nonce;
        /// factory ‖ factoryData, or empty.
        bytes initCode;
        /// The account call.
        bytes callData;
        /// verificationGasLimit (16 bytes) ‖ callGasLimit (16 bytes).
        bytes32 accountGasLimits;
        /// Gas paid for pre-verification overhead.
        uint256 preVerificationGas;
        /// maxPriorityFeePerGas (16 bytes) ‖ maxFeePerGas (16 bytes).
        bytes32 gasFees;
        /// paymaster ‖ paymasterVerificationGasLimit (16) ‖ paymasterPostOpGasLimit (16) ‖ paymasterData, or empty.
        bytes paymasterAndData;
        /// The account's signature (not part of the hash).
        bytes signature;
    }
}

/// The canonical EntryPoint v0.7 deployment.
pub const ENTRY_POINT_V07: Address = address!("0000000071727De22E5E9d8BAf0edAc6f37da032");
/// The canonical EntryPoint v0.8 deployment.
pub const ENTRY_POINT_V08: Address = address!("4337084D9E255Ff0702461CF8895CE9E3b5Ff108");

/// `keccak256("PackedUserOperation(address sender,uint256 nonce,bytes initCode,bytes callData,bytes32 accountGasLimits,uint256 preVerificationGas,bytes32 gasFees,bytes paymasterAndData)")`
pub const PACKED_USEROP_TYPEHASH: B256 =
    b256!("29a0bca4af4be3421398da00295e58e6d7de38cb492214754cb6a47507dd6f8e");
/// `keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")`
pub const EIP712_DOMAIN_TYPEHASH: B256 =
    b256!("8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f");

/// Packs two 128-bit values high ‖ low (`accountGasLimits`, `gasFees`).
pub fn pack_u128(high: u128, low: u128) -> B256 {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&high.to_be_bytes());
    out[16..].copy_from_slice(&low.to_be_bytes());
    B256::from(out)
}

/// Splits a word packed by [`pack_u128`] into (high, low).
pub fn unpack_u128(word: B256) -> (u128, u128) {
    let mut high = [0u8; 16];
    let mut low = [0u8; 16];
    high.copy_from_slice(&word[..16]);
    low.copy_from_slice(&word[16..]);
    (u128::from_be_bytes(high), u128::from_be_bytes(low))
}

/// Where `paymasterData` starts in `paymasterAndData`: after paymaster (20 bytes) ‖ paymasterVerificationGasLimit
/// (16) ‖ paymasterPostOpGasLimit (16).
pub const PAYMASTER_DATA_OFFSET: usize = 52;

/// `paymaster ‖ verificationGasLimit (16 bytes) ‖ postOpGasLimit (16 bytes) ‖ data`.
pub fn paymaster_and_data(
    paymaster: Address,
    verification_gas: u128,
    post_op_gas: u128,
    data: &[u8],
) -> Bytes {
    let mut out = Vec::with_capacity(PAYMASTER_DATA_OFFSET + data.len());
    out.extend_from_slice(paymaster.as_slice());
    out.extend_from_slice(&verification_gas.to_be_bytes());
    out.extend_from_slice(&post_op_gas.to_be_bytes());
    out.extend_from_slice(data);
    out.into()
}

impl PackedUserOperation {
    /// `accountGasLimits` from verificationGasLimit and callGasLimit.
    pub fn set_gas_limits(&mut self, verification_gas: u128, call_gas: u128) {
        self.accountGasLimits = pack_u128(verification_gas, call_gas);
    }

    /// `gasFees` from maxPriorityFeePerGas and maxFeePerGas.
    pub fn set_gas_fees(&mut self, max_priority_fee: u128, max_fee: u128) {
        self.gasFees = pack_u128(max_priority_fee, max_fee);
    }

    /// (verificationGasLimit, callGasLimit) from `accountGasLimits`.
    pub fn gas_limits(&self) -> (u128, u128) {
        unpack_u128(self.accountGasLimits)
    }

    /// (maxPriorityFeePerGas, maxFeePerGas) from `gasFees`.
    pub fn gas_fees(&self) -> (u128, u128) {
        unpack_u128(self.gasFees)
    }

    /// (paymasterVerificationGasLimit, paymasterPostOpGasLimit) from `paymasterAndData`; `None` when it is
    /// shorter than [`PAYMASTER_DATA_OFFSET`] (no paymaster, or a malformed field).
    pub fn paymaster_gas_limits(&self) -> Option<(u128, u128)> {
        let fields = self.paymasterAndData.get(20..PAYMASTER_DATA_OFFSET)?;
        let mut word = [0u8; 32];
        word.copy_from_slice(fields);
        Some(unpack_u128(B256::from(word)))
    }

    /// `paymasterData`: the bytes of `paymasterAndData` after [`PAYMASTER_DATA_OFFSET`] (empty when it is not
    /// longer).
    pub fn paymaster_data(&self) -> &[u8] {
        self.paymasterAndData
            .get(PAYMASTER_DATA_OFFSET..)
            .unwrap_or_default()
    }

    /// The paymaster: the first 20 bytes of `paymasterAndData` (zero when shorter).
    pub fn paymaster(&self) -> Address {
        if self.paymasterAndData.len() >= 20 {
            Address::from_slice(&self.paymasterAndData[..20])
        } else {
            Address::ZERO
        }
    }

    /// Whether `initCode` is the EIP-7702 marker (`0x7702` padded with zeros to 20 bytes, optionally followed by
    /// initialisation data), as `Eip7702Support._isEip7702InitCode`.
    pub fn has_eip7702_init_code(&self) -> bool {
        let init = &self.initCode;
        init.len() >= 2
            && init[0] == 0x77
            && init[1] == 0x02
            && init[2..init.len().min(20)].iter().all(|b| *b == 0)
    }

    /// The words every version hashes, with `init_code_hash` in place of `keccak256(initCode)`.
    fn fields(&self, init_code_hash: B256) -> [[u8; 32]; 8] {
        [
            self.sender.into_word().0,
            self.nonce.to_be_bytes(),
            init_code_hash.0,
            keccak256(&self.callData).0,
            self.accountGasLimits.0,
            self.preVerificationGas.to_be_bytes(),
            self.gasFees.0,
            keccak256(&self.paymasterAndData).0,
        ]
    }
}

/// An EntryPoint: its version and address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryPoint {
    /// v0.7 at this address.
    V07(Address),
    /// v0.8 at this address.
    V08(Address),
}

impl EntryPoint {
    /// The canonical v0.7 deployment.
    pub const CANONICAL_V07: Self = Self::V07(ENTRY_POINT_V07);
    /// The canonical v0.8 deployment.
    pub const CANONICAL_V08: Self = Self::V08(ENTRY_POINT_V08);

    /// Its address.
    pub fn address(self) -> Address {
        match self {
            Self::V07(a) | Self::V08(a) => a,
        }
    }

    /// `EntryPoint.getUserOpHash(op)` on chain `chain_id`. For v0.8 user operations with an EIP-7702 initCode use
    /// [`user_op_hash_v08`] with the account's delegate.
    pub fn user_op_hash(self, op: &PackedUserOperation, chain_id: u64) -> Result<B256> {
        match self {
            Self::V07(a) => Ok(user_op_hash_v07(op, a, chain_id)),
            Self::V08(a) => user_op_hash_v08(op, a, chain_id, None),
        }
    }
}

/// EntryPoint v0.7 `getUserOpHash`: `keccak256(abi.encode(keccak256(pack(op)), entryPoint, chainId))`.
pub fn user_op_hash_v07(op: &PackedUserOperation, entry_point: Address, chain_id: u64) -> B256 {
    let mut packed = [0u8; 32 * 8];
    for (i, word) in op.fields(keccak256(&op.initCode)).iter().enumerate() {
        packed[32 * i..32 * (i + 1)].copy_from_slice(word);
    }
    let mut outer = [0u8; 96];
    outer[..32].copy_from_slice(keccak256(packed).as_slice());
    outer[44..64].copy_from_slice(entry_point.as_slice());
    outer[64..].copy_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
    keccak256(outer)
}

/// The EIP-712 domain separator `{name, version, chainId, verifyingContract}`.
pub fn domain_separator(
    name: &str,
    version: &str,
    chain_id: u64,
    verifying_contract: Address,
) -> B256 {
    let mut buffer = [0u8; 32 * 5];
    buffer[..32].copy_from_slice(EIP712_DOMAIN_TYPEHASH.as_slice());
    buffer[32..64].copy_from_slice(keccak256(name).as_slice());
    buffer[64..96].copy_from_slice(keccak256(version).as_slice());
    buffer[96..128].copy_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
    buffer[140..160].copy_from_slice(verifying_contract.as_slice());
    keccak256(buffer)
}

/// `keccak256(0x1901 ‖ domainSeparator ‖ structHash)`.
pub fn typed_data_digest(domain_separator: B256, struct_hash: B256) -> B256 {
    let mut buffer = [0u8; 66];
    buffer[0] = 0x19;
    buffer[1] = 0x01;
    buffer[2..34].copy_from_slice(domain_separator.as_slice());
    buffer[34..].copy_from_slice(struct_hash.as_slice());
    keccak256(buffer)
}

/// EntryPoint v0.8 `getUserOpHash`: the EIP-712 digest of the `PackedUserOperation` struct in the domain
/// `{name: "ERC4337", version: "1", chainId, verifyingContract: entryPoint}`.
///
/// With an EIP-7702 initCode (see [`PackedUserOperation::has_eip7702_init_code`]) the EntryPoint hashes the
/// account's current delegate (read from its code) instead of the initCode: pass it as `eip7702_delegate`.
/// Without it such an operation is [`Error::Eip7702DelegateNeeded`].
pub fn user_op_hash_v08(
    op: &PackedUserOperation,
    entry_point: Address,
    chain_id: u64,
    eip7702_delegate: Option<Address>,
) -> Result<B256> {
    let init_code_hash = if op.has_eip7702_init_code() {
        let delegate = eip7702_delegate.ok_or(Error::Eip7702DelegateNeeded)?;
        let mut preimage = delegate.to_vec();
        if op.initCode.len() > 20 {
            preimage.extend_from_slice(&op.initCode[20..]);
        }
        keccak256(preimage)
    } else {
        keccak256(&op.initCode)
    };
    let mut encoded = [0u8; 32 * 9];
    encoded[..32].copy_from_slice(PACKED_USEROP_TYPEHASH.as_slice());
    for (i, word) in op.fields(init_code_hash).iter().enumerate() {
        encoded[32 * (i + 1)..32 * (i + 2)].copy_from_slice(word);
    }
    let struct_hash = keccak256(encoded);
    Ok(typed_data_digest(
        domain_separator("ERC4337", "1", chain_id, entry_point),
        struct_hash,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_fields_unpack() {
        assert_eq!(unpack_u128(pack_u128(u128::MAX, 1)), (u128::MAX, 1));
        assert_eq!(unpack_u128(B256::ZERO), (0, 0));
        let mut op = PackedUserOperation::default();
        op.set_gas_limits(200_000, 100_000);
        op.set_gas_fees(1_000_000_000, 3_000_000_000);
        assert_eq!(op.gas_limits(), (200_000, 100_000));
        assert_eq!(op.gas_fees(), (1_000_000_000, 3_000_000_000));
        // High half first: the verification limit is in the first 16 bytes.
        assert_eq!(op.accountGasLimits[15], 0x40);

        assert_eq!(op.paymaster_gas_limits(), None);
        assert!(op.paymaster_data().is_empty());
        op.paymasterAndData =
            paymaster_and_data(Address::repeat_byte(0xaa), 70_000, 30_000, &[9, 8]);
        assert_eq!(op.paymasterAndData.len(), PAYMASTER_DATA_OFFSET + 2);
        assert_eq!(op.paymaster(), Address::repeat_byte(0xaa));
        assert_eq!(op.paymaster_gas_limits(), Some((70_000, 30_000)));
        assert_eq!(op.paymaster_data(), &[9, 8]);
        // Too short to hold both limits.
        op.paymasterAndData =
            Bytes::copy_from_slice(&op.paymasterAndData[..PAYMASTER_DATA_OFFSET - 1]);
        assert_eq!(op.paymaster_gas_limits(), None);
        assert!(op.paymaster_data().is_empty());
    }
}
