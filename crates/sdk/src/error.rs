//! The crate's one error type, with EntryPoint and validator reverts decoded.

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::sol_types::{SolError, SolInterface};
use keyscope_bindings::entry_point_v07::EntryPoint;
use keyscope_bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Revert data, decoded when it is one of the `SessionKeyValidator`'s custom errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revert {
    /// A `SessionKeyValidator` custom error, with its parameters (`TargetNotAllowed { callIndex, target, allowed }`
    /// …); [`Revert::name`] gives its name.
    Validator(Box<SessionKeyValidatorErrors>),
    /// Anything else (another contract's error, a `require` string, a panic), as the raw revert data.
    Other(Bytes),
}

impl Revert {
    /// Decodes revert data: a validator error when its selector is one, raw bytes otherwise.
    pub fn decode(data: &[u8]) -> Self {
        match SessionKeyValidatorErrors::abi_decode(data) {
            Ok(error) => Self::Validator(Box::new(error)),
            Err(_) => Self::Other(Bytes::copy_from_slice(data)),
        }
    }

    /// The error's name (`"TargetNotAllowed"` …) for a validator error.
    pub fn name(&self) -> Option<&'static str> {
        match self {
            Self::Validator(error) => SessionKeyValidatorErrors::name_by_selector(error.selector()),
            Self::Other(_) => None,
        }
    }

    /// The validator error, if it is one.
    pub fn validator(&self) -> Option<&SessionKeyValidatorErrors> {
        match self {
            Self::Validator(error) => Some(error),
            Self::Other(_) => None,
        }
    }
}

