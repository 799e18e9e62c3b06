//! The ERC-7677 sponsor service (`--sponsor-key-file`) against a real anvil: `pm_getPaymasterStubData` and
//! `pm_getPaymasterData` for the stack's `SponsorPaymaster`, an owner operation they sponsor sent through
//! `EntryPoint.handleOps` (the paymaster's deposit pays, the account's money does not), the policy's refusals, bad
//! input, the methods' absence without a sponsor key, and the paymaster's measured validation gas.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{env, env_with, serve, Env};
use keyscope::alloy::primitives::{Address, Bytes, U256};
use keyscope::alloy::providers::Provider;
use keyscope::alloy::rpc::types::PackedUserOperation as RpcUserOperation;
use keyscope::bindings::SponsorPaymaster;
use keyscope::bundler::{from_rpc, to_rpc};
use keyscope::signer::sponsorship::{
    sponsor_paymaster_and_data, sponsor_paymaster_data, sponsorship_hash, SponsorshipWindow,
    SPONSOR_PAYMASTER_DATA_LENGTH,
};
use keyscope::signer::{PackedUserOperation, SessionKey};
use keyscope::{Account, Execution, PaymasterService, PreparedOp, Version};
use keyscope_rpc::{Config, ServiceOptions, SponsorOptions, DEFAULT_PAYMASTER_VERIFICATION_GAS};
use serde_json::{json, Value};

/// The paymasters' owner in these tests (not the sponsor, so that `--sponsor-paymaster-owner` matters).
const OWNER: Address = Address::repeat_byte(0x0e);

fn sponsor_options(sponsor: &SessionKey) -> SponsorOptions {
    SponsorOptions {
        owner: Some(OWNER),
        name: "Keyscope tests".into(),
        ..SponsorOptions::new(sponsor.clone())
    }
}

fn config(sponsor: SponsorOptions) -> Config {
    Config {
        service: ServiceOptions {
            sponsor: Some(sponsor),
            ..ServiceOptions::default()
        },
        ..Config::default()
    }
}

fn quantity(value: &Value) -> u128 {
    let text = value.as_str().unwrap_or_else(|| panic!("{value}"));
    u128::from_str_radix(text.trim_start_matches("0x"), 16).unwrap()
}

/// A 6-byte big-endian time.
fn uint48(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |n, b| (n << 8) | u64::from(*b))
}

/// `n` with thousands separators.
fn thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn chain(env: &Env) -> String {
    format!("{:#x}", env.client.chain_id())
}

/// Deploys the sponsor's paymaster of `version` and deposits 1 ether for it.
async fn deploy_paymaster(env: &Env, sponsor: &SessionKey, version: Version) -> Address {
    let provider = env.client.provider();
    let deployed = env
        .client
        .stack()
        .deploy_sponsor_paymaster(
            provider,
            env.client.sender(),
            version,
            sponsor.address(),
            OWNER,
        )
        .await
        .unwrap();
    let receipt = SponsorPaymaster::new(deployed.address, provider.clone())
        .deposit()
        .value(U256::from(10u128.pow(18)))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    deployed.address
}

/// The paymaster's (or anyone's) EntryPoint deposit.
async fn deposit(env: &Env, address: Address, version: Version) -> U256 {
    env.client
        .deposit_of(&Account { address, version })
        .await
        .unwrap()
}

/// An unsigned owner operation of `account` sending `value` wei to `to`.
async fn owner_op(env: &Env, account: &Account, to: Address, value: u64) -> PackedUserOperation {
    let call_data = env.client.account_kind().execute(&[Execution {
        target: to,
        value: U256::from(value),
        callData: Bytes::new(),
    }]);
    env.client
        .unsigned_owner_op(account, call_data, None)
        .await
        .unwrap()
        .op
}

fn rpc_json(op: &PackedUserOperation) -> Value {
    serde_json::to_value(to_rpc(op).unwrap()).unwrap()
}

/// Signs `op` as its account's owner: the operation ready for `handleOps`.
fn owner_signed(
    env: &Env,
    owner: &SessionKey,
    version: Version,
    mut op: PackedUserOperation,
) -> PreparedOp {
    let user_op_hash = env
        .client
        .stack()
        .entry_point(version)
        .user_op_hash(&op, env.client.chain_id())
        .unwrap();
    let signature = owner.sign_hash(&user_op_hash).unwrap();
    op.signature = env.client.account_kind().owner_op_signature(&signature);
    PreparedOp {
        version,
        op,
        user_op_hash,
    }
}

