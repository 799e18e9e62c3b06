//! Session signer kinds beyond secp256k1: P-256 keys, WebAuthn credentials (passkeys), and k-of-n weighted
//! multisigs of those, as the validator's `SessionSigners` library checks them.
//!
//! A session's `signer` is an address: a secp256k1 key's own address, or for the other kinds the commitment
//! `address(uint160(uint256(keccak256(keyBytes))))` to the key bytes the signature starts with. The session
//! signature over the raw userOpHash `h` (integers big-endian, no padding) is:
//!
//! ```text
//! secp256k1  r ‖ s ‖ v                                  exactly 65 bytes (any 65-byte signature is this kind)
//! P-256      0x01 ‖ qx ‖ qy ‖ r ‖ s                     exactly 129 bytes; key bytes = the first 65
//! WebAuthn   0x02 ‖ qx ‖ qy ‖ WebAuthnAuth's fields     ABI-encoded head and tails, no leading offset word
//!                                                       (see WebAuthnAuth); key bytes = the first 65
//! multisig   0x03 ‖ uint16 threshold ‖ uint8 n ‖ n × (address member ‖ uint16 weight)
//!            ‖ uint8 k ‖ k × (uint8 memberIndex ‖ uint16 length ‖ bytes subSignature[length])
//!                                                       key bytes = everything before k
//! ```
//!
//! [`verify_session_signature`] is the bit-exact mirror of the on-chain rule; [`SessionSigner`] signs;
//! [`SignerKey`] is the public description a session commits to, and [`dummy_signature_for`] makes from it (and a
//! [`DummyShape`]) the same dummy signature as the secret signer's, for gas estimation when the signer signs elsewhere.

mod multisig;
mod p256;
mod webauthn;

use alloy_primitives::{Address, B256};
pub use keyscope_permissions::signer_key::{
    check_p256_public_key, commitment, MultisigMember, SignerKey, SignerKind, KIND_MULTISIG,
    KIND_P256, KIND_WEBAUTHN, MAX_MULTISIG_MEMBERS, MULTISIG_MEMBER_LENGTH, P256_KEY_LENGTH,
    P256_P,
};
use keyscope_permissions::signer_key::{multisig_key_bytes, p256_key_bytes, sorted_members};
use serde::{Deserialize, Serialize};

pub use self::p256::{p256_public_key_from_sec1, p256_verify, P256Key, P256_HALF_N, P256_N};
pub use self::webauthn::{
    WebAuthnAuth, WebAuthnAuthenticator, DEFAULT_ORIGIN, DEFAULT_RP_ID, FLAG_BE, FLAG_BS, FLAG_UP,
    FLAG_UV,
};
use crate::error::{Error, Result};
use crate::key::SessionKey;
use crate::wire::{dummy_ecdsa_signature, ECDSA_SIGNATURE_LENGTH};

/// Length of a P-256 session signature `0x01 ‖ qx ‖ qy ‖ r ‖ s`.
pub const P256_SIGNATURE_LENGTH: usize = 129;

/// The verdict of [`verify_session_signature`]: the kind found, whether the signature is valid, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    /// The kind the signature's length and first byte say.
    pub kind: SignerKind,
    /// Whether the validator accepts it.
    pub valid: bool,
    /// Why it does not (`None` when valid); for a multisig, every reason found, joined by `"; "`.
    pub reason: Option<String>,
}

impl SignatureCheck {
    fn valid(kind: SignerKind) -> Self {
        Self {
            kind,
            valid: true,
            reason: None,
        }
    }

    fn invalid(kind: SignerKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            valid: false,
            reason: Some(reason.into()),
        }
    }

    /// Whether the validator accepts the signature.
    pub fn is_valid(&self) -> bool {
        self.valid
    }
}

impl core::fmt::Display for SignatureCheck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.reason {
            None if self.valid => write!(f, "valid {} signature", self.kind),
            reason => write!(
                f,
                "invalid {} signature: {}",
                self.kind,
                reason.as_deref().unwrap_or("invalid")
            ),
        }
    }
}

