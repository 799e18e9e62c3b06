//! Load benchmark of `keyscope_validateSession` on loopback: starts anvil with the Keyscope stack, an account
//! with a granted session and the service (in this process, on a free 127.0.0.1 port), then keeps N HTTP
//! connections busy for T seconds validating a signed in-scope session operation, and prints requests/s and the
//! p50/p90/p99 latency.
//!
//! ```sh
//! cargo run --release -p keyscope-rpc --example load -- [CONNECTIONS] [SECONDS]   # default 8 10
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use keyscope::alloy::primitives::Address;
use keyscope::alloy::transports::http::reqwest;
use keyscope::bundler::to_rpc;
use keyscope::permissions::SessionSpec;
use keyscope::signer::SessionKey;
use keyscope::Version;
use keyscope_rpc::Config;
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

    // The chain: anvil, the stack, the service, an account with a session that may transfer ≤ 100 of a token.
    let env = common::env_with(Config::default()).await;
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
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "keyscope_validateSession", "params": params
    })
    .to_string();

    // One check that the answer is the expected one before measuring.
    let first = common::post(&env.http, &url, "keyscope_validateSession", params).await;
    assert_eq!(first["result"]["valid"], true, "{first}");

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (url, body) = (url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            // One keep-alive connection per task.
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let response = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let ok = match response {
                    Ok(response) => response
                        .json::<Value>()
                        .await
                        .map(|v| v["result"]["valid"] == true)
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
        "keyscope_validateSession, {connections} connections, {seconds} s: {} requests, {errors} errors, {:.0} requests/s, latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
    );
    env.server.shutdown().await;
}
