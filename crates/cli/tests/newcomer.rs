//! The rough edges a new user hit (issue 10, section 3), one check each: the demo script says it is building,
//! grants of ended sessions, one status model, read-only commands without a key, revocations and grants checked
//! first, a wrong owner key named, https URLs, EIP-55 address flags, JSON for refused operations, owner keys and
//! OpenZeppelin tree dumps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    assert_error, deploy_with_game, json, keyscope, keyscope_with, new_hex_key, new_keystore,
    owner_and_account, password_file, path_str, scratch, session_op, OnAnvil, Run, PASSWORD,
};
use keyscope::alloy::node_bindings::Anvil;
use keyscope::alloy::primitives::Address;
use keyscope::permissions::SessionSpec;
use keyscope_e2e::{anvil_path, now, repo_root};
use serde_json::Value;

/// Rough edge 1: `script/demo.sh` says that it builds, and how long that takes, before cargo's output.
#[test]
fn demo_script_says_it_is_building() {
    let output = Command::new("bash")
        .arg(repo_root().join("script/demo.sh"))
        .arg("--help")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("demo.sh: building keyscope") && stderr.contains("minutes"),
        "{stderr}"
    );
    assert!(stderr.contains("keyscope built in"), "{stderr}");
    // stdout is the demo's own (here its help).
    assert!(String::from_utf8_lossy(&output.stdout).contains("Usage: keyscope demo"));
}

/// Rough edges 4 and 8: read-only commands list no paying key, and the help says https works.
#[test]
fn help_lists_keys_only_where_used_and_tells_the_truth_about_tls() {
    for command in [&["session", "show"][..], &["op", "explain"]] {
        let mut args = command.to_vec();
        args.push("--help");
        let help = keyscope(&args);
        assert_eq!(help.code, 0);
        assert!(!help.stdout.contains("--private-key"), "{}", help.stdout);
        assert!(help.stdout.contains("https://"), "{}", help.stdout);
    }
    for command in [&["session", "grant"][..], &["op", "send"], &["deploy"]] {
        let mut args = command.to_vec();
        args.push("--help");
        let help = keyscope(&args);
        assert!(help.stdout.contains("--private-key"), "{}", help.stdout);
        assert!(!help.stdout.contains("no TLS"), "{}", help.stdout);
    }
    // An https node is attempted (TLS is built in), not refused.
    let run = keyscope(&[
        "session",
        "show",
        "--session-id",
        &format!("0x{}", "11".repeat(32)),
        "--account",
        &Address::repeat_byte(0x22).to_string(),
        "--rpc-url",
        "https://127.0.0.1:1/v1/secret-key",
    ]);
    assert_error(&run, 1, &["no node answers at https://127.0.0.1:1"]);
    assert!(!run.stderr.contains("secret-key"), "{}", run.stderr);
}

/// Rough edge 9: address flags take the permissions file's rule (a mixed-case address must be EIP-55).
#[test]
fn address_flags_reject_a_bad_eip55_checksum() {
    let good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    let bad = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
    for (args, flag) in [
        (vec!["account", "create", "--owner", bad], "--owner"),
        (
            vec![
                "session",
                "show",
                "--session-id",
                "0x1111111111111111111111111111111111111111111111111111111111111111",
                "--account",
                bad,
            ],
            "--account",
        ),
        (
            vec!["op", "explain", "--account", bad, "--to", good],
            "--account",
        ),
        (vec!["op", "explain", "--to", bad], "--to"),
    ] {
        assert_error(
            &keyscope(&args),
            2,
            &[flag, "wrong EIP-55 checksum", &format!("expected {good}")],
        );
    }
    // All lower case carries no checksum and is accepted (the same as in the permissions file); the error is then
    // about the node.
    let run = keyscope(&[
        "account",
        "create",
        "--owner",
        &good.to_lowercase(),
        "--rpc-url",
        "http://127.0.0.1:1",
    ]);
    assert_error(&run, 1, &["no node answers"]);
    let spec = format!(r#"{{ "signer": "{bad}", "valid_until": 2000000000, "permissions": [] }}"#);
    assert!(SessionSpec::from_json(&spec).is_err(), "the file's rule");
}

/// Rough edge 11: `key new` makes an owner key (keystore or hex, private to its owner).
#[test]
fn key_new_writes_an_owner_key() {
    let dir = scratch("key-new");
    let hex = dir.join("owner.hex");
    let made = new_hex_key(&hex);
    assert_eq!(made["encrypted"], false);
    let key = keyscope::signer::SessionKey::from_hex(std::fs::read_to_string(&hex).unwrap().trim())
        .unwrap();
    assert_eq!(
        made["address"]
            .as_str()
            .unwrap()
            .parse::<Address>()
            .unwrap(),
        key.address()
    );
    assert!(!made
        .to_string()
        .contains(&keyscope::alloy::primitives::hex::encode(
            *key.secret_bytes()
        )));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&hex).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_error(
        &keyscope(&["key", "new", "--hex", "--out", path_str(&hex)]),
        1,
        &["exists (pass --force"],
    );
    // A keystore, decrypted with the password.
    let password = password_file(&dir);
    let keystore = dir.join("owner.json");
    let run = new_keystore("key", &keystore, &password, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("keyscope account create --owner 0x"),
        "{}",
        run.stdout
    );
    let decrypted =
        keyscope::signer::keystore::decrypt(&std::fs::read_to_string(&keystore).unwrap(), PASSWORD)
            .unwrap();
    assert!(run
        .stdout
        .to_lowercase()
        .contains(&decrypted.address().to_string().to_lowercase()));
    let _ = std::fs::remove_dir_all(dir);
}

