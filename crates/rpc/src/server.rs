//! The JSON-RPC 2.0 server over HTTP (jsonrpsee): method table, limits, start and graceful stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{BatchRequestConfig, RpcModule, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::{Map, Value};

use crate::access::{ApiKeys, Limiter, RateLimit};
use crate::error::{Error, Result};
use crate::gateway::{as_caller, Gateway, Observe, Shared};
use crate::json::object_params;
use crate::metrics::Metrics;
use crate::service::{Service, ServiceOptions};

/// Every method served.
pub const METHODS: [&str; 20] = [
    "keyscope_info",
    "keyscope_createSessions",
    "keyscope_validateSession",
    "keyscope_getSessions",
    "keyscope_revokeSessions",
    "keyscope_handleOpsTransaction",
    "keyscope_prepareSessionOperation",
    "keyscope_sendSessionOperation",
    "keyscope_prepareMultichainEnable",
    "wallet_requestExecutionPermissions",
    // The same method under its earlier draft's name (viem's `erc7715Actions().grantPermissions`).
    "wallet_grantPermissions",
    "wallet_revokeExecutionPermission",
    "wallet_getSupportedExecutionPermissions",
    "wallet_getGrantedExecutionPermissions",
    "pm_getPaymasterStubData",
    "pm_getPaymasterData",
    "particle_aa_getSmartAccount",
    "particle_aa_createSessions",
    "particle_aa_validateSession",
    "particle_aa_sendUserOp",
];

/// The server's configuration.
#[derive(Clone)]
pub struct Config {
    /// Where to listen (`127.0.0.1:8548` by default: loopback only).
    pub listen: SocketAddr,
    /// The chain node's JSON-RPC URL.
    pub rpc_url: String,
    /// The service's own options (bundler URL, request limits …).
    pub service: ServiceOptions,
    /// Largest request body, in bytes (bigger ones get HTTP 413 and error `-32007`).
    pub max_request_bytes: u32,
    /// Largest response body, in bytes.
    pub max_response_bytes: u32,
    /// Most calls in one JSON-RPC batch (1,000 by default: viem's default `batchSize`); a longer batch gets one
    /// error, `-32010`, whose `data.maxBatch` says the limit.
    pub max_batch: u32,
    /// Most concurrent connections.
    pub max_connections: u32,
    /// The API keys every JSON-RPC request must carry (`Authorization: Bearer KEY` or `x-api-key: KEY`);
    /// `None`: open. `/health` and `/metrics` are always open.
    pub api_keys: Option<ApiKeys>,
    /// The rate limit of each API key (only with `api_keys`).
    pub rate_limit: Option<RateLimit>,
    /// Whether to write one JSON log line per request to stderr (the binary does; off by default for embedding).
    pub request_log: bool,
    /// The origins browsers may call from (CORS): each `scheme://host[:port]` (an item may list several,
    /// comma-separated), or `*` for any (for development). Empty (the default): no CORS headers, `OPTIONS` is 405.
    pub cors_origins: Vec<String>,
}

/// Prints the node's URL as `scheme://host:port` only: its path and query may carry an API key.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("rpc_url", &keyscope::error::url_origin(&self.rpc_url))
            .field("service", &self.service)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_batch", &self.max_batch)
            .field("max_connections", &self.max_connections)
            .field("api_keys", &self.api_keys)
            .field("rate_limit", &self.rate_limit)
            .field("request_log", &self.request_log)
            .field("cors_origins", &self.cors_origins)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8548)),
            rpc_url: "http://127.0.0.1:8545".into(),
            service: ServiceOptions::default(),
            max_request_bytes: 256 * 1024,
            max_response_bytes: 4 * 1024 * 1024,
            max_batch: 1000,
            max_connections: 256,
            api_keys: None,
            rate_limit: None,
            request_log: false,
            cors_origins: Vec::new(),
        }
    }
}

/// A started server. Its `Debug` output shows the node's and the bundler's URLs as `scheme://host:port` only.
#[derive(Debug)]
pub struct Running {
    handle: ServerHandle,
    local_addr: SocketAddr,
    service: Arc<Service>,
}

impl Running {
    /// `http://ADDRESS`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The address it listens on (with the actual port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The node's chain id.
    pub fn chain_id(&self) -> u64 {
        self.service.chain_id()
    }