#[tokio::test]
async fn sponsored_owner_operations_are_paid_by_the_paymaster() {
    let sponsor = SessionKey::generate();
    let env = env_with(config(sponsor_options(&sponsor))).await;
    let chain_id = chain(&env);
    for (salt, version) in Version::ALL.into_iter().enumerate() {
        let entry_point = env.client.stack().version(version).entry_point;
        let paymaster = deploy_paymaster(&env, &sponsor, version).await;
        assert_eq!(
            paymaster,
            env.client
                .stack()
                .sponsor_paymaster(version, sponsor.address(), OWNER)
        );
        let owner = SessionKey::generate();
        let account = env.funded_account(&owner, salt as u64, version).await;
        let recipient = Address::repeat_byte(0x70 + salt as u8);
        let op = owner_op(&env, &account, recipient, 1_000).await;
        let mut user_op = rpc_json(&op);

        // The stub: paymaster, data of the final length, gas limits, not final, the sponsor's name.
        let stub = env
            .ok(
                "pm_getPaymasterStubData",
                json!([user_op, entry_point, chain_id, {}]),
            )
            .await;
        assert_eq!(stub["paymaster"], json!(paymaster), "{stub}");
        assert_eq!(stub["isFinal"], false, "{stub}");
        assert_eq!(stub["sponsor"]["name"], "Keyscope tests", "{stub}");
        assert_eq!(
            quantity(&stub["paymasterVerificationGasLimit"]),
            u128::from(DEFAULT_PAYMASTER_VERIFICATION_GAS)
        );
        assert_eq!(quantity(&stub["paymasterPostOpGasLimit"]), 0);
        let stub_data: Bytes = serde_json::from_value(stub["paymasterData"].clone()).unwrap();
        assert_eq!(stub_data.len(), SPONSOR_PAYMASTER_DATA_LENGTH);

        // The client puts the stub in, (would estimate,) then asks for the final data.
        for field in [
            "paymaster",
            "paymasterVerificationGasLimit",
            "paymasterPostOpGasLimit",
            "paymasterData",
        ] {
            user_op[field] = stub[field].clone();
        }
        let data = env
            .ok(
                "pm_getPaymasterData",
                json!([user_op, entry_point, chain_id, null]),
            )
            .await;
        assert_eq!(data["paymaster"], json!(paymaster), "{data}");
        let final_data: Bytes = serde_json::from_value(data["paymasterData"].clone()).unwrap();
        assert_eq!(final_data.len(), SPONSOR_PAYMASTER_DATA_LENGTH);
        assert_ne!(final_data, stub_data);
        user_op["paymasterData"] = data["paymasterData"].clone();
        let rpc: RpcUserOperation = serde_json::from_value(user_op).unwrap();
        let sponsored = from_rpc(&rpc).unwrap();
        assert_eq!(sponsored.paymaster(), paymaster);

        // The on-chain hash is the one the service signed: recover the sponsor from the paymaster data.
        let window = SponsorshipWindow {
            valid_after: uint48(&final_data[..6]),
            valid_until: uint48(&final_data[6..12]),
        };
        let now = keyscope_e2e::now(env.client.provider()).await;
        assert_eq!(window.valid_after, 0);
        assert!(
            window.valid_until > now && window.valid_until <= now + 700,
            "{window:?} at {now}"
        );
        let hash = sponsorship_hash(&sponsored, paymaster, env.client.chain_id(), window);
        let signature =
            keyscope::alloy::primitives::Signature::from_raw(&final_data[12..]).unwrap();
        assert_eq!(
            signature.recover_address_from_prehash(&hash).unwrap(),
            sponsor.address()
        );

        // Signed by the owner and sent: the paymaster pays, the account pays nothing but its transfer.
        let prepared = owner_signed(&env, &owner, version, sponsored);
        let provider = env.client.provider();
        let account_balance = provider.get_balance(account.address).await.unwrap();
        let account_deposit = deposit(&env, account.address, version).await;
        let paymaster_deposit = deposit(&env, paymaster, version).await;
        let outcome = env.client.send(&prepared).await.unwrap();
        assert!(outcome.success, "{outcome:?}");
        assert!(outcome.actual_gas_cost > U256::ZERO);
        assert_eq!(
            deposit(&env, paymaster, version).await,
            paymaster_deposit - outcome.actual_gas_cost
        );
        assert_eq!(
            deposit(&env, account.address, version).await,
            account_deposit
        );
        assert_eq!(
            provider.get_balance(account.address).await.unwrap(),
            account_balance - U256::from(1_000)
        );
        assert_eq!(
            provider.get_balance(recipient).await.unwrap(),
            U256::from(1_000)
        );
    }

    // Both methods are counted by name.
    let metrics = env
        .http
        .get(format!("{}/metrics", env.server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for method in ["pm_getPaymasterStubData", "pm_getPaymasterData"] {
        assert!(
            metrics.contains(&format!(
                "keyscope_rpc_requests_total{{method=\"{method}\",outcome=\"ok\"}} 2"
            )),
            "{method}: {metrics}"
        );
    }
    // keyscope_info shows the sponsor and its paymasters.
    let info = env.ok("keyscope_info", json!([])).await;
    assert_eq!(
        info["sponsorship"]["sponsor"],
        json!(sponsor.address()),
        "{info}"
    );
    assert_eq!(
        info["sponsorship"]["paymasters"]["v0.8"],
        json!(env
            .client
            .stack()
            .sponsor_paymaster(Version::V08, sponsor.address(), OWNER))
    );
}

#[tokio::test]
async fn policy_refusals_and_bad_input() {
    let sponsor = SessionKey::generate();
    let env = env_with(config(sponsor_options(&sponsor))).await;
    let chain_id = chain(&env);
    let version = Version::V07;
    let entry_point = env.client.stack().version(version).entry_point;
    let owner = SessionKey::generate();
    let account = env.funded_account(&owner, 1, version).await;
    let op = owner_op(&env, &account, Address::repeat_byte(0x71), 1).await;
    let user_op = rpc_json(&op);
    let params = json!([user_op, entry_point, chain_id, {}]);

    // Not deployed yet: refused, naming the paymaster.
    let error = env.err("pm_getPaymasterStubData", params.clone()).await;
    assert_eq!(error.code, -32050, "{error:?}");
    assert_eq!(error.data["rule"], "paymasterNotDeployed", "{error:?}");
    let paymaster = deploy_paymaster(&env, &sponsor, version).await;
    env.ok("pm_getPaymasterStubData", params.clone()).await;
    // By name too.
    env.ok(
        "pm_getPaymasterStubData",
        json!({ "userOp": user_op, "entryPoint": entry_point, "chainId": chain_id }),
    )
    .await;

    // Wrong chain, chain id not a hex string, missing chain id.
    let error = env
        .err(
            "pm_getPaymasterStubData",
            json!([user_op, entry_point, "0x1", {}]),
        )
        .await;
    assert_eq!((error.code, error.field().as_str()), (-32602, "chainId"));
    assert!(error.message.contains("not the node's chain"), "{error:?}");
    let error = env
        .err(
            "pm_getPaymasterData",
            json!([user_op, entry_point, env.client.chain_id(), {}]),
        )
        .await;
    assert_eq!((error.code, error.field().as_str()), (-32602, "chainId"));
    let error = env
        .err("pm_getPaymasterData", json!([user_op, entry_point]))
        .await;
    assert_eq!((error.code, error.field().as_str()), (-32602, "chainId"));

    // Unknown EntryPoints: another address, a version label instead of an address.
    let error = env
        .err(
            "pm_getPaymasterData",
            json!([user_op, Address::repeat_byte(0x43), chain_id, {}]),
        )
        .await;
    assert_eq!(
        (error.code, error.field().as_str()),
        (-32602, "entryPoint"),
        "{error:?}"
    );
    assert!(error.message.contains("not an EntryPoint"), "{error:?}");
    let error = env
        .err(
            "pm_getPaymasterData",
            json!([user_op, "v0.7", chain_id, {}]),
        )
        .await;
    assert_eq!(
        (error.code, error.field().as_str()),
        (-32602, "entryPoint"),
        "{error:?}"
    );

    // Malformed operations and parameters: (the field changed, its bad value or None to remove it, the text the
    // error names).
    let malformed: [(&str, Option<serde_json::Value>, &str); 5] = [
        ("nonce", Some(json!("zz")), "userOp.nonce"),
        ("sender", None, "sender"),
        ("initCode", Some(json!("0x")), "initCode"),
        (
            "callGasLimit",
            Some(json!(format!("{:#x}", U256::MAX))),
            "userOp.callGasLimit",
        ),
        (
            "paymaster",
            Some(json!(Address::repeat_byte(0x99))),
            "userOp.paymaster",
        ),
    ];
    for (field, value, named) in malformed {
        let mut bad = user_op.clone();
        match value {
            Some(value) => bad[field] = value,
            None => {
                bad.as_object_mut().unwrap().remove(field);
            }
        }
        let error = env
            .err(
                "pm_getPaymasterData",
                json!([bad, entry_point, chain_id, {}]),
            )
            .await;
        assert_eq!(error.code, -32602, "{field}: {error:?}");
        assert!(
            error.field() == named || error.message.contains(named),
            "{field}: {error:?}"
        );
    }
    for params in [
        json!("x"),
        json!([1, 2, 3, 4, 5]),
        json!([7, entry_point, chain_id, {}]),
        json!([]),
        json!([user_op]),
    ] {
        let error = env.err("pm_getPaymasterStubData", params.clone()).await;
        assert_eq!(error.code, -32602, "{params}: {error:?}");
    }
    let (_, body) = env
        .raw(r#"{"jsonrpc":"2.0","id":1,"method":"pm_getPaymasterData","params":[{"sender":1}]}"#)
        .await;
    assert_eq!(body["error"]["code"], -32602, "{body}");

    // Policy: a sender off the allowlist, gas over the cap, a deposit too small.
    let allowlisted = serve(
        &env.anvil,
        config(SponsorOptions {
            accounts: Some([Address::repeat_byte(0x55)].into_iter().collect()),
            ..sponsor_options(&sponsor)
        }),
    )
    .await;
    let response = common::post(
        &env.http,
        &allowlisted.url(),
        "pm_getPaymasterStubData",
        params.clone(),
    )
    .await;
    assert_eq!(response["error"]["code"], -32050, "{response}");
    assert_eq!(response["error"]["data"]["rule"], "allowlist", "{response}");
    let message = response["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "sender {} is not on the sponsor's allowlist",
            account.address
        )),
        "{message}"
    );
    let listed = serve(
        &env.anvil,
        config(SponsorOptions {
            accounts: Some([account.address].into_iter().collect()),
            ..sponsor_options(&sponsor)
        }),
    )
    .await;
    let response = common::post(
        &env.http,
        &listed.url(),
        "pm_getPaymasterStubData",
        params.clone(),
    )
    .await;
    assert_eq!(
        response["result"]["paymaster"],
        json!(paymaster),
        "{response}"
    );

    let capped = serve(
        &env.anvil,
        config(SponsorOptions {
            max_gas: 1_000_000,
            ..sponsor_options(&sponsor)
        }),
    )
    .await;
    let (verification, call) = op.gas_limits();
    let total = verification
        + call
        + u128::try_from(op.preVerificationGas).unwrap()
        + u128::from(DEFAULT_PAYMASTER_VERIFICATION_GAS);
    assert!(total > 1_000_000);
    for method in ["pm_getPaymasterStubData", "pm_getPaymasterData"] {
        let response = common::post(&env.http, &capped.url(), method, params.clone()).await;
        assert_eq!(response["error"]["code"], -32050, "{response}");
        assert_eq!(response["error"]["data"]["rule"], "maxGas", "{response}");
        let message = response["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("over the sponsor's cap 1,000,000"),
            "{message}"
        );
        assert!(
            message.contains(&format!("gas {} over", thousands(total))),
            "{message}"
        );
    }

    // A deposit that does not cover the operation's most cost (fees far above the deposit).
    let mut expensive = user_op.clone();
    expensive["maxFeePerGas"] = json!(format!("{:#x}", 10u128.pow(15)));
    let error = env
        .err(
            "pm_getPaymasterData",
            json!([expensive, entry_point, chain_id, {}]),
        )
        .await;
    assert_eq!(
        (error.code, error.data["rule"].as_str()),
        (-32050, Some("deposit")),
        "{error:?}"
    );

    // Refusals are counted by their code.
    let metrics = env
        .http
        .get(format!("{}/metrics", capped.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "keyscope_rpc_requests_total{method=\"pm_getPaymasterData\",outcome=\"-32050\"} 1"
        ),
        "{metrics}"
    );
    allowlisted.shutdown().await;
    listed.shutdown().await;
    capped.shutdown().await;
}

#[tokio::test]
async fn without_a_sponsor_key_the_methods_are_not_served() {
    let env = env().await;
    let entry_point = env.client.stack().v07.entry_point;
    let user_op = json!({ "sender": Address::ZERO, "nonce": "0x0", "callData": "0x" });
    for method in ["pm_getPaymasterStubData", "pm_getPaymasterData"] {
        let error = env
            .err(method, json!([user_op, entry_point, chain(&env), {}]))
            .await;
        assert_eq!(error.code, -32601, "{error:?}");
        assert!(
            error.message.contains("sponsorship is not configured")
                && error.message.contains("--sponsor-key-file"),
            "{error:?}"
        );
    }
    let info = env.ok("keyscope_info", json!([])).await;
    assert_eq!(info["sponsorship"], Value::Null, "{info}");
}

/// The binary's flags: the key file, the owner, the allowlist; the start-up line names the sponsor, never its key.
#[tokio::test]
async fn binary_flags() {
    use std::ffi::OsStr;
    let anvil = keyscope_e2e::anvil();
    let client = keyscope_e2e::client(&anvil).await;
    let dir = tempfile::tempdir().unwrap();
    let sponsor = SessionKey::generate();
    let secret = keyscope::alloy::primitives::hex::encode(*sponsor.secret_bytes());
    let key_file = dir.path().join("sponsor.key");
    std::fs::write(&key_file, format!("0x{secret}\n")).unwrap();
    let database = format!("sqlite://{}", dir.path().join("s.sqlite").display());
    let allowed = Address::repeat_byte(0x66);
    let mut binary = common::spawn_binary(
        &anvil,
        &database,
        &[
            OsStr::new("--sponsor-key-file"),
            key_file.as_os_str(),
            OsStr::new("--sponsor-paymaster-owner"),
            OsStr::new(&OWNER.to_string()),
            OsStr::new("--sponsor-accounts"),
            OsStr::new(&format!("{allowed},{}", Address::repeat_byte(0x67))),
            OsStr::new("--sponsor-max-gas"),
            OsStr::new("1500000"),
        ],
    );
    assert!(
        binary.first_line.contains(&sponsor.address().to_string()),
        "{}",
        binary.first_line
    );
    assert!(
        !binary.first_line.contains(&secret),
        "{}",
        binary.first_line
    );
    let http = keyscope::alloy::transports::http::reqwest::Client::new();
    let info = common::post(&http, &binary.url, "keyscope_info", json!([])).await;
    let sponsorship = &info["result"]["sponsorship"];
    assert_eq!(sponsorship["sponsor"], json!(sponsor.address()), "{info}");
    assert_eq!(sponsorship["owner"], json!(OWNER), "{info}");
    assert_eq!(sponsorship["maxGas"], 1_500_000, "{info}");
    assert_eq!(
        sponsorship["accounts"],
        json!([allowed, Address::repeat_byte(0x67)]),
        "{info}"
    );
    assert_eq!(
        sponsorship["paymasters"]["v0.7"],
        json!(client
            .stack()
            .sponsor_paymaster(Version::V07, sponsor.address(), OWNER))
    );
    binary.child.kill().unwrap();
    binary.child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut binary.stderr, &mut rest).unwrap();
    assert!(!rest.contains(&secret));

    // A key file that is not a key: the binary refuses to start, without showing the file.
    std::fs::write(&key_file, "not-a-key-SECRET\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyscope-rpc"))
        .args(["--listen", "127.0.0.1:0", "--rpc-url", &anvil.endpoint()])
        .args(["--database-url", &database])
        .arg("--sponsor-key-file")
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--sponsor-key-file"), "{stderr}");
    assert!(!stderr.contains("SECRET"), "{stderr}");
}

