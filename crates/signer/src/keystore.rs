//! Web3 Secret Storage v3 keystores (the `geth`/`ethers`/`foundry` JSON key files): scrypt or PBKDF2-HMAC-SHA256,
//! AES-128-CTR, and a keccak256 MAC; and the session signer files of every kind built on them.
//!
//! A secp256k1 key's file is a plain v3 keystore, which any Ethereum tool reads. A P-256 key's or a passkey's is
//! the same envelope around its 32-byte secret, with no `address` and a `keyscope` member naming the kind and the
//! public key (and a passkey's relying party id and origin): `{"kind":"p256","x":…,"y":…}` or
//! `{"kind":"webAuthn","x":…,"y":…,"rpId":…,"origin":…}`. A tool that ignores that member reads the secret as a
//! secp256k1 key, a different key that signs nothing such a session accepts. A multisig's file holds no secret:
//! `{"keyscope":{"kind":"multisig","threshold":2,"members":[{"weight":1,"keystore":"a.json"},…]}}`, each member a
//! keystore file of another kind, its path relative to the multisig file's directory.

use aes::cipher::{KeyIvInit, StreamCipher};
use alloy_primitives::{hex, keccak256, Address, B256};
use rand_core::{CryptoRngCore, OsRng};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use keyscope_permissions::Error as PermissionsError;

use crate::error::{Error, Result};
use crate::key::SessionKey;
use crate::signers::{
    P256Key, SessionSigner, SignerKey, SignerKind, WebAuthnAuthenticator, MAX_MULTISIG_MEMBERS,
};

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keyscope: Option<KeyscopeKey>,
}

/// The `keyscope` member of a P-256 or passkey keystore: the kind and the public side.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
enum KeyscopeKey {
    P256 {
        x: B256,
        y: B256,
    },
    #[serde(rename_all = "camelCase")]
    WebAuthn {
        x: B256,
        y: B256,
        rp_id: String,
        origin: String,
    },
}

/// A multisig signer file: no secret, its members' keystores by path.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MultisigFile {
    keyscope: MultisigJson,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MultisigJson {
    kind: MultisigTag,
    threshold: u16,
    members: Vec<MemberFile>,
}

/// The `kind` of a multisig file: `"multisig"`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum MultisigTag {
    Multisig,
}

/// A multisig member: its weight and keystore file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFile {
    /// The member's weight (above zero).
    pub weight: u16,
    /// Its keystore, relative to the multisig file's directory (or absolute).
    pub keystore: std::path::PathBuf,
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
    let secret = key.secret_bytes();
    encrypt_secret(&secret, Some(key.address()), None, password, kdf, rng)
}

/// Encrypts a session signer's secret as its keystore JSON (see the module documentation), with randomness from
/// the OS. A multisig has no single secret: write its members' keystores and [`multisig_file_json`].
pub fn encrypt_signer(signer: &SessionSigner, password: &str, kdf: Kdf) -> Result<String> {
    encrypt_signer_with(signer, password, kdf, &mut OsRng)
}

/// [`encrypt_signer`] with randomness (salt, IV, id) from `rng`.
pub fn encrypt_signer_with(
    signer: &SessionSigner,
    password: &str,
    kdf: Kdf,
    rng: &mut impl CryptoRngCore,
) -> Result<String> {
    match signer {
        SessionSigner::Secp256k1(key) => encrypt_with(key, password, kdf, rng),
        SessionSigner::P256(key) => {
            let (x, y) = key.public();
            let kind = KeyscopeKey::P256 { x, y };
            encrypt_secret(&key.secret_bytes(), None, Some(kind), password, kdf, rng)
        }
        SessionSigner::WebAuthn(authenticator) => {
            let (x, y) = authenticator.public();
            let kind = KeyscopeKey::WebAuthn {
                x,
                y,
                rp_id: authenticator.rp_id().to_owned(),
                origin: authenticator.origin().to_owned(),
            };
            let secret = authenticator.key().secret_bytes();
            encrypt_secret(&secret, None, Some(kind), password, kdf, rng)
        }
        SessionSigner::Multisig { .. } => Err(unsupported(
            "a multisig has no single secret: write each member's keystore, then a multisig file naming them",
        )),
    }
}

