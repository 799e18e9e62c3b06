//! The JavaScript examples in `examples/`, run with node against anvil and the service:
//!
//! - `session-over-rpc.mjs` (viem): grants and uses a session through the service only, and exits 0 when the
//!   session's transfer arrived;
//! - `particle-session.mjs`: Particle Network's own AA SDK (`@particle-network/aa` 2.0.2, unchanged, only its RPC URL
//!   pointed at the service), with Alto: `particle_aa_getSmartAccount`, `particle_aa_createSessions` (the owner signs
//!   with `personal_sign`), `particle_aa_sendUserOp` (owner, then session), `particle_aa_validateSession`;
//! - `erc7715-metamask.mjs`: MetaMask's `@metamask/smart-accounts-kit` 2.0.0 (`erc7715ProviderActions`, unchanged,
//!   its viem transport pointed at the service with an API key): supported → request (native and ERC-20
//!   allowances) → the owner sends → granted (`params: []`, by API key) → the session spends → revoke → granted;
//!   then a periodic ERC-20 allowance with the kit's `redeemer` and `payee` rules: pays the payee, refuses another;
//! - `browser/run.mjs`: a page using viem, in headless Chromium, on its own origin: grants and uses a session through
//!   the service on another origin (CORS allowed for the page's origin only);
//! - `erc7715-viem.mjs`: viem's `erc7715Actions().grantPermissions` (2024 draft shape): refused with `-32602` on
//!   `[0].permissions`, surfaced by viem as `InvalidParamsRpcError` with the service's message.
//!
//! Each script prints its steps and exits non-zero on any refusal or unexpected answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::PathBuf;

use keyscope::alloy::primitives::keccak256;
use keyscope::signer::SessionKey;
use keyscope::Version;
use keyscope_rpc::{ApiKeys, Config};
use std::process::Command;

/// Runs `node examples/<script> <args…>` from the repository root off the runtime's threads (the service answers
/// on the runtime while node runs); its output, whatever its status.
async fn run_node(script: &'static str, args: Vec<String>) -> std::process::Output {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    tokio::task::spawn_blocking(move || {
        Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()))
            .current_dir(&root)
            .arg(format!("examples/{script}"))
            .args(args)
            .output()
            .expect("node runs (the toolchain: script/toolchain.sh)")
    })
    .await
    .unwrap()
}