/// Measures the least `paymasterVerificationGasLimit` with which the EntryPoint accepts a sponsored operation (a
/// bisection over `handleOps` simulations, each operation re-signed by the sponsor and the owner), and checks the
/// default leaves at least a 2x margin.
#[tokio::test]
async fn paymaster_validation_gas_is_within_the_default() {
    let sponsor = SessionKey::generate();
    let env = env_with(config(sponsor_options(&sponsor))).await;
    for (salt, version) in Version::ALL.into_iter().enumerate() {
        let paymaster = deploy_paymaster(&env, &sponsor, version).await;
        let owner = SessionKey::generate();
        let account = env.funded_account(&owner, 10 + salt as u64, version).await;
        let op = owner_op(&env, &account, Address::repeat_byte(0x72), 1).await;
        let now = keyscope_e2e::now(env.client.provider()).await;
        let window = SponsorshipWindow {
            valid_after: 0,
            valid_until: now + 600,
        };
        let accepted = |gas: u64| {
            let mut op = op.clone();
            op.paymasterAndData = sponsor_paymaster_and_data(paymaster, u128::from(gas), 0, &[]);
            let hash = sponsorship_hash(&op, paymaster, env.client.chain_id(), window);
            let signature = sponsor.sign_hash_bytes(&hash).unwrap();
            op.paymasterAndData = sponsor_paymaster_and_data(
                paymaster,
                u128::from(gas),
                0,
                &sponsor_paymaster_data(window, &signature),
            );
            let prepared = owner_signed(&env, &owner, version, op);
            let client = env.client.clone();
            async move { client.simulate(&prepared).await.is_ok() }
        };
        assert!(accepted(DEFAULT_PAYMASTER_VERIFICATION_GAS).await);
        let (mut low, mut high) = (0u64, DEFAULT_PAYMASTER_VERIFICATION_GAS);
        while high - low > 100 {
            let mid = (low + high) / 2;
            if accepted(mid).await {
                high = mid;
            } else {
                low = mid;
            }
        }
        println!("SponsorPaymaster validation on EntryPoint {version}: least paymasterVerificationGasLimit ~{high}");
        assert!(
            high * 2 <= DEFAULT_PAYMASTER_VERIFICATION_GAS,
            "{version}: {high} needs more margin than {DEFAULT_PAYMASTER_VERIFICATION_GAS}"
        );
    }
}

