//! ERC-7715 execution permissions (`wallet_requestExecutionPermissions` and friends) as Keyscope sessions.
//!
//! Each permission request becomes one session whose signer is the request's `to` (or `signer`: an account, a
//! secp256k1, P-256 (`secp256r1`) or WebAuthn key, or `keys`, a multisig of such keys where every key must sign
//! unless the Keyscope extension `data.threshold` says how many; P-256, WebAuthn and multisig signers are named by
//! their commitment address, `SignerKey::address`), valid until its `expiry` rule, with one permission:
//!
//! | ERC-7715 permission | Keyscope permission |
//! | --- | --- |
//! | `native-token-allowance` `{allowanceAmount, startTime?}` | native transfers to any target (`"*"`, `native_transfer`), `value_limit` = `native_total_limit` = `allowanceAmount` (`FLAG_NATIVE_TOTAL`) |
//! | `erc20-token-allowance` `{tokenAddress, allowanceAmount, startTime?}` | on `tokenAddress`, `transfer(address,uint256)` with `erc20_total_limit` = `allowanceAmount` (`FLAG_ERC20_TOTAL`) |
//! | `native-token-periodic` `{periodAmount, periodDuration, startTime?}` | native transfers to any target, `value_limit` = `native_period_limit` = `periodAmount` per `period` = `periodDuration` seconds (`FLAG_NATIVE_TOTAL` + `FLAG_PER_PERIOD`), periods from the permission's `valid_after` = `startTime` |
//! | `erc20-token-periodic` `{tokenAddress, periodAmount, periodDuration, startTime?}` | on `tokenAddress`, `transfer(address,uint256)` with `erc20_period_limit` = `periodAmount` per `period` = `periodDuration` (`FLAG_ERC20_TOTAL` + `FLAG_PER_PERIOD`), periods from `startTime` |
//!
//! `startTime` → `validAfter`; the `expiry` rule's `timestamp` → `validUntil` (Keyscope sessions always end: a
//! request without an expiry gets [`DEFAULT_EXPIRY_SECS`], one day, from now, echoed in its `rules`). Every session gets a bounded fee scope — what its operations may cost, each at its maximum (gas limits ×
//! `maxFeePerGas`) — the safe default (0.01 ether per operation, 0.1 ether in all) unless the request's Keyscope
//! extension `fees: {perOperation, budget}` says otherwise (`"unlimited"` only when written out, and answered
//! with a warning), and the paymaster policy `none` (self-paid only) unless its extension `paymaster` says
//! otherwise (`"any"`, `"required"`, `{"exactly": "0x…"}`); the response echoes both. A periodic permission
//! without `startTime` starts its periods at the chain's time of the request (MetaMask's default: now), echoed as
//! `startTime`; an unused allowance does not roll over. `wallet_getGrantedExecutionPermissions` adds, under
//! `keyscope.period`, the current period of a periodic permission: its index, start, next start, and what was
//! spent and is left in it. The stream types (`native-token-stream`, `erc20-token-stream`) are refused with
//! [`Error::UnsupportedPermission`]: the validator has no streaming allowance yet; the periodic types are
//! the alternative.
//! The older draft names (`native-token-transfer {allowance}`, `erc20-token-transfer {address, allowance}`,
//! top-level `expiry`, `address`, `signer`) are read too.
//!
//! The service keeps (and echoes in responses and listings) the request as it read it, not as given: only the
//! fields it uses, in the current draft's names. Every free-form field is bounded ([`MAX_TYPE_BYTES`],
//! [`MAX_DATA_BYTES`], [`MAX_SIGNER_DATA_BYTES`], [`MAX_JUSTIFICATION_BYTES`], [`MAX_RULES`]); a request over a bound gets `-32602` naming
//! the field.

use std::sync::atomic::{AtomicU64, Ordering};

use keyscope::alloy::eips::BlockId;
use keyscope::alloy::primitives::{keccak256, Address, Bytes, B256};
use keyscope::alloy::providers::Provider;
use keyscope::alloy::sol_types::SolValue;
use keyscope::permissions::{
    ArgRef, FeeScopeSpec, PaymasterSpec, Permission, PermissionSpec, PermissionTree, RuleSpec,
    RuleValue, Scalar, Session, SessionSpec, Target,
};
use keyscope::signer::signers::{
    p256_public_key_from_sec1, MultisigMember, SignerKey, MAX_MULTISIG_MEMBERS,
};
use keyscope::status::Status;
use keyscope::PeriodAllowance;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::account::AccountInput;
use crate::error::{join_path, Error, Result};
use crate::json::{check_len, from_value, hex_quantity, no_unknown, Quantity};
use crate::service::Service;
use crate::sessions::{self, Origin, SessionRecord};

/// The permission types served.
pub(crate) const SUPPORTED_PERMISSIONS: [&str; 4] = [
    "native-token-allowance",
    "erc20-token-allowance",
    "native-token-periodic",
    "erc20-token-periodic",
];
/// Why the stream types are refused.
const STREAM_REFUSAL: &str = "this validator has no streaming allowance (initialAmount + amountPerSecond × elapsed, up to maxAmount): it renews allowances per period instead, with the period named in the operation and held to it by the EntryPoint through the validation window (no clock read in validation)";
/// The rule types served.
pub(crate) const SUPPORTED_RULES: [&str; 3] = ["expiry", "redeemer", "payee"];
/// Most addresses of a `redeemer` or `payee` rule (within the validator's 64 `one_of` operands, and the rule's
/// `data` within [`MAX_DATA_BYTES`]).
pub(crate) const MAX_RULE_ADDRESSES: usize = 32;
/// First byte of a Keyscope permission context (the encoding's version).
pub(crate) const CONTEXT_VERSION: u8 = 1;
/// Most bytes of a `type` (of the permission, the signer, a rule).
pub(crate) const MAX_TYPE_BYTES: usize = 64;
/// Most bytes of each free-form `data` object (`permission.data`, `signer.data`, `rules[i].data`), as JSON.
pub(crate) const MAX_DATA_BYTES: usize = 2048;
/// Most bytes of a `signer.data` object, as JSON: room for a `keys` signer of 16 uncompressed P-256 keys (about
/// 170 bytes each with their `type`).
pub(crate) const MAX_SIGNER_DATA_BYTES: usize = 4096;
/// Most bytes of a permission's `justification` (a wallet shows it to the user; the service keeps and echoes it).
pub(crate) const MAX_JUSTIFICATION_BYTES: usize = 1024;
/// Most rules in one request.
pub(crate) const MAX_RULES: usize = 8;
/// How long a permission requested without an expiry lasts, in seconds from now (the later of this machine's
/// clock and the latest block's time): one day. Never unlimited.
pub(crate) const DEFAULT_EXPIRY_SECS: u64 = 24 * 60 * 60;
/// Most accounts `wallet_getGrantedExecutionPermissions` lists without `from` (those of the caller's API key).
pub(crate) const MAX_KEY_ACCOUNTS: usize = 16;
/// What to send when the account is missing: this service has no connected wallet to pick one from.
const FROM_REQUIRED: &str = "required: this service has no connected wallet to pick an account from: send from (the account's address), or account ({owner, salt}) for one not deployed yet";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PermissionRequest {
    chain_id: Value,
    #[serde(default)]
    from: Option<Address>,
    /// Older drafts' name of `from`.
    #[serde(default)]
    address: Option<Address>,
    /// Keyscope extension: the account by owner and salt, for one that has no code yet.
    #[serde(default)]
    account: Option<AccountInput>,
    #[serde(default)]
    to: Option<Address>,
    /// Older drafts' signer object.
    #[serde(default)]
    signer: Option<Typed>,
    permission: PermissionJson,
    #[serde(default)]
    rules: Vec<Typed>,
    /// Older drafts' top-level expiry.
    #[serde(default)]
    expiry: Option<Quantity>,
    /// Keyscope extension: the session's fee scope, `{perOperation, budget}` (default: the safe default).
    #[serde(default)]
    fees: Option<Value>,
    /// Keyscope extension: the session's paymaster policy (default: `"none"`).
    #[serde(default)]
    paymaster: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PermissionJson {
    #[serde(rename = "type")]
    kind: String,
    /// Echoed as given: this service grants exactly what is asked, or refuses.
    #[serde(default)]
    is_adjustment_allowed: Option<bool>,
    #[serde(default)]
    data: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Typed {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Value,
    #[serde(default, rename = "isAdjustmentAllowed")]
    _is_adjustment_allowed: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NativeAllowance {
    #[serde(alias = "allowance")]
    allowance_amount: Quantity,
    #[serde(default)]
    start_time: Option<Quantity>,
    /// Shown to users by wallets; not part of the session.
    #[serde(default)]
    justification: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Erc20Allowance {
    #[serde(alias = "address")]
    token_address: Address,
    #[serde(alias = "allowance")]
    allowance_amount: Quantity,
    #[serde(default)]
    start_time: Option<Quantity>,
    /// Shown to users by wallets; not part of the session.
    #[serde(default)]
    justification: Option<String>,
}

/// `native-token-periodic` (MetaMask's shape): at most `periodAmount` wei per period of `periodDuration` seconds
/// from `startTime`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NativePeriodic {
    period_amount: Quantity,
    period_duration: Quantity,
    #[serde(default)]
    start_time: Option<Quantity>,
    /// Shown to users by wallets; not part of the session.
    #[serde(default)]
    justification: Option<String>,
}

/// `erc20-token-periodic` (MetaMask's shape): at most `periodAmount` of `tokenAddress` per period of
/// `periodDuration` seconds from `startTime`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Erc20Periodic {
    token_address: Address,
    period_amount: Quantity,
    period_duration: Quantity,
    #[serde(default)]
    start_time: Option<Quantity>,
    /// Shown to users by wallets; not part of the session.
    #[serde(default)]
    justification: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Expiry {
    timestamp: Quantity,
}

/// The data of a `redeemer` or `payee` rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressList {
    addresses: Vec<String>,
}

/// An address as text: in one case, or with its EIP-55 checksum when in mixed case (a mistyped payee is refused,
/// not paid).
fn checked_address(text: &str, field: &str) -> Result<Address> {
    let hex = text.strip_prefix("0x").unwrap_or(text);
    let mixed =
        hex.chars().any(|c| c.is_ascii_uppercase()) && hex.chars().any(|c| c.is_ascii_lowercase());
    let parsed = if mixed {
        Address::parse_checksummed(text, None).map_err(|e| e.to_string())
    } else {
        text.parse::<Address>().map_err(|e| e.to_string())
    };
    parsed.map_err(|error| Error::invalid(field, format!("not an address ({error})")))
}

/// A unique salt per granted request, so that a permission asked for again after revocation is a new session.
fn fresh_salt() -> B256 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    keccak256(
        [
            nanos.to_be_bytes().as_slice(),
            &count.to_be_bytes(),
            &std::process::id().to_be_bytes(),
        ]
        .concat(),
    )
}

/// The address of a secp256k1 public key (SEC1, compressed or not).
fn key_address(bytes: &[u8], field: &str) -> Result<Address> {
    let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
        .map_err(|_| Error::invalid(field, "not a secp256k1 public key (SEC1, 33 or 65 bytes)"))?;
    Ok(Address::from_public_key(&key))
}

/// `-32602` on `field` when its `len` bytes are more than `max`.
fn check_bytes(field: &str, len: usize, max: usize) -> Result<()> {
    check_len(field, len, max, "bytes")
}

/// Bounds every free-form field of a request before anything reads it.
fn check_sizes(request: &PermissionRequest) -> Result<()> {
    let json_len = |value: &Value| serde_json::to_string(value).map_or(0, |text| text.len());
    check_bytes(
        "permission.type",
        request.permission.kind.len(),
        MAX_TYPE_BYTES,
    )?;
    if let Some(Value::String(justification)) = request.permission.data.get("justification") {
        check_bytes(
            "permission.data.justification",
            justification.len(),
            MAX_JUSTIFICATION_BYTES,
        )?;
    }
    check_bytes(
        "permission.data",
        json_len(&request.permission.data),
        MAX_DATA_BYTES,
    )?;
    if let Some(signer) = &request.signer {
        check_bytes("signer.type", signer.kind.len(), MAX_TYPE_BYTES)?;
        check_bytes("signer.data", json_len(&signer.data), MAX_SIGNER_DATA_BYTES)?;
    }
    for (field, value) in [("fees", &request.fees), ("paymaster", &request.paymaster)] {
        if let Some(value) = value {
            check_bytes(field, json_len(value), MAX_DATA_BYTES)?;
        }
    }
    check_len("rules", request.rules.len(), MAX_RULES, "rules")?;
    for (i, rule) in request.rules.iter().enumerate() {
        check_bytes(&format!("rules[{i}].type"), rule.kind.len(), MAX_TYPE_BYTES)?;
        check_bytes(
            &format!("rules[{i}].data"),
            json_len(&rule.data),
            MAX_DATA_BYTES,
        )?;
    }
    Ok(())
}

/// The key kinds a `key` signer (or a member of a `keys` signer) may name in `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Secp256k1,
    P256,
    WebAuthn,
}

