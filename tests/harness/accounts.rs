//! Accounts, tokens and grants: what a test sets up on the chain before its session operations.

use alloy::primitives::aliases::U192;
use alloy::primitives::{Address, U256};
use keyscope::bindings::DemoToken;
use keyscope::permissions::CompiledSession;
use keyscope::{nonce_key, session_lane, Account, Client, GasSettings, OwnerSigner, Version};

/// One ether, in wei.
pub const ETHER: u128 = 1_000_000_000_000_000_000;

/// One gwei, in wei.
pub const GWEI: u128 = 1_000_000_000;

/// Deploys a `DemoToken` (anyone may mint) and returns its address.
pub async fn deploy_token(client: &Client) -> Address {
    *DemoToken::deploy(client.provider().clone())
        .await
        .unwrap()
        .address()
}

/// Mints `amount` of `token` to `to`, and waits for the receipt.
pub async fn mint_tokens(client: &Client, token: Address, to: Address, amount: u64) {
    DemoToken::new(token, client.provider().clone())
        .mint(to, U256::from(amount))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
}

/// `token.balanceOf(who)`.
pub async fn balance(client: &Client, token: Address, who: Address) -> U256 {
    DemoToken::new(token, client.provider().clone())
        .balanceOf(who)
        .call()
        .await
        .unwrap()
}

/// Creates the account of `owner` on EntryPoint `version` with `salt`, sends it 1 ETH, and deposits `deposit`
/// wei for it in the EntryPoint; with no deposit, the account pays its operations' prefund from its balance.
pub async fn funded_account(
    client: &Client,
    owner: Address,
    version: Version,
    salt: u64,
    deposit: Option<u128>,
) -> Account {
    let account = client
        .create_account(owner, U256::from(salt), version)
        .await
        .unwrap();
    client
        .fund(account.address, U256::from(ETHER))
        .await
        .unwrap();
    if let Some(deposit) = deposit {
        client.deposit(&account, U256::from(deposit)).await.unwrap();
    }
    account
}

/// Grants `session` on `account` by an owner operation the client sends itself, and asserts that it succeeded.
pub async fn grant(
    client: &Client,
    account: &Account,
    owner: &OwnerSigner,
    session: &CompiledSession,
) {
    let outcome = client
        .grant_session(account, owner, &session.session)
        .await
        .unwrap();
    assert!(outcome.success, "granting failed: {outcome:?}");
}

/// The nonce key of `session`'s lane (SessionKeyValidator ‖ lane): the nonce of its operations is this key ‖ a
/// sequence.
pub fn lane_key(client: &Client, session: &CompiledSession) -> U192 {
    nonce_key(
        client.stack().session_key_validator,
        session_lane(session.session_id()),
    )
}

/// The client's default gas settings with fixed fees (`maxPriorityFeePerGas`, `maxFeePerGas`), in wei.
pub fn fixed_fees(max_priority_fee_per_gas: u128, max_fee_per_gas: u128) -> GasSettings {
    GasSettings {
        max_priority_fee_per_gas: Some(max_priority_fee_per_gas),
        max_fee_per_gas: Some(max_fee_per_gas),
        ..GasSettings::default()
    }
}
