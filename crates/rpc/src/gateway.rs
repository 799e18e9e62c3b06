//! What runs around the JSON-RPC methods, on the same listening address: `GET /health`, `GET /metrics`, request
//! ids, API keys and rate limits, CORS (opt-in) and empty replies to notifications (an HTTP layer in front of
//! jsonrpsee), and per-call metrics and log lines, and the batch limit (a jsonrpsee RPC middleware).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::header::{
    HeaderName, HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, ORIGIN, VARY,
};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use jsonrpsee::core::middleware::{Batch, BatchEntry, Notification, RpcServiceT};
use jsonrpsee::core::server::BatchResponseBuilder;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse, MethodResponse};
use jsonrpsee::types::{ErrorObject, Id, Request};
use keyscope::alloy::providers::Provider;
use serde_json::{json, Value};

use crate::access::{ApiKeys, Limiter};
use crate::metrics::{Metrics, Rejection, Snapshot};
use crate::service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The header carrying a request's id, both ways.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The header an API key may come in (besides `Authorization: Bearer`).
const API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// JSON-RPC error code of a request without a valid API key (HTTP 401).
pub(crate) const UNAUTHORIZED: i32 = -32040;
/// JSON-RPC error code of a request over its key's rate limit (HTTP 429): EIP-1474's "limit exceeded".
pub(crate) const RATE_LIMITED: i32 = -32005;
/// JSON-RPC error code of a batch longer than `--max-batch` (jsonrpsee's "batch too large").
pub(crate) const BATCH_TOO_LARGE: i32 = -32010;
/// How long a browser may keep a CORS preflight's answer, in seconds.
pub(crate) const CORS_MAX_AGE_SECS: u32 = 600;
/// The request headers a cross-origin caller may send.
const CORS_ALLOW_HEADERS: &str = "content-type, authorization, x-api-key, x-request-id";
/// The response headers a cross-origin caller may read.
const CORS_EXPOSE_HEADERS: &str = "x-request-id, retry-after";
/// How long `/health` waits for the node and for the store.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest method name or string id written to a log line (they are the caller's).
const LOG_TEXT_MAX: usize = 64;

/// What the HTTP layer tells the RPC middleware about a request (in the request's extensions).
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    id: Arc<str>,
    key: Option<Arc<str>>,
    /// Calls (and notifications) that reached the middleware.
    calls: Arc<AtomicUsize>,
}

tokio::task_local! {
    /// The name of the API key of the call being answered (see [`as_caller`]).
    static CALLER_KEY: Option<Arc<str>>;
}

/// Runs a method's `future` as the caller of the request whose `extensions` these are: [`caller_key`] is its API
/// key's name within it.
pub(crate) async fn as_caller<F: Future>(extensions: &http::Extensions, future: F) -> F::Output {
    let key = extensions
        .get::<RequestContext>()
        .and_then(|context| context.key.clone());
    CALLER_KEY.scope(key, future).await
}

/// The name of the API key of the call being answered; `None` without API keys (or outside [`as_caller`]).
pub(crate) fn caller_key() -> Option<Arc<str>> {
    CALLER_KEY.try_with(Clone::clone).ok().flatten()
}

