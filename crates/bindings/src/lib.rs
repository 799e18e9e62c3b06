#![doc = include_str!("../README.md")]

/// The alloy this crate was built with: use its types (`alloy::primitives`, `alloy::providers` …) with the
/// bindings.
pub use alloy;

macro_rules! bindings {
    ($(#[$doc:meta])* $module:ident, $contract:ident, $artifact:literal $(, use $import:path)?) => {
        $(#[$doc])*
        #[allow(missing_docs, clippy::all)]
        pub mod $module {
            $(use $import;)?
            alloy::sol!(
                #[sol(rpc, all_derives)]
                $contract,
                $artifact
            );
        }
    };
}

bindings!(
    /// `SessionKeyValidator`: the ERC-7579 session-key validator module.
    session_key_validator,
    SessionKeyValidator,
    "artifacts/SessionKeyValidator.json"
);
bindings!(
    /// `KeyscopeAccount`: the ERC-7579 modular account (OpenZeppelin `AccountERC7579`).
    keyscope_account,
    KeyscopeAccount,
    "artifacts/KeyscopeAccount.json"
);
bindings!(
    /// `KeyscopeAccountFactory`: deterministic account deployment.
    keyscope_account_factory,
    KeyscopeAccountFactory,
    "artifacts/KeyscopeAccountFactory.json"
);
bindings!(
    /// `StakedAccountFactory`: a stakeable front for a `KeyscopeAccountFactory` (ERC-7562 STO-022).
    staked_account_factory,
    StakedAccountFactory,
    "artifacts/StakedAccountFactory.json"
);
bindings!(
    /// `SponsorPaymaster`: OpenZeppelin's `PaymasterSigner` paying for what its sponsor signs.
    sponsor_paymaster,
    SponsorPaymaster,
    "artifacts/SponsorPaymaster.json"
);
bindings!(
    /// `OwnerECDSAValidator`: the owner's ECDSA validator module.
    owner_ecdsa_validator,
    OwnerECDSAValidator,
    "artifacts/OwnerECDSAValidator.json"
);
bindings!(
    /// ERC-4337 `EntryPoint` v0.7 (canonical address `0x0000000071727De22E5E9d8BAf0edAc6f37da032`).
    entry_point_v07,
    EntryPoint,
    "artifacts/EntryPointV07.json",
    use EntryPoint::PackedUserOperation
);
bindings!(
    /// ERC-4337 `EntryPoint` v0.8 (canonical address `0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108`).
    entry_point_v08,
    EntryPoint,
    "artifacts/EntryPointV08.json",
    use EntryPoint::PackedUserOperation
);
bindings!(
    /// `DemoToken`: the demo ERC-20.
    demo_token,
    DemoToken,
    "artifacts/DemoToken.json"
);
bindings!(
    /// `GameItems`: the demo game contract.
    game_items,
    GameItems,
    "artifacts/GameItems.json"
);
bindings!(
    /// `NftMarketplace`: the demo marketplace.
    nft_marketplace,
    NftMarketplace,
    "artifacts/NftMarketplace.json"
);
bindings!(
    /// `OfferBook`: the demo signed-offer marketplace (checks a smart account's offers through ERC-1271).
    offer_book,
    OfferBook,
    "artifacts/OfferBook.json"
);

pub use demo_token::DemoToken;
pub use game_items::GameItems;
pub use keyscope_account::KeyscopeAccount;
pub use keyscope_account_factory::KeyscopeAccountFactory;
pub use nft_marketplace::NftMarketplace;
pub use offer_book::OfferBook;
pub use owner_ecdsa_validator::OwnerECDSAValidator;
pub use session_key_validator::SessionKeyValidator;
pub use sponsor_paymaster::SponsorPaymaster;
pub use staked_account_factory::StakedAccountFactory;
