//! The JavaScript examples in `examples/`, run with node against anvil and the service:
//!
//! - `session-over-rpc.mjs` (viem): grants and uses a session through the service only, and exits 0 when the
//!   session's transfer arrived;
//! - `particle-session.mjs`: Particle Network's own AA SDK (`@particle-network/aa` 2.0.2, unchanged, only its RPC URL
//!   pointed at the service), with Alto: `particle_aa_getSmartAccount`, `particle_aa_createSessions` (the owner signs
//!   with `personal_sign`), `particle_aa_sendUserOp` (owner, then session), `particle_aa_validateSession`.
//!
//! Each script prints its steps and exits non-zero on any refusal or unexpected answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::PathBuf;
use std::process::Command;

/// Runs `node examples/<script> <args…>` from the repository root off the runtime's threads (the service answers
/// on the runtime while node runs), asserts it succeeded, and returns its standard output.
async fn run_example(script: &'static str, args: Vec<String>) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()))
            .current_dir(&root)
            .arg(format!("examples/{script}"))
            .args(args)
            .output()
            .expect("node runs (the toolchain: script/toolchain.sh)")
    })
    .await
    .unwrap();
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