/// Whether `signature` is `signer`'s session signature over `hash`: the bit-exact mirror of the validator's
/// `SessionSigners.isValid(hash, signer, signature)` (OpenZeppelin 5.7 `ECDSA.tryRecoverCalldata`, `P256.verify`,
/// `WebAuthn.tryDecodeAuth` and `WebAuthn.verify` with user verification not required). Never panics.
pub fn verify_session_signature(hash: &B256, signer: Address, signature: &[u8]) -> SignatureCheck {
    if signature.len() == ECDSA_SIGNATURE_LENGTH {
        return verify_ecdsa(hash, signer, signature);
    }
    match signature.first() {
        None => SignatureCheck::invalid(SignerKind::Unknown, "empty signature"),
        Some(&KIND_MULTISIG) => multisig::verify(hash, signer, signature),
        Some(_) => verify_single_key(hash, signer, signature),
    }
}

fn verify_ecdsa(hash: &B256, signer: Address, signature: &[u8]) -> SignatureCheck {
    match crate::key::recover(hash, signature) {
        Ok(recovered) if recovered == signer => SignatureCheck::valid(SignerKind::Secp256k1),
        Ok(recovered) => SignatureCheck::invalid(
            SignerKind::Secp256k1,
            format!("recovers to {recovered}, not the session signer {signer}"),
        ),
        Err(error) => SignatureCheck::invalid(SignerKind::Secp256k1, error.to_string()),
    }
}

fn kind_of(byte: u8) -> SignerKind {
    match byte {
        KIND_P256 => SignerKind::P256,
        KIND_WEBAUTHN => SignerKind::WebAuthn,
        KIND_MULTISIG => SignerKind::Multisig,
        _ => SignerKind::Unknown,
    }
}

/// `SessionSigners._isValidSingleKey`: a secp256k1, P-256 or WebAuthn signature (also each multisig
/// sub-signature; a multisig there is invalid).
fn verify_single_key(hash: &B256, signer: Address, signature: &[u8]) -> SignatureCheck {
    if signature.len() == ECDSA_SIGNATURE_LENGTH {
        return verify_ecdsa(hash, signer, signature);
    }
    let Some(&first) = signature.first() else {
        return SignatureCheck::invalid(SignerKind::Unknown, "empty signature");
    };
    let kind = kind_of(first);
    if signature.len() < P256_KEY_LENGTH {
        return SignatureCheck::invalid(
            kind,
            format!(
                "{} bytes: too short for any signature kind",
                signature.len()
            ),
        );
    }
    match kind {
        SignerKind::P256 | SignerKind::WebAuthn => {}
        SignerKind::Multisig => {
            return SignatureCheck::invalid(kind, "a multisig cannot sign as a multisig member")
        }
        _ => return SignatureCheck::invalid(kind, format!("unknown signer kind 0x{first:02x}")),
    }
    let mut issues = Vec::new();
    let committed = commitment(&signature[..P256_KEY_LENGTH]);
    if committed != signer {
        issues.push(format!(
            "key commitment {committed} is not the session signer {signer}"
        ));
    }
    let x = B256::from_slice(&signature[1..33]);
    let y = B256::from_slice(&signature[33..65]);
    let verdict = if kind == SignerKind::P256 {
        if signature.len() != P256_SIGNATURE_LENGTH {
            return SignatureCheck::invalid(
                kind,
                format!(
                    "P-256 signature is {} bytes, expected {P256_SIGNATURE_LENGTH}",
                    signature.len()
                ),
            );
        }
        let r = B256::from_slice(&signature[65..97]);
        let s = B256::from_slice(&signature[97..129]);
        p256_verify(hash, &r, &s, &x, &y)
    } else {
        match WebAuthnAuth::decode(&signature[P256_KEY_LENGTH..]) {
            Ok(auth) => auth.verify(hash, &x, &y),
            Err(reason) => return SignatureCheck::invalid(kind, format!("malformed: {reason}")),
        }
    };
    if let Err(reason) = verdict {
        issues.push(reason);
    }
    if issues.is_empty() {
        SignatureCheck::valid(kind)
    } else {
        SignatureCheck::invalid(kind, issues.join("; "))
    }
}

/// A session signer's secret side: signs the raw userOpHash into the session signature bytes the validator reads.
#[derive(Debug, Clone)]
pub enum SessionSigner {
    /// A secp256k1 session key.
    Secp256k1(SessionKey),
    /// A P-256 key.
    P256(P256Key),
    /// A WebAuthn credential (a software authenticator).
    WebAuthn(WebAuthnAuthenticator),
    /// A k-of-n weighted multisig. Build it with [`SessionSigner::multisig`], which validates it and sorts the
    /// members by address; member indices (as in [`SessionSigner::sign_with`]) are positions in `members`.
    Multisig {
        /// The weight the signers must reach.
        threshold: u16,
        /// `(weight, signer)` of each member; no member is a multisig.
        members: Vec<(u16, SessionSigner)>,
    },
}

