//! `examples/session-over-rpc.mjs` (JavaScript, viem) against anvil and the service: it grants and uses a session
//! through the service only, and exits 0 when the session's transfer arrived.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::PathBuf;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_example_grants_and_uses_a_session() {
    let env = common::env().await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (service, node) = (env.server.url(), env.anvil.endpoint());
    // The service answers on this runtime's other thread while node runs.
    let output = tokio::task::spawn_blocking(move || {
        Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()))
            .current_dir(&root)
            .arg("examples/session-over-rpc.mjs")
            .arg(service)
            .arg(node)
            .output()
            .expect("node runs (the toolchain: script/toolchain.sh)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(stdout.contains("granted in 0x"), "{stdout}");
    assert!(
        stdout.contains("the recipient received 0.0005 ETH"),
        "{stdout}"
    );
    env.server.shutdown().await;
}
