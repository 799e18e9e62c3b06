//! The `keyscope` binary, run as users run it: the seed demo against its own anvil, the session commands end to end
//! against a test anvil, `tree build` against keyscope-permissions, and bad input (exit codes, one-line errors).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;

use keyscope::alloy::primitives::{Address, B256};
use keyscope::bindings::GameItems;
use keyscope::permissions::{verify, FeeBound, FeeScopeSpec, PaymasterSpec, SessionSpec};
use keyscope_e2e::{alto, now};
use serde_json::Value;

mod common;

use common::{
    assert_error, assert_str_contains, deploy_with_game, json, keyscope, keyscope_with,
    new_keystore, owner_and_account, password_file, path_str, scratch, session_op, OnAnvil, Run,
    PASSWORD,
};

// -----------------------------------------------------------------------------------------------------------------
// keyscope demo
// -----------------------------------------------------------------------------------------------------------------

fn check_demo(version: &str) {
    let run = keyscope(&["demo", "--json", "--entry-point", version]);
    let steps = json(&run);
    let steps = steps.as_array().expect("an array of steps");
    assert_eq!(steps.len(), 20, "{steps:#?}");
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(step["step"], i + 1);
        assert_eq!(step["passed"], true, "{step:#}");
    }
    let titled = |text: &str| -> Vec<&Value> {
        steps
            .iter()
            .filter(|s| s["title"].as_str().unwrap().contains(text))
            .collect()
    };
    // Who signed: the owners' grants with their secp256k1 keys, the game's session with a passkey (WebAuthn), the
    // trading session with a secp256k1 key.
    let grants = titled("grants");
    assert_eq!(grants.len(), 2);
    for grant in &grants {
        assert_eq!(grant["signer_kind"], "secp256k1", "{grant:#}");
    }
    assert!(grants[0]["details"]["session_signer"]
        .as_str()
        .unwrap()
        .starts_with("passkey (WebAuthn P-256"));
    assert_eq!(
        grants[1]["details"]["session_signer"],
        "session key (secp256k1)"
    );
    for step in steps {
        let title = step["title"].as_str().unwrap();
        if title.starts_with("the game's passkey") || title.contains("leaked game passkey") {
            assert_eq!(step["signer_kind"], "WebAuthn", "{step:#}");
            assert!(step["signed_by"]
                .as_str()
                .unwrap()
                .starts_with("the game's passkey (WebAuthn P-256"));
        } else if title.starts_with("the service's key") {
            assert_eq!(step["signer_kind"], "secp256k1", "{step:#}");
        } else if step.get("user_op_hash").is_none() {
            assert!(step.get("signer_kind").is_none(), "{step:#}");
        }
    }
    // (a) two mints by the game's passkey, mined, with gas figures, and no owner signature.
    let mints = titled("mints item");
    assert_eq!(mints.len(), 2);
    for mint in &mints {
        assert_eq!(mint["outcome"], "ok");
        assert_eq!(mint["signer_kind"], "WebAuthn");
        assert_eq!(mint["details"]["owner_nonce_unchanged"], true);
        assert_eq!(mint["details"]["item_owned_by_account"], true);
        // Gasless: the sponsor's paymaster paid, through keyscope-rpc's ERC-7677 methods.
        assert_eq!(mint["details"]["account_paid_nothing"], true);
        assert_eq!(mint["details"]["sponsor_paid"], true);
        assert!(mint["gas_used"].as_u64().unwrap() > 21_000);
        assert!(mint["actual_gas_used"].as_u64().unwrap() > 0);
        assert_eq!(mint["user_op_hash"].as_str().unwrap().len(), 66);
        assert_eq!(mint["tx_hash"].as_str().unwrap().len(), 66);
    }
    // (b) out of scope, typed validator error.
    let [transfer] = titled("DemoToken.transfer")[..] else {
        panic!("one out-of-scope step")
    };
    assert_eq!(transfer["outcome"], "denied");
    assert_eq!(transfer["error"]["code"], "AA23");
    assert_eq!(transfer["error"]["validator_error"], "TargetNotAllowed");
    assert!(
        transfer.get("tx_hash").is_none(),
        "a refused op is not mined"
    );
    // (b') a leaked passkey's operation built to drain the account through fees: a valid assertion, over the fee
    // scope.
    let [drain] = titled("leaked game passkey")[..] else {
        panic!("one fee step")
    };
    assert_eq!(drain["outcome"], "denied");
    assert_eq!(drain["error"]["code"], "AA23");
    assert_eq!(drain["error"]["validator_error"], "OperationFeeExceeded");
    assert_eq!(drain["details"]["per_operation_bound"], "0.01 ETH");
    assert_eq!(drain["signer_kind"], "WebAuthn");
    assert_eq!(drain["details"]["leaked_passkey_signature_valid"], true);
    assert_eq!(
        drain["details"]["fees_charged_are_the_mints_max_costs"],
        true
    );
    assert!(drain.get("tx_hash").is_none());
    // (d) under the threshold bought, over it refused on the value.
    let [bought] = titled("buys item")[..] else {
        panic!("one purchase")
    };
    assert_eq!(bought["outcome"], "ok");
    assert_eq!(bought["details"]["seller_paid"], true);
    let [over] = titled("over the threshold")[..] else {
        panic!("one refused purchase")
    };
    assert_eq!(over["error"]["code"], "AA23");
    assert_eq!(over["error"]["validator_error"], "ValueLimitExceeded");
    let [relist] = titled("another function")[..] else {
        panic!("one other function")
    };
    assert_eq!(relist["error"]["validator_error"], "SelectorNotAllowed");
    // (c) after expiry: both keys refused with AA22.
    let expired = titled("after its hour");
    assert_eq!(expired.len(), 2);
    for step in expired {
        assert_eq!(step["outcome"], "denied");
        assert_eq!(step["error"]["code"], "AA22");
        assert!(step["error"]["validator_error"].is_null());
    }
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn demo_runs_every_step_on_entry_point_v07() {
    check_demo("v0.7");
}

