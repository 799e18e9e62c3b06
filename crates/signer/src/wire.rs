//! The `userOp.signature` wire format of `SessionKeyValidator` (see its NatSpec), and the enable-mode digests.
//!
//! ```text
//! uint8   mode                       0 = use a granted session, 1 = enable it first, 2 = enable it first
//!                                    with a multichain owner signature
//! bytes   session[288]               abi.encode(SessionTypes.Session)
//! -- multichain enable mode only --
//! uint8   chainProofLength
//! bytes32 chainProof[chainProofLength] sorted-pair Merkle proof of this chain's leaf (see [`multichain_leaf`])
//! -- both enable modes --
//! uint16  ownerSignatureLength
//! bytes   ownerSignature             given as-is to the account's ERC-1271 isValidSignature(digest, .):
//!                                    enableDigest, or the multichain digest of the root the proof leads to
//! -- both modes --
//! uint8   callCount                  must equal the number of calls `execute` runs
//! callCount times:
//!   uint16  permissionLength         0: the call is the session's own revocation, and nothing follows
//!   bytes   permission               abi.encode(SessionTypes.Permission), the leaf's preimage
//!   uint8   proofLength
//!   bytes32 proof[proofLength]       sorted-pair Merkle proof of the leaf
//!   uint32  rateLimitWindow          window index k for rate-limited permissions (else 0)
//! bytes   sessionSignature           the rest: the session signer's signature over the raw userOpHash
//!                                    (65-byte r ‖ s ‖ v for a secp256k1 key; see [`crate::signers`])
//! ```

use std::collections::HashMap;
use std::sync::OnceLock;

use alloy_primitives::{keccak256, Address, B256, U256};
use keyscope_permissions::{
    abi::{
        decode_permission, decode_session, encode_permission_into, encode_session,
        encoded_permission_len, SESSION_LENGTH,
    },
    CompiledSession, Permission, PermissionTree, Session, ENABLE_SESSIONS_TYPEHASH, MAX_CALLS,
    MODE_ENABLE, MODE_ENABLE_MULTICHAIN, MODE_USE, MULTICHAIN_DOMAIN_TYPEHASH,
};

use crate::error::{Error, Result};
use crate::key::SessionKey;
use crate::signers::SessionSigner;
use crate::userop::{domain_separator, typed_data_digest};

/// The validator's EIP-712 domain name.
pub const DOMAIN_NAME: &str = "Keyscope SessionKeyValidator";
/// The validator's EIP-712 domain version.
pub const DOMAIN_VERSION: &str = "1";
/// Length of an ECDSA signature `r ‖ s ‖ v`.
pub const ECDSA_SIGNATURE_LENGTH: usize = 65;

/// One call's entry: the permission it uses, the permission's Merkle proof, and the rate-limit window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallProof {
    /// The permission (its encoding is the leaf preimage).
    pub permission: Permission,
    /// The Merkle proof of the permission's leaf.
    pub proof: Vec<B256>,
    /// The period index `k` the call names (0 when the permission counts no periods: neither a rate limit nor
    /// allowances per period); see [`Permission::rate_limit_window`].
    pub rate_limit_window: u32,
}

impl CallProof {
    /// The entry for permission `index` of a compiled session, with its proof; the period for time `now`.
    pub fn from_compiled(compiled: &CompiledSession, index: usize, now: u64) -> Result<Self> {
        let permission = compiled
            .permissions
            .get(index)
            .ok_or(keyscope_permissions::Error::LeafIndexOutOfRange {
                index,
                count: compiled.permissions.len(),
            })?
            .clone();
        let proof = compiled.tree.proof(index)?;
        let rate_limit_window = permission.rate_limit_window(now);
        Ok(Self {
            permission,
            proof,
            rate_limit_window,
        })
    }
}

/// What the signature presents for one call.
// At most MAX_CALLS entries live in one signature: boxing the permission would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEntry {
    /// The permission the call uses, with its proof.
    Permission(CallProof),
    /// No permission: the call is `revokeSession(sessionId)` of the signature's own session on the validator,
    /// with no value, the one call to the validator a session key may make (its kill switch). Encoded as an
    /// empty permission with nothing after it.
    SelfRevocation,
}

