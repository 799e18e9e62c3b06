//! Message signatures by a session key on anvil: EIP-712 typed data a session signs for its account, checked
//! through the account's ERC-1271 `isValidSignature` (ERC-7739's nested `TypedDataSign`). A session whose tree
//! holds a typed-data leaf (`OfferBook`'s `Offer`, price at most 100 ether, collection the demo `GameItems`) signs an
//! offer, built from `eth_signTypedData_v4` JSON, with the SDK (`Client::sign_typed_data_for_session`); the account
//! answers the ERC-1271 magic value for the book's `offerDigest`, and the seller accepts the offer on-chain: the
//! NFT moves to the account and the price to the seller. Refused (0xffffffff through the account): a price above
//! the rule (the validator itself reverts with `ArgumentRuleFailed` on the price rule), the same signature checked by another account of the same owner where the session is granted too, and
//! a signature by a key that is not the session's. For a secp256k1 and a P-256 session signer; the gas of
//! `isValidSignature` (eth_estimateGas of the call) is printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use alloy::primitives::{keccak256, Address, Bytes, FixedBytes, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use keyscope::bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;
use keyscope::bindings::{DemoToken, GameItems, KeyscopeAccount, OfferBook, SessionKeyValidator};
use keyscope::permissions::abi::{u48, FLAG_TYPED_DATA, SELECTOR_TRANSFER};
use keyscope::permissions::{
    ArgRule, CompiledSession, Permission, PermissionTree, RuleOperator, Session,
};
use keyscope::signer::message::{
    AccountDomain, TypedData, TypedDataMessage, ERC1271_INVALID, ERC1271_MAGIC,
};
use keyscope::signer::{P256Key, SessionKey, SessionSigner};
use keyscope::{Account, Client, Version};
use keyscope_e2e::{anvil, funded_account, grant, now, ETHER};

const OFFER_TYPE: &str = "Offer(address buyer,address collection,uint256 tokenId,address currency,uint256 price,uint256 nonce,uint256 deadline)";

fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(ETHER)
}

/// The session: a typed-data leaf (Offers on `book` of `items` at most 100 ether) next to a call leaf, so that the
/// typed-data leaf has a proof.
fn offer_session(
    signer: Address,
    book: Address,
    items: Address,
    token: Address,
    t: u64,
) -> CompiledSession {
    let typed = Permission {
        target: book,
        flags: FLAG_TYPED_DATA,
        rules: vec![
            ArgRule {
                operator: RuleOperator::Eq as u8,
                argIndex: 0,
                operands: vec![keccak256(OFFER_TYPE)],
            },
            // member 2: collection
            ArgRule {
                operator: RuleOperator::Eq as u8,
                argIndex: 2,
                operands: vec![items.into_word()],
            },
            // member 5: price
            ArgRule {
                operator: RuleOperator::Lte as u8,
                argIndex: 5,
                operands: vec![B256::from(ether(100))],
            },
        ],
        ..Default::default()
    };
    let call = Permission {
        target: token,
        selector: SELECTOR_TRANSFER,
        ..Default::default()
    };
    let permissions = vec![call, typed];
    let tree = PermissionTree::from_permissions(&permissions).unwrap();
    CompiledSession {
        session: Session {
            signer,
            validAfter: u48(t - 1).unwrap(),
            validUntil: u48(t + 3600).unwrap(),
            permissionsRoot: tree.root(),
            paymasterPolicy: 0,
            paymaster: Address::ZERO,
            maxOperationFee: 10u128.pow(16),
            feeBudget: 10u128.pow(17),
            salt: B256::ZERO,
        },
        permissions,
        tree,
        warnings: vec![],
    }
}

/// `offer` in `eth_signTypedData_v4` form, for the book at `book` on chain `chain_id`.
fn typed_offer(book: Address, chain_id: u64, offer: &OfferBook::Offer) -> TypedData {
    let json = serde_json::json!({
        "types": {
            "EIP712Domain": [
                { "name": "name", "type": "string" },
                { "name": "version", "type": "string" },
                { "name": "chainId", "type": "uint256" },
                { "name": "verifyingContract", "type": "address" }
            ],
            "Offer": [
                { "name": "buyer", "type": "address" },
                { "name": "collection", "type": "address" },
                { "name": "tokenId", "type": "uint256" },
                { "name": "currency", "type": "address" },
                { "name": "price", "type": "uint256" },
                { "name": "nonce", "type": "uint256" },
                { "name": "deadline", "type": "uint256" }
            ]
        },
        "primaryType": "Offer",
        "domain": {
            "name": "Keyscope OfferBook",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": book.to_string()
        },
        "message": {
            "buyer": offer.buyer.to_string(),
            "collection": offer.collection.to_string(),
            "tokenId": offer.tokenId.to_string(),
            "currency": offer.currency.to_string(),
            "price": offer.price.to_string(),
            "nonce": offer.nonce.to_string(),
            "deadline": offer.deadline.to_string()
        }
    });
    serde_json::from_value(json).unwrap()
}

