//! Session signers' public side: what a session's `signer` address commits to.
//!
//! A session's `signer` is a secp256k1 key's own address, or for the other kinds the commitment
//! `address(uint160(uint256(keccak256(keyBytes))))` to the key bytes the session signature starts with: `0x01 ‖ qx ‖
//! qy` (P-256), `0x02 ‖ qx ‖ qy` (WebAuthn), `0x03 ‖ uint16 threshold ‖ uint8 n ‖ n × (address ‖ uint16 weight)`
//! (a k-of-n weighted multisig, members in ascending address order). `keyscope-signer` signs and verifies.

use alloy_primitives::{keccak256, uint, Address, B256, U256};
use p256::ecdsa::VerifyingKey;
use p256::{EncodedPoint, FieldBytes};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The first byte of a P-256 session signature.
pub const KIND_P256: u8 = 0x01;
/// The first byte of a WebAuthn session signature.
pub const KIND_WEBAUTHN: u8 = 0x02;
/// The first byte of a multisig session signature.
pub const KIND_MULTISIG: u8 = 0x03;
/// Length of the key bytes `kind ‖ qx ‖ qy` of a P-256 or WebAuthn signer.
pub const P256_KEY_LENGTH: usize = 65;
/// Most members of a multisig signer (`SessionSigners.MAX_MULTISIG_MEMBERS`).
pub const MAX_MULTISIG_MEMBERS: usize = 16;
/// One member in the key bytes: address (20) ‖ uint16 weight.
pub const MULTISIG_MEMBER_LENGTH: usize = 22;

/// The key bytes `0x03 ‖ uint16 threshold ‖ uint8 n ‖ n × (address ‖ uint16 weight)` of members already in
/// ascending address order (at most 255 of them; callers validate first).
pub fn multisig_key_bytes(threshold: u16, members: &[(Address, u16)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + MULTISIG_MEMBER_LENGTH * members.len());
    out.push(KIND_MULTISIG);
    out.extend_from_slice(&threshold.to_be_bytes());
    out.push(members.len() as u8);
    for (address, weight) in members {
        out.extend_from_slice(address.as_slice());
        out.extend_from_slice(&weight.to_be_bytes());
    }
    out
}

/// The P-256 field prime `p` (OpenZeppelin `P256.P`).
pub const P256_P: U256 =
    uint!(0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF_U256);
/// The address committing to key bytes: the low 20 bytes of their keccak256.
pub fn commitment(key_bytes: &[u8]) -> Address {
    Address::from_slice(&keccak256(key_bytes)[12..])
}

/// The kind of a session signer, or of the signature found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SignerKind {
    /// A secp256k1 key (65-byte `r ‖ s ‖ v`).
    Secp256k1,
    /// A P-256 key (`0x01`).
    P256,
    /// A WebAuthn P-256 credential (`0x02`).
    WebAuthn,
    /// A k-of-n weighted multisig (`0x03`).
    Multisig,
    /// Empty, or an unknown kind byte.
    Unknown,
}

impl core::fmt::Display for SignerKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Secp256k1 => "secp256k1",
            Self::P256 => "P-256",
            Self::WebAuthn => "WebAuthn",
            Self::Multisig => "multisig",
            Self::Unknown => "unknown",
        })
    }
}
/// The public description of a session signer: what a session commits to (through [`Self::address`]) and what
/// the SDK shows. Serialized as `{"kind":"secp256k1","address":…}`, `{"kind":"p256","x":…,"y":…}`,
/// `{"kind":"webAuthn","x":…,"y":…}` or `{"kind":"multisig","threshold":…,"members":[{"weight":…,"signer":…}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum SignerKey {
    /// A secp256k1 key, by its address.
    Secp256k1 {
        /// The key's address.
        address: Address,
    },
    /// A P-256 key.
    P256 {
        /// The public key's x.
        x: B256,
        /// The public key's y.
        y: B256,
    },
    /// A WebAuthn P-256 credential (its rp id and origin are not committed: the validator does not check them).
    /// Read as `webAuthn` or `webauthn`.
    #[serde(alias = "webauthn")]
    WebAuthn {
        /// The public key's x.
        x: B256,
        /// The public key's y.
        y: B256,
    },
    /// A k-of-n weighted multisig of non-multisig signers.
    Multisig {
        /// The weight the signers must reach.
        threshold: u16,
        /// The members, in any order (the key bytes sort them by address).
        members: Vec<MultisigMember>,
    },
}

