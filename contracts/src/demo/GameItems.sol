// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @title GameItems
/// @notice ERC-721 game item collection used by the end-to-end demos. Anyone may mint; token ids start at 1.
contract GameItems is ERC721 {
    /// @notice The id the next minted item gets.
    uint256 public nextTokenId = 1;

    /// @notice Deploys the collection as "Keyscope Game Items" (ITEM).
    constructor() ERC721("Keyscope Game Items", "ITEM") {}

    /// @notice Mints a new item to `to`. Anyone may call.
    /// @dev Uses a safe mint: a contract recipient must implement `onERC721Received`.
    /// @param to The recipient of the new item.
    /// @return tokenId The id of the minted item.
    function mint(address to) external returns (uint256 tokenId) {
        tokenId = nextTokenId++;
        _safeMint(to, tokenId);
    }
}