impl From<SessionKey> for SessionSigner {
    fn from(key: SessionKey) -> Self {
        Self::Secp256k1(key)
    }
}

impl From<P256Key> for SessionSigner {
    fn from(key: P256Key) -> Self {
        Self::P256(key)
    }
}

impl From<WebAuthnAuthenticator> for SessionSigner {
    fn from(authenticator: WebAuthnAuthenticator) -> Self {
        Self::WebAuthn(authenticator)
    }
}

impl SessionSigner {
    /// A multisig of `(weight, signer)` members, validated as [`SignerKey::validate`] does (so no nested multisig,
    /// no duplicate, no zero weight, a reachable threshold), its members sorted by address.
    pub fn multisig(threshold: u16, members: Vec<(u16, SessionSigner)>) -> Result<Self> {
        let key = SignerKey::Multisig {
            threshold,
            members: member_keys(&members),
        };
        key.validate()?;
        let mut keyed = members
            .into_iter()
            .map(|(weight, member)| Ok((member.address()?, (weight, member))))
            .collect::<Result<Vec<_>>>()?;
        keyed.sort_by_key(|(address, _)| *address);
        Ok(Self::Multisig {
            threshold,
            members: keyed.into_iter().map(|(_, member)| member).collect(),
        })
    }

    /// The kind.
    pub fn kind(&self) -> SignerKind {
        match self {
            Self::Secp256k1(_) => SignerKind::Secp256k1,
            Self::P256(_) => SignerKind::P256,
            Self::WebAuthn(_) => SignerKind::WebAuthn,
            Self::Multisig { .. } => SignerKind::Multisig,
        }
    }

    /// The public description (members in `members`' order).
    pub fn key(&self) -> SignerKey {
        match self {
            Self::Secp256k1(key) => SignerKey::Secp256k1 {
                address: key.address(),
            },
            Self::P256(key) => {
                let (x, y) = key.public();
                SignerKey::P256 { x, y }
            }
            Self::WebAuthn(authenticator) => {
                let (x, y) = authenticator.public();
                SignerKey::WebAuthn { x, y }
            }
            Self::Multisig { threshold, members } => SignerKey::Multisig {
                threshold: *threshold,
                members: member_keys(members),
            },
        }
    }

    /// The session's `signer` address ([`SignerKey::address`]).
    pub fn address(&self) -> Result<Address> {
        match self {
            Self::Secp256k1(key) => Ok(key.address()),
            other => Ok(other.key().address()?),
        }
    }

    /// The session signature over the raw `hash`; a multisig's by all its members.
    pub fn sign(&self, hash: &B256) -> Result<Vec<u8>> {
        match self {
            Self::Multisig { threshold, members } => {
                secret_multisig_signature(*threshold, members, None, Some(hash))
            }
            single => single_signature(single, Some(hash)),
        }
    }

    /// A multisig's session signature over `hash` by the members at these positions of `members` (any order,
    /// each once, at least one; their weights need not reach the threshold, for tests).
    pub fn sign_with(&self, hash: &B256, which: &[usize]) -> Result<Vec<u8>> {
        match self {
            Self::Multisig { threshold, members } => {
                secret_multisig_signature(*threshold, members, Some(which), Some(hash))
            }
            _ => Err(Error::NotMultisig),
        }
    }

    /// Bytes of exactly the length, kind and shape of [`Self::sign`]'s, well-formed (the key and commitment real,
    /// every value in range, so the validator runs every check and pays its full gas), that verify for no hash:
    /// for gas estimation. secp256k1: [`dummy_ecdsa_signature`]; P-256 and WebAuthn: a fixed `(r, s)` that no
    /// key's signature can be; multisig: every member's dummy.
    pub fn dummy_signature(&self) -> Result<Vec<u8>> {
        match self {
            Self::Multisig { threshold, members } => {
                secret_multisig_signature(*threshold, members, None, None)
            }
            single => single_signature(single, None),
        }
    }