/// Whether a caller's `x-request-id` is kept: 1 to 64 ASCII letters, digits, `-`, `_`, `.` or `:`.
pub(crate) fn well_formed_request_id(id: &str) -> bool {
    (1..=LOG_TEXT_MAX).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A new request id: 128 random bits in hex.
fn new_request_id() -> String {
    use rand_core::RngCore;
    let mut bytes = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `text` cut to [`LOG_TEXT_MAX`] characters.
fn clipped(text: &str) -> &str {
    match text.char_indices().nth(LOG_TEXT_MAX) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// One request's log line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogLine<'a> {
    pub request_id: &'a str,
    /// The JSON-RPC method, `None` when the request reached none (refused, not JSON …).
    pub method: Option<&'a str>,
    /// The JSON-RPC id.
    pub id: Value,
    /// The error code, `None` for a result.
    pub code: Option<i32>,
    /// The HTTP status, when the line is the HTTP request's (no method ran).
    pub status: Option<u16>,
    pub duration: Duration,
    /// The API key's name.
    pub key: Option<&'a str>,
}

/// `line` as one JSON object on one line: `ts` (RFC 3339, UTC), `level`, `requestId`, `method`, `id`,
/// `outcome` (`ok`, `error`, `notification`), `code`, `status`, `durationMs`, `key`. Never parameters, keys or
/// URLs.
pub(crate) fn format_log_line(now: time::OffsetDateTime, line: &LogLine<'_>) -> String {
    let ts = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let text = |s: Option<&str>| Value::from(s.map(clipped));
    let id = match &line.id {
        Value::String(s) => Value::from(clipped(s)),
        other => other.clone(),
    };
    let outcome = match (line.code, &line.id, line.method, line.status) {
        (Some(_), ..) => "error",
        (None, Value::Null, Some(_), None) => "notification",
        (None, _, None, Some(status)) if status >= 400 => "error",
        _ => "ok",
    };
    format!(
        "{{\"ts\":{},\"level\":\"info\",\"requestId\":{},\"method\":{},\"id\":{},\"outcome\":\"{outcome}\",\
         \"code\":{},\"status\":{},\"durationMs\":{:.3},\"key\":{}}}",
        Value::from(ts),
        text(Some(line.request_id)),
        text(line.method),
        id,
        Value::from(line.code),
        Value::from(line.status),
        line.duration.as_secs_f64() * 1000.0,
        text(line.key),
    )
}

/// Writes `line` to stderr. A failed write (stderr closed, a full disk) loses the line, never the request:
/// `eprintln!` would panic.
fn log(line: &LogLine<'_>) {
    use std::io::Write;
    let text = format_log_line(time::OffsetDateTime::now_utc(), line);
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn id_json(id: &Id<'_>) -> Value {
    match id {
        Id::Null => Value::Null,
        Id::Number(n) => Value::from(*n),
        Id::Str(s) => Value::from(clipped(s)),
    }
}

/// A request refused before any method ran.
#[derive(Debug)]
struct Refusal {
    why: Rejection,
    /// The key's name, when the key was right (rate limited).
    key: Option<String>,
    response: HttpResponse,
}

/// What both layers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub service: Arc<Service>,
    pub metrics: Arc<Metrics>,
    pub keys: Option<ApiKeys>,
    pub limiter: Option<Limiter>,
    /// Whether to write a log line per request.
    pub log: bool,
    pub max_response_bytes: usize,
    /// Most calls (and notifications) in one batch.
    pub max_batch: usize,
    /// The origins browsers may call from (CORS); `None`: no CORS headers at all.
    pub cors: Option<CorsOrigins>,
}

/// The origins allowed to call from a browser (`--cors-origin`): each `scheme://host[:port]`, or `*` for any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CorsOrigins {
    any: bool,
    /// Lowercase, without a trailing `/`.
    origins: Vec<String>,
}

impl CorsOrigins {
    /// The allowed origins of `list` (each may be comma-separated); `None` when empty. An origin is `*`, or
    /// `http://` or `https://` with a host and an optional port, nothing else (no path, query or credentials).
    pub(crate) fn parse(list: &[String]) -> crate::error::Result<Option<Self>> {
        let mut any = false;
        let mut origins = Vec::new();
        for (n, item) in list.iter().flat_map(|item| item.split(',')).enumerate() {
            let origin = item.trim();
            if origin.is_empty() {
                continue;
            }
            if origin == "*" {
                any = true;
                continue;
            }
            let origin = origin
                .strip_suffix('/')
                .unwrap_or(origin)
                .to_ascii_lowercase();
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let valid = host.is_some_and(|host| {
                !host.is_empty()
                    && host.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'[' | b']')
                    })
            });
            if !valid {
                return Err(crate::error::Error::invalid(
                    "--cors-origin",
                    // Not echoed: a mistaken URL may carry a secret in its path or query.
                    format!(
                        "origin {} is not scheme://host[:port] (http or https; no path, query or user): give origins only, or * (any origin: for development)",
                        n + 1
                    ),
                ));
            }
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok((any || !origins.is_empty()).then_some(Self { any, origins }))
    }

    /// Whether a request from `origin` (its `Origin` header) may read the answer.
    pub(crate) fn allows(&self, origin: &str) -> bool {
        let origin = origin.strip_suffix('/').unwrap_or(origin);
        self.any || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }
}