impl From<CallProof> for CallEntry {
    fn from(proof: CallProof) -> Self {
        Self::Permission(proof)
    }
}

impl CallEntry {
    /// The permission and proof, unless this is the session's own revocation.
    pub fn proof(&self) -> Option<&CallProof> {
        match self {
            Self::Permission(proof) => Some(proof),
            Self::SelfRevocation => None,
        }
    }

    /// Length of the entry on the wire.
    fn encoded_len(&self) -> usize {
        match self {
            Self::Permission(c) => {
                2 + encoded_permission_len(&c.permission) + 1 + 32 * c.proof.len() + 4
            }
            Self::SelfRevocation => 2,
        }
    }
}

/// How the signature refers to its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The session is already granted.
    Use,
    /// Grant it first, with the owner's signature over [`enable_digest`] (as the account's `isValidSignature`
    /// expects it; see [`owner_signature`]).
    Enable {
        /// The owner's signature.
        owner_signature: Vec<u8>,
    },
    /// Grant it first, with the owner's one signature over [`multichain_digest`] of a tree of
    /// (chain, account, epoch, session) entries (see [`MultichainEnable`]), and the proof of this chain's entry.
    EnableMultichain {
        /// The sorted-pair Merkle proof of [`multichain_leaf`]`(chainId, account, epoch, sessionId)` (at most 255
        /// nodes).
        chain_proof: Vec<B256>,
        /// The owner's signature over the multichain digest (see [`owner_signature`]).
        owner_signature: Vec<u8>,
    },
}

/// A decoded or to-be-encoded `userOp.signature`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSignature {
    /// Use or enable.
    pub mode: Mode,
    /// The session.
    pub session: Session,
    /// One entry per call `execute` runs, in order.
    pub calls: Vec<CallEntry>,
    /// The session key's 65-byte signature over the raw userOpHash (empty until signed).
    pub session_signature: Vec<u8>,
}

fn too_long(field: &'static str, length: usize, max: usize) -> Result<()> {
    if length > max {
        Err(Error::TooLong { field, length, max })
    } else {
        Ok(())
    }
}

impl SessionSignature {
    /// A use-mode signature, not yet signed.
    pub fn use_session(session: Session, calls: Vec<CallEntry>) -> Self {
        Self {
            mode: Mode::Use,
            session,
            calls,
            session_signature: Vec::new(),
        }
    }

    /// An enable-mode signature, not yet signed.
    pub fn enable_session(
        session: Session,
        owner_signature: Vec<u8>,
        calls: Vec<CallEntry>,
    ) -> Self {
        Self {
            mode: Mode::Enable { owner_signature },
            session,
            calls,
            session_signature: Vec::new(),
        }
    }

    /// A multichain enable-mode signature, not yet signed: `chain_proof` is the proof of this chain's entry in the
    /// tree whose digest the owner signed (see [`MultichainEnable`]).
    pub fn enable_multichain(
        session: Session,
        chain_proof: Vec<B256>,
        owner_signature: Vec<u8>,
        calls: Vec<CallEntry>,
    ) -> Self {
        Self {
            mode: Mode::EnableMultichain {
                chain_proof,
                owner_signature,
            },
            session,
            calls,
            session_signature: Vec::new(),
        }
    }

    /// Signs `user_op_hash` with `signer` (a secp256k1 [`SessionKey`] or any [`SessionSigner`]) and sets the
    /// session signature.
    pub fn sign(mut self, signer: &impl SignsSessions, user_op_hash: &B256) -> Result<Self> {
        self.session_signature = signer.session_signature(user_op_hash)?;
        Ok(self)
    }

    /// [`Self::to_dummy`] with `signer`'s dummy session signature (of its kind and length) in place of the
    /// secp256k1 one.
    pub fn to_dummy_for(&self, signer: &impl SignsSessions) -> Result<Self> {
        let mut dummy = self.to_dummy();
        dummy.session_signature = signer.dummy_session_signature()?;
        Ok(dummy)
    }

