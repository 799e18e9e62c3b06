//! The addresses [`Stack::predicted`] gives, kept in `contracts/test/vectors/deployment.json`, which
//! `contracts/test/deploy/DeployKeyscope.t.sol` checks against what `script/DeployKeyscope.s.sol` really deploys.
//! Together the two tests prove that the SDK and the forge script put the stack at the same addresses.
//!
//! After a contract change (new bindings), rewrite the file and commit it:
//!
//! ```text
//! KEYSCOPE_WRITE_VECTORS=1 cargo test -p keyscope --test deployment_vectors
//! ```

use std::path::PathBuf;

use keyscope::{Stack, VersionStack, CREATE2_DEPLOYER};
use serde_json::{json, Value};

fn vector_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts/test/vectors/deployment.json")
}

fn version_json(stack: &VersionStack) -> Value {
    json!({
        "entryPoint": stack.entry_point.to_checksum(None),
        "accountImplementation": stack.account_implementation.to_checksum(None),
        "accountFactory": stack.account_factory.to_checksum(None),
    })
}

/// The predicted stack in the layout of `deployments/<chainId>.json` (`script/lib/Deployments.sol`), without the
/// chain id: the addresses are the same on every chain.
fn predicted_json() -> Value {
    let stack = Stack::predicted();
    json!({
        "create2Deployer": CREATE2_DEPLOYER.to_checksum(None),
        "sessionKeyValidator": stack.session_key_validator.to_checksum(None),
        "ownerECDSAValidator": stack.owner_validator.to_checksum(None),
        "v07": version_json(&stack.v07),
        "v08": version_json(&stack.v08),
    })
}

#[test]
fn vector_file_holds_the_predicted_addresses() -> Result<(), Box<dyn std::error::Error>> {
    let expected = predicted_json();
    let path = vector_file();
    if std::env::var_os("KEYSCOPE_WRITE_VECTORS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&expected)? + "\n")?;
    }
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    assert_eq!(
        written,
        expected,
        "{} is stale: rewrite it with KEYSCOPE_WRITE_VECTORS=1 cargo test -p keyscope --test deployment_vectors",
        path.display()
    );
    Ok(())
}
