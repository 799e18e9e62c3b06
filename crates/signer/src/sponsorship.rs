//! Sponsorships of the reference `SponsorPaymaster` (OpenZeppelin's `PaymasterSigner`): the EIP-712 hash its sponsor
//! signs, and the `paymasterData` that carries the signature.
//!
//! `paymasterData` = `validAfter (6 bytes) ‖ validUntil (6 bytes) ‖ signature (65 bytes)`. The sponsor signs the
//! EIP-712 `UserOperationRequest` of the operation — every field but the signature and the paymaster data, with the
//! paymaster's two gas limits — in the domain `{name: "SponsorPaymaster", version: "1", chainId, paymaster}`. The
//! EntryPoint enforces the window (AA32).

use alloy_primitives::{b256, keccak256, Address, Bytes, B256, U256};

use crate::userop::{domain_separator, paymaster_and_data, typed_data_digest, PackedUserOperation};
use crate::wire::dummy_ecdsa_signature;

/// `keccak256("UserOperationRequest(address sender,uint256 nonce,bytes initCode,bytes callData,bytes32 accountGasLimits,uint256 preVerificationGas,bytes32 gasFees,uint256 paymasterVerificationGasLimit,uint256 paymasterPostOpGasLimit,uint48 validAfter,uint48 validUntil)")`
pub const USER_OPERATION_REQUEST_TYPEHASH: B256 =
    b256!("0c330b34f0aad8cab1ae5a4241b0d75388786a99fffb1a39c5ce8dec5a570067");

/// The paymaster's EIP-712 domain name.
pub const SPONSOR_PAYMASTER_NAME: &str = "SponsorPaymaster";
/// The paymaster's EIP-712 domain version.
pub const SPONSOR_PAYMASTER_VERSION: &str = "1";
/// Length of the paymaster data: two 6-byte times and a 65-byte ECDSA signature.
pub const SPONSOR_PAYMASTER_DATA_LENGTH: usize = 12 + 65;
/// The largest time a 6-byte field holds.
pub const MAX_UINT48: u64 = (1 << 48) - 1;

/// When a sponsorship is valid, in seconds (the EntryPoint enforces it; 0 means no bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SponsorshipWindow {
    /// Not before (exclusive on EntryPoint v0.8, inclusive on v0.7).
    pub valid_after: u64,
    /// Not after (inclusive); 0 for no end.
    pub valid_until: u64,
}

/// The hash `SponsorPaymaster.sponsorshipHash(op, validAfter, validUntil)` returns on chain `chain_id` for the
/// paymaster at `paymaster`. The paymaster gas limits are read from `op.paymasterAndData` (zero when it is shorter
/// than 52 bytes, as OpenZeppelin's `ERC4337Utils` reads them); the paymaster data itself is not hashed. Times are
/// cut to 48 bits as the contract takes them.
pub fn sponsorship_hash(
    op: &PackedUserOperation,
    paymaster: Address,
    chain_id: u64,
    window: SponsorshipWindow,
) -> B256 {
    let (verification_gas, post_op_gas) = op.paymaster_gas_limits().unwrap_or((0, 0));
    let words: [[u8; 32]; 12] = [
        USER_OPERATION_REQUEST_TYPEHASH.0,
        op.sender.into_word().0,
        op.nonce.to_be_bytes(),
        keccak256(&op.initCode).0,
        keccak256(&op.callData).0,
        op.accountGasLimits.0,
        op.preVerificationGas.to_be_bytes(),
        op.gasFees.0,
        U256::from(verification_gas).to_be_bytes(),
        U256::from(post_op_gas).to_be_bytes(),
        U256::from(window.valid_after & MAX_UINT48).to_be_bytes(),
        U256::from(window.valid_until & MAX_UINT48).to_be_bytes(),
    ];
    let struct_hash = keccak256(words.concat());
    typed_data_digest(
        domain_separator(
            SPONSOR_PAYMASTER_NAME,
            SPONSOR_PAYMASTER_VERSION,
            chain_id,
            paymaster,
        ),
        struct_hash,
    )
}

