//! The crate's error type and its JSON-RPC error objects.

use jsonrpsee::types::ErrorObjectOwned;
use serde_json::json;

/// JSON-RPC "invalid params".
pub(crate) const INVALID_PARAMS: i32 = -32602;
/// JSON-RPC "internal error".
pub(crate) const INTERNAL_ERROR: i32 = -32603;
/// Server error: the chain node (or the bundler) failed or answered something unexpected.
pub(crate) const NODE_ERROR: i32 = -32000;
/// Server error: the service's database failed (it could not store or read sessions).
pub(crate) const STORE_ERROR: i32 = -32001;
/// Limit exceeded (EIP-1474): the session store is full.
pub(crate) const STORE_FULL: i32 = -32005;
/// The operation would be refused in validation (ERC-7769's code for it).
pub(crate) const REJECTED: i32 = -32500;

/// Everything a method can fail with. Each variant maps to one JSON-RPC error code; errors about the request
/// name the offending field (`sessions[1].permissions[0].rules[0].value`) in the message and in `data.field`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter is missing, malformed, out of bounds or not supported (`-32602`).
    #[error("{field}: {message}")]
    InvalidParams {
        /// The JSON path of the field (`sessions[0].validUntil`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// An ERC-7715 permission type this service does not grant (`-32602`), with why and what to ask for instead.
    /// `data`: `{field, reason: "unsupportedPermissionType", type, why, instead, supported}`.
    #[error("{field}: {kind:?} is not supported: {why}{}", instead.as_ref().map(|i| format!("; request {i:?} instead")).unwrap_or_default())]
    UnsupportedPermission {
        /// The field (`permission.type`, `[0].permission.type` …).
        field: String,
        /// The permission type asked for.
        kind: String,
        /// Why it is not served.
        why: String,
        /// The type to request instead, when one comes close.
        instead: Option<String>,
        /// The types served.
        supported: Vec<String>,
    },
    /// The request names another chain than the node's (`-32602`, field `chainId`).
    #[error("{field}: chain {given} is not the node's chain {node}")]
    ChainMismatch {
        /// The field (`chainId`, `[0].chainId` …).
        field: String,
        /// The chain id in the request.
        given: u64,
        /// The node's chain id.
        node: u64,
    },
    /// The node failed or the stack answered with an error (`-32000`).
    #[error("node: {0}")]
    Node(#[from] keyscope::Error),
    /// The node's transport failed (`-32000`).
    #[error("node: {0}")]
    Transport(#[from] keyscope::alloy::transports::TransportError),
    /// The session store has no room for the request's new sessions (`-32005`): nothing was stored, nothing was
    /// evicted. `data`: `{reason: "storeFull", newSessions, newBytes, storedSessions, storedBytes,
    /// maxStoredSessions, maxStoredBytes}`.
    #[error(
        "the session store is full: {new_sessions} new session(s) of {new_bytes} bytes do not fit \
         ({sessions} of at most {max_sessions} sessions, {bytes} of at most {max_bytes} bytes stored); nothing \
         was stored (the operator raises --max-stored-sessions or --max-stored-bytes, or deletes old sessions)"
    )]
    StoreFull {
        /// Sessions of the request not stored yet.
        new_sessions: u64,
        /// Their bytes.
        new_bytes: u64,
        /// Sessions stored.
        sessions: u64,
        /// Their bytes.
        bytes: u64,
        /// `--max-stored-sessions`.
        max_sessions: u64,
        /// `--max-stored-bytes`.
        max_bytes: u64,
    },
    /// The operation would be refused (`-32500`, ERC-7769's "rejected in validation"): nothing was sent. `data`:
    /// `{reason: "rejected", field: "userOp", source, rule, aaCode?}`, as `keyscope_validateSession`'s `failure`.
    #[error("the operation would be refused ({by}: {rule}): {message}")]
    Rejected {
        /// What found it: `"explain"` or `"simulation"`.
        by: &'static str,
        /// The failing rule (the validator's error name, or the EntryPoint's `AAxx` code).
        rule: String,
        /// The EntryPoint's `AAxx` code, when it rejected the operation.
        code: Option<String>,
        /// The whole reason.
        message: String,
    },
    /// The sponsor's policy refuses to pay for the operation (`-32050`). `data`: `{reason: "sponsorshipRefused",
    /// field: "userOp", rule}` (`allowlist`, `maxGas`, `paymasterNotDeployed`, `deposit`).
    #[error("sponsorship refused: {message}")]
    SponsorshipRefused {
        /// The rule that refused it.
        rule: crate::sponsor::Refusal,
        /// Why, naming the values.
        message: String,
    },
    /// The method needs something the service was not started with (`-32601`): sponsorship without
    /// `--sponsor-key-file`.
    #[error("{0}")]
    NotConfigured(&'static str),
    /// The database failed (`-32001`).
    #[error("session store: {0}")]
    Store(String),
    /// The server could not listen (start-up only).
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    /// A bug or an impossible state (`-32603`).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<keyscope::alloy::contract::Error> for Error {
    fn from(error: keyscope::alloy::contract::Error) -> Self {
        Self::Node(keyscope::Error::from(error))
    }
}

/// This crate's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// An [`Error::InvalidParams`] about `field`.
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidParams {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The JSON-RPC error code.
    pub fn code(&self) -> i32 {
        match self {
            Self::InvalidParams { .. }
            | Self::UnsupportedPermission { .. }
            | Self::ChainMismatch { .. } => INVALID_PARAMS,
            Self::Node(_) | Self::Transport(_) => NODE_ERROR,
            Self::StoreFull { .. } => STORE_FULL,
            Self::Rejected { .. } => REJECTED,
            Self::SponsorshipRefused { .. } => crate::sponsor::SPONSORSHIP_REFUSED,
            Self::NotConfigured(_) => crate::sponsor::METHOD_NOT_FOUND,
            Self::Store(_) => STORE_ERROR,
            Self::Listen(_) | Self::Internal(_) => INTERNAL_ERROR,
        }
    }

    /// The error's text as callers get it. Node and transport failures carry reqwest's text, which names the
    /// whole request URL (`--rpc-url`, `--bundler-url`, often with an API key in the path or query): their URLs are
    /// cut to `scheme://host:port` ([`keyscope::error::redacted_error_chain`]).
    pub fn message(&self) -> String {
        match self {
            Self::Node(_) | Self::Transport(_) => keyscope::error::redacted_error_chain(self),
            other => other.to_string(),
        }
    }

    /// The field the error is about.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidParams { field, .. }
            | Self::UnsupportedPermission { field, .. }
            | Self::ChainMismatch { field, .. } => Some(field),
            Self::Rejected { .. } | Self::SponsorshipRefused { .. } => Some("userOp"),
            _ => None,
        }
    }

    /// The same error with `prefix` put before its field (`sessions[2]` + `validUntil`).
    pub(crate) fn within(self, prefix: &str) -> Self {
        match self {
            Self::InvalidParams { field, message } => Self::InvalidParams {
                field: join_path(prefix, &field),
                message,
            },
            Self::ChainMismatch { field, given, node } => Self::ChainMismatch {
                field: join_path(prefix, &field),
                given,
                node,
            },
            Self::UnsupportedPermission {
                field,
                kind,
                why,
                instead,
                supported,
            } => Self::UnsupportedPermission {
                field: join_path(prefix, &field),
                kind,
                why,
                instead,
                supported,
            },
            other => other,
        }
    }
}