impl KeyKind {
    /// The kind a `type` names, case-insensitively: ERC-7715's `secp256k1` and `secp256r1` (also `p256`,
    /// `p-256`), and `webauthn` (also `webauthn-p256`, `passkey`) for a WebAuthn credential's P-256 key.
    fn parse(name: &str, field: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "secp256k1" => Ok(Self::Secp256k1),
            "secp256r1" | "p256" | "p-256" => Ok(Self::P256),
            "webauthn" | "webauthn-p256" | "passkey" => Ok(Self::WebAuthn),
            _ => Err(Error::invalid(
                field,
                format!(
                    "{name:?} keys cannot sign Keyscope sessions: secp256k1, secp256r1 (P-256) or webauthn (a \
                     WebAuthn credential's P-256 key)"
                ),
            )),
        }
    }

    /// The name echoed.
    fn name(self) -> &'static str {
        match self {
            Self::Secp256k1 => "secp256k1",
            Self::P256 => "secp256r1",
            Self::WebAuthn => "webauthn",
        }
    }

    /// The signer of this kind whose public key is `bytes`: secp256k1 SEC1 (33 or 65 bytes); P-256 SEC1 (33 or
    /// 65 bytes) or bare `x ‖ y` (64 bytes).
    fn key(self, bytes: &[u8], field: &str) -> Result<SignerKey> {
        if self == Self::Secp256k1 {
            return Ok(SignerKey::Secp256k1 {
                address: key_address(bytes, field)?,
            });
        }
        let (x, y) = p256_point(bytes, field)?;
        Ok(match self {
            Self::WebAuthn => SignerKey::WebAuthn { x, y },
            _ => SignerKey::P256 { x, y },
        })
    }
}

/// The coordinates of a P-256 public key: SEC1 (`0x04 ‖ x ‖ y`, or compressed `0x02`/`0x03 ‖ x`) or `x ‖ y`.
fn p256_point(bytes: &[u8], field: &str) -> Result<(B256, B256)> {
    let parsed = match bytes.len() {
        33 | 65 => p256_public_key_from_sec1(bytes),
        64 => p256_public_key_from_sec1(&[&[0x04u8][..], bytes].concat()),
        n => {
            return Err(Error::invalid(
                field,
                format!(
                    "{n} bytes: a P-256 public key is SEC1, 0x04 ‖ x ‖ y (65 bytes) or compressed (33 bytes), or \
                     x ‖ y (64 bytes)"
                ),
            ))
        }
    };
    parsed.map_err(|e| Error::invalid(field, format!("not a P-256 public key: {e}")))
}

/// The key of a `did:key` identifier and its kind: secp256k1 (`did:key:zQ3s…`, multicodec secp256k1-pub 0xe7)
/// or P-256 (`did:key:zDn…`, multicodec p256-pub 0x1200), base58btc.
fn did_key(id: &str, field: &str) -> Result<(SignerKey, KeyKind)> {
    let encoded = id
        .strip_prefix("did:key:z")
        .ok_or_else(|| Error::invalid(field, "expected a did:key identifier (did:key:z…)"))?;
    let bytes = bs58::decode(encoded)
        .into_vec()
        .map_err(|e| Error::invalid(field, format!("not base58btc: {e}")))?;
    let (kind, key) = match bytes.as_slice() {
        [0xe7, 0x01, key @ ..] => (KeyKind::Secp256k1, key),
        [0x80, 0x24, key @ ..] => (KeyKind::P256, key),
        _ => {
            return Err(Error::invalid(
                field,
                "not a secp256k1 (multicodec secp256k1-pub) or P-256 (p256-pub) key: the key kinds of Keyscope \
                 session signers",
            ))
        }
    };
    Ok((kind.key(key, field)?, kind))
}

/// The address of a `did:key` identifier ([`did_key`]).
#[cfg(test)]
fn did_key_address(id: &str, field: &str) -> Result<Address> {
    did_key(id, field)?
        .0
        .address()
        .map_err(|e| Error::invalid(field, e.to_string()))
}

/// One key, `{type, publicKey}` (`type` defaults to secp256k1) or `{id}` (did:key), at `field`, and what was
/// read of it (`{type, publicKey}` or `{type, id}`).
fn read_key(data: &Value, field: &str) -> Result<(SignerKey, Value)> {
    match (data.get("publicKey"), data.get("id")) {
        (Some(key), _) => {
            let kind = match data.get("type") {
                None | Some(Value::Null) => KeyKind::Secp256k1,
                Some(Value::String(name)) => KeyKind::parse(name, &join_path(field, "type"))?,
                Some(_) => {
                    return Err(Error::invalid(
                        join_path(field, "type"),
                        "expected a string: secp256k1, secp256r1 or webauthn",
                    ))
                }
            };
            let public_key = join_path(field, "publicKey");
            let bytes: Bytes = from_value(key.clone(), &public_key)?;
            let key = kind.key(&bytes, &public_key)?;
            Ok((key, json!({ "type": kind.name(), "publicKey": bytes })))
        }
        (None, Some(Value::String(id))) => {
            let (key, kind) = did_key(id, &join_path(field, "id"))?;
            Ok((key, json!({ "type": kind.name(), "id": id })))
        }
        _ => Err(Error::invalid(
            field,
            "give publicKey (with type secp256k1, secp256r1 or webauthn) or id (did:key)",
        )),
    }
}

/// The multisig of a `keys` signer: every key of weight 1, the threshold `data.threshold` (a Keyscope extension)
/// or all the keys; and what was read of it (`{keys, threshold}`, the threshold always).
fn read_keys(data: &Value) -> Result<(SignerKey, Value)> {
    // `keys: [{type, publicKey} | {id}]`, or an older draft's `ids: [did:key]`
    let (field, entries) = match (data.get("keys"), data.get("ids")) {
        (Some(Value::Array(keys)), _) => ("signer.data.keys", keys.clone()),
        (None, Some(Value::Array(ids))) => (
            "signer.data.ids",
            ids.iter().map(|id| json!({ "id": id })).collect(),
        ),
        _ => {
            return Err(Error::invalid(
                "signer.data.keys",
                "required: a list of keys, {type, publicKey} or {id} (did:key)",
            ))
        }
    };
    if entries.is_empty() {
        return Err(Error::invalid(field, "at least one key"));
    }
    check_len(field, entries.len(), MAX_MULTISIG_MEMBERS, "keys")?;
    let mut members = Vec::with_capacity(entries.len());
    let mut read = Vec::with_capacity(entries.len());
    let mut addresses = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let member_field = format!("{field}[{i}]");
        let (key, read_entry) = match entry {
            // an `ids` entry, wrapped as `{id}` above, is named by its place in `ids`
            Value::Object(_) if field == "signer.data.ids" => read_key(entry, &member_field)
                .map_err(|e| match e {
                    Error::InvalidParams { message, .. } => Error::invalid(&member_field, message),
                    other => other,
                })?,
            Value::Object(_) => read_key(entry, &member_field)?,
            _ => {
                return Err(Error::invalid(
                    member_field,
                    "expected a key, {type, publicKey} or {id}",
                ))
            }
        };
        let address = key
            .address()
            .map_err(|e| Error::invalid(&member_field, e.to_string()))?;
        if let Some(first) = addresses.iter().position(|seen| *seen == address) {
            return Err(Error::invalid(
                member_field,
                format!("repeats {field}[{first}] ({address})"),
            ));
        }
        addresses.push(address);
        members.push(MultisigMember {
            weight: 1,
            signer: key,
        });
        read.push(read_entry);
    }
    let count = members.len();
    let threshold = match data.get("threshold") {
        None | Some(Value::Null) => count,
        Some(value) => {
            let value = from_value::<Quantity>(value.clone(), "signer.data.threshold")?;
            match usize::try_from(value.0) {
                Ok(threshold) if (1..=count).contains(&threshold) => threshold,
                _ => {
                    return Err(Error::invalid(
                        "signer.data.threshold",
                        format!(
                            "{}: the number of keys that must sign, from 1 to the {count} keys",
                            value.0
                        ),
                    ))
                }
            }
        }
    };
    // both at most MAX_MULTISIG_MEMBERS (16)
    let threshold = u16::try_from(threshold)
        .map_err(|_| Error::invalid("signer.data.threshold", "out of range"))?;
    let key = SignerKey::Multisig { threshold, members };
    key.validate()
        .map_err(|e| Error::invalid("signer.data", e.to_string()))?;
    let read = json!({ "type": "keys", "data": { "keys": read, "threshold": threshold } });
    Ok((key, read))
}