    /// The same signature with placeholder ECDSA signatures of the real length, for gas estimation: it parses,
    /// every check the validator makes runs, and the signature checks fail without reverting (see
    /// [`dummy_ecdsa_signature`]). An owner signature is replaced keeping its prefix (the validator address for
    /// the account's ERC-1271 routing) when it is `prefix ‖ 65 bytes`.
    pub fn to_dummy(&self) -> Self {
        let dummy_owner = |owner_signature: &[u8]| {
            let keep = owner_signature.len().saturating_sub(ECDSA_SIGNATURE_LENGTH);
            let mut dummy = owner_signature[..keep].to_vec();
            dummy.extend_from_slice(dummy_ecdsa_signature());
            dummy
        };
        let mode = match &self.mode {
            Mode::Use => Mode::Use,
            Mode::Enable { owner_signature } => Mode::Enable {
                owner_signature: dummy_owner(owner_signature),
            },
            Mode::EnableMultichain {
                chain_proof,
                owner_signature,
            } => Mode::EnableMultichain {
                chain_proof: chain_proof.clone(),
                owner_signature: dummy_owner(owner_signature),
            },
        };
        Self {
            mode,
            session: self.session.clone(),
            calls: self.calls.clone(),
            session_signature: dummy_ecdsa_signature().to_vec(),
        }
    }

    /// Length of [`Self::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        let owner = match &self.mode {
            Mode::Use => 0,
            Mode::Enable { owner_signature } => 2 + owner_signature.len(),
            Mode::EnableMultichain {
                chain_proof,
                owner_signature,
            } => 1 + 32 * chain_proof.len() + 2 + owner_signature.len(),
        };
        let calls: usize = self.calls.iter().map(CallEntry::encoded_len).sum();
        1 + SESSION_LENGTH + owner + 1 + calls + self.session_signature.len()
    }

    /// The wire bytes. Fails when a field does not fit its length prefix, or on 0 or more than
    /// [`MAX_CALLS`] calls.
    pub fn encode(&self) -> Result<Vec<u8>> {
        if self.calls.is_empty() || self.calls.len() > MAX_CALLS {
            return Err(Error::CallCount {
                count: self.calls.len(),
                max: MAX_CALLS,
            });
        }
        let mut out = Vec::with_capacity(self.encoded_len());
        match &self.mode {
            Mode::Use => {
                out.push(MODE_USE);
                out.extend_from_slice(&encode_session(&self.session));
            }
            Mode::Enable { owner_signature } => {
                too_long(
                    "owner signature",
                    owner_signature.len(),
                    usize::from(u16::MAX),
                )?;
                out.push(MODE_ENABLE);
                out.extend_from_slice(&encode_session(&self.session));
                out.extend_from_slice(&(owner_signature.len() as u16).to_be_bytes());
                out.extend_from_slice(owner_signature);
            }
            Mode::EnableMultichain {
                chain_proof,
                owner_signature,
            } => {
                too_long("chain proof", chain_proof.len(), usize::from(u8::MAX))?;
                too_long(
                    "owner signature",
                    owner_signature.len(),
                    usize::from(u16::MAX),
                )?;
                out.push(MODE_ENABLE_MULTICHAIN);
                out.extend_from_slice(&encode_session(&self.session));
                out.push(chain_proof.len() as u8);
                for node in chain_proof {
                    out.extend_from_slice(node.as_slice());
                }
                out.extend_from_slice(&(owner_signature.len() as u16).to_be_bytes());
                out.extend_from_slice(owner_signature);
            }
        }
        out.push(self.calls.len() as u8);
        for entry in &self.calls {
            let CallEntry::Permission(call) = entry else {
                out.extend_from_slice(&0u16.to_be_bytes());
                continue;
            };
            let length = encoded_permission_len(&call.permission);
            too_long("permission encoding", length, usize::from(u16::MAX))?;
            too_long("proof", call.proof.len(), usize::from(u8::MAX))?;
            out.extend_from_slice(&(length as u16).to_be_bytes());
            encode_permission_into(&call.permission, &mut out);
            out.push(call.proof.len() as u8);
            for node in &call.proof {
                out.extend_from_slice(node.as_slice());
            }
            out.extend_from_slice(&call.rate_limit_window.to_be_bytes());
        }
        // the session signature is the rest: no length prefix
        out.extend_from_slice(&self.session_signature);
        Ok(out)
    }

    /// Reads the wire bytes, failing as the validator would (truncation, trailing bytes, unknown mode) and on
    /// session or permission encodings that are not canonical. Never panics.
    pub fn decode(data: &[u8]) -> Result<Self> {
        let mut reader = Reader { data, cursor: 0 };
        // the contract reads the session before looking at the mode
        let session_bytes = reader.take_at(1, SESSION_LENGTH)?;
        let mode_byte = data[0];
        let session =
            decode_session(session_bytes).map_err(|e| Error::MalformedSession(e.to_string()))?;
        let mode = match mode_byte {
            MODE_ENABLE => Mode::Enable {
                owner_signature: reader.take_prefixed(2)?.to_vec(),
            },
            MODE_ENABLE_MULTICHAIN => {
                let proof_length = reader.take_uint(1)? as usize;
                let chain_proof = reader
                    .take(32 * proof_length)?
                    .chunks_exact(32)
                    .map(B256::from_slice)
                    .collect();
                Mode::EnableMultichain {
                    chain_proof,
                    owner_signature: reader.take_prefixed(2)?.to_vec(),
                }
            }
            MODE_USE => Mode::Use,
            other => return Err(Error::UnknownMode(other)),
        };
        let count = reader.take_uint(1)? as usize;
        let mut calls = Vec::with_capacity(count);
        for call in 0..count {
            let permission_bytes = reader.take_prefixed(2)?;
            if permission_bytes.is_empty() {
                calls.push(CallEntry::SelfRevocation);
                continue;
            }
            let proof_length = reader.take_uint(1)? as usize;
            let proof_bytes = reader.take(32 * proof_length)?;
            let rate_limit_window = reader.take_uint(4)? as u32;
            let permission =
                decode_permission(permission_bytes).map_err(|e| Error::MalformedPermission {
                    call,
                    reason: e.to_string(),
                })?;
            let proof = proof_bytes.chunks_exact(32).map(B256::from_slice).collect();
            calls.push(CallEntry::Permission(CallProof {
                permission,
                proof,
                rate_limit_window,
            }));
        }
        // the rest is the session signature
        let session_signature = data[reader.cursor..].to_vec();
        Ok(Self {
            mode,
            session,
            calls,
            session_signature,
        })
    }

    /// The session id.
    pub fn session_id(&self) -> B256 {
        keyscope_permissions::session_id(&self.session)
    }
}