fn encrypt_secret(
    secret: &[u8; 32],
    address: Option<Address>,
    keyscope: Option<KeyscopeKey>,
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
    let mut ciphertext = Zeroizing::new(*secret);
    Aes128Ctr::new(derived[..16].into(), (&iv).into()).apply_keystream(ciphertext.as_mut());
    let json = KeystoreJson {
        address: address.map(hex::encode),
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
        keyscope,
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
    let keystore = parse_keystore(json)?;
    if let Some(kind) = &keystore.keyscope {
        return Err(unsupported(format!(
            "a {} session key's keystore, not a secp256k1 key: read it with decrypt_signer",
            kind.kind()
        )));
    }
    secp256k1_key(&keystore, password)
}

/// Decrypts the keystore of a session signer of any kind but multisig (see the module documentation; a multisig
/// file names its members' files: [`read_signer_file`]). The key is checked against the public side the file
/// states, as [`decrypt`] checks the address.
pub fn decrypt_signer(json: &str, password: &str) -> Result<SessionSigner> {
    if multisig_file(json)?.is_some() {
        return Err(unsupported(
            "a multisig file: read it with read_signer_file, which reads its members' keystores",
        ));
    }
    let keystore = parse_keystore(json)?;
    let stated = match &keystore.keyscope {
        None => return secp256k1_key(&keystore, password).map(SessionSigner::Secp256k1),
        Some(stated) => stated,
    };
    let secret = decrypt_secret(&keystore, password)?;
    let key = P256Key::from_bytes(&secret)?;
    let signer = match stated {
        KeyscopeKey::P256 { .. } => SessionSigner::P256(key),
        KeyscopeKey::WebAuthn { rp_id, origin, .. } => SessionSigner::WebAuthn(
            WebAuthnAuthenticator::new(key, rp_id.clone(), origin.clone()),
        ),
    };
    let stated = stated.key();
    if signer.key() != stated {
        return Err(Error::KeystoreAddressMismatch {
            stated: stated.address().map_or_else(
                |_| format!("an invalid {} key", stated.kind()),
                |a| a.to_string(),
            ),
            actual: signer.address()?.to_string(),
        });
    }
    Ok(signer)
}

/// The public side of a session signer file, read without its password: a secp256k1 keystore's `address` (which
/// it must then state), a P-256 or passkey keystore's key, or a multisig file's members (read from their files,
/// relative to `base`, the multisig file's directory), validated as [`SignerKey::validate`] does.
pub fn signer_key(json: &str, base: &std::path::Path) -> Result<SignerKey> {
    let Some(file) = multisig_file(json)? else {
        return single_signer_key(json);
    };
    let paths = member_paths(&file.keyscope, base)?;
    let mut members = Vec::with_capacity(paths.len());
    for (index, (weight, path)) in paths.into_iter().enumerate() {
        let signer = read_member_file(&path, index, single_signer_key)?;
        members.push(crate::signers::MultisigMember { weight, signer });
    }
    let key = SignerKey::Multisig {
        threshold: file.keyscope.threshold,
        members,
    };
    key.validate()?;
    Ok(key)
}

fn single_signer_key(json: &str) -> Result<SignerKey> {
    let keystore = parse_keystore(json)?;
    let key = match &keystore.keyscope {
        Some(stated) => stated.key(),
        None => SignerKey::Secp256k1 {
            address: stated_address(&keystore)?.ok_or_else(|| {
                malformed("address: a secp256k1 keystore read without its password must state its address")
            })?,
        },
    };
    key.validate()?;
    Ok(key)
}

/// The JSON of a multisig signer file: `threshold` and each member's weight and keystore path (see the module
/// documentation). The members are not read here: [`signer_key`] and [`read_signer_file`] check them.
pub fn multisig_file_json(threshold: u16, members: &[MemberFile]) -> Result<String> {
    let file = MultisigFile {
        keyscope: MultisigJson {
            kind: MultisigTag::Multisig,
            threshold,
            members: members.to_vec(),
        },
    };
    serde_json::to_string_pretty(&file).map_err(|e| malformed(e.to_string()))
}

/// Reads a session signer file of any kind: [`decrypt_signer`] for a keystore; for a multisig file, every
/// member's keystore (paths relative to the multisig file's directory, all under the same `password`), as
/// [`SessionSigner::multisig`] builds it. The multisig's shape (member count, weights, threshold, distinct files)
/// is checked before any member is read, so a hostile file cannot make it derive one key many times.
pub fn read_signer_file(
    path: impl AsRef<std::path::Path>,
    password: &str,
) -> Result<SessionSigner> {
    let path = path.as_ref();
    let json = read_to_string(path)?;
    let Some(file) = multisig_file(&json)? else {
        return decrypt_signer(&json, password);
    };
    let paths = member_paths(&file.keyscope, parent(path))?;
    let mut members = Vec::with_capacity(paths.len());
    for (index, (weight, path)) in paths.into_iter().enumerate() {
        let signer = read_member_file(&path, index, |json| decrypt_signer(json, password))?;
        members.push((weight, signer));
    }
    SessionSigner::multisig(file.keyscope.threshold, members)
}

/// Reads the public side of the signer file at `path` ([`signer_key`]).
pub fn read_signer_key_file(path: impl AsRef<std::path::Path>) -> Result<SignerKey> {
    let path = path.as_ref();
    let json = read_to_string(path)?;
    signer_key(&json, parent(path))
}

fn parent(path: &std::path::Path) -> &std::path::Path {
    path.parent().unwrap_or(std::path::Path::new(""))
}

/// A multisig file, when `json` is one (its `keyscope.kind` is `"multisig"`), parsed strictly.
fn multisig_file(json: &str) -> Result<Option<MultisigFile>> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(json_error)?;
    if value
        .pointer("/keyscope/kind")
        .and_then(serde_json::Value::as_str)
        != Some("multisig")
    {
        return Ok(None);
    }
    serde_json::from_value(value).map(Some).map_err(json_error)
}