/// `account.isValidSignature(hash, signature)`.
async fn is_valid_signature(
    client: &Client,
    account: Address,
    hash: B256,
    signature: &Bytes,
) -> FixedBytes<4> {
    KeyscopeAccount::new(account, client.provider().clone())
        .isValidSignature(hash, signature.clone())
        .call()
        .await
        .unwrap()
}

/// The gas of `account.isValidSignature(hash, signature)` as a call (eth_estimateGas).
async fn is_valid_signature_gas(
    client: &Client,
    account: Address,
    hash: B256,
    signature: &Bytes,
) -> u64 {
    let data = KeyscopeAccount::isValidSignatureCall {
        hash,
        signature: signature.clone(),
    }
    .abi_encode();
    client
        .provider()
        .estimate_gas(TransactionRequest::default().to(account).input(data.into()))
        .await
        .unwrap()
}

/// Two accounts of one owner with the session granted on both.
async fn accounts(
    client: &Client,
    owner: &SessionKey,
    session: &CompiledSession,
    salt: u64,
) -> (Account, Account) {
    let first = funded_account(
        client,
        owner.address(),
        Version::V08,
        salt,
        Some(10u128.pow(17)),
    )
    .await;
    let second = funded_account(
        client,
        owner.address(),
        Version::V07,
        salt + 1,
        Some(10u128.pow(17)),
    )
    .await;
    grant(client, &first, owner, session).await;
    grant(client, &second, owner, session).await;
    (first, second)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_key_signs_offers_for_its_account() {
    let anvil = anvil();
    let client = keyscope_e2e::client(&anvil).await;
    let chain_id = client.chain_id();
    let deployer = client.provider().clone();
    let book = *OfferBook::deploy(deployer.clone()).await.unwrap().address();
    let items = *GameItems::deploy(deployer.clone()).await.unwrap().address();
    let currency = *DemoToken::deploy(deployer.clone()).await.unwrap().address();

    // the seller: anvil's second key, with its own provider
    let seller_key: PrivateKeySigner = anvil.keys()[1].clone().into();
    let seller = seller_key.address();
    let seller_provider = ProviderBuilder::new()
        .wallet(seller_key)
        .connect_http(anvil.endpoint_url())
        .erased();

    let mut gas = vec![];
    let kinds: Vec<(&str, SessionSigner, SessionSigner)> = vec![
        (
            "secp256k1",
            SessionKey::generate().into(),
            SessionKey::generate().into(),
        ),
        (
            "P-256",
            P256Key::generate().into(),
            P256Key::generate().into(),
        ),
    ];
    for (index, (name, signer, stranger)) in kinds.into_iter().enumerate() {
        let owner = SessionKey::generate();
        let t = now(client.provider()).await;
        let session = offer_session(signer.address().unwrap(), book, items, currency, t);
        let (account, sibling) = accounts(&client, &owner, &session, 40 + 2 * index as u64).await;

        // the NFT is the seller's; the account holds the currency and approved the book
        let token_id = GameItems::new(items, deployer.clone())
            .mint(seller)
            .call()
            .await
            .unwrap();
        GameItems::new(items, deployer.clone())
            .mint(seller)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        DemoToken::new(currency, deployer.clone())
            .mint(account.address, ether(100))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        let approve = DemoToken::approveCall {
            spender: book,
            value: ether(100),
        }
        .abi_encode();
        let outcome = client
            .owner_call(&account, &owner, currency, U256::ZERO, &approve)
            .await
            .unwrap();
        assert!(outcome.success, "{name}: {outcome:?}");

        // the session key signs an offer of 60 ether
        let price = ether(60);
        let deadline = t + 3600;
        let offer_struct = OfferBook::Offer {
            buyer: account.address,
            collection: items,
            tokenId: token_id,
            currency,
            price,
            nonce: U256::from(7),
            deadline: U256::from(deadline),
        };
        let typed = typed_offer(book, chain_id, &offer_struct);
        let message = TypedDataMessage::from_typed_data(&typed).unwrap();
        // the account's ERC-5267 domain is the reference account's, which the SDK signs for
        assert_eq!(
            client.account_domain(account.address).await.unwrap(),
            AccountDomain::keyscope_account(chain_id, account.address)
        );
        let signature = client
            .sign_typed_data_for_session(account.address, &session, &typed, &signer)
            .unwrap();
        let book_contract = OfferBook::new(book, client.provider().clone());
        let digest = book_contract
            .offerDigest(offer_struct.clone())
            .call()
            .await
            .unwrap();
        assert_eq!(digest, message.hash(), "{name}: the book's offerDigest");
        assert_eq!(digest, typed.eip712_signing_hash().unwrap());
        assert_eq!(
            is_valid_signature(&client, account.address, digest, &signature).await,
            FixedBytes(ERC1271_MAGIC),
            "{name}: the session's offer"
        );
        gas.push((
            name,
            is_valid_signature_gas(&client, account.address, digest, &signature).await,
        ));

        // refused: the same signature checked by the owner's other account (the session is granted there too)
        assert_eq!(
            is_valid_signature(&client, sibling.address, digest, &signature).await,
            FixedBytes(ERC1271_INVALID),
            "{name}: another account of the owner"
        );
        // refused: a key that is not the session's
        let forged = client
            .sign_typed_data_for_session(account.address, &session, &typed, &stranger)
            .unwrap();
        assert_eq!(
            is_valid_signature(&client, account.address, digest, &forged).await,
            FixedBytes(ERC1271_INVALID),
            "{name}: another key"
        );
        // refused: a price above the rule (the SDK still signs with the leaf; the validator refuses its rule)
        let expensive_struct = OfferBook::Offer {
            price: ether(100) + U256::from(1),
            nonce: U256::from(8),
            ..offer_struct.clone()
        };
        let expensive = typed_offer(book, chain_id, &expensive_struct);
        let too_much = client
            .sign_typed_data_for_session(account.address, &session, &expensive, &signer)
            .unwrap();
        let expensive_digest = book_contract
            .offerDigest(expensive_struct)
            .call()
            .await
            .unwrap();
        assert_eq!(
            is_valid_signature(&client, account.address, expensive_digest, &too_much).await,
            FixedBytes(ERC1271_INVALID),
            "{name}: price above the rule"
        );
        // the validator's own answer, asked as the account asks it: its price rule (rule 2, member 5) refuses
        let validator = SessionKeyValidator::new(
            client.stack().session_key_validator,
            client.provider().clone(),
        );
        let error = validator
            .isValidSignatureWithSender(book, expensive_digest, too_much.slice(20..))
            .from(account.address)
            .call()
            .await
            .unwrap_err();
        match keyscope::Error::from(error).validator_error() {
            Some(SessionKeyValidatorErrors::ArgumentRuleFailed(failed)) => {
                assert_eq!(
                    (failed.ruleIndex, failed.argIndex),
                    (U256::from(2), U256::from(5)),
                    "{name}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }

        // the seller accepts the offer on-chain: the NFT to the account, the price to the seller
        let seller_items = GameItems::new(items, seller_provider.clone());
        let receipt = seller_items
            .approve(book, token_id)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status());
        let before = DemoToken::new(currency, deployer.clone())
            .balanceOf(seller)
            .call()
            .await
            .unwrap();
        let receipt = OfferBook::new(book, seller_provider.clone())
            .accept(offer_struct, signature)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status(), "{name}: accept reverted");
        assert_eq!(
            GameItems::new(items, deployer.clone())
                .ownerOf(token_id)
                .call()
                .await
                .unwrap(),
            account.address,
            "{name}: the NFT"
        );
        assert_eq!(
            DemoToken::new(currency, deployer.clone())
                .balanceOf(seller)
                .call()
                .await
                .unwrap(),
            before + price,
            "{name}: the price"
        );
    }
    for (name, used) in &gas {
        eprintln!("isValidSignature gas (eth_estimateGas) {name:>9}: {used}");
    }
}