/// Rough edge 11: `tree build --format oz` writes OpenZeppelin StandardMerkleTree's dump, which its `load` reads
/// (checked with node and @openzeppelin/merkle-tree when they are installed: `source script/toolchain.sh`).
#[test]
fn tree_build_writes_openzeppelin_standard_merkle_tree_dumps() {
    let dir = scratch("oz-tree");
    let file = dir.join("session.json");
    let spec = r#"{ "signer": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "valid_until": 2000000000,
        "permissions": [
          { "target": "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "function": "transfer(address to,uint256 amount)",
            "rules": [{ "arg": "amount", "op": "lte", "value": "100" }] },
          { "target": "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "function": "approve(address,uint256)" },
          { "target": "0x0000000000000000000000000000000000000007", "native_transfer": true, "value_limit": "1 ether" }
        ] }"#;
    std::fs::write(&file, spec).unwrap();
    let compiled = SessionSpec::compile_json(spec).unwrap();
    let dump = json(&keyscope(&[
        "tree",
        "build",
        "--format",
        "oz",
        "-p",
        path_str(&file),
    ]));
    assert_eq!(dump["format"], "standard-v1");
    assert_eq!(dump["leafEncoding"].as_array().unwrap().len(), 1);
    let tree = dump["tree"].as_array().unwrap();
    assert_eq!(tree[0], compiled.tree.root().to_string());
    let values = dump["values"].as_array().unwrap();
    assert_eq!(values.len(), 3);
    for (index, value) in values.iter().enumerate() {
        let position = value["treeIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            tree[position],
            compiled.permissions[index].leaf().to_string()
        );
        assert_eq!(value["value"].as_array().unwrap().len(), 1);
    }
    let out = dir.join("oz.json");
    std::fs::write(&out, serde_json::to_string(&dump).unwrap()).unwrap();
    let merkle_tree = repo_root().join("node_modules/@openzeppelin/merkle-tree");
    let node = Command::new("node").arg("--version").output();
    if node.is_ok_and(|o| o.status.success()) && merkle_tree.exists() {
        let script = format!(
            "const {{ StandardMerkleTree }} = require({:?}); \
             const tree = StandardMerkleTree.load(JSON.parse(require('fs').readFileSync({:?}, 'utf8'))); \
             tree.validate(); \
             console.log(JSON.stringify({{ root: tree.root, proof: tree.getProof(0) }}));",
            path_str(&merkle_tree),
            path_str(&out)
        );
        let loaded = Command::new("node")
            .arg("-e")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            loaded.status.success(),
            "{}",
            String::from_utf8_lossy(&loaded.stderr)
        );
        let loaded: Value = serde_json::from_slice(&loaded.stdout).unwrap();
        assert_eq!(loaded["root"], compiled.tree.root().to_string());
        let proof: Vec<String> = compiled
            .proof(0)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(loaded["proof"], serde_json::json!(proof));
    } else {
        eprintln!("node or @openzeppelin/merkle-tree missing: the dump's fields were checked, not its loading");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Rough edge 2: the README's session example parses and compiles, and says to draft the window relative to now.
#[test]
fn readme_session_example_parses_and_says_how_to_draft_its_window() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let after = &readme[readme.find("`session.json` is the").unwrap()..];
    assert!(after.contains("--valid-for 1d"));
    let start = after.find("```json\n").unwrap() + "```json\n".len();
    let example = &after[start..start + after[start..].find("```").unwrap()];
    SessionSpec::compile_json(example).unwrap();
}