#[test]
fn demo_runs_every_step_on_entry_point_v08() {
    check_demo("v0.8");
}

#[test]
fn demo_text_output_names_hashes_and_gas() {
    let run = keyscope(&["demo"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("Seed demo OK: 20 steps"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("[DENIED as expected] game"));
    assert!(
        run.stdout.contains(
            "signed by: the game's passkey (WebAuthn P-256, software authenticator, rp id game.example)"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("TargetNotAllowed { callIndex: 0"));
    assert!(run.stdout.contains("AA22 expired or not due"));
    assert!(run.stdout.contains("handleOps gasUsed"));
    assert_eq!(run.stdout.matches("[DENIED as expected]").count(), 6);
    assert!(run.stdout.contains("OperationFeeExceeded { fee: "));
    assert!(run
        .stdout
        .contains("Fees: at most 0.01 ether per operation, at most 0.05 ether in all"));
    // Rough edge 11: the last check reads as English.
    assert!(
        run.stdout
            .contains("pricey item still with the seller: yes"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("still sellers"), "{}", run.stdout);
}

#[test]
fn demo_reports_an_unreachable_node_in_one_line() {
    let run = keyscope(&["demo", "--rpc-url", "http://127.0.0.1:1"]);
    assert_error(&run, 1, &["no node answers at http://127.0.0.1:1: "]);
    // In JSON mode the steps so far still come out, the last one saying why the demo stopped.
    let run = keyscope(&["demo", "--json", "--rpc-url", "http://127.0.0.1:1"]);
    assert_eq!(run.code, 1);
    let steps: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(steps[0]["passed"], false);
    assert!(steps[0]["problem"]
        .as_str()
        .unwrap()
        .contains("no node answers"));
}

// -----------------------------------------------------------------------------------------------------------------
// tree build
// -----------------------------------------------------------------------------------------------------------------

fn spec_json(signer: Address, targets: usize, function: &str) -> String {
    let permissions: Vec<String> = (0..targets)
        .map(|i| {
            format!(
                r#"{{ "target": "{}", "function": "{function}" }}"#,
                Address::from_word(B256::from(keyscope::alloy::primitives::U256::from(i + 1)))
            )
        })
        .collect();
    format!(
        r#"{{ "signer": "{signer}", "valid_until": "2030-01-01T00:00:00Z", "permissions": [{}] }}"#,
        permissions.join(",")
    )
}

#[test]
fn tree_build_agrees_with_keyscope_permissions() {
    let dir = scratch("tree");
    for count in [1usize, 7, 1500] {
        let json_text = spec_json(Address::repeat_byte(0x11), count, "mint(address to)");
        let file = dir.join(format!("session-{count}.json"));
        std::fs::write(&file, &json_text).unwrap();
        let compiled = SessionSpec::compile_json(&json_text).unwrap();

        let tree = json(&keyscope(&["tree", "build", "-p", path_str(&file)]));
        let root: B256 = tree["root"].as_str().unwrap().parse().unwrap();
        assert_eq!(root, compiled.session.permissionsRoot);
        assert_eq!(root, compiled.tree.root());
        assert_eq!(
            tree["session_id"].as_str().unwrap(),
            compiled.session_id().to_string()
        );
        assert_eq!(tree["permissions"], count);
        let leaves = tree["leaves"].as_array().unwrap();
        let proofs = tree["proofs"].as_array().unwrap();
        assert_eq!(leaves.len(), count);
        assert_eq!(proofs.len(), count);
        for (i, (leaf, proof)) in leaves.iter().zip(proofs).enumerate() {
            let leaf: B256 = leaf.as_str().unwrap().parse().unwrap();
            assert_eq!(leaf, compiled.permissions[i].leaf());
            let proof: Vec<B256> = proof
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().parse().unwrap())
                .collect();
            assert_eq!(proof, compiled.proof(i).unwrap());
            assert!(verify(root, leaf, &proof));
        }

        // --out: the same document in the file, a summary on stdout.
        let out = dir.join(format!("tree-{count}.json"));
        let summary = json(&keyscope(&[
            "tree",
            "build",
            "--json",
            "-p",
            path_str(&file),
            "--out",
            path_str(&out),
        ]));
        assert_eq!(summary["root"], tree["root"]);
        let written: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(written, tree);
    }
    let _ = std::fs::remove_dir_all(dir);
}

// -----------------------------------------------------------------------------------------------------------------
// Bad input
// -----------------------------------------------------------------------------------------------------------------

#[test]
fn bad_input_gets_one_line_errors_and_nonzero_exit_codes() {
    let dir = scratch("errors");
    let missing = dir.join("missing.json");
    let bad_json = dir.join("bad.json");
    std::fs::write(&bad_json, r#"{ "signer": "0x12", "#).unwrap();
    let bad_field = dir.join("bad-field.json");
    std::fs::write(
        &bad_field,
        spec_json(Address::repeat_byte(1), 1, "mint(address to)")
            .replace("2030-01-01", "2030-13-01"),
    )
    .unwrap();
    let id = format!("0x{}", "ab".repeat(32));

    // Usage errors: exit 2.
    assert_error(&keyscope(&["frobnicate"]), 2, &["unrecognized subcommand"]);
    assert_error(
        &keyscope(&["session", "show", "--account", "0xzz", "--session-id", &id]),
        2,
        &["--account", "0xzz"],
    );
    assert_error(
        &keyscope(&[
            "session",
            "show",
            "--account",
            &format!("0x{}", "11".repeat(20)),
            "--session-id",
            "0x1234",
        ]),
        2,
        &["--session-id"],
    );
    assert_error(
        &keyscope(&["demo", "--entry-point", "v0.9"]),
        2,
        &["unknown EntryPoint version"],
    );
    assert_error(
        &keyscope(&[
            "account",
            "create",
            "--owner",
            &format!("0x{}", "11".repeat(20)),
            "--fund",
            "1 banana",
        ]),
        2,
        &["unknown unit"],
    );

    // Files: missing, not JSON, a bad field.
    assert_error(
        &keyscope(&["tree", "build", "-p", path_str(&missing)]),
        1,
        &["cannot read permissions file", "missing.json"],
    );
    assert_error(
        &keyscope(&["tree", "build", "-p", path_str(&bad_json)]),
        1,
        &["bad.json"],
    );
    assert_error(
        &keyscope(&["tree", "build", "-p", path_str(&bad_field)]),
        1,
        &["bad-field.json", "valid_until"],
    );

    // Nodes: unreachable, https, not a URL.
    let account = format!("0x{}", "11".repeat(20));
    let show = |url: &str| {
        keyscope(&[
            "session",
            "show",
            "--account",
            &account,
            "--session-id",
            &id,
            "--rpc-url",
            url,
        ])
    };
    assert_error(&show("http://127.0.0.1:1"), 1, &["no node answers at"]);
    assert_error(
        &show("https://example.invalid"),
        1,
        &["no node answers at https://example.invalid"],
    );
    // A node URL's path and query (API keys) never reach the output.
    for (url, needle) in [
        (
            "http://127.0.0.1:1/v2/SECRET-API-KEY?key=SECRET-API-KEY",
            "no node answers at http://127.0.0.1:1",
        ),
        ("ftp://node.invalid/SECRET-API-KEY", "unsupported scheme"),
    ] {
        let run = show(url);
        assert_error(&run, 1, &[needle]);
        assert!(
            !run.stderr.contains("SECRET-API-KEY"),
            "{url}: {}",
            run.stderr
        );
    }
    assert_error(&show("not a url"), 1, &["invalid RPC URL"]);

    // Keys and passwords: no password, an empty one, a bad hex key (never echoed).
    let keystore = dir.join("key.json");
    assert_error(
        &keyscope(&[
            "session",
            "new",
            "--kdf",
            "light",
            "--out",
            path_str(&keystore),
        ]),
        1,
        &["KEYSCOPE_PASSWORD"],
    );
    let empty = dir.join("empty-password");
    std::fs::write(&empty, "\n").unwrap();
    assert_error(
        &new_keystore("session", &keystore, &empty, &[]),
        1,
        &["password is empty"],
    );
    let spec = dir.join("session.json");
    std::fs::write(
        &spec,
        spec_json(Address::repeat_byte(1), 1, "mint(address to)"),
    )
    .unwrap();
    // A bad owner key, from the environment or from a file, is named but never echoed.
    let grant = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "session",
            "grant",
            "--account",
            &account,
            "-p",
            path_str(&spec),
        ];
        args.extend_from_slice(extra);
        keyscope_with(&args, env)
    };
    let run = grant(
        &["--rpc-url", "http://127.0.0.1:1"],
        &[("KEYSCOPE_OWNER_KEY", "0x1234deadbeef")],
    );
    assert_error(
        &run,
        1,
        &["KEYSCOPE_OWNER_KEY is not a valid secp256k1 private key"],
    );
    assert!(!run.stderr.contains("1234deadbeef"));
    let hex_file = dir.join("owner.hex");
    std::fs::write(&hex_file, "0xnothex").unwrap();
    let run = grant(&["--owner-key-file", path_str(&hex_file)], &[]);
    assert_error(&run, 1, &["neither a keystore nor a hex private key"]);
    assert!(!run.stderr.contains("nothex"));

    // Calldata from a signature: wrong argument count and type.
    let key_file = dir.join("session.hex");
    std::fs::write(&key_file, format!("0x{}", "01".repeat(32))).unwrap();
    let send = |extra: &[&str]| {
        let mut args = vec![
            "op",
            "send",
            "--account",
            &account,
            "-p",
            path_str(&spec),
            "--session-key-file",
            path_str(&key_file),
            "--to",
            &account,
        ];
        args.extend_from_slice(extra);
        keyscope(&args)
    };
    assert_error(
        &send(&["--sig", "mint(address)"]),
        1,
        &["mint(address) takes 1 argument(s), 0 given"],
    );
    assert_error(
        &send(&["--sig", "mint(address)", "12"]),
        1,
        &["argument 0 (address)"],
    );
    assert_error(&send(&["--data", "0xzz"]), 2, &["--data"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn help_documents_every_command() {
    for args in [
        &["--help"][..],
        &["demo", "--help"],
        &["session", "new", "--help"],
        &["session", "grant", "--help"],
        &["session", "show", "--help"],
        &["session", "revoke", "--help"],
        &["session", "enable-multichain", "--help"],
        &["tree", "build", "--help"],
        &["op", "send", "--help"],
        &["op", "explain", "--help"],
        &["account", "create", "--help"],
        &["deploy", "--help"],
    ] {
        let run = keyscope(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(run.stdout.contains("Usage: keyscope"), "{args:?}");
        assert!(run.stdout.contains("--json"), "{args:?}");
    }
}

// -----------------------------------------------------------------------------------------------------------------
// The session commands end to end
// -----------------------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn session_commands_end_to_end() {
    // The stack, then a game contract for the session to call.
    let OnAnvil {
        anvil,
        url,
        deployed,
        provider,
        game,
    } = deploy_with_game().await;
    let dir = scratch("e2e");
    assert_eq!(deployed["contracts"].as_array().unwrap().len(), 8);
    let items = GameItems::new(game, &provider);
    let game = game.to_string();

    // The owner's account, funded.
    let owner = keyscope::signer::SessionKey::generate();
    let owner_file = dir.join("owner.hex");
    std::fs::write(
        &owner_file,
        format!(
            "0x{}\n",
            keyscope::alloy::primitives::hex::encode(*owner.secret_bytes())
        ),
    )
    .unwrap();
    let created = json(&keyscope(&[
        "account",
        "create",
        "--json",
        "--owner",
        &owner.address().to_string(),
        "--entry-point",
        "v0.8",
        "--fund",
        "0.1 ether",
        "--rpc-url",
        &url,
    ]));
    let account = created["account"].as_str().unwrap().to_owned();
    assert_eq!(created["entry_point"], "v0.8");
    assert_eq!(created["balance"], "100000000000000000");

    // A session key in a keystore; the password never shows.
    let password = password_file(&dir);
    let keystore = dir.join("session.json");
    let new = new_keystore("session", &keystore, &password, &["--json"]);
    assert!(!new.stdout.contains("correct horse") && !new.stderr.contains("correct horse"));
    let created = json(&new);
    let signer = created["address"].as_str().unwrap().to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&keystore).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // With the key, a session draft: signer, self-paid only, the safe default fee scope, permissions to add.
    let draft = dir.join("session.permissions.json");
    assert_eq!(created["permissions"], path_str(&draft));
    assert_eq!(
        created["fees"],
        serde_json::json!({ "per_operation": "0.01 ether", "budget": "0.1 ether" })
    );
    assert_eq!(created["warnings"], serde_json::json!([]));
    let drafted = SessionSpec::from_json(&std::fs::read_to_string(&draft).unwrap()).unwrap();
    assert_eq!(drafted.signer, signer.parse::<Address>().unwrap());
    assert_eq!(drafted.paymaster, PaymasterSpec::None);
    assert_eq!(drafted.fees, FeeScopeSpec::default());
    assert!(drafted.permissions.is_empty());
    // Other fee scopes: explicit bounds; unlimited ones only by their flag, with the warning.
    let other = |name: &str, extra: &[&str]| {
        let run = new_keystore("session", &dir.join(name), &password, extra);
        let draft = dir.join(name.replace(".json", ".permissions.json"));
        (run, draft)
    };
    let (run, draft) = other(
        "bounded.json",
        &[
            "--fee-per-op",
            "0.002 ether",
            "--fee-budget",
            "20000000 gwei",
            "--paymaster",
            "any",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(
        run.stdout
            .contains("fees: at most 0.002 ETH per operation, at most 0.02 ETH in all"),
        "{}",
        run.stdout
    );
    let drafted = SessionSpec::from_json(&std::fs::read_to_string(&draft).unwrap()).unwrap();
    assert_eq!(
        drafted.fees,
        FeeScopeSpec {
            per_operation: FeeBound::Wei(2_000_000_000_000_000),
            budget: FeeBound::Wei(20_000_000_000_000_000),
        }
    );
    assert_eq!(drafted.paymaster, PaymasterSpec::Any);
    let (run, draft) = other("open.json", &["--unlimited-fees", "--json"]);
    let answer = json(&run);
    assert_str_contains(&answer, "/warnings/0", "UNLIMITED FEES");
    let drafted = SessionSpec::from_json(&std::fs::read_to_string(&draft).unwrap()).unwrap();
    assert_eq!(drafted.fees, FeeScopeSpec::UNLIMITED);
    let (run, _) = other("open-budget.json", &["--fee-budget", "unlimited"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("warning: fees.budget: UNLIMITED FEE BUDGET"),
        "{}",
        run.stderr
    );
    assert_error(
        &other("both.json", &["--unlimited-fees", "--fee-per-op", "1 gwei"]).0,
        2,
        &["--unlimited-fees", "--fee-per-op"],
    );
    assert_error(
        &other("bad.json", &["--fee-budget", "1 banana"]).0,
        2,
        &["--fee-budget", "unknown unit"],
    );
    // No overwriting without --force.
    assert_error(
        &keyscope(&[
            "session",
            "new",
            "--out",
            path_str(&keystore),
            "--password-file",
            path_str(&password),
        ]),
        1,
        &["exists (pass --force"],
    );

    // Grant a mint-only session.
    let now = now(&provider).await;
    let spec = dir.join("permissions.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{ "signer": "{signer}", "valid_after": {}, "valid_until": {},
                 "permissions": [{{ "target": "{game}", "function": "mint(address to)" }}] }}"#,
            now - 1,
            now + 3600
        ),
    )
    .unwrap();
    let common = ["--account", account.as_str(), "--rpc-url", url.as_str()];
    let with = |head: &[&str], tail: &[&str]| -> Run {
        let mut args = head.to_vec();
        args.extend_from_slice(tail);
        args.extend_from_slice(&common);
        keyscope(&args)
    };
    let granted = json(&with(
        &["session", "grant", "--json", "-p", path_str(&spec)],
        &["--owner-key-file", path_str(&owner_file)],
    ));
    assert_eq!(granted["op"]["success"], true);
    assert_eq!(granted["paymaster"], "none");
    assert_eq!(granted["fees"]["per_operation"], "0.01 ether");
    assert_str_contains(
        &granted,
        "/summary",
        "Fees: at most 0.01 ether per operation, at most 0.1 ether in all",
    );
    let session_id = granted["session_id"].as_str().unwrap().to_owned();
    let show_id = || {
        json(&with(
            &["session", "show", "--json", "--session-id", &session_id],
            &[],
        ))
    };
    assert_eq!(show_id()["status"], "active");
    let shown = json(&with(
        &["session", "show", "--json", "-p", path_str(&spec)],
        &[],
    ));
    assert_eq!(shown["session_id"], session_id.as_str());

    // The session key mints (calldata from the signature), with the password from the environment.
    // `op <command> --json` under the mint-only session, with the password from the environment.
    let op = |command: &str, extra: &[&str]| -> Run {
        let rest = [&["--json"][..], extra, &common].concat();
        keyscope_with(
            &session_op(command, &spec, &keystore, &rest),
            &[("KEYSCOPE_PASSWORD", PASSWORD)],
        )
    };
    let send = |extra: &[&str]| op("send", extra);
    let mint = [
        "--to",
        game.as_str(),
        "--sig",
        "mint(address)",
        account.as_str(),
    ];
    let sent = json(&send(&mint));
    assert_eq!(sent["op"]["success"], true);
    assert_eq!(sent["permission"], 0);
    assert!(sent["op"]["gas_used"].as_u64().unwrap() > 21_000);
    let balance = items
        .balanceOf(account.parse().unwrap())
        .call()
        .await
        .unwrap();
    assert_eq!(balance, keyscope::alloy::primitives::U256::from(1));
    // The session's fees: the mint was charged its maximum cost; the rest of the budget is left.
    let shown = json(&with(
        &["session", "show", "--json", "-p", path_str(&spec)],
        &[],
    ));
    let charged: u128 = shown["fees"]["charged"].as_str().unwrap().parse().unwrap();
    assert!(charged > 0, "{shown}");
    let left: u128 = shown["fees"]["left"].as_str().unwrap().parse().unwrap();
    assert_eq!(left, 100_000_000_000_000_000 - charged);
    assert_eq!(shown["fees"]["per_operation"], "0.01 ether");
    let shown = with(&["session", "show", "--session-id", &session_id], &[]);
    assert!(shown.stdout.contains("charged so far"), "{}", shown.stdout);

    // A periodic allowance (0.002 ether per day, days from the permission's valid_after): session show says what
    // is left in the current period and when the next one starts.
    let periodic = dir.join("periodic.json");
    std::fs::write(
        &periodic,
        format!(
            r#"{{ "signer": "{signer}", "valid_after": {}, "valid_until": {}, "salt": 5,
                 "permissions": [{{ "target": "*", "native_transfer": true, "value_limit": "0.001 ether",
                                    "valid_after": {}, "period": "1d", "native_period_limit": "0.002 ether" }}] }}"#,
            now - 1,
            now + 3600,
            now - 1,
        ),
    )
    .unwrap();
    let granted = json(&with(
        &["session", "grant", "--json", "-p", path_str(&periodic)],
        &["--owner-key-file", path_str(&owner_file)],
    ));
    assert_eq!(granted["op"]["success"], true);
    let shown = json(&with(
        &["session", "show", "--json", "-p", path_str(&periodic)],
        &[],
    ));
    let allowance = &shown["period_allowances"][0];
    assert_eq!(allowance["asset"], "native", "{shown}");
    assert_eq!(allowance["period"], 0, "{shown}");
    assert_eq!(allowance["period_seconds"], 86_400, "{shown}");
    assert_eq!(allowance["next_period_start"], now - 1 + 86_400, "{shown}");
    assert_eq!(
        (&allowance["limit"], &allowance["spent"], &allowance["left"]),
        (
            &serde_json::json!("2000000000000000"),
            &serde_json::json!("0"),
            &serde_json::json!("2000000000000000")
        ),
        "{shown}"
    );
    let shown = with(&["session", "show", "-p", path_str(&periodic)], &[]);
    assert!(
        shown.stdout.contains(
            "permission 1: 0.002 ether of native value per 1d period: 0 spent, 0.002 ether left in period 0"
        ),
        "{}",
        shown.stdout
    );

    // Out of scope: no permission matches; forced, the validator refuses it by name, and the explainer says why.
    assert_error(
        &send(&[
            "--to",
            &game,
            "--sig",
            "setApprovalForAll(address,bool)",
            &account,
            "true",
        ]),
        1,
        &["no permission of", "covers a call to"],
    );
    let out_of_scope = [
        "--to",
        game.as_str(),
        "--permission",
        "0",
        "--sig",
        "setApprovalForAll(address,bool)",
        account.as_str(),
        "true",
    ];
    assert_error(
        &send(&out_of_scope),
        1,
        &[
            "nothing was sent",
            "AA23",
            "SelectorNotAllowed",
            "explanation: rejected (AA23)",
        ],
    );

    // op explain, from the call options: accepted in scope, the validator's error out of scope, AA22 later.
    let explain = |extra: &[&str]| op("explain", extra);
    let verdict = json(&explain(&mint));
    assert_eq!(verdict["accepted"], true, "{verdict:#}");
    assert_eq!(verdict["validation"]["valid_until"], now + 3600);
    let refused = json(&explain(&out_of_scope));
    assert_eq!(refused["accepted"], false);
    assert_eq!(refused["aa_code"], "AA23");
    assert_eq!(refused["validator_error"], "SelectorNotAllowed");
    let later = (now + 7200).to_string();
    let mut expired_args = mint.to_vec();
    expired_args.extend_from_slice(&["--at", &later]);
    let expired = json(&explain(&expired_args));
    assert_eq!(expired["aa_code"], "AA22");
    // ... and from a user operation file (the JSON shape bundlers take), with the same verdict.
    let user_op = dir.join("user-op.json");
    std::fs::write(&user_op, refused["user_op"].to_string()).unwrap();
    let from_file = json(&keyscope(&[
        "op",
        "explain",
        "--json",
        "--user-op",
        path_str(&user_op),
        "--rpc-url",
        &url,
    ]));
    assert_eq!(from_file["verdict"], refused["verdict"]);
    assert_eq!(from_file["user_op_hash"], refused["user_op_hash"]);
    std::fs::write(&user_op, "{ \"sender\": 12 }").unwrap();
    assert_error(
        &keyscope(&[
            "op",
            "explain",
            "--user-op",
            path_str(&user_op),
            "--rpc-url",
            &url,
        ]),
        1,
        &["user-op.json: not a v0.7 user operation"],
    );

    // A session whose fee bound no fee the chain takes fits (1 wei per operation): op send refuses before
    // signing, op explain says why, in ETH.
    let tight = dir.join("tight.json");
    std::fs::write(
        &tight,
        format!(
            r#"{{ "signer": "{signer}", "valid_after": {}, "valid_until": {}, "salt": 7,
                 "fees": {{ "per_operation": "1 wei", "budget": "0.1 ether" }},
                 "permissions": [{{ "target": "{game}", "function": "mint(address to)" }}] }}"#,
            now - 1,
            now + 3600
        ),
    )
    .unwrap();
    assert_eq!(
        json(&with(
            &["session", "grant", "--json", "-p", path_str(&tight)],
            &["--owner-key-file", path_str(&owner_file)],
        ))["op"]["success"],
        true
    );
    let mint_and_common = [&mint[..], &common].concat();
    let over = |command: &'static str| session_op(command, &tight, &keystore, &mint_and_common);
    let refused = keyscope_with(&over("send"), &[("KEYSCOPE_PASSWORD", PASSWORD)]);
    assert_error(
        &refused,
        1,
        &[
            "refused before signing, nothing was sent",
            "over the session's per-operation fee bound of 0.000000000000000001 ETH",
            "gwei maxFeePerGas",
        ],
    );
    let mut args = over("explain");
    args.insert(2, "--json");
    let verdict = json(&keyscope_with(&args, &[("KEYSCOPE_PASSWORD", PASSWORD)]));
    assert_eq!(verdict["accepted"], false, "{verdict}");
    assert_eq!(verdict["refused_before_signing"], "OperationFeeExceeded");
    assert_eq!(verdict["fee_scope"]["limit"], "1");
    assert_str_contains(&verdict, "/verdict", "per-operation fee bound");
    assert_eq!(
        items
            .balanceOf(account.parse().unwrap())
            .call()
            .await
            .unwrap(),
        keyscope::alloy::primitives::U256::from(1)
    );

    // Through an ERC-4337 bundler (the pinned Alto) instead of handleOps.
    let bundler = alto(&anvil).await;
    let bundler_url = bundler.url().to_string();
    let via_bundler =
        |args: &[&str]| send(&[args, &["--bundler-url", bundler_url.as_str()]].concat());
    let sent = json(&via_bundler(&mint));
    assert_eq!(sent["via"], "bundler");
    assert_eq!(sent["op"]["success"], true);
    assert_error(
        &via_bundler(&out_of_scope),
        1,
        &["refused the operation", "SelectorNotAllowed"],
    );
    drop(bundler);

    // A wrong password is a typed error.
    let run = keyscope_with(
        &session_op("send", &spec, &keystore, &mint_and_common),
        &[("KEYSCOPE_PASSWORD", "wrong")],
    );
    assert_error(&run, 1, &["wrong password"]);

    // One permission: the owner revokes the mint permission (index 0 of the file); the key's mint is refused,
    // naming the permission, while the session itself stays active.
    let one = json(&with(
        &[
            "session",
            "revoke",
            "--json",
            "-p",
            path_str(&spec),
            "--permission",
            "0",
        ],
        &["--owner-key-file", path_str(&owner_file)],
    ));
    assert_eq!(one["op"]["success"], true, "{one}");
    assert!(one["revoked"]["leaf"].is_string(), "{one}");
    assert_eq!(show_id()["status"], "active");
    assert_error(&send(&mint), 1, &["AA23", "PermissionIsRevoked"]);
    // A leaf that is none of the file's permissions is refused before anything is sent.
    assert_error(
        &with(
            &[
                "session",
                "revoke",
                "-p",
                path_str(&spec),
                "--leaf",
                "0x1111111111111111111111111111111111111111111111111111111111111111",
            ],
            &["--owner-key-file", path_str(&owner_file)],
        ),
        1,
        &["is none of the permissions", "nothing was sent"],
    );
    // The kill switch: the session key revokes its own session, with no owner key.
    let own = json(&keyscope_with(
        &[
            &[
                "session",
                "revoke",
                "--json",
                "-p",
                path_str(&spec),
                "--session-key-file",
                path_str(&keystore),
            ][..],
            &common,
        ]
        .concat(),
        &[("KEYSCOPE_PASSWORD", PASSWORD)],
    ));
    assert_eq!(own["by"], "session key", "{own}");
    assert_eq!(own["op"]["success"], true, "{own}");
    assert_eq!(show_id()["status"], "revoked");
    assert_error(&send(&mint), 1, &["AA23", "SessionNotActive"]);
    // The owner revoking it again is refused before anything is sent.
    assert_error(
        &with(
            &["session", "revoke", "--session-id", &session_id],
            &["--owner-key-file", path_str(&owner_file)],
        ),
        1,
        &["already revoked", "nothing was sent"],
    );
    // Revoke all (a new epoch) works too; the validator then reads an old session as unknown, and its status is
    // void (granted before the account's last revoke --all), as keyscope-rpc's listings say.
    let all = json(&with(
        &["session", "revoke", "--json", "--all"],
        &["--owner-key-file", path_str(&owner_file)],
    ));
    assert_eq!(all["revoked"], "all");
    let shown = show_id();
    assert_eq!(shown["validator_status"], "unknown");
    assert_eq!(shown["status"], "void");
    let _ = std::fs::remove_dir_all(dir);
}