impl core::fmt::Display for Revert {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            // The Debug form of the generated variant is `Name(Name { field: value, … })`: print the inner part.
            Self::Validator(error) => {
                let text = format!("{error:?}");
                let inner = text
                    .split_once('(')
                    .map(|(_, rest)| rest.strip_suffix(')').unwrap_or(rest))
                    .unwrap_or(&text);
                f.write_str(inner)
            }
            Self::Other(data) => write!(f, "revert {data}"),
        }
    }
}

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `EntryPoint.handleOps` rejected a user operation (`FailedOp`, or `FailedOpWithRevert` with the inner revert
    /// decoded): `code` is the ERC-4337 `AAxx` code, `message` the rest of the reason.
    #[error("EntryPoint rejected user operation {op_index}: {code} {message}{}", .revert.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    EntryPoint {
        /// Index of the operation in the bundle.
        op_index: U256,
        /// `"AA22"`, `"AA23"` … (empty when the reason has no code).
        code: String,
        /// The reason after the code, e.g. `"expired or not due"`.
        message: String,
        /// `FailedOpWithRevert`'s inner revert (e.g. the validator's `TargetNotAllowed`).
        revert: Option<Revert>,
    },
    /// A call reverted with something other than an EntryPoint rejection (a validator error directly, a factory
    /// error …).
    #[error("reverted: {0}")]
    Reverted(Revert),
    /// The `handleOps` transaction was mined but reverted (no revert data is available from a receipt).
    #[error("handleOps transaction {tx_hash} reverted")]
    HandleOpsReverted {
        /// The transaction.
        tx_hash: B256,
    },
    /// The `handleOps` transaction succeeded but carries no `UserOperationEvent` for the operation.
    #[error("no UserOperationEvent for user operation {user_op_hash} in transaction {tx_hash}")]
    MissingUserOperationEvent {
        /// The operation.
        user_op_hash: B256,
        /// The transaction.
        tx_hash: B256,
    },
    /// A transaction of this client (funding, deployment, account creation) reverted.
    #[error("transaction {tx_hash} ({what}) reverted")]
    TransactionReverted {
        /// What it was for.
        what: String,
        /// The transaction.
        tx_hash: B256,
    },
    /// The chain has no deterministic deployment proxy (`0x4e59b44847b379578588920cA78FbF26c0B4956C`).
    #[error("no deterministic deployment proxy at {0}")]
    NoCreate2Deployer(Address),
    /// A CREATE2 deployment left no code at its predicted address.
    #[error("{name}: no code at {address} after deployment")]
    DeploymentFailed {
        /// The contract.
        name: String,
        /// The predicted address.
        address: Address,
    },
    /// The EntryPoint init code from `keyscope-bindings` does not lead to the canonical address.
    #[error("{name}: CREATE2 address {computed} is not the canonical {expected}")]
    AddressMismatch {
        /// The contract.
        name: &'static str,
        /// The canonical address.
        expected: Address,
        /// The address the init code and salt give.
        computed: Address,
    },
    /// The user operation was included but the account's call reverted (`UserOperationEvent.success == false`).
    #[error("user operation {user_op_hash} reverted in execution{}", .revert.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    OperationReverted {
        /// The operation.
        user_op_hash: B256,
        /// The `handleOps` transaction.
        tx_hash: B256,
        /// The call's revert (`UserOperationRevertReason`).
        revert: Option<Revert>,
    },
    /// A session user operation needs at least one call.
    #[error("a user operation needs at least one call")]
    NoCalls,
    /// The provider's chain id is no longer the one the client was created on (a node restarted with another
    /// chain id, a provider pointed elsewhere): nothing was signed for the wrong chain; create a new client.
    #[error("chain id changed: the client was created on chain {expected}, the provider is now on chain {actual}")]
    ChainChanged {
        /// The chain id the client was created on (and signs for).
        expected: u64,
        /// The provider's chain id now.
        actual: u64,
    },
    /// A contract of the stack has no code on the provider's chain (e.g. a development node restarted without
    /// state): deploy the stack again ([`crate::Stack::deploy_or_detect`]).
    #[error("the Keyscope stack is not deployed on this chain: {name} has no code at {address}")]
    StackNotDeployed {
        /// The contract (`"EntryPoint v0.7"`, `"SessionKeyValidator"` …).
        name: &'static str,
        /// Its address in the client's stack.
        address: Address,
    },
    /// A bundler answered a JSON-RPC error ([`crate::bundler`]): `code` is the ERC-7769 code
    /// ([`crate::bundler::codes`]: -32500 rejected in validation, -32507 invalid signature …), `aa_code` the
    /// EntryPoint's `AAxx` code and `revert` the revert data (the validator's error) found in the message or data.
    #[error("bundler rejected the request: {code} {message}{}", .revert.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Bundler {
        /// The JSON-RPC error code.
        code: i64,
        /// The bundler's message.
        message: String,
        /// `"AA23"` … when the message or data has one.
        aa_code: Option<String>,
        /// Revert data in the message or data, decoded.
        revert: Option<Revert>,
    },
    /// An ERC-7677 paymaster service refused to sponsor the operation (a JSON-RPC error: its policy, a bad
    /// parameter …).
    #[error("paymaster service refused: {code} {message}")]
    Paymaster {
        /// The JSON-RPC error code.
        code: i64,
        /// The service's message.
        message: String,
    },
    /// A paymaster service's answer is not what ERC-7677 promises.
    #[error("unexpected {method} answer from the paymaster service: {reason}")]
    PaymasterResponse {
        /// The JSON-RPC method.
        method: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The bundler could not be reached (connection refused, timeout, HTTP 429/5xx) in `attempts` tries.
    #[error("bundler at {url} unavailable after {attempts} attempts: {reason}")]
    BundlerUnavailable {
        /// The bundler's `scheme://host:port` (its path and query, which may carry an API key, are left out).
        url: String,
        /// Tries made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// A bundler's answer is not what the method promises (a userOpHash other than the one signed, a gas limit
    /// above 128 bits).
    #[error("unexpected {method} answer from the bundler: {reason}")]
    BundlerResponse {
        /// The JSON-RPC method.
        method: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The bundler serves another chain than the client's.
    #[error("the bundler is on chain {bundler}, the client on chain {client}")]
    BundlerChainMismatch {
        /// The client's chain id.
        client: u64,
        /// The bundler's.
        bundler: u64,
    },
    /// The bundler does not serve the account's EntryPoint.
    #[error("the bundler does not support EntryPoint {entry_point} (it supports {supported:?})")]
    EntryPointNotSupported {
        /// The account's EntryPoint.
        entry_point: Address,
        /// `eth_supportedEntryPoints`.
        supported: Vec<Address>,
    },
    /// No receipt for the user operation within the time allowed.
    #[error("no receipt for user operation {user_op_hash} after {waited:?}")]
    ReceiptTimeout {
        /// The operation.
        user_op_hash: B256,
        /// How long it was waited for.
        waited: std::time::Duration,
    },
    /// `eth_sendUserOperation` failed after a try that may have reached the bundler without an answer (a
    /// timeout, a connection cut once the request was out, a gateway error), and no receipt came: the operation
    /// may still be included. Look for its receipt ([`crate::BundlerClient::wait_for_receipt`]) before building
    /// a new operation for the same calls, which could run them twice.
    #[error("user operation {user_op_hash} may have reached the bundler, its outcome is unknown: {source}")]
    SendOutcomeUnknown {
        /// The operation's userOpHash (computed locally).
        user_op_hash: B256,
        /// The last failure (the bundler's answer to the last try, or why it could not be reached).
        source: Box<Error>,
    },
    /// A user operation field that the ERC-4337 JSON shape cannot carry, or that this client does not support
    /// (an EIP-7702 `initCode`).
    #[error("invalid user operation field {field}: {reason}")]
    InvalidUserOperation {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A session operation's maximum cost (its gas limits × `maxFeePerGas`, as the validator charges it) is over
    /// its session's fee scope, even at the lowest `maxFeePerGas` the chain takes now ([`crate::fees`]): nothing
    /// was signed or sent. The values (in ETH and gwei in its text) say which bound and by how much.
    #[error("over the session's fee scope, nothing was signed: {0}")]
    FeeScopeExceeded(Box<crate::fees::FeeScopeExceeded>),
    /// A session signer's signature handed to [`crate::UnsignedSessionOperation::assemble`] (or
    /// [`crate::assemble_session_signature`]) is not one the validator accepts over the operation's userOpHash
    /// from the session's signer ([`keyscope_signer::verify_session_signature`], for every signer kind): nothing
    /// was assembled. `kind` is the kind the signature's length and first byte say, `reason` why it fails, and
    /// `recovered` the address a 65-byte ECDSA signature recovers to, when it recovers to another.
    #[error("not the session signer's signature over userOpHash {user_op_hash}: the session's signer is {signer}, the {kind} signature is refused ({reason})")]
    SessionKeySignature {
        /// The hash the session signer must sign (raw, no EIP-191 prefix).
        user_op_hash: B256,
        /// The session's signer (a secp256k1 address or a key commitment).
        signer: Address,
        /// The signature's kind, as its length and first byte say.
        kind: keyscope_signer::SignerKind,
        /// Who signed, when a 65-byte ECDSA signature recovers to another address.
        recovered: Option<Address>,
        /// Why the validator refuses it.
        reason: String,
    },
    /// The signer key given for a session whose signer signs elsewhere
    /// ([`crate::Client::prepare_unsigned_session_op_for`]) is not the session's signer.
    #[error("the signer key given commits to {key}, not the session's signer {signer}")]
    SignerKeyMismatch {
        /// The session's signer.
        signer: Address,
        /// The address the key given commits to.
        key: Address,
    },
    /// The session has no typed-data permission for the message ([`crate::sign_typed_data_for_session`]): none
    /// with `FLAG_TYPED_DATA` whose `target` is the typed data's verifying contract and whose rule 0 pins the
    /// contents' type hash. Nothing was signed.
    #[error("session {session_id} has no typed-data permission for type hash {type_hash} on {verifying_contract}")]
    NoTypedDataPermission {
        /// The session.
        session_id: B256,
        /// The typed data's verifying contract.
        verifying_contract: Address,
        /// The contents' type hash.
        type_hash: B256,
    },
    /// A session listing ([`crate::Client::sessions_of`]) found more than `max` session events of the account
    /// from `from_block` ([`crate::sessions::MAX_SESSION_EVENTS`]): list from a later block.
    #[error("more than {max} session events of {account} from block {from_block}")]
    TooManySessionEvents {
        /// The account.
        account: Address,
        /// The first block read.
        from_block: u64,
        /// The most events one listing reads.
        max: usize,
    },
    /// An RPC error.
    #[error(transparent)]
    Transport(#[from] alloy::transports::TransportError),
    /// Waiting for a transaction failed.
    #[error(transparent)]
    PendingTransaction(#[from] alloy::providers::PendingTransactionError),
    /// A contract call failed without revert data (decoding, transport).
    #[error(transparent)]
    Contract(Box<alloy::contract::Error>),
    /// Signing or encoding (`keyscope-signer`).
    #[error(transparent)]
    Signer(#[from] keyscope_signer::Error),
    /// The owner's signer (an alloy [`Signer`](alloy::signers::Signer): a wallet, a remote or hardware signer)
    /// refused or failed to sign.
    #[error("the owner's signer failed: {0}")]
    OwnerSigner(#[from] alloy::signers::Error),
    /// Permissions (`keyscope-permissions`).
    #[error(transparent)]
    Permissions(#[from] keyscope_permissions::Error),
    /// A multichain enable the client's account kind cannot sign once: its ERC-1271 wraps the digest in a
    /// chain- or account-bound hash (Kernel does), so each chain needs its own signature (mode 1).
    #[error("the account kind binds ERC-1271 digests to the chain or account: {account} on chain {chain_id} needs its own enable signature")]
    MultichainChainBound {
        /// The entry's chain.
        chain_id: u64,
        /// The entry's account.
        account: Address,
    },
    /// A signed multichain enable without an entry for this chain and account (or for another session).
    #[error("the multichain enable has no entry for {account} on chain {chain_id} with session {session_id}")]
    MultichainEntryMissing {
        /// The chain.
        chain_id: u64,
        /// The account.
        account: Address,
        /// The session.
        session_id: B256,
    },
}

impl Error {
    /// Decodes revert data: EntryPoint `FailedOp` / `FailedOpWithRevert` into [`Error::EntryPoint`], anything
    /// else into [`Error::Reverted`].
    pub fn from_revert_data(data: &[u8]) -> Self {
        if let Ok(failed) = EntryPoint::FailedOp::abi_decode(data) {
            let (code, message) = split_reason(&failed.reason);
            return Self::EntryPoint {
                op_index: failed.opIndex,
                code,
                message,
                revert: None,
            };
        }
        if let Ok(failed) = EntryPoint::FailedOpWithRevert::abi_decode(data) {
            let (code, message) = split_reason(&failed.reason);
            return Self::EntryPoint {
                op_index: failed.opIndex,
                code,
                message,
                revert: Some(Revert::decode(&failed.inner)),
            };
        }
        Self::Reverted(Revert::decode(data))
    }

    /// The `AAxx` code of an EntryPoint rejection (direct, or reported by a bundler).
    pub fn aa_code(&self) -> Option<&str> {
        match self {
            Self::EntryPoint { code, .. } if !code.is_empty() => Some(code),
            Self::Bundler {
                aa_code: Some(code),
                ..
            } => Some(code),
            _ => None,
        }
    }

    /// The validator error behind this error: inside an EntryPoint rejection (direct, or reported by a bundler)
    /// or a plain revert.
    pub fn validator_error(&self) -> Option<&SessionKeyValidatorErrors> {
        match self {
            Self::EntryPoint {
                revert: Some(revert),
                ..
            }
            | Self::Bundler {
                revert: Some(revert),
                ..
            }
            | Self::Reverted(revert) => revert.validator(),
            _ => None,
        }
    }
}

impl From<alloy::contract::Error> for Error {
    fn from(error: alloy::contract::Error) -> Self {
        match error.as_revert_data() {
            Some(data) => Self::from_revert_data(&data),
            None => Self::Contract(Box::new(error)),
        }
    }
}

/// The `scheme://host:port` of a URL: all that may be shown of a node's or bundler's URL, whose path, query and
/// user info often carry an API key. `"<invalid URL>"` when `url` does not parse.
pub fn url_origin(url: &str) -> String {
    match alloy::transports::http::reqwest::Url::parse(url.trim()) {
        Ok(url) => {
            let origin = url.origin();
            if origin.is_tuple() {
                origin.ascii_serialization()
            } else {
                format!("{}:", url.scheme())
            }
        }
        Err(_) => "<invalid URL>".to_owned(),
    }
}

/// `error` and its sources as one line (`error: source: …`; a source whose text is already there is left out),
/// with the URL of every failed HTTP request cut to its [`url_origin`]. reqwest writes the whole request URL into
/// its errors (`error sending request for url (https://host/v2/API_KEY)`), and a node's or bundler's URL often
/// carries an API key: use this for every error text that leaves the process or reaches a log.
pub fn redacted_error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    use alloy::transports::http::reqwest;
    let mut text = String::new();
    let mut urls = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(url) = current
            .downcast_ref::<reqwest::Error>()
            .and_then(reqwest::Error::url)
        {
            urls.push(url.as_str().to_owned());
        }
        let part = current.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        next = current.source();
    }
    for url in urls {
        text = text.replace(&url, &url_origin(&url));
    }
    // Whatever wrapper hid the reqwest error from the source chain: its `for url (…)` is cut all the same.
    const MARK: &str = "for url (";
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(MARK) {
        let (head, tail) = rest.split_at(at + MARK.len());
        let end = tail.find(')').unwrap_or(tail.len());
        redacted.push_str(head);
        redacted.push_str(&url_origin(&tail[..end]));
        rest = &tail[end..];
    }
    redacted.push_str(rest);
    redacted
}

/// `"AA22 expired or not due"` → (`"AA22"`, `"expired or not due"`).
fn split_reason(reason: &str) -> (String, String) {
    let bytes = reason.as_bytes();
    let coded = bytes.len() >= 4
        && bytes.starts_with(b"AA")
        && bytes[2].is_ascii_digit()
        && bytes[3].is_ascii_digit()
        && (bytes.len() == 4 || bytes[4] == b' ');
    if coded {
        (reason[..4].to_owned(), reason[4..].trim_start().to_owned())
    } else {
        (String::new(), reason.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyscope_bindings::session_key_validator::SessionKeyValidator;

    #[test]
    fn decodes_failed_op_with_validator_error() {
        let inner = SessionKeyValidator::TargetNotAllowed {
            callIndex: U256::ZERO,
            target: Address::repeat_byte(1),
            allowed: Address::repeat_byte(2),
        }
        .abi_encode();
        let data = EntryPoint::FailedOpWithRevert {
            opIndex: U256::ZERO,
            reason: "AA23 reverted".into(),
            inner: inner.into(),
        }
        .abi_encode();
        let error = Error::from_revert_data(&data);
        assert_eq!(error.aa_code(), Some("AA23"));
        assert!(matches!(
            error.validator_error(),
            Some(SessionKeyValidatorErrors::TargetNotAllowed(e)) if e.target == Address::repeat_byte(1)
        ));
        let text = error.to_string();
        assert!(text.contains("AA23 reverted (TargetNotAllowed {"), "{text}");
        let Error::EntryPoint {
            revert: Some(revert),
            ..
        } = &error
        else {
            unreachable!("decoded above")
        };
        assert_eq!(revert.name(), Some("TargetNotAllowed"));
    }

    #[test]
    fn decodes_failed_op() {
        let data = EntryPoint::FailedOp {
            opIndex: U256::from(3),
            reason: "AA22 expired or not due".into(),
        }
        .abi_encode();
        match Error::from_revert_data(&data) {
            Error::EntryPoint {
                op_index,
                code,
                message,
                revert: None,
            } => {
                assert_eq!(op_index, U256::from(3));
                assert_eq!(code, "AA22");
                assert_eq!(message, "expired or not due");
            }
            other => unreachable!("{other:?}"),
        }
        assert_eq!(split_reason("no code"), (String::new(), "no code".into()));
        assert!(matches!(
            Error::from_revert_data(&[1, 2]),
            Error::Reverted(Revert::Other(_))
        ));
    }

    #[test]
    fn origins_keep_no_secret() {
        assert_eq!(
            url_origin("https://user:pw@node.example:8443/v2/KEY?apikey=KEY"),
            "https://node.example:8443"
        );
        assert_eq!(
            url_origin("https://node.example:443/KEY"),
            "https://node.example"
        );
        assert_eq!(url_origin("not a url KEY"), "<invalid URL>");
    }

    #[tokio::test]
    async fn node_errors_lose_their_url() {
        use alloy::providers::{Provider, ProviderBuilder};
        // Nothing listens on port 1: the request fails, and reqwest's error names the whole URL.
        let url = "http://127.0.0.1:1/v2/SECRET-API-KEY?key=SECRET-API-KEY";
        let provider = ProviderBuilder::new()
            .connect_http(url.parse().unwrap_or_else(|e| unreachable!("{e}")));
        let error = Error::from(
            provider
                .get_chain_id()
                .await
                .err()
                .unwrap_or_else(|| unreachable!("port 1 answered")),
        );
        assert!(error.to_string().contains("SECRET-API-KEY"), "{error}");
        let text = redacted_error_chain(&error);
        assert!(!text.contains("SECRET-API-KEY"), "{text}");
        assert!(text.contains("http://127.0.0.1:1"), "{text}");
        // A text that went through some other wrapper: cut by its `for url (…)`.
        let wrapped = std::io::Error::other(format!("failed: {error}"));
        let text = redacted_error_chain(&wrapped);
        assert!(!text.contains("SECRET-API-KEY"), "{text}");
    }
}
