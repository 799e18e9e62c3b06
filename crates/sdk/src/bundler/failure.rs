//! How a bundler's failures are read: which transport errors are retried, and JSON-RPC errors decoded into
//! typed [`Error::Bundler`]s (ERC-7769 code, `AAxx` code, the validator's custom error).

use std::time::Duration;

use alloy::hex;
use alloy::rpc::json_rpc::ErrorPayload;
use alloy::transports::http::reqwest;
use alloy::transports::{RpcError, TransportError, TransportErrorKind};

use crate::error::{Error, Revert};

/// `Some(server-requested delay)` when a transport error is worth retrying (the bundler may come back),
/// `None` when it is not.
pub(super) fn retry_delay(error: &TransportError) -> Option<Option<Duration>> {
    match error {
        RpcError::Transport(kind) => match kind {
            // reqwest: connection refused or reset, timeout, body cut off.
            TransportErrorKind::Custom(_) | TransportErrorKind::BackendGone => Some(None),
            TransportErrorKind::HttpError(http) => {
                matches!(http.status, 429 | 502 | 503 | 504).then_some(None)
            }
            // Only where `Retry-After` means "come back later"; never on 400/401/403 …
            TransportErrorKind::HttpErrorWithRetryAfter { error, retry_after } => {
                matches!(error.status, 429 | 503).then_some(Some(*retry_after))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether the request may have reached the bundler although this error came instead of its answer.
pub(super) fn may_have_reached_bundler(error: &TransportError) -> bool {
    match error {
        RpcError::Transport(TransportErrorKind::Custom(inner)) => inner
            .downcast_ref::<reqwest::Error>()
            // Not connected: nothing was sent. Anything else (timeout, reset, body cut off) may come after.
            .is_none_or(|error| !error.is_connect()),
        // Turned away before processing.
        RpcError::Transport(TransportErrorKind::HttpError(http))
        | RpcError::Transport(TransportErrorKind::HttpErrorWithRetryAfter {
            error: http, ..
        }) => !matches!(http.status, 429 | 503),
        // Never sent.
        RpcError::SerError(_) | RpcError::LocalUsageError(_) | RpcError::UnsupportedFeature(_) => {
            false
        }
        _ => true,
    }
}

/// Whether a bundler's JSON-RPC error says it already holds the operation (Alto: "Already known"; Rundler,
/// Skandha, Voltaire: "… already known", "duplicate …", "… already in mempool").
pub(super) fn is_duplicate(error: &Error) -> bool {
    let Error::Bundler { message, .. } = error else {
        return false;
    };
    let message = message.to_ascii_lowercase();
    [
        "already known",
        "duplicate",
        "already in mempool",
        "already in the mempool",
    ]
    .iter()
    .any(|phrase| message.contains(phrase))
}

/// The error's text with the request URL cut to its origin (reqwest puts it in its errors; it may carry an API
/// key): [`crate::error::redacted_error_chain`].
pub(super) fn describe_transport_error(error: TransportError) -> String {
    crate::error::redacted_error_chain(&error)
}

pub(super) fn without_url(
    error: Box<dyn std::error::Error + Send + Sync>,
) -> Box<dyn std::error::Error + Send + Sync> {
    match error.downcast::<reqwest::Error>() {
        Ok(error) => Box::new(error.without_url()),
        Err(other) => other,
    }
}

/// A JSON-RPC error as [`Error::Bundler`]: the `AAxx` code and the revert data (a validator error when it is one)
/// from the `data` field or the message.
pub(super) fn bundler_error(payload: &ErrorPayload) -> Error {
    let message = payload.message.to_string();
    let data: Vec<String> = payload
        .try_data_as::<serde_json::Value>()
        .and_then(|value| value.ok())
        .map(|value| {
            let mut strings = Vec::new();
            collect_strings(&value, &mut strings);
            strings
        })
        .unwrap_or_default();
    let texts = || data.iter().map(String::as_str).chain([message.as_str()]);
    let aa_code = texts().find_map(find_aa_code).map(str::to_owned);
    let reverts: Vec<Revert> = texts()
        .flat_map(hex_blobs)
        .map(|blob| Revert::decode(&blob))
        .collect();
    let revert = reverts
        .iter()
        .find(|revert| revert.validator().is_some())
        .or_else(|| reverts.first())
        .cloned();
    Error::Bundler {
        code: payload.code,
        message,
        aa_code,
        revert,
    }
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        serde_json::Value::Object(map) => map.values().for_each(|item| collect_strings(item, out)),
        _ => {}
    }
}

/// The first `AAnn` code standing as a word in `text`.
fn find_aa_code(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(3)).find_map(|i| {
        let word_start = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let word_end = bytes.get(i + 4).is_none_or(|b| !b.is_ascii_alphanumeric());
        (word_start
            && word_end
            && bytes[i] == b'A'
            && bytes[i + 1] == b'A'
            && bytes[i + 2].is_ascii_digit()
            && bytes[i + 3].is_ascii_digit())
        .then(|| &text[i..i + 4])
    })
}

/// `0x…` words of `text` shaped like ABI revert data: a selector and whole 32-byte words (so that addresses and
/// hashes in a message are not taken for revert data).
fn hex_blobs(text: &str) -> Vec<Vec<u8>> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|word| word.strip_prefix("0x"))
        .filter_map(|digits| hex::decode(digits).ok())
        .filter(|data| data.len() >= 4 && (data.len() - 4) % 32 == 0)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use alloy::sol_types::SolError;
    use keyscope_bindings::session_key_validator::SessionKeyValidator;
    use keyscope_bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;

    use crate::bundler::codes;
    use alloy::primitives::{Address, U256};

    fn payload(code: i64, message: &str, data: Option<&str>) -> ErrorPayload {
        ErrorPayload {
            code,
            message: message.to_owned().into(),
            data: data.map(|d| serde_json::value::RawValue::from_string(d.to_owned()).unwrap()),
        }
    }

    #[test]
    fn bundler_errors_are_decoded() {
        let inner = SessionKeyValidator::TargetNotAllowed {
            callIndex: U256::ZERO,
            target: Address::repeat_byte(1),
            allowed: Address::repeat_byte(2),
        }
        .abi_encode();
        // Alto's shape: the reason and the inner revert in the message.
        let message = format!(
            "UserOperation reverted during simulation with reason: AA23 reverted {}",
            hex::encode_prefixed(&inner)
        );
        let error = bundler_error(&payload(-32500, &message, None));
        assert_eq!(error.aa_code(), Some("AA23"));
        assert!(matches!(
            error.validator_error(),
            Some(SessionKeyValidatorErrors::TargetNotAllowed(e)) if e.allowed == Address::repeat_byte(2)
        ));
        assert!(error.to_string().contains("TargetNotAllowed {"), "{error}");

        // Revert data in the `data` field, in an object.
        let data = format!(
            r#"{{"reason":"AA23 reverted","revertData":"{}"}}"#,
            hex::encode_prefixed(&inner)
        );
        let error = bundler_error(&payload(-32500, "validation reverted", Some(&data)));
        assert_eq!(error.aa_code(), Some("AA23"));
        assert!(error.validator_error().is_some());

        // An address in a message is not revert data; "AA2" or "XAA24" are not codes.
        let error = bundler_error(&payload(
            -32602,
            "EntryPoint 0x0000000071727De22E5E9d8BAf0edAc6f37da032 not supported (AA2, XAA24)",
            None,
        ));
        match &error {
            Error::Bundler {
                code,
                aa_code: None,
                revert: None,
                ..
            } => assert_eq!(*code, codes::INVALID_PARAMS),
            other => panic!("{other:?}"),
        }
        assert_eq!(find_aa_code("AA25 invalid account nonce"), Some("AA25"));
        assert_eq!(find_aa_code("reason:AA10"), Some("AA10"));
        assert_eq!(
            codes::describe(codes::INVALID_SIGNATURE),
            Some("invalid signature")
        );
    }

    #[test]
    fn transport_errors_are_classified() {
        let refused = TransportErrorKind::custom_str("tcp connect error");
        assert_eq!(retry_delay(&refused), Some(None));
        let busy = RpcError::Transport(TransportErrorKind::HttpError(
            alloy::transports::HttpError {
                status: 503,
                body: String::new(),
            },
        ));
        assert_eq!(retry_delay(&busy), Some(None));
        let not_found = RpcError::Transport(TransportErrorKind::HttpError(
            alloy::transports::HttpError {
                status: 404,
                body: String::new(),
            },
        ));
        assert_eq!(retry_delay(&not_found), None);
        assert_eq!(retry_delay(&RpcError::NullResp), None);
        let retry_after = |status| {
            RpcError::Transport(TransportErrorKind::HttpErrorWithRetryAfter {
                error: alloy::transports::HttpError {
                    status,
                    body: String::new(),
                },
                retry_after: Duration::from_secs(1),
            })
        };
        assert_eq!(
            retry_delay(&retry_after(429)),
            Some(Some(Duration::from_secs(1)))
        );
        assert_eq!(
            retry_delay(&retry_after(503)),
            Some(Some(Duration::from_secs(1)))
        );
        for status in [400, 401, 403, 404, 500] {
            assert_eq!(retry_delay(&retry_after(status)), None, "{status}");
        }
        // Whether a failed try may have handed the request over.
        assert!(!may_have_reached_bundler(&busy));
        assert!(!may_have_reached_bundler(&retry_after(429)));
        assert!(may_have_reached_bundler(&RpcError::Transport(
            TransportErrorKind::HttpError(alloy::transports::HttpError {
                status: 504,
                body: String::new(),
            })
        )));
        assert!(may_have_reached_bundler(&refused), "not a reqwest error");
        assert!(is_duplicate(&bundler_error(&payload(
            -32602,
            "Already known",
            None
        ))));
        assert!(!is_duplicate(&bundler_error(&payload(
            -32500,
            "AA25 invalid account nonce",
            None
        ))));
    }
}
