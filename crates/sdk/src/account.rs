//! The account seam: what differs between ERC-7579 account implementations, behind [`AccountKind`].
//!
//! The `SessionKeyValidator` works on any ERC-7579 account, but accounts differ in how a user operation picks its
//! validator (the nonce key layout), how the owner's signatures are wrapped, and how modules are installed. The
//! [`Client`](crate::Client) asks its [`AccountKind`] for each of these; [`KeyscopeAccountKind`] is the reference
//! `KeyscopeAccount` (OpenZeppelin `AccountERC7579`) and the default. An integrator with another account (Safe7579,
//! Kernel, Nexus) implements the trait and passes it to [`Client::with_account_kind`](crate::Client::with_account_kind).
//!
//! Owners sign through alloy's [`Signer`](alloy::signers::Signer) trait ([`OwnerSigner`]): a local key, a
//! keystore, a hardware wallet or a remote signer; a [`SessionKey`](keyscope_signer::SessionKey) is one too.

use alloy::primitives::{aliases::U192, Address, Bytes, Signature, B256, U256};
use alloy::sol_types::{SolCall, SolValue};
use keyscope_bindings::KeyscopeAccount;
use keyscope_signer::dummy_ecdsa_signature;

/// An account owner: any alloy signer. It signs raw 32-byte hashes (`Signer::sign_hash`).
pub type OwnerSigner = dyn alloy::signers::Signer + Send + Sync;

/// ERC-7579 module type of validators.
pub const MODULE_TYPE_VALIDATOR: u64 = 1;

alloy::sol! {
    /// ERC-7579 `Execution` (OpenZeppelin `ERC7579Utils`), for batch calls.
    #[derive(Debug, PartialEq, Eq)]
    struct Execution {
        address target;
        uint256 value;
        bytes callData;
    }
}

/// What is specific to one ERC-7579 account implementation. The provided methods are ERC-7579's own encodings,
/// which most accounts share; the nonce key layout and the owner's signatures are the account's.
pub trait AccountKind: core::fmt::Debug + Send + Sync {
    /// The nonce key of a user operation validated by `validator` on nonce lane `lane` (operations on different
    /// lanes have independent nonce sequences).
    fn nonce_key(&self, validator: Address, lane: u32) -> U192;

    /// The nonce key of the owner's own user operations.
    fn owner_nonce_key(&self) -> U192;

    /// `userOp.signature` of an owner operation, given the owner's signature of the raw userOpHash.
    fn owner_op_signature(&self, signature: &Signature) -> Bytes;

    /// The hash the owner signs so that the account's ERC-1271 `isValidSignature(digest, …)` accepts it (the
    /// digest itself, or the account's own wrapping of it).
    fn erc1271_hash(&self, account: Address, chain_id: u64, digest: B256) -> B256;

    /// The bytes `isValidSignature(digest, …)` takes, given the owner's signature of
    /// [`Self::erc1271_hash`].
    fn erc1271_signature(&self, signature: &Signature) -> Bytes;

    /// A stand-in for [`Self::owner_op_signature`] of the same length, for gas estimation: well formed, but no
    /// one's signature, so validation fails without reverting.
    fn dummy_owner_op_signature(&self) -> Bytes {
        self.owner_op_signature(&dummy_signature())
    }

    /// `userOp.callData` running `calls` from the account: ERC-7579 `execute(mode, executionCalldata)`, single
    /// call type for one call and batch for more (`EXECTYPE_DEFAULT`: any failing call reverts them all).
    fn execute(&self, calls: &[Execution]) -> Bytes {
        match calls {
            [call] => execute_single(call.target, call.value, &call.callData),
            calls => execute_executions(calls),
        }
    }

    /// The account's call installing `validator` (ERC-7579 `installModule(1, validator, initData)`).
    fn install_validator(&self, validator: Address, init_data: Bytes) -> Bytes {
        KeyscopeAccount::installModuleCall {
            moduleTypeId: U256::from(MODULE_TYPE_VALIDATOR),
            module: validator,
            initData: init_data,
        }
        .abi_encode()
        .into()
    }

    /// The account's call uninstalling `validator` (ERC-7579 `uninstallModule(1, validator, deInitData)`).
    fn uninstall_validator(&self, validator: Address, deinit_data: Bytes) -> Bytes {
        KeyscopeAccount::uninstallModuleCall {
            moduleTypeId: U256::from(MODULE_TYPE_VALIDATOR),
            module: validator,
            deInitData: deinit_data,
        }
        .abi_encode()
        .into()
    }
}

/// The reference `KeyscopeAccount` (OpenZeppelin `AccountERC7579`) with its owner in an `OwnerECDSAValidator`:
/// nonce key `validator (20 bytes) ‖ lane (4 bytes)`, the owner's operations on lane 0 of the owner validator,
/// raw 65-byte ECDSA signatures of the userOpHash, and ERC-1271 signatures routed by a 20-byte validator prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyscopeAccountKind {
    /// The `OwnerECDSAValidator` holding the account's owner.
    pub owner_validator: Address,
}

impl AccountKind for KeyscopeAccountKind {
    fn nonce_key(&self, validator: Address, lane: u32) -> U192 {
        nonce_key(validator, lane)
    }

    fn owner_nonce_key(&self) -> U192 {
        nonce_key(self.owner_validator, 0)
    }