// -----------------------------------------------------------------------------------------------------------------
// Multichain enable: the owner signs once, the first session operation enables the session
// -----------------------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn session_enable_multichain_then_op_send_enables_on_this_chain() {
    let OnAnvil {
        anvil: _anvil,
        url,
        provider,
        game,
        ..
    } = deploy_with_game().await;
    let dir = scratch("multichain");
    let game = game.to_string();
    let owner_file = dir.join("owner.hex");
    std::fs::write(&owner_file, format!("0x{}\n", "0a".repeat(32))).unwrap();
    let owner = keyscope::signer::SessionKey::from_bytes(&[0x0a; 32]).unwrap();
    let created = json(&keyscope(&[
        "account",
        "create",
        "--json",
        "--owner",
        &owner.address().to_string(),
        "--fund",
        "0.1 ether",
        "--rpc-url",
        &url,
    ]));
    let account = created["account"].as_str().unwrap().to_owned();
    let key_file = dir.join("session.hex");
    let signer = common::new_hex_key(&key_file)["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = now(&provider).await;
    let spec = dir.join("permissions.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{ "signer": "{signer}", "valid_after": {}, "valid_until": {},
                 "permissions": [{{ "target": "{game}", "function": "mint(address to)" }}] }}"#,
            now - 1,
            now + 3600
        ),
    )
    .unwrap();
    let chain_id = keyscope::alloy::providers::Provider::get_chain_id(&provider)
        .await
        .unwrap();
    let here = format!("{chain_id}:{account}");
    let elsewhere = format!("10:{account}:0");
    let signed_file = dir.join("multichain.json");
    let enable = |chains: &[&str], out: &Path| -> Run {
        let mut args = vec![
            "session",
            "enable-multichain",
            "--json",
            "-p",
            path_str(&spec),
            "--owner-key-file",
            path_str(&owner_file),
            "--out",
            path_str(out),
            "--rpc-url",
            &url,
        ];
        for chain in chains {
            args.extend_from_slice(&["--chain", chain]);
        }
        keyscope(&args)
    };
    // Another chain's epoch is not read from this node: it must be given.
    assert_error(
        &enable(&[&here, &format!("10:{account}")], &signed_file),
        1,
        &["epoch on chain 10 is needed"],
    );
    assert_error(&enable(&[&here, "10:nope"], &signed_file), 2, &["--chain"]);
    let signed = json(&enable(&[&here, &elsewhere], &signed_file));
    assert_eq!(signed["chains"].as_array().unwrap().len(), 2);
    assert_eq!(signed["chains"][0]["chain_id"], chain_id);
    assert_eq!(signed["chains"][1]["chain_id"], 10);
    let file: keyscope::SignedMultichainEnable =
        serde_json::from_str(&std::fs::read_to_string(&signed_file).unwrap()).unwrap();
    assert_eq!(file.chains_root.to_string(), signed["chains_root"]);
    // The file is not replaced without --force.
    assert_error(
        &enable(&[&here, &elsewhere], &signed_file),
        1,
        &["exists (pass --force"],
    );

    // The first operation enables the session with the owner's multichain signature: no grant.
    let mint = [
        "--to",
        game.as_str(),
        "--sig",
        "mint(address)",
        account.as_str(),
        "--account",
        account.as_str(),
        "--rpc-url",
        url.as_str(),
        "--json",
    ];
    let send = |extra: &[&str]| -> Run {
        let rest = [&mint[..], extra].concat();
        keyscope(&session_op("send", &spec, &key_file, &rest))
    };
    // A file without this chain's entry is refused before anything is signed.
    let other_file = dir.join("other.json");
    json(&enable(&[&elsewhere], &other_file));
    assert_error(
        &send(&["--multichain-enable", path_str(&other_file)]),
        1,
        &["no entry for"],
    );
    let sent = json(&send(&["--multichain-enable", path_str(&signed_file)]));
    assert_eq!(sent["op"]["success"], true, "{sent}");
    let shown = json(&keyscope(&[
        "session",
        "show",
        "--json",
        "-p",
        path_str(&spec),
        "--account",
        &account,
        "--rpc-url",
        &url,
    ]));
    assert_eq!(shown["status"], "active");
    // Then in use mode.
    let sent = json(&send(&[]));
    assert_eq!(sent["op"]["success"], true, "{sent}");
}

