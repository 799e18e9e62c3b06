//! What the CLI tests share: running the binary as users run it, and checking its answers.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use keyscope::alloy::node_bindings::AnvilInstance;
use keyscope::alloy::primitives::Address;
use keyscope::alloy::providers::DynProvider;
use keyscope::bindings::GameItems;
use serde_json::Value;

/// The password of the tests' keystores.
pub const PASSWORD: &str = "correct horse battery staple";

/// What a run of the binary gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `keyscope args…` with no KEYSCOPE_* variables but `env`.
pub fn keyscope_with(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyscope"));
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("KEYSCOPE_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    let output = command.output().expect("run keyscope");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

pub fn keyscope(args: &[&str]) -> Run {
    keyscope_with(args, &[])
}

/// The run failed with `code` and exactly one line on stderr that contains every one of `needles`.
pub fn assert_error(run: &Run, code: i32, needles: &[&str]) {
    assert_eq!(
        run.code, code,
        "exit code; stdout: {} stderr: {}",
        run.stdout, run.stderr
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {:?}", run.stderr);
    assert!(lines[0].starts_with("keyscope: error: "), "{:?}", lines[0]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "{needle:?} not in {:?}",
            lines[0]
        );
    }
}

/// The string at the JSON pointer `pointer` of `value` contains `needle`.
pub fn assert_str_contains(value: &Value, pointer: &str, needle: &str) {
    let text = value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value}"));
    assert!(
        text.contains(needle),
        "{needle:?} not in {pointer} of {value}"
    );
}

pub fn json(run: &Run) -> Value {
    assert_eq!(
        run.code, 0,
        "exit code; stdout: {} stderr: {}",
        run.stdout, run.stderr
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// `op <command> -p <permissions> --session-key-file <session_key> <rest…>`: the arguments of a session operation.
pub fn session_op<'a>(
    command: &'a str,
    permissions: &'a Path,
    session_key: &'a Path,
    rest: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "op",
        command,
        "-p",
        path_str(permissions),
        "--session-key-file",
        path_str(session_key),
    ];
    args.extend_from_slice(rest);
    args
}

/// A fresh directory for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keyscope-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Writes [`PASSWORD`] to `dir/password`, the file `--password-file` takes.
pub fn password_file(dir: &Path) -> PathBuf {
    let password = dir.join("password");
    std::fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    password
}

/// `keyscope <what> new --kdf light --out <out> --password-file <password> <extra…>`: a new keystore, `what` being
/// `key` (an owner key) or `session` (a session key).
pub fn new_keystore(what: &str, out: &Path, password: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        what,
        "new",
        "--kdf",
        "light",
        "--out",
        path_str(out),
        "--password-file",
        path_str(password),
    ];
    args.extend_from_slice(extra);
    keyscope(&args)
}

/// An owner key from `key new --hex` (in `dir/owner.hex`) and its account, created and funded with 0.1 ether:
/// the key file and the account's address.
#[allow(dead_code)] // not every test binary uses it
pub fn owner_and_account(dir: &Path, url: &str) -> (PathBuf, String) {
    let owner_file = dir.join("owner.hex");
    let owner = new_hex_key(&owner_file)["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = json(&keyscope(&[
        "account",
        "create",
        "--json",
        "--owner",
        &owner,
        "--fund",
        "0.1 ether",
        "--rpc-url",
        url,
    ]))["account"]
        .as_str()
        .unwrap()
        .to_owned();
    (owner_file, account)
}

/// `keyscope key new --json --hex --out <out>`: a new owner key in hex, and the answer.
pub fn new_hex_key(out: &Path) -> Value {
    json(&keyscope(&[
        "key",
        "new",
        "--json",
        "--hex",
        "--out",
        path_str(out),
    ]))
}

/// A test anvil with the stack deployed by `keyscope deploy --json` and a game contract for sessions to call.
pub struct OnAnvil {
    /// The node; it stops when dropped.
    pub anvil: AnvilInstance,
    /// Its endpoint, for `--rpc-url`.
    pub url: String,
    /// The answer of `keyscope deploy --json`.
    pub deployed: Value,
    /// A provider that pays with anvil's first key.
    pub provider: DynProvider,
    /// The game contract.
    pub game: Address,
}

/// A fresh [`OnAnvil`].
pub async fn deploy_with_game() -> OnAnvil {
    let anvil = keyscope_e2e::anvil();
    let url = anvil.endpoint();
    let deployed = json(&keyscope(&["deploy", "--json", "--rpc-url", &url]));
    let (provider, _) = keyscope_e2e::funded_provider(&anvil);
    let game = *GameItems::deploy(&provider).await.unwrap().address();
    OnAnvil {
        anvil,
        url,
        deployed,
        provider,
        game,
    }
}