/// `_take`: checks that `length` bytes start at `cursor` and returns the cursor after them; [`Error::Truncated`]
/// otherwise. With [`take_uint`] and [`take_prefixed`], the validator's framing primitives, which
/// [`SessionSignature::decode`] reads with: for mirrors of the validator that check field by field.
pub fn take(data: &[u8], cursor: usize, length: usize) -> Result<usize> {
    if data.len() < cursor || data.len() - cursor < length {
        return Err(Error::Truncated {
            offset: cursor,
            needed: length,
        });
    }
    Ok(cursor + length)
}

/// `_takeUint`: the big-endian integer of `size` bytes (at most 8) at `cursor`, and the cursor after it.
pub fn take_uint(data: &[u8], cursor: usize, size: usize) -> Result<(u64, usize)> {
    let next = take(data, cursor, size)?;
    let value = data[cursor..next]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    Ok((value, next))
}

/// `_takeLengthPrefixed`: the byte range of the field whose length is the `size`-byte integer at `cursor`, and
/// the cursor after it.
pub fn take_prefixed(
    data: &[u8],
    cursor: usize,
    size: usize,
) -> Result<(core::ops::Range<usize>, usize)> {
    let (length, start) = take_uint(data, cursor, size)?;
    let next = take(data, start, length as usize)?;
    Ok((start..next, next))
}

/// [`take`], [`take_uint`] and [`take_prefixed`] over one cursor.
struct Reader<'a> {
    data: &'a [u8],
    cursor: usize,
}

impl<'a> Reader<'a> {
    fn take_at(&mut self, cursor: usize, length: usize) -> Result<&'a [u8]> {
        self.cursor = take(self.data, cursor, length)?;
        Ok(&self.data[cursor..self.cursor])
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8]> {
        self.take_at(self.cursor, length)
    }

    fn take_uint(&mut self, size: usize) -> Result<u64> {
        let (value, next) = take_uint(self.data, self.cursor, size)?;
        self.cursor = next;
        Ok(value)
    }

    fn take_prefixed(&mut self, size: usize) -> Result<&'a [u8]> {
        let (range, next) = take_prefixed(self.data, self.cursor, size)?;
        self.cursor = next;
        Ok(&self.data[range])
    }
}

