//! WebAuthn assertions: OpenZeppelin's `WebAuthn.WebAuthnAuth`, its encoding as `WebAuthn.tryDecodeAuth` reads it,
//! the checks of `WebAuthn.verify(challenge, auth, qx, qy, requireUV = false)`, and a software authenticator.

use std::sync::atomic::{AtomicU32, Ordering};

use alloy_primitives::{b256, B256, U256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::p256::{p256_verify, P256Key, DUMMY_R, DUMMY_S};
use crate::error::Result;

/// Authenticator data flag: user present (UP).
pub const FLAG_UP: u8 = 0x01;
/// Authenticator data flag: user verified (UV).
pub const FLAG_UV: u8 = 0x04;
/// Authenticator data flag: backup eligible (BE).
pub const FLAG_BE: u8 = 0x08;
/// Authenticator data flag: backed up (BS).
pub const FLAG_BS: u8 = 0x10;

/// The relying party id of [`WebAuthnAuthenticator::generate`].
pub const DEFAULT_RP_ID: &str = "keyscope.example";
/// The origin of [`WebAuthnAuthenticator::generate`].
pub const DEFAULT_ORIGIN: &str = "https://keyscope.example";

/// What `clientDataJSON` must hold at `typeIndex`.
const TYPE_GET: &[u8; 21] = b"\"type\":\"webauthn.get\"";
/// The challenge of dummy assertions (any fixed 32 bytes: dummies never verify, see [`DUMMY_R`]).
const DUMMY_CHALLENGE: B256 =
    b256!("6b657973636f70652064756d6d7920776562617574686e206368616c6c656e67");

/// A WebAuthn assertion as OpenZeppelin's `WebAuthn.WebAuthnAuth` holds it.
///
/// Its encoding ([`Self::encode`]) is the six fields ABI-encoded as a tuple's head and tails, with no leading offset
/// word: `r ‖ s ‖ challengeIndex ‖ typeIndex ‖ offset(authenticatorData) ‖ offset(clientDataJSON) ‖
/// len ‖ authenticatorData (zero-padded to 32) ‖ len ‖ clientDataJSON (zero-padded to 32)`, offsets from the start of
/// these bytes: what `WebAuthn.tryDecodeAuth(bytes calldata)` reads (and `abi.encode(auth)` without its first word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnAuth {
    /// The P-256 signature's `r`.
    pub r: B256,
    /// The P-256 signature's `s`.
    pub s: B256,
    /// Where `"challenge":"…"` starts in `client_data_json`.
    pub challenge_index: U256,
    /// Where `"type":"webauthn.get"` starts in `client_data_json`.
    pub type_index: U256,
    /// The authenticator data: rpIdHash (32) ‖ flags (1) ‖ signCount (4, big-endian) ‖ extensions.
    pub authenticator_data: Vec<u8>,
    /// The client data JSON, as bytes (Solidity's `string` need not be UTF-8).
    pub client_data_json: Vec<u8>,
}

fn padded(length: usize) -> usize {
    length.div_ceil(32) * 32
}