/// A member of a multisig [`SignerKey`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultisigMember {
    /// The member's weight (above zero).
    pub weight: u16,
    /// The member's key (not a multisig).
    pub signer: SignerKey,
}

impl SignerKey {
    /// The kind.
    pub fn kind(&self) -> SignerKind {
        match self {
            Self::Secp256k1 { .. } => SignerKind::Secp256k1,
            Self::P256 { .. } => SignerKind::P256,
            Self::WebAuthn { .. } => SignerKind::WebAuthn,
            Self::Multisig { .. } => SignerKind::Multisig,
        }
    }

    /// Checks what the validator requires of the key: P-256 coordinates below `p` and on the curve; for a
    /// multisig 1 to [`MAX_MULTISIG_MEMBERS`] members, none a multisig, each valid, of weight above zero, of
    /// distinct addresses, and a threshold from 1 to the total weight.
    pub fn validate(&self) -> Result<()> {
        self.sorted_members().map(|_| ())
    }

    /// For a multisig, its members' `(address, weight)` in ascending address order, validated.
    fn sorted_members(&self) -> Result<Vec<(Address, u16)>> {
        match self {
            Self::Secp256k1 { .. } => Ok(Vec::new()),
            Self::P256 { x, y } | Self::WebAuthn { x, y } => {
                check_p256_public_key(x, y).map(|_| Vec::new())
            }
            Self::Multisig { threshold, members } => {
                let weights = members
                    .iter()
                    .map(|member| (member.weight, &member.signer))
                    .collect::<Vec<_>>();
                sorted_members(*threshold, &weights)
            }
        }
    }

    /// The bytes the address commits to: `0x01 ‖ qx ‖ qy` (P-256), `0x02 ‖ qx ‖ qy` (WebAuthn), or
    /// `0x03 ‖ uint16 threshold ‖ uint8 n ‖ n × (address ‖ uint16 weight)` with the members in ascending address
    /// order (multisig: the prefix of its signatures before the signer count). `None` for secp256k1, whose address
    /// is the key's own. The key is validated first.
    pub fn key_bytes(&self) -> Result<Option<Vec<u8>>> {
        let members = self.sorted_members()?;
        Ok(match self {
            Self::Secp256k1 { .. } => None,
            Self::P256 { x, y } => Some(p256_key_bytes(KIND_P256, x, y).to_vec()),
            Self::WebAuthn { x, y } => Some(p256_key_bytes(KIND_WEBAUTHN, x, y).to_vec()),
            Self::Multisig { threshold, .. } => Some(multisig_key_bytes(*threshold, &members)),
        })
    }

    /// The session's `signer` address: a secp256k1 key's address, else the low 20 bytes of
    /// `keccak256(`[`Self::key_bytes`]`)`. The key is validated first: an invalid key has no address the validator
    /// would ever accept a signature for.
    pub fn address(&self) -> Result<Address> {
        let members = self.sorted_members()?;
        Ok(match self {
            Self::Secp256k1 { address } => *address,
            Self::P256 { x, y } => commitment(&p256_key_bytes(KIND_P256, x, y)),
            Self::WebAuthn { x, y } => commitment(&p256_key_bytes(KIND_WEBAUTHN, x, y)),
            Self::Multisig { threshold, .. } => {
                commitment(&multisig_key_bytes(*threshold, &members))
            }
        })
    }