/// [`run_node`], asserting that the script succeeded; its standard output.
async fn run_example(script: &'static str, args: Vec<String>) -> String {
    let output = run_node(script, args).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script}: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_example_grants_and_uses_a_session() {
    let env = common::env().await;
    let stdout = run_example(
        "session-over-rpc.mjs",
        vec![env.server.url(), env.anvil.endpoint()],
    )
    .await;
    assert!(stdout.contains("granted in 0x"), "{stdout}");
    assert!(
        stdout.contains("the recipient received 0.0005 ETH"),
        "{stdout}"
    );
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn particle_sdk_creates_validates_and_uses_a_session() {
    let (env, _alto) = common::env_with_bundler().await;
    let token = env.token().await;
    let stdout = run_example(
        "particle-session.mjs",
        vec![env.server.url(), env.anvil.endpoint(), token.to_string()],
    )
    .await;
    for step in [
        "getSmartAccount: 0x",
        "createSessions: session 0x",
        "sendUserOp (owner, personal_sign): granted in 0x",
        "validateSession: true",
        "the recipient received 60 tokens",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metamask_kit_requests_lists_and_revokes_permissions() {
    const API_KEY: &str = "metamask-key-0123456789abcdef";
    let env = common::env_with(Config {
        api_keys: Some(ApiKeys::parse(&format!("metamask:{API_KEY}\n")).unwrap()),
        ..Config::default()
    })
    .await;
    // The owner's key is handed to the script, which signs the service's operations with it.
    let owner_key = keccak256(b"keyscope erc7715-metamask owner");
    let owner = SessionKey::from_bytes(&owner_key.0).unwrap();
    let account = env.funded_account(&owner, 7, Version::V08).await;
    let token = env.token().await;
    env.mint(token, account.address, 1_000).await;
    let stdout = run_example(
        "erc7715-metamask.mjs",
        vec![
            env.server.url(),
            env.anvil.endpoint(),
            API_KEY.into(),
            account.address.to_string(),
            owner_key.to_string(),
            token.to_string(),
        ],
    )
    .await;
    for step in [
        "getSupportedExecutionPermissions: native-token-allowance, erc20-token-allowance on chain",
        "requestExecutionPermissions: native-token-allowance 0.01 ETH, erc20-token-allowance 300",
        "granted in 0x",
        "getGrantedExecutionPermissions: 2 (native-token-allowance, erc20-token-allowance)",
        "the recipient received 0.0005 ETH",
        "the recipient received 200 tokens",
        "wallet_revokeExecutionPermission: revoked in 0x",
        "getGrantedExecutionPermissions after revoke: 1 (erc20-token-allowance)",
        "requestExecutionPermissions: erc20-token-periodic 50 per 3600 s, redeemer and payee rules",
        "session operation: the payee received 20 tokens",
        "session operation to another payee: refused (-32500, ArgumentRuleFailed)",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viem_grant_permissions_is_refused_with_a_typed_error() {
    let env = common::env().await;
    let stdout = run_example("erc7715-viem.mjs", vec![env.server.url()]).await;
    for label in ["native-token-transfer", "erc20-token-transfer"] {
        let step = format!(
            "grantPermissions ({label}): InvalidParamsRpcError -32602 on [0].permissions: "
        );
        assert!(stdout.contains(&step), "missing {step:?} in:\n{stdout}");
    }
    assert!(
        stdout.contains("the 2024 draft's shape (permissions[] with policies) is not served"),
        "{stdout}"
    );
    env.server.shutdown().await;
}

/// Chromium for the browser test, as examples/browser/run.mjs finds it: `$KEYSCOPE_CHROMIUM`, else `chromium`, when it
/// runs. `None` (the test is skipped with a notice) without one, unless `KEYSCOPE_REQUIRE_BROWSER=1` (CI:
/// script/test.sh installs it).
fn chromium() -> Option<String> {
    let program = std::env::var("KEYSCOPE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let runs = Command::new(&program)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if runs {
        return Some(program);
    }
    assert_ne!(
        std::env::var("KEYSCOPE_REQUIRE_BROWSER").as_deref(),
        Ok("1"),
        "{program} does not run and KEYSCOPE_REQUIRE_BROWSER=1 (script/chromium.sh installs Chromium)"
    );
    eprintln!("notice: no Chromium ({program}): the browser test is skipped (script/chromium.sh installs it)");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_page_grants_and_uses_a_session_across_origins() {
    if chromium().is_none() {
        return;
    }
    // The page's origin, allowed by the service's CORS (and no other).
    let page_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = common::env_with(Config {
        cors_origins: vec![format!("http://127.0.0.1:{page_port}")],
        ..Config::default()
    })
    .await;
    let owner_key = keccak256(b"keyscope browser owner");
    let owner = SessionKey::from_bytes(&owner_key.0).unwrap();
    let account = env.funded_account(&owner, 8, Version::V07).await;
    let token = env.token().await;
    env.mint(token, account.address, 100).await;
    let args = |service: String| {
        vec![
            page_port.to_string(),
            service,
            env.anvil.endpoint(),
            account.address.to_string(),
            owner_key.to_string(),
            token.to_string(),
        ]
    };
    // A service that allows another origin only: the browser refuses the page its answers (CORS), so viem's
    // first call fails.
    let elsewhere = common::serve(
        &env.anvil,
        Config {
            cors_origins: vec![format!("http://127.0.0.1:{}", page_port.wrapping_add(1))],
            ..Config::default()
        },
    )
    .await;
    let refused = run_node("browser/run.mjs", args(elsewhere.url())).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("HttpRequestError"),
        "the page reached a service that does not allow its origin:\n{stderr}"
    );
    elsewhere.shutdown().await;

    let stdout = run_example("browser/run.mjs", args(env.server.url())).await;
    for step in [
        &format!("page: http://127.0.0.1:{page_port} → http://127.0.0.1:"),
        "page: wallet_requestExecutionPermissions: erc20-token-allowance 100 for session key 0x",
        "page: the owner signed; granted in 0x",
        "page: the session key signed; sent in 0x",
        "page: the recipient received 25 tokens",
        "browser: the page granted and used a session through the service",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    env.server.shutdown().await;
}