    fn owner_op_signature(&self, signature: &Signature) -> Bytes {
        signature.as_bytes().to_vec().into()
    }

    fn erc1271_hash(&self, _account: Address, _chain_id: u64, digest: B256) -> B256 {
        digest
    }

    fn erc1271_signature(&self, signature: &Signature) -> Bytes {
        // The account routes ERC-1271 to the validator module named by the signature's first 20 bytes.
        [
            self.owner_validator.as_slice(),
            signature.as_bytes().as_slice(),
        ]
        .concat()
        .into()
    }
}

/// The well-formed ECDSA signature of no one behind every dummy signature ([`dummy_ecdsa_signature`]).
fn dummy_signature() -> Signature {
    Signature::from_raw(dummy_ecdsa_signature()).unwrap_or_else(|_| Signature::test_signature())
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

/// ERC-7579 `execute(mode, executionCalldata)` for one call (`CALLTYPE_SINGLE`, `EXECTYPE_DEFAULT`).
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

/// ERC-7579 `execute(mode, executionCalldata)` for a batch (`CALLTYPE_BATCH`, `EXECTYPE_DEFAULT`).
pub fn execute_batch(calls: &[(Address, U256, Bytes)]) -> Bytes {
    let executions: Vec<Execution> = calls
        .iter()
        .map(|(target, value, data)| Execution {
            target: *target,
            value: *value,
            callData: data.clone(),
        })
        .collect();
    execute_executions(&executions)
}

/// [`execute_batch`] of ERC-7579 `Execution`s.
fn execute_executions(executions: &[Execution]) -> Bytes {
    let mut mode = B256::ZERO;
    mode.0[0] = 0x01;
    KeyscopeAccount::executeCall {
        mode,
        executionCalldata: executions.abi_encode().into(),
    }
    .abi_encode()
    .into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloy::primitives::address;
    use alloy::signers::SignerSync;
    use keyscope_signer::{recover, SessionKey};

    const OWNER_VALIDATOR: Address = address!("1111111111111111111111111111111111111111");

    #[test]
    fn nonce_key_is_validator_then_lane() {
        let key = nonce_key(OWNER_VALIDATOR, 0xdead_beef);
        let bytes = key.to_be_bytes::<24>();
        assert_eq!(&bytes[..20], OWNER_VALIDATOR.as_slice());
        assert_eq!(&bytes[20..], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(session_lane(B256::repeat_byte(0xab)), 0xabab_abab);
        let kind = KeyscopeAccountKind {
            owner_validator: OWNER_VALIDATOR,
        };
        assert_eq!(kind.owner_nonce_key(), nonce_key(OWNER_VALIDATOR, 0));
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

    #[test]
    fn provided_execute_is_single_for_one_call_and_batch_for_more() {
        let kind = KeyscopeAccountKind {
            owner_validator: OWNER_VALIDATOR,
        };
        let call = Execution {
            target: Address::repeat_byte(2),
            value: U256::from(7),
            callData: Bytes::from_static(&[1, 2, 3]),
        };
        assert_eq!(
            kind.execute(std::slice::from_ref(&call)),
            execute_single(call.target, call.value, &call.callData)
        );
        let pair = [call.clone(), call.clone()];
        let tuples = vec![(call.target, call.value, call.callData.clone()); 2];
        assert_eq!(kind.execute(&pair), execute_batch(&tuples));
    }

    #[test]
    fn reference_signatures_are_raw_ecdsa_and_prefixed_erc1271() {
        let owner = SessionKey::from_bytes(&[7; 32]).unwrap();
        let kind = KeyscopeAccountKind {
            owner_validator: OWNER_VALIDATOR,
        };
        let digest = B256::repeat_byte(9);
        assert_eq!(kind.erc1271_hash(Address::ZERO, 1, digest), digest);
        let signature = owner.sign_hash_sync(&digest).unwrap();
        let op_signature = kind.owner_op_signature(&signature);
        assert_eq!(recover(&digest, &op_signature).unwrap(), owner.address());
        let erc1271 = kind.erc1271_signature(&signature);
        assert_eq!(&erc1271[..20], OWNER_VALIDATOR.as_slice());
        assert_eq!(&erc1271[20..], &op_signature[..]);
        let dummy = kind.dummy_owner_op_signature();
        assert_eq!(dummy.len(), 65);
        assert_ne!(recover(&digest, &dummy).ok(), Some(owner.address()));
    }

    #[test]
    fn install_and_uninstall_are_erc7579_module_calls() {
        let kind = KeyscopeAccountKind {
            owner_validator: OWNER_VALIDATOR,
        };
        let install = KeyscopeAccount::installModuleCall::abi_decode(
            &kind.install_validator(OWNER_VALIDATOR, Bytes::from_static(&[1])),
        )
        .unwrap();
        assert_eq!(install.moduleTypeId, U256::from(MODULE_TYPE_VALIDATOR));
        assert_eq!(install.module, OWNER_VALIDATOR);
        assert_eq!(install.initData, Bytes::from_static(&[1]));
        let uninstall = KeyscopeAccount::uninstallModuleCall::abi_decode(
            &kind.uninstall_validator(OWNER_VALIDATOR, Bytes::new()),
        )
        .unwrap();
        assert_eq!(uninstall.module, OWNER_VALIDATOR);
    }
}
