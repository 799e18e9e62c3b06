//! P-256 (secp256r1) keys, and OpenZeppelin `P256.verify`'s rule over a raw 32-byte hash.

use ::p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use ::p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use ::p256::FieldBytes;
use alloy_primitives::{uint, B256, U256};
use rand_core::{CryptoRngCore, OsRng};
use zeroize::{Zeroize as _, Zeroizing};

use keyscope_permissions::signer_key::{check_p256_public_key, p256_verifying_key};
use keyscope_permissions::Error as PermissionsError;

use crate::error::{Error, Result};

/// The P-256 group order `n` (OpenZeppelin `P256.N`).
pub const P256_N: U256 =
    uint!(0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551_U256);
/// `n / 2`: the largest low `s` (OpenZeppelin `P256.HALF_N`).
pub const P256_HALF_N: U256 =
    uint!(0x7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8_U256);

/// The `r` of dummy P-256 signatures: below `n` and above `p − n`, and not the x-coordinate of any curve point,
/// so no hash and no key make `(DUMMY_R, s)` verify (the only candidate x for `r` is `r` itself, which is off the
/// curve), while every range check passes and the full verification runs.
pub(crate) const DUMMY_R: B256 =
    alloy_primitives::b256!("d9157d7eef97be757e487b52a4ffd81863b08a71422317fb58462355c97a41f3");
/// The `s` of dummy P-256 signatures: nonzero and low.
pub(crate) const DUMMY_S: B256 =
    alloy_primitives::b256!("2077ae7af9d064a2ba0e167dec89ac0facb4038f45697fe8d8ac48336829c5fd");

/// A P-256 (secp256r1) signing key: a session signer whose signature the validator checks with OpenZeppelin's
/// `P256.verify` (the EIP-7951 / RIP-7212 precompile, or Solidity).
///
/// It never prints its secret: `Debug` shows only the public key. The secret is erased from memory on drop (p256's
/// `SigningKey` zeroizes itself). Signing is deterministic (RFC 6979) and gives low `s`.
#[derive(Clone)]
pub struct P256Key {
    signing: SigningKey,
    x: B256,
    y: B256,
}

impl core::fmt::Debug for P256Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("P256Key")
            .field("x", &self.x)
            .field("y", &self.y)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl P256Key {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        Self::generate_with(&mut OsRng)
    }

    /// A new random key from `rng`.
    pub fn generate_with(rng: &mut impl CryptoRngCore) -> Self {
        Self::from_signing_key(SigningKey::random(rng))
    }

    /// The key with this 32-byte secret (big-endian scalar, nonzero and below `n`).
    pub fn from_bytes(secret: &[u8; 32]) -> Result<Self> {
        let signing = SigningKey::from_bytes(FieldBytes::from_slice(secret))
            .map_err(|_| Error::InvalidP256Key)?;
        Ok(Self::from_signing_key(signing))
    }

    /// The key of a `0x`-prefixed (or bare) hex secret.
    pub fn from_hex(text: &str) -> Result<Self> {
        let bytes = Zeroizing::new(
            alloy_primitives::hex::decode(text.trim()).map_err(|_| Error::InvalidP256Key)?,
        );
        let secret: Zeroizing<[u8; 32]> = Zeroizing::new(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| Error::InvalidP256Key)?,
        );
        Self::from_bytes(&secret)
    }

    fn from_signing_key(signing: SigningKey) -> Self {
        let point = signing.verifying_key().to_encoded_point(false);
        // an uncompressed encoding of a (never identity) public key always has both coordinates
        let x = point.x().map(|x| B256::from_slice(x)).unwrap_or_default();
        let y = point.y().map(|y| B256::from_slice(y)).unwrap_or_default();
        Self { signing, x, y }
    }

    /// The public key's affine coordinates `(qx, qy)`, big-endian.
    pub fn public(&self) -> (B256, B256) {
        (self.x, self.y)
    }

    /// The 32-byte secret, wiped when dropped. Handle with care.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut bytes = self.signing.to_bytes();
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&bytes);
        bytes.as_mut_slice().zeroize();
        out
    }

    /// Signs a raw 32-byte hash, used directly as the ECDSA message digest (no SHA-256 over it): deterministic
    /// (RFC 6979), `s` normalised to low. Returns `(r, s)`.
    pub fn sign_prehash(&self, hash: &B256) -> Result<(B256, B256)> {
        let signature: Signature = self
            .signing
            .sign_prehash(hash.as_slice())
            .map_err(|e| Error::Signing(e.to_string()))?;
        let signature = signature.normalize_s().unwrap_or(signature);
        let (r, s) = signature.split_bytes();
        Ok((B256::from_slice(&r), B256::from_slice(&s)))
    }
}

/// The affine coordinates `(qx, qy)` of a P-256 public key in SEC1 encoding: 33 bytes compressed (`0x02`/`0x03`
/// ‖ x) or 65 bytes uncompressed (`0x04` ‖ x ‖ y), checked as [`check_p256_public_key`] does (coordinates below
/// `p`, a point of the curve, not the identity). For keys given by wallets, WebAuthn credentials or `did:key`.
/// Never panics: any other length or leading byte is `P256NotOnCurve` (a [`keyscope_permissions::Error`]).
pub fn p256_public_key_from_sec1(bytes: &[u8]) -> Result<(B256, B256)> {
    match bytes {
        [0x04, point @ ..] if point.len() == 64 => {
            let x = B256::from_slice(&point[..32]);
            let y = B256::from_slice(&point[32..]);
            check_p256_public_key(&x, &y)?;
            Ok((x, y))
        }
        [0x02 | 0x03, x @ ..] if x.len() == 32 => {
            let key = VerifyingKey::from_sec1_bytes(bytes)
                .map_err(|_| Error::from(PermissionsError::P256NotOnCurve))?;
            let point = key.to_encoded_point(false);
            match (point.x(), point.y()) {
                (Some(x), Some(y)) => Ok((B256::from_slice(x), B256::from_slice(y))),
                _ => Err(Error::from(PermissionsError::P256NotOnCurve)),
            }
        }
        _ => Err(Error::from(PermissionsError::P256NotOnCurve)),
    }
}

/// OpenZeppelin `P256.verify(h, r, s, qx, qy)`: `0 < r < n`, `0 < s ≤ n/2`, the key valid, and ECDSA verification
/// with `h` as the message digest. `Err` says why not.
pub fn p256_verify(hash: &B256, r: &B256, s: &B256, x: &B256, y: &B256) -> Result<(), String> {
    let r_value = U256::from_be_bytes(r.0);
    let s_value = U256::from_be_bytes(s.0);
    if r_value.is_zero() || r_value >= P256_N {
        return Err(format!("P-256 r {r} is out of range (0 < r < n)"));
    }
    if s_value.is_zero() {
        return Err("P-256 s is 0".into());
    }
    if s_value > P256_HALF_N {
        return Err("high s: P-256 s above n/2".into());
    }
    let key = p256_verifying_key(x, y).map_err(|e| e.to_string())?;
    let signature = Signature::from_scalars(
        *FieldBytes::from_slice(r.as_slice()),
        *FieldBytes::from_slice(s.as_slice()),
    )
    .map_err(|e| format!("P-256 signature: {e}"))?;
    key.verify_prehash(hash.as_slice(), &signature)
        .map_err(|_| "P-256 signature does not verify".to_string())
}