impl WebAuthnAuth {
    /// Length of [`Self::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        6 * 32
            + 32
            + padded(self.authenticator_data.len())
            + 32
            + padded(self.client_data_json.len())
    }

    /// The fields ABI-encoded, head then tails, offsets relative to the start (see the type's documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        let data_offset = 6 * 32;
        let json_offset = data_offset + 32 + padded(self.authenticator_data.len());
        out.extend_from_slice(self.r.as_slice());
        out.extend_from_slice(self.s.as_slice());
        out.extend_from_slice(&self.challenge_index.to_be_bytes::<32>());
        out.extend_from_slice(&self.type_index.to_be_bytes::<32>());
        out.extend_from_slice(&U256::from(data_offset).to_be_bytes::<32>());
        out.extend_from_slice(&U256::from(json_offset).to_be_bytes::<32>());
        for field in [&self.authenticator_data, &self.client_data_json] {
            out.extend_from_slice(&U256::from(field.len()).to_be_bytes::<32>());
            out.extend_from_slice(field);
            out.resize(out.len() + padded(field.len()) - field.len(), 0);
        }
        out
    }

    /// Reads an assertion exactly as OpenZeppelin `WebAuthn.tryDecodeAuth` does: at least the 192-byte head; each
    /// dynamic field's offset (relative to the start, anywhere, unaligned) leaves room for its length word, and its
    /// length fits after it. Padding and bytes past the fields are ignored, as on chain. `Err` says why not.
    pub fn decode(input: &[u8]) -> Result<Self, String> {
        if input.len() < 0xc0 {
            return Err(format!(
                "WebAuthnAuth is {} bytes, shorter than its 192-byte head",
                input.len()
            ));
        }
        let word = |at: usize| U256::from_be_slice(&input[at..at + 32]);
        let field = |name: &str, head: usize| -> Result<Vec<u8>, String> {
            let offset = word(head);
            let room = input.len() - 0x20;
            let offset = usize::try_from(offset)
                .ok()
                .filter(|offset| *offset <= room)
                .ok_or_else(|| format!("{name} offset {offset} is past the data"))?;
            let length = word(offset);
            let available = input.len() - offset - 0x20;
            let length = usize::try_from(length)
                .ok()
                .filter(|length| *length <= available)
                .ok_or_else(|| {
                    format!("{name} length {length} overruns the data ({available} bytes left)")
                })?;
            Ok(input[offset + 0x20..offset + 0x20 + length].to_vec())
        };
        let authenticator_data = field("authenticatorData", 0x80)?;
        let client_data_json = field("clientDataJSON", 0xa0)?;
        Ok(Self {
            r: B256::from_slice(&input[0..32]),
            s: B256::from_slice(&input[32..64]),
            challenge_index: word(0x40),
            type_index: word(0x60),
            authenticator_data,
            client_data_json,
        })
    }

    /// OpenZeppelin 5.7 `WebAuthn.verify(abi.encodePacked(challenge), auth, qx, qy, requireUV = false)`, bit for
    /// bit: authenticator data longer than 36 bytes, `"type":"webauthn.get"` at `typeIndex`,
    /// `"challenge":"<base64url(challenge)>"` at `challengeIndex`, UP set, not BS without BE, and `P256.verify` of
    /// `sha256(authenticatorData ‖ sha256(clientDataJSON))`. `Err` says the first check that fails.
    pub fn verify(&self, challenge: &B256, x: &B256, y: &B256) -> Result<(), String> {
        if self.authenticator_data.len() <= 36 {
            return Err(format!(
                "authenticatorData is {} bytes, at least 37 needed",
                self.authenticator_data.len()
            ));
        }
        if !type_matches(&self.client_data_json, self.type_index) {
            let mut reason = format!(
                "clientDataJSON has no \"type\":\"webauthn.get\" at typeIndex {}",
                self.type_index
            );
            if self.type_index > U256::from(1u64 << 22)
                && self.type_index < U256::MAX - U256::from(19)
            {
                // WebAuthn._validateExpectedTypeHash loads memory at typeIndex whatever its bound check says
                reason
                    .push_str(" (on chain, reading memory that far out runs out of gas: a revert)");
            }
            return Err(reason);
        }
        if !challenge_matches(&self.client_data_json, self.challenge_index, challenge) {
            return Err(format!(
                "challenge does not match: clientDataJSON has no \"challenge\":\"{}\" at challengeIndex {}",
                URL_SAFE_NO_PAD.encode(challenge),
                self.challenge_index
            ));
        }
        let flags = self.authenticator_data[32];
        if flags & FLAG_UP == 0 {
            return Err(format!("user-present flag not set (flags 0x{flags:02x})"));
        }
        if flags & FLAG_BE == 0 && flags & FLAG_BS != 0 {
            return Err(format!(
                "backup-state flag set without backup-eligible (flags 0x{flags:02x})"
            ));
        }
        p256_verify(&self.message(), &self.r, &self.s, x, y)
    }

    /// The hash the P-256 key signs: `sha256(authenticatorData ‖ sha256(clientDataJSON))`.
    pub fn message(&self) -> B256 {
        let client_hash = Sha256::digest(&self.client_data_json);
        let mut hasher = Sha256::new();
        hasher.update(&self.authenticator_data);
        hasher.update(client_hash);
        B256::from_slice(&hasher.finalize())
    }
}

/// The validator's guard `typeIndex < clientDataJSON.length` (OpenZeppelin's assembly would read memory at any
/// index, running out of gas on a huge one), then `WebAuthn._validateExpectedTypeHash`:
/// `clientDataJSON.length > typeIndex + 20` and the 21 bytes at `typeIndex` are `"type":"webauthn.get"`.
fn type_matches(json: &[u8], type_index: U256) -> bool {
    let Ok(at) = usize::try_from(type_index) else {
        return false;
    };
    at < json.len() && json.get(at..at + TYPE_GET.len()) == Some(TYPE_GET.as_slice())
}

/// `WebAuthn._validateChallenge`: `Bytes.slice(clientDataJSON, i, saturatingAdd(i, expected.length))` (both ends
/// clamped to the length) equals `"challenge":"<base64url(challenge), no padding>"`.
fn challenge_matches(json: &[u8], challenge_index: U256, challenge: &B256) -> bool {
    let expected = format!("\"challenge\":\"{}\"", URL_SAFE_NO_PAD.encode(challenge));
    let length = U256::from(json.len());
    let end = challenge_index
        .saturating_add(U256::from(expected.len()))
        .min(length);
    let start = challenge_index.min(end);
    // both are at most json.len()
    let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
        return false;
    };
    json.get(start..end) == Some(expected.as_bytes())
}