    /// The key in words, for consent screens: `a secp256k1 key`, `a P-256 key`, `a passkey (WebAuthn P-256)`,
    /// `a multisig: 2 of 3 keys must sign` (`keys of total weight 3 of 5 must sign` when the weights are not all 1).
    pub fn description(&self) -> String {
        match self {
            Self::Secp256k1 { .. } => "a secp256k1 key".into(),
            Self::P256 { .. } => "a P-256 key".into(),
            Self::WebAuthn { .. } => "a passkey (WebAuthn P-256)".into(),
            Self::Multisig { threshold, members } => {
                let kinds = members
                    .iter()
                    .map(|member| member.signer.kind())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .map(|kind| kind.to_string())
                    .collect::<Vec<_>>()
                    .join(" and ");
                if members.iter().all(|member| member.weight == 1) {
                    format!(
                        "a multisig: {threshold} of {} {kinds} keys must sign",
                        members.len()
                    )
                } else {
                    let total: u32 = members.iter().map(|m| u32::from(m.weight)).sum();
                    format!(
                        "a multisig: {kinds} keys of total weight {threshold} of {total} must sign ({} keys)",
                        members.len()
                    )
                }
            }
        }
    }

    /// The same key with a multisig's members in ascending address order (the order of its key bytes).
    pub fn canonical(&self) -> Result<Self> {
        self.validate()?;
        Ok(match self {
            Self::Multisig { threshold, members } => {
                let mut keyed = members
                    .iter()
                    .map(|member| Ok((member.signer.address()?, member.clone())))
                    .collect::<Result<Vec<_>>>()?;
                keyed.sort_by_key(|(address, _)| *address);
                Self::Multisig {
                    threshold: *threshold,
                    members: keyed.into_iter().map(|(_, member)| member).collect(),
                }
            }
            other => other.clone(),
        })
    }
}

/// The key bytes `kind ‖ qx ‖ qy` of a P-256 or WebAuthn signer (`kind` [`KIND_P256`] or [`KIND_WEBAUTHN`]).
pub fn p256_key_bytes(kind: u8, x: &B256, y: &B256) -> [u8; P256_KEY_LENGTH] {
    let mut out = [0u8; P256_KEY_LENGTH];
    out[0] = kind;
    out[1..33].copy_from_slice(x.as_slice());
    out[33..65].copy_from_slice(y.as_slice());
    out
}

/// Validates a multisig's `(weight, member key)` list and returns `(address, weight)` in ascending address order.
pub fn sorted_members(
    threshold: u16,
    members: &[(u16, &SignerKey)],
) -> Result<Vec<(Address, u16)>> {
    if members.is_empty() {
        return Err(Error::EmptyMultisig);
    }
    if members.len() > MAX_MULTISIG_MEMBERS {
        return Err(Error::TooManyMembers {
            count: members.len(),
            max: MAX_MULTISIG_MEMBERS,
        });
    }
    let mut sorted = Vec::with_capacity(members.len());
    for (index, (weight, signer)) in members.iter().enumerate() {
        if signer.kind() == SignerKind::Multisig {
            return Err(Error::NestedMultisig { member: index });
        }
        if *weight == 0 {
            return Err(Error::ZeroWeight { member: index });
        }
        sorted.push((signer.address()?, *weight));
    }
    sorted.sort_by_key(|(address, _)| *address);
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(Error::DuplicateMember { address: pair[0].0 });
    }
    if threshold == 0 {
        return Err(Error::ZeroThreshold);
    }
    let total: u32 = sorted.iter().map(|(_, weight)| u32::from(*weight)).sum();
    if u32::from(threshold) > total {
        return Err(Error::ThresholdAboveWeight { threshold, total });
    }
    Ok(sorted)
}

/// Checks a public key as OpenZeppelin `P256.isValidPublicKey` does: both coordinates below `p`, on the curve.
pub fn check_p256_public_key(x: &B256, y: &B256) -> Result<()> {
    p256_verifying_key(x, y).map(|_| ())
}

/// The P-256 verifying key of `(x, y)`, checked as [`check_p256_public_key`] does.
pub fn p256_verifying_key(x: &B256, y: &B256) -> Result<VerifyingKey> {
    if U256::from_be_bytes(x.0) >= P256_P {
        return Err(Error::P256CoordinateOutOfRange { coordinate: "x" });
    }
    if U256::from_be_bytes(y.0) >= P256_P {
        return Err(Error::P256CoordinateOutOfRange { coordinate: "y" });
    }
    let point = EncodedPoint::from_affine_coordinates(
        FieldBytes::from_slice(x.as_slice()),
        FieldBytes::from_slice(y.as_slice()),
        false,
    );
    VerifyingKey::from_encoded_point(&point).map_err(|_| Error::P256NotOnCurve)
}