/// Marks a jsonrpsee response that must not be sent: a notification's, or a batch's of notifications only. The
/// HTTP layer answers it with 204 and no body (jsonrpsee 0.26 would write the body `null`).
#[derive(Debug, Clone, Copy)]
struct NoReply;

fn no_reply(mut response: MethodResponse) -> MethodResponse {
    response.extensions_mut().insert(NoReply);
    response
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn rpc_error(status: StatusCode, code: i32, message: &str, data: Value) -> HttpResponse {
    json_response(
        status,
        &json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message, "data": data } }),
    )
}

/// The API key a request carries: `Authorization: Bearer KEY`, else `x-api-key: KEY`.
fn presented_key(request: &HttpRequest) -> Option<&str> {
    let headers = request.headers();
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, key) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        });
    bearer.or_else(|| {
        headers
            .get(API_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    })
}

impl Shared {
    /// `GET /health`: 200 when the node answers `eth_blockNumber` and the store its usage row (each within 2 s),
    /// else 503.
    async fn health(&self) -> HttpResponse {
        let node = tokio::time::timeout(
            HEALTH_TIMEOUT,
            self.service.client().provider().get_block_number(),
        );
        let store = tokio::time::timeout(HEALTH_TIMEOUT, self.service.store_usage());
        let (node, store) = tokio::join!(node, store);
        let block = node.ok().and_then(Result::ok);
        let store = matches!(store, Ok(Ok(_)));
        let ok = block.is_some() && store;
        let state = |up: bool| if up { "ok" } else { "unreachable" };
        json_response(
            if ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            },
            &json!({
                "ok": ok,
                "chainId": self.service.chain_id(),
                "blockNumber": block,
                "node": state(block.is_some()),
                "store": state(store),
            }),
        )
    }

    /// `GET /metrics`: the exposition, with the store's usage read now.
    async fn metrics(&self) -> HttpResponse {
        let stored = tokio::time::timeout(HEALTH_TIMEOUT, self.service.store_usage())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|usage| (usage.sessions, usage.bytes));
        let options = self.service.options();
        let snapshot = Snapshot {
            chain_id: self.service.chain_id(),
            backend: self.service.store_backend(),
            stored,
            max_stored_sessions: u64::try_from(options.max_stored_sessions).unwrap_or(u64::MAX),
            max_stored_bytes: u64::try_from(options.max_stored_bytes).unwrap_or(u64::MAX),
        };
        let mut response = HttpResponse::new(HttpBody::from(self.metrics.render(&snapshot)));
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        response
    }

    /// The key's name, or the refusal (401, 429; with the key's name when it was right) when keys are required.
    fn admit(&self, request: &HttpRequest) -> Result<Option<String>, Box<Refusal>> {
        let Some(keys) = &self.keys else {
            return Ok(None);
        };
        let Some(name) = presented_key(request).and_then(|key| keys.name_of(key)) else {
            let message = if presented_key(request).is_some() {
                "unauthorized: unknown API key"
            } else {
                "unauthorized: an API key is required (Authorization: Bearer KEY, or x-api-key: KEY)"
            };
            let mut response = rpc_error(
                StatusCode::UNAUTHORIZED,
                UNAUTHORIZED,
                message,
                json!({ "reason": "unauthorized" }),
            );
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
            return Err(Box::new(Refusal {
                why: Rejection::Unauthorized,
                key: None,
                response,
            }));
        };
        if let Some(limiter) = &self.limiter {
            if let Err(seconds) = limiter.take(name, Instant::now()) {
                let mut response = rpc_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    RATE_LIMITED,
                    "rate limited: too many requests for this API key",
                    json!({ "reason": "rateLimited", "retryAfter": seconds }),
                );
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
                return Err(Box::new(Refusal {
                    why: Rejection::RateLimited,
                    key: Some(name.to_owned()),
                    response,
                }));
            }
        }
        Ok(Some(name.to_owned()))
    }

    /// Counts and logs a response no method produced (a refusal, a parse error, a body too large …), reading
    /// the error code from its (small) body.
    async fn settle(
        &self,
        response: HttpResponse,
        context: &RequestContext,
        started: Instant,
    ) -> Result<HttpResponse, BoxError> {
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await?.to_bytes();
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let code = answer["error"]["code"]
            .as_i64()
            .and_then(|c| i32::try_from(c).ok());
        if let Some(code) = code {
            self.metrics.error(code);
        }
        self.metrics.http(parts.status.as_u16());
        if self.log {
            log(&LogLine {
                request_id: &context.id,
                method: None,
                id: answer.get("id").cloned().unwrap_or(Value::Null),
                code,
                status: Some(parts.status.as_u16()),
                duration: started.elapsed(),
                key: context.key.as_deref(),
            });
        }
        Ok(HttpResponse::from_parts(
            parts,
            HttpBody::from(bytes.to_vec()),
        ))
    }
}

