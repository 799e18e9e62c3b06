//! `keyscope demo`: the seed use cases end to end, the flows of `contracts/test/demo/SeedDemos.t.sol`, with the
//! policies of `contracts/src/demo/DemoPolicies.sol`:
//!
//! - game, gasless, signed by a passkey: the game's session signer is a WebAuthn P-256 credential (a software
//!   authenticator, relying party `game.example`; the session commits to its public key by address, and each
//!   session operation carries a WebAuthn assertion over its userOpHash). A one-hour session whose only permission
//!   is `GameItems.mint(address)` on one collection, only with the stack's `SponsorPaymaster` paying (paymaster
//!   policy `Exactly`), with a fee scope of 0.01 ETH per operation and 0.05 ETH in all; the passkey mints two items
//!   with no owner signature, sponsored through `keyscope-rpc`'s ERC-7677 methods (the account pays nothing; the
//!   validator still charges each its maximum cost); its `DemoToken.transfer` is refused (`TargetNotAllowed`); a
//!   mint signed with the leaked passkey's key (a valid assertion), with a huge `preVerificationGas` and
//!   `maxFeePerGas` to drain the account through fees, is refused (`OperationFeeExceeded`);
//! - trading: the trading service's secp256k1 session key may only call `NftMarketplace.buy`, sending at most the
//!   user's 1 ETH threshold per purchase (the permission's `valueLimit`: the price is the call's value); it buys an
//!   item listed at 0.5 ETH, and is refused one listed at 2 ETH (`ValueLimitExceeded`) and any other function
//!   (`SelectorNotAllowed`);
//! - expiry: anvil's clock moves past the hour (`evm_increaseTime` + `evm_mine`) and both signers are refused
//!   (`AA22 expired or not due`).
//!
//! One difference from `SeedDemos.t.sol`: there the game's session key is a secp256k1 key (its flows and policies
//! are the same). Each step that sends a user operation reports who signed it (`signed_by`, and `signer_kind`:
//! `secp256k1` for the owners' grants and the trading key, `WebAuthn` for the game's passkey).

mod report;
mod scenario;

use std::time::Instant;

use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use anyhow::{anyhow, bail, Context as _, Result};
use clap::Args;
use keyscope::bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;
use keyscope::bindings::{DemoToken, GameItems, NftMarketplace};
use keyscope::fees::{ether as eth, gwei};
use keyscope::permissions::{PaymasterSpec, PermissionSpec, SummaryOptions};
use keyscope::signer::{
    verify_session_signature, P256Key, SessionKey, SessionSignature, SessionSigner,
    WebAuthnAuthenticator,
};
use keyscope::{max_operation_cost, Client, SessionCall, Stack, Version};
use serde_json::{json, Value};

use crate::node::{self, parse_version, version_name, Node};
use crate::output::{self, short};
use crate::Global;

use report::{describe_signer, details, ether, step, Demo, Denial, Details, SignedBy};
use scenario::{check_tx, leaked_key_resign, new_account, session, window, Sponsor};

/// One ether in wei.
const ETHER: u128 = 1_000_000_000_000_000_000;
/// How long the seed sessions last (`DemoPolicies.SESSION_DURATION`).
const SESSION_SECONDS: u64 = 3600;
/// The trading user's price threshold (`DemoPolicies.TRADING_THRESHOLD`).
const THRESHOLD: u128 = ETHER;
/// Listing prices: under and over the threshold.
const CHEAP_PRICE: u128 = ETHER / 2;
const PRICEY_PRICE: u128 = 2 * ETHER;
/// ETH given to the accounts and the seller (as in `contracts/test/demo/SeedDemos.t.sol`).
const GAME_ACCOUNT_FUNDS: u128 = ETHER / 10;
const TRADING_ACCOUNT_FUNDS: u128 = 5 * ETHER / 2;
const SELLER_GAS_FUNDS: u128 = ETHER / 20;
/// The seed sessions' fee scope: at most 0.01 ETH per operation, 0.05 ETH in all.
const FEE_PER_OPERATION: u128 = ETHER / 100;
const FEE_BUDGET: u128 = ETHER / 20;
/// What a leaked key puts in an operation to drain the account through fees: 5,000,000 gas of
/// preVerificationGas at 100 gwei.
const DRAIN_PRE_VERIFICATION_GAS: u64 = 5_000_000;
const DRAIN_FEE_PER_GAS: u128 = 100_000_000_000;
/// The game sponsor's deposit in the EntryPoint.
const SPONSOR_DEPOSIT: u128 = ETHER;
/// The relying party and origin of the game's passkey (a software WebAuthn authenticator).
const GAME_RP_ID: &str = "game.example";
const GAME_ORIGIN: &str = "https://game.example";

