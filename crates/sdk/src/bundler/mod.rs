//! Any ERC-4337 bundler's JSON-RPC (`eth_estimateUserOperationGas`, `eth_sendUserOperation`,
//! `eth_getUserOperationReceipt` …): a [`Client`] built [`with_bundler`](Client::with_bundler) submits through it
//! instead of sending `handleOps` itself.
//!
//! [`Client::send_session_op`] is then the whole flow of a session operation: the [`Client`] builds it
//! ([`Client::prepare_session_op`]: calls, proofs, the session's own nonce lane, fees from the chain), the bundler
//! estimates its gas with a dummy session signature ([`SessionSignature::to_dummy`](keyscope_signer::SessionSignature::to_dummy): the validator returns
//! `SIG_VALIDATION_FAILED` for it instead of reverting, so every other check runs), the session key signs the
//! operation with the estimated limits, the bundler takes it, and the receipt comes back as an [`OpOutcome`].
//!
//! The session's fee scope ([`crate::fees`]) holds on both sides of the estimate: the operation the bundler
//! simulates has its `maxFeePerGas` lowered towards the scope (so that the validator's fee check passes and
//! validation runs to its end with the dummy signature), and the estimated operation, back at the fees asked for,
//! is checked again before the key signs it — its `maxFeePerGas` lowered to fit (never below the latest base fee
//! plus its priority fee), or refused with [`Error::FeeScopeExceeded`] and nothing signed. A bundler may ask for
//! more than the chain's floor (Alto: `maxFeePerGas must be at least …`): an operation lowered that far may then
//! be turned away, and only a wider fee scope helps.
//!
//! Errors are typed: a JSON-RPC error is [`Error::Bundler`] with its ERC-7769 code ([`codes`]), the `AAxx` code
//! and the validator's custom error decoded from the message or data; a bundler that cannot be reached after
//! [`BundlerOptions::attempts`] tries is [`Error::BundlerUnavailable`]. A send whose outcome the bundler cannot
//! tell after a retry is looked up by its userOpHash rather than failed (see [`BundlerClient::submit`]).

mod failure;
mod types;

use failure::{
    bundler_error, describe_transport_error, is_duplicate, may_have_reached_bundler, retry_delay,
    without_url,
};

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U64};
use alloy::rpc::client::{ClientBuilder, RpcClient};
use alloy::rpc::json_rpc::{RpcRecv, RpcSend};
use alloy::transports::http::reqwest::{self, Url};
use alloy::transports::{RpcError, TransportErrorKind};
use keyscope_signer::PackedUserOperation;

use crate::client::{Client, OpOutcome};
use crate::error::{Error, Result};
use crate::stack::Version;

/// ERC-7769 (and JSON-RPC) error codes a bundler answers with.
pub mod codes {
    /// Invalid fields (a malformed operation, an unsupported EntryPoint).
    pub const INVALID_PARAMS: i64 = -32602;
    /// Rejected by the EntryPoint or the account during validation (`AAxx`).
    pub const VALIDATION_REVERTED: i64 = -32500;
    /// Rejected by the paymaster's validation.
    pub const PAYMASTER_REJECTED: i64 = -32501;
    /// A banned opcode in validation (ERC-7562).
    pub const BANNED_OPCODE: i64 = -32502;
    /// Valid only in a future or past time range (`validAfter` / `validUntil`).
    pub const TIME_RANGE: i64 = -32503;
    /// An entity (factory, paymaster, aggregator) is throttled or banned.
    pub const THROTTLED: i64 = -32504;
    /// An entity's stake or unstake delay is too low.
    pub const INSUFFICIENT_STAKE: i64 = -32505;
    /// Unsupported signature aggregator.
    pub const UNSUPPORTED_AGGREGATOR: i64 = -32506;
    /// Invalid signature (`AA24`, `AA34`).
    pub const INVALID_SIGNATURE: i64 = -32507;
    /// Reverted (or would revert) in execution: the account's call or the paymaster's `postOp`
    /// (e.g. in `eth_estimateUserOperationGas`).
    pub const EXECUTION_REVERTED: i64 = -32521;