/// The members' `(weight, file)` (relative paths resolved from `base`), after checking what needs no file: 1 to
/// [`MAX_MULTISIG_MEMBERS`] members, weights above zero, a threshold from 1 to the total weight, no file named twice.
fn member_paths(
    file: &MultisigJson,
    base: &std::path::Path,
) -> Result<Vec<(u16, std::path::PathBuf)>> {
    let members = &file.members;
    if members.is_empty() {
        return Err(PermissionsError::EmptyMultisig.into());
    }
    if members.len() > MAX_MULTISIG_MEMBERS {
        return Err(PermissionsError::TooManyMembers {
            count: members.len(),
            max: MAX_MULTISIG_MEMBERS,
        }
        .into());
    }
    if let Some(member) = members.iter().position(|member| member.weight == 0) {
        return Err(PermissionsError::ZeroWeight { member }.into());
    }
    let total: u32 = members.iter().map(|member| u32::from(member.weight)).sum();
    if file.threshold == 0 {
        return Err(PermissionsError::ZeroThreshold.into());
    }
    if u32::from(file.threshold) > total {
        return Err(PermissionsError::ThresholdAboveWeight {
            threshold: file.threshold,
            total,
        }
        .into());
    }
    let paths = members
        .iter()
        .map(|member| (member.weight, base.join(&member.keystore)))
        .collect::<Vec<_>>();
    let identities = paths
        .iter()
        .map(|(_, path)| std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()))
        .collect::<Vec<_>>();
    for (index, identity) in identities.iter().enumerate() {
        if let Some(first) = identities[..index]
            .iter()
            .position(|other| other == identity)
        {
            return Err(malformed(format!(
                "keyscope.members[{index}] names the file of keyscope.members[{first}]"
            )));
        }
    }
    Ok(paths)
}