/// The signer of a `signer` object, and the object as read (only the fields used).
fn read_signer(signer: &Typed) -> Result<(SignerKey, Value)> {
    match signer.kind.as_str() {
        "account" => {
            let address = signer
                .data
                .get("address")
                .or_else(|| signer.data.get("id"))
                .cloned();
            let address =
                from_value::<Address>(address.unwrap_or(Value::Null), "signer.data.address")?;
            Ok((
                SignerKey::Secp256k1 { address },
                json!({ "type": "account", "data": { "address": address } }),
            ))
        }
        "key" => {
            if signer.data.get("threshold").is_some() {
                return Err(Error::invalid(
                    "signer.data.threshold",
                    "only a keys signer (a multisig) has a threshold: one key always signs alone",
                ));
            }
            let (key, read) = read_key(&signer.data, "signer.data")?;
            Ok((key, json!({ "type": "key", "data": read })))
        }
        "keys" => read_keys(&signer.data),
        other => Err(Error::invalid(
            "signer.type",
            format!(
                "{other:?} signers are not served: the signer must be an account (\"account\" with its address), a \
                 key (\"key\": secp256k1, secp256r1 or webauthn) or keys (\"keys\": a multisig of such keys)"
            ),
        )),
    }
}

/// The session signer's address of a request (`to`, or the older `signer` object: for a P-256, WebAuthn or
/// multisig signer the commitment to its key bytes, [`SignerKey::address`]), and the `signer` object as read
/// (only the fields used).
fn session_key(request: &PermissionRequest) -> Result<(Address, Option<Value>)> {
    let from_signer = match &request.signer {
        None => None,
        Some(signer) => {
            let (key, read) = read_signer(signer)?;
            let address = key
                .address()
                .map_err(|e| Error::invalid("signer.data", e.to_string()))?;
            Some((address, read))
        }
    };
    match (request.to, from_signer) {
        (Some(to), Some((signer, _))) if to != signer => Err(Error::invalid(
            "signer",
            format!("names {signer}, but to is {to}"),
        )),
        (Some(to), read) => Ok((to, read.map(|(_, read)| read))),
        (None, Some((signer, read))) => Ok((signer, Some(read))),
        (None, None) => Err(Error::invalid("to", "required: the session key's address")),
    }
}

/// The Keyscope permission and window start of an ERC-7715 permission, and the permission as read (`{type,
/// isAdjustmentAllowed, data}` with only the fields used). `now` is the start of a periodic permission requested
/// without `startTime` (the chain's time: periods then start at the grant, as in MetaMask).
fn to_permission(permission: &PermissionJson, now: u64) -> Result<(PermissionSpec, u64, Value)> {
    let start = |start: Option<Quantity>| -> Result<u64> {
        start
            .unwrap_or_default()
            .to_u64("permission.data.startTime")
    };
    match permission.kind.as_str() {
        "native-token-allowance" | "native-token-transfer" => {
            let data: NativeAllowance = from_value(permission.data.clone(), "permission.data")?;
            let amount = data.allowance_amount.0;
            if amount.is_zero() {
                return Err(Error::invalid(
                    "permission.data.allowanceAmount",
                    "must be positive",
                ));
            }
            let mut spec = PermissionSpec::native_transfer(Target::Any, amount);
            spec.native_total_limit = Some(amount);
            let valid_after = start(data.start_time)?;
            let read = json!({ "allowanceAmount": data.allowance_amount });
            Ok((
                spec,
                valid_after,
                read_permission(
                    permission,
                    read,
                    data.start_time.map(|_| valid_after),
                    data.justification,
                ),
            ))
        }
        "erc20-token-allowance" | "erc20-token-transfer" => {
            let data: Erc20Allowance = from_value(permission.data.clone(), "permission.data")?;
            let amount = data.allowance_amount.0;
            if amount.is_zero() {
                return Err(Error::invalid(
                    "permission.data.allowanceAmount",
                    "must be positive",
                ));
            }
            let mut spec =
                PermissionSpec::call(data.token_address, "transfer(address to,uint256 amount)");
            spec.erc20_total_limit = Some(amount);
            let valid_after = start(data.start_time)?;
            let read = json!({ "tokenAddress": data.token_address, "allowanceAmount": data.allowance_amount });
            Ok((
                spec,
                valid_after,
                read_permission(
                    permission,
                    read,
                    data.start_time.map(|_| valid_after),
                    data.justification,
                ),
            ))
        }
        "native-token-periodic" => {
            let data: NativePeriodic = from_value(permission.data.clone(), "permission.data")?;
            let (amount, duration) = period_terms(data.period_amount, data.period_duration)?;
            let valid_after = match data.start_time {
                Some(start_time) => start(Some(start_time))?,
                None => now,
            };
            let mut spec = PermissionSpec::native_transfer(Target::Any, amount);
            spec.period = Some(duration);
            spec.native_period_limit = Some(amount);
            spec.valid_after = Some(valid_after);
            let read = json!({ "periodAmount": data.period_amount, "periodDuration": duration });
            Ok((
                spec,
                valid_after,
                read_permission(permission, read, Some(valid_after), data.justification),
            ))
        }
        "erc20-token-periodic" => {
            let data: Erc20Periodic = from_value(permission.data.clone(), "permission.data")?;
            let (amount, duration) = period_terms(data.period_amount, data.period_duration)?;
            let valid_after = match data.start_time {
                Some(start_time) => start(Some(start_time))?,
                None => now,
            };
            let mut spec =
                PermissionSpec::call(data.token_address, "transfer(address to,uint256 amount)");
            spec.period = Some(duration);
            spec.erc20_period_limit = Some(amount);
            spec.valid_after = Some(valid_after);
            let read = json!({ "tokenAddress": data.token_address, "periodAmount": data.period_amount, "periodDuration": duration });
            Ok((
                spec,
                valid_after,
                read_permission(permission, read, Some(valid_after), data.justification),
            ))
        }
        kind @ ("native-token-stream" | "erc20-token-stream") => {
            Err(Error::UnsupportedPermission {
                field: "permission.type".to_owned(),
                kind: kind.to_owned(),
                why: STREAM_REFUSAL.to_owned(),
                instead: Some(kind.replace("-stream", "-periodic")),
                supported: supported_permissions(),
            })
        }
        other => Err(Error::UnsupportedPermission {
            field: "permission.type".to_owned(),
            kind: other.to_owned(),
            why: format!(
                "not a permission type this service grants (supported: {})",
                SUPPORTED_PERMISSIONS.join(", ")
            ),
            instead: None,
            supported: supported_permissions(),
        }),
    }
}

/// [`SUPPORTED_PERMISSIONS`] as owned strings.
fn supported_permissions() -> Vec<String> {
    SUPPORTED_PERMISSIONS
        .iter()
        .map(|kind| (*kind).to_owned())
        .collect()
}

/// A periodic permission's `periodAmount` (positive) and `periodDuration` (positive seconds, at most `uint48`).
fn period_terms(
    amount: Quantity,
    duration: Quantity,
) -> Result<(keyscope::alloy::primitives::U256, u64)> {
    if amount.0.is_zero() {
        return Err(Error::invalid(
            "permission.data.periodAmount",
            "must be positive",
        ));
    }
    let duration = duration.to_u64("permission.data.periodDuration")?;
    if duration == 0 {
        return Err(Error::invalid(
            "permission.data.periodDuration",
            "must be a positive number of seconds",
        ));
    }
    if duration > keyscope::permissions::abi::U48_MAX {
        return Err(Error::invalid(
            "permission.data.periodDuration",
            format!("{duration} seconds is over the validator's bound (2^48 - 1)"),
        ));
    }
    Ok((amount.0, duration))
}

/// The permission as read: its type, `isAdjustmentAllowed` (when given), and `data` with `startTime` and
/// `justification` added when given.
fn read_permission(
    permission: &PermissionJson,
    mut data: Value,
    start_time: Option<u64>,
    justification: Option<String>,
) -> Value {
    if let Some(start_time) = start_time {
        data["startTime"] = json!(start_time);
    }
    if let Some(justification) = justification {
        data["justification"] = json!(justification);
    }
    let mut read = json!({ "type": permission.kind, "data": data });
    if let Some(allowed) = permission.is_adjustment_allowed {
        read["isAdjustmentAllowed"] = json!(allowed);
    }
    read
}

/// The rules of a request, as read.
#[derive(Debug, Default, PartialEq, Eq)]
struct Rules {
    /// `validUntil`, from the `expiry` rule (or the older top-level `expiry`); `None` when the request has none.
    expiry: Option<u64>,
    /// The `redeemer` rule's addresses: who may use the permission. Keyscope's only redeemer is the session key
    /// (it signs every operation), so the rule must name it.
    redeemers: Option<Vec<Address>>,
    /// The `payee` rule's addresses: who may receive what the permission transfers.
    payees: Option<Vec<Address>>,
    /// The index of the `payee` rule among the request's rules.
    payee_rule: usize,
}

