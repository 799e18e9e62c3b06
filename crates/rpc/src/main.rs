//! `keyscope-rpc`: the Keyscope JSON-RPC service.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use keyscope_rpc::{
    start, ApiKeys, Config, Limits, RateLimit, ServiceOptions, SponsorOptions,
    DEFAULT_DATABASE_URL, DEFAULT_SPONSOR_MAX_GAS, DEFAULT_SPONSOR_VALIDITY_SECS,
};

/// Keyscope JSON-RPC 2.0 service over HTTP: create, validate, list and revoke session keys (Keyscope methods,
/// the Particle Network session shape, ERC-7715 execution permissions). It never holds owner keys and never
/// sends a transaction: it returns what the owner signs.
///
/// On the same address: `GET /health` (200, or 503 when the node or the store does not answer) and `GET /metrics`
/// (Prometheus text). One JSON log line per request on stderr, with its request id (`x-request-id`, echoed).
#[derive(Debug, Parser)]
#[command(name = "keyscope-rpc", version)]
struct Args {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8548")]
    listen: SocketAddr,
    /// The chain node's JSON-RPC URL (the Keyscope stack must be deployed there).
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    rpc_url: String,
    /// An ERC-4337 bundler's JSON-RPC URL (checked to be on the node's chain).
    #[arg(long)]
    bundler_url: Option<String>,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    max_request_bytes: u32,
    /// Most calls in one JSON-RPC batch (viem batches up to 1,000 by default). A longer batch gets one error,
    /// -32010, whose data.maxBatch says the limit.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    max_batch: u32,
    /// Most concurrent connections.
    #[arg(long, default_value_t = 256)]
    max_connections: u32,
    /// Most sessions (or ERC-7715 permission requests) in one request.
    #[arg(long, default_value_t = 16)]
    max_sessions: usize,
    /// Most permissions in one session.
    #[arg(long, default_value_t = 64)]
    max_permissions: usize,
    /// Most session ids in one revocation.
    #[arg(long, default_value_t = 64)]
    max_session_ids: usize,
    /// Most sessions in one page of keyscope_getSessions.
    #[arg(long, default_value_t = 100)]
    max_sessions_listed: usize,
    /// Where the sessions this service builds are stored: sqlite://PATH (a file, created when missing; relative
    /// paths from the working directory) or postgres://USER:PASSWORD@HOST:PORT/DATABASE (several instances may
    /// share it). Versioned migrations run at start.
    #[arg(long, env = "KEYSCOPE_DATABASE_URL", hide_env_values = true, default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
    /// Most connections to the database.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    database_connections: u32,
    /// Most sessions stored, in all (for PostgreSQL: by all the instances sharing it). Nothing is evicted: a
    /// request whose new sessions do not fit fails with -32005 and stores nothing.
    #[arg(long, default_value_t = 1_000_000)]
    max_stored_sessions: usize,
    /// Most bytes the stored sessions may hold (their specs' and origins' JSON); likewise.
    #[arg(long, default_value_t = 1024 * 1024 * 1024)]
    max_stored_bytes: usize,
    /// First block searched for session events (a request's fromBlock is never below it): the block the
    /// SessionKeyValidator was deployed in.
    #[arg(long, default_value_t = 0)]
    from_block: u64,
    /// Most blocks in one eth_getLogs request (listings read their range in chunks).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    log_chunk_blocks: u64,
    /// Require an API key on every JSON-RPC request (`Authorization: Bearer KEY` or `x-api-key: KEY`; otherwise
    /// HTTP 401, error -32040): a file of keys, one a line, `KEY` or `NAME:KEY` (16 characters at least; `#`
    /// comments). Logs show the key's name, never the key. /health and /metrics stay open.
    #[arg(long, value_name = "PATH")]
    api_key_file: Option<std::path::PathBuf>,
    /// Requests per second each API key may make on average (a token bucket per key); over it: HTTP 429, error
    /// -32005, `retry-after`. A batch is one request. Needs --api-key-file.
    #[arg(long, value_name = "REQUESTS_PER_SECOND", requires = "api_key_file")]
    rate_limit: Option<f64>,
    /// Most requests a key may make at once under --rate-limit (the bucket's size; default: the rate, rounded
    /// up).
    #[arg(long, requires = "rate_limit", value_parser = clap::value_parser!(u32).range(1..))]
    rate_burst: Option<u32>,
    /// Serve the ERC-7677 paymaster methods (pm_getPaymasterStubData, pm_getPaymasterData) for the stack's
    /// SponsorPaymaster: a file holding the sponsor's hex private key (0x optional; `#` comment lines). The service
    /// signs the sponsorships of the operations its policy accepts; the key is never logged. Without it the
    /// methods answer -32601.
    #[arg(long, value_name = "PATH")]
    sponsor_key_file: Option<std::path::PathBuf>,
    /// The SponsorPaymasters' owner (with the sponsor's address, it determines their addresses, one per
    /// EntryPoint: Stack::sponsor_paymaster). Default: the sponsor's own address.
    #[arg(long, value_name = "ADDRESS", requires = "sponsor_key_file")]
    sponsor_paymaster_owner: Option<keyscope::alloy::primitives::Address>,
    /// Sponsor only these senders (comma-separated addresses; repeatable). Default: any sender.
    #[arg(long, value_name = "ADDRESS,...", value_delimiter = ',', num_args = 1.., requires = "sponsor_key_file")]
    sponsor_accounts: Option<Vec<keyscope::alloy::primitives::Address>>,
    /// Most gas of one sponsored operation: verificationGasLimit + callGasLimit + preVerificationGas +
    /// paymasterVerificationGasLimit + paymasterPostOpGasLimit.
    #[arg(long, default_value_t = DEFAULT_SPONSOR_MAX_GAS, requires = "sponsor_key_file")]
    sponsor_max_gas: u64,
    /// How long a sponsorship is valid, in seconds from its signature (the paymaster data's validUntil).
    #[arg(long, default_value_t = DEFAULT_SPONSOR_VALIDITY_SECS, value_parser = clap::value_parser!(u64).range(1..), requires = "sponsor_key_file")]
    sponsor_validity_secs: u64,
    /// The sponsor's name, shown by wallets (ERC-7677's sponsor.name).
    #[arg(long, default_value = "Keyscope", requires = "sponsor_key_file")]
    sponsor_name: String,
    /// Let browser pages from this origin call the service (CORS): scheme://host[:port], repeatable or
    /// comma-separated; `*` allows any origin (for development only). Preflights (OPTIONS) are answered 204
    /// without an API key; answers carry Access-Control-Allow-Origin for allowed origins only. Default: no CORS.
    #[arg(long, value_name = "ORIGIN,...", value_delimiter = ',')]
    cors_origin: Vec<String>,
    /// Do not write a log line per request (start-up, shutdown and errors are still written).
    #[arg(long)]
    no_request_log: bool,
}

