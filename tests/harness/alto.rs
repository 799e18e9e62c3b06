//! The pinned Alto bundler (npm `@pimlico/alto`), started on a free port for an anvil's chain.

use std::path::PathBuf;

use alloy::node_bindings::AnvilInstance;
use alloy::providers::{Provider, ProviderBuilder};

use crate::node::repo_root;

/// The pinned Alto bundler: `$ALTO_BIN`, else `node_modules/.bin/alto` (npm `@pimlico/alto`, installed by
/// `npm ci`).
pub fn alto_path() -> PathBuf {
    std::env::var_os("ALTO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("node_modules/.bin/alto"))
}

/// A running Alto bundler; killed on drop. Its output goes to a log file, kept when the test panics.
pub struct Alto {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl Alto {
    /// Its JSON-RPC endpoint on the loopback interface.
    pub fn url(&self) -> alloy::transports::http::reqwest::Url {
        format!("http://127.0.0.1:{}/rpc", self.port)
            .parse()
            .unwrap()
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where its output goes.
    pub fn log(&self) -> &std::path::Path {
        &self.log
    }
}

impl Drop for Alto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("Alto's log: {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Alto on a free port for `anvil`'s chain, serving EntryPoint v0.7 and v0.8 in its safe mode (the default:
/// every operation's validation is traced on anvil with Alto's JS tracer and held to the ERC-7562 rules; Alto 0.0.20
/// needs `script/patch-alto.mjs`, applied by `npm ci`, for that), with anvil's second key as executor (the
/// `handleOps` sender) and its third as utility key (which deploys Alto's simulation contracts), and waits until it
/// answers `eth_chainId` (at most 60 s).
pub async fn alto(anvil: &AnvilInstance) -> Alto {
    let path = alto_path();
    assert!(
        path.exists(),
        "{} is missing: run `npm ci` at the repository root",
        path.display()
    );
    let key = |i: usize| alloy::hex::encode_prefixed(anvil.keys()[i].to_bytes());
    let entry_points = format!(
        "{},{}",
        keyscope::signer::ENTRY_POINT_V07,
        keyscope::signer::ENTRY_POINT_V08
    );
    let port = free_port();
    let log = std::env::temp_dir().join(format!("keyscope-alto-{port}.log"));
    let output = std::fs::File::create(&log).unwrap();
    let child = std::process::Command::new(&path)
        .args(["--entrypoints", &entry_points])
        // Not `localhost`: node may resolve it to ::1, where anvil does not listen.
        .args(["--rpc-url", &format!("http://127.0.0.1:{}", anvil.port())])
        .args(["--executor-private-keys", &key(1)])
        .args(["--utility-private-key", &key(2)])
        .args(["--port", &port.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    let mut alto = Alto { child, port, log };
    let provider = ProviderBuilder::new().connect_http(alto.url());
    let start = std::time::Instant::now();
    loop {
        if let Ok(chain_id) = provider.get_chain_id().await {
            assert_eq!(chain_id, anvil.chain_id());
            return alto;
        }
        if let Ok(Some(status)) = alto.child.try_wait() {
            let text = std::fs::read_to_string(&alto.log).unwrap_or_default();
            panic!("Alto exited ({status}) before serving:\n{text}");
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "Alto did not answer within 60 s; log: {}",
            alto.log.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