/// The HTTP layer's service around jsonrpsee's.
#[derive(Debug, Clone)]
pub(crate) struct Gateway<S> {
    pub inner: S,
    pub shared: Arc<Shared>,
}

impl<S> tower::Service<HttpRequest> for Gateway<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        let shared = self.shared.clone();
        // The ready service is the one called (tower's clone-and-swap).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let Some(cors) = &shared.cors else {
                return serve(&shared, inner, request).await;
            };
            // The caller's origin, when it is allowed: echoed (never `*`, so that caches keep one answer per
            // origin: `Vary: Origin`).
            let origin = request
                .headers()
                .get(ORIGIN)
                .filter(|origin| origin.to_str().is_ok_and(|origin| cors.allows(origin)))
                .cloned();
            let mut response = if request.method() == Method::OPTIONS {
                // A preflight: answered here, before any API key (browsers send none with it).
                let mut response = HttpResponse::new(HttpBody::empty());
                *response.status_mut() = StatusCode::NO_CONTENT;
                if origin.is_some() {
                    let headers = response.headers_mut();
                    headers.insert(
                        ACCESS_CONTROL_ALLOW_METHODS,
                        HeaderValue::from_static("POST, OPTIONS"),
                    );
                    headers.insert(
                        ACCESS_CONTROL_ALLOW_HEADERS,
                        HeaderValue::from_static(CORS_ALLOW_HEADERS),
                    );
                    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(CORS_MAX_AGE_SECS));
                }
                response
            } else {
                let mut response = serve(&shared, inner, request).await?;
                if origin.is_some() {
                    response.headers_mut().insert(
                        ACCESS_CONTROL_EXPOSE_HEADERS,
                        HeaderValue::from_static(CORS_EXPOSE_HEADERS),
                    );
                }
                response
            };
            let headers = response.headers_mut();
            if let Some(origin) = origin {
                headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            }
            headers.append(VARY, HeaderValue::from_static("origin"));
            Ok(response)
        })
    }
}