async fn shutdown_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.map(|()| "SIGINT"),
            _ = terminate.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map(|()| "Ctrl-C")
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let defaults = Config::default();
    let api_keys = match args.api_key_file.as_deref().map(ApiKeys::from_file) {
        None => None,
        Some(Ok(keys)) => Some(keys),
        Some(Err(error)) => {
            eprintln!("keyscope-rpc: {}", error.message());
            return ExitCode::FAILURE;
        }
    };
    let sponsor = match args
        .sponsor_key_file
        .as_deref()
        .map(SponsorOptions::key_from_file)
    {
        None => None,
        Some(Ok(key)) => Some(SponsorOptions {
            owner: args.sponsor_paymaster_owner,
            accounts: args
                .sponsor_accounts
                .map(|accounts| accounts.into_iter().collect()),
            max_gas: args.sponsor_max_gas,
            validity_secs: args.sponsor_validity_secs,
            name: args.sponsor_name,
            ..SponsorOptions::new(key)
        }),
        Some(Err(error)) => {
            eprintln!("keyscope-rpc: {}", error.message());
            return ExitCode::FAILURE;
        }
    };
    let sponsor_line = sponsor.as_ref().map(|sponsor| {
        format!(
            ", sponsoring as {} (paymaster owner {})",
            sponsor.key.address(),
            sponsor.paymaster_owner()
        )
    });
    let rate_limit = args.rate_limit.map(|per_second| RateLimit {
        per_second,
        // Saturating: a huge rate gets the largest bucket.
        burst: args
            .rate_burst
            .unwrap_or_else(|| per_second.ceil().clamp(1.0, f64::from(u32::MAX)) as u32),
    });
    let api_key_count = api_keys.as_ref().map(ApiKeys::len);
    let config = Config {
        listen: args.listen,
        rpc_url: args.rpc_url,
        service: ServiceOptions {
            limits: Limits {
                sessions_per_request: args.max_sessions,
                permissions_per_session: args.max_permissions,
                session_ids_per_request: args.max_session_ids,
                sessions_per_listing: args.max_sessions_listed,
            },
            database_url: args.database_url,
            database_connections: args.database_connections,
            max_stored_sessions: args.max_stored_sessions,
            max_stored_bytes: args.max_stored_bytes,
            from_block: args.from_block,
            log_chunk_blocks: args.log_chunk_blocks,
            bundler_url: args.bundler_url,
            sponsor,
            ..ServiceOptions::default()
        },
        max_request_bytes: args.max_request_bytes,
        max_batch: args.max_batch,
        max_connections: args.max_connections,
        api_keys,
        rate_limit,
        request_log: !args.no_request_log,
        cors_origins: args.cors_origin,
        ..defaults
    };
    let running = match start(config).await {
        Ok(running) => running,
        Err(error) => {
            // Without the URLs' paths and queries (API keys).
            eprintln!("keyscope-rpc: {}", error.message());
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "keyscope-rpc: listening on {} (chain {}, sessions stored in {}{}{})",
        running.url(),
        running.chain_id(),
        running.database(),
        match &api_key_count {
            Some(n) => format!(", {n} API key(s)"),
            None => String::new(),
        },
        sponsor_line.unwrap_or_default()
    );
    let signal = shutdown_signal().await;
    match signal {
        Ok(name) => eprintln!("keyscope-rpc: {name}: finishing requests in flight"),
        Err(error) => eprintln!("keyscope-rpc: cannot wait for signals ({error}): stopping"),
    }
    running.shutdown().await;
    eprintln!("keyscope-rpc: stopped");
    ExitCode::SUCCESS
}
