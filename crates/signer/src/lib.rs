#![doc = include_str!("../README.md")]

mod error;
pub mod key;
pub mod keystore;
pub mod message;
pub mod signers;
pub mod sponsorship;
pub mod userop;
pub mod wire;

/// Re-exported primitives (`Address`, `B256`, `address!` …).
pub use alloy_primitives as primitives;
pub use error::{Error, Result};
pub use key::{recover, SessionKey};
pub use keystore::Kdf;
pub use message::{
    decode_contents_descr, AccountDomain, AppDomain, MessageSignature, TypedDataMessage,
};
pub use signers::{
    verify_session_signature, MultisigMember, P256Key, SessionSigner, SignatureCheck, SignerKey,
    SignerKind, WebAuthnAuth, WebAuthnAuthenticator,
};
pub use userop::{
    user_op_hash_v07, user_op_hash_v08, EntryPoint, PackedUserOperation, ENTRY_POINT_V07,
    ENTRY_POINT_V08,
};
pub use wire::{
    dummy_ecdsa_signature, enable_digest, multichain_digest, multichain_leaf, owner_signature,
    sign_user_op, CallEntry, CallProof, Mode, MultichainEnable, MultichainEntry, SessionSignature,
    SignsSessions,
};