/// The struct hash the owner signs: `keccak256(abi.encode(ENABLE_SESSION_TYPEHASH, account, epoch, sessionId))`.
pub fn enable_struct_hash(account: Address, epoch: u64, session_id: B256) -> B256 {
    let mut buffer = [0u8; 128];
    buffer[..32].copy_from_slice(keyscope_permissions::abi::ENABLE_SESSION_TYPEHASH.as_slice());
    buffer[44..64].copy_from_slice(account.as_slice());
    buffer[64..96].copy_from_slice(&U256::from(epoch).to_be_bytes::<32>());
    buffer[96..].copy_from_slice(session_id.as_slice());
    keccak256(buffer)
}

/// `SessionKeyValidator.enableDigest(account, session)`: the EIP-712 digest of
/// `EnableSession(address account,uint64 epoch,Session session)` in the domain
/// `{name: "Keyscope SessionKeyValidator", version: "1", chainId, verifyingContract: validator}`, where `epoch` is
/// the account's current epoch (`epochOf(account)`).
pub fn enable_digest(
    validator: Address,
    chain_id: u64,
    account: Address,
    epoch: u64,
    session_id: B256,
) -> B256 {
    typed_data_digest(
        domain_separator(DOMAIN_NAME, DOMAIN_VERSION, chain_id, validator),
        enable_struct_hash(account, epoch, session_id),
    )
}

/// The leaf of a multichain enable tree for `session_id` on `account` at `epoch` (its `epochOf` on that chain) on
/// chain `chain_id`: `keccak256(bytes.concat(keccak256(abi.encode(uint256 chainId, address account, uint64 epoch,
/// bytes32 sessionId))))`, double-hashed as permission leaves are.
pub fn multichain_leaf(chain_id: u64, account: Address, epoch: u64, session_id: B256) -> B256 {
    let mut buffer = [0u8; 128];
    buffer[..32].copy_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
    buffer[44..64].copy_from_slice(account.as_slice());
    buffer[64..96].copy_from_slice(&U256::from(epoch).to_be_bytes::<32>());
    buffer[96..].copy_from_slice(session_id.as_slice());
    keccak256(keccak256(buffer))
}

/// The chain-less EIP-712 domain separator of the multichain digest:
/// `{name: "Keyscope SessionKeyValidator", version: "1", verifyingContract: validator}`.
pub fn multichain_domain_separator(validator: Address) -> B256 {
    let mut buffer = [0u8; 32 * 4];
    buffer[..32].copy_from_slice(MULTICHAIN_DOMAIN_TYPEHASH.as_slice());
    buffer[32..64].copy_from_slice(keccak256(DOMAIN_NAME).as_slice());
    buffer[64..96].copy_from_slice(keccak256(DOMAIN_VERSION).as_slice());
    buffer[108..].copy_from_slice(validator.as_slice());
    keccak256(buffer)
}

/// The digest the owner signs once for several chains: the EIP-712 digest of `EnableSessions(bytes32 chainsRoot)`
/// in the chain-less domain of `validator` (see [`multichain_domain_separator`]). The validator must have the same
/// address on every chain of the tree.
pub fn multichain_digest(validator: Address, chains_root: B256) -> B256 {
    let mut struct_preimage = [0u8; 64];
    struct_preimage[..32].copy_from_slice(ENABLE_SESSIONS_TYPEHASH.as_slice());
    struct_preimage[32..].copy_from_slice(chains_root.as_slice());
    typed_data_digest(
        multichain_domain_separator(validator),
        keccak256(struct_preimage),
    )
}

/// One leaf of a multichain enable tree: a session on an account at its epoch on a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MultichainEntry {
    /// The chain id.
    pub chain_id: u64,
    /// The account (the userOp sender on that chain).
    pub account: Address,
    /// The account's epoch on that chain (`validator.epochOf(account)` there).
    pub epoch: u64,
    /// The session id (see [`keyscope_permissions::session_id`]).
    pub session_id: B256,
}