/// Rough edges 2, 3, 5, 6, 8, 10 and 11 on a test anvil.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_checked_before_sending_and_shown_with_one_status_model() {
    let OnAnvil {
        anvil: _anvil,
        url,
        provider,
        game,
        ..
    } = deploy_with_game().await;
    let dir = scratch("newcomer");
    let game = game.to_string();

    // The owner's key from `key new` (11), its account, and a session key.
    let (owner_file, account) = owner_and_account(&dir, &url);
    let password = password_file(&dir);
    let keystore = dir.join("session.json");
    let signer = json(&new_keystore("session", &keystore, &password, &["--json"]))["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let session_file = |name: &str, valid_until: u64, salt: u64| {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!(
                r#"{{ "signer": "{signer}", "valid_until": {valid_until}, "salt": {salt},
                     "permissions": [{{ "target": "{game}", "function": "mint(address to)", "max_uses": 5 }},
                                     {{ "target": "{game}", "function": "burn(uint256 id)" }},
                                     {{ "target": "{game}", "function": "transfer(address to,uint256 amount)",
                                        "rules": [{{ "arg": "amount", "op": "lte", "value": "100" }}] }}] }}"#
            ),
        )
        .unwrap();
        path
    };
    let common = ["--account", account.as_str(), "--rpc-url", url.as_str()];
    let run = |head: &[&str]| -> Run {
        let mut args = head.to_vec();
        args.extend_from_slice(&common);
        keyscope_with(&args, &[("KEYSCOPE_PASSWORD", PASSWORD)])
    };
    let grant = |file: &Path, extra: &[&str]| -> Run {
        let mut args = vec![
            "session",
            "grant",
            "--json",
            "-p",
            path_str(file),
            "--owner-key-file",
            path_str(&owner_file),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    // Text-mode grants (warnings on stderr), by `owner_key`.
    let grant_text = |file: &Path, owner_key: &Path| -> Run {
        let mut args = vec![
            "session",
            "grant",
            "-p",
            path_str(file),
            "--owner-key-file",
            path_str(owner_key),
        ];
        args.extend_from_slice(&common);
        keyscope(&args)
    };
    let show = |file: &Path| json(&run(&["session", "show", "--json", "-p", path_str(file)]));
    let now = now(&provider).await;

    // 2: an ended session is refused before anything is sent; --force grants it, and it shows as expired (3).
    let ended = session_file("ended.json", now - 60, 1);
    assert_error(
        &grant(&ended, &[]),
        1,
        &["the session ended at", "can never be used", "--force"],
    );
    assert_eq!(show(&ended)["status"], "unknown");
    let forced = json(&grant(&ended, &["--force"]));
    assert!(
        forced["warnings"]
            .to_string()
            .contains("the session ended at"),
        "{forced}"
    );
    assert_eq!(forced["op"]["success"], true);
    let shown = show(&ended);
    assert_eq!(shown["status"], "expired");
    assert_eq!(shown["validator_status"], "active");
    // ... one ending within minutes is warned about (on stderr in text mode).
    let soon = session_file("soon.json", now + 120, 2);
    let granted = grant_text(&soon, &owner_file);
    assert_eq!(granted.code, 0, "{}", granted.stderr);
    assert!(
        granted.stderr.contains("warning: the session ends in"),
        "{}",
        granted.stderr
    );

    // 6: a key that is not the account's owner is named as such.
    let stranger = dir.join("stranger.hex");
    new_hex_key(&stranger);
    let hour = session_file("hour.json", now + 3600, 3);
    assert_error(
        &grant_text(&hour, &stranger),
        1,
        &["is not the owner of account", "AA24"],
    );

    // 3: an active session with its counters: uses per permission, native value spent, fees.
    assert_eq!(json(&grant(&hour, &[]))["op"]["success"], true);
    let shown = show(&hour);
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["uses"], serde_json::json!([0, null, null]));
    assert_eq!(shown["native_spent"], "0");
    // `op send --json` and `op explain` of a call to the game under `hour.json`.
    let op = |command: &str, extra: &[&str]| -> Run {
        let rest = [&["--to", game.as_str()][..], extra].concat();
        run(&session_op(command, &hour, &keystore, &rest))
    };
    let send = |extra: &[&str]| op("send", &[&["--json"][..], extra].concat());
    assert_eq!(
        json(&send(&["--sig", "mint(address)", &account]))["op"]["success"],
        true
    );
    let shown = show(&hour);
    assert_eq!(shown["uses"], serde_json::json!([1, null, null]));
    assert_ne!(shown["fees"]["charged"], "0");
    let text = run(&["session", "show", "-p", path_str(&hour)]);
    assert!(text.stdout.contains(": active (until "), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("uses per permission: 1. 1, 2. not counted (no usage limit)"),
        "{}",
        text.stdout
    );

    // 7: explanations in the permission file's terms: the summary's numbering, the function and argument names
    // as written, ISO dates.
    let explain = |extra: &[&str]| op("explain", extra);
    let refused = explain(&["--sig", "transfer(address,uint256)", &account, "1000"]);
    assert_eq!(refused.code, 0, "{}", refused.stderr);
    for needle in [
        "rejected (AA23)",
        "in the permission file's terms: call 0 is under permission 3 of the grant summary \
         (transfer(address to,uint256 amount) on ",
        "rule 1 of that permission (`amount` lte 100) fails: `amount` is 1000",
    ] {
        assert!(
            refused.stdout.contains(needle),
            "{needle:?} not in {}",
            refused.stdout
        );
    }
    let summary = run(&["session", "show", "-p", path_str(&hour)]).stdout;
    assert!(
        summary.contains("3. ") && summary.contains("transfer"),
        "{summary}"
    );
    let accepted = explain(&["--sig", "mint(address)", &account]);
    assert!(
        accepted
            .stdout
            .contains("valid from 1970-01-01T00:00:00Z until "),
        "{}",
        accepted.stdout
    );
    assert!(accepted.stdout.contains("Z):\n"), "{}", accepted.stdout);

    // 10: a refused operation is JSON on stdout too.
    let refused = send(&[
        "--permission",
        "0",
        "--sig",
        "setApprovalForAll(address,bool)",
        &account,
        "true",
    ]);
    assert_eq!(refused.code, 1);
    let answer: Value = serde_json::from_str(&refused.stdout)
        .unwrap_or_else(|e| panic!("{e}: {refused:?}", refused = refused.stdout));
    assert_eq!(answer["sent"], false);
    assert_eq!(answer["error"]["code"], "AA23");
    assert_eq!(answer["error"]["validator_error"], "SelectorNotAllowed");
    assert!(
        refused.stderr.starts_with("keyscope: error: "),
        "{}",
        refused.stderr
    );

    // 8: an https bundler is attempted (TLS is built in), not refused.
    let via = send(&[
        "--sig",
        "mint(address)",
        &account,
        "--bundler-url",
        "https://127.0.0.1:1/rpc?apikey=secret",
    ]);
    assert_eq!(via.code, 1);
    assert!(via.stderr.contains("https://127.0.0.1:1"), "{}", via.stderr);
    assert!(
        !via.stderr.contains("no TLS") && !via.stderr.contains("secret"),
        "{}",
        via.stderr
    );

    // 5: revoking twice, and granting a revoked session, are refused before anything is sent.
    let revoke = |extra: &[&str]| {
        let mut args = vec![
            "session",
            "revoke",
            "--json",
            "--owner-key-file",
            path_str(&owner_file),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    assert_eq!(
        json(&revoke(&["-p", path_str(&hour)]))["op"]["success"],
        true
    );
    assert_eq!(show(&hour)["status"], "revoked");
    assert_error(
        &revoke(&["-p", path_str(&hour)]),
        1,
        &["already revoked", "nothing was sent"],
    );
    assert_error(
        &grant(&hour, &[]),
        1,
        &[
            "was revoked",
            "can never be granted again",
            "\"salt\"",
            "new session",
        ],
    );

    // 3: after revoke --all, the old sessions are void (as keyscope-rpc says), a never granted one unknown.
    assert_eq!(json(&revoke(&["--all"]))["revoked"], "all");
    for file in [&hour, &soon] {
        assert_eq!(show(file)["status"], "void");
    }
    assert_eq!(
        show(&session_file("never.json", now + 3600, 99))["status"],
        "unknown"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Rough edge 4: off anvil, `session show` and `op explain` need no key (chain 5 here).
#[tokio::test(flavor = "multi_thread")]
async fn read_only_commands_need_no_key_off_anvil() {
    let path = anvil_path();
    let anvil = if path.exists() {
        Anvil::at(path)
    } else {
        Anvil::new()
    }
    .chain_id(5)
    .spawn();
    let url = anvil.endpoint();
    let funded = format!(
        "0x{}",
        keyscope::alloy::primitives::hex::encode(anvil.keys()[0].to_bytes())
    );
    // Sending still needs the key.
    assert_error(
        &keyscope(&["deploy", "--rpc-url", &url]),
        1,
        &["chain 5 is not anvil: a funded key is needed"],
    );
    json(&keyscope_with(
        &["deploy", "--json", "--rpc-url", &url],
        &[("KEYSCOPE_PRIVATE_KEY", &funded)],
    ));
    let owner = Address::repeat_byte(0x42).to_string();
    let account = json(&keyscope_with(
        &[
            "account",
            "create",
            "--json",
            "--owner",
            &owner,
            "--rpc-url",
            &url,
        ],
        &[("KEYSCOPE_PRIVATE_KEY", &funded)],
    ))["account"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = json(&keyscope(&[
        "session",
        "show",
        "--json",
        "--session-id",
        &format!("0x{}", "ab".repeat(32)),
        "--account",
        &account,
        "--rpc-url",
        &url,
    ]));
    assert_eq!(shown["status"], "unknown");
}
