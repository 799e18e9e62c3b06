//! Shared set-up of the RPC tests: anvil with the stack, the server on a free loopback port, a JSON-RPC client
//! over real HTTP, and the owner's side (sign the returned userOpHash, send the handleOps transaction).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    dead_code
)]

use keyscope::alloy::network::TransactionBuilder;
use keyscope::alloy::node_bindings::AnvilInstance;
use keyscope::alloy::primitives::{Address, Bytes, B256, U256};
use keyscope::alloy::providers::Provider;
use keyscope::alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use keyscope::alloy::sol_types::SolCall;
use keyscope::alloy::transports::http::reqwest;
use keyscope::bindings::DemoToken;
use keyscope::bundler::to_rpc;
use keyscope::permissions::{CompiledSession, SessionSpec};
use keyscope::signer::{PackedUserOperation, SessionKey};
use keyscope::{Account, Client, SessionCall, Version};
use keyscope_rpc::{start, Config, Limits, Running, ServiceOptions};
use serde_json::{json, Value};

/// The storage tests' PostgreSQL server: the same helper as the crate's unit tests.
#[path = "../../src/test_postgres.rs"]
mod test_postgres;
/// A new, empty database on the test PostgreSQL server, as a URL (`None` with a notice without a server, a failure
/// when `KEYSCOPE_REQUIRE_POSTGRES=1`).
pub(crate) use test_postgres::fresh_database as postgres_database;

pub struct Env {
    pub anvil: AnvilInstance,
    pub client: Client,
    pub server: Running,
    pub http: reqwest::Client,
}

/// A JSON-RPC error.
#[derive(Debug)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Value,
}

impl RpcError {
    pub fn field(&self) -> String {
        self.data["field"].as_str().unwrap_or_default().to_owned()
    }
}

/// The tests' service: small bounds (4 sessions and 8 permissions per request, 4 session ids, 64 KiB requests) so
/// that the bounds are cheap to reach.
pub async fn env() -> Env {
    env_with(Config {
        service: ServiceOptions {
            limits: Limits {
                sessions_per_request: 4,
                permissions_per_session: 8,
                session_ids_per_request: 4,
                ..Limits::default()
            },
            ..ServiceOptions::default()
        },
        max_request_bytes: 64 * 1024,
        ..Config::default()
    })
    .await
}

/// anvil with the stack, and the service of `config` on it ([`serve`]).
pub async fn env_with(config: Config) -> Env {
    let anvil = keyscope_e2e::anvil();
    let client = keyscope_e2e::client(&anvil).await;
    let server = serve(&anvil, config).await;
    Env {
        anvil,
        client,
        server,
        http: reqwest::Client::new(),
    }
}

/// anvil with the stack, the pinned Alto bundler on it, and the service on both (`--bundler-url`). Keep the
/// [`keyscope_e2e::Alto`]: dropping it stops the bundler.
pub async fn env_with_bundler() -> (Env, keyscope_e2e::Alto) {
    let anvil = keyscope_e2e::anvil();
    let client = keyscope_e2e::client(&anvil).await;
    let alto = keyscope_e2e::alto(&anvil).await;
    let config = Config {
        service: ServiceOptions {
            bundler_url: Some(alto.url().to_string()),
            ..ServiceOptions::default()
        },
        ..Config::default()
    };
    let server = serve(&anvil, config).await;
    let env = Env {
        anvil,
        client,
        server,
        http: reqwest::Client::new(),
    };
    (env, alto)
}

/// The `keyscope-rpc` binary, started by [`spawn_binary`] (integration tests only: the load example includes this
/// module too, and has no binary path).
#[cfg(test)]
pub struct Binary {
    /// The process.
    pub child: std::process::Child,
    /// The rest of its stderr, after the first line.
    pub stderr: std::io::BufReader<std::process::ChildStderr>,
    /// Its first line ("listening on …").
    pub first_line: String,
    /// The URL it listens on.
    pub url: String,
}

/// Starts the `keyscope-rpc` binary on `anvil` and a free loopback port with the SQLite store `database` and
/// `args` added, its stderr piped, and reads its first line ("listening on http://…", asserted).
#[cfg(test)]
pub fn spawn_binary(anvil: &AnvilInstance, database: &str, args: &[&std::ffi::OsStr]) -> Binary {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keyscope-rpc"))
        .args(["--listen", "127.0.0.1:0", "--rpc-url", &anvil.endpoint()])
        .args(["--database-url", database])
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first_line = String::new();
    stderr.read_line(&mut first_line).unwrap();
    assert!(
        first_line.contains("listening on http://127.0.0.1:"),
        "{first_line}"
    );
    let url = first_line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    Binary {
        child,
        stderr,
        first_line,
        url,
    }
}

