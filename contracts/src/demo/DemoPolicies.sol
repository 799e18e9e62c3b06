// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {SessionTypes} from "../interfaces/ISessionKeyValidator.sol";
import {GameItems} from "./GameItems.sol";
import {NftMarketplace} from "./NftMarketplace.sol";

/// @title DemoPolicies
/// @notice The session policies of Keyscope's two seed use cases, run by their forge test
/// (`contracts/test/demo/SeedDemos.t.sol`); `keyscope demo` (`crates/cli/src/demo/`) grants the same policies.
library DemoPolicies {
    /// @notice How long the seed sessions last.
    uint48 internal constant SESSION_DURATION = 1 hours;

    /// @notice The trading user's price threshold: the most one purchase by the service may cost.
    uint256 internal constant TRADING_THRESHOLD = 1 ether;

    /// @notice Game: the session key may only call `GameItems.mint(address)` on `gameItems`, with no value.
    /// @param gameItems The one GameItems collection the key may mint on.
    /// @return permission The permission (the session's only Merkle leaf).
    function gameMint(address gameItems) internal pure returns (SessionTypes.Permission memory permission) {
        permission.target = gameItems;
        permission.selector = GameItems.mint.selector;
    }

    /// @notice Trading: the service's session key may only call `NftMarketplace.buy(address,uint256)` on
    /// `marketplace`, sending at most `threshold` wei per purchase.
    /// @param marketplace The one marketplace the key may buy on.
    /// @param threshold The user's price threshold: the `valueLimit` of each call.
    /// @return permission The permission (the session's only Merkle leaf).
    function marketplaceBuy(address marketplace, uint256 threshold)
        internal
        pure
        returns (SessionTypes.Permission memory permission)
    {
        permission.target = marketplace;
        permission.selector = NftMarketplace.buy.selector;
        permission.valueLimit = threshold;
    }
}