impl MultichainEntry {
    /// The entry of these values.
    pub fn new(chain_id: u64, account: Address, epoch: u64, session_id: B256) -> Self {
        Self {
            chain_id,
            account,
            epoch,
            session_id,
        }
    }

    /// Its leaf (see [`multichain_leaf`]).
    pub fn leaf(&self) -> B256 {
        multichain_leaf(self.chain_id, self.account, self.epoch, self.session_id)
    }
}

/// The tree of a multichain enable: the owner signs [`Self::digest`] once, and the operation on each entry's chain
/// carries [`Self::proof`] of that entry in [`Mode::EnableMultichain`]. The tree is OpenZeppelin's
/// `StandardMerkleTree` layout over the entries' leaves (as for permissions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultichainEnable {
    entries: Vec<MultichainEntry>,
    tree: PermissionTree,
}

impl MultichainEnable {
    /// The tree of these entries, in the order given (the order proofs are asked by). Fails on no entries
    /// ([`Error::EmptyMultichain`]) or an entry given twice ([`Error::DuplicateMultichainEntry`]).
    pub fn new(entries: Vec<MultichainEntry>) -> Result<Self> {
        if entries.is_empty() {
            return Err(Error::EmptyMultichain);
        }
        let mut seen = HashMap::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            if let Some(&first) = seen.get(entry) {
                return Err(Error::DuplicateMultichainEntry {
                    first,
                    duplicate: index,
                });
            }
            seen.insert(*entry, index);
        }
        let tree =
            PermissionTree::from_leaves(entries.iter().map(MultichainEntry::leaf).collect())?;
        Ok(Self { entries, tree })
    }

    /// The entries, in the order given.
    pub fn entries(&self) -> &[MultichainEntry] {
        &self.entries
    }

    /// The index of `entry`, if it is in the tree.
    pub fn index_of(&self, entry: &MultichainEntry) -> Option<usize> {
        self.entries.iter().position(|e| e == entry)
    }

    /// The root (`chainsRoot`).
    pub fn root(&self) -> B256 {
        self.tree.root()
    }

    /// The digest the owner signs for the validator at `validator` (see [`multichain_digest`]).
    pub fn digest(&self, validator: Address) -> B256 {
        multichain_digest(validator, self.root())
    }

    /// The proof of entry `index`, leaf to root: the `chain_proof` of [`Mode::EnableMultichain`] on its chain.
    pub fn proof(&self, index: usize) -> Result<Vec<B256>> {
        Ok(self.tree.proof(index)?)
    }
}

/// The owner's enable signature as an OpenZeppelin `AccountERC7579` verifies it through ERC-1271: `prefix` (the
/// 20-byte address of the owner's validator module, which the account routes `isValidSignature` to) followed by
/// the owner's 65-byte ECDSA signature over the raw `digest`.
pub fn owner_signature(owner: &SessionKey, prefix: &[u8], digest: &B256) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(prefix.len() + ECDSA_SIGNATURE_LENGTH);
    out.extend_from_slice(prefix);
    out.extend_from_slice(&owner.sign_hash_bytes(digest)?);
    Ok(out)
}

/// A 65-byte ECDSA signature for gas estimation: well-formed (low s, v = 27 or 28, a valid curve point, so
/// `ecrecover` runs and returns an address) but made by a published throwaway key over another hash, so it
/// recovers to an address that is no one's signer and validation fails without reverting.
pub fn dummy_ecdsa_signature() -> &'static [u8; 65] {
    static DUMMY: OnceLock<[u8; 65]> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret = keccak256("keyscope dummy signature key");
        let hash = keccak256("keyscope dummy signature");
        // A fixed valid secret: keccak of a constant is below the group order with overwhelming probability,
        // and a test pins that it is.
        SessionKey::from_bytes(&secret.0)
            .and_then(|key| key.sign_hash_bytes(&hash))
            .unwrap_or([0x11; 65])
    })
}

/// What signs a session's operations: the session signature over a userOpHash, and a dummy of the same kind and
/// length for gas estimation.
pub trait SignsSessions {
    /// The session signature over the raw `user_op_hash`.
    fn session_signature(&self, user_op_hash: &B256) -> Result<Vec<u8>>;
    /// A well-formed signature of the same kind and length that validates for no hash.
    fn dummy_session_signature(&self) -> Result<Vec<u8>>;
}