    /// [`Self::dummy_signature`] of the length of [`Self::sign_with`]`(_, which)`'s.
    pub fn dummy_signature_with(&self, which: &[usize]) -> Result<Vec<u8>> {
        match self {
            Self::Multisig { threshold, members } => {
                secret_multisig_signature(*threshold, members, Some(which), None)
            }
            _ => Err(Error::NotMultisig),
        }
    }
}

/// What a session signer's dummy signature depends on beyond its public key ([`SignerKey`]): for gas estimation
/// without the signer's secret ([`dummy_signature_for`]). Serialized as `{"rpId"?, "origin"?, "flags"?,
/// "members"?}`; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DummyShape {
    /// WebAuthn (also a multisig's WebAuthn members): the relying party id the authenticator uses
    /// ([`DEFAULT_RP_ID`] when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_id: Option<String>,
    /// WebAuthn (also a multisig's WebAuthn members): the origin the client data names ([`DEFAULT_ORIGIN`] when
    /// `None`); its length is the signature's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// WebAuthn: the authenticator data flags ([`FLAG_UP`] | [`FLAG_UV`] when `None`); they change no length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<u8>,
    /// Multisig: the positions in the key's `members` of the members who will sign (any order, each once, at
    /// least one), as [`SessionSigner::dummy_signature_with`] takes them; all members when `None`. Only for a
    /// multisig ([`Error::NotMultisig`] otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<usize>>,
}

impl DummyShape {
    /// The WebAuthn relying party id.
    pub fn rp_id(&self) -> &str {
        self.rp_id.as_deref().unwrap_or(DEFAULT_RP_ID)
    }

    /// The WebAuthn origin.
    pub fn origin(&self) -> &str {
        self.origin.as_deref().unwrap_or(DEFAULT_ORIGIN)
    }

    /// The WebAuthn authenticator data flags.
    pub fn flags(&self) -> u8 {
        self.flags.unwrap_or(FLAG_UP | FLAG_UV)
    }

    /// The shape of `signer`'s own dummy: a WebAuthn authenticator's rp id, origin and flags.
    fn of(signer: &SessionSigner) -> Self {
        match signer {
            SessionSigner::WebAuthn(authenticator) => Self {
                rp_id: Some(authenticator.rp_id().to_owned()),
                origin: Some(authenticator.origin().to_owned()),
                flags: Some(authenticator.flags()),
                members: None,
            },
            _ => Self::default(),
        }
    }
}

/// The dummy session signature of the signer `key` describes, from its public side only: byte for byte
/// [`SessionSigner::dummy_signature`] (or, with `shape.members`, [`SessionSigner::dummy_signature_with`]) of the
/// matching secret signer, when `shape` says its WebAuthn rp id, origin and flags (a multisig's WebAuthn members
/// all take `shape`'s). For estimating a session operation's gas when the signer signs elsewhere. A key
/// [`SignerKey::validate`] refuses, `shape.members` for a signer that is not a multisig, or members out of range,
/// repeated or none, are errors.
pub fn dummy_signature_for(key: &SignerKey, shape: &DummyShape) -> Result<Vec<u8>> {
    key.validate()?;
    match key {
        SignerKey::Multisig { threshold, members } => {
            let keys = members
                .iter()
                .map(|member| (member.weight, member.signer.clone()))
                .collect::<Vec<_>>();
            multisig_signature(*threshold, &keys, shape.members.as_deref(), |position| {
                single_dummy(&keys[position].1, shape)
            })
        }
        _ if shape.members.is_some() => Err(Error::NotMultisig),
        single => single_dummy(single, shape),
    }
}

/// A P-256 or WebAuthn session signature: the key bytes `kind ‖ qx ‖ qy`, then `body`.
fn keyed_signature(kind: u8, x: &B256, y: &B256, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(P256_KEY_LENGTH + body.len());
    out.extend_from_slice(&p256_key_bytes(kind, x, y));
    out.extend_from_slice(body);
    out
}

/// A non-multisig signer's dummy signature, from its public side and shape.
fn single_dummy(key: &SignerKey, shape: &DummyShape) -> Result<Vec<u8>> {
    Ok(match key {
        SignerKey::Secp256k1 { .. } => dummy_ecdsa_signature().to_vec(),
        SignerKey::P256 { x, y } => keyed_signature(
            KIND_P256,
            x,
            y,
            &[
                self::p256::DUMMY_R.as_slice(),
                self::p256::DUMMY_S.as_slice(),
            ]
            .concat(),
        ),
        SignerKey::WebAuthn { x, y } => keyed_signature(
            KIND_WEBAUTHN,
            x,
            y,
            &self::webauthn::dummy_assertion(shape.rp_id(), shape.origin(), shape.flags()).encode(),
        ),
        SignerKey::Multisig { .. } => {
            return Err(keyscope_permissions::Error::NestedMultisig { member: 0 }.into())
        }
    })
}