/// A software WebAuthn authenticator (a passkey) for tests and demos: a P-256 key, a relying party id and an
/// origin. Assertions carry `sha256(rpId) ‖ flags ‖ signCount` as authenticator data and the client data JSON a
/// browser writes, `{"type":"webauthn.get","challenge":"…","origin":"…","crossOrigin":false}`.
///
/// The signature counter counts assertions (from [`Self::with_counter`]'s value, 0 by default); signing takes
/// `&self`.
#[derive(Debug)]
pub struct WebAuthnAuthenticator {
    key: P256Key,
    rp_id: String,
    origin: String,
    flags: u8,
    counter: AtomicU32,
}

impl Clone for WebAuthnAuthenticator {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            rp_id: self.rp_id.clone(),
            origin: self.origin.clone(),
            flags: self.flags,
            counter: AtomicU32::new(self.counter()),
        }
    }
}

impl WebAuthnAuthenticator {
    /// An authenticator of `key` for relying party `rp_id` at `origin`, flags UP and UV, counter 0.
    pub fn new(key: P256Key, rp_id: impl Into<String>, origin: impl Into<String>) -> Self {
        Self {
            key,
            rp_id: rp_id.into(),
            origin: origin.into(),
            flags: FLAG_UP | FLAG_UV,
            counter: AtomicU32::new(0),
        }
    }

    /// A new random key for [`DEFAULT_RP_ID`] at [`DEFAULT_ORIGIN`].
    pub fn generate() -> Self {
        Self::new(P256Key::generate(), DEFAULT_RP_ID, DEFAULT_ORIGIN)
    }

    /// The same authenticator with these authenticator data flags (e.g. without UV, or without UP to make an
    /// assertion the validator refuses).
    pub fn with_flags(mut self, flags: u8) -> Self {
        self.flags = flags;
        self
    }

    /// The same authenticator with its signature counter at `counter`.
    pub fn with_counter(self, counter: u32) -> Self {
        self.counter.store(counter, Ordering::Relaxed);
        self
    }

    /// The credential's key.
    pub fn key(&self) -> &P256Key {
        &self.key
    }

    /// The credential's public key `(qx, qy)`.
    pub fn public(&self) -> (B256, B256) {
        self.key.public()
    }

    /// The relying party id.
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// The origin written in the client data.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The authenticator data flags.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// The signature counter's current value.
    pub fn counter(&self) -> u32 {
        self.counter.load(Ordering::Relaxed)
    }

    /// An assertion over `challenge` (the userOpHash): the counter goes up by one (wrapping) and is written in the
    /// authenticator data; `(r, s)` is a low-s P-256 signature of [`WebAuthnAuth::message`].
    pub fn assert(&self, challenge: &B256) -> Result<WebAuthnAuth> {
        let counter = self.counter.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let mut auth = self.unsigned(challenge, counter);
        let (r, s) = self.key.sign_prehash(&auth.message())?;
        auth.r = r;
        auth.s = s;
        Ok(auth)
    }

    /// An assertion of the same shape and length as [`Self::assert`]'s (this rp id, flags and origin, counter 0,
    /// a fixed challenge) whose fixed `(r, s)` verifies for no hash and no key: for gas estimation.
    pub fn dummy_assertion(&self) -> WebAuthnAuth {
        dummy_assertion(&self.rp_id, &self.origin, self.flags)
    }

    fn unsigned(&self, challenge: &B256, counter: u32) -> WebAuthnAuth {
        unsigned_assertion(&self.rp_id, &self.origin, self.flags, challenge, counter)
    }
}

/// The dummy assertion of an authenticator of `rp_id` at `origin` with these flags (see
/// [`WebAuthnAuthenticator::dummy_assertion`]): only public values, so a caller without the credential's secret
/// makes the same bytes.
pub(crate) fn dummy_assertion(rp_id: &str, origin: &str, flags: u8) -> WebAuthnAuth {
    let mut auth = unsigned_assertion(rp_id, origin, flags, &DUMMY_CHALLENGE, 0);
    auth.r = DUMMY_R;
    auth.s = DUMMY_S;
    auth
}

/// An assertion with `(r, s)` zero: `sha256(rpId) ‖ flags ‖ counter` and the client data JSON a browser writes.
fn unsigned_assertion(
    rp_id: &str,
    origin: &str,
    flags: u8,
    challenge: &B256,
    counter: u32,
) -> WebAuthnAuth {
    let mut authenticator_data = Vec::with_capacity(37);
    authenticator_data.extend_from_slice(&Sha256::digest(rp_id.as_bytes()));
    authenticator_data.push(flags);
    authenticator_data.extend_from_slice(&counter.to_be_bytes());
    let prefix = "{\"type\":\"webauthn.get\",";
    // a JSON string literal, escaped as a browser would
    let origin = serde_json::Value::String(origin.to_owned()).to_string();
    let client_data_json = format!(
        "{prefix}\"challenge\":\"{}\",\"origin\":{origin},\"crossOrigin\":false}}",
        URL_SAFE_NO_PAD.encode(challenge)
    );
    WebAuthnAuth {
        r: B256::ZERO,
        s: B256::ZERO,
        challenge_index: U256::from(prefix.len()),
        type_index: U256::from(1),
        authenticator_data,
        client_data_json: client_data_json.into_bytes(),
    }
}