    /// A short description of an ERC-7769 code (`None` for other codes).
    pub fn describe(code: i64) -> Option<&'static str> {
        Some(match code {
            INVALID_PARAMS => "invalid fields",
            VALIDATION_REVERTED => "rejected in validation",
            PAYMASTER_REJECTED => "rejected by the paymaster",
            BANNED_OPCODE => "banned opcode in validation",
            TIME_RANGE => "outside its validity time range",
            THROTTLED => "entity throttled or banned",
            INSUFFICIENT_STAKE => "entity stake too low",
            UNSUPPORTED_AGGREGATOR => "unsupported aggregator",
            INVALID_SIGNATURE => "invalid signature",
            EXECUTION_REVERTED => "reverted in execution",
            _ => return None,
        })
    }
}

/// How a [`BundlerClient`] retries, times out and polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundlerOptions {
    /// Tries of a request that fails in transport (connection refused or reset, timeout, HTTP 429/502/503/504)
    /// before [`Error::BundlerUnavailable`]; at least 1. JSON-RPC errors are never retried.
    pub attempts: u32,
    /// Wait before the first retry; doubled after each retry (up to `max_backoff`).
    pub initial_backoff: Duration,
    /// Longest wait between two tries (also the cap of a server's `Retry-After`).
    pub max_backoff: Duration,
    /// Timeout of one HTTP request (connection included).
    pub request_timeout: Duration,
    /// Interval between two `eth_getUserOperationReceipt` polls in [`BundlerClient::wait_for_receipt`]; at
    /// least [`MIN_POLL_INTERVAL`] (a shorter one is raised to it).
    pub poll_interval: Duration,
    /// How long [`BundlerClient::submit`] waits for the receipt.
    pub receipt_timeout: Duration,
}

impl Default for BundlerOptions {
    /// 4 tries 200 ms, 400 ms and 800 ms apart; 30 s per request; receipts polled every 250 ms for up to 60 s.
    fn default() -> Self {
        Self {
            attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_millis(250),
            receipt_timeout: Duration::from_secs(60),
        }
    }
}

/// The shortest interval between two receipt polls: a zero [`BundlerOptions::poll_interval`] would hammer the
/// bundler in a tight loop.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

pub use types::{from_rpc, to_rpc, BundleReceipt, GasEstimate, UserOperationReceipt};

/// A bundler's JSON-RPC endpoint, over alloy's HTTP transport. Its `Debug` form shows the origin only (the URL's
/// path and query may carry an API key).
#[derive(Clone)]
pub struct BundlerClient {
    rpc: RpcClient,
    /// `scheme://host:port` only: the path and query may carry an API key and never appear in errors.
    origin: String,
    options: BundlerOptions,
}

