//! Quickstart for integrators: a session key that may transfer at most 100 units of one token, end to end.
//!
//! ```sh
//! cargo run -p keyscope --example quickstart                        # starts the pinned anvil itself
//! RPC_URL=http://127.0.0.1:8545 cargo run -p keyscope --example quickstart   # or uses your dev node
//! ```
//!
//! 1. deploy (or detect) the Keyscope stack and a demo token;
//! 2. create the owner's ERC-7579 account with the `SessionKeyValidator` installed;
//! 3. the owner grants a session from a permission document (JSON), fee scope included;
//! 4. the session key transfers with no owner signature, within the fee scope (shown: charged, left);
//! 5. `explain` names the rule an out-of-scope operation breaks, before anything is sent.

use std::path::PathBuf;

use keyscope::alloy::node_bindings::{Anvil, AnvilInstance};
use keyscope::alloy::primitives::{Address, U256};
use keyscope::alloy::providers::{Provider, ProviderBuilder};
use keyscope::alloy::signers::local::PrivateKeySigner;
use keyscope::alloy::sol_types::SolCall;
use keyscope::bindings::DemoToken;
use keyscope::permissions::SessionSpec;
use keyscope::signer::SessionKey;
use keyscope::{Client, SessionCall, Stack, Version};

/// anvil's first dev key: the client's sender, sending every transaction (it bundles the operations itself).
const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A node: $RPC_URL, or the anvil pinned in node_modules (kept alive until the end of main).
    let (_anvil, url): (Option<AnvilInstance>, String) = match std::env::var("RPC_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let pinned = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
            let anvil = if pinned.exists() {
                Anvil::at(pinned)
            } else {
                Anvil::new()
            }
            .try_spawn()?;
            let url = anvil.endpoint();
            (Some(anvil), url)
        }
    };
    let sender_key: PrivateKeySigner = DEV_KEY.parse()?;
    let sender = sender_key.address();
    let provider = ProviderBuilder::new()
        .wallet(sender_key)
        .connect_http(url.parse()?)
        .erased();

    // 1. The stack (both EntryPoints at their canonical addresses, the validator, account factories).
    let (stack, _) = Stack::deploy_or_detect(&provider, sender).await?;
    let client = Client::new(provider.clone(), stack, sender).await?;
    let token = *DemoToken::deploy(provider.clone()).await?.address();
    println!(
        "stack ready; SessionKeyValidator at {}",
        client.stack().session_key_validator
    );

    // 2. The owner's account on EntryPoint v0.7, funded for gas and holding 1,000 tokens.
    let owner = SessionKey::generate();
    let account = client
        .create_account(owner.address(), U256::ZERO, Version::V07)
        .await?;
    client
        .fund(account.address, U256::from(10u128.pow(17)))
        .await?;
    DemoToken::new(token, provider.clone())
        .mint(account.address, U256::from(1_000))
        .send()
        .await?
        .get_receipt()
        .await?;
    println!("account {}", account.address);

    // 3. The owner grants a one-day session: `transfer` on this token only, at most 100 units per call, self-paid
    //    (no paymaster), and a fee scope: each operation may cost at most 0.005 ETH, all of them 0.02 ETH (each
    //    counted at its maximum, gas limits × maxFeePerGas), so a leaked key cannot drain the account in fees.
    let session_key = SessionKey::generate();
    let now = provider
        .get_block_by_number(Default::default())
        .await?
        .map_or(0, |b| b.header.timestamp);
    let spec = format!(
        r#"{{ "signer": "{}", "valid_until": {}, "paymaster": "none",
              "fees": {{ "per_operation": "0.005 ether", "budget": "0.02 ether" }},
              "permissions": [{{ "target": "{token}", "function": "transfer(address to,uint256 amount)",
                                 "rules": [{{ "arg": "amount", "op": "lte", "value": "100" }}] }}] }}"#,
        session_key.address(),
        now + 86_400
    );
    let session = SessionSpec::compile_json(&spec)?;
    client
        .grant_session(&account, &owner, &session.session)
        .await?;
    println!("session {} granted", session.session_id());

    // 4. The session key transfers 100 tokens: no owner signature.
    let friend = Address::repeat_byte(0x42);
    let transfer = |amount: u64| {
        let data = DemoToken::transferCall {
            to: friend,
            value: U256::from(amount),
        }
        .abi_encode();
        SessionCall::new(token, data, 0)
    };
    let outcome = client
        .send_session_op(&account, &session_key, &session, &[transfer(100)])
        .await?;
    println!(
        "transferred 100: userOp {} in tx {}, gas {}",
        outcome.user_op_hash, outcome.tx_hash, outcome.gas_used
    );
    // What the validator charged the session (the operation's maximum cost), and what is left of its budget.
    let fees = client.fee_usage(&account, &session.session).await?;
    println!("session fees: {fees}");
    if fees.charged.is_zero() || fees.left() >= fees.budget() {
        return Err(format!("expected the transfer to be charged, got: {fees}").into());
    }

    // 5. 101 tokens breaks the amount rule: explain says so off-chain, before anything is sent.
    let too_much = client
        .prepare_session_op(&account, &session_key, &session, &[transfer(101)])
        .await?;
    let explanation = client.explain(&too_much.op, too_much.version, None).await?;
    println!("transfer of 101: {}", explanation.verdict);
    if explanation.verdict.aa_code() != Some("AA23") {
        return Err(format!(
            "expected the amount rule to reject the op, got: {}",
            explanation.verdict
        )
        .into());
    }
    Ok(())
}
