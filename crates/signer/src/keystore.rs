//! Web3 Secret Storage v3 keystores (the `geth`/`ethers`/`foundry` JSON key files): scrypt or PBKDF2-HMAC-SHA256,
//! AES-128-CTR, and a keccak256 MAC.

use aes::cipher::{KeyIvInit, StreamCipher};
use alloy_primitives::{hex, keccak256, Address};
use rand_core::{CryptoRngCore, OsRng};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::key::SessionKey;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Key-derivation settings for new keystores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kdf {
    /// scrypt with cost `2^log_n`, block size `r`, parallelism `p`.
    Scrypt {
        /// log2 of N.
        log_n: u8,
        /// r.
        r: u32,
        /// p.
        p: u32,
    },
    /// PBKDF2-HMAC-SHA256 with `c` iterations.
    Pbkdf2 {
        /// Iterations.
        c: u32,
    },
}

impl Kdf {
    /// geth's "standard" scrypt: N = 2^18, r = 8, p = 1 (about 256 MiB and a second).
    pub const STANDARD: Self = Self::Scrypt {
        log_n: 18,
        r: 8,
        p: 1,
    };
    /// geth's "light" scrypt: N = 2^12, r = 8, p = 6.
    pub const LIGHT: Self = Self::Scrypt {
        log_n: 12,
        r: 8,
        p: 6,
    };
}

impl Default for Kdf {
    fn default() -> Self {
        Self::STANDARD
    }
}

/// Most scrypt memory (128 · r · N bytes) and work accepted when decrypting, so that a hostile file cannot exhaust
/// the machine: N ≤ 2^20, r ≤ 32, p ≤ 64, r · p < 2^30, and 128 · r · N ≤ 1 GiB; PBKDF2 ≤ 10^7 iterations.
const MAX_SCRYPT_LOG_N: u8 = 20;
const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;

#[derive(Serialize, Deserialize)]
struct KeystoreJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(alias = "Crypto")]
    crypto: CryptoJson,
    #[serde(default)]
    id: Option<String>,
    version: u32,
}

#[derive(Serialize, Deserialize)]
struct CryptoJson {
    cipher: String,
    cipherparams: CipherParams,
    ciphertext: String,
    kdf: String,
    kdfparams: serde_json::Value,
    mac: String,
}