/// A session pinned to the sponsor's paymaster (`Exactly`), used through Alto in its ERC-7562 safe mode: the SDK asks
/// the service for stub data, Alto estimates with it, the service signs the final data, the session key signs last,
/// and Alto includes the operation. The account pays nothing; the paymaster's deposit pays.
#[tokio::test(flavor = "multi_thread")]
async fn sponsored_session_operations_through_alto() {
    let sponsor = SessionKey::generate();
    let env = env_with(config(sponsor_options(&sponsor))).await;
    let alto = keyscope_e2e::alto(&env.anvil).await;
    let bundler = keyscope::BundlerClient::new(alto.url()).unwrap();
    let paymaster_service = PaymasterService::new(env.server.url().parse().unwrap()).unwrap();
    let via = env
        .client
        .clone()
        .with_bundler(bundler)
        .with_paymaster(paymaster_service);
    let token = keyscope_e2e::deploy_token(&env.client).await;
    for version in Version::ALL {
        let paymaster = deploy_paymaster(&env, &sponsor, version).await;
        let owner = SessionKey::generate();
        let account =
            keyscope_e2e::funded_account(&env.client, owner.address(), version, 0, None).await;
        keyscope_e2e::mint_tokens(&env.client, token, account.address, 1000).await;
        let key = SessionKey::generate();
        // A minute back: Alto's safe mode wants validAfter 5 s behind its clock.
        let t = keyscope_e2e::now(env.client.provider()).await - 60;
        let session = keyscope_e2e::SessionJson::new(&key, t)
            .transfer_of(token)
            .paymaster(json!({ "exactly": paymaster.to_string() }))
            .compile();
        keyscope_e2e::grant(&env.client, &account, &owner, &session).await;
        let balance = env
            .client
            .provider()
            .get_balance(account.address)
            .await
            .unwrap();
        let paid_before = deposit(&env, paymaster, version).await;

        let calls = [keyscope_e2e::transfer(token, Address::repeat_byte(0x42), 7)];
        let outcome = via
            .send_session_op(&account, &key, &session, &calls)
            .await
            .unwrap();
        assert!(outcome.success, "{version}: {outcome:?}");
        assert_eq!(
            env.client
                .provider()
                .get_balance(account.address)
                .await
                .unwrap(),
            balance,
            "{version}: the account paid nothing"
        );
        assert!(
            deposit(&env, paymaster, version).await < paid_before,
            "{version}: the paymaster paid"
        );
    }
}
