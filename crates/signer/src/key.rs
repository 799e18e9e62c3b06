//! Session keys: secp256k1 keys that sign raw 32-byte hashes.

use std::sync::OnceLock;

use alloy_primitives::{keccak256, Address, Signature, B256};
use rand_core::{CryptoRngCore, OsRng};
use secp256k1::{Message, PublicKey, Secp256k1, SecretKey, SignOnly};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

fn context() -> &'static Secp256k1<SignOnly> {
    static CONTEXT: OnceLock<Secp256k1<SignOnly>> = OnceLock::new();
    CONTEXT.get_or_init(Secp256k1::signing_only)
}

/// A secp256k1 signing key: a session key, or an owner key in tests and tools.
///
/// It never prints its secret: `Debug` shows only the address. The secret is erased from memory on drop.
/// Signing uses libsecp256k1 (RFC 6979 nonces, low s), about twice as fast as pure-Rust k256 and giving the same
/// signatures.
#[derive(Clone)]
pub struct SessionKey {
    secret: SecretKey,
    address: Address,
}

impl Drop for SessionKey {
    fn drop(&mut self) {
        self.secret.non_secure_erase();
    }
}

impl core::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionKey")
            .field("address", &self.address)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl SessionKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        Self::generate_with(&mut OsRng)
    }

    /// A new random key from `rng`.
    pub fn generate_with(rng: &mut impl CryptoRngCore) -> Self {
        loop {
            let mut bytes = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(bytes.as_mut());
            // fails only for zero or values at or above the group order: probability ~2^-128
            if let Ok(key) = Self::from_bytes(&bytes) {
                return key;
            }
        }
    }

    /// The key with this 32-byte secret.
    pub fn from_bytes(secret: &[u8; 32]) -> Result<Self> {
        let secret = SecretKey::from_byte_array(*secret).map_err(|_| Error::InvalidKey)?;
        let public = PublicKey::from_secret_key(context(), &secret).serialize_uncompressed();
        let address = Address::from_slice(&keccak256(&public[1..])[12..]);
        Ok(Self { secret, address })
    }

    /// The key of a `0x`-prefixed (or bare) hex secret.
    pub fn from_hex(text: &str) -> Result<Self> {
        let bytes = Zeroizing::new(
            alloy_primitives::hex::decode(text.trim()).map_err(|_| Error::InvalidKey)?,
        );
        let secret: Zeroizing<[u8; 32]> =
            Zeroizing::new(bytes.as_slice().try_into().map_err(|_| Error::InvalidKey)?);
        Self::from_bytes(&secret)
    }

    /// The key's Ethereum address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The 32-byte secret, wiped when dropped. Handle with care.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.secret_bytes())
    }

    /// The same key as a k256 signing key (for RustCrypto and alloy signers).
    pub fn to_k256(&self) -> Result<k256::ecdsa::SigningKey> {
        let secret = self.secret_bytes();
        k256::ecdsa::SigningKey::from_bytes(secret.as_ref().into()).map_err(|_| Error::InvalidKey)
    }

    /// Signs a raw 32-byte hash (no EIP-191 prefix): deterministic (RFC 6979), low s.
    pub fn sign_hash(&self, hash: &B256) -> Result<Signature> {
        let bytes = self.sign_hash_bytes(hash)?;
        Signature::from_raw(&bytes).map_err(|e| Error::Signing(e.to_string()))
    }

    /// [`Self::sign_hash`] as the 65 bytes `r ‖ s ‖ v` with `v ∈ {27, 28}`, as `ECDSA.tryRecover` expects.
    pub fn sign_hash_bytes(&self, hash: &B256) -> Result<[u8; 65]> {
        let signature =
            context().sign_ecdsa_recoverable(Message::from_digest(hash.0), &self.secret);
        let (recovery, compact) = signature.serialize_compact();
        let v = i32::from(recovery);
        if !(0..=1).contains(&v) {
            // libsecp256k1 only returns 2 or 3 when r overflows the group order: probability ~2^-127
            return Err(Error::Signing(format!("unexpected recovery id {v}")));
        }
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&compact);
        out[64] = 27 + v as u8;
        Ok(out)
    }
}

/// A session key is an alloy signer, so it can stand wherever alloy (or the SDK) takes one, e.g. as an account's
/// owner. Hashes are signed raw, as [`SessionKey::sign_hash`] does; messages and typed data get alloy's EIP-191 and
/// EIP-712 hashing. It carries no chain id: EIP-155 legacy transactions are not what it signs.
impl alloy_signer::SignerSync for SessionKey {
    fn sign_hash_sync(&self, hash: &B256) -> alloy_signer::Result<Signature> {
        self.sign_hash(hash)
            .map_err(|error| alloy_signer::Error::other(error.to_string()))
    }

    fn chain_id_sync(&self) -> Option<alloy_primitives::ChainId> {
        None
    }
}

#[async_trait::async_trait]
impl alloy_signer::Signer for SessionKey {
    async fn sign_hash(&self, hash: &B256) -> alloy_signer::Result<Signature> {
        alloy_signer::SignerSync::sign_hash_sync(self, hash)
    }

    fn address(&self) -> Address {
        self.address
    }

    fn chain_id(&self) -> Option<alloy_primitives::ChainId> {
        None
    }

    /// A session key signs no EIP-155 transactions: the chain id is ignored.
    fn set_chain_id(&mut self, _chain_id: Option<alloy_primitives::ChainId>) {}
}

/// The signer of a 65-byte `r ‖ s ‖ v` signature over a raw hash, as OpenZeppelin's `ECDSA.tryRecover` sees it
/// (high s refused).
pub fn recover(hash: &B256, signature: &[u8]) -> Result<Address> {
    let bytes: &[u8; 65] = signature
        .try_into()
        .map_err(|_| Error::InvalidSignature(format!("{} bytes, expected 65", signature.len())))?;
    let v = bytes[64];
    if v != 27 && v != 28 {
        return Err(Error::InvalidSignature(format!(
            "v = {v}, expected 27 or 28"
        )));
    }
    let signature =
        Signature::from_raw(bytes).map_err(|e| Error::InvalidSignature(e.to_string()))?;
    if signature.normalize_s().is_some() {
        return Err(Error::InvalidSignature("high s".into()));
    }
    signature
        .recover_address_from_prehash(hash)
        .map_err(|e| Error::InvalidSignature(e.to_string()))
}