/// Reads member `index`'s file (never a multisig) and applies `read`, naming the file in a malformed-file error.
fn read_member_file<T>(
    path: &std::path::Path,
    index: usize,
    read: impl Fn(&str) -> Result<T>,
) -> Result<T> {
    let json = read_to_string(path)?;
    if multisig_file(&json)
        .map_err(|error| in_file(path, error))?
        .is_some()
    {
        return Err(PermissionsError::NestedMultisig { member: index }.into());
    }
    read(&json).map_err(|error| in_file(path, error))
}

fn in_file(path: &std::path::Path, error: Error) -> Error {
    match error {
        Error::MalformedKeystore { reason } => malformed(format!("{}: {reason}", path.display())),
        other => other,
    }
}

/// Most bytes of a signer file read (a keystore is under 1 KiB, a multisig file of 16 members a few).
const MAX_SIGNER_FILE_BYTES: u64 = 64 * 1024;

/// Reads a regular file of at most [`MAX_SIGNER_FILE_BYTES`] (not a device, FIFO or directory a hostile multisig
/// file might name).
fn read_to_string(path: &std::path::Path) -> Result<String> {
    use std::io::Read as _;
    let io = |e: std::io::Error| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let metadata = std::fs::metadata(path).map_err(io)?;
    if !metadata.is_file() {
        return Err(io(std::io::Error::other("not a regular file")));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_SIGNER_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_SIGNER_FILE_BYTES {
        return Err(malformed(format!(
            "{}: over {MAX_SIGNER_FILE_BYTES} bytes",
            path.display()
        )));
    }
    Ok(text)
}

/// A JSON error as the reason of a malformed file, without the values serde quotes (a file's value may be a
/// secret): where it is, and what kind of error, with serde's message only for syntax errors and missing, unknown
/// or duplicate fields (which name fields and kinds, not values).
fn json_error(error: serde_json::Error) -> Error {
    let message = error.to_string();
    let names_only = [
        "missing field",
        "unknown field",
        "unknown variant",
        "duplicate field",
    ];
    let reason = match error.classify() {
        serde_json::error::Category::Data
            if !names_only.iter().any(|start| message.starts_with(start)) =>
        {
            format!(
                "a value of the wrong type or shape at line {} column {}",
                error.line(),
                error.column()
            )
        }
        _ => message,
    };
    malformed(reason)
}

fn parse_keystore(json: &str) -> Result<KeystoreJson> {
    let keystore: KeystoreJson = serde_json::from_str(json).map_err(json_error)?;
    if keystore.version != 3 {
        return Err(unsupported(format!("version {}", keystore.version)));
    }
    Ok(keystore)
}

fn stated_address(keystore: &KeystoreJson) -> Result<Option<Address>> {
    let Some(stated) = &keystore.address else {
        return Ok(None);
    };
    let bytes = hex::decode(stated).map_err(|e| malformed(format!("address: {e}")))?;
    if bytes.len() != 20 {
        return Err(malformed("address: expected 20 bytes"));
    }
    Ok(Some(Address::from_slice(&bytes)))
}

fn secp256k1_key(keystore: &KeystoreJson, password: &str) -> Result<SessionKey> {
    let secret = decrypt_secret(keystore, password)?;
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

fn decrypt_secret(keystore: &KeystoreJson, password: &str) -> Result<Zeroizing<[u8; 32]>> {
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
    Ok(secret)
}

impl KeyscopeKey {
    fn kind(&self) -> SignerKind {
        self.key().kind()
    }

    /// The public key the file states.
    fn key(&self) -> SignerKey {
        match self {
            Self::P256 { x, y } => SignerKey::P256 { x: *x, y: *y },
            Self::WebAuthn { x, y, .. } => SignerKey::WebAuthn { x: *x, y: *y },
        }
    }
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
    decrypt(&read_to_string(path.as_ref())?, password)
}