impl SignsSessions for SessionKey {
    fn session_signature(&self, user_op_hash: &B256) -> Result<Vec<u8>> {
        Ok(self.sign_hash_bytes(user_op_hash)?.to_vec())
    }

    fn dummy_session_signature(&self) -> Result<Vec<u8>> {
        Ok(dummy_ecdsa_signature().to_vec())
    }
}

impl SignsSessions for SessionSigner {
    fn session_signature(&self, user_op_hash: &B256) -> Result<Vec<u8>> {
        self.sign(user_op_hash)
    }

    fn dummy_session_signature(&self) -> Result<Vec<u8>> {
        self.dummy_signature()
    }
}

/// Builds the signature for `calls` under a session, signs the userOpHash, and encodes it. In enable mode pass the
/// owner's signature (see [`owner_signature`]).
pub fn sign_user_op(
    key: &impl SignsSessions,
    user_op_hash: &B256,
    session: &Session,
    owner_signature: Option<Vec<u8>>,
    calls: Vec<CallEntry>,
) -> Result<Vec<u8>> {
    let unsigned = match owner_signature {
        Some(owner) => SessionSignature::enable_session(session.clone(), owner, calls),
        None => SessionSignature::use_session(session.clone(), calls),
    };
    unsigned.sign(key, user_op_hash)?.encode()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloy_primitives::address;
    use alloy_sol_types::{Eip712Domain, SolStruct, SolValue};
    use keyscope_permissions::merkle::process_proof;

    alloy_sol_types::sol! {
        struct EnableSessions {
            bytes32 chainsRoot;
        }
    }

    const VALIDATOR: Address = address!("0x1d1499e622D69689cdf9004d05Ec547d650Ff211");

    fn entries(n: u64) -> Vec<MultichainEntry> {
        (0..n)
            .map(|i| {
                MultichainEntry::new(
                    1 + i,
                    Address::with_last_byte(i as u8),
                    i % 3,
                    keccak256(i.to_be_bytes()),
                )
            })
            .collect()
    }

    #[test]
    fn multichain_leaf_and_digest_are_the_eip712_formulas() {
        let (account, session_id) = (Address::repeat_byte(0xab), B256::repeat_byte(0xcd));
        let inner = (U256::from(31_337u64), account, 7u64, session_id).abi_encode();
        assert_eq!(
            multichain_leaf(31_337, account, 7, session_id),
            keccak256(keccak256(inner))
        );
        let root = B256::repeat_byte(0x42);
        let domain = Eip712Domain::new(
            Some(DOMAIN_NAME.into()),
            Some(DOMAIN_VERSION.into()),
            None,
            Some(VALIDATOR),
            None,
        );
        assert_eq!(multichain_domain_separator(VALIDATOR), domain.hash_struct());
        let expected = EnableSessions { chainsRoot: root }.eip712_signing_hash(&domain);
        assert_eq!(multichain_digest(VALIDATOR, root), expected);
        assert_ne!(multichain_digest(Address::ZERO, root), expected);
    }

    #[test]
    fn multichain_tree_proves_every_entry() {
        for n in [1, 2, 3, 5, 8] {
            let tree = MultichainEnable::new(entries(n)).unwrap();
            assert_eq!(tree.entries().len(), n as usize);
            for (i, entry) in tree.entries().iter().enumerate() {
                assert_eq!(tree.index_of(entry), Some(i));
                let proof = tree.proof(i).unwrap();
                assert_eq!(process_proof(entry.leaf(), &proof), tree.root());
            }
            assert_eq!(
                tree.digest(VALIDATOR),
                multichain_digest(VALIDATOR, tree.root())
            );
            assert!(tree.proof(n as usize).is_err());
        }
        let single = MultichainEnable::new(entries(1)).unwrap();
        assert_eq!(single.root(), entries(1)[0].leaf());
        assert!(single.proof(0).unwrap().is_empty());
        assert_eq!(single.index_of(&entries(2)[1]), None);
    }

    #[test]
    fn multichain_tree_refuses_empty_and_duplicates() {
        assert_eq!(
            MultichainEnable::new(Vec::new()),
            Err(Error::EmptyMultichain)
        );
        let mut list = entries(3);
        list.push(list[1]);
        assert_eq!(
            MultichainEnable::new(list),
            Err(Error::DuplicateMultichainEntry {
                first: 1,
                duplicate: 3
            })
        );
        // the same chain and account with another session is another entry
        let mut list = entries(2);
        list.push(MultichainEntry {
            session_id: B256::ZERO,
            ..list[0]
        });
        assert!(MultichainEnable::new(list).is_ok());
    }

    #[test]
    fn multichain_mode_encodes_as_the_validator_reads() {
        let session = Session {
            signer: Address::repeat_byte(0x11),
            ..Default::default()
        };
        let proof = vec![B256::repeat_byte(0xaa), B256::repeat_byte(0xbb)];
        let owner = [VALIDATOR.as_slice(), &[0x77; 65]].concat();
        let signature = SessionSignature {
            session_signature: vec![0x99; 65],
            ..SessionSignature::enable_multichain(
                session.clone(),
                proof.clone(),
                owner.clone(),
                vec![CallEntry::SelfRevocation],
            )
        };
        let bytes = signature.encode().unwrap();
        assert_eq!(bytes.len(), signature.encoded_len());
        let mut expected = vec![MODE_ENABLE_MULTICHAIN];
        expected.extend_from_slice(&encode_session(&session));
        expected.push(2);
        expected.extend_from_slice(&[0xaa; 32]);
        expected.extend_from_slice(&[0xbb; 32]);
        expected.extend_from_slice(&(owner.len() as u16).to_be_bytes());
        expected.extend_from_slice(&owner);
        // one call, its empty permission, then the session signature (the rest)
        expected.extend_from_slice(&[1, 0, 0]);
        expected.extend_from_slice(&[0x99; 65]);
        assert_eq!(bytes, expected);
        assert_eq!(SessionSignature::decode(&bytes).unwrap(), signature);

        // the dummy keeps the proof and the owner signature's prefix, and has the same length
        let dummy = signature.to_dummy();
        assert_eq!(dummy.encoded_len(), signature.encoded_len());
        assert_eq!(
            dummy.mode,
            Mode::EnableMultichain {
                chain_proof: proof,
                owner_signature: [VALIDATOR.as_slice(), dummy_ecdsa_signature()].concat(),
            }
        );
        assert_eq!(
            SessionSignature::decode(&dummy.encode().unwrap()).unwrap(),
            dummy
        );

        // an empty proof (a tree of one entry)
        let single = SessionSignature::enable_multichain(
            session.clone(),
            Vec::new(),
            owner.clone(),
            vec![CallEntry::SelfRevocation],
        );
        let bytes = single.encode().unwrap();
        assert_eq!(bytes[1 + SESSION_LENGTH], 0);
        assert_eq!(SessionSignature::decode(&bytes).unwrap(), single);

        // a truncated proof
        assert!(matches!(
            SessionSignature::decode(&expected[..1 + SESSION_LENGTH + 1 + 40]),
            Err(Error::Truncated { .. })
        ));
        // too long a proof for its one-byte length
        let long = SessionSignature::enable_multichain(
            session,
            vec![B256::ZERO; 256],
            owner,
            vec![CallEntry::SelfRevocation],
        );
        assert!(matches!(
            long.encode(),
            Err(Error::TooLong {
                field: "chain proof",
                ..
            })
        ));
    }

    #[test]
    fn framing_reads_as_the_validator_does() {
        let data = [0x00, 0x02, 0xaa, 0xbb, 0x07];
        assert_eq!(take(&data, 0, 5).unwrap(), 5);
        assert_eq!(take(&data, 5, 0).unwrap(), 5);
        assert!(matches!(
            take(&data, 4, 2),
            Err(Error::Truncated {
                offset: 4,
                needed: 2
            })
        ));
        assert!(matches!(
            take(&data, 6, 0),
            Err(Error::Truncated {
                offset: 6,
                needed: 0
            })
        ));
        assert_eq!(take_uint(&data, 0, 2).unwrap(), (2, 2));
        assert_eq!(take_prefixed(&data, 0, 2).unwrap(), (2..4, 4));
        assert_eq!(take_prefixed(&data, 4, 1).unwrap_err().to_string(), {
            Error::Truncated {
                offset: 5,
                needed: 7,
            }
            .to_string()
        });
    }
}