/// One HTTP request, CORS aside: `/health`, `/metrics`, or JSON-RPC (after the API key and the rate limit).
async fn serve<S>(
    shared: &Shared,
    mut inner: S,
    mut request: HttpRequest,
) -> Result<HttpResponse, BoxError>
where
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError>,
{
    if request.method() == Method::GET {
        match request.uri().path() {
            "/health" => return Ok(shared.health().await),
            "/metrics" => return Ok(shared.metrics().await),
            _ => {}
        }
    }
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| well_formed_request_id(id))
        .map_or_else(new_request_id, ToOwned::to_owned);
    let header = HeaderValue::from_str(&id)?;
    let key = match shared.admit(&request) {
        Ok(key) => key,
        Err(refusal) => {
            let Refusal { why, key, response } = *refusal;
            shared.metrics.rejected(why);
            let context = RequestContext {
                id: Arc::from(id),
                key: key.map(Arc::from),
                calls: Arc::default(),
            };
            let mut response = shared.settle(response, &context, started).await?;
            response.headers_mut().insert(REQUEST_ID, header);
            return Ok(response);
        }
    };
    let context = RequestContext {
        id: Arc::from(id),
        key: key.map(Arc::from),
        calls: Arc::default(),
    };
    request.extensions_mut().insert(context.clone());
    let response = inner.call(request).await?;
    let mut response = if response.extensions().get::<NoReply>().is_some() {
        // Notifications only: nothing to answer (JSON-RPC over HTTP: 204, no body).
        let mut empty = HttpResponse::new(HttpBody::empty());
        *empty.status_mut() = StatusCode::NO_CONTENT;
        shared.metrics.http(StatusCode::NO_CONTENT.as_u16());
        empty
    } else if context.calls.load(Ordering::Relaxed) == 0 {
        shared.settle(response, &context, started).await?
    } else {
        shared.metrics.http(response.status().as_u16());
        response
    };
    response.headers_mut().insert(REQUEST_ID, header);
    Ok(response)
}

/// The RPC middleware: times each call (each call of a batch too), counts it and logs it.
#[derive(Debug, Clone)]
pub(crate) struct Observe<S> {
    pub inner: S,
    pub shared: Arc<Shared>,
}

impl<S> Observe<S> {
    fn record(
        &self,
        context: Option<&RequestContext>,
        method: &str,
        id: Value,
        code: Option<i32>,
        duration: Duration,
    ) {
        if let Some(context) = context {
            context.calls.fetch_add(1, Ordering::Relaxed);
            if self.shared.log {
                log(&LogLine {
                    request_id: &context.id,
                    method: Some(method),
                    id,
                    code,
                    status: None,
                    duration,
                    key: context.key.as_deref(),
                });
            }
        }
    }
}