/// A non-multisig signer's signature over `hash`, or its dummy when `hash` is `None`.
fn single_signature(signer: &SessionSigner, hash: Option<&B256>) -> Result<Vec<u8>> {
    let Some(hash) = hash else {
        return single_dummy(&signer.key(), &DummyShape::of(signer));
    };
    Ok(match signer {
        SessionSigner::Secp256k1(key) => key.sign_hash_bytes(hash)?.to_vec(),
        SessionSigner::P256(key) => {
            let (x, y) = key.public();
            let (r, s) = key.sign_prehash(hash)?;
            keyed_signature(KIND_P256, &x, &y, &[r.as_slice(), s.as_slice()].concat())
        }
        SessionSigner::WebAuthn(authenticator) => {
            let (x, y) = authenticator.public();
            let auth = authenticator.assert(hash)?;
            keyed_signature(KIND_WEBAUTHN, &x, &y, &auth.encode())
        }
        SessionSigner::Multisig { .. } => {
            return Err(keyscope_permissions::Error::NestedMultisig { member: 0 }.into())
        }
    })
}

/// A multisig's signature by the members `which` (all when `None`) of `members` (`(weight, key)`, in any order),
/// each member's sub-signature `sub(its position in members)`.
fn multisig_signature(
    threshold: u16,
    members: &[(u16, SignerKey)],
    which: Option<&[usize]>,
    mut sub: impl FnMut(usize) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let sorted = sorted_members(
        threshold,
        &members
            .iter()
            .map(|(weight, key)| (*weight, key))
            .collect::<Vec<_>>(),
    )?;
    let mut chosen = vec![which.is_none(); members.len()];
    for &index in which.unwrap_or_default() {
        match chosen.get_mut(index) {
            None => {
                return Err(Error::MemberIndexOutOfRange {
                    index,
                    count: members.len(),
                })
            }
            Some(true) => return Err(Error::DuplicateMemberIndex { index }),
            Some(slot) => *slot = true,
        }
    }
    if which.is_some_and(|which| which.is_empty()) {
        return Err(Error::NoMemberSelected);
    }
    // each member's position in `members`, in ascending address order
    let mut positions = (0..members.len()).collect::<Vec<_>>();
    let addresses = members
        .iter()
        .map(|(_, key)| key.address())
        .collect::<Result<Vec<_>, _>>()?;
    positions.sort_by_key(|&position| addresses[position]);

    let mut out = multisig_key_bytes(threshold, &sorted);
    out.push(chosen.iter().filter(|chosen| **chosen).count() as u8);
    for (index, &position) in positions.iter().enumerate() {
        if !chosen[position] {
            continue;
        }
        let sub = sub(position)?;
        let length = u16::try_from(sub.len()).map_err(|_| Error::TooLong {
            field: "multisig sub-signature",
            length: sub.len(),
            max: usize::from(u16::MAX),
        })?;
        out.push(index as u8);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&sub);
    }
    Ok(out)
}

/// `(weight, key)` of a multisig's members.
fn weighted_keys(members: &[(u16, SessionSigner)]) -> Vec<(u16, SignerKey)> {
    members
        .iter()
        .map(|(weight, signer)| (*weight, signer.key()))
        .collect()
}

/// A multisig's signature by the members `which` (all when `None`), over `hash` (dummies when `None`).
fn secret_multisig_signature(
    threshold: u16,
    members: &[(u16, SessionSigner)],
    which: Option<&[usize]>,
    hash: Option<&B256>,
) -> Result<Vec<u8>> {
    multisig_signature(threshold, &weighted_keys(members), which, |position| {
        single_signature(&members[position].1, hash)
    })
}

/// The public description of multisig members.
fn member_keys(members: &[(u16, SessionSigner)]) -> Vec<MultisigMember> {
    members
        .iter()
        .map(|(weight, signer)| MultisigMember {
            weight: *weight,
            signer: signer.key(),
        })
        .collect()
}