/// `validAfter ‖ validUntil ‖ signature`: the `paymasterData` of a sponsorship.
pub fn sponsor_paymaster_data(window: SponsorshipWindow, signature: &[u8; 65]) -> Bytes {
    let mut data = Vec::with_capacity(SPONSOR_PAYMASTER_DATA_LENGTH);
    data.extend_from_slice(&(window.valid_after & MAX_UINT48).to_be_bytes()[2..]);
    data.extend_from_slice(&(window.valid_until & MAX_UINT48).to_be_bytes()[2..]);
    data.extend_from_slice(signature);
    data.into()
}

/// Paymaster data of the final length with a well-formed signature that is not the sponsor's: for gas estimation
/// (ERC-7677's stub data). The paymaster answers it with a failed signature, never a revert.
pub fn stub_sponsor_paymaster_data(window: SponsorshipWindow) -> Bytes {
    sponsor_paymaster_data(window, dummy_ecdsa_signature())
}

/// `paymasterAndData` for the sponsor paymaster: `paymaster ‖ gas limits ‖ paymasterData`.
pub fn sponsor_paymaster_and_data(
    paymaster: Address,
    verification_gas: u128,
    post_op_gas: u128,
    paymaster_data: &[u8],
) -> Bytes {
    paymaster_and_data(paymaster, verification_gas, post_op_gas, paymaster_data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typehash_is_the_contracts() {
        assert_eq!(
            USER_OPERATION_REQUEST_TYPEHASH,
            keccak256(
                "UserOperationRequest(address sender,uint256 nonce,bytes initCode,bytes callData,bytes32 accountGasLimits,uint256 preVerificationGas,bytes32 gasFees,uint256 paymasterVerificationGasLimit,uint256 paymasterPostOpGasLimit,uint48 validAfter,uint48 validUntil)"
            )
        );
    }

    #[test]
    fn paymaster_data_is_times_then_signature() {
        let window = SponsorshipWindow {
            valid_after: 0x0102_0304_0506,
            valid_until: 0x0a0b_0c0d_0e0f,
        };
        let data = sponsor_paymaster_data(window, &[7u8; 65]);
        assert_eq!(data.len(), SPONSOR_PAYMASTER_DATA_LENGTH);
        assert_eq!(&data[..6], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(&data[6..12], &[0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]);
        assert_eq!(&data[12..], &[7u8; 65]);
        assert_eq!(
            stub_sponsor_paymaster_data(window).len(),
            SPONSOR_PAYMASTER_DATA_LENGTH
        );
    }

    #[test]
    fn hash_depends_on_every_signed_field_but_not_the_paymaster_data() {
        let paymaster = Address::repeat_byte(0x33);
        let window = SponsorshipWindow {
            valid_after: 10,
            valid_until: 20,
        };
        let mut op = PackedUserOperation {
            paymasterAndData: sponsor_paymaster_and_data(paymaster, 60_000, 0, &[]),
            ..Default::default()
        };
        let base = sponsorship_hash(&op, paymaster, 1, window);
        op.paymasterAndData = sponsor_paymaster_and_data(paymaster, 60_000, 0, &[9u8; 77]);
        assert_eq!(sponsorship_hash(&op, paymaster, 1, window), base);
        op.signature = vec![1, 2, 3].into();
        assert_eq!(sponsorship_hash(&op, paymaster, 1, window), base);
        assert_ne!(sponsorship_hash(&op, paymaster, 2, window), base);
        assert_ne!(sponsorship_hash(&op, Address::ZERO, 1, window), base);
        let later = SponsorshipWindow {
            valid_until: 21,
            ..window
        };
        assert_ne!(sponsorship_hash(&op, paymaster, 1, later), base);
        op.paymasterAndData = sponsor_paymaster_and_data(paymaster, 60_001, 0, &[]);
        assert_ne!(sponsorship_hash(&op, paymaster, 1, window), base);
        op.paymasterAndData = sponsor_paymaster_and_data(paymaster, 60_000, 0, &[]);
        op.callData = vec![1].into();
        assert_ne!(sponsorship_hash(&op, paymaster, 1, window), base);
    }
}
