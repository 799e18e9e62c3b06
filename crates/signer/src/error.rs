//! The crate's one error type.

/// Every way key handling, hashing and signature encoding can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The keystore's MAC does not match: wrong password (or a tampered file).
    #[error("wrong password (keystore MAC mismatch)")]
    WrongPassword,
    /// The keystore is not valid JSON of the Web3 Secret Storage v3 shape (corrupt or truncated).
    #[error("malformed keystore: {reason}")]
    MalformedKeystore {
        /// What is wrong.
        reason: String,
    },
    /// A keystore feature this crate does not support (another version, KDF, cipher, or KDF parameters too costly).
    #[error("unsupported keystore: {what}")]
    UnsupportedKeystore {
        /// What.
        what: String,
    },
    /// The decrypted key is not the keystore's stated address.
    #[error("keystore address {stated} does not match its key's address {actual}")]
    KeystoreAddressMismatch {
        /// The `address` field.
        stated: String,
        /// The key's address.
        actual: String,
    },
    /// Not a valid secp256k1 secret key (zero, or not below the group order).
    #[error("invalid secp256k1 secret key")]
    InvalidKey,
    /// Reading or writing a keystore file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// ECDSA signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// A signature that is not 65 bytes r ‖ s ‖ v, or that does not recover.
    #[error("invalid ECDSA signature: {0}")]
    InvalidSignature(String),
    /// An EntryPoint v0.8 user operation with an EIP-7702 initCode, hashed without the account's delegate.
    #[error("EIP-7702 initCode: the account's delegate address is needed to compute the v0.8 userOpHash")]
    Eip7702DelegateNeeded,
    /// A field too long for its length prefix in the signature wire format.
    #[error("{field} is {length} long, at most {max} fit")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length (bytes or items).
        length: usize,
        /// The maximum.
        max: usize,
    },
    /// A signature with no calls, or more than the validator's batch maximum.
    #[error("{count} calls: a session signature carries 1 to {max}")]
    CallCount {
        /// How many.
        count: usize,
        /// The maximum.
        max: usize,
    },
    /// userOp.signature ends before the field at `offset` that needs `needed` bytes (`SignatureTruncated`).
    #[error("signature truncated: {needed} bytes needed at offset {offset}")]
    Truncated {
        /// Where the field starts.
        offset: usize,
        /// Its length.
        needed: usize,
    },
    /// An unknown mode byte (`UnknownSignatureMode`).
    #[error("unknown signature mode {0}")]
    UnknownMode(u8),
    /// The session in the signature is not canonically encoded.
    #[error("malformed session: {0}")]
    MalformedSession(String),
    /// Call `call`'s permission is not a canonical `abi.encode(Permission)`.
    #[error("call {call}: malformed permission: {reason}")]
    MalformedPermission {
        /// The call's index.
        call: usize,
        /// Why.
        reason: String,
    },
    /// A multichain enable tree of no entries.
    #[error("a multichain enable needs at least one (chain, account, epoch, session) entry")]
    EmptyMultichain,
    /// A multichain enable tree given the same (chain, account, epoch, session) entry twice.
    #[error("multichain entry {duplicate} repeats entry {first}")]
    DuplicateMultichainEntry {
        /// The index of its first occurrence.
        first: usize,
        /// The index of the repetition.
        duplicate: usize,
    },
    /// Not a valid P-256 secret key (zero, or not below the group order).
    #[error("invalid P-256 secret key")]
    InvalidP256Key,
    /// A multisig-only operation on another kind of signer.
    #[error("not a multisig signer")]
    NotMultisig,
    /// A multisig member index past the member list.
    #[error("multisig member {index} does not exist ({count} members)")]
    MemberIndexOutOfRange {
        /// The index.
        index: usize,
        /// How many members there are.
        count: usize,
    },
    /// The same multisig member chosen twice to sign.
    #[error("multisig member {index} chosen twice")]
    DuplicateMemberIndex {
        /// The index.
        index: usize,
    },
    /// No multisig member chosen to sign.
    #[error("no multisig member chosen to sign")]
    NoMemberSelected,
    /// An EIP-712 app domain without a verifying contract: a session key signs typed data only for a named
    /// verifying contract (its permission's `target`).
    #[error("the typed data's domain has no verifying contract: a session key signs only for a named contract")]
    AppDomainWithoutVerifyingContract,
    /// An app domain the validator cannot carry: ERC-5267 field bits beyond 0x1f, words that are not one per
    /// field, or a verifying contract word that is not an address.
    #[error("unsupported app domain (fields 0x{fields:02x}): {reason}")]
    UnsupportedAppDomain {
        /// The ERC-5267 field bits.
        fields: u8,
        /// What is wrong.
        reason: String,
    },
    /// EIP-712 typed data that does not encode: an unknown or circular type, a message that does not match its
    /// type, a primary type that is not a struct.
    #[error("invalid typed data: {0}")]
    TypedData(String),
    /// An ERC-7739 contents description the validator would refuse (empty or malformed contents name).
    #[error("invalid ERC-7739 contents description: {0}")]
    InvalidContentsDescr(String),
    /// Signed contents that are not `typeHash ‖ encodeData`: a non-empty sequence of 32-byte words.
    #[error("contents are {length} bytes: typeHash ‖ encodeData is a non-empty sequence of 32-byte words")]
    MalformedContents {
        /// Their length in bytes.
        length: usize,
    },
    /// An error from the permissions crate (trees, sessions).
    #[error(transparent)]
    Permissions(#[from] keyscope_permissions::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;
