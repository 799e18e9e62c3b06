//! Latency of one session operation on a local anvil (the README's "p50 of one session op" figure): (i) prepare
//! and sign it, (ii) simulate it (`eth_call` of `handleOps`), (iii) send it (simulation included) and wait for the
//! receipt (automine), with alloy's default receipt polling and with 5 ms polling. Read the medians: (iii) is
//! bimodal.
//!
//! Needs anvil: `$ANVIL_BIN`, else the pinned `node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil`, else `anvil`
//! on the `PATH`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy::node_bindings::Anvil;
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use keyscope::bindings::DemoToken;
use keyscope::permissions::SessionSpec;
use keyscope::signer::SessionKey;
use keyscope::{Client, GasSettings, PreparedOp, SessionCall, Version};

/// Operations sent one by one for the per-operation percentiles.
const PROBE_OPS: usize = 200;

fn anvil_bin() -> Option<PathBuf> {
    let pinned = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    std::env::var_os("ANVIL_BIN")
        .map(PathBuf::from)
        .or_else(|| pinned.exists().then_some(pinned))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let anvil = anvil_bin().map_or_else(Anvil::new, Anvil::at).spawn();
    let bundler_key: PrivateKeySigner = anvil.keys()[0].clone().into();
    let bundler = bundler_key.address();
    let provider = ProviderBuilder::new()
        .wallet(bundler_key)
        .connect_http(anvil.endpoint_url())
        .erased();

    // Fixed fees: preparing an operation then reads only the chain id, the latest block's time (rate-limit
    // window) and the EntryPoint nonce.
    let gas = GasSettings {
        max_priority_fee_per_gas: Some(1_000_000_000),
        max_fee_per_gas: Some(100_000_000_000),
        ..GasSettings::default()
    };
    let (client, account, key, compiled, call) = rt.block_on(async {
        let client = Client::deploy(provider.clone(), bundler)
            .await
            .unwrap()
            .with_gas(gas);
        let owner = SessionKey::generate();
        let account = client
            .create_account(owner.address(), U256::ZERO, Version::V07)
            .await
            .unwrap();
        client
            .deposit(&account, U256::from(10u128.pow(20)))
            .await
            .unwrap();
        let token = DemoToken::deploy(provider.clone()).await.unwrap();
        token
            .mint(account.address, U256::from(10u128.pow(30)))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        let now = provider
            .get_block_by_number(Default::default())
            .await
            .unwrap()
            .unwrap()
            .header
            .timestamp;
        let key = SessionKey::generate();
        let json = format!(
            r#"{{ "signer": "{}", "valid_after": {}, "valid_until": {},
                  "permissions": [{{ "target": "{}", "function": "transfer(address to,uint256 amount)",
                                     "rules": [{{ "arg": "amount", "op": "lte", "value": "100" }}] }}] }}"#,
            key.address(),
            now - 1,
            now + 86_400,
            token.address()
        );
        let compiled = SessionSpec::compile_json(&json).unwrap();
        client
            .grant_session(&account, &owner, &compiled.session)
            .await
            .unwrap();
        let data = DemoToken::transferCall {
            to: Address::repeat_byte(0x42),
            value: U256::from(1),
        }
        .abi_encode();
        let call = SessionCall::new(*token.address(), data, 0);
        (client, account, key, compiled, call)
    });
    let calls = [call];
    let prepare = || {
        rt.block_on(client.prepare_session_op(&account, &key, &compiled, &calls))
            .unwrap()
    };

    let send = |op: PreparedOp| {
        let outcome = rt.block_on(client.send(&op)).unwrap();
        assert!(outcome.success, "{outcome:?}");
    };
    // Criterion's median is the median of per-sample means; a bimodal latency needs per-operation figures too.
    let one_by_one = |label: &str| {
        let mut times: Vec<Duration> = (0..PROBE_OPS)
            .map(|_| {
                let op = prepare();
                let start = Instant::now();
                send(op);
                start.elapsed()
            })
            .collect();
        times.sort();
        let at = |q: usize| times[(times.len() - 1) * q / 100];
        println!(
            "{label}: {PROBE_OPS} sends one by one: p50 {:?}, p90 {:?}, p99 {:?}",
            at(50),
            at(90),
            at(99)
        );
    };

    let mut group = c.benchmark_group("session_op_anvil");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("prepare_and_sign", |b| b.iter(prepare));
    let op = prepare();
    group.bench_function("simulate", |b| {
        b.iter(|| rt.block_on(client.simulate(&op)).unwrap())
    });

    // alloy polls for a receipt every 250 ms on a local transport: a receipt not ready at the first look (anvil
    // mines just after answering eth_sendRawTransaction) costs a whole interval, hence a bimodal distribution.
    one_by_one("send_and_wait_receipt (alloy's 250 ms receipt polling)");
    group.sample_size(10);
    group.bench_function("send_and_wait_receipt", |b| {
        b.iter_batched(prepare, send, BatchSize::PerIteration)
    });
    client
        .provider()
        .client()
        .set_poll_interval(Duration::from_millis(5));
    one_by_one("send_and_wait_receipt (5 ms receipt polling)");
    group.sample_size(50);
    group.bench_function("send_and_wait_receipt_poll_5ms", |b| {
        b.iter_batched(prepare, send, BatchSize::PerIteration)
    });
    group.finish();
    drop(anvil);
}

criterion_group!(benches, bench);
criterion_main!(benches);