/// `keyscope demo` arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Use this node (http://) instead of starting anvil. Its clock must move (evm_increaseTime) for the expiry
    /// steps.
    #[arg(long, value_name = "URL")]
    rpc_url: Option<String>,
    /// With --rpc-url: private key (hex) of a funded account that deploys, funds and sends handleOps (about 3 ETH
    /// needed). Prefer the environment variable. Default on chain 31337: anvil's first key.
    #[arg(
        long,
        env = "KEYSCOPE_PRIVATE_KEY",
        hide_env_values = true,
        value_name = "HEX"
    )]
    private_key: Option<String>,
    /// The EntryPoint version of the demo's accounts: v0.7 or v0.8.
    #[arg(long, default_value = "v0.7", value_parser = parse_version, value_name = "VERSION")]
    entry_point: Version,
    /// Leave the anvil started by the demo running afterwards (its URL and pid are printed on stderr).
    #[arg(long, conflicts_with = "rpc_url")]
    keep_anvil: bool,
}

/// `keyscope demo`.
pub async fn run(args: DemoArgs, global: Global) -> Result<()> {
    let started = Instant::now();
    let mut demo = Demo {
        global,
        steps: vec![],
    };
    let mut anvil = None;
    let result = run_steps(&args, &mut demo, &mut anvil).await;
    if let Err(error) = &result {
        demo.abort(error);
    }
    if global.json {
        output::print_json(&demo.steps)?;
    }
    if let Some(instance) = anvil {
        if args.keep_anvil {
            eprintln!(
                "anvil stays up at {} (pid {}; stop it with: kill {})",
                instance.endpoint(),
                instance.child().id(),
                instance.child().id()
            );
            // The instance kills its process on drop: keep it alive past this process.
            std::mem::forget(instance);
        }
    }
    if let Err(error) = result {
        return Err(error.context("the demo stopped"));
    }
    let failures = demo.failures();
    if failures > 0 {
        bail!(
            "demo: {failures} of {} step(s) did not go as expected",
            demo.steps.len()
        );
    }
    if !global.json {
        if !global.quiet {
            println!(
                "\nGas: handleOps gasUsed is the bundler's transaction; a userOp's actualGasUsed is what its account \
                 pays for (preVerificationGas included)."
            );
        }
        println!(
            "{}Seed demo OK: {} steps as expected on EntryPoint {} in {:.1} s.",
            if global.quiet { "" } else { "\n" },
            demo.steps.len(),
            version_name(args.entry_point),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

async fn run_steps(
    args: &DemoArgs,
    demo: &mut Demo,
    anvil: &mut Option<alloy::node_bindings::AnvilInstance>,
) -> Result<()> {
    let version = args.entry_point;
    // ---- setup --------------------------------------------------------------------------------------------
    let node = match &args.rpc_url {
        Some(url) => Node::connect_url(node::parse_url(url)?, args.private_key.as_deref()).await?,
        None => {
            let instance = node::spawn_anvil()?;
            let url = instance.endpoint_url();
            *anvil = Some(instance);
            Node::connect_url(url, None).await?
        }
    };
    let block = node.provider.get_block_number().await?;
    demo.done(
        "setup",
        match anvil {
            Some(_) => format!("started anvil at {}", node.url),
            None => format!("connected to {}", node.url),
        },
        details(&[
            ("chain_id", json!(node.chain_id)),
            ("block", json!(block)),
            ("bundler", json!(node.sender.to_string())),
            (
                "bundler_balance",
                json!(output::ether_text(node.balance(node.sender).await?)),
            ),
        ]),
    );

    let (stack, report) = Stack::deploy_or_detect(&node.provider, node.sender)
        .await
        .context("deploying the Keyscope stack")?;
    let deployed = report.iter().filter(|d| !d.existed).count();
    demo.done(
        "setup",
        format!(
            "Keyscope stack: {deployed} contract(s) deployed, {} found (CREATE2, deterministic addresses)",
            report.len() - deployed
        ),
        report
            .iter()
            .map(|d| (d.name.clone(), json!(d.address.to_string())))
            .collect(),
    );
    let client = Client::new(node.provider.clone(), stack.clone(), node.sender).await?;

    let game_items = *GameItems::deploy(&node.provider)
        .await
        .context("deploying GameItems")?
        .address();
    let token = *DemoToken::deploy(&node.provider)
        .await
        .context("deploying DemoToken")?
        .address();
    let marketplace = *NftMarketplace::deploy(&node.provider)
        .await
        .context("deploying NftMarketplace")?
        .address();
    demo.done(
        "setup",
        "demo contracts deployed".into(),
        details(&[
            ("GameItems", json!(game_items.to_string())),
            ("DemoToken", json!(token.to_string())),
            ("NftMarketplace", json!(marketplace.to_string())),
        ]),
    );
    let items = GameItems::new(game_items, &node.provider);
    let sponsor = Sponsor::start(&node, &stack, version).await?;
    demo.done(
        "setup",
        format!(
            "the game's sponsor: SponsorPaymaster with {} deposited, keyscope-rpc serving ERC-7677 pm_* at {}",
            ether(SPONSOR_DEPOSIT),
            sponsor.service.url()
        ),
        details(&[("paymaster", json!(sponsor.paymaster.to_string()))]),
    );
    // The game's operations go through the sponsor: it fills their paymaster fields before the game's key signs.
    let game_client = client.clone().with_paymaster(sponsor.client()?);

    // ---- game ---------------------------------------------------------------------------------------------
    let player = SessionKey::generate();
    // The game's session signer is a passkey: a WebAuthn P-256 credential, here of a software authenticator. The
    // session commits to it by address (the keccak256 commitment to its public key); every session operation
    // carries a WebAuthn assertion over its userOpHash.
    let game_passkey = SessionSigner::from(WebAuthnAuthenticator::new(
        P256Key::generate(),
        GAME_RP_ID,
        GAME_ORIGIN,
    ));
    let game_signed = SignedBy::session("the game's", &game_passkey);
    let game_account = new_account(&client, &player, version, GAME_ACCOUNT_FUNDS).await?;
    demo.done(
        "game",
        format!(
            "the player's account on EntryPoint {} (owner ECDSA validator + SessionKeyValidator), funded with {}",
            version_name(version),
            ether(GAME_ACCOUNT_FUNDS)
        ),
        details(&[
            ("owner", json!(player.address().to_string())),
            ("account", json!(game_account.address.to_string())),
        ]),
    );

    // DemoPolicies.gameMint: GameItems.mint(address) on this collection, no value.
    let mint_permission = PermissionSpec::call(game_items, "mint(address to)");
    let (game_spec, game_session) = session(
        &game_passkey,
        window(&node).await?,
        mint_permission,
        PaymasterSpec::Exactly(sponsor.paymaster),
    )?;
    let outcome = client
        .grant_session(&game_account, &player, &game_session.session)
        .await
        .context("granting the game session")?;
    demo.expect_success(
        "game",
        "the player grants the game's passkey a one-hour session: GameItems.mint only, paid by the sponsor only"
            .into(),
        &SignedBy::owner("the player's"),
        &outcome,
        details(&[
            ("session_signer", json!(describe_signer(&game_passkey))),
            ("signer_address", json!(game_passkey.address()?.to_string())),
            ("session_id", json!(game_session.session_id().to_string())),
            (
                "policy",
                json!(game_spec.summary(&SummaryOptions::default())?.trim_end()),
            ),
        ]),
        &[],
    );

    let owner_lane = client.account_kind().owner_nonce_key();
    let owner_nonce = client.nonce(&game_account, owner_lane).await?;
    // What the validator charges the session: each operation's maximum cost.
    let mut max_costs = U256::ZERO;
    let paymaster_account = keyscope::Account {
        address: sponsor.paymaster,
        version,
    };
    for _ in 0..2 {
        let account_funds = (
            node.balance(game_account.address).await?,
            client.deposit_of(&game_account).await?,
        );
        let sponsor_deposit = client.deposit_of(&paymaster_account).await?;
        let item = items.nextTokenId().call().await?;
        let mint = GameItems::mintCall {
            to: game_account.address,
        }
        .abi_encode();
        let op = game_client
            .prepare_session_op(
                &game_account,
                &game_passkey,
                &game_session,
                &[SessionCall::new(game_items, mint, 0)],
            )
            .await
            .with_context(|| format!("preparing the mint of item #{item}"))?;
        max_costs += max_operation_cost(&op.op);
        let outcome = client
            .send(&op)
            .await
            .with_context(|| format!("minting item #{item}"))?;
        let owned = items.ownerOf(item).call().await.ok() == Some(game_account.address);
        let owner_untouched = client.nonce(&game_account, owner_lane).await? == owner_nonce;
        let account_paid_nothing = (
            node.balance(game_account.address).await?,
            client.deposit_of(&game_account).await?,
        ) == account_funds;
        let sponsor_paid = client.deposit_of(&paymaster_account).await? < sponsor_deposit;
        demo.expect_success(
            "game",
            format!(
                "the game's passkey mints item #{item}, no owner signature, gas paid by the sponsor"
            ),
            &game_signed,
            &outcome,
            Details::new(),
            &[
                ("item_owned_by_account", owned),
                ("owner_nonce_unchanged", owner_untouched),
                ("account_paid_nothing", account_paid_nothing),
                ("sponsor_paid", sponsor_paid),
            ],
        );
    }

    let transfer = DemoToken::transferCall {
        to: node.sender,
        value: U256::from(1),
    }
    .abi_encode();
    let op = game_client
        .prepare_session_op(
            &game_account,
            &game_passkey,
            &game_session,
            &[SessionCall::new(token, transfer, 0)],
        )
        .await?;
    let target_check = |e: &SessionKeyValidatorErrors| {
        matches!(e, SessionKeyValidatorErrors::TargetNotAllowed(e)
            if e.target == token && e.allowed == game_items)
    };
    demo.expect_denied(
        &client,
        "game",
        "the game's passkey calls DemoToken.transfer (out of scope)".into(),
        &game_signed,
        op,
        Denial {
            code: "AA23",
            validator_error: Some(("TargetNotAllowed", &target_check)),
        },
    )
    .await;

    // A leaked key (here the passkey's P-256 private key, copied off the authenticator) signs an in-scope mint, but
    // with gas fields that would make the account pay the key's holder (as its own bundler, the handleOps
    // beneficiary) far more than the operation needs: the signature is valid, the fee scope stops it.
    let usage = client
        .fee_usage(&game_account, &game_session.session)
        .await?;
    let mint = GameItems::mintCall {
        to: game_account.address,
    }
    .abi_encode();
    let op = game_client
        .prepare_session_op(
            &game_account,
            &game_passkey,
            &game_session,
            &[SessionCall::new(game_items, mint, 0)],
        )
        .await?;
    let op = leaked_key_resign(&client, op, &game_passkey)?;
    // The validator checks the fee scope before the signature: check here (with the signer crate's bit-exact mirror
    // of the on-chain rule) that the refused operation carries the passkey's valid assertion.
    let leaked_signature_valid = verify_session_signature(
        &op.user_op_hash,
        game_passkey.address()?,
        &SessionSignature::decode(&op.op.signature)?.session_signature,
    )
    .is_valid();
    let drain_cost = max_operation_cost(&op.op);
    let fee_check = |e: &SessionKeyValidatorErrors| {
        matches!(e, SessionKeyValidatorErrors::OperationFeeExceeded(e)
            if e.fee == drain_cost && e.limit == U256::from(FEE_PER_OPERATION))
    };
    demo.expect_denied_with(
        &client,
        "game",
        format!(
            "a leaked game passkey signs a mint that may cost {} ({DRAIN_PRE_VERIFICATION_GAS} gas of \
             preVerificationGas at {}): over the session's fee bound",
            eth(drain_cost),
            gwei(DRAIN_FEE_PER_GAS)
        ),
        &game_signed,
        op,
        Denial {
            code: "AA23",
            validator_error: Some(("OperationFeeExceeded", &fee_check)),
        },
        details(&[
            ("max_cost", json!(eth(drain_cost))),
            (
                "per_operation_bound",
                json!(eth(U256::from(FEE_PER_OPERATION))),
            ),
            ("session_fees", json!(usage.to_string())),
        ]),
        &[
            ("leaked_passkey_signature_valid", leaked_signature_valid),
            (
                "fees_charged_are_the_mints_max_costs",
                usage.charged == max_costs,
            ),
        ],
    )
    .await;

    // ---- trading ------------------------------------------------------------------------------------------
    let seller = SessionKey::generate();
    client
        .fund(seller.address(), U256::from(SELLER_GAS_FUNDS))
        .await
        .context("funding the seller")?;
    let seller_provider = node::provider(&node.url, Some(node::signer_of(&seller)?))?;
    let mut listed = vec![];
    for price in [CHEAP_PRICE, PRICEY_PRICE, CHEAP_PRICE] {
        let item = items.nextTokenId().call().await?;
        check_tx(
            items
                .mint(seller.address())
                .send()
                .await?
                .get_receipt()
                .await?,
            "mint to the seller",
        )?;
        listed.push((item, price));
    }
    let seller_items = GameItems::new(game_items, &seller_provider);
    check_tx(
        seller_items
            .setApprovalForAll(marketplace, true)
            .send()
            .await?
            .get_receipt()
            .await?,
        "setApprovalForAll",
    )?;
    let seller_market = NftMarketplace::new(marketplace, &seller_provider);
    for (item, price) in &listed {
        check_tx(
            seller_market
                .list(game_items, *item, U256::from(*price))
                .send()
                .await?
                .get_receipt()
                .await?,
            "list",
        )?;
    }
    let [(cheap, _), (pricey, _), (spare, _)] = listed[..] else {
        bail!("three listings expected");
    };
    demo.done(
        "trading",
        format!(
            "a seller lists item #{cheap} at {}, item #{pricey} at {} and item #{spare} at {}",
            ether(CHEAP_PRICE),
            ether(PRICEY_PRICE),
            ether(CHEAP_PRICE)
        ),
        details(&[("seller", json!(seller.address().to_string()))]),
    );

    let trader = SessionKey::generate();
    let trading_key = SessionSigner::from(SessionKey::generate());
    let trading_signed = SignedBy::session("the trading service's", &trading_key);
    let trading_account = new_account(&client, &trader, version, TRADING_ACCOUNT_FUNDS).await?;
    demo.done(
        "trading",
        format!(
            "the trader's account on EntryPoint {}, funded with {}",
            version_name(version),
            ether(TRADING_ACCOUNT_FUNDS)
        ),
        details(&[
            ("owner", json!(trader.address().to_string())),
            ("account", json!(trading_account.address.to_string())),
        ]),
    );

    // DemoPolicies.marketplaceBuy: NftMarketplace.buy, at most the threshold in value per call.
    let mut buy_permission =
        PermissionSpec::call(marketplace, "buy(address collection,uint256 tokenId)");
    buy_permission.value_limit = Some(U256::from(THRESHOLD));
    let (trading_spec, trading_session) = session(
        &trading_key,
        window(&node).await?,
        buy_permission,
        PaymasterSpec::None,
    )?;
    let outcome = client
        .grant_session(&trading_account, &trader, &trading_session.session)
        .await
        .context("granting the trading session")?;
    demo.expect_success(
        "trading",
        format!(
            "the trader grants the trading service's key NftMarketplace.buy, at most {} per purchase",
            ether(THRESHOLD)
        ),
        &SignedBy::owner("the trader's"),
        &outcome,
        details(&[
            ("session_signer", json!(describe_signer(&trading_key))),
            ("signer_address", json!(trading_key.address()?.to_string())),
            (
                "session_id",
                json!(trading_session.session_id().to_string()),
            ),
            (
                "policy",
                json!(trading_spec.summary(&SummaryOptions::default())?.trim_end()),
            ),
        ]),
        &[],
    );

    let buy = |item: U256, price: u128| SessionCall {
        target: marketplace,
        value: U256::from(price),
        data: NftMarketplace::buyCall {
            collection: game_items,
            tokenId: item,
        }
        .abi_encode()
        .into(),
        permission: 0,
    };
    let seller_before = node.balance(seller.address()).await?;
    let outcome = client
        .send_session_op(
            &trading_account,
            &trading_key,
            &trading_session,
            &[buy(cheap, CHEAP_PRICE)],
        )
        .await
        .with_context(|| format!("buying item #{cheap}"))?;
    let owned = items.ownerOf(cheap).call().await.ok() == Some(trading_account.address);
    let paid = node.balance(seller.address()).await? == seller_before + U256::from(CHEAP_PRICE);
    demo.expect_success(
        "trading",
        format!(
            "the service's key buys item #{cheap} for {} (under the threshold)",
            ether(CHEAP_PRICE)
        ),
        &trading_signed,
        &outcome,
        Details::new(),
        &[("item_owned_by_account", owned), ("seller_paid", paid)],
    );

    let op = client
        .prepare_session_op(
            &trading_account,
            &trading_key,
            &trading_session,
            &[buy(pricey, PRICEY_PRICE)],
        )
        .await?;
    let value_check = |e: &SessionKeyValidatorErrors| {
        matches!(e, SessionKeyValidatorErrors::ValueLimitExceeded(e)
            if e.value == U256::from(PRICEY_PRICE) && e.limit == U256::from(THRESHOLD))
    };
    demo.expect_denied(
        &client,
        "trading",
        format!(
            "the service's key tries to buy item #{pricey} for {} (over the threshold)",
            ether(PRICEY_PRICE)
        ),
        &trading_signed,
        op,
        Denial {
            code: "AA23",
            validator_error: Some(("ValueLimitExceeded", &value_check)),
        },
    )
    .await;

    let relist = NftMarketplace::listCall {
        collection: game_items,
        tokenId: cheap,
        price: U256::from(3 * ETHER),
    }
    .abi_encode();
    let op = client
        .prepare_session_op(
            &trading_account,
            &trading_key,
            &trading_session,
            &[SessionCall::new(marketplace, relist, 0)],
        )
        .await?;
    let selector_check = |e: &SessionKeyValidatorErrors| {
        matches!(e, SessionKeyValidatorErrors::SelectorNotAllowed(e)
            if e.selector == NftMarketplace::listCall::SELECTOR
                && e.allowed == NftMarketplace::buyCall::SELECTOR)
    };
    demo.expect_denied(
        &client,
        "trading",
        format!("the service's key tries to relist item #{cheap} (another function)"),
        &trading_signed,
        op,
        Denial {
            code: "AA23",
            validator_error: Some(("SelectorNotAllowed", &selector_check)),
        },
    )
    .await;

    // ---- expiry -------------------------------------------------------------------------------------------
    let valid_until = game_session
        .session
        .validUntil
        .to::<u64>()
        .max(trading_session.session.validUntil.to::<u64>());
    let _: Value = node
        .provider
        .raw_request("evm_increaseTime".into(), (SESSION_SECONDS + 1,))
        .await
        .map_err(|e| {
            anyhow!(
                "this node cannot move its clock (evm_increaseTime: {}); the expiry steps need anvil",
                short(&e)
            )
        })?;
    let _: Value = node
        .provider
        .raw_request("evm_mine".into(), ())
        .await
        .map_err(|e| anyhow!("evm_mine: {}", short(&e)))?;
    let now = node
        .provider
        .get_block_by_number(Default::default())
        .await?
        .ok_or_else(|| anyhow!("the node has no latest block"))?
        .header
        .timestamp;
    let mut moved = step(
        "expiry",
        format!(
            "the chain's clock moves {SESSION_SECONDS} + 1 s forward (evm_increaseTime + evm_mine)"
        ),
        "ok".into(),
    );
    moved.details = details(&[
        ("block_time", json!(now)),
        ("sessions_valid_until", json!(valid_until)),
        ("past_sessions_end", json!(now > valid_until)),
    ]);
    if now <= valid_until {
        moved.passed = false;
        moved.outcome = "failed";
        moved.problem = Some("the block time is not past the sessions' end".into());
    }
    demo.push(moved);

    let mint = GameItems::mintCall {
        to: game_account.address,
    }
    .abi_encode();
    let op = game_client
        .prepare_session_op(
            &game_account,
            &game_passkey,
            &game_session,
            &[SessionCall::new(game_items, mint, 0)],
        )
        .await?;
    demo.expect_denied(
        &client,
        "expiry",
        "the game's passkey tries to mint after its hour".into(),
        &game_signed,
        op,
        Denial {
            code: "AA22",
            validator_error: None,
        },
    )
    .await;
    let op = client
        .prepare_session_op(
            &trading_account,
            &trading_key,
            &trading_session,
            &[buy(spare, CHEAP_PRICE)],
        )
        .await?;
    demo.expect_denied(
        &client,
        "expiry",
        format!(
            "the service's key tries to buy item #{spare} for {} (under the threshold) after its hour",
            ether(CHEAP_PRICE)
        ),
        &trading_signed,
        op,
        Denial {
            code: "AA22",
            validator_error: None,
        },
    )
    .await;
    // Nothing the refused operations tried happened.
    let items_held = items.balanceOf(game_account.address).call().await?;
    let spare_listed = NftMarketplace::new(marketplace, &node.provider)
        .getListing(game_items, spare)
        .call()
        .await?
        .price
        == U256::from(CHEAP_PRICE);
    let pricey_listed = items.ownerOf(pricey).call().await? == seller.address();
    let mut state = step(
        "expiry",
        "on chain: only the allowed operations took effect".into(),
        "ok".into(),
    );
    let checks = [
        ("game_account_holds_2_items", items_held == U256::from(2)),
        ("pricey_item_still_with_the_seller", pricey_listed),
        ("spare_item_still_listed", spare_listed),
    ];
    for (check, held) in checks {
        state.details.push((check.into(), json!(held)));
        if !held {
            state.passed = false;
            state.outcome = "failed";
            state.problem = Some(format!("check failed: {check}"));
        }
    }
    demo.push(state);
    Ok(())
}