impl std::fmt::Debug for BundlerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundlerClient")
            .field("origin", &self.origin)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl BundlerClient {
    /// A client for the bundler at `url` with [`BundlerOptions::default`].
    pub fn new(url: Url) -> Result<Self> {
        Self::with_options(url, BundlerOptions::default())
    }

    /// A client for the bundler at `url`.
    pub fn with_options(url: Url, options: BundlerOptions) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout)
            .build()
            .map_err(|error| {
                Error::Transport(RpcError::Transport(TransportErrorKind::Custom(
                    without_url(Box::new(error)),
                )))
            })?;
        let origin = url.origin().ascii_serialization();
        Ok(Self {
            rpc: ClientBuilder::default().http_with_client(http, url),
            origin,
            options,
        })
    }

    /// The bundler's `scheme://host:port` (the rest of the URL is kept out of errors and logs).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The options.
    pub fn options(&self) -> &BundlerOptions {
        &self.options
    }

    /// Any JSON-RPC call to the same endpoint (e.g. ERC-7677 `pm_*` methods served next to the bundler), retried
    /// on transport failures; a JSON-RPC error is [`Error::Bundler`].
    pub(crate) async fn request<P: RpcSend, R: RpcRecv>(
        &self,
        method: &'static str,
        params: P,
    ) -> Result<R> {
        self.call(method, params).await
    }

    /// One JSON-RPC call, retried on transport failures (see [`BundlerOptions`]).
    async fn call<P: RpcSend, R: RpcRecv>(&self, method: &'static str, params: P) -> Result<R> {
        self.call_tracked(method, params).await.0
    }

    /// [`Self::call`], and whether a try may have reached the bundler without a usable answer coming back (a
    /// timeout or a connection cut once the request was out, a gateway error, an unreadable answer): for a send,
    /// the bundler may then hold the operation whatever the final answer says.
    async fn call_tracked<P: RpcSend, R: RpcRecv>(
        &self,
        method: &'static str,
        params: P,
    ) -> (Result<R>, bool) {
        let attempts = self.options.attempts.max(1);
        let mut backoff = self.options.initial_backoff;
        let mut attempt = 0;
        let mut maybe_delivered = false;
        loop {
            attempt += 1;
            let error = match self.rpc.request(method, params.clone()).await {
                Ok(response) => return (Ok(response), maybe_delivered),
                Err(RpcError::ErrorResp(payload)) => {
                    return (Err(bundler_error(&payload)), maybe_delivered)
                }
                // Not `Error::Transport`: its text would carry the whole answer.
                Err(RpcError::DeserError { err, .. }) => {
                    let error = Error::BundlerResponse {
                        method,
                        reason: err.to_string(),
                    };
                    return (Err(error), true);
                }
                Err(error) => error,
            };
            maybe_delivered |= may_have_reached_bundler(&error);
            let Some(server_delay) = retry_delay(&error) else {
                return (Err(Error::Transport(error)), maybe_delivered);
            };
            if attempt >= attempts {
                let error = Error::BundlerUnavailable {
                    url: self.origin.clone(),
                    attempts: attempt,
                    reason: describe_transport_error(error),
                };
                return (Err(error), maybe_delivered);
            }
            let wait = server_delay
                .unwrap_or(backoff)
                .min(self.options.max_backoff);
            tokio::time::sleep(wait).await;
            backoff = backoff.saturating_mul(2).min(self.options.max_backoff);
        }
    }

    /// `eth_supportedEntryPoints`.
    pub async fn supported_entry_points(&self) -> Result<Vec<Address>> {
        self.call("eth_supportedEntryPoints", ()).await
    }

    /// `eth_chainId`.
    pub async fn chain_id(&self) -> Result<u64> {
        let id: U64 = self.call("eth_chainId", ()).await?;
        Ok(id.to())
    }

    /// `eth_estimateUserOperationGas` for `op` on `entry_point` (v0.7/v0.8 JSON shape). The signature must have
    /// the final one's length and let validation run to its end: for session operations,
    /// [`SessionSignature::to_dummy`](keyscope_signer::SessionSignature::to_dummy).
    pub async fn estimate_user_operation_gas(
        &self,
        op: &PackedUserOperation,
        entry_point: Address,
    ) -> Result<GasEstimate> {
        self.call("eth_estimateUserOperationGas", (to_rpc(op)?, entry_point))
            .await
    }

    /// `eth_sendUserOperation`: the userOpHash the bundler computed. This is the raw call: when a try timed out
    /// after the bundler took the operation, the retry is answered as a duplicate or a nonce conflict
    /// ([`Error::Bundler`]); [`Self::submit`] handles that by looking the operation up by its hash.
    pub async fn send_user_operation(
        &self,
        op: &PackedUserOperation,
        entry_point: Address,
    ) -> Result<B256> {
        self.call("eth_sendUserOperation", (to_rpc(op)?, entry_point))
            .await
    }

    /// `eth_getUserOperationReceipt`: `None` while the operation is not included.
    pub async fn get_user_operation_receipt(
        &self,
        user_op_hash: B256,
    ) -> Result<Option<UserOperationReceipt>> {
        self.call("eth_getUserOperationReceipt", (user_op_hash,))
            .await
    }

    /// Polls [`Self::get_user_operation_receipt`] every [`BundlerOptions::poll_interval`] (at least
    /// [`MIN_POLL_INTERVAL`]) until the operation is included, or fails with [`Error::ReceiptTimeout`] after
    /// `timeout`.
    pub async fn wait_for_receipt(
        &self,
        user_op_hash: B256,
        timeout: Duration,
    ) -> Result<UserOperationReceipt> {
        let start = Instant::now();
        let interval = self.options.poll_interval.max(MIN_POLL_INTERVAL);
        loop {
            if let Some(receipt) = self.get_user_operation_receipt(user_op_hash).await? {
                return Ok(receipt);
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(Error::ReceiptTimeout {
                    user_op_hash,
                    waited,
                });
            }
            tokio::time::sleep(interval.min(timeout - waited)).await;
        }
    }

    /// Checks that the bundler serves the client's chain and the EntryPoint of `version`
    /// ([`Error::BundlerChainMismatch`], [`Error::EntryPointNotSupported`]).
    pub async fn check(&self, client: &Client, version: Version) -> Result<()> {
        let chain_id = self.chain_id().await?;
        if chain_id != client.chain_id() {
            return Err(Error::BundlerChainMismatch {
                client: client.chain_id(),
                bundler: chain_id,
            });
        }
        let entry_point = client.stack().version(version).entry_point;
        let supported = self.supported_entry_points().await?;
        if supported.contains(&entry_point) {
            Ok(())
        } else {
            Err(Error::EntryPointNotSupported {
                entry_point,
                supported,
            })
        }
    }

    /// Sends `op`, whose userOpHash on `entry_point` is `user_op_hash` (computed locally), with
    /// `eth_sendUserOperation` and waits up to [`BundlerOptions::receipt_timeout`] for its receipt. A bundler that
    /// reports another userOpHash than the one signed is [`Error::BundlerResponse`]. [`Client::send`] calls it
    /// for a client that submits through this bundler.
    ///
    /// Sending is safe to retry: the operation is looked up by its userOpHash rather than failed when the bundler
    /// already holds it —
    /// * an answer "already known" (a duplicate): its receipt is waited for;
    /// * an `AA25` nonce rejection: its receipt is looked up once (it may have been included already);
    /// * any answer after a try that may have reached the bundler without an answer (a timeout, a connection
    ///   cut, a gateway error): its receipt is waited for, and [`Error::SendOutcomeUnknown`] comes back (with
    ///   the bundler's answer) when none comes — as it does when every try failed that way. Look for the
    ///   receipt then, before building a new operation for the same calls: it would run them twice.
    pub async fn submit(
        &self,
        op: &PackedUserOperation,
        entry_point: Address,
        user_op_hash: B256,
    ) -> Result<OpOutcome> {
        let timeout = self.options.receipt_timeout;
        let (answer, maybe_delivered) = self
            .call_tracked::<_, B256>("eth_sendUserOperation", (to_rpc(op)?, entry_point))
            .await;
        let error = match answer {
            Ok(hash) if hash == user_op_hash => {
                return Ok(self.wait_for_receipt(hash, timeout).await?.outcome())
            }
            Ok(hash) => {
                return Err(Error::BundlerResponse {
                    method: "eth_sendUserOperation",
                    reason: format!(
                        "userOpHash {hash}, but the operation signed has {user_op_hash}"
                    ),
                })
            }
            Err(error) => error,
        };
        if is_duplicate(&error) {
            // The bundler holds it: from a try of this call, or an earlier send of the same operation.
            return Ok(self
                .wait_for_receipt(user_op_hash, timeout)
                .await?
                .outcome());
        }
        if maybe_delivered {
            // Whatever the last try was told, an earlier one may have handed the operation over.
            let answered = matches!(error, Error::Bundler { .. } | Error::BundlerResponse { .. });
            if answered {
                if let Ok(receipt) = self.wait_for_receipt(user_op_hash, timeout).await {
                    return Ok(receipt.outcome());
                }
            }
            return Err(Error::SendOutcomeUnknown {
                user_op_hash,
                source: Box::new(error),
            });
        }
        if error.aa_code() == Some("AA25") {
            // Sent before and included already: its nonce is spent.
            if let Ok(Some(receipt)) = self.get_user_operation_receipt(user_op_hash).await {
                return Ok(receipt.outcome());
            }
        }
        Err(error)
    }
}
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    use types::tests::op;

    // -----------------------------------------------------------------------------------------------------------
    // Against a scripted bundler
    // -----------------------------------------------------------------------------------------------------------

    /// What the scripted bundler does with a request.
    enum Reply {
        /// A JSON-RPC answer: the `"result": …` or `"error": …` member.
        Json(String),
        /// An HTTP error status.
        Status(u16),
        /// Holds the connection without answering (the client times out).
        Hang,
    }

    /// A JSON-RPC server on 127.0.0.1, one request per connection: `reply(n, method)` answers the n-th request
    /// (from 0). Returns its URL (with an API key in the query) and the methods called, in order.
    fn scripted(
        reply: impl Fn(usize, &str) -> Reply + Send + Sync + 'static,
    ) -> (Url, Arc<Mutex<Vec<String>>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/rpc?apikey=do-not-log",
            listener.local_addr().unwrap()
        )
        .parse()
        .unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        let reply = Arc::new(reply);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (seen, reply) = (seen.clone(), reply.clone());
                std::thread::spawn(move || {
                    let Some(request) = read_request(&mut stream) else {
                        return;
                    };
                    let method = request["method"].as_str().unwrap_or_default().to_owned();
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(method.clone());
                        seen.len() - 1
                    };
                    let (status, body) = match reply(n, &method) {
                        Reply::Json(member) => (
                            200,
                            format!(r#"{{"jsonrpc":"2.0","id":{},{member}}}"#, request["id"]),
                        ),
                        Reply::Status(status) => (status, String::new()),
                        Reply::Hang => {
                            std::thread::sleep(Duration::from_secs(3));
                            return;
                        }
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        (url, calls)
    }

    /// One HTTP request's JSON body.
    fn read_request(stream: &mut std::net::TcpStream) -> Option<serde_json::Value> {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))?
                    .trim()
                    .parse()
                    .ok()?;
                if buffer.len() >= end + 4 + length {
                    return serde_json::from_slice(&buffer[end + 4..end + 4 + length]).ok();
                }
            }
            let read = stream.read(&mut chunk).ok()?;
            if read == 0 {
                return None;
            }
            buffer.extend_from_slice(&chunk[..read]);
        }
    }

    fn error_reply(code: i64, message: &str) -> Reply {
        Reply::Json(format!(
            r#""error":{{"code":{code},"message":"{message}"}}"#
        ))
    }

    /// A receipt as a terse bundler gives it: the transaction receipt without `type`, `effectiveGasPrice`,
    /// `from`, `to`, `logsBloom` …
    fn receipt_reply(user_op_hash: B256) -> Reply {
        Reply::Json(format!(
            r#""result":{{"userOpHash":"{user_op_hash}","entryPoint":"{}","sender":"{}","nonce":"0x0",
                "actualGasCost":"0x100","actualGasUsed":"0x80","success":true,"logs":[],
                "receipt":{{"transactionHash":"{}","gasUsed":"0x1d4c0","blockNumber":"0x2","logs":[]}}}}"#,
            keyscope_signer::ENTRY_POINT_V07,
            Address::repeat_byte(1),
            B256::repeat_byte(0x7c),
        ))
    }

    fn fast_options() -> BundlerOptions {
        BundlerOptions {
            attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            request_timeout: Duration::from_millis(300),
            poll_interval: Duration::from_millis(10),
            receipt_timeout: Duration::from_millis(500),
        }
    }

    const HASH: B256 = B256::repeat_byte(0x4a);

    async fn submit(
        reply: impl Fn(usize, &str) -> Reply + Send + Sync + 'static,
    ) -> (Result<OpOutcome>, Vec<String>) {
        let (url, calls) = scripted(reply);
        let bundler = BundlerClient::with_options(url, fast_options()).unwrap();
        let result = bundler
            .submit(&op(), keyscope_signer::ENTRY_POINT_V07, HASH)
            .await;
        let calls = calls.lock().unwrap().clone();
        (result, calls)
    }

    #[tokio::test]
    async fn send_that_timed_out_then_was_rejected_waits_for_the_receipt() {
        // The first try reaches the bundler, which takes the operation but answers too late; the retry is
        // rejected (the operation is in, its nonce spent); the operation is included.
        let (result, calls) = submit(|n, method| match (n, method) {
            (0, "eth_sendUserOperation") => Reply::Hang,
            (1, "eth_sendUserOperation") => error_reply(-32500, "AA25 invalid account nonce"),
            (2, _) => Reply::Json(r#""result":null"#.into()),
            _ => receipt_reply(HASH),
        })
        .await;
        let outcome = result.unwrap();
        assert_eq!(outcome.user_op_hash, HASH);
        assert_eq!(outcome.tx_hash, B256::repeat_byte(0x7c));
        assert_eq!(outcome.gas_used, 120_000);
        assert!(outcome.success);
        assert_eq!(
            calls,
            [
                "eth_sendUserOperation",
                "eth_sendUserOperation",
                "eth_getUserOperationReceipt",
                "eth_getUserOperationReceipt"
            ]
        );
    }

    #[tokio::test]
    async fn duplicate_send_waits_for_the_receipt() {
        // Sent again (no timeout in this call): the bundler already holds it.
        let (result, _) = submit(|n, _| match n {
            0 => error_reply(-32602, "Already known"),
            _ => receipt_reply(HASH),
        })
        .await;
        assert_eq!(result.unwrap().tx_hash, B256::repeat_byte(0x7c));
        // Sent again after its inclusion: the nonce is spent, the receipt is there.
        let (result, calls) = submit(|n, _| match n {
            0 => error_reply(-32500, "AA25 invalid account nonce"),
            _ => receipt_reply(HASH),
        })
        .await;
        assert!(result.unwrap().success);
        assert_eq!(calls.len(), 2);
    }

    #[tokio::test]
    async fn send_outcome_unknown_is_typed() {
        // The retry is rejected and no receipt comes: the outcome is unknown, with the rejection inside.
        let (result, calls) = submit(|n, method| match (n, method) {
            (0, _) => Reply::Hang,
            (1, _) => error_reply(-32500, "AA25 invalid account nonce"),
            _ => Reply::Json(r#""result":null"#.into()),
        })
        .await;
        match result {
            Err(Error::SendOutcomeUnknown {
                user_op_hash,
                source,
            }) => {
                assert_eq!(user_op_hash, HASH);
                assert_eq!(source.aa_code(), Some("AA25"));
            }
            other => panic!("{other:?}"),
        }
        assert!(calls[2..]
            .iter()
            .all(|m| m == "eth_getUserOperationReceipt"));
        // Every try timed out: unknown as well, and no polling of an unreachable bundler.
        let (result, calls) = submit(|_, _| Reply::Hang).await;
        match result {
            Err(Error::SendOutcomeUnknown { source, .. }) => assert!(
                matches!(*source, Error::BundlerUnavailable { attempts: 3, .. }),
                "{source:?}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(calls.len(), 3);
        // Turned away (503) every time: nothing was taken, so the bundler is just unavailable.
        let (result, _) = submit(|_, _| Reply::Status(503)).await;
        assert!(
            matches!(result, Err(Error::BundlerUnavailable { .. })),
            "{result:?}"
        );
        // A plain rejection at the first try is the rejection, at once.
        let (result, calls) = submit(|_, _| error_reply(-32500, "AA23 reverted")).await;
        assert_eq!(result.unwrap_err().aa_code(), Some("AA23"));
        assert_eq!(calls, ["eth_sendUserOperation"]);
        // Another hash than the one signed.
        let other = B256::repeat_byte(1);
        let (result, _) = submit(move |_, _| Reply::Json(format!(r#""result":"{other}""#))).await;
        assert!(
            matches!(result, Err(Error::BundlerResponse { .. })),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn unreadable_answer_is_short_and_typed() {
        let (url, _) = scripted(|_, _| {
            Reply::Json(format!(
                r#""result":{{"unexpected":"{}"}}"#,
                "x".repeat(10_000)
            ))
        });
        let bundler = BundlerClient::with_options(url, fast_options()).unwrap();
        let error = bundler.get_user_operation_receipt(HASH).await.unwrap_err();
        assert!(
            matches!(
                error,
                Error::BundlerResponse {
                    method: "eth_getUserOperationReceipt",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().len() < 500, "{error}");
    }

    #[tokio::test]
    async fn zero_poll_interval_does_not_spin() {
        let (url, calls) = scripted(|_, _| Reply::Json(r#""result":null"#.into()));
        let options = BundlerOptions {
            poll_interval: Duration::ZERO,
            ..fast_options()
        };
        let bundler = BundlerClient::with_options(url, options).unwrap();
        let error = bundler
            .wait_for_receipt(HASH, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::ReceiptTimeout { .. }), "{error:?}");
        // At most one poll per MIN_POLL_INTERVAL (and the first one).
        let polls = calls.lock().unwrap().len();
        assert!(polls <= 200 / 10 + 1, "{polls} polls in 200 ms");
    }

    #[tokio::test]
    async fn huge_backoff_does_not_overflow() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", free.local_addr().unwrap())
            .parse()
            .unwrap();
        drop(free);
        let options = BundlerOptions {
            initial_backoff: Duration::MAX,
            max_backoff: Duration::from_millis(5),
            ..fast_options()
        };
        let bundler = BundlerClient::with_options(url, options).unwrap();
        let error = bundler.chain_id().await.unwrap_err();
        assert!(
            matches!(error, Error::BundlerUnavailable { attempts: 3, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn debug_shows_the_origin_only() {
        let url = "https://bundler.example:8443/v2/1/rpc?apikey=do-not-log"
            .parse()
            .unwrap();
        let bundler = BundlerClient::new(url).unwrap();
        let text = format!("{bundler:?}");
        assert!(text.contains("https://bundler.example:8443"), "{text}");
        assert!(
            !text.contains("do-not-log") && !text.contains("/v2/1"),
            "{text}"
        );
    }
}