/// The service of `config` on `anvil`, listening on a free loopback port.
pub async fn serve(anvil: &AnvilInstance, config: Config) -> Running {
    start(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        rpc_url: anvil.endpoint(),
        ..config
    })
    .await
    .unwrap()
}

/// POSTs a JSON-RPC call of `method` with `params` to `url`; the response body.
pub async fn post(http: &reqwest::Client, url: &str, method: &str, params: Value) -> Value {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    http.post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The calldata of a `DemoToken` transfer of `amount` to `to`.
pub fn transfer_data(to: Address, amount: u64) -> Bytes {
    DemoToken::transferCall {
        to,
        value: U256::from(amount),
    }
    .abi_encode()
    .into()
}

/// A `DemoToken` transfer of `amount` to `to`, under the session's permission 0.
pub fn transfer(token: Address, to: Address, amount: u64) -> SessionCall {
    SessionCall::new(token, transfer_data(to, amount), 0)
}

/// The compiled session behind a record the service answered (what a client in any language gets).
pub fn compiled(record: &Value) -> CompiledSession {
    SessionSpec::from_json(&record["spec"].to_string())
        .unwrap()
        .compile()
        .unwrap()
}

impl Env {
    /// POSTs `body` as JSON; the HTTP status and the body parsed as JSON (`null` when it is not JSON).
    pub async fn raw(&self, body: impl Into<String>) -> (u16, Value) {
        let response = self
            .http
            .post(self.server.url())
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let response = post(&self.http, &self.server.url(), method, params).await;
        match (response.get("result"), response.get("error")) {
            (Some(result), None) => Ok(result.clone()),
            (None, Some(error)) => Err(RpcError {
                code: error["code"].as_i64().unwrap(),
                message: error["message"].as_str().unwrap_or_default().to_owned(),
                data: error.get("data").cloned().unwrap_or(Value::Null),
            }),
            _ => panic!("not a JSON-RPC response: {response}"),
        }
    }

    pub async fn ok(&self, method: &str, params: Value) -> Value {
        self.call(method, params)
            .await
            .unwrap_or_else(|e| panic!("{method} failed: {e:?}"))
    }

    pub async fn err(&self, method: &str, params: Value) -> RpcError {
        match self.call(method, params).await {
            Ok(result) => panic!("{method} succeeded: {result}"),
            Err(error) => error,
        }
    }

    /// The owner's side of an answer with `userOp` and `userOpHash`: signs the hash raw, asks the service for
    /// the `handleOps` transaction (which it simulates first), and sends it from a funded EOA.
    pub async fn sign_and_send(&self, owner: &SessionKey, answer: &Value) -> B256 {
        let hash: B256 = serde_json::from_value(answer["userOpHash"].clone()).unwrap();
        let mut op = answer["userOp"].clone();
        let signature = Bytes::from(owner.sign_hash_bytes(&hash).unwrap().to_vec());
        op["signature"] = json!(signature);
        let sender = self.client.sender();
        let tx = self
            .ok(
                "keyscope_handleOpsTransaction",
                json!({ "userOp": op, "entryPoint": answer["entryPoint"], "beneficiary": sender }),
            )
            .await;
        assert_eq!(tx["accepted"], true, "{tx}");
        assert_eq!(tx["userOpHash"], answer["userOpHash"]);
        let receipt = self.send_transaction(&tx).await;
        assert!(receipt.status(), "handleOps reverted");
        receipt.transaction_hash
    }

    /// The owner's side of a `keyscope_createSessions` answer for a new account: funds the account with 1 ether
    /// for its EntryPoint prefund, signs and sends the operation ([`Env::sign_and_send`]), then mints `tokens` of
    /// `token` to the account. The account.
    pub async fn fund_and_grant(
        &self,
        owner: &SessionKey,
        answer: &Value,
        token: Address,
        tokens: u64,
    ) -> Address {
        let account: Address = serde_json::from_value(answer["account"].clone()).unwrap();
        self.client
            .fund(account, U256::from(10u128.pow(18)))
            .await
            .unwrap();
        self.sign_and_send(owner, answer).await;
        self.mint(token, account, tokens).await;
        account
    }

    /// Sends a `{to, data}` transaction the service answered (a `handleOps` call) from the client's funded sender;
    /// its receipt.
    pub async fn send_transaction(&self, tx: &Value) -> TransactionReceipt {
        let to: Address = serde_json::from_value(tx["to"].clone()).unwrap();
        let data: Bytes = serde_json::from_value(tx["data"].clone()).unwrap();
        let request = TransactionRequest::default()
            .with_from(self.client.sender())
            .with_to(to)
            .with_input(data)
            .with_gas_limit(3_000_000);
        self.client
            .provider()
            .send_transaction(request)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap()
    }

    /// What most scenarios start from: the chain's time, a fresh `DemoToken`, an account owner and a session key.
    pub async fn cast(&self) -> (u64, Address, SessionKey, SessionKey) {
        let now = keyscope_e2e::now(self.client.provider()).await;
        (
            now,
            self.token().await,
            SessionKey::generate(),
            SessionKey::generate(),
        )
    }

    /// `keyscope_validateSession` of `op` (positional, the EntryPoint read from the account).
    pub async fn validate(&self, op: &PackedUserOperation) -> Value {
        self.ok("keyscope_validateSession", json!([to_rpc(op).unwrap()]))
            .await
    }

    /// [`Env::validate`] of the session operation running `calls`, prepared by the client and signed by `key`.
    pub async fn validate_calls(
        &self,
        account: &Account,
        key: &SessionKey,
        session: &CompiledSession,
        calls: &[SessionCall],
    ) -> Value {
        let prepared = self
            .client
            .prepare_session_op(account, key, session, calls)
            .await
            .unwrap();
        self.validate(&prepared.op).await
    }

    /// The `KeyscopeAccount` of `owner` and `salt`, created and funded with 1 ETH.
    pub async fn funded_account(&self, owner: &SessionKey, salt: u64, version: Version) -> Account {
        let account = self
            .client
            .create_account(owner.address(), U256::from(salt), version)
            .await
            .unwrap();
        self.client
            .fund(account.address, U256::from(10u128.pow(18)))
            .await
            .unwrap();
        account
    }

    /// A fresh DemoToken.
    pub async fn token(&self) -> Address {
        *DemoToken::deploy(self.client.provider().clone())
            .await
            .unwrap()
            .address()
    }

    /// Mints `amount` of `token` to `to`.
    pub async fn mint(&self, token: Address, to: Address, amount: u64) {
        keyscope_e2e::mint_tokens(&self.client, token, to, amount).await;
    }

    /// `token.balanceOf(of)`.
    pub async fn balance(&self, token: Address, of: Address) -> U256 {
        keyscope_e2e::balance(&self.client, token, of).await
    }
}

/// The databases a storage test runs on: a SQLite file in `dir` and, when there is a server, a fresh PostgreSQL
/// database ([`postgres_database`]).
pub async fn databases(dir: &std::path::Path) -> Vec<String> {
    let mut urls = vec![format!(
        "sqlite://{}",
        dir.join("sessions.sqlite").display()
    )];
    urls.extend(postgres_database().await);
    urls
}

/// The test service's configuration ([`env`]'s bounds) on the database at `url`.
pub fn config_on(url: &str) -> Config {
    Config {
        service: ServiceOptions {
            limits: Limits {
                sessions_per_request: 4,
                permissions_per_session: 8,
                session_ids_per_request: 4,
                ..Limits::default()
            },
            database_url: url.to_owned(),
            ..ServiceOptions::default()
        },
        max_request_bytes: 64 * 1024,
        ..Config::default()
    }
}

/// How many sessions the database at `url` holds, counted in its table.
pub async fn stored_sessions(url: &str) -> i64 {
    use sqlx::{ConnectOptions, Connection};
    // The same query on either backend's own connection type.
    macro_rules! count_with {
        ($options:ty) => {{
            let options: $options = url.parse().unwrap();
            let mut connection = options.connect().await.unwrap();
            let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM keyscope_sessions")
                .fetch_one(&mut connection)
                .await
                .unwrap();
            connection.close().await.unwrap();
            n
        }};
    }
    if url.starts_with("sqlite:") {
        count_with!(sqlx::sqlite::SqliteConnectOptions)
    } else {
        count_with!(sqlx::postgres::PgConnectOptions)
    }
}