impl<S> RpcServiceT for Observe<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Clone
        + Send
        + Sync
        + 'static,
{
    type MethodResponse = MethodResponse;
    type BatchResponse = MethodResponse;
    type NotificationResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let this = self.clone();
        async move {
            let started = Instant::now();
            let method = request.method_name().to_owned();
            let id = id_json(&request.id);
            let context = request.extensions().get::<RequestContext>().cloned();
            let response = this.inner.call(request).await;
            let elapsed = started.elapsed();
            let code = response.as_error_code();
            this.shared.metrics.call(&method, code, elapsed);
            this.record(context.as_ref(), &method, id, code, elapsed);
            response
        }
    }

    /// jsonrpsee's own batch handling, with each call going through [`Observe::call`]; a batch longer than
    /// `--max-batch` gets one error (`-32010`) saying the limit (`data.maxBatch`), no call runs.
    fn batch<'a>(&self, mut batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let this = self.clone();
        async move {
            let max = this.shared.max_batch;
            if batch.len() > max {
                let received = batch.len();
                return MethodResponse::error(
                    Id::Null,
                    ErrorObject::owned(
                        BATCH_TOO_LARGE,
                        format!(
                            "batch too large: {received} calls, at most {max} in one batch (split it)"
                        ),
                        Some(json!({ "maxBatch": max, "received": received })),
                    ),
                );
            }
            let context = batch.extensions().get::<RequestContext>().cloned();
            let mut responses =
                BatchResponseBuilder::new_with_limit(this.shared.max_response_bytes);
            let mut got_notification = false;
            for entry in batch.into_iter() {
                let response = match entry {
                    Ok(BatchEntry::Call(request)) => this.call(request).await,
                    Ok(BatchEntry::Notification(notification)) => {
                        got_notification = true;
                        this.notification(notification).await;
                        continue;
                    }
                    Err(error) => {
                        let (error, id) = error.into_parts();
                        this.shared.metrics.error(error.code());
                        this.record(
                            context.as_ref(),
                            "",
                            id_json(&id),
                            Some(error.code()),
                            Duration::ZERO,
                        );
                        MethodResponse::error(id, error)
                    }
                };
                if let Err(too_big) = responses.append(response) {
                    return too_big;
                }
            }
            if responses.is_empty() && got_notification {
                no_reply(MethodResponse::notification())
            } else {
                MethodResponse::from_batch(responses.finish())
            }
        }
    }

    fn notification<'a>(
        &self,
        notification: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        let this = self.clone();
        async move {
            let context = notification.extensions().get::<RequestContext>().cloned();
            let method = notification.method_name().to_owned();
            let response = this.inner.notification(notification).await;
            this.record(context.as_ref(), &method, Value::Null, None, Duration::ZERO);
            no_reply(response)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins() {
        let parse = |list: &[&str]| {
            CorsOrigins::parse(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        };
        assert_eq!(parse(&[]).ok(), Some(None));
        assert_eq!(parse(&[" , "]).ok(), Some(None));
        let Ok(Some(origins)) = parse(&[
            "https://App.example/, http://localhost:5173",
            "http://[::1]:8080",
        ]) else {
            unreachable!("valid origins")
        };
        assert!(origins.allows("https://app.example"));
        assert!(origins.allows("http://localhost:5173"));
        assert!(origins.allows("http://[::1]:8080"));
        assert!(!origins.allows("http://app.example"));
        assert!(!origins.allows("https://app.example.evil"));
        assert!(!origins.allows("null"));
        let Ok(Some(any)) = parse(&["*"]) else {
            unreachable!("*")
        };
        assert!(any.allows("https://anything.example"));
        for bad in [
            "app.example",
            "ftp://app.example",
            "https://app.example/path",
            "https://user:pw@app.example",
            "https://app.example?key=secret",
            "https://",
        ] {
            let Err(error) = parse(&[bad]) else {
                unreachable!("{bad} accepted")
            };
            assert!(!error.message().contains("secret"), "{}", error.message());
            assert!(
                matches!(&error, crate::error::Error::InvalidParams { field, .. } if field == "--cors-origin")
            );
        }
    }

    #[test]
    fn request_ids() {
        assert!(well_formed_request_id("abc-123_x.y:z"));
        assert!(!well_formed_request_id(""));
        assert!(!well_formed_request_id("a b"));
        assert!(!well_formed_request_id("line\nbreak"));
        assert!(!well_formed_request_id(&"a".repeat(65)));
        let id = new_request_id();
        assert_eq!(id.len(), 32);
        assert!(well_formed_request_id(&id));
        assert_ne!(id, new_request_id());
    }

    #[test]
    fn log_lines_are_json_without_secrets() {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let line = format_log_line(
            now,
            &LogLine {
                request_id: "req-1",
                method: Some("keyscope_createSessions"),
                id: json!(7),
                code: Some(-32602),
                status: None,
                duration: Duration::from_micros(1500),
                key: Some("alice"),
            },
        );
        assert!(!line.contains('\n'));
        let value: Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(value["ts"], "1970-01-01T00:00:00Z");
        assert_eq!(value["requestId"], "req-1");
        assert_eq!(value["method"], "keyscope_createSessions");
        assert_eq!(value["id"], 7);
        assert_eq!(value["outcome"], "error");
        assert_eq!(value["code"], -32602);
        assert_eq!(value["durationMs"], 1.5);
        assert_eq!(value["key"], "alice");
        // Callers' text is escaped and clipped.
        let long = format!("evil\"\n{}", "x".repeat(200));
        let line = format_log_line(
            now,
            &LogLine {
                request_id: "r",
                method: Some(&long),
                id: json!(long),
                code: None,
                status: None,
                duration: Duration::ZERO,
                key: None,
            },
        );
        assert!(!line.contains('\n'));
        let value: Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(value["method"].as_str().map(str::len), Some(LOG_TEXT_MAX));
        assert_eq!(value["outcome"], "ok");
        let refused = format_log_line(
            now,
            &LogLine {
                request_id: "r",
                method: None,
                id: Value::Null,
                code: Some(UNAUTHORIZED),
                status: Some(401),
                duration: Duration::ZERO,
                key: None,
            },
        );
        let value: Value = serde_json::from_str(&refused).unwrap_or_default();
        assert_eq!(
            (value["status"].as_u64(), value["outcome"].as_str()),
            (Some(401), Some("error"))
        );
    }
}
