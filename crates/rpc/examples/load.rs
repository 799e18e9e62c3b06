//! Load benchmark on loopback: starts anvil with the Keyscope stack, an account with a granted session and the
//! service (in this process, on a free 127.0.0.1 port), then keeps N HTTP connections busy for T seconds and prints
//! requests/s and the p50/p90/p99 latency, either validating a signed in-scope session operation (`validate`,
//! `keyscope_validateSession`) or creating a new session for the account each time (`create`,
//! `keyscope_createSessions`: one store write per request).
//!
//! ```sh
//! cargo run --release -p keyscope-rpc --example load -- [CONNECTIONS] [SECONDS] [validate|create] [DATABASE_URL]
//! # default 8 10 validate, and a SQLite file in a temporary directory
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyscope::alloy::primitives::Address;
use keyscope::alloy::transports::http::reqwest;
use keyscope::bundler::to_rpc;
use keyscope::permissions::SessionSpec;
use keyscope::signer::SessionKey;
use keyscope::Version;
use keyscope_rpc::{Config, ServiceOptions};
use serde_json::{json, Value};

/// The RPC tests' set-up: anvil with the stack, the service on a free loopback port, an HTTP client.
#[path = "../tests/common/mod.rs"]
mod common;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let connections: usize = args
        .next()
        .map(|a| a.parse().expect("CONNECTIONS"))
        .unwrap_or(8)
        .max(1);
    let seconds: u64 = args
        .next()
        .map(|a| a.parse().expect("SECONDS"))
        .unwrap_or(10)
        .clamp(1, 300);
    let create = match args.next().as_deref() {
        None | Some("validate") => false,
        Some("create") => true,
        Some(other) => panic!("METHOD is validate or create, not {other}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let database_url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("load.sqlite").display()));

    // The chain: anvil, the stack, the service, an account with a session that may transfer ≤ 100 of a token.
    let env = common::env_with(Config {
        service: ServiceOptions {
            database_url: database_url.clone(),
            ..ServiceOptions::default()
        },
        ..Config::default()
    })
    .await;
    let client = &env.client;
    let owner = SessionKey::generate();
    let key = SessionKey::generate();
    let account = env.funded_account(&owner, 0, Version::V07).await;
    let token = env.token().await;
    let now = keyscope_e2e::now(client.provider()).await;
    let spec = format!(
        r#"{{ "signer": "{}", "valid_until": {}, "permissions": [{{ "target": "{token}",
              "function": "transfer(address to,uint256 amount)",
              "rules": [{{ "arg": "amount", "op": "lte", "value": "100" }}] }}] }}"#,
        key.address(),
        now + 86_400
    );
    let session = SessionSpec::compile_json(&spec).unwrap();
    client
        .grant_session(&account, &owner, &session.session)
        .await
        .unwrap();
    let transfer = common::transfer(token, Address::repeat_byte(0x42), 100);
    let op = client
        .prepare_session_op(&account, &key, &session, &[transfer])
        .await
        .unwrap();
    let url = env.server.url();
    let params = json!([to_rpc(&op.op).unwrap(), client.stack().v07.entry_point]);
    let validate_body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "keyscope_validateSession", "params": params
    })
    .to_string();
    // A new session (its salt) per request, so that each one is stored.
    let salts = Arc::new(AtomicU64::new(1));
    let signer = key.address();
    let create_body = move |salt: u64| {
        json!({ "jsonrpc": "2.0", "id": 1, "method": "keyscope_createSessions", "params": {
            "account": { "address": account.address },
            "sessions": [{ "signer": signer, "validUntil": now + 86_400, "salt": salt,
                "permissions": [{ "target": token, "function": "transfer(address to,uint256 amount)",
                                  "rules": [{ "arg": "amount", "op": "lte", "value": "100" }] }] }] } })
        .to_string()
    };
    let (method, ok_answer): (&str, fn(&Value) -> bool) = if create {
        ("keyscope_createSessions", |v| {
            v["result"]["sessions"].as_array().map(Vec::len) == Some(1)
        })
    } else {
        ("keyscope_validateSession", |v| v["result"]["valid"] == true)
    };

    // One check that the answer is the expected one before measuring.
    let first: Value = env
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(if create {
            create_body(0)
        } else {
            validate_body.clone()
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(ok_answer(&first), "{first}");

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (url, validate_body) = (url.clone(), validate_body.clone());
        let (salts, create_body) = (salts.clone(), create_body);
        tasks.push(tokio::spawn(async move {
            // One keep-alive connection per task.
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let body = if create {
                    create_body(salts.fetch_add(1, Ordering::Relaxed))
                } else {
                    validate_body.clone()
                };
                let sent = Instant::now();
                let response = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let ok = match response {
                    Ok(response) => response
                        .json::<Value>()
                        .await
                        .map(|v| ok_answer(&v))
                        .unwrap_or(false),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(sent.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut l, e) = task.await.unwrap();
        latencies.append(&mut l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(latencies.len() - 1);
        latencies[index].as_secs_f64() * 1000.0
    };
    println!(
        "{method} on {}, {connections} connections, {seconds} s: {} requests, {errors} errors, {:.0} requests/s, latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        env.server.database(),
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
    );
    env.server.shutdown().await;
}