#[derive(Serialize, Deserialize)]
struct CipherParams {
    iv: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    dklen: u32,
    n: u64,
    r: u32,
    p: u32,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct Pbkdf2Params {
    c: u32,
    dklen: u32,
    prf: String,
    salt: String,
}

fn malformed(reason: impl Into<String>) -> Error {
    Error::MalformedKeystore {
        reason: reason.into(),
    }
}

fn unsupported(what: impl Into<String>) -> Error {
    Error::UnsupportedKeystore { what: what.into() }
}

fn scrypt_derive(
    password: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<Zeroizing<[u8; 32]>> {
    let params = scrypt::Params::new(log_n, r, p, 32)
        .map_err(|e| unsupported(format!("scrypt parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, salt, &params, key.as_mut())
        .map_err(|e| unsupported(format!("scrypt: {e}")))?;
    Ok(key)
}

fn pbkdf2_derive(password: &[u8], salt: &[u8], rounds: u32) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, rounds, key.as_mut());
    key
}

fn mac(derived: &[u8; 32], ciphertext: &[u8]) -> [u8; 32] {
    let mut input = Vec::with_capacity(16 + ciphertext.len());
    input.extend_from_slice(&derived[16..32]);
    input.extend_from_slice(ciphertext);
    keccak256(&input).0
}

fn decode_hex(field: &str, text: &str) -> Result<Vec<u8>> {
    hex::decode(text).map_err(|e| malformed(format!("{field}: {e}")))
}

fn uuid_v4(rng: &mut impl CryptoRngCore) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Encrypts `key` under `password` as a v3 keystore JSON string, with randomness from the OS.
pub fn encrypt(key: &SessionKey, password: &str, kdf: Kdf) -> Result<String> {
    encrypt_with(key, password, kdf, &mut OsRng)
}

/// [`encrypt`] with randomness (salt, IV, id) from `rng`.
pub fn encrypt_with(
    key: &SessionKey,
    password: &str,
    kdf: Kdf,
    rng: &mut impl CryptoRngCore,
) -> Result<String> {
    let mut salt = [0u8; 32];
    rng.fill_bytes(&mut salt);
    let mut iv = [0u8; 16];
    rng.fill_bytes(&mut iv);
    let (derived, kdf_name, kdfparams) = match kdf {
        Kdf::Scrypt { log_n, r, p } => {
            let derived = scrypt_derive(password.as_bytes(), &salt, log_n, r, p)?;
            let params = ScryptParams {
                dklen: 32,
                n: 1u64 << log_n,
                r,
                p,
                salt: hex::encode(salt),
            };
            (derived, "scrypt", serde_json::to_value(params))
        }
        Kdf::Pbkdf2 { c } => {
            if c == 0 {
                return Err(unsupported("PBKDF2 with 0 iterations"));
            }
            let derived = pbkdf2_derive(password.as_bytes(), &salt, c);
            let params = Pbkdf2Params {
                c,
                dklen: 32,
                prf: "hmac-sha256".into(),
                salt: hex::encode(salt),
            };
            (derived, "pbkdf2", serde_json::to_value(params))
        }
    };
    let kdfparams = kdfparams.map_err(|e| malformed(e.to_string()))?;
    let mut ciphertext = key.secret_bytes();
    Aes128Ctr::new(derived[..16].into(), (&iv).into()).apply_keystream(ciphertext.as_mut());
    let json = KeystoreJson {
        address: Some(hex::encode(key.address())),
        crypto: CryptoJson {
            cipher: "aes-128-ctr".into(),
            cipherparams: CipherParams {
                iv: hex::encode(iv),
            },
            ciphertext: hex::encode(ciphertext.as_slice()),
            kdf: kdf_name.into(),
            kdfparams,
            mac: hex::encode(mac(&derived, ciphertext.as_slice())),
        },
        id: Some(uuid_v4(rng)),
        version: 3,
    };
    serde_json::to_string_pretty(&json).map_err(|e| malformed(e.to_string()))
}

/// Decrypts a v3 keystore JSON string.
///
/// scrypt parameters must meet RFC 7914 (`N < 2^(16·r)`): keystores made with `r = 1` and `N ≥ 2^16` (only the
/// Web3 Secret Storage spec's own example, in practice) are [`Error::UnsupportedKeystore`].
///
/// A wrong password is [`Error::WrongPassword`]; a corrupt or truncated file [`Error::MalformedKeystore`]; other
/// versions, KDFs, ciphers or hostile KDF costs [`Error::UnsupportedKeystore`].
pub fn decrypt(json: &str, password: &str) -> Result<SessionKey> {
    let keystore: KeystoreJson =
        serde_json::from_str(json).map_err(|e| malformed(e.to_string()))?;
    if keystore.version != 3 {
        return Err(unsupported(format!("version {}", keystore.version)));
    }
    let crypto = &keystore.crypto;
    if crypto.cipher != "aes-128-ctr" {
        return Err(unsupported(format!("cipher {}", crypto.cipher)));
    }
    let iv = decode_hex("cipherparams.iv", &crypto.cipherparams.iv)?;
    let iv: [u8; 16] = iv
        .try_into()
        .map_err(|_| malformed("cipherparams.iv: expected 16 bytes"))?;
    let ciphertext = decode_hex("ciphertext", &crypto.ciphertext)?;
    if ciphertext.len() != 32 {
        return Err(malformed(format!(
            "ciphertext: {} bytes, expected 32",
            ciphertext.len()
        )));
    }
    let expected_mac = decode_hex("mac", &crypto.mac)?;
    if expected_mac.len() != 32 {
        return Err(malformed("mac: expected 32 bytes"));
    }
    let derived = match crypto.kdf.as_str() {
        "scrypt" => {
            let p: ScryptParams = serde_json::from_value(crypto.kdfparams.clone())
                .map_err(|e| malformed(format!("kdfparams: {e}")))?;
            if p.dklen != 32 {
                return Err(unsupported(format!("dklen {}", p.dklen)));
            }
            if !p.n.is_power_of_two() || p.n < 2 {
                return Err(malformed("kdfparams.n must be a power of two"));
            }
            let log_n = p.n.trailing_zeros() as u8;
            let memory = 128u64.saturating_mul(u64::from(p.r)).saturating_mul(p.n);
            if log_n > MAX_SCRYPT_LOG_N
                || p.r == 0
                || p.r > 32
                || p.p == 0
                || p.p > 64
                || memory > MAX_SCRYPT_MEMORY
            {
                return Err(unsupported(format!(
                    "scrypt cost n={} r={} p={} (too costly)",
                    p.n, p.r, p.p
                )));
            }
            let salt = decode_hex("kdfparams.salt", &p.salt)?;
            scrypt_derive(password.as_bytes(), &salt, log_n, p.r, p.p)?
        }
        "pbkdf2" => {
            let p: Pbkdf2Params = serde_json::from_value(crypto.kdfparams.clone())
                .map_err(|e| malformed(format!("kdfparams: {e}")))?;
            if p.prf != "hmac-sha256" {
                return Err(unsupported(format!("prf {}", p.prf)));
            }
            if p.dklen != 32 {
                return Err(unsupported(format!("dklen {}", p.dklen)));
            }
            if p.c == 0 || p.c > MAX_PBKDF2_ROUNDS {
                return Err(unsupported(format!("PBKDF2 with {} iterations", p.c)));
            }
            let salt = decode_hex("kdfparams.salt", &p.salt)?;
            pbkdf2_derive(password.as_bytes(), &salt, p.c)
        }
        other => return Err(unsupported(format!("kdf {other}"))),
    };
    let computed = mac(&derived, &ciphertext);
    if !bool::from(computed.ct_eq(expected_mac.as_slice())) {
        return Err(Error::WrongPassword);
    }
    let mut secret = Zeroizing::new([0u8; 32]);
    secret.copy_from_slice(&ciphertext);
    Aes128Ctr::new(derived[..16].into(), (&iv).into()).apply_keystream(secret.as_mut());
    let key = SessionKey::from_bytes(&secret)?;
    if let Some(stated) = &keystore.address {
        let stated_bytes = hex::decode(stated).map_err(|e| malformed(format!("address: {e}")))?;
        if stated_bytes.len() != 20 || Address::from_slice(&stated_bytes) != key.address() {
            return Err(Error::KeystoreAddressMismatch {
                stated: stated.clone(),
                actual: key.address().to_string(),
            });
        }
    }
    Ok(key)
}

/// Writes [`encrypt`]'s JSON to `path` (created, or replaced).
pub fn write_file(
    path: impl AsRef<std::path::Path>,
    key: &SessionKey,
    password: &str,
    kdf: Kdf,
) -> Result<()> {
    let path = path.as_ref();
    let json = encrypt(key, password, kdf)?;
    std::fs::write(path, json).map_err(|e| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Reads and [`decrypt`]s the keystore at `path`.
pub fn read_file(path: impl AsRef<std::path::Path>, password: &str) -> Result<SessionKey> {
    let path = path.as_ref();
    let json = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    decrypt(&json, password)
}