/// `session new --kind p256|webauthn|multisig`: each kind's key file and draft, granted and used by `op send`
/// through the EntryPoint; the draft names the key (`signer_key`) and the grant's summary describes it; a file of
/// another key is refused before anything is sent.
#[tokio::test(flavor = "multi_thread")]
async fn session_new_each_signer_kind_grants_and_sends() {
    let OnAnvil {
        anvil: _anvil,
        url,
        provider,
        game,
        ..
    } = deploy_with_game().await;
    let dir = scratch("signer-kinds");
    let items = GameItems::new(game, &provider);
    let game = game.to_string();
    let (owner_file, account) = owner_and_account(&dir, &url);
    let password = password_file(&dir);

    // Two member keystores (a secp256k1 key and a P-256 key) for the multisig.
    for (name, kind) in [("member-a.json", "secp256k1"), ("member-b.json", "p256")] {
        let run = new_keystore("session", &dir.join(name), &password, &["--kind", kind]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let member_a = dir.join("member-a.json");
    let member_b = format!("{}:2", path_str(&dir.join("member-b.json")));
    let cases: [(&str, Vec<&str>, &str); 3] = [
        ("p256.json", vec!["--kind", "p256"], "a P-256 key"),
        (
            "passkey.json",
            vec!["--kind", "webauthn", "--rp-id", "game.example"],
            "a passkey (WebAuthn P-256)",
        ),
        (
            "multisig.json",
            vec![
                "--kind",
                "multisig",
                "--member",
                path_str(&member_a),
                "--member",
                &member_b,
                "--threshold",
                "2",
            ],
            "a multisig: secp256k1 and P-256 keys of total weight 2 of 3 must sign (2 keys)",
        ),
    ];
    let now = now(&provider).await;
    let common = ["--account", account.as_str(), "--rpc-url", url.as_str()];
    for (minted, (name, extra, description)) in cases.iter().enumerate() {
        let keystore = dir.join(name);
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        let created = json(&new_keystore("session", &keystore, &password, &args));
        assert!(created["signer"]["kind"].is_string(), "{created}");
        let signer: Address = created["address"].as_str().unwrap().parse().unwrap();
        // The draft names the key its signer commits to; permissions added, it is granted.
        let draft_path = dir.join(name.replace(".json", ".permissions.json"));
        let mut draft =
            SessionSpec::from_json(&std::fs::read_to_string(&draft_path).unwrap()).unwrap();
        assert_eq!(draft.signer, signer);
        let key = draft.signer_key.clone().expect("the draft names the key");
        assert_eq!(key.address().unwrap(), signer);
        draft.valid_after = now - 1;
        draft.permissions = SessionSpec::from_json(&format!(
            r#"{{ "signer": "{signer}", "valid_until": 1,
                 "permissions": [{{ "target": "{game}", "function": "mint(address to)" }}] }}"#
        ))
        .unwrap()
        .permissions;
        std::fs::write(&draft_path, draft.to_json()).unwrap();
        let mut grant = vec!["session", "grant", "--json", "-p", path_str(&draft_path)];
        grant.extend_from_slice(&["--owner-key-file", path_str(&owner_file)]);
        grant.extend_from_slice(&common);
        let granted = json(&keyscope(&grant));
        assert_eq!(granted["op"]["success"], true, "{granted}");
        assert_str_contains(&granted, "/summary", description);

        // The session signer's file signs the mint.
        let rest = [
            &[
                "--json",
                "--to",
                game.as_str(),
                "--sig",
                "mint(address)",
                account.as_str(),
            ][..],
            &common,
        ]
        .concat();
        let sent = json(&keyscope_with(
            &session_op("send", &draft_path, &keystore, &rest),
            &[("KEYSCOPE_PASSWORD", PASSWORD)],
        ));
        assert_eq!(sent["op"]["success"], true, "{name}: {sent}");
        let balance = items
            .balanceOf(account.parse().unwrap())
            .call()
            .await
            .unwrap();
        assert_eq!(balance, keyscope::alloy::primitives::U256::from(minted + 1));
    }

    // Another key's file is refused offline, naming both signers.
    let rest = [
        &[
            "--to",
            game.as_str(),
            "--sig",
            "mint(address)",
            account.as_str(),
        ][..],
        &common,
    ]
    .concat();
    let wrong = keyscope_with(
        &session_op(
            "send",
            &dir.join("p256.permissions.json"),
            &dir.join("passkey.json"),
            &rest,
        ),
        &[("KEYSCOPE_PASSWORD", PASSWORD)],
    );
    assert_error(
        &wrong,
        1,
        &["WebAuthn signer", "is not the session's signer"],
    );
    // Flags of another kind, and a multisig without members, are refused.
    assert_error(
        &new_keystore(
            "session",
            &dir.join("bad.json"),
            &password,
            &["--kind", "p256", "--threshold", "1"],
        ),
        1,
        &["--kind multisig"],
    );
    assert_error(
        &new_keystore(
            "session",
            &dir.join("bad.json"),
            &password,
            &["--kind", "multisig"],
        ),
        1,
        &["--member FILE"],
    );
    assert_error(
        &new_keystore(
            "session",
            &dir.join("bad.json"),
            &password,
            &[
                "--kind",
                "multisig",
                "--member",
                path_str(&member_a),
                "--threshold",
                "2",
            ],
        ),
        1,
        &["threshold 2 is above the members' total weight 1"],
    );
    // A multisig file never replaces one of its members' key files, whatever the spelling of the path.
    let before = std::fs::read_to_string(&member_a).unwrap();
    let same = dir.join(".").join("member-a.json");
    assert_error(
        &new_keystore(
            "session",
            &same,
            &password,
            &[
                "--kind",
                "multisig",
                "--member",
                path_str(&member_a),
                "--force",
            ],
        ),
        1,
        &["is a member's key file"],
    );
    assert_eq!(std::fs::read_to_string(&member_a).unwrap(), before);
    assert_error(
        &new_keystore(
            "session",
            &dir.join("bad.json"),
            &password,
            &[
                "--kind",
                "multisig",
                "--member",
                &format!("{}:", path_str(&member_a)),
            ],
        ),
        2,
        &["no weight after the colon"],
    );
}