    /// Where sessions are stored, without credentials (`postgres://host:port/database`, or the SQLite URL).
    pub fn database(&self) -> String {
        self.service.database()
    }

    /// Stops accepting connections, lets the requests in flight finish, and returns when all are answered.
    pub async fn shutdown(self) {
        // `stop` fails only when the server is stopped already: then there is nothing to wait for.
        if self.handle.stop().is_ok() {
            self.handle.stopped().await;
        }
        // Every answer is out, every record committed: close the database.
        self.service.close().await;
    }
}

fn respond(result: Result<Value>) -> Result<Value, ErrorObjectOwned> {
    result.map_err(ErrorObjectOwned::from)
}

fn registered<T>(result: Result<T, RegisterMethodError>) -> Result<()> {
    result
        .map(|_| ())
        .map_err(|e| Error::Internal(e.to_string()))
}

/// Registers `name`, whose parameters are one object ([`object_params`]: by name, as the only positional
/// parameter, or in the positional form `positional`), possibly rewritten by `shape`, for `method`.
fn register<F, Fut>(
    module: &mut RpcModule<Service>,
    name: &'static str,
    positional: &'static [&'static str],
    shape: fn(Map<String, Value>) -> Map<String, Value>,
    method: F,
) -> Result<()>
where
    F: Fn(Arc<Service>, Map<String, Value>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Value>> + Send,
{
    registered(
        module.register_async_method(name, move |params, service, extensions| {
            let method = method.clone();
            async move {
                let params = object_params(params.as_str(), positional).map(shape);
                respond(match params {
                    Ok(params) => as_caller(&extensions, method(service, params)).await,
                    Err(error) => Err(error),
                })
            }
        }),
    )
}

/// The method table on `service`.
fn module(service: Arc<Service>) -> Result<RpcModule<Service>> {
    let mut module = RpcModule::from_arc(service);
    let m = &mut module;
    let same = std::convert::identity;
    registered(m.register_method("keyscope_info", |_, service, _| {
        Ok::<_, ErrorObjectOwned>(service.info())
    }))?;
    register(
        m,
        "keyscope_createSessions",
        &["account", "sessions"],
        same,
        |s, p| async move { s.create_sessions(p).await },
    )?;
    // `[userOp]`: the only positional object is the operation itself.
    let user_op = |map: Map<String, Value>| {
        if map.contains_key("sender") {
            std::iter::once(("userOp".to_owned(), Value::Object(map))).collect()
        } else {
            map
        }
    };
    register(
        m,
        "keyscope_validateSession",
        &["userOp", "entryPoint"],
        user_op,
        |s, p| async move { s.validate_session(p).await },
    )?;
    register(
        m,
        "keyscope_getSessions",
        &["account", "fromBlock"],
        same,
        |s, p| async move { s.get_sessions(p).await },
    )?;
    register(m, "keyscope_revokeSessions", &[], same, |s, p| async move {
        s.revoke_sessions(p).await
    })?;
    register(
        m,
        "keyscope_handleOpsTransaction",
        &[],
        same,
        |s, p| async move { s.handle_ops_transaction(p).await },
    )?;
    register(
        m,
        "keyscope_prepareSessionOperation",
        &["account", "session", "calls"],
        same,
        |s, p| async move { s.prepare_session_operation(p).await },
    )?;
    register(
        m,
        "keyscope_sendSessionOperation",
        &["userOp", "signature"],
        same,
        |s, p| async move { s.send_session_operation(p).await },
    )?;
    register(
        m,
        "keyscope_prepareMultichainEnable",
        &["session", "chains"],
        same,
        |s, p| async move { s.prepare_multichain_enable(p).await },
    )?;
    for name in [
        "wallet_requestExecutionPermissions",
        "wallet_grantPermissions",
    ] {
        registered(
            m.register_async_method(name, |params, service, extensions| async move {
                respond(
                    as_caller(
                        &extensions,
                        service.request_execution_permissions(params.as_str()),
                    )
                    .await,
                )
            }),
        )?;
    }
    register(
        m,
        "wallet_revokeExecutionPermission",
        &["permissionContext"],
        same,
        |s, p| async move { s.revoke_execution_permission(p).await },
    )?;
    registered(m.register_method(
        "wallet_getSupportedExecutionPermissions",
        |_, service, _| Ok::<_, ErrorObjectOwned>(service.supported_execution_permissions()),
    ))?;
    register(
        m,
        "wallet_getGrantedExecutionPermissions",
        &["from"],
        same,
        |s, p| async move { s.granted_execution_permissions(p).await },
    )?;
    // ERC-7677: `[userOp, entryPoint, chainId, context]`.
    const PM_PARAMS: &[&str] = &["userOp", "entryPoint", "chainId", "context"];
    register(
        m,
        "pm_getPaymasterStubData",
        PM_PARAMS,
        crate::sponsor::user_op_first,
        |s, p| async move { s.paymaster_stub_data(p).await },
    )?;
    register(
        m,
        "pm_getPaymasterData",
        PM_PARAMS,
        crate::sponsor::user_op_first,
        |s, p| async move { s.paymaster_data(p).await },
    )?;
    // Particle Network's `particle_aa_*` (positional parameters, Particle's shapes: crate::particle).
    macro_rules! particle {
        ($name:literal, $method:path) => {
            registered(
                m.register_async_method($name, |params, service, ext| async move {
                    respond(
                        match crate::particle::check_requested_chain(&service, &ext) {
                            Ok(()) => $method(&service, params.as_str()).await,
                            Err(error) => Err(error),
                        },
                    )
                }),
            )?;
        };
    }
    particle!(
        "particle_aa_getSmartAccount",
        crate::particle::get_smart_account
    );
    particle!(
        "particle_aa_createSessions",
        crate::particle::create_sessions
    );
    particle!(
        "particle_aa_validateSession",
        crate::particle::validate_session
    );
    particle!("particle_aa_sendUserOp", crate::particle::send_user_op);
    Ok(module)
}

/// Connects to the node, then listens: HTTP only, bounded request and response bodies, batches and connections;
/// `GET /health` and `GET /metrics` on the same address, API keys and rate limits when configured.
pub async fn start(config: Config) -> Result<Running> {
    if config.rate_limit.is_some() && config.api_keys.is_none() {
        return Err(Error::invalid(
            "--rate-limit",
            "a rate limit is per API key: give --api-key-file too",
        ));
    }
    if let Some(limit) = config.rate_limit {
        if !(limit.per_second.is_finite() && limit.per_second > 0.0) || limit.burst == 0 {
            return Err(Error::invalid(
                "--rate-limit",
                "a positive number of requests per second, and a burst of at least 1",
            ));
        }
    }
    if config.max_batch == 0 {
        return Err(Error::invalid("--max-batch", "at least 1"));
    }
    let cors = crate::gateway::CorsOrigins::parse(&config.cors_origins)?;
    let service = Arc::new(Service::connect(&config.rpc_url, config.service.clone()).await?);
    let limiter = match (&config.rate_limit, &config.api_keys) {
        (Some(limit), Some(keys)) => Some(Limiter::new(*limit, keys)),
        _ => None,
    };
    let shared = Arc::new(Shared {
        service: service.clone(),
        metrics: Arc::new(Metrics::default()),
        keys: config.api_keys.clone(),
        limiter,
        log: config.request_log,
        max_response_bytes: usize::try_from(config.max_response_bytes).unwrap_or(usize::MAX),
        max_batch: usize::try_from(config.max_batch).unwrap_or(usize::MAX),
        cors,
    });
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.max_request_bytes)
        .max_response_body_size(config.max_response_bytes)
        .max_connections(config.max_connections)
        // The batch limit is the RPC middleware's (`Observe::batch`): its error says the limit.
        .set_batch_request_config(BatchRequestConfig::Unlimited)
        .http_only()
        .build();
    let http_shared = shared.clone();
    let rpc_shared = shared;
    let server = Server::builder()
        .set_config(server_config)
        .set_http_middleware(
            tower::ServiceBuilder::new()
                .layer_fn(move |inner| Gateway {
                    inner,
                    shared: http_shared.clone(),
                })
                // Particle's SDK names the chain in the URL's query (`?chainId=`): kept for its methods.
                .layer_fn(|inner| crate::particle::QueryChainId { inner }),
        )
        .set_rpc_middleware(RpcServiceBuilder::new().layer_fn(move |inner| Observe {
            inner,
            shared: rpc_shared.clone(),
        }))
        .build(config.listen)
        .await?;
    let local_addr = server.local_addr()?;
    let handle = server.start(module(service.clone())?);
    Ok(Running {
        handle,
        local_addr,
        service,
    })
}