/// A `redeemer` or `payee` rule's data: `{addresses: [...]}`, at least one, at most [`MAX_RULE_ADDRESSES`];
/// duplicates dropped, order kept.
fn rule_addresses(data: &Value, field: &str) -> Result<Vec<Address>> {
    let data: AddressList = from_value(data.clone(), field)?;
    let field = join_path(field, "addresses");
    if data.addresses.is_empty() {
        return Err(Error::invalid(field, "at least one address"));
    }
    check_len(
        &field,
        data.addresses.len(),
        MAX_RULE_ADDRESSES,
        "addresses",
    )?;
    let mut addresses = Vec::with_capacity(data.addresses.len());
    for (j, text) in data.addresses.iter().enumerate() {
        let address = checked_address(text, &format!("{field}[{j}]"))?;
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    Ok(addresses)
}

/// Reads the request's rules; `key` is the session key, the only address that can use a Keyscope permission.
fn read_rules(request: &PermissionRequest, key: Address) -> Result<Rules> {
    let mut rules = Rules {
        expiry: request.expiry.map(|q| q.to_u64("expiry")).transpose()?,
        ..Rules::default()
    };
    for (i, rule) in request.rules.iter().enumerate() {
        let field = format!("rules[{i}]");
        let data_field = join_path(&field, "data");
        let once = |seen: bool| {
            if seen {
                Err(Error::invalid(
                    join_path(&field, "type"),
                    format!(
                        "a second {:?} rule: give one, with every address",
                        rule.kind
                    ),
                ))
            } else {
                Ok(())
            }
        };
        match rule.kind.as_str() {
            "expiry" => {
                let data: Expiry = from_value(rule.data.clone(), &data_field)?;
                let at = data
                    .timestamp
                    .to_u64(&join_path(&field, "data.timestamp"))?;
                rules.expiry = Some(rules.expiry.map_or(at, |u| u.min(at)));
            }
            "redeemer" => {
                once(rules.redeemers.is_some())?;
                let redeemers = rule_addresses(&rule.data, &data_field)?;
                if !redeemers.contains(&key) {
                    return Err(Error::invalid(
                        join_path(&data_field, "addresses"),
                        format!(
                            "does not name the session key {key}: a Keyscope permission is used only by its session \
                             key, which signs every operation (whoever submits it), so no other redeemer can be \
                             honoured; name the session key or leave the rule out"
                        ),
                    ));
                }
                rules.redeemers = Some(redeemers);
            }
            "payee" => {
                once(rules.payees.is_some())?;
                rules.payees = Some(rule_addresses(&rule.data, &data_field)?);
                rules.payee_rule = i;
            }
            other => {
                return Err(Error::invalid(
                    join_path(&field, "type"),
                    format!(
                        "rule {other:?} is not supported (supported: {})",
                        SUPPORTED_RULES.join(", ")
                    ),
                ))
            }
        }
    }
    if rules.expiry == Some(0) {
        return Err(Error::invalid(
            "rules",
            "the expiry's timestamp must be a positive Unix time: Keyscope sessions always end (leave the expiry out for one day from now)",
        ));
    }
    Ok(rules)
}

/// `permission` restricted to pay only `payees`: an ERC-20 transfer's `to` is one of them (an argument rule); a
/// native transfer to any target becomes one permission per payee, each with the permission's limits. The
/// validator keeps a session's totals and period allowances per asset (not per permission), so the payees share
/// one allowance.
fn pay_only(permission: PermissionSpec, payees: &[Address]) -> Result<Vec<PermissionSpec>> {
    if permission.native_transfer {
        // Copies of a permission with a target of its own, or with use counters (kept per permission), would
        // change what it allows: no permission type this service maps has them.
        if permission.target != Target::Any
            || permission.max_uses.is_some()
            || permission.rate_limit.is_some()
        {
            return Err(Error::Internal(
                "a payee rule on a native permission with a target or use counters".into(),
            ));
        }
        return Ok(payees
            .iter()
            .map(|payee| PermissionSpec {
                target: Target::Address(*payee),
                ..permission.clone()
            })
            .collect());
    }
    let operands: Vec<Scalar> = payees
        .iter()
        .map(|payee| Scalar::Text(payee.to_string()))
        .collect();
    let (op, value) = match operands.as_slice() {
        [one] => ("eq", RuleValue::One(one.clone())),
        _ => ("one_of", RuleValue::Many(operands)),
    };
    let mut permission = permission;
    permission.rules.push(RuleSpec {
        arg: ArgRef::Name("to".into()),
        op: op.into(),
        value: Some(value),
        mask: None,
        ty: None,
    });
    Ok(vec![permission])
}

/// The rules as granted: the expiry (given or the default `valid_until`), then the redeemer and payee rules when
/// given.
fn read_rules_json(valid_until: u64, rules: &Rules) -> Value {
    let mut read = vec![json!({ "type": "expiry", "data": { "timestamp": valid_until } })];
    if let Some(redeemers) = &rules.redeemers {
        read.push(json!({ "type": "redeemer", "data": { "addresses": redeemers } }));
    }
    if let Some(payees) = &rules.payees {
        read.push(json!({ "type": "payee", "data": { "addresses": payees } }));
    }
    Value::Array(read)
}

/// `0x01 ‖ abi.encode(account, session, permissions)`.
pub(crate) fn encode_context(
    account: Address,
    session: &Session,
    permissions: &[Permission],
) -> Bytes {
    let mut out = vec![CONTEXT_VERSION];
    out.extend((account, session.clone(), permissions.to_vec()).abi_encode_params());
    out.into()
}

/// Reads a context back: account, session (its root checked against the permissions) and permissions.
pub(crate) fn decode_context(
    context: &[u8],
    field: &str,
) -> Result<(Address, Session, Vec<Permission>)> {
    let Some((&CONTEXT_VERSION, body)) = context.split_first() else {
        return Err(Error::invalid(
            field,
            "not a Keyscope permission context (version byte 0x01)",
        ));
    };
    let (account, session, permissions) =
        <(Address, Session, Vec<Permission>)>::abi_decode_params_validate(body).map_err(|e| {
            Error::invalid(field, format!("malformed Keyscope permission context: {e}"))
        })?;
    let tree = PermissionTree::from_permissions(&permissions).map_err(|e| {
        Error::invalid(field, format!("malformed Keyscope permission context: {e}"))
    })?;
    if tree.root() != session.permissionsRoot {
        return Err(Error::invalid(
            field,
            "the context's permissions do not match its session's root",
        ));
    }
    Ok((account, session, permissions))
}

impl Service {
    /// `wallet_requestExecutionPermissions`: `[PermissionRequest, …]` (one account per call).
    pub(crate) async fn request_execution_permissions(
        &self,
        params: Option<&str>,
    ) -> Result<Value> {
        let requests: Vec<Value> = match params {
            None => vec![],
            Some(text) => match serde_json::from_str::<Value>(text)
                .map_err(|e| Error::invalid("params", e.to_string()))?
            {
                Value::Array(list) => list,
                object @ Value::Object(_) => vec![object],
                _ => {
                    return Err(Error::invalid(
                        "params",
                        "expected an array of permission requests",
                    ))
                }
            },
        };
        self.check_session_count("params", requests.len(), "permission request")?;

        // The start of periodic permissions requested without `startTime`: the chain's time, which the signer
        // counts periods by.
        let chain_time = self.chain_time().await?;
        let mut resolved = None;
        let mut granted = Vec::with_capacity(requests.len());
        for (i, original) in requests.into_iter().enumerate() {
            let field = format!("[{i}]");
            if original.get("permissions").is_some() && original.get("permission").is_none() {
                return Err(Error::invalid(
                    join_path(&field, "permissions"),
                    "the 2024 draft's shape (permissions[] with policies) is not served: send one request per permission, {chainId, from, to, permission: {type, data}, rules}",
                ));
            }
            let request: PermissionRequest = from_value(original, &field)?;
            check_sizes(&request).map_err(|e| e.within(&field))?;
            self.check_chain(Some(&request.chain_id), &join_path(&field, "chainId"), true)?;
            let (key, signer) = session_key(&request).map_err(|e| e.within(&field))?;
            // what a P-256, WebAuthn or multisig signer's address commits to, kept in the session's JSON
            let signer_key = match &request.signer {
                Some(signer) => read_signer(signer)
                    .map_err(|e| e.within(&field))?
                    .0
                    .canonical()
                    .map_err(|e| Error::invalid(join_path(&field, "signer"), e.to_string()))?
                    .into(),
                None => None,
            }
            .filter(|key: &SignerKey| !matches!(key, SignerKey::Secp256k1 { .. }));
            let code = self.client().provider().get_code_at(key).await?;
            if !code.is_empty() && !code.starts_with(&[0xef, 0x01, 0x00]) {
                return Err(Error::invalid(
                    join_path(&field, "to"),
                    format!("{key} is a contract: a Keyscope session signer is a key (an externally owned address, or the commitment to a P-256, WebAuthn or multisig signer's keys)"),
                ));
            }
            let rules = read_rules(&request, key).map_err(|e| e.within(&field))?;
            let valid_until = match rules.expiry {
                Some(until) => until,
                None => self.default_expiry().await?,
            };
            let (permission, valid_after, read_permission) =
                to_permission(&request.permission, chain_time).map_err(|e| e.within(&field))?;
            let permissions = match &rules.payees {
                Some(payees) => pay_only(permission, payees)?,
                None => vec![permission],
            };
            if permissions.len() > self.limits().permissions_per_session {
                return Err(Error::invalid(
                    join_path(&field, "rules"),
                    format!(
                        "the payees of a native-token permission each need a permission of the session: {} is over \
                         this service's {} per session",
                        permissions.len(),
                        self.limits().permissions_per_session
                    ),
                ));
            }
            let fees = match &request.fees {
                Some(value) => {
                    sessions::parse_fee_scope(value.clone(), &join_path(&field, "fees"))?
                }
                None => FeeScopeSpec::default(),
            };
            let paymaster = match &request.paymaster {
                Some(value) => {
                    sessions::parse_paymaster(value.clone(), &join_path(&field, "paymaster"))?
                }
                None => PaymasterSpec::default(),
            };
            let spec = SessionSpec {
                signer: key,
                signer_key,
                valid_after,
                valid_until,
                paymaster,
                fees,
                salt: fresh_salt(),
                permissions,
                typed_data: Vec::new(),
            };
            let compiled = sessions::compile(&spec, &field)?;

            let account = match (&request.account, request.from.or(request.address)) {
                (Some(account), _) => account.clone(),
                (None, Some(address)) => AccountInput {
                    address: Some(address),
                    ..Default::default()
                },
                (None, None) => {
                    return Err(Error::invalid(join_path(&field, "from"), FROM_REQUIRED))
                }
            };
            let this = account
                .resolve(self.client(), &join_path(&field, "from"))
                .await?;
            // Never valid targets of a session's call: refused here, not at the first payment.
            let validator = self.client().stack().session_key_validator;
            if let Some(payee) = rules
                .payees
                .iter()
                .flatten()
                .find(|payee| [this.account.address, validator, Address::ZERO].contains(payee))
            {
                return Err(Error::invalid(
                    format!("{field}.rules[{}].data.addresses", rules.payee_rule),
                    format!(
                        "{payee} cannot be paid by a session: it is the account, the SessionKeyValidator or the zero \
                         address"
                    ),
                ));
            }
            match &resolved {
                None => resolved = Some(this.clone()),
                Some(first) if first == &this => {}
                Some(first) => {
                    return Err(Error::invalid(
                        join_path(&field, "from"),
                        format!(
                            "all requests of one call must be for the same account ({})",
                            first.account.address
                        ),
                    ))
                }
            }
            // What is kept and echoed: the request as read, not as given.
            let mut read = json!({
                "chainId": hex_quantity(self.chain_id()),
                "from": this.account.address,
                "to": key,
                "permission": read_permission,
                "rules": read_rules_json(valid_until, &rules),
                "fees": sessions::fee_scope_json(&spec.fees),
                "paymaster": spec.paymaster,
            });
            if let Some(signer) = signer {
                read["signer"] = signer;
            }
            granted.push((read, spec, compiled));
        }
        let Some(resolved) = resolved else {
            return Err(Error::invalid("params", "at least one permission request"));
        };

        let account = resolved.account.address;
        let validator = self.client().stack().session_key_validator;
        let dependencies = match &resolved.init {
            Some((factory, data)) => json!([{ "factory": factory, "factoryData": data }]),
            None => json!([]),
        };
        let contexts: Vec<Bytes> = granted
            .iter()
            .map(|(_, _, compiled)| {
                encode_context(account, &compiled.session, &compiled.permissions)
            })
            .collect();
        let grant = self
            .grant(
                resolved,
                granted
                    .iter()
                    .map(|(read, spec, compiled)| {
                        (
                            spec.clone(),
                            compiled.clone(),
                            Origin::Erc7715(read.clone()),
                        )
                    })
                    .collect(),
            )
            .await?;
        let operation = json!(grant.operation);
        let mut answers = Vec::with_capacity(granted.len());
        for (((read, _, _), record), context) in
            granted.into_iter().zip(grant.records).zip(contexts)
        {
            answers.push(response(
                read,
                context,
                dependencies.clone(),
                validator,
                &record,
                Some(&operation),
            ));
        }
        Ok(Value::Array(answers))
    }

    /// The latest block's time.
    async fn chain_time(&self) -> Result<u64> {
        Ok(self
            .client()
            .provider()
            .get_block_by_number(keyscope::alloy::eips::BlockNumberOrTag::Latest)
            .await?
            .map(|block| block.header.timestamp)
            .unwrap_or_default())
    }

    /// `validUntil` of a permission requested without an expiry: [`DEFAULT_EXPIRY_SECS`] from the later of this
    /// machine's clock and the latest block's time.
    async fn default_expiry(&self) -> Result<u64> {
        Ok(self.now().await?.saturating_add(DEFAULT_EXPIRY_SECS))
    }

    /// `wallet_revokeExecutionPermission`: `{permissionContext}` → `{}` plus, under `keyscope`, the owner's
    /// operation that revokes the session.
    pub(crate) async fn revoke_execution_permission(
        &self,
        params: Map<String, Value>,
    ) -> Result<Value> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Params {
            permission_context: Bytes,
        }
        let p: Params = from_value(Value::Object(params), "")?;
        let (account, session, _) = decode_context(&p.permission_context, "permissionContext")?;
        let id = keyscope::permissions::session_id(&session);
        let mut revoke = Map::new();
        revoke.insert("account".into(), json!({ "address": account }));
        revoke.insert("sessionIds".into(), json!([id]));
        let operation = self.revoke_sessions(revoke).await?;
        Ok(json!({ "keyscope": operation }))
    }

    /// `wallet_getSupportedExecutionPermissions`.
    pub(crate) fn supported_execution_permissions(&self) -> Value {
        let entry =
            json!({ "chainIds": [hex_quantity(self.chain_id())], "ruleTypes": SUPPORTED_RULES });
        Value::Object(
            SUPPORTED_PERMISSIONS
                .iter()
                .map(|kind| ((*kind).to_owned(), entry.clone()))
                .collect(),
        )
    }

    /// `wallet_getGrantedExecutionPermissions`: `{from}` (or `[from]`): the permissions this service built for the
    /// account that are granted on chain now (active or not yet started). Without `from` (`params: []`, as
    /// wallets' clients send it): with API keys, those asked for with the caller's key (on at most
    /// [`MAX_KEY_ACCOUNTS`] accounts); without API keys, `-32602` on `from` saying what to send (the service has no
    /// connected wallet, and no way to tell whose grants the caller may see). Never another caller's grants.
    pub(crate) async fn granted_execution_permissions(
        &self,
        mut params: Map<String, Value>,
    ) -> Result<Value> {
        let from = params
            .remove("from")
            .or_else(|| params.remove("address"))
            .filter(|from| !from.is_null());
        no_unknown(&params)?;
        if let Some(from) = from {
            let account = self.account_address(Some(from), "from").await?;
            return Ok(Value::Array(self.granted_of(account, None).await?));
        }
        let Some(key) = crate::gateway::caller_key() else {
            return Err(Error::invalid(
                "from",
                "required: this service has no connected wallet, and without API keys it cannot tell whose grants a caller may see: send {\"from\": \"0x…\"} (or [\"0x…\"]), the account whose permissions to list",
            ));
        };
        let accounts = self.accounts_of_key(&key, MAX_KEY_ACCOUNTS + 1).await?;
        if accounts.len() > MAX_KEY_ACCOUNTS {
            return Err(Error::invalid(
                "from",
                format!("this API key's permissions are on more than {MAX_KEY_ACCOUNTS} accounts: send {{\"from\": \"0x…\"}}, the account whose permissions to list"),
            ));
        }
        let mut answers = Vec::new();
        for account in accounts {
            answers.extend(self.granted_of(account, Some(&key)).await?);
        }
        Ok(Value::Array(answers))
    }

    /// The ERC-7715 permissions this service built for `account` that are active or pending on chain; only those
    /// asked for with the API key named `api_key` when given.
    async fn granted_of(&self, account: Address, api_key: Option<&str>) -> Result<Vec<Value>> {
        let validator = self.client().stack().session_key_validator;
        let listing = self.sessions_of(account, self.first_block()).await?;
        let live: Vec<_> = listing
            .sessions
            .iter()
            .filter(|entry| matches!(entry.status, Status::Active | Status::Pending))
            .collect();
        let ids: Vec<_> = live.iter().map(|entry| entry.session_id).collect();
        let mut stored = self.remembered(account, &ids).await?;
        let granted: Vec<_> = live
            .into_iter()
            .filter_map(|entry| {
                let stored = stored.remove(&entry.session_id)?;
                let asked = api_key.is_none_or(|key| stored.api_key.as_deref() == Some(key));
                (asked && matches!(stored.origin, Origin::Erc7715(_))).then_some((entry, stored))
            })
            .collect();
        let entries: Vec<_> = granted.iter().map(|(entry, _)| *entry).collect();
        let charged = self.client().fees_charged_in(&listing, &entries).await?;
        let at = BlockId::number(listing.block_number);
        let mut answers = Vec::with_capacity(granted.len());
        for ((_, stored), charged) in granted.iter().zip(charged) {
            let Origin::Erc7715(read) = &stored.origin else {
                continue;
            };
            let record = SessionRecord::new(&stored.compiled, &stored.spec)?;
            let context = encode_context(
                account,
                &stored.compiled.session,
                &stored.compiled.permissions,
            );
            let mut answer = response(read.clone(), context, json!([]), validator, &record, None);
            if let Some(charged) = charged {
                sessions::set_fees(&mut answer["keyscope"], charged, Some(&stored.spec.fees));
            }
            let mut periods = Vec::new();
            for permission in &stored.compiled.permissions {
                let session_id = stored.compiled.session_id();
                periods.extend(
                    self.client()
                        .period_allowances_at(
                            account,
                            session_id,
                            permission,
                            listing.now,
                            Some(at),
                        )
                        .await?,
                );
            }
            if let Some(period) = periods.first() {
                answer["keyscope"]["period"] = period_json(period);
            }
            answers.push(answer);
        }
        Ok(answers)
    }
}

