//! The committed artifacts load into usable bindings.

use keyscope_bindings::{
    alloy::{primitives::Bytes, sol_types::SolCall},
    entry_point_v07, entry_point_v08, DemoToken, GameItems, KeyscopeAccount,
    KeyscopeAccountFactory, NftMarketplace, OfferBook, OwnerECDSAValidator, SessionKeyValidator,
};

#[test]
fn every_contract_has_bytecode() {
    let all: [(&str, &Bytes, &Bytes); 10] = [
        (
            "SessionKeyValidator",
            &SessionKeyValidator::BYTECODE,
            &SessionKeyValidator::DEPLOYED_BYTECODE,
        ),
        (
            "KeyscopeAccount",
            &KeyscopeAccount::BYTECODE,
            &KeyscopeAccount::DEPLOYED_BYTECODE,
        ),
        (
            "KeyscopeAccountFactory",
            &KeyscopeAccountFactory::BYTECODE,
            &KeyscopeAccountFactory::DEPLOYED_BYTECODE,
        ),
        (
            "OwnerECDSAValidator",
            &OwnerECDSAValidator::BYTECODE,
            &OwnerECDSAValidator::DEPLOYED_BYTECODE,
        ),
        (
            "EntryPoint v0.7",
            &entry_point_v07::EntryPoint::BYTECODE,
            &entry_point_v07::EntryPoint::DEPLOYED_BYTECODE,
        ),
        (
            "EntryPoint v0.8",
            &entry_point_v08::EntryPoint::BYTECODE,
            &entry_point_v08::EntryPoint::DEPLOYED_BYTECODE,
        ),
        (
            "DemoToken",
            &DemoToken::BYTECODE,
            &DemoToken::DEPLOYED_BYTECODE,
        ),
        (
            "GameItems",
            &GameItems::BYTECODE,
            &GameItems::DEPLOYED_BYTECODE,
        ),
        (
            "NftMarketplace",
            &NftMarketplace::BYTECODE,
            &NftMarketplace::DEPLOYED_BYTECODE,
        ),
        (
            "OfferBook",
            &OfferBook::BYTECODE,
            &OfferBook::DEPLOYED_BYTECODE,
        ),
    ];
    for (name, creation, deployed) in all {
        assert!(deployed.len() > 100, "{name}: deployed bytecode");
        assert!(creation.len() > deployed.len(), "{name}: creation bytecode");
    }
    assert_ne!(
        entry_point_v07::EntryPoint::DEPLOYED_BYTECODE,
        entry_point_v08::EntryPoint::DEPLOYED_BYTECODE
    );
}

#[test]
fn calls_have_the_contract_selectors() {
    // keccak256("revokeSession(bytes32)"), keccak256("handleOps((address,uint256,bytes,bytes,bytes32,uint256,bytes32,bytes,bytes)[],address)")
    assert_eq!(
        SessionKeyValidator::revokeSessionCall::SELECTOR,
        keyscope_bindings::alloy::primitives::keccak256("revokeSession(bytes32)")[..4]
    );
    assert_eq!(
        entry_point_v07::EntryPoint::handleOpsCall::SELECTOR,
        [0x76, 0x5e, 0x82, 0x7f]
    );
    assert_eq!(
        entry_point_v08::EntryPoint::handleOpsCall::SELECTOR,
        [0x76, 0x5e, 0x82, 0x7f]
    );
}