/// `prefix` + `field` as one JSON path: `a` + `b` → `a.b`, `a` + `[0]` → `a[0]`, `a` + `.` (the value itself)
/// → `a`.
pub(crate) fn join_path(prefix: &str, field: &str) -> String {
    match (prefix, field) {
        ("", field) => field.to_owned(),
        (prefix, "" | ".") => prefix.to_owned(),
        (prefix, field) if field.starts_with('[') => format!("{prefix}{field}"),
        (prefix, field) => format!("{prefix}.{field}"),
    }
}

/// The text of `result`'s error, `""` for a success (for tests).
#[cfg(test)]
pub(crate) fn error_text<T>(result: Result<T>) -> String {
    result.err().map(|e| e.to_string()).unwrap_or_default()
}

impl From<Error> for ErrorObjectOwned {
    fn from(error: Error) -> Self {
        let data = match &error {
            Error::InvalidParams { field, .. } => Some(json!({ "field": field })),
            Error::UnsupportedPermission {
                field,
                kind,
                why,
                instead,
                supported,
            } => Some(json!({
                "field": field,
                "reason": "unsupportedPermissionType",
                "type": kind,
                "why": why,
                "instead": instead,
                "supported": supported,
            })),
            Error::ChainMismatch { field, given, node } => Some(json!({
                "field": field,
                "given": format!("{given:#x}"),
                "node": format!("{node:#x}"),
            })),
            Error::Node(inner) => inner.aa_code().map(|code| json!({ "aaCode": code })),
            Error::Rejected { by, rule, code, .. } => Some(json!({
                "reason": "rejected",
                "field": "userOp",
                "source": by,
                "rule": rule,
                "aaCode": code,
            })),
            Error::SponsorshipRefused { rule, .. } => Some(json!({
                "reason": "sponsorshipRefused",
                "field": "userOp",
                "rule": rule.label(),
            })),
            Error::StoreFull {
                new_sessions,
                new_bytes,
                sessions,
                bytes,
                max_sessions,
                max_bytes,
            } => Some(json!({
                "reason": "storeFull",
                "newSessions": new_sessions,
                "newBytes": new_bytes,
                "storedSessions": sessions,
                "storedBytes": bytes,
                "maxStoredSessions": max_sessions,
                "maxStoredBytes": max_bytes,
            })),
            _ => None,
        };
        ErrorObjectOwned::owned(error.code(), error.message(), data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join() {
        assert_eq!(
            join_path("sessions[0]", "validUntil"),
            "sessions[0].validUntil"
        );
        assert_eq!(join_path("sessions", "[3]"), "sessions[3]");
        assert_eq!(join_path("sessions[0]", "."), "sessions[0]");
        assert_eq!(join_path("", "x"), "x");
    }

    #[tokio::test]
    async fn node_failures_do_not_show_the_node_url() {
        use keyscope::alloy::providers::{Provider, ProviderBuilder};
        // Nothing listens on port 1; the URL carries a (fake) API key in its path and query.
        let url = "http://127.0.0.1:1/v2/FAKE-API-KEY?apikey=FAKE-API-KEY";
        let provider = ProviderBuilder::new()
            .connect_http(url.parse().unwrap_or_else(|e| unreachable!("{e}")));
        let provider = &provider;
        let failure = || async move {
            match provider.get_chain_id().await {
                Err(failure) => failure,
                Ok(_) => unreachable!("port 1 answered"),
            }
        };
        for error in [
            Error::from(keyscope::Error::from(failure().await)),
            Error::from(failure().await),
        ] {
            assert!(error.to_string().contains("FAKE-API-KEY"), "{error}");
            let object = ErrorObjectOwned::from(error);
            assert_eq!(object.code(), NODE_ERROR);
            assert!(
                !object.message().contains("FAKE-API-KEY"),
                "{}",
                object.message()
            );
            assert!(
                object.message().contains("http://127.0.0.1:1"),
                "{}",
                object.message()
            );
        }
    }

    #[test]
    fn error_objects_name_the_field() {
        let error = Error::invalid("validUntil", "required").within("sessions[1]");
        assert_eq!(error.to_string(), "sessions[1].validUntil: required");
        let object = ErrorObjectOwned::from(error);
        assert_eq!(object.code(), INVALID_PARAMS);
        let data: serde_json::Value =
            serde_json::from_str(object.data().map(|d| d.get()).unwrap_or("null"))
                .unwrap_or_default();
        assert_eq!(data["field"], "sessions[1].validUntil");
    }
}