/// A periodic permission's state in the current period, for `wallet_getGrantedExecutionPermissions`:
/// `{index, start, nextStart, periodDuration, periodAmount, spent, left}` (times in unix seconds, amounts as hex
/// quantities in wei or the token's raw units).
fn period_json(period: &PeriodAllowance) -> Value {
    json!({
        "index": period.period,
        "start": period.period_start,
        "nextStart": period.next_period_start,
        "periodDuration": period.interval,
        "periodAmount": Quantity(period.limit),
        "spent": Quantity(period.spent),
        "left": Quantity(period.left),
    })
}

/// A permission response: the request as read, `context`, `dependencies`, `delegationManager` (the
/// `SessionKeyValidator`, which enforces the permission), and the Keyscope details.
fn response(
    request: Value,
    context: Bytes,
    dependencies: Value,
    validator: Address,
    record: &SessionRecord,
    operation: Option<&Value>,
) -> Value {
    let mut object = match request {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    object.insert("context".into(), json!(context));
    object.insert("dependencies".into(), dependencies);
    object.insert("delegationManager".into(), json!(validator));
    let mut keyscope = json!({
        "sessionId": record.session_id,
        "feeScope": record.fee_scope,
        "warnings": record.warnings,
        "session": record,
    });
    if let Some(Value::Object(operation)) = operation {
        for (key, value) in operation {
            keyscope[key] = value.clone();
        }
    }
    object.insert("keyscope".into(), keyscope);
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyscope::alloy::primitives::{hex, U256};

    fn request(value: Value) -> PermissionRequest {
        serde_json::from_value(value).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn maps_allowances() {
        let native = request(json!({
            "chainId": "0x1", "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "permission": { "type": "native-token-allowance", "isAdjustmentAllowed": false,
                            "data": { "allowanceAmount": "0xde0b6b3a7640000", "startTime": 5 } },
            "rules": [{ "type": "expiry", "data": { "timestamp": 1000 } }]
        }));
        let (spec, start, read) =
            to_permission(&native.permission, 0).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(start, 5);
        assert_eq!(
            read,
            json!({ "type": "native-token-allowance", "isAdjustmentAllowed": false,
                    "data": { "allowanceAmount": "0xde0b6b3a7640000", "startTime": 5 } })
        );
        assert!(spec.native_transfer);
        assert_eq!(spec.native_total_limit, Some(U256::from(10u64.pow(18))));
        let key: Address = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
            .parse()
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            read_rules(&native, key).ok().and_then(|r| r.expiry),
            Some(1000)
        );

        let erc20 = request(json!({
            "chainId": "0x1", "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "permission": { "type": "erc20-token-allowance", "isAdjustmentAllowed": true,
                            "data": { "tokenAddress": "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "allowanceAmount": "0x64" } },
            "rules": [{ "type": "expiry", "data": { "timestamp": 1000 } }]
        }));
        let (spec, _, _) =
            to_permission(&erc20.permission, 0).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(spec.erc20_total_limit, Some(U256::from(100)));
        assert_eq!(
            spec.function.as_deref(),
            Some("transfer(address to,uint256 amount)")
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let field = |r: Result<(PermissionSpec, u64, Value)>| match r {
            Err(Error::InvalidParams { field, .. }) => field,
            other => format!("{other:?}"),
        };
        let periodic = |data: Value| {
            request(
                json!({ "chainId": 1, "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                "permission": { "type": "native-token-periodic", "data": data } }),
            )
        };
        for (data, expected) in [
            (json!({}), "permission.data"),
            (
                json!({ "periodAmount": "0x0", "periodDuration": 60 }),
                "permission.data.periodAmount",
            ),
            (
                json!({ "periodAmount": "0x1", "periodDuration": 0 }),
                "permission.data.periodDuration",
            ),
            (
                json!({ "periodAmount": "0x1", "periodDuration": "0x1000000000000" }),
                "permission.data.periodDuration",
            ),
            (
                json!({ "periodAmount": "0x1", "periodDuration": 60, "amountPerSecond": "0x1" }),
                "permission.data.amountPerSecond",
            ),
        ] {
            assert_eq!(
                field(to_permission(&periodic(data.clone()).permission, 0)),
                expected,
                "{data}"
            );
        }
        let unknown_rule = request(
            json!({ "chainId": 1, "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "permission": { "type": "native-token-allowance", "data": { "allowanceAmount": "0x1" } },
            "rules": [{ "type": "allowed-calldata", "data": {} }] }),
        );
        assert!(
            matches!(read_rules(&unknown_rule, Address::ZERO), Err(Error::InvalidParams { field, .. }) if field == "rules[0].type")
        );
        let wallet = request(
            json!({ "chainId": 1, "signer": { "type": "wallet", "data": {} },
            "permission": { "type": "native-token-allowance", "data": { "allowanceAmount": "0x1" } } }),
        );
        assert!(
            matches!(session_key(&wallet), Err(Error::InvalidParams { field, .. }) if field == "signer.type")
        );
    }

    #[test]
    fn redeemer_and_payee_rules() {
        let key: Address = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
            .parse()
            .unwrap_or_else(|e| unreachable!("{e}"));
        let (a, b) = (Address::repeat_byte(0xa1), Address::repeat_byte(0xb2));
        let with_rules = |rules: Value| {
            request(json!({ "chainId": 1, "to": key,
                "permission": { "type": "native-token-allowance", "data": { "allowanceAmount": "0x1" } },
                "rules": rules }))
        };
        let read = read_rules(
            &with_rules(json!([
                { "type": "redeemer", "data": { "addresses": [key, b] } },
                { "type": "payee", "data": { "addresses": [a, b, a] } },
                { "type": "expiry", "data": { "timestamp": 1000 } }
            ])),
            key,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            read,
            Rules {
                expiry: Some(1000),
                redeemers: Some(vec![key, b]),
                payees: Some(vec![a, b]),
                payee_rule: 1,
            }
        );
        assert_eq!(
            read_rules_json(1000, &read)[2],
            json!({ "type": "payee", "data": { "addresses": [a, b] } })
        );
        let field = |rules: Value| match read_rules(&with_rules(rules), key) {
            Err(Error::InvalidParams { field, .. }) => field,
            other => unreachable!("{other:?}"),
        };
        // A redeemer set without the session key cannot be honoured; empty, malformed or repeated rules.
        let many: Vec<Address> = (0..33u8).map(Address::repeat_byte).collect();
        for (rules, expected) in [
            (
                json!([{ "type": "redeemer", "data": { "addresses": [a] } }]),
                "rules[0].data.addresses",
            ),
            (
                json!([{ "type": "payee", "data": { "addresses": [] } }]),
                "rules[0].data.addresses",
            ),
            (
                json!([{ "type": "payee", "data": { "addresses": many } }]),
                "rules[0].data.addresses",
            ),
            (json!([{ "type": "payee", "data": {} }]), "rules[0].data"),
            (
                json!([{ "type": "payee", "data": { "addresses": [a], "x": 1 } }]),
                "rules[0].data.x",
            ),
            // A mixed-case address must carry its checksum (one letter's case changed here).
            (
                json!([{ "type": "payee", "data": { "addresses": [a, key.to_string().replacen("aA", "aa", 1)] } }]),
                "rules[0].data.addresses[1]",
            ),
            (
                json!([{ "type": "payee", "data": { "addresses": ["0x12"] } }]),
                "rules[0].data.addresses[0]",
            ),
            (
                json!([{ "type": "payee", "data": { "addresses": [a] } },
                       { "type": "payee", "data": { "addresses": [b] } }]),
                "rules[1].type",
            ),
        ] {
            assert_eq!(field(rules.clone()), expected, "{rules}");
        }

        // Payees: an ERC-20 transfer's `to` is one of them; a native transfer is one permission per payee.
        let erc20 = PermissionSpec::call(a, "transfer(address to,uint256 amount)");
        let paid = pay_only(erc20.clone(), &[b]).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(paid.len(), 1);
        assert_eq!(
            (paid[0].rules[0].op.as_str(), &paid[0].rules[0].arg),
            ("eq", &ArgRef::Name("to".into()))
        );
        let paid = pay_only(erc20, &[a, b]).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(paid[0].rules[0].op, "one_of");
        assert_eq!(
            paid[0].rules[0].value,
            Some(RuleValue::Many(vec![
                Scalar::Text(a.to_string()),
                Scalar::Text(b.to_string())
            ]))
        );
        let mut native = PermissionSpec::native_transfer(Target::Any, U256::from(5));
        native.native_total_limit = Some(U256::from(5));
        let paid = pay_only(native.clone(), &[a, b]).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            paid.iter().map(|p| p.target).collect::<Vec<_>>(),
            vec![Target::Address(a), Target::Address(b)]
        );
        assert!(paid
            .iter()
            .all(|p| p.native_total_limit == Some(U256::from(5)) && p.native_transfer));
        // Per-permission counters would multiply with the payees: refused, not copied.
        native.max_uses = Some(3);
        assert!(pay_only(native, &[a, b]).is_err());
        // Lower-case and checksummed addresses read alike.
        let lower = read_rules(
            &with_rules(json!([{ "type": "payee", "data": { "addresses": [key.to_string().to_lowercase(), key] } }])),
            key,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(lower.payees, Some(vec![key]));
    }

    #[test]
    fn maps_periodic_allowances() {
        let key = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        let token: Address = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
            .parse()
            .unwrap_or_default();
        // MetaMask's erc20-token-periodic: 10 USDC a day from a start time.
        let erc20 = request(json!({
            "chainId": "0x1", "to": key,
            "permission": { "type": "erc20-token-periodic", "isAdjustmentAllowed": false,
                            "data": { "tokenAddress": token, "periodAmount": "0x989680",
                                      "periodDuration": 86400, "startTime": 1_700_000_000u64,
                                      "justification": "10 USDC a day" } },
        }));
        let (spec, start, read) =
            to_permission(&erc20.permission, 5).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(start, 1_700_000_000);
        assert_eq!(spec.target, Target::Address(token));
        assert_eq!(
            spec.function.as_deref(),
            Some("transfer(address to,uint256 amount)")
        );
        assert_eq!(spec.period, Some(86_400));
        assert_eq!(spec.erc20_period_limit, Some(U256::from(10_000_000u64)));
        assert_eq!(spec.valid_after, Some(1_700_000_000));
        assert_eq!(
            (spec.erc20_total_limit, spec.native_total_limit),
            (None, None)
        );
        assert_eq!(
            read,
            json!({ "type": "erc20-token-periodic", "isAdjustmentAllowed": false,
                    "data": { "tokenAddress": token, "periodAmount": "0x989680", "periodDuration": 86400,
                              "startTime": 1_700_000_000u64, "justification": "10 USDC a day" } })
        );

        // native-token-periodic without startTime: periods start at the chain's time, echoed.
        let native = request(json!({
            "chainId": "0x1", "to": key,
            "permission": { "type": "native-token-periodic",
                            "data": { "periodAmount": "1000", "periodDuration": "0xe10" } },
        }));
        let (spec, start, read) =
            to_permission(&native.permission, 1_234).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(start, 1_234);
        assert!(spec.native_transfer);
        assert_eq!(spec.target, Target::Any);
        assert_eq!(spec.value_limit, Some(U256::from(1000)));
        assert_eq!(spec.native_period_limit, Some(U256::from(1000)));
        assert_eq!((spec.period, spec.valid_after), (Some(3600), Some(1_234)));
        assert_eq!(
            read["data"],
            json!({ "periodAmount": "0x3e8", "periodDuration": 3600, "startTime": 1_234 })
        );

        // Both compile to a periodic allowance: FLAG_PER_PERIOD, the period as the interval, from the start.
        for (spec, start) in [
            (
                to_permission(&erc20.permission, 0).map(|(spec, ..)| spec),
                1_700_000_000u64,
            ),
            (
                to_permission(&native.permission, 1_234).map(|(spec, ..)| spec),
                1_234,
            ),
        ] {
            let spec = spec.unwrap_or_else(|e| unreachable!("{e}"));
            let session = SessionSpec {
                signer: Address::repeat_byte(1),
                signer_key: None,
                valid_after: start,
                valid_until: start + 10 * 86_400,
                paymaster: Default::default(),
                fees: Default::default(),
                salt: B256::ZERO,
                permissions: vec![spec],
                typed_data: Vec::new(),
            };
            let compiled = session.compile().unwrap_or_else(|e| unreachable!("{e}"));
            let permission = &compiled.permissions[0];
            assert!(permission.has_flag(keyscope::permissions::FLAG_PER_PERIOD));
            assert!(permission.is_periodic());
            assert_eq!(
                keyscope::permissions::abi::u48_to_u64(permission.validAfter),
                start
            );
            assert_eq!(keyscope::periodic_limits(permission).len(), 1);
        }
    }

    #[test]
    fn streams_are_refused_with_the_reason() {
        for (kind, instead) in [
            ("native-token-stream", "native-token-periodic"),
            ("erc20-token-stream", "erc20-token-periodic"),
        ] {
            let stream = request(json!({
                "chainId": 1, "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                "permission": { "type": kind, "data": { "initialAmount": "0x1", "amountPerSecond": "0x1",
                                                        "maxAmount": "0xa", "startTime": 5 } },
            }));
            let error = match to_permission(&stream.permission, 0) {
                Err(error) => error.within("[0]"),
                Ok(_) => unreachable!("{kind} granted"),
            };
            let text = error.to_string();
            assert!(text.contains("no streaming allowance"), "{text}");
            assert!(text.contains(instead), "{text}");
            assert_eq!(error.code(), crate::error::INVALID_PARAMS);
            assert_eq!(error.field(), Some("[0].permission.type"));
            let object = jsonrpsee::types::ErrorObjectOwned::from(error);
            let data: Value =
                serde_json::from_str(object.data().map(|d| d.get()).unwrap_or("null"))
                    .unwrap_or_default();
            assert_eq!(data["reason"], "unsupportedPermissionType");
            assert_eq!(data["type"], kind);
            assert_eq!(data["instead"], instead);
            assert_eq!(data["field"], "[0].permission.type");
            assert_eq!(data["supported"], json!(SUPPORTED_PERMISSIONS));
        }
        // An unknown type is the same typed refusal, without a suggestion.
        let unknown = request(json!({
            "chainId": 1, "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "permission": { "type": "erc721-token-allowance", "data": {} },
        }));
        assert!(matches!(
            to_permission(&unknown.permission, 0),
            Err(Error::UnsupportedPermission { instead: None, ref field, .. }) if field == "permission.type"
        ));
    }

    #[test]
    fn periods_in_listings() {
        let permission = Permission {
            target: Address::repeat_byte(7),
            flags: keyscope::permissions::FLAG_ERC20_TOTAL | keyscope::permissions::FLAG_PER_PERIOD,
            erc20TotalLimit: U256::from(100),
            validAfter: keyscope::alloy::primitives::aliases::U48::from(1_000u64),
            rateLimitInterval: keyscope::alloy::primitives::aliases::U48::from(60u64),
            ..Default::default()
        };
        let spent = keyscope::explain::PeriodSpent {
            period: 2,
            spent: U256::from(30),
        };
        let period = PeriodAllowance::at(
            &permission,
            Address::repeat_byte(7),
            U256::from(100),
            1_150,
            spent,
        );
        assert_eq!(
            period_json(&period),
            json!({ "index": 2, "start": 1_120, "nextStart": 1_180, "periodDuration": 60,
                    "periodAmount": "0x64", "spent": "0x1e", "left": "0x46" })
        );
    }

    #[test]
    fn free_form_fields_are_bounded_and_not_kept() {
        let key = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        let with = |permission: Value, signer: Value, rules: Value| {
            request(
                json!({ "chainId": 1, "to": key, "permission": permission, "signer": signer, "rules": rules }),
            )
        };
        let expiry = json!([{ "type": "expiry", "data": { "timestamp": 9 } }]);
        let account = json!({ "type": "account", "data": { "address": key } });
        let native = |data: Value| json!({ "type": "native-token-allowance", "data": data });
        let field = |request: &PermissionRequest| match check_sizes(request) {
            Err(Error::InvalidParams { field, .. }) => field,
            other => format!("{other:?}"),
        };
        let long = |n: usize| "x".repeat(n);

        let fine = with(
            native(
                json!({ "allowanceAmount": "0x1", "justification": long(MAX_JUSTIFICATION_BYTES) }),
            ),
            account.clone(),
            expiry.clone(),
        );
        assert!(check_sizes(&fine).is_ok());
        let cases = [
            (
                native(
                    json!({ "allowanceAmount": "0x1", "justification": long(MAX_JUSTIFICATION_BYTES + 1) }),
                ),
                account.clone(),
                expiry.clone(),
                "permission.data.justification",
            ),
            (
                native(json!({ "allowanceAmount": "0x1", "extra": long(MAX_DATA_BYTES) })),
                account.clone(),
                expiry.clone(),
                "permission.data",
            ),
            (
                json!({ "type": long(MAX_TYPE_BYTES + 1), "data": {} }),
                account.clone(),
                expiry.clone(),
                "permission.type",
            ),
            (
                native(json!({ "allowanceAmount": "0x1" })),
                json!({ "type": "account", "data": { "address": key, "note": long(MAX_SIGNER_DATA_BYTES) } }),
                expiry.clone(),
                "signer.data",
            ),
            (
                native(json!({ "allowanceAmount": "0x1" })),
                account.clone(),
                json!([{ "type": "expiry", "data": { "timestamp": 9, "note": long(MAX_DATA_BYTES) } }]),
                "rules[0].data",
            ),
            (
                native(json!({ "allowanceAmount": "0x1" })),
                account.clone(),
                json!(vec![expiry[0].clone(); MAX_RULES + 1]),
                "rules",
            ),
        ];
        for (permission, signer, rules, expected) in cases {
            assert_eq!(field(&with(permission, signer, rules)), expected);
        }

        // What is kept of a signer: only the fields read.
        let noisy = with(
            native(json!({ "allowanceAmount": "0x1" })),
            json!({ "type": "account", "data": { "address": key, "note": "anything" } }),
            expiry,
        );
        let (_, read) = session_key(&noisy).unwrap_or_else(|e| unreachable!("{e}"));
        let address: Address = key.parse().unwrap_or_default();
        assert_eq!(
            read,
            Some(json!({ "type": "account", "data": { "address": address } }))
        );
    }

    #[test]
    fn signers_by_key() {
        // anvil's first key: 0xf39F…2266, compressed public key 0x038318…
        let public = "0x038318535b54105d4a7aae60c08fc45f9687181b4fdfc625bd1a753fa7397fed75";
        let expected: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
            .parse()
            .unwrap_or_default();
        let by_key = request(
            json!({ "chainId": 1, "signer": { "type": "key", "data": { "type": "secp256k1", "publicKey": public } },
            "permission": { "type": "native-token-allowance", "data": { "allowanceAmount": "0x1" } } }),
        );
        assert_eq!(
            session_key(&by_key).ok().map(|(key, _)| key),
            Some(expected)
        );
        let bytes: Bytes = public.parse().unwrap_or_default();
        let did = format!(
            "did:key:z{}",
            bs58::encode([&[0xe7u8, 0x01][..], &bytes].concat()).into_string()
        );
        assert_eq!(did_key_address(&did, "id").ok(), Some(expected));
    }

    /// A request whose signer is `signer` (and `to`, when given).
    fn with_signer(signer: Value, to: Option<Address>) -> PermissionRequest {
        let mut value = json!({ "chainId": 1, "signer": signer,
            "permission": { "type": "native-token-allowance", "data": { "allowanceAmount": "0x1" } } });
        if let Some(to) = to {
            value["to"] = json!(to);
        }
        request(value)
    }

    fn p256(seed: u8) -> keyscope::signer::P256Key {
        keyscope::signer::P256Key::from_bytes(&[seed; 32]).unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// `0x04 ‖ x ‖ y`, `0x02/0x03 ‖ x` and `x ‖ y` of a P-256 key.
    fn p256_encodings(seed: u8) -> [String; 3] {
        let (x, y) = p256(seed).public();
        let parity = if y[31] & 1 == 1 { "03" } else { "02" };
        [
            format!("0x04{}{}", hex::encode(x), hex::encode(y)),
            format!("0x{parity}{}", hex::encode(x)),
            format!("0x{}{}", hex::encode(x), hex::encode(y)),
        ]
    }

    fn address_of(key: &SignerKey) -> Address {
        key.address().unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn signer_of(signer: Value) -> (Address, Value) {
        match session_key(&with_signer(signer.clone(), None)) {
            Ok((address, Some(read))) => (address, read),
            other => unreachable!("{signer}: {other:?}"),
        }
    }

    #[test]
    fn p256_and_webauthn_signers() {
        let (x, y) = p256(7).public();
        let p256_address = address_of(&SignerKey::P256 { x, y });
        let webauthn_address = address_of(&SignerKey::WebAuthn { x, y });
        assert_ne!(p256_address, webauthn_address);
        for (kind, expected, echoed) in [
            ("secp256r1", p256_address, "secp256r1"),
            ("SECP256R1", p256_address, "secp256r1"),
            ("p256", p256_address, "secp256r1"),
            ("webauthn", webauthn_address, "webauthn"),
            ("webAuthn", webauthn_address, "webauthn"),
            ("webauthn-p256", webauthn_address, "webauthn"),
            ("passkey", webauthn_address, "webauthn"),
        ] {
            for public_key in p256_encodings(7) {
                let (address, read) = signer_of(
                    json!({ "type": "key", "data": { "type": kind, "publicKey": public_key, "note": "dropped" } }),
                );
                assert_eq!(address, expected, "{kind} {public_key}");
                assert_eq!(
                    read,
                    json!({ "type": "key", "data": { "type": echoed, "publicKey": public_key } })
                );
            }
        }
        // `to`, when given, must be the commitment
        let signer = json!({ "type": "key", "data": { "type": "secp256r1", "publicKey": p256_encodings(7)[0] } });
        assert_eq!(
            session_key(&with_signer(signer.clone(), Some(p256_address)))
                .ok()
                .map(|(key, _)| key),
            Some(p256_address)
        );
        assert!(matches!(
            session_key(&with_signer(signer, Some(webauthn_address))),
            Err(Error::InvalidParams { field, .. }) if field == "signer"
        ));

        // did:key of a P-256 key (multicodec p256-pub 0x1200, compressed)
        let compressed: Bytes = p256_encodings(7)[1].parse().unwrap_or_default();
        let did = format!(
            "did:key:z{}",
            bs58::encode([&[0x80u8, 0x24][..], &compressed].concat()).into_string()
        );
        assert!(did.starts_with("did:key:zDn"), "{did}");
        assert_eq!(did_key_address(&did, "id").ok(), Some(p256_address));
        let (address, read) = signer_of(json!({ "type": "key", "data": { "id": did } }));
        assert_eq!(address, p256_address);
        assert_eq!(
            read,
            json!({ "type": "key", "data": { "type": "secp256r1", "id": did } })
        );
    }

    #[test]
    fn multisig_signers() {
        let secp = "0x038318535b54105d4a7aae60c08fc45f9687181b4fdfc625bd1a753fa7397fed75";
        let secp_address: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
            .parse()
            .unwrap_or_default();
        let (x1, y1) = p256(1).public();
        let (x2, y2) = p256(2).public();
        let members = vec![
            MultisigMember {
                weight: 1,
                signer: SignerKey::Secp256k1 {
                    address: secp_address,
                },
            },
            MultisigMember {
                weight: 1,
                signer: SignerKey::P256 { x: x1, y: y1 },
            },
            MultisigMember {
                weight: 1,
                signer: SignerKey::WebAuthn { x: x2, y: y2 },
            },
        ];
        let all = address_of(&SignerKey::Multisig {
            threshold: 3,
            members: members.clone(),
        });
        let two = address_of(&SignerKey::Multisig {
            threshold: 2,
            members,
        });
        assert_ne!(all, two);
        let keys = json!([
            { "type": "secp256k1", "publicKey": secp },
            { "type": "secp256r1", "publicKey": p256_encodings(1)[0] },
            { "type": "WebAuthn", "publicKey": p256_encodings(2)[1] },
        ]);
        let read_keys = json!([
            { "type": "secp256k1", "publicKey": secp },
            { "type": "secp256r1", "publicKey": p256_encodings(1)[0] },
            { "type": "webauthn", "publicKey": p256_encodings(2)[1] },
        ]);
        // ERC-7715 gives no threshold: every key must sign
        let (address, read) = signer_of(json!({ "type": "keys", "data": { "keys": keys } }));
        assert_eq!(address, all);
        assert_eq!(
            read,
            json!({ "type": "keys", "data": { "keys": read_keys, "threshold": 3 } })
        );
        // the Keyscope extension `threshold`, a number or a quantity
        for threshold in [json!(2), json!("0x2")] {
            let (address, read) = signer_of(
                json!({ "type": "keys", "data": { "keys": keys, "threshold": threshold } }),
            );
            assert_eq!(address, two);
            assert_eq!(read["data"]["threshold"], json!(2));
        }
        // the members' order is not the key: the commitment sorts them
        let reversed = Value::Array(
            keys.as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .rev()
                .collect(),
        );
        assert_eq!(
            signer_of(json!({ "type": "keys", "data": { "keys": reversed } })).0,
            all
        );
        // an older draft's did:key `ids`
        let did = |prefix: &[u8], key: &str| {
            let bytes: Bytes = key.parse().unwrap_or_default();
            format!(
                "did:key:z{}",
                bs58::encode([prefix, &bytes].concat()).into_string()
            )
        };
        let ids = json!([
            did(&[0xe7, 0x01], secp),
            did(&[0x80, 0x24], &p256_encodings(1)[1])
        ]);
        let (address, read) = signer_of(json!({ "type": "keys", "data": { "ids": ids } }));
        let expected = address_of(&SignerKey::Multisig {
            threshold: 2,
            members: vec![
                MultisigMember {
                    weight: 1,
                    signer: SignerKey::Secp256k1 {
                        address: secp_address,
                    },
                },
                MultisigMember {
                    weight: 1,
                    signer: SignerKey::P256 { x: x1, y: y1 },
                },
            ],
        });
        assert_eq!(address, expected);
        assert_eq!(read["data"]["keys"][1]["id"], ids[1]);
        assert_eq!(read["data"]["keys"][1]["type"], json!("secp256r1"));
    }

    #[test]
    fn malformed_signers_name_the_field() {
        let [uncompressed, compressed, _] = p256_encodings(3);
        let mut off_curve = uncompressed.clone();
        let last = if off_curve.ends_with('0') { "1" } else { "0" };
        off_curve.replace_range(off_curve.len() - 1.., last);
        let p256_key = |public_key: &str| json!({ "type": "secp256r1", "publicKey": public_key });
        let many = |n: u8| {
            Value::Array(
                (1..=n)
                    .map(
                        |seed| json!({ "type": "secp256r1", "publicKey": p256_encodings(seed)[1] }),
                    )
                    .collect(),
            )
        };
        let keys = |data: Value| json!({ "type": "keys", "data": data });
        let key = |data: Value| json!({ "type": "key", "data": data });
        let ed25519_did = format!(
            "did:key:z{}",
            bs58::encode([&[0xedu8, 0x01][..], &[7u8; 32]].concat()).into_string()
        );
        let cases = [
            (
                key(json!({ "type": "ed25519", "publicKey": compressed })),
                "signer.data.type",
            ),
            (
                key(json!({ "type": "schnorr", "publicKey": compressed })),
                "signer.data.type",
            ),
            (
                key(json!({ "type": 1, "publicKey": compressed })),
                "signer.data.type",
            ),
            (key(p256_key(&off_curve)), "signer.data.publicKey"),
            (
                key(json!({ "type": "secp256r1", "publicKey": compressed, "threshold": 1 })),
                "signer.data.threshold",
            ),
            (key(p256_key(&uncompressed[..66])), "signer.data.publicKey"),
            (key(p256_key("0x")), "signer.data.publicKey"),
            (
                key(p256_key(&format!("{uncompressed}00"))),
                "signer.data.publicKey",
            ),
            (
                key(p256_key(&format!("0x05{}", &uncompressed[4..]))),
                "signer.data.publicKey",
            ),
            (key(p256_key("not hex")), "signer.data.publicKey"),
            (
                key(json!({ "type": "webauthn", "publicKey": off_curve })),
                "signer.data.publicKey",
            ),
            (
                key(json!({ "type": "secp256k1", "publicKey": uncompressed[..64] })),
                "signer.data.publicKey",
            ),
            (key(json!({ "type": "secp256r1" })), "signer.data"),
            (key(json!({ "id": ed25519_did })), "signer.data.id"),
            (
                key(json!({ "id": "did:web:example.com" })),
                "signer.data.id",
            ),
            (keys(json!({})), "signer.data.keys"),
            (keys(json!({ "keys": {} })), "signer.data.keys"),
            (keys(json!({ "keys": [] })), "signer.data.keys"),
            (keys(json!({ "keys": many(17) })), "signer.data.keys"),
            (
                keys(json!({ "keys": [p256_key(&compressed), p256_key(&uncompressed)] })),
                "signer.data.keys[1]",
            ),
            (
                keys(json!({ "keys": [p256_key(&off_curve)] })),
                "signer.data.keys[0].publicKey",
            ),
            (
                keys(
                    json!({ "keys": [p256_key(&compressed), { "type": "ed25519", "publicKey": compressed }] }),
                ),
                "signer.data.keys[1].type",
            ),
            // members may not be multisigs
            (
                keys(
                    json!({ "keys": [p256_key(&compressed), { "type": "keys", "publicKey": compressed }] }),
                ),
                "signer.data.keys[1].type",
            ),
            (
                keys(json!({ "keys": [p256_key(&compressed), keys(json!({ "keys": many(2) }))] })),
                "signer.data.keys[1]",
            ),
            (keys(json!({ "keys": ["0x02"] })), "signer.data.keys[0]"),
            (
                keys(json!({ "keys": many(2), "threshold": 0 })),
                "signer.data.threshold",
            ),
            (
                keys(json!({ "keys": many(2), "threshold": 3 })),
                "signer.data.threshold",
            ),
            (
                keys(json!({ "keys": many(2), "threshold": "0x10000" })),
                "signer.data.threshold",
            ),
            (
                keys(json!({ "keys": many(2), "threshold": "two" })),
                "signer.data.threshold",
            ),
            (
                keys(json!({ "keys": many(2), "threshold": -1 })),
                "signer.data.threshold",
            ),
            (
                keys(json!({ "ids": ["did:key:zzz"] })),
                "signer.data.ids[0]",
            ),
            (keys(json!({ "ids": [] })), "signer.data.ids"),
            (json!({ "type": "wallet", "data": {} }), "signer.type"),
            (
                json!({ "type": "Key", "data": p256_key(&compressed) }),
                "signer.type",
            ),
        ];
        for (signer, expected) in cases {
            match session_key(&with_signer(signer.clone(), None)) {
                Err(Error::InvalidParams { field, .. }) => assert_eq!(field, expected, "{signer}"),
                other => unreachable!("{signer}: {other:?}"),
            }
        }
        // 16 keys are served, uncompressed too (within the bound of `signer.data`)
        let uncompressed_keys = Value::Array(
            (1..=16)
                .map(
                    |seed| json!({ "type": "webauthn-p256", "publicKey": p256_encodings(seed)[0] }),
                )
                .collect(),
        );
        for list in [many(16), uncompressed_keys] {
            let request = with_signer(keys(json!({ "keys": list, "threshold": 16 })), None);
            assert!(check_sizes(&request).is_ok());
            assert!(session_key(&request).is_ok());
        }
    }

    #[test]
    fn contexts_round_trip() {
        let spec = SessionSpec {
            signer: Address::repeat_byte(1),
            signer_key: None,
            valid_after: 0,
            valid_until: 99,
            paymaster: Default::default(),
            fees: Default::default(),
            salt: fresh_salt(),
            permissions: vec![PermissionSpec::native_transfer(Target::Any, U256::from(1))],
            typed_data: Vec::new(),
        };
        let compiled = spec.compile().unwrap_or_else(|e| unreachable!("{e}"));
        let context = encode_context(
            Address::repeat_byte(2),
            &compiled.session,
            &compiled.permissions,
        );
        let (account, session, permissions) =
            decode_context(&context, "permissionContext").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            (account, session, permissions.len()),
            (Address::repeat_byte(2), compiled.session, 1)
        );
        let mut bad = context.to_vec();
        bad[0] = 2;
        assert!(decode_context(&bad, "permissionContext").is_err());
        assert_ne!(fresh_salt(), fresh_salt());
    }
}
